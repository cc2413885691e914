/* The Container Apps job a container maps to, without state (unit-tested
 * in tests/unit/t_aca.c): the Consumption size for Docker's limits, the
 * job body (Manual trigger, one replica, no retries; an init container
 * copies sockerless-agent from the agent image into an EmptyDir the main
 * container runs it from), its name from a hash of it so that identical
 * configurations share one job, the execution template of one start (the
 * run's own environment), and the exit code an execution's status gives
 * when the agent never reported one. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aca.h"
#include "sockerless/json.h"
#include "sockerless/xmalloc.h"

/* --- sizes ---------------------------------------------------------------- */

int
aca_def_size(long long nano_cpus, long long memory_bytes, double *cpu,
    char *mem, size_t memsz, struct err *e)
{
	long long q_cpu = 0, q_mem = 0, q;

	/* Quarters of a vCPU, halves of a GiB: pair q is (q/4 vCPU, q/2
	 * GiB), q = 1..ACA_MAX_PAIR. */
	if (nano_cpus > 0)
		q_cpu = (nano_cpus + 249999999LL) / 250000000LL;
	if (memory_bytes > 0)
		q_mem = (memory_bytes + (512LL << 20) - 1) / (512LL << 20);
	q = q_cpu > q_mem ? q_cpu : q_mem;
	if (q == 0)
		q = ACA_DEFAULT_PAIR;
	if (q > ACA_MAX_PAIR)
		return err_set(e, 400,
		    "no Container Apps Consumption size fits %.2f vCPUs and "
		    "%lld MiB of memory (largest: 4 vCPUs with 8 GiB); lower "
		    "--cpus or --memory",
		    (double)nano_cpus / 1e9, kit_mib_ceil(memory_bytes));
	*cpu = (double)q / 4.0;
	snprintf(mem, memsz, "%gGi", (double)q / 2.0);
	return 0;
}

/* --- environment ---------------------------------------------------------- */

/* Container Apps' variable names: letters, digits, '_', '-' and '.', not
 * starting with a digit. */
static int
aca_def_env_name_ok(const char *n)
{
	if (n[0] == '\0' || (n[0] >= '0' && n[0] <= '9'))
		return 0;
	for (const char *p = n; *p != '\0'; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
			(*p >= '0' && *p <= '9') || *p == '_' || *p == '-' ||
			*p == '.'))
			return 0;
	return 1;
}

struct aca_def_env_arg {
	cJSON *out;
	struct err *e;
};

/* Docker lets a later K=V win; Container Apps wants a name once. */
static int
aca_def_env_one(void *arg, const char *name, const char *value)
{
	struct aca_def_env_arg *a = arg;
	cJSON *it;

	if (!aca_def_env_name_ok(name))
		return err_set(a->e, 400,
		    "the environment variable name \"%s\" cannot be given to "
		    "a Container Apps job (letters, digits, '_', '-' and '.', "
		    "not starting with a digit); rename it",
		    name);
	cJSON_ArrayForEach(it, a->out) {
		const char *n = json_str(it, "name");
		if (n != NULL && strcmp(n, name) == 0) {
			json_set(it, "value", cJSON_CreateString(value));
			return 0;
		}
	}
	it = cJSON_CreateObject();
	json_add_str(it, "name", name);
	json_add_str(it, "value", value);
	cJSON_AddItemToArray(a->out, it);
	return 0;
}

int
aca_def_env(cJSON *out, const cJSON *kvs, struct err *e)
{
	struct aca_def_env_arg a = { out, e };

	return kit_env_each(kvs, aca_def_env_one, &a);
}

/* --- tags ----------------------------------------------------------------- */

cJSON *
aca_def_tags(const struct strv *kvs, struct err *e)
{
	cJSON *labels = cJSON_CreateObject(), *t;
	const char *eq;
	char *k;

	for (size_t i = 0; kvs != NULL && i < kvs->n; i++) {
		eq = strchr(kvs->v[i], '=');
		if (eq == NULL || eq == kvs->v[i]) {
			err_set(e, 400,
			    "aca.tags: \"%s\" is not key=value; write tags as "
			    "team=ci",
			    kvs->v[i]);
			cJSON_Delete(labels);
			return NULL;
		}
		k = xstrndup(kvs->v[i], (size_t)(eq - kvs->v[i]));
		if (cJSON_GetObjectItemCaseSensitive(labels, k) == NULL)
			json_add_str(labels, k, eq + 1);
		free(k);
	}
	/* Azure's tag rules, as for Docker's labels. */
	t = azure_tags_from_docker(labels, ACA_EXTRA_TAGS);
	cJSON_Delete(labels);
	return t;
}

static cJSON *
aca_def_job_tags(const struct aca_def_in *in, const cJSON *cfg)
{
	cJSON *out = azure_tags_from_docker(
	    json_obj(cfg, "Labels"), ACA_MAX_TAGS - ACA_EXTRA_TAGS - 2);
	const cJSON *it;

	cJSON_ArrayForEach(it, in->extra_tags) {
		if (cJSON_IsString(it))
			json_set(out, it->string,
			    cJSON_CreateString(it->valuestring));
	}
	json_set(out, ACA_TAG_INSTANCE,
	    cJSON_CreateString(in->instance != NULL ? in->instance : ""));
	json_set(out, ACA_TAG_BACKEND, cJSON_CreateString("aca"));
	return out;
}

/* --- the job -------------------------------------------------------------- */

/* Linux options Container Apps jobs have no setting for: refused rather
 * than dropped (docs/backend-aca.md, "Limits"). */
static int
aca_def_linux(const cJSON *hc, struct err *e)
{
	static const struct kit_job_sandbox sb = { "aca",
		"Container Apps runs every replica in a sandbox",
		"Container Apps jobs", "Container Apps replica" };

	return kit_job_sandbox(hc, &sb, e);
}

/* The host of an image reference ("" for Docker Hub's short forms). */
static void
aca_def_host(const char *ref, char *host, size_t hostsz)
{
	const char *slash = strchr(ref, '/');
	size_t n;

	host[0] = '\0';
	if (slash == NULL)
		return;
	n = (size_t)(slash - ref);
	if (memchr(ref, '.', n) == NULL && memchr(ref, ':', n) == NULL &&
	    !(n == 9 && strncmp(ref, "localhost", 9) == 0))
		return;
	if (n >= hostsz)
		n = hostsz - 1;
	memcpy(host, ref, n);
	host[n] = '\0';
}

/* The registries the replica pulls from with the identity: the agent
 * image's and the workload image's, when the registry takes it; then the
 * workload image's with the credentials a login gave, unless the identity
 * covers it. */
static cJSON *
aca_def_registries(const struct aca_def_in *in)
{
	cJSON *out = cJSON_CreateArray(), *r, *it;
	const char *refs[2] = { in->agent_image, in->image };
	char host[256];

	for (size_t i = 0; in->registry_identity != NULL &&
	     in->registry_identity[0] != '\0' && i < 2;
	     i++) {
		int seen = 0;
		aca_def_host(refs[i], host, sizeof(host));
		if (host[0] == '\0' || in->acr_host == NULL ||
		    !in->acr_host(in->acr_arg, host))
			continue;
		cJSON_ArrayForEach(it, out) {
			if (strcmp(json_str(it, "server"), host) == 0)
				seen = 1;
		}
		if (seen)
			continue;
		r = cJSON_CreateObject();
		json_add_str(r, "server", host);
		json_add_str(r, "identity", in->registry_identity);
		cJSON_AddItemToArray(out, r);
	}
	aca_def_host(in->image, host, sizeof(host));
	if (in->reg_user == NULL || host[0] == '\0')
		return out;
	cJSON_ArrayForEach(it, out) {
		if (strcmp(json_str(it, "server"), host) == 0)
			return out;
	}
	r = cJSON_CreateObject();
	json_add_str(r, "server", host);
	json_add_str(r, "username", in->reg_user);
	json_add_str(r, "passwordSecretRef", ACA_REG_SECRET);
	cJSON_AddItemToArray(out, r);
	return out;
}

/* The password of a registries entry, after the name is made: a job's
 * name never depends on it (job names are listed where secrets are
 * not), so a job made with an older password is reused until its idle
 * deletion. */
static void
aca_def_secret(cJSON *conf, const struct aca_def_in *in)
{
	cJSON *secrets, *s;
	const cJSON *it;

	cJSON_ArrayForEach(it, json_arr(conf, "registries")) {
		const char *ref = json_str(it, "passwordSecretRef");
		if (ref == NULL || strcmp(ref, ACA_REG_SECRET) != 0)
			continue;
		secrets = cJSON_CreateArray();
		s = cJSON_CreateObject();
		json_add_str(s, "name", ACA_REG_SECRET);
		json_add_str(s, "value", in->reg_pass);
		cJSON_AddItemToArray(secrets, s);
		cJSON_AddItemToObject(conf, "secrets", secrets);
		return;
	}
}

static cJSON *
aca_def_identity(const struct aca_def_in *in)
{
	cJSON *id, *ua;

	if (in->registry_identity == NULL || in->registry_identity[0] == '\0')
		return NULL;
	id = cJSON_CreateObject();
	if (strcmp(in->registry_identity, "system") == 0) {
		json_add_str(id, "type", "SystemAssigned");
		return id;
	}
	json_add_str(id, "type", "UserAssigned");
	ua = cJSON_CreateObject();
	cJSON_AddItemToObject(ua, in->registry_identity, cJSON_CreateObject());
	cJSON_AddItemToObject(id, "userAssignedIdentities", ua);
	return id;
}

static cJSON *
aca_def_resources(double cpu, const char *mem)
{
	cJSON *res = cJSON_CreateObject();

	cJSON_AddNumberToObject(res, "cpu", cpu);
	json_add_str(res, "memory", mem);
	return res;
}

static cJSON *
aca_def_agent_mount(void)
{
	cJSON *ms = cJSON_CreateArray(), *m = cJSON_CreateObject();

	json_add_str(m, "volumeName", ACA_AGENT_VOLUME);
	json_add_str(m, "mountPath", ACA_AGENT_DIR);
	cJSON_AddItemToArray(ms, m);
	return ms;
}

/* The full environment of the main container: the merged config's, the
 * agent's fixed settings, and (a start's) the run's own. */
cJSON *
aca_def_main_env(const cJSON *cfg, const cJSON *agent_env, const cJSON *run_env,
    struct err *e)
{
	cJSON *env = cJSON_CreateArray();
	const char *wd = json_str(cfg, "WorkingDir");
	cJSON *extra = NULL;

	if (wd != NULL && wd[0] != '\0') {
		/* Container Apps has no working directory setting: the agent
		 * changes to it (making it, as Docker does). */
		char *kv = xasprintf("SOCKERLESS_WORKDIR=%s", wd);
		extra = cJSON_CreateArray();
		cJSON_AddItemToArray(extra, cJSON_CreateString(kv));
		free(kv);
	}
	if (aca_def_env(env, json_arr(cfg, "Env"), e) == -1 ||
	    aca_def_env(env, agent_env, e) == -1 ||
	    aca_def_env(env, extra, e) == -1 ||
	    aca_def_env(env, run_env, e) == -1) {
		cJSON_Delete(env);
		cJSON_Delete(extra);
		return NULL;
	}
	cJSON_Delete(extra);
	return env;
}

/* The main container: the agent wraps the merged command. */
static cJSON *
aca_def_main(const struct aca_def_in *in, const cJSON *cfg, const cJSON *hc,
    const cJSON *agent_env, const cJSON *argv, double cpu, const char *mem,
    struct err *e)
{
	cJSON *ctr, *env;

	if (argv == NULL || cJSON_GetArraySize(argv) == 0) {
		err_set(e, 400, "no command specified");
		return NULL;
	}
	if (aca_def_linux(hc, e) == -1)
		return NULL;
	if ((env = aca_def_main_env(cfg, agent_env, NULL, e)) == NULL)
		return NULL;
	ctr = cJSON_CreateObject();
	json_add_str(ctr, "name", ACA_CONTAINER);
	json_add_str(ctr, "image", in->image);
	cJSON_AddItemToObject(ctr, "command",
	    cJSON_CreateStringArray(
		(const char *[]){ ACA_AGENT_PATH, "--" }, 2));
	cJSON_AddItemToObject(ctr, "args", cJSON_Duplicate(argv, 1));
	cJSON_AddItemToObject(ctr, "env", env);
	cJSON_AddItemToObject(ctr, "resources", aca_def_resources(cpu, mem));
	cJSON_AddItemToObject(ctr, "volumeMounts", aca_def_agent_mount());
	return ctr;
}

/* The init container that copies the agent into the EmptyDir. It runs
 * alone before the main container, with the same allocation (Container
 * Apps sums the main containers against the Consumption pairs). */
static cJSON *
aca_def_init(const struct aca_def_in *in, double cpu, const char *mem)
{
	cJSON *ctr = cJSON_CreateObject();

	json_add_str(ctr, "name", ACA_INIT_CONTAINER);
	json_add_str(ctr, "image", in->agent_image);
	cJSON_AddItemToObject(ctr, "command",
	    cJSON_CreateStringArray((const char *[]){ "/sockerless-agent",
					"--install", ACA_AGENT_PATH },
		3));
	cJSON_AddItemToObject(ctr, "resources", aca_def_resources(cpu, mem));
	cJSON_AddItemToObject(ctr, "volumeMounts", aca_def_agent_mount());
	return ctr;
}

cJSON *
aca_def_job(const struct aca_def_in *in, const cJSON *cfg, const cJSON *hc,
    const cJSON *agent_env, const cJSON *argv, char name[ACA_JOB_NAME_SZ],
    struct err *e)
{
	cJSON *job, *props, *conf, *mt, *tmpl, *ctrs, *inits, *vols, *v, *ctr;
	cJSON *id;
	double cpu = 0;
	char mem[16], hex[25], *canon;

	if (in->replica_timeout < 1 || in->replica_timeout > ACA_MAX_TIMEOUT) {
		err_set(e, 400,
		    "aca.replica_timeout must be 1 to %d seconds (7 days, "
		    "Container Apps' limit), not %lld",
		    ACA_MAX_TIMEOUT, in->replica_timeout);
		return NULL;
	}
	if (in->agent_image == NULL || in->agent_image[0] == '\0') {
		err_set(e, 500,
		    "aca.agent_image is not set: name the image holding "
		    "/sockerless-agent (docs/backend-aca.md)");
		return NULL;
	}
	if (aca_def_size(json_int(hc, "NanoCpus", 0), json_int(hc, "Memory", 0),
		&cpu, mem, sizeof(mem), e) == -1)
		return NULL;
	if ((ctr = aca_def_main(in, cfg, hc, agent_env, argv, cpu, mem, e)) ==
	    NULL)
		return NULL;
	tmpl = cJSON_CreateObject();
	inits = cJSON_CreateArray();
	cJSON_AddItemToArray(inits, aca_def_init(in, cpu, mem));
	cJSON_AddItemToObject(tmpl, "initContainers", inits);
	ctrs = cJSON_CreateArray();
	cJSON_AddItemToArray(ctrs, ctr);
	cJSON_AddItemToObject(tmpl, "containers", ctrs);
	vols = cJSON_CreateArray();
	v = cJSON_CreateObject();
	json_add_str(v, "name", ACA_AGENT_VOLUME);
	json_add_str(v, "storageType", "EmptyDir");
	cJSON_AddItemToArray(vols, v);
	cJSON_AddItemToObject(tmpl, "volumes", vols);
	if (aca_vol_template(in->mounts, in->nmounts, tmpl, ctr, e) == -1) {
		cJSON_Delete(tmpl);
		return NULL;
	}
	conf = cJSON_CreateObject();
	json_add_str(conf, "triggerType", "Manual");
	json_add_int(conf, "replicaTimeout", in->replica_timeout);
	/* Container Apps replaces a failed replica by default: Docker's
	 * container runs once. */
	json_add_int(conf, "replicaRetryLimit", 0);
	mt = cJSON_CreateObject();
	json_add_int(mt, "replicaCompletionCount", 1);
	json_add_int(mt, "parallelism", 1);
	cJSON_AddItemToObject(conf, "manualTriggerConfig", mt);
	cJSON_AddItemToObject(conf, "registries", aca_def_registries(in));
	props = cJSON_CreateObject();
	json_add_str(props, "environmentId", in->environment_id);
	cJSON_AddItemToObject(props, "configuration", conf);
	cJSON_AddItemToObject(props, "template", tmpl);
	job = cJSON_CreateObject();
	json_add_str(job, "location", in->location);
	cJSON_AddItemToObject(job, "tags", aca_def_job_tags(in, cfg));
	if ((id = aca_def_identity(in)) != NULL)
		cJSON_AddItemToObject(job, "identity", id);
	cJSON_AddItemToObject(job, "properties", props);
	canon = json_print(job);
	kit_hash(canon, hex, 24);
	free(canon);
	snprintf(name, ACA_JOB_NAME_SZ, "sk-%s", hex);
	aca_def_secret(conf, in);
	return job;
}

const cJSON *
aca_def_container(const cJSON *job)
{
	return cJSON_GetArrayItem(
	    json_arr(json_obj(json_obj(job, "properties"), "template"),
		"containers"),
	    0);
}

/* A container of the job as an execution template gives it (the fields
 * JobExecutionContainer has). */
static cJSON *
aca_def_exec_ctr(const cJSON *c)
{
	static const char *const keys[] = { "name", "image", "command", "args",
		"env", "resources", NULL };
	cJSON *out = cJSON_CreateObject();
	const cJSON *v;

	for (size_t i = 0; keys[i] != NULL; i++)
		if ((v = cJSON_GetObjectItemCaseSensitive(c, keys[i])) != NULL)
			cJSON_AddItemToObject(
			    out, keys[i], cJSON_Duplicate(v, 1));
	return out;
}

cJSON *
aca_def_start(const cJSON *job, const cJSON *cfg, const cJSON *agent_env,
    const cJSON *run_env, struct err *e)
{
	const cJSON *tj = json_obj(json_obj(job, "properties"), "template");
	const cJSON *main = aca_def_container(job), *it;
	cJSON *tmpl, *ctrs, *inits, *ctr, *env;

	if (main == NULL || json_str(main, "image") == NULL) {
		err_set(e, 500, "the job body has no main container");
		return NULL;
	}
	if ((env = aca_def_main_env(cfg, agent_env, run_env, e)) == NULL)
		return NULL;
	/* The whole containers, the main one with the run's environment:
	 * what the execution runs is the job's template but for it. */
	ctr = aca_def_exec_ctr(main);
	json_set(ctr, "env", env);
	ctrs = cJSON_CreateArray();
	cJSON_AddItemToArray(ctrs, ctr);
	inits = cJSON_CreateArray();
	cJSON_ArrayForEach(it, json_arr(tj, "initContainers")) {
		cJSON_AddItemToArray(inits, aca_def_exec_ctr(it));
	}
	tmpl = cJSON_CreateObject();
	cJSON_AddItemToObject(tmpl, "containers", ctrs);
	cJSON_AddItemToObject(tmpl, "initContainers", inits);
	return tmpl;
}

/* --- exit codes ----------------------------------------------------------- */

int
aca_def_exit_code(const char *status)
{
	if (status == NULL)
		return -1;
	if (strcmp(status, "Succeeded") == 0)
		return 0;
	if (strcmp(status, "Failed") == 0)
		return 1;
	if (strcmp(status, "Stopped") == 0)
		return 137;
	return -1;
}

int
aca_def_ended(const char *status)
{
	return status != NULL &&
	    (strcmp(status, "Succeeded") == 0 ||
		strcmp(status, "Failed") == 0 ||
		strcmp(status, "Stopped") == 0);
}
