/* The framework's system routes, events, images and logs through the fake
 * backend. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "fake_backend.h"
#include "sockerless/json.h"
#include "sockerless/str.h"
#include "sockerless/xmalloc.h"

static const char *alpine_id;

static int
setup(void **state)
{
	struct fw *fw = fw_new();

	alpine_id = fw_add_image(fw, "docker.io/library/alpine:latest", "sh");
	fw->autocomplete = 1;
	*state = fw;
	return 0;
}

static int
teardown(void **state)
{
	fw_free(*state, 0);
	return 0;
}

static void
test_system(void **state)
{
	struct fw *fw = *state;
	struct fw_resp *r;
	char *id = fw_create(fw, "sys1", "alpine", NULL);

	fw_start(fw, id);
	r = fw_expect(fw, "GET", "/info", 200);
	assert_string_equal(json_str(r->json, "OperatingSystem"),
	    "the framework's unit-test backend");
	assert_string_equal(json_str(r->json, "FakeNote"), "from ops->info");
	assert_int_equal(json_int(r->json, "Containers", -1), 1);
	assert_int_equal(json_int(r->json, "ContainersRunning", -1), 1);
	assert_int_equal(json_int(r->json, "Images", -1), 1);
	fw_resp_free(r);
	r = fw_expect(fw, "GET", "/version", 200);
	assert_non_null(json_str(r->json, "Version"));
	fw_resp_free(r);
	r = fw_expect(fw, "GET", "/capabilities", 200);
	assert_string_equal(json_str(r->json, "backend"), "fake");
	assert_true(json_bool(json_obj(r->json, "capabilities"), "logs", 0));
	fw_resp_free(r);
	r = fw_expect(fw, "GET", "/system/df", 200);
	assert_int_equal(
	    cJSON_GetArraySize(json_arr(r->json, "Containers")), 1);
	assert_int_equal(cJSON_GetArraySize(json_arr(r->json, "Images")), 1);
	fw_resp_free(r);
	r = fw_expect(fw, "GET", "/_ping", 200);
	assert_string_equal(r->body, "OK");
	fw_resp_free(r);
	/* A Docker route the framework has not built, and a stranger. */
	r = fw_expect(fw, "POST", "/build/prune", 501);
	assert_string_equal(fw_msg(r),
	    "This backend (fake) does not implement POST /build/prune yet.");
	fw_resp_free(r);
	fw_exit(fw, id, 0);
	free(id);
}

/* The actions of the recorded events matching filters (JSON or NULL),
 * space-separated; a new string. */
static char *
events(struct fw *fw, const char *filters)
{
	char *enc = filters != NULL ? fw_urlenc(filters) : NULL;
	char *path = xasprintf("/events?since=1&until=%lld%s%s",
	    (long long)str_now_ns() / 1000000000LL + 2,
	    enc != NULL ? "&filters=" : "", enc != NULL ? enc : "");
	struct fw_resp *r = fw_expect(fw, "GET", path, 200);
	char *out = xstrdup(""), *line, *save = NULL;

	for (line = strtok_r(r->body, "\n", &save); line != NULL;
	     line = strtok_r(NULL, "\n", &save)) {
		cJSON *ev = cJSON_Parse(line);
		char *o = xasprintf(
		    "%s%s%s", out, out[0] ? " " : "", json_str(ev, "Action"));
		free(out);
		out = o;
		cJSON_Delete(ev);
	}
	fw_resp_free(r);
	free(path);
	free(enc);
	return out;
}

static void
check_events(struct fw *fw, const char *filters, const char *want)
{
	char *got = events(fw, filters);

	if (strcmp(got, want) != 0)
		fprintf(stderr, "events %s: got \"%s\"\n",
		    filters ? filters : "", got);
	assert_string_equal(got, want);
	free(got);
}

static void
test_events(void **state)
{
	struct fw *fw = *state;
	char *id = fw_create(fw, "ev1", "alpine", "\"Labels\":{\"k\":\"v\"}");
	char *p;

	fw_start(fw, id);
	p = xasprintf("/containers/%s/stop", id);
	/* The fake cloud's stop ends the workload. */
	fw_expect_free(fw, "POST", p, 204);
	free(p);
	fw_expect_free(fw, "POST", "/containers/ev1/rename?name=ev2", 204);
	fw_expect_free(fw, "DELETE", "/containers/ev2", 204);
	check_events(fw, "{\"type\":[\"container\"]}",
	    "create start kill die stop rename destroy");
	check_events(fw, "{\"event\":[\"start\",\"die\"]}", "start die");
	check_events(fw, "{\"label\":[\"k=v\"],\"type\":[\"container\"]}",
	    "create start kill die stop rename destroy");
	check_events(fw, "{\"container\":[\"nope\"]}", "");
	fw_expect_free(fw, "GET", "/events?filters=%7Bx", 400);
	fw_expect_free(fw, "GET", "/events?since=yesterday", 400);
	free(id);
}

static void
test_images(void **state)
{
	struct fw *fw = *state;
	struct fw_resp *r;
	char *p, *id;

	r = fw_expect(fw, "GET", "/images/json", 200);
	assert_int_equal(cJSON_GetArraySize(r->json), 1);
	fw_resp_free(r);
	r = fw_expect(fw, "GET", "/images/alpine/json", 200);
	assert_string_equal(json_str(r->json, "Id"), alpine_id);
	assert_null(json_obj(r->json, "Sockerless"));
	fw_resp_free(r);
	p = xasprintf("/images/%.19s/json", alpine_id);
	fw_expect_free(fw, "GET", p, 200); /* an id prefix */
	free(p);
	fw_expect_free(fw, "GET", "/images/nope/json", 404);
	fw_expect_free(fw, "POST", "/images/alpine/tag?repo=mine&tag=v1", 201);
	fw_expect_free(fw, "POST", "/images/alpine/tag?repo=Bad%20Name", 400);
	fw_expect_free(fw, "POST", "/images/nope/tag?repo=x", 404);
	r = fw_expect(fw, "GET", "/images/mine:v1/json", 200);
	assert_int_equal(cJSON_GetArraySize(json_arr(r->json, "RepoTags")), 2);
	fw_resp_free(r);
	r = fw_expect(fw, "GET", "/images/mine:v1/history", 200);
	assert_true(cJSON_IsArray(r->json));
	fw_resp_free(r);
	fw_expect_free(fw, "GET", "/images/nope/history", 404);
	/* In use: untagging one of two names works, deleting does not. */
	id = fw_create(fw, "user", "alpine", NULL);
	fw_expect_free(fw, "DELETE", "/images/mine:v1", 200);
	r = fw_expect(fw, "DELETE", "/images/alpine", 409);
	assert_non_null(strstr(fw_msg(r), "is using its referenced image"));
	fw_resp_free(r);
	fw_expect_free(fw, "DELETE", "/containers/user", 204);
	r = fw_expect(fw, "DELETE", "/images/alpine", 200);
	assert_non_null(strstr(r->body, "Deleted"));
	fw_resp_free(r);
	fw_expect_free(fw, "GET", "/images/alpine/json", 404);
	fw_add_image(fw, "docker.io/library/old:1", "sh");
	r = fw_expect(fw, "POST",
	    "/images/prune?filters=%7B%22dangling%22%3A%5B%22false%22%5D%7D",
	    200);
	fw_resp_free(r);
	fw_expect_free(fw, "POST", "/images/prune?filters=%7Bx", 400);
	/* No X-Registry-Auth: refused before the lookup, as dockerd does. */
	fw_expect_free(fw, "POST", "/images/nope/push", 400);
	fw_expect_free(fw, "GET", "/images/nope/get", 404);
	fw_expect_free(fw, "POST", "/images/create", 400);
	fw_expect_free(fw, "POST", "/images/create?fromSrc=-", 501);
	free(id);
}

/* Counts the multiplexed frames of a log body and checks their streams
 * alternate stdout, stderr. */
static int
frames(const struct fw_resp *r)
{
	size_t off = 0;
	int n = 0;

	while (off + 8 <= r->len) {
		const unsigned char *h = (const unsigned char *)r->body + off;
		size_t len = (size_t)h[4] << 24 | (size_t)h[5] << 16 |
		    (size_t)h[6] << 8 | h[7];
		assert_int_equal(h[0], n % 2 == 0 ? 1 : 2);
		off += 8 + len;
		n++;
	}
	assert_int_equal(off, r->len);
	return n;
}

static void
test_logs(void **state)
{
	struct fw *fw = *state;
	char *id = fw_create(fw, "lg", "alpine", NULL);
	char *none = fw_create(fw, "lgnone", "alpine",
	    "\"HostConfig\":{\"LogConfig\":{\"Type\":\"none\"}}");
	struct fw_resp *r;

	cJSON_AddItemToArray(fw->logs, cJSON_CreateString("one"));
	cJSON_AddItemToArray(fw->logs, cJSON_CreateString("two"));
	cJSON_AddItemToArray(fw->logs, cJSON_CreateString("three"));
	fw_start(fw, id);
	fw_exit(fw, id, 0);
	r = fw_expect(fw, "GET", "/containers/lg/logs?stdout=1&stderr=1", 200);
	assert_int_equal(frames(r), 3);
	assert_non_null(memmem(r->body, r->len, "two", 3));
	fw_resp_free(r);
	r = fw_expect(fw, "GET",
	    "/containers/lg/logs?stdout=1&stderr=1&timestamps=1&tail=1", 200);
	assert_int_equal(frames(r), 1);
	assert_non_null(memmem(r->body, r->len, "2023-11-14T22:13:22", 19));
	fw_resp_free(r);
	r = fw_expect(
	    fw, "GET", "/containers/lg/logs?stdout=1&stderr=1&follow=1", 200);
	assert_int_equal(frames(r), 3);
	fw_resp_free(r);
	fw_expect_free(fw, "GET", "/containers/lg/logs?stdout=1&tail=x", 400);
	fw_expect_free(fw, "GET", "/containers/lg/logs?stdout=1&since=x", 400);
	fw_expect_free(fw, "GET", "/containers/lgnone/logs?stdout=1", 501);
	fw_expect_free(fw, "GET", "/containers/nope/logs?stdout=1", 404);
	fw->no_logs = 1;
	r = fw_req(fw, "GET", "/containers/lg/logs?stdout=1", NULL);
	assert_true(r->status == 500 || r->status == 200);
	fw_resp_free(r);
	free(id);
	free(none);
}

/* Follow and the read-only attach stream until the workload ends; the
 * fake ends it once its output has been read. */
static void
test_logs_follow_and_attach(void **state)
{
	struct fw *fw = *state;
	char *id = fw_create(fw, "fl", "alpine", NULL);
	char *id2 = fw_create(fw, "fl2", "alpine", NULL);
	struct fw_resp *r;
	char *out;
	size_t len;
	int status;

	backend_set_logs_grace_ms(fw->b, 0);
	cJSON_AddItemToArray(fw->logs, cJSON_CreateString("one"));
	cJSON_AddItemToArray(fw->logs, cJSON_CreateString("two"));
	fw_start(fw, id);
	fw_start(fw, id2);
	fw->exit_on_fetch = 1;
	/* Two failed reads that pass (503) are retried from the cursor. */
	fw->logs_503 = 2;
	r = fw_expect(fw, "GET",
	    "/containers/fl/logs?stdout=1&stderr=1&follow=1&since=1", 200);
	assert_int_equal(frames(r), 2);
	fw_resp_free(r);
	assert_string_equal(fw_status(fw, id), "exited");
	out = fw_hijack(fw, "POST",
	    "/containers/fl2/attach?stream=1&stdout=1&stderr=1&logs=1", NULL,
	    NULL, &status, &len);
	assert_int_equal(status, 101);
	assert_non_null(memmem(out, len, "one", 3));
	assert_non_null(memmem(out, len, "two", 3));
	free(out);
	assert_string_equal(fw_status(fw, id2), "exited");
	/* Attaching needs something to attach. */
	fw_expect_free(fw, "GET", "/containers/fl/logs", 400);
	out = fw_hijack(fw, "POST",
	    "/containers/fl2/attach?stream=1&stdout=1&detachKeys=ctrl-", NULL,
	    NULL, &status, &len);
	assert_int_equal(status, 400);
	free(out);
	out = fw_hijack(fw, "POST", "/containers/fl2/attach?stream=1&stdin=1",
	    NULL, NULL, &status, &len);
	assert_int_equal(status, 501);
	free(out);
	free(id);
	free(id2);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_system, setup, teardown),
		cmocka_unit_test_setup_teardown(test_events, setup, teardown),
		cmocka_unit_test_setup_teardown(test_images, setup, teardown),
		cmocka_unit_test_setup_teardown(test_logs, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_logs_follow_and_attach, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
