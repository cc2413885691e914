/* Derived images, the push: a push of "source image + a layer" to another
 * repository, mounting or copying the source blobs: the new config and
 * manifest, the blobs, the source and the existing tag, and reg_derive().
 * Built on reg_push_req.c (requests, auth) and reg_push_layer.c; the
 * source is resolved as a pull is (reg_resolve, reg.c). */
#include <sys/queue.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "reg_int.h"
#include "reg_push_int.h"
#include "sockerless/buf.h"
#include "sockerless/httpcli.h"
#include "sockerless/json.h"
#include "sockerless/log.h"
#include "sockerless/reg.h"
#include "sockerless/xmalloc.h"

#define REG_PUSH_PIECE ((size_t)8 << 20)
/* A source that ignores Range may send a blob this big in one answer. */
#define REG_PUSH_WHOLE_MAX    ((size_t)64 << 20)
#define REG_PUSH_MANIFEST_MAX ((size_t)4 << 20)
#define REG_PUSH_LAYER_DOCKER \
	"application/vnd.docker.image.rootfs.diff.tar.gzip"
#define REG_PUSH_LAYER_OCI "application/vnd.oci.image.layer.v1.tar+gzip"

static void reg_push_blob_next(struct reg_derive *d);

/* --- derive: the new config and manifest ---------------------------------- */

static void
reg_push_set_strv(cJSON *cfg, const char *key, const struct strv *v)
{
	json_set(
	    cfg, key, v->n > 0 ? json_strv_to_array(v) : cJSON_CreateNull());
}

static int
reg_push_build_config(struct reg_derive *d, struct err *e)
{
	cJSON *c = d->config, *rootfs, *ids, *hist, *cc, *h;
	char now[64];

	if ((rootfs = json_obj(c, "rootfs")) == NULL ||
	    (ids = json_arr(rootfs, "diff_ids")) == NULL)
		return err_set(e, 502,
		    "the image config of %s has no rootfs.diff_ids", d->src_s);
	cJSON_AddItemToArray(ids, cJSON_CreateString(d->layer.diff_id));
	/* Without a history, adding one entry would not match the layers. */
	if ((hist = json_arr(c, "history")) != NULL) {
		str_time_rfc3339(now, sizeof(now), str_now_ns());
		h = cJSON_CreateObject();
		json_add_str(h, "created", now);
		json_add_str(h, "created_by",
		    d->history != NULL ? d->history :
					 "sockerless: add a layer");
		cJSON_AddItemToArray(hist, h);
	}
	if (d->has_ep || d->has_cmd) {
		if ((cc = json_obj(c, "config")) == NULL) {
			cc = cJSON_CreateObject();
			json_set(c, "config", cc);
		}
		if (d->has_ep)
			reg_push_set_strv(cc, "Entrypoint", &d->ep);
		if (d->has_cmd)
			reg_push_set_strv(cc, "Cmd", &d->cmd);
	}
	d->config_bytes = json_print(c);
	d->config_digest =
	    reg_digest_of(d->config_bytes, strlen(d->config_bytes));
	return 0;
}

static void
reg_push_build_manifest(struct reg_derive *d)
{
	cJSON *m = cJSON_Duplicate(d->manifest, 1), *cfg, *layers, *l;
	int docker = strcmp(d->manifest_type, REG_MT_DOCKER_MANIFEST) == 0;

	cfg = json_obj(m, "config");
	json_set(cfg, "digest", cJSON_CreateString(d->config_digest));
	json_set(
	    cfg, "size", cJSON_CreateNumber((double)strlen(d->config_bytes)));
	if ((layers = json_arr(m, "layers")) == NULL) {
		layers = cJSON_CreateArray();
		json_set(m, "layers", layers);
	}
	l = cJSON_CreateObject();
	json_add_str(l, "mediaType",
	    docker ? REG_PUSH_LAYER_DOCKER : REG_PUSH_LAYER_OCI);
	json_add_int(l, "size", (int64_t)d->layer.len);
	json_add_str(l, "digest", d->layer.digest);
	cJSON_AddItemToArray(layers, l);
	d->manifest_bytes = json_print(m);
	d->manifest_digest =
	    reg_digest_of(d->manifest_bytes, strlen(d->manifest_bytes));
	cJSON_Delete(m);
}

/* --- derive: the manifest ------------------------------------------------- */

static void
reg_push_manifest_put(struct reg_derive *d, struct httpcli_resp *resp)
{
	const char *hd = httpcli_resp_header(resp, "Docker-Content-Digest");
	struct err e;

	if (resp->status != 201 && resp->status != 200) {
		reg_push_http_error(d, resp, "the manifest push to");
		return;
	}
	if (hd != NULL && strcmp(hd, d->manifest_digest) != 0) {
		err_set(&e, 502,
		    "registry %s stored the manifest of %s/%s as %s, not %s",
		    d->dst.host, d->dst.ref.domain, d->dst.ref.path, hd,
		    d->manifest_digest);
		reg_push_fail(d, &e);
		return;
	}
	reg_push_finish(d, d->manifest_digest, NULL);
}

static void
reg_push_manifest(struct reg_derive *d)
{
	reg_push_call(d, &d->dst, "PUT",
	    xasprintf("%s/v2/%s/manifests/%s", d->dst.base, d->dst.ref.path,
		d->dst.ref.tag),
	    reg_push_manifest_put);
	d->body = d->manifest_bytes;
	d->body_len = strlen(d->manifest_bytes);
	d->ctype = xstrdup(d->manifest_type);
	reg_push_send(d);
}

/* --- derive: blobs -------------------------------------------------------- */

static void
reg_push_blob_done(struct reg_derive *d)
{
	free(d->upload);
	d->upload = NULL;
	free(d->piece);
	d->piece = NULL;
	d->li++;
	reg_push_blob_next(d);
}

/* "<upload>?digest=" or "&digest=" when the Location has a query. */
static char *
reg_push_upload_url(struct reg_derive *d, const char *digest)
{
	return xasprintf("%s%cdigest=%s", d->upload,
	    strchr(d->upload, '?') != NULL ? '&' : '?', digest);
}

static void
reg_push_blob_put(struct reg_derive *d, struct httpcli_resp *resp)
{
	const char *hd = httpcli_resp_header(resp, "Docker-Content-Digest");
	struct err e;

	if (resp->status != 201) {
		reg_push_http_error(d, resp, "the blob upload to");
		return;
	}
	if (hd != NULL && strcmp(hd, d->blob) != 0) {
		err_set(&e, 502, "registry %s stored blob %s as %s",
		    d->dst.host, d->blob, hd);
		reg_push_fail(d, &e);
		return;
	}
	reg_push_blob_done(d);
}

/* Takes the Location of a 202 as the upload URL; -1 when none. */
static int
reg_push_take_location(struct reg_derive *d, struct httpcli_resp *resp)
{
	const char *loc = httpcli_resp_header(resp, "Location");
	struct err e;

	if (resp->status != 202) {
		reg_push_http_error(d, resp, "a blob upload to");
		return -1;
	}
	if (loc == NULL || loc[0] == '\0') {
		err_set(&e, 502,
		    "registry %s started an upload without a Location",
		    d->dst.host);
		reg_push_fail(d, &e);
		return -1;
	}
	free(d->upload);
	d->upload = reg_push_abs(&d->dst, loc);
	return 0;
}

static void reg_push_piece_get(struct reg_derive *d);

static void
reg_push_piece_patched(struct reg_derive *d, struct httpcli_resp *resp)
{
	if (reg_push_take_location(d, resp) == -1)
		return;
	d->off += (int64_t)d->piece_len;
	free(d->piece);
	d->piece = NULL;
	if (d->off < d->blob_size) {
		reg_push_piece_get(d);
		return;
	}
	reg_push_call(d, &d->dst, "PUT", reg_push_upload_url(d, d->blob),
	    reg_push_blob_put);
	reg_push_send(d);
}

static void
reg_push_piece_got(struct reg_derive *d, struct httpcli_resp *resp)
{
	struct err e;

	if (resp->status == 0 && d->off == 0 &&
	    strstr(resp->error, "larger than") != NULL) {
		err_set(&e, 502,
		    "registry %s ignores Range requests and blob %s "
		    "(%lld bytes) is too large to copy in one piece",
		    d->src.host, d->blob, (long long)d->blob_size);
		reg_push_fail(d, &e);
		return;
	}
	if ((resp->status != 206 && resp->status != 200) ||
	    (resp->status == 200 && d->off != 0) || resp->body_len == 0 ||
	    (resp->status == 200 && (int64_t)resp->body_len != d->blob_size)) {
		if (resp->status == 200 || resp->status == 206)
			err_set(&e, 502,
			    "registry %s sent a malformed piece of blob %s",
			    d->src.host, d->blob);
		else {
			reg_push_http_error(d, resp, "the blob download from");
			return;
		}
		reg_push_fail(d, &e);
		return;
	}
	if (d->off + (int64_t)resp->body_len > d->blob_size) {
		err_set(&e, 502,
		    "registry %s sent more of blob %s than its size",
		    d->src.host, d->blob);
		reg_push_fail(d, &e);
		return;
	}
	d->piece = xmalloc(resp->body_len);
	memcpy(d->piece, resp->body, resp->body_len);
	d->piece_len = resp->body_len;
	reg_push_call(
	    d, &d->dst, "PATCH", xstrdup(d->upload), reg_push_piece_patched);
	d->body = d->piece;
	d->body_len = d->piece_len;
	d->ctype = xstrdup("application/octet-stream");
	d->range = xasprintf("%lld-%lld", (long long)d->off,
	    (long long)(d->off + (int64_t)d->piece_len - 1));
	reg_push_send(d);
}

static void
reg_push_piece_get(struct reg_derive *d)
{
	int64_t end = d->off + (int64_t)REG_PUSH_PIECE - 1;

	if (end >= d->blob_size)
		end = d->blob_size - 1;
	reg_push_call(d, &d->src, "GET",
	    xasprintf(
		"%s/v2/%s/blobs/%s", d->src.base, d->src.ref.path, d->blob),
	    reg_push_piece_got);
	d->range =
	    xasprintf("bytes=%lld-%lld", (long long)d->off, (long long)end);
	d->max_resp = (size_t)d->blob_size <= REG_PUSH_WHOLE_MAX ?
	    REG_PUSH_WHOLE_MAX :
	    REG_PUSH_PIECE;
	reg_push_send(d);
}

/* Copy into the upload at d->upload. */
static void
reg_push_copy_begin(struct reg_derive *d)
{
	d->off = 0;
	if (d->blob_size == 0) {
		reg_push_call(d, &d->dst, "PUT",
		    reg_push_upload_url(d, d->blob), reg_push_blob_put);
		reg_push_send(d);
		return;
	}
	reg_push_piece_get(d);
}

static void
reg_push_upload_started(struct reg_derive *d, struct httpcli_resp *resp)
{
	if (reg_push_take_location(d, resp) == -1)
		return;
	if (d->own == 0) {
		reg_push_copy_begin(d);
		return;
	}
	reg_push_call(d, &d->dst, "PUT", reg_push_upload_url(d, d->blob),
	    reg_push_blob_put);
	if (d->own == 1) {
		d->body = d->layer.data;
		d->body_len = d->layer.len;
	} else if (d->own == 3) {
		d->body = d->vb[d->li].data;
		d->body_len = d->vb[d->li].len;
	} else {
		d->body = d->config_bytes;
		d->body_len = strlen(d->config_bytes);
	}
	d->ctype = xstrdup("application/octet-stream");
	reg_push_send(d);
}

static void
reg_push_upload_start(struct reg_derive *d)
{
	reg_push_call(d, &d->dst, "POST",
	    xasprintf("%s/v2/%s/blobs/uploads/", d->dst.base, d->dst.ref.path),
	    reg_push_upload_started);
	reg_push_send(d);
}

static void
reg_push_mounted(struct reg_derive *d, struct httpcli_resp *resp)
{
	if (resp->status == 201) {
		reg_push_blob_done(d);
		return;
	}
	/* 202: the registry would not mount; upload into what it opened. */
	if (reg_push_take_location(d, resp) == -1)
		return;
	reg_push_copy_begin(d);
}

static void
reg_push_blob_head(struct reg_derive *d, struct httpcli_resp *resp)
{
	if (resp->status == 200) {
		reg_push_blob_done(d);
		return;
	}
	if (resp->status != 404) {
		reg_push_http_error(d, resp, "a blob check at");
		return;
	}
	if (d->own == 0 && d->mount) {
		reg_push_call(d, &d->dst, "POST",
		    xasprintf("%s/v2/%s/blobs/uploads/?mount=%s&from=%s",
			d->dst.base, d->dst.ref.path, d->blob, d->src.ref.path),
		    reg_push_mounted);
		reg_push_send(d);
		return;
	}
	reg_push_upload_start(d);
}

/* Source layers, then the new layer, then the config, then the manifest. */
static void
reg_push_blob_next(struct reg_derive *d)
{
	const cJSON *l = NULL;
	const char *mt;

	d->own = 0;
	if (d->verbatim) {
		if (d->li >= d->nvb) {
			reg_push_manifest(d);
			return;
		}
		d->own = 3;
		d->blob = d->vb[d->li].digest;
		d->blob_size = (int64_t)d->vb[d->li].len;
	} else if (d->li < d->nlayers) {
		l = cJSON_GetArrayItem(json_arr(d->manifest, "layers"), d->li);
		mt = json_str(l, "mediaType");
		/* Foreign layers stay where their URLs say. */
		if (mt != NULL &&
		    (strstr(mt, "foreign") != NULL ||
			strstr(mt, "nondistributable") != NULL)) {
			d->li++;
			reg_push_blob_next(d);
			return;
		}
		d->blob = json_str(l, "digest");
		d->blob_size = json_int(l, "size", 0);
	} else if (d->li == d->nlayers) {
		d->own = 1;
		d->blob = d->layer.digest;
		d->blob_size = (int64_t)d->layer.len;
	} else if (d->li == d->nlayers + 1) {
		d->own = 2;
		d->blob = d->config_digest;
		d->blob_size = (int64_t)strlen(d->config_bytes);
	} else {
		reg_push_manifest(d);
		return;
	}
	reg_push_call(d, &d->dst, "HEAD",
	    xasprintf(
		"%s/v2/%s/blobs/%s", d->dst.base, d->dst.ref.path, d->blob),
	    reg_push_blob_head);
	reg_push_send(d);
}

/* --- derive: source ------------------------------------------------------- */

static int
reg_push_check_layers(struct reg_derive *d, struct err *e)
{
	const cJSON *l;

	cJSON_ArrayForEach(l, json_arr(d->manifest, "layers")) {
		const char *dg = json_str(l, "digest");

		if (dg == NULL || reg_digest_check(dg, NULL) == -1 ||
		    json_int(l, "size", -1) < 0)
			return err_set(e, 502,
			    "the manifest of %s has a malformed layer",
			    d->src_s);
	}
	d->nlayers = cJSON_GetArraySize(json_arr(d->manifest, "layers"));
	return 0;
}

static void
reg_push_resolved(void *arg, const struct reg_image *img, const struct err *e)
{
	struct reg_derive *d = arg;
	struct reg_push_side *s = &d->src;
	struct err e2;
	const char *h;

	if (e != NULL) {
		reg_push_fail(d, e);
		return;
	}
	d->manifest = cJSON_Duplicate(img->manifest, 1);
	d->manifest_type = xstrdup(img->manifest_type);
	d->config = cJSON_Duplicate(img->config, 1);
	s->base = xstrdup(img->source);
	h = strstr(s->base, "://") + 3;
	s->host = xstrndup(h, strcspn(h, "/"));
	s->cred_host = xstrdup(img->source_creds);
	d->mount = strcmp(s->base, d->dst.base) == 0;
	if (reg_push_check_layers(d, &e2) == -1 ||
	    reg_push_build_config(d, &e2) == -1) {
		reg_push_fail(d, &e2);
		return;
	}
	reg_push_build_manifest(d);
	reg_push_creds(d, s, reg_push_blob_next);
}

static void
reg_push_resolve(struct reg_derive *d)
{
	struct err e;

	if (reg_resolve(
		d->rc, d->src_s, d->src_auth, reg_push_resolved, d, &e) == -1)
		reg_push_fail(d, &e);
}

/* --- derive: the existing tag --------------------------------------------- */

static void
reg_push_dst_got(struct reg_derive *d, struct httpcli_resp *resp)
{
	char *dg;

	if (resp->status != 200) {
		reg_push_http_error(d, resp, "reading the manifest of");
		return;
	}
	dg = reg_digest_of(resp->body, resp->body_len);
	reg_push_finish(d, dg, NULL);
	free(dg);
}

static void
reg_push_dst_head(struct reg_derive *d, struct httpcli_resp *resp)
{
	const char *hd = httpcli_resp_header(resp, "Docker-Content-Digest");

	if (resp->status == 404) {
		reg_push_resolve(d);
		return;
	}
	if (resp->status != 200) {
		reg_push_http_error(d, resp, "a manifest check at");
		return;
	}
	if (hd != NULL && reg_digest_check(hd, NULL) == 0) {
		reg_push_finish(d, hd, NULL);
		return;
	}
	/* No digest in the answer: hash the manifest itself. */
	reg_push_call(d, &d->dst, "GET",
	    xasprintf("%s/v2/%s/manifests/%s", d->dst.base, d->dst.ref.path,
		d->dst.ref.tag),
	    reg_push_dst_got);
	d->accept_manifest = 1;
	d->max_resp = REG_PUSH_MANIFEST_MAX;
	reg_push_send(d);
}

static void
reg_push_dst_check(struct reg_derive *d)
{
	reg_push_call(d, &d->dst, "HEAD",
	    xasprintf("%s/v2/%s/manifests/%s", d->dst.base, d->dst.ref.path,
		d->dst.ref.tag),
	    reg_push_dst_head);
	d->accept_manifest = 1;
	reg_push_send(d);
}

static void
reg_push_start(evutil_socket_t fd, short what, void *arg)
{
	struct reg_derive *d = arg;

	(void)fd;
	(void)what;
	/* A whole image replaces the tag; a derived one reuses it. */
	reg_push_creds(
	    d, &d->dst, d->verbatim ? reg_push_blob_next : reg_push_dst_check);
}

void
reg_push_begin(struct reg_derive *d)
{
	d->dst.is_dst = 1;
	d->dst.base = reg_endpoint_base(d->rc, d->dst.ref.domain, &d->dst.host);
	d->dst.cred_host = xstrdup(d->dst.ref.domain);
	LIST_INSERT_HEAD(&d->rc->derives, d, entry);
	/* The callback always runs from the loop, never inside the call. */
	d->ev = evtimer_new(d->rc->base, reg_push_start, d);
	event_active(d->ev, EV_TIMEOUT, 0);
}

int
reg_derive(struct reg_client *rc, const char *src, const char *src_auth,
    const char *dst, const struct reg_layer *layer,
    const struct reg_derive_opts *o,
    void (*cb)(void *arg, const char *dst_ref, const struct err *e), void *arg,
    struct err *e)
{
	struct reg_derive *d = xcalloc(1, sizeof(*d));
	struct reg_ref sr;

	strv_init(&d->ep);
	strv_init(&d->cmd);
	if (reg_ref_parse(src, &sr, e) == -1)
		goto fail;
	if (reg_ref_parse(dst, &d->dst.ref, e) == -1) {
		reg_ref_free(&sr);
		goto fail;
	}
	if (d->dst.ref.digest != NULL || d->dst.ref.tag == NULL) {
		reg_ref_free(&sr);
		err_set(e, 400,
		    "the derived image %s needs a tag, not a digest", dst);
		goto fail;
	}
	d->src.ref = sr;
	d->rc = rc;
	d->cb = cb;
	d->arg = arg;
	d->src_s = xstrdup(src);
	d->src_auth = xstrdup(src_auth);
	if (reg_auth_decode(src_auth, &d->hdr) == -1)
		log_debug("%s: ignoring a malformed X-Registry-Auth header",
		    __func__);
	d->layer.data = xmalloc(layer->len > 0 ? layer->len : 1);
	memcpy(d->layer.data, layer->data, layer->len);
	d->layer.len = layer->len;
	d->layer.digest = xstrdup(layer->digest);
	d->layer.diff_id = xstrdup(layer->diff_id);
	if (o != NULL) {
		d->history = xstrdup(o->history);
		for (size_t i = 0;
		     o->entrypoint != NULL && i < o->entrypoint->n; i++)
			strv_add(&d->ep, o->entrypoint->v[i]);
		for (size_t i = 0; o->cmd != NULL && i < o->cmd->n; i++)
			strv_add(&d->cmd, o->cmd->v[i]);
		d->has_ep = o->entrypoint != NULL;
		d->has_cmd = o->cmd != NULL;
	}
	/* One token for the push and for mounting from the source. */
	if (strcmp(d->src.ref.domain, d->dst.ref.domain) == 0 &&
	    strcmp(d->src.ref.path, d->dst.ref.path) != 0)
		d->dst.scope = xasprintf("repository:%s:pull,push "
					 "repository:%s:pull",
		    d->dst.ref.path, d->src.ref.path);
	else
		d->dst.scope =
		    xasprintf("repository:%s:pull,push", d->dst.ref.path);
	d->src.scope = xasprintf("repository:%s:pull", d->src.ref.path);
	reg_push_begin(d);
	return 0;
fail:
	reg_push_free(d);
	return -1;
}
