/* The backend's side of the agent link (docs/agent-link.md): one
 * WebSocket connection per container, with channels multiplexed over it
 * and flow-controlled per channel in both directions. Forward mode dials
 * the agent (WebSocket client, aglink_dial.c); reverse mode takes the
 * connection the agent dialled into an aglink_listener (WebSocket server,
 * aglink_reverse.c). This file is the core: the link's lifetime, sending,
 * closing, timers and the API; receiving is aglink_recv.c. */
#include <sys/queue.h>

#include <sys/queue.h>
#include <sys/socket.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "sockerless/aglink.h"
#include "sockerless/log.h"
#include "sockerless/str.h"
#include "sockerless/xmalloc.h"

#include "aglink_int.h"

static void aglink_timer_cb(evutil_socket_t fd, short what, void *arg);

int64_t
aglink_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void
aglink_timer_set(struct aglink *l, int64_t ms)
{
	struct timeval tv;

	if (ms < 0)
		ms = 0;
	tv.tv_sec = (time_t)(ms / 1000);
	tv.tv_usec = (suseconds_t)(ms % 1000) * 1000;
	evtimer_add(l->timer, &tv);
}

/* --- lifetime: callbacks may free the link or close channels ----------- */

static void
aglink_destroy(struct aglink *l)
{
	struct aglink_chan *ch;

	while ((ch = TAILQ_FIRST(&l->chans)) != NULL) {
		TAILQ_REMOVE(&l->chans, ch, entry);
		cJSON_Delete(ch->request);
		evbuffer_free(ch->queue);
		free(ch);
	}
	if (l->bev != NULL)
		bufferevent_free(l->bev);
	event_free(l->timer);
	aglink_seal_drop(l);
	free(l->frag);
	cJSON_Delete(l->hello);
	free(l->host);
	OPENSSL_cleanse(l->token, strlen(l->token));
	free(l->token);
	free(l->cid);
	free(l);
}

void
aglink_enter(struct aglink *l)
{
	l->busy++;
}

/* The link may be gone when this returns. */
void
aglink_leave(struct aglink *l)
{
	if (--l->busy == 0 && l->dead)
		aglink_destroy(l);
}

/* Frees a channel nobody will hear from again, unless a callback of its
 * is still running (then the caller of that callback does it). */
void
aglink_chan_gc(struct aglink_chan *ch)
{
	if (ch->busy > 0 || !(ch->done || ch->closed))
		return;
	TAILQ_REMOVE(&ch->l->chans, ch, entry);
	cJSON_Delete(ch->request);
	evbuffer_free(ch->queue);
	free(ch);
}

/* Delivers the channel's last callback with an error. */
static void
aglink_chan_fail(struct aglink_chan *ch, const struct err *e)
{
	if (ch->done)
		return;
	ch->done = 1;
	if (!ch->closed && ch->cbs.on_result != NULL) {
		ch->busy++;
		ch->cbs.on_result(ch->arg, NULL, e);
		ch->busy--;
	}
	aglink_chan_gc(ch);
}

/* Fails every channel numbered up to last (channels opened from inside
 * the callbacks belong to the next connection). */
static void
aglink_fail_chans(struct aglink *l, const struct err *e, uint32_t last)
{
	struct aglink_chan *ch;

	for (;;) {
		/* chan_gc unlinks before it frees (lost in TAILQ_REMOVE). */
		TAILQ_FOREACH(ch, &l->chans, entry)
			/* NOLINTNEXTLINE(clang-analyzer-unix.Malloc) */
			if (!ch->done && (ch->id <= last || ch->inbound))
				break;
		if (ch == NULL)
			break;
		aglink_chan_fail(ch, e);
	}
}

/* --- sending ------------------------------------------------------------ */

static void
aglink_random_mask(unsigned char mask[4])
{
	if (RAND_bytes(mask, 4) != 1) {
		long r = random();

		memcpy(mask, &r, 4);
	}
}

/* One frame: hdr (may be NULL) then p, as one payload; masked unless we
 * are the server (reverse mode). */
void
aglink_ws_send(struct bufferevent *bev, int server, int opcode,
    const unsigned char *hdr, size_t hlen, const void *p, size_t n)
{
	struct evbuffer *out = bufferevent_get_output(bev);
	struct evbuffer_iovec v;
	unsigned char fh[14], mask[4] = { 0, 0, 0, 0 }, *w;
	size_t fl, total;

	if (!server)
		aglink_random_mask(mask);
	fl = ws_build_header(fh, opcode, hlen + n, server ? NULL : mask);
	total = fl + hlen + n;
	if (evbuffer_reserve_space(out, (ev_ssize_t)total, &v, 1) < 1 ||
	    v.iov_len < total)
		fatalx("%s: evbuffer_reserve_space", __func__);
	w = v.iov_base;
	memcpy(w, fh, fl);
	if (hlen > 0)
		memcpy(w + fl, hdr, hlen);
	if (n > 0)
		memcpy(w + fl + hlen, p, n);
	if (!server)
		ws_mask(w + fl, hlen + n, mask, 0);
	v.iov_len = total;
	evbuffer_commit_space(out, &v, 1);
}

/* A sealed binary message: the header and payload encrypted in place
 * in the output buffer, the tag after them. The server role never masks
 * (reverse mode is the only sealed one). */
static void
aglink_send_sealed(struct aglink *l, const unsigned char *hdr, size_t hlen,
    const void *p, size_t n)
{
	struct evbuffer *out = bufferevent_get_output(l->bev);
	struct evbuffer_iovec v;
	unsigned char fh[14], *w;
	size_t fl, total;

	if (l->seal_spent)
		return;
	fl = ws_build_header(fh, WS_BINARY, hlen + n + AGLINK_SEAL_TAG, NULL);
	total = fl + hlen + n + AGLINK_SEAL_TAG;
	if (evbuffer_reserve_space(out, (ev_ssize_t)total, &v, 1) < 1 ||
	    v.iov_len < total)
		fatalx("%s: evbuffer_reserve_space", __func__);
	w = v.iov_base;
	memcpy(w, fh, fl);
	if (hlen > 0)
		memcpy(w + fl, hdr, hlen);
	if (n > 0)
		memcpy(w + fl + hlen, p, n);
	if (aglink_seal_seal(l->seal, w + fl, hlen + n, w + fl + hlen + n) ==
	    -1) {
		/* 2^64 messages: unreachable in practice, but a nonce is
		 * never reused; the timer ends the link. */
		l->seal_spent = 1;
		aglink_timer_set(l, 0);
		v.iov_len = 0;
	} else {
		v.iov_len = total;
	}
	evbuffer_commit_space(out, &v, 1);
}

void
aglink_send_msg(struct aglink *l, const unsigned char *hdr, size_t hlen,
    const void *p, size_t n)
{
	if (l->seal != NULL)
		aglink_send_sealed(l, hdr, hlen, p, n);
	else
		aglink_ws_send(l->bev, l->server, WS_BINARY, hdr, hlen, p, n);
}

static void
aglink_send(struct aglink *l, int type, int stream, uint32_t chan,
    const void *p, size_t n)
{
	unsigned char h[AGLINK_HEADER];

	aglink_put_header(h, type, stream, chan);
	aglink_send_msg(l, h, sizeof(h), p, n);
}

/* Sends a channel message now, or queues it until the OPEN has gone. */
static void
aglink_chan_msg(
    struct aglink_chan *ch, int type, int stream, const void *p, size_t n)
{
	unsigned char h[4 + AGLINK_HEADER];

	if (ch->opened && ch->l->state == AGLINK_ST_UP) {
		aglink_send(ch->l, type, stream, ch->id, p, n);
		return;
	}
	aglink_put_u32(h, (uint32_t)(AGLINK_HEADER + n));
	aglink_put_header(h + 4, type, stream, ch->id);
	evbuffer_add(ch->queue, h, sizeof(h));
	if (n > 0)
		evbuffer_add(ch->queue, p, n);
}

void
aglink_chan_send_open(struct aglink_chan *ch)
{
	struct aglink *l = ch->l;
	char *js = cJSON_PrintUnformatted(ch->request);
	unsigned char lenb[4];

	aglink_send(l, AGLINK_OPEN, 0, ch->id, js, strlen(js));
	free(js);
	cJSON_Delete(ch->request);
	ch->request = NULL;
	ch->opened = 1;
	while (evbuffer_get_length(ch->queue) >= 4) {
		size_t n;

		evbuffer_remove(ch->queue, lenb, 4);
		n = aglink_get_u32(lenb);
		aglink_send_msg(
		    l, NULL, 0, evbuffer_pullup(ch->queue, (ev_ssize_t)n), n);
		evbuffer_drain(ch->queue, n);
	}
}

static void
aglink_send_credit(struct aglink_chan *ch)
{
	unsigned char p[4];

	if (ch->in_consumed == 0 || ch->l->state != AGLINK_ST_UP)
		return;
	aglink_put_u32(p, (uint32_t)ch->in_consumed);
	aglink_send(ch->l, AGLINK_CREDIT, 0, ch->id, p, sizeof(p));
	ch->in_unacked -= ch->in_consumed;
	ch->in_consumed = 0;
}

/* --- closing the connection -------------------------------------------- */

/* Connections flushing their last bytes on their own; freed by
 * aglink_shutdown when the loop is about to end before they are done. */
struct aglink_linger {
	LIST_ENTRY(aglink_linger) entry;
	struct bufferevent *bev;
};
static LIST_HEAD(, aglink_linger) aglink_lingering = LIST_HEAD_INITIALIZER(
    aglink_lingering);

static void
aglink_linger_end(struct aglink_linger *lg)
{
	LIST_REMOVE(lg, entry);
	bufferevent_free(lg->bev);
	free(lg);
}

static void
aglink_linger_free(struct bufferevent *bev, void *arg)
{
	if (evbuffer_get_length(bufferevent_get_output(bev)) == 0)
		aglink_linger_end(arg);
}

static void
aglink_linger_read(struct bufferevent *bev, void *arg)
{
	struct evbuffer *in = bufferevent_get_input(bev);

	(void)arg;
	evbuffer_drain(in, evbuffer_get_length(in));
}

static void
aglink_linger_event(struct bufferevent *bev, short what, void *arg)
{
	(void)bev;
	(void)what;
	aglink_linger_end(arg);
}

/* Lets bev write what it holds, then free itself (or time out). */
void
aglink_linger_start(struct bufferevent *bev)
{
	struct timeval tv = { AGLINK_LINGER_S, 0 };
	struct aglink_linger *lg = xcalloc(1, sizeof(*lg));

	lg->bev = bev;
	LIST_INSERT_HEAD(&aglink_lingering, lg, entry);
	bufferevent_setcb(bev, aglink_linger_read, aglink_linger_free,
	    aglink_linger_event, lg);
	bufferevent_setwatermark(bev, EV_WRITE, 0, 0);
	bufferevent_set_timeouts(bev, &tv, &tv);
	bufferevent_enable(bev, EV_READ | EV_WRITE);
}

void
aglink_shutdown(void)
{
	/* linger_end unlinks before it frees: the analyzer loses that in
	 * LIST_REMOVE. */
	while (!LIST_EMPTY(&aglink_lingering))
		/* NOLINTNEXTLINE(clang-analyzer-unix.Malloc) */
		aglink_linger_end(LIST_FIRST(&aglink_lingering));
}

/* Hands bev a close frame to flush on its own, then it frees itself. */
static void
aglink_linger(struct bufferevent *bev, int server, int code)
{
	unsigned char p[2] = { (unsigned char)(code >> 8),
		(unsigned char)code };

	aglink_ws_send(bev, server, WS_CLOSE, NULL, 0, p, sizeof(p));
	aglink_linger_start(bev);
}

/* Drops the connection (close code 0: no close frame). */
static void
aglink_transport_close(struct aglink *l, int code)
{
	if (l->bev != NULL) {
		if (code != 0 && l->state >= AGLINK_ST_HELLO)
			aglink_linger(l->bev, l->server, code);
		else
			bufferevent_free(l->bev);
		l->bev = NULL;
	}
	evtimer_del(l->timer);
	aglink_seal_drop(l);
	free(l->frag);
	l->frag = NULL;
	l->frag_len = 0;
	l->frag_on = 0;
	l->state = AGLINK_ST_IDLE;
	l->gen++;
}

/*
 * The connection ended (why: a phrase): channels of this connection get
 * on_result with an error, then on_down. Called inside aglink_enter.
 */
void
aglink_down_err(struct aglink *l, int code, struct err *e)
{
	uint32_t last = l->next_id - 1;

	log_info("container %.12s: agent link down: %s", l->cid, e->msg);
	aglink_transport_close(l, code);
	aglink_fail_chans(l, e, last);
	if (!l->dead && l->cbs.on_down != NULL)
		l->cbs.on_down(l->arg, e);
}

void
aglink_down(struct aglink *l, int code, int status, const char *fmt, ...)
{
	struct err e;
	char why[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	if (l->state == AGLINK_ST_UP)
		err_set(&e, status,
		    "the link to the agent of container %.12s was lost: %s",
		    l->cid, why);
	else if (l->reverse)
		err_set(&e, status,
		    "cannot set up the link that the sockerless agent of "
		    "container %.12s called back on: %s",
		    l->cid, why);
	else
		err_set(&e, status,
		    "cannot set up the link to the sockerless agent of "
		    "container %.12s at %s:%d: %s",
		    l->cid, l->host, l->port, why);
	aglink_down_err(l, code, &e);
}

/* --- timers ------------------------------------------------------------- */

static void
aglink_keepalive(struct aglink *l)
{
	int64_t now = aglink_now_ms(), since = now - l->last_rx_ms, next;

	if (since >= l->dead_ms) {
		aglink_down(l, 1001, 504, "no answer from the agent for %lld s",
		    (long long)(since / 1000));
		return;
	}
	if (since >= l->ping_ms && now - l->last_ping_ms >= l->ping_ms) {
		aglink_ws_send(l->bev, l->server, WS_PING, NULL, 0, "sk", 2);
		l->last_ping_ms = now;
	}
	next = l->last_rx_ms + l->dead_ms;
	if (l->last_ping_ms > l->last_rx_ms &&
	    l->last_ping_ms + l->ping_ms < next)
		next = l->last_ping_ms + l->ping_ms;
	else if (l->last_ping_ms <= l->last_rx_ms &&
	    l->last_rx_ms + l->ping_ms < next)
		next = l->last_rx_ms + l->ping_ms;
	aglink_timer_set(l, next - now < 10 ? 10 : next - now);
}

static void
aglink_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct aglink *l = arg;

	(void)fd;
	(void)what;
	aglink_enter(l);
	switch (l->state) {
	case AGLINK_ST_AWAIT:
		aglink_await_give_up(l);
		break;
	case AGLINK_ST_RETRY:
		if (aglink_now_ms() >= l->deadline_ms)
			aglink_give_up(l);
		else
			aglink_dial(l);
		break;
	case AGLINK_ST_DIALING:
		l->last_err = ETIMEDOUT;
		if (aglink_now_ms() >= l->deadline_ms) {
			bufferevent_free(l->bev);
			l->bev = NULL;
			aglink_give_up(l);
		} else {
			aglink_retry(l);
		}
		break;
	case AGLINK_ST_HANDSHAKE:
	case AGLINK_ST_HELLO:
		aglink_down(l, 1002, 504,
		    "the agent did not complete the handshake within %d s",
		    AGLINK_HANDSHAKE_MS / 1000);
		break;
	case AGLINK_ST_UP:
		if (l->seal_spent)
			aglink_down(l, 1008, 502,
			    "the sealed link's message counter ran out");
		else
			aglink_keepalive(l);
		break;
	case AGLINK_ST_IDLE:
		break;
	}
	aglink_leave(l);
}

/* --- the API ------------------------------------------------------------ */

struct aglink *
aglink_new(struct event_base *base, const char *host, int port,
    const char *token_hex, const char *container_id, int connect_timeout_s,
    const struct aglink_cbs *cbs, void *arg)
{
	struct aglink *l = xcalloc(1, sizeof(*l));

	l->base = base;
	l->host = xstrdup(host);
	l->port = port;
	l->token = xstrdup(token_hex);
	l->cid = xstrdup(container_id);
	l->connect_timeout_s = connect_timeout_s > 0 ? connect_timeout_s : 1;
	if (cbs != NULL)
		l->cbs = *cbs;
	l->arg = arg;
	l->state = AGLINK_ST_IDLE;
	l->timer = evtimer_new(base, aglink_timer_cb, l);
	if (l->timer == NULL)
		fatalx("%s: evtimer_new", __func__);
	l->ping_ms = AGLINK_PING_MS;
	l->dead_ms = AGLINK_DEAD_MS;
	l->next_id = 1;
	TAILQ_INIT(&l->chans);
	return l;
}

void
aglink_free(struct aglink *l)
{
	struct err e;

	if (l == NULL || l->dead)
		return;
	l->dead = 1;
	aglink_enter(l);
	if (l->state != AGLINK_ST_IDLE)
		log_debug("container %.12s: agent link closed", l->cid);
	aglink_transport_close(l, 1000);
	err_set(&e, 503, "the link to the agent of container %.12s was closed",
	    l->cid);
	/* Channels opened from these callbacks are failed too. */
	aglink_fail_chans(l, &e, UINT32_MAX);
	aglink_leave(l);
}

void
aglink_set_keepalive(struct aglink *l, int ping_ms, int dead_ms)
{
	l->ping_ms = ping_ms;
	l->dead_ms = dead_ms;
	if (l->state == AGLINK_ST_UP)
		aglink_timer_set(l, 0);
}

int
aglink_is_up(const struct aglink *l)
{
	return l != NULL && !l->dead && l->state == AGLINK_ST_UP;
}

const cJSON *
aglink_hello(const struct aglink *l)
{
	return l->hello;
}

struct aglink_chan *
aglink_open(struct aglink *l, const cJSON *request,
    const struct aglink_chan_cbs *cbs, void *arg)
{
	struct aglink_chan *ch = xcalloc(1, sizeof(*ch));

	ch->l = l;
	ch->id = l->next_id++;
	if (cbs != NULL)
		ch->cbs = *cbs;
	ch->arg = arg;
	ch->request = request != NULL ? cJSON_Duplicate(request, 1) :
					cJSON_CreateObject();
	if ((ch->queue = evbuffer_new()) == NULL)
		fatalx("%s: evbuffer_new", __func__);
	ch->out_credit = AGLINK_WINDOW;
	TAILQ_INSERT_TAIL(&l->chans, ch, entry);
	if (l->dead)
		return ch; /* aglink_free is failing channels: this one too */
	if (l->state == AGLINK_ST_UP)
		aglink_chan_send_open(ch);
	else if (l->state == AGLINK_ST_IDLE && l->reverse)
		aglink_await(l);
	else if (l->state == AGLINK_ST_IDLE)
		aglink_connect(l);
	return ch;
}

void
aglink_up(struct aglink *l)
{
	if (l->dead || l->state != AGLINK_ST_IDLE)
		return;
	if (l->reverse)
		aglink_await(l);
	else
		aglink_connect(l);
}

void
aglink_up_eager(struct aglink *l)
{
	if (l->dead || l->reverse || l->state != AGLINK_ST_IDLE)
		return;
	l->eager_until_ms = aglink_now_ms() + AGLINK_EAGER_FOR_MS;
	aglink_connect(l);
}

void
aglink_redial(struct aglink *l)
{
	if (l->dead || l->state != AGLINK_ST_RETRY)
		return;
	l->backoff_ms = AGLINK_BACKOFF_MIN_MS;
	aglink_dial(l);
}

size_t
aglink_chan_write(struct aglink_chan *ch, const void *buf, size_t len)
{
	const unsigned char *p = buf;
	size_t n, off, k;

	if (ch->done || ch->closed || len == 0)
		return 0;
	n = len < ch->out_credit ? len : ch->out_credit;
	if (n < len)
		ch->want_writable = 1;
	for (off = 0; off < n; off += k) {
		k = n - off < AGLINK_CHUNK ? n - off : AGLINK_CHUNK;
		aglink_chan_msg(ch, AGLINK_DATA,
		    ch->inbound ? AGLINK_STDOUT : AGLINK_STDIN, p + off, k);
	}
	ch->out_credit -= n;
	return n;
}

void
aglink_chan_eof(struct aglink_chan *ch)
{
	if (ch->done || ch->closed)
		return;
	aglink_chan_msg(ch, AGLINK_EOF,
	    ch->inbound ? AGLINK_STDOUT : AGLINK_STDIN, NULL, 0);
}

void
aglink_chan_resize(struct aglink_chan *ch, int rows, int cols)
{
	unsigned char p[4];

	if (ch->done || ch->closed)
		return;
	p[0] = (unsigned char)(rows >> 8);
	p[1] = (unsigned char)rows;
	p[2] = (unsigned char)(cols >> 8);
	p[3] = (unsigned char)cols;
	aglink_chan_msg(ch, AGLINK_RESIZE, 0, p, sizeof(p));
}

void
aglink_chan_consumed(struct aglink_chan *ch, size_t n)
{
	size_t left;

	if (ch->done || ch->closed)
		return;
	left = ch->in_unacked - ch->in_consumed;
	ch->in_consumed += n < left ? n : left;
	/* Batched, but never so late that the agent's window stalls. */
	if (ch->in_consumed >= AGLINK_CREDIT_BATCH ||
	    ch->in_unacked >= AGLINK_WINDOW / 2)
		aglink_send_credit(ch);
}

void
aglink_chan_close(struct aglink_chan *ch)
{
	if (ch == NULL || ch->closed)
		return;
	ch->closed = 1;
	if (!ch->done && ch->opened && ch->l->state == AGLINK_ST_UP &&
	    !ch->l->dead)
		aglink_send(ch->l, AGLINK_CLOSE, 0, ch->id, NULL, 0);
	aglink_chan_gc(ch);
}

/* --- channels the agent opens (relay mode) ------------------------------ */

void
aglink_chan_accept(
    struct aglink_chan *ch, const struct aglink_chan_cbs *cbs, void *arg)
{
	ch->cbs = *cbs;
	ch->arg = arg;
}

void
aglink_chan_finish(struct aglink_chan *ch, const cJSON *result)
{
	char *js;

	if (ch == NULL || ch->done || ch->closed)
		return;
	js = cJSON_PrintUnformatted(result);
	if (ch->l->state == AGLINK_ST_UP && !ch->l->dead)
		aglink_send(ch->l, AGLINK_RESULT, 0, ch->id, js, strlen(js));
	free(js);
	ch->done = ch->closed = 1;
	aglink_chan_gc(ch);
}
