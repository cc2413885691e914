/* The Cloud Logging reader (gcp_logs.c): stdout and stderr apart, the
 * payload shapes, insertId de-duplication across two polls with equal
 * timestamps, page tokens through the cursor, the request it sends, and
 * malformed pages and cursors. */
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

#define T_OUT "projects/p/logs/run.googleapis.com%2Fstdout"
#define T_ERR "projects/p/logs/run.googleapis.com%2Fstderr"
#define T_T1  "2026-12-05T10:00:00.000000001Z"
#define T_T2  "2026-12-05T10:00:01.5Z"

#define E(log, ts, id, payload)                                                \
	"{\"logName\":\"" log "\",\"timestamp\":\"" ts "\",\"insertId\":\"" id \
	"\"," payload "}"

static void
t_page(void **state)
{
	struct gcp_logs_cursor c;
	struct gcp_log_entry *ev;
	struct cloud_error ce;
	char **keep;
	size_t n, nkeep;
	cJSON *page = cJSON_Parse("{\"entries\":[" E(T_OUT, T_T1, "a",
	    "\"textPayload\":\"hello\\n\"") "," E(T_ERR, T_T1, "b",
	    "\"textPayload\":\"oops\"") "," E("projects/p/logs/x", T_T2, "c",
	    "\"severity\":\"ERROR\",\"jsonPayload\":{\"message\":\"m\"}") "," E("projects/p/logs/x",
	    T_T2, "d",
	    "\"jsonPayload\":{\"k\":1}") ","
					 "{\"timestamp\":\"bad\",\"textPayload\":\"dropped\"},"
					 "{\"receiveTimestamp\":\"" T_T2
					 "\",\"textPayload\":\"late\"}," E(
					     T_OUT, T_T2, "f",
					     "\"protoPayload\":{}") ",5,"
								    "{\"timestamp\":7}]}");

	(void)state;
	gcp_logs_cursor_parse(NULL, &c);
	assert_int_equal(
	    gcp_logs_page(page, &c, &ev, &n, &keep, &nkeep, &ce), 0);
	assert_int_equal(n, 5);
	assert_int_equal(ev[0].stream, 1);
	assert_int_equal(ev[0].len, 5);
	assert_memory_equal(ev[0].text, "hello", 5);
	assert_string_equal(ev[0].insert_id, "a");
	assert_int_equal(ev[0].ts_ns, gcp_time_parse(T_T1));
	assert_int_equal(ev[1].stream, 2);
	assert_string_equal(ev[1].text, "oops");
	assert_int_equal(ev[2].stream, 2);
	assert_string_equal(ev[2].text, "m");
	assert_int_equal(ev[3].stream, 1);
	assert_string_equal(ev[3].text, "{\"k\":1}");
	assert_string_equal(ev[4].text, "late");
	assert_string_equal(ev[4].insert_id, "");
	assert_int_equal(nkeep, 1);
	/* The cursor: the last timestamp and the ids seen at it. */
	assert_int_equal(c.ts_ns, gcp_time_parse(T_T2));
	assert_int_equal(c.nids, 3);
	assert_null(c.page_token);
	for (size_t i = 0; i < nkeep; i++)
		free(keep[i]);
	free(keep);
	free(ev);
	gcp_logs_cursor_clear(&c);
	cJSON_Delete(page);
}

static void
t_page_malformed(void **state)
{
	struct gcp_logs_cursor c;
	struct gcp_log_entry *ev;
	struct cloud_error ce;
	char **keep;
	size_t n, nkeep;
	cJSON *page = cJSON_Parse("{\"entries\":{}}");

	(void)state;
	gcp_logs_cursor_parse(NULL, &c);
	assert_int_equal(
	    gcp_logs_page(page, &c, &ev, &n, &keep, &nkeep, &ce), -1);
	assert_string_equal(ce.code, "InvalidResponse");
	assert_int_equal(ce.http_status, 502);
	cJSON_Delete(page);
	assert_int_equal(
	    gcp_logs_page(NULL, &c, &ev, &n, &keep, &nkeep, &ce), -1);
	/* No entries at all is an empty page. */
	page = cJSON_Parse("{}");
	assert_int_equal(
	    gcp_logs_page(page, &c, &ev, &n, &keep, &nkeep, &ce), 0);
	assert_int_equal(n, 0);
	free(ev);
	free(keep);
	cJSON_Delete(page);
	gcp_logs_cursor_clear(&c);
}

static void
t_cursor(void **state)
{
	struct gcp_logs_cursor c;
	char *s;

	(void)state;
	assert_int_equal(gcp_logs_cursor_parse("not json", &c), -1);
	gcp_logs_cursor_clear(&c);
	assert_int_equal(gcp_logs_cursor_parse("[]", &c), -1);
	gcp_logs_cursor_clear(&c);
	assert_int_equal(gcp_logs_cursor_parse("{\"t\":5,\"ids\":[1,\"a\"],"
					       "\"p\":\"tok\"}",
			     &c),
	    0);
	/* A number is not ours (ns do not fit a double); a token without
	 * its filter time is dropped. */
	assert_int_equal(c.ts_ns, -1);
	assert_int_equal(c.nids, 1);
	assert_null(c.page_token);
	gcp_logs_cursor_clear(&c);
	assert_int_equal(gcp_logs_cursor_parse("{\"t\":\"17\",\"ids\":[\"a\"],"
					       "\"p\":\"tok\",\"f\":\"3\"}",
			     &c),
	    0);
	s = gcp_logs_cursor_print(&c);
	assert_string_equal(
	    s, "{\"t\":\"17\",\"ids\":[\"a\"],\"p\":\"tok\",\"f\":\"3\"}");
	free(s);
	gcp_logs_cursor_clear(&c);
}

static void
t_quote(void **state)
{
	char out[16];

	(void)state;
	gcp_logs_quote("a\"b\\c", out, sizeof(out));
	assert_string_equal(out, "\"a\\\"b\\\\c\"");
	gcp_logs_quote("0123456789abcdef", out, sizeof(out));
	assert_string_equal(out, "\"0123456789abc\"");
	gcp_logs_quote(NULL, out, sizeof(out));
	assert_string_equal(out, "\"\"");
	gcp_logs_quote("x", out, 2);
	assert_string_equal(out, "");
}

/* --- reads --- */

struct t_res {
	struct gcp_srv *v;
	int calls;
	char text[1024];
	char *cursor;
	int more, failed;
	struct cloud_error ce;
};

static void
t_cb(void *arg, const struct gcp_log_entry *ev, size_t n, const char *cursor,
    int more, const struct cloud_error *ce)
{
	struct t_res *r = arg;

	r->calls++;
	r->failed = ce != NULL;
	if (ce != NULL)
		r->ce = *ce;
	r->text[0] = '\0';
	for (size_t i = 0; i < n; i++) {
		size_t l = strlen(r->text);

		snprintf(r->text + l, sizeof(r->text) - l, "%d:%.*s;",
		    ev[i].stream, (int)ev[i].len, ev[i].text);
	}
	free(r->cursor);
	r->cursor = cursor != NULL ? xstrdup(cursor) : NULL;
	r->more = more;
	event_base_loopbreak(r->v->base);
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

static void
t_dedup(void **state)
{
	char *replies[] = {
		gcp_srv_reply("200 OK", NULL,
		    "{\"entries\":[" E(T_OUT, T_T1, "a",
			"\"textPayload\":\"one\"") "," E(T_OUT, T_T2, "b",
			"\"textPayload\":\"two\"") "]}"),
		/* The second poll asks from T_T2 again: b comes back with c
		 * at the same time, and a late one before it. */
		gcp_srv_reply("200 OK", NULL,
		    "{\"entries\":[" E(T_OUT, T_T1, "z",
			"\"textPayload\":\"old\"") "," E(T_OUT, T_T2, "b",
			"\"textPayload\":\"two\"") "," E(T_ERR, T_T2, "c",
			"\"textPayload\":\"three\"") "],"
						     "\"nextPageToken\":\"pg2\"}"),
		gcp_srv_reply("200 OK", NULL,
		    "{\"entries\":[" E(T_OUT, T_T2, "c",
			"\"textPayload\":\"three\"") "," E(T_OUT, T_T2, "d",
			"\"textPayload\":\"four\"") "]}"),
		NULL,
	};
	struct t_res r = { .v = &t_srv };
	struct gcp *g;
	char *req, *p;

	(void)state;
	gcp_srv_start(&t_srv, replies);
	g = t_gcp(&t_srv);
	gcp_logs_read(
	    g, "p", "resource.type=\"cloud_run_job\"", NULL, 0, 50, t_cb, &r);
	event_base_dispatch(t_srv.base);
	assert_false(r.failed);
	assert_string_equal(r.text, "1:one;1:two;");
	assert_false(r.more);
	gcp_logs_read(g, "p", "resource.type=\"cloud_run_job\"", r.cursor, 0,
	    50, t_cb, &r);
	event_base_dispatch(t_srv.base);
	assert_string_equal(r.text, "2:three;");
	assert_true(r.more);
	gcp_logs_read(g, "p", "resource.type=\"cloud_run_job\"", r.cursor, 0,
	    50, t_cb, &r);
	event_base_dispatch(t_srv.base);
	assert_string_equal(r.text, "1:four;");
	assert_false(r.more);
	req = gcp_srv_requests(&t_srv);
	p = strstr(req, "POST /v2/entries:list?alt=json HTTP/1.1");
	assert_non_null(p);
	assert_non_null(strstr(req,
	    "{\"resourceNames\":[\"projects/p\"],\"filter\":"
	    "\"resource.type=\\\"cloud_run_job\\\" AND "
	    "timestamp>=\\\"1970-01-01T00:00:00.000000000Z\\\"\","
	    "\"orderBy\":\"timestamp asc\",\"pageSize\":50}"));
	/* The second and third reads ask from T_T2; the third carries the
	 * page token with the same filter. */
	assert_int_equal(
	    gcp_srv_count(req, "timestamp>=\\\"2026-12-05T10:00:01.500000000Z"),
	    2);
	assert_non_null(strstr(req, "\"pageSize\":50,\"pageToken\":\"pg2\"}"));
	free(req);
	gcp_free(g);
	free(r.cursor);
}

static void
t_since_and_errors(void **state)
{
	char *replies[] = {
		gcp_srv_reply("200 OK", NULL,
		    "{\"entries\":[" E(T_OUT, T_T1, "a",
			"\"textPayload\":\"before\"") "," E(T_OUT, T_T2, "b",
			"\"textPayload\":\"at\"") "]}"),
		gcp_srv_reply("200 OK", NULL, "{\"entries\":\"x\"}"),
		gcp_srv_reply("403 Forbidden", NULL,
		    "{\"error\":{\"code\":403,\"message\":\"denied\","
		    "\"status\":\"PERMISSION_DENIED\"}}"),
		gcp_srv_reply("400 Bad Request", NULL,
		    "{\"error\":{\"code\":400,\"message\":\"page token "
		    "expired\",\"status\":\"INVALID_ARGUMENT\"}}"),
		NULL,
	};
	struct t_res r = { .v = &t_srv };
	struct gcp *g;
	char *req;

	(void)state;
	gcp_srv_start(&t_srv, replies);
	g = t_gcp(&t_srv);
	/* A cursor that is not ours starts at since_ns; no filter given. */
	gcp_logs_read(
	    g, "p", NULL, "garbage", gcp_time_parse(T_T2), 0, t_cb, &r);
	event_base_dispatch(t_srv.base);
	assert_string_equal(r.text, "1:at;");
	req = gcp_srv_requests(&t_srv);
	assert_non_null(strstr(req,
	    "\"filter\":\"timestamp>=\\\"2026-12-05T10:00:01.500000000Z\\\"\","
	    "\"orderBy\":\"timestamp asc\",\"pageSize\":1000}"));
	free(req);
	gcp_logs_read(g, "p", "x", r.cursor, 0, 10, t_cb, &r);
	event_base_dispatch(t_srv.base);
	assert_true(r.failed);
	assert_string_equal(r.ce.code, "InvalidResponse");
	assert_null(r.cursor);
	gcp_logs_read(g, "p", "x", NULL, 0, 10, t_cb, &r);
	event_base_dispatch(t_srv.base);
	assert_true(r.failed);
	assert_string_equal(r.ce.code, "PERMISSION_DENIED");
	assert_null(r.cursor);
	/* A page token Logging refuses: the cursor goes on by time. */
	gcp_logs_read(g, "p", "x",
	    "{\"t\":\"5\",\"ids\":[\"a\"],\"p\":\"old\",\"f\":\"3\"}", 0, 10,
	    t_cb, &r);
	event_base_dispatch(t_srv.base);
	assert_true(r.failed);
	assert_string_equal(r.ce.code, "INVALID_ARGUMENT");
	assert_string_equal(r.cursor, "{\"t\":\"5\",\"ids\":[\"a\"]}");
	/* Cancelled: no callback. */
	gcp_cancel(g, gcp_logs_read(g, "p", "x", NULL, 0, 10, t_cb, &r));
	assert_int_equal(r.calls, 4);
	gcp_free(g);
	free(r.cursor);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(t_page),
		cmocka_unit_test(t_page_malformed),
		cmocka_unit_test(t_cursor),
		cmocka_unit_test(t_quote),
		cmocka_unit_test_teardown(t_dedup, t_teardown),
		cmocka_unit_test_teardown(t_since_and_errors, t_teardown),
	};

	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
