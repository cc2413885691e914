/* The Docker network routes: create, list, inspect, remove, connect,
 * disconnect and prune, with dockerd's statuses and sentences, the
 * backend's net_* operations called where it realises networks, and the
 * network events (docs/networks.md). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend_ctr.h"
#include "backend_net.h"
#include "backend_sys.h"
#include "sockerless/filters.h"
#include "sockerless/id.h"
#include "sockerless/json.h"
#include "sockerless/log.h"
#include "sockerless/xmalloc.h"

/* An operation of the backend in flight for a network route. The network
 * is found again by id when it ends (a route may have removed it). */
struct net_op {
	struct backend *b;
	struct httpsrv_req *r; /* NULL once the client went away */
	char id[65];
	struct container *c; /* referenced; connect and disconnect */
	cJSON *cfg;	     /* connect: the EndpointConfig */
};

static void
net_op_gone(struct httpsrv_req *r, void *arg)
{
	struct net_op *op = arg;

	(void)r;
	op->r = NULL;
}

static struct net_op *
net_op_new(struct backend *b, struct httpsrv_req *r, const struct network *n,
    struct container *c)
{
	struct net_op *op = xcalloc(1, sizeof(*op));

	op->b = b;
	op->r = r;
	str_lcpy(op->id, n->id, sizeof(op->id));
	if ((op->c = c) != NULL)
		container_ref(c);
	httpsrv_req_on_close(r, net_op_gone, op);
	return op;
}

/* Takes the request back (NULL when the client left). */
static struct httpsrv_req *
net_op_free(struct net_op *op)
{
	struct httpsrv_req *r = op->r;

	if (r != NULL)
		httpsrv_req_on_close(r, NULL, NULL);
	if (op->c != NULL)
		container_unref(op->c);
	cJSON_Delete(op->cfg);
	free(op);
	return r;
}

static struct network *
net_op_network(struct net_op *op)
{
	struct network *n;

	TAILQ_FOREACH(n, &op->b->networks, entry) {
		if (strcmp(n->id, op->id) == 0)
			return n;
	}
	return NULL;
}

/* The request's JSON body (the frontend checked that it parses); NULL
 * answered with a 400 when it is not an object. */
static cJSON *
net_body(struct httpsrv_req *r)
{
	size_t len;
	const char *body = httpsrv_req_body(r, &len);
	struct err e;
	cJSON *o;

	if (len == 0) {
		httpsrv_reply_error(r, 400,
		    "a JSON object is required in "
		    "the request body");
		return NULL;
	}
	if ((o = json_parse(body, len, &e)) == NULL) {
		httpsrv_reply_err(r, &e);
		return NULL;
	}
	if (!cJSON_IsObject(o)) {
		cJSON_Delete(o);
		httpsrv_reply_error(r, 400,
		    "the request body must be a JSON "
		    "object");
		return NULL;
	}
	return o;
}

/* The network as inspect and list show it. */
static cJSON *
net_json(struct backend *b, const struct network *n, int members)
{
	cJSON *o = cJSON_Duplicate(n->doc, 1);

	cJSON_DeleteItemFromObjectCaseSensitive(o, "Sockerless");
	cJSON_AddItemToObject(o, "Containers",
	    members ? backend_net_members(b, n) : cJSON_CreateObject());
	return o;
}

/* --- create ------------------------------------------------------------- */

static int
net_check_create(struct backend *b, cJSON *body, struct err *e)
{
	const char *name = json_str(body, "Name"),
		   *drv = json_str(body, "Driver");
	const cJSON *labels = cJSON_GetObjectItemCaseSensitive(body, "Labels");
	const cJSON *opts = cJSON_GetObjectItemCaseSensitive(body, "Options");
	cJSON *ipam = cJSON_GetObjectItemCaseSensitive(body, "IPAM");

	if (name == NULL || name[0] == '\0')
		return err_set(e, 400,
		    "network name is required: give Name in the request");
	if (backend_net_predefined(name))
		return err_set(e, 403,
		    "operation is not permitted on predefined %s network ",
		    name);
	/* libnetwork's only rule: a name that is not blank. */
	if (name[strspn(name, " \t\r\n")] == '\0')
		return err_set(
		    e, 400, "invalid name: network names cannot be blank");
	if (backend_net_by_name(b, name) != NULL)
		return err_set(
		    e, 409, "network with name %s already exists", name);
	if (drv != NULL && drv[0] != '\0' && strcmp(drv, "bridge") != 0)
		return err_set(e, 400,
		    "network driver %s is not available on the %s backend: "
		    "user-defined networks use the bridge driver (leave out "
		    "--driver or give bridge)",
		    drv, b->ops->name);
	if (json_bool(body, "EnableIPv6", 0))
		return err_set(e, 400,
		    "IPv6 networks are not available on the %s backend: its "
		    "workloads get IPv4 addresses only. Create the network "
		    "without --ipv6.",
		    b->ops->name);
	if (json_bool(body, "Ingress", 0) || json_bool(body, "ConfigOnly", 0) ||
	    json_str(json_obj(body, "ConfigFrom"), "Network") != NULL)
		return err_set(e, 400,
		    "swarm networks (ingress, config-only, config-from) are "
		    "not available: sockerless does not run swarm mode");
	if ((labels != NULL && !cJSON_IsNull(labels) &&
		json_check_strmap(
		    body, "Labels", "NetworkCreateRequest.Labels", e) == -1) ||
	    (opts != NULL && !cJSON_IsNull(opts) &&
		json_check_strmap(
		    body, "Options", "NetworkCreateRequest.Options", e) == -1))
		return -1;
	if (ipam != NULL && !cJSON_IsObject(ipam) && !cJSON_IsNull(ipam))
		return err_set(e, 400, "IPAM must be an object");
	if (!cJSON_IsObject(ipam)) {
		ipam = cJSON_CreateObject();
		json_set(body, "IPAM", ipam);
	}
	return backend_net_ipam(b, ipam, e);
}

/* The stored document of a new user network from a checked body. */
static cJSON *
net_doc(const char *id, const cJSON *body)
{
	cJSON *doc = cJSON_CreateObject(), *from = cJSON_CreateObject();
	const cJSON *ipam = json_obj(body, "IPAM");
	const cJSON *labels = json_obj(body, "Labels");
	const cJSON *opts = json_obj(body, "Options");
	cJSON *ip = cJSON_CreateObject();
	char now[40];

	str_time_rfc3339(now, sizeof(now), str_now_ns());
	json_add_str(doc, "Name", json_str(body, "Name"));
	json_add_str(doc, "Id", id);
	json_add_str(doc, "Created", now);
	json_add_str(doc, "Scope", "local");
	json_add_str(doc, "Driver", "bridge");
	json_add_bool(doc, "EnableIPv6", 0);
	json_add_str(ip, "Driver", json_str(ipam, "Driver"));
	cJSON_AddItemToObject(ip, "Options",
	    json_obj(ipam, "Options") != NULL ?
		cJSON_Duplicate(json_obj(ipam, "Options"), 1) :
		cJSON_CreateNull());
	cJSON_AddItemToObject(
	    ip, "Config", cJSON_Duplicate(json_arr(ipam, "Config"), 1));
	cJSON_AddItemToObject(doc, "IPAM", ip);
	json_add_bool(doc, "Internal", json_bool(body, "Internal", 0));
	json_add_bool(doc, "Attachable", json_bool(body, "Attachable", 0));
	json_add_bool(doc, "Ingress", 0);
	json_add_str(from, "Network", "");
	cJSON_AddItemToObject(doc, "ConfigFrom", from);
	json_add_bool(doc, "ConfigOnly", 0);
	cJSON_AddItemToObject(doc, "Options",
	    opts != NULL ? cJSON_Duplicate(opts, 1) : cJSON_CreateObject());
	cJSON_AddItemToObject(doc, "Labels",
	    labels != NULL ? cJSON_Duplicate(labels, 1) : cJSON_CreateObject());
	return doc;
}

static void
net_created(void *arg, const struct err *e)
{
	struct net_op *op = arg;
	struct backend *b = op->b;
	struct network *n = net_op_network(op);
	struct httpsrv_req *r = net_op_free(op);
	cJSON *out;

	if (n == NULL) {
		if (r != NULL)
			httpsrv_reply_error(r, 500,
			    "the network went away "
			    "while it was created");
		return;
	}
	if (e != NULL) {
		/* The backend made nothing; neither does the framework. */
		log_warnx("creating network %s: %s", network_name(n), e->msg);
		backend_net_delete(b, n);
		if (r != NULL)
			httpsrv_reply_err(r, e);
		return;
	}
	backend_net_event(b, n, "create", NULL);
	if (r == NULL)
		return;
	out = cJSON_CreateObject();
	json_add_str(out, "Id", n->id);
	json_add_str(out, "Warning", "");
	httpsrv_reply_json(r, 201, out);
	cJSON_Delete(out);
}

void
backend_net_create(
    struct backend *b, struct httpsrv_req *r, const struct router_match *m)
{
	struct network *n;
	struct err e;
	cJSON *body;
	char id[65];

	(void)m;
	if ((body = net_body(r)) == NULL)
		return;
	if (net_check_create(b, body, &e) == -1) {
		httpsrv_reply_err(r, &e);
		cJSON_Delete(body);
		return;
	}
	id_new(id);
	/* Listed at once: a second create of the name meets it. */
	n = backend_net_add(b, id, net_doc(id, body));
	cJSON_Delete(body);
	if (b->ops->net_create != NULL)
		b->ops->net_create(
		    b, n, net_created, net_op_new(b, r, n, NULL));
	else
		net_created(net_op_new(b, r, n, NULL), NULL);
}

/* --- list, inspect -------------------------------------------------------- */

static const char *net_filter_keys[] = { "dangling", "driver", "id", "label",
	"name", "scope", "type", NULL };

static int
net_matches(struct backend *b, const struct network *n, const struct filters *f,
    struct err *e)
{
	const char *name[2] = { network_name(n), NULL };
	const char *id[2] = { n->id, NULL };
	const char *type = backend_net_user(n) ? "custom" : "builtin";
	int r;

	if ((r = filters_match_regex(f, "name", name, e)) <= 0 ||
	    (r = filters_match_regex(f, "id", id, e)) <= 0)
		return r;
	if (!filters_match_exact(f, "driver", json_str(n->doc, "Driver")) ||
	    !filters_match_exact(f, "scope", json_str(n->doc, "Scope")) ||
	    !filters_match_exact(f, "type", type) ||
	    !filters_match_labels(f, "label", json_obj(n->doc, "Labels")))
		return 0;
	if (filters_has(f, "dangling")) {
		int dangling = backend_net_user(n) && !backend_net_in_use(b, n);
		if (!filters_match_exact(
			f, "dangling", dangling ? "true" : "false") &&
		    !filters_match_exact(f, "dangling", dangling ? "1" : "0"))
			return 0;
	}
	return 1;
}

static struct filters *
net_filters(struct httpsrv_req *r, const char **keys, struct err *e)
{
	static const char *types[] = { "custom", "builtin", NULL };
	static const char *bools[] = { "true", "false", "1", "0", NULL };
	struct filters *f =
	    filters_parse(httpsrv_req_query(r, "filters"), keys, e);

	if (f != NULL &&
	    (filters_check_values(f, "type", types, e) == -1 ||
		filters_check_values(f, "dangling", bools, e) == -1)) {
		filters_free(f);
		return NULL;
	}
	return f;
}

void
backend_net_list(
    struct backend *b, struct httpsrv_req *r, const struct router_match *m)
{
	struct filters *f;
	struct network *n;
	cJSON *out;
	struct err e;
	int ok;

	(void)m;
	if ((f = net_filters(r, net_filter_keys, &e)) == NULL) {
		httpsrv_reply_err(r, &e);
		return;
	}
	out = cJSON_CreateArray();
	TAILQ_FOREACH(n, &b->networks, entry) {
		if ((ok = net_matches(b, n, f, &e)) == -1) {
			httpsrv_reply_err(r, &e);
			goto done;
		}
		if (ok)
			cJSON_AddItemToArray(out, net_json(b, n, 0));
	}
	httpsrv_reply_json(r, 200, out);
done:
	cJSON_Delete(out);
	filters_free(f);
}

void
backend_net_inspect(
    struct backend *b, struct httpsrv_req *r, const struct router_match *m)
{
	const char *scope = httpsrv_req_query(r, "scope");
	struct network *n;
	struct err e;
	cJSON *out;

	if ((n = backend_net_find(b, router_param(m, "id"), &e)) == NULL ||
	    (scope != NULL && scope[0] != '\0' && strcmp(scope, "local") != 0 &&
		err_set(&e, 404, "network %s not found",
		    router_param(m, "id")) == -1)) {
		httpsrv_reply_err(r, &e);
		return;
	}
	out = net_json(b, n, 1);
	httpsrv_reply_json(r, 200, out);
	cJSON_Delete(out);
}

/* --- remove, prune -------------------------------------------------------- */

static void
net_removed(void *arg, const struct err *e)
{
	struct net_op *op = arg;
	struct backend *b = op->b;
	struct network *n = net_op_network(op);
	struct httpsrv_req *r = net_op_free(op);

	if (e != NULL) {
		log_warnx("removing network %s: %s",
		    n != NULL ? network_name(n) : "?", e->msg);
		if (r != NULL)
			httpsrv_reply_err(r, e);
		return;
	}
	if (n != NULL) {
		backend_net_event(b, n, "destroy", NULL);
		backend_net_delete(b, n);
	}
	if (r != NULL)
		httpsrv_reply_empty(r, 204);
}

/* Checks that n may go: not predefined, no running member. */
static int
net_check_remove(struct backend *b, const struct network *n, struct err *e)
{
	if (!backend_net_user(n))
		return err_set(e, 403,
		    "%s is a pre-defined network and cannot be removed",
		    network_name(n));
	if (backend_net_in_use(b, n))
		return err_set(e, 409,
		    "error while removing network: network %s id %s has "
		    "active endpoints",
		    network_name(n), n->id);
	return 0;
}

/* Stopped and created containers keep their endpoint on a removed
 * network out of the view; dockerd lets their next start fail. */
static void
net_remove_start(struct backend *b, struct httpsrv_req *r, struct network *n)
{
	struct net_op *op = net_op_new(b, r, n, NULL);

	if (b->ops->net_remove != NULL)
		b->ops->net_remove(b, n, net_removed, op);
	else
		net_removed(op, NULL);
}

void
backend_net_remove(
    struct backend *b, struct httpsrv_req *r, const struct router_match *m)
{
	struct network *n;
	struct err e;

	if ((n = backend_net_find(b, router_param(m, "id"), &e)) == NULL ||
	    net_check_remove(b, n, &e) == -1) {
		httpsrv_reply_err(r, &e);
		return;
	}
	if (!b->caps.flag[CAP_NETWORKS]) {
		caps_unsupported(&b->caps, CAP_NETWORKS, &e);
		httpsrv_reply_err(r, &e);
		return;
	}
	net_remove_start(b, r, n);
}

/* Prune removes one network at a time through the backend; the answer
 * names those that went. */
struct net_prune {
	struct backend *b;
	struct httpsrv_req *r; /* NULL once the client went away */
	struct strv ids;       /* still to remove */
	size_t next;
	cJSON *deleted;
};

static void net_prune_next(struct net_prune *p);

static void
net_prune_gone(struct httpsrv_req *r, void *arg)
{
	struct net_prune *p = arg;

	(void)r;
	p->r = NULL;
}

static void
net_prune_removed(void *arg, const struct err *e)
{
	struct net_prune *p = arg;
	struct network *n;

	TAILQ_FOREACH(n, &p->b->networks, entry) {
		if (strcmp(n->id, p->ids.v[p->next]) == 0)
			break;
	}
	if (e != NULL)
		log_warnx(
		    "pruning network %.12s: %s", p->ids.v[p->next], e->msg);
	else if (n != NULL) {
		cJSON_AddItemToArray(
		    p->deleted, cJSON_CreateString(network_name(n)));
		backend_net_event(p->b, n, "destroy", NULL);
		backend_net_delete(p->b, n);
	}
	p->next++;
	net_prune_next(p);
}

static void
net_prune_next(struct net_prune *p)
{
	struct network *n = NULL;
	cJSON *out;

	while (p->next < p->ids.n) {
		TAILQ_FOREACH(n, &p->b->networks, entry) {
			if (strcmp(n->id, p->ids.v[p->next]) == 0)
				break;
		}
		if (n != NULL && !backend_net_in_use(p->b, n))
			break;
		p->next++;
	}
	if (p->next < p->ids.n) {
		if (p->b->ops->net_remove != NULL)
			p->b->ops->net_remove(p->b, n, net_prune_removed, p);
		else
			net_prune_removed(p, NULL);
		return;
	}
	if (p->r != NULL) {
		httpsrv_req_on_close(p->r, NULL, NULL);
		out = cJSON_CreateObject();
		/* dockerd's nil slice when nothing went. */
		cJSON_AddItemToObject(out, "NetworksDeleted",
		    cJSON_GetArraySize(p->deleted) > 0 ?
			cJSON_Duplicate(p->deleted, 1) :
			cJSON_CreateNull());
		httpsrv_reply_json(p->r, 200, out);
		cJSON_Delete(out);
	}
	cJSON_Delete(p->deleted);
	strv_free(&p->ids);
	free(p);
}

void
backend_net_prune(
    struct backend *b, struct httpsrv_req *r, const struct router_match *m)
{
	static const char *keys[] = { "until", "label", "label!", NULL };
	struct net_prune *p;
	struct filters *f;
	struct network *n;
	int64_t until = 0, created;
	struct err e;

	(void)m;
	if ((f = filters_parse(httpsrv_req_query(r, "filters"), keys, &e)) ==
		NULL ||
	    filters_until(f, &until, &e) == -1) {
		filters_free(f);
		httpsrv_reply_err(r, &e);
		return;
	}
	p = xcalloc(1, sizeof(*p));
	p->b = b;
	p->r = r;
	p->deleted = cJSON_CreateArray();
	strv_init(&p->ids);
	TAILQ_FOREACH(n, &b->networks, entry) {
		created = 0;
		str_time_parse(json_str(n->doc, "Created"), &created);
		if (!backend_net_user(n) || backend_net_in_use(b, n) ||
		    (until != 0 && created >= until) ||
		    !filters_match_labels(
			f, "label", json_obj(n->doc, "Labels")) ||
		    (filters_has(f, "label!") &&
			filters_match_labels(
			    f, "label!", json_obj(n->doc, "Labels"))))
			continue;
		strv_add(&p->ids, n->id);
	}
	filters_free(f);
	httpsrv_req_on_close(r, net_prune_gone, p);
	net_prune_next(p);
}
