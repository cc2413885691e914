/* The HTTP runtime: the agent as the server of a Cloud Run service (the
 * service under a Cloud Run function) or of an Azure function app's
 * container; each POST runs the command once and is answered with the
 * envelope (docs/agent.md, "HTTP runtime mode"). With SOCKERLESS_HTTP_KEY
 * set, every request must carry that key in x-functions-key. */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "agent.h"
#include "jread.h"
#include "proc.h"
#include "sockerless/lite.h"

#define HTTPRT_HEAD_MAX 16384
#define HTTPRT_BODY_MAX (1u << 20)
/* A request must arrive whole within this; answers get as long per write. */
#define HTTPRT_IO_MS	      10000
#define HTTPRT_ARGV_MAX	      4096
#define HTTPRT_TERM_BEFORE_MS 1500
#define HTTPRT_KILL_BEFORE_MS 700

extern char **environ;

/* The request being run (0: idle); read by the signal handler. */
static volatile sig_atomic_t httprt_worker;
static int httprt_wake[2] = { -1, -1 };
/* Read end of the worker's pipe: a byte there means its command has
 * ended (the answer may still be on its way), so the runtime is free
 * before the worker is reaped: a client that got its answer and posts
 * again must not find it busy. */
static volatile sig_atomic_t httprt_done = -1;
static unsigned long httprt_seq;
/* SOCKERLESS_HTTP_KEY, taken out of the environment the runs inherit
 * ("": no key is asked for). */
#define HTTPRT_KEY_MAX 256
static char httprt_key[HTTPRT_KEY_MAX + 1];

static const int httprt_sigs[] = { SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1,
	SIGUSR2 };
#define HTTPRT_NSIGS (sizeof(httprt_sigs) / sizeof(httprt_sigs[0]))

struct httprt_req {
	char method[16];
	char head[HTTPRT_HEAD_MAX + 1]; /* request line and headers */
	char *body;			/* malloc'd, NUL-terminated */
	size_t body_len;
};

/* What a POST asks for (all members optional). */
struct httprt_inv {
	char cid[80];
	char rid[128];
	char **argv; /* replaces the command line */
	char **env;  /* K=V, replacing or added */
	char *workdir;
	char *user; /* uid[:gid] or names */
	int64_t timeout_ms;
};

/* Signals go to the running request's worker, which forwards them to
 * the command; idle, SIGTERM and SIGINT end the agent (Cloud Run stops
 * an idle instance with SIGTERM). */
static void
httprt_on_signal(int sig)
{
	int saved = errno;
	pid_t w = (pid_t)httprt_worker;
	struct pollfd p = { (int)httprt_done, POLLIN, 0 };
	ssize_t r;

	/* A worker whose command has ended counts as idle. */
	if (w > 0 && (p.fd < 0 || poll(&p, 1, 0) == 1))
		w = 0;
	if (sig == SIGCHLD) {
		r = write(httprt_wake[1], "c", 1);
		(void)r;
	} else if (w > 0) {
		kill(w, sig);
	} else if (sig == SIGTERM || sig == SIGINT) {
		_exit(0);
	}
	errno = saved;
}

static void
httprt_signals_init(void)
{
	struct sigaction sa;
	size_t i;

	if (pipe2(httprt_wake, O_CLOEXEC | O_NONBLOCK) == -1) {
		perror("sockerless-agent: pipe");
		exit(1);
	}
	memset(&sa, 0, sizeof(sa));
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = SA_RESTART;
	sa.sa_handler = httprt_on_signal;
	for (i = 0; i < HTTPRT_NSIGS; i++)
		sigaction(httprt_sigs[i], &sa, NULL);
	sa.sa_flags = SA_RESTART | SA_NOCLDSTOP;
	sigaction(SIGCHLD, &sa, NULL);
	sa.sa_flags = 0;
	sa.sa_handler = SIG_IGN;
	sigaction(SIGPIPE, &sa, NULL);
}

/* "host:port" or "[v6]:port" as a listening socket; -1 with a message. */
static int
httprt_listen(const char *addr)
{
	struct addrinfo hints, *ai = NULL;
	char host[256];
	const char *colon = strrchr(addr, ':');
	size_t hl;
	int fd = -1, one = 1;

	if (colon == NULL || colon[1] == '\0' ||
	    (hl = (size_t)(colon - addr)) >= sizeof(host))
		goto bad;
	memcpy(host, addr, hl);
	host[hl] = '\0';
	if (hl >= 2 && host[0] == '[' && host[hl - 1] == ']') {
		memmove(host, host + 1, hl - 2);
		host[hl - 2] = '\0';
	}
	memset(&hints, 0, sizeof(hints));
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICHOST | AI_NUMERICSERV;
	if (getaddrinfo(host, colon + 1, &hints, &ai) != 0)
		goto bad;
	if ((fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1 ||
	    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) == -1 ||
	    bind(fd, ai->ai_addr, ai->ai_addrlen) == -1 ||
	    listen(fd, 16) == -1) {
		fprintf(stderr, "sockerless-agent: listen %s: %s\n", addr,
		    strerror(errno));
		if (fd >= 0)
			close(fd);
		fd = -1;
	}
	freeaddrinfo(ai);
	return fd;
bad:
	fprintf(stderr,
	    "sockerless-agent: listen address %s is not a numeric host:port\n",
	    addr);
	return -1;
}

/* Waits until fd is ready for events or the deadline (epoch ms) passes. */
static int
httprt_ready(int fd, short events, int64_t deadline)
{
	struct pollfd p = { fd, events, 0 };
	int64_t left;
	int n;

	for (;;) {
		if ((left = deadline - proc_now_ms()) <= 0)
			return -1;
		n = poll(&p, 1, (int)left);
		if (n > 0)
			return 0;
		if (n == -1 && errno != EINTR)
			return -1;
	}
}

/* Writes all of buf; 0, or -1 when the client went away or stalled. */
static int
httprt_write_all(int fd, const char *buf, size_t len)
{
	int64_t deadline = proc_now_ms() + HTTPRT_IO_MS;
	ssize_t n;

	while (len > 0) {
		if (httprt_ready(fd, POLLOUT, deadline) == -1)
			return -1;
		n = send(fd, buf, len, MSG_DONTWAIT | MSG_NOSIGNAL);
		if (n == -1 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (n <= 0)
			return -1;
		buf += n;
		len -= (size_t)n;
		deadline = proc_now_ms() + HTTPRT_IO_MS;
	}
	return 0;
}

static void
httprt_reply(
    int fd, int status, const char *reason, const char *body, size_t len)
{
	char head[256];
	int n;

	n = snprintf(head, sizeof(head),
	    "HTTP/1.1 %d %s\r\nContent-Type: application/json\r\n"
	    "Content-Length: %zu\r\nConnection: close\r\n\r\n",
	    status, reason, len);
	if (httprt_write_all(fd, head, (size_t)n) == 0)
		httprt_write_all(fd, body, len);
}

/* An error answer in Docker's shape, {"message": "..."} (msg has no
 * characters that need escaping). */
static void
httprt_error(int fd, int status, const char *reason, const char *msg)
{
	char body[512];
	int n = snprintf(body, sizeof(body), "{\"message\":\"%s\"}", msg);

	httprt_reply(fd, status, reason, body, (size_t)n);
}

/* Reads the request head and its Content-Length body: 0, the HTTP status
 * to refuse it with, or -1 when the peer left or stalled (nothing to
 * answer). */
static int
httprt_read(int fd, struct httprt_req *r)
{
	int64_t deadline = proc_now_ms() + HTTPRT_IO_MS;
	char *end = NULL, cl[32], te[64];
	size_t have = 0, hlen, want;
	unsigned long long v;
	ssize_t n;

	memset(r, 0, sizeof(*r));
	while (end == NULL) {
		if (have == HTTPRT_HEAD_MAX)
			return 431;
		if (httprt_ready(fd, POLLIN, deadline) == -1 ||
		    (n = recv(fd, r->head + have, HTTPRT_HEAD_MAX - have,
			 MSG_DONTWAIT)) == 0)
			return -1;
		if (n < 0) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			return -1;
		}
		have += (size_t)n;
		r->head[have] = '\0';
		end = strstr(r->head, "\r\n\r\n");
	}
	hlen = (size_t)(end - r->head) + 4;
	if (sscanf(r->head, "%15s", r->method) != 1)
		return 400;
	if (lite_http_header(r->head, "Transfer-Encoding", te, sizeof(te)) == 0)
		return 411;
	v = 0;
	if (lite_http_header(r->head, "Content-Length", cl, sizeof(cl)) == 0 &&
	    (cl[strspn(cl, "0123456789")] != '\0' || cl[0] == '\0' ||
		(v = strtoull(cl, NULL, 10)) > HTTPRT_BODY_MAX))
		return cl[strspn(cl, "0123456789")] != '\0' || cl[0] == '\0' ?
		    400 :
		    413;
	want = (size_t)v;
	r->body = xmalloc(want + 1);
	r->body_len = have - hlen < want ? have - hlen : want;
	memcpy(r->body, r->head + hlen, r->body_len);
	end[2] = '\0'; /* the head ends with its last header's CRLF */
	while (r->body_len < want) {
		if (httprt_ready(fd, POLLIN, deadline) == -1 ||
		    (n = recv(fd, r->body + r->body_len, want - r->body_len,
			 MSG_DONTWAIT)) == 0)
			return -1;
		if (n < 0) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			return -1;
		}
		r->body_len += (size_t)n;
	}
	r->body[r->body_len] = '\0';
	return 0;
}

static void
httprt_inv_free(struct httprt_inv *inv)
{
	jread_strv_free(inv->argv);
	jread_strv_free(inv->env);
	free(inv->workdir);
	free(inv->user);
	memset(inv, 0, sizeof(*inv));
}

/* A token member (container, request) into out; -1 when it is not one. */
static int
httprt_token(struct jread *c, char *out, size_t outsz)
{
	char *s = NULL;
	int rc = -1;

	if (jread_string(c, &s) == 0 && envelope_token_ok(s, outsz)) {
		strcpy(out, s);
		rc = 0;
	}
	free(s);
	return rc;
}

static int
httprt_env_ok(char **env)
{
	size_t i;

	for (i = 0; env[i] != NULL; i++)
		if (env[i][0] == '=' || strchr(env[i], '=') == NULL)
			return 0;
	return 1;
}

/* The POST's body (empty: all defaults). NULL, or what is wrong with it
 * (a static sentence for the 400). */
static const char *
httprt_parse(const char *body, size_t len, struct httprt_inv *inv)
{
	struct jread c;
	char *key = NULL;
	const char *bad = NULL;
	int64_t ms = 0;
	int more;

	jread_init(&c, body, len);
	jread_ws(&c);
	if (c.p == c.end)
		return NULL;
	if (!jread_eat(&c, '{'))
		return "the request body must be a JSON object";
	if (jread_eat(&c, '}'))
		goto end;
	do {
		if (jread_member(&c, &key) == -1)
			return "the request body is not valid JSON";
		if (strcmp(key, "container") == 0) {
			if (httprt_token(&c, inv->cid, sizeof(inv->cid)) == -1)
				bad =
				    "container must be an id ([A-Za-z0-9_.-])";
		} else if (strcmp(key, "request") == 0) {
			if (httprt_token(&c, inv->rid, sizeof(inv->rid)) == -1)
				bad = "request must be an id ([A-Za-z0-9_.-])";
		} else if (strcmp(key, "argv") == 0) {
			inv->argv = jread_str_array(&c, HTTPRT_ARGV_MAX);
			if (inv->argv == NULL || inv->argv[0] == NULL)
				bad =
				    "argv must be a non-empty array of strings";
		} else if (strcmp(key, "env") == 0) {
			inv->env = jread_str_array(&c, HTTPRT_ARGV_MAX);
			if (inv->env == NULL || !httprt_env_ok(inv->env))
				bad =
				    "env must be an array of NAME=VALUE strings";
		} else if (strcmp(key, "workdir") == 0) {
			if (jread_string(&c, &inv->workdir) == -1 ||
			    inv->workdir[0] != '/')
				bad = "workdir must be an absolute path";
		} else if (strcmp(key, "user") == 0) {
			if (jread_string(&c, &inv->user) == -1 ||
			    inv->user[0] == '\0')
				bad = "user must be a user name or uid[:gid]";
		} else if (strcmp(key, "timeoutMs") == 0) {
			if (jread_number(&c, &ms) == -1 || ms <= 0)
				bad = "timeoutMs must be a positive number";
			inv->timeout_ms = ms;
		} else if (jread_skip(&c) == -1) {
			bad = "the request body is not valid JSON";
		}
		free(key);
		key = NULL;
		if (bad != NULL)
			return bad;
	} while ((more = jread_more(&c, '}')) == 1);
	if (more == -1)
		return "the request body is not valid JSON";
end:
	jread_ws(&c);
	return c.p == c.end ? NULL : "the request body is not valid JSON";
}

/* mkdir -p dir, as Docker makes a missing working directory. */
static int
httprt_mkdirs(const char *dir)
{
	char *d = xmalloc(strlen(dir) + 1), *p;
	int rc = 0;

	strcpy(d, dir);
	for (p = d + 1; rc == 0 && *p != '\0'; p++)
		if (*p == '/') {
			*p = '\0';
			if (mkdir(d, 0755) == -1 && errno != EEXIST)
				rc = -1;
			*p = '/';
		}
	if (rc == 0 && mkdir(d, 0755) == -1 && errno != EEXIST)
		rc = -1;
	free(d);
	return rc;
}

/* Becomes user for this run (in the worker): 0, or -1 with the reason in
 * msg as Docker words it (spawn_become writes it on stdout, which is
 * caught here so the envelope carries it). */
static int
httprt_user(const char *user, char *msg, size_t msgsz)
{
	int p[2] = { -1, -1 }, saved = -1, rc;
	ssize_t n;
	char *cr;

	if (pipe2(p, O_CLOEXEC | O_NONBLOCK) == -1 ||
	    (saved = dup(STDOUT_FILENO)) == -1 ||
	    dup2(p[1], STDOUT_FILENO) == -1) {
		snprintf(msg, msgsz, "sockerless-agent: user %s: %s\n", user,
		    strerror(errno));
		rc = -1;
		goto out;
	}
	rc = spawn_become(user);
	dup2(saved, STDOUT_FILENO);
	n = read(p[0], msg, msgsz - 2);
	if (n <= 0) {
		snprintf(msg, msgsz - 2, "unable to set user %s", user);
		n = (ssize_t)strlen(msg);
	}
	msg[n] = '\0';
	if ((cr = strchr(msg, '\r')) != NULL)
		*cr = '\0';
	strcat(msg, "\n");
out:
	if (saved >= 0)
		close(saved);
	if (p[0] >= 0)
		close(p[0]);
	if (p[1] >= 0)
		close(p[1]);
	return rc;
}

/* The worker: one run, answered on fd; exits. */
static void httprt_run(int fd, int done, struct httprt_inv *inv,
    char *const dflt[]) __attribute__((noreturn));
static void
httprt_run(int fd, int done, struct httprt_inv *inv, char *const dflt[])
{
	struct envelope_out out;
	struct envelope_result res;
	char *const *argv = inv->argv != NULL ? inv->argv : dflt;
	int64_t term_at = 0, kill_at = 0, deadline;
	char msg[512];
	char *body;
	size_t len;

	environ = spawn_env(environ, inv->env);
	envelope_out_init(&out);
	envelope_say("sockerless-agent: container %s request %s started\n",
	    inv->cid, inv->rid);
	if (inv->timeout_ms > 0) {
		deadline = proc_now_ms() + inv->timeout_ms;
		term_at = deadline - HTTPRT_TERM_BEFORE_MS;
		kill_at = deadline - HTTPRT_KILL_BEFORE_MS;
	}
	/* The directory is made as Docker makes it (before the user
	 * switch), then entered as the user. */
	if (inv->workdir != NULL && httprt_mkdirs(inv->workdir) == -1) {
		snprintf(msg, sizeof(msg), "sockerless-agent: mkdir %s: %s\n",
		    inv->workdir, strerror(errno));
		envelope_fail(&out, &res, 126, msg);
	} else if (inv->user != NULL &&
	    httprt_user(inv->user, msg, sizeof(msg)) == -1) {
		envelope_fail(&out, &res, 126, msg);
	} else if (inv->workdir != NULL && chdir(inv->workdir) == -1) {
		snprintf(msg, sizeof(msg),
		    "sockerless-agent: chdir to %s: %s\n", inv->workdir,
		    strerror(errno));
		envelope_fail(&out, &res, 126, msg);
	} else {
		envelope_run(&out, argv, term_at, kill_at, &res);
	}
	envelope_say(
	    "sockerless-agent: container %s request %s exit status %d%s\n",
	    inv->cid, inv->rid, res.code, res.suffix);
	if (write(done, "d", 1) != 1)
		envelope_say(
		    "sockerless-agent: done pipe: %s\n", strerror(errno));
	body = envelope_build(&out, &res, 1, &len);
	httprt_reply(fd, 200, "OK", body, len);
	free(body);
	envelope_out_free(&out);
	_exit(0);
}

/* Forks the worker for a POST; signals stay blocked until it has its own
 * handlers, so none reaches it through the agent's. */
static void
httprt_start(int fd, int lfd, struct httprt_inv *inv, char *const argv[])
{
	sigset_t all, old;
	int done[2];
	pid_t pid;

	if (pipe2(done, O_CLOEXEC) == -1) {
		httprt_error(fd, 503, "Service Unavailable",
		    "the agent could not make a pipe for the run");
		return;
	}
	sigfillset(&all);
	sigprocmask(SIG_BLOCK, &all, &old);
	pid = fork();
	if (pid == 0) {
		close(lfd);
		close(httprt_wake[0]);
		close(httprt_wake[1]);
		close(done[0]);
		if (httprt_done >= 0)
			close((int)httprt_done);
		proc_signals_init(0);
		sigprocmask(SIG_SETMASK, &old, NULL);
		httprt_run(fd, done[1], inv, argv);
	}
	close(done[1]);
	if (pid > 0) {
		if (httprt_done >= 0)
			close((int)httprt_done);
		httprt_done = done[0];
		httprt_worker = pid;
	} else {
		close(done[0]);
	}
	sigprocmask(SIG_SETMASK, &old, NULL);
	if (pid == -1)
		httprt_error(fd, 503, "Service Unavailable",
		    "the agent could not fork the run");
}

static int
httprt_busy(void)
{
	struct pollfd p = { (int)httprt_done, POLLIN, 0 };

	if (p.fd < 0)
		return 0;
	if (poll(&p, 1, 0) == 1) { /* the byte, or the worker is gone */
		close(p.fd);
		httprt_done = -1;
		return 0;
	}
	return 1;
}

/* Whether the request carries the key (constant time in the key's
 * length: every byte of the longer is compared). */
static int
httprt_key_ok(const char *head)
{
	char got[HTTPRT_KEY_MAX + 2];
	size_t kl = strlen(httprt_key), gl, i, n;
	unsigned diff;

	if (kl == 0)
		return 1;
	if (lite_http_header(head, "x-functions-key", got, sizeof(got)) != 0)
		return 0;
	gl = strlen(got);
	diff = (unsigned)(gl ^ kl);
	n = gl > kl ? gl : kl;
	for (i = 0; i < n; i++)
		diff |= (unsigned char)(i < gl ? got[i] : 0) ^
		    (unsigned char)(i < kl ? httprt_key[i] : 0);
	return diff == 0;
}

/* One connection: read, then answer or hand it to a worker. */
static void
httprt_serve(int fd, int lfd, char *const argv[])
{
	struct httprt_req r;
	struct httprt_inv inv;
	const char *bad;
	int st = httprt_read(fd, &r);

	memset(&inv, 0, sizeof(inv));
	if (st == 400 || st == 411 || st == 413 || st == 431) {
		httprt_error(fd, st,
		    st == 400	  ? "Bad Request" :
			st == 411 ? "Length Required" :
			st == 413 ? "Payload Too Large" :
				    "Request Header Fields Too Large",
		    st == 411 ? "send the body with a Content-Length" :
				"the request is malformed or too large");
	} else if (st != 0) {
		/* the peer left or stalled: nothing to answer */
	} else if (!httprt_key_ok(r.head)) {
		httprt_error(fd, 401, "Unauthorized",
		    "this runtime needs its key in x-functions-key");
	} else if (strcmp(r.method, "GET") == 0) {
		httprt_reply(fd, 200, "OK", "{\"ready\":true}", 14);
	} else if (strcmp(r.method, "POST") != 0) {
		httprt_error(fd, 405, "Method Not Allowed",
		    "POST runs the command; GET is the readiness probe");
	} else if (httprt_busy()) {
		httprt_error(fd, 429, "Too Many Requests",
		    "a run is in progress; this runtime runs one at a time");
	} else if ((bad = httprt_parse(r.body, r.body_len, &inv)) != NULL) {
		httprt_error(fd, 400, "Bad Request", bad);
	} else if (inv.argv == NULL && argv[0] == NULL) {
		httprt_error(fd, 400, "Bad Request",
		    "argv is required: this runtime has no command of its own");
	} else {
		if (inv.cid[0] == '\0')
			strcpy(inv.cid, "-");
		if (inv.rid[0] == '\0')
			snprintf(inv.rid, sizeof(inv.rid), "http-%ld-%lu",
			    (long)getpid(), ++httprt_seq);
		httprt_start(fd, lfd, &inv, argv);
	}
	httprt_inv_free(&inv);
	free(r.body);
	close(fd);
}

static void
httprt_reap(void)
{
	char buf[64];
	pid_t pid;
	int status;

	while (read(httprt_wake[0], buf, sizeof(buf)) > 0)
		;
	while ((pid = waitpid(-1, &status, WNOHANG)) > 0)
		if (pid == (pid_t)httprt_worker)
			httprt_worker = 0;
}

void
httprt_main(const char *listen_addr, char *const argv[])
{
	struct sockaddr_storage peer;
	socklen_t alen;
	struct pollfd p[2];
	int lfd, fd;
	const char *key = getenv("SOCKERLESS_HTTP_KEY");

	if (key != NULL && strlen(key) > HTTPRT_KEY_MAX) {
		fprintf(stderr,
		    "sockerless-agent: SOCKERLESS_HTTP_KEY is longer "
		    "than %d characters\n",
		    HTTPRT_KEY_MAX);
		exit(125);
	}
	if (key != NULL)
		snprintf(httprt_key, sizeof(httprt_key), "%s", key);
	unsetenv("SOCKERLESS_HTTP_KEY"); /* the runs never see it */
	httprt_signals_init();
	if ((lfd = httprt_listen(listen_addr)) == -1)
		exit(1);
	envelope_say(
	    "sockerless-agent: HTTP runtime listening on %s\n", listen_addr);
	for (;;) {
		p[0] = (struct pollfd){ lfd, POLLIN, 0 };
		p[1] = (struct pollfd){ httprt_wake[0], POLLIN, 0 };
		if (poll(p, 2, -1) == -1)
			continue;
		if (p[1].revents != 0)
			httprt_reap();
		if (p[0].revents == 0)
			continue;
		alen = sizeof(peer);
		fd =
		    accept4(lfd, (struct sockaddr *)&peer, &alen, SOCK_CLOEXEC);
		if (fd >= 0)
			httprt_serve(fd, lfd, argv);
	}
}
