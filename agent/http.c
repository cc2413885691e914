/* Blocking HTTP/1.1 client: enough for the Lambda Runtime API on loopback. */
#include <ctype.h>
#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "agent.h"
#include "http.h"

#define HTTP_HEAD_MAX 65536

/* One response being read: raw bytes in buf, parsed up to pos. */
struct http_conn {
	int fd;
	char *buf;
	size_t len, cap, pos;
	int eof;
};

static int
http_connect(const char *hostport)
{
	char host[256], *port;
	struct addrinfo hints, *res = NULL, *ai;
	int fd = -1, rc, saved = ECONNREFUSED;

	if (strlen(hostport) >= sizeof(host))
		goto bad;
	strcpy(host, hostport);
	if (host[0] == '[') {
		if ((port = strchr(host, ']')) == NULL || port[1] != ':')
			goto bad;
		*port = '\0';
		port += 2;
		/* Only the bytes before port move. */
		memmove(host, host + 1, strlen(host + 1) + 1);
	} else if ((port = strrchr(host, ':')) != NULL) {
		*port++ = '\0';
	} else {
		goto bad;
	}
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	if ((rc = getaddrinfo(host, port, &hints, &res)) != 0) {
		errno = rc == EAI_SYSTEM ? errno : EHOSTUNREACH;
		return -1;
	}
	for (ai = res; ai != NULL; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC,
		    ai->ai_protocol);
		if (fd == -1) {
			saved = errno;
			continue;
		}
		if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
			break;
		saved = errno;
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	if (fd == -1)
		errno = saved;
	return fd;
bad:
	errno = EINVAL;
	return -1;
}

static int
http_send_all(int fd, const char *p, size_t len, int more)
{
	ssize_t n;

	while (len > 0) {
		n = send(fd, p, len, MSG_NOSIGNAL | (more ? MSG_MORE : 0));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static int
http_send_request(int fd, const char *hostport, const char *method,
    const char *path, const struct http_hdr *hdrs, const char *body,
    size_t body_len)
{
	char *head = NULL;
	size_t len = 0;
	FILE *f;
	int rc;

	if ((f = open_memstream(&head, &len)) == NULL)
		return -1;
	fprintf(f,
	    "%s %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n"
	    "User-Agent: sockerless-agent/%s\r\n",
	    method, path, hostport, AGENT_VERSION);
	for (; hdrs != NULL && hdrs->name != NULL; hdrs++)
		fprintf(f, "%s: %s\r\n", hdrs->name, hdrs->value);
	if (body != NULL || strcmp(method, "POST") == 0)
		fprintf(f, "Content-Length: %zu\r\n", body_len);
	fputs("\r\n", f);
	if (fclose(f) != 0) {
		free(head);
		return -1;
	}
	/* MSG_MORE: head and body leave in one segment when they fit, so
	 * Nagle never holds the body back for a delayed ACK. */
	rc = http_send_all(fd, head, len, body_len > 0);
	free(head);
	if (rc == 0 && body_len > 0)
		rc = http_send_all(fd, body, body_len, 0);
	return rc;
}

/* Reads more bytes into c->buf: 1 read, 0 at EOF, -1 error. */
static int
http_fill(struct http_conn *c)
{
	ssize_t n;

	if (c->len == c->cap) {
		if (c->cap >= HTTP_BODY_MAX + HTTP_HEAD_MAX) {
			errno = EMSGSIZE;
			return -1;
		}
		c->cap = c->cap == 0 ? 16384 : c->cap * 2;
		c->buf = xrealloc(c->buf, c->cap + 1);
	}
	do
		n = recv(c->fd, c->buf + c->len, c->cap - c->len, 0);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -1;
	if (n == 0) {
		c->eof = 1;
		return 0;
	}
	c->len += (size_t)n;
	c->buf[c->len] = '\0';
	return 1;
}

/* Makes sure at least want bytes past c->pos are buffered; -1 when the
 * peer closed before that (ECONNRESET: worth a retry) or on error. */
static int
http_need(struct http_conn *c, size_t want)
{
	int rc;

	while (c->len - c->pos < want) {
		if ((rc = http_fill(c)) < 0)
			return -1;
		if (rc == 0) {
			errno = ECONNRESET;
			return -1;
		}
	}
	return 0;
}

/* Returns the offset of the next "\r\n" at or after c->pos, reading as
 * needed, or -1. */
static long
http_line(struct http_conn *c, size_t max)
{
	char *crlf;

	for (;;) {
		if (c->len > c->pos &&
		    (crlf = memmem(
			 c->buf + c->pos, c->len - c->pos, "\r\n", 2)) != NULL)
			return crlf - c->buf;
		if (c->len - c->pos > max) {
			errno = EPROTO;
			return -1;
		}
		if (http_need(c, c->len - c->pos + 1) == -1)
			return -1;
	}
}

/* Parses the status line and headers at c->pos into r; skips 1xx. */
static int
http_read_head(struct http_conn *c, struct http_resp *r)
{
	long end;
	char *line, *colon, *v, *e;
	size_t n;

	for (;;) {
		if ((end = http_line(c, HTTP_HEAD_MAX)) < 0)
			return -1;
		line = c->buf + c->pos;
		c->buf[end] = '\0';
		if (strncmp(line, "HTTP/1.", 7) != 0 || strlen(line) < 12 ||
		    line[8] != ' ') {
			errno = EPROTO;
			return -1;
		}
		/* Three digits: atoi would read garbage as 0 and overflow. */
		if (!isdigit((unsigned char)line[9]) ||
		    !isdigit((unsigned char)line[10]) ||
		    !isdigit((unsigned char)line[11]) ||
		    (line[12] != ' ' && line[12] != '\0')) {
			errno = EPROTO;
			return -1;
		}
		r->status = (line[9] - '0') * 100 + (line[10] - '0') * 10 +
		    (line[11] - '0');
		c->pos = (size_t)end + 2;
		r->head_len = 0;
		for (;;) {
			if ((end = http_line(c, HTTP_HEAD_MAX)) < 0)
				return -1;
			line = c->buf + c->pos;
			c->buf[end] = '\0';
			c->pos = (size_t)end + 2;
			if (*line == '\0')
				break;
			if ((colon = strchr(line, ':')) == NULL)
				continue;
			for (v = colon + 1; *v == ' ' || *v == '\t'; v++)
				;
			for (e = v + strlen(v);
			     e > v && (e[-1] == ' ' || e[-1] == '\t'); e--)
				;
			*e = '\0';
			/* Stored as "name:value\0", the value trimmed. */
			n = (size_t)(colon - line) + 1 + strlen(v) + 1;
			r->head = xrealloc(r->head, r->head_len + n);
			memcpy(r->head + r->head_len, line,
			    (size_t)(colon - line) + 1);
			strcpy(r->head + r->head_len + (colon - line) + 1, v);
			r->head_len += n;
		}
		if (r->status >= 200 || r->status < 100)
			return 0;
	}
}

static void
http_body_add(struct http_resp *r, const char *p, size_t n)
{
	r->body = xrealloc(r->body, r->body_len + n + 1);
	memcpy(r->body + r->body_len, p, n);
	r->body_len += n;
	r->body[r->body_len] = '\0';
}

static int
http_read_chunked(struct http_conn *c, struct http_resp *r)
{
	unsigned long long size;
	long end;
	char *ep;

	for (;;) {
		if ((end = http_line(c, 1024)) < 0)
			return -1;
		c->buf[end] = '\0';
		size = strtoull(c->buf + c->pos, &ep, 16);
		if (ep == c->buf + c->pos || size > HTTP_BODY_MAX ||
		    r->body_len + size > HTTP_BODY_MAX) {
			errno = size > HTTP_BODY_MAX ? EMSGSIZE : EPROTO;
			return -1;
		}
		c->pos = (size_t)end + 2;
		if (size == 0)
			break;
		if (http_need(c, (size_t)size + 2) == -1)
			return -1;
		http_body_add(r, c->buf + c->pos, (size_t)size);
		c->pos += (size_t)size + 2;
	}
	/* Trailers, up to the empty line; nobody sends them here. */
	for (;;) {
		if ((end = http_line(c, HTTP_HEAD_MAX)) < 0)
			return -1;
		if ((size_t)end == c->pos)
			return 0;
		c->pos = (size_t)end + 2;
	}
}

static int
http_read_body(struct http_conn *c, struct http_resp *r, const char *method)
{
	const char *te, *cl;
	unsigned long long len;
	char *ep;
	int rc;

	if (strcmp(method, "HEAD") == 0 || r->status == 204 || r->status == 304)
		return 0;
	te = http_resp_header(r, "Transfer-Encoding");
	if (te != NULL && strcasestr(te, "chunked") != NULL)
		return http_read_chunked(c, r);
	if ((cl = http_resp_header(r, "Content-Length")) != NULL) {
		len = strtoull(cl, &ep, 10);
		if (ep == cl || *ep != '\0') {
			errno = EPROTO;
			return -1;
		}
		if (len > HTTP_BODY_MAX) {
			errno = EMSGSIZE;
			return -1;
		}
		if (http_need(c, (size_t)len) == -1)
			return -1;
		http_body_add(r, c->buf + c->pos, (size_t)len);
		return 0;
	}
	/* Neither: the body runs to EOF (we asked for Connection: close). */
	while ((rc = http_fill(c)) > 0)
		;
	if (rc < 0)
		return -1;
	if (c->len - c->pos > HTTP_BODY_MAX) {
		errno = EMSGSIZE;
		return -1;
	}
	http_body_add(r, c->buf + c->pos, c->len - c->pos);
	return 0;
}

int
http_request(const char *hostport, const char *method, const char *path,
    const struct http_hdr *hdrs, const char *body, size_t body_len,
    struct http_resp *resp)
{
	struct http_conn c;
	int rc = -1, saved;

	memset(resp, 0, sizeof(*resp));
	memset(&c, 0, sizeof(c));
	if ((c.fd = http_connect(hostport)) == -1)
		return -1;
	if (http_send_request(
		c.fd, hostport, method, path, hdrs, body, body_len) == -1)
		goto out;
	if (http_read_head(&c, resp) == -1 ||
	    http_read_body(&c, resp, method) == -1)
		goto out;
	if (resp->body == NULL)
		http_body_add(resp, "", 0);
	rc = 0;
out:
	saved = errno;
	close(c.fd);
	free(c.buf);
	if (rc == -1)
		http_resp_free(resp);
	errno = saved;
	return rc;
}

const char *
http_resp_header(const struct http_resp *r, const char *name)
{
	size_t off = 0, nlen = strlen(name);
	const char *h;

	while (off < r->head_len) {
		h = r->head + off;
		if (strncasecmp(h, name, nlen) == 0 && h[nlen] == ':')
			return h + nlen + 1;
		off += strlen(h) + 1;
	}
	return NULL;
}

void
http_resp_free(struct http_resp *r)
{
	free(r->head);
	free(r->body);
	memset(r, 0, sizeof(*r));
}
