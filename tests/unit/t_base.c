/* The base modules: err, buf bounds, str numbers and times, json checks. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "sockerless/buf.h"
#include "sockerless/container.h"
#include "sockerless/err.h"
#include "sockerless/json.h"
#include "sockerless/str.h"

static void
t_err_wrap(void **state)
{
	struct err e;

	(void)state;
	err_set(&e, 404, "No such container: %s", "x");
	err_wrap(&e, "starting %s", "x");
	assert_int_equal(e.status, 404);
	assert_string_equal(e.msg, "starting x: No such container: x");
}

static void
t_buf_bound(void **state)
{
	struct buf b;
	char *s;
	size_t n;

	(void)state;
	buf_init(&b, 8);
	assert_int_equal(buf_adds(&b, "12345678"), 0);
	assert_int_equal(buf_adds(&b, "9"), -1);
	s = buf_take(&b, &n);
	assert_int_equal(n, 8);
	assert_string_equal(s, "12345678");
	free(s);
}

static void
t_str_tonum(void **state)
{
	long long v;
	const char *errstr;

	(void)state;
	assert_int_equal(str_tonum("42", 0, 100, &v, &errstr), 0);
	assert_int_equal(v, 42);
	assert_int_equal(str_tonum("101", 0, 100, &v, &errstr), -1);
	assert_string_equal(errstr, "too large");
	assert_int_equal(str_tonum("4x", 0, 100, &v, &errstr), -1);
	assert_int_equal(str_tonum("", 0, 100, &v, &errstr), -1);
}

static void
t_time_roundtrip(void **state)
{
	int64_t ns;
	char out[48];

	(void)state;
	assert_int_equal(
	    str_time_parse("2024-01-02T03:04:05.123456789Z", &ns), 0);
	str_time_rfc3339(out, sizeof(out), ns);
	assert_string_equal(out, "2024-01-02T03:04:05.123456789Z");
	assert_int_equal(str_time_parse("2024-01-02T05:04:05+02:00", &ns), 0);
	str_time_rfc3339(out, sizeof(out), ns);
	assert_string_equal(out, "2024-01-02T03:04:05.000000000Z");
	assert_int_equal(str_time_parse("1700000000.5", &ns), 0);
	assert_true(ns == 1700000000500000000LL);
	assert_int_equal(str_time_parse("yesterday", &ns), -1);
	str_time_rfc3339(out, sizeof(out), 0);
	assert_string_equal(out, "0001-01-01T00:00:00Z");
}

/* The clouds' times: the zone required, any fraction, +hhmm too. */
static void
t_time_cloud(void **state)
{
	(void)state;
	assert_true(str_time_parse_cloud("2026-12-05T10:00:00.1234567Z") ==
	    1796464800123456700LL);
	assert_true(str_time_parse_cloud("2026-12-05T11:00:00.5+01:00") ==
	    1796464800500000000LL);
	assert_true(str_time_parse_cloud("2026-12-05T11:00:00+0100") ==
	    1796464800000000000LL);
	assert_true(str_time_parse_cloud("2026-12-05T10:00:00.1234567891Z") ==
	    1796464800123456789LL);
	assert_true(str_time_parse_cloud("2026-12-05T10:00:00") == -1);
	assert_true(str_time_parse_cloud("2026-12-05T10:00:00.Z") == -1);
	assert_true(str_time_parse_cloud("2026-12-05T10:00:00+1") == -1);
	assert_true(str_time_parse_cloud("2026-12-05T10:00:00+01") == -1);
	assert_true(str_time_parse_cloud("2026-12-05T10:00:00+01:") == -1);
	assert_true(str_time_parse_cloud("2026-12-05T10:00:00+01:0") == -1);
	assert_true(str_time_parse_cloud("2026-12-05T10:00:00Zx") == -1);
	assert_true(str_time_parse_cloud("1969-12-31T23:59:59Z") == -1);
	assert_true(str_time_parse_cloud("9999-12-31T23:59:59Z") == -1);
	assert_true(str_time_parse_cloud("1700000000") == -1);
	assert_true(str_time_parse_cloud(NULL) == -1);
}

static void
t_json_checks(void **state)
{
	struct err e;
	cJSON *o;
	const char *s = NULL;
	struct strv sv;

	(void)state;
	assert_null(json_parse("{", 1, &e));
	assert_int_equal(e.status, 400);
	assert_null(json_parse("{} x", 4, &e));
	o = json_parse("{\"Image\":5,\"Cmd\":\"echo hi\",\"Env\":[1]}", 38, &e);
	assert_non_null(o);
	assert_int_equal(json_check_str(o, "Image", &s, &e), -1);
	assert_int_equal(e.status, 400);
	strv_init(&sv);
	assert_int_equal(json_check_strv(o, "Cmd", 1, &sv, &e), 0);
	assert_int_equal(sv.n, 1);
	assert_int_equal(json_check_strv(o, "Env", 0, &sv, &e), -1);
	strv_free(&sv);
	cJSON_Delete(o);
}

static void
t_human_duration(void **state)
{
	char out[64];

	(void)state;
	container_human_duration(out, sizeof(out), 500000000LL);
	assert_string_equal(out, "Less than a second");
	container_human_duration(out, sizeof(out), 5000000000LL);
	assert_string_equal(out, "5 seconds");
	container_human_duration(out, sizeof(out), 90000000000LL);
	assert_string_equal(out, "About a minute");
	container_human_duration(out, sizeof(out), 7200000000000LL);
	assert_string_equal(out, "2 hours");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(t_err_wrap),
		cmocka_unit_test(t_buf_bound),
		cmocka_unit_test(t_str_tonum),
		cmocka_unit_test(t_time_roundtrip),
		cmocka_unit_test(t_time_cloud),
		cmocka_unit_test(t_json_checks),
		cmocka_unit_test(t_human_duration),
	};

	json_init();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
