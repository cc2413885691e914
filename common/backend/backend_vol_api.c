/* The Docker volume routes: create, list, inspect, remove and prune with
 * dockerd's shapes, statuses and sentences, the backend's vol_* operations
 * called for each volume made or removed, and the volumes of system df
 * (docs/volumes.md). Shared-path volumes are hidden from all of them. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend_sys.h"
#include "backend_vol.h"
#include "sockerless/buf.h"
#include "sockerless/filters.h"
#include "sockerless/id.h"
#include "sockerless/json.h"
#include "sockerless/log.h"
#include "sockerless/xmalloc.h"

/* A route waiting for the backend. */
struct vol_req {
	struct backend *b;
	struct httpsrv_req *r; /* NULL once the client went away */
	char name[256];
};

static void
vol_req_gone(struct httpsrv_req *r, void *arg)
{
	struct vol_req *q = arg;

	(void)r;
	q->r = NULL;
}

static struct vol_req *
vol_req_new(struct backend *b, struct httpsrv_req *r, const struct volume *v)
{
	struct vol_req *q = xcalloc(1, sizeof(*q));

	q->b = b;
	q->r = r;
	str_lcpy(q->name, v->name, sizeof(q->name));
	httpsrv_req_on_close(r, vol_req_gone, q);
	return q;
}

/* Takes the request back (NULL when the client left). */
static struct httpsrv_req *
vol_req_free(struct vol_req *q)
{
	struct httpsrv_req *r = q->r;

	if (r != NULL)
		httpsrv_req_on_close(r, NULL, NULL);
	free(q);
	return r;
}

/* A volume the user can name: not a shared-path one. */
static struct volume *
vol_visible(struct backend *b, const char *name)
{
	struct volume *v = backend_volume_by_name(b, name);

	return v != NULL && volume_shared_path(v) == NULL ? v : NULL;
}

/* --- create -------------------------------------------------------------- */

static int
vol_check_create(struct backend *b, const cJSON *body, struct err *e)
{
	const char *name = json_str(body, "Name"),
		   *drv = json_str(body, "Driver");
	const cJSON *opts = json_obj(body, "DriverOpts");
	const char *s;

	if (json_check_str(body, "Name", &s, e) == -1 ||
	    json_check_str(body, "Driver", &s, e) == -1 ||
	    json_check_strmap(
		body, "Labels", "VolumeCreateOptions.Labels", e) == -1 ||
	    json_check_strmap(
		body, "DriverOpts", "VolumeCreateOptions.DriverOpts", e) == -1)
		return -1;
	if (name != NULL && name[0] != '\0' &&
	    (backend_vol_check_name(name, e) == -1 ||
		(str_prefix(name, VOLUME_SHARED_PREFIX) &&
		    err_set(e, 400,
			"create %s: names starting with %s are reserved "
			"for the volumes of shared_paths binds; pick "
			"another name",
			name, VOLUME_SHARED_PREFIX) == -1)))
		return -1;
	if (drv != NULL && drv[0] != '\0' && strcmp(drv, "local") != 0)
		return err_set(e, 400,
		    "volume driver %s is not available on the %s backend: "
		    "volumes use the local driver (leave out --driver or give "
		    "local)",
		    drv, b->ops->name);
	if (cJSON_GetArraySize(opts) > 0)
		return err_set(e, 400,
		    "volume driver options (--opt %s) cannot be honoured by "
		    "the %s backend: the local driver's type, device and o "
		    "describe a mount on the Docker host, and sockerless "
		    "keeps volumes on the cloud's file system. Create the "
		    "volume without --opt.",
		    opts->child->string, b->ops->name);
	if (!b->caps.flag[CAP_VOLUMES])
		return caps_unsupported(&b->caps, CAP_VOLUMES, e);
	return 0;
}

static void
vol_created(void *arg, const struct err *e)
{
	struct vol_req *q = arg;
	struct volume *v = backend_volume_by_name(q->b, q->name);
	struct httpsrv_req *r = vol_req_free(q);
	cJSON *out;

	if (r == NULL)
		return;
	if (e != NULL || v == NULL) {
		httpsrv_reply_err(r, e);
		return;
	}
	out = backend_vol_json(v);
	httpsrv_reply_json(r, 201, out);
	cJSON_Delete(out);
}

void
backend_vol_create(
    struct backend *b, struct httpsrv_req *r, const struct router_match *m)
{
	size_t len;
	const char *data = httpsrv_req_body(r, &len);
	const char *name;
	struct volume *v;
	cJSON *body = NULL, *out;
	struct err e;
	char id[65];
	int anonymous = 0;

	(void)m;
	if (len == 0)
		body = cJSON_CreateObject();
	else if ((body = json_parse(data, len, &e)) == NULL)
		goto fail;
	if (!cJSON_IsObject(body)) {
		err_set(&e, 400, "the request body must be a JSON object");
		goto fail;
	}
	if (vol_check_create(b, body, &e) == -1)
		goto fail;
	/* A volume created without a name is anonymous, as dockerd 23 and
	 * later mark it: API 1.42's prune takes it without all=true. */
	if ((name = json_str(body, "Name")) == NULL || name[0] == '\0') {
		id_new(id);
		name = id;
		anonymous = 1;
	}
	/* dockerd answers the volume that has the name already. */
	if ((v = vol_visible(b, name)) != NULL) {
		out = backend_vol_json(v);
		httpsrv_reply_json(r, 201, out);
		cJSON_Delete(out);
		goto out;
	}
	v = backend_vol_add(b, name, json_obj(body, "Labels"),
	    json_obj(body, "DriverOpts"), anonymous, NULL);
	backend_vol_make(b, v, vol_created, vol_req_new(b, r, v));
	goto out;
fail:
	httpsrv_reply_err(r, &e);
out:
	cJSON_Delete(body);
}

/* --- list, inspect ------------------------------------------------------ */

static int
vol_matches(struct backend *b, const struct volume *v, const struct filters *f,
    struct err *e)
{
	const char *name[2] = { v->name, NULL };
	int r, dangling;

	if ((r = filters_match_regex(f, "name", name, e)) <= 0)
		return r;
	if (!filters_match_exact(f, "driver", "local") ||
	    !filters_match_labels(f, "label", volume_labels(v)))
		return 0;
	if (filters_has(f, "dangling")) {
		dangling = backend_vol_refs(b, v, NULL) == 0;
		if (!filters_match_exact(
			f, "dangling", dangling ? "true" : "false") &&
		    !filters_match_exact(f, "dangling", dangling ? "1" : "0"))
			return 0;
	}
	return 1;
}

void
backend_vol_list(
    struct backend *b, struct httpsrv_req *r, const struct router_match *m)
{
	static const char *keys[] = { "dangling", "driver", "label", "name",
		NULL };
	static const char *bools[] = { "true", "false", "1", "0", NULL };
	struct filters *f;
	struct volume *v;
	cJSON *out, *list = cJSON_CreateArray();
	struct err e;
	int ok;

	(void)m;
	if ((f = filters_parse(httpsrv_req_query(r, "filters"), keys, &e)) ==
		NULL ||
	    filters_check_values(f, "dangling", bools, &e) == -1) {
		httpsrv_reply_err(r, &e);
		goto done;
	}
	TAILQ_FOREACH(v, &b->volumes, entry) {
		if (volume_shared_path(v) != NULL)
			continue;
		if ((ok = vol_matches(b, v, f, &e)) == -1) {
			httpsrv_reply_err(r, &e);
			goto done;
		}
		if (ok)
			cJSON_AddItemToArray(list, backend_vol_json(v));
	}
	out = cJSON_CreateObject();
	cJSON_AddItemToObject(out, "Volumes", list);
	list = NULL;
	cJSON_AddNullToObject(out, "Warnings");
	httpsrv_reply_json(r, 200, out);
	cJSON_Delete(out);
done:
	cJSON_Delete(list);
	filters_free(f);
}

void
backend_vol_inspect(
    struct backend *b, struct httpsrv_req *r, const struct router_match *m)
{
	const char *name = router_param(m, "name");
	struct volume *v;
	cJSON *out;

	if ((v = vol_visible(b, name)) == NULL) {
		httpsrv_reply_error(r, 404, "get %s: no such volume", name);
		return;
	}
	out = backend_vol_json(v);
	httpsrv_reply_json(r, 200, out);
	cJSON_Delete(out);
}

/* --- remove, prune -------------------------------------------------------- */

static void
vol_removed(void *arg, const struct err *e)
{
	struct httpsrv_req *r = vol_req_free(arg);

	if (r != NULL)
		backend_reply_done(r, e, 204);
}

/* dockerd's in-use sentence: "remove x: volume is in use - [a, b]". */
static void
vol_in_use(struct httpsrv_req *r, const struct volume *v, const cJSON *ids)
{
	struct buf out;
	const cJSON *it;

	buf_init(&out, 0);
	cJSON_ArrayForEach(it, ids) {
		buf_addf(
		    &out, "%s%s", out.len > 0 ? ", " : "", it->valuestring);
	}
	httpsrv_reply_error(r, 409, "remove %s: volume is in use - [%s]",
	    v->name, out.data != NULL ? out.data : "");
	buf_free(&out);
}

void
backend_vol_remove(
    struct backend *b, struct httpsrv_req *r, const struct router_match *m)
{
	const char *name = router_param(m, "name");
	struct volume *v;
	struct err e;
	cJSON *ids;

	if ((v = vol_visible(b, name)) == NULL) {
		/* force: dockerd's purge of what is already gone. */
		if (backend_query_bool(r, "force", 0))
			httpsrv_reply_empty(r, 204);
		else
			httpsrv_reply_error(
			    r, 404, "get %s: no such volume", name);
		return;
	}
	ids = cJSON_CreateArray();
	if (backend_vol_refs(b, v, ids) > 0) {
		vol_in_use(r, v, ids);
		cJSON_Delete(ids);
		return;
	}
	cJSON_Delete(ids);
	if (backend_vol_removing(v)) {
		httpsrv_reply_error(r, 409,
		    "remove %s: the volume is being removed already", name);
		return;
	}
	if (!b->caps.flag[CAP_VOLUMES]) {
		caps_unsupported(&b->caps, CAP_VOLUMES, &e);
		httpsrv_reply_err(r, &e);
		return;
	}
	backend_vol_destroy(b, v, vol_removed, vol_req_new(b, r, v));
}

/* Prune removes one volume at a time; the answer names those that went. */
struct vol_prune {
	struct backend *b;
	struct httpsrv_req *r; /* NULL once the client went away */
	struct strv names;     /* still to remove */
	size_t next;
	cJSON *deleted;
};

static void vol_prune_next(struct vol_prune *p);

static void
vol_prune_gone(struct httpsrv_req *r, void *arg)
{
	struct vol_prune *p = arg;

	(void)r;
	p->r = NULL;
}

static void
vol_prune_removed(void *arg, const struct err *e)
{
	struct vol_prune *p = arg;

	if (e == NULL)
		cJSON_AddItemToArray(
		    p->deleted, cJSON_CreateString(p->names.v[p->next]));
	p->next++;
	vol_prune_next(p);
}

static void
vol_prune_next(struct vol_prune *p)
{
	struct volume *v = NULL;
	cJSON *out;

	while (p->next < p->names.n) {
		v = backend_volume_by_name(p->b, p->names.v[p->next]);
		if (v != NULL && !backend_vol_removing(v) &&
		    backend_vol_refs(p->b, v, NULL) == 0)
			break;
		p->next++;
	}
	if (p->next < p->names.n) {
		backend_vol_destroy(p->b, v, vol_prune_removed, p);
		return;
	}
	if (p->r != NULL) {
		httpsrv_req_on_close(p->r, NULL, NULL);
		out = cJSON_CreateObject();
		/* dockerd's nil slice when nothing went. */
		cJSON_AddItemToObject(out, "VolumesDeleted",
		    cJSON_GetArraySize(p->deleted) > 0 ?
			cJSON_Duplicate(p->deleted, 1) :
			cJSON_CreateNull());
		json_add_int(out, "SpaceReclaimed", 0);
		httpsrv_reply_json(p->r, 200, out);
		cJSON_Delete(out);
	}
	cJSON_Delete(p->deleted);
	strv_free(&p->names);
	free(p);
}

/* API 1.42 and later prune anonymous volumes only, unless all=true. */
static int
vol_prune_all(struct httpsrv_req *r, const struct filters *f)
{
	const char *ver = httpsrv_req_header(r, "X-Sockerless-Api-Version");
	long minor = 44;

	if (ver != NULL && str_prefix(ver, "1."))
		minor = strtol(ver + 2, NULL, 10);
	if (minor < 42)
		return 1;
	return filters_has(f, "all") &&
	    (filters_match_exact(f, "all", "true") ||
		filters_match_exact(f, "all", "1"));
}

static int
vol_prunable(
    struct backend *b, const struct volume *v, const struct filters *f, int all)
{
	return volume_shared_path(v) == NULL && !backend_vol_removing(v) &&
	    (all || backend_vol_anonymous(v)) &&
	    backend_vol_refs(b, v, NULL) == 0 &&
	    filters_match_labels(f, "label", volume_labels(v)) &&
	    !(filters_has(f, "label!") &&
		filters_match_labels(f, "label!", volume_labels(v)));
}

void
backend_vol_prune(
    struct backend *b, struct httpsrv_req *r, const struct router_match *m)
{
	static const char *keys[] = { "label", "label!", "all", NULL };
	static const char *bools[] = { "true", "false", "1", "0", NULL };
	struct vol_prune *p;
	struct filters *f;
	struct volume *v;
	struct err e;
	int all;

	(void)m;
	if ((f = filters_parse(httpsrv_req_query(r, "filters"), keys, &e)) ==
		NULL ||
	    filters_check_values(f, "all", bools, &e) == -1) {
		filters_free(f);
		httpsrv_reply_err(r, &e);
		return;
	}
	all = vol_prune_all(r, f);
	p = xcalloc(1, sizeof(*p));
	p->b = b;
	p->r = r;
	p->deleted = cJSON_CreateArray();
	strv_init(&p->names);
	TAILQ_FOREACH(v, &b->volumes, entry) {
		if (vol_prunable(b, v, f, all))
			strv_add(&p->names, v->name);
	}
	filters_free(f);
	httpsrv_req_on_close(r, vol_prune_gone, p);
	vol_prune_next(p);
}

/* --- system df ------------------------------------------------------------ */

void
backend_vol_df(
    struct backend *b, struct httpsrv_req *r, const struct router_match *m)
{
	cJSON *o = backend_sys_df_doc(b), *list = cJSON_CreateArray(), *vj;
	cJSON *usage;
	struct volume *v;

	(void)m;
	TAILQ_FOREACH(v, &b->volumes, entry) {
		if (volume_shared_path(v) != NULL)
			continue;
		vj = backend_vol_json(v);
		usage = cJSON_CreateObject();
		/* The cloud file system gives no per-volume size. */
		json_add_int(usage, "Size", -1);
		json_add_int(usage, "RefCount", backend_vol_refs(b, v, NULL));
		cJSON_AddItemToObject(vj, "UsageData", usage);
		cJSON_AddItemToArray(list, vj);
	}
	json_set(o, "Volumes", list);
	httpsrv_reply_json(r, 200, o);
	cJSON_Delete(o);
}
