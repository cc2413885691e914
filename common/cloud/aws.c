/* The AWS provider of the cloud call core: endpoints per service, SigV4
 * on every attempt, the awsJson1.1 and rest-json protocols. Calls in
 * flight, cancel, completion and retries are the core's (cloud.c); the
 * error envelopes and table are aws_err.c's. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <event2/event.h>

#include "sockerless/aws.h"
#include "sockerless/cloud.h"
#include "sockerless/httpcli.h"
#include "sockerless/json.h"
#include "sockerless/log.h"
#include "sockerless/str.h"
#include "sockerless/xmalloc.h"

#include "aws_int.h"

/* A failed refresh is tried again this often until it works. */
#define AWS_REFRESH_RETRY_SEC 30

/* From botocore's service-2.json metadata (endpointPrefix, signingName,
 * targetPrefix). STS answers awsJson 1.0 as well as its Query protocol.
 * rest-json services (Lambda) have no target: the path names the
 * operation, and Query services (EC2) the form body's Action. */
static const struct aws_svc {
	const char *name, *prefix, *signing, *target, *ctype;
} aws_svcs[] = {
	{ "ecs", "ecs", "ecs", "AmazonEC2ContainerServiceV20141113",
	    "application/x-amz-json-1.1" },
	{ "logs", "logs", "logs", "Logs_20140328",
	    "application/x-amz-json-1.1" },
	{ "ecr", "api.ecr", "ecr", "AmazonEC2ContainerRegistry_V20150921",
	    "application/x-amz-json-1.1" },
	{ "servicediscovery", "servicediscovery", "servicediscovery",
	    "Route53AutoNaming_v20170314", "application/x-amz-json-1.1" },
	{ "secretsmanager", "secretsmanager", "secretsmanager",
	    "secretsmanager", "application/x-amz-json-1.1" },
	{ "sts", "sts", "sts", "AWSSecurityTokenServiceV20110615",
	    "application/x-amz-json-1.0" },
	{ "lambda", "lambda", "lambda", NULL, "application/json" },
	{ "efs", "elasticfilesystem", "elasticfilesystem", NULL,
	    "application/json" },
	/* Query protocol (aws_ec2.c): Action in the form body. */
	{ "ec2", "ec2", "ec2", NULL,
	    "application/x-www-form-urlencoded; charset=utf-8" },
};

struct aws_ep {
	char *svc;
	char *url;
};

struct aws {
	struct event_base *base;
	char *region;
	char *endpoint; /* one URL for every service, or NULL */
	struct aws_ep *eps;
	size_t neps;
	struct aws_creds_chain chain;
	struct event *refresh_ev;
	struct cloud *core; /* the calls in flight */
};

/* What signing and the caller's callback need of one call: the core's
 * call data, freed by the core when the call ends or is cancelled. */
struct aws_call {
	const struct aws_svc *svc;
	char *host; /* Host header, as curl would send it */
	char *path;
	char *query;
	aws_json_cb cb;
	aws_rest_cb rcb;
	void *arg;
	void (*arg_free)(void *); /* aws_json_call_owned, aws_rest_call_owned */
};

static int aws_authorize(
    void *ctx, struct httpcli_req *r, void *call_data, struct err *e);

/* Attempts of a call that is throttled or fails with a 5xx or on the
 * network. With one attempt in five failing (a throttled account), three
 * attempts lose about one call in a hundred, and a container's life takes
 * a dozen calls; five lose one in 3,000. Each backs off (capped full
 * jitter), within httpcli's total time limit. */
const struct cloud_provider aws_provider = {
	.name = "aws",
	.authorize = aws_authorize,
	.parse_error = aws_cloud_parse_error,
	.request_id = aws_request_id,
	.errors = aws_errors,
	.attempts = 5,
};

static const struct aws_svc *
aws_svc_find(const char *name)
{
	for (size_t i = 0; i < sizeof(aws_svcs) / sizeof(aws_svcs[0]); i++)
		if (strcmp(aws_svcs[i].name, name) == 0)
			return &aws_svcs[i];
	return NULL;
}

struct aws *
aws_new(struct event_base *base, struct httpcli *http,
    const struct aws_options *o, struct err *e)
{
	struct aws *a;

	if (o == NULL || o->region == NULL || *o->region == '\0') {
		err_set(e, 500, "AWS region is not set");
		return NULL;
	}
	a = xcalloc(1, sizeof(*a));
	a->base = base;
	a->region = xstrdup(o->region);
	if (o->endpoint != NULL && *o->endpoint != '\0')
		a->endpoint = xstrdup(o->endpoint);
	aws_creds_chain_init(&a->chain, o->profile, o->region, NULL);
	a->core = cloud_new(base, http, &aws_provider, a);
	return a;
}

void
aws_free(struct aws *a)
{
	if (a == NULL)
		return;
	/* Calls in flight end here without their callbacks. */
	cloud_free(a->core);
	if (a->refresh_ev != NULL)
		event_free(a->refresh_ev);
	for (size_t i = 0; i < a->neps; i++) {
		free(a->eps[i].svc);
		free(a->eps[i].url);
	}
	free(a->eps);
	aws_creds_chain_clear(&a->chain);
	free(a->region);
	free(a->endpoint);
	free(a);
}

void
aws_set_endpoint(struct aws *a, const char *svc, const char *url)
{
	if (url == NULL || *url == '\0')
		return;
	for (size_t i = 0; i < a->neps; i++) {
		if (strcmp(a->eps[i].svc, svc) == 0) {
			free(a->eps[i].url);
			a->eps[i].url = xstrdup(url);
			return;
		}
	}
	a->eps = xreallocarray(a->eps, a->neps + 1, sizeof(*a->eps));
	a->eps[a->neps].svc = xstrdup(svc);
	a->eps[a->neps].url = xstrdup(url);
	a->neps++;
}

/* Per-service override, then the global one, then the public endpoint.
 * Caller frees. */
static char *
aws_endpoint(const struct aws *a, const struct aws_svc *s)
{
	for (size_t i = 0; i < a->neps; i++)
		if (strcmp(a->eps[i].svc, s->name) == 0)
			return xstrdup(a->eps[i].url);
	if (a->endpoint != NULL)
		return xstrdup(a->endpoint);
	return xasprintf("https://%s.%s.amazonaws.com/", s->prefix, a->region);
}

/* --- credentials --- */

static void
aws_refresh_schedule(struct aws *a)
{
	int64_t in = aws_creds_refresh_in(&a->chain, (int64_t)time(NULL));
	struct timeval tv;

	if (in < 0 || a->base == NULL)
		return;
	tv.tv_sec = (time_t)in;
	tv.tv_usec = 0;
	evtimer_add(a->refresh_ev, &tv);
}

/* Runs in the loop a few minutes before expiry. The refresh is blocking
 * (a local metadata endpoint or one STS call, with short timeouts): simple,
 * and it happens once an hour or so. */
static void
aws_refresh_ev(evutil_socket_t fd, short what, void *arg)
{
	struct aws *a = arg;
	struct err e;
	struct timeval tv = { AWS_REFRESH_RETRY_SEC, 0 };

	(void)fd;
	(void)what;
	if (aws_creds_refresh(&a->chain, (int64_t)time(NULL), &e) == -1) {
		log_warnx("%s; retrying in %d s", e.msg, AWS_REFRESH_RETRY_SEC);
		evtimer_add(a->refresh_ev, &tv);
		return;
	}
	aws_refresh_schedule(a);
}

int
aws_resolve_credentials(struct aws *a, struct err *e)
{
	const struct aws_svc *sts = aws_svc_find("sts");
	char *sts_url = NULL;

	/* Web identity goes to the STS endpoint we were told about. */
	for (size_t i = 0; i < a->neps; i++)
		if (strcmp(a->eps[i].svc, "sts") == 0)
			sts_url = xstrdup(a->eps[i].url);
	if (sts_url == NULL && a->endpoint != NULL)
		sts_url = aws_endpoint(a, sts);
	free(a->chain.sts_url);
	a->chain.sts_url = sts_url;
	if (aws_creds_resolve(&a->chain, e) == -1)
		return -1;
	if (a->base != NULL && a->refresh_ev == NULL)
		a->refresh_ev = evtimer_new(a->base, aws_refresh_ev, a);
	aws_refresh_schedule(a);
	return 0;
}

const char *
aws_credentials_source(struct aws *a)
{
	return a->chain.source[0] != '\0' ? a->chain.source : "none";
}

/* --- signing --- */

/* Splits a URL into Host header value, path and query (all owned). */
static void
aws_url_split(const char *url, char **host, char **path, char **query)
{
	const char *p = strstr(url, "://"), *end, *q;

	p = p != NULL ? p + 3 : url;
	end = p + strcspn(p, "/?#");
	if (memchr(p, '@', (size_t)(end - p)) != NULL)
		p = (const char *)memchr(p, '@', (size_t)(end - p)) + 1;
	*host = xstrndup(p, (size_t)(end - p));
	q = end + strcspn(end, "?#");
	*path = *end == '/' ? xstrndup(end, (size_t)(q - end)) : xstrdup("/");
	*query = *q == '?' ? xstrndup(q + 1, strcspn(q + 1, "#")) : NULL;
}

static int
aws_signed_header(const char *line)
{
	static const char *const skip[] = { "authorization", "user-agent",
		"expect", "connection", "transfer-encoding", "content-length",
		"x-amzn-trace-id" };
	size_t n = strcspn(line, ":");

	for (size_t i = 0; i < sizeof(skip) / sizeof(skip[0]); i++)
		if (strlen(skip[i]) == n && strncasecmp(line, skip[i], n) == 0)
			return 0;
	return 1;
}

/* The core's authorize hook: a fresh date and signature for every
 * attempt. */
static int
aws_authorize(void *ctx, struct httpcli_req *r, void *call_data, struct err *e)
{
	struct aws *a = ctx;
	struct aws_call *c = call_data;
	const struct strv *hs;
	const char **lines;
	struct aws_sigv4_req sr;
	char date[32], *authz;
	size_t n = 0, blen;
	time_t now = time(NULL);
	struct tm tm;

	/* The refresh timer normally got there first (e.g. not after a
	 * suspend); this blocks only in that rare case. */
	if (aws_creds_refresh_in(&a->chain, (int64_t)now) == 0 &&
	    aws_creds_refresh(&a->chain, (int64_t)now, e) == -1 &&
	    a->chain.creds.expires <= (int64_t)now)
		return -1;
	if (a->chain.creds.access_key[0] == '\0')
		return err_set(e, 500, "AWS credentials not resolved");
	gmtime_r(&now, &tm);
	strftime(date, sizeof(date), "%Y%m%dT%H%M%SZ", &tm);
	httpcli_req_header(r, "Host", c->host);
	httpcli_req_header(r, "X-Amz-Date", date);
	if (a->chain.creds.session_token[0] != '\0')
		httpcli_req_header(
		    r, "X-Amz-Security-Token", a->chain.creds.session_token);
	else
		httpcli_req_del_header(r, "X-Amz-Security-Token");
	hs = httpcli_req_headers(r);
	lines = xcalloc(hs->n + 1, sizeof(*lines));
	for (size_t i = 0; i < hs->n; i++)
		if (aws_signed_header(hs->v[i]))
			lines[n++] = hs->v[i];
	memset(&sr, 0, sizeof(sr));
	sr.method = httpcli_req_method(r);
	sr.path = c->path;
	sr.query = c->query;
	sr.headers = lines;
	sr.body = httpcli_req_get_body(r, &blen);
	sr.body_len = blen;
	sr.region = a->region;
	sr.service = c->svc->signing;
	sr.amz_date = date;
	aws_sigv4(&sr, &a->chain.creds, NULL, NULL, &authz);
	httpcli_req_header(r, "Authorization", authz);
	free(authz);
	free(lines);
	return 0;
}

/* --- calls --- */

static void
aws_call_free(void *p)
{
	struct aws_call *c = p;

	if (c == NULL)
		return;
	if (c->arg_free != NULL)
		c->arg_free(c->arg);
	free(c->host);
	free(c->path);
	free(c->query);
	free(c);
}

/* The core's callback: the same answer in the aws_* callbacks' terms. */
static void
aws_call_done(void *arg, const struct httpcli_resp *resp, const cJSON *out,
    const struct cloud_error *ce)
{
	struct aws_call *c = arg;
	struct aws_error ae;

	if (ce != NULL)
		aws_error_from_cloud(ce, &ae);
	if (c->rcb != NULL)
		c->rcb(c->arg, resp, out, ce != NULL ? &ae : NULL);
	else
		c->cb(c->arg, out, ce != NULL ? &ae : NULL);
}

/* A new call's data for service s. */
static struct aws_call *
aws_call_new(const struct aws_svc *s)
{
	struct aws_call *c = xcalloc(1, sizeof(*c));

	c->svc = s;
	return c;
}

/* The core's description of call c: op on its service, request r. */
static void
aws_call_spec(struct cloud_call_spec *sp, struct aws_call *c, const char *op,
    struct httpcli_req *r)
{
	memset(sp, 0, sizeof(*sp));
	sp->service = c->svc->name;
	sp->op = op;
	sp->req = r;
	sp->data = c;
	sp->data_free = aws_call_free;
}

/* Builds the awsJson request for svc.op; takes in. */
static struct httpcli_req *
aws_call_req(struct aws *a, const char *op, cJSON *in, struct aws_call *c)
{
	const struct aws_svc *s = c->svc;
	struct httpcli_req *r;
	char *url = aws_endpoint(a, s), *body, *target;

	aws_url_split(url, &c->host, &c->path, &c->query);
	body = in != NULL ? json_print(in) : xstrdup("{}");
	cJSON_Delete(in);
	target = xasprintf("%s.%s", s->target, op);
	r = httpcli_req_new("POST", url);
	httpcli_req_header(r, "Content-Type", s->ctype);
	httpcli_req_header(r, "X-Amz-Target", target);
	httpcli_req_body(r, body, strlen(body));
	free(target);
	free(body);
	free(url);
	return r;
}

uint64_t
aws_json_call_owned(struct aws *a, const char *svc, const char *op, cJSON *in,
    aws_json_cb cb, void *arg, void (*arg_free)(void *))
{
	const struct aws_svc *s = aws_svc_find(svc);
	struct cloud_call_spec sp;
	struct aws_call *c;

	if (s == NULL)
		fatalx("%s: unknown AWS service %s", __func__, svc);
	c = aws_call_new(s);
	c->cb = cb;
	c->arg = arg;
	c->arg_free = arg_free;
	aws_call_spec(&sp, c, op, aws_call_req(a, op, in, c));
	return cloud_call(a->core, &sp, aws_call_done, c);
}

uint64_t
aws_json_call(struct aws *a, const char *svc, const char *op, cJSON *in,
    aws_json_cb cb, void *arg)
{
	return aws_json_call_owned(a, svc, op, in, cb, arg, NULL);
}

int
aws_json_call_sync(struct aws *a, const char *svc, const char *op, cJSON *in,
    cJSON **out, struct err *e)
{
	const struct aws_svc *s = aws_svc_find(svc);
	struct cloud_call_spec sp;
	struct aws_call *c;

	*out = NULL;
	if (s == NULL) {
		cJSON_Delete(in);
		return err_set(e, 500, "unknown AWS service %s", svc);
	}
	c = aws_call_new(s);
	aws_call_spec(&sp, c, op, aws_call_req(a, op, in, c));
	return cloud_call_sync(a->core, &sp, out, e);
}

/* --- rest-json --- */

/* Adds rq's "Name: value" header lines to r. */
static void
aws_rest_headers(struct httpcli_req *r, const char *const *headers)
{
	for (const char *const *h = headers; h != NULL && *h != NULL; h++) {
		const char *colon = strchr(*h, ':');
		char *name;

		if (colon == NULL)
			continue;
		name = xstrndup(*h, (size_t)(colon - *h));
		colon++;
		while (*colon == ' ')
			colon++;
		httpcli_req_header(r, name, colon);
		free(name);
	}
}

/* Builds the request of a rest-json call: the endpoint's own path (if
 * any) prefixes the operation's. */
static struct httpcli_req *
aws_rest_req(struct aws *a, const struct aws_rest *rq, struct aws_call *c)
{
	const struct aws_svc *s = c->svc;
	struct httpcli_req *r;
	char *url = aws_endpoint(a, s), *base, *query, *full;
	const char *auth;
	size_t blen;

	aws_url_split(url, &c->host, &base, &query);
	free(query);
	blen = strlen(base);
	while (blen > 0 && base[blen - 1] == '/')
		blen--;
	c->path = xasprintf("%.*s%s", (int)blen, base, rq->path);
	c->query =
	    rq->query != NULL && *rq->query != '\0' ? xstrdup(rq->query) : NULL;
	/* The URL keeps the scheme and authority of the endpoint. */
	auth = strstr(url, "://");
	auth = auth != NULL ? auth + 3 : url;
	auth += strcspn(auth, "/?#");
	full = xasprintf("%.*s%s%s%s", (int)(auth - url), url, c->path,
	    c->query != NULL ? "?" : "", c->query != NULL ? c->query : "");
	free(base);
	r = httpcli_req_new(rq->method, full);
	aws_rest_headers(r, rq->headers);
	if (rq->body != NULL) {
		httpcli_req_header(r, "Content-Type",
		    rq->content_type != NULL ? rq->content_type : s->ctype);
		httpcli_req_body(r, rq->body, rq->body_len);
	}
	if (rq->timeout_ms > 0)
		httpcli_req_timeouts(r, rq->timeout_ms, rq->timeout_ms);
	free(full);
	free(url);
	return r;
}

uint64_t
aws_rest_call_owned(struct aws *a, const char *svc, const char *op,
    const struct aws_rest *rq, aws_rest_cb cb, void *arg,
    void (*arg_free)(void *))
{
	const struct aws_svc *s = aws_svc_find(svc);
	struct cloud_call_spec sp;
	struct aws_call *c;

	if (s == NULL)
		fatalx("%s: unknown AWS service %s", __func__, svc);
	c = aws_call_new(s);
	c->rcb = cb;
	c->arg = arg;
	c->arg_free = arg_free;
	aws_call_spec(&sp, c, op, aws_rest_req(a, rq, c));
	sp.raw = 1; /* a rest-json payload need not be JSON */
	sp.attempts = rq->attempts;
	return cloud_call(a->core, &sp, aws_call_done, c);
}

uint64_t
aws_rest_call(struct aws *a, const char *svc, const char *op,
    const struct aws_rest *rq, aws_rest_cb cb, void *arg)
{
	return aws_rest_call_owned(a, svc, op, rq, cb, arg, NULL);
}

int
aws_rest_call_sync(struct aws *a, const char *svc, const char *op,
    const struct aws_rest *rq, cJSON **out, struct err *e)
{
	const struct aws_svc *s = aws_svc_find(svc);
	struct cloud_call_spec sp;
	struct aws_call *c;

	*out = NULL;
	if (s == NULL)
		return err_set(e, 500, "unknown AWS service %s", svc);
	c = aws_call_new(s);
	aws_call_spec(&sp, c, op, aws_rest_req(a, rq, c));
	sp.raw = 1; /* a rest-json payload need not be JSON */
	sp.attempts = rq->attempts;
	return cloud_call_sync(a->core, &sp, out, e);
}

void
aws_path_escape(struct buf *b, const char *s)
{
	sigv4_uri_encode(b, s, strlen(s), 0);
}

void
aws_cancel(struct aws *a, uint64_t id)
{
	cloud_cancel(a->core, id);
}

struct cloud *
aws_cloud(struct aws *a)
{
	return a->core;
}

struct event_base *
aws_base(struct aws *a)
{
	return a->base;
}
