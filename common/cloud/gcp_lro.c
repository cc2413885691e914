/* Sequences of calls: long-running operations (the first call, then
 * :wait or GET polls with back-off until done) and lists followed through
 * nextPageToken. Each step is an ordinary gcp call, so the core's retries,
 * error mapping and deferred completion apply to it; a sequence has an
 * id of its own (GCP_SEQ_ID set) that cancels whichever step is on the
 * wire or waiting on its timer. */
#include <sys/queue.h>

#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "sockerless/buf.h"
#include "sockerless/gcp.h"
#include "sockerless/json.h"
#include "sockerless/log.h"
#include "sockerless/str.h"
#include "sockerless/xmalloc.h"

#include "gcp_int.h"

#define GCP_LRO_FIRST_MS 1000
#define GCP_LRO_MAX_MS	 10000
/* One :wait holds the request this long at most: below httpcli's 30 s
 * attempt timeout. */
#define GCP_LRO_WAIT_S 20
#define GCP_LIST_PAGES 100

struct gcp_seq {
	TAILQ_ENTRY(gcp_seq) entry;
	struct gcp *g;
	uint64_t id;
	uint64_t call; /* the step on the wire, 0 when none */
	struct event *timer;
	char *svc, *op;
	gcp_cb cb;
	void *arg;
	void (*arg_free)(void *); /* gcp_list_owned: after cb, or on cancel */
	/* operations */
	void (*first)(void *arg, const cJSON *operation);
	char *version; /* "v2": the operation's path prefix */
	char *name;    /* the operation's name once known */
	int64_t deadline_ns;
	long delay_ms;
	int64_t wait_until_ns; /* when the :wait on the wire times out */
	/* lists */
	char *method, *path, *query, *items;
	cJSON *body; /* a POST's body, pageToken set per page */
	cJSON *acc;  /* {"<items>": [...]} */
	int pages, max_pages;
};

static struct gcp_seq *
gcp_seq_new(
    struct gcp *g, const char *svc, const char *op, gcp_cb cb, void *arg)
{
	struct gcp_seq *q = xcalloc(1, sizeof(*q));

	q->g = g;
	q->id = GCP_SEQ_ID | ++g->next_seq;
	q->svc = xstrdup(svc);
	q->op = xstrdup(op);
	q->cb = cb;
	q->arg = arg;
	TAILQ_INSERT_TAIL(&g->seqs, q, entry);
	return q;
}

static struct gcp_seq *
gcp_seq_find(struct gcp *g, uint64_t id)
{
	struct gcp_seq *q;

	TAILQ_FOREACH(q, &g->seqs, entry)
		if (q->id == id)
			return q;
	return NULL;
}

/* Unlinks and frees q, cancelling its step, with the caller's arg when
 * the sequence owns it. */
static void
gcp_seq_free(struct gcp_seq *q)
{
	TAILQ_REMOVE(&q->g->seqs, q, entry);
	if (q->call != 0)
		cloud_cancel(q->g->core, q->call);
	if (q->arg_free != NULL)
		q->arg_free(q->arg);
	if (q->timer != NULL)
		event_free(q->timer);
	free(q->svc);
	free(q->op);
	free(q->version);
	free(q->name);
	free(q->method);
	free(q->path);
	free(q->query);
	free(q->items);
	cJSON_Delete(q->body);
	cJSON_Delete(q->acc);
	free(q);
}

void
gcp_seq_cancel(struct gcp *g, uint64_t id)
{
	struct gcp_seq *q = gcp_seq_find(g, id);

	if (q != NULL)
		gcp_seq_free(q);
}

void
gcp_lro_cancel(struct gcp *g, uint64_t id)
{
	gcp_seq_cancel(g, id);
}

void
gcp_seq_free_all(struct gcp *g)
{
	struct gcp_seq *q, *next;

	for (q = TAILQ_FIRST(&g->seqs); q != NULL; q = next) {
		next = TAILQ_NEXT(q, entry);
		gcp_seq_free(q);
	}
}

/* Ends q with out or ce: q is freed before the callback, which may free
 * g itself; an owned arg after it. */
static void
gcp_seq_end(struct gcp_seq *q, const cJSON *out, const struct cloud_error *ce)
{
	gcp_cb cb = q->cb;
	void *arg = q->arg;
	void (*arg_free)(void *) = q->arg_free;
	cJSON *keep = out != NULL ? cJSON_Duplicate(out, 1) : NULL;

	q->call = 0;
	q->arg_free = NULL;
	gcp_seq_free(q);
	cb(arg, keep, ce);
	cJSON_Delete(keep);
	if (arg_free != NULL)
		arg_free(arg);
}

static void
gcp_seq_fail(struct gcp_seq *q, int status, const char *code, const char *msg)
{
	struct cloud_error ce;

	memset(&ce, 0, sizeof(ce));
	ce.http_status = status;
	str_lcpy(ce.code, code, sizeof(ce.code));
	str_lcpy(ce.message, msg, sizeof(ce.message));
	gcp_seq_end(q, NULL, &ce);
}

/* --- operations --- */

static void gcp_lro_answer(
    void *arg, const cJSON *out, const struct cloud_error *ce);

static int
gcp_lro_waits(const struct gcp_seq *q)
{
	return strcmp(q->svc, "run") == 0;
}

/* The next poll: POST <name>:wait or GET <name>. */
static void
gcp_lro_poll(evutil_socket_t fd, short what, void *arg)
{
	struct gcp_seq *q = arg;
	int64_t left = (q->deadline_ns - str_now_ns()) / 1000000000;
	char *path = xasprintf(
	    "%s/%s%s", q->version, q->name, gcp_lro_waits(q) ? ":wait" : "");
	cJSON *body = NULL;
	char dur[32];

	(void)fd;
	(void)what;
	if (gcp_lro_waits(q)) {
		if (left < 1)
			left = 1;
		if (left > GCP_LRO_WAIT_S)
			left = GCP_LRO_WAIT_S;
		gcp_duration(dur, sizeof(dur), left);
		/* A 1 s wait tells nothing about the server waiting. */
		q->wait_until_ns =
		    left >= 2 ? str_now_ns() + left * 1000000000 : 0;
		body = cJSON_CreateObject();
		json_add_str(body, "timeout", dur);
	}
	q->call = gcp_call(q->g, q->svc,
	    body != NULL ? "operations.wait" : "operations.get",
	    body != NULL ? "POST" : "GET", path, NULL, body, 0, gcp_lro_answer,
	    q);
	free(path);
}

/* Schedules the next poll after the back-off (a :wait's first poll goes
 * at once: the server itself waits). A :wait that ran to its timeout is
 * followed by the next at once, or a done operation could go unnoticed
 * for a back-off; one that came back early (a server that does not
 * wait) by the back-off. */
static void
gcp_lro_schedule(struct gcp_seq *q)
{
	long ms = q->delay_ms;
	struct timeval tv;

	if (q->wait_until_ns != 0 &&
	    str_now_ns() >= q->wait_until_ns - 1000000000)
		ms = 0;
	else if (q->delay_ms == 0)
		q->delay_ms = GCP_LRO_FIRST_MS;
	else if ((q->delay_ms *= 2) > GCP_LRO_MAX_MS)
		q->delay_ms = GCP_LRO_MAX_MS;
	q->wait_until_ns = 0;
	if (q->deadline_ns - str_now_ns() < (int64_t)ms * 1000000)
		ms = (long)((q->deadline_ns - str_now_ns()) / 1000000);
	if (ms < 0)
		ms = 0;
	tv.tv_sec = ms / 1000;
	tv.tv_usec = (ms % 1000) * 1000;
	if (q->timer == NULL)
		q->timer = evtimer_new(q->g->base, gcp_lro_poll, q);
	evtimer_add(q->timer, &tv);
}

/* A done operation: its response (or the operation), or its error. */
static void
gcp_lro_done(struct gcp_seq *q, const cJSON *out)
{
	const cJSON *er = cJSON_GetObjectItemCaseSensitive(out, "error");
	const cJSON *resp = json_obj(out, "response");
	struct cloud_error ce;

	if (er != NULL && !cJSON_IsNull(er)) {
		gcp_status_to_cloud(er, &ce);
		gcp_seq_end(q, NULL, &ce);
	} else
		gcp_seq_end(q, resp != NULL ? resp : out, NULL);
}

/* Whether q is still there after a callback that may have cancelled it. */
static int
gcp_lro_alive(struct gcp *g, uint64_t id)
{
	return gcp_seq_find(g, id) != NULL;
}

static void
gcp_lro_step(struct gcp_seq *q, const cJSON *out)
{
	const char *name = json_str(out, "name");
	char msg[256];

	if (json_bool(out, "done", 0)) {
		gcp_lro_done(q, out);
		return;
	}
	if (q->name == NULL) {
		if (name == NULL || *name == '\0') {
			gcp_seq_fail(q, 502, "InvalidResponse",
			    "the operation has no name to poll");
			return;
		}
		q->name = xstrdup(name);
	}
	if (str_now_ns() >= q->deadline_ns) {
		snprintf(msg, sizeof(msg),
		    "operation %s was not done within its time limit", q->name);
		gcp_seq_fail(q, 504, "DEADLINE_EXCEEDED", msg);
		return;
	}
	gcp_lro_schedule(q);
}

/* A cancelled sequence cancels its step, so this only runs for a live
 * one. */
static void
gcp_lro_answer(void *arg, const cJSON *out, const struct cloud_error *ce)
{
	struct gcp_seq *q = arg;
	struct gcp *g = q->g;
	uint64_t id = q->id;

	q->call = 0;
	if (ce != NULL) {
		gcp_seq_end(q, NULL, ce);
		return;
	}
	if (!cJSON_IsObject(out)) {
		gcp_seq_fail(q, 502, "InvalidResponse",
		    "the operation answer is not a JSON object");
		return;
	}
	if (q->first != NULL) {
		void (*first)(void *, const cJSON *) = q->first;

		q->first = NULL;
		first(q->arg, out);
		/* first may have cancelled the sequence, or freed g. */
		if (!gcp_lro_alive(g, id))
			return;
	}
	gcp_lro_step(q, out);
}

/* "v2" of "v2/projects/...": where the operation's name is served. */
static char *
gcp_lro_version(const char *path)
{
	while (*path == '/')
		path++;
	return xstrndup(path, strcspn(path, "/"));
}

uint64_t
gcp_lro(struct gcp *g, const char *svc, const char *op, const char *method,
    const char *path, const char *query, cJSON *body, int timeout_s,
    void (*first)(void *arg, const cJSON *operation), gcp_cb cb, void *arg)
{
	struct gcp_seq *q = gcp_seq_new(g, svc, op, cb, arg);

	q->first = first;
	q->version = gcp_lro_version(path);
	q->deadline_ns = str_now_ns() +
	    (int64_t)(timeout_s > 0 ? timeout_s : 1) * 1000000000;
	/* A :wait answers as soon as the operation is done; GET polls
	 * start after the back-off. */
	q->delay_ms = gcp_lro_waits(q) ? 0 : GCP_LRO_FIRST_MS;
	q->call = gcp_call(
	    g, svc, op, method, path, query, body, 0, gcp_lro_answer, q);
	return q->id;
}

/* --- lists --- */

static void gcp_list_page(struct gcp_seq *q, const char *token);

/* token %-encoded for a query (page tokens are opaque base64-ish). */
static char *
gcp_list_query(const char *query, const char *token)
{
	struct buf b;

	buf_init(&b, 0);
	if (query != NULL && *query != '\0')
		buf_addf(&b, "%s&", query);
	buf_adds(&b, "pageToken=");
	for (const char *p = token; *p != '\0'; p++) {
		if (isalnum((unsigned char)*p) || strchr("-_.~", *p) != NULL)
			buf_add(&b, p, 1);
		else
			buf_addf(&b, "%%%02X", (unsigned char)*p);
	}
	return buf_take(&b, NULL);
}

int
gcp_list_merge(cJSON *acc, const char *items, const cJSON *page,
    const char **next, struct cloud_error *ce)
{
	const cJSON *arr = cJSON_GetObjectItemCaseSensitive(page, items), *it;
	cJSON *dst = json_arr(acc, items);

	*next = NULL;
	if (!cJSON_IsObject(page) || (arr != NULL && !cJSON_IsArray(arr)) ||
	    dst == NULL) {
		memset(ce, 0, sizeof(*ce));
		ce->http_status = 502;
		str_lcpy(ce->code, "InvalidResponse", sizeof(ce->code));
		snprintf(ce->message, sizeof(ce->message),
		    "a list page is not an object with an array of %s", items);
		return -1;
	}
	cJSON_ArrayForEach(it, arr)
		cJSON_AddItemToArray(dst, cJSON_Duplicate(it, 1));
	if ((*next = json_str(page, "nextPageToken")) != NULL && **next == '\0')
		*next = NULL;
	return 0;
}

static void
gcp_list_answer(void *arg, const cJSON *out, const struct cloud_error *ce)
{
	struct gcp_seq *q = arg;
	struct cloud_error bad;
	const char *next;

	q->call = 0;
	if (ce != NULL) {
		gcp_seq_end(q, NULL, ce);
		return;
	}
	if (gcp_list_merge(q->acc, q->items, out, &next, &bad) == -1) {
		gcp_seq_end(q, NULL, &bad);
		return;
	}
	if (next == NULL) {
		gcp_seq_end(q, q->acc, NULL);
		return;
	}
	if (++q->pages >= q->max_pages) {
		log_warnx("%s %s: more than %d pages; the rest is not read",
		    q->svc, q->op, q->max_pages);
		gcp_seq_end(q, q->acc, NULL);
		return;
	}
	gcp_list_page(q, next);
}

/* Sends the page at token (NULL: the first). */
static void
gcp_list_page(struct gcp_seq *q, const char *token)
{
	cJSON *body = q->body != NULL ? cJSON_Duplicate(q->body, 1) : NULL;
	char *query = NULL;

	if (token != NULL && body != NULL)
		json_set(body, "pageToken", cJSON_CreateString(token));
	else if (token != NULL)
		query = gcp_list_query(q->query, token);
	q->call = gcp_call(q->g, q->svc, q->op, q->method, q->path,
	    query != NULL ? query : q->query, body, 0, gcp_list_answer, q);
	free(query);
}

uint64_t
gcp_list_owned(struct gcp *g, const char *svc, const char *op,
    const char *method, const char *path, const char *query, cJSON *body,
    const char *items, int max_pages, gcp_cb cb, void *arg,
    void (*arg_free)(void *))
{
	struct gcp_seq *q = gcp_seq_new(g, svc, op, cb, arg);

	q->arg_free = arg_free;
	q->method = xstrdup(method);
	q->path = xstrdup(path);
	q->query = query != NULL ? xstrdup(query) : NULL;
	q->items = xstrdup(items);
	q->body = body;
	q->max_pages = max_pages > 0 ? max_pages : GCP_LIST_PAGES;
	q->acc = cJSON_CreateObject();
	cJSON_AddItemToObject(q->acc, items, cJSON_CreateArray());
	/* A GET's pageToken goes in the query, a POST's in its body. */
	if (q->body == NULL && strcmp(method, "GET") != 0)
		q->body = cJSON_CreateObject();
	gcp_list_page(q, NULL);
	return q->id;
}

uint64_t
gcp_list(struct gcp *g, const char *svc, const char *op, const char *method,
    const char *path, const char *query, cJSON *body, const char *items,
    int max_pages, gcp_cb cb, void *arg)
{
	return gcp_list_owned(g, svc, op, method, path, query, body, items,
	    max_pages, cb, arg, NULL);
}
