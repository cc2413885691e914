/* Docker containers as Container Apps job executions: create makes the
 * job (shared by identical configurations; the PUT is a long-running
 * operation and a start waits for it); start is Jobs_Start with the run's
 * own environment in the execution template; stop goes through the agent
 * (Jobs_StopExecution without it), kill without the agent stops the
 * execution; rm leaves the job idle for reuse (executions cannot be
 * deleted: Container Apps keeps its own history of them). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "aca.h"
#include "sockerless/container.h"
#include "sockerless/json.h"
#include "sockerless/log.h"
#include "sockerless/reg.h"
#include "sockerless/xmalloc.h"

/* How long docker create waits for the job's PUT operation. */
#define ACA_CREATE_TIMEOUT_S 300

static struct kit_op *
aca_op_new(
    struct backend *b, struct container *c, backend_done_fn done, void *arg)
{
	return kit_op_new(sizeof(struct kit_op), b, c, done, arg);
}

static void
aca_op_fail(struct kit_op *op, const struct cloud_error *ce, const char *what)
{
	struct err e;

	cloud_error_to_err(azure_provider(), ce, &e);
	kit_op_fail(op, &e, what);
}

static int
aca_job_acr(void *arg, const char *host)
{
	return azure_backend_registry_host(arg, host);
}

/* The credentials a docker login or an authenticated pull gave for c's
 * image's registry (kept in memory only: docs/registries.md). */
static void
aca_job_creds(struct backend *b, struct container *c, char **user, char **pass)
{
	struct reg_ref ref;

	if (reg_ref_parse(container_image_ref(c), &ref, NULL) == -1)
		return;
	if (!reg_known_creds(backend_registry(b), ref.domain, user, pass)) {
		*user = NULL;
		*pass = NULL;
	}
	reg_ref_free(&ref);
}

/* The job body for c. */
static cJSON *
aca_job_body(struct backend *b, struct container *c, char name[ACA_JOB_NAME_SZ],
    struct err *e)
{
	struct aca_def_in in;
	struct aca_vol_in ms[BACKEND_MOUNTS_MAX];
	cJSON *agent_env = backend_agent_config_env(c);
	cJSON *argv = backend_agent_command(c), *job;
	char *user = NULL, *pass = NULL;

	memset(&in, 0, sizeof(in));
	aca_job_creds(b, c, &user, &pass);
	in.reg_user = user;
	in.reg_pass = pass;
	in.image = container_image_ref(c);
	in.agent_image = aca_conf.agent_image;
	in.environment_id = aca_environment_id();
	in.location = aca_az.location;
	in.registry_identity = aca_conf.registry_identity;
	in.acr_host = aca_job_acr;
	in.acr_arg = &aca_az;
	in.replica_timeout = aca_conf.replica_timeout;
	in.extra_tags = aca_extra_tags;
	in.instance = backend_instance(b);
	in.mounts = ms;
	in.nmounts = aca_vol_mounts(b, c, ms);
	job = aca_def_job(&in, container_config(c), container_host_config(c),
	    agent_env, argv, name, e);
	cJSON_Delete(agent_env);
	cJSON_Delete(argv);
	free(user);
	if (pass != NULL)
		OPENSSL_cleanse(pass, strlen(pass));
	free(pass);
	return job;
}

/* --- create: the job ------------------------------------------------------ */

static void
aca_job_made(void *arg, const cJSON *out, const struct cloud_error *ce)
{
	struct kit_make *m = arg;
	const char *job = kit_make_job(m);
	struct err e;

	(void)out;
	if (ce == NULL) {
		kit_make_end(m, NULL);
		return;
	}
	cloud_error_to_err(azure_provider(), ce, &e);
	err_wrap(&e, "creating the Container Apps job %s", job);
	/* A job whose provisioning failed is of no use: it goes (a PUT that
	 * never answered may have made it). */
	if (!kit_idle_used(&aca_idle, job))
		kit_idle_add(&aca_idle, job);
	kit_make_end(m, &e);
}

void
aca_job_create(
    struct backend *b, struct container *c, backend_done_fn done, void *arg)
{
	struct kit_op *op = aca_op_new(b, c, done, arg);
	struct kit_make *m;
	char name[ACA_JOB_NAME_SZ], *path;
	cJSON *job;
	struct err e;

	if ((job = aca_job_body(b, c, name, &e)) == NULL) {
		kit_op_end(op, &e);
		return;
	}
	if ((m = kit_idle_get(&aca_idle, name, op)) == NULL) {
		cJSON_Delete(job);
		return;
	}
	path = aca_job_path(name, NULL);
	/* PUT creates or updates: the same name is the same configuration,
	 * so a job a lost answer made is simply made again. */
	azure_lro(aca_az.az, "Jobs_CreateOrUpdate", "PUT", path,
	    aca_conf.api_version_app, job, 1, ACA_CREATE_TIMEOUT_S, NULL,
	    aca_job_made, m);
	free(path);
}

/* --- start: Jobs_Start ---------------------------------------------------- */

/* A start is settled: its intent is no longer journalled. */
static void
aca_op_started(struct kit_op *k)
{
	cJSON_DeleteItemFromObjectCaseSensitive(
	    container_private(k->c), ACA_P_STARTING);
}

/* The container runs execution id now: a new run. */
void
aca_job_use(cJSON *priv, const char *id)
{
	kit_run_use(priv, id);
	cJSON_DeleteItemFromObjectCaseSensitive(priv, ACA_P_WHY);
}

static void
aca_job_ran(void *arg, const cJSON *out, const struct cloud_error *ce)
{
	struct kit_op *op = arg;
	const char *id = json_str(out, "id");
	struct err e;

	if (ce != NULL) {
		aca_op_fail(op, ce, "starting the Container Apps job");
		return;
	}
	if (id == NULL || strstr(id, "/executions/") == NULL) {
		err_set(
		    &e, 502, "Jobs_Start answered without the execution's id");
		kit_op_end(op, &e);
		return;
	}
	aca_job_use(container_private(op->c), id);
	/* Durable at once: a restart before it runs finds the execution. */
	backend_container_save(op->b, op->c);
	log_info(
	    "container %.12s: execution %s", op->c->id, strrchr(id, '/') + 1);
	/* Docker's start returns once the process runs: the agent's hello
	 * or the poller settles it when the execution runs (or the poller
	 * when it ended before it ran). */
	kit_run_park(op, &aca_poller);
}

void
aca_job_start(
    struct backend *b, struct container *c, backend_done_fn done, void *arg)
{
	struct kit_op *op = aca_op_new(b, c, done, arg);
	const char *job = json_str(container_private(c), ACA_P_JOB);
	char name[ACA_JOB_NAME_SZ], *path;
	cJSON *body, *tmpl, *run, *agent_env;
	struct err e;

	if (job == NULL) {
		err_set(&e, 500,
		    "container %.12s has no Container Apps job; remove and "
		    "create it again",
		    c->id);
		kit_op_end(op, &e);
		return;
	}
	if ((body = aca_job_body(b, c, name, &e)) == NULL) {
		kit_op_end(op, &e);
		return;
	}
	if ((run = backend_agent_run_env(b, c, &e)) == NULL) {
		cJSON_Delete(body);
		kit_op_end(op, &e);
		return;
	}
	agent_env = backend_agent_config_env(c);
	tmpl = aca_def_start(body, container_config(c), agent_env, run, &e);
	cJSON_Delete(agent_env);
	cJSON_Delete(run);
	cJSON_Delete(body);
	if (tmpl == NULL) {
		kit_op_end(op, &e);
		return;
	}
	/* Intent first: a restart before the answer looks the execution up
	 * by the container id in its environment (aca_poll.c). */
	op->cleanup = aca_op_started;
	json_set(container_private(c), ACA_P_STARTING,
	    cJSON_CreateNumber((double)str_now_ns()));
	backend_container_save(b, c);
	path = aca_job_path(job, "/start");
	/* Not repeated: a second start would be a second execution. */
	azure_call(aca_az.az, "Jobs_Start", "POST", path,
	    aca_conf.api_version_app, NULL, tmpl, 1, aca_job_ran, op);
	free(path);
}

/* --- stop, kill ----------------------------------------------------------- */

static int
aca_job_gone(const struct cloud_error *ce)
{
	return ce->http_status == 404 || ce->http_status == 409 ||
	    strcmp(ce->code, "ResourceNotFound") == 0;
}

static void
aca_job_stopped(void *arg, const cJSON *out, const struct cloud_error *ce)
{
	struct kit_op *op = arg;

	(void)out;
	/* Already finished or gone: the poller reports its end. */
	if (ce != NULL && !aca_job_gone(ce)) {
		aca_op_fail(op, ce, "stopping the Container Apps execution");
		return;
	}
	kit_op_end(op, NULL);
	kit_poller_kick(&aca_poller);
}

/* Reached for KILL and TERM when the agent cannot deliver them: Container
 * Apps has no choice of signal (SIGTERM, SIGKILL after the grace). */
void
aca_job_kill(struct backend *b, struct container *c, int signo,
    backend_done_fn done, void *arg)
{
	struct kit_op *op = aca_op_new(b, c, done, arg);
	const char *exec = json_str(container_private(c), KIT_P_EXEC);
	char *path;

	(void)signo;
	if (exec == NULL) {
		kit_op_end(op, NULL);
		return;
	}
	path = xasprintf("%s/stop", exec);
	azure_call(aca_az.az, "Jobs_StopExecution", "POST", path,
	    aca_conf.api_version_app, NULL, NULL, 0, aca_job_stopped, op);
	free(path);
}

/* Jobs_StopExecution takes no signal and no timeout: dockerd's stop
 * signal and -t go through the agent, and the stop is what is left when
 * the agent is out of reach. */
void
aca_job_stop(struct backend *b, struct container *c, int timeout_s,
    backend_done_fn done, void *arg)
{
	kit_stop_through_agent(b, c, timeout_s, aca_job_kill, done, arg);
}

/* --- remove --------------------------------------------------------------- */

/* arg: what the call does, for the log line; the call's own (freed with
 * it, also when a shutdown cancels it). */
static void
aca_job_quiet(void *arg, const cJSON *out, const struct cloud_error *ce)
{
	const char *what = arg;

	(void)out;
	if (ce != NULL && !aca_job_gone(ce))
		log_warnx("%s: %s: %s", what, ce->code, ce->message);
}

void
aca_job_stop_quietly(const char *exec)
{
	char *path;

	if (exec == NULL)
		return;
	path = xasprintf("%s/stop", exec);
	azure_call_owned(aca_az.az, "Jobs_StopExecution", "POST", path,
	    aca_conf.api_version_app, NULL, NULL, 0, aca_job_quiet,
	    xasprintf("stopping %s", exec), free);
	free(path);
}

void
aca_job_remove(
    struct backend *b, struct container *c, backend_done_fn done, void *arg)
{
	struct kit_op *op = aca_op_new(b, c, done, arg);
	const cJSON *priv = container_private(c);
	struct err e;

	/* Removed while its execution was still starting (docker rm -f):
	 * the start fails and the execution is stopped. */
	if (kit_start_pending(c)) {
		err_set(&e, 409, "container %.12s was removed while it started",
		    c->id);
		kit_start_settle(c, &e);
		aca_job_stop_quietly(json_str(priv, KIT_P_EXEC));
	}
	kit_idle_release(&aca_idle, b, c);
	kit_op_end(op, NULL);
}

/* --- idle jobs ------------------------------------------------------------ */

static void aca_idle_del(struct kit_idle *i, const char *job);

struct kit_idle aca_idle = { .kv_job = ACA_KV_JOB,
	.kv_idle = ACA_KV_IDLE,
	.p_job = ACA_P_JOB,
	.del = aca_idle_del };

/* arg: the job's name, the call's own (azure_call_owned). */
static void
aca_idle_deleted(void *arg, const cJSON *out, const struct cloud_error *ce)
{
	const char *job = arg;

	(void)out;
	if (ce != NULL && ce->http_status != 404)
		/* Journalled still: the next round tries again. */
		log_warnx("deleting idle Container Apps job %s: %s: %s", job,
		    ce->code, ce->message);
	kit_idle_deleted(&aca_idle, job, ce == NULL || ce->http_status == 404);
}

/* DELETE answers 202 with Location, 204 when the job is not there: the
 * operation is not waited for (the job is out of the reuse table). */
static void
aca_idle_del(struct kit_idle *i, const char *job)
{
	char *path = aca_job_path(job, NULL);

	(void)i;
	azure_call_owned(aca_az.az, "Jobs_Delete", "DELETE", path,
	    aca_conf.api_version_app, NULL, NULL, 0, aca_idle_deleted,
	    xstrdup(job), free);
	free(path);
}
