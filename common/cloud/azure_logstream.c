/* The log stream of azure.h (azure_logstream) and the work of
 * azure_logs.c that is not a core call: streams, and failures found before
 * anything was sent, delivered from the loop. Their ids carry
 * AZURE_LOGS_ID; azure.c hands them to the hooks set here (z->logs_cancel,
 * z->logs_free) on azure_cancel and azure_free.
 *
 * The stream (Interface A, CLOUD-WIRE.md 3.5): GET <the caller's URL>
 * ?follow=true&tailLines=N&output=json with the getAuthToken token as a
 * bearer; the answer is NDJSON, one {"TimeStamp", "Log", "Stream"?} per
 * line, for as long as the container runs. It is not a core call: its
 * token is the caller's, not an Entra token for a scope. */
#include <sys/queue.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cjson/cJSON.h>
#include <event2/event.h>

#include "sockerless/azure.h"
#include "sockerless/buf.h"
#include "sockerless/httpcli.h"
#include "sockerless/json.h"
#include "sockerless/log.h"
#include "sockerless/str.h"
#include "sockerless/xmalloc.h"

#include "azure_int.h"
#include "azure_logs_int.h"

/* The service answers at most this many past lines (az containerapp
 * logs show --tail: 0-300). */
#define STREAM_MAX_TAIL 300
/* A stream lasts as long as the container: a day bounds a forgotten one. */
#define STREAM_MS (24L * 3600 * 1000)

struct logs_op {
	TAILQ_ENTRY(logs_op) entry;
	struct azure *z;
	uint64_t id;	  /* with AZURE_LOGS_ID */
	uint64_t http_id; /* the stream's request, 0 once it ended */
	azure_logs_cb cb;
	void *arg;
	struct event *ev; /* a failure waiting for the loop */
	struct cloud_error ce;
	struct buf line; /* a stream's partial line */
	unsigned nlines; /* lines the stream has sent */
	int in_cb;	 /* the caller's callback runs */
	int dead;	 /* cancelled meanwhile: freed once it returns */
};

TAILQ_HEAD(logs_ops, logs_op);

struct logs_state {
	struct logs_ops ops;
	uint64_t next;
};

static void
logs_op_free(struct logs_op *op)
{
	if (op->ev != NULL)
		event_free(op->ev);
	buf_free(&op->line);
	free(op);
}

static void
logs_cancel(struct azure *z, uint64_t id)
{
	struct logs_state *st = z->logs;
	struct logs_op *op;

	TAILQ_FOREACH(op, &st->ops, entry) {
		if (op->id != id)
			continue;
		TAILQ_REMOVE(&st->ops, op, entry);
		if (op->http_id != 0)
			httpcli_cancel(z->http, op->http_id);
		/* Inside its own callback: the caller of that frees it. */
		if (op->in_cb)
			op->dead = 1;
		else
			logs_op_free(op);
		return;
	}
}

static void
logs_free(struct azure *z)
{
	struct logs_state *st = z->logs;

	while (!TAILQ_EMPTY(&st->ops))
		logs_cancel(z, TAILQ_FIRST(&st->ops)->id);
	free(st);
	z->logs = NULL;
}

static struct logs_op *
logs_op_new(struct azure *z, azure_logs_cb cb, void *arg)
{
	struct logs_state *st = z->logs;
	struct logs_op *op = xcalloc(1, sizeof(*op));

	if (st == NULL) {
		st = z->logs = xcalloc(1, sizeof(*st));
		TAILQ_INIT(&st->ops);
		z->logs_cancel = logs_cancel;
		z->logs_free = logs_free;
	}
	op->z = z;
	op->id = AZURE_LOGS_ID | ++st->next;
	op->cb = cb;
	op->arg = arg;
	buf_init(&op->line, AZURE_STREAM_MAX_LINE);
	TAILQ_INSERT_TAIL(&st->ops, op, entry);
	return op;
}

/* Runs the caller's callback; 1 when the op was cancelled from it (and
 * is now freed). */
static int
logs_op_cb(struct logs_op *op, const struct azure_log_entry *ev, size_t n,
    const struct cloud_error *ce)
{
	op->in_cb = 1;
	op->cb(op->arg, ev, n, NULL, 0, ce);
	op->in_cb = 0;
	if (op->dead) {
		logs_op_free(op);
		return 1;
	}
	return 0;
}

/* Ends op: off the list, the callback with ce (NULL: the end), freed. */
static void
logs_op_end(struct logs_op *op, const struct cloud_error *ce)
{
	struct logs_state *st = op->z->logs;

	TAILQ_REMOVE(&st->ops, op, entry);
	op->http_id = 0;
	op->dead = 1; /* a cancel from the callback finds nothing */
	op->in_cb = 1;
	op->cb(op->arg, NULL, 0, NULL, 0, ce);
	logs_op_free(op);
}

static void
logs_fail_ev(evutil_socket_t fd, short what, void *arg)
{
	struct logs_op *op = arg;

	(void)fd;
	(void)what;
	logs_op_end(op, &op->ce);
}

/* A failure found before anything was sent, delivered from the loop as
 * every other answer is. */
uint64_t
azure_logs_fail(
    struct azure *z, azure_logs_cb cb, void *arg, const struct cloud_error *ce)
{
	struct logs_op *op = logs_op_new(z, cb, arg);

	op->ce = *ce;
	op->ev = evtimer_new(z->base, logs_fail_ev, op);
	event_active(op->ev, EV_TIMEOUT, 1);
	return op->id;
}

/* --- the log stream ------------------------------------------------------- */

int
azure_stream_line(const char *line, size_t len, int64_t now_ns,
    struct azure_log_entry *ev, cJSON **keep)
{
	const char *log, *s, *t;
	cJSON *o;

	*keep = NULL;
	if (len == 0 || (len == 1 && line[0] == '\r'))
		return -1;
	memset(ev, 0, sizeof(*ev));
	ev->ts_ns = now_ns;
	ev->stream = 1;
	ev->text = line;
	ev->len = len;
	o = line[0] == '{' ? cJSON_ParseWithLength(line, len) : NULL;
	if ((log = json_str(o, "Log")) == NULL) {
		/* Not the JSON shape: the line is the text. */
		cJSON_Delete(o);
		return 0;
	}
	*keep = o;
	ev->text = log;
	ev->len = strlen(log);
	if (ev->len > 0 && log[ev->len - 1] == '\n')
		ev->len--;
	if ((t = json_str(o, "TimeStamp")) != NULL && azure_time_parse(t) >= 0)
		ev->ts_ns = azure_time_parse(t);
	if ((s = json_str(o, "Stream")) != NULL && strcasecmp(s, "stderr") == 0)
		ev->stream = 2;
	return 0;
}

/* Whether the stream's line number idx is one of the service's two
 * connection lines ("Connecting to the container 'main'...", then
 * "Successfully Connected to container: 'main' [Execution: ...]"): the
 * service's, not the workload's, so never handed out. Only the first two
 * lines are looked at, so a workload printing the same text later keeps
 * its line. */
static int
stream_intro(const struct azure_log_entry *ev, unsigned idx)
{
	static const char *const intro[] = { "Connecting to the container '",
		"Successfully Connected to container: '" };
	size_t n;

	if (idx >= 2)
		return 0;
	n = strlen(intro[idx]);
	return ev->len >= n && strncmp(ev->text, intro[idx], n) == 0;
}

/* One line to the caller; 1 when it cancelled the stream. */
static int
stream_emit(struct logs_op *op, const char *line, size_t len)
{
	struct azure_log_entry ev;
	cJSON *keep;
	int gone = 0;

	if (azure_stream_line(line, len, str_now_ns(), &ev, &keep) == -1)
		return 0;
	if (!stream_intro(&ev, op->nlines++))
		gone = logs_op_cb(op, &ev, 1, NULL);
	cJSON_Delete(keep);
	return gone;
}

/* httpcli's data hook: whole lines out, the rest kept (bounded: a line
 * past AZURE_STREAM_MAX_LINE goes out in pieces). */
static int
stream_data(void *arg, const void *p, size_t n)
{
	struct logs_op *op = arg;
	const char *s = p, *nl;

	while (n > 0) {
		size_t k, room = AZURE_STREAM_MAX_LINE - op->line.len;

		nl = memchr(s, '\n', n);
		k = nl != NULL ? (size_t)(nl - s) : n;
		if (k > room)
			k = room;
		buf_add(&op->line, s, k);
		s += k;
		n -= k;
		if (nl == NULL && op->line.len < AZURE_STREAM_MAX_LINE)
			break;
		if (n > 0 && *s == '\n') {
			s++;
			n--;
		}
		if (stream_emit(op, op->line.data != NULL ? op->line.data : "",
			op->line.len))
			return -1;
		buf_reset(&op->line);
	}
	return 0;
}

static void
stream_done(struct httpcli_resp *resp, void *arg)
{
	struct logs_op *op = arg;
	struct cloud_error ce;
	const char *rid;

	op->http_id = 0;
	if (resp->status >= 200 && resp->status <= 299) {
		/* The last line may lack its newline. */
		if (op->line.len > 0 &&
		    stream_emit(op, op->line.data, op->line.len))
			return;
		logs_op_end(op, NULL);
		return;
	}
	memset(&ce, 0, sizeof(ce));
	if (resp->status == 0)
		str_lcpy(ce.message, resp->error, sizeof(ce.message));
	else {
		azure_parse_error(resp->body, resp->body_len, &ce);
		ce.http_status = resp->status;
		ce.throttled = resp->status == 429;
		if ((rid = httpcli_resp_header(resp, "x-ms-request-id")) !=
		    NULL)
			str_lcpy(ce.request_id, rid, sizeof(ce.request_id));
	}
	/* The token is in a header, never in the URL: the URL may be
	 * logged. */
	log_warnx("azure: log stream: HTTP %d %s%s%s", resp->status, ce.code,
	    ce.code[0] != '\0' ? ": " : "", ce.message);
	logs_op_end(op, &ce);
}

uint64_t
azure_logstream(struct azure *z, const char *stream_url, const char *token,
    int tail, azure_logs_cb cb, void *arg)
{
	struct httpcli_req *req;
	struct logs_op *op;
	struct cloud_error ce;
	char *url, *auth;

	if (!str_prefix(stream_url, "https://") &&
	    !str_prefix(stream_url, "http://")) {
		azure_logs_error(&ce, 400, "InvalidStreamUrl",
		    "the log stream URL is not an http(s) URL: %s", stream_url);
		return azure_logs_fail(z, cb, arg, &ce);
	}
	if (tail < 0)
		tail = 0;
	if (tail > STREAM_MAX_TAIL)
		tail = STREAM_MAX_TAIL;
	url = xasprintf("%s%cfollow=true&tailLines=%d&output=json", stream_url,
	    strchr(stream_url, '?') != NULL ? '&' : '?', tail);
	req = httpcli_req_new("GET", url);
	free(url);
	auth = xasprintf("Bearer %s", token);
	httpcli_req_header(req, "Authorization", auth);
	explicit_bzero(auth, strlen(auth));
	free(auth);
	httpcli_req_attempts(req, 1);
	httpcli_req_timeouts(req, STREAM_MS, STREAM_MS);
	op = logs_op_new(z, cb, arg);
	httpcli_req_on_data(req, stream_data, op);
	op->http_id = httpcli_send(z->http, req, stream_done, op);
	return op->id;
}
