/* Published ports (common/backend/backend_port*.c) through the fake
 * backend in agent mode: the workload is a small TCP server under the
 * real sockerless-agent, and the test connects to the host port the
 * backend publishes, so each connection crosses the agent link as a `tcp`
 * channel. Ports: SK_TEST_PORT_BASE + 110..139 (the agents use +50..89). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "fake_backend.h"
#include "sockerless/json.h"
#include "sockerless/xmalloc.h"

static int base_port;
static char server_py[64];

/* Echoes each connection to its end, then writes "<eof>" and closes: the
 * client sees its own half-close come back after its data. */
static const char echo_server[] =
    "import os, socket, sys, threading, time\n"
    "def orphan():\n" /* a failed test leaves no server behind */
    "    while os.getppid() != 1:\n"
    "        time.sleep(0.2)\n"
    "    os._exit(0)\n"
    "threading.Thread(target=orphan, daemon=True).start()\n"
    "def serve(s):\n"
    "    while True:\n"
    "        d = s.recv(65536)\n"
    "        if not d:\n"
    "            break\n"
    "        s.sendall(d)\n"
    "    s.sendall(b'<eof>')\n"
    "    s.close()\n"
    "ls = socket.socket()\n"
    "ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n"
    "ls.bind(('127.0.0.1', int(sys.argv[1])))\n"
    "ls.listen(64)\n"
    "while True:\n"
    "    c, _ = ls.accept()\n"
    "    threading.Thread(target=serve, args=(c,), daemon=True).start()\n";

static int
setup(void **state)
{
	const char *b = getenv("SK_TEST_PORT_BASE");
	struct fw *fw;
	FILE *f;

	base_port = (b != NULL && atoi(b) > 0 ? atoi(b) : 35100) + 110;
	snprintf(server_py, sizeof(server_py), "/tmp/t_fw_ports.%d.py",
	    (int)getpid());
	if ((f = fopen(server_py, "w")) == NULL)
		return -1;
	fputs(echo_server, f);
	fclose(f);
	fake_agent_mode = 1;
	fake_caps[CAP_EXEC] = fake_caps[CAP_ATTACH] = 1;
	fake_caps[CAP_PUBLISH] = fake_caps[CAP_AGENT_REQUIRED] = 1;
	fw = fw_new();
	fw_add_image(fw, "docker.io/library/alpine:latest", "sh");
	*state = fw;
	return 0;
}

static int
teardown(void **state)
{
	fw_free(*state, 0);
	unlink(server_py);
	return 0;
}

/* A container serving echo on cport with extra create members. */
static char *
run_echo(struct fw *fw, const char *name, int cport, const char *extra)
{
	char *body = xasprintf("\"Cmd\":[\"python3\",\"%s\",\"%d\"],"
			       "\"ExposedPorts\":{\"%d/tcp\":{}},%s",
	    server_py, cport, cport, extra);
	char *id = fw_create(fw, name, "alpine", body);

	free(body);
	fw_start(fw, id);
	return id;
}

static const cJSON *
ports_of(const cJSON *doc)
{
	return json_obj(json_obj(doc, "NetworkSettings"), "Ports");
}

static int
status_is_exited(struct fw *fw, void *arg)
{
	return strcmp(fw_status(fw, arg), "exited") == 0;
}

static void
kill_wait(struct fw *fw, const char *name)
{
	char *p = xasprintf("/containers/%s/kill", name);

	fw_expect_free(fw, "POST", p, 204);
	assert_true(fw_run_until_fn(fw, status_is_exited, (void *)name));
	free(p);
}

/* A client connection driven from the backend's loop (in turns of a few
 * ms: the loop alone would wait for the backend's events while the
 * backend waits for this client to read). */
struct cl {
	int fd;
	const char *out;
	size_t outlen, sent;
	char *in;
	size_t inlen, incap;
	int eof, err, shut;
};

static int
cl_step(struct fw *fw, void *arg)
{
	struct cl *c = arg;
	ssize_t n;

	(void)fw;
	while (c->sent < c->outlen &&
	    (n = write(c->fd, c->out + c->sent, c->outlen - c->sent)) > 0)
		c->sent += (size_t)n;
	if (c->sent == c->outlen && !c->shut) {
		c->shut = 1;
		shutdown(c->fd, SHUT_WR);
	}
	for (;;) {
		if (c->inlen + 65536 > c->incap)
			c->in =
			    xrealloc(c->in, c->incap = c->inlen + 65536 * 4);
		n = read(c->fd, c->in + c->inlen, 65536);
		if (n > 0) {
			c->inlen += (size_t)n;
			continue;
		}
		if (n == 0)
			c->eof = 1;
		else if (errno != EAGAIN)
			c->err = errno;
		break;
	}
	return c->eof || c->err;
}

/* Steps clients c[0..n) until each has ended, 30 s at most. */
static void
cl_run(struct fw *fw, struct cl *c, int n)
{
	for (int turn = 0; turn < 30000 / 2; turn++) {
		int left = 0;
		for (int i = 0; i < n; i++)
			left += !cl_step(fw, &c[i]);
		if (left == 0)
			return;
		fw_run_for(fw, 2);
	}
}

static int
cl_connect(int port)
{
	struct sockaddr_in sa;
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_port = htons((uint16_t)port);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == -1) {
		close(fd);
		return -1;
	}
	fcntl(fd, F_SETFL, O_NONBLOCK);
	return fd;
}

/* Sends data through port, half-closes, reads to the end; tries again
 * while the workload's server is not listening yet (the connection then
 * ends empty). The answer (a new buffer) or NULL. */
static char *
roundtrip(struct fw *fw, int port, const char *data, size_t n, size_t *len)
{
	for (int tries = 0; tries < 100; tries++) {
		struct cl c = { .out = data, .outlen = n };
		if ((c.fd = cl_connect(port)) == -1) {
			print_message(
			    "connecting to %d: %s\n", port, strerror(errno));
			return NULL;
		}
		cl_run(fw, &c, 1);
		close(c.fd);
		if (c.inlen > 0) {
			*len = c.inlen;
			return c.in;
		}
		free(c.in);
		fw_run_for(fw, 100);
	}
	return NULL;
}

static void
test_publish_roundtrip(void **state)
{
	struct fw *fw = *state;
	int cport = base_port, hport = base_port + 1;
	char *extra =
	    xasprintf("\"HostConfig\":{\"PortBindings\":{\"%d/tcp\":"
		      "[{\"HostIp\":\"127.0.0.1\",\"HostPort\":\"%d\"}]}}",
		cport, hport);
	char *id = run_echo(fw, "pub", cport, extra), *out, key[16], hp[16];
	cJSON *doc = fw_inspect(fw, id);
	const cJSON *b;
	size_t len;

	snprintf(key, sizeof(key), "%d/tcp", cport);
	snprintf(hp, sizeof(hp), "%d", hport);
	b = cJSON_GetArrayItem(
	    cJSON_GetObjectItemCaseSensitive(ports_of(doc), key), 0);
	assert_non_null(b);
	assert_string_equal(json_str(b, "HostIp"), "127.0.0.1");
	assert_string_equal(json_str(b, "HostPort"), hp);
	cJSON_Delete(doc);
	out = roundtrip(fw, hport, "hello", 5, &len);
	assert_non_null(out);
	assert_int_equal(len, 10);
	assert_memory_equal(out, "hello<eof>", 10);
	free(out);
	/* More than the link's window both ways: credit flows. */
	{
		size_t big = 3 * 1024 * 1024;
		char *data = xmalloc(big);
		for (size_t i = 0; i < big; i++)
			data[i] = (char)('a' + i % 26);
		out = roundtrip(fw, hport, data, big, &len);
		assert_non_null(out);
		assert_int_equal(len, big + 5);
		assert_memory_equal(out, data, big);
		free(out);
		free(data);
	}
	kill_wait(fw, "pub");
	/* Stopped: nothing listens, nothing is reported. */
	assert_int_equal(cl_connect(hport), -1);
	doc = fw_inspect(fw, id);
	assert_int_equal(cJSON_GetArraySize(json_obj(
			     json_obj(doc, "NetworkSettings"), "Ports")),
	    0);
	cJSON_Delete(doc);
	/* Started again: published again. */
	fw_start(fw, id);
	out = roundtrip(fw, hport, "again", 5, &len);
	assert_non_null(out);
	assert_memory_equal(out, "again<eof>", 10);
	free(out);
	kill_wait(fw, "pub");
	fw_expect_free(fw, "DELETE", "/containers/pub", 204);
	free(extra);
	free(id);
}

/* Many connections at once, each its own channel. */
static void
test_concurrent(void **state)
{
	struct fw *fw = *state;
	int cport = base_port + 2, hport = base_port + 3;
	char *extra = xasprintf("\"HostConfig\":{\"PortBindings\":{\"%d/tcp\":"
				"[{\"HostPort\":\"%d\"}]}}",
	    cport, hport);
	char *id = run_echo(fw, "many", cport, extra), *out;
	struct cl c[16];
	char msg[16][32];
	size_t len;

	/* The server is up once one round trip works. */
	out = roundtrip(fw, hport, "x", 1, &len);
	assert_non_null(out);
	free(out);
	for (int i = 0; i < 16; i++) {
		memset(&c[i], 0, sizeof(c[i]));
		snprintf(msg[i], sizeof(msg[i]), "connection %d", i);
		c[i].out = msg[i];
		c[i].outlen = strlen(msg[i]);
		c[i].fd = cl_connect(hport);
		assert_true(c[i].fd >= 0);
	}
	cl_run(fw, c, 16);
	for (int i = 0; i < 16; i++) {
		size_t m = strlen(msg[i]);
		assert_int_equal(c[i].inlen, m + 5);
		assert_memory_equal(c[i].in, msg[i], m);
		assert_memory_equal(c[i].in + m, "<eof>", 5);
		close(c[i].fd);
		free(c[i].in);
	}
	kill_wait(fw, "many");
	fw_expect_free(fw, "DELETE", "/containers/many", 204);
	free(extra);
	free(id);
}

/* An address that cannot be had fails the start, as dockerd's does, and
 * nothing runs or listens. */
static void
test_bind_conflict(void **state)
{
	struct fw *fw = *state;
	int hport = base_port + 4;
	struct sockaddr_in sa;
	int hold = socket(AF_INET, SOCK_STREAM, 0), one = 1;
	char *body =
	    xasprintf("\"Cmd\":[\"sleep\",\"60\"],"
		      "\"HostConfig\":{\"PortBindings\":{\"80/tcp\":"
		      "[{\"HostIp\":\"127.0.0.1\",\"HostPort\":\"%d\"}]}}",
		hport);
	char *id = fw_create(fw, "clash", "alpine", body), *id2;
	struct fw_resp *r;

	setsockopt(hold, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_port = htons((uint16_t)hport);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(hold, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(hold, 1), 0);
	r = fw_req(fw, "POST", "/containers/clash/start", NULL);
	assert_int_equal(r->status, 500);
	print_message("%s\n", fw_msg(r));
	assert_non_null(strstr(fw_msg(r),
	    "driver failed programming external connectivity on endpoint "
	    "clash"));
	assert_non_null(strstr(fw_msg(r), "address already in use"));
	fw_resp_free(r);
	assert_string_equal(fw_status(fw, id), "created");
	close(hold);
	/* Held by another running container of ours: dockerd's words. */
	fw_start(fw, id);
	id2 = fw_create(fw, "clash2", "alpine", body);
	r = fw_req(fw, "POST", "/containers/clash2/start", NULL);
	assert_int_equal(r->status, 500);
	assert_non_null(strstr(fw_msg(r), "port is already allocated"));
	fw_resp_free(r);
	assert_string_equal(fw_status(fw, id2), "created");
	kill_wait(fw, "clash");
	fw_expect_free(fw, "DELETE", "/containers/clash", 204);
	fw_expect_free(fw, "DELETE", "/containers/clash2", 204);
	free(body);
	free(id);
	free(id2);
}

/* -P: every exposed port on a port the kernel picks. */
static void
test_publish_all(void **state)
{
	struct fw *fw = *state;
	int cport = base_port + 5;
	char *id = run_echo(
	    fw, "all", cport, "\"HostConfig\":{\"PublishAllPorts\":true}");
	cJSON *doc = fw_inspect(fw, id);
	const cJSON *b;
	char key[16], *out;
	long long hp = 0;
	size_t len;

	snprintf(key, sizeof(key), "%d/tcp", cport);
	b = cJSON_GetArrayItem(
	    cJSON_GetObjectItemCaseSensitive(ports_of(doc), key), 0);
	assert_non_null(b);
	assert_string_equal(json_str(b, "HostIp"), "0.0.0.0");
	hp = atoll(json_str(b, "HostPort"));
	assert_true(hp > 1024 && hp < 65536);
	cJSON_Delete(doc);
	out = roundtrip(fw, (int)hp, "any", 3, &len);
	assert_non_null(out);
	assert_memory_equal(out, "any<eof>", 8);
	free(out);
	kill_wait(fw, "all");
	fw_expect_free(fw, "DELETE", "/containers/all", 204);
	free(id);
}

static void
test_refused_at_create(void **state)
{
	struct fw *fw = *state;
	struct fw_resp *r;

	r = fw_req(fw, "POST", "/containers/create?name=udp",
	    "{\"Image\":\"alpine\",\"HostConfig\":{\"PortBindings\":"
	    "{\"53/udp\":[{\"HostPort\":\"5353\"}]}}}");
	assert_int_equal(r->status, 400);
	assert_non_null(strstr(fw_msg(r), "53/udp"));
	assert_non_null(strstr(fw_msg(r), "TCP ports only"));
	fw_resp_free(r);
	r = fw_req(fw, "POST", "/containers/create?name=badip",
	    "{\"Image\":\"alpine\",\"HostConfig\":{\"PortBindings\":"
	    "{\"80/tcp\":[{\"HostIp\":\"localhost\",\"HostPort\":\"80\"}]}}}");
	assert_int_equal(r->status, 400);
	fw_resp_free(r);
	/* Exposed UDP without a binding is fine, as before. */
	free(fw_create(
	    fw, "udpexp", "alpine", "\"ExposedPorts\":{\"53/udp\":{}}"));
	fw_expect_free(fw, "DELETE", "/containers/udpexp", 204);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_publish_roundtrip),
		cmocka_unit_test(test_concurrent),
		cmocka_unit_test(test_bind_conflict),
		cmocka_unit_test(test_publish_all),
		cmocka_unit_test(test_refused_at_create),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
