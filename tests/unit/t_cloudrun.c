/* The Cloud Run backend's translation without state
 * (backend-cloudrun/cloudrun_def.c, compiled in here): Cloud Run's CPU and
 * memory for Docker's limits, the job body a container maps to (one task,
 * no retries, the agent wrapping the command, env, workdir, labels, VPC
 * access, timeout), its name (the same configuration gives the same job),
 * the configured labels, and the exit code of a finished task. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../../backend-cloudrun/cloudrun_def.c" /* NOLINT(bugprone-suspicious-include): its static helpers */
#include "../../backend-cloudrun/cloudrun_volmap.c" /* NOLINT(bugprone-suspicious-include): the body's volumes */

#define GIB (1024LL * 1024 * 1024)

static void
t_size_one(
    long long nano, long long mem, const char *want_cpu, const char *want_mem)
{
	char cpu[8], m[24];
	struct err e;

	assert_int_equal(
	    cloudrun_def_size(nano, mem, cpu, sizeof(cpu), m, sizeof(m), &e),
	    0);
	assert_string_equal(cpu, want_cpu);
	assert_string_equal(m, want_mem);
}

static void
t_size(void **state)
{
	char cpu[8], m[24];
	struct err e;

	(void)state;
	t_size_one(0, 0, "1", "512Mi");
	/* Rounded up: less than a CPU is a CPU, bytes are whole MiB. */
	t_size_one(500000000, 0, "1", "512Mi");
	t_size_one(1500000000, 0, "2", "512Mi");
	t_size_one(0, 1, "1", "512Mi");
	t_size_one(0, 700 * 1024 * 1024 + 1, "1", "701Mi");
	t_size_one(0, 4 * GIB, "1", "4096Mi");
	/* More memory than a CPU allows takes more CPUs. */
	t_size_one(0, 5 * GIB, "2", "5120Mi");
	t_size_one(0, 9 * GIB, "4", "9216Mi");
	/* More CPUs need a minimum of memory. */
	t_size_one(3000000000LL, GIB, "4", "2048Mi");
	t_size_one(5000000000LL, 0, "6", "4096Mi");
	t_size_one(8000000000LL, 32 * GIB, "8", "32768Mi");
	/* Nothing fits: a 400 the user can act on. */
	assert_int_equal(cloudrun_def_size(9000000000LL, 0, cpu, sizeof(cpu), m,
			     sizeof(m), &e),
	    -1);
	assert_int_equal(e.status, 400);
	assert_non_null(strstr(e.msg, "--cpus"));
	assert_int_equal(
	    cloudrun_def_size(0, 33 * GIB, cpu, sizeof(cpu), m, sizeof(m), &e),
	    -1);
	assert_int_equal(e.status, 400);
}

static cJSON *
t_parse(const char *s)
{
	cJSON *o = cJSON_Parse(s);

	assert_non_null(o);
	return o;
}

static void
t_in(struct cloudrun_def_in *in)
{
	memset(in, 0, sizeof(*in));
	in->image = "us-central1-docker.pkg.dev/p/r/img@sha256:aa";
	in->timeout_s = 3600;
	in->instance = "Inst-0123";
}

static void
t_job(void **state)
{
	struct cloudrun_def_in in;
	cJSON *cfg = t_parse(
	    "{\"Env\":[\"A=1\",\"B=2\",\"A=3\",\"CLOUD_RUN_JOB=x\",\"NOEQ\"],"
	    "\"WorkingDir\":\"/w\",\"Labels\":{\"app\":\"Web\"}}");
	cJSON *hc = t_parse("{\"NanoCpus\":2000000000,\"Memory\":1073741824}");
	cJSON *agent = t_parse("[\"SOCKERLESS_TTY=1\"]");
	cJSON *argv = t_parse("[\"sh\",\"-c\",\"exit 3\"]");
	cJSON *job;
	const cJSON *tt, *ctr, *env, *lim;
	char name[28];
	struct err e;

	(void)state;
	t_in(&in);
	in.service_account = "sa@p.iam.gserviceaccount.com";
	job = cloudrun_def_job(&in, cfg, hc, agent, argv, name, &e);
	assert_non_null(job);
	assert_int_equal(strlen(name), 27);
	assert_memory_equal(name, "sk-", 3);
	assert_int_equal(
	    json_int(json_obj(job, "template"), "taskCount", 0), 1);
	assert_int_equal(
	    json_int(json_obj(job, "template"), "parallelism", 0), 1);
	tt = json_obj(json_obj(job, "template"), "template");
	/* Cloud Run's default is 3 retries: Docker runs once. */
	assert_int_equal(json_int(tt, "maxRetries", -1), 0);
	assert_string_equal(json_str(tt, "timeout"), "3600s");
	assert_string_equal(
	    json_str(tt, "serviceAccount"), "sa@p.iam.gserviceaccount.com");
	assert_null(json_obj(tt, "vpcAccess"));
	ctr = cloudrun_def_container(job);
	assert_string_equal(json_str(ctr, "name"), CLOUDRUN_CONTAINER);
	assert_string_equal(json_str(ctr, "image"), in.image);
	assert_string_equal(
	    cJSON_GetArrayItem(json_arr(ctr, "command"), 0)->valuestring,
	    "/sockerless/agent");
	assert_string_equal(
	    cJSON_GetArrayItem(json_arr(ctr, "command"), 1)->valuestring, "--");
	assert_int_equal(cJSON_GetArraySize(json_arr(ctr, "args")), 3);
	assert_string_equal(json_str(ctr, "workingDir"), "/w");
	/* Later K=V wins, Cloud Run's own names and "NOEQ" are left out,
	 * the agent's settings follow. */
	env = json_arr(ctr, "env");
	assert_int_equal(cJSON_GetArraySize(env), 3);
	assert_string_equal(json_str(cJSON_GetArrayItem(env, 0), "name"), "A");
	assert_string_equal(json_str(cJSON_GetArrayItem(env, 0), "value"), "3");
	assert_string_equal(
	    json_str(cJSON_GetArrayItem(env, 2), "name"), "SOCKERLESS_TTY");
	lim = json_obj(json_obj(ctr, "resources"), "limits");
	assert_string_equal(json_str(lim, "cpu"), "2");
	assert_string_equal(json_str(lim, "memory"), "1024Mi");
	/* Labels: Docker's sanitised, sockerless's own. */
	assert_string_equal(json_str(json_obj(job, "labels"), "app"), "web");
	assert_string_equal(
	    json_str(json_obj(job, "labels"), CLOUDRUN_LABEL_INSTANCE),
	    "inst-0123");
	assert_string_equal(
	    json_str(json_obj(job, "labels"), CLOUDRUN_LABEL_BACKEND),
	    "cloudrun");
	cJSON_Delete(job);
	cJSON_Delete(cfg);
	cJSON_Delete(hc);
	cJSON_Delete(agent);
	cJSON_Delete(argv);
}

/* Identical configurations share one job; any difference makes another. */
static void
t_job_name(void **state)
{
	struct cloudrun_def_in in;
	cJSON *cfg = t_parse("{\"Env\":[\"A=1\"]}");
	cJSON *cfg2 = t_parse("{\"Env\":[\"A=2\"]}");
	cJSON *argv = t_parse("[\"true\"]");
	cJSON *j1, *j2, *j3, *j4;
	char n1[28], n2[28], n3[28], n4[28];
	struct err e;

	(void)state;
	t_in(&in);
	j1 = cloudrun_def_job(&in, cfg, NULL, NULL, argv, n1, &e);
	j2 = cloudrun_def_job(&in, cfg, NULL, NULL, argv, n2, &e);
	j3 = cloudrun_def_job(&in, cfg2, NULL, NULL, argv, n3, &e);
	in.image = "us-central1-docker.pkg.dev/p/r/img@sha256:bb";
	j4 = cloudrun_def_job(&in, cfg, NULL, NULL, argv, n4, &e);
	assert_non_null(j1);
	assert_non_null(j4);
	assert_string_equal(n1, n2);
	assert_string_not_equal(n1, n3);
	assert_string_not_equal(n1, n4);
	cJSON_Delete(j1);
	cJSON_Delete(j2);
	cJSON_Delete(j3);
	cJSON_Delete(j4);
	cJSON_Delete(cfg);
	cJSON_Delete(cfg2);
	cJSON_Delete(argv);
}

static void
t_job_vpc(void **state)
{
	struct cloudrun_def_in in;
	cJSON *argv = t_parse("[\"true\"]"), *job;
	const cJSON *vpc;
	char name[28];
	struct err e;

	(void)state;
	t_in(&in);
	in.vpc_connector = "projects/p/locations/l/connectors/c";
	job = cloudrun_def_job(&in, NULL, NULL, NULL, argv, name, &e);
	vpc = json_obj(
	    json_obj(json_obj(job, "template"), "template"), "vpcAccess");
	assert_string_equal(json_str(vpc, "connector"), in.vpc_connector);
	assert_string_equal(json_str(vpc, "egress"), "PRIVATE_RANGES_ONLY");
	cJSON_Delete(job);
	in.vpc_connector = NULL;
	in.network = "default";
	in.subnet = "sub";
	in.vpc_egress = "ALL_TRAFFIC";
	job = cloudrun_def_job(&in, NULL, NULL, NULL, argv, name, &e);
	vpc = json_obj(
	    json_obj(json_obj(job, "template"), "template"), "vpcAccess");
	assert_string_equal(
	    json_str(cJSON_GetArrayItem(json_arr(vpc, "networkInterfaces"), 0),
		"subnetwork"),
	    "sub");
	assert_string_equal(json_str(vpc, "egress"), "ALL_TRAFFIC");
	cJSON_Delete(job);
	/* Both: refused. */
	in.vpc_connector = "c";
	assert_null(cloudrun_def_job(&in, NULL, NULL, NULL, argv, name, &e));
	assert_int_equal(e.status, 400);
	assert_non_null(strstr(e.msg, "cloudrun.vpc_connector"));
	cJSON_Delete(argv);
}

static void
t_job_refused(void **state)
{
	struct cloudrun_def_in in;
	cJSON *argv = t_parse("[\"true\"]"), *none = t_parse("[]");
	cJSON *big = t_parse("{\"NanoCpus\":16000000000}");
	char name[28];
	struct err e;

	(void)state;
	t_in(&in);
	assert_null(cloudrun_def_job(&in, NULL, NULL, NULL, none, name, &e));
	assert_int_equal(e.status, 400);
	assert_string_equal(e.msg, "no command specified");
	assert_null(cloudrun_def_job(&in, NULL, big, NULL, argv, name, &e));
	assert_int_equal(e.status, 400);
	in.timeout_s = CLOUDRUN_MAX_TIMEOUT + 1;
	assert_null(cloudrun_def_job(&in, NULL, NULL, NULL, argv, name, &e));
	assert_int_equal(e.status, 400);
	assert_non_null(strstr(e.msg, "cloudrun.task_timeout"));
	in.timeout_s = CLOUDRUN_MAX_TIMEOUT;
	{
		cJSON *job =
		    cloudrun_def_job(&in, NULL, NULL, NULL, argv, name, &e);
		assert_non_null(job);
		assert_string_equal(
		    json_str(json_obj(json_obj(job, "template"), "template"),
			"timeout"),
		    "604800s");
		cJSON_Delete(job);
	}
	/* Linux options Cloud Run has no setting for. */
	{
		static const char *const hcs[] = {
			"{\"CapAdd\":[\"NET_ADMIN\"]}",
			"{\"CapDrop\":[\"ALL\"]}",
			"{\"Ulimits\":[{\"Name\":\"nofile\"}]}",
			"{\"ReadonlyRootfs\":true}",
			"{\"NetworkMode\":\"none\"}",
		};
		for (size_t i = 0; i < sizeof(hcs) / sizeof(hcs[0]); i++) {
			cJSON *hc = t_parse(hcs[i]);
			assert_null(cloudrun_def_job(
			    &in, NULL, hc, NULL, argv, name, &e));
			assert_int_equal(e.status, 400);
			assert_non_null(
			    strstr(e.msg, "Run the container without"));
			cJSON_Delete(hc);
		}
	}
	cJSON_Delete(argv);
	cJSON_Delete(none);
	cJSON_Delete(big);
}

static void
t_labels(void **state)
{
	struct strv sv;
	cJSON *l;
	struct err e;

	(void)state;
	strv_init(&sv);
	strv_add(&sv, "team=CI");
	strv_add(&sv, "team=other");
	strv_add(&sv, "cost-center=");
	l = cloudrun_def_labels(&sv, &e);
	assert_non_null(l);
	assert_string_equal(json_str(l, "team"), "ci");
	assert_string_equal(json_str(l, "cost-center"), "");
	cJSON_Delete(l);
	strv_add(&sv, "=x");
	assert_null(cloudrun_def_labels(&sv, &e));
	assert_int_equal(e.status, 400);
	assert_non_null(strstr(e.msg, "cloudrun.labels"));
	strv_free(&sv);
}

static void
t_exit_code(void **state)
{
	static const struct {
		const char *task;
		int cancelled, want;
	} rows[] = {
		{ "{\"lastAttemptResult\":{\"exitCode\":3}}", 0, 3 },
		{ "{\"lastAttemptResult\":{\"exitCode\":143}}", 1, 143 },
		{ "{\"lastAttemptResult\":{\"termSignal\":9}}", 0, 137 },
		/* proto3 JSON leaves exit code 0 out. */
		{ "{\"lastAttemptResult\":{}}", 0, 0 },
		{ "{\"lastAttemptResult\":{\"status\":{\"code\":0}}}", 0, 0 },
		/* Cancelled, the process ended by itself with 0. */
		{ "{\"startTime\":\"2026-12-05T10:00:00Z\","
		  "\"lastAttemptResult\":{\"status\":{\"code\":1,"
		  "\"message\":\"The task was cancelled.\"}}}",
		    1, 0 },
		{ "{\"lastAttemptResult\":{\"status\":{\"code\":1}}}", 1, 137 },
		/* It never ran: the status says why. */
		{ "{\"lastAttemptResult\":{\"status\":{\"code\":5,"
		  "\"message\":\"image not found\"}}}",
		    0, -1 },
		{ "{}", 0, -1 },
		{ "{}", 1, 137 },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		cJSON *t = t_parse(rows[i].task);
		assert_int_equal(
		    cloudrun_def_exit_code(t, rows[i].cancelled), rows[i].want);
		cJSON_Delete(t);
	}
	assert_int_equal(cloudrun_def_exit_code(NULL, 0), -1);
}

static void
t_log_filter(void **state)
{
	static const char *const bad[] = { "", "jobs/j/executions/e",
		"projects/p/locations/l/jobs//executions/e",
		"projects/p/locations/l/jobs/j/executions/",
		"projects/p/locations/l/executions/e/jobs/j",
		"projects/p/locations/l/jobs/j/executions/e/tasks/t",
		"projects//locations/l/jobs/j/executions/e",
		"x/p/locations/l/jobs/j/executions/e" };
	char *f;

	(void)state;
	f = cloudrun_def_log_filter(
	    "projects/p/locations/l/jobs/sk-abc/executions/sk-abc-x1");
	assert_non_null(f);
	assert_string_equal(f,
	    "resource.type=\"cloud_run_job\" AND "
	    "resource.labels.job_name=\"sk-abc\" AND "
	    "labels.\"run.googleapis.com/execution_name\"=\"sk-abc-x1\" AND "
	    "(logName=\"projects/p/logs/run.googleapis.com%2Fstdout\" OR "
	    "logName=\"projects/p/logs/run.googleapis.com%2Fstderr\")");
	free(f);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_null(cloudrun_def_log_filter(bad[i]));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(t_size),
		cmocka_unit_test(t_job),
		cmocka_unit_test(t_job_name),
		cmocka_unit_test(t_job_vpc),
		cmocka_unit_test(t_job_refused),
		cmocka_unit_test(t_labels),
		cmocka_unit_test(t_exit_code),
		cmocka_unit_test(t_log_filter),
	};

	json_init();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
