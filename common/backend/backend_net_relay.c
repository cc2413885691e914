/* Relay mode's names view (docs/networks.md, "Relay mode"): a member of a
 * user-defined network on a backend whose workloads accept no inbound
 * connections learns, over its link, the peers it may reach (their names
 * and the ports its agent listens on for them); its own names at
 * 127.0.0.1 are backend_net_relay_self's (backend_net_ep.c). The peers'
 * network addresses mean nothing there: the agent gives each peer a
 * loopback address of its own. */
#include <stdlib.h>
#include <string.h>

#include "backend_ctr.h"
#include "backend_net.h"
#include "sockerless/container.h"
#include "sockerless/json.h"
#include "sockerless/str.h"
#include "sockerless/xmalloc.h"

/* The agent listens on at most this many ports of one peer. */
#define RELAY_PORTS_MAX 64

static int
relay_has_str(const cJSON *arr, const char *s)
{
	const cJSON *it;

	cJSON_ArrayForEach(it, arr) {
		if (cJSON_IsString(it) && strcasecmp(it->valuestring, s) == 0)
			return 1;
	}
	return 0;
}

static void
relay_add_name(cJSON *arr, const char *s)
{
	if (s != NULL && s[0] != '\0' && !relay_has_str(arr, s))
		cJSON_AddItemToArray(arr, cJSON_CreateString(s));
}

static int
relay_has_port(const cJSON *arr, int port)
{
	const cJSON *it;

	cJSON_ArrayForEach(it, arr) {
		if (it->valueint == port)
			return 1;
	}
	return 0;
}

/* The ports of protocol want ("tcp", "udp") of an ExposedPorts or
 * PortBindings object ("80/tcp", "53/udp"). */
static void
relay_ports_of(const cJSON *obj, const char *want, cJSON *ports)
{
	const cJSON *it;
	const char *proto;
	int port;

	cJSON_ArrayForEach(it, obj) {
		if (container_port_parse(it->string, &port, &proto) == -1 ||
		    strcmp(proto, want) != 0 || relay_has_port(ports, port) ||
		    cJSON_GetArraySize(ports) >= RELAY_PORTS_MAX)
			continue;
		cJSON_AddItemToArray(ports, cJSON_CreateNumber(port));
	}
}

/* A name, short id and aliases of m on each user network it shares with
 * c; 0 when it shares none. */
static int
relay_names_of(
    const struct container *c, const struct container *m, cJSON *names)
{
	const cJSON *ep, *mep, *it;
	char sid[13];
	int shared = 0;

	cJSON_ArrayForEach(ep, backend_net_endpoints(c)) {
		if (backend_net_predefined(ep->string) ||
		    (mep = json_obj(backend_net_endpoints(m), ep->string)) ==
			NULL)
			continue;
		shared = 1;
		cJSON_ArrayForEach(it, json_arr(mep, "Aliases")) {
			if (cJSON_IsString(it))
				relay_add_name(names, it->valuestring);
		}
	}
	if (!shared)
		return 0;
	memcpy(sid, m->id, 12);
	sid[12] = '\0';
	relay_add_name(names, container_name(m));
	relay_add_name(names, sid);
	return 1;
}

/* c's legacy links ("/target:/c/alias") to m: their aliases. */
static void
relay_link_aliases(struct backend *b, const struct container *c,
    const struct container *m, cJSON *names)
{
	const cJSON *it;
	const char *alias;
	char *s, *sep;

	cJSON_ArrayForEach(it, json_arr(container_host_config(c), "Links")) {
		if (!cJSON_IsString(it))
			continue;
		s = xstrdup(it->valuestring[0] == '/' ? it->valuestring + 1 :
							it->valuestring);
		if ((sep = strchr(s, ':')) != NULL)
			*sep++ = '\0';
		alias = sep == NULL	      ? s :
		    strrchr(sep, '/') != NULL ? strrchr(sep, '/') + 1 :
						sep;
		if (backend_ctr_by_name(b, s) == m)
			relay_add_name(names, alias);
		free(s);
	}
}

cJSON *
backend_net_relay_peers(struct backend *b, struct container *c)
{
	cJSON *peers = cJSON_CreateArray(), *p, *names, *ports, *udp;
	struct container *m;

	TAILQ_FOREACH(m, &b->containers, entry) {
		if (m == c || m->gone || !container_running(m))
			continue;
		names = cJSON_CreateArray();
		if (!relay_names_of(c, m, names)) {
			cJSON_Delete(names);
			continue;
		}
		relay_link_aliases(b, c, m, names);
		ports = cJSON_CreateArray();
		relay_ports_of(json_obj(container_config(m), "ExposedPorts"),
		    "tcp", ports);
		relay_ports_of(
		    json_obj(container_host_config(m), "PortBindings"), "tcp",
		    ports);
		udp = cJSON_CreateArray();
		relay_ports_of(
		    json_obj(container_config(m), "ExposedPorts"), "udp", udp);
		p = cJSON_CreateObject();
		json_add_str(p, "id", m->id);
		cJSON_AddItemToObject(p, "names", names);
		cJSON_AddItemToObject(p, "ports", ports);
		if (cJSON_GetArraySize(udp) > 0)
			cJSON_AddItemToObject(p, "udp", udp);
		else
			cJSON_Delete(udp);
		cJSON_AddItemToArray(peers, p);
	}
	return peers;
}
