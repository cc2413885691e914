/* Finding the Azure credential in DefaultAzureCredential's order, the
 * client certificate (PEM or PKCS#12) and its signed client assertion.
 * Everything here reads text from outside, so every failure is a
 * sentence naming the file or variable to fix. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/pkcs12.h>
#include <openssl/rand.h>
#include <openssl/x509.h>

#include "sockerless/buf.h"
#include "sockerless/json.h"
#include "sockerless/xmalloc.h"

#include "azure_auth_int.h"
#include "cloud_cred.h"

static const char *
azure_auth_cred_getenv(const char *name)
{
	const char *v = getenv(name);

	return v != NULL && *v != '\0' ? v : NULL;
}

static const char *
azure_auth_cred_pick(const char *conf, const char *env)
{
	return conf != NULL && *conf != '\0' ? conf :
					       azure_auth_cred_getenv(env);
}

void
azure_auth_cred_clear(struct azure_cred *c)
{
	cloud_cred_wipe(&c->secret);
	cloud_cred_wipe(&c->identity_header);
	EVP_PKEY_free(c->key);
	free(c->tenant);
	free(c->client_id);
	free(c->authority);
	free(c->x5t);
	strv_free(&c->x5c);
	free(c->path);
	free(c->endpoint);
	memset(c, 0, sizeof(*c));
}

/* A tenant goes into the token URL's path: Entra's own characters only. */
static int
azure_auth_cred_tenant_ok(const char *t)
{
	if (*t == '\0' || strlen(t) > 128)
		return 0;
	for (const char *p = t; *p; p++)
		if (!(*p >= 'a' && *p <= 'z') && !(*p >= 'A' && *p <= 'Z') &&
		    !(*p >= '0' && *p <= '9') && *p != '-' && *p != '.')
			return 0;
	return 1;
}

/* An http(s) URL; a bare host gets https://, as azure-identity does. A
 * base (a host to append paths to) loses its trailing '/'; an endpoint
 * (IDENTITY_ENDPOINT) is kept as the platform wrote it. */
static int
azure_auth_cred_url(
    const char *v, const char *var, int base, char **out, struct err *e)
{
	const char *host;
	size_t n;

	if (strpbrk(v, " \t\r\n?#") != NULL)
		return err_set(e, 500,
		    "%s \"%.200s\" is not a URL: give scheme://host[:port]",
		    var, v);
	if (str_prefix(v, "http://") || str_prefix(v, "https://"))
		*out = xstrdup(v);
	else if (strstr(v, "://") != NULL)
		return err_set(e, 500,
		    "%s \"%.200s\" must be an http or https URL", var, v);
	else
		*out = xasprintf("https://%s", v);
	host = strstr(*out, "://") + 3;
	if (*host == '\0' || *host == '/') {
		free(*out);
		*out = NULL;
		return err_set(e, 500, "%s \"%.200s\" names no host", var, v);
	}
	n = strlen(*out);
	while (base && n > 0 && (*out)[n - 1] == '/')
		(*out)[--n] = '\0';
	return 0;
}

/* The first line of the client secret file. */
static int
azure_auth_cred_secret_file(
    struct azure_cred *c, const char *path, struct err *e)
{
	char *text = cloud_cred_read_file(path, e);

	if (text == NULL)
		return err_wrap(e, "reading client_secret_file");
	text[strcspn(text, "\r\n")] = '\0';
	if (*text == '\0') {
		free(text);
		return err_set(e, 500,
		    "client_secret_file %s is empty: its first line must "
		    "be the client secret",
		    path);
	}
	c->secret = text;
	return 0;
}

static int
azure_auth_cred_cert_file(struct azure_cred *c, const char *path, struct err *e)
{
	const char *pw =
	    azure_auth_cred_getenv("AZURE_CLIENT_CERTIFICATE_PASSWORD");
	const char *chain =
	    azure_auth_cred_getenv("AZURE_CLIENT_SEND_CERTIFICATE_CHAIN");
	size_t len, n;
	struct buf b;
	FILE *f;
	char tmp[4096];
	int rc;

	if ((f = fopen(path, "rb")) == NULL)
		return err_set(e, 500,
		    "AZURE_CLIENT_CERTIFICATE_PATH %s cannot be read: %s", path,
		    strerror(errno));
	buf_init(&b, CLOUD_CRED_FILE_MAX);
	rc = 0;
	while (rc == 0 && (n = fread(tmp, 1, sizeof(tmp), f)) > 0)
		rc = buf_add(&b, tmp, n);
	fclose(f);
	OPENSSL_cleanse(tmp, sizeof(tmp));
	len = b.len;
	if (rc == -1)
		rc = err_set(e, 500,
		    "AZURE_CLIENT_CERTIFICATE_PATH %s is larger than 1 MiB: "
		    "not a certificate file",
		    path);
	else
		rc = azure_auth_cred_cert_load(
		    c, b.data != NULL ? b.data : "", len, pw, path, e);
	if (b.data != NULL)
		OPENSSL_cleanse(b.data, b.len);
	buf_free(&b);
	c->send_chain = chain != NULL &&
	    (strcasecmp(chain, "true") == 0 || strcmp(chain, "1") == 0);
	return rc;
}

/* The environment's credential (1. and 2.); 1 when it names none. */
static int
azure_auth_cred_env(struct azure_cred *c, const struct azure_auth_conf *conf,
    char **source, struct err *e)
{
	const char *secret = azure_auth_cred_getenv("AZURE_CLIENT_SECRET");
	const char *sfile = conf->client_secret_file;
	const char *cert = azure_auth_cred_pick(
	    conf->client_certificate_path, "AZURE_CLIENT_CERTIFICATE_PATH");
	const char *fed = azure_auth_cred_pick(
	    conf->federated_token_file, "AZURE_FEDERATED_TOKEN_FILE");
	const char *named = sfile != NULL ? "client_secret_file" :
	    secret != NULL		  ? "AZURE_CLIENT_SECRET" :
	    cert != NULL		  ? "AZURE_CLIENT_CERTIFICATE_PATH" :
	    fed != NULL			  ? "AZURE_FEDERATED_TOKEN_FILE" :
					    NULL;

	if (named == NULL)
		return 1;
	if (c->tenant == NULL || c->client_id == NULL)
		return err_set(e, 500,
		    "%s is set but %s is not: a client secret, certificate "
		    "or federated token needs AZURE_TENANT_ID and "
		    "AZURE_CLIENT_ID (sources: " AZURE_AUTH_SOURCES ")",
		    named,
		    c->tenant == NULL ? "AZURE_TENANT_ID" : "AZURE_CLIENT_ID");
	if (sfile != NULL || secret != NULL) {
		c->type = AZURE_CRED_SECRET;
		if (sfile != NULL &&
		    azure_auth_cred_secret_file(c, sfile, e) == -1)
			return -1;
		if (c->secret == NULL)
			c->secret = xstrdup(secret);
		*source = xasprintf("client secret for app %s in tenant %s",
		    c->client_id, c->tenant);
		return 0;
	}
	if (cert != NULL) {
		c->type = AZURE_CRED_CERT;
		c->path = xstrdup(cert);
		*source = xasprintf("client certificate %s", cert);
		return azure_auth_cred_cert_file(c, cert, e);
	}
	c->type = AZURE_CRED_FEDERATED;
	c->path = xstrdup(fed);
	*source = xasprintf("workload identity (%s)", fed);
	return 0;
}

/* The managed identities of other hosts azure-identity also knows: each
 * needs a protocol of its own, so naming one is an error rather than a
 * silent fall through to IMDS. */
static int
azure_auth_cred_mi_other(const char *ep, struct err *e)
{
	const char *what = NULL;

	if (ep != NULL && azure_auth_cred_getenv("IMDS_ENDPOINT") != NULL)
		what = "IMDS_ENDPOINT with IDENTITY_ENDPOINT (Azure Arc)";
	else if (ep != NULL &&
	    azure_auth_cred_getenv("IDENTITY_SERVER_THUMBPRINT") != NULL)
		what = "IDENTITY_SERVER_THUMBPRINT (Service Fabric)";
	else if (ep == NULL && azure_auth_cred_getenv("MSI_ENDPOINT") != NULL)
		what = "MSI_ENDPOINT (Cloud Shell, or App Service's 2017 "
		       "endpoint)";
	if (what == NULL)
		return 0;
	return err_set(e, 500,
	    "%s names a managed identity sockerless does not support; use "
	    "one of: " AZURE_AUTH_SOURCES,
	    what);
}

static int
azure_auth_cred_mi(struct azure_cred *c, const struct azure_auth_conf *conf,
    char **source, struct err *e)
{
	const char *ep =
	    azure_auth_cred_pick(conf->identity_endpoint, "IDENTITY_ENDPOINT");
	const char *hdr = azure_auth_cred_getenv("IDENTITY_HEADER");
	const char *imds = azure_auth_cred_pick(
	    conf->imds_host, "AZURE_POD_IDENTITY_AUTHORITY_HOST");
	char *base = NULL;

	if (azure_auth_cred_mi_other(ep, e) == -1)
		return -1;
	if (ep != NULL) {
		if (hdr == NULL || strpbrk(hdr, "\r\n") != NULL)
			return err_set(e, 500,
			    "IDENTITY_ENDPOINT is set but IDENTITY_HEADER is "
			    "%s: the App Service managed identity endpoint "
			    "needs both (sources: " AZURE_AUTH_SOURCES ")",
			    hdr == NULL ? "not" : "not one line");
		if (azure_auth_cred_url(
			ep, "IDENTITY_ENDPOINT", 0, &c->endpoint, e))
			return -1;
		c->type = AZURE_CRED_APP_SERVICE;
		c->identity_header = xstrdup(hdr);
		*source = xstrdup("managed identity (App Service endpoint)");
		return 0;
	}
	if (azure_auth_cred_url(imds != NULL ? imds : AZURE_AUTH_IMDS,
		"AZURE_POD_IDENTITY_AUTHORITY_HOST", 1, &base, e) == -1)
		return -1;
	c->type = AZURE_CRED_IMDS;
	c->endpoint = xasprintf("%s/metadata/identity/oauth2/token", base);
	free(base);
	*source = xstrdup("managed identity (IMDS)");
	return 0;
}

int
azure_auth_cred_find(struct azure_cred *c, const struct azure_auth_conf *conf,
    char **source, struct err *e)
{
	static const struct azure_auth_conf none = { 0 };
	const char *tenant, *client, *auth;
	int rc;

	memset(c, 0, sizeof(*c));
	strv_init(&c->x5c);
	*source = NULL;
	if (conf == NULL)
		conf = &none;
	tenant = azure_auth_cred_pick(conf->tenant_id, "AZURE_TENANT_ID");
	client = azure_auth_cred_pick(conf->client_id, "AZURE_CLIENT_ID");
	auth =
	    azure_auth_cred_pick(conf->authority_host, "AZURE_AUTHORITY_HOST");
	if (tenant != NULL && !azure_auth_cred_tenant_ok(tenant))
		return err_set(e, 500,
		    "AZURE_TENANT_ID \"%.100s\" is not a tenant: give the "
		    "directory's GUID or domain name",
		    tenant);
	if (client != NULL && strpbrk(client, " \t\r\n&") != NULL)
		return err_set(e, 500,
		    "AZURE_CLIENT_ID \"%.100s\" is not an application id",
		    client);
	c->tenant = tenant != NULL ? xstrdup(tenant) : NULL;
	c->client_id = client != NULL ? xstrdup(client) : NULL;
	if (azure_auth_cred_url(auth != NULL ? auth : AZURE_AUTH_AUTHORITY,
		"AZURE_AUTHORITY_HOST", 1, &c->authority, e) == -1)
		return -1;
	rc = azure_auth_cred_env(c, conf, source, e);
	if (rc == 1)
		rc = azure_auth_cred_mi(c, conf, source, e);
	return rc;
}

/* --- the certificate --- */

static int
azure_auth_cred_pw_cb(char *buf, int size, int rwflag, void *u)
{
	size_t n = u != NULL ? strlen(u) : 0;

	(void)rwflag;
	if (u == NULL || n >= (size_t)size)
		return -1;
	memcpy(buf, u, n);
	return (int)n;
}

/* x5t and x5c of leaf (first) and the others. */
static int
azure_auth_cred_cert_ids(struct azure_cred *c, X509 *leaf,
    STACK_OF(X509) * more, const char *path, struct err *e)
{
	unsigned char sha1[20];
	unsigned int n = 0;
	int i, cnt = more != NULL ? sk_X509_num(more) : 0;

	if (X509_digest(leaf, EVP_sha1(), sha1, &n) != 1 || n != 20)
		return err_set(
		    e, 500, "%s: the certificate cannot be hashed", path);
	c->x5t = cloud_cred_b64url(sha1, n);
	for (i = -1; i < cnt; i++) {
		X509 *x = i < 0 ? leaf : sk_X509_value(more, i);
		unsigned char *der = NULL;
		int len =
		    i >= 0 && X509_cmp(x, leaf) == 0 ? 0 : i2d_X509(x, &der);
		char *b64;

		if (len <= 0)
			continue;
		b64 = xmalloc((size_t)len / 3 * 4 + 8);
		EVP_EncodeBlock((unsigned char *)b64, der, len);
		strv_take(&c->x5c, b64);
		OPENSSL_free(der);
	}
	return 0;
}

static int
azure_auth_cred_pem(struct azure_cred *c, const char *data, size_t len,
    const char *pw, const char *path, struct err *e)
{
	BIO *bio = BIO_new_mem_buf(data, (int)len);
	STACK_OF(X509) *certs = sk_X509_new_null();
	X509 *x, *leaf = NULL;
	int rc = -1;

	if (pw == NULL &&
	    (strstr(data, "ENCRYPTED PRIVATE KEY") != NULL ||
		strstr(data, "Proc-Type: 4,ENCRYPTED") != NULL)) {
		err_set(e, 500,
		    "%s: the private key is encrypted: set "
		    "AZURE_CLIENT_CERTIFICATE_PASSWORD",
		    path);
		goto out;
	}
	c->key = PEM_read_bio_PrivateKey(
	    bio, NULL, azure_auth_cred_pw_cb, (void *)pw);
	if (c->key == NULL) {
		err_set(e, 500,
		    "%s: no readable private key (PEM \"PRIVATE KEY\" or "
		    "\"RSA PRIVATE KEY\")%s",
		    path,
		    pw != NULL ? ", or AZURE_CLIENT_CERTIFICATE_PASSWORD is "
				 "wrong" :
				 "");
		goto out;
	}
	BIO_free(bio);
	bio = BIO_new_mem_buf(data, (int)len);
	while ((x = PEM_read_bio_X509(bio, NULL, NULL, NULL)) != NULL)
		sk_X509_push(certs, x);
	for (int i = 0; i < sk_X509_num(certs) && leaf == NULL; i++)
		if (X509_check_private_key(sk_X509_value(certs, i), c->key))
			leaf = sk_X509_value(certs, i);
	if (leaf == NULL) {
		err_set(e, 500,
		    "%s: no certificate matching the private key (the file "
		    "must hold the key and its certificate, as PEM)",
		    path);
		goto out;
	}
	rc = azure_auth_cred_cert_ids(c, leaf, certs, path, e);
out:
	ERR_clear_error();
	sk_X509_pop_free(certs, X509_free);
	BIO_free(bio);
	return rc;
}

static int
azure_auth_cred_p12(struct azure_cred *c, const char *data, size_t len,
    const char *pw, const char *path, struct err *e)
{
	const unsigned char *p = (const unsigned char *)data;
	PKCS12 *p12 = d2i_PKCS12(NULL, &p, (long)len);
	X509 *leaf = NULL;
	STACK_OF(X509) *ca = NULL;
	int rc = -1;

	if (p12 == NULL) {
		err_set(e, 500,
		    "%s is neither PEM (key and certificate) nor PKCS#12",
		    path);
		goto out;
	}
	if (PKCS12_parse(p12, pw != NULL ? pw : "", &c->key, &leaf, &ca) != 1) {
		err_set(e, 500, "%s: the PKCS#12 file cannot be opened: %s",
		    path,
		    pw != NULL ? "AZURE_CLIENT_CERTIFICATE_PASSWORD is wrong" :
				 "it is protected: set "
				 "AZURE_CLIENT_CERTIFICATE_PASSWORD");
		goto out;
	}
	if (c->key == NULL || leaf == NULL) {
		err_set(e, 500,
		    "%s: the PKCS#12 file must hold a private key and its "
		    "certificate",
		    path);
		goto out;
	}
	rc = azure_auth_cred_cert_ids(c, leaf, ca, path, e);
out:
	ERR_clear_error();
	X509_free(leaf);
	sk_X509_pop_free(ca, X509_free);
	PKCS12_free(p12);
	return rc;
}

int
azure_auth_cred_cert_load(struct azure_cred *c, const char *data, size_t len,
    const char *password, const char *path, struct err *e)
{
	int rc;

	if (len > CLOUD_CRED_FILE_MAX || len > (size_t)INT32_MAX)
		return err_set(
		    e, 500, "%s is too large for a certificate", path);
	if (memmem(data, len, "-----BEGIN", 10) != NULL) {
		/* the PEM reader wants a terminated string for the check */
		char *text = xstrndup(data, len);

		rc = azure_auth_cred_pem(
		    c, text, strlen(text), password, path, e);
		OPENSSL_cleanse(text, strlen(text));
		free(text);
	} else
		rc = azure_auth_cred_p12(c, data, len, password, path, e);
	if (rc == 0 && EVP_PKEY_base_id(c->key) != EVP_PKEY_RSA)
		rc = err_set(e, 500,
		    "%s: the private key is not RSA; Entra ID's client "
		    "assertion is signed RS256",
		    path);
	if (rc == -1) {
		EVP_PKEY_free(c->key);
		c->key = NULL;
	}
	return rc;
}

char *
azure_auth_cred_assertion(
    const struct azure_cred *c, const char *aud, int64_t now, struct err *e)
{
	cJSON *h = cJSON_CreateObject(), *cl = cJSON_CreateObject();
	unsigned char rnd[16];
	char jti[33];

	if (RAND_bytes(rnd, sizeof(rnd)) != 1) {
		cJSON_Delete(h);
		cJSON_Delete(cl);
		err_set(e, 500, "no randomness for the client assertion");
		return NULL;
	}
	str_hex(jti, rnd, sizeof(rnd));
	json_add_str(h, "alg", "RS256");
	json_add_str(h, "typ", "JWT");
	json_add_str(h, "x5t", c->x5t);
	if (c->send_chain)
		json_set(h, "x5c", json_strv_to_array(&c->x5c));
	json_add_str(cl, "aud", aud);
	json_add_str(cl, "iss", c->client_id);
	json_add_str(cl, "sub", c->client_id);
	json_add_str(cl, "jti", jti);
	json_add_int(cl, "iat", now);
	json_add_int(cl, "nbf", now);
	json_add_int(cl, "exp", now + AZURE_AUTH_ASSERTION_LIFETIME);
	return cloud_cred_jwt_rs256(
	    h, cl, c->key, "the client certificate's key", e);
}
