/* Derived images: a reproducible tar.gz layer built in memory (stored
 * deflate blocks, no zlib), and a push of "source image + that layer" to
 * another repository, mounting or copying the source blobs. */
#include <sys/queue.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "reg_int.h"
#include "sockerless/buf.h"
#include "sockerless/httpcli.h"
#include "sockerless/json.h"
#include "sockerless/lite.h"
#include "sockerless/log.h"
#include "sockerless/reg.h"
#include "sockerless/xmalloc.h"

#define REG_PUSH_PIECE ((size_t)8 << 20)
/* A source that ignores Range may send a blob this big in one answer. */
#define REG_PUSH_WHOLE_MAX    ((size_t)64 << 20)
#define REG_PUSH_MANIFEST_MAX ((size_t)4 << 20)
#define REG_PUSH_LAYER_DOCKER \
	"application/vnd.docker.image.rootfs.diff.tar.gzip"
#define REG_PUSH_LAYER_OCI "application/vnd.oci.image.layer.v1.tar+gzip"
#define REG_PUSH_ACCEPT                                                       \
	REG_MT_OCI_MANIFEST ", " REG_MT_DOCKER_MANIFEST ", " REG_MT_OCI_INDEX \
			    ", " REG_MT_DOCKER_LIST

/* --- layer: ustar --------------------------------------------------------- */

static int
reg_push_path_ok(const char *p)
{
	const char *s = p;

	if (p == NULL || p[0] == '\0' || p[0] == '/')
		return 0;
	while (*s != '\0') {
		size_t n = strcspn(s, "/");

		if (n == 0 || (n == 1 && s[0] == '.') ||
		    (n == 2 && s[0] == '.' && s[1] == '.'))
			return 0;
		s += n;
		if (*s == '/' && *++s == '\0')
			return 0;
	}
	return 1;
}

static int
reg_push_ustar_entry(struct buf *tar, const char *path, int is_dir,
    unsigned mode, const void *data, size_t len, struct err *e)
{
	unsigned char h[LITE_USTAR_BLOCK];
	char *name = xasprintf("%s%s", path, is_dir ? "/" : "");
	struct lite_ustar u = { .name = name,
		.uname = "root",
		.gname = "root",
		.type = is_dir ? '5' : '0',
		.mode = mode & 07777,
		.size = is_dir ? 0 : len };
	static const char zero[512];

	if (lite_ustar_split(name, LITE_USTAR_CUT_LAST, &u.prefix) == -1) {
		free(name);
		return err_set(e, 400, "layer path %s is too long", path);
	}
	lite_ustar_header(h, &u);
	free(name);
	(void)buf_add(tar, h, sizeof(h));
	if (!is_dir && len > 0) {
		(void)buf_add(tar, data, len);
		if (len % 512 != 0)
			(void)buf_add(tar, zero, 512 - len % 512);
	}
	return 0;
}

/* 1 when dir is listed (as a directory) in files or already written. */
static int
reg_push_dir_known(const struct reg_file *files, size_t n,
    const struct strv *done, const char *dir)
{
	for (size_t i = 0; i < n; i++)
		if (files[i].is_dir && strcmp(files[i].path, dir) == 0)
			return 1;
	return strv_contains(done, dir);
}

static int
reg_push_tar(
    const struct reg_file *files, size_t n, struct buf *tar, struct err *e)
{
	struct strv done;
	static const char zero[1024];
	int rv = -1;

	strv_init(&done);
	for (size_t i = 0; i < n; i++) {
		const struct reg_file *f = &files[i];

		if (!reg_push_path_ok(f->path)) {
			err_set(e, 400, "invalid layer path \"%s\"",
			    f->path != NULL ? f->path : "");
			goto out;
		}
		/* Parents first, unless listed (then they come in order). */
		for (const char *s = strchr(f->path, '/'); s != NULL;
		     s = strchr(s + 1, '/')) {
			char *dir = xstrndup(f->path, (size_t)(s - f->path));

			if (!reg_push_dir_known(files, n, &done, dir) &&
			    reg_push_ustar_entry(
				tar, dir, 1, 0755, NULL, 0, e) == -1) {
				free(dir);
				goto out;
			}
			strv_take(&done, dir);
		}
		if (f->is_dir && strv_contains(&done, f->path))
			continue;
		if (reg_push_ustar_entry(tar, f->path, f->is_dir, f->mode,
			f->data, f->len, e) == -1)
			goto out;
		if (f->is_dir)
			strv_add(&done, f->path);
	}
	(void)buf_add(tar, zero, sizeof(zero));
	rv = 0;
out:
	strv_free(&done);
	return rv;
}

/* --- layer: gzip with stored blocks --------------------------------------- */

static uint32_t
reg_push_crc32(const unsigned char *p, size_t len)
{
	static uint32_t table[256];
	static int ready;
	uint32_t c = 0xffffffffU;

	if (!ready) {
		for (uint32_t i = 0; i < 256; i++) {
			uint32_t v = i;

			for (int k = 0; k < 8; k++)
				v = (v & 1) ? 0xedb88320U ^ (v >> 1) : v >> 1;
			table[i] = v;
		}
		ready = 1;
	}
	for (size_t i = 0; i < len; i++)
		c = table[(c ^ p[i]) & 0xff] ^ (c >> 8);
	return c ^ 0xffffffffU;
}

static void
reg_push_le32(unsigned char *o, uint32_t v)
{
	o[0] = (unsigned char)v;
	o[1] = (unsigned char)(v >> 8);
	o[2] = (unsigned char)(v >> 16);
	o[3] = (unsigned char)(v >> 24);
}

/* RFC 1952 member, mtime 0 and OS 255, holding RFC 1951 stored blocks. */
static unsigned char *
reg_push_gzip(const unsigned char *p, size_t len, size_t *outlen)
{
	static const unsigned char hdr[10] = { 0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0,
		0xff };
	size_t blocks = len / 65535 + 1, o = 0;
	unsigned char *out = xmalloc(sizeof(hdr) + len + 5 * blocks + 8);
	size_t off = 0;

	memcpy(out, hdr, sizeof(hdr));
	o = sizeof(hdr);
	do {
		size_t n = len - off > 65535 ? 65535 : len - off;

		out[o++] = off + n == len ? 1 : 0; /* BFINAL, BTYPE 00 */
		out[o++] = (unsigned char)n;
		out[o++] = (unsigned char)(n >> 8);
		out[o++] = (unsigned char)~n;
		out[o++] = (unsigned char)(~n >> 8);
		memcpy(out + o, p + off, n);
		o += n;
		off += n;
	} while (off < len);
	reg_push_le32(out + o, reg_push_crc32(p, len));
	reg_push_le32(out + o + 4, (uint32_t)len);
	*outlen = o + 8;
	return out;
}

int
reg_layer_build(const struct reg_file *files, size_t n, struct reg_layer *out,
    struct err *e)
{
	struct buf tar;
	size_t tlen;
	char *t;

	memset(out, 0, sizeof(*out));
	buf_init(&tar, 0);
	if (reg_push_tar(files, n, &tar, e) == -1) {
		buf_free(&tar);
		return -1;
	}
	t = buf_take(&tar, &tlen);
	out->diff_id = reg_digest_of(t, tlen);
	out->data = reg_push_gzip((unsigned char *)t, tlen, &out->len);
	out->digest = reg_digest_of(out->data, out->len);
	free(t);
	return 0;
}

void
reg_layer_free(struct reg_layer *l)
{
	if (l == NULL)
		return;
	free(l->data);
	free(l->digest);
	free(l->diff_id);
	memset(l, 0, sizeof(*l));
}

/* --- derive: state -------------------------------------------------------- */

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
	int own; /* 1 layer, 2 config: monolithic upload */
};

static void reg_push_blob_next(struct reg_derive *d);
static void reg_push_send(struct reg_derive *d);

static void
reg_push_side_free(struct reg_push_side *s)
{
	reg_ref_free(&s->ref);
	free(s->base);
	free(s->host);
	free(s->cred_host);
	free(s->scope);
	reg_creds_free(&s->creds);
	free(s->authz);
	free(s->token_key);
	memset(s, 0, sizeof(*s));
}

static void
reg_push_free(struct reg_derive *d)
{
	if (d->ev != NULL)
		event_free(d->ev);
	reg_push_side_free(&d->src);
	reg_push_side_free(&d->dst);
	free(d->src_s);
	free(d->src_auth);
	reg_creds_free(&d->hdr);
	reg_layer_free(&d->layer);
	free(d->history);
	strv_free(&d->ep);
	strv_free(&d->cmd);
	free(d->method);
	free(d->url);
	free(d->ctype);
	free(d->range);
	cJSON_Delete(d->manifest);
	free(d->manifest_type);
	cJSON_Delete(d->config);
	free(d->config_bytes);
	free(d->config_digest);
	free(d->manifest_bytes);
	free(d->manifest_digest);
	free(d->upload);
	free(d->piece);
	free(d);
}

void
reg_derive_cancel_all(struct reg_client *rc)
{
	struct reg_derive *d;

	while ((d = LIST_FIRST(&rc->derives)) != NULL) {
		LIST_REMOVE(d, entry);
		d->rc = NULL;
		if (d->http_id != 0)
			httpcli_cancel(rc->http, d->http_id);
		d->http_id = 0;
		if (d->waiting_hook)
			d->detached = 1; /* freed when the hook answers */
		else
			reg_push_free(d);
	}
}

/* Calls back once and frees d. */
static void
reg_push_finish(struct reg_derive *d, const char *digest, const struct err *e)
{
	char *ref = NULL;

	if (d->rc != NULL)
		LIST_REMOVE(d, entry);
	if (e != NULL)
		log_debug("%s: %s/%s: %d %s", __func__, d->dst.ref.domain,
		    d->dst.ref.path, e->status, e->msg);
	else
		ref = xasprintf(
		    "%s/%s@%s", d->dst.ref.domain, d->dst.ref.path, digest);
	d->cb(d->arg, ref, e);
	free(ref);
	reg_push_free(d);
}

static void
reg_push_fail(struct reg_derive *d, const struct err *e)
{
	reg_push_finish(d, NULL, e);
}

/* --- derive: errors ------------------------------------------------------- */

static void
reg_push_denied(struct reg_derive *d, struct reg_push_side *s, const char *why)
{
	struct err e;

	if (s->is_dst)
		err_set(&e, 500,
		    "pushing to %s/%s denied: %s; check the registry "
		    "credentials (push permission)",
		    s->ref.domain, s->ref.path, why);
	else
		err_set(&e, 500,
		    "reading %s/%s denied: %s; check the registry "
		    "credentials",
		    s->ref.domain, s->ref.path, why);
	reg_push_fail(d, &e);
}

/* Any answer the step did not expect; what says what was asked for. */
static void
reg_push_http_error(
    struct reg_derive *d, const struct httpcli_resp *resp, const char *what)
{
	struct reg_push_side *s = d->side;
	char code[64], text[512];
	struct err e;

	reg_errors_text(
	    resp->body, resp->body_len, code, sizeof(code), text, sizeof(text));
	if (resp->status == 401 || resp->status == 403 ||
	    strcmp(code, "DENIED") == 0) {
		reg_push_denied(d, s,
		    text[0] != '\0' ? text :
				      "requested access to the resource is "
				      "denied");
		return;
	}
	if (resp->status == 0)
		err_set(&e, 502, "registry %s is unreachable: %s", s->host,
		    resp->error);
	else
		err_set(&e, 502, "registry %s answered HTTP %d to %s %s/%s%s%s",
		    s->host, resp->status, what, s->ref.domain, s->ref.path,
		    text[0] != '\0' ? ": " : "", text);
	reg_push_fail(d, &e);
}

/* --- derive: requests and auth -------------------------------------------- */

/* Relative Locations are allowed (OCI distribution spec). */
static char *
reg_push_abs(const struct reg_push_side *s, const char *loc)
{
	const char *h;

	if (str_prefix(loc, "http://") || str_prefix(loc, "https://"))
		return xstrdup(loc);
	h = strstr(s->base, "://") + 3;
	return xasprintf(
	    "%.*s%s", (int)(h - s->base + strcspn(h, "/")), s->base, loc);
}

/* Sets up the next request; reg_push_send sends it (again after 401). */
static void
reg_push_call(struct reg_derive *d, struct reg_push_side *s, const char *method,
    char *url, reg_push_next next)
{
	free(d->method);
	free(d->url);
	free(d->ctype);
	free(d->range);
	d->side = s;
	d->method = xstrdup(method);
	d->url = url;
	d->ctype = d->range = NULL;
	d->body = NULL;
	d->body_len = 0;
	d->max_resp = 1 << 20;
	d->accept_manifest = 0;
	d->next = next;
	s->auth_tries = 0;
}

static void reg_push_got(struct httpcli_resp *resp, void *arg);

static void
reg_push_send(struct reg_derive *d)
{
	struct httpcli_req *r = httpcli_req_new(d->method, d->url);
	struct reg_push_side *s = d->side;

	if (d->body != NULL)
		httpcli_req_body(r, d->body, d->body_len);
	if (d->ctype != NULL)
		httpcli_req_header(r, "Content-Type", d->ctype);
	if (d->range != NULL)
		httpcli_req_header(r,
		    strcmp(d->method, "GET") == 0 ? "Range" : "Content-Range",
		    d->range);
	if (d->accept_manifest)
		httpcli_req_header(r, "Accept", REG_PUSH_ACCEPT);
	if (s->authz != NULL)
		httpcli_req_header(r, "Authorization", s->authz);
	httpcli_req_header(r, "User-Agent", "sockerless");
	httpcli_req_max_response(r, d->max_resp);
	/* A repeated PATCH would append the piece twice. */
	if (strcmp(d->method, "PATCH") == 0)
		httpcli_req_attempts(r, 1);
	if (d->range != NULL || d->body_len > (1 << 20))
		httpcli_req_timeouts(r, 300000, 600000);
	d->http_id = httpcli_send(d->rc->http, r, reg_push_got, d);
}

static void
reg_push_token_got(struct httpcli_resp *resp, void *arg)
{
	struct reg_derive *d = arg;
	struct reg_push_side *s = d->side;
	char *authz;
	struct err e;

	d->http_id = 0;
	authz = reg_token_take(d->rc, s->token_key, resp, s->host, &e);
	if (authz == NULL) {
		if (e.status == 401)
			reg_push_denied(d, s, e.msg);
		else
			reg_push_fail(d, &e);
		return;
	}
	free(s->authz);
	s->authz = authz;
	reg_push_send(d);
}

static void
reg_push_unauthorized(struct reg_derive *d, struct httpcli_resp *resp)
{
	struct reg_push_side *s = d->side;
	struct reg_challenge ch;
	struct err e;

	if (reg_challenge_parse(
		httpcli_resp_header(resp, "WWW-Authenticate"), &ch) == -1) {
		reg_push_http_error(d, resp, d->method);
		return;
	}
	/* A cached token may have been revoked: one more fresh round. */
	if (s->auth_tries >= (s->from_cache ? 2 : 1)) {
		reg_challenge_free(&ch);
		reg_push_http_error(d, resp, d->method);
		return;
	}
	s->auth_tries++;
	if (strcmp(ch.scheme, "bearer") == 0 && s->creds.registrytoken) {
		free(s->authz);
		s->authz = xasprintf("Bearer %s", s->creds.registrytoken);
		reg_push_send(d);
	} else if (strcmp(ch.scheme, "bearer") == 0 && ch.realm != NULL &&
	    (str_prefix(ch.realm, "https://") ||
		str_prefix(ch.realm, "http://"))) {
		if (s->from_cache) {
			reg_token_forget(d->rc, s->token_key);
			s->from_cache = 0;
		}
		d->http_id = httpcli_send(d->rc->http,
		    reg_token_request(&ch, &s->creds, s->scope),
		    reg_push_token_got, d);
	} else if (strcmp(ch.scheme, "basic") == 0 && s->creds.user != NULL &&
	    s->creds.user[0] != '\0') {
		free(s->authz);
		s->authz = reg_authz_basic(&s->creds);
		reg_push_send(d);
	} else if (strcmp(ch.scheme, "basic") == 0)
		reg_push_denied(d, s, "no basic auth credentials");
	else {
		err_set(&e, 401,
		    "unauthorized: registry %s asks for an unsupported "
		    "authentication scheme \"%s\"",
		    s->host, ch.scheme);
		reg_push_fail(d, &e);
	}
	reg_challenge_free(&ch);
}

static void
reg_push_got(struct httpcli_resp *resp, void *arg)
{
	struct reg_derive *d = arg;

	d->http_id = 0;
	if (resp->status == 401) {
		reg_push_unauthorized(d, resp);
		return;
	}
	d->next(d, resp);
}

/* --- derive: credentials -------------------------------------------------- */

static void
reg_push_creds_ready(struct reg_derive *d, struct reg_push_side *s)
{
	const char *t;

	free(s->token_key);
	s->token_key = reg_token_key(s->host, s->scope, &s->creds);
	free(s->authz);
	s->authz = NULL;
	s->from_cache = 0;
	if ((t = reg_token_cached(d->rc, s->token_key)) != NULL) {
		s->authz = xasprintf("Bearer %s", t);
		s->from_cache = 1;
	}
	d->hook_next(d);
}

static void
reg_push_creds_done(
    void *arg, const char *user, const char *secret, const struct err *e)
{
	struct reg_derive *d = arg;
	struct reg_push_side *s = d->hook_side;

	d->waiting_hook = 0;
	if (d->detached) {
		reg_push_free(d);
		return;
	}
	if (e != NULL) {
		d->hook_err = *e;
		d->hook_failed = 1;
		err_wrap(
		    &d->hook_err, "registry credentials for %s", s->cred_host);
		if (!d->in_hook)
			reg_push_fail(d, &d->hook_err);
		return;
	}
	reg_creds_free(&s->creds);
	s->creds.user = xstrdup(user);
	s->creds.pass = xstrdup(secret);
	if (!d->in_hook)
		reg_push_creds_ready(d, s);
}

/* As for pulls: X-Registry-Auth (src only), then the hook, then the auth
 * file; then next(d). */
static void
reg_push_creds(struct reg_derive *d, struct reg_push_side *s,
    void (*next)(struct reg_derive *))
{
	struct reg_client *rc = d->rc;

	reg_creds_free(&s->creds);
	d->hook_next = next;
	if (!s->is_dst && reg_creds_any(&d->hdr)) {
		reg_creds_copy(&s->creds, &d->hdr);
		reg_push_creds_ready(d, s);
		return;
	}
	if (rc->hook != NULL) {
		int r;

		d->hook_side = s;
		d->waiting_hook = 1;
		d->hook_failed = 0;
		d->in_hook = 1;
		r = rc->hook(
		    rc->hook_arg, s->cred_host, reg_push_creds_done, d);
		d->in_hook = 0;
		if (r == 0) {
			if (d->waiting_hook)
				return;
			if (d->hook_failed)
				reg_push_fail(d, &d->hook_err);
			else
				reg_push_creds_ready(d, s);
			return;
		}
		d->waiting_hook = 0;
	}
	if (!reg_auth_file_lookup(rc->auth_file, s->cred_host, &s->creds) &&
	    s->is_dst && strcmp(d->src.ref.domain, s->ref.domain) == 0 &&
	    reg_creds_any(&d->hdr))
		reg_creds_copy(&s->creds, &d->hdr); /* same registry */
	reg_push_creds_ready(d, s);
}

/* --- derive: the new config and manifest ---------------------------------- */

static void
reg_push_set_strv(cJSON *cfg, const char *key, const struct strv *v)
{
	json_set(
	    cfg, key, v->n > 0 ? json_strv_to_array(v) : cJSON_CreateNull());
}

static int
reg_push_build_config(struct reg_derive *d, struct err *e)
{
	cJSON *c = d->config, *rootfs, *ids, *hist, *cc, *h;
	char now[64];

	if ((rootfs = json_obj(c, "rootfs")) == NULL ||
	    (ids = json_arr(rootfs, "diff_ids")) == NULL)
		return err_set(e, 502,
		    "the image config of %s has no rootfs.diff_ids", d->src_s);
	cJSON_AddItemToArray(ids, cJSON_CreateString(d->layer.diff_id));
	/* Without a history, adding one entry would not match the layers. */
	if ((hist = json_arr(c, "history")) != NULL) {
		str_time_rfc3339(now, sizeof(now), str_now_ns());
		h = cJSON_CreateObject();
		json_add_str(h, "created", now);
		json_add_str(h, "created_by",
		    d->history != NULL ? d->history :
					 "sockerless: add a layer");
		cJSON_AddItemToArray(hist, h);
	}
	if (d->has_ep || d->has_cmd) {
		if ((cc = json_obj(c, "config")) == NULL) {
			cc = cJSON_CreateObject();
			json_set(c, "config", cc);
		}
		if (d->has_ep)
			reg_push_set_strv(cc, "Entrypoint", &d->ep);
		if (d->has_cmd)
			reg_push_set_strv(cc, "Cmd", &d->cmd);
	}
	d->config_bytes = json_print(c);
	d->config_digest =
	    reg_digest_of(d->config_bytes, strlen(d->config_bytes));
	return 0;
}

static void
reg_push_build_manifest(struct reg_derive *d)
{
	cJSON *m = cJSON_Duplicate(d->manifest, 1), *cfg, *layers, *l;
	int docker = strcmp(d->manifest_type, REG_MT_DOCKER_MANIFEST) == 0;

	cfg = json_obj(m, "config");
	json_set(cfg, "digest", cJSON_CreateString(d->config_digest));
	json_set(
	    cfg, "size", cJSON_CreateNumber((double)strlen(d->config_bytes)));
	if ((layers = json_arr(m, "layers")) == NULL) {
		layers = cJSON_CreateArray();
		json_set(m, "layers", layers);
	}
	l = cJSON_CreateObject();
	json_add_str(l, "mediaType",
	    docker ? REG_PUSH_LAYER_DOCKER : REG_PUSH_LAYER_OCI);
	json_add_int(l, "size", (int64_t)d->layer.len);
	json_add_str(l, "digest", d->layer.digest);
	cJSON_AddItemToArray(layers, l);
	d->manifest_bytes = json_print(m);
	d->manifest_digest =
	    reg_digest_of(d->manifest_bytes, strlen(d->manifest_bytes));
	cJSON_Delete(m);
}

/* --- derive: the manifest ------------------------------------------------- */

static void
reg_push_manifest_put(struct reg_derive *d, struct httpcli_resp *resp)
{
	const char *hd = httpcli_resp_header(resp, "Docker-Content-Digest");
	struct err e;

	if (resp->status != 201 && resp->status != 200) {
		reg_push_http_error(d, resp, "the manifest push to");
		return;
	}
	if (hd != NULL && strcmp(hd, d->manifest_digest) != 0) {
		err_set(&e, 502,
		    "registry %s stored the manifest of %s/%s as %s, not %s",
		    d->dst.host, d->dst.ref.domain, d->dst.ref.path, hd,
		    d->manifest_digest);
		reg_push_fail(d, &e);
		return;
	}
	reg_push_finish(d, d->manifest_digest, NULL);
}

static void
reg_push_manifest(struct reg_derive *d)
{
	reg_push_call(d, &d->dst, "PUT",
	    xasprintf("%s/v2/%s/manifests/%s", d->dst.base, d->dst.ref.path,
		d->dst.ref.tag),
	    reg_push_manifest_put);
	d->body = d->manifest_bytes;
	d->body_len = strlen(d->manifest_bytes);
	d->ctype = xstrdup(d->manifest_type);
	reg_push_send(d);
}

/* --- derive: blobs -------------------------------------------------------- */

static void
reg_push_blob_done(struct reg_derive *d)
{
	free(d->upload);
	d->upload = NULL;
	free(d->piece);
	d->piece = NULL;
	d->li++;
	reg_push_blob_next(d);
}

/* "<upload>?digest=" or "&digest=" when the Location has a query. */
static char *
reg_push_upload_url(struct reg_derive *d, const char *digest)
{
	return xasprintf("%s%cdigest=%s", d->upload,
	    strchr(d->upload, '?') != NULL ? '&' : '?', digest);
}

static void
reg_push_blob_put(struct reg_derive *d, struct httpcli_resp *resp)
{
	const char *hd = httpcli_resp_header(resp, "Docker-Content-Digest");
	struct err e;

	if (resp->status != 201) {
		reg_push_http_error(d, resp, "the blob upload to");
		return;
	}
	if (hd != NULL && strcmp(hd, d->blob) != 0) {
		err_set(&e, 502, "registry %s stored blob %s as %s",
		    d->dst.host, d->blob, hd);
		reg_push_fail(d, &e);
		return;
	}
	reg_push_blob_done(d);
}

/* Takes the Location of a 202 as the upload URL; -1 when none. */
static int
reg_push_take_location(struct reg_derive *d, struct httpcli_resp *resp)
{
	const char *loc = httpcli_resp_header(resp, "Location");
	struct err e;

	if (resp->status != 202) {
		reg_push_http_error(d, resp, "a blob upload to");
		return -1;
	}
	if (loc == NULL || loc[0] == '\0') {
		err_set(&e, 502,
		    "registry %s started an upload without a Location",
		    d->dst.host);
		reg_push_fail(d, &e);
		return -1;
	}
	free(d->upload);
	d->upload = reg_push_abs(&d->dst, loc);
	return 0;
}

static void reg_push_piece_get(struct reg_derive *d);

static void
reg_push_piece_patched(struct reg_derive *d, struct httpcli_resp *resp)
{
	if (reg_push_take_location(d, resp) == -1)
		return;
	d->off += (int64_t)d->piece_len;
	free(d->piece);
	d->piece = NULL;
	if (d->off < d->blob_size) {
		reg_push_piece_get(d);
		return;
	}
	reg_push_call(d, &d->dst, "PUT", reg_push_upload_url(d, d->blob),
	    reg_push_blob_put);
	reg_push_send(d);
}

static void
reg_push_piece_got(struct reg_derive *d, struct httpcli_resp *resp)
{
	struct err e;

	if (resp->status == 0 && d->off == 0 &&
	    strstr(resp->error, "larger than") != NULL) {
		err_set(&e, 502,
		    "registry %s ignores Range requests and blob %s "
		    "(%lld bytes) is too large to copy in one piece",
		    d->src.host, d->blob, (long long)d->blob_size);
		reg_push_fail(d, &e);
		return;
	}
	if ((resp->status != 206 && resp->status != 200) ||
	    (resp->status == 200 && d->off != 0) || resp->body_len == 0 ||
	    (resp->status == 200 && (int64_t)resp->body_len != d->blob_size)) {
		if (resp->status == 200 || resp->status == 206)
			err_set(&e, 502,
			    "registry %s sent a malformed piece of blob %s",
			    d->src.host, d->blob);
		else {
			reg_push_http_error(d, resp, "the blob download from");
			return;
		}
		reg_push_fail(d, &e);
		return;
	}
	if (d->off + (int64_t)resp->body_len > d->blob_size) {
		err_set(&e, 502,
		    "registry %s sent more of blob %s than its size",
		    d->src.host, d->blob);
		reg_push_fail(d, &e);
		return;
	}
	d->piece = xmalloc(resp->body_len);
	memcpy(d->piece, resp->body, resp->body_len);
	d->piece_len = resp->body_len;
	reg_push_call(
	    d, &d->dst, "PATCH", xstrdup(d->upload), reg_push_piece_patched);
	d->body = d->piece;
	d->body_len = d->piece_len;
	d->ctype = xstrdup("application/octet-stream");
	d->range = xasprintf("%lld-%lld", (long long)d->off,
	    (long long)(d->off + (int64_t)d->piece_len - 1));
	reg_push_send(d);
}

static void
reg_push_piece_get(struct reg_derive *d)
{
	int64_t end = d->off + (int64_t)REG_PUSH_PIECE - 1;

	if (end >= d->blob_size)
		end = d->blob_size - 1;
	reg_push_call(d, &d->src, "GET",
	    xasprintf(
		"%s/v2/%s/blobs/%s", d->src.base, d->src.ref.path, d->blob),
	    reg_push_piece_got);
	d->range =
	    xasprintf("bytes=%lld-%lld", (long long)d->off, (long long)end);
	d->max_resp = (size_t)d->blob_size <= REG_PUSH_WHOLE_MAX ?
	    REG_PUSH_WHOLE_MAX :
	    REG_PUSH_PIECE;
	reg_push_send(d);
}

/* Copy into the upload at d->upload. */
static void
reg_push_copy_begin(struct reg_derive *d)
{
	d->off = 0;
	if (d->blob_size == 0) {
		reg_push_call(d, &d->dst, "PUT",
		    reg_push_upload_url(d, d->blob), reg_push_blob_put);
		reg_push_send(d);
		return;
	}
	reg_push_piece_get(d);
}

static void
reg_push_upload_started(struct reg_derive *d, struct httpcli_resp *resp)
{
	if (reg_push_take_location(d, resp) == -1)
		return;
	if (d->own == 0) {
		reg_push_copy_begin(d);
		return;
	}
	reg_push_call(d, &d->dst, "PUT", reg_push_upload_url(d, d->blob),
	    reg_push_blob_put);
	if (d->own == 1) {
		d->body = d->layer.data;
		d->body_len = d->layer.len;
	} else {
		d->body = d->config_bytes;
		d->body_len = strlen(d->config_bytes);
	}
	d->ctype = xstrdup("application/octet-stream");
	reg_push_send(d);
}

static void
reg_push_upload_start(struct reg_derive *d)
{
	reg_push_call(d, &d->dst, "POST",
	    xasprintf("%s/v2/%s/blobs/uploads/", d->dst.base, d->dst.ref.path),
	    reg_push_upload_started);
	reg_push_send(d);
}

static void
reg_push_mounted(struct reg_derive *d, struct httpcli_resp *resp)
{
	if (resp->status == 201) {
		reg_push_blob_done(d);
		return;
	}
	/* 202: the registry would not mount; upload into what it opened. */
	if (reg_push_take_location(d, resp) == -1)
		return;
	reg_push_copy_begin(d);
}

static void
reg_push_blob_head(struct reg_derive *d, struct httpcli_resp *resp)
{
	if (resp->status == 200) {
		reg_push_blob_done(d);
		return;
	}
	if (resp->status != 404) {
		reg_push_http_error(d, resp, "a blob check at");
		return;
	}
	if (d->own == 0 && d->mount) {
		reg_push_call(d, &d->dst, "POST",
		    xasprintf("%s/v2/%s/blobs/uploads/?mount=%s&from=%s",
			d->dst.base, d->dst.ref.path, d->blob, d->src.ref.path),
		    reg_push_mounted);
		reg_push_send(d);
		return;
	}
	reg_push_upload_start(d);
}

/* Source layers, then the new layer, then the config, then the manifest. */
static void
reg_push_blob_next(struct reg_derive *d)
{
	const cJSON *l = NULL;
	const char *mt;

	d->own = 0;
	if (d->li < d->nlayers) {
		l = cJSON_GetArrayItem(json_arr(d->manifest, "layers"), d->li);
		mt = json_str(l, "mediaType");
		/* Foreign layers stay where their URLs say. */
		if (mt != NULL &&
		    (strstr(mt, "foreign") != NULL ||
			strstr(mt, "nondistributable") != NULL)) {
			d->li++;
			reg_push_blob_next(d);
			return;
		}
		d->blob = json_str(l, "digest");
		d->blob_size = json_int(l, "size", 0);
	} else if (d->li == d->nlayers) {
		d->own = 1;
		d->blob = d->layer.digest;
		d->blob_size = (int64_t)d->layer.len;
	} else if (d->li == d->nlayers + 1) {
		d->own = 2;
		d->blob = d->config_digest;
		d->blob_size = (int64_t)strlen(d->config_bytes);
	} else {
		reg_push_manifest(d);
		return;
	}
	reg_push_call(d, &d->dst, "HEAD",
	    xasprintf(
		"%s/v2/%s/blobs/%s", d->dst.base, d->dst.ref.path, d->blob),
	    reg_push_blob_head);
	reg_push_send(d);
}

/* --- derive: source ------------------------------------------------------- */

static int
reg_push_check_layers(struct reg_derive *d, struct err *e)
{
	const cJSON *l;

	cJSON_ArrayForEach(l, json_arr(d->manifest, "layers")) {
		const char *dg = json_str(l, "digest");

		if (dg == NULL || reg_digest_check(dg, NULL) == -1 ||
		    json_int(l, "size", -1) < 0)
			return err_set(e, 502,
			    "the manifest of %s has a malformed layer",
			    d->src_s);
	}
	d->nlayers = cJSON_GetArraySize(json_arr(d->manifest, "layers"));
	return 0;
}

static void
reg_push_resolved(void *arg, const struct reg_image *img, const struct err *e)
{
	struct reg_derive *d = arg;
	struct reg_push_side *s = &d->src;
	struct err e2;
	const char *h;

	if (e != NULL) {
		reg_push_fail(d, e);
		return;
	}
	d->manifest = cJSON_Duplicate(img->manifest, 1);
	d->manifest_type = xstrdup(img->manifest_type);
	d->config = cJSON_Duplicate(img->config, 1);
	s->base = xstrdup(img->source);
	h = strstr(s->base, "://") + 3;
	s->host = xstrndup(h, strcspn(h, "/"));
	s->cred_host = xstrdup(img->source_creds);
	d->mount = strcmp(s->base, d->dst.base) == 0;
	if (reg_push_check_layers(d, &e2) == -1 ||
	    reg_push_build_config(d, &e2) == -1) {
		reg_push_fail(d, &e2);
		return;
	}
	reg_push_build_manifest(d);
	reg_push_creds(d, s, reg_push_blob_next);
}

static void
reg_push_resolve(struct reg_derive *d)
{
	struct err e;

	if (reg_resolve(
		d->rc, d->src_s, d->src_auth, reg_push_resolved, d, &e) == -1)
		reg_push_fail(d, &e);
}

/* --- derive: the existing tag --------------------------------------------- */

static void
reg_push_dst_got(struct reg_derive *d, struct httpcli_resp *resp)
{
	char *dg;

	if (resp->status != 200) {
		reg_push_http_error(d, resp, "reading the manifest of");
		return;
	}
	dg = reg_digest_of(resp->body, resp->body_len);
	reg_push_finish(d, dg, NULL);
	free(dg);
}

static void
reg_push_dst_head(struct reg_derive *d, struct httpcli_resp *resp)
{
	const char *hd = httpcli_resp_header(resp, "Docker-Content-Digest");

	if (resp->status == 404) {
		reg_push_resolve(d);
		return;
	}
	if (resp->status != 200) {
		reg_push_http_error(d, resp, "a manifest check at");
		return;
	}
	if (hd != NULL && reg_digest_check(hd, NULL) == 0) {
		reg_push_finish(d, hd, NULL);
		return;
	}
	/* No digest in the answer: hash the manifest itself. */
	reg_push_call(d, &d->dst, "GET",
	    xasprintf("%s/v2/%s/manifests/%s", d->dst.base, d->dst.ref.path,
		d->dst.ref.tag),
	    reg_push_dst_got);
	d->accept_manifest = 1;
	d->max_resp = REG_PUSH_MANIFEST_MAX;
	reg_push_send(d);
}

static void
reg_push_dst_check(struct reg_derive *d)
{
	reg_push_call(d, &d->dst, "HEAD",
	    xasprintf("%s/v2/%s/manifests/%s", d->dst.base, d->dst.ref.path,
		d->dst.ref.tag),
	    reg_push_dst_head);
	d->accept_manifest = 1;
	reg_push_send(d);
}

static void
reg_push_start(evutil_socket_t fd, short what, void *arg)
{
	struct reg_derive *d = arg;

	(void)fd;
	(void)what;
	reg_push_creds(d, &d->dst, reg_push_dst_check);
}

int
reg_derive(struct reg_client *rc, const char *src, const char *src_auth,
    const char *dst, const struct reg_layer *layer,
    const struct reg_derive_opts *o,
    void (*cb)(void *arg, const char *dst_ref, const struct err *e), void *arg,
    struct err *e)
{
	struct reg_derive *d = xcalloc(1, sizeof(*d));
	struct reg_ref sr;

	strv_init(&d->ep);
	strv_init(&d->cmd);
	if (reg_ref_parse(src, &sr, e) == -1)
		goto fail;
	if (reg_ref_parse(dst, &d->dst.ref, e) == -1) {
		reg_ref_free(&sr);
		goto fail;
	}
	if (d->dst.ref.digest != NULL || d->dst.ref.tag == NULL) {
		reg_ref_free(&sr);
		err_set(e, 400,
		    "the derived image %s needs a tag, not a digest", dst);
		goto fail;
	}
	d->src.ref = sr;
	d->rc = rc;
	d->cb = cb;
	d->arg = arg;
	d->src_s = xstrdup(src);
	d->src_auth = xstrdup(src_auth);
	if (reg_auth_decode(src_auth, &d->hdr) == -1)
		log_debug("%s: ignoring a malformed X-Registry-Auth header",
		    __func__);
	d->layer.data = xmalloc(layer->len > 0 ? layer->len : 1);
	memcpy(d->layer.data, layer->data, layer->len);
	d->layer.len = layer->len;
	d->layer.digest = xstrdup(layer->digest);
	d->layer.diff_id = xstrdup(layer->diff_id);
	if (o != NULL) {
		d->history = xstrdup(o->history);
		for (size_t i = 0;
		     o->entrypoint != NULL && i < o->entrypoint->n; i++)
			strv_add(&d->ep, o->entrypoint->v[i]);
		for (size_t i = 0; o->cmd != NULL && i < o->cmd->n; i++)
			strv_add(&d->cmd, o->cmd->v[i]);
		d->has_ep = o->entrypoint != NULL;
		d->has_cmd = o->cmd != NULL;
	}
	d->dst.is_dst = 1;
	d->dst.base = reg_endpoint_base(rc, d->dst.ref.domain, &d->dst.host);
	d->dst.cred_host = xstrdup(d->dst.ref.domain);
	/* One token for the push and for mounting from the source. */
	if (strcmp(d->src.ref.domain, d->dst.ref.domain) == 0 &&
	    strcmp(d->src.ref.path, d->dst.ref.path) != 0)
		d->dst.scope = xasprintf("repository:%s:pull,push "
					 "repository:%s:pull",
		    d->dst.ref.path, d->src.ref.path);
	else
		d->dst.scope =
		    xasprintf("repository:%s:pull,push", d->dst.ref.path);
	d->src.scope = xasprintf("repository:%s:pull", d->src.ref.path);
	LIST_INSERT_HEAD(&rc->derives, d, entry);
	/* The callback always runs from the loop, never inside this call. */
	d->ev = evtimer_new(rc->base, reg_push_start, d);
	event_active(d->ev, EV_TIMEOUT, 0);
	return 0;
fail:
	reg_push_free(d);
	return -1;
}
