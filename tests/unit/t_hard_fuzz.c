/* Defects the fuzz harnesses found (tests/fuzz, docs/fuzzing.md), pinned
 * where the gcc builds see them: the replay of tests/fuzz/regress runs the
 * inputs themselves, but gcc's UBSan does not check float casts. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <cjson/cJSON.h>

#include "../../common/reg/reg_int.h"
#include "sockerless/filters.h"
#include "sockerless/json.h"
#include "sockerless/str.h"

/* A number beyond int64_t is no integer: the default, never an out of
 * range conversion (undefined; x86 gave INT64_MIN for 1e300). */
static void
t_json_int_out_of_range(void **state)
{
	cJSON *o = cJSON_Parse(
	    "{\"big\":1e300,\"small\":-1e300,\"edge\":9223372036854775807,"
	    "\"ok\":-42.9}");

	(void)state;
	assert_non_null(o);
	/* Beyond int64_t: not an integer, so the default (never UB). */
	assert_true(json_int(o, "big", 0) == 0);
	assert_true(json_int(o, "small", 0) == 0);
	assert_true(json_int(o, "edge", 0) == 0); /* 2^63 as a double */
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

/* The name filter's regex against one name: 1, 0, or -1 (e set). */
static int
t_regex(const char *re, const char *name, struct err *e)
{
	static const char *keys[] = { "name", NULL };
	const char *names[] = { name, NULL };
	cJSON *q = cJSON_CreateObject();
	cJSON *a = cJSON_AddArrayToObject(q, "name");
	struct filters *f;
	char *text;
	int rc;

	cJSON_AddItemToArray(a, cJSON_CreateString(re));
	text = cJSON_PrintUnformatted(q);
	f = filters_parse(text, keys, e);
	assert_non_null(f);
	rc = filters_match_regex(f, "name", names, e);
	filters_free(f);
	free(text);
	cJSON_Delete(q);
	return rc;
}

/* Repeat counts glibc takes and then spends seconds to minutes on (the
 * event loop stalls) are refused as Docker's Go regexp refuses them: over
 * 1000, nested ones multiplied, and repeats of a repeat. */
static void
t_regex_repeats_bounded(void **state)
{
	static const struct {
		const char *re, *why;
	} bad[] = {
		{ "x{1001}", "invalid repeat count" },
		{ "(.*){1,32000}[bc]", "invalid repeat count" },
		{ "(a{10}){101}", "invalid repeat count" },
		{ "x{,5000}", "invalid repeat count" },
		{ "[{]{5000}", "invalid repeat count" },
		{ "a{1000}{1000}", "invalid nested repetition operator" },
		{ ".?/w++++++++++++++++++++++++++++++++++++++++eb)",
		    "invalid nested repetition operator" },
		{ "a**", "invalid nested repetition operator" },
		{ "a{2}*", "invalid nested repetition operator" },
		{ "a+??", "invalid nested repetition operator" },
	};
	struct err e;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err_clear(&e);
		assert_int_equal(t_regex(bad[i].re, "web", &e), -1);
		assert_int_equal(e.status, 400);
		assert_non_null(strstr(e.msg, bad[i].why));
	}
	assert_int_equal(t_regex("^/?web-[0-9]{1,3}$", "/web-12", &e), 1);
	assert_int_equal(t_regex("(a{10}){100}", "web", &e), 0);
	assert_int_equal(t_regex("\\{5000}", "x{5000}", &e), 1);
	assert_int_equal(t_regex("[]{]+", "{", &e), 1);
	assert_int_equal(t_regex("^w.+?b$", "web", &e), 1);
	assert_int_equal(t_regex("((w+)+e)*b", "web", &e), 1);
}

/* regress/filters/until-duration-overflow: now minus a duration far
 * below zero overflowed (signed); now it is out of range. */
static void
t_until_duration_out_of_range(void **state)
{
	int64_t ns = 0;

	(void)state;
	/* Beyond int64: out of range (a 400), never an overflow. */
	assert_int_equal(filters_parse_time("-7777777777777770us", &ns), -1);
	assert_int_equal(filters_parse_time("-10m", &ns), 0);
	assert_true(ns > str_now_ns());
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(t_json_int_out_of_range),
		cmocka_unit_test(t_manifest_size_saturates),
		cmocka_unit_test(t_regex_repeats_bounded),
		cmocka_unit_test(t_until_duration_out_of_range),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
