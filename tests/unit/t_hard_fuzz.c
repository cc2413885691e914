/* Defects the fuzz harnesses found (tests/fuzz, docs/fuzzing.md), pinned
 * where the gcc builds see them: the replay of tests/fuzz/regress runs the
 * inputs themselves, but gcc's UBSan does not check float casts. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>
#include <cjson/cJSON.h>

#include "../../common/reg_int.h"
#include "sockerless/json.h"

/* A number beyond int64_t saturates instead of converting out of range
 * (undefined; x86 gave INT64_MIN for 1e300). */
static void
t_json_int_saturates(void **state)
{
	cJSON *o = cJSON_Parse(
	    "{\"big\":1e300,\"small\":-1e300,\"edge\":9223372036854775807,"
	    "\"ok\":-42.9}");

	(void)state;
	assert_non_null(o);
	assert_true(json_int(o, "big", 0) == INT64_MAX);
	assert_true(json_int(o, "small", 0) == INT64_MIN);
	assert_true(json_int(o, "edge", 0) == INT64_MAX);
	assert_true(json_int(o, "ok", 0) == -42);
	cJSON_Delete(o);
}

/* tests/fuzz/regress/reg/manifest-layer-size-huge: layer sizes summing
 * past INT64_MAX, and negative ones, from a registry. */
static void
t_manifest_size_saturates(void **state)
{
	cJSON *o = cJSON_Parse("{\"layers\":[{\"size\":100},"
			       "{\"size\":9223372036854775000},"
			       "{\"size\":9223372036854775000},"
			       "{\"size\":-5},{\"size\":\"x\"}]}");

	(void)state;
	assert_non_null(o);
	assert_true(reg_manifest_size(o) == INT64_MAX);
	cJSON_Delete(o);
	o = cJSON_Parse("{\"layers\":[{\"size\":100},{\"size\":-50},{}]}");
	assert_true(reg_manifest_size(o) == 100);
	cJSON_Delete(o);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(t_json_int_saturates),
		cmocka_unit_test(t_manifest_size_saturates),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
