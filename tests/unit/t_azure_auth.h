/* What t_azure_auth.c and t_azure_auth_mi.c share on top of t_gcp_auth.h's
 * forked server, key and callbacks: the environment reset, the test
 * certificate (self-signed on the test key) as PEM and PKCS#12, and
 * reading the form fields of a logged request. */
#ifndef T_AZURE_AUTH_H
#define T_AZURE_AUTH_H

#include <openssl/pkcs12.h>
#include <openssl/x509.h>

#include "sockerless/azure_auth.h"

#include "t_gcp_auth.h"

#include "../../common/cloud/azure_auth_int.h"
#include "../../common/cloud/cloud_cred.h"

#define T_TENANT "7f3c9b0e-0000-4000-8000-0000000071d1"
#define T_CLIENT "0b1e7c2a-0000-4000-8000-00000000c1d0"
#define T_SECRET "s3cr3t~Value.With/Chars+="

static X509 *t_x509;

static inline int
t_az_setup(void **state)
{
	static const char *const vars[] = { "AZURE_TENANT_ID",
		"AZURE_CLIENT_ID", "AZURE_CLIENT_SECRET",
		"AZURE_CLIENT_CERTIFICATE_PATH",
		"AZURE_CLIENT_CERTIFICATE_PASSWORD",
		"AZURE_CLIENT_SEND_CERTIFICATE_CHAIN",
		"AZURE_FEDERATED_TOKEN_FILE", "AZURE_AUTHORITY_HOST",
		"IDENTITY_ENDPOINT", "IDENTITY_HEADER",
		"AZURE_POD_IDENTITY_AUTHORITY_HOST", "IMDS_ENDPOINT",
		"IDENTITY_SERVER_THUMBPRINT", "MSI_ENDPOINT" };

	(void)state;
	for (size_t i = 0; i < sizeof(vars) / sizeof(vars[0]); i++)
		unsetenv(vars[i]);
	snprintf(t_log, sizeof(t_log), "%s/requests", t_dir);
	unlink(t_log);
	t_clock_skew = 0;
	azure_auth_now = t_clock;
	return 0;
}

/* The client-credentials environment aimed at the server (trailing '/'
 * on purpose: azure-identity accepts it). */
static inline void
t_az_env(int secret)
{
	char *host = xasprintf("http://127.0.0.1:%d/", t_port);

	setenv("AZURE_TENANT_ID", T_TENANT, 1);
	setenv("AZURE_CLIENT_ID", T_CLIENT, 1);
	setenv("AZURE_AUTHORITY_HOST", host, 1);
	if (secret)
		setenv("AZURE_CLIENT_SECRET", T_SECRET, 1);
	free(host);
}

static inline struct azure_auth *
t_az_new(struct event_base *base, const struct azure_auth_conf *conf)
{
	struct err e;
	struct azure_auth *a = azure_auth_new(base, NULL, conf, &e);

	if (a == NULL)
		fail_msg("azure_auth_new: %s", e.msg);
	return a;
}

/* azure_auth_new's failure sentence. */
static inline char *
t_az_new_err(const struct azure_auth_conf *conf)
{
	struct err e;
	struct azure_auth *a = azure_auth_new(NULL, NULL, conf, &e);

	assert_null(a);
	assert_int_equal(e.status, 500);
	return xstrdup(e.msg);
}

static inline X509 *
t_cert_make(EVP_PKEY *k)
{
	X509 *x = X509_new();
	X509_NAME *n;

	X509_set_version(x, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(x), 7);
	X509_gmtime_adj(X509_getm_notBefore(x), 0);
	X509_gmtime_adj(X509_getm_notAfter(x), 3600);
	X509_set_pubkey(x, k);
	n = X509_get_subject_name(x);
	X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC,
	    (const unsigned char *)"sockerless-test", -1, -1, 0);
	X509_set_issuer_name(x, n);
	assert_true(X509_sign(x, k, EVP_sha256()) > 0);
	return x;
}

/* cert then key (the file's order is free), the key encrypted with pw
 * when not NULL. */
static inline char *
t_cert_pem(const char *name, const char *pw)
{
	char *path = xasprintf("%s/%s", t_dir, name);
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	assert_int_equal(PEM_write_X509(f, t_x509), 1);
	assert_int_equal(PEM_write_PrivateKey(f, t_key,
			     pw != NULL ? EVP_aes_256_cbc() : NULL, NULL, 0,
			     NULL, (void *)pw),
	    1);
	fclose(f);
	return path;
}

static inline char *
t_cert_p12(const char *name, const char *pw)
{
	char *path = xasprintf("%s/%s", t_dir, name);
	PKCS12 *p =
	    PKCS12_create(pw, "sockerless", t_key, t_x509, NULL, 0, 0, 0, 0, 0);
	FILE *f = fopen(path, "wb");

	assert_non_null(p);
	assert_non_null(f);
	assert_int_equal(i2d_PKCS12_fp(f, p), 1);
	fclose(f);
	PKCS12_free(p);
	return path;
}

/* A form field's raw (still encoded) value in a logged request. */
static inline char *
t_field(const char *req, const char *key)
{
	char *pat = xasprintf("%s=", key);
	const char *p = req;
	size_t n = strlen(pat);

	while ((p = strstr(p, pat)) != NULL &&
	    !(p == req || p[-1] == '&' || p[-1] == '?' || p[-1] == '\n'))
		p += n;
	free(pat);
	if (p == NULL)
		return NULL;
	p += n;
	return xstrndup(p, strcspn(p, "& \r\n"));
}

#define T_MI_TOKEN(tok, exp)                                \
	"{\"access_token\":\"" tok "\",\"expires_on\":" exp \
	",\"resource\":\"https://management.azure.com/\","  \
	"\"token_type\":\"Bearer\"}"

static inline int
t_az_run(const struct CMUnitTest *tests, size_t n)
{
	int rc;

	log_init("t_azure_auth", LOG_LVL_INFO);
	json_init();
	assert_non_null(mkdtemp(t_dir));
	t_key = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
	t_x509 = t_cert_make(t_key);
	rc = _cmocka_run_group_tests("t_azure_auth", tests, n, NULL, NULL);
	X509_free(t_x509);
	EVP_PKEY_free(t_key);
	{
		char *cmd = xasprintf("rm -rf %s", t_dir);

		if (system(cmd) != 0)
			rc = 1;
		free(cmd);
	}
	return rc;
}

#endif
