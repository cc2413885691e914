/* Docker containers as ECS tasks: the task definition a container maps to
 * (registered once per distinct definition and reused), RunTask, StopTask
 * and DeregisterTaskDefinition. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>

#include "ecs.h"
#include "sockerless/container.h"
#include "sockerless/json.h"
#include "sockerless/log.h"
#include "sockerless/xmalloc.h"

/* One asynchronous ECS operation on a container. */
struct ecs_op {
	struct kit_op k;
	struct ecs_op *next; /* creates waiting for one registration */
};

static struct ecs_op *
ecs_op_new(
    struct backend *b, struct container *c, backend_done_fn done, void *arg)
{
	return kit_op_new(sizeof(struct ecs_op), b, c, done, arg);
}

/* A start is settled: its intent is no longer journalled (the caller
 * saves the container next). */
static void
ecs_op_started(struct kit_op *k)
{
	cJSON_DeleteItemFromObjectCaseSensitive(
	    container_private(k->c), ECS_P_START_TOKEN);
}

/* Turns an AWS failure into the error the Docker client sees. */
static void
ecs_op_fail(struct ecs_op *op, const struct aws_error *ae, const char *what)
{
	struct err e;

	aws_error_to_err(ae, &e);
	kit_op_fail(&op->k, &e, what);
}

/* Registrations in flight, one per definition hash: identical creates
 * that come while one is registering wait for its answer instead of
 * registering a revision each. */
struct ecs_td_reg {
	struct backend *b;
	char *hash;
	struct ecs_op *waiters;
	TAILQ_ENTRY(ecs_td_reg) entry;
};
static TAILQ_HEAD(, ecs_td_reg) ecs_td_regs = TAILQ_HEAD_INITIALIZER(
    ecs_td_regs);

static struct ecs_td_reg *
ecs_task_reg_find(const char *hash)
{
	struct ecs_td_reg *r;

	TAILQ_FOREACH(r, &ecs_td_regs, entry)
		if (strcmp(r->hash, hash) == 0)
			return r;
	return NULL;
}

int
ecs_task_registering(const char *hash)
{
	return ecs_task_reg_find(hash) != NULL;
}

static void
ecs_task_use_def(struct container *c, const char *arn, const char *hash)
{
	kit_uses_set(&ecs_td_uses, c, arn);
	json_set(container_private(c), ECS_P_TD_HASH, cJSON_CreateString(hash));
}

static void
ecs_task_registered(void *arg, const cJSON *out, const struct aws_error *ae)
{
	struct ecs_td_reg *reg = arg;
	struct ecs_op *op, *next;
	const char *tdarn = NULL;
	char *key;
	struct err e;

	TAILQ_REMOVE(&ecs_td_regs, reg, entry);
	if (ae == NULL)
		tdarn = json_str(
		    json_obj(out, "taskDefinition"), "taskDefinitionArn");
	if (tdarn != NULL) {
		key = xasprintf(ECS_KV_TASKDEF "%s", reg->hash);
		backend_kv_set(reg->b, key, tdarn);
		free(key);
	}
	/* Resolved: known by the kv entry, or never made. A lost answer
	 * stays journalled for the next start-up to look up. */
	if (ae == NULL || ae->http_status != 0)
		kit_journal_put(reg->b, ECS_KV_JOURNAL, reg->hash, NULL);
	if (ae != NULL) {
		aws_error_to_err(ae, &e);
		err_wrap(&e, "registering the ECS task definition");
	} else if (tdarn == NULL)
		err_set(&e, 502, "RegisterTaskDefinition returned no ARN");
	for (op = reg->waiters; op != NULL; op = next) {
		next = op->next;
		if (tdarn != NULL)
			ecs_task_use_def(op->k.c, tdarn, reg->hash);
		kit_op_end(&op->k, tdarn != NULL ? NULL : &e);
	}
	free(reg->hash);
	free(reg);
}

/* A create that made a secret and then failed takes it away again. */
struct ecs_create_done {
	backend_done_fn done;
	void *arg;
	struct container *c;
};

static void
ecs_task_create_done(void *arg, const struct err *e)
{
	struct ecs_create_done *w = arg;

	if (e != NULL)
		ecs_secret_delete(w->c);
	w->done(w->arg, e);
	container_unref(w->c);
	free(w);
}

static void ecs_task_create_def(void *arg, const struct err *se);

void
ecs_task_create(
    struct backend *b, struct container *c, backend_done_fn done, void *arg)
{
	struct ecs_create_done *w = xcalloc(1, sizeof(*w));
	struct ecs_op *op;

	w->done = done;
	w->arg = arg;
	w->c = c;
	container_ref(c);
	op = ecs_op_new(b, c, ecs_task_create_done, w);
	if (ecs_secret_create(b, c, ecs_task_create_def, op) == 0)
		ecs_task_create_def(op, NULL);
}

static void
ecs_task_create_def(void *arg, const struct err *se)
{
	struct ecs_op *op = arg;
	struct backend *b = op->k.b;
	struct container *c = op->k.c;
	char hash[25], *key, *arn, *family;
	struct ecs_td_reg *reg;
	cJSON *td, *jr;
	struct err e;

	if (se != NULL) {
		kit_op_end(&op->k, se);
		return;
	}

	/* Recorded so that later runs and the log reader know how the
	 * definition was made, whatever the configuration says by then. */
	if (ecs_conf.agent)
		json_set(container_private(c), ECS_P_AGENT, cJSON_CreateTrue());
	if ((td = ecs_def_build(b, c, ecs_conf.agent, hash, &e)) == NULL) {
		kit_op_end(&op->k, &e);
		return;
	}
	key = xasprintf(ECS_KV_TASKDEF "%s", hash);
	arn = backend_kv_get(b, key);
	free(key);
	if (arn != NULL) {
		/* An identical definition is registered already: reuse it. */
		ecs_task_use_def(c, arn, hash);
		free(arn);
		cJSON_Delete(td);
		kit_op_end(&op->k, NULL);
		return;
	}
	if ((reg = ecs_task_reg_find(hash)) != NULL) {
		op->next = reg->waiters;
		reg->waiters = op;
		cJSON_Delete(td);
		return;
	}
	reg = xcalloc(1, sizeof(*reg));
	reg->b = b;
	reg->hash = xstrdup(hash);
	reg->waiters = op;
	TAILQ_INSERT_HEAD(&ecs_td_regs, reg, entry);
	family = xasprintf("sockerless-%s", hash);
	/* Intent first: a restart finds the family and what it holds. */
	jr = cJSON_CreateObject();
	json_add_str(jr, "family", family);
	json_add_int(jr, "at", str_now_ns());
	kit_journal_put(b, ECS_KV_JOURNAL, hash, jr);
	json_add_str(td, "family", family);
	free(family);
	/* Found by their tags too (docs/backend-ecs.md). */
	cJSON_AddItemToArray(json_arr(td, "tags"),
	    aws_tag(KIT_TAG_INSTANCE, backend_instance(b)));
	aws_json_call(ecs_aws.aws, "ecs", "RegisterTaskDefinition", td,
	    ecs_task_registered, reg);
}

/* --- run ---------------------------------------------------------------- */

/* The container runs task arn now: recorded as run number run of its
 * Tasks unless there already (-1: a new run), and a new task has a new
 * address (and agent). */
static void
ecs_task_use(cJSON *priv, const char *arn, int run)
{
	cJSON *runs = json_arr(priv, ECS_P_TASKS), *r;

	if (runs == NULL) {
		runs = cJSON_CreateArray();
		json_set(priv, ECS_P_TASKS, runs);
	}
	if (run < 0 || cJSON_GetArraySize(runs) <= run) {
		r = cJSON_CreateObject();
		json_add_str(r, ECS_P_RUN_ARN, arn);
		json_add_int(r, ECS_P_RUN_CREATED, str_now_ns());
		cJSON_AddItemToArray(runs, r);
	}
	json_set(priv, ECS_P_TASK_ARN, cJSON_CreateString(arn));
	cJSON_DeleteItemFromObjectCaseSensitive(priv, ECS_P_STARTED);
	cJSON_DeleteItemFromObjectCaseSensitive(priv, ECS_P_IP);
}

/* Maps the container definition's start failure to the exit code Docker
 * gives for the same cause. */
static void
ecs_task_ran(void *arg, const cJSON *out, const struct aws_error *ae)
{
	struct ecs_op *op = arg;
	const cJSON *task = cJSON_GetArrayItem(json_arr(out, "tasks"), 0);
	const cJSON *fail = cJSON_GetArrayItem(json_arr(out, "failures"), 0);
	const char *arn;
	struct err e;

	if (ae != NULL) {
		ecs_op_fail(op, ae, "starting the ECS task");
		return;
	}
	/* RunTask answers 200 and lists what it could not start. */
	if (task == NULL || (arn = json_str(task, "taskArn")) == NULL) {
		err_set(&e, 500, "ECS could not start the task: %s%s%s",
		    fail != NULL ? json_str(fail, "reason") :
				   "no task returned",
		    fail != NULL && json_str(fail, "detail") ? ": " : "",
		    fail != NULL && json_str(fail, "detail") ?
			json_str(fail, "detail") :
			"");
		kit_op_end(&op->k, &e);
		return;
	}
	ecs_task_use(container_private(op->k.c), arn, -1);
	/* Durable at once: a restart before RUNNING finds the task. */
	backend_container_save(op->k.b, op->k.c);
	log_info("container %.12s: task %s", op->k.c->id, arn);
	/* Docker's start returns once the process runs: the poller settles
	 * the start when the task reaches RUNNING (or fails to). */
	kit_start_park(&op->k);
	kit_poller_kick(&ecs_poller);
}

/* The task of a start that a restart cut short, found by its ARN or its
 * tags: the container runs it, and the poller reports its end. */
void
ecs_task_adopt(struct backend *b, struct container *c, const char *task_arn)
{
	cJSON *priv = container_private(c);
	char *arn = xstrdup(task_arn); /* task_arn may be priv's own */

	ecs_task_use(priv, arn, (int)json_int(priv, ECS_P_START_RUN, 0));
	cJSON_DeleteItemFromObjectCaseSensitive(priv, ECS_P_START_TOKEN);
	log_warnx("container %.12s: re-adopted task %s of a start the "
		  "restart interrupted",
	    c->id, arn);
	backend_container_adopted(b, c, str_now_ns());
	kit_poller_kick(&ecs_poller);
	free(arn);
}

/* The ARN RunTask answered for the start in flight, if it answered. */
const char *
ecs_task_start_arn(struct container *c)
{
	const cJSON *priv = container_private(c);
	int n = (int)json_int(priv, ECS_P_START_RUN, 0);

	if (cJSON_GetArraySize(json_arr(priv, ECS_P_TASKS)) <= n)
		return NULL;
	return json_str(priv, ECS_P_TASK_ARN);
}

/* RunTask's overrides: the agent's per-run environment (its token and
 * hold), so that the definition stays shareable between containers. */
static cJSON *
ecs_task_overrides(struct backend *b, struct container *c, struct err *e)
{
	cJSON *run, *ov, *ctrs, *ctr;
	char *text;
	size_t len;

	if ((run = backend_agent_run_env(b, c, e)) == NULL)
		return NULL;
	ctr = cJSON_CreateObject();
	json_add_str(ctr, "name", ECS_CONTAINER_NAME);
	cJSON_AddItemToObject(
	    ctr, "environment", ecs_def_env(cJSON_CreateArray(), run));
	cJSON_Delete(run);
	ctrs = cJSON_CreateArray();
	cJSON_AddItemToArray(ctrs, ctr);
	ov = cJSON_CreateObject();
	cJSON_AddItemToObject(ov, "containerOverrides", ctrs);
	/* RunTask refuses overrides over 8192 characters of JSON. */
	text = json_print(ov);
	len = strlen(text);
	free(text);
	if (len > 8192) {
		cJSON_Delete(ov);
		err_set(e, 500,
		    "the agent's environment (%zu characters) exceeds "
		    "RunTask's 8192-character overrides limit",
		    len);
		return NULL;
	}
	return ov;
}

static void ecs_task_run(void *arg, const struct err *ne);

void
ecs_task_start(
    struct backend *b, struct container *c, backend_done_fn done, void *arg)
{
	struct ecs_op *op = ecs_op_new(b, c, done, arg);

	ecs_net_ready(b, c, ecs_task_run, op);
}

/* The groups of the container's networks exist: RunTask. */
static void
ecs_task_run(void *arg, const struct err *ne)
{
	struct ecs_op *op = arg;
	struct backend *b = op->k.b;
	struct container *c = op->k.c;
	const char *tdarn = json_str(container_private(c), ECS_P_TD_ARN);
	cJSON *in, *net, *vpc, *tags, *groups, *ov = NULL;
	char token[65];
	int runs =
	    cJSON_GetArraySize(json_arr(container_private(c), ECS_P_TASKS));
	struct err e;

	if (ne != NULL) {
		kit_op_end(&op->k, ne);
		return;
	}
	if (tdarn == NULL) {
		err_set(&e, 500,
		    "container %.12s has no task definition; "
		    "remove and create it again",
		    c->id);
		kit_op_end(&op->k, &e);
		return;
	}
	if ((groups = ecs_net_groups(b, c, &e)) == NULL) {
		kit_op_end(&op->k, &e);
		return;
	}
	if (json_bool(container_private(c), ECS_P_AGENT, 0) &&
	    (ov = ecs_task_overrides(b, c, &e)) == NULL) {
		cJSON_Delete(groups);
		kit_op_end(&op->k, &e);
		return;
	}
	in = ecs_in();
	json_add_str(in, "taskDefinition", tdarn);
	json_add_str(in, "launchType", "FARGATE");
	json_add_int(in, "count", 1);
	net = cJSON_CreateObject();
	vpc = cJSON_CreateObject();
	cJSON_AddItemToObject(
	    vpc, "subnets", json_strv_to_array(&ecs_conf.subnets));
	cJSON_AddItemToObject(vpc, "securityGroups", groups);
	json_add_str(vpc, "assignPublicIp",
	    ecs_conf.assign_public_ip ? "ENABLED" : "DISABLED");
	cJSON_AddItemToObject(net, "awsvpcConfiguration", vpc);
	cJSON_AddItemToObject(in, "networkConfiguration", net);
	json_add_str(in, "startedBy", ECS_STARTED_BY);
	if (ov != NULL)
		cJSON_AddItemToObject(in, "overrides", ov);
	tags =
	    aws_tags_from_labels(json_obj(container_config(c), "Labels"), 48);
	cJSON_AddItemToArray(tags, aws_tag(KIT_TAG_ID, c->id));
	cJSON_AddItemToArray(
	    tags, aws_tag(KIT_TAG_INSTANCE, backend_instance(b)));
	cJSON_AddItemToObject(in, "tags", tags);
	/* The same start retried is the same task, never a second one. */
	snprintf(token, sizeof(token), "%.48s-%d", c->id, runs);
	json_add_str(in, "clientToken", token);
	/* Intent first: a restart before the answer looks the task up by
	 * its tags (ecs_poll_reconcile). */
	op->k.cleanup = ecs_op_started;
	json_set(
	    container_private(c), ECS_P_START_TOKEN, cJSON_CreateString(token));
	json_set(
	    container_private(c), ECS_P_START_RUN, cJSON_CreateNumber(runs));
	backend_container_save(b, c);
	aws_json_call(ecs_aws.aws, "ecs", "RunTask", in, ecs_task_ran, op);
}

/* Forward mode: the agent listens on the task's own address (awsvpc). A
 * start still waiting for RUNNING counts: a held main process waits for
 * the agent's "start". */
int
ecs_task_agent_address(struct backend *b, struct container *c, char *host,
    size_t hostsz, int *port)
{
	const cJSON *priv = container_private(c);

	(void)b;
	if (!json_bool(priv, ECS_P_AGENT, 0) ||
	    json_str(priv, ECS_P_TASK_ARN) == NULL)
		return -1;
	return kit_agent_address(
	    c, json_str(priv, ECS_P_IP), ECS_AGENT_PORT, host, hostsz, port);
}

void
ecs_task_agent_hello(struct backend *b, struct container *c)
{
	kit_start_settle(c, NULL);
	kit_started_once(b, c, ECS_P_STARTED, 0);
}

/* --- stop, kill --------------------------------------------------------- */

static void
ecs_task_stop_call(
    const char *arn, const char *reason, aws_json_cb cb, void *arg)
{
	cJSON *in = ecs_in();

	json_add_str(in, "task", arn);
	json_add_str(in, "reason", reason);
	aws_json_call(ecs_aws.aws, "ecs", "StopTask", in, cb, arg);
}

static void
ecs_task_stopped(void *arg, const cJSON *out, const struct aws_error *ae)
{
	struct ecs_op *op = arg;

	(void)out;
	if (ae != NULL && strcmp(ae->code, "InvalidParameterException") != 0) {
		ecs_op_fail(op, ae, "stopping the ECS task");
		return;
	}
	kit_op_end(&op->k, NULL);
	kit_poller_kick(&ecs_poller);
}

static void
ecs_task_stop_task(struct backend *b, struct container *c, const char *reason,
    backend_done_fn done, void *arg)
{
	struct ecs_op *op = ecs_op_new(b, c, done, arg);
	const char *arn = json_str(container_private(c), ECS_P_TASK_ARN);

	if (arn == NULL) {
		kit_op_end(&op->k, NULL);
		return;
	}
	ecs_task_stop_call(arn, reason, ecs_task_stopped, op);
}

/* The cloud's stop, for kit_stop_through_agent when the agent cannot be
 * reached (or the task runs without it): StopTask, which sends SIGTERM and
 * SIGKILL after the definition's stopTimeout. */
static void
ecs_task_hard_stop(struct backend *b, struct container *c, int signo,
    backend_done_fn done, void *arg)
{
	(void)signo;
	ecs_task_stop_task(
	    b, c, "Stopped by docker stop (sockerless)", done, arg);
}

/* dockerd's stop through the agent: the stop signal (-s, StopSignal or
 * TERM), KILL after -t (exit 137); StopTask only when the agent cannot be
 * reached, whose grace is the definition's stopTimeout. */
void
ecs_task_stop(struct backend *b, struct container *c, int timeout_s,
    backend_done_fn done, void *arg)
{
	kit_stop_through_agent(b, c, timeout_s, ecs_task_hard_stop, done, arg);
}

void
ecs_task_kill(struct backend *b, struct container *c, int signo,
    backend_done_fn done, void *arg)
{
	(void)signo;
	ecs_task_stop_task(
	    b, c, "Killed by docker kill (sockerless)", done, arg);
}

/* --- remove ------------------------------------------------------------- */

static void
ecs_task_stopped_quietly(
    void *arg, const cJSON *out, const struct aws_error *ae)
{
	(void)out;
	if (ae != NULL)
		log_warnx("stopping %s: %s: %s", (const char *)arg, ae->code,
		    ae->message);
}

void
ecs_task_stop_quietly(const char *arn, const char *reason, const char *what)
{
	if (arn != NULL)
		ecs_task_stop_call(
		    arn, reason, ecs_task_stopped_quietly, (void *)what);
}

static void
ecs_task_deregistered(void *arg, const cJSON *out, const struct aws_error *ae)
{
	struct ecs_op *op = arg;

	(void)out;
	/* Already gone is fine; anything else is worth a log line, but the
	 * container is removed regardless: the definition costs nothing. */
	if (ae != NULL)
		log_warnx("deregistering the task definition of %.12s: %s: %s",
		    op->k.c->id, ae->code, ae->message);
	kit_op_end(&op->k, NULL);
}

void
ecs_task_remove(
    struct backend *b, struct container *c, backend_done_fn done, void *arg)
{
	struct ecs_op *op = ecs_op_new(b, c, done, arg);
	const cJSON *priv = container_private(c);
	const char *arn = json_str(priv, ECS_P_TD_ARN);
	const char *hash = json_str(priv, ECS_P_TD_HASH);
	struct err e;

	/* Removed while its task was still starting (docker rm -f): the
	 * start fails and the task is stopped, never left running. */
	if (kit_start_pending(c)) {
		err_set(&e, 409, "container %.12s was removed while it started",
		    c->id);
		kit_start_settle(c, &e);
		ecs_task_stop_quietly(json_str(priv, ECS_P_TASK_ARN),
		    "Removed by docker rm -f (sockerless)",
		    "a removed container's task");
	}
	ecs_secret_delete(c);
	/* Removed while a restart's passes still look for its task. */
	if (json_str(priv, ECS_P_START_TOKEN) != NULL &&
	    ecs_task_start_arn(c) == NULL) {
		cJSON *at = cJSON_CreateObject();
		json_add_int(at, "at", str_now_ns());
		kit_journal_put(b, ECS_KV_ABANDONED, c->id, at);
	}
	if (arn == NULL) {
		kit_op_end(&op->k, NULL);
		return;
	}
	/* An ECS removal always succeeds: c goes. */
	kit_uses_release(&ecs_td_uses, b, c);
	if (kit_uses_used(&ecs_td_uses, b, arn)) {
		kit_op_end(&op->k, NULL);
		return;
	}
	if (ecs_conf.taskdef_idle_s > 0) {
		ecs_idle_add(b, arn, hash);
		kit_op_end(&op->k, NULL);
		return;
	}
	ecs_idle_deregister(b, arn, hash, ecs_task_deregistered, &op->k);
}
