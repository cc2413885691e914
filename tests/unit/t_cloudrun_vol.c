/* The Cloud Run job body's volumes (backend-cloudrun/cloudrun_volmap.c
 * with cloudrun_def.c, compiled in here): a Docker volume is a Cloud
 * Storage volume of the bucket whose only-dir is its directory, a tmpfs an
 * in-memory emptyDir, the Docker socket is the agent's (no volume), the
 * mounts are part of the job's hash, and what Cloud Run cannot take is
 * refused with a sentence. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../../backend-cloudrun/cloudrun_def.c" /* NOLINT(bugprone-suspicious-include): the job body */
#include "../../backend-cloudrun/cloudrun_volmap.c" /* NOLINT(bugprone-suspicious-include): its volumes */

static void
t_in(struct cloudrun_def_in *in, const struct cloudrun_vol_in *m, size_t n)
{
	memset(in, 0, sizeof(*in));
	in->image = "us-central1-docker.pkg.dev/p/r/img@sha256:aa";
	in->timeout_s = 3600;
	in->instance = "inst";
	in->mounts = m;
	in->nmounts = n;
}

static cJSON *
t_job(const struct cloudrun_vol_in *m, size_t n, char name[28], struct err *e)
{
	struct cloudrun_def_in in;
	cJSON *cfg = cJSON_Parse("{}");
	cJSON *argv = cJSON_Parse("[\"true\"]");
	cJSON *job;

	t_in(&in, m, n);
	job = cloudrun_def_job(&in, cfg, NULL, NULL, argv, name, e);
	cJSON_Delete(cfg);
	cJSON_Delete(argv);
	return job;
}

static const cJSON *
t_tt(const cJSON *job)
{
	return json_obj(json_obj(job, "template"), "template");
}

static void
t_volumes(void **state)
{
	struct cloudrun_vol_in m[4] = {
		{ .kind = BACKEND_MOUNT_VOLUME,
		    .target = "/data",
		    .vol_name = "data",
		    .bucket = "vols",
		    .dir = "sockerless/volumes/data" },
		{ .kind = BACKEND_MOUNT_VOLUME,
		    .target = "/ro",
		    .readonly = 1,
		    .vol_name = "sockerless-shared-abc",
		    .bucket = "vols",
		    .dir = "shared/w" },
		{ .kind = BACKEND_MOUNT_TMPFS,
		    .target = "/scratch",
		    .tmpfs_size = 64LL * 1024 * 1024 },
		{ .kind = BACKEND_MOUNT_DOCKER_SOCK,
		    .target = "/var/run/docker.sock" },
	};
	const cJSON *tt, *vols, *vms, *v, *g, *opts;
	cJSON *job;
	char name[28];
	struct err e;

	(void)state;
	job = t_job(m, 4, name, &e);
	assert_non_null(job);
	tt = t_tt(job);
	assert_string_equal(
	    json_str(tt, "executionEnvironment"), "EXECUTION_ENVIRONMENT_GEN2");
	vols = json_arr(tt, "volumes");
	/* The docker.sock is served by the agent: no volume. */
	assert_int_equal(cJSON_GetArraySize(vols), 3);
	v = cJSON_GetArrayItem(vols, 0);
	assert_string_equal(json_str(v, "name"), "v0");
	g = json_obj(v, "gcs");
	assert_string_equal(json_str(g, "bucket"), "vols");
	assert_false(json_bool(g, "readOnly", 1));
	opts = json_arr(g, "mountOptions");
	assert_int_equal(cJSON_GetArraySize(opts), 2);
	assert_string_equal(cJSON_GetArrayItem(opts, 0)->valuestring,
	    "only-dir=sockerless/volumes/data");
	assert_string_equal(
	    cJSON_GetArrayItem(opts, 1)->valuestring, "implicit-dirs");
	v = cJSON_GetArrayItem(vols, 1);
	assert_string_equal(json_str(v, "name"), "v1");
	assert_true(json_bool(json_obj(v, "gcs"), "readOnly", 0));
	assert_string_equal(
	    cJSON_GetArrayItem(json_arr(json_obj(v, "gcs"), "mountOptions"), 0)
		->valuestring,
	    "only-dir=shared/w");
	v = cJSON_GetArrayItem(vols, 2);
	assert_string_equal(json_str(v, "name"), "t2");
	assert_string_equal(
	    json_str(json_obj(v, "emptyDir"), "medium"), "MEMORY");
	assert_string_equal(
	    json_str(json_obj(v, "emptyDir"), "sizeLimit"), "64Mi");
	vms = json_arr(cloudrun_def_container(job), "volumeMounts");
	assert_int_equal(cJSON_GetArraySize(vms), 3);
	assert_string_equal(json_str(cJSON_GetArrayItem(vms, 0), "name"), "v0");
	assert_string_equal(
	    json_str(cJSON_GetArrayItem(vms, 0), "mountPath"), "/data");
	assert_string_equal(
	    json_str(cJSON_GetArrayItem(vms, 2), "mountPath"), "/scratch");
	cJSON_Delete(job);
}

static void
t_tmpfs_only(void **state)
{
	struct cloudrun_vol_in m[1] = {
		{ .kind = BACKEND_MOUNT_TMPFS,
		    .target = "/t",
		    .tmpfs_size = 1000 },
	};
	struct cloudrun_vol_in none[1] = {
		{ .kind = BACKEND_MOUNT_DOCKER_SOCK,
		    .target = "/run/docker.sock" },
	};
	const cJSON *tt;
	cJSON *job;
	char name[28];
	struct err e;

	(void)state;
	job = t_job(m, 1, name, &e);
	assert_non_null(job);
	tt = t_tt(job);
	/* No Cloud Storage: the execution environment stays Cloud Run's. */
	assert_null(json_str(tt, "executionEnvironment"));
	assert_string_equal(
	    json_str(json_obj(cJSON_GetArrayItem(json_arr(tt, "volumes"), 0),
			 "emptyDir"),
		"sizeLimit"),
	    "1000");
	cJSON_Delete(job);
	/* Nothing to mount: no volumes and no volumeMounts at all. */
	job = t_job(none, 1, name, &e);
	assert_non_null(job);
	assert_null(json_arr(t_tt(job), "volumes"));
	assert_null(json_arr(cloudrun_def_container(job), "volumeMounts"));
	cJSON_Delete(job);
}

static void
t_hash(void **state)
{
	struct cloudrun_vol_in a[1] = {
		{ .kind = BACKEND_MOUNT_VOLUME,
		    .target = "/d",
		    .vol_name = "a",
		    .bucket = "vols",
		    .dir = "p/a" },
	};
	struct cloudrun_vol_in b[1] = {
		{ .kind = BACKEND_MOUNT_VOLUME,
		    .target = "/d",
		    .vol_name = "b",
		    .bucket = "vols",
		    .dir = "p/b" },
	};
	char n0[28], n1[28], n2[28], n3[28];
	cJSON *j0, *j1, *j2, *j3;
	struct err e;

	(void)state;
	j0 = t_job(NULL, 0, n0, &e);
	j1 = t_job(a, 1, n1, &e);
	j2 = t_job(b, 1, n2, &e);
	j3 = t_job(a, 1, n3, &e);
	assert_non_null(j0);
	assert_non_null(j1);
	assert_non_null(j2);
	assert_non_null(j3);
	/* Different mounts: different jobs; the same: one job. */
	assert_string_not_equal(n0, n1);
	assert_string_not_equal(n1, n2);
	assert_string_equal(n1, n3);
	cJSON_Delete(j0);
	cJSON_Delete(j1);
	cJSON_Delete(j2);
	cJSON_Delete(j3);
}

static void
t_refused(void **state)
{
	struct cloudrun_vol_in agent[1] = {
		{ .kind = BACKEND_MOUNT_TMPFS, .target = "/sockerless/x" },
	};
	struct cloudrun_vol_in unmade[1] = {
		{ .kind = BACKEND_MOUNT_VOLUME,
		    .target = "/d",
		    .vol_name = "half" },
	};
	char name[28];
	struct err e;

	(void)state;
	assert_null(t_job(agent, 1, name, &e));
	assert_int_equal(e.status, 400);
	assert_non_null(strstr(e.msg, "/sockerless is where"));
	assert_null(t_job(unmade, 1, name, &e));
	assert_int_equal(e.status, 500);
	assert_non_null(strstr(e.msg, "volume half has no Cloud Storage"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(t_volumes),
		cmocka_unit_test(t_tmpfs_only),
		cmocka_unit_test(t_hash),
		cmocka_unit_test(t_refused),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
