/* The daemons' event loop: libevent's, with busy polling as an option. */
#ifndef SOCKERLESS_EVLOOP_H
#define SOCKERLESS_EVLOOP_H

#include <event2/event.h>

/* The most a busy_poll setting may ask for, in microseconds. */
#define EVLOOP_BUSY_MAX 10000

/* I/O came in (a request, an answer, a connection): a busy-polling loop
 * keeps polling for its window from now. Cheap enough for every read. */
void evloop_touch(void);

/* Runs base until it is told to exit or has no events left, as
 * event_base_dispatch does. With busy_us > 0 the loop does not sleep for
 * busy_us microseconds after the last evloop_touch: it keeps polling
 * with a zero timeout, so what comes next (the backend's answer to the
 * frontend, a client's next request) finds the process awake instead of
 * waking it. An idle process sleeps as before. Returns as
 * event_base_dispatch. */
int evloop_run(struct event_base *base, long busy_us);

#endif
