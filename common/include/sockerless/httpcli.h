/* HTTP client on libcurl multi, driven by libevent, so cloud calls never
 * block the loop. Retries with capped full-jitter backoff and Retry-After
 * live here and nowhere else. */
#ifndef SOCKERLESS_HTTPCLI_H
#define SOCKERLESS_HTTPCLI_H

#include <stddef.h>
#include <stdint.h>

#include <event2/event.h>

#include "sockerless/err.h"
#include "sockerless/str.h"

struct httpcli;
struct httpcli_req;

struct httpcli_resp {
	int status;	     /* 0 when no HTTP response arrived */
	struct strv headers; /* "Name: value", as received */
	char *body;	     /* NUL-terminated; may be "" */
	size_t body_len;
	char error[256]; /* transport error text when status == 0 */
	int attempts;
	double duration_ms; /* whole call, retries included */
};

/* Called exactly once per sent request (unless cancelled); resp is freed
 * after the callback returns. */
typedef void (*httpcli_cb)(struct httpcli_resp *resp, void *arg);

/* Returns a new client owned by the caller. */
struct httpcli *httpcli_new(struct event_base *base);
/* Cancels pending requests without calling their callbacks. */
void httpcli_free(struct httpcli *c);

/* The User-Agent of every request that sets none: a daemon names itself
 * (sockerless-backend-ecs/0.1.0), which is how a cloud's audit log and the
 * simulators' call logs tell its calls apart. Unset: curl sends none. */
void httpcli_set_user_agent(const char *ua);
/* That User-Agent, or "sockerless" while none is set. */
const char *httpcli_user_agent(void);

/* Request builder. The request is owned by the caller until sent. */
struct httpcli_req *httpcli_req_new(const char *method, const char *url);
void httpcli_req_free(struct httpcli_req *r);
/* Sets (replacing) a header. */
void httpcli_req_header(
    struct httpcli_req *r, const char *name, const char *value);
void httpcli_req_del_header(struct httpcli_req *r, const char *name);
/* Copies the body. */
void httpcli_req_body(struct httpcli_req *r, const void *p, size_t len);
/* Per attempt and whole call, in ms (defaults 30000 and 120000). */
void httpcli_req_timeouts(
    struct httpcli_req *r, long attempt_ms, long total_ms);
/* Attempts in all, the first included (default 3; 1 = never retry). */
void httpcli_req_attempts(struct httpcli_req *r, int max_attempts);
/* Response bodies above this fail the call (default 64 MiB). */
void httpcli_req_max_response(struct httpcli_req *r, size_t max);
/* Connect through a unix socket instead of TCP. */
void httpcli_req_unix_socket(struct httpcli_req *r, const char *path);
/* Runs before every attempt, the first included, e.g. to sign with a fresh
 * date. Returning -1 fails the call with e's message. */
void httpcli_req_on_attempt(struct httpcli_req *r,
    int (*fn)(struct httpcli_req *r, void *arg, struct err *e), void *arg);
/* Extra retry decision on top of the default (transport errors, 429, 500,
 * 502, 503, 504); return 1 to retry. */
void httpcli_req_retry_if(struct httpcli_req *r,
    int (*fn)(const struct httpcli_resp *resp, void *arg), void *arg);

/* The delay before a retry in ms that the response itself asks for in
 * its body (google.rpc.RetryInfo), or -1 for the default (capped full
 * jitter, or Retry-After). Called only for a response that is retried. */
void httpcli_req_retry_delay(struct httpcli_req *r,
    long (*fn)(const struct httpcli_resp *resp, void *arg), void *arg);

/* Streaming: the body of a 2xx answer goes to cb as it arrives instead
 * of being buffered (and counts against no max_response); the response
 * callback then runs at the end with an empty body (a non-2xx answer's
 * body is buffered as usual, for its error). cb returns 0 to go on, -1
 * to stop the transfer (the response then has status 0 and the error
 * "transfer stopped by the data callback"); it may call httpcli_cancel
 * on its own request, after which nothing more is delivered and the
 * response callback does not run. Once a byte was delivered the call is
 * never retried. Set long timeouts for a stream that lasts. */
void httpcli_req_on_data(struct httpcli_req *r,
    int (*cb)(void *arg, const void *p, size_t n), void *arg);

/* Accessors for signers. */
const char *httpcli_req_method(const struct httpcli_req *r);
const char *httpcli_req_url(const struct httpcli_req *r);
const char *httpcli_req_get_header(
    const struct httpcli_req *r, const char *name);
/* "Name: value" lines in the order set. */
const struct strv *httpcli_req_headers(const struct httpcli_req *r);
const void *httpcli_req_get_body(const struct httpcli_req *r, size_t *len);

/* Sends r (taking ownership). Returns an id for httpcli_cancel, never 0.
 * The callback always runs from the loop, never inside httpcli_send. */
uint64_t httpcli_send(
    struct httpcli *c, struct httpcli_req *r, httpcli_cb cb, void *arg);
/* As httpcli_send, and arg is the request's own: arg_free frees it after
 * cb, or without cb when the request is cancelled or the client freed
 * with it in flight (httpcli_free drops those). cb must not free it. */
uint64_t httpcli_send_owned(struct httpcli *c, struct httpcli_req *r,
    httpcli_cb cb, void *arg, void (*arg_free)(void *));
/* The callback will not be called. Unknown or finished ids are ignored. */
void httpcli_cancel(struct httpcli *c, uint64_t id);

/* Blocking variant for start-up and tools only (never from a handler):
 * same retries; returns a response owned by the caller. Takes r. */
struct httpcli_resp *httpcli_perform(struct httpcli_req *r);
void httpcli_resp_free(struct httpcli_resp *resp);
/* Case-insensitive header lookup in a response; NULL if absent. */
const char *httpcli_resp_header(
    const struct httpcli_resp *resp, const char *name);

#endif
