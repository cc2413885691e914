/* Container create: the body checked, the image config merged in as
 * Docker does, the document built, the name reserved and the create
 * handed to the backend. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend_ctr.h"
#include "backend_net.h"
#include "backend_port.h"
#include "backend_img.h"
#include "backend_sys.h"
#include "backend_vol.h"
#include "sockerless/container.h"
#include "sockerless/id.h"
#include "sockerless/json.h"
#include "sockerless/log.h"
#include "sockerless/store.h"
#include "sockerless/xmalloc.h"

/* --- create ------------------------------------------------------------ */

static int
backend_ctr_env_has(const cJSON *env, const char *kv)
{
	const cJSON *it;
	size_t klen = strcspn(kv, "=");

	cJSON_ArrayForEach(it, env) {
		const char *s = it->valuestring;
		if (cJSON_IsString(it) && strncmp(s, kv, klen) == 0 &&
		    (s[klen] == '=' || s[klen] == '\0'))
			return 1;
	}
	return 0;
}

static void
backend_ctr_default(cJSON *dst, const cJSON *src, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(src, key);

	if (backend_ctr_empty(cJSON_GetObjectItemCaseSensitive(dst, key)) &&
	    !backend_ctr_empty(v))
		json_set(dst, key, cJSON_Duplicate(v, 1));
}

/* Adds the entries of src[key] (an object) that dst[key] lacks. */
static void
backend_ctr_union(cJSON *dst, const cJSON *src, const char *key)
{
	const cJSON *s = json_obj(src, key), *it;
	cJSON *d = json_obj(dst, key);

	if (s == NULL)
		return;
	if (d == NULL) {
		d = cJSON_CreateObject();
		json_set(dst, key, d);
	}
	cJSON_ArrayForEach(it, s) {
		if (cJSON_GetObjectItemCaseSensitive(d, it->string) == NULL)
			cJSON_AddItemToObject(
			    d, it->string, cJSON_Duplicate(it, 1));
	}
}

/* Docker's merge of the image config into the container config
 * (moby daemon/commit.go merge()). */
static void
backend_ctr_merge(cJSON *cfg, const cJSON *img)
{
	const cJSON *ienv = json_arr(img, "Env"), *it;
	cJSON *env = json_arr(cfg, "Env");
	const cJSON *hc = json_obj(cfg, "Healthcheck");

	backend_ctr_default(cfg, img, "User");
	backend_ctr_default(cfg, img, "WorkingDir");
	backend_ctr_default(cfg, img, "StopSignal");
	backend_ctr_union(cfg, img, "ExposedPorts");
	backend_ctr_union(cfg, img, "Volumes");
	backend_ctr_union(cfg, img, "Labels");
	if (env == NULL) {
		env = cJSON_CreateArray();
		json_set(cfg, "Env", env);
	}
	cJSON_ArrayForEach(it, ienv) {
		if (cJSON_IsString(it) &&
		    !backend_ctr_env_has(env, it->valuestring))
			cJSON_AddItemToArray(
			    env, cJSON_CreateString(it->valuestring));
	}
	if (backend_ctr_empty(json_arr(cfg, "Entrypoint"))) {
		if (backend_ctr_empty(json_arr(cfg, "Cmd")))
			backend_ctr_default(cfg, img, "Cmd");
		if (cJSON_GetObjectItemCaseSensitive(cfg, "Entrypoint") ==
			NULL ||
		    cJSON_IsNull(
			cJSON_GetObjectItemCaseSensitive(cfg, "Entrypoint")))
			backend_ctr_default(cfg, img, "Entrypoint");
	}
	if (hc == NULL)
		backend_ctr_default(cfg, img, "Healthcheck");
}

/* Path and Args from Entrypoint + Cmd. */
static int
backend_ctr_path_args(cJSON *doc, const cJSON *cfg, struct err *e)
{
	cJSON *args = cJSON_CreateArray(), *it;
	const char *path = NULL;
	const cJSON *parts[2] = { json_arr(cfg, "Entrypoint"),
		json_arr(cfg, "Cmd") };

	for (int i = 0; i < 2; i++) {
		cJSON_ArrayForEach(it, parts[i]) {
			if (!cJSON_IsString(it))
				continue;
			if (path == NULL)
				path = it->valuestring;
			else
				cJSON_AddItemToArray(
				    args, cJSON_CreateString(it->valuestring));
		}
	}
	if (path == NULL || path[0] == '\0') {
		cJSON_Delete(args);
		return err_set(e, 400, "no command specified");
	}
	json_add_str(doc, "Path", path);
	cJSON_AddItemToObject(doc, "Args", args);
	return 0;
}

/* str_tonum's reason, as a user reads it after "\"abc\" is". */

static cJSON *
backend_ctr_new_state(void)
{
	cJSON *st = cJSON_CreateObject();
	char zero[40];

	str_time_rfc3339(zero, sizeof(zero), 0);
	json_add_str(st, "Status", "created");
	json_add_bool(st, "Running", 0);
	json_add_bool(st, "Paused", 0);
	json_add_bool(st, "Restarting", 0);
	json_add_bool(st, "OOMKilled", 0);
	json_add_bool(st, "Dead", 0);
	json_add_int(st, "Pid", 0);
	json_add_int(st, "ExitCode", 0);
	json_add_str(st, "Error", "");
	json_add_str(st, "StartedAt", zero);
	json_add_str(st, "FinishedAt", zero);
	return st;
}

static cJSON *
backend_ctr_network_settings(void)
{
	cJSON *ns = cJSON_CreateObject(), *nets = cJSON_CreateObject();

	json_add_str(ns, "Bridge", "");
	json_add_str(ns, "SandboxID", "");
	cJSON_AddItemToObject(ns, "Ports", cJSON_CreateObject());
	json_add_str(ns, "SandboxKey", "");
	json_add_str(ns, "Gateway", "");
	json_add_str(ns, "IPAddress", "");
	json_add_int(ns, "IPPrefixLen", 0);
	json_add_str(ns, "MacAddress", "");
	cJSON_AddItemToObject(ns, "Networks", nets);
	return ns;
}

/* Builds the container document from the create body and the image. */
static cJSON *
backend_ctr_build(struct backend *b, const char *id, const char *name,
    cJSON *body, const cJSON *img, struct vol_wants *w, struct err *e)
{
	cJSON *doc = cJSON_CreateObject(), *cfg, *hc, *ns;
	char now[40], hostname[13];
	const char *repo_digest = NULL;
	const cJSON *it;

	cfg = cJSON_Duplicate(body, 1);
	cJSON_DeleteItemFromObjectCaseSensitive(cfg, "HostConfig");
	cJSON_DeleteItemFromObjectCaseSensitive(cfg, "NetworkingConfig");
	hc = cJSON_Duplicate(json_obj(body, "HostConfig"), 1);
	if (hc == NULL)
		hc = cJSON_CreateObject();
	if (backend_ctr_empty(
		cJSON_GetObjectItemCaseSensitive(hc, "NetworkMode")))
		json_set(hc, "NetworkMode", cJSON_CreateString("default"));
	if (backend_ctr_check_numbers(cfg, hc, e) == -1 ||
	    backend_ctr_log_config(b, hc, e) == -1) {
		cJSON_Delete(cfg);
		cJSON_Delete(hc);
		cJSON_Delete(doc);
		return NULL;
	}
	backend_ctr_merge(cfg, json_obj(img, "Config"));
	memcpy(hostname, id, 12);
	hostname[12] = '\0';
	if (backend_ctr_empty(
		cJSON_GetObjectItemCaseSensitive(cfg, "Hostname")))
		json_set(cfg, "Hostname", cJSON_CreateString(hostname));
	ns = backend_ctr_network_settings();
	if (backend_ctr_path_args(doc, cfg, e) == -1 ||
	    backend_ctr_check_host_config(b, hc, e) == -1 ||
	    backend_ctr_check_extras(b, hc, e) == -1 ||
	    backend_port_check(b, hc, e) == -1 ||
	    backend_net_check_links(b, hc, name, e) == -1 ||
	    backend_net_create_endpoints(
		b, body, hc, json_obj(ns, "Networks"), e) == -1 ||
	    (b->caps.flag[CAP_VOLUMES] &&
		backend_vol_wants(b, hc, cfg, w, e) == -1)) {
		cJSON_Delete(ns);
		cJSON_Delete(cfg);
		cJSON_Delete(hc);
		cJSON_Delete(doc);
		return NULL;
	}
	json_add_str(doc, "Id", id);
	str_time_rfc3339(now, sizeof(now), str_now_ns());
	json_add_str(doc, "Created", now);
	cJSON_AddItemToObject(doc, "State", backend_ctr_new_state());
	json_add_str(doc, "Image", json_str(img, "Id"));
	json_set(doc, "Name", cJSON_CreateString(""));
	{
		char *n = xasprintf("/%s", name);
		json_set(doc, "Name", cJSON_CreateString(n));
		free(n);
	}
	json_add_int(doc, "RestartCount", 0);
	json_add_str(doc, "Driver", b->ops->name);
	json_add_str(doc, "Platform", "linux");
	cJSON_AddItemToObject(doc, "HostConfig", hc);
	cJSON_AddItemToObject(doc, "Mounts", cJSON_CreateArray());
	cJSON_AddItemToObject(doc, "Config", cfg);
	cJSON_AddItemToObject(doc, "NetworkSettings", ns);
	/* Pin the workload to what the tag pointed at when created. */
	cJSON_ArrayForEach(it, json_arr(img, "RepoDigests")) {
		if (cJSON_IsString(it)) {
			repo_digest = it->valuestring;
			break;
		}
	}
	if (repo_digest != NULL)
		json_add_str(
		    container_private(&(struct container){ .tree = doc }),
		    BACKEND_PRIV_IMAGE_REF, repo_digest);
	return doc;
}

static void
backend_ctr_create_done(void *arg, const struct err *e)
{
	struct backend_ctr_op *op = arg;
	struct backend *b = op->b;
	struct container *c = op->c;
	struct httpsrv_req *r;
	cJSON *out;

	if (e != NULL) {
		struct err se;
		if (store_container_delete(b->store, c->id, &se) == -1)
			log_warnx(
			    "deleting container %.12s: %s", c->id, se.msg);
		c->gone = 1;
		backend_ctr_unlist(b, c);
		backend_vol_ctr_undo(b, c);
		backend_ctr_op_reply(op, e, 0);
		backend_ctr_idle(b, c);
		container_unref(c); /* the list's */
		backend_ctr_op_free(op);
		return;
	}
	cJSON_DeleteItemFromObjectCaseSensitive(
	    container_private(c), BACKEND_PRIV_CREATING);
	backend_ctr_save(b, c);
	backend_sys_container_event(b, c, "create", NULL);
	if ((r = backend_ctr_op_take_req(op)) != NULL) {
		out = cJSON_CreateObject();
		json_add_str(out, "Id", c->id);
		cJSON_AddItemToObject(out, "Warnings", cJSON_CreateArray());
		httpsrv_reply_json(r, 201, out);
		cJSON_Delete(out);
	}
	backend_ctr_idle(b, c);
	backend_ctr_op_free(op);
}

/* The container's volumes exist: the backend's create. */
static void
backend_ctr_volumes_made(void *arg, const struct err *e)
{
	struct backend_ctr_op *op = arg;
	struct backend *b = op->b;

	if (e == NULL && b->ops->create != NULL)
		b->ops->create(b, op->c, backend_ctr_create_done, op);
	else
		backend_ctr_create_done(op, e);
}

static int
backend_ctr_name_taken(const char *name, void *arg)
{
	return backend_ctr_by_name(arg, name) != NULL;
}

void
backend_ctr_create(
    struct backend *b, struct httpsrv_req *r, const struct router_match *m)
{
	const char *qname = httpsrv_req_query(r, "name"), *image = NULL;
	char id[65], *name = NULL;
	cJSON *body = NULL, *img = NULL, *doc;
	struct vol_wants w = { NULL, 0 };
	struct container *c, *other;
	struct err e;
	size_t len;
	const char *data = httpsrv_req_body(r, &len);

	(void)m;
	err_clear(&e);
	if ((body = json_parse(data, len, &e)) == NULL)
		goto fail;
	if (!cJSON_IsObject(body)) {
		err_set(&e, 400, "invalid JSON: the body must be an object");
		goto fail;
	}
	if (json_check_str(body, "Image", &image, &e) == -1 ||
	    json_check_strmap(
		body, "Labels", "ContainerConfigWrapper.Labels", &e) == -1)
		goto fail;
	if (image == NULL || image[0] == '\0') {
		err_set(&e, 400,
		    "Config.Image is required: name the image to "
		    "run");
		goto fail;
	}
	if (qname != NULL && qname[0] != '\0') {
		if (id_valid_name(qname, &e) == -1)
			goto fail;
		name = xstrdup(qname[0] == '/' ? qname + 1 : qname);
		if ((other = backend_ctr_by_name(b, name)) != NULL) {
			err_set(
			    &e, 409, BACKEND_CTR_NAME_IN_USE, name, other->id);
			goto fail;
		}
	}
	if ((img = backend_img_find(b, image)) == NULL) {
		err_set(&e, 404, "No such image: %s", image);
		goto fail;
	}
	id_new(id);
	if (name == NULL &&
	    (name = id_pick_name(id, backend_ctr_name_taken, b)) == NULL) {
		err_set(&e, 500, "no free name for container %s", id);
		goto fail;
	}
	if ((doc = backend_ctr_build(b, id, name, body, img, &w, &e)) == NULL)
		goto fail;
	c = container_new(id, doc);
	backend_ctr_enlist(b, c); /* reserves the name */
	backend_ctr_set_busy(c, CTR_CREATING);
	/* Journalled before the backend makes cloud resources, so that a
	 * restart finds what a create cut short and removes it. */
	json_set(
	    container_private(c), BACKEND_PRIV_CREATING, cJSON_CreateTrue());
	backend_ctr_save(b, c);
	/* Its volumes first: the backend's create realises them. */
	backend_vol_ctr_create(
	    b, c, &w, backend_ctr_volumes_made, backend_ctr_op_new(b, c, r));
	goto out;
fail:
	httpsrv_reply_err(r, &e);
out:
	free(name);
	cJSON_Delete(body);
	cJSON_Delete(img);
}
