/* The gcf backend's operation table, configuration and start-up checks:
 * Google credentials, Cloud Functions reachable with them, the agent
 * layer and the Artifact Registry repository of derived images. */
#include <ctype.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gcf.h"
#include "sockerless/config.h"
#include "sockerless/json.h"
#include "sockerless/log.h"
#include "sockerless/reg.h"
#include "sockerless/xmalloc.h"

struct gcf_conf gcf_conf;
struct gcf gcf;

#define K(name, type, field, def, min, max, req, doc)                          \
	{                                                                      \
		"gcf." name, type, offsetof(struct gcf_conf, field), def, min, \
		    max, req, doc                                              \
	}

static const struct config_key gcf_keys[] = {
	K("repository", CONFIG_STRING, repository, "sockerless-gcf", 0, 0, 0,
	    "Artifact Registry repository (in the region) of derived images; "
	    "created at start-up if missing"),
	K("agent_path", CONFIG_STRING, agent_path,
	    "/usr/lib/sockerless/sockerless-agent", 0, 0, 0,
	    "The static sockerless-agent binary put into derived images"),
	K("runtime", CONFIG_STRING, runtime, "python312", 0, 0, 0,
	    "Runtime of the stub functions' one-time source build"),
	K("service_account", CONFIG_STRING, service_account, NULL, 0, 0, 0,
	    "Service account the functions run as (empty: the default "
	    "compute service account)"),
	K("memory", CONFIG_INT, memory, "512", GCF_MIN_MEMORY, GCF_MAX_MEMORY,
	    0, "Memory (MiB) of a run when the container sets no limit"),
	K("timeout", CONFIG_INT, timeout, "3600", 1, GCF_MAX_TIMEOUT, 0,
	    "Longest run in seconds (Cloud Run functions allow 3600)"),
	K("deploy_timeout", CONFIG_INT, deploy_timeout, "600", 30, 3600, 0,
	    "Seconds a function's creation or re-pointing may take"),
};

static const struct config_set gcf_fragments[] = {
	{ gcp_backend_keys, GCP_BACKEND_NKEYS, &gcf.gb },
	{ kit_pool_keys, KIT_POOL_NKEYS, &gcf_conf.pool },
};

static void
gcf_capabilities(struct backend *b, struct caps *c)
{
	(void)b;
	kit_caps_base(c);
	c->max_timeout_seconds = (long)gcf_conf.timeout;
}

static void
gcf_info(struct backend *b, cJSON *info)
{
	char *os = xasprintf("Google Cloud Run functions (project %s, region "
			     "%s)",
	    gcf.gb.project, gcf.gb.region);
	char *name = xasprintf("sockerless-gcf-%s", gcf.gb.region);

	kit_info(b, info, os, name, "project", gcf.gb.project, "region",
	    gcf.gb.region, (const char *)NULL);
	free(os);
	free(name);
}

/* The Artifact Registry repository of derived images; created (format
 * DOCKER) when missing. */
static int
gcf_repository(struct err *e)
{
	char *path = xasprintf(
	    "v1/%s/repositories/%s", gcf.gb.parent, gcf_conf.repository);
	char *query;
	cJSON *out = NULL, *in;
	int rc = 0;

	if (gcp_call_sync(gcf.gb.gcp, "artifactregistry", "repositories.get",
		"GET", path, NULL, NULL, &out, e) == -1) {
		if (e->status != 404) {
			rc = err_wrap(e,
			    "looking up Artifact Registry "
			    "repository %s",
			    gcf_conf.repository);
			goto out;
		}
		in = cJSON_CreateObject();
		json_add_str(in, "format", "DOCKER");
		json_add_str(in, "description",
		    "sockerless gcf: images with sockerless-agent");
		query = xasprintf("repositoryId=%s", gcf_conf.repository);
		free(path);
		path = xasprintf("v1/%s/repositories", gcf.gb.parent);
		rc = gcp_call_sync(gcf.gb.gcp, "artifactregistry",
		    "repositories.create", "POST", path, query, in, &out, e);
		free(query);
		if (rc == -1) {
			err_wrap(e, "creating Artifact Registry repository %s",
			    gcf_conf.repository);
			goto out;
		}
		log_info("created Artifact Registry repository %s",
		    gcf_conf.repository);
	}
	gcf.repository_host = xasprintf("%s-docker.pkg.dev/%s/%s",
	    gcf.gb.region, gcf.gb.project, gcf_conf.repository);
out:
	cJSON_Delete(out);
	free(path);
	return rc;
}

/* "sl-<first 8 of the instance, lower case>-": the pool's functions are
 * this installation's by name as well as by label. */
static void
gcf_prefix(struct backend *b)
{
	char p[16];
	const char *inst = backend_instance(b);
	size_t i, n = 0;

	for (i = 0; inst[i] != '\0' && n < 8; i++)
		if (isalnum((unsigned char)inst[i]))
			p[n++] = (char)tolower((unsigned char)inst[i]);
	p[n] = '\0';
	gcf.prefix = xasprintf("sl-%s-", p);
}

static int
gcf_init(struct backend *b, struct err *e)
{
	char *path;
	cJSON *out = NULL;
	int rc;

	gcf.b = b;
	if (gcp_backend_open(&gcf.gb, backend_base(b), backend_httpcli(b),
		backend_registry(b), "cloudfunctions", NULL, e) == -1)
		return -1;
	path = xasprintf("v2/%s/functions", gcf.gb.parent);
	rc = gcp_call_sync(gcf.gb.gcp, "cloudfunctions", "functions.list",
	    "GET", path, "pageSize=1", NULL, &out, e);
	free(path);
	cJSON_Delete(out);
	if (rc == -1)
		return err_wrap(e, "checking access to Cloud Functions in %s",
		    gcf.gb.parent);
	if (kit_agent_layer(gcf_conf.agent_path, GCF_AGENT_PATH + 1, &gcf.layer,
		"gcf.agent_path",
		"install sockerless-agent (every image runs through it on "
		"Cloud Run functions)",
		e) == -1)
		return -1;
	gcf.have_layer = 1;
	if (gcf_repository(e) == -1)
		return -1;
	gcf_prefix(b);
	gcf_faas_init();
	/* The output comes with the answer: nothing lags behind it. */
	backend_set_logs_grace_ms(b, 0);
	log_info("Cloud Run functions in %s (pool of at most %lld, images in "
		 "%s)",
	    gcf.gb.parent, gcf_conf.pool.pool_max, gcf.repository_host);
	return 0;
}

static void
gcf_reconcile(struct backend *b)
{
	gcf_pool_start(b);
	gcf_rec_start(b);
}

static void
gcf_shutdown(struct backend *b)
{
	kit_faas_shutdown(b);
	gcf_rec_stop();
	kit_pool_stop();
	if (gcf.have_layer)
		reg_layer_free(&gcf.layer);
	free(gcf.repository_host);
	free(gcf.prefix);
	gcp_backend_close(&gcf.gb);
}

/* The output comes with the answer, kept in the container's state. */
KIT_BACKEND(
    gcf, "Google Cloud Run functions", kit_faas, .logs_fetch = kit_logs_kept)
