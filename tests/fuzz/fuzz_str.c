/* Numbers, times and encodings taken from query strings and headers
 * (common/str.c), and the API version prefix of every request path
 * (common/apiver.c). */
#include <limits.h>

#include "fuzz.h"
#include "sockerless/apiver.h"
#include "sockerless/str.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = fuzz_str(data, size), *dec;
	const char *errstr, *rest;
	long long n;
	int64_t ns;
	size_t len;
	int minor;
	struct err e;
	char out[64];

	str_tonum(s, LLONG_MIN, LLONG_MAX, &n, &errstr);
	str_tonum(s, -1, 65535, &n, NULL);
	if (str_time_parse(s, &ns) == 0)
		str_time_rfc3339(out, sizeof(out), ns);
	if ((dec = str_base64_decode(s, &len)) != NULL) {
		if (dec[len] != '\0')
			abort();
		free(dec);
	}
	/* rest is within s, or "/" for a bare "/v1.44". */
	if (apiver_split(s, &rest, &minor, &e) == 0 &&
	    (rest < s || rest > s + size) && strcmp(rest, "/") != 0)
		abort();
	free(s);
	return 0;
}
