/* The token request of each credential (Entra ID's client_credentials
 * grant with a secret, a certificate's assertion or a federated token;
 * the managed identity endpoints) and the parsers of their answers, so
 * the blocking and the event-driven callers share one code path. */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>

#include "sockerless/buf.h"
#include "sockerless/json.h"
#include "sockerless/xmalloc.h"

#include "azure_auth_int.h"
#include "cloud_cred.h"

void
azure_auth_flow_tok_clear(struct azure_tok *t)
{
	cloud_cred_wipe(&t->token);
	t->exp = 0;
}

/* --- requests --- */

char *
azure_auth_flow_token_url(const struct azure_cred *c)
{
	return xasprintf("%s/%s/oauth2/v2.0/token", c->authority, c->tenant);
}

/* The federated token, read afresh: the platform rotates the file. */
static char *
azure_auth_flow_federated(const struct azure_cred *c, struct err *e)
{
	char *text = cloud_cred_read_file(c->path, e), *p, *end;

	if (text == NULL) {
		err_wrap(e, "reading AZURE_FEDERATED_TOKEN_FILE");
		return NULL;
	}
	for (p = text; *p == ' ' || *p == '\t' || *p == '\r' || *p == '\n';)
		p++;
	end = p + strlen(p);
	while (end > p &&
	    (end[-1] == ' ' || end[-1] == '\t' || end[-1] == '\r' ||
		end[-1] == '\n'))
		*--end = '\0';
	if (*p == '\0' || strpbrk(p, " \t\r\n") != NULL) {
		err_set(e, 500,
		    "AZURE_FEDERATED_TOKEN_FILE %s holds %s: it must hold "
		    "one JWT (the platform writes it; check the workload "
		    "identity's token projection)",
		    c->path, *p == '\0' ? "nothing" : "more than one token");
		cloud_cred_wipe(&text);
		return NULL;
	}
	memmove(text, p, strlen(p) + 1);
	return text;
}

static struct httpcli_req *
azure_auth_flow_req_entra(
    const struct azure_cred *c, const char *scope, char **what, struct err *e)
{
	char *url = azure_auth_flow_token_url(c), *assertion = NULL;
	struct httpcli_req *r = NULL;
	struct buf form;

	buf_init(&form, 0);
	if (c->type == AZURE_CRED_CERT)
		assertion =
		    azure_auth_cred_assertion(c, url, azure_auth_now(), e);
	else if (c->type == AZURE_CRED_FEDERATED)
		assertion = azure_auth_flow_federated(c, e);
	if (c->type != AZURE_CRED_SECRET && assertion == NULL)
		goto out;
	cloud_cred_form_add(&form, "grant_type", "client_credentials");
	cloud_cred_form_add(&form, "client_id", c->client_id);
	cloud_cred_form_add(&form, "scope", scope);
	if (c->type == AZURE_CRED_SECRET)
		cloud_cred_form_add(&form, "client_secret", c->secret);
	else {
		cloud_cred_form_add(
		    &form, "client_assertion_type", AZURE_AUTH_JWT_BEARER);
		cloud_cred_form_add(&form, "client_assertion", assertion);
	}
	r = httpcli_req_new("POST", url);
	httpcli_req_header(
	    r, "Content-Type", "application/x-www-form-urlencoded");
	httpcli_req_header(r, "Accept", "application/json");
	httpcli_req_body(r, form.data, form.len);
	httpcli_req_timeouts(r, 10000, 60000);
	*what = xasprintf("the Entra ID token endpoint %s", url);
out:
	if (form.data != NULL)
		OPENSSL_cleanse(form.data, form.len);
	buf_free(&form);
	cloud_cred_wipe(&assertion);
	free(url);
	return r;
}

/* IMDS answers 410 while it is being upgraded; azure-identity retries. */
static int
azure_auth_flow_imds_retry(const struct httpcli_resp *resp, void *arg)
{
	(void)arg;
	return resp->status == 410;
}

static struct httpcli_req *
azure_auth_flow_req_mi(
    const struct azure_cred *c, const char *scope, char **what)
{
	size_t n = strlen(scope);
	char *res = xstrndup(scope, str_suffix(scope, "/.default") ? n - 9 : n);
	int imds = c->type == AZURE_CRED_IMDS;
	struct httpcli_req *r;
	struct buf url;

	buf_init(&url, 0);
	buf_addf(&url, "%s%c", c->endpoint,
	    strchr(c->endpoint, '?') != NULL ? '&' : '?');
	cloud_cred_form_add(
	    &url, "api-version", imds ? "2018-02-01" : "2019-08-01");
	cloud_cred_form_add(&url, "resource", res);
	if (c->client_id != NULL)
		cloud_cred_form_add(&url, "client_id", c->client_id);
	r = httpcli_req_new("GET", url.data);
	if (imds) {
		httpcli_req_header(r, "Metadata", "true");
		/* not on Azure nothing answers there: fail within seconds */
		httpcli_req_timeouts(r, 3000, 20000);
		httpcli_req_retry_if(r, azure_auth_flow_imds_retry, NULL);
		*what = xasprintf(
		    "the managed identity endpoint (IMDS) %s", c->endpoint);
	} else {
		httpcli_req_header(r, "X-IDENTITY-HEADER", c->identity_header);
		httpcli_req_timeouts(r, 10000, 60000);
		*what = xasprintf("the managed identity endpoint "
				  "(IDENTITY_ENDPOINT) %s",
		    c->endpoint);
	}
	httpcli_req_header(r, "Accept", "application/json");
	buf_free(&url);
	free(res);
	return r;
}

struct httpcli_req *
azure_auth_flow_req(
    const struct azure_cred *c, const char *scope, char **what, struct err *e)
{
	*what = NULL;
	if (scope == NULL || *scope == '\0' ||
	    strpbrk(scope, "\r\n\t") != NULL) {
		err_set(e, 500, "the scope \"%.100s\" is not a scope",
		    scope != NULL ? scope : "");
		return NULL;
	}
	if (c->type == AZURE_CRED_APP_SERVICE || c->type == AZURE_CRED_IMDS)
		return azure_auth_flow_req_mi(c, scope, what);
	return azure_auth_flow_req_entra(c, scope, what, e);
}

/* --- answers --- */

/* A number of seconds given as a JSON number or a string of digits. */
static int
azure_auth_flow_num(const cJSON *o, const char *key, int64_t *out)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
	long long n;

	if (cJSON_IsNumber(v))
		return json_num_int(v->valuedouble, out);
	if (cJSON_IsString(v) &&
	    str_tonum(v->valuestring, 0, INT64_MAX / 2, &n, NULL) == 0) {
		*out = n;
		return 0;
	}
	return -1;
}

/* The token goes into an Authorization header: visible ASCII only. */
static int
azure_auth_flow_tok_set(struct azure_tok *t, const cJSON *o, int64_t exp,
    const char *what, struct err *e)
{
	const char *tok = json_str(o, "access_token");
	const char *type = json_str(o, "token_type");

	if (tok == NULL || *tok == '\0')
		return err_set(
		    e, 500, "%s's answer holds no access_token", what);
	for (const char *p = tok; *p; p++)
		if (*p <= ' ' || *p > '~')
			return err_set(e, 500,
			    "%s's access_token is not a bearer token", what);
	if (type != NULL && strcasecmp(type, "Bearer") != 0)
		return err_set(e, 500,
		    "%s answered a \"%.40s\" token, not a Bearer token", what,
		    type);
	if (exp <= azure_auth_now())
		return err_set(
		    e, 500, "%s answered a token already expired", what);
	azure_auth_flow_tok_clear(t);
	t->token = xstrdup(tok);
	t->exp = exp;
	return 0;
}

int
azure_auth_flow_parse_entra(
    const char *body, size_t len, struct azure_tok *t, struct err *e)
{
	cJSON *o = cJSON_ParseWithLength(body, len);
	int64_t in;
	int rc;

	if (!cJSON_IsObject(o))
		rc = err_set(e, 500, "Entra ID's token answer is not JSON");
	else if (azure_auth_flow_num(o, "expires_in", &in) == -1 || in <= 0)
		rc = err_set(e, 500,
		    "Entra ID's token answer has no expires_in in seconds");
	else
		rc = azure_auth_flow_tok_set(
		    t, o, azure_auth_now() + in, "Entra ID", e);
	cJSON_Delete(o);
	return rc;
}

int
azure_auth_flow_parse_mi(
    const char *body, size_t len, struct azure_tok *t, struct err *e)
{
	cJSON *o = cJSON_ParseWithLength(body, len);
	int64_t exp, in;
	int rc;

	if (!cJSON_IsObject(o))
		rc = err_set(e, 500,
		    "the managed identity endpoint's answer is not JSON");
	else if (azure_auth_flow_num(o, "expires_on", &exp) == 0 && exp > 0)
		rc = azure_auth_flow_tok_set(
		    t, o, exp, "the managed identity endpoint", e);
	else if (azure_auth_flow_num(o, "expires_in", &in) == 0 && in > 0)
		rc = azure_auth_flow_tok_set(t, o, azure_auth_now() + in,
		    "the managed identity endpoint", e);
	else
		rc = err_set(e, 500,
		    "the managed identity endpoint's answer has neither "
		    "expires_on nor expires_in in seconds");
	cJSON_Delete(o);
	return rc;
}

int
azure_auth_flow_resp(const struct azure_cred *c, const char *what,
    const struct httpcli_resp *resp, struct azure_tok *t, struct err *e)
{
	int mi =
	    c->type == AZURE_CRED_APP_SERVICE || c->type == AZURE_CRED_IMDS;

	if (resp == NULL || resp->status != 200) {
		azure_auth_flow_answer_err(c, resp, what, e);
		return -1;
	}
	if (mi)
		return azure_auth_flow_parse_mi(
		    resp->body, resp->body_len, t, e);
	return azure_auth_flow_parse_entra(resp->body, resp->body_len, t, e);
}

/* --- failed answers --- */

/* The AADSTS number: error_codes[0], else the description's prefix. */
static long
azure_auth_flow_aadsts(const cJSON *o, const char *desc)
{
	const cJSON *codes = cJSON_GetObjectItemCaseSensitive(o, "error_codes");
	const cJSON *c0 = cJSON_GetArrayItem(codes, 0);
	int64_t n;

	if (cJSON_IsNumber(c0) && json_num_int(c0->valuedouble, &n) == 0)
		return (long)n;
	if (desc != NULL && str_prefix(desc, "AADSTS"))
		return strtol(desc + 6, NULL, 10);
	return 0;
}

/* What the operator should check for an Entra refusal. */
static const char *
azure_auth_flow_hint_entra(
    const struct azure_cred *c, long code, const char *er)
{
	switch (code) {
	case 90002:
	case 900023:
	case 900384:
		return "check AZURE_TENANT_ID";
	case 700016:
		return "check AZURE_CLIENT_ID and that the app is registered "
		       "in the tenant AZURE_TENANT_ID names";
	case 500011:
	case 70011:
		return "check the scope: its resource is not known in the "
		       "tenant";
	case 7000215:
	case 7000222:
		return "check the client secret (AZURE_CLIENT_SECRET or "
		       "client_secret_file): it is wrong or expired";
	case 700027:
	case 700023:
		return "check that the certificate in "
		       "AZURE_CLIENT_CERTIFICATE_PATH is registered on the "
		       "app and not expired";
	case 70021:
	case 700211:
	case 700212:
	case 700213:
	case 700024:
		return "check the app's federated identity credential "
		       "(issuer, subject, audience) and that "
		       "AZURE_FEDERATED_TOKEN_FILE holds a current token";
	}
	if (er != NULL && strcmp(er, "invalid_client") == 0)
		return c->type == AZURE_CRED_SECRET ?
		    "check AZURE_CLIENT_ID and the client secret" :
		    c->type == AZURE_CRED_CERT ?
		    "check AZURE_CLIENT_ID and the certificate registered on "
		    "the app" :
		    "check AZURE_CLIENT_ID and the app's federated identity "
		    "credential";
	return "check AZURE_TENANT_ID, AZURE_CLIENT_ID and the credential";
}

static const char *
azure_auth_flow_hint_mi(const struct azure_cred *c)
{
	if (c->client_id != NULL)
		return "check that the user-assigned identity AZURE_CLIENT_ID "
		       "names is assigned to this resource";
	return "check that this resource has a system-assigned managed "
	       "identity, or set AZURE_CLIENT_ID to a user-assigned one";
}

/* The message of any of the shapes: OAuth {error, error_description},
 * ARM {error: {code, message}}, App Service {statusCode, message}. */
static void
azure_auth_flow_err_text(const cJSON *o, const char **code, const char **msg)
{
	const cJSON *er = cJSON_GetObjectItemCaseSensitive(o, "error");

	*code = *msg = NULL;
	if (cJSON_IsString(er)) {
		*code = er->valuestring;
		*msg = json_str(o, "error_description");
	} else if (cJSON_IsObject(er)) {
		*code = json_str(er, "code");
		*msg = json_str(er, "message");
	} else
		*msg = json_str(o, "message");
}

/* The first line only (Entra appends trace and correlation ids),
 * control characters out, at most 400 bytes. */
static void
azure_auth_flow_first_line(char *out, size_t size, const char *s)
{
	size_t i;

	for (i = 0; s != NULL && s[i] != '\0' && s[i] != '\r' && s[i] != '\n' &&
	     i + 1 < size && i < 400;
	     i++)
		out[i] = (unsigned char)s[i] < ' ' ? ' ' : s[i];
	out[i] = '\0';
}

void
azure_auth_flow_answer_err(const struct azure_cred *c,
    const struct httpcli_resp *resp, const char *what, struct err *e)
{
	int mi =
	    c->type == AZURE_CRED_APP_SERVICE || c->type == AZURE_CRED_IMDS;
	cJSON *o;
	const char *code, *msg, *hint;
	char line[512], cline[64];

	if (resp == NULL || resp->status == 0) {
		/* IMDS is the chain's last resort: say what else there was */
		err_set(e, 502, "%s did not answer: %s%s", what,
		    resp != NULL ? resp->error : "no response",
		    c->type != AZURE_CRED_IMDS ? "" :
						 "; the environment names no "
						 "other credential (IDENTITY_"
						 "ENDPOINT not set either): "
						 "set " AZURE_AUTH_SOURCES);
		return;
	}
	o = cJSON_ParseWithLength(resp->body, resp->body_len);
	azure_auth_flow_err_text(o, &code, &msg);
	azure_auth_flow_first_line(line, sizeof(line), msg);
	azure_auth_flow_first_line(cline, sizeof(cline), code);
	hint = mi ?
	    azure_auth_flow_hint_mi(c) :
	    azure_auth_flow_hint_entra(c, azure_auth_flow_aadsts(o, msg), code);
	if (resp->status >= 500)
		hint = "the service failed; try again later";
	err_set(e, resp->status >= 500 ? 502 : 500,
	    "%s answered HTTP %d%s%s%s%s; %s", what, resp->status,
	    *cline != '\0' ? " " : "", cline, *line != '\0' ? ": " : "", line,
	    hint);
	cJSON_Delete(o);
}
