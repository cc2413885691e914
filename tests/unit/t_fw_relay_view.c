/* Relay mode's view (common/backend/backend_net_relay.c,
 * backend_net_relay_self in backend_net_ep.c): what the names push gives a
 * member: the running containers of its user networks with their names
 * (container name, short id, aliases on the shared networks, the member's
 * legacy links' aliases) and their TCP ports (ExposedPorts and
 * PortBindings) and UDP ports (ExposedPorts), and its own names at 127.0.0.1.
 * Through the fake backend without agents; the push itself is t_fw_relay.c's.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../../common/backend/backend_net.h"
#include "fake_backend.h"
#include "sockerless/json.h"
#include "sockerless/xmalloc.h"

static int
setup(void **state)
{
	struct fw *fw;

	fake_caps[CAP_NETWORKS] = fake_caps[CAP_PUBLISH] = 1;
	fw = fw_new();
	fw_add_image(fw, "docker.io/library/alpine:latest", "sh");
	*state = fw;
	return 0;
}

static int
teardown(void **state)
{
	fw_free(*state, 0);
	return 0;
}

static void
net_create(struct fw *fw, const char *name)
{
	char *body = xasprintf("{\"Name\":\"%s\"}", name);
	struct fw_resp *r = fw_req(fw, "POST", "/networks/create", body);

	assert_int_equal(r->status, 201);
	fw_resp_free(r);
	free(body);
}

/* The peer entry of id in peers, or NULL. */
static const cJSON *
peer_of(const cJSON *peers, const char *id)
{
	const cJSON *p;

	cJSON_ArrayForEach(p, peers) {
		if (strcmp(json_str(p, "id"), id) == 0)
			return p;
	}
	return NULL;
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

static int
has_num(const cJSON *arr, int n)
{
	const cJSON *it;

	cJSON_ArrayForEach(it, arr) {
		if (cJSON_IsNumber(it) && it->valueint == n)
			return 1;
	}
	return 0;
}

static void
test_view(void **state)
{
	struct fw *fw = *state;
	char *srv, *cli, *other, *stopped, sid[13];
	const cJSON *p;
	cJSON *peers, *self;

	net_create(fw, "rnet");
	net_create(fw, "onet");
	srv = fw_create(fw, "srv", "alpine",
	    "\"ExposedPorts\":{\"5432/tcp\":{},\"53/udp\":{}},"
	    "\"HostConfig\":{\"NetworkMode\":\"rnet\",\"PortBindings\":{"
	    "\"8080/tcp\":[{\"HostIp\":\"127.0.0.1\",\"HostPort\":\"\"}]}},"
	    "\"NetworkingConfig\":{\"EndpointsConfig\":{\"rnet\":{"
	    "\"Aliases\":[\"db\"]}}}");
	fw_start(fw, srv);
	cli = fw_create(fw, "cli", "alpine",
	    "\"HostConfig\":{\"NetworkMode\":\"rnet\","
	    "\"Links\":[\"srv:legacy\"]},"
	    "\"NetworkingConfig\":{\"EndpointsConfig\":{\"rnet\":{"
	    "\"Aliases\":[\"front\"]}}}");
	fw_start(fw, cli);
	other = fw_create(
	    fw, "other", "alpine", "\"HostConfig\":{\"NetworkMode\":\"onet\"}");
	fw_start(fw, other);
	stopped = fw_create(fw, "stopped", "alpine",
	    "\"HostConfig\":{\"NetworkMode\":\"rnet\"}");

	peers = backend_net_relay_peers(fw->b, fw_find(fw, cli));
	/* srv only: not the member itself, not another network's, not one
	 * that does not run. */
	assert_int_equal(cJSON_GetArraySize(peers), 1);
	assert_non_null(p = peer_of(peers, srv));
	memcpy(sid, srv, 12);
	sid[12] = '\0';
	assert_true(has_str(json_arr(p, "names"), "srv"));
	assert_true(has_str(json_arr(p, "names"), sid));
	assert_true(has_str(json_arr(p, "names"), "db"));
	assert_true(has_str(json_arr(p, "names"), "legacy"));
	/* TCP ports of EXPOSE/--expose and of the bindings; the UDP ones of
	 * EXPOSE/--expose in "udp". */
	assert_true(has_num(json_arr(p, "ports"), 5432));
	assert_true(has_num(json_arr(p, "ports"), 8080));
	assert_int_equal(cJSON_GetArraySize(json_arr(p, "ports")), 2);
	assert_true(has_num(json_arr(p, "udp"), 53));
	assert_int_equal(cJSON_GetArraySize(json_arr(p, "udp")), 1);
	cJSON_Delete(peers);

	/* The other way round: cli's names, but no link alias of srv's. */
	peers = backend_net_relay_peers(fw->b, fw_find(fw, srv));
	assert_non_null(p = peer_of(peers, cli));
	assert_true(has_str(json_arr(p, "names"), "front"));
	assert_false(has_str(json_arr(p, "names"), "legacy"));
	assert_int_equal(cJSON_GetArraySize(json_arr(p, "ports")), 0);
	assert_null(json_arr(p, "udp")); /* none: not sent */
	cJSON_Delete(peers);

	/* Another network's container sees none of them. */
	peers = backend_net_relay_peers(fw->b, fw_find(fw, other));
	assert_int_equal(cJSON_GetArraySize(peers), 0);
	cJSON_Delete(peers);

	/* A member's own names answer 127.0.0.1. */
	self = backend_net_relay_self(fw_find(fw, cli));
	assert_string_equal(
	    cJSON_GetArrayItem(json_arr(self, "cli"), 0)->valuestring,
	    "127.0.0.1");
	assert_non_null(json_arr(self, "front"));
	cJSON_Delete(self);

	/* The peer's workload ends: it leaves the view. */
	fw_exit(fw, srv, 0);
	peers = backend_net_relay_peers(fw->b, fw_find(fw, cli));
	assert_int_equal(cJSON_GetArraySize(peers), 0);
	cJSON_Delete(peers);

	free(srv);
	free(cli);
	free(other);
	free(stopped);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_view),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
