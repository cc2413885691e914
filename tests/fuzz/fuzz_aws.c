/* What the cloud answers (common/cloud/aws_err.c, cloud.c, aws_creds.c):
 * error bodies (awsJson and rest-json, with the X-Amzn-ErrorType header) mapped
 * to a Docker-facing error, and the credential documents (container / IMDS
 * JSON, STS XML, the shared credentials and config files' INI). The first
 * byte picks the HTTP status and the parser; the rest is the body, and
 * after a NUL the header value. */
#include "../../common/cloud/aws_int.h"
#include "fuzz.h"
#include "sockerless/aws.h"
#include "sockerless/httpcli.h"
#include "sockerless/str.h"

static const int fuzz_status[] = { 0, 400, 403, 404, 409, 429, 500, 502, 503,
	504 };

static void
fuzz_aws_error(int status, const char *body, size_t len, const char *type)
{
	struct httpcli_resp resp;
	struct aws_error ae;
	struct err e;
	char *hdr;

	aws_parse_error(status, body, len, "req-fuzz", &ae);
	memset(&resp, 0, sizeof(resp));
	strv_init(&resp.headers);
	hdr = malloc(strlen(type) + 32);
	sprintf(hdr, "X-Amzn-ErrorType: %s", type);
	strv_take(&resp.headers, hdr);
	aws_error_type_header(&resp, &ae);
	strv_free(&resp.headers);
	if (memchr(ae.code, '\0', sizeof(ae.code)) == NULL ||
	    memchr(ae.message, '\0', sizeof(ae.message)) == NULL)
		abort();
	aws_error_to_err(&ae, &e);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct aws_creds c;
	struct err e;
	const char *a, *b;
	char *buf;
	int sel;

	if (size == 0)
		return 0;
	sel = data[0];
	fuzz_split(data + 1, size - 1, &buf, &a, &b);
	memset(&c, 0, sizeof(c));
	switch (sel >> 4) {
	case 1:
		aws_creds_parse_json(a, strlen(a), &c, &e);
		break;
	case 2:
		aws_creds_parse_sts_xml(a, &c, &e);
		break;
	case 3:
		free(aws_creds_ini_get(a, b, "aws_access_key_id"));
		free(aws_creds_ini_get(a, "default", b));
		break;
	default:
		/* The body as sent, NULs included. */
		fuzz_aws_error(
		    fuzz_status[(sel & 15) %
			(sizeof(fuzz_status) / sizeof(fuzz_status[0]))],
		    (const char *)data + 1, size - 1, b);
		break;
	}
	free(buf);
	return 0;
}
