/* AWS awsJson1.1 and rest-json calls over httpcli: endpoints per service,
 * SigV4 on every attempt, error parsing and mapping to Docker-facing
 * errors. */
#include <sys/queue.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <event2/event.h>

#include "sockerless/aws.h"
#include "sockerless/httpcli.h"
#include "sockerless/json.h"
#include "sockerless/log.h"
#include "sockerless/str.h"
#include "sockerless/xmalloc.h"

#include "aws_int.h"

/* A failed refresh is tried again this often until it works. */
#define AWS_REFRESH_RETRY_SEC 30

/* Attempts of a call that is throttled or fails with a 5xx or on the
 * network. With one attempt in five failing (a throttled account), three
 * attempts lose about one call in a hundred, and a container's life takes
 * a dozen calls; five lose one in 3,000. Each backs off (capped full
 * jitter), within httpcli's total time limit. */
#define AWS_MAX_ATTEMPTS 5

/* From botocore's service-2.json metadata (endpointPrefix, signingName,
 * targetPrefix). STS answers awsJson 1.0 as well as its Query protocol.
 * rest-json services (Lambda) have no target: the path names the
 * operation. */
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
	{ "sts", "sts", "sts", "AWSSecurityTokenServiceV20110615",
	    "application/x-amz-json-1.0" },
	{ "lambda", "lambda", "lambda", NULL, "application/json" },
};

struct aws_ep {
	char *svc;
	char *url;
};

struct aws {
	struct event_base *base;
	struct httpcli *http;
	char *region;
	char *endpoint; /* one URL for every service, or NULL */
	struct aws_ep *eps;
	size_t neps;
	struct aws_creds_chain chain;
	struct event *refresh_ev;
	LIST_HEAD(, aws_call) calls; /* asynchronous calls in flight */
};

/* One call in flight; freed after its callback or when cancelled. */
struct aws_call {
	LIST_ENTRY(aws_call) entry; /* asynchronous calls only */
	uint64_t id;
	struct aws *a;
	const struct aws_svc *svc;
	char *op;
	char *host; /* Host header, as curl would send it */
	char *path;
	char *query;
	aws_json_cb cb;
	aws_rest_cb rcb;
	int rest; /* rest-json: success bodies need not be JSON */
	void *arg;
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
	a->http = http;
	a->region = xstrdup(o->region);
	if (o->endpoint != NULL && *o->endpoint != '\0')
		a->endpoint = xstrdup(o->endpoint);
	aws_creds_chain_init(&a->chain, o->profile, o->region, NULL);
	LIST_INIT(&a->calls);
	return a;
}

void
aws_free(struct aws *a)
{
	if (a == NULL)
		return;
	/* Calls in flight end here without their callbacks. */
	while (!LIST_EMPTY(&a->calls))
		aws_cancel(a, LIST_FIRST(&a->calls)->id);
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

/* httpcli on_attempt hook: a fresh date and signature for every attempt. */
static int
aws_sign_attempt(struct httpcli_req *r, void *arg, struct err *e)
{
	struct aws_call *c = arg;
	struct aws *a = c->a;
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

/* --- errors --- */

static int
aws_throttle_code(const char *code)
{
	static const char *const codes[] = { "ThrottlingException",
		"TooManyRequestsException", "RequestLimitExceeded",
		"Throttling", "ThrottledException",
		"ProvisionedThroughputExceededException" };

	for (size_t i = 0; i < sizeof(codes) / sizeof(codes[0]); i++)
		if (strcmp(code, codes[i]) == 0)
			return 1;
	return 0;
}

void
aws_parse_error(int status, const char *body, size_t len,
    const char *request_id, struct aws_error *ae)
{
	cJSON *o = NULL;
	const char *type = NULL, *msg = NULL;

	memset(ae, 0, sizeof(*ae));
	ae->http_status = status;
	if (request_id != NULL)
		str_lcpy(ae->request_id, request_id, sizeof(ae->request_id));
	if (body != NULL && len > 0)
		o = cJSON_ParseWithLength(body, len);
	if (o != NULL) {
		if ((type = json_str(o, "__type")) == NULL)
			type = json_str(o, "code");
		if ((msg = json_str(o, "message")) == NULL)
			msg = json_str(o, "Message");
	}
	if (type != NULL) {
		const char *hash = strrchr(type, '#');

		str_lcpy(
		    ae->code, hash != NULL ? hash + 1 : type, sizeof(ae->code));
		ae->code[strcspn(ae->code, ":")] = '\0';
	} else
		snprintf(ae->code, sizeof(ae->code), "HTTP%d", status);
	if (msg != NULL)
		str_lcpy(ae->message, msg, sizeof(ae->message));
	else if (o == NULL && body != NULL && len > 0)
		snprintf(ae->message, sizeof(ae->message), "%.*s",
		    (int)(len < 200 ? len : 200), body);
	ae->throttled = status == 429 || aws_throttle_code(ae->code);
	cJSON_Delete(o);
}

/* rest-json: the X-Amzn-ErrorType header names the code when present
 * ("ResourceNotFoundException:http://internal.amazon.com/..."). */
void
aws_error_type_header(const struct httpcli_resp *resp, struct aws_error *ae)
{
	const char *t = httpcli_resp_header(resp, "X-Amzn-ErrorType");

	if (t == NULL || *t == '\0')
		return;
	str_lcpy(ae->code, t, sizeof(ae->code));
	ae->code[strcspn(ae->code, ":")] = '\0';
	ae->throttled = ae->http_status == 429 || aws_throttle_code(ae->code);
}

static int
aws_not_found(const struct aws_error *ae)
{
	return ae->http_status == 404 || str_suffix(ae->code, "NotFound") ||
	    str_suffix(ae->code, "NotFoundException");
}

/* The cloud refused what the request asked for (a value out of range, a
 * name it does not accept): the Docker client's input is at fault, so it
 * is a 400 with the cloud's own words. AccessDenied and the like stay 500:
 * the operator, not the user, has to act. */
static int
aws_invalid_input(const struct aws_error *ae)
{
	static const char *const codes[] = { "ValidationException",
		"ValidationError", "InvalidParameterException",
		"InvalidParameterValueException", "InvalidParameterValue",
		"InvalidParameterCombination", "InvalidRequestException",
		"ClientException", "InvalidArgumentException" };

	if (ae->http_status < 400 || ae->http_status >= 500)
		return 0;
	for (size_t i = 0; i < sizeof(codes) / sizeof(codes[0]); i++)
		if (strcmp(ae->code, codes[i]) == 0)
			return 1;
	return 0;
}

void
aws_error_to_err(const struct aws_error *ae, struct err *e)
{
	char rid[160] = "";

	if (ae->request_id[0] != '\0')
		snprintf(rid, sizeof(rid), " (request id %s)", ae->request_id);
	if (ae->http_status == 0)
		err_set(e, 502, "cloud unreachable: %s%s", ae->message, rid);
	else if (ae->throttled)
		err_set(e, 503, "cloud throttled the request: %s: %s%s",
		    ae->code, ae->message, rid);
	else if (aws_not_found(ae))
		err_set(e, 404, "%s: %s%s", ae->code, ae->message, rid);
	else if (ae->http_status >= 500)
		err_set(e, 502, "cloud error: %s: %s%s", ae->code, ae->message,
		    rid);
	else if (aws_invalid_input(ae))
		err_set(e, 400, "%s: %s%s", ae->code, ae->message, rid);
	else
		err_set(e, 500, "cloud rejected the request: %s: %s%s",
		    ae->code, ae->message, rid);
}

/* Retry throttling answers that come back as 400 (httpcli already retries
 * 429 and 5xx). */
static int
aws_retry_if(const struct httpcli_resp *resp, void *arg)
{
	struct aws_error ae;

	(void)arg;
	if (resp->status < 400 || resp->status >= 500)
		return 0;
	aws_parse_error(resp->status, resp->body, resp->body_len, NULL, &ae);
	return ae.throttled;
}

/* --- calls --- */

static void
aws_call_free(struct aws_call *c)
{
	if (c == NULL)
		return;
	free(c->op);
	free(c->host);
	free(c->path);
	free(c->query);
	free(c);
}

/* Builds the signed request for svc.op; takes in. */
static struct httpcli_req *
aws_call_req(struct aws *a, const struct aws_svc *s, const char *op, cJSON *in,
    struct aws_call *c)
{
	struct httpcli_req *r;
	char *url = aws_endpoint(a, s), *body, *target;

	c->a = a;
	c->svc = s;
	c->op = xstrdup(op);
	aws_url_split(url, &c->host, &c->path, &c->query);
	body = in != NULL ? json_print(in) : xstrdup("{}");
	cJSON_Delete(in);
	target = xasprintf("%s.%s", s->target, op);
	r = httpcli_req_new("POST", url);
	httpcli_req_header(r, "Content-Type", s->ctype);
	httpcli_req_header(r, "X-Amz-Target", target);
	httpcli_req_body(r, body, strlen(body));
	httpcli_req_attempts(r, AWS_MAX_ATTEMPTS);
	httpcli_req_on_attempt(r, aws_sign_attempt, c);
	httpcli_req_retry_if(r, aws_retry_if, NULL);
	free(target);
	free(body);
	free(url);
	return r;
}

/* Parses resp into *out (2xx) or ae; logs the call. Returns 0 on success. */
static int
aws_call_result(const struct aws_call *c, const struct httpcli_resp *resp,
    cJSON **out, struct aws_error *ae)
{
	const char *rid = httpcli_resp_header(resp, "x-amzn-RequestId");

	if (rid == NULL)
		rid = httpcli_resp_header(resp, "x-amz-request-id");
	*out = NULL;
	if (resp->status == 0) {
		memset(ae, 0, sizeof(*ae));
		str_lcpy(ae->message, resp->error, sizeof(ae->message));
	} else if (resp->status >= 200 && resp->status <= 299) {
		*out = resp->body_len == 0 ?
		    cJSON_CreateObject() :
		    cJSON_ParseWithLength(resp->body, resp->body_len);
		/* A rest-json payload (Lambda Invoke) need not be JSON. */
		if (*out != NULL || c->rest) {
			log_cloud(c->svc->name, c->op, resp->status,
			    resp->duration_ms, rid, NULL);
			return 0;
		}
		memset(ae, 0, sizeof(*ae));
		ae->http_status = resp->status;
		str_lcpy(ae->code, "InvalidResponse", sizeof(ae->code));
		str_lcpy(
		    ae->message, "response is not JSON", sizeof(ae->message));
		if (rid != NULL)
			str_lcpy(ae->request_id, rid, sizeof(ae->request_id));
	} else {
		aws_parse_error(
		    resp->status, resp->body, resp->body_len, rid, ae);
		aws_error_type_header(resp, ae);
	}
	log_cloud(c->svc->name, c->op, resp->status, resp->duration_ms, rid,
	    ae->code[0] != '\0' ? ae->code : ae->message);
	return -1;
}

static void
aws_call_done(struct httpcli_resp *resp, void *arg)
{
	struct aws_call *c = arg;
	struct aws_error ae;
	cJSON *out;

	LIST_REMOVE(c, entry);

	if (aws_call_result(c, resp, &out, &ae) == 0) {
		if (c->rcb != NULL)
			c->rcb(c->arg, resp, out, NULL);
		else
			c->cb(c->arg, out, NULL);
	} else if (c->rcb != NULL)
		c->rcb(c->arg, resp, NULL, &ae);
	else
		c->cb(c->arg, NULL, &ae);
	cJSON_Delete(out);
	aws_call_free(c);
}

uint64_t
aws_json_call(struct aws *a, const char *svc, const char *op, cJSON *in,
    aws_json_cb cb, void *arg)
{
	const struct aws_svc *s = aws_svc_find(svc);
	struct aws_call *c;
	struct httpcli_req *r;

	if (s == NULL)
		fatalx("%s: unknown AWS service %s", __func__, svc);
	c = xcalloc(1, sizeof(*c));
	c->cb = cb;
	c->arg = arg;
	r = aws_call_req(a, s, op, in, c);
	c->id = httpcli_send(a->http, r, aws_call_done, c);
	LIST_INSERT_HEAD(&a->calls, c, entry);
	return c->id;
}

int
aws_json_call_sync(struct aws *a, const char *svc, const char *op, cJSON *in,
    cJSON **out, struct err *e)
{
	const struct aws_svc *s = aws_svc_find(svc);
	struct aws_call *c;
	struct httpcli_resp *resp;
	struct aws_error ae;
	int rc;

	*out = NULL;
	if (s == NULL) {
		cJSON_Delete(in);
		return err_set(e, 500, "unknown AWS service %s", svc);
	}
	c = xcalloc(1, sizeof(*c));
	resp = httpcli_perform(aws_call_req(a, s, op, in, c));
	if ((rc = aws_call_result(c, resp, out, &ae)) == -1) {
		aws_error_to_err(&ae, e);
		if (e != NULL && ae.http_status != 0)
			err_set(e, e->status, "%s: %s", ae.code, ae.message);
	}
	httpcli_resp_free(resp);
	aws_call_free(c);
	return rc;
}

/* --- rest-json --- */

/* Builds the signed request of a rest-json call: the endpoint's own path
 * (if any) prefixes the operation's. */
static struct httpcli_req *
aws_rest_req(struct aws *a, const struct aws_svc *s, const char *op,
    const struct aws_rest *rq, struct aws_call *c)
{
	struct httpcli_req *r;
	char *url = aws_endpoint(a, s), *host, *base, *query, *full;
	const char *auth;
	size_t blen;

	aws_url_split(url, &host, &base, &query);
	free(query);
	blen = strlen(base);
	while (blen > 0 && base[blen - 1] == '/')
		blen--;
	c->a = a;
	c->svc = s;
	c->op = xstrdup(op);
	c->rest = 1;
	c->host = host;
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
	for (const char *const *h = rq->headers; h != NULL && *h != NULL; h++) {
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
	if (rq->body != NULL) {
		httpcli_req_header(r, "Content-Type",
		    rq->content_type != NULL ? rq->content_type : s->ctype);
		httpcli_req_body(r, rq->body, rq->body_len);
	}
	if (rq->timeout_ms > 0)
		httpcli_req_timeouts(r, rq->timeout_ms, rq->timeout_ms);
	httpcli_req_attempts(
	    r, rq->attempts > 0 ? rq->attempts : AWS_MAX_ATTEMPTS);
	httpcli_req_on_attempt(r, aws_sign_attempt, c);
	httpcli_req_retry_if(r, aws_retry_if, NULL);
	free(full);
	free(url);
	return r;
}

uint64_t
aws_rest_call(struct aws *a, const char *svc, const char *op,
    const struct aws_rest *rq, aws_rest_cb cb, void *arg)
{
	const struct aws_svc *s = aws_svc_find(svc);
	struct aws_call *c;
	struct httpcli_req *r;

	if (s == NULL)
		fatalx("%s: unknown AWS service %s", __func__, svc);
	c = xcalloc(1, sizeof(*c));
	c->rcb = cb;
	c->arg = arg;
	r = aws_rest_req(a, s, op, rq, c);
	c->id = httpcli_send(a->http, r, aws_call_done, c);
	LIST_INSERT_HEAD(&a->calls, c, entry);
	return c->id;
}

int
aws_rest_call_sync(struct aws *a, const char *svc, const char *op,
    const struct aws_rest *rq, cJSON **out, struct err *e)
{
	const struct aws_svc *s = aws_svc_find(svc);
	struct aws_call *c;
	struct httpcli_resp *resp;
	struct aws_error ae;
	int rc;

	*out = NULL;
	if (s == NULL)
		return err_set(e, 500, "unknown AWS service %s", svc);
	c = xcalloc(1, sizeof(*c));
	resp = httpcli_perform(aws_rest_req(a, s, op, rq, c));
	if ((rc = aws_call_result(c, resp, out, &ae)) == -1) {
		aws_error_to_err(&ae, e);
		if (e != NULL && ae.http_status != 0)
			err_set(e, e->status, "%s: %s", ae.code, ae.message);
	}
	httpcli_resp_free(resp);
	aws_call_free(c);
	return rc;
}

void
aws_path_escape(struct buf *b, const char *s)
{
	sigv4_uri_encode(b, s, strlen(s), 0);
}

void
aws_cancel(struct aws *a, uint64_t id)
{
	struct aws_call *c;

	LIST_FOREACH(c, &a->calls, entry) {
		if (c->id == id) {
			LIST_REMOVE(c, entry);
			httpcli_cancel(a->http, id);
			aws_call_free(c);
			return;
		}
	}
}
