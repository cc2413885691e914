/* The fixture of the agent link tests (t_aglink.c: forward mode,
 * t_aglink_seal_rev.c: the sealed reverse mode): a fake agent served
 * from the same event loop (or dialling the aglink_listener), the
 * client's callbacks and records, setup and teardown. Included by each;
 * not every test file uses every helper. */
#ifndef SOCKERLESS_TEST_AGLINK_FX_H
#define SOCKERLESS_TEST_AGLINK_FX_H

#pragma GCC diagnostic ignored "-Wunused-function"
#include <sys/socket.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <openssl/rand.h>

#include "sockerless/aglink.h"
#include "sockerless/aglink_seal.h"
#include "sockerless/xmalloc.h"

#define TOKEN "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"
#define CID   "3f2a9c0d1e2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5"
#define MB    (1024 * 1024)

/* A message the fake agent received. */
struct smsg {
	int type, stream;
	uint32_t chan;
	unsigned char *p;
	size_t n;
};

/* What the client saw on one channel. */
struct crec {
	struct fx *fx;
	struct aglink_chan *ch;
	unsigned char *data; /* DATA of streams 1 and 2, in order */
	size_t len;
	size_t unconsumed;
	size_t max_unconsumed;
	char log[512]; /* "D1:out E1 R" ... */
	int results;
	int seq; /* fx->seq at on_result */
	cJSON *result;
	struct err err;
	int has_err;
	int writable;
	int close_in_result;
	int free_link_in_data;
	int metas;
	int hold; /* never consumes */
};

struct fx {
	struct event_base *base;
	struct event *ticker;
	/* the fake agent */
	struct evconnlistener *lis;
	int port;
	int mode_401;
	int mute; /* no pong for the client's pings */
	int accepts;
	struct bufferevent *conn;
	int upgraded;
	char req[4096]; /* the last upgrade request */
	struct smsg *msgs;
	size_t nmsgs;
	int pongs, pings; /* pongs the agent got, pings it got */
	char pong[32];
	int closes; /* close frames the agent got */
	/* a flood: bytes sent on flood_chan minus the credited ones */
	uint32_t flood_chan;
	size_t flood_total, flood_sent, flood_out, flood_max_out;
	int flood_credits;
	/* the client */
	struct aglink *l;
	int hellos, events, downs, down_seq;
	struct err down_err;
	int seq;
	struct crec *slow; /* consumed 8 KiB per tick */
	/* reverse mode: the fake agent dials the listener */
	int rev;
	struct aglink_listener *ls;
	int lport;
	int lookups;
	int rev_status;		 /* of the listener's answer */
	char resp[1024];	 /* the listener's answer */
	char accept[29];	 /* the Sec-WebSocket-Accept expected */
	struct bufferevent *old; /* an earlier connection, kept open */
	int old_closes;
	/* the sealed link (reverse mode) */
	char token[AGLINK_TOKEN_HEX + 1], cid[80];
	unsigned char na[AGLINK_SEAL_NONCE];
	struct aglink_seal seal;
	int sealed;
	int bad_mac;	 /* the next dial's MAC is wrong */
	int tamper_next; /* flip a bit of the next sealed message */
	char sent_req[1024];
	unsigned char first[1024]; /* the first frame sent after the 101 */
	size_t first_len;
	/* a spy replaying a recorded callback */
	struct bufferevent *spy;
	int spy_status, spy_closed;
};

static int64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void
tick(struct fx *f)
{
	struct crec *r = f->slow;

	if (r != NULL && r->unconsumed > 0 && r->ch != NULL &&
	    r->results == 0) {
		size_t k = r->unconsumed < 8192 ? r->unconsumed : 8192;

		r->unconsumed -= k;
		aglink_chan_consumed(r->ch, k);
	}
}

#define SPIN(f, ms, cond)                                        \
	do {                                                     \
		int64_t dl_ = now_ms() + (ms);                   \
		while (!(cond) && now_ms() < dl_) {              \
			tick(f);                                 \
			event_base_loop((f)->base, EVLOOP_ONCE); \
		}                                                \
	} while (0)

/* --- the fake agent ---------------------------------------------------- */

static void
srv_frame(struct fx *f, int fin, int opcode, const void *p, size_t n)
{
	unsigned char h[14], mask[4] = { 0x12, 0x34, 0x56, 0x78 }, *m;
	size_t hl = ws_build_header(h, opcode, n, f->rev ? mask : NULL);

	if (!fin)
		h[0] &= 0x7F;
	m = xmalloc(hl + n + 1);
	memcpy(m, h, hl);
	if (n > 0)
		memcpy(m + hl, p, n);
	if (f->rev) /* the agent is the client: masked */
		ws_mask(m + hl, n, mask, 0);
	if (f->rev && f->first_len == 0 && hl + n <= sizeof(f->first)) {
		memcpy(f->first, m, hl + n); /* a spy may replay it */
		f->first_len = hl + n;
	}
	bufferevent_write(f->conn, m, hl + n);
	free(m);
}

static void
srv_send(
    struct fx *f, int type, int stream, uint32_t chan, const void *p, size_t n)
{
	unsigned char *m = xmalloc(AGLINK_HEADER + n + AGLINK_SEAL_TAG + 1);
	size_t len = AGLINK_HEADER + n;

	aglink_put_header(m, type, stream, chan);
	if (n > 0)
		memcpy(m + AGLINK_HEADER, p, n);
	if (f->sealed) {
		assert_int_equal(
		    aglink_seal_seal(&f->seal, m, len, m + len), 0);
		len += AGLINK_SEAL_TAG;
		if (f->tamper_next) {
			m[len - 1] ^= 0x01;
			f->tamper_next = 0;
		}
	}
	srv_frame(f, 1, WS_BINARY, m, len);
	free(m);
}

static void
srv_send_str(struct fx *f, int type, int stream, uint32_t chan, const char *s)
{
	srv_send(f, type, stream, chan, s, strlen(s));
}

static void
srv_pump(struct fx *f)
{
	unsigned char buf[16384];

	while (f->flood_sent < f->flood_total && f->flood_out < AGLINK_WINDOW) {
		size_t k = f->flood_total - f->flood_sent, i;

		if (k > sizeof(buf))
			k = sizeof(buf);
		if (k > AGLINK_WINDOW - f->flood_out)
			k = AGLINK_WINDOW - f->flood_out;
		for (i = 0; i < k; i++)
			buf[i] = (unsigned char)((f->flood_sent + i) * 7);
		srv_send(f, AGLINK_DATA, AGLINK_STDOUT, f->flood_chan, buf, k);
		f->flood_sent += k;
		f->flood_out += k;
		if (f->flood_out > f->flood_max_out)
			f->flood_max_out = f->flood_out;
		if (f->flood_sent == f->flood_total) {
			srv_send(f, AGLINK_EOF, AGLINK_STDOUT, f->flood_chan,
			    NULL, 0);
			srv_send_str(f, AGLINK_RESULT, 0, f->flood_chan,
			    "{\"exitCode\":0}");
		}
	}
}

static void
srv_on_open(struct fx *f, uint32_t chan, const unsigned char *p, size_t n)
{
	cJSON *j = cJSON_ParseWithLength((const char *)p, n);
	const cJSON *kind = cJSON_GetObjectItemCaseSensitive(j, "kind");
	const char *k = cJSON_IsString(kind) ? kind->valuestring : "";

	if (strcmp(k, "result") == 0) {
		srv_send_str(f, AGLINK_META, 0, chan, "{\"stat\":{}}");
		srv_send_str(f, AGLINK_DATA, AGLINK_STDOUT, chan, "out");
		srv_send_str(f, AGLINK_DATA, AGLINK_STDERR, chan, "err");
		srv_send(f, AGLINK_EOF, AGLINK_STDOUT, chan, NULL, 0);
		srv_send(f, AGLINK_EOF, AGLINK_STDERR, chan, NULL, 0);
		srv_send_str(f, AGLINK_RESULT, 0, chan, "{\"exitCode\":3}");
	} else if (strcmp(k, "flood") == 0) {
		f->flood_chan = chan;
		f->flood_total = (size_t)cJSON_GetNumberValue(
		    cJSON_GetObjectItemCaseSensitive(j, "size"));
		srv_pump(f);
	} else if (strcmp(k, "overrun") == 0) {
		unsigned char *big = xcalloc(1, AGLINK_WINDOW + 1);

		srv_send(f, AGLINK_DATA, AGLINK_STDOUT, chan, big,
		    AGLINK_WINDOW / 2);
		srv_send(f, AGLINK_DATA, AGLINK_STDOUT, chan, big,
		    AGLINK_WINDOW / 2 + 1);
		free(big);
	}
	cJSON_Delete(j);
}

static void
srv_on_message(struct fx *f, unsigned char *p, size_t n)
{
	struct aglink_msg m;
	struct smsg *s;

	assert_int_equal(aglink_parse(p, n, &m), 0);
	f->msgs = xreallocarray(f->msgs, f->nmsgs + 1, sizeof(*f->msgs));
	s = &f->msgs[f->nmsgs++];
	s->type = m.type;
	s->stream = m.stream;
	s->chan = m.channel;
	s->n = m.len;
	s->p = xmalloc(m.len + 1);
	memcpy(s->p, m.payload, m.len);
	s->p[m.len] = '\0';
	if (m.type == AGLINK_OPEN)
		srv_on_open(f, m.channel, m.payload, m.len);
	else if (m.type == AGLINK_CREDIT && m.channel == f->flood_chan) {
		f->flood_credits++;
		f->flood_out -= aglink_get_u32(m.payload);
		srv_pump(f);
	}
}

static void
srv_handshake(struct fx *f, struct evbuffer *in)
{
	struct evbuffer_ptr end = evbuffer_search(in, "\r\n\r\n", 4, NULL);
	char *key, accept[29], hello[256];
	size_t n;

	if (end.pos < 0)
		return;
	n = (size_t)end.pos + 4;
	assert_true(n < sizeof(f->req));
	evbuffer_remove(in, f->req, n);
	f->req[n] = '\0';
	if (f->mode_401) {
		evbuffer_add_printf(bufferevent_get_output(f->conn),
		    "HTTP/1.1 401 Unauthorized\r\nConnection: close\r\n"
		    "Content-Length: 0\r\n\r\n");
		return;
	}
	key = strcasestr(f->req, "Sec-WebSocket-Key: ");
	assert_non_null(key);
	key += strlen("Sec-WebSocket-Key: ");
	key = xstrndup(key, strcspn(key, "\r"));
	ws_accept_key(key, accept);
	free(key);
	evbuffer_add_printf(bufferevent_get_output(f->conn),
	    "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
	    "Connection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n"
	    "Sec-WebSocket-Protocol: " AGLINK_PROTOCOL "\r\n\r\n",
	    accept);
	f->upgraded = 1;
	snprintf(hello, sizeof(hello),
	    "{\"agent\":\"0.1.0\",\"container\":\"%s\",\"pid\":1,"
	    "\"held\":false,\"conn\":%d}",
	    CID, f->accepts);
	srv_send_str(f, AGLINK_HELLO, 0, 0, hello);
}

/* The listener's proof in its 101 (checked as the agent does); the
 * session from then on. */
static void
rev_seal(struct fx *f)
{
	unsigned char nb[AGLINK_SEAL_NONCE], mac[AGLINK_SEAL_MAC],
	    want[AGLINK_SEAL_MAC];
	const char *h = strstr(f->resp, AGLINK_SEAL_HEADER ": ");
	char v[200];

	assert_non_null(h);
	h += strlen(AGLINK_SEAL_HEADER ": ");
	snprintf(v, sizeof(v), "%.*s", (int)strcspn(h, "\r"), h);
	assert_int_equal(aglink_seal_params_parse(v, nb, mac), 0);
	assert_int_equal(
	    aglink_seal_accept_mac(f->token, f->cid, f->na, nb, want), 0);
	assert_memory_equal(mac, want, sizeof(mac));
	assert_int_equal(
	    aglink_seal_init(&f->seal, AGLINK_SEAL_AGENT, f->token, f->na, nb),
	    0);
	f->sealed = 1;
	f->first_len = 0;
}

/* Reverse mode: the listener's answer to the fake agent's request. */
static void
rev_answer(struct fx *f, struct evbuffer *in)
{
	struct evbuffer_ptr end = evbuffer_search(in, "\r\n\r\n", 4, NULL);
	char hello[256], want[64];
	size_t n;

	if (end.pos < 0)
		return;
	n = (size_t)end.pos + 4;
	assert_true(n < sizeof(f->resp));
	evbuffer_remove(in, f->resp, n);
	f->resp[n] = '\0';
	assert_int_equal(sscanf(f->resp, "HTTP/1.1 %d", &f->rev_status), 1);
	if (f->rev_status != 101)
		return;
	snprintf(want, sizeof(want), "Sec-WebSocket-Accept: %s\r\n", f->accept);
	assert_non_null(strstr(f->resp, want));
	assert_non_null(
	    strstr(f->resp, "Sec-WebSocket-Protocol: " AGLINK_PROTOCOL "\r\n"));
	rev_seal(f);
	f->upgraded = 1;
	snprintf(hello, sizeof(hello),
	    "{\"agent\":\"0.1.0\",\"container\":\"%s\",\"pid\":1,"
	    "\"held\":false,\"conn\":%d}",
	    CID, f->accepts);
	srv_send_str(f, AGLINK_HELLO, 0, 0, hello);
}

static void
srv_close(struct fx *f)
{
	if (f->conn != NULL)
		bufferevent_free(f->conn);
	f->conn = NULL;
	f->upgraded = 0;
}

static void
srv_read(struct bufferevent *bev, void *arg)
{
	struct fx *f = arg;
	struct evbuffer *in = bufferevent_get_input(bev);
	struct ws_frame fr;
	unsigned char *p;
	size_t n;

	if (!f->upgraded) {
		if (f->rev)
			rev_answer(f, in);
		else
			srv_handshake(f, in);
		if (!f->upgraded)
			return;
	}
	while (f->conn == bev) {
		n = evbuffer_get_length(in);
		p = evbuffer_pullup(in, (ev_ssize_t)(n < 14 ? n : 14));
		if (ws_parse_header(p, n < 14 ? n : 14, &fr) != 1)
			return;
		/* Every client frame is masked, no server frame is. */
		assert_int_equal(fr.masked, !f->rev);
		assert_true(fr.fin);
		if (n < fr.header_len + fr.len)
			return;
		evbuffer_drain(in, fr.header_len);
		p = xmalloc((size_t)fr.len + 1);
		evbuffer_remove(in, p, (size_t)fr.len);
		if (fr.masked)
			ws_mask(p, (size_t)fr.len, fr.mask, 0);
		switch (fr.opcode) {
		case WS_BINARY:
			if (f->sealed) { /* the backend seals every message */
				assert_int_equal(aglink_seal_open(&f->seal, p,
						     (size_t)fr.len),
				    0);
				fr.len -= AGLINK_SEAL_TAG;
			}
			srv_on_message(f, p, (size_t)fr.len);
			break;
		case WS_PING:
			f->pings++;
			if (!f->mute)
				srv_frame(f, 1, WS_PONG, p, (size_t)fr.len);
			break;
		case WS_PONG:
			f->pongs++;
			snprintf(
			    f->pong, sizeof(f->pong), "%.*s", (int)fr.len, p);
			break;
		case WS_CLOSE:
			f->closes++;
			free(p);
			srv_close(f);
			return;
		default:
			fail_msg("opcode %d from the client", fr.opcode);
		}
		free(p);
	}
}

static void
srv_event(struct bufferevent *bev, short what, void *arg)
{
	struct fx *f = arg;

	if (what & BEV_EVENT_CONNECTED) /* the fake agent's dial */
		return;
	if (f->conn == bev)
		srv_close(f);
	else
		bufferevent_free(bev);
}

static void
srv_accept(struct evconnlistener *lis, evutil_socket_t fd, struct sockaddr *sa,
    int sl, void *arg)
{
	struct fx *f = arg;

	(void)lis;
	(void)sa;
	(void)sl;
	srv_close(f);
	f->accepts++;
	f->conn = bufferevent_socket_new(f->base, fd, BEV_OPT_CLOSE_ON_FREE);
	bufferevent_setcb(f->conn, srv_read, NULL, srv_event, f);
	bufferevent_enable(f->conn, EV_READ | EV_WRITE);
}

/* The fake agent calls back (reverse mode), as the agent does. */
static void
agent_dial(struct fx *f, const char *token, const char *cid)
{
	struct sockaddr_in sin;
	const char *key = "dGhlIHNhbXBsZSBub25jZQ==";

	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sin.sin_port = htons((uint16_t)f->lport);
	unsigned char mac[AGLINK_SEAL_MAC];
	char params[AGLINK_SEAL_PARAMS_LEN];

	f->accepts++;
	f->upgraded = 0;
	f->sealed = 0;
	f->rev_status = 0;
	f->resp[0] = '\0';
	snprintf(f->token, sizeof(f->token), "%s", token);
	snprintf(f->cid, sizeof(f->cid), "%s", cid);
	assert_int_equal(RAND_bytes(f->na, sizeof(f->na)), 1);
	if (aglink_seal_hello_mac(token, cid, f->na, mac) == -1)
		memset(mac, 0, sizeof(mac));
	if (f->bad_mac)
		mac[7] ^= 0x10;
	f->bad_mac = 0;
	aglink_seal_params_format(params, f->na, mac);
	ws_accept_key(key, f->accept);
	f->conn = bufferevent_socket_new(f->base, -1, BEV_OPT_CLOSE_ON_FREE);
	bufferevent_setcb(f->conn, srv_read, NULL, srv_event, f);
	assert_int_equal(bufferevent_socket_connect(
			     f->conn, (struct sockaddr *)&sin, sizeof(sin)),
	    0);
	bufferevent_enable(f->conn, EV_READ | EV_WRITE);
	/* No token at all: the old Bearer scheme, refused without a lookup. */
	snprintf(f->sent_req, sizeof(f->sent_req),
	    "GET " AGLINK_PATH " HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n"
	    "Upgrade: websocket\r\nConnection: Upgrade\r\n"
	    "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n"
	    "Sec-WebSocket-Protocol: " AGLINK_PROTOCOL "\r\n"
	    "Authorization: %s%s\r\nX-Sockerless-Container: %s\r\n\r\n",
	    f->lport, key, *token != '\0' ? AGLINK_SEAL_SCHEME " " : "Bearer ",
	    *token != '\0' ? params : TOKEN, cid);
	bufferevent_write(f->conn, f->sent_req, strlen(f->sent_req));
}

static void
spy_read(struct bufferevent *bev, void *arg)
{
	struct fx *f = arg;
	struct evbuffer *in = bufferevent_get_input(bev);

	if (f->spy_status == 0 &&
	    evbuffer_search(in, "\r\n\r\n", 4, NULL).pos >= 0) {
		char line[32] = "";

		evbuffer_remove(in, line, sizeof(line) - 1);
		assert_int_equal(
		    sscanf(line, "HTTP/1.1 %d", &f->spy_status), 1);
		/* The recorded first sealed message, as an eavesdropper has
		 * it. */
		bufferevent_write(bev, f->first, f->first_len);
	}
	evbuffer_drain(in, evbuffer_get_length(in));
}

static void
spy_event(struct bufferevent *bev, short what, void *arg)
{
	struct fx *f = arg;

	if (what & BEV_EVENT_CONNECTED)
		return;
	bufferevent_free(bev);
	f->spy = NULL;
	f->spy_closed = 1;
}

/* An eavesdropper replays the fake agent's last request and its first
 * sealed message on a connection of its own. */
static void
spy_replay(struct fx *f)
{
	struct sockaddr_in sin;

	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sin.sin_port = htons((uint16_t)f->lport);
	f->spy_status = f->spy_closed = 0;
	f->spy = bufferevent_socket_new(f->base, -1, BEV_OPT_CLOSE_ON_FREE);
	bufferevent_setcb(f->spy, spy_read, NULL, spy_event, f);
	assert_int_equal(bufferevent_socket_connect(
			     f->spy, (struct sockaddr *)&sin, sizeof(sin)),
	    0);
	bufferevent_enable(f->spy, EV_READ | EV_WRITE);
	bufferevent_write(f->spy, f->sent_req, strlen(f->sent_req));
}

static void
old_read(struct bufferevent *bev, void *arg)
{
	struct fx *f = arg;
	struct evbuffer *in = bufferevent_get_input(bev);
	unsigned char *p = evbuffer_pullup(in, 1);

	if (p != NULL && (p[0] & 0x0F) == WS_CLOSE)
		f->old_closes++;
	evbuffer_drain(in, evbuffer_get_length(in));
}

static void
old_event(struct bufferevent *bev, short what, void *arg)
{
	struct fx *f = arg;

	if (what & BEV_EVENT_CONNECTED)
		return;
	bufferevent_free(bev);
	f->old = NULL;
}

/* Keeps the current connection open aside (a second dial comes). */
static void
agent_stash(struct fx *f)
{
	f->old = f->conn;
	f->conn = NULL;
	f->upgraded = 0;
	bufferevent_setcb(f->old, old_read, NULL, old_event, f);
}

static struct aglink *
rev_lookup(void *arg, const char *container_id)
{
	struct fx *f = arg;

	f->lookups++;
	if (strcmp(container_id, CID) != 0)
		return NULL;
	return f->l;
}

/* Sent messages of one type (and channel, unless 0). */
static size_t
srv_count(struct fx *f, int type, uint32_t chan)
{
	size_t i, c = 0;

	for (i = 0; i < f->nmsgs; i++)
		if (f->msgs[i].type == type &&
		    (chan == 0 || f->msgs[i].chan == chan))
			c++;
	return c;
}

static struct smsg *
srv_find(struct fx *f, int type, uint32_t chan)
{
	for (size_t i = 0; i < f->nmsgs; i++)
		if (f->msgs[i].type == type && f->msgs[i].chan == chan)
			return &f->msgs[i];
	return NULL;
}

/* --- the client's callbacks -------------------------------------------- */

static void
cl_hello(void *arg, const cJSON *hello)
{
	struct fx *f = arg;

	assert_non_null(cJSON_GetObjectItemCaseSensitive(hello, "agent"));
	f->hellos++;
}

static void
cl_event(void *arg, const cJSON *ev)
{
	struct fx *f = arg;

	assert_non_null(cJSON_GetObjectItemCaseSensitive(ev, "main"));
	f->events++;
}

static void
cl_down(void *arg, const struct err *e)
{
	struct fx *f = arg;

	f->downs++;
	f->down_seq = ++f->seq;
	f->down_err = *e;
}

static const struct aglink_cbs cl_cbs = { cl_hello, cl_event, cl_down, NULL };

static void
rec_log(struct crec *r, const char *fmt, ...)
{
	size_t n = strlen(r->log);
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(r->log + n, sizeof(r->log) - n, fmt, ap);
	va_end(ap);
}

static void
cl_data(void *arg, int stream, const unsigned char *buf, size_t len)
{
	struct crec *r = arg;

	assert_int_equal(r->results, 0);
	if (len <= 8)
		rec_log(r, "D%d:%.*s ", stream, (int)len, buf);
	r->data = xrealloc(r->data, r->len + len + 1);
	memcpy(r->data + r->len, buf, len);
	r->len += len;
	if (r->free_link_in_data) {
		aglink_free(r->fx->l);
		r->fx->l = NULL;
		return;
	}
	if (r->hold)
		return;
	if (r->fx->slow == r) {
		r->unconsumed += len;
		if (r->unconsumed > r->max_unconsumed)
			r->max_unconsumed = r->unconsumed;
	} else {
		aglink_chan_consumed(r->ch, len);
	}
}

static void
cl_eof(void *arg, int stream)
{
	struct crec *r = arg;

	rec_log(r, "E%d ", stream);
}

static void
cl_meta(void *arg, const cJSON *meta)
{
	struct crec *r = arg;

	assert_non_null(cJSON_GetObjectItemCaseSensitive(meta, "stat"));
	r->metas++;
	rec_log(r, "M ");
}

static void
cl_writable(void *arg)
{
	struct crec *r = arg;

	r->writable++;
}

static void
cl_result(void *arg, const cJSON *result, const struct err *e)
{
	struct crec *r = arg;

	r->results++;
	r->seq = ++r->fx->seq;
	rec_log(r, "R");
	if (result != NULL)
		r->result = cJSON_Duplicate(result, 1);
	if (e != NULL) {
		r->err = *e;
		r->has_err = 1;
	}
	if (r->close_in_result)
		aglink_chan_close(r->ch);
	r->ch = NULL;
}

static const struct aglink_chan_cbs rec_cbs = { cl_data, cl_eof, cl_meta,
	cl_writable, cl_result };

static struct crec *
rec_open(struct fx *f, const char *json)
{
	struct crec *r = xcalloc(1, sizeof(*r));
	cJSON *req = cJSON_Parse(json);

	assert_non_null(req);
	r->fx = f;
	r->ch = aglink_open(f->l, req, &rec_cbs, r);
	assert_non_null(r->ch);
	cJSON_Delete(req);
	return r;
}

/* Fails the open channels (before their records go). */
static void
fx_free_link(struct fx *f)
{
	aglink_free(f->l);
	f->l = NULL;
}

static void
rec_free(struct crec *r)
{
	free(r->data);
	cJSON_Delete(r->result);
	free(r);
}

/* --- fixture ------------------------------------------------------------ */

static void
on_tick(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
}

static int
setup(void **state)
{
	struct fx *f = xcalloc(1, sizeof(*f));
	struct sockaddr_in sin;
	socklen_t sl = sizeof(sin);
	struct timeval tv = { 0, 2000 };

	f->base = event_base_new();
	f->ticker = event_new(f->base, -1, EV_PERSIST, on_tick, f);
	event_add(f->ticker, &tv);
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	f->lis = evconnlistener_new_bind(f->base, srv_accept, f,
	    LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE, 16,
	    (struct sockaddr *)&sin, sizeof(sin));
	assert_non_null(f->lis);
	getsockname(
	    evconnlistener_get_fd(f->lis), (struct sockaddr *)&sin, &sl);
	f->port = ntohs(sin.sin_port);
	f->l = aglink_new(
	    f->base, "127.0.0.1", f->port, TOKEN, CID, 5, &cl_cbs, f);
	*state = f;
	return 0;
}

static int
setup_rev(void **state)
{
	struct fx *f = xcalloc(1, sizeof(*f));
	struct timeval tv = { 0, 2000 };

	f->base = event_base_new();
	f->ticker = event_new(f->base, -1, EV_PERSIST, on_tick, f);
	event_add(f->ticker, &tv);
	f->rev = 1;
	f->ls = aglink_listener_new(f->base, "127.0.0.1", 0, rev_lookup, f);
	assert_non_null(f->ls);
	f->lport = aglink_listener_port(f->ls);
	assert_true(f->lport > 0);
	f->l = aglink_new_reverse(f->base, CID, TOKEN, 5, &cl_cbs, f);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fx *f = *state;

	aglink_free(f->l);
	/* Lets the link's close frame go out and its socket go. */
	SPIN(f, 30, 0);
	srv_close(f);
	SPIN(f, 10, 0);
	if (f->lis != NULL)
		evconnlistener_free(f->lis);
	aglink_listener_free(f->ls);
	if (f->old != NULL)
		bufferevent_free(f->old);
	if (f->spy != NULL)
		bufferevent_free(f->spy);
	for (size_t i = 0; i < f->nmsgs; i++)
		free(f->msgs[i].p);
	free(f->msgs);
	event_free(f->ticker);
	event_base_free(f->base);
	free(f);
	return 0;
}

#endif
