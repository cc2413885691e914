/* The Container Apps backend's operation table, configuration and start-up
 * checks. */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aca.h"
#include "sockerless/json.h"
#include "sockerless/log.h"
#include "sockerless/xmalloc.h"

struct aca_conf aca_conf;
struct azure_backend aca_az;
struct kit_orphans aca_orphans;
cJSON *aca_extra_tags;
static char *aca_env_id;

#define K(name, type, field, def, min, max, req, doc)                          \
	{                                                                      \
		"aca." name, type, offsetof(struct aca_conf, field), def, min, \
		    max, req, doc                                              \
	}

static const struct config_key aca_keys[] = {
	K("environment", CONFIG_STRING, environment, NULL, 0, 0, 1,
	    "The Container Apps managed environment the jobs run in: its "
	    "name in aca.resource_group, or its full resource id"),
	K("workspace_id", CONFIG_STRING, workspace_id, NULL, 0, 0, 0,
	    "Log Analytics workspace (customer) id of the environment's "
	    "console logs (unset: the environment's own "
	    "appLogsConfiguration)"),
	K("registry_identity", CONFIG_STRING, registry_identity, NULL, 0, 0, 0,
	    "Managed identity the replicas pull from Azure Container "
	    "Registry with: a user-assigned identity's resource id, or "
	    "\"system\" (unset: images from public registries only)"),
	K("agent_image", CONFIG_STRING, agent_image, NULL, 0, 0, 1,
	    "Image holding /sockerless-agent (e.g. "
	    "<acr>.azurecr.io/sockerless/agent:0.1.0); an init container "
	    "copies the agent from it into each replica"),
	K("replica_timeout", CONFIG_INT, replica_timeout, "3600", 1, 604800, 0,
	    "Seconds a container may run before Container Apps ends it (the "
	    "job's replicaTimeout; at most 7 days)"),
	K("poll_ms", CONFIG_INT, poll_ms, "1000", 200, 60000, 0,
	    "How often running executions are looked at"),
	K("job_idle", CONFIG_INT, job_idle_s, "600", 0, 86400, 0,
	    "Seconds an unused job stays for reuse before it is deleted (0: "
	    "deleted at docker rm)"),
	K("logs_grace_ms", CONFIG_INT, logs_grace_ms, "5000", 0, 120000, 0,
	    "How long logs keep draining after a container stopped, for Log "
	    "Analytics' ingestion lag"),
	K("logs_poll_ms", CONFIG_INT, logs_poll_ms, "2000", 200, 60000, 0,
	    "How often docker logs -f queries Log Analytics while a "
	    "container runs without its agent linked"),
	K("api_version_app", CONFIG_STRING, api_version_app, "2025-07-01", 0, 0,
	    0, "The Microsoft.App api-version"),
	K("tags", CONFIG_STRV, tags, NULL, 0, 0, 0,
	    "Extra tags (key=value) on every job"),
};

static const struct config_set aca_fragments[] = {
	{ azure_backend_keys, AZURE_BACKEND_NKEYS, &aca_az },
	{ kit_orphans_keys, KIT_ORPHANS_NKEYS, &aca_orphans },
	{ aca_vol_keys, ACA_VOL_NKEYS, &aca_vol_conf },
};

struct azure_backend *
aca_session(void)
{
	return &aca_az;
}

const char *
aca_environment_id(void)
{
	return aca_env_id;
}

char *
aca_job_path(const char *job, const char *suffix)
{
	if (job == NULL)
		return xasprintf(
		    "%s/providers/Microsoft.App/jobs", aca_az.rg_path);
	return xasprintf("%s/providers/Microsoft.App/jobs/%s%s", aca_az.rg_path,
	    job, suffix != NULL ? suffix : "");
}

static void
aca_capabilities(struct backend *b, struct caps *c)
{
	(void)b;
	kit_caps_base(c);
	c->flag[CAP_LOGS_FOLLOW] = 1;
	kit_caps_agent(c);
	/* Job replicas take no inbound connections: members of a network
	 * reach each other through the agent relay (.reach below). */
	c->flag[CAP_NETWORKS] = 1;
	c->flag[CAP_VOLUMES] = aca_vol_on();
	if (!aca_vol_on())
		snprintf(c->why[CAP_VOLUMES], sizeof(c->why[CAP_VOLUMES]), "%s",
		    aca_vol_why());
}

static void
aca_info(struct backend *b, cJSON *info)
{
	const char *env = aca_env_id != NULL && strrchr(aca_env_id, '/') ?
	    strrchr(aca_env_id, '/') + 1 :
	    "";
	char *os = xasprintf("Azure Container Apps jobs (environment %s, %s)",
	    env, aca_az.location);
	char *name = xasprintf("sockerless-aca-%s", env);

	kit_info(b, info, os, name, "subscription", aca_az.subscription,
	    "resource_group", aca_az.resource_group, "environment", env,
	    (const char *)NULL);
	free(os);
	free(name);
}

/* The environment's id from aca.environment (a name or an id). */
static int
aca_env_resolve(struct err *e)
{
	const char *env = aca_conf.environment;
	char id[1024];

	if (strncmp(env, "/subscriptions/", 15) == 0) {
		if (strstr(
			env, "/providers/Microsoft.App/managedEnvironments/") ==
		    NULL)
			return err_set(e, 400,
			    "aca.environment \"%s\" is not a managed "
			    "environment's resource id (.../providers/"
			    "Microsoft.App/managedEnvironments/<name>)",
			    env);
		aca_env_id = xstrdup(env);
		return 0;
	}
	if (strchr(env, '/') != NULL || env[0] == '\0' ||
	    azure_backend_resource(&aca_az, id, sizeof(id), "Microsoft.App",
		"managedEnvironments", env) == -1)
		return err_set(e, 400,
		    "aca.environment \"%s\" is neither a managed environment's "
		    "name nor its resource id",
		    env);
	aca_env_id = xstrdup(id);
	return 0;
}

/* Start-up: the configuration, credentials and a first token, the
 * environment readable with them (and its Log Analytics workspace). */
static int
aca_init(struct backend *b, struct err *e)
{
	cJSON *env = NULL;
	const char *ws;

	aca_idle.b = b;
	aca_idle.idle_s = aca_conf.job_idle_s;
	if ((aca_extra_tags = aca_def_tags(&aca_conf.tags, e)) == NULL)
		return -1;
	if (azure_backend_open(&aca_az, backend_base(b), backend_httpcli(b),
		backend_registry(b), e) == -1)
		return -1;
	if (aca_env_resolve(e) == -1)
		return -1;
	if (azure_call_sync(aca_az.az, "ManagedEnvironments_Get", "GET",
		aca_env_id, aca_conf.api_version_app, NULL, NULL, &env,
		e) == -1)
		return err_wrap(
		    e, "reading the managed environment %s", aca_env_id);
	ws = json_str(json_obj(json_obj(json_obj(env, "properties"),
				   "appLogsConfiguration"),
			  "logAnalyticsConfiguration"),
	    "customerId");
	if ((aca_conf.workspace_id == NULL ||
		aca_conf.workspace_id[0] == '\0') &&
	    ws != NULL) {
		free(aca_conf.workspace_id);
		aca_conf.workspace_id = xstrdup(ws);
	}
	cJSON_Delete(env);
	if (aca_conf.workspace_id == NULL || aca_conf.workspace_id[0] == '\0')
		return err_set(e, 400,
		    "the environment %s sends its logs to no Log Analytics "
		    "workspace: set aca.workspace_id to the workspace "
		    "holding its console logs",
		    aca_env_id);
	if (aca_vol_init(b, e) == -1)
		return -1;
	backend_set_logs_grace_ms(b, (int)aca_conf.logs_grace_ms);
	log_info("Container Apps jobs in %s (environment %s); agent image %s",
	    aca_az.rg_path, aca_env_id, aca_conf.agent_image);
	return 0;
}

static void
aca_reconcile(struct backend *b)
{
	aca_stream_init(b);
	aca_poll_start(b);
	aca_poll_reconcile(b);
}

static void
aca_shutdown(struct backend *b)
{
	(void)b;
	aca_poll_stop();
	aca_stream_shutdown();
	aca_vol_shutdown();
	kit_idle_free(&aca_idle);
	cJSON_Delete(aca_extra_tags);
	aca_extra_tags = NULL;
	azure_backend_close(&aca_az);
	free(aca_env_id);
	aca_env_id = NULL;
}

KIT_BACKEND(aca, "Azure Container Apps jobs", aca_job,
    .logs_fetch = aca_logs_fetch, .agent_reverse = 1,
    .agent_hello = kit_start_hello, .vol_create = aca_vol_create,
    .vol_remove = aca_vol_remove, .reach = BACKEND_REACH_RELAY)
