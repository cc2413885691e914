/* Header fields of a raw HTTP head, for the agent link's WebSocket
 * handshake on both sides (common/aglink and the agent). */
#include <string.h>
#include <strings.h>

#include "sockerless/lite.h"

int
lite_http_header(const char *head, const char *name, char *out, size_t outsz)
{
	size_t nl = strlen(name), vl;
	const char *p = strstr(head, "\r\n"), *v, *e;

	/* The first line is the request or status line; an empty line or
	 * the end of the text ends the fields. */
	while (p != NULL && p[2] != '\r' && p[2] != '\0') {
		p += 2;
		if ((e = strstr(p, "\r\n")) == NULL)
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

int
lite_http_has_token(const char *list, const char *token)
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
