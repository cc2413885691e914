/* Registry v2 client, top layer: the client's lifetime and the resolve
 * (pull) of a manifest (and index) and config with token auth, mirrors and
 * insecure registries, driven by the asynchronous HTTP client. Calls down
 * into reg_ref.c, reg_auth.c and reg_host.c through reg_int.h; the
 * client's free also drops the derives (reg_push_req.c). */
#include <sys/queue.h>

#include <arpa/inet.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "reg_int.h"
#include "reg_pull_int.h"
#include "sockerless/buf.h"
#include "sockerless/httpcli.h"
#include "sockerless/json.h"
#include "sockerless/lite.h"
#include "sockerless/log.h"
#include "sockerless/reg.h"
#include "sockerless/xmalloc.h"

#define REG_MANIFEST_MAX ((size_t)4 << 20)
#define REG_CONFIG_MAX	 ((size_t)16 << 20)

static void reg_pull_ep_begin(struct reg_pull *p);
static void reg_pull_got(struct httpcli_resp *resp, void *arg);

/* --- client ------------------------------------------------------------ */

struct reg_client *
reg_client_new(struct event_base *base, struct httpcli *http,
    const struct reg_config *c, struct err *e)
{
	struct reg_client *rc = xcalloc(1, sizeof(*rc));

	rc->base = base;
	rc->http = http;
	strv_init(&rc->mirrors);
	strv_init(&rc->insecure);
	strv_init(&rc->endpoints);
	LIST_INIT(&rc->tokens);
	LIST_INIT(&rc->pulls);
	LIST_INIT(&rc->derives);
	LIST_INIT(&rc->known);
	LIST_INIT(&rc->logins);
	if (reg_platform_parse(c->platform, &rc->platform, e) == -1)
		goto fail;
	for (size_t i = 0; c->mirrors != NULL && i < c->mirrors->n; i++) {
		const char *m = c->mirrors->v[i];
		char *s;
		size_t n;

		if (!str_prefix(m, "http://") && !str_prefix(m, "https://")) {
			err_set(e, 400,
			    "invalid registry mirror \"%s\": it "
			    "must start with http:// or https://",
			    m);
			goto fail;
		}
		s = xstrdup(m);
		n = strlen(s);
		while (n > 0 && s[n - 1] == '/')
			s[--n] = '\0';
		strv_take(&rc->mirrors, s);
	}
	for (size_t i = 0; c->insecure != NULL && i < c->insecure->n; i++)
		strv_add(&rc->insecure, c->insecure->v[i]);
	for (size_t i = 0; c->endpoints != NULL && i < c->endpoints->n; i++) {
		const char *m = c->endpoints->v[i], *eq = strchr(m, '=');
		char *s;
		size_t n;

		if (eq == NULL || eq == m ||
		    (!str_prefix(eq + 1, "http://") &&
			!str_prefix(eq + 1, "https://"))) {
			err_set(e, 400,
			    "invalid registry endpoint \"%s\": it must be "
			    "host=URL with an http:// or https:// URL",
			    m);
			goto fail;
		}
		s = xstrdup(m);
		n = strlen(s);
		while (n > 0 && s[n - 1] == '/')
			s[--n] = '\0';
		strv_take(&rc->endpoints, s);
	}
	rc->auth_file = xstrdup(c->auth_file);
	return rc;
fail:
	reg_client_free(rc);
	return NULL;
}

void
reg_set_creds_hook(struct reg_client *rc, reg_creds_hook h, void *arg)
{
	rc->hook = h;
	rc->hook_arg = arg;
}

static void reg_pull_free(struct reg_pull *p);

void
reg_client_free(struct reg_client *rc)
{
	struct reg_token *t, *next;
	struct reg_pull *p;

	if (rc == NULL)
		return;
	while ((p = LIST_FIRST(&rc->pulls)) != NULL) {
		LIST_REMOVE(p, entry);
		p->rc = NULL;
		if (p->http_id != 0)
			httpcli_cancel(rc->http, p->http_id);
		p->http_id = 0;
		if (p->waiting_hook)
			p->detached = 1; /* freed when the hook answers */
		else
			reg_pull_free(p);
	}
	reg_derive_cancel_all(rc);
	reg_login_cancel_all(rc);
	reg_known_clear(rc);
	for (t = LIST_FIRST(&rc->tokens); t != NULL; t = next) {
		next = LIST_NEXT(t, entry);
		reg_token_free(t);
	}
	strv_free(&rc->mirrors);
	strv_free(&rc->insecure);
	strv_free(&rc->endpoints);
	free(rc->auth_file);
	free(rc);
}

/* --- resolve: bookkeeping ---------------------------------------------- */

static void
reg_pull_free(struct reg_pull *p)
{
	if (p->ev != NULL)
		event_free(p->ev);
	reg_ref_free(&p->ref);
	free(p->familiar);
	free(p->familiar_name);
	free(p->scope);
	reg_creds_free(&p->hdr);
	reg_creds_free(&p->creds);
	for (size_t i = 0; i < p->neps; i++) {
		free(p->eps[i].base);
		free(p->eps[i].host);
		free(p->eps[i].cred_host);
	}
	free(p->eps);
	free(p->authz);
	free(p->token_key);
	free(p->digest);
	free(p->manifest_digest);
	free(p->config_digest);
	cJSON_Delete(p->manifest);
	free(p->manifest_type);
	if (p->blob_f != NULL)
		fclose(p->blob_f);
	if (p->blob_md != NULL)
		EVP_MD_CTX_free(p->blob_md);
	free(p->blob_digest);
	free(p->blob_path);
	free(p);
}

/* Calls the callback once and frees p. */
void
reg_pull_finish(
    struct reg_pull *p, const struct reg_image *img, const struct err *e)
{
	if (p->rc != NULL)
		LIST_REMOVE(p, entry);
	if (e != NULL)
		log_debug(
		    "%s: %s: %d %s", __func__, p->familiar, e->status, e->msg);
	else if (p->has_hdr && p->rc != NULL)
		/* The registry took them: later pulls of the same host
		 * without a header (a create's derive) use them too. */
		reg_known_put(p->rc, reg_pull_cur(p)->cred_host, &p->hdr);
	if (p->blob_cb != NULL) {
		/* The file is whole and verified, or gone. */
		if (fclose(p->blob_f) != 0 && e == NULL)
			e = reg_blob_err(p, "the blob could not be saved");
		p->blob_f = NULL;
		if (e != NULL)
			unlink(p->blob_path);
		p->blob_cb(p->arg, e);
	} else
		p->cb(p->arg, img, e);
	reg_pull_free(p);
}

struct reg_ep *
reg_pull_cur(struct reg_pull *p)
{
	return &p->eps[p->ep];
}

/* The current endpoint failed: mirrors fall through to the next. */
static void
reg_pull_ep_fail(struct reg_pull *p, const struct err *e)
{
	struct reg_ep *ep = reg_pull_cur(p);

	if (ep->mirror && p->ep + 1 < p->neps) {
		log_info("registry mirror %s failed for %s (%s); trying %s",
		    ep->base, p->familiar, e->msg, p->eps[p->ep + 1].base);
		if (!p->mirror_said && e->status >= 400 && e->status < 500) {
			p->mirror_said = 1;
			p->mirror_err = *e;
		}
		p->ep++;
		reg_pull_ep_begin(p);
		return;
	}
	/* Offline with a mirror: what the mirror said is the useful part. */
	if (p->mirror_said && e->status >= 500) {
		struct err me = p->mirror_err;
		size_t n = strlen(me.msg);

		str_lcpy(me.msg + n, " (upstream: ", sizeof(me.msg) - n);
		n = strlen(me.msg);
		str_lcpy(me.msg + n, e->msg, sizeof(me.msg) - n);
		n = strlen(me.msg);
		str_lcpy(me.msg + n, ")", sizeof(me.msg) - n);
		reg_pull_finish(p, NULL, &me);
		return;
	}
	reg_pull_finish(p, NULL, e);
}

static void
reg_pull_add_ep(struct reg_pull *p, const char *base, const char *host,
    const char *cred_host, int mirror)
{
	struct reg_ep *ep;

	p->eps = xreallocarray(p->eps, p->neps + 1, sizeof(*p->eps));
	ep = &p->eps[p->neps++];
	ep->base = xstrdup(base);
	ep->host = xstrdup(host);
	ep->cred_host = xstrdup(cred_host);
	ep->mirror = mirror;
}

static void
reg_pull_plan(struct reg_pull *p)
{
	struct reg_client *rc = p->rc;
	const char *d = p->ref.domain;
	char *base, *host;

	if (strcmp(d, REG_DOCKER_DOMAIN) == 0) {
		for (size_t i = 0; i < rc->mirrors.n; i++) {
			const char *m = rc->mirrors.v[i];
			const char *h = strstr(m, "://") + 3;
			char *mh = xstrndup(h, strcspn(h, "/"));

			reg_pull_add_ep(p, m, mh, mh, 1);
			free(mh);
		}
		reg_pull_add_ep(p, "https://" REG_DOCKER_HOST, REG_DOCKER_HOST,
		    REG_DOCKER_DOMAIN, 0);
		return;
	}
	/* A host served from another URL keeps its name for credentials. */
	base = reg_endpoint_base(rc, d, &host);
	reg_pull_add_ep(p, base, host, d, 0);
	free(base);
	free(host);
}

static char *
reg_pull_token_key(struct reg_pull *p)
{
	return reg_token_key(reg_pull_cur(p)->host, p->scope, &p->creds);
}

/* --- resolve: credentials ---------------------------------------------- */

static void
reg_pull_creds_ready(struct reg_pull *p)
{
	const char *t;

	free(p->token_key);
	p->token_key = reg_pull_token_key(p);
	if ((t = reg_token_cached(p->rc, p->token_key)) != NULL) {
		p->authz = xasprintf("Bearer %s", t);
		p->from_cache = 1;
	}
	reg_pull_send(p);
}

static void
reg_pull_creds_done(
    void *arg, const char *user, const char *secret, const struct err *e)
{
	struct reg_pull *p = arg;

	p->waiting_hook = 0;
	if (p->detached) {
		reg_pull_free(p);
		return;
	}
	if (e != NULL) {
		p->hook_err = *e;
		p->hook_failed = 1;
		err_wrap(&p->hook_err, "registry credentials for %s",
		    reg_pull_cur(p)->cred_host);
		if (!p->in_hook)
			reg_pull_ep_fail(p, &p->hook_err);
		return;
	}
	reg_creds_free(&p->creds);
	p->creds.user = xstrdup(user);
	p->creds.pass = xstrdup(secret);
	if (!p->in_hook)
		reg_pull_creds_ready(p);
}

/* Header, then the hook, then the auth file. The hook may answer at once
 * (from inside the call) or later from the loop. */
static void
reg_pull_creds(struct reg_pull *p)
{
	struct reg_client *rc = p->rc;
	const char *host = reg_pull_cur(p)->cred_host;

	if (p->has_hdr) {
		reg_creds_copy(&p->creds, &p->hdr);
		reg_pull_creds_ready(p);
		return;
	}
	if (!p->no_known && reg_known_lookup(rc, host, &p->creds)) {
		reg_pull_creds_ready(p);
		return;
	}
	if (rc->hook != NULL) {
		int r;

		p->waiting_hook = 1;
		p->hook_failed = 0;
		p->in_hook = 1;
		r = rc->hook(rc->hook_arg, host, reg_pull_creds_done, p);
		p->in_hook = 0;
		if (r == 0) {
			if (p->waiting_hook)
				return;
			if (p->hook_failed)
				reg_pull_ep_fail(p, &p->hook_err);
			else
				reg_pull_creds_ready(p);
			return;
		}
		p->waiting_hook = 0;
	}
	reg_auth_file_lookup(rc->auth_file, host, &p->creds);
	reg_pull_creds_ready(p);
}

static void
reg_pull_ep_begin(struct reg_pull *p)
{
	reg_creds_free(&p->creds);
	free(p->authz);
	p->authz = NULL;
	p->auth_tries = 0;
	p->from_cache = 0;
	p->step = REG_STEP_MANIFEST;
	free(p->digest);
	free(p->manifest_digest);
	free(p->config_digest);
	p->digest = p->manifest_digest = p->config_digest = NULL;
	cJSON_Delete(p->manifest);
	p->manifest = NULL;
	free(p->manifest_type);
	p->manifest_type = NULL;
	p->size = 0;
	if (p->blob_digest != NULL) {
		p->step = REG_STEP_BLOB;
		if (reg_blob_restart(p) == -1)
			return;
	}
	reg_pull_creds(p);
}

static void
reg_pull_start(evutil_socket_t fd, short what, void *arg)
{
	struct reg_pull *p = arg;

	(void)fd;
	(void)what;
	reg_pull_ep_begin(p);
}

/* --- resolve: errors --------------------------------------------------- */

static void
reg_pull_denied(struct reg_pull *p, const struct httpcli_resp *resp)
{
	char code[64], text[512];
	struct err e;

	reg_errors_text(
	    resp->body, resp->body_len, code, sizeof(code), text, sizeof(text));
	if (text[0] == '\0' || strcmp(code, "UNAUTHORIZED") == 0)
		str_lcpy(text,
		    "denied: requested access to the resource is "
		    "denied",
		    sizeof(text));
	err_set(&e, 404,
	    "pull access denied for %s, repository does not "
	    "exist or may require 'docker login': %s",
	    p->familiar_name, text);
	reg_pull_ep_fail(p, &e);
}

/* Any non-200, non-401 answer. */
static void
reg_pull_http_error(struct reg_pull *p, const struct httpcli_resp *resp)
{
	struct reg_ep *ep = reg_pull_cur(p);
	char code[64], text[512];
	struct err e;

	reg_errors_text(
	    resp->body, resp->body_len, code, sizeof(code), text, sizeof(text));
	if (resp->status == 0)
		err_set(&e, 502, "registry %s is unreachable: %s", ep->host,
		    resp->error);
	else if (resp->status == 403 || strcmp(code, "DENIED") == 0) {
		reg_pull_denied(p, resp);
		return;
	} else if (p->step == REG_STEP_BLOB)
		err_set(&e, 502,
		    "registry %s answered HTTP %d for layer %s of %s%s%s",
		    ep->host, resp->status, p->blob_digest, p->familiar,
		    text[0] != '\0' ? ": " : "", text);
	else if (p->step != REG_STEP_CONFIG &&
	    strcmp(code, "NAME_UNKNOWN") == 0)
		err_set(&e, 404, "repository %s not found: %s",
		    p->familiar_name, text);
	else if (p->step != REG_STEP_CONFIG &&
	    (resp->status == 404 || strcmp(code, "MANIFEST_UNKNOWN") == 0))
		err_set(&e, 404, "manifest for %s not found: %s", p->familiar,
		    text[0] != '\0' ? text :
				      "manifest unknown: manifest unknown");
	else
		err_set(&e, 502, "registry %s answered HTTP %d for %s%s%s%s",
		    ep->host, resp->status,
		    p->step == REG_STEP_CONFIG ? "the image config of " : "",
		    p->familiar, text[0] != '\0' ? ": " : "", text);
	reg_pull_ep_fail(p, &e);
}

/* --- resolve: auth ----------------------------------------------------- */

static void
reg_pull_token_got(struct httpcli_resp *resp, void *arg)
{
	struct reg_pull *p = arg;
	char *authz;
	struct err e;

	/* reg_token_take fills e whenever it returns NULL, through err_set
	 * in another file, which the analyzer cannot follow. */
	memset(&e, 0, sizeof(e));
	p->http_id = 0;
	authz = reg_token_take(
	    p->rc, p->token_key, resp, reg_pull_cur(p)->host, &e);
	if (authz == NULL) {
		reg_pull_ep_fail(p, &e);
		return;
	}
	free(p->authz);
	p->authz = authz;
	reg_pull_send(p);
}

static void
reg_pull_token_fetch(struct reg_pull *p, const struct reg_challenge *ch)
{
	struct httpcli_req *r = reg_token_request(ch, &p->creds, p->scope);

	p->http_id = httpcli_send(p->rc->http, r, reg_pull_token_got, p);
}

static void
reg_pull_unauthorized(struct reg_pull *p, const struct httpcli_resp *resp)
{
	struct reg_ep *ep = reg_pull_cur(p);
	struct reg_challenge ch;
	struct err e;
	int has_creds = reg_creds_any(&p->creds);

	if (reg_challenge_parse(
		httpcli_resp_header(resp, "WWW-Authenticate"), &ch) == -1) {
		err_set(&e, 401,
		    "unauthorized: registry %s refused access "
		    "without an authentication challenge",
		    ep->host);
		reg_pull_ep_fail(p, &e);
		return;
	}
	/* A cached token may have been revoked: one more fresh round. */
	if (p->auth_tries >= (p->from_cache ? 2 : 1)) {
		int basic = strcmp(ch.scheme, "basic") == 0;

		reg_challenge_free(&ch);
		if (has_creds && basic) {
			err_set(&e, 401,
			    "unauthorized: authentication "
			    "required");
			reg_pull_ep_fail(p, &e);
		} else
			reg_pull_denied(p, resp);
		return;
	}
	p->auth_tries++;
	if (strcmp(ch.scheme, "bearer") == 0 && p->creds.registrytoken) {
		free(p->authz);
		p->authz = xasprintf("Bearer %s", p->creds.registrytoken);
		reg_pull_send(p);
	} else if (strcmp(ch.scheme, "bearer") == 0 && ch.realm != NULL &&
	    (str_prefix(ch.realm, "https://") ||
		str_prefix(ch.realm, "http://"))) {
		if (p->from_cache) {
			reg_token_forget(p->rc, p->token_key);
			p->from_cache = 0;
		}
		reg_pull_token_fetch(p, &ch);
	} else if (strcmp(ch.scheme, "basic") == 0 && has_creds &&
	    p->creds.user != NULL) {
		free(p->authz);
		p->authz = reg_authz_basic(&p->creds);
		reg_pull_send(p);
	} else if (strcmp(ch.scheme, "basic") == 0) {
		err_set(&e, 401,
		    "unauthorized: registry %s requires "
		    "credentials (no basic auth credentials)",
		    ep->host);
		reg_pull_ep_fail(p, &e);
	} else {
		err_set(&e, 401,
		    "unauthorized: registry %s asks for an "
		    "unsupported authentication scheme \"%s\"",
		    ep->host, ch.scheme);
		reg_pull_ep_fail(p, &e);
	}
	reg_challenge_free(&ch);
}

/* --- resolve: manifests and config ------------------------------------- */

void
reg_pull_send(struct reg_pull *p)
{
	struct reg_ep *ep = reg_pull_cur(p);
	const char *what;
	char *url;
	struct httpcli_req *r;

	if (p->step == REG_STEP_CONFIG || p->step == REG_STEP_BLOB)
		url = xasprintf("%s/v2/%s/blobs/%s", ep->base, p->ref.path,
		    p->step == REG_STEP_BLOB ? p->blob_digest :
					       p->config_digest);
	else {
		what = p->step == REG_STEP_CHILD ? p->manifest_digest :
		    p->ref.digest != NULL	 ? p->ref.digest :
						   p->ref.tag;
		url = xasprintf(
		    "%s/v2/%s/manifests/%s", ep->base, p->ref.path, what);
	}
	r = httpcli_req_new("GET", url);
	free(url);
	if (p->step == REG_STEP_BLOB)
		reg_blob_range(p, r);
	else if (p->step == REG_STEP_CONFIG)
		httpcli_req_max_response(r, REG_CONFIG_MAX);
	else {
		httpcli_req_header(r, "Accept",
		    REG_MT_OCI_INDEX ", " REG_MT_DOCKER_LIST
				     ", " REG_MT_OCI_MANIFEST
				     ", " REG_MT_DOCKER_MANIFEST);
		httpcli_req_max_response(r, REG_MANIFEST_MAX);
	}
	if (p->authz != NULL)
		httpcli_req_header(r, "Authorization", p->authz);
	httpcli_req_header(r, "User-Agent", httpcli_user_agent());
	/* A dead mirror should not hold the pull for long. */
	if (ep->mirror) {
		httpcli_req_attempts(r, 2);
		httpcli_req_timeouts(r, 15000, 30000);
	}
	p->http_id = httpcli_send(p->rc->http, r, reg_pull_got, p);
}

static void
reg_pull_manifest(struct reg_pull *p, const cJSON *doc)
{
	struct reg_ep *ep = reg_pull_cur(p);
	const char *cd = json_str(json_obj(doc, "config"), "digest");
	struct err e;

	if (cd == NULL || reg_digest_check(cd, NULL) == -1) {
		err_set(&e, 502,
		    "registry %s returned a manifest for %s "
		    "without a valid config digest",
		    ep->host, p->familiar);
		reg_pull_ep_fail(p, &e);
		return;
	}
	p->config_digest = xstrdup(cd);
	p->size = reg_manifest_size(doc);
	p->step = REG_STEP_CONFIG;
	reg_pull_send(p);
}

static void
reg_pull_got_manifest(struct reg_pull *p, const struct httpcli_resp *resp)
{
	struct reg_ep *ep = reg_pull_cur(p);
	struct reg_client *rc = p->rc;
	const char *hd = httpcli_resp_header(resp, "Docker-Content-Digest");
	const char *want, *cd;
	char mt[128];
	const cJSON *pick;
	char *got = reg_digest_of(resp->body, resp->body_len);
	cJSON *doc = NULL;
	struct err e;
	int idx;

	want = p->step == REG_STEP_CHILD ? p->manifest_digest : p->ref.digest;
	if (want != NULL &&
	    reg_digest_verify(want, resp->body, resp->body_len) == -1) {
		err_set(&e, 502,
		    "registry %s returned a manifest for %s that "
		    "does not match digest %s",
		    ep->host, p->familiar, want);
		goto fail;
	}
	if (want == NULL && hd != NULL && str_prefix(hd, "sha256:") &&
	    strcmp(hd, got) != 0) {
		err_set(&e, 502,
		    "registry %s returned a manifest for %s whose "
		    "content does not match its digest %s",
		    ep->host, p->familiar, hd);
		goto fail;
	}
	if ((doc = cJSON_ParseWithLength(resp->body, resp->body_len)) == NULL ||
	    !cJSON_IsObject(doc)) {
		err_set(&e, 502,
		    "registry %s returned a malformed manifest "
		    "for %s",
		    ep->host, p->familiar);
		goto fail;
	}
	if ((idx = reg_manifest_is_index(resp, doc, mt, sizeof(mt))) == -1 ||
	    (idx == 1 && p->step == REG_STEP_CHILD)) {
		err_set(&e, 502,
		    "registry %s returned an unsupported manifest "
		    "(media type \"%s\") for %s",
		    ep->host, mt, p->familiar);
		goto fail;
	}
	if (p->step == REG_STEP_MANIFEST)
		p->digest = xstrdup(want != NULL ? want :
			hd != NULL		 ? hd :
						   got);
	if (idx == 0) {
		if (p->manifest_digest == NULL)
			p->manifest_digest = xstrdup(p->digest);
		/* Kept for derives, which rebuild it. */
		cJSON_Delete(p->manifest);
		free(p->manifest_type);
		p->manifest = doc;
		p->manifest_type =
		    xstrdup(mt[0] != '\0' ? mt : REG_MT_OCI_MANIFEST);
		doc = NULL;
		reg_pull_manifest(p, p->manifest);
		goto out;
	}
	if ((pick = reg_platform_pick(doc, &rc->platform)) == NULL) {
		err_set(&e, 404,
		    "no matching manifest for %s/%s%s%s in the "
		    "manifest list entries",
		    rc->platform.os, rc->platform.arch,
		    rc->platform.variant[0] != '\0' ? "/" : "",
		    rc->platform.variant);
		goto fail;
	}
	cd = json_str(pick, "digest");
	if (reg_digest_check(cd, NULL) == -1) {
		err_set(&e, 502,
		    "registry %s returned an index for %s with a "
		    "malformed digest",
		    ep->host, p->familiar);
		goto fail;
	}
	p->manifest_digest = xstrdup(cd);
	p->step = REG_STEP_CHILD;
	reg_pull_send(p);
	goto out;
fail:
	reg_pull_ep_fail(p, &e);
out:
	cJSON_Delete(doc);
	free(got);
}

static void
reg_pull_got_config(struct reg_pull *p, const struct httpcli_resp *resp)
{
	struct reg_ep *ep = reg_pull_cur(p);
	struct reg_image img;
	char *name;
	cJSON *cfg;
	struct err e;

	if (reg_digest_verify(p->config_digest, resp->body, resp->body_len) ==
	    -1) {
		err_set(&e, 502,
		    "registry %s returned an image config for %s "
		    "that does not match digest %s",
		    ep->host, p->familiar, p->config_digest);
		reg_pull_ep_fail(p, &e);
		return;
	}
	if ((cfg = cJSON_ParseWithLength(resp->body, resp->body_len)) == NULL ||
	    !cJSON_IsObject(cfg)) {
		cJSON_Delete(cfg);
		err_set(&e, 502,
		    "registry %s returned a malformed image "
		    "config for %s",
		    ep->host, p->familiar);
		reg_pull_ep_fail(p, &e);
		return;
	}
	name = xasprintf("%s/%s", p->ref.domain, p->ref.path);
	memset(&img, 0, sizeof(img));
	img.name = name;
	img.path = p->ref.path;
	/* Like ParseDockerRef: a digest makes the tag meaningless. */
	img.tag = p->ref.digest != NULL ? NULL : p->ref.tag;
	img.digest = p->digest;
	img.manifest_digest = p->manifest_digest;
	img.id = p->config_digest;
	img.config = cfg;
	img.size = p->size;
	img.manifest = p->manifest;
	img.manifest_type = p->manifest_type;
	img.source = ep->base;
	img.source_creds = ep->cred_host;
	reg_pull_finish(p, &img, NULL);
	cJSON_Delete(cfg);
	free(name);
}

static void
reg_pull_got(struct httpcli_resp *resp, void *arg)
{
	struct reg_pull *p = arg;

	p->http_id = 0;
	if (resp->status == 401) {
		reg_pull_unauthorized(p, resp);
		return;
	}
	if (resp->status != 200 &&
	    !(resp->status == 206 && p->step == REG_STEP_BLOB)) {
		reg_pull_http_error(p, resp);
		return;
	}
	p->auth_tries = 0;
	p->from_cache = 0;
	if (p->step == REG_STEP_BLOB)
		reg_blob_got(p, resp);
	else if (p->step == REG_STEP_CONFIG)
		reg_pull_got_config(p, resp);
	else
		reg_pull_got_manifest(p, resp);
}

static int
reg_resolve_with(struct reg_client *rc, const char *ref, const char *auth,
    int no_known,
    void (*cb)(void *arg, const struct reg_image *img, const struct err *e),
    void *arg, struct err *e)
{
	struct reg_pull *p;

	if ((p = reg_pull_new(rc, ref, auth, e)) == NULL)
		return -1;
	p->no_known = no_known;
	p->cb = cb;
	p->arg = arg;
	event_active(p->ev, EV_TIMEOUT, 0);
	return 0;
}

int
reg_resolve(struct reg_client *rc, const char *ref, const char *auth,
    void (*cb)(void *arg, const struct reg_image *img, const struct err *e),
    void *arg, struct err *e)
{
	return reg_resolve_with(rc, ref, auth, 0, cb, arg, e);
}

int
reg_resolve_client(struct reg_client *rc, const char *ref, const char *auth,
    void (*cb)(void *arg, const struct reg_image *img, const struct err *e),
    void *arg, struct err *e)
{
	return reg_resolve_with(rc, ref, auth, 1, cb, arg, e);
}

struct reg_pull *
reg_pull_new(
    struct reg_client *rc, const char *ref, const char *auth, struct err *e)
{
	struct reg_pull *p = xcalloc(1, sizeof(*p));

	if (reg_ref_parse(ref, &p->ref, e) == -1) {
		free(p);
		return NULL;
	}
	p->rc = rc;
	p->familiar = reg_ref_familiar(&p->ref);
	p->familiar_name = reg_ref_familiar_name(&p->ref);
	p->scope = xasprintf("repository:%s:pull", p->ref.path);
	if (reg_auth_decode(auth, &p->hdr) == -1)
		log_debug("%s: ignoring a malformed X-Registry-Auth header",
		    __func__);
	p->has_hdr = reg_creds_any(&p->hdr);
	reg_pull_plan(p);
	LIST_INSERT_HEAD(&rc->pulls, p, entry);
	/* The callback always runs from the loop, never inside this call. */
	p->ev = evtimer_new(rc->base, reg_pull_start, p);
	return p;
}
