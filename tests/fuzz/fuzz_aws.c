/* The cloud's error bodies (common/aws.c aws_parse_error, awsJson and
 * rest-json) and their mapping to a Docker-facing error. The first byte
 * picks the HTTP status. */
#include "../../common/aws_int.h"
#include "fuzz.h"
#include "sockerless/aws.h"

static const int fuzz_status[] = { 0, 400, 403, 404, 409, 429, 500, 502, 503,
	504 };

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct aws_error ae;
	struct err e;
	int status;

	if (size == 0)
		return 0;
	status = fuzz_status[data[0] %
	    (sizeof(fuzz_status) / sizeof(fuzz_status[0]))];
	aws_parse_error(
	    status, (const char *)data + 1, size - 1, "req-fuzz", &ae);
	if (memchr(ae.code, '\0', sizeof(ae.code)) == NULL ||
	    memchr(ae.message, '\0', sizeof(ae.message)) == NULL)
		abort();
	aws_error_to_err(&ae, &e);
	return 0;
}
