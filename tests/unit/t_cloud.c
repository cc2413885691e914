/* The cloud call core (common/cloud/cloud.c) through a fake provider
 * against a forked local HTTP server: deferred completion when signing
 * fails, cancel of a call on the wire and of a queued completion, retry
 * exhaustion, throttling retries, the error table and the sync wrapper.
 * No cloud and no AWS code. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <event2/event.h>

#include "sockerless/cloud.h"
#include "sockerless/httpcli.h"
#include "sockerless/json.h"
#include "sockerless/str.h"
#include "sockerless/xmalloc.h"

/* --- a local server: one canned reply per connection, in order --- */

static pid_t t_pid;

static int
t_teardown(void **state)
{
	(void)state;
	if (t_pid > 0) {
		kill(t_pid, SIGTERM);
		waitpid(t_pid, NULL, 0);
	}
	t_pid = 0;
	return 0;
}

/* Reads one request (headers and a Content-Length body) into req. */
static void
t_read_req(int s, char *req, size_t size)
{
	size_t n = 0;
	ssize_t k;
	char *hend, *cl;

	req[0] = '\0';
	while (n < size - 1 && (k = read(s, req + n, size - 1 - n)) > 0) {
		n += (size_t)k;
		req[n] = '\0';
		if ((hend = strstr(req, "\r\n\r\n")) == NULL)
			continue;
		cl = strcasestr(req, "Content-Length:");
		if (cl == NULL ||
		    (size_t)(hend + 4 - req) + strtoul(cl + 15, NULL, 10) <= n)
			break;
	}
}

/* Serves replies in order, appending each request to log; returns the
 * port. */
static int
t_server(const char *const *replies, const char *log)
{
	struct sockaddr_in sin;
	socklen_t slen = sizeof(sin);
	int ls = socket(AF_INET, SOCK_STREAM, 0);

	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(ls, (struct sockaddr *)&sin, sizeof(sin)), 0);
	assert_int_equal(listen(ls, 8), 0);
	getsockname(ls, (struct sockaddr *)&sin, &slen);
	if ((t_pid = fork()) == 0) {
		for (size_t i = 0; replies[i] != NULL; i++) {
			int s = accept(ls, NULL, NULL);
			char req[16384];
			FILE *f;

			t_read_req(s, req, sizeof(req));
			if ((f = fopen(log, "a")) != NULL) {
				fprintf(f, "%s\n=====\n", req);
				fclose(f);
			}
			if (write(s, replies[i], strlen(replies[i])) < 0)
				_exit(1);
			close(s);
		}
		_exit(0);
	}
	close(ls);
	return ntohs(sin.sin_port);
}

/* The requests the server saw. */
static int
t_requests(const char *log)
{
	FILE *f = fopen(log, "r");
	char line[4096];
	int n = 0;

	if (f == NULL)
		return 0;
	while (fgets(line, sizeof(line), f) != NULL)
		n += strcmp(line, "=====\n") == 0;
	fclose(f);
	return n;
}

static void
t_server_wait(void)
{
	waitpid(t_pid, NULL, 0);
	t_pid = 0;
}

#define T_OK                                               \
	"HTTP/1.1 200 OK\r\nConnection: close\r\n"         \
	"X-Request-Id: r-ok\r\nContent-Length: 11\r\n\r\n" \
	"{\"ok\":true}"
#define T_BUSY                                                      \
	"HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\n" \
	"X-Request-Id: r-busy\r\nContent-Length: 37\r\n\r\n"        \
	"{\"code\":\"Busy\",\"message\":\"try later\"}"
#define T_THROTTLED                                         \
	"HTTP/1.1 400 Bad Request\r\nConnection: close\r\n" \
	"Content-Length: 42\r\n\r\n"                        \
	"{\"code\":\"Throttled\",\"message\":\"slow down\"}"
#define T_MISSING                                           \
	"HTTP/1.1 404 Not Found\r\nConnection: close\r\n"   \
	"X-Request-Id: r-404\r\nContent-Length: 49\r\n\r\n" \
	"{\"code\":\"ThingMissing\",\"message\":\"no such thing\"}"
#define T_TEXT                                     \
	"HTTP/1.1 200 OK\r\nConnection: close\r\n" \
	"Content-Length: 5\r\n\r\nhello"

/* --- the fake provider --- */

struct t_prov {
	int attempts; /* authorize calls so far */
	int fail_at;  /* the attempt whose authorization fails; 0: none */
};

static int
t_authorize(void *ctx, struct httpcli_req *r, void *data, struct err *e)
{
	struct t_prov *p = ctx;
	char v[32];

	assert_string_equal((const char *)data, "call-data");
	if (++p->attempts == p->fail_at)
		return err_set(e, 500, "token expired");
	snprintf(v, sizeof(v), "Fake %d", p->attempts);
	httpcli_req_header(r, "Authorization", v);
	return 0;
}

static void
t_parse_error(const struct httpcli_resp *resp, struct cloud_error *ce)
{
	cJSON *o = cJSON_ParseWithLength(resp->body, resp->body_len);
	const char *code = json_str(o, "code"), *msg = json_str(o, "message");

	str_lcpy(ce->code, code != NULL ? code : "Unknown", sizeof(ce->code));
	str_lcpy(ce->message, msg != NULL ? msg : "", sizeof(ce->message));
	cJSON_Delete(o);
}

static const char *
t_request_id(const struct httpcli_resp *resp)
{
	return httpcli_resp_header(resp, "X-Request-Id");
}

static const struct cloud_errmap t_errors[] = {
	{ "Throttled", 0, 0, 0, CLOUD_ERR_THROTTLED },
	{ "Missing", 1, 0, 0, CLOUD_ERR_NOT_FOUND },
	{ "BadInput", 0, 400, 499, CLOUD_ERR_INVALID },
	{ "Exists", 0, 409, 409, CLOUD_ERR_CONFLICT },
	{ NULL, 0, 0, 0, CLOUD_ERR_NONE },
};

static const struct cloud_provider t_provider = {
	.name = "fake",
	.authorize = t_authorize,
	.parse_error = t_parse_error,
	.request_id = t_request_id,
	.errors = t_errors,
	.attempts = 3,
};

/* --- one test's world: loop, client, core, results --- */

struct t_world {
	struct event_base *base;
	struct httpcli *http;
	struct cloud *c;
	struct t_prov prov;
	char log[32];
	char url[64];
	/* what the callbacks saw */
	int calls;
	int status;
	int attempts;
	int ok;
	struct cloud_error ce;
	struct err e;
	/* what a callback does to other calls */
	uint64_t cancel_id;
	int free_core;
};

static void
t_world_init(struct t_world *w, const char *const *replies)
{
	memset(w, 0, sizeof(*w));
	str_lcpy(w->log, "/tmp/t_cloud.XXXXXX", sizeof(w->log));
	close(mkstemp(w->log));
	/* Nothing listens on port 9 when there are no replies. */
	snprintf(w->url, sizeof(w->url), "http://127.0.0.1:%d/x",
	    replies != NULL ? t_server(replies, w->log) : 9);
	w->base = event_base_new();
	w->http = httpcli_new(w->base);
	w->c = cloud_new(w->base, w->http, &t_provider, &w->prov);
}

static void
t_world_free(struct t_world *w)
{
	cloud_free(w->c);
	httpcli_free(w->http);
	event_base_free(w->base);
	unlink(w->log);
}

static void
t_spec(struct cloud_call_spec *s, const struct t_world *w)
{
	memset(s, 0, sizeof(*s));
	s->service = "fakesvc";
	s->op = "Op";
	s->req = httpcli_req_new("POST", w->url);
	httpcli_req_body(s->req, "{}", 2);
	s->data = xstrdup("call-data");
	s->data_free = free;
}

static void
t_done(void *arg, const struct httpcli_resp *resp, const cJSON *out,
    const struct cloud_error *ce)
{
	struct t_world *w = arg;

	w->calls++;
	w->status = resp->status;
	w->attempts = resp->attempts;
	w->ok = ce == NULL;
	if (ce != NULL) {
		assert_null(out);
		w->ce = *ce;
		cloud_error_to_err(&t_provider, ce, &w->e);
	} else
		assert_true(json_bool(out, "ok", 0));
	if (w->cancel_id != 0)
		cloud_cancel(w->c, w->cancel_id);
	if (w->free_core) {
		cloud_free(w->c);
		w->c = NULL;
	}
}

static uint64_t
t_call(struct t_world *w)
{
	struct cloud_call_spec s;

	t_spec(&s, w);
	return cloud_call(w->c, &s, t_done, w);
}

/* --- the tests --- */

/* The crash of issue 12: signing fails on the first attempt. The call is
 * in flight when cloud_call returns, and its callback runs once, from the
 * loop, with the reason; nothing was sent. */
static void
t_sign_fails_first(void **state)
{
	struct t_world w;

	(void)state;
	t_world_init(&w, NULL);
	w.prov.fail_at = 1;
	assert_true(t_call(&w) != 0);
	assert_int_equal(w.calls, 0); /* not inside cloud_call */
	assert_int_equal(cloud_inflight(w.c), 1);
	event_base_dispatch(w.base);
	assert_int_equal(w.calls, 1);
	assert_int_equal(cloud_inflight(w.c), 0);
	assert_false(w.ok);
	assert_int_equal(w.status, 0);
	assert_int_equal(w.ce.http_status, 0);
	assert_string_equal(w.ce.message, "token expired");
	assert_int_equal(w.e.status, 502);
	assert_string_equal(w.e.msg, "cloud unreachable: token expired");
	assert_int_equal(t_requests(w.log), 0);
	t_world_free(&w);
}

/* Signing fails on the retry after a 503: one request went out, the call
 * ends once with the signing error. */
static void
t_sign_fails_retry(void **state)
{
	static const char *const replies[] = { T_BUSY, NULL };
	struct t_world w;

	(void)state;
	t_world_init(&w, replies);
	w.prov.fail_at = 2;
	t_call(&w);
	assert_int_equal(w.calls, 0);
	event_base_dispatch(w.base);
	assert_int_equal(w.calls, 1);
	assert_int_equal(w.prov.attempts, 2);
	assert_int_equal(w.status, 0);
	assert_string_equal(w.ce.message, "token expired");
	t_server_wait();
	assert_int_equal(t_requests(w.log), 1);
	assert_int_equal(cloud_inflight(w.c), 0);
	t_world_free(&w);
}

/* A call cancelled while its request is on the wire never calls back; a
 * second call to the same server completes normally. */
static void
t_cancel_inflight(void **state)
{
	static const char *const replies[] = { T_OK, T_OK, NULL };
	struct t_world w;
	uint64_t a, b;

	(void)state;
	t_world_init(&w, replies);
	a = t_call(&w);
	b = t_call(&w);
	assert_true(a != b);
	assert_int_equal(cloud_inflight(w.c), 2);
	cloud_cancel(w.c, a);
	cloud_cancel(w.c, a); /* twice: ignored */
	cloud_cancel(w.c, 12345);
	assert_int_equal(cloud_inflight(w.c), 1);
	event_base_dispatch(w.base);
	assert_int_equal(w.calls, 1);
	assert_true(w.ok);
	assert_int_equal(w.status, 200);
	assert_int_equal(cloud_inflight(w.c), 0);
	/* A shutdown: everything in flight goes, no callback runs. */
	t_call(&w);
	t_call(&w);
	assert_int_equal(cloud_inflight(w.c), 2);
	cloud_cancel_all(w.c);
	assert_int_equal(cloud_inflight(w.c), 0);
	event_base_dispatch(w.base);
	assert_int_equal(w.calls, 1);
	t_world_free(&w);
}

/* Two calls whose signing fails complete from the loop in order; the
 * first one's callback cancels the second, whose completion is already
 * queued: the second callback never runs. Then the same with the core
 * freed from a callback (a backend shutting down). */
static void
t_cancel_queued(void **state)
{
	struct t_world w;

	(void)state;
	t_world_init(&w, NULL);
	/* The first attempt of each fails. */
	w.prov.fail_at = 1;
	t_call(&w);
	w.prov.fail_at = 2;
	w.cancel_id = t_call(&w);
	assert_int_equal(w.prov.attempts, 2);
	assert_int_equal(w.calls, 0);
	event_base_dispatch(w.base);
	assert_int_equal(w.calls, 1);
	assert_int_equal(cloud_inflight(w.c), 0);

	w.calls = 0;
	w.cancel_id = 0;
	w.free_core = 1;
	w.prov.attempts = 0;
	w.prov.fail_at = 1;
	t_call(&w);
	w.prov.fail_at = 2;
	t_call(&w);
	event_base_dispatch(w.base);
	assert_int_equal(w.calls, 1);
	assert_null(w.c);
	t_world_free(&w);
}

/* Every attempt gets a 503: the call ends after the provider's three
 * attempts with the last answer, mapped to a 502. */
static void
t_retry_exhausted(void **state)
{
	static const char *const replies[] = { T_BUSY, T_BUSY, T_BUSY, T_OK,
		NULL };
	struct t_world w;

	(void)state;
	t_world_init(&w, replies);
	t_call(&w);
	event_base_dispatch(w.base);
	assert_int_equal(w.calls, 1);
	assert_false(w.ok);
	assert_int_equal(w.attempts, 3);
	assert_int_equal(w.prov.attempts, 3);
	assert_int_equal(w.ce.http_status, 503);
	assert_string_equal(w.ce.code, "Busy");
	assert_string_equal(w.ce.request_id, "r-busy");
	assert_int_equal(w.e.status, 502);
	assert_string_equal(
	    w.e.msg, "cloud error: Busy: try later (request id r-busy)");
	assert_int_equal(t_requests(w.log), 3);
	t_world_free(&w);
}

/* A 400 that the provider's table calls throttling is retried, signed
 * afresh, and the call succeeds. */
static void
t_throttle_retry(void **state)
{
	static const char *const replies[] = { T_THROTTLED, T_OK, NULL };
	struct t_world w;
	FILE *f;
	char line[256];
	int fake1 = 0, fake2 = 0;

	(void)state;
	t_world_init(&w, replies);
	t_call(&w);
	event_base_dispatch(w.base);
	assert_int_equal(w.calls, 1);
	assert_true(w.ok);
	assert_int_equal(w.attempts, 2);
	t_server_wait();
	assert_non_null(f = fopen(w.log, "r"));
	while (fgets(line, sizeof(line), f) != NULL) {
		fake1 += strcmp(line, "Authorization: Fake 1\r\n") == 0;
		fake2 += strcmp(line, "Authorization: Fake 2\r\n") == 0;
	}
	fclose(f);
	assert_int_equal(fake1, 1);
	assert_int_equal(fake2, 1);
	t_world_free(&w);
}

static void
t_map(
    int status, const char *code, int throttled, int want, const char *want_msg)
{
	struct cloud_error ce;
	struct err e;

	memset(&ce, 0, sizeof(ce));
	ce.http_status = status;
	str_lcpy(ce.code, code, sizeof(ce.code));
	str_lcpy(ce.message, "m", sizeof(ce.message));
	ce.throttled = throttled;
	cloud_error_to_err(&t_provider, &ce, &e);
	assert_int_equal(e.status, want);
	if (want_msg != NULL)
		assert_string_equal(e.msg, want_msg);
}

/* The table decides, after transport errors, throttling and 404; then
 * the defaults. */
static void
t_errmap(void **state)
{
	struct cloud_error ce;

	(void)state;
	t_map(0, "", 0, 502, "cloud unreachable: m");
	t_map(429, "Anything", 0, 503,
	    "cloud throttled the request: Anything: m");
	t_map(400, "Throttled", 1, 503, NULL);
	t_map(404, "BadInput", 0, 404, "BadInput: m");
	t_map(500, "ThingMissing", 0, 404, "ThingMissing: m");
	t_map(400, "BadInput", 0, 400, "BadInput: m");
	t_map(500, "BadInput", 0, 502, "cloud error: BadInput: m");
	t_map(409, "Exists", 0, 409, "Exists: m");
	t_map(403, "Exists", 0, 500, NULL);
	t_map(403, "Denied", 0, 500, "cloud rejected the request: Denied: m");
	t_map(503, "HTTP503", 0, 502, NULL);
	/* The request id ends the message. */
	memset(&ce, 0, sizeof(ce));
	ce.http_status = 400;
	str_lcpy(ce.code, "BadInput", sizeof(ce.code));
	str_lcpy(ce.request_id, "r-1", sizeof(ce.request_id));
	cloud_error_classify(&t_provider, &ce);
	assert_int_equal(ce.throttled, 0);
	assert_int_equal(cloud_error_kind(&t_provider, &ce), CLOUD_ERR_INVALID);
	str_lcpy(ce.code, "Throttled", sizeof(ce.code));
	cloud_error_classify(&t_provider, &ce);
	assert_int_equal(ce.throttled, 1);
	ce.http_status = 429;
	str_lcpy(ce.code, "Other", sizeof(ce.code));
	ce.throttled = 0;
	cloud_error_classify(&t_provider, &ce);
	assert_int_equal(ce.throttled, 1);
	/* No table at all: the defaults alone. */
	ce.http_status = 404;
	ce.throttled = 0;
	assert_int_equal(cloud_error_kind(NULL, &ce), CLOUD_ERR_NOT_FOUND);
	ce.http_status = 400;
	assert_int_equal(cloud_error_kind(NULL, &ce), CLOUD_ERR_REJECTED);
}

/* The blocking wrapper: success, a mapped error, a signing failure, and
 * a body that is not JSON (an error unless the call is raw). */
static void
t_sync(void **state)
{
	static const char *const replies[] = { T_THROTTLED, T_OK, T_MISSING,
		T_TEXT, T_TEXT, NULL };
	struct cloud_call_spec s;
	struct t_world w;
	struct cloud *c;
	cJSON *out;
	struct err e;

	(void)state;
	t_world_init(&w, replies);
	c = cloud_new(NULL, NULL, &t_provider, &w.prov);
	t_spec(&s, &w);
	assert_int_equal(cloud_call_sync(c, &s, &out, &e), 0);
	assert_true(json_bool(out, "ok", 0));
	assert_int_equal(w.prov.attempts, 2);
	cJSON_Delete(out);
	t_spec(&s, &w);
	assert_int_equal(cloud_call_sync(c, &s, &out, &e), -1);
	assert_null(out);
	assert_int_equal(e.status, 404);
	assert_string_equal(e.msg, "ThingMissing: no such thing");
	t_spec(&s, &w);
	assert_int_equal(cloud_call_sync(c, &s, &out, &e), -1);
	assert_int_equal(e.status, 500);
	assert_string_equal(e.msg, "InvalidResponse: response is not JSON");
	t_spec(&s, &w);
	s.raw = 1;
	assert_int_equal(cloud_call_sync(c, &s, &out, &e), 0);
	assert_null(out);
	w.prov.attempts = 0;
	w.prov.fail_at = 1;
	t_spec(&s, &w);
	assert_int_equal(cloud_call_sync(c, &s, &out, &e), -1);
	assert_int_equal(e.status, 502);
	assert_string_equal(e.msg, "cloud unreachable: token expired");
	t_server_wait();
	assert_int_equal(t_requests(w.log), 5);
	cloud_free(c);
	t_world_free(&w);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(t_sign_fails_first),
		cmocka_unit_test_teardown(t_sign_fails_retry, t_teardown),
		cmocka_unit_test_teardown(t_cancel_inflight, t_teardown),
		cmocka_unit_test(t_cancel_queued),
		cmocka_unit_test_teardown(t_retry_exhausted, t_teardown),
		cmocka_unit_test_teardown(t_throttle_retry, t_teardown),
		cmocka_unit_test(t_errmap),
		cmocka_unit_test_teardown(t_sync, t_teardown),
	};

	json_init();
	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
