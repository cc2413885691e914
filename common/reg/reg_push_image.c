/* Whole images pushed as they are (an OCI layout's manifest and blobs):
 * the checks and the set-up of reg_push_image(); the push itself is
 * reg_push.c's blob and manifest steps. */
#include <sys/queue.h>

#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "reg_int.h"
#include "reg_push_int.h"
#include "sockerless/json.h"
#include "sockerless/reg.h"
#include "sockerless/xmalloc.h"

/* Adds the blob the descriptor names to d->vb, from blobs. */
static int
reg_push_image_take(struct reg_derive *d, const cJSON *desc,
    const struct reg_blob_data *blobs, size_t nblobs, struct err *e)
{
	const char *dg = json_str(desc, "digest");
	struct reg_push_blob *b;

	if (dg == NULL || reg_digest_check(dg, NULL) == -1)
		return err_set(e, 400, "the manifest names a malformed digest");
	for (size_t i = 0; i < nblobs; i++) {
		if (blobs[i].digest == NULL || strcmp(blobs[i].digest, dg) != 0)
			continue;
		if (reg_digest_verify(dg, blobs[i].data, blobs[i].len) != 0)
			return err_set(
			    e, 400, "blob %s does not match its digest", dg);
		if (json_int(desc, "size", -1) != (int64_t)blobs[i].len)
			return err_set(e, 400,
			    "blob %s is not the size the manifest says", dg);
		b = &d->vb[d->nvb++];
		b->digest = xstrdup(dg);
		b->data = xmalloc(blobs[i].len > 0 ? blobs[i].len : 1);
		memcpy(b->data, blobs[i].data, blobs[i].len);
		b->len = blobs[i].len;
		return 0;
	}
	return err_set(e, 400, "blob %s of the manifest is missing", dg);
}

/* The layers, then the config, as a registry wants them before the
 * manifest; 0 or -1 with a 400. */
static int
reg_push_image_blobs(struct reg_derive *d, const char *manifest,
    size_t manifest_len, const struct reg_blob_data *blobs, size_t nblobs,
    struct err *e)
{
	cJSON *m = cJSON_ParseWithLength(manifest, manifest_len);
	const cJSON *layers = json_arr(m, "layers"), *l;
	int rc = 0;

	if (m == NULL || json_obj(m, "config") == NULL || layers == NULL) {
		cJSON_Delete(m);
		return err_set(
		    e, 400, "not an image manifest (a config and layers)");
	}
	d->vb = xcalloc((size_t)cJSON_GetArraySize(layers) + 1, sizeof(*d->vb));
	cJSON_ArrayForEach(l, layers) {
		if ((rc = reg_push_image_take(d, l, blobs, nblobs, e)) == -1)
			break;
	}
	if (rc == 0)
		rc = reg_push_image_take(
		    d, json_obj(m, "config"), blobs, nblobs, e);
	cJSON_Delete(m);
	return rc;
}

int
reg_push_image(struct reg_client *rc, const char *dst, const char *manifest,
    size_t manifest_len, const char *manifest_type,
    const struct reg_blob_data *blobs, size_t nblobs,
    void (*cb)(void *arg, const char *dst_ref, const struct err *e), void *arg,
    struct err *e)
{
	struct reg_derive *d = xcalloc(1, sizeof(*d));

	strv_init(&d->ep);
	strv_init(&d->cmd);
	if (reg_ref_parse(dst, &d->dst.ref, e) == -1)
		goto fail;
	if (d->dst.ref.digest != NULL || d->dst.ref.tag == NULL) {
		err_set(e, 400, "the image %s needs a tag, not a digest", dst);
		goto fail;
	}
	if (manifest_type == NULL || memchr(manifest, '\0', manifest_len)) {
		err_set(e, 400, "a manifest needs its media type and no NUL");
		goto fail;
	}
	if (reg_push_image_blobs(d, manifest, manifest_len, blobs, nblobs, e) ==
	    -1)
		goto fail;
	d->verbatim = 1;
	d->rc = rc;
	d->cb = cb;
	d->arg = arg;
	d->manifest_bytes = xstrndup(manifest, manifest_len);
	d->manifest_digest = reg_digest_of(manifest, manifest_len);
	d->manifest_type = xstrdup(manifest_type);
	d->dst.scope = xasprintf("repository:%s:pull,push", d->dst.ref.path);
	reg_push_begin(d);
	return 0;
fail:
	reg_push_free(d);
	return -1;
}
