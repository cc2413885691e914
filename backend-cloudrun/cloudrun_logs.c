/* Container output from Cloud Logging: the entries of the job's execution
 * (resource.type "cloud_run_job", the job's name, the execution's name
 * label), stdout and stderr apart by their log names. A container that
 * ran several times has several executions, read in order. The agent
 * marks stderr lines (docs/agent-link.md, "The wrapper"); its marks are
 * undone here.
 *
 * The cursor, the run and the pace are the kit's (kit_runlogs). Cloud
 * Logging's read quota is small (entries:list calls per minute and
 * project): while the container runs, a follower reads again only
 * cloudrun.logs_poll_ms after a read that reached the end. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cloudrun.h"
#include "sockerless/json.h"
#include "sockerless/log.h"
#include "sockerless/xmalloc.h"

/* Entries per entries:list page. */
#define CLOUDRUN_LOGS_PAGE 1000

static void
cloudrun_logs_got(void *arg, const struct gcp_log_entry *ev, size_t n,
    const char *cursor, int more, const struct cloud_error *ce)
{
	struct kit_runlogs *op = arg;
	struct backend_log_event *out;
	struct err e;

	if (ce != NULL) {
		cloud_error_to_err(gcp_provider(), ce, &e);
		err_wrap(&e, "reading Cloud Logging");
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

static int
cloudrun_logs_read(struct kit_runlogs *op, const char *exec, const char *gcur,
    int64_t since_ns)
{
	char *filter = cloudrun_def_log_filter(exec);

	if (filter == NULL)
		return -1;
	gcp_logs_read(cloudrun_gcp.gcp, cloudrun_gcp.project, filter, gcur,
	    since_ns, CLOUDRUN_LOGS_PAGE, cloudrun_logs_got, op);
	free(filter);
	return 0;
}

void
cloudrun_logs_fetch(struct backend *b, struct container *c, const char *cursor,
    int64_t since_ns, backend_logs_fn fn, void *arg)
{
	struct kit_runlogs_src src = { "cloudrun", cloudrun_conf.logs_poll_ms,
		cloudrun_logs_read };

	(void)b;
	kit_runlogs_fetch(&src, c, cursor, since_ns, fn, arg);
}
