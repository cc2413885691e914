/* The kit's function pool (common/backend/kit_pool.c), which gcf and
 * azfunc share, against fake cloud steps that answer from the loop: a
 * function made then pointed, reuse without a step for the same image,
 * re-pointing for another, the full pool's 503 and its waiters, a failed
 * create deleted, functions found again (usable, unusable, another
 * instance's, kept quiet), and the idle sweep. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <event2/event.h>

#include "../../common/backend/backend_int.h"
#include "sockerless/kit_faas.h"
#include "sockerless/xmalloc.h"

static struct {
	int creates, points, removes, lists;
	int fail_create;
	int pointed_on_create;
	char removed[8][32];
	struct kit_slot *got;
	int answers;
	struct err e;
	int failed;
} f;

static struct event_base *base;

struct later {
	struct kit_slot *s;
	char *name;
	struct kit_rm *rm;
};

static void
created_cb(evutil_socket_t fd, short what, void *arg)
{
	struct later *l = arg;
	struct err e;

	(void)fd;
	(void)what;
	if (f.fail_create) {
		err_set(&e, 409, "no room");
		kit_slot_created(l->s, 0, &e);
	} else {
		kit_slot_set_url(l->s, "http://x/");
		kit_slot_set_data(l->s, xstrdup("data"));
		kit_slot_created(l->s, f.pointed_on_create, NULL);
	}
	free(l);
}

static void
fake_create(struct kit_slot *s)
{
	struct later *l = xcalloc(1, sizeof(*l));

	f.creates++;
	l->s = s;
	event_base_once(base, -1, EV_TIMEOUT, created_cb, l, NULL);
}

static void
pointed_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	kit_slot_pointed(arg, NULL);
}

static void
fake_point(struct kit_slot *s)
{
	f.points++;
	event_base_once(base, -1, EV_TIMEOUT, pointed_cb, s, NULL);
}

static void
removed_cb(evutil_socket_t fd, short what, void *arg)
{
	struct later *l = arg;

	(void)fd;
	(void)what;
	kit_pool_removed(l->rm, NULL);
	free(l->name);
	free(l);
}

static void
fake_remove(struct kit_rm *rm, const char *name)
{
	struct later *l = xcalloc(1, sizeof(*l));

	if (f.removes < 8)
		snprintf(
		    f.removed[f.removes], sizeof(f.removed[0]), "%s", name);
	f.removes++;
	l->name = xstrdup(name);
	l->rm = rm;
	event_base_once(base, -1, EV_TIMEOUT, removed_cb, l, NULL);
}

static void
fake_list(void)
{
	f.lists++;
	kit_pool_found("p-2", 1, "http://two/", "img-a", xstrdup("d2"));
	kit_pool_found("p-3", 0, NULL, NULL, xstrdup("d3"));
	kit_pool_found("other-1", 1, "http://o/", "img-a", xstrdup("do"));
	kit_pool_listed(NULL);
}

static void
fake_list_none(void)
{
	f.lists++;
	kit_pool_listed(NULL);
}

static struct kit_pool_ops ops = {
	.create = fake_create,
	.point = fake_point,
	.remove = fake_remove,
	.list = fake_list_none,
	.data_free = free,
};

static void
took(void *arg, struct kit_slot *s, const struct err *e)
{
	(void)arg;
	f.answers++;
	f.got = s;
	f.failed = e != NULL;
	if (e != NULL)
		f.e = *e;
}

static struct backend *
pool_up(long long max, long long wait, long long idle)
{
	struct backend *b = xcalloc(1, sizeof(*b));
	struct kit_pool_conf pc = {
		.ops = &ops,
		.what = "test function",
		.key = "tst",
		.prefix = "p-",
		.pool_max = max,
		.pool_idle = idle,
		.pool_wait = wait,
		.image_only = 1,
	};

	memset(&f, 0, sizeof(f));
	base = event_base_new();
	b->base = base;
	kit_pool_start(b, &pc);
	return b;
}

static void
pool_down(struct backend *b)
{
	kit_pool_stop();
	event_base_free(base);
	free(b);
}

static void
run_until(const int *counter, int want)
{
	for (int i = 0; i < 100000 && *counter < want; i++)
		event_base_loop(base, EVLOOP_ONCE);
	assert_true(*counter >= want);
}

static void
t_make_reuse_repoint(void **state)
{
	struct backend *b = pool_up(2, 0, 900);
	struct kit_slot *s;

	(void)state;
	kit_pool_take("img-a", 512, 60, took, NULL);
	run_until(&f.answers, 1);
	assert_false(f.failed);
	s = f.got;
	assert_string_equal(kit_slot_name(s), "p-1");
	assert_string_equal(kit_slot_url(s), "http://x/");
	assert_string_equal(kit_slot_data(s), "data");
	assert_int_equal(f.creates, 1);
	assert_int_equal(f.points, 1);
	kit_pool_give(s, 0);
	/* the same image: no step at all, answered at once */
	kit_pool_take("img-a", 1024, 30, took, NULL);
	assert_int_equal(f.answers, 2);
	assert_ptr_equal(f.got, s);
	assert_int_equal(f.creates + f.points, 2);
	kit_pool_give(s, 0);
	/* another image: the free function is re-pointed */
	kit_pool_take("img-b", 512, 60, took, NULL);
	run_until(&f.answers, 3);
	assert_ptr_equal(f.got, s);
	assert_int_equal(f.creates, 1);
	assert_int_equal(f.points, 2);
	pool_down(b);
}

static void
t_full_pool(void **state)
{
	struct backend *b = pool_up(1, 0, 900);
	struct kit_slot *s;

	(void)state;
	f.pointed_on_create = 1;
	kit_pool_take("img-a", 512, 60, took, NULL);
	run_until(&f.answers, 1);
	s = f.got;
	assert_int_equal(f.points, 0); /* made pointed */
	kit_pool_take("img-a", 512, 60, took, NULL);
	assert_int_equal(f.answers, 2);
	assert_true(f.failed);
	assert_int_equal(f.e.status, 503);
	assert_string_equal(f.e.msg,
	    "all 1 test functions of the pool are busy (tst.pool_max); retry "
	    "later or raise tst.pool_max");
	kit_pool_give(s, 0);
	pool_down(b);
}

static void
t_waiter_served_on_give(void **state)
{
	struct backend *b = pool_up(1, 60, 900);
	struct kit_slot *s;

	(void)state;
	kit_pool_take("img-a", 512, 60, took, NULL);
	run_until(&f.answers, 1);
	s = f.got;
	kit_pool_take("img-b", 512, 60, took, NULL);
	assert_int_equal(f.answers, 1); /* waits */
	kit_pool_give(s, 0);
	run_until(&f.answers, 2);
	assert_false(f.failed);
	assert_ptr_equal(f.got, s);
	assert_int_equal(f.points, 2);
	pool_down(b);
}

static void
t_failed_create_is_deleted(void **state)
{
	struct backend *b = pool_up(2, 0, 900);

	(void)state;
	f.fail_create = 1;
	kit_pool_take("img-a", 512, 60, took, NULL);
	run_until(&f.answers, 1);
	assert_true(f.failed);
	assert_int_equal(f.e.status, 409);
	assert_non_null(strstr(f.e.msg, "creating test function p-1"));
	run_until(&f.removes, 1);
	assert_string_equal(f.removed[0], "p-1");
	/* the number is free again */
	f.fail_create = 0;
	kit_pool_take("img-a", 512, 60, took, NULL);
	run_until(&f.answers, 2);
	assert_string_equal(kit_slot_name(f.got), "p-1");
	pool_down(b);
}

static void
t_found_again(void **state)
{
	struct backend *b;

	(void)state;
	ops.list = fake_list;
	kit_pool_quiet("p-9", 100); /* before the listing: kept */
	b = pool_up(4, 0, 900);
	ops.list = fake_list_none;
	assert_int_equal(f.lists, 1);
	run_until(&f.removes, 1); /* p-3 was unusable */
	assert_string_equal(f.removed[0], "p-3");
	/* p-2 runs img-a already: no step */
	kit_pool_take("img-a", 512, 60, took, NULL);
	assert_int_equal(f.answers, 1);
	assert_string_equal(kit_slot_name(f.got), "p-2");
	assert_string_equal(kit_slot_data(f.got), "d2");
	assert_int_equal(f.creates + f.points, 0);
	kit_pool_give(f.got, 0);
	/* kept quiet: a new function is made instead */
	kit_pool_quiet("p-2", 100);
	kit_pool_take("img-a", 512, 60, took, NULL);
	run_until(&f.answers, 2);
	assert_string_equal(kit_slot_name(f.got), "p-1");
	pool_down(b);
}

static void
t_idle_swept(void **state)
{
	struct backend *b = pool_up(2, 0, 0);

	(void)state;
	kit_pool_take("img-a", 512, 60, took, NULL);
	run_until(&f.answers, 1);
	kit_pool_give(f.got, 0);
	run_until(&f.removes, 1); /* the next tick */
	assert_string_equal(f.removed[0], "p-1");
	pool_down(b);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(t_make_reuse_repoint),
		cmocka_unit_test(t_full_pool),
		cmocka_unit_test(t_waiter_served_on_give),
		cmocka_unit_test(t_failed_create_is_deleted),
		cmocka_unit_test(t_found_again),
		cmocka_unit_test(t_idle_swept),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
