/* Cloud Storage JSON API v1 for Docker volumes: bucket get, the
 * directory placeholder (a media upload), listing under a prefix and its
 * removal. Errors are the provider's (gcp_err.c): Cloud Storage's
 * envelope has no "status", so the HTTP status names the code. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sockerless/buf.h"
#include "sockerless/cloud.h"
#include "sockerless/gcp.h"
#include "sockerless/gcp_gcs.h"
#include "sockerless/httpcli.h"
#include "sockerless/json.h"
#include "sockerless/str.h"
#include "sockerless/xmalloc.h"

/* Deletes in flight at once during a removal, and its listing's page. */
#define GCP_GCS_RM_PARALLEL 8
#define GCP_GCS_PAGE	    "1000"
/* A removal that keeps finding objects (a workload still writing) stops
 * after this many listings instead of chasing it forever. */
#define GCP_GCS_RM_ROUNDS 1000

/* --- names --- */

static int
gcp_gcs_ipv4(const char *s)
{
	int dots = 0, digits = 0;

	for (; *s != '\0'; s++) {
		if (*s == '.') {
			if (digits == 0)
				return 0;
			dots++;
			digits = 0;
		} else if (isdigit((unsigned char)*s))
			digits++;
		else
			return 0;
	}
	return dots == 3 && digits > 0;
}

int
gcp_gcs_bucket_valid(const char *b)
{
	size_t n = b != NULL ? strlen(b) : 0, part = 0;

	if (n < 3 || n > 222 || (n > 63 && strchr(b, '.') == NULL))
		return 0;
	if (!isalnum((unsigned char)b[0]) || !isalnum((unsigned char)b[n - 1]))
		return 0;
	if (strncmp(b, "goog", 4) == 0 || strstr(b, "google") != NULL ||
	    gcp_gcs_ipv4(b))
		return 0;
	for (const char *p = b; *p != '\0'; p++) {
		if (*p == '.') {
			part = 0;
			continue;
		}
		if (++part > 63 ||
		    (!islower((unsigned char)*p) &&
			!isdigit((unsigned char)*p) && *p != '-' && *p != '_'))
			return 0;
	}
	return 1;
}

int
gcp_gcs_prefix_valid(const char *prefix)
{
	size_t n = prefix != NULL ? strlen(prefix) : 0, seg;
	const char *p, *end;

	if (n == 0 || n > 1000 || prefix[0] == '/' || prefix[n - 1] == '/' ||
	    strpbrk(prefix, "\r\n") != NULL)
		return 0;
	for (p = prefix; *p != '\0'; p = *end != '\0' ? end + 1 : end) {
		end = strchr(p, '/');
		if (end == NULL)
			end = p + strlen(p);
		seg = (size_t)(end - p);
		if (seg == 0 || (seg == 1 && p[0] == '.') ||
		    (seg == 2 && p[0] == '.' && p[1] == '.'))
			return 0;
	}
	return 1;
}

char *
gcp_gcs_escape(const char *s)
{
	struct buf b;

	buf_init(&b, 0);
	buf_adds(&b, "");
	for (; *s != '\0'; s++) {
		if (isalnum((unsigned char)*s) || strchr("-_.~", *s) != NULL)
			buf_add(&b, s, 1);
		else
			buf_addf(&b, "%%%02X", (unsigned char)*s);
	}
	return buf_take(&b, NULL);
}

static int
gcp_gcs_check(
    const char *bucket, const char *prefix, int need_prefix, struct err *e)
{
	if (!gcp_gcs_bucket_valid(bucket))
		return err_set(e, 400,
		    "\"%s\" is not a Cloud Storage bucket name: 3-63 lower-case letters, digits, '-', '_' or '.', starting and ending with a letter or digit",
		    bucket != NULL ? bucket : "");
	if ((need_prefix || (prefix != NULL && *prefix != '\0')) &&
	    !gcp_gcs_prefix_valid(prefix))
		return err_set(e, 400,
		    "\"%s\" is not a Cloud Storage directory: a non-empty path without a leading or trailing '/', without empty, '.' or '..' parts",
		    prefix != NULL ? prefix : "");
	return 0;
}

/* --- bucket get --- */

struct gcp_gcs_cb {
	gcp_gcs_bucket_cb bucket;
	gcp_gcs_done_cb done;
	void *arg;
};

/* One request of this file's own on the provider (token, retries,
 * errors): gcp_call sends JSON bodies only, and an upload is not one. c
 * is freed when the call ends or is cancelled. */
static uint64_t
gcp_gcs_send(struct gcp *g, const char *op, const char *method, char *url,
    struct gcp_gcs_cb *c, cloud_cb cb)
{
	struct cloud_call_spec s;

	memset(&s, 0, sizeof(s));
	s.service = "storage";
	s.op = op;
	s.req = httpcli_req_new(method, url);
	free(url);
	httpcli_req_header(s.req, "Accept", "application/json");
	if (strcmp(method, "POST") == 0) {
		httpcli_req_header(
		    s.req, "Content-Type", "application/octet-stream");
		httpcli_req_body(s.req, "", 0);
	}
	s.data = c;
	s.data_free = free;
	return cloud_call(gcp_cloud(g), &s, cb, c);
}

static void
gcp_gcs_bucket_done(void *arg, const struct httpcli_resp *resp,
    const cJSON *out, const struct cloud_error *ce)
{
	struct gcp_gcs_cb *c = arg;

	(void)resp;
	if (ce != NULL && ce->http_status == 404)
		c->bucket(c->arg, 0, NULL, NULL);
	else if (ce != NULL)
		c->bucket(c->arg, 0, NULL, ce);
	else
		c->bucket(c->arg, 1, json_str(out, "location"), NULL);
}

uint64_t
gcp_gcs_bucket_get(struct gcp *g, const char *bucket, gcp_gcs_bucket_cb cb,
    void *arg, struct err *e)
{
	struct gcp_gcs_cb *c;

	if (gcp_gcs_check(bucket, NULL, 0, e) == -1)
		return 0;
	c = xcalloc(1, sizeof(*c));
	c->bucket = cb;
	c->arg = arg;
	return gcp_gcs_send(g, "buckets.get", "GET",
	    xasprintf("%s/storage/v1/b/%s?fields=name%%2Clocation&alt=json",
		gcp_endpoint(g, "storage"), bucket),
	    c, gcp_gcs_bucket_done);
}

/* --- the directory's placeholder --- */

static void
gcp_gcs_dir_done(void *arg, const struct httpcli_resp *resp, const cJSON *out,
    const struct cloud_error *ce)
{
	struct gcp_gcs_cb *c = arg;

	(void)resp;
	(void)out;
	c->done(c->arg, ce);
}

uint64_t
gcp_gcs_dir_make(struct gcp *g, const char *bucket, const char *prefix,
    gcp_gcs_done_cb cb, void *arg, struct err *e)
{
	struct gcp_gcs_cb *c;
	char *name, *esc, *url;

	if (gcp_gcs_check(bucket, prefix, 1, e) == -1)
		return 0;
	c = xcalloc(1, sizeof(*c));
	c->done = cb;
	c->arg = arg;
	name = xasprintf("%s/", prefix);
	esc = gcp_gcs_escape(name);
	url = xasprintf(
	    "%s/upload/storage/v1/b/%s/o?uploadType=media&name=%s&alt=json",
	    gcp_endpoint(g, "storage"), bucket, esc);
	free(esc);
	free(name);
	return gcp_gcs_send(
	    g, "objects.insert", "POST", url, c, gcp_gcs_dir_done);
}

/* --- listing --- */

/* The listing's path and query; *query freed by the caller. */
static char *
gcp_gcs_list_path(const char *bucket, const char *prefix, char **query)
{
	char *dir, *esc;

	if (prefix != NULL && *prefix != '\0') {
		dir = xasprintf("%s/", prefix);
		esc = gcp_gcs_escape(dir);
		*query = xasprintf("prefix=%s&maxResults=" GCP_GCS_PAGE, esc);
		free(esc);
		free(dir);
	} else
		*query = xstrdup("maxResults=" GCP_GCS_PAGE);
	return xasprintf("storage/v1/b/%s/o", bucket);
}

uint64_t
gcp_gcs_list(struct gcp *g, const char *bucket, const char *prefix,
    int max_pages, gcp_cb cb, void *arg, struct err *e)
{
	char *path, *query;
	uint64_t id;

	if (gcp_gcs_check(bucket, prefix, 0, e) == -1)
		return 0;
	path = gcp_gcs_list_path(bucket, prefix, &query);
	id = gcp_list(g, "storage", "objects.list", "GET", path, query, NULL,
	    "items", max_pages, cb, arg);
	free(query);
	free(path);
	return id;
}

/* --- removal --- */

struct gcp_gcs_rm {
	struct gcp *g;
	char *bucket, *prefix;
	gcp_gcs_rm_cb cb;
	void *arg;
	uint64_t list_id;
	uint64_t ids[GCP_GCS_RM_PARALLEL]; /* deletes in flight, 0: free */
	struct gcp_gcs_slot {
		struct gcp_gcs_rm *r;
		int i;
	} slots[GCP_GCS_RM_PARALLEL];
	cJSON *items; /* this round's listing */
	int next;     /* the next item to delete */
	int inflight, rounds;
	size_t deleted;
	struct cloud_error ce; /* the first error */
	int failed;
};

static void gcp_gcs_rm_round(struct gcp_gcs_rm *r);
static void gcp_gcs_rm_fill(struct gcp_gcs_rm *r);

static void
gcp_gcs_rm_free(struct gcp_gcs_rm *r)
{
	cJSON_Delete(r->items);
	free(r->bucket);
	free(r->prefix);
	free(r);
}

static void
gcp_gcs_rm_finish(struct gcp_gcs_rm *r)
{
	r->cb(r->arg, r->deleted, r->failed ? &r->ce : NULL);
	gcp_gcs_rm_free(r);
}

static void
gcp_gcs_rm_deleted(void *arg, const cJSON *out, const struct cloud_error *ce)
{
	struct gcp_gcs_slot *s = arg;
	struct gcp_gcs_rm *r = s->r;

	(void)out;
	r->ids[s->i] = 0;
	r->inflight--;
	if (ce == NULL || ce->http_status == 404)
		r->deleted++;
	else if (!r->failed) {
		r->ce = *ce;
		r->failed = 1;
	}
	gcp_gcs_rm_fill(r);
}

/* Starts deletes up to the limit; when the round is over, the next one
 * (or the end). */
static void
gcp_gcs_rm_fill(struct gcp_gcs_rm *r)
{
	const char *name;
	char *esc, *path;
	struct gcp_gcs_slot *s;
	int n = cJSON_GetArraySize(r->items);

	for (int i = 0; i < GCP_GCS_RM_PARALLEL && !r->failed && r->next < n;
	     i++) {
		if (r->ids[i] != 0)
			continue;
		name =
		    json_str(cJSON_GetArrayItem(r->items, r->next++), "name");
		if (name == NULL)
			continue;
		s = &r->slots[i];
		s->r = r;
		s->i = i;
		esc = gcp_gcs_escape(name);
		path = xasprintf("storage/v1/b/%s/o/%s", r->bucket, esc);
		r->inflight++;
		r->ids[i] = gcp_call(r->g, "storage", "objects.delete",
		    "DELETE", path, NULL, NULL, 0, gcp_gcs_rm_deleted, s);
		free(path);
		free(esc);
	}
	if (r->inflight > 0)
		return;
	if (r->failed || n == 0)
		gcp_gcs_rm_finish(r);
	else
		gcp_gcs_rm_round(r);
}

static void
gcp_gcs_rm_listed(void *arg, const cJSON *out, const struct cloud_error *ce)
{
	struct gcp_gcs_rm *r = arg;

	r->list_id = 0;
	cJSON_Delete(r->items);
	r->items = NULL;
	r->next = 0;
	if (ce != NULL) {
		r->ce = *ce;
		r->failed = 1;
		gcp_gcs_rm_finish(r);
		return;
	}
	r->items = cJSON_Duplicate(json_arr(out, "items"), 1);
	if (r->items == NULL)
		r->items = cJSON_CreateArray();
	gcp_gcs_rm_fill(r);
}

/* A listing of one page from the start: what the last round deleted is
 * gone from it, so no page token is needed. */
static void
gcp_gcs_rm_list(struct gcp_gcs_rm *r)
{
	char *path, *query;

	r->rounds++;
	path = gcp_gcs_list_path(r->bucket, r->prefix, &query);
	r->list_id = gcp_list(r->g, "storage", "objects.list", "GET", path,
	    query, NULL, "items", 1, gcp_gcs_rm_listed, r);
	free(query);
	free(path);
}

/* The next round, unless the directory keeps filling up. */
static void
gcp_gcs_rm_round(struct gcp_gcs_rm *r)
{
	if (r->rounds < GCP_GCS_RM_ROUNDS) {
		gcp_gcs_rm_list(r);
		return;
	}
	r->failed = 1;
	memset(&r->ce, 0, sizeof(r->ce));
	r->ce.http_status = 409;
	str_lcpy(r->ce.code, "ABORTED", sizeof(r->ce.code));
	snprintf(r->ce.message, sizeof(r->ce.message),
	    "gs://%s/%s/ still has objects after %d listings: something keeps writing to it",
	    r->bucket, r->prefix, GCP_GCS_RM_ROUNDS);
	gcp_gcs_rm_finish(r);
}

struct gcp_gcs_rm *
gcp_gcs_rm_prefix(struct gcp *g, const char *bucket, const char *prefix,
    gcp_gcs_rm_cb cb, void *arg, struct err *e)
{
	struct gcp_gcs_rm *r;

	if (gcp_gcs_check(bucket, prefix, 1, e) == -1)
		return NULL;
	r = xcalloc(1, sizeof(*r));
	r->g = g;
	r->bucket = xstrdup(bucket);
	r->prefix = xstrdup(prefix);
	r->cb = cb;
	r->arg = arg;
	gcp_gcs_rm_list(r);
	return r;
}

void
gcp_gcs_rm_cancel(struct gcp_gcs_rm *r)
{
	if (r == NULL)
		return;
	if (r->list_id != 0)
		gcp_cancel(r->g, r->list_id);
	for (int i = 0; i < GCP_GCS_RM_PARALLEL; i++)
		if (r->ids[i] != 0)
			gcp_cancel(r->g, r->ids[i]);
	gcp_gcs_rm_free(r);
}
