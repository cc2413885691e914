/* sockerless-backend-aca: Docker containers as Azure Container Apps job
 * executions. A container maps to a job (shared by identical
 * configurations, as Cloud Run's jobs are) and each start is one
 * execution of it (Jobs_Start with the run's own environment in the
 * execution template). sockerless-agent comes from the agent image: an
 * init container copies it into an EmptyDir the main container runs it
 * from, so no image is derived; it calls the backend back (reverse mode:
 * job replicas take no inbound connection). This directory is the
 * translation; the rest is common/ (the backend kit and the Azure
 * session, sockerless/azure_backend.h). docs/backend-aca.md. */
#ifndef SOCKERLESS_ACA_H
#define SOCKERLESS_ACA_H

#include "aca_vol.h"
#include "sockerless/azure_backend.h"
#include "sockerless/backend.h"
#include "sockerless/backend_kit.h"
#include "sockerless/str.h"

/* The open Azure session (credentials, ARM client, rg_path). */
struct azure_backend *aca_session(void);
/* The managed environment's full resource id
 * ("/subscriptions/.../managedEnvironments/<name>"), resolved at start-up
 * from aca.environment. */
const char *aca_environment_id(void);

/* The job's containers, the agent's volume and where the agent goes. */
#define ACA_CONTAINER	   "main"
#define ACA_INIT_CONTAINER "sockerless-agent"
#define ACA_AGENT_DIR	   "/sockerless"
#define ACA_AGENT_PATH	   "/sockerless/agent"
/* Container Apps' limits: replicaTimeout, the Consumption pairs (q/4
 * vCPU with q/2 GiB, q = 1..16; the service's default q = 2), tags. */
#define ACA_MAX_TIMEOUT	 604800
#define ACA_MAX_PAIR	 16
#define ACA_DEFAULT_PAIR 2
#define ACA_MAX_TAGS	 50
#define ACA_EXTRA_TAGS	 10 /* aca.tags at most */
#define ACA_JOB_NAME_SZ	 32 /* "sk-" + 24 hex, under Azure's 32 */
#define ACA_REG_SECRET	 "registry-password" /* the job's secret */

/* Tags on the jobs (jobs are shared between containers: the container
 * id travels with each execution, in its environment). */
#define ACA_TAG_INSTANCE "sockerless-instance"
#define ACA_TAG_BACKEND	 "sockerless-backend"

/* The container's private state (container_private), beside the kit's
 * runs (KIT_P_RUNS, KIT_P_EXEC, KIT_P_STARTED). */
#define ACA_P_JOB      "Job"	      /* the job's name, sk-... */
#define ACA_P_STARTING KIT_P_STARTING /* a Jobs_Start whose answer is due */
#define ACA_P_WHY      "Why"	      /* the failed execution's reason */

/* The backend's kv entries and journals. */
#define ACA_KV_JOB  "aca.job."	   /* + name: the job exists */
#define ACA_KV_IDLE "aca.job_idle" /* name -> {at} */

struct aca_conf {
	char *environment;
	char *workspace_id;
	char *registry_identity;
	char *agent_image;
	long long replica_timeout;
	long long poll_ms;
	long long job_idle_s;
	long long logs_grace_ms;
	long long logs_poll_ms;
	char *api_version_app;
	struct strv tags;
};

/* aca.c */
extern struct aca_conf aca_conf;
extern struct azure_backend aca_az;
extern struct kit_orphans aca_orphans;
extern struct kit_idle aca_idle;
extern cJSON *aca_extra_tags;
/* "<rg_path>/providers/Microsoft.App/jobs[/<job>[suffix]]" (owned). */
char *aca_job_path(const char *job, const char *suffix);

/* aca_def.c: the job body, pure (unit-tested). */
struct aca_def_in {
	const char *image;
	const char *agent_image;
	const char *environment_id;
	const char *location;
	const char *registry_identity; /* NULL: no registries entries */
	/* Whether a registry host takes the identity (ACR). */
	int (*acr_host)(void *arg, const char *host);
	void *acr_arg;
	long long replica_timeout;
	const cJSON *extra_tags; /* Azure's rules already, may be NULL */
	const char *instance;
	const struct aca_vol_in *mounts; /* may be NULL */
	size_t nmounts;
	/* The image registry's credentials (docker login, an authenticated
	 * pull), or NULL: a registries entry with the password as a secret. */
	const char *reg_user, *reg_pass;
};
/* The Consumption pair for Docker's NanoCpus and Memory (0: not set): the
 * smallest that covers both, 0.5 vCPU / 1Gi when neither is set. -1 with
 * a 400 when none fits. */
int aca_def_size(long long nano_cpus, long long memory_bytes, double *cpu,
    char *mem, size_t memsz, struct err *e);
/* Container Apps' env form [{name, value}] of "K=V" strings, appended to
 * out (a later name wins); -1 with a 400 for a name it refuses. */
int aca_def_env(cJSON *out, const cJSON *kvs, struct err *e);
/* The main container's environment: cfg's Env, the agent's fixed
 * settings, SOCKERLESS_WORKDIR, then the run's (may be NULL). */
cJSON *aca_def_main_env(const cJSON *cfg, const cJSON *agent_env,
    const cJSON *run_env, struct err *e);
/* aca.tags ("k=v") under Azure's tag rules; NULL with a 400. */
cJSON *aca_def_tags(const struct strv *kvs, struct err *e);
/* The Microsoft.App job body for c and its name "sk-<24 hex>" from a hash
 * of it (identical configurations share one job). NULL with e. */
cJSON *aca_def_job(const struct aca_def_in *in, const cJSON *cfg,
    const cJSON *hc, const cJSON *agent_env, const cJSON *argv,
    char name[ACA_JOB_NAME_SZ], struct err *e);
/* The main container of a job body. */
const cJSON *aca_def_container(const cJSON *job);
/* The Jobs_Start body (a JobExecutionTemplate): the job's containers,
 * the main one with the run's environment added. */
cJSON *aca_def_start(const cJSON *job, const cJSON *cfg, const cJSON *agent_env,
    const cJSON *run_env, struct err *e);
/* The exit code an ended execution gives when the agent reported none
 * (the 2025-07-01 execution has no per-container code): Succeeded 0,
 * Failed 1, Stopped 137; -1 while it has not ended. */
int aca_def_exit_code(const char *status);
int aca_def_ended(const char *status);

/* aca_job.c */
KIT_CONTAINER_OPS_DECL(aca_job);
/* The container runs execution id (its resource id) now: a new run. */
void aca_job_use(cJSON *priv, const char *id);
/* Jobs_StopExecution of execution id, a failure only logged. */
void aca_job_stop_quietly(const char *exec);

/* aca_poll.c */
extern struct kit_poller aca_poller;
extern struct kit_runs aca_runs;
void aca_poll_start(struct backend *b);
void aca_poll_reconcile(struct backend *b);
void aca_poll_stop(void);

/* aca_stream.c: the log stream of running executions, for followers. */
void aca_stream_init(struct backend *b);
void aca_stream_shutdown(void);
/* A follower read Log Analytics up to its last line at t (-1: none) and
 * reached the end of the container's last execution exec (job, exec_name
 * in exec): 1 and the stream's sequence number of the first line after t
 * when the stream reaches back to t; 0 when the follower stays on Log
 * Analytics (the stream is opened when exec runs, or is not ready). */
int aca_stream_switch(const char *exec, const char *job, const char *exec_name,
    int running, int64_t t, uint64_t *seq);
/* The stream's lines from seq (borrowed until the next return to the
 * loop); -1 when it cannot serve seq any more: back to Log Analytics. */
int aca_stream_lines(const char *exec, uint64_t seq, int running,
    const struct azure_log_entry **lines, size_t *n, int *more);

/* aca_logs.c */
void aca_logs_fetch(struct backend *b, struct container *c, const char *cursor,
    int64_t since_ns, backend_logs_fn fn, void *arg);

#endif
