/* Google credentials files (service_account, authorized_user,
 * external_account), the RS256 assertion of a service account, and the
 * token answers of Google's endpoints. Everything here reads text from
 * outside, so every field is checked and every failure is a sentence. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "sockerless/buf.h"
#include "sockerless/json.h"
#include "sockerless/str.h"
#include "sockerless/xmalloc.h"

#include "cloud_cred.h"
#include "gcp_auth_int.h"

void
gcp_auth_cred_clear(struct gcp_cred *c)
{
	cloud_cred_wipe(&c->private_key);
	cloud_cred_wipe(&c->client_secret);
	cloud_cred_wipe(&c->refresh_token);
	free(c->project);
	free(c->email);
	free(c->key_id);
	free(c->token_uri);
	free(c->client_id);
	free(c->audience);
	free(c->subject_token_type);
	free(c->sts_url);
	free(c->imp_url);
	free(c->src_file);
	free(c->src_url);
	free(c->src_field);
	free(c->user_project);
	free(c->md_host);
	strv_free(&c->src_headers);
	memset(c, 0, sizeof(*c));
}

/* A string field: required ones missing or of another type are named. */
static int
gcp_auth_cred_str(const cJSON *o, const char *key, int required, char **out,
    const char *path, struct err *e)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

	if (v == NULL || cJSON_IsNull(v)) {
		if (!required)
			return 0;
		err_set(e, 500, "%s: the credentials file has no \"%s\"", path,
		    key);
		return -1;
	}
	if (!cJSON_IsString(v) || (required && *v->valuestring == '\0')) {
		err_set(e, 500,
		    "%s: \"%s\" in the credentials file must be a non-empty "
		    "string",
		    path, key);
		return -1;
	}
	*out = xstrdup(v->valuestring);
	return 0;
}

/* Only Google's public universe: elsewhere every endpoint differs, and a
 * key sent to googleapis.com would fail in a way nobody could act on. */
static int
gcp_auth_cred_universe(const cJSON *o, const char *path, struct err *e)
{
	char *u = NULL;
	int rc = 0;

	if (gcp_auth_cred_str(o, "universe_domain", 0, &u, path, e) == -1)
		return -1;
	if (u != NULL && strcmp(u, "googleapis.com") != 0)
		rc = err_set(e, 500,
		    "%s: universe_domain \"%s\" is not supported (only "
		    "googleapis.com)",
		    path, u);
	free(u);
	return rc;
}

static int
gcp_auth_cred_sa(
    struct gcp_cred *c, const cJSON *o, const char *path, struct err *e)
{
	if (gcp_auth_cred_str(o, "client_email", 1, &c->email, path, e) == -1 ||
	    gcp_auth_cred_str(o, "private_key", 1, &c->private_key, path, e) ==
		-1 ||
	    gcp_auth_cred_str(o, "private_key_id", 0, &c->key_id, path, e) ==
		-1 ||
	    gcp_auth_cred_str(o, "token_uri", 0, &c->token_uri, path, e) ==
		-1 ||
	    gcp_auth_cred_str(o, "project_id", 0, &c->project, path, e) == -1)
		return -1;
	if (gcp_auth_cred_universe(o, path, e) == -1)
		return -1;
	if (!str_prefix(c->private_key, "-----BEGIN PRIVATE KEY-----"))
		return err_set(e, 500,
		    "%s: \"private_key\" is not a PKCS#8 PEM key (it must "
		    "start with -----BEGIN PRIVATE KEY-----); download a new "
		    "JSON key for %s",
		    path, c->email);
	return 0;
}

static int
gcp_auth_cred_user(
    struct gcp_cred *c, const cJSON *o, const char *path, struct err *e)
{
	if (gcp_auth_cred_str(o, "client_id", 1, &c->client_id, path, e) ==
		-1 ||
	    gcp_auth_cred_str(
		o, "client_secret", 1, &c->client_secret, path, e) == -1 ||
	    gcp_auth_cred_str(
		o, "refresh_token", 1, &c->refresh_token, path, e) == -1 ||
	    gcp_auth_cred_str(o, "token_uri", 0, &c->token_uri, path, e) ==
		-1 ||
	    gcp_auth_cred_str(o, "quota_project_id", 0, &c->project, path, e) ==
		-1)
		return -1;
	return 0;
}

static int
gcp_auth_cred_headers(
    struct gcp_cred *c, const cJSON *src, const char *path, struct err *e)
{
	const cJSON *h = cJSON_GetObjectItemCaseSensitive(src, "headers"), *it;

	if (h == NULL)
		return 0;
	if (!cJSON_IsObject(h))
		return err_set(e, 500,
		    "%s: credential_source.headers must be an object", path);
	cJSON_ArrayForEach(it, h) {
		if (!cJSON_IsString(it) || strpbrk(it->string, ":\r\n") ||
		    strpbrk(it->valuestring, "\r\n"))
			return err_set(e, 500,
			    "%s: credential_source.headers.%s must be a "
			    "one-line string",
			    path, it->string);
		strv_take(&c->src_headers,
		    xasprintf("%s: %s", it->string, it->valuestring));
	}
	return 0;
}

static int
gcp_auth_cred_format(
    struct gcp_cred *c, const cJSON *src, const char *path, struct err *e)
{
	const cJSON *f = cJSON_GetObjectItemCaseSensitive(src, "format");
	char *type = NULL;
	int rc = 0;

	if (f == NULL)
		return 0;
	if (!cJSON_IsObject(f))
		return err_set(e, 500,
		    "%s: credential_source.format must be an object", path);
	if (gcp_auth_cred_str(f, "type", 0, &type, path, e) == -1)
		return -1;
	if (type == NULL || strcmp(type, "text") == 0)
		goto out;
	if (strcmp(type, "json") != 0) {
		rc = err_set(e, 500,
		    "%s: credential_source.format.type \"%s\" is neither "
		    "\"text\" nor \"json\"",
		    path, type);
		goto out;
	}
	rc = gcp_auth_cred_str(
	    f, "subject_token_field_name", 1, &c->src_field, path, e);
out:
	free(type);
	return rc;
}

static int
gcp_auth_cred_source(
    struct gcp_cred *c, const cJSON *o, const char *path, struct err *e)
{
	const cJSON *src =
	    cJSON_GetObjectItemCaseSensitive(o, "credential_source");

	if (!cJSON_IsObject(src))
		return err_set(e, 500,
		    "%s: an external_account file needs a "
		    "\"credential_source\" object",
		    path);
	if (cJSON_GetObjectItemCaseSensitive(src, "executable") != NULL)
		return err_set(e, 500,
		    "%s: executable credential sources are refused: "
		    "sockerless never runs a program named in a credentials "
		    "file; write the subject token to a file and use a "
		    "\"file\" source",
		    path);
	if (cJSON_GetObjectItemCaseSensitive(src, "environment_id") != NULL)
		return err_set(e, 500,
		    "%s: AWS credential sources (environment_id) are not "
		    "supported; use a \"file\" or \"url\" source",
		    path);
	if (gcp_auth_cred_str(src, "file", 0, &c->src_file, path, e) == -1 ||
	    gcp_auth_cred_str(src, "url", 0, &c->src_url, path, e) == -1)
		return -1;
	if ((c->src_file == NULL) == (c->src_url == NULL))
		return err_set(e, 500,
		    "%s: credential_source needs exactly one of \"file\" and "
		    "\"url\"",
		    path);
	if (gcp_auth_cred_headers(c, src, path, e) == -1)
		return -1;
	return gcp_auth_cred_format(c, src, path, e);
}

/* The account an impersonation URL names (…/serviceAccounts/<e-mail>:
 * generateAccessToken). */
static int
gcp_auth_cred_imp_email(struct gcp_cred *c, const char *path, struct err *e)
{
	const char *s = strstr(c->imp_url, "/serviceAccounts/"), *end;

	if (!str_prefix(c->imp_url, "https://") &&
	    !str_prefix(c->imp_url, "http://"))
		return err_set(e, 500,
		    "%s: service_account_impersonation_url is not an http(s) "
		    "URL",
		    path);
	if (s == NULL || (end = strstr(s, ":generateAccessToken")) == NULL ||
	    end[strlen(":generateAccessToken")] != '\0')
		return err_set(e, 500,
		    "%s: service_account_impersonation_url must end in "
		    "/serviceAccounts/<e-mail>:generateAccessToken",
		    path);
	s += strlen("/serviceAccounts/");
	c->email = xstrndup(s, (size_t)(end - s));
	return 0;
}

static int
gcp_auth_cred_ext(
    struct gcp_cred *c, const cJSON *o, const char *path, struct err *e)
{
	if (gcp_auth_cred_str(o, "audience", 1, &c->audience, path, e) == -1 ||
	    gcp_auth_cred_str(o, "subject_token_type", 1,
		&c->subject_token_type, path, e) == -1 ||
	    gcp_auth_cred_str(o, "token_url", 0, &c->sts_url, path, e) == -1 ||
	    gcp_auth_cred_str(o, "service_account_impersonation_url", 0,
		&c->imp_url, path, e) == -1 ||
	    gcp_auth_cred_str(o, "quota_project_id", 0, &c->project, path, e) ==
		-1 ||
	    gcp_auth_cred_str(o, "workforce_pool_user_project", 0,
		&c->user_project, path, e) == -1)
		return -1;
	if (c->imp_url != NULL && gcp_auth_cred_imp_email(c, path, e) == -1)
		return -1;
	return gcp_auth_cred_source(c, o, path, e);
}

int
gcp_auth_cred_parse(struct gcp_cred *c, const char *text, size_t len,
    const char *path, struct err *e)
{
	cJSON *o;
	char *type = NULL;
	int rc = -1;

	memset(c, 0, sizeof(*c));
	strv_init(&c->src_headers);
	if ((o = cJSON_ParseWithLength(text, len)) == NULL ||
	    !cJSON_IsObject(o)) {
		err_set(e, 500,
		    "%s: not a JSON object; is it a Google credentials "
		    "file?",
		    path);
		goto out;
	}
	if (gcp_auth_cred_str(o, "type", 1, &type, path, e) == -1)
		goto out;
	if (strcmp(type, "service_account") == 0) {
		c->type = GCP_CRED_SERVICE_ACCOUNT;
		rc = gcp_auth_cred_sa(c, o, path, e);
	} else if (strcmp(type, "authorized_user") == 0) {
		c->type = GCP_CRED_AUTHORIZED_USER;
		rc = gcp_auth_cred_user(c, o, path, e);
	} else if (strcmp(type, "external_account") == 0) {
		c->type = GCP_CRED_EXTERNAL;
		rc = gcp_auth_cred_ext(c, o, path, e);
	} else
		err_set(e, 500,
		    "%s: credentials of type \"%s\" are not supported (use "
		    "service_account, authorized_user or external_account)",
		    path, type);
out:
	free(type);
	cJSON_Delete(o);
	if (rc == -1)
		gcp_auth_cred_clear(c);
	return rc;
}

/* --- the JWT --- */

/* The service account's PEM key (PKCS#8 as Google writes it). */
static EVP_PKEY *
gcp_auth_cred_key(const char *pem, struct err *e)
{
	BIO *bio = BIO_new_mem_buf(pem, -1);
	EVP_PKEY *pk = NULL;

	if (bio == NULL ||
	    (pk = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL)) == NULL)
		err_set(e, 500,
		    "the service account's private_key is not a readable "
		    "PEM key");
	BIO_free(bio);
	return pk;
}

char *
gcp_auth_cred_jwt(const struct gcp_cred *c, const char *aud, const char *scope,
    const char *target_audience, int64_t now, struct err *e)
{
	EVP_PKEY *pk = gcp_auth_cred_key(c->private_key, e);
	cJSON *h, *cl;
	char *out;

	if (pk == NULL)
		return NULL;
	h = cJSON_CreateObject();
	cl = cJSON_CreateObject();
	json_add_str(h, "alg", "RS256");
	json_add_str(h, "typ", "JWT");
	if (c->key_id != NULL)
		json_add_str(h, "kid", c->key_id);
	json_add_str(cl, "iss", c->email);
	if (target_audience != NULL)
		json_add_str(cl, "target_audience", target_audience);
	else
		json_add_str(cl, "scope", scope);
	json_add_str(cl, "aud", aud);
	json_add_int(cl, "iat", now);
	json_add_int(cl, "exp", now + GCP_AUTH_JWT_LIFETIME);
	out = cloud_cred_jwt_rs256(h, cl, pk, "the service account's key", e);
	EVP_PKEY_free(pk);
	return out;
}

int
gcp_auth_cred_jwt_exp(const char *jwt, int64_t *exp, struct err *e)
{
	const char *p = strchr(jwt, '.'), *end;
	char *seg, *json;
	size_t n;
	cJSON *o = NULL;
	int rc = -1;

	if (p == NULL || (end = strchr(p + 1, '.')) == NULL)
		return err_set(e, 500, "the ID token is not a JWT");
	seg = xstrndup(p + 1, (size_t)(end - p - 1));
	json = str_base64_decode(seg, &n);
	free(seg);
	if (json == NULL || (o = cJSON_ParseWithLength(json, n)) == NULL ||
	    !cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(o, "exp")))
		err_set(e, 500, "the ID token's payload has no exp claim");
	else if (json_num_int(
		     cJSON_GetObjectItemCaseSensitive(o, "exp")->valuedouble,
		     exp) == -1 ||
	    *exp <= 0)
		err_set(e, 500, "the ID token's exp claim is not a time");
	else
		rc = 0;
	cJSON_Delete(o);
	free(json);
	return rc;
}
