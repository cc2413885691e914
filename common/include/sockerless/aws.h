/* AWS calls for the awsJson1.1 (ECS, CloudWatch Logs, ECR, ...) and
 * rest-json (Lambda) protocols: SigV4 signing, the standard credential
 * chain and error mapping. AWS is a provider of the cloud call core
 * (cloud.h), which keeps the calls in flight, completes them from the
 * loop, retries and maps errors; see docs/cloud.md. */
#ifndef SOCKERLESS_AWS_H
#define SOCKERLESS_AWS_H

#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>
#include <event2/event.h>

#include "sockerless/err.h"

struct httpcli;
struct httpcli_resp;
struct aws;

struct aws_options {
	const char *region;   /* required */
	const char *profile;  /* NULL: AWS_PROFILE, else "default" */
	const char *endpoint; /* NULL: https://<svc>.<region>.amazonaws.com;
			       * else one URL for every service (simulator) */
};

struct aws_error {
	int http_status; /* 0: no response (transport error) */
	char code[128];	 /* "ClusterNotFoundException" (no prefix) */
	char message[1024];
	char request_id[128];
	int throttled;
};

/* out is the parsed response (borrowed; NULL on error); ae NULL on
 * success. */
typedef void (*aws_json_cb)(
    void *arg, const cJSON *out, const struct aws_error *ae);

struct aws *aws_new(struct event_base *base, struct httpcli *http,
    const struct aws_options *o, struct err *e);
void aws_free(struct aws *a);
/* Overrides one service's endpoint (NULL or "" is ignored). */
void aws_set_endpoint(struct aws *a, const char *svc, const char *url);
/* Walks the chain once at start-up: env (AWS_ACCESS_KEY_ID,
 * AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN), web identity
 * (AWS_WEB_IDENTITY_TOKEN_FILE + AWS_ROLE_ARN via STS
 * AssumeRoleWithWebIdentity), shared files (AWS_SHARED_CREDENTIALS_FILE /
 * ~/.aws/credentials, AWS_CONFIG_FILE / ~/.aws/config with [profile x]),
 * ECS container credentials (AWS_CONTAINER_CREDENTIALS_RELATIVE_URI /
 * _FULL_URI with AWS_CONTAINER_AUTHORIZATION_TOKEN[_FILE]), EC2 IMDSv2.
 * Temporary credentials are refreshed before they expire. Returns -1 with
 * a message naming every source tried when none works. */
int aws_resolve_credentials(struct aws *a, struct err *e);
/* "environment", "shared credentials file (profile x)", "web identity",
 * "container credentials", "instance metadata". */
const char *aws_credentials_source(struct aws *a);
/* POST to svc's endpoint with X-Amz-Target: <prefix>.<op> (ecs:
 * AmazonEC2ContainerServiceV20141113, logs: Logs_20140328, ecr:
 * AmazonEC2ContainerRegistry_V20150921, sts uses awsJson too), takes
 * ownership of in. cb is called exactly once, from the loop. Returns a
 * call id (never 0). */
uint64_t aws_json_call(struct aws *a, const char *svc, const char *op,
    cJSON *in, aws_json_cb cb, void *arg);
/* As aws_json_call, and arg is the call's own: arg_free frees it once the
 * call is over, after cb, or without cb when the call is cancelled or the
 * client freed with it in flight (a shutdown). cb must not free it. An arg
 * that cb hands on to another call must be marked so that this call's
 * arg_free leaves it to the next one. */
uint64_t aws_json_call_owned(struct aws *a, const char *svc, const char *op,
    cJSON *in, aws_json_cb cb, void *arg, void (*arg_free)(void *));
/* Cancels a call of aws_json_call or aws_rest_call (or their owned forms,
 * whose arg_free runs here): its callback will not be called. Unknown or
 * finished ids are ignored. aws_free cancels every call in flight. */
void aws_cancel(struct aws *a, uint64_t id);
/* The cloud call core under a (see cloud.h): cloud_inflight,
 * cloud_cancel_all. */
struct cloud *aws_cloud(struct aws *a);
/* Blocking, for start-up only; takes in; *out owned by the caller. On an
 * AWS error, e's message is "<Code>: <message>" and status mapped by
 * aws_error_to_err. */
int aws_json_call_sync(struct aws *a, const char *svc, const char *op,
    cJSON *in, cJSON **out, struct err *e);
/* rest-json (Lambda): one request as the model's http trait describes it.
 * path is the wire form with every label already escaped (see
 * aws_path_escape); headers are "Name: value" lines, NULL-terminated. */
struct aws_rest {
	const char *method;
	const char *path;  /* "/2015-03-31/functions/NAME/invocations" */
	const char *query; /* without '?', wire form; may be NULL */
	const char *const *headers;
	const void *body; /* NULL: no body */
	size_t body_len;
	const char *content_type; /* NULL: application/json */
	long timeout_ms;	  /* per attempt and whole call; 0: default */
	int attempts;		  /* 0: default; 1 for calls never repeated */
};

/* resp is the raw response (borrowed: status, headers, body); out its
 * JSON when it parses (NULL for a non-JSON or empty payload); ae NULL on
 * a 2xx. */
typedef void (*aws_rest_cb)(void *arg, const struct httpcli_resp *resp,
    const cJSON *out, const struct aws_error *ae);
uint64_t aws_rest_call(struct aws *a, const char *svc, const char *op,
    const struct aws_rest *rq, aws_rest_cb cb, void *arg);
/* As aws_rest_call, with arg owned by the call (see aws_json_call_owned). */
uint64_t aws_rest_call_owned(struct aws *a, const char *svc, const char *op,
    const struct aws_rest *rq, aws_rest_cb cb, void *arg,
    void (*arg_free)(void *));
/* Blocking, for start-up only; *out (owned by the caller) may be NULL on
 * success when the body is not JSON. */
int aws_rest_call_sync(struct aws *a, const char *svc, const char *op,
    const struct aws_rest *rq, cJSON **out, struct err *e);
/* Appends s escaped as one path label (RFC 3986 unreserved kept, '/'
 * escaped too). */
struct buf;
void aws_path_escape(struct buf *b, const char *s);

/* Maps an AWS error to a Docker-facing err: 4xx validation (the client's
 * input: ValidationException, InvalidParameterException, ClientException,
 * ...) -> 400 "Code: message"; other 4xx (auth, ...) -> 500 "cloud
 * rejected the request: Code: message", throttling -> 503, not found ->
 * 404, transport -> 502. Message includes the request id. */
void aws_error_to_err(const struct aws_error *ae, struct err *e);

/* A reg_creds_hook (see reg.h) for ECR registry hosts; arg is the struct
 * aws. Tokens are cached per host. */
int aws_ecr_creds_hook(void *arg, const char *host,
    void (*done)(void *done_arg, const char *user, const char *secret,
	const struct err *e),
    void *done_arg);

/* --- SigV4, exposed for tests and other protocols. --- */

struct aws_creds {
	char access_key[128];
	char secret_key[256];
	char session_token[2048];
	int64_t expires; /* unix seconds; 0 = never */
};

struct aws_sigv4_req {
	const char *method;
	const char *path;	    /* as sent, not yet URI-encoded: "/" */
	const char *query;	    /* raw query without '?', may be NULL */
	const char *const *headers; /* "Name: value" (NULL-terminated);
				     * must include Host and X-Amz-Date */
	const void *body;
	size_t body_len;
	const char *region, *service;
	const char *amz_date; /* "20150830T123600Z" */
};

/* Writes the canonical request, string to sign and the Authorization
 * header value. Any of the out pointers may be NULL; non-NULL ones are
 * malloc'd for the caller. */
void aws_sigv4(const struct aws_sigv4_req *r, const struct aws_creds *c,
    char **canonical, char **string_to_sign, char **authorization);

#endif
