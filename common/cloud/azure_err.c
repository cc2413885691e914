/* ARM's error envelope ({"error": {"code", "message", "details"}}, the
 * bare {"code", "message"} some resource providers answer, OData's
 * {"odata.error": ...} and Entra's {"error", "error_description"}), the
 * request ids, Retry-After in its three headers, and the table from ARM
 * error codes to the cloud core's kinds, which decides both retries and
 * Docker statuses. */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>

#include "sockerless/azure.h"
#include "sockerless/cloud.h"
#include "sockerless/httpcli.h"
#include "sockerless/json.h"
#include "sockerless/log.h"
#include "sockerless/str.h"

#include "azure_arm_int.h"

/* The longest delay a server's retry header gets for one retry; httpcli's
 * total time limit cuts a call short anyway. */
#define AZURE_RETRY_MAX_MS 60000L

/* Rows are tried in order: the operator's own codes first (a missing
 * subscription is not a missing container), then the suffix rows.
 * The cloud refusing the request's values is the Docker client's input at
 * fault (400 with ARM's words); authentication, permissions, quota, locks
 * and unregistered providers stay 500: the operator has to act.
 * OperationNotAllowed is what ARM says when an operation would exceed a
 * quota or a policy forbids it, so it is the operator's too, not a
 * conflict a retry would resolve. 408 is retried as azure-core does
 * (httpcli retries 429 and 5xx itself). */
const struct cloud_errmap azure_errors[] = {
	{ "TooManyRequests", 0, 0, 0, CLOUD_ERR_THROTTLED },
	{ "SubscriptionRequestsThrottled", 0, 0, 0, CLOUD_ERR_THROTTLED },
	{ "ResourceRequestsThrottled", 0, 0, 0, CLOUD_ERR_THROTTLED },
	{ "", 1, 408, 408, CLOUD_ERR_THROTTLED },
	{ "SubscriptionNotFound", 0, 0, 0, CLOUD_ERR_REJECTED },
	{ "AuthenticationFailed", 0, 0, 0, CLOUD_ERR_REJECTED },
	{ "InvalidAuthenticationToken", 0, 0, 0, CLOUD_ERR_REJECTED },
	{ "InvalidAuthenticationTokenAudience", 0, 0, 0, CLOUD_ERR_REJECTED },
	{ "InvalidAuthenticationTokenTenant", 0, 0, 0, CLOUD_ERR_REJECTED },
	{ "ExpiredAuthenticationToken", 0, 0, 0, CLOUD_ERR_REJECTED },
	{ "AuthorizationFailed", 0, 0, 0, CLOUD_ERR_REJECTED },
	{ "LinkedAuthorizationFailed", 0, 0, 0, CLOUD_ERR_REJECTED },
	{ "InsufficientQuota", 0, 0, 0, CLOUD_ERR_REJECTED },
	{ "QuotaExceeded", 0, 0, 0, CLOUD_ERR_REJECTED },
	{ "OperationNotAllowed", 0, 0, 0, CLOUD_ERR_REJECTED },
	{ "MissingSubscriptionRegistration", 0, 0, 0, CLOUD_ERR_REJECTED },
	{ "ScopeLocked", 0, 0, 0, CLOUD_ERR_REJECTED },
	{ "ReadOnlyDisabledSubscription", 0, 0, 0, CLOUD_ERR_REJECTED },
	{ "ResourceNotFound", 0, 0, 0, CLOUD_ERR_NOT_FOUND },
	{ "ResourceGroupNotFound", 0, 0, 0, CLOUD_ERR_NOT_FOUND },
	{ "NotFound", 1, 0, 0, CLOUD_ERR_NOT_FOUND },
	{ "InvalidRequestContent", 0, 0, 0, CLOUD_ERR_INVALID },
	{ "InvalidParameter", 0, 0, 0, CLOUD_ERR_INVALID },
	{ "BadRequest", 0, 0, 0, CLOUD_ERR_INVALID },
	{ "ValidationError", 0, 0, 0, CLOUD_ERR_INVALID },
	{ "InvalidTemplate", 0, 0, 0, CLOUD_ERR_INVALID },
	{ "LinkedInvalidPropertyId", 0, 0, 0, CLOUD_ERR_INVALID },
	{ "InvalidResourceName", 0, 0, 0, CLOUD_ERR_INVALID },
	{ "MissingApiVersionParameter", 0, 0, 0, CLOUD_ERR_INVALID },
	{ "InvalidApiVersionParameter", 0, 0, 0, CLOUD_ERR_INVALID },
	{ "NoRegisteredProviderFound", 0, 0, 0, CLOUD_ERR_INVALID },
	{ "BadArgumentError", 0, 0, 0, CLOUD_ERR_INVALID },
	{ "Conflict", 0, 0, 0, CLOUD_ERR_CONFLICT },
	{ "ResourceExists", 0, 0, 0, CLOUD_ERR_CONFLICT },
	{ "AnotherOperationInProgress", 0, 0, 0, CLOUD_ERR_CONFLICT },
	{ "InternalServerError", 0, 0, 0, CLOUD_ERR_SERVER },
	{ "ServiceUnavailable", 0, 0, 0, CLOUD_ERR_SERVER },
	{ "GatewayTimeout", 0, 0, 0, CLOUD_ERR_SERVER },
	{ "OperationTimedOut", 0, 0, 0, CLOUD_ERR_SERVER },
	/* Codes the table does not know, by status: ARM answers 400 for a
	 * request it refuses and 409 for a state that forbids it. */
	{ "", 1, 400, 400, CLOUD_ERR_INVALID },
	{ "", 1, 409, 409, CLOUD_ERR_CONFLICT },
	{ NULL, 0, 0, 0, CLOUD_ERR_NONE },
};

/* The code ARM gives an HTTP status without a body saying more (a
 * gateway's page, a bare 404). */
static const char *
azure_http_code(int status)
{
	switch (status) {
	case 400:
		return "BadRequest";
	case 401:
		return "AuthenticationFailed";
	case 403:
		return "AuthorizationFailed";
	case 404:
		return "NotFound";
	case 408:
		return "RequestTimeout";
	case 409:
		return "Conflict";
	case 429:
		return "TooManyRequests";
	case 500:
		return "InternalServerError";
	case 502:
		return "BadGateway";
	case 503:
		return "ServiceUnavailable";
	case 504:
		return "GatewayTimeout";
	default:
		return NULL;
	}
}

/* Codes whose message says little by itself: the first detail (or the
 * inner error) says what was wrong. */
static int
azure_generic(const char *code, const char *msg)
{
	static const char *const generic[] = { "BadRequest", "InvalidTemplate",
		"InvalidTemplateDeployment", "DeploymentFailed",
		"ValidationError", "BadArgumentError", "MultipleErrorsOccurred",
		"InvalidRequestContent" };

	if (msg == NULL || *msg == '\0')
		return 1;
	for (size_t i = 0; i < sizeof(generic) / sizeof(generic[0]); i++)
		if (code != NULL && strcmp(code, generic[i]) == 0)
			return 1;
	return 0;
}

/* The message of the first detail, else of the innermost inner error
 * (Log Analytics nests them), or NULL. */
static const char *
azure_detail(const cJSON *er)
{
	const cJSON *d = cJSON_GetArrayItem(json_arr(er, "details"), 0);
	const cJSON *in;
	const char *m = NULL;
	int depth = 0;

	if (d != NULL && (m = json_str(d, "message")) != NULL && *m != '\0')
		return m;
	for (in = json_obj(er, "innererror"); in != NULL && depth < 16;
	     in = json_obj(in, "innererror"), depth++)
		if ((m = json_str(in, "message")) == NULL || *m == '\0')
			m = NULL;
		else if (json_obj(in, "innererror") == NULL)
			break;
	return m;
}

/* code and message of an error object {"code", "message"}; the message
 * may be OData's {"value": "..."}. */
static void
azure_error_fill(const cJSON *er, struct cloud_error *ce)
{
	const char *code = json_str(er, "code"), *msg = json_str(er, "message");
	const cJSON *mo = json_obj(er, "message");
	const char *det;

	if (msg == NULL && mo != NULL)
		msg = json_str(mo, "value");
	if (code != NULL && *code != '\0')
		str_lcpy(ce->code, code, sizeof(ce->code));
	if (msg != NULL)
		str_lcpy(ce->message, msg, sizeof(ce->message));
	if (azure_generic(code, msg) && (det = azure_detail(er)) != NULL &&
	    (msg == NULL || strstr(msg, det) == NULL)) {
		if (ce->message[0] == '\0')
			str_lcpy(ce->message, det, sizeof(ce->message));
		else
			snprintf(ce->message + strlen(ce->message),
			    sizeof(ce->message) - strlen(ce->message), ": %s",
			    det);
	}
}

/* The envelope's shapes; -1 when o is none of them. */
static int
azure_parse_json(const cJSON *o, struct cloud_error *ce)
{
	const cJSON *er = cJSON_GetObjectItemCaseSensitive(o, "error");
	const char *desc;

	if (cJSON_IsObject(er)) {
		azure_error_fill(er, ce);
		return 0;
	}
	/* Entra ID: {"error": "invalid_client", "error_description"}. */
	if (cJSON_IsString(er)) {
		str_lcpy(ce->code, er->valuestring, sizeof(ce->code));
		if ((desc = json_str(o, "error_description")) != NULL)
			str_lcpy(ce->message, desc, sizeof(ce->message));
		return 0;
	}
	if ((er = json_obj(o, "odata.error")) != NULL) {
		azure_error_fill(er, ce);
		return 0;
	}
	if (json_str(o, "code") != NULL || json_str(o, "message") != NULL) {
		azure_error_fill(o, ce);
		return 0;
	}
	return -1;
}

void
azure_parse_error(const char *body, size_t len, struct cloud_error *ce)
{
	cJSON *o = NULL;
	const char *code;

	if (body != NULL && len > 0)
		o = cJSON_ParseWithLength(body, len);
	if ((o == NULL || !cJSON_IsObject(o) ||
		azure_parse_json(o, ce) == -1) &&
	    body != NULL && len > 0)
		/* Not ARM's shape (a gateway's page): keep its start. */
		snprintf(ce->message, sizeof(ce->message), "%.*s",
		    (int)(len < 200 ? len : 200), body);
	if (ce->code[0] == '\0') {
		if ((code = azure_http_code(ce->http_status)) != NULL)
			str_lcpy(ce->code, code, sizeof(ce->code));
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
azure_cloud_parse_error(const struct httpcli_resp *resp, struct cloud_error *ce)
{
	azure_parse_error(resp->body, resp->body_len, ce);
}

void
azure_error_to_cloud(
    const cJSON *error, int status, const char *deflt, struct cloud_error *ce)
{
	memset(ce, 0, sizeof(*ce));
	ce->http_status = status;
	if (cJSON_IsObject(error))
		azure_error_fill(error, ce);
	if (ce->code[0] == '\0')
		str_lcpy(ce->code, deflt, sizeof(ce->code));
	if (ce->message[0] == '\0')
		snprintf(ce->message, sizeof(ce->message),
		    "the operation ended %s without a message", deflt);
	cloud_error_classify(azure_provider(), ce);
}

const char *
azure_request_id(const struct httpcli_resp *resp)
{
	static _Thread_local char buf[128];
	const char *rid = httpcli_resp_header(resp, "x-ms-request-id");
	const char *cid =
	    httpcli_resp_header(resp, "x-ms-correlation-request-id");

	/* Support asks for both; ARM's are uuids, so both fit. */
	if (rid != NULL && cid != NULL && strcmp(rid, cid) != 0)
		snprintf(buf, sizeof(buf), "%.48s correlation %.48s", rid, cid);
	else if (rid != NULL || cid != NULL)
		snprintf(buf, sizeof(buf), "%.100s", rid != NULL ? rid : cid);
	else
		return NULL;
	return buf;
}

/* A header's non-negative number of up to 10 digits, or -1. */
static long long
azure_hdr_num(const struct httpcli_resp *resp, const char *name)
{
	const char *v = httpcli_resp_header(resp, name);
	long long n;

	if (v == NULL)
		return -1;
	v += strspn(v, " \t");
	if (str_tonum(v, 0, 9999999999LL, &n, NULL) == -1)
		return -1;
	return n;
}

long
azure_retry_after_ms(const struct httpcli_resp *resp)
{
	const char *ra;
	long long n;
	struct tm tm;

	if ((n = azure_hdr_num(resp, "retry-after-ms")) >= 0 ||
	    (n = azure_hdr_num(resp, "x-ms-retry-after-ms")) >= 0)
		return n > 86400000LL ? 86400000L : (long)n;
	if ((n = azure_hdr_num(resp, "Retry-After")) >= 0)
		return n > 86400 ? 86400000L : (long)(n * 1000);
	if ((ra = httpcli_resp_header(resp, "Retry-After")) == NULL)
		return -1;
	memset(&tm, 0, sizeof(tm));
	if (strptime(ra, "%a, %d %b %Y %H:%M:%S GMT", &tm) == NULL)
		return -1;
	n = (long long)timegm(&tm) - (long long)time(NULL);
	if (n <= 0)
		return 0;
	return n > 86400 ? 86400000L : (long)(n * 1000);
}

/* ARM's throttling budget of the subscription, for the operator: a 429
 * says which bucket ran dry. */
static void
azure_log_budget(const struct httpcli_resp *resp, long ms)
{
	const char *r = httpcli_resp_header(
	    resp, "x-ms-ratelimit-remaining-subscription-reads");
	const char *w = httpcli_resp_header(
	    resp, "x-ms-ratelimit-remaining-subscription-writes");
	char after[48] = "the back-off";

	if (ms >= 0)
		snprintf(after, sizeof(after), "%ld ms", ms);
	log_warnx("Azure throttled a call (HTTP %d): remaining subscription "
		  "reads %.32s, writes %.32s; retrying after %s",
	    resp->status, r != NULL ? r : "unknown", w != NULL ? w : "unknown",
	    after);
}

long
azure_retry_delay(const struct httpcli_resp *resp)
{
	long ms = azure_retry_after_ms(resp);

	if (ms > AZURE_RETRY_MAX_MS)
		ms = AZURE_RETRY_MAX_MS;
	if (resp->status == 429)
		azure_log_budget(resp, ms);
	return ms;
}
