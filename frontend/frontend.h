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
	struct strv hosts; /* listen list, dockerd's -H */
	char *listen;	   /* deprecated: one unix socket path */
	char *listen_tcp;  /* deprecated: "127.0.0.1:2375" */
	char *group;	   /* group of the unix sockets */
	int tlsverify;
	char *tlscacert, *tlscert, *tlskey;
	char *backend; /* the backend's internal API socket, or tcp:// */
	char *backend_tlscacert, *backend_token_file;
	char *log_level;
	long long max_body; /* bytes */
	long long max_conns;
	long long header_timeout; /* ms */
	long long idle_timeout;	  /* ms */
	long long backend_pool;	  /* idle backend connections kept */
	long long busy_poll;	  /* us, 0 off (evloop_run) */
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

/* hosts.c */
/* Opens the listen list (hosts, the deprecated listen and listen_tcp) on
 * srv; with srv NULL only checks it (addresses, TLS files, the group, the
 * policy: -n). 0, or -1 with e. */
int frontend_hosts(struct httpsrv *srv, struct err *e);

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
/* At shutdown: each get in flight answered with a 503 and freed. */
void proxy_gets_cancel(void);
/* Fetches the backend's capabilities without blocking (at start-up, on a
 * change of backend instance, when a request finds none). */
void proxy_caps_refresh(void);
/* Whether the backend accepts a connection now (its socket answers; the
 * connection is pooled); 0, or -1 with a 503 naming the socket and what to
 * check. Unix socket only. */
int proxy_backend_check(struct err *e);
/* Reads the backend setting (a unix socket, or tcp:// with
 * backend_tlscacert and backend_token_file); 0, or -1 with e. Done once;
 * proxy_backend_free undoes it. */
int proxy_backend_init(struct err *e);
void proxy_backend_free(void);
/* Whether the backend is reached over TCP (its _ping is asked then). */
int proxy_backend_tcp(void);
/* The backend's unix socket path, or NULL over TCP (after init). */
const char *proxy_backend_path(void);

/* pool.c */
/* Before connecting to the backend (its unix socket path, or NULL over
 * TCP): the generation to give pool_put for that connection. A socket
 * that is not the one of the pooled connections flushes them. */
unsigned pool_connecting(const char *path);
/* An idle connection found alive (nothing unread, not closed), the
 * caller's to use and to free or put back; NULL when there is none. *gen
 * is its generation. */
struct bufferevent *pool_take(const char *path, unsigned *gen);
/* Takes be after a complete response (fresh: a connection that carried no
 * request yet): kept idle for the next request, or freed (the pool full or
 * off, a newer generation, bytes unread). */
void pool_put(struct bufferevent *be, unsigned gen, int fresh);
/* Whether an idle connection is alive (the backend answered on it, or
 * accepted it for a _ping over its unix socket, and has not closed it
 * since). */
int pool_live(const char *path);
/* Frees every idle connection and makes older generations stale (the
 * backend changed, or shutting down). */
void pool_flush(void);
/* Idle connections held. */
long pool_size(void);
/* The generation pool_put keeps connections of (bumped by pool_flush). */
unsigned pool_generation(void);

#endif
