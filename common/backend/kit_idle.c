/* Jobs shared by identical configurations (Cloud Run jobs, Container Apps
 * jobs): the reuse table, and the jobs no container uses any more, which
 * wait out idle_s in case an identical container comes (it reuses the
 * job, and docker create skips making it), then are deleted. The waiting
 * jobs are journalled, so that a restart deletes them on time too. Also
 * the runs of a container (one execution each). */
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "sockerless/backend.h"
#include "sockerless/backend_kit.h"
#include "sockerless/json.h"
#include "sockerless/str.h"
#include "sockerless/xmalloc.h"

struct kit_idle_find {
	const char *p_job;
	const char *job;
	const struct container *self;
	int used;
};

static void
kit_idle_match(struct backend *b, struct container *c, void *arg)
{
	struct kit_idle_find *f = arg;
	const char *job = json_str(container_private(c), f->p_job);

	(void)b;
	if (c != f->self && job != NULL && strcmp(job, f->job) == 0)
		f->used = 1;
}

int
kit_idle_used(struct kit_idle *i, const char *job, const struct container *self)
{
	struct kit_idle_find f = { i->p_job, job, self, 0 };

	backend_container_foreach(i->b, kit_idle_match, &f);
	return f.used;
}

void
kit_idle_made(struct kit_idle *i, const char *job, int made)
{
	char *key = xasprintf("%s%s", i->kv_job, job);

	if (made)
		backend_kv_set(i->b, key, "1");
	else
		backend_kv_del(i->b, key);
	free(key);
}

int
kit_idle_exists(struct kit_idle *i, const char *job)
{
	char *key = xasprintf("%s%s", i->kv_job, job), *v;
	int have;

	v = backend_kv_get(i->b, key);
	have = v != NULL;
	free(key);
	free(v);
	return have;
}

int
kit_idle_known(struct kit_idle *i, const char *job)
{
	return kit_idle_exists(i, job) || kit_idle_used(i, job, NULL) ||
	    kit_journal_has(i->b, i->kv_idle, job);
}

static void
kit_idle_delete(struct kit_idle *i, const char *job)
{
	/* Gone from the reuse table first: a create from now on makes the
	 * job again rather than counting on this one. */
	kit_idle_made(i, job, 0);
	i->del(i, job);
}

void
kit_idle_deleted(struct kit_idle *i, const char *job, int gone)
{
	if (gone)
		kit_journal_put(i->b, i->kv_idle, job, NULL);
}

/* One round: the jobs idle for idle_s seconds or more are deleted. */
static void
kit_idle_tick(evutil_socket_t fd, short what, void *arg)
{
	struct kit_idle *i = arg;
	cJSON *idle = kit_journal_load(i->b, i->kv_idle);
	const cJSON *it;
	int64_t now = str_now_ns();
	long long gap = i->idle_s < 60 ? (i->idle_s > 0 ? i->idle_s : 1) : 60;
	struct timeval tv = { gap, 0 };

	(void)fd;
	(void)what;
	cJSON_ArrayForEach(it, idle) {
		int64_t at = json_int(it, "at", 0);
		if (it->string == NULL || now - at < i->idle_s * 1000000000LL)
			continue;
		if (kit_idle_used(i, it->string, NULL)) {
			kit_journal_put(i->b, i->kv_idle, it->string, NULL);
			continue;
		}
		kit_idle_delete(i, it->string);
	}
	cJSON_Delete(idle);
	evtimer_add(i->timer, &tv);
}

void
kit_idle_add(struct kit_idle *i, const char *job)
{
	cJSON *at = cJSON_CreateObject();

	json_add_int(at, "at", str_now_ns());
	kit_journal_put(i->b, i->kv_idle, job, at);
	if (i->idle_s == 0)
		kit_idle_delete(i, job);
}

void
kit_idle_take(struct kit_idle *i, const char *job)
{
	if (kit_journal_has(i->b, i->kv_idle, job))
		kit_journal_put(i->b, i->kv_idle, job, NULL);
}

void
kit_idle_resume(struct kit_idle *i, struct backend *b)
{
	struct timeval tv = { 1, 0 };

	i->b = b;
	if (i->timer == NULL)
		i->timer = evtimer_new(backend_base(b), kit_idle_tick, i);
	evtimer_add(i->timer, &tv);
}

void
kit_idle_free(struct kit_idle *i)
{
	if (i->timer != NULL)
		event_free(i->timer);
	i->timer = NULL;
}

/* --- runs ----------------------------------------------------------------- */

void
kit_run_use(cJSON *priv, const char *name)
{
	cJSON *runs = json_arr(priv, KIT_P_RUNS), *r;

	if (runs == NULL) {
		runs = cJSON_CreateArray();
		json_set(priv, KIT_P_RUNS, runs);
	}
	r = cJSON_CreateObject();
	json_add_str(r, KIT_P_RUN_NAME, name);
	json_add_int(r, KIT_P_RUN_AT, str_now_ns());
	cJSON_AddItemToArray(runs, r);
	json_set(priv, KIT_P_EXEC, cJSON_CreateString(name));
	cJSON_DeleteItemFromObjectCaseSensitive(priv, KIT_P_STARTED);
}

int
kit_run_first(const cJSON *runs, int64_t since_ns)
{
	int idx = 0, i = 0;
	const cJSON *it;

	cJSON_ArrayForEach(it, runs) {
		if (since_ns > 0 && json_int(it, KIT_P_RUN_AT, 0) <= since_ns)
			idx = i;
		i++;
	}
	return idx;
}
