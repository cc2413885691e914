/* The framework's network routes through the fake backend: the predefined
 * networks, create with its checks and subnets, list filters, inspect
 * lookups, remove, prune, the backend's net_* operations and their
 * failures, events, and persistence across a restart. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "fake_backend.h"
#include "sockerless/json.h"
#include "sockerless/str.h"
#include "sockerless/xmalloc.h"

static int
setup(void **state)
{
	struct fw *fw;

	fake_caps[CAP_NETWORKS] = 1;
	fake_net_ops = 0;
	fw = fw_new();
	fw_add_image(fw, "docker.io/library/alpine:latest", "sh");
	fw->autocomplete = 1;
	*state = fw;
	return 0;
}

static int
setup_ops(void **state)
{
	struct fw *fw;

	fake_caps[CAP_NETWORKS] = 1;
	fake_net_ops = 1;
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
	fake_net_ops = 0;
	fake_caps[CAP_NETWORKS] = 0;
	return 0;
}

/* POST /networks/create with body; the status expected; the id (a new
 * string) on 201, else NULL. */
static char *
net_create(struct fw *fw, const char *body, int status, const char *msg)
{
	struct fw_resp *r = fw_req(fw, "POST", "/networks/create", body);
	char *id = NULL;

	if (r->status != status)
		fprintf(stderr, "create %s: %d %s\n", body, r->status, r->body);
	assert_int_equal(r->status, status);
	if (msg != NULL)
		assert_string_equal(fw_msg(r), msg);
	if (status == 201) {
		id = xstrdup(json_str(r->json, "Id"));
		assert_int_equal(strlen(id), 64);
		assert_string_equal(json_str(r->json, "Warning"), "");
	}
	fw_resp_free(r);
	return id;
}

/* The names of GET /networks with filters (JSON or NULL), sorted by the
 * list's order, space-separated; a new string. */
/* A create that must fail (no id to keep). */
static void
net_refused(struct fw *fw, const char *body, int status, const char *msg)
{
	free(net_create(fw, body, status, msg));
}

static char *
net_names(struct fw *fw, const char *filters)
{
	char *enc = filters != NULL ? fw_urlenc(filters) : NULL;
	char *path = xasprintf(
	    "/networks%s%s", enc != NULL ? "?filters=" : "", enc ? enc : "");
	struct fw_resp *r = fw_expect(fw, "GET", path, 200);
	char *out = xstrdup(""), *o;
	const cJSON *it;

	cJSON_ArrayForEach(it, r->json) {
		o = xasprintf(
		    "%s%s%s", out, out[0] ? " " : "", json_str(it, "Name"));
		free(out);
		out = o;
	}
	fw_resp_free(r);
	free(path);
	free(enc);
	return out;
}

static void
check_names(struct fw *fw, const char *filters, const char *want)
{
	char *got = net_names(fw, filters);

	if (strcmp(got, want) != 0)
		fprintf(stderr, "networks %s: got \"%s\"\n",
		    filters ? filters : "", got);
	assert_string_equal(got, want);
	free(got);
}

static void
test_predefined(void **state)
{
	struct fw *fw = *state;
	struct fw_resp *r;
	char bridge_id[65];
	const cJSON *cfg;

	check_names(fw, NULL, "bridge host none");
	r = fw_expect(fw, "GET", "/networks/bridge", 200);
	assert_string_equal(json_str(r->json, "Driver"), "bridge");
	assert_string_equal(json_str(r->json, "Scope"), "local");
	assert_int_equal(strlen(json_str(r->json, "Id")), 64);
	cfg = cJSON_GetArrayItem(
	    json_arr(json_obj(r->json, "IPAM"), "Config"), 0);
	assert_string_equal(json_str(cfg, "Subnet"), "172.17.0.0/16");
	assert_string_equal(json_str(cfg, "Gateway"), "172.17.0.1");
	assert_non_null(json_obj(r->json, "Containers"));
	assert_null(json_obj(r->json, "Sockerless"));
	assert_string_equal(json_str(json_obj(r->json, "Options"),
				"com.docker.network.bridge.default_bridge"),
	    "true");
	str_lcpy(bridge_id, json_str(r->json, "Id"), sizeof(bridge_id));
	fw_resp_free(r);
	r = fw_expect(fw, "GET", "/networks/none", 200);
	assert_string_equal(json_str(r->json, "Driver"), "null");
	fw_resp_free(r);
	r = fw_expect(fw, "GET", "/networks/host", 200);
	assert_string_equal(json_str(r->json, "Driver"), "host");
	fw_resp_free(r);
	/* Predefined networks cannot be made or removed. */
	net_refused(fw, "{\"Name\":\"bridge\"}", 403,
	    "operation is not permitted on predefined bridge network ");
	r = fw_expect(fw, "DELETE", "/networks/host", 403);
	assert_string_equal(
	    fw_msg(r), "host is a pre-defined network and cannot be removed");
	fw_resp_free(r);
	/* Their ids are the instance's, kept across a restart. */
	fw_free(fw, 1);
	*state = fw = fw_reopen(fw);
	r = fw_expect(fw, "GET", "/networks/bridge", 200);
	assert_string_equal(json_str(r->json, "Id"), bridge_id);
	fw_resp_free(r);
	check_names(fw, NULL, "bridge host none");
}

static void
test_create_checks(void **state)
{
	struct fw *fw = *state;
	char *id, *id2, *path, prefix[8];
	struct fw_resp *r;
	const cJSON *cfg;

	id = net_create(fw,
	    "{\"Name\":\"n1\",\"Labels\":{\"k\":\"v\"},\"Internal\":true,"
	    "\"Attachable\":true,\"Options\":{\"o\":\"1\"}}",
	    201, NULL);
	r = fw_expect(fw, "GET", "/networks/n1", 200);
	assert_string_equal(json_str(r->json, "Id"), id);
	assert_string_equal(json_str(r->json, "Driver"), "bridge");
	assert_true(json_bool(r->json, "Internal", 0));
	assert_true(json_bool(r->json, "Attachable", 0));
	assert_string_equal(json_str(json_obj(r->json, "Labels"), "k"), "v");
	assert_string_equal(json_str(json_obj(r->json, "Options"), "o"), "1");
	cfg = cJSON_GetArrayItem(
	    json_arr(json_obj(r->json, "IPAM"), "Config"), 0);
	/* dockerd's first default pool after the bridge's. */
	assert_string_equal(json_str(cfg, "Subnet"), "172.18.0.0/16");
	assert_string_equal(json_str(cfg, "Gateway"), "172.18.0.1");
	assert_string_equal(
	    json_str(json_obj(r->json, "IPAM"), "Driver"), "default");
	fw_resp_free(r);
	/* By id and by unique prefix. */
	path = xasprintf("/networks/%s", id);
	fw_expect_free(fw, "GET", path, 200);
	free(path);
	memcpy(prefix, id, 6);
	prefix[6] = '\0';
	path = xasprintf("/networks/%s", prefix);
	fw_expect_free(fw, "GET", path, 200);
	free(path);
	r = fw_expect(fw, "GET", "/networks/nope", 404);
	assert_string_equal(fw_msg(r), "network nope not found");
	fw_resp_free(r);
	net_refused(fw, "{\"Name\":\"n1\"}", 409,
	    "network with name n1 already exists");
	net_refused(fw, "{\"Name\":\"n1\",\"CheckDuplicate\":true}", 409, NULL);
	net_refused(fw, "{}", 400, NULL);
	net_refused(fw, "{\"Name\":\"x\",\"Driver\":\"overlay\"}", 400, NULL);
	net_refused(fw, "{\"Name\":\"x\",\"EnableIPv6\":true}", 400, NULL);
	net_refused(fw,
	    "{\"Name\":\"x\",\"IPAM\":{\"Config\":[{\"Subnet\":"
	    "\"foo\"}]}}",
	    400, "Invalid subnet foo : invalid CIDR address: foo");
	net_refused(fw,
	    "{\"Name\":\"x\",\"IPAM\":{\"Config\":[{\"Subnet\":"
	    "\"172.18.5.0/24\"}]}}",
	    403, "Pool overlaps with other one on this address space");
	net_refused(fw,
	    "{\"Name\":\"x\",\"IPAM\":{\"Config\":[{\"Subnet\":"
	    "\"10.9.0.0/16\",\"Gateway\":\"10.8.0.1\"}]}}",
	    400, NULL);
	net_refused(
	    fw, "{\"Name\":\"x\",\"IPAM\":{\"Driver\":\"other\"}}", 400, NULL);
	net_refused(fw, "{\"Name\":\"x\",\"Labels\":{\"k\":1}}", 400, NULL);
	/* A given subnet; its gateway defaults to the first address. */
	id2 = net_create(fw,
	    "{\"Name\":\"n2\",\"IPAM\":{\"Config\":[{\"Subnet\":"
	    "\"10.9.0.0/16\",\"IPRange\":\"10.9.1.0/24\"}]}}",
	    201, NULL);
	r = fw_expect(fw, "GET", "/networks/n2", 200);
	cfg = cJSON_GetArrayItem(
	    json_arr(json_obj(r->json, "IPAM"), "Config"), 0);
	assert_string_equal(json_str(cfg, "Gateway"), "10.9.0.1");
	assert_string_equal(json_str(cfg, "IPRange"), "10.9.1.0/24");
	fw_resp_free(r);
	/* The next default skips what is taken. */
	free(net_create(fw, "{\"Name\":\"n3\"}", 201, NULL));
	r = fw_expect(fw, "GET", "/networks/n3", 200);
	cfg = cJSON_GetArrayItem(
	    json_arr(json_obj(r->json, "IPAM"), "Config"), 0);
	assert_string_equal(json_str(cfg, "Subnet"), "172.19.0.0/16");
	fw_resp_free(r);
	free(id);
	free(id2);
}

static void
test_list_filters(void **state)
{
	struct fw *fw = *state;
	char *id, *f;
	struct fw_resp *r;

	id = net_create(
	    fw, "{\"Name\":\"web\",\"Labels\":{\"app\":\"a\"}}", 201, NULL);
	free(net_create(fw, "{\"Name\":\"db\"}", 201, NULL));
	check_names(fw, NULL, "bridge host none web db");
	check_names(fw, "{\"type\":[\"custom\"]}", "web db");
	check_names(fw, "{\"type\":[\"builtin\"]}", "bridge host none");
	check_names(fw, "{\"driver\":[\"bridge\"]}", "bridge web db");
	check_names(fw, "{\"driver\":[\"null\"]}", "none");
	check_names(fw, "{\"name\":[\"we\"]}", "web");
	check_names(fw, "{\"label\":[\"app\"]}", "web");
	check_names(fw, "{\"label\":[\"app=a\"]}", "web");
	check_names(fw, "{\"label\":[\"app=b\"]}", "");
	check_names(fw, "{\"scope\":[\"local\"]}", "bridge host none web db");
	check_names(fw, "{\"scope\":[\"swarm\"]}", "");
	check_names(fw, "{\"dangling\":[\"true\"]}", "web db");
	check_names(fw, "{\"dangling\":[\"false\"]}", "bridge host none");
	f = xasprintf("{\"id\":[\"%.10s\"]}", id);
	check_names(fw, f, "web");
	free(f);
	r = fw_expect(fw, "GET",
	    "/networks?filters=%7B%22type%22%3A%5B%22x%22%5D%7D", 400);
	fw_resp_free(r);
	r = fw_expect(fw, "GET",
	    "/networks?filters=%7B%22nope%22%3A%5B%22x%22%5D%7D", 400);
	fw_resp_free(r);
	/* The list shows no members. */
	r = fw_expect(fw, "GET", "/networks", 200);
	assert_non_null(json_obj(cJSON_GetArrayItem(r->json, 3), "Containers"));
	fw_resp_free(r);
	free(id);
}

/* The actions of the network events, space-separated; a new string. */
static char *
net_events(struct fw *fw, const char *net)
{
	char *f = net != NULL ?
	    xasprintf("{\"type\":[\"network\"],\"network\":[\"%s\"]}", net) :
	    xstrdup("{\"type\":[\"network\"]}");
	char *enc = fw_urlenc(f);
	char *path = xasprintf("/events?since=1&until=%lld&filters=%s",
	    (long long)str_now_ns() / 1000000000LL + 2, enc);
	struct fw_resp *r = fw_expect(fw, "GET", path, 200);
	char *out = xstrdup(""), *line, *save = NULL;

	for (line = strtok_r(r->body, "\n", &save); line != NULL;
	     line = strtok_r(NULL, "\n", &save)) {
		cJSON *ev = cJSON_Parse(line);
		char *o = xasprintf("%s%s%s:%s", out, out[0] ? " " : "",
		    json_str(ev, "Action"),
		    json_str(
			json_obj(json_obj(ev, "Actor"), "Attributes"), "name"));
		assert_string_equal(json_str(ev, "Type"), "network");
		free(out);
		out = o;
		cJSON_Delete(ev);
	}
	fw_resp_free(r);
	free(path);
	free(enc);
	free(f);
	return out;
}

static void
test_remove_prune_events(void **state)
{
	struct fw *fw = *state;
	struct fw_resp *r;
	char *ev;

	free(net_create(fw, "{\"Name\":\"na\"}", 201, NULL));
	free(net_create(
	    fw, "{\"Name\":\"nb\",\"Labels\":{\"keep\":\"1\"}}", 201, NULL));
	free(net_create(fw, "{\"Name\":\"nc\"}", 201, NULL));
	fw_expect_free(fw, "DELETE", "/networks/na", 204);
	/* Names that are not hex digits: no id prefix can match them. */
	fw_expect_free(fw, "DELETE", "/networks/na", 404);
	/* Prune by label: only what matches goes. */
	r = fw_req(fw, "POST",
	    "/networks/prune?filters=%7B%22label!%22%3A%5B%22keep%22%5D%7D",
	    NULL);
	assert_int_equal(r->status, 200);
	assert_int_equal(
	    cJSON_GetArraySize(json_arr(r->json, "NetworksDeleted")), 1);
	assert_string_equal(
	    cJSON_GetArrayItem(json_arr(r->json, "NetworksDeleted"), 0)
		->valuestring,
	    "nc");
	fw_resp_free(r);
	/* until before b was made: nothing. */
	r = fw_req(fw, "POST",
	    "/networks/prune?filters=%7B%22until%22%3A%5B%221000%22%5D%7D",
	    NULL);
	assert_int_equal(r->status, 200);
	assert_true(cJSON_IsNull(json_obj(r->json, "NetworksDeleted")) ||
	    json_arr(r->json, "NetworksDeleted") == NULL);
	fw_resp_free(r);
	r = fw_req(fw, "POST", "/networks/prune", NULL);
	assert_int_equal(r->status, 200);
	assert_int_equal(
	    cJSON_GetArraySize(json_arr(r->json, "NetworksDeleted")), 1);
	fw_resp_free(r);
	check_names(fw, NULL, "bridge host none");
	ev = net_events(fw, NULL);
	assert_string_equal(ev,
	    "create:na create:nb create:nc destroy:na destroy:nc "
	    "destroy:nb");
	free(ev);
	/* The network filter: by name (or id). */
	ev = net_events(fw, "nc");
	assert_string_equal(ev, "create:nc destroy:nc");
	free(ev);
}

/* A backend with net_* operations: they are called, a failed create leaves
 * nothing, what the backend keeps survives a restart. */
static void
test_ops(void **state)
{
	struct fw *fw = *state;
	struct fw_resp *r;
	char *id;

	fw->fail_op = "net_create";
	fw->fail_status = 500;
	r = fw_req(fw, "POST", "/networks/create", "{\"Name\":\"bad\"}");
	assert_int_equal(r->status, 500);
	assert_string_equal(fw_msg(r), "the cloud said no");
	fw_resp_free(r);
	assert_int_equal(fw_count(fw, "net_create"), 1);
	fw_expect_free(fw, "GET", "/networks/bad", 404);
	check_names(fw, NULL, "bridge host none");
	fw->fail_op = NULL;
	id = net_create(fw, "{\"Name\":\"good\"}", 201, NULL);
	assert_int_equal(fw_count(fw, "net_create"), 2);
	/* The private object is not shown. */
	r = fw_expect(fw, "GET", "/networks/good", 200);
	assert_null(json_obj(r->json, "Sockerless"));
	fw_resp_free(r);
	fw_free(fw, 1);
	*state = fw = fw_reopen(fw);
	fw->autocomplete = 1;
	check_names(fw, NULL, "bridge host none good");
	/* A failed remove keeps the network. */
	fw->fail_op = "net_remove";
	fw->fail_status = 409;
	fw_expect_free(fw, "DELETE", "/networks/good", 409);
	fw_expect_free(fw, "GET", "/networks/good", 200);
	fw->fail_op = NULL;
	fw_expect_free(fw, "DELETE", "/networks/good", 204);
	assert_int_equal(fw_count(fw, "net_remove"), 2);
	fw_expect_free(fw, "GET", "/networks/good", 404);
	free(id);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(
		    test_predefined, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_create_checks, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_list_filters, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_remove_prune_events, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ops, setup_ops, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
