/* Relay mode end to end through the fake backend (BACKEND_REACH_RELAY) in
 * agent mode: every container runs the real sockerless-agent on this
 * machine, so they all share one host network, as workloads on the GCP
 * simulator do. A member's agent gives each peer a loopback address of its
 * own (127.A.B.N, A.B from the member's id), answers the peer's names with
 * it in its resolver and listens there on the peer's exposed ports; a
 * connection there is carried over both links by the backend. A running
 * container connected to the network later gets the peers at once, and
 * loses them when disconnected. Run over
 * forward links and over reverse links. UDP the same way: a datagram to
 * the peer's name and port comes back from the peer's server (which
 * appends "|<the source port it saw>"), boundaries kept, one flow per
 * local source, an idle flow closed (the next datagram gets a new one). The
 * test plays the member's client: it asks the member's resolver
 * (SOCKERLESS_DNS_LISTEN, the fake's 127.0.0.3:<agent port>) and connects to
 * the answer. Ports: SK_TEST_PORT_BASE + 150..159. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
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

static const char echo_server[] =
    "import os, socket, sys, threading, time\n"
    "def orphan():\n"
    "    while os.getppid() != 1:\n"
    "        time.sleep(0.2)\n"
    "    os._exit(0)\n"
    "threading.Thread(target=orphan, daemon=True).start()\n"
    "us = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n"
    "us.bind(('127.0.0.1', int(sys.argv[1])))\n"
    "def userve():\n"
    "    while True:\n"
    "        d, a = us.recvfrom(65536)\n"
    "        us.sendto(d + b'|' + str(a[1]).encode(), a)\n"
    "threading.Thread(target=userve, daemon=True).start()\n"
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
setup_mode(void **state, int reverse)
{
	const char *b = getenv("SK_TEST_PORT_BASE");
	struct fw *fw;
	FILE *fp;

	base_port = (b != NULL && atoi(b) > 0 ? atoi(b) : 35100) + 150;
	snprintf(server_py, sizeof(server_py), "/tmp/t_fw_relay.%d.py",
	    (int)getpid());
	if ((fp = fopen(server_py, "w")) == NULL)
		return -1;
	fputs(echo_server, fp);
	fclose(fp);
	fake_agent_mode = 1;
	fake_agent_reverse = reverse;
	fake_caps[CAP_EXEC] = fake_caps[CAP_SIGNALS] = 1;
	fake_caps[CAP_AGENT_REQUIRED] = fake_caps[CAP_NETWORKS] = 1;
	fw = fw_new();
	fw_add_image(fw, "docker.io/library/alpine:latest", "sh");
	*state = fw;
	return 0;
}

static int
setup_forward(void **state)
{
	return setup_mode(state, 0);
}

static int
setup_reverse(void **state)
{
	return setup_mode(state, 1);
}

static int
teardown(void **state)
{
	fw_free(*state, 0);
	unlink(server_py);
	return 0;
}

/* The resolver port of container id's agent (the fake's FakePort). */
static int
dns_port(struct fw *fw, const char *id)
{
	struct container *c = fw_find(fw, id);

	assert_non_null(c);
	return (int)json_int(container_private(c), "FakePort", 0);
}

/* An A query for name to 127.0.0.3:port: the first address answered
 * (network order), 0 when there is none. */
static uint32_t
dns_ask(int port, const char *name)
{
	unsigned char q[300], a[1024];
	struct sockaddr_in sa;
	struct pollfd pfd;
	size_t n = 12, an;
	const char *p = name;
	ssize_t got;
	uint32_t addr = 0;
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	memset(q, 0, sizeof(q));
	q[0] = 0x12, q[1] = 0x34, q[2] = 0x01, q[5] = 1;
	while (*p != '\0') {
		size_t l = strcspn(p, ".");
		q[n++] = (unsigned char)l;
		memcpy(q + n, p, l);
		n += l;
		p += l + (p[l] == '.');
	}
	q[n++] = 0;
	q[n++] = 0, q[n++] = 1, q[n++] = 0, q[n++] = 1;
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_port = htons((uint16_t)port);
	inet_pton(AF_INET, "127.0.0.3", &sa.sin_addr);
	sendto(fd, q, n, 0, (struct sockaddr *)&sa, sizeof(sa));
	pfd.fd = fd;
	pfd.events = POLLIN;
	if (poll(&pfd, 1, 3000) == 1 &&
	    (got = recv(fd, a, sizeof(a), 0)) >= (ssize_t)(n + 16)) {
		an = (size_t)a[6] << 8 | a[7];
		/* The first answer follows the question: a pointer, type,
		 * class, TTL, length 4, the address. */
		if (an > 0 && (a[3] & 0x0f) == 0)
			memcpy(&addr, a + n + 12, 4);
	}
	close(fd);
	return addr;
}

struct resolves {
	int port;
	const char *name;
	int want; /* 1: an answer; 0: none */
	uint32_t addr;
};

static int
resolves_as_wanted(struct fw *fw, void *arg)
{
	struct resolves *r = arg;

	(void)fw;
	r->addr = dns_ask(r->port, r->name);
	return (r->addr != 0) == r->want;
}

/* Polls the resolver of member's agent for name until it answers (want)
 * or stops answering (!want), running the backend meanwhile. */
static uint32_t
resolve(struct fw *fw, const char *member, const char *name, int want)
{
	struct resolves r = { dns_port(fw, member), name, want, 0 };

	assert_true(fw_run_until_fn(fw, resolves_as_wanted, &r));
	return r.addr;
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

/* Connects to addr:port, sends data, half-closes and reads until the
 * other side closes, running the backend meanwhile (it carries the
 * bytes). The bytes read, in a new string; NULL when the connection was
 * refused. */
static char *
talk(struct fw *fw, uint32_t addr, int port, const char *data)
{
	struct sockaddr_in sa;
	char *out = xmalloc(4096);
	size_t len = 0;
	ssize_t n;
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), turn;

	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_port = htons((uint16_t)port);
	sa.sin_addr.s_addr = addr;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == -1) {
		close(fd);
		free(out);
		return NULL;
	}
	assert_int_equal(write(fd, data, strlen(data)), (ssize_t)strlen(data));
	shutdown(fd, SHUT_WR);
	fcntl(fd, F_SETFL, O_NONBLOCK);
	for (turn = 0; turn < 2000; turn++) {
		n = read(fd, out + len, 4095 - len);
		if (n == 0)
			break;
		if (n > 0)
			len += (size_t)n;
		else if (errno != EAGAIN)
			break;
		fw_run_for(fw, 5);
	}
	out[len] = '\0';
	close(fd);
	return out;
}

static char *
make(struct fw *fw, const char *name, const char *cmd, const char *net,
    const char *more)
{
	char *body = xasprintf("\"Cmd\":%s,\"HostConfig\":{\"NetworkMode\":"
			       "\"%s\"}%s",
	    cmd, net, more != NULL ? more : "");
	char *id = fw_create(fw, name, "alpine", body);

	free(body);
	fw_start(fw, id);
	return id;
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

/* Endpoint net of running container id in relay mode: up, no address. */
static void
assert_relay_ep(struct fw *fw, const char *id, const char *net)
{
	struct container *c = fw_find(fw, id);
	const cJSON *ep, *it;
	int sid = 0;

	assert_non_null(c);
	ep = json_obj(
	    json_obj(json_obj(container_doc(c), "NetworkSettings"), "Networks"),
	    net);
	assert_non_null(ep);
	assert_non_null(json_str(ep, "EndpointID"));
	assert_int_equal(strlen(json_str(ep, "EndpointID")), 64);
	assert_non_null(json_str(ep, "IPAddress"));
	assert_string_equal(json_str(ep, "IPAddress"), "");
	assert_int_equal(json_int(ep, "IPPrefixLen", -1), 0);
	assert_null(json_str(ep, "Gateway"));
	cJSON_ArrayForEach(it, json_arr(ep, "Aliases")) {
		if (strncmp(it->valuestring, id, 12) == 0)
			sid = 1;
	}
	assert_true(sid);
}

/* POST /networks/rnet/<what> for container name, answered 200. */
static void
conn(struct fw *fw, const char *what, const char *name)
{
	char *path = xasprintf("/networks/rnet/%s", what);
	char *body = xasprintf("{\"Container\":\"%s\"}", name);
	struct fw_resp *r = fw_req(fw, "POST", path, body);

	assert_int_equal(r->status, 200);
	fw_resp_free(r);
	free(path);
	free(body);
}

/* The address a member gives its peers: 127.A.B.N, A.B from its id. */
static void
assert_own_range(uint32_t addr, const char *member)
{
	unsigned char *o = (unsigned char *)&addr;
	unsigned a, b;

	sscanf(member, "%2x%2x", &a, &b);
	assert_int_equal(o[0], 127);
	assert_int_equal(o[1], 1 + a % 255);
	assert_int_equal(o[2], b);
	assert_true(o[3] >= 2);
}

static void
test_relay(void **state)
{
	struct fw *fw = *state;
	int port = base_port;
	char *cmd = xasprintf("[\"python3\",\"%s\",\"%d\"]", server_py, port);
	char *more =
	    xasprintf(",\"ExposedPorts\":{\"%d/tcp\":{}},\"NetworkingConfig\":{"
		      "\"EndpointsConfig\":{\"rnet\":{\"Aliases\":[\"db\"]}}}",
		port);
	const char *sleep = "[\"sleep\",\"60\"]";
	char *srv, *cli, *cli2, *other, *got, sid[13];
	uint32_t addr, addr2;

	net_create(fw, "rnet");
	net_create(fw, "onet");
	srv = make(fw, "srv", cmd, "rnet", more);
	for (int i = 0; i < 200 && !echo_up(port); i++)
		fw_run_for(fw, 50);
	assert_true(echo_up(port));
	cli = make(fw, "cli", sleep, "rnet", NULL);
	other = make(fw, "other", sleep, "onet", NULL);

	/* The peer's name, its alias and its short id: one address of the
	 * member's own range; bytes both ways and the half-closes. */
	addr = resolve(fw, cli, "srv", 1);
	assert_own_range(addr, cli);
	assert_int_equal(resolve(fw, cli, "DB", 1), addr);
	memcpy(sid, srv, 12);
	sid[12] = '\0';
	assert_int_equal(resolve(fw, cli, sid, 1), addr);
	got = talk(fw, addr, port, "ping");
	assert_non_null(got);
	assert_string_equal(got, "ping<eof>");
	free(got);

	/* A member's endpoint while it runs: an EndpointID and its short id
	 * as an alias, but no address (regression: relay mode left the
	 * endpoint as at create). */
	assert_relay_ep(fw, srv, "rnet");

	/* Its own name is itself. */
	assert_int_equal(resolve(fw, cli, "cli", 1), htonl(INADDR_LOOPBACK));

	/* A second member on the same host network: its own range. */
	cli2 = make(fw, "cli2", sleep, "rnet", NULL);
	addr2 = resolve(fw, cli2, "srv", 1);
	assert_own_range(addr2, cli2);
	if (strncmp(cli, cli2, 4) != 0)
		assert_int_not_equal(addr, addr2);
	got = talk(fw, addr2, port, "from cli2");
	assert_non_null(got);
	assert_string_equal(got, "from cli2<eof>");
	free(got);

	/* A container on another network: the name does not resolve. */
	assert_int_equal(resolve(fw, other, "srv", 0), 0);

	/* A running container joins the network and leaves it again: no
	 * backend operation in relay mode (the fake has none), the push of
	 * the view is the whole of it (regression: it was a 501). */
	conn(fw, "connect", "other");
	assert_relay_ep(fw, other, "rnet");
	got = talk(fw, resolve(fw, other, "srv", 1), port, "joined");
	assert_non_null(got);
	assert_string_equal(got, "joined<eof>");
	free(got);
	conn(fw, "disconnect", "other");
	resolve(fw, other, "srv", 0);

	/* The peer stops: its name goes, and its listener. */
	fw_expect_free(fw, "POST", "/containers/srv/kill", 204);
	resolve(fw, cli, "srv", 0);
	assert_null(talk(fw, addr, port, "late"));

	fw_expect_free(fw, "POST", "/containers/cli/kill", 204);
	fw_expect_free(fw, "POST", "/containers/cli2/kill", 204);
	fw_expect_free(fw, "POST", "/containers/other/kill", 204);
	free(cmd);
	free(more);
	free(srv);
	free(cli);
	free(cli2);
	free(other);
}

/* Sends len bytes of data from fd to addr:port and waits for one
 * datagram back, running the backend meanwhile: its length (-1: none in
 * 5 s), into out. */
static ssize_t
udp_talk(struct fw *fw, int fd, uint32_t addr, int port, const char *data,
    size_t len, char *out, size_t outsz)
{
	struct sockaddr_in sa;
	ssize_t n;
	int turn;

	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_port = htons((uint16_t)port);
	sa.sin_addr.s_addr = addr;
	assert_int_equal(
	    sendto(fd, data, len, 0, (struct sockaddr *)&sa, sizeof(sa)),
	    (ssize_t)len);
	for (turn = 0; turn < 1000; turn++) {
		n = recv(fd, out, outsz - 1, MSG_DONTWAIT);
		if (n >= 0) {
			out[n] = '\0';
			return n;
		}
		fw_run_for(fw, 5);
	}
	return -1;
}

/* The source port the peer's server saw, from its answer "...|port". */
static int
udp_seen(const char *answer)
{
	const char *bar = strrchr(answer, '|');

	assert_non_null(bar);
	return atoi(bar + 1);
}

static int
udp_socket(void)
{
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0);
	return fd;
}

static void
test_relay_udp(void **state)
{
	struct fw *fw = *state;
	int port = base_port + 2, fd, fd2, seen, seen2;
	char *cmd = xasprintf("[\"python3\",\"%s\",\"%d\"]", server_py, port);
	char *more = xasprintf(
	    ",\"ExposedPorts\":{\"%d/tcp\":{},\"%d/udp\":{}}", port, port);
	const char *sleep = "[\"sleep\",\"60\"]";
	/* The member's flows go idle after 400 ms. */
	const char *idle = ",\"Env\":[\"SOCKERLESS_UDP_IDLE_MS=400\"]";
	char *srv, *cli, *got, *big, out[70000];
	uint32_t addr;
	ssize_t n;

	net_create(fw, "unet");
	srv = make(fw, "usrv", cmd, "unet", more);
	for (int i = 0; i < 200 && !echo_up(port); i++)
		fw_run_for(fw, 50);
	assert_true(echo_up(port));
	cli = make(fw, "ucli", sleep, "unet", idle);
	addr = resolve(fw, cli, "usrv", 1);
	assert_own_range(addr, cli);

	/* A datagram to the peer's name and port, and its answer. */
	fd = udp_socket();
	n = udp_talk(fw, fd, addr, port, "ping", 4, out, sizeof(out));
	assert_true(n > 5);
	assert_memory_equal(out, "ping|", 5);
	seen = udp_seen(out);

	/* Boundaries: a large datagram and a small one, each whole; the
	 * same flow (the same source at the server). */
	big = xmalloc(60000);
	memset(big, 'x', 60000);
	n = udp_talk(fw, fd, addr, port, big, 60000, out, sizeof(out));
	assert_true(n > 60000);
	assert_memory_equal(out, big, 60000);
	assert_int_equal(out[60000], '|');
	assert_int_equal(udp_seen(out), seen);
	n = udp_talk(fw, fd, addr, port, "ab", 2, out, sizeof(out));
	assert_true(n > 3);
	assert_memory_equal(out, "ab|", 3);
	assert_int_equal(udp_seen(out), seen);

	/* Another local source: a flow of its own. */
	fd2 = udp_socket();
	n = udp_talk(fw, fd2, addr, port, "two", 3, out, sizeof(out));
	assert_true(n > 4);
	assert_memory_equal(out, "two|", 4);
	seen2 = udp_seen(out);
	assert_int_not_equal(seen2, seen);

	/* TCP on the same port number still goes to the TCP server. */
	got = talk(fw, addr, port, "tcp");
	assert_non_null(got);
	assert_string_equal(got, "tcp<eof>");
	free(got);

	/* Idle past 400 ms: the flow is gone, the next datagram makes a
	 * new one (a new socket on the peer's side). */
	fw_run_for(fw, 900);
	n = udp_talk(fw, fd, addr, port, "again", 5, out, sizeof(out));
	assert_true(n > 6);
	assert_memory_equal(out, "again|", 6);
	assert_int_not_equal(udp_seen(out), seen);

	close(fd);
	close(fd2);
	fw_expect_free(fw, "POST", "/containers/usrv/kill", 204);
	fw_expect_free(fw, "POST", "/containers/ucli/kill", 204);
	free(big);
	free(cmd);
	free(more);
	free(srv);
	free(cli);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_relay),
		cmocka_unit_test(test_relay_udp),
	};
	int rc;

	rc = cmocka_run_group_tests_name(
	    "forward", tests, setup_forward, teardown);
	return rc +
	    cmocka_run_group_tests_name(
		"reverse", tests, setup_reverse, teardown);
}
