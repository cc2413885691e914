/* The PID 1 wrapper (ECS): runs the main process, tees its output with the
 * stderr marking, forwards signals, reaps, runs health checks, serves the
 * link's view of the main process, and exits with its exit code. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent.h"
#include "modules.h"
#include "net.h"
#include "proc.h"
#include "sockerless/aglink_wire.h"

/* Log lines longer than this are written as marked pieces: a piece with its
 * 8-byte mark and newline stays within the 16 KiB line of the container
 * runtimes' log capture (dockerd's json-file, containerd's CRI logs), which
 * would split it again into rows the reader joins with a newline. */
#define WRAP_LINE_MAX (16384 - 16)
#define WRAP_READ_MAX 65536
/* Descendants still holding the main process's pipes after it ended are
 * read this long after their last byte, and at most WRAP_DRAIN_MAX_MS. */
#define WRAP_GRACE_MS	  200
#define WRAP_DRAIN_MAX_MS 10000
/* Links get this long to take the last messages before the agent exits. */
#define WRAP_EXIT_MS 2000
/* How long a finished workload waits for a reverse link that is not up
 * yet, to report its exit over it. */
#define WRAP_LINK_WAIT_MS 15000
#define WRAP_HEALTH_OUT	  4096

extern char **environ;

struct wrap_line {
	char buf[WRAP_LINE_MAX + 1];
	size_t len;
};

static struct {
	char *const *argv;
	char **env;
	int tty, stdin_on, stdin_once, stop_sig, linked, rev;
	unsigned short rows, cols; /* the terminal's first size; 0: unset */
	int64_t hold_until;
	int started, exited, status, done;
	struct spawned sp;
	int64_t start_us, exit_ms, last_ms, finish_us, exit_deadline;
	struct wrap_line line[3];
} wrap;

static struct {
	int running, exited, status, timed_out;
	struct spawned sp;
	int64_t start, deadline, exit_ms, last_ms;
	char out[WRAP_HEALTH_OUT];
	size_t len;
} wrap_hc;

/* Output for the agent's stdout (1) and stderr (2) not yet written. */
#define WRAP_TEE_MAX (256 * 1024)
struct wrap_q {
	char *buf;
	size_t off, len, cap;
	int broken;
};
static struct wrap_q wrap_q[3];

/* ---- the log tee ---- */

/* The agent's own stdout and stderr are written without blocking the
 * loop: what the log reader has not taken yet waits here, and past
 * WRAP_TEE_MAX the main process's output is no longer read. */
static void
wrap_write(int fd, const char *p, size_t n)
{
	struct wrap_q *q = &wrap_q[fd];
	ssize_t r;

	if (q->broken)
		return;
	if (q->off == q->len) {
		q->off = q->len = 0;
		while (n > 0 && (r = write(fd, p, n)) != 0) {
			if (r > 0) {
				p += r;
				n -= (size_t)r;
			} else if (errno == EAGAIN) {
				break;
			} else if (errno != EINTR) {
				q->broken = 1; /* nobody reads the log */
				return;
			}
		}
	}
	if (n == 0)
		return;
	if (q->len + n > q->cap) {
		if (q->off > 0) {
			memmove(q->buf, q->buf + q->off, q->len - q->off);
			q->len -= q->off;
			q->off = 0;
		}
		if (q->len + n > q->cap) {
			q->cap = (q->len + n) * 2;
			q->buf = xrealloc(q->buf, q->cap);
		}
	}
	memcpy(q->buf + q->len, p, n);
	q->len += n;
}

static void
wrap_on_log(void *arg, short revents)
{
	int fd = arg == NULL ? STDOUT_FILENO : STDERR_FILENO;
	struct wrap_q *q = &wrap_q[fd];
	ssize_t r;

	(void)revents;
	r = write(fd, q->buf + q->off, q->len - q->off);
	if (r > 0)
		q->off += (size_t)r;
	else if (r == -1 && errno != EAGAIN && errno != EINTR)
		q->broken = 1;
	if (q->broken || q->off == q->len)
		q->off = q->len = 0;
}

/* Before exit: whatever is left is written, now blocking. */
static void
wrap_log_flush(void)
{
	struct wrap_q *q;
	ssize_t r;
	int fd;

	for (fd = STDOUT_FILENO; fd <= STDERR_FILENO; fd++) {
		q = &wrap_q[fd];
		fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
		while (!q->broken && q->off < q->len) {
			r = write(fd, q->buf + q->off, q->len - q->off);
			if (r > 0)
				q->off += (size_t)r;
			else if (r == -1 && errno != EINTR)
				break;
		}
	}
}

static size_t
wrap_log_pending(int stream)
{
	struct wrap_q *q =
	    &wrap_q[stream == AGLINK_STDERR && !wrap.tty ? STDERR_FILENO :
							   STDOUT_FILENO];

	return q->len - q->off;
}

/* Whether a stdout line starts like one of the marks below. */
static int
wrap_looks_marked(const char *p, size_t len)
{
	static const char *const marks[] = { "stdout| ", "stderr| ", "stdout+ ",
		"stderr+ " };

	for (size_t i = 0; i < sizeof(marks) / sizeof(marks[0]); i++)
		if (len >= 8 && memcmp(p, marks[i], 8) == 0)
			return 1;
	return 0;
}

/* Writes one line or piece: marked as docs/agent-link.md says (a piece
 * without its newline is marked "+": the reader adds no newline). */
static void
wrap_emit(int stream, struct wrap_line *l)
{
	static char out[WRAP_LINE_MAX + 16];
	const char *mark = NULL;
	size_t n = 0;
	int whole = l->len > 0 && l->buf[l->len - 1] == '\n';

	if (stream == AGLINK_STDERR)
		mark = whole ? "stderr| " : "stderr+ ";
	else if (!whole)
		mark = "stdout+ ";
	else if (wrap_looks_marked(l->buf, l->len))
		mark = "stdout| ";
	if (mark != NULL) {
		memcpy(out, mark, 8);
		n = 8;
	}
	memcpy(out + n, l->buf, l->len);
	n += l->len;
	if (l->len == 0 || l->buf[l->len - 1] != '\n')
		out[n++] = '\n';
	wrap_write(
	    stream == AGLINK_STDERR ? STDERR_FILENO : STDOUT_FILENO, out, n);
	l->len = 0;
}

static void
wrap_tee(int stream, const char *p, size_t n)
{
	struct wrap_line *l = &wrap.line[stream];
	const char *nl;
	size_t lim, take;

	if (wrap.tty) {
		wrap_write(STDOUT_FILENO, p, n);
		return;
	}
	while (n > 0) {
		if (l->len == WRAP_LINE_MAX) {
			/* A full piece: its newline, or a split. */
			if (*p == '\n') {
				l->buf[l->len++] = '\n';
				p++;
				n--;
			}
			wrap_emit(stream, l);
			continue;
		}
		lim = WRAP_LINE_MAX - l->len;
		if (lim > n)
			lim = n;
		nl = memchr(p, '\n', lim);
		take = nl != NULL ? (size_t)(nl - p) + 1 : lim;
		memcpy(l->buf + l->len, p, take);
		l->len += take;
		p += take;
		n -= take;
		if (nl != NULL)
			wrap_emit(stream, l);
	}
}

static void
wrap_tee_end(int stream)
{
	if (wrap.line[stream].len > 0)
		wrap_emit(stream, &wrap.line[stream]);
}

/* ---- the main process ---- */

static int
wrap_wants(const struct chan *c, int stream)
{
	if (c->dead || c->kind != CHAN_ATTACH)
		return 0;
	return stream == AGLINK_STDOUT ? c->want_out : c->want_err;
}

/* The slowest attached channel sets how much may be read. */
static size_t
wrap_room(int stream)
{
	struct chan *c;
	size_t room = WRAP_READ_MAX, r;

	if (wrap_log_pending(stream) >= WRAP_TEE_MAX)
		return 0;
	for (c = chan_list; c != NULL; c = c->next)
		if (wrap_wants(c, stream) && (r = chan_room(c)) < room)
			room = r;
	return room;
}

static void
wrap_read(int *fd, int stream)
{
	static char buf[WRAP_READ_MAX];
	size_t room = wrap_room(stream);
	struct chan *c;
	ssize_t n;

	if (*fd < 0 || room == 0)
		return;
	n = read(*fd, buf, room);
	if (n > 0) {
		/* Stamped as read, before the copy to the agent's own output:
		 * whoever sees that copy sees a time no later than it. */
		int64_t ts_ns = proc_now_us() * 1000;

		wrap.last_ms = ts_ns / 1000000;
		wrap_tee(stream, buf, (size_t)n);
		spool_add(stream, buf, (size_t)n, ts_ns);
		for (c = chan_list; c != NULL; c = c->next)
			if (wrap_wants(c, stream))
				chan_data(c, stream, buf, (size_t)n);
	} else if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
		close(*fd);
		*fd = -1;
		if (stream == AGLINK_STDOUT)
			wrap.sp.tty_fd = -1;
		wrap_tee_end(stream);
	}
}

static void
wrap_on_out(void *arg, short revents)
{
	(void)arg;
	(void)revents;
	wrap_read(&wrap.sp.out_fd, AGLINK_STDOUT);
}

static void
wrap_on_err(void *arg, short revents)
{
	(void)arg;
	(void)revents;
	wrap_read(&wrap.sp.err_fd, AGLINK_STDERR);
}

static void
wrap_on_exit(void *arg, int status)
{
	(void)arg;
	wrap.exited = 1;
	wrap.status = status;
	wrap.exit_ms = proc_now_ms();
	wrap.finish_us = proc_now_us();
}

static void
wrap_start_main(void)
{
	struct spawn s;

	memset(&s, 0, sizeof(s));
	s.argv = wrap.argv;
	s.envp = wrap.env;
	s.tty = wrap.tty;
	s.in = wrap.stdin_on;
	s.rows = wrap.rows;
	s.cols = wrap.cols;
	wrap.started = 1;
	wrap.start_us = proc_now_us();
	wrap.last_ms = proc_now_ms();
	if (spawn_start(&s, &wrap.sp) == -1) {
		fprintf(stderr, "sockerless-agent: spawn %s: %s\n",
		    wrap.argv[0], strerror(errno));
		wrap_on_exit(NULL, 126 << 8);
		return;
	}
	loop_child(wrap.sp.pid, wrap_on_exit, NULL);
	health_init(getenv("SOCKERLESS_HEALTHCHECK"));
}

static void
wrap_start(uint32_t ch)
{
	if (!wrap.started)
		wrap_start_main();
	chan_reply(ch, "{}");
}

static int
wrap_kill(int sig)
{
	if (!wrap.started || wrap.exited)
		return -1;
	/* Docker signals the container's main process, not its group: a
	 * shell decides what its children get. */
	return kill(wrap.sp.pid, sig);
}

static void
wrap_signal(int sig)
{
	if (!wrap.started) {
		if (sig == SIGTERM || sig == SIGINT)
			exit(128 + sig);
		return;
	}
	wrap_kill(sig == SIGTERM ? wrap.stop_sig : sig);
}

static void
wrap_attach(struct chan *c)
{
	char json[32];

	if (wrap.done) {
		snprintf(json, sizeof(json), "{\"exitCode\":%d}",
		    proc_exit_code(wrap.status));
		chan_result(c, json);
	}
}

static void
wrap_resize(unsigned rows, unsigned cols)
{
	if (wrap.started && !wrap.done)
		spawn_resize(wrap.sp.tty_fd, rows, cols);
}

static int
wrap_main_in_fd(void)
{
	if (!wrap.stdin_on)
		return -1;
	if (!wrap.started)
		return -2; /* held: keep the bytes until it starts */
	return wrap.sp.in_fd;
}

static void
wrap_main_in_eof(void)
{
	if (wrap.stdin_once && wrap.sp.in_fd >= 0) {
		close(wrap.sp.in_fd);
		wrap.sp.in_fd = -1;
	}
}

static char *
wrap_hello(void)
{
	struct jsonw w;
	const char *cid = getenv("SOCKERLESS_CONTAINER_ID");
	char t[48] = "0001-01-01T00:00:00Z";

	if (wrap.started)
		jsonw_time(t, sizeof(t), wrap.start_us / 1000000,
		    (long)(wrap.start_us % 1000000) * 1000);
	jsonw_init(&w);
	jsonw_printf(&w, "{\"agent\":\"%s\",\"container\":", AGENT_VERSION);
	jsonw_str(&w, cid != NULL ? cid : "", cid != NULL ? strlen(cid) : 0);
	jsonw_printf(&w, ",\"pid\":%d,\"main\":{\"running\":%s,\"pid\":%d,",
	    (int)getpid(), wrap.started && !wrap.exited ? "true" : "false",
	    (int)wrap.sp.pid);
	if (wrap.exited)
		jsonw_printf(
		    &w, "\"exitCode\":%d,", proc_exit_code(wrap.status));
	else
		jsonw_puts(&w, "\"exitCode\":null,");
	jsonw_printf(&w, "\"tty\":%s,\"startedAt\":\"%s\"},\"held\":%s}",
	    wrap.tty ? "true" : "false", t, wrap.started ? "false" : "true");
	return jsonw_take(&w);
}

/* The main process has ended and its output is drained. */
static void
wrap_finish(void)
{
	struct chan *c;
	char json[160], t[48];
	int code = proc_exit_code(wrap.status);

	wrap.done = 1;
	if (wrap.sp.pid > 0)
		kill(-wrap.sp.pid, SIGKILL); /* as Docker ends the rest */
	if (wrap.sp.in_fd >= 0)
		close(wrap.sp.in_fd);
	wrap.sp.in_fd = -1;
	snprintf(json, sizeof(json), "{\"exitCode\":%d}", code);
	for (c = chan_list; c != NULL; c = c->next)
		if (!c->dead && c->kind == CHAN_ATTACH)
			chan_result(c, json);
	spool_end(code);
	spool_prepare();
	/* Before the main process's end is reported: a backend may end the
	 * container (and its link) on that report. */
	exec_flush_ended();
	jsonw_time(t, sizeof(t), wrap.finish_us / 1000000,
	    (long)(wrap.finish_us % 1000000) * 1000);
	snprintf(json, sizeof(json),
	    "{\"main\":{\"exitCode\":%d,\"finishedAt\":\"%s\"}}", code, t);
	link_send(AGLINK_EVENT, 0, 0, json, strlen(json));
	link_close_all();
	wrap.exit_deadline = proc_now_ms() + WRAP_EXIT_MS;
}

static void
wrap_prepare_main(int64_t now)
{
	int64_t quiet;

	if (!wrap.started) {
		if (wrap.hold_until > now) {
			loop_timer(wrap.hold_until);
			return;
		}
		wrap_start_main();
	}
	if (wrap_q[STDOUT_FILENO].len > wrap_q[STDOUT_FILENO].off)
		loop_watch(STDOUT_FILENO, POLLOUT, wrap_on_log, NULL);
	if (wrap_q[STDERR_FILENO].len > wrap_q[STDERR_FILENO].off)
		loop_watch(STDERR_FILENO, POLLOUT, wrap_on_log, &wrap_q);
	if (wrap.done)
		return;
	if (wrap_room(AGLINK_STDOUT) > 0)
		loop_watch(wrap.sp.out_fd, POLLIN, wrap_on_out, NULL);
	else
		wrap.last_ms = now;
	if (wrap_room(AGLINK_STDERR) > 0)
		loop_watch(wrap.sp.err_fd, POLLIN, wrap_on_err, NULL);
	else
		wrap.last_ms = now;
	if (!wrap.exited)
		return;
	if (wrap.sp.out_fd >= 0 || wrap.sp.err_fd >= 0) {
		quiet = (wrap.last_ms > wrap.exit_ms ? wrap.last_ms :
						       wrap.exit_ms) +
		    WRAP_GRACE_MS;
		if (quiet > wrap.exit_ms + WRAP_DRAIN_MAX_MS)
			quiet = wrap.exit_ms + WRAP_DRAIN_MAX_MS;
		if (now < quiet) {
			loop_timer(quiet);
			return;
		}
		if (wrap.sp.out_fd >= 0) {
			close(wrap.sp.out_fd);
			wrap.sp.out_fd = -1;
			wrap_tee_end(AGLINK_STDOUT);
		}
		if (wrap.sp.err_fd >= 0) {
			close(wrap.sp.err_fd);
			wrap.sp.err_fd = -1;
			wrap_tee_end(AGLINK_STDERR);
		}
	}
	/* Reverse mode: the exit is reported over the link, and a cloud
	 * that gives no exit code (Container Apps jobs) has only that
	 * report: a workload that ended before the link came up waits for
	 * it a while. */
	if (wrap.rev && !link_current() &&
	    now < wrap.exit_ms + WRAP_LINK_WAIT_MS) {
		loop_timer(wrap.exit_ms + WRAP_LINK_WAIT_MS);
		return;
	}
	/* A `docker logs -f` served from the spool gets its last output
	 * before the end (a reader that does not take it, a while). */
	if (spool_behind() && link_current() &&
	    now < wrap.exit_ms + WRAP_DRAIN_MAX_MS) {
		loop_timer(now + 50);
		return;
	}
	wrap_finish();
}

/* ---- health checks ---- */

static void
wrap_hc_exit(void *arg, int status)
{
	(void)arg;
	wrap_hc.exited = 1;
	wrap_hc.status = status;
	wrap_hc.exit_ms = proc_now_ms();
}

static void
wrap_hc_read(void *arg, short revents)
{
	char buf[4096];
	size_t room;
	ssize_t n;

	(void)arg;
	(void)revents;
	n = read(wrap_hc.sp.out_fd, buf, sizeof(buf));
	if (n == 0 || (n == -1 && errno != EAGAIN && errno != EINTR)) {
		close(wrap_hc.sp.out_fd);
		wrap_hc.sp.out_fd = -1;
		return;
	}
	if (n < 0)
		return;
	wrap_hc.last_ms = proc_now_ms();
	room = sizeof(wrap_hc.out) - wrap_hc.len;
	if ((size_t)n > room)
		n = (ssize_t)room;
	memcpy(wrap_hc.out + wrap_hc.len, buf, (size_t)n);
	wrap_hc.len += (size_t)n;
}

static void
wrap_hc_done(int64_t now, int code)
{
	char *h, *ev;
	size_t n;

	health_record(wrap_hc.start, now, code, wrap_hc.out, wrap_hc.len,
	    wrap_hc.timed_out);
	h = health_json();
	n = strlen(h) + 16;
	ev = xmalloc(n);
	snprintf(ev, n, "{\"health\":%s}", h);
	link_send(AGLINK_EVENT, 0, 0, ev, strlen(ev));
	free(ev);
	free(h);
	memset(&wrap_hc, 0, sizeof(wrap_hc));
}

static void
wrap_prepare_health(int64_t now)
{
	struct spawn s;
	int64_t next, quiet;
	char **argv;

	if (!wrap_hc.running) {
		if (!wrap.started || wrap.exited ||
		    (next = health_next_ms()) <= 0 ||
		    (argv = health_argv()) == NULL)
			return;
		if (now < next) {
			loop_timer(next);
			return;
		}
		memset(&s, 0, sizeof(s));
		s.argv = argv;
		s.envp = wrap.env;
		s.merge = 1;
		wrap_hc.running = 1;
		wrap_hc.start = now;
		wrap_hc.deadline = now + health_timeout_ms();
		wrap_hc.last_ms = now;
		if (spawn_start(&s, &wrap_hc.sp) == -1) {
			wrap_hc.len =
			    (size_t)snprintf(wrap_hc.out, sizeof(wrap_hc.out),
				"cannot start: %s", strerror(errno));
			wrap_hc_done(now, 1);
			return;
		}
		loop_child(wrap_hc.sp.pid, wrap_hc_exit, NULL);
	}
	loop_watch(wrap_hc.sp.out_fd, POLLIN, wrap_hc_read, NULL);
	if (!wrap_hc.exited) {
		if (now >= wrap_hc.deadline && !wrap_hc.timed_out) {
			kill(-wrap_hc.sp.pid, SIGKILL);
			wrap_hc.timed_out = 1;
		}
		loop_timer(wrap_hc.deadline);
		return;
	}
	if (wrap_hc.sp.out_fd >= 0) {
		quiet = (wrap_hc.last_ms > wrap_hc.exit_ms ? wrap_hc.last_ms :
							     wrap_hc.exit_ms) +
		    WRAP_GRACE_MS;
		if (now < quiet) {
			loop_timer(quiet);
			return;
		}
		close(wrap_hc.sp.out_fd);
	}
	wrap_hc_done(
	    now, wrap_hc.timed_out ? 1 : proc_exit_code(wrap_hc.status));
}

/* ---- main ---- */

static int
wrap_flag(const char *name)
{
	const char *v = getenv(name);

	return v != NULL && (strcmp(v, "1") == 0 || strcmp(v, "true") == 0);
}

/* One dimension of SOCKERLESS_TTY_SIZE: 1 to 65535, digits only. */
static unsigned long
wrap_tty_dim(const char *s, char **end)
{
	unsigned long n;

	if (*s < '0' || *s > '9')
		return 0;
	errno = 0;
	n = strtoul(s, end, 10);
	return errno != 0 || n > 65535 ? 0 : n;
}

/* SOCKERLESS_TTY_SIZE "rows cols": the size the terminal starts with;
 * anything else leaves it unset (0x0 until a resize, as before). */
static void
wrap_tty_size(const char *v)
{
	unsigned long rows, cols;
	char *end;

	if (v == NULL || (rows = wrap_tty_dim(v, &end)) == 0 || *end != ' ' ||
	    (cols = wrap_tty_dim(end + 1, &end)) == 0 || *end != '\0')
		return;
	wrap.rows = (unsigned short)rows;
	wrap.cols = (unsigned short)cols;
}

/* SOCKERLESS_NET: the root work before anything else runs (the files, the
 * host name, the resolver), then the main process's environment with
 * HOSTNAME as Docker sets it. Malformed configuration is a usage error,
 * as a container that cannot be set up does not start. */
static void
wrap_net(void)
{
	const char *v = getenv("SOCKERLESS_NET"),
		   *etc = getenv("SOCKERLESS_ETC");
	char why[256], *add[2] = { NULL, NULL };
	struct netcfg cfg;
	size_t n;

	if (v == NULL || *v == '\0') {
		wrap.env = spawn_env(environ, NULL);
		return;
	}
	if (netcfg_parse(v, strlen(v), &cfg, why, sizeof(why)) == -1) {
		fprintf(stderr,
		    "sockerless-agent: malformed SOCKERLESS_NET: %s\n", why);
		exit(AGENT_EXIT_USAGE);
	}
	if (cfg.relay)
		relay_init(getenv("SOCKERLESS_CONTAINER_ID"));
	netcfg_apply(&cfg, etc != NULL && *etc != '\0' ? etc : "/etc",
	    getenv("SOCKERLESS_DNS_LISTEN"));
	if (cfg.hostname != NULL && *cfg.hostname != '\0') {
		n = strlen(cfg.hostname) + 10;
		add[0] = xmalloc(n);
		snprintf(add[0], n, "HOSTNAME=%s", cfg.hostname);
	}
	wrap.env = spawn_env(environ, add);
	free(add[0]);
	netcfg_free(&cfg);
}

/* The uid SOCKERLESS_USER names, or -1 when it needs a lookup that fails. */
static long
wrap_uid(const char *spec)
{
	char user[256], *end;
	struct passwd *pw;
	long v;

	snprintf(user, sizeof(user), "%.*s", (int)strcspn(spec, ":"), spec);
	v = strtol(user, &end, 10);
	if (user[0] != '\0' && *end == '\0')
		return v;
	pw = getpwnam(user);
	return pw != NULL ? (long)pw->pw_uid : -1;
}

/* SOCKERLESS_USER: the main process's user once the root work is done.
 * An agent that is not root cannot switch: it runs everything as itself. */
static void
wrap_user(void)
{
	const char *u = getenv("SOCKERLESS_USER");

	if (u == NULL || *u == '\0')
		return;
	if (geteuid() == 0) {
		spawn_set_user(u);
		return;
	}
	if (wrap_uid(u) != (long)geteuid())
		fprintf(stderr,
		    "sockerless-agent: not running as root: the main process "
		    "runs as uid %ld, not as user %s\n",
		    (long)geteuid(), u);
}

/* SOCKERLESS_WORKDIR: the container's working directory on a cloud with
 * no such setting (Container Apps jobs): made when missing, as Docker
 * does, and the agent's own, so that the main process and execs without
 * one start there. */
static void
wrap_workdir(void)
{
	const char *d = getenv("SOCKERLESS_WORKDIR");
	char buf[4096];
	size_t n;

	if (d == NULL || d[0] != '/')
		return;
	n = strlen(d);
	if (n >= sizeof(buf)) {
		fprintf(
		    stderr, "sockerless-agent: SOCKERLESS_WORKDIR too long\n");
		return;
	}
	memcpy(buf, d, n + 1);
	for (char *p = buf + 1; *p != '\0'; p++)
		if (*p == '/') {
			*p = '\0';
			(void)mkdir(buf, 0755);
			*p = '/';
		}
	(void)mkdir(buf, 0755);
	if (chdir(d) == -1)
		fprintf(stderr, "sockerless-agent: working directory %s: %s\n",
		    d, strerror(errno));
}

/* The callbacks of the lower modules, which do not call wrap.c or each
 * other back directly. */
static const struct link_ops wrap_link_ops = {
	.message = chan_message,
	.dropped = chan_drop_all,
	.hello = wrap_hello,
};
static const struct chan_ops wrap_chan_ops = {
	.main_start = wrap_start,
	.main_kill = wrap_kill,
	.main_attach = wrap_attach,
	.main_resize = wrap_resize,
	.main_in_fd = wrap_main_in_fd,
	.main_in_eof = wrap_main_in_eof,
	.exec_open = exec_open,
	.exec_status = exec_status,
	.exec_signal = exec_signal,
	.exec_detach = exec_detach,
	.exec_in_fd = exec_in_fd,
	.exec_in_close = exec_in_close,
	.exec_resize = exec_chan_resize,
	.names_open = dns_names_open,
	.tcp_open = tcp_open,
	.tcp_sink = tcp_sink,
	.tcp_sink_eof = tcp_sink_eof,
	.tcp_prepare = tcp_prepare,
	.udp_open = udp_open,
	.udp_prepare = udp_prepare,
	.logs_open = spool_open,
};

void
wrap_main(char *const argv[])
{
	const char *sha = getenv("SOCKERLESS_AGENT_TOKEN_SHA256"), *v;
	const char *cb = getenv("SOCKERLESS_AGENT_CALLBACK");
	int64_t now;
	double hold;
	char *stop;

	memset(&wrap, 0, sizeof(wrap));
	wrap.argv = argv;
	wrap_net();
	wrap_workdir();
	wrap_user();
	/* Before the main process starts (also before a held start), so a
	 * client in it finds the socket there. */
	docksock_init(
	    getenv("SOCKERLESS_DOCKER_SOCK"), getenv("SOCKERLESS_USER"));
	tmpfs_init(getenv("SOCKERLESS_TMPFS"));
	exec_init(wrap.env);
	chan_set_ops(&wrap_chan_ops);
	link_set_ops(&wrap_link_ops);
	spool_init(getenv("SOCKERLESS_LOG_SPOOL"));
	udp_init(getenv("SOCKERLESS_UDP_IDLE_MS"));
	wrap.tty = wrap_flag("SOCKERLESS_TTY");
	wrap_tty_size(getenv("SOCKERLESS_TTY_SIZE"));
	wrap.stdin_on = wrap_flag("SOCKERLESS_STDIN");
	wrap.stdin_once = wrap_flag("SOCKERLESS_STDIN_ONCE");
	wrap.sp.in_fd = wrap.sp.out_fd = wrap.sp.err_fd = wrap.sp.tty_fd = -1;
	wrap.stop_sig = SIGTERM;
	if ((v = getenv("SOCKERLESS_STOP_SIGNAL")) != NULL && *v != '\0' &&
	    (wrap.stop_sig = proc_signum(v)) == -1) {
		fprintf(stderr,
		    "sockerless-agent: unknown SOCKERLESS_STOP_SIGNAL %s; "
		    "using SIGTERM\n",
		    v);
		wrap.stop_sig = SIGTERM;
	}
	/* Outside a PID namespace (tests, plain hosts) orphans still come
	 * to the agent to be reaped. */
	if (getpid() != 1)
		prctl(PR_SET_CHILD_SUBREAPER, 1);
	loop_init(wrap_signal);
	fcntl(
	    STDOUT_FILENO, F_SETFL, fcntl(STDOUT_FILENO, F_GETFL) | O_NONBLOCK);
	fcntl(
	    STDERR_FILENO, F_SETFL, fcntl(STDERR_FILENO, F_GETFL) | O_NONBLOCK);
	if (cb != NULL && *cb != '\0') {
		wrap.rev = 1;
		if (link_init_reverse(cb, getenv("SOCKERLESS_AGENT_TOKEN"),
			getenv("SOCKERLESS_CONTAINER_ID")) == -1)
			exit(AGENT_EXIT_USAGE);
	} else if (sha != NULL && *sha != '\0') {
		if (link_init(getenv("SOCKERLESS_AGENT_LISTEN"), sha,
			getenv("SOCKERLESS_CONTAINER_ID")) == -1)
			exit(AGENT_EXIT_USAGE);
	}
	if ((cb != NULL && *cb != '\0') || (sha != NULL && *sha != '\0')) {
		wrap.linked = 1;
		if ((v = getenv("SOCKERLESS_HOLD")) != NULL &&
		    (hold = strtod(v, &stop)) > 0 && *stop == '\0')
			wrap.hold_until =
			    proc_now_ms() + (int64_t)(hold * 1000);
	}
	for (;;) {
		now = proc_now_ms();
		chan_sweep();
		wrap_prepare_main(now);
		wrap_prepare_health(now);
		exec_prepare();
		dns_prepare(now);
		docksock_prepare(now);
		relay_prepare();
		spool_prepare();
		chan_sweep();
		chan_prepare();
		link_prepare();
		if (wrap.done && (link_up() == 0 || now >= wrap.exit_deadline))
			break;
		if (wrap.done)
			loop_timer(wrap.exit_deadline);
		loop_once();
	}
	exec_kill_all();
	wrap_log_flush();
	exit(proc_exit_code(wrap.status));
}
