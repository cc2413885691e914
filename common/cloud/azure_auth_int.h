/* What azure_auth*.c share and the unit tests and fuzz harness reach: the
 * credential found, the request of each grant and the answer parsers. */
#ifndef SOCKERLESS_AZURE_AUTH_INT_H
#define SOCKERLESS_AZURE_AUTH_INT_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>

#include "sockerless/azure_auth.h"
#include "sockerless/err.h"
#include "sockerless/httpcli.h"
#include "sockerless/str.h"

#define AZURE_AUTH_AUTHORITY "https://login.microsoftonline.com"
#define AZURE_AUTH_IMDS	     "http://169.254.169.254"
#define AZURE_AUTH_JWT_BEARER \
	"urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
/* Every source and variable, for the sentences that say what to set. */
#define AZURE_AUTH_SOURCES                                                     \
	"AZURE_TENANT_ID and AZURE_CLIENT_ID with AZURE_CLIENT_SECRET (or "    \
	"client_secret_file) or AZURE_CLIENT_CERTIFICATE_PATH (with "          \
	"AZURE_CLIENT_CERTIFICATE_PASSWORD when protected); workload "         \
	"identity: AZURE_FEDERATED_TOKEN_FILE with AZURE_TENANT_ID and "       \
	"AZURE_CLIENT_ID; managed identity: IDENTITY_ENDPOINT with "           \
	"IDENTITY_HEADER (App Service, Functions, Container Apps), else IMDS " \
	"(AZURE_POD_IDENTITY_AUTHORITY_HOST or http://169.254.169.254)"

/* The client assertion's lifetime, as MSAL signs it. */
#define AZURE_AUTH_ASSERTION_LIFETIME 600
/* A token is handed out only while it has this long left... */
#define AZURE_AUTH_MIN_VALID 60
/* ...and refreshed in the background this long before it expires. */
#define AZURE_AUTH_REFRESH_AHEAD 300

enum azure_cred_type {
	AZURE_CRED_SECRET = 1,
	AZURE_CRED_CERT,
	AZURE_CRED_FEDERATED,
	AZURE_CRED_APP_SERVICE, /* IDENTITY_ENDPOINT + IDENTITY_HEADER */
	AZURE_CRED_IMDS,
};

struct azure_cred {
	enum azure_cred_type type;
	char *tenant, *client_id; /* client_id NULL: system-assigned MI */
	char *authority;	  /* scheme://host, no trailing '/' */
	char *secret;
	/* the certificate: its key, x5t and x5c (leaf first, DER in
	 * standard base64) */
	EVP_PKEY *key;
	char *x5t;
	struct strv x5c;
	int send_chain;
	char *path; /* the certificate or federated token file */
	/* managed identity: the token URL without a query, and the App
	 * Service header's value */
	char *endpoint, *identity_header;
};

struct azure_tok {
	char *token;
	int64_t exp; /* unix seconds */
};

/* Seconds since the epoch; tests replace it. */
extern int64_t (*azure_auth_now)(void);

/* Finds the credential in conf and the environment, in
 * DefaultAzureCredential's order; fills c and *source. */
int azure_auth_cred_find(struct azure_cred *c,
    const struct azure_auth_conf *conf, char **source, struct err *e);
void azure_auth_cred_clear(struct azure_cred *c);
/* A certificate file's text: PEM (key and certificates in any order) or
 * PKCS#12 DER; password may be NULL. Fills key, x5t and x5c. */
int azure_auth_cred_cert_load(struct azure_cred *c, const char *data,
    size_t len, const char *password, const char *path, struct err *e);
/* The signed client assertion for the token endpoint aud (caller wipes
 * and frees). */
char *azure_auth_cred_assertion(
    const struct azure_cred *c, const char *aud, int64_t now, struct err *e);

/* The token endpoint's URL for c (caller frees). */
char *azure_auth_flow_token_url(const struct azure_cred *c);
/* The request for scope's token; *what names the endpoint for messages
 * (caller frees). The federated token file is read here, every time. */
struct httpcli_req *azure_auth_flow_req(
    const struct azure_cred *c, const char *scope, char **what, struct err *e);
/* Takes the answer: 0 with t filled, or -1 with e (the sentence). */
int azure_auth_flow_resp(const struct azure_cred *c, const char *what,
    const struct httpcli_resp *resp, struct azure_tok *t, struct err *e);
/* Entra's answer {access_token, expires_in} and managed identity's
 * {access_token, expires_on | expires_in}, numbers or strings. */
int azure_auth_flow_parse_entra(
    const char *body, size_t len, struct azure_tok *t, struct err *e);
int azure_auth_flow_parse_mi(
    const char *body, size_t len, struct azure_tok *t, struct err *e);
/* A failed answer as a sentence naming what to check (never the
 * request). */
void azure_auth_flow_answer_err(const struct azure_cred *c,
    const struct httpcli_resp *resp, const char *what, struct err *e);
void azure_auth_flow_tok_clear(struct azure_tok *t);

#endif
