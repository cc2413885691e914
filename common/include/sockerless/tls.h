/* TLS contexts for the servers (OpenSSL): TLS 1.2 at least, a certificate
 * chain and its key, and, when verifying, client certificates required and
 * checked against the operator's CA (dockerd's --tlsverify). */
#ifndef SOCKERLESS_TLS_H
#define SOCKERLESS_TLS_H

#include <openssl/ssl.h>

#include "sockerless/err.h"

/* A server context from PEM files: cert (chain), key, and with verify the
 * CA that signs client certificates. Checks that the files load and the
 * key is the certificate's. Returns the context (SSL_CTX_free), or NULL
 * with a 400 naming the file and the reason. */
SSL_CTX *tls_server_ctx(const char *cert, const char *key, const char *ca,
    int verify, struct err *e);
/* The reason of the last OpenSSL error, for a sentence ("no error" when
 * the queue is empty); the queue is cleared. */
const char *tls_last_error(char *buf, size_t size);

/* The bearer token in path (one line; surrounding blanks dropped), at
 * least 16 characters; NULL with a 400 naming the file otherwise. */
char *tls_read_token(const char *path, struct err *e);
/* Whether an Authorization header value is "Bearer <token>" (compared in
 * constant time). */
int tls_token_ok(const char *authorization, const char *token);

#endif
