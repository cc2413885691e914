/* Container output from Log Analytics: the console lines of the job's
 * execution (azure_logs_read: both console-log tables, the main container
 * only, stdout and stderr apart by their Stream column). A container that
 * ran several times has several executions, read in order. The agent
 * marks stderr lines when stdout and stderr may merge (docs/agent-link.md,
 * "The wrapper"); its marks are undone here.
 *
 * The cursor, the run and the pace are the kit's (kit_runlogs): while the
 * container runs, a follower queries again only aca.logs_poll_ms after a
 * read that reached the end (Log Analytics' query rate is limited per
 * workspace). A follower of the running execution goes on with the
 * Container Apps log stream once it has caught up (aca_stream.c, which
 * says where the seam is); the reader's own cursor is then
 * "s<sequence>:<ns of the last line>" instead of Log Analytics' JSON, and
 * reads are not paced (they cost no call). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aca.h"
#include "sockerless/json.h"
#include "sockerless/log.h"
#include "sockerless/str.h"
#include "sockerless/xmalloc.h"

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

/* Hands n lines to the kit: Log Analytics' or the stream's. */
static void
aca_logs_put(struct kit_runlogs *op, const struct azure_log_entry *ev, size_t n,
    const char *cursor, int more)
{
	struct backend_log_event *out = kit_runlogs_events(op, n);

	for (size_t i = 0; i < n; i++) {
		out[i].ts_ns = ev[i].ts_ns;
		out[i].stream =
		    ev[i].stream == 2 ? STDSTREAM_STDERR : STDSTREAM_STDOUT;
		out[i].msg = ev[i].text;
		out[i].len = ev[i].len;
	}
	kit_runlogs_got(op, n, cursor, more, NULL);
}

/* A Log Analytics read in flight. */
struct aca_logs_read {
	struct kit_runlogs *op;
	char *exec; /* the container's last execution: the stream may take
		     over */
	int running;
};

/* The time of Log Analytics' cursor ({"t": "<ns>", ...}); -1: none. */
static int64_t
aca_logs_cursor_time(const char *cursor)
{
	cJSON *o = cJSON_Parse(cursor != NULL ? cursor : "");
	const char *t = json_str(o, "t");
	int64_t ns = t != NULL ? strtoll(t, NULL, 10) : -1;

	cJSON_Delete(o);
	return ns;
}

static void
aca_logs_got(void *arg, const struct azure_log_entry *ev, size_t n,
    const char *cursor, int more, const struct cloud_error *ce)
{
	struct aca_logs_read *rd = arg;
	struct kit_runlogs *op = rd->op;
	char job[64], scur[64];
	const char *exec_name;
	uint64_t seq;
	struct err e;

	if (ce != NULL) {
		free(rd->exec);
		free(rd);
		cloud_error_to_err(azure_provider(), ce, &e);
		err_wrap(&e, "reading Log Analytics");
		kit_runlogs_got(op, 0, NULL, 0, &e);
		return;
	}
	/* Caught up while the execution runs: the stream, when it reaches
	 * back to the last line read. */
	if (!more && rd->exec != NULL &&
	    aca_logs_names(rd->exec, job, sizeof(job), &exec_name) == 0 &&
	    aca_stream_switch(rd->exec, job, exec_name, rd->running,
		aca_logs_cursor_time(cursor), &seq) == 1) {
		snprintf(scur, sizeof(scur), "s%llu:%lld",
		    (unsigned long long)seq,
		    (long long)aca_logs_cursor_time(cursor));
		cursor = scur;
	}
	free(rd->exec);
	free(rd);
	aca_logs_put(op, ev, n, cursor, more);
}

/* Whether id is the container's last execution. */
static int
aca_logs_last(struct container *c, const char *id)
{
	const cJSON *runs = json_arr(container_private(c), KIT_P_RUNS);
	const char *last =
	    json_str(cJSON_GetArrayItem(runs, cJSON_GetArraySize(runs) - 1),
		KIT_P_RUN_NAME);

	return last != NULL && strcmp(last, id) == 0;
}

/* The stream cursor "s<sequence>:<ns>" (ns -1: no line yet); -1 when
 * malformed. */
static int
aca_logs_scur(const char *scur, uint64_t *seq, int64_t *ts)
{
	const char *colon = strchr(scur, ':');
	char num[32];
	long long v;

	if (scur[0] != 's' || colon == NULL ||
	    (size_t)(colon - scur) >= sizeof(num))
		return -1;
	memcpy(num, scur + 1, (size_t)(colon - scur - 1));
	num[colon - scur - 1] = '\0';
	if (str_tonum(num, 0, INT64_MAX, &v, NULL) == -1)
		return -1;
	*seq = (uint64_t)v;
	if (str_tonum(colon + 1, -1, INT64_MAX, &v, NULL) == -1)
		return -1;
	*ts = (int64_t)v;
	return 0;
}

/* A follower on the stream: its lines from the cursor's sequence; 0
 * when served, -1 (nothing done) when the stream cannot serve it. */
static int
aca_logs_stream(struct kit_runlogs *op, const char *id, const char *scur)
{
	const struct azure_log_entry *l;
	uint64_t seq;
	int64_t ts;
	size_t n;
	int more;
	char next[64];

	if (aca_logs_scur(scur, &seq, &ts) == -1 ||
	    aca_stream_lines(id, seq,
		container_running(kit_runlogs_container(op)), &l, &n,
		&more) == -1)
		return -1;
	seq += (uint64_t)n;
	if (n > 0)
		ts = l[n - 1].ts_ns;
	snprintf(next, sizeof(next), "s%llu:%lld", (unsigned long long)seq,
	    (long long)ts);
	aca_logs_put(op, l, n, next, more);
	return 0;
}

static int
aca_logs_read(
    struct kit_runlogs *op, const char *id, const char *acur, int64_t since_ns)
{
	struct aca_logs_read *rd;
	const char *exec;
	char job[64];
	uint64_t seq;
	int64_t ts;

	if (aca_logs_names(id, job, sizeof(job), &exec) == -1)
		return -1;
	if (acur != NULL && acur[0] == 's') {
		if (aca_logs_stream(op, id, acur) == 0)
			return 0;
		/* Back to Log Analytics, after the last line had. */
		if (aca_logs_scur(acur, &seq, &ts) == 0 && ts >= 0)
			since_ns = ts + 1;
		acur = NULL;
	}
	rd = xcalloc(1, sizeof(*rd));
	rd->op = op;
	if (aca_logs_last(kit_runlogs_container(op), id)) {
		rd->exec = xstrdup(id);
		rd->running = container_running(kit_runlogs_container(op));
	}
	azure_logs_read(aca_az.az, aca_conf.workspace_id, job, exec,
	    ACA_CONTAINER, acur, since_ns, aca_logs_got, rd);
	return 0;
}

void
aca_logs_fetch(struct backend *b, struct container *c, const char *cursor,
    int64_t since_ns, backend_logs_fn fn, void *arg)
{
	struct kit_runlogs_src src = { "aca", aca_conf.logs_poll_ms,
		aca_logs_read };
	const char *bar = cursor != NULL ? strchr(cursor, '|') : NULL;

	(void)b;
	/* On the stream: no pace. */
	if (bar != NULL && (bar = strchr(bar + 1, '|')) != NULL &&
	    bar[1] == 's')
		src.poll_ms = 0;
	kit_runlogs_fetch(&src, c, cursor, since_ns, fn, arg);
}
