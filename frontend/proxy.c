/* The relay to the backend: a kept-alive internal connection per request
 * (pool.c; a hijacked one gets its own), the response head parsed and
 * re-emitted, bodies copied as they arrive (whole
 * when small and sized, chunk by chunk when streamed), and 101 answers
 * turned into a spliced, hijacked client connection. The list and inspect
 * GETs of containers that arrive while others are in flight share one
 * connection, pipelined (struct pipe). */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <unistd.h>

#include <linux/sockios.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include "frontend.h"
#include "sockerless/buf.h"
#include "sockerless/evloop.h"
#include "sockerless/json.h"
#include "sockerless/lite.h"
#include "sockerless/listen.h"
#include "sockerless/log.h"
#include "sockerless/splice.h"
#include "sockerless/tls.h"
#include "sockerless/xmalloc.h"

#define PROXY_MAX_HEAD	   (64 * 1024)
#define PROXY_BUFFER_LIMIT (1024 * 1024)
#define PROXY_HIGH_WATER   (1024 * 1024)
/* Chunks up to this size are relayed whole; larger ones in pieces. */
#define PROXY_WHOLE_CHUNK (256 * 1024)
#define PROXY_PIECE	  16384
/* What one read callback takes from the backend's socket at most, and in
 * reads of what size (proxy_slurp). */
#define PROXY_SLURP	 (1024 * 1024)
#define PROXY_SLURP_STEP (256 * 1024)
/* Seconds an internal GET (capabilities, lookups) may take. */
#define PROXY_GET_TIMEOUT 5
/* A hijacked stream waits for its client to read the 101 head: checked
 * every PROXY_HOLD_TICK_US, for at most PROXY_HOLD_MAX_NS. */
#define PROXY_HOLD_TICK_US 1000
#define PROXY_HOLD_MAX_NS  (2LL * 1000000000LL)
/* Requests with larger bodies (build contexts, loads) get a connection of
 * their own: a pooled one would keep a copy to resend. */
#define PROXY_POOL_BODY (64 * 1024)
/* Requests one pipelined connection carries at once. */
#define PIPE_MAX 16

enum proxy_state {
	PROXY_HEAD,
	PROXY_BODY_LEN,	       /* Content-Length, buffered whole */
	PROXY_BODY_STREAM_LEN, /* Content-Length, too large to buffer */
	PROXY_BODY_CHUNKED,
	PROXY_BODY_CLOSE, /* delimited by the backend closing */
	PROXY_DONE,
};

enum proxy_chunk { CHUNK_SIZE, CHUNK_DATA, CHUNK_DATA_END, CHUNK_TRAILER };

struct proxy {
	struct httpsrv_req *req;
	struct bufferevent *be;
	enum proxy_state state;
	enum proxy_chunk chunk;
	size_t left; /* body or chunk bytes still expected */
	int status;
	int streaming; /* the reply head went out to the client */
	char *content_type;
	struct buf body;
	char *path;	   /* for log lines */
	int connected;	   /* the connection (and TLS handshake) is up */
	unsigned gen;	   /* the pool generation of be */
	int keep;	   /* be may serve another request after this one */
	int reused;	   /* be came from the pool */
	int got;	   /* the backend sent a byte of its answer */
	struct buf resend; /* the request, while it may be resent */
	struct pipe *pipe; /* the pipelined connection it waits on, or NULL */
	TAILQ_ENTRY(proxy) pipe_entry;
};

/*
 * A connection carrying several GETs at once (HTTP/1.1 pipelining): the
 * backend answers them in order, so the answers are read off one by one,
 * each by its own proxy (the head of q). Under load that takes one send
 * and one read for many requests on both sides; one request at a time
 * goes as before, alone. Only the list and inspect of containers join
 * (answered at once from the backend's memory, never streamed), so none
 * waits long behind another. A connection that ends early sends every
 * request not yet answered again on a connection of its own (GETs change
 * nothing).
 */
struct pipe {
	struct bufferevent *be;
	unsigned gen; /* the pool generation of be */
	int n;	      /* proxies in q */
	int closed;   /* takes no more: the backend will close it */
	int broken;   /* an answer failed: what follows cannot be read */
	int busy;     /* pipe_read is reading it */
	TAILQ_HEAD(, proxy) q;
	struct buf out; /* requests of this loop turn, not yet sent */
	struct event *flush;
	int flush_armed;
};

/* The pipe new pipelined requests join, or NULL. */
static struct pipe *pipe_cur;
static void pipe_break(struct pipe *pp);

static void proxy_free(struct proxy *p);
static char *proxy_unreachable(struct bufferevent *be);

/* Where the backend is: its unix socket, or tcp://IP:PORT with TLS (the
 * operator's CA) and a bearer token (docs/internal-api.md). Read from the
 * configuration once. */
static struct {
	int ready, tcp;
	struct sockaddr_storage ss;
	socklen_t sslen;
	char *host;
	SSL_CTX *ctx;
	char *token;
} uplink;

static void
proxy_fail(struct proxy *p, int status, const char *detail)
{
	if (p->pipe != NULL)
		p->pipe->broken = 1;
	if (p->req != NULL) {
		httpsrv_req_on_close(p->req, NULL, NULL);
		if (!p->streaming) {
			httpsrv_reply_error(p->req, status, "%s", detail);
		} else {
			/* The head is out: break the reply off, so the client
			 * sees it cut short, not complete (logs -f would
			 * otherwise end with exit 0 and missing lines). */
			log_warnx(
			    "relay of %s ended early: %s", p->path, detail);
			httpsrv_stream_abort(p->req);
		}
		p->req = NULL;
	}
	proxy_free(p);
}

static void
proxy_free(struct proxy *p)
{
	if (p->req != NULL)
		httpsrv_req_on_close(p->req, NULL, NULL);
	if (p->pipe != NULL) {
		TAILQ_REMOVE(&p->pipe->q, p, pipe_entry);
		p->pipe->n--;
		p->pipe = NULL;
	}
	if (p->be != NULL)
		bufferevent_free(p->be);
	free(p->content_type);
	free(p->path);
	buf_free(&p->body);
	buf_free(&p->resend);
	free(p);
}

/* The connection p read its answer from. */
static struct bufferevent *
proxy_bev(struct proxy *p)
{
	return p->pipe != NULL ? p->pipe->be : p->be;
}

/* The answer ended cleanly: be goes back to the pool when the backend
 * keeps it open and nothing is left unread or unsent (a pipe's, once all
 * its answers are read: pipe_done). */
static void
proxy_release(struct proxy *p)
{
	/* A 401 (a wrong token) is not kept: a kept connection tells
	 * _ping that the backend accepts this frontend. */
	if (p->be == NULL || !p->keep || p->status == 401 ||
	    evbuffer_get_length(bufferevent_get_input(p->be)) > 0 ||
	    evbuffer_get_length(bufferevent_get_output(p->be)) > 0)
		return;
	pool_put(p->be, p->gen, 0);
	p->be = NULL;
}

static void
proxy_finish(struct proxy *p)
{
	p->state = PROXY_DONE;
	proxy_release(p);
	if (p->req != NULL) {
		httpsrv_req_on_close(p->req, NULL, NULL);
		httpsrv_stream_end(p->req);
		p->req = NULL;
	}
	proxy_free(p);
}

static int
proxy_hop_header(const char *name)
{
	static const char *hop[] = { "connection", "transfer-encoding",
		"content-length", "content-type", "upgrade", "keep-alive",
		"date", "server", "api-version", "docker-experimental",
		"ostype" };

	for (size_t i = 0; i < sizeof(hop) / sizeof(hop[0]); i++)
		if (strcasecmp(name, hop[i]) == 0)
			return 1;
	return 0;
}

/* Parses the response head in `head` (NUL-terminated, CRLFs included). */
static int
proxy_parse_head(struct proxy *p, char *head, long *clen, int *chunked)
{
	char *line, *save = NULL, *colon, *value;
	int first = 1;
	long long n = 0;

	*clen = -1;
	*chunked = 0;
	for (line = strtok_r(head, "\r\n", &save); line != NULL;
	     line = strtok_r(NULL, "\r\n", &save)) {
		if (first) {
			first = 0;
			if (str_http_status(line, &p->status) == -1)
				return -1;
			continue;
		}
		if ((colon = strchr(line, ':')) == NULL)
			return -1;
		*colon = '\0';
		value = colon + 1;
		while (*value == ' ' || *value == '\t')
			value++;
		if (strcasecmp(line, "Content-Length") == 0 &&
		    str_tonum(value, 0, LONG_MAX, &n, NULL) == -1)
			return -1;
		if (strcasecmp(line, "Content-Length") == 0)
			*clen = (long)n;
		else if (strcasecmp(line, "Transfer-Encoding") == 0)
			*chunked = strcasecmp(value, "chunked") == 0;
		else if (strcasecmp(line, "Connection") == 0 &&
		    strcasestr(value, "close") != NULL)
			p->keep = 0;
		else if (strcasecmp(line, "Content-Type") == 0) {
			/* The last one counts; one sent twice is not kept. */
			free(p->content_type);
			p->content_type = xstrdup(value);
		}
		if (strcasecmp(line, "Sockerless-Backend") == 0 &&
		    strcmp(value, frontend->caps.instance) != 0) {
			log_info("backend changed to %s, refreshing "
				 "capabilities",
			    value);
			/* Idle connections may lead to the old one. */
			pool_flush();
			proxy_caps_refresh();
		}
		if (!proxy_hop_header(line))
			httpsrv_add_header(p->req, line, value);
	}
	return first ? -1 : 0;
}

static void
proxy_drained(struct httpsrv_req *r, void *arg)
{
	struct proxy *p = arg;

	(void)r;
	if (proxy_bev(p) != NULL)
		bufferevent_enable(proxy_bev(p), EV_READ);
}

static void
proxy_client_gone(struct httpsrv_req *r, void *arg)
{
	struct proxy *p = arg;
	struct pipe *pp = p->pipe;

	(void)r;
	p->req = NULL;
	proxy_free(p);
	/* Its answer, sent or to come, cannot be told from the next ones'
	 * without reading it for nobody: the others go again. */
	if (pp != NULL)
		pipe_break(pp);
}

static void
proxy_splice_done(void *arg)
{
	(void)arg;
}

/*
 * A hijacked client between its 101 head and the splice. docker-py reads
 * the head through a buffered reader and then reads the raw socket, so
 * stream bytes that reach the client before it has read the head are
 * swallowed with it (docker/docker-py#2042). dockerd's ordering (head,
 * then runc starts the process) makes that rare; an agent starts a
 * process in a millisecond, so the order is held here, where the client's
 * socket is: the stream starts once the head has left our buffer and the
 * client has read it (SIOCOUTQ 0 on a unix socket; on TCP that means
 * acknowledged, as close as TCP lets us see). A client that does not read
 * gets its stream after PROXY_HOLD_MAX_NS all the same. Nothing is read
 * from either side meanwhile, so nothing is lost or reordered.
 */
struct proxy_hold {
	struct bufferevent *client, *be;
	struct event *tick;
	int64_t until_ns;
};

static int
proxy_head_read(struct bufferevent *c)
{
	int unread = 0;

	if (evbuffer_get_length(bufferevent_get_output(c)) > 0)
		return 0;
	/* Not a socket that can tell (ENOTTY): the head has been sent. */
	if (ioctl(bufferevent_getfd(c), SIOCOUTQ, &unread) == -1)
		return 1;
	return unread == 0;
}

static void
proxy_hold_tick(evutil_socket_t fd, short what, void *arg)
{
	struct proxy_hold *h = arg;
	struct timeval tv = { 0, PROXY_HOLD_TICK_US };

	(void)fd;
	(void)what;
	if (!proxy_head_read(h->client) && str_now_ns() < h->until_ns) {
		evtimer_add(h->tick, &tv);
		return;
	}
	event_free(h->tick);
	splice_new(h->client, h->be, proxy_splice_done, NULL);
	free(h);
}

/* Splices client and be once the client has read its 101 head. */
static void
proxy_hold_then_splice(struct bufferevent *client, struct bufferevent *be)
{
	struct proxy_hold *h = xcalloc(1, sizeof(*h));

	h->client = client;
	h->be = be;
	h->until_ns = str_now_ns() + PROXY_HOLD_MAX_NS;
	bufferevent_setcb(be, NULL, NULL, NULL, NULL);
	bufferevent_disable(be, EV_READ);
	bufferevent_disable(client, EV_READ);
	h->tick = evtimer_new(frontend->base, proxy_hold_tick, h);
	proxy_hold_tick(-1, 0, h);
}

/* Relays the first len bytes of the backend's input to the client (one
 * chunk of a chunked reply), moved without a copy; reading pauses while
 * the client is behind. */
static void
proxy_move(struct proxy *p, struct evbuffer *in, size_t len)
{
	httpsrv_stream_move(p->req, in, len);
	if (httpsrv_stream_pending(p->req) > PROXY_HIGH_WATER)
		bufferevent_disable(proxy_bev(p), EV_READ);
}

/* Handles the head once complete; returns -1 if p was freed. */
static int
proxy_on_head(struct proxy *p, struct evbuffer *in)
{
	struct evbuffer_ptr end;
	char *head;
	long clen;
	int chunked;
	const char *ct;

	end = evbuffer_search(in, "\r\n\r\n", 4, NULL);
	if (end.pos == -1) {
		if (evbuffer_get_length(in) > PROXY_MAX_HEAD) {
			proxy_fail(p, 502,
			    "the backend sent an "
			    "oversized response head");
			return -1;
		}
		return 1;
	}
	head = xmalloc((size_t)end.pos + 5);
	evbuffer_remove(in, head, (size_t)end.pos + 4);
	head[end.pos + 4] = '\0';
	if (proxy_parse_head(p, head, &clen, &chunked) == -1) {
		free(head);
		proxy_fail(p, 502,
		    "the backend sent a malformed "
		    "response");
		return -1;
	}
	free(head);
	ct = p->content_type != NULL ? p->content_type : "application/json";
	if (p->pipe != NULL && !p->keep)
		p->pipe->closed = 1;
	/* 101, or the 200 + raw stream old clients get without Upgrade. */
	if (p->status == 101 ||
	    (p->status == 200 && clen < 0 && !chunked &&
		str_prefix(ct, "application/vnd.docker."))) {
		if (p->pipe != NULL) {
			proxy_fail(p, 502,
			    "the backend answered a list or inspect with a "
			    "raw stream");
			return -1;
		}
		struct bufferevent *c = httpsrv_hijack(p->req, ct);
		struct bufferevent *be = p->be;

		p->keep = 0;
		p->req = NULL;
		p->be = NULL;
		proxy_free(p);
		proxy_hold_then_splice(c, be);
		return -1;
	}
	httpsrv_req_on_close(p->req, proxy_client_gone, p);
	if (strcmp(httpsrv_req_method(p->req), "HEAD") == 0) {
		/* A HEAD answer has no body, whatever its Content-Length. */
		p->state = PROXY_BODY_LEN;
		p->left = 0;
	} else if (chunked) {
		p->state = PROXY_BODY_CHUNKED;
		p->chunk = CHUNK_SIZE;
		p->streaming = 1;
		httpsrv_stream_begin(p->req, p->status, ct);
		httpsrv_stream_on_drain(p->req, proxy_drained, p);
	} else if (clen >= 0 && clen <= PROXY_BUFFER_LIMIT) {
		p->state = PROXY_BODY_LEN;
		p->left = (size_t)clen;
	} else if (clen > PROXY_BUFFER_LIMIT) {
		/* Relayed as it comes, with the backend's Content-Length (as
		 * dockerd sends it: a client reads it in one go). */
		p->state = PROXY_BODY_STREAM_LEN;
		p->left = (size_t)clen;
		p->streaming = 1;
		httpsrv_stream_begin_len(p->req, p->status, ct, p->left);
		httpsrv_stream_on_drain(p->req, proxy_drained, p);
	} else if (p->status == 204 || p->status == 304) {
		p->state = PROXY_BODY_LEN;
		p->left = 0;
	} else {
		/* Delimited by the close: that connection is done after. */
		p->keep = 0;
		if (p->pipe != NULL)
			p->pipe->closed = 1;
		p->state = PROXY_BODY_CLOSE;
		p->streaming = 1;
		httpsrv_stream_begin(p->req, p->status, ct);
		httpsrv_stream_on_drain(p->req, proxy_drained, p);
	}
	return 0;
}

/* The size line of a chunk: hex digits, then maybe ";extension". */
static int
proxy_chunk_size(const char *line, size_t *size)
{
	const char *end;
	long long n;

	if (str_tohex(line, LLONG_MAX, &n, &end) == -1 ||
	    (*end != '\0' && *end != ';' && *end != ' ' && *end != '\t'))
		return -1;
	*size = (size_t)n;
	return 0;
}

/* Decodes chunked framing from in; returns 1 at the terminating chunk, -1
 * when the framing is broken (p is freed then). */
static int
proxy_on_chunks(struct proxy *p, struct evbuffer *in)
{
	char *line;
	size_t n;
	int bad;

	while (evbuffer_get_length(in) > 0) {
		switch (p->chunk) {
		case CHUNK_SIZE:
			if ((line = evbuffer_readln(
				 in, NULL, EVBUFFER_EOL_CRLF)) == NULL)
				return 0;
			bad = proxy_chunk_size(line, &p->left) == -1;
			free(line);
			if (bad) {
				proxy_fail(p, 502,
				    "the backend sent a malformed chunk size");
				return -1;
			}
			p->chunk = p->left == 0 ? CHUNK_TRAILER : CHUNK_DATA;
			break;
		case CHUNK_DATA:
			n = evbuffer_get_length(in);
			/* A chunk up to PROXY_WHOLE_CHUNK is relayed whole, so
			 * the client's chunks are the backend's (one message
			 * of a JSON stream each); larger ones (log data)
			 * stream as they arrive. */
			if (n < p->left && p->left <= PROXY_WHOLE_CHUNK)
				return 0;
			if (n > p->left)
				n = p->left;
			if (p->left > PROXY_WHOLE_CHUNK && n > PROXY_PIECE)
				n = PROXY_PIECE;
			proxy_move(p, in, n);
			if ((p->left -= n) == 0)
				p->chunk = CHUNK_DATA_END;
			break;
		case CHUNK_DATA_END:
			if ((line = evbuffer_readln(
				 in, NULL, EVBUFFER_EOL_CRLF)) == NULL)
				return 0;
			free(line);
			p->chunk = CHUNK_SIZE;
			break;
		case CHUNK_TRAILER:
			if ((line = evbuffer_readln(
				 in, NULL, EVBUFFER_EOL_CRLF)) == NULL)
				return 0;
			n = strlen(line);
			free(line);
			if (n == 0)
				return 1;
			break;
		}
	}
	return 0;
}

/* Consumes what the backend sent; returns 0 if p was freed. */
static int
proxy_consume(struct proxy *p)
{
	struct evbuffer *in = bufferevent_get_input(proxy_bev(p));
	size_t n;

	if (p->state == PROXY_HEAD) {
		int rc = proxy_on_head(p, in);
		if (rc != 0)
			return rc > 0;
	}
	switch (p->state) {
	case PROXY_BODY_LEN:
		n = evbuffer_get_length(in);
		if (n > p->left)
			n = p->left;
		buf_add(&p->body, evbuffer_pullup(in, (ssize_t)n), n);
		evbuffer_drain(in, n);
		p->left -= n;
		if (p->left > 0)
			return 1;
		proxy_release(p);
		httpsrv_req_on_close(p->req, NULL, NULL);
		if (p->status == 204 || p->status == 304)
			httpsrv_reply_empty(p->req, p->status);
		else
			httpsrv_reply(p->req, p->status,
			    p->content_type ? p->content_type :
					      "application/json",
			    p->body.data, p->body.len);
		p->req = NULL;
		proxy_free(p);
		return 0;
	case PROXY_BODY_STREAM_LEN:
		if ((n = evbuffer_get_length(in)) > p->left)
			n = p->left;
		proxy_move(p, in, n);
		p->left -= n;
		if (p->left > 0)
			return 1;
		proxy_finish(p);
		return 0;
	case PROXY_BODY_CHUNKED:
		switch (proxy_on_chunks(p, in)) {
		case 0:
			return 1;
		case -1:
			return 0;
		}
		proxy_finish(p);
		return 0;
	case PROXY_BODY_CLOSE:
		proxy_move(p, in, evbuffer_get_length(in));
		return 1;
	default:
		return 1;
	}
}

/* libevent 2.1 reads at most 4 KiB per readiness of a socket
 * (EVBUFFER_MAX_READ), so a large answer (a ps of thousands, an export)
 * took a loop turn, a FIONREAD and an epoll change per 4 KiB. What the
 * socket already holds is taken here, up to PROXY_SLURP; the end of the
 * stream and errors are left to the bufferevent's next read. Plain
 * sockets only (a TLS connection reads through OpenSSL). */
static void
proxy_slurp(struct bufferevent *be)
{
	struct evbuffer *in = bufferevent_get_input(be);
	struct evbuffer_iovec v[2];
	struct iovec iov[2];
	int fd = bufferevent_getfd(be), nv;
	size_t total = 0, got;
	ssize_t n;

	/* The bufferevent keeps its input's end frozen but for its own
	 * reads; this is one of those. */
	evbuffer_unfreeze(in, 0);
	while (total < PROXY_SLURP) {
		nv = evbuffer_reserve_space(in, PROXY_SLURP_STEP, v, 2);
		if (nv <= 0)
			break;
		for (int i = 0; i < nv; i++) {
			iov[i].iov_base = v[i].iov_base;
			iov[i].iov_len = v[i].iov_len;
		}
		if ((n = readv(fd, iov, nv)) <= 0) {
			evbuffer_commit_space(in, v, 0);
			break;
		}
		got = (size_t)n;
		total += got;
		if (got <= v[0].iov_len) {
			v[0].iov_len = got;
			nv = 1;
		} else {
			v[1].iov_len = got - v[0].iov_len;
		}
		evbuffer_commit_space(in, v, nv);
	}
	evbuffer_freeze(in, 0);
}

static void
proxy_read(struct bufferevent *be, void *arg)
{
	struct proxy *p = arg;

	evloop_touch();
	if (!uplink.tcp && p->state != PROXY_HEAD)
		proxy_slurp(be);
	if (!p->got && evbuffer_get_length(bufferevent_get_input(be)) > 0) {
		p->got = 1;
		buf_free(&p->resend);
	}
	proxy_consume(p);
}

/* Whether the request may go again on a new connection after the pooled
 * one ended with no answer: when none of it left the frontend (the
 * backend cannot have acted on it), or it is a GET or HEAD, which change
 * nothing. Never twice, and never once a byte of the answer came. */
static int
proxy_resend_ok(struct proxy *p)
{
	const char *m;

	if (!p->reused || p->got || p->resend.data == NULL ||
	    evbuffer_get_length(bufferevent_get_input(p->be)) > 0)
		return 0;
	if (evbuffer_get_length(bufferevent_get_output(p->be)) == p->resend.len)
		return 1;
	m = httpsrv_req_method(p->req);
	return strcmp(m, "GET") == 0 || strcmp(m, "HEAD") == 0;
}

static struct bufferevent *proxy_open(unsigned *gen, struct err *e);
static void proxy_event(struct bufferevent *be, short what, void *arg);

/* Sends the request again on a fresh connection; p is freed on failure. */
static void
proxy_resend(struct proxy *p)
{
	struct err e;

	log_debug("a kept-alive backend connection closed before answering "
		  "%s %s: sending it on a new one",
	    httpsrv_req_method(p->req), p->path);
	if (p->be != NULL)
		bufferevent_free(p->be);
	p->reused = 0;
	p->connected = 0;
	if ((p->be = proxy_open(&p->gen, &e)) == NULL) {
		proxy_fail(p, e.status, e.msg);
		return;
	}
	bufferevent_write(p->be, p->resend.data, p->resend.len);
	buf_free(&p->resend);
	bufferevent_setcb(p->be, proxy_read, NULL, proxy_event, p);
	bufferevent_enable(p->be, EV_READ | EV_WRITE);
}

static void
proxy_event(struct bufferevent *be, short what, void *arg)
{
	struct proxy *p = arg;

	if (what & BEV_EVENT_CONNECTED) {
		p->connected = 1;
		return;
	}
	if (p->req != NULL && proxy_resend_ok(p)) {
		proxy_resend(p);
		return;
	}
	if (p->reused && !p->got &&
	    evbuffer_get_length(bufferevent_get_input(be)) == 0) {
		proxy_fail(p, 502,
		    "the backend closed its connection without answering; "
		    "it may have acted on the request (restarted or "
		    "stopped meanwhile?): check the result (docker ps, "
		    "inspect) before retrying");
		return;
	}
	/* A TCP backend refusing the connection or the handshake (a dirty
	 * end reads as EOF). */
	if (uplink.tcp && !p->connected) {
		char *msg = proxy_unreachable(be);

		proxy_fail(p, 503, msg);
		free(msg);
		return;
	}
	if (what & BEV_EVENT_EOF) {
		if (proxy_consume(p) == 0)
			return;
		if (p->state == PROXY_BODY_CLOSE)
			proxy_finish(p);
		else
			proxy_fail(p, 502,
			    "the backend closed the "
			    "connection before its reply "
			    "was complete");
		return;
	}
	{
		char *msg = proxy_unreachable(p->be);

		proxy_fail(p, 503, msg);
		free(msg);
	}
}

int
proxy_backend_init(struct err *e)
{
	const struct frontend_conf *c = &frontend->conf;
	const char *b = c->backend;
	struct listen_addr a;
	char why[256];
	int sslen;

	if (uplink.ready)
		return 0;
	if (!str_prefix(b, "tcp://")) {
		if (str_prefix(b, "unix://"))
			b += 7;
		if (b[0] != '/')
			return err_set(e, 400,
			    "backend %s: expected the backend's unix socket "
			    "path (unix:///run/sockerless/backend.sock) or "
			    "tcp://IP:PORT",
			    c->backend);
		if (strlen(b) >= sizeof(((struct sockaddr_un *)0)->sun_path))
			return err_set(
			    e, 400, "backend socket path is too long: %s", b);
		uplink.ready = 1;
		return 0;
	}
	if (listen_parse(b, "", 0, &a, e) == -1)
		return -1;
	if (a.port == 0 || strcmp(a.host, "0.0.0.0") == 0) {
		listen_addr_free(&a);
		return err_set(e, 400, "backend %s: expected tcp://IP:PORT", b);
	}
	if (c->backend_tlscacert == NULL || c->backend_token_file == NULL) {
		listen_addr_free(&a);
		return err_set(e, 400,
		    "backend %s: the internal API over TCP needs "
		    "backend_tlscacert (the CA of the backend's "
		    "internal_tlscert) and backend_token_file (the "
		    "backend's internal_token_file)",
		    b);
	}
	memset(&uplink.ss, 0, sizeof(uplink.ss));
	snprintf(why, sizeof(why),
	    strchr(a.host, ':') != NULL ? "[%s]:%d" : "%s:%d", a.host, a.port);
	sslen = (int)sizeof(uplink.ss);
	if (evutil_parse_sockaddr_port(
		why, (struct sockaddr *)&uplink.ss, &sslen) == -1) {
		listen_addr_free(&a);
		return err_set(e, 400, "backend %s: not an address", b);
	}
	uplink.sslen = uplink.ss.ss_family == AF_INET6 ?
	    sizeof(struct sockaddr_in6) :
	    sizeof(struct sockaddr_in);
	if ((uplink.token = tls_read_token(c->backend_token_file, e)) == NULL) {
		listen_addr_free(&a);
		return -1;
	}
	ERR_clear_error();
	uplink.ctx = SSL_CTX_new(TLS_client_method());
	if (uplink.ctx == NULL ||
	    SSL_CTX_set_min_proto_version(uplink.ctx, TLS1_2_VERSION) != 1 ||
	    SSL_CTX_load_verify_locations(
		uplink.ctx, c->backend_tlscacert, NULL) != 1) {
		err_set(e, 400, "backend_tlscacert %s: %s",
		    c->backend_tlscacert, tls_last_error(why, sizeof(why)));
		SSL_CTX_free(uplink.ctx);
		uplink.ctx = NULL;
		free(uplink.token);
		uplink.token = NULL;
		listen_addr_free(&a);
		return -1;
	}
#ifdef SSL_OP_IGNORE_UNEXPECTED_EOF
	SSL_CTX_set_options(uplink.ctx, SSL_OP_IGNORE_UNEXPECTED_EOF);
#endif
	SSL_CTX_set_verify(uplink.ctx, SSL_VERIFY_PEER, NULL);
	uplink.host = a.host;
	a.host = NULL;
	listen_addr_free(&a);
	uplink.tcp = 1;
	uplink.ready = 1;
	return 0;
}

void
proxy_backend_free(void)
{
	pool_flush();
	SSL_CTX_free(uplink.ctx);
	free(uplink.host);
	free(uplink.token);
	memset(&uplink, 0, sizeof(uplink));
}

/* The Authorization line of an internal request (empty over the unix
 * socket). */
static void
proxy_auth_header(struct buf *b)
{
	if (uplink.token != NULL)
		buf_addf(b, "Authorization: Bearer %s\r\n", uplink.token);
}

/* The sentence for a backend connection that failed (be's error). */
static char *
proxy_unreachable(struct bufferevent *be)
{
	unsigned long code = be != NULL ? bufferevent_get_openssl_error(be) : 0;
	char why[256];

	/* libevent records SSL_ERROR_SYSCALL itself (no library) when the
	 * socket failed: errno says why then. */
	if (code != 0 && ERR_GET_LIB(code) != 0)
		ERR_error_string_n(code, why, sizeof(why));
	else if (EVUTIL_SOCKET_ERROR() != 0)
		str_lcpy(why,
		    evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR()),
		    sizeof(why));
	else
		str_lcpy(
		    why, "the connection closed before an answer", sizeof(why));
	return xasprintf("cannot reach the sockerless backend at %s: %s. "
			 "Check that the backend runs and listens there "
			 "(internal_tcp), that its certificate is signed by "
			 "backend_tlscacert for that address, and the "
			 "network between them.",
	    frontend->conf.backend, why);
}

static int
proxy_connect(int *fdp, struct err *e)
{
	struct sockaddr_un sun;
	int fd;

	*fdp = -1;
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (str_lcpy(sun.sun_path,
		frontend->conf.backend +
		    (str_prefix(frontend->conf.backend, "unix://") ? 7 : 0),
		sizeof(sun.sun_path)) >= sizeof(sun.sun_path))
		return err_set(e, 500, "backend socket path is too long: %s",
		    frontend->conf.backend);
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1)
		return err_set(e, 503, "socket: %s", strerror(errno));
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == -1) {
		err_set(e, 503,
		    "cannot reach the sockerless backend at %s: "
		    "%s. Start the backend service, or point the "
		    "frontend's backend setting at its socket.",
		    frontend->conf.backend, strerror(errno));
		close(fd);
		return -1;
	}
	*fdp = fd;
	return 0;
}

const char *
proxy_backend_path(void)
{
	const char *b = frontend->conf.backend;

	if (uplink.tcp || b == NULL)
		return NULL;
	return b + (str_prefix(b, "unix://") ? 7 : 0);
}

/* A new connection to the backend as a bufferevent (connecting, for
 * TCP), of pool generation *gen; NULL with e when it cannot start. */
static struct bufferevent *
proxy_open(unsigned *gen, struct err *e)
{
	struct bufferevent *be;
	SSL *ssl;
	int fd;

	if (proxy_backend_init(e) == -1)
		return NULL;
	/* Before connecting: a socket replaced after it is seen as new. */
	*gen = pool_connecting(proxy_backend_path());
	if (!uplink.tcp) {
		if (proxy_connect(&fd, e) == -1)
			return NULL;
		evutil_make_socket_nonblocking(fd);
		be = bufferevent_socket_new(
		    frontend->base, fd, BEV_OPT_CLOSE_ON_FREE);
		if (be == NULL) {
			close(fd);
			err_set(
			    e, 503, "the backend connection: out of memory");
			return NULL;
		}
		return be;
	}
	if ((ssl = SSL_new(uplink.ctx)) == NULL ||
	    SSL_set1_host(ssl, uplink.host) != 1) {
		SSL_free(ssl);
		err_set(e, 503, "TLS towards the backend: out of memory");
		return NULL;
	}
	be = bufferevent_openssl_socket_new(frontend->base, -1, ssl,
	    BUFFEREVENT_SSL_CONNECTING,
	    BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS);
	if (be == NULL) {
		err_set(e, 503, "TLS towards the backend: out of memory");
		return NULL;
	}
	bufferevent_openssl_set_allow_dirty_shutdown(be, 1);
	if (bufferevent_socket_connect(
		be, (struct sockaddr *)&uplink.ss, (int)uplink.sslen) == -1) {
		char *msg = proxy_unreachable(NULL);

		err_set(e, 503, "%s", msg);
		free(msg);
		bufferevent_free(be);
		return NULL;
	}
	return be;
}

int
proxy_backend_tcp(void)
{
	struct err e;

	return proxy_backend_init(&e) == 0 && uplink.tcp;
}

int
proxy_backend_check(struct err *e)
{
	struct bufferevent *be;
	unsigned gen;

	/* The connection is kept for the next request or _ping (pool_live),
	 * rather than made and closed for every _ping while no other
	 * request fills the pool. */
	if ((be = proxy_open(&gen, e)) == NULL)
		return -1;
	pool_put(be, gen, 1);
	return 0;
}

/* Appends v in decimal. */
static void
proxy_add_uint(struct buf *b, unsigned long v)
{
	char d[LITE_DEC_MAX];

	buf_add(b, d, lite_dec(v, d));
}

static void
proxy_copy_header(const char *name, const char *value, void *arg)
{
	struct buf *b = arg;
	static const char *pass[] = { "Content-Type", "X-Registry-Auth",
		"X-Registry-Config", "Upgrade", "User-Agent" };

	for (size_t i = 0; i < sizeof(pass) / sizeof(pass[0]); i++)
		if (strcasecmp(name, pass[i]) == 0) {
			buf_adds(b, pass[i]);
			buf_add(b, ": ", 2);
			buf_adds(b, value);
			buf_add(b, "\r\n", 2);
		}
}

/* Writes to the backend at once over the unix socket when nothing waits
 * before it (saving the event loop a turn and two epoll calls); the rest,
 * or a failure to report, goes through the bufferevent. */
static void
proxy_send(struct bufferevent *be, const void *data, size_t len)
{
	ssize_t n = 0;

	if (!uplink.tcp &&
	    evbuffer_get_length(bufferevent_get_output(be)) == 0 &&
	    (n = send(bufferevent_getfd(be), data, len,
		 MSG_NOSIGNAL | MSG_DONTWAIT)) < 0)
		n = 0;
	if ((size_t)n < len)
		bufferevent_write(be, (const char *)data + n, len - (size_t)n);
}

/* The internal request's head for r (appended piece by piece: every
 * request builds one, no printf). */
static void
proxy_head(struct buf *head, struct httpsrv_req *r, const char *path, int minor,
    const char *connection, size_t len)
{
	const char *q = strchr(httpsrv_req_target(r), '?');

	buf_adds(head, httpsrv_req_method(r));
	buf_adds(head, " /internal/v1");
	buf_adds(head, path);
	if (q != NULL)
		buf_adds(head, q);
	buf_adds(head, " HTTP/1.1\r\nHost: backend\r\nConnection: ");
	buf_adds(head, connection);
	buf_adds(head, "\r\nX-Sockerless-Api-Version: 1.");
	proxy_add_uint(head, (unsigned long)minor);
	buf_add(head, "\r\n", 2);
	proxy_auth_header(head);
	httpsrv_req_foreach_header(r, proxy_copy_header, head);
	buf_adds(head, "Content-Length: ");
	proxy_add_uint(head, (unsigned long)len);
	buf_add(head, "\r\n\r\n", 4);
}

/* --- pipelined GETs (struct pipe) ---------------------------------------- */

/* Whether a request that may keep its connection (pool on, no Upgrade:
 * proxy_forward's keep) may join a pipe: a container list or inspect, a
 * GET without a body, over the unix socket. */
static int
pipe_eligible(struct httpsrv_req *r, const char *path, size_t len)
{
	const char *id, *slash;

	if (uplink.tcp || len > 0 || strcmp(httpsrv_req_method(r), "GET") != 0)
		return 0;
	if (strcmp(path, "/containers/json") == 0)
		return 1;
	if (!str_prefix(path, "/containers/"))
		return 0;
	id = path + strlen("/containers/");
	slash = strchr(id, '/');
	return slash != NULL && slash != id && strcmp(slash, "/json") == 0;
}

static void
pipe_free(struct pipe *pp)
{
	if (pipe_cur == pp)
		pipe_cur = NULL;
	event_free(pp->flush);
	buf_free(&pp->out);
	free(pp);
}

/* Every answer read: the connection goes back to the pool, as a single
 * request's does (proxy_release). */
static void
pipe_done(struct pipe *pp)
{
	struct bufferevent *be = pp->be;

	if (pp->closed || pp->out.len > 0 ||
	    evbuffer_get_length(bufferevent_get_input(be)) > 0 ||
	    evbuffer_get_length(bufferevent_get_output(be)) > 0)
		bufferevent_free(be);
	else
		pool_put(be, pp->gen, 0);
	pipe_free(pp);
}

/* The connection is of no more use (it ended, an answer failed, a client
 * left): the head's answer, begun, fails; every other request goes again
 * on a connection of its own. */
static void
pipe_break(struct pipe *pp)
{
	struct proxy *p;

	if (pp->busy) {
		pp->broken = 1;
		return;
	}
	bufferevent_free(pp->be);
	pp->be = NULL;
	while ((p = TAILQ_FIRST(&pp->q)) != NULL) {
		TAILQ_REMOVE(&pp->q, p, pipe_entry);
		pp->n--;
		p->pipe = NULL;
		if (p->got || p->req == NULL || p->resend.data == NULL)
			proxy_fail(p, 502,
			    "the backend closed the connection before its "
			    "reply was complete");
		else
			proxy_resend(p);
	}
	pipe_free(pp);
}

static void
pipe_read(struct bufferevent *be, void *arg)
{
	struct pipe *pp = arg;
	struct evbuffer *in = bufferevent_get_input(be);
	struct proxy *p;

	evloop_touch();
	/* Many answers at once: take what the socket holds, when libevent's
	 * read (EVBUFFER_MAX_READ, 4 KiB) may have left some. */
	if (!uplink.tcp && evbuffer_get_length(in) >= 4096)
		proxy_slurp(be);
	pp->busy = 1;
	while (!pp->broken && (p = TAILQ_FIRST(&pp->q)) != NULL &&
	    evbuffer_get_length(in) > 0) {
		if (!p->got) {
			p->got = 1;
			buf_free(&p->resend);
		}
		/* 1: the head waits for more (or for its client to read). */
		if (proxy_consume(p) == 1 && TAILQ_FIRST(&pp->q) == p)
			break;
		/* Done: a pause for that client's sake is not the next's. */
		if (!(bufferevent_get_enabled(be) & EV_READ))
			bufferevent_enable(be, EV_READ);
	}
	pp->busy = 0;
	if (pp->broken)
		pipe_break(pp);
	else if (pp->n == 0)
		pipe_done(pp);
}

static void
pipe_event(struct bufferevent *be, short what, void *arg)
{
	struct pipe *pp = arg;
	struct proxy *p = TAILQ_FIRST(&pp->q);

	(void)be;
	if (what & BEV_EVENT_CONNECTED)
		return;
	/* A close-delimited answer ends here. */
	if (p != NULL && (what & BEV_EVENT_EOF) && p->got) {
		pp->busy = 1;
		if (proxy_consume(p) != 0 && TAILQ_FIRST(&pp->q) == p &&
		    p->state == PROXY_BODY_CLOSE)
			proxy_finish(p);
		pp->busy = 0;
	}
	pp->broken = 0;
	pipe_break(pp);
}

/* Sends the requests queued this loop turn, in one go. */
static void
pipe_flush(evutil_socket_t fd, short what, void *arg)
{
	struct pipe *pp = arg;

	(void)fd;
	(void)what;
	pp->flush_armed = 0;
	if (pp->out.len == 0)
		return;
	proxy_send(pp->be, pp->out.data, pp->out.len);
	buf_reset(&pp->out);
	if (evbuffer_get_length(bufferevent_get_output(pp->be)) > 0)
		bufferevent_enable(pp->be, EV_WRITE);
}

/* p's request (head) joins the current pipe, or a new one on a pooled or
 * new connection; -1 (e set) when no connection can be made. */
static int
pipe_join(struct proxy *p, const struct buf *head, struct err *e)
{
	struct pipe *pp = pipe_cur;
	struct bufferevent *be;
	unsigned gen;

	if (pp != NULL &&
	    (pp->closed || pp->broken || pp->n >= PIPE_MAX ||
		pp->gen != pool_generation()))
		pipe_cur = pp = NULL;
	if (pp == NULL) {
		if ((be = pool_take(proxy_backend_path(), &gen)) == NULL &&
		    (be = proxy_open(&gen, e)) == NULL)
			return -1;
		pp = xcalloc(1, sizeof(*pp));
		pp->be = be;
		pp->gen = gen;
		TAILQ_INIT(&pp->q);
		buf_init(&pp->out, 0);
		if ((pp->flush = event_new(
			 frontend->base, -1, 0, pipe_flush, pp)) == NULL) {
			bufferevent_free(be);
			buf_free(&pp->out);
			free(pp);
			return err_set(e, 503, "the frontend is out of memory");
		}
		bufferevent_setcb(be, pipe_read, NULL, pipe_event, pp);
		bufferevent_enable(be, EV_READ);
		pipe_cur = pp;
	}
	p->pipe = pp;
	TAILQ_INSERT_TAIL(&pp->q, p, pipe_entry);
	pp->n++;
	buf_add(&pp->out, head->data, head->len);
	if (!pp->flush_armed) {
		pp->flush_armed = 1;
		event_active(pp->flush, EV_TIMEOUT, 1);
	}
	return 0;
}

/* A list or inspect of containers, pipelined (struct pipe). */
static void
proxy_forward_piped(struct httpsrv_req *r, const char *path, int minor)
{
	struct proxy *p = xcalloc(1, sizeof(*p));
	struct err e;

	p->req = r;
	p->path = xstrdup(path);
	buf_init(&p->body, 0);
	buf_init(&p->resend, 0);
	p->keep = 1;
	/* Kept until its answer begins: sent again if the connection ends
	 * first. */
	proxy_head(&p->resend, r, path, minor, "keep-alive", 0);
	if (pipe_join(p, &p->resend, &e) == -1) {
		p->req = NULL;
		proxy_free(p);
		httpsrv_reply_err(r, &e);
		return;
	}
	httpsrv_req_on_close(r, proxy_client_gone, p);
}

void
proxy_forward(struct httpsrv_req *r, const char *path, int minor)
{
	struct proxy *p;
	struct buf *head;
	const char *body;
	const char *upgrade = httpsrv_req_header(r, "Upgrade");
	size_t len;
	struct bufferevent *be = NULL;
	struct err e;
	unsigned gen = 0;
	int keep;

	body = httpsrv_req_body(r, &len);
	keep = upgrade == NULL && len <= PROXY_POOL_BODY &&
	    frontend->conf.backend_pool > 0;
	if (keep && proxy_backend_init(&e) == 0) {
		if (pipe_eligible(r, path, len)) {
			proxy_forward_piped(r, path, minor);
			return;
		}
		be = pool_take(proxy_backend_path(), &gen);
	}
	p = xcalloc(1, sizeof(*p));
	p->reused = p->connected = be != NULL;
	if (be == NULL && (be = proxy_open(&gen, &e)) == NULL) {
		free(p);
		httpsrv_reply_err(r, &e);
		return;
	}
	p->req = r;
	p->path = xstrdup(path);
	buf_init(&p->body, 0);
	p->be = be;
	p->gen = gen;
	p->keep = keep;
	head = &p->resend;
	buf_init(head, 0);
	proxy_head(head, r, path, minor,
	    upgrade != NULL ? "Upgrade" : (keep ? "keep-alive" : "close"), len);
	if (p->reused) {
		/* Kept while the pooled connection may turn out dead
		 * (proxy_resend); a small body, see PROXY_POOL_BODY. */
		buf_add(head, body, len);
		proxy_send(p->be, head->data, head->len);
	} else {
		proxy_send(p->be, head->data, head->len);
		if (len > 0)
			proxy_send(p->be, body, len);
		buf_free(head);
	}
	bufferevent_setcb(p->be, proxy_read, NULL, proxy_event, p);
	/* Writing is watched only while something waits to be sent (or the
	 * connection is being made): an idle watch costs a turn. */
	bufferevent_enable(p->be, EV_READ);
	if (!p->connected ||
	    evbuffer_get_length(bufferevent_get_output(p->be)) > 0)
		bufferevent_enable(p->be, EV_WRITE);
	httpsrv_req_on_close(r, proxy_client_gone, p);
}

/* A small internal GET answered to a callback (capabilities, existence
 * checks), so a slow backend never holds the event loop. */
struct proxy_get {
	LIST_ENTRY(proxy_get) entry;
	struct bufferevent *be;
	int connected;
	proxy_get_cb cb;
	void *arg;
	char *path;
};

/* The gets in flight, answered at shutdown (proxy_gets_cancel). */
static LIST_HEAD(, proxy_get) proxy_gets = LIST_HEAD_INITIALIZER(proxy_gets);

static void
proxy_get_free(struct proxy_get *g)
{
	LIST_REMOVE(g, entry);
	bufferevent_free(g->be);
	free(g->path);
	free(g);
}

static void
proxy_get_done(struct proxy_get *g, int ok)
{
	struct evbuffer *in = bufferevent_get_input(g->be);
	size_t n = evbuffer_get_length(in);
	char *resp = xmalloc(n + 1), *sep;
	int status = -1;
	struct err e;

	evbuffer_remove(in, resp, n);
	resp[n] = '\0';
	err_set(&e, 503,
	    "the backend did not answer %s in time; it may be "
	    "overloaded or stuck. Retry, or check the backend's log.",
	    g->path);
	if (ok && (sep = strstr(resp, "\r\n\r\n")) != NULL) {
		resp[strcspn(resp, "\r\n")] = '\0';
		if (str_http_status(resp, &status) == 0) {
			g->cb(status, sep + 4, NULL, g->arg);
			goto done;
		}
	}
	g->cb(-1, NULL, &e, g->arg);
done:
	free(resp);
	proxy_get_free(g);
}

static void
proxy_get_event(struct bufferevent *be, short what, void *arg)
{
	struct proxy_get *g = arg;

	if (what & BEV_EVENT_CONNECTED) {
		g->connected = 1;
		return;
	}
	if (((what & BEV_EVENT_ERROR) || (uplink.tcp && !g->connected)) &&
	    evbuffer_get_length(bufferevent_get_input(be)) == 0) {
		char *msg = proxy_unreachable(be);
		struct err e;

		err_set(&e, 503, "%s", msg);
		free(msg);
		g->cb(-1, NULL, &e, g->arg);
		proxy_get_free(g);
		return;
	}
	proxy_get_done(g, (what & BEV_EVENT_EOF) != 0);
}

int
proxy_get(const char *path, proxy_get_cb cb, void *arg, struct err *e)
{
	struct proxy_get *g;
	struct timeval tv = { PROXY_GET_TIMEOUT, 0 };
	struct bufferevent *be;
	struct buf req;
	unsigned gen;

	if ((be = proxy_open(&gen, e)) == NULL)
		return -1;
	g = xcalloc(1, sizeof(*g));
	g->cb = cb;
	g->arg = arg;
	g->path = xstrdup(path);
	g->be = be;
	LIST_INSERT_HEAD(&proxy_gets, g, entry);
	buf_init(&req, 0);
	buf_addf(&req,
	    "GET /internal/v1%s HTTP/1.1\r\nHost: backend\r\nConnection: "
	    "close\r\nContent-Length: 0\r\n",
	    path);
	proxy_auth_header(&req);
	buf_addf(&req, "\r\n");
	bufferevent_write(g->be, req.data, req.len);
	buf_free(&req);
	/* The answer is read whole when the backend closes. */
	bufferevent_setwatermark(g->be, EV_READ, 0, 0);
	bufferevent_setcb(g->be, NULL, NULL, proxy_get_event, g);
	bufferevent_set_timeouts(g->be, &tv, &tv);
	bufferevent_enable(g->be, EV_READ | EV_WRITE);
	return 0;
}

void
proxy_gets_cancel(void)
{
	struct proxy_get *g;
	struct err e;

	err_set(&e, 503, "the frontend is shutting down");
	while ((g = LIST_FIRST(&proxy_gets)) != NULL) {
		g->cb(-1, NULL, &e, g->arg);
		proxy_get_free(g);
	}
}

static void
proxy_caps_got(int status, const char *body, const struct err *ge, void *arg)
{
	struct err e;
	cJSON *o = NULL;
	struct caps c;

	(void)arg;
	frontend->caps_fetching = 0;
	if (status == -1) {
		e = *ge;
		goto fail;
	}
	if (status == 401) {
		err_set(&e, 503,
		    "the backend at %s refused the frontend's bearer token "
		    "(401): backend_token_file must hold the token of the "
		    "backend's internal_token_file",
		    frontend->conf.backend);
		goto fail;
	}
	if (status != 200 || (o = json_parse(body, strlen(body), &e)) == NULL ||
	    caps_from_json(o, &c, &e) == -1) {
		err_set(&e, 503,
		    "the backend's capabilities are unreadable (status %d); "
		    "check that frontend and backend are the same version",
		    status);
		goto fail;
	}
	cJSON_Delete(o);
	if (!frontend->caps_loaded ||
	    strcmp(c.instance, frontend->caps.instance) != 0)
		log_info("backend %s (%s): capabilities loaded", c.backend,
		    c.instance);
	frontend->caps = c;
	frontend->caps_loaded = 1;
	routes_caps_done(NULL);
	return;
fail:
	cJSON_Delete(o);
	log_warnx("fetching capabilities: %s", e.msg);
	frontend->caps_loaded = 0;
	routes_caps_done(&e);
}

void
proxy_caps_refresh(void)
{
	struct err e;

	/* Requests that need the gate wait for the new answer. */
	frontend->caps_loaded = 0;
	if (frontend->caps_fetching)
		return;
	frontend->caps_fetching = 1;
	if (proxy_get("/capabilities", proxy_caps_got, NULL, &e) == -1)
		proxy_caps_got(-1, NULL, &e, NULL);
}
