/* UDP in relay mode (docs/networks.md, "Relay mode"): datagrams carried
 * over channels, each one a record of a 2-byte big-endian length and its
 * bytes in the channel's DATA (the backend's splice re-cuts DATA, so the
 * records keep the boundaries). Two sides:
 * - a flow (CHAN_UFLOW) on a member: the datagrams one local source sends
 *   to a peer's address and port (relay.c's UDP socket there) go out on an
 *   agent-initiated channel, CONNECT {"peer","port","proto":"udp"}; the
 *   answers come back from that socket to the source with sendto. It ends
 *   after UDP_IDLE_MS without a datagram either way (CLOSE), at the
 *   backend's RESULT, or with its socket;
 * - the `udp` kind (CHAN_UDP) on the peer: one connected UDP socket to
 *   127.0.0.1:port per flow, its datagrams sent there and its answers
 *   read back.
 * A datagram no window has room for is dropped, as a full socket buffer
 * would drop it. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "agent.h"
#include "jread.h"
#include "proc.h"
#include "sockerless/aglink_wire.h"

#define UDP_MAX		  65507 /* the largest IPv4 UDP payload */
#define UDP_REC		  (2 + UDP_MAX)
#define UDP_FLOWS_MAX	  64 /* per socket of a peer's port */
#define UDP_IDLE_MS	  60000
#define UDP_READS_PER_RUN 64 /* datagrams read per wake-up */

static int64_t udp_idle_ms = UDP_IDLE_MS;
/* One record being sent: the length, then the datagram. */
static unsigned char udp_buf[2 + 65536];

void
udp_init(const char *idle_ms)
{
	char *end;
	long long v;

	if (idle_ms == NULL || *idle_ms == '\0')
		return;
	v = strtoll(idle_ms, &end, 10);
	if (*end == '\0' && v > 0)
		udp_idle_ms = v;
}

/* Sends udp_buf's datagram of n bytes as one record on c (stream), or
 * drops it when c's window has no room for it. */
static void
udp_send_rec(struct chan *c, int stream, size_t n)
{
	if (chan_room(c) < 2 + n)
		return;
	udp_buf[0] = (unsigned char)(n >> 8);
	udp_buf[1] = (unsigned char)n;
	chan_data(c, stream, udp_buf, 2 + n);
}

/* The whole records of c's queue go out on fd (to to, or connected);
 * -1 for a record longer than UDP allows. */
static int
udp_drain(struct chan *c, int fd, const struct sockaddr_in *to)
{
	size_t avail, n;
	const unsigned char *p;

	while ((avail = c->inlen - c->inoff) >= 2) {
		p = c->inq + c->inoff;
		n = (size_t)p[0] << 8 | p[1];
		if (n > UDP_MAX)
			return -1;
		if (avail < 2 + n)
			break;
		/* Refused, full or gone: dropped, as UDP drops. */
		if (to != NULL)
			(void)sendto(fd, p + 2, n, MSG_DONTWAIT,
			    (const struct sockaddr *)to, sizeof(*to));
		else
			(void)send(fd, p + 2, n, MSG_DONTWAIT);
		c->udp_last = proc_now_ms();
		chan_consumed(c, 2 + n);
	}
	return 0;
}

/* ---- the peer's side: the `udp` kind ---- */

void
udp_open(struct chan *c, const char *req, size_t len)
{
	char *host = jread_str(req, len, "host");
	int64_t port = jread_int(req, len, "port", 0);
	struct sockaddr_in sa;
	char msg[300];
	int fd;

	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_port = htons((uint16_t)port);
	if (port < 1 || port > 65535 ||
	    inet_pton(AF_INET, host != NULL ? host : "127.0.0.1",
		&sa.sin_addr) != 1) {
		free(host);
		chan_result(c,
		    "{\"status\":400,\"message\":\"udp: port must be a "
		    "number from 1 to 65535, host an IPv4 address\"}");
		return;
	}
	free(host);
	fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd == -1 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == -1) {
		snprintf(msg, sizeof(msg),
		    "{\"status\":502,\"message\":\"udp: cannot use port %d "
		    "inside the container: %s\"}",
		    (int)port, strerror(errno));
		if (fd != -1)
			close(fd);
		chan_result(c, msg);
		return;
	}
	c->job.in_fd = fd; /* closed with the channel */
	c->udp_fd = -1;
	c->udp_last = proc_now_ms();
}

static void
udp_on_answer(void *arg, short revents)
{
	struct chan *c = arg;
	ssize_t n;
	int i;

	(void)revents;
	/* What the window cannot take stays in the socket's buffer. */
	for (i = 0; i < UDP_READS_PER_RUN && chan_room(c) >= UDP_REC; i++) {
		n = recv(c->job.in_fd, udp_buf + 2, sizeof(udp_buf) - 2,
		    MSG_DONTWAIT);
		if (n == -1 && errno != ECONNREFUSED && errno != EINTR)
			return; /* EAGAIN: all read */
		if (n < 0 || n > UDP_MAX)
			continue; /* an ICMP refusal: nothing to carry */
		c->udp_last = proc_now_ms();
		udp_send_rec(c, AGLINK_STDOUT, (size_t)n);
	}
}

/* ---- the member's side: flows ---- */

/* Ends flow c: CLOSE unless the backend has ended it already. */
static void
udp_flow_end(struct chan *c)
{
	chan_drop(c, !c->conn_ended);
}

void
udp_datagram(int fd, const char *peer, int port)
{
	struct sockaddr_in from;
	socklen_t fl;
	struct chan *c, *f;
	char req[200], what[64];
	ssize_t n;
	int i, flows;

	memset(&from, 0, sizeof(from));
	for (i = 0; i < UDP_READS_PER_RUN; i++) {
		fl = sizeof(from);
		n = recvfrom(fd, udp_buf + 2, sizeof(udp_buf) - 2, MSG_DONTWAIT,
		    (struct sockaddr *)&from, &fl);
		if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		if (n < 0 || n > UDP_MAX || fl != sizeof(from))
			continue;
		f = NULL;
		flows = 0;
		for (c = chan_list; c != NULL; c = c->next)
			if (!c->dead && c->kind == CHAN_UFLOW &&
			    c->udp_fd == fd && !c->conn_ended) {
				flows++;
				if (c->udp_from.sin_port == from.sin_port &&
				    c->udp_from.sin_addr.s_addr ==
					from.sin_addr.s_addr)
					f = c;
			}
		if (f == NULL) {
			if (flows >= UDP_FLOWS_MAX)
				continue; /* dropped until one goes idle */
			snprintf(req, sizeof(req),
			    "{\"kind\":\"connect\",\"peer\":\"%s\",\"port\":"
			    "%d,\"proto\":\"udp\"}",
			    peer, port);
			snprintf(what, sizeof(what), "peer %.12s port %d/udp",
			    peer, port);
			if ((f = chan_connect(-1, req, what)) == NULL)
				continue; /* no link: nowhere to send it */
			f->kind = CHAN_UFLOW;
			f->udp_fd = fd;
			f->udp_from = from;
		}
		f->udp_last = proc_now_ms();
		udp_send_rec(f, AGLINK_STDIN, (size_t)n);
	}
}

void
udp_socket_gone(int fd)
{
	struct chan *c;

	for (c = chan_list; c != NULL; c = c->next)
		if (!c->dead && c->kind == CHAN_UFLOW && c->udp_fd == fd)
			udp_flow_end(c);
}

/* ---- both ---- */

void
udp_prepare(struct chan *c)
{
	int64_t now;

	if (c->kind == CHAN_UFLOW) {
		if (udp_drain(c, c->udp_fd, &c->udp_from) == -1 ||
		    c->conn_ended) {
			udp_flow_end(c);
			return;
		}
		now = proc_now_ms();
		if (now - c->udp_last >= udp_idle_ms) {
			udp_flow_end(c);
			return;
		}
		loop_timer(c->udp_last + udp_idle_ms);
		return;
	}
	if (udp_drain(c, c->job.in_fd, NULL) == -1) {
		chan_result(c,
		    "{\"status\":400,\"message\":\"udp: a record longer "
		    "than 65507 bytes\"}");
		return;
	}
	/* The member's flow ended. */
	if (c->in_eof && c->inlen == c->inoff) {
		chan_result(c, "{}");
		return;
	}
	if (chan_room(c) >= UDP_REC)
		loop_watch(c->job.in_fd, POLLIN, udp_on_answer, c);
}
