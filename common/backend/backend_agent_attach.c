/* The agent and the life cycle: attaches with stdin (made before start
 * too, their command held until they are connected), the release of the
 * held command once the workload runs, and what ends at exit. */
#include <stdlib.h>
#include <string.h>

#include "backend_agent.h"
#include "sockerless/json.h"
#include "sockerless/log.h"
#include "sockerless/xmalloc.h"

/* --- attach with stdin -------------------------------------------------- */

void
backend_agent_attach(struct backend *b, struct container *c,
    struct httpsrv_req *r, const struct detach *d)
{
	struct agent_relay *rl = backend_agent_relay_new(b, c, r);
	const cJSON *cfg = container_config(c);

	rl->tty = json_bool(cfg, "Tty", 0);
	rl->want_stdin =
	    backend_query_bool(r, "stdin", 0) && json_bool(cfg, "OpenStdin", 0);
	rl->detach = *d;
	rl->detach_on = rl->tty && rl->want_stdin;
	rl->want_out = backend_query_bool(r, "stdout", 0);
	rl->want_err = backend_query_bool(r, "stderr", 0);
	rl->request = cJSON_CreateObject();
	json_add_str(rl->request, "kind", "attach");
	json_add_bool(rl->request, "stdin", rl->want_stdin);
	json_add_bool(rl->request, "stdout", rl->want_out);
	json_add_bool(rl->request, "stderr", rl->want_err);
	/* Docker answers an attach at once, before start too. */
	backend_agent_relay_hijack(rl);
	if (!container_running(c)) {
		/* Attached before start: the channel opens once the
		 * workload runs, and the workload holds its command until
		 * then (SOCKERLESS_HOLD), so no output is missed. */
		const char *st = json_str(container_state(c), "Status");
		TAILQ_INSERT_TAIL(&rl->ag->waiting, rl, wentry);
		rl->in_waiting = 1;
		if (st != NULL && strcmp(st, "created") == 0)
			backend_agent_attach_counted(rl);
		return;
	}
	backend_agent_attach_counted(rl);
	backend_agent_relay_open(rl);
}

static void
agent_start_result(void *arg, const cJSON *res, const struct err *e)
{
	struct backend_agent *ag = arg;

	(void)res;
	if (e != NULL)
		log_warnx("container %.12s: releasing the held command: %s",
		    ag->c->id, e->msg);
}

void
backend_agent_ignore_data(
    void *arg, int stream, const unsigned char *p, size_t n)
{
	(void)arg;
	(void)stream;
	(void)p;
	(void)n;
}

static const struct aglink_chan_cbs agent_start_cbs = {
	backend_agent_ignore_data, NULL, NULL, NULL, agent_start_result
};

/* The workload runs: open the channels of attaches made before start,
 * then release the held command; keep a link for health events. */
void
backend_agent_container_running(struct backend *b, struct container *c)
{
	struct backend_agent *ag = c->agent;
	struct agent_relay *rl;
	struct aglink *l;
	struct err e;
	cJSON *req;

	/* Files go in first (backend_prestart_run.c); the start calls
	 * this again once they are in. */
	if (!backend_agent_runs(b) || !b->caps.flag[CAP_EXEC] ||
	    (ag != NULL && ag->prestart))
		return;
	if (backend_agent_has_health(c)) {
		cJSON *h = cJSON_CreateObject();
		json_add_str(h, "Status", "starting");
		json_add_int(h, "FailingStreak", 0);
		cJSON_AddItemToObject(h, "Log", cJSON_CreateArray());
		json_set(container_state(c), "Health", h);
		backend_container_save(b, c);
	}
	/* An early dial (backend_agent_dial_early) waiting to try again
	 * goes now: the workload runs. */
	if (ag != NULL && ag->link != NULL)
		aglink_redial(ag->link);
	if (ag == NULL && !backend_agent_has_health(c))
		return;
	ag = backend_agent_get(b, c);
	if (!ag->hold && TAILQ_EMPTY(&ag->waiting) &&
	    !backend_agent_has_health(c))
		return;
	while ((rl = TAILQ_FIRST(&ag->waiting)) != NULL) {
		TAILQ_REMOVE(&ag->waiting, rl, wentry);
		rl->in_waiting = 0;
		backend_agent_attach_counted(rl);
		backend_agent_relay_open(rl);
	}
	if ((l = backend_agent_link(b, c, &e)) == NULL) {
		log_warnx("container %.12s: %s", c->id, e.msg);
		return;
	}
	ag->hold = 0;
	req = cJSON_CreateObject();
	json_add_str(req, "kind", "start");
	aglink_open(l, req, &agent_start_cbs, ag);
	cJSON_Delete(req);
}

/* Ends the attaches waiting for a start that will not run their command,
 * with msg on their stream (none: they just end, as dockerd's do). */
static void
agent_end_waiting(struct backend_agent *ag, const char *msg)
{
	struct agent_relay *rl;

	while ((rl = TAILQ_FIRST(&ag->waiting)) != NULL) {
		if (msg != NULL)
			backend_agent_relay_error(rl, msg);
		backend_agent_relay_free(rl);
	}
}

void
backend_agent_container_exited(struct backend *b, struct container *c)
{
	struct backend_agent *ag = c->agent;

	(void)b;
	if (ag == NULL)
		return;
	/* Attaches waiting for a start that ended before it ran. */
	agent_end_waiting(
	    ag, "the container exited before its command could be attached");
	/* The agent has gone with its workload. */
	backend_agent_link_close(ag);
}

void
backend_agent_start_failed(struct backend *b, struct container *c)
{
	(void)b;
	if (c->agent == NULL)
		return;
	/* The client has the start's error; its attach ends, so that a
	 * wait held behind it (docker run --rm) answers. */
	agent_end_waiting(c->agent, NULL);
	/* A link dialled for the run that did not start (an early dial)
	 * has no agent to reach. */
	if (!container_running(c))
		backend_agent_link_close(c->agent);
}

void
backend_agent_resize_container(struct container *c, int rows, int cols)
{
	struct agent_relay *rl;

	if (c->agent == NULL)
		return;
	TAILQ_FOREACH(rl, &c->agent->relays, entry) {
		if (rl->ex == NULL && rl->ch != NULL && rl->tty)
			aglink_chan_resize(rl->ch, rows, cols);
	}
}
