/* Private to the backend framework: the containers' life cycle
 * (backend_ctr*.c). */
#ifndef SOCKERLESS_BACKEND_CTR_H
#define SOCKERLESS_BACKEND_CTR_H

#include <limits.h>
#include <sys/queue.h>

#include "backend_int.h"

/* Stop timeouts in seconds, whose 100 ms ticks must fit an int. */
#define BACKEND_CTR_MAX_STOP_TIMEOUT (INT_MAX / 10)

/* dockerd's 409 for a name another container holds (the name, then the
 * holder's id): create and rename say it alike. */
#define BACKEND_CTR_NAME_IN_USE                                            \
	"Conflict. The container name \"/%s\" is already in use by "       \
	"container \"%s\". You have to remove (or rename) that container " \
	"to be able to reuse that name."

struct bufferevent;
struct backend_waiter;	/* backend_ctr_wait.c */
struct backend_parked;	/* backend_ctr.c */
struct backend_restart; /* backend_ctr_restart.c */

/* The one life-cycle operation a container may have in flight. */
enum backend_ctr_busy {
	CTR_IDLE,
	CTR_CREATING,
	CTR_STARTING,
	CTR_REMOVING,
};

/* What the framework keeps per container (c->waiters, made on first
 * use): the long-polls on wait, and the requests parked behind the
 * operation in flight. A container has one life cycle: create, start and
 * remove never overlap, and whatever arrives meanwhile sees the state the
 * operation leaves (a start behind a start answers 304, a remove behind a
 * create removes what was created, anything behind a remove finds no
 * container). */
struct backend_waiters {
	TAILQ_HEAD(, backend_waiter) list;
	TAILQ_HEAD(, backend_parked) parked;
	enum backend_ctr_busy busy;
	int active;   /* in b->active */
	int attached; /* attach streams still delivering output */
	/* The restart policy's loop (backend_ctr_restart.c): the pending
	 * restart, the back-off of the next one, and a stop or kill by the
	 * user that ends the loop (dockerd's restart manager, in memory). */
	struct backend_restart *restart;
	int64_t restart_delay_ms;
	int restart_canceled;
};

/* State carried across an asynchronous container operation. */
struct backend_ctr_op {
	struct backend *b;
	struct container *c;
	struct httpsrv_req *req; /* NULL when nobody waits for a reply */
	int timeout_s;
	int no_limit;	/* stop -t -1: wait for the exit, however long */
	int then_start; /* restart: start after the stop */
	int force;
	int signo; /* kill */
	struct event *timer;
	struct err err; /* start: a failed copy, while the workload stops */
};

/* backend_ctr.c: the record, parking, the operation, the store */
struct backend_waiters *backend_ctr_life(struct container *c);
enum backend_ctr_busy backend_ctr_busy(const struct container *c);
void backend_ctr_set_busy(struct container *c, enum backend_ctr_busy busy);
/* For the handlers of operations that change the life cycle: while
 * another one is in flight, parks the request and returns 1. */
int backend_ctr_park(struct container *c, struct httpsrv_req *r,
    const struct router_match *m, backend_handler fn);
/* The operation in flight ended: the parked requests run next. */
void backend_ctr_idle(struct backend *b, struct container *c);
void backend_ctr_set_active(struct backend *b, struct container *c, int on);
void backend_ctr_enlist(struct backend *b, struct container *c);
/* Drops the documents of containers idle for doc_idle_ms, every
 * doc_idle_ms (docs/scale.md). */
void backend_ctr_sweep_start(struct backend *b);
/* Drops c's document again if nothing uses it: for a walk that read a
 * cold one and is done with it. */
void backend_ctr_cool(struct backend *b, struct container *c);
/* Takes c out of the list and the indexes (the list's reference stays
 * with the caller). */
void backend_ctr_unlist(struct backend *b, struct container *c);
struct backend_ctr_op *backend_ctr_op_new(
    struct backend *b, struct container *c, struct httpsrv_req *req);
struct httpsrv_req *backend_ctr_op_take_req(struct backend_ctr_op *op);
void backend_ctr_op_reply(
    struct backend_ctr_op *op, const struct err *e, int status);
void backend_ctr_op_free(struct backend_ctr_op *op);
void backend_ctr_save(struct backend *b, struct container *c);
void backend_ctr_load(struct backend *b);
struct container *backend_ctr_by_name(struct backend *b, const char *name);

/* backend_ctr_check.c: the checks of a create body */
int backend_ctr_empty(const cJSON *v);
/* str_tonum's reason, as a user reads it after "\"abc\" is". */
const char *backend_ctr_why(const char *errstr);
int backend_ctr_check_numbers(const cJSON *cfg, const cJSON *hc, struct err *e);
int backend_ctr_log_config(struct backend *b, cJSON *hc, struct err *e);
int backend_ctr_check_restart_policy(const cJSON *hc, struct err *e);
int backend_ctr_policy_restarts(const cJSON *hc);
int backend_ctr_check_host_config(
    struct backend *b, const cJSON *hc, struct err *e);
int backend_ctr_check_extras(struct backend *b, const cJSON *hc, struct err *e);
int backend_ctr_check_endpoint(
    struct backend *b, const char *net, const cJSON *ep, struct err *e);

/* backend_ctr_restart.c: restart policies. The start is a hook from
 * backend_ctr_life.c, which calls this module. */
typedef void (*backend_ctr_start_fn)(struct backend *b, struct container *c);
/* In the container's private object while the policy's start is with the
 * backend: a backend restart then leaves the task to its reconcile. */
#define BACKEND_PRIV_RESTART_STARTING "RestartStarting"
/* The workload of c ended on its own after running ran_ns: when the
 * policy says so, c becomes "restarting" and start runs after the
 * back-off. Returns 1 then. */
int backend_ctr_restart_after_exit(struct backend *b, struct container *c,
    int exit_code, int64_t ran_ns, backend_ctr_start_fn start);
/* A stop or kill by the user (cancel: the loop ends; manual: dockerd's
 * HasBeenManuallyStopped, which unless-stopped obeys). */
void backend_ctr_restart_stopped_by_user(
    struct backend *b, struct container *c, int cancel);
/* The policy's start of c goes to the backend / has its answer. */
void backend_ctr_restart_starting(struct backend *b, struct container *c);
void backend_ctr_restart_started(struct container *c);
/* A start or restart by the user: a new loop, RestartCount 0. */
void backend_ctr_restart_reset(struct container *c);
/* Drops the pending restart of c; returns 1 when there was one. */
int backend_ctr_restart_cancel(struct container *c);
/* After reconcile: containers that were restarting when the backend
 * stopped are started again (the back-off anew). */
void backend_ctr_restart_resume(struct backend *b, backend_ctr_start_fn start);
/* At shutdown: every pending restart dropped. */
void backend_ctr_restart_cancel_all(struct backend *b);

/* backend_ctr_update.c */
void backend_ctr_update(
    struct backend *b, struct httpsrv_req *r, const struct router_match *m);

/* backend_ctr_new.c */
void backend_ctr_create(
    struct backend *b, struct httpsrv_req *r, const struct router_match *m);

/* backend_ctr_list.c */
void backend_ctr_list(
    struct backend *b, struct httpsrv_req *r, const struct router_match *m);
void backend_ctr_inspect(
    struct backend *b, struct httpsrv_req *r, const struct router_match *m);
void backend_ctr_rename(
    struct backend *b, struct httpsrv_req *r, const struct router_match *m);
void backend_ctr_prune(
    struct backend *b, struct httpsrv_req *r, const struct router_match *m);

/* backend_ctr_life.c */
/* c's names view changed (started, exited, renamed, connected to or
 * disconnected from net): pushes the view to c and every running peer. */
void backend_ctr_net_changed(
    struct backend *b, struct container *c, const char *net);
void backend_ctr_start(
    struct backend *b, struct httpsrv_req *r, const struct router_match *m);
void backend_ctr_stop(
    struct backend *b, struct httpsrv_req *r, const struct router_match *m);
void backend_ctr_restart(
    struct backend *b, struct httpsrv_req *r, const struct router_match *m);
void backend_ctr_kill(
    struct backend *b, struct httpsrv_req *r, const struct router_match *m);
void backend_ctr_remove(
    struct backend *b, struct httpsrv_req *r, const struct router_match *m);
/* A removal nobody asked for over the API (--rm, prune): once only. */
void backend_ctr_remove_now(
    struct backend *b, struct container *c, struct httpsrv_req *req);
void backend_ctr_resolve_creating(struct backend *b);
/* Once reconciled: finishes removals a restart interrupted, and starts
 * the containers a restart policy was restarting. */
void backend_ctr_resume(struct backend *b);

/* backend_ctr_wait.c */
void backend_ctr_wait(
    struct backend *b, struct httpsrv_req *r, const struct router_match *m);
void backend_ctr_notify_waiters(
    struct backend *b, struct container *c, int removed);
/* An attach stream of c opened / delivered its last byte and ended: wait
 * answers only when none is open (dockerd ends them first). */
void backend_ctr_attach_open(struct container *c);
void backend_ctr_attach_closed(struct container *c);
/* A hijacked client's stream is over: its connection (bev; NULL when it
 * is already gone) closes once what is queued on it is written, and c,
 * when the stream was counted with backend_ctr_attach_open (else NULL),
 * is closed for wait only then. */
void backend_ctr_attach_release(struct bufferevent *bev, struct container *c);

#endif
