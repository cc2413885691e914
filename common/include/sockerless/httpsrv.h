/* HTTP/1.1 server on libevent bufferevents (evhttp cannot hand a connection
 * over after 101, libevent#932). Unix and TCP listeners, bounded request
 * parsing, keep-alive, whole and chunked-streamed replies, and hijack
 * (Docker's attach/exec "Upgrade: tcp"). Every request ends in exactly one
 * reply: httpsrv_reply*, httpsrv_stream_begin..end, or httpsrv_hijack. */
#ifndef SOCKERLESS_HTTPSRV_H
#define SOCKERLESS_HTTPSRV_H

#include <stddef.h>
#include <sys/types.h>

#include <cjson/cJSON.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "sockerless/err.h"
#include "sockerless/str.h"

struct httpsrv;
struct httpsrv_req;
struct ssl_ctx_st; /* OpenSSL's SSL_CTX */

/* Called once per complete request (headers and whole body read). */
typedef void (*httpsrv_handler)(struct httpsrv_req *req, void *arg);

struct httpsrv_limits {
	size_t max_header_bytes; /* request line + headers; 431 over */
	size_t max_body_bytes;	 /* 413 over */
	int idle_timeout_s;	 /* keep-alive idle, and a stalled body;
				  * 0 = none */
	int max_conns;		 /* above this, the oldest idle or
				  * stalled connection is closed; accept
				  * pauses only when all are busy */
	int header_timeout_s;	 /* from accept (or the first byte of
				  * a keep-alive request) to a
				  * complete head; 0 = none */
};

/* Returns a new server owned by the caller (httpsrv_free). */
struct httpsrv *httpsrv_new(
    struct event_base *base, httpsrv_handler h, void *arg);
void httpsrv_set_limits(struct httpsrv *s, const struct httpsrv_limits *l);
/* Binds a unix socket (removing a stale file) with the given mode. */
int httpsrv_listen_unix(
    struct httpsrv *s, const char *path, mode_t mode, struct err *e);
/* host may be NULL for 127.0.0.1; port 0 picks one (see bound_port). */
int httpsrv_listen_tcp(
    struct httpsrv *s, const char *host, int port, struct err *e);
int httpsrv_bound_port(const struct httpsrv *s);
/* With tls not NULL, the listener's connections are TLS (the server takes
 * a reference to the context): a failed handshake closes the connection
 * before anything is read or served. */
int httpsrv_listen_tcp_tls(struct httpsrv *s, const char *host, int port,
    struct ssl_ctx_st *tls, struct err *e);
/* Serves an already listening socket (systemd socket activation); the
 * server owns fd from now on, also on failure. */
int httpsrv_listen_fd(
    struct httpsrv *s, int fd, struct ssl_ctx_st *tls, struct err *e);

/* Serves an already connected socket as if a listener had accepted it;
 * the server owns fd from now on. The fuzz harness drives the parser
 * through it (tests/fuzz/fuzz_httpsrv.c). */
void httpsrv_adopt(struct httpsrv *s, evutil_socket_t fd, const char *peer);
/* The same over TLS (the server side of the handshake), tls not NULL. */
void httpsrv_adopt_tls(struct httpsrv *s, evutil_socket_t fd, const char *peer,
    struct ssl_ctx_st *tls);
/* Closes listeners and every connection; pending requests get their
 * on_close callbacks. */
void httpsrv_free(struct httpsrv *s);

/* Request accessors; returned strings are borrowed from the request. */
const char *httpsrv_req_method(const struct httpsrv_req *r);
/* Percent-decoded path without the query ("/containers/abc/json"). */
const char *httpsrv_req_path(const struct httpsrv_req *r);
/* The raw request target as sent ("/v1.44/containers/json?all=1"). */
const char *httpsrv_req_target(const struct httpsrv_req *r);
/* First value of a query parameter, decoded ('+' is a space); NULL if
 * absent. */
const char *httpsrv_req_query(const struct httpsrv_req *r, const char *name);
/* Case-insensitive header lookup; NULL if absent. */
const char *httpsrv_req_header(const struct httpsrv_req *r, const char *name);
/* Calls fn for every request header in order. */
void httpsrv_req_foreach_header(const struct httpsrv_req *r,
    void (*fn)(const char *name, const char *value, void *arg), void *arg);
const char *httpsrv_req_body(const struct httpsrv_req *r, size_t *len);
/* 0 for HTTP/1.0, 1 for HTTP/1.1. */
int httpsrv_req_minor(const struct httpsrv_req *r);
/* A human-readable peer ("unix" or "127.0.0.1:5555"). */
const char *httpsrv_req_peer(const struct httpsrv_req *r);
/* Per-request data, freed with the request by free_fn (may be NULL). */
void httpsrv_req_set_data(
    struct httpsrv_req *r, void *data, void (*free_fn)(void *));
void *httpsrv_req_data(const struct httpsrv_req *r);
/* Called if the client goes away before the reply is complete; the request
 * is freed right after fn returns, so producers must stop using it. */
void httpsrv_req_on_close(struct httpsrv_req *r,
    void (*fn)(struct httpsrv_req *r, void *arg), void *arg);

/* Adds a response header; call before the reply starts. */
void httpsrv_add_header(
    struct httpsrv_req *r, const char *name, const char *value);
/* Whole replies. body may be NULL when len is 0. */
void httpsrv_reply(struct httpsrv_req *r, int status, const char *content_type,
    const void *body, size_t len);
/* httpsrv_reply of a malloc'd body the reply takes (and frees): a large
 * one is sent from where it is, not copied into the connection's
 * buffer. */
void httpsrv_reply_take(struct httpsrv_req *r, int status,
    const char *content_type, char *body, size_t len);
void httpsrv_reply_json(struct httpsrv_req *r, int status, const cJSON *o);
/* Docker's error envelope {"message": "..."}. */
void httpsrv_reply_error(struct httpsrv_req *r, int status, const char *fmt,
    ...) __attribute__((format(printf, 3, 4)));
void httpsrv_reply_err(struct httpsrv_req *r, const struct err *e);
/* 204 or 304 style replies without a body. */
void httpsrv_reply_empty(struct httpsrv_req *r, int status);

/* The most a connection writes in one system call (libevent's default is
 * 16 KiB): large replies go in few calls. */
#define HTTPSRV_MAX_SINGLE_IO (256 * 1024)

/* Streaming replies: chunked for HTTP/1.1, close-delimited for 1.0. */
void httpsrv_stream_begin(
    struct httpsrv_req *r, int status, const char *content_type);
/* A streamed reply whose length is known (a relayed Content-Length body):
 * the head carries Content-Length: len and the writes, which must add up
 * to len, go out unframed. */
void httpsrv_stream_begin_len(
    struct httpsrv_req *r, int status, const char *content_type, size_t len);
/* Queues one chunk (len 0 is ignored). Returns -1 if the client is gone. */
int httpsrv_stream_write(struct httpsrv_req *r, const void *p, size_t len);
/* Moves len bytes from the front of from into the reply as one chunk,
 * without copying them (a relay's input buffer). */
int httpsrv_stream_move(
    struct httpsrv_req *r, struct evbuffer *from, size_t len);
/* Queues one message of a JSON stream and its line end (eol) as one chunk:
 * SDKs that decode chunk by chunk (docker-py, compose) fail on a message
 * cut in two. */
int httpsrv_stream_line(struct httpsrv_req *r, const char *s, const char *eol);
/* Bytes queued for the client and not yet written: producers pause above a
 * threshold and resume from the on_drain callback. */
size_t httpsrv_stream_pending(const struct httpsrv_req *r);
void httpsrv_stream_on_drain(struct httpsrv_req *r,
    void (*fn)(struct httpsrv_req *r, void *arg), void *arg);
/* Ends the reply (terminating chunk); the request is freed afterwards. */
void httpsrv_stream_end(struct httpsrv_req *r);
/* Ends a reply that cannot be completed (its source failed): what was
 * queued is still written, then the connection closes without the
 * terminating chunk, so the client sees a truncated reply, not a complete
 * one. The request is freed. */
void httpsrv_stream_abort(struct httpsrv_req *r);

/* Takes the connection over for a raw byte stream. Writes the response
 * head: "101 UPGRADED" with Connection: Upgrade and Upgrade: tcp when the
 * client asked to upgrade, else "200 OK"; content_type goes in
 * Content-Type. Returns the connection's bufferevent, owned by the caller
 * from now on (bytes the client sent after the request are already in its
 * input buffer); the request is freed. */
struct bufferevent *httpsrv_hijack(
    struct httpsrv_req *r, const char *content_type);
/* Status text for a code ("Not Found"). */
const char *httpsrv_status_text(int status);

#endif
