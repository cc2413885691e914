/* The token fetch of each credential type as steps (one HTTP request
 * each), so the blocking and the event-driven callers share one code
 * path; and the parsers of what the endpoints answer. */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>

#include "sockerless/buf.h"
#include "sockerless/json.h"
#include "sockerless/log.h"
#include "sockerless/str.h"
#include "sockerless/xmalloc.h"

#include "cloud_cred.h"
#include "gcp_auth_int.h"

#define GCP_GRANT_JWT	      "urn:ietf:params:oauth:grant-type:jwt-bearer"
#define GCP_GRANT_EXCHANGE    "urn:ietf:params:oauth:grant-type:token-exchange"
#define GCP_TOKEN_TYPE_ACCESS "urn:ietf:params:oauth:token-type:access_token"
#define GCP_MD_SA	      "/computeMetadata/v1/instance/service-accounts/default/"

enum { GCP_STEP_SUBJECT, GCP_STEP_STS, GCP_STEP_IMP };
enum { GCP_STEP_MD_TOKEN, GCP_STEP_MD_PROJECT, GCP_STEP_MD_EMAIL };

static void
gcp_auth_flow_wipe(char *s)
{
	if (s != NULL)
		OPENSSL_cleanse(s, strlen(s));
	free(s);
}

void
gcp_auth_flow_tok_clear(struct gcp_tok *t)
{
	gcp_auth_flow_wipe(t->token);
	t->token = NULL;
	t->exp = 0;
}

/* --- answers --- */

static const char *
gcp_auth_flow_scope(const struct gcp_auth_conf *conf)
{
	return conf->scope != NULL ? conf->scope : GCP_AUTH_SCOPE;
}

static int
gcp_auth_flow_tok_set(
    struct gcp_tok *t, const char *tok, int64_t exp, struct err *e)
{
	if (tok == NULL || *tok == '\0' || strpbrk(tok, " \r\n") != NULL)
		return err_set(e, 500, "the answer holds no usable token");
	gcp_auth_flow_tok_clear(t);
	t->token = xstrdup(tok);
	t->exp = exp;
	return 0;
}

int
gcp_auth_flow_parse_oauth(const char *body, size_t len, int id_token,
    struct gcp_tok *t, struct err *e)
{
	cJSON *o = cJSON_ParseWithLength(body, len);
	const cJSON *ei;
	const char *tok, *type;
	int64_t exp = 0, in;
	int rc = -1;

	if (!cJSON_IsObject(o)) {
		err_set(e, 500, "the answer is not a JSON object");
		goto out;
	}
	if (id_token) {
		tok = json_str(o, "id_token");
		if (tok != NULL && gcp_auth_cred_jwt_exp(tok, &exp, e) == -1)
			goto out;
		rc = gcp_auth_flow_tok_set(t, tok, exp, e);
		goto out;
	}
	type = json_str(o, "token_type");
	if (type != NULL && strcasecmp(type, "Bearer") != 0) {
		err_set(e, 500, "the answer's token_type is not Bearer");
		goto out;
	}
	ei = cJSON_GetObjectItemCaseSensitive(o, "expires_in");
	if (!cJSON_IsNumber(ei) || json_num_int(ei->valuedouble, &in) == -1 ||
	    in <= 0 || in > 7 * 86400) {
		err_set(e, 500, "the answer has no valid expires_in");
		goto out;
	}
	rc = gcp_auth_flow_tok_set(
	    t, json_str(o, "access_token"), gcp_auth_now() + in, e);
out:
	cJSON_Delete(o);
	return rc;
}

int
gcp_auth_flow_parse_iam(const char *body, size_t len, int id_token,
    struct gcp_tok *t, struct err *e)
{
	cJSON *o = cJSON_ParseWithLength(body, len);
	const char *s;
	int64_t ns, exp = 0;
	int rc = -1;

	if (!cJSON_IsObject(o)) {
		err_set(e, 500, "the answer is not a JSON object");
		goto out;
	}
	if (id_token) {
		s = json_str(o, "token");
		if (s != NULL && gcp_auth_cred_jwt_exp(s, &exp, e) == -1)
			goto out;
		rc = gcp_auth_flow_tok_set(t, s, exp, e);
		goto out;
	}
	s = json_str(o, "expireTime");
	if (s == NULL || str_time_parse(s, &ns) == -1) {
		err_set(e, 500, "the answer has no valid expireTime");
		goto out;
	}
	rc = gcp_auth_flow_tok_set(
	    t, json_str(o, "accessToken"), ns / 1000000000, e);
out:
	cJSON_Delete(o);
	return rc;
}

char *
gcp_auth_flow_subject(
    const struct gcp_cred *c, const char *text, size_t len, struct err *e)
{
	cJSON *o;
	const char *s;
	char *out = NULL;

	if (c->src_field == NULL) {
		while (len > 0 && isspace((unsigned char)text[len - 1]))
			len--;
		if (len == 0 || memchr(text, '\0', len) != NULL) {
			err_set(e, 500, "the subject token is empty");
			return NULL;
		}
		return xstrndup(text, len);
	}
	o = cJSON_ParseWithLength(text, len);
	if ((s = json_str(o, c->src_field)) == NULL || *s == '\0')
		err_set(e, 500,
		    "the credential source's JSON has no string field \"%s\"",
		    c->src_field);
	else
		out = xstrdup(s);
	cJSON_Delete(o);
	return out;
}

void
gcp_auth_flow_answer_err(
    const struct httpcli_resp *resp, const char *what, struct err *e)
{
	cJSON *o;
	const cJSON *er;
	const char *a, *b;

	if (resp == NULL || resp->status == 0) {
		err_set(e, 502, "%s did not answer: %s", what,
		    resp != NULL ? resp->error : "no response");
		return;
	}
	o = cJSON_ParseWithLength(resp->body, resp->body_len);
	er = cJSON_GetObjectItemCaseSensitive(o, "error");
	if (cJSON_IsString(er)) { /* OAuth 2.0 */
		b = json_str(o, "error_description");
		err_set(e, 500, "%s answered HTTP %d: %s%s%.300s", what,
		    resp->status, er->valuestring, b ? ": " : "", b ? b : "");
	} else if (cJSON_IsObject(er)) { /* google.rpc.Status */
		a = json_str(er, "status");
		b = json_str(er, "message");
		err_set(e, 500, "%s answered HTTP %d: %s%s%.300s", what,
		    resp->status, a ? a : "", a && b ? ": " : "", b ? b : "");
	} else
		err_set(e, 500, "%s answered HTTP %d", what, resp->status);
	cJSON_Delete(o);
}

/* --- requests --- */

/* google-auth retries these OAuth errors whatever the status. */
static int
gcp_auth_flow_retry(const struct httpcli_resp *resp, void *arg)
{
	static const char *const codes[] = { "internal_failure", "server_error",
		"temporarily_unavailable" };
	cJSON *o;
	const char *er;
	int retry = 0;

	(void)arg;
	if (resp->status < 400 ||
	    (o = cJSON_ParseWithLength(resp->body, resp->body_len)) == NULL)
		return 0;
	if ((er = json_str(o, "error")) != NULL)
		for (size_t i = 0; i < sizeof(codes) / sizeof(codes[0]); i++)
			retry |= strcmp(er, codes[i]) == 0;
	cJSON_Delete(o);
	return retry;
}

static struct httpcli_req *
gcp_auth_flow_post(struct gcp_flow *f, const char *url, struct buf *form)
{
	struct httpcli_req *r = httpcli_req_new("POST", url);

	httpcli_req_header(
	    r, "Content-Type", "application/x-www-form-urlencoded");
	httpcli_req_header(r, "Accept", "application/json");
	httpcli_req_body(r, form->data, form->len);
	httpcli_req_timeouts(r, 10000, 60000);
	httpcli_req_retry_if(r, gcp_auth_flow_retry, NULL);
	OPENSSL_cleanse(form->data, form->len);
	buf_free(form);
	free(f->what);
	f->what = xasprintf("the token endpoint %s", url);
	return r;
}

static const char *
gcp_auth_flow_token_uri(const struct gcp_flow *f)
{
	if (f->conf->token_uri != NULL)
		return f->conf->token_uri;
	return f->c->token_uri != NULL ? f->c->token_uri : GCP_AUTH_TOKEN_URI;
}

static struct httpcli_req *
gcp_auth_flow_req_sa(struct gcp_flow *f, struct err *e)
{
	const char *uri = gcp_auth_flow_token_uri(f);
	char *jwt = gcp_auth_cred_jwt(f->c, uri, gcp_auth_flow_scope(f->conf),
	    f->audience, gcp_auth_now(), e);
	struct buf form;

	if (jwt == NULL)
		return NULL;
	buf_init(&form, 0);
	cloud_cred_form_add(&form, "grant_type", GCP_GRANT_JWT);
	cloud_cred_form_add(&form, "assertion", jwt);
	gcp_auth_flow_wipe(jwt);
	return gcp_auth_flow_post(f, uri, &form);
}

static struct httpcli_req *
gcp_auth_flow_req_user(struct gcp_flow *f, struct err *e)
{
	struct buf form;

	if (f->audience != NULL) {
		err_set(e, 500,
		    "authorized user credentials cannot mint ID tokens; use a "
		    "service account key or impersonation");
		return NULL;
	}
	buf_init(&form, 0);
	cloud_cred_form_add(&form, "grant_type", "refresh_token");
	cloud_cred_form_add(&form, "client_id", f->c->client_id);
	cloud_cred_form_add(&form, "client_secret", f->c->client_secret);
	cloud_cred_form_add(&form, "refresh_token", f->c->refresh_token);
	return gcp_auth_flow_post(f, gcp_auth_flow_token_uri(f), &form);
}

static struct httpcli_req *
gcp_auth_flow_req_subject(struct gcp_flow *f)
{
	struct httpcli_req *r = httpcli_req_new("GET", f->c->src_url);

	for (size_t i = 0; i < f->c->src_headers.n; i++) {
		const char *h = f->c->src_headers.v[i];
		char *name = xstrndup(h, strcspn(h, ":"));

		httpcli_req_header(r, name, h + strlen(name) + 2);
		free(name);
	}
	httpcli_req_timeouts(r, 5000, 30000);
	free(f->what);
	f->what = xasprintf("the credential source URL %s", f->c->src_url);
	return r;
}

static struct httpcli_req *
gcp_auth_flow_req_sts(struct gcp_flow *f, struct err *e)
{
	const struct gcp_cred *c = f->c;
	char *url, *opt;
	struct buf form;
	struct httpcli_req *r;

	if (f->sts_token == NULL) { /* the file source, read afresh */
		char *text = cloud_cred_read_file(c->src_file, e);

		if (text == NULL)
			return NULL;
		f->sts_token = gcp_auth_flow_subject(c, text, strlen(text), e);
		gcp_auth_flow_wipe(text);
		if (f->sts_token == NULL)
			return NULL;
	}
	buf_init(&form, 0);
	cloud_cred_form_add(&form, "grant_type", GCP_GRANT_EXCHANGE);
	cloud_cred_form_add(&form, "audience", c->audience);
	cloud_cred_form_add(&form, "scope",
	    c->imp_url != NULL ? GCP_AUTH_SCOPE : gcp_auth_flow_scope(f->conf));
	cloud_cred_form_add(
	    &form, "requested_token_type", GCP_TOKEN_TYPE_ACCESS);
	cloud_cred_form_add(&form, "subject_token", f->sts_token);
	cloud_cred_form_add(&form, "subject_token_type", c->subject_token_type);
	if (c->user_project != NULL && c->imp_url == NULL) {
		cJSON *o = cJSON_CreateObject();

		json_add_str(o, "userProject", c->user_project);
		opt = json_print(o);
		cloud_cred_form_add(&form, "options", opt);
		free(opt);
		cJSON_Delete(o);
	}
	gcp_auth_flow_wipe(f->sts_token);
	f->sts_token = NULL;
	if (f->conf->sts_endpoint != NULL)
		url = xasprintf("%s/v1/token", f->conf->sts_endpoint);
	else
		url =
		    xstrdup(c->sts_url != NULL ? c->sts_url : GCP_AUTH_STS_URI);
	r = gcp_auth_flow_post(f, url, &form);
	free(f->what);
	f->what = xasprintf("the STS endpoint %s", url);
	free(url);
	return r;
}

/* The impersonation URL with conf's iamcredentials host, and the ID-token
 * method instead of the access-token one when an audience is asked. */
static char *
gcp_auth_flow_imp_url(const struct gcp_flow *f)
{
	const char *u = f->c->imp_url,
		   *path = strchr(strstr(u, "://") + 3, '/');
	const char *ep = f->conf->iamcredentials_endpoint;
	size_t n;
	char *url;

	url = ep != NULL ? xasprintf("%s%s", ep, path != NULL ? path : "") :
			   xstrdup(u);
	if (f->audience != NULL) {
		n = strlen(url) - strlen(":generateAccessToken");
		url[n] = '\0';
		char *id = xasprintf("%s:generateIdToken", url);

		free(url);
		url = id;
	}
	return url;
}

static struct httpcli_req *
gcp_auth_flow_req_imp(struct gcp_flow *f)
{
	char *url = gcp_auth_flow_imp_url(f), *auth, *body;
	cJSON *o = cJSON_CreateObject(), *sc;
	struct httpcli_req *r = httpcli_req_new("POST", url);

	if (f->audience != NULL) {
		json_add_str(o, "audience", f->audience);
		json_add_bool(o, "includeEmail", 1);
	} else {
		sc = cJSON_AddArrayToObject(o, "scope");
		cJSON_AddItemToArray(
		    sc, cJSON_CreateString(gcp_auth_flow_scope(f->conf)));
		json_add_str(o, "lifetime", "3600s");
	}
	body = json_print(o);
	cJSON_Delete(o);
	auth = xasprintf("Bearer %s", f->sts_token);
	httpcli_req_header(r, "Authorization", auth);
	httpcli_req_header(r, "Content-Type", "application/json");
	httpcli_req_body(r, body, strlen(body));
	httpcli_req_timeouts(r, 10000, 60000);
	gcp_auth_flow_wipe(auth);
	free(body);
	free(f->what);
	f->what = xasprintf("iamcredentials %s", url);
	free(url);
	return r;
}

static struct httpcli_req *
gcp_auth_flow_req_md(struct gcp_flow *f)
{
	struct buf path;
	struct httpcli_req *r;
	char *url;

	buf_init(&path, 0);
	if (f->step == GCP_STEP_MD_PROJECT)
		buf_adds(&path, "/computeMetadata/v1/project/project-id");
	else if (f->step == GCP_STEP_MD_EMAIL)
		buf_adds(&path, GCP_MD_SA "email");
	else if (f->audience != NULL) {
		buf_adds(&path, GCP_MD_SA "identity?format=full");
		cloud_cred_form_add(&path, "audience", f->audience);
	} else {
		buf_adds(&path, GCP_MD_SA "token");
		if (f->conf->scope != NULL) {
			buf_adds(&path, "?");
			cloud_cred_form_add(&path, "scopes", f->conf->scope);
		}
	}
	url = xasprintf("http://%s%s", f->c->md_host, path.data);
	r = httpcli_req_new("GET", url);
	httpcli_req_header(r, "Metadata-Flavor", "Google");
	httpcli_req_timeouts(r, 3000, 10000);
	free(f->what);
	f->what = xasprintf("the metadata server %s", f->c->md_host);
	free(url);
	buf_free(&path);
	return r;
}

void
gcp_auth_flow_init(struct gcp_flow *f, const struct gcp_cred *c,
    const struct gcp_auth_conf *conf, const char *audience)
{
	memset(f, 0, sizeof(*f));
	f->c = c;
	f->conf = conf;
	f->audience = audience != NULL ? xstrdup(audience) : NULL;
	if (c->type == GCP_CRED_EXTERNAL)
		f->step = c->src_url != NULL ? GCP_STEP_SUBJECT : GCP_STEP_STS;
}

void
gcp_auth_flow_clear(struct gcp_flow *f)
{
	free(f->audience);
	gcp_auth_flow_wipe(f->sts_token);
	free(f->what);
	free(f->md_project);
	free(f->md_email);
	memset(f, 0, sizeof(*f));
}

struct httpcli_req *
gcp_auth_flow_req(struct gcp_flow *f, struct err *e)
{
	switch (f->c->type) {
	case GCP_CRED_SERVICE_ACCOUNT:
		return gcp_auth_flow_req_sa(f, e);
	case GCP_CRED_AUTHORIZED_USER:
		return gcp_auth_flow_req_user(f, e);
	case GCP_CRED_METADATA:
		return gcp_auth_flow_req_md(f);
	case GCP_CRED_EXTERNAL:
		if (f->audience != NULL && f->c->imp_url == NULL)
			break;
		if (f->step == GCP_STEP_SUBJECT)
			return gcp_auth_flow_req_subject(f);
		if (f->step == GCP_STEP_STS)
			return gcp_auth_flow_req_sts(f, e);
		return gcp_auth_flow_req_imp(f);
	}
	err_set(e, 500,
	    "workload identity federation without service account "
	    "impersonation cannot mint ID tokens; set "
	    "service_account_impersonation_url in the credentials file");
	return NULL;
}

/* The metadata server's text answers (project id, e-mail): one line. */
static char *
gcp_auth_flow_md_text(const struct httpcli_resp *resp)
{
	size_t n = strcspn(resp->body, "\r\n");

	if (resp->status != 200 || n == 0 || n > 256)
		return NULL;
	return xstrndup(resp->body, n);
}

static int
gcp_auth_flow_md(struct gcp_flow *f, const struct httpcli_resp *resp,
    struct gcp_tok *t, struct err *e)
{
	const char *flavor =
	    resp != NULL ? httpcli_resp_header(resp, "Metadata-Flavor") : NULL;
	int rc;

	if (resp == NULL || resp->status == 0) {
		if (f->step == GCP_STEP_MD_TOKEN) {
			gcp_auth_flow_answer_err(resp, f->what, e);
			return -1;
		}
		/* The project and e-mail are optional facts. */
		return f->step++ == GCP_STEP_MD_PROJECT ? 0 : 1;
	}
	if (flavor == NULL || strcmp(flavor, "Google") != 0)
		return err_set(e, 502,
		    "%s answered without Metadata-Flavor: Google; it is not "
		    "a Google metadata server (check GCE_METADATA_HOST)",
		    f->what);
	if (f->step == GCP_STEP_MD_TOKEN) {
		if (resp->status != 200)
			return gcp_auth_flow_answer_err(resp, f->what, e), -1;
		if (f->audience != NULL) {
			char *body =
			    xstrndup(resp->body, strcspn(resp->body, "\r\n"));
			int64_t exp;

			rc = gcp_auth_cred_jwt_exp(body, &exp, e);
			if (rc == 0)
				rc = gcp_auth_flow_tok_set(t, body, exp, e);
			gcp_auth_flow_wipe(body);
			return rc == -1 ? -1 : 1;
		}
		if (gcp_auth_flow_parse_oauth(
			resp->body, resp->body_len, 0, t, e) == -1)
			return -1;
		f->step = GCP_STEP_MD_PROJECT;
		return 0;
	}
	/* The account's project and e-mail are for log lines and defaults;
	 * a server that lacks them leaves them unknown. */
	if (f->step == GCP_STEP_MD_PROJECT) {
		f->md_project = gcp_auth_flow_md_text(resp);
		f->step = GCP_STEP_MD_EMAIL;
		return 0;
	}
	f->md_email = gcp_auth_flow_md_text(resp);
	return 1;
}

static int gcp_auth_flow_step(struct gcp_flow *f,
    const struct httpcli_resp *resp, struct gcp_tok *t, struct err *e);

int
gcp_auth_flow_resp(struct gcp_flow *f, const struct httpcli_resp *resp,
    struct gcp_tok *t, struct err *e)
{
	int rc;

	if (f->c->type == GCP_CRED_METADATA)
		rc = gcp_auth_flow_md(f, resp, t, e);
	else
		rc = gcp_auth_flow_step(f, resp, t, e);
	/* Transport and status errors already name the endpoint. */
	if (rc == -1 && resp != NULL && resp->status >= 200 &&
	    resp->status <= 299)
		err_wrap(e, "%s", f->what);
	return rc;
}

static int
gcp_auth_flow_step(struct gcp_flow *f, const struct httpcli_resp *resp,
    struct gcp_tok *t, struct err *e)
{
	int id = f->audience != NULL;

	if (resp == NULL || resp->status < 200 || resp->status > 299)
		return gcp_auth_flow_answer_err(resp, f->what, e), -1;
	if (f->c->type != GCP_CRED_EXTERNAL)
		return gcp_auth_flow_parse_oauth(
			   resp->body, resp->body_len, id, t, e) == -1 ?
		    -1 :
		    1;
	if (f->step == GCP_STEP_SUBJECT) {
		f->sts_token =
		    gcp_auth_flow_subject(f->c, resp->body, resp->body_len, e);
		f->step = GCP_STEP_STS;
		return f->sts_token == NULL ? -1 : 0;
	}
	if (f->step == GCP_STEP_IMP)
		return gcp_auth_flow_parse_iam(
			   resp->body, resp->body_len, id, t, e) == -1 ?
		    -1 :
		    1;
	if (gcp_auth_flow_parse_oauth(resp->body, resp->body_len, 0, t, e) ==
	    -1)
		return -1;
	if (f->c->imp_url == NULL)
		return 1;
	f->sts_token = t->token;
	t->token = NULL;
	f->step = GCP_STEP_IMP;
	return 0;
}
