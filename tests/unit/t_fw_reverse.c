/* The framework's reverse agent mode (common/backend/backend_agent_rev.c)
 * through the fake backend with .agent_reverse: each workload is a child
 * of the test running the real sockerless-agent, which calls back on the
 * backend's listener (127.0.0.1, SK_TEST_PORT_BASE + 90..99). Run and exit
 * code, exec, attach before start, files before start, health, a backend
 * restart, a wrong token, and the keys' start-up errors. Nothing here
 * depends on the link's handshake bytes: only on aglink's API and the real
 * agent. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "fake_backend.h"
#include "sockerless/json.h"
#include "sockerless/str.h"
#include "sockerless/xmalloc.h"

static int
setup(void **state)
{
	struct fw *fw;

	fake_agent_mode = fake_agent_reverse = 1;
	fake_caps[CAP_EXEC] = fake_caps[CAP_ATTACH] = 1;
	fake_caps[CAP_ARCHIVE] = fake_caps[CAP_TOP] = 1;
	fake_caps[CAP_SIGNALS] = fake_caps[CAP_AGENT_REQUIRED] = 1;
	fake_caps[CAP_STATS] = fake_caps[CAP_PAUSE] = 1;
	fw = fw_new();
	fw_add_image(fw, "docker.io/library/alpine:latest", "sh");
	*state = fw;
	return 0;
}

static int
teardown(void **state)
{
	if (*state != NULL)
		fw_free(*state, 0);
	fake_callback_timeout = 0;
	fake_agent_bad_token = 0;
	return 0;
}

static char *
create_sh(
    struct fw *fw, const char *name, const char *script, const char *extra)
{
	char *cmd = xasprintf("\"Cmd\":[\"sh\",\"-c\",\"%s\"]%s%s", script,
	    extra != NULL ? "," : "", extra != NULL ? extra : "");
	char *id = fw_create(fw, name, "alpine", cmd);

	free(cmd);
	return id;
}

static char *
run_sh(struct fw *fw, const char *name, const char *script, const char *extra)
{
	char *id = create_sh(fw, name, script, extra);

	fw_start(fw, id);
	return id;
}

static int
status_is_exited(struct fw *fw, void *arg)
{
	return strcmp(fw_status(fw, arg), "exited") == 0;
}

/* Runs an exec to its end; its multiplexed output in a new buffer of
 * *len bytes, *code its exit code. */
static char *
exec_run(struct fw *fw, const char *ref, const char *cmd_json, int *code,
    size_t *len)
{
	char *p = xasprintf("/containers/%s/exec", ref), *body, *out;
	struct fw_resp *r;
	int status;

	body = xasprintf("{\"Cmd\":%s,\"AttachStdout\":true,"
			 "\"AttachStderr\":true}",
	    cmd_json);
	r = fw_req(fw, "POST", p, body);
	assert_int_equal(r->status, 201);
	free(p);
	free(body);
	p = xasprintf("/exec/%s/start", json_str(r->json, "Id"));
	out = fw_hijack(fw, "POST", p, "{\"Detach\":false,\"Tty\":false}", NULL,
	    &status, len);
	assert_int_equal(status, 101);
	free(p);
	p = xasprintf("/exec/%s/json", json_str(r->json, "Id"));
	fw_resp_free(r);
	for (int i = 0; i < 500; i++) {
		r = fw_req(fw, "GET", p, NULL);
		if (!json_bool(r->json, "Running", 1)) {
			*code = (int)json_int(r->json, "ExitCode", -1);
			fw_resp_free(r);
			break;
		}
		fw_resp_free(r);
		fw_run_for(fw, 20);
	}
	free(p);
	return out;
}

/* The workload gets the callback URL and the token, not the digest. */
static void
test_run_env(void **state)
{
	struct fw *fw = *state;
	char *script = xasprintf("env > %s/env.txt; exit 0", fw->dir), *path,
	     *want;
	char *id = run_sh(fw, "env", script, NULL);
	char buf[8192];
	FILE *f;
	size_t n;

	assert_true(fw_run_until_fn(fw, status_is_exited, id));
	path = xasprintf("%s/env.txt", fw->dir);
	f = fopen(path, "r");
	assert_non_null(f);
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	/* The agent removes its variables from the command's environment. */
	assert_null(strstr(buf, "SOCKERLESS_AGENT_TOKEN"));
	assert_null(strstr(buf, "SOCKERLESS_AGENT_CALLBACK"));
	/* What the backend gave it. */
	assert_non_null(fake_last_run_env);
	want = xasprintf("\"SOCKERLESS_AGENT_CALLBACK=http://127.0.0.1:%d%s\"",
	    fw->callback_port, "/sockerless/v1/link");
	assert_non_null(strstr(fake_last_run_env, want));
	free(want);
	want = xasprintf("\"SOCKERLESS_CONTAINER_ID=%s\"", id);
	assert_non_null(strstr(fake_last_run_env, want));
	free(want);
	assert_non_null(strstr(fake_last_run_env, "\"SOCKERLESS_AGENT_TOKEN="));
	assert_null(strstr(fake_last_run_env, "TOKEN_SHA256"));
	free(path);
	free(script);
	free(id);
}

/* docker run: the exit code is the workload's. */
static void
test_run_exit_code(void **state)
{
	struct fw *fw = *state;
	char *id = run_sh(fw, "ec", "exit 5", NULL);
	struct fw_resp *r;

	assert_true(fw_run_until_fn(fw, status_is_exited, id));
	r = fw_expect(fw, "GET", "/containers/ec/json", 200);
	assert_int_equal(
	    json_int(json_obj(r->json, "State"), "ExitCode", -1), 5);
	fw_resp_free(r);
	free(id);
}

/* exec, top and a signal over the link the agent called back on. */
static void
test_exec_top_signal(void **state)
{
	struct fw *fw = *state;
	char *ready = xasprintf("%s/ex.ready", fw->dir);
	char *script = xasprintf(
	    "trap 'exit 7' USR1; touch %s; while :; do sleep 0.05; done",
	    ready);
	char *id = run_sh(fw, "ex", script, NULL);
	struct fw_resp *r, *w;
	char *out;
	size_t len;
	int code = -1;

	out = exec_run(fw, "ex",
	    "[\"sh\",\"-c\",\"echo out; echo err >&2; exit 3\"]", &code, &len);
	assert_non_null(memmem(out, len, "out\n", 4));
	assert_non_null(memmem(out, len, "err\n", 4));
	assert_int_equal(code, 3);
	free(out);
	r = fw_expect(fw, "GET", "/containers/ex/top", 200);
	assert_true(cJSON_GetArraySize(json_arr(r->json, "Processes")) > 0);
	fw_resp_free(r);
	/* Signalled before its trap is set, sh would die of it (138). */
	for (int i = 0; i < 500 && access(ready, F_OK) != 0; i++)
		fw_run_for(fw, 20);
	assert_int_equal(access(ready, F_OK), 0);
	w = fw_send(fw, "POST", "/containers/ex/wait", NULL);
	fw_expect_free(fw, "POST", "/containers/ex/kill?signal=USR1", 204);
	fw_await(fw, w);
	assert_int_equal(json_int(w->json, "StatusCode", -1), 7);
	fw_resp_free(w);
	free(ready);
	free(script);
	free(id);
}

/* A TTY exec with its size, stats, pause and unpause. */
static void
test_tty_stats_pause(void **state)
{
	struct fw *fw = *state;
	char *id = run_sh(fw, "tt", "sleep 60", "\"Tty\":true");
	struct fw_resp *r;
	char *p, *out;
	size_t len;
	int status;

	r = fw_req(fw, "POST", "/containers/tt/exec",
	    "{\"Cmd\":[\"sh\",\"-c\",\"stty size\"],\"Tty\":true,"
	    "\"AttachStdout\":true,\"ConsoleSize\":[12,34]}");
	assert_int_equal(r->status, 201);
	p = xasprintf("/exec/%s/start", json_str(r->json, "Id"));
	fw_resp_free(r);
	out = fw_hijack(fw, "POST", p,
	    "{\"Detach\":false,\"Tty\":true,\"ConsoleSize\":[12,34]}", NULL,
	    &status, &len);
	assert_int_equal(status, 101);
	assert_non_null(memmem(out, len, "12 34", 5));
	free(out);
	free(p);
	r = fw_expect(
	    fw, "GET", "/containers/tt/stats?stream=0&one-shot=1", 200);
	assert_non_null(json_obj(r->json, "memory_stats"));
	fw_resp_free(r);
	fw_expect_free(fw, "POST", "/containers/tt/pause", 204);
	r = fw_expect(fw, "GET", "/containers/tt/json", 200);
	assert_true(json_bool(json_obj(r->json, "State"), "Paused", 0));
	fw_resp_free(r);
	fw_expect_free(fw, "POST", "/containers/tt/unpause", 204);
	fw_expect_free(fw, "POST", "/containers/tt/kill", 204);
	assert_true(fw_run_until_fn(fw, status_is_exited, id));
	free(id);
}

static struct fw_resp *held_start;

static void
start_now(struct fw *fw, void *arg)
{
	char *p = xasprintf("/containers/%s/start", (const char *)arg);

	held_start = fw_send(fw, "POST", p, NULL);
	free(p);
}

/* docker run -i: attached before start, the command held until the
 * attach's channel is open on the link the agent called back on. */
static void
test_attach_before_start(void **state)
{
	struct fw *fw = *state;
	char *id = fw_create(fw, "hold", "alpine",
	    "\"Cmd\":[\"cat\"],\"OpenStdin\":true,\"StdinOnce\":true,"
	    "\"AttachStdin\":true");
	char *out;
	size_t len;
	int status;

	fw->on_upgraded = start_now;
	fw->on_upgraded_arg = id;
	out = fw_hijack(fw, "POST",
	    "/containers/hold/attach?stream=1&stdin=1&stdout=1&stderr=1", NULL,
	    "held input\n", &status, &len);
	assert_int_equal(status, 101);
	assert_non_null(memmem(out, len, "held input", 10));
	free(out);
	assert_non_null(held_start);
	fw_await(fw, held_start);
	assert_int_equal(held_start->status, 204);
	fw_resp_free(held_start);
	held_start = NULL;
	assert_true(fw_run_until_fn(fw, status_is_exited, id));
	free(id);
}

/* A one-file ustar archive. */
static char *
tar_one(const char *name, const char *data, size_t *len)
{
	size_t n = strlen(data), size = 512 + (n + 511) / 512 * 512 + 1024;
	char *t = xcalloc(1, size);
	unsigned sum = 0;

	snprintf(t, 100, "%s", name);
	snprintf(t + 100, 8, "%07o", 0644);
	snprintf(t + 108, 8, "%07o", 0);
	snprintf(t + 116, 8, "%07o", 0);
	snprintf(t + 124, 12, "%011o", (unsigned)n);
	snprintf(t + 136, 12, "%011o", 1700000000u);
	memset(t + 148, ' ', 8);
	t[156] = '0';
	memcpy(t + 257, "ustar", 6);
	memcpy(t + 263, "00", 2);
	for (int i = 0; i < 512; i++)
		sum += (unsigned char)t[i];
	snprintf(t + 148, 8, "%06o", sum);
	memcpy(t + 512, data, n);
	*len = size;
	return t;
}

/* docker cp into a created container: the agent unpacks it before the
 * command runs; and docker cp out of the running one. */
static void
test_cp_before_start(void **state)
{
	struct fw *fw = *state;
	char *script = xasprintf("cat %s/greeting.txt; sleep 60", fw->dir);
	char *id = create_sh(fw, "cp", script, NULL), *p, *tar, *file;
	struct fw_resp *r;
	size_t len;

	tar = tar_one("greeting.txt", "hello before start\n", &len);
	p = xasprintf("/containers/cp/archive?path=%s", fw->dir);
	r = fw_send_body(fw, "PUT", p, tar, len);
	fw_await(fw, r);
	assert_int_equal(r->status, 200);
	fw_resp_free(r);
	free(p);
	fw_start(fw, id);
	assert_string_equal(fw_status(fw, id), "running");
	file = xasprintf("%s/greeting.txt", fw->dir);
	p = xasprintf("/containers/cp/archive?path=%s", file);
	r = fw_expect(fw, "GET", p, 200);
	assert_non_null(memmem(r->body, r->len, "hello before start", 18));
	fw_resp_free(r);
	fw_expect_free(fw, "POST", "/containers/cp/kill", 204);
	assert_true(fw_run_until_fn(fw, status_is_exited, id));
	free(p);
	free(file);
	free(tar);
	free(script);
	free(id);
}

static int
healthy(struct fw *fw, void *arg)
{
	cJSON *o = fw_inspect(fw, arg);
	const char *h =
	    json_str(json_obj(json_obj(o, "State"), "Health"), "Status");
	int ok = h != NULL && strcmp(h, "healthy") == 0;

	cJSON_Delete(o);
	return ok;
}

/* The agent's health reports arrive over the link it called back on. */
static void
test_health(void **state)
{
	struct fw *fw = *state;
	char *id = run_sh(fw, "hc", "sleep 60",
	    "\"Healthcheck\":{\"Test\":[\"CMD-SHELL\",\"true\"],"
	    "\"Interval\":100000000,\"StartPeriod\":0}");

	assert_true(fw_run_until_fn(fw, healthy, id));
	fw_expect_free(fw, "POST", "/containers/hc/kill", 204);
	assert_true(fw_run_until_fn(fw, status_is_exited, id));
	free(id);
}

/* The backend restarts while the workload runs: the new one makes the
 * container's link again from the stored token, the agent redials, and
 * exec works as before. */
static void
test_backend_restart(void **state)
{
	struct fw *fw = *state;
	char *id = run_sh(fw, "rs", "sleep 60", NULL), *out;
	size_t len;
	int code = -1;

	out = exec_run(fw, "rs", "[\"echo\",\"before\"]", &code, &len);
	assert_int_equal(code, 0);
	free(out);
	fw->keep_agents = 1;
	fw_free(fw, 1);
	*state = fw = fw_reopen(fw);
	assert_string_equal(fw_status(fw, id), "running");
	code = -1;
	out =
	    exec_run(fw, "rs", "[\"echo\",\"after the restart\"]", &code, &len);
	assert_non_null(memmem(out, len, "after the restart", 17));
	assert_int_equal(code, 0);
	free(out);
	fw_expect_free(fw, "POST", "/containers/rs/kill", 204);
	assert_true(fw_run_until_fn(fw, status_is_exited, id));
	free(id);
}

/* An agent with a wrong token is refused: its container's operations wait
 * for a call-back that never comes, and fail with a 504 that says so. */
static void
test_wrong_token(void **state)
{
	struct fw *fw = *state;
	struct fw_resp *r;
	char *id;

	fw_free(fw, 0);
	fake_callback_timeout = 2;
	*state = fw = fw_new();
	fw_add_image(fw, "docker.io/library/alpine:latest", "sh");
	fake_agent_bad_token = 1;
	id = run_sh(fw, "bad", "sleep 60", NULL);
	fake_agent_bad_token = 0;
	r = fw_req(fw, "GET", "/containers/bad/top", NULL);
	assert_int_equal(r->status, 504);
	assert_non_null(strstr(fw_msg(r), "has not called back within 2s"));
	fw_resp_free(r);
	fw_expect_free(fw, "POST", "/containers/bad/kill", 204);
	assert_true(fw_run_until_fn(fw, status_is_exited, id));
	free(id);
}

/* The keys' start-up errors: exit code 2 (configuration) or 1 (the
 * listener), with a sentence naming the key. */
static void
test_startup_errors(void **state)
{
	char err[4096], arg[80];
	int port = fake_callback_port();
	const char *none[] = { NULL };
	const char *wild[] = { "--agent_callback_listen=0.0.0.0:9", NULL };
	const char *bad[] = { "--agent_callback_listen=nope", NULL };
	const char *https[] = { "--agent_callback_listen=127.0.0.1:9",
		"--agent_callback_url=https://sk.example:443", NULL };
	const char *path[] = { "--agent_callback_listen=127.0.0.1:9",
		"--agent_callback_url=http://sk.example/x", NULL };
	const char *foreign[] = { "--agent_callback_listen=192.0.2.1:9", NULL };
	const char *ok[] = { arg, "--agent_callback_url=http://[::1]:8", NULL };

	(void)state;
	assert_int_equal(fw_try_reverse(none, err, sizeof(err)), 2);
	assert_non_null(strstr(err, "needs agent_callback_listen"));
	assert_int_equal(fw_try_reverse(wild, err, sizeof(err)), 2);
	assert_non_null(strstr(err, "set agent_callback_url"));
	assert_int_equal(fw_try_reverse(bad, err, sizeof(err)), 2);
	assert_non_null(strstr(err, "agent_callback_listen nope is not"));
	assert_int_equal(fw_try_reverse(https, err, sizeof(err)), 2);
	assert_non_null(strstr(err, "https is not supported"));
	assert_non_null(strstr(err, "sealed end to end"));
	assert_int_equal(fw_try_reverse(path, err, sizeof(err)), 2);
	assert_non_null(strstr(err, "no user, path or query"));
	/* An address of no interface here cannot be bound. */
	assert_int_equal(fw_try_reverse(foreign, err, sizeof(err)), 1);
	assert_non_null(strstr(err, "(agent_callback_listen)"));
	snprintf(
	    arg, sizeof(arg), "--agent_callback_listen=127.0.0.1:%d", port);
	assert_int_equal(fw_try_reverse(ok, err, sizeof(err)), -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_run_env, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_run_exit_code, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_exec_top_signal, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_tty_stats_pause, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_attach_before_start, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_cp_before_start, setup, teardown),
		cmocka_unit_test_setup_teardown(test_health, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_backend_restart, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_wrong_token, setup, teardown),
		cmocka_unit_test(test_startup_errors),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
