/* One poller per backend: each tick describes every running container's
 * task in batches of 100 (DescribeTasks' limit), so the API cost does not
 * grow with the number of waiting clients. It backs off on errors, and on
 * start-up it looks for tasks of this instance the state does not know. */
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "ecs.h"
#include "sockerless/json.h"
#include "sockerless/log.h"
#include "sockerless/xmalloc.h"

#define ECS_BATCH	   100
#define ECS_MAX_BACKOFF_MS 30000

static int ecs_poll_pending; /* batches in flight this tick */
static int ecs_poll_errors;  /* batches that failed this tick */

static void
ecs_poll_schedule(long long ms)
{
	struct timeval tv = { (time_t)(ms / 1000),
		(suseconds_t)((ms % 1000) * 1000) };

	if (ecs.poll_timer != NULL)
		evtimer_add(ecs.poll_timer, &tv);
}

static int64_t
ecs_poll_time(const cJSON *task, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(task, key);

	return cJSON_IsNumber(v) ? (int64_t)(v->valuedouble * 1e9) : 0;
}

static const char *
ecs_poll_ip(const cJSON *task)
{
	const cJSON *att, *d;

	cJSON_ArrayForEach(att, json_arr(task, "attachments")) {
		cJSON_ArrayForEach(d, json_arr(att, "details")) {
			const char *n = json_str(d, "name");
			if (n != NULL && strcmp(n, "privateIPv4Address") == 0)
				return json_str(d, "value");
		}
	}
	return NULL;
}

/* Docker's exit codes for a workload that never ran: 125 when the engine
 * (here: ECS) failed, 126/127 when the command could not be run. */
static int
ecs_poll_start_failure_code(const char *reason)
{
	if (reason == NULL)
		return 125;
	if (strstr(reason, "executable file not found") != NULL ||
	    strstr(reason, "no such file or directory") != NULL)
		return 127;
	if (strstr(reason, "permission denied") != NULL)
		return 126;
	return 125;
}

/* The main container of a task description. */
static const cJSON *
ecs_poll_main(const cJSON *task)
{
	const cJSON *it;

	cJSON_ArrayForEach(it, json_arr(task, "containers")) {
		const char *n = json_str(it, "name");
		if (n != NULL && strcmp(n, ECS_CONTAINER_NAME) == 0)
			return it;
	}
	return NULL;
}

/* The task left PENDING: the start succeeded, unless it stopped without
 * the workload ever running (image pull, entrypoint not found, ...). */
static void
ecs_poll_settle_start(
    struct container *c, const cJSON *task, const char *status)
{
	const cJSON *ctr = ecs_poll_main(task);
	const char *why;
	struct err e;
	int code;

	if (strcmp(status, "STOPPED") != 0 ||
	    cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(ctr, "exitCode"))) {
		ecs_task_start_settle(c, NULL);
		return;
	}
	why = json_str(ctr, "reason");
	if (why == NULL)
		why = json_str(task, "stoppedReason");
	code = ecs_poll_start_failure_code(why);
	/* Docker's CLI maps these statuses to exit codes 125-127. */
	err_set(&e, code == 125 ? 500 : 400, "failed to start the ECS task: %s",
	    why != NULL ? why : "the task stopped before it ran");
	ecs_task_start_settle(c, &e);
}

static void
ecs_poll_task(struct backend *b, const cJSON *task)
{
	const char *arn = json_str(task, "taskArn");
	const char *status = json_str(task, "lastStatus");
	const char *ip = ecs_poll_ip(task);
	const cJSON *ctr;
	struct container *c;
	cJSON *priv;
	int64_t started = ecs_poll_time(task, "startedAt");

	if (arn == NULL ||
	    (c = backend_container_by_private(b, "TaskArn", arn)) == NULL)
		return;
	priv = container_private(c);
	/* Known before the start settles: whoever the start answers may
	 * reach the agent at once. */
	if (ip != NULL && json_str(priv, "Ip") == NULL &&
	    (container_running(c) || ecs_task_start_pending(c))) {
		json_set(priv, "Ip", cJSON_CreateString(ip));
		backend_container_set_address(b, c, ip);
	}
	if (ecs_task_start_pending(c) && status != NULL &&
	    strcmp(status, "PROVISIONING") != 0 &&
	    strcmp(status, "PENDING") != 0 && strcmp(status, "ACTIVATING") != 0)
		ecs_poll_settle_start(c, task, status);
	if (!container_running(c))
		return;
	if (started != 0 && !json_bool(priv, "TaskStarted", 0)) {
		json_set(priv, "TaskStarted", cJSON_CreateTrue());
		backend_container_started(b, c, started);
	}
	if (status == NULL || strcmp(status, "STOPPED") != 0)
		return;
	ctr = ecs_poll_main(task);
	if (ctr != NULL &&
	    cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(ctr, "exitCode"))) {
		backend_container_exited(b, c,
		    (int)json_int(ctr, "exitCode", 0),
		    ecs_poll_time(task, "stoppedAt"), NULL);
	} else {
		const char *why = json_str(ctr, "reason");
		if (why == NULL)
			why = json_str(task, "stoppedReason");
		backend_container_exited(b, c, ecs_poll_start_failure_code(why),
		    ecs_poll_time(task, "stoppedAt"),
		    why != NULL ? why :
				  "the task stopped without an exit code");
	}
}

/* ECS forgets stopped tasks after about an hour; one we still think runs
 * stopped while nobody watched. */
static void
ecs_poll_missing(struct backend *b, const char *arn)
{
	struct container *c = backend_container_by_private(b, "TaskArn", arn);
	struct err e;

	if (c != NULL && ecs_task_start_pending(c)) {
		err_set(&e, 500,
		    "ECS lost task %s before it started; try again", arn);
		ecs_task_start_settle(c, &e);
		return;
	}
	if (c == NULL || !container_running(c))
		return;
	log_warnx("container %.12s: ECS no longer knows task %s", c->id, arn);
	backend_container_exited(b, c, 255, str_now_ns(),
	    "ECS no longer knows the task: it stopped while the backend was "
	    "not watching and its exit code is lost");
}

static void
ecs_poll_tick_done(void)
{
	if (ecs_poll_errors > 0)
		ecs.poll_backoff_ms = ecs.poll_backoff_ms == 0 ?
		    ecs_conf.poll_ms * 2 :
		    ecs.poll_backoff_ms * 2;
	else
		ecs.poll_backoff_ms = 0;
	if (ecs.poll_backoff_ms > ECS_MAX_BACKOFF_MS)
		ecs.poll_backoff_ms = ECS_MAX_BACKOFF_MS;
	ecs.poll_inflight = 0;
	ecs_poll_schedule(
	    ecs.poll_backoff_ms ? ecs.poll_backoff_ms : ecs_conf.poll_ms);
}

static void
ecs_poll_described(void *arg, const cJSON *out, const struct aws_error *ae)
{
	struct backend *b = arg;
	const cJSON *it;

	if (ae != NULL) {
		ecs_poll_errors++;
		log_warnx("polling tasks: %s: %s", ae->code, ae->message);
	} else {
		cJSON_ArrayForEach(it, json_arr(out, "tasks")) {
			ecs_poll_task(b, it);
		}
		cJSON_ArrayForEach(it, json_arr(out, "failures")) {
			const char *reason = json_str(it, "reason");
			if (reason != NULL && strcmp(reason, "MISSING") == 0)
				ecs_poll_missing(b, json_str(it, "arn"));
		}
	}
	if (--ecs_poll_pending == 0)
		ecs_poll_tick_done();
}

struct ecs_poll_collect {
	cJSON *batches; /* array of arrays of ARNs */
};

static void
ecs_poll_collect(struct backend *b, struct container *c, void *arg)
{
	struct ecs_poll_collect *pc = arg;
	const char *arn = json_str(json_obj(c->doc, "Sockerless"), "TaskArn");
	cJSON *last;

	(void)b;
	if (arn == NULL || !(container_running(c) || ecs_task_start_pending(c)))
		return;
	last = cJSON_GetArrayItem(
	    pc->batches, cJSON_GetArraySize(pc->batches) - 1);
	if (last == NULL || cJSON_GetArraySize(last) >= ECS_BATCH) {
		last = cJSON_CreateArray();
		cJSON_AddItemToArray(pc->batches, last);
	}
	cJSON_AddItemToArray(last, cJSON_CreateString(arn));
}

static void
ecs_poll_tick(evutil_socket_t fd, short what, void *arg)
{
	struct backend *b = arg;
	struct ecs_poll_collect pc = { cJSON_CreateArray() };
	cJSON *batch;

	(void)fd;
	(void)what;
	backend_container_foreach_active(b, ecs_poll_collect, &pc);
	if (cJSON_GetArraySize(pc.batches) == 0) {
		cJSON_Delete(pc.batches);
		ecs_poll_schedule(ecs_conf.poll_ms);
		return;
	}
	ecs.poll_inflight = 1;
	ecs_poll_errors = 0;
	ecs_poll_pending = cJSON_GetArraySize(pc.batches);
	while ((batch = cJSON_DetachItemFromArray(pc.batches, 0)) != NULL) {
		cJSON *in = cJSON_CreateObject();
		json_add_str(in, "cluster", ecs_conf.cluster);
		cJSON_AddItemToObject(in, "tasks", batch);
		aws_json_call(
		    ecs.aws, "ecs", "DescribeTasks", in, ecs_poll_described, b);
	}
	cJSON_Delete(pc.batches);
}

void
ecs_poll_start(struct backend *b)
{
	ecs.poll_timer = evtimer_new(backend_base(b), ecs_poll_tick, b);
	ecs_poll_schedule(0);
}

/* A task was just started or stopped: look sooner than the next tick. */
void
ecs_poll_kick(void)
{
	if (!ecs.poll_inflight && ecs.poll_backoff_ms == 0)
		ecs_poll_schedule(200);
}

static struct event *ecs_reconcile_timer;

void
ecs_poll_stop(void)
{
	if (ecs.poll_timer != NULL)
		event_free(ecs.poll_timer);
	ecs.poll_timer = NULL;
	if (ecs_reconcile_timer != NULL)
		event_free(ecs_reconcile_timer);
	ecs_reconcile_timer = NULL;
}

/* --- reconciliation ----------------------------------------------------- */

static const char *
ecs_poll_tag(const cJSON *task, const char *key)
{
	const cJSON *t;

	cJSON_ArrayForEach(t, json_arr(task, "tags")) {
		const char *k = json_str(t, "key");
		if (k != NULL && strcmp(k, key) == 0)
			return json_str(t, "value");
	}
	return NULL;
}

static void
ecs_poll_orphan_stopped(void *arg, const cJSON *out, const struct aws_error *ae)
{
	(void)arg;
	(void)out;
	if (ae != NULL)
		log_warnx(
		    "stopping an orphaned task: %s: %s", ae->code, ae->message);
}

/* A start journalled (StartToken) whose RunTask the process did not see
 * answered: not running, no start in flight. */
static int
ecs_poll_unresolved(struct container *c)
{
	return json_str(container_private(c), "StartToken") != NULL &&
	    !container_running(c) && !ecs_task_start_pending(c) && !c->gone;
}

struct ecs_poll_find {
	const char *id;
	struct container *c;
};

static void
ecs_poll_find_id(struct backend *b, struct container *c, void *arg)
{
	struct ecs_poll_find *f = arg;

	(void)b;
	if (f->id != NULL && strcmp(c->id, f->id) == 0)
		f->c = c;
}

static void
ecs_poll_stop_orphan(const char *arn)
{
	cJSON *in = cJSON_CreateObject();

	json_add_str(in, "cluster", ecs_conf.cluster);
	json_add_str(in, "task", arn);
	json_add_str(in, "reason", "Orphaned sockerless task");
	aws_json_call(
	    ecs.aws, "ecs", "StopTask", in, ecs_poll_orphan_stopped, NULL);
}

static int
ecs_poll_abandoned(struct backend *b, const char *id)
{
	cJSON *o = ecs_journal_load(b, ECS_ABANDONED);
	int r = cJSON_GetObjectItemCaseSensitive(o, id) != NULL;

	cJSON_Delete(o);
	return r;
}

static void
ecs_poll_orphans(void *arg, const cJSON *out, const struct aws_error *ae)
{
	struct backend *b = arg;
	const cJSON *task;

	if (ae != NULL) {
		log_warnx("reconciling: DescribeTasks: %s: %s", ae->code,
		    ae->message);
		return;
	}
	cJSON_ArrayForEach(task, json_arr(out, "tasks")) {
		const char *inst = ecs_poll_tag(task, ECS_TAG_INSTANCE);
		const char *id = ecs_poll_tag(task, ECS_TAG_ID);
		const char *arn = json_str(task, "taskArn");
		struct ecs_poll_find f = { id, NULL };

		if (inst == NULL || strcmp(inst, backend_instance(b)) != 0 ||
		    arn == NULL ||
		    backend_container_by_private(b, "TaskArn", arn) != NULL)
			continue;
		/* The task of a start whose answer the restart lost. */
		backend_container_foreach(b, ecs_poll_find_id, &f);
		if (f.c != NULL && ecs_poll_unresolved(f.c)) {
			ecs_task_adopt(b, f.c, arn);
			continue;
		}
		if (json_str(task, "lastStatus") != NULL &&
		    strcmp(json_str(task, "lastStatus"), "STOPPED") == 0)
			continue;
		/* Its container was removed before the task was found: the
		 * user's rm -f stops it whatever ecs.orphans says. */
		if (id != NULL && ecs_poll_abandoned(b, id)) {
			log_warnx("stopping task %s of removed container %.12s",
			    arn, id);
			ecs_journal_put(b, ECS_ABANDONED, id, NULL);
			ecs_poll_stop_orphan(arn);
			continue;
		}
		log_warnx("orphaned task %s (container %.12s) is not in this "
			  "backend's state%s",
		    arn, id != NULL ? id : "?",
		    strcmp(ecs_conf.orphans, "stop") == 0 ? "; stopping it" :
							    "");
		if (strcmp(ecs_conf.orphans, "stop") != 0)
			continue;
		ecs_poll_stop_orphan(arn);
	}
}

/* One listing (RUNNING or STOPPED), followed page by page. */
struct ecs_poll_lister {
	struct backend *b;
	const char *desired;
};
static struct ecs_poll_lister ecs_listers[] = { { NULL, "RUNNING" },
	{ NULL, "STOPPED" } };

static void ecs_poll_list_page(struct ecs_poll_lister *l, const char *token);

static void
ecs_poll_listed(void *arg, const cJSON *out, const struct aws_error *ae)
{
	struct ecs_poll_lister *l = arg;
	const cJSON *arns = json_arr(out, "taskArns");
	cJSON *in;

	if (ae != NULL) {
		log_warnx(
		    "reconciling: ListTasks: %s: %s", ae->code, ae->message);
		return;
	}
	if (json_str(out, "nextToken") != NULL)
		ecs_poll_list_page(l, json_str(out, "nextToken"));
	if (cJSON_GetArraySize(arns) == 0)
		return;
	in = cJSON_CreateObject();
	json_add_str(in, "cluster", ecs_conf.cluster);
	cJSON_AddItemToObject(in, "tasks", cJSON_Duplicate(arns, 1));
	cJSON_AddItemToObject(in, "include",
	    cJSON_CreateStringArray((const char *[]){ "TAGS" }, 1));
	aws_json_call(
	    ecs.aws, "ecs", "DescribeTasks", in, ecs_poll_orphans, l->b);
}

static void
ecs_poll_list_page(struct ecs_poll_lister *l, const char *token)
{
	cJSON *in = cJSON_CreateObject();

	json_add_str(in, "cluster", ecs_conf.cluster);
	json_add_str(in, "startedBy", ECS_STARTED_BY);
	json_add_str(in, "desiredStatus", l->desired);
	json_add_int(in, "maxResults", 100);
	if (token != NULL)
		json_add_str(in, "nextToken", token);
	aws_json_call(ecs.aws, "ecs", "ListTasks", in, ecs_poll_listed, l);
}

static void
ecs_poll_list(struct backend *b, int stopped)
{
	ecs_listers[stopped].b = b;
	ecs_poll_list_page(&ecs_listers[stopped], NULL);
}

/* Starts journalled before the restart: adopted by the ARN RunTask
 * answered; the others are counted and looked up by their tags. */
static void
ecs_poll_intent(struct backend *b, struct container *c, void *arg)
{
	int *unresolved = arg;
	const char *arn;

	if (!ecs_poll_unresolved(c))
		return;
	if ((arn = ecs_task_start_arn(c)) != NULL) {
		ecs_task_adopt(b, c, arn);
		return;
	}
	(*unresolved)++;
}

/* After the last pass: the RunTask never reached ECS. */
static void
ecs_poll_intent_drop(struct backend *b, struct container *c, void *arg)
{
	(void)arg;
	if (!ecs_poll_unresolved(c))
		return;
	log_warnx("container %.12s: no task of its interrupted start exists; "
		  "it stays created",
	    c->id);
	cJSON_DeleteItemFromObjectCaseSensitive(
	    container_private(c), "StartToken");
	backend_container_save(b, c);
}

#define ECS_RECONCILE_PASSES 12
#define ECS_RECONCILE_GAP_S  5

static int ecs_reconcile_passes;

static void
ecs_poll_reconcile_pass(evutil_socket_t fd, short what, void *arg)
{
	struct backend *b = arg;
	struct timeval tv = { ECS_RECONCILE_GAP_S, 0 };
	int unresolved = 0, journal;
	cJSON *abandoned;

	(void)fd;
	(void)what;
	backend_container_foreach(b, ecs_poll_intent, &unresolved);
	abandoned = ecs_journal_load(b, ECS_ABANDONED);
	unresolved += cJSON_GetArraySize(abandoned);
	cJSON_Delete(abandoned);
	journal = ecs_task_journal_pass(b);
	if (ecs_reconcile_passes == 0 || unresolved > 0)
		ecs_poll_list(b, 0);
	if (unresolved > 0)
		ecs_poll_list(b, 1);
	/* A call cut short may still reach ECS: look again for a while. */
	if (++ecs_reconcile_passes >= ECS_RECONCILE_PASSES) {
		backend_container_foreach(b, ecs_poll_intent_drop, NULL);
		backend_kv_del(b, ECS_ABANDONED);
		return;
	}
	if (unresolved > 0 || journal > 0)
		evtimer_add(ecs_reconcile_timer, &tv);
}

/* Running containers are re-adopted by the poller itself (their state is
 * in the store); this resolves what a restart cut short (journalled
 * starts and registrations) and finds tasks of ours the store does not
 * know. */
void
ecs_poll_reconcile(struct backend *b)
{
	ecs_task_idle_resume(b);
	ecs_reconcile_timer =
	    evtimer_new(backend_base(b), ecs_poll_reconcile_pass, b);
	ecs_poll_reconcile_pass(-1, 0, b);
}
