/* Relay mode (common/backend/backend_port_relay.c, docs/networks.md)
 * through the fake backend in agent mode with two agents: container "peer"
 * runs the real sockerless-agent with a TCP echo server (the peer side,
 * the `tcp` kind), and container "member"'s link goes to a scripted agent in
 * this test that opens channels with CONNECT, as a member's agent does in
 * relay mode. Ports: SK_TEST_PORT_BASE + 140..149. */
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
#include "sockerless/aglink_wire.h"
#include "sockerless/json.h"
#include "sockerless/xmalloc.h"

static int base_port;
static char server_py[64];

static const char echo_server[] =
    "import os, socket, sys, threading, time\n"
    "def orphan():\n"
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

/* The scripted agent: a WebSocket server the backend dials. */
struct fa {
	int lfd, fd;
	unsigned char in[1 << 20];
	size_t inlen;
	int up; /* answered the upgrade */
	/* what came back on the relay channel */
	uint32_t chan;
	char out[4096];
	size_t outlen;
	int eof, got_result;
	char result[512];
};

static void
fa_send(
    struct fa *f, int type, int stream, uint32_t ch, const void *p, size_t n)
{
	unsigned char hdr[14], lh[AGLINK_HEADER];
	size_t hl = ws_build_header(hdr, WS_BINARY, AGLINK_HEADER + n, NULL);

	aglink_put_header(lh, type, stream, ch);
	assert_int_equal(write(f->fd, hdr, hl), (ssize_t)hl);
	assert_int_equal(write(f->fd, lh, sizeof(lh)), (ssize_t)sizeof(lh));
	if (n > 0)
		assert_int_equal(write(f->fd, p, n), (ssize_t)n);
}

static void
fa_upgrade(struct fa *f)
{
	char *end = memmem(f->in, f->inlen, "\r\n\r\n", 4), *k, acc[29];
	char resp[512], key[64];
	const char *hello = "{\"agent\":\"0.1.0\",\"pid\":1,\"main\":"
			    "{\"running\":true,\"pid\":7,\"exitCode\":null,"
			    "\"tty\":false},\"held\":false}";
	size_t n;

	if (end == NULL)
		return;
	*end = '\0';
	k = strcasestr((char *)f->in, "Sec-WebSocket-Key: ");
	assert_non_null(k);
	n = strcspn(k + 19, "\r\n");
	snprintf(key, sizeof(key), "%.*s", (int)n, k + 19);
	ws_accept_key(key, acc);
	n = (size_t)snprintf(resp, sizeof(resp),
	    "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
	    "Connection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n"
	    "Sec-WebSocket-Protocol: sockerless.v1\r\n\r\n",
	    acc);
	assert_int_equal(write(f->fd, resp, n), (ssize_t)n);
	f->inlen -= (size_t)(end + 4 - (char *)f->in);
	memmove(f->in, end + 4, f->inlen);
	fa_send(f, AGLINK_HELLO, 0, 0, hello, strlen(hello));
	f->up = 1;
}

/* One link message from the backend. */
static void
fa_message(struct fa *f, const unsigned char *p, size_t n)
{
	struct aglink_msg m;
	unsigned char credit[4];

	assert_int_equal(aglink_parse(p, n, &m), 0);
	if (m.type == AGLINK_OPEN) { /* the signal that made the link */
		fa_send(f, AGLINK_RESULT, 0, m.channel, "{}", 2);
		return;
	}
	if (m.channel != f->chan)
		return;
	if (m.type == AGLINK_DATA) {
		assert_int_equal(m.stream, 1);
		assert_true(f->outlen + m.len < sizeof(f->out));
		memcpy(f->out + f->outlen, m.payload, m.len);
		f->outlen += m.len;
		aglink_put_u32(credit, (uint32_t)m.len);
		fa_send(f, AGLINK_CREDIT, 0, m.channel, credit, 4);
	} else if (m.type == AGLINK_EOF) {
		assert_int_equal(m.stream, 1);
		f->eof = 1;
	} else if (m.type == AGLINK_RESULT) {
		snprintf(f->result, sizeof(f->result), "%.*s", (int)m.len,
		    (const char *)m.payload);
		f->got_result = 1;
	}
}

static int
fa_step(struct fw *fw, void *arg)
{
	struct fa *f = arg;
	struct ws_frame fr;
	ssize_t n;

	(void)fw;
	if (f->fd < 0) {
		if ((f->fd = accept(f->lfd, NULL, NULL)) < 0)
			return 0;
		fcntl(f->fd, F_SETFL, 0);
	}
	fcntl(f->fd, F_SETFL, O_NONBLOCK);
	n = read(f->fd, f->in + f->inlen, sizeof(f->in) - f->inlen);
	fcntl(f->fd, F_SETFL, 0);
	if (n > 0)
		f->inlen += (size_t)n;
	if (!f->up)
		fa_upgrade(f);
	while (f->up && ws_parse_header(f->in, f->inlen, &fr) == 1 &&
	    f->inlen >= fr.header_len + fr.len) {
		unsigned char *p = f->in + fr.header_len;
		size_t len = (size_t)fr.len, used = fr.header_len + len;
		if (fr.masked)
			ws_mask(p, len, fr.mask, 0);
		if (fr.opcode == WS_BINARY)
			fa_message(f, p, len);
		f->inlen -= used;
		memmove(f->in, f->in + used, f->inlen);
	}
	return f->got_result;
}

static int
fa_linked(struct fw *fw, void *arg)
{
	struct fa *f = arg;

	fa_step(fw, f);
	return f->up;
}

/* Runs the loop in short turns while the scripted agent steps. */
static void
fa_run(struct fw *fw, struct fa *f, int (*until)(struct fw *, void *))
{
	for (int turn = 0; turn < 10000 && !until(fw, f); turn++)
		fw_run_for(fw, 2);
}

/* An API answer that goes through the scripted agent's link. */
static void
fa_await(struct fw *fw, struct fa *f, struct fw_resp *r, int status)
{
	for (int i = 0; i < 5000 && !r->done; i++) {
		fa_step(fw, f);
		fw_run_for(fw, 2);
	}
	assert_int_equal(r->status, status);
	fw_resp_free(r);
}

static int
fa_listen(struct fa *f, int port)
{
	struct sockaddr_in sa;
	int one = 1;

	memset(f, 0, sizeof(*f));
	f->fd = -1;
	f->lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
	setsockopt(f->lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_port = htons((uint16_t)port);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(f->lfd, (struct sockaddr *)&sa, sizeof(sa)) == -1 ||
	    listen(f->lfd, 4) == -1)
		return -1;
	return 0;
}

/* One CONNECT: sends data and the half-close, waits for the RESULT. */
static void
fa_connect(
    struct fw *fw, struct fa *f, uint32_t ch, const char *req, const char *data)
{
	f->chan = ch;
	f->outlen = 0;
	f->eof = f->got_result = 0;
	fa_send(f, AGLINK_CONNECT, 0, ch, req, strlen(req));
	if (data != NULL) {
		fa_send(f, AGLINK_DATA, 0, ch, data, strlen(data));
		fa_send(f, AGLINK_EOF, 0, ch, NULL, 0);
	}
	fa_run(fw, f, fa_step);
	assert_true(f->got_result);
}

static int
setup(void **state)
{
	const char *b = getenv("SK_TEST_PORT_BASE");
	struct fw *fw;
	FILE *fp;

	base_port = (b != NULL && atoi(b) > 0 ? atoi(b) : 35100) + 140;
	snprintf(server_py, sizeof(server_py), "/tmp/t_fw_ports_relay.%d.py",
	    (int)getpid());
	if ((fp = fopen(server_py, "w")) == NULL)
		return -1;
	fputs(echo_server, fp);
	fclose(fp);
	fake_agent_mode = 1;
	fake_caps[CAP_EXEC] = fake_caps[CAP_SIGNALS] = 1;
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

static int
echo_up(int port)
{
	struct sockaddr_in sa;
	int fd = socket(AF_INET, SOCK_STREAM, 0), ok;

	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_port = htons((uint16_t)port);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ok = connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0;
	close(fd);
	return ok;
}

static void
test_relay(void **state)
{
	struct fw *fw = *state;
	int echo = base_port, refused = base_port + 1;
	char *body =
	    xasprintf("\"Cmd\":[\"python3\",\"%s\",\"%d\"]", server_py, echo);
	char *idb = fw_create(fw, "peer", "alpine", body), *ida, req[128];
	struct fw_resp *top;
	struct container *ca;
	struct fa *f = xmalloc(sizeof(*f));

	fw_start(fw, idb);
	for (int i = 0; i < 200 && !echo_up(echo); i++)
		fw_run_for(fw, 50);
	assert_true(echo_up(echo));
	ida = fw_create(fw, "member", "alpine", "\"Cmd\":[\"sleep\",\"60\"]");
	fw_start(fw, ida);
	/* a's link goes to the scripted agent. */
	assert_int_equal(fa_listen(f, base_port + 2), 0);
	ca = fw_find(fw, ida);
	json_set(container_private(ca), "FakePort",
	    cJSON_CreateNumber(base_port + 2));
	top = fw_send(fw, "POST", "/containers/member/kill?signal=USR1", NULL);
	fa_run(fw, f, fa_linked);
	assert_true(f->up);

	/* Bytes both ways and the half-closes. */
	snprintf(req, sizeof(req), "{\"peer\":\"peer\",\"port\":%d}", echo);
	fa_connect(fw, f, AGLINK_AGENT_CHAN | 1, req, "ping");
	assert_string_equal(f->result, "{}");
	assert_true(f->eof);
	assert_int_equal(f->outlen, 9);
	assert_memory_equal(f->out, "ping<eof>", 9);

	/* By short id too. */
	snprintf(
	    req, sizeof(req), "{\"peer\":\"%.12s\",\"port\":%d}", idb, echo);
	fa_connect(fw, f, AGLINK_AGENT_CHAN | 2, req, "by id");
	assert_memory_equal(f->out, "by id<eof>", 10);

	/* A peer port nobody listens on: the peer agent's 502. */
	snprintf(req, sizeof(req), "{\"peer\":\"peer\",\"port\":%d}", refused);
	fa_connect(fw, f, AGLINK_AGENT_CHAN | 3, req, NULL);
	assert_non_null(strstr(f->result, "\"status\":502"));
	assert_non_null(strstr(f->result, "connection refused"));

	/* A peer on no network of the member's: the relay would carry the
	 * connection past the isolation. */
	free(fw_create(fw, "loner", "alpine",
	    "\"Cmd\":[\"sleep\",\"60\"],"
	    "\"HostConfig\":{\"NetworkMode\":\"none\"}"));
	snprintf(req, sizeof(req), "{\"peer\":\"loner\",\"port\":%d}", echo);
	fa_connect(fw, f, AGLINK_AGENT_CHAN | 6, req, NULL);
	assert_non_null(strstr(f->result, "\"status\":404"));
	assert_non_null(
	    strstr(f->result, "no container named loner on your networks"));

	/* A peer that does not exist, then one that does not run. */
	fa_connect(fw, f, AGLINK_AGENT_CHAN | 4,
	    "{\"peer\":\"nosuch\",\"port\":80}", NULL);
	assert_non_null(strstr(f->result, "\"status\":404"));
	fw_expect_free(fw, "POST", "/containers/peer/kill", 204);
	for (int i = 0; i < 200 && strcmp(fw_status(fw, idb), "exited") != 0;
	     i++)
		fw_run_for(fw, 20);
	assert_string_equal(fw_status(fw, idb), "exited");
	snprintf(req, sizeof(req), "{\"peer\":\"peer\",\"port\":%d}", echo);
	fa_connect(fw, f, AGLINK_AGENT_CHAN | 5, req, NULL);
	assert_non_null(strstr(f->result, "\"status\":503"));
	assert_non_null(strstr(f->result, "is not running"));

	fa_await(fw, f, top, 204);
	close(f->fd);
	close(f->lfd);
	free(f);
	free(body);
	free(ida);
	free(idb);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_relay),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
