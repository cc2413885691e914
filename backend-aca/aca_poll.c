/* The execution poller: each tick gets every running or starting
 * container's execution (JobExecution), settles parked starts when it
 * runs, and when it ended reports the exit code: the agent's report of the
 * main process (the 2025-07-01 execution carries no per-container code),
 * else the status's (Succeeded 0, Failed 1, Stopped 137). On start-up it
 * resolves starts a restart cut short and reports jobs of this instance
 * that the state does not know. */
#include <stdlib.h>
#include <string.h>

#include "aca.h"
#include "sockerless/json.h"
#include "sockerless/log.h"
#include "sockerless/xmalloc.h"

struct aca_poll_op {
	struct kit_poller *p;
	char *exec;
};

/* The call owns the op (azure_call_owned): freed after its callback, or
 * without it when the backend stops with the call in flight. */
static void
aca_poll_op_free(void *arg)
{
	struct aca_poll_op *op = arg;

	free(op->exec);
	free(op);
}

static int64_t
aca_poll_time(const char *s)
{
	int64_t ns = s != NULL ? azure_time_parse(s) : -1;

	return ns > 0 ? ns : str_now_ns();
}

/* The execution ended: the agent's code, else the status's. */
static void
aca_poll_ended(struct backend *b, struct container *c, const cJSON *props)
{
	const char *status = json_str(props, "status");
	const cJSON *ax = json_obj(container_private(c), BACKEND_P_AGENT_EXIT);
	int64_t done = aca_poll_time(json_str(props, "endTime"));
	int code = aca_def_exit_code(status);
	char why[256];
	struct err e;

	if (kit_start_pending(c)) {
		if (ax == NULL &&
		    !json_bool(
			container_private(c), BACKEND_P_AGENT_HELLO, 0)) {
			/* It ended before the workload ran (an image that
			 * could not be pulled, the agent's init failing). */
			snprintf(why, sizeof(why),
			    "the execution %s ended %s before the container "
			    "ran (Container Apps gives no reason here: see the "
			    "job's execution history)",
			    strrchr(json_str(container_private(c), KIT_P_EXEC),
				'/') +
				1,
			    status);
			kit_start_failed(
			    &e, "failed to start the Container Apps job", why);
			kit_start_settle(c, &e);
			return;
		}
		kit_start_settle(c, NULL);
	}
	if (!container_running(c))
		return;
	kit_run_started(b, c, aca_poll_time(json_str(props, "startTime")));
	if (ax != NULL) {
		int64_t at = aca_poll_time(json_str(ax, "finishedAt"));
		backend_container_exited(
		    b, c, (int)json_int(ax, "exitCode", 0), at, NULL);
		return;
	}
	snprintf(why, sizeof(why),
	    "the Container Apps execution ended %s without the agent's "
	    "report of the exit code",
	    status);
	backend_container_exited(
	    b, c, code, done, strcmp(status, "Failed") == 0 ? why : NULL);
}

static void
aca_poll_got(void *arg, const cJSON *ex, const struct cloud_error *ce)
{
	struct aca_poll_op *op = arg;
	struct backend *b = op->p->b;
	struct container *c;
	const cJSON *props = json_obj(ex, "properties");
	const char *status = json_str(props, "status");
	const char *start = json_str(props, "startTime");

	if (ce != NULL) {
		if (ce->http_status == 404)
			kit_run_missing(&aca_runs, b, op->exec);
		else
			log_warnx("polling %s: %s: %s", op->exec, ce->code,
			    ce->message);
		kit_poller_batch_done(op->p, ce->http_status != 404);
		return;
	}
	c = backend_container_by_private(b, KIT_P_EXEC, op->exec);
	if (c == NULL || status == NULL) {
		kit_poller_batch_done(op->p, 0);
		return;
	}
	if (aca_def_ended(status)) {
		aca_poll_ended(b, c, props);
		kit_poller_batch_done(op->p, 0);
		return;
	}
	/* An execution is Running while its replica still pulls the images:
	 * the workload runs once its agent linked. */
	if (!json_bool(container_private(c), BACKEND_P_AGENT_HELLO, 0)) {
		kit_poller_batch_done(op->p, 0);
		return;
	}
	if (strcmp(status, "Running") == 0) {
		if (kit_start_pending(c))
			kit_start_settle(c, NULL);
		kit_run_started(b, c, aca_poll_time(start));
	}
	kit_poller_batch_done(op->p, 0);
}

static const char *
aca_poll_id(struct container *c)
{
	const char *exec =
	    json_str(json_obj(container_doc(c), "Sockerless"), KIT_P_EXEC);

	if (exec == NULL || !(container_running(c) || kit_start_pending(c)))
		return NULL;
	return exec;
}

/* Batches of one: an execution is read by its id. */
static void
aca_poll_describe(struct kit_poller *p, cJSON *ids)
{
	struct aca_poll_op *op = xcalloc(1, sizeof(*op));
	const char *exec = cJSON_GetStringValue(cJSON_GetArrayItem(ids, 0));

	op->p = p;
	op->exec = xstrdup(exec != NULL ? exec : "");
	cJSON_Delete(ids);
	azure_call_owned(aca_az.az, "JobExecution", "GET", op->exec,
	    aca_conf.api_version_app, NULL, NULL, 0, aca_poll_got, op,
	    aca_poll_op_free);
}

struct kit_poller aca_poller = { .batch = 1,
	.max_backoff_ms = 30000,
	.id = aca_poll_id,
	.describe = aca_poll_describe };
static struct kit_passes aca_reconcile_passes;

void
aca_poll_start(struct backend *b)
{
	aca_poller.interval_ms = aca_conf.poll_ms;
	kit_poller_start(&aca_poller, b);
}

void
aca_poll_stop(void)
{
	kit_poller_stop(&aca_poller);
	kit_passes_stop(&aca_reconcile_passes);
}

/* --- reconciliation ------------------------------------------------------- */

static void
aca_poll_executions(void *arg, const cJSON *out, const struct cloud_error *ce)
{
	struct kit_runs_find *f = arg;
	const cJSON *ex, *ctr;

	if (ce != NULL) {
		kit_runs_found(f, NULL, ce->message);
		return;
	}
	cJSON_ArrayForEach(ex, json_arr(out, "value")) {
		const char *id = json_str(ex, "id");
		/* Its template's containers' env. */
		cJSON_ArrayForEach(ctr,
		    json_arr(json_obj(json_obj(ex, "properties"), "template"),
			"containers")) {
			if (id != NULL &&
			    kit_run_env_is(
				json_arr(ctr, "env"), kit_runs_find_id(f))) {
				kit_runs_found(f, id, NULL);
				return;
			}
		}
	}
	kit_runs_found(f, NULL, NULL);
}

static void
aca_poll_list_runs(struct kit_runs_find *f, const char *job)
{
	char *path = aca_job_path(job, "/executions");

	azure_list_owned(aca_az.az, "JobsExecutions_List", path,
	    aca_conf.api_version_app, NULL, 5, aca_poll_executions, f,
	    kit_runs_find_free);
	free(path);
}

struct kit_runs aca_runs = { .cloud = "Container Apps",
	.poller = &aca_poller,
	.idle = &aca_idle,
	.orphans = &aca_orphans,
	.use = aca_job_use,
	.list_runs = aca_poll_list_runs };

/* Jobs tagged with this instance that the state does not know. */
static void
aca_poll_jobs(void *arg, const cJSON *out, const struct cloud_error *ce)
{
	struct backend *b = arg;
	const cJSON *job;

	if (ce != NULL) {
		log_warnx("reconciling: Jobs_ListByResourceGroup: %s: %s",
		    ce->code, ce->message);
		return;
	}
	cJSON_ArrayForEach(job, json_arr(out, "value")) {
		const char *name = json_str(job, "name");
		const char *ti =
		    json_str(json_obj(job, "tags"), ACA_TAG_INSTANCE);

		if (name != NULL && ti != NULL &&
		    strcmp(ti, backend_instance(b)) == 0)
			kit_runs_orphan(&aca_runs, name);
	}
}

static int
aca_poll_reconcile_pass(struct backend *b, int n)
{
	char *path;

	(void)n;
	kit_runs_intents(&aca_runs, b);
	path = aca_job_path(NULL, NULL);
	azure_list(aca_az.az, "Jobs_ListByResourceGroup", path,
	    aca_conf.api_version_app, NULL, 20, aca_poll_jobs, b);
	free(path);
	return -1;
}

/* Running containers are re-adopted by the poller itself (their state is
 * in the store, and their agents call back again); this resolves starts
 * a restart cut short, resumes the idle jobs' deletion and finds jobs of
 * ours the store does not know. */
void
aca_poll_reconcile(struct backend *b)
{
	kit_idle_resume(&aca_idle, b);
	aca_reconcile_passes.pass = aca_poll_reconcile_pass;
	kit_passes_start(&aca_reconcile_passes, b);
}
