/* The `tcp` kind (docs/agent-link.md): a TCP connection the agent makes
 * inside the workload, carried over a channel, for published ports and
 * relays. The socket is c->job.in_fd: chan.c queues the backend's DATA 0
 * and writes it there (chan_sink), credits it, and closes the socket with
 * the channel; this file connects it, reads it into DATA 1, passes the
 * half-closes on and ends the channel once both directions have ended. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "agent.h"
#include "jread.h"
#include "sockerless/aglink_wire.h"

/* Fills ss from an IPv4 or IPv6 literal: names would need a blocking
 * lookup in the agent's one loop, and the backend resolves peers itself. */
static int
tcp_addr(
    const char *host, int port, struct sockaddr_storage *ss, socklen_t *len)
{
	struct sockaddr_in *in4 = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;

	memset(ss, 0, sizeof(*ss));
	if (inet_pton(AF_INET, host, &in4->sin_addr) == 1) {
		in4->sin_family = AF_INET;
		in4->sin_port = htons((uint16_t)port);
		*len = sizeof(*in4);
		return 0;
	}
	if (inet_pton(AF_INET6, host, &in6->sin6_addr) == 1) {
		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons((uint16_t)port);
		*len = sizeof(*in6);
		return 0;
	}
	return -1;
}

/* RESULT 502 for a connect that failed with err. */
static void
tcp_fail(struct chan *c, int err)
{
	char msg[400];

	snprintf(msg, sizeof(msg),
	    "{\"status\":502,\"message\":\"%s to %s port %d inside the "
	    "container: %s\"}",
	    err == ECONNREFUSED ? "connection refused" : "cannot connect",
	    c->tcp_host, c->tcp_port, strerror(err));
	chan_result(c, msg);
}

void
tcp_open(struct chan *c, const char *req, size_t len)
{
	char *host = jread_str(req, len, "host");
	int64_t port = jread_int(req, len, "port", 0);
	struct sockaddr_storage ss;
	socklen_t sl = 0;
	int fd, one = 1;

	snprintf(c->tcp_host, sizeof(c->tcp_host), "%s",
	    host != NULL ? host : "127.0.0.1");
	free(host);
	if (port < 1 || port > 65535) {
		chan_result(c,
		    "{\"status\":400,\"message\":\"tcp: port must be a "
		    "number from 1 to 65535\"}");
		return;
	}
	c->tcp_port = (int)port;
	if (tcp_addr(c->tcp_host, c->tcp_port, &ss, &sl) == -1) {
		chan_result(c,
		    "{\"status\":400,\"message\":\"tcp: host must be an "
		    "IPv4 or IPv6 address\"}");
		return;
	}
	fd =
	    socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd == -1) {
		tcp_fail(c, errno);
		return;
	}
	c->job.in_fd = fd; /* closed with the channel */
	/* The client's small writes reach the server at once, as over a
	 * direct connection. */
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (connect(fd, (struct sockaddr *)&ss, sl) == 0)
		return;
	if (errno != EINPROGRESS) {
		tcp_fail(c, errno);
		return;
	}
	c->tcp_connecting = 1;
}

static void
tcp_on_connect(void *arg, short revents)
{
	struct chan *c = arg;
	socklen_t sl = sizeof(int);
	int err = 0;

	(void)revents;
	if (c->dead || !c->tcp_connecting)
		return;
	if (getsockopt(c->job.in_fd, SOL_SOCKET, SO_ERROR, &err, &sl) == -1)
		err = errno;
	if (err == EINPROGRESS)
		return;
	c->tcp_connecting = 0;
	if (err != 0) {
		tcp_fail(c, err);
		return;
	}
	/* The backend's side ended before we were connected. */
	if (c->in_eof == 2)
		shutdown(c->job.in_fd, SHUT_WR);
}

static void
tcp_on_read(void *arg, short revents)
{
	struct chan *c = arg;

	(void)revents;
	if (c->dead || c->tcp_rd_done)
		return;
	/* 0: the workload's side ended (or reset): its half-close. */
	if (chan_pump(c, c->job.in_fd, AGLINK_STDOUT) == 0) {
		c->tcp_rd_done = 1;
		chan_eof(c, AGLINK_STDOUT);
	}
}

int
tcp_sink(struct chan *c)
{
	return c->tcp_connecting ? -2 : c->job.in_fd;
}

void
tcp_sink_eof(struct chan *c)
{
	if (!c->tcp_connecting)
		shutdown(c->job.in_fd, SHUT_WR);
}

void
tcp_prepare(struct chan *c)
{
	if (c->tcp_connecting) {
		loop_watch(c->job.in_fd, POLLOUT, tcp_on_connect, c);
		return;
	}
	if (c->tcp_rd_done && c->in_eof == 2) {
		chan_result(c, "{}");
		return;
	}
	if (!c->tcp_rd_done && chan_room(c) > 0)
		loop_watch(c->job.in_fd, POLLIN, tcp_on_read, c);
}
