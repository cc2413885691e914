/* ARM's long-running operations and lists (azure_lro.c) against a forked
 * stand-in server: Azure-AsyncOperation to Succeeded (with the final GET)
 * and to Failed with the operation's error, Location 202 then 200 with a
 * body and then 204, provisioningState re-reads, the time limit, cancel
 * from first and mid-way, a 5 KB operation URL, URLs off the ARM
 * endpoint, three nextLink pages, max_pages, and malformed answers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "sockerless/azure.h"
#include "sockerless/buf.h"
#include "sockerless/json.h"
#include "sockerless/str.h"

#include "../../common/cloud/azure_arm_int.h"
#include "../../common/cloud/azure_int.h"
#include "azure_tok.h"
#include "gcp_srv.h"

static struct gcp_srv t_srv;

static int
t_teardown(void **state)
{
	(void)state;
	gcp_srv_stop(&t_srv);
	return 0;
}

/* One reply; "{P}" in headers and body is the server's base URL. */
struct t_rep {
	const char *status, *headers, *body;
};

static char *
t_subst(const char *s, const char *base)
{
	struct buf b;
	const char *p;

	if (s == NULL)
		return NULL;
	buf_init(&b, 0);
	while ((p = strstr(s, "{P}")) != NULL) {
		buf_add(&b, s, (size_t)(p - s));
		buf_adds(&b, base);
		s = p + 3;
	}
	buf_adds(&b, s);
	return buf_take(&b, NULL);
}

/* gcp_srv_start with replies that name the server's own URL. */
static void
t_start(struct gcp_srv *v, const struct t_rep *reps, size_t n)
{
	struct sockaddr_in sin;
	socklen_t slen = sizeof(sin);
	int ls = socket(AF_INET, SOCK_STREAM, 0), fd;
	char **replies = xcalloc(n + 1, sizeof(*replies)), *base, *h, *b;

	memset(v, 0, sizeof(*v));
	snprintf(v->log, sizeof(v->log), "/tmp/t_azlro.XXXXXX");
	fd = mkstemp(v->log);
	close(fd);
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(ls, (struct sockaddr *)&sin, sizeof(sin)) != 0 ||
	    listen(ls, 16) != 0)
		abort();
	getsockname(ls, (struct sockaddr *)&sin, &slen);
	v->port = ntohs(sin.sin_port);
	base = xasprintf("http://127.0.0.1:%d", v->port);
	for (size_t i = 0; i < n; i++) {
		h = t_subst(reps[i].headers, base);
		b = t_subst(reps[i].body, base);
		replies[i] = gcp_srv_reply(reps[i].status, h, b);
		free(h);
		free(b);
	}
	free(base);
	if ((v->pid = fork()) == 0)
		gcp_srv_child(ls, replies, v->log);
	close(ls);
	for (size_t i = 0; i < n; i++)
		free(replies[i]);
	free(replies);
	v->base = event_base_new();
	v->http = httpcli_new(v->base);
}

#define T_START(reps) t_start(&t_srv, (reps), sizeof(reps) / sizeof((reps)[0]))

static struct azure *
t_azure(struct gcp_srv *v)
{
	struct azure_options o = { 0 };
	char *url = xasprintf("http://127.0.0.1:%d", v->port);
	struct azure *z;

	o.endpoint_arm = url;
	z = azure_new(v->base, v->http, &o, NULL);
	free(url);
	return z;
}

struct t_res {
	struct gcp_srv *v;
	struct azure *z;
	int calls, firsts;
	cJSON *out, *first;
	struct cloud_error ce;
	int failed;
	uint64_t id;
	int cancel_in_first;
	int freed, calls_at_free; /* azure_list_owned's arg_free */
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
t_first(void *arg, const cJSON *answer)
{
	struct t_res *r = arg;

	r->firsts++;
	cJSON_Delete(r->first);
	r->first = answer != NULL ? cJSON_Duplicate(answer, 1) : NULL;
	if (r->cancel_in_first) {
		azure_cancel(r->z, r->id);
		event_base_loopbreak(r->v->base);
	}
}

static void
t_arg_free(void *arg)
{
	struct t_res *r = arg;

	r->freed++;
	r->calls_at_free = r->calls;
}

static void
t_res_clear(struct t_res *r)
{
	cJSON_Delete(r->out);
	cJSON_Delete(r->first);
	r->out = r->first = NULL;
}

#define JOB	  "/subscriptions/s/resourceGroups/g/providers/Microsoft.App/jobs/j"
#define ASO(path) "Azure-AsyncOperation: {P}" path "\r\nRetry-After: 0\r\n"
#define LOC(path) "Location: {P}" path "\r\nRetry-After: 0\r\n"
#define ST(s)	  "{\"id\":\"op1\",\"name\":\"op1\",\"status\":\"" s "\"}"

/* PUT: 201 + Azure-AsyncOperation, polled to Succeeded, then the job
 * re-read. */
static void
t_async_succeeded(void **state)
{
	static const struct t_rep reps[] = {
		{ "201 Created", ASO("/ops/1?api-version=2025-01-01"),
		    "{\"name\":\"j\",\"properties\":{\"provisioningState\":"
		    "\"InProgress\"}}" },
		{ "200 OK", "Retry-After: 0\r\n", ST("InProgress") },
		{ "200 OK", NULL, ST("succeeded") },
		{ "200 OK", NULL,
		    "{\"name\":\"j\",\"properties\":{\"provisioningState\":"
		    "\"Succeeded\"}}" },
	};
	struct t_res r = { .v = &t_srv };
	struct azure *z;
	char *req;

	(void)state;
	T_START(reps);
	z = r.z = t_azure(&t_srv);
	r.id = azure_lro(z, "jobs.createOrUpdate", "PUT", JOB, "2025-01-01",
	    cJSON_CreateObject(), 1, 60, t_first, t_cb, &r);
	assert_true(r.id & AZURE_SEQ_ID);
	event_base_dispatch(t_srv.base);
	assert_false(r.failed);
	assert_int_equal(r.calls, 1);
	assert_int_equal(r.firsts, 1);
	assert_string_equal(json_str(r.first, "name"), "j");
	assert_string_equal(
	    json_str(json_obj(r.out, "properties"), "provisioningState"),
	    "Succeeded");
	req = gcp_srv_requests(&t_srv);
	assert_int_equal(
	    gcp_srv_count(req, "GET /ops/1?api-version=2025-01-01 HTTP"), 2);
	assert_non_null(
	    strstr(req, "GET " JOB "?api-version=2025-01-01 HTTP/1.1"));
	assert_non_null(strstr(req, "PUT " JOB "?api-version=2025-01-01"));
	free(req);
	assert_true(TAILQ_EMPTY(&z->seqs));
	t_res_clear(&r);
	azure_free(z);
}

/* A POST answering both headers: the status is polled, the result is
 * read at the Location once it succeeded (azure-core's final GET). */
static void
t_async_post_result(void **state)
{
	static const struct t_rep reps[] = {
		{ "202 Accepted",
		    "Azure-AsyncOperation: {P}/ops/s1\r\n"
		    "Location: {P}/ops/s1-result\r\nRetry-After: 0\r\n",
		    "" },
		{ "200 OK", NULL, ST("Succeeded") },
		{ "200 OK", NULL,
		    "{\"name\":\"j-exec1\",\"id\":\"" JOB
		    "/executions/j-exec1\"}" },
		{ "202 Accepted",
		    "Azure-AsyncOperation: {P}/ops/d1\r\n"
		    "Location: {P}/ops/d1-result\r\nRetry-After: 0\r\n",
		    "" },
		{ "200 OK", NULL, ST("Succeeded") },
	};
	struct t_res r = { .v = &t_srv };
	struct azure *z;
	char *req;

	(void)state;
	T_START(reps);
	z = r.z = t_azure(&t_srv);
	azure_lro(z, "jobs.start", "POST", JOB "/start", "2025-01-01", NULL, 0,
	    60, NULL, t_cb, &r);
	event_base_dispatch(t_srv.base);
	assert_false(r.failed);
	assert_string_equal(json_str(r.out, "name"), "j-exec1");
	/* A DELETE's result is the status's: no final GET. */
	azure_lro(z, "jobs.delete", "DELETE", JOB, "2025-01-01", NULL, 0, 60,
	    NULL, t_cb, &r);
	event_base_dispatch(t_srv.base);
	assert_false(r.failed);
	assert_null(r.out);
	req = gcp_srv_requests(&t_srv);
	assert_non_null(strstr(req, "GET /ops/s1 HTTP/1.1"));
	assert_non_null(strstr(req, "GET /ops/s1-result HTTP/1.1"));
	assert_null(strstr(req, "GET /ops/d1-result"));
	free(req);
	t_res_clear(&r);
	azure_free(z);
}

/* Failed: the operation's error is the call's, mapped by the table. */
static void
t_async_failed(void **state)
{
	static const struct t_rep reps[] = {
		{ "201 Created", ASO("/ops/2"), "{}" },
		{ "200 OK", "x-ms-request-id: rq-9\r\n",
		    "{\"status\":\"Failed\",\"error\":{\"code\":"
		    "\"InvalidParameter\",\"message\":\"cpu 9 is not a valid "
		    "size\"}}" },
		{ "202 Accepted", ASO("/ops/3"), "" },
		{ "200 OK", NULL, ST("Canceled") },
	};
	struct t_res r = { .v = &t_srv };
	struct azure *z;
	struct err e;

	(void)state;
	T_START(reps);
	z = r.z = t_azure(&t_srv);
	azure_lro(z, "jobs.createOrUpdate", "PUT", JOB, "2025-01-01", NULL, 1,
	    60, NULL, t_cb, &r);
	event_base_dispatch(t_srv.base);
	assert_true(r.failed);
	assert_string_equal(r.ce.code, "InvalidParameter");
	assert_string_equal(r.ce.message, "cpu 9 is not a valid size");
	/* The failed poll's request id, for support. */
	assert_string_equal(r.ce.request_id, "rq-9");
	cloud_error_to_err(azure_provider(), &r.ce, &e);
	assert_int_equal(e.status, 400);
	assert_non_null(strstr(e.msg, "rq-9"));
	/* Canceled without an error: its state is the code. */
	azure_lro(z, "jobs.delete", "DELETE", JOB, "2025-01-01", NULL, 0, 60,
	    NULL, t_cb, &r);
	event_base_dispatch(t_srv.base);
	assert_true(r.failed);
	assert_string_equal(r.ce.code, "Canceled");
	assert_int_equal(r.calls, 2);
	t_res_clear(&r);
	azure_free(z);
}

/* Location: 202 until 200 with the result; then one that ends in 204. */
static void
t_location(void **state)
{
	static const struct t_rep reps[] = {
		{ "202 Accepted", LOC("/ops/l1"), "" },
		{ "202 Accepted", LOC("/ops/l1b"), "" },
		{ "200 OK", NULL,
		    "{\"name\":\"j-abc12\",\"id\":\"" JOB
		    "/executions/j-abc12\"}" },
		{ "202 Accepted", LOC("/ops/l2"), "" },
		{ "204 No Content", NULL, "" },
	};
	struct t_res r = { .v = &t_srv };
	struct azure *z;
	char *req;

	(void)state;
	T_START(reps);
	z = r.z = t_azure(&t_srv);
	azure_lro(z, "jobs.start", "POST", JOB "/start", "2025-01-01", NULL, 0,
	    60, t_first, t_cb, &r);
	event_base_dispatch(t_srv.base);
	assert_false(r.failed);
	assert_string_equal(json_str(r.out, "name"), "j-abc12");
	/* The first answer had no body. */
	assert_int_equal(r.firsts, 1);
	assert_null(r.first);
	azure_lro(z, "jobs.delete", "DELETE", JOB, "2025-01-01", NULL, 0, 60,
	    NULL, t_cb, &r);
	event_base_dispatch(t_srv.base);
	assert_false(r.failed);
	assert_null(r.out);
	req = gcp_srv_requests(&t_srv);
	/* A 202 that names a new Location moves the polls there. */
	assert_non_null(strstr(req, "GET /ops/l1 HTTP/1.1"));
	assert_non_null(strstr(req, "GET /ops/l1b HTTP/1.1"));
	assert_non_null(strstr(req, "GET /ops/l2 HTTP/1.1"));
	free(req);
	t_res_clear(&r);
	azure_free(z);
}

/* 200/201 with a provisioningState and no URL: the resource re-read. */
static void
t_provisioning(void **state)
{
	static const struct t_rep reps[] = {
		{ "201 Created", "Retry-After: 0\r\n",
		    "{\"properties\":{\"provisioningState\":\"InProgress\"}}" },
		{ "200 OK", "Retry-After: 0\r\n",
		    "{\"properties\":{\"provisioningState\":\"Updating\"}}" },
		{ "200 OK", NULL,
		    "{\"name\":\"j\",\"properties\":{\"provisioningState\":"
		    "\"Succeeded\"}}" },
		{ "200 OK", NULL,
		    "{\"properties\":{\"provisioningState\":\"Failed\","
		    "\"error\":{\"code\":\"ManagedEnvironmentNotReady\","
		    "\"message\":\"env busy\"}}}" },
		{ "200 OK", NULL, "{\"name\":\"done\",\"properties\":{}}" },
	};
	struct t_res r = { .v = &t_srv };
	struct azure *z;
	char *req;

	(void)state;
	T_START(reps);
	z = r.z = t_azure(&t_srv);
	azure_lro(z, "jobs.createOrUpdate", "PUT", JOB, "2025-01-01", NULL, 1,
	    60, NULL, t_cb, &r);
	event_base_dispatch(t_srv.base);
	assert_false(r.failed);
	assert_string_equal(json_str(r.out, "name"), "j");
	req = gcp_srv_requests(&t_srv);
	assert_int_equal(
	    gcp_srv_count(req, "GET " JOB "?api-version=2025-01-01 HTTP"), 2);
	free(req);
	/* A terminal Failed at once: the resource's error. */
	azure_lro(z, "jobs.update", "PATCH", JOB, "2025-01-01", NULL, 0, 60,
	    NULL, t_cb, &r);
	event_base_dispatch(t_srv.base);
	assert_true(r.failed);
	assert_string_equal(r.ce.code, "ManagedEnvironmentNotReady");
	/* No provisioningState at all: done. */
	azure_lro(z, "jobs.update", "PATCH", JOB, "2025-01-01", NULL, 0, 60,
	    NULL, t_cb, &r);
	event_base_dispatch(t_srv.base);
	assert_false(r.failed);
	assert_string_equal(json_str(r.out, "name"), "done");
	t_res_clear(&r);
	azure_free(z);
}

/* Never done: 504 OperationTimedOut once the time is up. */
static void
t_timeout(void **state)
{
	static const struct t_rep reps[] = {
		{ "202 Accepted",
		    "Azure-AsyncOperation: {P}/ops/t\r\nRetry-After: 1\r\n",
		    "" },
		{ "200 OK", "Retry-After: 1\r\n", ST("Running") },
	};
	struct t_res r = { .v = &t_srv };
	struct azure *z;
	struct err e;

	(void)state;
	T_START(reps);
	z = r.z = t_azure(&t_srv);
	azure_lro(z, "jobs.stop", "POST", JOB "/stop", "2025-01-01", NULL, 0, 1,
	    NULL, t_cb, &r);
	event_base_dispatch(t_srv.base);
	assert_true(r.failed);
	assert_int_equal(r.ce.http_status, 504);
	assert_string_equal(r.ce.code, "OperationTimedOut");
	assert_non_null(strstr(r.ce.message, "jobs.stop did not finish"));
	cloud_error_to_err(azure_provider(), &r.ce, &e);
	assert_int_equal(e.status, 502);
	t_res_clear(&r);
	azure_free(z);
}

static void
t_cancel_in_first(void **state)
{
	static const struct t_rep reps[] = {
		{ "202 Accepted", ASO("/ops/c"), "{\"name\":\"x\"}" },
	};
	struct t_res r = { .v = &t_srv, .cancel_in_first = 1 };
	struct azure *z;

	(void)state;
	T_START(reps);
	z = r.z = t_azure(&t_srv);
	r.id = azure_lro(z, "jobs.start", "POST", JOB "/start", "1", NULL, 0,
	    60, t_first, t_cb, &r);
	event_base_dispatch(t_srv.base);
	assert_int_equal(r.firsts, 1);
	assert_int_equal(r.calls, 0);
	assert_true(TAILQ_EMPTY(&z->seqs));
	t_res_clear(&r);
	azure_free(z);
}

static void
t_cancel_ev(evutil_socket_t fd, short what, void *arg)
{
	struct t_res *r = arg;

	(void)fd;
	(void)what;
	azure_cancel(r->z, r->id);
	event_base_loopbreak(r->v->base);
}

/* Cancelled while waiting between polls: no callback, nothing left. */
static void
t_cancel_midway(void **state)
{
	static const struct t_rep reps[] = {
		{ "201 Created",
		    "Azure-AsyncOperation: {P}/ops/m\r\nRetry-After: 5\r\n",
		    "{}" },
	};
	struct t_res r = { .v = &t_srv };
	struct timeval tv = { 0, 300000 };
	struct event *ev;
	struct azure *z;

	(void)state;
	T_START(reps);
	z = r.z = t_azure(&t_srv);
	r.id = azure_lro(z, "jobs.createOrUpdate", "PUT", JOB, "1", NULL, 1, 60,
	    NULL, t_cb, &r);
	ev = evtimer_new(t_srv.base, t_cancel_ev, &r);
	evtimer_add(ev, &tv);
	event_base_dispatch(t_srv.base);
	event_free(ev);
	assert_int_equal(r.calls, 0);
	assert_true(TAILQ_EMPTY(&z->seqs));
	assert_int_equal(cloud_inflight(azure_cloud(z)), 0);
	/* A sequence in flight when the client is freed goes with it. */
	azure_lro(z, "jobs.start", "POST", JOB "/start", "1", NULL, 0, 60, NULL,
	    t_cb, &r);
	azure_list(z, "jobs.list", JOB, "1", NULL, 0, t_cb, &r);
	azure_free(z);
	assert_int_equal(r.calls, 0);
	t_res_clear(&r);
}

/* An operation URL of 5 KB is polled as given. */
static void
t_long_url(void **state)
{
	char *path = xcalloc(1, 5200), *hdr, *req;
	struct t_rep reps[2];
	struct t_res r = { .v = &t_srv };
	struct azure *z;

	(void)state;
	strcpy(path, "/ops/");
	memset(path + 5, 'a', 5100);
	hdr = xasprintf("Azure-AsyncOperation: {P}%s?api-version=1\r\n"
			"Retry-After: 0\r\n",
	    path);
	reps[0] = (struct t_rep){ "202 Accepted", hdr, "" };
	reps[1] = (struct t_rep){ "200 OK", NULL,
		"{\"status\":\"Succeeded\",\"properties\":{\"n\":1}}" };
	T_START(reps);
	z = r.z = t_azure(&t_srv);
	azure_lro(z, "jobs.stop", "POST", JOB "/stop", "1", NULL, 0, 60, NULL,
	    t_cb, &r);
	event_base_dispatch(t_srv.base);
	assert_false(r.failed);
	/* Without final_get: the status's properties. */
	assert_int_equal(json_int(r.out, "n", 0), 1);
	req = gcp_srv_requests(&t_srv);
	assert_non_null(strstr(req, path));
	free(req);
	free(path);
	free(hdr);
	t_res_clear(&r);
	azure_free(z);
}

/* The token never leaves for a host an answer names. */
static void
t_foreign_url(void **state)
{
	static const struct t_rep reps[] = {
		{ "202 Accepted",
		    "Azure-AsyncOperation: https://evil.example/op\r\n", "" },
		{ "200 OK", NULL,
		    "{\"value\":[1],\"nextLink\":\"http://127.0.0.2:1/x\"}" },
	};
	struct t_res r = { .v = &t_srv };
	struct azure *z;

	(void)state;
	T_START(reps);
	z = r.z = t_azure(&t_srv);
	azure_lro(z, "jobs.stop", "POST", JOB "/stop", "1", NULL, 0, 60, NULL,
	    t_cb, &r);
	event_base_dispatch(t_srv.base);
	assert_true(r.failed);
	assert_string_equal(r.ce.code, "InvalidResponse");
	assert_non_null(strstr(r.ce.message, "evil.example"));
	azure_list(z, "jobs.list", JOB, "1", NULL, 0, t_cb, &r);
	event_base_dispatch(t_srv.base);
	assert_true(r.failed);
	assert_non_null(strstr(r.ce.message, "127.0.0.2"));
	t_res_clear(&r);
	azure_free(z);
}

static void
t_malformed(void **state)
{
	static const struct t_rep reps[] = {
		{ "202 Accepted", ASO("/ops/a"), "" },
		{ "200 OK", NULL, "[1,2]" },
		{ "202 Accepted", ASO("/ops/b"), "" },
		{ "200 OK", NULL, "{\"status\":5}" },
		{ "202 Accepted", LOC("/ops/c"), "" },
		{ "200 OK", NULL, "not json" },
		{ "200 OK", NULL,
		    "{\"properties\":{\"provisioningState\":7}}" },
	};
	struct t_res r = { .v = &t_srv };
	struct azure *z;

	(void)state;
	T_START(reps);
	z = r.z = t_azure(&t_srv);
	for (int i = 0; i < 4; i++) {
		azure_lro(
		    z, "x", "POST", "/x", "1", NULL, 0, 60, NULL, t_cb, &r);
		event_base_dispatch(t_srv.base);
		assert_true(r.failed);
		assert_string_equal(r.ce.code, "InvalidResponse");
	}
	assert_int_equal(r.calls, 4);
	t_res_clear(&r);
	azure_free(z);
}

/* --- lists --- */

static void
t_list_pages(void **state)
{
	static const struct t_rep reps[] = {
		{ "200 OK", NULL,
		    "{\"value\":[{\"name\":\"a\"},{\"name\":\"b\"}],"
		    "\"nextLink\":\"{P}" JOB
		    "/executions?api-version=2025-01-01&$skiptoken=p%2F2\"}" },
		{ "200 OK", NULL,
		    "{\"value\":[],\"nextLink\":\"{P}" JOB
		    "/executions?api-version=2025-01-01&$skiptoken=p3\"}" },
		{ "200 OK", NULL,
		    "{\"value\":[{\"name\":\"c\"}],\"nextLink\":null}" },
	};
	struct t_res r = { .v = &t_srv };
	struct azure *z;
	const cJSON *v;
	char *req;

	(void)state;
	T_START(reps);
	z = r.z = t_azure(&t_srv);
	azure_list(z, "executions.list", JOB "/executions", "2025-01-01",
	    "$filter=x", 0, t_cb, &r);
	event_base_dispatch(t_srv.base);
	assert_false(r.failed);
	v = json_arr(r.out, "value");
	assert_int_equal(cJSON_GetArraySize(v), 3);
	assert_string_equal(json_str(cJSON_GetArrayItem(v, 2), "name"), "c");
	req = gcp_srv_requests(&t_srv);
	assert_non_null(strstr(req,
	    "GET " JOB "/executions?api-version=2025-01-01&$filter=x HTTP"));
	assert_non_null(strstr(req,
	    "GET " JOB "/executions?api-version=2025-01-01&$skiptoken=p%2F2 "
	    "HTTP"));
	assert_non_null(strstr(req,
	    "GET " JOB "/executions?api-version=2025-01-01&$skiptoken=p3 "
	    "HTTP"));
	free(req);
	t_res_clear(&r);
	azure_free(z);
}

static void
t_list_max_and_errors(void **state)
{
	static const struct t_rep reps[] = {
		{ "200 OK", NULL, "{\"value\":[1],\"nextLink\":\"{P}/n1\"}" },
		{ "200 OK", NULL, "{\"value\":[2],\"nextLink\":\"{P}/n2\"}" },
		{ "200 OK", NULL, "{\"value\":{\"a\":1}}" },
		{ "200 OK", NULL, "{\"value\":[1],\"nextLink\":\"{P}/n3\"}" },
		{ "403 Forbidden", NULL,
		    "{\"error\":{\"code\":\"AuthorizationFailed\",\"message\":"
		    "\"no\"}}" },
	};
	struct t_res r = { .v = &t_srv };
	struct azure *z;

	(void)state;
	T_START(reps);
	z = r.z = t_azure(&t_srv);
	/* max_pages 2: the third page is not read. */
	azure_list(z, "l", "/l", "1", NULL, 2, t_cb, &r);
	event_base_dispatch(t_srv.base);
	assert_false(r.failed);
	assert_int_equal(cJSON_GetArraySize(json_arr(r.out, "value")), 2);
	azure_list(z, "l", "/l", "1", NULL, 0, t_cb, &r);
	event_base_dispatch(t_srv.base);
	assert_true(r.failed);
	assert_string_equal(r.ce.code, "InvalidResponse");
	/* An error on the second page fails the list. */
	azure_list(z, "l", "/l", "1", NULL, 0, t_cb, &r);
	event_base_dispatch(t_srv.base);
	assert_true(r.failed);
	assert_string_equal(r.ce.code, "AuthorizationFailed");
	assert_null(r.out);
	t_res_clear(&r);
	azure_free(z);
}

/* An owned list's arg is freed once: after the callback, or without it
 * when the list is cancelled or the client freed with it in flight. */
static void
t_list_owned(void **state)
{
	static const struct t_rep reps[] = {
		{ "200 OK", NULL, "{\"value\":[1],\"nextLink\":\"{P}/n1\"}" },
		{ "200 OK", NULL, "{\"value\":[2]}" },
	};
	struct t_res r = { .v = &t_srv };
	struct azure *z;

	(void)state;
	T_START(reps);
	z = r.z = t_azure(&t_srv);
	azure_list_owned(z, "l", "/l", "1", NULL, 0, t_cb, &r, t_arg_free);
	assert_int_equal(r.freed, 0);
	event_base_dispatch(t_srv.base);
	assert_int_equal(r.calls, 1);
	assert_int_equal(cJSON_GetArraySize(json_arr(r.out, "value")), 2);
	assert_int_equal(r.freed, 1);
	assert_int_equal(r.calls_at_free, 1);
	azure_cancel(z,
	    azure_list_owned(z, "l", "/l", "1", NULL, 0, t_cb, &r, t_arg_free));
	assert_int_equal(r.freed, 2);
	azure_list_owned(z, "l", "/l", "1", NULL, 0, t_cb, &r, t_arg_free);
	azure_free(z);
	assert_int_equal(r.freed, 3);
	event_base_loop(t_srv.base, EVLOOP_NONBLOCK);
	assert_int_equal(r.calls, 1);
	t_res_clear(&r);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(t_async_succeeded, t_teardown),
		cmocka_unit_test_teardown(t_async_post_result, t_teardown),
		cmocka_unit_test_teardown(t_async_failed, t_teardown),
		cmocka_unit_test_teardown(t_location, t_teardown),
		cmocka_unit_test_teardown(t_provisioning, t_teardown),
		cmocka_unit_test_teardown(t_timeout, t_teardown),
		cmocka_unit_test_teardown(t_cancel_in_first, t_teardown),
		cmocka_unit_test_teardown(t_cancel_midway, t_teardown),
		cmocka_unit_test_teardown(t_long_url, t_teardown),
		cmocka_unit_test_teardown(t_foreign_url, t_teardown),
		cmocka_unit_test_teardown(t_malformed, t_teardown),
		cmocka_unit_test_teardown(t_list_pages, t_teardown),
		cmocka_unit_test_teardown(t_list_max_and_errors, t_teardown),
		cmocka_unit_test_teardown(t_list_owned, t_teardown),
	};

	/* t_start replaces it: the replies name the server's own URL. */
	(void)gcp_srv_start;
	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
