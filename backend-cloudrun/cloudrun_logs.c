/* Container output from Cloud Logging: the entries of the job's execution
 * (resource.type "cloud_run_job", the job's name, the execution's name
 * label), stdout and stderr apart by their log names. A container that
 * ran several times has several executions, read in order. The agent
 * marks stderr lines (docs/agent-link.md, "The wrapper"); its marks are
 * undone here.
 *
 * The cursor is "<run index>|<ms>|<the reader's own cursor>", ms the time
 * of the last read that reached the end. Cloud Logging's read quota is
 * small (entries:list calls per minute and project): while the container
 * runs, a follower reads again only cloudrun.logs_poll_ms after such a
 * read; between, a fetch answers "nothing new" without a call. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cloudrun.h"
#include "sockerless/json.h"
#include "sockerless/log.h"
#include "sockerless/xmalloc.h"

/* Entries per entries:list page. */
#define CLOUDRUN_LOGS_PAGE 1000

struct cloudrun_logs_op {
	backend_logs_fn fn;
	void *arg;
	int idx, nruns;
	int marked;
};

static void
cloudrun_logs_got(void *arg, const struct gcp_log_entry *ev, size_t n,
    const char *cursor, int more, const struct cloud_error *ce)
{
	struct cloudrun_logs_op *op = arg;
	struct backend_log_event *out = NULL;
	char *next;
	int at_end = !more;
	struct err e;

	if (ce != NULL) {
		cloud_error_to_err(gcp_provider(), ce, &e);
		err_wrap(&e, "reading Cloud Logging");
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

/* "<run>|<ms>|<reader's cursor>": the run, the time of the last read at
 * the end and the reader's cursor (borrowed from cursor); -1 when it is
 * not one this file wrote. */
static int
cloudrun_logs_cursor(
    const char *cursor, int nruns, int *idx, long long *ms, const char **gcur)
{
	const char *bar = strchr(cursor, '|'), *bar2;
	char *end;

	if (bar == NULL || (bar2 = strchr(bar + 1, '|')) == NULL ||
	    (*idx = kit_cursor_run(cursor, bar, nruns)) == -1)
		return -1;
	*ms = strtoll(bar + 1, &end, 10);
	if (end != bar2)
		return -1;
	*gcur = bar2 + 1;
	return 0;
}

/* Nothing new: the same cursor again, as a copy (the framework frees its
 * own before it keeps the one it is handed). */
static void
cloudrun_logs_same(backend_logs_fn fn, void *arg, const char *cursor)
{
	char *same = cursor != NULL ? xstrdup(cursor) : NULL;

	fn(arg, NULL, 0, same, 1, NULL);
	free(same);
}

void
cloudrun_logs_fetch(struct backend *b, struct container *c, const char *cursor,
    int64_t since_ns, backend_logs_fn fn, void *arg)
{
	const cJSON *runs = json_arr(container_private(c), CLOUDRUN_P_RUNS);
	struct cloudrun_logs_op *op = xcalloc(1, sizeof(*op));
	const char *exec, *gcur = NULL;
	long long last_ms = 0;
	char *filter;
	struct err e;

	(void)b;
	op->fn = fn;
	op->arg = arg;
	op->nruns = cJSON_GetArraySize(runs);
	op->marked = !json_bool(container_config(c), "Tty", 0);
	if (cursor != NULL && cursor[0] != '\0') {
		if (cloudrun_logs_cursor(
			cursor, op->nruns, &op->idx, &last_ms, &gcur) == -1) {
			/* Only this file writes cursors: a bad one is a bug. */
			err_set(&e, 500, "cloudrun logs: bad cursor \"%s\"",
			    cursor);
			fn(arg, NULL, 0, NULL, 1, &e);
			free(op);
			return;
		}
	} else {
		op->idx = kit_run_first(runs, since_ns);
	}
	/* Gently, within the read quota: nothing new yet. After the exit
	 * every read goes to the cloud (the drain of the grace period). */
	if (last_ms > 0 && container_running(c) &&
	    str_now_ns() / 1000000 - last_ms < cloudrun_conf.logs_poll_ms) {
		cloudrun_logs_same(fn, arg, cursor);
		free(op);
		return;
	}
	exec = json_str(cJSON_GetArrayItem(runs, op->idx), CLOUDRUN_P_RUN_NAME);
	if (exec == NULL || (filter = cloudrun_def_log_filter(exec)) == NULL) {
		/* Never ran: no output yet. */
		cloudrun_logs_same(fn, arg, cursor);
		free(op);
		return;
	}
	gcp_logs_read(cloudrun_gcp.gcp, cloudrun_gcp.project, filter, gcur,
	    gcur != NULL && gcur[0] != '\0' ? 0 : since_ns, CLOUDRUN_LOGS_PAGE,
	    cloudrun_logs_got, op);
	free(filter);
}
