/* The daemons' event loop, with busy polling as an option: on a virtual
 * machine, waking a process that sleeps in epoll_wait costs tens of
 * microseconds, as much as everything else a request through the
 * frontend does (docs/scale.md, "Busy polling"). */
#include <time.h>

#include "sockerless/evloop.h"

static unsigned long evloop_ticks;

void
evloop_touch(void)
{
	evloop_ticks++;
}

static long long
evloop_now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static int
evloop_done(struct event_base *base)
{
	return event_base_got_exit(base) || event_base_got_break(base);
}

int
evloop_run(struct event_base *base, long busy_us)
{
	long long last = 0;
	int rc, spin = 0;

	if (busy_us <= 0)
		return event_base_dispatch(base);
	for (;;) {
		unsigned long ticks = evloop_ticks;

		/* Within busy_us of the last I/O: poll without sleeping.
		 * Past it: sleep until an event, as event_base_dispatch. */
		rc =
		    event_base_loop(base, spin ? EVLOOP_NONBLOCK : EVLOOP_ONCE);
		if (rc != 0 || evloop_done(base))
			return rc;
		if (evloop_ticks != ticks) {
			last = evloop_now_us();
			spin = 1;
		} else if (spin)
			spin = evloop_now_us() - last <= busy_us;
	}
}
