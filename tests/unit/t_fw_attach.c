/* backend_ctr_attach_release: the one close-after-flush of a hijacked
 * client's stream (attach with stdin, exec, the logs attach). The client
 * gets every queued byte, then EOF, and a stream counted for wait holds
 * wait back until then (issue 12). */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "../../common/backend/backend_ctr.h"
#include "sockerless/json.h"

/* More than a socket buffer holds, so the release must wait for the
 * reader. */
#define T_BYTES	     (4 * 1024 * 1024)
#define T_DEADLINE_S 60

struct t_pair {
	struct event_base *base;
	struct bufferevent *bev; /* the daemon's side */
	int peer;		 /* the client's side */
};

static void
t_pair_open(struct t_pair *p)
{
	int fds[2];

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, fds), 0);
	assert_int_equal(fcntl(fds[1], F_SETFL, O_NONBLOCK), 0);
	p->base = event_base_new();
	assert_non_null(p->base);
	evutil_make_socket_nonblocking(fds[0]);
	p->bev = bufferevent_socket_new(p->base, fds[0], BEV_OPT_CLOSE_ON_FREE);
	assert_non_null(p->bev);
	bufferevent_enable(p->bev, EV_READ | EV_WRITE);
	p->peer = fds[1];
}

static void
t_pair_close(struct t_pair *p)
{
	close(p->peer);
	event_base_free(p->base);
}

static struct container *
t_ctr(void)
{
	cJSON *doc = cJSON_CreateObject();

	json_add_str(doc, "Name", "/t");
	return container_new("f00d000000000000000000000000000000000000000000"
			     "000000000000000000",
	    doc);
}

static void
t_queue(struct bufferevent *bev, size_t n)
{
	char *buf = malloc(n);

	assert_non_null(buf);
	for (size_t i = 0; i < n; i++)
		buf[i] = (char)(i % 251);
	assert_int_equal(bufferevent_write(bev, buf, n), 0);
	free(buf);
}

/* Runs the loop and reads the client's side until EOF (or the deadline,
 * which fails the test); returns the bytes read and checks them. */
static size_t
t_drain_to_eof(struct t_pair *p)
{
	char buf[65536];
	size_t total = 0;
	time_t deadline = time(NULL) + T_DEADLINE_S;

	for (;;) {
		ssize_t n = read(p->peer, buf, sizeof(buf));
		if (n == 0)
			return total;
		if (n > 0) {
			for (ssize_t i = 0; i < n; i++)
				assert_int_equal((unsigned char)buf[i],
				    (unsigned char)((total + (size_t)i) % 251));
			total += (size_t)n;
			continue;
		}
		assert_true(errno == EAGAIN || errno == EWOULDBLOCK);
		assert_true(time(NULL) < deadline);
		event_base_loop(p->base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
	}
}

/* A counted stream stays open for wait until its last byte is written,
 * then the client sees EOF and wait may answer. */
static void
t_release_counted_waits_for_flush(void **state)
{
	struct t_pair p;
	struct container *c = t_ctr();

	(void)state;
	t_pair_open(&p);
	backend_ctr_attach_open(c);
	assert_int_equal(c->waiters->attached, 1);
	t_queue(p.bev, T_BYTES);
	backend_ctr_attach_release(p.bev, c);
	/* Nothing read yet: the socket cannot hold it all. */
	assert_int_equal(c->waiters->attached, 1);
	assert_int_equal(c->refs, 2);
	assert_int_equal(t_drain_to_eof(&p), T_BYTES);
	assert_int_equal(c->waiters->attached, 0);
	assert_int_equal(c->refs, 1);
	t_pair_close(&p);
	container_unref(c);
}

/* Without a connection (the client went first) the stream ends at once. */
static void
t_release_counted_without_client(void **state)
{
	struct container *c = t_ctr();

	(void)state;
	backend_ctr_attach_open(c);
	backend_ctr_attach_release(NULL, c);
	assert_int_equal(c->waiters->attached, 0);
	assert_int_equal(c->refs, 1);
	container_unref(c);
}

/* An uncounted stream (an exec's, a detached one) is flushed and closed
 * alike. */
static void
t_release_uncounted(void **state)
{
	struct t_pair p;

	(void)state;
	t_pair_open(&p);
	t_queue(p.bev, T_BYTES);
	backend_ctr_attach_release(p.bev, NULL);
	assert_int_equal(t_drain_to_eof(&p), T_BYTES);
	t_pair_close(&p);
}

/* A client that goes while its output drains ends the stream too. */
static void
t_release_client_gone(void **state)
{
	struct t_pair p;
	struct container *c = t_ctr();
	time_t deadline = time(NULL) + T_DEADLINE_S;

	(void)state;
	t_pair_open(&p);
	backend_ctr_attach_open(c);
	t_queue(p.bev, T_BYTES);
	backend_ctr_attach_release(p.bev, c);
	close(p.peer);
	p.peer = -1;
	while (c->waiters->attached > 0) {
		assert_true(time(NULL) < deadline);
		event_base_loop(p.base, EVLOOP_ONCE);
	}
	assert_int_equal(c->refs, 1);
	event_base_free(p.base);
	container_unref(c);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(t_release_counted_waits_for_flush),
		cmocka_unit_test(t_release_counted_without_client),
		cmocka_unit_test(t_release_uncounted),
		cmocka_unit_test(t_release_client_gone),
	};

	/* Writes to a client that went must fail, not kill the test. */
	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
