/* What every Google Cloud backend (cloudrun, gcf) shares around its
 * translation: the GCP configuration-key fragment, the session (ADC
 * credentials, endpoints, the registry client's Artifact Registry and
 * gcr.io credentials) and Google's resource names. */
#ifndef SOCKERLESS_GCP_BACKEND_H
#define SOCKERLESS_GCP_BACKEND_H

#include <event2/event.h>

#include "sockerless/config.h"
#include "sockerless/gcp.h"
#include "sockerless/gcp_auth.h"

struct httpcli;
struct reg_client;

/* The fragment's keys fill this; auth and gcp are the session. */
struct gcp_backend {
	char *project;		/* required unless the credentials name one */
	char *region;		/* required: "us-central1" */
	char *credentials_file; /* instead of the ADC search */
	char *endpoint;		/* one URL for every Google service */
	char *endpoint_token;	/* the OAuth token endpoint */
	char *endpoint_sts;
	char *endpoint_iamcredentials;
	char *metadata_host;
	/* Registry hosts that take Google's oauth2accesstoken login besides
	 * *-docker.pkg.dev, *.gcr.io and gcr.io (space separated host[:port];
	 * the simulator's Artifact Registry) */
	char *registry_hosts;
	struct gcp_auth *auth;
	struct gcp *gcp;
	char *parent; /* "projects/<project>/locations/<region>" */
};

/* Key names without the backend's prefix: project, region (required),
 * credentials_file, endpoint, endpoint_token, endpoint_sts,
 * endpoint_iamcredentials, metadata_host, registry_hosts. A backend's own
 * service endpoint key (endpoint_run) stays in its own table. */
#define GCP_BACKEND_NKEYS 9
extern const struct config_key gcp_backend_keys[GCP_BACKEND_NKEYS];

/* The session: credentials found and a first token fetched (so a wrong
 * key fails start-up with its sentence), the project settled (the key's
 * when none is configured; a 500 naming the key when neither), the
 * client with its endpoints (svc's own endpoint svc_endpoint may be
 * NULL), and the registry client logging in to Artifact Registry with
 * "oauth2accesstoken" and an access token. */
int gcp_backend_open(struct gcp_backend *gb, struct event_base *base,
    struct httpcli *http, struct reg_client *reg, const char *svc,
    const char *svc_endpoint, struct err *e);
void gcp_backend_close(struct gcp_backend *gb);

/* Whether host takes the oauth2accesstoken login (the list above). */
int gcp_backend_registry_host(const struct gcp_backend *gb, const char *host);

#endif
