/* The link's exec and exec_status requests: processes started with
 * spawn.c, their output relayed on their channels. */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include "agent.h"
#include "jread.h"
#include "modules.h"
#include "proc.h"
#include "sockerless/aglink_wire.h"

/* Exit codes of finished execs are kept this long (docs/agent-link.md). */
#define EXEC_KEEP_MS (10 * 60 * 1000)
/* Output of descendants still holding the pipes after the exec's own
 * process ended is read this long after the last byte, then dropped. */
#define EXEC_GRACE_MS 200
/* How long the main process's end waits for running execs to end too
 * (exec_flush_ended). */
#define EXEC_END_WAIT_MS 20
#define EXEC_READ_MAX	 65536

struct exec {
	char *id;
	struct spawned sp;
	int tty;
	int exited, status, finished;
	int64_t exit_ms, last_ms, keep_until;
	struct chan *chan;
	struct exec *next;
};

static struct exec *exec_list;
/* The main process's environment (exec_init). */
static char *const *exec_main_env;

void
exec_init(char *const *main_env)
{
	exec_main_env = main_env;
}

/* ---- the exec kind ---- */

static void
exec_on_exit(void *arg, int status)
{
	struct exec *e = arg;

	e->exited = 1;
	e->status = status;
	e->exit_ms = proc_now_ms();
}

static struct exec *
exec_find(const char *id)
{
	struct exec *e;

	for (e = exec_list; e != NULL; e = e->next)
		if (strcmp(e->id, id) == 0)
			return e;
	return NULL;
}

/* RESULT {"status":N,"message":"<fmt with arg>"} and the channel ends. */
static void exec_fail(struct chan *c, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void
exec_fail(struct chan *c, int status, const char *fmt, ...)
{
	struct jsonw w;
	char msg[512], *j;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	jsonw_init(&w);
	jsonw_printf(&w, "{\"status\":%d,\"message\":", status);
	jsonw_str(&w, msg, strlen(msg));
	jsonw_puts(&w, "}");
	j = jsonw_take(&w);
	chan_result(c, j);
	free(j);
}

void
exec_open(struct chan *c, const char *req, size_t len)
{
	struct spawn s;
	struct exec *e;
	char **cmd = NULL, **add = NULL, **env = NULL;
	char *id = NULL, *workdir = NULL, *user = NULL;
	char meta[32];

	id = jread_str(req, len, "id");
	cmd = jread_strv(req, len, "cmd");
	if (id == NULL || *id == '\0') {
		exec_fail(c, 400, "exec: no id");
		goto out;
	}
	if (cmd == NULL || cmd[0] == NULL) {
		exec_fail(c, 400, "No exec command specified");
		goto out;
	}
	if (exec_find(id) != NULL) {
		exec_fail(c, 409, "exec %s is already running", id);
		goto out;
	}
	add = jread_strv(req, len, "env");
	env = spawn_env(exec_main_env, add);
	workdir = jread_str(req, len, "workdir");
	user = jread_str(req, len, "user");
	memset(&s, 0, sizeof(s));
	s.argv = cmd;
	s.envp = env;
	s.workdir = workdir;
	s.user = user;
	s.tty = jread_bool(req, len, "tty", 0);
	s.in = jread_bool(req, len, "stdin", 0);
	s.rows = (unsigned short)jread_int(req, len, "rows", 0);
	s.cols = (unsigned short)jread_int(req, len, "cols", 0);
	s.docker_msgs = 1;
	e = xmalloc(sizeof(*e));
	memset(e, 0, sizeof(*e));
	if (spawn_start(&s, &e->sp) == -1) {
		exec_fail(c, 500, "exec: cannot start: %s", strerror(errno));
		free(e);
		goto out;
	}
	e->id = id;
	id = NULL;
	e->tty = s.tty;
	e->chan = c;
	e->last_ms = proc_now_ms();
	c->ex = e;
	c->want_in = s.in;
	e->next = exec_list;
	exec_list = e;
	loop_child(e->sp.pid, exec_on_exit, e);
	/* The process id (in the container's PID namespace) before any
	 * output: docker exec inspect shows it while the process runs. */
	snprintf(meta, sizeof(meta), "{\"pid\":%d}", (int)e->sp.pid);
	link_send(AGLINK_META, 0, c->id, meta, strlen(meta));
out:
	free(id);
	free(workdir);
	free(user);
	jread_strv_free(cmd);
	jread_strv_free(add);
	jread_strv_free(env);
}

void
exec_status(uint32_t ch, const char *req, size_t len)
{
	struct exec *e;
	struct jsonw w;
	char *id = jread_str(req, len, "id"), *j;

	e = id != NULL ? exec_find(id) : NULL;
	jsonw_init(&w);
	if (e == NULL) {
		char msg[512];

		snprintf(msg, sizeof(msg), "No such exec instance: %s",
		    id != NULL ? id : "");
		jsonw_puts(&w, "{\"status\":404,\"message\":");
		jsonw_str(&w, msg, strlen(msg));
		jsonw_puts(&w, "}");
	} else if (!e->finished) {
		jsonw_printf(&w,
		    "{\"running\":%s,\"pid\":%d,\"exitCode\":null}",
		    e->exited ? "false" : "true", (int)e->sp.pid);
	} else {
		jsonw_printf(&w,
		    "{\"running\":false,\"pid\":%d,\"exitCode\":%d}",
		    (int)e->sp.pid, proc_exit_code(e->status));
	}
	j = jsonw_take(&w);
	chan_reply(ch, j);
	free(j);
	free(id);
}

/* One read of fd into the channel; its count (0: the end, -1: nothing
 * now or no room). */
static ssize_t
exec_read(struct exec *e, int *fd, int stream)
{
	static char sink[EXEC_READ_MAX];
	ssize_t n;

	if (e->chan != NULL) {
		n = chan_pump(e->chan, *fd, stream);
	} else {
		n = read(*fd, sink, sizeof(sink));
		if (n == -1 && (errno == EAGAIN || errno == EINTR))
			n = -2;
		if (n == -1)
			n = 0; /* EIO: a tty whose other side is closed */
		if (n == -2)
			n = -1;
	}
	if (n == 0) {
		spawn_close(fd);
		if (e->sp.out_fd < 0)
			e->sp.tty_fd = -1;
	} else if (n > 0)
		e->last_ms = proc_now_ms();
	return n;
}

static void
exec_on_out(void *arg, short revents)
{
	struct exec *e = arg;

	(void)revents;
	if (e->sp.out_fd >= 0)
		exec_read(e, &e->sp.out_fd, AGLINK_STDOUT);
}

static void
exec_on_err(void *arg, short revents)
{
	struct exec *e = arg;

	(void)revents;
	if (e->sp.err_fd >= 0)
		exec_read(e, &e->sp.err_fd, AGLINK_STDERR);
}

static void
exec_finish(struct exec *e, int64_t now)
{
	char json[96];

	e->finished = 1;
	e->keep_until = now + EXEC_KEEP_MS;
	spawn_close(&e->sp.in_fd);
	if (e->chan == NULL)
		return;
	chan_eof(e->chan, AGLINK_STDOUT);
	if (!e->tty)
		chan_eof(e->chan, AGLINK_STDERR);
	snprintf(json, sizeof(json), "{\"exitCode\":%d,\"pid\":%d}",
	    proc_exit_code(e->status), (int)e->sp.pid);
	chan_result(e->chan, json);
}

void
exec_prepare(void)
{
	struct exec **pp = &exec_list, *e;
	int64_t now = proc_now_ms(), quiet;
	int throttled;

	while ((e = *pp) != NULL) {
		if (e->finished) {
			if (now >= e->keep_until) {
				*pp = e->next;
				free(e->id);
				free(e);
				continue;
			}
			loop_timer(e->keep_until);
			pp = &e->next;
			continue;
		}
		throttled = e->chan != NULL && chan_room(e->chan) == 0;
		if (throttled)
			e->last_ms = now;
		else {
			loop_watch(e->sp.out_fd, POLLIN, exec_on_out, e);
			loop_watch(e->sp.err_fd, POLLIN, exec_on_err, e);
		}
		if (e->exited && (e->sp.out_fd >= 0 || e->sp.err_fd >= 0)) {
			quiet = (e->last_ms > e->exit_ms ? e->last_ms :
							   e->exit_ms) +
			    EXEC_GRACE_MS;
			if (now >= quiet) {
				spawn_close(&e->sp.out_fd);
				spawn_close(&e->sp.err_fd);
				e->sp.tty_fd = -1;
			} else {
				loop_timer(quiet);
			}
		}
		if (e->exited && e->sp.out_fd < 0 && e->sp.err_fd < 0) {
			exec_finish(e, now);
			loop_timer(now); /* register nothing stale */
		}
		pp = &e->next;
	}
}

void
exec_flush_ended(void)
{
	struct exec *e;
	int64_t now = proc_now_ms(), until = now + EXEC_END_WAIT_MS;
	int running;

	/* An exec that made the main process end (its last act wrote the
	 * file the main process waited for) ends at the same moment: it is
	 * given EXEC_END_WAIT_MS. Those still running after it are killed
	 * at the agent's exit, as Docker ends them with the container. */
	for (;;) {
		loop_reap_now();
		running = 0;
		for (e = exec_list; e != NULL; e = e->next)
			running += !e->finished && !e->exited;
		if (running == 0 || proc_now_ms() >= until)
			break;
		(void)poll(NULL, 0, 1);
	}
	now = proc_now_ms();
	for (e = exec_list; e != NULL; e = e->next) {
		if (e->finished || !e->exited)
			continue;
		while (e->sp.out_fd >= 0 &&
		    exec_read(e, &e->sp.out_fd, AGLINK_STDOUT) > 0)
			;
		while (e->sp.err_fd >= 0 &&
		    exec_read(e, &e->sp.err_fd, AGLINK_STDERR) > 0)
			;
		spawn_close(&e->sp.out_fd);
		spawn_close(&e->sp.err_fd);
		e->sp.tty_fd = -1;
		exec_finish(e, now);
	}
}

void
exec_detach(struct chan *c)
{
	struct exec *e = c->ex;

	if (e != NULL)
		e->chan = NULL;
	c->ex = NULL;
}

int
exec_in_fd(struct chan *c)
{
	struct exec *e = c->ex;

	return e != NULL ? e->sp.in_fd : -1;
}

void
exec_in_close(struct chan *c)
{
	struct exec *e = c->ex;

	if (e != NULL)
		spawn_close(&e->sp.in_fd);
}

void
exec_chan_resize(struct chan *c, unsigned rows, unsigned cols)
{
	struct exec *e = c->ex;

	if (e != NULL && !e->finished)
		spawn_resize(e->sp.tty_fd, rows, cols);
}

int
exec_signal(const char *id, int sig)
{
	struct exec *e = exec_find(id);

	if (e == NULL || e->exited)
		return -1;
	return kill(-e->sp.pid, sig);
}

void
exec_kill_all(void)
{
	struct exec *e;

	for (e = exec_list; e != NULL; e = e->next)
		if (!e->exited)
			kill(-e->sp.pid, SIGKILL);
}
