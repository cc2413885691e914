/* The derive's private state, shared by reg_push_req.c (requests, auth,
 * credentials) and reg_push.c (the push steps built on them);
 * reg_push_layer.c needs none of it. */
#ifndef SOCKERLESS_REG_PUSH_INT_H
#define SOCKERLESS_REG_PUSH_INT_H

#include <sys/queue.h>

#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>
#include <event2/event.h>

#include "reg_int.h"
#include "sockerless/httpcli.h"
#include "sockerless/reg.h"

/* One repository on one registry, with its own credentials and token. */
struct reg_push_side {
	struct reg_ref ref;
	char *base;	 /* "http://127.0.0.1:5000" */
	char *host;	 /* host[:port] of base */
	char *cred_host; /* what credentials are looked up by */
	char *scope;	 /* "repository:x:pull,push" */
	struct reg_creds creds;
	char *authz;
	char *token_key;
	int auth_tries, from_cache;
	int is_dst;
};

struct reg_derive;
typedef void (*reg_push_next)(struct reg_derive *d, struct httpcli_resp *r);

struct reg_derive {
	LIST_ENTRY(reg_derive) entry;
	struct reg_client *rc;
	struct reg_push_side src, dst;
	char *src_s;
	char *src_auth;
	struct reg_creds hdr; /* src_auth, decoded */
	struct reg_layer layer;
	char *history;
	struct strv ep, cmd;
	int has_ep, has_cmd;
	void (*cb)(void *, const char *, const struct err *);
	void *arg;
	struct event *ev;
	uint64_t http_id;
	int waiting_hook, in_hook, detached, hook_failed;
	struct err hook_err;
	struct reg_push_side *hook_side;
	void (*hook_next)(struct reg_derive *);
	int mount;

	/* The request in flight, sent again after an auth round. */
	struct reg_push_side *side;
	char *method, *url, *ctype, *range;
	const void *body;
	size_t body_len;
	size_t max_resp;
	int accept_manifest;
	reg_push_next next;

	/* Source and what is built from it. */
	cJSON *manifest;
	char *manifest_type;
	cJSON *config;
	char *config_bytes, *config_digest;
	char *manifest_bytes, *manifest_digest;

	/* Blob in progress. */
	int li, nlayers;
	const char *blob; /* digest */
	int64_t blob_size, off;
	char *upload; /* current upload URL */
	char *piece;
	size_t piece_len;
	int own; /* 1 layer, 2 config, 3 vb[li]: monolithic upload */

	/* reg_push_image: the blobs of a whole image pushed as it is (the
	 * manifest in manifest_bytes), no source. */
	int verbatim;
	struct reg_push_blob {
		char *digest;
		unsigned char *data;
		size_t len;
	} * vb;
	int nvb;
};

/* reg_push.c: sets up d's destination endpoint (d->rc, d->dst.ref set),
 * registers d with its client and starts it from the loop. */
void reg_push_begin(struct reg_derive *d);

/* reg_push_req.c: a derive's lifetime. */
void reg_push_free(struct reg_derive *d);
/* Calls back once and frees d. */
void reg_push_finish(
    struct reg_derive *d, const char *digest, const struct err *e);
void reg_push_fail(struct reg_derive *d, const struct err *e);
/* Any answer the step did not expect; what says what was asked for. */
void reg_push_http_error(
    struct reg_derive *d, const struct httpcli_resp *resp, const char *what);

/* reg_push_req.c: requests. Relative Locations are allowed (OCI
 * distribution spec); caller frees. */
char *reg_push_abs(const struct reg_push_side *s, const char *loc);
/* Sets up the next request (takes url); reg_push_send sends it (again
 * after 401) and next(d, resp) gets the answer. */
void reg_push_call(struct reg_derive *d, struct reg_push_side *s,
    const char *method, char *url, reg_push_next next);
void reg_push_send(struct reg_derive *d);
/* As for pulls: X-Registry-Auth (src only), then the hook, then the auth
 * file; then next(d). */
void reg_push_creds(struct reg_derive *d, struct reg_push_side *s,
    void (*next)(struct reg_derive *));

#endif
