/* The user's command as a child: spawn, tee, deadlines, signals, reaping. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "proc.h"

/* Grandchildren may keep the pipes open after the child exits (a daemon
 * it started); their output is read this long, then dropped. */
#define PROC_GRACE_MS 200
#define PROC_READ_MAX 65536

static const int proc_fwd_sigs[] = { SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1,
	SIGUSR2 };
#define PROC_NFWD (sizeof(proc_fwd_sigs) / sizeof(proc_fwd_sigs[0]))

/* Read by the signal handler: the process group to forward to (0: none). */
static volatile sig_atomic_t proc_fwd_pgid;
static int proc_idle_exit;
/* Self-pipe: SIGCHLD wakes proc_run's poll without a race. */
static int proc_wake[2] = { -1, -1 };

static void
proc_on_signal(int sig)
{
	int saved = errno;
	pid_t pgid = (pid_t)proc_fwd_pgid;
	ssize_t r;

	if (sig == SIGCHLD) {
		r = write(proc_wake[1], "c", 1);
		(void)r;
	} else if (pgid > 0) {
		kill(-pgid, sig);
	} else if (proc_idle_exit && (sig == SIGTERM || sig == SIGINT)) {
		_exit(0);
	}
	errno = saved;
}

void
proc_signals_init(int idle_exit)
{
	struct sigaction sa;
	size_t i;

	proc_idle_exit = idle_exit;
	if (pipe2(proc_wake, O_CLOEXEC | O_NONBLOCK) == -1) {
		perror("sockerless-agent: pipe");
		_exit(1);
	}
	memset(&sa, 0, sizeof(sa));
	sigemptyset(&sa.sa_mask);
	/* Restart so a SIGCHLD never breaks a blocking Runtime API call. */
	sa.sa_flags = SA_RESTART;
	sa.sa_handler = proc_on_signal;
	for (i = 0; i < PROC_NFWD; i++)
		sigaction(proc_fwd_sigs[i], &sa, NULL);
	sa.sa_flags = SA_RESTART | SA_NOCLDSTOP;
	sigaction(SIGCHLD, &sa, NULL);
	sa.sa_flags = 0;
	sa.sa_handler = SIG_IGN;
	sigaction(SIGPIPE, &sa, NULL);
}

void
proc_exec(char *const argv[])
{
	char msg[512];
	int e, n;
	ssize_t r;

	execvp(argv[0], argv);
	e = errno;
	n = snprintf(msg, sizeof(msg), "sockerless-agent: exec %s: %s\n",
	    argv[0], strerror(e));
	if (n > 0) {
		if ((size_t)n >= sizeof(msg))
			n = (int)sizeof(msg) - 1;
		r = write(STDERR_FILENO, msg, (size_t)n);
		(void)r;
	}
	/* Docker's convention: 127 command not found, 126 not executable. */
	_exit(e == ENOENT || e == ENOTDIR ? 127 : 126);
}

/* In the forked child: undo the agent's signal setup before exec, since an
 * ignored SIGPIPE would otherwise be inherited by the user's program. */
static void
proc_child(char *const argv[], int out, int err)
{
	struct sigaction sa;
	sigset_t none;
	size_t i;
	int fd;

	setpgid(0, 0);
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_DFL;
	sigemptyset(&sa.sa_mask);
	for (i = 0; i < PROC_NFWD; i++)
		sigaction(proc_fwd_sigs[i], &sa, NULL);
	sigaction(SIGCHLD, &sa, NULL);
	sigaction(SIGPIPE, &sa, NULL);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);

	/* The pipes are O_CLOEXEC and above 2 (main keeps 0-2 open), so
	 * dup2 gives clean copies and the originals vanish at exec. */
	if ((fd = open("/dev/null", O_RDONLY)) == -1 ||
	    dup2(fd, STDIN_FILENO) == -1 || dup2(out, STDOUT_FILENO) == -1 ||
	    dup2(err, STDERR_FILENO) == -1)
		_exit(126);
	if (fd > STDERR_FILENO)
		close(fd);
	proc_exec(argv);
}

static void
proc_close_fds(int *a, int *b, int *c, int *d)
{
	int *fds[] = { a, b, c, d };
	size_t i;

	for (i = 0; i < 4; i++) {
		if (*fds[i] >= 0)
			close(*fds[i]);
		*fds[i] = -1;
	}
}

int
proc_spawn(struct proc *p, char *const argv[])
{
	int out[2] = { -1, -1 }, err[2] = { -1, -1 };
	sigset_t all, old;
	pid_t pid;
	int saved;

	memset(p, 0, sizeof(*p));
	p->out_fd = p->err_fd = -1;
	if (pipe2(out, O_CLOEXEC) == -1 || pipe2(err, O_CLOEXEC) == -1)
		goto fail;
	/* Block everything across fork so a signal can neither hit the child
	 * with the agent's handlers nor miss the new process group. */
	sigfillset(&all);
	sigprocmask(SIG_BLOCK, &all, &old);
	if ((pid = fork()) == 0)
		proc_child(argv, out[1], err[1]);
	if (pid == -1) {
		saved = errno;
		sigprocmask(SIG_SETMASK, &old, NULL);
		errno = saved;
		goto fail;
	}
	/* Also here, so kill(-pid) works whichever side runs first. */
	setpgid(pid, pid);
	proc_fwd_pgid = pid;
	sigprocmask(SIG_SETMASK, &old, NULL);
	close(out[1]);
	close(err[1]);
	p->pid = pid;
	p->out_fd = out[0];
	p->err_fd = err[0];
	fcntl(p->out_fd, F_SETFL, O_NONBLOCK);
	fcntl(p->err_fd, F_SETFL, O_NONBLOCK);
	return 0;
fail:
	saved = errno;
	proc_close_fds(&out[0], &out[1], &err[0], &err[1]);
	errno = saved;
	return -1;
}

/* Reaps every child, not only ours: the agent may be PID 1 and inherit
 * orphans, which would otherwise stay zombies. */
static void
proc_reap(struct proc *p)
{
	pid_t pid;
	int st;

	while ((pid = waitpid(-1, &st, WNOHANG)) > 0) {
		if (pid == p->pid) {
			p->exited = 1;
			p->status = st;
		}
	}
}

static void
proc_read(int *fd, int stream, const struct proc_run_opts *o)
{
	static char buf[PROC_READ_MAX];
	ssize_t n;

	n = read(*fd, buf, sizeof(buf));
	if (n > 0) {
		o->on_output(o->arg, stream, buf, (size_t)n);
	} else if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
		close(*fd);
		*fd = -1;
	}
}

/* Sends the deadline signals that are due; returns ms until the next one
 * (-1: none pending). */
static int64_t
proc_deadlines(
    struct proc *p, const struct proc_run_opts *o, int64_t now, int *stage)
{
	if (*stage == 0 && o->term_at > 0 && now >= o->term_at) {
		if (!p->exited) {
			kill(-p->pid, SIGTERM);
			p->timed_out = 1;
		}
		*stage = 1;
	}
	if (*stage <= 1 && o->kill_at > 0 && now >= o->kill_at) {
		if (!p->exited) {
			kill(-p->pid, SIGKILL);
			p->timed_out = 1;
		}
		*stage = 2;
	}
	if (*stage == 0 && o->term_at > 0)
		return o->term_at - now;
	if (*stage <= 1 && o->kill_at > 0)
		return o->kill_at - now;
	return -1;
}

static int
proc_poll_ms(int64_t a, int64_t b)
{
	int64_t t = a;

	if (t < 0 || (b >= 0 && b < t))
		t = b;
	if (t > INT_MAX)
		t = INT_MAX;
	return (int)t;
}

void
proc_run(struct proc *p, const struct proc_run_opts *o)
{
	struct pollfd pfd[3];
	int64_t now, grace_end = -1, to_deadline;
	int stage = 0, n, spare = -1;
	char drain[64];

	for (;;) {
		proc_reap(p);
		now = proc_now_ms();
		if (p->exited && grace_end < 0)
			grace_end = now + PROC_GRACE_MS;
		if (p->exited &&
		    ((p->out_fd < 0 && p->err_fd < 0) || now >= grace_end))
			break;
		to_deadline = proc_deadlines(p, o, now, &stage);
		n = 0;
		pfd[n++] = (struct pollfd){ proc_wake[0], POLLIN, 0 };
		pfd[n++] = (struct pollfd){ p->out_fd, POLLIN, 0 };
		pfd[n++] = (struct pollfd){ p->err_fd, POLLIN, 0 };
		/* poll ignores negative fds, so closed pipes need no
		 * bookkeeping here. */
		if (poll(pfd, (nfds_t)n,
			proc_poll_ms(to_deadline,
			    grace_end < 0 ? -1 : grace_end - now)) <= 0)
			continue;
		while (read(proc_wake[0], drain, sizeof(drain)) > 0)
			;
		if (pfd[1].revents != 0)
			proc_read(&p->out_fd, PROC_STDOUT, o);
		if (pfd[2].revents != 0)
			proc_read(&p->err_fd, PROC_STDERR, o);
	}
	proc_close_fds(&p->out_fd, &p->err_fd, &spare, &spare);
	/* The container's main process is gone: end the rest of its group,
	 * as Docker does. The group id stays reserved while any member
	 * lives, so this cannot hit an unrelated process. */
	kill(-p->pid, SIGKILL);
	proc_fwd_pgid = 0;
	proc_reap(p);
}

int
proc_exit_code(int status)
{
	if (WIFSIGNALED(status))
		return 128 + WTERMSIG(status);
	return WEXITSTATUS(status);
}

static const struct {
	int sig;
	const char *name;
} proc_names[] = {
	{ SIGHUP, "SIGHUP" },
	{ SIGINT, "SIGINT" },
	{ SIGQUIT, "SIGQUIT" },
	{ SIGILL, "SIGILL" },
	{ SIGTRAP, "SIGTRAP" },
	{ SIGABRT, "SIGABRT" },
	{ SIGBUS, "SIGBUS" },
	{ SIGFPE, "SIGFPE" },
	{ SIGKILL, "SIGKILL" },
	{ SIGUSR1, "SIGUSR1" },
	{ SIGSEGV, "SIGSEGV" },
	{ SIGUSR2, "SIGUSR2" },
	{ SIGPIPE, "SIGPIPE" },
	{ SIGALRM, "SIGALRM" },
	{ SIGTERM, "SIGTERM" },
	{ SIGSTKFLT, "SIGSTKFLT" },
	{ SIGCHLD, "SIGCHLD" },
	{ SIGCONT, "SIGCONT" },
	{ SIGSTOP, "SIGSTOP" },
	{ SIGTSTP, "SIGTSTP" },
	{ SIGTTIN, "SIGTTIN" },
	{ SIGTTOU, "SIGTTOU" },
	{ SIGURG, "SIGURG" },
	{ SIGXCPU, "SIGXCPU" },
	{ SIGXFSZ, "SIGXFSZ" },
	{ SIGVTALRM, "SIGVTALRM" },
	{ SIGPROF, "SIGPROF" },
	{ SIGWINCH, "SIGWINCH" },
	{ SIGIO, "SIGIO" },
	{ SIGPWR, "SIGPWR" },
	{ SIGSYS, "SIGSYS" },
};

const char *
proc_signame(int sig)
{
	size_t i;

	for (i = 0; i < sizeof(proc_names) / sizeof(proc_names[0]); i++)
		if (proc_names[i].sig == sig)
			return proc_names[i].name;
	return NULL;
}

int
proc_signum(const char *s)
{
	char *end;
	long v;
	size_t i;

	if (s == NULL || *s == '\0')
		return -1;
	if (*s >= '0' && *s <= '9') {
		v = strtol(s, &end, 10);
		return *end == '\0' && v > 0 && v < NSIG ? (int)v : -1;
	}
	if (strncasecmp(s, "SIG", 3) == 0)
		s += 3;
	for (i = 0; i < sizeof(proc_names) / sizeof(proc_names[0]); i++)
		if (strcasecmp(proc_names[i].name + 3, s) == 0)
			return proc_names[i].sig;
	return -1;
}

void
proc_child_reset(void)
{
	struct sigaction sa;
	sigset_t none;
	int sig;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_DFL;
	sigemptyset(&sa.sa_mask);
	for (sig = 1; sig < NSIG; sig++)
		if (sig != SIGKILL && sig != SIGSTOP)
			sigaction(sig, &sa, NULL);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
}
int64_t
proc_now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

int64_t
proc_now_ms(void)
{
	return proc_now_us() / 1000;
}
