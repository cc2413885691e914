/* log: held request lines (log_hold_start) reach stderr in order, on the
 * timer, before any other line, at exit and on a fatal signal. */
#include <sys/wait.h>

#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cJSON.h>
#include <cmocka.h>
#include <event2/event.h>

#include "sockerless/log.h"

static char t_path[] = "/tmp/t_log_XXXXXX";
static int t_saved = -1;

/* Points stderr at a fresh temporary file. */
static int
t_setup(void **state)
{
	int fd = mkstemp(t_path);

	(void)state;
	if (fd == -1)
		return -1;
	t_saved = dup(STDERR_FILENO);
	dup2(fd, STDERR_FILENO);
	close(fd);
	log_init("t_log", LOG_LVL_INFO);
	return 0;
}

static int
t_teardown(void **state)
{
	(void)state;
	dup2(t_saved, STDERR_FILENO);
	close(t_saved);
	unlink(t_path);
	memcpy(t_path + strlen(t_path) - 6, "XXXXXX", 6);
	return 0;
}

/* What stderr holds so far (static storage). */
static const char *
t_read(void)
{
	static char b[128 * 1024];
	int fd = open(t_path, O_RDONLY);
	ssize_t n;

	assert_true(fd >= 0);
	n = read(fd, b, sizeof(b) - 1);
	close(fd);
	b[n > 0 ? n : 0] = '\0';
	return b;
}

static void
t_log_hold_order(void **state)
{
	struct event_base *base = event_base_new();
	const char *s, *a, *x, *b;

	(void)state;
	log_hold_start(base);
	log_request("GET", "/a", 200, 0.1, NULL);
	assert_string_equal(t_read(), "");
	/* Any other line writes what is held first. */
	log_info("between");
	s = t_read();
	a = strstr(s, "\"path\":\"/a\"");
	x = strstr(s, "between");
	assert_non_null(a);
	assert_non_null(x);
	assert_true(a < x);
	/* The timer writes the rest. */
	log_request("GET", "/b", 404, 0.2, "rid-1");
	assert_null(strstr(t_read(), "/b"));
	event_base_loop(base, EVLOOP_ONCE);
	s = t_read();
	b = strstr(s, "\"path\":\"/b\",\"status\":404");
	assert_non_null(b);
	assert_non_null(strstr(s, "\"cloud_request_id\":\"rid-1\"}\n"));
	assert_true(strstr(s, "between") < b);
	/* Stopping writes out what is left and ends holding. */
	log_request("GET", "/c", 200, 0.1, NULL);
	log_hold_stop();
	assert_non_null(strstr(t_read(), "/c"));
	log_request("GET", "/d", 200, 0.1, NULL);
	assert_non_null(strstr(t_read(), "/d"));
	event_base_free(base);
}

/* Many lines: each write is whole lines, none lost, in order. */
static void
t_log_hold_size(void **state)
{
	struct event_base *base = event_base_new();
	char want[32];
	const char *s, *prev;

	(void)state;
	log_hold_start(base);
	for (int i = 0; i < 300; i++) {
		snprintf(want, sizeof(want), "/n/%d", i);
		log_request("GET", want, 200, 0.1, NULL);
	}
	log_hold_stop();
	event_base_free(base);
	s = t_read();
	prev = s;
	for (int i = 0; i < 300; i += 37) {
		const char *at;

		snprintf(want, sizeof(want), "\"/n/%d\"", i);
		at = strstr(s, want);
		assert_non_null(at);
		assert_true(at >= prev);
		prev = at;
	}
}

/* The n-th line of s (from 0), parsed; NULL when it is not JSON. */
static cJSON *
t_line(const char *s, int n)
{
	static char b[16 * 1024];
	const char *end;

	for (; n > 0 && s != NULL; n--)
		if ((s = strchr(s, '\n')) != NULL)
			s++;
	assert_non_null(s);
	end = strchr(s, '\n');
	assert_non_null(end);
	assert_true((size_t)(end - s) < sizeof(b));
	memcpy(b, s, (size_t)(end - s));
	b[end - s] = '\0';
	return cJSON_Parse(b);
}

/* Every line is one JSON object that reads back as written: escapes,
 * a line longer than the stack's room, the numbers. */
static void
t_log_line_json(void **state)
{
	static const char odd[] = "a\"b\\c\nd\te\x01f\x1f/\xc3\xa9";
	char longpath[3001];
	const char *s;
	cJSON *j;

	(void)state;
	memset(longpath, 'p', sizeof(longpath) - 1);
	longpath[0] = '/';
	longpath[sizeof(longpath) - 1] = '\0';
	log_request("GET", odd, 404, 12.34, "rid");
	log_request("POST", longpath, 201, 0.05, NULL);
	log_request("GET", "/x", 200, 1999.96, NULL);
	log_info("%s and %d", odd, 7);
	log_cloud("ecs", "RunTask", 400, 3.0, "r-1", "bad \"thing\"");
	s = t_read();

	assert_non_null(j = t_line(s, 0));
	assert_string_equal(cJSON_GetObjectItem(j, "path")->valuestring, odd);
	assert_string_equal(
	    cJSON_GetObjectItem(j, "prog")->valuestring, "t_log");
	assert_string_equal(
	    cJSON_GetObjectItem(j, "level")->valuestring, "info");
	assert_int_equal(cJSON_GetObjectItem(j, "status")->valueint, 404);
	assert_true(cJSON_GetObjectItem(j, "duration_ms")->valuedouble == 12.3);
	assert_string_equal(
	    cJSON_GetObjectItem(j, "cloud_request_id")->valuestring, "rid");
	/* "2026-12-06T23:58:19.570Z" */
	assert_int_equal(strlen(cJSON_GetObjectItem(j, "ts")->valuestring), 24);
	cJSON_Delete(j);

	assert_non_null(j = t_line(s, 1));
	assert_string_equal(
	    cJSON_GetObjectItem(j, "path")->valuestring, longpath);
	assert_null(cJSON_GetObjectItem(j, "cloud_request_id"));
	assert_true(cJSON_GetObjectItem(j, "duration_ms")->valuedouble == 0.1);
	cJSON_Delete(j);

	assert_non_null(strstr(s, "\"duration_ms\":2000.0}"));

	assert_non_null(j = t_line(s, 3));
	assert_non_null(
	    strstr(cJSON_GetObjectItem(j, "msg")->valuestring, odd));
	assert_non_null(
	    strstr(cJSON_GetObjectItem(j, "msg")->valuestring, " and 7"));
	cJSON_Delete(j);

	/* A failed cloud call is a warning, with its error. */
	assert_non_null(j = t_line(s, 4));
	assert_string_equal(
	    cJSON_GetObjectItem(j, "level")->valuestring, "warn");
	assert_string_equal(
	    cJSON_GetObjectItem(j, "error")->valuestring, "bad \"thing\"");
	assert_int_equal(cJSON_GetObjectItem(j, "status")->valueint, 400);
	cJSON_Delete(j);
}

/* Kept reachable: the child ends without freeing it. */
static struct event_base *t_child_base;

/* A child that holds a line and then ends by exit or by signal. */
static void
t_log_hold_child(int how)
{
	pid_t pid = fork();
	int st;

	assert_true(pid >= 0);
	if (pid == 0) {
		t_child_base = event_base_new();
		log_hold_start(t_child_base);
		log_request("POST", "/held", 201, 0.1, NULL);
		if (how == 0)
			exit(0);
		raise(SIGUSR1);
		_exit(3);
	}
	assert_int_equal(waitpid(pid, &st, 0), pid);
	if (how == 0)
		assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	else
		assert_true(WIFSIGNALED(st) && WTERMSIG(st) == SIGUSR1);
	assert_non_null(strstr(t_read(), "\"path\":\"/held\""));
}

static void
t_log_hold_exit(void **state)
{
	(void)state;
	t_log_hold_child(0);
}

static void
t_log_hold_signal(void **state)
{
	(void)state;
	t_log_hold_child(1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(
		    t_log_hold_order, t_setup, t_teardown),
		cmocka_unit_test_setup_teardown(
		    t_log_line_json, t_setup, t_teardown),
		cmocka_unit_test_setup_teardown(
		    t_log_hold_size, t_setup, t_teardown),
		cmocka_unit_test_setup_teardown(
		    t_log_hold_exit, t_setup, t_teardown),
		cmocka_unit_test_setup_teardown(
		    t_log_hold_signal, t_setup, t_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
