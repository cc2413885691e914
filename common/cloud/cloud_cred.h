/* What the token clients of the cloud group (gcp_auth*.c, azure_auth*.c)
 * share: reading a small secret file, form encoding, base64url and the
 * RS256-signed JWT. Private to common/cloud and its tests. */
#ifndef SOCKERLESS_CLOUD_CRED_H
#define SOCKERLESS_CLOUD_CRED_H

#include <stddef.h>

#include <cjson/cJSON.h>
#include <openssl/evp.h>

#include "sockerless/buf.h"
#include "sockerless/err.h"

/* Credential files are small; anything larger is not one. */
#define CLOUD_CRED_FILE_MAX (1024 * 1024)

/* A whole file of at most 1 MiB, NUL-terminated (caller wipes and frees);
 * NULL with e (500, naming the path) when unreadable or larger. */
char *cloud_cred_read_file(const char *path, struct err *e);
/* Overwrites and frees *p, then clears it. */
void cloud_cred_wipe(char **p);
/* Appends key=value form-encoded (application/x-www-form-urlencoded,
 * RFC 3986 unreserved kept), after a '&' unless b is empty or ends in
 * '?' or '&' (so it also builds a URL's query). */
void cloud_cred_form_add(struct buf *b, const char *key, const char *val);
/* base64url without padding (caller frees). */
char *cloud_cred_b64url(const unsigned char *p, size_t len);
/* header.claims.signature signed RS256 with key (caller frees); takes
 * header and claims. NULL with e when key is not RSA or signing fails;
 * what names the key in that sentence. */
char *cloud_cred_jwt_rs256(cJSON *header, cJSON *claims, EVP_PKEY *key,
    const char *what, struct err *e);

#endif
