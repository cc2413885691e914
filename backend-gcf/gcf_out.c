/* A run's answer: the agent's envelope (docs/agent.md, the HTTP runtime)
 * as the exit code and the output lines, stdout and stderr apart. Pure:
 * tests/fuzz/fuzz_gcf_out.c feeds it what a function could answer. */
#include <stdlib.h>
#include <string.h>

#include "gcf.h"
#include "sockerless/json.h"
#include "sockerless/str.h"
#include "sockerless/xmalloc.h"

/* The most of a non-envelope answer kept in the error. */
#define GCF_OUT_SHOWN 300

static void
gcf_out_record(const cJSON *rec, struct kit_lines *l)
{
	const cJSON *st = cJSON_GetArrayItem(rec, 0);
	const cJSON *ts = cJSON_GetArrayItem(rec, 1);
	const cJSON *d = cJSON_GetArrayItem(rec, 2);
	int64_t us;
	size_t n;
	char *bytes;

	if (!cJSON_IsNumber(st) || !cJSON_IsNumber(ts) || !cJSON_IsString(d) ||
	    (st->valueint != 1 && st->valueint != 2) ||
	    json_num_int(ts->valuedouble, &us) == -1 ||
	    (bytes = str_base64_decode(d->valuestring, &n)) == NULL)
		return;
	kit_lines_add(l, st->valueint, us, bytes, n);
	free(bytes);
}

int
gcf_out_decode(const char *body, size_t len, struct kit_lines *l, char **why)
{
	cJSON *env = len > 0 ? cJSON_ParseWithLength(body, len) : NULL;
	const cJSON *rec, *code;
	int64_t v = 125;

	*why = NULL;
	code = cJSON_GetObjectItemCaseSensitive(env, "exitCode");
	if (!cJSON_IsObject(env) || json_int(env, "sockerless", 0) != 1 ||
	    !cJSON_IsNumber(code) ||
	    json_num_int(code->valuedouble, &v) == -1 || v < 0 || v > 255) {
		*why = xasprintf("the function answered without the agent's "
				 "envelope: %.*s",
		    (int)(len > GCF_OUT_SHOWN ? GCF_OUT_SHOWN : len),
		    body != NULL ? body : "");
		cJSON_Delete(env);
		return 125;
	}
	cJSON_ArrayForEach(rec, json_arr(env, "output")) {
		gcf_out_record(rec, l);
	}
	kit_lines_flush(l);
	if (json_bool(env, "outputTruncated", 0))
		kit_lines_note(l,
		    "sockerless: the output was larger than an answer may be; "
		    "all of it is in Cloud Logging (resource.type="
		    "cloud_run_revision)");
	if (json_bool(env, "timedOut", 0))
		kit_lines_note(l,
		    "sockerless: the time limit (%lld s, gcf.timeout) ended the "
		    "container",
		    gcf_conf.timeout);
	cJSON_Delete(env);
	return (int)v;
}
