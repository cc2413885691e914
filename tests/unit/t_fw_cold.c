/* Cold documents (docs/scale.md): a stopped container's parsed document is
 * dropped once idle, read back at its next use, and a restarted backend
 * loads stopped containers without parsing them. What the walks over all
 * containers read comes from the facts, without a parse. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "../../common/backend/backend_ctr.h"
#include "../../common/backend/backend_int.h"
#include "fake_backend.h"
#include "sockerless/json.h"
#include "sockerless/str.h"
#include "sockerless/xmalloc.h"

static int
setup(void **state)
{
	struct fw *fw;

	/* Sweeps every 20 ms: a document idle for two sweeps goes. */
	setenv("SOCKERLESS_DOC_IDLE_MS", "20", 1);
	fw = fw_new();
	fw_add_image(fw, "docker.io/library/alpine:latest", "sh");
	*state = fw;
	return 0;
}

static int
teardown(void **state)
{
	if (*state != NULL)
		fw_free(*state, 0);
	unsetenv("SOCKERLESS_DOC_IDLE_MS");
	return 0;
}

static int
is_cold(struct fw *fw, void *arg)
{
	(void)fw;
	return container_cold(arg);
}

static struct container *
by_name(struct fw *fw, const char *name)
{
	return backend_ctr_by_name(fw->b, name);
}

/* Waits for c's document to be dropped. */
static void
await_cold(struct fw *fw, struct container *c)
{
	assert_true(fw_run_until_fn(fw, is_cold, c));
}

/* Runs sql on the state database of a backend freed with fw_free(fw, 1):
 * a change behind its back. */
static void
state_sql(struct fw *fw, const char *sql)
{
	char *path = xasprintf("%s/state/state.db", fw->dir);
	sqlite3 *db;

	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
	free(path);
}

/* A stopped container with a private key, a label and exit code 3. */
static struct container *
make_exited(struct fw *fw, const char *name)
{
	char *id = fw_create(fw, name, "alpine",
	    "\"Labels\":{\"team\":\"blue\"},\"Cmd\":[\"sh\",\"-c\",\"x\"]");
	struct container *c;

	fw_start(fw, id);
	c = by_name(fw, name);
	json_set(
	    container_private(c), "TaskArn", cJSON_CreateString("arn:task/1"));
	json_set(container_private(c), "Count", cJSON_CreateNumber(2));
	backend_container_save(fw->b, c);
	fw_exit(fw, id, 3);
	free(id);
	return c;
}

static void
test_drop_and_read_back(void **state)
{
	struct fw *fw = *state;
	struct container *c = make_exited(fw, "cold1");
	cJSON *o;
	struct fw_resp *r;

	await_cold(fw, c);
	/* What walks read, from the facts: the document stays dropped. */
	assert_string_equal(container_name(c), "cold1");
	assert_string_equal(container_status(c), "exited");
	assert_false(container_running(c));
	assert_string_equal(container_private_str(c, "TaskArn"), "arn:task/1");
	assert_true(container_private_has(c, "Count"));
	assert_false(container_private_has(c, "Nothing"));
	assert_null(container_private_str(c, "Nothing"));
	assert_ptr_equal(
	    backend_container_by_private(fw->b, "TaskArn", "arn:task/1"), c);
	assert_non_null(container_image_id(c));
	assert_true(str_prefix(container_image_id(c), "sha256:"));
	assert_true(container_cold(c));
	/* A private key that is not a string: the document says. */
	assert_null(container_private_str(c, "Count"));
	assert_false(container_cold(c));
	await_cold(fw, c);

	/* Inspect reads it back whole. */
	o = fw_inspect(fw, "cold1");
	assert_non_null(o);
	assert_int_equal(json_int(json_obj(o, "State"), "ExitCode", -1), 3);
	assert_string_equal(
	    json_str(json_obj(json_obj(o, "Config"), "Labels"), "team"),
	    "blue");
	assert_null(json_obj(o, "Sockerless"));
	cJSON_Delete(o);
	assert_false(container_cold(c));
	await_cold(fw, c);

	/* The list and its filters. */
	r = fw_req(fw, "GET",
	    "/containers/json?all=1&filters=%7B%22label%22%3A%5B%22team%3Dblue%"
	    "22%5D%7D",
	    NULL);
	assert_int_equal(r->status, 200);
	assert_int_equal(cJSON_GetArraySize(r->json), 1);
	assert_string_equal(
	    json_str(cJSON_GetArrayItem(r->json, 0), "State"), "exited");
	fw_resp_free(r);
	/* The list read it and dropped it again at once. */
	assert_true(container_cold(c));

	/* A rename of a cold container: read, changed, saved, dropped. */
	r = fw_req(fw, "POST", "/containers/cold1/rename?name=cold2", NULL);
	assert_int_equal(r->status, 204);
	fw_resp_free(r);
	await_cold(fw, c);
	assert_string_equal(container_name(c), "cold2");
	assert_ptr_equal(by_name(fw, "cold2"), c);
	assert_null(by_name(fw, "cold1"));
	o = fw_inspect(fw, "cold2");
	assert_non_null(o);
	assert_string_equal(json_str(o, "Name"), "/cold2");
	cJSON_Delete(o);

	/* Removed while cold. */
	await_cold(fw, c);
	fw->autocomplete = 1;
	r = fw_req(fw, "DELETE", "/containers/cold2", NULL);
	assert_int_equal(r->status, 204);
	fw_resp_free(r);
	assert_null(fw_inspect(fw, "cold2"));
}

/* GET /containers/json?all=1&filters=F: the number of entries. */
static int
list_count(struct fw *fw, const char *filters)
{
	char *enc = fw_urlenc(filters);
	char *path = xasprintf("/containers/json?all=1&filters=%s", enc);
	struct fw_resp *r = fw_req(fw, "GET", path, NULL);
	int n;

	assert_int_equal(r->status, 200);
	n = cJSON_GetArraySize(r->json);
	fw_resp_free(r);
	free(path);
	free(enc);
	return n;
}

/* Filters of a list after a restart, and how many containers match. */
static const struct {
	const char *filters;
	int n;
} cases[] = {
	/* Matching nothing: nothing is printed, nothing read. */
	{ "{\"label\":[\"team=red\"]}", 0 },
	{ "{\"name\":[\"^none$\"]}", 0 },
	{ "{\"status\":[\"running\"]}", 0 },
	{ "{\"exited\":[\"4\"]}", 0 },
	{ "{\"ancestor\":[\"busybox\"]}", 0 },
	/* Matching "facts", from the same facts (its document has lost its
	 * labels and image). */
	{ "{\"label\":[\"team=blue\"]}", 1 },
	{ "{\"label\":[\"team\"]}", 1 },
	{ "{\"name\":[\"fact\"]}", 1 },
	{ "{\"exited\":[\"3\"]}", 1 },
	{ "{\"ancestor\":[\"alpine\"]}", 2 },
	/* "odd" has a label key with '=', not in its facts: its filters read
	 * its document, and match as before. */
	{ "{\"name\":[\"odd\"]}", 1 },
	{ "{\"label\":[\"a\"]}", 0 },
};

/* The filters of a first list after a restart come from the facts: the
 * cold container is matched (or not) without reading its document, and
 * only an entry that is printed reads it. */
static void
test_filters_from_facts(void **state)
{
	struct fw *fw = *state;
	struct container *c, *odd;
	char *id = fw_create(fw, "odd", "alpine", "\"Labels\":{\"a=b\":\"c\"}");

	fw_start(fw, id);
	fw_exit(fw, id, 0);
	free(id);
	(void)make_exited(fw, "facts");
	fw_free(fw, 1);
	/* Its labels and image taken out of its document behind the
	 * backend's back: a filter that read them there would not match. */
	state_sql(fw,
	    "UPDATE container_docs SET doc = json_remove(doc, "
	    "'$.Config.Labels', '$.Config.Image') WHERE seq = (SELECT seq "
	    "FROM containers WHERE name = 'facts')");
	fw = fw_reopen(fw);
	*state = fw;
	c = by_name(fw, "facts");
	odd = by_name(fw, "odd");
	assert_true(container_cold(c));
	assert_true(container_cold(odd));
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		assert_int_equal(list_count(fw, cases[i].filters), cases[i].n);
		/* Printed or not, every document read is dropped again. */
		assert_true(container_cold(c));
		assert_true(container_cold(odd));
	}
	/* The entry printed is the one the store keeps beside the facts
	 * (the document has no labels now). */
	{
		struct fw_resp *r = fw_req(fw, "GET",
		    "/containers/json?all=1&filters=%7B%22name%22%3A%5B%22%5E%2F"
		    "facts%24%22%5D%7D",
		    NULL);
		const cJSON *e = cJSON_GetArrayItem(r->json, 0);
		assert_int_equal(r->status, 200);
		assert_string_equal(
		    json_str(json_obj(e, "Labels"), "team"), "blue");
		assert_string_equal(json_str(e, "Image"), "alpine");
		assert_non_null(strstr(json_str(e, "Status"), "Exited (3)"));
		fw_resp_free(r);
	}
	/* Printed entries were read and dropped again at once. */
	assert_true(container_cold(c));
	assert_true(container_cold(odd));
}

static void
test_held_not_dropped(void **state)
{
	struct fw *fw = *state;
	struct container *c = make_exited(fw, "held");
	char *id = fw_create(fw, "runs", "alpine", NULL);
	struct container *run;

	fw_start(fw, id);
	run = by_name(fw, "runs");
	container_ref(c);
	fw_run_for(fw, 150);
	assert_false(container_cold(c));
	assert_false(container_cold(run));
	container_unref(c);
	await_cold(fw, c);
	assert_false(container_cold(run));
	fw_exit(fw, id, 0);
	await_cold(fw, run);
	free(id);
}

static void
test_unsaved_change_kept(void **state)
{
	struct fw *fw = *state;
	struct container *c = make_exited(fw, "unsaved");
	cJSON *o;

	/* A change made without a save is saved before the drop. */
	json_set(container_doc(c), "Marker", cJSON_CreateString("kept"));
	await_cold(fw, c);
	assert_string_equal(json_str(container_doc(c), "Marker"), "kept");
	fw_free(fw, 1);

	/* A restart loads the stopped container cold, facts and all. */
	fw = fw_reopen(fw);
	*state = fw;
	c = by_name(fw, "unsaved");
	assert_non_null(c);
	assert_true(container_cold(c));
	assert_string_equal(container_status(c), "exited");
	assert_string_equal(container_private_str(c, "TaskArn"), "arn:task/1");
	assert_true(container_cold(c));
	o = fw_inspect(fw, "unsaved");
	assert_non_null(o);
	assert_string_equal(json_str(o, "Marker"), "kept");
	assert_int_equal(json_int(json_obj(o, "State"), "ExitCode", -1), 3);
	cJSON_Delete(o);
}

/* A first ps -a of many cold containers reads their entries in one scan
 * of the store: printed as kept (their documents have lost their labels),
 * no document parsed; an entry that is missing or malformed is made from
 * the document instead. */
static void
test_first_list_scan(void **state)
{
	struct fw *fw = *state;
	struct fw_resp *r;
	const cJSON *e;
	int n = 0, blue = 0, bare = 0;
	char name[16];

	for (int i = 0; i < 70; i++) {
		snprintf(name, sizeof(name), "many%d", i);
		(void)make_exited(fw, name);
	}
	fw_free(fw, 1);
	state_sql(fw,
	    "UPDATE container_docs SET doc = json_remove(doc, "
	    "'$.Config.Labels');"
	    "UPDATE container_entries SET entry = x'7b7d' WHERE id = (SELECT "
	    "id FROM containers WHERE name = 'many1');"
	    "DELETE FROM container_entries WHERE id = (SELECT id FROM "
	    "containers WHERE name = 'many2');");
	fw = fw_reopen(fw);
	*state = fw;
	r = fw_req(fw, "GET", "/containers/json?all=1", NULL);
	assert_int_equal(r->status, 200);
	cJSON_ArrayForEach(e, r->json) {
		const char *team = json_str(json_obj(e, "Labels"), "team");
		const cJSON *nm = cJSON_GetArrayItem(json_arr(e, "Names"), 0);
		n++;
		assert_true(cJSON_IsString(nm));
		if (team != NULL && strcmp(team, "blue") == 0)
			blue++;
		else {
			bare++;
			assert_true(strcmp(nm->valuestring, "/many1") == 0 ||
			    strcmp(nm->valuestring, "/many2") == 0);
		}
		assert_non_null(strstr(json_str(e, "Status"), "Exited (3)"));
	}
	fw_resp_free(r);
	assert_int_equal(n, 70);
	assert_int_equal(blue, 68);
	assert_int_equal(bare, 2);
	for (int i = 0; i < 70; i++) {
		snprintf(name, sizeof(name), "many%d", i);
		assert_true(container_cold(by_name(fw, name)));
	}
}

static void
test_old_rows_parsed(void **state)
{
	struct fw *fw = *state;
	struct container *c = make_exited(fw, "old");

	(void)c;
	fw_free(fw, 1);
	/* A row saved before facts were kept. */
	state_sql(fw, "UPDATE containers SET facts = NULL");
	fw = fw_reopen(fw);
	*state = fw;
	c = by_name(fw, "old");
	assert_non_null(c);
	assert_false(container_cold(c));
	assert_string_equal(container_private_str(c, "TaskArn"), "arn:task/1");
	/* Its next drop keeps facts; the next restart loads it cold. */
	await_cold(fw, c);
	fw_free(fw, 1);
	fw = fw_reopen(fw);
	*state = fw;
	c = by_name(fw, "old");
	assert_true(container_cold(c));
	assert_string_equal(container_private_str(c, "TaskArn"), "arn:task/1");
}

static int
setup_vol(void **state)
{
	fake_caps[CAP_VOLUMES] = 1;
	return setup(state);
}

static int
teardown_vol(void **state)
{
	fake_caps[CAP_VOLUMES] = 0;
	return teardown(state);
}

static void
test_volume_user_cold(void **state)
{
	struct fw *fw = *state;
	char *id;

	fw->autocomplete = 1;
	id = fw_create(
	    fw, "vuser", "alpine", "\"HostConfig\":{\"Binds\":[\"vc:/data\"]}");
	struct container *c = by_name(fw, "vuser");
	struct fw_resp *r;

	await_cold(fw, c);
	assert_true(container_mounts_volume(c, "vc"));
	assert_false(container_mounts_volume(c, "other"));
	assert_true(container_cold(c));
	/* In use: a 409, found without reading the document. */
	r = fw_req(fw, "DELETE", "/volumes/vc", NULL);
	assert_int_equal(r->status, 409);
	fw_resp_free(r);
	assert_true(container_cold(c));
	free(id);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(
		    test_drop_and_read_back, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_filters_from_facts, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_first_list_scan, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_held_not_dropped, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_unsaved_change_kept, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_old_rows_parsed, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_volume_user_cold, setup_vol, teardown_vol),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
