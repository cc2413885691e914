/* The azfunc backend's operation table, configuration and start-up
 * checks: Azure credentials, the App Service plan (one that can host
 * container function apps), the WebJobs storage connection string, the
 * agent layer and the registry of derived images. */
#include <ctype.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "azfunc.h"
#include "sockerless/config.h"
#include "sockerless/json.h"
#include "sockerless/log.h"
#include "sockerless/reg.h"
#include "sockerless/str.h"
#include "sockerless/xmalloc.h"

struct azfunc_conf azfunc_conf;
struct azfunc azfunc;

/* Microsoft.ManagedIdentity's api-version for reading an identity. */
#define AZFUNC_API_MSI "2023-01-31"

#define K(name, type, field, def, min, max, req, doc)                      \
	{                                                                  \
		"azfunc." name, type, offsetof(struct azfunc_conf, field), \
		    def, min, max, req, doc                                \
	}

static const struct config_key azfunc_keys[] = {
	K("plan", CONFIG_STRING, plan, NULL, 0, 0, 1,
	    "App Service plan of the function apps (its full resource id, or "
	    "a plan name in the resource group): Elastic Premium or "
	    "Dedicated, Linux"),
	K("storage_connection_file", CONFIG_STRING, storage_connection_file,
	    NULL, 0, 0, 1,
	    "File whose first line is the storage account connection string "
	    "the function apps get as AzureWebJobsStorage"),
	K("registry", CONFIG_STRING, registry, NULL, 0, 0, 1,
	    "Registry host and path the derived images are pushed to "
	    "(<name>.azurecr.io/sockerless)"),
	K("registry_identity", CONFIG_STRING, registry_identity, NULL, 0, 0, 0,
	    "Resource id of a user-assigned identity the sites pull images "
	    "with (empty: each site's system-assigned identity)"),
	K("agent_path", CONFIG_STRING, agent_path,
	    "/usr/lib/sockerless/sockerless-agent", 0, 0, 0,
	    "The static sockerless-agent binary put into derived images"),
	K("endpoint_functions", CONFIG_STRING, endpoint_functions, NULL, 0, 0,
	    0,
	    "URL runs are sent to, with the site's host name in Host (empty: "
	    "https://<the site's defaultHostName>)"),
	K("api_version_web", CONFIG_STRING, api_version_web, "2022-09-01", 0, 0,
	    0, "api-version of the Microsoft.Web calls"),
	K("timeout", CONFIG_INT, timeout, "230", 1, AZFUNC_MAX_TIMEOUT, 0,
	    "Longest run in seconds (an HTTP-triggered function answers "
	    "within 230 s on every plan)"),
	K("memory", CONFIG_INT, memory, "1536", AZFUNC_MIN_MEMORY, 65536, 0,
	    "Memory (MiB) of a run when the container sets no limit; a "
	    "limit above the plan's instance size is refused"),
	K("deploy_timeout", CONFIG_INT, deploy_timeout, "600", 30, 3600, 0,
	    "Seconds a function app's creation or re-pointing may take, "
	    "cold start included"),
};

static const struct config_set azfunc_fragments[] = {
	{ azure_backend_keys, AZURE_BACKEND_NKEYS, &azfunc.ab },
	{ kit_pool_keys, KIT_POOL_NKEYS, &azfunc_conf.pool },
};

static void
azfunc_capabilities(struct backend *b, struct caps *c)
{
	(void)b;
	kit_caps_base(c);
	c->max_timeout_seconds = (long)azfunc_conf.timeout;
}

static void
azfunc_info(struct backend *b, cJSON *info)
{
	char *os = xasprintf("Azure Functions (subscription %s, resource "
			     "group %s)",
	    azfunc.ab.subscription, azfunc.ab.resource_group);
	char *name = xasprintf("sockerless-azfunc-%s", azfunc.ab.location);

	kit_info(b, info, os, name, "subscription", azfunc.ab.subscription,
	    "resource_group", azfunc.ab.resource_group, "location",
	    azfunc.ab.location, (const char *)NULL);
	free(os);
	free(name);
}

/* "sl-<first 8 of the instance, lower case>-": the pool's sites are
 * this installation's by name as well as by tag. */
static void
azfunc_prefix(struct backend *b)
{
	char p[16];
	const char *inst = backend_instance(b);
	size_t i, n = 0;

	for (i = 0; inst[i] != '\0' && n < 8; i++)
		if (isalnum((unsigned char)inst[i]))
			p[n++] = (char)tolower((unsigned char)inst[i]);
	p[n] = '\0';
	azfunc.prefix = xasprintf("sl-%s-", p);
}

/* The plan: read and checked (Consumption, Flex and Windows refused). */
static int
azfunc_plan(struct err *e)
{
	cJSON *out = NULL;
	int rc;

	azfunc.plan_id = azfunc_plan_id(azfunc_conf.plan, azfunc.ab.rg_path);
	if (azfunc.plan_id == NULL)
		return err_set(e, 400,
		    "azfunc.plan must be an App Service plan's resource id "
		    "(/subscriptions/.../providers/Microsoft.Web/serverfarms/"
		    "NAME) or a plan name; got \"%s\"",
		    azfunc_conf.plan);
	rc = azure_call_sync(azfunc.ab.az, "AppServicePlans_Get", "GET",
	    azfunc.plan_id, azfunc_conf.api_version_web, NULL, NULL, &out, e);
	if (rc == -1) {
		err_wrap(e, "reading App Service plan %s (azfunc.plan)",
		    azfunc_conf.plan);
		cJSON_Delete(out);
		return -1;
	}
	rc = azfunc_plan_check(out, &azfunc.plan_mib, e);
	cJSON_Delete(out);
	return rc;
}

/* The connection string's first line. */
static int
azfunc_storage(struct err *e)
{
	FILE *f = fopen(azfunc_conf.storage_connection_file, "r");
	char line[4096];
	size_t n;

	if (f == NULL)
		return err_set(e, 400,
		    "azfunc.storage_connection_file %s cannot be read; write "
		    "the storage account's connection string into it",
		    azfunc_conf.storage_connection_file);
	if (fgets(line, sizeof(line), f) == NULL)
		line[0] = '\0';
	fclose(f);
	n = strcspn(line, "\r\n");
	line[n] = '\0';
	if (strstr(line, "AccountName=") == NULL)
		return err_set(e, 400,
		    "azfunc.storage_connection_file %s holds no storage "
		    "connection string (DefaultEndpointsProtocol=https;"
		    "AccountName=...;AccountKey=...)",
		    azfunc_conf.storage_connection_file);
	azfunc.storage = xstrdup(line);
	return 0;
}

/* azfunc.registry_identity's clientId, which acrUserManagedIdentityID
 * takes. */
static int
azfunc_identity(struct err *e)
{
	const char *id = azfunc_conf.registry_identity;
	cJSON *out = NULL;
	const char *cid;

	if (id == NULL || id[0] == '\0')
		return 0;
	if (azure_call_sync(azfunc.ab.az, "UserAssignedIdentities_Get", "GET",
		id, AZFUNC_API_MSI, NULL, NULL, &out, e) == -1) {
		cJSON_Delete(out);
		return err_wrap(e, "reading azfunc.registry_identity %s", id);
	}
	cid = json_str(json_obj(out, "properties"), "clientId");
	if (cid == NULL) {
		cJSON_Delete(out);
		return err_set(e, 502,
		    "the identity %s (azfunc.registry_identity) has no clientId",
		    id);
	}
	azfunc.registry_client_id = xstrdup(cid);
	cJSON_Delete(out);
	return 0;
}

static int
azfunc_init(struct backend *b, struct err *e)
{
	size_t n;

	azfunc.b = b;
	if (azure_backend_open(&azfunc.ab, backend_base(b), backend_httpcli(b),
		backend_registry(b), e) == -1)
		return -1;
	if (azfunc_plan(e) == -1 || azfunc_storage(e) == -1 ||
	    azfunc_identity(e) == -1)
		return -1;
	if (kit_agent_layer(azfunc_conf.agent_path, AZFUNC_AGENT_PATH + 1,
		&azfunc.layer, "azfunc.agent_path",
		"install sockerless-agent (every image runs through it on "
		"Azure Functions)",
		e) == -1)
		return -1;
	azfunc.have_layer = 1;
	azfunc.registry_host = xstrdup(azfunc_conf.registry);
	n = strlen(azfunc.registry_host);
	while (n > 0 && azfunc.registry_host[n - 1] == '/')
		azfunc.registry_host[--n] = '\0';
	azfunc_prefix(b);
	azfunc_faas_init();
	/* The output comes with the answer: nothing lags behind it. */
	backend_set_logs_grace_ms(b, 0);
	log_info("Azure Functions on plan %s (pool of at most %lld, images in "
		 "%s)",
	    azfunc.plan_id, azfunc_conf.pool.pool_max, azfunc.registry_host);
	return 0;
}

static void
azfunc_reconcile(struct backend *b)
{
	azfunc_site_start(b);
	azfunc_rec_start(b);
}

static void
azfunc_shutdown(struct backend *b)
{
	kit_faas_shutdown(b);
	azfunc_site_stop();
	kit_pool_stop();
	if (azfunc.have_layer)
		reg_layer_free(&azfunc.layer);
	free(azfunc.plan_id);
	free(azfunc.storage);
	free(azfunc.registry_client_id);
	free(azfunc.registry_host);
	free(azfunc.prefix);
	azure_backend_close(&azfunc.ab);
}

/* The output comes with the answer, kept in the container's state. */
KIT_BACKEND(azfunc, "Azure Functions", kit_faas, .logs_fetch = kit_logs_kept)
