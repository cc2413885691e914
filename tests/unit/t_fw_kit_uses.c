/* The kit's use counts (common/backend/kit_uses.c), which ECS's task
 * definitions and the shared jobs of Cloud Run and Container Apps
 * (kit_idle) keep, on the fake backend: counted from the containers at
 * the first question, kept by set and release after it, a container
 * moved to another value, a value set twice, counted again from the
 * loaded containers after a restart, a release the counts did not
 * expect; and through kit_idle: a failed create names no job, and a job
 * waits out idle_s only when its last container goes. */
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
#include "sockerless/xmalloc.h"

#define IMG "docker.io/library/alpine:latest"

static struct kit_uses uses = { .p_key = "Def" };

static int
setup(void **state)
{
	struct fw *fw = fw_new();

	fw_add_image(fw, IMG, "sh");
	*state = fw;
	return 0;
}

static int
teardown(void **state)
{
	kit_uses_free(&uses);
	fw_free(*state, 0);
	return 0;
}

static struct container *
ctr(struct fw *fw)
{
	char *id = fw_create(fw, NULL, IMG, NULL);
	struct container *c = fw_find(fw, id);

	free(id);
	return c;
}

static void
test_counted_then_kept(void **state)
{
	struct fw *fw = *state;
	struct container *a = ctr(fw), *b = ctr(fw), *c = ctr(fw);

	/* before the first question: written, counted later */
	kit_uses_set(&uses, a, "d1");
	kit_uses_set(&uses, b, "d1");
	assert_string_equal(json_str(container_private(a), "Def"), "d1");
	assert_int_equal(kit_uses_count_of(&uses, fw->b, "d1"), 2);
	assert_false(kit_uses_used(&uses, fw->b, "d2"));
	/* after it: kept */
	kit_uses_set(&uses, c, "d2");
	assert_int_equal(kit_uses_count_of(&uses, fw->b, "d2"), 1);
	kit_uses_release(&uses, fw->b, a);
	assert_int_equal(kit_uses_count_of(&uses, fw->b, "d1"), 1);
	kit_uses_release(&uses, fw->b, b);
	assert_false(kit_uses_used(&uses, fw->b, "d1"));
	assert_true(kit_uses_used(&uses, fw->b, "d2"));
}

static void
test_moved_and_set_twice(void **state)
{
	struct fw *fw = *state;
	struct container *a = ctr(fw), *b = ctr(fw), *c = ctr(fw);

	kit_uses_set(&uses, a, "d1");
	kit_uses_set(&uses, b, "d1");
	assert_int_equal(kit_uses_count_of(&uses, fw->b, "d1"), 2);
	/* the same value again counts once */
	kit_uses_set(&uses, a, "d1");
	assert_int_equal(kit_uses_count_of(&uses, fw->b, "d1"), 2);
	/* a container that takes another value leaves the first */
	kit_uses_set(&uses, b, "d3");
	assert_int_equal(kit_uses_count_of(&uses, fw->b, "d1"), 1);
	assert_int_equal(kit_uses_count_of(&uses, fw->b, "d3"), 1);
	assert_string_equal(json_str(container_private(b), "Def"), "d3");
	/* a container that names nothing releases nothing */
	kit_uses_release(&uses, fw->b, c);
	assert_int_equal(kit_uses_count_of(&uses, fw->b, "d1"), 1);
	kit_uses_release(&uses, fw->b, b);
	assert_false(kit_uses_used(&uses, fw->b, "d3"));
	assert_true(kit_uses_used(&uses, fw->b, "d1"));
}

static void
test_counted_again_after_a_restart(void **state)
{
	struct fw *fw = *state;
	struct container *a = ctr(fw), *b = ctr(fw), *c = ctr(fw);
	char ida[65];

	kit_uses_set(&uses, a, "d1");
	kit_uses_set(&uses, b, "d1");
	kit_uses_set(&uses, c, "d2");
	assert_int_equal(kit_uses_count_of(&uses, fw->b, "d1"), 2);
	backend_container_save(fw->b, a);
	backend_container_save(fw->b, b);
	backend_container_save(fw->b, c);
	snprintf(ida, sizeof(ida), "%s", a->id);
	/* the backend's shutdown forgets; the next process counts the
	 * containers it loaded */
	kit_uses_free(&uses);
	fw_free(fw, 1);
	*state = fw = fw_reopen(fw);
	assert_int_equal(kit_uses_count_of(&uses, fw->b, "d1"), 2);
	assert_int_equal(kit_uses_count_of(&uses, fw->b, "d2"), 1);
	kit_uses_release(&uses, fw->b, fw_find(fw, ida));
	assert_int_equal(kit_uses_count_of(&uses, fw->b, "d1"), 1);
}

static void
test_unexpected_release_counts_again(void **state)
{
	struct fw *fw = *state;
	struct container *a = ctr(fw), *b = ctr(fw);

	kit_uses_set(&uses, a, "d1");
	assert_int_equal(kit_uses_count_of(&uses, fw->b, "d1"), 1);
	/* written behind the counts' back (never done by the backends) */
	json_set(container_private(b), "Def", cJSON_CreateString("d9"));
	kit_uses_release(&uses, fw->b, b);
	/* the counts start over from the containers */
	assert_int_equal(kit_uses_count_of(&uses, fw->b, "d1"), 1);
	assert_int_equal(kit_uses_count_of(&uses, fw->b, "d9"), 1);
}

/* --- through kit_idle ----------------------------------------------------- */

static int deleted;

static void
fake_del(struct kit_idle *i, const char *job)
{
	deleted++;
	kit_idle_deleted(i, job, 1);
}

static struct kit_idle idle = { .kv_job = "test.job.",
	.kv_idle = "test.job_idle",
	.p_job = "Job",
	.idle_s = 0,
	.del = fake_del };

static void
made_done(void *arg, const struct err *e)
{
	(void)arg;
	(void)e;
}

static struct kit_op *
make_op(struct fw *fw, struct container *c)
{
	return kit_op_new(sizeof(struct kit_op), fw->b, c, made_done, NULL);
}

static void
test_idle_jobs_counted(void **state)
{
	struct fw *fw = *state;
	struct container *a = ctr(fw), *b = ctr(fw), *c = ctr(fw);
	struct kit_make *m;
	struct err e;

	deleted = 0;
	kit_idle_resume(&idle, fw->b);
	/* a failed create names no job */
	m = kit_idle_get(&idle, "sk-1", make_op(fw, c));
	assert_non_null(m);
	err_set(&e, 500, "quota exceeded");
	kit_make_end(m, &e);
	assert_false(kit_idle_used(&idle, "sk-1"));
	/* two containers on one job: made once, then reused */
	m = kit_idle_get(&idle, "sk-1", make_op(fw, a));
	kit_make_end(m, NULL);
	assert_null(kit_idle_get(&idle, "sk-1", make_op(fw, b)));
	assert_true(kit_idle_used(&idle, "sk-1"));
	assert_int_equal(kit_uses_count_of(&idle.uses, fw->b, "sk-1"), 2);
	/* the first goes: the job stays; the last: it waits out idle_s (0:
	 * deleted at once) */
	kit_idle_release(&idle, fw->b, a);
	assert_int_equal(deleted, 0);
	assert_true(kit_idle_known(&idle, "sk-1"));
	kit_idle_release(&idle, fw->b, b);
	assert_int_equal(deleted, 1);
	assert_false(kit_idle_used(&idle, "sk-1"));
	/* one that never had a job releases nothing */
	kit_idle_release(&idle, fw->b, c);
	assert_int_equal(deleted, 1);
	kit_idle_free(&idle);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(
		    test_counted_then_kept, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_moved_and_set_twice, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_counted_again_after_a_restart, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_unexpected_release_counts_again, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_idle_jobs_counted, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
