/* Network records: the predefined bridge, host and none, the user's
 * networks, their store and their display subnets. The cloud assigns the
 * real addresses; these subnets are what dockerd would show and what keeps
 * two networks from claiming the same range (docs/networks.md). */
#include <arpa/inet.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend_net.h"
#include "backend_sys.h"
#include "sockerless/id.h"
#include "sockerless/json.h"
#include "sockerless/log.h"
#include "sockerless/store.h"
#include "sockerless/xmalloc.h"

#define NETWORK_PRIVATE "Sockerless"

/* An IPv4 range. */
struct net_range {
	uint32_t base;
	int bits;
};

const char *
network_name(const struct network *n)
{
	return json_str(n->doc, "Name");
}

int
network_internal(const struct network *n)
{
	return json_bool(n->doc, "Internal", 0);
}

cJSON *
network_private(struct network *n)
{
	cJSON *p = json_obj(n->doc, NETWORK_PRIVATE);

	if (p == NULL) {
		p = cJSON_CreateObject();
		cJSON_AddItemToObject(n->doc, NETWORK_PRIVATE, p);
	}
	return p;
}

void
backend_network_save(struct backend *b, struct network *n)
{
	struct err e;
	char *doc = json_print(n->doc);

	if (store_network_put(b->store, n->id, doc, &e) == -1)
		log_warnx("saving network %s: %s", network_name(n), e.msg);
	free(doc);
}

int
backend_net_predefined(const char *name)
{
	return strcmp(name, NET_BRIDGE) == 0 || strcmp(name, NET_HOST) == 0 ||
	    strcmp(name, NET_NONE) == 0;
}

int
backend_net_user(const struct network *n)
{
	return !backend_net_predefined(network_name(n));
}

struct network *
backend_net_by_name(struct backend *b, const char *name)
{
	struct network *n;

	TAILQ_FOREACH(n, &b->networks, entry) {
		if (strcmp(network_name(n), name) == 0)
			return n;
	}
	return NULL;
}

struct network *
backend_network_by_id(struct backend *b, const char *id)
{
	struct network *n;

	TAILQ_FOREACH(n, &b->networks, entry) {
		if (strcmp(n->id, id) == 0)
			return n;
	}
	return NULL;
}

struct network *
backend_net_find(struct backend *b, const char *ref, struct err *e)
{
	struct network *n, *found = NULL;
	size_t len = strlen(ref);

	TAILQ_FOREACH(n, &b->networks, entry) {
		if (strcmp(n->id, ref) == 0)
			return n;
	}
	if ((n = backend_net_by_name(b, ref)) != NULL)
		return n;
	TAILQ_FOREACH(n, &b->networks, entry) {
		if (len == 0 || strncmp(n->id, ref, len) != 0)
			continue;
		if (found != NULL) {
			err_set(e, 400,
			    "network %s is ambiguous (2 matches found based "
			    "on ID prefix)",
			    ref);
			return NULL;
		}
		found = n;
	}
	if (found == NULL)
		err_set(e, 404, "network %s not found", ref);
	return found;
}

static struct network *
backend_net_insert(struct backend *b, const char *id, cJSON *doc)
{
	struct network *n = xcalloc(1, sizeof(*n));

	str_lcpy(n->id, id, sizeof(n->id));
	n->doc = doc;
	TAILQ_INSERT_TAIL(&b->networks, n, entry);
	return n;
}

struct network *
backend_net_add(struct backend *b, const char *id, cJSON *doc)
{
	struct network *n = backend_net_insert(b, id, doc);

	backend_network_save(b, n);
	return n;
}

void
backend_net_delete(struct backend *b, struct network *n)
{
	struct err e;

	if (store_network_delete(b->store, n->id, &e) == -1)
		log_warnx("deleting network %s: %s", network_name(n), e.msg);
	TAILQ_REMOVE(&b->networks, n, entry);
	cJSON_Delete(n->doc);
	free(n);
}

/* dockerd's shape of a predefined network. */
static cJSON *
backend_net_builtin(const char *name, const char *id)
{
	cJSON *doc = cJSON_CreateObject(), *ipam = cJSON_CreateObject();
	cJSON *cfg = cJSON_CreateArray(), *opts = cJSON_CreateObject();
	char now[40];

	str_time_rfc3339(now, sizeof(now), str_now_ns());
	json_add_str(doc, "Name", name);
	json_add_str(doc, "Id", id);
	json_add_str(doc, "Created", now);
	json_add_str(doc, "Scope", "local");
	json_add_str(doc, "Driver",
	    strcmp(name, NET_BRIDGE) == 0   ? "bridge" :
		strcmp(name, NET_HOST) == 0 ? "host" :
					      "null");
	json_add_bool(doc, "EnableIPv6", 0);
	json_add_str(ipam, "Driver", "default");
	cJSON_AddItemToObject(ipam, "Options", cJSON_CreateNull());
	if (strcmp(name, NET_BRIDGE) == 0) {
		cJSON *c = cJSON_CreateObject();
		json_add_str(c, "Subnet", "172.17.0.0/16");
		json_add_str(c, "Gateway", "172.17.0.1");
		cJSON_AddItemToArray(cfg, c);
		json_add_str(
		    opts, "com.docker.network.bridge.default_bridge", "true");
		json_add_str(
		    opts, "com.docker.network.bridge.enable_icc", "true");
		json_add_str(opts,
		    "com.docker.network.bridge.enable_ip_masquerade", "true");
		json_add_str(opts,
		    "com.docker.network.bridge.host_binding_ipv4", "0.0.0.0");
		json_add_str(opts, "com.docker.network.bridge.name", "docker0");
		json_add_str(opts, "com.docker.network.driver.mtu", "1500");
	}
	cJSON_AddItemToObject(ipam, "Config", cfg);
	cJSON_AddItemToObject(doc, "IPAM", ipam);
	json_add_bool(doc, "Internal", 0);
	json_add_bool(doc, "Attachable", 0);
	json_add_bool(doc, "Ingress", 0);
	{
		cJSON *from = cJSON_CreateObject();
		json_add_str(from, "Network", "");
		cJSON_AddItemToObject(doc, "ConfigFrom", from);
	}
	json_add_bool(doc, "ConfigOnly", 0);
	cJSON_AddItemToObject(doc, "Options", opts);
	cJSON_AddItemToObject(doc, "Labels", cJSON_CreateObject());
	return doc;
}

/* Loads the networks; the predefined ones are made once per instance so
 * that their ids stay what clients saw. */
void
backend_net_load(struct backend *b)
{
	static const char *const builtin[] = { NET_BRIDGE, NET_HOST, NET_NONE };
	struct strv ids, docs;
	struct err e;

	strv_init(&ids);
	strv_init(&docs);
	if (store_network_list(b->store, &ids, &docs, &e) == -1)
		fatalx("loading networks: %s", e.msg);
	for (size_t i = 0; i < ids.n; i++) {
		struct err pe;
		cJSON *doc = json_parse(docs.v[i], strlen(docs.v[i]), &pe);
		if (doc == NULL) {
			log_warnx(
			    "network %.12s: unreadable record skipped: %s",
			    ids.v[i], pe.msg);
			continue;
		}
		backend_net_insert(b, ids.v[i], doc);
	}
	strv_free(&ids);
	strv_free(&docs);
	for (size_t i = 0; i < 3; i++) {
		char id[65];
		if (backend_net_by_name(b, builtin[i]) != NULL)
			continue;
		id_new(id);
		backend_net_add(b, id, backend_net_builtin(builtin[i], id));
	}
}

void
backend_net_free(struct backend *b)
{
	struct network *n;

	while ((n = TAILQ_FIRST(&b->networks)) != NULL) {
		TAILQ_REMOVE(&b->networks, n, entry);
		cJSON_Delete(n->doc);
		free(n);
	}
}

static const cJSON *
backend_net_config0(const struct network *n)
{
	const cJSON *c;

	cJSON_ArrayForEach(c, json_arr(json_obj(n->doc, "IPAM"), "Config")) {
		const char *s = json_str(c, "Subnet");
		if (s != NULL && strchr(s, ':') == NULL)
			return c;
	}
	return NULL;
}

const char *
backend_net_subnet(const struct network *n)
{
	const char *s = json_str(backend_net_config0(n), "Subnet");

	return s != NULL ? s : "";
}

const char *
backend_net_gateway(const struct network *n)
{
	const char *s = json_str(backend_net_config0(n), "Gateway");

	return s != NULL ? s : "";
}

/* "a.b.c.d/n"; 0 or -1. */
static int
backend_net_cidr(const char *s, struct net_range *r)
{
	char buf[64], *slash, *end;
	struct in_addr a;
	long bits;

	if (strlen(s) >= sizeof(buf))
		return -1;
	str_lcpy(buf, s, sizeof(buf));
	if ((slash = strchr(buf, '/')) == NULL)
		return -1;
	*slash++ = '\0';
	bits = strtol(slash, &end, 10);
	if (*slash == '\0' || *end != '\0' || bits < 0 || bits > 32 ||
	    inet_pton(AF_INET, buf, &a) != 1)
		return -1;
	r->bits = (int)bits;
	r->base = ntohl(a.s_addr);
	if (r->bits < 32)
		r->base &= ~(0xffffffffu >> r->bits);
	return 0;
}

static int
backend_net_ip(const char *s, uint32_t *ip)
{
	struct in_addr a;

	if (s == NULL || inet_pton(AF_INET, s, &a) != 1)
		return -1;
	*ip = ntohl(a.s_addr);
	return 0;
}

static int
backend_net_contains(const struct net_range *r, uint32_t ip)
{
	return r->bits == 0 ||
	    (ip >> (32 - r->bits)) == (r->base >> (32 - r->bits));
}

static int
backend_net_overlap(const struct net_range *a, const struct net_range *o)
{
	return backend_net_contains(a, o->base) ||
	    backend_net_contains(o, a->base);
}

/* Does r overlap the subnet of any network? */
static int
backend_net_taken(struct backend *b, const struct net_range *r)
{
	struct network *n;
	const cJSON *c;
	struct net_range o;

	TAILQ_FOREACH(n, &b->networks, entry) {
		cJSON_ArrayForEach(
		    c, json_arr(json_obj(n->doc, "IPAM"), "Config")) {
			const char *s = json_str(c, "Subnet");
			if (s != NULL && backend_net_cidr(s, &o) == 0 &&
			    backend_net_overlap(r, &o))
				return 1;
		}
	}
	return 0;
}

static void
backend_net_fmt(uint32_t ip, char *out, size_t size)
{
	snprintf(out, size, "%u.%u.%u.%u", ip >> 24, (ip >> 16) & 255,
	    (ip >> 8) & 255, ip & 255);
}

/* dockerd's default pools: 172.17-31.0.0/16, then 192.168.x.0/20. */
static int
backend_net_pick(struct backend *b, cJSON *cfgs, struct err *e)
{
	struct net_range r;
	char sub[40], gw[20];
	cJSON *c;

	for (int i = 0; i < 15 + 16; i++) {
		if (i < 15)
			r = (struct net_range){
				(172u << 24) | ((17u + i) << 16), 16
			};
		else
			r = (struct net_range){ (192u << 24) | (168u << 16) |
				    ((uint32_t)(i - 15) << 12),
				20 };
		if (backend_net_taken(b, &r))
			continue;
		backend_net_fmt(r.base, sub, sizeof(sub));
		snprintf(sub + strlen(sub), sizeof(sub) - strlen(sub), "/%d",
		    r.bits);
		backend_net_fmt(r.base + 1, gw, sizeof(gw));
		c = cJSON_CreateObject();
		json_add_str(c, "Subnet", sub);
		json_add_str(c, "Gateway", gw);
		cJSON_AddItemToArray(cfgs, c);
		return 0;
	}
	return err_set(e, 403,
	    "could not find an available, non-overlapping IPv4 address pool "
	    "among the defaults to assign to the network");
}

/* One IPAM.Config entry: a subnet that parses and is free, a gateway and
 * range inside it. */
static int
backend_net_ipam_one(struct backend *b, cJSON *c, struct err *e)
{
	const char *sub = json_str(c, "Subnet"), *gw = json_str(c, "Gateway");
	const char *rng = json_str(c, "IPRange");
	struct net_range r, rr;
	uint32_t ip;
	char buf[20];

	if (!cJSON_IsObject(c))
		return err_set(e, 400, "IPAM.Config entries must be objects");
	if (sub == NULL || sub[0] == '\0')
		return err_set(e, 400,
		    "IPAM.Config needs a Subnet for each entry (a Gateway or "
		    "IPRange alone cannot be placed)");
	if (strchr(sub, ':') != NULL)
		return err_set(e, 400,
		    "IPv6 subnet %s: IPv6 is not available on this backend; "
		    "use an IPv4 subnet",
		    sub);
	if (backend_net_cidr(sub, &r) == -1)
		return err_set(e, 400,
		    "Invalid subnet %s : invalid CIDR address: %s", sub, sub);
	if (backend_net_taken(b, &r))
		return err_set(e, 403,
		    "Pool overlaps with other one on this address space");
	if (gw != NULL && gw[0] != '\0' &&
	    (backend_net_ip(gw, &ip) == -1 || !backend_net_contains(&r, ip)))
		return err_set(e, 400, "no matching subnet for gateway %s", gw);
	if (rng != NULL && rng[0] != '\0' &&
	    (backend_net_cidr(rng, &rr) == -1 ||
		!backend_net_contains(&r, rr.base) || rr.bits < r.bits))
		return err_set(e, 400, "no matching subnet for range %s", rng);
	if (gw == NULL || gw[0] == '\0') {
		backend_net_fmt(r.base + 1, buf, sizeof(buf));
		json_set(c, "Gateway", cJSON_CreateString(buf));
	}
	return 0;
}

int
backend_net_ipam(struct backend *b, cJSON *ipam, struct err *e)
{
	cJSON *cfgs = cJSON_GetObjectItemCaseSensitive(ipam, "Config"), *c;
	const char *drv = json_str(ipam, "Driver");

	if (drv != NULL && drv[0] != '\0' && strcmp(drv, "default") != 0)
		return err_set(e, 400,
		    "IPAM driver %s is not available: only the default IPAM "
		    "driver is supported",
		    drv);
	if (drv == NULL || drv[0] == '\0')
		json_set(ipam, "Driver", cJSON_CreateString("default"));
	if (cfgs != NULL && !cJSON_IsArray(cfgs) && !cJSON_IsNull(cfgs))
		return err_set(e, 400, "IPAM.Config must be an array");
	if (!cJSON_IsArray(cfgs)) {
		cfgs = cJSON_CreateArray();
		json_set(ipam, "Config", cfgs);
	}
	cJSON_ArrayForEach(c, cfgs) {
		if (backend_net_ipam_one(b, c, e) == -1)
			return -1;
	}
	if (cJSON_GetArraySize(cfgs) == 0)
		return backend_net_pick(b, cfgs, e);
	return 0;
}

void
backend_net_event(struct backend *b, const struct network *n,
    const char *action, const struct container *c)
{
	cJSON *attrs = cJSON_CreateObject();

	if (c != NULL)
		json_add_str(attrs, "container", c->id);
	json_add_str(attrs, "name", network_name(n));
	json_add_str(attrs, "type", json_str(n->doc, "Driver"));
	backend_sys_event(b, "network", action, n->id, attrs);
}

void
backend_net_endpoint_events(
    struct backend *b, const struct container *c, const char *action)
{
	const cJSON *ep;
	struct network *n;

	cJSON_ArrayForEach(ep,
	    json_obj(
		json_obj(container_doc(c), "NetworkSettings"), "Networks")) {
		if ((n = backend_net_by_name(b, ep->string)) != NULL)
			backend_net_event(b, n, action, c);
	}
}
