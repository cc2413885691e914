/* DefaultAzureCredential's tokens: one cache slot per scope, each
 * refreshed ahead of expiry on its own timer, with the waiters of one
 * shared fetch per scope; callbacks always from the loop. */
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <time.h>

#include <event2/event.h>
#include <openssl/crypto.h>

#include "sockerless/azure_auth.h"
#include "sockerless/log.h"
#include "sockerless/xmalloc.h"

#include "azure_auth_int.h"
#include "cloud_cred.h"
#include "cloud_tokq.h"

static int64_t
azure_auth_time(void)
{
	return (int64_t)time(NULL);
}

int64_t (*azure_auth_now)(void) = azure_auth_time;

/* One scope: its cached token and the fetch in flight with its waiters. */
struct azure_auth_slot {
	TAILQ_ENTRY(azure_auth_slot) entry;
	struct azure_auth *a;
	char *scope;
	struct azure_tok tok;
	char *what; /* the endpoint of the fetch in flight */
	int fetching;
	uint64_t http_id;
	struct event *ev_refresh;
	struct cloud_tokws waiters;
};
TAILQ_HEAD(azure_auth_slots, azure_auth_slot);

struct azure_auth {
	struct event_base *base;
	struct httpcli *http, *own_http;
	struct azure_cred cred;
	char *source;
	struct azure_auth_slots slots;
	struct cloud_tokq q; /* the waiters' delivery */
};

static void
azure_auth_free_owner(void *a)
{
	azure_auth_free(a);
}

struct azure_auth *
azure_auth_new(struct event_base *base, struct httpcli *http,
    const struct azure_auth_conf *conf, struct err *e)
{
	struct azure_auth *a = xcalloc(1, sizeof(*a));

	a->base = base;
	a->http = http;
	TAILQ_INIT(&a->slots);
	cloud_tokq_init(&a->q, base, azure_auth_free_owner, a);
	if (azure_auth_cred_find(&a->cred, conf, &a->source, e) == -1) {
		azure_auth_free(a);
		return NULL;
	}
	if (base != NULL && http == NULL)
		a->http = a->own_http = httpcli_new(base);
	log_info("azure: credentials from %s", a->source);
	return a;
}

static void
azure_auth_slot_free(struct azure_auth_slot *s)
{
	if (s->fetching && s->http_id != 0)
		httpcli_cancel(s->a->http, s->http_id);
	cloud_tokq_free_list(&s->waiters);
	if (s->ev_refresh != NULL)
		event_free(s->ev_refresh);
	azure_auth_flow_tok_clear(&s->tok);
	free(s->what);
	free(s->scope);
	free(s);
}

void
azure_auth_free(struct azure_auth *a)
{
	struct azure_auth_slot *s;

	/* freed from a callback: after it returns */
	if (a == NULL || cloud_tokq_defer_free(&a->q))
		return;
	while ((s = TAILQ_FIRST(&a->slots)) != NULL) {
		TAILQ_REMOVE(&a->slots, s, entry);
		azure_auth_slot_free(s);
	}
	cloud_tokq_clear(&a->q);
	if (a->own_http != NULL)
		httpcli_free(a->own_http);
	azure_auth_cred_clear(&a->cred);
	free(a->source);
	free(a);
}

const char *
azure_auth_source(const struct azure_auth *a)
{
	return a->source;
}

const char *
azure_auth_tenant(const struct azure_auth *a)
{
	return a->cred.tenant;
}

/* --- the cache --- */

static void azure_auth_refresh_due(evutil_socket_t fd, short ev, void *arg);

static struct azure_auth_slot *
azure_auth_slot(struct azure_auth *a, const char *scope)
{
	struct azure_auth_slot *s;

	TAILQ_FOREACH(s, &a->slots, entry) {
		if (strcmp(scope, s->scope) == 0)
			return s;
	}
	s = xcalloc(1, sizeof(*s));
	s->a = a;
	s->scope = xstrdup(scope);
	TAILQ_INIT(&s->waiters);
	if (a->base != NULL)
		s->ev_refresh = evtimer_new(a->base, azure_auth_refresh_due, s);
	TAILQ_INSERT_TAIL(&a->slots, s, entry);
	return s;
}

static const char *
azure_auth_slot_valid(const struct azure_auth_slot *s)
{
	if (s->tok.token == NULL ||
	    s->tok.exp - azure_auth_now() < AZURE_AUTH_MIN_VALID)
		return NULL;
	return s->tok.token;
}

const char *
azure_auth_token_cached(struct azure_auth *a, const char *scope)
{
	if (scope == NULL)
		return NULL;
	return azure_auth_slot_valid(azure_auth_slot(a, scope));
}

void
azure_auth_forget(struct azure_auth *a, const char *scope)
{
	struct azure_auth_slot *s;

	TAILQ_FOREACH(s, &a->slots, entry) {
		if (strcmp(scope, s->scope) != 0)
			continue;
		if (s->tok.token != NULL)
			log_info("azure: the token for %s was refused (HTTP "
				 "401): a new one is fetched for the next call",
			    scope);
		azure_auth_flow_tok_clear(&s->tok);
		if (s->ev_refresh != NULL)
			evtimer_del(s->ev_refresh);
		return;
	}
}

static void
azure_auth_schedule(struct azure_auth_slot *s, int64_t in)
{
	struct timeval tv;

	if (s->ev_refresh == NULL)
		return;
	tv.tv_sec = (time_t)(in > 1 ? in : 1);
	tv.tv_usec = 0;
	evtimer_add(s->ev_refresh, &tv);
}

static void
azure_auth_store(struct azure_auth_slot *s, struct azure_tok *t)
{
	int64_t left, in;

	azure_auth_flow_tok_clear(&s->tok);
	s->tok = *t;
	memset(t, 0, sizeof(*t));
	left = s->tok.exp - azure_auth_now();
	in = left - AZURE_AUTH_REFRESH_AHEAD;
	if (in < 1) /* a short-lived token: halfway through its life */
		in = left / 2;
	azure_auth_schedule(s, in);
}

/* One request and its answer, blocking. */
static int
azure_auth_fetch_sync(
    struct azure_auth *a, const char *scope, struct azure_tok *t, struct err *e)
{
	char *what = NULL;
	struct httpcli_req *r = azure_auth_flow_req(&a->cred, scope, &what, e);
	struct httpcli_resp *resp;
	int rc;

	if (r == NULL)
		return -1;
	resp = httpcli_perform(r);
	rc = azure_auth_flow_resp(&a->cred, what, resp, t, e);
	httpcli_resp_free(resp);
	free(what);
	return rc;
}

int
azure_auth_token_sync(
    struct azure_auth *a, const char *scope, char **token, struct err *e)
{
	struct azure_auth_slot *s;
	struct azure_tok t = { 0 };

	*token = NULL;
	if (scope == NULL || *scope == '\0')
		return err_set(e, 500, "an Azure token needs a scope");
	s = azure_auth_slot(a, scope);
	if (azure_auth_slot_valid(s) == NULL) {
		if (azure_auth_fetch_sync(a, scope, &t, e) == -1) {
			azure_auth_flow_tok_clear(&t);
			return err_wrap(e,
			    "getting an Azure token for %s from %s", scope,
			    a->source);
		}
		azure_auth_store(s, &t);
	}
	*token = xstrdup(s->tok.token);
	return 0;
}

/* --- the event-driven fetch --- */

static void
azure_auth_finish(struct azure_auth_slot *s, const struct err *e)
{
	s->fetching = 0;
	s->http_id = 0;
	if (e != NULL && TAILQ_EMPTY(&s->waiters))
		log_warnx(
		    "azure: refreshing the token for %s: %s", s->scope, e->msg);
	cloud_tokq_finish(
	    &s->a->q, &s->waiters, e == NULL ? s->tok.token : NULL, e);
	/* A failed refresh retries while the old token still works. */
	if (e != NULL && s->tok.token != NULL && s->tok.exp > azure_auth_now())
		azure_auth_schedule(s, 30);
}

static void
azure_auth_got(struct httpcli_resp *resp, void *arg)
{
	struct azure_auth_slot *s = arg;
	struct azure_tok t = { 0 };
	struct err e;

	s->http_id = 0;
	if (azure_auth_flow_resp(&s->a->cred, s->what, resp, &t, &e) == 0) {
		azure_auth_store(s, &t);
		azure_auth_finish(s, NULL);
		return;
	}
	azure_auth_flow_tok_clear(&t);
	err_wrap(&e, "getting an Azure token for %s from %s", s->scope,
	    s->a->source);
	azure_auth_finish(s, &e);
}

static void
azure_auth_fetch(struct azure_auth_slot *s)
{
	struct httpcli_req *r;
	struct err e;

	if (s->fetching)
		return;
	s->fetching = 1;
	free(s->what);
	if ((r = azure_auth_flow_req(&s->a->cred, s->scope, &s->what, &e)) ==
	    NULL) {
		err_wrap(&e, "getting an Azure token for %s from %s", s->scope,
		    s->a->source);
		azure_auth_finish(s, &e);
		return;
	}
	s->http_id = httpcli_send(s->a->http, r, azure_auth_got, s);
}

static void
azure_auth_refresh_due(evutil_socket_t fd, short ev, void *arg)
{
	(void)fd;
	(void)ev;
	azure_auth_fetch(arg);
}

uint64_t
azure_auth_token(
    struct azure_auth *a, const char *scope, azure_token_cb cb, void *arg)
{
	struct azure_auth_slot *s;
	struct err e;
	uint64_t id;

	if (scope == NULL || *scope == '\0') {
		err_set(&e, 500, "an Azure token needs a scope");
		return cloud_tokq_now(&a->q, cb, arg, NULL, &e);
	}
	s = azure_auth_slot(a, scope);
	if (azure_auth_slot_valid(s) != NULL)
		return cloud_tokq_now(&a->q, cb, arg, s->tok.token, NULL);
	id = cloud_tokq_wait(&a->q, &s->waiters, cb, arg);
	azure_auth_fetch(s);
	return id;
}

void
azure_auth_cancel(struct azure_auth *a, uint64_t id)
{
	struct azure_auth_slot *s;

	if (a == NULL || cloud_tokq_drop(&a->q, NULL, id))
		return;
	TAILQ_FOREACH(s, &a->slots, entry) {
		if (cloud_tokq_drop(&a->q, &s->waiters, id))
			return;
	}
}
