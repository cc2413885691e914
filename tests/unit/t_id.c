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
		names[i] = id_random_name(0);
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

/* After the first try moby appends a digit: more names than the lists. */
static void
t_id_names_retry(void **state)
{
	char *n = id_random_name(1);
	size_t len = strlen(n);

	(void)state;
	assert_true(len > 3);
	assert_true(n[len - 1] >= '0' && n[len - 1] <= '9');
	assert_int_equal(strspn(n, "abcdefghijklmnopqrstuvwxyz_"), len - 1);
	assert_int_equal(id_valid_name(n, NULL), 0);
	free(n);
}

struct t_id_taken {
	int calls;
	int free_from; /* the call from which names are free */
	const char *last;
};

static int
t_id_taken_fn(const char *name, void *arg)
{
	struct t_id_taken *t = arg;

	t->last = name;
	return ++t->calls < t->free_from;
}

/* Every combination in use (issue 10 #11: the loop never ended): the
 * picker gives up on random names after a few tries and uses the id. */
static void
t_id_pick_name_exhausted(void **state)
{
	const char *id = "0123456789abcdef0123456789abcdef"
			 "0123456789abcdef0123456789abcdef";
	struct t_id_taken t = { 0, ID_NAME_TRIES + 1, NULL };
	char *n;

	(void)state;
	n = id_pick_name(id, t_id_taken_fn, &t);
	assert_non_null(n);
	assert_string_equal(n, "0123456789ab");
	assert_int_equal(t.calls, ID_NAME_TRIES + 1);
	free(n);
	/* The short id taken too: the whole id. */
	t = (struct t_id_taken){ 0, ID_NAME_TRIES + 2, NULL };
	n = id_pick_name(id, t_id_taken_fn, &t);
	assert_string_equal(n, id);
	free(n);
	/* Nothing free at all: NULL, after a bounded number of tries. */
	t = (struct t_id_taken){ 0, 1000, NULL };
	assert_null(id_pick_name(id, t_id_taken_fn, &t));
	assert_int_equal(t.calls, ID_NAME_TRIES + 2);
	/* A free random name is taken at once. */
	t = (struct t_id_taken){ 0, 0, NULL };
	n = id_pick_name(id, t_id_taken_fn, &t);
	assert_int_equal(t.calls, 1);
	assert_null(strchr(n, '0'));
	free(n);
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
		cmocka_unit_test(t_id_names_retry),
		cmocka_unit_test(t_id_pick_name_exhausted),
		cmocka_unit_test(t_id_valid_name),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
