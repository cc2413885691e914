/* Version prefixes and negotiation, _ping, and the headers Docker sends on
 * every response. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "frontend.h"

void
api_system_headers(struct httpsrv_req *r)
{
	httpsrv_add_header(r, "Api-Version", "1.44");
	httpsrv_add_header(r, "Docker-Experimental", "false");
	httpsrv_add_header(r, "Ostype", "linux");
	httpsrv_add_header(r, "Server", "Docker/0.1.0 (linux) sockerless");
}

int
api_system_version(struct httpsrv_req *r, const char **rest, int *minor)
{
	const char *path = httpsrv_req_path(r), *p;
	int major = 1, min = FRONTEND_API_MAX_MINOR;
	char *end;

	*rest = path;
	*minor = min;
	if (strncmp(path, "/v", 2) != 0 || !(path[2] >= '0' && path[2] <= '9'))
		return 0;
	p = path + 2;
	major = (int)strtol(p, &end, 10);
	if (*end != '.') {
		/* "/v1/..." is not a version prefix Docker accepts. */
		httpsrv_reply_error(r, 404, "page not found");
		return -1;
	}
	min = (int)strtol(end + 1, &end, 10);
	if (*end != '/' && *end != '\0') {
		httpsrv_reply_error(r, 404, "page not found");
		return -1;
	}
	if (major > FRONTEND_API_MAX_MAJOR ||
	    (major == FRONTEND_API_MAX_MAJOR && min > FRONTEND_API_MAX_MINOR)) {
		httpsrv_reply_error(r, 400,
		    "client version %d.%d is too new. "
		    "Maximum supported API version is "
		    "1.44",
		    major, min);
		return -1;
	}
	if (major < 1 || (major == 1 && min < FRONTEND_API_MIN_MINOR)) {
		httpsrv_reply_error(r, 400,
		    "client version %d.%d is too old. "
		    "Minimum supported API version is "
		    "1.24, please upgrade your client "
		    "to a newer version",
		    major, min);
		return -1;
	}
	*rest = *end == '\0' ? "/" : end;
	*minor = min;
	return 0;
}

void
api_system_ping(struct httpsrv_req *r)
{
	httpsrv_add_header(r, "Builder-Version", "1");
	httpsrv_add_header(
	    r, "Cache-Control", "no-cache, no-store, must-revalidate");
	httpsrv_add_header(r, "Pragma", "no-cache");
	httpsrv_reply(r, 200, "text/plain; charset=utf-8", "OK", 2);
}
