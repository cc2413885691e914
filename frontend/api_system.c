/* Version prefixes and negotiation, _ping, and the headers Docker sends on
 * every response. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "frontend.h"
#include "sockerless/apiver.h"

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
	struct err e;

	if (apiver_split(httpsrv_req_path(r), rest, minor, &e) == -1) {
		httpsrv_reply_err(r, &e);
		return -1;
	}
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
