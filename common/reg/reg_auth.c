/* Registry client, credentials: X-Registry-Auth and docker config.json
 * decoding, WWW-Authenticate challenges, and the bearer token cache with
 * its token service requests. Calls down into reg_ref.c (encodings,
 * digests, error texts) only. */
#include <sys/queue.h>

#include <arpa/inet.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "reg_int.h"
#include "sockerless/buf.h"
#include "sockerless/httpcli.h"
#include "sockerless/json.h"
#include "sockerless/log.h"
#include "sockerless/reg.h"
#include "sockerless/xmalloc.h"

#define REG_TOKEN_MAX	  ((size_t)1 << 20)
#define REG_AUTH_FILE_MAX ((size_t)1 << 20)

/* --- credentials ------------------------------------------------------- */

/* Frees s after overwriting it: credentials leave no copy in freed
 * memory. */
static void
reg_wipe(char *s)
{
	if (s != NULL)
		OPENSSL_cleanse(s, strlen(s));
	free(s);
}

void
reg_creds_free(struct reg_creds *c)
{
	if (c == NULL)
		return;
	reg_wipe(c->user);
	reg_wipe(c->pass);
	reg_wipe(c->identitytoken);
	reg_wipe(c->registrytoken);
	memset(c, 0, sizeof(*c));
}

int
reg_creds_any(const struct reg_creds *c)
{
	return (c->user != NULL && c->user[0] != '\0') ||
	    (c->identitytoken != NULL && c->identitytoken[0] != '\0') ||
	    (c->registrytoken != NULL && c->registrytoken[0] != '\0');
}

void
reg_creds_copy(struct reg_creds *dst, const struct reg_creds *src)
{
	dst->user = xstrdup(src->user);
	dst->pass = xstrdup(src->pass);
	dst->identitytoken = xstrdup(src->identitytoken);
	dst->registrytoken = xstrdup(src->registrytoken);
}

/* Fills c from one auth object: {username,password} or {auth} (base64
 * "user:pass"), {identitytoken}, {registrytoken}. */
static int
reg_creds_from_json(const cJSON *o, struct reg_creds *c)
{
	const char *u = json_str(o, "username"), *p = json_str(o, "password");
	const char *a = json_str(o, "auth"), *it, *rt;

	if (!cJSON_IsObject(o))
		return -1;
	it = json_str(o, "identitytoken");
	rt = json_str(o, "registrytoken");
	if (a != NULL && a[0] != '\0' && (u == NULL || u[0] == '\0')) {
		char *raw = str_base64_decode(a, NULL), *colon;

		if (raw == NULL || (colon = strchr(raw, ':')) == NULL) {
			free(raw);
			return -1;
		}
		*colon = '\0';
		c->user = xstrdup(raw);
		c->pass = xstrdup(colon + 1);
		free(raw);
	} else if (u != NULL && u[0] != '\0') {
		c->user = xstrdup(u);
		c->pass = xstrdup(p != NULL ? p : "");
	}
	if (it != NULL && it[0] != '\0')
		c->identitytoken = xstrdup(it);
	if (rt != NULL && rt[0] != '\0')
		c->registrytoken = xstrdup(rt);
	return 0;
}

int
reg_auth_decode(const char *hdr, struct reg_creds *c)
{
	char *raw;
	size_t len;
	cJSON *o;
	int rv;

	memset(c, 0, sizeof(*c));
	if (hdr == NULL || hdr[0] == '\0')
		return 0;
	if ((raw = str_base64_decode(hdr, &len)) == NULL) {
		/* Old clients sent the JSON itself. */
		if (hdr[0] != '{')
			return -1;
		raw = xstrdup(hdr);
		len = strlen(raw);
	}
	if (len == 0) {
		free(raw);
		return 0;
	}
	o = cJSON_ParseWithLength(raw, len);
	free(raw);
	if (o == NULL)
		return -1;
	rv = reg_creds_from_json(o, c);
	cJSON_Delete(o);
	if (rv == -1)
		reg_creds_free(c);
	return rv;
}

char *
reg_auth_key_host(const char *k)
{
	const char *p = k;
	char *h;

	if (str_prefix(p, "https://"))
		p += 8;
	else if (str_prefix(p, "http://"))
		p += 7;
	h = xstrndup(p, strcspn(p, "/"));
	if (strcmp(h, REG_DOCKER_LEGACY) == 0 ||
	    strcmp(h, REG_DOCKER_HOST) == 0) {
		free(h);
		h = xstrdup(REG_DOCKER_DOMAIN);
	}
	return h;
}

static char *
reg_read_file(const char *path, size_t max, size_t *lenp)
{
	FILE *f;
	struct buf b;
	char chunk[4096];
	size_t n;

	if ((f = fopen(path, "r")) == NULL)
		return NULL;
	buf_init(&b, max);
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
		if (buf_add(&b, chunk, n) == -1) {
			buf_free(&b);
			(void)fclose(f);
			return NULL;
		}
	(void)fclose(f);
	(void)buf_adds(&b, "");
	return buf_take(&b, lenp);
}

int
reg_auth_file_lookup(const char *file, const char *host, struct reg_creds *c)
{
	char *data, *want;
	size_t len;
	cJSON *o, *auths, *it;
	int found = 0;

	memset(c, 0, sizeof(*c));
	if (file == NULL || file[0] == '\0' ||
	    (data = reg_read_file(file, REG_AUTH_FILE_MAX, &len)) == NULL)
		return 0;
	o = len > 0 ? cJSON_ParseWithLength(data, len) : NULL;
	free(data);
	if (o == NULL) {
		log_warnx("registry auth file %s is not valid JSON", file);
		return 0;
	}
	want = reg_auth_key_host(host);
	auths = json_obj(o, "auths");
	cJSON_ArrayForEach(it, auths) {
		char *h = reg_auth_key_host(it->string);
		int match = strcmp(h, want) == 0;

		free(h);
		if (!match)
			continue;
		if (reg_creds_from_json(it, c) == 0 && reg_creds_any(c)) {
			found = 1;
			break;
		}
		reg_creds_free(c);
	}
	free(want);
	cJSON_Delete(o);
	return found;
}

/* --- remembered credentials ------------------------------------------ */

static void
reg_known_free(struct reg_known *k)
{
	LIST_REMOVE(k, entry);
	free(k->host);
	reg_creds_free(&k->creds);
	free(k);
}

static struct reg_known *
reg_known_find(struct reg_client *rc, const char *host)
{
	struct reg_known *k;
	char *h = reg_auth_key_host(host);

	LIST_FOREACH(k, &rc->known, entry) {
		if (strcmp(k->host, h) == 0)
			break;
	}
	free(h);
	return k;
}

void
reg_known_put(
    struct reg_client *rc, const char *host, const struct reg_creds *c)
{
	struct reg_known *k = reg_known_find(rc, host);

	if (k != NULL)
		reg_known_free(k);
	if (!reg_creds_any(c))
		return;
	k = xcalloc(1, sizeof(*k));
	k->host = reg_auth_key_host(host);
	reg_creds_copy(&k->creds, c);
	LIST_INSERT_HEAD(&rc->known, k, entry);
}

int
reg_known_lookup(struct reg_client *rc, const char *host, struct reg_creds *c)
{
	struct reg_known *k = reg_known_find(rc, host);

	memset(c, 0, sizeof(*c));
	if (k == NULL)
		return 0;
	reg_creds_copy(c, &k->creds);
	return 1;
}

void
reg_known_clear(struct reg_client *rc)
{
	struct reg_known *k, *next;

	for (k = LIST_FIRST(&rc->known); k != NULL; k = next) {
		next = LIST_NEXT(k, entry);
		reg_known_free(k);
	}
}

int
reg_known_creds(
    struct reg_client *rc, const char *host, char **user, char **pass)
{
	struct reg_known *k = reg_known_find(rc, host);

	*user = *pass = NULL;
	if (k == NULL || k->creds.user == NULL || k->creds.user[0] == '\0')
		return 0;
	*user = xstrdup(k->creds.user);
	*pass = xstrdup(k->creds.pass != NULL ? k->creds.pass : "");
	return 1;
}

/* --- WWW-Authenticate -------------------------------------------------- */

void
reg_challenge_free(struct reg_challenge *c)
{
	if (c == NULL)
		return;
	free(c->scheme);
	free(c->realm);
	free(c->service);
	free(c->scope);
	memset(c, 0, sizeof(*c));
}

/* Reads a token or quoted-string at *sp into a new string. */
static char *
reg_challenge_value(const char **sp)
{
	const char *s = *sp;
	struct buf b;

	buf_init(&b, 0);
	if (*s == '"') {
		for (s++; *s != '\0' && *s != '"'; s++) {
			if (*s == '\\' && s[1] != '\0')
				s++;
			(void)buf_add(&b, s, 1);
		}
		if (*s == '"')
			s++;
	} else
		for (; *s != '\0' && *s != ',' && *s != ' ' && *s != '\t'; s++)
			(void)buf_add(&b, s, 1);
	(void)buf_adds(&b, "");
	*sp = s;
	return buf_take(&b, NULL);
}

int
reg_challenge_parse(const char *h, struct reg_challenge *c)
{
	const char *s = h;
	size_t n;

	memset(c, 0, sizeof(*c));
	if (h == NULL)
		return -1;
	while (*s == ' ' || *s == '\t')
		s++;
	if ((n = strcspn(s, " \t,")) == 0)
		return -1;
	c->scheme = xstrndup(s, n);
	for (char *p = c->scheme; *p != '\0'; p++)
		*p = (char)tolower((unsigned char)*p);
	s += n;
	for (;;) {
		char key[32], *val, **slot = NULL;

		while (*s == ' ' || *s == '\t' || *s == ',')
			s++;
		if (*s == '\0')
			break;
		n = strcspn(s, "= \t,");
		if (s[n] != '=') {
			/* A token with no '=': the next challenge starts. */
			break;
		}
		str_lcpy(key, s, n + 1 < sizeof(key) ? n + 1 : sizeof(key));
		s += n + 1;
		val = reg_challenge_value(&s);
		if (strcasecmp(key, "realm") == 0)
			slot = &c->realm;
		else if (strcasecmp(key, "service") == 0)
			slot = &c->service;
		else if (strcasecmp(key, "scope") == 0)
			slot = &c->scope;
		if (slot != NULL) {
			free(*slot);
			*slot = val;
		} else
			free(val);
	}
	return 0;
}

void
reg_token_free(struct reg_token *t)
{
	LIST_REMOVE(t, entry);
	free(t->key);
	free(t->token);
	free(t);
}

static struct reg_token *
reg_token_find(struct reg_client *rc, const char *key)
{
	struct reg_token *t, *next;
	int64_t now = str_now_ns();

	for (t = LIST_FIRST(&rc->tokens); t != NULL; t = next) {
		next = LIST_NEXT(t, entry);
		if (t->expires_ns <= now)
			reg_token_free(t);
		else if (strcmp(t->key, key) == 0)
			return t;
	}
	return NULL;
}

const char *
reg_token_cached(struct reg_client *rc, const char *key)
{
	struct reg_token *t = reg_token_find(rc, key);

	return t != NULL ? t->token : NULL;
}

void
reg_token_forget(struct reg_client *rc, const char *key)
{
	struct reg_token *t = reg_token_find(rc, key);

	if (t != NULL)
		reg_token_free(t);
}

/* Host, scope and a hash of the credentials, so one client's token never
 * serves another's. */
char *
reg_token_key(const char *host, const char *scope, const struct reg_creds *c)
{
	char *id, *h, *key;

	id = xasprintf("%s\n%s\n%s", c->user != NULL ? c->user : "",
	    c->pass != NULL ? c->pass : "",
	    c->identitytoken != NULL ? c->identitytoken : "");
	h = reg_creds_any(c) ? reg_digest_of(id, strlen(id)) : xstrdup("");
	key = xasprintf("%s\n%s\n%s", host, scope, h);
	free(id);
	free(h);
	return key;
}

char *
reg_authz_basic(const struct reg_creds *c)
{
	char *up = xasprintf("%s:%s", c->user != NULL ? c->user : "",
	    c->pass != NULL ? c->pass : "");
	char *b64 = reg_base64_encode(up), *h;

	h = xasprintf("Basic %s", b64);
	free(b64);
	free(up);
	return h;
}

/* "scope=a&scope=b" for a space-separated list (what docker sends). */
static char *
reg_token_scopes(const char *scope)
{
	struct buf b;
	const char *s = scope;

	buf_init(&b, 0);
	while (*s != '\0') {
		size_t n = strcspn(s, " ");

		if (n > 0) {
			char *one = xstrndup(s, n), *enc = reg_urlencode(one);

			(void)buf_addf(
			    &b, "%sscope=%s", b.len > 0 ? "&" : "", enc);
			free(enc);
			free(one);
		}
		s += n;
		while (*s == ' ')
			s++;
	}
	(void)buf_adds(&b, "");
	return buf_take(&b, NULL);
}

struct httpcli_req *
reg_token_request(const struct reg_challenge *ch, const struct reg_creds *c,
    const char *scope)
{
	char *svc = reg_urlencode(ch->service != NULL ? ch->service : "");
	char *url;
	struct httpcli_req *r;

	if (c->identitytoken != NULL) {
		/* docker login's refresh token: OAuth2 form POST, where
		 * several scopes are one space-separated value. */
		char *rt = reg_urlencode(c->identitytoken), *body;
		char *sc = reg_urlencode(scope);

		r = httpcli_req_new("POST", ch->realm);
		body = xasprintf("grant_type=refresh_token&refresh_token=%s&"
				 "service=%s&scope=%s&client_id=sockerless",
		    rt, svc, sc);
		httpcli_req_header(
		    r, "Content-Type", "application/x-www-form-urlencoded");
		httpcli_req_body(r, body, strlen(body));
		free(body);
		free(rt);
		free(sc);
	} else {
		char *scopes = reg_token_scopes(scope);

		url = xasprintf("%s%c%s%s&%s", ch->realm,
		    strchr(ch->realm, '?') != NULL ? '&' : '?',
		    ch->service != NULL ? "service=" : "", svc, scopes);
		r = httpcli_req_new("GET", url);
		free(url);
		free(scopes);
		if (c->user != NULL && c->user[0] != '\0') {
			char *h = reg_authz_basic(c);

			httpcli_req_header(r, "Authorization", h);
			free(h);
		}
	}
	free(svc);
	httpcli_req_max_response(r, REG_TOKEN_MAX);
	return r;
}

char *
reg_token_take(struct reg_client *rc, const char *key,
    const struct httpcli_resp *resp, const char *host, struct err *e)
{
	char code[64], text[512], *authz = NULL;
	const char *tok;
	struct reg_token *t;
	int64_t ttl;
	cJSON *o = NULL;

	if (resp->status == 0) {
		err_set(e, 502, "registry %s: token service is unreachable: %s",
		    host, resp->error);
		return NULL;
	}
	if (resp->status != 200) {
		reg_errors_text(resp->body, resp->body_len, code, sizeof(code),
		    text, sizeof(text));
		if (resp->status == 401 || resp->status == 403)
			/* reg_errors_text gives "unauthorized: ..." for the
			 * registry's own code: no second prefix. */
			err_set(e, 401, "%s%s",
			    str_prefix(text, "unauthorized:") ?
				"" :
				"unauthorized: ",
			    text[0] != '\0' ? text :
					      "incorrect username or password");
		else
			err_set(e, 502,
			    "registry %s: token service answered HTTP %d%s%s",
			    host, resp->status, text[0] != '\0' ? ": " : "",
			    text);
		return NULL;
	}
	o = cJSON_ParseWithLength(resp->body, resp->body_len);
	if ((tok = json_str(o, "token")) == NULL || tok[0] == '\0')
		tok = json_str(o, "access_token");
	if (tok == NULL || tok[0] == '\0') {
		err_set(e, 502, "registry %s: token service returned no token",
		    host);
		goto out;
	}
	ttl = json_int(o, "expires_in", 60);
	if (ttl < 60)
		ttl = 60;
	/* A registry may send any number: keep ttl * 1e9 within int64. */
	if (ttl > 86400)
		ttl = 86400;
	if ((t = reg_token_find(rc, key)) == NULL) {
		t = xcalloc(1, sizeof(*t));
		t->key = xstrdup(key);
		LIST_INSERT_HEAD(&rc->tokens, t, entry);
	}
	free(t->token);
	t->token = xstrdup(tok);
	/* A little early, so a token never expires in flight. */
	t->expires_ns = str_now_ns() + (ttl - 10) * 1000000000LL;
	authz = xasprintf("Bearer %s", tok);
out:
	cJSON_Delete(o);
	return authz;
}
