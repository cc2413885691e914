/* Listen addresses (dockerd's -H) and systemd socket activation. */
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "sockerless/listen.h"

static void
t_unix(void **state)
{
	struct listen_addr a;
	struct err e;

	(void)state;
	assert_int_equal(
	    listen_parse("unix:///run/x.sock", "/d", 2375, &a, &e), 0);
	assert_int_equal(a.kind, LISTEN_UNIX);
	assert_string_equal(a.path, "/run/x.sock");
	listen_addr_free(&a);
	assert_int_equal(listen_parse("unix://", "/d.sock", 2375, &a, &e), 0);
	assert_string_equal(a.path, "/d.sock");
	listen_addr_free(&a);
	/* The deprecated listen key's bare path. */
	assert_int_equal(listen_parse("/tmp/y.sock", "/d", 2375, &a, &e), 0);
	assert_int_equal(a.kind, LISTEN_UNIX);
	assert_string_equal(a.path, "/tmp/y.sock");
	listen_addr_free(&a);
	assert_int_equal(
	    listen_parse("unix://rel.sock", "/d", 2375, &a, &e), -1);
	assert_int_equal(e.status, 400);
	assert_non_null(strstr(e.msg, "absolute"));
}

static void
t_tcp(void **state)
{
	struct listen_addr a;
	struct err e;

	(void)state;
	assert_int_equal(
	    listen_parse("tcp://127.0.0.1:2376", "/d", 2375, &a, &e), 0);
	assert_int_equal(a.kind, LISTEN_TCP);
	assert_string_equal(a.host, "127.0.0.1");
	assert_int_equal(a.port, 2376);
	listen_addr_free(&a);
	assert_int_equal(listen_parse("tcp://:2376", "/d", 2375, &a, &e), 0);
	assert_string_equal(a.host, "0.0.0.0");
	listen_addr_free(&a);
	assert_int_equal(
	    listen_parse("tcp://localhost", "/d", 2376, &a, &e), 0);
	assert_string_equal(a.host, "127.0.0.1");
	assert_int_equal(a.port, 2376);
	listen_addr_free(&a);
	assert_int_equal(listen_parse("tcp://[::1]:7", "/d", 2375, &a, &e), 0);
	assert_string_equal(a.host, "::1");
	assert_int_equal(a.port, 7);
	listen_addr_free(&a);
	assert_int_equal(
	    listen_parse("tcp://10.0.0.1:0", "/d", 2375, &a, &e), -1);
	assert_non_null(strstr(e.msg, "1-65535"));
	assert_int_equal(
	    listen_parse("tcp://10.0.0.1:99999", "/d", 2375, &a, &e), -1);
	assert_int_equal(
	    listen_parse("tcp://example.com:1", "/d", 2375, &a, &e), -1);
	assert_non_null(strstr(e.msg, "not an IP address"));
	assert_int_equal(listen_parse("tcp://[::1:7", "/d", 2375, &a, &e), -1);
	assert_int_equal(
	    listen_parse("tcp://1.2.3.4:5/path", "/d", 2375, &a, &e), -1);
	assert_int_equal(listen_is_loopback("127.0.0.1"), 1);
	assert_int_equal(listen_is_loopback("127.9.9.9"), 1);
	assert_int_equal(listen_is_loopback("::1"), 1);
	assert_int_equal(listen_is_loopback("0.0.0.0"), 0);
	assert_int_equal(listen_is_loopback("10.1.2.3"), 0);
	assert_int_equal(listen_is_loopback("::"), 0);
}

static void
t_fd_and_bad(void **state)
{
	struct listen_addr a;
	struct err e;

	(void)state;
	assert_int_equal(listen_parse("fd://", "/d", 2375, &a, &e), 0);
	assert_int_equal(a.kind, LISTEN_FD);
	assert_null(a.name);
	listen_addr_free(&a);
	assert_int_equal(listen_parse("fd://docker", "/d", 2375, &a, &e), 0);
	assert_string_equal(a.name, "docker");
	listen_addr_free(&a);
	assert_int_equal(listen_parse("fd://a/b", "/d", 2375, &a, &e), -1);
	assert_int_equal(listen_parse("", "/d", 2375, &a, &e), -1);
	assert_int_equal(listen_parse("http://x", "/d", 2375, &a, &e), -1);
	assert_non_null(strstr(e.msg, "unix:///path"));
	assert_int_equal(listen_parse("fd:", "/d", 2375, &a, &e), -1);
}

/* A listening unix socket at path. */
static int
unix_listener(const char *path)
{
	struct sockaddr_un sun;
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", path);
	unlink(path);
	if (fd == -1 || bind(fd, (struct sockaddr *)&sun, sizeof(sun)) == -1 ||
	    listen(fd, 4) == -1)
		return -1;
	return fd;
}

/* In a child, as systemd starts a service: the sockets at 3 and 4,
 * LISTEN_PID the child's own pid. Exits with the number of checks that
 * failed. */
static int
child_activated(int s1, int s2)
{
	int fds[4], bad = 0;
	struct err e;
	char pid[32];

	if (dup2(s1, 3) == -1 || dup2(s2, 4) == -1)
		return 100;
	snprintf(pid, sizeof(pid), "%d", (int)getpid());
	setenv("LISTEN_PID", pid, 1);
	setenv("LISTEN_FDS", "2", 1);
	setenv("LISTEN_FDNAMES", "docker:other", 1);
	bad += listen_activated(NULL, fds, 4, &e) != 2 || fds[0] != 3 ||
	    fds[1] != 4;
	bad += listen_activated("other", fds, 4, &e) != 1 || fds[0] != 4;
	bad += listen_activated("docker", fds, 4, &e) != 1 || fds[0] != 3;
	bad += listen_activated("nope", fds, 4, &e) != -1 ||
	    strstr(e.msg, "FileDescriptorName") == NULL;
	/* Unnamed sockets are "unknown", as systemd names them. */
	unsetenv("LISTEN_FDNAMES");
	bad += listen_activated("unknown", fds, 4, &e) != 2;
	/* Sockets meant for another process (the parent's pid). */
	snprintf(pid, sizeof(pid), "%d", (int)getppid());
	setenv("LISTEN_PID", pid, 1);
	bad += listen_activated(NULL, fds, 4, &e) != -1 ||
	    strstr(e.msg, "not this one") == NULL;
	unsetenv("LISTEN_PID");
	bad += listen_activated(NULL, fds, 4, &e) != -1 ||
	    strstr(e.msg, "LISTEN_PID") == NULL;
	return bad;
}

static void
t_activated(void **state)
{
	char p1[64], p2[64];
	int s1, s2, st;
	pid_t pid;

	(void)state;
	snprintf(p1, sizeof(p1), "/tmp/t_listen.%d.1", (int)getpid());
	snprintf(p2, sizeof(p2), "/tmp/t_listen.%d.2", (int)getpid());
	s1 = unix_listener(p1);
	s2 = unix_listener(p2);
	assert_true(s1 >= 0 && s2 >= 0);
	/* Above 4, so that dup2 onto 3 and 4 does not close them. */
	assert_true(dup2(s1, 10) == 10 && dup2(s2, 11) == 11);
	close(s1);
	close(s2);
	pid = fork();
	assert_true(pid != -1);
	if (pid == 0)
		_exit(child_activated(10, 11));
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 0);
	close(10);
	close(11);
	unlink(p1);
	unlink(p2);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(t_unix),
		cmocka_unit_test(t_tcp),
		cmocka_unit_test(t_fd_and_bad),
		cmocka_unit_test(t_activated),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
