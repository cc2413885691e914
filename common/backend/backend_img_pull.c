/* docker pull: the reference resolved in its registry (mirrors, auth,
 * platform), the image config recorded, Docker's progress lines. */
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

void
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
	if (reg_resolve_client(b->reg, p->ref,
		httpsrv_req_header(r, "X-Registry-Auth"), backend_img_resolved,
		p, &e) == -1) {
		httpsrv_req_on_close(r, NULL, NULL);
		httpsrv_reply_err(r, &e);
		free(p->ref);
		free(p);
	}
}
