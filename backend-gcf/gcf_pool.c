/* The gcf backend's steps of the kit's function pool (kit_faas.h): a
 * stub function made once (generateUploadUrl, PUT of the stub's zip,
 * functions.create), its Cloud Run service pointed at a derived image
 * (services.patch), deleted (functions.delete) and listed by label
 * (functions.list); and the ID token a run's request carries. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gcf.h"
#include "sockerless/httpcli.h"
#include "sockerless/json.h"
#include "sockerless/log.h"
#include "sockerless/str.h"
#include "sockerless/xmalloc.h"

#define GCF_STUB_ENTRY "main"

static const char gcf_stub_main[] =
    "# sockerless gcf: a pool slot. The backend points this function's\n"
    "# Cloud Run service at a derived image before every use; this code\n"
    "# only answers while it is not pointed.\n"
    "def " GCF_STUB_ENTRY "(request):\n"
    "    return ('sockerless: this function is a pool slot that is not\\n'\n"
    "            'pointed at an image yet\\n', 503)\n";

/* The instance as a label value (Google's label rules). */
static void
gcf_pool_instance_label(char *out, size_t outsz)
{
	gcp_label_value(backend_instance(gcf.b), out, outsz);
}

static void
gcf_pool_cloud_err(const struct cloud_error *ce, struct err *e)
{
	cloud_error_to_err(gcp_provider(), ce, e);
}

/* --- deleting ------------------------------------------------------------- */

static void
gcf_pool_deleted(void *arg, const cJSON *out, const struct cloud_error *ce)
{
	struct err e;

	(void)out;
	if (ce != NULL && ce->http_status != 404) {
		gcf_pool_cloud_err(ce, &e);
		kit_pool_removed(arg, &e);
	} else {
		kit_pool_removed(arg, NULL);
	}
}

static void
gcf_pool_remove(struct kit_rm *r, const char *name)
{
	char *path = xasprintf("v2/%s/functions/%s", gcf.gb.parent, name);

	gcp_lro(gcf.gb.gcp, "cloudfunctions", "functions.delete", "DELETE",
	    path, NULL, NULL, (int)gcf_conf.deploy_timeout, NULL,
	    gcf_pool_deleted, r);
	free(path);
}

/* --- pointing the service at an image ------------------------------------- */

static void
gcf_pool_pointed(void *arg, const cJSON *out, const struct cloud_error *ce)
{
	struct kit_slot *s = arg;
	struct err e;

	(void)out;
	if (ce != NULL) {
		gcf_pool_cloud_err(ce, &e);
		kit_slot_pointed(s, &e);
		return;
	}
	kit_slot_pointed(s, NULL);
}

/* The service's template: one container running the derived image with
 * the agent as its HTTP runtime, one request at a time on one instance. */
static cJSON *
gcf_pool_template(const struct kit_slot *s)
{
	cJSON *t = cJSON_CreateObject(), *c = cJSON_CreateObject(), *o, *a;
	char buf[64];

	json_add_str(c, "image", kit_slot_want_image(s));
	a = cJSON_CreateArray();
	o = cJSON_CreateObject();
	json_add_str(o, "name", "SOCKERLESS_HTTP_RUNTIME");
	json_add_str(o, "value", "1");
	cJSON_AddItemToArray(a, o);
	cJSON_AddItemToObject(c, "env", a);
	o = cJSON_CreateObject();
	a = cJSON_CreateObject();
	snprintf(buf, sizeof(buf), "%lldMi", kit_slot_want_mib(s));
	json_add_str(a, "memory", buf);
	json_add_str(a, "cpu", "1");
	cJSON_AddItemToObject(o, "limits", a);
	cJSON_AddItemToObject(c, "resources", o);
	a = cJSON_CreateArray();
	o = cJSON_CreateObject();
	json_add_int(o, "containerPort", 8080);
	cJSON_AddItemToArray(a, o);
	cJSON_AddItemToObject(c, "ports", a);
	a = cJSON_CreateArray();
	cJSON_AddItemToArray(a, c);
	cJSON_AddItemToObject(t, "containers", a);
	o = cJSON_CreateObject();
	json_add_int(o, "maxInstanceCount", 1);
	cJSON_AddItemToObject(t, "scaling", o);
	json_add_int(t, "maxInstanceRequestConcurrency", 1);
	gcp_duration(buf, sizeof(buf), kit_slot_want_timeout(s));
	json_add_str(t, "timeout", buf);
	if (gcf_conf.service_account != NULL &&
	    gcf_conf.service_account[0] != '\0')
		json_add_str(t, "serviceAccount", gcf_conf.service_account);
	return t;
}

static void
gcf_pool_point(struct kit_slot *s)
{
	cJSON *body = cJSON_CreateObject();
	char *path = xasprintf("v2/%s", (const char *)kit_slot_data(s));

	cJSON_AddItemToObject(body, "template", gcf_pool_template(s));
	gcp_lro(gcf.gb.gcp, "run", "services.patch", "PATCH", path,
	    "updateMask=template", body, (int)gcf_conf.deploy_timeout, NULL,
	    gcf_pool_pointed, s);
	free(path);
}

/* --- creating a stub ------------------------------------------------------ */

static void
gcf_pool_created(void *arg, const cJSON *fn, const struct cloud_error *ce)
{
	struct kit_slot *s = arg;
	const cJSON *sc = json_obj(fn, "serviceConfig");
	struct err e;

	if (ce != NULL) {
		gcf_pool_cloud_err(ce, &e);
		kit_slot_created(s, 0, &e);
		return;
	}
	if (json_str(fn, "url") == NULL || json_str(sc, "service") == NULL) {
		err_set(&e, 502,
		    "Cloud Functions made function %s without a URL or a "
		    "service (state %s)",
		    kit_slot_name(s),
		    json_str(fn, "state") ? json_str(fn, "state") : "unknown");
		kit_slot_created(s, 0, &e);
		return;
	}
	kit_slot_set_url(s, json_str(fn, "url"));
	kit_slot_set_data(s, xstrdup(json_str(sc, "service")));
	kit_slot_created(s, 0, NULL);
}

static cJSON *
gcf_pool_function(const cJSON *storage)
{
	cJSON *fn = cJSON_CreateObject(), *o, *src;
	char label[64], mem[32];

	o = cJSON_CreateObject();
	json_add_str(o, "runtime", gcf_conf.runtime);
	json_add_str(o, "entryPoint", GCF_STUB_ENTRY);
	src = cJSON_CreateObject();
	cJSON_AddItemToObject(
	    src, "storageSource", cJSON_Duplicate(storage, 1));
	cJSON_AddItemToObject(o, "source", src);
	cJSON_AddItemToObject(fn, "buildConfig", o);
	o = cJSON_CreateObject();
	json_add_int(o, "maxInstanceCount", 1);
	json_add_int(o, "maxInstanceRequestConcurrency", 1);
	snprintf(mem, sizeof(mem), "%lldMi", gcf_conf.memory);
	json_add_str(o, "availableMemory", mem);
	json_add_int(o, "timeoutSeconds", gcf_conf.timeout);
	json_add_str(o, "ingressSettings", "ALLOW_ALL");
	if (gcf_conf.service_account != NULL &&
	    gcf_conf.service_account[0] != '\0')
		json_add_str(
		    o, "serviceAccountEmail", gcf_conf.service_account);
	cJSON_AddItemToObject(fn, "serviceConfig", o);
	o = cJSON_CreateObject();
	gcf_pool_instance_label(label, sizeof(label));
	json_add_str(o, GCF_LABEL_INSTANCE, label);
	json_add_str(o, GCF_LABEL_POOL, "1");
	cJSON_AddItemToObject(fn, "labels", o);
	json_add_str(fn, "description",
	    "sockerless gcf pool slot (its service runs derived images)");
	return fn;
}

/* The stub's upload: the request's own (httpcli_send_owned), freed after
 * the callback, or without it when the backend stops with the upload in
 * flight (httpcli_free drops it). The slot is the pool's. */
struct gcf_upload {
	struct kit_slot *s;
	cJSON *storage;
};

static void
gcf_upload_free(void *arg)
{
	struct gcf_upload *u = arg;

	cJSON_Delete(u->storage);
	free(u);
}

static void
gcf_pool_uploaded(struct httpcli_resp *resp, void *arg)
{
	struct gcf_upload *u = arg;
	struct kit_slot *s = u->s;
	char *path, *query;
	struct err e;

	if (resp->status != 200) {
		err_set(&e, 502, "uploading the stub source: %s",
		    resp->status == 0 ? resp->error :
					"the upload URL refused it");
		kit_slot_created(s, 0, &e);
		return;
	}
	path = xasprintf("v2/%s/functions", gcf.gb.parent);
	query = xasprintf("functionId=%s", kit_slot_name(s));
	gcp_lro(gcf.gb.gcp, "cloudfunctions", "functions.create", "POST", path,
	    query, gcf_pool_function(u->storage), (int)gcf_conf.deploy_timeout,
	    NULL, gcf_pool_created, s);
	free(path);
	free(query);
}

static void
gcf_pool_upload_url(void *arg, const cJSON *out, const struct cloud_error *ce)
{
	static const char *const names[] = { "main.py", "requirements.txt" };
	const char *const data[] = { gcf_stub_main, "" };
	struct kit_slot *s = arg;
	struct httpcli_req *r;
	struct gcf_upload *u;
	const char *url = json_str(out, "uploadUrl");
	char *zip;
	size_t len;
	struct err e;

	if (ce != NULL || url == NULL ||
	    json_obj(out, "storageSource") == NULL) {
		if (ce != NULL) {
			gcf_pool_cloud_err(ce, &e);
			err_wrap(&e, "an upload URL");
		} else {
			err_set(&e, 502,
			    "Cloud Functions answered generateUploadUrl "
			    "without uploadUrl or storageSource");
		}
		kit_slot_created(s, 0, &e);
		return;
	}
	u = xcalloc(1, sizeof(*u));
	u->s = s;
	u->storage = cJSON_Duplicate(json_obj(out, "storageSource"), 1);
	zip = gcf_zip(names, data, 2, &len);
	r = httpcli_req_new("PUT", url);
	httpcli_req_header(r, "Content-Type", "application/zip");
	httpcli_req_body(r, zip, len);
	httpcli_req_timeouts(r, 30000, 120000);
	free(zip);
	httpcli_send_owned(
	    backend_httpcli(gcf.b), r, gcf_pool_uploaded, u, gcf_upload_free);
}

static void
gcf_pool_create(struct kit_slot *s)
{
	char *path =
	    xasprintf("v2/%s/functions:generateUploadUrl", gcf.gb.parent);

	gcp_call(gcf.gb.gcp, "cloudfunctions", "functions.generateUploadUrl",
	    "POST", path, NULL, cJSON_CreateObject(), 0, gcf_pool_upload_url,
	    s);
	free(path);
}

/* --- finding the pool again ----------------------------------------------- */

static void
gcf_pool_listed(void *arg, const cJSON *out, const struct cloud_error *ce)
{
	const cJSON *fn;
	const char *name, *id, *state, *url, *svc;
	struct err e;

	(void)arg;
	if (ce != NULL) {
		gcf_pool_cloud_err(ce, &e);
		kit_pool_listed(&e);
		return;
	}
	cJSON_ArrayForEach(fn, json_arr(out, "functions")) {
		name = json_str(fn, "name");
		id = name != NULL ? strrchr(name, '/') : NULL;
		if (id == NULL)
			continue;
		state = json_str(fn, "state");
		url = json_str(fn, "url");
		svc = json_str(json_obj(fn, "serviceConfig"), "service");
		kit_pool_found(id + 1,
		    state != NULL && strcmp(state, "ACTIVE") == 0 &&
			url != NULL && svc != NULL,
		    url, NULL, svc != NULL ? xstrdup(svc) : NULL);
	}
	kit_pool_listed(NULL);
}

static void
gcf_pool_list(void)
{
	char label[64], quoted[160], *path;

	gcf_pool_instance_label(label, sizeof(label));
	snprintf(quoted, sizeof(quoted),
	    "filter=labels." GCF_LABEL_INSTANCE "%%3D%%22%s%%22", label);
	path = xasprintf("v2/%s/functions", gcf.gb.parent);
	gcp_list(gcf.gb.gcp, "cloudfunctions", "functions.list", "GET", path,
	    quoted, NULL, "functions", 0, gcf_pool_listed, NULL);
	free(path);
}

/* --- the run's ID token --------------------------------------------------- */

static uint64_t
gcf_pool_token(struct kit_slot *s, kit_faas_token_cb cb, void *arg)
{
	return gcp_auth_id_token(gcf.gb.auth, kit_slot_url(s), cb, arg);
}

static void
gcf_pool_token_cancel(uint64_t id)
{
	gcp_auth_cancel(gcf.gb.auth, id);
}

static const struct kit_pool_ops gcf_pool_ops = {
	.create = gcf_pool_create,
	.point = gcf_pool_point,
	.remove = gcf_pool_remove,
	.list = gcf_pool_list,
	.data_free = free,
};

static struct kit_faas gcf_faas = {
	.be = "gcf",
	.what = "Cloud Run function",
	.cloud = "Cloud Run functions",
	.sandbox = "Cloud Run runs every instance in a fixed sandbox",
	.logs_where = "Cloud Logging (resource.type=cloud_run_revision)",
	.agent_in_image = GCF_AGENT_PATH,
	.min_memory = GCF_MIN_MEMORY,
	.max_memory = GCF_MAX_MEMORY,
	.token = gcf_pool_token,
	.token_cancel = gcf_pool_token_cancel,
};

void
gcf_pool_start(struct backend *b)
{
	struct kit_pool_conf pc = {
		.ops = &gcf_pool_ops,
		.what = "Cloud Run function",
		.key = "gcf",
		.prefix = gcf.prefix,
		.pool_max = gcf_conf.pool.pool_max,
		.pool_idle = gcf_conf.pool.pool_idle,
		.pool_wait = gcf_conf.pool.pool_wait,
	};

	kit_pool_start(b, &pc);
}

void
gcf_faas_init(void)
{
	gcf_faas.memory = gcf_conf.memory;
	gcf_faas.timeout = gcf_conf.timeout;
	gcf_faas.layer = &gcf.layer;
	gcf_faas.repository = gcf.repository_host;
	kit_faas_init(&gcf_faas);
}
