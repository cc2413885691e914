/* Processes the wrapper starts (pipes or a pseudo-terminal, user, working
 * directory, environment) and the link's exec and exec_status requests. */
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
#define EXEC_READ_MAX 65536

extern char **environ;

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

/* ---- spawning ---- */

/*
 * A failed exec's message, written as dockerd writes it: on the exec's
 * stdout (the stream the client reads, framed as stdout), ending in
 * "\r\n". Only ever called in the child, before its exec.
 */
static void exec_say(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));
static void
exec_say(const char *fmt, ...)
{
	char msg[1024];
	va_list ap;
	ssize_t r;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(msg, sizeof(msg) - 2, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n >= sizeof(msg) - 2)
		n = (int)sizeof(msg) - 3;
	memcpy(msg + n, "\r\n", 2);
	r = write(STDOUT_FILENO, msg, (size_t)n + 2);
	(void)r;
}

/* strerror as Go words it (runc's messages): lower case. */
static const char *
exec_strerror(int e)
{
	static char buf[128];

	snprintf(buf, sizeof(buf), "%s", strerror(e));
	buf[0] = (char)tolower((unsigned char)buf[0]);
	return buf;
}

static int
exec_number(const char *s, unsigned long *v)
{
	char *end;

	if (*s < '0' || *s > '9')
		return -1;
	errno = 0;
	*v = strtoul(s, &end, 10);
	return *end != '\0' || errno != 0 ? -1 : 0;
}

/* In the child: becomes user ("uid[:gid]" or names), as Docker's exec. */
static int
exec_user(const char *spec)
{
	char user[256], *group;
	struct passwd *pw = NULL;
	struct group *gr;
	unsigned long v;
	uid_t uid;
	gid_t gid = 0;

	snprintf(user, sizeof(user), "%s", spec);
	if ((group = strchr(user, ':')) != NULL)
		*group++ = '\0';
	if (exec_number(user, &v) == 0) {
		uid = (uid_t)v;
		pw = getpwuid(uid);
	} else if ((pw = getpwnam(user)) != NULL) {
		uid = pw->pw_uid;
	} else {
		exec_say("unable to find user %s: no matching entries in "
			 "passwd file",
		    user);
		return -1;
	}
	if (pw != NULL)
		gid = pw->pw_gid;
	if (group != NULL && *group != '\0') {
		if (exec_number(group, &v) == 0) {
			gid = (gid_t)v;
		} else if ((gr = getgrnam(group)) != NULL) {
			gid = gr->gr_gid;
		} else {
			exec_say("unable to find group %s: no matching entries "
				 "in group file",
			    group);
			return -1;
		}
	}
	if ((pw != NULL && group == NULL ? initgroups(pw->pw_name, gid) :
					   setgroups(1, &gid)) == -1 ||
	    setgid(gid) == -1 || setuid(uid) == -1) {
		exec_say(
		    "unable to set user %s: %s", spec, exec_strerror(errno));
		return -1;
	}
	if (pw != NULL && pw->pw_dir != NULL && getenv("HOME") == NULL)
		setenv("HOME", pw->pw_dir, 1);
	return 0;
}

#define EXEC_OCI                                                           \
	"OCI runtime exec failed: exec failed: unable to start container " \
	"process: "

/* Go's exec.LookPath check: a file with an execute bit; EACCES when not. */
static int
exec_runnable(const char *path)
{
	struct stat st;

	if (stat(path, &st) == -1)
		return -1;
	if (S_ISDIR(st.st_mode) || (st.st_mode & 0111) == 0) {
		errno = EACCES;
		return -1;
	}
	return 0;
}

/*
 * Finds argv0 as runc does before it starts an exec (Go's exec.LookPath
 * over the exec's PATH) into path, or says why not, in runc's words, and
 * exits 126: dockerd gives an exec that could not start 126 whatever the
 * cause (the process never ran), where a shell says 127 for "not found".
 */
static void
exec_lookpath(const char *argv0, char *path, size_t pathsz)
{
	const char *dirs = getenv("PATH"), *p, *colon;
	int e;

	if (strchr(argv0, '/') != NULL) {
		snprintf(path, pathsz, "%s", argv0);
		if (exec_runnable(path) == 0)
			return;
		if ((e = errno) == EACCES)
			exec_say(EXEC_OCI "exec: \"%s\": %s: unknown", argv0,
			    exec_strerror(e));
		else
			exec_say(EXEC_OCI "exec: \"%s\": stat %s: %s: unknown",
			    argv0, argv0, exec_strerror(e));
		_exit(126);
	}
	for (p = dirs != NULL ? dirs : ""; *p != '\0'; p = colon + 1) {
		colon = strchrnul(p, ':');
		/* An empty entry is the working directory, as in Go. */
		snprintf(path, pathsz, "%.*s%s%s", (int)(colon - p),
		    colon == p ? "." : p, "/", argv0);
		if (exec_runnable(path) == 0)
			return;
		if (*colon == '\0')
			break;
	}
	exec_say(EXEC_OCI "exec: \"%s\": executable file not found in $PATH: "
			  "unknown",
	    argv0);
	_exit(126);
}

/* The process had started for runc when its execve fails: it says so on
 * its stderr and exits 1, as runc's init does. */
static void
exec_failed(const char *path, int e)
{
	char msg[1024];
	int n;
	ssize_t r;

	n = snprintf(msg, sizeof(msg), "exec %s: %s\n", path, exec_strerror(e));
	if (n > 0) {
		if ((size_t)n >= sizeof(msg))
			n = (int)sizeof(msg) - 1;
		r = write(STDERR_FILENO, msg, (size_t)n);
		(void)r;
	}
	_exit(1);
}

static void
exec_child(const struct spawn *s, const char *slave, int in, int out, int err)
{
	char path[4096];
	int fd, e;

	proc_child_reset();
	if (s->tty) {
		setsid();
		if ((fd = open(slave, O_RDWR)) == -1)
			_exit(126);
		ioctl(fd, TIOCSCTTY, 0);
		if (dup2(fd, 0) == -1 || dup2(fd, 1) == -1 || dup2(fd, 2) == -1)
			_exit(126);
		if (fd > 2)
			close(fd);
	} else {
		setpgid(0, 0);
		if (in < 0 && (in = open("/dev/null", O_RDONLY)) == -1)
			_exit(126);
		if (dup2(in, 0) == -1 || dup2(out, 1) == -1 ||
		    dup2(err >= 0 ? err : out, 2) == -1)
			_exit(126);
	}
	if (s->fn != NULL) {
		/* No exec follows: drop the agent's descriptors by hand. */
		for (fd = 3; fd < 1024; fd++)
			close(fd);
		_exit(s->fn(s->arg));
	}
	if (s->envp != NULL)
		environ = (char **)s->envp;
	if (s->user != NULL && *s->user != '\0' && exec_user(s->user) == -1)
		_exit(126);
	if (s->workdir != NULL && *s->workdir != '\0' &&
	    chdir(s->workdir) == -1) {
		e = errno;
		exec_say(
		    "OCI runtime exec failed: exec failed: unable to start "
		    "container process: chdir to cwd (\"%s\") set in "
		    "config.json failed: %s: unknown",
		    s->workdir, exec_strerror(e));
		_exit(126);
	}
	if (!s->docker_msgs)
		proc_exec(s->argv);
	exec_lookpath(s->argv[0], path, sizeof(path));
	execv(path, s->argv);
	exec_failed(path, errno);
}

static void
exec_close(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

static void
exec_nonblock(int fd)
{
	if (fd >= 0) {
		fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
		fcntl(fd, F_SETFD, FD_CLOEXEC);
	}
}

void
exec_resize(int tty_fd, unsigned rows, unsigned cols)
{
	struct winsize ws;

	if (tty_fd < 0 || rows == 0 || cols == 0)
		return;
	memset(&ws, 0, sizeof(ws));
	ws.ws_row = (unsigned short)rows;
	ws.ws_col = (unsigned short)cols;
	ioctl(tty_fd, TIOCSWINSZ, &ws);
}

int
exec_spawn(const struct spawn *s, struct spawned *o)
{
	int in[2] = { -1, -1 }, out[2] = { -1, -1 }, err[2] = { -1, -1 };
	int master = -1, saved;
	char slave[128] = "";
	const char *name;
	sigset_t old;
	pid_t pid;

	memset(o, 0, sizeof(*o));
	o->in_fd = o->out_fd = o->err_fd = o->tty_fd = -1;
	if (s->tty) {
		if ((master = posix_openpt(O_RDWR | O_NOCTTY)) == -1 ||
		    grantpt(master) == -1 || unlockpt(master) == -1 ||
		    (name = ptsname(master)) == NULL)
			goto fail;
		snprintf(slave, sizeof(slave), "%s", name);
		exec_nonblock(master);
		exec_resize(master, s->rows, s->cols);
	} else if ((s->in && pipe2(in, O_CLOEXEC) == -1) ||
	    pipe2(out, O_CLOEXEC) == -1 ||
	    (!s->merge && pipe2(err, O_CLOEXEC) == -1)) {
		goto fail;
	}
	loop_block_signals(&old);
	if ((pid = fork()) == 0)
		exec_child(s, slave, in[0], out[1], err[1]);
	saved = errno;
	if (pid > 0 && !s->tty)
		setpgid(pid, pid);
	loop_restore_signals(&old);
	if (pid == -1) {
		errno = saved;
		goto fail;
	}
	exec_close(&in[0]);
	exec_close(&out[1]);
	exec_close(&err[1]);
	o->pid = pid;
	if (s->tty) {
		o->out_fd = o->tty_fd = master;
		if (s->in)
			o->in_fd = fcntl(master, F_DUPFD_CLOEXEC, 3);
	} else {
		o->in_fd = in[1];
		o->out_fd = out[0];
		o->err_fd = err[0];
	}
	exec_nonblock(o->in_fd);
	exec_nonblock(o->out_fd);
	exec_nonblock(o->err_fd);
	return 0;
fail:
	saved = errno;
	exec_close(&master);
	exec_close(&in[0]);
	exec_close(&in[1]);
	exec_close(&out[0]);
	exec_close(&out[1]);
	exec_close(&err[0]);
	exec_close(&err[1]);
	errno = saved;
	return -1;
}

static int
exec_env_key(const char *a, const char *b)
{
	size_t la = strcspn(a, "="), lb = strcspn(b, "=");

	return la == lb && memcmp(a, b, la) == 0;
}

char **
exec_env(char *const *env, char *const *add)
{
	size_t n = 0, i, j, cap = 16;
	char **v = xmalloc(cap * sizeof(*v));

	for (i = 0; env != NULL && env[i] != NULL; i++) {
		if (strncmp(env[i], "SOCKERLESS_", 11) == 0)
			continue;
		if (n + 2 > cap)
			v = xrealloc(v, (cap *= 2) * sizeof(*v));
		v[n++] = strcpy(xmalloc(strlen(env[i]) + 1), env[i]);
	}
	for (i = 0; add != NULL && add[i] != NULL; i++) {
		if (strncmp(add[i], "SOCKERLESS_", 11) == 0 ||
		    strchr(add[i], '=') == NULL)
			continue;
		for (j = 0; j < n && !exec_env_key(v[j], add[i]); j++)
			;
		if (j == n) {
			if (n + 2 > cap)
				v = xrealloc(v, (cap *= 2) * sizeof(*v));
			n++;
		} else {
			free(v[j]);
		}
		v[j] = strcpy(xmalloc(strlen(add[i]) + 1), add[i]);
	}
	v[n] = NULL;
	return v;
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
	env = exec_env(wrap_env(), add);
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
	if (exec_spawn(&s, &e->sp) == -1) {
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

static void
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
		exec_close(fd);
		if (e->sp.out_fd < 0)
			e->sp.tty_fd = -1;
	} else if (n > 0)
		e->last_ms = proc_now_ms();
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
	exec_close(&e->sp.in_fd);
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
				exec_close(&e->sp.out_fd);
				exec_close(&e->sp.err_fd);
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
		exec_close(&e->sp.in_fd);
}

void
exec_chan_resize(struct chan *c, unsigned rows, unsigned cols)
{
	struct exec *e = c->ex;

	if (e != NULL && !e->finished)
		exec_resize(e->sp.tty_fd, rows, cols);
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
