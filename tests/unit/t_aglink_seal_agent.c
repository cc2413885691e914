/* The real sockerless-agent in reverse mode against a backend-side
 * aglink_listener: it calls back over the sealed link (its handshake,
 * HELLO and an exec whose output and exit code come back sealed), and it
 * refuses a listener that does not know the token. */
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <fcntl.h>
#include <limits.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <event2/event.h>

#include "sockerless/aglink.h"
#include "sockerless/xmalloc.h"

#define TOKEN "8899aabbccddeeff00112233445566778899aabbccddeeff0011223344556677"
#define CID   "5ea1ed0c1e2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5"

struct fx {
	struct event_base *base;
	struct aglink_listener *ls;
	struct aglink *l;
	int hellos, downs, results;
	char out[256];
	size_t outlen;
	int exit_code;
	pid_t pid;
	char dir[PATH_MAX];
};

static int64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

#define SPIN(f, ms, cond)                                        \
	do {                                                     \
		int64_t dl_ = now_ms() + (ms);                   \
		while (!(cond) && now_ms() < dl_)                \
			event_base_loop((f)->base, EVLOOP_ONCE); \
	} while (0)

static void
on_hello(void *arg, const cJSON *hello)
{
	struct fx *f = arg;

	(void)hello;
	f->hellos++;
}

static void
on_down(void *arg, const struct err *e)
{
	struct fx *f = arg;

	(void)e;
	f->downs++;
}

static const struct aglink_cbs cbs = { on_hello, NULL, on_down, NULL };

static struct aglink *
lookup(void *arg, const char *cid)
{
	struct fx *f = arg;

	return strcmp(cid, CID) == 0 ? f->l : NULL;
}

static void
ch_data(void *arg, int stream, const unsigned char *buf, size_t len)
{
	struct fx *f = arg;

	(void)stream;
	if (f->outlen + len < sizeof(f->out)) {
		memcpy(f->out + f->outlen, buf, len);
		f->outlen += len;
	}
}

static void
ch_result(void *arg, const cJSON *result, const struct err *e)
{
	struct fx *f = arg;

	f->results++;
	assert_null(e);
	f->exit_code = (int)cJSON_GetNumberValue(
	    cJSON_GetObjectItemCaseSensitive(result, "exitCode"));
}

/* The agent binary next to the test: <build>/sockerless-agent. */
static char *
agent_path(void)
{
	char exe[PATH_MAX], *slash;
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);

	assert_true(n > 0);
	exe[n] = '\0';
	for (int i = 0; i < 2 && (slash = strrchr(exe, '/')) != NULL; i++)
		*slash = '\0';
	return xasprintf("%s/sockerless-agent", exe);
}

/* Starts the agent calling back to port with token; its output goes to
 * a file in the test's directory, its names files there too. */
static void
agent_start(struct fx *f, int port, const char *token)
{
	char *agent = agent_path(), *cb, *tok, *etc, *dns, *log;
	char a1[] = "--", a2[] = "/bin/sleep", a3[] = "30";
	char e1[] = "SOCKERLESS_CONTAINER_ID=" CID, e2[] = "PATH=/usr/bin:/bin";
	char *argv[] = { agent, a1, a2, a3, NULL };

	cb = xasprintf("SOCKERLESS_AGENT_CALLBACK=http://127.0.0.1:%d"
		       "/sockerless/v1/link",
	    port);
	tok = xasprintf("SOCKERLESS_AGENT_TOKEN=%s", token);
	etc = xasprintf("SOCKERLESS_ETC=%s", f->dir);
	dns = xasprintf("SOCKERLESS_DNS_LISTEN=127.0.0.3:%d", port);
	log = xasprintf("%s/agent.log", f->dir);
	{
		char *env[] = { cb, tok, etc, dns, e1, e2, NULL };

		if ((f->pid = fork()) == 0) {
			int fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0600);

			setpgid(0, 0);
			prctl(PR_SET_PDEATHSIG, SIGKILL);
			if (fd != -1) {
				dup2(fd, 1);
				dup2(fd, 2);
			}
			execve(agent, argv, env);
			_exit(127);
		}
	}
	assert_true(f->pid > 0);
	free(agent);
	free(cb);
	free(tok);
	free(etc);
	free(dns);
	free(log);
}

static int
setup(void **state)
{
	struct fx *f = xcalloc(1, sizeof(*f));

	snprintf(f->dir, sizeof(f->dir), "/tmp/t_aglink_seal_agent.XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	f->base = event_base_new();
	f->ls = aglink_listener_new(f->base, "127.0.0.1", 0, lookup, f);
	assert_non_null(f->ls);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fx *f = *state;
	char *cmd;

	if (f->pid > 0) {
		kill(-f->pid, SIGKILL);
		waitpid(f->pid, NULL, 0);
	}
	aglink_free(f->l);
	aglink_listener_free(f->ls);
	aglink_shutdown();
	event_base_free(f->base);
	cmd = xasprintf("rm -rf '%s'", f->dir);
	assert_int_equal(system(cmd), 0);
	free(cmd);
	free(f);
	return 0;
}

static void
t_agent_sealed(void **state)
{
	struct fx *f = *state;
	static const struct aglink_chan_cbs ccbs = { ch_data, NULL, NULL, NULL,
		ch_result };
	cJSON *req = cJSON_Parse(
	    "{\"kind\":\"exec\",\"id\":\"e1\",\"cmd\":[\"/bin/sh\",\"-c\","
	    "\"echo sealed; exit 7\"]}");

	f->l = aglink_new_reverse(f->base, CID, TOKEN, 20, &cbs, f);
	/* Opened before the agent calls back: it waits for the link. */
	aglink_open(f->l, req, &ccbs, f);
	cJSON_Delete(req);
	agent_start(f, aglink_listener_port(f->ls), TOKEN);
	SPIN(f, 15000, f->results == 1);
	assert_int_equal(f->hellos, 1);
	assert_int_equal(f->results, 1);
	assert_int_equal(f->exit_code, 7);
	assert_int_equal(f->outlen, 7);
	assert_memory_equal(f->out, "sealed\n", 7);
	assert_int_equal(f->downs, 0);
}

/* A listener whose link has another token: the agent gets 401 and keeps
 * trying; nothing is adopted. */
static void
t_agent_wrong_token(void **state)
{
	struct fx *f = *state;
	char *log, buf[4096] = "";
	FILE *fp;
	size_t n = 0;

	f->l = aglink_new_reverse(f->base, CID,
	    "0000000000000000000000000000000000000000000000000000000000000000",
	    20, &cbs, f);
	aglink_up(f->l);
	agent_start(f, aglink_listener_port(f->ls), TOKEN);
	log = xasprintf("%s/agent.log", f->dir);
	{
		int64_t dl = now_ms() + 10000;

		while (now_ms() < dl && strstr(buf, "401") == NULL) {
			event_base_loop(f->base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
			usleep(20000);
			buf[0] = '\0';
			if ((fp = fopen(log, "r")) != NULL) {
				n = fread(buf, 1, sizeof(buf) - 1, fp);
				buf[n] = '\0';
				fclose(fp);
			}
		}
	}
	assert_non_null(strstr(buf, "401"));
	assert_int_equal(f->hellos, 0);
	assert_false(aglink_is_up(f->l));
	free(log);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(
		    t_agent_sealed, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    t_agent_wrong_token, setup, teardown),
	};

	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
