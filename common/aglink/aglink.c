/* The backend's side of the agent link (docs/agent-link.md): one
 * WebSocket connection per container, with channels multiplexed over it
 * and flow-controlled per channel in both directions. Forward mode dials
 * the agent (WebSocket client); reverse mode takes the connection the
 * agent dialled into an aglink_listener (WebSocket server). */
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
#include "sockerless/lite.h"
#include "sockerless/log.h"
#include "sockerless/str.h"
#include "sockerless/xmalloc.h"

#define AGLINK_BACKOFF_MIN_MS 250
#define AGLINK_BACKOFF_MAX_MS 2000
#define AGLINK_DIAL_MS	      5000  /* one TCP connect attempt */
#define AGLINK_HANDSHAKE_MS   10000 /* connected to the HELLO */
#define AGLINK_PING_MS	      15000
#define AGLINK_DEAD_MS	      45000
#define AGLINK_CHUNK	      (64 * 1024) /* DATA payload per message */
#define AGLINK_CREDIT_BATCH   (32 * 1024)
#define AGLINK_RESP_MAX	      8192 /* the handshake answer's header */
#define AGLINK_LINGER_S	      2	   /* to flush our close frame */

enum aglink_state {
	AGLINK_ST_IDLE,	     /* no connection: the next aglink_open dials */
	AGLINK_ST_RETRY,     /* waiting to dial again */
	AGLINK_ST_AWAIT,     /* reverse: channels wait for the agent to dial */
	AGLINK_ST_DIALING,   /* TCP connect in progress */
	AGLINK_ST_HANDSHAKE, /* upgrade request sent, waiting for the 101 */
	AGLINK_ST_HELLO,     /* WebSocket open, waiting for the HELLO */
	AGLINK_ST_UP
};

struct aglink_chan {
	TAILQ_ENTRY(aglink_chan) entry;
	struct aglink *l;
	uint32_t id;
	struct aglink_chan_cbs cbs;
	void *arg;
	cJSON *request;		/* until the OPEN is sent */
	struct evbuffer *queue; /* [u32 len][message] written before the OPEN */
	int opened;		/* the OPEN is on the wire */
	int closed;		/* aglink_chan_close: no more callbacks */
	int done;		/* on_result delivered (or suppressed) */
	int busy;		/* inside one of its callbacks */
	size_t out_credit;	/* stdin bytes the agent still accepts */
	int want_writable;
	size_t in_unacked;  /* DATA received and not yet credited */
	size_t in_consumed; /* of which the receiver has passed on */
};

TAILQ_HEAD(aglink_chans, aglink_chan);

struct aglink {
	struct event_base *base;
	char *host;
	int port;
	char *token;
	char *cid;
	int connect_timeout_s;
	int reverse; /* never dials: the agent dials a listener */
	int server;  /* the WebSocket server role (an adopted connection) */
	struct aglink_cbs cbs;
	void *arg;

	enum aglink_state state;
	struct bufferevent *bev;
	struct event *timer; /* retry, dial, handshake or keepalive */
	unsigned gen;	     /* bumped whenever the connection goes */
	int busy;	     /* nesting of our own callbacks */
	int dead;	     /* aglink_free was called */
	int in_connect;	     /* inside bufferevent_socket_connect */
	int64_t deadline_ms; /* of the current connect */
	int backoff_ms;
	int last_err; /* errno of the last failed dial; -1: no address */
	char accept[29];
	int64_t last_rx_ms, last_ping_ms;
	int ping_ms, dead_ms;

	unsigned char *frag; /* a fragmented message being assembled */
	size_t frag_len;
	int frag_on;

	cJSON *hello;
	uint32_t next_id;
	struct aglink_chans chans;
};

static void aglink_dial(struct aglink *l);
static void aglink_timer_cb(evutil_socket_t fd, short what, void *arg);

static int64_t
aglink_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void
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
	free(l->frag);
	cJSON_Delete(l->hello);
	free(l->host);
	OPENSSL_cleanse(l->token, strlen(l->token));
	free(l->token);
	free(l->cid);
	free(l);
}

static void
aglink_enter(struct aglink *l)
{
	l->busy++;
}

/* The link may be gone when this returns. */
static void
aglink_leave(struct aglink *l)
{
	if (--l->busy == 0 && l->dead)
		aglink_destroy(l);
}

/* Frees a channel nobody will hear from again, unless a callback of its
 * is still running (then the caller of that callback does it). */
static void
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
		TAILQ_FOREACH(ch, &l->chans, entry)
			if (!ch->done && ch->id <= last)
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
static void
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

static void
aglink_send(struct aglink *l, int type, int stream, uint32_t chan,
    const void *p, size_t n)
{
	unsigned char h[AGLINK_HEADER];

	aglink_put_header(h, type, stream, chan);
	aglink_ws_send(l->bev, l->server, WS_BINARY, h, sizeof(h), p, n);
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

static void
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
		aglink_ws_send(l->bev, l->server, WS_BINARY, NULL, 0,
		    evbuffer_pullup(ch->queue, (ev_ssize_t)n), n);
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
static void
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
static void
aglink_down_err(struct aglink *l, int code, struct err *e)
{
	uint32_t last = l->next_id - 1;

	log_info("container %.12s: agent link down: %s", l->cid, e->msg);
	aglink_transport_close(l, code);
	aglink_fail_chans(l, e, last);
	if (!l->dead && l->cbs.on_down != NULL)
		l->cbs.on_down(l->arg, e);
}

static void aglink_down(struct aglink *l, int code, int status, const char *fmt,
    ...) __attribute__((format(printf, 4, 5)));

static void
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

/* --- connecting --------------------------------------------------------- */

static int
aglink_resolve(struct aglink *l, struct sockaddr_storage *ss, socklen_t *sl)
{
	struct sockaddr_in *s4 = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;
	struct addrinfo hints, *res = NULL;
	char port[16];

	memset(ss, 0, sizeof(*ss));
	if (inet_pton(AF_INET, l->host, &s4->sin_addr) == 1) {
		s4->sin_family = AF_INET;
		s4->sin_port = htons((uint16_t)l->port);
		*sl = sizeof(*s4);
		return 0;
	}
	if (inet_pton(AF_INET6, l->host, &s6->sin6_addr) == 1) {
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons((uint16_t)l->port);
		*sl = sizeof(*s6);
		return 0;
	}
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	snprintf(port, sizeof(port), "%d", l->port);
	if (getaddrinfo(l->host, port, &hints, &res) != 0 || res == NULL)
		return -1;
	memcpy(ss, res->ai_addr, res->ai_addrlen);
	*sl = res->ai_addrlen;
	freeaddrinfo(res);
	return 0;
}

/* The connect deadline passed: every waiting channel fails. */
static void
aglink_give_up(struct aglink *l)
{
	struct err e;
	const char *why;
	char hint[160];
	int status = 502;

	switch (l->last_err) {
	case ECONNREFUSED:
		why = "connection refused";
		snprintf(hint, sizeof(hint),
		    "nothing listens on port %d yet: is the container's "
		    "entrypoint the sockerless agent, and is it running?",
		    l->port);
		break;
	case ETIMEDOUT:
		why = "connection timed out";
		snprintf(hint, sizeof(hint),
		    "is port %d open in the task's security group?", l->port);
		status = 504;
		break;
	case -1:
		why = "the host name does not resolve";
		snprintf(hint, sizeof(hint), "is the task's address right?");
		break;
	case ECONNRESET:
		why = "the connection was closed before the handshake";
		snprintf(hint, sizeof(hint),
		    "is another program listening on port %d?", l->port);
		break;
	default:
		why = strerror(l->last_err);
		snprintf(hint, sizeof(hint),
		    "is the task's network reachable from the backend?");
		break;
	}
	err_set(&e, status,
	    "cannot reach the sockerless agent of container %.12s at %s:%d "
	    "within %d s: %s (%s)",
	    l->cid, l->host, l->port, l->connect_timeout_s, why, hint);
	aglink_down_err(l, 0, &e);
}

/* The dial failed with l->last_err: again after the backoff, or give up
 * (from the timer, so no callback runs inside aglink_open). */
static void
aglink_retry(struct aglink *l)
{
	int64_t left = l->deadline_ms - aglink_now_ms();
	int64_t d = l->backoff_ms;

	if (l->bev != NULL) {
		bufferevent_free(l->bev);
		l->bev = NULL;
	}
	if (d > left)
		d = left;
	l->backoff_ms *= 2;
	if (l->backoff_ms > AGLINK_BACKOFF_MAX_MS)
		l->backoff_ms = AGLINK_BACKOFF_MAX_MS;
	log_debug("container %.12s: agent at %s:%d: %s; again in %lld ms",
	    l->cid, l->host, l->port,
	    l->last_err == -1 ? "no address" : strerror(l->last_err),
	    (long long)(d < 0 ? 0 : d));
	l->state = AGLINK_ST_RETRY;
	aglink_timer_set(l, d);
}

static void
aglink_send_request(struct aglink *l)
{
	unsigned char raw[16];
	char key[25], host[300];
	struct evbuffer *out = bufferevent_get_output(l->bev);

	if (RAND_bytes(raw, sizeof(raw)) != 1)
		for (size_t i = 0; i < sizeof(raw); i++)
			raw[i] = (unsigned char)random();
	lite_b64_encode(raw, sizeof(raw), key);
	ws_accept_key(key, l->accept);
	if (strchr(l->host, ':') != NULL)
		snprintf(host, sizeof(host), "[%s]:%d", l->host, l->port);
	else
		snprintf(host, sizeof(host), "%s:%d", l->host, l->port);
	evbuffer_add_printf(out,
	    "GET " AGLINK_PATH " HTTP/1.1\r\n"
	    "Host: %s\r\n"
	    "Upgrade: websocket\r\n"
	    "Connection: Upgrade\r\n"
	    "Sec-WebSocket-Key: %s\r\n"
	    "Sec-WebSocket-Version: 13\r\n"
	    "Sec-WebSocket-Protocol: " AGLINK_PROTOCOL "\r\n"
	    "Authorization: Bearer %s\r\n"
	    "X-Sockerless-Container: %s\r\n"
	    "\r\n",
	    host, key, l->token, l->cid);
}

static void
aglink_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct aglink *l = arg;
	int err = EVUTIL_SOCKET_ERROR();

	(void)bev;
	if (l->in_connect) { /* failed inside bufferevent_socket_connect */
		l->last_err = err != 0 ? err : ECONNREFUSED;
		return;
	}
	aglink_enter(l);
	if (l->state == AGLINK_ST_DIALING) {
		if (what & BEV_EVENT_CONNECTED) {
			log_debug("container %.12s: connected to the agent at "
				  "%s:%d",
			    l->cid, l->host, l->port);
			l->state = AGLINK_ST_HANDSHAKE;
			l->backoff_ms = AGLINK_BACKOFF_MIN_MS;
			aglink_send_request(l);
			bufferevent_enable(l->bev, EV_READ | EV_WRITE);
			aglink_timer_set(l, AGLINK_HANDSHAKE_MS);
		} else {
			/* A connect that failed at once is reported
			 * deferred, when errno no longer says why. */
			if (err != ECONNREFUSED && err != ETIMEDOUT &&
			    err != EHOSTUNREACH && err != ENETUNREACH &&
			    err != ECONNRESET && err != EADDRNOTAVAIL)
				err = ECONNREFUSED;
			l->last_err = err;
			aglink_retry(l);
		}
	} else if (l->state == AGLINK_ST_HANDSHAKE &&
	    evbuffer_get_length(bufferevent_get_input(l->bev)) == 0 &&
	    aglink_now_ms() < l->deadline_ms) {
		/* Closed before answering: an agent still starting up. */
		l->last_err = ECONNRESET;
		aglink_retry(l);
	} else if (what & BEV_EVENT_EOF) {
		aglink_down(l, 0, 502, "the agent closed the connection");
	} else {
		aglink_down(l, 0, 502, "%s",
		    err != 0 ? strerror(err) : "connection error");
	}
	aglink_leave(l);
}

static void aglink_read_cb(struct bufferevent *bev, void *arg);

static void
aglink_dial(struct aglink *l)
{
	struct sockaddr_storage ss;
	socklen_t sl;
	int64_t left;
	int rc;

	if (aglink_resolve(l, &ss, &sl) == -1) {
		l->last_err = -1;
		aglink_retry(l);
		return;
	}
	log_debug("container %.12s: dialling the agent at %s:%d", l->cid,
	    l->host, l->port);
	l->bev = bufferevent_socket_new(l->base, -1, BEV_OPT_CLOSE_ON_FREE);
	if (l->bev == NULL)
		fatalx("%s: bufferevent_socket_new", __func__);
	bufferevent_setcb(l->bev, aglink_read_cb, NULL, aglink_event_cb, l);
	l->state = AGLINK_ST_DIALING;
	l->in_connect = 1;
	rc =
	    bufferevent_socket_connect(l->bev, (struct sockaddr *)&ss, (int)sl);
	l->in_connect = 0;
	if (rc == -1) {
		if (l->last_err == 0)
			l->last_err = ECONNREFUSED;
		aglink_retry(l);
		return;
	}
	left = l->deadline_ms - aglink_now_ms();
	aglink_timer_set(l, left < AGLINK_DIAL_MS ? left : AGLINK_DIAL_MS);
}

/* Starts connecting (state IDLE). */
static void
aglink_connect(struct aglink *l)
{
	l->deadline_ms = aglink_now_ms() + (int64_t)l->connect_timeout_s * 1000;
	l->backoff_ms = AGLINK_BACKOFF_MIN_MS;
	l->last_err = 0;
	aglink_dial(l);
}

/* Checks the 101 answer; 0 when it upgrades, else -1 after the down. */
static int
aglink_check_answer(struct aglink *l, char *resp)
{
	char *line, *save = NULL, *v;
	int status = 0, upgrade = 0, conn = 0, accept = 0, proto = 1;

	line = strtok_r(resp, "\r\n", &save);
	if (line == NULL || str_http_status(line, &status) == -1) {
		aglink_down(l, 0, 502, "the agent's answer is not HTTP");
		return -1;
	}
	if (status == 401) {
		struct err e;

		err_set(&e, 502,
		    "the agent of container %.12s refused the link token "
		    "(was the container started by another backend?)",
		    l->cid);
		aglink_down_err(l, 0, &e);
		return -1;
	}
	if (status != 101) {
		aglink_down(l, 0, 502,
		    "the agent answered HTTP %d to the link upgrade", status);
		return -1;
	}
	while ((line = strtok_r(NULL, "\r\n", &save)) != NULL) {
		if ((v = strchr(line, ':')) == NULL)
			continue;
		*v++ = '\0';
		v += strspn(v, " \t");
		for (size_t k = strlen(v);
		     k > 0 && (v[k - 1] == ' ' || v[k - 1] == '\t'); k--)
			v[k - 1] = '\0';
		if (strcasecmp(line, "Upgrade") == 0)
			upgrade = strcasecmp(v, "websocket") == 0;
		else if (strcasecmp(line, "Connection") == 0)
			conn = strcasestr(v, "upgrade") != NULL;
		else if (strcasecmp(line, "Sec-WebSocket-Accept") == 0)
			accept = strcmp(v, l->accept) == 0;
		else if (strcasecmp(line, "Sec-WebSocket-Protocol") == 0)
			proto = strcmp(v, AGLINK_PROTOCOL) == 0;
	}
	if (!upgrade || !conn || !accept || !proto) {
		aglink_down(l, 0, 502,
		    "the agent's 101 answer is not a valid WebSocket upgrade "
		    "(%s)",
		    !upgrade	? "Upgrade" :
			!conn	? "Connection" :
			!accept ? "Sec-WebSocket-Accept" :
				  "Sec-WebSocket-Protocol");
		return -1;
	}
	return 0;
}

/* Reads the handshake answer; 0 when the WebSocket is open. */
static int
aglink_read_answer(struct aglink *l, struct evbuffer *in)
{
	struct evbuffer_ptr end;
	char *resp;
	size_t n;
	int rc;

	end = evbuffer_search(in, "\r\n\r\n", 4, NULL);
	if (end.pos < 0) {
		if (evbuffer_get_length(in) > AGLINK_RESP_MAX)
			aglink_down(l, 0, 502,
			    "the agent's answer to the upgrade is too long");
		return -1;
	}
	n = (size_t)end.pos + 4;
	resp = xmalloc(n + 1);
	evbuffer_remove(in, resp, n);
	resp[n] = '\0';
	rc = aglink_check_answer(l, resp);
	free(resp);
	if (rc == 0) {
		log_debug("container %.12s: agent link upgraded", l->cid);
		l->state = AGLINK_ST_HELLO;
	}
	return rc;
}

/* --- receiving ---------------------------------------------------------- */

static cJSON *
aglink_json(const struct aglink_msg *m)
{
	cJSON *j = cJSON_ParseWithLength((const char *)m->payload, m->len);

	if (j != NULL && !cJSON_IsObject(j)) {
		cJSON_Delete(j);
		j = NULL;
	}
	return j;
}

static void
aglink_on_hello(struct aglink *l, const struct aglink_msg *m)
{
	struct aglink_chan *ch;
	cJSON *hello = aglink_json(m);

	if (hello == NULL) {
		aglink_down(l, 1002, 502, "the agent's HELLO is not JSON");
		return;
	}
	cJSON_Delete(l->hello);
	l->hello = hello;
	if (l->state != AGLINK_ST_UP) {
		if (l->reverse)
			log_info("container %.12s: agent link up (called back)",
			    l->cid);
		else
			log_info("container %.12s: agent link up (%s:%d)",
			    l->cid, l->host, l->port);
		l->state = AGLINK_ST_UP;
		l->last_ping_ms = 0;
		aglink_timer_set(l, l->ping_ms);
		TAILQ_FOREACH(ch, &l->chans, entry)
			if (!ch->opened && !ch->done && !ch->closed)
				aglink_chan_send_open(ch);
	}
	if (l->cbs.on_hello != NULL)
		l->cbs.on_hello(l->arg, l->hello);
}

static void
aglink_on_event(struct aglink *l, const struct aglink_msg *m)
{
	cJSON *ev = aglink_json(m);

	if (ev == NULL) {
		log_warnx("container %.12s: the agent sent an EVENT that is "
			  "not JSON",
		    l->cid);
		return;
	}
	if (l->cbs.on_event != NULL)
		l->cbs.on_event(l->arg, ev);
	cJSON_Delete(ev);
}

static struct aglink_chan *
aglink_chan_find(struct aglink *l, uint32_t id)
{
	struct aglink_chan *ch;

	TAILQ_FOREACH(ch, &l->chans, entry)
		if (ch->id == id)
			return ch->opened && !ch->done && !ch->closed ? ch :
									NULL;
	return NULL;
}

/* One message for an open channel. */
static void
aglink_on_chan(
    struct aglink *l, struct aglink_chan *ch, const struct aglink_msg *m)
{
	cJSON *j;

	ch->busy++;
	switch (m->type) {
	case AGLINK_DATA:
		ch->in_unacked += m->len;
		if (ch->in_unacked > AGLINK_WINDOW) {
			ch->busy--;
			aglink_down(l, 1008, 502,
			    "protocol error: the agent overran the window of "
			    "channel %u",
			    ch->id);
			return;
		}
		if (ch->cbs.on_data != NULL)
			ch->cbs.on_data(ch->arg, m->stream, m->payload, m->len);
		else
			aglink_chan_consumed(ch, m->len);
		break;
	case AGLINK_EOF:
		if (ch->cbs.on_eof != NULL)
			ch->cbs.on_eof(ch->arg, m->stream);
		break;
	case AGLINK_META:
		j = aglink_json(m);
		if (ch->cbs.on_meta != NULL && j != NULL)
			ch->cbs.on_meta(ch->arg, j);
		cJSON_Delete(j);
		break;
	case AGLINK_CREDIT:
		if (m->len < 4)
			break;
		ch->out_credit += aglink_get_u32(m->payload);
		if (ch->out_credit > AGLINK_WINDOW)
			ch->out_credit = AGLINK_WINDOW;
		if (ch->want_writable && ch->out_credit > 0) {
			ch->want_writable = 0;
			if (ch->cbs.on_writable != NULL)
				ch->cbs.on_writable(ch->arg);
		}
		break;
	case AGLINK_RESULT:
		j = aglink_json(m);
		ch->done = 1;
		if (!ch->closed && ch->cbs.on_result != NULL) {
			if (j != NULL) {
				ch->cbs.on_result(ch->arg, j, NULL);
			} else {
				struct err e;

				err_set(&e, 502,
				    "the agent of container %.12s sent a "
				    "RESULT that is not JSON",
				    l->cid);
				ch->cbs.on_result(ch->arg, NULL, &e);
			}
		}
		cJSON_Delete(j);
		break;
	default: /* OPEN, CLOSE, RESIZE go the other way */
		log_debug("container %.12s: agent sent message type %d on "
			  "channel %u",
		    l->cid, m->type, ch->id);
		break;
	}
	ch->busy--;
	aglink_chan_gc(ch);
}

/* One whole link message (the payload of a binary WebSocket message). */
static void
aglink_dispatch(struct aglink *l, const unsigned char *buf, size_t n)
{
	struct aglink_msg m;
	struct aglink_chan *ch;

	if (aglink_parse(buf, n, &m) == -1) {
		aglink_down(
		    l, 1002, 502, "protocol error: a malformed link message");
		return;
	}
	if (l->state != AGLINK_ST_UP && m.type != AGLINK_HELLO) {
		aglink_down(l, 1002, 502,
		    "protocol error: the agent did not start with HELLO");
		return;
	}
	if (m.channel == 0) {
		if (m.type == AGLINK_HELLO)
			aglink_on_hello(l, &m);
		else if (m.type == AGLINK_EVENT)
			aglink_on_event(l, &m);
		return;
	}
	/* Unknown channels: a race with our CLOSE or a RESULT. */
	if ((ch = aglink_chan_find(l, m.channel)) != NULL)
		aglink_on_chan(l, ch, &m);
}

/* One complete frame. */
static void
aglink_on_frame(
    struct aglink *l, const struct ws_frame *f, const unsigned char *p)
{
	size_t n = (size_t)f->len;
	unsigned char *msg;

	switch (f->opcode) {
	case WS_PING:
		aglink_ws_send(l->bev, l->server, WS_PONG, NULL, 0, p, n);
		break;
	case WS_PONG:
		break;
	case WS_CLOSE:
		if (n >= 2)
			aglink_down(l, 0, 502,
			    "the agent closed the link (code %d)",
			    p[0] << 8 | p[1]);
		else
			aglink_down(l, 0, 502, "the agent closed the link");
		break;
	case WS_TEXT:
	case WS_BINARY:
		if (l->frag_on) {
			aglink_down(l, 1002, 502,
			    "protocol error: a new message inside a "
			    "fragmented one");
			break;
		}
		if (f->fin) {
			aglink_dispatch(l, p, n);
			break;
		}
		l->frag_on = 1;
		l->frag = xmalloc(n > 0 ? n : 1);
		memcpy(l->frag, p, n);
		l->frag_len = n;
		break;
	case WS_CONT:
		if (!l->frag_on) {
			aglink_down(l, 1002, 502,
			    "protocol error: a continuation frame without a "
			    "message");
			break;
		}
		if (l->frag_len + n > AGLINK_MAX_MESSAGE) {
			aglink_down(l, 1009, 502,
			    "protocol error: a message over %d bytes",
			    AGLINK_MAX_MESSAGE);
			break;
		}
		l->frag = xrealloc(l->frag, l->frag_len + n + 1);
		memcpy(l->frag + l->frag_len, p, n);
		l->frag_len += n;
		if (!f->fin)
			break;
		/* Detached first: a callback may free the link. */
		msg = l->frag;
		n = l->frag_len;
		l->frag = NULL;
		l->frag_len = 0;
		l->frag_on = 0;
		aglink_dispatch(l, msg, n);
		free(msg);
		break;
	}
}

static void
aglink_read_frames(struct aglink *l, struct bufferevent *bev, unsigned gen)
{
	struct evbuffer *in = bufferevent_get_input(bev);
	struct ws_frame f;
	size_t n, total;
	unsigned char *p;
	int r;

	while (!l->dead && l->gen == gen) {
		n = evbuffer_get_length(in);
		if (n > 14)
			n = 14;
		p = evbuffer_pullup(in, (ev_ssize_t)n);
		if ((r = ws_parse_header(p, n, &f)) == 0)
			return;
		/* RFC 6455: client frames are masked, server frames not. */
		if (r == -1 || f.masked != l->server) {
			aglink_down(l, 1002, 502,
			    "protocol error: a malformed WebSocket frame");
			return;
		}
		if (f.len > AGLINK_MAX_MESSAGE) {
			aglink_down(l, 1009, 502,
			    "protocol error: a message over %d bytes",
			    AGLINK_MAX_MESSAGE);
			return;
		}
		total = f.header_len + (size_t)f.len;
		if (evbuffer_get_length(in) < total)
			return;
		p = evbuffer_pullup(in, (ev_ssize_t)total);
		if (f.masked)
			ws_mask(p + f.header_len, (size_t)f.len, f.mask, 0);
		aglink_on_frame(l, &f, p + f.header_len);
		/* If the connection went, bev is freed after we return. */
		if (l->dead || l->gen != gen)
			return;
		evbuffer_drain(in, total);
	}
}

static void
aglink_read_cb(struct bufferevent *bev, void *arg)
{
	struct aglink *l = arg;
	unsigned gen = l->gen;

	aglink_enter(l);
	l->last_rx_ms = aglink_now_ms();
	if (l->state == AGLINK_ST_HANDSHAKE &&
	    aglink_read_answer(l, bufferevent_get_input(bev)) == -1) {
		aglink_leave(l);
		return;
	}
	if (!l->dead && l->gen == gen)
		aglink_read_frames(l, bev, gen);
	aglink_leave(l);
}

/* --- reverse mode: waiting for the agent to call back ------------------ */

/* Channels are waiting and nobody is connected (state IDLE). */
static void
aglink_await(struct aglink *l)
{
	l->state = AGLINK_ST_AWAIT;
	l->deadline_ms = aglink_now_ms() + (int64_t)l->connect_timeout_s * 1000;
	aglink_timer_set(l, (int64_t)l->connect_timeout_s * 1000);
}

static void
aglink_await_give_up(struct aglink *l)
{
	struct err e;

	err_set(&e, 504,
	    "the agent of container %.12s has not called back within %ds "
	    "(is the callback URL reachable from the workload?)",
	    l->cid, l->connect_timeout_s);
	aglink_down_err(l, 0, &e);
}

/*
 * Takes bev, a connection the listener has answered 101 on: the link is
 * now the WebSocket server on it. A connection already there is replaced
 * (its channels fail as with a drop). Called inside aglink_enter.
 */
static void
aglink_adopt(struct aglink *l, struct bufferevent *bev)
{
	struct err e;

	if (l->bev != NULL) {
		err_set(&e, 502,
		    "the link to the agent of container %.12s was replaced by "
		    "a newer one",
		    l->cid);
		aglink_down_err(l, 1000, &e);
		if (l->dead) {
			bufferevent_free(bev);
			return;
		}
	}
	evtimer_del(l->timer);
	log_debug("container %.12s: the agent called back", l->cid);
	l->bev = bev;
	l->server = 1;
	l->state = AGLINK_ST_HELLO;
	l->last_rx_ms = aglink_now_ms();
	bufferevent_setcb(bev, aglink_read_cb, NULL, aglink_event_cb, l);
	bufferevent_setwatermark(bev, EV_WRITE, 0, 0);
	bufferevent_set_timeouts(bev, NULL, NULL);
	bufferevent_enable(bev, EV_READ | EV_WRITE);
	aglink_timer_set(l, AGLINK_HANDSHAKE_MS);
	/* The HELLO may have come with the request. */
	if (evbuffer_get_length(bufferevent_get_input(bev)) > 0)
		aglink_read_frames(l, bev, l->gen);
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
		aglink_chan_msg(ch, AGLINK_DATA, AGLINK_STDIN, p + off, k);
	}
	ch->out_credit -= n;
	return n;
}

void
aglink_chan_eof(struct aglink_chan *ch)
{
	if (ch->done || ch->closed)
		return;
	aglink_chan_msg(ch, AGLINK_EOF, AGLINK_STDIN, NULL, 0);
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

int
aglink_token_new(
    char hex[AGLINK_TOKEN_HEX + 1], char sha_hex[AGLINK_TOKEN_HEX + 1])
{
	unsigned char tok[AGLINK_TOKEN_BYTES], md[32];

	if (RAND_bytes(tok, sizeof(tok)) != 1)
		return -1;
	lite_hex(tok, sizeof(tok), hex);
	aglink_sha256(tok, sizeof(tok), md);
	lite_hex(md, sizeof(md), sha_hex);
	OPENSSL_cleanse(tok, sizeof(tok));
	return 0;
}

struct aglink *
aglink_new_reverse(struct event_base *base, const char *container_id,
    int connect_timeout_s, const struct aglink_cbs *cbs, void *arg)
{
	struct aglink *l = aglink_new(
	    base, "", 0, "", container_id, connect_timeout_s, cbs, arg);

	l->reverse = 1;
	return l;
}

/* --- the listener (reverse mode) ---------------------------------------- */

struct aglink_pending {
	TAILQ_ENTRY(aglink_pending) entry;
	struct aglink_listener *ls;
	struct bufferevent *bev;
};

struct aglink_listener {
	struct event_base *base;
	struct evconnlistener *lis;
	int port;
	struct aglink *(*lookup)(
	    void *arg, const char *container_id, const char *token_hex);
	void *arg;
	TAILQ_HEAD(, aglink_pending) pending;
};

static void
aglink_pending_free(struct aglink_pending *pc, int free_bev)
{
	TAILQ_REMOVE(&pc->ls->pending, pc, entry);
	if (free_bev)
		bufferevent_free(pc->bev);
	free(pc);
}

/* Answers status and closes once it is written. */
static void
aglink_pending_refuse(struct aglink_pending *pc, const char *status)
{
	struct bufferevent *bev = pc->bev;

	log_info("agent link: refused a callback: %s", status);
	evbuffer_add_printf(bufferevent_get_output(bev),
	    "HTTP/1.1 %s\r\nContent-Type: text/plain\r\n"
	    "Content-Length: %zu\r\nConnection: close\r\n\r\n%s\n",
	    status, strlen(status) + 1, status);
	aglink_pending_free(pc, 0);
	aglink_linger_start(bev);
}

/* Handles the whole request head; pc is gone when this returns. */
static void
aglink_pending_request(struct aglink_pending *pc, const char *head)
{
	char path[512], v[256], key[128], auth[160], cid[160], acc[29];
	struct bufferevent *bev = pc->bev;
	struct aglink *l;

	if (sscanf(head, "GET %511s HTTP/1.%*c", path) != 1) {
		aglink_pending_refuse(pc, "400 Bad Request");
		return;
	}
	path[strcspn(path, "?")] = '\0';
	if (strcmp(path, AGLINK_PATH) != 0) {
		aglink_pending_refuse(pc, "404 Not Found");
		return;
	}
	if (lite_http_header(head, "Upgrade", v, sizeof(v)) == -1 ||
	    strcasestr(v, "websocket") == NULL ||
	    lite_http_header(head, "Connection", v, sizeof(v)) == -1 ||
	    strcasestr(v, "upgrade") == NULL ||
	    lite_http_header(head, "Sec-WebSocket-Version", v, sizeof(v)) ==
		-1 ||
	    strcmp(v, "13") != 0 ||
	    lite_http_header(head, "Sec-WebSocket-Key", key, sizeof(key)) ==
		-1 ||
	    *key == '\0') {
		aglink_pending_refuse(pc, "400 Bad Request");
		return;
	}
	if (lite_http_header(head, "Authorization", auth, sizeof(auth)) == -1 ||
	    strncasecmp(auth, "Bearer ", 7) != 0 ||
	    lite_http_header(
		head, "X-Sockerless-Container", cid, sizeof(cid)) == -1 ||
	    (l = pc->ls->lookup(pc->ls->arg, cid, auth + 7)) == NULL ||
	    l->dead || !l->reverse) {
		OPENSSL_cleanse(auth, sizeof(auth));
		aglink_pending_refuse(pc, "401 Unauthorized");
		return;
	}
	OPENSSL_cleanse(auth, sizeof(auth));
	ws_accept_key(key, acc);
	evbuffer_add_printf(bufferevent_get_output(bev),
	    "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
	    "Connection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n"
	    "Sec-WebSocket-Protocol: " AGLINK_PROTOCOL "\r\n\r\n",
	    acc);
	aglink_pending_free(pc, 0);
	aglink_enter(l);
	aglink_adopt(l, bev);
	aglink_leave(l);
}

static void
aglink_pending_read(struct bufferevent *bev, void *arg)
{
	struct aglink_pending *pc = arg;
	struct evbuffer *in = bufferevent_get_input(bev);
	struct evbuffer_ptr end = evbuffer_search(in, "\r\n\r\n", 4, NULL);
	char *head;
	size_t n;

	if (end.pos < 0) {
		if (evbuffer_get_length(in) > AGLINK_RESP_MAX)
			aglink_pending_refuse(
			    pc, "431 Request Header Fields Too Large");
		return;
	}
	n = (size_t)end.pos + 4;
	if (n > AGLINK_RESP_MAX) {
		aglink_pending_refuse(
		    pc, "431 Request Header Fields Too Large");
		return;
	}
	head = xmalloc(n + 1);
	evbuffer_remove(in, head, n);
	head[n] = '\0';
	aglink_pending_request(pc, head);
	OPENSSL_cleanse(head, n);
	free(head);
}

static void
aglink_pending_event(struct bufferevent *bev, short what, void *arg)
{
	(void)bev;
	(void)what;
	aglink_pending_free(arg, 1);
}

static void
aglink_listener_accept(struct evconnlistener *lis, evutil_socket_t fd,
    struct sockaddr *sa, int sl, void *arg)
{
	(void)lis;
	(void)sa;
	(void)sl;
	aglink_listener_adopt(arg, fd);
}

void
aglink_listener_adopt(struct aglink_listener *ls, evutil_socket_t fd)
{
	struct aglink_pending *pc = xcalloc(1, sizeof(*pc));
	struct timeval tv = { AGLINK_HANDSHAKE_MS / 1000, 0 };

	pc->ls = ls;
	pc->bev = bufferevent_socket_new(ls->base, fd, BEV_OPT_CLOSE_ON_FREE);
	if (pc->bev == NULL)
		fatalx("%s: bufferevent_socket_new", __func__);
	TAILQ_INSERT_TAIL(&ls->pending, pc, entry);
	bufferevent_setcb(
	    pc->bev, aglink_pending_read, NULL, aglink_pending_event, pc);
	bufferevent_set_timeouts(pc->bev, &tv, &tv);
	bufferevent_enable(pc->bev, EV_READ | EV_WRITE);
}

struct aglink_listener *
aglink_listener_new(struct event_base *base, const char *host, int port,
    struct aglink *(*lookup)(
	void *arg, const char *container_id, const char *token_hex),
    void *arg)
{
	struct aglink_listener *ls;
	struct addrinfo hints, *res = NULL;
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	char portstr[16];
	int rc;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
	snprintf(portstr, sizeof(portstr), "%d", port);
	if ((rc = getaddrinfo(host != NULL && *host != '\0' ? host : NULL,
		 portstr, &hints, &res)) != 0) {
		log_warnx(
		    "%s: %s:%d: %s", __func__, host, port, gai_strerror(rc));
		return NULL;
	}
	ls = xcalloc(1, sizeof(*ls));
	ls->base = base;
	ls->lookup = lookup;
	ls->arg = arg;
	TAILQ_INIT(&ls->pending);
	ls->lis = evconnlistener_new_bind(base, aglink_listener_accept, ls,
	    LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE | LEV_OPT_CLOSE_ON_EXEC,
	    64, res->ai_addr, (int)res->ai_addrlen);
	freeaddrinfo(res);
	if (ls->lis == NULL) {
		log_warn("%s: listen on %s:%d", __func__, host, port);
		free(ls);
		return NULL;
	}
	/* The system's backlog (net.core.somaxconn), not libevent's 64/128:
	 * many workloads dial back at once when a batch of them starts. */
	listen(evconnlistener_get_fd(ls->lis), -1);
	memset(&ss, 0, sizeof(ss));
	if (getsockname(evconnlistener_get_fd(ls->lis), (struct sockaddr *)&ss,
		&sl) == 0)
		ls->port = ntohs(ss.ss_family == AF_INET6 ?
			((struct sockaddr_in6 *)&ss)->sin6_port :
			((struct sockaddr_in *)&ss)->sin_port);
	return ls;
}

int
aglink_listener_port(const struct aglink_listener *ls)
{
	return ls->port;
}

void
aglink_listener_free(struct aglink_listener *ls)
{
	struct aglink_pending *pc;

	if (ls == NULL)
		return;
	evconnlistener_free(ls->lis);
	/* pending_free unlinks before it frees (lost in TAILQ_REMOVE). */
	while ((pc = TAILQ_FIRST(&ls->pending)) != NULL)
		/* NOLINTNEXTLINE(clang-analyzer-unix.Malloc) */
		aglink_pending_free(pc, 1);
	free(ls);
}
