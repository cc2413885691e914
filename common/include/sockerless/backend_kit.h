/* The backend kit: the plumbing every cloud backend needs around its
 * translation of Docker operations (docs/writing-a-backend.md). The async
 * op, "start completes when running", the poller skeleton, the agent
 * capability set, tag keys, info() labels, "K=V" env splitting, memory and
 * CPU rounding, the orphan policy key, durable JSON journals and output
 * kept in the container's state. Provider-neutral: a provider's own
 * pieces (sessions, tags, log groups) live with its cloud code. */
#ifndef SOCKERLESS_BACKEND_KIT_H
#define SOCKERLESS_BACKEND_KIT_H

#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>
#include <event2/event.h>

#include "sockerless/backend.h"
#include "sockerless/buf.h"
#include "sockerless/config.h"

/* Tags (labels) every backend puts on its cloud resources, so that a
 * restart finds them and tells this instance's from another's. */
#define KIT_TAG_ID	 "sockerless:container-id"
#define KIT_TAG_NAME	 "sockerless:container-name"
#define KIT_TAG_INSTANCE "sockerless:instance"

/* --- the backend's declaration ------------------------------------------- */

/* The translation of Docker's container operations, named by the file
 * that holds them: KIT_CONTAINER_OPS_DECL(ecs_task) declares
 * ecs_task_create, _start, _stop, _kill and _remove (struct backend_ops). */
#define KIT_CONTAINER_OPS_DECL(p)                                            \
	void p##_create(struct backend *b, struct container *c,              \
	    backend_done_fn done, void *arg);                                \
	void p##_start(struct backend *b, struct container *c,               \
	    backend_done_fn done, void *arg);                                \
	void p##_stop(struct backend *b, struct container *c, int timeout_s, \
	    backend_done_fn done, void *arg);                                \
	void p##_kill(struct backend *b, struct container *c, int signo,     \
	    backend_done_fn done, void *arg);                                \
	void p##_remove(struct backend *b, struct container *c,              \
	    backend_done_fn done, void *arg)

/* A backend's operation table and main(), from its names: in the file of
 * be (ecs.c) be##_keys (its own config keys) filling be##_conf,
 * be##_fragments (the key fragments), be##_capabilities, _init,
 * _reconcile, _info and _shutdown; the container operations ctr##_create
 * ... (KIT_CONTAINER_OPS_DECL); then the optional operations
 * (.logs_fetch = ..., .agent_address = ...). */
#define KIT_BACKEND(be, desc, ctr, ...)                                   \
	static const struct backend_ops be##_ops = { .name = #be,         \
		.description = desc,                                      \
		.config_keys = be##_keys,                                 \
		.config_nkeys = sizeof(be##_keys) / sizeof(be##_keys[0]), \
		.config = &be##_conf,                                     \
		.config_fragments = be##_fragments,                       \
		.config_nfragments =                                      \
		    sizeof(be##_fragments) / sizeof(be##_fragments[0]),   \
		.capabilities = be##_capabilities,                        \
		.init = be##_init,                                        \
		.reconcile = be##_reconcile,                              \
		.info = be##_info,                                        \
		.create = ctr##_create,                                   \
		.start = ctr##_start,                                     \
		.stop = ctr##_stop,                                       \
		.kill = ctr##_kill,                                       \
		.remove = ctr##_remove,                                   \
		.shutdown = be##_shutdown,                                \
		__VA_ARGS__ };                                            \
	int main(int argc, char **argv)                                   \
	{                                                                 \
		return backend_main(argc, argv, &be##_ops);               \
	}

/* --- the async op -------------------------------------------------------- */

/* One asynchronous operation on a container: the framework's done/arg, the
 * container (referenced until the end) and the backend. A backend embeds
 * it first in a larger struct when it needs more (kit_op_new's size). */
struct kit_op {
	struct backend *b;
	struct container *c;
	backend_done_fn done;
	void *arg;
	void (*cleanup)(struct kit_op *); /* before done, optional */
	struct event *timer;		  /* kit_op_later's; freed at the end */
	void (*later)(struct kit_op *);
};

/* size >= sizeof(struct kit_op); the op is zeroed past the kit's part. */
void *kit_op_new(size_t size, struct backend *b, struct container *c,
    backend_done_fn done, void *arg);
/* Reports the result (e NULL: success) and frees op. */
void kit_op_end(struct kit_op *op, const struct err *e);
/* Ends op with e, wrapped with what ("starting the task"). */
void kit_op_fail(struct kit_op *op, const struct err *e, const char *what);
/* Calls fn(op) after ms on the op's own timer (re-armed on each call). */
void kit_op_later(struct kit_op *op, int ms, void (*fn)(struct kit_op *));

/* --- stop through the agent ---------------------------------------------- */

/* The backend's hard stop: ends the workload outright (Cloud Run's
 * executions.cancel), as its kill op does. */
typedef void (*kit_hard_stop_fn)(struct backend *b, struct container *c,
    int signo, backend_done_fn done, void *arg);
/* dockerd's graceful stop for a backend whose cloud can only end the
 * workload outright (its ops->stop calls this): c->stop_signo through the
 * agent, then after timeout_s (-1: no limit) KILL through the agent if
 * the workload still runs (exit 137, as dockerd); hard at once, with a
 * log line saying why, when the agent cannot be reached. done is called
 * once the workload exited or the kill (or hard) was delivered; the
 * framework then waits for the exit. */
void kit_stop_through_agent(struct backend *b, struct container *c,
    int timeout_s, kit_hard_stop_fn hard, backend_done_fn done, void *arg);

/* --- start completes when running ---------------------------------------- */

/* Docker's start returns once the process runs. A backend whose cloud
 * answers "accepted" parks the start's op in the container; its poller
 * settles it when the workload runs (NULL) or failed to start. */
void kit_start_park(struct kit_op *op);
int kit_start_pending(const struct container *c);
void kit_start_settle(struct container *c, const struct err *e);
/* backend_ops.agent_hello for a reverse-mode backend (kit_runs.c): the
 * agent calling back proves that the workload runs, so a parked start
 * answers now, and the run is reported started (kit_run_started). */
void kit_start_hello(struct backend *b, struct container *c);

/* --- the poller skeleton ------------------------------------------------- */

/* One poller per backend: each tick collects the workload ids of the
 * containers that run or start (id() returns NULL to skip one) into
 * batches of at most batch ids, and describe() sends each batch; its
 * answer calls kit_poller_batch_done. Failed ticks back off (doubling from
 * twice the interval up to max_backoff_ms). While a start is parked
 * (kit_start_park), ticks of only the starting workloads come every
 * KIT_POLL_START_MS between the full ones: a start answers once the cloud
 * says the workload runs, and a full interval of waiting for that would
 * be most of a short run's cost. */
#define KIT_POLL_START_MS 100
struct kit_poller {
	struct backend *b;
	long long interval_ms, max_backoff_ms;
	int batch;
	const char *(*id)(struct container *c);
	void (*describe)(struct kit_poller *p, cJSON *ids); /* takes ids */
	/* state */
	struct event *timer;
	long long backoff_ms;
	int64_t next_full_ns; /* when the next tick visits every workload */
	int inflight, pending, errors, starting;
};

void kit_poller_start(struct kit_poller *p, struct backend *b);
void kit_poller_batch_done(struct kit_poller *p, int failed);
/* A workload was just started or stopped: look sooner than the next tick
 * (not while a tick is in flight or the poller backs off). */
void kit_poller_kick(struct kit_poller *p);
void kit_poller_stop(struct kit_poller *p);
/* The back-off after a tick: 0 after a good one. Pure. */
long long kit_backoff_next(
    long long cur, long long interval_ms, long long max_ms, int failed);

/* Start-up passes: pass(b, n) for n = 0, 1, ... returns the seconds until
 * the next pass, or -1 when done (a cloud call cut short by a restart may
 * still land: recovery looks again for a while). */
struct kit_passes {
	struct backend *b;
	int (*pass)(struct backend *b, int n);
	struct event *timer;
	int n;
};
void kit_passes_start(struct kit_passes *p, struct backend *b);
void kit_passes_stop(struct kit_passes *p);

/* --- capabilities, info, configuration ----------------------------------- */

/* Logs only (what every backend serves) ... */
void kit_caps_base(struct caps *c);
/* ... and what sockerless-agent serves in the workload
 * (docs/agent-link.md). */
void kit_caps_agent(struct caps *c);

/* GET /info: OperatingSystem, Name and the Labels "sockerless.backend=
 * <name>" then "sockerless.<k>=<v>" for each pair, ended by a
 * (const char *)NULL. */
void kit_info(struct backend *b, cJSON *info, const char *os, const char *name,
    ...) __attribute__((sentinel));

/* The orphan policy: what to do with cloud workloads of this instance
 * the state does not know. A fragment (keys "orphans"). */
struct kit_orphans {
	char *orphans; /* "report" or "stop" */
};
#define KIT_ORPHANS_NKEYS 1
extern const struct config_key kit_orphans_keys[KIT_ORPHANS_NKEYS];
int kit_orphans_stop(const struct kit_orphans *o);

/* Key fragments (struct backend_ops.config_fragments) have names without
 * the backend's prefix: a copy with "<prefix>." in front, names owned by
 * the copy (kit_conf_unprefix frees it). */
struct config_key *kit_conf_prefix(
    const struct config_key *keys, size_t n, const char *prefix);
void kit_conf_unprefix(struct config_key *keys, size_t n);

/* --- pure helpers --------------------------------------------------------- */

/* Calls fn(arg, name, value) for each "K=V" string of kvs (others are
 * skipped); stops at and returns fn's -1. */
int kit_env_each(const cJSON *kvs,
    int (*fn)(void *arg, const char *name, const char *value), void *arg);
/* Bytes to MiB, rounded up; CPUs in nanos to 1024ths of a CPU, up. */
long long kit_mib_ceil(long long bytes);
long long kit_cpu_units(long long nano_cpus);
long long kit_clamp(long long v, long long lo, long long hi);
/* HostConfig.Memory in MiB for a cloud that sizes by MiB: dflt when the
 * container sets none, else rounded up and at least min; above max a 400
 * "<what> have at most <max> MiB of memory; <n> MiB was asked for". */
int kit_memory_mib(const cJSON *hc, long long dflt, long long min,
    long long max, const char *what, long long *mib, struct err *e);
/* A 400 for --cap-add, --cap-drop and --ulimit on a cloud whose sandbox
 * cannot change them: "<option> cannot be honoured by the <be> backend:
 * <sandbox> whose <what> cannot be changed. Run the container without
 * <flag>." (sandbox: "Lambda runs every function in a fixed sandbox"). */
int kit_fixed_sandbox(
    const cJSON *hc, const char *be, const char *sandbox, struct err *e);
/* The Linux options a cloud's jobs have no setting for, refused rather
 * than dropped: kit_fixed_sandbox's, then --read-only ("<jobs> have no
 * such setting") and --network none ("every <unit> has a network, which
 * the sockerless agent's link uses"), each a 400 naming be. */
struct kit_job_sandbox {
	const char *be;	     /* "cloudrun" */
	const char *sandbox; /* "Cloud Run jobs run every task in a sandbox" */
	const char *jobs;    /* "Cloud Run jobs" */
	const char *unit;    /* "Cloud Run task" */
};
int kit_job_sandbox(
    const cJSON *hc, const struct kit_job_sandbox *sb, struct err *e);
/* The first n (< 65) hex digits of text's SHA-256 into hex[n + 1]: names
 * that stay the same for the same input (definitions, derived images). */
void kit_hash(const char *text, char *hex, size_t n);

/* Logs of a container that ran several times (one log stream a run) use
 * cursors "<run>|<the stream's own token>": the run before bar ('|' in
 * cursor); -1 when it is not one of the nruns runs (or, with none, 0). */
int kit_cursor_run(const char *cursor, const char *bar, int nruns);
/* The ports the workload listens on: ExposedPorts, then PortBindings,
 * then agent_port/tcp when not 0 (the agent's link, forward mode), each
 * once and well-formed: fn(arg, number, "tcp" or "udp"). */
void kit_ports_each(const struct container *c, int agent_port,
    void (*fn)(void *arg, int port, const char *proto), void *arg);
/* Forward mode (docs/agent-link.md): the agent listens at ip:port of a
 * workload that runs or starts; 0 with host and *portp filled, -1 when
 * it has no address (yet). */
int kit_agent_address(const struct container *c, const char *ip, int port,
    char *host, size_t hostsz, int *portp);
/* A start that failed before the workload ran, for the reason the cloud
 * gives: 500 or 400 so that Docker's CLI exits 125, 126 or 127. */
void kit_start_failed(struct err *e, const char *what, const char *why);
/* Docker's exit code for a workload that never ran, from the cloud's
 * reason: 127 when the command was not found, 126 when it could not be
 * run, 125 when the engine (here: the cloud) failed. */
int kit_start_failure_code(const char *reason);
/* The agent's stream marks in a log service that merges stdout and
 * stderr (docs/agent-link.md, "The wrapper"): "stderr| " is stderr,
 * "stdout| " a stdout line that looked like a mark, "stderr+ " and
 * "stdout+ " a piece without its newline (ev->partial); others stay as
 * are. */
void kit_logs_unmark(struct backend_log_event *ev);
/* A TTY's output in a log service that splits at "\n" and keeps the rest
 * (awslogs, Cloud Logging, Log Analytics): the terminal wrote each newline
 * as "\r\n", so an event that ends in "\r" ended a line and any other is a
 * piece without its newline (ev->partial: the final output of
 * `printf abc`, or a long line the runtime split). A program that put its
 * terminal in raw mode loses its newlines here. */
void kit_logs_tty(struct backend_log_event *ev);

/* --- durable JSON journals ------------------------------------------------ */

/* A JSON object kept in one kv entry (registrations in flight, waits):
 * load returns a new object (empty when absent); put takes value and sets
 * member name, or with NULL deletes it, durably. */
cJSON *kit_journal_load(struct backend *b, const char *key);
void kit_journal_put(
    struct backend *b, const char *key, const char *name, cJSON *value);
int kit_journal_has(struct backend *b, const char *key, const char *name);

struct container *kit_container_by_id(struct backend *b, const char *id);

/* The static sockerless-agent at path as a one-file image layer at
 * dest (mode 0755), for images derived with the agent in them. A missing
 * file is a 500 naming key ("lambda.agent_path") and what to do (hint). */
struct reg_layer;
int kit_agent_layer(const char *path, const char *dest, struct reg_layer *l,
    const char *key, const char *hint, struct err *e);

/* --- output kept in the container's state -------------------------------- */

/* For clouds that hand the whole output over at once (a function's
 * answer): lines [[stream, ts_us, "line"(, 1: no newline follows)], ...]
 * in private key KIT_OUTPUT, served by kit_logs_kept (a backend's
 * logs_fetch). kit_lines_flush keeps a stream's last piece without its
 * newline. */
#define KIT_OUTPUT "Output"
struct kit_lines {
	cJSON *out;
	struct buf part[3]; /* partial line of stdout (1), stderr (2) */
	int64_t part_us[3];
};
void kit_lines_init(struct kit_lines *l);
void kit_lines_emit(
    struct kit_lines *l, int s, int64_t us, const char *p, size_t n);
/* Chunks of stream s: complete lines are emitted, the rest waits. */
void kit_lines_add(
    struct kit_lines *l, int s, int64_t us, const char *p, size_t n);
void kit_lines_flush(struct kit_lines *l);
/* A note from sockerless itself, on stderr. */
void kit_lines_note(struct kit_lines *l, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Stores the lines in c's state (l->out taken) and frees l. */
void kit_lines_keep(
    struct kit_lines *l, struct backend *b, struct container *c);
void kit_logs_kept(struct backend *b, struct container *c, const char *cursor,
    int64_t since_ns, backend_logs_fn fn, void *arg);

/* --- how many containers use each shared cloud resource ----------------- */

/* The containers naming each value of private key p_key (a task
 * definition's ARN, a job's name), for "is it still used?" at each
 * removal without a walk over every container (kit_uses.c). Counted from
 * the containers at the first question (after a restart: the loaded
 * ones), then kept: kit_uses_set is the one writer of p_key, and a
 * container leaves through the backend's remove, which calls
 * kit_uses_release (a failed create never named a value). */
struct kit_use;
struct kit_uses {
	const char *p_key; /* "TaskDefinitionArn", "Job" */
	/* state: sorted by value */
	struct kit_use *v;
	size_t n, cap;
	int counted;
};
/* c names val from now on, instead of what it named (if anything);
 * written to c's private state (the caller saves c). */
void kit_uses_set(struct kit_uses *u, struct container *c, const char *val);
/* c is being removed: what it names has one user less. */
void kit_uses_release(
    struct kit_uses *u, struct backend *b, const struct container *c);
/* How many containers name val; whether any does. */
size_t kit_uses_count_of(
    struct kit_uses *u, struct backend *b, const char *val);
int kit_uses_used(struct kit_uses *u, struct backend *b, const char *val);
/* Forgets the counts (shutdown): the next question counts again. */
void kit_uses_free(struct kit_uses *u);

/* --- jobs shared by identical configurations ----------------------------- */

/* A backend whose workloads run from shared cloud jobs (Cloud Run jobs,
 * Container Apps jobs): the containers name their job in private key
 * p_job; a job is in the reuse table (kv kv_job + name) while it exists;
 * jobs no container uses any more wait out idle_s in the journal kv_idle
 * (so that a restart deletes them on time too), in case an identical
 * container comes and reuses the job, then del() deletes it and calls
 * kit_idle_deleted. */
struct kit_make;
struct kit_idle {
	const char *kv_job;  /* "cloudrun.job." */
	const char *kv_idle; /* "cloudrun.job_idle" */
	const char *p_job;   /* "Job" */
	long long idle_s;    /* 0: deleted once unused */
	void (*del)(struct kit_idle *i, const char *job);
	/* state */
	struct backend *b;
	struct event *timer;
	struct kit_make *making; /* the creates in flight */
	struct kit_uses uses;	 /* the containers naming each job */
};
/* Whether a container names job. */
int kit_idle_used(struct kit_idle *i, const char *job);
/* c is being removed (the backend's remove): its job has one user less,
 * and waits out idle_s once it has none. */
void kit_idle_release(
    struct kit_idle *i, struct backend *b, struct container *c);
/* job is unused from now on (deleted at once with idle_s 0). */
void kit_idle_add(struct kit_idle *i, const char *job);
/* job is used again. */
void kit_idle_take(struct kit_idle *i, const char *job);
/* Whether job is known: in the reuse table, used, or waiting. */
int kit_idle_known(struct kit_idle *i, const char *job);
/* The reuse table's entry for job (made: 1, gone: 0). */
void kit_idle_made(struct kit_idle *i, const char *job, int made);
int kit_idle_exists(struct kit_idle *i, const char *job);
/* del()'s answer: gone (or never there) drops the journal entry; else
 * the next round tries again. */
void kit_idle_deleted(struct kit_idle *i, const char *job, int gone);
/* Start-up: the rounds (every min(idle_s, 60) s) begin. */
void kit_idle_resume(struct kit_idle *i, struct backend *b);
/* Frees the creates in flight too (their calls were cancelled with the
 * session; the framework's shutdown ends their ops). */
void kit_idle_free(struct kit_idle *i);

/* A create's job for op's container: an existing job of that name (an
 * identical configuration) is reused, and a create of it in flight is
 * joined, and both end op (NULL returned); else the job is taken and the
 * returned record is what the caller starts the cloud's create with (as
 * the call's argument) and ends with kit_make_end. */
struct kit_make *kit_idle_get(
    struct kit_idle *i, const char *job, struct kit_op *op);
const char *kit_make_job(const struct kit_make *m);
/* The create's answer (e NULL: the job exists): every op waiting on it
 * ends, naming the job in its container's p_job on success; m is freed. */
void kit_make_end(struct kit_make *m, const struct err *e);

/* --- runs: one container, several cloud executions ----------------------- */

/* A container's runs in its private state: KIT_P_RUNS [{Name, Created}],
 * the current one in KIT_P_EXEC, KIT_P_STARTED once reported started. */
#define KIT_P_RUNS     "Runs"
#define KIT_P_RUN_NAME "Name"
#define KIT_P_RUN_AT   "Created"
#define KIT_P_EXEC     "Execution"
#define KIT_P_STARTED  "Started"
/* A start whose answer is due: when it was asked (a journal: a restart
 * before the answer finds the execution it made). */
#define KIT_P_STARTING "Starting"
/* Records execution name as the container's new run (priv: its private
 * object). */
void kit_run_use(cJSON *priv, const char *name);
/* The run logs start from: the last one created before since_ns. */
int kit_run_first(const cJSON *runs, int64_t since_ns);
/* The cloud answered the start with the run (recorded): parked until the
 * workload runs (kit_start_park), and the poller kicked; answered now
 * when the run's agent already called back (its hello came before the
 * cloud's answer and found no start to answer: kit_start_hello). */
void kit_run_park(struct kit_op *op, struct kit_poller *p);
/* The current run of a running c runs from at_ns (<= 0: now): reported
 * started once, the private key marking that it was. */
void kit_started_once(
    struct backend *b, struct container *c, const char *key, int64_t at_ns);
/* kit_started_once with KIT_P_STARTED. */
void kit_run_started(struct backend *b, struct container *c, int64_t at_ns);
/* Whether a cloud container's env [{name, value}] runs container id
 * (SOCKERLESS_CONTAINER_ID). */
int kit_run_env_is(const cJSON *env, const char *id);

/* The backend's runs (kit_runs.c). */
struct kit_runs_find;
struct kit_runs {
	const char *cloud; /* "Cloud Run": in messages */
	struct kit_poller *poller;
	struct kit_idle *idle; /* its p_job names a container's job */
	const struct kit_orphans *orphans;
	/* Records exec as priv's new run: kit_run_use, and what the backend
	 * clears with it. */
	void (*use)(cJSON *priv, const char *exec);
	/* Lists job's executions and ends with kit_runs_found: the one that
	 * runs container kit_runs_find_id(f) made since
	 * kit_runs_find_since(f), else NULL; or the cloud's error message.
	 * f is the backend's now: its list call owns it (arg_free
	 * kit_runs_find_free), so that a backend stopped with the list in
	 * flight frees it too. */
	void (*list_runs)(struct kit_runs_find *f, const char *job);
};
/* The poller found the execution gone (deleted by someone else). */
void kit_run_missing(
    const struct kit_runs *r, struct backend *b, const char *exec);
/* Start-up: the starts a restart cut short are adopted by the execution
 * they made, or stay created. */
void kit_runs_intents(struct kit_runs *r, struct backend *b);
const char *kit_runs_find_id(const struct kit_runs_find *f);
int64_t kit_runs_find_since(const struct kit_runs_find *f);
/* Does not free f (see list_runs). */
void kit_runs_found(
    struct kit_runs_find *f, const char *exec, const char *fail);
/* Frees a struct kit_runs_find (void * for an owned call's arg_free). */
void kit_runs_find_free(void *f);
/* A job of this instance that a reconciliation listed: reported, and
 * deleted (after the idle wait) with orphans "stop", unless known. */
void kit_runs_orphan(const struct kit_runs *r, const char *job);

/* --- run logs: a container's output, read run by run --------------------- */

/* A fetch in flight (common/backend/kit_runlogs.c): cursors
 * "<run>|<ms>|<the reader's own cursor>", ms the time of the last read
 * that reached the end; while the container runs a follower reads again
 * only poll_ms after such a read. */
struct kit_runlogs;
struct kit_runlogs_src {
	const char *name; /* "aca": in the bad-cursor message */
	long long poll_ms;
	/* Reads the run's output from rcur (NULL or "" for the start, then
	 * since_ns) and ends with kit_runlogs_got(op, ...); -1 (op not
	 * taken) when run names nothing it can read: no output yet. */
	int (*read)(struct kit_runlogs *op, const char *run, const char *rcur,
	    int64_t since_ns);
};
/* The backend's logs_fetch for such a container. */
void kit_runlogs_fetch(const struct kit_runlogs_src *src, struct container *c,
    const char *cursor, int64_t since_ns, backend_logs_fn fn, void *arg);
/* The reader's answer: n events (zeroed, op keeps them) to fill with
 * ts_ns, stream, msg, len (borrowed until kit_runlogs_got), then the
 * reader's next cursor and whether more is there, or the error e (n 0).
 * Undoes the agent's marks unless Tty; frees op. */
struct backend_log_event *kit_runlogs_events(struct kit_runlogs *op, size_t n);
/* The container being read: valid in the read call only (not after it
 * returned, when the container may be gone). */
struct container *kit_runlogs_container(const struct kit_runlogs *op);
void kit_runlogs_got(struct kit_runlogs *op, size_t n, const char *rcur,
    int more, const struct err *e);

#endif
