/* The names view's pushes (OPEN "names" on the agent link) through the
 * fake backend, with agents the test serves itself on loopback ports
 * SK_TEST_PORT_BASE + 90..93: each records the requests it gets and
 * answers {}. A start, an exit, a rename, a connect, a disconnect and a
 * reconnect of the link each send the whole current view. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/listener.h>

#include "fake_backend.h"
#include "sockerless/aglink.h"
#include "sockerless/aglink_wire.h"
#include "sockerless/json.h"
#include "sockerless/str.h"
#include "sockerless/xmalloc.h"

#define NREC 3

/* One container's recording agent. */
struct rec {
	int port;
	struct evconnlistener *lis;
	struct bufferevent *conn;
	int upgraded;
	int accepts;
	cJSON *names; /* the last view received, or NULL */
	int pushes;
};

static struct rec recs[NREC];

static void
rec_send(struct rec *r, int type, uint32_t chan, const char *s)
{
	size_t n = strlen(s);
	unsigned char h[14], m[AGLINK_HEADER];
	size_t hl = ws_build_header(h, WS_BINARY, AGLINK_HEADER + n, NULL);

	aglink_put_header(m, type, 0, chan);
	bufferevent_write(r->conn, h, hl);
	bufferevent_write(r->conn, m, sizeof(m));
	bufferevent_write(r->conn, s, n);
}

static void
rec_handshake(struct rec *r, struct evbuffer *in)
{
	struct evbuffer_ptr end = evbuffer_search(in, "\r\n\r\n", 4, NULL);
	char *req, *key, accept[29];

	if (end.pos < 0)
		return;
	req = xmalloc((size_t)end.pos + 5);
	evbuffer_remove(in, req, (size_t)end.pos + 4);
	req[end.pos + 4] = '\0';
	key = strcasestr(req, "Sec-WebSocket-Key: ");
	assert_non_null(key);
	key += strlen("Sec-WebSocket-Key: ");
	key[strcspn(key, "\r")] = '\0';
	ws_accept_key(key, accept);
	free(req);
	evbuffer_add_printf(bufferevent_get_output(r->conn),
	    "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
	    "Connection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n"
	    "Sec-WebSocket-Protocol: " AGLINK_PROTOCOL "\r\n\r\n",
	    accept);
	r->upgraded = 1;
	rec_send(r, AGLINK_HELLO, 0,
	    "{\"agent\":\"0.1.0\",\"pid\":1,\"held\":false}");
}

/* A whole message from the backend (masked, as a client's). */
static void
rec_message(struct rec *r, unsigned char *p, size_t n)
{
	struct aglink_msg m;
	cJSON *j;

	if (aglink_parse(p, n, &m) == -1 || m.type != AGLINK_OPEN)
		return;
	j = cJSON_ParseWithLength((const char *)m.payload, m.len);
	assert_non_null(j);
	if (strcmp(json_str(j, "kind"), "names") == 0) {
		cJSON_Delete(r->names);
		r->names = cJSON_DetachItemFromObject(j, "names");
		assert_true(cJSON_IsObject(r->names));
		r->pushes++;
	}
	cJSON_Delete(j);
	rec_send(r, AGLINK_RESULT, m.channel, "{}");
}

static void
rec_read(struct bufferevent *bev, void *arg)
{
	struct rec *r = arg;
	struct evbuffer *in = bufferevent_get_input(bev);
	struct ws_frame f;
	unsigned char *p;
	size_t have;

	if (!r->upgraded)
		rec_handshake(r, in);
	while (r->upgraded && (have = evbuffer_get_length(in)) > 0) {
		p = evbuffer_pullup(in, have < 14 ? (ev_ssize_t)have : 14);
		if (ws_parse_header(p, have < 14 ? have : 14, &f) != 1 ||
		    have < f.header_len + f.len)
			return;
		p = evbuffer_pullup(in, (ev_ssize_t)(f.header_len + f.len));
		if (f.masked)
			ws_mask(p + f.header_len, f.len, f.mask, 0);
		if (f.opcode == WS_BINARY)
			rec_message(r, p + f.header_len, f.len);
		evbuffer_drain(in, f.header_len + f.len);
	}
}

static void
rec_drop(struct rec *r)
{
	if (r->conn != NULL)
		bufferevent_free(r->conn);
	r->conn = NULL;
	r->upgraded = 0;
}

static void
rec_event(struct bufferevent *bev, short what, void *arg)
{
	(void)bev;
	if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR))
		rec_drop(arg);
}

static void
rec_accept(struct evconnlistener *lis, evutil_socket_t fd, struct sockaddr *sa,
    int sl, void *arg)
{
	struct rec *r = arg;

	(void)sa;
	(void)sl;
	rec_drop(r);
	r->accepts++;
	r->conn = bufferevent_socket_new(
	    evconnlistener_get_base(lis), fd, BEV_OPT_CLOSE_ON_FREE);
	bufferevent_setcb(r->conn, rec_read, NULL, rec_event, r);
	bufferevent_enable(r->conn, EV_READ | EV_WRITE);
}

static int
setup(void **state)
{
	const char *base = getenv("SK_TEST_PORT_BASE");
	int p = base != NULL && atoi(base) > 0 ? atoi(base) : 35100;
	struct sockaddr_in sin;
	struct fw *fw;

	fake_caps[CAP_NETWORKS] = 1;
	fake_caps[CAP_EXEC] = 1;
	fake_recorder_mode = 1;
	fw = fw_new();
	fw_add_image(fw, "docker.io/library/alpine:latest", "sh");
	fw->autocomplete = 1;
	for (int i = 0; i < NREC; i++) {
		memset(&recs[i], 0, sizeof(recs[i]));
		recs[i].port = p + 90 + i;
		memset(&sin, 0, sizeof(sin));
		sin.sin_family = AF_INET;
		sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		sin.sin_port = htons((uint16_t)recs[i].port);
		recs[i].lis =
		    evconnlistener_new_bind(backend_base(fw->b), rec_accept,
			&recs[i], LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE, 16,
			(struct sockaddr *)&sin, sizeof(sin));
		assert_non_null(recs[i].lis);
	}
	*state = fw;
	return 0;
}

static int
teardown(void **state)
{
	for (int i = 0; i < NREC; i++) {
		rec_drop(&recs[i]);
		evconnlistener_free(recs[i].lis);
		cJSON_Delete(recs[i].names);
	}
	fw_free(*state, 0);
	fake_recorder_mode = 0;
	fake_caps[CAP_NETWORKS] = 0;
	fake_caps[CAP_EXEC] = 0;
	return 0;
}

/* Creates a container served by recs[i], with its agent token. */
static char *
make(struct fw *fw, int i, const char *name, const char *extra)
{
	char *id = fw_create(fw, name, "alpine", extra);
	struct container *c = fw_find(fw, id);
	struct err e;

	json_set(
	    container_private(c), "FakePort", cJSON_CreateNumber(recs[i].port));
	cJSON_Delete(backend_agent_run_env(fw->b, c, &e));
	return id;
}

static void
run_at(struct fw *fw, const char *id, const char *ip)
{
	fw_start(fw, id);
	backend_container_set_address(fw->b, fw_find(fw, id), ip);
}

/* What recs[i]'s view must say: name resolves to ip (ip NULL: the name
 * does not resolve). */
struct want {
	int i;
	const char *name, *ip;
};

static int
view_is(struct fw *fw, void *arg)
{
	const struct want *w = arg;
	const cJSON *list = json_arr(recs[w->i].names, w->name), *it;

	(void)fw;
	if (recs[w->i].names == NULL)
		return 0;
	if (w->ip == NULL)
		return list == NULL;
	cJSON_ArrayForEach(it, list) {
		if (strcmp(it->valuestring, w->ip) == 0)
			return 1;
	}
	return 0;
}

static void
expect_view(struct fw *fw, int i, const char *name, const char *ip)
{
	struct want w = { i, name, ip };

	if (!fw_run_until_fn(fw, view_is, &w)) {
		char *s = recs[i].names ? json_print(recs[i].names) : NULL;
		fprintf(stderr, "agent %d: %s -> %s not seen; view %s\n", i,
		    name, ip ? ip : "(nothing)", s ? s : "none");
		free(s);
		fail();
	}
}

static void
test_pushes(void **state)
{
	struct fw *fw = *state;
	char *a, *b, *c, *path, *body, sid[13];
	struct fw_resp *r;
	int before;

	r = fw_req(fw, "POST", "/networks/create", "{\"Name\":\"n1\"}");
	assert_int_equal(r->status, 201);
	fw_resp_free(r);
	r = fw_req(fw, "POST", "/networks/create", "{\"Name\":\"n2\"}");
	assert_int_equal(r->status, 201);
	fw_resp_free(r);
	a = make(fw, 0, "aa", "\"HostConfig\":{\"NetworkMode\":\"n1\"}");
	b = make(fw, 1, "bb",
	    "\"HostConfig\":{\"NetworkMode\":\"n1\"},\"NetworkingConfig\":{"
	    "\"EndpointsConfig\":{\"n1\":{\"Aliases\":[\"svc\"]}}}");
	c = make(fw, 2, "cc", "\"HostConfig\":{\"NetworkMode\":\"n2\"}");
	/* A member's own name once its address is known. */
	run_at(fw, a, "10.0.0.1");
	expect_view(fw, 0, "aa", "10.0.0.1");
	/* A peer starts: both get the view. */
	run_at(fw, b, "10.0.0.2");
	memcpy(sid, b, 12);
	sid[12] = '\0';
	expect_view(fw, 0, "svc", "10.0.0.2");
	expect_view(fw, 0, sid, "10.0.0.2");
	expect_view(fw, 1, "aa", "10.0.0.1");
	/* Another network's member: not in a's view. */
	run_at(fw, c, "10.0.0.3");
	expect_view(fw, 2, "cc", "10.0.0.3");
	assert_null(json_arr(recs[0].names, "cc"));
	assert_null(json_arr(recs[2].names, "aa"));
	/* A rename. */
	path = xasprintf("/containers/%s/rename?name=bee", b);
	fw_expect_free(fw, "POST", path, 204);
	free(path);
	expect_view(fw, 0, "bee", "10.0.0.2");
	expect_view(fw, 0, "bb", NULL);
	/* A running connect and disconnect (the backend's net_connect). */
	body = xasprintf("{\"Container\":\"%s\"}", c);
	r = fw_req(fw, "POST", "/networks/n1/connect", body);
	assert_int_equal(r->status, 200);
	fw_resp_free(r);
	expect_view(fw, 0, "cc", "10.0.0.3");
	expect_view(fw, 2, "aa", "10.0.0.1");
	r = fw_req(fw, "POST", "/networks/n1/disconnect", body);
	assert_int_equal(r->status, 200);
	fw_resp_free(r);
	expect_view(fw, 0, "cc", NULL);
	expect_view(fw, 2, "aa", NULL);
	free(body);
	/* A peer exits. */
	fw_exit(fw, b, 0);
	expect_view(fw, 0, "svc", NULL);
	/* The link drops; the next change reaches a over a new link, and
	 * the reconnect itself sends the view again. */
	assert_int_equal(recs[0].accepts, 1);
	rec_drop(&recs[0]);
	fw_run_for(fw, 100);
	before = recs[0].pushes;
	fw_start(fw, b);
	backend_container_set_address(fw->b, fw_find(fw, b), "10.0.0.4");
	expect_view(fw, 0, "bee", "10.0.0.4");
	assert_int_equal(recs[0].accepts, 2);
	assert_true(recs[0].pushes > before);
	fw_exit(fw, a, 0);
	fw_exit(fw, b, 0);
	fw_exit(fw, c, 0);
	free(a);
	free(b);
	free(c);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_pushes, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
