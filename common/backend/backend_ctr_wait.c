/* docker wait: the long-polls on a container's exit or removal, answered
 * once its attach streams have delivered their last byte. */
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "backend_ctr.h"
#include "sockerless/container.h"
#include "sockerless/json.h"
#include "sockerless/xmalloc.h"

/* A long-poll on POST /containers/{id}/wait. */
struct backend_waiter {
	TAILQ_ENTRY(backend_waiter) entry;
	struct httpsrv_req *req;
	enum { WAIT_NOT_RUNNING, WAIT_NEXT_EXIT, WAIT_REMOVED } cond;
	struct container *c;
	int due; /* the condition held; answered when no attach is open */
};

/* --- wait --------------------------------------------------------------- */

static void
backend_ctr_waiter_free(struct backend_waiter *w)
{
	TAILQ_REMOVE(&w->c->waiters->list, w, entry);
	container_unref(w->c);
	free(w);
}

static void
backend_ctr_waiter_gone(struct httpsrv_req *r, void *arg)
{
	(void)r;
	backend_ctr_waiter_free(arg);
}

static void
backend_ctr_waiter_answer(struct backend_waiter *w)
{
	const cJSON *st = json_obj(container_doc(w->c), "State");
	const char *error = json_str(st, "Error");
	char *s;
	cJSON *o = cJSON_CreateObject(), *eo;

	json_add_int(o, "StatusCode", json_int(st, "ExitCode", 0));
	if (error != NULL && error[0] != '\0') {
		eo = cJSON_CreateObject();
		json_add_str(eo, "Message", error);
		cJSON_AddItemToObject(o, "Error", eo);
	} else {
		cJSON_AddNullToObject(o, "Error");
	}
	s = json_print(o);
	httpsrv_req_on_close(w->req, NULL, NULL);
	httpsrv_stream_line(w->req, s, "\n");
	httpsrv_stream_end(w->req);
	free(s);
	cJSON_Delete(o);
	backend_ctr_waiter_free(w);
}

/* dockerd sets a container's exit only once its output has been copied
 * to every attached client, so a client that stops reading its attach
 * stream when wait answers (dockerode's run, docker-py scripts) has it
 * all. Our exit comes from the cloud, and the attach streams drain after
 * it (log ingestion, the agent's last frames): a waiter whose condition
 * held is answered once no attach stream is open. */
static void
backend_ctr_waiter_due(struct backend_waiter *w)
{
	if (w->c->waiters->attached > 0)
		w->due = 1;
	else
		backend_ctr_waiter_answer(w);
}

void
backend_ctr_notify_waiters(struct backend *b, struct container *c, int removed)
{
	struct backend_waiter *w, *next;

	(void)b;
	if (c->waiters == NULL)
		return;
	for (w = TAILQ_FIRST(&c->waiters->list); w != NULL; w = next) {
		next = TAILQ_NEXT(w, entry);
		if (removed || w->cond != WAIT_REMOVED)
			backend_ctr_waiter_due(w);
	}
}

void
backend_ctr_attach_open(struct container *c)
{
	backend_ctr_life(c)->attached++;
}

void
backend_ctr_attach_closed(struct container *c)
{
	struct backend_waiter *w, *next;

	if (c->waiters == NULL || c->waiters->attached == 0)
		return;
	if (--c->waiters->attached > 0)
		return;
	for (w = TAILQ_FIRST(&c->waiters->list); w != NULL; w = next) {
		next = TAILQ_NEXT(w, entry);
		if (w->due)
			backend_ctr_waiter_answer(w);
	}
}

/* A released stream has ended (c: its container, referenced, when the
 * stream is counted for wait; else NULL). */
static void
backend_ctr_attach_ended(struct bufferevent *bev, struct container *c)
{
	if (bev != NULL)
		bufferevent_free(bev);
	if (c == NULL)
		return;
	backend_ctr_attach_closed(c);
	container_unref(c);
}

static void
backend_ctr_attach_flushed(struct bufferevent *bev, void *arg)
{
	if (evbuffer_get_length(bufferevent_get_output(bev)) == 0)
		backend_ctr_attach_ended(bev, arg);
}

static void
backend_ctr_attach_gone(struct bufferevent *bev, short what, void *arg)
{
	(void)what;
	backend_ctr_attach_ended(bev, arg);
}

void
backend_ctr_attach_release(struct bufferevent *bev, struct container *c)
{
	if (c != NULL)
		container_ref(c);
	if (bev == NULL) {
		backend_ctr_attach_ended(NULL, c);
		return;
	}
	bufferevent_setcb(
	    bev, NULL, backend_ctr_attach_flushed, backend_ctr_attach_gone, c);
	bufferevent_disable(bev, EV_READ);
	bufferevent_enable(bev, EV_WRITE);
	backend_ctr_attach_flushed(bev, c);
}

void
backend_ctr_wait(
    struct backend *b, struct httpsrv_req *r, const struct router_match *m)
{
	struct container *c;
	struct backend_waiter *w;
	const char *cond = httpsrv_req_query(r, "condition");

	if ((c = backend_lookup_or_reply(b, r, router_param(m, "id"))) == NULL)
		return;
	w = xcalloc(1, sizeof(*w));
	if (cond == NULL || cond[0] == '\0' || strcmp(cond, "not-running") == 0)
		w->cond = WAIT_NOT_RUNNING;
	else if (strcmp(cond, "next-exit") == 0)
		w->cond = WAIT_NEXT_EXIT;
	else if (strcmp(cond, "removed") == 0)
		w->cond = WAIT_REMOVED;
	else {
		free(w);
		httpsrv_reply_error(r, 400, "invalid condition: \"%s\"", cond);
		return;
	}
	w->req = r;
	w->c = c;
	container_ref(c);
	TAILQ_INSERT_TAIL(&backend_ctr_life(c)->list, w, entry);
	/* Headers go out now: clients wait for them before starting. */
	httpsrv_stream_begin(r, 200, "application/json");
	httpsrv_req_on_close(r, backend_ctr_waiter_gone, w);
	/* A container that never ran has no output to wait for. */
	/* A restarting container runs again soon: dockerd waits for the
	 * end of that run. */
	if (w->cond == WAIT_NOT_RUNNING && !container_running(c) &&
	    !container_restarting(c)) {
		const char *st =
		    json_str(json_obj(container_doc(c), "State"), "Status");
		if (st != NULL && strcmp(st, "created") == 0)
			backend_ctr_waiter_answer(w);
		else
			backend_ctr_waiter_due(w);
	}
}
