/* Docker's filters query parameter (common/filters.c): the JSON forms,
 * every match function, and the "until" time forms. Input: the filters
 * text, then after a NUL a name or time to match against. */
#include <cjson/cJSON.h>

#include "fuzz.h"
#include "sockerless/filters.h"

static const char *fuzz_keys[] = { "id", "name", "label", "status", "until",
	"reference", "dangling", "ancestor", "exited", "before", "since",
	"health", "network", "volume", "driver", "type", "event", "container",
	"image", "scope", NULL };

static const char *fuzz_status[] = { "created", "running", "exited", NULL };

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct filters *f;
	struct err e;
	cJSON *labels;
	int64_t ns;
	char *buf;
	const char *q, *v;
	const char *names[] = { NULL, "/web", NULL };

	fuzz_split(data, size, &buf, &q, &v);
	filters_parse_time(q, &ns);
	filters_parse_time(v, &ns);
	if ((f = filters_parse(q, fuzz_keys, &e)) == NULL)
		goto out;
	names[0] = v;
	labels = cJSON_CreateObject();
	cJSON_AddStringToObject(labels, "a", "b");
	cJSON_AddStringToObject(labels, v, v);
	for (int i = 0; fuzz_keys[i] != NULL; i++) {
		const char *k = fuzz_keys[i];

		filters_has(f, k);
		filters_check_values(f, k, fuzz_status, &e);
		filters_match_id_prefix(f, k, v);
		filters_match_regex(f, k, names, &e);
		filters_match_labels(f, k, labels);
		filters_match_labels(f, k, NULL);
		filters_match_exact(f, k, v);
		filters_match_glob(f, k, v);
	}
	filters_until(f, &ns, &e);
	cJSON_Delete(labels);
	filters_free(f);
out:
	free(buf);
	return 0;
}
