/* Private to the backend framework (backend*.c, container.c): the types
 * every module shares. The modules, top to bottom; each calls only those
 * below it (`make lint-cycles` checks this from the objects):
 *   backend.c              main(), the routes, start-up and shutdown
 *   backend_ctr_list.c     ps and its filters, inspect, rename, prune
 *   backend_ctr_life.c     state reports, start, stop, restart, kill, rm
 *   backend_logs.c         logs and the read-only attach
 *   backend_agent_exec.c   exec through the agent
 *   backend_agent_attach.c attach with stdin, the agent's life-cycle hooks
 *   backend_agent_ops.c    top, stats, archive, pause, signals
 *   backend_agent_env.c    what a workload needs to run the agent
 *   backend_agent.c        agent links, relays, their records
 *   backend_net_api.c      the network routes
 *   backend_ctr_update.c   update (restart policy, resources)
 *   backend_ctr_new.c      create
 *   backend_ctr_restart.c  restart policies (the start is a hook)
 *   backend_vol_api.c      the volume routes, system df
 *   backend_vol_ctr.c      containers' volumes: made, released
 *   backend_vol_mnt.c      a create body's mounts
 *   backend_vol.c          volume records
 *   backend_ctr_wait.c     wait, attach streams counted for it
 *   backend_net_ep.c       containers' endpoints, the names view
 *   backend_net.c          network records, subnets
 *   backend_ctr.c          the life-cycle record, parking, the store
 *   backend_img_rm.c       tag, rmi, image prune
 *   backend_img.c          image records, list, inspect, history
 *   backend_img_pull.c     pull
 *   backend_ctr_check.c    the checks of a create body
 *   backend_sys.c          version, info, df, events
 *   backend_api.c          lookups, query and reply helpers
 *   container.c            container documents
 *   backend_index.c        sorted indexes
 * A call that must go up is a hook set from above: c->agent_free (the
 * agent's record, freed with its container) and ex->status_poll (a relay
 * asks the exec code for the exit code a dropped link lost). */
#ifndef SOCKERLESS_BACKEND_INT_H
#define SOCKERLESS_BACKEND_INT_H

#include <sys/queue.h>

#include "sockerless/backend.h"
#include "sockerless/config.h"
#include "sockerless/httpsrv.h"
#include "sockerless/router.h"
#include "sockerless/str.h"

/* The framework's private state in a container's document: the object
 * (container_private) and the keys the framework itself keeps there (a
 * backend's own keys are its business). */
#define CONTAINER_PRIVATE	 "Sockerless"
#define BACKEND_PRIV_AGENT_TOKEN "AgentToken" /* the link's secret */
#define BACKEND_PRIV_CREATING	 "Creating"   /* a create in flight */
#define BACKEND_PRIV_IMAGE_REF	 "ImageRef"   /* the image by digest */

/* Where the frontend reaches a backend's Docker routes. */
#define INTERNAL_PREFIX "/internal/v1"

struct store;
struct reg_client;
struct httpcli;

TAILQ_HEAD(container_list, container);
TAILQ_HEAD(network_list, network);
TAILQ_HEAD(volume_list, volume);
struct events_sub;
TAILQ_HEAD(events_sub_list, events_sub);

/* Containers sorted by a key (backend_index.c). */
struct backend_index {
	struct container **v;
	size_t n, cap;
	const char *(*key)(const struct container *c);
};

/* Framework configuration (the common keys every backend has). */
struct backend_conf {
	char *socket;	 /* internal API unix socket */
	char *state_dir; /* SQLite lives here */
	char *log_level;
	long long busy_poll;		/* us, 0 off (evloop_run) */
	struct strv registry_mirrors;	/* like dockerd's registry-mirrors */
	struct strv registry_endpoints; /* host=URL */
	struct strv insecure_registries;
	char *platform;		  /* default image platform */
	char *registry_auth_file; /* docker config.json with auths */
	long long stop_timeout;	  /* default docker stop -t */
	char *publish_address;	  /* published ports without a HostIp */
	long long archive_max;	  /* bytes kept per container before start */
	char *docker_api;	  /* what a workload's Docker socket reaches */
	/* Volumes (docs/volumes.md): HOSTPREFIX[=FSPATH] entries mapping
	 * binds onto the cloud file system, the Docker socket binds. */
	struct strv shared_paths;
	int docker_socket_proxy;
	struct strv docker_socket_paths;
	/* Reverse agent mode (backend_agent_rev.c): where agents call back,
	 * the URL they dial, how long a link waits for its agent (s). */
	char *agent_callback_listen;
	char *agent_callback_url;
	long long agent_callback_timeout;
	/* Bytes of output each agent keeps for docker logs
	 * (SOCKERLESS_LOG_SPOOL). */
	long long agent_log_spool;
	/* The internal API over TCP (docs/internal-api.md): where, the TLS
	 * certificate and key, the bearer token's file. */
	char *internal_tcp;
	char *internal_tlscert, *internal_tlskey;
	char *internal_token_file;
	/* Milliseconds a stopped container's document stays parsed after
	 * its last read (0: documents are never dropped; docs/scale.md). */
	long long doc_idle_ms;
};

#define BACKEND_MAX_CONF_SETS 8

struct aglink_chan;
struct store_ctr_row;
struct aglink_listener;

struct backend {
	const struct backend_ops *ops;
	/* An agent's CONNECT (backend_agent_connect: a relay or the Docker
	 * socket), set by backend.c so that the agent code does not call up
	 * into it. */
	void (*agent_connect)(
	    void *ag, struct aglink_chan *ch, const cJSON *req);
	/* The main process's exit as its agent reported it
	 * (backend_container_exited), set by backend.c for the same reason. */
	void (*agent_exited)(struct backend *b, struct container *c,
	    int exit_code, int64_t finished_ns, const char *error);
	struct backend_conf conf;
	char *internal_token; /* internal_token_file's token, or NULL */
	/* The framework's keys, the backend's own and its fragments (names
	 * prefixed: backend_conf_sets). */
	struct config_set conf_sets[BACKEND_MAX_CONF_SETS];
	size_t nconf_sets;
	struct event_base *base;
	struct httpsrv *srv;
	struct httpcli *http;
	struct store *store;
	struct reg_client *reg;
	struct caps caps;
	char instance[80];
	int64_t started_ns;
	int logs_grace_ms;
	struct container_list containers; /* newest first */
	struct backend_index by_id, by_name;
	/* Running, or with an operation in flight: what pollers visit. */
	struct backend_index active;
	struct events_sub_list subs;
	struct network_list networks; /* oldest first (backend_net.c) */
	struct volume_list volumes;   /* oldest first (backend_vol.c) */
	struct event *sig_term, *sig_int, *sig_hup;
	struct event *doc_sweep; /* drops idle documents (backend_ctr.c) */
	int agent_closing;	 /* shutting down: no new agent links */
	struct aglink_listener *agent_listener; /* reverse mode */
};

/* The workloads run the sockerless agent: the backend dials it
 * (agent_address) or it calls back (agent_reverse). */
static inline int
backend_agent_runs(const struct backend *b)
{
	return b->ops->agent_address != NULL || b->ops->agent_reverse;
}

/* A handler of the Docker API as the backend serves it. */
typedef void (*backend_handler)(
    struct backend *b, struct httpsrv_req *r, const struct router_match *m);

/* backend_api.c: what handlers share */
struct container *backend_lookup_or_reply(
    struct backend *b, struct httpsrv_req *r, const char *ref);
int backend_query_bool(struct httpsrv_req *r, const char *name, int def);
void backend_reply_done(struct httpsrv_req *r, const struct err *e, int status);
/* The 501 of a Docker endpoint this backend has not built. */
void backend_reply_unbuilt(struct backend *b, struct httpsrv_req *r);

/* backend_index.c: lookups that stay fast with 100k containers */
void backend_index_init(
    struct backend_index *x, const char *(*key)(const struct container *c));
void backend_index_free(struct backend_index *x);
/* c's key must not change while it is indexed: del, change, add. */
void backend_index_add(struct backend_index *x, struct container *c);
void backend_index_del(struct backend_index *x, struct container *c);
/* Loading many: append them all, then sort once. */
void backend_index_append(struct backend_index *x, struct container *c);
void backend_index_sort(struct backend_index *x);
struct container *backend_index_get(
    const struct backend_index *x, const char *key);
/* The first container whose key starts with prefix; *ambiguous says that
 * more than one does. */
struct container *backend_index_prefix(
    const struct backend_index *x, const char *prefix, int *ambiguous);

/* container.c */
struct container *container_new(const char *id, cJSON *doc);
/* A container loaded cold from row (which has facts): its document is
 * read from store at the first container_doc. */
struct container *container_new_cold(
    struct store *store, const struct store_ctr_row *row);
/* c's facts for the store (container.c); caller frees. */
char *container_facts(const struct container *c, size_t *len);
/* Saves c in s: text (its document as printed), its facts, and its list
 * entry, rendered now. */
int container_store(struct container *c, struct store *s, const char *text,
    const char *facts, size_t factslen, struct err *e);
/* Whether a list printing c now would read its entry from the store (c
 * is cold and its entry not cached); container_entry_set caches the one
 * the store holds ("SPLIT:TEXT", container_store), -1 when malformed. */
int container_entry_missing(const struct container *c);
int container_entry_set(struct container *c, const void *blob, size_t len);
/* The store now holds text as c's document. */
void container_saved(struct container *c, const char *text);
int container_cold(const struct container *c);
/* Drops c's parsed document (saved first if it changed unsaved); only for
 * a container nothing uses (backend_ctr_sweep). */
void container_drop(struct container *c);
void container_set_state(struct container *c, const char *status);
/* Between two runs of a restart policy (not running for the framework). */
int container_restarting(const struct container *c);
cJSON *container_state(struct container *c);
cJSON *container_inspect_json(const struct container *c);
cJSON *container_summary_json(const struct container *c);
/* Appends c's /containers/json entry (the summary with its Status as of
 * now) to out, from the text cached in c since its last change. */
struct buf;
void container_list_entry(struct container *c, struct buf *out);
/* What the list filters read, as of the document's last change (cached
 * with the list entry; valid until the next container_touch). status is
 * State.Status (NULL when the document has none), labels Config.Labels
 * (NULL for none). */
struct container_facts {
	const char *status;
	long long exit_code;
	const char *name; /* without the leading '/' */
	const char *image, *image_id;
	const cJSON *labels;
};
const struct container_facts *container_ps_facts(struct container *c);
int container_has_label(
    const struct container *c, const char *key, const char *value);

#endif
