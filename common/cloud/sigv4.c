/* AWS Signature Version 4 (header form) on OpenSSL: canonical request,
 * string to sign, signing key and the Authorization value. */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>

#include "sockerless/aws.h"
#include "sockerless/buf.h"
#include "sockerless/lite.h"
#include "sockerless/str.h"
#include "sockerless/xmalloc.h"

#include "aws_int.h"

#define SIGV4_ALGO "AWS4-HMAC-SHA256"

struct sigv4_hdr {
	char *name;   /* lowercase */
	char *value;  /* trimmed, inner whitespace collapsed */
	size_t order; /* position in the request, for repeated names */
};

struct sigv4_param {
	char *key; /* both RFC 3986 encoded */
	char *value;
};

void
sigv4_sha256_hex(char out[65], const void *p, size_t len)
{
	unsigned char md[SHA256_DIGEST_LENGTH];

	SHA256(p, len, md);
	str_hex(out, md, sizeof(md));
}

static void
sigv4_hmac(
    unsigned char out[32], const void *key, size_t keylen, const char *msg)
{
	unsigned int n = 32;

	HMAC(EVP_sha256(), key, (int)keylen, (const unsigned char *)msg,
	    strlen(msg), out, &n);
}

static int
sigv4_unreserved(unsigned char c)
{
	return isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~';
}

/* RFC 3986 encoding: unreserved bytes stay, the rest is %XX (uppercase). */
void
sigv4_uri_encode(struct buf *b, const char *s, size_t len, int keep_slash)
{
	static const char hex[] = "0123456789ABCDEF";
	char pct[3];

	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if (sigv4_unreserved(c) || (keep_slash && c == '/')) {
			buf_add(b, &s[i], 1);
			continue;
		}
		pct[0] = '%';
		pct[1] = hex[c >> 4];
		pct[2] = hex[c & 15];
		buf_add(b, pct, 3);
	}
}

/* Percent-decodes len bytes; a malformed escape is kept literally. '+' is
 * not a space here: AWS signs it as %2B. Caller frees. */
static char *
sigv4_uri_decode(const char *s, size_t len, size_t *outlen)
{
	char *out = xmalloc(len + 1);
	size_t n = 0;

	for (size_t i = 0; i < len; i++) {
		int hi, lo;

		if (s[i] == '%' && i + 2 < len &&
		    (hi = lite_hexval((unsigned char)s[i + 1])) >= 0 &&
		    (lo = lite_hexval((unsigned char)s[i + 2])) >= 0) {
			out[n++] = (char)(hi << 4 | lo);
			i += 2;
		} else
			out[n++] = s[i];
	}
	out[n] = '\0';
	*outlen = n;
	return out;
}

/* Removes "." and ".." segments and empty segments ("//"); keeps a
 * trailing slash when the original path had one. */
static void
sigv4_normalize_path(struct buf *out, const char *path)
{
	const char **seg;
	size_t nseg = 0, len = strlen(path);
	char *copy = xstrdup(path), *p, *save = NULL;
	int trailing = len > 0 && path[len - 1] == '/';

	seg = xcalloc(len / 2 + 2, sizeof(*seg));
	for (p = strtok_r(copy, "/", &save); p != NULL;
	     p = strtok_r(NULL, "/", &save)) {
		if (strcmp(p, ".") == 0)
			continue;
		if (strcmp(p, "..") == 0) {
			if (nseg > 0)
				nseg--;
			continue;
		}
		seg[nseg++] = p;
	}
	for (size_t i = 0; i < nseg; i++) {
		buf_adds(out, "/");
		buf_adds(out, seg[i]);
	}
	if (nseg == 0 || trailing)
		buf_adds(out, "/");
	free(seg);
	free(copy);
}

static void
sigv4_canonical_uri(struct buf *b, const char *path, int normalize)
{
	struct buf norm;

	if (path == NULL || *path == '\0')
		path = "/";
	if (!normalize) {
		sigv4_uri_encode(b, path, strlen(path), 1);
		return;
	}
	buf_init(&norm, 0);
	sigv4_normalize_path(&norm, path);
	sigv4_uri_encode(b, norm.data, norm.len, 1);
	buf_free(&norm);
}

static int
sigv4_param_cmp(const void *a, const void *b)
{
	const struct sigv4_param *x = a, *y = b;
	int c = strcmp(x->key, y->key);

	return c != 0 ? c : strcmp(x->value, y->value);
}

static char *
sigv4_reencode(const char *s, size_t len)
{
	struct buf b;
	size_t dlen;
	char *dec = sigv4_uri_decode(s, len, &dlen), *out;

	buf_init(&b, 0);
	sigv4_uri_encode(&b, dec, dlen, 0);
	free(dec);
	out = buf_take(&b, NULL);
	return out;
}

/* Decodes what is on the wire, re-encodes it, sorts by bytes. */
static void
sigv4_canonical_query(struct buf *b, const char *query)
{
	struct sigv4_param *pv = NULL;
	size_t n = 0;
	const char *p = query;

	while (p != NULL && *p != '\0') {
		const char *amp = strchr(p, '&');
		size_t len = amp != NULL ? (size_t)(amp - p) : strlen(p);
		const char *eq = memchr(p, '=', len);
		size_t klen = eq != NULL ? (size_t)(eq - p) : len;

		if (len > 0) {
			pv = xreallocarray(pv, n + 1, sizeof(*pv));
			pv[n].key = sigv4_reencode(p, klen);
			pv[n].value = eq != NULL ?
			    sigv4_reencode(eq + 1, len - klen - 1) :
			    xstrdup("");
			n++;
		}
		p = amp != NULL ? amp + 1 : NULL;
	}
	if (n > 0)
		qsort(pv, n, sizeof(*pv), sigv4_param_cmp);
	for (size_t i = 0; i < n; i++) {
		buf_addf(
		    b, "%s%s=%s", i > 0 ? "&" : "", pv[i].key, pv[i].value);
		free(pv[i].key);
		free(pv[i].value);
	}
	free(pv);
}

/* Trims and collapses runs of whitespace (folded lines included). */
static char *
sigv4_header_value(const char *v)
{
	char *out = xmalloc(strlen(v) + 1);
	size_t n = 0;
	int space = 0;

	while (isspace((unsigned char)*v))
		v++;
	for (; *v != '\0'; v++) {
		if (isspace((unsigned char)*v)) {
			space = 1;
			continue;
		}
		if (space && n > 0)
			out[n++] = ' ';
		space = 0;
		out[n++] = *v;
	}
	out[n] = '\0';
	return out;
}

static int
sigv4_hdr_cmp(const void *a, const void *b)
{
	const struct sigv4_hdr *x = a, *y = b;
	int c = strcmp(x->name, y->name);

	if (c != 0)
		return c;
	return x->order < y->order ? -1 : x->order > y->order;
}

/* Parses "Name: value" lines, sorted by name then by request order. */
static struct sigv4_hdr *
sigv4_parse_headers(const char *const *headers, size_t *np)
{
	struct sigv4_hdr *hv = NULL;
	size_t n = 0;

	for (size_t i = 0; headers != NULL && headers[i] != NULL; i++) {
		const char *colon = strchr(headers[i], ':');
		size_t nlen;

		if (colon == NULL)
			continue;
		nlen = (size_t)(colon - headers[i]);
		while (nlen > 0 && isspace((unsigned char)headers[i][nlen - 1]))
			nlen--;
		hv = xreallocarray(hv, n + 1, sizeof(*hv));
		hv[n].name = xstrndup(headers[i], nlen);
		for (char *c = hv[n].name; *c != '\0'; c++)
			*c = (char)tolower((unsigned char)*c);
		hv[n].value = sigv4_header_value(colon + 1);
		hv[n].order = n;
		n++;
	}
	if (n > 0)
		qsort(hv, n, sizeof(*hv), sigv4_hdr_cmp);
	*np = n;
	return hv;
}

/* Appends the canonical headers block and fills signed (";"-joined). */
static void
sigv4_canonical_headers(struct buf *b, struct buf *signed_hdrs,
    const char *const *headers, char payload_hash[65])
{
	struct sigv4_hdr *hv;
	size_t n;

	hv = sigv4_parse_headers(headers, &n);
	for (size_t i = 0; i < n; i++) {
		int first = i == 0 || strcmp(hv[i].name, hv[i - 1].name) != 0;

		if (first) {
			if (i > 0)
				buf_adds(b, "\n");
			buf_addf(b, "%s:", hv[i].name);
			buf_addf(
			    signed_hdrs, "%s%s", i > 0 ? ";" : "", hv[i].name);
		} else
			buf_adds(b, ",");
		buf_adds(b, hv[i].value);
		/* A caller-set payload hash (e.g. UNSIGNED-PAYLOAD) wins. */
		if (strcmp(hv[i].name, "x-amz-content-sha256") == 0)
			str_lcpy(payload_hash, hv[i].value, 65);
	}
	buf_adds(b, "\n");
	for (size_t i = 0; i < n; i++) {
		free(hv[i].name);
		free(hv[i].value);
	}
	free(hv);
}

static char *
sigv4_canonical_request(
    const struct aws_sigv4_req *r, int normalize, char **signed_hdrs)
{
	struct buf b, sh;
	char payload[65];

	buf_init(&b, 0);
	buf_init(&sh, 0);
	sigv4_sha256_hex(payload, r->body != NULL ? r->body : "",
	    r->body != NULL ? r->body_len : 0);
	buf_addf(&b, "%s\n", r->method);
	sigv4_canonical_uri(&b, r->path, normalize);
	buf_adds(&b, "\n");
	sigv4_canonical_query(&b, r->query);
	buf_adds(&b, "\n");
	sigv4_canonical_headers(&b, &sh, r->headers, payload);
	*signed_hdrs = buf_take(&sh, NULL);
	buf_addf(&b, "\n%s\n%s", *signed_hdrs, payload);
	return buf_take(&b, NULL);
}

static void
sigv4_signature(char out[65], const struct aws_creds *c, const char *date,
    const struct aws_sigv4_req *r, const char *sts)
{
	unsigned char k[32];
	char *secret = xasprintf("AWS4%s", c->secret_key);

	sigv4_hmac(k, secret, strlen(secret), date);
	sigv4_hmac(k, k, sizeof(k), r->region);
	sigv4_hmac(k, k, sizeof(k), r->service);
	sigv4_hmac(k, k, sizeof(k), "aws4_request");
	sigv4_hmac(k, k, sizeof(k), sts);
	str_hex(out, k, sizeof(k));
	OPENSSL_cleanse(secret, strlen(secret));
	free(secret);
}

void
sigv4_sign(const struct aws_sigv4_req *r, const struct aws_creds *c,
    int normalize, char **canonical, char **string_to_sign,
    char **authorization)
{
	char date[9], creq_hash[65], sig[65], *creq, *sts, *signed_hdrs;

	str_lcpy(date, r->amz_date, sizeof(date));
	creq = sigv4_canonical_request(r, normalize, &signed_hdrs);
	sigv4_sha256_hex(creq_hash, creq, strlen(creq));
	sts = xasprintf(SIGV4_ALGO "\n%s\n%s/%s/%s/aws4_request\n%s",
	    r->amz_date, date, r->region, r->service, creq_hash);
	if (authorization != NULL) {
		sigv4_signature(sig, c, date, r, sts);
		*authorization = xasprintf(SIGV4_ALGO
		    " Credential=%s/%s/%s/%s"
		    "/aws4_request, SignedHeaders=%s, Signature=%s",
		    c->access_key, date, r->region, r->service, signed_hdrs,
		    sig);
	}
	if (canonical != NULL)
		*canonical = creq;
	else
		free(creq);
	if (string_to_sign != NULL)
		*string_to_sign = sts;
	else
		free(sts);
	free(signed_hdrs);
}

/* Every service but S3 normalises the path (the suite's normalize:true). */
void
aws_sigv4(const struct aws_sigv4_req *r, const struct aws_creds *c,
    char **canonical, char **string_to_sign, char **authorization)
{
	sigv4_sign(r, c, strcmp(r->service, "s3") != 0, canonical,
	    string_to_sign, authorization);
}
