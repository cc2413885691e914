/* Cloud Storage for volumes (gcp_gcs.c) against a forked stand-in
 * server: bucket get (found, 404, another error in Cloud Storage's
 * envelope without "status"), the placeholder's media upload, a listing
 * through pages, removal under a prefix (404 counted as deleted, the
 * first error reported, the cap on rounds, cancel), and the name
 * rules. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "sockerless/gcp.h"
#include "sockerless/gcp_gcs.h"
#include "sockerless/json.h"
#include "sockerless/str.h"

#include "gcp_srv.h"

static struct gcp_srv t_srv;

static int
t_teardown(void **state)
{
	(void)state;
	gcp_srv_stop(&t_srv);
	return 0;
}

static struct gcp *
t_gcp(struct gcp_srv *v)
{
	struct gcp_options o = { 0 };
	char *url = xasprintf("http://127.0.0.1:%d", v->port);
	struct gcp *g;
	struct err e;

	o.endpoint = url;
	g = gcp_new(v->base, v->http, &o, &e);
	free(url);
	return g;
}

struct t_res {
	int calls, found;
	char location[64];
	size_t deleted;
	cJSON *out;
	struct cloud_error ce;
	int failed;
};

static void
t_res_set(struct t_res *r, const struct cloud_error *ce)
{
	r->calls++;
	r->failed = ce != NULL;
	if (ce != NULL)
		r->ce = *ce;
	event_base_loopbreak(t_srv.base);
}

static void
t_bucket_cb(
    void *arg, int found, const char *location, const struct cloud_error *ce)
{
	struct t_res *r = arg;

	r->found = found;
	str_lcpy(
	    r->location, location != NULL ? location : "", sizeof(r->location));
	t_res_set(r, ce);
}

static void
t_done_cb(void *arg, const struct cloud_error *ce)
{
	t_res_set(arg, ce);
}

static void
t_list_cb(void *arg, const cJSON *out, const struct cloud_error *ce)
{
	struct t_res *r = arg;

	cJSON_Delete(r->out);
	r->out = out != NULL ? cJSON_Duplicate(out, 1) : NULL;
	t_res_set(r, ce);
}

static void
t_rm_cb(void *arg, size_t deleted, const struct cloud_error *ce)
{
	struct t_res *r = arg;

	r->deleted = deleted;
	t_res_set(r, ce);
}

#define GCS_404                                                             \
	"{\"error\":{\"code\":404,\"message\":\"The specified bucket does " \
	"not exist.\",\"errors\":[{\"message\":\"The specified bucket "     \
	"does not exist.\",\"domain\":\"global\",\"reason\":\"notFound\"}]}}"
#define GCS_403                                                                \
	"{\"error\":{\"code\":403,\"message\":\"sa@p.iam.gserviceaccount.com " \
	"does not have storage.buckets.get access.\",\"errors\":[{"            \
	"\"domain\":\"global\",\"reason\":\"forbidden\"}]}}"

static void
t_bucket_found(void **state)
{
	char *replies[] = {
		gcp_srv_reply("200 OK", NULL,
		    "{\"name\":\"vols\",\"location\":\"US-CENTRAL1\"}"),
		gcp_srv_reply("404 Not Found", NULL, GCS_404),
		gcp_srv_reply("403 Forbidden", NULL, GCS_403), NULL
	};
	struct t_res r = { 0 };
	struct gcp *g;
	struct err e;
	char *req;

	(void)state;
	gcp_srv_start(&t_srv, replies);
	g = t_gcp(&t_srv);
	assert_true(gcp_gcs_bucket_get(g, "vols", t_bucket_cb, &r, &e) != 0);
	event_base_dispatch(t_srv.base);
	assert_int_equal(r.calls, 1);
	assert_false(r.failed);
	assert_int_equal(r.found, 1);
	assert_string_equal(r.location, "US-CENTRAL1");
	/* 404: not an error, the bucket is missing. */
	gcp_gcs_bucket_get(g, "vols", t_bucket_cb, &r, &e);
	event_base_dispatch(t_srv.base);
	assert_int_equal(r.calls, 2);
	assert_false(r.failed);
	assert_int_equal(r.found, 0);
	/* 403: Cloud Storage's envelope has no status; the HTTP status
	 * names the code and the message is kept. */
	gcp_gcs_bucket_get(g, "vols", t_bucket_cb, &r, &e);
	event_base_dispatch(t_srv.base);
	assert_true(r.failed);
	assert_int_equal(r.ce.http_status, 403);
	assert_string_equal(r.ce.code, "PERMISSION_DENIED");
	assert_non_null(strstr(r.ce.message, "storage.buckets.get access"));
	req = gcp_srv_requests(&t_srv);
	assert_non_null(strstr(req,
	    "GET /storage/v1/b/vols?fields=name%2Clocation&alt=json HTTP/1.1"));
	free(req);
	gcp_free(g);
}

static void
t_bucket_invalid(void **state)
{
	char *replies[] = { gcp_srv_reply("200 OK", NULL, "{}"), NULL };
	struct t_res r = { 0 };
	struct gcp *g;
	struct err e;

	(void)state;
	gcp_srv_start(&t_srv, replies);
	g = t_gcp(&t_srv);
	assert_int_equal(gcp_gcs_bucket_get(g, "A/b", t_bucket_cb, &r, &e), 0);
	assert_int_equal(e.status, 400);
	assert_non_null(strstr(e.msg, "not a Cloud Storage bucket name"));
	assert_int_equal(r.calls, 0);
	gcp_free(g);
}

static void
t_dir_make(void **state)
{
	char *replies[] = { gcp_srv_reply("200 OK", NULL,
				"{\"name\":\"v/a b/\",\"size\":\"0\"}"),
		NULL };
	struct t_res r = { 0 };
	struct gcp *g;
	struct err e;
	char *req;

	(void)state;
	gcp_srv_start(&t_srv, replies);
	g = t_gcp(&t_srv);
	assert_true(
	    gcp_gcs_dir_make(g, "vols", "v/a b", t_done_cb, &r, &e) != 0);
	event_base_dispatch(t_srv.base);
	assert_int_equal(r.calls, 1);
	assert_false(r.failed);
	req = gcp_srv_requests(&t_srv);
	assert_non_null(strstr(req,
	    "POST /upload/storage/v1/b/vols/o?uploadType=media&name=v%2Fa%20b%2F&alt=json HTTP/1.1"));
	assert_non_null(strstr(req, "Content-Type: application/octet-stream"));
	assert_non_null(strstr(req, "Content-Length: 0"));
	free(req);
	/* Names that would escape the directory or be the bucket. */
	assert_int_equal(gcp_gcs_dir_make(g, "vols", "", t_done_cb, &r, &e), 0);
	assert_int_equal(
	    gcp_gcs_dir_make(g, "vols", "a/../b", t_done_cb, &r, &e), 0);
	assert_int_equal(
	    gcp_gcs_dir_make(g, "vols", "a/", t_done_cb, &r, &e), 0);
	assert_non_null(strstr(e.msg, "not a Cloud Storage directory"));
	gcp_free(g);
}

static void
t_list_pages(void **state)
{
	char *replies[] = {
		gcp_srv_reply("200 OK", NULL,
		    "{\"kind\":\"storage#objects\",\"nextPageToken\":"
		    "\"t/1=\",\"items\":[{\"name\":\"v/\"},{\"name\":"
		    "\"v/f\"}]}"),
		gcp_srv_reply("200 OK", NULL,
		    "{\"kind\":\"storage#objects\",\"items\":[{\"name\":\"v/g\"}]}"),
		NULL
	};
	struct t_res r = { 0 };
	struct gcp *g;
	struct err e;
	char *req;

	(void)state;
	gcp_srv_start(&t_srv, replies);
	g = t_gcp(&t_srv);
	assert_true(gcp_gcs_list(g, "vols", "v", 0, t_list_cb, &r, &e) != 0);
	event_base_dispatch(t_srv.base);
	assert_false(r.failed);
	assert_int_equal(cJSON_GetArraySize(json_arr(r.out, "items")), 3);
	req = gcp_srv_requests(&t_srv);
	assert_non_null(strstr(req,
	    "GET /storage/v1/b/vols/o?prefix=v%2F&maxResults=1000&alt=json"));
	assert_non_null(strstr(req,
	    "GET /storage/v1/b/vols/o?prefix=v%2F&maxResults=1000&pageToken=t%2F1%3D&alt=json"));
	free(req);
	cJSON_Delete(r.out);
	gcp_free(g);
}

/* Two listings: the first finds three objects (one already gone: 404),
 * the second none. */
static void
t_rm_prefix(void **state)
{
	char *replies[] = {
		gcp_srv_reply("200 OK", NULL,
		    "{\"items\":[{\"name\":\"v/\"},{\"name\":\"v/a\"},"
		    "{\"name\":\"v/d/b\"}]}"),
		gcp_srv_reply("204 No Content", NULL, ""),
		gcp_srv_reply("404 Not Found", NULL,
		    "{\"error\":{\"code\":404,\"message\":\"No such object: "
		    "vols/v/a\"}}"),
		gcp_srv_reply("204 No Content", NULL, ""),
		gcp_srv_reply("200 OK", NULL, "{\"kind\":\"storage#objects\"}"),
		NULL
	};
	struct t_res r = { 0 };
	struct gcp *g;
	struct err e;
	char *req;

	(void)state;
	gcp_srv_start(&t_srv, replies);
	g = t_gcp(&t_srv);
	assert_non_null(gcp_gcs_rm_prefix(g, "vols", "v", t_rm_cb, &r, &e));
	event_base_dispatch(t_srv.base);
	assert_int_equal(r.calls, 1);
	assert_false(r.failed);
	assert_int_equal(r.deleted, 3);
	req = gcp_srv_requests(&t_srv);
	assert_int_equal(
	    gcp_srv_count(req, "GET /storage/v1/b/vols/o?prefix=v%2F"), 2);
	assert_int_equal(
	    gcp_srv_count(req, "DELETE /storage/v1/b/vols/o/v%2F"), 3);
	assert_non_null(
	    strstr(req, "DELETE /storage/v1/b/vols/o/v%2Fd%2Fb?alt=json"));
	free(req);
	/* Never the whole bucket. */
	assert_null(gcp_gcs_rm_prefix(g, "vols", "", t_rm_cb, &r, &e));
	assert_null(gcp_gcs_rm_prefix(g, "vols", NULL, t_rm_cb, &r, &e));
	assert_int_equal(e.status, 400);
	gcp_free(g);
}

static void
t_rm_error(void **state)
{
	char *replies[] = { gcp_srv_reply("200 OK", NULL,
				"{\"items\":[{\"name\":\"v/a\"}]}"),
		gcp_srv_reply("403 Forbidden", NULL,
		    "{\"error\":{\"code\":403,\"message\":\"no "
		    "storage.objects.delete access\"}}"),
		NULL };
	struct t_res r = { 0 };
	struct gcp *g;
	struct err e;

	(void)state;
	gcp_srv_start(&t_srv, replies);
	g = t_gcp(&t_srv);
	assert_non_null(gcp_gcs_rm_prefix(g, "vols", "v", t_rm_cb, &r, &e));
	event_base_dispatch(t_srv.base);
	assert_int_equal(r.calls, 1);
	assert_true(r.failed);
	assert_int_equal(r.ce.http_status, 403);
	assert_int_equal(r.deleted, 0);
	assert_non_null(strstr(r.ce.message, "storage.objects.delete"));
	gcp_free(g);
}

/* A directory that never empties (every listing finds an object again)
 * ends with ABORTED after the rounds' cap instead of running forever. */
static void
t_rm_rounds(void **state)
{
	char *replies[] = { gcp_srv_reply("200 OK", NULL,
				"{\"items\":[{\"name\":\"v/a\"}]}"),
		NULL };
	struct t_res r = { 0 };
	struct gcp *g;
	struct err e;

	(void)state;
	gcp_srv_start(&t_srv, replies);
	g = t_gcp(&t_srv);
	assert_non_null(gcp_gcs_rm_prefix(g, "vols", "v", t_rm_cb, &r, &e));
	event_base_dispatch(t_srv.base);
	assert_int_equal(r.calls, 1);
	assert_true(r.failed);
	assert_int_equal(r.ce.http_status, 409);
	assert_string_equal(r.ce.code, "ABORTED");
	assert_non_null(strstr(r.ce.message, "something keeps writing"));
	assert_int_equal(r.deleted, 1000);
	gcp_free(g);
}

static void
t_rm_cancel_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	gcp_gcs_rm_cancel(arg);
	event_base_loopbreak(t_srv.base);
}

/* Cancelled mid-way (the server answers slowly enough: a listing whose
 * deletes never end before the timer): no callback, nothing leaks. */
static void
t_rm_cancel(void **state)
{
	char *replies[] = { gcp_srv_reply("200 OK", NULL,
				"{\"items\":[{\"name\":\"v/a\"}]}"),
		NULL };
	struct t_res r = { 0 };
	struct timeval tv = { 0, 1000 };
	struct gcp_gcs_rm *rm;
	struct gcp *g;
	struct err e;

	(void)state;
	gcp_srv_start(&t_srv, replies);
	g = t_gcp(&t_srv);
	rm = gcp_gcs_rm_prefix(g, "vols", "v", t_rm_cb, &r, &e);
	event_base_once(t_srv.base, -1, EV_TIMEOUT, t_rm_cancel_cb, rm, &tv);
	event_base_dispatch(t_srv.base);
	assert_int_equal(r.calls, 0);
	gcp_free(g);
}

static void
t_names(void **state)
{
	const char *good[] = { "vols", "a-b_c.d", "abc", "x.y.z", NULL };
	const char *bad[] = { "ab", "Vols", "-ab", "ab-", "192.168.1.1",
		"goog-vols", "my-google-bucket", "a/b", "a b", NULL };
	const char *gp[] = { "v", "v/a", "a b/c", "vol.1", NULL };
	const char *bp[] = { "", "/v", "v/", "a//b", "./a", "a/..", "a\nb",
		NULL };
	char *s;

	(void)state;
	for (int i = 0; good[i] != NULL; i++)
		assert_true(gcp_gcs_bucket_valid(good[i]));
	for (int i = 0; bad[i] != NULL; i++)
		assert_false(gcp_gcs_bucket_valid(bad[i]));
	assert_false(gcp_gcs_bucket_valid(NULL));
	for (int i = 0; gp[i] != NULL; i++)
		assert_true(gcp_gcs_prefix_valid(gp[i]));
	for (int i = 0; bp[i] != NULL; i++)
		assert_false(gcp_gcs_prefix_valid(bp[i]));
	s = gcp_gcs_escape("a/b c~é");
	assert_string_equal(s, "a%2Fb%20c~%C3%A9");
	free(s);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(t_bucket_found, t_teardown),
		cmocka_unit_test_teardown(t_bucket_invalid, t_teardown),
		cmocka_unit_test_teardown(t_dir_make, t_teardown),
		cmocka_unit_test_teardown(t_list_pages, t_teardown),
		cmocka_unit_test_teardown(t_rm_prefix, t_teardown),
		cmocka_unit_test_teardown(t_rm_error, t_teardown),
		cmocka_unit_test_teardown(t_rm_rounds, t_teardown),
		cmocka_unit_test_teardown(t_rm_cancel, t_teardown),
		cmocka_unit_test(t_names),
	};

	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
