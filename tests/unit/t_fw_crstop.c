/* dockerd's graceful stop through the agent (kit_stop_through_agent, the
 * stop of Cloud Run): the fake backend in agent mode, each workload under
 * the real sockerless-agent. The stop signal (StopSignal, docker stop -s)
 * reaches the workload, KILL follows after -t only if it still runs, and
 * the cloud's hard stop is used at once when the agent cannot be
 * reached. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "../../common/backend/backend_int.h"
#include "fake_backend.h"
#include "sockerless/json.h"
#include "sockerless/str.h"
#include "sockerless/xmalloc.h"

/* One backend for every test: the agent link's shutdown is for the
 * process (backend_agent_shutdown), as a backend has one life. */
static int
setup(void **state)
{
	struct fw *fw;

	fake_agent_mode = 1;
	fake_stop_kit = 1;
	fake_caps[CAP_EXEC] = fake_caps[CAP_SIGNALS] = 1;
	fake_caps[CAP_AGENT_REQUIRED] = 1;
	fw = fw_new();
	fw_add_image(fw, "docker.io/library/alpine:latest", "sh");
	*state = fw;
	return 0;
}

static int
teardown(void **state)
{
	fw_free(*state, 0);
	return 0;
}

static int
file_exists(struct fw *fw, void *arg)
{
	(void)fw;
	return access(arg, F_OK) == 0;
}

/* A running container named name whose sh sets traps, then touches a
 * file and loops: returned once the traps are set (a signal before
 * would end sh by itself). */
static char *
run_trapping(
    struct fw *fw, const char *name, const char *traps, const char *extra)
{
	char *ready = xasprintf("%s/%s.ready", fw->dir, name);
	char *body = xasprintf("\"Cmd\":[\"sh\",\"-c\",\"%s touch %s; "
			       "while :; do sleep 0.05; done\"]%s%s",
	    traps, ready, extra != NULL ? "," : "", extra != NULL ? extra : "");
	char *id = fw_create(fw, name, "alpine", body);

	fw_start(fw, id);
	assert_true(fw_run_until_fn(fw, file_exists, ready));
	free(ready);
	free(body);
	return id;
}

/* Stops with query q ("t=30") and returns the exit code /wait gave. */
static int
stop_code(struct fw *fw, const char *name, const char *q)
{
	char *wp = xasprintf("/containers/%s/wait", name);
	char *sp = xasprintf("/containers/%s/stop?%s", name, q);
	struct fw_resp *w = fw_send(fw, "POST", wp, NULL);
	int code;

	fw_expect_free(fw, "POST", sp, 204);
	fw_await(fw, w);
	code = (int)json_int(w->json, "StatusCode", -1);
	fw_resp_free(w);
	free(wp);
	free(sp);
	return code;
}

/* A workload that ends on TERM within the grace: its own code, and no
 * kill at all (the cloud's hard stop is not called). */
static void
test_term_within_grace(void **state)
{
	struct fw *fw = *state;
	int kills = fw_count(fw, "kill");
	char *id = run_trapping(fw, "tg", "trap 'exit 7' TERM;", NULL);

	assert_int_equal(stop_code(fw, "tg", "t=30"), 7);
	assert_int_equal(fw_count(fw, "kill"), kills);
	assert_string_equal(fw_status(fw, id), "exited");
	fw_expect_free(fw, "POST", "/containers/tg/stop", 304);
	free(id);
}

/* A workload that ignores TERM is killed after -t: 137, as dockerd,
 * through the agent (not the cloud's hard stop). */
static void
test_ignored_term_killed_after_timeout(void **state)
{
	struct fw *fw = *state;
	int kills = fw_count(fw, "kill");
	char *id = run_trapping(fw, "ig", "trap '' TERM;", NULL);

	assert_int_equal(stop_code(fw, "ig", "t=1"), 137);
	assert_int_equal(fw_count(fw, "kill"), kills);
	free(id);
}

/* The container's StopSignal, and docker stop -s over it. */
static void
test_stop_signal_and_s(void **state)
{
	struct fw *fw = *state;
	char *id = run_trapping(fw, "ss", "trap 'exit 6' USR2; trap '' TERM;",
	    "\"StopSignal\":\"SIGUSR2\"");

	assert_int_equal(stop_code(fw, "ss", "t=30"), 6);
	free(id);
	id = run_trapping(
	    fw, "sx", "trap 'exit 5' USR1; trap 'exit 9' TERM;", NULL);
	fw_expect_free(fw, "POST", "/containers/sx/stop?signal=NOPE", 400);
	assert_int_equal(stop_code(fw, "sx", "signal=SIGUSR1&t=30"), 5);
	free(id);
}

/* restart -t follows: the kill after the grace, then a new run. */
static void
test_restart_t(void **state)
{
	struct fw *fw = *state;
	char *id = run_trapping(fw, "rt", "trap '' TERM;", NULL);
	char *ready = xasprintf("%s/rt.ready", fw->dir);
	cJSON *o;

	/* The new run's traps are set when it touches the file again. */
	unlink(ready);
	fw_expect_free(fw, "POST", "/containers/rt/restart?t=1", 204);
	o = fw_inspect(fw, id);
	assert_true(json_bool(json_obj(o, "State"), "Running", 0));
	cJSON_Delete(o);
	assert_true(fw_run_until_fn(fw, file_exists, ready));
	free(ready);
	assert_int_equal(stop_code(fw, "rt", "t=0"), 137);
	free(id);
}

/* No link to the agent: the backend's hard stop at once. */
static void
test_no_agent_hard_stop(void **state)
{
	struct fw *fw = *state;
	int kills = fw_count(fw, "kill");
	char *id = run_trapping(fw, "na", "trap 'exit 7' TERM;", NULL);
	struct container *c = fw_find(fw, id);

	/* What a container started without the agent lacks. */
	cJSON_DeleteItemFromObjectCaseSensitive(
	    container_private(c), BACKEND_PRIV_AGENT_TOKEN);
	assert_int_equal(stop_code(fw, "na", "t=30"), 137);
	assert_int_equal(fw_count(fw, "kill"), kills + 1);
	free(id);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_term_within_grace),
		cmocka_unit_test(test_ignored_term_killed_after_timeout),
		cmocka_unit_test(test_stop_signal_and_s),
		cmocka_unit_test(test_restart_t),
		cmocka_unit_test(test_no_agent_hard_stop),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
