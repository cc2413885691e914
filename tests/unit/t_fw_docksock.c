/* The Docker socket inside a workload (common/backend/backend_docksock.c,
 * agent/docksock.c, docs/volumes.md): the fake backend in agent mode runs
 * a workload under the real agent; the workload's client speaks HTTP on
 * the unix socket the agent serves, and the backend splices each
 * connection to `docker_api`, a stand-in Docker API server this test runs
 * on a unix socket of its own on the backend's loop. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cmocka.h>
#include <dirent.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/listener.h>

#include "../../common/backend/backend_int.h"
#include "fake_backend.h"
#include "sockerless/json.h"
#include "sockerless/xmalloc.h"

static char dir[] = "/tmp/skds-XXXXXX";
static char api_sock[100], client_py[128];
static int api_conns; /* connections the stand-in API accepted */
static struct evconnlistener *api_ln;

/* The workload's client: MODE SOCKET OUT. ping: a keep-alive GET /_ping
 * read to its Content-Length; hijack: a 101 upgrade, then "hello" up and
 * everything down to EOF; big: the same with 4 MiB, checked by the client
 * (BIG OK or BIG BAD and the length). OUT gets what came back, or CLOSED when
 * the connection closed with nothing, also before the request was written
 * (written whole, by a rename). */
static const char client_src[] =
    "import os, socket, sys\n"
    "mode, path, out = sys.argv[1:4]\n"
    "BIG = 4 << 20\n"
    "s = socket.socket(socket.AF_UNIX)\n"
    "s.settimeout(20)\n"
    "s.connect(path)\n"
    "def head():\n"
    "    b = b''\n"
    "    while b'\\r\\n\\r\\n' not in b:\n"
    "        d = s.recv(4096)\n"
    "        if not d:\n"
    "            return b\n"
    "        b += d\n"
    "    return b\n"
    "def ping():\n"
    "    s.sendall(b'GET /_ping HTTP/1.1\\r\\nHost: docker\\r\\n\\r\\n')\n"
    "    return head()\n"
    "if mode == 'ping':\n"
    "    try:\n"
    "        r = ping()\n"
    "    except (BrokenPipeError, ConnectionResetError):\n"
    "        r = b''  # refused before the request was written\n"
    "    while r and len(r.partition(b'\\r\\n\\r\\n')[2]) < 2:\n"
    "        d = s.recv(4096)\n"
    "        if not d:\n"
    "            break\n"
    "        r += d\n"
    "else:\n"
    "    s.sendall(b'POST /hijack HTTP/1.1\\r\\nHost: docker\\r\\n'\n"
    "              b'Connection: Upgrade\\r\\nUpgrade: tcp\\r\\n\\r\\n')\n"
    "    r = head()\n"
    "    s.sendall(b'hello' if mode == 'hijack' else b'a' * BIG)\n"
    "    s.shutdown(socket.SHUT_WR)\n"
    "    while True:\n"
    "        d = s.recv(65536)\n"
    "        if not d:\n"
    "            break\n"
    "        r += d\n"
    "    if mode == 'big':\n"
    "        body = r.partition(b'\\r\\n\\r\\n')[2]\n"
    "        ok = body == b'A' * BIG + b'<eof>'\n"
    "        r = b'BIG %s %d' % (b'OK' if ok else b'BAD', len(body))\n"
    "with open(out + '.tmp', 'wb') as f:\n"
    "    f.write(r if r else b'CLOSED')\n"
    "os.rename(out + '.tmp', out)\n";

/* --- the stand-in Docker API --------------------------------------- */

struct api_conn {
	int upgraded;
};

static void
api_free(struct bufferevent *bev, struct api_conn *ac)
{
	bufferevent_free(bev);
	free(ac);
}

static void
api_read(struct bufferevent *bev, void *arg)
{
	struct api_conn *ac = arg;
	struct evbuffer *in = bufferevent_get_input(bev);
	struct evbuffer_ptr end;
	size_t n;
	char *p;

	if (ac->upgraded) {
		/* The hijacked stream: an upper-cased echo. */
		n = evbuffer_get_length(in);
		p = xmalloc(n + 1);
		evbuffer_remove(in, p, n);
		for (size_t i = 0; i < n; i++)
			if (p[i] >= 'a' && p[i] <= 'z')
				p[i] = (char)(p[i] - 32);
		bufferevent_write(bev, p, n);
		free(p);
		return;
	}
	end = evbuffer_search(in, "\r\n\r\n", 4, NULL);
	if (end.pos < 0)
		return;
	p = xmalloc((size_t)end.pos + 5);
	evbuffer_remove(in, p, (size_t)end.pos + 4);
	p[end.pos + 4] = '\0';
	if (strncmp(p, "GET /_ping ", 11) == 0) {
		/* Keep-alive: the client closes. */
		evbuffer_add_printf(bufferevent_get_output(bev),
		    "HTTP/1.1 200 OK\r\nApi-Version: 1.44\r\n"
		    "Content-Length: 2\r\n\r\nOK");
	} else if (strncmp(p, "POST /hijack ", 13) == 0) {
		ac->upgraded = 1;
		evbuffer_add_printf(bufferevent_get_output(bev),
		    "HTTP/1.1 101 UPGRADED\r\nConnection: Upgrade\r\n"
		    "Upgrade: tcp\r\n\r\n");
	}
	free(p);
	if (ac->upgraded)
		api_read(bev, ac);
}

static void
api_closing(struct bufferevent *bev, void *arg)
{
	if (evbuffer_get_length(bufferevent_get_output(bev)) == 0)
		api_free(bev, arg);
}

static void
api_event(struct bufferevent *bev, short what, void *arg)
{
	struct api_conn *ac = arg;

	/* The client's half-close: the hijacked stream says so and ends. */
	if ((what & BEV_EVENT_EOF) && ac->upgraded) {
		bufferevent_write(bev, "<eof>", 5);
		bufferevent_setcb(bev, NULL, api_closing, NULL, ac);
		return;
	}
	api_free(bev, ac);
}

static void
api_accept(struct evconnlistener *ln, evutil_socket_t fd, struct sockaddr *sa,
    int len, void *arg)
{
	struct bufferevent *bev = bufferevent_socket_new(
	    evconnlistener_get_base(ln), fd, BEV_OPT_CLOSE_ON_FREE);

	(void)sa;
	(void)len;
	(void)arg;
	api_conns++;
	bufferevent_setcb(bev, api_read, NULL, api_event,
	    xcalloc(1, sizeof(struct api_conn)));
	bufferevent_enable(bev, EV_READ | EV_WRITE);
}

static struct evconnlistener *
api_listen(struct fw *fw)
{
	struct sockaddr_un sa;

	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", api_sock);
	return evconnlistener_new_bind(backend_base(fw->b), api_accept, NULL,
	    LEV_OPT_CLOSE_ON_FREE, 16, (struct sockaddr *)&sa, sizeof(sa));
}

/* --- helpers -------------------------------------------------------- */

static int
file_there(struct fw *fw, void *arg)
{
	(void)fw;
	return access(arg, F_OK) == 0;
}

/* What the workload's client wrote to out, after waiting for it. */
static char *
client_result(struct fw *fw, const char *out)
{
	FILE *f;
	char *buf = xcalloc(1, 65536);

	if (!fw_run_until_fn(fw, file_there, (void *)out)) {
		/* What the agents said, for the failure's reader. */
		char *cmd = xasprintf("cat %s/agent-*.log >&2", fw->dir);

		if (system(cmd) != 0)
			fprintf(stderr, "no agent logs\n");
		free(cmd);
		fail_msg("the workload's client wrote no %s", out);
	}
	f = fopen(out, "r");
	assert_non_null(f);
	if (fread(buf, 1, 65535, f) == 0)
		buf[0] = '\0';
	fclose(f);
	return buf;
}

/* A running container whose client runs mode against its socket at
 * name's path; bind: whether it bind-mounts the Docker socket (else the
 * agent is told to serve it anyway, as a workload could). */
static char *
run_client(
    struct fw *fw, const char *name, const char *mode, int bind, char **out)
{
	char *sock = xasprintf("%s/%s/run/docker.sock", dir, name);
	char *body, *id;

	*out = xasprintf("%s/%s.out", dir, name);
	body = xasprintf("\"Cmd\":[\"/usr/bin/python3\",\"%s\",\"%s\",\"%s\","
			 "\"%s\"],%s",
	    client_py, mode, sock, *out,
	    bind ? "\"HostConfig\":{\"Binds\":[\"/var/run/docker.sock:" :
		   "\"Env\":[\"SOCKERLESS_DOCKER_SOCK=[\\\"");
	id = xasprintf("%s%s%s", body, sock, bind ? "\"]}" : "\\\"]\"]");
	free(body);
	body = id;
	id = fw_create(fw, name, "alpine", body);
	fw_start(fw, id);
	free(body);
	free(sock);
	return id;
}

struct log_find {
	const char *needle;
};

/* Whether an agent log of the test's directory says needle. */
static int
agent_log_says(struct fw *fw, void *arg)
{
	struct log_find *lf = arg;
	struct dirent *de;
	int found = 0;
	DIR *d = opendir(fw->dir);

	while (d != NULL && !found && (de = readdir(d)) != NULL) {
		char *p, buf[8192];
		FILE *f;
		size_t n;

		if (strncmp(de->d_name, "agent-", 6) != 0)
			continue;
		p = xasprintf("%s/%s", fw->dir, de->d_name);
		if ((f = fopen(p, "r")) != NULL) {
			n = fread(buf, 1, sizeof(buf) - 1, f);
			buf[n] = '\0';
			found = strstr(buf, lf->needle) != NULL;
			fclose(f);
		}
		free(p);
	}
	if (d != NULL)
		closedir(d);
	return found;
}

/* --- tests ---------------------------------------------------------- */

static void
test_request_answered(void **state)
{
	struct fw *fw = *state;
	char *out, *id = run_client(fw, "ping", "ping", 1, &out);
	char *got = client_result(fw, out);

	assert_non_null(strstr(got, "HTTP/1.1 200 OK\r\n"));
	assert_non_null(strstr(got, "\r\n\r\nOK"));
	assert_true(api_conns >= 1);
	free(got);
	free(out);
	free(id);
}

static void
test_hijacked_stream(void **state)
{
	struct fw *fw = *state;
	char *out, *id = run_client(fw, "hj", "hijack", 1, &out);
	char *got = client_result(fw, out);

	assert_non_null(strstr(got, "HTTP/1.1 101 UPGRADED\r\n"));
	/* Both ways, and the client's half-close reached the API. */
	assert_non_null(strstr(got, "\r\n\r\nHELLO<eof>"));
	free(got);
	free(out);
	free(id);
}

/* A detached exec: what dials the link of a container that has no Docker
 * socket mount (the backend dials only for those that have one). */
static void
exec_detached(struct fw *fw, const char *name)
{
	char *p = xasprintf("/containers/%s/exec", name);
	struct fw_resp *r = fw_req(fw, "POST", p, "{\"Cmd\":[\"true\"]}");

	assert_int_equal(r->status, 201);
	free(p);
	p = xasprintf("/exec/%s/start", json_str(r->json, "Id"));
	fw_resp_free(r);
	r = fw_req(fw, "POST", p, "{\"Detach\":true}");
	assert_int_equal(r->status, 200);
	fw_resp_free(r);
	free(p);
}

/* 4 MiB each way through the windows of both links' directions: the
 * client writes it all before reading, so each side's credit must wait
 * for the other's reader. */
static void
test_flow_control(void **state)
{
	struct fw *fw = *state;
	char *out, *id = run_client(fw, "big", "big", 1, &out);
	char *got = client_result(fw, out);

	assert_string_equal(got, "BIG OK 4194309");
	free(got);
	free(out);
	free(id);
}

static void
test_no_mount_refused(void **state)
{
	struct fw *fw = *state;
	int before = api_conns;
	char *out, *id = run_client(fw, "nomount", "ping", 0, &out), *got;

	exec_detached(fw, "nomount");
	got = client_result(fw, out);
	struct log_find lf = { "has no Docker socket mount" };

	assert_string_equal(got, "CLOSED");
	assert_int_equal(api_conns, before);
	assert_true(fw_run_until_fn(fw, agent_log_says, &lf));
	free(got);
	free(out);
	free(id);
}

/* The operator turned the proxy off: the bind is refused at create with a
 * 400 naming the key, and nothing is made. */
static void
test_proxy_off_refused(void **state)
{
	struct fw *fw = *state;
	struct fw_resp *r;

	fw->b->conf.docker_socket_proxy = 0;
	r = fw_req(fw, "POST", "/containers/create?name=off",
	    "{\"Image\":\"alpine\",\"Cmd\":[\"true\"],\"HostConfig\":"
	    "{\"Binds\":[\"/var/run/docker.sock:/var/run/docker.sock\"]}}");
	fw->b->conf.docker_socket_proxy = 1;
	assert_int_equal(r->status, 400);
	assert_non_null(
	    strstr(json_str(r->json, "message"), "docker_socket_proxy is off"));
	fw_resp_free(r);
	fw_expect_free(fw, "GET", "/containers/off/json", 404);
}

static void
test_api_refusing(void **state)
{
	struct fw *fw = *state;
	char *saved = fw->b->conf.docker_api, *out, *id, *got;
	struct log_find lf = { NULL };

	fw->b->conf.docker_api = xasprintf("unix://%s/nobody.sock", dir);
	lf.needle = xasprintf("the Docker API at unix://%s/nobody.sock "
			      "refused: ",
	    dir);
	id = run_client(fw, "refused", "ping", 1, &out);
	got = client_result(fw, out);
	free(fw->b->conf.docker_api);
	fw->b->conf.docker_api = saved;
	assert_string_equal(got, "CLOSED");
	assert_true(fw_run_until_fn(fw, agent_log_says, &lf));
	free((char *)lf.needle);
	free(got);
	free(out);
	free(id);
}

/* A docker_api that is no address is a configuration error: the backend
 * does not start (exit 2), rather than refusing every connection later. */
static void
test_bad_docker_api(void **state)
{
	char prog[] = "t_fw_docksock", sock[] = "--socket=/nonexistent/b.sock";
	char name[] = "--docker_api=tcp://docker:2375";
	char path[] = "--docker_api=unix://relative.sock";
	char *argv1[] = { prog, sock, name, NULL };
	char *argv2[] = { prog, sock, path, NULL };

	(void)state;
	assert_int_equal(fake_main(3, argv1), 2);
	assert_int_equal(fake_main(3, argv2), 2);
}

/* One backend for every test (the agent link's shutdown is for the
 * process), its docker_api the stand-in's socket. */
static int
setup(void **state)
{
	struct fw *fw;
	char *api;
	FILE *fp;

	if (mkdtemp(dir) == NULL)
		return -1;
	snprintf(api_sock, sizeof(api_sock), "%s/api.sock", dir);
	snprintf(client_py, sizeof(client_py), "%s/client.py", dir);
	if ((fp = fopen(client_py, "w")) == NULL)
		return -1;
	fputs(client_src, fp);
	fclose(fp);
	api = xasprintf("unix://%s", api_sock);
	setenv("SOCKERLESS_DOCKER_API", api, 1);
	free(api);
	fake_agent_mode = 1;
	fake_caps[CAP_EXEC] = fake_caps[CAP_SIGNALS] = 1;
	fake_caps[CAP_VOLUMES] = fake_caps[CAP_AGENT_REQUIRED] = 1;
	fw = fw_new();
	fw_add_image(fw, "docker.io/library/alpine:latest", "sh");
	if ((api_ln = api_listen(fw)) == NULL)
		return -1;
	*state = fw;
	return 0;
}

static int
teardown(void **state)
{
	char *cmd = xasprintf("rm -rf %s", dir);

	evconnlistener_free(api_ln);
	fw_free(*state, 0);
	if (system(cmd) != 0)
		fprintf(stderr, "cannot remove %s\n", dir);
	free(cmd);
	return 0;
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_request_answered),
		cmocka_unit_test(test_hijacked_stream),
		cmocka_unit_test(test_flow_control),
		cmocka_unit_test(test_no_mount_refused),
		cmocka_unit_test(test_proxy_off_refused),
		cmocka_unit_test(test_api_refusing),
		cmocka_unit_test(test_bad_docker_api),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
