/* docker login (POST /auth) as dockerd's registry service does it: GET
 * /v2/ on the registry itself, then the round its WWW-Authenticate
 * challenge asks for (basic, or a bearer token fetched with the
 * credentials), and GET /v2/ again with it. Credentials that get in are
 * remembered (reg_known_put). Calls down into reg_auth.c and reg_host.c. */
#include <sys/queue.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "reg_int.h"
#include "sockerless/httpcli.h"
#include "sockerless/httpsrv.h"
#include "sockerless/json.h"
#include "sockerless/log.h"
#include "sockerless/reg.h"
#include "sockerless/xmalloc.h"

#define REG_LOGIN_BODY_MAX ((size_t)64 << 10)

struct reg_login {
	LIST_ENTRY(reg_login) entry;
	struct reg_client *rc;
	char *host;	/* what credentials are kept by ("docker.io") */
	char *net_host; /* host[:port] spoken to */
	char *url;	/* "https://host/v2/" */
	struct reg_creds creds;
	char *authz;   /* Authorization of the second GET */
	char *refresh; /* a token service's refresh_token */
	int tried;     /* the GET with authz was sent */
	struct event *ev;
	uint64_t http_id;
	void (*cb)(void *, const char *, const struct err *);
	void *arg;
};

static void reg_login_got(struct httpcli_resp *resp, void *arg);

static void
reg_login_free(struct reg_login *l)
{
	if (l->ev != NULL)
		event_free(l->ev);
	free(l->host);
	free(l->net_host);
	free(l->url);
	reg_creds_free(&l->creds);
	free(l->authz);
	free(l->refresh);
	free(l);
}

void
reg_login_cancel_all(struct reg_client *rc)
{
	struct reg_login *l;

	while ((l = LIST_FIRST(&rc->logins)) != NULL) {
		LIST_REMOVE(l, entry);
		if (l->http_id != 0)
			httpcli_cancel(rc->http, l->http_id);
		reg_login_free(l);
	}
}

static void
reg_login_finish(struct reg_login *l, const struct err *e)
{
	LIST_REMOVE(l, entry);
	if (e == NULL)
		reg_known_put(l->rc, l->host, &l->creds);
	else
		log_debug(
		    "%s: %s: %d %s", __func__, l->host, e->status, e->msg);
	l->cb(l->arg, e == NULL ? (l->refresh != NULL ? l->refresh : "") : NULL,
	    e);
	reg_login_free(l);
}

/* dockerd's sentence for a /v2/ that did not answer 200 in the end. */
static void
reg_login_failed(struct reg_login *l, int status)
{
	const char *t = httpsrv_status_text(status);
	struct err e;

	err_set(&e, status == 401 || status == 403 ? 401 : 502,
	    "login attempt to %s failed with status: %d%s%s", l->url, status,
	    t[0] != '\0' ? " " : "", t);
	reg_login_finish(l, &e);
}

static void
reg_login_send(struct reg_login *l)
{
	struct httpcli_req *r = httpcli_req_new("GET", l->url);

	if (l->authz != NULL)
		httpcli_req_header(r, "Authorization", l->authz);
	httpcli_req_header(r, "User-Agent", "sockerless");
	httpcli_req_max_response(r, REG_LOGIN_BODY_MAX);
	l->http_id = httpcli_send(l->rc->http, r, reg_login_got, l);
}

static void
reg_login_token_got(struct httpcli_resp *resp, void *arg)
{
	struct reg_login *l = arg;
	char *key = reg_token_key(l->net_host, "", &l->creds), *authz;
	struct err e;
	cJSON *o;
	const char *rt;

	memset(&e, 0, sizeof(e));
	l->http_id = 0;
	authz = reg_token_take(l->rc, key, resp, l->net_host, &e);
	free(key);
	if (authz == NULL) {
		/* dockerd: Get "https://host/v2/": unauthorized: ... */
		if (e.status == 401)
			err_wrap(&e, "Get \"%s\"", l->url);
		reg_login_finish(l, &e);
		return;
	}
	o = cJSON_ParseWithLength(resp->body, resp->body_len);
	if ((rt = json_str(o, "refresh_token")) != NULL && rt[0] != '\0')
		l->refresh = xstrdup(rt);
	cJSON_Delete(o);
	free(l->authz);
	l->authz = authz;
	l->tried = 1;
	reg_login_send(l);
}

/* The bearer round: the token service with the credentials, asking for a
 * refresh token (offline_token), as docker's token handler does. */
static void
reg_login_token(struct reg_login *l, const struct reg_challenge *ch)
{
	struct httpcli_req *r;

	if (l->creds.identitytoken != NULL)
		r = reg_token_request(ch, &l->creds, "");
	else {
		char *svc =
		    reg_urlencode(ch->service != NULL ? ch->service : "");
		char *url = xasprintf(
		    "%s%cservice=%s&offline_token=true&client_id=sockerless",
		    ch->realm, strchr(ch->realm, '?') != NULL ? '&' : '?', svc);

		r = httpcli_req_new("GET", url);
		free(url);
		free(svc);
		if (l->creds.user != NULL && l->creds.user[0] != '\0') {
			char *h = reg_authz_basic(&l->creds);

			httpcli_req_header(r, "Authorization", h);
			free(h);
		}
		httpcli_req_max_response(r, REG_LOGIN_BODY_MAX);
	}
	l->http_id = httpcli_send(l->rc->http, r, reg_login_token_got, l);
}

static void
reg_login_challenge(struct reg_login *l, const struct httpcli_resp *resp)
{
	struct reg_challenge ch;
	struct err e;

	if (l->tried ||
	    reg_challenge_parse(
		httpcli_resp_header(resp, "WWW-Authenticate"), &ch) == -1) {
		reg_login_failed(l, resp->status);
		return;
	}
	if (strcmp(ch.scheme, "basic") == 0) {
		free(l->authz);
		l->authz = reg_authz_basic(&l->creds);
		l->tried = 1;
		reg_login_send(l);
	} else if (strcmp(ch.scheme, "bearer") == 0 && ch.realm != NULL &&
	    (str_prefix(ch.realm, "https://") ||
		str_prefix(ch.realm, "http://"))) {
		if (l->creds.registrytoken != NULL) {
			free(l->authz);
			l->authz =
			    xasprintf("Bearer %s", l->creds.registrytoken);
			l->tried = 1;
			reg_login_send(l);
		} else
			reg_login_token(l, &ch);
	} else {
		err_set(&e, 401,
		    "unauthorized: registry %s asks for an unsupported "
		    "authentication scheme \"%s\"",
		    l->net_host, ch.scheme);
		reg_login_finish(l, &e);
	}
	reg_challenge_free(&ch);
}

static void
reg_login_got(struct httpcli_resp *resp, void *arg)
{
	struct reg_login *l = arg;
	struct err e;

	l->http_id = 0;
	if (resp->status == 0) {
		err_set(&e, 502, "Get \"%s\": registry %s is unreachable: %s",
		    l->url, l->net_host, resp->error);
		reg_login_finish(l, &e);
	} else if (resp->status == 200)
		reg_login_finish(l, NULL);
	else if (resp->status == 401)
		reg_login_challenge(l, resp);
	else
		reg_login_failed(l, resp->status);
}

static void
reg_login_start(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	reg_login_send(arg);
}

int
reg_login(struct reg_client *rc, const char *server, const char *auth_json,
    void (*cb)(void *arg, const char *identitytoken, const struct err *e),
    void *arg, struct err *e)
{
	struct reg_login *l;
	struct reg_creds c;
	char *host, *base;
	size_t n;

	if (reg_auth_decode(auth_json, &c) == -1) {
		err_set(e, 400,
		    "invalid credentials: \"auth\" must be base64 of "
		    "username:password");
		return -1;
	}
	host = reg_auth_key_host(
	    server != NULL && server[0] != '\0' ? server : REG_DOCKER_DOMAIN);
	if (host[0] == '\0' || strcspn(host, " \t\r\n\"@?#") != strlen(host)) {
		err_set(
		    e, 400, "unable to parse server address: \"%s\"", server);
		free(host);
		reg_creds_free(&c);
		return -1;
	}
	l = xcalloc(1, sizeof(*l));
	l->rc = rc;
	l->host = host;
	l->creds = c;
	l->cb = cb;
	l->arg = arg;
	/* Never a mirror: docker.io's credentials go to Docker Hub only. */
	base = reg_endpoint_base(rc, host, &l->net_host);
	n = strlen(base);
	while (n > 0 && base[n - 1] == '/')
		base[--n] = '\0';
	l->url = xasprintf("%s/v2/", base);
	free(base);
	LIST_INSERT_HEAD(&rc->logins, l, entry);
	/* The callback always runs from the loop, never inside this call. */
	l->ev = evtimer_new(rc->base, reg_login_start, l);
	event_active(l->ev, EV_TIMEOUT, 0);
	return 0;
}
