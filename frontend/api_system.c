/* Version prefixes and negotiation, _ping, and the headers Docker sends on
 * every response. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "frontend.h"
#include "sockerless/apiver.h"
#include "sockerless/xmalloc.h"

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

/* 200 "OK" when the backend answers; else 503 with why, Docker's error
 * envelope and the same headers, so that a client still negotiates the
 * version and `docker version` / `docker info` print the sentence, and a
 * health check tells a frontend without its backend from a working
 * stack. Asked anew every time: it recovers when the backend returns. */
/* A _ping waiting for the backend's (backend over TCP); r is NULL once
 * the client has gone. */
struct ping_wait {
	struct httpsrv_req *r;
};

static void
ping_gone(struct httpsrv_req *r, void *arg)
{
	struct ping_wait *w = arg;

	(void)r;
	w->r = NULL;
}

static void
ping_got(int status, const char *body, const struct err *ge, void *arg)
{
	struct ping_wait *w = arg;
	struct err e;

	(void)body;
	if (w->r != NULL) {
		httpsrv_req_on_close(w->r, NULL, NULL);
		if (status == 200)
			httpsrv_reply(
			    w->r, 200, "text/plain; charset=utf-8", "OK", 2);
		else {
			if (ge != NULL)
				e = *ge;
			else
				err_set(&e, 503,
				    "the sockerless backend at %s answered "
				    "its _ping with status %d; check the "
				    "backend's log (and that the tokens "
				    "match)",
				    frontend->conf.backend, status);
			e.status = 503;
			httpsrv_reply_err(w->r, &e);
		}
	}
	free(w);
}

void
api_system_ping(struct httpsrv_req *r)
{
	struct ping_wait *w;
	struct err e;

	httpsrv_add_header(r, "Builder-Version", "1");
	httpsrv_add_header(
	    r, "Cache-Control", "no-cache, no-store, must-revalidate");
	httpsrv_add_header(r, "Pragma", "no-cache");
	/* A kept-alive connection the backend answered on and has not
	 * closed says as much as a new one would. */
	if (proxy_backend_init(&e) == 0 && pool_live(proxy_backend_path())) {
		httpsrv_reply(r, 200, "text/plain; charset=utf-8", "OK", 2);
		return;
	}
	if (proxy_backend_tcp()) {
		w = xcalloc(1, sizeof(*w));
		w->r = r;
		httpsrv_req_on_close(r, ping_gone, w);
		if (proxy_get("/_ping", ping_got, w, &e) == -1) {
			httpsrv_req_on_close(r, NULL, NULL);
			free(w);
			httpsrv_reply_err(r, &e);
		}
		return;
	}
	if (proxy_backend_check(&e) == -1) {
		httpsrv_reply_err(r, &e);
		return;
	}
	httpsrv_reply(r, 200, "text/plain; charset=utf-8", "OK", 2);
}
