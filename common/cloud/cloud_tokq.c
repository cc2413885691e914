/* The waiters of one token client, shared by gcp_auth.c and azure_auth.c
 * so the deferred delivery and the free-from-a-callback rule are written
 * once. */
#include <stdlib.h>
#include <string.h>

#include "sockerless/log.h"
#include "sockerless/xmalloc.h"

#include "cloud_cred.h"
#include "cloud_tokq.h"

static void
cloud_tokq_wfree(struct cloud_tokw *w)
{
	cloud_cred_wipe(&w->token);
	free(w);
}

void
cloud_tokq_free_list(struct cloud_tokws *list)
{
	struct cloud_tokw *w;

	while ((w = TAILQ_FIRST(list)) != NULL) {
		TAILQ_REMOVE(list, w, entry);
		cloud_tokq_wfree(w);
	}
}

static void
cloud_tokq_deliver(evutil_socket_t fd, short ev, void *arg)
{
	struct cloud_tokq *q = arg;
	struct cloud_tokw *w;

	(void)fd;
	(void)ev;
	q->delivering = 1;
	while (!q->doomed && (w = TAILQ_FIRST(&q->ready)) != NULL) {
		TAILQ_REMOVE(&q->ready, w, entry);
		w->cb(w->arg, w->token, w->token != NULL ? NULL : &w->e);
		cloud_tokq_wfree(w);
	}
	q->delivering = 0;
	if (q->doomed) /* q is the owner's: gone after this */
		q->free_owner(q->owner);
}

void
cloud_tokq_init(struct cloud_tokq *q, struct event_base *base,
    void (*free_owner)(void *owner), void *owner)
{
	memset(q, 0, sizeof(*q));
	TAILQ_INIT(&q->ready);
	q->free_owner = free_owner;
	q->owner = owner;
	if (base != NULL)
		q->ev = event_new(base, -1, 0, cloud_tokq_deliver, q);
}

void
cloud_tokq_clear(struct cloud_tokq *q)
{
	cloud_tokq_free_list(&q->ready);
	if (q->ev != NULL)
		event_free(q->ev);
	q->ev = NULL;
}

int
cloud_tokq_defer_free(struct cloud_tokq *q)
{
	if (!q->delivering)
		return 0;
	q->doomed = 1;
	return 1;
}

static struct cloud_tokw *
cloud_tokq_new(struct cloud_tokq *q, cloud_token_cb cb, void *arg)
{
	struct cloud_tokw *w;

	if (q->ev == NULL)
		fatalx("a token callback needs an event base");
	w = xcalloc(1, sizeof(*w));
	w->id = ++q->next_id;
	w->cb = cb;
	w->arg = arg;
	return w;
}

uint64_t
cloud_tokq_wait(struct cloud_tokq *q, struct cloud_tokws *list,
    cloud_token_cb cb, void *arg)
{
	struct cloud_tokw *w = cloud_tokq_new(q, cb, arg);

	TAILQ_INSERT_TAIL(list, w, entry);
	return w->id;
}

uint64_t
cloud_tokq_now(struct cloud_tokq *q, cloud_token_cb cb, void *arg,
    const char *token, const struct err *e)
{
	struct cloud_tokw *w = cloud_tokq_new(q, cb, arg);

	if (token != NULL)
		w->token = xstrdup(token);
	else
		w->e = *e;
	TAILQ_INSERT_TAIL(&q->ready, w, entry);
	event_active(q->ev, 0, 0);
	return w->id;
}

void
cloud_tokq_finish(struct cloud_tokq *q, struct cloud_tokws *list,
    const char *token, const struct err *e)
{
	struct cloud_tokw *w;

	while ((w = TAILQ_FIRST(list)) != NULL) {
		TAILQ_REMOVE(list, w, entry);
		if (token != NULL)
			w->token = xstrdup(token);
		else
			w->e = *e;
		TAILQ_INSERT_TAIL(&q->ready, w, entry);
	}
	if (!TAILQ_EMPTY(&q->ready) && q->ev != NULL)
		event_active(q->ev, 0, 0);
}

int
cloud_tokq_drop(struct cloud_tokq *q, struct cloud_tokws *list, uint64_t id)
{
	struct cloud_tokw *w;

	if (list == NULL)
		list = &q->ready;
	TAILQ_FOREACH(w, list, entry) {
		if (w->id != id)
			continue;
		TAILQ_REMOVE(list, w, entry);
		cloud_tokq_wfree(w);
		return 1;
	}
	return 0;
}
