/* HTTP/1.1 server on bufferevents; see httpsrv.h. One request at a time per
 * connection: bytes of a pipelined next request wait in the input buffer
 * until the current reply is complete. */
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
#include <event2/event.h>
#include <event2/listener.h>

#include "sockerless/httpsrv.h"
#include "sockerless/json.h"
#include "sockerless/log.h"
#include "sockerless/str.h"
#include "sockerless/xmalloc.h"

#define HTTPSRV_MAX_LISTENERS 4
#define HTTPSRV_MAX_HEADERS   100

struct httpsrv_conn;

/* What the connection's deadline timer stands for. */
enum conn_timer {
	TIMER_NONE,
	TIMER_HEAD, /* the request head must be complete by then */
	TIMER_IDLE, /* keep-alive: the next request must begin by then */
	TIMER_HUP,  /* half-closed: look whether the peer is gone */
};

enum req_state {
	REQ_HEAD,    /* reading the request line and headers */
	REQ_BODY,    /* reading a Content-Length body */
	REQ_CHUNKS,  /* reading a chunked body */
	REQ_HANDLER, /* complete; the handler owns the reply */
	REQ_STREAM,  /* streaming reply in progress */
};

struct httpsrv_req {
	struct httpsrv_conn *conn;
	enum req_state state;
	char *method, *target, *path;
	int minor;
	struct strv hnames, hvalues;
	struct strv qnames, qvalues;
	char *body;
	size_t body_len, body_cap, want; /* want: bytes left of a body
					  * or of the current chunk */
	int chunk_state;
	struct strv out_headers; /* "Name: value" */
	int keepalive, status, chunked_out;
	int64_t start_ns;
	void *data;
	void (*data_free)(void *);
	void (*on_close)(struct httpsrv_req *, void *);
	void *on_close_arg;
	void (*on_drain)(struct httpsrv_req *, void *);
	void *on_drain_arg;
};

struct httpsrv_conn {
	struct httpsrv *srv;
	struct bufferevent *bev;
	struct httpsrv_req *req;
	struct event *resume;
	struct event *timer; /* deadline, see enum conn_timer */
	enum conn_timer timer_kind;
	char peer[64];
	int closing;   /* close once the output has drained */
	int busy;      /* inside conn_process: frees are deferred */
	int dead;      /* freed while busy */
	int linger;    /* after an error reply: half-close, drain input */
	int lingering; /* draining input before the close */
	int rd_eof;    /* the client shut down its write side */
	TAILQ_ENTRY(httpsrv_conn) entry;
};

TAILQ_HEAD(conn_list, httpsrv_conn);

struct httpsrv {
	struct event_base *base;
	httpsrv_handler handler;
	void *arg;
	struct httpsrv_limits limits;
	struct evconnlistener *listeners[HTTPSRV_MAX_LISTENERS];
	int nlisteners, paused, port;
	char *unix_paths[HTTPSRV_MAX_LISTENERS];
	struct conn_list conns; /* oldest first */
	int nconns;
	struct event *unpause; /* retries accept after fd exhaustion */
};

static void conn_read_cb(struct bufferevent *bev, void *arg);
static void conn_write_cb(struct bufferevent *bev, void *arg);
static void conn_event_cb(struct bufferevent *bev, short what, void *arg);
static void conn_process(struct httpsrv_conn *c);
static void conn_close_or_linger(struct httpsrv_conn *c);
static void conn_free(struct httpsrv_conn *c);
static void conn_reject(struct httpsrv_conn *c, int status, const char *msg);

static void
conn_resume_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	conn_process(arg);
}

const char *
httpsrv_status_text(int status)
{
	switch (status) {
	case 100:
		return "Continue";
	case 101:
		return "UPGRADED";
	case 200:
		return "OK";
	case 201:
		return "Created";
	case 204:
		return "No Content";
	case 304:
		return "Not Modified";
	case 400:
		return "Bad Request";
	case 401:
		return "Unauthorized";
	case 403:
		return "Forbidden";
	case 404:
		return "Not Found";
	case 405:
		return "Method Not Allowed";
	case 408:
		return "Request Timeout";
	case 409:
		return "Conflict";
	case 411:
		return "Length Required";
	case 413:
		return "Request Entity Too Large";
	case 415:
		return "Unsupported Media Type";
	case 431:
		return "Request Header Fields Too Large";
	case 500:
		return "Internal Server Error";
	case 501:
		return "Not Implemented";
	case 502:
		return "Bad Gateway";
	case 503:
		return "Service Unavailable";
	case 504:
		return "Gateway Timeout";
	default:
		return status < 300 ? "OK" :
		    status < 500    ? "Error" :
				      "Server Error";
	}
}

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

/* Arms the connection's deadline, or clears it for secs <= 0. */
static void
conn_set_timer(struct httpsrv_conn *c, enum conn_timer kind, int secs)
{
	struct timeval tv = { secs, 0 };

	c->timer_kind = secs > 0 ? kind : TIMER_NONE;
	if (secs > 0)
		evtimer_add(c->timer, &tv);
	else
		evtimer_del(c->timer);
}

/* Whether the peer closed both directions (a unix socket tells; TCP tells
 * only once a write has failed). */
static int
conn_peer_gone(struct httpsrv_conn *c)
{
	struct pollfd pfd = { bufferevent_getfd(c->bev), POLLOUT, 0 };

	if (pfd.fd < 0 || poll(&pfd, 1, 0) == -1)
		return 1;
	return (pfd.revents & (POLLHUP | POLLERR)) != 0;
}

static void
conn_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct httpsrv_conn *c = arg;
	struct timeval tv = { 2, 0 };
	char msg[128];

	(void)fd;
	(void)what;
	switch (c->timer_kind) {
	case TIMER_HEAD:
		if (c->req != NULL && c->req->state == REQ_HEAD &&
		    evbuffer_get_length(bufferevent_get_input(c->bev)) > 0) {
			/* Tell a slow human (nc, telnet) why it ends. */
			snprintf(msg, sizeof(msg),
			    "the request head did not arrive within %d s",
			    c->srv->limits.header_timeout_s);
			c->req->start_ns = str_now_ns();
			conn_reject(c, 408, msg);
			return;
		}
		conn_free(c);
		return;
	case TIMER_HUP:
		if (conn_peer_gone(c)) {
			conn_free(c);
			return;
		}
		c->timer_kind = TIMER_HUP;
		evtimer_add(c->timer, &tv);
		return;
	default:
		conn_free(c);
		return;
	}
}

static void
httpsrv_pause(struct httpsrv *s, int pause)
{
	if (s->paused == pause)
		return;
	for (int i = 0; i < s->nlisteners; i++) {
		if (pause)
			evconnlistener_disable(s->listeners[i]);
		else
			evconnlistener_enable(s->listeners[i]);
	}
	s->paused = pause;
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
			conn_free(c);
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
	char peer[64];

	(void)l;
	(void)salen;
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
	httpsrv_adopt(arg, fd, peer);
}

/* Over the limit a new connection still gets in: the oldest idle or
 * stalled one makes room. Only when every connection carries a request
 * does accepting pause, until one ends. */
void
httpsrv_adopt(struct httpsrv *s, evutil_socket_t fd, const char *peer)
{
	struct httpsrv_conn *c;

	c = xcalloc(1, sizeof(*c));
	c->srv = s;
	str_lcpy(c->peer, peer, sizeof(c->peer));
	c->bev = bufferevent_socket_new(s->base, fd, BEV_OPT_CLOSE_ON_FREE);
	if (c->bev == NULL) {
		evutil_closesocket(fd);
		free(c);
		return;
	}
	c->resume = event_new(s->base, -1, 0, conn_resume_cb, c);
	c->timer = evtimer_new(s->base, conn_timer_cb, c);
	bufferevent_setcb(
	    c->bev, conn_read_cb, conn_write_cb, conn_event_cb, c);
	conn_set_timer(c, TIMER_HEAD, s->limits.header_timeout_s);
	bufferevent_enable(c->bev, EV_READ | EV_WRITE);
	TAILQ_INSERT_TAIL(&s->conns, c, entry);
	if (++s->nconns <= s->limits.max_conns || s->limits.max_conns <= 0 ||
	    httpsrv_shed(s, c))
		return;
	if (!s->paused)
		log_warnx("%d connections open, all busy: accepting paused",
		    s->nconns);
	httpsrv_pause(s, 1);
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
	return httpsrv_add_listener(s, l, e);
}

int
httpsrv_bound_port(const struct httpsrv *s)
{
	return s->port;
}

/* --- requests --- */

static struct httpsrv_req *
req_new(struct httpsrv_conn *c)
{
	struct httpsrv_req *r = xcalloc(1, sizeof(*r));

	r->conn = c;
	r->state = REQ_HEAD;
	strv_init(&r->hnames);
	strv_init(&r->hvalues);
	strv_init(&r->qnames);
	strv_init(&r->qvalues);
	strv_init(&r->out_headers);
	return r;
}

static void
req_free(struct httpsrv_req *r)
{
	if (r == NULL)
		return;
	if (r->data_free != NULL)
		r->data_free(r->data);
	free(r->method);
	free(r->target);
	free(r->path);
	strv_free(&r->hnames);
	strv_free(&r->hvalues);
	strv_free(&r->qnames);
	strv_free(&r->qvalues);
	strv_free(&r->out_headers);
	free(r->body);
	free(r);
}

static void
conn_free(struct httpsrv_conn *c)
{
	struct httpsrv *s = c->srv;
	struct httpsrv_req *r = c->req;

	if (c->busy) {
		c->dead = 1;
		if (c->bev != NULL)
			bufferevent_disable(c->bev, EV_READ | EV_WRITE);
		return;
	}
	c->req = NULL;
	if (r != NULL && r->state >= REQ_HANDLER && r->on_close != NULL) {
		void (*fn)(struct httpsrv_req *, void *) = r->on_close;

		r->on_close = NULL;
		fn(r, r->on_close_arg);
	}
	req_free(r);
	TAILQ_REMOVE(&s->conns, c, entry);
	if (c->bev != NULL)
		bufferevent_free(c->bev);
	event_free(c->resume);
	event_free(c->timer);
	free(c);
	if (--s->nconns < s->limits.max_conns || s->limits.max_conns <= 0)
		httpsrv_pause(s, 0);
}

void
httpsrv_free(struct httpsrv *s)
{
	struct httpsrv_conn *c;

	if (s == NULL)
		return;
	while ((c = TAILQ_FIRST(&s->conns)) != NULL)
		conn_free(c);
	for (int i = 0; i < s->nlisteners; i++) {
		evconnlistener_free(s->listeners[i]);
		if (s->unix_paths[i] != NULL) {
			unlink(s->unix_paths[i]);
			free(s->unix_paths[i]);
		}
	}
	if (s->unpause != NULL)
		event_free(s->unpause);
	free(s);
}

static int
hexval(int ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	if (ch >= 'a' && ch <= 'f')
		return ch - 'a' + 10;
	if (ch >= 'A' && ch <= 'F')
		return ch - 'A' + 10;
	return -1;
}

/* Percent-decodes n bytes of s; plus_space turns '+' into ' '. Returns NULL
 * on a bad escape or an embedded NUL. */
static char *
pct_decode(const char *s, size_t n, int plus_space)
{
	char *out = xmalloc(n + 1), *o = out;

	for (size_t i = 0; i < n; i++) {
		if (s[i] == '%') {
			int h, l;

			if (i + 2 >= n)
				goto bad;
			h = hexval((unsigned char)s[i + 1]);
			l = hexval((unsigned char)s[i + 2]);
			if (h < 0 || l < 0 || (h == 0 && l == 0))
				goto bad;
			*o++ = (char)(h * 16 + l);
			i += 2;
		} else if (s[i] == '+' && plus_space)
			*o++ = ' ';
		else
			*o++ = s[i];
	}
	*o = '\0';
	return out;
bad:
	free(out);
	return NULL;
}

static int
req_parse_query(struct httpsrv_req *r, const char *q)
{
	while (*q != '\0') {
		size_t n = strcspn(q, "&");
		const char *eq = memchr(q, '=', n);
		char *k, *v;

		if (n > 0) {
			k = pct_decode(q, eq != NULL ? (size_t)(eq - q) : n, 1);
			v = eq != NULL ?
			    pct_decode(eq + 1, n - (size_t)(eq - q) - 1, 1) :
			    xstrdup("");
			if (k == NULL || v == NULL) {
				free(k);
				free(v);
				return -1;
			}
			strv_take(&r->qnames, k);
			strv_take(&r->qvalues, v);
		}
		q += n;
		if (*q == '&')
			q++;
	}
	return 0;
}

static int
token_char(int ch)
{
	return ch > 32 && ch < 127 && strchr("()<>@,;:\\\"/[]?={}", ch) == NULL;
}

/* Parses the head (request line + headers, CRLF or LF line ends). Returns
 * 0, or an HTTP status for the error reply. */
static int
req_parse_head(struct httpsrv_req *r, char *head)
{
	char *line, *save = NULL, *sp1, *sp2, *q;
	int first = 1;

	for (line = strtok_r(head, "\n", &save); line != NULL;
	     line = strtok_r(NULL, "\n", &save)) {
		size_t n = strlen(line);

		if (n > 0 && line[n - 1] == '\r')
			line[--n] = '\0';
		if (first) {
			first = 0;
			sp1 = strchr(line, ' ');
			sp2 = sp1 != NULL ? strchr(sp1 + 1, ' ') : NULL;
			if (sp1 == NULL || sp2 == NULL || sp1 == line)
				return 400;
			*sp1 = *sp2 = '\0';
			for (char *p = line; *p != '\0'; p++)
				if (!token_char((unsigned char)*p))
					return 400;
			if (strcmp(sp2 + 1, "HTTP/1.1") == 0)
				r->minor = 1;
			else if (strcmp(sp2 + 1, "HTTP/1.0") == 0)
				r->minor = 0;
			else
				return 400;
			r->method = xstrdup(line);
			r->target = xstrdup(sp1 + 1);
			if (r->target[0] != '/')
				return 400;
			q = strchr(r->target, '?');
			r->path = pct_decode(r->target,
			    q != NULL ? (size_t)(q - r->target) :
					strlen(r->target),
			    0);
			if (r->path == NULL ||
			    (q != NULL && req_parse_query(r, q + 1) == -1))
				return 400;
			continue;
		}
		if (n == 0)
			break;
		if (line[0] == ' ' || line[0] == '\t')
			return 400; /* obsolete line folding */
		{
			char *colon = strchr(line, ':'), *v;
			size_t vl;

			if (colon == NULL || colon == line)
				return 400;
			*colon = '\0';
			for (char *p = line; *p != '\0'; p++)
				if (!token_char((unsigned char)*p))
					return 400;
			v = colon + 1;
			while (*v == ' ' || *v == '\t')
				v++;
			vl = strlen(v);
			while (
			    vl > 0 && (v[vl - 1] == ' ' || v[vl - 1] == '\t'))
				v[--vl] = '\0';
			if (r->hnames.n >= HTTPSRV_MAX_HEADERS)
				return 431;
			strv_add(&r->hnames, line);
			strv_add(&r->hvalues, v);
		}
	}
	if (first)
		return 400;
	return 0;
}

/* Writes the status line and headers. */
static void
req_write_head(
    struct httpsrv_req *r, int status, const char *ctype, const char *extra)
{
	struct evbuffer *out = bufferevent_get_output(r->conn->bev);
	char date[64];
	time_t now = time(NULL);
	struct tm tm;

	r->status = status;
	gmtime_r(&now, &tm);
	strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S GMT", &tm);
	/* A 1.1 server answers "HTTP/1.1" whatever the client spoke. */
	evbuffer_add_printf(out, "HTTP/1.1 %d %s\r\nDate: %s\r\n", status,
	    httpsrv_status_text(status), date);
	if (ctype != NULL)
		evbuffer_add_printf(out, "Content-Type: %s\r\n", ctype);
	for (size_t i = 0; i < r->out_headers.n; i++)
		evbuffer_add_printf(out, "%s\r\n", r->out_headers.v[i]);
	if (extra != NULL)
		evbuffer_add(out, extra, strlen(extra));
	if (!r->keepalive && status != 101)
		evbuffer_add_printf(out, "Connection: close\r\n");
	evbuffer_add(out, "\r\n", 2);
}

/* The reply is complete: logs, frees the request and moves on. */
static void
req_done(struct httpsrv_req *r)
{
	struct httpsrv_conn *c = r->conn;
	size_t pending;

	log_request(r->method != NULL ? r->method : "-",
	    r->target != NULL ? r->target : "-", r->status,
	    (double)(str_now_ns() - r->start_ns) / 1e6, NULL);
	c->req = NULL;
	pending = evbuffer_get_length(bufferevent_get_input(c->bev));
	/* Paused at the connection limit, an idle keep-alive connection
	 * would only hold a slot: close it. A half-closed client sends no
	 * more than what is already buffered. */
	if (!r->keepalive || (c->srv->paused && pending == 0) ||
	    (c->rd_eof && pending == 0))
		c->closing = 1;
	req_free(r);
	if (c->closing) {
		conn_set_timer(c, TIMER_NONE, 0);
		bufferevent_disable(c->bev, EV_READ);
		if (evbuffer_get_length(bufferevent_get_output(c->bev)) == 0)
			event_active(c->resume, 0, 0);
		return;
	}
	conn_set_timer(c, pending > 0 ? TIMER_HEAD : TIMER_IDLE,
	    pending > 0 ? c->srv->limits.header_timeout_s :
			  c->srv->limits.idle_timeout_s);
	if (!c->rd_eof)
		bufferevent_enable(c->bev, EV_READ);
	/* Pipelined bytes may already wait in the input buffer. */
	if (pending > 0)
		event_active(c->resume, 0, 0);
}

/* Replies to a request the parser rejected and closes the connection. */
static void
conn_reject(struct httpsrv_conn *c, int status, const char *msg)
{
	struct httpsrv_req *r = c->req;

	r->keepalive = 0;
	r->state = REQ_HANDLER;
	c->linger = 1;
	httpsrv_reply_error(r, status, "%s", msg);
}

/* 413 naming the limit (docker cp of a large tree meets it first). */
static void
conn_reject_large(struct httpsrv_conn *c)
{
	char msg[160];

	snprintf(msg, sizeof(msg),
	    "request body is too large: the limit is %zu MiB; copy large "
	    "trees in parts",
	    c->srv->limits.max_body_bytes >> 20);
	conn_reject(c, 413, msg);
}

static void
req_add_body(struct httpsrv_req *r, struct evbuffer *in, size_t n)
{
	/* Grow geometrically: a body arrives in 4-64 KiB reads, and exact
	 * growth copied a 16 MiB body some 250 times (minutes under ASan,
	 * while the client waited). */
	if (r->body_len + n + 1 > r->body_cap) {
		size_t cap = r->body_cap < 4096 ? 4096 : r->body_cap;

		while (cap < r->body_len + n + 1)
			cap *= 2;
		r->body_cap = cap;
		r->body = xrealloc(r->body, r->body_cap);
	}
	evbuffer_remove(in, r->body + r->body_len, n);
	r->body_len += n;
	r->body[r->body_len] = '\0';
}

/* Dispatches a complete request to the handler. */
static void
req_dispatch(struct httpsrv_conn *c)
{
	struct httpsrv_req *r = c->req;

	r->state = REQ_HANDLER;
	if (r->body == NULL) {
		r->body = xstrdup("");
		r->body_cap = 1;
	}
	/* Long-lived replies (wait, logs -f, events) must not time out. */
	bufferevent_set_timeouts(c->bev, NULL, NULL);
	conn_set_timer(c, TIMER_HUP, c->rd_eof ? 2 : 0);
	c->srv->handler(r, c->srv->arg);
}

/* Reads the head; returns 1 when the request moved on, 0 to wait for more,
 * -1 after a rejection. */
static int
conn_read_head(struct httpsrv_conn *c, struct evbuffer *in)
{
	struct httpsrv_req *r = c->req;
	struct evbuffer_ptr p, p2;
	size_t hlen, max = c->srv->limits.max_header_bytes;
	char *head;
	const char *te, *cl, *conn, *expect;
	int st;

	/* Tolerate blank lines before a request (RFC 9112 2.2). */
	while (evbuffer_get_length(in) >= 2) {
		unsigned char *b = evbuffer_pullup(in, 2);

		if (b[0] == '\r' && b[1] == '\n')
			evbuffer_drain(in, 2);
		else if (b[0] == '\n')
			evbuffer_drain(in, 1);
		else
			break;
	}
	p = evbuffer_search(in, "\r\n\r\n", 4, NULL);
	p2 = evbuffer_search(in, "\n\n", 2, NULL);
	if (p.pos == -1 && p2.pos == -1) {
		if (evbuffer_get_length(in) > max) {
			r->start_ns = str_now_ns();
			conn_reject(c, 431, "request headers are too large");
			return -1;
		}
		return 0;
	}
	if (p.pos != -1 && (p2.pos == -1 || p.pos < p2.pos))
		hlen = (size_t)p.pos + 4;
	else
		hlen = (size_t)p2.pos + 2;
	if (hlen > max) {
		conn_reject(c, 431, "request headers are too large");
		return -1;
	}
	r->start_ns = str_now_ns();
	head = xmalloc(hlen + 1);
	evbuffer_remove(in, head, hlen);
	head[hlen] = '\0';
	if (memchr(head, '\0', hlen) != NULL)
		st = 400;
	else
		st = req_parse_head(r, head);
	free(head);
	if (st != 0) {
		conn_reject(c, st,
		    st == 431 ? "too many request headers" :
				"malformed HTTP request");
		return -1;
	}
	conn = httpsrv_req_header(r, "Connection");
	if (r->minor == 1)
		r->keepalive =
		    conn == NULL || strcasestr(conn, "close") == NULL;
	else
		r->keepalive =
		    conn != NULL && strcasestr(conn, "keep-alive") != NULL;
	te = httpsrv_req_header(r, "Transfer-Encoding");
	cl = httpsrv_req_header(r, "Content-Length");
	if (te != NULL) {
		if (strcasecmp(te, "chunked") != 0) {
			conn_reject(c, 501,
			    "unsupported Transfer-Encoding (only chunked)");
			return -1;
		}
		/* RFC 9112 6.3: chunked wins over Content-Length; such a
		 * message may be smuggling, so the connection ends after. */
		if (cl != NULL)
			r->keepalive = 0;
		r->state = REQ_CHUNKS;
		r->chunk_state = 0;
	} else if (cl != NULL) {
		long long n;

		if (str_tonum(cl, 0, LLONG_MAX, &n, NULL) == -1) {
			conn_reject(c, 400, "bad Content-Length");
			return -1;
		}
		if ((size_t)n > c->srv->limits.max_body_bytes) {
			conn_reject_large(c);
			return -1;
		}
		r->want = (size_t)n;
		r->state = REQ_BODY;
	} else {
		req_dispatch(c);
		return 1;
	}
	/* The head is in: a body may take long (docker cp, build
	 * contexts) but must not stall. */
	conn_set_timer(c, TIMER_NONE, 0);
	if (c->srv->limits.idle_timeout_s > 0) {
		struct timeval tv = { c->srv->limits.idle_timeout_s, 0 };

		bufferevent_set_timeouts(c->bev, &tv, NULL);
	}
	expect = httpsrv_req_header(r, "Expect");
	if (expect != NULL && strcasecmp(expect, "100-continue") == 0)
		evbuffer_add_printf(bufferevent_get_output(c->bev),
		    "HTTP/1.1 100 Continue\r\n\r\n");
	return 1;
}

/* Reads chunked body data; returns 1 when complete, 0 for more, -1 after a
 * rejection. chunk_state: 0 size line, 1 data, 2 CRLF after data, 3
 * trailers. */
static int
conn_read_chunks(struct httpsrv_conn *c, struct evbuffer *in)
{
	struct httpsrv_req *r = c->req;
	size_t len;
	char *line;
	const char *end;
	long long n;

	for (;;) {
		if (r->chunk_state == 1) {
			size_t avail = evbuffer_get_length(in);

			if (avail > r->want)
				avail = r->want;
			if (avail > 0) {
				req_add_body(r, in, avail);
				r->want -= avail;
			}
			if (r->want > 0)
				return 0;
			r->chunk_state = 2;
			continue;
		}
		line = evbuffer_readln(in, &len, EVBUFFER_EOL_CRLF);
		if (line == NULL) {
			if (evbuffer_get_length(in) > 4096) {
				conn_reject(c, 400, "malformed chunked body");
				return -1;
			}
			return 0;
		}
		switch (r->chunk_state) {
		case 2:
			free(line);
			if (len != 0) {
				conn_reject(c, 400, "malformed chunked body");
				return -1;
			}
			r->chunk_state = 0;
			break;
		case 3:
			free(line);
			if (len == 0)
				return 1;
			break;
		default:
			if (str_tohex(line, LLONG_MAX, &n, &end) == -1 ||
			    (*end != '\0' && *end != ';' && *end != ' ' &&
				*end != '\t')) {
				free(line);
				conn_reject(c, 400, "malformed chunk size");
				return -1;
			}
			free(line);
			if ((size_t)n > c->srv->limits.max_body_bytes ||
			    r->body_len + (size_t)n >
				c->srv->limits.max_body_bytes) {
				conn_reject_large(c);
				return -1;
			}
			r->want = (size_t)n;
			r->chunk_state = n == 0 ? 3 : 1;
			break;
		}
	}
}

static void conn_process_input(struct httpsrv_conn *c, struct evbuffer *in);

static void
conn_process(struct httpsrv_conn *c)
{
	struct evbuffer *in;

	if (c->closing) {
		if (evbuffer_get_length(bufferevent_get_output(c->bev)) == 0)
			conn_close_or_linger(c);
		return;
	}
	in = bufferevent_get_input(c->bev);
	c->busy = 1;
	conn_process_input(c, in);
	c->busy = 0;
	/* Half-closed and nothing in flight: no request can complete. */
	if (c->dead ||
	    (c->rd_eof && !c->closing && !c->lingering &&
		(c->req == NULL || c->req->state < REQ_HANDLER)))
		conn_free(c);
}

static void
conn_process_input(struct httpsrv_conn *c, struct evbuffer *in)
{
	int rc;

	for (;;) {
		if (c->req == NULL) {
			if (evbuffer_get_length(in) == 0)
				return;
			c->req = req_new(c);
			if (c->timer_kind == TIMER_IDLE)
				conn_set_timer(c, TIMER_HEAD,
				    c->srv->limits.header_timeout_s);
		}
		switch (c->req->state) {
		case REQ_HEAD:
			rc = conn_read_head(c, in);
			if (rc <= 0)
				return;
			break;
		case REQ_BODY: {
			size_t n = evbuffer_get_length(in);

			if (n > c->req->want)
				n = c->req->want;
			if (n > 0) {
				req_add_body(c->req, in, n);
				c->req->want -= n;
			}
			if (c->req->want > 0)
				return;
			req_dispatch(c);
			break;
		}
		case REQ_CHUNKS:
			rc = conn_read_chunks(c, in);
			if (rc <= 0)
				return;
			req_dispatch(c);
			break;
		case REQ_HANDLER:
		case REQ_STREAM:
			/* Busy: a pipelined request waits, bounded. */
			if (evbuffer_get_length(in) >
			    c->srv->limits.max_header_bytes)
				bufferevent_disable(c->bev, EV_READ);
			return;
		}
		if (c->closing || c->dead)
			return;
		/* Still reading this request's body: go on. Dispatched and
		 * not yet answered: wait. Answered: the next request. */
		if (c->req != NULL && c->req->state >= REQ_HANDLER)
			return;
	}
}

static void
conn_linger_read(struct bufferevent *bev, void *arg)
{
	(void)arg;
	evbuffer_drain(bufferevent_get_input(bev),
	    evbuffer_get_length(bufferevent_get_input(bev)));
}

/* Closing right after an error reply while the client is still sending
 * makes the kernel send RST, and the client may lose the reply: send FIN
 * instead and discard input until the client closes (2 s at most). */
static void
conn_close_or_linger(struct httpsrv_conn *c)
{
	struct timeval tv = { 2, 0 };

	if (!c->linger || c->dead) {
		conn_free(c);
		return;
	}
	c->linger = 0;
	c->closing = 0;
	c->lingering = 1;
	conn_set_timer(c, TIMER_NONE, 0);
	shutdown(bufferevent_getfd(c->bev), SHUT_WR);
	bufferevent_setcb(c->bev, conn_linger_read, NULL, conn_event_cb, c);
	bufferevent_set_timeouts(c->bev, &tv, NULL);
	bufferevent_enable(c->bev, EV_READ);
	conn_linger_read(c->bev, c);
}

static void
conn_read_cb(struct bufferevent *bev, void *arg)
{
	(void)bev;
	conn_process(arg);
}

static void
conn_write_cb(struct bufferevent *bev, void *arg)
{
	struct httpsrv_conn *c = arg;
	struct httpsrv_req *r = c->req;

	(void)bev;
	if (c->closing) {
		conn_close_or_linger(c);
		return;
	}
	if (r != NULL && r->state == REQ_STREAM && r->on_drain != NULL)
		r->on_drain(r, r->on_drain_arg);
}

static void
conn_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct httpsrv_conn *c = arg;

	(void)bev;
	if (what & BEV_EVENT_TIMEOUT) {
		/* Only armed while reading a body or lingering. */
		conn_free(c);
		return;
	}
	if ((what & BEV_EVENT_ERROR) || !(what & BEV_EVENT_EOF))
		goto gone;
	/* EOF: a client that sent its request and shut down its write side
	 * (nc -N, proxies, scripts) still wants the answer. Only a peer that
	 * closed both directions is gone. */
	if (c->lingering || conn_peer_gone(c))
		goto gone;
	if (c->req == NULL || c->req->state < REQ_HANDLER) {
		/* An answer already queued still goes out; a request cut
		 * short can never complete. */
		if (c->req != NULL ||
		    evbuffer_get_length(bufferevent_get_output(c->bev)) == 0)
			goto gone;
		c->rd_eof = 1;
		c->closing = 1;
		conn_set_timer(c, TIMER_NONE, 0);
		return;
	}
	c->rd_eof = 1;
	bufferevent_disable(c->bev, EV_READ);
	/* A long reply (logs -f, wait) must still notice a later close. */
	conn_set_timer(c, TIMER_HUP, 2);
	return;
gone:
	conn_free(c);
}

/* --- accessors --- */

const char *
httpsrv_req_method(const struct httpsrv_req *r)
{
	return r->method;
}

const char *
httpsrv_req_path(const struct httpsrv_req *r)
{
	return r->path;
}

const char *
httpsrv_req_target(const struct httpsrv_req *r)
{
	return r->target;
}

const char *
httpsrv_req_query(const struct httpsrv_req *r, const char *name)
{
	for (size_t i = 0; i < r->qnames.n; i++)
		if (strcmp(r->qnames.v[i], name) == 0)
			return r->qvalues.v[i];
	return NULL;
}

const char *
httpsrv_req_header(const struct httpsrv_req *r, const char *name)
{
	for (size_t i = 0; i < r->hnames.n; i++)
		if (strcasecmp(r->hnames.v[i], name) == 0)
			return r->hvalues.v[i];
	return NULL;
}

void
httpsrv_req_foreach_header(const struct httpsrv_req *r,
    void (*fn)(const char *, const char *, void *), void *arg)
{
	for (size_t i = 0; i < r->hnames.n; i++)
		fn(r->hnames.v[i], r->hvalues.v[i], arg);
}

const char *
httpsrv_req_body(const struct httpsrv_req *r, size_t *len)
{
	if (len != NULL)
		*len = r->body_len;
	return r->body != NULL ? r->body : "";
}

int
httpsrv_req_minor(const struct httpsrv_req *r)
{
	return r->minor;
}

const char *
httpsrv_req_peer(const struct httpsrv_req *r)
{
	return r->conn->peer;
}

void
httpsrv_req_set_data(struct httpsrv_req *r, void *data, void (*free_fn)(void *))
{
	r->data = data;
	r->data_free = free_fn;
}

void *
httpsrv_req_data(const struct httpsrv_req *r)
{
	return r->data;
}

void
httpsrv_req_on_close(
    struct httpsrv_req *r, void (*fn)(struct httpsrv_req *, void *), void *arg)
{
	r->on_close = fn;
	r->on_close_arg = arg;
}

/* --- replies --- */

void
httpsrv_add_header(struct httpsrv_req *r, const char *name, const char *value)
{
	strv_take(&r->out_headers, xasprintf("%s: %s", name, value));
}

void
httpsrv_reply(struct httpsrv_req *r, int status, const char *content_type,
    const void *body, size_t len)
{
	char cl[64];

	if (status == 204 || status == 304)
		snprintf(cl, sizeof(cl), "%s", "");
	else
		snprintf(cl, sizeof(cl), "Content-Length: %zu\r\n", len);
	req_write_head(r, status,
	    status == 204 || status == 304 ? NULL : content_type, cl);
	if (len > 0 && status != 204 && status != 304 &&
	    strcmp(r->method != NULL ? r->method : "", "HEAD") != 0)
		evbuffer_add(bufferevent_get_output(r->conn->bev), body, len);
	req_done(r);
}

void
httpsrv_reply_json(struct httpsrv_req *r, int status, const cJSON *o)
{
	char *s = json_print(o);
	size_t n = strlen(s);

	s = xrealloc(s, n + 2);
	s[n++] = '\n';
	s[n] = '\0';
	httpsrv_reply(r, status, "application/json", s, n);
	free(s);
}

void
httpsrv_reply_error(struct httpsrv_req *r, int status, const char *fmt, ...)
{
	cJSON *o = cJSON_CreateObject();
	va_list ap;
	char *msg;

	va_start(ap, fmt);
	if (vasprintf(&msg, fmt, ap) == -1)
		msg = NULL;
	va_end(ap);
	json_add_str(o, "message", msg != NULL ? msg : "error");
	free(msg);
	httpsrv_reply_json(r, status, o);
	cJSON_Delete(o);
}

void
httpsrv_reply_err(struct httpsrv_req *r, const struct err *e)
{
	httpsrv_reply_error(
	    r, e->status >= 400 ? e->status : 500, "%s", e->msg);
}

void
httpsrv_reply_empty(struct httpsrv_req *r, int status)
{
	httpsrv_reply(r, status, NULL, NULL, 0);
}

void
httpsrv_stream_begin(
    struct httpsrv_req *r, int status, const char *content_type)
{
	if (r->minor == 1) {
		r->chunked_out = 1;
		req_write_head(
		    r, status, content_type, "Transfer-Encoding: chunked\r\n");
	} else {
		r->keepalive = 0;
		req_write_head(r, status, content_type, NULL);
	}
	r->state = REQ_STREAM;
}

/* Queues a and b as one chunk. */
static int
req_stream_chunk(struct httpsrv_req *r, const void *a, size_t alen,
    const void *b, size_t blen)
{
	struct evbuffer *out = bufferevent_get_output(r->conn->bev);

	if (alen + blen == 0)
		return 0;
	if (r->chunked_out)
		evbuffer_add_printf(out, "%zx\r\n", alen + blen);
	evbuffer_add(out, a, alen);
	evbuffer_add(out, b, blen);
	if (r->chunked_out)
		evbuffer_add(out, "\r\n", 2);
	return 0;
}

int
httpsrv_stream_write(struct httpsrv_req *r, const void *p, size_t len)
{
	return req_stream_chunk(r, p, len, NULL, 0);
}

int
httpsrv_stream_line(struct httpsrv_req *r, const char *s, const char *eol)
{
	return req_stream_chunk(r, s, strlen(s), eol, strlen(eol));
}

size_t
httpsrv_stream_pending(const struct httpsrv_req *r)
{
	return evbuffer_get_length(bufferevent_get_output(r->conn->bev));
}

void
httpsrv_stream_on_drain(
    struct httpsrv_req *r, void (*fn)(struct httpsrv_req *, void *), void *arg)
{
	r->on_drain = fn;
	r->on_drain_arg = arg;
}

void
httpsrv_stream_end(struct httpsrv_req *r)
{
	if (r->chunked_out)
		evbuffer_add(
		    bufferevent_get_output(r->conn->bev), "0\r\n\r\n", 5);
	req_done(r);
}

void
httpsrv_stream_abort(struct httpsrv_req *r)
{
	/* What was relayed still reaches the client; then the connection
	 * closes without the terminating chunk, which a client reports as
	 * a broken reply (Go: "unexpected EOF") rather than a complete one. */
	r->keepalive = 0;
	r->chunked_out = 0;
	req_done(r);
}

struct bufferevent *
httpsrv_hijack(struct httpsrv_req *r, const char *content_type)
{
	struct httpsrv_conn *c = r->conn;
	struct bufferevent *bev = c->bev;
	const char *up = httpsrv_req_header(r, "Upgrade");
	const char *conn = httpsrv_req_header(r, "Connection");

	r->keepalive = 0;
	if (up != NULL && conn != NULL && strcasestr(conn, "upgrade") != NULL)
		req_write_head(r, 101, content_type,
		    "Connection: Upgrade\r\nUpgrade: tcp\r\n");
	else
		req_write_head(r, 200, content_type, NULL);
	log_request(r->method, r->target, r->status,
	    (double)(str_now_ns() - r->start_ns) / 1e6, NULL);
	/* Hand the bufferevent over and drop the connection record. */
	bufferevent_setcb(bev, NULL, NULL, NULL, NULL);
	bufferevent_set_timeouts(bev, NULL, NULL);
	bufferevent_enable(bev, EV_READ | EV_WRITE);
	c->bev = NULL;
	c->req = NULL;
	req_free(r);
	conn_free(c);
	return bev;
}
