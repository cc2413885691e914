/* Images: metadata only. A pull resolves the reference in its registry
 * (mirrors, auth, platform) and records the image config; the cloud pulls
 * the layers itself when a workload starts. */
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

#define IMG_PRIVATE "Sockerless"

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
	reg_client_free(b->reg);
}

/* The normalised form of a user's reference ("docker.io/library/x:tag"),
 * or NULL when it is not a valid reference. */
static char *
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
static cJSON *
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

/* --- pull --------------------------------------------------------------- */

struct img_pull {
	struct backend *b;
	struct httpsrv_req *req;
	char *ref; /* as the user wrote it, tag included */
	int gone;
};

static void
backend_img_pull_gone(struct httpsrv_req *r, void *arg)
{
	struct img_pull *p = arg;

	(void)r;
	p->gone = 1;
	p->req = NULL;
}

static void
backend_img_status(struct httpsrv_req *r, const char *status, const char *id)
{
	cJSON *o = cJSON_CreateObject();
	char *s;

	json_add_str(o, "status", status);
	if (id != NULL)
		json_add_str(o, "id", id);
	s = json_print(o);
	httpsrv_stream_line(r, s, "\r\n");
	free(s);
	cJSON_Delete(o);
}

/* {digest: size} of the manifest's layers: what prune reclaims when no
 * image is left that uses a layer. */
static cJSON *
backend_img_layers(const cJSON *manifest)
{
	cJSON *out = cJSON_CreateObject();
	const cJSON *it;
	const char *d;

	cJSON_ArrayForEach(it, json_arr(manifest, "layers")) {
		if ((d = json_str(it, "digest")) != NULL &&
		    cJSON_GetObjectItemCaseSensitive(out, d) == NULL)
			json_add_int(out, d, json_int(it, "size", 0));
	}
	return out;
}

/* Records the resolved image and its refs; returns 1 if it was new. */
static int
backend_img_record(struct backend *b, const struct reg_image *img)
{
	cJSON *doc = cJSON_CreateObject(), *cfg, *rootfs, *gd, *priv, *meta,
	      *sizes;
	const cJSON *it;
	char *s, *digest_ref, now[40];
	struct err e;
	int is_new;
	char *old = NULL;

	is_new =
	    !(store_image_get(b->store, img->id, &old, &e) == 0 && old != NULL);
	free(old);
	json_add_str(doc, "Id", img->id);
	json_add_str(doc, "Parent", "");
	json_add_str(doc, "Comment",
	    json_str(img->config, "comment") != NULL ?
		json_str(img->config, "comment") :
		"");
	json_add_str(doc, "Created", json_str(img->config, "created"));
	json_add_str(doc, "DockerVersion", "");
	json_add_str(doc, "Author",
	    json_str(img->config, "author") != NULL ?
		json_str(img->config, "author") :
		"");
	cfg = cJSON_Duplicate(json_obj(img->config, "config"), 1);
	cJSON_AddItemToObject(
	    doc, "Config", cfg != NULL ? cfg : cJSON_CreateObject());
	json_add_str(
	    doc, "Architecture", json_str(img->config, "architecture"));
	if (json_str(img->config, "variant") != NULL)
		json_add_str(doc, "Variant", json_str(img->config, "variant"));
	json_add_str(doc, "Os", json_str(img->config, "os"));
	json_add_int(doc, "Size", img->size);
	json_add_int(doc, "VirtualSize", img->size);
	gd = cJSON_CreateObject();
	cJSON_AddItemToObject(gd, "Data", cJSON_CreateObject());
	json_add_str(gd, "Name", "sockerless");
	cJSON_AddItemToObject(doc, "GraphDriver", gd);
	/* The config's {type, diff_ids} in inspect's words. */
	rootfs = cJSON_CreateObject();
	json_add_str(rootfs, "Type", "layers");
	cJSON_AddItemToObject(rootfs, "Layers",
	    json_arr(json_obj(img->config, "rootfs"), "diff_ids") != NULL ?
		cJSON_Duplicate(
		    json_arr(json_obj(img->config, "rootfs"), "diff_ids"), 1) :
		cJSON_CreateArray());
	cJSON_AddItemToObject(doc, "RootFS", rootfs);
	meta = cJSON_CreateObject();
	str_time_rfc3339(now, sizeof(now), str_now_ns());
	json_add_str(meta, "LastTagTime", now);
	cJSON_AddItemToObject(doc, "Metadata", meta);
	priv = cJSON_CreateObject();
	json_add_str(priv, "ManifestDigest", img->manifest_digest);
	cJSON_AddItemToObject(
	    priv, "Layers", backend_img_layers(img->manifest));
	/* docker history: the config's steps and the layer sizes in order. */
	cJSON_AddItemToObject(priv, "History",
	    json_arr(img->config, "history") != NULL ?
		cJSON_Duplicate(json_arr(img->config, "history"), 1) :
		cJSON_CreateArray());
	sizes = cJSON_CreateArray();
	cJSON_ArrayForEach(it, json_arr(img->manifest, "layers")) {
		cJSON_AddItemToArray(
		    sizes, cJSON_CreateNumber((double)json_int(it, "size", 0)));
	}
	cJSON_AddItemToObject(priv, "LayerSizes", sizes);
	cJSON_AddItemToObject(doc, IMG_PRIVATE, priv);
	s = json_print(doc);
	if (store_image_put(b->store, img->id, s, &e) == -1)
		log_warnx("saving image %s: %s", img->id, e.msg);
	free(s);
	cJSON_Delete(doc);
	if (img->tag != NULL) {
		s = xasprintf("%s:%s", img->name, img->tag);
		store_image_ref_set(b->store, s, img->id, &e);
		free(s);
	}
	digest_ref = xasprintf("%s@%s", img->name, img->digest);
	store_image_ref_set(b->store, digest_ref, img->id, &e);
	free(digest_ref);
	return is_new;
}

static void
backend_img_resolved(
    void *arg, const struct reg_image *img, const struct err *e)
{
	struct img_pull *p = arg;
	struct backend *b = p->b;
	char *line, *fam;
	int is_new;

	if (p->gone)
		goto out;
	httpsrv_req_on_close(p->req, NULL, NULL);
	if (e != NULL) {
		httpsrv_reply_err(p->req, e);
		goto out;
	}
	is_new = backend_img_record(b, img);
	fam = xstrdup(p->ref);
	httpsrv_stream_begin(p->req, 200, "application/json");
	line = xasprintf("Pulling from %s", img->path);
	backend_img_status(
	    p->req, line, img->tag != NULL ? img->tag : img->digest);
	free(line);
	line = xasprintf("Digest: %s", img->digest);
	backend_img_status(p->req, line, NULL);
	free(line);
	line = xasprintf(is_new ? "Status: Downloaded newer image for %s" :
				  "Status: Image is up to date for %s",
	    fam);
	backend_img_status(p->req, line, NULL);
	free(line);
	free(fam);
	httpsrv_stream_end(p->req);
	backend_sys_pull_event(b, p->ref);
out:
	free(p->ref);
	free(p);
}

void
backend_img_pull(
    struct backend *b, struct httpsrv_req *r, const struct router_match *m)
{
	const char *from = httpsrv_req_query(r, "fromImage");
	const char *tag = httpsrv_req_query(r, "tag");
	struct img_pull *p;
	struct err e;

	(void)m;
	if (httpsrv_req_query(r, "fromSrc") != NULL) {
		httpsrv_reply_error(r, 501,
		    "This backend (%s) does not import "
		    "images (docker import): push the "
		    "image to a registry and pull it",
		    b->ops->name);
		return;
	}
	if (from == NULL || from[0] == '\0') {
		httpsrv_reply_error(r, 400, "fromImage is required");
		return;
	}
	p = xcalloc(1, sizeof(*p));
	p->b = b;
	p->req = r;
	if (tag != NULL && tag[0] != '\0')
		p->ref = xasprintf("%s%s%s", from,
		    str_prefix(tag, "sha256:") ? "@" : ":", tag);
	else
		p->ref = xstrdup(from);
	httpsrv_req_on_close(r, backend_img_pull_gone, p);
	if (reg_resolve(b->reg, p->ref,
		httpsrv_req_header(r, "X-Registry-Auth"), backend_img_resolved,
		p, &e) == -1) {
		httpsrv_req_on_close(r, NULL, NULL);
		httpsrv_reply_err(r, &e);
		free(p->ref);
		free(p);
	}
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

/* --- tag, remove, prune ------------------------------------------------- */

void
backend_img_tag(
    struct backend *b, struct httpsrv_req *r, const struct router_match *m)
{
	const char *name = router_param(m, "name");
	const char *repo = httpsrv_req_query(r, "repo");
	const char *tag = httpsrv_req_query(r, "tag");
	cJSON *doc;
	char *ref, *norm;
	struct err e;

	if ((doc = backend_img_find(b, name)) == NULL) {
		httpsrv_reply_error(r, 404, "No such image: %s", name);
		return;
	}
	if (repo == NULL || repo[0] == '\0') {
		cJSON_Delete(doc);
		httpsrv_reply_error(r, 400,
		    "repository name must have at "
		    "least one component");
		return;
	}
	ref = xasprintf("%s:%s", repo, tag != NULL && tag[0] ? tag : "latest");
	if ((norm = backend_img_normalize(ref)) == NULL ||
	    strchr(repo, '@') != NULL) {
		httpsrv_reply_error(
		    r, 400, "invalid reference format: %s", ref);
		goto out;
	}
	if (store_image_ref_set(b->store, norm, json_str(doc, "Id"), &e) ==
	    -1) {
		httpsrv_reply_err(r, &e);
		goto out;
	}
	backend_sys_tag_event(b, json_str(doc, "Id"), ref);
	httpsrv_reply_empty(r, 201);
out:
	free(ref);
	free(norm);
	cJSON_Delete(doc);
}

struct img_users {
	const char *id;
	struct container *user;
	int running;
};

static void
backend_img_user(struct backend *b, struct container *c, void *arg)
{
	struct img_users *u = arg;
	const char *img = json_str(c->doc, "Image");

	(void)b;
	if (img != NULL && strcmp(img, u->id) == 0) {
		if (u->user == NULL || container_running(c))
			u->user = c;
		u->running |= container_running(c);
	}
}

/* Deletes an image with no refs left; appends {"Deleted": id}. */
static void
backend_img_delete(struct backend *b, const char *id, cJSON *out)
{
	cJSON *d = cJSON_CreateObject();
	struct err e;

	if (store_image_delete(b->store, id, &e) == -1)
		log_warnx("deleting image %s: %s", id, e.msg);
	json_add_str(d, "Deleted", id);
	cJSON_AddItemToArray(out, d);
	backend_sys_image_event(b, "delete", id, id);
}

void
backend_img_remove(
    struct backend *b, struct httpsrv_req *r, const struct router_match *m)
{
	const char *name = router_param(m, "name");
	int force = backend_query_bool(r, "force", 0);
	char *norm = backend_img_normalize(name);
	cJSON *doc = backend_img_find(b, name), *out;
	struct img_users u = { NULL, NULL, 0 };
	struct strv refs;
	struct err e;
	const char *id;
	int by_ref;

	if (doc == NULL) {
		httpsrv_reply_error(r, 404, "No such image: %s", name);
		free(norm);
		return;
	}
	id = json_str(doc, "Id");
	u.id = id;
	backend_container_foreach(b, backend_img_user, &u);
	strv_init(&refs);
	store_image_refs(b->store, id, &refs, &e);
	by_ref = norm != NULL && strv_contains(&refs, norm);
	if (u.user != NULL && (!force || u.running) &&
	    (!by_ref || refs.n <= 1)) {
		httpsrv_reply_error(r, 409,
		    "conflict: unable to remove "
		    "repository reference \"%s\" (must "
		    "force) - container %.12s is using "
		    "its referenced image %.12s",
		    name, u.user->id, id + (str_prefix(id, "sha256:") ? 7 : 0));
		goto out;
	}
	out = cJSON_CreateArray();
	for (size_t i = 0; i < refs.n; i++) {
		struct reg_ref rr;
		cJSON *un;
		char *fam;
		if (by_ref && strcmp(refs.v[i], norm) != 0)
			continue;
		store_image_ref_del(b->store, refs.v[i], &e);
		if (reg_ref_parse(refs.v[i], &rr, &e) == -1)
			continue;
		fam = reg_ref_familiar(&rr);
		un = cJSON_CreateObject();
		json_add_str(un, "Untagged", fam);
		cJSON_AddItemToArray(out, un);
		free(fam);
		reg_ref_free(&rr);
		backend_sys_image_event(b, "untag", id, id);
	}
	strv_free(&refs);
	strv_init(&refs);
	store_image_refs(b->store, id, &refs, &e);
	/* Only digest refs left means the tag was the last name. */
	{
		int tags = 0;
		for (size_t i = 0; i < refs.n; i++)
			tags += strchr(refs.v[i], '@') == NULL;
		if (tags == 0 && u.user == NULL) {
			for (size_t i = 0; i < refs.n; i++)
				store_image_ref_del(b->store, refs.v[i], &e);
			backend_img_delete(b, id, out);
		}
	}
	httpsrv_reply_json(r, 200, out);
	cJSON_Delete(out);
out:
	strv_free(&refs);
	free(norm);
	cJSON_Delete(doc);
}

/* The prune filter until=T: only images created before T (any when 0). */
static int
backend_img_before(const cJSON *doc, int64_t until)
{
	int64_t created;

	return until == 0 ||
	    (str_time_parse(json_str(doc, "Created"), &created) == 0 &&
		created < until);
}

/* Adds a pruned image's layers to gone ({digest: size}); an image
 * recorded before layers were kept counts its whole size. */
static void
backend_img_gone_layers(const cJSON *doc, cJSON *gone, int64_t *reclaimed)
{
	const cJSON *layers = json_obj(json_obj(doc, IMG_PRIVATE), "Layers");
	const cJSON *it;

	if (layers == NULL) {
		*reclaimed += json_int(doc, "Size", 0);
		return;
	}
	cJSON_ArrayForEach(it, layers) {
		if (cJSON_GetObjectItemCaseSensitive(gone, it->string) == NULL)
			cJSON_AddItemToObject(
			    gone, it->string, cJSON_Duplicate(it, 0));
	}
}

/* What the gone layers free, as dockerd counts it: a layer another image
 * still uses frees nothing. */
static int64_t
backend_img_unshared(struct backend *b, cJSON *gone)
{
	struct strv ids;
	struct err e;
	const cJSON *it;
	int64_t n = 0;

	strv_init(&ids);
	store_image_ids(b->store, &ids, &e);
	for (size_t i = 0; i < ids.n; i++) {
		cJSON *doc = backend_img_load(b, ids.v[i]);
		cJSON_ArrayForEach(
		    it, json_obj(json_obj(doc, IMG_PRIVATE), "Layers"))
			cJSON_DeleteItemFromObjectCaseSensitive(
			    gone, it->string);
		cJSON_Delete(doc);
	}
	strv_free(&ids);
	cJSON_ArrayForEach(it, gone) {
		n += (int64_t)it->valuedouble;
	}
	return n;
}

void
backend_img_prune(
    struct backend *b, struct httpsrv_req *r, const struct router_match *m)
{
	static const char *keys[] = { "dangling", "label", "until", NULL };
	struct filters *f;
	struct strv ids;
	cJSON *out, *deleted, *gone;
	int64_t reclaimed = 0, until;
	int all;
	struct err e;

	(void)m;
	if ((f = filters_parse(httpsrv_req_query(r, "filters"), keys, &e)) ==
		NULL ||
	    filters_until(f, &until, &e) == -1) {
		filters_free(f);
		httpsrv_reply_err(r, &e);
		return;
	}
	all = filters_has(f, "dangling") &&
	    filters_match_exact(f, "dangling", "false");
	deleted = cJSON_CreateArray();
	gone = cJSON_CreateObject();
	strv_init(&ids);
	store_image_ids(b->store, &ids, &e);
	for (size_t i = 0; i < ids.n; i++) {
		cJSON *doc = backend_img_load(b, ids.v[i]);
		struct img_users u = { ids.v[i], NULL, 0 };
		struct strv refs;
		if (doc == NULL)
			continue;
		backend_container_foreach(b, backend_img_user, &u);
		if (u.user == NULL &&
		    (all ||
			cJSON_GetArraySize(json_arr(doc, "RepoTags")) == 0) &&
		    backend_img_before(doc, until) &&
		    filters_match_labels(f, "label",
			json_obj(json_obj(doc, "Config"), "Labels"))) {
			strv_init(&refs);
			store_image_refs(b->store, ids.v[i], &refs, &e);
			for (size_t j = 0; j < refs.n; j++)
				store_image_ref_del(b->store, refs.v[j], &e);
			strv_free(&refs);
			backend_img_gone_layers(doc, gone, &reclaimed);
			backend_img_delete(b, ids.v[i], deleted);
		}
		cJSON_Delete(doc);
	}
	strv_free(&ids);
	filters_free(f);
	reclaimed += backend_img_unshared(b, gone);
	cJSON_Delete(gone);
	out = cJSON_CreateObject();
	/* dockerd's report has null, not [], when nothing was deleted. */
	cJSON_AddItemToObject(out, "ImagesDeleted",
	    cJSON_GetArraySize(deleted) > 0 ? deleted : cJSON_CreateNull());
	if (cJSON_GetArraySize(deleted) == 0)
		cJSON_Delete(deleted);
	json_add_int(out, "SpaceReclaimed", reclaimed);
	httpsrv_reply_json(r, 200, out);
	cJSON_Delete(out);
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
