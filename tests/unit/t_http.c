/* httpsrv, httpcli, router and splice against each other on loopback. */
#include <sys/socket.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "sockerless/httpcli.h"
#include "sockerless/httpsrv.h"
#include "sockerless/json.h"
#include "sockerless/router.h"
#include "sockerless/splice.h"
#include "sockerless/str.h"
#include "sockerless/xmalloc.h"

#define BIG_LEN (1024 * 1024)

struct fixture {
	struct event_base *base;
	struct httpsrv *srv;
	struct httpcli *cli;
	int port;
	int fails_left;		   /* /flaky answers 503 this many times */
	struct httpcli_resp *resp; /* last client response (copied) */
	int status;
	char *body;
	int attempts;
	struct splice *sp;
	struct bufferevent *echo; /* far end of the hijack splice */
	/* The on_data tests: what arrived, and what the callback does. */
	size_t data_n, data_calls;
	int data_bad;	  /* a byte was not the pattern /big sends */
	int data_cancel;  /* cancel the request from the first call */
	int data_stop;	  /* return -1 from the first call */
	uint64_t data_id; /* the request, for the cancel */
	char error[256];  /* the last response's transport error */
	/* httpcli_send_owned: arg_free's runs, and the status then. */
	int freed, status_at_free;
};

static void
on_stream_tick(evutil_socket_t fd, short what, void *arg)
{
	struct httpsrv_req *r = arg;

	(void)fd;
	(void)what;
	httpsrv_stream_write(r, "two\n", 4);
	httpsrv_stream_end(r);
}

static void
echo_done(void *arg)
{
	struct fixture *f = arg;

	f->sp = NULL;
}

static void
handler(struct httpsrv_req *r, void *arg)
{
	struct fixture *f = arg;
	const char *path = httpsrv_req_path(r);
	size_t len;
	const char *body;

	if (strcmp(path, "/hello") == 0) {
		const char *n = httpsrv_req_query(r, "name");
		char *s = xasprintf("hello %s", n != NULL ? n : "?");

		httpsrv_add_header(r, "X-Test", "1");
		/* Taken and small: copied, then freed. */
		httpsrv_reply_take(r, 200, "text/plain", s, strlen(s));
	} else if (strcmp(path, "/echo") == 0) {
		body = httpsrv_req_body(r, &len);
		httpsrv_reply(r, 200, "application/octet-stream", body, len);
	} else if (strcmp(path, "/stream") == 0) {
		struct timeval tv = { 0, 10000 };

		httpsrv_stream_begin(r, 200, "text/plain");
		httpsrv_stream_write(r, "one\n", 4);
		event_base_once(
		    f->base, -1, EV_TIMEOUT, on_stream_tick, r, &tv);
	} else if (strcmp(path, "/big") == 0) {
		char *big = xmalloc(BIG_LEN);

		for (size_t i = 0; i < BIG_LEN; i++)
			big[i] = (char)('a' + i % 26);
		/* Taken: sent from where it is (a reference), then freed. */
		httpsrv_reply_take(
		    r, 200, "application/octet-stream", big, BIG_LEN);
	} else if (strcmp(path, "/flaky") == 0) {
		if (f->fails_left-- > 0) {
			httpsrv_add_header(r, "Retry-After", "0");
			httpsrv_reply_error(r, 503, "try again");
		} else
			httpsrv_reply(r, 200, "text/plain", "ok", 2);
	} else if (strcmp(path, "/hijack") == 0) {
		struct bufferevent *bev = httpsrv_hijack(r, "application/x");
		struct bufferevent *pair[2];

		/* The connection is spliced to one end of a pair; the test
		 * reads and writes the other end. */
		bufferevent_pair_new(f->base, BEV_OPT_CLOSE_ON_FREE, pair);
		f->sp = splice_new(bev, pair[0], echo_done, f);
		bufferevent_enable(pair[1], EV_READ | EV_WRITE);
		f->echo = pair[1];
	} else
		httpsrv_reply_error(r, 404, "page not found: %s", path);
}

static int
setup(void **state)
{
	struct fixture *f = xcalloc(1, sizeof(*f));
	struct err e;

	f->base = event_base_new();
	f->srv = httpsrv_new(f->base, handler, f);
	assert_int_equal(httpsrv_listen_tcp(f->srv, NULL, 0, &e), 0);
	f->port = httpsrv_bound_port(f->srv);
	assert_true(f->port > 0);
	f->cli = httpcli_new(f->base);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;

	httpcli_free(f->cli);
	httpsrv_free(f->srv);
	event_base_free(f->base);
	free(f);
	return 0;
}

static void
got(struct httpcli_resp *resp, void *arg)
{
	struct fixture *f = arg;

	f->status = resp->status;
	if (resp->status == 0)
		fprintf(stderr, "transport error: %s\n", resp->error);
	free(f->body);
	f->body = xstrndup(resp->body, resp->body_len);
	f->attempts = resp->attempts;
	str_lcpy(f->error, resp->error, sizeof(f->error));
	event_base_loopbreak(f->base);
}

static void
call(struct fixture *f, struct httpcli_req *r)
{
	f->status = -1;
	httpcli_send(f->cli, r, got, f);
	event_base_dispatch(f->base);
}

static char *
url(struct fixture *f, const char *path)
{
	return xasprintf("http://127.0.0.1:%d%s", f->port, path);
}

static void
owned_free(void *arg)
{
	struct fixture *f = arg;

	f->freed++;
	f->status_at_free = f->status;
}

/* An owned arg is freed once: after the callback, or without it when the
 * request is cancelled or the client freed with it in flight. */
static void
t_send_owned(void **state)
{
	struct fixture *f = *state;
	char *u = url(f, "/hello?name=x");

	f->status = -1;
	httpcli_send_owned(
	    f->cli, httpcli_req_new("GET", u), got, f, owned_free);
	assert_int_equal(f->freed, 0);
	event_base_dispatch(f->base);
	assert_int_equal(f->status, 200);
	assert_int_equal(f->freed, 1);
	assert_int_equal(f->status_at_free, 200);
	f->status = -1;
	httpcli_cancel(f->cli,
	    httpcli_send_owned(
		f->cli, httpcli_req_new("GET", u), got, f, owned_free));
	assert_int_equal(f->freed, 2);
	httpcli_send_owned(
	    f->cli, httpcli_req_new("GET", u), got, f, owned_free);
	httpcli_free(f->cli);
	assert_int_equal(f->freed, 3);
	f->cli = httpcli_new(f->base);
	event_base_loop(f->base, EVLOOP_NONBLOCK);
	assert_int_equal(f->status, -1);
	assert_int_equal(f->freed, 3);
	free(u);
	free(f->body);
	f->body = NULL;
}

static void
t_get_query(void **state)
{
	struct fixture *f = *state;
	char *u = url(f, "/hello?name=a%20b+c");

	call(f, httpcli_req_new("GET", u));
	assert_int_equal(f->status, 200);
	assert_string_equal(f->body, "hello a b c");
	free(u);
	free(f->body);
	f->body = NULL;
}

static void
t_post_body_and_chunked(void **state)
{
	struct fixture *f = *state;
	char *u = url(f, "/echo");
	struct httpcli_req *r = httpcli_req_new("POST", u);

	httpcli_req_body(r, "payload", 7);
	call(f, r);
	assert_int_equal(f->status, 200);
	assert_string_equal(f->body, "payload");
	r = httpcli_req_new("POST", u);
	httpcli_req_header(r, "Transfer-Encoding", "chunked");
	httpcli_req_body(r, "chunked-payload", 15);
	call(f, r);
	if (f->status != 200)
		fprintf(stderr, "body: %s\n", f->body);
	assert_int_equal(f->status, 200);
	assert_string_equal(f->body, "chunked-payload");
	free(u);
	free(f->body);
	f->body = NULL;
}

static void
t_stream_and_404(void **state)
{
	struct fixture *f = *state;
	char *u = url(f, "/stream");

	call(f, httpcli_req_new("GET", u));
	assert_int_equal(f->status, 200);
	assert_string_equal(f->body, "one\ntwo\n");
	free(u);
	u = url(f, "/nope");
	call(f, httpcli_req_new("GET", u));
	assert_int_equal(f->status, 404);
	assert_non_null(strstr(f->body, "\"message\""));
	free(u);
	free(f->body);
	f->body = NULL;
}

static void
t_retry(void **state)
{
	struct fixture *f = *state;
	char *u = url(f, "/flaky");
	struct httpcli_req *r = httpcli_req_new("GET", u);

	f->fails_left = 2;
	call(f, r);
	assert_int_equal(f->status, 200);
	assert_int_equal(f->attempts, 3);
	f->fails_left = 5;
	r = httpcli_req_new("GET", u);
	httpcli_req_attempts(r, 2);
	call(f, r);
	assert_int_equal(f->status, 503);
	assert_int_equal(f->attempts, 2);
	free(u);
	free(f->body);
	f->body = NULL;
}

static int
on_data(void *arg, const void *p, size_t n)
{
	struct fixture *f = arg;
	const char *c = p;

	for (size_t i = 0; i < n; i++)
		if (c[i] != (char)('a' + (f->data_n + i) % 26))
			f->data_bad = 1;
	f->data_n += n;
	f->data_calls++;
	if (f->data_cancel) {
		httpcli_cancel(f->cli, f->data_id);
		return 0;
	}
	return f->data_stop ? -1 : 0;
}

static void
loop_timeout(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	event_base_loopbreak(arg);
}

static void
t_on_data(void **state)
{
	struct fixture *f = *state;
	char *u = url(f, "/big");
	struct httpcli_req *r = httpcli_req_new("GET", u);

	/* A 1 MiB body arrives in pieces, in order, none buffered. */
	httpcli_req_on_data(r, on_data, f);
	httpcli_req_max_response(r, 1024); /* buffered bodies only */
	call(f, r);
	assert_int_equal(f->status, 200);
	assert_int_equal(f->data_n, BIG_LEN);
	assert_true(f->data_calls > 1);
	assert_false(f->data_bad);
	assert_string_equal(f->body, "");
	/* An error's body is buffered for the response callback. */
	free(u);
	u = url(f, "/nope");
	r = httpcli_req_new("GET", u);
	f->data_n = 0;
	httpcli_req_on_data(r, on_data, f);
	call(f, r);
	assert_int_equal(f->status, 404);
	assert_int_equal(f->data_n, 0);
	assert_non_null(strstr(f->body, "page not found"));
	/* -1 stops the transfer: status 0 with a sentence, no retry. */
	free(u);
	u = url(f, "/big");
	r = httpcli_req_new("GET", u);
	f->data_n = f->data_calls = 0;
	f->data_stop = 1;
	httpcli_req_on_data(r, on_data, f);
	call(f, r);
	assert_int_equal(f->status, 0);
	assert_int_equal(f->attempts, 1);
	assert_int_equal(f->data_calls, 1);
	assert_non_null(strstr(f->error, "stopped by the data callback"));
	free(u);
	free(f->body);
	f->body = NULL;
}

static void
t_on_data_cancel(void **state)
{
	struct fixture *f = *state;
	char *u = url(f, "/big");
	struct httpcli_req *r = httpcli_req_new("GET", u);
	struct timeval tv = { 0, 300000 };

	/* Cancelled from inside its first data callback: nothing more is
	 * delivered, the response callback never runs, nothing leaks (ASan),
	 * and the client goes on serving other requests. */
	httpcli_req_on_data(r, on_data, f);
	f->data_cancel = 1;
	f->status = -1;
	f->data_id = httpcli_send(f->cli, r, got, f);
	event_base_once(f->base, -1, EV_TIMEOUT, loop_timeout, f->base, &tv);
	event_base_dispatch(f->base);
	assert_int_equal(f->status, -1);
	assert_int_equal(f->data_calls, 1);
	assert_true(f->data_n < BIG_LEN);
	httpcli_cancel(f->cli, f->data_id); /* a second cancel: ignored */
	free(u);
	u = url(f, "/hello?name=x");
	call(f, httpcli_req_new("GET", u));
	assert_int_equal(f->status, 200);
	assert_string_equal(f->body, "hello x");
	free(u);
	free(f->body);
	f->body = NULL;
}

/* Sends raw bytes on a new TCP connection while the loop runs, returns
 * what the server wrote until it closed or timeout. */
struct raw {
	struct fixture *f;
	struct bufferevent *bev;
	struct buf_s {
		char data[8192];
		size_t n;
	} in;
	int closed;
};

static void
raw_read(struct bufferevent *bev, void *arg)
{
	struct raw *rw = arg;
	size_t n = bufferevent_read(
	    bev, rw->in.data + rw->in.n, sizeof(rw->in.data) - 1 - rw->in.n);

	rw->in.n += n;
	rw->in.data[rw->in.n] = '\0';
}

static void
raw_event(struct bufferevent *bev, short what, void *arg)
{
	struct raw *rw = arg;

	(void)bev;
	if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR)) {
		rw->closed = 1;
		event_base_loopbreak(rw->f->base);
	}
}

static void
raw_timeout(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	event_base_loopbreak(arg);
}

static void
raw_exchange(
    struct fixture *f, struct raw *rw, const char *send, size_t n, int ms)
{
	if (n == (size_t)-1)
		n = strlen(send);
	struct sockaddr_in sin;
	struct timeval tv = { ms / 1000, (ms % 1000) * 1000 };

	if (rw->bev == NULL) {
		memset(rw, 0, sizeof(*rw));
		rw->f = f;
		memset(&sin, 0, sizeof(sin));
		sin.sin_family = AF_INET;
		sin.sin_port = htons((uint16_t)f->port);
		sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		rw->bev =
		    bufferevent_socket_new(f->base, -1, BEV_OPT_CLOSE_ON_FREE);
		bufferevent_setcb(rw->bev, raw_read, NULL, raw_event, rw);
		bufferevent_enable(rw->bev, EV_READ | EV_WRITE);
		assert_int_equal(bufferevent_socket_connect(rw->bev,
				     (struct sockaddr *)&sin, sizeof(sin)),
		    0);
	}
	bufferevent_write(rw->bev, send, n);
	event_base_once(f->base, -1, EV_TIMEOUT, raw_timeout, f->base, &tv);
	event_base_dispatch(f->base);
}

static void
t_bad_requests(void **state)
{
	struct fixture *f = *state;
	struct raw rw = { 0 };
	char *big;

	raw_exchange(f, &rw, "GARBAGE\r\n\r\n", (size_t)-1, 1000);
	assert_true(str_prefix(rw.in.data, "HTTP/1.1 400") ||
	    str_prefix(rw.in.data, "HTTP/1.0 400"));
	bufferevent_free(rw.bev);
	rw.bev = NULL;
	raw_exchange(f, &rw, "POST /echo HTTP/1.1\r\nContent-Length: x\r\n\r\n",
	    (size_t)-1, 1000);
	assert_true(str_prefix(rw.in.data, "HTTP/1.1 400"));
	bufferevent_free(rw.bev);
	rw.bev = NULL;
	big = xmalloc(70000);
	memset(big, 'a', 70000);
	memcpy(big, "GET /x HTTP/1.1\r\nX: ", 20);
	raw_exchange(f, &rw, big, 70000, 1000);
	if (!str_prefix(rw.in.data, "HTTP/1.1 431"))
		fprintf(stderr, "got [%s] closed=%d\n", rw.in.data, rw.closed);
	assert_true(str_prefix(rw.in.data, "HTTP/1.1 431"));
	free(big);
	bufferevent_free(rw.bev);
	rw.bev = NULL;
	/* Keep-alive: two pipelined requests, both answered. */
	raw_exchange(f, &rw,
	    "GET /hello?name=1 HTTP/1.1\r\nHost: x\r\n\r\n"
	    "GET /hello?name=2 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
	    (size_t)-1, 1000);
	assert_non_null(strstr(rw.in.data, "hello 1"));
	assert_non_null(strstr(rw.in.data, "hello 2"));
	assert_true(
	    strstr(rw.in.data, "hello 1") < strstr(rw.in.data, "hello 2"));
	assert_true(rw.closed);
	bufferevent_free(rw.bev);
	rw.bev = NULL;
	rw.in.n = 0;
	/* Answers of pipelined requests read together go out together, in
	 * order, one answered later (a stream) among them. */
	raw_exchange(f, &rw,
	    "GET /hello?name=1 HTTP/1.1\r\nHost: x\r\n\r\n"
	    "GET /stream HTTP/1.1\r\nHost: x\r\n\r\n"
	    "GET /hello?name=3 HTTP/1.1\r\nHost: x\r\n\r\n"
	    "GET /hello?name=4 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
	    (size_t)-1, 1000);
	{
		const char *a = strstr(rw.in.data, "hello 1");
		const char *b = strstr(rw.in.data, "one\n");
		const char *c = strstr(rw.in.data, "two\n");
		const char *d = strstr(rw.in.data, "hello 3");
		const char *e = strstr(rw.in.data, "hello 4");

		assert_non_null(a);
		assert_non_null(b);
		assert_non_null(c);
		assert_non_null(d);
		assert_non_null(e);
		assert_true(a < b && b < c && c < d && d < e);
	}
	assert_true(rw.closed);
	bufferevent_free(rw.bev);
}

static void
t_hijack_splice(void **state)
{
	struct fixture *f = *state;
	struct raw rw = { 0 };
	struct bufferevent *echo;
	struct evbuffer *tmp;

	raw_exchange(f, &rw,
	    "POST /hijack HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\n"
	    "Upgrade: tcp\r\n\r\nearly",
	    (size_t)-1, 300);
	assert_true(str_prefix(rw.in.data, "HTTP/1.1 101 UPGRADED"));
	assert_non_null(strstr(rw.in.data, "Upgrade: tcp"));
	/* "early" went through the splice to the pair's far end. */
	echo = f->echo;
	tmp = evbuffer_new();
	bufferevent_read_buffer(echo, tmp);
	assert_int_equal(evbuffer_get_length(tmp), 5);
	/* Reply from the far end reaches the client. */
	rw.in.n = 0;
	bufferevent_write(echo, "back", 4);
	raw_exchange(f, &rw, "", 0, 200);
	assert_string_equal(rw.in.data, "back");
	evbuffer_free(tmp);
	splice_free(f->sp);
	bufferevent_free(echo);
	bufferevent_free(rw.bev);
}

static void
t_router(void **state)
{
	static const struct router_route t[] = {
		{ "GET", "/containers/json", (void *)1, NULL },
		{ "GET", "/containers/{id}/json", (void *)2, NULL },
		{ "DELETE", "/containers/{id}", (void *)3, NULL },
		{ "GET", "/images/{name*}/json", (void *)4, "images" },
		{ "POST", "/images/{name*}/tag", (void *)5, NULL },
	};
	struct router_match m;

	(void)state;
	assert_int_equal(
	    router_match(t, 5, "GET", "/containers/json", &m), ROUTER_OK);
	assert_ptr_equal(m.route->handler, (void *)1);
	assert_int_equal(
	    router_match(t, 5, "GET", "/containers/abc/json", &m), ROUTER_OK);
	assert_string_equal(router_param(&m, "id"), "abc");
	assert_null(router_param(&m, "name"));
	assert_int_equal(router_match(t, 5, "POST", "/containers/abc", &m),
	    ROUTER_BAD_METHOD);
	assert_int_equal(router_match(t, 5, "GET", "/containers//json", &m),
	    ROUTER_NOT_FOUND);
	assert_int_equal(router_match(t, 5, "GET",
			     "/images/docker.io/library/busybox:1/json", &m),
	    ROUTER_OK);
	assert_string_equal(
	    router_param(&m, "name"), "docker.io/library/busybox:1");
	assert_int_equal(
	    router_match(t, 5, "POST", "/images/a/json/tag", &m), ROUTER_OK);
	assert_string_equal(router_param(&m, "name"), "a/json");
	assert_int_equal(
	    router_match(t, 5, "GET", "/images/json", &m), ROUTER_NOT_FOUND);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(t_router),
		cmocka_unit_test_setup_teardown(t_get_query, setup, teardown),
		cmocka_unit_test_setup_teardown(t_send_owned, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    t_post_body_and_chunked, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    t_stream_and_404, setup, teardown),
		cmocka_unit_test_setup_teardown(t_retry, setup, teardown),
		cmocka_unit_test_setup_teardown(t_on_data, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    t_on_data_cancel, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    t_bad_requests, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    t_hijack_splice, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
