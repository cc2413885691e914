/* A tiny blocking HTTP/1.1 client over TCP (one connection per request). */
#ifndef AGENT_HTTP_H
#define AGENT_HTTP_H

#include <stddef.h>

/* Largest response body accepted; Lambda events are at most 6 MB. */
#define HTTP_BODY_MAX (16u << 20)

struct http_hdr {
	const char *name;
	const char *value;
};

struct http_resp {
	int status;
	char *head; /* header lines, NUL-terminated each, after the status */
	size_t head_len;
	char *body; /* NUL-terminated for convenience; body_len excludes it */
	size_t body_len;
};

/*
 * Sends METHOD PATH to hostport ("host:port", "[v6]:port") with the given
 * headers (an array ended by a NULL name, or NULL) and a Content-Length
 * body (body may be NULL when body_len is 0 and method sends none), and
 * reads the whole response into *resp (Content-Length, chunked, or up to
 * EOF). Blocks without a timeout: the Lambda "next" call waits for as long
 * as there is no invocation.
 * Returns 0 (any HTTP status), or -1 with errno set and *resp empty:
 * EPROTO for a malformed response, EMSGSIZE when it is too large.
 * The caller frees *resp with http_resp_free.
 */
int http_request(const char *hostport, const char *method, const char *path,
    const struct http_hdr *hdrs, const char *body, size_t body_len,
    struct http_resp *resp);

/* The value of header name (case-insensitive) or NULL; borrowed from r. */
const char *http_resp_header(const struct http_resp *r, const char *name);

/* Frees what *r owns; safe on a zeroed or already freed response. */
void http_resp_free(struct http_resp *r);

#endif
