/* The HTTP/1.1 server, a connection: requests read (head, Content-Length
 * and chunked bodies, pipelining), dispatched to the handler, their reply
 * heads written, and the connection's timers, lingering close and free
 * (which resumes a paused accept). Uses httpsrv_parse.c. */
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
#include <event2/bufferevent_ssl.h>
#include <event2/listener.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include "sockerless/evloop.h"
#include "sockerless/httpsrv.h"
#include "sockerless/json.h"
#include "sockerless/log.h"
#include "sockerless/str.h"
#include "sockerless/xmalloc.h"

#include "httpsrv_int.h"

static void conn_process(struct httpsrv_conn *c);
static void conn_close_or_linger(struct httpsrv_conn *c);
static void conn_reject(struct httpsrv_conn *c, int status, const char *msg);

void
httpsrv_conn_resume_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	conn_process(arg);
}

/* Something was queued outside a batch: the bufferevent writes it. */
static void
conn_out_cb(
    struct evbuffer *buf, const struct evbuffer_cb_info *info, void *arg)
{
	struct httpsrv_conn *c = arg;

	(void)buf;
	if (info->n_added == 0 || c->batch > 0 || c->bev == NULL)
		return;
	if ((bufferevent_get_enabled(c->bev) & EV_WRITE) == 0)
		bufferevent_enable(c->bev, EV_WRITE);
}

void
httpsrv_conn_watch(struct httpsrv_conn *c)
{
	if (c->tls || c->out_cb != NULL)
		return;
	c->out_cb =
	    evbuffer_add_cb(bufferevent_get_output(c->bev), conn_out_cb, c);
}

void
httpsrv_conn_unwatch(struct httpsrv_conn *c)
{
	if (c->out_cb == NULL || c->bev == NULL)
		return;
	evbuffer_remove_cb_entry(bufferevent_get_output(c->bev), c->out_cb);
	c->out_cb = NULL;
}

void
httpsrv_conn_batch_begin(struct httpsrv_conn *c)
{
	if (c->out_cb == NULL || c->batch++ > 0)
		return;
	/* Empty output: the write event is not in epoll (the bufferevent
	 * took it out when it drained), so this costs no system call. */
	if (evbuffer_get_length(bufferevent_get_output(c->bev)) == 0 &&
	    (bufferevent_get_enabled(c->bev) & EV_WRITE) != 0)
		bufferevent_disable(c->bev, EV_WRITE);
}

void
httpsrv_conn_batch_end(struct httpsrv_conn *c)
{
	if (c->out_cb == NULL || c->batch == 0 || --c->batch > 0)
		return;
	if (c->bev != NULL &&
	    evbuffer_get_length(bufferevent_get_output(c->bev)) > 0 &&
	    (bufferevent_get_enabled(c->bev) & EV_WRITE) == 0)
		bufferevent_enable(c->bev, EV_WRITE);
}

/* Arms the connection's deadline, or clears it for secs <= 0. */
void
httpsrv_conn_set_timer(struct httpsrv_conn *c, enum conn_timer kind, int secs)
{
	struct timeval tv = { secs, 0 };

	c->timer_kind = secs > 0 ? kind : TIMER_NONE;
	if (secs > 0)
		evtimer_add(c->timer, &tv);
	else
		evtimer_del(c->timer);
}

/* Whether the peer closed both directions (a unix socket tells; TCP tells
 * only once a write has failed). */
static int
conn_peer_gone(struct httpsrv_conn *c)
{
	struct pollfd pfd = { bufferevent_getfd(c->bev), POLLOUT, 0 };

	if (pfd.fd < 0 || poll(&pfd, 1, 0) == -1)
		return 1;
	return (pfd.revents & (POLLHUP | POLLERR)) != 0;
}

void
httpsrv_conn_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct httpsrv_conn *c = arg;
	struct timeval tv = { 2, 0 };
	char msg[128];

	(void)fd;
	(void)what;
	switch (c->timer_kind) {
	case TIMER_HEAD:
		if (c->req != NULL && c->req->state == REQ_HEAD &&
		    evbuffer_get_length(bufferevent_get_input(c->bev)) > 0) {
			/* Tell a slow human (nc, telnet) why it ends. */
			snprintf(msg, sizeof(msg),
			    "the request head did not arrive within %d s",
			    c->srv->limits.header_timeout_s);
			c->req->start_ns = str_now_ns();
			conn_reject(c, 408, msg);
			return;
		}
		httpsrv_conn_free(c);
		return;
	case TIMER_HUP:
		if (conn_peer_gone(c)) {
			httpsrv_conn_free(c);
			return;
		}
		c->timer_kind = TIMER_HUP;
		evtimer_add(c->timer, &tv);
		return;
	default:
		httpsrv_conn_free(c);
		return;
	}
}

void
httpsrv_pause(struct httpsrv *s, int pause)
{
	if (s->paused == pause)
		return;
	for (int i = 0; i < s->nlisteners; i++) {
		if (pause)
			evconnlistener_disable(s->listeners[i]);
		else
			evconnlistener_enable(s->listeners[i]);
	}
	s->paused = pause;
}

/* --- requests --- */

static struct httpsrv_req *
req_new(struct httpsrv_conn *c)
{
	struct httpsrv_req *r = xcalloc(1, sizeof(*r));

	r->conn = c;
	r->state = REQ_HEAD;
	strv_init(&r->hnames);
	strv_init(&r->hvalues);
	strv_init(&r->qnames);
	strv_init(&r->qvalues);
	strv_init(&r->out_headers);
	return r;
}

void
httpsrv_req_free(struct httpsrv_req *r)
{
	if (r == NULL)
		return;
	if (r->data_free != NULL)
		r->data_free(r->data);
	free(r->method);
	free(r->target);
	free(r->path);
	strv_free(&r->hnames);
	strv_free(&r->hvalues);
	strv_free(&r->qnames);
	strv_free(&r->qvalues);
	strv_free(&r->out_headers);
	free(r->body);
	free(r);
}

void
httpsrv_conn_free(struct httpsrv_conn *c)
{
	struct httpsrv *s = c->srv;
	struct httpsrv_req *r = c->req;

	if (c->busy) {
		c->dead = 1;
		if (c->bev != NULL)
			bufferevent_disable(c->bev, EV_READ | EV_WRITE);
		return;
	}
	c->req = NULL;
	if (r != NULL && r->state >= REQ_HANDLER && r->on_close != NULL) {
		void (*fn)(struct httpsrv_req *, void *) = r->on_close;

		r->on_close = NULL;
		fn(r, r->on_close_arg);
	}
	httpsrv_req_free(r);
	TAILQ_REMOVE(&s->conns, c, entry);
	httpsrv_conn_unwatch(c);
	if (c->bev != NULL)
		bufferevent_free(c->bev);
	event_free(c->resume);
	event_free(c->timer);
	free(c);
	if (--s->nconns < s->limits.max_conns || s->limits.max_conns <= 0)
		httpsrv_pause(s, 0);
}

/* The Date header's value for now: formatted once a second. */
static const char *
conn_date(size_t *len)
{
	static time_t sec = -1;
	static char date[64];
	static size_t date_len;
	time_t now = time(NULL);

	if (now != sec) {
		struct tm tm;

		gmtime_r(&now, &tm);
		date_len = strftime(
		    date, sizeof(date), "%a, %d %b %Y %H:%M:%S GMT", &tm);
		sec = now;
	}
	*len = date_len;
	return date;
}

static void
conn_add_line(struct evbuffer *out, const char *a, const char *b)
{
	evbuffer_add(out, a, strlen(a));
	if (b != NULL)
		evbuffer_add(out, b, strlen(b));
	evbuffer_add(out, "\r\n", 2);
}

/* Writes the status line and headers (every reply: no printf). */
void
httpsrv_req_write_head(
    struct httpsrv_req *r, int status, const char *ctype, const char *extra)
{
	struct evbuffer *out = bufferevent_get_output(r->conn->bev);
	char line[16];
	const char *date;
	size_t len;

	r->status = status;
	if (status < 100 || status > 999)
		status = 500;
	/* A 1.1 server answers "HTTP/1.1" whatever the client spoke. */
	memcpy(line, "HTTP/1.1 ", 9);
	line[9] = (char)('0' + status / 100);
	line[10] = (char)('0' + status / 10 % 10);
	line[11] = (char)('0' + status % 10);
	line[12] = ' ';
	evbuffer_add(out, line, 13);
	conn_add_line(out, httpsrv_status_text(status), NULL);
	date = conn_date(&len);
	evbuffer_add(out, "Date: ", 6);
	evbuffer_add(out, date, len);
	evbuffer_add(out, "\r\n", 2);
	if (ctype != NULL)
		conn_add_line(out, "Content-Type: ", ctype);
	for (size_t i = 0; i < r->out_headers.n; i++)
		conn_add_line(out, r->out_headers.v[i], NULL);
	if (extra != NULL)
		evbuffer_add(out, extra, strlen(extra));
	if (!r->keepalive && status != 101)
		evbuffer_add(out, "Connection: close\r\n", 19);
	evbuffer_add(out, "\r\n", 2);
}

/* Sends a complete reply on a plain socket now, before the log line and
 * the loop's next turn (MSG_NOSIGNAL: a client gone is the bufferevent's
 * to report). What the socket does not take stays for the bufferevent,
 * whose output is frozen for anyone else, as it unfreezes it itself. */
static void
conn_send_now(struct httpsrv_conn *c)
{
	struct evbuffer *out = bufferevent_get_output(c->bev);
	struct evbuffer_iovec v[8];
	struct iovec iov[8];
	struct msghdr m;
	ssize_t w;
	int n = evbuffer_peek(out, -1, NULL, v, 8);

	if (n <= 0)
		return;
	if (n > 8)
		n = 8;
	for (int i = 0; i < n; i++) {
		iov[i].iov_base = v[i].iov_base;
		iov[i].iov_len = v[i].iov_len;
	}
	memset(&m, 0, sizeof(m));
	m.msg_iov = iov;
	m.msg_iovlen = (size_t)n;
	w = sendmsg(bufferevent_getfd(c->bev), &m, MSG_NOSIGNAL | MSG_DONTWAIT);
	if (w <= 0)
		return;
	evbuffer_unfreeze(out, 1);
	evbuffer_drain(out, (size_t)w);
	evbuffer_freeze(out, 1);
}

/* The reply is complete: logs, frees the request and moves on. */
void
httpsrv_req_done(struct httpsrv_req *r)
{
	struct httpsrv_conn *c = r->conn;
	size_t pending;

	/* A pipelined request waiting behind this one (read in the same
	 * conn_process): its answer goes out with this one, in one send at
	 * the end of conn_process. */
	if (!c->tls &&
	    !(c->busy &&
		evbuffer_get_length(bufferevent_get_input(c->bev)) > 0))
		conn_send_now(c);
	log_request(r->method != NULL ? r->method : "-",
	    r->target != NULL ? r->target : "-", r->status,
	    (double)(str_now_ns() - r->start_ns) / 1e6, NULL);
	c->req = NULL;
	pending = evbuffer_get_length(bufferevent_get_input(c->bev));
	/* Paused at the connection limit, an idle keep-alive connection
	 * would only hold a slot: close it. A half-closed client sends no
	 * more than what is already buffered. */
	if (!r->keepalive || (c->srv->paused && pending == 0) ||
	    (c->rd_eof && pending == 0))
		c->closing = 1;
	httpsrv_req_free(r);
	if (c->closing) {
		httpsrv_conn_set_timer(c, TIMER_NONE, 0);
		bufferevent_disable(c->bev, EV_READ);
		if (evbuffer_get_length(bufferevent_get_output(c->bev)) == 0)
			event_active(c->resume, 0, 0);
		return;
	}
	httpsrv_conn_set_timer(c, pending > 0 ? TIMER_HEAD : TIMER_IDLE,
	    pending > 0 ? c->srv->limits.header_timeout_s :
			  c->srv->limits.idle_timeout_s);
	if (!c->rd_eof)
		bufferevent_enable(c->bev, EV_READ);
	/* Pipelined bytes may already wait in the input buffer. */
	if (pending > 0)
		event_active(c->resume, 0, 0);
}

/* Replies to a request the parser rejected and closes the connection. */
static void
conn_reject(struct httpsrv_conn *c, int status, const char *msg)
{
	struct httpsrv_req *r = c->req;

	r->keepalive = 0;
	r->state = REQ_HANDLER;
	c->linger = 1;
	httpsrv_reply_error(r, status, "%s", msg);
}

/* 413 naming the limit (docker cp of a large tree meets it first). */
static void
conn_reject_large(struct httpsrv_conn *c)
{
	char msg[160];

	snprintf(msg, sizeof(msg),
	    "request body is too large: the limit is %zu MiB; copy large "
	    "trees in parts",
	    c->srv->limits.max_body_bytes >> 20);
	conn_reject(c, 413, msg);
}

static void
req_add_body(struct httpsrv_req *r, struct evbuffer *in, size_t n)
{
	/* Grow geometrically: a body arrives in 4-64 KiB reads, and exact
	 * growth copied a 16 MiB body some 250 times (minutes under ASan,
	 * while the client waited). */
	if (r->body_len + n + 1 > r->body_cap) {
		size_t cap = r->body_cap < 4096 ? 4096 : r->body_cap;

		while (cap < r->body_len + n + 1)
			cap *= 2;
		r->body_cap = cap;
		r->body = xrealloc(r->body, r->body_cap);
	}
	evbuffer_remove(in, r->body + r->body_len, n);
	r->body_len += n;
	r->body[r->body_len] = '\0';
}

/* Dispatches a complete request to the handler. */
static void
req_dispatch(struct httpsrv_conn *c)
{
	struct httpsrv_req *r = c->req;

	r->state = REQ_HANDLER;
	if (r->body == NULL) {
		r->body = xstrdup("");
		r->body_cap = 1;
	}
	/* Long-lived replies (wait, logs -f, events) must not time out. */
	bufferevent_set_timeouts(c->bev, NULL, NULL);
	httpsrv_conn_set_timer(c, TIMER_HUP, c->rd_eof ? 2 : 0);
	c->srv->handler(r, c->srv->arg);
}

/* Reads the head; returns 1 when the request moved on, 0 to wait for more,
 * -1 after a rejection. */
static int
conn_read_head(struct httpsrv_conn *c, struct evbuffer *in)
{
	struct httpsrv_req *r = c->req;
	struct evbuffer_ptr p, p2;
	size_t hlen, max = c->srv->limits.max_header_bytes;
	char *head;
	const char *te, *cl, *conn, *expect;
	int st;

	/* Tolerate blank lines before a request (RFC 9112 2.2). */
	while (evbuffer_get_length(in) >= 2) {
		unsigned char *b = evbuffer_pullup(in, 2);

		if (b[0] == '\r' && b[1] == '\n')
			evbuffer_drain(in, 2);
		else if (b[0] == '\n')
			evbuffer_drain(in, 1);
		else
			break;
	}
	p = evbuffer_search(in, "\r\n\r\n", 4, NULL);
	p2 = evbuffer_search(in, "\n\n", 2, NULL);
	if (p.pos == -1 && p2.pos == -1) {
		if (evbuffer_get_length(in) > max) {
			r->start_ns = str_now_ns();
			conn_reject(c, 431, "request headers are too large");
			return -1;
		}
		return 0;
	}
	if (p.pos != -1 && (p2.pos == -1 || p.pos < p2.pos))
		hlen = (size_t)p.pos + 4;
	else
		hlen = (size_t)p2.pos + 2;
	if (hlen > max) {
		conn_reject(c, 431, "request headers are too large");
		return -1;
	}
	r->start_ns = str_now_ns();
	head = xmalloc(hlen + 1);
	evbuffer_remove(in, head, hlen);
	head[hlen] = '\0';
	if (memchr(head, '\0', hlen) != NULL)
		st = 400;
	else
		st = httpsrv_req_parse_head(r, head);
	free(head);
	if (st != 0) {
		conn_reject(c, st,
		    st == 431 ? "too many request headers" :
				"malformed HTTP request");
		return -1;
	}
	conn = httpsrv_req_header(r, "Connection");
	if (r->minor == 1)
		r->keepalive =
		    conn == NULL || strcasestr(conn, "close") == NULL;
	else
		r->keepalive =
		    conn != NULL && strcasestr(conn, "keep-alive") != NULL;
	te = httpsrv_req_header(r, "Transfer-Encoding");
	cl = httpsrv_req_header(r, "Content-Length");
	if (te != NULL) {
		if (strcasecmp(te, "chunked") != 0) {
			conn_reject(c, 501,
			    "unsupported Transfer-Encoding (only chunked)");
			return -1;
		}
		/* RFC 9112 6.3: chunked wins over Content-Length; such a
		 * message may be smuggling, so the connection ends after. */
		if (cl != NULL)
			r->keepalive = 0;
		r->state = REQ_CHUNKS;
		r->chunk_state = 0;
	} else if (cl != NULL) {
		long long n;

		if (str_tonum(cl, 0, LLONG_MAX, &n, NULL) == -1) {
			conn_reject(c, 400, "bad Content-Length");
			return -1;
		}
		if ((size_t)n > c->srv->limits.max_body_bytes) {
			conn_reject_large(c);
			return -1;
		}
		r->want = (size_t)n;
		r->state = REQ_BODY;
	} else {
		req_dispatch(c);
		return 1;
	}
	/* The head is in: a body may take long (docker cp, build
	 * contexts) but must not stall. */
	httpsrv_conn_set_timer(c, TIMER_NONE, 0);
	if (c->srv->limits.idle_timeout_s > 0) {
		struct timeval tv = { c->srv->limits.idle_timeout_s, 0 };

		bufferevent_set_timeouts(c->bev, &tv, NULL);
	}
	expect = httpsrv_req_header(r, "Expect");
	if (expect != NULL && strcasecmp(expect, "100-continue") == 0)
		evbuffer_add_printf(bufferevent_get_output(c->bev),
		    "HTTP/1.1 100 Continue\r\n\r\n");
	return 1;
}

/* Reads chunked body data; returns 1 when complete, 0 for more, -1 after a
 * rejection. chunk_state: 0 size line, 1 data, 2 CRLF after data, 3
 * trailers. */
static int
conn_read_chunks(struct httpsrv_conn *c, struct evbuffer *in)
{
	struct httpsrv_req *r = c->req;
	size_t len;
	char *line;
	const char *end;
	long long n;

	for (;;) {
		if (r->chunk_state == 1) {
			size_t avail = evbuffer_get_length(in);

			if (avail > r->want)
				avail = r->want;
			if (avail > 0) {
				req_add_body(r, in, avail);
				r->want -= avail;
			}
			if (r->want > 0)
				return 0;
			r->chunk_state = 2;
			continue;
		}
		line = evbuffer_readln(in, &len, EVBUFFER_EOL_CRLF);
		if (line == NULL) {
			if (evbuffer_get_length(in) > 4096) {
				conn_reject(c, 400, "malformed chunked body");
				return -1;
			}
			return 0;
		}
		switch (r->chunk_state) {
		case 2:
			free(line);
			if (len != 0) {
				conn_reject(c, 400, "malformed chunked body");
				return -1;
			}
			r->chunk_state = 0;
			break;
		case 3:
			free(line);
			if (len == 0)
				return 1;
			break;
		default:
			if (str_tohex(line, LLONG_MAX, &n, &end) == -1 ||
			    (*end != '\0' && *end != ';' && *end != ' ' &&
				*end != '\t')) {
				free(line);
				conn_reject(c, 400, "malformed chunk size");
				return -1;
			}
			free(line);
			if ((size_t)n > c->srv->limits.max_body_bytes ||
			    r->body_len + (size_t)n >
				c->srv->limits.max_body_bytes) {
				conn_reject_large(c);
				return -1;
			}
			r->want = (size_t)n;
			r->chunk_state = n == 0 ? 3 : 1;
			break;
		}
	}
}

static void conn_process_input(struct httpsrv_conn *c, struct evbuffer *in);

static void
conn_process(struct httpsrv_conn *c)
{
	struct evbuffer *in;

	if (c->closing) {
		if (evbuffer_get_length(bufferevent_get_output(c->bev)) == 0)
			conn_close_or_linger(c);
		return;
	}
	in = bufferevent_get_input(c->bev);
	c->busy = 1;
	httpsrv_conn_batch_begin(c);
	conn_process_input(c, in);
	if (!c->dead && !c->tls && c->bev != NULL) {
		conn_send_now(c);
		/* A closing connection whose last answer went out here ends
		 * as httpsrv_req_done would have ended it. */
		if (c->closing &&
		    evbuffer_get_length(bufferevent_get_output(c->bev)) == 0)
			event_active(c->resume, 0, 0);
	}
	if (!c->dead)
		httpsrv_conn_batch_end(c);
	c->busy = 0;
	/* Half-closed and nothing in flight: no request can complete. */
	if (c->dead ||
	    (c->rd_eof && !c->closing && !c->lingering &&
		(c->req == NULL || c->req->state < REQ_HANDLER)))
		httpsrv_conn_free(c);
}

static void
conn_process_input(struct httpsrv_conn *c, struct evbuffer *in)
{
	int rc;

	for (;;) {
		if (c->req == NULL) {
			if (evbuffer_get_length(in) == 0)
				return;
			c->req = req_new(c);
			if (c->timer_kind == TIMER_IDLE)
				httpsrv_conn_set_timer(c, TIMER_HEAD,
				    c->srv->limits.header_timeout_s);
		}
		switch (c->req->state) {
		case REQ_HEAD:
			rc = conn_read_head(c, in);
			if (rc <= 0)
				return;
			break;
		case REQ_BODY: {
			size_t n = evbuffer_get_length(in);

			if (n > c->req->want)
				n = c->req->want;
			if (n > 0) {
				req_add_body(c->req, in, n);
				c->req->want -= n;
			}
			if (c->req->want > 0)
				return;
			req_dispatch(c);
			break;
		}
		case REQ_CHUNKS:
			rc = conn_read_chunks(c, in);
			if (rc <= 0)
				return;
			req_dispatch(c);
			break;
		case REQ_HANDLER:
		case REQ_STREAM:
			/* Busy: a pipelined request waits, bounded. */
			if (evbuffer_get_length(in) >
			    c->srv->limits.max_header_bytes)
				bufferevent_disable(c->bev, EV_READ);
			return;
		}
		if (c->closing || c->dead)
			return;
		/* Still reading this request's body: go on. Dispatched and
		 * not yet answered: wait. Answered: the next request. */
		if (c->req != NULL && c->req->state >= REQ_HANDLER)
			return;
	}
}

static void
conn_linger_read(struct bufferevent *bev, void *arg)
{
	(void)arg;
	evbuffer_drain(bufferevent_get_input(bev),
	    evbuffer_get_length(bufferevent_get_input(bev)));
}

/* Closing right after an error reply while the client is still sending
 * makes the kernel send RST, and the client may lose the reply: send FIN
 * instead and discard input until the client closes (2 s at most). */
static void
conn_close_or_linger(struct httpsrv_conn *c)
{
	struct timeval tv = { 2, 0 };

	if (!c->linger || c->dead) {
		httpsrv_conn_free(c);
		return;
	}
	c->linger = 0;
	c->closing = 0;
	c->lingering = 1;
	httpsrv_conn_set_timer(c, TIMER_NONE, 0);
	if (c->tls && bufferevent_openssl_get_ssl(c->bev) != NULL)
		SSL_shutdown(bufferevent_openssl_get_ssl(c->bev));
	shutdown(bufferevent_getfd(c->bev), SHUT_WR);
	bufferevent_setcb(
	    c->bev, conn_linger_read, NULL, httpsrv_conn_event_cb, c);
	bufferevent_set_timeouts(c->bev, &tv, NULL);
	bufferevent_enable(c->bev, EV_READ);
	conn_linger_read(c->bev, c);
}

void
httpsrv_conn_read_cb(struct bufferevent *bev, void *arg)
{
	(void)bev;
	evloop_touch();
	conn_process(arg);
}

void
httpsrv_conn_write_cb(struct bufferevent *bev, void *arg)
{
	struct httpsrv_conn *c = arg;
	struct httpsrv_req *r = c->req;

	(void)bev;
	if (c->closing) {
		conn_close_or_linger(c);
		return;
	}
	if (r != NULL && r->state == REQ_STREAM && r->on_drain != NULL)
		r->on_drain(r, r->on_drain_arg);
}

void
httpsrv_conn_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct httpsrv_conn *c = arg;

	/* A TLS connection's handshake is complete: nothing to do. */
	if (what == BEV_EVENT_CONNECTED)
		return;
	if (what & BEV_EVENT_TIMEOUT) {
		/* Only armed while reading a body or lingering. */
		httpsrv_conn_free(c);
		return;
	}
	if ((what & BEV_EVENT_ERROR) && c->tls) {
		unsigned long code = bufferevent_get_openssl_error(bev);
		char why[256];

		if (code != 0) {
			ERR_error_string_n(code, why, sizeof(why));
			/* A refused handshake (no or a foreign client
			 * certificate) ends here, nothing read. */
			log_info(
			    "TLS connection from %s closed: %s", c->peer, why);
		}
	}
	if ((what & BEV_EVENT_ERROR) || !(what & BEV_EVENT_EOF))
		goto gone;
	/* EOF: a client that sent its request and shut down its write side
	 * (nc -N, proxies, scripts) still wants the answer. Only a peer that
	 * closed both directions is gone. */
	if (c->lingering || conn_peer_gone(c))
		goto gone;
	if (c->req == NULL || c->req->state < REQ_HANDLER) {
		/* An answer already queued still goes out; a request cut
		 * short can never complete. */
		if (c->req != NULL ||
		    evbuffer_get_length(bufferevent_get_output(c->bev)) == 0)
			goto gone;
		c->rd_eof = 1;
		c->closing = 1;
		httpsrv_conn_set_timer(c, TIMER_NONE, 0);
		return;
	}
	c->rd_eof = 1;
	bufferevent_disable(c->bev, EV_READ);
	/* A long reply (logs -f, wait) must still notice a later close. */
	httpsrv_conn_set_timer(c, TIMER_HUP, 2);
	return;
gone:
	httpsrv_conn_free(c);
}
