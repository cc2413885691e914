/* OCI / Docker registry v2 client: resolves a reference to its manifest
 * and image config (no layer download). Bearer token auth (WWW-Authenticate
 * challenge, anonymous or with credentials), Basic auth, registry mirrors
 * for docker.io, insecure (http) registries, multi-arch index selection.
 * reg_push.c derives images: one added layer, pushed to another repo. */
#ifndef SOCKERLESS_REG_H
#define SOCKERLESS_REG_H

#include <stdint.h>
#include <stdio.h>

#include <cjson/cJSON.h>
#include <event2/event.h>

#include "sockerless/err.h"
#include "sockerless/str.h"

struct httpcli;
struct reg_client;

struct reg_config {
	const struct strv *mirrors;  /* for docker.io: "http://127.0.0.1:5000"
				      * or "https://mirror.example" */
	const struct strv *insecure; /* hosts ("127.0.0.1:5000") or CIDRs
				      * ("127.0.0.0/8") spoken to over http */
	const char *platform;  /* "linux/amd64" (default), "linux/arm64/v8" */
	const char *auth_file; /* docker config.json with "auths" */
	const struct strv *endpoints; /* "host=URL": that registry host is
				       * reached at URL (a pull-through
				       * cache, a simulator) */
};

struct reg_ref {
	char *domain; /* "docker.io", "registry:5000" */
	char *path;   /* "library/busybox" */
	char *tag;    /* NULL when only a digest; "latest" when neither */
	char *digest; /* "sha256:..." or NULL */
};

struct reg_image {
	char *name;		   /* "docker.io/library/busybox" */
	char *path;		   /* "library/busybox" */
	char *tag;		   /* or NULL */
	char *digest;		   /* digest the reference resolved to (index or
				    * manifest: what `docker pull` prints) */
	char *manifest_digest;	   /* the platform manifest's digest */
	char *id;		   /* "sha256:<config digest hex>" */
	cJSON *config;		   /* the image config blob */
	int64_t size;		   /* sum of layer sizes */
	const cJSON *manifest;	   /* the platform manifest */
	const char *manifest_type; /* its media type */
	const char *source;	   /* base URL it was read from: the registry,
				    * a mirror or a registry_endpoints URL */
	const char *source_creds;  /* host credentials are looked up by */
};

struct reg_client *reg_client_new(struct event_base *base, struct httpcli *http,
    const struct reg_config *c, struct err *e);
void reg_client_free(struct reg_client *rc);

/* Credentials for registries a backend knows how to log in to (ECR, GAR,
 * ACR). The hook is asked for a host before the auth file; it calls
 * done(done_arg, "user", "secret", NULL) or done(done_arg, NULL, NULL, err),
 * possibly later from the loop; it returns 0 if it handles host, else -1
 * (then done must not be called). */
typedef void (*reg_creds_done)(
    void *done_arg, const char *user, const char *secret, const struct err *e);
typedef int (*reg_creds_hook)(
    void *arg, const char *host, reg_creds_done done, void *done_arg);
void reg_set_creds_hook(struct reg_client *rc, reg_creds_hook h, void *arg);
/* The base URL the client reaches registry host at, as reg_resolve and
 * the pushes do: its registry_endpoints URL, else http:// for an insecure
 * host, else https://; without a trailing /. For a hook that must call
 * the registry itself (ACR's /oauth2/exchange). Caller frees. */
char *reg_host_base(struct reg_client *rc, const char *host);

/* Docker's normalisation: "busybox" -> docker.io/library/busybox:latest,
 * "user/x" -> docker.io/user/x, "host:5000/x@sha256:.." keeps the host.
 * Returns -1 with a 400 "invalid reference format" otherwise. */
int reg_ref_parse(const char *s, struct reg_ref *r, struct err *e);
/* "docker.io/library/busybox:latest" (tag and/or @digest). Caller frees. */
char *reg_ref_string(const struct reg_ref *r);
/* Short form "busybox:latest", "user/x:1", "host:5000/x:1". */
char *reg_ref_familiar(const struct reg_ref *r);
/* The familiar name without tag or digest ("busybox", "host:5000/x"). */
char *reg_ref_familiar_name(const struct reg_ref *r);
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

/* reg_resolve for a client's own docker pull, as dockerd does it: its
 * X-Registry-Auth, the hook or the auth file, never the credentials
 * remembered from another client's login or pull (which serve the
 * backend's pulls for workloads: derives, the cloud's pull). */
int reg_resolve_client(struct reg_client *rc, const char *ref, const char *auth,
    void (*cb)(void *arg, const struct reg_image *img, const struct err *e),
    void *arg, struct err *e);

/* Downloads blob digest of ref's repository (the same endpoints,
 * mirrors, credentials and tokens as reg_resolve; redirects to storage
 * followed) into the file dest, in 8 MiB ranges, verified against the
 * digest. cb is called exactly once from the loop: e NULL when dest holds
 * the blob, else dest is removed and e says why (500 over max bytes, 502 a
 * registry that fails or sends other content, 401/404 as for a pull).
 * Returns -1 (cb not called) for a bad reference, digest or dest. */
int reg_blob_fetch(struct reg_client *rc, const char *ref, const char *auth,
    const char *digest, const char *dest, uint64_t max,
    void (*cb)(void *arg, const struct err *e), void *arg, struct err *e);

/* --- docker login (reg_login.c) --------------------------------------- */

/* POST /auth as dockerd answers it: server is the AuthConfig's
 * serveraddress ("" or "https://index.docker.io/v1/" for Docker Hub,
 * "host:5000", "https://host"); auth_json the AuthConfig body itself
 * ({username,password} | {auth} | {identitytoken}). GET /v2/ on the
 * registry (never a mirror), then the round its WWW-Authenticate asks
 * for: basic with the credentials, or a bearer token fetched with them.
 * cb is called exactly once from the loop: e NULL when the registry let
 * the credentials in (or asks for none, as dockerd accepts), with the
 * refresh token a token service gave ("" when none); otherwise 401
 * "login attempt to URL failed with status: 401 Unauthorized" (basic) or
 * "Get \"URL\": unauthorized: ..." (bearer), 502 for a registry that is
 * unreachable or answers otherwise. Accepted credentials are remembered
 * (memory only) for the host's later pulls and derives that come without
 * X-Registry-Auth. Returns -1 (cb not called) with a 400 for a bad
 * server address or malformed credentials. */
int reg_login(struct reg_client *rc, const char *server, const char *auth_json,
    void (*cb)(void *arg, const char *identitytoken, const struct err *e),
    void *arg, struct err *e);

/* The user and password remembered for registry host (by a login or a
 * pull with X-Registry-Auth that the registry accepted): 1 with copies
 * the caller frees (and should wipe), else 0 (none, or only a token). For
 * backends that hand a workload's pull credentials to the cloud. */
int reg_known_creds(
    struct reg_client *rc, const char *host, char **user, char **pass);

/* --- derived images (reg_push.c) --------------------------------------- */

struct reg_file {
	const char *path; /* "sockerless/agent": relative, no leading
			   * slash; missing parent dirs are added
			   * (0755) */
	unsigned mode;	  /* permission bits, 0755 */
	const void *data; /* NULL for directories */
	size_t len;
	int is_dir;
};

struct reg_layer {
	unsigned char *data; /* gzip of an uncompressed ustar tar */
	size_t len;
	char *digest;  /* "sha256:<hex>" of data */
	char *diff_id; /* "sha256:<hex>" of the tar */
};

/* A reproducible layer (uid/gid 0, mtime 0) holding files, in the given
 * order. Fills out, to be freed with reg_layer_free. -1 with a 400 for a
 * bad path (absolute, "..", empty component, too long). */
int reg_layer_build(const struct reg_file *files, size_t n,
    struct reg_layer *out, struct err *e);
void reg_layer_free(struct reg_layer *l);

struct reg_derive_opts {
	const char *history;	       /* created_by of the new history entry
					* ("sockerless: add /sockerless/agent") */
	const struct strv *entrypoint; /* replaces config.Entrypoint; NULL
					* keeps it, an empty one clears it */
	const struct strv *cmd;	       /* the same for config.Cmd */
};

/* Pushes src (any reference; an index gives the client's platform) plus
 * layer as dst ("host[:port]/repo:tag"). When the dst tag exists it is
 * reused as is: nothing is pushed. Blobs missing at dst are mounted from
 * src's repository on the same registry, else copied in 8 MiB pieces.
 * src_auth is X-Registry-Auth for src (may be NULL); dst credentials come
 * from the creds hook or the auth file. layer and o are copied. cb is
 * called exactly once from the loop with "host/repo@sha256:..." (the
 * pushed or existing manifest) or e: 500 "pushing to host/repo denied: ..."
 * when the registry refuses the push, 502 naming the host when it is
 * unreachable or misbehaves, pull errors of src as reg_resolve gives them.
 * Returns -1 (cb not called) for a bad reference. */
int reg_derive(struct reg_client *rc, const char *src, const char *src_auth,
    const char *dst, const struct reg_layer *layer,
    const struct reg_derive_opts *o,
    void (*cb)(void *arg, const char *dst_ref, const struct err *e), void *arg,
    struct err *e);

/* --- whole images (reg_push_image.c) ------------------------------------ */

struct reg_blob_data {
	const char *digest; /* "sha256:<hex>" of data */
	const void *data;
	size_t len;
};

/* Pushes an image as it is (an OCI layout's: the manifest and the blobs it
 * names, in memory) to dst ("host[:port]/repo:tag"), replacing the tag:
 * each blob dst lacks is uploaded in one piece, then the manifest, whose
 * digest stays manifest's. blobs must hold the config and every layer the
 * manifest names, each matching its digest (-1 with a 400 naming what is
 * wrong otherwise, cb not called). Credentials come from the creds hook
 * or the auth file. cb is called exactly once from the loop with
 * "host/repo@sha256:..." or e as reg_derive gives them. */
int reg_push_image(struct reg_client *rc, const char *dst, const char *manifest,
    size_t manifest_len, const char *manifest_type,
    const struct reg_blob_data *blobs, size_t nblobs,
    void (*cb)(void *arg, const char *dst_ref, const struct err *e), void *arg,
    struct err *e);

/* --- an image's files (reg_tree.c, reg_tar.c; blobs: reg_blob.c) ------- */

/* ARCHIVE: the path as `docker cp` GETs it (top entry = its base name; a
 * path ending in "/." or "/" gives "./" and the contents, following a
 * final symlink); CONTENTS: "./" with the directory's owner and mode,
 * then its contents (what fills a new volume). */
enum reg_tree_mode { REG_TREE_ARCHIVE, REG_TREE_CONTENTS };
struct reg_tree;

/* A merged view of layers restricted to path (absolute; ".." is resolved
 * lexically inside the root, as Docker does). max bounds the file data
 * kept. NULL with a 400 for a relative path. */
struct reg_tree *reg_tree_new(
    const char *path, enum reg_tree_mode mode, uint64_t max, struct err *e);
void reg_tree_free(struct reg_tree *t);
/* Starts (or restarts, after reg_tree_redirect) applying layers. */
int reg_tree_begin(struct reg_tree *t, struct err *e);
/* Applies one layer, gzip or plain tar, whiteouts honoured, over what is
 * there; f from its position, or mem when f is NULL; what names it in
 * messages. -1 with e: 502 for a malformed or unsafe layer (a ".."
 * member), 501 zstd, 500 over the bound. */
int reg_tree_layer(struct reg_tree *t, FILE *f, const void *mem, size_t len,
    const char *what, struct err *e);
/* Applies a plain tar as PUT /containers/{id}/archive puts it under dir. */
int reg_tree_put(struct reg_tree *t, FILE *f, const char *dir, struct err *e);
/* After all layers: 1 when a directory on the path (or the final
 * component when followed) is a symlink; the tree then reads the path it
 * leads to: reg_tree_begin and apply the layers again. 0 when settled, -1
 * with a 400 after too many links. */
int reg_tree_redirect(struct reg_tree *t, struct err *e);
/* 1 when the path is a directory. */
int reg_tree_is_dir(const struct reg_tree *t);
/* Docker's path stat {name, size, mode (Go FileMode bits), mtime,
 * linkTarget} with name as given, or NULL when nothing is at the path.
 * Caller frees. */
cJSON *reg_tree_stat(const struct reg_tree *t, const char *name);
/* Writes the tar (both end blocks included) to out. */
int reg_tree_write(struct reg_tree *t, FILE *out, struct err *e);

#endif
