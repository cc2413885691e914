/* Restart policies: a container whose workload ends on its own is started
 * again as HostConfig.RestartPolicy says, by dockerd's rules (its restart
 * manager): "always" and "unless-stopped" restart on any exit,
 * "on-failure[:N]" on a non-zero one at most N times; a stop or kill by
 * the user ends the loop; the wait before each restart starts at 100 ms
 * and doubles up to a minute, from 100 ms again after a run of 10 s. The
 * start itself is the framework's own (a hook from backend_ctr_life.c),
 * so a restart is what `docker start` does. docs/restart.md. */
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "backend_ctr.h"
#include "sockerless/container.h"
#include "sockerless/json.h"
#include "sockerless/log.h"
#include "sockerless/xmalloc.h"

#define RESTART_FIRST_MS 100
#define RESTART_MAX_MS	 60000
/* A run this long resets the back-off. */
#define RESTART_RESET_NS (10 * 1000000000LL)
/* dockerd's HasBeenManuallyStopped, kept with the container: a backend
 * restart must not start an unless-stopped container the user stopped. */
#define RESTART_PRIV_MANUAL "RestartManual"

/* A restart waiting for its back-off. */
struct backend_restart {
	struct backend *b;
	struct container *c; /* referenced */
	struct event *timer;
	backend_ctr_start_fn start;
};

static int
restart_policy_is(const struct container *c, const char *name)
{
	const char *p = json_str(
	    json_obj(container_host_config(c), "RestartPolicy"), "Name");

	return p != NULL && strcmp(p, name) == 0;
}

static int
restart_manual(struct container *c)
{
	return json_bool(container_private(c), RESTART_PRIV_MANUAL, 0);
}

/* Does the policy restart c, which exited with exit_code? */
static int
restart_wanted(struct container *c, int exit_code)
{
	const cJSON *rp = json_obj(container_host_config(c), "RestartPolicy");
	int64_t max = json_int(rp, "MaximumRetryCount", 0);

	if (c->waiters != NULL && c->waiters->restart_canceled)
		return 0;
	if (restart_policy_is(c, "always"))
		return 1;
	if (restart_policy_is(c, "unless-stopped"))
		return !restart_manual(c);
	if (restart_policy_is(c, "on-failure"))
		return exit_code != 0 &&
		    (max == 0 ||
			json_int(container_doc(c), "RestartCount", 0) < max);
	return 0;
}

static void
restart_free(struct backend_restart *r)
{
	r->c->waiters->restart = NULL;
	event_free(r->timer);
	container_unref(r->c);
	free(r);
}

static void
restart_fire(evutil_socket_t fd, short ev, void *arg)
{
	struct backend_restart *r = arg;
	struct backend *b = r->b;
	struct container *c = r->c;
	backend_ctr_start_fn start = r->start;

	(void)fd;
	(void)ev;
	container_ref(c);
	restart_free(r);
	if (!c->gone)
		start(b, c);
	container_unref(c);
}

/* c becomes "restarting"; start runs after the back-off. */
static void
restart_arm(struct backend *b, struct container *c, int64_t ran_ns,
    backend_ctr_start_fn start)
{
	struct backend_waiters *w = backend_ctr_life(c);
	struct backend_restart *r;
	struct timeval tv;

	if (ran_ns >= RESTART_RESET_NS)
		w->restart_delay_ms = 0;
	if (w->restart_delay_ms == 0)
		w->restart_delay_ms = RESTART_FIRST_MS;
	else if (w->restart_delay_ms < RESTART_MAX_MS)
		w->restart_delay_ms *= 2;
	if (w->restart_delay_ms > RESTART_MAX_MS)
		w->restart_delay_ms = RESTART_MAX_MS;
	container_set_state(c, "restarting");
	backend_ctr_save(b, c);
	backend_ctr_restart_cancel(c);
	r = xcalloc(1, sizeof(*r));
	r->b = b;
	r->c = c;
	container_ref(c);
	r->start = start;
	r->timer = evtimer_new(b->base, restart_fire, r);
	w->restart = r;
	tv.tv_sec = w->restart_delay_ms / 1000;
	tv.tv_usec = (w->restart_delay_ms % 1000) * 1000;
	evtimer_add(r->timer, &tv);
}

int
backend_ctr_restart_after_exit(struct backend *b, struct container *c,
    int exit_code, int64_t ran_ns, backend_ctr_start_fn start)
{
	if (c->gone || c->stopping || !restart_wanted(c, exit_code))
		return 0;
	restart_arm(b, c, ran_ns, start);
	return 1;
}

void
backend_ctr_restart_starting(struct backend *b, struct container *c)
{
	json_set(container_private(c), BACKEND_PRIV_RESTART_STARTING,
	    cJSON_CreateTrue());
	backend_ctr_save(b, c);
}

void
backend_ctr_restart_started(struct container *c)
{
	cJSON_DeleteItemFromObjectCaseSensitive(
	    container_private(c), BACKEND_PRIV_RESTART_STARTING);
}

/* The backend stopped while the policy's start was with it: the task may
 * exist, and the backend's reconcile adopts it (the container turns
 * running); a second start could make a second task, so the loop ends
 * here. */
static void
restart_cut_short(struct backend *b, struct container *c)
{
	backend_ctr_restart_started(c);
	log_warnx("container %.12s: the backend stopped while its restart "
		  "policy was starting it; it is exited unless its task is "
		  "found running",
	    c->id);
	container_set_state(c, "exited");
	json_set(container_state(c), "Error",
	    cJSON_CreateString("the backend restarted while the restart "
			       "policy was starting the container; start it "
			       "again if it does not run"));
	backend_ctr_save(b, c);
}

void
backend_ctr_restart_stopped_by_user(
    struct backend *b, struct container *c, int cancel)
{
	if (!restart_manual(c)) {
		json_set(container_private(c), RESTART_PRIV_MANUAL,
		    cJSON_CreateTrue());
		backend_ctr_save(b, c);
	}
	if (cancel)
		backend_ctr_life(c)->restart_canceled = 1;
}

void
backend_ctr_restart_reset(struct container *c)
{
	struct backend_waiters *w = backend_ctr_life(c);

	backend_ctr_restart_cancel(c);
	w->restart_canceled = 0;
	w->restart_delay_ms = 0;
	cJSON_DeleteItemFromObjectCaseSensitive(
	    container_private(c), RESTART_PRIV_MANUAL);
	json_set(container_doc(c), "RestartCount", cJSON_CreateNumber(0));
}

int
backend_ctr_restart_cancel(struct container *c)
{
	if (c->waiters == NULL || c->waiters->restart == NULL)
		return 0;
	restart_free(c->waiters->restart);
	return 1;
}

void
backend_ctr_restart_resume(struct backend *b, backend_ctr_start_fn start)
{
	struct container *c;

	TAILQ_FOREACH(c, &b->containers, entry) {
		if (c->gone || !container_restarting(c) ||
		    (c->waiters != NULL && c->waiters->restart != NULL))
			continue;
		if (json_bool(container_private(c),
			BACKEND_PRIV_RESTART_STARTING, 0)) {
			restart_cut_short(b, c);
			continue;
		}
		log_info("container %.12s: restarting it (its restart policy "
			 "was restarting it when the backend stopped)",
		    c->id);
		restart_arm(b, c, 0, start);
	}
}

void
backend_ctr_restart_cancel_all(struct backend *b)
{
	struct container *c;

	TAILQ_FOREACH(c, &b->containers, entry)
		backend_ctr_restart_cancel(c);
}
