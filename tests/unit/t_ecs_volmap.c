/* The ECS backend's volume translation without state
 * (backend-ecs/ecs_volmap.c, compiled in here): a Docker volume's
 * directory fitted to EFS's limits (long names hashed, names that differ
 * get different directories), which shared paths can root an access
 * point, and the task definition's volumes and mountPoints of a
 * container's mounts, with their refusals. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../../backend-ecs/ecs_volmap.c" /* NOLINT(bugprone-suspicious-include): its static helpers */

static void
t_path(void **state)
{
	char p[AWS_EFS_PATH_MAX + 1], q[AWS_EFS_PATH_MAX + 1], name[256];
	struct err e;

	(void)state;
	assert_int_equal(ecs_volmap_path("/sockerless", "0123456789abcdef",
			     "vol1", "0a1b2c3d", p, sizeof(p), &e),
	    0);
	assert_string_equal(p, "/sockerless/0123456789abcdef/vol1-0a1b2c3d");
	/* A volume name of Docker's longest: a readable start and a hash,
	 * within EFS's 100 characters. */
	memset(name, 'a', 255);
	name[255] = '\0';
	assert_int_equal(ecs_volmap_path("/sockerless", "0123456789abcdef",
			     name, "0a1b2c3d", p, sizeof(p), &e),
	    0);
	assert_true(strlen(p) <= AWS_EFS_PATH_MAX);
	assert_true(str_prefix(
	    p, "/sockerless/0123456789abcdef/aaaaaaaaaaaaaaaaaaaaaaa-"));
	assert_non_null(strstr(p, "-0a1b2c3d"));
	name[254] = 'b';
	assert_int_equal(ecs_volmap_path("/sockerless", "0123456789abcdef",
			     name, "0a1b2c3d", q, sizeof(q), &e),
	    0);
	assert_string_not_equal(p, q);
	/* An instance EFS would not take as it is: hashed. */
	assert_int_equal(
	    ecs_volmap_path("/s", "in st$", "v", "g", p, sizeof(p), &e), 0);
	assert_int_equal(strlen(p), strlen("/s/") + 16 + strlen("/v-g"));
	assert_null(strchr(p, '$'));
	/* A root too long for the rest: refused, not cut. */
	memset(name, 'r', 90);
	name[0] = '/';
	name[90] = '\0';
	assert_int_equal(ecs_volmap_path(name, "0123456789abcdef", "vol1",
			     "0a1b2c3d", p, sizeof(p), &e),
	    -1);
	assert_non_null(strstr(e.msg, "ecs.efs_root"));
}

static void
t_dir_ok(void **state)
{
	static const char *const good[] = { "/", "/shared", "/shared/w/x",
		"/a/b/c/d", "/a.b/c_d-e/f g" };
	static const char *const bad[] = { "", "shared/w", "/a/b/c/d/e",
		"/a/../b", "/a/.git", "/a//b", "/a$b", "/a/b;c", "/x/",
		"/a|b" };
	char longp[128];
	struct err e;

	(void)state;
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		assert_int_equal(
		    ecs_volmap_dir_ok(good[i], AWS_EFS_PATH_DEPTH, &e, "p"), 0);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(
		    ecs_volmap_dir_ok(bad[i], AWS_EFS_PATH_DEPTH, &e, "p"), -1);
		assert_int_equal(e.status, 400);
	}
	assert_int_equal(
	    ecs_volmap_dir_ok("/a/b/c/d/e", AWS_EFS_PATH_DEPTH, &e, "p"), -1);
	assert_non_null(strstr(e.msg, "shared_paths"));
	assert_int_equal(ecs_volmap_dir_ok(NULL, 4, &e, "p"), -1);
	memset(longp, 'x', sizeof(longp) - 1);
	longp[0] = '/';
	longp[sizeof(longp) - 1] = '\0';
	assert_int_equal(ecs_volmap_dir_ok(longp, 4, &e, "p"), -1);
	assert_non_null(strstr(e.msg, "100 characters"));
	/* ecs.efs_root: two levels at most. */
	assert_int_equal(ecs_volmap_dir_ok("/a/b/c", 2, &e, "r"), -1);
}

static void
t_task(void **state)
{
	const struct ecs_volmap_in m[] = {
		{ BACKEND_MOUNT_VOLUME, "/data", 1, "named", "fs-1", "fsap-1" },
		{ BACKEND_MOUNT_TMPFS, "/run/x", 0, NULL, NULL, NULL },
		{ BACKEND_MOUNT_DOCKER_SOCK, "/var/run/docker.sock", 0, NULL,
		    NULL, NULL },
		{ BACKEND_MOUNT_VOLUME, "/cache", 0, "anon", "fs-2", "fsap-2" },
	};
	cJSON *vols = cJSON_CreateArray(), *mps = cJSON_CreateArray();
	struct err e;
	char *v, *p;

	(void)state;
	assert_int_equal(ecs_volmap_task(m, 4, 1, 1, vols, mps, &e), 0);
	v = json_print(vols);
	p = json_print(mps);
	assert_string_equal(v,
	    "[{\"name\":\"v0\",\"efsVolumeConfiguration\":{\"fileSystemId\":"
	    "\"fs-1\",\"transitEncryption\":\"ENABLED\","
	    "\"authorizationConfig\":{\"accessPointId\":\"fsap-1\",\"iam\":"
	    "\"ENABLED\"}}},{\"name\":\"t1\"},{\"name\":\"v3\","
	    "\"efsVolumeConfiguration\":{\"fileSystemId\":\"fs-2\","
	    "\"transitEncryption\":\"ENABLED\",\"authorizationConfig\":{"
	    "\"accessPointId\":\"fsap-2\",\"iam\":\"ENABLED\"}}}]");
	assert_string_equal(p,
	    "[{\"sourceVolume\":\"v0\",\"containerPath\":\"/data\","
	    "\"readOnly\":true},{\"sourceVolume\":\"t1\",\"containerPath\":"
	    "\"/run/x\",\"readOnly\":false},{\"sourceVolume\":\"v3\","
	    "\"containerPath\":\"/cache\",\"readOnly\":false}]");
	free(v);
	free(p);
	cJSON_Delete(vols);
	cJSON_Delete(mps);
	/* Without IAM authorization. */
	vols = cJSON_CreateArray();
	mps = cJSON_CreateArray();
	assert_int_equal(ecs_volmap_task(m, 1, 0, 0, vols, mps, &e), 0);
	assert_string_equal(
	    json_str(json_obj(json_obj(cJSON_GetArrayItem(vols, 0),
				  "efsVolumeConfiguration"),
			 "authorizationConfig"),
		"iam"),
	    "DISABLED");
	cJSON_Delete(vols);
	cJSON_Delete(mps);
}

/* Each refusal adds nothing. */
static void
t_task_refused(void **state)
{
	const struct ecs_volmap_in ok = { BACKEND_MOUNT_VOLUME, "/d", 0, "n",
		"fs-1", "fsap-1" };
	const struct {
		struct ecs_volmap_in m;
		int agent, status;
		const char *says;
	} rows[] = {
		{ { BACKEND_MOUNT_DOCKER_SOCK, "/var/run/docker.sock", 0, NULL,
		      NULL, NULL },
		    0, 501, "ecs.agent" },
		{ { BACKEND_MOUNT_TMPFS, "/sockerless", 0, NULL, NULL, NULL },
		    1, 400, "agent lives" },
		{ { BACKEND_MOUNT_VOLUME, "/sockerless/x", 0, "n", "fs-1",
		      "fsap-1" },
		    1, 400, "agent lives" },
		{ { BACKEND_MOUNT_VOLUME, "/d2", 0, "half", "fs-1", NULL }, 1,
		    500, "volume half has no EFS access point" },
	};
	struct ecs_volmap_in m[2];
	struct err e;

	(void)state;
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		cJSON *vols = cJSON_CreateArray(), *mps = cJSON_CreateArray();

		m[0] = ok;
		m[1] = rows[i].m;
		assert_int_equal(
		    ecs_volmap_task(m, 2, 0, rows[i].agent, vols, mps, &e), -1);
		assert_int_equal(e.status, rows[i].status);
		assert_non_null(strstr(e.msg, rows[i].says));
		assert_int_equal(cJSON_GetArraySize(vols), 0);
		assert_int_equal(cJSON_GetArraySize(mps), 0);
		cJSON_Delete(vols);
		cJSON_Delete(mps);
	}
	/* Without the agent, /sockerless is the user's. */
	{
		cJSON *vols = cJSON_CreateArray(), *mps = cJSON_CreateArray();

		m[0] = rows[1].m;
		assert_int_equal(ecs_volmap_task(m, 1, 0, 0, vols, mps, &e), 0);
		assert_int_equal(cJSON_GetArraySize(mps), 1);
		cJSON_Delete(vols);
		cJSON_Delete(mps);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(t_path),
		cmocka_unit_test(t_dir_ok),
		cmocka_unit_test(t_task),
		cmocka_unit_test(t_task_refused),
	};

	json_init();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
