/* The link server (forward mode): the listener, the HTTP/1.1 upgrade
 * handshake, WebSocket framing and the one current link
 * (docs/agent-link.md). Non-blocking sockets driven by loop.c. */
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "agent.h"
#include "proc.h"
#include "sockerless/aglink_wire.h"

#define LINK_HEAD_MAX	  8192
#define LINK_HANDSHAKE_MS 10000
#define LINK_CLOSING_MS	  2000
#define LINK_IN_MAX	  (AGLINK_MAX_MESSAGE + 16)

enum link_state { LINK_HTTP, LINK_WS, LINK_CLOSING };

struct link {
	int fd;
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
static int link_listen_fd = -1;
static const char *link_token_sha256, *link_container;

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

static void
link_frame(struct link *l, int opcode, const void *p, size_t n)
{
	unsigned char h[14];

	link_queue(l, h, ws_build_header(h, opcode, n, NULL));
	if (n > 0)
		link_queue(l, p, n);
}

/* The link ends (close code sent when it was a WebSocket). */
static void
link_fail(struct link *l, int code)
{
	unsigned char b[2];

	if (l == link_cur) {
		link_cur = NULL;
		chan_drop_all();
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
		chan_drop_all();
	}
	l->dead = 1;
}

void
link_send(int type, int stream, uint32_t ch, const void *p, size_t n)
{
	unsigned char h[14 + AGLINK_HEADER];
	size_t hl;

	if (link_cur == NULL)
		return;
	hl = ws_build_header(h, WS_BINARY, AGLINK_HEADER + n, NULL);
	aglink_put_header(h + hl, type, stream, ch);
	link_queue(link_cur, h, hl + AGLINK_HEADER);
	if (n > 0)
		link_queue(link_cur, p, n);
}

size_t
link_pending(void)
{
	return link_cur != NULL ? link_cur->outlen - link_cur->outoff : 0;
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
	for (l = link_list; l != NULL; l = l->next) {
		if (l->dead)
			continue;
		if (l->state == LINK_HTTP)
			link_drop(l);
		else if (l->state == LINK_WS)
			link_fail(l, 1001);
	}
}

/* ---- the handshake ---- */

/* The value of header name in the request head, copied into out. */
static int
link_header(const char *head, const char *name, char *out, size_t outsz)
{
	size_t nl = strlen(name), vl;
	const char *p = strstr(head, "\r\n"), *v, *e;

	while (p != NULL && p[2] != '\r') {
		p += 2;
		e = strstr(p, "\r\n");
		if (e == NULL)
			break;
		if ((size_t)(e - p) > nl && strncasecmp(p, name, nl) == 0 &&
		    p[nl] == ':') {
			for (v = p + nl + 1; *v == ' ' || *v == '\t'; v++)
				;
			vl = (size_t)(e - v);
			while (
			    vl > 0 && (v[vl - 1] == ' ' || v[vl - 1] == '\t'))
				vl--;
			if (vl >= outsz)
				return -1;
			memcpy(out, v, vl);
			out[vl] = '\0';
			return 0;
		}
		p = e;
	}
	return -1;
}

/* 1 when the comma-separated list has token (case-insensitive). */
static int
link_has_token(const char *list, const char *token)
{
	size_t n = strlen(token);
	const char *p = list;

	while (*p != '\0') {
		while (*p == ' ' || *p == '\t' || *p == ',')
			p++;
		if (strncasecmp(p, token, n) == 0 &&
		    (p[n] == '\0' || p[n] == ',' || p[n] == ' ' ||
			p[n] == '\t'))
			return 1;
		while (*p != '\0' && *p != ',')
			p++;
	}
	return 0;
}

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

static void
link_accept(struct link *l, const char *key)
{
	char buf[512], acc[29], *hello;
	int n;

	ws_accept_key(key, acc);
	n = snprintf(buf, sizeof(buf),
	    "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
	    "Connection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n"
	    "Sec-WebSocket-Protocol: " AGLINK_PROTOCOL "\r\n\r\n",
	    acc);
	link_queue(l, buf, (size_t)n);
	if (link_cur != NULL)
		link_fail(link_cur, 1000); /* replaced by a newer link */
	l->state = LINK_WS;
	l->deadline = 0;
	if (l->incap < LINK_IN_MAX) {
		l->incap = LINK_IN_MAX;
		l->in = xrealloc(l->in, l->incap);
	}
	link_cur = l;
	hello = wrap_hello();
	link_send(AGLINK_HELLO, 0, 0, hello, strlen(hello));
	free(hello);
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
	    link_header(head, "Upgrade", v, sizeof(v)) == 0 &&
	    link_has_token(v, "websocket") &&
	    link_header(head, "Connection", v, sizeof(v)) == 0 &&
	    link_has_token(v, "upgrade") &&
	    link_header(head, "Sec-WebSocket-Version", v, sizeof(v)) == 0 &&
	    strcmp(v, "13") == 0 &&
	    link_header(head, "Sec-WebSocket-Key", key, sizeof(key)) == 0 &&
	    *key != '\0';
	if (!ok) {
		link_refuse(l, "400 Bad Request");
		goto out;
	}
	ok = link_header(head, "Authorization", tok, sizeof(tok)) == 0 &&
	    strncasecmp(tok, "Bearer ", 7) == 0 &&
	    aglink_token_check(tok + 7, link_token_sha256) &&
	    link_header(head, "X-Sockerless-Container", v, sizeof(v)) == 0 &&
	    strcmp(v, link_container) == 0;
	if (!ok) {
		link_refuse(l, "401 Unauthorized");
		goto out;
	}
	link_accept(l, key);
out:
	free(head);
}

/* ---- WebSocket input ---- */

static void
link_message(struct link *l, const unsigned char *p, size_t n)
{
	if (l != link_cur)
		return;
	if (chan_message(p, n) == -1)
		link_fail(l, 1002);
}

/* Consumes whole frames from l->in; returns -1 when the link failed. */
static int
link_frames(struct link *l)
{
	struct ws_frame f;
	unsigned char *p;
	size_t used = 0;
	int r, code = 0;

	while (l->state == LINK_WS) {
		r = ws_parse_header(l->in + used, l->inlen - used, &f);
		if (r == 0)
			break;
		if (r == -1 || !f.masked) {
			code = 1002;
			break;
		}
		if (f.len > AGLINK_MAX_MESSAGE ||
		    (f.opcode == WS_CONT &&
			l->msglen + f.len > AGLINK_MAX_MESSAGE)) {
			code = 1009;
			break;
		}
		if (l->inlen - used < f.header_len + f.len)
			break;
		p = l->in + used + f.header_len;
		ws_mask(p, (size_t)f.len, f.mask, 0);
		used += f.header_len + (size_t)f.len;
		switch (f.opcode) {
		case WS_BINARY:
		case WS_TEXT:
			if (l->in_msg) {
				code = 1002;
				break;
			}
			if (f.fin) {
				link_message(l, p, (size_t)f.len);
			} else {
				l->msg = xrealloc(l->msg, AGLINK_MAX_MESSAGE);
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
				chan_drop_all();
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

static void
link_on_io(void *arg, short revents)
{
	struct link *l = arg;

	if (l->dead)
		return;
	if ((revents & POLLOUT) && l->outlen > l->outoff)
		link_on_write(l);
	if (!l->dead && (revents & (POLLIN | POLLHUP | POLLERR)))
		link_on_read(l);
}

static void
link_on_accept(void *arg, short revents)
{
	struct link *l;
	int fd, one = 1;

	(void)arg;
	(void)revents;
	while ((fd = accept4(link_listen_fd, NULL, NULL,
		    SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0) {
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		l = xmalloc(sizeof(*l));
		memset(l, 0, sizeof(*l));
		l->fd = fd;
		l->state = LINK_HTTP;
		l->deadline = proc_now_ms() + LINK_HANDSHAKE_MS;
		l->next = link_list;
		link_list = l;
	}
}

void
link_prepare(void)
{
	struct link **pp = &link_list, *l;
	int64_t now = proc_now_ms();
	short ev;

	while ((l = *pp) != NULL) {
		if (!l->dead && l->deadline > 0 && now >= l->deadline)
			link_drop(l);
		if (!l->dead && l->state == LINK_CLOSING &&
		    l->outoff == l->outlen && !l->shut) {
			shutdown(l->fd, SHUT_WR);
			l->shut = 1;
		}
		if (l->dead) {
			*pp = l->next;
			close(l->fd);
			free(l->in);
			free(l->out);
			free(l->msg);
			free(l);
			continue;
		}
		ev = POLLIN;
		if (l->outlen > l->outoff)
			ev |= POLLOUT;
		loop_watch(l->fd, ev, link_on_io, l);
		loop_timer(l->deadline);
		pp = &l->next;
	}
	loop_watch(link_listen_fd, POLLIN, link_on_accept, NULL);
}
