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

static void
aca_poll_op_end(struct aca_poll_op *op, int failed)
{
	kit_poller_batch_done(op->p, failed);
	free(op->exec);
	free(op);
}

/* An execution we think runs is gone (its job was deleted). */
static void
aca_poll_missing(struct backend *b, const char *exec)
{
	struct container *c = backend_container_by_private(b, KIT_P_EXEC, exec);
	struct err e;

	if (c != NULL && kit_start_pending(c)) {
		err_set(&e, 500,
		    "Container Apps lost execution %s before it started; try "
		    "again",
		    exec);
		kit_start_settle(c, &e);
		return;
	}
	if (c == NULL || !container_running(c))
		return;
	log_warnx(
	    "container %.12s: Container Apps no longer knows %s", c->id, exec);
	backend_container_exited(b, c, 255, str_now_ns(),
	    "Container Apps no longer knows the execution: its job was "
	    "deleted and its exit code is lost");
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
	if (!json_bool(container_private(c), KIT_P_STARTED, 0)) {
		json_set(
		    container_private(c), KIT_P_STARTED, cJSON_CreateTrue());
		backend_container_started(
		    b, c, aca_poll_time(json_str(props, "startTime")));
	}
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
			aca_poll_missing(b, op->exec);
		else
			log_warnx("polling %s: %s: %s", op->exec, ce->code,
			    ce->message);
		aca_poll_op_end(op, ce->http_status != 404);
		return;
	}
	c = backend_container_by_private(b, KIT_P_EXEC, op->exec);
	if (c == NULL || status == NULL) {
		aca_poll_op_end(op, 0);
		return;
	}
	if (aca_def_ended(status)) {
		aca_poll_ended(b, c, props);
		aca_poll_op_end(op, 0);
		return;
	}
	/* An execution is Running while its replica still pulls the images:
	 * the workload runs once its agent linked. */
	if (!json_bool(container_private(c), BACKEND_P_AGENT_HELLO, 0)) {
		aca_poll_op_end(op, 0);
		return;
	}
	if (kit_start_pending(c) && strcmp(status, "Running") == 0)
		kit_start_settle(c, NULL);
	if (container_running(c) && strcmp(status, "Running") == 0 &&
	    !json_bool(container_private(c), KIT_P_STARTED, 0)) {
		json_set(
		    container_private(c), KIT_P_STARTED, cJSON_CreateTrue());
		backend_container_started(b, c, aca_poll_time(start));
	}
	aca_poll_op_end(op, 0);
}

static const char *
aca_poll_id(struct container *c)
{
	const char *exec = json_str(json_obj(c->doc, "Sockerless"), KIT_P_EXEC);

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
	azure_call(aca_az.az, "JobExecution", "GET", op->exec,
	    aca_conf.api_version_app, NULL, NULL, 0, aca_poll_got, op);
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

/* A journalled Jobs_Start whose answer the process did not see. */
static int
aca_poll_unresolved(struct container *c)
{
	return cJSON_GetObjectItemCaseSensitive(
		   container_private(c), ACA_P_STARTING) != NULL &&
	    !container_running(c) && !kit_start_pending(c) && !c->gone;
}

/* Whether execution ex runs container id (its template's env). */
static int
aca_poll_runs(const cJSON *ex, const char *id)
{
	const cJSON *ctr;
	const cJSON *kv;

	cJSON_ArrayForEach(ctr,
	    json_arr(json_obj(json_obj(ex, "properties"), "template"),
		"containers")) {
		cJSON_ArrayForEach(kv, json_arr(ctr, "env")) {
			const char *n = json_str(kv, "name"),
				   *v = json_str(kv, "value");
			if (n != NULL && v != NULL &&
			    strcmp(n, "SOCKERLESS_CONTAINER_ID") == 0 &&
			    strcmp(v, id) == 0)
				return 1;
		}
	}
	return 0;
}

/* The execution of a start the restart cut short: the container runs it
 * (new: not yet recorded as a run), and the poller reports its end. */
static void
aca_poll_adopt(
    struct backend *b, struct container *c, const char *exec, int new_run)
{
	cJSON *priv = container_private(c);
	char *id = xstrdup(exec); /* exec may be priv's own */

	if (new_run)
		aca_job_use(priv, id);
	cJSON_DeleteItemFromObjectCaseSensitive(priv, ACA_P_STARTING);
	log_warnx("container %.12s: re-adopted execution %s of a start the "
		  "restart interrupted",
	    c->id, id);
	backend_container_adopted(b, c, str_now_ns());
	kit_poller_kick(&aca_poller);
	free(id);
}

struct aca_poll_find {
	struct backend *b;
	char id[65];
};

static void
aca_poll_executions(void *arg, const cJSON *out, const struct cloud_error *ce)
{
	struct aca_poll_find *a = arg;
	struct container *c = kit_container_by_id(a->b, a->id);
	const cJSON *ex;

	if (ce != NULL) {
		/* The intent stays: the next start-up looks again. */
		log_warnx("reconciling %.12s: JobsExecutions_List: %s: %s",
		    a->id, ce->code, ce->message);
		goto out;
	}
	if (c == NULL || !aca_poll_unresolved(c))
		goto out;
	cJSON_ArrayForEach(ex, json_arr(out, "value")) {
		const char *id = json_str(ex, "id");
		if (id != NULL && aca_poll_runs(ex, c->id)) {
			aca_poll_adopt(a->b, c, id, 1);
			goto out;
		}
	}
	log_warnx("container %.12s: no execution of its interrupted start "
		  "exists; it stays created",
	    c->id);
	cJSON_DeleteItemFromObjectCaseSensitive(
	    container_private(c), ACA_P_STARTING);
	backend_container_save(a->b, c);
out:
	free(a);
}

/* A start journalled before the restart: adopted by the execution
 * Jobs_Start answered, else found among the job's executions. */
static void
aca_poll_intent(struct backend *b, struct container *c, void *arg)
{
	cJSON *priv = container_private(c);
	const cJSON *runs = json_arr(priv, KIT_P_RUNS);
	const cJSON *last =
	    cJSON_GetArrayItem(runs, cJSON_GetArraySize(runs) - 1);
	struct aca_poll_find *a;
	const char *job = json_str(priv, ACA_P_JOB);
	char *path;

	(void)arg;
	if (!aca_poll_unresolved(c) || job == NULL)
		return;
	if (last != NULL && json_str(priv, KIT_P_EXEC) != NULL &&
	    json_int(last, KIT_P_RUN_AT, 0) >=
		json_int(priv, ACA_P_STARTING, 0)) {
		aca_poll_adopt(b, c, json_str(priv, KIT_P_EXEC), 0);
		return;
	}
	a = xcalloc(1, sizeof(*a));
	a->b = b;
	memcpy(a->id, c->id, sizeof(a->id));
	path = aca_job_path(job, "/executions");
	azure_list(aca_az.az, "JobsExecutions_List", path,
	    aca_conf.api_version_app, NULL, 5, aca_poll_executions, a);
	free(path);
}

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

		if (name == NULL || ti == NULL ||
		    strcmp(ti, backend_instance(b)) != 0)
			continue;
		if (kit_idle_known(&aca_idle, name))
			continue;
		log_warnx("orphaned Container Apps job %s is not in this "
			  "backend's state%s",
		    name,
		    kit_orphans_stop(&aca_orphans) ? "; deleting it" : "");
		if (kit_orphans_stop(&aca_orphans))
			kit_idle_add(&aca_idle, name);
	}
}

static int
aca_poll_reconcile_pass(struct backend *b, int n)
{
	char *path;

	(void)n;
	backend_container_foreach(b, aca_poll_intent, NULL);
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
