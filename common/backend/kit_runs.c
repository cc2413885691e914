/* The runs of a container whose workloads are cloud job executions (Cloud
 * Run jobs, Container Apps jobs): one execution per start, recorded in its
 * private state; the poller's common steps (started, the execution gone);
 * and on start-up the starts a restart cut short, adopted by the
 * execution they made, and the jobs of this instance the state does not
 * know. */
#include <stdlib.h>
#include <string.h>

#include "sockerless/backend.h"
#include "sockerless/backend_kit.h"
#include "sockerless/json.h"
#include "sockerless/log.h"
#include "sockerless/str.h"
#include "sockerless/xmalloc.h"

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

void
kit_started_once(
    struct backend *b, struct container *c, const char *key, int64_t at_ns)
{
	if (!container_running(c) || json_bool(container_private(c), key, 0))
		return;
	json_set(container_private(c), key, cJSON_CreateTrue());
	backend_container_started(b, c, at_ns > 0 ? at_ns : str_now_ns());
}

void
kit_run_started(struct backend *b, struct container *c, int64_t at_ns)
{
	kit_started_once(b, c, KIT_P_STARTED, at_ns);
}

/* The start answers as the poller's would when it sees the run: settled,
 * then reported started (the endpoints and the start event come with
 * that report, and a client that inspects after the start sees them). */
void
kit_start_hello(struct backend *b, struct container *c)
{
	kit_start_settle(c, NULL);
	kit_run_started(b, c, str_now_ns());
}

void
kit_run_park(struct kit_op *op, struct kit_poller *p)
{
	struct backend *b = op->b;
	struct container *c = op->c;

	kit_start_park(op);
	if (json_bool(container_private(c), BACKEND_P_AGENT_HELLO, 0)) {
		kit_start_hello(b, c);
		return;
	}
	kit_poller_kick(p);
}

void
kit_run_missing(const struct kit_runs *r, struct backend *b, const char *exec)
{
	struct container *c = backend_container_by_private(b, KIT_P_EXEC, exec);
	struct err e;

	if (c != NULL && kit_start_pending(c)) {
		err_set(&e, 500,
		    "%s lost execution %s before it started; try again",
		    r->cloud, exec);
		kit_start_settle(c, &e);
		return;
	}
	if (c == NULL || !container_running(c))
		return;
	log_warnx(
	    "container %.12s: %s no longer knows %s", c->id, r->cloud, exec);
	backend_container_exited(b, c, 255, str_now_ns(),
	    "the cloud no longer knows the execution: it or its job was "
	    "deleted, and its exit code is lost");
}

int
kit_run_env_is(const cJSON *env, const char *id)
{
	const cJSON *kv;

	cJSON_ArrayForEach(kv, env) {
		const char *n = json_str(kv, "name"),
			   *v = json_str(kv, "value");
		if (n != NULL && v != NULL &&
		    strcmp(n, "SOCKERLESS_CONTAINER_ID") == 0 &&
		    strcmp(v, id) == 0)
			return 1;
	}
	return 0;
}

/* A journalled start whose answer the process did not see. */
static int
kit_run_unresolved(struct container *c)
{
	return c != NULL && !c->gone && !container_running(c) &&
	    !kit_start_pending(c) && container_private_has(c, KIT_P_STARTING);
}

/* The execution of a start the restart cut short: the container runs it
 * (new: not yet recorded as a run), and the poller reports its end. */
static void
kit_run_adopt(const struct kit_runs *r, struct backend *b, struct container *c,
    const char *exec, int new_run)
{
	cJSON *priv = container_private(c);
	char *name = xstrdup(exec); /* exec may be priv's own */

	if (new_run)
		r->use(priv, name);
	cJSON_DeleteItemFromObjectCaseSensitive(priv, KIT_P_STARTING);
	log_warnx("container %.12s: re-adopted execution %s of a start the "
		  "restart interrupted",
	    c->id, name);
	backend_container_adopted(b, c, str_now_ns());
	kit_poller_kick(r->poller);
	free(name);
}

struct kit_runs_find {
	const struct kit_runs *r;
	struct backend *b;
	char id[65];
};

const char *
kit_runs_find_id(const struct kit_runs_find *f)
{
	return f->id;
}

int64_t
kit_runs_find_since(const struct kit_runs_find *f)
{
	struct container *c = kit_container_by_id(f->b, f->id);

	return c != NULL ? json_int(container_private(c), KIT_P_STARTING, 0) :
			   0;
}

void
kit_runs_found(struct kit_runs_find *f, const char *exec, const char *fail)
{
	struct container *c = kit_container_by_id(f->b, f->id);

	if (fail != NULL) {
		/* The intent stays: the next start-up looks again. */
		log_warnx("reconciling %.12s: listing its job's executions: %s",
		    f->id, fail);
	} else if (kit_run_unresolved(c) && exec != NULL) {
		kit_run_adopt(f->r, f->b, c, exec, 1);
	} else if (kit_run_unresolved(c)) {
		log_warnx("container %.12s: no execution of its interrupted "
			  "start exists; it stays created",
		    c->id);
		cJSON_DeleteItemFromObjectCaseSensitive(
		    container_private(c), KIT_P_STARTING);
		backend_container_save(f->b, c);
	}
}

void
kit_runs_find_free(void *f)
{
	free(f);
}

/* A start journalled before the restart: adopted by the execution the
 * start's answer recorded, else found among the job's executions. */
static void
kit_runs_intent(struct backend *b, struct container *c, void *arg)
{
	const struct kit_runs *r = arg;
	cJSON *priv;
	const cJSON *runs, *last;
	const char *job;
	struct kit_runs_find *f;

	if (!kit_run_unresolved(c))
		return;
	priv = container_private(c);
	runs = json_arr(priv, KIT_P_RUNS);
	last = cJSON_GetArrayItem(runs, cJSON_GetArraySize(runs) - 1);
	if ((job = json_str(priv, r->idle->p_job)) == NULL)
		return;
	if (last != NULL && json_str(priv, KIT_P_EXEC) != NULL &&
	    json_int(last, KIT_P_RUN_AT, 0) >=
		json_int(priv, KIT_P_STARTING, 0)) {
		kit_run_adopt(r, b, c, json_str(priv, KIT_P_EXEC), 0);
		return;
	}
	f = xcalloc(1, sizeof(*f));
	f->r = r;
	f->b = b;
	memcpy(f->id, c->id, sizeof(f->id));
	r->list_runs(f, job);
}

void
kit_runs_orphan(const struct kit_runs *r, const char *job)
{
	if (kit_idle_known(r->idle, job))
		return;
	log_warnx("orphaned %s job %s is not in this backend's state%s",
	    r->cloud, job, kit_orphans_stop(r->orphans) ? "; deleting it" : "");
	if (kit_orphans_stop(r->orphans))
		kit_idle_add(r->idle, job);
}

void
kit_runs_intents(struct kit_runs *r, struct backend *b)
{
	backend_container_foreach(b, kit_runs_intent, r);
}
