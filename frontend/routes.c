/* The Docker Engine API route table: every documented endpoint, the
 * capability it needs, and the one place where the 501 gate and the router
 * meet. */
#include <sys/queue.h>

#include <stdlib.h>
#include <string.h>

#include "frontend.h"
#include "sockerless/json.h"
#include "sockerless/log.h"
#include "sockerless/xmalloc.h"

#define R(m, p, g, cap)                \
	{                              \
		m, p, (void *)(g), cap \
	}

static const struct router_route routes[] = {
	R("GET", "/_ping", GATE_PING, NULL),
	R("HEAD", "/_ping", GATE_PING, NULL),
	R("GET", "/version", GATE_NONE, NULL),
	R("GET", "/info", GATE_NONE, NULL),
	R("GET", "/events", GATE_NONE, NULL),
	R("GET", "/system/df", GATE_NONE, NULL),
	R("POST", "/auth", GATE_NONE, NULL),
	R("GET", "/containers/json", GATE_NONE, NULL),
	R("POST", "/containers/create", GATE_NONE, NULL),
	R("POST", "/containers/prune", GATE_NONE, NULL),
	R("GET", "/containers/{id}/json", GATE_NONE, NULL),
	R("GET", "/containers/{id}/top", GATE_CAP, "top"),
	R("GET", "/containers/{id}/logs", GATE_LOGS, NULL),
	R("GET", "/containers/{id}/changes", GATE_NONE, NULL),
	R("GET", "/containers/{id}/export", GATE_NONE, NULL),
	R("GET", "/containers/{id}/stats", GATE_CAP, "stats"),
	R("POST", "/containers/{id}/resize", GATE_CAP, "attach"),
	R("POST", "/containers/{id}/start", GATE_NONE, NULL),
	R("POST", "/containers/{id}/stop", GATE_NONE, NULL),
	R("POST", "/containers/{id}/restart", GATE_NONE, NULL),
	R("POST", "/containers/{id}/kill", GATE_NONE, NULL),
	R("POST", "/containers/{id}/update", GATE_NONE, NULL),
	R("POST", "/containers/{id}/rename", GATE_NONE, NULL),
	R("POST", "/containers/{id}/pause", GATE_CAP, "pause"),
	R("POST", "/containers/{id}/unpause", GATE_CAP, "pause"),
	R("POST", "/containers/{id}/attach", GATE_ATTACH, NULL),
	R("GET", "/containers/{id}/attach/ws", GATE_CAP, "attach"),
	R("POST", "/containers/{id}/wait", GATE_NONE, NULL),
	R("DELETE", "/containers/{id}", GATE_NONE, NULL),
	R("HEAD", "/containers/{id}/archive", GATE_CAP, "archive"),
	R("GET", "/containers/{id}/archive", GATE_CAP, "archive"),
	R("PUT", "/containers/{id}/archive", GATE_CAP, "archive"),
	R("POST", "/containers/{id}/exec", GATE_CAP, "exec"),
	R("POST", "/exec/{id}/start", GATE_CAP, "exec"),
	R("POST", "/exec/{id}/resize", GATE_CAP, "exec"),
	R("GET", "/exec/{id}/json", GATE_CAP, "exec"),
	R("GET", "/images/json", GATE_NONE, NULL),
	R("POST", "/images/create", GATE_NONE, NULL),
	R("GET", "/images/search", GATE_NONE, NULL),
	R("POST", "/images/prune", GATE_NONE, NULL),
	R("GET", "/images/get", GATE_NONE, NULL),
	R("POST", "/images/load", GATE_NONE, NULL),
	R("GET", "/images/{name*}/json", GATE_NONE, NULL),
	R("GET", "/images/{name*}/history", GATE_NONE, NULL),
	R("POST", "/images/{name*}/push", GATE_NONE, NULL),
	R("POST", "/images/{name*}/tag", GATE_NONE, NULL),
	R("GET", "/images/{name*}/get", GATE_NONE, NULL),
	R("DELETE", "/images/{name*}", GATE_NONE, NULL),
	R("POST", "/build", GATE_NONE, NULL),
	R("POST", "/build/prune", GATE_NONE, NULL),
	R("POST", "/commit", GATE_NONE, NULL),
	R("GET", "/distribution/{name*}/json", GATE_NONE, NULL),
	/* Reads and prune are answered by every backend (none to list,
	 * find or prune without volumes), as dockerd's networks are. */
	R("GET", "/volumes", GATE_NONE, NULL),
	R("POST", "/volumes/create", GATE_CAP, "volumes"),
	R("POST", "/volumes/prune", GATE_NONE, NULL),
	R("GET", "/volumes/{name}", GATE_NONE, NULL),
	R("PUT", "/volumes/{name}", GATE_CAP, "volumes"),
	R("DELETE", "/volumes/{name}", GATE_CAP, "volumes"),
	/* bridge, host and none exist on every backend: only user-defined
	 * networks need the capability. */
	R("GET", "/networks", GATE_NONE, NULL),
	R("POST", "/networks/create", GATE_CAP, "networks"),
	R("POST", "/networks/prune", GATE_NONE, NULL),
	R("GET", "/networks/{id}", GATE_NONE, NULL),
	R("DELETE", "/networks/{id}", GATE_CAP, "networks"),
	R("POST", "/networks/{id}/connect", GATE_CAP, "networks"),
	R("POST", "/networks/{id}/disconnect", GATE_CAP, "networks"),
	R("GET", "/plugins", GATE_NONE, NULL),
	R("POST", "/session", GATE_NONE, NULL),
	R("GET", "/swarm", GATE_SWARM, NULL),
	R("POST", "/swarm/{op}", GATE_SWARM, NULL),
	R("GET", "/swarm/unlockkey", GATE_SWARM, NULL),
	R("GET", "/nodes", GATE_SWARM, NULL),
	R("GET", "/nodes/{id}", GATE_SWARM, NULL),
	R("GET", "/services", GATE_SWARM, NULL),
	R("POST", "/services/create", GATE_SWARM, NULL),
	R("GET", "/services/{id}", GATE_SWARM, NULL),
	R("GET", "/tasks", GATE_SWARM, NULL),
	R("GET", "/secrets", GATE_SWARM, NULL),
	R("GET", "/configs", GATE_SWARM, NULL),
};

/* A request on a container the gate would refuse, waiting to learn
 * whether the container exists: dockerd answers 404 for a missing one
 * before anything else, so the 501 is only for one that exists. */
struct routes_lookup {
	struct httpsrv_req *r; /* NULL once the client went away */
	enum caps_flag flag;
	char *id;
};

static void
routes_lookup_gone(struct httpsrv_req *r, void *arg)
{
	struct routes_lookup *l = arg;

	(void)r;
	l->r = NULL;
}

static void
routes_lookup_got(int status, const char *body, const struct err *ge, void *arg)
{
	struct routes_lookup *l = arg;
	struct err e;
	cJSON *o;

	if (l->r == NULL)
		goto done;
	httpsrv_req_on_close(l->r, NULL, NULL);
	if (status == 404) {
		o = cJSON_Parse(body);
		httpsrv_reply_error(l->r, 404, "%s",
		    json_str(o, "message") != NULL ? json_str(o, "message") :
						     "No such container");
		cJSON_Delete(o);
	} else if (status == -1) {
		httpsrv_reply_err(l->r, ge);
	} else {
		caps_unsupported(&frontend->caps, l->flag, &e);
		httpsrv_reply_err(l->r, &e);
	}
done:
	free(l->id);
	free(l);
}

/* For a container route the backend cannot serve, asks the backend whether
 * the container exists before answering; 0 when the answer is on its way,
 * -1 when the route names no container. */
static int
routes_lookup(
    struct httpsrv_req *r, const struct router_match *m, enum caps_flag flag)
{
	const char *id = router_param(m, "id");
	struct routes_lookup *l;
	struct err e;
	char *path;

	if (id == NULL || !str_prefix(m->route->pattern, "/containers/{id}"))
		return -1;
	/* A name no container can have needs no question (and must not be
	 * pasted into the internal request). */
	if (id[strspn(id,
		"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
		"0123456789_.-")] != '\0') {
		httpsrv_reply_error(r, 404, "No such container: %s", id);
		return 0;
	}
	l = xcalloc(1, sizeof(*l));
	l->r = r;
	l->flag = flag;
	l->id = xstrdup(id);
	path = xasprintf("/containers/%s/json", id);
	httpsrv_req_on_close(r, routes_lookup_gone, l);
	if (proxy_get(path, routes_lookup_got, l, &e) == -1)
		routes_lookup_got(-1, NULL, &e, l);
	free(path);
	return 0;
}

/* Returns 0 when the request may go on; otherwise it has been answered. */
static int
routes_gate(struct httpsrv_req *r, const struct router_match *m)
{
	const struct router_route *rt = m->route;
	enum frontend_gate g = (enum frontend_gate)(long)rt->handler;
	const char *need = rt->capability;
	const char *q;
	int flag;
	struct err e;

	switch (g) {
	case GATE_ATTACH:
		q = httpsrv_req_query(r, "stdin");
		need = q != NULL && strcmp(q, "0") != 0 &&
			strcmp(q, "false") != 0 ?
		    "attach" :
		    "logs";
		break;
	case GATE_LOGS:
		q = httpsrv_req_query(r, "follow");
		need = q != NULL && strcmp(q, "0") != 0 &&
			strcmp(q, "false") != 0 ?
		    "logs_follow" :
		    "logs";
		break;
	case GATE_CAP:
		break;
	default:
		return 0;
	}
	if ((flag = caps_by_name(need)) == -1 || frontend->caps.flag[flag])
		return 0;
	if (routes_lookup(r, m, (enum caps_flag)flag) == 0)
		return -1;
	/* No exec can exist where there is no exec: dockerd's answer for an
	 * unknown id, not the 501 (the exec's create got that already). */
	if (str_prefix(rt->pattern, "/exec/{id}")) {
		httpsrv_reply_error(
		    r, 404, "No such exec instance: %s", router_param(m, "id"));
		return -1;
	}
	caps_unsupported(&frontend->caps, (enum caps_flag)flag, &e);
	httpsrv_reply_err(r, &e);
	return -1;
}

/* Bodies that claim to be JSON must parse: a 400 here spares the backend
 * and gives the client Docker's message. */
static int
routes_check_json(struct httpsrv_req *r)
{
	const char *ct = httpsrv_req_header(r, "Content-Type");
	size_t len;
	const char *body = httpsrv_req_body(r, &len);
	struct err e;
	cJSON *o;

	if (len == 0 || ct == NULL || strncmp(ct, "application/json", 16) != 0)
		return 0;
	if ((o = json_parse(body, len, &e)) == NULL) {
		httpsrv_reply_err(r, &e);
		return -1;
	}
	cJSON_Delete(o);
	return 0;
}

/* Requests waiting for the capabilities. */
struct routes_wait {
	TAILQ_ENTRY(routes_wait) entry;
	struct httpsrv_req *r;
};
static TAILQ_HEAD(, routes_wait) routes_waiting = TAILQ_HEAD_INITIALIZER(
    routes_waiting);

static void routes_route(struct httpsrv_req *r);

static void
routes_wait_gone(struct httpsrv_req *r, void *arg)
{
	struct routes_wait *w = arg;

	(void)r;
	TAILQ_REMOVE(&routes_waiting, w, entry);
	free(w);
}

void
routes_caps_done(const struct err *e)
{
	struct routes_wait *w;
	struct httpsrv_req *r;

	while ((w = TAILQ_FIRST(&routes_waiting)) != NULL) {
		TAILQ_REMOVE(&routes_waiting, w, entry);
		r = w->r;
		free(w);
		httpsrv_req_on_close(r, NULL, NULL);
		if (e != NULL)
			httpsrv_reply_err(r, e);
		else
			routes_route(r);
	}
}

/* Parks r until the capabilities arrive; the loop serves others meanwhile. */
static void
routes_wait(struct httpsrv_req *r)
{
	struct routes_wait *w = xcalloc(1, sizeof(*w));

	w->r = r;
	TAILQ_INSERT_TAIL(&routes_waiting, w, entry);
	httpsrv_req_on_close(r, routes_wait_gone, w);
	if (!frontend->caps_fetching)
		proxy_caps_refresh();
}

void
routes_handle(struct httpsrv_req *r, void *arg)
{
	(void)arg;
	api_system_headers(r);
	routes_route(r);
}

static void
routes_route(struct httpsrv_req *r)
{
	const char *path;
	struct router_match m;
	int minor, rc;

	if (api_system_version(r, &path, &minor) == -1)
		return;
	rc = router_match(routes, sizeof(routes) / sizeof(routes[0]),
	    httpsrv_req_method(r), path, &m);
	if (rc == ROUTER_NOT_FOUND) {
		httpsrv_reply_error(r, 404, "page not found");
		return;
	}
	if (rc == ROUTER_BAD_METHOD) {
		httpsrv_reply_error(r, 405, "method %s not allowed for %s",
		    httpsrv_req_method(r), path);
		return;
	}
	switch ((enum frontend_gate)(long)m.route->handler) {
	case GATE_PING:
		api_system_ping(r);
		return;
	case GATE_SWARM:
		httpsrv_reply_error(r, 503,
		    "This node is not a swarm manager. "
		    "Sockerless does not support swarm "
		    "mode.");
		return;
	default:
		break;
	}
	/* The request is checked before the capability, as dockerd checks
	 * it before anything can fail. */
	if (routes_check_json(r) == -1)
		return;
	if (!frontend->caps_loaded) {
		routes_wait(r);
		return;
	}
	if (routes_gate(r, &m) == -1)
		return;
	proxy_forward(r, path, minor);
}
