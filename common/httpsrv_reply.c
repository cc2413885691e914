/* The HTTP/1.1 server, the request API a handler calls: accessors,
 * replies, streamed replies and hijack. On httpsrv_conn.c. */
#include <sys/queue.h>

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>

#include "sockerless/httpsrv.h"
#include "sockerless/json.h"
#include "sockerless/log.h"
#include "sockerless/str.h"
#include "sockerless/xmalloc.h"

#include "httpsrv_int.h"

/* --- accessors --- */

const char *
httpsrv_req_method(const struct httpsrv_req *r)
{
	return r->method;
}

const char *
httpsrv_req_path(const struct httpsrv_req *r)
{
	return r->path;
}

const char *
httpsrv_req_target(const struct httpsrv_req *r)
{
	return r->target;
}

const char *
httpsrv_req_query(const struct httpsrv_req *r, const char *name)
{
	for (size_t i = 0; i < r->qnames.n; i++)
		if (strcmp(r->qnames.v[i], name) == 0)
			return r->qvalues.v[i];
	return NULL;
}

const char *
httpsrv_req_header(const struct httpsrv_req *r, const char *name)
{
	for (size_t i = 0; i < r->hnames.n; i++)
		if (strcasecmp(r->hnames.v[i], name) == 0)
			return r->hvalues.v[i];
	return NULL;
}

void
httpsrv_req_foreach_header(const struct httpsrv_req *r,
    void (*fn)(const char *, const char *, void *), void *arg)
{
	for (size_t i = 0; i < r->hnames.n; i++)
		fn(r->hnames.v[i], r->hvalues.v[i], arg);
}

const char *
httpsrv_req_body(const struct httpsrv_req *r, size_t *len)
{
	if (len != NULL)
		*len = r->body_len;
	return r->body != NULL ? r->body : "";
}

int
httpsrv_req_minor(const struct httpsrv_req *r)
{
	return r->minor;
}

const char *
httpsrv_req_peer(const struct httpsrv_req *r)
{
	return r->conn->peer;
}

void
httpsrv_req_set_data(struct httpsrv_req *r, void *data, void (*free_fn)(void *))
{
	r->data = data;
	r->data_free = free_fn;
}

void *
httpsrv_req_data(const struct httpsrv_req *r)
{
	return r->data;
}

void
httpsrv_req_on_close(
    struct httpsrv_req *r, void (*fn)(struct httpsrv_req *, void *), void *arg)
{
	r->on_close = fn;
	r->on_close_arg = arg;
}

/* --- replies --- */

void
httpsrv_add_header(struct httpsrv_req *r, const char *name, const char *value)
{
	strv_take(&r->out_headers, xasprintf("%s: %s", name, value));
}

/* A body at least this large is referenced by the connection's buffer,
 * not copied into it (httpsrv_reply_take): a copy of megabytes costs as
 * much as making them, most of it faulting in fresh pages. */
#define HTTPSRV_REF_MIN (64 * 1024)

static void
httpsrv_body_free(const void *data, size_t len, void *arg)
{
	(void)len;
	(void)arg;
	free((void *)(uintptr_t)data);
}

static void
httpsrv_reply_body(struct httpsrv_req *r, int status, const char *content_type,
    const void *body, size_t len, int take)
{
	struct httpsrv_conn *c = r->conn;
	struct evbuffer *out = bufferevent_get_output(r->conn->bev);
	char cl[64];
	int send = len > 0 && status != 204 && status != 304 &&
	    strcmp(r->method != NULL ? r->method : "", "HEAD") != 0;

	httpsrv_conn_batch_begin(c);
	if (status == 204 || status == 304)
		snprintf(cl, sizeof(cl), "%s", "");
	else
		snprintf(cl, sizeof(cl), "Content-Length: %zu\r\n", len);
	httpsrv_req_write_head(r, status,
	    status == 204 || status == 304 ? NULL : content_type, cl);
	if (send && take && len >= HTTPSRV_REF_MIN) {
		if (evbuffer_add_reference(
			out, body, len, httpsrv_body_free, NULL) == -1)
			fatalx("%s: evbuffer_add_reference", __func__);
		take = 0; /* the buffer frees it */
	} else if (send) {
		evbuffer_add(out, body, len);
	}
	if (take)
		free((void *)(uintptr_t)body);
	httpsrv_req_done(r);
	httpsrv_conn_batch_end(c);
}

void
httpsrv_reply_take(struct httpsrv_req *r, int status, const char *content_type,
    char *body, size_t len)
{
	httpsrv_reply_body(r, status, content_type, body, len, 1);
}

void
httpsrv_reply(struct httpsrv_req *r, int status, const char *content_type,
    const void *body, size_t len)
{
	httpsrv_reply_body(r, status, content_type, body, len, 0);
}

void
httpsrv_reply_json(struct httpsrv_req *r, int status, const cJSON *o)
{
	char *s = json_print(o);
	size_t n = strlen(s);

	s = xrealloc(s, n + 2);
	s[n++] = '\n';
	s[n] = '\0';
	httpsrv_reply_take(r, status, "application/json", s, n);
}

void
httpsrv_reply_error(struct httpsrv_req *r, int status, const char *fmt, ...)
{
	cJSON *o = cJSON_CreateObject();
	va_list ap;
	char *msg;

	va_start(ap, fmt);
	if (vasprintf(&msg, fmt, ap) == -1)
		msg = NULL;
	va_end(ap);
	json_add_str(o, "message", msg != NULL ? msg : "error");
	free(msg);
	httpsrv_reply_json(r, status, o);
	cJSON_Delete(o);
}

void
httpsrv_reply_err(struct httpsrv_req *r, const struct err *e)
{
	httpsrv_reply_error(
	    r, e->status >= 400 ? e->status : 500, "%s", e->msg);
}

void
httpsrv_reply_empty(struct httpsrv_req *r, int status)
{
	httpsrv_reply(r, status, NULL, NULL, 0);
}

void
httpsrv_stream_begin(
    struct httpsrv_req *r, int status, const char *content_type)
{
	if (r->minor == 1) {
		r->chunked_out = 1;
		httpsrv_req_write_head(
		    r, status, content_type, "Transfer-Encoding: chunked\r\n");
	} else {
		r->keepalive = 0;
		httpsrv_req_write_head(r, status, content_type, NULL);
	}
	r->state = REQ_STREAM;
}

void
httpsrv_stream_begin_len(
    struct httpsrv_req *r, int status, const char *content_type, size_t len)
{
	char cl[64];

	snprintf(cl, sizeof(cl), "Content-Length: %zu\r\n", len);
	httpsrv_req_write_head(r, status, content_type, cl);
	r->state = REQ_STREAM;
}

/* Queues a and b as one chunk. */
static int
req_stream_chunk(struct httpsrv_req *r, const void *a, size_t alen,
    const void *b, size_t blen)
{
	struct evbuffer *out = bufferevent_get_output(r->conn->bev);

	if (alen + blen == 0)
		return 0;
	if (r->chunked_out)
		evbuffer_add_printf(out, "%zx\r\n", alen + blen);
	evbuffer_add(out, a, alen);
	evbuffer_add(out, b, blen);
	if (r->chunked_out)
		evbuffer_add(out, "\r\n", 2);
	return 0;
}

int
httpsrv_stream_write(struct httpsrv_req *r, const void *p, size_t len)
{
	return req_stream_chunk(r, p, len, NULL, 0);
}

int
httpsrv_stream_move(struct httpsrv_req *r, struct evbuffer *from, size_t len)
{
	struct evbuffer *out = bufferevent_get_output(r->conn->bev);

	if (len == 0)
		return 0;
	if (len > INT_MAX || evbuffer_get_length(from) < len)
		return -1;
	if (r->chunked_out)
		evbuffer_add_printf(out, "%zx\r\n", len);
	evbuffer_remove_buffer(from, out, len);
	if (r->chunked_out)
		evbuffer_add(out, "\r\n", 2);
	return 0;
}

int
httpsrv_stream_line(struct httpsrv_req *r, const char *s, const char *eol)
{
	return req_stream_chunk(r, s, strlen(s), eol, strlen(eol));
}

size_t
httpsrv_stream_pending(const struct httpsrv_req *r)
{
	return evbuffer_get_length(bufferevent_get_output(r->conn->bev));
}

void
httpsrv_stream_on_drain(
    struct httpsrv_req *r, void (*fn)(struct httpsrv_req *, void *), void *arg)
{
	r->on_drain = fn;
	r->on_drain_arg = arg;
}

void
httpsrv_stream_end(struct httpsrv_req *r)
{
	if (r->chunked_out)
		evbuffer_add(
		    bufferevent_get_output(r->conn->bev), "0\r\n\r\n", 5);
	httpsrv_req_done(r);
}

void
httpsrv_stream_abort(struct httpsrv_req *r)
{
	/* What was relayed still reaches the client; then the connection
	 * closes without the terminating chunk, which a client reports as
	 * a broken reply (Go: "unexpected EOF") rather than a complete one. */
	r->keepalive = 0;
	r->chunked_out = 0;
	httpsrv_req_done(r);
}

struct bufferevent *
httpsrv_hijack(struct httpsrv_req *r, const char *content_type)
{
	struct httpsrv_conn *c = r->conn;
	struct bufferevent *bev = c->bev;
	const char *up = httpsrv_req_header(r, "Upgrade");
	const char *conn = httpsrv_req_header(r, "Connection");

	r->keepalive = 0;
	if (up != NULL && conn != NULL && strcasestr(conn, "upgrade") != NULL)
		httpsrv_req_write_head(r, 101, content_type,
		    "Connection: Upgrade\r\nUpgrade: tcp\r\n");
	else
		httpsrv_req_write_head(r, 200, content_type, NULL);
	log_request(r->method, r->target, r->status,
	    (double)(str_now_ns() - r->start_ns) / 1e6, NULL);
	/* Hand the bufferevent over and drop the connection record. */
	httpsrv_conn_unwatch(c);
	c->batch = 0;
	bufferevent_setcb(bev, NULL, NULL, NULL, NULL);
	bufferevent_set_timeouts(bev, NULL, NULL);
	bufferevent_enable(bev, EV_READ | EV_WRITE);
	c->bev = NULL;
	c->req = NULL;
	httpsrv_req_free(r);
	httpsrv_conn_free(c);
	return bev;
}
