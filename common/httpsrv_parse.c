/* The HTTP/1.1 server, the protocol's data: status texts, and the request
 * line, headers and query string of a request head with the limits a
 * client cannot pass. Calls nothing else in the server. */
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
#include "sockerless/lite.h"
#include "sockerless/log.h"
#include "sockerless/str.h"
#include "sockerless/xmalloc.h"

#include "httpsrv_int.h"

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
	case 429:
		return "Too Many Requests";
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
			h = lite_hexval((unsigned char)s[i + 1]);
			l = lite_hexval((unsigned char)s[i + 2]);
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
int
httpsrv_req_parse_head(struct httpsrv_req *r, char *head)
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
