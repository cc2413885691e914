/* The Cloud Run job a container maps to, without state (unit-tested in
 * tests/unit/t_cloudrun.c): Cloud Run's size for Docker's limits, the
 * job body (one task, no retries, the agent wrapping the command), its
 * name from a hash of it so that identical configurations share one job,
 * labels, and the exit code a finished task gives. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cloudrun.h"
#include "sockerless/json.h"
#include "sockerless/xmalloc.h"

/* --- sizes ---------------------------------------------------------------- */

/* Cloud Run's CPU choices and the memory each allows (MiB); below 1 CPU
 * is not offered to jobs here (a smaller --cpus gets 1). */
static const struct {
	int cpu, lo, hi;
} cloudrun_sizes[] = { { 1, 512, 4096 }, { 2, 512, 8192 }, { 4, 2048, 16384 },
	{ 6, 4096, 24576 }, { 8, 4096, 32768 } };

int
cloudrun_def_size(long long nano_cpus, long long memory_bytes, char *cpu,
    size_t cpusz, char *mem, size_t memsz, struct err *e)
{
	long long want_cpu =
	    nano_cpus > 0 ? (nano_cpus + 999999999LL) / 1000000000LL : 1;
	long long want_mem =
	    memory_bytes > 0 ? kit_mib_ceil(memory_bytes) : CLOUDRUN_MIN_MEMORY;
	size_t n = sizeof(cloudrun_sizes) / sizeof(cloudrun_sizes[0]);

	for (size_t i = 0; i < n; i++) {
		if (cloudrun_sizes[i].cpu < want_cpu ||
		    cloudrun_sizes[i].hi < want_mem)
			continue;
		snprintf(cpu, cpusz, "%d", cloudrun_sizes[i].cpu);
		snprintf(mem, memsz, "%lldMi",
		    kit_clamp(
			want_mem, cloudrun_sizes[i].lo, cloudrun_sizes[i].hi));
		return 0;
	}
	return err_set(e, 400,
	    "no Cloud Run job size fits %lld CPUs and %lld MiB of memory "
	    "(largest: 8 CPUs with 32 GiB); lower --cpus or --memory",
	    want_cpu, want_mem);
}

/* --- environment and labels ---------------------------------------------- */

/* Variables Cloud Run sets in every job task itself. */
static int
cloudrun_def_reserved(const char *name)
{
	static const char *const names[] = { "CLOUD_RUN_JOB",
		"CLOUD_RUN_EXECUTION", "CLOUD_RUN_TASK_INDEX",
		"CLOUD_RUN_TASK_ATTEMPT", "CLOUD_RUN_TASK_COUNT", NULL };

	for (size_t i = 0; names[i] != NULL; i++)
		if (strcmp(names[i], name) == 0)
			return 1;
	return 0;
}

/* Docker lets a later K=V win; Cloud Run refuses a name twice. */
static int
cloudrun_def_env_one(void *arg, const char *name, const char *value)
{
	cJSON *out = arg, *it;

	if (name[0] == '\0' || cloudrun_def_reserved(name))
		return 0;
	cJSON_ArrayForEach(it, out) {
		const char *n = json_str(it, "name");
		if (n != NULL && strcmp(n, name) == 0) {
			json_set(it, "value", cJSON_CreateString(value));
			return 0;
		}
	}
	it = cJSON_CreateObject();
	json_add_str(it, "name", name);
	json_add_str(it, "value", value);
	cJSON_AddItemToArray(out, it);
	return 0;
}

cJSON *
cloudrun_def_env(cJSON *out, const cJSON *kvs)
{
	kit_env_each(kvs, cloudrun_def_env_one, out);
	return out;
}

cJSON *
cloudrun_def_labels(const struct strv *kvs, struct err *e)
{
	cJSON *out = cJSON_CreateObject();
	char key[64], val[64], *k;
	const char *eq;

	for (size_t i = 0; kvs != NULL && i < kvs->n; i++) {
		eq = strchr(kvs->v[i], '=');
		if (eq == NULL || eq == kvs->v[i]) {
			err_set(e, 400,
			    "cloudrun.labels: \"%s\" is not key=value; write "
			    "labels as team=ci",
			    kvs->v[i]);
			cJSON_Delete(out);
			return NULL;
		}
		k = xstrndup(kvs->v[i], (size_t)(eq - kvs->v[i]));
		if (gcp_label_key(k, key, sizeof(key)) == -1) {
			err_set(e, 400,
			    "cloudrun.labels: \"%s\" gives no usable Google "
			    "label key (lower-case letters, digits, _ and -)",
			    k);
			free(k);
			cJSON_Delete(out);
			return NULL;
		}
		free(k);
		gcp_label_value(eq + 1, val, sizeof(val));
		if (cJSON_GetObjectItemCaseSensitive(out, key) == NULL)
			json_add_str(out, key, val);
	}
	return out;
}

/* Docker's labels, then the configured ones, then sockerless's own (the
 * later ones win): at most 64, Google's limit. */
static cJSON *
cloudrun_def_job_labels(const struct cloudrun_def_in *in, const cJSON *cfg)
{
	cJSON *out = gcp_labels_from_docker(json_obj(cfg, "Labels"), 56);
	const cJSON *it;
	char v[64];

	if (out == NULL)
		out = cJSON_CreateObject();
	cJSON_ArrayForEach(it, in->extra_labels) {
		if (cJSON_IsString(it))
			json_set(out, it->string,
			    cJSON_CreateString(it->valuestring));
	}
	gcp_label_value(in->instance != NULL ? in->instance : "", v, sizeof(v));
	json_set(out, CLOUDRUN_LABEL_INSTANCE, cJSON_CreateString(v));
	json_set(out, CLOUDRUN_LABEL_BACKEND, cJSON_CreateString("cloudrun"));
	return out;
}

/* --- the job -------------------------------------------------------------- */

static int
cloudrun_def_vpc(const struct cloudrun_def_in *in, cJSON *tt, struct err *e)
{
	cJSON *vpc, *nis, *ni;
	int connector = in->vpc_connector != NULL && in->vpc_connector[0];
	int direct = (in->network != NULL && in->network[0]) ||
	    (in->subnet != NULL && in->subnet[0]);

	if (!connector && !direct)
		return 0;
	if (connector && direct)
		return err_set(e, 400,
		    "cloudrun.vpc_connector and cloudrun.network/subnet "
		    "(Direct VPC egress) exclude each other; set one");
	vpc = cJSON_CreateObject();
	if (connector) {
		json_add_str(vpc, "connector", in->vpc_connector);
	} else {
		nis = cJSON_CreateArray();
		ni = cJSON_CreateObject();
		if (in->network != NULL && in->network[0])
			json_add_str(ni, "network", in->network);
		if (in->subnet != NULL && in->subnet[0])
			json_add_str(ni, "subnetwork", in->subnet);
		cJSON_AddItemToArray(nis, ni);
		cJSON_AddItemToObject(vpc, "networkInterfaces", nis);
	}
	json_add_str(vpc, "egress",
	    in->vpc_egress != NULL && in->vpc_egress[0] ?
		in->vpc_egress :
		"PRIVATE_RANGES_ONLY");
	cJSON_AddItemToObject(tt, "vpcAccess", vpc);
	return 0;
}

/* Linux options Cloud Run jobs have no setting for: refused rather than
 * dropped (docs/backend-cloudrun.md, "Limits"). */
static int
cloudrun_def_linux(const cJSON *hc, struct err *e)
{
	static const struct kit_job_sandbox sb = { "cloudrun",
		"Cloud Run jobs run every task in a sandbox", "Cloud Run jobs",
		"Cloud Run task" };

	return kit_job_sandbox(hc, &sb, e);
}

/* The job's one container: the agent wraps the merged command. */
static cJSON *
cloudrun_def_ctr(const struct cloudrun_def_in *in, const cJSON *cfg,
    const cJSON *hc, const cJSON *agent_env, const cJSON *argv, struct err *e)
{
	cJSON *ctr, *res, *lim;
	char cpu[8], mem[24];
	const char *wd = json_str(cfg, "WorkingDir");

	if (argv == NULL || cJSON_GetArraySize(argv) == 0) {
		err_set(e, 400, "no command specified");
		return NULL;
	}
	if (cloudrun_def_linux(hc, e) == -1)
		return NULL;
	if (cloudrun_def_size(json_int(hc, "NanoCpus", 0),
		json_int(hc, "Memory", 0), cpu, sizeof(cpu), mem, sizeof(mem),
		e) == -1)
		return NULL;
	ctr = cJSON_CreateObject();
	json_add_str(ctr, "name", CLOUDRUN_CONTAINER);
	json_add_str(ctr, "image", in->image);
	cJSON_AddItemToObject(ctr, "command",
	    cJSON_CreateStringArray(
		(const char *[]){ CLOUDRUN_AGENT_PATH, "--" }, 2));
	cJSON_AddItemToObject(ctr, "args", cJSON_Duplicate(argv, 1));
	cJSON_AddItemToObject(ctr, "env",
	    cloudrun_def_env(
		cloudrun_def_env(cJSON_CreateArray(), json_arr(cfg, "Env")),
		agent_env));
	if (wd != NULL && wd[0] != '\0')
		json_add_str(ctr, "workingDir", wd);
	res = cJSON_CreateObject();
	lim = cJSON_CreateObject();
	json_add_str(lim, "cpu", cpu);
	json_add_str(lim, "memory", mem);
	cJSON_AddItemToObject(res, "limits", lim);
	cJSON_AddItemToObject(ctr, "resources", res);
	return ctr;
}

cJSON *
cloudrun_def_job(const struct cloudrun_def_in *in, const cJSON *cfg,
    const cJSON *hc, const cJSON *agent_env, const cJSON *argv, char name[28],
    struct err *e)
{
	cJSON *job = NULL, *et, *tt, *ctrs, *ctr;
	char dur[32], hex[25], *canon;

	if (in->timeout_s < 1 || in->timeout_s > CLOUDRUN_MAX_TIMEOUT) {
		err_set(e, 400,
		    "cloudrun.task_timeout must be 1 to %d seconds (168 h, "
		    "Cloud Run's limit), not %lld",
		    CLOUDRUN_MAX_TIMEOUT, in->timeout_s);
		return NULL;
	}
	if ((ctr = cloudrun_def_ctr(in, cfg, hc, agent_env, argv, e)) == NULL)
		return NULL;
	tt = cJSON_CreateObject();
	ctrs = cJSON_CreateArray();
	cJSON_AddItemToArray(ctrs, ctr);
	cJSON_AddItemToObject(tt, "containers", ctrs);
	/* Cloud Run retries a failed task 3 times by default: Docker's
	 * container runs once. */
	json_add_int(tt, "maxRetries", 0);
	gcp_duration(dur, sizeof(dur), in->timeout_s);
	json_add_str(tt, "timeout", dur);
	if (in->service_account != NULL && in->service_account[0])
		json_add_str(tt, "serviceAccount", in->service_account);
	if (cloudrun_def_vpc(in, tt, e) == -1 ||
	    cloudrun_vol_job(in->mounts, in->nmounts, tt, ctr, e) == -1) {
		cJSON_Delete(tt);
		return NULL;
	}
	et = cJSON_CreateObject();
	json_add_int(et, "taskCount", 1);
	json_add_int(et, "parallelism", 1);
	cJSON_AddItemToObject(et, "template", tt);
	job = cJSON_CreateObject();
	cJSON_AddItemToObject(job, "labels", cloudrun_def_job_labels(in, cfg));
	cJSON_AddItemToObject(job, "template", et);
	canon = json_print(job);
	kit_hash(canon, hex, 24);
	free(canon);
	snprintf(name, 28, "sk-%s", hex);
	return job;
}

const cJSON *
cloudrun_def_container(const cJSON *job)
{
	return cJSON_GetArrayItem(
	    json_arr(
		json_obj(json_obj(job, "template"), "template"), "containers"),
	    0);
}

/* --- logs ---------------------------------------------------------------- */

/* The Logging filter of execution exec
 * ("projects/p/locations/l/jobs/J/executions/E"); NULL when malformed. */
char *
cloudrun_def_log_filter(const char *exec)
{
	const char *j = strstr(exec, "/jobs/"),
		   *x = strstr(exec, "/executions/");
	const char *l = strstr(exec, "/locations/");
	char *job, *project, qj[160], qe[160], *out;

	if (strncmp(exec, "projects/", 9) != 0 || l == NULL || l <= exec + 9 ||
	    j == NULL || j < l || x == NULL || x <= j + 6 || x[12] == '\0' ||
	    strchr(x + 12, '/') != NULL)
		return NULL;
	job = xstrndup(j + 6, (size_t)(x - (j + 6)));
	project = xstrndup(exec + 9, (size_t)(l - (exec + 9)));
	gcp_logs_quote(job, qj, sizeof(qj));
	gcp_logs_quote(x + 12, qe, sizeof(qe));
	/* The task's own output only: Cloud Run's lines about the task
	 * ("Container called exit(4).") go to run.googleapis.com/varlog/
	 * system, which Docker's logs never show. */
	out = xasprintf(
	    "resource.type=\"cloud_run_job\" AND "
	    "resource.labels.job_name=%s AND "
	    "labels.\"run.googleapis.com/execution_name\"=%s AND "
	    "(logName=\"projects/%s/logs/run.googleapis.com%%2Fstdout\" "
	    "OR "
	    "logName=\"projects/%s/logs/run.googleapis.com%%2Fstderr\")",
	    qj, qe, project, project);
	free(job);
	free(project);
	return out;
}

/* --- exit codes ------------------------------------------------------------
 */

int
cloudrun_def_exit_code(const cJSON *task, int cancelled)
{
	const cJSON *r = json_obj(task, "lastAttemptResult");
	const cJSON *st = json_obj(r, "status");

	if (cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(r, "exitCode")))
		return (int)json_int(r, "exitCode", 0);
	if (json_int(r, "termSignal", 0) > 0)
		return 128 + (int)json_int(r, "termSignal", 0);
	/* proto3 JSON leaves an exit code of 0 out: a task that ran, or a
	 * clean result, exited 0 (a cancelled one too: its process ended
	 * by itself on the stop signal). */
	if (json_str(task, "startTime") != NULL ||
	    (r != NULL && json_int(st, "code", 0) == 0))
		return 0;
	return cancelled ? 137 : -1;
}
