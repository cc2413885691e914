/* docker logs of a running container from its agent's spool (the link's
 * `logs` kind, docs/agent-link.md): the output as the agent read it, cut
 * into the events the log service would hold (lines, and pieces of long
 * lines or of an unterminated end), handed to backend_logs.c, which
 * formats and filters them as it does the log service's. */
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "backend_agent.h"
#include "backend_logs.h"
#include "sockerless/buf.h"
#include "sockerless/json.h"
#include "sockerless/log.h"
#include "sockerless/xmalloc.h"

/* The agent writes lines longer than this to the log as pieces (its
 * WRAP_LINE_MAX): the same pieces here give the same events. */
#define LA_LINE_MAX (16384 - 16)
/* The spool's time header of a DATA payload. */
#define LA_TS	      8
#define LA_RECHECK_MS 50

struct logs_agent {
	struct aglink_chan *ch;
	const struct logs_agent_cbs *cbs;
	void *arg;
	struct buf line[3]; /* stdout, stderr: the line being assembled */
	int64_t ts_ns;	    /* of the last DATA */
	int complete, live, busy, dead;
	size_t owed; /* received, not yet credited: the client is slow */
	struct event *timer;
};

static void
la_free(struct logs_agent *la)
{
	buf_free(&la->line[1]);
	buf_free(&la->line[2]);
	if (la->timer != NULL)
		event_free(la->timer);
	free(la);
}

void
backend_logs_agent_close(struct logs_agent *la)
{
	if (la == NULL || la->dead)
		return;
	la->dead = 1;
	aglink_chan_close(la->ch);
	la->ch = NULL;
	if (la->busy == 0)
		la_free(la);
}

/* One event to the job (nothing once it has closed la). */
static void
la_event(
    struct logs_agent *la, int stream, const char *p, size_t n, int partial)
{
	struct backend_log_event ev;

	if (la->dead)
		return;
	ev.ts_ns = la->ts_ns;
	ev.stream =
	    stream == AGLINK_STDERR ? STDSTREAM_STDERR : STDSTREAM_STDOUT;
	ev.msg = p;
	ev.len = n;
	ev.partial = partial;
	la->cbs->events(la->arg, &ev, 1);
}

/* Cuts p into lines: whole ones become events at once, the rest waits. */
static void
la_take(struct logs_agent *la, int stream, const char *p, size_t n)
{
	struct buf *l = &la->line[stream];
	const char *nl;
	size_t lim, take;

	while (n > 0 && !la->dead) {
		if (l->len == LA_LINE_MAX) {
			/* A full piece: its newline, or a split. */
			if (*p == '\n') {
				p++;
				n--;
				la_event(la, stream, l->data, l->len, 0);
			} else {
				la_event(la, stream, l->data, l->len, 1);
			}
			buf_reset(l);
			continue;
		}
		lim = LA_LINE_MAX - l->len;
		if (lim > n)
			lim = n;
		nl = memchr(p, '\n', lim);
		take = nl != NULL ? (size_t)(nl - p) : lim;
		if (nl != NULL && l->len == 0) {
			la_event(la, stream, p, take, 0);
		} else {
			buf_add(l, p, take);
			if (nl != NULL) {
				la_event(la, stream, l->data, l->len, 0);
				buf_reset(l);
			}
		}
		if (nl != NULL)
			take++;
		p += take;
		n -= take;
	}
}

/* The output's end: a last piece without a newline, as it is. */
static void
la_flush(struct logs_agent *la)
{
	for (int s = AGLINK_STDOUT; s <= AGLINK_STDERR; s++) {
		if (la->line[s].len > 0)
			la_event(la, s, la->line[s].data, la->line[s].len, 1);
		buf_reset(&la->line[s]);
	}
}

/* Credits the agent once the client has taken enough of what came. */
static void
la_credit(struct logs_agent *la)
{
	struct timeval tv = { 0, LA_RECHECK_MS * 1000 };

	if (la->dead || la->owed == 0)
		return;
	if (la->cbs->pending(la->arg) > BACKEND_LOGS_HIGH_WATER) {
		evtimer_add(la->timer, &tv);
		return;
	}
	aglink_chan_consumed(la->ch, la->owed);
	la->owed = 0;
}

static void
la_timer(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	la_credit(arg);
}

static void
la_on_meta(void *arg, const cJSON *meta)
{
	struct logs_agent *la = arg;
	struct err e;

	if (json_bool(meta, "live", 0)) {
		la->live = 1;
		la->busy++;
		la->cbs->live(la->arg);
		la->busy--;
		if (la->dead && la->busy == 0)
			la_free(la);
		return;
	}
	la->complete = json_bool(meta, "complete", 0);
	if (la->complete)
		return;
	/* The spool has lost its start: the log service has it all. */
	err_set(&e, 507,
	    "the agent's log spool no longer starts at the first byte");
	la->busy++;
	la->cbs->end(la->arg, &e);
	la->busy--;
	if (!la->dead)
		backend_logs_agent_close(la);
	else if (la->busy == 0)
		la_free(la);
}

static void
la_on_data(void *arg, int stream, const unsigned char *p, size_t n)
{
	struct logs_agent *la = arg;

	la->owed += n;
	if (la->dead || n <= LA_TS ||
	    (stream != AGLINK_STDOUT && stream != AGLINK_STDERR))
		return;
	la->ts_ns = (int64_t)((uint64_t)aglink_get_u32(p) << 32 |
	    aglink_get_u32(p + 4));
	la->busy++;
	la_take(la, stream, (const char *)p + LA_TS, n - LA_TS);
	la->busy--;
	if (la->dead) {
		if (la->busy == 0)
			la_free(la);
		return;
	}
	la_credit(la);
}

static void
la_on_result(void *arg, const cJSON *res, const struct err *e)
{
	struct logs_agent *la = arg;
	struct err re;

	la->ch = NULL; /* freed when this returns */
	la->busy++;
	if (e == NULL && json_int(res, "status", 0) != 0) {
		err_set(&re, (int)json_int(res, "status", 500), "%s",
		    json_str(res, "message") != NULL ?
			json_str(res, "message") :
			"the agent refused the logs channel");
		e = &re;
	} else if (e == NULL && !la->complete) {
		err_set(&re, 502, "the agent did not say what its spool holds");
		e = &re;
	}
	if (e == NULL)
		la_flush(la);
	if (!la->dead)
		la->cbs->end(la->arg, e);
	la->busy--;
	la->dead = 1;
	if (la->busy == 0)
		la_free(la);
}

static const struct aglink_chan_cbs la_cbs = {
	.on_data = la_on_data,
	.on_meta = la_on_meta,
	.on_result = la_on_result,
};

struct logs_agent *
backend_logs_agent_open(struct backend *b, struct container *c, int follow,
    const struct logs_agent_cbs *cbs, void *arg)
{
	const cJSON *st = container_state(c);
	const char *fin = json_str(st, "FinishedAt");
	struct logs_agent *la;
	struct aglink *l;
	struct err e;
	cJSON *req;

	/* The agent has this run's output only: a container that ran
	 * before (FinishedAt is kept across starts) has earlier runs' in
	 * the log service. */
	if (!backend_agent_runs(b) || !b->caps.flag[CAP_EXEC] ||
	    !container_running(c) ||
	    json_str(container_private(c), BACKEND_PRIV_AGENT_TOKEN) == NULL ||
	    (fin != NULL && strcmp(fin, "0001-01-01T00:00:00Z") != 0))
		return NULL;
	/* Reverse mode: only a link the agent has called back on (a link
	 * waiting for it would hold the logs up to agent_callback_timeout).
	 * Forward mode dials one, as exec does. */
	if (b->ops->agent_reverse &&
	    (c->agent == NULL || c->agent->link == NULL ||
		!aglink_is_up(c->agent->link)))
		return NULL;
	if ((l = backend_agent_link(b, c, &e)) == NULL) {
		log_debug(
		    "logs of %.12s from the log service: %s", c->id, e.msg);
		return NULL;
	}
	la = xcalloc(1, sizeof(*la));
	la->cbs = cbs;
	la->arg = arg;
	buf_init(&la->line[1], 0);
	buf_init(&la->line[2], 0);
	la->timer = evtimer_new(b->base, la_timer, la);
	req = cJSON_CreateObject();
	json_add_str(req, "kind", "logs");
	json_add_bool(req, "follow", follow);
	la->ch = aglink_open(l, req, &la_cbs, la);
	cJSON_Delete(req);
	return la;
}
