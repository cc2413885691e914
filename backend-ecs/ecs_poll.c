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

/* Why a task stopped: its main container's reason, else the task's. */
static const char *
ecs_poll_why(const cJSON *task, const cJSON *ctr)
{
	const char *why = json_str(ctr, "reason");

	return why != NULL ? why : json_str(task, "stoppedReason");
}

/* Whether the task's main container starts next (or runs): the agent's
 * installer completed. Its agent then listens within moments. */
static int
ecs_poll_agent_due(const cJSON *task)
{
	const cJSON *it;

	cJSON_ArrayForEach(it, json_arr(task, "containers")) {
		const char *n = json_str(it, "name"),
			   *st = json_str(it, "lastStatus");
		if (n == NULL || st == NULL)
			continue;
		if (strcmp(n, ECS_CONTAINER_NAME) == 0 &&
		    strcmp(st, "RUNNING") == 0)
			return 1;
		if (strcmp(n, ECS_AGENT_INIT) == 0 &&
		    strcmp(st, "STOPPED") == 0 &&
		    json_int(it, "exitCode", -1) == 0)
			return 1;
	}
	return 0;
}

/* The task left PENDING: the start succeeded, unless it stopped without
 * the workload ever running (image pull, entrypoint not found, ...). */
static void
ecs_poll_settle_start(
    struct container *c, const cJSON *task, const char *status)
{
	const cJSON *ctr = ecs_poll_main(task);
	const char *why = ecs_poll_why(task, ctr);
	struct err e;

	if (strcmp(status, "STOPPED") != 0 ||
	    cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(ctr, "exitCode"))) {
		kit_start_settle(c, NULL);
		return;
	}
	kit_start_failed(&e, "failed to start the ECS task",
	    why != NULL ? why : "the task stopped before it ran");
	kit_start_settle(c, &e);
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
	    (c = backend_container_by_private(b, ECS_P_TASK_ARN, arn)) == NULL)
		return;
	priv = container_private(c);
	/* Known before the start settles: whoever the start answers may
	 * reach the agent at once. */
	if (ip != NULL && json_str(priv, ECS_P_IP) == NULL &&
	    (container_running(c) || kit_start_pending(c))) {
		json_set(priv, ECS_P_IP, cJSON_CreateString(ip));
		backend_container_set_address(b, c, ip);
	}
	/* The agent's HELLO answers the start as soon as the workload
	 * runs: a DescribeTasks that says so comes a poll later. */
	if (kit_start_pending(c) && ecs_poll_agent_due(task))
		backend_agent_dial_early(b, c);
	if (kit_start_pending(c) && status != NULL &&
	    strcmp(status, "PROVISIONING") != 0 &&
	    strcmp(status, "PENDING") != 0 &&
	    strcmp(status, "ACTIVATING") != 0) {
		int gone;

		/* The start's op may hold the last reference (a container
		 * removed while it started): keep c until we know. */
		container_ref(c);
		ecs_poll_settle_start(c, task, status);
		gone = c->gone;
		container_unref(c);
		if (gone)
			return;
	}
	if (!container_running(c))
		return;
	if (started != 0)
		kit_started_once(b, c, ECS_P_STARTED, started);
	if (status == NULL || strcmp(status, "STOPPED") != 0)
		return;
	ctr = ecs_poll_main(task);
	if (ctr != NULL &&
	    cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(ctr, "exitCode"))) {
		backend_container_exited(b, c,
		    (int)json_int(ctr, "exitCode", 0),
		    ecs_poll_time(task, "stoppedAt"), NULL);
	} else {
		const char *why = ecs_poll_why(task, ctr);
		backend_container_exited(b, c, kit_start_failure_code(why),
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
	struct container *c =
	    backend_container_by_private(b, ECS_P_TASK_ARN, arn);
	struct err e;

	if (c != NULL && kit_start_pending(c)) {
		err_set(&e, 500,
		    "ECS lost task %s before it started; try again", arn);
		kit_start_settle(c, &e);
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
ecs_poll_described(void *arg, const cJSON *out, const struct aws_error *ae)
{
	struct kit_poller *p = arg;
	const cJSON *it;

	if (ae != NULL) {
		log_warnx("polling tasks: %s: %s", ae->code, ae->message);
		kit_poller_batch_done(p, 1);
		return;
	}
	cJSON_ArrayForEach(it, json_arr(out, "tasks")) {
		ecs_poll_task(p->b, it);
	}
	cJSON_ArrayForEach(it, json_arr(out, "failures")) {
		const char *reason = json_str(it, "reason");
		if (reason != NULL && strcmp(reason, "MISSING") == 0)
			ecs_poll_missing(p->b, json_str(it, "arn"));
	}
	kit_poller_batch_done(p, 0);
}

/* What the poller watches: the task of a running or starting container. */
static const char *
ecs_poll_id(struct container *c)
{
	const char *arn =
	    json_str(json_obj(container_doc(c), "Sockerless"), ECS_P_TASK_ARN);

	if (arn == NULL || !(container_running(c) || kit_start_pending(c)))
		return NULL;
	return arn;
}

static void
ecs_poll_describe(struct kit_poller *p, cJSON *arns)
{
	cJSON *in = ecs_in();

	cJSON_AddItemToObject(in, "tasks", arns);
	aws_json_call(
	    ecs_aws.aws, "ecs", "DescribeTasks", in, ecs_poll_described, p);
}

/* DescribeTasks takes at most 100 tasks. */
struct kit_poller ecs_poller = { .batch = 100,
	.max_backoff_ms = 30000,
	.id = ecs_poll_id,
	.describe = ecs_poll_describe };
static struct kit_passes ecs_reconcile_passes;

void
ecs_poll_start(struct backend *b)
{
	ecs_poller.interval_ms = ecs_conf.poll_ms;
	kit_poller_start(&ecs_poller, b);
}

void
ecs_poll_stop(void)
{
	kit_poller_stop(&ecs_poller);
	kit_passes_stop(&ecs_reconcile_passes);
}

/* --- reconciliation ----------------------------------------------------- */

/* A start journalled (StartToken) whose RunTask the process did not see
 * answered: not running, no start in flight. */
static int
ecs_poll_unresolved(struct container *c)
{
	return !c->gone && !container_running(c) && !kit_start_pending(c) &&
	    container_private_str(c, ECS_P_START_TOKEN) != NULL;
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
		const char *inst =
		    aws_tag_get(json_arr(task, "tags"), KIT_TAG_INSTANCE);
		const char *id =
		    aws_tag_get(json_arr(task, "tags"), KIT_TAG_ID);
		const char *arn = json_str(task, "taskArn");
		struct container *c;

		if (inst == NULL || strcmp(inst, backend_instance(b)) != 0 ||
		    arn == NULL ||
		    backend_container_by_private(b, ECS_P_TASK_ARN, arn) !=
			NULL)
			continue;
		/* The task of a start whose answer the restart lost. */
		c = kit_container_by_id(b, id);
		if (c != NULL && ecs_poll_unresolved(c)) {
			ecs_task_adopt(b, c, arn);
			continue;
		}
		if (json_str(task, "lastStatus") != NULL &&
		    strcmp(json_str(task, "lastStatus"), "STOPPED") == 0)
			continue;
		/* Its container was removed before the task was found: the
		 * user's rm -f stops it whatever ecs.orphans says. */
		if (id != NULL && kit_journal_has(b, ECS_KV_ABANDONED, id)) {
			log_warnx("stopping task %s of removed container %.12s",
			    arn, id);
			kit_journal_put(b, ECS_KV_ABANDONED, id, NULL);
			ecs_task_stop_quietly(arn, "Orphaned sockerless task",
			    "an orphaned task");
			continue;
		}
		log_warnx("orphaned task %s (container %.12s) is not in this "
			  "backend's state%s",
		    arn, id != NULL ? id : "?",
		    kit_orphans_stop(&ecs_orphans) ? "; stopping it" : "");
		if (!kit_orphans_stop(&ecs_orphans))
			continue;
		ecs_task_stop_quietly(
		    arn, "Orphaned sockerless task", "an orphaned task");
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
	in = ecs_in();
	cJSON_AddItemToObject(in, "tasks", cJSON_Duplicate(arns, 1));
	cJSON_AddItemToObject(in, "include",
	    cJSON_CreateStringArray((const char *[]){ "TAGS" }, 1));
	aws_json_call(
	    ecs_aws.aws, "ecs", "DescribeTasks", in, ecs_poll_orphans, l->b);
}

static void
ecs_poll_list_page(struct ecs_poll_lister *l, const char *token)
{
	cJSON *in = ecs_in();

	json_add_str(in, "startedBy", ECS_STARTED_BY);
	json_add_str(in, "desiredStatus", l->desired);
	json_add_int(in, "maxResults", 100);
	if (token != NULL)
		json_add_str(in, "nextToken", token);
	aws_json_call(ecs_aws.aws, "ecs", "ListTasks", in, ecs_poll_listed, l);
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
	    container_private(c), ECS_P_START_TOKEN);
	backend_container_save(b, c);
}

#define ECS_RECONCILE_PASSES 12
#define ECS_RECONCILE_GAP_S  5

/* Pass n: returns the seconds to the next pass, -1 after the last. */
static int
ecs_poll_reconcile_pass(struct backend *b, int n)
{
	int unresolved = 0, journal;
	cJSON *abandoned;

	backend_container_foreach(b, ecs_poll_intent, &unresolved);
	abandoned = kit_journal_load(b, ECS_KV_ABANDONED);
	unresolved += cJSON_GetArraySize(abandoned);
	cJSON_Delete(abandoned);
	journal = ecs_idle_journal_pass(b);
	if (n == 0 || unresolved > 0)
		ecs_poll_list(b, 0);
	if (unresolved > 0)
		ecs_poll_list(b, 1);
	/* A call cut short may still reach ECS: look again for a while. */
	if (n + 1 >= ECS_RECONCILE_PASSES) {
		backend_container_foreach(b, ecs_poll_intent_drop, NULL);
		backend_kv_del(b, ECS_KV_ABANDONED);
		return -1;
	}
	return unresolved > 0 || journal > 0 ? ECS_RECONCILE_GAP_S : -1;
}

/* Running containers are re-adopted by the poller itself (their state is
 * in the store); this resolves what a restart cut short (journalled
 * starts and registrations) and finds tasks of ours the store does not
 * know. */
void
ecs_poll_reconcile(struct backend *b)
{
	ecs_idle_resume(b);
	ecs_reconcile_passes.pass = ecs_poll_reconcile_pass;
	kit_passes_start(&ecs_reconcile_passes, b);
}
