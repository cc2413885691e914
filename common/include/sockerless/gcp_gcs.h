/* Cloud Storage (JSON API v1) on the GCP provider: what a Docker volume
 * kept as a directory under a bucket needs (the bucket's existence and
 * location, the directory's placeholder object, the objects under it,
 * and their removal at `docker volume rm`). docs/cloud.md. */
#ifndef SOCKERLESS_GCP_GCS_H
#define SOCKERLESS_GCP_GCS_H

#include <stddef.h>
#include <stdint.h>

#include "sockerless/cloud.h"
#include "sockerless/err.h"
#include "sockerless/gcp.h"

/* Google's bucket names: 3-63 characters of [a-z0-9_.-] (222 with dots,
 * each dot-separated part at most 63), starting and ending with a
 * letter or digit, not an IPv4 address, not starting with "goog". */
int gcp_gcs_bucket_valid(const char *bucket);
/* A directory of a volume: an object name prefix without its trailing
 * '/', 1-1000 bytes, no CR or LF, no empty, "." or ".." segment, no
 * leading or trailing '/'. */
int gcp_gcs_prefix_valid(const char *prefix);
/* s percent-encoded as one URL path segment or query value (RFC 3986
 * unreserved bytes kept; '/' encoded). Caller frees. */
char *gcp_gcs_escape(const char *s);

/* found 0 and ce NULL: Google answered 404 (no such bucket). location is
 * the bucket's ("US-CENTRAL1", "US"; borrowed; NULL when absent). */
typedef void (*gcp_gcs_bucket_cb)(
    void *arg, int found, const char *location, const struct cloud_error *ce);
/* GET storage/v1/b/<bucket>?fields=name,location. Returns a gcp_cancel
 * id; 0 with e set when bucket is not a valid name (cb is not called). */
uint64_t gcp_gcs_bucket_get(struct gcp *g, const char *bucket,
    gcp_gcs_bucket_cb cb, void *arg, struct err *e);

typedef void (*gcp_gcs_done_cb)(void *arg, const struct cloud_error *ce);
/* The zero-byte object "<prefix>/" (a media upload, Content-Type
 * application/octet-stream), so that the directory a volume mount's
 * only-dir names exists before anything is written to it; done again it
 * replaces the placeholder. Returns a gcp_cancel id; 0 with e set on an
 * invalid bucket or prefix. */
uint64_t gcp_gcs_dir_make(struct gcp *g, const char *bucket, const char *prefix,
    gcp_gcs_done_cb cb, void *arg, struct err *e);

/* objects.list of every object whose name starts with "<prefix>/"
 * (prefix NULL or "": the whole bucket), through nextPageToken: cb (a
 * gcp_list callback) gets {"items": [Object...]} once, after at most
 * max_pages pages of 1000 (0: 100). Returns a gcp_cancel id; 0 with e
 * set on an invalid bucket or prefix. */
uint64_t gcp_gcs_list(struct gcp *g, const char *bucket, const char *prefix,
    int max_pages, gcp_cb cb, void *arg, struct err *e);

/* Deletes every object under "<prefix>/" and the placeholder itself
 * (`docker volume rm`): pages of the listing deleted a few at a time
 * until none is left; an object already gone (404) counts as deleted.
 * cb gets how many objects were deleted, or the first error (the rest of
 * the directory stays). NULL with e set on an invalid bucket or prefix
 * (an empty prefix would be the whole bucket: always refused). */
struct gcp_gcs_rm;
typedef void (*gcp_gcs_rm_cb)(
    void *arg, size_t deleted, const struct cloud_error *ce);
struct gcp_gcs_rm *gcp_gcs_rm_prefix(struct gcp *g, const char *bucket,
    const char *prefix, gcp_gcs_rm_cb cb, void *arg, struct err *e);
/* Stops a removal in flight: its callback will not run. */
void gcp_gcs_rm_cancel(struct gcp_gcs_rm *r);

#endif
