/* Registry v2 client: Docker reference normalisation, then manifest (and
 * index) and config resolution with token auth, mirrors and insecure
 * registries, driven by the asynchronous HTTP client. */
#include <sys/queue.h>

#include <arpa/inet.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "reg_int.h"
#include "sockerless/buf.h"
#include "sockerless/httpcli.h"
#include "sockerless/json.h"
#include "sockerless/lite.h"
#include "sockerless/log.h"
#include "sockerless/reg.h"
#include "sockerless/xmalloc.h"

#define REG_DOCKER_DOMAIN "docker.io"
#define REG_DOCKER_LEGACY "index.docker.io"
#define REG_DOCKER_HOST	  "registry-1.docker.io"
#define REG_NAME_MAX	  255
#define REG_TAG_MAX	  128
#define REG_MANIFEST_MAX  ((size_t)4 << 20)
#define REG_CONFIG_MAX	  ((size_t)16 << 20)
#define REG_TOKEN_MAX	  ((size_t)1 << 20)
#define REG_AUTH_FILE_MAX ((size_t)1 << 20)

#define REG_INVALID "invalid reference format"

struct reg_token {
	LIST_ENTRY(reg_token) entry;
	char *key; /* host \n scope \n credential hash */
	char *token;
	int64_t expires_ns;
};

struct reg_ep {
	char *base;	 /* "https://registry-1.docker.io" */
	char *host;	 /* "registry-1.docker.io" */
	char *cred_host; /* what credentials are looked up by */
	int mirror;
};

enum reg_step { REG_STEP_MANIFEST, REG_STEP_CHILD, REG_STEP_CONFIG };

struct reg_pull {
	LIST_ENTRY(reg_pull) entry;
	struct reg_client *rc;
	struct reg_ref ref;
	char *familiar;	     /* "busybox:latest" for messages */
	char *familiar_name; /* "busybox" */
	char *scope;	     /* "repository:library/busybox:pull" */
	void (*cb)(void *, const struct reg_image *, const struct err *);
	void *arg;
	struct reg_creds hdr;
	int has_hdr;
	struct reg_ep *eps;
	size_t neps, ep;
	struct event *ev;
	uint64_t http_id;
	int waiting_hook, in_hook, detached;
	int hook_failed;
	struct err hook_err;
	int mirror_said; /* a mirror answered 4xx: mirror_err */
	struct err mirror_err;

	/* Per endpoint. */
	struct reg_creds creds;
	char *authz; /* Authorization value or NULL */
	char *token_key;
	int auth_tries;
	int from_cache;
	enum reg_step step;

	/* Results. */
	char *digest, *manifest_digest, *config_digest;
	cJSON *manifest; /* the platform manifest */
	char *manifest_type;
	int64_t size;
};

static void reg_pull_send(struct reg_pull *p);
static void reg_pull_ep_begin(struct reg_pull *p);
static void reg_pull_got(struct httpcli_resp *resp, void *arg);

/* --- references -------------------------------------------------------- */

static int
reg_alnum_lower(int c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

/* path-component: [a-z0-9]+ ((\.|_|__|-+) [a-z0-9]+)* */
static int
reg_component_ok(const char *s, size_t n)
{
	size_t i = 0;

	if (n == 0 || !reg_alnum_lower((unsigned char)s[0]))
		return 0;
	while (i < n) {
		while (i < n && reg_alnum_lower((unsigned char)s[i]))
			i++;
		if (i == n)
			return 1;
		if (s[i] == '.' ||
		    (s[i] == '_' && (i + 1 >= n || s[i + 1] != '_')))
			i++;
		else if (s[i] == '_')
			i += 2;
		else if (s[i] == '-')
			while (i < n && s[i] == '-')
				i++;
		else
			return 0;
		if (i == n || !reg_alnum_lower((unsigned char)s[i]))
			return 0;
	}
	return 1;
}

static int
reg_path_ok(const char *s, size_t n)
{
	size_t start = 0;

	for (size_t i = 0; i <= n; i++) {
		if (i == n || s[i] == '/') {
			if (!reg_component_ok(s + start, i - start))
				return 0;
			start = i + 1;
		}
	}
	return 1;
}

/* domain-component: [a-zA-Z0-9] | [a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9] */
static int
reg_domain_name_ok(const char *s, size_t n)
{
	size_t start = 0;

	for (size_t i = 0; i <= n; i++) {
		if (i < n && s[i] != '.') {
			if (!isalnum((unsigned char)s[i]) && s[i] != '-')
				return 0;
			continue;
		}
		if (i == start || s[start] == '-' || s[i - 1] == '-')
			return 0;
		start = i + 1;
	}
	return 1;
}

/* host [":" port], host a domain name or "[" IPv6 "]". */
static int
reg_domain_ok(const char *s, size_t n)
{
	const char *colon;
	size_t hn;

	if (n == 0)
		return 0;
	if (s[0] == '[') {
		const char *close = memchr(s, ']', n);
		char v6[64];
		struct in6_addr a;

		if (close == NULL || (size_t)(close - s - 1) >= sizeof(v6))
			return 0;
		memcpy(v6, s + 1, (size_t)(close - s - 1));
		v6[close - s - 1] = '\0';
		if (inet_pton(AF_INET6, v6, &a) != 1)
			return 0;
		hn = (size_t)(close - s + 1);
		colon = hn < n ? s + hn : NULL;
		if (colon != NULL && *colon != ':')
			return 0;
	} else {
		colon = memchr(s, ':', n);
		hn = colon != NULL ? (size_t)(colon - s) : n;
		if (!reg_domain_name_ok(s, hn))
			return 0;
	}
	if (colon != NULL) {
		size_t pn = n - (size_t)(colon - s) - 1;

		if (pn == 0)
			return 0;
		for (size_t i = 1; i <= pn; i++)
			if (!isdigit((unsigned char)colon[i]))
				return 0;
	}
	return 1;
}

/* tag: [\w][\w.-]{0,127} */
static int
reg_tag_ok(const char *s, size_t n)
{
	if (n == 0 || n > REG_TAG_MAX)
		return 0;
	for (size_t i = 0; i < n; i++) {
		int c = (unsigned char)s[i];

		if (!isalnum(c) && c != '_' &&
		    (i == 0 || (c != '.' && c != '-')))
			return 0;
	}
	return 1;
}

/* Syntax only: algorithm ":" hex{32,}, as the reference grammar says. */
static int
reg_digest_syntax_ok(const char *s, size_t n)
{
	const char *colon = memchr(s, ':', n);
	size_t i, hn;

	if (colon == NULL || colon == s || !isalpha((unsigned char)s[0]))
		return 0;
	for (i = 1; s + i < colon; i++) {
		int c = (unsigned char)s[i];

		if (isalnum(c))
			continue;
		if ((c != '+' && c != '.' && c != '_' && c != '-') ||
		    !isalpha((unsigned char)s[i + 1]))
			return 0;
	}
	hn = n - (size_t)(colon - s) - 1;
	if (hn < 32)
		return 0;
	for (i = 1; i <= hn; i++)
		if (!isxdigit((unsigned char)colon[i]))
			return 0;
	return 1;
}

int
reg_digest_check(const char *d, struct err *e)
{
	static const struct {
		const char *alg;
		size_t hexlen;
	} algs[] = { { "sha256", 64 }, { "sha384", 96 }, { "sha512", 128 } };
	const char *colon = strchr(d, ':');
	size_t i;

	if (colon == NULL || !reg_digest_syntax_ok(d, strlen(d)))
		return err_set(e, 400, "invalid checksum digest format");
	for (i = 0; i < sizeof(algs) / sizeof(algs[0]); i++)
		if (strlen(algs[i].alg) == (size_t)(colon - d) &&
		    strncmp(d, algs[i].alg, (size_t)(colon - d)) == 0)
			break;
	if (i == sizeof(algs) / sizeof(algs[0]))
		return err_set(e, 400, "unsupported digest algorithm");
	if (strlen(colon + 1) != algs[i].hexlen)
		return err_set(e, 400, "invalid checksum digest length");
	for (const char *h = colon + 1; *h != '\0'; h++)
		if (!isdigit((unsigned char)*h) && (*h < 'a' || *h > 'f'))
			return err_set(
			    e, 400, "invalid checksum digest format");
	return 0;
}

void
reg_ref_free(struct reg_ref *r)
{
	if (r == NULL)
		return;
	free(r->domain);
	free(r->path);
	free(r->tag);
	free(r->digest);
	memset(r, 0, sizeof(*r));
}

/* distribution/reference splitDockerDomain. */
static void
reg_ref_split(const char *s, char **domain, char **rest)
{
	const char *slash = strchr(s, '/');
	char *first = NULL;
	int lower = 1;

	if (slash != NULL) {
		first = xstrndup(s, (size_t)(slash - s));
		for (char *c = first; *c != '\0'; c++)
			if (isupper((unsigned char)*c))
				lower = 0;
	}
	if (slash == NULL ||
	    (strpbrk(first, ".:") == NULL && strcmp(first, "localhost") != 0 &&
		lower)) {
		*domain = xstrdup(REG_DOCKER_DOMAIN);
		*rest = xstrdup(s);
	} else {
		*domain = xstrdup(first);
		*rest = xstrdup(slash + 1);
	}
	free(first);
	if (strcmp(*domain, REG_DOCKER_LEGACY) == 0) {
		free(*domain);
		*domain = xstrdup(REG_DOCKER_DOMAIN);
	}
	if (strcmp(*domain, REG_DOCKER_DOMAIN) == 0 &&
	    strchr(*rest, '/') == NULL) {
		char *r = xasprintf("library/%s", *rest);

		free(*rest);
		*rest = r;
	}
}

int
reg_ref_parse(const char *s, struct reg_ref *r, struct err *e)
{
	char *domain = NULL, *rest = NULL, *at, *colon, *remote;
	size_t pn;
	int rv = -1;

	memset(r, 0, sizeof(*r));
	if (s == NULL)
		return err_set(e, 400, REG_INVALID);
	if (lite_hex_span(s) == 64 && s[64] == '\0')
		return err_set(e, 400,
		    "invalid repository name (%s), cannot "
		    "specify 64-byte hexadecimal strings",
		    s);
	reg_ref_split(s, &domain, &rest);
	colon = strchr(rest, ':');
	remote = xstrndup(
	    rest, colon != NULL ? (size_t)(colon - rest) : strlen(rest));
	for (char *c = remote; *c != '\0'; c++)
		if (isupper((unsigned char)*c)) {
			err_set(e, 400,
			    "invalid reference format: repository "
			    "name (%s) must be lowercase",
			    remote);
			free(remote);
			goto out;
		}
	free(remote);
	if (!reg_domain_ok(domain, strlen(domain))) {
		err_set(e, 400, REG_INVALID);
		goto out;
	}
	if ((at = strchr(rest, '@')) != NULL) {
		*at++ = '\0';
		if (!reg_digest_syntax_ok(at, strlen(at))) {
			err_set(e, 400, REG_INVALID);
			goto out;
		}
		if (reg_digest_check(at, e) == -1)
			goto out;
		r->digest = xstrdup(at);
	}
	if ((colon = strchr(rest, ':')) != NULL) {
		*colon++ = '\0';
		if (!reg_tag_ok(colon, strlen(colon))) {
			err_set(e, 400, REG_INVALID);
			goto out;
		}
		r->tag = xstrdup(colon);
	}
	pn = strlen(rest);
	if (!reg_path_ok(rest, pn)) {
		err_set(e, 400, REG_INVALID);
		goto out;
	}
	if (strlen(domain) + 1 + pn > REG_NAME_MAX) {
		err_set(e, 400,
		    "repository name must not be more than %d "
		    "characters",
		    REG_NAME_MAX);
		goto out;
	}
	if (r->tag == NULL && r->digest == NULL)
		r->tag = xstrdup("latest");
	r->domain = domain;
	r->path = rest;
	domain = rest = NULL;
	rv = 0;
out:
	if (rv == -1)
		reg_ref_free(r);
	free(domain);
	free(rest);
	return rv;
}

static char *
reg_ref_join(const char *name, const struct reg_ref *r)
{
	return xasprintf("%s%s%s%s%s", name, r->tag != NULL ? ":" : "",
	    r->tag != NULL ? r->tag : "", r->digest != NULL ? "@" : "",
	    r->digest != NULL ? r->digest : "");
}

char *
reg_ref_string(const struct reg_ref *r)
{
	char *name = xasprintf("%s/%s", r->domain, r->path), *s;

	s = reg_ref_join(name, r);
	free(name);
	return s;
}

/* "busybox", "user/x", "host:5000/x": the name without tag or digest. */
char *
reg_ref_familiar_name(const struct reg_ref *r)
{
	if (strcmp(r->domain, REG_DOCKER_DOMAIN) != 0)
		return xasprintf("%s/%s", r->domain, r->path);
	if (str_prefix(r->path, "library/") &&
	    strchr(r->path + strlen("library/"), '/') == NULL)
		return xstrdup(r->path + strlen("library/"));
	return xstrdup(r->path);
}

char *
reg_ref_familiar(const struct reg_ref *r)
{
	char *name = reg_ref_familiar_name(r), *s;

	s = reg_ref_join(name, r);
	free(name);
	return s;
}

/* --- small helpers ----------------------------------------------------- */

static char *
reg_base64_encode(const char *s)
{
	size_t n = strlen(s);
	char *out = xmalloc(lite_b64_len(n) + 1);

	lite_b64_encode((const unsigned char *)s, n, out);
	return out;
}

static char *
reg_urlencode(const char *s)
{
	struct buf b;

	buf_init(&b, 0);
	for (; *s != '\0'; s++) {
		unsigned char c = (unsigned char)*s;

		if (isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~')
			(void)buf_add(&b, s, 1);
		else
			(void)buf_addf(&b, "%%%02X", c);
	}
	(void)buf_adds(&b, "");
	return buf_take(&b, NULL);
}

static char *
reg_digest_alg(const char *alg, const void *p, size_t len)
{
	const EVP_MD *md = EVP_get_digestbyname(alg);
	unsigned char h[EVP_MAX_MD_SIZE];
	char hex[2 * EVP_MAX_MD_SIZE + 1];
	unsigned int hl = 0;

	if (md == NULL || EVP_Digest(p, len, h, &hl, md, NULL) != 1)
		return NULL;
	str_hex(hex, h, hl);
	return xasprintf("%s:%s", alg, hex);
}

char *
reg_digest_of(const void *p, size_t len)
{
	return reg_digest_alg("sha256", p, len);
}

int
reg_digest_verify(const char *digest, const void *p, size_t len)
{
	char alg[16], *got;
	const char *colon = strchr(digest, ':');
	int rv;

	if (colon == NULL || reg_digest_check(digest, NULL) == -1 ||
	    (size_t)(colon - digest) >= sizeof(alg))
		return -1;
	memcpy(alg, digest, (size_t)(colon - digest));
	alg[colon - digest] = '\0';
	if ((got = reg_digest_alg(alg, p, len)) == NULL)
		return -1;
	rv = strcmp(got, digest) == 0 ? 0 : -1;
	free(got);
	return rv;
}

void
reg_errors_text(const char *body, size_t len, char *code, size_t codesz,
    char *text, size_t textsz)
{
	cJSON *o = NULL, *first;
	const char *c, *m;
	char lc[128];
	size_t i;

	str_lcpy(code, "", codesz);
	str_lcpy(text, "", textsz);
	if (body == NULL || len == 0 ||
	    (o = cJSON_ParseWithLength(body, len)) == NULL)
		return;
	first = cJSON_GetArrayItem(json_arr(o, "errors"), 0);
	c = json_str(first, "code");
	m = json_str(first, "message");
	if (c != NULL) {
		str_lcpy(code, c, codesz);
		for (i = 0; i < sizeof(lc) - 1 && c[i] != '\0'; i++)
			lc[i] =
			    (char)(c[i] == '_' ? ' ' :
						 tolower((unsigned char)c[i]));
		lc[i] = '\0';
		(void)snprintf(text, textsz, "%s: %s", lc, m != NULL ? m : "");
	} else if ((m = json_str(o, "details")) != NULL ||
	    (m = json_str(o, "message")) != NULL)
		str_lcpy(text, m, textsz);
	cJSON_Delete(o);
}

/* --- credentials ------------------------------------------------------- */

void
reg_creds_free(struct reg_creds *c)
{
	if (c == NULL)
		return;
	free(c->user);
	free(c->pass);
	free(c->identitytoken);
	free(c->registrytoken);
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

/* "https://index.docker.io/v1/" -> "index.docker.io"; docker.io aliases
 * fold to "docker.io". Caller frees. */
static char *
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

/* --- platforms --------------------------------------------------------- */

static void
reg_platform_norm(const char *arch, const char *variant, char *a, size_t an,
    char *v, size_t vn)
{
	static const struct {
		const char *from, *to, *variant;
	} alias[] = {
		{ "x86_64", "amd64", NULL },
		{ "x86-64", "amd64", NULL },
		{ "aarch64", "arm64", NULL },
		{ "armhf", "arm", "v7" },
		{ "armel", "arm", "v6" },
		{ "i386", "386", NULL },
	};

	str_lcpy(a, arch, an);
	str_lcpy(v, variant != NULL ? variant : "", vn);
	for (size_t i = 0; i < sizeof(alias) / sizeof(alias[0]); i++)
		if (strcmp(a, alias[i].from) == 0) {
			str_lcpy(a, alias[i].to, an);
			if (alias[i].variant != NULL && v[0] == '\0')
				str_lcpy(v, alias[i].variant, vn);
		}
	if (strcmp(a, "arm64") == 0 && (v[0] == '\0' || strcmp(v, "8") == 0))
		str_lcpy(v, "v8", vn);
	else if (strcmp(a, "arm") == 0 && v[0] == '\0')
		str_lcpy(v, "v7", vn);
	else if (strcmp(a, "arm") == 0 && isdigit((unsigned char)v[0])) {
		char t[32];

		(void)snprintf(t, sizeof(t), "v%s", v);
		str_lcpy(v, t, vn);
	} else if (strcmp(a, "amd64") == 0 && strcmp(v, "v1") == 0)
		v[0] = '\0';
}

int
reg_platform_parse(const char *s, struct reg_platform *p, struct err *e)
{
	char os[32] = "", arch[32] = "", variant[32] = "";
	int n;

	memset(p, 0, sizeof(*p));
	if (s == NULL || s[0] == '\0')
		s = "linux/amd64";
	n = sscanf(s, "%31[^/]/%31[^/]/%31[^/]", os, arch, variant);
	if (n < 2 ||
	    strlen(s) !=
		strlen(os) + strlen(arch) + 1 +
		    (n == 3 ? strlen(variant) + 1 : 0))
		return err_set(e, 400,
		    "invalid platform \"%s\": want "
		    "os/arch[/variant]",
		    s);
	for (char *c = os; *c != '\0'; c++)
		*c = (char)tolower((unsigned char)*c);
	str_lcpy(p->os, os, sizeof(p->os));
	for (char *c = arch; *c != '\0'; c++)
		*c = (char)tolower((unsigned char)*c);
	reg_platform_norm(arch, variant, p->arch, sizeof(p->arch), p->variant,
	    sizeof(p->variant));
	return 0;
}

/* 7 for "v7", -1 for anything else. */
static long long
reg_variant_num(const char *v)
{
	long long n;

	if (v[0] != 'v' || str_tonum(v + 1, 1, 99, &n, NULL) == -1)
		return -1;
	return n;
}

/* 0 is an exact match, a larger number a worse one, -1 no match. */
static int
reg_platform_score(const cJSON *plat, const struct reg_platform *want)
{
	const char *os = json_str(plat, "os"),
		   *arch = json_str(plat, "architecture");
	char a[32], v[32];
	long long have, need;

	if (os == NULL || arch == NULL || strcasecmp(os, want->os) != 0)
		return -1;
	reg_platform_norm(
	    arch, json_str(plat, "variant"), a, sizeof(a), v, sizeof(v));
	if (strcmp(a, want->arch) != 0)
		return -1;
	if (strcmp(v, want->variant) == 0)
		return 0;
	/* An arm v7 machine runs v6 and v5 images (containerd's order). */
	if (strcmp(a, "arm") == 0 && (have = reg_variant_num(v)) > 0 &&
	    (need = reg_variant_num(want->variant)) > have)
		return (int)(need - have);
	return -1;
}

const cJSON *
reg_platform_pick(const cJSON *index, const struct reg_platform *p)
{
	const cJSON *it, *best = NULL;
	int best_score = -1;

	cJSON_ArrayForEach(it, json_arr(index, "manifests")) {
		int sc;

		if (json_str(it, "digest") == NULL)
			continue;
		sc = reg_platform_score(json_obj(it, "platform"), p);
		if (sc >= 0 && (best == NULL || sc < best_score)) {
			best = it;
			best_score = sc;
		}
	}
	return best;
}

/* --- insecure registries ----------------------------------------------- */

/* The IP literal of host (port and brackets removed) into a/fam. */
static int
reg_host_ip(const char *host, unsigned char *a, int *fam)
{
	char h[64];
	const char *colon;

	if (host[0] == '[') {
		size_t n = strcspn(host + 1, "]");

		if (n >= sizeof(h))
			return -1;
		memcpy(h, host + 1, n);
		h[n] = '\0';
	} else if ((colon = strchr(host, ':')) != NULL &&
	    strchr(colon + 1, ':') == NULL) {
		if ((size_t)(colon - host) >= sizeof(h))
			return -1;
		memcpy(h, host, (size_t)(colon - host));
		h[colon - host] = '\0';
	} else
		str_lcpy(h, host, sizeof(h));
	if (inet_pton(AF_INET, h, a) == 1) {
		*fam = AF_INET;
		return 0;
	}
	if (inet_pton(AF_INET6, h, a) == 1) {
		*fam = AF_INET6;
		return 0;
	}
	return -1;
}

static int
reg_cidr_match(const char *cidr, const unsigned char *a, int fam)
{
	char net[64];
	const char *slash = strchr(cidr, '/');
	unsigned char n[16];
	long long bits;
	int nfam = strchr(cidr, ':') != NULL ? AF_INET6 : AF_INET;
	int max = nfam == AF_INET ? 32 : 128;

	if (slash == NULL || nfam != fam ||
	    (size_t)(slash - cidr) >= sizeof(net))
		return 0;
	memcpy(net, cidr, (size_t)(slash - cidr));
	net[slash - cidr] = '\0';
	if (inet_pton(nfam, net, n) != 1 ||
	    str_tonum(slash + 1, 0, max, &bits, NULL) == -1)
		return 0;
	for (int i = 0; i < bits; i++) {
		int m = 0x80 >> (i % 8);

		if ((a[i / 8] & m) != (n[i / 8] & m))
			return 0;
	}
	return 1;
}

int
reg_host_insecure(const struct strv *insecure, const char *host)
{
	unsigned char a[16];
	int fam = 0, ip;
	size_t hn = strcspn(host, ":");

	if (strncmp(host, "localhost", hn) == 0 && hn == strlen("localhost"))
		return 1;
	ip = reg_host_ip(host, a, &fam) == 0;
	if (ip &&
	    (reg_cidr_match("127.0.0.0/8", a, fam) ||
		reg_cidr_match("::1/128", a, fam)))
		return 1;
	for (size_t i = 0; insecure != NULL && i < insecure->n; i++) {
		const char *s = insecure->v[i];

		if (str_prefix(s, "http://"))
			s += 7;
		else if (str_prefix(s, "https://"))
			s += 8;
		if (strcmp(s, host) == 0 ||
		    (strncmp(s, host, hn) == 0 && s[hn] == '\0'))
			return 1;
		if (ip && strchr(s, '/') != NULL && reg_cidr_match(s, a, fam))
			return 1;
	}
	return 0;
}

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

static void
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
			err_set(e, 401, "unauthorized: %s",
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

char *
reg_endpoint_base(struct reg_client *rc, const char *d, char **hostp)
{
	if (strcmp(d, REG_DOCKER_DOMAIN) == 0) {
		*hostp = xstrdup(REG_DOCKER_HOST);
		return xstrdup("https://" REG_DOCKER_HOST);
	}
	for (size_t i = 0; i < rc->endpoints.n; i++) {
		const char *m = rc->endpoints.v[i], *eq = strchr(m, '=');
		const char *h;

		if ((size_t)(eq - m) != strlen(d) ||
		    strncmp(m, d, strlen(d)) != 0)
			continue;
		h = strstr(eq + 1, "://") + 3;
		*hostp = xstrndup(h, strcspn(h, "/"));
		return xstrdup(eq + 1);
	}
	*hostp = xstrdup(d);
	return xasprintf("%s://%s",
	    reg_host_insecure(&rc->insecure, d) ? "http" : "https", d);
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
	free(p);
}

/* Calls the callback once and frees p. */
static void
reg_pull_finish(
    struct reg_pull *p, const struct reg_image *img, const struct err *e)
{
	if (p->rc != NULL)
		LIST_REMOVE(p, entry);
	if (e != NULL)
		log_debug(
		    "%s: %s: %d %s", __func__, p->familiar, e->status, e->msg);
	p->cb(p->arg, img, e);
	reg_pull_free(p);
}

static struct reg_ep *
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
	} else if (p->step != REG_STEP_CONFIG &&
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

static void
reg_pull_send(struct reg_pull *p)
{
	struct reg_ep *ep = reg_pull_cur(p);
	const char *what;
	char *url;
	struct httpcli_req *r;

	if (p->step == REG_STEP_CONFIG)
		url = xasprintf("%s/v2/%s/blobs/%s", ep->base, p->ref.path,
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
	if (p->step == REG_STEP_CONFIG)
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
	httpcli_req_header(r, "User-Agent", "sockerless");
	/* A dead mirror should not hold the pull for long. */
	if (ep->mirror) {
		httpcli_req_attempts(r, 2);
		httpcli_req_timeouts(r, 15000, 30000);
	}
	p->http_id = httpcli_send(p->rc->http, r, reg_pull_got, p);
}

/* The media type from Content-Type, else from the document. */
int
reg_manifest_is_index(
    const struct httpcli_resp *resp, const cJSON *doc, char *mt, size_t mtsz)
{
	const char *ct = httpcli_resp_header(resp, "Content-Type");
	const char *m = json_str(doc, "mediaType");

	str_lcpy(mt, m != NULL ? m : ct != NULL ? ct : "", mtsz);
	mt[strcspn(mt, "; ")] = '\0';
	m = mt[0] != '\0' ? mt : NULL;
	if (m != NULL &&
	    (strcmp(m, REG_MT_OCI_INDEX) == 0 ||
		strcmp(m, REG_MT_DOCKER_LIST) == 0))
		return 1;
	if (m != NULL &&
	    (strcmp(m, REG_MT_OCI_MANIFEST) == 0 ||
		strcmp(m, REG_MT_DOCKER_MANIFEST) == 0))
		return 0;
	/* OCI allows omitting mediaType; judge by shape. */
	if (json_arr(doc, "manifests") != NULL)
		return 1;
	if (json_obj(doc, "config") != NULL &&
	    json_int(doc, "schemaVersion", 0) == 2)
		return 0;
	return -1;
}

int64_t
reg_manifest_size(const cJSON *manifest)
{
	const cJSON *l;
	int64_t size = 0, n;

	cJSON_ArrayForEach(l, json_arr(manifest, "layers")) {
		/* The registry's numbers: negative ones count for nothing
		 * and the sum saturates rather than overflow. */
		if ((n = json_int(l, "size", 0)) <= 0)
			continue;
		size = n > INT64_MAX - size ? INT64_MAX : size + n;
	}
	return size;
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
	if (resp->status != 200) {
		reg_pull_http_error(p, resp);
		return;
	}
	p->auth_tries = 0;
	p->from_cache = 0;
	if (p->step == REG_STEP_CONFIG)
		reg_pull_got_config(p, resp);
	else
		reg_pull_got_manifest(p, resp);
}

int
reg_resolve(struct reg_client *rc, const char *ref, const char *auth,
    void (*cb)(void *arg, const struct reg_image *img, const struct err *e),
    void *arg, struct err *e)
{
	struct reg_pull *p = xcalloc(1, sizeof(*p));

	if (reg_ref_parse(ref, &p->ref, e) == -1) {
		free(p);
		return -1;
	}
	p->rc = rc;
	p->cb = cb;
	p->arg = arg;
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
	event_active(p->ev, EV_TIMEOUT, 0);
	return 0;
}
