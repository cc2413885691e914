/* GET /containers/json from the cached entries (container_list_entry):
 * every entry is what container_summary_json builds from the document at
 * that moment, in the same key order, after creates, starts, exits,
 * renames and network connects; Status is computed at list time. The
 * filters read the values cached with the entry: every filter's result is
 * checked against the same filter evaluated on the documents. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../../common/backend/backend_int.h"
#include "fake_backend.h"
#include "sockerless/filters.h"
#include "sockerless/json.h"
#include "sockerless/xmalloc.h"

static int
setup(void **state)
{
	struct fw *fw;

	fake_caps[CAP_NETWORKS] = 1; /* user networks, for a connect */
	fw = fw_new();
	fw_add_image(fw, "docker.io/library/alpine:latest", "sh");
	fw->autocomplete = 1;
	*state = fw;
	return 0;
}

static int
teardown(void **state)
{
	if (*state != NULL)
		fw_free(*state, 0);
	fake_caps[CAP_NETWORKS] = 0;
	return 0;
}

/* The same keys in the same order with equal values. */
static void
assert_same_object(const cJSON *a, const cJSON *b)
{
	const cJSON *x = a->child, *y = b->child;

	for (; x != NULL && y != NULL; x = x->next, y = y->next) {
		assert_string_equal(x->string, y->string);
		assert_true(cJSON_Compare(x, y, 1));
	}
	assert_null(x);
	assert_null(y);
}

/* Each entry of ps -a against a summary built now from the document;
 * Status is compared apart (it follows the clock). Returns the list. */
static cJSON *
check_list(struct fw *fw, int n)
{
	struct fw_resp *r = fw_req(fw, "GET", "/containers/json?all=1", NULL);
	const cJSON *it;
	cJSON *out;

	assert_int_equal(r->status, 200);
	assert_non_null(r->json);
	assert_int_equal(cJSON_GetArraySize(r->json), n);
	cJSON_ArrayForEach(it, r->json) {
		struct container *c = fw_find(fw, json_str(it, "Id"));
		cJSON *want, *got = cJSON_Duplicate(it, 1);

		assert_non_null(c);
		want = container_summary_json(c);
		assert_non_null(json_str(got, "Status"));
		assert_string_equal(json_str(got, "State"),
		    json_str(json_obj(container_doc(c), "State"), "Status"));
		json_set(got, "Status", cJSON_CreateString(""));
		json_set(want, "Status", cJSON_CreateString(""));
		assert_same_object(got, want);
		cJSON_Delete(got);
		cJSON_Delete(want);
	}
	out = cJSON_Duplicate(r->json, 1);
	fw_resp_free(r);
	return out;
}

static const cJSON *
entry_of(const cJSON *list, const char *id)
{
	const cJSON *it;

	cJSON_ArrayForEach(it, list) {
		if (strcmp(json_str(it, "Id"), id) == 0)
			return it;
	}
	fail_msg("%s not listed", id);
	return NULL;
}

static void
test_entries_follow_the_document(void **state)
{
	struct fw *fw = *state;
	char *a = fw_create(fw, "la", "alpine",
	    "\"Cmd\":[\"echo\",\"q\\\"uote\",\"back\\\\slash\"],"
	    "\"Labels\":{\"k\":\"v\\\"1\"},\"ExposedPorts\":{\"80/tcp\":{}}");
	char *b = fw_create(fw, "lb", "alpine", NULL);
	struct fw_resp *r;
	cJSON *list;

	list = check_list(fw, 2);
	assert_string_equal(json_str(entry_of(list, a), "Status"), "Created");
	cJSON_Delete(list);
	/* Started: State and Status change, the network gets its address. */
	fw_start(fw, b);
	list = check_list(fw, 2);
	assert_string_equal(json_str(entry_of(list, b), "State"), "running");
	assert_non_null(strstr(json_str(entry_of(list, b), "Status"), "Up "));
	cJSON_Delete(list);
	/* Renamed, connected to a new network, exited. */
	fw_expect_free(fw, "POST", "/containers/la/rename?name=la2", 204);
	r = fw_req(fw, "POST", "/networks/create", "{\"Name\":\"lnet\"}");
	assert_int_equal(r->status, 201);
	fw_resp_free(r);
	r = fw_req(
	    fw, "POST", "/networks/lnet/connect", "{\"Container\":\"la2\"}");
	assert_int_equal(r->status, 200);
	fw_resp_free(r);
	fw_exit(fw, b, 3);
	list = check_list(fw, 2);
	assert_string_equal(
	    cJSON_GetArrayItem(json_arr(entry_of(list, a), "Names"), 0)
		->valuestring,
	    "/la2");
	assert_non_null(
	    json_obj(json_obj(json_obj(entry_of(list, a), "NetworkSettings"),
			 "Networks"),
		"lnet"));
	assert_non_null(
	    strstr(json_str(entry_of(list, b), "Status"), "Exited (3)"));
	cJSON_Delete(list);
	/* A limit counts entries; the rest is not rendered. */
	r = fw_req(fw, "GET", "/containers/json?all=1&limit=1", NULL);
	assert_int_equal(cJSON_GetArraySize(r->json), 1);
	fw_resp_free(r);
	fw_expect_free(fw, "DELETE", "/containers/la2", 204);
	list = check_list(fw, 1);
	cJSON_Delete(list);
	free(a);
	free(b);
}

static void
test_status_at_list_time(void **state)
{
	struct fw *fw = *state;
	char *id = fw_create(fw, "hs", "alpine", NULL);
	struct container *c;
	cJSON *list, *h;
	const char *st;

	fw_start(fw, id);
	cJSON_Delete(check_list(fw, 1)); /* the entry is cached now */
	c = fw_find(fw, id);
	assert_non_null(c);
	/* Status is not cached: a health change shows without a touch, and
	 * its text is escaped into the JSON. */
	h = cJSON_CreateObject();
	json_add_str(h, "Status", "we\"ird\\\n");
	json_set(container_state(c), "Health", h);
	list = check_list(fw, 1);
	st = json_str(cJSON_GetArrayItem(list, 0), "Status");
	assert_true(strlen(st) > 12);
	assert_string_equal(st + strlen(st) - 11, " (we\"ird\\\n)");
	cJSON_Delete(list);
	/* Anything else comes from the cache until the document is marked
	 * changed (a save does it). */
	json_set(json_obj(container_doc(c), "Config"), "Labels",
	    cJSON_Parse("{\"late\":\"1\"}"));
	container_touch(c);
	list = check_list(fw, 1);
	assert_string_equal(
	    json_str(json_obj(cJSON_GetArrayItem(list, 0), "Labels"), "late"),
	    "1");
	cJSON_Delete(list);
	fw_exit(fw, id, 0);
	free(id);
}

/* The filters as they read the documents before the values were cached
 * with the entry (the reference the cached path must equal). */
static int
doc_matches(const struct container *c, const struct filters *f)
{
	const cJSON *st = json_obj(container_doc(c), "State");
	const char *status = json_str(st, "Status");
	const char *names[2] = { container_name(c), NULL };
	char code[24];
	struct err e;

	if (!filters_match_id_prefix(f, "id", c->id))
		return 0;
	if (filters_has(f, "name") &&
	    filters_match_regex(f, "name", names, &e) <= 0)
		return 0;
	if (!filters_match_labels(
		f, "label", json_obj(container_config(c), "Labels")))
		return 0;
	if (!filters_match_exact(f, "status", status))
		return 0;
	if (filters_has(f, "exited")) {
		snprintf(code, sizeof(code), "%lld",
		    (long long)json_int(st, "ExitCode", 0));
		if (status == NULL || strcmp(status, "exited") != 0 ||
		    !filters_match_exact(f, "exited", code))
			return 0;
	}
	return !filters_has(f, "ancestor") ||
	    filters_match_exact(f, "ancestor", container_image(c)) ||
	    filters_match_exact(
		f, "ancestor", json_str(container_doc(c), "Image"));
}

/* ps -a with filters (JSON) lists exactly the containers doc_matches
 * takes; returns how many. */
static int
check_filter(struct fw *fw, const char *json)
{
	static const char *keys[] = { "id", "name", "label", "status", "exited",
		"ancestor", NULL };
	char *q = fw_urlenc(json), *path;
	struct filters *f;
	struct fw_resp *r;
	struct container *c;
	struct err e;
	int want = 0;

	f = filters_parse(json, keys, &e);
	assert_non_null(f);
	path = xasprintf("/containers/json?all=1&filters=%s", q);
	r = fw_req(fw, "GET", path, NULL);
	assert_int_equal(r->status, 200);
	TAILQ_FOREACH(c, &fw->b->containers, entry) {
		const cJSON *it;
		int listed = 0;
		cJSON_ArrayForEach(it, r->json) {
			if (strcmp(json_str(it, "Id"), c->id) == 0)
				listed = 1;
		}
		if (listed != doc_matches(c, f))
			fail_msg("%s: %s %s", json, container_name(c),
			    listed ? "listed" : "not listed");
		want += listed;
	}
	assert_int_equal(cJSON_GetArraySize(r->json), want);
	fw_resp_free(r);
	filters_free(f);
	free(path);
	free(q);
	return want;
}

static void
check_filters(struct fw *fw, const char *id_prefix, const char *image_id)
{
	char buf[256];

	assert_int_equal(check_filter(fw, "{}"), 6);
	snprintf(buf, sizeof(buf), "{\"id\":[\"%s\"]}", id_prefix);
	check_filter(fw, buf);
	check_filter(fw, "{\"name\":[\"web\"]}");
	check_filter(fw, "{\"name\":[\"^/web$\"]}");
	check_filter(fw, "{\"name\":[\"^web-1\"]}");
	check_filter(fw, "{\"name\":[\"b-\",\"^db$\"]}");
	check_filter(fw, "{\"name\":[\"nomatch\"]}");
	check_filter(fw, "{\"label\":[\"tier\"]}");
	check_filter(fw, "{\"label\":[\"tier=front\"]}");
	check_filter(fw, "{\"label\":[\"tier=front\",\"x\"]}");
	check_filter(fw, "{\"label\":[\"tier=\"]}");
	check_filter(fw, "{\"status\":[\"running\"]}");
	check_filter(fw, "{\"status\":[\"exited\",\"created\"]}");
	check_filter(fw, "{\"exited\":[\"0\"]}");
	check_filter(fw, "{\"exited\":[\"3\",\"0\"]}");
	check_filter(fw, "{\"ancestor\":[\"alpine\"]}");
	check_filter(fw, "{\"ancestor\":[\"busybox:latest\"]}");
	snprintf(buf, sizeof(buf), "{\"ancestor\":[\"%s\"]}", image_id);
	check_filter(fw, buf);
	check_filter(fw,
	    "{\"status\":[\"exited\"],\"label\":[\"tier\"],"
	    "\"name\":[\"1\"]}");
}

static void
test_filters_equal_the_documents(void **state)
{
	struct fw *fw = *state;
	const char *bb =
	    fw_add_image(fw, "docker.io/library/busybox:latest", "sh");
	char image_id[80], image_q[160], *ids[6];
	struct container *c;

	str_lcpy(image_id, bb, sizeof(image_id));
	ids[0] = fw_create(
	    fw, "web", "alpine", "\"Labels\":{\"tier\":\"front\",\"x\":\"\"}");
	ids[1] = fw_create(
	    fw, "web-1", "busybox:latest", "\"Labels\":{\"tier\":\"\"}");
	ids[2] =
	    fw_create(fw, "db", "alpine", "\"Labels\":{\"tier\":\"back\"}");
	ids[3] = fw_create(fw, "db-1", "busybox", NULL);
	ids[4] =
	    fw_create(fw, "job1", "alpine", "\"Labels\":{\"tier\":\"front\"}");
	ids[5] = fw_create(fw, NULL, "alpine", NULL);
	fw_start(fw, ids[0]);
	fw_start(fw, ids[1]);
	fw_start(fw, ids[3]);
	fw_exit(fw, ids[3], 3);
	fw_start(fw, ids[4]);
	fw_exit(fw, ids[4], 0);
	/* Cold (nothing cached), then warm. */
	check_filters(fw, ids[2], image_id);
	check_filters(fw, ids[2], image_id);
	/* The set is varied enough that each filter separates. */
	assert_int_equal(check_filter(fw, "{\"name\":[\"web\"]}"), 2);
	assert_int_equal(check_filter(fw, "{\"status\":[\"running\"]}"), 2);
	assert_int_equal(check_filter(fw, "{\"exited\":[\"3\"]}"), 1);
	assert_int_equal(check_filter(fw, "{\"label\":[\"tier=front\"]}"), 2);
	assert_int_equal(check_filter(fw, "{\"ancestor\":[\"alpine\"]}"), 4);
	snprintf(image_q, sizeof(image_q), "{\"ancestor\":[\"%s\"]}", image_id);
	assert_int_equal(check_filter(fw, image_q), 2);
	/* After changes: a rename, an exit, a relabel saved. */
	fw_expect_free(fw, "POST", "/containers/db/rename?name=web-2", 204);
	fw_exit(fw, ids[1], 0);
	c = fw_find(fw, ids[5]);
	assert_non_null(c);
	json_set(json_obj(container_doc(c), "Config"), "Labels",
	    cJSON_Parse("{\"tier\":\"front\"}"));
	container_touch(c);
	check_filters(fw, ids[0], image_id);
	for (int i = 0; i < 6; i++)
		free(ids[i]);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(
		    test_entries_follow_the_document, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_status_at_list_time, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_filters_equal_the_documents, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
