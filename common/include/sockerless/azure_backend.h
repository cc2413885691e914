/* What every Azure backend (aca, azfunc) shares around its translation:
 * the Azure configuration-key fragment, the session (credentials, the
 * ARM and Log Analytics client, the registry client's Azure Container
 * Registry credentials) and ARM resource ids. */
#ifndef SOCKERLESS_AZURE_BACKEND_H
#define SOCKERLESS_AZURE_BACKEND_H

#include <stddef.h>

#include <event2/event.h>

#include "sockerless/azure.h"
#include "sockerless/azure_auth.h"
#include "sockerless/config.h"

struct httpcli;
struct reg_client;

/* The fragment's keys fill this; auth and az are the session. */
struct azure_backend {
	char *subscription;   /* required */
	char *resource_group; /* required */
	char *location;	      /* required: "westeurope" */
	/* azure_auth_conf's overrides (NULL: the environment) */
	char *tenant_id;
	char *client_id;
	char *client_certificate_path;
	char *client_secret_file;
	char *federated_token_file;
	char *authority_host;
	char *endpoint;	     /* ARM: https://management.azure.com */
	char *endpoint_logs; /* https://api.loganalytics.io */
	/* Registry hosts that take the ACR token exchange besides
	 * *.azurecr.io (space separated host[:port]; the simulator's) */
	char *registry_hosts;
	struct azure_auth *auth;
	struct azure *az;
	/* "/subscriptions/<s>/resourceGroups/<g>" */
	char *rg_path;
	/* The ACR refresh tokens per registry and the exchanges in flight
	 * (azure_backend.c's) */
	struct azure_acr *acr;
};

/* Key names without the backend's prefix: subscription, resource_group,
 * location (required), tenant_id, client_id, client_certificate_path,
 * client_secret_file, federated_token_file, authority_host, endpoint,
 * endpoint_logs, registry_hosts. A backend's api-version keys
 * (api_version_app, api_version_web) stay in its own table. */
#define AZURE_BACKEND_NKEYS 12
extern const struct config_key azure_backend_keys[AZURE_BACKEND_NKEYS];

/* The session: credentials found and a first ARM token fetched (so wrong
 * credentials fail start-up with their sentence), the client with its
 * endpoints, rg_path, and the registry client logging in to ACR: an Entra
 * ARM token exchanged at https://<registry>/oauth2/exchange
 * (grant_type=access_token, service=<registry>, tenant, access_token) for
 * an ACR refresh token, used as the password of the user
 * "00000000-0000-0000-0000-000000000000" in the registry's token flow
 * (refresh tokens cached per registry until shortly before they expire). */
int azure_backend_open(struct azure_backend *ab, struct event_base *base,
    struct httpcli *http, struct reg_client *reg, struct err *e);
void azure_backend_close(struct azure_backend *ab);

/* Whether host takes the ACR exchange (the list above). */
int azure_backend_registry_host(
    const struct azure_backend *ab, const char *host);

/* "<rg_path>/providers/<provider>/<type>/<name>" into out; -1 when it
 * does not fit. */
int azure_backend_resource(const struct azure_backend *ab, char *out,
    size_t outsz, const char *provider, const char *type, const char *name);

#endif
