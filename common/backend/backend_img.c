/* Images: metadata only. A pull (backend_img_pull.c) resolves the
 * reference in its registry and records the image config; the cloud pulls
 * the layers itself when a workload starts. Here: the records, list,
 * inspect, and the endpoints that only answer for a missing image. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend_img.h"
#include "backend_sys.h"
#include "sockerless/filters.h"
#include "sockerless/json.h"
#include "sockerless/log.h"
#include "sockerless/reg.h"
#include "sockerless/store.h"
#include "sockerless/xmalloc.h"

int
backend_img_init(struct backend *b, struct err *e)
{
	struct reg_config rc;

	memset(&rc, 0, sizeof(rc));
	rc.mirrors = &b->conf.registry_mirrors;
	rc.insecure = &b->conf.insecure_registries;
	rc.endpoints = &b->conf.registry_endpoints;
	rc.platform = b->conf.platform;
	rc.auth_file = b->conf.registry_auth_file;
	if ((b->reg = reg_client_new(b->base, b->http, &rc, e)) == NULL)
		return -1;
	return 0;
}

void
backend_img_free(struct backend *b)
{
	backend_img_tree_free(b);
	reg_client_free(b->reg);
}

/* The normalised form of a user's reference ("docker.io/library/x:tag"),
 * or NULL when it is not a valid reference. */
char *
backend_img_normalize(const char *ref)
{
	struct reg_ref r;
	struct err e;
	char *s;

	if (reg_ref_parse(ref, &r, &e) == -1)
		return NULL;
	s = reg_ref_string(&r);
	reg_ref_free(&r);
	return s;
}

/* Builds RepoTags and RepoDigests (familiar forms) from the refs. */
static void
backend_img_set_refs(struct backend *b, cJSON *doc)
{
	cJSON *tags = cJSON_CreateArray(), *digests = cJSON_CreateArray();
	struct strv refs;
	struct err e;

	strv_init(&refs);
	if (store_image_refs(b->store, json_str(doc, "Id"), &refs, &e) == -1)
		log_warnx("listing image refs: %s", e.msg);
	for (size_t i = 0; i < refs.n; i++) {
		struct reg_ref r;
		char *fam;
		if (reg_ref_parse(refs.v[i], &r, &e) == -1)
			continue;
		fam = reg_ref_familiar(&r);
		cJSON_AddItemToArray(
		    r.digest != NULL ? digests : tags, cJSON_CreateString(fam));
		free(fam);
		reg_ref_free(&r);
	}
	strv_free(&refs);
	json_set(doc, "RepoTags", tags);
	json_set(doc, "RepoDigests", digests);
}

/* Returns the stored image doc (with refs filled in) for an id. */
cJSON *
backend_img_load(struct backend *b, const char *id)
{
	char *s = NULL;
	cJSON *doc;
	struct err e;

	if (store_image_get(b->store, id, &s, &e) == -1 || s == NULL)
		return NULL;
	doc = json_parse(s, strlen(s), &e);
	free(s);
	if (doc != NULL)
		backend_img_set_refs(b, doc);
	return doc;
}

cJSON *
backend_img_find(struct backend *b, const char *ref)
{
	char *norm = backend_img_normalize(ref), *id = NULL;
	cJSON *doc = NULL;
	struct err e;

	if (store_image_resolve(b->store, norm != NULL ? norm : ref, &id, &e) ==
		0 &&
	    id != NULL)
		doc = backend_img_load(b, id);
	else if (norm == NULL || strchr(ref, ':') == NULL ||
	    str_prefix(ref, "sha256:")) {
		/* An id or id prefix ("sha256:ab12", "ab12"). */
		free(id);
		id = NULL;
		if (store_image_resolve(b->store, ref, &id, &e) == 0 &&
		    id != NULL)
			doc = backend_img_load(b, id);
	}
	free(id);
	free(norm);
	return doc;
}

/* The keys of an image's Config that dockerd always shows (a Go struct
 * there); the registry's config has only what was set. */
static const char *const backend_img_cfg_str[] = { "Hostname", "Domainname",
	"User", "Image", "WorkingDir", NULL };
static const char *const backend_img_cfg_bool[] = { "AttachStdin",
	"AttachStdout", "AttachStderr", "Tty", "OpenStdin", "StdinOnce", NULL };
static const char *const backend_img_cfg_null[] = { "Env", "Cmd", "Volumes",
	"Entrypoint", "OnBuild", "Labels", NULL };

/* What inspect shows: the stored doc without the private object, its
 * Config with every key dockerd's has. */
static cJSON *
backend_img_public(const cJSON *doc)
{
	cJSON *o = cJSON_Duplicate(doc, 1), *cfg = json_obj(o, "Config");
	const char *const *k;

	cJSON_DeleteItemFromObjectCaseSensitive(o, IMG_PRIVATE);
	for (k = backend_img_cfg_str; cfg != NULL && *k != NULL; k++)
		if (cJSON_GetObjectItemCaseSensitive(cfg, *k) == NULL)
			json_add_str(cfg, *k, "");
	for (k = backend_img_cfg_bool; cfg != NULL && *k != NULL; k++)
		if (cJSON_GetObjectItemCaseSensitive(cfg, *k) == NULL)
			json_add_bool(cfg, *k, 0);
	for (k = backend_img_cfg_null; cfg != NULL && *k != NULL; k++)
		if (cJSON_GetObjectItemCaseSensitive(cfg, *k) == NULL)
			cJSON_AddItemToObject(cfg, *k, cJSON_CreateNull());
	return o;
}

/* --- list, inspect ------------------------------------------------------ */

static cJSON *
backend_img_summary(const cJSON *doc)
{
	cJSON *o = cJSON_CreateObject();
	const cJSON *labels = json_obj(json_obj(doc, "Config"), "Labels");
	int64_t created = 0;

	json_add_str(o, "Id", json_str(doc, "Id"));
	json_add_str(o, "ParentId", "");
	cJSON_AddItemToObject(
	    o, "RepoTags", cJSON_Duplicate(json_arr(doc, "RepoTags"), 1));
	cJSON_AddItemToObject(
	    o, "RepoDigests", cJSON_Duplicate(json_arr(doc, "RepoDigests"), 1));
	str_time_parse(json_str(doc, "Created"), &created);
	json_add_int(o, "Created", created / 1000000000);
	json_add_int(o, "Size", json_int(doc, "Size", 0));
	json_add_int(o, "SharedSize", -1);
	json_add_int(o, "VirtualSize", json_int(doc, "Size", 0));
	cJSON_AddItemToObject(o, "Labels",
	    labels != NULL ? cJSON_Duplicate(labels, 1) : cJSON_CreateObject());
	json_add_int(o, "Containers", -1);
	return o;
}

/* One familiar reference ("busybox:latest", "x@sha256:...") against the
 * reference filter: whole, or by its name alone, as dockerd's
 * FamiliarMatch does. */
static int
backend_img_ref_match(const struct filters *f, const char *ref)
{
	char *name = xstrdup(ref), *cut;
	int ok;

	if ((cut = strchr(name, '@')) != NULL)
		*cut = '\0';
	else if ((cut = strrchr(name, ':')) != NULL && strchr(cut, '/') == NULL)
		*cut = '\0';
	ok = filters_match_glob(f, "reference", ref) ||
	    filters_match_glob(f, "reference", name);
	free(name);
	return ok;
}

/* Keeps only the references that match, as dockerd lists them (the CLI
 * shows one row per tag); returns how many are left. */
static int
backend_img_ref_keep(const struct filters *f, cJSON *arr)
{
	cJSON *it, *next;
	int n = 0;

	for (it = arr != NULL ? arr->child : NULL; it != NULL; it = next) {
		next = it->next;
		if (cJSON_IsString(it) &&
		    backend_img_ref_match(f, it->valuestring))
			n++;
		else
			cJSON_Delete(cJSON_DetachItemViaPointer(arr, it));
	}
	return n;
}

/* The reference filter on a summary; 0 when no reference is left. */
static int
backend_img_ref_matches(const struct filters *f, cJSON *sum)
{
	int tags, digests;

	if (!filters_has(f, "reference"))
		return 1;
	tags = backend_img_ref_keep(f, json_arr(sum, "RepoTags"));
	digests = backend_img_ref_keep(f, json_arr(sum, "RepoDigests"));
	return tags + digests > 0;
}

void
backend_img_list(
    struct backend *b, struct httpsrv_req *r, const struct router_match *m)
{
	static const char *keys[] = { "dangling", "label", "reference",
		"before", "since", "until", NULL };
	struct filters *f;
	struct strv ids;
	cJSON *out;
	struct err e;

	(void)m;
	if ((f = filters_parse(httpsrv_req_query(r, "filters"), keys, &e)) ==
	    NULL) {
		httpsrv_reply_err(r, &e);
		return;
	}
	strv_init(&ids);
	store_image_ids(b->store, &ids, &e);
	out = cJSON_CreateArray();
	for (size_t i = 0; i < ids.n; i++) {
		cJSON *doc = backend_img_load(b, ids.v[i]);
		int dangling;
		if (doc == NULL)
			continue;
		dangling = cJSON_GetArraySize(json_arr(doc, "RepoTags")) == 0;
		if ((filters_has(f, "dangling") &&
			!filters_match_exact(
			    f, "dangling", dangling ? "true" : "false")) ||
		    !filters_match_labels(f, "label",
			json_obj(json_obj(doc, "Config"), "Labels")) ||
		    !backend_img_ref_matches(f, doc)) {
			cJSON_Delete(doc);
			continue;
		}
		cJSON_AddItemToArray(out, backend_img_summary(doc));
		cJSON_Delete(doc);
	}
	strv_free(&ids);
	filters_free(f);
	httpsrv_reply_json(r, 200, out);
	cJSON_Delete(out);
}

void
backend_img_inspect(
    struct backend *b, struct httpsrv_req *r, const struct router_match *m)
{
	const char *name = router_param(m, "name");
	cJSON *doc = backend_img_find(b, name), *o;

	if (doc == NULL) {
		httpsrv_reply_error(r, 404, "No such image: %s", name);
		return;
	}
	o = backend_img_public(doc);
	httpsrv_reply_json(r, 200, o);
	cJSON_Delete(o);
	cJSON_Delete(doc);
}

/* --- endpoints without an implementation -------------------------------- */

/* The request is checked before the capability: a missing image gets
 * dockerd's own answer (its wording is what docker-py maps to
 * ImageNotFound), an existing one the 501 of an endpoint not built. */
/* dockerd's history of a pulled image, newest step first: the steps
 * below the image itself are "<missing>" (not local images), a step that
 * made a layer has that layer's size. NULL when not recorded. */
static cJSON *
backend_img_history_json(const cJSON *doc)
{
	const cJSON *priv = json_obj(doc, IMG_PRIVATE), *it, *sz;
	const cJSON *hist = json_arr(priv, "History");
	const cJSON *sizes = json_arr(priv, "LayerSizes");
	cJSON *out, *h;
	int layer = 0;
	int64_t t;

	if (hist == NULL || sizes == NULL)
		return NULL;
	out = cJSON_CreateArray();
	cJSON_ArrayForEach(it, hist) {
		h = cJSON_CreateObject();
		json_add_str(h, "Id", "<missing>");
		t = 0;
		str_time_parse(json_str(it, "created"), &t);
		json_add_int(h, "Created", t / 1000000000);
		json_add_str(h, "CreatedBy",
		    json_str(it, "created_by") != NULL ?
			json_str(it, "created_by") :
			"");
		cJSON_AddItemToObject(h, "Tags", cJSON_CreateNull());
		sz = json_bool(it, "empty_layer", 0) ?
		    NULL :
		    cJSON_GetArrayItem(sizes, layer++);
		json_add_int(h, "Size",
		    sz != NULL && cJSON_IsNumber(sz) ?
			(int64_t)sz->valuedouble :
			0);
		json_add_str(h, "Comment",
		    json_str(it, "comment") != NULL ? json_str(it, "comment") :
						      "");
		cJSON_InsertItemInArray(out, 0, h);
	}
	if ((h = out->child) != NULL) {
		json_set(h, "Id", cJSON_CreateString(json_str(doc, "Id")));
		json_set(h, "Tags",
		    cJSON_GetArraySize(json_arr(doc, "RepoTags")) > 0 ?
			cJSON_Duplicate(json_arr(doc, "RepoTags"), 1) :
			cJSON_CreateNull());
	}
	return out;
}

void
backend_img_history(
    struct backend *b, struct httpsrv_req *r, const struct router_match *m)
{
	const char *name = router_param(m, "name");
	cJSON *doc = backend_img_find(b, name), *out = NULL;

	if (doc == NULL)
		httpsrv_reply_error(r, 404, "No such image: %s", name);
	else if ((out = backend_img_history_json(doc)) == NULL)
		httpsrv_reply_error(r, 501,
		    "The history of %s was not recorded when it was pulled "
		    "(by an older Sockerless): pull it again.",
		    name);
	else
		httpsrv_reply_json(r, 200, out);
	cJSON_Delete(out);
	cJSON_Delete(doc);
}

/* dockerd answers a push of a missing image inside its progress stream. */
void
backend_img_push(
    struct backend *b, struct httpsrv_req *r, const struct router_match *m)
{
	const char *tag = httpsrv_req_query(r, "tag");
	char *ref = tag != NULL && tag[0] != '\0' ?
	    xasprintf("%s:%s", router_param(m, "name"), tag) :
	    xstrdup(router_param(m, "name"));
	char *norm = backend_img_normalize(ref), *line, *fam;
	cJSON *doc = backend_img_find(b, ref), *o;
	struct reg_ref rr;
	struct err e;
	size_t len;

	/* dockerd reads the credentials from the body when the header is
	 * missing, and an empty body fails to decode. */
	if (httpsrv_req_header(r, "X-Registry-Auth") == NULL &&
	    (httpsrv_req_body(r, &len), len == 0)) {
		httpsrv_reply_error(
		    r, 400, "Bad parameters and missing X-Registry-Auth: EOF");
		goto out;
	}
	if (doc != NULL || norm == NULL ||
	    reg_ref_parse(router_param(m, "name"), &rr, &e) == -1) {
		backend_reply_unbuilt(b, r);
		goto out;
	}
	httpsrv_stream_begin(r, 200, "application/json");
	line = xasprintf(
	    "The push refers to repository [%s/%s]", rr.domain, rr.path);
	backend_img_status(r, line, NULL);
	free(line);
	fam = reg_ref_familiar_name(&rr);
	line =
	    xasprintf("An image does not exist locally with the tag: %s", fam);
	free(fam);
	reg_ref_free(&rr);
	o = cJSON_CreateObject();
	cJSON_AddItemToObject(o, "errorDetail", cJSON_CreateObject());
	json_add_str(json_obj(o, "errorDetail"), "message", line);
	json_add_str(o, "error", line);
	free(line);
	line = json_print(o);
	httpsrv_stream_line(r, line, "\r\n");
	free(line);
	cJSON_Delete(o);
	httpsrv_stream_end(r);
out:
	free(ref);
	free(norm);
	cJSON_Delete(doc);
}

/* docker save: GET /images/{name}/get and GET /images/get?names=. */
void
backend_img_save(
    struct backend *b, struct httpsrv_req *r, const struct router_match *m)
{
	const char *name = router_param(m, "name");
	cJSON *doc;

	if (name == NULL)
		name = httpsrv_req_query(r, "names");
	if (name != NULL && (doc = backend_img_find(b, name)) == NULL) {
		httpsrv_reply_error(r, 404, "reference does not exist");
		return;
	}
	if (name != NULL)
		cJSON_Delete(doc);
	backend_reply_unbuilt(b, r);
}
