/* The provider-neutral cloud call core: calls in flight and their
 * cancellation, deferred completion (a callback never runs inside the
 * function that started its call), a blocking wrapper for start-up, the
 * retry policy and the mapping of a cloud's error to a Docker status.
 *
 * A provider (AWS, GCP, Azure) supplies what is its own: how
 * an attempt is authorized (SigV4, an OAuth or AAD bearer token), how an
 * error response reads (awsJson __type, google.rpc.Status, ARM's
 * {"error":{code,message}}), which header carries the request id, and a
 * table from its error codes to the kinds below. It builds each request
 * in its own protocol and hands it to cloud_call. Long-running operations
 * (GCP operations, Azure-AsyncOperation) are sequences of calls that the
 * provider starts from a call's callback. */
#ifndef SOCKERLESS_CLOUD_H
#define SOCKERLESS_CLOUD_H

#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>
#include <event2/event.h>

#include "sockerless/err.h"

struct httpcli;
struct httpcli_req;
struct httpcli_resp;
struct cloud;

/* What went wrong with a call, in the provider's words. */
struct cloud_error {
	int http_status; /* 0: no response (transport, signing) */
	char code[128];	 /* "ClusterNotFoundException", "NOT_FOUND" */
	char message[1024];
	char request_id[128];
	int throttled; /* the cloud asked us to slow down */
};

/* What an error means for the Docker client, which decides its status. */
enum cloud_err_kind {
	CLOUD_ERR_NONE,	       /* no row matched: the core's defaults */
	CLOUD_ERR_UNREACHABLE, /* 502: no answer at all */
	CLOUD_ERR_THROTTLED,   /* 503, and the call is retried */
	CLOUD_ERR_NOT_FOUND,   /* 404 */
	CLOUD_ERR_INVALID,     /* 400: the client's input was refused */
	CLOUD_ERR_CONFLICT,    /* 409 */
	CLOUD_ERR_SERVER,      /* 502: the cloud failed */
	CLOUD_ERR_REJECTED,    /* 500: auth, quota: the operator must act */
};

/* One row of a provider's error table; rows are tried in order, the
 * first match wins, a row with code NULL ends the table. A row matches
 * when the code matches (exactly, or as a suffix with suffix set) and the
 * HTTP status lies in [status_min, status_max] (0, 0: any). */
struct cloud_errmap {
	const char *code;
	int suffix;
	int status_min, status_max;
	enum cloud_err_kind kind;
};

struct cloud_provider {
	const char *name; /* "aws": names the provider in messages */
	/* Before every attempt, the first included: authenticate r (a fresh
	 * date and signature, a current token). call_data is the call's
	 * (see cloud_call_spec). Returning -1 fails the call with e's
	 * message; no request is sent. */
	int (*authorize)(
	    void *ctx, struct httpcli_req *r, void *call_data, struct err *e);
	/* Fills code and message from a response that is not 2xx (the core
	 * has set http_status and request_id, and sets throttled after). */
	void (*parse_error)(
	    const struct httpcli_resp *resp, struct cloud_error *ce);
	/* The response's request id, or NULL. */
	const char *(*request_id)(const struct httpcli_resp *resp);
	const struct cloud_errmap *errors;
	int attempts; /* default attempts per call, the first included */
	/* Optional: the delay in ms before retrying resp that the error
	 * body asks for (GCP's RetryInfo), or -1 for httpcli's own. */
	long (*retry_delay)(const struct httpcli_resp *resp);
};

/* One call: the request in the provider's protocol, ready but for the
 * authorization that cloud_call adds to every attempt. */
struct cloud_call_spec {
	const char *service, *op;  /* for the log line: "ecs", "RunTask" */
	struct httpcli_req *req;   /* taken by the core */
	int attempts;		   /* 0: the provider's default */
	int raw;		   /* 1: a 2xx body need not be JSON */
	void *data;		   /* passed to authorize */
	void (*data_free)(void *); /* frees data when the call ends */
};

/* resp is the raw response (borrowed; status 0 when none), out its JSON
 * (borrowed; NULL when it is not JSON), ce NULL on a 2xx. */
typedef void (*cloud_cb)(void *arg, const struct httpcli_resp *resp,
    const cJSON *out, const struct cloud_error *ce);

/* ctx is passed to the provider's hooks. base and http may be NULL when
 * only cloud_call_sync is used. */
struct cloud *cloud_new(struct event_base *base, struct httpcli *http,
    const struct cloud_provider *p, void *ctx);
/* Cancels every call in flight: their callbacks are not called. */
void cloud_free(struct cloud *c);

/* Sends the call. cb is called exactly once, always from the loop and
 * never inside cloud_call, unless the call is cancelled first. Returns
 * an id for cloud_cancel (never 0). */
uint64_t cloud_call(
    struct cloud *c, const struct cloud_call_spec *s, cloud_cb cb, void *arg);
/* The call's callback will not be called, whether its request is still
 * on the wire or its completion is queued. Unknown or finished ids are
 * ignored. */
void cloud_cancel(struct cloud *c, uint64_t id);
/* Cancels every call in flight (a backend shutting down): none of their
 * callbacks will be called. */
void cloud_cancel_all(struct cloud *c);
/* Calls started and not yet completed or cancelled. */
size_t cloud_inflight(const struct cloud *c);

/* Blocking, for start-up only (never from a handler): same retries. On
 * success *out is the JSON (owned by the caller; NULL for a raw call
 * whose body is not JSON). On an error, e's status is mapped by
 * cloud_error_to_err and its message is "<Code>: <message>". */
int cloud_call_sync(struct cloud *c, const struct cloud_call_spec *s,
    cJSON **out, struct err *e);

/* The provider's table, then the core's defaults (404 -> not found, 5xx
 * -> server, other 4xx -> rejected). Throttling (429, or a THROTTLED row)
 * and transport errors come first. */
enum cloud_err_kind cloud_error_kind(
    const struct cloud_provider *p, const struct cloud_error *ce);
/* Sets ce->throttled from the status (429) and the provider's table. */
void cloud_error_classify(
    const struct cloud_provider *p, struct cloud_error *ce);
/* Maps an error to a Docker-facing err: 400 or 404 "Code: message",
 * 409 likewise, 503 "cloud throttled the request: ...", 502 "cloud
 * unreachable: ..." or "cloud error: ...", 500 "cloud rejected the
 * request: ...". The request id, when known, ends the message. */
void cloud_error_to_err(const struct cloud_provider *p,
    const struct cloud_error *ce, struct err *e);

/* Whether an attempt's response is retried on top of httpcli's own rule
 * (transport errors, 429, 500, 502, 503, 504): a 4xx the provider's table
 * calls throttling. */
int cloud_retry_response(
    const struct cloud_provider *p, const struct httpcli_resp *resp);

#endif
