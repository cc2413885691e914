/* docker tag, rmi and image prune: references added and removed, an
 * image kept while a container uses it. */
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
	const char *img = container_image_id(c);

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
