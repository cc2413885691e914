/* Relay mode (docs/networks.md): a member's agent opens a channel with
 * CONNECT {"peer","port"} and the backend splices it to a `tcp` channel on
 * the peer's link (a `udp` one for "proto":"udp", whose DATA carries
 * length-prefixed datagrams that cross as they are). Bytes cross over; a side
 * is credited only for what the other side's window took, so flow control holds
 * end to end; the half-closes cross over; the peer channel's RESULT ends the
 * agent's. */
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>

#include "backend_agent.h"
#include "backend_port.h"
#include "sockerless/json.h"
#include "sockerless/log.h"
#include "sockerless/xmalloc.h"

struct port_relay {
	struct aglink_chan *a;	      /* the agent's CONNECT channel */
	struct aglink_chan *p;	      /* the tcp channel on the peer's link */
	struct evbuffer *to_a, *to_p; /* taken, not yet within a window */
	int a_eof, p_eof;	      /* that side's sending has ended */
	int a_eof_sent, p_eof_sent;
	cJSON *result;		/* the peer's RESULT, for a once to_a is out */
	struct container *peer; /* referenced */
};

static void
port_relay_free(struct port_relay *r)
{
	if (r->p != NULL)
		aglink_chan_close(r->p);
	if (r->a != NULL)
		aglink_chan_close(r->a);
	evbuffer_free(r->to_a);
	evbuffer_free(r->to_p);
	cJSON_Delete(r->result);
	if (r->peer != NULL)
		container_unref(r->peer);
	free(r);
}

/* Moves held bytes into dst's window, crediting src for what it took. */
static void
port_relay_flush(
    struct evbuffer *held, struct aglink_chan *dst, struct aglink_chan *src)
{
	size_t len, n, took;

	while (dst != NULL && (len = evbuffer_get_length(held)) > 0) {
		n = len > 65536 ? 65536 : len;
		took = aglink_chan_write(
		    dst, evbuffer_pullup(held, (ev_ssize_t)n), n);
		evbuffer_drain(held, took);
		if (src != NULL)
			aglink_chan_consumed(src, took);
		if (took < n)
			return;
	}
}

/* Toward the peer; its EOF once everything is out. */
static void
port_relay_to_p(struct port_relay *r)
{
	port_relay_flush(r->to_p, r->p, r->a);
	if (r->a_eof && !r->p_eof_sent && r->p != NULL &&
	    evbuffer_get_length(r->to_p) == 0) {
		r->p_eof_sent = 1;
		aglink_chan_eof(r->p);
	}
}

/* Toward the agent; its EOF and then the RESULT once everything is out.
 * Returns -1 when r is gone. */
static int
port_relay_to_a(struct port_relay *r)
{
	port_relay_flush(r->to_a, r->a, r->p);
	if (evbuffer_get_length(r->to_a) > 0)
		return 0;
	if (r->p_eof && !r->a_eof_sent) {
		r->a_eof_sent = 1;
		aglink_chan_eof(r->a);
	}
	if (r->result != NULL) {
		aglink_chan_finish(r->a, r->result);
		r->a = NULL;
		port_relay_free(r);
		return -1;
	}
	return 0;
}

static void
port_relay_a_data(void *arg, int stream, const unsigned char *p, size_t n)
{
	struct port_relay *r = arg;

	(void)stream;
	evbuffer_add(r->to_p, p, n);
	port_relay_to_p(r);
}

static void
port_relay_a_eof(void *arg, int stream)
{
	struct port_relay *r = arg;

	(void)stream;
	r->a_eof = 1;
	port_relay_to_p(r);
}

static void
port_relay_a_writable(void *arg)
{
	port_relay_to_a(arg);
}

/* The agent closed its channel or its link went: the peer's goes too. */
static void
port_relay_a_result(void *arg, const cJSON *res, const struct err *e)
{
	struct port_relay *r = arg;

	(void)res;
	(void)e;
	r->a = NULL; /* the link frees it */
	port_relay_free(r);
}

static const struct aglink_chan_cbs port_relay_a_cbs = { port_relay_a_data,
	port_relay_a_eof, NULL, port_relay_a_writable, port_relay_a_result };

static void
port_relay_p_data(void *arg, int stream, const unsigned char *p, size_t n)
{
	struct port_relay *r = arg;

	(void)stream;
	evbuffer_add(r->to_a, p, n);
	port_relay_to_a(r);
}

static void
port_relay_p_eof(void *arg, int stream)
{
	struct port_relay *r = arg;

	(void)stream;
	r->p_eof = 1;
	port_relay_to_a(r);
}

static void
port_relay_p_writable(void *arg)
{
	port_relay_to_p(arg);
}

static void
port_relay_p_result(void *arg, const cJSON *res, const struct err *e)
{
	struct port_relay *r = arg;

	r->p = NULL; /* the link frees it */
	if (res != NULL) {
		r->result = cJSON_Duplicate(res, 1);
	} else {
		r->result = cJSON_CreateObject();
		json_add_int(r->result, "status", 503);
		json_add_str(r->result, "message", e->msg);
	}
	r->p_eof = 1;
	port_relay_to_a(r);
}

static const struct aglink_chan_cbs port_relay_p_cbs = { port_relay_p_data,
	port_relay_p_eof, NULL, port_relay_p_writable, port_relay_p_result };

static void
port_relay_refuse(struct aglink_chan *ch, int status, const char *msg)
{
	cJSON *res = cJSON_CreateObject();

	json_add_int(res, "status", status);
	json_add_str(res, "message", msg);
	aglink_chan_finish(ch, res);
	cJSON_Delete(res);
}

/* The peer by name or id (prefix), as the names view lists them. */
static struct container *
port_relay_peer(struct backend *b, const char *peer)
{
	struct container *c;
	char *slashed;
	int amb = 0;

	slashed = xasprintf("/%s", peer);
	if ((c = backend_index_get(&b->by_name, slashed)) == NULL &&
	    (c = backend_index_get(&b->by_name, peer)) == NULL) {
		c = backend_index_prefix(&b->by_id, peer, &amb);
		if (amb)
			c = NULL;
	}
	free(slashed);
	return c;
}

/* Whether a and p share a network whose members reach each other (the
 * default bridge or a user-defined one), as the names view gives them:
 * the relay carries only what a direct network would. */
static int
port_relay_shared(const struct container *a, const struct container *p)
{
	const cJSON *ep,
	    *peps = json_obj(
		json_obj(container_doc(p), "NetworkSettings"), "Networks");

	cJSON_ArrayForEach(ep,
	    json_obj(
		json_obj(container_doc(a), "NetworkSettings"), "Networks")) {
		if (strcmp(ep->string, "none") != 0 &&
		    strcmp(ep->string, "host") != 0 &&
		    cJSON_GetObjectItemCaseSensitive(peps, ep->string) != NULL)
			return 1;
	}
	return 0;
}

void
backend_port_relay_connect(void *arg, struct aglink_chan *ch, const cJSON *req)
{
	struct backend_agent *ag = arg;
	const char *peer = json_str(req, "peer"),
		   *proto = json_str(req, "proto");
	long long port = json_int(req, "port", 0);
	struct port_relay *r;
	struct container *c;
	struct aglink *l;
	struct err e;
	cJSON *open;
	char msg[300];

	if (peer == NULL || peer[0] == '\0' || port < 1 || port > 65535) {
		port_relay_refuse(
		    ch, 400, "CONNECT needs a peer and a port from 1 to 65535");
		return;
	}
	if (proto == NULL)
		proto = "tcp";
	if (strcmp(proto, "tcp") != 0 && strcmp(proto, "udp") != 0) {
		port_relay_refuse(ch, 400, "CONNECT's proto is tcp or udp");
		return;
	}
	/* Workloads that reach each other directly never need it, and a
	 * relay must not carry them past their isolation. */
	if (ag->b->ops->reach != BACKEND_REACH_RELAY) {
		port_relay_refuse(ch, 403,
		    "this backend's workloads reach each other directly; "
		    "connect to the peer's address");
		return;
	}
	/* A container on none of the member's networks is as unknown to it
	 * as one that does not exist: the relay must not tell them apart. */
	if ((c = port_relay_peer(ag->b, peer)) == NULL || c->gone ||
	    !port_relay_shared(ag->c, c)) {
		snprintf(msg, sizeof(msg),
		    "no container named %.200s on your networks", peer);
		port_relay_refuse(ch, 404, msg);
		return;
	}
	if ((l = backend_agent_link(ag->b, c, &e)) == NULL) {
		port_relay_refuse(ch, e.status == 409 ? 503 : e.status, e.msg);
		return;
	}
	r = xcalloc(1, sizeof(*r));
	r->to_a = evbuffer_new();
	r->to_p = evbuffer_new();
	r->peer = c;
	container_ref(c);
	r->a = ch;
	aglink_chan_accept(ch, &port_relay_a_cbs, r);
	open = cJSON_CreateObject();
	/* A UDP flow: the same splice, its records cross as bytes. */
	json_add_str(open, "kind", proto);
	json_add_int(open, "port", port);
	r->p = aglink_open(l, open, &port_relay_p_cbs, r);
	cJSON_Delete(open);
	log_debug("container %.12s: relaying a connection to %s port %lld/%s",
	    ag->c->id, peer, port, proto);
}
