/* sockerless-backend-cloudrun: Docker containers as Cloud Run job
 * executions. A container maps to a job (shared by identical
 * configurations, as ECS shares task definitions) and each start is one
 * execution of it; sockerless-agent rides in a derived image and calls
 * the backend back (reverse mode: Cloud Run tasks take no inbound
 * connection). This directory is the translation; the rest is common/
 * (the backend kit and the GCP session, sockerless/gcp_backend.h).
 * docs/backend-cloudrun.md. */
#ifndef SOCKERLESS_CLOUDRUN_H
#define SOCKERLESS_CLOUDRUN_H

#include "sockerless/backend.h"
#include "sockerless/backend_kit.h"
#include "sockerless/gcp_backend.h"
#include "sockerless/reg.h"
#include "sockerless/str.h"

/* The job's one container, and where derived images hold the agent. */
#define CLOUDRUN_CONTAINER  "main"
#define CLOUDRUN_AGENT_PATH "/sockerless/agent"
/* Cloud Run's limits (CLOUD-WIRE.md 2.4, section 5). */
#define CLOUDRUN_MAX_TIMEOUT 604800 /* 168 h */
#define CLOUDRUN_MIN_MEMORY  512    /* MiB */
#define CLOUDRUN_MAX_MEMORY  32768  /* MiB, with 8 CPUs */

/* Labels on the jobs (Google's label rules: [a-z0-9_-], 63 characters).
 * The container id (64 hex) does not fit a label value: jobs are shared
 * between containers anyway, so the id travels with each execution, in
 * its environment (SOCKERLESS_CONTAINER_ID), and the state maps the
 * execution's name to the container. */
#define CLOUDRUN_LABEL_INSTANCE "sockerless-instance"
#define CLOUDRUN_LABEL_BACKEND	"sockerless-backend"
#define CLOUDRUN_LABEL_CONFIG	"sockerless-config"

/* The container's private state (container_private). */
#define CLOUDRUN_P_JOB	    "Job"      /* the job's short name, sk-... */
#define CLOUDRUN_P_IMAGE    "Image"    /* the derived image, by digest */
#define CLOUDRUN_P_EXEC	    KIT_P_EXEC /* the current run's full name */
#define CLOUDRUN_P_RUNS	    KIT_P_RUNS /* every run: [{Name, Created}] */
#define CLOUDRUN_P_RUN_NAME KIT_P_RUN_NAME
#define CLOUDRUN_P_RUN_AT   KIT_P_RUN_AT
#define CLOUDRUN_P_STARTED  KIT_P_STARTED /* started reported for the run */
#define CLOUDRUN_P_STARTING                              \
	KIT_P_STARTING /* a jobs.run whose answer is due \
			*/

/* The backend's kv entries and journals. */
#define CLOUDRUN_KV_JOB	 "cloudrun.job."     /* + name: the hash it holds */
#define CLOUDRUN_KV_IDLE "cloudrun.job_idle" /* name -> {at} */

/* A volume's private state (volume_private): its directory in the bucket. */
#define CLOUDRUN_P_VOL_BUCKET "Bucket"
#define CLOUDRUN_P_VOL_DIR    "Dir" /* object prefix, no trailing '/' */
/* Why volumes are off without a bucket (the capability's sentence). */
#define CLOUDRUN_VOL_WHY                                                       \
	"Volumes on Cloud Run are directories of a Cloud Storage bucket, and " \
	"no bucket is configured: set cloudrun.volume_bucket "                 \
	"(docs/backend-cloudrun.md, Volumes)."

struct cloudrun_conf {
	char *service_account;
	char *vpc_connector;
	char *network;
	char *subnet;
	char *vpc_egress;
	struct strv labels; /* extra labels "k=v" */
	char *repository;   /* derived images: host/project/repo */
	long long task_timeout;
	char *agent_path;
	char *endpoint_run;
	long long poll_ms;
	long long job_idle_s;
	long long logs_grace_ms;
	long long logs_poll_ms;
	char *volume_bucket; /* unset: no volumes */
	char *volume_prefix; /* the volumes' directory in the bucket */
};

struct cloudrun {
	struct backend *b;
	struct reg_layer layer; /* the agent as an image layer */
	int have_layer;
	cJSON *extra_labels; /* cloudrun.labels, sanitised */
};

/* cloudrun.c */
extern struct cloudrun_conf cloudrun_conf;
extern struct gcp_backend cloudrun_gcp;
extern struct kit_orphans cloudrun_orphans;
extern struct cloudrun cloudrun;
/* "v2/<parent>/jobs" or "v2/<parent>/jobs/<job>[suffix]" (owned). */
char *cloudrun_job_path(const char *job, const char *suffix);

/* A mount of the container as the job body takes it (cloudrun_vol.c fills
 * it from the framework's mounts; the body is made from it alone). */
struct cloudrun_vol_in {
	enum backend_mount_kind kind;
	const char *target; /* absolute path in the container */
	int readonly;
	const char *vol_name; /* VOLUME: for messages */
	const char *bucket;   /* VOLUME: NULL when its create did not end */
	const char *dir;      /* VOLUME: object prefix of its directory */
	long long tmpfs_size; /* TMPFS: bytes, 0: no bound */
};

/* cloudrun_def.c: the job body, pure (unit-tested). */
struct cloudrun_def_in {
	const char *image;	     /* by digest */
	const char *service_account; /* may be NULL */
	const char *vpc_connector;   /* may be NULL */
	const char *network;	     /* Direct VPC egress, may be NULL */
	const char *subnet;
	const char *vpc_egress; /* ALL_TRAFFIC or PRIVATE_RANGES_ONLY */
	long long timeout_s;
	const cJSON *extra_labels; /* sanitised already, may be NULL */
	const char *instance;
	const struct cloudrun_vol_in *mounts; /* may be NULL */
	size_t nmounts;
};
/* Cloud Run's CPU and memory for Docker's NanoCpus and Memory (0: not
 * set): the smallest valid pair that covers both, cpu as "1", memory as
 * "512Mi". -1 with a 400 when nothing fits. */
int cloudrun_def_size(long long nano_cpus, long long memory_bytes, char *cpu,
    size_t cpusz, char *mem, size_t memsz, struct err *e);
/* The GoogleCloudRunV2Job body for c, and its name "sk-<24 hex>" from a
 * hash of it (identical configurations share one job). NULL with e. */
cJSON *cloudrun_def_job(const struct cloudrun_def_in *in, const cJSON *cfg,
    const cJSON *hc, const cJSON *agent_env, const cJSON *argv, char name[28],
    struct err *e);
/* The container of a job body (for tests and the overrides). */
const cJSON *cloudrun_def_container(const cJSON *job);
/* Google's env form [{name, value}] of "K=V" strings, appended to out. */
cJSON *cloudrun_def_env(cJSON *out, const cJSON *kvs);
/* "k=v" strings as sanitised Google labels (the first of a key wins);
 * NULL with a 400 for a malformed entry. */
cJSON *cloudrun_def_labels(const struct strv *kvs, struct err *e);
/* The Cloud Logging filter of execution exec ("projects/p/locations/l/
 * jobs/J/executions/E"), owned; NULL when the name is malformed. */
char *cloudrun_def_log_filter(const char *exec);
/* The exit code Docker shows for a finished task: lastAttemptResult's
 * exitCode, else 128 + termSignal, else 0 when the task ran (proto3 JSON
 * leaves a 0 out), else 137 when the execution was cancelled; -1 when
 * the task never ran (its status says why). */
int cloudrun_def_exit_code(const cJSON *task, int cancelled);

/* cloudrun_job.c */
KIT_CONTAINER_OPS_DECL(cloudrun_job);
/* executions.cancel, a failure only logged. */
void cloudrun_job_cancel_quietly(const char *exec, const char *what);

/* cloudrun_idle.c: unused jobs wait out cloudrun.job_idle, then go
 * (the kit's bookkeeping, kit_idle; jobs.delete here). */
extern struct kit_idle cloudrun_idle;

/* cloudrun_vol.c: Docker volumes as directories of cloudrun.volume_bucket
 * (Cloud Storage volumes of the job, gcsfuse inside the task). */
/* Whether volumes are on (a bucket is configured). */
int cloudrun_vol_on(void);
/* Start-up: the bucket exists and the prefix is valid (a 500 naming the
 * key otherwise); nothing when volumes are off. */
int cloudrun_vol_init(struct err *e);
void cloudrun_vol_create(
    struct backend *b, struct volume *v, backend_done_fn done, void *arg);
void cloudrun_vol_remove(
    struct backend *b, struct volume *v, backend_done_fn done, void *arg);
/* Cancels the volume calls in flight (shutdown). */
/* Reports (and with cloudrun.orphans: stop deletes) the directories under
 * the volume prefix that no volume names. */
void cloudrun_vol_reconcile(struct backend *b);
void cloudrun_vol_shutdown(void);
/* c's mounts as the job body takes them; returns how many (at most
 * BACKEND_MOUNTS_MAX, out's size). The strings stay valid while c and
 * its volumes live. */
size_t cloudrun_vol_mounts(
    struct backend *b, struct container *c, struct cloudrun_vol_in *out);
/* cloudrun_volmap.c: adds the volumes of m to task template tt and their
 * volumeMounts to the container ctr; pure. -1 with a 4xx/5xx for a mount Cloud
 * Run cannot take. */
int cloudrun_vol_job(const struct cloudrun_vol_in *m, size_t n, cJSON *tt,
    cJSON *ctr, struct err *e);

/* cloudrun_poll.c */
extern struct kit_poller cloudrun_poller;
extern struct kit_runs cloudrun_runs;
void cloudrun_poll_start(struct backend *b);
void cloudrun_poll_reconcile(struct backend *b);
void cloudrun_poll_stop(void);

/* cloudrun_logs.c */
void cloudrun_logs_fetch(struct backend *b, struct container *c,
    const char *cursor, int64_t since_ns, backend_logs_fn fn, void *arg);

#endif
