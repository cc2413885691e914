/* The agent link's private header: the link and channel state shared by
 * its files. Layers: aglink.c is the core (lifetime, sending, closing,
 * timers, the API); aglink_dial.c (forward mode: connecting, the upgrade
 * request, the connection's events), aglink_reverse.c (reverse mode: the
 * listener and adopting the agent's connection) and aglink_recv.c (the
 * upgrade answer, frames and link messages) sit on it; aglink_recv.c calls
 * only the core. The core calls up only from its timer and aglink_open,
 * into the mode files' entry points (dial, retry, give up, await). */
#ifndef SOCKERLESS_AGLINK_INT_H
#define SOCKERLESS_AGLINK_INT_H

#include <sys/queue.h>

#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "sockerless/aglink.h"
#include "sockerless/aglink_seal.h"

#define AGLINK_BACKOFF_MIN_MS 250
#define AGLINK_BACKOFF_MAX_MS 2000
#define AGLINK_EAGER_MS	      20    /* aglink_up_eager's retry, */
#define AGLINK_EAGER_FOR_MS   5000  /* for this long */
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
	int inbound;		/* the agent opened it (CONNECT) */
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
	/* Reverse mode: the connection's session (aglink_seal.h); every
	 * binary message is sealed. NULL in forward mode. */
	struct aglink_seal *seal;
	int seal_spent; /* the send counter ran out: the timer drops it */
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
	int64_t eager_until_ms; /* retry every AGLINK_EAGER_MS until then */
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

/* aglink.c: the core. */
int64_t aglink_now_ms(void);
/* Arms the link's one timer (retry, dial, handshake or keepalive). */
void aglink_timer_set(struct aglink *l, int64_t ms);
/* Around our own callbacks: aglink_free inside one is deferred. */
void aglink_enter(struct aglink *l);
/* The link may be gone when this returns. */
void aglink_leave(struct aglink *l);
/* Frees a channel nobody will hear from again, unless a callback of its
 * is still running (then the caller of that callback does it). */
void aglink_chan_gc(struct aglink_chan *ch);
/* One frame: hdr (may be NULL) then p, as one payload; masked unless we
 * are the server (reverse mode). */
void aglink_ws_send(struct bufferevent *bev, int server, int opcode,
    const unsigned char *hdr, size_t hlen, const void *p, size_t n);
/* One link message (hdr then p), sealed when the connection is. */
void aglink_send_msg(struct aglink *l, const unsigned char *hdr, size_t hlen,
    const void *p, size_t n);
/* Sends a channel's OPEN and the messages queued behind it. */
void aglink_chan_send_open(struct aglink_chan *ch);
/* Lets bev write what it holds, then free itself (or time out). */
void aglink_linger_start(struct bufferevent *bev);
/* The connection ended (why: a phrase): channels of this connection get
 * on_result with an error, then on_down. Called inside aglink_enter. */
void aglink_down_err(struct aglink *l, int code, struct err *e);
void aglink_down(struct aglink *l, int code, int status, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* aglink_dial.c: forward mode. */
/* Starts connecting (state IDLE). */
void aglink_connect(struct aglink *l);
/* One connect attempt to the agent. */
void aglink_dial(struct aglink *l);
/* The dial failed with l->last_err: again after the backoff, or give up
 * (from the timer, so no callback runs inside aglink_open). */
void aglink_retry(struct aglink *l);
/* The connect deadline passed: every waiting channel fails. */
void aglink_give_up(struct aglink *l);
/* The connection's bufferevent events, in either mode. */
void aglink_event_cb(struct bufferevent *bev, short what, void *arg);

/* aglink_recv.c: what the agent sends. */
void aglink_read_cb(struct bufferevent *bev, void *arg);
/* Reads the frames in bev's input while the connection is gen. */
void aglink_read_frames(
    struct aglink *l, struct bufferevent *bev, unsigned gen);

/* aglink_reverse.c: reverse mode. */
/* Forgets the connection's session keys. */
void aglink_seal_drop(struct aglink *l);
/* Channels are waiting and nobody is connected (state IDLE). */
void aglink_await(struct aglink *l);
/* Nobody called back within the connect timeout. */
void aglink_await_give_up(struct aglink *l);

#endif
