/* Numbers and times from clients and clouds (issue 10, defect 8): range
 * checks, overflow-safe time parsing, safe JSON number conversion. */
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "sockerless/container.h"
#include "sockerless/err.h"
#include "sockerless/filters.h"
#include "sockerless/json.h"
#include "sockerless/str.h"

static void
t_tonum_edges(void **state)
{
	long long v;
	const char *errstr;

	(void)state;
	assert_int_equal(
	    str_tonum("9223372036854775807", LLONG_MIN, LLONG_MAX, &v, &errstr),
	    0);
	assert_true(v == LLONG_MAX);
	assert_int_equal(
	    str_tonum("9223372036854775808", LLONG_MIN, LLONG_MAX, &v, &errstr),
	    -1);
	assert_string_equal(errstr, "too large");
	assert_int_equal(str_tonum("-9223372036854775809", LLONG_MIN, LLONG_MAX,
			     &v, &errstr),
	    -1);
	assert_string_equal(errstr, "too small");
	assert_int_equal(str_tonum(" 5", 0, 10, &v, &errstr), -1);
	assert_string_equal(errstr, "invalid");
	assert_int_equal(str_tonum("abc", 0, 10, &v, &errstr), -1);
	assert_string_equal(errstr, "invalid");
	assert_int_equal(str_tonum("-2", -1, 10, &v, &errstr), -1);
	assert_string_equal(errstr, "too small");
	assert_int_equal(str_tonum(NULL, 0, 10, &v, NULL), -1);
}

static void
t_tohex(void **state)
{
	long long v;
	const char *end;

	(void)state;
	assert_int_equal(str_tohex("1aF;ext", LLONG_MAX, &v, &end), 0);
	assert_true(v == 0x1af);
	assert_string_equal(end, ";ext");
	assert_int_equal(str_tohex("7fffffffffffffff", LLONG_MAX, &v, &end), 0);
	assert_true(v == LLONG_MAX);
	assert_int_equal(
	    str_tohex("8000000000000000", LLONG_MAX, &v, &end), -1);
	assert_int_equal(
	    str_tohex("ffffffffffffffffffff", LLONG_MAX, &v, &end), -1);
	assert_int_equal(str_tohex("100", 255, &v, &end), -1);
	assert_int_equal(str_tohex("ff", 255, &v, &end), 0);
	assert_int_equal(str_tohex("", LLONG_MAX, &v, &end), -1);
	assert_int_equal(str_tohex("-5", LLONG_MAX, &v, &end), -1);
	assert_int_equal(str_tohex(" 5", LLONG_MAX, &v, &end), -1);
	/* "0x5" stops at the x, which the caller refuses. */
	assert_int_equal(str_tohex("0x5", LLONG_MAX, &v, &end), 0);
	assert_string_equal(end, "x5");
}

/* Every form past what int64 nanoseconds hold is an error, never UB (the
 * ASan+UBSan build aborts on a signed overflow). */
static void
t_time_range(void **state)
{
	int64_t ns = 42;

	(void)state;
	assert_int_equal(str_time_parse("9999-01-01", &ns), -1);
	assert_int_equal(
	    str_time_parse("9999-12-31T23:59:59.999999999Z", &ns), -1);
	assert_int_equal(str_time_parse("2262-04-12T00:00:00Z", &ns), -1);
	assert_int_equal(str_time_parse("1600-01-01T00:00:00Z", &ns), -1);
	assert_int_equal(str_time_parse("99999999999999999999", &ns), -1);
	assert_int_equal(str_time_parse("9300000000", &ns), -1);
	assert_int_equal(str_time_parse("-9300000000", &ns), -1);
	assert_int_equal(str_time_parse("9223372036.9", &ns), -1);
	assert_true(ns == 42);
	assert_int_equal(str_time_parse("2262-04-11T00:00:00Z", &ns), 0);
	assert_true(ns == 9223286400000000000LL);
	assert_int_equal(str_time_parse("1678-01-01T00:00:00Z", &ns), 0);
	assert_true(ns < 0);
	assert_int_equal(str_time_parse("-1.5", &ns), 0);
	assert_true(ns == -500000000LL);
	assert_int_equal(str_time_parse("9223372036", &ns), 0);
	/* Docker's zero time is what str_time_rfc3339 writes for 0. */
	assert_int_equal(str_time_parse("0001-01-01T00:00:00Z", &ns), 0);
	assert_true(ns == 0);
}

static void
t_time_malformed(void **state)
{
	int64_t ns;

	(void)state;
	/* A short zone used to be skipped as six bytes, past the NUL. */
	assert_int_equal(str_time_parse("2024-01-02T03:04:05+1:00", &ns), -1);
	assert_int_equal(str_time_parse("2024-01-02T03:04:05+01", &ns), -1);
	assert_int_equal(str_time_parse("2024-01-02T03:04:05+-1:00", &ns), -1);
	assert_int_equal(str_time_parse("2024-01-02T03:04:05+24:00", &ns), -1);
	assert_int_equal(str_time_parse("2024-01-02T03:04:05+01:60", &ns), -1);
	assert_int_equal(str_time_parse("5.", &ns), -1);
	assert_int_equal(str_time_parse(" 5", &ns), -1);
	assert_int_equal(str_time_parse("-", &ns), -1);
	assert_int_equal(str_time_parse("1e9", &ns), -1);
	assert_int_equal(str_time_parse("2024-01-02T03:04:05-01:30", &ns), 0);
	assert_true(ns == (1704164645LL + 5400) * 1000000000LL);
}

static void
t_filter_time_range(void **state)
{
	int64_t ns;

	(void)state;
	/* A negative duration is in the future: past 2262 it overflows. */
	assert_int_equal(filters_parse_time("-2562046h", &ns), -1);
	assert_int_equal(filters_parse_time("2562046h", &ns), 0);
	assert_int_equal(filters_parse_time("-1h", &ns), 0);
	assert_int_equal(filters_parse_time("9999-01-01", &ns), -1);
	assert_int_equal(filters_parse_time("99999999999999999999", &ns), -1);
}

static void
t_json_numbers(void **state)
{
	const char *doc = "{\"big\":1e300,\"neg\":-1e300,\"frac\":1.5,"
			  "\"max\":9223372036854775808,\"ok\":42}";
	struct err e;
	cJSON *o = json_parse(doc, strlen(doc), &e);
	int64_t v = 7;

	(void)state;
	assert_non_null(o);
	assert_true(json_int(o, "big", -1) == -1);
	assert_true(json_int(o, "neg", -1) == -1);
	assert_true(json_int(o, "max", -1) == -1);
	assert_true(json_int(o, "frac", -1) == 1);
	assert_true(json_int(o, "ok", -1) == 42);
	assert_int_equal(json_check_int(o, "big", &v, &e), -1);
	assert_int_equal(e.status, 400);
	assert_int_equal(json_check_int(o, "frac", &v, &e), -1);
	assert_true(v == 7);
	assert_int_equal(json_check_int(o, "ok", &v, &e), 0);
	assert_true(v == 42);
	cJSON_Delete(o);
}

static void
t_port_parse(void **state)
{
	const char *proto;
	int port;

	(void)state;
	assert_int_equal(container_port_parse("80", &port, &proto), 0);
	assert_int_equal(port, 80);
	assert_string_equal(proto, "tcp");
	assert_int_equal(container_port_parse("53/udp", &port, &proto), 0);
	assert_string_equal(proto, "udp");
	assert_int_equal(container_port_parse("65535/sctp", &port, &proto), 0);
	assert_int_equal(container_port_parse("65536/tcp", &port, &proto), -1);
	assert_int_equal(container_port_parse("0/tcp", &port, &proto), -1);
	assert_int_equal(container_port_parse("-80/tcp", &port, &proto), -1);
	assert_int_equal(container_port_parse("+80/tcp", &port, &proto), -1);
	assert_int_equal(container_port_parse("abc", &port, &proto), -1);
	assert_int_equal(container_port_parse("/tcp", &port, &proto), -1);
	assert_int_equal(container_port_parse("80/xyz", &port, &proto), -1);
	assert_int_equal(
	    container_port_parse("8000-8010/tcp", &port, &proto), -1);
	assert_int_equal(
	    container_port_parse("99999999999999999999/tcp", &port, &proto),
	    -1);
}

static void
t_http_status(void **state)
{
	int st = 0;

	(void)state;
	assert_int_equal(str_http_status("HTTP/1.1 101 Switching", &st), 0);
	assert_int_equal(st, 101);
	assert_int_equal(str_http_status("HTTP/1.0 404", &st), 0);
	assert_int_equal(st, 404);
	assert_int_equal(
	    str_http_status("HTTP/1.1 99999999999999999999 x", &st), -1);
	assert_int_equal(str_http_status("HTTP/1.1 1000 x", &st), -1);
	assert_int_equal(str_http_status("HTTP/1.1 099 x", &st), -1);
	assert_int_equal(str_http_status("HTTP/1.1 -01 x", &st), -1);
	assert_int_equal(str_http_status("HTTP/1.1  200", &st), -1);
	assert_int_equal(str_http_status("HTTP/1.1", &st), -1);
	assert_int_equal(str_http_status("SSH-2.0", &st), -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(t_tonum_edges),
		cmocka_unit_test(t_tohex),
		cmocka_unit_test(t_time_range),
		cmocka_unit_test(t_time_malformed),
		cmocka_unit_test(t_filter_time_range),
		cmocka_unit_test(t_json_numbers),
		cmocka_unit_test(t_port_parse),
		cmocka_unit_test(t_http_status),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
