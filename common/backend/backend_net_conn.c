/* POST /networks/{id}/connect and /disconnect: a created or stopped
 * container changes its endpoints at once (they are realised at its next
 * start); a running one needs the backend's net_connect/net_disconnect,
 * except in relay mode, where the names and peers push to the members is
 * all a network is (docs/networks.md, "Relay mode"). */
#include <stdlib.h>
#include <string.h>

#include "backend_ctr.h"
#include "backend_net.h"
#include "backend_sys.h"
#include "sockerless/json.h"
#include "sockerless/log.h"
#include "sockerless/xmalloc.h"

struct net_conn {
	struct backend *b;
	struct httpsrv_req *r; /* NULL once the client went away */
	struct container *c;   /* referenced */
	char id[65];	       /* the network, found again at the end */
	cJSON *cfg;	       /* connect: the EndpointConfig */
	int connect;
};

static void
net_conn_gone(struct httpsrv_req *r, void *arg)
{
	struct net_conn *k = arg;

	(void)r;
	k->r = NULL;
}

/* The workload's address (one for all its networks), or NULL. */
static const char *
net_conn_address(const struct container *c)
{
	const cJSON *ep;

	cJSON_ArrayForEach(ep, backend_net_endpoints(c)) {
		const char *ip = json_str(ep, "IPAddress");
		if (ip != NULL && ip[0] != '\0')
			return ip;
	}
	return NULL;
}

/* Applies the change to the framework's state once the backend made it
 * (or had nothing to make). */
static void
net_conn_apply(struct backend *b, struct container *c, struct network *n,
    const cJSON *cfg, int connect)
{
	const char *ip = net_conn_address(c);
	/* Relay mode has no address: the endpoint comes up without one. */
	char *keep = ip != NULL			 ? xstrdup(ip) :
	    b->ops->reach == BACKEND_REACH_RELAY ? xstrdup("") :
						   NULL;
	int running = container_running(c);

	if (connect) {
		backend_net_attach(b, c, n, cfg);
		if (running && keep != NULL)
			backend_net_addressed(b, c, keep);
	} else {
		cJSON_DeleteItemFromObjectCaseSensitive(
		    backend_net_endpoints(c), network_name(n));
	}
	free(keep);
	backend_ctr_save(b, c);
	/* dockerd's events tell of endpoints, which exist while it runs. */
	if (running) {
		backend_net_event(b, n, connect ? "connect" : "disconnect", c);
		backend_ctr_net_changed(b, c, network_name(n));
	}
}

static void
net_conn_done(void *arg, const struct err *e)
{
	struct net_conn *k = arg;
	struct network *n;
	struct err gone;

	TAILQ_FOREACH(n, &k->b->networks, entry) {
		if (strcmp(n->id, k->id) == 0)
			break;
	}
	if (e == NULL && n == NULL) {
		err_set(&gone, 404, "the network was removed meanwhile");
		e = &gone;
	}
	if (e == NULL && !k->c->gone)
		net_conn_apply(k->b, k->c, n, k->cfg, k->connect);
	if (k->r != NULL) {
		httpsrv_req_on_close(k->r, NULL, NULL);
		backend_reply_done(k->r, e, 200);
	}
	container_unref(k->c);
	cJSON_Delete(k->cfg);
	free(k);
}

/* The body's container and the route's network; NULL when answered. */
static cJSON *
net_conn_parse(struct backend *b, struct httpsrv_req *r,
    const struct router_match *m, struct container **cp, struct network **np)
{
	size_t len;
	const char *body = httpsrv_req_body(r, &len);
	struct err e;
	cJSON *o;

	if (len == 0) {
		httpsrv_reply_error(r, 400,
		    "a JSON object naming the Container is required in the "
		    "request body");
		return NULL;
	}
	if ((o = json_parse(body, len, &e)) == NULL ||
	    (!cJSON_IsObject(o) &&
		err_set(&e, 400, "the request body must be a JSON object"))) {
		cJSON_Delete(o);
		httpsrv_reply_err(r, &e);
		return NULL;
	}
	if ((*cp = backend_lookup_or_reply(b, r, json_str(o, "Container"))) ==
	    NULL) {
		cJSON_Delete(o);
		return NULL;
	}
	if ((*np = backend_net_find(b, router_param(m, "id"), &e)) == NULL) {
		cJSON_Delete(o);
		httpsrv_reply_err(r, &e);
		return NULL;
	}
	return o;
}

static int
net_conn_check(struct backend *b, struct container *c, struct network *n,
    const cJSON *cfg, int connect, struct err *e)
{
	const char *mode = json_str(container_host_config(c), "NetworkMode");
	int on = backend_net_endpoint(c, n) != NULL;

	if (strcmp(network_name(n), NET_HOST) == 0)
		return err_set(e, 400,
		    "container cannot be disconnected from host network or "
		    "connected to host network");
	if (backend_net_user(n) && !b->caps.flag[CAP_NETWORKS])
		return caps_unsupported(&b->caps, CAP_NETWORKS, e);
	if (!connect && !on)
		return err_set(e, 403,
		    "container %s is not connected to the network %s", c->id,
		    network_name(n));
	if (!connect)
		return 0;
	if (on)
		return err_set(e, 409,
		    "endpoint with name %s already exists in network %s",
		    container_name(c), network_name(n));
	if ((mode != NULL && strcmp(mode, NET_NONE) == 0) ||
	    strcmp(network_name(n), NET_NONE) == 0)
		return err_set(e, 403,
		    "container cannot be connected to multiple networks with "
		    "one of the networks in private (none) mode");
	return backend_net_check_ep(b, n, cfg, e);
}

static void
net_conn_route(struct backend *b, struct httpsrv_req *r,
    const struct router_match *m, int connect)
{
	void (*op)(struct backend *, struct container *, struct network *,
	    backend_done_fn, void *) =
	    connect ? b->ops->net_connect : b->ops->net_disconnect;
	struct container *c;
	struct network *n;
	struct net_conn *k;
	const cJSON *cfg;
	struct err e;
	cJSON *o;

	if ((o = net_conn_parse(b, r, m, &c, &n)) == NULL)
		return;
	cfg = json_obj(o, "EndpointConfig");
	if (net_conn_check(b, c, n, cfg, connect, &e) == -1) {
		httpsrv_reply_err(r, &e);
		cJSON_Delete(o);
		return;
	}
	if (b->ops->reach == BACKEND_REACH_RELAY)
		op = NULL; /* net_conn_apply's push realises it */
	else if (container_running(c) && op == NULL && backend_net_user(n)) {
		httpsrv_reply_error(r, 501,
		    "This backend (%s) cannot %s a running container %s a "
		    "network: stop the container, %s it, and start it "
		    "again (its networks are set up at start).",
		    b->ops->name, connect ? "connect" : "disconnect",
		    connect ? "to" : "from",
		    connect ? "connect" : "disconnect");
		cJSON_Delete(o);
		return;
	}
	k = xcalloc(1, sizeof(*k));
	k->b = b;
	k->r = r;
	k->c = c;
	container_ref(c);
	str_lcpy(k->id, n->id, sizeof(k->id));
	k->cfg = cfg != NULL ? cJSON_Duplicate(cfg, 1) : NULL;
	k->connect = connect;
	cJSON_Delete(o);
	httpsrv_req_on_close(r, net_conn_gone, k);
	if (container_running(c) && op != NULL && backend_net_user(n))
		op(b, c, n, net_conn_done, k);
	else
		net_conn_done(k, NULL);
}

void
backend_net_connect(
    struct backend *b, struct httpsrv_req *r, const struct router_match *m)
{
	net_conn_route(b, r, m, 1);
}

void
backend_net_disconnect(
    struct backend *b, struct httpsrv_req *r, const struct router_match *m)
{
	net_conn_route(b, r, m, 0);
}
