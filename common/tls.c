/* TLS server contexts; see tls.h. */
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "sockerless/str.h"
#include "sockerless/tls.h"

const char *
tls_last_error(char *buf, size_t size)
{
	unsigned long code = ERR_get_error();

	if (code == 0)
		str_lcpy(buf, "no error", size);
	else
		ERR_error_string_n(code, buf, size);
	ERR_clear_error();
	return buf;
}

SSL_CTX *
tls_server_ctx(const char *cert, const char *key, const char *ca, int verify,
    struct err *e)
{
	SSL_CTX *ctx;
	char why[256];

	if (cert == NULL || cert[0] == '\0' || key == NULL || key[0] == '\0') {
		err_set(e, 400, "TLS needs both tlscert and tlskey");
		return NULL;
	}
	if (verify && (ca == NULL || ca[0] == '\0')) {
		err_set(e, 400,
		    "tlsverify needs tlscacert: the CA whose client "
		    "certificates are accepted");
		return NULL;
	}
	ERR_clear_error();
	if ((ctx = SSL_CTX_new(TLS_server_method())) == NULL) {
		err_set(e, 500, "TLS: %s", tls_last_error(why, sizeof(why)));
		return NULL;
	}
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
#ifdef SSL_OP_IGNORE_UNEXPECTED_EOF
	/* docker's client half-closes a hijacked stream on the TCP socket,
	 * without close_notify. */
	SSL_CTX_set_options(ctx, SSL_OP_IGNORE_UNEXPECTED_EOF);
#endif
	SSL_CTX_set_mode(ctx, SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	if (SSL_CTX_use_certificate_chain_file(ctx, cert) != 1) {
		err_set(e, 400, "tlscert %s: %s", cert,
		    tls_last_error(why, sizeof(why)));
		goto fail;
	}
	if (SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1) {
		err_set(e, 400,
		    "tlskey %s: %s (it must be the PEM key of tlscert %s)", key,
		    tls_last_error(why, sizeof(why)), cert);
		goto fail;
	}
	if (SSL_CTX_check_private_key(ctx) != 1) {
		err_set(e, 400,
		    "tlskey %s is not the key of tlscert %s (%s): give the "
		    "key the certificate was issued for",
		    key, cert, tls_last_error(why, sizeof(why)));
		goto fail;
	}
	if (verify) {
		STACK_OF(X509_NAME) * names;

		if (SSL_CTX_load_verify_locations(ctx, ca, NULL) != 1) {
			err_set(e, 400, "tlscacert %s: %s", ca,
			    tls_last_error(why, sizeof(why)));
			goto fail;
		}
		if ((names = SSL_load_client_CA_file(ca)) != NULL)
			SSL_CTX_set_client_CA_list(ctx, names);
		SSL_CTX_set_verify(ctx,
		    SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
	}
	ERR_clear_error();
	return ctx;
fail:
	SSL_CTX_free(ctx);
	return NULL;
}

char *
tls_read_token(const char *path, struct err *e)
{
	FILE *f = fopen(path, "r");
	char line[1024], *p, *end;
	size_t n;

	if (f == NULL) {
		err_set(e, 400, "token file %s: %s", path, strerror(errno));
		return NULL;
	}
	n = fread(line, 1, sizeof(line) - 1, f);
	fclose(f);
	line[n] = '\0';
	for (p = line; *p == ' ' || *p == '\t' || *p == '\n' || *p == '\r';)
		p++;
	end = p + strcspn(p, " \t\r\n");
	*end = '\0';
	if (strlen(p) < 16 || n == sizeof(line) - 1) {
		err_set(e, 400,
		    "token file %s: expected one token of 16 to 1000 "
		    "characters (openssl rand -hex 32 > %s)",
		    path, path);
		return NULL;
	}
	return strdup(p);
}

int
tls_token_ok(const char *authorization, const char *token)
{
	size_t n = strlen(token);

	if (authorization == NULL ||
	    strncasecmp(authorization, "Bearer ", 7) != 0)
		return 0;
	authorization += 7;
	return strlen(authorization) == n &&
	    CRYPTO_memcmp(authorization, token, n) == 0;
}
