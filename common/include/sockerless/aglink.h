/* The backend's side of the agent link (docs/agent-link.md): one
 * WebSocket connection per container to its sockerless-agent, on the
 * backend's libevent loop, carrying many channels with per-channel flow
 * control. Forward mode: the backend dials the agent. Reverse mode: the
 * agent dials an aglink_listener, which hands the connection to the
 * container's link. */
#ifndef SOCKERLESS_AGLINK_H
#define SOCKERLESS_AGLINK_H

#include <stddef.h>

#include <cjson/cJSON.h>
#include <event2/event.h>

#include "sockerless/aglink_wire.h"
#include "sockerless/err.h"

struct aglink;
struct aglink_chan;

struct aglink_cbs {
	/* The agent's HELLO, on every (re)connect. */
	void (*on_hello)(void *arg, const cJSON *hello);
	/* An EVENT on channel 0 (main process exit, health). */
	void (*on_event)(void *arg, const cJSON *event);
	/* The link went down (e says why); open channels have already had
	 * on_result with an error. The next aglink_open reconnects. */
	void (*on_down)(void *arg, const struct err *e);
	/* Relay mode: the agent opened ch with CONNECT (request: its JSON,
	 * docs/agent-link.md). The callee calls aglink_chan_accept or
	 * aglink_chan_finish on ch before it returns. NULL: the agent gets
	 * RESULT 501. */
	void (*on_connect)(
	    void *arg, struct aglink_chan *ch, const cJSON *request);
};

struct aglink_chan_cbs {
	/* DATA from the agent. The receiver calls aglink_chan_consumed(ch,
	 * len) once it has passed the bytes on (that is what credits the
	 * agent: without it the agent stops after AGLINK_WINDOW bytes). */
	void (*on_data)(
	    void *arg, int stream, const unsigned char *buf, size_t len);
	/* EOF of one output stream. */
	void (*on_eof)(void *arg, int stream);
	/* META (archive stat), before any DATA. May be NULL. */
	void (*on_meta)(void *arg, const cJSON *meta);
	/* Window space opened for aglink_chan_write after it returned less
	 * than asked. May be NULL. */
	void (*on_writable)(void *arg);
	/* Always the channel's last callback: the RESULT JSON, or NULL with e
	 * set (link lost, connect failed, protocol error). The channel is
	 * freed when this returns. */
	void (*on_result)(void *arg, const cJSON *result, const struct err *e);
};

/*
 * A link to the agent at host:port (an IP literal or a name resolved with
 * getaddrinfo). token_hex is the container's 64-hex token, container_id
 * its id. Nothing is dialled until the first aglink_open; a dial is tried
 * again on ECONNREFUSED/timeouts for up to connect_timeout_s (the agent
 * starts a moment after the task reports RUNNING). Strings are copied.
 */
struct aglink *aglink_new(struct event_base *base, const char *host, int port,
    const char *token_hex, const char *container_id, int connect_timeout_s,
    const struct aglink_cbs *cbs, void *arg);

/* Closes the link; open channels get on_result with an error first. No
 * aglink_cbs are called from inside aglink_free. */
void aglink_free(struct aglink *l);

/* Overrides the keepalive: a ping after ping_ms without input, the link
 * dropped after dead_ms without input (defaults 15 s and 45 s). For
 * tests. */
void aglink_set_keepalive(struct aglink *l, int ping_ms, int dead_ms);

/* 1 while the WebSocket is established and the HELLO has arrived. */
int aglink_is_up(const struct aglink *l);

/* The last HELLO (NULL before the first); owned by the link. */
const cJSON *aglink_hello(const struct aglink *l);

/*
 * Opens a channel with request (a JSON object, copied; "kind" etc. as in
 * docs/agent-link.md). Connects first if needed; the OPEN is sent once the
 * link is up. Never NULL; failures arrive through cbs->on_result.
 */
struct aglink_chan *aglink_open(struct aglink *l, const cJSON *request,
    const struct aglink_chan_cbs *cbs, void *arg);

/* Connects now when the link is idle, without a channel to open: for a
 * link the agent must be able to use on its own (its CONNECTs). Failures
 * arrive as on_down. */
void aglink_up(struct aglink *l);

/* Forward mode: aglink_up for a workload that is about to start, whose
 * agent listens within moments: a refused dial is tried again every
 * 20 ms for the first 5 s (then with the usual back-off), so the link is
 * up about as soon as the agent listens. */
void aglink_up_eager(struct aglink *l);

/* A link waiting to dial again after a failed dial dials now, its
 * back-off reset: for a caller that knows the agent listens now. */
void aglink_redial(struct aglink *l);

/* Sends up to len bytes of stdin (stream 0) as DATA within the channel's
 * window; returns how many were taken (0 when the window is full: wait
 * for on_writable). Bytes written before the link is up are queued within
 * the window too. */
size_t aglink_chan_write(struct aglink_chan *ch, const void *buf, size_t len);

/* Sends EOF on stdin (the client's half-close). */
void aglink_chan_eof(struct aglink_chan *ch);

/* Sends RESIZE. */
void aglink_chan_resize(struct aglink_chan *ch, int rows, int cols);

/* Credits n bytes of received DATA back to the agent. */
void aglink_chan_consumed(struct aglink_chan *ch, size_t n);

/* Abandons the channel: CLOSE to the agent, no more callbacks. */
void aglink_chan_close(struct aglink_chan *ch);

/* A channel the agent opened (on_connect): its callbacks from now on.
 * Writes and EOF on it go to the agent as stream 1; its DATA and EOF
 * arrive as stream 0; on_result comes only when it fails (link lost, the
 * agent's CLOSE). */
void aglink_chan_accept(
    struct aglink_chan *ch, const struct aglink_chan_cbs *cbs, void *arg);
/* Ends a channel the agent opened: RESULT result to the agent, no more
 * callbacks. */
void aglink_chan_finish(struct aglink_chan *ch, const cJSON *result);

/* Frees connections still flushing a close frame or a refusal on their
 * own; call when the event loop is about to end. */
void aglink_shutdown(void);

/* Makes a fresh token: 32 random bytes (RAND_bytes) as 64 hex characters
 * into hex (65 bytes), and its SHA-256 as 64 hex characters into sha_hex.
 * Returns 0, -1 when the random source fails. */
int aglink_token_new(
    char hex[AGLINK_TOKEN_HEX + 1], char sha_hex[AGLINK_TOKEN_HEX + 1]);

/* --- reverse mode --------------------------------------------------------- */

struct aglink_listener;

/*
 * A link that never dials: the agent of container_id calls back on an
 * aglink_listener, which adopts the connection (the link is then the
 * WebSocket server: its frames unmasked, the agent's masked). aglink_open
 * queues channels until then and fails them with 504 after
 * connect_timeout_s. A newer adopted connection replaces the older one.
 * Everything else is as with aglink_new.
 */
struct aglink *aglink_new_reverse(struct event_base *base,
    const char *container_id, const char *token_hex, int connect_timeout_s,
    const struct aglink_cbs *cbs, void *arg);

/*
 * Listens on host:port (host NULL or "": every address; port 0: any) for
 * agents calling back (GET AGLINK_PATH with the upgrade headers, the
 * sealed link's Authorization and X-Sockerless-Container;
 * docs/agent-link.md "The sealed link"). lookup(arg, container id)
 * returns that container's reverse link, else NULL; the listener checks
 * the agent's MAC against the link's own token (token_hex of
 * aglink_new_reverse, in constant time): an unknown container or a wrong
 * MAC gets 401. The link takes the connection once the agent's first
 * sealed message opens. NULL (logged) when the address cannot be bound.
 */
struct aglink_listener *aglink_listener_new(struct event_base *base,
    const char *host, int port,
    struct aglink *(*lookup)(void *arg, const char *container_id), void *arg);

/* The bound port (for port 0). */
int aglink_listener_port(const struct aglink_listener *ls);

/* Stops listening; connections already adopted stay with their links. */
void aglink_listener_free(struct aglink_listener *ls);
/* Handles an already connected socket as if the listener had accepted it
 * (the agent's upgrade request is read from it); ls owns fd from now on.
 * The fuzz harness reaches the link's parsers through it
 * (tests/fuzz/fuzz_aglink.c). */
void aglink_listener_adopt(struct aglink_listener *ls, evutil_socket_t fd);

#endif
