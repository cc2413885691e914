/* The Azure provider of the cloud call core: the ARM and Log Analytics
 * endpoints, an Entra bearer token for the call's scope on every attempt,
 * JSON requests with api-version, and ARM's conventions (RFC 3339 times
 * with 7 fraction digits, tags). Calls in flight, cancel, completion and
 * retries are the core's (cloud.c); the error envelope and table are
 * azure_err.c's, operations and lists azure_lro.c's, Log Analytics and
 * the log stream azure_logs.c's. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>

#include "sockerless/azure.h"
#include "sockerless/azure_auth.h"
#include "sockerless/cloud.h"
#include "sockerless/httpcli.h"
#include "sockerless/log.h"
#include "sockerless/str.h"
#include "sockerless/xmalloc.h"

#include "azure_arm_int.h"
#include "azure_int.h"

#define AZURE_ARM_URL  "https://management.azure.com"
#define AZURE_LOGS_URL "https://api.loganalytics.io"

static int azure_authorize(
    void *ctx, struct httpcli_req *r, void *call_data, struct err *e);

/* azure-core's RetryPolicy retries up to 10 times; the core's jittered
 * back-off (or Retry-After) between them. Five attempts as on AWS and GCP
 * keep a call within httpcli's total time limit. */
static const struct cloud_provider azure_provider_def = {
	.name = "azure",
	.authorize = azure_authorize,
	.parse_error = azure_cloud_parse_error,
	.request_id = azure_request_id,
	.errors = azure_errors,
	.attempts = 5,
	.retry_delay = azure_retry_delay,
};

const struct cloud_provider *
azure_provider(void)
{
	return &azure_provider_def;
}

/* url without its trailing slashes, copied. */
static char *
azure_trim(const char *url)
{
	char *s = xstrdup(url);
	size_t n = strlen(s);

	while (n > 0 && s[n - 1] == '/')
		s[--n] = '\0';
	return s;
}

struct azure *
azure_new(struct event_base *base, struct httpcli *http,
    const struct azure_options *o, struct err *e)
{
	struct azure *z = xcalloc(1, sizeof(*z));
	const char *arm = AZURE_ARM_URL, *logs = AZURE_LOGS_URL;

	(void)e;
	z->base = base;
	z->http = http;
	if (o != NULL) {
		z->auth = o->auth;
		if (o->endpoint_arm != NULL && *o->endpoint_arm != '\0')
			arm = o->endpoint_arm;
		if (o->endpoint_logs != NULL && *o->endpoint_logs != '\0')
			logs = o->endpoint_logs;
	}
	z->ep_arm = azure_trim(arm);
	z->ep_logs = azure_trim(logs);
	TAILQ_INIT(&z->seqs);
	z->core = cloud_new(base, http, &azure_provider_def, z);
	return z;
}

void
azure_free(struct azure *z)
{
	if (z == NULL)
		return;
	/* The log streams first: they may hold calls on the core. */
	if (z->logs_free != NULL)
		z->logs_free(z);
	azure_seq_free_all(z);
	/* Calls in flight end here without their callbacks. */
	cloud_free(z->core);
	free(z->ep_arm);
	free(z->ep_logs);
	free(z);
}

const char *
azure_endpoint_arm(const struct azure *z)
{
	return z->ep_arm;
}

const char *
azure_endpoint_logs(const struct azure *z)
{
	return z->ep_logs;
}

struct cloud *
azure_cloud(struct azure *z)
{
	return z->core;
}

/* --- calls --- */

/* The core's data of one call: the scope its token is for, and the
 * caller's argument with its destructor. */
struct azure_cd {
	char *scope;
	struct azure *z;
	cloud_cb cb;
	void *arg;
	void (*arg_free)(void *);
};

static void
azure_cd_free(void *p)
{
	struct azure_cd *cd = p;

	if (cd->arg_free != NULL)
		cd->arg_free(cd->arg);
	free(cd->scope);
	free(cd);
}

static struct azure_cd *
azure_cd_new(const char *scope, void *arg, void (*arg_free)(void *))
{
	struct azure_cd *cd = xcalloc(1, sizeof(*cd));

	cd->scope = xstrdup(scope != NULL ? scope : AZURE_SCOPE_ARM);
	cd->arg = arg;
	cd->arg_free = arg_free;
	return cd;
}

/* A cached token, else the blocking fetch (as gcp_authorize does):
 * azure_auth refreshes ahead of expiry, so the fetch is rare. */
static int
azure_authorize(
    void *ctx, struct httpcli_req *r, void *call_data, struct err *e)
{
	struct azure *z = ctx;
	struct azure_cd *cd = call_data;
	const char *tok, *scope = cd != NULL ? cd->scope : AZURE_SCOPE_ARM;
	char *fetched = NULL, *hdr;

	if (z->auth == NULL)
		return 0;
	if ((tok = azure_auth_token_cached(z->auth, scope)) == NULL) {
		if (azure_auth_token_sync(z->auth, scope, &fetched, e) == -1)
			return -1;
		tok = fetched;
	}
	hdr = xasprintf("Bearer %s", tok);
	httpcli_req_header(r, "Authorization", hdr);
	explicit_bzero(hdr, strlen(hdr));
	free(hdr);
	if (fetched != NULL) {
		explicit_bzero(fetched, strlen(fetched));
		free(fetched);
	}
	return 0;
}

struct httpcli_req *
azure_req_new(const char *method, const char *url, cJSON *body)
{
	struct httpcli_req *r = httpcli_req_new(method, url);
	char *s;

	httpcli_req_header(r, "Accept", "application/json");
	if (body != NULL) {
		s = cJSON_PrintUnformatted(body);
		httpcli_req_header(r, "Content-Type", "application/json");
		httpcli_req_body(r, s, strlen(s));
		free(s);
		cJSON_Delete(body);
	}
	return r;
}

/* A 401 means the service no longer takes the cached token (revoked, or
 * a restarted service forgot it): it is dropped so that the next call
 * fetches a new one, as azure-core's BearerTokenCredentialPolicy does
 * (the call itself fails, as there). */
static void
azure_cd_done(void *arg, const struct httpcli_resp *resp, const cJSON *out,
    const struct cloud_error *ce)
{
	struct azure_cd *cd = arg;

	if (ce != NULL && ce->http_status == 401 && cd->z->auth != NULL)
		azure_auth_forget(cd->z->auth, cd->scope);
	cd->cb(cd->arg, resp, out, ce);
}

uint64_t
azure_call_req(struct azure *z, const char *scope, const char *op,
    struct httpcli_req *req, int attempts, int raw, cloud_cb cb, void *arg,
    void (*arg_free)(void *))
{
	struct cloud_call_spec s;
	struct azure_cd *cd;

	memset(&s, 0, sizeof(s));
	s.service = "azure";
	s.op = op;
	s.req = req;
	s.attempts = attempts;
	s.raw = raw;
	s.data = azure_cd_new(scope, arg, arg_free);
	s.data_free = azure_cd_free;
	cd = s.data;
	cd->z = z;
	cd->cb = cb;
	return cloud_call(z->core, &s, azure_cd_done, cd);
}

int
azure_url_absolute(const char *path)
{
	return strncmp(path, "https://", 8) == 0 ||
	    strncmp(path, "http://", 7) == 0;
}

char *
azure_url(const struct azure *z, const char *path, const char *api_version,
    const char *query)
{
	const char *q = query != NULL ? query : "";
	const char *slash = path[0] == '/' ? "" : "/";

	/* A nextLink or an operation URL carries its own api-version. */
	if (azure_url_absolute(path))
		return xstrdup(path);
	if (api_version == NULL || *api_version == '\0')
		return xasprintf("%s%s%s%s%s", z->ep_arm, slash, path,
		    *q != '\0' ? "?" : "", q);
	return xasprintf("%s%s%s?api-version=%s%s%s", z->ep_arm, slash, path,
	    api_version, *q != '\0' ? "&" : "", q);
}

/* The caller's callback and argument of one azure_call. */
struct azure_req {
	azure_cb cb;
	void *arg;
	void (*arg_free)(void *); /* azure_call_owned */
};

static void
azure_req_free(void *arg)
{
	struct azure_req *q = arg;

	if (q->arg_free != NULL)
		q->arg_free(q->arg);
	free(q);
}

static void
azure_call_done(void *arg, const struct httpcli_resp *resp, const cJSON *out,
    const struct cloud_error *ce)
{
	struct azure_req *q = arg;

	/* An empty 2xx body is the core's {}: the contract says NULL. */
	if (out != NULL && resp->body_len == 0)
		out = NULL;
	q->cb(q->arg, out, ce);
}

uint64_t
azure_call_owned(struct azure *z, const char *op, const char *method,
    const char *path, const char *api_version, const char *query, cJSON *body,
    int attempts, azure_cb cb, void *arg, void (*arg_free)(void *))
{
	struct azure_req *q = xcalloc(1, sizeof(*q));
	char *url = azure_url(z, path, api_version, query);
	struct httpcli_req *r = azure_req_new(method, url, body);

	free(url);
	q->cb = cb;
	q->arg = arg;
	q->arg_free = arg_free;
	return azure_call_req(z, AZURE_SCOPE_ARM, op, r, attempts, 0,
	    azure_call_done, q, azure_req_free);
}

uint64_t
azure_call(struct azure *z, const char *op, const char *method,
    const char *path, const char *api_version, const char *query, cJSON *body,
    int attempts, azure_cb cb, void *arg)
{
	return azure_call_owned(z, op, method, path, api_version, query, body,
	    attempts, cb, arg, NULL);
}

int
azure_call_sync(struct azure *z, const char *op, const char *method,
    const char *path, const char *api_version, const char *query, cJSON *body,
    cJSON **out, struct err *e)
{
	struct cloud_call_spec s;
	char *url = azure_url(z, path, api_version, query);
	int rc;

	*out = NULL;
	memset(&s, 0, sizeof(s));
	s.service = "azure";
	s.op = op;
	s.req = azure_req_new(method, url, body);
	s.data = azure_cd_new(AZURE_SCOPE_ARM, NULL, NULL);
	s.data_free = azure_cd_free;
	free(url);
	rc = cloud_call_sync(z->core, &s, out, e);
	/* An empty 2xx body is the core's {}: the contract says NULL (an
	 * answer of {} reads the same: nothing in it either). */
	if (rc == 0 && *out != NULL && cJSON_IsObject(*out) &&
	    (*out)->child == NULL) {
		cJSON_Delete(*out);
		*out = NULL;
	}
	return rc;
}

void
azure_cancel(struct azure *z, uint64_t id)
{
	if (id & AZURE_SEQ_ID)
		azure_seq_cancel(z, id);
	else if (id & AZURE_LOGS_ID) {
		if (z->logs_cancel != NULL)
			z->logs_cancel(z, id);
	} else
		cloud_cancel(z->core, id);
}

/* --- conventions --- */

void
azure_time(char *out, size_t outsz, int64_t ns)
{
	time_t t;
	struct tm tm;
	char day[32];

	if (ns < 0)
		ns = 0;
	t = (time_t)(ns / 1000000000);
	gmtime_r(&t, &tm);
	strftime(day, sizeof(day), "%Y-%m-%dT%H:%M:%S", &tm);
	/* 100 ns ticks: .NET's DateTime precision, what ARM sends. */
	snprintf(out, outsz, "%s.%07lldZ", day,
	    (long long)((ns % 1000000000) / 100));
}

int64_t
azure_time_parse(const char *s)
{
	return str_time_parse_cloud(s);
}

/* Characters ARM refuses in a tag name. */
#define AZURE_TAG_BAD "<>%&\\?/"
#define AZURE_TAG_KEY 512
#define AZURE_TAG_VAL 256
#define AZURE_TAGS    50

/* At most max bytes of in into out (outsz > max), not cutting a UTF-8
 * character; bad characters (NULL: none) become '_'. */
static void
azure_tag_copy(const char *in, char *out, size_t max, const char *bad)
{
	size_t n = strlen(in);

	if (n > max) {
		n = max;
		while (n > 0 && ((unsigned char)in[n] & 0xc0) == 0x80)
			n--;
	}
	for (size_t i = 0; i < n; i++)
		out[i] =
		    bad != NULL && strchr(bad, in[i]) != NULL ? '_' : in[i];
	out[n] = '\0';
}

cJSON *
azure_tags_from_docker(const cJSON *labels, int max)
{
	cJSON *out = cJSON_CreateObject();
	const cJSON *it;
	char k[AZURE_TAG_KEY + 1], v[AZURE_TAG_VAL + 1];
	int n = 0;

	if (max <= 0 || max > AZURE_TAGS)
		max = AZURE_TAGS;
	cJSON_ArrayForEach(it, labels) {
		if (!cJSON_IsString(it) || it->string == NULL ||
		    *it->string == '\0')
			continue;
		azure_tag_copy(it->string, k, AZURE_TAG_KEY, AZURE_TAG_BAD);
		/* Tag names are case-insensitive in ARM. */
		if (cJSON_GetObjectItem(out, k) != NULL)
			continue;
		if (n >= max) {
			log_warnx("more than %d labels: the rest are not "
				  "copied to Azure tags",
			    max);
			break;
		}
		azure_tag_copy(it->valuestring, v, AZURE_TAG_VAL, NULL);
		cJSON_AddStringToObject(out, k, v);
		n++;
	}
	return out;
}
