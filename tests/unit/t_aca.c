/* The Container Apps backend's translation without state
 * (backend-aca/aca_def.c, compiled in here, with the volume mapping of
 * backend-aca/aca_volmap.c; its own cases are in t_aca_vol.c): the
 * Consumption size for Docker's limits, the job body (Manual trigger, one
 * replica, no retries, the init container that copies the agent, the
 * agent wrapping the command, env, tags, registries with the identity),
 * its name (the same configuration gives the same job), the execution
 * template of one start, and the exit code of an execution's status. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../../backend-aca/aca_def.c" /* NOLINT(bugprone-suspicious-include): its static helpers */
#include "../../backend-aca/aca_volmap.c" /* NOLINT(bugprone-suspicious-include): the body's volumes */

#define MIB (1024LL * 1024)
#define GIB (1024LL * MIB)

static void
t_size(void **state)
{
	static const struct {
		long long nano, mem;
		double cpu;
		const char *memory;
	} ok[] = {
		{ 0, 0, 0.5, "1Gi" },		   /* Container Apps' default */
		{ 250000000LL, 0, 0.25, "0.5Gi" }, /* --cpus 0.25 */
		{ 1, 0, 0.25, "0.5Gi" },	   /* rounded up */
		{ 0, 300 * MIB, 0.25, "0.5Gi" },   /* -m 300m */
		{ 0, 512 * MIB, 0.25, "0.5Gi" },   /* exactly a pair */
		{ 0, 513 * MIB, 0.5, "1Gi" },	   /* just above */
		{ 1000000000LL, 0, 1, "2Gi" },	   /* --cpus 1 */
		{ 1000000000LL, 4 * GIB, 2, "4Gi" }, /* memory decides */
		{ 3000000000LL, 1 * GIB, 3, "6Gi" }, /* cpu decides */
		{ 4000000000LL, 8 * GIB, 4, "8Gi" }, /* the largest */
	};
	static const struct {
		long long nano, mem;
	} bad[] = { { 4000000001LL, 0 }, { 0, 8 * GIB + 1 },
		{ 5000000000LL, 1 * GIB } };
	double cpu;
	char m[16];
	struct err e;

	(void)state;
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		assert_int_equal(
		    aca_def_size(ok[i].nano, ok[i].mem, &cpu, m, sizeof(m), &e),
		    0);
		assert_true(cpu == ok[i].cpu);
		assert_string_equal(m, ok[i].memory);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(aca_def_size(bad[i].nano, bad[i].mem, &cpu, m,
				     sizeof(m), &e),
		    -1);
		assert_int_equal(e.status, 400);
		assert_non_null(strstr(e.msg, "--cpus or --memory"));
	}
}

static cJSON *
t_parse(const char *s)
{
	cJSON *o = cJSON_Parse(s);

	assert_non_null(o);
	return o;
}

static int
t_acr(void *arg, const char *host)
{
	(void)arg;
	return strstr(host, ".azurecr.io") != NULL ||
	    strcmp(host, "127.0.0.1:5001") == 0;
}

#define ENV_ID                                                       \
	"/subscriptions/s/resourceGroups/g/providers/Microsoft.App/" \
	"managedEnvironments/env"

static void
t_in(struct aca_def_in *in)
{
	memset(in, 0, sizeof(*in));
	in->image = "docker.io/library/busybox@sha256:aa";
	in->agent_image = "myacr.azurecr.io/sockerless/agent:0.1.0";
	in->environment_id = ENV_ID;
	in->location = "westeurope";
	in->acr_host = t_acr;
	in->replica_timeout = 3600;
	in->instance = "inst-0123";
}

/* The string array at key of o, joined by ' '. */
static void
t_join(const cJSON *o, const char *key, char *out, size_t outsz)
{
	const cJSON *it;
	size_t n = 0;

	out[0] = '\0';
	cJSON_ArrayForEach(it, json_arr(o, key)) {
		n += (size_t)snprintf(
		    out + n, outsz - n, "%s%s", n ? " " : "", it->valuestring);
	}
}

static const char *
t_env(const cJSON *ctr, const char *name)
{
	const cJSON *it;

	cJSON_ArrayForEach(it, json_arr(ctr, "env")) {
		if (strcmp(json_str(it, "name"), name) == 0)
			return json_str(it, "value");
	}
	return NULL;
}

static void
t_job(void **state)
{
	struct aca_def_in in;
	cJSON *cfg = t_parse("{\"Env\":[\"A=1\",\"B=2\",\"A=3\"],"
			     "\"WorkingDir\":\"/w\","
			     "\"Labels\":{\"com.example/team\":\"ci\"}}");
	cJSON *hc = t_parse("{\"NanoCpus\":1000000000}");
	cJSON *agent = t_parse("[\"SOCKERLESS_TTY=0\"]");
	cJSON *argv = t_parse("[\"sh\",\"-c\",\"echo hi\"]");
	cJSON *tags = t_parse("{\"team\":\"ci2\"}");
	cJSON *job;
	const cJSON *props, *conf, *tmpl, *ctr, *init, *reg;
	char name[ACA_JOB_NAME_SZ], s[256];
	struct err e;

	(void)state;
	t_in(&in);
	in.extra_tags = tags;
	job = aca_def_job(&in, cfg, hc, agent, argv, name, &e);
	assert_non_null(job);
	assert_int_equal(strlen(name), 27);
	assert_memory_equal(name, "sk-", 3);
	assert_string_equal(json_str(job, "location"), "westeurope");
	/* Tags: Docker's labels (forbidden characters mapped), the
	 * configured ones, sockerless's own. */
	assert_string_equal(
	    json_str(json_obj(job, "tags"), "com.example_team"), "ci");
	assert_string_equal(json_str(json_obj(job, "tags"), "team"), "ci2");
	assert_string_equal(
	    json_str(json_obj(job, "tags"), ACA_TAG_INSTANCE), "inst-0123");
	assert_string_equal(
	    json_str(json_obj(job, "tags"), ACA_TAG_BACKEND), "aca");
	props = json_obj(job, "properties");
	assert_string_equal(json_str(props, "environmentId"), ENV_ID);
	conf = json_obj(props, "configuration");
	assert_string_equal(json_str(conf, "triggerType"), "Manual");
	assert_int_equal(json_int(conf, "replicaTimeout", 0), 3600);
	assert_int_equal(json_int(conf, "replicaRetryLimit", -1), 0);
	assert_int_equal(
	    json_int(json_obj(conf, "manualTriggerConfig"), "parallelism", 0),
	    1);
	assert_int_equal(json_int(json_obj(conf, "manualTriggerConfig"),
			     "replicaCompletionCount", 0),
	    1);
	/* No identity configured: no registries, no identity. */
	assert_int_equal(cJSON_GetArraySize(json_arr(conf, "registries")), 0);
	assert_null(json_obj(job, "identity"));
	tmpl = json_obj(props, "template");
	/* The agent's EmptyDir, mounted in both containers. */
	assert_string_equal(
	    json_str(cJSON_GetArrayItem(json_arr(tmpl, "volumes"), 0), "name"),
	    ACA_AGENT_VOLUME);
	assert_string_equal(
	    json_str(cJSON_GetArrayItem(json_arr(tmpl, "volumes"), 0),
		"storageType"),
	    "EmptyDir");
	init = cJSON_GetArrayItem(json_arr(tmpl, "initContainers"), 0);
	assert_string_equal(json_str(init, "name"), ACA_INIT_CONTAINER);
	assert_string_equal(json_str(init, "image"), in.agent_image);
	t_join(init, "command", s, sizeof(s));
	assert_string_equal(s, "/sockerless-agent --install /sockerless/agent");
	assert_string_equal(
	    json_str(cJSON_GetArrayItem(json_arr(init, "volumeMounts"), 0),
		"mountPath"),
	    "/sockerless");
	ctr = aca_def_container(job);
	assert_string_equal(json_str(ctr, "name"), "main");
	assert_string_equal(json_str(ctr, "image"), in.image);
	t_join(ctr, "command", s, sizeof(s));
	assert_string_equal(s, "/sockerless/agent --");
	t_join(ctr, "args", s, sizeof(s));
	assert_string_equal(s, "sh -c echo hi");
	/* Env: a later K=V wins, the agent's settings, the workdir. */
	assert_string_equal(t_env(ctr, "A"), "3");
	assert_string_equal(t_env(ctr, "B"), "2");
	assert_string_equal(t_env(ctr, "SOCKERLESS_TTY"), "0");
	assert_string_equal(t_env(ctr, "SOCKERLESS_WORKDIR"), "/w");
	assert_int_equal(cJSON_GetArraySize(json_arr(ctr, "env")), 4);
	/* --cpus 1: the pair 1 vCPU / 2Gi, the init container the same. */
	assert_true(cJSON_GetNumberValue(cJSON_GetObjectItem(
			json_obj(ctr, "resources"), "cpu")) == 1.0);
	assert_string_equal(
	    json_str(json_obj(ctr, "resources"), "memory"), "2Gi");
	assert_string_equal(
	    json_str(json_obj(init, "resources"), "memory"), "2Gi");
	cJSON_Delete(job);

	/* An identity: the ACR registries of both images with it. */
	in.registry_identity = "system";
	in.image = "127.0.0.1:5001/app@sha256:bb";
	job = aca_def_job(&in, cfg, hc, agent, argv, name, &e);
	assert_non_null(job);
	assert_string_equal(
	    json_str(json_obj(job, "identity"), "type"), "SystemAssigned");
	conf = json_obj(json_obj(job, "properties"), "configuration");
	assert_int_equal(cJSON_GetArraySize(json_arr(conf, "registries")), 2);
	reg = cJSON_GetArrayItem(json_arr(conf, "registries"), 0);
	assert_string_equal(json_str(reg, "server"), "myacr.azurecr.io");
	assert_string_equal(json_str(reg, "identity"), "system");
	reg = cJSON_GetArrayItem(json_arr(conf, "registries"), 1);
	assert_string_equal(json_str(reg, "server"), "127.0.0.1:5001");
	cJSON_Delete(job);

	/* A user-assigned identity; Docker Hub needs no entry. */
	in.registry_identity = "/subscriptions/s/resourceGroups/g/providers/"
			       "Microsoft.ManagedIdentity/"
			       "userAssignedIdentities/pull";
	in.image = "busybox";
	job = aca_def_job(&in, cfg, hc, agent, argv, name, &e);
	assert_non_null(job);
	assert_string_equal(
	    json_str(json_obj(job, "identity"), "type"), "UserAssigned");
	assert_non_null(json_obj(
	    json_obj(json_obj(job, "identity"), "userAssignedIdentities"),
	    in.registry_identity));
	conf = json_obj(json_obj(job, "properties"), "configuration");
	assert_int_equal(cJSON_GetArraySize(json_arr(conf, "registries")), 1);
	cJSON_Delete(job);

	cJSON_Delete(cfg);
	cJSON_Delete(hc);
	cJSON_Delete(agent);
	cJSON_Delete(argv);
	cJSON_Delete(tags);
}

/* The same configuration gives the same job; any difference another. */
static void
t_job_name(void **state)
{
	struct aca_def_in in;
	cJSON *cfg = t_parse("{\"Env\":[\"A=1\"]}");
	cJSON *cfg2 = t_parse("{\"Env\":[\"A=2\"]}");
	cJSON *argv = t_parse("[\"true\"]");
	cJSON *hc = t_parse("{\"Memory\":4294967296}");
	char n1[ACA_JOB_NAME_SZ], n2[ACA_JOB_NAME_SZ], n3[ACA_JOB_NAME_SZ];
	char n4[ACA_JOB_NAME_SZ], n5[ACA_JOB_NAME_SZ];
	cJSON *j[5];
	struct err e;

	(void)state;
	t_in(&in);
	j[0] = aca_def_job(&in, cfg, NULL, NULL, argv, n1, &e);
	j[1] = aca_def_job(&in, cfg, NULL, NULL, argv, n2, &e);
	j[2] = aca_def_job(&in, cfg2, NULL, NULL, argv, n3, &e);
	j[3] = aca_def_job(&in, cfg, hc, NULL, argv, n4, &e);
	in.replica_timeout = 60;
	j[4] = aca_def_job(&in, cfg, NULL, NULL, argv, n5, &e);
	for (size_t i = 0; i < 5; i++)
		assert_non_null(j[i]);
	assert_string_equal(n1, n2);
	assert_string_not_equal(n1, n3);
	assert_string_not_equal(n1, n4);
	assert_string_not_equal(n1, n5);
	for (size_t i = 0; i < 5; i++)
		cJSON_Delete(j[i]);
	cJSON_Delete(cfg);
	cJSON_Delete(cfg2);
	cJSON_Delete(argv);
	cJSON_Delete(hc);
}

/* Credentials of the image's registry: an entry with the password as a
 * secret, which the job's name does not depend on; none where the identity
 * covers the registry. */
static void
t_job_registry_creds(void **state)
{
	struct aca_def_in in;
	cJSON *argv = t_parse("[\"true\"]");
	cJSON *job, *job2;
	const cJSON *conf, *reg, *sec;
	char n1[ACA_JOB_NAME_SZ], n2[ACA_JOB_NAME_SZ], n3[ACA_JOB_NAME_SZ];
	struct err e;

	(void)state;
	t_in(&in);
	in.image = "registry.example.com:5000/team/app:1";
	in.reg_user = "ci";
	in.reg_pass = "s3cret";
	job = aca_def_job(&in, NULL, NULL, NULL, argv, n1, &e);
	assert_non_null(job);
	conf = json_obj(json_obj(job, "properties"), "configuration");
	assert_int_equal(cJSON_GetArraySize(json_arr(conf, "registries")), 1);
	reg = cJSON_GetArrayItem(json_arr(conf, "registries"), 0);
	assert_string_equal(
	    json_str(reg, "server"), "registry.example.com:5000");
	assert_string_equal(json_str(reg, "username"), "ci");
	assert_string_equal(json_str(reg, "passwordSecretRef"), ACA_REG_SECRET);
	assert_null(json_str(reg, "identity"));
	sec = cJSON_GetArrayItem(json_arr(conf, "secrets"), 0);
	assert_string_equal(json_str(sec, "name"), ACA_REG_SECRET);
	assert_string_equal(json_str(sec, "value"), "s3cret");
	/* Another password: the same name; another user: another job. */
	in.reg_pass = "rotated";
	job2 = aca_def_job(&in, NULL, NULL, NULL, argv, n2, &e);
	assert_string_equal(n1, n2);
	cJSON_Delete(job2);
	in.reg_user = "other";
	job2 = aca_def_job(&in, NULL, NULL, NULL, argv, n3, &e);
	assert_string_not_equal(n1, n3);
	cJSON_Delete(job2);
	cJSON_Delete(job);

	/* The identity takes the registry (ACR): no credentials entry. */
	in.registry_identity = "system";
	in.image = "127.0.0.1:5001/app@sha256:bb";
	job = aca_def_job(&in, NULL, NULL, NULL, argv, n1, &e);
	conf = json_obj(json_obj(job, "properties"), "configuration");
	cJSON_ArrayForEach(reg, json_arr(conf, "registries"))
		assert_null(json_str(reg, "username"));
	assert_null(json_arr(conf, "secrets"));
	cJSON_Delete(job);
	cJSON_Delete(argv);
}

/* What Container Apps cannot take is refused with a 400 (or the 501 of
 * volumes without storage). */
static void
t_job_refused(void **state)
{
	static const struct {
		const char *cfg, *hc, *argv;
		long long timeout;
		int status;
		const char *says;
	} cases[] = {
		{ "{}", "{}", "[]", 3600, 400, "no command" },
		{ "{}", "{\"ReadonlyRootfs\":true}", "[\"true\"]", 3600, 400,
		    "--read-only" },
		{ "{}", "{\"NetworkMode\":\"none\"}", "[\"true\"]", 3600, 400,
		    "--network none" },
		{ "{}", "{\"CapAdd\":[\"NET_ADMIN\"]}", "[\"true\"]", 3600, 400,
		    "--cap-add" },
		{ "{}", "{\"NanoCpus\":8000000000}", "[\"true\"]", 3600, 400,
		    "--cpus" },
		{ "{\"Env\":[\"1BAD=x\"]}", "{}", "[\"true\"]", 3600, 400,
		    "1BAD" },
		{ "{\"Env\":[\"A B=x\"]}", "{}", "[\"true\"]", 3600, 400,
		    "A B" },
		{ "{}", "{}", "[\"true\"]", 0, 400, "replica_timeout" },
		{ "{}", "{}", "[\"true\"]", 604801, 400, "replica_timeout" },
	};
	struct aca_def_in in;
	char name[ACA_JOB_NAME_SZ];
	struct err e;

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		cJSON *cfg = t_parse(cases[i].cfg), *hc = t_parse(cases[i].hc);
		cJSON *argv = t_parse(cases[i].argv);
		t_in(&in);
		in.replica_timeout = cases[i].timeout;
		memset(&e, 0, sizeof(e));
		assert_null(aca_def_job(&in, cfg, hc, NULL, argv, name, &e));
		assert_int_equal(e.status, cases[i].status);
		assert_non_null(strstr(e.msg, cases[i].says));
		cJSON_Delete(cfg);
		cJSON_Delete(hc);
		cJSON_Delete(argv);
	}
}

/* Mounts: tmpfs as EmptyDir, the socket served by the agent, a volume
 * whose create did not finish refused, a volume as its AzureFile
 * storage. */
static void
t_job_mounts(void **state)
{
	struct aca_def_in in;
	struct aca_vol_in m[2];
	cJSON *argv = t_parse("[\"true\"]"), *job;
	const cJSON *tmpl, *ctr;
	char name[ACA_JOB_NAME_SZ];
	struct err e;

	(void)state;
	t_in(&in);
	memset(m, 0, sizeof(m));
	m[0].kind = BACKEND_MOUNT_TMPFS;
	m[0].target = "/scratch";
	m[1].kind = BACKEND_MOUNT_DOCKER_SOCK;
	m[1].target = "/var/run/docker.sock";
	in.mounts = m;
	in.nmounts = 2;
	job = aca_def_job(&in, NULL, NULL, NULL, argv, name, &e);
	assert_non_null(job);
	tmpl = json_obj(json_obj(job, "properties"), "template");
	assert_int_equal(cJSON_GetArraySize(json_arr(tmpl, "volumes")), 2);
	assert_string_equal(
	    json_str(cJSON_GetArrayItem(json_arr(tmpl, "volumes"), 1),
		"storageType"),
	    "EmptyDir");
	ctr = aca_def_container(job);
	assert_int_equal(cJSON_GetArraySize(json_arr(ctr, "volumeMounts")), 2);
	assert_string_equal(
	    json_str(cJSON_GetArrayItem(json_arr(ctr, "volumeMounts"), 1),
		"mountPath"),
	    "/scratch");
	cJSON_Delete(job);
	m[1].kind = BACKEND_MOUNT_VOLUME;
	m[1].target = "/data";
	m[1].vol_name = "data";
	assert_null(aca_def_job(&in, NULL, NULL, NULL, argv, name, &e));
	assert_int_equal(e.status, 409);
	assert_non_null(strstr(e.msg, "volume data has no Azure Files"));
	m[1].storage = "sk-data-0123456789abcdef";
	job = aca_def_job(&in, NULL, NULL, NULL, argv, name, &e);
	assert_non_null(job);
	tmpl = json_obj(json_obj(job, "properties"), "template");
	assert_string_equal(
	    json_str(cJSON_GetArrayItem(json_arr(tmpl, "volumes"), 2),
		"storageName"),
	    "sk-data-0123456789abcdef");
	cJSON_Delete(job);
	cJSON_Delete(argv);
}

/* The start's execution template: the job's containers, the main one
 * with the run's environment added (a template replaces env whole). */
static void
t_start(void **state)
{
	struct aca_def_in in;
	cJSON *cfg = t_parse("{\"Env\":[\"A=1\"]}");
	cJSON *agent = t_parse("[\"SOCKERLESS_TTY=0\"]");
	cJSON *run = t_parse("[\"SOCKERLESS_CONTAINER_ID=abc\","
			     "\"SOCKERLESS_AGENT_TOKEN_SHA256=ff\"]");
	cJSON *argv = t_parse("[\"echo\",\"hi\"]"), *job, *tmpl;
	const cJSON *ctr, *init;
	char name[ACA_JOB_NAME_SZ], s[128];
	struct err e;

	(void)state;
	t_in(&in);
	job = aca_def_job(&in, cfg, NULL, agent, argv, name, &e);
	assert_non_null(job);
	tmpl = aca_def_start(job, cfg, agent, run, &e);
	assert_non_null(tmpl);
	ctr = cJSON_GetArrayItem(json_arr(tmpl, "containers"), 0);
	assert_string_equal(json_str(ctr, "name"), "main");
	assert_string_equal(json_str(ctr, "image"), in.image);
	t_join(ctr, "args", s, sizeof(s));
	assert_string_equal(s, "echo hi");
	assert_string_equal(t_env(ctr, "A"), "1");
	assert_string_equal(t_env(ctr, "SOCKERLESS_TTY"), "0");
	assert_string_equal(t_env(ctr, "SOCKERLESS_CONTAINER_ID"), "abc");
	assert_string_equal(t_env(ctr, "SOCKERLESS_AGENT_TOKEN_SHA256"), "ff");
	/* No volumeMounts: JobExecutionContainer has none. */
	assert_null(json_arr(ctr, "volumeMounts"));
	init = cJSON_GetArrayItem(json_arr(tmpl, "initContainers"), 0);
	assert_string_equal(json_str(init, "name"), ACA_INIT_CONTAINER);
	assert_null(json_arr(init, "volumeMounts"));
	cJSON_Delete(tmpl);
	/* The job body itself never holds the run's settings. */
	assert_null(t_env(aca_def_container(job), "SOCKERLESS_CONTAINER_ID"));
	cJSON_Delete(job);
	cJSON_Delete(cfg);
	cJSON_Delete(agent);
	cJSON_Delete(run);
	cJSON_Delete(argv);
}

static void
t_tags(void **state)
{
	struct strv kv = { 0 };
	cJSON *t;
	struct err e;
	char v0[] = "team=ci", v1[] = "a/b=x", v2[] = "team=other";
	char b0[] = "novalue";
	char *v[] = { v0, v1, v2, NULL };
	char *bad[] = { b0, NULL };

	(void)state;
	kv.v = v;
	kv.n = 3;
	t = aca_def_tags(&kv, &e);
	assert_non_null(t);
	assert_string_equal(json_str(t, "team"), "ci");
	assert_string_equal(json_str(t, "a_b"), "x");
	cJSON_Delete(t);
	kv.v = bad;
	kv.n = 1;
	assert_null(aca_def_tags(&kv, &e));
	assert_int_equal(e.status, 400);
	assert_non_null(strstr(e.msg, "novalue"));
}

static void
t_exit_code(void **state)
{
	static const struct {
		const char *status;
		int code, ended;
	} cases[] = {
		{ "Succeeded", 0, 1 },
		{ "Failed", 1, 1 },
		{ "Stopped", 137, 1 },
		{ "Running", -1, 0 },
		{ "Processing", -1, 0 },
		{ "Unknown", -1, 0 },
		{ NULL, -1, 0 },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		assert_int_equal(
		    aca_def_exit_code(cases[i].status), cases[i].code);
		assert_int_equal(
		    aca_def_ended(cases[i].status), cases[i].ended);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(t_size),
		cmocka_unit_test(t_job),
		cmocka_unit_test(t_job_name),
		cmocka_unit_test(t_job_registry_creds),
		cmocka_unit_test(t_job_refused),
		cmocka_unit_test(t_job_mounts),
		cmocka_unit_test(t_start),
		cmocka_unit_test(t_tags),
		cmocka_unit_test(t_exit_code),
	};

	json_init();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
