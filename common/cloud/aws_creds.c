/* The AWS credential chain: environment, web identity (STS), shared
 * files, ECS container credentials, EC2 IMDSv2; refresh before expiry. */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <openssl/crypto.h>

#include "sockerless/aws.h"
#include "sockerless/buf.h"
#include "sockerless/httpcli.h"
#include "sockerless/json.h"
#include "sockerless/log.h"
#include "sockerless/str.h"
#include "sockerless/xmalloc.h"

#include "aws_int.h"

#define AWS_CREDS_FILE_MAX (1024 * 1024)
#define AWS_CREDS_IMDS_URL "http://169.254.169.254"
#define AWS_CREDS_ECS_HOST "http://169.254.170.2"

static const char *
aws_creds_env(const char *name)
{
	const char *v = getenv(name);

	return v != NULL && *v != '\0' ? v : NULL;
}

static char *
aws_creds_read_file(const char *path, struct err *e)
{
	FILE *f;
	struct buf b;
	char tmp[4096];
	size_t n;

	if ((f = fopen(path, "rb")) == NULL) {
		err_set(e, 500, "%s: %s", path, strerror(errno));
		return NULL;
	}
	buf_init(&b, AWS_CREDS_FILE_MAX);
	while ((n = fread(tmp, 1, sizeof(tmp), f)) > 0) {
		if (buf_add(&b, tmp, n) == -1) {
			fclose(f);
			buf_free(&b);
			err_set(e, 500, "%s: file too large", path);
			return NULL;
		}
	}
	fclose(f);
	return buf_take(&b, NULL);
}

static void
aws_creds_trim(char *s)
{
	size_t n = strlen(s), i = 0;

	while (n > 0 && isspace((unsigned char)s[n - 1]))
		s[--n] = '\0';
	while (isspace((unsigned char)s[i]))
		i++;
	memmove(s, s + i, n - i + 1);
}

static int
aws_creds_set(struct aws_creds *c, const char *ak, const char *sk,
    const char *token, int64_t expires, struct err *e)
{
	if (ak == NULL || *ak == '\0' || sk == NULL || *sk == '\0')
		return err_set(e, 500, "partial credentials: %s missing",
		    ak == NULL || *ak == '\0' ? "access key id" :
						"secret access key");
	if (strlen(ak) >= sizeof(c->access_key) ||
	    strlen(sk) >= sizeof(c->secret_key) ||
	    (token != NULL && strlen(token) >= sizeof(c->session_token)))
		return err_set(e, 500, "credentials too long");
	str_lcpy(c->access_key, ak, sizeof(c->access_key));
	str_lcpy(c->secret_key, sk, sizeof(c->secret_key));
	str_lcpy(c->session_token, token != NULL ? token : "",
	    sizeof(c->session_token));
	c->expires = expires;
	return 0;
}

static int
aws_creds_parse_time(const char *s, int64_t *out)
{
	int64_t ns;

	if (s == NULL || str_time_parse(s, &ns) == -1)
		return -1;
	*out = ns / 1000000000;
	return 0;
}

/* --- environment --- */

int
aws_creds_from_env(struct aws_creds *c, struct err *e)
{
	const char *ak = aws_creds_env("AWS_ACCESS_KEY_ID");
	const char *sk = aws_creds_env("AWS_SECRET_ACCESS_KEY");

	if (ak == NULL && sk == NULL) {
		err_set(e, 500, "AWS_ACCESS_KEY_ID not set");
		return AWS_CREDS_ABSENT;
	}
	if (aws_creds_set(
		c, ak, sk, aws_creds_env("AWS_SESSION_TOKEN"), 0, e) == -1)
		return AWS_CREDS_ERROR;
	return AWS_CREDS_OK;
}

/* --- shared files --- */

/* A tiny INI reader: [section], key = value, '#'/';' comment lines. */
char *
aws_creds_ini_get(const char *text, const char *section, const char *key)
{
	char *copy = xstrdup(text), *line, *save = NULL, *val = NULL;
	int in = 0;

	for (line = strtok_r(copy, "\r\n", &save); line != NULL;
	     line = strtok_r(NULL, "\r\n", &save)) {
		char *eq;

		aws_creds_trim(line);
		if (*line == '#' || *line == ';' || *line == '\0')
			continue;
		if (*line == '[') {
			char *end = strrchr(line, ']');

			if (end == NULL)
				continue;
			*end = '\0';
			aws_creds_trim(line + 1);
			in = strcmp(line + 1, section) == 0;
			continue;
		}
		if (!in || (eq = strchr(line, '=')) == NULL)
			continue;
		*eq = '\0';
		aws_creds_trim(line);
		if (strcmp(line, key) == 0) {
			free(val);
			val = xstrdup(eq + 1);
			aws_creds_trim(val);
		}
	}
	free(copy);
	return val;
}

static const char *
aws_creds_profile_name(const char *profile)
{
	const char *p =
	    profile != NULL ? profile : aws_creds_env("AWS_PROFILE");

	return p != NULL ? p : "default";
}

/* Path of a shared file (caller frees), or NULL without HOME. */
static char *
aws_creds_file_path(const char *env, const char *name)
{
	const char *p = aws_creds_env(env), *home;

	if (p != NULL)
		return xstrdup(p);
	if ((home = aws_creds_env("HOME")) == NULL)
		return NULL;
	return xasprintf("%s/.aws/%s", home, name);
}

/* Reads ak/sk/token from one file's section; ABSENT if the file or the
 * keys are missing. */
static int
aws_creds_from_ini(
    const char *path, const char *section, struct aws_creds *c, struct err *e)
{
	char *text, *ak, *sk, *tok;
	int rc = AWS_CREDS_ABSENT;

	if (path == NULL || (text = aws_creds_read_file(path, NULL)) == NULL)
		return AWS_CREDS_ABSENT;
	ak = aws_creds_ini_get(text, section, "aws_access_key_id");
	sk = aws_creds_ini_get(text, section, "aws_secret_access_key");
	tok = aws_creds_ini_get(text, section, "aws_session_token");
	if (ak != NULL || sk != NULL) {
		rc = AWS_CREDS_OK;
		if (aws_creds_set(c, ak, sk, tok, 0, e) == -1) {
			err_wrap(e, "%s [%s]", path, section);
			rc = AWS_CREDS_ERROR;
		}
	}
	if (sk != NULL)
		OPENSSL_cleanse(sk, strlen(sk));
	free(ak);
	free(sk);
	free(tok);
	OPENSSL_cleanse(text, strlen(text));
	free(text);
	return rc;
}

static char *
aws_creds_config_section(const char *profile)
{
	if (strcmp(profile, "default") == 0)
		return xstrdup("default");
	return xasprintf("profile %s", profile);
}

int
aws_creds_from_files(const char *profile, struct aws_creds *c, char *source,
    size_t srclen, struct err *e)
{
	const char *name = aws_creds_profile_name(profile);
	char *cred =
	    aws_creds_file_path("AWS_SHARED_CREDENTIALS_FILE", "credentials");
	char *conf = aws_creds_file_path("AWS_CONFIG_FILE", "config");
	char *section = aws_creds_config_section(name);
	int rc;

	rc = aws_creds_from_ini(cred, name, c, e);
	if (rc == AWS_CREDS_OK)
		snprintf(source, srclen, "shared credentials file (profile %s)",
		    name);
	if (rc == AWS_CREDS_ABSENT) {
		rc = aws_creds_from_ini(conf, section, c, e);
		if (rc == AWS_CREDS_OK)
			snprintf(source, srclen,
			    "shared config file (profile %s)", name);
	}
	if (rc == AWS_CREDS_ABSENT)
		err_set(e, 500, "no keys for profile %s in %s or %s", name,
		    cred != NULL ? cred : "~/.aws/credentials",
		    conf != NULL ? conf : "~/.aws/config");
	free(cred);
	free(conf);
	free(section);
	return rc;
}

char *
aws_creds_profile_region(const char *profile)
{
	char *conf = aws_creds_file_path("AWS_CONFIG_FILE", "config");
	char *section =
	    aws_creds_config_section(aws_creds_profile_name(profile));
	char *text, *region = NULL;

	if (conf != NULL && (text = aws_creds_read_file(conf, NULL)) != NULL) {
		region = aws_creds_ini_get(text, section, "region");
		free(text);
	}
	free(conf);
	free(section);
	return region;
}

/* --- HTTP sources --- */

int
aws_creds_parse_json(
    const char *body, size_t len, struct aws_creds *c, struct err *e)
{
	cJSON *o;
	const char *code, *exp;
	int64_t expires = 0;
	int rc;

	if ((o = json_parse(body, len, e)) == NULL)
		return -1;
	code = json_str(o, "Code");
	if (code != NULL && strcmp(code, "Success") != 0) {
		err_set(e, 500, "credentials endpoint answered Code %s: %s",
		    code, json_str(o, "Message") ? json_str(o, "Message") : "");
		cJSON_Delete(o);
		return -1;
	}
	exp = json_str(o, "Expiration");
	if (exp != NULL && aws_creds_parse_time(exp, &expires) == -1) {
		err_set(e, 500, "bad Expiration \"%s\"", exp);
		cJSON_Delete(o);
		return -1;
	}
	rc = aws_creds_set(c, json_str(o, "AccessKeyId"),
	    json_str(o, "SecretAccessKey"), json_str(o, "Token"), expires, e);
	cJSON_Delete(o);
	return rc;
}

/* Text of the first <tag>...</tag> with the five XML entities decoded
 * (caller frees), or NULL. */
static char *
aws_creds_xml_tag(const char *xml, const char *tag)
{
	static const struct {
		const char *ent;
		char c;
	} ents[] = { { "&amp;", '&' }, { "&lt;", '<' }, { "&gt;", '>' },
		{ "&quot;", '"' }, { "&apos;", '\'' } };
	char *open = xasprintf("<%s>", tag), *close = xasprintf("</%s>", tag);
	const char *s, *end;
	char *out = NULL;
	size_t n = 0;

	if ((s = strstr(xml, open)) == NULL ||
	    (end = strstr(s + strlen(open), close)) == NULL)
		goto out;
	s += strlen(open);
	out = xmalloc((size_t)(end - s) + 1);
	while (s < end) {
		size_t i, k = sizeof(ents) / sizeof(ents[0]);

		for (i = 0; *s == '&' && i < k; i++)
			if (strncmp(s, ents[i].ent, strlen(ents[i].ent)) == 0)
				break;
		if (*s == '&' && i < k) {
			out[n++] = ents[i].c;
			s += strlen(ents[i].ent);
		} else
			out[n++] = *s++;
	}
	out[n] = '\0';
out:
	free(open);
	free(close);
	return out;
}

int
aws_creds_parse_sts_xml(const char *body, struct aws_creds *c, struct err *e)
{
	char *ak = NULL, *sk = NULL, *tok = NULL, *exp = NULL, *cred;
	int64_t expires = 0;
	int rc = -1;

	if ((cred = aws_creds_xml_tag(body, "Credentials")) == NULL) {
		char *code = aws_creds_xml_tag(body, "Code");
		char *msg = aws_creds_xml_tag(body, "Message");

		err_set(e, 500, "STS: %s: %s", code ? code : "no Credentials",
		    msg ? msg : "unexpected response");
		free(code);
		free(msg);
		return -1;
	}
	ak = aws_creds_xml_tag(cred, "AccessKeyId");
	sk = aws_creds_xml_tag(cred, "SecretAccessKey");
	tok = aws_creds_xml_tag(cred, "SessionToken");
	exp = aws_creds_xml_tag(cred, "Expiration");
	if (exp != NULL && aws_creds_parse_time(exp, &expires) == -1)
		err_set(e, 500, "STS: bad Expiration \"%s\"", exp);
	else
		rc = aws_creds_set(c, ak, sk, tok, expires, e);
	free(ak);
	free(sk);
	free(tok);
	free(exp);
	free(cred);
	return rc;
}

/* One blocking request; returns the response (caller frees) or NULL with
 * e set on a transport error or a non-2xx status. */
static struct httpcli_resp *
aws_creds_http(struct httpcli_req *r, const char *what, struct err *e)
{
	struct httpcli_resp *resp = httpcli_perform(r);

	if (resp == NULL) {
		err_set(e, 500, "%s: no response", what);
		return NULL;
	}
	if (resp->status == 0)
		err_set(e, 500, "%s: %s", what, resp->error);
	else if (resp->status < 200 || resp->status > 299)
		err_set(e, 500, "%s: HTTP %d", what, resp->status);
	else
		return resp;
	httpcli_resp_free(resp);
	return NULL;
}

static void
aws_creds_form(struct buf *b, const char *key, const char *val)
{
	buf_addf(b, "%s%s=", b->len > 0 ? "&" : "", key);
	sigv4_uri_encode(b, val, strlen(val), 0);
}

static char *
aws_creds_sts_url(const struct aws_creds_chain *ch)
{
	const char *u = ch->sts_url;

	if (u == NULL || *u == '\0')
		u = aws_creds_env("AWS_ENDPOINT_URL_STS");
	if (u == NULL)
		u = aws_creds_env("AWS_ENDPOINT_URL");
	if (u != NULL)
		return xstrdup(u);
	return xasprintf("https://sts.%s.amazonaws.com/",
	    ch->region != NULL ? ch->region : "us-east-1");
}

/* AssumeRoleWithWebIdentity is sent unsigned (Query protocol, XML out). */
int
aws_creds_from_web_identity(
    const struct aws_creds_chain *ch, struct aws_creds *c, struct err *e)
{
	const char *file = aws_creds_env("AWS_WEB_IDENTITY_TOKEN_FILE");
	const char *role = aws_creds_env("AWS_ROLE_ARN");
	const char *sess = aws_creds_env("AWS_ROLE_SESSION_NAME");
	struct httpcli_req *r;
	struct httpcli_resp *resp;
	struct buf form;
	char *token, *url, name[64];
	int rc = AWS_CREDS_ERROR;

	if (file == NULL || role == NULL) {
		err_set(e, 500,
		    "AWS_WEB_IDENTITY_TOKEN_FILE or AWS_ROLE_ARN "
		    "not set");
		return AWS_CREDS_ABSENT;
	}
	if ((token = aws_creds_read_file(file, e)) == NULL)
		return AWS_CREDS_ERROR;
	aws_creds_trim(token);
	snprintf(name, sizeof(name), "sockerless-%lld", (long long)time(NULL));
	buf_init(&form, 0);
	aws_creds_form(&form, "Action", "AssumeRoleWithWebIdentity");
	aws_creds_form(&form, "Version", "2011-06-15");
	aws_creds_form(&form, "RoleArn", role);
	aws_creds_form(&form, "RoleSessionName", sess != NULL ? sess : name);
	aws_creds_form(&form, "WebIdentityToken", token);
	url = aws_creds_sts_url(ch);
	r = httpcli_req_new("POST", url);
	httpcli_req_header(r, "Content-Type",
	    "application/x-www-form-urlencoded; charset=utf-8");
	httpcli_req_body(r, form.data, form.len);
	httpcli_req_timeouts(r, 5000, 15000);
	if ((resp = httpcli_perform(r)) == NULL || resp->status == 0)
		err_set(e, 500, "STS %s: %s", url,
		    resp != NULL ? resp->error : "no response");
	else if (aws_creds_parse_sts_xml(resp->body, c, e) == 0)
		rc = AWS_CREDS_OK;
	httpcli_resp_free(resp);
	free(url);
	OPENSSL_cleanse(token, strlen(token));
	free(token);
	buf_free(&form);
	return rc;
}

/* FULL_URI must not send the token off the host: https, or a loopback or
 * ECS/EKS link-local address (botocore's rule). */
static int
aws_creds_full_uri_ok(const char *uri)
{
	static const char *const hosts[] = { "127.", "localhost", "[::1]",
		"169.254.170.2", "169.254.170.23", "[fd00:ec2::23]" };
	const char *h;

	if (str_prefix(uri, "https://"))
		return 1;
	if (!str_prefix(uri, "http://"))
		return 0;
	h = uri + strlen("http://");
	for (size_t i = 0; i < sizeof(hosts) / sizeof(hosts[0]); i++) {
		size_t n = strlen(hosts[i]);

		if (strncmp(h, hosts[i], n) == 0 &&
		    (hosts[i][n - 1] == '.' || h[n] == '\0' || h[n] == ':' ||
			h[n] == '/'))
			return 1;
	}
	return 0;
}

static char *
aws_creds_container_auth(struct err *e, int *failed)
{
	const char *file =
	    aws_creds_env("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE");
	const char *tok = aws_creds_env("AWS_CONTAINER_AUTHORIZATION_TOKEN");
	char *t;

	*failed = 0;
	if (file != NULL) {
		if ((t = aws_creds_read_file(file, e)) == NULL)
			*failed = 1;
		else
			aws_creds_trim(t);
		return t;
	}
	return xstrdup(tok);
}

/* Container credentials are configured explicitly, so a slow endpoint is
 * real trouble, not absence: 2 s and one retry. */
int
aws_creds_from_container(struct aws_creds *c, struct err *e)
{
	const char *rel =
	    aws_creds_env("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI");
	const char *full = aws_creds_env("AWS_CONTAINER_CREDENTIALS_FULL_URI");
	struct httpcli_req *r;
	struct httpcli_resp *resp;
	char *url, *auth;
	int failed, rc = AWS_CREDS_ERROR;

	if (rel == NULL && full == NULL) {
		err_set(e, 500,
		    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI/"
		    "FULL_URI not set");
		return AWS_CREDS_ABSENT;
	}
	if (rel == NULL && !aws_creds_full_uri_ok(full))
		return err_set(e, 500,
		    "AWS_CONTAINER_CREDENTIALS_FULL_URI %s "
		    "is neither https nor a local address",
		    full);
	auth = aws_creds_container_auth(e, &failed);
	if (failed)
		return AWS_CREDS_ERROR;
	url = rel != NULL ? xasprintf(AWS_CREDS_ECS_HOST "%s", rel) :
			    xstrdup(full);
	r = httpcli_req_new("GET", url);
	if (auth != NULL)
		httpcli_req_header(r, "Authorization", auth);
	httpcli_req_header(r, "Accept", "application/json");
	httpcli_req_timeouts(r, 2000, 5000);
	httpcli_req_attempts(r, 2);
	if ((resp = aws_creds_http(r, url, e)) != NULL) {
		if (aws_creds_parse_json(resp->body, resp->body_len, c, e) == 0)
			rc = AWS_CREDS_OK;
		else
			err_wrap(e, "%s", url);
		httpcli_resp_free(resp);
	}
	if (auth != NULL)
		OPENSSL_cleanse(auth, strlen(auth));
	free(auth);
	free(url);
	return rc;
}

static struct httpcli_req *
aws_creds_imds_req(
    const char *method, const char *base, const char *path, const char *token)
{
	char *url = xasprintf("%s%s", base, path);
	struct httpcli_req *r = httpcli_req_new(method, url);

	free(url);
	if (token != NULL)
		httpcli_req_header(r, "X-aws-ec2-metadata-token", token);
	httpcli_req_timeouts(r, 1000, 1000);
	httpcli_req_attempts(r, 1);
	return r;
}

/* IMDSv2 session token; falls back to IMDSv1 (NULL token) only when the
 * service says the token API is not there (403/404/405). */
static int
aws_creds_imds_token(const char *base, char **token, struct err *e)
{
	struct httpcli_req *r;
	struct httpcli_resp *resp;

	*token = NULL;
	r = aws_creds_imds_req("PUT", base, "/latest/api/token", NULL);
	httpcli_req_header(r, "X-aws-ec2-metadata-token-ttl-seconds", "21600");
	if ((resp = httpcli_perform(r)) == NULL || resp->status == 0) {
		err_set(e, 500, "%s: %s", base,
		    resp != NULL ? resp->error : "no response");
		httpcli_resp_free(resp);
		return -1;
	}
	if (resp->status >= 200 && resp->status <= 299) {
		*token = xstrdup(resp->body);
		aws_creds_trim(*token);
	} else if (resp->status != 403 && resp->status != 404 &&
	    resp->status != 405) {
		err_set(e, 500, "%s: token: HTTP %d", base, resp->status);
		httpcli_resp_free(resp);
		return -1;
	}
	httpcli_resp_free(resp);
	return 0;
}

static int
aws_creds_imds_fetch(
    const char *base, const char *token, struct aws_creds *c, struct err *e)
{
	const char *path = "/latest/meta-data/iam/security-credentials/";
	struct httpcli_resp *resp;
	char *role, *rpath;
	int rc = -1;

	resp = aws_creds_http(aws_creds_imds_req("GET", base, path, token),
	    "instance metadata role", e);
	if (resp == NULL)
		return -1;
	role = xstrndup(resp->body, strcspn(resp->body, "\r\n"));
	aws_creds_trim(role);
	httpcli_resp_free(resp);
	if (*role == '\0') {
		free(role);
		return err_set(e, 500, "instance has no IAM role");
	}
	rpath = xasprintf("%s%s", path, role);
	resp = aws_creds_http(aws_creds_imds_req("GET", base, rpath, token),
	    "instance metadata credentials", e);
	if (resp != NULL) {
		rc = aws_creds_parse_json(resp->body, resp->body_len, c, e);
		httpcli_resp_free(resp);
	}
	free(rpath);
	free(role);
	return rc;
}

int
aws_creds_from_imds(struct aws_creds *c, struct err *e)
{
	const char *dis = aws_creds_env("AWS_EC2_METADATA_DISABLED");
	const char *ep = aws_creds_env("AWS_EC2_METADATA_SERVICE_ENDPOINT");
	char *base, *token = NULL;
	int rc = AWS_CREDS_ABSENT;

	if (dis != NULL && strcasecmp(dis, "true") == 0) {
		err_set(e, 500, "disabled by AWS_EC2_METADATA_DISABLED");
		return AWS_CREDS_ABSENT;
	}
	base = xstrdup(ep != NULL ? ep : AWS_CREDS_IMDS_URL);
	while (*base != '\0' && base[strlen(base) - 1] == '/')
		base[strlen(base) - 1] = '\0';
	/* Not on EC2 (or IMDS unreachable) is absence, not an error. */
	if (aws_creds_imds_token(base, &token, e) == 0 &&
	    aws_creds_imds_fetch(base, token, c, e) == 0)
		rc = AWS_CREDS_OK;
	free(token);
	free(base);
	return rc;
}

/* --- the chain --- */

void
aws_creds_chain_init(struct aws_creds_chain *ch, const char *profile,
    const char *region, const char *sts_url)
{
	memset(ch, 0, sizeof(*ch));
	ch->profile = xstrdup(profile);
	ch->region = xstrdup(region);
	ch->sts_url = xstrdup(sts_url);
}

void
aws_creds_chain_clear(struct aws_creds_chain *ch)
{
	free(ch->profile);
	free(ch->region);
	free(ch->sts_url);
	OPENSSL_cleanse(&ch->creds, sizeof(ch->creds));
	memset(ch, 0, sizeof(*ch));
}

static int
aws_creds_try(struct aws_creds_chain *ch, enum aws_creds_kind kind,
    struct aws_creds *c, struct err *e)
{
	switch (kind) {
	case AWS_CREDS_ENV:
		snprintf(ch->source, sizeof(ch->source), "environment");
		return aws_creds_from_env(c, e);
	case AWS_CREDS_WEB_IDENTITY:
		snprintf(ch->source, sizeof(ch->source), "web identity");
		return aws_creds_from_web_identity(ch, c, e);
	case AWS_CREDS_FILE:
		snprintf(ch->source, sizeof(ch->source),
		    "shared files "
		    "(profile %s)",
		    aws_creds_profile_name(ch->profile));
		return aws_creds_from_files(
		    ch->profile, c, ch->source, sizeof(ch->source), e);
	case AWS_CREDS_CONTAINER:
		snprintf(
		    ch->source, sizeof(ch->source), "container credentials");
		return aws_creds_from_container(c, e);
	case AWS_CREDS_IMDS:
		snprintf(ch->source, sizeof(ch->source), "instance metadata");
		return aws_creds_from_imds(c, e);
	case AWS_CREDS_NONE:
		break;
	}
	return err_set(e, 500, "unknown credential source");
}

int
aws_creds_resolve(struct aws_creds_chain *ch, struct err *e)
{
	static const enum aws_creds_kind order[] = { AWS_CREDS_ENV,
		AWS_CREDS_WEB_IDENTITY, AWS_CREDS_FILE, AWS_CREDS_CONTAINER,
		AWS_CREDS_IMDS };
	struct buf why;
	struct err se;
	struct aws_creds c;

	buf_init(&why, 0);
	for (size_t i = 0; i < sizeof(order) / sizeof(order[0]); i++) {
		int rc;

		/* An explicit profile means the files, as botocore does. */
		if (order[i] == AWS_CREDS_ENV && ch->profile != NULL) {
			buf_addf(&why,
			    "; environment: skipped, profile %s "
			    "named",
			    ch->profile);
			continue;
		}
		memset(&c, 0, sizeof(c));
		err_clear(&se);
		rc = aws_creds_try(ch, order[i], &c, &se);
		if (rc == AWS_CREDS_OK) {
			ch->kind = order[i];
			ch->creds = c;
			OPENSSL_cleanse(&c, sizeof(c));
			buf_free(&why);
			log_info("aws: credentials from %s%s", ch->source,
			    ch->creds.expires ? " (temporary)" : "");
			return 0;
		}
		if (rc == AWS_CREDS_ERROR) {
			err_set(e, 500, "AWS credentials from %s: %s",
			    ch->source, se.msg);
			ch->source[0] = '\0';
			buf_free(&why);
			return -1;
		}
		buf_addf(&why, "; %s: %s", ch->source, se.msg);
	}
	ch->source[0] = '\0';
	err_set(e, 500, "no AWS credentials found (tried %s)",
	    why.data != NULL ? why.data + 2 : "nothing");
	buf_free(&why);
	return -1;
}

int64_t
aws_creds_refresh_in(const struct aws_creds_chain *ch, int64_t now)
{
	int64_t at;

	if (ch->creds.expires == 0)
		return -1;
	at = ch->creds.expires - AWS_CREDS_REFRESH_MARGIN;
	return at > now ? at - now : 0;
}

int
aws_creds_refresh(struct aws_creds_chain *ch, int64_t now, struct err *e)
{
	struct aws_creds c;
	struct err se;
	int rc;

	if (ch->kind == AWS_CREDS_NONE || aws_creds_refresh_in(ch, now) != 0)
		return 0;
	memset(&c, 0, sizeof(c));
	rc = aws_creds_try(ch, ch->kind, &c, &se);
	if (rc != AWS_CREDS_OK) {
		/* Keep the old ones: they may still be valid for minutes. */
		return err_set(e, 500, "refreshing AWS credentials from %s: %s",
		    ch->source, se.msg);
	}
	ch->creds = c;
	OPENSSL_cleanse(&c, sizeof(c));
	log_info("aws: refreshed credentials from %s", ch->source);
	return 0;
}
