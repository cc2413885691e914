/* The waiters of the token clients (gcp_auth.c, azure_auth.c): callers
 * queued on one shared fetch, answers delivered from the loop (never
 * inside the call that asked), cancel, and the owner freed from inside a
 * callback only after it returns. Tokens held here are wiped when freed.
 * Private to common/cloud and its tests. */
#ifndef SOCKERLESS_CLOUD_TOKQ_H
#define SOCKERLESS_CLOUD_TOKQ_H

#include <stdint.h>
#include <sys/queue.h>

#include <event2/event.h>

#include "sockerless/err.h"

/* gcp_token_cb and azure_token_cb have this type. */
typedef void (*cloud_token_cb)(
    void *arg, const char *token, const struct err *e);

struct cloud_tokw {
	TAILQ_ENTRY(cloud_tokw) entry;
	uint64_t id;
	cloud_token_cb cb;
	void *arg;
	char *token; /* ready: the token, or NULL with e */
	struct err e;
};
TAILQ_HEAD(cloud_tokws, cloud_tokw);

struct cloud_tokq {
	struct cloud_tokws ready;
	struct event *ev;
	uint64_t next_id;
	int delivering, doomed;
	void (*free_owner)(void *owner);
	void *owner;
};

/* base NULL: a client of the _sync calls only (waiting is then fatal).
 * free_owner(owner) runs when the owner was freed from a callback. */
void cloud_tokq_init(struct cloud_tokq *q, struct event_base *base,
    void (*free_owner)(void *owner), void *owner);
/* Drops every waiter without calling it, and the event. */
void cloud_tokq_clear(struct cloud_tokq *q);
/* 1 when called from inside a callback: the owner's free must return at
 * once, and free_owner runs after the callback. */
int cloud_tokq_defer_free(struct cloud_tokq *q);

/* A new waiter on list (a slot's, until its fetch ends); never 0. */
uint64_t cloud_tokq_wait(struct cloud_tokq *q, struct cloud_tokws *list,
    cloud_token_cb cb, void *arg);
/* A waiter answered at once, from the loop: a copy of token, or e. */
uint64_t cloud_tokq_now(struct cloud_tokq *q, cloud_token_cb cb, void *arg,
    const char *token, const struct err *e);
/* The fetch list waited for ended: each waiter gets a copy of token or
 * e, from the loop. */
void cloud_tokq_finish(struct cloud_tokq *q, struct cloud_tokws *list,
    const char *token, const struct err *e);
/* Removes waiter id from list (or the ready queue when list is NULL); 1
 * when it was there. */
int cloud_tokq_drop(
    struct cloud_tokq *q, struct cloud_tokws *list, uint64_t id);
/* Frees list's waiters without calling them. */
void cloud_tokq_free_list(struct cloud_tokws *list);

#endif
