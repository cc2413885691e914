/* The backend framework: everything about Docker's semantics that does not
 * depend on the cloud (names, labels, filters, the container state machine,
 * waits, logs and attach streaming, events, images) lives here once. A
 * backend fills a struct backend_ops with the mapping of a few operations
 * onto its cloud; a NULL operation answers 501 through the shared path. */
#ifndef SOCKERLESS_BACKEND_H
#define SOCKERLESS_BACKEND_H

#include <stddef.h>
#include <stdint.h>
#include <sys/queue.h>

#include <cjson/cJSON.h>
#include <event2/event.h>

#include "sockerless/caps.h"
#include "sockerless/err.h"
#include "sockerless/stdstream.h"

struct backend;
struct config_key;
struct config_set;
struct httpcli;
struct reg_client;

#define BACKEND_VERSION "0.1.0"

/* A container as the framework holds it: all containers stay in memory and
 * every change is written through to the store. doc is Docker's inspect
 * shape plus a private "Sockerless" object the backend may use. */
struct container_ps;

struct container {
	TAILQ_ENTRY(container) entry;
	int refs; /* container_ref/unref; freed at 0 once gone */
	int gone; /* removed: still valid memory, no longer listed */
	char id[65];
	/* The document (Docker's inspect shape and the private object):
	 * read it through container_doc(c), never here. NULL while the
	 * container is cold: the tree of an idle container is dropped (the
	 * store holds its text) and parsed again at its next read
	 * (backend_ctr_sweep, docs/scale.md). */
	cJSON *tree;
	struct store *store;  /* where a cold document is read from */
	char *cold_name;      /* the name (no '/') while cold */
	char cold_status[12]; /* State.Status while cold */
	char *cold_facts;     /* what walks read while cold (container.c) */
	uint64_t tree_sum;    /* hash of the text the store holds */
	int tree_used;	      /* read since the last sweep */
	/* The cached /containers/json entry (container.c): NULL until the
	 * first list after a change. Runtime only: container_touch drops it
	 * whenever the document changes. */
	struct container_ps *ps;
	void *backend_data; /* runtime-only state of the backend */
	void (*backend_data_free)(void *);
	struct backend_waiters *waiters; /* framework-private */
	int stopping;			 /* a stop is in flight */
	/* The signal of the stop in flight: ?signal= (docker stop -s), else
	 * StopSignal, else TERM; runtime only. */
	int stop_signo;
	struct backend_agent *agent; /* framework-private */
	/* Frees agent: set with it, so that container.c, below the agent
	 * code, does not call up into it. */
	void (*agent_free)(struct container *c);
	/* Whether agent is idle (no link, no relay): set with it, for the
	 * same reason. */
	int (*agent_idle)(const struct container *c);
};

/* Completion of an asynchronous backend operation: e is NULL on success. */
typedef void (*backend_done_fn)(void *arg, const struct err *e);

/* A Docker volume as the framework holds it (docs/volumes.md): framework
 * state in SQLite; a backend realises it on its cloud's file system (ECS:
 * an EFS access point). Named, anonymous and shared-path volumes (the
 * hidden volume a bind under `shared_paths` becomes) are all volumes. */
struct volume {
	TAILQ_ENTRY(volume) entry;
	char name[256];
	cJSON *doc; /* Docker's volume inspect shape + framework keys */
};

/* What a container mounts, as the backend must realise it at start. */
enum backend_mount_kind {
	BACKEND_MOUNT_VOLUME, /* a named, anonymous or shared-path volume */
	BACKEND_MOUNT_TMPFS,  /* task-scoped scratch storage (--tmpfs) */
	BACKEND_MOUNT_DOCKER_SOCK, /* the agent serves the Docker API there */
};
/* At most this many mounts per container (more is a 400 at create), so a
 * backend_container_mounts array of this size always holds them all. */
#define BACKEND_MOUNTS_MAX 64

struct backend_mount {
	enum backend_mount_kind kind;
	const char *target; /* absolute path in the container */
	int readonly;
	int nocopy;	      /* VOLUME: no copy-up of the image's files */
	struct volume *vol;   /* VOLUME */
	long long tmpfs_size; /* TMPFS: bytes, 0 = no bound given */
	int tmpfs_mode;	      /* TMPFS: 0 = 01777 */
};

/* A Docker network as the framework holds it (docs/networks.md): framework
 * state, persisted in SQLite. doc is Docker's network inspect shape without
 * Containers (the framework derives them from the containers' endpoints)
 * plus a private "Sockerless" object the backend may use. */
struct network {
	TAILQ_ENTRY(network) entry;
	char id[65];
	cJSON *doc;
};

/* How members of a user-defined network reach each other: DIRECT (each
 * other's addresses; the cloud admits it) or RELAY (through the agent
 * links). */
enum backend_reach { BACKEND_REACH_DIRECT = 0, BACKEND_REACH_RELAY = 1 };

struct backend_log_event {
	int64_t ts_ns;
	enum stdstream_kind stream; /* STDOUT or STDERR */
	const char *msg;	    /* one line without its newline */
	size_t len;
	/* No newline follows: a piece of a longer line, or output that
	 * ended without one (docker logs adds none either). */
	int partial;
};

/* A batch of log events in time order. cursor is where the next fetch
 * continues (borrowed; copy it); at_end says no more events are available
 * right now. */
typedef void (*backend_logs_fn)(void *arg, const struct backend_log_event *ev,
    size_t n, const char *cursor, int at_end, const struct err *e);

struct backend_ops {
	const char *name;	 /* "ecs" */
	const char *description; /* "AWS ECS Fargate" */
	/* The backend's own configuration keys and the struct they fill. */
	const struct config_key *config_keys;
	size_t config_nkeys;
	void *config;
	/* Key fragments shared with other backends (a provider's, the
	 * kit's), each filling its own struct: their key names come without
	 * the "<name>." prefix, which the framework adds. */
	const struct config_set *config_fragments;
	size_t config_nfragments;

	void (*capabilities)(struct backend *b, struct caps *c);
	/* Start-up checks after configuration (may block briefly). */
	int (*init)(struct backend *b, struct err *e);
	/* Once the store is loaded and the loop runs: re-adopt what runs. */
	void (*reconcile)(struct backend *b);
	/* Adds backend fields to GET /info (Name, OperatingSystem, ...). */
	void (*info)(struct backend *b, cJSON *info);

	/* Container operations. Each calls done exactly once, with the
	 * error when it fails (there is no other result). */
	void (*create)(struct backend *b, struct container *c,
	    backend_done_fn done, void *arg);
	void (*start)(struct backend *b, struct container *c,
	    backend_done_fn done, void *arg);
	/* Graceful stop: the stop signal, then kill after timeout_s. The
	 * framework waits for backend_container_exited before answering. */
	void (*stop)(struct backend *b, struct container *c, int timeout_s,
	    backend_done_fn done, void *arg);
	void (*kill)(struct backend *b, struct container *c, int signo,
	    backend_done_fn done, void *arg);
	/* Releases the container's cloud resources; it is not running. */
	void (*remove)(struct backend *b, struct container *c,
	    backend_done_fn done, void *arg);
	/* Log events after cursor; a NULL cursor starts at since_ns (0: the
	 * container's first output). Events before since_ns may be skipped.
	 * Calls fn, with e when the output cannot be read. */
	void (*logs_fetch)(struct backend *b, struct container *c,
	    const char *cursor, int64_t since_ns, backend_logs_fn fn,
	    void *arg);

	/* Where the container's sockerless-agent listens (forward mode,
	 * docs/agent-link.md): 0 with host/port once the workload has an
	 * address, -1 when it has none (not running). NULL: the backend runs
	 * no agent, and the agent-served operations answer 501. */
	int (*agent_address)(struct backend *b, struct container *c, char *host,
	    size_t hostsz, int *port);
	/* Reverse mode instead (Cloud Run jobs, Container Apps jobs: the
	 * workload takes no inbound connection): the agent calls back on the
	 * framework's listener (keys agent_callback_listen and
	 * agent_callback_url); backend_agent_run_env gives the workload
	 * SOCKERLESS_AGENT_CALLBACK and the token, and the container's link
	 * waits for the agent from the start on. agent_address stays NULL. */
	int agent_reverse;
	/* A run's agent linked for the first time: its workload runs. A cloud
	 * that reports "running" only on its next poll settles a parked start
	 * here (kit_start_hello); NULL: the poller settles it. */
	void (*agent_hello)(struct backend *b, struct container *c);

	void (*shutdown)(struct backend *b);

	/* Networks (all optional; a NULL means "nothing to make"). */
	/* How members of a user-defined network reach each other: DIRECT
	 * (each other's addresses; the cloud admits it, ECS awsvpc + a group
	 * per network) or RELAY (through the agent links). */
	enum backend_reach reach;
	/* The cloud's isolation resource for a user-defined network (ECS: a
	 * security group), made when the network is created and removed
	 * with it; keep its ids in network_private(n). A failed net_create
	 * must leave nothing behind. */
	void (*net_create)(struct backend *b, struct network *n,
	    backend_done_fn done, void *arg);
	void (*net_remove)(struct backend *b, struct network *n,
	    backend_done_fn done, void *arg);
	/* Joining/leaving a network while c runs. NULL: the framework
	 * refuses connect/disconnect of a RUNNING container with a 501
	 * sentence naming the backend (a created or stopped container
	 * connects freely; its networks are realised at its next start). */
	void (*net_connect)(struct backend *b, struct container *c,
	    struct network *n, backend_done_fn done, void *arg);
	void (*net_disconnect)(struct backend *b, struct container *c,
	    struct network *n, backend_done_fn done, void *arg);

	/* Volumes (optional; NULL: nothing to make). vol_create realises v
	 * on the cloud and keeps its ids in volume_private(v); a failed
	 * vol_create leaves nothing behind. vol_remove releases them. Both
	 * are called for named, anonymous and shared-path volumes. */
	void (*vol_create)(struct backend *b, struct volume *v,
	    backend_done_fn done, void *arg);
	void (*vol_remove)(struct backend *b, struct volume *v,
	    backend_done_fn done, void *arg);
};

/* The entry point: every backend's main() is `return backend_main(argc,
 * argv, &ops);`. */
int backend_main(int argc, char **argv, const struct backend_ops *ops);
/* backend_main in steps, so a test can run the framework on its own loop
 * (backend_base): backend_new loads the configuration and the store and
 * runs ops->init (NULL with *exit_code when the process should exit);
 * backend_start listens, finishes what a restart interrupted and runs
 * ops->reconcile; backend_free ends it all (ops->shutdown first). */
struct backend *backend_new(
    const struct backend_ops *ops, int argc, char **argv, int *exit_code);
void backend_start(struct backend *b);
void backend_free(struct backend *b);

/* Services for backends. */
struct event_base *backend_base(struct backend *b);
struct httpcli *backend_httpcli(struct backend *b);
/* The registry client, e.g. to add a cloud's credentials hook. */
struct reg_client *backend_registry(struct backend *b);
const char *backend_instance(struct backend *b);
const struct backend_ops *backend_ops(struct backend *b);
/* c's whole document, parsed again first if it was dropped: valid within
 * the current event-loop callback, or while a reference (container_ref)
 * is held. */
cJSON *container_doc(const struct container *c);
/* State.Status, read without parsing a dropped document. */
const char *container_status(const struct container *c);
/* A private string value, a private key's presence, a volume the
 * container mounts, its image id: read without parsing a dropped
 * document (for the walks over every container). */
const char *container_private_str(const struct container *c, const char *key);
int container_private_has(const struct container *c, const char *key);
int container_mounts_volume(const struct container *c, const char *name);
const char *container_image_id(const struct container *c);
/* The merged Docker view, read-only. */
const cJSON *container_config(const struct container *c);
const cJSON *container_host_config(const struct container *c);
const char *container_name(const struct container *c);	/* no '/' */
const char *container_image(const struct container *c); /* as given */
/* The resolved image reference the workload should run (pinned by
 * digest when known). */
const char *container_image_ref(const struct container *c);
int container_running(const struct container *c);
/* The backend's persisted private object (created on first use). Call
 * backend_container_save after changing it. */
cJSON *container_private(struct container *c);
void backend_container_save(struct backend *b, struct container *c);
/* Marks c's document changed: drops what is derived from it (the cached
 * list entry). backend_container_save does it; call it directly after a
 * change that is not saved in the same event-loop callback. */
void container_touch(struct container *c);
void container_ref(struct container *c);
void container_unref(struct container *c);
/* Calls fn for every live container. */
void backend_container_foreach(struct backend *b,
    void (*fn)(struct backend *b, struct container *c, void *arg), void *arg);
/* Calls fn for every container that runs or has an operation in flight
 * (what a poller of the cloud cares about; cheap with many containers in
 * the state). fn may end operations but must not remove containers. */
void backend_container_foreach_active(struct backend *b,
    void (*fn)(struct backend *b, struct container *c, void *arg), void *arg);
/* Finds a live container by the value of a private key. */
struct container *backend_container_by_private(
    struct backend *b, const char *key, const char *value);

/* Small persistent facts of the backend (caches, cursors). The value
 * returned is owned by the caller; NULL when absent. */
char *backend_kv_get(struct backend *b, const char *key);
void backend_kv_set(struct backend *b, const char *key, const char *value);
void backend_kv_del(struct backend *b, const char *key);
/* Every key starting with prefix and its value, appended to keys and vals
 * (initialised by the caller). */
struct strv;
void backend_kv_list(struct backend *b, const char *prefix, struct strv *keys,
    struct strv *vals);

/* Networks (common/backend/backend_net.c). */
const char *network_name(const struct network *n);
int network_internal(const struct network *n);
/* The persisted private object (created on first use); then call
 * backend_network_save. */
cJSON *network_private(struct network *n);
void backend_network_save(struct backend *b, struct network *n);
/* The networks c is attached to that a backend realises: its user-defined
 * networks and the default bridge (whose members reach each other, as
 * dockerd's inter-container communication), not host/none; by name;
 * returns how many were written (at most max). The backend realises them
 * at start (ECS: their groups). */
size_t backend_container_networks(
    struct backend *b, struct container *c, struct network **out, size_t max);
/* A network by its full id, or NULL (e.g. removed meanwhile). */
struct network *backend_network_by_id(struct backend *b, const char *id);

/* Volumes (common/backend/backend_vol*.c). */
const char *volume_name(const struct volume *v);
/* The file-system path a shared-path volume is rooted at ("/shared/w/x":
 * the `shared_paths` mapping of a bind's host path), NULL for a Docker
 * volume (the backend picks its root). */
const char *volume_shared_path(const struct volume *v);
const cJSON *volume_labels(const struct volume *v); /* may be NULL */
/* The persisted private object (created on first use); then call
 * backend_volume_save. */
cJSON *volume_private(struct volume *v);
void backend_volume_save(struct backend *b, struct volume *v);
struct volume *backend_volume_by_name(struct backend *b, const char *name);
/* c's mounts in HostConfig order, what the backend realises at create and
 * start; returns how many were written (at most max). The pointers stay
 * valid while c and its volumes live. */
size_t backend_container_mounts(struct backend *b, struct container *c,
    struct backend_mount *out, size_t max);

/* The agent (common/backend/backend_agent.c). Environment entries are cJSON
 * arrays of "K=V" strings, owned by the caller. */
/* Per run: SOCKERLESS_AGENT_TOKEN_SHA256, SOCKERLESS_CONTAINER_ID and
 * SOCKERLESS_HOLD when a client attached before start. Makes and persists
 * the container's token. NULL (with e) when no random bytes are had. */
cJSON *backend_agent_run_env(
    struct backend *b, struct container *c, struct err *e);
/* Fixed by the configuration (so they may go into a shared definition):
 * SOCKERLESS_TTY, SOCKERLESS_STDIN, SOCKERLESS_STDIN_ONCE,
 * SOCKERLESS_HEALTHCHECK, SOCKERLESS_STOP_SIGNAL. */
cJSON *backend_agent_config_env(const struct container *c);
/* The command the agent wraps: Entrypoint + Cmd of the merged config
 * (a cJSON array of strings; empty when the image names none). */
cJSON *backend_agent_command(const struct container *c);
/* Forward mode, while the start waits for the cloud to say the workload
 * runs: dials the run's agent now, trying again every few milliseconds
 * for a few seconds (aglink_up_eager), so that its HELLO answers the start
 * (ops->agent_hello) as soon as the workload runs. For a backend whose
 * cloud says when the workload is about to start; nothing without an
 * agent, an address, an agent_hello or when the run has a link already.
 * A start that fails closes the link. */
void backend_agent_dial_early(struct backend *b, struct container *c);

/* The agent's report of the main process's end, kept in the container's
 * private object as {"exitCode": N, "finishedAt": "RFC 3339"} when the
 * link delivers it (a backend whose cloud gives no exit code reads it;
 * backend_agent_run_env deletes it for a new run). */
#define BACKEND_P_AGENT_EXIT "AgentExit"
/* Set (true) in the same object when the run's agent first linked: the
 * workload's wrapper runs (a backend whose cloud reports "running" while
 * it still pulls images settles the start on it); deleted for a new run
 * with the exit report. */
#define BACKEND_P_AGENT_HELLO "AgentHello"

/* State reports from the backend. */
void backend_container_started(
    struct backend *b, struct container *c, int64_t started_ns);
void backend_container_exited(struct backend *b, struct container *c,
    int exit_code, int64_t finished_ns, const char *error);
/* A start cut short by a restart whose workload the backend found: the
 * container is running (recovery only; a start answers through done). */
void backend_container_adopted(
    struct backend *b, struct container *c, int64_t started_ns);
/* The workload's address once known: fills NetworkSettings and Ports. */
void backend_container_set_address(
    struct backend *b, struct container *c, const char *ip);
/* How long to keep draining logs after the exit was seen, for clouds whose
 * log pipeline lags. */
void backend_set_logs_grace_ms(struct backend *b, int ms);

#endif
