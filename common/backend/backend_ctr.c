/* The container record the life cycle keeps: one operation in flight at a
 * time with the requests parked behind it, the set of running ones the
 * pollers visit, the state saved to the store and loaded at start-up. The
 * operations themselves are in backend_ctr_*.c. */
#include <stdlib.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <string.h>
#include <time.h>

#include <event2/event.h>

#include "backend_ctr.h"
#include "backend_port.h"
#include "sockerless/container.h"
#include "sockerless/json.h"
#include "sockerless/log.h"
#include "sockerless/store.h"
#include "sockerless/xmalloc.h"

/* A request that waits for the life-cycle operation in flight to end,
 * then is handled afresh. */
struct backend_parked {
	TAILQ_ENTRY(backend_parked) entry;
	struct httpsrv_req *req;
	backend_handler fn;
	struct router_match m;
	struct container *c;
};

/* A deferred replay of the parked requests. */
struct backend_ctr_replay {
	struct backend *b;
	struct container *c;
};

/* --- the life cycle ----------------------------------------------------- */

struct backend_waiters *
backend_ctr_life(struct container *c)
{
	if (c->waiters == NULL) {
		c->waiters = xcalloc(1, sizeof(*c->waiters));
		TAILQ_INIT(&c->waiters->list);
		TAILQ_INIT(&c->waiters->parked);
	}
	return c->waiters;
}

enum backend_ctr_busy
backend_ctr_busy(const struct container *c)
{
	return c->waiters != NULL ? c->waiters->busy : CTR_IDLE;
}

void
backend_ctr_set_busy(struct container *c, enum backend_ctr_busy busy)
{
	backend_ctr_life(c)->busy = busy;
}

static void
backend_ctr_parked_gone(struct httpsrv_req *r, void *arg)
{
	struct backend_parked *p = arg;

	(void)r;
	TAILQ_REMOVE(&p->c->waiters->parked, p, entry);
	container_unref(p->c);
	free(p);
}

/* For the handlers of operations that change the life cycle: while
 * another one is in flight, parks the request and returns 1. */
int
backend_ctr_park(struct container *c, struct httpsrv_req *r,
    const struct router_match *m, backend_handler fn)
{
	struct backend_parked *p;

	if (backend_ctr_busy(c) == CTR_IDLE)
		return 0;
	p = xcalloc(1, sizeof(*p));
	p->req = r;
	p->fn = fn;
	p->m = *m;
	p->c = c;
	container_ref(c);
	TAILQ_INSERT_TAIL(&c->waiters->parked, p, entry);
	httpsrv_req_on_close(r, backend_ctr_parked_gone, p);
	return 1;
}

static void
backend_ctr_replay(evutil_socket_t fd, short ev, void *arg)
{
	struct backend_ctr_replay *rp = arg;
	struct container *c = rp->c;
	struct backend_parked *p;
	TAILQ_HEAD(, backend_parked) run;

	(void)fd;
	(void)ev;
	TAILQ_INIT(&run);
	TAILQ_CONCAT(&run, &c->waiters->parked, entry);
	/* A handler that finds the container busy again parks anew. */
	while ((p = TAILQ_FIRST(&run)) != NULL) {
		TAILQ_REMOVE(&run, p, entry);
		httpsrv_req_on_close(p->req, NULL, NULL);
		p->fn(rp->b, p->req, &p->m);
		container_unref(p->c);
		free(p);
	}
	container_unref(c);
	free(rp);
}

/* The operation in flight ended (its reply is sent): the parked requests
 * run from the event loop, not inside the cloud callback that ended it. */
void
backend_ctr_idle(struct backend *b, struct container *c)
{
	struct backend_ctr_replay *rp;
	struct timeval now = { 0, 0 };

	if (c->waiters == NULL)
		return;
	c->waiters->busy = CTR_IDLE;
	if (TAILQ_EMPTY(&c->waiters->parked))
		return;
	rp = xcalloc(1, sizeof(*rp));
	rp->b = b;
	rp->c = c;
	container_ref(c);
	if (event_base_once(
		b->base, -1, EV_TIMEOUT, backend_ctr_replay, rp, &now) == -1)
		fatalx("scheduling parked requests");
}

/* Pollers visit the containers that run or are being started. */
void
backend_ctr_set_active(struct backend *b, struct container *c, int on)
{
	if (!on && c->waiters == NULL)
		return;
	if (backend_ctr_life(c)->active == on)
		return;
	c->waiters->active = on;
	if (on)
		backend_index_add(&b->active, c);
	else
		backend_index_del(&b->active, c);
}

/* The list holds one reference; the indexes borrow it. */
void
backend_ctr_enlist(struct backend *b, struct container *c)
{
	c->store = b->store;
	TAILQ_INSERT_HEAD(&b->containers, c, entry);
	backend_index_add(&b->by_id, c);
	backend_index_add(&b->by_name, c);
}

void
backend_ctr_unlist(struct backend *b, struct container *c)
{
	backend_ctr_set_active(b, c, 0);
	TAILQ_REMOVE(&b->containers, c, entry);
	backend_index_del(&b->by_id, c);
	backend_index_del(&b->by_name, c);
}

/* --- operations --------------------------------------------------------- */

static void
backend_ctr_op_gone(struct httpsrv_req *r, void *arg)
{
	struct backend_ctr_op *op = arg;

	(void)r;
	op->req = NULL; /* the operation goes on; nobody hears its end */
}

struct backend_ctr_op *
backend_ctr_op_new(
    struct backend *b, struct container *c, struct httpsrv_req *req)
{
	struct backend_ctr_op *op = xcalloc(1, sizeof(*op));

	op->b = b;
	op->c = c;
	op->req = req;
	if (req != NULL)
		httpsrv_req_on_close(req, backend_ctr_op_gone, op);
	container_ref(c);
	return op;
}

/* Hands the request over (to answer it, or to another operation). */
struct httpsrv_req *
backend_ctr_op_take_req(struct backend_ctr_op *op)
{
	struct httpsrv_req *r = op->req;

	if (r != NULL)
		httpsrv_req_on_close(r, NULL, NULL);
	op->req = NULL;
	return r;
}

/* Answers the operation's request, if its client still waits: e, or an
 * empty status. */
void
backend_ctr_op_reply(struct backend_ctr_op *op, const struct err *e, int status)
{
	struct httpsrv_req *r = backend_ctr_op_take_req(op);

	if (r != NULL)
		backend_reply_done(r, e, status);
}

void
backend_ctr_op_free(struct backend_ctr_op *op)
{
	backend_ctr_op_take_req(op);
	if (op->timer != NULL)
		event_free(op->timer);
	container_unref(op->c);
	free(op);
}

void
backend_ctr_save(struct backend *b, struct container *c)
{
	struct err e;
	char *doc = json_print(container_doc(c)), *facts;
	size_t len;

	container_touch(c);
	facts = container_facts(c, &len);
	if (container_store(c, b->store, doc, facts, len, &e) == -1)
		log_warnx("saving container %.12s: %s", c->id, e.msg);
	else
		container_saved(c, doc);
	free(facts);
	free(doc);
}

void
backend_container_save(struct backend *b, struct container *c)
{
	backend_ctr_save(b, c);
}

/* Which rows start-up parses: a stopped container whose facts the store
 * holds is loaded cold, its document read when something asks for it
 * (container_doc). Running, paused, restarting and created containers
 * are parsed: the reconcilers and pollers read them at once. A row
 * saved before facts were kept is parsed (and gets them at its next
 * save or drop). */
static int
backend_ctr_row_facts(const struct store_ctr_row *r)
{
	return r->facts != NULL && r->factslen > 0 &&
	    ((const char *)r->facts)[r->factslen - 1] == '\0';
}

static int
backend_ctr_load_doc(const struct store_ctr_row *r)
{
	return r->state == NULL || r->name == NULL ||
	    !backend_ctr_row_facts(r) ||
	    (strcmp(r->state, "exited") != 0 && strcmp(r->state, "dead") != 0);
}

static void
backend_ctr_load_one(void *arg, const struct store_ctr_row *r)
{
	struct backend *b = arg;
	struct container *c;
	struct err pe;
	cJSON *doc;

	if (r->id == NULL) {
		log_warnx("container ?: unreadable record: no id");
		return;
	}
	if (r->doc == NULL && !backend_ctr_load_doc(r))
		c = container_new_cold(b->store, r);
	else if (r->doc == NULL ||
	    (doc = json_parse(r->doc, r->doclen, &pe)) == NULL) {
		log_warnx("container %.12s: unreadable record: %s", r->id,
		    r->doc == NULL ? "no document" : pe.msg);
		return;
	} else {
		c = container_new(r->id, doc);
		/* A row without facts is saved again at its drop, with them. */
		if (backend_ctr_row_facts(r))
			container_saved(c, r->doc);
	}
	c->store = b->store;
	/* The rows come oldest first; the list is newest first, as creates
	 * add them and docker ps shows them. */
	TAILQ_INSERT_HEAD(&b->containers, c, entry);
	backend_index_append(&b->by_id, c);
	backend_index_append(&b->by_name, c);
	if (container_running(c))
		backend_ctr_set_active(b, c, 1);
}

/* Loads every container from the store at start-up, as SQLite steps to
 * each row (no copy of the whole state's text first); stopped ones cold
 * (backend_ctr_load_doc) unless doc_idle_ms is 0. */
void
backend_ctr_load(struct backend *b)
{
	struct err e;
	struct timespec t0, t1;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	/* doc_idle_ms 0: every document is kept parsed, from the start. */
	if (store_container_each(b->store, backend_ctr_load_one,
		b->conf.doc_idle_ms > 0 ? backend_ctr_load_doc : NULL, b,
		&e) == -1)
		fatalx("loading containers: %s", e.msg);
	backend_index_sort(&b->by_id);
	backend_index_sort(&b->by_name);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	log_info("loaded %zu containers in %.0f ms", b->by_id.n,
	    (double)(t1.tv_sec - t0.tv_sec) * 1e3 +
		(double)(t1.tv_nsec - t0.tv_nsec) / 1e6);
}

/* --- dropping idle documents -------------------------------------------- */

/* Whether nothing can be holding a pointer into c's document between
 * callbacks: every operation, waiter, attach, agent link, restart timer
 * and backend run holds a reference or one of these fields, and a
 * running container's pollers read it every second. */
static int
backend_ctr_droppable(const struct container *c)
{
	const struct backend_waiters *w = c->waiters;
	const char *st;

	if (container_cold(c) || c->gone || c->refs != 1 ||
	    (c->agent != NULL && !c->agent_idle(c)) ||
	    c->backend_data != NULL || c->stopping || container_running(c))
		return 0;
	if (w != NULL &&
	    (!TAILQ_EMPTY(&w->list) || !TAILQ_EMPTY(&w->parked) ||
		w->busy != CTR_IDLE || w->active || w->attached ||
		w->restart != NULL))
		return 0;
	st = container_status(c);
	return st != NULL &&
	    (strcmp(st, "exited") == 0 || strcmp(st, "created") == 0 ||
		strcmp(st, "dead") == 0);
}

void
backend_ctr_cool(struct backend *b, struct container *c)
{
	if (b->conf.doc_idle_ms > 0 && backend_ctr_droppable(c))
		container_drop(c);
}

static void
backend_ctr_sweep(evutil_socket_t fd, short what, void *arg)
{
	struct backend *b = arg;
	struct container *c;
	size_t dropped = 0;

	(void)fd;
	(void)what;
	TAILQ_FOREACH(c, &b->containers, entry) {
		if (container_cold(c))
			continue;
		if (c->tree_used) {
			c->tree_used = 0; /* read since the last sweep */
			continue;
		}
		if (!backend_ctr_droppable(c))
			continue;
		container_drop(c);
		dropped += container_cold(c);
	}
#ifdef __GLIBC__
	/* The trees were many small allocations: give their pages back. */
	if (dropped >= 256)
		malloc_trim(0);
#endif
	if (dropped > 0)
		log_debug("dropped %zu idle container documents", dropped);
}

void
backend_ctr_sweep_start(struct backend *b)
{
	struct timeval tv;

	if (b->conf.doc_idle_ms <= 0)
		return;
	tv.tv_sec = b->conf.doc_idle_ms / 1000;
	tv.tv_usec = (b->conf.doc_idle_ms % 1000) * 1000;
	b->doc_sweep = event_new(b->base, -1, EV_PERSIST, backend_ctr_sweep, b);
	event_add(b->doc_sweep, &tv);
}

struct container *
backend_ctr_by_name(struct backend *b, const char *name)
{
	return backend_index_get(&b->by_name, name);
}
