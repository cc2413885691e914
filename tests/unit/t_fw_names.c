/* The framework's names, labels, lookups and list filters through the
 * fake backend: name rules and conflicts, generated names, renames, id
 * prefixes, and docker ps with its filters. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "fake_backend.h"
#include "sockerless/json.h"
#include "sockerless/xmalloc.h"

static int
setup(void **state)
{
	struct fw *fw = fw_new();

	fw_add_image(fw, "docker.io/library/alpine:latest", "sh");
	fw_add_image(fw, "docker.io/library/busybox:1.36", "sh");
	fw->autocomplete = 1;
	*state = fw;
	return 0;
}

static int
teardown(void **state)
{
	fw_free(*state, 0);
	return 0;
}

static int
status_of(struct fw *fw, const char *method, const char *path)
{
	struct fw_resp *r = fw_req(fw, method, path, NULL);
	int st = r->status;

	fw_resp_free(r);
	return st;
}

/* The names docker ps lists with query (a string of "k=v&..."), and
 * filters (JSON or NULL), joined by spaces; a new string, or the status
 * as "!<status>" when the list fails. */
static char *
ps(struct fw *fw, const char *query, const char *filters)
{
	char *enc = filters != NULL ? fw_urlenc(filters) : NULL;
	char *path = xasprintf("/containers/json?%s%s%s", query,
	    enc != NULL ? "&filters=" : "", enc != NULL ? enc : "");
	struct fw_resp *r = fw_req(fw, "GET", path, NULL);
	char *out = xstrdup("");
	const cJSON *it, *list;

	if (r->status != 200) {
		free(out);
		out = xasprintf("!%d", r->status);
	}
	list = r->status == 200 ? r->json : NULL;
	cJSON_ArrayForEach(it, list) {
		const char *n =
		    cJSON_GetArrayItem(json_arr(it, "Names"), 0)->valuestring;
		char *o = xasprintf("%s%s%s", out, out[0] ? " " : "", n + 1);
		free(out);
		out = o;
	}
	fw_resp_free(r);
	free(path);
	free(enc);
	return out;
}

static void
check_ps(
    struct fw *fw, const char *query, const char *filters, const char *want)
{
	char *got = ps(fw, query, filters);

	if (strcmp(got, want) != 0)
		fprintf(stderr, "ps %s %s: got \"%s\"\n", query,
		    filters ? filters : "", got);
	assert_string_equal(got, want);
	free(got);
}

static void
test_name_rules(void **state)
{
	struct fw *fw = *state;
	char *id = fw_create(fw, "one", "alpine", NULL);
	struct fw_resp *r;

	r = fw_req(fw, "POST", "/containers/create?name=one",
	    "{\"Image\":\"alpine\"}");
	assert_int_equal(r->status, 409);
	assert_non_null(strstr(fw_msg(r), "is already in use by container"));
	assert_non_null(strstr(fw_msg(r), id));
	fw_resp_free(r);
	r = fw_req(fw, "POST", "/containers/create?name=bad%20name",
	    "{\"Image\":\"alpine\"}");
	assert_int_equal(r->status, 400);
	assert_non_null(strstr(fw_msg(r), "Invalid container name"));
	fw_resp_free(r);
	/* A leading slash is the same name. */
	assert_int_equal(status_of(fw, "POST", "/containers/create?name=/one"),
	    400); /* no body */
	r = fw_req(fw, "POST", "/containers/create?name=%2Fone",
	    "{\"Image\":\"alpine\"}");
	assert_int_equal(r->status, 409);
	fw_resp_free(r);
	/* One character is too short for Docker. */
	r = fw_req(
	    fw, "POST", "/containers/create?name=x", "{\"Image\":\"alpine\"}");
	assert_int_equal(r->status, 400);
	fw_resp_free(r);
	free(id);
}

static void
test_generated_names(void **state)
{
	struct fw *fw = *state;
	char *names[20];

	for (int i = 0; i < 20; i++) {
		char *id = fw_create(fw, NULL, "alpine", NULL);
		cJSON *o = fw_inspect(fw, id);
		const char *n = json_str(o, "Name");

		/* moby's adjective_surname, maybe with a digit. */
		assert_non_null(strchr(n, '_'));
		names[i] = xstrdup(n);
		for (int j = 0; j < i; j++)
			assert_string_not_equal(names[j], names[i]);
		cJSON_Delete(o);
		free(id);
	}
	for (int i = 0; i < 20; i++)
		free(names[i]);
}

static void
test_lookup_by_prefix(void **state)
{
	struct fw *fw = *state;
	char *ids[40], p[3] = { 0 };
	int seen[16] = { 0 }, dup = -1;

	for (int i = 0; i < 40; i++) {
		ids[i] = fw_create(fw, NULL, "alpine", NULL);
		int h =
		    ids[i][0] >= 'a' ? ids[i][0] - 'a' + 10 : ids[i][0] - '0';
		if (seen[h]++ > 0 && dup == -1)
			dup = i;
	}
	/* 40 ids over 16 first digits: one is shared. */
	assert_int_not_equal(dup, -1);
	p[0] = ids[dup][0];
	{
		char *path = xasprintf("/containers/%s/json", p);
		struct fw_resp *r = fw_req(fw, "GET", path, NULL);

		assert_int_equal(r->status, 400);
		assert_non_null(strstr(fw_msg(r), "Multiple IDs found"));
		fw_resp_free(r);
		free(path);
	}
	for (int i = 0; i < 40; i++) {
		char *path = xasprintf("/containers/%.12s/json", ids[i]);
		assert_int_equal(status_of(fw, "GET", path), 200);
		free(path);
		free(ids[i]);
	}
	assert_int_equal(status_of(fw, "GET", "/containers/zzzz/json"), 404);
}

static void
test_rename(void **state)
{
	struct fw *fw = *state;
	char *a = fw_create(fw, "ann", "alpine", NULL);
	char *b = fw_create(fw, "bob", "alpine", NULL);
	struct fw_resp *r;

	r = fw_req(fw, "POST", "/containers/ann/rename?name=bob", NULL);
	assert_int_equal(r->status, 409);
	fw_resp_free(r);
	r = fw_req(fw, "POST", "/containers/ann/rename?name=", NULL);
	assert_int_equal(r->status, 400);
	assert_string_equal(
	    fw_msg(r), "Neither old nor new names may be empty");
	fw_resp_free(r);
	assert_int_equal(
	    status_of(fw, "POST", "/containers/ann/rename?name=x%20y"), 400);
	assert_int_equal(
	    status_of(fw, "POST", "/containers/nope/rename?name=z"), 404);
	assert_int_equal(
	    status_of(fw, "POST", "/containers/ann/rename?name=%2Fcyd"), 204);
	assert_int_equal(status_of(fw, "GET", "/containers/ann/json"), 404);
	assert_string_equal(fw_status(fw, "cyd"), "created");
	/* The old name is free again. */
	free(fw_create(fw, "ann", "alpine", NULL));
	check_ps(fw, "all=1", "{\"name\":[\"^cyd$\"]}", "cyd");
	free(a);
	free(b);
}

static void
test_ps_filters(void **state)
{
	struct fw *fw = *state;
	char *web = fw_create(fw, "web", "alpine",
	    "\"Labels\":{\"tier\":\"front\",\"env\":\"prod\"}");
	char *db = fw_create(
	    fw, "dbx", "busybox:1.36", "\"Labels\":{\"tier\":\"back\"}");
	char *job = fw_create(fw, "job", "alpine", NULL);

	fw_start(fw, web);
	fw_start(fw, job);
	fw_exit(fw, job, 2);
	check_ps(fw, "", NULL, "web");
	check_ps(fw, "all=1", NULL, "job dbx web");
	check_ps(fw, "all=1&limit=2", NULL, "job dbx");
	check_ps(fw, "all=1&limit=abc", NULL, "!400");
	check_ps(fw, "all=1", "{\"label\":[\"tier\"]}", "dbx web");
	check_ps(fw, "all=1", "{\"label\":[\"tier=back\"]}", "dbx");
	check_ps(
	    fw, "all=1", "{\"label\":[\"tier=front\",\"env=prod\"]}", "web");
	check_ps(fw, "", "{\"status\":[\"exited\"]}", "job");
	check_ps(fw, "", "{\"status\":[\"created\"]}", "dbx");
	check_ps(fw, "", "{\"status\":[\"bogus\"]}", "!400");
	check_ps(fw, "", "{\"exited\":[\"2\"]}", "job");
	check_ps(fw, "", "{\"exited\":[\"0\"]}", "");
	check_ps(fw, "all=1", "{\"ancestor\":[\"busybox:1.36\"]}", "dbx");
	check_ps(fw, "all=1", "{\"name\":[\"^w\"]}", "web");
	check_ps(fw, "all=1", "{\"name\":[\"(\"]}", "!400");
	check_ps(fw, "all=1", "{\"nosuch\":[\"x\"]}", "!400");
	{
		char *f = xasprintf("{\"id\":[\"%.8s\"]}", db);
		check_ps(fw, "all=1", f, "dbx");
		free(f);
	}
	fw_exit(fw, web, 0);
	free(web);
	free(db);
	free(job);
}

static void
test_summary_and_inspect_shape(void **state)
{
	struct fw *fw = *state;
	char *id = fw_create(fw, "shape", "alpine",
	    "\"Cmd\":[\"echo\",\"hi\"],\"Env\":[\"A=1\"],"
	    "\"ExposedPorts\":{\"80/tcp\":{}}");
	struct fw_resp *r;
	cJSON *o, *s;

	fw_start(fw, id);
	o = fw_inspect(fw, id);
	assert_string_equal(json_str(json_obj(o, "Config"), "Image"), "alpine");
	assert_string_equal(
	    cJSON_GetArrayItem(json_arr(json_obj(o, "Config"), "Cmd"), 1)
		->valuestring,
	    "hi");
	assert_string_equal(json_str(o, "Path"), "echo");
	cJSON_Delete(o);
	r = fw_req(fw, "GET", "/containers/json", NULL);
	s = cJSON_GetArrayItem(r->json, 0);
	assert_string_equal(json_str(s, "Command"), "echo hi");
	assert_string_equal(json_str(s, "State"), "running");
	assert_non_null(strstr(json_str(s, "Status"), "Up"));
	fw_resp_free(r);
	assert_int_equal(
	    status_of(fw, "GET", "/containers/shape/json?size=1"), 200);
	fw_exit(fw, id, 0);
	r = fw_req(fw, "GET", "/containers/json?all=1", NULL);
	s = cJSON_GetArrayItem(r->json, 0);
	assert_non_null(strstr(json_str(s, "Status"), "Exited (0)"));
	fw_resp_free(r);
	free(id);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(
		    test_name_rules, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_generated_names, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_lookup_by_prefix, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rename, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_ps_filters, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_summary_and_inspect_shape, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
