/* Docker containers as Cloud Run job executions: create derives the image
 * (the agent as one more layer, pushed once per image) and makes the job
 * (shared by identical configurations); start is jobs.run with the run's
 * own environment as overrides; stop goes through the agent (the cancel
 * without it), kill without the agent cancels the execution; rm deletes
 * the executions and leaves the job idle for reuse. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cloudrun.h"
#include "sockerless/container.h"
#include "sockerless/json.h"
#include "sockerless/log.h"
#include "sockerless/xmalloc.h"

/* How long docker create waits for jobs.create's operation. */
#define CLOUDRUN_CREATE_TIMEOUT_S 300

static struct kit_op *
cloudrun_op_new(
    struct backend *b, struct container *c, backend_done_fn done, void *arg)
{
	return kit_op_new(sizeof(struct kit_op), b, c, done, arg);
}

static void
cloudrun_op_fail(
    struct kit_op *op, const struct cloud_error *ce, const char *what)
{
	struct err e;

	cloud_error_to_err(gcp_provider(), ce, &e);
	kit_op_fail(op, &e, what);
}

/* --- create: the derived image, then the job ------------------------------ */

static void
cloudrun_job_made(void *arg, const cJSON *out, const struct cloud_error *ce)
{
	struct kit_make *m = arg;
	struct err e;

	(void)out;
	/* ALREADY_EXISTS: the same name is the same configuration (a restart
	 * lost the kv entry, or another process made it). */
	if (ce == NULL || strcmp(ce->code, "ALREADY_EXISTS") == 0) {
		kit_make_end(m, NULL);
		return;
	}
	cloud_error_to_err(gcp_provider(), ce, &e);
	err_wrap(&e, "creating the Cloud Run job %s", kit_make_job(m));
	kit_make_end(m, &e);
}

/* The job body for c with image (the derived image, or "" to check what
 * Cloud Run would refuse before pushing anything). */
static cJSON *
cloudrun_job_body(struct backend *b, struct container *c, const char *image,
    char name[28], struct err *e)
{
	struct cloudrun_def_in in;
	struct cloudrun_vol_in ms[BACKEND_MOUNTS_MAX];
	cJSON *agent_env = backend_agent_config_env(c);
	cJSON *argv = backend_agent_command(c), *job;

	memset(&in, 0, sizeof(in));
	in.image = image;
	in.service_account = cloudrun_conf.service_account;
	in.vpc_connector = cloudrun_conf.vpc_connector;
	in.network = cloudrun_conf.network;
	in.subnet = cloudrun_conf.subnet;
	in.vpc_egress = cloudrun_conf.vpc_egress;
	in.timeout_s = cloudrun_conf.task_timeout;
	in.extra_labels = cloudrun.extra_labels;
	in.instance = backend_instance(b);
	in.mounts = ms;
	in.nmounts = cloudrun_vol_mounts(b, c, ms);
	job = cloudrun_def_job(&in, container_config(c),
	    container_host_config(c), agent_env, argv, name, e);
	cJSON_Delete(agent_env);
	cJSON_Delete(argv);
	return job;
}

static void
cloudrun_job_make(struct kit_op *op, const char *image)
{
	struct backend *b = op->b;
	struct container *c = op->c;
	struct kit_make *m;
	char name[28], *path, *query;
	cJSON *job;
	struct err e;

	if ((job = cloudrun_job_body(b, c, image, name, &e)) == NULL) {
		kit_op_end(op, &e);
		return;
	}
	json_set(
	    container_private(c), CLOUDRUN_P_IMAGE, cJSON_CreateString(image));
	if ((m = kit_idle_get(&cloudrun_idle, name, op)) == NULL) {
		cJSON_Delete(job);
		return;
	}
	path = cloudrun_job_path(NULL, NULL);
	query = xasprintf("jobId=%s", name);
	gcp_lro(cloudrun_gcp.gcp, "run", "jobs.create", "POST", path, query,
	    job, CLOUDRUN_CREATE_TIMEOUT_S, NULL, cloudrun_job_made, m);
	free(path);
	free(query);
}

static void
cloudrun_job_derived(void *arg, const char *dst_ref, const struct err *e)
{
	struct kit_op *op = arg;
	struct err e2;

	if (e != NULL) {
		e2 = *e;
		err_wrap(&e2, "preparing the image for Cloud Run");
		kit_op_end(op, &e2);
		return;
	}
	cloudrun_job_make(op, dst_ref);
}

/* The derived image's tag: the same source image and agent give the same
 * tag, so the push happens once per image version. */
static char *
cloudrun_job_derived_ref(const char *src)
{
	char hex[41], *s;

	s = xasprintf("%s\n%s", src, cloudrun.layer.digest);
	kit_hash(s, hex, 40);
	free(s);
	return xasprintf(
	    "%s/sockerless-derived:%s", cloudrun_conf.repository, hex);
}

void
cloudrun_job_create(
    struct backend *b, struct container *c, backend_done_fn done, void *arg)
{
	struct kit_op *op = cloudrun_op_new(b, c, done, arg);
	struct reg_derive_opts o;
	char name[28], *dst;
	cJSON *job;
	struct err e;

	/* What Cloud Run would refuse is refused before anything is
	 * pushed. */
	if ((job = cloudrun_job_body(b, c, "", name, &e)) == NULL) {
		kit_op_end(op, &e);
		return;
	}
	cJSON_Delete(job);
	memset(&o, 0, sizeof(o));
	o.history = "sockerless: add " CLOUDRUN_AGENT_PATH;
	dst = cloudrun_job_derived_ref(container_image_ref(c));
	if (reg_derive(backend_registry(b), container_image_ref(c), NULL, dst,
		&cloudrun.layer, &o, cloudrun_job_derived, op, &e) == -1)
		kit_op_end(op, &e);
	free(dst);
}

/* --- start: jobs.run -------------------------------------------------------
 */

/* A start is settled: its intent is no longer journalled. */
static void
cloudrun_op_started(struct kit_op *k)
{
	cJSON_DeleteItemFromObjectCaseSensitive(
	    container_private(k->c), CLOUDRUN_P_STARTING);
}

static void
cloudrun_job_ran(void *arg, const cJSON *out, const struct cloud_error *ce)
{
	struct kit_op *op = arg;
	const char *name = json_str(json_obj(out, "metadata"), "name");
	struct err e;

	if (ce != NULL) {
		cloudrun_op_fail(op, ce, "running the Cloud Run job");
		return;
	}
	if (name == NULL) {
		err_set(&e, 502,
		    "jobs.run answered an operation without the execution's "
		    "name (metadata.name)");
		kit_op_end(op, &e);
		return;
	}
	kit_run_use(container_private(op->c), name);
	/* Durable at once: a restart before it runs finds the execution. */
	backend_container_save(op->b, op->c);
	log_info("container %.12s: execution %s", op->c->id, name);
	/* Docker's start returns once the process runs: the agent's hello
	 * or the poller settles it when the execution runs (or the poller
	 * when it ended before it ran). */
	kit_run_park(op, &cloudrun_poller);
}

/* The run's own settings (the agent's token, callback and hold) go in
 * the overrides, so that the job stays shareable. */
static cJSON *
cloudrun_job_overrides(struct backend *b, struct container *c, struct err *e)
{
	cJSON *run, *ov, *ctrs, *ctr;

	if ((run = backend_agent_run_env(b, c, e)) == NULL)
		return NULL;
	ctr = cJSON_CreateObject();
	json_add_str(ctr, "name", CLOUDRUN_CONTAINER);
	cJSON_AddItemToObject(
	    ctr, "env", cloudrun_def_env(cJSON_CreateArray(), run));
	cJSON_Delete(run);
	ctrs = cJSON_CreateArray();
	cJSON_AddItemToArray(ctrs, ctr);
	ov = cJSON_CreateObject();
	cJSON_AddItemToObject(ov, "containerOverrides", ctrs);
	json_add_int(ov, "taskCount", 1);
	return ov;
}

void
cloudrun_job_start(
    struct backend *b, struct container *c, backend_done_fn done, void *arg)
{
	struct kit_op *op = cloudrun_op_new(b, c, done, arg);
	const char *job = json_str(container_private(c), CLOUDRUN_P_JOB);
	cJSON *in, *ov;
	char *path;
	struct err e;

	if (job == NULL) {
		err_set(&e, 500,
		    "container %.12s has no Cloud Run job; remove and create "
		    "it again",
		    c->id);
		kit_op_end(op, &e);
		return;
	}
	if ((ov = cloudrun_job_overrides(b, c, &e)) == NULL) {
		kit_op_end(op, &e);
		return;
	}
	in = cJSON_CreateObject();
	cJSON_AddItemToObject(in, "overrides", ov);
	/* Intent first: a restart before the answer looks the execution up
	 * by the container id in its environment (cloudrun_poll.c). */
	op->cleanup = cloudrun_op_started;
	json_set(container_private(c), CLOUDRUN_P_STARTING,
	    cJSON_CreateNumber((double)str_now_ns()));
	backend_container_save(b, c);
	path = cloudrun_job_path(job, ":run");
	/* Not repeated: a second run would be a second execution. */
	gcp_call(cloudrun_gcp.gcp, "run", "jobs.run", "POST", path, NULL, in, 1,
	    cloudrun_job_ran, op);
	free(path);
}

/* --- stop, kill ------------------------------------------------------------
 */

static void
cloudrun_job_cancelled(
    void *arg, const cJSON *out, const struct cloud_error *ce)
{
	struct kit_op *op = arg;

	(void)out;
	/* Already finished or gone: the poller reports its end. */
	if (ce != NULL && strcmp(ce->code, "FAILED_PRECONDITION") != 0 &&
	    strcmp(ce->code, "NOT_FOUND") != 0) {
		cloudrun_op_fail(op, ce, "cancelling the Cloud Run execution");
		return;
	}
	kit_op_end(op, NULL);
	kit_poller_kick(&cloudrun_poller);
}

static void
cloudrun_job_cancel(
    struct backend *b, struct container *c, backend_done_fn done, void *arg)
{
	struct kit_op *op = cloudrun_op_new(b, c, done, arg);
	const char *exec = json_str(container_private(c), CLOUDRUN_P_EXEC);
	char *path;

	if (exec == NULL) {
		kit_op_end(op, NULL);
		return;
	}
	path = xasprintf("v2/%s:cancel", exec);
	gcp_call(cloudrun_gcp.gcp, "run", "executions.cancel", "POST", path,
	    NULL, cJSON_CreateObject(), 0, cloudrun_job_cancelled, op);
	free(path);
}

/* Cloud Run's executions.cancel takes no signal and no timeout (SIGTERM,
 * SIGKILL about 10 s later): dockerd's stop signal and -t go through the
 * agent, and the cancel is what is left when the agent is out of reach. */
void
cloudrun_job_stop(struct backend *b, struct container *c, int timeout_s,
    backend_done_fn done, void *arg)
{
	kit_stop_through_agent(b, c, timeout_s, cloudrun_job_kill, done, arg);
}

/* Reached for KILL and TERM when the agent cannot deliver them: Cloud Run
 * has no choice of signal, only cancel. */
void
cloudrun_job_kill(struct backend *b, struct container *c, int signo,
    backend_done_fn done, void *arg)
{
	(void)signo;
	cloudrun_job_cancel(b, c, done, arg);
}

/* --- remove ----------------------------------------------------------------
 */

/* arg: what the call does, for the log line; the call's own (freed with
 * it, also when a shutdown cancels it). */
static void
cloudrun_job_quiet(void *arg, const cJSON *out, const struct cloud_error *ce)
{
	const char *what = arg;

	(void)out;
	if (ce != NULL && strcmp(ce->code, "NOT_FOUND") != 0 &&
	    strcmp(ce->code, "FAILED_PRECONDITION") != 0)
		log_warnx("%s: %s: %s", what, ce->code, ce->message);
}

void
cloudrun_job_cancel_quietly(const char *exec, const char *what)
{
	char *path;

	if (exec == NULL)
		return;
	path = xasprintf("v2/%s:cancel", exec);
	gcp_call_owned(cloudrun_gcp.gcp, "run", "executions.cancel", "POST",
	    path, NULL, cJSON_CreateObject(), 0, cloudrun_job_quiet,
	    xasprintf("cancelling %s (%s)", exec, what), free);
	free(path);
}

/* The container's finished executions: their records go with it. */
static void
cloudrun_job_delete_runs(const cJSON *priv)
{
	const cJSON *r;
	char *path;

	cJSON_ArrayForEach(r, json_arr(priv, CLOUDRUN_P_RUNS)) {
		const char *name = json_str(r, CLOUDRUN_P_RUN_NAME);
		if (name == NULL)
			continue;
		path = xasprintf("v2/%s", name);
		gcp_call_owned(cloudrun_gcp.gcp, "run", "executions.delete",
		    "DELETE", path, NULL, NULL, 0, cloudrun_job_quiet,
		    xasprintf("deleting execution %s", name), free);
		free(path);
	}
}

void
cloudrun_job_remove(
    struct backend *b, struct container *c, backend_done_fn done, void *arg)
{
	struct kit_op *op = cloudrun_op_new(b, c, done, arg);
	const cJSON *priv = container_private(c);
	struct err e;

	/* Removed while its execution was still starting (docker rm -f):
	 * the start fails and the execution is cancelled. */
	if (kit_start_pending(c)) {
		err_set(&e, 409, "container %.12s was removed while it started",
		    c->id);
		kit_start_settle(c, &e);
		cloudrun_job_cancel_quietly(json_str(priv, CLOUDRUN_P_EXEC),
		    "a removed container's execution");
	}
	cloudrun_job_delete_runs(priv);
	kit_idle_release(&cloudrun_idle, b, c);
	kit_op_end(op, NULL);
}
