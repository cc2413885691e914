/* Registry client, lowest layer: Docker reference parsing and
 * normalisation, digests, base64 and URL encoding, registry error texts and
 * manifest helpers. Pure functions over strings and JSON; calls nothing else
 * in the group. */
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

#define REG_NAME_MAX 255
#define REG_TAG_MAX  128

#define REG_INVALID "invalid reference format"

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

char *
reg_base64_encode(const char *s)
{
	size_t n = strlen(s);
	char *out = xmalloc(lite_b64_len(n) + 1);

	lite_b64_encode((const unsigned char *)s, n, out);
	return out;
}

char *
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
