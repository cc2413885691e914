/* sockerless-frontend: the Docker API edge. It negotiates the API version,
 * validates requests, gates them on the backend's capabilities and relays
 * them (streams and hijacked connections included) to the backend's
 * internal API. It holds no state and no cloud credentials. */
#ifndef SOCKERLESS_FRONTEND_H
#define SOCKERLESS_FRONTEND_H

#include <event2/event.h>

#include "sockerless/caps.h"
#include "sockerless/httpsrv.h"
#include "sockerless/router.h"
#include "sockerless/str.h"

struct frontend_conf {
	char *listen;	  /* unix socket for Docker clients */
	char *listen_tcp; /* optional "127.0.0.1:2375", loopback only */
	char *backend;	  /* the backend's internal API socket */
	char *log_level;
	long long max_body; /* bytes */
	long long max_conns;
	long long header_timeout; /* ms */
	long long idle_timeout;	  /* ms */
};

struct frontend {
	struct frontend_conf conf;
	struct event_base *base;
	struct httpsrv *srv;
	struct caps caps;
	int caps_loaded;
	int caps_fetching; /* a capabilities GET is under way */
	struct event *sig_term, *sig_int;
};

/* How a route is gated beyond its capability. */
enum frontend_gate {
	GATE_NONE,
	GATE_CAP,    /* needs route->capability */
	GATE_ATTACH, /* stdin=1 needs attach, else logs */
	GATE_LOGS,   /* follow=1 needs logs_follow, else logs */
	GATE_SWARM,  /* answered locally: not a swarm manager */
	GATE_PING,   /* answered locally */
};

/* frontend.c */
extern struct frontend *frontend;

/* routes.c */
void routes_handle(struct httpsrv_req *r, void *arg);
/* The capabilities fetch ended (e NULL on success): requests waiting for
 * it go on, or get e. */
void routes_caps_done(const struct err *e);

/* api_system.c */
/* Splits "/v1.44/x" into version and rest; 0, or -1 after replying 400. */
int api_system_version(struct httpsrv_req *r, const char **rest, int *minor);
void api_system_ping(struct httpsrv_req *r);
void api_system_headers(struct httpsrv_req *r);

/* proxy.c */
/* Forwards r to the backend as `/internal/v1<path>` and relays the reply. */
void proxy_forward(struct httpsrv_req *r, const char *path, int minor);
/* An internal GET on the backend; cb gets the status and the body, or
 * status -1 and why (unreachable, timed out). -1 when it cannot start. */
typedef void (*proxy_get_cb)(
    int status, const char *body, const struct err *e, void *arg);
int proxy_get(const char *path, proxy_get_cb cb, void *arg, struct err *e);
/* Fetches the backend's capabilities without blocking (at start-up, on a
 * change of backend instance, when a request finds none). */
void proxy_caps_refresh(void);

#endif
