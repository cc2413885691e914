/* Containers on networks: the endpoints in NetworkSettings.Networks, the
 * members a network lists, the names view each member resolves, and the
 * workload's SOCKERLESS_NET (docs/networks.md, Interface 2). */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend_ctr.h"
#include "backend_net.h"
#include "sockerless/container.h"
#include "sockerless/id.h"
#include "sockerless/json.h"
#include "sockerless/xmalloc.h"

cJSON *
backend_net_endpoints(const struct container *c)
{
	return json_obj(
	    json_obj(container_doc(c), "NetworkSettings"), "Networks");
}

cJSON *
backend_net_endpoint(const struct container *c, const struct network *n)
{
	return json_obj(backend_net_endpoints(c), network_name(n));
}

cJSON *
backend_net_ep_new(const struct network *n, const cJSON *cfg)
{
	static const char *const keep[] = { "IPAMConfig", "Links", "Aliases",
		NULL };
	cJSON *ep = cJSON_CreateObject();
	const cJSON *v;

	for (const char *const *k = keep; *k != NULL; k++) {
		v = cJSON_GetObjectItemCaseSensitive(cfg, *k);
		if (v != NULL && !cJSON_IsNull(v))
			cJSON_AddItemToObject(ep, *k, cJSON_Duplicate(v, 1));
	}
	json_add_str(ep, "NetworkID", n->id);
	return ep;
}

cJSON *
backend_net_attach(
    struct backend *b, struct container *c, struct network *n, const cJSON *cfg)
{
	cJSON *nets = backend_net_endpoints(c), *ep;

	(void)b;
	container_touch(c);
	if (nets == NULL) {
		nets = cJSON_CreateObject();
		json_set(json_obj(container_doc(c), "NetworkSettings"),
		    "Networks", nets);
	}
	ep = backend_net_ep_new(n, cfg);
	json_set(nets, network_name(n), ep);
	return ep;
}

static const char *
backend_net_ep_ip(const cJSON *ep)
{
	const char *ip = json_str(ep, "IPAddress");

	return ip != NULL ? ip : "";
}

cJSON *
backend_net_members(struct backend *b, const struct network *n)
{
	cJSON *out = cJSON_CreateObject();
	struct container *c;

	TAILQ_FOREACH(c, &b->containers, entry) {
		const cJSON *ep;
		cJSON *m;
		char addr[64];
		/* Running first: it reads no cold document. */
		if (c->gone || !container_running(c) ||
		    (ep = backend_net_endpoint(c, n)) == NULL)
			continue;
		m = cJSON_CreateObject();
		json_add_str(m, "Name", container_name(c));
		json_add_str(m, "EndpointID",
		    json_str(ep, "EndpointID") ? json_str(ep, "EndpointID") :
						 "");
		json_add_str(m, "MacAddress", "");
		addr[0] = '\0';
		if (backend_net_ep_ip(ep)[0] != '\0')
			snprintf(addr, sizeof(addr), "%s/%d",
			    backend_net_ep_ip(ep),
			    (int)json_int(ep, "IPPrefixLen", 32));
		json_add_str(m, "IPv4Address", addr);
		json_add_str(m, "IPv6Address", "");
		cJSON_AddItemToObject(out, c->id, m);
	}
	return out;
}

/* dockerd counts only running containers as active endpoints. */
int
backend_net_in_use(struct backend *b, const struct network *n)
{
	struct container *c;

	TAILQ_FOREACH(c, &b->containers, entry) {
		if (!c->gone && container_running(c) &&
		    backend_net_endpoint(c, n) != NULL)
			return 1;
	}
	return 0;
}

static int
backend_net_has_str(const cJSON *arr, const char *s)
{
	const cJSON *it;

	cJSON_ArrayForEach(it, arr) {
		if (cJSON_IsString(it) && strcmp(it->valuestring, s) == 0)
			return 1;
	}
	return 0;
}

/* A user network's endpoint answers to the container's name, its aliases
 * and its short id (DNSNames as dockerd 1.44 shows it; Aliases gets the
 * short id as API 1.44 still does). */
static void
backend_net_dns_names(struct container *c, cJSON *ep)
{
	cJSON *aliases = cJSON_GetObjectItemCaseSensitive(ep, "Aliases");
	cJSON *dns = cJSON_CreateArray();
	const cJSON *it;
	char sid[13];

	memcpy(sid, c->id, 12);
	sid[12] = '\0';
	if (!cJSON_IsArray(aliases)) {
		aliases = cJSON_CreateArray();
		json_set(ep, "Aliases", aliases);
	}
	cJSON_AddItemToArray(dns, cJSON_CreateString(container_name(c)));
	cJSON_ArrayForEach(it, aliases) {
		if (cJSON_IsString(it) &&
		    !backend_net_has_str(dns, it->valuestring))
			cJSON_AddItemToArray(
			    dns, cJSON_CreateString(it->valuestring));
	}
	if (!backend_net_has_str(aliases, sid))
		cJSON_AddItemToArray(aliases, cJSON_CreateString(sid));
	if (!backend_net_has_str(dns, sid))
		cJSON_AddItemToArray(dns, cJSON_CreateString(sid));
	json_set(ep, "DNSNames", dns);
}

/* The run's values of one endpoint: a new EndpointID, the workload's
 * address, the network's gateway; in relay mode ip is "" and there is
 * no prefix or gateway either (no address a peer could reach). */
static void
backend_net_ep_up(struct backend *b, struct container *c, const char *net,
    cJSON *ep, const char *ip)
{
	struct network *n = backend_net_by_name(b, net);
	char eid[65];

	if (strcmp(net, NET_NONE) == 0)
		return;
	if (json_str(ep, "EndpointID") == NULL ||
	    json_str(ep, "EndpointID")[0] == '\0') {
		id_new(eid);
		json_set(ep, "EndpointID", cJSON_CreateString(eid));
	}
	json_set(ep, "IPAddress", cJSON_CreateString(ip));
	json_set(ep, "IPPrefixLen", cJSON_CreateNumber(ip[0] != '\0' ? 32 : 0));
	if (n != NULL && ip[0] != '\0')
		json_set(
		    ep, "Gateway", cJSON_CreateString(backend_net_gateway(n)));
	if (!backend_net_predefined(net))
		backend_net_dns_names(c, ep);
}

void
backend_net_addressed(struct backend *b, struct container *c, const char *ip)
{
	cJSON *ep;

	container_touch(c);
	cJSON_ArrayForEach(ep, backend_net_endpoints(c))
		backend_net_ep_up(b, c, ep->string, ep, ip);
}

void
backend_net_renamed(struct container *c)
{
	cJSON *ep;

	container_touch(c);
	cJSON_ArrayForEach(ep, backend_net_endpoints(c)) {
		if (json_arr(ep, "DNSNames") != NULL)
			backend_net_dns_names(c, ep);
	}
}

void
backend_net_released(struct container *c)
{
	cJSON *ep;

	container_touch(c);
	cJSON_ArrayForEach(ep, backend_net_endpoints(c)) {
		json_set(ep, "EndpointID", cJSON_CreateString(""));
		json_set(ep, "IPAddress", cJSON_CreateString(""));
		json_set(ep, "IPPrefixLen", cJSON_CreateNumber(0));
		json_set(ep, "Gateway", cJSON_CreateString(""));
	}
}

/* Adds name -> ip to the view (lower-case; an address once per name). */
static void
backend_net_name_add(cJSON *names, const char *name, const char *ip)
{
	char *low = xstrdup(name);
	cJSON *list;

	for (char *p = low; *p != '\0'; p++)
		*p = (char)tolower((unsigned char)*p);
	if ((list = json_arr(names, low)) == NULL) {
		list = cJSON_CreateArray();
		cJSON_AddItemToObject(names, low, list);
	}
	if (!backend_net_has_str(list, ip))
		cJSON_AddItemToArray(list, cJSON_CreateString(ip));
	free(low);
}

/* Every running member of the network net adds its names. */
static void
backend_net_view_of(struct backend *b, const char *net, cJSON *names)
{
	struct container *m;
	const cJSON *it;
	char sid[13];

	TAILQ_FOREACH(m, &b->containers, entry) {
		const cJSON *ep;
		const char *ip;
		if (m->gone || !container_running(m))
			continue;
		ep = json_obj(backend_net_endpoints(m), net);
		ip = backend_net_ep_ip(ep);
		if (ep == NULL || ip[0] == '\0')
			continue;
		memcpy(sid, m->id, 12);
		sid[12] = '\0';
		backend_net_name_add(names, container_name(m), ip);
		backend_net_name_add(names, sid, ip);
		cJSON_ArrayForEach(it, json_arr(ep, "Aliases")) {
			if (cJSON_IsString(it) && it->valuestring[0] != '\0')
				backend_net_name_add(
				    names, it->valuestring, ip);
		}
	}
}

size_t
backend_container_networks(
    struct backend *b, struct container *c, struct network **out, size_t max)
{
	const cJSON *ep;
	struct network *n;
	size_t k = 0;

	cJSON_ArrayForEach(ep, backend_net_endpoints(c)) {
		if (k == max)
			break;
		if ((!backend_net_predefined(ep->string) ||
			strcmp(ep->string, NET_BRIDGE) == 0) &&
		    (n = backend_net_by_name(b, ep->string)) != NULL)
			out[k++] = n;
	}
	return k;
}

int
backend_net_check_start(struct backend *b, struct container *c, struct err *e)
{
	const cJSON *ep;
	struct network *n;

	cJSON_ArrayForEach(ep, backend_net_endpoints(c)) {
		const char *id = json_str(ep, "NetworkID");
		n = backend_net_by_name(b, ep->string);
		/* dockerd names the id it remembers (the network may have
		 * been made again under the same name). */
		if (id != NULL && id[0] != '\0' &&
		    (n == NULL || strcmp(id, n->id) != 0))
			return err_set(e, 404, "network %s not found", id);
		if (n == NULL)
			return err_set(
			    e, 404, "network %s not found", ep->string);
	}
	return 0;
}

int
backend_net_has_user(const struct container *c)
{
	const cJSON *ep;

	cJSON_ArrayForEach(ep, backend_net_endpoints(c)) {
		if (!backend_net_predefined(ep->string))
			return 1;
	}
	return 0;
}

cJSON *
backend_net_names(struct backend *b, struct container *c)
{
	cJSON *names = cJSON_CreateObject();
	const cJSON *ep;

	cJSON_ArrayForEach(ep, backend_net_endpoints(c)) {
		if (!backend_net_predefined(ep->string))
			backend_net_view_of(b, ep->string, names);
	}
	return names;
}

/* Relay mode: the workload itself answers to its names. */
cJSON *
backend_net_relay_self(struct container *c)
{
	cJSON *names = cJSON_CreateObject();
	const cJSON *ep, *it;
	char sid[13];

	if (!backend_net_has_user(c))
		return names;
	cJSON_ArrayForEach(ep, backend_net_endpoints(c)) {
		if (backend_net_predefined(ep->string))
			continue;
		cJSON_ArrayForEach(it, json_arr(ep, "Aliases")) {
			if (cJSON_IsString(it) && it->valuestring[0] != '\0')
				backend_net_name_add(
				    names, it->valuestring, "127.0.0.1");
		}
	}
	memcpy(sid, c->id, 12);
	sid[12] = '\0';
	backend_net_name_add(names, container_name(c), "127.0.0.1");
	backend_net_name_add(names, sid, "127.0.0.1");
	return names;
}

/* Strings of a config array into a new array (NULL when empty). */
static cJSON *
backend_net_strs(const cJSON *arr)
{
	cJSON *out = cJSON_CreateArray();
	const cJSON *it;

	cJSON_ArrayForEach(it, arr) {
		if (cJSON_IsString(it) && it->valuestring[0] != '\0')
			cJSON_AddItemToArray(
			    out, cJSON_CreateString(it->valuestring));
	}
	if (cJSON_GetArraySize(out) == 0) {
		cJSON_Delete(out);
		return NULL;
	}
	return out;
}

static void
backend_net_host_add(
    cJSON *hosts, const char *ip, const char *n1, const char *n2)
{
	cJSON *h = cJSON_CreateObject(), *names = cJSON_CreateArray();

	json_add_str(h, "ip", ip);
	cJSON_AddItemToArray(names, cJSON_CreateString(n1));
	if (n2 != NULL && strcmp(n1, n2) != 0)
		cJSON_AddItemToArray(names, cJSON_CreateString(n2));
	cJSON_AddItemToObject(h, "names", names);
	cJSON_AddItemToArray(hosts, h);
}

/* --add-host "name:ip" (dockerd also takes "name=ip" since 25). */
static void
backend_net_extra_hosts(const cJSON *hc, cJSON *hosts)
{
	const cJSON *it;

	cJSON_ArrayForEach(it, json_arr(hc, "ExtraHosts")) {
		char *s, *sep;
		if (!cJSON_IsString(it))
			continue;
		s = xstrdup(it->valuestring);
		if ((sep = strchr(s, ':')) != NULL ||
		    (sep = strchr(s, '=')) != NULL) {
			*sep = '\0';
			backend_net_host_add(hosts, sep + 1, s, NULL);
		}
		free(s);
	}
}

/* A link "name:alias" or dockerd's stored "/name:/self/alias": the target
 * container and the alias. */
static struct container *
backend_net_link(struct backend *b, const char *link, char *alias, size_t sz)
{
	char *s = xstrdup(link[0] == '/' ? link + 1 : link), *sep;
	const char *a;
	struct container *t;

	if ((sep = strchr(s, ':')) != NULL)
		*sep++ = '\0';
	a = sep == NULL ? s : (strrchr(sep, '/') ? strrchr(sep, '/') + 1 : sep);
	str_lcpy(alias, a, sz);
	t = backend_ctr_by_name(b, s);
	free(s);
	return t;
}

static const char *
backend_net_bridge_ip(const struct container *t)
{
	return backend_net_ep_ip(
	    json_obj(backend_net_endpoints(t), NET_BRIDGE));
}

/* Docker's legacy link variables: ALIAS_NAME, ALIAS_PORT and per exposed
 * port ALIAS_PORT_80_TCP{,_ADDR,_PORT,_PROTO}, ALIAS_ENV_<the target's
 * Config.Env>. */
static void
backend_net_link_env(const struct container *c, const struct container *t,
    const char *alias, const char *ip, cJSON *env)
{
	const cJSON *it;
	char up[128], *v;
	size_t i;
	int first = 1;

	for (i = 0; i < sizeof(up) - 1 && alias[i] != '\0'; i++)
		up[i] = isalnum((unsigned char)alias[i]) ?
		    (char)toupper((unsigned char)alias[i]) :
		    '_';
	up[i] = '\0';
	v = xasprintf("%s_NAME=/%s/%s", up, container_name(c), alias);
	cJSON_AddItemToArray(env, cJSON_CreateString(v));
	free(v);
	cJSON_ArrayForEach(it, json_obj(container_config(t), "ExposedPorts")) {
		const char *proto;
		char pu[8];
		int port;
		if (container_port_parse(it->string, &port, &proto) == -1)
			continue;
		for (i = 0; i < sizeof(pu) - 1 && proto[i] != '\0'; i++)
			pu[i] = (char)toupper((unsigned char)proto[i]);
		pu[i] = '\0';
		if (first) {
			v = xasprintf(
			    "%s_PORT=%s://%s:%d", up, proto, ip, port);
			cJSON_AddItemToArray(env, cJSON_CreateString(v));
			free(v);
			first = 0;
		}
		v = xasprintf(
		    "%s_PORT_%d_%s=%s://%s:%d", up, port, pu, proto, ip, port);
		cJSON_AddItemToArray(env, cJSON_CreateString(v));
		free(v);
		v = xasprintf("%s_PORT_%d_%s_ADDR=%s", up, port, pu, ip);
		cJSON_AddItemToArray(env, cJSON_CreateString(v));
		free(v);
		v = xasprintf("%s_PORT_%d_%s_PORT=%d", up, port, pu, port);
		cJSON_AddItemToArray(env, cJSON_CreateString(v));
		free(v);
		v = xasprintf("%s_PORT_%d_%s_PROTO=%s", up, port, pu, proto);
		cJSON_AddItemToArray(env, cJSON_CreateString(v));
		free(v);
	}
	cJSON_ArrayForEach(it, json_arr(container_config(t), "Env")) {
		if (!cJSON_IsString(it) ||
		    strchr(it->valuestring, '=') == NULL ||
		    str_prefix(it->valuestring, "HOME=") ||
		    str_prefix(it->valuestring, "PATH=") ||
		    str_prefix(it->valuestring, "HOSTNAME="))
			continue;
		v = xasprintf("%s_ENV_%s", up, it->valuestring);
		cJSON_AddItemToArray(env, cJSON_CreateString(v));
		free(v);
	}
}

/* --link on the default bridge: hosts entries and the link variables of
 * the targets that run now (dockerd refuses to start with a stopped one;
 * the start path checks that). */
static void
backend_net_links(
    struct backend *b, struct container *c, cJSON *hosts, cJSON *env)
{
	const cJSON *it;
	char alias[128];

	cJSON_ArrayForEach(it, json_arr(container_host_config(c), "Links")) {
		struct container *t;
		const char *ip;
		if (!cJSON_IsString(it))
			continue;
		t = backend_net_link(b, it->valuestring, alias, sizeof(alias));
		if (t == NULL || !container_running(t) ||
		    (ip = backend_net_bridge_ip(t))[0] == '\0')
			continue;
		backend_net_host_add(hosts, ip, alias, container_name(t));
		backend_net_link_env(c, t, alias, ip, env);
	}
}

/* The view at run time goes into the environment unless it is large: a
 * cloud's overrides are small (ECS: 8 KiB in all), and the push that
 * follows the start delivers the whole view anyway. */
#define NET_ENV_NAMES_MAX 4096

static void
backend_net_env_names(cJSON *o, cJSON *names)
{
	char *s = json_print(names);

	if (strlen(s) <= NET_ENV_NAMES_MAX)
		cJSON_AddItemToObject(o, "names", names);
	else
		cJSON_Delete(names);
	free(s);
}

char *
backend_net_env(struct backend *b, struct container *c)
{
	const cJSON *cfg = container_config(c), *hc = container_host_config(c);
	cJSON *o = cJSON_CreateObject(), *hosts = cJSON_CreateArray(), *v;
	cJSON *scratch = cJSON_CreateArray();
	char *s;

	if (json_str(cfg, "Hostname") != NULL)
		json_add_str(o, "hostname", json_str(cfg, "Hostname"));
	if (json_str(cfg, "Domainname") != NULL &&
	    json_str(cfg, "Domainname")[0] != '\0')
		json_add_str(o, "domainname", json_str(cfg, "Domainname"));
	backend_net_extra_hosts(hc, hosts);
	backend_net_links(b, c, hosts, scratch);
	cJSON_Delete(scratch);
	if (cJSON_GetArraySize(hosts) > 0)
		cJSON_AddItemToObject(o, "hosts", hosts);
	else
		cJSON_Delete(hosts);
	if (backend_net_has_user(c))
		json_add_bool(o, "resolver", 1);
	/* The agent's resolver and peers on loopback addresses of its own
	 * (the peers come with the push that follows the start). */
	if (backend_net_has_user(c) && b->ops->reach == BACKEND_REACH_RELAY)
		json_add_bool(o, "relay", 1);
	if ((v = backend_net_strs(json_arr(hc, "Dns"))) != NULL)
		cJSON_AddItemToObject(o, "dns", v);
	if ((v = backend_net_strs(json_arr(hc, "DnsSearch"))) != NULL)
		cJSON_AddItemToObject(o, "dns_search", v);
	if ((v = backend_net_strs(json_arr(hc, "DnsOptions"))) != NULL)
		cJSON_AddItemToObject(o, "dns_options", v);
	backend_net_env_names(o,
	    b->ops->reach == BACKEND_REACH_RELAY ? backend_net_relay_self(c) :
						   backend_net_names(b, c));
	s = json_print(o);
	cJSON_Delete(o);
	return s;
}

void
backend_net_run_env(struct backend *b, struct container *c, cJSON *env)
{
	char *net = backend_net_env(b, c), *kv;
	cJSON *hosts = cJSON_CreateArray();

	kv = xasprintf("SOCKERLESS_NET=%s", net);
	cJSON_AddItemToArray(env, cJSON_CreateString(kv));
	free(kv);
	free(net);
	backend_net_links(b, c, hosts, env);
	cJSON_Delete(hosts);
}
