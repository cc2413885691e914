/* Private to the backend framework: published ports (backend_port*.c).
 * The backend listens on the host side of every binding while the
 * container runs and carries each accepted connection over the
 * container's agent link as a `tcp` channel (docs/networks.md). */
#ifndef SOCKERLESS_BACKEND_PORT_H
#define SOCKERLESS_BACKEND_PORT_H

#include <sys/queue.h>

#include <event2/bufferevent.h>
#include <event2/listener.h>

#include "backend_int.h"
#include "sockerless/aglink.h"

struct port_pub;

/* One host address:port listening for one container port. */
struct port_ln {
	TAILQ_ENTRY(port_ln) entry;
	struct port_pub *pp;
	struct evconnlistener *ln;
	char key[24]; /* "80/tcp" */
	int cport;
	char host_ip[64];
	int host_port;
};
TAILQ_HEAD(port_lns, port_ln);

/* One accepted connection and its channel. */
struct port_conn {
	TAILQ_ENTRY(port_conn) entry;
	struct port_pub *pp;
	struct bufferevent *bev;
	struct aglink_chan *ch;
	int cport;
	int client_eof; /* the client half-closed */
	int eof_sent;	/* ... and the agent was told */
	int agent_eof;	/* the workload half-closed: shut our side */
	int shut;
	int ended;   /* the channel's RESULT came: close once flushed */
	size_t owed; /* received, not yet credited (slow client) */
};
TAILQ_HEAD(port_conns, port_conn);

/* A running container's published ports. */
struct port_pub {
	TAILQ_ENTRY(port_pub) entry;
	struct backend *b;
	struct container *c; /* referenced */
	struct port_lns lns;
	struct port_conns conns;
};

/* backend_port.c */
/* At create: 400 for what cannot be published (UDP, SCTP), 501 without
 * the publish capability. */
int backend_port_check(struct backend *b, const cJSON *hc, struct err *e);
/* At start, before the workload: listens on every binding and reports
 * them in NetworkSettings.Ports. -1 with Docker's 500 (nothing left
 * listening) when an address cannot be had. */
int backend_port_open(struct backend *b, struct container *c, struct err *e);
/* A running container loaded from the state: its recorded host ports
 * listen again (logged when they cannot). */
void backend_port_readopt(struct backend *b, struct container *c);
/* The container stopped, exited or went: listeners and connections
 * close, NetworkSettings.Ports keeps only the exposed ports. */
void backend_port_close(struct backend *b, struct container *c);
void backend_port_shutdown(struct backend *b);

/* backend_port_conn.c */
/* A connection accepted on ln (fd is ours now). */
void backend_port_accept(struct port_ln *ln, evutil_socket_t fd);
void backend_port_conn_free(struct port_conn *pc);

/* backend_port_relay.c: relay mode (docs/networks.md) */
/* The agent of ag (a struct backend_agent) opened ch with CONNECT. */
void backend_port_relay_connect(
    void *ag, struct aglink_chan *ch, const cJSON *request);

#endif
