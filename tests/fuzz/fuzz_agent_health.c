/* The agent's healthcheck config reader (agent/health.c): the container's
 * Healthcheck JSON as the backend passes it, then a recorded result with
 * the input as the check's output and the Health object written back. */
#include "../../agent/modules.h"
#include "fuzz.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = fuzz_str(data, size);

	if (health_init(s) == 0) {
		if (health_argv() == NULL)
			abort();
		health_next_ms();
		health_timeout_ms();
		health_record(1000, 2000, size > 0 ? data[0] : 0, s, size,
		    size > 1 && data[1] == 'T');
	}
	free(health_json());
	free(s);
	return 0;
}
