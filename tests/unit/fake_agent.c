/* The fake backend's agent mode (fake_backend.h): workloads run under the
 * real sockerless-agent as children of the test; and the raw client of
 * the hijacked routes. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/wait.h>
#include <unistd.h>

#include <event2/event.h>

#include "fake_backend.h"
#include "sockerless/err.h"
#include "sockerless/json.h"
#include "sockerless/str.h"
#include "sockerless/xmalloc.h"

int fake_agent_mode;
int fake_agent_reverse;
int fake_callback_timeout;
int fake_agent_bad_token;
char *fake_last_run_env;

struct fake_child {
	TAILQ_ENTRY(fake_child) entry;
	pid_t pid;
	char id[65];
};
static TAILQ_HEAD(, fake_child) fake_children = TAILQ_HEAD_INITIALIZER(
    fake_children);
static int fake_next_port;
static struct event *fake_sigchld;

/* Whether type/addr:port can be bound now (SO_REUSEADDR, as the agent
 * binds its listeners). */
static int
fake_port_free(int type, const char *addr, int port)
{
	struct sockaddr_in sin = { .sin_family = AF_INET,
		.sin_port = htons((uint16_t)port) };
	int fd = socket(AF_INET, type | SOCK_CLOEXEC, 0), one = 1, ok;

	if (fd == -1)
		return 0;
	inet_pton(AF_INET, addr, &sin.sin_addr);
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	ok = bind(fd, (struct sockaddr *)&sin, sizeof(sin)) == 0;
	close(fd);
	return ok;
}

/* The loopback ports of the test's agents: SK_TEST_PORT_BASE + 50..89
 * (tests/run.sh's base; 35100 by default), skipping one that something
 * else on the machine holds (the agent listens on 127.0.0.1:port for its
 * link and 127.0.0.3:port for its resolver, and exits when it cannot). */
static int
fake_port(void)
{
	const char *base = getenv("SK_TEST_PORT_BASE");
	int b = base != NULL && atoi(base) > 0 ? atoi(base) : 35100, p = 0;

	for (int tries = 0; tries < 40; tries++) {
		p = b + 50 + (fake_next_port++ % 40);
		if (fake_port_free(SOCK_STREAM, "127.0.0.1", p) &&
		    fake_port_free(SOCK_STREAM, "127.0.0.3", p) &&
		    fake_port_free(SOCK_DGRAM, "127.0.0.3", p))
			break;
	}
	return p;
}

int
fake_callback_port(void)
{
	const char *base = getenv("SK_TEST_PORT_BASE");
	int b = base != NULL && atoi(base) > 0 ? atoi(base) : 35100, p = 0;

	for (int i = 0; i < 10; i++) {
		p = b + 90 + i;
		if (fake_port_free(SOCK_STREAM, "127.0.0.1", p))
			break;
	}
	return p;
}

/* A wrong token: the last hex digit changed. */
static void
fake_spoil_token(struct strv *env)
{
	for (size_t i = 0; i < env->n; i++)
		if (str_prefix(env->v[i], "SOCKERLESS_AGENT_TOKEN=")) {
			char *last = env->v[i] + strlen(env->v[i]) - 1;
			*last = *last == '0' ? '1' : '0';
		}
}

/* The agent binary next to the test's build: <build>/sockerless-agent
 * for <build>/tests/t_fw_x. */
static char *
fake_agent_path(void)
{
	char exe[4096], *slash;
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);

	if (n <= 0)
		abort();
	exe[n] = '\0';
	for (int i = 0; i < 2 && (slash = strrchr(exe, '/')) != NULL; i++)
		*slash = '\0';
	return xasprintf("%s/sockerless-agent", exe);
}

static void
fake_on_sigchld(evutil_socket_t fd, short ev, void *arg)
{
	struct fake_child *ch, *next;
	int st;

	(void)fd;
	(void)ev;
	(void)arg;
	for (ch = TAILQ_FIRST(&fake_children); ch != NULL; ch = next) {
		struct container *c;
		next = TAILQ_NEXT(ch, entry);
		if (waitpid(ch->pid, &st, WNOHANG) != ch->pid)
			continue;
		TAILQ_REMOVE(&fake_children, ch, entry);
		if ((c = fw_find(fw_cur, ch->id)) != NULL)
			backend_container_exited(fw_cur->b, c,
			    WIFEXITED(st) ? WEXITSTATUS(st) :
					    128 + WTERMSIG(st),
			    str_now_ns(), NULL);
		free(ch);
	}
}

static void
fake_env_add(struct strv *env, const cJSON *list)
{
	const cJSON *it;

	cJSON_ArrayForEach(it, list) {
		strv_add(env, it->valuestring);
	}
}

/* Runs c's command under the agent; returns its pid, -1 with e. */
static pid_t
fake_spawn(struct backend *b, struct container *c, struct err *e)
{
	cJSON *run = backend_agent_run_env(b, c, e), *cfg, *cmd;
	struct strv env, argv;
	char *agent = fake_agent_path(), *listen, *out, *etc, *etcvar, *dnsvar;
	int port = fake_port();
	pid_t pid;
	const cJSON *it;

	if (run == NULL)
		return -1;
	cfg = backend_agent_config_env(c);
	cmd = backend_agent_command(c);
	strv_init(&env);
	strv_init(&argv);
	free(fake_last_run_env);
	fake_last_run_env = cJSON_PrintUnformatted(run);
	fake_env_add(&env, run);
	if (fake_agent_bad_token)
		fake_spoil_token(&env);
	fake_env_add(&env, cfg);
	fake_env_add(&env, json_arr(container_config(c), "Env"));
	listen = xasprintf("SOCKERLESS_AGENT_LISTEN=127.0.0.1:%d", port);
	strv_add(&env, listen);
	/* The agent runs on this machine, often as root: its name files go
	 * to the test's directory and its resolver to a loopback port of
	 * the test's (another address than its link's), never to /etc. */
	etc = xasprintf("%s/etc-%d", fw_cur->dir, port);
	mkdir(etc, 0700);
	etcvar = xasprintf("SOCKERLESS_ETC=%s", etc);
	strv_add(&env, etcvar);
	dnsvar = xasprintf("SOCKERLESS_DNS_LISTEN=127.0.0.3:%d", port);
	strv_add(&env, dnsvar);
	strv_add(&argv, agent);
	strv_add(&argv, "--");
	cJSON_ArrayForEach(it, cmd) {
		strv_add(&argv, it->valuestring);
	}
	json_set(container_private(c), "FakePort", cJSON_CreateNumber(port));
	backend_container_save(b, c);
	out = xasprintf("%s/agent-%d.log", fw_cur->dir, port);
	if ((pid = fork()) == 0) {
		/* Its own process group, gone with the test, and its output in
		 * a file: nothing of it outlives the test or holds its pipes.
		 */
		int fd = open(out, O_WRONLY | O_CREAT | O_APPEND, 0600);
		setpgid(0, 0);
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (fd != -1) {
			dup2(fd, 1);
			dup2(fd, 2);
		}
		execve(agent, argv.v, env.v);
		_exit(127);
	}
	free(out);
	strv_free(&env);
	strv_free(&argv);
	free(listen);
	free(etc);
	free(etcvar);
	free(dnsvar);
	free(agent);
	cJSON_Delete(run);
	cJSON_Delete(cfg);
	cJSON_Delete(cmd);
	if (pid == -1)
		err_set(e, 500, "fork: %s", strerror(errno));
	return pid;
}

static struct fake_child *
fake_child_of(const struct container *c)
{
	struct fake_child *ch;

	TAILQ_FOREACH(ch, &fake_children, entry) {
		if (strcmp(ch->id, c->id) == 0)
			return ch;
	}
	return NULL;
}

/* SIGKILL to root and every process below it, as a cloud's hard stop
 * ends the whole container: the agent runs the workload in a session of
 * its own, and here no PID namespace ends it with the agent. Read from
 * /proc before the first kill, while the tree still hangs together. */
static void
fake_kill_tree(pid_t root)
{
	pid_t pids[4096], ppids[4096], tree[4096];
	size_t n = 0, nt = 0, i, j;
	struct dirent *d;
	DIR *dir = opendir("/proc");
	char path[300], buf[512], *p;
	FILE *f;

	while (dir != NULL && (d = readdir(dir)) != NULL && n < 4096) {
		if (d->d_name[0] < '0' || d->d_name[0] > '9')
			continue;
		snprintf(path, sizeof(path), "/proc/%s/stat", d->d_name);
		if ((f = fopen(path, "r")) == NULL)
			continue;
		/* "pid (comm) state ppid": comm may hold spaces and ')' */
		if (fgets(buf, sizeof(buf), f) != NULL &&
		    (p = strrchr(buf, ')')) != NULL &&
		    sscanf(p + 1, " %*c %d", &ppids[n]) == 1)
			pids[n++] = (pid_t)atoi(d->d_name);
		fclose(f);
	}
	if (dir != NULL)
		closedir(dir);
	tree[nt++] = root;
	for (i = 0; i < nt; i++)
		for (j = 0; j < n && nt < 4096; j++)
			if (ppids[j] == tree[i])
				tree[nt++] = pids[j];
	for (i = 0; i < nt; i++)
		kill(tree[i], SIGKILL);
}

/* The agent mode's cloud: start runs the workload, stop and kill signal
 * it (its exit comes through SIGCHLD), a kill with SIGKILL ends the
 * whole tree. 0 when it completed the call. */
int
fake_agent_op(struct fw *fw, struct fake_call *call)
{
	struct container *c = call->c;
	struct fake_child *ch = fake_child_of(c);
	struct err e;
	pid_t pid;

	if (strcmp(call->op, "start") == 0) {
		if ((pid = fake_spawn(fw->b, c, &e)) == -1) {
			fw_complete(fw, call, e.status, e.msg);
			return 0;
		}
		ch = xcalloc(1, sizeof(*ch));
		ch->pid = pid;
		str_lcpy(ch->id, c->id, sizeof(ch->id));
		TAILQ_INSERT_TAIL(&fake_children, ch, entry);
		container_ref(c);
		fw_complete(fw, call, 0, NULL);
		backend_container_started(fw->b, c, str_now_ns());
		container_unref(c);
		return 0;
	}
	if (strcmp(call->op, "stop") == 0 || strcmp(call->op, "kill") == 0) {
		if (ch != NULL && strcmp(call->op, "kill") == 0 &&
		    call->arg == SIGKILL)
			fake_kill_tree(ch->pid);
		else if (ch != NULL)
			kill(ch->pid,
			    strcmp(call->op, "stop") == 0 ? SIGTERM :
							    call->arg);
		fw_complete(fw, call, 0, NULL);
		return 0;
	}
	return -1;
}

int
fake_agent_address(struct backend *b, struct container *c, char *host,
    size_t hostsz, int *port)
{
	(void)b;
	if (!container_running(c))
		return -1;
	str_lcpy(host, "127.0.0.1", hostsz);
	*port = (int)json_int(container_private(c), "FakePort", 0);
	return 0;
}

void
fake_agent_begin(struct fw *fw)
{
	fw->autocomplete = 1;
	fake_sigchld =
	    evsignal_new(backend_base(fw->b), SIGCHLD, fake_on_sigchld, NULL);
	evsignal_add(fake_sigchld, NULL);
}

/* The workloads still running when a test ends (keep: they go on, for
 * the next backend on the same state). */
void
fake_agent_end(int keep)
{
	struct fake_child *ch;

	while (!keep && (ch = TAILQ_FIRST(&fake_children)) != NULL) {
		TAILQ_REMOVE(&fake_children, ch, entry);
		fake_kill_tree(ch->pid);
		waitpid(ch->pid, NULL, 0);
		free(ch);
	}
	if (fake_sigchld != NULL) {
		event_free(fake_sigchld);
		fake_sigchld = NULL;
	}
}

/* --- hijacked requests ---------------------------------------------------- */

static void
fw_tick(evutil_socket_t fd, short ev, void *arg)
{
	(void)fd;
	(void)ev;
	(void)arg;
}

/* One turn of the loop, at most 10 ms long. */
static void
fw_turn(struct fw *fw)
{
	struct timeval tv = { 0, 10000 };
	struct event *t = evtimer_new(backend_base(fw->b), fw_tick, NULL);

	evtimer_add(t, &tv);
	event_base_loop(backend_base(fw->b), EVLOOP_ONCE);
	event_free(t);
}

static int
fw_connect(struct fw *fw)
{
	struct sockaddr_un sa;
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0);

	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	str_lcpy(sa.sun_path, fw->sock, sizeof(sa.sun_path));
	if (fd == -1 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == -1)
		abort();
	return fd;
}

/* Writes all of p while running the loop (the backend reads it there). */
static void
fw_write_all(struct fw *fw, int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);
		if (w > 0) {
			p += w;
			n -= (size_t)w;
		} else if (w == -1 && errno != EAGAIN) {
			return;
		} else {
			fw_turn(fw);
		}
	}
}

/* A reply with a Content-Length has all its body. */
static int
fw_reply_complete(const char *out, size_t n)
{
	const char *head_end = strstr(out, "\r\n\r\n");
	const char *cl = strcasestr(out, "\r\nContent-Length:");

	if (head_end == NULL || cl == NULL || cl > head_end)
		return 0;
	return n >= (size_t)(head_end + 4 - out) +
	    strtoul(cl + strlen("\r\nContent-Length:"), NULL, 10);
}

char *
fw_hijack(struct fw *fw, const char *method, const char *path, const char *body,
    const char *input, int *status, size_t *len)
{
	int fd = fw_connect(fw), sent = input == NULL, eof = 0;
	char *req, *out = NULL, *head_end;
	size_t n = 0, cap = 0;
	int64_t deadline = str_now_ns() + 20LL * 1000000000LL;

	req = xasprintf("%s /internal/v1%s HTTP/1.1\r\nHost: x\r\n"
			"Connection: Upgrade\r\nUpgrade: tcp\r\n"
			"Content-Type: application/json\r\n"
			"Content-Length: %zu\r\n\r\n%s",
	    method, path, body != NULL ? strlen(body) : 0,
	    body != NULL ? body : "");
	fw_write_all(fw, fd, req, strlen(req));
	free(req);
	*status = 0;
	while (!eof && str_now_ns() < deadline) {
		ssize_t r;
		if (cap - n < 4096) {
			cap = cap * 2 + 8192;
			out = xrealloc(out, cap);
			/* The head is searched before the first read lands. */
			out[n] = '\0';
		}
		r = read(fd, out + n, cap - n - 1);
		if (r > 0) {
			n += (size_t)r;
			out[n] = '\0';
		} else if (r == 0 || (r == -1 && errno != EAGAIN)) {
			eof = 1;
		} else {
			fw_turn(fw);
		}
		if (*status == 0 && out != NULL &&
		    (head_end = strstr(out, "\r\n\r\n")) != NULL) {
			*status = atoi(out + 9);
			if (fw->on_upgraded != NULL) {
				void (*fn)(struct fw *, void *) =
				    fw->on_upgraded;
				fw->on_upgraded = NULL;
				fn(fw, fw->on_upgraded_arg);
			}
			if (!sent && *status == 101) {
				fw_write_all(fw, fd, input, strlen(input));
				if (!fw->no_half_close)
					shutdown(fd, SHUT_WR);
				sent = 1;
			}
		}
		/* Refused: a plain reply on a connection kept alive. */
		if (*status != 0 && *status != 101 && fw_reply_complete(out, n))
			eof = 1;
	}
	close(fd);
	if (out == NULL || (head_end = strstr(out, "\r\n\r\n")) == NULL) {
		*len = 0;
		free(out);
		return xstrdup("");
	}
	head_end += 4;
	*len = n - (size_t)(head_end - out);
	memmove(out, head_end, *len);
	out[*len] = '\0';
	return out;
}
