/* Jobs no container uses any more wait out cloudrun.job_idle, in case an
 * identical container comes (it reuses the job, and docker run skips
 * jobs.create), then they are deleted. The waiting jobs are journalled
 * (CLOUDRUN_KV_IDLE), so that a restart deletes them on time too. */
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "cloudrun.h"
#include "sockerless/json.h"
#include "sockerless/log.h"
#include "sockerless/xmalloc.h"

static struct event *cloudrun_idle_timer;

struct cloudrun_idle_find {
	const char *job;
	const struct container *self;
	int used;
};

static void
cloudrun_idle_match(struct backend *b, struct container *c, void *arg)
{
	struct cloudrun_idle_find *f = arg;
	const char *job = json_str(container_private(c), CLOUDRUN_P_JOB);

	(void)b;
	if (c != f->self && job != NULL && strcmp(job, f->job) == 0)
		f->used = 1;
}

int
cloudrun_idle_used(
    struct backend *b, const char *job, const struct container *self)
{
	struct cloudrun_idle_find f = { job, self, 0 };

	backend_container_foreach(b, cloudrun_idle_match, &f);
	return f.used;
}

struct cloudrun_idle_del {
	struct backend *b;
	char *job;
};

static void
cloudrun_idle_deleted(void *arg, const cJSON *out, const struct cloud_error *ce)
{
	struct cloudrun_idle_del *d = arg;

	(void)out;
	if (ce != NULL && strcmp(ce->code, "NOT_FOUND") != 0)
		/* Journalled still: the next round tries again. */
		log_warnx("deleting idle Cloud Run job %s: %s: %s", d->job,
		    ce->code, ce->message);
	else
		kit_journal_put(d->b, CLOUDRUN_KV_IDLE, d->job, NULL);
	free(d->job);
	free(d);
}

static void
cloudrun_idle_delete(struct backend *b, const char *job)
{
	struct cloudrun_idle_del *d = xcalloc(1, sizeof(*d));
	char *key = xasprintf(CLOUDRUN_KV_JOB "%s", job), *path;

	/* Gone from the reuse table first: a create from now on makes the
	 * job again rather than counting on this one. */
	backend_kv_del(b, key);
	free(key);
	d->b = b;
	d->job = xstrdup(job);
	path = cloudrun_job_path(job, NULL);
	gcp_call(cloudrun_gcp.gcp, "run", "jobs.delete", "DELETE", path, NULL,
	    NULL, 0, cloudrun_idle_deleted, d);
	free(path);
}

/* One round: the jobs idle for job_idle seconds or more are deleted. */
static void
cloudrun_idle_tick(evutil_socket_t fd, short what, void *arg)
{
	struct backend *b = arg;
	cJSON *idle = kit_journal_load(b, CLOUDRUN_KV_IDLE);
	const cJSON *it;
	int64_t now = str_now_ns();
	long long gap = cloudrun_conf.job_idle_s < 60 ?
	    (cloudrun_conf.job_idle_s > 0 ? cloudrun_conf.job_idle_s : 1) :
	    60;
	struct timeval tv = { gap, 0 };

	(void)fd;
	(void)what;
	cJSON_ArrayForEach(it, idle) {
		int64_t at = json_int(it, "at", 0);
		if (it->string == NULL ||
		    now - at < cloudrun_conf.job_idle_s * 1000000000LL)
			continue;
		if (cloudrun_idle_used(b, it->string, NULL)) {
			kit_journal_put(b, CLOUDRUN_KV_IDLE, it->string, NULL);
			continue;
		}
		cloudrun_idle_delete(b, it->string);
	}
	cJSON_Delete(idle);
	evtimer_add(cloudrun_idle_timer, &tv);
}

void
cloudrun_idle_add(struct backend *b, const char *job)
{
	cJSON *at = cJSON_CreateObject();

	json_add_int(at, "at", str_now_ns());
	kit_journal_put(b, CLOUDRUN_KV_IDLE, job, at);
	if (cloudrun_conf.job_idle_s == 0)
		cloudrun_idle_delete(b, job);
}

void
cloudrun_idle_take(struct backend *b, const char *job)
{
	if (kit_journal_has(b, CLOUDRUN_KV_IDLE, job))
		kit_journal_put(b, CLOUDRUN_KV_IDLE, job, NULL);
}

void
cloudrun_idle_resume(struct backend *b)
{
	struct timeval tv = { 1, 0 };

	if (cloudrun_idle_timer == NULL)
		cloudrun_idle_timer =
		    evtimer_new(backend_base(b), cloudrun_idle_tick, b);
	evtimer_add(cloudrun_idle_timer, &tv);
}

void
cloudrun_idle_free(void)
{
	if (cloudrun_idle_timer != NULL)
		event_free(cloudrun_idle_timer);
	cloudrun_idle_timer = NULL;
}
