/* The provider-neutral cloud call core; see cloud.h. A call is linked
 * into the list of calls in flight before its request is sent, and its
 * callback runs from an event of its own that the transport's completion
 * only queues: so a transport that completes early (a request that could
 * not even be signed) can never run a callback under the feet of the code
 * that started the call, and a cancel reaches a completion that is
 * already queued. */
#include <sys/queue.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "sockerless/cloud.h"
#include "sockerless/httpcli.h"
#include "sockerless/log.h"
#include "sockerless/str.h"
#include "sockerless/xmalloc.h"

struct cloud_call {
	TAILQ_ENTRY(cloud_call) entry;
	struct cloud *c;
	uint64_t id;
	uint64_t http_id; /* 0 once the answer is in */
	char *service, *op;
	int raw;
	void *data;
	void (*data_free)(void *);
	cloud_cb cb;
	void *arg;
	struct httpcli_resp *resp; /* the answer, waiting for done_ev */
	struct event *done_ev;
};

TAILQ_HEAD(cloud_calls, cloud_call);

struct cloud {
	struct event_base *base;
	struct httpcli *http;
	const struct cloud_provider *p;
	void *ctx;
	uint64_t next_id;
	size_t n;
	struct cloud_calls calls;
};

struct cloud *
cloud_new(struct event_base *base, struct httpcli *http,
    const struct cloud_provider *p, void *ctx)
{
	struct cloud *c = xcalloc(1, sizeof(*c));

	c->base = base;
	c->http = http;
	c->p = p;
	c->ctx = ctx;
	TAILQ_INIT(&c->calls);
	return c;
}

static void
cloud_call_free(struct cloud_call *k)
{
	if (k->done_ev != NULL)
		event_free(k->done_ev);
	httpcli_resp_free(k->resp);
	if (k->data_free != NULL)
		k->data_free(k->data);
	free(k->service);
	free(k->op);
	free(k);
}

void
cloud_free(struct cloud *c)
{
	if (c == NULL)
		return;
	cloud_cancel_all(c);
	free(c);
}

size_t
cloud_inflight(const struct cloud *c)
{
	return c->n;
}

/* --- errors --- */

static int
cloud_errmap_match(const struct cloud_errmap *m, const struct cloud_error *ce)
{
	if (m->status_min != 0 &&
	    (ce->http_status < m->status_min ||
		ce->http_status > m->status_max))
		return 0;
	if (m->suffix)
		return str_suffix(ce->code, m->code);
	return strcmp(ce->code, m->code) == 0;
}

/* The provider's row for ce, or CLOUD_ERR_NONE. */
static enum cloud_err_kind
cloud_errmap_find(const struct cloud_provider *p, const struct cloud_error *ce)
{
	if (p == NULL || p->errors == NULL)
		return CLOUD_ERR_NONE;
	for (const struct cloud_errmap *m = p->errors; m->code != NULL; m++)
		if (cloud_errmap_match(m, ce))
			return m->kind;
	return CLOUD_ERR_NONE;
}

void
cloud_error_classify(const struct cloud_provider *p, struct cloud_error *ce)
{
	ce->throttled = ce->http_status == 429 ||
	    cloud_errmap_find(p, ce) == CLOUD_ERR_THROTTLED;
}

enum cloud_err_kind
cloud_error_kind(const struct cloud_provider *p, const struct cloud_error *ce)
{
	enum cloud_err_kind k;

	if (ce->http_status == 0)
		return CLOUD_ERR_UNREACHABLE;
	if (ce->throttled || ce->http_status == 429)
		return CLOUD_ERR_THROTTLED;
	/* A 404 is not found whatever the code says. */
	if (ce->http_status == 404)
		return CLOUD_ERR_NOT_FOUND;
	if ((k = cloud_errmap_find(p, ce)) != CLOUD_ERR_NONE)
		return k;
	return ce->http_status >= 500 ? CLOUD_ERR_SERVER : CLOUD_ERR_REJECTED;
}

void
cloud_error_to_err(
    const struct cloud_provider *p, const struct cloud_error *ce, struct err *e)
{
	char rid[160] = "";
	const char *code = ce->code, *msg = ce->message;

	if (ce->request_id[0] != '\0')
		snprintf(rid, sizeof(rid), " (request id %s)", ce->request_id);
	switch (cloud_error_kind(p, ce)) {
	case CLOUD_ERR_UNREACHABLE:
		err_set(e, 502, "cloud unreachable: %s%s", msg, rid);
		break;
	case CLOUD_ERR_THROTTLED:
		err_set(e, 503, "cloud throttled the request: %s: %s%s", code,
		    msg, rid);
		break;
	case CLOUD_ERR_NOT_FOUND:
		err_set(e, 404, "%s: %s%s", code, msg, rid);
		break;
	case CLOUD_ERR_INVALID:
		err_set(e, 400, "%s: %s%s", code, msg, rid);
		break;
	case CLOUD_ERR_CONFLICT:
		err_set(e, 409, "%s: %s%s", code, msg, rid);
		break;
	case CLOUD_ERR_SERVER:
		err_set(e, 502, "cloud error: %s: %s%s", code, msg, rid);
		break;
	case CLOUD_ERR_NONE:
	case CLOUD_ERR_REJECTED:
		err_set(e, 500, "cloud rejected the request: %s: %s%s", code,
		    msg, rid);
		break;
	}
}

/* Reads a response that is not 2xx into ce. */
static void
cloud_parse_error(const struct cloud_provider *p,
    const struct httpcli_resp *resp, const char *rid, struct cloud_error *ce)
{
	memset(ce, 0, sizeof(*ce));
	ce->http_status = resp->status;
	if (rid != NULL)
		str_lcpy(ce->request_id, rid, sizeof(ce->request_id));
	p->parse_error(resp, ce);
	cloud_error_classify(p, ce);
}

int
cloud_retry_response(
    const struct cloud_provider *p, const struct httpcli_resp *resp)
{
	struct cloud_error ce;

	/* httpcli retries 429 and 5xx itself; some clouds say "throttled"
	 * with a 400. */
	if (resp->status < 400 || resp->status >= 500)
		return 0;
	cloud_parse_error(p, resp, NULL, &ce);
	return ce.throttled;
}

/* --- the attempt hooks --- */

static int
cloud_retry_if(const struct httpcli_resp *resp, void *arg)
{
	const struct cloud *c = arg;

	return cloud_retry_response(c->p, resp);
}

static long
cloud_retry_delay(const struct httpcli_resp *resp, void *arg)
{
	const struct cloud *c = arg;

	return c->p->retry_delay(resp);
}

static int
cloud_authorize(struct httpcli_req *r, void *arg, struct err *e)
{
	struct cloud_call *k = arg;

	return k->c->p->authorize(k->c->ctx, r, k->data, e);
}

/* A call record for spec s; the request stays in s. */
static struct cloud_call *
cloud_call_new(struct cloud *c, const struct cloud_call_spec *s)
{
	struct cloud_call *k = xcalloc(1, sizeof(*k));
	int attempts = s->attempts > 0 ? s->attempts : c->p->attempts;

	k->c = c;
	k->service = xstrdup(s->service);
	k->op = xstrdup(s->op);
	k->raw = s->raw;
	k->data = s->data;
	k->data_free = s->data_free;
	if (attempts > 0)
		httpcli_req_attempts(s->req, attempts);
	httpcli_req_on_attempt(s->req, cloud_authorize, k);
	httpcli_req_retry_if(s->req, cloud_retry_if, c);
	if (c->p->retry_delay != NULL)
		httpcli_req_retry_delay(s->req, cloud_retry_delay, c);
	return k;
}

/* Reads the answer into *out (2xx) or ce and logs the call. Returns 0 on
 * success. */
static int
cloud_result(const struct cloud_call *k, const struct httpcli_resp *resp,
    cJSON **out, struct cloud_error *ce)
{
	const char *rid = resp->status != 0 ? k->c->p->request_id(resp) : NULL;

	*out = NULL;
	memset(ce, 0, sizeof(*ce));
	if (resp->status == 0) {
		str_lcpy(ce->message, resp->error, sizeof(ce->message));
	} else if (resp->status >= 200 && resp->status <= 299) {
		*out = resp->body_len == 0 ?
		    cJSON_CreateObject() :
		    cJSON_ParseWithLength(resp->body, resp->body_len);
		/* A raw payload (Lambda Invoke) need not be JSON. */
		if (*out != NULL || k->raw) {
			log_cloud(k->service, k->op, resp->status,
			    resp->duration_ms, rid, NULL);
			return 0;
		}
		ce->http_status = resp->status;
		str_lcpy(ce->code, "InvalidResponse", sizeof(ce->code));
		str_lcpy(
		    ce->message, "response is not JSON", sizeof(ce->message));
		if (rid != NULL)
			str_lcpy(ce->request_id, rid, sizeof(ce->request_id));
	} else
		cloud_parse_error(k->c->p, resp, rid, ce);
	log_cloud(k->service, k->op, resp->status, resp->duration_ms, rid,
	    ce->code[0] != '\0' ? ce->code : ce->message);
	return -1;
}

/* --- asynchronous calls --- */

static void
cloud_done_ev(evutil_socket_t fd, short what, void *arg)
{
	struct cloud_call *k = arg;
	struct cloud *c = k->c;
	struct cloud_error ce;
	cJSON *out;

	(void)fd;
	(void)what;
	TAILQ_REMOVE(&c->calls, k, entry);
	c->n--;
	/* The callback may free c (a backend shutting down): k is off the
	 * list and c is not touched again. */
	if (cloud_result(k, k->resp, &out, &ce) == 0)
		k->cb(k->arg, k->resp, out, NULL);
	else
		k->cb(k->arg, k->resp, NULL, &ce);
	cJSON_Delete(out);
	cloud_call_free(k);
}

/* httpcli's completion: keep the answer and queue the callback. */
static void
cloud_http_done(struct httpcli_resp *resp, void *arg)
{
	struct cloud_call *k = arg;

	/* Move the answer out: httpcli frees what is left in resp. */
	k->resp = xmalloc(sizeof(*k->resp));
	*k->resp = *resp;
	strv_init(&resp->headers);
	resp->body = NULL;
	k->http_id = 0;
	k->done_ev = evtimer_new(k->c->base, cloud_done_ev, k);
	event_active(k->done_ev, EV_TIMEOUT, 1);
}

uint64_t
cloud_call(
    struct cloud *c, const struct cloud_call_spec *s, cloud_cb cb, void *arg)
{
	struct cloud_call *k;
	uint64_t hid;

	if (c->base == NULL || c->http == NULL)
		fatalx("%s: %s %s without an event loop", __func__, s->service,
		    s->op);
	k = cloud_call_new(c, s);
	k->id = ++c->next_id;
	k->cb = cb;
	k->arg = arg;
	/* Linked before the request leaves, whatever the transport does. */
	TAILQ_INSERT_TAIL(&c->calls, k, entry);
	c->n++;
	hid = httpcli_send(c->http, s->req, cloud_http_done, k);
	if (k->resp == NULL)
		k->http_id = hid;
	return k->id;
}

void
cloud_cancel(struct cloud *c, uint64_t id)
{
	struct cloud_call *k;

	TAILQ_FOREACH(k, &c->calls, entry) {
		if (k->id != id)
			continue;
		TAILQ_REMOVE(&c->calls, k, entry);
		c->n--;
		if (k->http_id != 0)
			httpcli_cancel(c->http, k->http_id);
		cloud_call_free(k); /* a queued completion goes with it */
		return;
	}
}

void
cloud_cancel_all(struct cloud *c)
{
	while (!TAILQ_EMPTY(&c->calls))
		cloud_cancel(c, TAILQ_FIRST(&c->calls)->id);
}

/* --- blocking calls --- */

int
cloud_call_sync(struct cloud *c, const struct cloud_call_spec *s, cJSON **out,
    struct err *e)
{
	struct cloud_call *k = cloud_call_new(c, s);
	struct httpcli_resp *resp;
	struct cloud_error ce;
	int rc;

	*out = NULL;
	resp = httpcli_perform(s->req);
	if ((rc = cloud_result(k, resp, out, &ce)) == -1) {
		cloud_error_to_err(c->p, &ce, e);
		if (e != NULL && ce.http_status != 0)
			err_set(e, e->status, "%s: %s", ce.code, ce.message);
	}
	httpcli_resp_free(resp);
	cloud_call_free(k);
	return rc;
}
