/* id: random ids, generated names and Docker's container-name rule. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "sockerless/err.h"
#include "sockerless/id.h"

#define T_N 200

static void
t_id_format(void **state)
{
	static char ids[T_N][65];

	(void)state;
	for (int i = 0; i < T_N; i++) {
		memset(ids[i], 'X', sizeof(ids[i]));
		id_new(ids[i]);
		assert_int_equal(strlen(ids[i]), 64);
		assert_int_equal(strspn(ids[i], "0123456789abcdef"), 64);
		assert_true(strspn(ids[i], "0123456789") < 64);
		for (int j = 0; j < i; j++)
			assert_string_not_equal(ids[i], ids[j]);
	}
}

static void
t_id_names(void **state)
{
	char *names[T_N];
	int distinct = 0;
	struct err e;

	(void)state;
	for (int i = 0; i < T_N; i++) {
		const char *us;
		names[i] = id_random_name();
		us = strchr(names[i], '_');
		assert_non_null(us);
		assert_true(us > names[i] && us[1] != '\0');
		assert_null(strchr(us + 1, '_'));
		assert_int_equal(
		    strspn(names[i], "abcdefghijklmnopqrstuvwxyz_"),
		    strlen(names[i]));
		assert_int_equal(id_valid_name(names[i], &e), 0);
		distinct += i == 0 || strcmp(names[i], names[i - 1]) != 0;
	}
	/* Thousands of combinations: consecutive repeats are rare. */
	assert_true(distinct > T_N - 10);
	for (int i = 0; i < T_N; i++)
		free(names[i]);
}

static void
t_id_valid_name(void **state)
{
	static const char *good[] = { "ab", "/ab", "web-1", "my_app.v2", "A0",
		"0a", "x.-_", NULL };
	static const char *bad[] = { "", "/", "a", "/a", "-ab", "_ab", ".ab",
		"a b", "a/b", "//ab", "ab!", "caf\xc3\xa9", NULL };
	struct err e;

	(void)state;
	for (int i = 0; good[i] != NULL; i++)
		assert_int_equal(id_valid_name(good[i], &e), 0);
	for (int i = 0; bad[i] != NULL; i++) {
		err_clear(&e);
		assert_int_equal(id_valid_name(bad[i], &e), -1);
		assert_int_equal(e.status, 400);
	}
	id_valid_name("-x", &e);
	assert_string_equal(e.msg,
	    "Invalid container name (-x), only [a-zA-Z0-9][a-zA-Z0-9_.-] are "
	    "allowed");
	assert_int_equal(id_valid_name(NULL, &e), -1);
	assert_int_equal(id_valid_name("ok", NULL), 0);
	assert_int_equal(id_valid_name("!", NULL), -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(t_id_format),
		cmocka_unit_test(t_id_names),
		cmocka_unit_test(t_id_valid_name),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
