/* Jobs no container uses any more wait out cloudrun.job_idle (the kit's
 * bookkeeping, kit_idle), then jobs.delete removes them. */
#include <stdlib.h>
#include <string.h>

#include "cloudrun.h"
#include "sockerless/log.h"
#include "sockerless/xmalloc.h"

static void cloudrun_idle_del(struct kit_idle *i, const char *job);

struct kit_idle cloudrun_idle = { .kv_job = CLOUDRUN_KV_JOB,
	.kv_idle = CLOUDRUN_KV_IDLE,
	.p_job = CLOUDRUN_P_JOB,
	.del = cloudrun_idle_del };

/* arg: the job's name, the call's own (gcp_call_owned). */
static void
cloudrun_idle_deleted(void *arg, const cJSON *out, const struct cloud_error *ce)
{
	const char *job = arg;

	(void)out;
	if (ce != NULL && strcmp(ce->code, "NOT_FOUND") != 0)
		/* Journalled still: the next round tries again. */
		log_warnx("deleting idle Cloud Run job %s: %s: %s", job,
		    ce->code, ce->message);
	kit_idle_deleted(&cloudrun_idle, job,
	    ce == NULL || strcmp(ce->code, "NOT_FOUND") == 0);
}

static void
cloudrun_idle_del(struct kit_idle *i, const char *job)
{
	char *path = cloudrun_job_path(job, NULL);

	(void)i;
	gcp_call_owned(cloudrun_gcp.gcp, "run", "jobs.delete", "DELETE", path,
	    NULL, NULL, 0, cloudrun_idle_deleted, xstrdup(job), free);
	free(path);
}
