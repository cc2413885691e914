/* filters: both JSON forms, key and value checks, the match rules and
 * Docker's timestamp forms. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "sockerless/err.h"
#include "sockerless/filters.h"
#include "sockerless/json.h"
#include "sockerless/str.h"

static const char *t_keys[] = { "id", "name", "label", "status", "until",
	"reference", "dangling", NULL };

#define NS 1000000000LL

static struct filters *
t_parse(const char *q)
{
	struct err e;
	struct filters *f;

	err_clear(&e);
	f = filters_parse(q, t_keys, &e);
	assert_non_null(f);
	return f;
}

static void
t_filters_empty(void **state)
{
	static const char *none[] = { NULL, "", "{}", "{\"label\":[]}",
		"{\"label\":{}}", NULL };
	const char *names[] = { "/x", NULL };
	struct filters *f;
	struct err e;
	int64_t until = 5;

	(void)state;
	for (int i = 0; i < 5; i++) {
		f = t_parse(none[i]);
		assert_false(filters_has(f, "label"));
		assert_int_equal(filters_match_labels(f, "label", NULL), 1);
		assert_int_equal(filters_match_exact(f, "status", NULL), 1);
		assert_int_equal(filters_match_glob(f, "reference", NULL), 1);
		assert_int_equal(filters_match_id_prefix(f, "id", "abc"), 1);
		assert_int_equal(filters_match_regex(f, "name", names, &e), 1);
		assert_int_equal(filters_until(f, &until, &e), 0);
		assert_true(until == 0);
		filters_free(f);
	}
	filters_free(NULL);
}

static void
t_filters_forms(void **state)
{
	struct filters *f;

	(void)state;
	f = t_parse("{\"status\":[\"running\",\"exited\"]}");
	assert_true(filters_has(f, "status"));
	assert_false(filters_has(f, "label"));
	assert_int_equal(filters_match_exact(f, "status", "running"), 1);
	assert_int_equal(filters_match_exact(f, "status", "exited"), 1);
	assert_int_equal(filters_match_exact(f, "status", "paused"), 0);
	assert_int_equal(filters_match_exact(f, "status", NULL), 0);
	filters_free(f);

	/* The legacy map form; false entries are not values. */
	f = t_parse("{\"status\":{\"running\":true,\"paused\":false},"
		    "\"dangling\":{\"true\":true}}");
	assert_int_equal(filters_match_exact(f, "status", "running"), 1);
	assert_int_equal(filters_match_exact(f, "status", "paused"), 0);
	assert_int_equal(filters_match_exact(f, "dangling", "true"), 1);
	filters_free(f);
}

static void
t_filters_errors(void **state)
{
	static const char *bad[] = { "{", "[\"a\"]", "\"x\"", "{\"label\":1}",
		"{\"label\":[1]}", "{\"label\":{\"a\":\"yes\"}}",
		"{\"label\":\"a\"}", "{} x", NULL };
	struct err e;

	(void)state;
	for (int i = 0; bad[i] != NULL; i++) {
		err_clear(&e);
		assert_null(filters_parse(bad[i], t_keys, &e));
		assert_int_equal(e.status, 400);
		assert_non_null(strstr(e.msg, "invalid filter"));
	}
	err_clear(&e);
	assert_null(
	    filters_parse("{\"label\":[\"a\"],\"nope\":[\"x\"]}", t_keys, &e));
	assert_int_equal(e.status, 400);
	assert_string_equal(e.msg, "invalid filter 'nope'");
	/* No allowed keys at all: every key is unknown. */
	assert_null(filters_parse("{\"label\":[\"a\"]}", NULL, &e));
}

static void
t_filters_check_values(void **state)
{
	const char *allowed[] = { "created", "running", "exited", NULL };
	struct filters *f;
	struct err e;

	(void)state;
	f = t_parse("{\"status\":[\"running\",\"exited\"]}");
	assert_int_equal(filters_check_values(f, "status", allowed, &e), 0);
	assert_int_equal(filters_check_values(f, "label", allowed, &e), 0);
	filters_free(f);
	f = t_parse("{\"status\":[\"running\",\"sleepy\"]}");
	assert_int_equal(filters_check_values(f, "status", allowed, &e), -1);
	assert_int_equal(e.status, 400);
	assert_string_equal(e.msg, "invalid filter 'status=sleepy'");
	filters_free(f);
}

static void
t_filters_labels(void **state)
{
	const char *doc = "{\"app\":\"web\",\"tier\":\"front\",\"empty\":\"\"}";
	struct err e;
	cJSON *labels = json_parse(doc, strlen(doc), &e);
	struct filters *f;

	(void)state;
	assert_non_null(labels);
	f = t_parse("{\"label\":[\"app\"]}");
	assert_int_equal(filters_match_labels(f, "label", labels), 1);
	assert_int_equal(filters_match_labels(f, "label", NULL), 0);
	filters_free(f);
	f = t_parse("{\"label\":[\"app=web\",\"tier\"]}");
	assert_int_equal(filters_match_labels(f, "label", labels), 1);
	filters_free(f);
	/* Every label filter must hold. */
	f = t_parse("{\"label\":[\"app=web\",\"tier=back\"]}");
	assert_int_equal(filters_match_labels(f, "label", labels), 0);
	filters_free(f);
	f = t_parse("{\"label\":[\"app=we\"]}");
	assert_int_equal(filters_match_labels(f, "label", labels), 0);
	filters_free(f);
	f = t_parse("{\"label\":[\"missing\"]}");
	assert_int_equal(filters_match_labels(f, "label", labels), 0);
	filters_free(f);
	f = t_parse("{\"label\":{\"empty=\":true}}");
	assert_int_equal(filters_match_labels(f, "label", labels), 1);
	filters_free(f);
	cJSON_Delete(labels);
}

static void
t_filters_ids_globs(void **state)
{
	struct filters *f;

	(void)state;
	f = t_parse("{\"id\":[\"abc\",\"f00\"],"
		    "\"reference\":[\"busybox*\",\"*/alpine:3*\"]}");
	assert_int_equal(filters_match_id_prefix(f, "id", "abcdef"), 1);
	assert_int_equal(filters_match_id_prefix(f, "id", "f00d"), 1);
	assert_int_equal(filters_match_id_prefix(f, "id", "0abc"), 0);
	assert_int_equal(filters_match_id_prefix(f, "id", NULL), 0);
	assert_int_equal(
	    filters_match_glob(f, "reference", "busybox:latest"), 1);
	assert_int_equal(
	    filters_match_glob(f, "reference", "library/alpine:3.19"), 1);
	assert_int_equal(filters_match_glob(f, "reference", "alpine:3.19"), 0);
	assert_int_equal(filters_match_glob(f, "reference", NULL), 0);
	filters_free(f);
}

static void
t_filters_regex(void **state)
{
	const char *names[] = { "/web-1", "alias", NULL };
	const char *bare[] = { "db", NULL };
	struct filters *f;
	struct err e;

	(void)state;
	f = t_parse("{\"name\":[\"^web\"]}");
	assert_int_equal(filters_match_regex(f, "name", names, &e), 1);
	assert_int_equal(filters_match_regex(f, "name", bare, &e), 0);
	filters_free(f);
	f = t_parse("{\"name\":[\"^/db$\"]}");
	assert_int_equal(filters_match_regex(f, "name", bare, &e), 1);
	filters_free(f);
	f = t_parse("{\"name\":[\"nomatch\",\"li.s\"]}");
	assert_int_equal(filters_match_regex(f, "name", names, &e), 1);
	assert_int_equal(filters_match_regex(f, "name", NULL, &e), 0);
	filters_free(f);
	f = t_parse("{\"name\":[\"web(\"]}");
	err_clear(&e);
	assert_int_equal(filters_match_regex(f, "name", names, &e), -1);
	assert_int_equal(e.status, 400);
	assert_non_null(strstr(e.msg, "invalid filter 'name=web('"));
	filters_free(f);
}

/* The regexes are compiled once per filter and reused for every
 * container a list matches; a bad one fails every time it is asked. */
static void
t_filters_regex_reuse(void **state)
{
	const char *web[] = { "/web-1", NULL };
	const char *db[] = { "/db", NULL };
	struct filters *f;
	struct err e;

	(void)state;
	f = t_parse("{\"name\":[\"^/web\",\"db$\"]}");
	for (int i = 0; i < 100; i++) {
		assert_int_equal(filters_match_regex(f, "name", web, &e), 1);
		assert_int_equal(filters_match_regex(f, "name", db, &e), 1);
	}
	filters_free(f);
	f = t_parse("{\"name\":[\"web\",\"x(\"]}");
	for (int i = 0; i < 2; i++) {
		err_clear(&e);
		assert_int_equal(filters_match_regex(f, "name", web, &e), -1);
		assert_int_equal(e.status, 400);
		assert_non_null(strstr(e.msg, "invalid filter 'name=x('"));
	}
	filters_free(f);
}

static void
t_filters_time(void **state)
{
	static const struct {
		const char *in;
		int64_t ns;
	} abs[] = { { "1700000000", 1700000000 * NS },
		{ "1700000000.5", 1700000000 * NS + NS / 2 },
		{ "1700000000.000000001", 1700000000 * NS + 1 }, { "0", 0 },
		{ "2024-01-02T03:04:05Z", 1704164645 * NS },
		{ "2024-01-02T03:04:05.25Z", 1704164645 * NS + NS / 4 },
		{ "2024-01-02T05:04:05+02:00", 1704164645 * NS },
		{ "2024-01-02T00:04:05.5-03:00", 1704164645 * NS + NS / 2 },
		{ "2024-01-02", 1704153600 * NS } };
	static const struct {
		const char *in;
		int64_t ago;
	} rel[] = { { "10m", 600 * NS }, { "1h30m", 5400 * NS },
		{ "2.5s", 2500000000LL }, { "2s", 2 * NS }, { "500ms", NS / 2 },
		{ "1h0m1s", 3601 * NS }, { "-1m", -60 * NS },
		{ "1.5h", 5400 * NS }, { "100us", 100000 }, { "7ns", 7 } };
	static const char *bad[] = { "", "yesterday", "10x", "1h30", "m",
		"2024-13-45", "1700000000.5x", ".s", "2024-01-02T03:04:05Q",
		NULL };
	int64_t ns, before, after;

	(void)state;
	for (size_t i = 0; i < sizeof(abs) / sizeof(abs[0]); i++) {
		assert_int_equal(filters_parse_time(abs[i].in, &ns), 0);
		assert_true(ns == abs[i].ns);
	}
	for (size_t i = 0; i < sizeof(rel) / sizeof(rel[0]); i++) {
		before = str_now_ns();
		assert_int_equal(filters_parse_time(rel[i].in, &ns), 0);
		after = str_now_ns();
		assert_true(ns >= before - rel[i].ago);
		assert_true(ns <= after - rel[i].ago);
	}
	for (int i = 0; bad[i] != NULL; i++)
		assert_int_equal(filters_parse_time(bad[i], &ns), -1);
	assert_int_equal(filters_parse_time(NULL, &ns), -1);
}

static void
t_filters_until(void **state)
{
	struct filters *f;
	struct err e;
	int64_t until;

	(void)state;
	f = t_parse("{\"until\":[\"1700000000\"]}");
	assert_int_equal(filters_until(f, &until, &e), 0);
	assert_true(until == 1700000000 * NS);
	filters_free(f);
	f = t_parse("{\"until\":[\"1h\"]}");
	assert_int_equal(filters_until(f, &until, &e), 0);
	assert_true(until < str_now_ns() - 3599 * NS);
	filters_free(f);
	f = t_parse("{\"until\":[\"soon\"]}");
	assert_int_equal(filters_until(f, &until, &e), -1);
	assert_int_equal(e.status, 400);
	assert_non_null(strstr(e.msg, "until=soon"));
	filters_free(f);
	f = t_parse("{\"until\":[\"1h\",\"2h\"]}");
	assert_int_equal(filters_until(f, &until, &e), -1);
	assert_int_equal(e.status, 400);
	filters_free(f);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(t_filters_empty),
		cmocka_unit_test(t_filters_forms),
		cmocka_unit_test(t_filters_errors),
		cmocka_unit_test(t_filters_check_values),
		cmocka_unit_test(t_filters_labels),
		cmocka_unit_test(t_filters_ids_globs),
		cmocka_unit_test(t_filters_regex),
		cmocka_unit_test(t_filters_regex_reuse),
		cmocka_unit_test(t_filters_time),
		cmocka_unit_test(t_filters_until),
	};

	json_init();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
