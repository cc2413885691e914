/* Processes the wrapper starts (the main process, execs, checks, archive
 * children): pipes or a pseudo-terminal, user, working directory and
 * environment, and the exec failures worded as Docker's. */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
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
#include "proc.h"

extern char **environ;

/* Who processes run as when their struct spawn names no user
 * (spawn_set_user); NULL: the agent's own user. */
static const char *spawn_default_user;

void
spawn_set_user(const char *user)
{
	spawn_default_user = user;
}

/*
 * A failed exec's message, written as dockerd writes it: on the exec's
 * stdout (the stream the client reads, framed as stdout), ending in
 * "\r\n". Only ever called in the child, before its exec.
 */
static void spawn_say(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));
static void
spawn_say(const char *fmt, ...)
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
spawn_strerror(int e)
{
	static char buf[128];

	snprintf(buf, sizeof(buf), "%s", strerror(e));
	buf[0] = (char)tolower((unsigned char)buf[0]);
	return buf;
}

static int
spawn_number(const char *s, unsigned long *v)
{
	char *end;

	if (*s < '0' || *s > '9')
		return -1;
	errno = 0;
	*v = strtoul(s, &end, 10);
	return *end != '\0' || errno != 0 ? -1 : 0;
}

/* In the child: becomes user ("uid[:gid]" or names), as Docker's exec. */
int
spawn_become(const char *spec)
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
	if (spawn_number(user, &v) == 0) {
		uid = (uid_t)v;
		pw = getpwuid(uid);
	} else if ((pw = getpwnam(user)) != NULL) {
		uid = pw->pw_uid;
	} else {
		spawn_say("unable to find user %s: no matching entries in "
			  "passwd file",
		    user);
		return -1;
	}
	if (pw != NULL)
		gid = pw->pw_gid;
	if (group != NULL && *group != '\0') {
		if (spawn_number(group, &v) == 0) {
			gid = (gid_t)v;
		} else if ((gr = getgrnam(group)) != NULL) {
			gid = gr->gr_gid;
		} else {
			spawn_say(
			    "unable to find group %s: no matching entries "
			    "in group file",
			    group);
			return -1;
		}
	}
	/* Without root the supplementary groups cannot change, and the
	 * process can only become itself (the image's USER, which a derived
	 * image keeps): that much succeeds, anything else is refused below. */
	if ((geteuid() == 0 &&
		(pw != NULL && group == NULL ? initgroups(pw->pw_name, gid) :
					       setgroups(1, &gid)) == -1) ||
	    setgid(gid) == -1 || setuid(uid) == -1) {
		spawn_say(
		    "unable to set user %s: %s", spec, spawn_strerror(errno));
		return -1;
	}
	if (pw != NULL && pw->pw_dir != NULL && getenv("HOME") == NULL)
		setenv("HOME", pw->pw_dir, 1);
	return 0;
}

#define SPAWN_OCI                                                          \
	"OCI runtime exec failed: exec failed: unable to start container " \
	"process: "

/* Go's exec.LookPath check: a file with an execute bit; EACCES when not. */
static int
spawn_runnable(const char *path)
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
spawn_lookpath(const char *argv0, char *path, size_t pathsz)
{
	const char *dirs = getenv("PATH"), *p, *colon;
	int e;

	if (strchr(argv0, '/') != NULL) {
		snprintf(path, pathsz, "%s", argv0);
		if (spawn_runnable(path) == 0)
			return;
		if ((e = errno) == EACCES)
			spawn_say(SPAWN_OCI "exec: \"%s\": %s: unknown", argv0,
			    spawn_strerror(e));
		else
			spawn_say(SPAWN_OCI
			    "exec: \"%s\": stat %s: %s: unknown",
			    argv0, argv0, spawn_strerror(e));
		_exit(126);
	}
	for (p = dirs != NULL ? dirs : ""; *p != '\0'; p = colon + 1) {
		colon = strchrnul(p, ':');
		/* An empty entry is the working directory, as in Go. */
		snprintf(path, pathsz, "%.*s%s%s", (int)(colon - p),
		    colon == p ? "." : p, "/", argv0);
		if (spawn_runnable(path) == 0)
			return;
		if (*colon == '\0')
			break;
	}
	spawn_say(SPAWN_OCI "exec: \"%s\": executable file not found in $PATH: "
			    "unknown",
	    argv0);
	_exit(126);
}

/* The process had started for runc when its execve fails: it says so on
 * its stderr and exits 1, as runc's init does. */
static void
spawn_failed(const char *path, int e)
{
	char msg[1024];
	int n;
	ssize_t r;

	n = snprintf(
	    msg, sizeof(msg), "exec %s: %s\n", path, spawn_strerror(e));
	if (n > 0) {
		if ((size_t)n >= sizeof(msg))
			n = (int)sizeof(msg) - 1;
		r = write(STDERR_FILENO, msg, (size_t)n);
		(void)r;
	}
	_exit(1);
}

static void
spawn_child(const struct spawn *s, const char *slave, int in, int out, int err)
{
	char path[4096];
	const char *user;
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
	user =
	    s->user != NULL && *s->user != '\0' ? s->user : spawn_default_user;
	if (user != NULL && *user != '\0' && spawn_become(user) == -1)
		_exit(126);
	if (s->workdir != NULL && *s->workdir != '\0' &&
	    chdir(s->workdir) == -1) {
		e = errno;
		spawn_say(
		    "OCI runtime exec failed: exec failed: unable to start "
		    "container process: chdir to cwd (\"%s\") set in "
		    "config.json failed: %s: unknown",
		    s->workdir, spawn_strerror(e));
		_exit(126);
	}
	if (!s->docker_msgs)
		proc_exec(s->argv);
	spawn_lookpath(s->argv[0], path, sizeof(path));
	execv(path, s->argv);
	spawn_failed(path, errno);
}

void
spawn_close(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

static void
spawn_nonblock(int fd)
{
	if (fd >= 0) {
		fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
		fcntl(fd, F_SETFD, FD_CLOEXEC);
	}
}

void
spawn_resize(int tty_fd, unsigned rows, unsigned cols)
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
spawn_start(const struct spawn *s, struct spawned *o)
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
		spawn_nonblock(master);
		spawn_resize(master, s->rows, s->cols);
	} else if ((s->in && pipe2(in, O_CLOEXEC) == -1) ||
	    pipe2(out, O_CLOEXEC) == -1 ||
	    (!s->merge && pipe2(err, O_CLOEXEC) == -1)) {
		goto fail;
	}
	loop_block_signals(&old);
	if ((pid = fork()) == 0)
		spawn_child(s, slave, in[0], out[1], err[1]);
	saved = errno;
	if (pid > 0 && !s->tty)
		setpgid(pid, pid);
	loop_restore_signals(&old);
	if (pid == -1) {
		errno = saved;
		goto fail;
	}
	spawn_close(&in[0]);
	spawn_close(&out[1]);
	spawn_close(&err[1]);
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
	spawn_nonblock(o->in_fd);
	spawn_nonblock(o->out_fd);
	spawn_nonblock(o->err_fd);
	return 0;
fail:
	saved = errno;
	spawn_close(&master);
	spawn_close(&in[0]);
	spawn_close(&in[1]);
	spawn_close(&out[0]);
	spawn_close(&out[1]);
	spawn_close(&err[0]);
	spawn_close(&err[1]);
	errno = saved;
	return -1;
}

static int
spawn_env_key(const char *a, const char *b)
{
	size_t la = strcspn(a, "="), lb = strcspn(b, "=");

	return la == lb && memcmp(a, b, la) == 0;
}

char **
spawn_env(char *const *env, char *const *add)
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
		for (j = 0; j < n && !spawn_env_key(v[j], add[i]); j++)
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
