/* The link (docs/agent-link.md): forward mode's listener and server
 * handshake, reverse mode's dialler and client handshake, and the
 * WebSocket framing and the one current link both share. Non-blocking
 * sockets driven by loop.c. */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <unistd.h>

#include "agent.h"
#include "proc.h"
#include "sockerless/aglink_seal.h"
#include "sockerless/aglink_wire.h"
#include "sockerless/lite.h"

#define LINK_HEAD_MAX	    8192
#define LINK_HANDSHAKE_MS   10000
#define LINK_CLOSING_MS	    2000
#define LINK_IN_MAX	    (AGLINK_SEALED_MAX + 16)
#define LINK_BACKOFF_MIN_MS 250
#define LINK_BACKOFF_MAX_MS 5000

/* LINK_HTTP: the request (server) or the answer (client) is awaited. */
enum link_state { LINK_CONNECTING, LINK_HTTP, LINK_WS, LINK_CLOSING };

struct link {
	int fd;
	int client; /* reverse mode: we dialled, our frames are masked */
	/* Reverse mode: our nonce, then the session every binary message is
	 * sealed with (docs/agent-link.md "The sealed link"). */
	unsigned char na[AGLINK_SEAL_NONCE];
	struct aglink_seal *seal;
	char accept[29];
	enum link_state state;
	int dead;
	int shut; /* our side is shut down after the last byte */
	unsigned char *in;
	size_t inlen, incap;
	unsigned char *out;
	size_t outoff, outlen, outcap;
	unsigned char *msg; /* a fragmented message being put together */
	size_t msglen;
	int in_msg;
	int64_t deadline;
	struct link *next;
};

static struct link *link_list, *link_cur;
/* What the link calls back into (link_set_ops). */
static const struct link_ops *link_ops;
static int link_listen_fd = -1;
static const char *link_token_sha256, *link_container;

/* Reverse mode: the callback URL split up, the raw token, the link being
 * dialled or up (NULL: the next dial is due at dial_at). */
static struct {
	int on, stopped;
	char host[256], port[16], authority[300], path[1024];
	const char *token;
	struct link *l;
	int64_t dial_at;
	int backoff_ms;
	int quiet; /* a failure was reported in this streak */
} link_rev;

int
link_init(const char *addr, const char *token_sha256, const char *cid)
{
	struct addrinfo hints, *res = NULL;
	char host[256];
	const char *colon, *port;
	int one = 1, rc;

	link_token_sha256 = token_sha256;
	link_container = cid != NULL ? cid : "";
	if (addr == NULL || *addr == '\0')
		addr = "0.0.0.0:9111";
	if (addr[0] == '[') {
		colon = strstr(addr, "]:");
		if (colon == NULL)
			goto bad;
		snprintf(host, sizeof(host), "%.*s", (int)(colon - addr - 1),
		    addr + 1);
		port = colon + 2;
	} else {
		if ((colon = strrchr(addr, ':')) == NULL)
			goto bad;
		snprintf(host, sizeof(host), "%.*s", (int)(colon - addr), addr);
		port = colon + 1;
	}
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICHOST | AI_NUMERICSERV;
	if ((rc = getaddrinfo(*host ? host : NULL, port, &hints, &res)) != 0) {
		fprintf(stderr, "sockerless-agent: listen %s: %s\n", addr,
		    gai_strerror(rc));
		return -1;
	}
	link_listen_fd = socket(
	    res->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (link_listen_fd == -1 ||
	    setsockopt(link_listen_fd, SOL_SOCKET, SO_REUSEADDR, &one,
		sizeof(one)) == -1 ||
	    bind(link_listen_fd, res->ai_addr, res->ai_addrlen) == -1 ||
	    listen(link_listen_fd, 16) == -1) {
		fprintf(stderr, "sockerless-agent: listen %s: %s\n", addr,
		    strerror(errno));
		freeaddrinfo(res);
		return -1;
	}
	freeaddrinfo(res);
	return 0;
bad:
	fprintf(stderr, "sockerless-agent: listen %s: want host:port\n", addr);
	return -1;
}

static void
link_queue(struct link *l, const void *p, size_t n)
{
	if (l->outoff > 0 && l->outoff == l->outlen)
		l->outoff = l->outlen = 0;
	if (l->outlen + n > l->outcap) {
		if (l->outoff > 0) {
			memmove(
			    l->out, l->out + l->outoff, l->outlen - l->outoff);
			l->outlen -= l->outoff;
			l->outoff = 0;
		}
		if (l->outlen + n > l->outcap) {
			l->outcap = (l->outlen + n) * 2;
			l->out = xrealloc(l->out, l->outcap);
		}
	}
	memcpy(l->out + l->outlen, p, n);
	l->outlen += n;
}

/* Random bytes for keys and masks; never fails (masks need not be
 * secret, only unpredictable to what sits between us and the peer). */
static void
link_random(void *buf, size_t n)
{
	static uint64_t x;
	unsigned char *b = buf;
	size_t i;

	if (getrandom(buf, n, GRND_NONBLOCK) == (ssize_t)n)
		return;
	if (x == 0)
		x = (uint64_t)proc_now_ms() * 0x9E3779B97F4A7C15ULL ^
		    (uint64_t)getpid();
	for (i = 0; i < n; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		b[i] = (unsigned char)x;
	}
}

/* Secret random bytes (the handshake nonce): getrandom(2), else
 * /dev/urandom; -1 when neither works (no weaker fallback). */
static int
link_secret_random(void *buf, size_t n)
{
	unsigned char *b = buf;
	ssize_t k;
	int fd;

	while (n > 0) {
		k = getrandom(b, n, 0);
		if (k == -1 && errno == EINTR)
			continue;
		if (k <= 0)
			break;
		b += k;
		n -= (size_t)k;
	}
	if (n == 0)
		return 0;
	if ((fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC)) == -1)
		return -1;
	while (n > 0) {
		k = read(fd, b, n);
		if (k == -1 && errno == EINTR)
			continue;
		if (k <= 0)
			break;
		b += k;
		n -= (size_t)k;
	}
	close(fd);
	return n == 0 ? 0 : -1;
}

/* One frame of hdr then p as one payload; masked in the client role. */
static void
link_frame_parts(struct link *l, int opcode, const void *hdr, size_t hl,
    const void *p, size_t n)
{
	unsigned char h[14], mask[4];
	size_t rel, n_h;

	if (l->client)
		link_random(mask, sizeof(mask));
	n_h = ws_build_header(h, opcode, hl + n, l->client ? mask : NULL);
	link_queue(l, h, n_h);
	/* Past the unwritten bytes: link_queue may move them to the front. */
	rel = l->outlen - l->outoff;
	if (hl > 0)
		link_queue(l, hdr, hl);
	if (n > 0)
		link_queue(l, p, n);
	if (l->client)
		ws_mask(l->out + l->outoff + rel, hl + n, mask, 0);
}

/* A sealed binary message (hdr, p, the tag), masked: we are the client.
 * A spent counter sends nothing and ends the link at the next turn. */
static void
link_frame_sealed(
    struct link *l, const void *hdr, size_t hl, const void *p, size_t n)
{
	unsigned char h[14], mask[4], tag[AGLINK_SEAL_TAG];
	size_t rel, n_h;

	if (l->deadline != 0)
		return; /* ending already */
	link_random(mask, sizeof(mask));
	n_h = ws_build_header(h, WS_BINARY, hl + n + AGLINK_SEAL_TAG, mask);
	link_queue(l, h, n_h);
	rel = l->outlen - l->outoff; /* as in link_frame_parts */
	if (hl > 0)
		link_queue(l, hdr, hl);
	if (n > 0)
		link_queue(l, p, n);
	if (aglink_seal_seal(l->seal, l->out + l->outoff + rel, hl + n, tag) ==
	    -1) {
		l->outlen = l->outoff + rel - n_h;
		l->deadline = proc_now_ms();
		return;
	}
	link_queue(l, tag, sizeof(tag));
	ws_mask(l->out + l->outoff + rel, hl + n + AGLINK_SEAL_TAG, mask, 0);
}

static void
link_frame(struct link *l, int opcode, const void *p, size_t n)
{
	link_frame_parts(l, opcode, NULL, 0, p, n);
}

/* The link ends (close code sent when it was a WebSocket). */
static void
link_fail(struct link *l, int code)
{
	unsigned char b[2];

	if (l == link_cur) {
		link_cur = NULL;
		link_ops->dropped();
	}
	if (l->state == LINK_WS && code > 0) {
		b[0] = (unsigned char)(code >> 8);
		b[1] = (unsigned char)code;
		link_frame(l, WS_CLOSE, b, 2);
	}
	l->state = LINK_CLOSING;
	l->deadline = proc_now_ms() + LINK_CLOSING_MS;
}

static void
link_drop(struct link *l)
{
	if (l == link_cur) {
		link_cur = NULL;
		link_ops->dropped();
	}
	l->dead = 1;
}

void
link_send(int type, int stream, uint32_t ch, const void *p, size_t n)
{
	unsigned char h[AGLINK_HEADER];

	if (link_cur == NULL)
		return;
	aglink_put_header(h, type, stream, ch);
	if (link_cur->seal != NULL)
		link_frame_sealed(link_cur, h, sizeof(h), p, n);
	else
		link_frame_parts(link_cur, WS_BINARY, h, sizeof(h), p, n);
}

size_t
link_pending(void)
{
	return link_cur != NULL ? link_cur->outlen - link_cur->outoff : 0;
}

int
link_current(void)
{
	return link_cur != NULL;
}

int
link_up(void)
{
	struct link *l;
	int n = 0;

	for (l = link_list; l != NULL; l = l->next)
		n += !l->dead;
	return n;
}

void
link_close_all(void)
{
	struct link *l;

	if (link_listen_fd >= 0)
		close(link_listen_fd);
	link_listen_fd = -1;
	link_rev.stopped = 1;
	for (l = link_list; l != NULL; l = l->next) {
		if (l->dead)
			continue;
		if (l->state == LINK_HTTP || l->state == LINK_CONNECTING)
			link_drop(l);
		else if (l->state == LINK_WS)
			link_fail(l, 1001);
	}
}

void
link_set_ops(const struct link_ops *ops)
{
	link_ops = ops;
}

/* ---- the handshake ---- */

static void
link_refuse(struct link *l, const char *status)
{
	char buf[256];
	int n = snprintf(buf, sizeof(buf),
	    "HTTP/1.1 %s\r\nContent-Type: text/plain\r\nContent-Length: %zu\r\n"
	    "Connection: close\r\n\r\n%s\n",
	    status, strlen(status) + 1, status);

	link_queue(l, buf, (size_t)n);
	l->state = LINK_CLOSING;
	l->deadline = proc_now_ms() + LINK_CLOSING_MS;
}

/* The WebSocket is open (either role): l becomes the current link. */
static void
link_open(struct link *l)
{
	char *hello;

	if (link_cur != NULL)
		link_fail(link_cur, 1000); /* replaced by a newer link */
	l->state = LINK_WS;
	l->deadline = 0;
	if (l->incap < LINK_IN_MAX) {
		l->incap = LINK_IN_MAX;
		l->in = xrealloc(l->in, l->incap);
	}
	link_cur = l;
	hello = link_ops->hello();
	link_send(AGLINK_HELLO, 0, 0, hello, strlen(hello));
	free(hello);
}

static void
link_accept(struct link *l, const char *key)
{
	char buf[512], acc[29];
	int n;

	ws_accept_key(key, acc);
	n = snprintf(buf, sizeof(buf),
	    "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
	    "Connection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n"
	    "Sec-WebSocket-Protocol: " AGLINK_PROTOCOL "\r\n\r\n",
	    acc);
	link_queue(l, buf, (size_t)n);
	link_open(l);
}

/* Handles a complete request head of hl bytes; the rest stays in l->in. */
static void
link_handshake(struct link *l, size_t hl)
{
	char *head = xmalloc(hl + 1), path[512], v[512], key[128], tok[128];
	int ok;

	memcpy(head, l->in, hl);
	head[hl] = '\0';
	memmove(l->in, l->in + hl, l->inlen - hl);
	l->inlen -= hl;
	if (sscanf(head, "%*15s %511s HTTP/1.%*c", path) != 1) {
		link_refuse(l, "400 Bad Request");
		goto out;
	}
	path[strcspn(path, "?")] = '\0';
	if (strcmp(path, AGLINK_PATH) != 0) {
		link_refuse(l, "404 Not Found");
		goto out;
	}
	ok = strncmp(head, "GET ", 4) == 0 &&
	    lite_http_header(head, "Upgrade", v, sizeof(v)) == 0 &&
	    lite_http_has_token(v, "websocket") &&
	    lite_http_header(head, "Connection", v, sizeof(v)) == 0 &&
	    lite_http_has_token(v, "upgrade") &&
	    lite_http_header(head, "Sec-WebSocket-Version", v, sizeof(v)) ==
		0 &&
	    strcmp(v, "13") == 0 &&
	    lite_http_header(head, "Sec-WebSocket-Key", key, sizeof(key)) ==
		0 &&
	    *key != '\0';
	if (!ok) {
		link_refuse(l, "400 Bad Request");
		goto out;
	}
	ok = lite_http_header(head, "Authorization", tok, sizeof(tok)) == 0 &&
	    strncasecmp(tok, "Bearer ", 7) == 0 &&
	    aglink_token_check(tok + 7, link_token_sha256) &&
	    lite_http_header(head, "X-Sockerless-Container", v, sizeof(v)) ==
		0 &&
	    strcmp(v, link_container) == 0;
	if (!ok) {
		link_refuse(l, "401 Unauthorized");
		goto out;
	}
	link_accept(l, key);
out:
	free(head);
}

/* Reverse mode: one failure to get a link (why: said once per streak, as
 * it lands in the container's log); the next dial after the backoff. */
static void
link_rev_failed(const char *why)
{
	if (why != NULL && !link_rev.quiet) {
		fprintf(stderr,
		    "sockerless-agent: calling back %s: %s (trying again "
		    "until it works)\n",
		    link_rev.authority, why);
		link_rev.quiet = 1;
	}
	link_rev.dial_at = proc_now_ms() + link_rev.backoff_ms;
	link_rev.backoff_ms *= 2;
	if (link_rev.backoff_ms > LINK_BACKOFF_MAX_MS)
		link_rev.backoff_ms = LINK_BACKOFF_MAX_MS;
}

/* Checks the backend's proof in its 101 (nonce and MAC) and derives the
 * session; 0 when l is now sealed. */
static int
link_answer_seal(struct link *l, const char *head)
{
	unsigned char nb[AGLINK_SEAL_NONCE], mac[AGLINK_SEAL_MAC],
	    want[AGLINK_SEAL_MAC];
	char v[512];
	int ok;

	ok = lite_http_header(head, AGLINK_SEAL_HEADER, v, sizeof(v)) == 0 &&
	    aglink_seal_params_parse(v, nb, mac) == 0 &&
	    aglink_seal_accept_mac(
		link_rev.token, link_container, l->na, nb, want) == 0 &&
	    aglink_ct_equal(mac, want, sizeof(mac));
	aglink_wipe(want, sizeof(want));
	if (!ok)
		return -1;
	l->seal = xmalloc(sizeof(*l->seal));
	if (aglink_seal_init(
		l->seal, AGLINK_SEAL_AGENT, link_rev.token, l->na, nb) == -1)
		return -1; /* freed with l */
	return 0;
}

/* Checks the backend's answer (hl bytes) to our upgrade request. */
static void
link_answer(struct link *l, size_t hl)
{
	char *head = xmalloc(hl + 1), v[512], why[80];
	int status = 0, ok;

	memcpy(head, l->in, hl);
	head[hl] = '\0';
	memmove(l->in, l->in + hl, l->inlen - hl);
	l->inlen -= hl;
	/* Only 101 goes on; an overflowing number is no 101 either. */
	/* NOLINTNEXTLINE(cert-err34-c) */
	if (sscanf(head, "HTTP/1.%*c %d", &status) != 1 || status != 101) {
		snprintf(why, sizeof(why), "the backend answered HTTP %d%s",
		    status, status == 401 ? " (the token was refused)" : "");
		link_rev_failed(why);
		link_drop(l);
		goto out;
	}
	ok = lite_http_header(head, "Upgrade", v, sizeof(v)) == 0 &&
	    lite_http_has_token(v, "websocket") &&
	    lite_http_header(head, "Connection", v, sizeof(v)) == 0 &&
	    lite_http_has_token(v, "upgrade") &&
	    lite_http_header(head, "Sec-WebSocket-Accept", v, sizeof(v)) == 0 &&
	    strcmp(v, l->accept) == 0 &&
	    (lite_http_header(head, "Sec-WebSocket-Protocol", v, sizeof(v)) !=
		    0 ||
		strcmp(v, AGLINK_PROTOCOL) == 0);
	if (!ok) {
		link_rev_failed("the backend's 101 is not a valid WebSocket "
				"upgrade");
		link_drop(l);
		goto out;
	}
	if (link_answer_seal(l, head) == -1) {
		link_rev_failed("the backend's 101 does not prove that it "
				"knows the token (" AGLINK_SEAL_HEADER ")");
		link_drop(l);
		goto out;
	}
	link_rev.backoff_ms = LINK_BACKOFF_MIN_MS;
	link_rev.quiet = 0;
	link_open(l);
out:
	free(head);
}

/* ---- WebSocket input ---- */

static void
link_message(struct link *l, unsigned char *p, size_t n)
{
	if (l != link_cur)
		return;
	if (l->seal != NULL) {
		if (aglink_seal_open(l->seal, p, n) == -1) {
			fprintf(stderr,
			    "sockerless-agent: a sealed message from the "
			    "backend did not open (forged, replayed or "
			    "reordered); dropping the link\n");
			link_fail(l, 1008);
			return;
		}
		n -= AGLINK_SEAL_TAG;
	}
	if (link_ops->message(p, n) == -1)
		link_fail(l, 1002);
}

/* Consumes whole frames from l->in; returns -1 when the link failed. */
static int
link_frames(struct link *l)
{
	struct ws_frame f;
	unsigned char *p;
	size_t used = 0,
	       max = l->seal != NULL ? AGLINK_SEALED_MAX : AGLINK_MAX_MESSAGE;
	int r, code = 0;

	while (l->state == LINK_WS) {
		r = ws_parse_header(l->in + used, l->inlen - used, &f);
		if (r == 0)
			break;
		/* RFC 6455: client frames are masked, server frames not. */
		if (r == -1 || f.masked == l->client) {
			code = 1002;
			break;
		}
		if (f.len > max ||
		    (f.opcode == WS_CONT && l->msglen + f.len > max)) {
			code = 1009;
			break;
		}
		if (l->inlen - used < f.header_len + f.len)
			break;
		p = l->in + used + f.header_len;
		if (f.masked)
			ws_mask(p, (size_t)f.len, f.mask, 0);
		used += f.header_len + (size_t)f.len;
		switch (f.opcode) {
		case WS_BINARY:
		case WS_TEXT:
			if (l->in_msg ||
			    (l->seal != NULL && f.opcode == WS_TEXT)) {
				code = 1002;
				break;
			}
			if (f.fin) {
				link_message(l, p, (size_t)f.len);
			} else {
				l->msg = xrealloc(l->msg, max);
				memcpy(l->msg, p, (size_t)f.len);
				l->msglen = (size_t)f.len;
				l->in_msg = 1;
			}
			break;
		case WS_CONT:
			if (!l->in_msg) {
				code = 1002;
				break;
			}
			memcpy(l->msg + l->msglen, p, (size_t)f.len);
			l->msglen += (size_t)f.len;
			if (f.fin) {
				l->in_msg = 0;
				link_message(l, l->msg, l->msglen);
			}
			break;
		case WS_PING:
			link_frame(l, WS_PONG, p, (size_t)f.len);
			break;
		case WS_CLOSE:
			/* Echo the code, then close once it is written. */
			if (l == link_cur) {
				link_cur = NULL;
				link_ops->dropped();
			}
			link_frame(l, WS_CLOSE, p, f.len >= 2 ? 2 : 0);
			l->state = LINK_CLOSING;
			l->deadline = proc_now_ms() + LINK_CLOSING_MS;
			break;
		default:
			break;
		}
		if (code != 0)
			break;
	}
	memmove(l->in, l->in + used, l->inlen - used);
	l->inlen -= used;
	if (code != 0) {
		link_fail(l, code);
		return -1;
	}
	return 0;
}

static void
link_on_read(struct link *l)
{
	unsigned char *end;
	ssize_t n;

	if (l->state == LINK_HTTP && l->incap < LINK_HEAD_MAX) {
		l->incap = LINK_HEAD_MAX;
		l->in = xrealloc(l->in, l->incap);
	}
	if (l->inlen == l->incap || l->state == LINK_CLOSING) {
		/* Closing: whatever comes is discarded until the peer's EOF. */
		unsigned char sink[4096];

		n = read(l->fd, sink, sizeof(sink));
		if (n == 0 || (n == -1 && errno != EAGAIN && errno != EINTR))
			link_drop(l);
		else if (l->state == LINK_HTTP && l->client)
			link_drop(l);
		else if (l->state == LINK_HTTP)
			link_refuse(l, "431 Request Header Fields Too Large");
		return;
	}
	n = read(l->fd, l->in + l->inlen, l->incap - l->inlen);
	if (n == 0 || (n == -1 && errno != EAGAIN && errno != EINTR)) {
		link_drop(l);
		return;
	}
	if (n < 0)
		return;
	l->inlen += (size_t)n;
	if (l->state == LINK_HTTP) {
		end = memmem(l->in, l->inlen, "\r\n\r\n", 4);
		if (end == NULL)
			return;
		if (l->client)
			link_answer(l, (size_t)(end - l->in) + 4);
		else
			link_handshake(l, (size_t)(end - l->in) + 4);
	}
	if (l->state == LINK_WS)
		link_frames(l);
}

static void
link_on_write(struct link *l)
{
	ssize_t n;

	n = write(l->fd, l->out + l->outoff, l->outlen - l->outoff);
	if (n > 0)
		l->outoff += (size_t)n;
	else if (n == -1 && errno != EAGAIN && errno != EINTR)
		link_drop(l);
}

static void link_connected(struct link *l);

static void
link_on_io(void *arg, short revents)
{
	struct link *l = arg;

	if (l->dead)
		return;
	if (l->state == LINK_CONNECTING) {
		if (revents & (POLLOUT | POLLERR | POLLHUP))
			link_connected(l);
		return;
	}
	if ((revents & POLLOUT) && l->outlen > l->outoff)
		link_on_write(l);
	if (!l->dead && (revents & (POLLIN | POLLHUP | POLLERR)))
		link_on_read(l);
}

static struct link *
link_new(int fd, enum link_state state)
{
	struct link *l = xmalloc(sizeof(*l));
	int one = 1;

	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	memset(l, 0, sizeof(*l));
	l->fd = fd;
	l->state = state;
	l->deadline = proc_now_ms() + LINK_HANDSHAKE_MS;
	l->next = link_list;
	link_list = l;
	return l;
}

static void
link_on_accept(void *arg, short revents)
{
	int fd;

	(void)arg;
	(void)revents;
	while ((fd = accept4(link_listen_fd, NULL, NULL,
		    SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0)
		link_new(fd, LINK_HTTP);
}

/* ---- reverse mode: dialling the callback URL ---- */

int
link_init_reverse(const char *url, const char *token, const char *cid)
{
	const char *a, *ae, *h, *he, *port = NULL;
	size_t i;

	link_container = cid != NULL ? cid : "";
	link_rev.token = token;
	if (token == NULL || strlen(token) != AGLINK_TOKEN_HEX ||
	    token[strspn(token, "0123456789abcdefABCDEF")] != '\0') {
		fprintf(stderr,
		    "sockerless-agent: SOCKERLESS_AGENT_CALLBACK needs "
		    "SOCKERLESS_AGENT_TOKEN (%d hex characters)\n",
		    AGLINK_TOKEN_HEX);
		return -1;
	}
	if (strncasecmp(url, "https://", 8) == 0) {
		fprintf(stderr,
		    "sockerless-agent: %s: https is not supported; use an "
		    "http:// URL\n",
		    url);
		return -1;
	}
	if (strncasecmp(url, "http://", 7) != 0)
		goto bad;
	a = url + 7;
	ae = a + strcspn(a, "/?#");
	if (ae == a || (size_t)(ae - a) >= sizeof(link_rev.authority))
		goto bad;
	snprintf(link_rev.authority, sizeof(link_rev.authority), "%.*s",
	    (int)(ae - a), a);
	if (*a == '[') {
		h = a + 1;
		if ((he = memchr(h, ']', (size_t)(ae - h))) == NULL)
			goto bad;
		if (he + 1 < ae && he[1] == ':')
			port = he + 2;
		else if (he + 1 != ae)
			goto bad;
	} else {
		h = a;
		he = memchr(a, ':', (size_t)(ae - a));
		if (he != NULL)
			port = he + 1;
		else
			he = ae;
	}
	if (he == h || (size_t)(he - h) >= sizeof(link_rev.host))
		goto bad;
	snprintf(
	    link_rev.host, sizeof(link_rev.host), "%.*s", (int)(he - h), h);
	if (port != NULL) {
		if (port == ae || (size_t)(ae - port) >= sizeof(link_rev.port))
			goto bad;
		for (i = 0; port + i < ae; i++)
			if (port[i] < '0' || port[i] > '9')
				goto bad;
		snprintf(link_rev.port, sizeof(link_rev.port), "%.*s",
		    (int)(ae - port), port);
	} else {
		snprintf(link_rev.port, sizeof(link_rev.port), "80");
	}
	/* The path with its query, without a fragment. */
	snprintf(link_rev.path, sizeof(link_rev.path), "%s%.*s",
	    *ae == '?' ? "/" : "", (int)strcspn(ae, "#"), ae);
	if (link_rev.path[0] == '\0')
		snprintf(link_rev.path, sizeof(link_rev.path), "/");
	link_rev.on = 1;
	link_rev.backoff_ms = LINK_BACKOFF_MIN_MS;
	return 0;
bad:
	fprintf(stderr,
	    "sockerless-agent: SOCKERLESS_AGENT_CALLBACK %s: want "
	    "http://host[:port]/path\n",
	    url);
	return -1;
}

static void
link_dial(void)
{
	struct addrinfo hints, *res = NULL;
	struct link *l;
	int fd, rc;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICSERV;
	if ((rc = getaddrinfo(link_rev.host, link_rev.port, &hints, &res)) !=
	    0) {
		link_rev_failed(gai_strerror(rc));
		return;
	}
	fd = socket(
	    res->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd == -1 ||
	    (connect(fd, res->ai_addr, res->ai_addrlen) == -1 &&
		errno != EINPROGRESS)) {
		link_rev_failed(strerror(errno));
		if (fd != -1)
			close(fd);
		freeaddrinfo(res);
		return;
	}
	freeaddrinfo(res);
	l = link_new(fd, LINK_CONNECTING);
	l->client = 1;
	link_rev.l = l;
}

/* The upgrade request: path, Host, key, the seal parameters (our nonce
 * and MAC: the token itself never crosses the wire), container id. */
#define LINK_REQUEST                                            \
	"GET %s HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\n" \
	"Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\n"      \
	"Sec-WebSocket-Version: 13\r\n"                         \
	"Sec-WebSocket-Protocol: " AGLINK_PROTOCOL "\r\n"       \
	"Authorization: " AGLINK_SEAL_SCHEME " %s\r\n"          \
	"X-Sockerless-Container: %s\r\n\r\n"

/* The connect finished: on success, the upgrade request goes out. */
static void
link_connected(struct link *l)
{
	unsigned char raw[16], mac[AGLINK_SEAL_MAC];
	char key[25], *req, params[AGLINK_SEAL_PARAMS_LEN];
	socklen_t sl = sizeof(int);
	int err = 0, n;

	if (getsockopt(l->fd, SOL_SOCKET, SO_ERROR, &err, &sl) == -1)
		err = errno;
	if (err != 0) {
		link_rev_failed(strerror(err));
		link_drop(l);
		return;
	}
	if (link_secret_random(l->na, sizeof(l->na)) == -1 ||
	    aglink_seal_hello_mac(link_rev.token, link_container, l->na, mac) ==
		-1) {
		link_rev_failed("no random source for the handshake nonce "
				"(getrandom, /dev/urandom)");
		link_drop(l);
		return;
	}
	aglink_seal_params_format(params, l->na, mac);
	link_random(raw, sizeof(raw));
	lite_b64_encode(raw, sizeof(raw), key);
	ws_accept_key(key, l->accept);
	n = snprintf(NULL, 0, LINK_REQUEST, link_rev.path, link_rev.authority,
	    key, params, link_container);
	req = xmalloc((size_t)n + 1);
	snprintf(req, (size_t)n + 1, LINK_REQUEST, link_rev.path,
	    link_rev.authority, key, params, link_container);
	link_queue(l, req, (size_t)n);
	free(req);
	l->state = LINK_HTTP;
}

/* Reverse mode: notices that the dialled link is gone. */
static void
link_rev_check(void)
{
	struct link *l = link_rev.l;

	if (l != NULL && (l->dead || l->state == LINK_CLOSING)) {
		link_rev.l = NULL;
		if (!link_rev.stopped)
			link_rev_failed(l->state == LINK_CLOSING ?
				"the link was closed" :
				"the connection was lost");
	}
}

static void link_on_io(void *arg, short revents);

/* Reverse mode: dials when it is time (after the links are registered). */
static void
link_prepare_dial(int64_t now)
{
	if (!link_rev.on || link_rev.l != NULL || link_rev.stopped)
		return;
	if (now < link_rev.dial_at) {
		loop_timer(link_rev.dial_at);
		return;
	}
	link_dial();
	if (link_rev.l != NULL) {
		loop_watch(link_rev.l->fd, POLLOUT, link_on_io, link_rev.l);
		loop_timer(link_rev.l->deadline);
	} else {
		loop_timer(link_rev.dial_at);
	}
}

void
link_prepare(void)
{
	struct link **pp = &link_list, *l;
	int64_t now = proc_now_ms();
	short ev;

	link_rev_check();
	while ((l = *pp) != NULL) {
		if (!l->dead && l->deadline > 0 && now >= l->deadline)
			link_drop(l);
		if (!l->dead && l->state == LINK_CLOSING &&
		    l->outoff == l->outlen && !l->shut) {
			shutdown(l->fd, SHUT_WR);
			l->shut = 1;
		}
		if (l->dead) {
			if (l == link_rev.l)
				link_rev_check();
			*pp = l->next;
			close(l->fd);
			free(l->in);
			free(l->out);
			free(l->msg);
			if (l->seal != NULL) {
				aglink_seal_wipe(l->seal);
				free(l->seal);
			}
			free(l);
			continue;
		}
		ev = POLLIN;
		if (l->state == LINK_CONNECTING)
			ev = POLLOUT;
		else if (l->outlen > l->outoff)
			ev |= POLLOUT;
		loop_watch(l->fd, ev, link_on_io, l);
		loop_timer(l->deadline);
		pp = &l->next;
	}
	loop_watch(link_listen_fd, POLLIN, link_on_accept, NULL);
	link_prepare_dial(now);
}
