/* Output of a container that ran several times (one cloud execution a
 * run), read from a log service that a backend queries by run: the
 * cursor, the run to read, the rate at which a follower may read, the
 * entries as events. The backend keeps its reader and its error.
 *
 * The cursor is "<run index>|<ms>|<the reader's own cursor>", ms the time
 * of the last read that reached the end: while the container runs, a
 * follower reads again only poll_ms after such a read (log services
 * limit their query rate); between, a fetch answers "nothing new"
 * without a call. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sockerless/backend_kit.h"
#include "sockerless/json.h"
#include "sockerless/str.h"
#include "sockerless/xmalloc.h"

struct kit_runlogs {
	struct container *c; /* for the reader, during its read call */
	backend_logs_fn fn;
	void *arg;
	int idx, nruns;
	int marked; /* the agent's marks, or a TTY's "\r\n" */
	struct backend_log_event *ev;
};

struct container *
kit_runlogs_container(const struct kit_runlogs *op)
{
	return op->c;
}

struct backend_log_event *
kit_runlogs_events(struct kit_runlogs *op, size_t n)
{
	op->ev = xcalloc(n + 1, sizeof(*op->ev));
	return op->ev;
}

void
kit_runlogs_got(struct kit_runlogs *op, size_t n, const char *rcur, int more,
    const struct err *e)
{
	char *next;
	int at_end = !more;

	if (e != NULL) {
		op->fn(op->arg, NULL, 0, NULL, 0, e);
		free(op->ev);
		free(op);
		return;
	}
	if (op->ev == NULL)
		kit_runlogs_events(op, 0);
	for (size_t i = 0; i < n; i++) {
		if (op->marked)
			kit_logs_unmark(&op->ev[i]);
		else
			kit_logs_tty(&op->ev[i]);
	}
	/* A later run exists: this one is over, go on with the next. */
	if (at_end && op->idx + 1 < op->nruns) {
		next = xasprintf("%d|0|", op->idx + 1);
		at_end = 0;
	} else {
		next = xasprintf("%d|%lld|%s", op->idx,
		    at_end ? (long long)(str_now_ns() / 1000000) : 0LL,
		    rcur != NULL ? rcur : "");
	}
	op->fn(op->arg, op->ev, n, next, at_end, NULL);
	free(next);
	free(op->ev);
	free(op);
}

/* "<run>|<ms>|<reader's cursor>": the run, the time of the last read at
 * the end and the reader's cursor (borrowed from cursor); -1 when it is
 * not one this file wrote. */
static int
kit_runlogs_cursor(
    const char *cursor, int nruns, int *idx, long long *ms, const char **rcur)
{
	const char *bar = strchr(cursor, '|'), *bar2;
	char *end;

	if (bar == NULL || (bar2 = strchr(bar + 1, '|')) == NULL ||
	    (*idx = kit_cursor_run(cursor, bar, nruns)) == -1)
		return -1;
	*ms = strtoll(bar + 1, &end, 10);
	if (end != bar2)
		return -1;
	*rcur = bar2 + 1;
	return 0;
}

/* Nothing new: the same cursor again, as a copy (the framework frees its
 * own before it keeps the one it is handed). */
static void
kit_runlogs_same(backend_logs_fn fn, void *arg, const char *cursor)
{
	char *same = cursor != NULL ? xstrdup(cursor) : NULL;

	fn(arg, NULL, 0, same, 1, NULL);
	free(same);
}

void
kit_runlogs_fetch(const struct kit_runlogs_src *src, struct container *c,
    const char *cursor, int64_t since_ns, backend_logs_fn fn, void *arg)
{
	const cJSON *runs = json_arr(container_private(c), KIT_P_RUNS);
	struct kit_runlogs *op = xcalloc(1, sizeof(*op));
	const char *name, *rcur = NULL;
	long long last_ms = 0;
	struct err e;

	op->c = c;
	op->fn = fn;
	op->arg = arg;
	op->nruns = cJSON_GetArraySize(runs);
	op->marked = !json_bool(container_config(c), "Tty", 0);
	if (cursor != NULL && cursor[0] != '\0') {
		if (kit_runlogs_cursor(
			cursor, op->nruns, &op->idx, &last_ms, &rcur) == -1) {
			/* Only this file writes cursors: a bad one is a bug. */
			err_set(&e, 500, "%s logs: bad cursor \"%s\"",
			    src->name, cursor);
			fn(arg, NULL, 0, NULL, 1, &e);
			free(op);
			return;
		}
	} else {
		op->idx = kit_run_first(runs, since_ns);
	}
	/* Gently, within the query rate: nothing new yet. After the exit
	 * every read goes to the cloud (the drain of the grace period). */
	if (last_ms > 0 && container_running(c) &&
	    str_now_ns() / 1000000 - last_ms < src->poll_ms) {
		kit_runlogs_same(fn, arg, cursor);
		free(op);
		return;
	}
	name = json_str(cJSON_GetArrayItem(runs, op->idx), KIT_P_RUN_NAME);
	if (name == NULL ||
	    src->read(op, name, rcur,
		rcur != NULL && rcur[0] != '\0' ? 0 : since_ns) == -1) {
		/* Never ran: no output yet. */
		kit_runlogs_same(fn, arg, cursor);
		free(op);
	}
}
