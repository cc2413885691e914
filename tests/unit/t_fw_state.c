/* The framework's state machine and its store through the fake backend:
 * requests parked behind an operation in flight, and what a second
 * backend instance on the same state directory finds (re-adoption after a
 * restart, interrupted creates and removals). */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <fcntl.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "../../common/backend/backend_int.h"
#include "fake_backend.h"
#include "sockerless/httpcli.h"
#include "sockerless/json.h"
#include "sockerless/str.h"
#include "sockerless/xmalloc.h"

static int
setup(void **state)
{
	struct fw *fw = fw_new();

	fw_add_image(fw, "docker.io/library/alpine:latest", "sh");
	*state = fw;
	return 0;
}

static int
teardown(void **state)
{
	if (*state != NULL)
		fw_free(*state, 0);
	return 0;
}

static void
test_start_parks_behind_create(void **state)
{
	struct fw *fw = *state;
	struct fw_resp *create, *start, *start2;
	struct fake_call *call;
	char *path;

	create = fw_send(
	    fw, "POST", "/containers/create?name=pk", "{\"Image\":\"alpine\"}");
	call = fw_wait_call(fw, "create");
	assert_non_null(call);
	/* The client knows the name before the create ends. */
	start = fw_send(fw, "POST", "/containers/pk/start", NULL);
	start2 = fw_send(fw, "POST", "/containers/pk/start", NULL);
	fw_resp_free(fw_req(fw, "GET", "/_ping", NULL)); /* both are in */
	assert_int_equal(fw_count(fw, "start"), 0);
	assert_false(start->done || start2->done);
	fw_complete(fw, call, 0, NULL);
	fw_await(fw, create);
	assert_int_equal(create->status, 201);
	/* The first parked start runs; the second parks behind it and then
	 * finds the container running: 304. */
	fw_complete_next(fw, "start", 0, NULL);
	fw_await(fw, start);
	fw_await(fw, start2);
	assert_int_equal(start->status, 204);
	assert_int_equal(start2->status, 304);
	assert_int_equal(fw_count(fw, "start"), 1);
	path = xasprintf("/containers/%s/json", json_str(create->json, "Id"));
	fw_resp_free(fw_req(fw, "GET", path, NULL));
	free(path);
	fw_exit(fw, "", 0); /* the only container */
	fw_resp_free(create);
	fw_resp_free(start);
	fw_resp_free(start2);
}

static void
test_rm_force_during_create(void **state)
{
	struct fw *fw = *state;
	struct fw_resp *create, *rm;

	create = fw_send(
	    fw, "POST", "/containers/create?name=rc", "{\"Image\":\"alpine\"}");
	assert_non_null(fw_wait_call(fw, "create"));
	rm = fw_send(fw, "DELETE", "/containers/rc?force=1", NULL);
	fw_resp_free(fw_req(fw, "GET", "/_ping", NULL));
	assert_false(rm->done);
	/* The create fails: the parked removal finds nothing. */
	fw_complete_next(fw, "create", 500, "no capacity");
	fw_await(fw, create);
	fw_await(fw, rm);
	assert_int_equal(create->status, 500);
	assert_int_equal(rm->status, 404);
	fw_resp_free(create);
	fw_resp_free(rm);
	/* And a create that works is removed by the parked removal. */
	create = fw_send(
	    fw, "POST", "/containers/create?name=rc", "{\"Image\":\"alpine\"}");
	assert_non_null(fw_wait_call(fw, "create"));
	rm = fw_send(fw, "DELETE", "/containers/rc?force=1", NULL);
	fw_resp_free(fw_req(fw, "GET", "/_ping", NULL));
	fw_complete_next(fw, "create", 0, NULL);
	fw_complete_next(fw, "remove", 0, NULL);
	fw_await(fw, create);
	fw_await(fw, rm);
	assert_int_equal(create->status, 201);
	assert_int_equal(rm->status, 204);
	fw_resp_free(create);
	fw_resp_free(rm);
}

static void
test_stop_while_starting(void **state)
{
	struct fw *fw = *state;
	char *id = fw_create(fw, "sw", "alpine", NULL);
	struct fw_resp *start, *stop, *kill;

	start = fw_send(fw, "POST", "/containers/sw/start", NULL);
	assert_non_null(fw_wait_call(fw, "start"));
	stop = fw_send(fw, "POST", "/containers/sw/stop", NULL);
	kill = fw_send(fw, "POST", "/containers/sw/kill", NULL);
	fw_resp_free(fw_req(fw, "GET", "/_ping", NULL));
	assert_int_equal(fw_count(fw, "stop"), 0);
	fw_complete_next(fw, "start", 0, NULL);
	fw_await(fw, start);
	assert_int_equal(start->status, 204);
	/* Both parked requests run once the start ends: a stop does not
	 * hold the life cycle, so the kill goes out while it is in flight. */
	fw_complete_next(fw, "stop", 0, NULL);
	fw_complete_next(fw, "kill", 0, NULL);
	fw_await(fw, kill);
	assert_int_equal(kill->status, 204);
	fw_exit(fw, id, 143);
	fw_await(fw, stop);
	assert_int_equal(stop->status, 204);
	fw_resp_free(start);
	fw_resp_free(stop);
	fw_resp_free(kill);
	free(id);
}

static void
test_client_gone_before_the_answer(void **state)
{
	struct fw *fw = *state;
	char *id = fw_create(fw, "cg", "alpine", NULL);
	struct fw_resp *start;

	start = fw_send(fw, "POST", "/containers/cg/start", NULL);
	assert_non_null(fw_wait_call(fw, "start"));
	/* The client hangs up: the operation goes on, nobody hears it. */
	httpcli_free(fw->cli);
	fw->cli = httpcli_new(backend_base(fw->b));
	fw_settle(fw);
	fw_complete_next(fw, "start", 0, NULL);
	fw_settle(fw);
	free(start); /* never answered: only the struct */
	assert_string_equal(fw_status(fw, id), "running");
	fw_exit(fw, id, 0);
	free(id);
}

struct find {
	const char *name;
	struct container *c;
};

static void
find_one(struct backend *b, struct container *c, void *arg)
{
	struct find *f = arg;

	(void)b;
	if (strcmp(container_name(c), f->name) == 0)
		f->c = c;
}

static struct container *
by_name(struct fw *fw, const char *name)
{
	struct find f = { name, NULL };

	backend_container_foreach(fw->b, find_one, &f);
	return f.c;
}

static int
two_removed(struct fw *fw, void *arg)
{
	(void)arg;
	return fw_count(fw, "remove") == 2 && fw_pending(fw, "remove") == 0;
}

static void
test_readopt_after_restart(void **state)
{
	struct fw *fw = *state;
	char *run = fw_create(fw, "run", "alpine", "\"Labels\":{\"x\":\"y\"}");
	char *made = fw_create(fw, "made", "alpine", NULL);
	char *half = fw_create(fw, "half", "alpine", NULL);
	char *going = fw_create(fw, "going", "alpine", NULL);
	struct container *c;
	struct fw_resp *r;
	char *inst;
	cJSON *o;

	fw_start(fw, run);
	cJSON_AddStringToObject(
	    container_private(by_name(fw, "run")), "TaskArn", "arn:1");
	backend_container_save(fw->b, by_name(fw, "run"));
	backend_kv_set(fw->b, "cursor", "42");
	/* What a process dying mid-create and mid-remove leaves. */
	c = by_name(fw, "half");
	json_set(container_private(c), "Creating", cJSON_CreateTrue());
	backend_container_save(fw->b, c);
	c = by_name(fw, "going");
	container_set_state(c, "removing");
	backend_container_save(fw->b, c);
	inst = xstrdup(backend_instance(fw->b));
	fw_free(fw, 1);

	fw = fw_reopen(fw);
	*state = fw;
	fw->autocomplete = 1;
	assert_true(fw->reconciled);
	assert_string_equal(backend_instance(fw->b), inst);
	/* The interrupted create and removal are finished. */
	/* backend_start asked for both removals before the loop ran. */
	assert_int_equal(fw_pending(fw, "remove"), 2);
	fw_complete_next(fw, "remove", 0, NULL);
	fw_complete_next(fw, "remove", 0, NULL);
	assert_true(fw_run_until_fn(fw, two_removed, NULL));
	r = fw_req(fw, "GET", "/containers/json?all=1", NULL);
	assert_int_equal(cJSON_GetArraySize(r->json), 2);
	fw_resp_free(r);
	assert_int_equal(fw_count(fw, "remove"), 2);
	o = fw_inspect(fw, "run");
	assert_string_equal(
	    json_str(json_obj(o, "State"), "Status"), "running");
	assert_string_equal(
	    json_str(json_obj(json_obj(o, "Config"), "Labels"), "x"), "y");
	cJSON_Delete(o);
	assert_string_equal(fw_status(fw, "made"), "created");
	/* The private state and the kv survive; the running one is what
	 * the pollers visit. */
	c = backend_container_by_private(fw->b, "TaskArn", "arn:1");
	assert_non_null(c);
	assert_string_equal(container_name(c), "run");
	{
		char *v = backend_kv_get(fw->b, "cursor");
		assert_string_equal(v, "42");
		free(v);
	}
	/* A start the process was making when it died: adopted. */
	backend_container_adopted(fw->b, by_name(fw, "made"), str_now_ns());
	assert_string_equal(fw_status(fw, "made"), "running");
	/* Names stay reserved across the restart. */
	r = fw_req(fw, "POST", "/containers/create?name=run",
	    "{\"Image\":\"alpine\"}");
	assert_int_equal(r->status, 409);
	fw_resp_free(r);
	fw_exit(fw, run, 0);
	fw_exit(fw, made, 0);
	free(inst);
	free(run);
	free(made);
	free(half);
	free(going);
}

/* backend_main in a child process: exit codes of --help and of a bad
 * configuration, then a backend that serves until SIGTERM (SIGHUP does not
 * end it). */
static int
run_main(char **argv, int argc)
{
	pid_t pid = fork();
	int st;

	if (pid == 0) {
		int fd = open("/dev/null", O_WRONLY);
		dup2(fd, 1);
		dup2(fd, 2);
		exit(fake_main(argc, argv));
	}
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st));
	return WEXITSTATUS(st);
}

/* Asks the backend at sock for _ping; 1 when it answered OK. */
static int
ping(const char *sock)
{
	struct sockaddr_un sa;
	int fd = socket(AF_UNIX, SOCK_STREAM, 0), ok = 0;
	const char *req = "GET /internal/v1/_ping HTTP/1.0\r\n\r\n";
	char buf[512];
	size_t n = 0;
	ssize_t r;

	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	str_lcpy(sa.sun_path, sock, sizeof(sa.sun_path));
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 &&
	    write(fd, req, strlen(req)) == (ssize_t)strlen(req)) {
		while (n < sizeof(buf) - 1 &&
		    (r = read(fd, buf + n, sizeof(buf) - 1 - n)) > 0)
			n += (size_t)r;
		buf[n] = '\0';
		ok = strstr(buf, "200") != NULL && strstr(buf, "OK") != NULL;
	}
	close(fd);
	return ok;
}

static void
test_main(void **state)
{
	struct fw *fw = *state;
	char prog[] = "t_fw", help[] = "--help", bad[] = "--no-such-key=1";
	char *argv1[] = { prog, help, NULL }, *argv2[] = { prog, bad, NULL };
	char *sock = xasprintf("%s/main.sock", fw->dir);
	char *sa = xasprintf("--socket=%s", sock);
	char *st = xasprintf("--state_dir=%s/main", fw->dir);
	char level[] = "--log_level=error";
	char *argv3[] = { prog, sa, st, level, NULL };
	struct timespec ts = { 0, 20000000 };
	int status, up = 0;
	pid_t pid;

	assert_int_equal(run_main(argv1, 2), 0);
	assert_int_equal(run_main(argv2, 2), 2);
	if ((pid = fork()) == 0)
		exit(fake_main(4, argv3));
	/* Poll for it to serve (a child process: no loop to drive). */
	for (int i = 0; i < 500 && !(up = ping(sock)); i++)
		nanosleep(&ts, NULL);
	assert_true(up);
	kill(pid, SIGHUP);
	assert_true(ping(sock));
	kill(pid, SIGTERM);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	/* It removed its socket. */
	assert_int_equal(access(sock, F_OK), -1);
	free(sock);
	free(sa);
	free(st);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(
		    test_start_parks_behind_create, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_rm_force_during_create, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_stop_while_starting, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_client_gone_before_the_answer, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_readopt_after_restart, setup, teardown),
		cmocka_unit_test_setup_teardown(test_main, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
