/* The GCP provider of the cloud call core: endpoints per service, a
 * bearer token from gcp_auth on every attempt, JSON REST requests with
 * Google's conventions, and the conventions' own helpers (durations,
 * RFC 3339 times, labels). Calls in flight, cancel, completion and
 * retries are the core's (cloud.c); the error envelope and table are
 * gcp_err.c's, operations and lists gcp_lro.c's, Logging gcp_logs.c's. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>

#include "sockerless/cloud.h"
#include "sockerless/gcp.h"
#include "sockerless/gcp_auth.h"
#include "sockerless/httpcli.h"
#include "sockerless/json.h"
#include "sockerless/log.h"
#include "sockerless/str.h"
#include "sockerless/xmalloc.h"

#include "gcp_int.h"

/* Google's public endpoints of the services the backends call. */
static const struct gcp_svc {
	const char *name, *url;
} gcp_svcs[] = {
	{ "run", "https://run.googleapis.com" },
	{ "cloudfunctions", "https://cloudfunctions.googleapis.com" },
	{ "logging", "https://logging.googleapis.com" },
	{ "artifactregistry", "https://artifactregistry.googleapis.com" },
	{ "storage", "https://storage.googleapis.com" },
	{ "file", "https://file.googleapis.com" },
	{ "iamcredentials", "https://iamcredentials.googleapis.com" },
};

static int gcp_authorize(
    void *ctx, struct httpcli_req *r, void *call_data, struct err *e);

/* Five attempts as on AWS (aws.c says why); RetryInfo's delay replaces
 * the jittered one when Google names it. */
static const struct cloud_provider gcp_provider_def = {
	.name = "gcp",
	.authorize = gcp_authorize,
	.parse_error = gcp_cloud_parse_error,
	.request_id = gcp_request_id,
	.errors = gcp_errors,
	.attempts = 5,
	.retry_delay = gcp_retry_delay,
};

const struct cloud_provider *
gcp_provider(void)
{
	return &gcp_provider_def;
}

/* url without its trailing slashes (s is modified and returned). */
static char *
gcp_trim(char *s)
{
	size_t n = strlen(s);

	while (n > 0 && s[n - 1] == '/')
		s[--n] = '\0';
	return s;
}

/* What the caller's callback needs of one call: the core's call data. */
struct gcp_req {
	gcp_cb cb;
	void *arg;
	void (*arg_free)(void *); /* gcp_call_owned */
};

struct gcp *
gcp_new(struct event_base *base, struct httpcli *http,
    const struct gcp_options *o, struct err *e)
{
	struct gcp *g = xcalloc(1, sizeof(*g));

	(void)e;
	g->base = base;
	if (o != NULL) {
		g->auth = o->auth;
		if (o->endpoint != NULL && *o->endpoint != '\0')
			g->endpoint = gcp_trim(xstrdup(o->endpoint));
	}
	TAILQ_INIT(&g->seqs);
	g->core = cloud_new(base, http, &gcp_provider_def, g);
	return g;
}

void
gcp_free(struct gcp *g)
{
	if (g == NULL)
		return;
	gcp_seq_free_all(g);
	/* Calls in flight end here without their callbacks. */
	cloud_free(g->core);
	for (size_t i = 0; i < g->neps; i++) {
		free(g->eps[i].svc);
		free(g->eps[i].url);
	}
	free(g->eps);
	free(g->endpoint);
	free(g);
}

struct cloud *
gcp_cloud(struct gcp *g)
{
	return g->core;
}

void
gcp_set_endpoint(struct gcp *g, const char *svc, const char *url)
{
	if (url == NULL || *url == '\0')
		return;
	for (size_t i = 0; i < g->neps; i++) {
		if (strcmp(g->eps[i].svc, svc) == 0) {
			free(g->eps[i].url);
			g->eps[i].url = gcp_trim(xstrdup(url));
			return;
		}
	}
	g->eps = xreallocarray(g->eps, g->neps + 1, sizeof(*g->eps));
	g->eps[g->neps].svc = xstrdup(svc);
	g->eps[g->neps].url = gcp_trim(xstrdup(url));
	g->neps++;
}

/* Per-service override, then the global one, then Google's host; NULL
 * for a service this file does not know and nothing overrides. */
const char *
gcp_endpoint(const struct gcp *g, const char *svc)
{
	for (size_t i = 0; i < g->neps; i++)
		if (strcmp(g->eps[i].svc, svc) == 0)
			return g->eps[i].url;
	if (g->endpoint != NULL)
		return g->endpoint;
	for (size_t i = 0; i < sizeof(gcp_svcs) / sizeof(gcp_svcs[0]); i++)
		if (strcmp(gcp_svcs[i].name, svc) == 0)
			return gcp_svcs[i].url;
	return NULL;
}

/* --- calls --- */

/* A cached token, else the blocking fetch (as aws_creds refreshes in its
 * authorize): gcp_auth refreshes ahead of expiry, so the fetch is rare. */
static int
gcp_authorize(void *ctx, struct httpcli_req *r, void *call_data, struct err *e)
{
	struct gcp *g = ctx;
	const char *tok;
	char *fetched = NULL, *hdr;

	(void)call_data;
	if (g->auth == NULL)
		return 0;
	if ((tok = gcp_auth_token_cached(g->auth)) == NULL) {
		if (gcp_auth_token_sync(g->auth, &fetched, e) == -1)
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

/* <endpoint>/<path>?<query>&alt=json, or NULL for an unknown service. */
static char *
gcp_url(
    const struct gcp *g, const char *svc, const char *path, const char *query)
{
	const char *ep = gcp_endpoint(g, svc);

	if (ep == NULL)
		return NULL;
	while (*path == '/')
		path++;
	return xasprintf("%s/%s?%s%salt=json", ep, path,
	    query != NULL ? query : "",
	    query != NULL && *query != '\0' ? "&" : "");
}

/* The request of a call, or NULL (unknown service); takes body. */
static struct httpcli_req *
gcp_req_new(const struct gcp *g, const char *svc, const char *method,
    const char *path, const char *query, cJSON *body)
{
	char *url = gcp_url(g, svc, path, query), *s;
	struct httpcli_req *r;

	if (url == NULL) {
		cJSON_Delete(body);
		return NULL;
	}
	r = httpcli_req_new(method, url);
	free(url);
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

/* The services are the backends' own constants: an unknown one is a bug
 * in the code, not something a client or the cloud sent. */
uint64_t
gcp_call_raw(struct gcp *g, const char *svc, const char *op, const char *method,
    const char *path, const char *query, cJSON *body, int attempts, cloud_cb cb,
    void *data, void (*data_free)(void *))
{
	struct cloud_call_spec s;

	memset(&s, 0, sizeof(s));
	s.service = svc;
	s.op = op;
	s.attempts = attempts;
	s.data = data;
	s.data_free = data_free;
	if ((s.req = gcp_req_new(g, svc, method, path, query, body)) == NULL)
		fatalx("%s: no endpoint for Google service %s", __func__, svc);
	return cloud_call(g->core, &s, cb, data);
}

static void
gcp_call_done(void *arg, const struct httpcli_resp *resp, const cJSON *out,
    const struct cloud_error *ce)
{
	struct gcp_req *q = arg;

	/* An empty 2xx body is the core's {}: the contract says NULL. */
	if (out != NULL && cJSON_IsObject(out) && out->child == NULL &&
	    resp->body_len == 0)
		out = NULL;
	q->cb(q->arg, out, ce);
}

static void
gcp_req_free(void *arg)
{
	struct gcp_req *q = arg;

	if (q->arg_free != NULL)
		q->arg_free(q->arg);
	free(q);
}

uint64_t
gcp_call_owned(struct gcp *g, const char *svc, const char *op,
    const char *method, const char *path, const char *query, cJSON *body,
    int attempts, gcp_cb cb, void *arg, void (*arg_free)(void *))
{
	struct gcp_req *q = xcalloc(1, sizeof(*q));

	q->cb = cb;
	q->arg = arg;
	q->arg_free = arg_free;
	return gcp_call_raw(g, svc, op, method, path, query, body, attempts,
	    gcp_call_done, q, gcp_req_free);
}

uint64_t
gcp_call(struct gcp *g, const char *svc, const char *op, const char *method,
    const char *path, const char *query, cJSON *body, int attempts, gcp_cb cb,
    void *arg)
{
	return gcp_call_owned(
	    g, svc, op, method, path, query, body, attempts, cb, arg, NULL);
}

int
gcp_call_sync(struct gcp *g, const char *svc, const char *op,
    const char *method, const char *path, const char *query, cJSON *body,
    cJSON **out, struct err *e)
{
	struct cloud_call_spec s;

	*out = NULL;
	memset(&s, 0, sizeof(s));
	s.service = svc;
	s.op = op;
	if ((s.req = gcp_req_new(g, svc, method, path, query, body)) == NULL) {
		err_set(e, 500, "no endpoint for Google service %s", svc);
		return -1;
	}
	return cloud_call_sync(g->core, &s, out, e);
}

void
gcp_cancel(struct gcp *g, uint64_t id)
{
	if (id & GCP_SEQ_ID)
		gcp_seq_cancel(g, id);
	else
		cloud_cancel(g->core, id);
}

/* --- conventions --- */

void
gcp_duration(char *out, size_t outsz, long long seconds)
{
	snprintf(out, outsz, "%llds", seconds);
}

long long
gcp_duration_parse(const char *s)
{
	long long whole = 0;
	int frac = 0, digits = 0;

	if (s == NULL || !isdigit((unsigned char)*s))
		return -1;
	for (; isdigit((unsigned char)*s); s++, digits++) {
		if (digits >= 12) /* 315,576,000,000 s is proto's limit */
			return -1;
		whole = whole * 10 + (*s - '0');
	}
	if (*s == '.') {
		if (!isdigit((unsigned char)*++s))
			return -1;
		for (digits = 0; isdigit((unsigned char)*s); s++, digits++)
			if (digits < 9 && *s != '0')
				frac = 1;
	}
	if (strcmp(s, "s") != 0)
		return -1;
	return whole + frac;
}

void
gcp_time(char *out, size_t outsz, int64_t ns)
{
	time_t t;
	struct tm tm;
	char day[32];

	if (ns < 0)
		ns = 0;
	t = (time_t)(ns / 1000000000);
	gmtime_r(&t, &tm);
	strftime(day, sizeof(day), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(out, outsz, "%s.%09lldZ", day, (long long)(ns % 1000000000));
}

int64_t
gcp_time_parse(const char *s)
{
	return str_time_parse_cloud(s);
}

/* One byte of a label: [a-z0-9_-] stays (upper case lowered); any other
 * byte is '-', UTF-8 continuation bytes vanish (one '-' per character).
 * Returns 0 for a byte that vanishes. */
static char
gcp_label_char(unsigned char c)
{
	if ((c & 0xc0) == 0x80)
		return 0;
	if (isupper(c))
		return (char)tolower(c);
	if (islower(c) || isdigit(c) || c == '_' || c == '-')
		return (char)c;
	return '-';
}

static void
gcp_label_map(const char *in, char *out, size_t outsz, int key)
{
	size_t n = 0, max = outsz - 1 < 63 ? outsz - 1 : 63;
	char c;

	if (key && *in != '\0' && !isalpha((unsigned char)*in) && max > 0)
		out[n++] = 'k';
	for (; *in != '\0' && n < max; in++)
		if ((c = gcp_label_char((unsigned char)*in)) != 0)
			out[n++] = c;
	out[n] = '\0';
}

int
gcp_label_key(const char *in, char *out, size_t outsz)
{
	if (outsz == 0)
		return -1;
	gcp_label_map(in != NULL ? in : "", out, outsz, 1);
	return out[0] != '\0' ? 0 : -1;
}

void
gcp_label_value(const char *in, char *out, size_t outsz)
{
	if (outsz == 0)
		return;
	gcp_label_map(in != NULL ? in : "", out, outsz, 0);
}

cJSON *
gcp_labels_from_docker(const cJSON *labels, int max)
{
	cJSON *out = cJSON_CreateObject();
	const cJSON *it;
	char k[64], v[64];
	int n = 0;

	cJSON_ArrayForEach(it, labels) {
		if (!cJSON_IsString(it) || it->string == NULL ||
		    gcp_label_key(it->string, k, sizeof(k)) == -1 ||
		    cJSON_GetObjectItemCaseSensitive(out, k) != NULL)
			continue;
		if (n >= max) {
			log_warnx("more than %d labels: the rest are not "
				  "copied to Google labels",
			    max);
			break;
		}
		gcp_label_value(it->valuestring, v, sizeof(v));
		cJSON_AddStringToObject(out, k, v);
		n++;
	}
	return out;
}
