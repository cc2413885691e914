/* The Docker Engine API route table: every documented endpoint, the
 * capability it needs, and the one place where the 501 gate and the router
 * meet. */
#include <string.h>

#include "frontend.h"
#include "sockerless/json.h"
#include "sockerless/log.h"

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
	R("GET", "/volumes", GATE_CAP, "volumes"),
	R("POST", "/volumes/create", GATE_CAP, "volumes"),
	R("POST", "/volumes/prune", GATE_CAP, "volumes"),
	R("GET", "/volumes/{name}", GATE_LOOKUP, "volumes"),
	R("PUT", "/volumes/{name}", GATE_CAP, "volumes"),
	R("DELETE", "/volumes/{name}", GATE_CAP, "volumes"),
	R("GET", "/networks", GATE_CAP, "networks"),
	R("POST", "/networks/create", GATE_CAP, "networks"),
	R("POST", "/networks/prune", GATE_CAP, "networks"),
	R("GET", "/networks/{id}", GATE_LOOKUP, "networks"),
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
	case GATE_LOOKUP:
		/* Without the capability there are none to find: a plain 404
		 * lets `docker inspect NAME` go on to the next object kind. */
		if ((flag = caps_by_name(need)) == -1 ||
		    frontend->caps.flag[flag])
			return 0;
		if (strcmp(need, "networks") == 0)
			httpsrv_reply_error(r, 404, "network %s not found",
			    router_param(m, "id"));
		else
			httpsrv_reply_error(r, 404, "get %s: no such volume",
			    router_param(m, "name"));
		return -1;
	default:
		return 0;
	}
	if ((flag = caps_by_name(need)) == -1 || frontend->caps.flag[flag])
		return 0;
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

void
routes_handle(struct httpsrv_req *r, void *arg)
{
	const char *path;
	struct router_match m;
	int minor, rc;

	(void)arg;
	api_system_headers(r);
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
	if (!frontend->caps_loaded) {
		struct err e;
		if (proxy_caps_fetch_sync(&e) == -1) {
			httpsrv_reply_err(r, &e);
			return;
		}
	}
	if (routes_gate(r, &m) == -1 || routes_check_json(r) == -1)
		return;
	proxy_forward(r, path, minor);
}
