/* Derived images, the request layer: a derive's lifetime (free, finish,
 * fail), its requests to either registry with the auth round a 401 asks
 * for, and the credentials of each side. It goes on through the
 * continuations the caller stores (d->next, hook_next) and never calls
 * reg_push.c by name. */
#include <sys/queue.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "reg_int.h"
#include "reg_push_int.h"
#include "sockerless/buf.h"
#include "sockerless/httpcli.h"
#include "sockerless/json.h"
#include "sockerless/log.h"
#include "sockerless/reg.h"
#include "sockerless/xmalloc.h"

#define REG_PUSH_ACCEPT                                                       \
	REG_MT_OCI_MANIFEST ", " REG_MT_DOCKER_MANIFEST ", " REG_MT_OCI_INDEX \
			    ", " REG_MT_DOCKER_LIST

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

void
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
	for (int i = 0; i < d->nvb; i++) {
		free(d->vb[i].digest);
		free(d->vb[i].data);
	}
	free(d->vb);
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
void
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

void
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
void
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
char *
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
void
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

void
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
	httpcli_req_header(r, "User-Agent", httpcli_user_agent());
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
void
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
	/* The source's remembered credentials (docker login, a pull with
	 * X-Registry-Auth); the destination is the backend's own. */
	if (!s->is_dst && reg_known_lookup(rc, s->cred_host, &s->creds)) {
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
	    s->is_dst && d->src.ref.domain != NULL && /* none: a whole image */
	    strcmp(d->src.ref.domain, s->ref.domain) == 0 &&
	    reg_creds_any(&d->hdr))
		reg_creds_copy(&s->creds, &d->hdr); /* same registry */
	reg_push_creds_ready(d, s);
}
