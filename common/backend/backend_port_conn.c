/* A published port's connections: each accepted connection opens a `tcp`
 * channel to the container port on the agent link and the bytes go both
 * ways, the half-closes passed on and the agent's window as flow control
 * (docs/agent-link.md): a slow client stops the credit, so the workload's
 * writes slow down instead of piling up here. */
#include <sys/socket.h>

#include <netinet/in.h>
#include <netinet/tcp.h>

#include <stdlib.h>

#include <event2/buffer.h>

#include "backend_agent.h"
#include "backend_port.h"
#include "sockerless/json.h"
#include "sockerless/log.h"
#include "sockerless/xmalloc.h"

/* Output bytes held for a client before credit waits for it. */
#define PORT_HIGH_WATER (256 * 1024)

void
backend_port_conn_free(struct port_conn *pc)
{
	TAILQ_REMOVE(&pc->pp->conns, pc, entry);
	if (pc->ch != NULL)
		aglink_chan_close(pc->ch);
	bufferevent_free(pc->bev);
	free(pc);
}

/* Client bytes into the channel, as far as the window goes. */
static void
port_conn_pump(struct port_conn *pc)
{
	struct evbuffer *in = bufferevent_get_input(pc->bev);
	size_t len, n, took;

	if (pc->ch == NULL)
		return;
	while ((len = evbuffer_get_length(in)) > 0) {
		n = len > 65536 ? 65536 : len;
		took = aglink_chan_write(
		    pc->ch, evbuffer_pullup(in, (ev_ssize_t)n), n);
		evbuffer_drain(in, took);
		if (took < n) {
			bufferevent_disable(pc->bev, EV_READ);
			return; /* on_writable goes on */
		}
	}
	if (pc->client_eof && !pc->eof_sent) {
		pc->eof_sent = 1;
		aglink_chan_eof(pc->ch);
	}
}

static void
port_conn_read(struct bufferevent *bev, void *arg)
{
	(void)bev;
	port_conn_pump(arg);
}

/* The client has what we held for it: credit it, pass the workload's
 * half-close on, or close after the channel's end. */
static void
port_conn_write(struct bufferevent *bev, void *arg)
{
	struct port_conn *pc = arg;

	if (evbuffer_get_length(bufferevent_get_output(bev)) > 0)
		return;
	if (pc->owed > 0 && pc->ch != NULL) {
		aglink_chan_consumed(pc->ch, pc->owed);
		pc->owed = 0;
	}
	if (pc->agent_eof && !pc->shut) {
		pc->shut = 1;
		shutdown(bufferevent_getfd(bev), SHUT_WR);
	}
	if (pc->ended)
		backend_port_conn_free(pc);
}

static void
port_conn_event(struct bufferevent *bev, short what, void *arg)
{
	struct port_conn *pc = arg;

	(void)bev;
	if (what & BEV_EVENT_EOF) {
		pc->client_eof = 1;
		port_conn_pump(pc);
		if (!pc->ended)
			return;
	}
	/* A reset, or the end of a connection whose channel ended. */
	backend_port_conn_free(pc);
}

static void
port_conn_on_data(void *arg, int stream, const unsigned char *p, size_t n)
{
	struct port_conn *pc = arg;
	struct evbuffer *out = bufferevent_get_output(pc->bev);

	(void)stream;
	evbuffer_add(out, p, n);
	if (evbuffer_get_length(out) < PORT_HIGH_WATER && pc->owed == 0)
		aglink_chan_consumed(pc->ch, n);
	else
		pc->owed += n;
}

static void
port_conn_on_eof(void *arg, int stream)
{
	struct port_conn *pc = arg;

	(void)stream;
	pc->agent_eof = 1;
	port_conn_write(pc->bev, pc);
}

static void
port_conn_on_writable(void *arg)
{
	struct port_conn *pc = arg;

	bufferevent_enable(pc->bev, EV_READ);
	port_conn_pump(pc);
}

static void
port_conn_on_result(void *arg, const cJSON *res, const struct err *e)
{
	struct port_conn *pc = arg;
	const char *msg = json_str(res, "message");

	pc->ch = NULL; /* the link frees it */
	if (e != NULL || msg != NULL)
		log_info("container %.12s: published port %d: %s",
		    pc->pp->c->id, pc->cport, e != NULL ? e->msg : msg);
	pc->ended = 1;
	pc->agent_eof = 1;
	/* Close once what the workload sent has reached the client. */
	port_conn_write(pc->bev, pc);
}

static const struct aglink_chan_cbs port_conn_cbs = { port_conn_on_data,
	port_conn_on_eof, NULL, port_conn_on_writable, port_conn_on_result };

void
backend_port_accept(struct port_ln *ln, evutil_socket_t fd)
{
	struct port_pub *pp = ln->pp;
	struct port_conn *pc;
	struct aglink *l;
	struct err e;
	cJSON *req;
	int one = 1;

	/* Before start has answered, or while it stops: no workload. */
	if ((l = backend_agent_link(pp->b, pp->c, &e)) == NULL) {
		log_info("container %.12s: closing a connection to %s:%d: %s",
		    pp->c->id, ln->host_ip, ln->host_port, e.msg);
		evutil_closesocket(fd);
		return;
	}
	/* Small requests and answers go at once, as over a direct socket. */
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	pc = xcalloc(1, sizeof(*pc));
	pc->pp = pp;
	pc->cport = ln->cport;
	pc->bev =
	    bufferevent_socket_new(pp->b->base, fd, BEV_OPT_CLOSE_ON_FREE);
	TAILQ_INSERT_TAIL(&pp->conns, pc, entry);
	bufferevent_setcb(
	    pc->bev, port_conn_read, port_conn_write, port_conn_event, pc);
	/* Reading stops while the channel's window is full. */
	bufferevent_setwatermark(pc->bev, EV_READ, 0, AGLINK_WINDOW);
	req = cJSON_CreateObject();
	json_add_str(req, "kind", "tcp");
	json_add_int(req, "port", ln->cport);
	pc->ch = aglink_open(l, req, &port_conn_cbs, pc);
	cJSON_Delete(req);
	bufferevent_enable(pc->bev, EV_READ | EV_WRITE);
}
