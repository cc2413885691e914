/* Azure credentials as azure-identity's DefaultAzureCredential finds them,
 * and the Entra ID access tokens they give, one per scope:
 *
 *   1. Environment: AZURE_TENANT_ID + AZURE_CLIENT_ID with
 *        AZURE_CLIENT_SECRET                   - client_credentials grant;
 *        AZURE_CLIENT_CERTIFICATE_PATH         - client_credentials with an
 *          RS256 client_assertion (header x5t = base64url SHA-1 of the DER
 *          certificate; x5c too when AZURE_CLIENT_SEND_CERTIFICATE_CHAIN
 *          is true); PEM (key + certificate) or PKCS#12 with
 *          AZURE_CLIENT_CERTIFICATE_PASSWORD;
 *   2. Workload identity: AZURE_FEDERATED_TOKEN_FILE + AZURE_TENANT_ID +
 *      AZURE_CLIENT_ID: client_credentials with the file's contents as
 *      the client_assertion, the file re-read on every refresh;
 *   3. Managed identity: IDENTITY_ENDPOINT + IDENTITY_HEADER (App Service,
 *      Functions, Container Apps: api-version 2019-08-01, header
 *      X-IDENTITY-HEADER), else IMDS (http://169.254.169.254 or
 *      AZURE_POD_IDENTITY_AUTHORITY_HOST: /metadata/identity/oauth2/token,
 *      api-version 2018-02-01, header Metadata: true); a user-assigned
 *      identity by AZURE_CLIENT_ID (client_id=) when set.
 *
 * The Entra host is AZURE_AUTHORITY_HOST (default
 * https://login.microsoftonline.com): POST <host>/<tenant>/oauth2/v2.0/token.
 * Every conf field overrides its environment variable. Tokens are cached
 * per scope until shortly before they expire (expires_in / expires_on
 * accepted as numbers or strings) and refreshed ahead of time. No secret
 * (client secret, key, assertion, federated token, access token) is ever
 * logged. Below the backend framework (libsk_cloud). */
#ifndef SOCKERLESS_AZURE_AUTH_H
#define SOCKERLESS_AZURE_AUTH_H

#include <stdint.h>

#include <event2/event.h>

#include "sockerless/err.h"

struct httpcli;
struct azure_auth;

/* The scopes the backends use; a managed identity's resource is the scope
 * without "/.default". */
#define AZURE_SCOPE_ARM	 "https://management.azure.com/.default"
#define AZURE_SCOPE_LOGS "https://api.loganalytics.io/.default"

struct azure_auth_conf {
	/* NULL: the environment variable of the same name. */
	const char *tenant_id;		     /* AZURE_TENANT_ID */
	const char *client_id;		     /* AZURE_CLIENT_ID */
	const char *client_certificate_path; /* AZURE_CLIENT_CERTIFICATE_PATH */
	const char *federated_token_file;    /* AZURE_FEDERATED_TOKEN_FILE */
	const char *authority_host;	     /* AZURE_AUTHORITY_HOST */
	const char *identity_endpoint;	     /* IDENTITY_ENDPOINT */
	const char *imds_host; /* AZURE_POD_IDENTITY_AUTHORITY_HOST, a URL */
	/* The client secret is taken from AZURE_CLIENT_SECRET or from this
	 * file (its first line), never from a configuration value. */
	const char *client_secret_file;
};

/* Finds the credentials (reads files, nothing on the network yet). base
 * and http may be NULL for a client that only uses the _sync calls. NULL
 * with e (500, naming every source tried and what to set) when there are
 * none or a file is malformed. */
struct azure_auth *azure_auth_new(struct event_base *base, struct httpcli *http,
    const struct azure_auth_conf *conf, struct err *e);
void azure_auth_free(struct azure_auth *a);

/* "client secret for app <client id> in tenant <tenant>", "client
 * certificate <path>", "workload identity (<file>)", "managed identity
 * (App Service endpoint)", "managed identity (IMDS)": for a log line;
 * never a secret. */
const char *azure_auth_source(const struct azure_auth *a);
/* The tenant when known (environment, conf), or NULL. */
const char *azure_auth_tenant(const struct azure_auth *a);

/* A token for scope valid for at least another 60 s from the cache, or
 * NULL (borrowed; valid until the next call into a). */
const char *azure_auth_token_cached(struct azure_auth *a, const char *scope);

/* Drops the cached token for scope (a service answered 401 to it: revoked,
 * or the service forgot it), so that the next call fetches a new one. */
void azure_auth_forget(struct azure_auth *a, const char *scope);

/* token is borrowed for the callback's duration; on failure token is NULL
 * and e says why (500 "getting an Azure token for <scope> from <source>:
 * <AADSTS message>", or 502 when the endpoint did not answer). */
typedef void (*azure_token_cb)(
    void *arg, const char *token, const struct err *e);

/* A token for scope, from the cache or fetched: cb runs from the loop,
 * never inside this call. Concurrent calls for one scope share one
 * refresh. Returns an id for azure_auth_cancel (never 0). */
uint64_t azure_auth_token(
    struct azure_auth *a, const char *scope, azure_token_cb cb, void *arg);
void azure_auth_cancel(struct azure_auth *a, uint64_t id);

/* Blocking, for start-up and a provider's authorize hook when the cache
 * is empty: a token (owned by the caller) or -1 with e. */
int azure_auth_token_sync(
    struct azure_auth *a, const char *scope, char **token, struct err *e);

#endif
