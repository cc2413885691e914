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
};

static void
cloudrun_poll_op_end(struct cloudrun_poll_op *op, int failed)
{
	kit_poller_batch_done(op->p, failed);
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
		cloudrun_poll_op_end(op, 1);
		return;
	}
	if (c == NULL) {
		cloudrun_poll_op_end(op, 0);
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
			cloudrun_poll_op_end(op, 0);
			return;
		}
		kit_start_settle(c, NULL);
	}
	if (container_running(c)) {
		if (!json_bool(container_private(c), CLOUDRUN_P_STARTED, 0)) {
			json_set(container_private(c), CLOUDRUN_P_STARTED,
			    cJSON_CreateTrue());
			backend_container_started(b, c, op->done_ns);
		}
		backend_container_exited(b, c,
		    code >= 0 ? code : kit_start_failure_code(why), op->done_ns,
		    code >= 0 ? NULL :
				(why != NULL ? why :
					       "the execution ended without an "
					       "exit code"));
	}
	cloudrun_poll_op_end(op, 0);
}

/* An execution we think runs is gone (deleted by someone else). */
static void
cloudrun_poll_missing(struct backend *b, const char *exec)
{
	struct container *c =
	    backend_container_by_private(b, CLOUDRUN_P_EXEC, exec);
	struct err e;

	if (c != NULL && kit_start_pending(c)) {
		err_set(&e, 500,
		    "Cloud Run lost execution %s before it started; try again",
		    exec);
		kit_start_settle(c, &e);
		return;
	}
	if (c == NULL || !container_running(c))
		return;
	log_warnx("container %.12s: Cloud Run no longer knows %s", c->id, exec);
	backend_container_exited(b, c, 255, str_now_ns(),
	    "Cloud Run no longer knows the execution: it was deleted and its "
	    "exit code is lost");
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
			cloudrun_poll_missing(b, op->exec);
		else
			log_warnx("polling %s: %s: %s", op->exec, ce->code,
			    ce->message);
		cloudrun_poll_op_end(op, strcmp(ce->code, "NOT_FOUND") != 0);
		return;
	}
	c = backend_container_by_private(b, CLOUDRUN_P_EXEC, op->exec);
	if (c == NULL) {
		cloudrun_poll_op_end(op, 0);
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
		gcp_call(cloudrun_gcp.gcp, "run", "tasks.list", "GET", path,
		    NULL, NULL, 0, cloudrun_poll_tasks, op);
		free(path);
		return;
	}
	if (kit_start_pending(c) && (running || start != NULL))
		kit_start_settle(c, NULL);
	if (container_running(c) && start != NULL &&
	    !json_bool(container_private(c), CLOUDRUN_P_STARTED, 0)) {
		json_set(container_private(c), CLOUDRUN_P_STARTED,
		    cJSON_CreateTrue());
		backend_container_started(b, c,
		    gcp_time_parse(start) > 0 ? gcp_time_parse(start) :
						str_now_ns());
	}
	cloudrun_poll_op_end(op, 0);
}

static const char *
cloudrun_poll_id(struct container *c)
{
	const char *exec =
	    json_str(json_obj(c->doc, "Sockerless"), CLOUDRUN_P_EXEC);

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
	gcp_call(cloudrun_gcp.gcp, "run", "executions.get", "GET", path, NULL,
	    NULL, 0, cloudrun_poll_got, op);
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

/* --- reconciliation --------------------------------------------------------
 */

/* A journalled jobs.run whose answer the process did not see. */
static int
cloudrun_poll_unresolved(struct container *c)
{
	return cJSON_GetObjectItemCaseSensitive(
		   container_private(c), CLOUDRUN_P_STARTING) != NULL &&
	    !container_running(c) && !kit_start_pending(c) && !c->gone;
}

/* Whether execution ex runs container id (its overrides' env). */
static int
cloudrun_poll_runs(const cJSON *ex, const char *id)
{
	const cJSON *ctr = cJSON_GetArrayItem(
	    json_arr(json_obj(ex, "template"), "containers"), 0);
	const cJSON *kv;

	cJSON_ArrayForEach(kv, json_arr(ctr, "env")) {
		const char *n = json_str(kv, "name"),
			   *v = json_str(kv, "value");
		if (n != NULL && v != NULL &&
		    strcmp(n, "SOCKERLESS_CONTAINER_ID") == 0 &&
		    strcmp(v, id) == 0)
			return 1;
	}
	return 0;
}

/* The execution of a start the restart cut short: the container runs it
 * (new: not yet recorded as a run), and the poller reports its end. */
static void
cloudrun_poll_adopt(
    struct backend *b, struct container *c, const char *exec, int new_run)
{
	cJSON *priv = container_private(c);
	char *name = xstrdup(exec); /* exec may be priv's own */

	if (new_run)
		kit_run_use(priv, name);
	cJSON_DeleteItemFromObjectCaseSensitive(priv, CLOUDRUN_P_STARTING);
	log_warnx("container %.12s: re-adopted execution %s of a start the "
		  "restart interrupted",
	    c->id, name);
	backend_container_adopted(b, c, str_now_ns());
	kit_poller_kick(&cloudrun_poller);
	free(name);
}

struct cloudrun_poll_find {
	struct backend *b;
	char id[65];
};

static void
cloudrun_poll_executions(
    void *arg, const cJSON *out, const struct cloud_error *ce)
{
	struct cloudrun_poll_find *a = arg;
	struct container *c = kit_container_by_id(a->b, a->id);
	const cJSON *ex;

	if (ce != NULL) {
		/* The intent stays: the next start-up looks again. */
		log_warnx("reconciling %.12s: executions.list: %s: %s", a->id,
		    ce->code, ce->message);
		goto out;
	}
	if (c == NULL || !cloudrun_poll_unresolved(c))
		goto out;
	cJSON_ArrayForEach(ex, json_arr(out, "executions")) {
		const char *name = json_str(ex, "name");
		if (name != NULL && cloudrun_poll_runs(ex, c->id) &&
		    gcp_time_parse(json_str(ex, "createTime")) >=
			json_int(container_private(c), CLOUDRUN_P_STARTING, 0) -
			    60000000000LL) {
			cloudrun_poll_adopt(a->b, c, name, 1);
			goto out;
		}
	}
	log_warnx("container %.12s: no execution of its interrupted start "
		  "exists; it stays created",
	    c->id);
	cJSON_DeleteItemFromObjectCaseSensitive(
	    container_private(c), CLOUDRUN_P_STARTING);
	backend_container_save(a->b, c);
out:
	free(a);
}

/* A start journalled before the restart: adopted by the execution
 * jobs.run answered, else found among the job's executions. */
static void
cloudrun_poll_intent(struct backend *b, struct container *c, void *arg)
{
	cJSON *priv = container_private(c);
	const cJSON *last = cJSON_GetArrayItem(json_arr(priv, CLOUDRUN_P_RUNS),
	    cJSON_GetArraySize(json_arr(priv, CLOUDRUN_P_RUNS)) - 1);
	struct cloudrun_poll_find *a;
	const char *job = json_str(priv, CLOUDRUN_P_JOB);
	char *path;

	(void)arg;
	if (!cloudrun_poll_unresolved(c) || job == NULL)
		return;
	if (last != NULL && json_str(priv, CLOUDRUN_P_EXEC) != NULL &&
	    json_int(last, CLOUDRUN_P_RUN_AT, 0) >=
		json_int(priv, CLOUDRUN_P_STARTING, 0)) {
		cloudrun_poll_adopt(b, c, json_str(priv, CLOUDRUN_P_EXEC), 0);
		return;
	}
	a = xcalloc(1, sizeof(*a));
	a->b = b;
	memcpy(a->id, c->id, sizeof(a->id));
	path = cloudrun_job_path(job, "/executions");
	gcp_list(cloudrun_gcp.gcp, "run", "executions.list", "GET", path,
	    "pageSize=100", NULL, "executions", 5, cloudrun_poll_executions, a);
	free(path);
}

static int
cloudrun_poll_known(struct backend *b, const char *job)
{
	(void)b;
	return kit_idle_known(&cloudrun_idle, job);
}

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
		const char *name = json_str(job, "name"), *short_name;
		const char *li =
		    json_str(json_obj(job, "labels"), CLOUDRUN_LABEL_INSTANCE);

		if (name == NULL || li == NULL || strcmp(li, inst) != 0)
			continue;
		short_name = strrchr(name, '/') ? strrchr(name, '/') + 1 : name;
		if (cloudrun_poll_known(b, short_name))
			continue;
		log_warnx("orphaned Cloud Run job %s is not in this backend's "
			  "state%s",
		    name,
		    kit_orphans_stop(&cloudrun_orphans) ? "; deleting it" : "");
		if (kit_orphans_stop(&cloudrun_orphans))
			kit_idle_add(&cloudrun_idle, short_name);
	}
}

static int
cloudrun_poll_reconcile_pass(struct backend *b, int n)
{
	char *path;

	(void)n;
	backend_container_foreach(b, cloudrun_poll_intent, NULL);
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
