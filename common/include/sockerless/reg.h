/* OCI / Docker registry v2 client: resolves a reference to its manifest
 * and image config (no layer download). Bearer token auth (WWW-Authenticate
 * challenge, anonymous or with credentials), Basic auth, registry mirrors
 * for docker.io, insecure (http) registries, multi-arch index selection. */
#ifndef SOCKERLESS_REG_H
#define SOCKERLESS_REG_H

#include <stdint.h>

#include <cjson/cJSON.h>
#include <event2/event.h>

#include "sockerless/err.h"
#include "sockerless/str.h"

struct httpcli;
struct reg_client;

struct reg_config {
	const struct strv *mirrors;	/* for docker.io: "http://127.0.0.1:5000"
					 * or "https://mirror.example" */
	const struct strv *insecure;	/* hosts ("127.0.0.1:5000") or CIDRs
					 * ("127.0.0.0/8") spoken to over http */
	const char *platform;		/* "linux/amd64" (default), "linux/arm64/v8" */
	const char *auth_file;		/* docker config.json with "auths" */
	const struct strv *endpoints;	/* "host=URL": that registry host is
					 * reached at URL (a pull-through
					 * cache, a simulator) */
};

struct reg_ref {
	char *domain;	/* "docker.io", "registry:5000" */
	char *path;	/* "library/busybox" */
	char *tag;	/* NULL when only a digest; "latest" when neither */
	char *digest;	/* "sha256:..." or NULL */
};

struct reg_image {
	char *name;		/* "docker.io/library/busybox" */
	char *path;		/* "library/busybox" */
	char *tag;		/* or NULL */
	char *digest;		/* digest the reference resolved to (index or
				 * manifest: what `docker pull` prints) */
	char *manifest_digest;	/* the platform manifest's digest */
	char *id;		/* "sha256:<config digest hex>" */
	cJSON *config;		/* the image config blob */
	int64_t size;		/* sum of layer sizes */
};

struct reg_client *reg_client_new(struct event_base *base,
    struct httpcli *http, const struct reg_config *c, struct err *e);
void reg_client_free(struct reg_client *rc);

/* Credentials for registries a backend knows how to log in to (ECR, GAR,
 * ACR). The hook is asked for a host before the auth file; it calls
 * done(done_arg, "user", "secret", NULL) or done(done_arg, NULL, NULL, err),
 * possibly later from the loop; it returns 0 if it handles host, else -1
 * (then done must not be called). */
typedef void (*reg_creds_done)(void *done_arg, const char *user,
    const char *secret, const struct err *e);
typedef int (*reg_creds_hook)(void *arg, const char *host,
    reg_creds_done done, void *done_arg);
void reg_set_creds_hook(struct reg_client *rc, reg_creds_hook h, void *arg);

/* Docker's normalisation: "busybox" -> docker.io/library/busybox:latest,
 * "user/x" -> docker.io/user/x, "host:5000/x@sha256:.." keeps the host.
 * Returns -1 with a 400 "invalid reference format" otherwise. */
int reg_ref_parse(const char *s, struct reg_ref *r, struct err *e);
/* "docker.io/library/busybox:latest" (tag and/or @digest). Caller frees. */
char *reg_ref_string(const struct reg_ref *r);
/* Short form "busybox:latest", "user/x:1", "host:5000/x:1". */
char *reg_ref_familiar(const struct reg_ref *r);
void reg_ref_free(struct reg_ref *r);

/* Resolves ref (any form reg_ref_parse takes). auth is the client's
 * X-Registry-Auth header (base64url JSON {username,password} or
 * {identitytoken}), may be NULL. cb is called exactly once from the loop:
 * img on success, else e (404 "manifest unknown"/"pull access denied",
 * 401 wrong credentials, 502 registry unreachable with the host named).
 * Returns -1 (cb not called) for a bad reference. */
int reg_resolve(struct reg_client *rc, const char *ref, const char *auth,
    void (*cb)(void *arg, const struct reg_image *img, const struct err *e),
    void *arg, struct err *e);

#endif
