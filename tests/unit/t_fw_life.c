/* The framework's container life cycle through the fake backend:
 * create, start, stop, kill, wait, remove, restart and prune, and what a
 * client gets when a backend operation fails. */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "fake_backend.h"
#include "sockerless/json.h"
#include "sockerless/log.h"
#include "sockerless/xmalloc.h"

#define IMG "docker.io/library/alpine:latest"

static int
setup(void **state)
{
	struct fw *fw = fw_new();

	fw_add_image(fw, IMG, "sh");
	*state = fw;
	return 0;
}

static int
teardown(void **state)
{
	fw_free(*state, 0);
	return 0;
}

/* "/containers/<id><rest>" */
static char *
path_of(const char *id, const char *rest)
{
	return xasprintf("/containers/%s%s", id, rest);
}

/* The log names the program after backend_new has returned (it kept a
 * name backend_new had freed: the ASan backend aborted at its first log
 * line). An error line is written whatever the test's log level. */
static void
test_log_after_backend_new(void **state)
{
	(void)state;
	log_error("t_fw_life: the log still names its program");
}

static void
test_create_waits_for_the_backend(void **state)
{
	struct fw *fw = *state;
	struct fw_resp *r;
	cJSON *o;

	r = fw_send(fw, "POST", "/containers/create?name=web",
	    "{\"Image\":\"alpine\",\"Labels\":{\"a\":\"1\"}}");
	assert_non_null(fw_wait_call(fw, "create"));
	fw_settle(fw);
	assert_false(r->done); /* answered only once the backend has */
	fw_complete_next(fw, "create", 0, NULL);
	fw_await(fw, r);
	assert_int_equal(r->status, 201);
	assert_int_equal(strlen(json_str(r->json, "Id")), 64);
	o = fw_inspect(fw, "web");
	assert_non_null(o);
	assert_string_equal(json_str(o, "Name"), "/web");
	assert_string_equal(
	    json_str(json_obj(o, "State"), "Status"), "created");
	/* The image's Cmd and labels merge into the config. */
	assert_string_equal(
	    json_str(json_obj(json_obj(o, "Config"), "Labels"), "from"),
	    "image");
	assert_null(json_obj(o, "Sockerless")); /* private stays private */
	cJSON_Delete(o);
	fw_resp_free(r);
}

static void
test_create_failure_leaves_nothing(void **state)
{
	struct fw *fw = *state;
	struct fw_resp *r;

	r = fw_send(fw, "POST", "/containers/create?name=badx",
	    "{\"Image\":\"alpine\"}");
	fw_complete_next(fw, "create", 503, "no capacity in the region");
	fw_await(fw, r);
	assert_int_equal(r->status, 503);
	assert_string_equal(fw_msg(r), "no capacity in the region");
	fw_resp_free(r);
	/* The name is free again and the container unknown. */
	fw_expect_free(fw, "GET", "/containers/badx/json", 404);
	free(fw_create(fw, "badx", "alpine", NULL));
}

static void
test_create_bad_input(void **state)
{
	struct fw *fw = *state;
	struct fw_resp *r;

	r = fw_req(fw, "POST", "/containers/create", "{\"Image\":\"nope\"}");
	assert_int_equal(r->status, 404);
	assert_string_equal(fw_msg(r), "No such image: nope");
	fw_resp_free(r);
	r = fw_req(fw, "POST", "/containers/create", "{}");
	assert_int_equal(r->status, 400);
	fw_resp_free(r);
	r = fw_req(fw, "POST", "/containers/create", "[1]");
	assert_int_equal(r->status, 400);
	fw_resp_free(r);
	r = fw_req(fw, "POST", "/containers/create", "{\"Image\":");
	assert_int_equal(r->status, 400);
	fw_resp_free(r);
	r = fw_req(fw, "POST", "/containers/create",
	    "{\"Image\":\"alpine\",\"Labels\":{\"a\":1}}");
	assert_int_equal(r->status, 400);
	fw_resp_free(r);
	r = fw_req(fw, "POST", "/containers/create",
	    "{\"Image\":\"alpine\",\"HostConfig\":{\"Memory\":-5}}");
	assert_int_equal(r->status, 400);
	fw_resp_free(r);
	r = fw_req(fw, "POST", "/containers/create",
	    "{\"Image\":\"alpine\",\"ExposedPorts\":{\"99999/tcp\":{}}}");
	assert_int_equal(r->status, 400);
	fw_resp_free(r);
	assert_int_equal(fw_count(fw, "create"), 0);
}

static void
test_start_stop_exit(void **state)
{
	struct fw *fw = *state;
	char *id = fw_create(fw, "s1", "alpine", NULL);
	char *p = path_of(id, "/stop?t=3");
	struct fake_call *call;
	struct fw_resp *r;

	fw_start(fw, id);
	assert_string_equal(fw_status(fw, id), "running");
	fw_expect_free(fw, "POST", "/containers/s1/start", 304);
	r = fw_send(fw, "POST", p, NULL);
	call = fw_wait_call(fw, "stop");
	assert_non_null(call);
	assert_int_equal(call->arg, 3);
	fw_complete(fw, call, 0, NULL);
	fw_settle(fw);
	/* A stop answers once the container has really exited. */
	assert_false(r->done);
	fw_exit(fw, id, 143);
	fw_await(fw, r);
	assert_int_equal(r->status, 204);
	fw_resp_free(r);
	assert_string_equal(fw_status(fw, id), "exited");
	fw_expect_free(fw, "POST", "/containers/s1/stop", 304);
	free(p);
	free(id);
}

static void
test_stop_failure(void **state)
{
	struct fw *fw = *state;
	char *id = fw_create(fw, "s2", "alpine", NULL);
	struct fw_resp *r;

	fw_start(fw, id);
	r = fw_send(fw, "POST", "/containers/s2/stop", NULL);
	fw_complete_next(fw, "stop", 502, "the cloud is down");
	fw_await(fw, r);
	assert_int_equal(r->status, 502);
	assert_string_equal(fw_msg(r), "the cloud is down");
	fw_resp_free(r);
	assert_string_equal(fw_status(fw, id), "running");
	r = fw_req(fw, "POST", "/containers/s2/stop?t=abc", NULL);
	assert_int_equal(r->status, 400);
	assert_non_null(strstr(fw_msg(r), "invalid value for t"));
	fw_resp_free(r);
	fw_exit(fw, id, 0);
	free(id);
}

static void
test_kill(void **state)
{
	struct fw *fw = *state;
	char *id = fw_create(fw, "k1", "alpine", NULL);
	struct fake_call *call;
	struct fw_resp *r;

	fw_expect_free(fw, "POST", "/containers/k1/kill", 409);
	fw_start(fw, id);
	fw_expect_free(fw, "POST", "/containers/k1/kill?signal=NOPE", 400);
	/* Without the signals capability only KILL and TERM go. */
	r = fw_expect(fw, "POST", "/containers/k1/kill?signal=HUP", 501);
	assert_non_null(strstr(fw_msg(r), "does not support"));
	fw_resp_free(r);
	/* No agent: TERM goes through the cloud's kill. */
	r = fw_send(fw, "POST", "/containers/k1/kill?signal=SIGTERM", NULL);
	call = fw_wait_call(fw, "kill");
	assert_int_equal(call->arg, SIGTERM);
	fw_complete(fw, call, 0, NULL);
	fw_await(fw, r);
	assert_int_equal(r->status, 204);
	fw_resp_free(r);
	r = fw_send(fw, "POST", "/containers/k1/kill", NULL);
	call = fw_wait_call(fw, "kill");
	assert_int_equal(call->arg, SIGKILL);
	fw_complete(fw, call, 500, "kill refused");
	fw_await(fw, r);
	assert_int_equal(r->status, 500);
	fw_resp_free(r);
	fw_exit(fw, id, 137);
	assert_string_equal(fw_status(fw, id), "exited");
	free(id);
}

static void
test_wait_conditions(void **state)
{
	struct fw *fw = *state;
	char *id = fw_create(fw, "w1", "alpine", NULL);
	struct fw_resp *r, *next, *gone;
	cJSON *o;

	/* A created container that never ran: not-running holds now. */
	r = fw_expect(fw, "POST", "/containers/w1/wait", 200);
	assert_int_equal(json_int(r->json, "StatusCode", -1), 0);
	fw_resp_free(r);
	fw_expect_free(fw, "POST", "/containers/w1/wait?condition=bogus", 400);
	fw_start(fw, id);
	r = fw_send(fw, "POST", "/containers/w1/wait", NULL);
	next = fw_send(
	    fw, "POST", "/containers/w1/wait?condition=next-exit", NULL);
	gone =
	    fw_send(fw, "POST", "/containers/w1/wait?condition=removed", NULL);
	o = fw_inspect(fw, id); /* a round trip: the waits are in */
	cJSON_Delete(o);
	assert_false(r->done || next->done || gone->done);
	fw_exit(fw, id, 3);
	fw_await(fw, r);
	fw_await(fw, next);
	assert_int_equal(json_int(r->json, "StatusCode", -1), 3);
	assert_int_equal(json_int(next->json, "StatusCode", -1), 3);
	assert_true(cJSON_IsNull(cJSON_GetObjectItem(r->json, "Error")));
	fw_settle(fw);
	assert_false(gone->done);
	fw->autocomplete = 1;
	fw_expect_free(fw, "DELETE", "/containers/w1", 204);
	fw_await(fw, gone);
	assert_int_equal(gone->status, 200);
	fw_resp_free(r);
	fw_resp_free(next);
	fw_resp_free(gone);
	fw_expect_free(fw, "POST", "/containers/w1/wait", 404);
	free(id);
}

static void
test_remove(void **state)
{
	struct fw *fw = *state;
	char *id = fw_create(fw, "r1", "alpine", NULL);
	struct fw_resp *r;

	fw_start(fw, id);
	r = fw_expect(fw, "DELETE", "/containers/r1", 409);
	assert_non_null(strstr(fw_msg(r), "container is running"));
	fw_resp_free(r);
	/* -f kills first; a failed kill leaves the container running. */
	r = fw_send(fw, "DELETE", "/containers/r1?force=1", NULL);
	fw_complete_next(fw, "kill", 500, "kill refused");
	fw_await(fw, r);
	assert_int_equal(r->status, 500);
	fw_resp_free(r);
	assert_string_equal(fw_status(fw, id), "running");
	r = fw_send(fw, "DELETE", "/containers/r1?force=1", NULL);
	fw_complete_next(fw, "kill", 0, NULL);
	/* A second removal meanwhile is refused. */
	fw_complete_next(fw, "remove", 0, NULL);
	fw_await(fw, r);
	assert_int_equal(r->status, 204);
	fw_resp_free(r);
	fw_expect_free(fw, "GET", "/containers/r1/json", 404);
	fw_expect_free(fw, "DELETE", "/containers/r1", 404);
	free(id);
}

static void
test_remove_failure_marks_dead(void **state)
{
	struct fw *fw = *state;
	char *id = fw_create(fw, "r2", "alpine", NULL);
	struct fw_resp *r, *again;

	r = fw_send(fw, "DELETE", "/containers/r2", NULL);
	assert_non_null(fw_wait_call(fw, "remove"));
	again = fw_req(fw, "DELETE", "/containers/r2", NULL);
	assert_int_equal(again->status, 409);
	assert_non_null(strstr(fw_msg(again), "already in progress"));
	fw_resp_free(again);
	fw_complete_next(fw, "remove", 500, "the task would not go");
	fw_await(fw, r);
	assert_int_equal(r->status, 500);
	fw_resp_free(r);
	assert_string_equal(fw_status(fw, id), "dead");
	/* docker rm retries a Dead container. */
	fw->autocomplete = 1;
	fw_expect_free(fw, "DELETE", "/containers/r2", 204);
	free(id);
}

static void
test_restart(void **state)
{
	struct fw *fw = *state;
	char *id = fw_create(fw, "rs", "alpine", NULL);
	struct fw_resp *r;

	/* Not running: restart is a start. */
	fw->autocomplete = 1;
	fw_expect_free(fw, "POST", "/containers/rs/restart", 204);
	fw->autocomplete = 0;
	assert_string_equal(fw_status(fw, id), "running");
	r = fw_send(fw, "POST", "/containers/rs/restart?t=0", NULL);
	fw_complete_next(fw, "stop", 0, NULL);
	fw_exit(fw, id, 137);
	fw_complete_next(fw, "start", 0, NULL);
	fw_await(fw, r);
	assert_int_equal(r->status, 204);
	fw_resp_free(r);
	assert_string_equal(fw_status(fw, id), "running");
	assert_int_equal(fw_count(fw, "start"), 2);
	fw_expect_free(fw, "POST", "/containers/rs/restart?t=x", 400);
	fw_exit(fw, id, 0);
	free(id);
}

static void
test_start_failure_and_autoremove(void **state)
{
	struct fw *fw = *state;
	char *id = fw_create(fw, "fx1", "alpine", NULL);
	char *rm = fw_create(
	    fw, "fx2", "alpine", "\"HostConfig\":{\"AutoRemove\":true}");
	struct fw_resp *r, *gone;
	cJSON *o;

	r = fw_send(fw, "POST", "/containers/fx1/start", NULL);
	fw_complete_next(fw, "start", 400, "the image has no command");
	fw_await(fw, r);
	assert_int_equal(r->status, 400);
	fw_resp_free(r);
	o = fw_inspect(fw, id);
	assert_string_equal(
	    json_str(json_obj(o, "State"), "Status"), "created");
	assert_string_equal(json_str(json_obj(o, "State"), "Error"),
	    "the image has no command");
	cJSON_Delete(o);
	/* --rm: a failed start removes the container, ending the wait. */
	gone =
	    fw_send(fw, "POST", "/containers/fx2/wait?condition=removed", NULL);
	r = fw_send(fw, "POST", "/containers/fx2/start", NULL);
	fw_complete_next(fw, "start", 500, "boom");
	fw_await(fw, r);
	assert_int_equal(r->status, 500);
	fw_complete_next(fw, "remove", 0, NULL);
	fw_await(fw, gone);
	assert_int_equal(gone->status, 200);
	fw_expect_free(fw, "GET", "/containers/fx2/json", 404);
	fw_resp_free(r);
	fw_resp_free(gone);
	free(id);
	free(rm);
}

static void
test_autoremove_on_exit(void **state)
{
	struct fw *fw = *state;
	char *id = fw_create(
	    fw, "ar", "alpine", "\"HostConfig\":{\"AutoRemove\":true}");

	fw_start(fw, id);
	fw_exit(fw, id, 0);
	fw_complete_next(fw, "remove", 0, NULL);
	fw_expect_free(fw, "GET", "/containers/ar/json", 404);
	free(id);
}

static void
test_prune(void **state)
{
	struct fw *fw = *state;
	char *a = fw_create(fw, "pa", "alpine", "\"Labels\":{\"keep\":\"no\"}");
	char *b =
	    fw_create(fw, "pb", "alpine", "\"Labels\":{\"keep\":\"yes\"}");
	char *c = fw_create(fw, "pc", "alpine", NULL);
	struct fw_resp *r;

	fw_start(fw, c);
	fw->autocomplete = 1;
	r = fw_expect(fw, "POST",
	    "/containers/prune?filters=%7B%22label%22%3A%5B%22keep%3Dno%22%5D%7D",
	    200);
	assert_int_equal(
	    cJSON_GetArraySize(json_arr(r->json, "ContainersDeleted")), 1);
	fw_resp_free(r);
	fw_settle(fw);
	fw_expect_free(fw, "GET", "/containers/pa/json", 404);
	r = fw_expect(fw, "POST", "/containers/prune", 200);
	/* The running one stays. */
	assert_int_equal(
	    cJSON_GetArraySize(json_arr(r->json, "ContainersDeleted")), 1);
	fw_resp_free(r);
	fw_settle(fw);
	r = fw_expect(fw, "POST", "/containers/prune", 200);
	assert_true(
	    cJSON_IsNull(cJSON_GetObjectItem(r->json, "ContainersDeleted")));
	fw_resp_free(r);
	fw_expect_free(fw, "POST", "/containers/prune?filters=nope", 400);
	fw_exit(fw, c, 0);
	free(a);
	free(b);
	free(c);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(
		    test_log_after_backend_new, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_create_waits_for_the_backend, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_create_failure_leaves_nothing, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_create_bad_input, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_start_stop_exit, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_stop_failure, setup, teardown),
		cmocka_unit_test_setup_teardown(test_kill, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_wait_conditions, setup, teardown),
		cmocka_unit_test_setup_teardown(test_remove, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_remove_failure_marks_dead, setup, teardown),
		cmocka_unit_test_setup_teardown(test_restart, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_start_failure_and_autoremove, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_autoremove_on_exit, setup, teardown),
		cmocka_unit_test_setup_teardown(test_prune, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
