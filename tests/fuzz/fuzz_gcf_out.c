/* What a function can answer a run (common/backend/kit_faas.c,
 * kit_faas_decode; gcf and azfunc): the agent's envelope, or anything
 * else. The exit code stays within Docker's 0-255 (125 for a
 * non-envelope, with a reason), and the lines kept are well-formed
 * [stream, time, text] records. The input is a copy exactly as long as
 * the data, so ASan sees a read past it. */
#include "fuzz.h"

#include "sockerless/kit_faas.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *body = malloc(size > 0 ? size : 1), *why = NULL;
	struct kit_lines l;
	const cJSON *rec;
	int code, i;

	if (body == NULL)
		abort();
	memcpy(body, data, size);
	kit_lines_init(&l);
	code = kit_faas_decode(body, size, "gcf",
	    "Cloud Logging (resource.type=cloud_run_revision)", 3600, &l, &why);
	if (code < 0 || code > 255 || (why != NULL && code != 125))
		abort();
	cJSON_ArrayForEach(rec, l.out) {
		if (cJSON_GetArraySize(rec) != 3 ||
		    !cJSON_IsNumber(cJSON_GetArrayItem(rec, 0)) ||
		    !cJSON_IsString(cJSON_GetArrayItem(rec, 2)))
			abort();
	}
	cJSON_Delete(l.out);
	for (i = 0; i < 3; i++)
		buf_free(&l.part[i]);
	free(why);
	free(body);
	return 0;
}
