/* Jobs shared by identical configurations (Cloud Run jobs, Container Apps
 * jobs): the reuse table, and the jobs no container uses any more, which
 * wait out idle_s in case an identical container comes (it reuses the
 * job, and docker create skips making it), then are deleted. The waiting
 * jobs are journalled, so that a restart deletes them on time too. */
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "sockerless/backend.h"
#include "sockerless/backend_kit.h"
#include "sockerless/json.h"
#include "sockerless/str.h"
#include "sockerless/xmalloc.h"

/* The counts are keyed by the backend's private key for the job. */
static struct kit_uses *
kit_idle_uses(struct kit_idle *i)
{
	i->uses.p_key = i->p_job;
	return &i->uses;
}

int
kit_idle_used(struct kit_idle *i, const char *job)
{
	return kit_uses_used(kit_idle_uses(i), i->b, job);
}

void
kit_idle_release(struct kit_idle *i, struct backend *b, struct container *c)
{
	struct kit_uses *u = kit_idle_uses(i);
	const char *named = json_str(container_private(c), i->p_job);
	char *job = named != NULL ? xstrdup(named) : NULL;

	kit_uses_release(u, b, c);
	if (job != NULL && !kit_uses_used(u, b, job))
		kit_idle_add(i, job);
	free(job);
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
	return kit_idle_exists(i, job) || kit_idle_used(i, job) ||
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
		if (kit_idle_used(i, it->string)) {
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

/* A create in flight, one per job name: identical creates that come
 * meanwhile wait for its answer. */
struct kit_make {
	struct kit_idle *idle;
	char *job;
	struct kit_op **ops;
	size_t n;
	struct kit_make *next;
};

static void
kit_make_destroy(struct kit_make *m)
{
	free(m->job);
	free(m->ops);
	free(m);
}

/* Unlinks m from its idle set's making list and frees it. */
static void
kit_make_free(struct kit_make *m)
{
	struct kit_make **p;

	for (p = &m->idle->making; *p != NULL; p = &(*p)->next)
		if (*p == m) {
			*p = m->next;
			break;
		}
	kit_make_destroy(m);
}

static void
kit_make_wait(struct kit_make *m, struct kit_op *op)
{
	m->ops = xreallocarray(m->ops, m->n + 1, sizeof(*m->ops));
	m->ops[m->n++] = op;
}

struct kit_make *
kit_idle_get(struct kit_idle *i, const char *job, struct kit_op *op)
{
	struct kit_make *m;

	if (kit_idle_exists(i, job)) {
		kit_idle_take(i, job);
		kit_uses_set(kit_idle_uses(i), op->c, job);
		backend_container_save(op->b, op->c);
		kit_op_end(op, NULL);
		return NULL;
	}
	for (m = i->making; m != NULL; m = m->next)
		if (strcmp(m->job, job) == 0) {
			kit_make_wait(m, op);
			return NULL;
		}
	m = xcalloc(1, sizeof(*m));
	m->idle = i;
	m->job = xstrdup(job);
	kit_make_wait(m, op);
	m->next = i->making;
	i->making = m;
	kit_idle_take(i, job);
	return m;
}

const char *
kit_make_job(const struct kit_make *m)
{
	return m->job;
}

void
kit_make_end(struct kit_make *m, const struct err *e)
{
	struct kit_op *op;
	size_t k;

	if (e == NULL)
		kit_idle_made(m->idle, m->job, 1);
	for (k = 0; k < m->n; k++) {
		op = m->ops[k];
		if (e == NULL) {
			kit_uses_set(kit_idle_uses(m->idle), op->c, m->job);
			backend_container_save(op->b, op->c);
		}
		kit_op_end(op, e);
	}
	kit_make_free(m);
}

void
kit_idle_free(struct kit_idle *i)
{
	struct kit_make *m;

	if (i->timer != NULL)
		event_free(i->timer);
	i->timer = NULL;
	kit_uses_free(&i->uses);
	while ((m = i->making) != NULL) {
		i->making = m->next;
		kit_make_destroy(m);
	}
}
