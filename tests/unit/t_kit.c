/* The backend kit's pure parts (sockerless/backend_kit.h) and the AWS key
 * fragment: env splitting, rounding, key tables, the poller's back-off,
 * log cursors and marks, start-failure codes, kept output lines. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "sockerless/aws_backend.h"
#include "sockerless/backend_kit.h"
#include "sockerless/json.h"

static int
t_env_collect(void *arg, const char *name, const char *value)
{
	cJSON *o = arg;

	if (strcmp(name, "STOP") == 0)
		return -1;
	json_set(o, name, cJSON_CreateString(value));
	return 0;
}

static void
t_env_each(void **state)
{
	cJSON *kvs = cJSON_Parse("[\"A=1\", \"B==x=\", \"NOEQ\", 7, \"C=\", "
				 "\"=v\"]");
	cJSON *o = cJSON_CreateObject();

	(void)state;
	assert_int_equal(kit_env_each(kvs, t_env_collect, o), 0);
	assert_string_equal(json_str(o, "A"), "1");
	/* Split at the first '=': the value keeps the others. */
	assert_string_equal(json_str(o, "B"), "=x=");
	assert_string_equal(json_str(o, "C"), "");
	assert_string_equal(json_str(o, ""), "v");
	assert_null(json_str(o, "NOEQ"));
	assert_int_equal(cJSON_GetArraySize(o), 4);
	cJSON_Delete(kvs);
	cJSON_Delete(o);
	/* fn's -1 stops the walk and is returned. */
	kvs = cJSON_Parse("[\"A=1\", \"STOP=1\", \"Z=1\"]");
	o = cJSON_CreateObject();
	assert_int_equal(kit_env_each(kvs, t_env_collect, o), -1);
	assert_null(json_str(o, "Z"));
	assert_int_equal(kit_env_each(NULL, t_env_collect, o), 0);
	cJSON_Delete(kvs);
	cJSON_Delete(o);
}

static void
t_rounding(void **state)
{
	(void)state;
	assert_int_equal(kit_mib_ceil(1), 1);
	assert_int_equal(kit_mib_ceil(1048576), 1);
	assert_int_equal(kit_mib_ceil(1048577), 2);
	assert_int_equal(kit_mib_ceil(512LL * 1048576), 512);
	/* 1024 units a CPU, rounded up. */
	assert_int_equal(kit_cpu_units(1000000000), 1024);
	assert_int_equal(kit_cpu_units(250000000), 256);
	assert_int_equal(kit_cpu_units(1), 1);
	assert_int_equal(kit_cpu_units(1500000000), 1536);
	assert_int_equal(kit_clamp(1, 2, 120), 2);
	assert_int_equal(kit_clamp(500, 2, 120), 120);
	assert_int_equal(kit_clamp(10, 2, 120), 10);
}

static void
t_backoff(void **state)
{
	(void)state;
	/* A good tick: no back-off. */
	assert_int_equal(kit_backoff_next(8000, 1000, 30000, 0), 0);
	/* Failing ticks: twice the interval, then doubling, capped. */
	assert_int_equal(kit_backoff_next(0, 1000, 30000, 1), 2000);
	assert_int_equal(kit_backoff_next(2000, 1000, 30000, 1), 4000);
	assert_int_equal(kit_backoff_next(16000, 1000, 30000, 1), 30000);
	assert_int_equal(kit_backoff_next(30000, 1000, 30000, 1), 30000);
	assert_int_equal(kit_backoff_next(0, 20000, 30000, 1), 30000);
}

/* A tick of two batches: one failure backs the next tick off; a kick
 * waits for the back-off to end. (No timer: nothing is scheduled.) */
static void
t_poller_ticks(void **state)
{
	struct kit_poller p;

	(void)state;
	memset(&p, 0, sizeof(p));
	p.interval_ms = 1000;
	p.max_backoff_ms = 30000;
	p.inflight = 1;
	p.pending = 2;
	kit_poller_batch_done(&p, 1);
	assert_int_equal(p.inflight, 1);
	kit_poller_batch_done(&p, 0);
	assert_int_equal(p.inflight, 0);
	assert_int_equal(p.backoff_ms, 2000);
	kit_poller_kick(&p);
	p.inflight = 1;
	p.errors = 0;
	p.pending = 1;
	kit_poller_batch_done(&p, 1);
	assert_int_equal(p.backoff_ms, 4000);
	p.errors = 0;
	p.pending = 1;
	kit_poller_batch_done(&p, 0);
	assert_int_equal(p.backoff_ms, 0);
	kit_poller_stop(&p);
}

/* A fragment gets the backend's prefix and loads like any key table. */
static void
t_key_tables(void **state)
{
	struct aws_backend ab;
	struct kit_orphans ko;
	struct config_key *k1 =
	    kit_conf_prefix(aws_backend_keys, AWS_BACKEND_NKEYS, "ecs");
	struct config_key *k2 =
	    kit_conf_prefix(kit_orphans_keys, KIT_ORPHANS_NKEYS, "ecs");
	struct config_set sets[2] = { { k1, AWS_BACKEND_NKEYS, &ab },
		{ k2, KIT_ORPHANS_NKEYS, &ko } };
	char *argv[] = { (char *)"prog", (char *)"--ecs.region=eu-west-1",
		(char *)"--ecs.endpoint=http://127.0.0.1:1",
		(char *)"--ecs.orphans=stop", NULL };
	struct err e;

	(void)state;
	assert_string_equal(k1[0].name, "ecs.region");
	assert_int_equal(k1[0].required, 1);
	assert_string_equal(k2[0].name, "ecs.orphans");
	/* The originals keep their bare names. */
	assert_string_equal(aws_backend_keys[0].name, "region");
	memset(&ab, 0, sizeof(ab));
	memset(&ko, 0, sizeof(ko));
	assert_int_equal(config_load(sets, 2, "TKIT", 4, argv, "prog", &e), 0);
	assert_string_equal(ab.region, "eu-west-1");
	assert_string_equal(ab.endpoint, "http://127.0.0.1:1");
	assert_null(ab.profile);
	assert_true(kit_orphans_stop(&ko));
	config_free(k1, AWS_BACKEND_NKEYS, &ab);
	config_free(k2, KIT_ORPHANS_NKEYS, &ko);
	/* The default is to report. */
	memset(&ko, 0, sizeof(ko));
	assert_int_equal(
	    config_load(&sets[1], 1, "TKIT", 1, argv, "prog", &e), 0);
	assert_string_equal(ko.orphans, "report");
	assert_false(kit_orphans_stop(&ko));
	config_free(k2, KIT_ORPHANS_NKEYS, &ko);
	/* The fragment's required key is required under its prefix. */
	memset(&ab, 0, sizeof(ab));
	assert_int_equal(
	    config_load(&sets[0], 1, "TKIT", 1, argv, "prog", &e), -1);
	assert_non_null(strstr(e.msg, "ecs.region"));
	config_free(k1, AWS_BACKEND_NKEYS, &ab);
	kit_conf_unprefix(k1, AWS_BACKEND_NKEYS);
	kit_conf_unprefix(k2, KIT_ORPHANS_NKEYS);
}

static void
t_cursor_run(void **state)
{
	const char *c;

	(void)state;
	c = "1|tok";
	assert_int_equal(kit_cursor_run(c, strchr(c, '|'), 3), 1);
	c = "2|";
	assert_int_equal(kit_cursor_run(c, strchr(c, '|'), 3), 2);
	c = "3|x";
	assert_int_equal(kit_cursor_run(c, strchr(c, '|'), 3), -1);
	c = "0|x";
	assert_int_equal(kit_cursor_run(c, strchr(c, '|'), 0), 0);
	c = "|x";
	assert_int_equal(kit_cursor_run(c, strchr(c, '|'), 3), -1);
	c = "-1|x";
	assert_int_equal(kit_cursor_run(c, strchr(c, '|'), 3), -1);
	c = "99999999999999|x";
	assert_int_equal(kit_cursor_run(c, strchr(c, '|'), 3), -1);
}

static void
t_start_failure(void **state)
{
	struct err e;

	(void)state;
	assert_int_equal(kit_start_failure_code(NULL), 125);
	assert_int_equal(
	    kit_start_failure_code("CannotPullContainerError"), 125);
	assert_int_equal(kit_start_failure_code("exec: \"x\": executable file "
						"not found in $PATH"),
	    127);
	assert_int_equal(
	    kit_start_failure_code("open /x: no such file or directory"), 127);
	assert_int_equal(kit_start_failure_code("permission denied"), 126);
	kit_start_failed(&e, "failed to start", "permission denied");
	assert_int_equal(e.status, 400);
	assert_string_equal(e.msg, "failed to start: permission denied");
	kit_start_failed(&e, "failed to start", "pull failed");
	assert_int_equal(e.status, 500);
}

static void
t_unmark(void **state)
{
	struct backend_log_event ev;

	(void)state;
	memset(&ev, 0, sizeof(ev));
	ev.stream = STDSTREAM_STDOUT;
	ev.msg = "stderr| oops";
	ev.len = strlen(ev.msg);
	kit_logs_unmark(&ev);
	assert_int_equal(ev.stream, STDSTREAM_STDERR);
	assert_int_equal(ev.len, 4);
	assert_memory_equal(ev.msg, "oops", 4);
	ev.stream = STDSTREAM_STDOUT;
	ev.msg = "stdout| stderr| x";
	ev.len = strlen(ev.msg);
	kit_logs_unmark(&ev);
	assert_int_equal(ev.stream, STDSTREAM_STDOUT);
	assert_string_equal(ev.msg, "stderr| x");
	ev.msg = "plain";
	ev.len = 5;
	kit_logs_unmark(&ev);
	assert_string_equal(ev.msg, "plain");
	ev.msg = "stderr|";
	ev.len = 7;
	kit_logs_unmark(&ev);
	assert_string_equal(ev.msg, "stderr|");
	assert_int_equal(ev.partial, 0);
	/* A piece without its newline. */
	ev.stream = STDSTREAM_STDOUT;
	ev.msg = "stderr+ tail";
	ev.len = strlen(ev.msg);
	kit_logs_unmark(&ev);
	assert_int_equal(ev.stream, STDSTREAM_STDERR);
	assert_int_equal(ev.partial, 1);
	assert_string_equal(ev.msg, "tail");
	ev.stream = STDSTREAM_STDOUT;
	ev.partial = 0;
	ev.msg = "stdout+ ";
	ev.len = 8;
	kit_logs_unmark(&ev);
	assert_int_equal(ev.stream, STDSTREAM_STDOUT);
	assert_int_equal(ev.partial, 1);
	assert_int_equal(ev.len, 0);
	ev.partial = 0;
	ev.msg = "stdout* x";
	ev.len = 9;
	kit_logs_unmark(&ev);
	assert_string_equal(ev.msg, "stdout* x");
	assert_int_equal(ev.partial, 0);
}

/* A TTY's lines: "\r" ends a line (it stays, the reader adds "\n"); a piece
 * without it is the output's end or a split line. */
static void
t_logs_tty(void **state)
{
	struct backend_log_event ev;

	(void)state;
	memset(&ev, 0, sizeof(ev));
	ev.msg = "x\r";
	ev.len = 2;
	kit_logs_tty(&ev);
	assert_int_equal(ev.partial, 0);
	assert_int_equal(ev.len, 2);
	ev.msg = "abc";
	ev.len = 3;
	kit_logs_tty(&ev);
	assert_int_equal(ev.partial, 1);
	ev.msg = "\r";
	ev.len = 1;
	kit_logs_tty(&ev);
	assert_int_equal(ev.partial, 0);
	ev.msg = "";
	ev.len = 0;
	kit_logs_tty(&ev);
	assert_int_equal(ev.partial, 1);
	ev.msg = "a\rb";
	ev.len = 3;
	kit_logs_tty(&ev);
	assert_int_equal(ev.partial, 1);
}

static void
t_hash(void **state)
{
	char h[25], h2[41];

	(void)state;
	/* SHA-256("abc"). */
	kit_hash("abc", h, 24);
	assert_string_equal(h, "ba7816bf8f01cfea414140de");
	kit_hash("abc", h2, 40);
	assert_string_equal(h2, "ba7816bf8f01cfea414140de5dae2223b00361a3");
}

static void
t_lines(void **state)
{
	struct kit_lines l;
	const cJSON *row;

	(void)state;
	kit_lines_init(&l);
	kit_lines_add(&l, 1, 10, "a\nb", 3);
	kit_lines_add(&l, 2, 11, "err", 3);
	kit_lines_add(&l, 1, 12, "c\n\n", 3);
	kit_lines_flush(&l);
	kit_lines_note(&l, "note %d", 7);
	assert_int_equal(cJSON_GetArraySize(l.out), 5);
	row = cJSON_GetArrayItem(l.out, 0);
	assert_int_equal(cJSON_GetArrayItem(row, 0)->valueint, 1);
	assert_string_equal(cJSON_GetArrayItem(row, 2)->valuestring, "a");
	/* A line keeps the time of its first chunk. */
	row = cJSON_GetArrayItem(l.out, 1);
	assert_string_equal(cJSON_GetArrayItem(row, 2)->valuestring, "bc");
	assert_int_equal(cJSON_GetArrayItem(row, 1)->valueint, 10);
	row = cJSON_GetArrayItem(l.out, 2);
	assert_string_equal(cJSON_GetArrayItem(row, 2)->valuestring, "");
	assert_null(cJSON_GetArrayItem(row, 3));
	/* Output that ended without a newline says so. */
	row = cJSON_GetArrayItem(l.out, 3);
	assert_int_equal(cJSON_GetArrayItem(row, 0)->valueint, 2);
	assert_string_equal(cJSON_GetArrayItem(row, 2)->valuestring, "err");
	assert_int_equal(cJSON_GetArrayItem(row, 3)->valueint, 1);
	row = cJSON_GetArrayItem(l.out, 4);
	assert_int_equal(cJSON_GetArrayItem(row, 0)->valueint, 2);
	assert_string_equal(cJSON_GetArrayItem(row, 2)->valuestring, "note 7");
	cJSON_Delete(l.out);
	for (int i = 1; i <= 2; i++)
		buf_free(&l.part[i]);
}

static void
t_aws_tags(void **state)
{
	cJSON *labels = cJSON_Parse("{\"a\":\"1\",\"aws:x\":\"2\",\"\":\"3\","
				    "\"b\":\"4\",\"c\":\"5\"}");
	cJSON *tags = aws_tags_from_labels(labels, 2);

	(void)state;
	/* "aws:" and empty keys are refused; at most max. */
	assert_int_equal(cJSON_GetArraySize(tags), 2);
	assert_string_equal(aws_tag_get(tags, "a"), "1");
	assert_string_equal(aws_tag_get(tags, "b"), "4");
	assert_null(aws_tag_get(tags, "c"));
	assert_null(aws_tag_get(NULL, "a"));
	cJSON_Delete(labels);
	cJSON_Delete(tags);
}

/* Memory sizing and the fixed-sandbox refusals the FaaS and Cloud Run
 * backends share. */
static void
t_memory_sandbox(void **state)
{
	cJSON *hc = cJSON_Parse("{}");
	long long mib = 0;
	struct err e;

	(void)state;
	assert_int_equal(kit_memory_mib(hc, 512, 128, 1024, "F", &mib, &e), 0);
	assert_int_equal(mib, 512);
	cJSON_AddNumberToObject(hc, "Memory", 1);
	assert_int_equal(kit_memory_mib(hc, 512, 128, 1024, "F", &mib, &e), 0);
	assert_int_equal(mib, 128);
	cJSON_ReplaceItemInObject(
	    hc, "Memory", cJSON_CreateNumber(2048.0 * 1048576 + 1));
	assert_int_equal(
	    kit_memory_mib(hc, 512, 128, 1024, "F things", &mib, &e), -1);
	assert_int_equal(e.status, 400);
	assert_string_equal(e.msg,
	    "F things have at most 1024 MiB of memory; 2049 MiB was asked "
	    "for");
	assert_int_equal(kit_fixed_sandbox(hc, "x", "X runs", &e), 0);
	cJSON_AddItemToObject(hc, "Ulimits", cJSON_Parse("[{}]"));
	assert_int_equal(kit_fixed_sandbox(hc, "x", "X runs", &e), -1);
	assert_int_equal(e.status, 400);
	assert_string_equal(e.msg,
	    "resource limits (--ulimit) cannot be honoured by the x backend: "
	    "X runs whose resource limits cannot be changed. Run the "
	    "container without --ulimit.");
	cJSON_Delete(hc);
}

/* The runs of a container: each use is a new run and the current one;
 * logs start from the last run created before a time. */
static void
t_runs(void **state)
{
	cJSON *priv = cJSON_CreateObject();
	const cJSON *runs;
	int64_t at;

	(void)state;
	json_set(priv, KIT_P_STARTED, cJSON_CreateTrue());
	kit_run_use(priv, "exec-1");
	assert_string_equal(json_str(priv, KIT_P_EXEC), "exec-1");
	assert_null(cJSON_GetObjectItemCaseSensitive(priv, KIT_P_STARTED));
	kit_run_use(priv, "exec-2");
	runs = json_arr(priv, KIT_P_RUNS);
	assert_int_equal(cJSON_GetArraySize(runs), 2);
	assert_string_equal(
	    json_str(cJSON_GetArrayItem(runs, 1), KIT_P_RUN_NAME), "exec-2");
	assert_string_equal(json_str(priv, KIT_P_EXEC), "exec-2");
	at = json_int(cJSON_GetArrayItem(runs, 1), KIT_P_RUN_AT, 0);
	assert_true(at > 0);
	assert_int_equal(kit_run_first(runs, 0), 0);
	assert_int_equal(kit_run_first(runs, at), 1);
	assert_int_equal(kit_run_first(runs, at + 1), 1);
	assert_int_equal(kit_run_first(NULL, at), 0);
	cJSON_Delete(priv);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(t_env_each),
		cmocka_unit_test(t_rounding),
		cmocka_unit_test(t_backoff),
		cmocka_unit_test(t_poller_ticks),
		cmocka_unit_test(t_key_tables),
		cmocka_unit_test(t_cursor_run),
		cmocka_unit_test(t_start_failure),
		cmocka_unit_test(t_unmark),
		cmocka_unit_test(t_logs_tty),
		cmocka_unit_test(t_hash),
		cmocka_unit_test(t_lines),
		cmocka_unit_test(t_aws_tags),
		cmocka_unit_test(t_memory_sandbox),
		cmocka_unit_test(t_runs),
	};

	json_init();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
