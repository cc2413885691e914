/* AWS error envelopes (awsJson __type/message, rest-json's
 * X-Amzn-ErrorType header) and the table from AWS error codes to the
 * cloud core's kinds, which decides both retries and Docker statuses. */
#include <stdio.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "sockerless/aws.h"
#include "sockerless/aws_ec2.h"
#include "sockerless/cloud.h"
#include "sockerless/httpcli.h"
#include "sockerless/json.h"
#include "sockerless/str.h"

#include "aws_int.h"

/* Rows are tried in order. Throttling: botocore's codes. Not found: any
 * status. The cloud refusing what the request asked for (a value out of
 * range, a name it does not accept) is the Docker client's input at
 * fault, so a 400 with the cloud's own words; AccessDenied and the like
 * stay 500 (the core's default for a 4xx): the operator, not the user,
 * has to act. */
const struct cloud_errmap aws_errors[] = {
	{ "ThrottlingException", 0, 0, 0, CLOUD_ERR_THROTTLED },
	{ "TooManyRequestsException", 0, 0, 0, CLOUD_ERR_THROTTLED },
	{ "RequestLimitExceeded", 0, 0, 0, CLOUD_ERR_THROTTLED },
	{ "Throttling", 0, 0, 0, CLOUD_ERR_THROTTLED },
	{ "ThrottledException", 0, 0, 0, CLOUD_ERR_THROTTLED },
	{ "ProvisionedThroughputExceededException", 0, 0, 0,
	    CLOUD_ERR_THROTTLED },
	{ "NotFound", 1, 0, 0, CLOUD_ERR_NOT_FOUND },
	{ "NotFoundException", 1, 0, 0, CLOUD_ERR_NOT_FOUND },
	{ "ValidationException", 0, 400, 499, CLOUD_ERR_INVALID },
	{ "ValidationError", 0, 400, 499, CLOUD_ERR_INVALID },
	{ "InvalidParameterException", 0, 400, 499, CLOUD_ERR_INVALID },
	{ "InvalidParameterValueException", 0, 400, 499, CLOUD_ERR_INVALID },
	{ "InvalidParameterValue", 0, 400, 499, CLOUD_ERR_INVALID },
	{ "InvalidParameterCombination", 0, 400, 499, CLOUD_ERR_INVALID },
	{ "InvalidRequestException", 0, 400, 499, CLOUD_ERR_INVALID },
	{ "ClientException", 0, 400, 499, CLOUD_ERR_INVALID },
	{ "InvalidArgumentException", 0, 400, 499, CLOUD_ERR_INVALID },
	/* EC2 (Query): a group still used by an ENI, a duplicate name or
	 * rule; malformed ids and missing members are the input's fault. */
	{ "DependencyViolation", 0, 400, 499, CLOUD_ERR_CONFLICT },
	{ ".Duplicate", 1, 400, 499, CLOUD_ERR_CONFLICT },
	{ ".Malformed", 1, 400, 499, CLOUD_ERR_INVALID },
	{ "MissingParameter", 0, 400, 499, CLOUD_ERR_INVALID },
	{ NULL, 0, 0, 0, CLOUD_ERR_NONE },
};

/* Keeps the part of an error type after any '#' and before any ':'
 * ("com.amazon.coral#ClusterNotFoundException:http://..."). */
static void
aws_error_code(char *dst, size_t size, const char *type)
{
	const char *hash = strrchr(type, '#');

	str_lcpy(dst, hash != NULL ? hash + 1 : type, size);
	dst[strcspn(dst, ":")] = '\0';
}

/* awsJson and rest-json bodies: {"__type" or "code", "message" or
 * "Message"}; anything else keeps the start of the body. */
static void
aws_parse_body(const char *body, size_t len, struct cloud_error *ce)
{
	cJSON *o = NULL;
	const char *type = NULL, *msg = NULL;

	if (body != NULL && len > 0)
		o = cJSON_ParseWithLength(body, len);
	if (o != NULL) {
		if ((type = json_str(o, "__type")) == NULL)
			type = json_str(o, "code");
		if ((msg = json_str(o, "message")) == NULL)
			msg = json_str(o, "Message");
	}
	if (type != NULL)
		aws_error_code(ce->code, sizeof(ce->code), type);
	else
		snprintf(ce->code, sizeof(ce->code), "HTTP%d", ce->http_status);
	if (msg != NULL)
		str_lcpy(ce->message, msg, sizeof(ce->message));
	else if (o == NULL && body != NULL && len > 0)
		snprintf(ce->message, sizeof(ce->message), "%.*s",
		    (int)(len < 200 ? len : 200), body);
	cJSON_Delete(o);
}

/* The Query protocols' XML error (EC2, STS, IAM); 0 when body is one. */
static int
aws_parse_xml(const char *body, size_t len, struct cloud_error *ce)
{
	char rid[sizeof(ce->request_id)];

	if (aws_xml_error(body, len, ce->code, sizeof(ce->code), ce->message,
		sizeof(ce->message), rid, sizeof(rid)) == -1)
		return -1;
	if (ce->request_id[0] == '\0')
		str_lcpy(ce->request_id, rid, sizeof(ce->request_id));
	return 0;
}

/* An XML body (it starts with '<') is a Query protocol's error; else
 * JSON. */
static void
aws_parse_any(const char *body, size_t len, struct cloud_error *ce)
{
	size_t ws = 0;

	while (body != NULL && ws < len && body[ws] != '\0' &&
	    strchr(" \t\r\n", body[ws]) != NULL)
		ws++;
	if (body != NULL && ws < len && body[ws] == '<' &&
	    aws_parse_xml(body, len, ce) == 0)
		return;
	aws_parse_body(body, len, ce);
}

void
aws_cloud_parse_error(const struct httpcli_resp *resp, struct cloud_error *ce)
{
	const char *t = httpcli_resp_header(resp, "X-Amzn-ErrorType");

	aws_parse_any(resp->body, resp->body_len, ce);
	/* rest-json: the header names the code when present. */
	if (t != NULL && *t != '\0')
		aws_error_code(ce->code, sizeof(ce->code), t);
}

const char *
aws_request_id(const struct httpcli_resp *resp)
{
	const char *rid = httpcli_resp_header(resp, "x-amzn-RequestId");

	return rid != NULL ? rid :
			     httpcli_resp_header(resp, "x-amz-request-id");
}

void
aws_error_from_cloud(const struct cloud_error *ce, struct aws_error *ae)
{
	memset(ae, 0, sizeof(*ae));
	ae->http_status = ce->http_status;
	str_lcpy(ae->code, ce->code, sizeof(ae->code));
	str_lcpy(ae->message, ce->message, sizeof(ae->message));
	str_lcpy(ae->request_id, ce->request_id, sizeof(ae->request_id));
	ae->throttled = ce->throttled;
}

static void
aws_error_to_cloud(const struct aws_error *ae, struct cloud_error *ce)
{
	memset(ce, 0, sizeof(*ce));
	ce->http_status = ae->http_status;
	str_lcpy(ce->code, ae->code, sizeof(ce->code));
	str_lcpy(ce->message, ae->message, sizeof(ce->message));
	str_lcpy(ce->request_id, ae->request_id, sizeof(ce->request_id));
	ce->throttled = ae->throttled;
}

void
aws_parse_error(int status, const char *body, size_t len,
    const char *request_id, struct aws_error *ae)
{
	struct cloud_error ce;

	memset(&ce, 0, sizeof(ce));
	ce.http_status = status;
	if (request_id != NULL)
		str_lcpy(ce.request_id, request_id, sizeof(ce.request_id));
	aws_parse_any(body, len, &ce);
	cloud_error_classify(&aws_provider, &ce);
	aws_error_from_cloud(&ce, ae);
}

void
aws_error_type_header(const struct httpcli_resp *resp, struct aws_error *ae)
{
	const char *t = httpcli_resp_header(resp, "X-Amzn-ErrorType");
	struct cloud_error ce;

	if (t == NULL || *t == '\0')
		return;
	aws_error_to_cloud(ae, &ce);
	aws_error_code(ce.code, sizeof(ce.code), t);
	cloud_error_classify(&aws_provider, &ce);
	aws_error_from_cloud(&ce, ae);
}

void
aws_error_to_err(const struct aws_error *ae, struct err *e)
{
	struct cloud_error ce;

	aws_error_to_cloud(ae, &ce);
	cloud_error_to_err(&aws_provider, &ce, e);
}
