/* Private to the resolve (reg.c) and the blob download (reg_blob.c),
 * which shares its endpoints, credentials and token rounds. */
#ifndef SOCKERLESS_REG_PULL_INT_H
#define SOCKERLESS_REG_PULL_INT_H

#include <stdio.h>

#include <openssl/evp.h>

#include "reg_int.h"

struct reg_ep {
	char *base;	 /* "https://registry-1.docker.io" */
	char *host;	 /* "registry-1.docker.io" */
	char *cred_host; /* what credentials are looked up by */
	int mirror;
};

#define REG_BLOB_PIECE ((uint64_t)8 << 20)

enum reg_step {
	REG_STEP_MANIFEST,
	REG_STEP_CHILD,
	REG_STEP_CONFIG,
	REG_STEP_BLOB
};

struct reg_pull {
	LIST_ENTRY(reg_pull) entry;
	struct reg_client *rc;
	struct reg_ref ref;
	char *familiar;	     /* "busybox:latest" for messages */
	char *familiar_name; /* "busybox" */
	char *scope;	     /* "repository:library/busybox:pull" */
	void (*cb)(void *, const struct reg_image *, const struct err *);
	void *arg;
	struct reg_creds hdr;
	int has_hdr;
	int no_known; /* a client's own pull: never remembered creds */
	struct reg_ep *eps;
	size_t neps, ep;
	struct event *ev;
	uint64_t http_id;
	int waiting_hook, in_hook, detached;
	int hook_failed;
	struct err hook_err;
	int mirror_said; /* a mirror answered 4xx: mirror_err */
	struct err mirror_err;

	/* Per endpoint. */
	struct reg_creds creds;
	char *authz; /* Authorization value or NULL */
	char *token_key;
	int auth_tries;
	int from_cache;
	enum reg_step step;

	/* Results. */
	char *digest, *manifest_digest, *config_digest;
	cJSON *manifest; /* the platform manifest */
	char *manifest_type;
	int64_t size;

	/* A blob download (reg_blob_fetch) instead of a resolve. */
	char *blob_digest, *blob_path;
	FILE *blob_f;
	EVP_MD_CTX *blob_md;
	uint64_t blob_off, blob_total, blob_max;
	void (*blob_cb)(void *, const struct err *);
};

/* reg.c */
/* A pull for ref, started from the loop once p->ev is activated; NULL
 * with a 400 for a bad reference. */
struct reg_pull *reg_pull_new(
    struct reg_client *rc, const char *ref, const char *auth, struct err *e);
/* Calls the callback once (the blob's or the resolve's) and frees p. */
void reg_pull_finish(
    struct reg_pull *p, const struct reg_image *img, const struct err *e);
/* The request of the current step on the current endpoint. */
void reg_pull_send(struct reg_pull *p);
struct reg_ep *reg_pull_cur(struct reg_pull *p);

/* reg_blob.c */
/* A 500 about the blob, in a static buffer. */
const struct err *reg_blob_err(struct reg_pull *p, const char *what);
/* From the first byte again; -1 when p was finished (and freed). */
int reg_blob_restart(struct reg_pull *p);
/* Range and bound of the next piece's request. */
void reg_blob_range(struct reg_pull *p, struct httpcli_req *r);
/* A 200 or 206 answer to a piece. */
void reg_blob_got(struct reg_pull *p, const struct httpcli_resp *resp);

#endif
