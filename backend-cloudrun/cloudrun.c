/* The Cloud Run backend's operation table, configuration and start-up
 * checks. */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cloudrun.h"
#include "sockerless/json.h"
#include "sockerless/log.h"
#include "sockerless/xmalloc.h"

struct cloudrun_conf cloudrun_conf;
struct gcp_backend cloudrun_gcp;
struct kit_orphans cloudrun_orphans;
struct cloudrun cloudrun;

#define K(name, type, field, def, min, max, req, doc)                          \
	{                                                                      \
		"cloudrun." name, type, offsetof(struct cloudrun_conf, field), \
		    def, min, max, req, doc                                    \
	}

static const struct config_key cloudrun_keys[] = {
	K("service_account", CONFIG_STRING, service_account, NULL, 0, 0, 0,
	    "Service account e-mail the job tasks run as (unset: the "
	    "project's Compute Engine default account)"),
	K("vpc_connector", CONFIG_STRING, vpc_connector, NULL, 0, 0, 0,
	    "Serverless VPC Access connector of the tasks' egress "
	    "(projects/P/locations/L/connectors/C); excludes network/subnet"),
	K("network", CONFIG_STRING, network, NULL, 0, 0, 0,
	    "VPC network of Direct VPC egress (with cloudrun.subnet)"),
	K("subnet", CONFIG_STRING, subnet, NULL, 0, 0, 0,
	    "Subnetwork of Direct VPC egress"),
	K("vpc_egress", CONFIG_STRING, vpc_egress, "PRIVATE_RANGES_ONLY", 0, 0,
	    0,
	    "Which egress goes through the VPC: PRIVATE_RANGES_ONLY or "
	    "ALL_TRAFFIC"),
	K("labels", CONFIG_STRV, labels, NULL, 0, 0, 0,
	    "Extra labels (key=value) on every job, sanitised to Google's "
	    "label rules"),
	K("repository", CONFIG_STRING, repository, NULL, 0, 0, 0,
	    "Artifact Registry repository the derived images (the image "
	    "plus the agent) are pushed to (unset: "
	    "<region>-docker.pkg.dev/<project>/sockerless)"),
	K("task_timeout", CONFIG_INT, task_timeout, "3600", 1, 604800, 0,
	    "Seconds a container may run before Cloud Run ends it (the "
	    "task timeout; Cloud Run allows up to 168 h)"),
	K("agent_path", CONFIG_STRING, agent_path,
	    "/usr/lib/sockerless/sockerless-agent", 0, 0, 0,
	    "The static sockerless-agent binary put into derived images"),
	K("endpoint_run", CONFIG_STRING, endpoint_run, NULL, 0, 0, 0,
	    "Endpoint URL of the Cloud Run Admin API only"),
	K("poll_ms", CONFIG_INT, poll_ms, "1000", 200, 60000, 0,
	    "How often running executions are looked at (executions.get)"),
	K("job_idle", CONFIG_INT, job_idle_s, "600", 0, 86400, 0,
	    "Seconds an unused job stays for reuse before it is deleted (0: "
	    "deleted at docker rm)"),
	K("logs_grace_ms", CONFIG_INT, logs_grace_ms, "2000", 0, 60000, 0,
	    "How long logs keep draining after a container stopped, for "
	    "Cloud Logging's ingestion lag"),
	K("logs_poll_ms", CONFIG_INT, logs_poll_ms, "1000", 200, 60000, 0,
	    "How often docker logs -f reads Cloud Logging while a container "
	    "runs (its read quota is per project and minute)"),
	K("volume_bucket", CONFIG_STRING, volume_bucket, NULL, 0, 0, 0,
	    "Cloud Storage bucket whose directories are the Docker volumes, "
	    "mounted into the tasks with gcsfuse (unset: no volumes)"),
	K("volume_prefix", CONFIG_STRING, volume_prefix, "sockerless/volumes",
	    0, 0, 0,
	    "Directory of cloudrun.volume_bucket that holds one directory "
	    "per Docker volume"),
};

static const struct config_set cloudrun_fragments[] = {
	{ gcp_backend_keys, GCP_BACKEND_NKEYS, &cloudrun_gcp },
	{ kit_orphans_keys, KIT_ORPHANS_NKEYS, &cloudrun_orphans },
};

char *
cloudrun_job_path(const char *job, const char *suffix)
{
	if (job == NULL)
		return xasprintf("v2/%s/jobs", cloudrun_gcp.parent);
	return xasprintf("v2/%s/jobs/%s%s", cloudrun_gcp.parent, job,
	    suffix != NULL ? suffix : "");
}

static void
cloudrun_capabilities(struct backend *b, struct caps *c)
{
	(void)b;
	kit_caps_base(c);
	c->flag[CAP_LOGS_FOLLOW] = 1;
	kit_caps_agent(c);
	/* Cloud Run jobs take no inbound connections: members of a network
	 * reach each other through the agent relay (.reach below). */
	c->flag[CAP_NETWORKS] = 1;
	c->flag[CAP_VOLUMES] = cloudrun_vol_on();
	if (!cloudrun_vol_on())
		snprintf(c->why[CAP_VOLUMES], sizeof(c->why[CAP_VOLUMES]), "%s",
		    CLOUDRUN_VOL_WHY);
}

static void
cloudrun_info(struct backend *b, cJSON *info)
{
	char *os = xasprintf("Google Cloud Run jobs (project %s, region %s)",
	    cloudrun_gcp.project, cloudrun_gcp.region);
	char *name = xasprintf("sockerless-cloudrun-%s", cloudrun_gcp.project);

	kit_info(b, info, os, name, "project", cloudrun_gcp.project, "region",
	    cloudrun_gcp.region, (const char *)NULL);
	free(os);
	free(name);
}

/* What the configuration says beside the key checks. */
static int
cloudrun_check_conf(struct err *e)
{
	const char *eg = cloudrun_conf.vpc_egress;

	if (eg != NULL && strcmp(eg, "PRIVATE_RANGES_ONLY") != 0 &&
	    strcmp(eg, "ALL_TRAFFIC") != 0)
		return err_set(e, 400,
		    "cloudrun.vpc_egress must be PRIVATE_RANGES_ONLY or "
		    "ALL_TRAFFIC, not %s",
		    eg);
	if (cloudrun_conf.vpc_connector != NULL &&
	    cloudrun_conf.vpc_connector[0] &&
	    ((cloudrun_conf.network != NULL && cloudrun_conf.network[0]) ||
		(cloudrun_conf.subnet != NULL && cloudrun_conf.subnet[0])))
		return err_set(e, 400,
		    "cloudrun.vpc_connector and cloudrun.network/subnet "
		    "(Direct VPC egress) exclude each other; set one");
	if ((cloudrun.extra_labels =
		    cloudrun_def_labels(&cloudrun_conf.labels, e)) == NULL)
		return -1;
	return 0;
}

/* Start-up: the configuration, credentials and a first token, Cloud Run
 * reachable with them (jobs.list), the agent layer, and where derived
 * images go. */
static int
cloudrun_init(struct backend *b, struct err *e)
{
	cJSON *out = NULL;
	char *path;

	cloudrun.b = b;
	cloudrun_idle.b = b;
	cloudrun_idle.idle_s = cloudrun_conf.job_idle_s;
	if (cloudrun_check_conf(e) == -1)
		return -1;
	if (gcp_backend_open(&cloudrun_gcp, backend_base(b), backend_httpcli(b),
		backend_registry(b), "run", cloudrun_conf.endpoint_run,
		e) == -1)
		return -1;
	path = cloudrun_job_path(NULL, NULL);
	if (gcp_call_sync(cloudrun_gcp.gcp, "run", "jobs.list", "GET", path,
		"pageSize=1", NULL, &out, e) == -1) {
		free(path);
		return err_wrap(e, "checking access to Cloud Run in %s",
		    cloudrun_gcp.parent);
	}
	free(path);
	cJSON_Delete(out);
	if (cloudrun_vol_init(e) == -1)
		return -1;
	if (kit_agent_layer(cloudrun_conf.agent_path, CLOUDRUN_AGENT_PATH + 1,
		&cloudrun.layer, "cloudrun.agent_path",
		"install sockerless-agent (a static build) and point "
		"cloudrun.agent_path at it",
		e) == -1)
		return -1;
	cloudrun.have_layer = 1;
	if (cloudrun_conf.repository == NULL ||
	    cloudrun_conf.repository[0] == '\0') {
		free(cloudrun_conf.repository);
		cloudrun_conf.repository =
		    xasprintf("%s-docker.pkg.dev/%s/sockerless",
			cloudrun_gcp.region, cloudrun_gcp.project);
	}
	backend_set_logs_grace_ms(b, (int)cloudrun_conf.logs_grace_ms);
	log_info("Cloud Run jobs in %s; derived images in %s",
	    cloudrun_gcp.parent, cloudrun_conf.repository);
	return 0;
}

static void
cloudrun_reconcile(struct backend *b)
{
	cloudrun_poll_start(b);
	cloudrun_poll_reconcile(b);
	cloudrun_vol_reconcile(b);
}

static void
cloudrun_shutdown(struct backend *b)
{
	(void)b;
	cloudrun_poll_stop();
	cloudrun_vol_shutdown();
	kit_idle_free(&cloudrun_idle);
	if (cloudrun.have_layer)
		reg_layer_free(&cloudrun.layer);
	cloudrun.have_layer = 0;
	cJSON_Delete(cloudrun.extra_labels);
	cloudrun.extra_labels = NULL;
	gcp_backend_close(&cloudrun_gcp);
}

KIT_BACKEND(cloudrun, "Google Cloud Run jobs", cloudrun_job,
    .logs_fetch = cloudrun_logs_fetch, .agent_reverse = 1,
    .agent_hello = kit_start_hello, .vol_create = cloudrun_vol_create,
    .vol_remove = cloudrun_vol_remove, .reach = BACKEND_REACH_RELAY)
