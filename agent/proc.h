/* Runs the user's command as a supervised child: pipes, signals, reaping. */
#ifndef AGENT_PROC_H
#define AGENT_PROC_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Stream numbers as Docker's multiplexed stream uses them. */
#define PROC_STDOUT 1
#define PROC_STDERR 2

struct proc {
	pid_t pid;     /* also the child's process group id; 0 when none */
	int out_fd;    /* read end of the child's stdout, -1 once closed */
	int err_fd;    /* read end of the child's stderr, -1 once closed */
	int exited;    /* status below is valid */
	int status;    /* raw wait status */
	int timed_out; /* proc_run sent the deadline signals */
};

/* What proc_run does besides waiting; all times are epoch milliseconds
 * (CLOCK_REALTIME), 0 meaning "never". */
struct proc_run_opts {
	void (*on_output)(void *arg, int stream, const char *buf, size_t len);
	void *arg;
	int64_t term_at; /* SIGTERM to the process group */
	int64_t kill_at; /* SIGKILL to the process group */
};

/*
 * Installs the agent's signal handling; call once before proc_spawn.
 * SIGTERM/SIGINT/SIGHUP/SIGQUIT/SIGUSR1/SIGUSR2 go to the running child's
 * process group. With no child running, SIGTERM and SIGINT make the agent
 * exit 0 when idle_exit is set (the others are ignored). SIGPIPE is
 * ignored so a closed log pipe or socket is an error return, not death.
 */
void proc_signals_init(int idle_exit);

/*
 * Forks argv[0] (PATH search) in its own process group with stdin from
 * /dev/null and stdout/stderr on pipes. An exec failure is reported by the
 * child on its stderr and in its exit status (127/126), as Docker does.
 * Returns 0, or -1 with errno set if the pipes or fork fail.
 */
int proc_spawn(struct proc *p, char *const argv[]);

/*
 * Reads both pipes until the child has exited and they are at EOF,
 * passing each chunk to opts->on_output in the order read. Pipes still
 * held open by grandchildren are closed 200 ms after the child's exit;
 * whatever remains of its process group is then killed, as Docker does
 * when a container's main process ends. Returns with p->exited set.
 */
void proc_run(struct proc *p, const struct proc_run_opts *opts);

/* Exit code as Docker reports it: the exit status, or 128 + signal. */
int proc_exit_code(int status);

/* "SIGKILL" and friends; NULL for an unknown number. */
const char *proc_signame(int sig);

/* Signal number of "SIGQUIT", "QUIT" (any case) or "3"; -1 if unknown. */
int proc_signum(const char *name);

/* In a forked child: every signal back to its default, none blocked. */
void proc_child_reset(void);

/*
 * execvp(argv); on failure writes "sockerless-agent: exec PROG: <why>" to
 * stderr and exits 127 (not found) or 126 (found but not runnable).
 */
void proc_exec(char *const argv[]) __attribute__((noreturn));

/* Current time as epoch milliseconds / microseconds (CLOCK_REALTIME). */
int64_t proc_now_ms(void);
int64_t proc_now_us(void);

#endif
