/* The poller skeleton (schedule, batch, back-off, kick) and start-up
 * passes: the timing half of watching a cloud, so that a backend writes
 * only what a description of its workloads means. */
#include <stdlib.h>

#include "sockerless/backend_kit.h"
#include "sockerless/json.h"
#include "sockerless/str.h"

static void
kit_poller_schedule(struct kit_poller *p, long long ms)
{
	struct timeval tv = { (time_t)(ms / 1000),
		(suseconds_t)((ms % 1000) * 1000) };

	if (p->timer != NULL)
		evtimer_add(p->timer, &tv);
}

long long
kit_backoff_next(
    long long cur, long long interval_ms, long long max_ms, int failed)
{
	long long next;

	if (!failed)
		return 0;
	next = cur == 0 ? interval_ms * 2 : cur * 2;
	return next > max_ms ? max_ms : next;
}

struct kit_collect {
	struct kit_poller *p;
	cJSON *batches; /* array of arrays of ids */
	int full;	/* every workload, or only the starting ones */
	int starting;	/* parked starts seen */
};

/* After a tick: soon while starts are parked, else at the next full
 * tick. */
static void
kit_poller_next(struct kit_poller *p)
{
	int64_t left = (p->next_full_ns - str_now_ns()) / 1000000;

	if (p->starting > 0 && left > KIT_POLL_START_MS)
		left = KIT_POLL_START_MS;
	kit_poller_schedule(p, left > 0 ? left : 0);
}

static void
kit_poller_collect(struct backend *b, struct container *c, void *arg)
{
	struct kit_collect *kc = arg;
	const char *id;
	cJSON *last;

	(void)b;
	if (kit_start_pending(c))
		kc->starting++;
	else if (!kc->full)
		return;
	if ((id = kc->p->id(c)) == NULL)
		return;
	last = cJSON_GetArrayItem(
	    kc->batches, cJSON_GetArraySize(kc->batches) - 1);
	if (last == NULL || cJSON_GetArraySize(last) >= kc->p->batch) {
		last = cJSON_CreateArray();
		cJSON_AddItemToArray(kc->batches, last);
	}
	cJSON_AddItemToArray(last, cJSON_CreateString(id));
}

static void
kit_poller_tick(evutil_socket_t fd, short what, void *arg)
{
	struct kit_poller *p = arg;
	struct kit_collect kc = { p, cJSON_CreateArray(), 0, 0 };
	int64_t now = str_now_ns();
	cJSON *batch;

	(void)fd;
	(void)what;
	if (now >= p->next_full_ns) {
		kc.full = 1;
		p->next_full_ns = now + p->interval_ms * 1000000;
	}
	backend_container_foreach_active(p->b, kit_poller_collect, &kc);
	p->starting = kc.starting;
	if (cJSON_GetArraySize(kc.batches) == 0) {
		cJSON_Delete(kc.batches);
		kit_poller_next(p);
		return;
	}
	p->inflight = 1;
	p->errors = 0;
	p->pending = cJSON_GetArraySize(kc.batches);
	while ((batch = cJSON_DetachItemFromArray(kc.batches, 0)) != NULL)
		p->describe(p, batch);
	cJSON_Delete(kc.batches);
}

void
kit_poller_batch_done(struct kit_poller *p, int failed)
{
	if (failed)
		p->errors++;
	if (--p->pending > 0)
		return;
	p->backoff_ms = kit_backoff_next(
	    p->backoff_ms, p->interval_ms, p->max_backoff_ms, p->errors > 0);
	p->inflight = 0;
	if (p->backoff_ms) {
		p->next_full_ns = str_now_ns() + p->backoff_ms * 1000000;
		kit_poller_schedule(p, p->backoff_ms);
		return;
	}
	kit_poller_next(p);
}

void
kit_poller_start(struct kit_poller *p, struct backend *b)
{
	p->b = b;
	p->timer = evtimer_new(backend_base(b), kit_poller_tick, p);
	kit_poller_schedule(p, 0);
}

void
kit_poller_kick(struct kit_poller *p)
{
	if (!p->inflight && p->backoff_ms == 0) {
		/* A stop: every workload on the next tick. */
		p->next_full_ns = 0;
		kit_poller_schedule(p, 200);
	}
}

void
kit_poller_stop(struct kit_poller *p)
{
	if (p->timer != NULL)
		event_free(p->timer);
	p->timer = NULL;
}

/* --- start-up passes ------------------------------------------------------ */

static void
kit_passes_run(evutil_socket_t fd, short what, void *arg)
{
	struct kit_passes *p = arg;
	int gap;

	(void)fd;
	(void)what;
	gap = p->pass(p->b, p->n++);
	if (gap >= 0) {
		struct timeval tv = { gap, 0 };
		evtimer_add(p->timer, &tv);
	}
}

void
kit_passes_start(struct kit_passes *p, struct backend *b)
{
	p->b = b;
	p->n = 0;
	p->timer = evtimer_new(backend_base(b), kit_passes_run, p);
	kit_passes_run(-1, 0, p);
}

void
kit_passes_stop(struct kit_passes *p)
{
	if (p->timer != NULL)
		event_free(p->timer);
	p->timer = NULL;
}
