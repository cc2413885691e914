/* sockerless-agent: the private header, one section per file. */
#ifndef AGENT_AGENT_H
#define AGENT_AGENT_H

#include <netinet/in.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Keep in step with BACKEND_VERSION (common/include/sockerless/backend.h);
 * the agent is built without common/ (static musl, libc only). */
#define AGENT_VERSION "0.1.0"

/* Exit status for bad usage, as docker run uses for its own errors. */
#define AGENT_EXIT_USAGE 125

/* agent.c */
/* Allocation failure aborts: the agent has no useful way to go on. */
void *xmalloc(size_t n) __attribute__((returns_nonnull));
void *xrealloc(void *p, size_t n) __attribute__((returns_nonnull));

/* envelope.c: one run of the command for a FaaS invocation and the
 * envelope that carries its result (docs/agent.md). */
/* Lambda refuses responses over 6 MB; stay clear of it with the JSON
 * around the output. docs/agent.md states this limit to the backend. */
#define ENVELOPE_MAX 5000000
struct envelope_rec {
	int stream;
	int64_t ts; /* microseconds since the epoch of the first read */
	size_t off; /* into envelope_out.data */
	size_t len;
};
/* The output of one run, in the order read. */
struct envelope_out {
	char *data;
	size_t len, cap;
	struct envelope_rec *recs;
	size_t n, nalloc;
	size_t est; /* upper bound of the envelope's encoded size */
	int truncated;
};
struct envelope_result {
	int code;
	const char *signame; /* set when killed by a signal */
	int timed_out;
	char suffix[40]; /* " (timed out)" / " (signal SIGKILL)" / "" */
};
/* One line to stderr in a single write, so it never interleaves with the
 * child's output that the agent tees there. */
void envelope_say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Request and container ids go into URLs and searched log lines: 1 when
 * s is made only of the characters they are made of, shorter than max. */
int envelope_token_ok(const char *s, size_t max);
void envelope_out_init(struct envelope_out *o);
void envelope_out_free(struct envelope_out *o);
/* Keeps a chunk for the envelope while it stays under ENVELOPE_MAX. */
void envelope_record(
    struct envelope_out *o, int stream, const char *buf, size_t len);
/* A run that never started: msg (a line) as its stderr, teed too. */
void envelope_fail(struct envelope_out *o, struct envelope_result *res,
    int code, const char *msg);
/* Runs argv once (the agent's environment and directory, stdin from
 * /dev/null), teeing its output to the agent's own and recording it;
 * term_at/kill_at are proc_run's deadlines (0: none). Call
 * proc_signals_init first. */
void envelope_run(struct envelope_out *o, char *const argv[], int64_t term_at,
    int64_t kill_at, struct envelope_result *res);
/* The envelope; with_output 0 drops the records and marks the output
 * truncated. malloc'd, its length in *lenp. */
char *envelope_build(const struct envelope_out *o,
    const struct envelope_result *res, int with_output, size_t *lenp);

/* lambda.c */
/* Serves Lambda invocations with argv until SIGTERM; never returns. */
void lambda_main(const char *api, char *const argv[]) __attribute__((noreturn));

/* httprt.c: the HTTP runtime (Cloud Run functions and services). */
/* Serves POSTs on listen_addr ("host:port"), each running argv (or the
 * request's argv) once, until SIGTERM; never returns. */
void httprt_main(const char *listen_addr, char *const argv[])
    __attribute__((noreturn));

/* loop.c: the wrapper's one poll() loop, its signals and its reaper.
 * Callbacks never free objects: they mark them, and the next iteration's
 * prepare functions free them before registering descriptors again. */
typedef void loop_fn(void *arg, short revents);
typedef void loop_exit_fn(void *arg, int status);
typedef void loop_signal_fn(int sig);
/* Installs the signal self-pipe; signals then reach on_signal from the
 * loop (not from the handler). */
void loop_init(loop_signal_fn *on_signal);
/* Registers fd for the coming poll only; each iteration registers anew. */
void loop_watch(int fd, short events, loop_fn *fn, void *arg);
/* The coming poll wakes by epoch ms at (0: ignored). */
void loop_timer(int64_t at);
/* Polls once and runs the callbacks of ready descriptors. */
void loop_once(void);
/* fn(arg, wait status) when pid is reaped; other children are reaped
 * silently (orphans inherited by PID 1). */
void loop_child(pid_t pid, loop_exit_fn *fn, void *arg);
/* Reaps the children that have ended now, running their callbacks. */
void loop_reap_now(void);
/* pid's end is no longer of interest (it is reaped silently). */
void loop_forget(pid_t pid);
/* All signals blocked around fork, so the child never runs the agent's
 * handlers before it resets them. */
void loop_block_signals(sigset_t *old);
void loop_restore_signals(const sigset_t *old);

/* spawn.c: processes the wrapper starts (main, execs, checks, archive). */
struct spawn {
	char *const *argv;
	char *const *envp; /* NULL: the agent's own environment */
	const char *workdir;
	const char *user; /* uid[:gid] or names; NULL: spawn_set_user's */
	int tty;	  /* on a new pseudo-terminal */
	int in;		  /* a stdin pipe (else /dev/null, or the tty) */
	int merge;	  /* stderr onto the stdout pipe */
	int docker_msgs;  /* exec failures worded as Docker's exec */
	unsigned short rows, cols;
	/* Instead of exec: the child runs fn(arg) and exits with its value. */
	int (*fn)(void *arg);
	void *arg;
};
struct spawned {
	pid_t pid;  /* also the process group */
	int in_fd;  /* -1 unless s->in (a dup of the master with a tty) */
	int out_fd; /* stdout pipe, or the tty master */
	int err_fd; /* -1 with a tty or merge */
	int tty_fd; /* the master (borrowed, same as out_fd), or -1 */
};
/* The user (SOCKERLESS_USER) of spawns that name none: the main process,
 * health checks and execs without a user; user outlives every spawn. */
void spawn_set_user(const char *user);
/* Becomes user ("uid[:gid]" or names; HOME set from passwd when unset),
 * in a process about to run a command; 0, or -1 with Docker's words on
 * stdout ("unable to find user x: no matching entries in passwd file"). */
int spawn_become(const char *spec);
/* Non-blocking, close-on-exec descriptors; 0, or -1 with errno. */
int spawn_start(const struct spawn *s, struct spawned *out);
/* env with SOCKERLESS_* left out and add's K=V replacing or appended;
 * malloc'd vector of malloc'd strings. */
char **spawn_env(char *const *env, char *const *add);
void spawn_resize(int tty_fd, unsigned rows, unsigned cols);
/* Closes *fd unless it is -1, and makes it -1. */
void spawn_close(int *fd);

/* exec.c: the link's exec kinds. */
struct chan;
/* The main process's environment, which execs start from (wrap.c's,
 * borrowed for the agent's life). */
void exec_init(char *const *main_env);
/* OPEN kinds exec and exec_status. */
void exec_open(struct chan *c, const char *req, size_t len);
void exec_status(uint32_t ch, const char *req, size_t len);
/* Registers the execs' descriptors and timers; frees finished ones. */
void exec_prepare(void);
/* The channel goes away (CLOSE, link lost): the process keeps running. */
void exec_detach(struct chan *c);
/* Where the channel's stdin goes (-1: nowhere); its half-close. */
int exec_in_fd(struct chan *c);
void exec_in_close(struct chan *c);
void exec_chan_resize(struct chan *c, unsigned rows, unsigned cols);
int exec_signal(const char *id, int sig);
void exec_kill_all(void);
/* The main process has ended: the execs that have ended too send what
 * their pipes hold and their results now, before the links close. */
void exec_flush_ended(void);

/* chan.c: channels of the current link (docs/agent-link.md). */
enum chan_kind {
	CHAN_EXEC,
	CHAN_ATTACH,
	CHAN_GET,
	CHAN_PUT,
	CHAN_TCP,
	CHAN_CONN, /* agent-initiated (CONNECT): a local socket carried */
	CHAN_LOGS, /* the main process's spooled output (spool.c) */
	CHAN_UDP,  /* OPEN kind udp (udp.c): a peer's flow to a local port */
	CHAN_UFLOW /* agent-initiated UDP flow (udp.c), relay mode */
};
struct chan {
	uint32_t id;
	enum chan_kind kind;
	int dead;
	int64_t window; /* DATA bytes the agent may still send */
	/* stdin from the backend, not yet written */
	unsigned char *inq;
	size_t inoff, inlen, incap;
	size_t in_credit; /* written, not yet credited */
	int in_eof;
	int want_in, want_out, want_err; /* attach */
	void *ex;			 /* exec.c's struct exec */
	/* archive get/put child */
	struct spawned job;
	int job_exited, job_status;
	char errline[512];
	size_t errlen;
	int put_eof_sent;
	/* tcp (tcp.c): the socket is job.in_fd */
	int tcp_connecting, tcp_rd_done, tcp_port;
	char tcp_host[48];
	/* conn: the backend's RESULT came (the socket closes once what it
	 * sent before is written); what the channel is for, in messages */
	int conn_ended;
	char conn_what[160];
	/* udp (udp.c): a flow's socket (a peer's port, shared) and source;
	 * the last datagram either way */
	int udp_fd;
	struct sockaddr_in udp_from;
	int64_t udp_last;
	/* logs (spool.c): the next absolute spool offset to send, the end
	 * of a reader without follow */
	uint64_t logs_at, logs_to;
	int logs_follow, logs_live;
	struct chan *next;
};
extern struct chan *chan_list;
/* What the channels call back into: the main process (wrap.c) and the
 * exec kinds (exec.c), which both use chan.c; wrap.c fills the table, so
 * chan.c calls neither directly. */
struct chan_ops {
	void (*main_start)(uint32_t ch);
	int (*main_kill)(int sig);
	void (*main_attach)(struct chan *c);
	void (*main_resize)(unsigned rows, unsigned cols);
	int (*main_in_fd)(void);
	void (*main_in_eof)(void);
	void (*exec_open)(struct chan *c, const char *req, size_t len);
	void (*exec_status)(uint32_t ch, const char *req, size_t len);
	int (*exec_signal)(const char *id, int sig);
	void (*exec_detach)(struct chan *c);
	int (*exec_in_fd)(struct chan *c);
	void (*exec_in_close)(struct chan *c);
	void (*exec_resize)(struct chan *c, unsigned rows, unsigned cols);
	/* OPEN kind names (dns.c), which answers with chan_reply. */
	void (*names_open)(uint32_t ch, const char *req, size_t len);
	/* OPEN kind tcp (tcp.c): its socket is the channel's sink and
	 * source. */
	void (*tcp_open)(struct chan *c, const char *req, size_t len);
	int (*tcp_sink)(struct chan *c);
	void (*tcp_sink_eof)(struct chan *c);
	void (*tcp_prepare)(struct chan *c);
	/* OPEN kind udp and the flows (udp.c): the channel's queue is
	 * theirs to send. */
	void (*udp_open)(struct chan *c, const char *req, size_t len);
	void (*udp_prepare)(struct chan *c);
	/* OPEN kind logs (spool.c). */
	void (*logs_open)(struct chan *c, const char *req, size_t len);
};
/* ops outlives every channel. */
void chan_set_ops(const struct chan_ops *ops);
/* Largest DATA payload c may send now (0: wait for CREDIT). */
size_t chan_room(const struct chan *c);
void chan_data(struct chan *c, int stream, const void *buf, size_t n);
void chan_eof(struct chan *c, int stream);
/* n bytes of c's queue (inq from inoff) are passed on (or dropped when
 * nobody reads them): credited. */
void chan_consumed(struct chan *c, size_t n);
/* Forgets c, after CLOSE when tell (a channel the agent abandons). */
void chan_drop(struct chan *c, int tell);
/* Sends RESULT (json) and forgets the channel. */
void chan_result(struct chan *c, const char *json);
/* RESULT on a channel that was never opened as a stream. */
void chan_reply(uint32_t ch, const char *json);
/* One link message from the backend; -1 is a protocol error. */
int chan_message(const unsigned char *buf, size_t len);
/* Forgets every channel (the link is gone); execs keep running. */
void chan_drop_all(void);
/* Frees forgotten channels; call first in an iteration. */
void chan_sweep(void);
void chan_prepare(void);
/* Reads fd into the channel as DATA of stream (window permitting);
 * returns bytes read, 0 at EOF, -1 when nothing could be read. */
ssize_t chan_pump(struct chan *c, int fd, int stream);
/* An agent-initiated channel (docs/agent-link.md, CONNECT) carrying the
 * connected socket fd (taken: closed with the channel, at once when no
 * link is up): CONNECT request (a JSON object) to the backend, then the
 * socket's bytes as DATA 0 and the backend's DATA 1 into it, half-closes
 * both ways, CREDIT as for tcp; the backend's RESULT ends it. what names
 * the connection in the stderr line an error RESULT gets. NULL when no
 * link is up. */
struct chan *chan_connect(int fd, const char *request, const char *what);

/* spool.c: the main process's output kept for the `logs` kind. */
/* limit: SOCKERLESS_LOG_SPOOL (bytes; NULL: the default, 4 MiB). */
void spool_init(const char *limit);
/* Output of the main process as read (stream 1 or 2), at ts_ns. */
void spool_add(int stream, const char *p, size_t n, int64_t ts_ns);
/* The main process has ended (its output is all spooled). */
void spool_end(int exit_code);
/* OPEN kind logs: META {"dropped":N,"complete":bool}, then DATA. */
void spool_open(struct chan *c, const char *req, size_t len);
/* Sends what the logs channels' windows allow; ends the ones done. */
void spool_prepare(void);
/* 1 while a following reader has not had everything spooled. */
int spool_behind(void);

/* tcp.c: the `tcp` kind (a connection inside the workload). */
void tcp_open(struct chan *c, const char *req, size_t len);
/* Where the channel's DATA 0 goes (-2: still connecting); its EOF. */
int tcp_sink(struct chan *c);
void tcp_sink_eof(struct chan *c);
/* Registers the socket; ends the channel when both directions have. */
void tcp_prepare(struct chan *c);

/* udp.c: UDP in relay mode (records of a 2-byte length and a datagram). */
/* idle_ms: SOCKERLESS_UDP_IDLE_MS, a flow's idle time (NULL: 60 s). */
void udp_init(const char *idle_ms);
/* OPEN kind udp {"port", "host"}: a connected socket to host:port. */
void udp_open(struct chan *c, const char *req, size_t len);
/* Sends the queue's datagrams; reads answers; ends idle flows. */
void udp_prepare(struct chan *c);
/* fd (a peer's UDP port, relay.c) is readable: each local source's
 * datagrams go over a flow of their own to peer's port. */
void udp_datagram(int fd, const char *peer, int port);
/* fd is about to close: its flows end. */
void udp_socket_gone(int fd);

/* docksock.c: the Docker socket inside the workload
 * (SOCKERLESS_DOCKER_SOCK, docs/volumes.md). */
/* Serves a unix socket at each path of json (a JSON array of absolute
 * paths): parents made, a stale socket replaced, group of user (the main
 * process's SOCKERLESS_USER; NULL: root). Paths that cannot be served are
 * reported on stderr and skipped. */
void docksock_init(const char *json, const char *user);
/* Registers the listeners; connections made before the run's first link
 * wait for it (a bounded time). */
void docksock_prepare(int64_t now);

/* tmpfs.c: SOCKERLESS_TMPFS, a JSON object {"/path": mode, ...}: each
 * path (made if missing) gets its mode (Docker's tmpfs is 01777), as root
 * before the main process starts; failures are reported on stderr. */
void tmpfs_init(const char *json);

/* link.c: the link, forward mode (the agent listens) or reverse mode (the
 * agent dials the backend). */
/* What the link calls back into (chan.c's messages, wrap.c's HELLO),
 * filled by wrap.c so link.c calls neither directly. */
struct link_ops {
	/* One link message; -1 is a protocol error (the link fails). */
	int (*message)(const unsigned char *buf, size_t len);
	/* The current link is gone. */
	void (*dropped)(void);
	/* HELLO's JSON (malloc'd). */
	char *(*hello)(void);
};
/* Before link_init or link_init_reverse; ops outlives the link. */
void link_set_ops(const struct link_ops *ops);
/* 0, or -1 with a message on stderr. */
int link_init(const char *listen_addr, const char *token_sha256,
    const char *container_id);
/* Reverse mode: dials callback_url (http://host[:port]/path) with the raw
 * token (64 hex), again after every failure or drop until link_close_all.
 * 0, or -1 with a message on stderr. */
int link_init_reverse(
    const char *callback_url, const char *token_hex, const char *container_id);
void link_prepare(void);
int link_up(void);
/* 1 when a link is established (messages sent now reach a backend). */
int link_current(void);
/* Queues one link message on the current link (dropped without one). */
void link_send(int type, int stream, uint32_t ch, const void *p, size_t n);
/* Bytes queued and not yet written. */
size_t link_pending(void);
void link_close_all(void);

/* wrap.c: the PID 1 wrapper (ECS). */
/* Wires loop.c, link.c, chan.c and exec.c together (their callback
 * tables) and runs the main process; never returns. */
void wrap_main(char *const argv[]) __attribute__((noreturn));

/* archive.c, procinfo.c, health.c (see docs/agent-link.md) */
#include "modules.h"

#endif
