/* The agent link, receiving: the answer to our upgrade request, then
 * WebSocket frames (fragments, control frames) and the link messages they
 * carry (HELLO, EVENT, channel messages), dispatched to the channels. On
 * the core (aglink.c) alone. */
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
/* A message the agent has no business sending on ch: logged, dropped. */
static void
aglink_recv_stray(
    struct aglink *l, const struct aglink_msg *m, const struct aglink_chan *ch)
{
	log_debug("container %.12s: agent sent message type %d on channel %u",
	    l->cid, m->type, ch->id);
}

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
	case AGLINK_CLOSE:
		if (ch->inbound && !ch->closed) {
			struct err e;

			err_set(&e, 499, "the agent closed channel %u", ch->id);
			ch->done = 1;
			if (ch->cbs.on_result != NULL)
				ch->cbs.on_result(ch->arg, NULL, &e);
			break;
		}
		aglink_recv_stray(l, m, ch);
		break;
	default: /* OPEN, RESIZE go the other way */
		aglink_recv_stray(l, m, ch);
		break;
	}
	ch->busy--;
	aglink_chan_gc(ch);
}

/* The agent opens a relay channel (CONNECT, relay mode): a number of its
 * own space, never one in use. */
static void
aglink_on_connect(struct aglink *l, const struct aglink_msg *m)
{
	struct aglink_chan *ch;
	cJSON *j, *res;

	TAILQ_FOREACH(ch, &l->chans, entry)
		if (ch->id == m->channel)
			break;
	if (!(m->channel & AGLINK_AGENT_CHAN) || ch != NULL) {
		aglink_down(l, 1002, 502,
		    "protocol error: CONNECT on channel %u", m->channel);
		return;
	}
	ch = xcalloc(1, sizeof(*ch));
	ch->l = l;
	ch->id = m->channel;
	ch->inbound = ch->opened = 1;
	if ((ch->queue = evbuffer_new()) == NULL)
		fatalx("%s: evbuffer_new", __func__);
	ch->out_credit = AGLINK_WINDOW;
	TAILQ_INSERT_TAIL(&l->chans, ch, entry);
	j = aglink_json(m);
	ch->busy++;
	if (j != NULL && l->cbs.on_connect != NULL) {
		l->cbs.on_connect(l->arg, ch, j);
	} else {
		res = cJSON_CreateObject();
		cJSON_AddNumberToObject(res, "status", j == NULL ? 400 : 501);
		cJSON_AddStringToObject(res, "message",
		    j == NULL ? "CONNECT without a JSON request" :
				"this backend relays no connections");
		aglink_chan_finish(ch, res);
		cJSON_Delete(res);
	}
	ch->busy--;
	cJSON_Delete(j);
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
	if (m.type == AGLINK_CONNECT) {
		aglink_on_connect(l, &m);
		return;
	}
	/* Unknown channels: a race with our CLOSE or a RESULT. */
	if ((ch = aglink_chan_find(l, m.channel)) != NULL)
		aglink_on_chan(l, ch, &m);
}

/* One whole WebSocket message: opened first when the link is sealed. */
static void
aglink_message(struct aglink *l, unsigned char *p, size_t n)
{
	if (l->seal != NULL) {
		if (aglink_seal_open(l->seal, p, n) == -1) {
			aglink_down(l, 1008, 502,
			    "a sealed message from the agent did not open "
			    "(forged, replayed, reordered or after a lost "
			    "one)");
			return;
		}
		n -= AGLINK_SEAL_TAG;
	}
	aglink_dispatch(l, p, n);
}

/* The largest message payload on the wire (sealed: the tag on top). */
static size_t
aglink_wire_max(const struct aglink *l)
{
	return AGLINK_MAX_MESSAGE + (l->seal != NULL ? AGLINK_SEAL_TAG : 0);
}

/* One complete frame. */
static void
aglink_on_frame(struct aglink *l, const struct ws_frame *f, unsigned char *p)
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
		if (l->seal != NULL && f->opcode == WS_TEXT) {
			aglink_down(l, 1002, 502,
			    "protocol error: a text message on the sealed link");
			break;
		}
		if (l->frag_on) {
			aglink_down(l, 1002, 502,
			    "protocol error: a new message inside a "
			    "fragmented one");
			break;
		}
		if (f->fin) {
			aglink_message(l, p, n);
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
		if (l->frag_len + n > aglink_wire_max(l)) {
			aglink_down(l, 1009, 502,
			    "protocol error: a message over %zu bytes",
			    aglink_wire_max(l));
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
		aglink_message(l, msg, n);
		free(msg);
		break;
	}
}

void
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
		if (f.len > aglink_wire_max(l)) {
			aglink_down(l, 1009, 502,
			    "protocol error: a message over %zu bytes",
			    aglink_wire_max(l));
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

void
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
