/* Containers on networks through the fake backend: endpoints at create,
 * inspect and ps, network inspect's members, connect and disconnect,
 * the names view and SOCKERLESS_NET, and what survives a restart. */
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
setup_with(void **state, int caps, int ops)
{
	struct fw *fw;

	fake_caps[CAP_NETWORKS] = caps;
	fake_net_ops = ops;
	fw = fw_new();
	fw_add_image(fw, "docker.io/library/alpine:latest", "sh");
	fw->autocomplete = 1;
	*state = fw;
	return 0;
}

static int
setup(void **state)
{
	return setup_with(state, 1, 0);
}

static int
setup_ops(void **state)
{
	return setup_with(state, 1, 1);
}

static int
setup_nocap(void **state)
{
	return setup_with(state, 0, 0);
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

static void
mknet(struct fw *fw, const char *name)
{
	char *body = xasprintf("{\"Name\":\"%s\"}", name);
	struct fw_resp *r = fw_req(fw, "POST", "/networks/create", body);

	assert_int_equal(r->status, 201);
	fw_resp_free(r);
	free(body);
}

/* Starts id and gives its workload the address ip, as a backend does. */
static void
run_at(struct fw *fw, const char *id, const char *ip)
{
	fw_start(fw, id);
	backend_container_set_address(fw->b, fw_find(fw, id), ip);
}

static const cJSON *
endpoint(const cJSON *inspect, const char *net)
{
	return json_obj(
	    json_obj(json_obj(inspect, "NetworkSettings"), "Networks"), net);
}

static int
has_str(const cJSON *arr, const char *s)
{
	const cJSON *it;

	cJSON_ArrayForEach(it, arr) {
		if (cJSON_IsString(it) && strcmp(it->valuestring, s) == 0)
			return 1;
	}
	return 0;
}

static void
create_fails(struct fw *fw, const char *extra, int status, const char *msg)
{
	char *body = xasprintf("{\"Image\":\"alpine\",%s}", extra);
	struct fw_resp *r = fw_req(fw, "POST", "/containers/create", body);

	if (r->status != status)
		fprintf(
		    stderr, "create %s: %d %s\n", extra, r->status, r->body);
	assert_int_equal(r->status, status);
	if (msg != NULL)
		assert_non_null(strstr(fw_msg(r), msg));
	fw_resp_free(r);
	free(body);
}

/* The actions of network net's events, space-separated; a new string. */
static char *
net_actions(struct fw *fw, const char *net)
{
	char *f = xasprintf("{\"network\":[\"%s\"]}", net), *enc = fw_urlenc(f);
	char *path = xasprintf("/events?since=1&until=%lld&filters=%s",
	    (long long)str_now_ns() / 1000000000LL + 2, enc);
	struct fw_resp *r = fw_expect(fw, "GET", path, 200);
	char *out = xstrdup(""), *line, *save = NULL, *o;

	for (line = strtok_r(r->body, "\n", &save); line != NULL;
	     line = strtok_r(NULL, "\n", &save)) {
		cJSON *ev = cJSON_Parse(line);
		o = xasprintf(
		    "%s%s%s", out, out[0] ? " " : "", json_str(ev, "Action"));
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
test_modes(void **state)
{
	struct fw *fw = *state;
	char *id;
	cJSON *in;

	id = fw_create(fw, "plain", "alpine", NULL);
	in = fw_inspect(fw, id);
	assert_non_null(endpoint(in, "bridge"));
	assert_int_equal(
	    strlen(json_str(endpoint(in, "bridge"), "NetworkID")), 64);
	cJSON_Delete(in);
	run_at(fw, id, "10.0.0.5");
	in = fw_inspect(fw, id);
	assert_string_equal(
	    json_str(json_obj(in, "NetworkSettings"), "IPAddress"), "10.0.0.5");
	assert_string_equal(
	    json_str(endpoint(in, "bridge"), "IPAddress"), "10.0.0.5");
	assert_string_equal(
	    json_str(endpoint(in, "bridge"), "Gateway"), "172.17.0.1");
	assert_string_equal(
	    json_str(json_obj(in, "NetworkSettings"), "Gateway"), "172.17.0.1");
	assert_int_equal(
	    strlen(json_str(endpoint(in, "bridge"), "EndpointID")), 64);
	cJSON_Delete(in);
	fw_exit(fw, id, 0);
	in = fw_inspect(fw, id);
	assert_string_equal(json_str(endpoint(in, "bridge"), "EndpointID"), "");
	cJSON_Delete(in);
	free(id);
	create_fails(fw, "\"HostConfig\":{\"NetworkMode\":\"host\"}", 400,
	    "--network host cannot be honoured");
	create_fails(fw, "\"HostConfig\":{\"NetworkMode\":\"container:x\"}",
	    400, "--network container:<name>");
	create_fails(fw, "\"HostConfig\":{\"NetworkMode\":\"nonet\"}", 404,
	    "network nonet not found");
	/* none: an endpoint of the none network, never an address. */
	id = fw_create(
	    fw, "lo", "alpine", "\"HostConfig\":{\"NetworkMode\":\"none\"}");
	run_at(fw, id, "10.0.0.6");
	in = fw_inspect(fw, id);
	assert_non_null(endpoint(in, "none"));
	assert_null(endpoint(in, "bridge"));
	assert_string_equal(json_str(endpoint(in, "none"), "IPAddress"), "");
	assert_string_equal(
	    json_str(json_obj(in, "NetworkSettings"), "IPAddress"), "");
	cJSON_Delete(in);
	create_fails(fw,
	    "\"HostConfig\":{\"NetworkMode\":\"none\"},\"NetworkingConfig\":{"
	    "\"EndpointsConfig\":{\"bridge\":{}}}",
	    400, NULL);
	fw_exit(fw, id, 0);
	free(id);
}

static void
test_user_network(void **state)
{
	struct fw *fw = *state;
	char *web, *db, *path, *msg, sid[13];
	struct fw_resp *r;
	const cJSON *ep, *m;
	cJSON *in;

	mknet(fw, "app");
	create_fails(fw,
	    "\"NetworkingConfig\":{\"EndpointsConfig\":{\"bridge\":{"
	    "\"Aliases\":[\"x\"]}}}",
	    400, "network-scoped alias");
	create_fails(fw,
	    "\"HostConfig\":{\"NetworkMode\":\"app\"},\"NetworkingConfig\":{"
	    "\"EndpointsConfig\":{\"app\":{\"IPAMConfig\":{\"IPv4Address\":"
	    "\"172.18.0.9\"}}}}",
	    400, "cannot give a container the address");
	web = fw_create(fw, "web", "alpine",
	    "\"HostConfig\":{\"NetworkMode\":\"app\"},\"NetworkingConfig\":{"
	    "\"EndpointsConfig\":{\"app\":{\"Aliases\":[\"www\"]}}}");
	/* API 1.44: every network of EndpointsConfig. */
	db = fw_create(fw, "db", "alpine",
	    "\"NetworkingConfig\":{\"EndpointsConfig\":{\"app\":{}}}");
	in = fw_inspect(fw, db);
	assert_non_null(endpoint(in, "bridge"));
	assert_non_null(endpoint(in, "app"));
	cJSON_Delete(in);
	run_at(fw, web, "10.0.1.1");
	in = fw_inspect(fw, web);
	ep = endpoint(in, "app");
	memcpy(sid, web, 12);
	sid[12] = '\0';
	assert_string_equal(json_str(ep, "IPAddress"), "10.0.1.1");
	assert_string_equal(json_str(ep, "Gateway"), "172.18.0.1");
	assert_true(has_str(json_arr(ep, "Aliases"), "www"));
	assert_true(has_str(json_arr(ep, "Aliases"), sid));
	assert_true(has_str(json_arr(ep, "DNSNames"), "web"));
	assert_true(has_str(json_arr(ep, "DNSNames"), "www"));
	assert_true(has_str(json_arr(ep, "DNSNames"), sid));
	assert_string_equal(json_str(ep, "MacAddress"), "");
	/* Not on the default bridge: no top-level address. */
	assert_string_equal(
	    json_str(json_obj(in, "NetworkSettings"), "IPAddress"), "");
	cJSON_Delete(in);
	/* Members: running containers only. */
	r = fw_expect(fw, "GET", "/networks/app", 200);
	m = json_obj(json_obj(r->json, "Containers"), web);
	assert_non_null(m);
	assert_string_equal(json_str(m, "Name"), "web");
	assert_string_equal(json_str(m, "IPv4Address"), "10.0.1.1/32");
	assert_null(json_obj(json_obj(r->json, "Containers"), db));
	fw_resp_free(r);
	r = fw_expect(fw, "DELETE", "/networks/app", 409);
	assert_non_null(strstr(fw_msg(r), "has active endpoints"));
	fw_resp_free(r);
	/* ps's network filter, by name and id. */
	r = fw_expect(fw, "GET",
	    "/containers/json?all=1&filters=%7B%22network%22%3A%5B%22app%22%"
	    "5D%7D",
	    200);
	assert_int_equal(cJSON_GetArraySize(r->json), 2);
	assert_non_null(json_obj(
	    json_obj(
		json_obj(cJSON_GetArrayItem(r->json, 0), "NetworkSettings"),
		"Networks"),
	    "app"));
	fw_resp_free(r);
	r = fw_expect(fw, "GET",
	    "/containers/json?all=1&filters=%7B%22network%22%3A%5B%22bridge%"
	    "22%5D%7D",
	    200);
	assert_int_equal(cJSON_GetArraySize(r->json), 1);
	fw_resp_free(r);
	/* A rename: DNSNames follow. */
	path = xasprintf("/containers/%s/rename?name=web2", web);
	fw_expect_free(fw, "POST", path, 204);
	free(path);
	in = fw_inspect(fw, web);
	assert_true(has_str(json_arr(endpoint(in, "app"), "DNSNames"), "web2"));
	assert_false(has_str(json_arr(endpoint(in, "app"), "DNSNames"), "web"));
	cJSON_Delete(in);
	fw_exit(fw, web, 0);
	fw_expect_free(fw, "DELETE", "/networks/app", 204);
	/* dockerd's endpoint events: connect at start, disconnect at exit. */
	{
		char *ev = net_actions(fw, "app");
		assert_string_equal(ev, "create connect disconnect destroy");
		free(ev);
	}
	/* A member whose network went away cannot start, as with dockerd. */
	in = fw_inspect(fw, db);
	msg = xasprintf(
	    "network %s not found", json_str(endpoint(in, "app"), "NetworkID"));
	cJSON_Delete(in);
	path = xasprintf("/containers/%s/start", db);
	r = fw_expect(fw, "POST", path, 404);
	assert_string_equal(fw_msg(r), msg);
	fw_resp_free(r);
	free(path);
	free(msg);
	/* A new network of the same name is another network. */
	mknet(fw, "app");
	path = xasprintf("/containers/%s/start", db);
	fw_expect_free(fw, "POST", path, 404);
	free(path);
	free(web);
	free(db);
}

/* SOCKERLESS_NET of a run (parsed), from the run env. */
static cJSON *
run_net(struct fw *fw, const char *id)
{
	struct err e;
	cJSON *env = backend_agent_run_env(fw->b, fw_find(fw, id), &e), *o;
	const cJSON *it;

	assert_non_null(env);
	o = NULL;
	cJSON_ArrayForEach(it, env) {
		if (str_prefix(it->valuestring, "SOCKERLESS_NET="))
			o = cJSON_Parse(it->valuestring + 15);
	}
	cJSON_Delete(env);
	assert_non_null(o);
	return o;
}

static int
resolves(const cJSON *net, const char *name, const char *ip)
{
	return has_str(json_arr(json_obj(net, "names"), name), ip);
}

static void
test_names_view(void **state)
{
	struct fw *fw = *state;
	char *a, *b, *c, *d, sid[13];
	cJSON *net;

	mknet(fw, "n1");
	mknet(fw, "n2");
	a = fw_create(fw, "alpha", "alpine",
	    "\"Hostname\":\"h1\",\"Domainname\":\"example.com\","
	    "\"HostConfig\":{\"NetworkMode\":\"n1\",\"ExtraHosts\":["
	    "\"gw:10.9.9.9\"],\"Dns\":[\"10.0.0.2\"],\"DnsSearch\":["
	    "\"example.com\"],\"DnsOptions\":[\"ndots:2\"]}");
	b = fw_create(fw, "Beta", "alpine",
	    "\"HostConfig\":{\"NetworkMode\":\"n1\"},\"NetworkingConfig\":{"
	    "\"EndpointsConfig\":{\"n1\":{\"Aliases\":[\"svc\"]}}}");
	c = fw_create(fw, "gamma", "alpine",
	    "\"HostConfig\":{\"NetworkMode\":\"n2\"},\"NetworkingConfig\":{"
	    "\"EndpointsConfig\":{\"n2\":{\"Aliases\":[\"svc\"]}}}");
	d = fw_create(fw, "delta", "alpine",
	    "\"HostConfig\":{\"NetworkMode\":\"n1\"},\"NetworkingConfig\":{"
	    "\"EndpointsConfig\":{\"n1\":{\"Aliases\":[\"svc\"]}}}");
	run_at(fw, b, "10.0.0.2");
	run_at(fw, c, "10.0.0.3");
	run_at(fw, d, "10.0.0.4");
	net = run_net(fw, a);
	assert_string_equal(json_str(net, "hostname"), "h1");
	assert_string_equal(json_str(net, "domainname"), "example.com");
	assert_true(json_bool(net, "resolver", 0));
	assert_true(has_str(json_arr(net, "dns"), "10.0.0.2"));
	assert_true(has_str(json_arr(net, "dns_search"), "example.com"));
	assert_true(has_str(json_arr(net, "dns_options"), "ndots:2"));
	assert_string_equal(
	    json_str(cJSON_GetArrayItem(json_arr(net, "hosts"), 0), "ip"),
	    "10.9.9.9");
	/* Names are lower-case; an alias on two members gives both. */
	memcpy(sid, b, 12);
	sid[12] = '\0';
	assert_true(resolves(net, "beta", "10.0.0.2"));
	assert_true(resolves(net, sid, "10.0.0.2"));
	assert_true(resolves(net, "svc", "10.0.0.2"));
	assert_true(resolves(net, "svc", "10.0.0.4"));
	assert_false(resolves(net, "svc", "10.0.0.3"));
	assert_null(json_arr(json_obj(net, "names"), "gamma"));
	cJSON_Delete(net);
	/* A peer that exits leaves the view. */
	fw_exit(fw, d, 0);
	net = run_net(fw, a);
	assert_false(resolves(net, "svc", "10.0.0.4"));
	assert_null(json_arr(json_obj(net, "names"), "delta"));
	cJSON_Delete(net);
	/* A large view stays out of the environment (the push brings it). */
	for (int i = 0; i < 120; i++) {
		char nm[48], *id;
		snprintf(nm, sizeof(nm), "peer-with-a-long-name-%03d", i);
		id = fw_create(fw, nm, "alpine",
		    "\"HostConfig\":{\"NetworkMode\":\"n1\"}");
		fw_start(fw, id);
		backend_container_set_address(
		    fw->b, fw_find(fw, id), "10.1.0.1");
		free(id);
	}
	net = run_net(fw, a);
	assert_null(json_obj(net, "names"));
	assert_true(json_bool(net, "resolver", 0));
	cJSON_Delete(net);
	/* On the default bridge: no resolver, no names. */
	free(d);
	d = fw_create(fw, "plain", "alpine", NULL);
	net = run_net(fw, d);
	assert_false(json_bool(net, "resolver", 0));
	assert_int_equal(cJSON_GetArraySize(json_obj(net, "names")), 0);
	cJSON_Delete(net);
	fw_exit(fw, b, 0);
	fw_exit(fw, c, 0);
	free(a);
	free(b);
	free(c);
	free(d);
}

static void
test_links(void **state)
{
	struct fw *fw = *state;
	char *db, *app;
	cJSON *env;
	struct err e;
	const cJSON *it;
	int found = 0;

	db = fw_create(fw, "pg", "alpine",
	    "\"ExposedPorts\":{\"5432/tcp\":{}},\"Env\":[\"PGUSER=u\"]");
	run_at(fw, db, "10.0.2.2");
	create_fails(fw, "\"HostConfig\":{\"Links\":[\"nope:x\"]}", 400,
	    "could not get container for nope: No such container: nope");
	app = fw_create(fw, "app", "alpine",
	    "\"HostConfig\":{\"Links\":[\"pg:database\"]}");
	/* Stored as dockerd stores it. */
	{
		cJSON *in = fw_inspect(fw, app);
		assert_string_equal(
		    cJSON_GetArrayItem(
			json_arr(json_obj(in, "HostConfig"), "Links"), 0)
			->valuestring,
		    "/pg:/app/database");
		cJSON_Delete(in);
	}
	env = backend_agent_run_env(fw->b, fw_find(fw, app), &e);
	cJSON_ArrayForEach(it, env) {
		const char *s = it->valuestring;
		if (strcmp(s, "DATABASE_PORT_5432_TCP=tcp://10.0.2.2:5432") ==
			0 ||
		    strcmp(s, "DATABASE_PORT=tcp://10.0.2.2:5432") == 0 ||
		    strcmp(s, "DATABASE_NAME=/app/database") == 0 ||
		    strcmp(s, "DATABASE_ENV_PGUSER=u") == 0 ||
		    strcmp(s, "DATABASE_PORT_5432_TCP_ADDR=10.0.2.2") == 0)
			found++;
		if (str_prefix(s, "SOCKERLESS_NET="))
			assert_non_null(strstr(s, "\"database\",\"pg\""));
	}
	assert_int_equal(found, 5);
	cJSON_Delete(env);
	fw_exit(fw, db, 0);
	free(db);
	free(app);
}

static void
test_connect(void **state)
{
	struct fw *fw = *state;
	struct fw_resp *r;
	char *id, *body;
	cJSON *in;

	mknet(fw, "n1");
	id = fw_create(fw, "cc", "alpine", NULL);
	body = xasprintf("{\"Container\":\"%s\",\"EndpointConfig\":{"
			 "\"Aliases\":[\"x\"]}}",
	    id);
	fw_expect_free(fw, "POST", "/networks/n1/connect", 400);
	r = fw_req(fw, "POST", "/networks/n1/connect", body);
	assert_int_equal(r->status, 200);
	fw_resp_free(r);
	in = fw_inspect(fw, id);
	assert_true(has_str(json_arr(endpoint(in, "n1"), "Aliases"), "x"));
	cJSON_Delete(in);
	r = fw_req(fw, "POST", "/networks/n1/connect", body);
	assert_int_equal(r->status, 409);
	assert_string_equal(
	    fw_msg(r), "endpoint with name cc already exists in network n1");
	fw_resp_free(r);
	r = fw_req(fw, "POST", "/networks/host/connect", body);
	assert_int_equal(r->status, 400);
	fw_resp_free(r);
	r = fw_req(fw, "POST", "/networks/nope/connect", body);
	assert_int_equal(r->status, 404);
	fw_resp_free(r);
	r = fw_req(
	    fw, "POST", "/networks/n1/connect", "{\"Container\":\"nobody\"}");
	assert_int_equal(r->status, 404);
	fw_resp_free(r);
	free(body);
	body = xasprintf("{\"Container\":\"%s\"}", id);
	r = fw_req(fw, "POST", "/networks/n1/disconnect", body);
	assert_int_equal(r->status, 200);
	fw_resp_free(r);
	r = fw_req(fw, "POST", "/networks/n1/disconnect", body);
	assert_int_equal(r->status, 403);
	fw_resp_free(r);
	/* Running, on a backend without net_connect: refused. */
	run_at(fw, id, "10.0.3.3");
	r = fw_req(fw, "POST", "/networks/n1/connect", body);
	assert_int_equal(r->status, 501);
	assert_non_null(strstr(fw_msg(r), "stop the container"));
	fw_resp_free(r);
	fw_exit(fw, id, 0);
	free(body);
	free(id);
}

static void
test_connect_running_ops(void **state)
{
	struct fw *fw = *state;
	struct fw_resp *r;
	char *id, *body;
	cJSON *in;

	mknet(fw, "n1");
	id = fw_create(fw, "cr", "alpine", NULL);
	run_at(fw, id, "10.0.4.4");
	body = xasprintf("{\"Container\":\"%s\"}", id);
	r = fw_req(fw, "POST", "/networks/n1/connect", body);
	assert_int_equal(r->status, 200);
	fw_resp_free(r);
	assert_int_equal(fw_count(fw, "net_connect"), 1);
	in = fw_inspect(fw, id);
	assert_string_equal(
	    json_str(endpoint(in, "n1"), "IPAddress"), "10.0.4.4");
	cJSON_Delete(in);
	fw->fail_op = "net_disconnect";
	fw->fail_status = 500;
	r = fw_req(fw, "POST", "/networks/n1/disconnect", body);
	assert_int_equal(r->status, 500);
	fw_resp_free(r);
	fw->fail_op = NULL;
	in = fw_inspect(fw, id);
	assert_non_null(endpoint(in, "n1"));
	cJSON_Delete(in);
	r = fw_req(fw, "POST", "/networks/n1/disconnect", body);
	assert_int_equal(r->status, 200);
	fw_resp_free(r);
	in = fw_inspect(fw, id);
	assert_null(endpoint(in, "n1"));
	cJSON_Delete(in);
	fw_exit(fw, id, 0);
	free(body);
	free(id);
}

static void
test_persist(void **state)
{
	struct fw *fw = *state;
	char *id, nid[65];
	struct fw_resp *r;
	cJSON *in;

	mknet(fw, "keep");
	r = fw_expect(fw, "GET", "/networks/keep", 200);
	str_lcpy(nid, json_str(r->json, "Id"), sizeof(nid));
	fw_resp_free(r);
	id = fw_create(fw, "kc", "alpine",
	    "\"HostConfig\":{\"NetworkMode\":\"keep\"},\"NetworkingConfig\":{"
	    "\"EndpointsConfig\":{\"keep\":{\"Aliases\":[\"k1\"]}}}");
	fw_free(fw, 1);
	*state = fw = fw_reopen(fw);
	r = fw_expect(fw, "GET", "/networks/keep", 200);
	assert_string_equal(json_str(r->json, "Id"), nid);
	fw_resp_free(r);
	in = fw_inspect(fw, id);
	assert_string_equal(json_str(endpoint(in, "keep"), "NetworkID"), nid);
	assert_true(has_str(json_arr(endpoint(in, "keep"), "Aliases"), "k1"));
	cJSON_Delete(in);
	free(id);
}

static void
test_no_capability(void **state)
{
	struct fw *fw = *state;

	/* The predefined networks exist everywhere. */
	fw_expect_free(fw, "GET", "/networks/bridge", 200);
	free(fw_create(
	    fw, "ok", "alpine", "\"HostConfig\":{\"NetworkMode\":\"bridge\"}"));
	/* The frontend gates network create; the backend's record is what a
	 * create names. */
	mknet(fw, "u");
	create_fails(fw, "\"HostConfig\":{\"NetworkMode\":\"u\"}", 501, NULL);
	create_fails(fw,
	    "\"NetworkingConfig\":{\"EndpointsConfig\":{\"u\":{}}}", 501, NULL);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_modes, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_user_network, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_names_view, setup, teardown),
		cmocka_unit_test_setup_teardown(test_links, setup, teardown),
		cmocka_unit_test_setup_teardown(test_connect, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_connect_running_ops, setup_ops, teardown),
		cmocka_unit_test_setup_teardown(test_persist, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_no_capability, setup_nocap, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
