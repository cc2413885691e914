/* backend_index: the sorted container indexes behind lookups by id, name
 * and id prefix (issue 10 #11: linear scans stalled the backend). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../../common/backend/backend_int.h"
#include "sockerless/id.h"
#include "sockerless/json.h"

static const char *
t_key_id(const struct container *c)
{
	return c->id;
}

static struct container *
t_ctr(const char *id, const char *name)
{
	cJSON *doc = cJSON_CreateObject();
	char n[80];

	snprintf(n, sizeof(n), "/%s", name);
	json_add_str(doc, "Name", n);
	return container_new(id, doc);
}

static void
t_index_basic(void **state)
{
	struct backend_index ids, names;
	struct container *a = t_ctr("abc1230000", "web");
	struct container *b = t_ctr("abc4560000", "db");
	struct container *c = t_ctr("ffff000000", "cache");
	int amb;

	(void)state;
	backend_index_init(&ids, t_key_id);
	backend_index_init(&names, container_name);
	assert_null(backend_index_get(&ids, "abc"));
	assert_null(backend_index_prefix(&ids, "a", &amb));
	assert_int_equal(amb, 0);
	backend_index_add(&ids, b);
	backend_index_add(&ids, c);
	backend_index_add(&ids, a);
	backend_index_add(&names, a);
	backend_index_add(&names, b);
	backend_index_add(&names, c);
	assert_ptr_equal(backend_index_get(&ids, "abc4560000"), b);
	assert_null(backend_index_get(&ids, "abc456"));
	assert_ptr_equal(backend_index_get(&names, "web"), a);
	assert_null(backend_index_get(&names, "we"));
	/* Prefixes: unique, ambiguous, missing. */
	assert_ptr_equal(backend_index_prefix(&ids, "abc4", &amb), b);
	assert_int_equal(amb, 0);
	assert_non_null(backend_index_prefix(&ids, "abc", &amb));
	assert_int_equal(amb, 1);
	assert_ptr_equal(backend_index_prefix(&ids, "f", &amb), c);
	assert_int_equal(amb, 0);
	assert_null(backend_index_prefix(&ids, "abd", &amb));
	assert_null(backend_index_prefix(&ids, "0", &amb));
	/* A rename: out under the old key, in under the new one. */
	backend_index_del(&names, a);
	json_set(container_doc(a), "Name", cJSON_CreateString("/front"));
	backend_index_add(&names, a);
	assert_null(backend_index_get(&names, "web"));
	assert_ptr_equal(backend_index_get(&names, "front"), a);
	backend_index_del(&ids, b);
	assert_null(backend_index_get(&ids, "abc4560000"));
	assert_ptr_equal(backend_index_prefix(&ids, "abc", &amb), a);
	assert_int_equal(amb, 0);
	backend_index_del(&ids, b); /* not there: nothing happens */
	assert_int_equal(ids.n, 2);
	backend_index_free(&ids);
	backend_index_free(&names);
	container_unref(a);
	container_unref(b);
	container_unref(c);
}

/* 20k containers, half loaded (append + sort), half created one by one:
 * every lookup finds its container; removal keeps the order. */
static void
t_index_scale(void **state)
{
	enum { N = 20000 };
	struct backend_index ids, names;
	struct container **v = calloc(N, sizeof(*v));
	char id[65], name[32];
	int amb;

	(void)state;
	backend_index_init(&ids, t_key_id);
	backend_index_init(&names, container_name);
	for (int i = 0; i < N; i++) {
		id_new(id);
		snprintf(name, sizeof(name), "c%d", i);
		v[i] = t_ctr(id, name);
		if (i < N / 2) {
			backend_index_append(&ids, v[i]);
			backend_index_append(&names, v[i]);
		}
	}
	backend_index_sort(&ids);
	backend_index_sort(&names);
	for (int i = N / 2; i < N; i++) {
		backend_index_add(&ids, v[i]);
		backend_index_add(&names, v[i]);
	}
	for (size_t i = 1; i < ids.n; i++)
		assert_true(strcmp(ids.v[i - 1]->id, ids.v[i]->id) < 0);
	for (int i = 0; i < N; i += 7) {
		snprintf(name, sizeof(name), "c%d", i);
		assert_ptr_equal(backend_index_get(&ids, v[i]->id), v[i]);
		assert_ptr_equal(backend_index_get(&names, name), v[i]);
		/* 32 hex digits never collide among 20k random ids. */
		memcpy(id, v[i]->id, 32);
		id[32] = '\0';
		assert_ptr_equal(backend_index_prefix(&ids, id, &amb), v[i]);
		assert_int_equal(amb, 0);
	}
	/* One hex digit: 20k ids share every one. */
	assert_non_null(backend_index_prefix(&ids, "a", &amb));
	assert_int_equal(amb, 1);
	for (int i = 0; i < N; i += 2) {
		backend_index_del(&ids, v[i]);
		backend_index_del(&names, v[i]);
	}
	assert_int_equal(ids.n, N / 2);
	assert_int_equal(names.n, N / 2);
	assert_null(backend_index_get(&ids, v[0]->id));
	assert_ptr_equal(backend_index_get(&ids, v[1]->id), v[1]);
	backend_index_free(&ids);
	backend_index_free(&names);
	for (int i = 0; i < N; i++)
		container_unref(v[i]);
	free(v);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(t_index_basic),
		cmocka_unit_test(t_index_scale),
	};

	json_init();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
