/* Restart policies and docker update through the fake backend: each
 * policy's decision, the back-off (read from the framework's record, not
 * from a clock), RestartCount, stop, kill and rm while restarting, wait,
 * a failed restart, a backend restart, and POST /containers/{id}/update. */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../../common/backend/backend_ctr.h"
#include "fake_backend.h"
#include "sockerless/json.h"
#include "sockerless/xmalloc.h"

#define IMG "docker.io/library/alpine:latest"

static int
setup(void **state)
{
	struct fw *fw = fw_new();

	fw_add_image(fw, IMG, "sh");
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

static char *
path_of(const char *id, const char *rest)
{
	return xasprintf("/containers/%s%s", id, rest);
}

/* A container with the policy (name, max), started. */
static char *
run_with(struct fw *fw, const char *name, int max)
{
	char *extra = xasprintf("\"HostConfig\":{\"RestartPolicy\":{\"Name\":"
				"\"%s\",\"MaximumRetryCount\":%d}}",
	    name, max);
	char *id = fw_create(fw, NULL, IMG, extra);

	free(extra);
	fw_start(fw, id);
	return id;
}

static int
is_running(struct fw *fw, void *arg)
{
	return strcmp(fw_status(fw, arg), "running") == 0;
}

static int
is_exited(struct fw *fw, void *arg)
{
	return strcmp(fw_status(fw, arg), "exited") == 0;
}

static int64_t
restart_count(struct fw *fw, const char *id)
{
	cJSON *o = fw_inspect(fw, id);
	int64_t n = json_int(o, "RestartCount", -1);

	cJSON_Delete(o);
	return n;
}

static int64_t
exit_code(struct fw *fw, const char *id)
{
	cJSON *o = fw_inspect(fw, id);
	int64_t n = json_int(json_obj(o, "State"), "ExitCode", -1);

	cJSON_Delete(o);
	return n;
}

/* The next back-off of c made long, so that the test acts while c is
 * restarting (the framework doubles it at the exit). */
static void
hold_next_restart(struct fw *fw, const char *id)
{
	backend_ctr_life(fw_find(fw, id))->restart_delay_ms = 30000;
}

static void
expect_create(struct fw *fw, const char *hc, int status, const char *msg)
{
	char *body = xasprintf("{\"Image\":\"%s\",\"HostConfig\":%s}", IMG, hc);
	struct fw_resp *r = fw_req(fw, "POST", "/containers/create", body);

	assert_int_equal(r->status, status);
	if (msg != NULL)
		assert_non_null(strstr(fw_msg(r), msg));
	fw_resp_free(r);
	free(body);
}

static void
test_policy_checked_at_create(void **state)
{
	struct fw *fw = *state;

	expect_create(fw,
	    "{\"RestartPolicy\":{\"Name\":\"always\",\"MaximumRetryCount\":2}}",
	    400,
	    "maximum retry count cannot be used with restart policy "
	    "'always'");
	expect_create(fw,
	    "{\"RestartPolicy\":{\"Name\":\"on-failure\","
	    "\"MaximumRetryCount\":-1}}",
	    400, "maximum retry count cannot be negative");
	expect_create(fw, "{\"RestartPolicy\":{\"Name\":\"sometimes\"}}", 400,
	    "invalid restart policy 'sometimes'");
	expect_create(fw, "{\"RestartPolicy\":{\"Name\":7}}", 400, "Name");
	expect_create(fw,
	    "{\"AutoRemove\":true,\"RestartPolicy\":{\"Name\":\"always\"}}",
	    400, "can't create 'AutoRemove' container with restart policy");
	expect_create(fw,
	    "{\"AutoRemove\":true,\"RestartPolicy\":{\"Name\":\"no\"}}", 201,
	    NULL);
	expect_create(
	    fw, "{\"RestartPolicy\":{\"Name\":\"unless-stopped\"}}", 201, NULL);
}

/* on-failure:2 and a workload that always fails: two restarts, then the
 * container stays exited with the code; the back-off doubles. */
static void
test_on_failure_count(void **state)
{
	struct fw *fw = *state;
	char *id = run_with(fw, "on-failure", 2);
	struct backend_waiters *w;
	cJSON *o;

	fw_exit(fw, id, 3);
	w = backend_ctr_life(fw_find(fw, id));
	assert_int_equal(w->restart_delay_ms, 100);
	o = fw_inspect(fw, id);
	assert_string_equal(
	    json_str(json_obj(o, "State"), "Status"), "restarting");
	assert_true(json_bool(json_obj(o, "State"), "Restarting", 0));
	assert_true(json_bool(json_obj(o, "State"), "Running", 0));
	assert_int_equal(json_int(json_obj(o, "State"), "ExitCode", -1), 3);
	cJSON_Delete(o);
	assert_true(fw_run_until_fn(fw, is_running, id));
	assert_int_equal(restart_count(fw, id), 1);
	fw_exit(fw, id, 3);
	assert_int_equal(w->restart_delay_ms, 200);
	assert_true(fw_run_until_fn(fw, is_running, id));
	assert_int_equal(restart_count(fw, id), 2);
	fw_exit(fw, id, 3);
	assert_string_equal(fw_status(fw, id), "exited");
	fw_run_for(fw, 300);
	assert_string_equal(fw_status(fw, id), "exited");
	assert_int_equal(restart_count(fw, id), 2);
	assert_int_equal(exit_code(fw, id), 3);
	assert_int_equal(fw_count(fw, "start"), 3);
	free(id);
}

static void
test_on_failure_exit_zero(void **state)
{
	struct fw *fw = *state;
	char *id = run_with(fw, "on-failure", 0);

	fw_exit(fw, id, 0);
	assert_string_equal(fw_status(fw, id), "exited");
	free(id);
	id = run_with(fw, "no", 0);
	fw_exit(fw, id, 1);
	assert_string_equal(fw_status(fw, id), "exited");
	assert_int_equal(fw_count(fw, "start"), 2);
	free(id);
}

/* A run of 10 s or more starts the back-off from 100 ms again. */
static void
test_backoff_reset_after_long_run(void **state)
{
	struct fw *fw = *state;
	char *id = run_with(fw, "always", 0);
	struct container *c = fw_find(fw, id);
	int64_t started = 0;

	backend_ctr_life(c)->restart_delay_ms = 1600;
	fw_exit(fw, id, 0);
	assert_int_equal(backend_ctr_life(c)->restart_delay_ms, 3200);
	assert_true(fw_run_until_fn(fw, is_running, id));
	str_time_parse(
	    json_str(json_obj(container_doc(c), "State"), "StartedAt"),
	    &started);
	backend_container_exited(
	    fw->b, c, 0, started + 11 * 1000000000LL, NULL);
	assert_int_equal(backend_ctr_life(c)->restart_delay_ms, 100);
	assert_true(fw_run_until_fn(fw, is_running, id));
	free(id);
}

/* always restarts on exit 0 too; docker stop ends the loop. */
static void
test_always_then_stop(void **state)
{
	struct fw *fw = *state;
	char *id = run_with(fw, "always", 0);
	char *p = path_of(id, "/stop");

	fw_exit(fw, id, 0);
	assert_true(fw_run_until_fn(fw, is_running, id));
	fw_expect_free(fw, "POST", p, 204);
	assert_string_equal(fw_status(fw, id), "exited");
	fw_run_for(fw, 300);
	assert_string_equal(fw_status(fw, id), "exited");
	assert_int_equal(fw_count(fw, "start"), 2);
	assert_int_equal(restart_count(fw, id), 1);
	free(p);
	free(id);
}

/* stop and kill between two runs answer at once and end the loop. */
static void
test_stop_kill_while_restarting(void **state)
{
	struct fw *fw = *state;
	const char *verbs[] = { "/stop", "/kill" };

	for (int i = 0; i < 2; i++) {
		char *id = run_with(fw, "always", 0);
		char *p = path_of(id, verbs[i]);
		int starts = fw_count(fw, "start");

		hold_next_restart(fw, id);
		fw_exit(fw, id, 5);
		assert_string_equal(fw_status(fw, id), "restarting");
		fw_expect_free(fw, "POST", p, 204);
		assert_string_equal(fw_status(fw, id), "exited");
		assert_int_equal(exit_code(fw, id), 5);
		assert_null(backend_ctr_life(fw_find(fw, id))->restart);
		assert_int_equal(fw_count(fw, "start"), starts);
		free(p);
		free(id);
	}
}

static void
test_rm_while_restarting(void **state)
{
	struct fw *fw = *state;
	char *id = run_with(fw, "unless-stopped", 0);
	char *p = path_of(id, ""), *pf = path_of(id, "?force=1");
	struct fw_resp *r;

	hold_next_restart(fw, id);
	fw_exit(fw, id, 1);
	r = fw_expect(fw, "DELETE", p, 409);
	assert_non_null(strstr(fw_msg(r),
	    "You cannot remove a restarting "
	    "container"));
	fw_resp_free(r);
	fw_expect_free(fw, "DELETE", pf, 204);
	assert_null(fw_find(fw, id));
	fw_run_for(fw, 100);
	assert_int_equal(fw_count(fw, "start"), 1);
	free(p);
	free(pf);
	free(id);
}

/* wait answers at the first exit; a wait sent while restarting waits
 * for the end of the loop. */
static void
test_wait(void **state)
{
	struct fw *fw = *state;
	char *id = run_with(fw, "always", 0);
	char *p = path_of(id, "/wait"), *ps = path_of(id, "/stop");
	struct fw_resp *w1 = fw_send(fw, "POST", p, NULL), *w2;

	fw_settle(fw);
	hold_next_restart(fw, id);
	fw_exit(fw, id, 4);
	fw_await(fw, w1);
	assert_int_equal(w1->status, 200);
	assert_int_equal(json_int(w1->json, "StatusCode", -1), 4);
	w2 = fw_send(fw, "POST", p, NULL);
	fw_run_for(fw, 200);
	assert_false(w2->done);
	fw_expect_free(fw, "POST", ps, 204);
	fw_await(fw, w2);
	assert_int_equal(json_int(w2->json, "StatusCode", -1), 4);
	fw_resp_free(w1);
	fw_resp_free(w2);
	free(p);
	free(ps);
	free(id);
}

/* A kill by the user marks an unless-stopped container stopped; a docker
 * start begins a new loop with RestartCount 0. */
static void
test_user_kill_and_start(void **state)
{
	struct fw *fw = *state;
	char *id = run_with(fw, "unless-stopped", 0);
	char *pk = path_of(id, "/kill?signal=TERM"),
	     *ps = path_of(id, "/start");

	fw_exit(fw, id, 2);
	assert_true(fw_run_until_fn(fw, is_running, id));
	assert_int_equal(restart_count(fw, id), 1);
	fw_expect_free(fw, "POST", pk, 204);
	fw_run_for(fw, 300);
	assert_string_equal(fw_status(fw, id), "exited");
	fw_expect_free(fw, "POST", ps, 204);
	assert_int_equal(restart_count(fw, id), 0);
	fw_exit(fw, id, 2); /* a new loop: restarts again */
	assert_string_equal(fw_status(fw, id), "restarting");
	assert_true(fw_run_until_fn(fw, is_running, id));
	free(pk);
	free(ps);
	free(id);
}

/* docker restart is the user's stop then start: the loop goes on after
 * it (the stop must not count as the user's stop of the new run). */
static void
test_docker_restart_keeps_policy(void **state)
{
	struct fw *fw = *state;
	char *id = run_with(fw, "always", 0);
	char *p = path_of(id, "/restart?t=1");

	fw_expect_free(fw, "POST", p, 204);
	assert_true(fw_run_until_fn(fw, is_running, id));
	fw_exit(fw, id, 1);
	assert_string_equal(fw_status(fw, id), "restarting");
	assert_true(fw_run_until_fn(fw, is_running, id));
	assert_int_equal(restart_count(fw, id), 1);
	free(p);
	free(id);
}

/* Container prune leaves a restarting container alone (dockerd counts it
 * as running). */
static void
test_prune_skips_restarting(void **state)
{
	struct fw *fw = *state;
	char *id = run_with(fw, "always", 0);
	struct fw_resp *r;

	hold_next_restart(fw, id);
	fw_exit(fw, id, 1);
	r = fw_req(fw, "POST", "/containers/prune", NULL);
	assert_int_equal(r->status, 200);
	fw_resp_free(r);
	assert_string_equal(fw_status(fw, id), "restarting");
	free(id);
}

/* A restart whose start fails ends the loop: exited, with the error. */
static void
test_restart_start_fails(void **state)
{
	struct fw *fw = *state;
	char *id = run_with(fw, "always", 0);
	cJSON *o;

	fw->fail_op = "start";
	fw->fail_status = 500;
	fw_exit(fw, id, 1);
	assert_string_equal(fw_status(fw, id), "restarting");
	assert_true(fw_run_until_fn(fw, is_exited, id));
	assert_int_equal(fw_count(fw, "start"), 2);
	o = fw_inspect(fw, id);
	assert_string_equal(json_str(json_obj(o, "State"), "Status"), "exited");
	assert_non_null(strstr(
	    json_str(json_obj(o, "State"), "Error"), "the cloud said no"));
	cJSON_Delete(o);
	fw->fail_op = NULL;
	free(id);
}

/* A container the policy was restarting when the backend stopped is
 * started by the next instance. */
static void
test_backend_restart(void **state)
{
	struct fw *fw = *state;
	char *id = run_with(fw, "always", 0);

	hold_next_restart(fw, id);
	fw_exit(fw, id, 1);
	assert_string_equal(fw_status(fw, id), "restarting");
	fw_free(fw, 1);
	fw = fw_reopen(fw);
	*state = fw;
	fw->autocomplete = 1;
	assert_string_equal(fw_status(fw, id), "restarting");
	assert_true(fw_run_until_fn(fw, is_running, id));
	assert_int_equal(restart_count(fw, id), 1);
	free(id);
}

/* The backend stopped while the policy's start was with the cloud: the
 * next instance leaves the task to the backend's reconcile (adopted if it
 * exists) instead of starting a second one. */
static void
test_backend_restart_during_start(void **state)
{
	struct fw *fw = *state;
	char *id = run_with(fw, "always", 0);
	struct container *c;
	cJSON *o;

	hold_next_restart(fw, id);
	fw_exit(fw, id, 1);
	c = fw_find(fw, id);
	json_set(container_private(c), BACKEND_PRIV_RESTART_STARTING,
	    cJSON_CreateTrue());
	backend_container_save(fw->b, c);
	fw_free(fw, 1);
	fw = fw_reopen(fw);
	*state = fw;
	fw->autocomplete = 1;
	fw_run_for(fw, 300);
	o = fw_inspect(fw, id);
	assert_string_equal(json_str(json_obj(o, "State"), "Status"), "exited");
	assert_non_null(strstr(json_str(json_obj(o, "State"), "Error"),
	    "the backend restarted while the restart policy"));
	cJSON_Delete(o);
	assert_int_equal(fw_count(fw, "start"), 0);
	free(id);
}

static void
expect_update(struct fw *fw, const char *id, const char *body, int status,
    const char *msg)
{
	char *p = path_of(id, "/update");
	struct fw_resp *r = fw_req(fw, "POST", p, body);

	assert_int_equal(r->status, status);
	if (msg != NULL)
		assert_non_null(strstr(fw_msg(r), msg));
	if (status == 200)
		assert_non_null(json_arr(r->json, "Warnings"));
	fw_resp_free(r);
	free(p);
}

static void
test_update(void **state)
{
	struct fw *fw = *state;
	char *id = fw_create(fw, NULL, IMG, NULL);
	char *rm =
	    fw_create(fw, NULL, IMG, "\"HostConfig\":{\"AutoRemove\":true}");
	cJSON *o;

	expect_update(fw, "nope", "{}", 404, NULL);
	expect_update(fw, id, "{", 400, NULL);
	expect_update(fw, id, "[]", 400, "object");
	expect_update(fw, id,
	    "{\"RestartPolicy\":{\"Name\":\"always\",\"MaximumRetryCount\":1}}",
	    400, "maximum retry count cannot be used");
	expect_update(fw, id, "{\"Memory\":67108864,\"NanoCpus\":1000000000}",
	    501, "(Memory, NanoCpus)");
	expect_update(fw, rm, "{\"RestartPolicy\":{\"Name\":\"always\"}}", 409,
	    "AutoRemove is enabled");
	/* The docker CLI's body: every field, the unset ones zero. */
	expect_update(fw, id,
	    "{\"CpuShares\":0,\"Memory\":0,\"CpusetCpus\":\"\","
	    "\"MemorySwappiness\":null,\"Ulimits\":null,"
	    "\"RestartPolicy\":{\"Name\":\"on-failure\","
	    "\"MaximumRetryCount\":2}}",
	    200, NULL);
	o = fw_inspect(fw, id);
	assert_string_equal(
	    json_str(
		json_obj(json_obj(o, "HostConfig"), "RestartPolicy"), "Name"),
	    "on-failure");
	cJSON_Delete(o);
	/* It applies: the next failure restarts. */
	fw_start(fw, id);
	fw_exit(fw, id, 9);
	assert_string_equal(fw_status(fw, id), "restarting");
	assert_true(fw_run_until_fn(fw, is_running, id));
	/* An update to "no" ends restarts from the next exit. */
	expect_update(
	    fw, id, "{\"RestartPolicy\":{\"Name\":\"no\"}}", 200, NULL);
	fw_exit(fw, id, 9);
	assert_string_equal(fw_status(fw, id), "exited");
	free(id);
	free(rm);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(
		    test_policy_checked_at_create, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_on_failure_count, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_on_failure_exit_zero, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_backoff_reset_after_long_run, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_always_then_stop, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_stop_kill_while_restarting, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_rm_while_restarting, setup, teardown),
		cmocka_unit_test_setup_teardown(test_wait, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_user_kill_and_start, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_docker_restart_keeps_policy, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_prune_skips_restarting, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_restart_start_fails, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_backend_restart, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_backend_restart_during_start, setup, teardown),
		cmocka_unit_test_setup_teardown(test_update, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
