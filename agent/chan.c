/* The link's channels: OPEN dispatch, stdin queues and their CREDIT, the
 * DATA window, and the kinds that are not exec (attach goes to wrap.c):
 * signal, pause, top, stats and archive. */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "agent.h"
#include "jread.h"
#include "modules.h"
#include "proc.h"
#include "sockerless/aglink_wire.h"

/* Largest DATA payload the agent sends in one message. */
#define CHAN_CHUNK 65536
/* stdin bytes are credited at least this often. */
#define CHAN_CREDIT_BATCH 32768

struct chan *chan_list;
/* What the channels call back into (chan_set_ops). */
static const struct chan_ops *chan_ops;

void
chan_set_ops(const struct chan_ops *ops)
{
	chan_ops = ops;
}

static struct chan *
chan_find(uint32_t id)
{
	struct chan *c;

	for (c = chan_list; c != NULL; c = c->next)
		if (c->id == id && !c->dead)
			return c;
	return NULL;
}

static struct chan *
chan_new(uint32_t id, enum chan_kind kind)
{
	struct chan *c = xmalloc(sizeof(*c));

	memset(c, 0, sizeof(*c));
	c->id = id;
	c->kind = kind;
	c->window = AGLINK_WINDOW;
	c->job.pid = 0;
	c->job.in_fd = c->job.out_fd = c->job.err_fd = c->job.tty_fd = -1;
	c->next = chan_list;
	chan_list = c;
	return c;
}

static void
chan_close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

/* The channel is over for the agent: no more messages on it. */
static void
chan_forget(struct chan *c)
{
	if (c->dead)
		return;
	c->dead = 1;
	if (c->kind == CHAN_EXEC)
		chan_ops->exec_detach(c);
	if (c->job.pid > 0 && !c->job_exited) {
		kill(-c->job.pid, SIGKILL);
		loop_forget(c->job.pid);
	}
	chan_close_fd(&c->job.in_fd);
	chan_close_fd(&c->job.out_fd);
	chan_close_fd(&c->job.err_fd);
}

void
chan_sweep(void)
{
	struct chan **pp = &chan_list, *c;

	while ((c = *pp) != NULL) {
		if (c->dead) {
			*pp = c->next;
			free(c->inq);
			free(c);
		} else {
			pp = &c->next;
		}
	}
}

void
chan_drop_all(void)
{
	struct chan *c;

	for (c = chan_list; c != NULL; c = c->next)
		chan_forget(c);
}

size_t
chan_room(const struct chan *c)
{
	if (c->dead || c->window <= 0)
		return 0;
	return c->window < CHAN_CHUNK ? (size_t)c->window : CHAN_CHUNK;
}

void
chan_data(struct chan *c, int stream, const void *buf, size_t n)
{
	link_send(AGLINK_DATA, stream, c->id, buf, n);
	c->window -= (int64_t)n;
}

void
chan_eof(struct chan *c, int stream)
{
	link_send(AGLINK_EOF, stream, c->id, NULL, 0);
}

void
chan_reply(uint32_t ch, const char *json)
{
	link_send(AGLINK_RESULT, 0, ch, json, strlen(json));
}

void
chan_result(struct chan *c, const char *json)
{
	if (c->dead)
		return;
	chan_reply(c->id, json);
	chan_forget(c);
}

ssize_t
chan_pump(struct chan *c, int fd, int stream)
{
	static char buf[CHAN_CHUNK];
	size_t room = chan_room(c);
	ssize_t n;

	if (room == 0)
		return -1;
	n = read(fd, buf, room);
	if (n > 0) {
		chan_data(c, stream, buf, (size_t)n);
		return n;
	}
	if (n == -1 && (errno == EAGAIN || errno == EINTR))
		return -1;
	return 0; /* EOF, or EIO from a tty whose other side closed */
}

/* ---- stdin ---- */

static int
chan_sink(struct chan *c)
{
	switch (c->kind) {
	case CHAN_EXEC:
		return chan_ops->exec_in_fd(c);
	case CHAN_ATTACH:
		return c->want_in ? chan_ops->main_in_fd() : -1;
	case CHAN_PUT:
		return c->job.in_fd;
	case CHAN_TCP:
		return chan_ops->tcp_sink(c);
	case CHAN_CONN:
		return c->job.in_fd;
	case CHAN_UDP:
	case CHAN_UFLOW:
		return -2; /* udp.c sends the datagrams */
	case CHAN_GET:
	case CHAN_LOGS:
		break;
	}
	return -1;
}

static void
chan_sink_eof(struct chan *c)
{
	switch (c->kind) {
	case CHAN_EXEC:
		chan_ops->exec_in_close(c);
		break;
	case CHAN_ATTACH:
		if (c->want_in)
			chan_ops->main_in_eof();
		break;
	case CHAN_PUT:
		chan_close_fd(&c->job.in_fd);
		break;
	case CHAN_TCP:
		chan_ops->tcp_sink_eof(c);
		break;
	case CHAN_CONN:
		shutdown(c->job.in_fd, SHUT_WR);
		break;
	case CHAN_UDP:
	case CHAN_UFLOW:
	case CHAN_GET:
	case CHAN_LOGS:
		break;
	}
}

static void
chan_credit(struct chan *c, int force)
{
	unsigned char n[4];

	if (c->in_credit == 0 || (!force && c->in_credit < CHAN_CREDIT_BATCH))
		return;
	aglink_put_u32(n, (uint32_t)c->in_credit);
	link_send(AGLINK_CREDIT, 0, c->id, n, 4);
	c->in_credit = 0;
}

void
chan_consumed(struct chan *c, size_t n)
{
	c->inoff += n;
	c->in_credit += n;
	if (c->inoff == c->inlen)
		c->inoff = c->inlen = 0;
	chan_credit(c, c->inlen == 0);
}

void
chan_drop(struct chan *c, int tell)
{
	if (c->dead)
		return;
	if (tell)
		link_send(AGLINK_CLOSE, 0, c->id, NULL, 0);
	chan_forget(c);
}

static void
chan_on_writable(void *arg, short revents)
{
	struct chan *c = arg;
	ssize_t n;
	int fd;

	(void)revents;
	if (c->dead || c->inlen == c->inoff || (fd = chan_sink(c)) < 0)
		return;
	n = write(fd, c->inq + c->inoff, c->inlen - c->inoff);
	if (n > 0)
		chan_consumed(c, (size_t)n);
	else if (n == -1 && errno != EAGAIN && errno != EINTR)
		chan_consumed(c, c->inlen - c->inoff); /* EPIPE: gone */
}

static int
chan_stdin(struct chan *c, const unsigned char *p, size_t n)
{
	if (c->inlen - c->inoff + c->in_credit + n > AGLINK_WINDOW)
		return -1;
	if (c->in_eof)
		return 0;
	if (c->inlen + n > c->incap) {
		c->incap = c->inlen + n;
		c->inq = xrealloc(c->inq, c->incap);
	}
	memcpy(c->inq + c->inlen, p, n);
	c->inlen += n;
	return 0;
}

/* ---- agent-initiated channels ---- */

struct chan *
chan_connect(int fd, const char *request, const char *what)
{
	/* Never reused on one link: numbering goes on across links. */
	static uint32_t next = AGLINK_AGENT_CHAN;
	struct chan *c;

	if (!link_current()) {
		if (fd >= 0)
			close(fd);
		return NULL;
	}
	c = chan_new(next, CHAN_CONN);
	next = next == UINT32_MAX ? AGLINK_AGENT_CHAN : next + 1;
	c->job.in_fd = fd;
	snprintf(c->conn_what, sizeof(c->conn_what), "%s", what);
	link_send(AGLINK_CONNECT, 0, c->id, request, strlen(request));
	return c;
}

/* The backend's RESULT: a refusal is said on stderr (the workload's log),
 * as the client only sees its connection closed. */
static void
chan_conn_result(struct chan *c, const unsigned char *p, size_t n)
{
	char *msg = jread_str((const char *)p, n, "message");
	int64_t status = jread_int((const char *)p, n, "status", 0);

	if (status != 0)
		fprintf(stderr, "sockerless-agent: %s: %s (%lld)\n",
		    c->conn_what, msg != NULL ? msg : "refused",
		    (long long)status);
	free(msg);
	c->conn_ended = 1;
	if (status != 0)
		c->inoff = c->inlen = 0; /* nothing more to deliver */
}

static void
chan_conn_read(void *arg, short revents)
{
	struct chan *c = arg;

	(void)revents;
	if (c->dead || c->tcp_rd_done)
		return;
	/* 0: the local client's half-close (or a reset). */
	if (chan_pump(c, c->job.in_fd, AGLINK_STDIN) == 0) {
		c->tcp_rd_done = 1;
		chan_eof(c, AGLINK_STDIN);
	}
}

/* The socket closes once the RESULT came and what the backend sent
 * before it has been written. */
static void
chan_conn_prepare(struct chan *c)
{
	if (c->conn_ended && c->inlen == c->inoff) {
		chan_forget(c);
		return;
	}
	if (!c->tcp_rd_done && !c->conn_ended && chan_room(c) > 0)
		loop_watch(c->job.in_fd, POLLIN, chan_conn_read, c);
}

/* ---- archive ---- */

struct chan_arc {
	const char *path;
	int no_overwrite, if_empty;
};

static int
chan_get_child(void *arg)
{
	struct chan_arc *a = arg;

	return archive_get_child(a->path, STDOUT_FILENO);
}

static int
chan_put_child(void *arg)
{
	struct chan_arc *a = arg;

	return archive_put_child(
	    a->path, a->no_overwrite, a->if_empty, STDIN_FILENO);
}

static void
chan_job_exit(void *arg, int status)
{
	struct chan *c = arg;

	c->job_exited = 1;
	c->job_status = status;
}

static void
chan_archive(uint32_t ch, int put, const char *req, size_t len)
{
	struct chan_arc a;
	struct spawn s;
	struct chan *c;
	char *path = jread_str(req, len, "path"), *stat;
	int status = 0, if_empty = put && jread_bool(req, len, "ifEmpty", 0);

	if (path == NULL || *path == '\0') {
		chan_reply(
		    ch, "{\"status\":400,\"message\":\"path is required\"}");
		free(path);
		return;
	}
	stat = archive_stat_json(path, &status);
	/* A copy-up makes its missing target (archive_put_child). */
	if (status != 200 && !(if_empty && status == 404)) {
		chan_reply(ch, stat);
		goto out;
	}
	c = chan_new(ch, put ? CHAN_PUT : CHAN_GET);
	if (!put)
		link_send(AGLINK_META, 0, ch, stat, strlen(stat));
	a.path = path;
	a.no_overwrite = jread_bool(req, len, "noOverwriteDirNonDir", 0);
	a.if_empty = if_empty;
	memset(&s, 0, sizeof(s));
	s.in = put;
	s.fn = put ? chan_put_child : chan_get_child;
	s.arg = &a;
	if (spawn_start(&s, &c->job) == -1) {
		chan_result(c, "{\"status\":500,\"message\":\"cannot fork\"}");
		goto out;
	}
	c->want_in = put;
	loop_child(c->job.pid, chan_job_exit, c);
out:
	free(stat);
	free(path);
}

static void
chan_on_job_out(void *arg, short revents)
{
	struct chan *c = arg;
	char sink[4096];
	ssize_t n;

	(void)revents;
	if (c->dead || c->job.out_fd < 0)
		return;
	if (c->kind == CHAN_GET) {
		if (chan_pump(c, c->job.out_fd, AGLINK_STDOUT) == 0) {
			chan_close_fd(&c->job.out_fd);
			chan_eof(c, AGLINK_STDOUT);
		}
		return;
	}
	n = read(c->job.out_fd, sink, sizeof(sink));
	if (n == 0 || (n == -1 && errno != EAGAIN && errno != EINTR))
		chan_close_fd(&c->job.out_fd);
}

static void
chan_on_job_err(void *arg, short revents)
{
	struct chan *c = arg;
	char buf[512];
	size_t room;
	ssize_t n;

	(void)revents;
	if (c->dead || c->job.err_fd < 0)
		return;
	n = read(c->job.err_fd, buf, sizeof(buf));
	if (n == 0 || (n == -1 && errno != EAGAIN && errno != EINTR)) {
		chan_close_fd(&c->job.err_fd);
		return;
	}
	if (n <= 0)
		return;
	room = sizeof(c->errline) - 1 - c->errlen;
	if ((size_t)n > room)
		n = (ssize_t)room;
	memcpy(c->errline + c->errlen, buf, (size_t)n);
	c->errlen += (size_t)n;
	c->errline[c->errlen] = '\0';
}

static void
chan_job_done(struct chan *c)
{
	static const int map[] = { 500, 500, 404, 400, 403 };
	struct jsonw w;
	char *nl, *j;
	int code = WIFEXITED(c->job_status) ? WEXITSTATUS(c->job_status) : 1;

	if (code == 0) {
		chan_result(c, "{}");
		return;
	}
	if ((nl = strchr(c->errline, '\n')) != NULL)
		*nl = '\0';
	if (c->errline[0] == '\0')
		snprintf(c->errline, sizeof(c->errline), "archive failed");
	jsonw_init(&w);
	jsonw_printf(&w, "{\"status\":%d,\"message\":",
	    code > 0 && code < 5 ? map[code] : 500);
	jsonw_str(&w, c->errline, strlen(c->errline));
	jsonw_puts(&w, "}");
	j = jsonw_take(&w);
	chan_result(c, j);
	free(j);
}

/* ---- pause ---- */

/* Every descendant of the agent (all processes but the agent when it is
 * PID 1; on a shared host, nothing that is not ours). */
static void
chan_pause(int sig)
{
	struct {
		pid_t pid, ppid;
	} *t = NULL;
	size_t n = 0, cap = 0, i;
	pid_t self = getpid(), p;
	struct dirent *de;
	char path[300], buf[512], *rp;
	FILE *f;
	DIR *d;
	int depth;

	if ((d = opendir("/proc")) == NULL)
		return;
	while ((de = readdir(d)) != NULL) {
		if (!isdigit((unsigned char)de->d_name[0]))
			continue;
		snprintf(path, sizeof(path), "/proc/%s/stat", de->d_name);
		if ((f = fopen(path, "re")) == NULL)
			continue;
		if (fgets(buf, sizeof(buf), f) != NULL &&
		    (rp = strrchr(buf, ')')) != NULL) {
			if (n == cap)
				t = xrealloc(
				    t, (cap = cap ? cap * 2 : 64) * sizeof(*t));
			/* The kernel writes these: always in range. */
			/* NOLINTNEXTLINE(cert-err34-c) */
			t[n].pid = (pid_t)atoi(de->d_name);
			/* NOLINTNEXTLINE(cert-err34-c) ") S ppid" */
			t[n].ppid = (pid_t)atoi(rp + 4);
			n++;
		}
		fclose(f);
	}
	closedir(d);
	for (i = 0; i < n; i++) {
		if (t[i].pid == self)
			continue;
		for (p = t[i].ppid, depth = 0; p > 0 && depth < 64; depth++) {
			size_t k;

			if (p == self) {
				kill(t[i].pid, sig);
				break;
			}
			for (k = 0; k < n && t[k].pid != p; k++)
				;
			p = k < n ? t[k].ppid : 0;
		}
	}
	free(t);
}

/* ---- OPEN ---- */

static void
chan_signal(uint32_t ch, const char *req, size_t len)
{
	char *target = jread_str(req, len, "target");
	int sig = (int)jread_int(req, len, "signal", SIGKILL), r;

	if (sig <= 0 || sig >= NSIG) {
		chan_reply(
		    ch, "{\"status\":400,\"message\":\"invalid signal\"}");
	} else {
		if (target == NULL || strcmp(target, "main") == 0)
			r = chan_ops->main_kill(sig);
		else if (strncmp(target, "exec:", 5) == 0)
			r = chan_ops->exec_signal(target + 5, sig);
		else
			r = -1;
		chan_reply(ch,
		    r == 0 ? "{}" :
			     "{\"status\":409,\"message\":\"the "
			     "process is not running\"}");
	}
	free(target);
}

static void
chan_open(uint32_t ch, const char *req, size_t len)
{
	char *kind = jread_str(req, len, "kind"), *s;
	struct chan *c;

	if (ch == 0 || chan_find(ch) != NULL || kind == NULL) {
		if (ch != 0 && kind == NULL)
			chan_reply(ch,
			    "{\"status\":400,\"message\":\"OPEN "
			    "without a kind\"}");
		free(kind);
		return;
	}
	if (strcmp(kind, "exec") == 0) {
		chan_ops->exec_open(chan_new(ch, CHAN_EXEC), req, len);
	} else if (strcmp(kind, "exec_status") == 0) {
		chan_ops->exec_status(ch, req, len);
	} else if (strcmp(kind, "start") == 0) {
		chan_ops->main_start(ch);
	} else if (strcmp(kind, "attach") == 0) {
		c = chan_new(ch, CHAN_ATTACH);
		c->want_in = jread_bool(req, len, "stdin", 0);
		c->want_out = jread_bool(req, len, "stdout", 1);
		c->want_err = jread_bool(req, len, "stderr", 1);
		chan_ops->main_attach(c);
	} else if (strcmp(kind, "logs") == 0) {
		chan_ops->logs_open(chan_new(ch, CHAN_LOGS), req, len);
	} else if (strcmp(kind, "tcp") == 0) {
		chan_ops->tcp_open(chan_new(ch, CHAN_TCP), req, len);
	} else if (strcmp(kind, "udp") == 0) {
		chan_ops->udp_open(chan_new(ch, CHAN_UDP), req, len);
	} else if (strcmp(kind, "signal") == 0) {
		chan_signal(ch, req, len);
	} else if (strcmp(kind, "pause") == 0 || strcmp(kind, "unpause") == 0) {
		chan_pause(kind[0] == 'p' ? SIGSTOP : SIGCONT);
		chan_reply(ch, "{}");
	} else if (strcmp(kind, "top") == 0) {
		char *args = jread_str(req, len, "args");

		s = top_json(args != NULL ? args : "");
		chan_reply(ch, s);
		free(s);
		free(args);
	} else if (strcmp(kind, "stats") == 0) {
		s = stats_json();
		chan_reply(ch, s);
		free(s);
	} else if (strcmp(kind, "archive_stat") == 0) {
		char *path = jread_str(req, len, "path");
		int status;

		s = archive_stat_json(path != NULL ? path : "", &status);
		chan_reply(ch, s);
		free(s);
		free(path);
	} else if (strcmp(kind, "names") == 0) {
		chan_ops->names_open(ch, req, len);
	} else if (strcmp(kind, "archive_get") == 0 ||
	    strcmp(kind, "archive_put") == 0) {
		chan_archive(ch, kind[8] == 'p', req, len);
	} else {
		chan_reply(ch, "{\"status\":400,\"message\":\"unknown kind\"}");
	}
	free(kind);
}

int
chan_message(const unsigned char *buf, size_t len)
{
	struct aglink_msg m;
	struct chan *c;
	int in;

	if (aglink_parse(buf, len, &m) == -1)
		return -1;
	if (m.type == AGLINK_OPEN) {
		chan_open(m.channel, (const char *)m.payload, m.len);
		return 0;
	}
	if ((c = chan_find(m.channel)) == NULL)
		return 0; /* it may race a RESULT */
	/* What the backend sends into a channel: stdin, or on a channel
	 * the agent opened, stream 1 (the roles are swapped). */
	in = c->kind == CHAN_CONN || c->kind == CHAN_UFLOW ? AGLINK_STDOUT :
							     AGLINK_STDIN;
	switch (m.type) {
	case AGLINK_DATA:
		if (m.stream == in)
			return chan_stdin(c, m.payload, m.len);
		break;
	case AGLINK_EOF:
		if (m.stream == in && !c->in_eof)
			c->in_eof = 1;
		break;
	case AGLINK_RESULT:
		if (c->kind == CHAN_CONN || c->kind == CHAN_UFLOW)
			chan_conn_result(c, m.payload, m.len);
		break;
	case AGLINK_CREDIT:
		if (m.len >= 4)
			c->window += aglink_get_u32(m.payload);
		break;
	case AGLINK_CLOSE:
		chan_forget(c);
		break;
	case AGLINK_RESIZE:
		if (m.len < 4)
			break;
		if (c->kind == CHAN_EXEC)
			chan_ops->exec_resize(c,
			    (unsigned)(m.payload[0] << 8 | m.payload[1]),
			    (unsigned)(m.payload[2] << 8 | m.payload[3]));
		else if (c->kind == CHAN_ATTACH)
			chan_ops->main_resize(
			    (unsigned)(m.payload[0] << 8 | m.payload[1]),
			    (unsigned)(m.payload[2] << 8 | m.payload[3]));
		break;
	default:
		break;
	}
	return 0;
}

void
chan_prepare(void)
{
	struct chan *c;
	int fd;

	for (c = chan_list; c != NULL; c = c->next) {
		if (c->dead)
			continue;
		if (c->inlen > c->inoff) {
			/* -1: nobody reads it; -2: not yet (held). */
			if ((fd = chan_sink(c)) == -1)
				chan_consumed(c, c->inlen - c->inoff);
			else if (fd >= 0)
				loop_watch(fd, POLLOUT, chan_on_writable, c);
		}
		if (c->in_eof && c->inlen == c->inoff && c->in_eof == 1) {
			c->in_eof = 2;
			chan_sink_eof(c);
		}
		if (c->kind == CHAN_TCP)
			chan_ops->tcp_prepare(c);
		if (c->kind == CHAN_CONN)
			chan_conn_prepare(c);
		if (c->kind == CHAN_UDP || c->kind == CHAN_UFLOW)
			chan_ops->udp_prepare(c);
		if (c->kind != CHAN_GET && c->kind != CHAN_PUT)
			continue;
		if (c->kind == CHAN_PUT || chan_room(c) > 0)
			loop_watch(c->job.out_fd, POLLIN, chan_on_job_out, c);
		loop_watch(c->job.err_fd, POLLIN, chan_on_job_err, c);
		if (c->job_exited && c->job.out_fd < 0 && c->job.err_fd < 0)
			chan_job_done(c);
	}
}
