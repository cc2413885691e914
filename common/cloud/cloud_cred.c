/* Small pieces two token clients would otherwise each write: the secret
 * file reader, form encoding, base64url and RS256 JWT signing. */
#include <ctype.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "sockerless/json.h"
#include "sockerless/xmalloc.h"

#include "cloud_cred.h"

char *
cloud_cred_read_file(const char *path, struct err *e)
{
	FILE *f;
	struct buf b;
	char tmp[4096];
	size_t n;

	if ((f = fopen(path, "rb")) == NULL) {
		err_set(e, 500, "%s: %s", path, strerror(errno));
		return NULL;
	}
	buf_init(&b, CLOUD_CRED_FILE_MAX);
	while ((n = fread(tmp, 1, sizeof(tmp), f)) > 0) {
		if (buf_add(&b, tmp, n) == -1) {
			fclose(f);
			OPENSSL_cleanse(b.data, b.len);
			buf_free(&b);
			err_set(e, 500, "%s: file larger than 1 MiB", path);
			return NULL;
		}
	}
	fclose(f);
	OPENSSL_cleanse(tmp, sizeof(tmp));
	if (b.data == NULL)
		return xstrdup("");
	return buf_take(&b, NULL);
}

void
cloud_cred_wipe(char **p)
{
	if (*p != NULL)
		OPENSSL_cleanse(*p, strlen(*p));
	free(*p);
	*p = NULL;
}

void
cloud_cred_form_add(struct buf *b, const char *key, const char *val)
{
	char last = b->len > 0 ? b->data[b->len - 1] : '?';

	/* after a URL's '?' or a '&' already there, no separator */
	buf_addf(b, "%s%s=", last != '?' && last != '&' ? "&" : "", key);
	for (const unsigned char *p = (const unsigned char *)val; *p; p++) {
		if (isalnum(*p) || strchr("-._~", *p) != NULL)
			buf_add(b, p, 1);
		else
			buf_addf(b, "%%%02X", *p);
	}
}

char *
cloud_cred_b64url(const unsigned char *p, size_t len)
{
	static const char al[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnop"
				 "qrstuvwxyz0123456789-_";
	char *out = xmalloc(len / 3 * 4 + 5), *o = out;
	size_t i;

	for (i = 0; i + 2 < len; i += 3) {
		uint32_t v =
		    (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 | p[i + 2];

		*o++ = al[v >> 18 & 63];
		*o++ = al[v >> 12 & 63];
		*o++ = al[v >> 6 & 63];
		*o++ = al[v & 63];
	}
	if (i < len) {
		uint32_t v = (uint32_t)p[i] << 16 |
		    (i + 1 < len ? (uint32_t)p[i + 1] << 8 : 0);

		*o++ = al[v >> 18 & 63];
		*o++ = al[v >> 12 & 63];
		if (i + 1 < len)
			*o++ = al[v >> 6 & 63];
	}
	*o = '\0';
	return out;
}

static char *
cloud_cred_jwt_seg(cJSON *o)
{
	char *s = json_print(o), *out;

	out = cloud_cred_b64url((const unsigned char *)s, strlen(s));
	OPENSSL_cleanse(s, strlen(s));
	free(s);
	cJSON_Delete(o);
	return out;
}

static int
cloud_cred_jwt_sign(EVP_PKEY *key, const char *input, const char *what,
    struct buf *sig, struct err *e)
{
	EVP_MD_CTX *md = NULL;
	unsigned char *s = NULL;
	size_t n = 0;
	int rc = -1;

	if (EVP_PKEY_base_id(key) != EVP_PKEY_RSA) {
		err_set(e, 500, "%s is not an RSA key (RS256 needs one)", what);
		goto out;
	}
	if ((md = EVP_MD_CTX_new()) == NULL ||
	    EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, key) != 1 ||
	    EVP_DigestSign(md, NULL, &n, (const unsigned char *)input,
		strlen(input)) != 1) {
		err_set(
		    e, 500, "signing the token request with %s failed", what);
		goto out;
	}
	s = xmalloc(n);
	if (EVP_DigestSign(
		md, s, &n, (const unsigned char *)input, strlen(input)) != 1) {
		err_set(
		    e, 500, "signing the token request with %s failed", what);
		goto out;
	}
	buf_add(sig, s, n);
	rc = 0;
out:
	free(s);
	EVP_MD_CTX_free(md);
	return rc;
}

char *
cloud_cred_jwt_rs256(cJSON *header, cJSON *claims, EVP_PKEY *key,
    const char *what, struct err *e)
{
	char *hs = cloud_cred_jwt_seg(header), *cs = cloud_cred_jwt_seg(claims);
	char *input = xasprintf("%s.%s", hs, cs), *sig, *out = NULL;
	struct buf sb;

	buf_init(&sb, 0);
	if (cloud_cred_jwt_sign(key, input, what, &sb, e) == 0) {
		sig = cloud_cred_b64url((unsigned char *)sb.data, sb.len);
		out = xasprintf("%s.%s", input, sig);
		free(sig);
	}
	buf_free(&sb);
	free(hs);
	free(cs);
	free(input);
	return out;
}
