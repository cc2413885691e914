/* The HTTP/1.1 server (common/httpsrv*.c) as a Docker client meets it: the
 * input is the byte stream a client sends on one connection (pipelined
 * requests, Content-Length and chunked bodies, Expect, garbage), then a
 * half-close. The handler reads every accessor and answers as the
 * daemons do: whole JSON replies, chunked streams and hijacks. */
#include <sys/socket.h>

#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "fuzz.h"
#include "sockerless/httpsrv.h"
#include "sockerless/log.h"

static struct event_base *fuzz_base;

static void
fuzz_http_header(const char *name, const char *value, void *arg)
{
	size_t *n = arg;

	*n += strlen(name) + strlen(value);
}

static void
fuzz_http_handler(struct httpsrv_req *r, void *arg)
{
	const char *path = httpsrv_req_path(r), *body;
	struct bufferevent *bev;
	size_t len, n = 0;

	(void)arg;
	httpsrv_req_foreach_header(r, fuzz_http_header, &n);
	httpsrv_req_header(r, "Content-Type");
	httpsrv_req_query(r, "filters");
	httpsrv_req_query(r, "");
	body = httpsrv_req_body(r, &len);
	if (body == NULL || body[len] != '\0')
		abort();
	httpsrv_req_minor(r);
	httpsrv_req_peer(r);
	httpsrv_req_target(r);
	httpsrv_req_method(r);
	if (strstr(path, "attach") != NULL) {
		/* The caller owns the connection now and drops it. */
		if ((bev = httpsrv_hijack(
			 r, "application/vnd.docker.raw-stream")) != NULL)
			bufferevent_free(bev);
	} else if (strstr(path, "logs") != NULL) {
		httpsrv_stream_begin(r, 200, "text/plain");
		httpsrv_stream_write(r, body, len);
		httpsrv_stream_write(r, path, strlen(path));
		httpsrv_stream_end(r);
	} else if (len > 0 && body[0] == '{') {
		httpsrv_reply_error(r, 400, "bad body: %.*s", (int)len, body);
	} else {
		httpsrv_add_header(r, "X-Fuzz", path);
		httpsrv_reply(r, 200, "application/json", "{}", 2);
	}
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	log_init("fuzz", LOG_LVL_ERROR);
	fuzz_base = event_base_new();
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct httpsrv_limits lim = { .max_header_bytes = 4096,
		.max_body_bytes = 64 * 1024,
		.max_conns = 16 };
	struct httpsrv *s;
	int sv[2];

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0,
		sv) == -1)
		abort();
	s = httpsrv_new(fuzz_base, fuzz_http_handler, NULL);
	httpsrv_set_limits(s, &lim);
	httpsrv_adopt(s, sv[0], "fuzz");
	fuzz_pump(fuzz_base, sv[1], data, size);
	httpsrv_free(s);
	close(sv[1]);
	/* Whatever the free left pending (deferred closes) runs now. */
	event_base_loop(fuzz_base, EVLOOP_NONBLOCK);
	return 0;
}
