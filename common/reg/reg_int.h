/* The registry client's private header, shared by its files and the unit
 * tests. Layers, lowest first: reg_ref.c (references, digests, encodings),
 * reg_auth.c (credentials, challenges, tokens), reg_host.c (platforms,
 * insecure hosts, endpoints), reg_push_layer.c (a derived layer's tar.gz);
 * then the requests: reg.c (client, resolve) and reg_push*.c (derive,
 * which resolves its source with reg_resolve; the client's free cancels
 * derives with reg_derive_cancel_all) and reg_blob.c (a blob download
 * riding on reg.c's pull, reg_pull_int.h). reg_tar.c and reg_tree.c (an
 * image's files from its layers) stand apart (reg_tree_int.h). */
#ifndef SOCKERLESS_REG_INT_H
#define SOCKERLESS_REG_INT_H

#include <sys/queue.h>

#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>
#include <event2/event.h>

#include "sockerless/err.h"
#include "sockerless/reg.h"
#include "sockerless/str.h"

#define REG_DOCKER_DOMAIN "docker.io"
#define REG_DOCKER_LEGACY "index.docker.io"
#define REG_DOCKER_HOST	  "registry-1.docker.io"

#define REG_MT_OCI_INDEX "application/vnd.oci.image.index.v1+json"
#define REG_MT_DOCKER_LIST \
	"application/vnd.docker.distribution.manifest.list.v2+json"
#define REG_MT_OCI_MANIFEST "application/vnd.oci.image.manifest.v1+json"
#define REG_MT_DOCKER_MANIFEST \
	"application/vnd.docker.distribution.manifest.v2+json"

/* Credentials for one registry; every member may be NULL. */
struct reg_creds {
	char *user;
	char *pass;
	char *identitytoken; /* OAuth refresh token (docker login) */
	char *registrytoken; /* bearer token sent to the registry as is */
};

struct reg_challenge {
	char *scheme; /* "bearer" or "basic", lowercased */
	char *realm;
	char *service;
	char *scope;
};

struct reg_platform {
	char os[32];
	char arch[32];
	char variant[32]; /* "" when none ("v8" for arm64 by default) */
};

struct reg_token {
	LIST_ENTRY(reg_token) entry;
	char *key; /* host \n scope \n credential hash */
	char *token;
	int64_t expires_ns;
};

/* Credentials a registry accepted (a login, or a pull with
 * X-Registry-Auth), kept in memory only, by host. */
struct reg_known {
	LIST_ENTRY(reg_known) entry;
	char *host;
	struct reg_creds creds;
};

struct reg_pull;
struct reg_derive;
struct reg_login;
struct httpcli_req;
struct httpcli_resp;
LIST_HEAD(reg_token_list, reg_token);
LIST_HEAD(reg_pull_list, reg_pull);
LIST_HEAD(reg_derive_list, reg_derive);
LIST_HEAD(reg_known_list, reg_known);
LIST_HEAD(reg_login_list, reg_login);

/* Shared by resolves (reg.c) and derives (reg_push*.c). */
struct reg_client {
	struct event_base *base;
	struct httpcli *http;
	struct strv mirrors;
	struct strv insecure;
	struct strv endpoints; /* "host=URL" pairs, URL without trailing / */
	struct reg_platform platform;
	char *auth_file;
	reg_creds_hook hook;
	void *hook_arg;
	struct reg_token_list tokens;
	struct reg_pull_list pulls;
	struct reg_derive_list derives;
	struct reg_known_list known;
	struct reg_login_list logins;
};

void reg_creds_free(struct reg_creds *c);
void reg_creds_copy(struct reg_creds *dst, const struct reg_creds *src);
/* 1 when c carries anything usable. */
int reg_creds_any(const struct reg_creds *c);

/* X-Registry-Auth: base64(url) JSON {username,password} | {auth} |
 * {identitytoken} | {registrytoken}. Empty, "{}" or credential-less JSON
 * give empty creds. Returns -1 when malformed (c is left empty). */
int reg_auth_decode(const char *hdr, struct reg_creds *c);
/* Looks host up in a docker config.json ("auths"). Returns 1 and fills c
 * when found, 0 otherwise (missing file included). */
int reg_auth_file_lookup(
    const char *file, const char *host, struct reg_creds *c);

/* Remembers c for host (docker.io aliases folded), replacing what was
 * there; the strings are wiped when dropped. */
void reg_known_put(
    struct reg_client *rc, const char *host, const struct reg_creds *c);
/* 1 and a copy in c when host has remembered credentials, else 0. */
int reg_known_lookup(
    struct reg_client *rc, const char *host, struct reg_creds *c);
/* Drops every remembered credential (the client's free). */
void reg_known_clear(struct reg_client *rc);
/* "https://index.docker.io/v1/" -> "docker.io", "http://h:5000/x" ->
 * "h:5000": the host credentials are kept by. Caller frees. */
char *reg_auth_key_host(const char *k);

/* Parses the first challenge of a WWW-Authenticate value. -1 if none. */
int reg_challenge_parse(const char *h, struct reg_challenge *c);
void reg_challenge_free(struct reg_challenge *c);

/* "os/arch[/variant]", arch aliases normalised (x86_64, aarch64, ...),
 * arm64 without a variant gets v8. NULL or "" is linux/amd64. */
int reg_platform_parse(const char *s, struct reg_platform *p, struct err *e);
/* The entry of an index's "manifests" that best matches p, borrowed from
 * index; NULL when none does. */
const cJSON *reg_platform_pick(
    const cJSON *index, const struct reg_platform *p);

/* 1 when host ("h", "h:port", "[v6]:port") is spoken to over http:
 * listed by name, or an IP literal in a listed CIDR, or loopback. */
int reg_host_insecure(const struct strv *insecure, const char *host);

/* Where a registry domain (not docker.io's mirrors) is spoken to: its
 * registry_endpoints URL, else http(s)://domain ("https://registry-1.
 * docker.io" for docker.io). Returns the base URL; *host gets its
 * host[:port]. Both owned by the caller. */
char *reg_endpoint_base(struct reg_client *rc, const char *domain, char **host);

/* Bearer tokens, cached per host, scope and credentials. */
/* Cache key; caller frees. */
char *reg_token_key(
    const char *host, const char *scope, const struct reg_creds *c);
/* The cached token for key (borrowed) or NULL; expired ones go. */
const char *reg_token_cached(struct reg_client *rc, const char *key);
void reg_token_forget(struct reg_client *rc, const char *key);
/* The token request a bearer challenge asks for; scope may hold several
 * scopes separated by spaces. Returns a request for httpcli_send. */
struct httpcli_req *reg_token_request(const struct reg_challenge *ch,
    const struct reg_creds *c, const char *scope);
/* Reads a token service answer, caches the token under key and returns
 * the "Bearer ..." Authorization value (caller frees); NULL with e (401
 * refused, 502 unreachable or malformed; host named) otherwise. */
char *reg_token_take(struct reg_client *rc, const char *key,
    const struct httpcli_resp *resp, const char *host, struct err *e);
/* "Basic base64(user:pass)"; caller frees. */
char *reg_authz_basic(const struct reg_creds *c);
/* Unlinks t from its client's cache and frees it. */
void reg_token_free(struct reg_token *t);

/* Standard base64 of a string; caller frees. */
char *reg_base64_encode(const char *s);
/* Percent-encodes all but RFC 3986 unreserved characters; caller frees. */
char *reg_urlencode(const char *s);

/* reg_push_req.c: drops pending derives without calling back. */
void reg_derive_cancel_all(struct reg_client *rc);
/* reg_login.c: drops pending logins without calling back. */
void reg_login_cancel_all(struct reg_client *rc);

/* "sha256:<hex>" of p; caller frees. */
char *reg_digest_of(const void *p, size_t len);
/* 0 when digest names a supported algorithm with a well-formed hex part
 * (what go-digest accepts), else -1 with a 400 in e. */
int reg_digest_check(const char *digest, struct err *e);
/* 0 when the content hashes to digest (any supported algorithm). */
int reg_digest_verify(const char *digest, const void *p, size_t len);

/* "manifest unknown: manifest unknown" from a registry error body, in
 * Docker's wording; code gets the first error's code ("" if none). */
void reg_errors_text(const char *body, size_t len, char *code, size_t codesz,
    char *text, size_t textsz);
/* 1 when a fetched manifest document is an index (OCI index or Docker
 * list), 0 a single manifest, -1 neither; its media type (from the
 * document, else Content-Type) goes to mt. */
int reg_manifest_is_index(
    const struct httpcli_resp *resp, const cJSON *doc, char *mt, size_t mtsz);
/* The sum of a manifest's layer sizes (what docker images shows). */
int64_t reg_manifest_size(const cJSON *manifest);

#endif
