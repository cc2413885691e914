/* Sequences of ARM calls: long-running operations (the first call, then
 * Azure-AsyncOperation, Location or provisioningState polls with
 * Retry-After between them) and lists followed through nextLink. Each
 * step is an ordinary call on the core, so its retries, error mapping and
 * deferred completion apply; a sequence has an id of its own
 * (AZURE_SEQ_ID set) that cancels whichever step is on the wire or
 * waiting on its timer. CLOUD-WIRE.md 3.2 and azure-core's ARMPolling
 * (OperationResourcePolling, LocationPolling, BodyContentPolling, in
 * that order). */
#include <sys/queue.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <event2/event.h>

#include "sockerless/azure.h"
#include "sockerless/azure_auth.h"
#include "sockerless/httpcli.h"
#include "sockerless/json.h"
#include "sockerless/log.h"
#include "sockerless/str.h"
#include "sockerless/xmalloc.h"

#include "azure_arm_int.h"
#include "azure_int.h"

#define AZURE_LRO_DEFAULT_MS 2000
#define AZURE_LRO_MAX_MS     30000
#define AZURE_LIST_PAGES     100

enum azure_lro_mode {
	AZURE_LRO_ASYNC,    /* Azure-AsyncOperation status polls */
	AZURE_LRO_LOCATION, /* Location polls: 202 until 200/204 */
	AZURE_LRO_RESOURCE, /* GET path until provisioningState ends */
	AZURE_LRO_FINAL,    /* the final GET after an operation */
};

struct azure_seq {
	TAILQ_ENTRY(azure_seq) entry;
	struct azure *z;
	uint64_t id;
	uint64_t call; /* the step on the wire, 0 when none */
	struct event *timer;
	char *op;
	azure_cb cb;
	void *arg;
	void (*arg_free)(void *); /* azure_list_owned: after cb, or on cancel */
	/* operations */
	void (*first)(void *arg, const cJSON *answer);
	char *path, *api_version;
	char *poll_url;
	/* A POST's Location next to its Azure-AsyncOperation: where the
	 * result is read once the operation has succeeded (azure-core's
	 * final GET for a POST). */
	char *result_url;
	enum azure_lro_mode mode;
	int final_get, timeout_s;
	int post; /* the operation is a POST */
	int64_t deadline_ns;
	long delay_ms;
	/* lists */
	cJSON *acc; /* {"value": [...]} */
	int pages, max_pages;
};

static struct azure_seq *
azure_seq_new(struct azure *z, const char *op, azure_cb cb, void *arg)
{
	struct azure_seq *q = xcalloc(1, sizeof(*q));

	q->z = z;
	q->id = AZURE_SEQ_ID | ++z->next_seq;
	q->op = xstrdup(op);
	q->cb = cb;
	q->arg = arg;
	TAILQ_INSERT_TAIL(&z->seqs, q, entry);
	return q;
}

static struct azure_seq *
azure_seq_find(struct azure *z, uint64_t id)
{
	struct azure_seq *q;

	TAILQ_FOREACH(q, &z->seqs, entry)
		if (q->id == id)
			return q;
	return NULL;
}

/* Unlinks and frees q, cancelling its step, with the caller's arg when
 * the sequence owns it. */
static void
azure_seq_free(struct azure_seq *q)
{
	TAILQ_REMOVE(&q->z->seqs, q, entry);
	if (q->call != 0)
		cloud_cancel(q->z->core, q->call);
	if (q->arg_free != NULL)
		q->arg_free(q->arg);
	if (q->timer != NULL)
		event_free(q->timer);
	free(q->op);
	free(q->path);
	free(q->api_version);
	free(q->poll_url);
	free(q->result_url);
	cJSON_Delete(q->acc);
	free(q);
}

void
azure_seq_cancel(struct azure *z, uint64_t id)
{
	struct azure_seq *q = azure_seq_find(z, id);

	if (q != NULL)
		azure_seq_free(q);
}

void
azure_seq_free_all(struct azure *z)
{
	struct azure_seq *q, *next;

	for (q = TAILQ_FIRST(&z->seqs); q != NULL; q = next) {
		next = TAILQ_NEXT(q, entry);
		azure_seq_free(q);
	}
}

/* Ends q with out or ce: q is freed before the callback, which may free
 * z itself; an owned arg after it. */
static void
azure_seq_end(
    struct azure_seq *q, const cJSON *out, const struct cloud_error *ce)
{
	azure_cb cb = q->cb;
	void *arg = q->arg;
	void (*arg_free)(void *) = q->arg_free;
	cJSON *keep = out != NULL ? cJSON_Duplicate(out, 1) : NULL;

	q->call = 0;
	q->arg_free = NULL;
	azure_seq_free(q);
	cb(arg, keep, ce);
	cJSON_Delete(keep);
	if (arg_free != NULL)
		arg_free(arg);
}

static void
azure_bad(struct cloud_error *ce, int status, const char *code, const char *msg)
{
	memset(ce, 0, sizeof(*ce));
	ce->http_status = status;
	str_lcpy(ce->code, code, sizeof(ce->code));
	str_lcpy(ce->message, msg, sizeof(ce->message));
}

static void
azure_seq_fail(
    struct azure_seq *q, int status, const char *code, const char *msg)
{
	struct cloud_error ce;

	azure_bad(&ce, status, code, msg);
	azure_seq_end(q, NULL, &ce);
}

/* Whether url is on the ARM endpoint's scheme, host and port: the
 * bearer token goes nowhere else, whatever an answer names. */
static int
azure_same_origin(const struct azure *z, const char *url)
{
	size_t n = strlen(z->ep_arm);

	return strncmp(url, z->ep_arm, n) == 0 &&
	    (url[n] == '/' || url[n] == '?' || url[n] == '\0');
}

/* The URL of a step: an answer's absolute URL if it is ARM's, a path on
 * ARM; NULL (ce says why) otherwise. */
static char *
azure_step_url(const struct azure *z, const char *link, struct cloud_error *ce)
{
	char msg[256];

	if (link[0] == '/')
		return azure_url(z, link, NULL, NULL);
	if (azure_url_absolute(link) && azure_same_origin(z, link))
		return xstrdup(link);
	snprintf(msg, sizeof(msg),
	    "the answer names a URL off the Resource Manager endpoint %s: "
	    "%.120s",
	    z->ep_arm, link);
	azure_bad(ce, 502, "InvalidResponse", msg);
	return NULL;
}

/* --- operation status --- */

static int
azure_terminal(const char *st, int *ok)
{
	*ok = strcasecmp(st, "Succeeded") == 0;
	return *ok || strcasecmp(st, "Failed") == 0 ||
	    strcasecmp(st, "Canceled") == 0 || strcasecmp(st, "Cancelled") == 0;
}

int
azure_op_status(const cJSON *body, int resource, struct cloud_error *ce)
{
	const cJSON *props = resource ? json_obj(body, "properties") : body;
	const cJSON *stj;
	const char *st;
	int ok;

	if (!cJSON_IsObject(body)) {
		azure_bad(ce, 502, "InvalidResponse",
		    "the operation's status is not a JSON object");
		return -1;
	}
	stj = cJSON_GetObjectItemCaseSensitive(
	    props, resource ? "provisioningState" : "status");
	/* A resource without a provisioningState has finished. */
	if (resource && stj == NULL)
		return 1;
	if (!cJSON_IsString(stj) || *(st = stj->valuestring) == '\0') {
		azure_bad(ce, 502, "InvalidResponse",
		    "the operation's status has no \"status\" string");
		return -1;
	}
	if (!azure_terminal(st, &ok))
		return 0;
	if (ok)
		return 1;
	/* Failed or Canceled: the operation's own error, else the state. */
	azure_error_to_cloud(json_obj(resource ? props : body, "error"),
	    strncasecmp(st, "Cancel", 6) == 0 ? 409 : 500,
	    strncasecmp(st, "Cancel", 6) == 0 ? "Canceled" : "Failed", ce);
	return -1;
}

/* --- operations --- */
/* Ends q with an operation's failure read from resp's body, with resp's
 * request ids: support traces the operation by them. */
static void
azure_lro_failed(struct azure_seq *q, const struct httpcli_resp *resp,
    struct cloud_error *ce)
{
	const char *rid = azure_request_id(resp);

	if (rid != NULL && ce->request_id[0] == '\0')
		str_lcpy(ce->request_id, rid, sizeof(ce->request_id));
	azure_seq_end(q, NULL, ce);
}

static void azure_lro_answer(void *arg, const struct httpcli_resp *resp,
    const cJSON *out, const struct cloud_error *ce);
static void azure_lro_final(void *arg, const struct httpcli_resp *resp,
    const cJSON *out, const struct cloud_error *ce);

static void
azure_lro_send(struct azure_seq *q, const char *url)
{
	const char *name = q->mode == AZURE_LRO_FINAL ? "final get" : "poll";
	char *op = xasprintf("%s %s", q->op, name);

	q->call = azure_call_req(q->z, AZURE_SCOPE_ARM, op,
	    azure_req_new("GET", url, NULL), 0, 1,
	    q->mode == AZURE_LRO_FINAL ? azure_lro_final : azure_lro_answer, q,
	    NULL);
	free(op);
}

/* The next poll, after the timer. */
static void
azure_lro_poll(evutil_socket_t fd, short what, void *arg)
{
	struct azure_seq *q = arg;
	char *url;

	(void)fd;
	(void)what;
	if (q->mode == AZURE_LRO_RESOURCE) {
		url = azure_url(q->z, q->path, q->api_version, NULL);
		azure_lro_send(q, url);
		free(url);
	} else
		azure_lro_send(q, q->poll_url);
}

/* Schedules the next poll after Retry-After (default 2 s, at most 30 s),
 * or fails q past its deadline. */
static void
azure_lro_schedule(struct azure_seq *q, const struct httpcli_resp *resp)
{
	long ms = azure_retry_after_ms(resp);
	int64_t left = q->deadline_ns - str_now_ns();
	struct timeval tv;
	char msg[256];

	if (left <= 0) {
		snprintf(msg, sizeof(msg),
		    "%s did not finish within %d s (Azure operation still "
		    "running)",
		    q->op, q->timeout_s);
		azure_seq_fail(q, 504, "OperationTimedOut", msg);
		return;
	}
	if (ms < 0)
		ms = AZURE_LRO_DEFAULT_MS;
	if (ms > AZURE_LRO_MAX_MS)
		ms = AZURE_LRO_MAX_MS;
	if (left < (int64_t)ms * 1000000)
		ms = (long)(left / 1000000);
	tv.tv_sec = ms / 1000;
	tv.tv_usec = (ms % 1000) * 1000;
	if (q->timer == NULL)
		q->timer = evtimer_new(q->z->base, azure_lro_poll, q);
	evtimer_add(q->timer, &tv);
}

/* The operation succeeded: the resource re-read for a PUT, a POST's
 * result at its Location, else what the operation answered. */
static void
azure_lro_succeeded(struct azure_seq *q, const cJSON *result)
{
	char *url;

	if (q->mode == AZURE_LRO_RESOURCE || q->mode == AZURE_LRO_FINAL) {
		azure_seq_end(q, result, NULL);
		return;
	}
	if (q->final_get) {
		q->mode = AZURE_LRO_FINAL;
		url = azure_url(q->z, q->path, q->api_version, NULL);
		azure_lro_send(q, url);
		free(url);
		return;
	}
	if (q->mode == AZURE_LRO_ASYNC && q->result_url != NULL) {
		q->mode = AZURE_LRO_FINAL;
		azure_lro_send(q, q->result_url);
		return;
	}
	azure_seq_end(q, result, NULL);
}

static void
azure_lro_async(
    struct azure_seq *q, const struct httpcli_resp *resp, const cJSON *out)
{
	struct cloud_error ce;

	switch (azure_op_status(out, 0, &ce)) {
	case 1:
		azure_lro_succeeded(q, json_obj(out, "properties"));
		break;
	case 0:
		azure_lro_schedule(q, resp);
		break;
	default:
		azure_lro_failed(q, resp, &ce);
	}
}

static void
azure_lro_location(
    struct azure_seq *q, const struct httpcli_resp *resp, const cJSON *out)
{
	const char *loc = httpcli_resp_header(resp, "Location");
	struct cloud_error ce;
	char *url;

	if (resp->status == 202) {
		/* A server may move the operation on. */
		if (loc != NULL && *loc != '\0') {
			if ((url = azure_step_url(q->z, loc, &ce)) == NULL) {
				azure_seq_end(q, NULL, &ce);
				return;
			}
			free(q->poll_url);
			q->poll_url = url;
		}
		azure_lro_schedule(q, resp);
		return;
	}
	if (out == NULL && resp->body_len > 0) {
		azure_seq_fail(q, 502, "InvalidResponse",
		    "the operation's result is not JSON");
		return;
	}
	if (resp->body_len == 0)
		azure_lro_succeeded(q, NULL);
	else {
		/* A result is what a PUT's final GET would read. */
		q->final_get = 0;
		azure_lro_succeeded(q, out);
	}
}

static void
azure_lro_resource(
    struct azure_seq *q, const struct httpcli_resp *resp, const cJSON *out)
{
	struct cloud_error ce;

	switch (azure_op_status(out, 1, &ce)) {
	case 1:
		azure_seq_end(q, out, NULL);
		break;
	case 0:
		azure_lro_schedule(q, resp);
		break;
	default:
		azure_lro_failed(q, resp, &ce);
	}
}

/* A poll's (or the final GET's) answer. A cancelled sequence cancels
 * its step, so this only runs for a live one. */
static void
azure_lro_answer(void *arg, const struct httpcli_resp *resp, const cJSON *out,
    const struct cloud_error *ce)
{
	struct azure_seq *q = arg;

	q->call = 0;
	if (ce != NULL) {
		azure_seq_end(q, NULL, ce);
		return;
	}
	if (q->mode == AZURE_LRO_LOCATION) {
		azure_lro_location(q, resp, out);
		return;
	}
	if (!cJSON_IsObject(out)) {
		azure_seq_fail(q, 502, "InvalidResponse",
		    "the operation's answer is not a JSON object");
		return;
	}
	if (q->mode == AZURE_LRO_ASYNC)
		azure_lro_async(q, resp, out);
	else if (q->mode == AZURE_LRO_RESOURCE)
		azure_lro_resource(q, resp, out);
	else
		azure_seq_end(q, out, NULL);
}

/* The final GET's answer: a body, or none. */
static void
azure_lro_final(void *arg, const struct httpcli_resp *resp, const cJSON *out,
    const struct cloud_error *ce)
{
	struct azure_seq *q = arg;

	q->call = 0;
	if (ce == NULL && resp->body_len == 0)
		azure_seq_end(q, NULL, NULL);
	else
		azure_lro_answer(arg, resp, out, ce);
}

/* Whether q is still there after a callback that may have cancelled it. */
static int
azure_lro_alive(struct azure *z, uint64_t id)
{
	return azure_seq_find(z, id) != NULL;
}

/* Picks how the operation is followed from its first answer; 1 when it
 * is already over (ended), 0 when a poll is scheduled. */
static int
azure_lro_mode(
    struct azure_seq *q, const struct httpcli_resp *resp, const cJSON *out)
{
	const char *aso = httpcli_resp_header(resp, "Azure-AsyncOperation");
	const char *loc = httpcli_resp_header(resp, "Location");
	const char *st =
	    json_str(json_obj(out, "properties"), "provisioningState");
	struct cloud_error ce;
	int ok;

	if ((aso != NULL && *aso != '\0') || (loc != NULL && *loc != '\0')) {
		q->mode = aso != NULL && *aso != '\0' ? AZURE_LRO_ASYNC :
							AZURE_LRO_LOCATION;
		q->poll_url = azure_step_url(
		    q->z, q->mode == AZURE_LRO_ASYNC ? aso : loc, &ce);
		if (q->poll_url != NULL && q->mode == AZURE_LRO_ASYNC &&
		    q->post && loc != NULL && *loc != '\0' &&
		    (q->result_url = azure_step_url(q->z, loc, &ce)) == NULL) {
			free(q->poll_url);
			q->poll_url = NULL;
		}
		if (q->poll_url == NULL) {
			azure_seq_end(q, NULL, &ce);
			return 1;
		}
		azure_lro_schedule(q, resp);
		return 0;
	}
	if ((resp->status == 200 || resp->status == 201) && st != NULL &&
	    !azure_terminal(st, &ok)) {
		q->mode = AZURE_LRO_RESOURCE;
		azure_lro_schedule(q, resp);
		return 0;
	}
	q->mode = AZURE_LRO_RESOURCE;
	azure_lro_resource(q, resp, out);
	return 1;
}

static void
azure_lro_first(void *arg, const struct httpcli_resp *resp, const cJSON *out,
    const struct cloud_error *ce)
{
	struct azure_seq *q = arg;
	struct azure *z = q->z;
	uint64_t id = q->id;
	const cJSON *body = resp->body_len > 0 ? out : NULL;

	q->call = 0;
	if (ce != NULL) {
		azure_seq_end(q, NULL, ce);
		return;
	}
	if (q->first != NULL) {
		void (*first)(void *, const cJSON *) = q->first;

		q->first = NULL;
		first(q->arg, body);
		/* first may have cancelled the sequence (it must not free
		 * the client: azure_free is for after a callback). */
		if (!azure_lro_alive(z, id))
			return;
	}
	if (body == NULL) {
		/* 202 or 204 without a body and without a URL: done. */
		if (httpcli_resp_header(resp, "Azure-AsyncOperation") == NULL &&
		    httpcli_resp_header(resp, "Location") == NULL) {
			azure_seq_end(q, NULL, NULL);
			return;
		}
	}
	(void)azure_lro_mode(q, resp, body);
}

uint64_t
azure_lro(struct azure *z, const char *op, const char *method, const char *path,
    const char *api_version, cJSON *body, int final_get, int timeout_s,
    void (*first)(void *arg, const cJSON *answer), azure_cb cb, void *arg)
{
	struct azure_seq *q = azure_seq_new(z, op, cb, arg);
	char *url = azure_url(z, path, api_version, NULL);

	q->first = first;
	q->path = xstrdup(path);
	q->api_version = api_version != NULL ? xstrdup(api_version) : NULL;
	q->final_get = final_get;
	q->post = strcmp(method, "POST") == 0;
	q->timeout_s = timeout_s > 0 ? timeout_s : 1;
	q->deadline_ns = str_now_ns() + (int64_t)q->timeout_s * 1000000000;
	q->call = azure_call_req(z, AZURE_SCOPE_ARM, op,
	    azure_req_new(method, url, body), 0, 0, azure_lro_first, q, NULL);
	free(url);
	return q->id;
}

/* --- lists --- */

int
azure_list_merge(
    cJSON *acc, const cJSON *page, const char **next, struct cloud_error *ce)
{
	const cJSON *arr = cJSON_GetObjectItemCaseSensitive(page, "value"), *it;
	const cJSON *nl = cJSON_GetObjectItemCaseSensitive(page, "nextLink");
	cJSON *dst = json_arr(acc, "value");

	*next = NULL;
	if (!cJSON_IsObject(page) || (arr != NULL && !cJSON_IsArray(arr)) ||
	    (nl != NULL && !cJSON_IsString(nl) && !cJSON_IsNull(nl)) ||
	    dst == NULL) {
		azure_bad(ce, 502, "InvalidResponse",
		    "a list page is not an object with a \"value\" array and "
		    "a \"nextLink\" string");
		return -1;
	}
	cJSON_ArrayForEach(it, arr)
		cJSON_AddItemToArray(dst, cJSON_Duplicate(it, 1));
	if (nl != NULL && cJSON_IsString(nl) && nl->valuestring[0] != '\0')
		*next = nl->valuestring;
	return 0;
}

static void azure_list_answer(
    void *arg, const cJSON *out, const struct cloud_error *ce);

static void
azure_list_page(struct azure_seq *q, const char *url)
{
	q->call = azure_call(
	    q->z, q->op, "GET", url, NULL, NULL, NULL, 0, azure_list_answer, q);
}

static void
azure_list_answer(void *arg, const cJSON *out, const struct cloud_error *ce)
{
	struct azure_seq *q = arg;
	struct cloud_error bad;
	const char *next;
	char *url;

	q->call = 0;
	if (ce != NULL) {
		azure_seq_end(q, NULL, ce);
		return;
	}
	if (azure_list_merge(q->acc, out, &next, &bad) == -1) {
		azure_seq_end(q, NULL, &bad);
		return;
	}
	if (next == NULL) {
		azure_seq_end(q, q->acc, NULL);
		return;
	}
	if (++q->pages >= q->max_pages) {
		log_warnx("azure %s: more than %d pages; the rest is not read",
		    q->op, q->max_pages);
		azure_seq_end(q, q->acc, NULL);
		return;
	}
	if ((url = azure_step_url(q->z, next, &bad)) == NULL) {
		azure_seq_end(q, NULL, &bad);
		return;
	}
	azure_list_page(q, url);
	free(url);
}

uint64_t
azure_list_owned(struct azure *z, const char *op, const char *path,
    const char *api_version, const char *query, int max_pages, azure_cb cb,
    void *arg, void (*arg_free)(void *))
{
	struct azure_seq *q = azure_seq_new(z, op, cb, arg);
	char *url = azure_url(z, path, api_version, query);

	q->arg_free = arg_free;
	q->max_pages = max_pages > 0 ? max_pages : AZURE_LIST_PAGES;
	q->acc = cJSON_CreateObject();
	cJSON_AddItemToObject(q->acc, "value", cJSON_CreateArray());
	azure_list_page(q, url);
	free(url);
	return q->id;
}

uint64_t
azure_list(struct azure *z, const char *op, const char *path,
    const char *api_version, const char *query, int max_pages, azure_cb cb,
    void *arg)
{
	return azure_list_owned(
	    z, op, path, api_version, query, max_pages, cb, arg, NULL);
}
