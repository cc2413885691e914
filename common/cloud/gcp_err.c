/* Google's error envelope (google.rpc.Status as JSON, and the OAuth
 * endpoints' {"error", "error_description"}), RetryInfo, and the table
 * from google.rpc.Code names to the cloud core's kinds, which decides
 * both retries and Docker statuses. */
#include <stdio.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "sockerless/cloud.h"
#include "sockerless/gcp.h"
#include "sockerless/httpcli.h"
#include "sockerless/json.h"
#include "sockerless/str.h"

#include "gcp_int.h"

/* The longest RetryInfo delay honoured; httpcli's total time limit cuts
 * a call short anyway. */
#define GCP_RETRY_MAX_MS 60000L

/* Google's codes (AIP-193). The cloud refusing the request's values is
 * the Docker client's input at fault (400 with Google's words); auth and
 * permission stay 500: the operator has to act. */
const struct cloud_errmap gcp_errors[] = {
	{ "RESOURCE_EXHAUSTED", 0, 0, 0, CLOUD_ERR_THROTTLED },
	{ "NOT_FOUND", 0, 0, 0, CLOUD_ERR_NOT_FOUND },
	{ "INVALID_ARGUMENT", 0, 0, 0, CLOUD_ERR_INVALID },
	{ "FAILED_PRECONDITION", 0, 0, 0, CLOUD_ERR_INVALID },
	{ "OUT_OF_RANGE", 0, 0, 0, CLOUD_ERR_INVALID },
	{ "ALREADY_EXISTS", 0, 0, 0, CLOUD_ERR_CONFLICT },
	{ "ABORTED", 0, 0, 0, CLOUD_ERR_CONFLICT },
	{ "UNAVAILABLE", 0, 0, 0, CLOUD_ERR_SERVER },
	{ "INTERNAL", 0, 0, 0, CLOUD_ERR_SERVER },
	{ "DEADLINE_EXCEEDED", 0, 0, 0, CLOUD_ERR_SERVER },
	{ "UNKNOWN", 0, 0, 0, CLOUD_ERR_SERVER },
	{ "DATA_LOSS", 0, 0, 0, CLOUD_ERR_SERVER },
	{ "PERMISSION_DENIED", 0, 0, 0, CLOUD_ERR_REJECTED },
	{ "UNAUTHENTICATED", 0, 0, 0, CLOUD_ERR_REJECTED },
	{ NULL, 0, 0, 0, CLOUD_ERR_NONE },
};

/* google.rpc.Code, by number, with the HTTP status Google maps it to. */
static const struct gcp_code {
	const char *name;
	int http;
} gcp_codes[] = {
	{ "OK", 200 },
	{ "CANCELLED", 499 },
	{ "UNKNOWN", 500 },
	{ "INVALID_ARGUMENT", 400 },
	{ "DEADLINE_EXCEEDED", 504 },
	{ "NOT_FOUND", 404 },
	{ "ALREADY_EXISTS", 409 },
	{ "PERMISSION_DENIED", 403 },
	{ "RESOURCE_EXHAUSTED", 429 },
	{ "FAILED_PRECONDITION", 400 },
	{ "ABORTED", 409 },
	{ "OUT_OF_RANGE", 400 },
	{ "UNIMPLEMENTED", 501 },
	{ "INTERNAL", 500 },
	{ "UNAVAILABLE", 503 },
	{ "DATA_LOSS", 500 },
	{ "UNAUTHENTICATED", 401 },
};

#define GCP_NCODES ((int)(sizeof(gcp_codes) / sizeof(gcp_codes[0])))

const char *
gcp_code_name(int code)
{
	return code >= 0 && code < GCP_NCODES ? gcp_codes[code].name : NULL;
}

int
gcp_code_http(int code)
{
	return code >= 0 && code < GCP_NCODES ? gcp_codes[code].http : 500;
}

/* The status name Google gives an HTTP status without a body saying
 * more (a proxy's 502, a bare 404). */
static const char *
gcp_http_name(int status)
{
	switch (status) {
	case 400:
		return "INVALID_ARGUMENT";
	case 401:
		return "UNAUTHENTICATED";
	case 403:
		return "PERMISSION_DENIED";
	case 404:
		return "NOT_FOUND";
	case 409:
		return "ABORTED";
	case 429:
		return "RESOURCE_EXHAUSTED";
	case 501:
		return "UNIMPLEMENTED";
	case 503:
		return "UNAVAILABLE";
	case 504:
		return "DEADLINE_EXCEEDED";
	default:
		return status >= 500 ? "INTERNAL" : NULL;
	}
}

/* RetryInfo.retryDelay in ms from the details, or -1. */
static long
gcp_retry_info(const cJSON *details)
{
	const cJSON *d;
	const char *t, *delay;
	long long s;

	cJSON_ArrayForEach(d, details) {
		t = json_str(d, "@type");
		if (t == NULL || !str_suffix(t, "google.rpc.RetryInfo"))
			continue;
		if ((delay = json_str(d, "retryDelay")) == NULL ||
		    (s = gcp_duration_parse(delay)) < 0)
			return -1;
		return s * 1000 > GCP_RETRY_MAX_MS ? GCP_RETRY_MAX_MS :
						     (long)(s * 1000);
	}
	return -1;
}

/* {"error": {"code", "message", "status", "details"}} or, from an OAuth
 * endpoint, {"error": "invalid_grant", "error_description": "..."}. */
static int
gcp_parse_json(const cJSON *o, struct cloud_error *ce, long *retry_ms)
{
	const cJSON *er = cJSON_GetObjectItemCaseSensitive(o, "error");
	const char *st, *msg, *name;

	if (cJSON_IsString(er)) {
		str_lcpy(ce->code, er->valuestring, sizeof(ce->code));
		if ((msg = json_str(o, "error_description")) != NULL)
			str_lcpy(ce->message, msg, sizeof(ce->message));
		return 0;
	}
	if (!cJSON_IsObject(er))
		return -1;
	if ((st = json_str(er, "status")) != NULL && *st != '\0')
		str_lcpy(ce->code, st, sizeof(ce->code));
	else if ((name = gcp_http_name(ce->http_status)) != NULL)
		str_lcpy(ce->code, name, sizeof(ce->code));
	if ((msg = json_str(er, "message")) != NULL)
		str_lcpy(ce->message, msg, sizeof(ce->message));
	*retry_ms = gcp_retry_info(json_arr(er, "details"));
	return 0;
}

void
gcp_parse_status(
    const char *body, size_t len, struct cloud_error *ce, long *retry_ms)
{
	cJSON *o = NULL;
	const char *name;

	*retry_ms = -1;
	if (body != NULL && len > 0)
		o = cJSON_ParseWithLength(body, len);
	if (o == NULL || gcp_parse_json(o, ce, retry_ms) == -1) {
		/* Not Google's shape (a proxy, a load balancer's page):
		 * keep the start of it. */
		if (body != NULL && len > 0)
			snprintf(ce->message, sizeof(ce->message), "%.*s",
			    (int)(len < 200 ? len : 200), body);
	}
	if (ce->code[0] == '\0') {
		if ((name = gcp_http_name(ce->http_status)) != NULL)
			str_lcpy(ce->code, name, sizeof(ce->code));
		else
			snprintf(ce->code, sizeof(ce->code), "HTTP%d",
			    ce->http_status);
	}
	if (ce->message[0] == '\0')
		snprintf(ce->message, sizeof(ce->message),
		    "HTTP %d without a message", ce->http_status);
	cJSON_Delete(o);
}

void
gcp_cloud_parse_error(const struct httpcli_resp *resp, struct cloud_error *ce)
{
	long retry_ms;

	gcp_parse_status(resp->body, resp->body_len, ce, &retry_ms);
}

long
gcp_retry_delay(const struct httpcli_resp *resp)
{
	struct cloud_error ce;
	long retry_ms;

	if (resp->status < 400)
		return -1;
	memset(&ce, 0, sizeof(ce));
	ce.http_status = resp->status;
	gcp_parse_status(resp->body, resp->body_len, &ce, &retry_ms);
	return retry_ms;
}

/* Google sends no request id reliably; the trace context, when a front
 * end adds one, is what its support asks for. */
const char *
gcp_request_id(const struct httpcli_resp *resp)
{
	const char *rid = httpcli_resp_header(resp, "x-goog-request-id");

	return rid != NULL ? rid :
			     httpcli_resp_header(resp, "x-cloud-trace-context");
}

void
gcp_status_to_cloud(const cJSON *status, struct cloud_error *ce)
{
	int64_t code = json_int(status, "code", 2);
	const char *msg = json_str(status, "message");

	/* An error whose code is OK or unknown still failed. */
	if (code <= 0 || code >= GCP_NCODES)
		code = 2;
	memset(ce, 0, sizeof(*ce));
	ce->http_status = gcp_code_http((int)code);
	str_lcpy(ce->code, gcp_code_name((int)code), sizeof(ce->code));
	str_lcpy(ce->message,
	    msg != NULL && *msg != '\0' ? msg : "the operation failed",
	    sizeof(ce->message));
	cloud_error_classify(gcp_provider(), ce);
}
