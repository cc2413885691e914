/* The GCP provider: google.rpc.Status and its table, RetryInfo, REST
 * calls over the real httpcli against a forked stand-in server, endpoints
 * and Google's conventions (durations, RFC 3339 times, labels). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "sockerless/gcp.h"
#include "sockerless/json.h"
#include "sockerless/str.h"

#include "../../common/cloud/gcp_int.h"
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
	char *url = xasprintf("http://127.0.0.1:%d/", v->port);
	struct gcp *g;
	struct err e;

	o.endpoint = url;
	g = gcp_new(v->base, v->http, &o, &e);
	assert_non_null(g);
	free(url);
	return g;
}

/* --- errors --- */

static void
t_parse(const char *body, int status, struct cloud_error *ce, long *retry)
{
	memset(ce, 0, sizeof(*ce));
	ce->http_status = status;
	gcp_parse_status(body, body != NULL ? strlen(body) : 0, ce, retry);
}

static void
t_status_shapes(void **state)
{
	struct cloud_error ce;
	long retry;

	(void)state;
	t_parse(
	    "{\"error\":{\"code\":429,\"message\":\"Quota exceeded\","
	    "\"status\":\"RESOURCE_EXHAUSTED\",\"details\":[{\"@type\":"
	    "\"type.googleapis.com/google.rpc.ErrorInfo\",\"reason\":\"x\"},"
	    "{\"@type\":\"type.googleapis.com/google.rpc.RetryInfo\","
	    "\"retryDelay\":\"2.5s\"}]}}",
	    429, &ce, &retry);
	assert_string_equal(ce.code, "RESOURCE_EXHAUSTED");
	assert_string_equal(ce.message, "Quota exceeded");
	assert_int_equal(retry, 3000);
	/* No status: the HTTP status names the code. */
	t_parse("{\"error\":{\"code\":403,\"message\":\"denied\"}}", 403, &ce,
	    &retry);
	assert_string_equal(ce.code, "PERMISSION_DENIED");
	assert_int_equal(retry, -1);
	/* The OAuth endpoints' shape. */
	t_parse("{\"error\":\"invalid_grant\",\"error_description\":\"bad "
		"sig\"}",
	    400, &ce, &retry);
	assert_string_equal(ce.code, "invalid_grant");
	assert_string_equal(ce.message, "bad sig");
	/* A proxy's page, an empty body, garbage details. */
	t_parse("<html>Bad Gateway</html>", 502, &ce, &retry);
	assert_string_equal(ce.code, "INTERNAL");
	assert_string_equal(ce.message, "<html>Bad Gateway</html>");
	t_parse(NULL, 404, &ce, &retry);
	assert_string_equal(ce.code, "NOT_FOUND");
	assert_string_equal(ce.message, "HTTP 404 without a message");
	t_parse("{\"error\":{\"status\":7,\"message\":[],\"details\":{}}}", 418,
	    &ce, &retry);
	assert_string_equal(ce.code, "HTTP418");
	assert_int_equal(retry, -1);
	t_parse("{\"error\":{\"details\":[{\"@type\":\"type.googleapis.com/"
		"google.rpc.RetryInfo\",\"retryDelay\":\"soon\"}]}}",
	    503, &ce, &retry);
	assert_string_equal(ce.code, "UNAVAILABLE");
	assert_int_equal(retry, -1);
	t_parse("{\"error\":{\"details\":[{\"@type\":\"type.googleapis.com/"
		"google.rpc.RetryInfo\",\"retryDelay\":\"86400s\"}]}}",
	    503, &ce, &retry);
	assert_int_equal(retry, 60000);
}

static int
t_docker_status(const char *code, int http, char *msg, size_t msgsz)
{
	struct cloud_error ce;
	struct err e;

	memset(&ce, 0, sizeof(ce));
	ce.http_status = http;
	str_lcpy(ce.code, code, sizeof(ce.code));
	str_lcpy(ce.message, "words", sizeof(ce.message));
	cloud_error_classify(gcp_provider(), &ce);
	cloud_error_to_err(gcp_provider(), &ce, &e);
	if (msg != NULL)
		str_lcpy(msg, e.msg, msgsz);
	return e.status;
}

static void
t_table(void **state)
{
	char msg[256];

	(void)state;
	assert_int_equal(
	    t_docker_status("NOT_FOUND", 404, msg, sizeof(msg)), 404);
	assert_string_equal(msg, "NOT_FOUND: words");
	assert_int_equal(
	    t_docker_status("INVALID_ARGUMENT", 400, NULL, 0), 400);
	assert_int_equal(
	    t_docker_status("FAILED_PRECONDITION", 400, NULL, 0), 400);
	assert_int_equal(t_docker_status("OUT_OF_RANGE", 400, NULL, 0), 400);
	assert_int_equal(t_docker_status("ALREADY_EXISTS", 409, NULL, 0), 409);
	assert_int_equal(t_docker_status("ABORTED", 409, NULL, 0), 409);
	assert_int_equal(
	    t_docker_status("RESOURCE_EXHAUSTED", 429, msg, sizeof(msg)), 503);
	assert_non_null(strstr(msg, "throttled"));
	/* Throttling said with another status is still throttling. */
	assert_int_equal(
	    t_docker_status("RESOURCE_EXHAUSTED", 400, NULL, 0), 503);
	assert_int_equal(t_docker_status("UNAVAILABLE", 503, NULL, 0), 502);
	assert_int_equal(t_docker_status("INTERNAL", 500, NULL, 0), 502);
	assert_int_equal(
	    t_docker_status("DEADLINE_EXCEEDED", 504, NULL, 0), 502);
	assert_int_equal(
	    t_docker_status("PERMISSION_DENIED", 403, msg, sizeof(msg)), 500);
	assert_non_null(strstr(msg, "rejected"));
	assert_int_equal(t_docker_status("UNAUTHENTICATED", 401, NULL, 0), 500);
}

static void
t_op_error(void **state)
{
	struct cloud_error ce;
	cJSON *st = cJSON_Parse("{\"code\":6,\"message\":\"exists\"}");

	(void)state;
	gcp_status_to_cloud(st, &ce);
	assert_string_equal(ce.code, "ALREADY_EXISTS");
	assert_int_equal(ce.http_status, 409);
	assert_string_equal(ce.message, "exists");
	cJSON_Delete(st);
	/* A code out of range, or none, is UNKNOWN with a sentence. */
	st = cJSON_Parse("{\"code\":99}");
	gcp_status_to_cloud(st, &ce);
	assert_string_equal(ce.code, "UNKNOWN");
	assert_string_equal(ce.message, "the operation failed");
	cJSON_Delete(st);
	gcp_status_to_cloud(NULL, &ce);
	assert_string_equal(ce.code, "UNKNOWN");
}

/* --- calls --- */

struct t_res {
	struct gcp_srv *v;
	int calls;
	cJSON *out;
	struct cloud_error ce;
	int failed;
};

static void
t_cb(void *arg, const cJSON *out, const struct cloud_error *ce)
{
	struct t_res *r = arg;

	r->calls++;
	r->failed = ce != NULL;
	if (ce != NULL)
		r->ce = *ce;
	cJSON_Delete(r->out);
	r->out = out != NULL ? cJSON_Duplicate(out, 1) : NULL;
	event_base_loopbreak(r->v->base);
}

static void
t_call(void **state)
{
	char *replies[] = {
		gcp_srv_reply("200 OK", NULL, "{\"name\":\"op1\"}"),
		gcp_srv_reply("409 Conflict", "x-cloud-trace-context: tr-1\r\n",
		    "{\"error\":{\"code\":409,\"message\":\"Resource "
		    "'j1' already exists.\",\"status\":\"ALREADY_EXISTS\"}}"),
		gcp_srv_reply("204 No Content", NULL, ""),
		NULL,
	};
	struct t_res r = { .v = &t_srv };
	struct gcp *g;
	cJSON *body = cJSON_CreateObject();
	char *req;

	(void)state;
	gcp_srv_start(&t_srv, replies);
	g = t_gcp(&t_srv);
	json_add_str(body, "launchStage", "GA");
	gcp_call(g, "run", "jobs.create", "POST",
	    "v2/projects/p/locations/l/jobs", "jobId=j1", body, 1, t_cb, &r);
	event_base_dispatch(t_srv.base);
	assert_false(r.failed);
	assert_string_equal(json_str(r.out, "name"), "op1");
	gcp_call(g, "run", "jobs.create", "POST",
	    "/v2/projects/p/locations/l/jobs", "jobId=j1", NULL, 1, t_cb, &r);
	event_base_dispatch(t_srv.base);
	assert_true(r.failed);
	assert_string_equal(r.ce.code, "ALREADY_EXISTS");
	assert_string_equal(r.ce.message, "Resource 'j1' already exists.");
	assert_string_equal(r.ce.request_id, "tr-1");
	/* An empty body: out is NULL, not an error. */
	gcp_call(g, "run", "jobs.delete", "DELETE",
	    "v2/projects/p/locations/l/jobs/j1", NULL, NULL, 1, t_cb, &r);
	event_base_dispatch(t_srv.base);
	assert_false(r.failed);
	assert_null(r.out);
	assert_int_equal(r.calls, 3);
	req = gcp_srv_requests(&t_srv);
	assert_true(str_prefix(req,
	    "POST /v2/projects/p/locations/l/jobs?jobId=j1&alt=json "
	    "HTTP/1.1\r\n"));
	assert_non_null(strcasestr(req, "Content-Type: application/json\r\n"));
	assert_non_null(strstr(req, "\r\n\r\n{\"launchStage\":\"GA\"}"));
	assert_null(strcasestr(req, "Authorization:"));
	assert_non_null(strstr(req,
	    "DELETE /v2/projects/p/locations/l/jobs/j1?alt=json HTTP/1.1"));
	free(req);
	gcp_free(g);
}

/* A throttled call waits RetryInfo's delay and is sent again. */
static void
t_retry_info(void **state)
{
	char *replies[] = {
		gcp_srv_reply("429 Too Many Requests", NULL,
		    "{\"error\":{\"code\":429,\"message\":\"slow down\","
		    "\"status\":\"RESOURCE_EXHAUSTED\",\"details\":[{\"@type\":"
		    "\"type.googleapis.com/google.rpc.RetryInfo\","
		    "\"retryDelay\":\"1s\"}]}}"),
		gcp_srv_reply("400 Bad Request", NULL,
		    "{\"error\":{\"code\":400,\"message\":\"rate\","
		    "\"status\":\"RESOURCE_EXHAUSTED\"}}"),
		gcp_srv_reply("200 OK", NULL, "{\"ok\":true}"),
		NULL,
	};
	struct t_res r = { .v = &t_srv };
	struct gcp *g;
	int64_t t0 = str_now_ns();
	char *req;

	(void)state;
	gcp_srv_start(&t_srv, replies);
	g = t_gcp(&t_srv);
	gcp_call(g, "run", "jobs.get", "GET", "v2/x", NULL, NULL, 0, t_cb, &r);
	event_base_dispatch(t_srv.base);
	assert_false(r.failed);
	assert_true(json_bool(r.out, "ok", 0));
	/* At least the delay Google asked for went by (a lower bound). */
	assert_true(str_now_ns() - t0 >= 1000000000LL);
	req = gcp_srv_requests(&t_srv);
	assert_int_equal(gcp_srv_count(req, "GET /v2/x?alt=json"), 3);
	free(req);
	cJSON_Delete(r.out);
	gcp_free(g);
}

static void
t_retry_delay_hook(void **state)
{
	struct httpcli_resp resp;
	char body[] = "{\"error\":{\"details\":[{\"@type\":\"type.googleapis."
		      "com/google.rpc.RetryInfo\",\"retryDelay\":\"4s\"}]}}";

	(void)state;
	memset(&resp, 0, sizeof(resp));
	resp.status = 503;
	resp.body = body;
	resp.body_len = strlen(body);
	assert_int_equal(gcp_retry_delay(&resp), 4000);
	resp.status = 200;
	assert_int_equal(gcp_retry_delay(&resp), -1);
}

static void
t_sync(void **state)
{
	char *replies[] = {
		gcp_srv_reply("404 Not Found", NULL,
		    "{\"error\":{\"code\":404,\"message\":\"Job j not found\","
		    "\"status\":\"NOT_FOUND\"}}"),
		gcp_srv_reply("200 OK", NULL, "{\"name\":\"j\"}"),
		NULL,
	};
	struct gcp *g;
	cJSON *out = NULL;
	struct err e;

	(void)state;
	gcp_srv_start(&t_srv, replies);
	g = t_gcp(&t_srv);
	assert_int_equal(gcp_call_sync(g, "run", "jobs.get", "GET", "v2/j",
			     NULL, NULL, &out, &e),
	    -1);
	assert_int_equal(e.status, 404);
	assert_string_equal(e.msg, "NOT_FOUND: Job j not found");
	assert_int_equal(gcp_call_sync(g, "run", "jobs.get", "GET", "v2/j",
			     NULL, NULL, &out, &e),
	    0);
	assert_string_equal(json_str(out, "name"), "j");
	cJSON_Delete(out);
	gcp_free(g);
}

static void
t_not_json(void **state)
{
	char *replies[] = {
		gcp_srv_reply("200 OK", NULL, "<html>hello</html>"),
		NULL,
	};
	struct t_res r = { .v = &t_srv };
	struct gcp *g;

	(void)state;
	gcp_srv_start(&t_srv, replies);
	g = t_gcp(&t_srv);
	gcp_call(g, "run", "jobs.get", "GET", "v2/x", NULL, NULL, 1, t_cb, &r);
	event_base_dispatch(t_srv.base);
	assert_true(r.failed);
	assert_string_equal(r.ce.code, "InvalidResponse");
	gcp_free(g);
}

static void
t_never_cb(void *arg, const cJSON *out, const struct cloud_error *ce)
{
	(void)arg;
	(void)out;
	(void)ce;
	fail_msg("a cancelled call's callback ran");
}

static void
t_cancel(void **state)
{
	char *replies[] = {
		gcp_srv_reply("200 OK", NULL, "{}"),
		NULL,
	};
	struct t_res r = { .v = &t_srv };
	struct gcp *g;
	uint64_t id;

	(void)state;
	gcp_srv_start(&t_srv, replies);
	g = t_gcp(&t_srv);
	id = gcp_call(g, "run", "jobs.get", "GET", "v2/a", NULL, NULL, 1,
	    t_never_cb, NULL);
	gcp_cancel(g, id);
	gcp_call(g, "run", "jobs.get", "GET", "v2/b", NULL, NULL, 1, t_cb, &r);
	event_base_dispatch(t_srv.base);
	assert_int_equal(r.calls, 1);
	/* Freed with a call in flight: no callback, no leak. */
	gcp_call(g, "run", "jobs.get", "GET", "v2/c", NULL, NULL, 1, t_never_cb,
	    NULL);
	gcp_free(g);
	cJSON_Delete(r.out);
}

/* --- endpoints and conventions --- */

static void
t_endpoints(void **state)
{
	struct gcp_options o = { 0 };
	struct gcp *g;
	cJSON *out = NULL;
	struct err e;

	(void)state;
	g = gcp_new(NULL, NULL, &o, &e);
	assert_string_equal(
	    gcp_endpoint(g, "run"), "https://run.googleapis.com");
	assert_string_equal(
	    gcp_endpoint(g, "logging"), "https://logging.googleapis.com");
	assert_null(gcp_endpoint(g, "nosuch"));
	/* A service without an endpoint fails at once with a sentence. */
	assert_int_equal(gcp_call_sync(g, "nosuch", "x", "GET", "v2/j", NULL,
			     cJSON_CreateObject(), &out, &e),
	    -1);
	assert_int_equal(e.status, 500);
	assert_string_equal(e.msg, "no endpoint for Google service nosuch");
	gcp_set_endpoint(g, "run", "http://127.0.0.1:9/run//");
	gcp_set_endpoint(g, "logging", "");
	assert_string_equal(gcp_endpoint(g, "run"), "http://127.0.0.1:9/run");
	assert_string_equal(
	    gcp_endpoint(g, "logging"), "https://logging.googleapis.com");
	assert_ptr_equal(gcp_cloud(g) != NULL, 1);
	gcp_free(g);
	o.endpoint = "http://sim:1/";
	g = gcp_new(NULL, NULL, &o, &e);
	assert_string_equal(gcp_endpoint(g, "cloudfunctions"), "http://sim:1");
	assert_string_equal(gcp_endpoint(g, "nosuch"), "http://sim:1");
	gcp_free(g);
}

static void
t_durations(void **state)
{
	char buf[32];

	(void)state;
	gcp_duration(buf, sizeof(buf), 600);
	assert_string_equal(buf, "600s");
	assert_int_equal(gcp_duration_parse("600s"), 600);
	assert_int_equal(gcp_duration_parse("0s"), 0);
	assert_int_equal(gcp_duration_parse("1.5s"), 2);
	assert_int_equal(gcp_duration_parse("1.000s"), 1);
	assert_int_equal(gcp_duration_parse("0.000000001s"), 1);
	assert_int_equal(gcp_duration_parse("600"), -1);
	assert_int_equal(gcp_duration_parse("-1s"), -1);
	assert_int_equal(gcp_duration_parse("1.s"), -1);
	assert_int_equal(gcp_duration_parse("s"), -1);
	assert_int_equal(gcp_duration_parse("99999999999999s"), -1);
	assert_int_equal(gcp_duration_parse(NULL), -1);
}

static void
t_times(void **state)
{
	char buf[64];

	(void)state;
	gcp_time(buf, sizeof(buf), 1796464800123456789LL);
	assert_string_equal(buf, "2026-12-05T10:00:00.123456789Z");
	assert_int_equal(gcp_time_parse(buf), 1796464800123456789LL);
	assert_int_equal(
	    gcp_time_parse("2026-12-05T10:00:00Z"), 1796464800000000000LL);
	assert_int_equal(
	    gcp_time_parse("2026-12-05T10:00:00.5Z"), 1796464800500000000LL);
	assert_int_equal(gcp_time_parse("2026-12-05T11:00:00.5+01:00"),
	    1796464800500000000LL);
	/* Beyond ns is cut. */
	assert_int_equal(gcp_time_parse("2026-12-05T10:00:00.1234567891Z"),
	    1796464800123456789LL);
	assert_int_equal(gcp_time_parse("2026-12-05 10:00:00Z"), -1);
	assert_int_equal(gcp_time_parse("2026-12-05T10:00:00"), -1);
	assert_int_equal(gcp_time_parse("2026-12-05T10:00:00.Z"), -1);
	/* Beyond what ns in an int64 hold (2262), and before the epoch. */
	assert_int_equal(gcp_time_parse("9999-12-31T23:59:59Z"), -1);
	assert_int_equal(gcp_time_parse("1969-12-31T23:59:59Z"), -1);
	assert_int_equal(
	    gcp_time_parse("2262-01-01T00:00:00Z"), 9214646400000000000LL);
	assert_int_equal(gcp_time_parse("2026-12-05T10:00:00+1:00"), -1);
	assert_int_equal(gcp_time_parse("2026-13-05T10:00:00Z"), -1);
	assert_int_equal(gcp_time_parse(""), -1);
	assert_int_equal(gcp_time_parse(NULL), -1);
	gcp_time(buf, sizeof(buf), -5);
	assert_string_equal(buf, "1970-01-01T00:00:00.000000000Z");
}

static void
t_labels(void **state)
{
	char k[64], v[64], big[200];
	cJSON *in, *out;

	(void)state;
	assert_int_equal(gcp_label_key("com.docker.Compose", k, sizeof(k)), 0);
	assert_string_equal(k, "com-docker-compose");
	assert_int_equal(gcp_label_key("9lives", k, sizeof(k)), 0);
	assert_string_equal(k, "k9lives");
	assert_int_equal(gcp_label_key("_x", k, sizeof(k)), 0);
	assert_string_equal(k, "k_x");
	assert_int_equal(gcp_label_key("", k, sizeof(k)), -1);
	assert_int_equal(gcp_label_key("caf\xc3\xa9", k, sizeof(k)), 0);
	assert_string_equal(k, "caf-");
	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	assert_int_equal(gcp_label_key(big, k, sizeof(k)), 0);
	assert_int_equal(strlen(k), 63);
	gcp_label_value("Hello World/1.0", v, sizeof(v));
	assert_string_equal(v, "hello-world-1-0");
	gcp_label_value("", v, sizeof(v));
	assert_string_equal(v, "");
	gcp_label_value(big, v, sizeof(v));
	assert_int_equal(strlen(v), 63);
	in = cJSON_Parse("{\"A.b\":\"X\",\"a-b\":\"second\",\"n\":5,"
			 "\"c\":\"1\",\"d\":\"2\"}");
	out = gcp_labels_from_docker(in, 2);
	/* Collisions: the first wins; non-strings skipped; max kept. */
	assert_string_equal(json_str(out, "a-b"), "x");
	assert_string_equal(json_str(out, "c"), "1");
	assert_int_equal(cJSON_GetArraySize(out), 2);
	cJSON_Delete(out);
	out = gcp_labels_from_docker(NULL, 64);
	assert_int_equal(cJSON_GetArraySize(out), 0);
	cJSON_Delete(out);
	cJSON_Delete(in);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(t_status_shapes),
		cmocka_unit_test(t_table),
		cmocka_unit_test(t_op_error),
		cmocka_unit_test(t_retry_delay_hook),
		cmocka_unit_test_teardown(t_call, t_teardown),
		cmocka_unit_test_teardown(t_retry_info, t_teardown),
		cmocka_unit_test_teardown(t_sync, t_teardown),
		cmocka_unit_test_teardown(t_not_json, t_teardown),
		cmocka_unit_test_teardown(t_cancel, t_teardown),
		cmocka_unit_test(t_endpoints),
		cmocka_unit_test(t_durations),
		cmocka_unit_test(t_times),
		cmocka_unit_test(t_labels),
	};

	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
