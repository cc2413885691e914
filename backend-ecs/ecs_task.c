/* Docker containers as ECS tasks: the task definition a container maps to
 * (registered once per distinct definition and reused), RunTask, StopTask
 * and DeregisterTaskDefinition. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/sha.h>

#include "ecs.h"
#include "sockerless/container.h"
#include "sockerless/json.h"
#include "sockerless/log.h"
#include "sockerless/xmalloc.h"

/* One asynchronous ECS operation on a container. */
struct ecs_op {
	struct backend *b;
	struct container *c;
	backend_done_fn done;
	void *arg;
	int start; /* a start: its intent is journalled as StartToken */
	struct ecs_op *next; /* creates waiting for one registration */
};

static struct ecs_op *
ecs_op_new(
    struct backend *b, struct container *c, backend_done_fn done, void *arg)
{
	struct ecs_op *op = xcalloc(1, sizeof(*op));

	op->b = b;
	op->c = c;
	op->done = done;
	op->arg = arg;
	container_ref(c);
	return op;
}

/* Reports the result and frees op. */
static void
ecs_op_end(struct ecs_op *op, const struct err *e)
{
	/* The start is settled: the caller saves the container next. */
	if (op->start)
		cJSON_DeleteItemFromObjectCaseSensitive(
		    container_private(op->c), "StartToken");
	op->done(op->arg, e);
	container_unref(op->c);
	free(op);
}

/* Turns an AWS failure into the error the Docker client sees. */
static void
ecs_op_fail(struct ecs_op *op, const struct aws_error *ae, const char *what)
{
	struct err e;

	aws_error_to_err(ae, &e);
	err_wrap(&e, "%s", what);
	ecs_op_end(op, &e);
}

/* --- sizes -------------------------------------------------------------- */

int
ecs_task_size(long long nano_cpus, long long memory_bytes, int *cpu, int *mem,
    struct err *e)
{
	/* Fargate's valid pairs: memory from lo to hi in steps, per cpu. */
	static const struct {
		int cpu, lo, hi, step;
	} sizes[] = { { 256, 512, 2048, 512 }, { 512, 1024, 4096, 1024 },
		{ 1024, 2048, 8192, 1024 }, { 2048, 4096, 16384, 1024 },
		{ 4096, 8192, 30720, 1024 }, { 8192, 16384, 61440, 4096 },
		{ 16384, 32768, 122880, 8192 } };
	long long want_cpu = nano_cpus > 0 ?
	    (nano_cpus * 1024 + 999999999) / 1000000000 :
	    ecs_conf.default_cpu;
	long long want_mem = memory_bytes > 0 ?
	    (memory_bytes + 1048575) / 1048576 :
	    ecs_conf.default_memory;

	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		if (sizes[i].cpu < want_cpu || sizes[i].hi < want_mem)
			continue;
		*cpu = sizes[i].cpu;
		*mem = sizes[i].lo;
		while (*mem < want_mem)
			*mem += sizes[i].step;
		/* 256 CPU units allow 512 MiB, then whole GiB steps. */
		if (sizes[i].cpu == 256 && *mem > 512 && *mem % 1024 != 0)
			*mem += 512;
		return 0;
	}
	return err_set(e, 400,
	    "no Fargate task size fits %lld CPU units and "
	    "%lld MiB (largest: 16 vCPU, 120 GiB)",
	    want_cpu, want_mem);
}

/* --- the task definition ------------------------------------------------ */

/* ECS's environment form of "K=V" strings, appended to out. */
static cJSON *
ecs_task_env(cJSON *out, const cJSON *kvs)
{
	cJSON *it;

	cJSON_ArrayForEach(it, kvs) {
		const char *eq;
		char *name;
		cJSON *kv;
		if (!cJSON_IsString(it) ||
		    (eq = strchr(it->valuestring, '=')) == NULL)
			continue;
		kv = cJSON_CreateObject();
		name =
		    xstrndup(it->valuestring, (size_t)(eq - it->valuestring));
		json_add_str(kv, "name", name);
		free(name);
		json_add_str(kv, "value", eq + 1);
		cJSON_AddItemToArray(out, kv);
	}
	return out;
}

static cJSON *
ecs_task_ports(const cJSON *cfg, const cJSON *hc, int agent)
{
	cJSON *out = cJSON_CreateArray(), *it, *extra = cJSON_CreateObject();
	const cJSON *sets[3] = { json_obj(cfg, "ExposedPorts"),
		json_obj(hc, "PortBindings"), extra };
	struct strv seen;
	char port[16];

	/* The agent's link port (forward mode, docs/agent-link.md). */
	snprintf(port, sizeof(port), "%d/tcp", ECS_AGENT_PORT);
	if (agent)
		cJSON_AddItemToObject(extra, port, cJSON_CreateObject());
	strv_init(&seen);
	for (int i = 0; i < 3; i++) {
		cJSON_ArrayForEach(it, sets[i]) {
			const char *proto;
			cJSON *pm;
			int no;
			/* Create refused bad keys; an image's may be junk. */
			if (container_port_parse(it->string, &no, &proto) ==
				-1 ||
			    strv_contains(&seen, it->string))
				continue;
			strv_add(&seen, it->string);
			pm = cJSON_CreateObject();
			json_add_int(pm, "containerPort", no);
			json_add_str(pm, "protocol",
			    strcmp(proto, "udp") == 0 ? "udp" : "tcp");
			cJSON_AddItemToArray(out, pm);
		}
	}
	strv_free(&seen);
	cJSON_Delete(extra);
	return out;
}

/* Tag keys and values as ECS accepts them; "aws:" is reserved. */
static int
ecs_tag_ok(const char *k, const char *v)
{
	return k[0] != '\0' && strlen(k) <= 128 && strlen(v) <= 256 &&
	    strncasecmp(k, "aws:", 4) != 0;
}

static cJSON *
ecs_task_label_tags(const cJSON *labels, int max)
{
	cJSON *tags = cJSON_CreateArray(), *it;

	cJSON_ArrayForEach(it, labels) {
		cJSON *t;
		if (!cJSON_IsString(it) ||
		    !ecs_tag_ok(it->string, it->valuestring))
			continue;
		if (cJSON_GetArraySize(tags) >= max) {
			log_warnx("more than %d labels: the rest are not "
				  "copied to ECS tags",
			    max);
			break;
		}
		t = cJSON_CreateObject();
		json_add_str(t, "key", it->string);
		json_add_str(t, "value", it->valuestring);
		cJSON_AddItemToArray(tags, t);
	}
	return tags;
}

static cJSON *
ecs_task_log_config(void)
{
	cJSON *log = cJSON_CreateObject(), *opts = cJSON_CreateObject();

	json_add_str(log, "logDriver", "awslogs");
	json_add_str(opts, "awslogs-group", ecs_conf.log_group);
	json_add_str(opts, "awslogs-region", ecs_conf.region);
	json_add_str(opts, "awslogs-stream-prefix", ECS_STREAM_PREFIX);
	cJSON_AddItemToObject(log, "options", opts);
	return log;
}

static cJSON *
ecs_task_mount(int read_only)
{
	cJSON *mps = cJSON_CreateArray(), *mp = cJSON_CreateObject();

	json_add_str(mp, "sourceVolume", ECS_AGENT_VOLUME);
	json_add_str(mp, "containerPath", "/sockerless");
	if (read_only)
		json_add_bool(mp, "readOnly", 1);
	cJSON_AddItemToArray(mps, mp);
	return mps;
}

/* The init container: copies the static agent into the task volume and
 * exits; the main container waits for it to complete. */
static cJSON *
ecs_task_agent_init_def(void)
{
	cJSON *d = cJSON_CreateObject();

	json_add_str(d, "name", ECS_AGENT_INIT);
	json_add_str(d, "image", ecs_conf.agent_image);
	json_add_bool(d, "essential", 0);
	cJSON_AddItemToObject(d, "entryPoint",
	    cJSON_CreateStringArray((const char *[]){ "/sockerless-agent",
					"--install", "/sockerless/agent" },
		3));
	cJSON_AddItemToObject(d, "mountPoints", ecs_task_mount(0));
	cJSON_AddItemToObject(d, "logConfiguration", ecs_task_log_config());
	return d;
}

/* The main container runs the agent as PID 1 around the image's (or the
 * user's) command; the agent provides the TTY and stdin itself, and the
 * per-run part of its environment comes with RunTask. */
static int
ecs_task_agent_wrap(const struct container *c, cJSON *d, struct err *e)
{
	cJSON *cmd = backend_agent_command(c), *dep, *deps;

	if (cmd == NULL || cJSON_GetArraySize(cmd) == 0) {
		cJSON_Delete(cmd);
		return err_set(e, 400, "no command specified");
	}
	cJSON_AddItemToObject(d, "entryPoint",
	    cJSON_CreateStringArray(
		(const char *[]){ "/sockerless/agent", "--" }, 2));
	cJSON_AddItemToObject(d, "command", cmd);
	cJSON_AddItemToObject(d, "mountPoints", ecs_task_mount(1));
	deps = cJSON_CreateArray();
	dep = cJSON_CreateObject();
	json_add_str(dep, "containerName", ECS_AGENT_INIT);
	json_add_str(dep, "condition", "COMPLETE");
	cJSON_AddItemToArray(deps, dep);
	cJSON_AddItemToObject(d, "dependsOn", deps);
	return 0;
}

static cJSON *
ecs_task_container_def(struct container *c, int agent, struct err *e)
{
	const cJSON *cfg = container_config(c), *hc = container_host_config(c);
	const cJSON *labels = json_obj(cfg, "Labels");
	cJSON *d = cJSON_CreateObject(), *env;
	const char *s;
	int64_t stop = json_int(cfg, "StopTimeout", ecs_conf.stop_timeout);

	json_add_str(d, "name", ECS_CONTAINER_NAME);
	json_add_str(d, "image", container_image_ref(c));
	json_add_bool(d, "essential", 1);
	if (agent) {
		if (ecs_task_agent_wrap(c, d, e) == -1) {
			cJSON_Delete(d);
			return NULL;
		}
	} else {
		if (json_arr(cfg, "Entrypoint") != NULL &&
		    cJSON_GetArraySize(json_arr(cfg, "Entrypoint")) > 0)
			cJSON_AddItemToObject(d, "entryPoint",
			    cJSON_Duplicate(json_arr(cfg, "Entrypoint"), 1));
		if (json_arr(cfg, "Cmd") != NULL)
			cJSON_AddItemToObject(d, "command",
			    cJSON_Duplicate(json_arr(cfg, "Cmd"), 1));
	}
	env = ecs_task_env(cJSON_CreateArray(), json_arr(cfg, "Env"));
	if (agent) {
		cJSON *fixed = backend_agent_config_env(c);
		ecs_task_env(env, fixed);
		cJSON_Delete(fixed);
	}
	cJSON_AddItemToObject(d, "environment", env);
	if ((s = json_str(cfg, "WorkingDir")) != NULL && s[0] != '\0')
		json_add_str(d, "workingDirectory", s);
	if ((s = json_str(cfg, "User")) != NULL && s[0] != '\0')
		json_add_str(d, "user", s);
	json_add_int(d, "stopTimeout", stop < 2 ? 2 : stop > 120 ? 120 : stop);
	json_add_bool(
	    d, "interactive", !agent && json_bool(cfg, "OpenStdin", 0));
	json_add_bool(d, "pseudoTerminal", !agent && json_bool(cfg, "Tty", 0));
	if (labels != NULL && cJSON_GetArraySize(labels) > 0)
		cJSON_AddItemToObject(
		    d, "dockerLabels", cJSON_Duplicate(labels, 1));
	cJSON_AddItemToObject(
	    d, "portMappings", ecs_task_ports(cfg, hc, agent));
	cJSON_AddItemToObject(d, "logConfiguration", ecs_task_log_config());
	return d;
}

/* The RegisterTaskDefinition input minus its family, and the hash of it
 * that names the family, so identical containers share one definition. */
static cJSON *
ecs_task_definition(
    struct container *c, int agent, char hash[25], struct err *e)
{
	const cJSON *hc = container_host_config(c);
	cJSON *td = cJSON_CreateObject(), *defs, *rp, *ctr, *vols, *vol;
	unsigned char md[SHA256_DIGEST_LENGTH];
	char hex[2 * SHA256_DIGEST_LENGTH + 1], num[16], *canon;
	int cpu, mem;

	if (ecs_task_size(json_int(hc, "NanoCpus", 0),
		json_int(hc, "Memory", 0), &cpu, &mem, e) == -1) {
		cJSON_Delete(td);
		return NULL;
	}
	cJSON_AddItemToObject(td, "requiresCompatibilities",
	    cJSON_CreateStringArray((const char *[]){ "FARGATE" }, 1));
	json_add_str(td, "networkMode", "awsvpc");
	snprintf(num, sizeof(num), "%d", cpu);
	json_add_str(td, "cpu", num);
	snprintf(num, sizeof(num), "%d", mem);
	json_add_str(td, "memory", num);
	json_add_str(td, "executionRoleArn", ecs_conf.execution_role_arn);
	if (ecs_conf.task_role_arn != NULL && ecs_conf.task_role_arn[0])
		json_add_str(td, "taskRoleArn", ecs_conf.task_role_arn);
	rp = cJSON_CreateObject();
	json_add_str(rp, "operatingSystemFamily", "LINUX");
	json_add_str(rp, "cpuArchitecture", "X86_64");
	cJSON_AddItemToObject(td, "runtimePlatform", rp);
	if ((ctr = ecs_task_container_def(c, agent, e)) == NULL) {
		cJSON_Delete(td);
		return NULL;
	}
	defs = cJSON_CreateArray();
	cJSON_AddItemToArray(defs, ctr);
	if (agent) {
		cJSON_AddItemToArray(defs, ecs_task_agent_init_def());
		/* No host path: Fargate's task-scoped ephemeral volume. */
		vols = cJSON_CreateArray();
		vol = cJSON_CreateObject();
		json_add_str(vol, "name", ECS_AGENT_VOLUME);
		cJSON_AddItemToArray(vols, vol);
		cJSON_AddItemToObject(td, "volumes", vols);
	}
	cJSON_AddItemToObject(td, "containerDefinitions", defs);
	cJSON_AddItemToObject(td, "tags",
	    ecs_task_label_tags(json_obj(container_config(c), "Labels"), 48));
	canon = json_print(td);
	SHA256((const unsigned char *)canon, strlen(canon), md);
	free(canon);
	str_hex(hex, md, sizeof(md));
	memcpy(hash, hex, 24);
	hash[24] = '\0';
	return td;
}

static cJSON *ecs_task_tag(const char *k, const char *v);

/* --- journal ------------------------------------------------------------ */

/* A JSON object kept in one kv entry: the journal of registrations in
 * flight and the definitions waiting out ecs.taskdef_idle. */
cJSON *
ecs_journal_load(struct backend *b, const char *key)
{
	char *v = backend_kv_get(b, key);
	cJSON *o = v != NULL ? cJSON_Parse(v) : NULL;

	free(v);
	if (!cJSON_IsObject(o)) {
		cJSON_Delete(o);
		o = cJSON_CreateObject();
	}
	return o;
}

/* Sets (value taken) or, with NULL, deletes one member, durably. */
void
ecs_journal_put(
    struct backend *b, const char *key, const char *name, cJSON *value)
{
	cJSON *o = ecs_journal_load(b, key);
	char *text;

	cJSON_DeleteItemFromObjectCaseSensitive(o, name);
	if (value != NULL)
		cJSON_AddItemToObject(o, name, value);
	if (cJSON_GetArraySize(o) == 0) {
		backend_kv_del(b, key);
	} else {
		text = json_print(o);
		backend_kv_set(b, key, text);
		free(text);
	}
	cJSON_Delete(o);
}

/* Registrations in flight, one per definition hash: identical creates
 * that come while one is registering wait for its answer instead of
 * registering a revision each. */
struct ecs_td_reg {
	struct backend *b;
	char *hash;
	struct ecs_op *waiters;
	struct ecs_td_reg *next;
};
static struct ecs_td_reg *ecs_td_regs;

int
ecs_task_registering(const char *hash)
{
	for (struct ecs_td_reg *r = ecs_td_regs; r != NULL; r = r->next)
		if (strcmp(r->hash, hash) == 0)
			return 1;
	return 0;
}

static void
ecs_task_use_def(struct container *c, const char *arn, const char *hash)
{
	json_set(
	    container_private(c), "TaskDefinitionArn", cJSON_CreateString(arn));
	json_set(container_private(c), "TaskDefinitionHash",
	    cJSON_CreateString(hash));
}

static void
ecs_task_registered(void *arg, const cJSON *out, const struct aws_error *ae)
{
	struct ecs_td_reg *reg = arg, **pp;
	struct ecs_op *op, *next;
	const char *tdarn = NULL;
	char *key;
	struct err e;

	for (pp = &ecs_td_regs; *pp != reg; pp = &(*pp)->next)
		;
	*pp = reg->next;
	if (ae == NULL)
		tdarn = json_str(
		    json_obj(out, "taskDefinition"), "taskDefinitionArn");
	if (tdarn != NULL) {
		key = xasprintf("ecs.taskdef.%s", reg->hash);
		backend_kv_set(reg->b, key, tdarn);
		free(key);
	}
	/* Resolved: known by the kv entry, or never made. A lost answer
	 * stays journalled for the next start-up to look up. */
	if (ae == NULL || ae->http_status != 0)
		ecs_journal_put(reg->b, "ecs.taskdef_journal", reg->hash, NULL);
	if (ae != NULL) {
		aws_error_to_err(ae, &e);
		err_wrap(&e, "registering the ECS task definition");
	} else if (tdarn == NULL)
		err_set(&e, 502, "RegisterTaskDefinition returned no ARN");
	for (op = reg->waiters; op != NULL; op = next) {
		next = op->next;
		if (tdarn != NULL)
			ecs_task_use_def(op->c, tdarn, reg->hash);
		ecs_op_end(op, tdarn != NULL ? NULL : &e);
	}
	free(reg->hash);
	free(reg);
}

void
ecs_task_create(
    struct backend *b, struct container *c, backend_done_fn done, void *arg)
{
	struct ecs_op *op = ecs_op_new(b, c, done, arg);
	char hash[25], *key, *arn, *family;
	struct ecs_td_reg *reg;
	cJSON *td, *jr;
	struct err e;

	/* Recorded so that later runs and the log reader know how the
	 * definition was made, whatever the configuration says by then. */
	if (ecs_conf.agent)
		json_set(container_private(c), "Agent", cJSON_CreateTrue());
	if ((td = ecs_task_definition(c, ecs_conf.agent, hash, &e)) == NULL) {
		ecs_op_end(op, &e);
		return;
	}
	key = xasprintf("ecs.taskdef.%s", hash);
	arn = backend_kv_get(b, key);
	free(key);
	if (arn != NULL) {
		/* An identical definition is registered already: reuse it. */
		ecs_task_use_def(c, arn, hash);
		free(arn);
		cJSON_Delete(td);
		ecs_op_end(op, NULL);
		return;
	}
	for (reg = ecs_td_regs; reg != NULL; reg = reg->next)
		if (strcmp(reg->hash, hash) == 0) {
			op->next = reg->waiters;
			reg->waiters = op;
			cJSON_Delete(td);
			return;
		}
	reg = xcalloc(1, sizeof(*reg));
	reg->b = b;
	reg->hash = xstrdup(hash);
	reg->waiters = op;
	reg->next = ecs_td_regs;
	ecs_td_regs = reg;
	family = xasprintf("sockerless-%s", hash);
	/* Intent first: a restart finds the family and what it holds. */
	jr = cJSON_CreateObject();
	json_add_str(jr, "family", family);
	json_add_int(jr, "at", str_now_ns());
	ecs_journal_put(b, "ecs.taskdef_journal", hash, jr);
	json_add_str(td, "family", family);
	free(family);
	/* Found by their tags too (docs/backend-ecs.md). */
	cJSON_AddItemToArray(json_arr(td, "tags"),
	    ecs_task_tag(ECS_TAG_INSTANCE, backend_instance(b)));
	aws_json_call(ecs.aws, "ecs", "RegisterTaskDefinition", td,
	    ecs_task_registered, reg);
}

/* --- run ---------------------------------------------------------------- */

static cJSON *
ecs_task_tag(const char *k, const char *v)
{
	cJSON *t = cJSON_CreateObject();

	json_add_str(t, "key", k);
	json_add_str(t, "value", v);
	return t;
}

/* Maps the container definition's start failure to the exit code Docker
 * gives for the same cause. */
static void
ecs_task_ran(void *arg, const cJSON *out, const struct aws_error *ae)
{
	struct ecs_op *op = arg;
	const cJSON *task = cJSON_GetArrayItem(json_arr(out, "tasks"), 0);
	const cJSON *fail = cJSON_GetArrayItem(json_arr(out, "failures"), 0);
	cJSON *priv, *runs, *run;
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
		ecs_op_end(op, &e);
		return;
	}
	priv = container_private(op->c);
	json_set(priv, "TaskArn", cJSON_CreateString(arn));
	cJSON_DeleteItemFromObjectCaseSensitive(priv, "TaskStarted");
	/* A new task has a new address (and agent). */
	cJSON_DeleteItemFromObjectCaseSensitive(priv, "Ip");
	if ((runs = json_arr(priv, "Tasks")) == NULL) {
		runs = cJSON_CreateArray();
		json_set(priv, "Tasks", runs);
	}
	run = cJSON_CreateObject();
	json_add_str(run, "Arn", arn);
	json_add_int(run, "Created", str_now_ns());
	cJSON_AddItemToArray(runs, run);
	/* Durable at once: a restart before RUNNING finds the task. */
	backend_container_save(op->b, op->c);
	log_info("container %.12s: task %s", op->c->id, arn);
	/* Docker's start returns once the process runs: the poller settles
	 * the start when the task reaches RUNNING (or fails to). */
	op->c->backend_data = op;
	ecs_poll_kick();
}

int
ecs_task_start_pending(const struct container *c)
{
	return c->backend_data != NULL;
}

void
ecs_task_start_settle(struct container *c, const struct err *e)
{
	struct ecs_op *op = c->backend_data;

	if (op == NULL)
		return;
	c->backend_data = NULL;
	ecs_op_end(op, e);
}

/* The task of a start that a restart cut short, found by its ARN or its
 * tags: the container runs it, and the poller reports its end. */
void
ecs_task_adopt(struct backend *b, struct container *c, const char *task_arn)
{
	cJSON *priv = container_private(c), *runs, *run;
	int n = (int)json_int(priv, "StartRun", 0);
	char *arn = xstrdup(task_arn); /* task_arn may be priv's own */

	if ((runs = json_arr(priv, "Tasks")) == NULL) {
		runs = cJSON_CreateArray();
		json_set(priv, "Tasks", runs);
	}
	if (cJSON_GetArraySize(runs) <= n) {
		run = cJSON_CreateObject();
		json_add_str(run, "Arn", arn);
		json_add_int(run, "Created", str_now_ns());
		cJSON_AddItemToArray(runs, run);
	}
	json_set(priv, "TaskArn", cJSON_CreateString(arn));
	cJSON_DeleteItemFromObjectCaseSensitive(priv, "TaskStarted");
	cJSON_DeleteItemFromObjectCaseSensitive(priv, "Ip");
	cJSON_DeleteItemFromObjectCaseSensitive(priv, "StartToken");
	log_warnx("container %.12s: re-adopted task %s of a start the "
		  "restart interrupted",
	    c->id, arn);
	backend_container_adopted(b, c, str_now_ns());
	ecs_poll_kick();
	free(arn);
}

/* The ARN RunTask answered for the start in flight, if it answered. */
const char *
ecs_task_start_arn(struct container *c)
{
	const cJSON *priv = container_private(c);
	int n = (int)json_int(priv, "StartRun", 0);

	if (cJSON_GetArraySize(json_arr(priv, "Tasks")) <= n)
		return NULL;
	return json_str(priv, "TaskArn");
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
	    ctr, "environment", ecs_task_env(cJSON_CreateArray(), run));
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

void
ecs_task_start(
    struct backend *b, struct container *c, backend_done_fn done, void *arg)
{
	struct ecs_op *op = ecs_op_new(b, c, done, arg);
	const char *tdarn = json_str(container_private(c), "TaskDefinitionArn");
	cJSON *in, *net, *vpc, *tags, *ov = NULL;
	char token[65];
	int runs = cJSON_GetArraySize(json_arr(container_private(c), "Tasks"));
	struct err e;

	if (tdarn == NULL) {
		err_set(&e, 500,
		    "container %.12s has no task definition; "
		    "remove and create it again",
		    c->id);
		ecs_op_end(op, &e);
		return;
	}
	if (json_bool(container_private(c), "Agent", 0) &&
	    (ov = ecs_task_overrides(b, c, &e)) == NULL) {
		ecs_op_end(op, &e);
		return;
	}
	in = cJSON_CreateObject();
	json_add_str(in, "cluster", ecs_conf.cluster);
	json_add_str(in, "taskDefinition", tdarn);
	json_add_str(in, "launchType", "FARGATE");
	json_add_int(in, "count", 1);
	net = cJSON_CreateObject();
	vpc = cJSON_CreateObject();
	cJSON_AddItemToObject(
	    vpc, "subnets", json_strv_to_array(&ecs_conf.subnets));
	cJSON_AddItemToObject(vpc, "securityGroups",
	    json_strv_to_array(&ecs_conf.security_groups));
	json_add_str(vpc, "assignPublicIp",
	    ecs_conf.assign_public_ip ? "ENABLED" : "DISABLED");
	cJSON_AddItemToObject(net, "awsvpcConfiguration", vpc);
	cJSON_AddItemToObject(in, "networkConfiguration", net);
	json_add_str(in, "startedBy", ECS_STARTED_BY);
	if (ov != NULL)
		cJSON_AddItemToObject(in, "overrides", ov);
	tags = ecs_task_label_tags(json_obj(container_config(c), "Labels"), 48);
	cJSON_AddItemToArray(tags, ecs_task_tag(ECS_TAG_ID, c->id));
	cJSON_AddItemToArray(
	    tags, ecs_task_tag(ECS_TAG_INSTANCE, backend_instance(b)));
	cJSON_AddItemToObject(in, "tags", tags);
	/* The same start retried is the same task, never a second one. */
	snprintf(token, sizeof(token), "%.48s-%d", c->id, runs);
	json_add_str(in, "clientToken", token);
	/* Intent first: a restart before the answer looks the task up by
	 * its tags (ecs_poll_reconcile). */
	op->start = 1;
	json_set(container_private(c), "StartToken", cJSON_CreateString(token));
	json_set(container_private(c), "StartRun", cJSON_CreateNumber(runs));
	backend_container_save(b, c);
	aws_json_call(ecs.aws, "ecs", "RunTask", in, ecs_task_ran, op);
}

/* Forward mode: the agent listens on the task's own address (awsvpc). A
 * start still waiting for RUNNING counts: a held main process waits for
 * the agent's "start". */
int
ecs_task_agent_address(struct backend *b, struct container *c, char *host,
    size_t hostsz, int *port)
{
	const cJSON *priv = container_private(c);
	const char *ip = json_str(priv, "Ip");

	(void)b;
	if (!json_bool(priv, "Agent", 0) || ip == NULL ||
	    json_str(priv, "TaskArn") == NULL ||
	    !(container_running(c) || ecs_task_start_pending(c)))
		return -1;
	if (snprintf(host, hostsz, "%s", ip) >= (int)hostsz)
		return -1;
	*port = ECS_AGENT_PORT;
	return 0;
}

/* --- stop, kill --------------------------------------------------------- */

static void
ecs_task_stopped(void *arg, const cJSON *out, const struct aws_error *ae)
{
	struct ecs_op *op = arg;

	(void)out;
	if (ae != NULL && strcmp(ae->code, "InvalidParameterException") != 0) {
		ecs_op_fail(op, ae, "stopping the ECS task");
		return;
	}
	ecs_op_end(op, NULL);
	ecs_poll_kick();
}

static void
ecs_task_stop_task(struct backend *b, struct container *c, const char *reason,
    backend_done_fn done, void *arg)
{
	struct ecs_op *op = ecs_op_new(b, c, done, arg);
	const char *arn = json_str(container_private(c), "TaskArn");
	cJSON *in;

	if (arn == NULL) {
		ecs_op_end(op, NULL);
		return;
	}
	in = cJSON_CreateObject();
	json_add_str(in, "cluster", ecs_conf.cluster);
	json_add_str(in, "task", arn);
	json_add_str(in, "reason", reason);
	aws_json_call(ecs.aws, "ecs", "StopTask", in, ecs_task_stopped, op);
}

/* ECS stops a task with the image's stop signal (SIGTERM by default) and
 * SIGKILL after the definition's stopTimeout; it takes no per-call
 * timeout, so docker stop -t is bounded by ecs.stop_timeout. */
void
ecs_task_stop(struct backend *b, struct container *c, int timeout_s,
    backend_done_fn done, void *arg)
{
	(void)timeout_s;
	ecs_task_stop_task(
	    b, c, "Stopped by docker stop (sockerless)", done, arg);
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
ecs_task_ignore(void *arg, const struct err *e)
{
	(void)arg;
	if (e != NULL)
		log_warnx("stopping a removed container's task: %s", e->msg);
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
		    op->c->id, ae->code, ae->message);
	ecs_op_end(op, NULL);
}

struct ecs_td_use {
	const char *arn;
	const struct container *self;
	int used;
};

static void
ecs_task_td_used(struct backend *b, struct container *c, void *arg)
{
	struct ecs_td_use *u = arg;
	const char *arn =
	    json_str(json_obj(c->doc, "Sockerless"), "TaskDefinitionArn");

	(void)b;
	if (c != u->self && arn != NULL && strcmp(arn, u->arn) == 0)
		u->used = 1;
}

/* Definitions no container uses, waiting out ecs.taskdef_idle so that a
 * series of identical runs reuses one revision. Each wait is recorded in
 * the store (kv ecs.taskdef_idle) and resumed after a restart. */
struct ecs_td_idle {
	char *arn, *hash;
	struct event *ev;
	struct ecs_td_idle *next;
};
static struct ecs_td_idle *ecs_td_idle_list;

static void
ecs_task_idle_drop(struct ecs_td_idle *t)
{
	struct ecs_td_idle **pp;

	for (pp = &ecs_td_idle_list; *pp != NULL; pp = &(*pp)->next)
		if (*pp == t) {
			*pp = t->next;
			break;
		}
	event_free(t->ev);
	free(t->arn);
	free(t->hash);
	free(t);
}

void
ecs_task_idle_free(void)
{
	while (ecs_td_idle_list != NULL)
		ecs_task_idle_drop(ecs_td_idle_list);
}

static void
ecs_task_idle_deregistered(
    void *arg, const cJSON *out, const struct aws_error *ae)
{
	(void)arg;
	(void)out;
	if (ae != NULL)
		log_warnx("deregistering an unused task definition: %s: %s",
		    ae->code, ae->message);
}

static void ecs_task_td_used(struct backend *b, struct container *c, void *arg);

static void
ecs_task_deregister(struct backend *b, const char *arn, const char *hash,
    aws_json_cb cb, void *arg)
{
	cJSON *in;
	char *key;

	if (hash != NULL) {
		key = xasprintf("ecs.taskdef.%s", hash);
		backend_kv_del(b, key);
		free(key);
	}
	in = cJSON_CreateObject();
	json_add_str(in, "taskDefinition", arn);
	aws_json_call(ecs.aws, "ecs", "DeregisterTaskDefinition", in, cb, arg);
}

static void
ecs_task_idle_expired(evutil_socket_t fd, short what, void *arg)
{
	struct ecs_td_idle *t = arg;
	struct ecs_td_use u = { t->arn, NULL, 0 };

	(void)fd;
	(void)what;
	backend_container_foreach(ecs.b, ecs_task_td_used, &u);
	if (!u.used)
		ecs_task_deregister(
		    ecs.b, t->arn, t->hash, ecs_task_idle_deregistered, NULL);
	ecs_journal_put(ecs.b, "ecs.taskdef_idle", t->arn, NULL);
	ecs_task_idle_drop(t);
}

/* Waits delay_s more, then deregisters arn unless a container uses it. */
static void
ecs_task_idle_wait(
    struct backend *b, const char *arn, const char *hash, long long delay_s)
{
	struct ecs_td_idle *t;
	struct timeval tv = { (time_t)(delay_s > 0 ? delay_s : 0), 0 };

	for (t = ecs_td_idle_list; t != NULL; t = t->next)
		if (strcmp(t->arn, arn) == 0) {
			evtimer_add(t->ev, &tv); /* restarts the wait */
			return;
		}
	t = xcalloc(1, sizeof(*t));
	t->arn = xstrdup(arn);
	t->hash = hash != NULL ? xstrdup(hash) : NULL;
	t->ev = evtimer_new(backend_base(b), ecs_task_idle_expired, t);
	t->next = ecs_td_idle_list;
	ecs_td_idle_list = t;
	evtimer_add(t->ev, &tv);
}

void
ecs_task_idle_add(struct backend *b, const char *arn, const char *hash)
{
	cJSON *rec = cJSON_CreateObject();

	if (hash != NULL)
		json_add_str(rec, "hash", hash);
	json_add_int(
	    rec, "until", str_now_ns() / 1000000000 + ecs_conf.taskdef_idle_s);
	ecs_journal_put(b, "ecs.taskdef_idle", arn, rec);
	ecs_task_idle_wait(b, arn, hash, ecs_conf.taskdef_idle_s);
}

/* Definitions this backend registered that no container uses and no wait
 * covers (left by a process that forgot its waits on restart): they
 * start waiting now. */
static void
ecs_task_idle_unused(struct backend *b, const cJSON *waits)
{
	struct strv keys, arns;
	const char *hash;

	strv_init(&keys);
	strv_init(&arns);
	backend_kv_list(b, "ecs.taskdef.", &keys, &arns);
	for (size_t i = 0; i < keys.n; i++) {
		struct ecs_td_use u = { arns.v[i], NULL, 0 };
		hash = keys.v[i] + strlen("ecs.taskdef.");
		if (cJSON_GetObjectItemCaseSensitive(waits, arns.v[i]) !=
			NULL ||
		    ecs_task_registering(hash))
			continue;
		backend_container_foreach(b, ecs_task_td_used, &u);
		if (u.used)
			continue;
		log_info("task definition %s is unused: deregistering it after "
			 "ecs.taskdef_idle",
		    arns.v[i]);
		ecs_task_idle_add(b, arns.v[i], hash);
	}
	strv_free(&keys);
	strv_free(&arns);
}

/* Start-up: the waits the previous process had not finished. */
void
ecs_task_idle_resume(struct backend *b)
{
	cJSON *o = ecs_journal_load(b, "ecs.taskdef_idle"), *it;
	long long now = str_now_ns() / 1000000000;

	cJSON_ArrayForEach(it, o) {
		ecs_task_idle_wait(b, it->string, json_str(it, "hash"),
		    json_int(it, "until", 0) - now);
	}
	if (cJSON_GetArraySize(o) > 0)
		log_info("resumed %d idle task definition waits",
		    cJSON_GetArraySize(o));
	ecs_task_idle_unused(b, o);
	cJSON_Delete(o);
}

void
ecs_task_remove(
    struct backend *b, struct container *c, backend_done_fn done, void *arg)
{
	struct ecs_op *op = ecs_op_new(b, c, done, arg);
	const cJSON *priv = container_private(c);
	const char *arn = json_str(priv, "TaskDefinitionArn");
	const char *hash = json_str(priv, "TaskDefinitionHash");
	struct ecs_td_use u = { arn, c, 0 };
	struct err e;

	/* Removed while its task was still starting (docker rm -f): the
	 * start fails and the task is stopped, never left running. */
	if (ecs_task_start_pending(c)) {
		err_set(&e, 409, "container %.12s was removed while it started",
		    c->id);
		ecs_task_start_settle(c, &e);
		ecs_task_stop_task(b, c, "Removed by docker rm -f (sockerless)",
		    ecs_task_ignore, NULL);
	}
	/* Removed while a restart's passes still look for its task. */
	if (json_str(priv, "StartToken") != NULL &&
	    ecs_task_start_arn(c) == NULL) {
		cJSON *at = cJSON_CreateObject();
		json_add_int(at, "at", str_now_ns());
		ecs_journal_put(b, ECS_ABANDONED, c->id, at);
	}
	if (arn == NULL) {
		ecs_op_end(op, NULL);
		return;
	}
	backend_container_foreach(b, ecs_task_td_used, &u);
	if (u.used) {
		ecs_op_end(op, NULL);
		return;
	}
	if (ecs_conf.taskdef_idle_s > 0) {
		ecs_task_idle_add(b, arn, hash);
		ecs_op_end(op, NULL);
		return;
	}
	ecs_task_deregister(b, arn, hash, ecs_task_deregistered, op);
}

/* --- the registration journal at start-up --------------------------------- */

#define ECS_JOURNAL_SETTLE_S 60

struct ecs_jr {
	struct backend *b;
	char *hash;
	int64_t at_ns;
};

/* The family of a registration the process did not see answered: the
 * newest revision becomes the hash's definition (released after
 * ecs.taskdef_idle unless used), any other is deregistered. */
static void
ecs_task_journal_listed(void *arg, const cJSON *out, const struct aws_error *ae)
{
	struct ecs_jr *jr = arg;
	const cJSON *it;
	char *key = xasprintf("ecs.taskdef.%s", jr->hash), *known;
	int found = 0;

	if (ae != NULL) {
		log_warnx("resolving the registration of sockerless-%s: %s: %s",
		    jr->hash, ae->code, ae->message);
		goto out;
	}
	if (ecs_task_registering(jr->hash))
		goto out; /* a new create owns the entry now */
	known = backend_kv_get(jr->b, key);
	cJSON_ArrayForEach(it, json_arr(out, "taskDefinitionArns")) {
		const char *arn = it->valuestring;
		struct ecs_td_use u = { arn, NULL, 0 };
		found = 1;
		if (!cJSON_IsString(it) ||
		    (known != NULL && strcmp(arn, known) == 0))
			continue;
		if (known == NULL) {
			known = xstrdup(arn);
			backend_kv_set(jr->b, key, arn);
			backend_container_foreach(jr->b, ecs_task_td_used, &u);
			log_info("adopted task definition %s registered before "
				 "a restart",
			    arn);
			if (!u.used)
				ecs_task_idle_add(jr->b, arn, jr->hash);
			continue;
		}
		backend_container_foreach(jr->b, ecs_task_td_used, &u);
		if (u.used)
			continue;
		log_info("deregistering duplicate task definition %s", arn);
		ecs_task_deregister(
		    jr->b, arn, NULL, ecs_task_idle_deregistered, NULL);
	}
	free(known);
	/* Nothing yet: the call may still be on its way to ECS. */
	if (found ||
	    str_now_ns() - jr->at_ns > ECS_JOURNAL_SETTLE_S * 1000000000LL)
		ecs_journal_put(jr->b, "ecs.taskdef_journal", jr->hash, NULL);
out:
	free(key);
	free(jr->hash);
	free(jr);
}

/* One pass over the journal; returns how many entries it looked up. */
int
ecs_task_journal_pass(struct backend *b)
{
	cJSON *o = ecs_journal_load(b, "ecs.taskdef_journal"), *it, *in;
	struct ecs_jr *jr;
	int n = 0;

	cJSON_ArrayForEach(it, o) {
		if (ecs_task_registering(it->string) ||
		    json_str(it, "family") == NULL)
			continue;
		jr = xcalloc(1, sizeof(*jr));
		jr->b = b;
		jr->hash = xstrdup(it->string);
		jr->at_ns = json_int(it, "at", 0);
		in = cJSON_CreateObject();
		json_add_str(in, "familyPrefix", json_str(it, "family"));
		json_add_str(in, "status", "ACTIVE");
		json_add_str(in, "sort", "DESC");
		aws_json_call(ecs.aws, "ecs", "ListTaskDefinitions", in,
		    ecs_task_journal_listed, jr);
		n++;
	}
	cJSON_Delete(o);
	return n;
}
