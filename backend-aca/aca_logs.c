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
 * workspace). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aca.h"
#include "sockerless/json.h"
#include "sockerless/log.h"
#include "sockerless/xmalloc.h"

static void
aca_logs_got(void *arg, const struct azure_log_entry *ev, size_t n,
    const char *cursor, int more, const struct cloud_error *ce)
{
	struct kit_runlogs *op = arg;
	struct backend_log_event *out;
	struct err e;

	if (ce != NULL) {
		cloud_error_to_err(azure_provider(), ce, &e);
		err_wrap(&e, "reading Log Analytics");
		kit_runlogs_got(op, 0, NULL, 0, &e);
		return;
	}
	out = kit_runlogs_events(op, n);
	for (size_t i = 0; i < n; i++) {
		out[i].ts_ns = ev[i].ts_ns;
		out[i].stream =
		    ev[i].stream == 2 ? STDSTREAM_STDERR : STDSTREAM_STDOUT;
		out[i].msg = ev[i].text;
		out[i].len = ev[i].len;
	}
	kit_runlogs_got(op, n, cursor, more, NULL);
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

static int
aca_logs_read(
    struct kit_runlogs *op, const char *id, const char *acur, int64_t since_ns)
{
	const char *exec;
	char job[64];

	if (aca_logs_names(id, job, sizeof(job), &exec) == -1)
		return -1;
	azure_logs_read(aca_az.az, aca_conf.workspace_id, job, exec,
	    ACA_CONTAINER, acur, since_ns, aca_logs_got, op);
	return 0;
}

void
aca_logs_fetch(struct backend *b, struct container *c, const char *cursor,
    int64_t since_ns, backend_logs_fn fn, void *arg)
{
	struct kit_runlogs_src src = { "aca", aca_conf.logs_poll_ms,
		aca_logs_read };

	(void)b;
	kit_runlogs_fetch(&src, c, cursor, since_ns, fn, arg);
}
