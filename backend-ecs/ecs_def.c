/* The task definition a container maps to: Fargate's size, the main
 * container (wrapped by the agent, or as it is), the agent's init
 * container and volume, the container's volumes (ecs_vol.c), the awslogs
 * configuration, and the hash that
 * names the family so that identical containers share one definition. */
#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "ecs.h"
#include "sockerless/container.h"
#include "sockerless/json.h"
#include "sockerless/log.h"
#include "sockerless/xmalloc.h"

/* --- sizes ---------------------------------------------------------------- */

/* Fargate sizes: the smallest valid (cpu units, memory MiB) pair that
 * covers what was asked for (0: not set). */
static int
ecs_def_size(long long nano_cpus, long long memory_bytes, int *cpu, int *mem,
    struct err *e)
{
	/* Fargate's valid pairs: memory from lo to hi in steps, per cpu. */
	static const struct {
		int cpu, lo, hi, step;
	} sizes[] = { { 256, 512, 2048, 512 }, { 512, 1024, 4096, 1024 },
		{ 1024, 2048, 8192, 1024 }, { 2048, 4096, 16384, 1024 },
		{ 4096, 8192, 30720, 1024 }, { 8192, 16384, 61440, 4096 },
		{ 16384, 32768, 122880, 8192 } };
	long long want_cpu =
	    nano_cpus > 0 ? kit_cpu_units(nano_cpus) : ecs_conf.default_cpu;
	long long want_mem = memory_bytes > 0 ? kit_mib_ceil(memory_bytes) :
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

static int
ecs_def_env_one(void *arg, const char *name, const char *value)
{
	cJSON *kv = cJSON_CreateObject();

	json_add_str(kv, "name", name);
	json_add_str(kv, "value", value);
	cJSON_AddItemToArray(arg, kv);
	return 0;
}

cJSON *
ecs_def_env(cJSON *out, const cJSON *kvs)
{
	kit_env_each(kvs, ecs_def_env_one, out);
	return out;
}

static void
ecs_def_port(void *arg, int port, const char *proto)
{
	cJSON *pm = cJSON_CreateObject();

	json_add_int(pm, "containerPort", port);
	json_add_str(pm, "protocol", proto);
	cJSON_AddItemToArray(arg, pm);
}

static cJSON *
ecs_def_log_config(void)
{
	cJSON *log = cJSON_CreateObject(), *opts = cJSON_CreateObject();

	json_add_str(log, "logDriver", "awslogs");
	json_add_str(opts, "awslogs-group", ecs_conf.log_group);
	json_add_str(opts, "awslogs-region", ecs_aws.region);
	json_add_str(opts, "awslogs-stream-prefix", ECS_STREAM_PREFIX);
	cJSON_AddItemToObject(log, "options", opts);
	return log;
}

static cJSON *
ecs_def_mount(int read_only)
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
ecs_def_agent_init_def(void)
{
	cJSON *d = cJSON_CreateObject();

	json_add_str(d, "name", ECS_AGENT_INIT);
	json_add_str(d, "image", ecs_conf.agent_image);
	json_add_bool(d, "essential", 0);
	cJSON_AddItemToObject(d, "entryPoint",
	    cJSON_CreateStringArray((const char *[]){ "/sockerless-agent",
					"--install", "/sockerless/agent" },
		3));
	cJSON_AddItemToObject(d, "mountPoints", ecs_def_mount(0));
	cJSON_AddItemToObject(d, "logConfiguration", ecs_def_log_config());
	return d;
}

/* The main container runs the agent as PID 1 around the image's (or the
 * user's) command; the agent provides the TTY and stdin itself, and the
 * per-run part of its environment comes with RunTask. */
static int
ecs_def_agent_wrap(const struct container *c, cJSON *d, struct err *e)
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
	cJSON_AddItemToObject(d, "mountPoints", ecs_def_mount(1));
	deps = cJSON_CreateArray();
	dep = cJSON_CreateObject();
	json_add_str(dep, "containerName", ECS_AGENT_INIT);
	json_add_str(dep, "condition", "COMPLETE");
	cJSON_AddItemToArray(deps, dep);
	cJSON_AddItemToObject(d, "dependsOn", deps);
	return 0;
}

/* --- Linux options (docs/backend-ecs.md "Linux options") ---------------- */

/* Docker's default capabilities: adding one is a no-op unless ALL was
 * dropped, dropping another is a no-op. */
static const char *const ecs_def_default_caps[] = { "CHOWN", "DAC_OVERRIDE",
	"FSETID", "FOWNER", "MKNOD", "NET_RAW", "SETGID", "SETUID", "SETFCAP",
	"SETPCAP", "NET_BIND_SERVICE", "SYS_CHROOT", "KILL", "AUDIT_WRITE",
	NULL };

/* The capability as ECS names it: upper case, no "CAP_" (the framework
 * has checked it is one). */
static void
ecs_def_cap_name(const char *in, char *out, size_t size)
{
	size_t i;

	if (in == NULL)
		in = "";
	if (strncasecmp(in, "CAP_", 4) == 0)
		in += 4;
	for (i = 0; in[i] != '\0' && i + 1 < size; i++)
		out[i] = (char)toupper((unsigned char)in[i]);
	out[i] = '\0';
}

static int
ecs_def_is_default(const char *cap)
{
	for (size_t i = 0; ecs_def_default_caps[i] != NULL; i++)
		if (strcmp(ecs_def_default_caps[i], cap) == 0)
			return 1;
	return 0;
}

static int
ecs_def_in(const cJSON *list, const char *cap)
{
	const cJSON *it;
	char n[32];

	cJSON_ArrayForEach(it, list) {
		ecs_def_cap_name(cJSON_GetStringValue(it), n, sizeof(n));
		if (strcmp(n, cap) == 0)
			return 1;
	}
	return 0;
}

/* CapAdd: Fargate adds SYS_PTRACE only; a default capability is added
 * back by dropping the others (--cap-drop ALL --cap-add CHOWN). */
static int
ecs_def_caps_add(const cJSON *add, cJSON *out, struct err *e)
{
	const cJSON *it;
	char n[32];

	cJSON_ArrayForEach(it, add) {
		ecs_def_cap_name(cJSON_GetStringValue(it), n, sizeof(n));
		if (strcmp(n, "SYS_PTRACE") == 0) {
			cJSON_AddItemToArray(out, cJSON_CreateString(n));
			continue;
		}
		/* A default: there already, or kept out of the drop list
		 * (drop_all; see ecs_def_caps). */
		if (ecs_def_is_default(n))
			continue;
		return err_set(e, 400,
		    "--cap-add %s cannot be honoured on ECS Fargate: Fargate "
		    "adds only SYS_PTRACE (and keeps Docker's default "
		    "capabilities). Run the container without --cap-add %s.",
		    n, n);
	}
	return 0;
}

/* linuxParameters.capabilities from CapAdd and CapDrop. */
static int
ecs_def_caps(const cJSON *hc, cJSON *d, struct err *e)
{
	const cJSON *add = json_arr(hc, "CapAdd"),
		    *drop = json_arr(hc, "CapDrop");
	int drop_all = ecs_def_in(drop, "ALL");
	cJSON *a = cJSON_CreateArray(), *dr = cJSON_CreateArray(), *caps, *lp;

	if (ecs_def_caps_add(add, a, e) == -1) {
		cJSON_Delete(a);
		cJSON_Delete(dr);
		return -1;
	}
	/* Only Docker's defaults can be dropped (others are not there);
	 * ALL is spelled out when some default is added back. */
	for (size_t i = 0; ecs_def_default_caps[i] != NULL; i++) {
		const char *n = ecs_def_default_caps[i];
		if ((drop_all || ecs_def_in(drop, n)) && !ecs_def_in(add, n))
			cJSON_AddItemToArray(dr, cJSON_CreateString(n));
	}
	if (drop_all &&
	    cJSON_GetArraySize(dr) ==
		(int)(sizeof(ecs_def_default_caps) / sizeof(char *) - 1)) {
		cJSON_Delete(dr);
		dr = cJSON_CreateStringArray((const char *[]){ "ALL" }, 1);
	}
	if (cJSON_GetArraySize(a) == 0 && cJSON_GetArraySize(dr) == 0) {
		cJSON_Delete(a);
		cJSON_Delete(dr);
		return 0;
	}
	caps = cJSON_CreateObject();
	cJSON_AddItemToObject(caps, "add", a);
	cJSON_AddItemToObject(caps, "drop", dr);
	lp = cJSON_CreateObject();
	cJSON_AddItemToObject(lp, "capabilities", caps);
	cJSON_AddItemToObject(d, "linuxParameters", lp);
	return 0;
}

/* Ulimits: Fargate sets nofile only (ECS's Ulimit, int32 limits). */
static int
ecs_def_ulimits(const cJSON *hc, cJSON *d, struct err *e)
{
	const cJSON *it;
	cJSON *out;

	if (cJSON_GetArraySize(json_arr(hc, "Ulimits")) == 0)
		return 0;
	out = cJSON_CreateArray();
	cJSON_ArrayForEach(it, json_arr(hc, "Ulimits")) {
		const char *name = json_str(it, "Name");
		int64_t soft = json_int(it, "Soft", 0);
		int64_t hard = json_int(it, "Hard", 0);
		cJSON *u;

		if (name == NULL || strcmp(name, "nofile") != 0 || soft < 0 ||
		    hard > INT32_MAX) {
			cJSON_Delete(out);
			return err_set(e, 400,
			    "--ulimit %s=%lld:%lld cannot be honoured on ECS "
			    "Fargate: Fargate sets only nofile, from 0 to "
			    "%d (the other limits are the operating "
			    "system's). Run the container without that "
			    "--ulimit.",
			    name != NULL ? name : "", (long long)soft,
			    (long long)hard, INT32_MAX);
		}
		u = cJSON_CreateObject();
		json_add_str(u, "name", name);
		json_add_int(u, "softLimit", soft);
		json_add_int(u, "hardLimit", hard);
		cJSON_AddItemToArray(out, u);
	}
	cJSON_AddItemToObject(d, "ulimits", out);
	return 0;
}

/* The option that makes the agent write /etc/hosts or /etc/resolv.conf
 * (Interface 2 of issue 13), or NULL. */
static const char *
ecs_def_name_files(const cJSON *hc)
{
	static const struct {
		const char *key, *flag;
	} opts[] = { { "ExtraHosts", "--add-host" }, { "Links", "--link" },
		{ "Dns", "--dns" }, { "DnsSearch", "--dns-search" },
		{ "DnsOptions", "--dns-option" } };
	const char *nm = json_str(hc, "NetworkMode");

	for (size_t i = 0; i < sizeof(opts) / sizeof(opts[0]); i++)
		if (cJSON_GetArraySize(json_arr(hc, opts[i].key)) > 0)
			return opts[i].flag;
	if (nm != NULL && nm[0] != '\0' && strcmp(nm, "default") != 0 &&
	    strcmp(nm, "bridge") != 0 && strcmp(nm, "none") != 0 &&
	    strcmp(nm, "host") != 0 && strncmp(nm, "container:", 10) != 0)
		return "a user-defined network";
	return NULL;
}

/* --read-only: readonlyRootFilesystem. As with dockerd's --read-only,
 * /etc/hosts, /etc/hostname and /etc/resolv.conf are read-only too, and
 * the agent cannot write the names it serves into them after the task
 * started, so the combination is refused. */
static int
ecs_def_read_only(const cJSON *hc, int agent, cJSON *d, struct err *e)
{
	const char *why;

	if (!json_bool(hc, "ReadonlyRootfs", 0))
		return 0;
	if (agent && (why = ecs_def_name_files(hc)) != NULL)
		return err_set(e, 400,
		    "--read-only cannot be combined with %s on ECS: the "
		    "task's /etc/hosts and /etc/resolv.conf are read-only "
		    "with it, and the agent writes the names of networks, "
		    "--link, --add-host and --dns there when the task "
		    "starts. Run the container without --read-only, or "
		    "without %s.",
		    why, why);
	json_add_bool(d, "readonlyRootFilesystem", 1);
	return 0;
}

/* --network none: every Fargate task has its own network interface
 * (awsvpc) with the configured groups' egress, and the agent link uses
 * it; a container "without a network" would have one, so it is refused. */
static int
ecs_def_network_none(const cJSON *hc, struct err *e)
{
	const char *nm = json_str(hc, "NetworkMode");

	if (nm == NULL || strcmp(nm, "none") != 0)
		return 0;
	return err_set(e, 501,
	    "This backend (ecs) cannot run a container with --network none: "
	    "every Fargate task has its own network interface (awsvpc), "
	    "which the sockerless agent's link uses. To keep a container "
	    "from other containers and the internet, run it alone on a "
	    "network made with `docker network create --internal` (see "
	    "docs/networks.md for what Internal gives on ECS).");
}

/* The Linux options the framework has checked the shape of: mapped where
 * Fargate has them, refused otherwise. */
static int
ecs_def_linux(const struct container *c, int agent, cJSON *d, struct err *e)
{
	const cJSON *hc = container_host_config(c);

	if (ecs_def_network_none(hc, e) == -1)
		return -1;
	if (ecs_def_read_only(hc, agent, d, e) == -1)
		return -1;
	if (ecs_def_caps(hc, d, e) == -1)
		return -1;
	return ecs_def_ulimits(hc, d, e);
}

/* Whether the agent's configuration names the user it runs the main
 * process as. */
static int
ecs_def_has_user(const cJSON *kvs)
{
	const cJSON *it;

	cJSON_ArrayForEach(it, kvs) {
		const char *kv = cJSON_GetStringValue(it);
		if (kv != NULL && str_prefix(kv, "SOCKERLESS_USER="))
			return 1;
	}
	return 0;
}

static cJSON *
ecs_def_container_def(struct container *c, int agent, struct err *e)
{
	const cJSON *cfg = container_config(c);
	const cJSON *labels = json_obj(cfg, "Labels");
	cJSON *d = cJSON_CreateObject(), *env, *ports;
	const char *s;
	int drops = 0;
	int64_t stop = json_int(cfg, "StopTimeout", ecs_conf.stop_timeout);

	json_add_str(d, "name", ECS_CONTAINER_NAME);
	json_add_str(d, "image", container_image_ref(c));
	if ((s = json_str(container_private(c), ECS_P_REG_SECRET)) != NULL) {
		cJSON *rc = cJSON_CreateObject();

		json_add_str(rc, "credentialsParameter", s);
		cJSON_AddItemToObject(d, "repositoryCredentials", rc);
	}
	json_add_bool(d, "essential", 1);
	if (agent) {
		if (ecs_def_agent_wrap(c, d, e) == -1) {
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
	env = ecs_def_env(cJSON_CreateArray(), json_arr(cfg, "Env"));
	if (agent) {
		cJSON *fixed = backend_agent_config_env(c);
		drops = ecs_def_has_user(fixed);
		ecs_def_env(env, fixed);
		cJSON_Delete(fixed);
	}
	cJSON_AddItemToObject(d, "environment", env);
	if ((s = json_str(cfg, "WorkingDir")) != NULL && s[0] != '\0')
		json_add_str(d, "workingDirectory", s);
	/* An agent that runs the main process as SOCKERLESS_USER starts as
	 * root, to write the name files and bind port 53 first (issue 13,
	 * Interface 2); otherwise ECS runs the whole container as the
	 * user. */
	if (drops)
		json_add_str(d, "user", "0");
	else if ((s = json_str(cfg, "User")) != NULL && s[0] != '\0')
		json_add_str(d, "user", s);
	if (ecs_def_linux(c, agent, d, e) == -1) {
		cJSON_Delete(d);
		return NULL;
	}
	json_add_int(d, "stopTimeout", kit_clamp(stop, 2, 120));
	json_add_bool(
	    d, "interactive", !agent && json_bool(cfg, "OpenStdin", 0));
	json_add_bool(d, "pseudoTerminal", !agent && json_bool(cfg, "Tty", 0));
	if (labels != NULL && cJSON_GetArraySize(labels) > 0)
		cJSON_AddItemToObject(
		    d, "dockerLabels", cJSON_Duplicate(labels, 1));
	ports = cJSON_CreateArray();
	kit_ports_each(c, agent ? ECS_AGENT_PORT : 0, ecs_def_port, ports);
	cJSON_AddItemToObject(d, "portMappings", ports);
	cJSON_AddItemToObject(d, "logConfiguration", ecs_def_log_config());
	return d;
}

cJSON *
ecs_def_build(struct backend *b, struct container *c, int agent, char hash[25],
    struct err *e)
{
	const cJSON *hc = container_host_config(c);
	cJSON *td = cJSON_CreateObject(), *defs, *rp, *ctr, *vols, *vol;
	char num[16], *canon;
	int cpu = 0, mem = 0;

	if (ecs_def_size(json_int(hc, "NanoCpus", 0), json_int(hc, "Memory", 0),
		&cpu, &mem, e) == -1) {
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
	if ((ctr = ecs_def_container_def(c, agent, e)) == NULL) {
		cJSON_Delete(td);
		return NULL;
	}
	defs = cJSON_CreateArray();
	cJSON_AddItemToArray(defs, ctr);
	if (agent) {
		cJSON_AddItemToArray(defs, ecs_def_agent_init_def());
		/* No host path: Fargate's task-scoped ephemeral volume. */
		vols = cJSON_CreateArray();
		vol = cJSON_CreateObject();
		json_add_str(vol, "name", ECS_AGENT_VOLUME);
		cJSON_AddItemToArray(vols, vol);
		cJSON_AddItemToObject(td, "volumes", vols);
	}
	cJSON_AddItemToObject(td, "containerDefinitions", defs);
	/* Volumes are part of the hash: different mounts, different
	 * definitions. */
	if (ecs_vol_def(b, c, agent, td, ctr, e) == -1) {
		cJSON_Delete(td);
		return NULL;
	}
	cJSON_AddItemToObject(td, "tags",
	    aws_tags_from_labels(json_obj(container_config(c), "Labels"), 48));
	canon = json_print(td);
	kit_hash(canon, hash, 24);
	free(canon);
	return td;
}
