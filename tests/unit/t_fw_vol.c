/* The framework's volume routes through the fake backend: create with its
 * checks, list filters, inspect, remove (in use, force), prune (anonymous
 * only from API 1.42, all, labels), system df, events, the backend's
 * vol_* operations and their failures leaving nothing, persistence across
 * a restart, and the capability's own sentence. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../../common/backend/backend_int.h"
#include "fake_backend.h"
#include "sockerless/store.h"
#include "sockerless/json.h"
#include "sockerless/str.h"
#include "sockerless/xmalloc.h"

static int
setup(void **state)
{
	struct fw *fw;

	fake_caps[CAP_VOLUMES] = 1;
	fw = fw_new();
	fw_add_image(fw, "docker.io/library/alpine:latest", "sh");
	fw->autocomplete = 1;
	*state = fw;
	return 0;
}

static int
teardown(void **state)
{
	if (*state != NULL)
		fw_free(*state, 0);
	fake_caps[CAP_VOLUMES] = 0;
	fake_caps_why[CAP_VOLUMES] = NULL;
	return 0;
}

static void
vol_create(struct fw *fw, const char *body, int status, const char *msg)
{
	struct fw_resp *r = fw_req(fw, "POST", "/volumes/create", body);

	if (r->status != status)
		fprintf(stderr, "create %s: %d %s\n", body, r->status, r->body);
	assert_int_equal(r->status, status);
	if (msg != NULL)
		assert_string_equal(fw_msg(r), msg);
	fw_resp_free(r);
}

/* The names GET /volumes lists with filters (JSON or NULL), in order,
 * space-separated; a new string. */
static char *
vol_names(struct fw *fw, const char *filters)
{
	char *enc = filters != NULL ? fw_urlenc(filters) : NULL;
	char *path = xasprintf(
	    "/volumes%s%s", enc != NULL ? "?filters=" : "", enc ? enc : "");
	struct fw_resp *r = fw_expect(fw, "GET", path, 200);
	char *out = xstrdup(""), *o;
	const cJSON *it;

	assert_non_null(cJSON_GetObjectItem(r->json, "Warnings"));
	cJSON_ArrayForEach(it, json_arr(r->json, "Volumes")) {
		o = xasprintf(
		    "%s%s%s", out, out[0] ? " " : "", json_str(it, "Name"));
		free(out);
		out = o;
	}
	fw_resp_free(r);
	free(path);
	free(enc);
	return out;
}

static void
check_names(struct fw *fw, const char *filters, const char *want)
{
	char *got = vol_names(fw, filters);

	if (strcmp(got, want) != 0)
		fprintf(stderr, "volumes %s: got \"%s\"\n",
		    filters ? filters : "", got);
	assert_string_equal(got, want);
	free(got);
}

static void
test_create_inspect(void **state)
{
	struct fw *fw = *state;
	struct fw_resp *r;

	vol_create(fw,
	    "{\"Name\":\"v1\",\"Driver\":\"local\",\"Labels\":{\"k\":\"v\"},"
	    "\"DriverOpts\":{}}",
	    201, NULL);
	assert_int_equal(fw_count(fw, "vol_create"), 1);
	r = fw_expect(fw, "GET", "/volumes/v1", 200);
	assert_string_equal(json_str(r->json, "Name"), "v1");
	assert_string_equal(json_str(r->json, "Driver"), "local");
	assert_string_equal(json_str(r->json, "Scope"), "local");
	assert_string_equal(json_str(r->json, "Mountpoint"),
	    "/var/lib/docker/volumes/v1/_data");
	assert_string_equal(json_str(json_obj(r->json, "Labels"), "k"), "v");
	assert_non_null(json_str(r->json, "CreatedAt"));
	assert_null(json_obj(r->json, "Sockerless"));
	fw_resp_free(r);
	/* The same name again: the volume that has it (dockerd's 201). */
	vol_create(fw, "{\"Name\":\"v1\"}", 201, NULL);
	assert_int_equal(fw_count(fw, "vol_create"), 1);
	/* No name: 64 hex. */
	r = fw_req(fw, "POST", "/volumes/create", "{}");
	assert_int_equal(r->status, 201);
	assert_int_equal(strlen(json_str(r->json, "Name")), 64);
	fw_resp_free(r);
	vol_create(fw, "{\"Name\":\"a\"}", 400,
	    "create a: volume name is too short, names should be at least "
	    "two alphanumeric characters");
	vol_create(fw, "{\"Name\":\"a$b\"}", 400,
	    "create a$b: \"a$b\" includes invalid characters for a local "
	    "volume name, only \"[a-zA-Z0-9][a-zA-Z0-9_.-]\" are allowed. If "
	    "you intended to pass a host directory, use absolute path");
	vol_create(fw, "{\"Name\":\"v2\",\"Driver\":\"nfs\"}", 400, NULL);
	vol_create(fw, "{\"Name\":\"v2\",\"DriverOpts\":{\"type\":\"nfs\"}}",
	    400, NULL);
	vol_create(fw, "{\"Name\":\"sockerless-shared-x\"}", 400, NULL);
	vol_create(fw, "{\"Name\":\"v2\",\"Labels\":[1]}", 400, NULL);
	vol_create(fw, "[]", 400, NULL);
	r = fw_expect(fw, "GET", "/volumes/v2", 404);
	assert_string_equal(fw_msg(r), "get v2: no such volume");
	fw_resp_free(r);
}

static void
test_list_filters(void **state)
{
	struct fw *fw = *state;
	char *id;

	vol_create(
	    fw, "{\"Name\":\"alpha\",\"Labels\":{\"team\":\"a\"}}", 201, NULL);
	vol_create(
	    fw, "{\"Name\":\"beta\",\"Labels\":{\"team\":\"b\"}}", 201, NULL);
	vol_create(fw, "{\"Name\":\"gamma\"}", 201, NULL);
	check_names(fw, NULL, "alpha beta gamma");
	check_names(fw, "{\"name\":[\"ph\"]}", "alpha");
	check_names(fw, "{\"label\":[\"team\"]}", "alpha beta");
	check_names(fw, "{\"label\":[\"team=b\"]}", "beta");
	check_names(fw, "{\"driver\":[\"local\"]}", "alpha beta gamma");
	check_names(fw, "{\"driver\":[\"nfs\"]}", "");
	id = fw_create(
	    fw, "c1", "alpine", "\"HostConfig\":{\"Binds\":[\"beta:/b\"]}");
	check_names(fw, "{\"dangling\":[\"true\"]}", "alpha gamma");
	check_names(fw, "{\"dangling\":[\"false\"]}", "beta");
	fw_expect_free(fw, "GET",
	    "/volumes?filters=%7B%22dangling%22%3A%5B%22x%22%5D%7D", 400);
	fw_expect_free(fw, "GET",
	    "/volumes?filters=%7B%22bogus%22%3A%5B%22x%22%5D%7D", 400);
	free(id);
}

static void
test_remove_prune(void **state)
{
	struct fw *fw = *state;
	struct fw_resp *r;
	char *id, *msg;

	vol_create(fw, "{\"Name\":\"used\"}", 201, NULL);
	vol_create(
	    fw, "{\"Name\":\"free1\",\"Labels\":{\"keep\":\"1\"}}", 201, NULL);
	vol_create(fw, "{\"Name\":\"free2\"}", 201, NULL);
	id = fw_create(fw, "c1", "alpine",
	    "\"HostConfig\":{\"Binds\":[\"used:/u\"]},"
	    "\"Volumes\":{\"/anon\":{}}");
	r = fw_expect(fw, "DELETE", "/volumes/used", 409);
	msg = xasprintf("remove used: volume is in use - [%s]", id);
	assert_string_equal(fw_msg(r), msg);
	free(msg);
	fw_resp_free(r);
	/* force does not take a volume from its container (dockerd). */
	fw_expect_free(fw, "DELETE", "/volumes/used?force=1", 409);
	fw_expect_free(fw, "DELETE", "/volumes/nope", 404);
	fw_expect_free(fw, "DELETE", "/volumes/nope?force=1", 204);
	/* API 1.44: only anonymous unused volumes; the container's is used. */
	r = fw_expect(fw, "POST", "/volumes/prune", 200);
	if (!cJSON_IsNull(cJSON_GetObjectItem(r->json, "VolumesDeleted")))
		fprintf(stderr, "prune: %s\n", r->body);
	assert_true(
	    cJSON_IsNull(cJSON_GetObjectItem(r->json, "VolumesDeleted")));
	assert_int_equal(json_int(r->json, "SpaceReclaimed", -1), 0);
	fw_resp_free(r);
	/* all=true, without the labelled one. */
	r = fw_expect(fw, "POST",
	    "/volumes/prune?filters=%7B%22all%22%3A%5B%22true%22%5D%2C"
	    "%22label!%22%3A%5B%22keep%22%5D%7D",
	    200);
	assert_int_equal(
	    cJSON_GetArraySize(json_arr(r->json, "VolumesDeleted")), 1);
	assert_string_equal(
	    cJSON_GetArrayItem(json_arr(r->json, "VolumesDeleted"), 0)
		->valuestring,
	    "free2");
	fw_resp_free(r);
	check_names(fw, "{\"name\":[\"free\"]}", "free1");
	fw_expect_free(fw, "DELETE", "/volumes/free1", 204);
	assert_int_equal(fw_count(fw, "vol_remove"), 2);
	fw_expect_free(fw, "GET", "/volumes/free1", 404);
	free(id);
}

static void
test_failures_leave_nothing(void **state)
{
	struct fw *fw = *state;
	struct fw_resp *r, *slow;
	struct err e;

	fw->fail_op = "vol_create";
	fw->fail_status = 403;
	r = fw_req(fw, "POST", "/volumes/create", "{\"Name\":\"bad\"}");
	assert_int_equal(r->status, 403);
	assert_string_equal(fw_msg(r), "the cloud said no");
	fw_resp_free(r);
	fw_expect_free(fw, "GET", "/volumes/bad", 404);
	check_names(fw, NULL, "");
	/* A container whose volume cannot be made is not made either. */
	r = fw_req(fw, "POST", "/containers/create?name=c1",
	    "{\"Image\":\"alpine\",\"HostConfig\":{\"Binds\":[\"nv:/d\"]}}");
	assert_int_equal(r->status, 403);
	fw_resp_free(r);
	assert_int_equal(fw_count(fw, "create"), 0);
	fw_expect_free(fw, "GET", "/containers/c1/json", 404);
	check_names(fw, NULL, "");
	fw->fail_op = NULL;
	/* The backend's create fails: the volumes made for it go. */
	fw->fail_op = "create";
	fw->fail_status = 500;
	r = fw_req(fw, "POST", "/containers/create?name=c1",
	    "{\"Image\":\"alpine\",\"HostConfig\":{\"Binds\":[\"nv:/d\"]}}");
	assert_int_equal(r->status, 500);
	fw_resp_free(r);
	fw->fail_op = NULL;
	fw_settle(fw);
	assert_int_equal(fw_count(fw, "vol_remove"), 1);
	check_names(fw, NULL, "");
	/* A failed remove keeps the volume. */
	vol_create(fw, "{\"Name\":\"keep\"}", 201, NULL);
	fw->fail_op = "vol_remove";
	fw->fail_status = 500;
	fw_expect_free(fw, "DELETE", "/volumes/keep", 500);
	fw->fail_op = NULL;
	check_names(fw, NULL, "keep");
	fw_expect_free(fw, "DELETE", "/volumes/keep", 204);
	check_names(fw, NULL, "");
	/* A container cannot mount a volume another request is making. */
	fw->autocomplete = 0;
	slow = fw_send(fw, "POST", "/volumes/create", "{\"Name\":\"slow\"}");
	assert_non_null(fw_wait_call(fw, "vol_create"));
	r = fw_req(fw, "POST", "/containers/create",
	    "{\"Image\":\"alpine\",\"HostConfig\":{\"Binds\":[\"slow:/s\"]}}");
	assert_int_equal(r->status, 409);
	fw_resp_free(r);
	fw_complete_next(fw, "vol_create", 0, NULL);
	assert_int_equal(fw_await(fw, slow)->status, 201);
	fw_resp_free(slow);
	fw->autocomplete = 1;
	free(fw_create(
	    fw, "cs", "alpine", "\"HostConfig\":{\"Binds\":[\"slow:/s\"]}"));
	/* One interrupted by a restart is removed at start-up: what the
	 * store holds when the process dies during vol_create. */
	vol_create(fw, "{\"Name\":\"cut\"}", 201, NULL);
	assert_int_equal(store_volume_put(fw->b->store, "cut",
			     "{\"Name\":\"cut\",\"Driver\":\"local\","
			     "\"Sockerless\":{\"anonymous\":false,"
			     "\"creating\":true}}",
			     &e),
	    0);
	fw_free(fw, 1);
	*state = fw = fw_reopen(fw);
	fw_complete_next(fw, "vol_remove", 0, NULL);
	fw->autocomplete = 1;
	fw_expect_free(fw, "GET", "/volumes/cut", 404);
}

static void
test_persist_events_df(void **state)
{
	struct fw *fw = *state;
	struct fw_resp *r;
	const cJSON *v;
	char *id, *path;

	vol_create(fw, "{\"Name\":\"p1\",\"Labels\":{\"a\":\"b\"}}", 201, NULL);
	id = fw_create(
	    fw, "c1", "alpine", "\"HostConfig\":{\"Binds\":[\"p1:/p\"]}");
	fw_free(fw, 1);
	*state = fw = fw_reopen(fw);
	fw->autocomplete = 1;
	r = fw_expect(fw, "GET", "/volumes/p1", 200);
	assert_string_equal(json_str(json_obj(r->json, "Labels"), "a"), "b");
	fw_resp_free(r);
	fw_expect_free(fw, "DELETE", "/volumes/p1", 409);
	/* system df: UsageData with the in-use count. */
	r = fw_expect(fw, "GET", "/system/df", 200);
	v = cJSON_GetArrayItem(json_arr(r->json, "Volumes"), 0);
	assert_string_equal(json_str(v, "Name"), "p1");
	assert_int_equal(json_int(json_obj(v, "UsageData"), "Size", 0), -1);
	assert_int_equal(json_int(json_obj(v, "UsageData"), "RefCount", 0), 1);
	fw_resp_free(r);
	/* Events: create and destroy with the driver. */
	vol_create(fw, "{\"Name\":\"ev\"}", 201, NULL);
	fw_expect_free(fw, "DELETE", "/volumes/ev", 204);
	path = xasprintf("/events?since=1&until=%lld&filters=%%7B%%22type%%22"
			 "%%3A%%5B%%22volume%%22%%5D%%2C%%22volume%%22%%3A%%5B"
			 "%%22ev%%22%%5D%%7D",
	    (long long)str_now_ns() / 1000000000 + 1);
	r = fw_expect(fw, "GET", path, 200);
	free(path);
	if (strstr(r->body, "\"Action\":\"create\"") == NULL)
		fprintf(stderr, "events: %s\n", r->body);
	assert_non_null(strstr(r->body, "\"Action\":\"create\""));
	assert_non_null(strstr(r->body, "\"Action\":\"destroy\""));
	assert_non_null(strstr(r->body, "\"driver\":\"local\""));
	assert_null(strstr(r->body, "\"p1\""));
	fw_resp_free(r);
	free(id);
}

static void
test_capability(void **state)
{
	struct fw *fw = *state;
	struct fw_resp *r;

	fw_free(fw, 0);
	fake_caps[CAP_VOLUMES] = 0;
	fake_caps_why[CAP_VOLUMES] =
	    "Volumes need a file system: set fake.fs (docs/volumes.md).";
	*state = fw = fw_new();
	fw_add_image(fw, "docker.io/library/alpine:latest", "sh");
	fw->autocomplete = 1;
	/* Reads answer as for a backend with none. */
	check_names(fw, NULL, "");
	fw_expect_free(fw, "GET", "/volumes/x1", 404);
	r = fw_expect(fw, "POST", "/volumes/prune", 200);
	fw_resp_free(r);
	/* Bad input first, then the backend's own sentence. */
	vol_create(fw, "{\"Name\":\"a$\"}", 400, NULL);
	vol_create(fw, "{\"Name\":\"x1\"}", 501,
	    "This backend (fake) does not support volumes. Volumes need a "
	    "file system: set fake.fs (docs/volumes.md).");
	r = fw_expect(fw, "GET", "/capabilities", 200);
	assert_string_equal(json_str(json_obj(r->json, "reasons"), "volumes"),
	    "Volumes need a file system: set fake.fs (docs/volumes.md).");
	fw_resp_free(r);
	/* Mounts keep today's refusal. */
	r = fw_req(fw, "POST", "/containers/create",
	    "{\"Image\":\"alpine\",\"HostConfig\":{\"Tmpfs\":{\"/t\":\"\"}}}");
	assert_int_equal(r->status, 400);
	fw_resp_free(r);
	r = fw_req(fw, "POST", "/containers/create",
	    "{\"Image\":\"alpine\",\"HostConfig\":{\"Binds\":[\"v:/t\"]}}");
	assert_int_equal(r->status, 501);
	assert_non_null(strstr(fw_msg(r), "set fake.fs"));
	fw_resp_free(r);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(
		    test_create_inspect, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_list_filters, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_remove_prune, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_failures_leave_nothing, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_persist_events_df, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_capability, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
