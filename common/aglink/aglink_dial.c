/* The agent link, forward mode: resolving and dialling the agent with
 * back-off, the WebSocket client's upgrade request, and the connection's
 * events (connected, refused, closed). On the core (aglink.c); what the
 * agent sends is read by aglink_recv.c. */
#include <sys/queue.h>

#include <sys/queue.h>
#include <sys/socket.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "sockerless/aglink.h"
#include "sockerless/lite.h"
#include "sockerless/log.h"
#include "sockerless/str.h"
#include "sockerless/xmalloc.h"

#include "aglink_int.h"

/* --- connecting --------------------------------------------------------- */

static int
aglink_resolve(struct aglink *l, struct sockaddr_storage *ss, socklen_t *sl)
{
	struct sockaddr_in *s4 = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;
	struct addrinfo hints, *res = NULL;
	char port[16];

	memset(ss, 0, sizeof(*ss));
	if (inet_pton(AF_INET, l->host, &s4->sin_addr) == 1) {
		s4->sin_family = AF_INET;
		s4->sin_port = htons((uint16_t)l->port);
		*sl = sizeof(*s4);
		return 0;
	}
	if (inet_pton(AF_INET6, l->host, &s6->sin6_addr) == 1) {
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons((uint16_t)l->port);
		*sl = sizeof(*s6);
		return 0;
	}
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	snprintf(port, sizeof(port), "%d", l->port);
	if (getaddrinfo(l->host, port, &hints, &res) != 0 || res == NULL)
		return -1;
	memcpy(ss, res->ai_addr, res->ai_addrlen);
	*sl = res->ai_addrlen;
	freeaddrinfo(res);
	return 0;
}

/* The connect deadline passed: every waiting channel fails. */
void
aglink_give_up(struct aglink *l)
{
	struct err e;
	const char *why;
	char hint[160];
	int status = 502;

	switch (l->last_err) {
	case ECONNREFUSED:
		why = "connection refused";
		snprintf(hint, sizeof(hint),
		    "nothing listens on port %d yet: is the container's "
		    "entrypoint the sockerless agent, and is it running?",
		    l->port);
		break;
	case ETIMEDOUT:
		why = "connection timed out";
		snprintf(hint, sizeof(hint),
		    "is port %d open in the task's security group?", l->port);
		status = 504;
		break;
	case -1:
		why = "the host name does not resolve";
		snprintf(hint, sizeof(hint), "is the task's address right?");
		break;
	case ECONNRESET:
		why = "the connection was closed before the handshake";
		snprintf(hint, sizeof(hint),
		    "is another program listening on port %d?", l->port);
		break;
	default:
		why = strerror(l->last_err);
		snprintf(hint, sizeof(hint),
		    "is the task's network reachable from the backend?");
		break;
	}
	l->eager_until_ms = 0;
	err_set(&e, status,
	    "cannot reach the sockerless agent of container %.12s at %s:%d "
	    "within %d s: %s (%s)",
	    l->cid, l->host, l->port, l->connect_timeout_s, why, hint);
	aglink_down_err(l, 0, &e);
}

/* The dial failed with l->last_err: again after the backoff, or give up
 * (from the timer, so no callback runs inside aglink_open). */
void
aglink_retry(struct aglink *l)
{
	int64_t left = l->deadline_ms - aglink_now_ms();
	int64_t d = l->backoff_ms;

	if (l->bev != NULL) {
		bufferevent_free(l->bev);
		l->bev = NULL;
	}
	if (aglink_now_ms() < l->eager_until_ms) {
		d = AGLINK_EAGER_MS;
	} else {
		l->backoff_ms *= 2;
		if (l->backoff_ms > AGLINK_BACKOFF_MAX_MS)
			l->backoff_ms = AGLINK_BACKOFF_MAX_MS;
	}
	if (d > left)
		d = left;
	log_debug("container %.12s: agent at %s:%d: %s; again in %lld ms",
	    l->cid, l->host, l->port,
	    l->last_err == -1 ? "no address" : strerror(l->last_err),
	    (long long)(d < 0 ? 0 : d));
	l->state = AGLINK_ST_RETRY;
	aglink_timer_set(l, d);
}

static void
aglink_send_request(struct aglink *l)
{
	unsigned char raw[16];
	char key[25], host[300];
	struct evbuffer *out = bufferevent_get_output(l->bev);

	if (RAND_bytes(raw, sizeof(raw)) != 1)
		for (size_t i = 0; i < sizeof(raw); i++)
			raw[i] = (unsigned char)random();
	lite_b64_encode(raw, sizeof(raw), key);
	ws_accept_key(key, l->accept);
	if (strchr(l->host, ':') != NULL)
		snprintf(host, sizeof(host), "[%s]:%d", l->host, l->port);
	else
		snprintf(host, sizeof(host), "%s:%d", l->host, l->port);
	evbuffer_add_printf(out,
	    "GET " AGLINK_PATH " HTTP/1.1\r\n"
	    "Host: %s\r\n"
	    "Upgrade: websocket\r\n"
	    "Connection: Upgrade\r\n"
	    "Sec-WebSocket-Key: %s\r\n"
	    "Sec-WebSocket-Version: 13\r\n"
	    "Sec-WebSocket-Protocol: " AGLINK_PROTOCOL "\r\n"
	    "Authorization: Bearer %s\r\n"
	    "X-Sockerless-Container: %s\r\n"
	    "\r\n",
	    host, key, l->token, l->cid);
}

void
aglink_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct aglink *l = arg;
	int err = EVUTIL_SOCKET_ERROR();

	(void)bev;
	if (l->in_connect) { /* failed inside bufferevent_socket_connect */
		l->last_err = err != 0 ? err : ECONNREFUSED;
		return;
	}
	aglink_enter(l);
	if (l->state == AGLINK_ST_DIALING) {
		if (what & BEV_EVENT_CONNECTED) {
			log_debug("container %.12s: connected to the agent at "
				  "%s:%d",
			    l->cid, l->host, l->port);
			l->state = AGLINK_ST_HANDSHAKE;
			l->backoff_ms = AGLINK_BACKOFF_MIN_MS;
			l->eager_until_ms = 0;
			aglink_send_request(l);
			bufferevent_enable(l->bev, EV_READ | EV_WRITE);
			aglink_timer_set(l, AGLINK_HANDSHAKE_MS);
		} else {
			/* A connect that failed at once is reported
			 * deferred, when errno no longer says why. */
			if (err != ECONNREFUSED && err != ETIMEDOUT &&
			    err != EHOSTUNREACH && err != ENETUNREACH &&
			    err != ECONNRESET && err != EADDRNOTAVAIL)
				err = ECONNREFUSED;
			l->last_err = err;
			aglink_retry(l);
		}
	} else if (l->state == AGLINK_ST_HANDSHAKE &&
	    evbuffer_get_length(bufferevent_get_input(l->bev)) == 0 &&
	    aglink_now_ms() < l->deadline_ms) {
		/* Closed before answering: an agent still starting up. */
		l->last_err = ECONNRESET;
		aglink_retry(l);
	} else if (what & BEV_EVENT_EOF) {
		aglink_down(l, 0, 502, "the agent closed the connection");
	} else {
		aglink_down(l, 0, 502, "%s",
		    err != 0 ? strerror(err) : "connection error");
	}
	aglink_leave(l);
}

void
aglink_dial(struct aglink *l)
{
	struct sockaddr_storage ss;
	socklen_t sl;
	int64_t left;
	int rc, one = 1;

	if (aglink_resolve(l, &ss, &sl) == -1) {
		l->last_err = -1;
		aglink_retry(l);
		return;
	}
	log_debug("container %.12s: dialling the agent at %s:%d", l->cid,
	    l->host, l->port);
	l->bev = bufferevent_socket_new(l->base, -1, BEV_OPT_CLOSE_ON_FREE);
	if (l->bev == NULL)
		fatalx("%s: bufferevent_socket_new", __func__);
	bufferevent_setcb(l->bev, aglink_read_cb, NULL, aglink_event_cb, l);
	l->state = AGLINK_ST_DIALING;
	l->in_connect = 1;
	rc =
	    bufferevent_socket_connect(l->bev, (struct sockaddr *)&ss, (int)sl);
	l->in_connect = 0;
	/* Small messages (CREDIT, a request, an echo) go out at once: with
	 * Nagle one waits for the other side's delayed ACK (40 ms). */
	if (rc == 0 && bufferevent_getfd(l->bev) != -1)
		setsockopt(bufferevent_getfd(l->bev), IPPROTO_TCP, TCP_NODELAY,
		    &one, sizeof(one));
	if (rc == -1) {
		if (l->last_err == 0)
			l->last_err = ECONNREFUSED;
		aglink_retry(l);
		return;
	}
	left = l->deadline_ms - aglink_now_ms();
	aglink_timer_set(l, left < AGLINK_DIAL_MS ? left : AGLINK_DIAL_MS);
}

/* Starts connecting (state IDLE). */
void
aglink_connect(struct aglink *l)
{
	l->deadline_ms = aglink_now_ms() + (int64_t)l->connect_timeout_s * 1000;
	l->backoff_ms = AGLINK_BACKOFF_MIN_MS;
	l->last_err = 0;
	aglink_dial(l);
}
