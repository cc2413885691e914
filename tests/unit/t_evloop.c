/* evloop: the event loop with and without busy polling serves events in
 * order, ends as event_base_dispatch does, and an idle loop sleeps. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "sockerless/evloop.h"

struct echo {
	struct event_base *base;
	int rounds; /* messages answered */
	int stop;   /* rounds before loopexit */
};

/* Answers each message with itself, as a server does; touches the loop
 * as the daemons' reads do. */
static void
t_evloop_echo(evutil_socket_t fd, short what, void *arg)
{
	struct echo *e = arg;
	char b[64];
	ssize_t n;

	(void)what;
	evloop_touch();
	if ((n = read(fd, b, sizeof(b))) <= 0)
		return;
	assert_int_equal(write(fd, b, (size_t)n), n);
	if (++e->rounds == e->stop)
		event_base_loopexit(e->base, NULL);
}

/* A client thread's part, done from a forked child: n round trips. */
static void
t_evloop_client(int fd, int n)
{
	char b[8];

	for (int i = 0; i < n; i++) {
		if (write(fd, "ping", 4) != 4 || read(fd, b, sizeof(b)) != 4)
			_exit(1);
		if (i % 3 == 0)
			usleep(200); /* now and then past a short window */
	}
	_exit(0);
}

static void
t_evloop_serve(long busy_us)
{
	struct echo e = { 0 };
	struct event *ev;
	int sv[2], st;
	pid_t pid;

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	if ((pid = fork()) == 0) {
		close(sv[0]);
		t_evloop_client(sv[1], 50);
	}
	close(sv[1]);
	e.base = event_base_new();
	e.stop = 50;
	ev = event_new(e.base, sv[0], EV_READ | EV_PERSIST, t_evloop_echo, &e);
	event_add(ev, NULL);
	assert_int_equal(evloop_run(e.base, busy_us), 0);
	assert_int_equal(e.rounds, 50);
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	event_free(ev);
	event_base_free(e.base);
	close(sv[0]);
}

static void
t_evloop_round_trips(void **state)
{
	(void)state;
	t_evloop_serve(0);
	t_evloop_serve(50);
	t_evloop_serve(EVLOOP_BUSY_MAX);
}

/* With nothing registered the loop returns at once, as dispatch does. */
static void
t_evloop_empty(void **state)
{
	struct event_base *base = event_base_new();

	(void)state;
	assert_int_equal(evloop_run(base, 0), 1);
	assert_int_equal(evloop_run(base, 50), 1);
	event_base_free(base);
}

static void
t_evloop_break(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	event_base_loopbreak(arg);
}

static void
t_evloop_touch_tick(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	evloop_touch();
}

static double
t_evloop_cpu_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* A loop with a busy window sleeps when nothing comes in: over 200 ms of
 * timers that read nothing it uses a small part of that in CPU (a loop
 * that never slept would use all of it). A loopbreak while polling ends
 * the loop. */
static void
t_evloop_idle_sleeps(void **state)
{
	struct event_base *base = event_base_new();
	struct timeval tick = { 0, 20000 }, end = { 0, 200000 };
	struct event *t = event_new(
			 base, -1, EV_PERSIST, t_evloop_touch_tick, NULL),
		     *stop = evtimer_new(base, t_evloop_break, base);
	double cpu;

	(void)state;
	evtimer_add(stop, &end);
	cpu = t_evloop_cpu_ms();
	assert_int_equal(evloop_run(base, EVLOOP_BUSY_MAX), 0);
	cpu = t_evloop_cpu_ms() - cpu;
	assert_true(cpu < 100);
	/* A touch every 20 ms with a 10 ms window: it polls about half the
	 * time, and still ends on the break. */
	evtimer_add(stop, &end);
	event_add(t, &tick);
	assert_int_equal(evloop_run(base, EVLOOP_BUSY_MAX), 0);
	event_free(t);
	event_free(stop);
	event_base_free(base);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(t_evloop_round_trips),
		cmocka_unit_test(t_evloop_empty),
		cmocka_unit_test(t_evloop_idle_sleeps),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
