/* Google credentials as Google's client libraries find them (Application
 * Default Credentials) and the OAuth 2.0 access and ID tokens they give:
 *
 *   1. GOOGLE_APPLICATION_CREDENTIALS (or gcp_auth_conf.credentials_file),
 *      a JSON file whose "type" is
 *        service_account  - RS256 JWT bearer grant at token_uri (signed
 *                           with OpenSSL, header kid = private_key_id);
 *        authorized_user  - refresh_token grant (client_id, client_secret);
 *        external_account - workload identity federation: an STS token
 *                           exchange of a subject token from a file, a URL
 *                           or an executable-free source the file names,
 *                           then optionally service-account impersonation
 *                           (iamcredentials generateAccessToken);
 *   2. the gcloud ADC file ($CLOUDSDK_CONFIG or ~/.config/gcloud)/
 *      application_default_credentials.json (same types);
 *   3. the metadata server (GCE_METADATA_HOST, else
 *      metadata.google.internal; header Metadata-Flavor: Google).
 *
 * Tokens are cached until shortly before they expire and refreshed ahead
 * of time. ID tokens (for invoking private Cloud Run URLs) are cached per
 * audience. No secret (key, refresh token, access or ID token, assertion)
 * is ever logged. Below the backend framework (libsk_cloud). */
#ifndef SOCKERLESS_GCP_AUTH_H
#define SOCKERLESS_GCP_AUTH_H

#include <stdint.h>

#include <event2/event.h>

#include "sockerless/err.h"

struct httpcli;
struct gcp_auth;

struct gcp_auth_conf {
	/* A key file instead of the ADC search (a backend's
	 * <be>.credentials_file); NULL: the order above. */
	const char *credentials_file;
	/* Overrides of Google's endpoints (simulators, private access);
	 * NULL: the file's own token_uri / Google's public hosts. */
	const char *token_uri;		     /* OAuth token endpoint */
	const char *sts_endpoint;	     /* https://sts.googleapis.com */
	const char *iamcredentials_endpoint; /* https://iamcredentials... */
	const char *metadata_host; /* host[:port]; NULL: GCE_METADATA_HOST */
	/* NULL: https://www.googleapis.com/auth/cloud-platform */
	const char *scope;
};

/* Finds the credentials (reads the files, nothing on the network yet).
 * base and http may be NULL for a client that only uses the _sync calls.
 * NULL with e (500, naming every place looked in and what to set) when
 * there are none or a file is malformed. */
struct gcp_auth *gcp_auth_new(struct event_base *base, struct httpcli *http,
    const struct gcp_auth_conf *conf, struct err *e);
void gcp_auth_free(struct gcp_auth *a);

/* "service account sa@p.iam.gserviceaccount.com (key file /path)",
 * "authorized user (gcloud ADC file)", "workload identity federation",
 * "metadata server": for a log line; never a secret. */
const char *gcp_auth_source(const struct gcp_auth *a);
/* The project the credentials name (a key file's project_id,
 * quota_project_id, or the metadata server's project/project-id once
 * fetched), or NULL. */
const char *gcp_auth_project(const struct gcp_auth *a);
/* The service account's e-mail when known (key file, impersonation, the
 * metadata server's default account once fetched), or NULL. */
const char *gcp_auth_email(const struct gcp_auth *a);

/* An access token valid for at least another 60 s from the cache, or
 * NULL (borrowed; valid until the next call into a). */
const char *gcp_auth_token_cached(struct gcp_auth *a);

/* token is borrowed for the callback's duration; on failure token is NULL
 * and e says why (status 500 "getting a Google access token from <source>:
 * <why>", or 502 when the endpoint did not answer). */
typedef void (*gcp_token_cb)(void *arg, const char *token, const struct err *e);

/* An access token, from the cache or fetched: cb runs from the loop,
 * never inside this call. Concurrent calls share one refresh. Returns an
 * id for gcp_auth_cancel (never 0). */
uint64_t gcp_auth_token(struct gcp_auth *a, gcp_token_cb cb, void *arg);
/* An ID token whose aud is audience (a Cloud Run URL): service account
 * keys use the JWT grant with target_audience; the metadata server its
 * identity endpoint; impersonation iamcredentials generateIdToken;
 * authorized users cannot mint one (500 with a sentence). */
uint64_t gcp_auth_id_token(
    struct gcp_auth *a, const char *audience, gcp_token_cb cb, void *arg);
void gcp_auth_cancel(struct gcp_auth *a, uint64_t id);

/* Blocking, for start-up and a provider's authorize hook when the cache
 * is empty: a token (owned by the caller) or -1 with e. */
int gcp_auth_token_sync(struct gcp_auth *a, char **token, struct err *e);

#endif
