/* The execution poller: each tick gets every running or starting
 * container's execution (executions.get), settles parked starts when the
 * execution runs, and when it completed reads its task's last attempt for
 * the exit code (the agent exits with the workload's own code). On
 * start-up it resolves starts a restart cut short and reports jobs of
 * this instance that the state does not know. */
#include <stdlib.h>
#include <string.h>

#include "cloudrun.h"
#include "sockerless/json.h"
#include "sockerless/log.h"
#include "sockerless/xmalloc.h"

/* One executions.get, and the tasks.list that may follow it. */
struct cloudrun_poll_op {
	struct kit_poller *p;
	char *exec;
	char *why; /* the execution's reason, when the task gives none */
	int cancelled;
	int64_t done_ns;
	int handed; /* passed on to the next call, which owns it now */
};

/* The call owns the op (gcp_call_owned): freed after its callback, or
 * without it when the backend stops with the call in flight; unless the
 * callback handed it on to the next call (executions.get to
 * tasks.list). */
static void
cloudrun_poll_op_free(void *arg)
{
	struct cloudrun_poll_op *op = arg;

	if (op->handed) {
		op->handed = 0;
		return;
	}
	free(op->exec);
	free(op->why);
	free(op);
}

/* The reason the execution gives (its Completed condition's message). */
static const char *
cloudrun_poll_why(const cJSON *ex)
{
	const cJSON *cond;

	cJSON_ArrayForEach(cond, json_arr(ex, "conditions")) {
		const char *st = json_str(cond, "state");
		if (st != NULL && strcmp(st, "CONDITION_FAILED") == 0 &&
		    json_str(cond, "message") != NULL)
			return json_str(cond, "message");
	}
	return NULL;
}

static void
cloudrun_poll_tasks(void *arg, const cJSON *out, const struct cloud_error *ce)
{
	struct cloudrun_poll_op *op = arg;
	struct backend *b = op->p->b;
	struct container *c =
	    backend_container_by_private(b, CLOUDRUN_P_EXEC, op->exec);
	const cJSON *task = cJSON_GetArrayItem(json_arr(out, "tasks"), 0);
	const char *why = json_str(
	    json_obj(json_obj(task, "lastAttemptResult"), "status"), "message");
	int code;
	struct err e;

	if (why == NULL)
		why = op->why;

	if (ce != NULL) {
		log_warnx("polling %s: tasks.list: %s: %s", op->exec, ce->code,
		    ce->message);
		kit_poller_batch_done(op->p, 1);
		return;
	}
	if (c == NULL) {
		kit_poller_batch_done(op->p, 0);
		return;
	}
	code = cloudrun_def_exit_code(task, op->cancelled);
	if (kit_start_pending(c)) {
		if (code < 0) {
			/* It ended before the workload ran. */
			kit_start_failed(&e,
			    "failed to start the Cloud Run job",
			    why != NULL ? why :
					  "the execution ended before it ran");
			kit_start_settle(c, &e);
			kit_poller_batch_done(op->p, 0);
			return;
		}
		kit_start_settle(c, NULL);
	}
	if (container_running(c)) {
		kit_run_started(b, c, op->done_ns);
		backend_container_exited(b, c,
		    code >= 0 ? code : kit_start_failure_code(why), op->done_ns,
		    code >= 0 ? NULL :
				(why != NULL ? why :
					       "the execution ended without an "
					       "exit code"));
	}
	kit_poller_batch_done(op->p, 0);
}

static void
cloudrun_poll_got(void *arg, const cJSON *ex, const struct cloud_error *ce)
{
	struct cloudrun_poll_op *op = arg;
	struct backend *b = op->p->b;
	struct container *c;
	const char *start = json_str(ex, "startTime");
	const char *done = json_str(ex, "completionTime");
	int running = json_int(ex, "runningCount", 0) > 0;
	char *path;

	if (ce != NULL) {
		if (strcmp(ce->code, "NOT_FOUND") == 0)
			kit_run_missing(&cloudrun_runs, b, op->exec);
		else
			log_warnx("polling %s: %s: %s", op->exec, ce->code,
			    ce->message);
		kit_poller_batch_done(
		    op->p, strcmp(ce->code, "NOT_FOUND") != 0);
		return;
	}
	c = backend_container_by_private(b, CLOUDRUN_P_EXEC, op->exec);
	if (c == NULL) {
		kit_poller_batch_done(op->p, 0);
		return;
	}
	if (done != NULL) {
		/* The exit code is the task's (tasks.list). */
		op->cancelled = json_int(ex, "cancelledCount", 0) > 0;
		if (cloudrun_poll_why(ex) != NULL)
			op->why = xstrdup(cloudrun_poll_why(ex));
		op->done_ns = gcp_time_parse(done);
		if (op->done_ns < 0)
			op->done_ns = str_now_ns();
		path = xasprintf("v2/%s/tasks", op->exec);
		op->handed = 1;
		gcp_call_owned(cloudrun_gcp.gcp, "run", "tasks.list", "GET",
		    path, NULL, NULL, 0, cloudrun_poll_tasks, op,
		    cloudrun_poll_op_free);
		free(path);
		return;
	}
	if (kit_start_pending(c) && (running || start != NULL))
		kit_start_settle(c, NULL);
	if (start != NULL)
		kit_run_started(b, c, gcp_time_parse(start));
	kit_poller_batch_done(op->p, 0);
}

static const char *
cloudrun_poll_id(struct container *c)
{
	const char *exec =
	    json_str(json_obj(container_doc(c), "Sockerless"), CLOUDRUN_P_EXEC);

	if (exec == NULL || !(container_running(c) || kit_start_pending(c)))
		return NULL;
	return exec;
}

/* Batches of one: executions.get takes one name. */
static void
cloudrun_poll_describe(struct kit_poller *p, cJSON *ids)
{
	struct cloudrun_poll_op *op = xcalloc(1, sizeof(*op));
	const char *exec = cJSON_GetStringValue(cJSON_GetArrayItem(ids, 0));
	char *path;

	op->p = p;
	op->exec = xstrdup(exec != NULL ? exec : "");
	cJSON_Delete(ids);
	path = xasprintf("v2/%s", op->exec);
	gcp_call_owned(cloudrun_gcp.gcp, "run", "executions.get", "GET", path,
	    NULL, NULL, 0, cloudrun_poll_got, op, cloudrun_poll_op_free);
	free(path);
}

struct kit_poller cloudrun_poller = { .batch = 1,
	.max_backoff_ms = 30000,
	.id = cloudrun_poll_id,
	.describe = cloudrun_poll_describe };
static struct kit_passes cloudrun_reconcile_passes;

void
cloudrun_poll_start(struct backend *b)
{
	cloudrun_poller.interval_ms = cloudrun_conf.poll_ms;
	kit_poller_start(&cloudrun_poller, b);
}

void
cloudrun_poll_stop(void)
{
	kit_poller_stop(&cloudrun_poller);
	kit_passes_stop(&cloudrun_reconcile_passes);
}

/* --- reconciliation ------------------------------------------------------- */

static void
cloudrun_poll_executions(
    void *arg, const cJSON *out, const struct cloud_error *ce)
{
	struct kit_runs_find *f = arg;
	const cJSON *ex;

	if (ce != NULL) {
		kit_runs_found(f, NULL, ce->message);
		return;
	}
	cJSON_ArrayForEach(ex, json_arr(out, "executions")) {
		const char *name = json_str(ex, "name");
		/* The first container is the workload's (its overrides'
		 * env). */
		const cJSON *ctr = cJSON_GetArrayItem(
		    json_arr(json_obj(ex, "template"), "containers"), 0);

		if (name != NULL &&
		    kit_run_env_is(json_arr(ctr, "env"), kit_runs_find_id(f)) &&
		    gcp_time_parse(json_str(ex, "createTime")) >=
			kit_runs_find_since(f) - 60000000000LL) {
			kit_runs_found(f, name, NULL);
			return;
		}
	}
	kit_runs_found(f, NULL, NULL);
}

static void
cloudrun_poll_list_runs(struct kit_runs_find *f, const char *job)
{
	char *path = cloudrun_job_path(job, "/executions");

	gcp_list_owned(cloudrun_gcp.gcp, "run", "executions.list", "GET", path,
	    "pageSize=100", NULL, "executions", 5, cloudrun_poll_executions, f,
	    kit_runs_find_free);
	free(path);
}

struct kit_runs cloudrun_runs = { .cloud = "Cloud Run",
	.poller = &cloudrun_poller,
	.idle = &cloudrun_idle,
	.orphans = &cloudrun_orphans,
	.use = kit_run_use,
	.list_runs = cloudrun_poll_list_runs };

/* Jobs labelled with this instance that the state does not know. */
static void
cloudrun_poll_jobs(void *arg, const cJSON *out, const struct cloud_error *ce)
{
	struct backend *b = arg;
	const cJSON *job;
	char inst[64];

	if (ce != NULL) {
		log_warnx(
		    "reconciling: jobs.list: %s: %s", ce->code, ce->message);
		return;
	}
	gcp_label_value(backend_instance(b), inst, sizeof(inst));
	cJSON_ArrayForEach(job, json_arr(out, "jobs")) {
		const char *name = json_str(job, "name");
		const char *li =
		    json_str(json_obj(job, "labels"), CLOUDRUN_LABEL_INSTANCE);

		if (name == NULL || li == NULL || strcmp(li, inst) != 0)
			continue;
		kit_runs_orphan(&cloudrun_runs,
		    strrchr(name, '/') ? strrchr(name, '/') + 1 : name);
	}
}

static int
cloudrun_poll_reconcile_pass(struct backend *b, int n)
{
	char *path;

	(void)n;
	kit_runs_intents(&cloudrun_runs, b);
	path = cloudrun_job_path(NULL, NULL);
	gcp_list(cloudrun_gcp.gcp, "run", "jobs.list", "GET", path,
	    "pageSize=100", NULL, "jobs", 20, cloudrun_poll_jobs, b);
	free(path);
	return -1;
}

/* Running containers are re-adopted by the poller itself (their state is
 * in the store, and their agents call back again); this resolves starts
 * a restart cut short, resumes the idle jobs' deletion and finds jobs of
 * ours the store does not know. */
void
cloudrun_poll_reconcile(struct backend *b)
{
	kit_idle_resume(&cloudrun_idle, b);
	cloudrun_reconcile_passes.pass = cloudrun_poll_reconcile_pass;
	kit_passes_start(&cloudrun_reconcile_passes, b);
}
