/* The HTTP/1.1 server's private header: server, connection and request
 * state shared by its files. Layers, lowest first: httpsrv_parse.c (the
 * request head and query, status texts; pure), httpsrv_conn.c (a
 * connection: reading, dispatching, reply heads, timers, closing),
 * httpsrv_reply.c (the request API handlers call: accessors, replies,
 * streaming, hijack), httpsrv.c (the server: listeners, accept, limits).
 * httpsrv_conn.c calls httpsrv_reply.c back only through the public API
 * (httpsrv_reply_error for its error replies, httpsrv_req_header). */
#ifndef SOCKERLESS_HTTPSRV_INT_H
#define SOCKERLESS_HTTPSRV_INT_H

#include <sys/queue.h>

#include <stddef.h>
#include <stdint.h>

#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>

#include "sockerless/httpsrv.h"
#include "sockerless/str.h"

#define HTTPSRV_MAX_LISTENERS 16
#define HTTPSRV_MAX_HEADERS   100

struct httpsrv_conn;

/* What the connection's deadline timer stands for. */
enum conn_timer {
	TIMER_NONE,
	TIMER_HEAD, /* the request head must be complete by then */
	TIMER_IDLE, /* keep-alive: the next request must begin by then */
	TIMER_HUP,  /* half-closed: look whether the peer is gone */
};

enum req_state {
	REQ_HEAD,    /* reading the request line and headers */
	REQ_BODY,    /* reading a Content-Length body */
	REQ_CHUNKS,  /* reading a chunked body */
	REQ_HANDLER, /* complete; the handler owns the reply */
	REQ_STREAM,  /* streaming reply in progress */
};

struct httpsrv_req {
	struct httpsrv_conn *conn;
	enum req_state state;
	char *method, *target, *path;
	int minor;
	struct strv hnames, hvalues;
	struct strv qnames, qvalues;
	char *body;
	size_t body_len, body_cap, want; /* want: bytes left of a body
					  * or of the current chunk */
	int chunk_state;
	struct strv out_headers; /* "Name: value" */
	int keepalive, status, chunked_out;
	int64_t start_ns;
	void *data;
	void (*data_free)(void *);
	void (*on_close)(struct httpsrv_req *, void *);
	void *on_close_arg;
	void (*on_drain)(struct httpsrv_req *, void *);
	void *on_drain_arg;
};

struct httpsrv_conn {
	struct httpsrv *srv;
	struct bufferevent *bev;
	struct httpsrv_req *req;
	struct event *resume;
	struct event *timer; /* deadline, see enum conn_timer */
	enum conn_timer timer_kind;
	char peer[64];
	int closing;   /* close once the output has drained */
	int busy;      /* inside conn_process: frees are deferred */
	int dead;      /* freed while busy */
	int linger;    /* after an error reply: half-close, drain input */
	int lingering; /* draining input before the close */
	int rd_eof;    /* the client shut down its write side */
	int tls;       /* bev is an OpenSSL bufferevent */
	int batch;     /* httpsrv_conn_batch depth: writes wait for its end */
	struct evbuffer_cb_entry *out_cb; /* conn_out_cb on bev's output */
	TAILQ_ENTRY(httpsrv_conn) entry;
};

TAILQ_HEAD(conn_list, httpsrv_conn);

struct httpsrv {
	struct event_base *base;
	httpsrv_handler handler;
	void *arg;
	struct httpsrv_limits limits;
	struct evconnlistener *listeners[HTTPSRV_MAX_LISTENERS];
	int nlisteners, paused, port;
	char *unix_paths[HTTPSRV_MAX_LISTENERS];
	struct ssl_ctx_st *tls[HTTPSRV_MAX_LISTENERS]; /* NULL: plain */
	struct conn_list conns;			       /* oldest first */
	int nconns;
	struct event *unpause; /* retries accept after fd exhaustion */
};

/* httpsrv_parse.c */
/* Parses the head (request line + headers, CRLF or LF line ends). Returns
 * 0, or an HTTP status for the error reply. */
int httpsrv_req_parse_head(struct httpsrv_req *r, char *head);

/* httpsrv_conn.c: a connection's life. httpsrv_adopt sets these up. */
void httpsrv_conn_read_cb(struct bufferevent *bev, void *arg);
void httpsrv_conn_write_cb(struct bufferevent *bev, void *arg);
void httpsrv_conn_event_cb(struct bufferevent *bev, short what, void *arg);
/* Goes on with the input once a reply is complete (c->resume). */
void httpsrv_conn_resume_cb(evutil_socket_t fd, short what, void *arg);
/* The connection's deadline expired (see enum conn_timer). */
void httpsrv_conn_timer_cb(evutil_socket_t fd, short what, void *arg);
/* Arms the connection's deadline, or clears it for secs <= 0. */
void httpsrv_conn_set_timer(
    struct httpsrv_conn *c, enum conn_timer kind, int secs);
/* Deferred while the connection is busy; resumes a paused accept. */
void httpsrv_conn_free(struct httpsrv_conn *c);
/* Plain connections keep the bufferevent's write event off while idle:
 * each request would otherwise add it to epoll when its reply is queued
 * and remove it on the loop's next turn after the direct send took
 * everything (two epoll_ctl per request). Between batch_begin and
 * batch_end the reply is queued unarmed; batch_end arms the write event
 * only for what the direct send left. Outside a batch, a write arms it
 * at once (httpsrv_conn_watch's callback), as before. */
void httpsrv_conn_watch(struct httpsrv_conn *c);
void httpsrv_conn_unwatch(struct httpsrv_conn *c);
void httpsrv_conn_batch_begin(struct httpsrv_conn *c);
void httpsrv_conn_batch_end(struct httpsrv_conn *c);
/* Stops (1) or resumes (0) accepting on every listener. */
void httpsrv_pause(struct httpsrv *s, int pause);
void httpsrv_req_free(struct httpsrv_req *r);
/* Writes the status line and headers. */
void httpsrv_req_write_head(
    struct httpsrv_req *r, int status, const char *ctype, const char *extra);
/* The reply is complete: logs, frees the request and moves on. */
void httpsrv_req_done(struct httpsrv_req *r);

#endif
