/* Docker API version prefixes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "sockerless/apiver.h"

static void
t_prefixes(void **state)
{
	const char *rest;
	int minor;
	struct err e;

	(void)state;
	assert_int_equal(
	    apiver_split("/containers/json", &rest, &minor, &e), 0);
	assert_string_equal(rest, "/containers/json");
	assert_int_equal(minor, 44);
	assert_int_equal(
	    apiver_split("/v1.41/containers/json", &rest, &minor, &e), 0);
	assert_string_equal(rest, "/containers/json");
	assert_int_equal(minor, 41);
	assert_int_equal(apiver_split("/v1.24/_ping", &rest, &minor, &e), 0);
	assert_int_equal(minor, 24);
	assert_int_equal(apiver_split("/v1.44", &rest, &minor, &e), 0);
	assert_string_equal(rest, "/");
}

static void
t_errors(void **state)
{
	const char *rest;
	int minor;
	struct err e;

	(void)state;
	assert_int_equal(apiver_split("/v1.45/info", &rest, &minor, &e), -1);
	assert_int_equal(e.status, 400);
	assert_non_null(strstr(e.msg, "too new"));
	assert_int_equal(apiver_split("/v2.0/info", &rest, &minor, &e), -1);
	assert_int_equal(e.status, 400);
	assert_int_equal(apiver_split("/v1.12/info", &rest, &minor, &e), -1);
	assert_int_equal(e.status, 400);
	assert_non_null(strstr(e.msg, "too old"));
	assert_int_equal(apiver_split("/v1/info", &rest, &minor, &e), -1);
	assert_int_equal(e.status, 404);
	assert_int_equal(apiver_split("/v1.x/info", &rest, &minor, &e), -1);
	assert_int_equal(apiver_split("/v1.44x/info", &rest, &minor, &e), -1);
	assert_int_equal(e.status, 404);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(t_prefixes),
		cmocka_unit_test(t_errors),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
