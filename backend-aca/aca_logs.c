/* Container output from Log Analytics: the console lines of the job's
 * execution (azure_logs_read: both console-log tables, the main container
 * only, stdout and stderr apart by their Stream column). A container that
 * ran several times has several executions, read in order. The agent
 * marks stderr lines when stdout and stderr may merge (docs/agent-link.md,
 * "The wrapper"); its marks are undone here.
 *
 * The cursor is "<run index>|<ms>|<the reader's own cursor>", ms the time
 * of the last read that reached the end: while the container runs, a
 * follower queries again only aca.logs_poll_ms after such a read (Log
 * Analytics' query rate is limited per workspace); between, a fetch
 * answers "nothing new" without a call. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aca.h"
#include "sockerless/json.h"
#include "sockerless/log.h"
#include "sockerless/xmalloc.h"

struct aca_logs_op {
	backend_logs_fn fn;
	void *arg;
	int idx, nruns;
	int marked;
};

static void
aca_logs_got(void *arg, const struct azure_log_entry *ev, size_t n,
    const char *cursor, int more, const struct cloud_error *ce)
{
	struct aca_logs_op *op = arg;
	struct backend_log_event *out = NULL;
	char *next;
	int at_end = !more;
	struct err e;

	if (ce != NULL) {
		cloud_error_to_err(azure_provider(), ce, &e);
		err_wrap(&e, "reading Log Analytics");
		op->fn(op->arg, NULL, 0, NULL, 0, &e);
		free(op);
		return;
	}
	out = xcalloc(n + 1, sizeof(*out));
	for (size_t i = 0; i < n; i++) {
		out[i].ts_ns = ev[i].ts_ns;
		out[i].stream =
		    ev[i].stream == 2 ? STDSTREAM_STDERR : STDSTREAM_STDOUT;
		out[i].msg = ev[i].text;
		out[i].len = ev[i].len;
		if (op->marked)
			kit_logs_unmark(&out[i]);
	}
	/* A later run exists: this one is over, go on with the next. */
	if (at_end && op->idx + 1 < op->nruns) {
		next = xasprintf("%d|0|", op->idx + 1);
		at_end = 0;
	} else {
		next = xasprintf("%d|%lld|%s", op->idx,
		    at_end ? (long long)(str_now_ns() / 1000000) : 0LL,
		    cursor != NULL ? cursor : "");
	}
	op->fn(op->arg, out, n, next, at_end, NULL);
	free(next);
	free(out);
	free(op);
}

/* "<run>|<ms>|<reader's cursor>"; -1 when it is not one this file
 * wrote. */
static int
aca_logs_cursor(
    const char *cursor, int nruns, int *idx, long long *ms, const char **acur)
{
	const char *bar = strchr(cursor, '|'), *bar2;
	char *end;

	if (bar == NULL || (bar2 = strchr(bar + 1, '|')) == NULL ||
	    (*idx = kit_cursor_run(cursor, bar, nruns)) == -1)
		return -1;
	*ms = strtoll(bar + 1, &end, 10);
	if (end != bar2)
		return -1;
	*acur = bar2 + 1;
	return 0;
}

/* Nothing new: the same cursor again, as a copy. */
static void
aca_logs_same(backend_logs_fn fn, void *arg, const char *cursor)
{
	char *same = cursor != NULL ? xstrdup(cursor) : NULL;

	fn(arg, NULL, 0, same, 1, NULL);
	free(same);
}

/* The job and execution names of an execution id
 * (".../jobs/<job>/executions/<execution>"); -1 when malformed. */
static int
aca_logs_names(const char *id, char *job, size_t jobsz, const char **exec)
{
	const char *j = strstr(id, "/jobs/"), *x = strstr(id, "/executions/");
	size_t n;

	if (j == NULL || x == NULL || x <= j + 6 || x[12] == '\0')
		return -1;
	n = (size_t)(x - (j + 6));
	if (n >= jobsz)
		return -1;
	memcpy(job, j + 6, n);
	job[n] = '\0';
	*exec = x + 12;
	return 0;
}

void
aca_logs_fetch(struct backend *b, struct container *c, const char *cursor,
    int64_t since_ns, backend_logs_fn fn, void *arg)
{
	const cJSON *runs = json_arr(container_private(c), KIT_P_RUNS);
	struct aca_logs_op *op = xcalloc(1, sizeof(*op));
	const char *id, *exec, *acur = NULL;
	long long last_ms = 0;
	char job[64];
	struct err e;

	(void)b;
	op->fn = fn;
	op->arg = arg;
	op->nruns = cJSON_GetArraySize(runs);
	op->marked = !json_bool(container_config(c), "Tty", 0);
	if (cursor != NULL && cursor[0] != '\0') {
		if (aca_logs_cursor(
			cursor, op->nruns, &op->idx, &last_ms, &acur) == -1) {
			/* Only this file writes cursors: a bad one is a bug. */
			err_set(&e, 500, "aca logs: bad cursor \"%s\"", cursor);
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
	    str_now_ns() / 1000000 - last_ms < aca_conf.logs_poll_ms) {
		aca_logs_same(fn, arg, cursor);
		free(op);
		return;
	}
	id = json_str(cJSON_GetArrayItem(runs, op->idx), KIT_P_RUN_NAME);
	if (id == NULL || aca_logs_names(id, job, sizeof(job), &exec) == -1) {
		/* Never ran: no output yet. */
		aca_logs_same(fn, arg, cursor);
		free(op);
		return;
	}
	azure_logs_read(aca_az.az, aca_conf.workspace_id, job, exec,
	    ACA_CONTAINER, acur, acur != NULL && acur[0] != '\0' ? 0 : since_ns,
	    aca_logs_got, op);
}
