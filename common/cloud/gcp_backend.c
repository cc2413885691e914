/* The Google Cloud part every GCP backend shares: its configuration keys,
 * its session (ADC credentials, the REST client with its endpoints) and
 * the registry client's Artifact Registry and gcr.io login
 * ("oauth2accesstoken" and a current access token). Below the backend
 * framework: takes the event base, HTTP client and registry client from
 * the caller. */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "sockerless/gcp_backend.h"
#include "sockerless/log.h"
#include "sockerless/reg.h"
#include "sockerless/str.h"
#include "sockerless/xmalloc.h"

#define K(name, field, req, doc)                                          \
	{                                                                 \
		name, CONFIG_STRING, offsetof(struct gcp_backend, field), \
		    NULL, 0, 0, req, doc                                  \
	}

const struct config_key gcp_backend_keys[GCP_BACKEND_NKEYS] = {
	K("project", project, 0,
	    "Google Cloud project of the backend's resources (default: the "
	    "credentials' project)"),
	K("region", region, 1, "Google Cloud region, e.g. us-central1"),
	K("credentials_file", credentials_file, 0,
	    "Google credentials JSON file (service account key, authorized "
	    "user or external account) instead of the Application Default "
	    "Credentials search"),
	K("endpoint", endpoint, 0,
	    "Endpoint URL for every Google service (a simulator, a private "
	    "endpoint)"),
	K("endpoint_token", endpoint_token, 0,
	    "OAuth 2.0 token endpoint URL (default: the key file's token_uri)"),
	K("endpoint_sts", endpoint_sts, 0,
	    "Security Token Service endpoint URL (workload identity "
	    "federation)"),
	K("endpoint_iamcredentials", endpoint_iamcredentials, 0,
	    "IAM Service Account Credentials endpoint URL (impersonation)"),
	K("metadata_host", metadata_host, 0,
	    "Metadata server host[:port] (default: GCE_METADATA_HOST, else "
	    "metadata.google.internal)"),
	K("registry_hosts", registry_hosts, 0,
	    "Registry hosts (space separated host[:port]) that take Google's "
	    "oauth2accesstoken login besides *-docker.pkg.dev and gcr.io"),
};

/* Whether host ends with "." suffix or is suffix itself. */
static int
gcp_host_under(const char *host, const char *suffix)
{
	size_t hl = strlen(host), sl = strlen(suffix);

	return strcmp(host, suffix) == 0 ||
	    (hl > sl + 1 && host[hl - sl - 1] == '.' &&
		strcmp(host + hl - sl, suffix) == 0);
}

static int
gcp_host_listed(const char *list, const char *host)
{
	size_t hl = strlen(host);

	for (const char *p = list; p != NULL && *p != '\0';) {
		size_t n;

		p += strspn(p, " \t,");
		n = strcspn(p, " \t,");
		if (n == hl && n > 0 && strncmp(p, host, n) == 0)
			return 1;
		p += n;
	}
	return 0;
}

/* "<location>-docker.pkg.dev", the location a single label. */
static int
gcp_host_pkg_dev(const char *host)
{
	const char *sfx = "-docker.pkg.dev";
	size_t hl = strlen(host), sl = strlen(sfx);

	return hl > sl && strcmp(host + hl - sl, sfx) == 0 &&
	    memchr(host, '.', hl - sl) == NULL;
}

int
gcp_backend_registry_host(const struct gcp_backend *gb, const char *host)
{
	if (host == NULL || *host == '\0')
		return 0;
	if (gcp_host_listed(gb->registry_hosts, host))
		return 1;
	/* Artifact Registry "<location>-docker.pkg.dev"; Container
	 * Registry gcr.io, us.gcr.io, ... (both without a port). */
	if (strchr(host, ':') != NULL)
		return 0;
	return gcp_host_pkg_dev(host) || gcp_host_under(host, "gcr.io");
}

/* --- the registry login --- */

struct gcp_reg_op {
	reg_creds_done done;
	void *done_arg;
};

static void
gcp_reg_token(void *arg, const char *token, const struct err *e)
{
	struct gcp_reg_op *op = arg;

	if (token == NULL)
		op->done(op->done_arg, NULL, NULL, e);
	else
		op->done(op->done_arg, "oauth2accesstoken", token, NULL);
	free(op);
}

/* The access token the cloud calls use: images are resolved and derived
 * images pushed with the same identity. */
static int
gcp_reg_hook(void *arg, const char *host, reg_creds_done done, void *done_arg)
{
	struct gcp_backend *gb = arg;
	struct gcp_reg_op *op;
	const char *tok;

	if (!gcp_backend_registry_host(gb, host))
		return -1;
	if ((tok = gcp_auth_token_cached(gb->auth)) != NULL) {
		done(done_arg, "oauth2accesstoken", tok, NULL);
		return 0;
	}
	op = xcalloc(1, sizeof(*op));
	op->done = done;
	op->done_arg = done_arg;
	gcp_auth_token(gb->auth, gcp_reg_token, op);
	return 0;
}

/* --- the session --- */

/* The credentials and their first token: a wrong key fails here. */
static int
gcp_backend_auth(struct gcp_backend *gb, struct event_base *base,
    struct httpcli *http, struct err *e)
{
	struct gcp_auth_conf conf;
	char *tok = NULL;

	memset(&conf, 0, sizeof(conf));
	conf.credentials_file = gb->credentials_file;
	conf.token_uri = gb->endpoint_token;
	conf.sts_endpoint = gb->endpoint_sts;
	conf.iamcredentials_endpoint = gb->endpoint_iamcredentials;
	conf.metadata_host = gb->metadata_host;
	if ((gb->auth = gcp_auth_new(base, http, &conf, e)) == NULL)
		return -1;
	if (gcp_auth_token_sync(gb->auth, &tok, e) == -1)
		return -1;
	explicit_bzero(tok, strlen(tok));
	free(tok);
	log_info("Google credentials from %s", gcp_auth_source(gb->auth));
	return 0;
}

/* The configured project, else the credentials'. */
static int
gcp_backend_project(struct gcp_backend *gb, struct err *e)
{
	const char *p;

	if (gb->project != NULL && *gb->project != '\0')
		return 0;
	if ((p = gcp_auth_project(gb->auth)) == NULL || *p == '\0') {
		err_set(e, 500,
		    "no Google Cloud project: set the backend's project key "
		    "(the credentials from %s name none)",
		    gcp_auth_source(gb->auth));
		return -1;
	}
	free(gb->project);
	gb->project = xstrdup(p);
	return 0;
}

int
gcp_backend_open(struct gcp_backend *gb, struct event_base *base,
    struct httpcli *http, struct reg_client *reg, const char *svc,
    const char *svc_endpoint, struct err *e)
{
	struct gcp_options o;

	if (gb->region == NULL || *gb->region == '\0') {
		err_set(e, 500,
		    "Google Cloud region is not set: set the "
		    "backend's region key (e.g. us-central1)");
		return -1;
	}
	if (gcp_backend_auth(gb, base, http, e) == -1 ||
	    gcp_backend_project(gb, e) == -1)
		goto fail;
	memset(&o, 0, sizeof(o));
	o.auth = gb->auth;
	o.endpoint = gb->endpoint;
	if ((gb->gcp = gcp_new(base, http, &o, e)) == NULL)
		goto fail;
	gcp_set_endpoint(gb->gcp, svc, svc_endpoint);
	gb->parent =
	    xasprintf("projects/%s/locations/%s", gb->project, gb->region);
	if (reg != NULL)
		reg_set_creds_hook(reg, gcp_reg_hook, gb);
	return 0;
fail:
	gcp_backend_close(gb);
	return -1;
}

void
gcp_backend_close(struct gcp_backend *gb)
{
	gcp_free(gb->gcp);
	gb->gcp = NULL;
	if (gb->auth != NULL)
		gcp_auth_free(gb->auth);
	gb->auth = NULL;
	free(gb->parent);
	gb->parent = NULL;
}
