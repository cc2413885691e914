/* httpsrv under connection stress (issue 10, slice conn): half-closed
 * requests are answered, a stream whose source fails is cut short rather
 * than completed, the listen backlog takes a burst, and stalled or idle
 * connections make room for a new request. Unix sockets only, so the test
 * needs no port. */
#include <sys/socket.h>
#include <sys/un.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <event2/event.h>

#include "sockerless/httpsrv.h"
#include "sockerless/str.h"
#include "sockerless/xmalloc.h"

struct fixture {
	struct event_base *base;
	struct httpsrv *srv;
	char path[108];
	int handled;
};

/* Answers after a delay, as the frontend's relay to the backend does. */
static void
later_cb(evutil_socket_t fd, short what, void *arg)
{
	struct httpsrv_req *r = arg;
	size_t len;
	const char *body = httpsrv_req_body(r, &len);
	char *s;

	(void)fd;
	(void)what;
	s = xasprintf("%s %s body=%.*s", httpsrv_req_method(r),
	    httpsrv_req_path(r), (int)len, body);
	httpsrv_reply(r, 200, "text/plain", s, strlen(s));
	free(s);
}

static void
abort_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	httpsrv_stream_abort(arg);
}

static void
end_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	httpsrv_stream_end(arg);
}

static void
ev_free(void *ev)
{
	event_free(ev);
}

/* The timer is the request's data: freed with it, also when the client
 * goes away first. */
static void
handler(struct httpsrv_req *r, void *arg)
{
	struct fixture *f = arg;
	const char *path = httpsrv_req_path(r);
	struct timeval tv = { 0, 50000 };
	event_callback_fn fn = later_cb;
	struct event *ev;

	f->handled++;
	if (strcmp(path, "/sync") == 0) {
		httpsrv_reply(r, 200, "text/plain", "GET /sync now", 13);
		return;
	}
	if (strcmp(path, "/abort") == 0 || strcmp(path, "/end") == 0) {
		httpsrv_stream_begin(r, 200, "text/plain");
		httpsrv_stream_write(r, "one\n", 4);
		fn = strcmp(path, "/abort") == 0 ? abort_cb : end_cb;
	}
	ev = evtimer_new(f->base, fn, r);
	httpsrv_req_set_data(r, ev, ev_free);
	evtimer_add(ev, &tv);
}

static int
setup_limits(void **state, int max_conns, int header_timeout_s)
{
	struct fixture *f = xcalloc(1, sizeof(*f));
	struct httpsrv_limits lim = {
		.max_header_bytes = 64 * 1024,
		.max_body_bytes = 64 * 1024 * 1024,
		.idle_timeout_s = 300,
		.max_conns = max_conns,
		.header_timeout_s = header_timeout_s,
	};
	struct err e;

	f->base = event_base_new();
	f->srv = httpsrv_new(f->base, handler, f);
	httpsrv_set_limits(f->srv, &lim);
	snprintf(f->path, sizeof(f->path), "/tmp/t_hard_conn.%d.sock",
	    (int)getpid());
	if (httpsrv_listen_unix(f->srv, f->path, 0600, &e) == -1)
		fail_msg("listen: %s", e.msg);
	*state = f;
	return 0;
}

static int
setup(void **state)
{
	return setup_limits(state, 4096, 30);
}

static int
setup_small(void **state)
{
	return setup_limits(state, 8, 1);
}

static int
teardown(void **state)
{
	struct fixture *f = *state;

	httpsrv_free(f->srv);
	event_base_free(f->base);
	unlink(f->path);
	free(f);
	return 0;
}

/* Runs the server's loop for ms milliseconds. */
static void
spin(struct fixture *f, int ms)
{
	struct timeval tv = { ms / 1000, (ms % 1000) * 1000 };

	event_base_loopexit(f->base, &tv);
	event_base_dispatch(f->base);
}

static int
dial(struct fixture *f, int nonblock)
{
	struct sockaddr_un sun;
	int fd =
	    socket(AF_UNIX, SOCK_STREAM | (nonblock ? SOCK_NONBLOCK : 0), 0);

	assert_true(fd >= 0);
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	str_lcpy(sun.sun_path, f->path, sizeof(sun.sun_path));
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == -1) {
		close(fd);
		return -1;
	}
	return fd;
}

static void
send_all(int fd, const char *s)
{
	assert_int_equal(write(fd, s, strlen(s)), (ssize_t)strlen(s));
}

/* Reads what the server sent until it closed or ms passed, spinning the
 * loop in between. Returns a malloc'd string; *closed tells whether EOF
 * was seen. */
static char *
drain(struct fixture *f, int fd, int ms, int *closed)
{
	char *out = xcalloc(1, 1), tmp[4096];
	size_t n = 0;
	ssize_t k;

	*closed = 0;
	fcntl(fd, F_SETFL, O_NONBLOCK);
	for (int t = 0; t < ms && !*closed; t += 10) {
		spin(f, 10);
		while ((k = read(fd, tmp, sizeof(tmp))) > 0) {
			out = xrealloc(out, n + (size_t)k + 1);
			memcpy(out + n, tmp, (size_t)k);
			n += (size_t)k;
			out[n] = '\0';
		}
		if (k == 0 || (k == -1 && errno != EAGAIN))
			*closed = 1;
	}
	return out;
}

/* One client round: dial, send req whole (then shut the write side down
 * if half_close), read the answer for up to ms, hang up. Returns what
 * drain() returns. */
static char *
ask(struct fixture *f, const char *req, int half_close, int ms, int *closed)
{
	int fd = dial(f, 0);
	char *out;

	assert_true(fd >= 0);
	send_all(fd, req);
	if (half_close)
		shutdown(fd, SHUT_WR);
	out = drain(f, fd, ms, closed);
	close(fd);
	return out;
}

/* Each request is sent whole, then the client shuts down its write side
 * (nc -N): the answer must still come (before: the connection was freed
 * at the read EOF with the request in flight, and nothing came back). */
static void
t_half_close(void **state)
{
	static const char *reqs[] = {
		"GET /containers/json HTTP/1.1\r\nHost: d\r\n\r\n",
		"POST /containers/create HTTP/1.1\r\nHost: d\r\n"
		"Content-Type: application/json\r\nContent-Length: 7\r\n\r\n"
		"{\"a\":1}",
		"POST /build HTTP/1.1\r\nHost: d\r\n"
		"Transfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n"
		"0\r\n\r\n",
		"GET /version HTTP/1.0\r\n\r\n",
		"GET /sync HTTP/1.1\r\nHost: d\r\n\r\n",
	};
	static const char *want[] = { "GET /containers/json body=",
		"POST /containers/create body={\"a\":1}",
		"POST /build body=abcde",
		"GET /version body=", "GET /sync now" };
	struct fixture *f = *state;

	for (size_t i = 0; i < sizeof(reqs) / sizeof(reqs[0]); i++) {
		int closed;
		char *out = ask(f, reqs[i], 1, 2000, &closed);

		if (strstr(out, want[i]) == NULL)
			fail_msg("request %zu: got [%s]", i, out);
		assert_true(str_prefix(out, "HTTP/1.1 200"));
		assert_true(closed);
		free(out);
	}
}

/* Two pipelined requests and a half-close: both are answered in order. */
static void
t_half_close_pipelined(void **state)
{
	struct fixture *f = *state;
	int closed;
	char *out, *a, *b;

	out = ask(f,
	    "GET /one HTTP/1.1\r\nHost: d\r\n\r\n"
	    "GET /two HTTP/1.1\r\nHost: d\r\n\r\n",
	    1, 2000, &closed);
	a = strstr(out, "GET /one");
	b = strstr(out, "GET /two");
	if (a == NULL || b == NULL || b < a)
		fail_msg("got [%s]", out);
	assert_true(closed);
	free(out);
}

/* A client that closes both directions is gone: its request is dropped,
 * not answered into the void, and the server keeps serving. */
static void
t_full_close_drops(void **state)
{
	struct fixture *f = *state;
	int fd = dial(f, 0), closed;
	char *out;

	send_all(fd, "GET /gone HTTP/1.1\r\nHost: d\r\n\r\n");
	spin(f, 5);
	close(fd);
	spin(f, 200);
	assert_int_equal(f->handled, 1);
	out =
	    ask(f, "GET /next HTTP/1.1\r\nHost: d\r\nConnection: close\r\n\r\n",
		0, 2000, &closed);
	assert_non_null(strstr(out, "GET /next"));
	free(out);
}

/* A stream whose source fails ends without the terminating chunk, so the
 * client can tell it from a complete one (defect 7); a normal end keeps
 * it. */
static void
t_stream_abort(void **state)
{
	struct fixture *f = *state;
	int closed;
	char *out;

	out =
	    ask(f, "GET /abort HTTP/1.1\r\nHost: d\r\n\r\n", 0, 2000, &closed);
	assert_non_null(strstr(out, "Transfer-Encoding: chunked"));
	assert_non_null(strstr(out, "4\r\none\n\r\n"));
	if (strstr(out, "\r\n0\r\n\r\n") != NULL)
		fail_msg("an aborted stream looks complete: [%s]", out);
	assert_true(closed);
	free(out);
	out =
	    ask(f, "GET /end HTTP/1.1\r\nHost: d\r\nConnection: close\r\n\r\n",
		0, 2000, &closed);
	assert_non_null(strstr(out, "4\r\none\n\r\n0\r\n\r\n"));
	free(out);
}

/* 1,000 connects at once while the server is not accepting: the listen
 * backlog must take them all (before: 128, so a unix connect beyond it
 * failed with EAGAIN). */
static void
t_backlog_burst(void **state)
{
	struct fixture *f = *state;
	enum { N = 1000 };
	int fds[N], failed = 0, closed;
	char *out;

	for (int i = 0; i < N; i++)
		if ((fds[i] = dial(f, 1)) == -1)
			failed++;
	assert_int_equal(failed, 0);
	/* And all of them are served. */
	for (int i = 0; i < N; i += 97) {
		fcntl(fds[i], F_SETFL, 0);
		send_all(fds[i],
		    "GET /burst HTTP/1.1\r\nHost: d\r\nConnection: close\r\n\r\n");
	}
	for (int i = 0; i < N; i++) {
		if (i % 97 == 0) {
			out = drain(f, fds[i], 3000, &closed);
			assert_non_null(strstr(out, "GET /burst"));
			free(out);
		}
		close(fds[i]);
	}
}

/* At the limit (8 here), stalled connections (a head sent byte by byte,
 * or nothing yet) make room: a new request is answered at once. And the
 * head deadline (1 s) closes a slowloris however often it trickles. */
static void
t_limit_sheds_stalled(void **state)
{
	struct fixture *f = *state;
	enum { N = 12 };
	int fds[N], closed, alive = 0;
	char *out;

	for (int i = 0; i < N; i++) {
		fds[i] = dial(f, 0);
		assert_true(fds[i] >= 0);
		if (i % 2 == 0)
			send_all(fds[i], "GET /slow HTTP/1.1\r\nX-A: ");
		spin(f, 5);
	}
	out = ask(f,
	    "GET /fresh HTTP/1.1\r\nHost: d\r\nConnection: close\r\n\r\n", 0,
	    500, &closed);
	if (strstr(out, "GET /fresh") == NULL)
		fail_msg("a new request at the limit got [%s]", out);
	free(out);
	/* Trickle a header byte every 100 ms for 2 s: the head deadline
	 * still ends every one of them. */
	for (int t = 0; t < 20; t++) {
		for (int i = 0; i < N; i++)
			if (fds[i] >= 0 &&
			    send(fds[i], "a", 1, MSG_NOSIGNAL) != 1) {
				close(fds[i]);
				fds[i] = -1;
			}
		spin(f, 100);
	}
	for (int i = 0; i < N; i++) {
		if (fds[i] < 0)
			continue;
		fcntl(fds[i], F_SETFL, O_NONBLOCK);
		out = drain(f, fds[i], 100, &closed);
		if (!closed)
			alive++;
		/* A trickled head gets a 408 when its time is up. */
		if (out[0] != '\0' && !str_prefix(out, "HTTP/1.1 408"))
			fail_msg("stalled connection got [%s]", out);
		free(out);
		close(fds[i]);
	}
	assert_int_equal(alive, 0);
}

/* At the limit with every connection busy (requests in flight), accepting
 * pauses; it resumes when one ends, and the waiting client is served. */
static void
t_limit_busy_waits(void **state)
{
	struct fixture *f = *state;
	enum { N = 8 };
	int fds[N], closed;
	char *out;

	for (int i = 0; i < N; i++) {
		fds[i] = dial(f, 0);
		send_all(fds[i], "GET /busy HTTP/1.1\r\nHost: d\r\n\r\n");
	}
	spin(f, 10);
	/* The busy ones are answered within 50 ms and then idle: they make
	 * room, and the waiting request is answered. */
	out = ask(f,
	    "GET /waits HTTP/1.1\r\nHost: d\r\nConnection: close\r\n\r\n", 0,
	    2000, &closed);
	assert_non_null(strstr(out, "GET /waits"));
	free(out);
	for (int i = 0; i < N; i++)
		close(fds[i]);
}

/* A body of many reads arrives whole (the head deadline and the body's
 * stall timeout must not get in its way; it grows geometrically, as a
 * 17 MiB docker cp took minutes under ASan with exact growth). */
static void
t_large_body(void **state)
{
	struct fixture *f = *state;
	size_t n = 10000000;
	char *head =
	    xasprintf("PUT /sync HTTP/1.1\r\nHost: d\r\n"
		      "Connection: close\r\nContent-Length: %zu\r\n\r\n",
		n);
	char *body = xmalloc(n);
	int fd = dial(f, 1), closed;
	size_t off = 0;
	char *out;

	memset(body, 'x', n);
	send_all(fd, head);
	while (off < n) {
		ssize_t k = write(fd, body + off, n - off);

		if (k > 0)
			off += (size_t)k;
		spin(f, 1);
	}
	out = drain(f, fd, 3000, &closed);
	if (!str_prefix(out, "HTTP/1.1 200"))
		fail_msg("got [%s]", out);
	free(out);
	free(body);
	free(head);
	close(fd);
}

/* Every test gets a server of its own, with the default or small limits. */
#define T_SERVER(t) cmocka_unit_test_setup_teardown(t, setup, teardown)
#define T_SMALL(t)  cmocka_unit_test_setup_teardown(t, setup_small, teardown)

int
main(void)
{
	const struct CMUnitTest tests[] = {
		T_SERVER(t_half_close),
		T_SERVER(t_half_close_pipelined),
		T_SERVER(t_full_close_drops),
		T_SERVER(t_stream_abort),
		T_SERVER(t_backlog_burst),
		T_SERVER(t_large_body),
		T_SMALL(t_limit_sheds_stalled),
		T_SMALL(t_limit_busy_waits),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
