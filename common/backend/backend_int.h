/* Private to the backend framework (backend*.c, container.c). */
#ifndef SOCKERLESS_BACKEND_INT_H
#define SOCKERLESS_BACKEND_INT_H

#include <sys/queue.h>

#include "sockerless/backend.h"
#include "sockerless/config.h"
#include "sockerless/httpsrv.h"
#include "sockerless/router.h"
#include "sockerless/str.h"

struct store;
struct reg_client;
struct httpcli;

TAILQ_HEAD(container_list, container);
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
	struct strv registry_mirrors;	/* like dockerd's registry-mirrors */
	struct strv registry_endpoints; /* host=URL */
	struct strv insecure_registries;
	char *platform;		  /* default image platform */
	char *registry_auth_file; /* docker config.json with auths */
	long long stop_timeout;	  /* default docker stop -t */
};

#define BACKEND_MAX_CONF_SETS 8

struct backend {
	const struct backend_ops *ops;
	struct backend_conf conf;
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
	struct event *sig_term, *sig_int, *sig_hup;
};

/* A handler of the Docker API as the backend serves it. */
typedef void (*backend_handler)(
    struct backend *b, struct httpsrv_req *r, const struct router_match *m);

/* backend.c */
struct container *backend_lookup_or_reply(
    struct backend *b, struct httpsrv_req *r, const char *ref);
int backend_query_bool(struct httpsrv_req *r, const char *name, int def);
void backend_reply_done(struct httpsrv_req *r, const struct err *e, int status);

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
void container_set_state(struct container *c, const char *status);
cJSON *container_state(struct container *c);
cJSON *container_inspect_json(const struct container *c);
cJSON *container_summary_json(const struct container *c);
int container_has_label(
    const struct container *c, const char *key, const char *value);

/* backend_ctr.c: containers */
void backend_ctr_create(
    struct backend *b, struct httpsrv_req *r, const struct router_match *m);
void backend_ctr_list(
    struct backend *b, struct httpsrv_req *r, const struct router_match *m);
void backend_ctr_inspect(
    struct backend *b, struct httpsrv_req *r, const struct router_match *m);
void backend_ctr_start(
    struct backend *b, struct httpsrv_req *r, const struct router_match *m);
void backend_ctr_stop(
    struct backend *b, struct httpsrv_req *r, const struct router_match *m);
void backend_ctr_restart(
    struct backend *b, struct httpsrv_req *r, const struct router_match *m);
void backend_ctr_kill(
    struct backend *b, struct httpsrv_req *r, const struct router_match *m);
void backend_ctr_wait(
    struct backend *b, struct httpsrv_req *r, const struct router_match *m);
void backend_ctr_remove(
    struct backend *b, struct httpsrv_req *r, const struct router_match *m);
void backend_ctr_rename(
    struct backend *b, struct httpsrv_req *r, const struct router_match *m);
void backend_ctr_prune(
    struct backend *b, struct httpsrv_req *r, const struct router_match *m);
void backend_ctr_update(
    struct backend *b, struct httpsrv_req *r, const struct router_match *m);
void backend_ctr_load(struct backend *b);
void backend_ctr_resolve_creating(struct backend *b);
/* Once reconciled: finishes removals a restart interrupted. */
void backend_ctr_resume(struct backend *b);
/* Takes c out of the list and the indexes (the list's reference stays
 * with the caller). */
void backend_ctr_unlist(struct backend *b, struct container *c);

void backend_ctr_notify_waiters(
    struct backend *b, struct container *c, int removed);
/* An attach stream of c opened / delivered its last byte and ended: wait
 * answers only when none is open (dockerd ends them first). */
void backend_ctr_attach_open(struct container *c);
void backend_ctr_attach_closed(struct container *c);

/* backend_logs.c: logs and the read-only attach */
void backend_logs_get(
    struct backend *b, struct httpsrv_req *r, const struct router_match *m);
void backend_logs_attach(
    struct backend *b, struct httpsrv_req *r, const struct router_match *m);
void backend_logs_container_exited(struct backend *b, struct container *c);

/* backend_img.c: images */
void backend_img_pull(
    struct backend *b, struct httpsrv_req *r, const struct router_match *m);
void backend_img_list(
    struct backend *b, struct httpsrv_req *r, const struct router_match *m);
void backend_img_inspect(
    struct backend *b, struct httpsrv_req *r, const struct router_match *m);
void backend_img_tag(
    struct backend *b, struct httpsrv_req *r, const struct router_match *m);
void backend_img_remove(
    struct backend *b, struct httpsrv_req *r, const struct router_match *m);
void backend_img_prune(
    struct backend *b, struct httpsrv_req *r, const struct router_match *m);
/* The 501 of a Docker endpoint this backend has not built. */
void backend_reply_unbuilt(struct backend *b, struct httpsrv_req *r);
/* History, push and save: dockerd's answers for a missing image. */
void backend_img_history(
    struct backend *b, struct httpsrv_req *r, const struct router_match *m);
void backend_img_push(
    struct backend *b, struct httpsrv_req *r, const struct router_match *m);
void backend_img_save(
    struct backend *b, struct httpsrv_req *r, const struct router_match *m);
/* Looks an image up by any reference; returns a new doc or NULL. */
cJSON *backend_img_find(struct backend *b, const char *ref);
int backend_img_init(struct backend *b, struct err *e);
void backend_img_free(struct backend *b);

/* backend_sys.c: system and events */
void backend_sys_version(
    struct backend *b, struct httpsrv_req *r, const struct router_match *m);
void backend_sys_info(
    struct backend *b, struct httpsrv_req *r, const struct router_match *m);
void backend_sys_df(
    struct backend *b, struct httpsrv_req *r, const struct router_match *m);
void backend_sys_events(
    struct backend *b, struct httpsrv_req *r, const struct router_match *m);
void backend_sys_capabilities(
    struct backend *b, struct httpsrv_req *r, const struct router_match *m);
/* Records and broadcasts one event. attrs may be NULL; it is taken. */
void backend_sys_event(struct backend *b, const char *type, const char *action,
    const char *id, cJSON *attrs);
void backend_sys_container_event(struct backend *b, struct container *c,
    const char *action, cJSON *extra_attrs);
/* dockerd's exec, kill and image events (see backend_sys.c). */
void backend_sys_exec_event(struct backend *b, struct container *c,
    const char *action, const char *exec_id, const cJSON *cmd);
void backend_sys_exec_die_event(
    struct backend *b, struct container *c, const char *exec_id, int code);
void backend_sys_kill_event(struct backend *b, struct container *c, int signo);
void backend_sys_image_event(
    struct backend *b, const char *action, const char *id, const char *name);
void backend_sys_pull_event(struct backend *b, const char *ref);
void backend_sys_tag_event(struct backend *b, const char *id, const char *ref);

#endif
