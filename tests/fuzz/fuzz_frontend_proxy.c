/* The frontend's reader of the backend's answers (frontend/proxy.c): the
 * input is what the backend sends back on the internal connection a
 * client's request opened, then its close. The first byte picks the
 * request: a GET relayed whole or streamed (Content-Length, chunked, up to
 * the close), a HEAD, an attach that may be hijacked and spliced, or the
 * frontend's own capabilities GET (proxy_get, caps_from_json). A
 * Sockerless-Backend header starts a second capabilities GET; every
 * connection to the backend gets the same answer. */
#include <sys/socket.h>
#include <sys/un.h>

#include <signal.h>
#include <stdio.h>
#include <unistd.h>

#include <event2/event.h>

#include "../../frontend/frontend.h"
#include "fuzz.h"
#include "sockerless/log.h"

#define FUZZ_MAX_BACKEND 8

struct frontend *frontend;
static struct frontend fuzz_fe;
static char fuzz_sock[108];
static int fuzz_listen = -1;

/* The backend's side of each connection the frontend opened. */
static struct fuzz_be {
	int fd;
	size_t off;
} fuzz_be[FUZZ_MAX_BACKEND];
static int fuzz_nbe;

/* routes.c's: requests waiting for the capabilities go on; none here. */
void
routes_caps_done(const struct err *e)
{
	(void)e;
}

static void
fuzz_caps_got(int status, const char *body, const struct err *e, void *arg)
{
	(void)arg;
	if ((status == -1) != (body == NULL) || (status == -1 && e == NULL))
		abort();
}

static void
fuzz_handler(struct httpsrv_req *r, void *arg)
{
	const char *path = httpsrv_req_path(r);

	(void)arg;
	/* As routes.c: the version prefix goes, the rest is relayed. */
	if (strncmp(path, "/v1.44", 6) == 0)
		path += 6;
	proxy_forward(r, path, 44);
}

static void
fuzz_cleanup(void)
{
	if (fuzz_sock[0] != '\0')
		unlink(fuzz_sock);
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	struct sockaddr_un sun;

	(void)argc;
	(void)argv;
	log_init("fuzz", LOG_LVL_ERROR);
	/* As the frontend's main: a write to a peer that hung up (a client
	 * or backend gone mid-answer) is an error, not the end. */
	signal(SIGPIPE, SIG_IGN);
	frontend = &fuzz_fe;
	fuzz_fe.base = event_base_new();
	snprintf(fuzz_sock, sizeof(fuzz_sock), "%s/sk-fuzz-proxy.%d.sock",
	    access("/dev/shm", W_OK | X_OK) == 0 ? "/dev/shm" : "/tmp",
	    (int)getpid());
	fuzz_fe.conf.backend = fuzz_sock;
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	memcpy(sun.sun_path, fuzz_sock, strlen(fuzz_sock) + 1);
	unlink(fuzz_sock);
	fuzz_listen =
	    socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fuzz_listen == -1 ||
	    bind(fuzz_listen, (struct sockaddr *)&sun, sizeof(sun)) == -1 ||
	    listen(fuzz_listen, FUZZ_MAX_BACKEND) == -1) {
		perror(fuzz_sock);
		abort();
	}
	atexit(fuzz_cleanup);
	return 0;
}

/* The backend's turn: takes new connections, sends each the answer,
 * closes its write side once it is all out, and drains the requests.
 * Returns whether anything moved. */
static int
fuzz_backend(const uint8_t *data, size_t size)
{
	char sink[4096];
	int fd, moved = 0;
	ssize_t n;

	while (fuzz_nbe < FUZZ_MAX_BACKEND &&
	    (fd = accept4(fuzz_listen, NULL, NULL,
		 SOCK_NONBLOCK | SOCK_CLOEXEC)) != -1) {
		fuzz_be[fuzz_nbe].fd = fd;
		fuzz_be[fuzz_nbe++].off = 0;
		moved = 1;
	}
	for (int i = 0; i < fuzz_nbe; i++) {
		struct fuzz_be *b = &fuzz_be[i];

		if (b->off < size &&
		    (n = write(b->fd, data + b->off, size - b->off)) > 0) {
			b->off += (size_t)n;
			moved = 1;
			if (b->off == size)
				shutdown(b->fd, SHUT_WR);
		} else if (size == 0 && b->off == 0) {
			shutdown(b->fd, SHUT_WR);
			b->off = 1;
			moved = 1;
		}
		while ((n = read(b->fd, sink, sizeof(sink))) > 0)
			moved = 1;
	}
	return moved;
}

/* Runs client, frontend and backend until nothing moves for a while. */
static void
fuzz_run(int client, const char *req, const uint8_t *data, size_t size)
{
	char sink[16384];
	size_t off = 0, len = req != NULL ? strlen(req) : 0;
	int idle = 0;
	ssize_t n;

	while (idle < 8) {
		int moved = 0;

		if (off < len &&
		    (n = write(client, req + off, len - off)) > 0) {
			off += (size_t)n;
			moved = 1;
		}
		event_base_loop(fuzz_fe.base, EVLOOP_NONBLOCK);
		moved |= fuzz_backend(data, size);
		event_base_loop(fuzz_fe.base, EVLOOP_NONBLOCK);
		while (
		    client != -1 && (n = read(client, sink, sizeof(sink))) > 0)
			moved = 1;
		idle = moved ? 0 : idle + 1;
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *reqs[] = {
		"GET /v1.44/containers/json HTTP/1.1\r\nHost: d\r\n\r\n",
		"HEAD /v1.44/containers/c/json HTTP/1.1\r\nHost: d\r\n\r\n",
		"POST /v1.44/containers/c/attach?stream=1&stdin=1 HTTP/1.1\r\n"
		"Host: d\r\nUpgrade: tcp\r\nConnection: Upgrade\r\n"
		"Content-Length: 0\r\n\r\n",
		"POST /v1.44/containers/c/logs?follow=1 HTTP/1.1\r\n"
		"Host: d\r\nContent-Type: application/json\r\n"
		"Content-Length: 2\r\n\r\n{}",
	};
	struct httpsrv *s = NULL;
	struct err e;
	int sv[2] = { -1, -1 }, which;

	if (size == 0)
		return 0;
	which = data[0] % 5;
	data++;
	size--;
	if (which == 4) {
		/* The frontend's own GET: the answer read whole at the close.
		 */
		if (proxy_get("/capabilities", fuzz_caps_got, NULL, &e) == -1)
			abort();
		fuzz_run(-1, NULL, data, size);
	} else {
		if (socketpair(AF_UNIX,
			SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0,
			sv) == -1)
			abort();
		s = httpsrv_new(fuzz_fe.base, fuzz_handler, NULL);
		httpsrv_adopt(s, sv[0], "fuzz");
		fuzz_run(sv[1], reqs[which], data, size);
	}
	/* Everyone hangs up; what is left (a splice, a stream) ends now. */
	if (sv[1] != -1)
		close(sv[1]);
	for (int i = 0; i < fuzz_nbe; i++)
		close(fuzz_be[i].fd);
	fuzz_nbe = 0;
	for (int i = 0; i < 4; i++)
		event_base_loop(fuzz_fe.base, EVLOOP_NONBLOCK);
	if (s != NULL)
		httpsrv_free(s);
	event_base_loop(fuzz_fe.base, EVLOOP_NONBLOCK);
	/* A capabilities GET the answer started is over by now. */
	fuzz_fe.caps_fetching = 0;
	return 0;
}
