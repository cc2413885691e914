/* The networks of a create body: HostConfig.NetworkMode and
 * NetworkingConfig.EndpointsConfig become NetworkSettings.Networks, with
 * what the cloud cannot do refused in a sentence (docs/networks.md). */
#include <stdlib.h>
#include <string.h>

#include "backend_ctr.h"
#include "backend_net.h"
#include "sockerless/json.h"
#include "sockerless/xmalloc.h"

int
backend_net_check_ep(
    struct backend *b, const struct network *n, const cJSON *ep, struct err *e)
{
	const char *want = json_str(json_obj(ep, "IPAMConfig"), "IPv4Address");

	if (ep != NULL &&
	    backend_ctr_check_endpoint(b, network_name(n), ep, e) == -1)
		return -1;
	if (want != NULL && want[0] != '\0' &&
	    b->ops->reach == BACKEND_REACH_DIRECT)
		return err_set(e, 400,
		    "the %s backend cannot give a container the address %s: "
		    "the cloud assigns each workload its own address. Leave "
		    "out --ip (IPAMConfig.IPv4Address).",
		    b->ops->name, want);
	return 0;
}

/* The network a create names, as a record: user networks need the
 * capability. */
static struct network *
backend_net_for_create(struct backend *b, const char *ref, struct err *e)
{
	struct network *n;

	if (strcmp(ref, "default") == 0)
		ref = NET_BRIDGE;
	if (strcmp(ref, NET_HOST) == 0) {
		err_set(e, 400,
		    "--network host cannot be honoured by the %s backend: the "
		    "workload runs in the cloud, not on a host whose network "
		    "it could share. Publish ports (-p) or use a user-defined "
		    "network instead.",
		    b->ops->name);
		return NULL;
	}
	if (str_prefix(ref, "container:")) {
		err_set(e, 400,
		    "--network container:<name> cannot be honoured by the %s "
		    "backend: each workload has its own network stack in the "
		    "cloud. Put both containers on a user-defined network "
		    "and reach the other by name.",
		    b->ops->name);
		return NULL;
	}
	if (!backend_net_predefined(ref) && !b->caps.flag[CAP_NETWORKS]) {
		caps_unsupported(&b->caps, CAP_NETWORKS, e);
		return NULL;
	}
	if ((n = backend_net_find(b, ref, e)) != NULL && backend_net_user(n) &&
	    !b->caps.flag[CAP_NETWORKS]) {
		caps_unsupported(&b->caps, CAP_NETWORKS, e);
		return NULL;
	}
	return n;
}

static int
backend_net_add_ep(struct backend *b, struct network *n, const cJSON *cfg,
    cJSON *nets, struct err *e)
{
	cJSON *ep;

	if (backend_net_check_ep(b, n, cfg, e) == -1)
		return -1;
	ep = backend_net_ep_new(n, cfg);
	json_set(nets, network_name(n), ep);
	return 0;
}

/* API 1.44 attaches the container to every network of EndpointsConfig;
 * --network none admits no other. */
int
backend_net_create_endpoints(struct backend *b, const cJSON *body,
    const cJSON *hc, cJSON *nets, struct err *e)
{
	const cJSON *ecs =
	    json_obj(json_obj(body, "NetworkingConfig"), "EndpointsConfig");
	const char *nm = json_str(hc, "NetworkMode");
	struct network *main, *n;
	const cJSON *it, *own = NULL;

	if ((main = backend_net_for_create(
		 b, nm != NULL ? nm : "default", e)) == NULL)
		return -1;
	if (ecs != NULL && !cJSON_IsObject(ecs))
		return err_set(e, 400,
		    "NetworkingConfig.EndpointsConfig must be an object");
	cJSON_ArrayForEach(it, ecs) {
		if ((n = backend_net_for_create(b, it->string, e)) == NULL)
			return -1;
		if (n == main) {
			own = it;
			continue;
		}
		if (strcmp(network_name(main), NET_NONE) == 0 ||
		    strcmp(network_name(n), NET_NONE) == 0)
			return err_set(e, 400,
			    "Container cannot be connected to network "
			    "endpoints: %s, %s: a container on the none "
			    "network cannot join another",
			    network_name(main), network_name(n));
		if (backend_net_add_ep(b, n, it, nets, e) == -1)
			return -1;
	}
	return backend_net_add_ep(b, main, own, nets, e);
}

/* One link "name[:alias]" (or dockerd's stored "/name:/self/alias") in
 * dockerd's stored form; NULL with e when the target does not exist. */
static char *
backend_net_link_norm(
    struct backend *b, const char *link, const char *self, struct err *e)
{
	char *s = xstrdup(link[0] == '/' ? link + 1 : link), *alias, *out;
	struct container *t;

	if ((alias = strchr(s, ':')) != NULL) {
		*alias++ = '\0';
		if (strrchr(alias, '/') != NULL)
			alias = strrchr(alias, '/') + 1;
	}
	if (alias == NULL || alias[0] == '\0')
		alias = s;
	if ((t = backend_ctr_by_name(b, s)) == NULL &&
	    (t = backend_index_get(&b->by_id, s)) == NULL) {
		err_set(e, 400,
		    "could not get container for %s: No such container: %s", s,
		    s);
		free(s);
		return NULL;
	}
	out = xasprintf("/%s:/%s/%s", container_name(t), self, alias);
	free(s);
	return out;
}

int
backend_net_check_links(
    struct backend *b, cJSON *hc, const char *self, struct err *e)
{
	cJSON *links = cJSON_GetObjectItemCaseSensitive(hc, "Links"), *it;
	const char *nm = json_str(hc, "NetworkMode");
	char *norm;
	int i = 0;

	if (!cJSON_IsArray(links) || cJSON_GetArraySize(links) == 0)
		return 0;
	if (nm != NULL && strcmp(nm, NET_NONE) == 0)
		return err_set(e, 400,
		    "conflicting options: none type networking can't be used "
		    "with links");
	for (i = 0; (it = cJSON_GetArrayItem(links, i)) != NULL; i++) {
		if (!cJSON_IsString(it))
			return err_set(
			    e, 400, "HostConfig.Links must be strings");
		if ((norm = backend_net_link_norm(
			 b, it->valuestring, self, e)) == NULL)
			return -1;
		cJSON_ReplaceItemInArray(links, i, cJSON_CreateString(norm));
		free(norm);
	}
	return 0;
}
