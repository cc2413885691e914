/* detach: docker's detach-key specs and finding the sequence in input. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "sockerless/detach.h"

static void
t_detach_parse(void **state)
{
	struct detach d;

	(void)state;
	assert_int_equal(detach_parse(NULL, &d), 0);
	assert_int_equal(d.len, 2);
	assert_memory_equal(d.keys, "\x10\x11", 2);
	assert_int_equal(detach_parse("", &d), 0);
	assert_memory_equal(d.keys, "\x10\x11", 2);
	assert_int_equal(detach_parse("ctrl-x,y", &d), 0);
	assert_int_equal(d.len, 2);
	assert_memory_equal(d.keys, "\x18y", 2);
	assert_int_equal(detach_parse("ctrl-@,ctrl-_,DEL,ctrl-\\,,", &d), -1);
	assert_int_equal(detach_parse("ctrl-@,ctrl-_,DEL,ctrl-\\", &d), 0);
	assert_int_equal(d.len, 4);
	assert_memory_equal(d.keys, "\x00\x1f\x7f\x1c", 4);
	/* What dockerd refuses. */
	const char *bad[] = { "ctrl-", "ctrl-A", "a,,b", "ab", "ctrl-ab", "del",
		",", "a,", "ctrl-1" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(detach_parse(bad[i], &d), -1);
}

static void
t_detach_limit(void **state)
{
	struct detach d;
	char spec[4 * DETACH_MAX + 8];
	size_t i;

	(void)state;
	for (i = 0; i < DETACH_MAX; i++)
		memcpy(spec + 2 * i, "a,", 2);
	spec[2 * i - 1] = '\0';
	assert_int_equal(detach_parse(spec, &d), 0);
	assert_int_equal(d.len, DETACH_MAX);
	spec[2 * i - 1] = ',';
	memcpy(spec + 2 * i, "b", 2);
	assert_int_equal(detach_parse(spec, &d), -1);
}

static void
t_detach_scan(void **state)
{
	struct detach d;
	int hit;

	(void)state;
	detach_parse(NULL, &d);
	assert_int_equal(
	    detach_scan(&d, (const unsigned char *)"abc", 3, 0, &hit), 3);
	assert_false(hit);
	assert_int_equal(detach_scan(&d,
			     (const unsigned char *)"ab\x10\x11"
						    "cd",
			     6, 0, &hit),
	    2);
	assert_true(hit);
	/* A key alone at the end waits for the next one. */
	assert_int_equal(
	    detach_scan(&d, (const unsigned char *)"ab\x10", 3, 0, &hit), 2);
	assert_false(hit);
	/* At the end of input it goes to the process. */
	assert_int_equal(
	    detach_scan(&d, (const unsigned char *)"ab\x10", 3, 1, &hit), 3);
	assert_false(hit);
	/* A first key that another byte follows is input. */
	assert_int_equal(
	    detach_scan(&d, (const unsigned char *)"\x10x\x10", 3, 0, &hit), 2);
	assert_false(hit);
	assert_int_equal(
	    detach_scan(&d, (const unsigned char *)"\x10\x10\x11", 3, 0, &hit),
	    1);
	assert_true(hit);
	assert_int_equal(
	    detach_scan(&d, (const unsigned char *)"\x10\x11", 2, 0, &hit), 0);
	assert_true(hit);
	assert_int_equal(
	    detach_scan(&d, (const unsigned char *)"", 0, 0, &hit), 0);
	assert_false(hit);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(t_detach_parse),
		cmocka_unit_test(t_detach_limit),
		cmocka_unit_test(t_detach_scan),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
