/* The wrapper's event loop: one poll() over descriptors registered anew
 * each iteration, epoch-ms timers, a signal self-pipe and the reaper. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "agent.h"
#include "proc.h"

struct loop_w {
	loop_fn *fn;
	void *arg;
};

struct loop_kid {
	pid_t pid;
	loop_exit_fn *fn;
	void *arg;
};

static struct pollfd *loop_pfd;
static struct loop_w *loop_w;
static size_t loop_n, loop_cap;
static int64_t loop_deadline;
static int loop_pipe[2] = { -1, -1 };
static struct loop_kid *loop_kids;
static size_t loop_nkids, loop_capkids;
/* Where signals go, outside the handler (loop_init). */
static loop_signal_fn *loop_signal_cb;

static const int loop_sigs[] = { SIGCHLD, SIGTERM, SIGINT, SIGHUP, SIGQUIT,
	SIGUSR1, SIGUSR2, SIGWINCH };

static void
loop_on_signal(int sig)
{
	int saved = errno;
	unsigned char b = (unsigned char)sig;
	ssize_t r = write(loop_pipe[1], &b, 1);

	(void)r;
	errno = saved;
}

void
loop_init(loop_signal_fn *on_signal)
{
	struct sigaction sa;
	size_t i;

	loop_signal_cb = on_signal;
	if (pipe2(loop_pipe, O_CLOEXEC | O_NONBLOCK) == -1) {
		perror("sockerless-agent: pipe");
		_exit(1);
	}
	memset(&sa, 0, sizeof(sa));
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = SA_RESTART;
	sa.sa_handler = loop_on_signal;
	for (i = 0; i < sizeof(loop_sigs) / sizeof(loop_sigs[0]); i++)
		sigaction(loop_sigs[i], &sa, NULL);
	sa.sa_handler = SIG_IGN;
	sigaction(SIGPIPE, &sa, NULL);
}

void
loop_block_signals(sigset_t *old)
{
	sigset_t all;

	sigfillset(&all);
	sigprocmask(SIG_BLOCK, &all, old);
}

void
loop_restore_signals(const sigset_t *old)
{
	sigprocmask(SIG_SETMASK, old, NULL);
}

void
loop_watch(int fd, short events, loop_fn *fn, void *arg)
{
	if (fd < 0)
		return;
	if (loop_n == loop_cap) {
		loop_cap = loop_cap ? loop_cap * 2 : 32;
		loop_pfd = xrealloc(loop_pfd, loop_cap * sizeof(*loop_pfd));
		loop_w = xrealloc(loop_w, loop_cap * sizeof(*loop_w));
	}
	loop_pfd[loop_n] = (struct pollfd){ fd, events, 0 };
	loop_w[loop_n++] = (struct loop_w){ fn, arg };
}

void
loop_timer(int64_t at)
{
	if (at > 0 && (loop_deadline == 0 || at < loop_deadline))
		loop_deadline = at;
}

void
loop_child(pid_t pid, loop_exit_fn *fn, void *arg)
{
	if (loop_nkids == loop_capkids) {
		loop_capkids = loop_capkids ? loop_capkids * 2 : 16;
		loop_kids =
		    xrealloc(loop_kids, loop_capkids * sizeof(*loop_kids));
	}
	loop_kids[loop_nkids++] = (struct loop_kid){ pid, fn, arg };
}

void
loop_reap_now(void)
{
	struct loop_kid k;
	pid_t pid;
	size_t i;
	int st;

	while ((pid = waitpid(-1, &st, WNOHANG)) > 0) {
		for (i = 0; i < loop_nkids; i++)
			if (loop_kids[i].pid == pid)
				break;
		if (i == loop_nkids)
			continue; /* an orphan inherited as PID 1 */
		k = loop_kids[i];
		loop_kids[i] = loop_kids[--loop_nkids];
		k.fn(k.arg, st);
	}
}

static void
loop_signals(void *arg, short revents)
{
	unsigned char b[64];
	ssize_t n, i;

	(void)arg;
	(void)revents;
	while ((n = read(loop_pipe[0], b, sizeof(b))) > 0)
		for (i = 0; i < n; i++)
			if (b[i] != SIGCHLD)
				loop_signal_cb(b[i]);
	loop_reap_now();
}

void
loop_once(void)
{
	int64_t now, t;
	size_t i, n;
	int ms = -1;

	loop_watch(loop_pipe[0], POLLIN, loop_signals, NULL);
	/* A SIGCHLD may have come before the handler ran for a fork's
	 * child registered after the last reap. */
	loop_reap_now();
	if (loop_deadline > 0) {
		now = proc_now_ms();
		t = loop_deadline - now;
		ms = t < 0 ? 0 : (t > INT_MAX ? INT_MAX : (int)t);
	}
	n = loop_n;
	if (poll(loop_pfd, (nfds_t)n, ms) > 0)
		for (i = 0; i < n; i++)
			if (loop_pfd[i].revents != 0)
				loop_w[i].fn(
				    loop_w[i].arg, loop_pfd[i].revents);
	loop_n = 0;
	loop_deadline = 0;
}

void
loop_forget(pid_t pid)
{
	size_t i;

	for (i = 0; i < loop_nkids; i++)
		if (loop_kids[i].pid == pid) {
			loop_kids[i] = loop_kids[--loop_nkids];
			return;
		}
}
