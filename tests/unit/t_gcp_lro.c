/* Long-running operations and lists (gcp_lro.c) against a forked
 * stand-in server: an operation done at once, done after polls (run's
 * :wait and cloudfunctions' GET), an operation's error, the time limit,
 * cancel from first and mid-way, pagination by query and by body, and
 * malformed answers. */
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
	char *url = xasprintf("http://127.0.0.1:%d", v->port);
	struct gcp *g;
	struct err e;

	o.endpoint = url;
	g = gcp_new(v->base, v->http, &o, &e);
	free(url);
	return g;
}

struct t_res {
	struct gcp_srv *v;
	struct gcp *g;
	int calls, firsts;
	cJSON *out, *first;
	struct cloud_error ce;
	int failed;
	uint64_t id;
	int cancel_in_first;
	int freed, calls_at_free; /* gcp_list_owned's arg_free */
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
t_first(void *arg, const cJSON *op)
{
	struct t_res *r = arg;

	r->firsts++;
	cJSON_Delete(r->first);
	r->first = cJSON_Duplicate(op, 1);
	if (r->cancel_in_first) {
		gcp_lro_cancel(r->g, r->id);
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
}

#define OP_PENDING                                                          \
	"{\"name\":\"projects/p/locations/l/operations/o1\",\"metadata\":{" \
	"\"@type\":\"type.googleapis.com/google.cloud.run.v2.Execution\","  \
	"\"name\":\"projects/p/locations/l/jobs/j/executions/e1\"},"        \
	"\"done\":false}"
#define OP_DONE                                                             \
	"{\"name\":\"projects/p/locations/l/operations/o1\",\"done\":true," \
	"\"response\":{\"@type\":\"type.googleapis.com/google.cloud.run."   \
	"v2.Execution\",\"name\":\"e1\"}}"

static void
t_done_at_once(void **state)
{
	char *replies[] = { gcp_srv_reply("200 OK", NULL, OP_DONE), NULL };
	struct t_res r = { .v = &t_srv };
	struct gcp *g;

	(void)state;
	gcp_srv_start(&t_srv, replies);
	g = r.g = t_gcp(&t_srv);
	r.id = gcp_lro(g, "run", "jobs.run", "POST",
	    "v2/projects/p/locations/l/jobs/j:run", NULL, cJSON_CreateObject(),
	    60, t_first, t_cb, &r);
	assert_true(r.id & GCP_SEQ_ID);
	event_base_dispatch(t_srv.base);
	assert_int_equal(r.calls, 1);
	assert_int_equal(r.firsts, 1);
	assert_false(r.failed);
	assert_string_equal(json_str(r.out, "name"), "e1");
	t_res_clear(&r);
	gcp_free(g);
}

/* run: :wait polls with the remaining time as the timeout. */
static void
t_after_waits(void **state)
{
	char *replies[] = { gcp_srv_reply("200 OK", NULL, OP_PENDING),
		gcp_srv_reply("200 OK", NULL, OP_PENDING),
		gcp_srv_reply("200 OK", NULL, OP_DONE), NULL };
	struct t_res r = { .v = &t_srv };
	struct gcp *g;
	char *req;

	(void)state;
	gcp_srv_start(&t_srv, replies);
	g = r.g = t_gcp(&t_srv);
	gcp_lro(g, "run", "jobs.run", "POST",
	    "v2/projects/p/locations/l/jobs/j:run", NULL, NULL, 60, t_first,
	    t_cb, &r);
	event_base_dispatch(t_srv.base);
	assert_false(r.failed);
	assert_int_equal(r.firsts, 1);
	/* first saw the operation itself: the execution's name at once. */
	assert_string_equal(json_str(json_obj(r.first, "metadata"), "name"),
	    "projects/p/locations/l/jobs/j/executions/e1");
	assert_string_equal(json_str(r.out, "name"), "e1");
	req = gcp_srv_requests(&t_srv);
	assert_int_equal(gcp_srv_count(req,
			     "POST /v2/projects/p/locations/l/operations/"
			     "o1:wait?alt=json HTTP/1.1"),
	    2);
	assert_non_null(strstr(req, "{\"timeout\":\"20s\"}"));
	free(req);
	t_res_clear(&r);
	gcp_free(g);
}

/* cloudfunctions: GET polls after the back-off; no first. */
static void
t_after_gets(void **state)
{
	char *replies[] = { gcp_srv_reply("200 OK", NULL, OP_PENDING),
		gcp_srv_reply("200 OK", NULL,
		    "{\"name\":\"projects/p/locations/l/operations/o1\","
		    "\"done\":true}"),
		NULL };
	struct t_res r = { .v = &t_srv };
	struct gcp *g;
	char *req;

	(void)state;
	gcp_srv_start(&t_srv, replies);
	g = r.g = t_gcp(&t_srv);
	gcp_lro(g, "cloudfunctions", "functions.delete", "DELETE",
	    "v2/projects/p/locations/l/functions/f", NULL, NULL, 60, NULL, t_cb,
	    &r);
	event_base_dispatch(t_srv.base);
	assert_false(r.failed);
	/* No response: the whole operation. */
	assert_true(json_bool(r.out, "done", 0));
	req = gcp_srv_requests(&t_srv);
	assert_non_null(strstr(req,
	    "GET /v2/projects/p/locations/l/operations/o1?alt=json "
	    "HTTP/1.1"));
	assert_null(strstr(req, ":wait"));
	free(req);
	t_res_clear(&r);
	gcp_free(g);
}

static void
t_op_error(void **state)
{
	char *replies[] = { gcp_srv_reply("200 OK", NULL,
				"{\"name\":\"operations/o\",\"done\":true,"
				"\"error\":{\"code\":9,\"message\":\"Image "
				"not found\"}}"),
		NULL };
	struct t_res r = { .v = &t_srv };
	struct gcp *g;
	struct err e;

	(void)state;
	gcp_srv_start(&t_srv, replies);
	g = r.g = t_gcp(&t_srv);
	gcp_lro(g, "run", "jobs.create", "POST", "v2/x/jobs", "jobId=j", NULL,
	    60, NULL, t_cb, &r);
	event_base_dispatch(t_srv.base);
	assert_true(r.failed);
	assert_string_equal(r.ce.code, "FAILED_PRECONDITION");
	assert_string_equal(r.ce.message, "Image not found");
	cloud_error_to_err(gcp_provider(), &r.ce, &e);
	assert_int_equal(e.status, 400);
	t_res_clear(&r);
	gcp_free(g);
}

/* Never done: 504 DEADLINE_EXCEEDED once the time is up (the server
 * answers "pending" for ever). */
static void
t_timeout(void **state)
{
	char *replies[] = { gcp_srv_reply("200 OK", NULL, OP_PENDING), NULL };
	struct t_res r = { .v = &t_srv };
	struct gcp *g;
	struct err e;

	(void)state;
	gcp_srv_start(&t_srv, replies);
	g = r.g = t_gcp(&t_srv);
	gcp_lro(g, "cloudfunctions", "functions.create", "POST", "v2/x", NULL,
	    NULL, 1, NULL, t_cb, &r);
	event_base_dispatch(t_srv.base);
	assert_true(r.failed);
	assert_int_equal(r.ce.http_status, 504);
	assert_string_equal(r.ce.code, "DEADLINE_EXCEEDED");
	assert_non_null(strstr(r.ce.message, "operations/o1"));
	cloud_error_to_err(gcp_provider(), &r.ce, &e);
	assert_int_equal(e.status, 502);
	t_res_clear(&r);
	gcp_free(g);
}

static void
t_cancel_in_first(void **state)
{
	char *replies[] = { gcp_srv_reply("200 OK", NULL, OP_PENDING), NULL };
	struct t_res r = { .v = &t_srv, .cancel_in_first = 1 };
	struct gcp *g;

	(void)state;
	gcp_srv_start(&t_srv, replies);
	g = r.g = t_gcp(&t_srv);
	r.id = gcp_lro(g, "run", "jobs.run", "POST", "v2/j:run", NULL, NULL, 60,
	    t_first, t_cb, &r);
	event_base_dispatch(t_srv.base);
	assert_int_equal(r.firsts, 1);
	assert_int_equal(r.calls, 0);
	assert_true(TAILQ_EMPTY(&g->seqs));
	t_res_clear(&r);
	gcp_free(g);
}

static void
t_cancel_ev(evutil_socket_t fd, short what, void *arg)
{
	struct t_res *r = arg;

	(void)fd;
	(void)what;
	/* gcp_cancel takes sequence ids too. */
	gcp_cancel(r->g, r->id);
	event_base_loopbreak(r->v->base);
}

/* Cancelled while waiting between GET polls: no callback, nothing left. */
static void
t_cancel_midway(void **state)
{
	char *replies[] = { gcp_srv_reply("200 OK", NULL, OP_PENDING), NULL };
	struct t_res r = { .v = &t_srv };
	struct timeval tv = { 0, 300000 };
	struct event *ev;
	struct gcp *g;

	(void)state;
	gcp_srv_start(&t_srv, replies);
	g = r.g = t_gcp(&t_srv);
	r.id = gcp_lro(g, "cloudfunctions", "functions.create", "POST", "v2/x",
	    NULL, NULL, 60, NULL, t_cb, &r);
	ev = evtimer_new(t_srv.base, t_cancel_ev, &r);
	evtimer_add(ev, &tv);
	event_base_dispatch(t_srv.base);
	assert_int_equal(r.calls, 0);
	assert_true(TAILQ_EMPTY(&g->seqs));
	assert_int_equal(cloud_inflight(gcp_cloud(g)), 0);
	event_free(ev);
	/* A sequence in flight when the client is freed goes with it. */
	gcp_lro(g, "run", "jobs.run", "POST", "v2/j:run", NULL, NULL, 60, NULL,
	    t_cb, &r);
	gcp_free(g);
	assert_int_equal(r.calls, 0);
	t_res_clear(&r);
}

static void
t_malformed_ops(void **state)
{
	char *replies[] = { gcp_srv_reply("200 OK", NULL, "[1,2]"),
		gcp_srv_reply("200 OK", NULL, "{\"done\":false}"),
		gcp_srv_reply("200 OK", NULL, ""), NULL };
	struct t_res r = { .v = &t_srv };
	struct gcp *g;

	(void)state;
	gcp_srv_start(&t_srv, replies);
	g = r.g = t_gcp(&t_srv);
	gcp_lro(g, "run", "a", "POST", "v2/a", NULL, NULL, 60, NULL, t_cb, &r);
	event_base_dispatch(t_srv.base);
	assert_true(r.failed);
	assert_string_equal(r.ce.code, "InvalidResponse");
	gcp_lro(g, "run", "b", "POST", "v2/b", NULL, NULL, 60, NULL, t_cb, &r);
	event_base_dispatch(t_srv.base);
	assert_true(r.failed);
	assert_string_equal(r.ce.message, "the operation has no name to poll");
	gcp_lro(g, "run", "c", "POST", "v2/c", NULL, NULL, 60, NULL, t_cb, &r);
	event_base_dispatch(t_srv.base);
	assert_true(r.failed);
	assert_int_equal(r.calls, 3);
	t_res_clear(&r);
	gcp_free(g);
}

/* --- lists --- */

static void
t_list_get(void **state)
{
	char *replies[] = {
		gcp_srv_reply("200 OK", NULL,
		    "{\"jobs\":[{\"name\":\"a\"},{\"name\":\"b\"}],"
		    "\"nextPageToken\":\"t/1=\"}"),
		gcp_srv_reply("200 OK", NULL, "{\"nextPageToken\":\"t2\"}"),
		gcp_srv_reply("200 OK", NULL,
		    "{\"jobs\":[{\"name\":\"c\"}],\"nextPageToken\":\"\"}"),
		NULL,
	};
	struct t_res r = { .v = &t_srv };
	struct gcp *g;
	const cJSON *jobs;
	char *req;

	(void)state;
	gcp_srv_start(&t_srv, replies);
	g = r.g = t_gcp(&t_srv);
	gcp_list(g, "run", "jobs.list", "GET", "v2/p/jobs", "pageSize=2", NULL,
	    "jobs", 0, t_cb, &r);
	event_base_dispatch(t_srv.base);
	assert_false(r.failed);
	jobs = json_arr(r.out, "jobs");
	assert_int_equal(cJSON_GetArraySize(jobs), 3);
	assert_string_equal(json_str(cJSON_GetArrayItem(jobs, 2), "name"), "c");
	req = gcp_srv_requests(&t_srv);
	assert_non_null(strstr(req, "GET /v2/p/jobs?pageSize=2&alt=json "));
	assert_non_null(strstr(
	    req, "GET /v2/p/jobs?pageSize=2&pageToken=t%2F1%3D&alt=json "));
	assert_non_null(
	    strstr(req, "GET /v2/p/jobs?pageSize=2&pageToken=t2&alt=json "));
	free(req);
	t_res_clear(&r);
	gcp_free(g);
}

static void
t_list_post(void **state)
{
	char *replies[] = {
		gcp_srv_reply("200 OK", NULL,
		    "{\"entries\":[1],\"nextPageToken\":\"n1\"}"),
		gcp_srv_reply("200 OK", NULL,
		    "{\"entries\":[2],\"nextPageToken\":\"n2\"}"),
		NULL,
	};
	struct t_res r = { .v = &t_srv };
	struct gcp *g;
	cJSON *body = cJSON_CreateObject();
	char *req;

	(void)state;
	gcp_srv_start(&t_srv, replies);
	g = r.g = t_gcp(&t_srv);
	json_add_str(body, "filter", "x");
	/* max_pages 2: the third page is not read. */
	gcp_list(g, "logging", "entries.list", "POST", "v2/entries:list", NULL,
	    body, "entries", 2, t_cb, &r);
	event_base_dispatch(t_srv.base);
	assert_false(r.failed);
	assert_int_equal(cJSON_GetArraySize(json_arr(r.out, "entries")), 2);
	req = gcp_srv_requests(&t_srv);
	assert_int_equal(
	    gcp_srv_count(req, "POST /v2/entries:list?alt=json"), 2);
	assert_non_null(strstr(req, "\r\n\r\n{\"filter\":\"x\"}"));
	assert_non_null(strstr(req, "{\"filter\":\"x\",\"pageToken\":\"n1\"}"));
	free(req);
	t_res_clear(&r);
	gcp_free(g);
}

static void
t_list_errors(void **state)
{
	char *replies[] = {
		gcp_srv_reply("200 OK", NULL, "{\"jobs\":{\"a\":1}}"),
		gcp_srv_reply(
		    "200 OK", NULL, "{\"jobs\":[1],\"nextPageToken\":\"n\"}"),
		gcp_srv_reply("403 Forbidden", NULL,
		    "{\"error\":{\"code\":403,\"message\":\"no\","
		    "\"status\":\"PERMISSION_DENIED\"}}"),
		NULL,
	};
	struct t_res r = { .v = &t_srv };
	struct gcp *g;

	(void)state;
	gcp_srv_start(&t_srv, replies);
	g = r.g = t_gcp(&t_srv);
	gcp_list(g, "run", "jobs.list", "GET", "v2/p/jobs", NULL, NULL, "jobs",
	    0, t_cb, &r);
	event_base_dispatch(t_srv.base);
	assert_true(r.failed);
	assert_string_equal(r.ce.code, "InvalidResponse");
	/* An error on the second page fails the list. */
	gcp_list(g, "run", "jobs.list", "GET", "v2/p/jobs", NULL, NULL, "jobs",
	    0, t_cb, &r);
	event_base_dispatch(t_srv.base);
	assert_true(r.failed);
	assert_string_equal(r.ce.code, "PERMISSION_DENIED");
	assert_null(r.out);
	t_res_clear(&r);
	gcp_free(g);
}

/* An owned list's arg is freed once: after the callback, or without it
 * when the list is cancelled or the client freed with it in flight. */
static void
t_list_owned(void **state)
{
	char *replies[] = {
		gcp_srv_reply(
		    "200 OK", NULL, "{\"jobs\":[1],\"nextPageToken\":\"n\"}"),
		gcp_srv_reply("200 OK", NULL, "{\"jobs\":[2]}"),
		NULL,
	};
	struct t_res r = { .v = &t_srv };
	struct gcp *g;

	(void)state;
	gcp_srv_start(&t_srv, replies);
	g = r.g = t_gcp(&t_srv);
	gcp_list_owned(g, "run", "jobs.list", "GET", "v2/p/jobs", NULL, NULL,
	    "jobs", 0, t_cb, &r, t_arg_free);
	assert_int_equal(r.freed, 0);
	event_base_dispatch(t_srv.base);
	assert_int_equal(r.calls, 1);
	assert_int_equal(cJSON_GetArraySize(json_arr(r.out, "jobs")), 2);
	assert_int_equal(r.freed, 1);
	assert_int_equal(r.calls_at_free, 1);
	gcp_cancel(g,
	    gcp_list_owned(g, "run", "jobs.list", "GET", "v2/p/jobs", NULL,
		NULL, "jobs", 0, t_cb, &r, t_arg_free));
	assert_int_equal(r.freed, 2);
	gcp_list_owned(g, "run", "jobs.list", "GET", "v2/p/jobs", NULL, NULL,
	    "jobs", 0, t_cb, &r, t_arg_free);
	gcp_free(g);
	assert_int_equal(r.freed, 3);
	event_base_loop(t_srv.base, EVLOOP_NONBLOCK);
	assert_int_equal(r.calls, 1);
	t_res_clear(&r);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(t_done_at_once, t_teardown),
		cmocka_unit_test_teardown(t_after_waits, t_teardown),
		cmocka_unit_test_teardown(t_after_gets, t_teardown),
		cmocka_unit_test_teardown(t_op_error, t_teardown),
		cmocka_unit_test_teardown(t_timeout, t_teardown),
		cmocka_unit_test_teardown(t_cancel_in_first, t_teardown),
		cmocka_unit_test_teardown(t_cancel_midway, t_teardown),
		cmocka_unit_test_teardown(t_malformed_ops, t_teardown),
		cmocka_unit_test_teardown(t_list_get, t_teardown),
		cmocka_unit_test_teardown(t_list_post, t_teardown),
		cmocka_unit_test_teardown(t_list_owned, t_teardown),
		cmocka_unit_test_teardown(t_list_errors, t_teardown),
	};

	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
