/* The kit's runs (common/backend/kit_runs.c), which Cloud Run jobs and
 * Container Apps jobs share, on the fake backend: a start a restart cut
 * short adopted by the execution it made (recorded, or found by listing
 * the job's executions), left created when none exists, kept for the next
 * start-up when the listing fails; jobs of this instance the state does
 * not know reported, and deleted with orphans "stop"; the execution gone
 * while it ran; started reported once; the env check; creates of one job
 * joined while it is made, and an existing job reused (kit_idle_get);
 * a new run forgets the previous run's agent hello and exit, and a start
 * whose run's agent called back before the cloud's answer is answered
 * when parked (kit_run_park). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "fake_backend.h"
#include "sockerless/backend_kit.h"
#include "sockerless/json.h"
#include "sockerless/str.h"
#include "sockerless/xmalloc.h"

#define IMG "docker.io/library/alpine:latest"

static struct {
	int lists, uses, deleted, described;
	char listed_job[64];
	char listed_id[65];
	int64_t since;
	const char *answer; /* the execution the listing finds */
	const char *fail;   /* or its error */
	char del_job[64];
} f;

static void
fake_use(cJSON *priv, const char *exec)
{
	f.uses++;
	kit_run_use(priv, exec);
}

static void
fake_list_runs(struct kit_runs_find *fd, const char *job)
{
	f.lists++;
	snprintf(f.listed_job, sizeof(f.listed_job), "%s", job);
	snprintf(f.listed_id, sizeof(f.listed_id), "%s", kit_runs_find_id(fd));
	f.since = kit_runs_find_since(fd);
	kit_runs_found(fd, f.answer, f.fail);
	kit_runs_find_free(fd);
}

static void
fake_del(struct kit_idle *i, const char *job)
{
	f.deleted++;
	snprintf(f.del_job, sizeof(f.del_job), "%s", job);
	kit_idle_deleted(i, job, 1);
}

static const char *
fake_poll_id(struct container *c)
{
	(void)c;
	return NULL;
}

static void
fake_describe(struct kit_poller *p, cJSON *ids)
{
	f.described++;
	cJSON_Delete(ids);
	kit_poller_batch_done(p, 0);
}

static struct kit_poller poller = { .batch = 1,
	.interval_ms = 3600000,
	.max_backoff_ms = 30000,
	.id = fake_poll_id,
	.describe = fake_describe };
static struct kit_idle idle = { .kv_job = "test.job.",
	.kv_idle = "test.job_idle",
	.p_job = "Job",
	.idle_s = 0,
	.del = fake_del };
static struct kit_orphans orphans = { .orphans = (char *)"report" };
static struct kit_runs runs = { .cloud = "Test Cloud",
	.poller = &poller,
	.idle = &idle,
	.orphans = &orphans,
	.use = fake_use,
	.list_runs = fake_list_runs };

static int
setup(void **state)
{
	struct fw *fw = fw_new();

	memset(&f, 0, sizeof(f));
	fw_add_image(fw, IMG, "sh");
	kit_poller_start(&poller, fw->b);
	kit_idle_resume(&idle, fw->b);
	orphans.orphans = (char *)"report";
	*state = fw;
	return 0;
}

static int
teardown(void **state)
{
	kit_poller_stop(&poller);
	kit_idle_free(&idle);
	fw_free(*state, 0);
	return 0;
}

/* A created container whose start was journalled at starting_ns on job. */
static char *
interrupted(struct fw *fw, int64_t starting_ns)
{
	char *id = fw_create(fw, NULL, IMG, NULL);
	struct container *c = fw_find(fw, id);

	json_set(container_private(c), "Job", cJSON_CreateString("sk-job1"));
	json_set(container_private(c), KIT_P_STARTING,
	    cJSON_CreateNumber((double)starting_ns));
	backend_container_save(fw->b, c);
	return id;
}

static const cJSON *
priv_of(struct fw *fw, const char *id)
{
	return container_private(fw_find(fw, id));
}

static void
test_found_by_listing_is_adopted(void **state)
{
	struct fw *fw = *state;
	int64_t at = str_now_ns();
	char *id = interrupted(fw, at);

	f.answer = "projects/p/executions/e1";
	kit_runs_intents(&runs, fw->b);
	assert_int_equal(f.lists, 1);
	assert_string_equal(f.listed_job, "sk-job1");
	assert_string_equal(f.listed_id, id);
	/* ns in a JSON number: a double's precision */
	assert_true(llabs(f.since - at) < 1000);
	assert_int_equal(f.uses, 1);
	assert_string_equal(fw_status(fw, id), "running");
	assert_string_equal(
	    json_str(priv_of(fw, id), KIT_P_EXEC), "projects/p/executions/e1");
	assert_int_equal(
	    cJSON_GetArraySize(json_arr(priv_of(fw, id), KIT_P_RUNS)), 1);
	assert_null(
	    cJSON_GetObjectItemCaseSensitive(priv_of(fw, id), KIT_P_STARTING));
	/* Resolved: the next start-up does not look again. */
	kit_runs_intents(&runs, fw->b);
	assert_int_equal(f.lists, 1);
	free(id);
}

static void
test_recorded_run_is_adopted_without_listing(void **state)
{
	struct fw *fw = *state;
	char *id = interrupted(fw, str_now_ns() - 1000);

	/* The answer was recorded before the restart (after the journal). */
	kit_run_use(container_private(fw_find(fw, id)), "ex/recorded");
	kit_runs_intents(&runs, fw->b);
	assert_int_equal(f.lists, 0);
	assert_int_equal(f.uses, 0);
	assert_string_equal(fw_status(fw, id), "running");
	assert_string_equal(
	    json_str(priv_of(fw, id), KIT_P_EXEC), "ex/recorded");
	free(id);
}

static void
test_none_found_stays_created(void **state)
{
	struct fw *fw = *state;
	char *id = interrupted(fw, str_now_ns());

	kit_runs_intents(&runs, fw->b);
	assert_int_equal(f.lists, 1);
	assert_string_equal(fw_status(fw, id), "created");
	assert_null(
	    cJSON_GetObjectItemCaseSensitive(priv_of(fw, id), KIT_P_STARTING));
	free(id);
}

static void
test_failed_listing_keeps_the_intent(void **state)
{
	struct fw *fw = *state;
	char *id = interrupted(fw, str_now_ns());

	f.fail = "The service is currently unavailable.";
	kit_runs_intents(&runs, fw->b);
	assert_string_equal(fw_status(fw, id), "created");
	assert_non_null(
	    cJSON_GetObjectItemCaseSensitive(priv_of(fw, id), KIT_P_STARTING));
	f.fail = NULL;
	f.answer = "ex/later";
	kit_runs_intents(&runs, fw->b);
	assert_int_equal(f.lists, 2);
	assert_string_equal(fw_status(fw, id), "running");
	free(id);
}

static void
test_orphans_reported_or_deleted(void **state)
{
	struct fw *fw = *state;
	char *id = interrupted(fw, str_now_ns());

	/* A job a container names is known; another is only reported... */
	kit_runs_orphan(&runs, "sk-job1");
	kit_runs_orphan(&runs, "sk-stray");
	assert_int_equal(f.deleted, 0);
	/* ... unless orphans is "stop" (idle_s 0: at once). */
	orphans.orphans = (char *)"stop";
	kit_runs_orphan(&runs, "sk-job1");
	assert_int_equal(f.deleted, 0);
	kit_runs_orphan(&runs, "sk-stray");
	assert_int_equal(f.deleted, 1);
	assert_string_equal(f.del_job, "sk-stray");
	free(id);
}

static void
test_missing_execution_ends_the_container(void **state)
{
	struct fw *fw = *state;
	char *id = interrupted(fw, str_now_ns());
	cJSON *o;

	f.answer = "ex/gone";
	kit_runs_intents(&runs, fw->b);
	assert_string_equal(fw_status(fw, id), "running");
	kit_run_missing(&runs, fw->b, "ex/other"); /* not ours */
	assert_string_equal(fw_status(fw, id), "running");
	kit_run_missing(&runs, fw->b, "ex/gone");
	assert_string_equal(fw_status(fw, id), "exited");
	o = fw_inspect(fw, id);
	assert_int_equal(json_int(json_obj(o, "State"), "ExitCode", -1), 255);
	assert_non_null(strstr(json_str(json_obj(o, "State"), "Error"),
	    "no longer knows the execution"));
	cJSON_Delete(o);
	free(id);
}

static void
test_started_once(void **state)
{
	struct fw *fw = *state;
	char *id = interrupted(fw, str_now_ns());
	struct container *c;

	f.answer = "ex/s";
	kit_runs_intents(&runs, fw->b);
	c = fw_find(fw, id);
	kit_run_started(fw->b, c, 1000);
	assert_true(json_bool(container_private(c), KIT_P_STARTED, 0));
	/* A second report changes nothing; a new run clears the mark. */
	kit_run_started(fw->b, c, 2000);
	kit_run_use(container_private(c), "ex/t");
	assert_false(json_bool(container_private(c), KIT_P_STARTED, 0));
	free(id);
}

static void
test_env_is(void **state)
{
	cJSON *env = cJSON_Parse(
	    "[{\"name\":\"A\",\"value\":\"abc\"},"
	    "{\"name\":\"SOCKERLESS_CONTAINER_ID\",\"value\":\"abc\"},"
	    "{\"name\":\"SOCKERLESS_CONTAINER_ID\"}]");

	(void)state;
	assert_true(kit_run_env_is(env, "abc"));
	assert_false(kit_run_env_is(env, "abd"));
	assert_false(kit_run_env_is(NULL, "abc"));
	cJSON_Delete(env);
}

static struct {
	int n, failed;
	char msg[sizeof(((struct err *)0)->msg)];
} made;

static void
made_done(void *arg, const struct err *e)
{
	(void)arg;
	made.n++;
	if (e != NULL) {
		made.failed++;
		snprintf(made.msg, sizeof(made.msg), "%s", e->msg);
	}
}

static struct kit_op *
make_op(struct fw *fw, const char *id)
{
	return kit_op_new(
	    sizeof(struct kit_op), fw->b, fw_find(fw, id), made_done, NULL);
}

static void
test_creates_of_one_job_are_joined_then_reused(void **state)
{
	struct fw *fw = *state;
	char *a = fw_create(fw, NULL, IMG, NULL);
	char *b = fw_create(fw, NULL, IMG, NULL);
	char *c = fw_create(fw, NULL, IMG, NULL);
	struct kit_make *m;

	memset(&made, 0, sizeof(made));
	m = kit_idle_get(&idle, "sk-j", make_op(fw, a));
	assert_non_null(m);
	assert_string_equal(kit_make_job(m), "sk-j");
	/* the same job while it is made: joined, not made twice */
	assert_null(kit_idle_get(&idle, "sk-j", make_op(fw, b)));
	assert_int_equal(made.n, 0);
	kit_make_end(m, NULL);
	assert_int_equal(made.n, 2);
	assert_int_equal(made.failed, 0);
	assert_string_equal(json_str(priv_of(fw, a), "Job"), "sk-j");
	assert_string_equal(json_str(priv_of(fw, b), "Job"), "sk-j");
	assert_true(kit_idle_exists(&idle, "sk-j"));
	/* made: the next create reuses it at once */
	assert_null(kit_idle_get(&idle, "sk-j", make_op(fw, c)));
	assert_int_equal(made.n, 3);
	assert_string_equal(json_str(priv_of(fw, c), "Job"), "sk-j");
	free(a);
	free(b);
	free(c);
}

static void
test_a_failed_create_fails_every_joined_one(void **state)
{
	struct fw *fw = *state;
	char *a = fw_create(fw, NULL, IMG, NULL);
	char *b = fw_create(fw, NULL, IMG, NULL);
	struct kit_make *m;
	struct kit_op *op;
	struct err e;

	memset(&made, 0, sizeof(made));
	m = kit_idle_get(&idle, "sk-k", make_op(fw, a));
	assert_null(kit_idle_get(&idle, "sk-k", make_op(fw, b)));
	err_set(&e, 500, "quota exceeded");
	kit_make_end(m, &e);
	assert_int_equal(made.n, 2);
	assert_int_equal(made.failed, 2);
	assert_string_equal(made.msg, "quota exceeded");
	assert_null(json_str(priv_of(fw, a), "Job"));
	assert_null(json_str(priv_of(fw, b), "Job"));
	assert_false(kit_idle_exists(&idle, "sk-k"));
	/* a create in flight at shutdown is freed by kit_idle_free (the
	 * teardown's): its op is the framework's to end */
	op = make_op(fw, a);
	assert_non_null(kit_idle_get(&idle, "sk-k", op));
	kit_op_end(op, NULL);
	free(a);
	free(b);
}

static void
test_new_run_forgets_hello_and_exit(void **state)
{
	struct fw *fw = *state;
	char *id = fw_create(fw, NULL, IMG, NULL);
	struct container *c = fw_find(fw, id);
	struct err e;

	json_set(
	    container_private(c), BACKEND_P_AGENT_HELLO, cJSON_CreateTrue());
	json_set(
	    container_private(c), BACKEND_P_AGENT_EXIT, cJSON_CreateObject());
	cJSON_Delete(backend_agent_run_env(fw->b, c, &e));
	assert_false(json_bool(priv_of(fw, id), BACKEND_P_AGENT_HELLO, 0));
	assert_null(json_obj(priv_of(fw, id), BACKEND_P_AGENT_EXIT));
	free(id);
}

static void
test_park_answers_after_an_early_hello(void **state)
{
	struct fw *fw = *state;
	char *id = fw_create(fw, NULL, IMG, NULL);
	struct container *c = fw_find(fw, id);

	memset(&made, 0, sizeof(made));
	/* no hello yet: parked until the hello (or the poller) */
	kit_run_park(make_op(fw, id), &poller);
	assert_true(kit_start_pending(c));
	kit_start_hello(fw->b, c);
	assert_false(kit_start_pending(c));
	assert_int_equal(made.n, 1);
	/* the hello came before the cloud's answer: answered at once */
	json_set(
	    container_private(c), BACKEND_P_AGENT_HELLO, cJSON_CreateTrue());
	kit_run_park(make_op(fw, id), &poller);
	assert_false(kit_start_pending(c));
	assert_int_equal(made.n, 2);
	assert_int_equal(made.failed, 0);
	free(id);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(
		    test_found_by_listing_is_adopted, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_recorded_run_is_adopted_without_listing, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(
		    test_none_found_stays_created, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_failed_listing_keeps_the_intent, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_orphans_reported_or_deleted, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_missing_execution_ends_the_container, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_started_once, setup, teardown),
		cmocka_unit_test(test_env_is),
		cmocka_unit_test_setup_teardown(
		    test_creates_of_one_job_are_joined_then_reused, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(
		    test_a_failed_create_fails_every_joined_one, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(
		    test_new_run_forgets_hello_and_exit, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_park_answers_after_an_early_hello, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
