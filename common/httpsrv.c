/* HTTP/1.1 server on bufferevents; see httpsrv.h. One request at a time per
 * connection: bytes of a pipelined next request wait in the input buffer
 * until the current reply is complete. This file is the server: listeners,
 * accept with its limits (shedding idle connections) and adopted
 * connections; a connection's life is httpsrv_conn.c. */
#include <sys/queue.h>

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <openssl/ssl.h>

#include "sockerless/evloop.h"
#include "sockerless/httpsrv.h"
#include "sockerless/json.h"
#include "sockerless/log.h"
#include "sockerless/str.h"
#include "sockerless/xmalloc.h"

#include "httpsrv_int.h"

/* --- server and listeners --- */

struct httpsrv *
httpsrv_new(struct event_base *base, httpsrv_handler h, void *arg)
{
	struct httpsrv *s = xcalloc(1, sizeof(*s));

	s->base = base;
	s->handler = h;
	s->arg = arg;
	s->limits.max_header_bytes = 64 * 1024;
	s->limits.max_body_bytes = 16 * 1024 * 1024;
	s->limits.idle_timeout_s = 300;
	s->limits.max_conns = 4096;
	s->limits.header_timeout_s = 30;
	TAILQ_INIT(&s->conns);
	return s;
}

void
httpsrv_set_limits(struct httpsrv *s, const struct httpsrv_limits *l)
{
	s->limits = *l;
}

/* A connection that costs nothing to drop: idle between requests, still
 * sending its request head (slowloris), or lingering after an error. A
 * request being read past its head or being answered is never shed. */
static int
conn_sheddable(const struct httpsrv_conn *c)
{
	if (c->busy || c->dead || c->bev == NULL)
		return 0;
	if (c->lingering)
		return 1;
	if (c->closing)
		return 0;
	return c->req == NULL || c->req->state == REQ_HEAD;
}

/* Closes the oldest sheddable connection other than keep; returns 0 if
 * there was none. */
static int
httpsrv_shed(struct httpsrv *s, struct httpsrv_conn *keep)
{
	struct httpsrv_conn *c;

	TAILQ_FOREACH(c, &s->conns, entry) {
		if (c != keep && conn_sheddable(c)) {
			log_debug("%d connections open: closing idle %s",
			    s->nconns, c->peer);
			httpsrv_conn_free(c);
			return 1;
		}
	}
	return 0;
}

static void
httpsrv_unpause_cb(evutil_socket_t fd, short what, void *arg)
{
	struct httpsrv *s = arg;

	(void)fd;
	(void)what;
	if (s->nconns < s->limits.max_conns)
		httpsrv_pause(s, 0);
}

static void
httpsrv_accept(struct evconnlistener *l, evutil_socket_t fd,
    struct sockaddr *sa, int salen, void *arg)
{
	struct httpsrv *s = arg;
	char peer[64];
	int i;

	(void)salen;
	evloop_touch(); /* its request follows */
	for (i = 0; i < s->nlisteners && s->listeners[i] != l; i++)
		;
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
		char a[INET_ADDRSTRLEN];

		inet_ntop(AF_INET, &in->sin_addr, a, sizeof(a));
		snprintf(peer, sizeof(peer), "%s:%d", a, ntohs(in->sin_port));
	} else if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *in6 =
		    (const struct sockaddr_in6 *)sa;
		char a[INET6_ADDRSTRLEN];

		inet_ntop(AF_INET6, &in6->sin6_addr, a, sizeof(a));
		snprintf(
		    peer, sizeof(peer), "[%s]:%d", a, ntohs(in6->sin6_port));
	} else
		str_lcpy(peer, "unix", sizeof(peer));
	if (i < s->nlisteners && s->tls[i] != NULL)
		httpsrv_adopt_tls(s, fd, peer, s->tls[i]);
	else
		httpsrv_adopt(s, fd, peer);
}

/* Over the limit a new connection still gets in: the oldest idle or
 * stalled one makes room. Only when every connection carries a request
 * does accepting pause, until one ends. */
static void
httpsrv_adopt_bev(struct httpsrv *s, struct bufferevent *bev,
    evutil_socket_t fd, const char *peer, int tls)
{
	struct httpsrv_conn *c;

	if (bev == NULL) {
		evutil_closesocket(fd);
		return;
	}
	c = xcalloc(1, sizeof(*c));
	c->srv = s;
	c->tls = tls;
	str_lcpy(c->peer, peer, sizeof(c->peer));
	c->bev = bev;
	/* Large replies (a ps of thousands, a relayed body) in few writes:
	 * libevent writes at most 16 KiB per call by default. */
	bufferevent_set_max_single_write(bev, HTTPSRV_MAX_SINGLE_IO);
	c->resume = event_new(s->base, -1, 0, httpsrv_conn_resume_cb, c);
	c->timer = evtimer_new(s->base, httpsrv_conn_timer_cb, c);
	bufferevent_setcb(c->bev, httpsrv_conn_read_cb, httpsrv_conn_write_cb,
	    httpsrv_conn_event_cb, c);
	httpsrv_conn_set_timer(c, TIMER_HEAD, s->limits.header_timeout_s);
	httpsrv_conn_watch(c);
	bufferevent_enable(c->bev, tls ? EV_READ | EV_WRITE : EV_READ);
	TAILQ_INSERT_TAIL(&s->conns, c, entry);
	if (++s->nconns <= s->limits.max_conns || s->limits.max_conns <= 0 ||
	    httpsrv_shed(s, c))
		return;
	if (!s->paused)
		log_warnx("%d connections open, all busy: accepting paused",
		    s->nconns);
	httpsrv_pause(s, 1);
}

void
httpsrv_adopt(struct httpsrv *s, evutil_socket_t fd, const char *peer)
{
	httpsrv_adopt_bev(s,
	    bufferevent_socket_new(s->base, fd, BEV_OPT_CLOSE_ON_FREE), fd,
	    peer, 0);
}

void
httpsrv_adopt_tls(struct httpsrv *s, evutil_socket_t fd, const char *peer,
    struct ssl_ctx_st *tls)
{
	SSL *ssl = SSL_new(tls);
	struct bufferevent *bev;

	if (ssl == NULL) {
		log_warnx("TLS connection from %s: SSL_new failed", peer);
		evutil_closesocket(fd);
		return;
	}
	/* On failure libevent frees ssl (BEV_OPT_CLOSE_ON_FREE). */
	bev = bufferevent_openssl_socket_new(
	    s->base, fd, ssl, BUFFEREVENT_SSL_ACCEPTING, BEV_OPT_CLOSE_ON_FREE);
	if (bev != NULL)
		/* A client may end a connection (or half-close a hijacked
		 * stream, as docker's does) without close_notify. */
		bufferevent_openssl_set_allow_dirty_shutdown(bev, 1);
	httpsrv_adopt_bev(s, bev, fd, peer, 1);
}

/* Out of descriptors: make room by shedding, else pause for a second (the
 * listener would report the same error in a busy loop). */
static void
httpsrv_accept_error(struct evconnlistener *l, void *arg)
{
	struct httpsrv *s = arg;
	struct timeval tv = { 1, 0 };
	int err = EVUTIL_SOCKET_ERROR();

	(void)l;
	if (err != EMFILE && err != ENFILE && err != ENOBUFS && err != ENOMEM) {
		log_warn("accept");
		return;
	}
	if (httpsrv_shed(s, NULL))
		return;
	log_warnx("accept: %s with %d connections open: accepting paused",
	    strerror(err), s->nconns);
	httpsrv_pause(s, 1);
	evtimer_add(s->unpause, &tv);
}

static int
httpsrv_add_listener(struct httpsrv *s, struct evconnlistener *l, struct err *e)
{
	if (s->nlisteners == HTTPSRV_MAX_LISTENERS) {
		evconnlistener_free(l);
		return err_set(e, 500, "too many listeners");
	}
	/* libevent's backlog for -1 is 128, which a burst of connects
	 * overflows (EAGAIN on unix sockets). listen() again on the
	 * listening socket raises it; -1 means the system's limit,
	 * net.core.somaxconn, which Go servers (dockerd) use too. */
	if (listen(evconnlistener_get_fd(l), -1) == -1) {
		err_set(e, 500, "listen: %s", strerror(errno));
		evconnlistener_free(l);
		return -1;
	}
	if (s->unpause == NULL)
		s->unpause = evtimer_new(s->base, httpsrv_unpause_cb, s);
	evconnlistener_set_error_cb(l, httpsrv_accept_error);
	if (s->paused)
		evconnlistener_disable(l);
	s->listeners[s->nlisteners++] = l;
	return 0;
}

int
httpsrv_listen_unix(
    struct httpsrv *s, const char *path, mode_t mode, struct err *e)
{
	struct sockaddr_un sun;
	struct evconnlistener *l;
	struct stat st;
	int fd;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sun.sun_path))
		return err_set(e, 500, "socket path %s is too long", path);
	str_lcpy(sun.sun_path, path, sizeof(sun.sun_path));
	if (lstat(path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode))
			return err_set(e, 500,
			    "%s exists and is not a socket; remove it or "
			    "pick another path",
			    path);
		/* A live server answers connect(); a stale file does not. */
		fd = socket(AF_UNIX, SOCK_STREAM, 0);
		if (fd != -1 &&
		    connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == 0) {
			close(fd);
			return err_set(e, 500,
			    "%s is in use by another running server", path);
		}
		if (fd != -1)
			close(fd);
		unlink(path);
	}
	l = evconnlistener_new_bind(s->base, httpsrv_accept, s,
	    LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC, -1,
	    (struct sockaddr *)&sun, sizeof(sun));
	if (l == NULL)
		return err_set(
		    e, 500, "listening on %s: %s", path, strerror(errno));
	if (chmod(path, mode) == -1) {
		evconnlistener_free(l);
		return err_set(e, 500, "chmod %s: %s", path, strerror(errno));
	}
	if (httpsrv_add_listener(s, l, e) == -1)
		return -1;
	s->unix_paths[s->nlisteners - 1] = xstrdup(path);
	return 0;
}

int
httpsrv_listen_tcp(struct httpsrv *s, const char *host, int port, struct err *e)
{
	return httpsrv_listen_tcp_tls(s, host, port, NULL, e);
}

static int
httpsrv_set_tls(struct httpsrv *s, struct ssl_ctx_st *tls)
{
	if (tls != NULL) {
		SSL_CTX_up_ref(tls);
		s->tls[s->nlisteners - 1] = tls;
	}
	return 0;
}

int
httpsrv_listen_fd(
    struct httpsrv *s, int fd, struct ssl_ctx_st *tls, struct err *e)
{
	struct evconnlistener *l;

	evutil_make_socket_nonblocking(fd);
	l = evconnlistener_new(s->base, httpsrv_accept, s,
	    LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC, -1, fd);
	if (l == NULL) {
		err_set(e, 500, "listening on passed socket %d: %s", fd,
		    strerror(errno));
		close(fd);
		return -1;
	}
	if (httpsrv_add_listener(s, l, e) == -1)
		return -1;
	return httpsrv_set_tls(s, tls);
}

int
httpsrv_listen_tcp_tls(struct httpsrv *s, const char *host, int port,
    struct ssl_ctx_st *tls, struct err *e)
{
	struct sockaddr_storage ss;
	struct sockaddr_in *in = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;
	struct evconnlistener *l;
	socklen_t len;

	memset(&ss, 0, sizeof(ss));
	if (host == NULL || host[0] == '\0')
		host = "127.0.0.1";
	if (inet_pton(AF_INET, host, &in->sin_addr) == 1) {
		in->sin_family = AF_INET;
		in->sin_port = htons((uint16_t)port);
		len = sizeof(*in);
	} else if (inet_pton(AF_INET6, host, &in6->sin6_addr) == 1) {
		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons((uint16_t)port);
		len = sizeof(*in6);
	} else
		return err_set(
		    e, 500, "listen address %s is not an IP address", host);
	l = evconnlistener_new_bind(s->base, httpsrv_accept, s,
	    LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC | LEV_OPT_REUSEABLE,
	    -1, (struct sockaddr *)&ss, (int)len);
	if (l == NULL)
		return err_set(e, 500, "listening on %s:%d: %s", host, port,
		    strerror(errno));
	len = sizeof(ss);
	if (getsockname(
		evconnlistener_get_fd(l), (struct sockaddr *)&ss, &len) == 0)
		s->port = ntohs(
		    ss.ss_family == AF_INET ? in->sin_port : in6->sin6_port);
	if (httpsrv_add_listener(s, l, e) == -1)
		return -1;
	return httpsrv_set_tls(s, tls);
}

int
httpsrv_bound_port(const struct httpsrv *s)
{
	return s->port;
}

void
httpsrv_free(struct httpsrv *s)
{
	struct httpsrv_conn *c;

	if (s == NULL)
		return;
	while ((c = TAILQ_FIRST(&s->conns)) != NULL)
		httpsrv_conn_free(c);
	for (int i = 0; i < s->nlisteners; i++) {
		evconnlistener_free(s->listeners[i]);
		if (s->unix_paths[i] != NULL) {
			unlink(s->unix_paths[i]);
			free(s->unix_paths[i]);
		}
		SSL_CTX_free(s->tls[i]);
	}
	if (s->unpause != NULL)
		event_free(s->unpause);
	free(s);
}
