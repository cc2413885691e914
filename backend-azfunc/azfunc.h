/* sockerless-backend-azfunc: short-lived Docker containers as Azure
 * Functions. A container function app runs any image, so the backend
 * keeps a small pool of function apps (sites) on a Premium or Dedicated
 * Linux plan and points them at derived images: the user's image plus
 * sockerless-agent as the HTTP server. A start takes a site of the pool
 * and POSTs the run to https://<site>/api/run with the site's key; the
 * answer is the agent's envelope. The pool and the runs are the kit's
 * (kit_faas.h); this directory holds Microsoft.Web's steps.
 * docs/backend-azfunc.md has the design. */
#ifndef SOCKERLESS_AZFUNC_H
#define SOCKERLESS_AZFUNC_H

#include <stddef.h>

#include <cjson/cJSON.h>

#include "sockerless/azure_backend.h"
#include "sockerless/backend.h"
#include "sockerless/backend_kit.h"
#include "sockerless/err.h"
#include "sockerless/kit_faas.h"
#include "sockerless/reg.h"

/* Where derived images hold the agent. */
#define AZFUNC_AGENT_PATH "/sockerless/agent"
/* Tags on the pool's sites. */
#define AZFUNC_TAG_INSTANCE "sockerless-instance"
#define AZFUNC_TAG_BACKEND  "sockerless-backend"
#define AZFUNC_TAG_POOL	    "sockerless-pool"
/* The app setting the agent reads its key from (docs/agent.md). */
#define AZFUNC_KEY_SETTING "SOCKERLESS_HTTP_KEY"
/* An HTTP-triggered run answers within 230 s whatever functionTimeout
 * says: the Azure load balancer's idle timeout in front of every app
 * (Microsoft's "Function app timeout duration"). */
#define AZFUNC_MAX_TIMEOUT 230
#define AZFUNC_MIN_MEMORY  128
/* functionTimeout is the longest run plus this: the agent ends a run at
 * azfunc.timeout and answers first. */
#define AZFUNC_HOST_GRACE_S 60

struct azfunc_conf {
	char *plan;		       /* serverFarmId, or a plan name */
	char *storage_connection_file; /* AzureWebJobsStorage's value */
	char *registry;		       /* host[/path] of derived images */
	char *registry_identity;       /* user-assigned identity id */
	char *agent_path;
	char *endpoint_functions; /* sends runs here, with Host */
	char *api_version_web;
	struct kit_pool_limits pool; /* the kit's pool keys */
	long long timeout;
	long long memory;
	long long deploy_timeout;
};

struct azfunc {
	struct backend *b;
	struct azure_backend ab;
	char *plan_id;		  /* the plan's full resource id */
	long long plan_mib;	  /* memory of one instance of the plan */
	char *storage;		  /* the connection string */
	char *registry_client_id; /* azfunc.registry_identity's clientId */
	char *registry_host;	  /* azfunc.registry, default filled */
	struct reg_layer layer;
	int have_layer;
	char *prefix; /* "sl-<8 of the instance>-" */
};

/* azfunc.c */
extern struct azfunc_conf azfunc_conf;
extern struct azfunc azfunc;

/* azfunc_site.c: the cloud's steps of the kit's pool (kit_faas.h). */
void azfunc_site_start(struct backend *b);
/* Forgets the cold starts being waited for (before kit_pool_stop). */
void azfunc_site_stop(void);
/* The kit's runs with azfunc's names, limits and site keys. */
void azfunc_faas_init(void);

/* azfunc_rec.c: after a restart, what became of the runs in flight. */
void azfunc_rec_start(struct backend *b);

/* azfunc_body.c: pure parts (tests/unit/t_azfunc.c). */
/* The plan (AppServicePlans_Get's answer) as one that can host container
 * function apps: 0 with the memory of one instance in *mib, or -1 with a
 * 400 naming azfunc.plan and why (Consumption, Flex, Windows). */
int azfunc_plan_check(const cJSON *plan, long long *mib, struct err *e);
/* The plan's full id from azfunc.plan: an id as is, a name within rg_path;
 * NULL when it is neither. */
char *azfunc_plan_id(const char *plan, const char *rg_path);
/* WebApps_CreateOrUpdate's body for one pool site. */
struct azfunc_site_args {
	const char *location;
	const char *plan_id;
	const char *image;
	const char *key;
	const char *storage;
	const char *instance;
	const char *registry_identity;	/* NULL: the system identity */
	const char *registry_client_id; /* that identity's clientId */
	long long timeout_s;
};
cJSON *azfunc_site_body(const struct azfunc_site_args *a);
/* "00:03:50" for functionTimeout. */
void azfunc_timespan(char *out, size_t outsz, long long s);
/* The image of a linuxFxVersion ("DOCKER|<image>"), or NULL. */
const char *azfunc_fx_image(const char *fx);

#endif
