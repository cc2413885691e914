/* The Azure part every Azure backend shares: its configuration keys, its
 * session (DefaultAzureCredential's chain, the ARM and Log Analytics
 * client with its endpoints) and the registry client's Azure Container
 * Registry login: an Entra ARM token exchanged at the registry's
 * /oauth2/exchange for an ACR refresh token, which the registry's Docker
 * token flow takes as the password of the null-GUID user (the az CLI's
 * `az acr login --expose-token` flow). Below the backend framework:
 * takes the event base, HTTP client and registry client from the
 * caller. */
#include <sys/queue.h>

#include <ctype.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sockerless/azure_backend.h"
#include "sockerless/buf.h"
#include "sockerless/httpcli.h"
#include "sockerless/json.h"
#include "sockerless/log.h"
#include "sockerless/reg.h"
#include "sockerless/str.h"
#include "sockerless/xmalloc.h"

#define K(name, field, req, doc)                                            \
	{                                                                   \
		name, CONFIG_STRING, offsetof(struct azure_backend, field), \
		    NULL, 0, 0, req, doc                                    \
	}

const struct config_key azure_backend_keys[AZURE_BACKEND_NKEYS] = {
	K("subscription", subscription, 1,
	    "Azure subscription id (a GUID) of the backend's resources"),
	K("resource_group", resource_group, 1,
	    "Azure resource group of the backend's resources"),
	K("location", location, 1, "Azure region, e.g. westeurope"),
	K("tenant_id", tenant_id, 0,
	    "Entra ID tenant (default: AZURE_TENANT_ID)"),
	K("client_id", client_id, 0,
	    "Application (client) id of the service principal or of a "
	    "user-assigned managed identity (default: AZURE_CLIENT_ID)"),
	K("client_certificate_path", client_certificate_path, 0,
	    "PEM or PKCS#12 client certificate of the service principal "
	    "(default: AZURE_CLIENT_CERTIFICATE_PATH)"),
	K("client_secret_file", client_secret_file, 0,
	    "File whose first line is the service principal's client secret "
	    "(default: AZURE_CLIENT_SECRET)"),
	K("federated_token_file", federated_token_file, 0,
	    "Workload identity token file (default: "
	    "AZURE_FEDERATED_TOKEN_FILE)"),
	K("authority_host", authority_host, 0,
	    "Entra ID authority URL (default: AZURE_AUTHORITY_HOST, else "
	    "https://login.microsoftonline.com)"),
	K("endpoint", endpoint, 0,
	    "Azure Resource Manager endpoint URL (default: "
	    "https://management.azure.com)"),
	K("endpoint_logs", endpoint_logs, 0,
	    "Log Analytics query endpoint URL (default: "
	    "https://api.loganalytics.io)"),
	K("registry_hosts", registry_hosts, 0,
	    "Registry hosts (space separated host[:port]) that take the "
	    "Azure Container Registry token exchange besides *.azurecr.io"),
};

/* ACR refresh tokens last 3 hours; one whose expiry cannot be read is
 * kept this long, and every one is renewed this much before it ends. */
#define AZURE_ACR_TTL_NS    (INT64_C(3600) * 1000000000)
#define AZURE_ACR_MARGIN_NS (INT64_C(300) * 1000000000)
#define AZURE_ACR_USER	    "00000000-0000-0000-0000-000000000000"

struct azure_acr_tok {
	TAILQ_ENTRY(azure_acr_tok) entry;
	char *host;
	char *refresh;
	int64_t exp_ns;
};

/* One exchange in flight for the registry client. */
struct azure_acr_op {
	TAILQ_ENTRY(azure_acr_op) entry;
	struct azure_backend *ab;
	char *host;
	char *url; /* <registry>/oauth2/exchange */
	uint64_t tok_id, http_id;
	reg_creds_done done;
	void *done_arg;
};

struct azure_acr {
	TAILQ_HEAD(, azure_acr_tok) toks;
	TAILQ_HEAD(, azure_acr_op) ops;
	struct httpcli *http;
	struct reg_client *reg;
};

/* Whether host ends with "." suffix. */
static int
azure_host_under(const char *host, const char *suffix)
{
	size_t hl = strlen(host), sl = strlen(suffix);

	return hl > sl + 1 && host[hl - sl - 1] == '.' &&
	    strcmp(host + hl - sl, suffix) == 0;
}

static int
azure_host_listed(const char *list, const char *host)
{
	size_t hl = strlen(host);

	for (const char *p = list; p != NULL && *p != '\0';) {
		size_t n;

		p += strspn(p, " \t,");
		n = strcspn(p, " \t,");
		if (n == hl && n > 0 && strncmp(p, host, n) == 0)
			return 1;
		p += n;
	}
	return 0;
}

int
azure_backend_registry_host(const struct azure_backend *ab, const char *host)
{
	if (host == NULL || *host == '\0')
		return 0;
	if (azure_host_listed(ab->registry_hosts, host))
		return 1;
	/* <name>.azurecr.io, and the sovereign clouds' registries. */
	if (strchr(host, ':') != NULL)
		return 0;
	return azure_host_under(host, "azurecr.io") ||
	    azure_host_under(host, "azurecr.cn") ||
	    azure_host_under(host, "azurecr.us");
}

int
azure_backend_resource(const struct azure_backend *ab, char *out, size_t outsz,
    const char *provider, const char *type, const char *name)
{
	int n = snprintf(out, outsz, "%s/providers/%s/%s/%s",
	    ab->rg_path != NULL ? ab->rg_path : "", provider, type, name);

	return n < 0 || (size_t)n >= outsz ? -1 : 0;
}

/* --- the registry login --- */

static struct azure_acr_tok *
azure_acr_find(struct azure_acr *c, const char *host)
{
	struct azure_acr_tok *t;

	TAILQ_FOREACH(t, &c->toks, entry)
		if (strcmp(t->host, host) == 0)
			return t;
	return NULL;
}

static void
azure_acr_tok_free(struct azure_acr *c, struct azure_acr_tok *t)
{
	TAILQ_REMOVE(&c->toks, t, entry);
	explicit_bzero(t->refresh, strlen(t->refresh));
	free(t->refresh);
	free(t->host);
	free(t);
}

/* The refresh token's "exp" (a JWT), or now + the default. */
static int64_t
azure_acr_exp(const char *jwt)
{
	const char *p = strchr(jwt, '.'), *q;
	int64_t exp = -1;
	size_t len;
	char *claims;
	cJSON *o;

	if (p != NULL && (q = strchr(p + 1, '.')) != NULL) {
		char *part = xstrndup(p + 1, (size_t)(q - p - 1));

		if ((claims = str_base64_decode(part, &len)) != NULL) {
			if ((o = cJSON_ParseWithLength(claims, len)) != NULL)
				exp = json_int(o, "exp", -1);
			cJSON_Delete(o);
			free(claims);
		}
		free(part);
	}
	if (exp <= 0 || exp > INT64_MAX / 1000000000)
		return str_now_ns() + AZURE_ACR_TTL_NS;
	return exp * 1000000000;
}

static void
azure_acr_store(struct azure_acr *c, const char *host, const char *refresh)
{
	struct azure_acr_tok *t = azure_acr_find(c, host);

	if (t != NULL)
		azure_acr_tok_free(c, t);
	t = xcalloc(1, sizeof(*t));
	t->host = xstrdup(host);
	t->refresh = xstrdup(refresh);
	t->exp_ns = azure_acr_exp(refresh);
	TAILQ_INSERT_TAIL(&c->toks, t, entry);
}

static void
azure_acr_op_free(struct azure_acr *c, struct azure_acr_op *op)
{
	TAILQ_REMOVE(&c->ops, op, entry);
	free(op->host);
	free(op->url);
	free(op);
}

/* Ends op: its callback, after op is gone. */
static void
azure_acr_finish(
    struct azure_acr_op *op, const char *refresh, const struct err *e)
{
	reg_creds_done done = op->done;
	void *done_arg = op->done_arg;

	azure_acr_op_free(op->ab->acr, op);
	if (refresh != NULL)
		done(done_arg, AZURE_ACR_USER, refresh, NULL);
	else
		done(done_arg, NULL, NULL, e);
}

/* s form-encoded (application/x-www-form-urlencoded) onto b. */
static void
azure_form_add(struct buf *b, const char *key, const char *s)
{
	buf_addf(b, "%s%s=", b->len > 0 ? "&" : "", key);
	for (; *s != '\0'; s++) {
		if (isalnum((unsigned char)*s) || strchr("-_.~", *s) != NULL)
			buf_add(b, s, 1);
		else
			buf_addf(b, "%%%02X", (unsigned char)*s);
	}
}

/* The answer's refresh token, or NULL with e saying why. */
static char *
azure_acr_answer(const struct azure_acr_op *op, const struct httpcli_resp *resp,
    struct err *e)
{
	cJSON *o = NULL;
	const char *rt;
	char *out = NULL;

	if (resp->status == 0) {
		err_set(e, 502,
		    "Azure Container Registry %s did not answer the token "
		    "exchange at %s: %s",
		    op->host, op->url, resp->error);
		return NULL;
	}
	if (resp->status == 200)
		o = cJSON_ParseWithLength(resp->body, resp->body_len);
	if ((rt = json_str(o, "refresh_token")) != NULL && *rt != '\0')
		out = xstrdup(rt);
	else if (resp->status == 200)
		err_set(e, 502,
		    "Azure Container Registry %s answered the token exchange "
		    "without a refresh_token",
		    op->host);
	else
		/* 401: the identity has no role on the registry (AcrPull
		 * or AcrPush). */
		err_set(e,
		    resp->status == 401 || resp->status == 403 ? 401 : 502,
		    "Azure Container Registry %s refused the token exchange "
		    "(HTTP %d: %.200s); the backend's identity needs the AcrPull "
		    "(and for derived images AcrPush) role on the registry",
		    op->host, resp->status,
		    resp->body != NULL ? resp->body : "");
	cJSON_Delete(o);
	return out;
}

static void
azure_acr_exchanged(struct httpcli_resp *resp, void *arg)
{
	struct azure_acr_op *op = arg;
	struct err e;
	char *rt;

	op->http_id = 0;
	memset(&e, 0, sizeof(e));
	if ((rt = azure_acr_answer(op, resp, &e)) != NULL)
		azure_acr_store(op->ab->acr, op->host, rt);
	log_cloud("acr", "oauth2.exchange", resp->status, resp->duration_ms,
	    NULL, rt == NULL ? e.msg : NULL);
	azure_acr_finish(op, rt, &e);
	if (rt != NULL) {
		explicit_bzero(rt, strlen(rt));
		free(rt);
	}
}

/* POST <registry>/oauth2/exchange with the ARM token. */
static void
azure_acr_exchange(struct azure_acr_op *op, const char *arm_token)
{
	struct azure_backend *ab = op->ab;
	const char *tenant = azure_auth_tenant(ab->auth);
	struct httpcli_req *r = httpcli_req_new("POST", op->url);
	struct buf b;

	buf_init(&b, 0);
	azure_form_add(&b, "grant_type", "access_token");
	azure_form_add(&b, "service", op->host);
	if (tenant != NULL && *tenant != '\0')
		azure_form_add(&b, "tenant", tenant);
	azure_form_add(&b, "access_token", arm_token);
	httpcli_req_header(
	    r, "Content-Type", "application/x-www-form-urlencoded");
	httpcli_req_header(r, "Accept", "application/json");
	httpcli_req_body(r, b.data, b.len);
	explicit_bzero(b.data, b.len);
	buf_free(&b);
	op->http_id = httpcli_send(ab->acr->http, r, azure_acr_exchanged, op);
}

static void
azure_acr_token(void *arg, const char *token, const struct err *e)
{
	struct azure_acr_op *op = arg;

	op->tok_id = 0;
	if (token == NULL) {
		azure_acr_finish(op, NULL, e);
		return;
	}
	azure_acr_exchange(op, token);
}

/* The cached refresh token while it lasts, else an exchange. */
static int
azure_reg_hook(void *arg, const char *host, reg_creds_done done, void *done_arg)
{
	struct azure_backend *ab = arg;
	struct azure_acr *c = ab->acr;
	struct azure_acr_tok *t;
	struct azure_acr_op *op;
	const char *tok;
	char *base;

	if (!azure_backend_registry_host(ab, host))
		return -1;
	if ((t = azure_acr_find(c, host)) != NULL) {
		if (t->exp_ns - AZURE_ACR_MARGIN_NS > str_now_ns()) {
			done(done_arg, AZURE_ACR_USER, t->refresh, NULL);
			return 0;
		}
		azure_acr_tok_free(c, t);
	}
	op = xcalloc(1, sizeof(*op));
	op->ab = ab;
	op->host = xstrdup(host);
	base = reg_host_base(c->reg, host);
	op->url = xasprintf("%s/oauth2/exchange", base);
	free(base);
	op->done = done;
	op->done_arg = done_arg;
	TAILQ_INSERT_TAIL(&c->ops, op, entry);
	if ((tok = azure_auth_token_cached(ab->auth, AZURE_SCOPE_ARM)) != NULL)
		azure_acr_exchange(op, tok);
	else
		op->tok_id = azure_auth_token(
		    ab->auth, AZURE_SCOPE_ARM, azure_acr_token, op);
	return 0;
}

static void
azure_acr_free(struct azure_backend *ab)
{
	struct azure_acr *c = ab->acr;
	struct azure_acr_op *op, *op_next;
	struct azure_acr_tok *t, *t_next;

	if (c == NULL)
		return;
	/* A registry client that outlives the session asks no more. */
	reg_set_creds_hook(c->reg, NULL, NULL);
	/* Exchanges in flight end without their callbacks: the registry
	 * client goes with the backend. */
	for (op = TAILQ_FIRST(&c->ops); op != NULL; op = op_next) {
		op_next = TAILQ_NEXT(op, entry);
		if (op->tok_id != 0)
			azure_auth_cancel(ab->auth, op->tok_id);
		if (op->http_id != 0)
			httpcli_cancel(c->http, op->http_id);
		azure_acr_op_free(c, op);
	}
	for (t = TAILQ_FIRST(&c->toks); t != NULL; t = t_next) {
		t_next = TAILQ_NEXT(t, entry);
		azure_acr_tok_free(c, t);
	}
	free(c);
	ab->acr = NULL;
}

/* --- the session --- */

/* The credentials and their first ARM token: wrong ones fail here. */
static int
azure_backend_auth(struct azure_backend *ab, struct event_base *base,
    struct httpcli *http, struct err *e)
{
	struct azure_auth_conf conf;
	char *tok = NULL;

	memset(&conf, 0, sizeof(conf));
	conf.tenant_id = ab->tenant_id;
	conf.client_id = ab->client_id;
	conf.client_certificate_path = ab->client_certificate_path;
	conf.client_secret_file = ab->client_secret_file;
	conf.federated_token_file = ab->federated_token_file;
	conf.authority_host = ab->authority_host;
	if ((ab->auth = azure_auth_new(base, http, &conf, e)) == NULL)
		return -1;
	if (azure_auth_token_sync(ab->auth, AZURE_SCOPE_ARM, &tok, e) == -1)
		return -1;
	explicit_bzero(tok, strlen(tok));
	free(tok);
	log_info("Azure credentials from %s", azure_auth_source(ab->auth));
	return 0;
}

/* Whether s is made of the characters ok allows besides letters and
 * digits, and is 1..max long. */
static int
azure_name_ok(const char *s, const char *ok, size_t max)
{
	size_t n = s != NULL ? strlen(s) : 0;

	if (n == 0 || n > max)
		return 0;
	for (; *s != '\0'; s++)
		if (!isalnum((unsigned char)*s) && strchr(ok, *s) == NULL)
			return 0;
	return 1;
}

/* The values that go into every resource path. */
static int
azure_backend_check(const struct azure_backend *ab, struct err *e)
{
	if (!azure_name_ok(ab->subscription, "-", 36)) {
		err_set(e, 500,
		    "Azure subscription is not set or not a subscription id: "
		    "set the backend's subscription key to the subscription's "
		    "GUID");
		return -1;
	}
	if (!azure_name_ok(ab->resource_group, "-_.()", 90)) {
		err_set(e, 500,
		    "Azure resource group is not set or not a valid name (up "
		    "to 90 letters, digits, - _ . ( )): set the backend's "
		    "resource_group key");
		return -1;
	}
	if (!azure_name_ok(ab->location, "", 64)) {
		err_set(e, 500,
		    "Azure location is not set or not a region name: set the "
		    "backend's location key (e.g. westeurope)");
		return -1;
	}
	return 0;
}

int
azure_backend_open(struct azure_backend *ab, struct event_base *base,
    struct httpcli *http, struct reg_client *reg, struct err *e)
{
	struct azure_options o;

	if (azure_backend_check(ab, e) == -1)
		return -1;
	if (azure_backend_auth(ab, base, http, e) == -1)
		goto fail;
	memset(&o, 0, sizeof(o));
	o.auth = ab->auth;
	o.endpoint_arm = ab->endpoint;
	o.endpoint_logs = ab->endpoint_logs;
	if ((ab->az = azure_new(base, http, &o, e)) == NULL)
		goto fail;
	ab->rg_path = xasprintf("/subscriptions/%s/resourceGroups/%s",
	    ab->subscription, ab->resource_group);
	if (reg != NULL) {
		ab->acr = xcalloc(1, sizeof(*ab->acr));
		TAILQ_INIT(&ab->acr->toks);
		TAILQ_INIT(&ab->acr->ops);
		ab->acr->http = http;
		ab->acr->reg = reg;
		reg_set_creds_hook(reg, azure_reg_hook, ab);
	}
	return 0;
fail:
	azure_backend_close(ab);
	return -1;
}

void
azure_backend_close(struct azure_backend *ab)
{
	azure_acr_free(ab);
	azure_free(ab->az);
	ab->az = NULL;
	if (ab->auth != NULL)
		azure_auth_free(ab->auth);
	ab->auth = NULL;
	free(ab->rg_path);
	ab->rg_path = NULL;
}
