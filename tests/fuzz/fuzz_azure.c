/* What Azure answers (common/cloud/azure_err.c, azure_lro.c, azure.c):
 * error bodies (the ARM envelope, the bare object, OData, Entra, Log
 * Analytics' inner errors) mapped to a Docker-facing error, operation
 * status bodies (Azure-AsyncOperation and provisioningState), list pages,
 * the retry headers, and the conventions' parsers (times, tags). The
 * first byte picks the parser (high nibble) and the HTTP status (low
 * nibble); the rest is the input, and after a NUL a second one. */
#include <stdio.h>

#include "../../common/cloud/azure_arm_int.h"
#include "fuzz.h"
#include "sockerless/azure.h"
#include "sockerless/azure_auth.h"
#include "sockerless/httpcli.h"
#include "sockerless/str.h"
#include "sockerless/xmalloc.h"

/* azure.c's authorize hook names azure_auth; no call is made here. */
const char *
azure_auth_token_cached(struct azure_auth *a, const char *scope)
{
	(void)a;
	(void)scope;
	abort();
}

int
azure_auth_token_sync(
    struct azure_auth *a, const char *scope, char **token, struct err *e)
{
	(void)a;
	(void)scope;
	(void)token;
	(void)e;
	abort();
}

void
azure_auth_forget(struct azure_auth *a, const char *scope)
{
	(void)a;
	(void)scope;
	abort();
}

static const int fuzz_status[] = { 0, 400, 401, 403, 404, 408, 409, 429, 500,
	502, 503, 504, 200, 202, 418, 302 };

static void
fuzz_azure_check(const struct cloud_error *ce)
{
	struct err e;

	if (memchr(ce->code, '\0', sizeof(ce->code)) == NULL ||
	    memchr(ce->message, '\0', sizeof(ce->message)) == NULL ||
	    ce->code[0] == '\0' || ce->message[0] == '\0')
		abort();
	cloud_error_to_err(azure_provider(), ce, &e);
	if (e.status < 400 || e.status > 599)
		abort();
}

static void
fuzz_azure_error(int status, const char *body)
{
	struct cloud_error ce;

	memset(&ce, 0, sizeof(ce));
	ce.http_status = status;
	azure_parse_error(body, strlen(body), &ce);
	cloud_error_classify(azure_provider(), &ce);
	fuzz_azure_check(&ce);
}

static void
fuzz_azure_op(int status, const char *body)
{
	cJSON *o = cJSON_Parse(body);
	struct cloud_error ce;

	for (int resource = 0; resource < 2; resource++) {
		memset(&ce, 0, sizeof(ce));
		if (azure_op_status(o, resource, &ce) == -1)
			fuzz_azure_check(&ce);
	}
	azure_error_to_cloud(cJSON_GetObjectItemCaseSensitive(o, "error"),
	    status != 0 ? status : 500, "Failed", &ce);
	fuzz_azure_check(&ce);
	cJSON_Delete(o);
}

static void
fuzz_azure_list(const char *body)
{
	cJSON *page = cJSON_Parse(body), *acc = cJSON_CreateObject();
	struct cloud_error ce;
	const char *next;

	cJSON_AddItemToObject(acc, "value", cJSON_CreateArray());
	if (azure_list_merge(acc, page, &next, &ce) == -1)
		fuzz_azure_check(&ce);
	else if (next != NULL && *next == '\0')
		abort();
	cJSON_Delete(acc);
	cJSON_Delete(page);
}

static void
fuzz_azure_retry(int status, const char *a, const char *b)
{
	struct httpcli_resp r;
	long ms;

	memset(&r, 0, sizeof(r));
	r.status = status;
	strv_init(&r.headers);
	strv_take(&r.headers, xasprintf("Retry-After: %s", a));
	strv_take(&r.headers, xasprintf("x-ms-retry-after-ms: %s", b));
	ms = azure_retry_after_ms(&r);
	if (ms < -1 || ms > 86400000L || azure_retry_delay(&r) > 60000)
		abort();
	strv_free(&r.headers);
}

static void
fuzz_azure_conv(const char *a, const char *b)
{
	char out[64];
	int64_t ns;
	cJSON *labels = cJSON_Parse(b), *tags;

	if ((ns = azure_time_parse(a)) >= 0) {
		azure_time(out, sizeof(out), ns);
		/* 7 fraction digits: 100 ns ticks. */
		if (azure_time_parse(out) != ns - ns % 100)
			abort();
	}
	tags = azure_tags_from_docker(labels, 50);
	if (cJSON_GetArraySize(tags) > 50)
		abort();
	cJSON_Delete(tags);
	cJSON_Delete(labels);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *a, *b;
	char *buf;
	int sel;

	if (size == 0)
		return 0;
	sel = data[0];
	fuzz_split(data + 1, size - 1, &buf, &a, &b);
	switch ((sel >> 4) % 5) {
	case 0:
		fuzz_azure_error(fuzz_status[sel & 0xf], a);
		break;
	case 1:
		fuzz_azure_op(fuzz_status[sel & 0xf], a);
		break;
	case 2:
		fuzz_azure_list(a);
		break;
	case 3:
		fuzz_azure_retry(fuzz_status[sel & 0xf], a, b);
		break;
	default:
		fuzz_azure_conv(a, b);
		break;
	}
	free(buf);
	return 0;
}
