/* The stop of a backend whose cloud can only end the workload outright
 * (Cloud Run's executions.cancel, Container Apps' stop): dockerd's
 * graceful stop is done through the agent instead (sockerless/
 * backend_kit.h, kit_stop_through_agent). */
#include <signal.h>
#include <stdlib.h>

#include "sockerless/backend_kit.h"
#include "sockerless/err.h"
#include "sockerless/log.h"

#include "backend_agent.h"
#include "backend_sys.h"

#define KIT_STOP_TICK_MS 100

struct kit_stop {
	struct kit_op k; /* first: kit_op_new */
	kit_hard_stop_fn hard;
	int timeout_s;
	int ticks; /* ticks of KIT_STOP_TICK_MS left before the kill */
};

static void
kit_stop_hard_done(void *arg, const struct err *e)
{
	struct kit_stop *st = arg;

	kit_op_end(&st->k, e);
}

/* The cloud's own stop, at once: the agent cannot be reached (or never
 * ran), so no signal of our choosing can be delivered. */
static void
kit_stop_hard(struct kit_stop *st, const char *what, const struct err *why)
{
	struct container *c = st->k.c;

	/* Without an agent (501) there is nothing to explain each time. */
	if (why != NULL && why->status != 501)
		log_warnx("container %.12s: %s through the agent failed (%s); "
			  "stopping it with the cloud's call at once",
		    c->id, what, why->msg);
	st->hard(st->k.b, c, SIGKILL, kit_stop_hard_done, st);
}

static void
kit_stop_killed(void *arg, const struct err *e)
{
	struct kit_stop *st = arg;

	if (e != NULL && container_running(st->k.c) && !st->k.c->gone) {
		kit_stop_hard(st, "the kill", e);
		return;
	}
	/* The framework waits for the agent's report of the exit (137). */
	kit_op_end(&st->k, NULL);
}

/* The grace is over: KILL through the agent, so that the workload's exit
 * is reported as dockerd's 137, else the cloud's stop. */
static void
kit_stop_kill(struct kit_stop *st)
{
	struct backend *b = st->k.b;
	struct container *c = st->k.c;
	struct err e;

	backend_sys_kill_event(b, c, SIGKILL);
	if (backend_agent_signal(b, c, SIGKILL, kit_stop_killed, st, &e) == -1)
		kit_stop_hard(st, "the kill", &e);
}

static void
kit_stop_tick(struct kit_op *op)
{
	struct kit_stop *st = (struct kit_stop *)op;

	if (!container_running(op->c) || op->c->gone) {
		kit_op_end(op, NULL);
		return;
	}
	if (st->ticks-- <= 0) {
		kit_stop_kill(st);
		return;
	}
	kit_op_later(op, KIT_STOP_TICK_MS, kit_stop_tick);
}

static void
kit_stop_signalled(void *arg, const struct err *e)
{
	struct kit_stop *st = arg;

	if (e != NULL) {
		kit_stop_hard(st, "the stop signal", e);
		return;
	}
	if (st->timeout_s < 0) {
		/* No limit (-t -1): the framework waits for the exit. */
		kit_op_end(&st->k, NULL);
		return;
	}
	st->ticks = st->timeout_s * (1000 / KIT_STOP_TICK_MS);
	kit_stop_tick(&st->k);
}

void
kit_stop_through_agent(struct backend *b, struct container *c, int timeout_s,
    kit_hard_stop_fn hard, backend_done_fn done, void *arg)
{
	struct kit_stop *st = kit_op_new(sizeof(*st), b, c, done, arg);
	int signo = c->stop_signo > 0 ? c->stop_signo : SIGTERM;
	struct err e;

	st->hard = hard;
	st->timeout_s = timeout_s;
	if (backend_agent_signal(b, c, signo, kit_stop_signalled, st, &e) == -1)
		kit_stop_hard(st, "the stop signal", &e);
}
