/* Docker networks in the framework (docs/networks.md): the records and
 * their store (backend_net.c), the containers' endpoints and the names
 * view (backend_net_ep.c), the routes (backend_net_api.c). */
#ifndef SOCKERLESS_BACKEND_NET_H
#define SOCKERLESS_BACKEND_NET_H

#include "backend_int.h"

/* Where the frontend's "bridge", "host" and "none" live. */
#define NET_BRIDGE "bridge"
#define NET_HOST   "host"
#define NET_NONE   "none"

/* backend_net.c: the records */
void backend_net_load(struct backend *b);
void backend_net_free(struct backend *b);
/* Docker's lookup: full id, exact name, then a unique id prefix. NULL
 * with a 404 "network X not found" or, for an ambiguous prefix, a 400. */
struct network *backend_net_find(
    struct backend *b, const char *ref, struct err *e);
struct network *backend_net_by_name(struct backend *b, const char *name);
int backend_net_predefined(const char *name);
/* User-defined: not bridge, host or none. */
int backend_net_user(const struct network *n);
/* A new user network from a checked create body (the doc is taken); it is
 * listed and saved. */
struct network *backend_net_add(struct backend *b, const char *id, cJSON *doc);
void backend_net_delete(struct backend *b, struct network *n);
/* The first IPv4 subnet of n ("" when it has none) and its gateway. */
const char *backend_net_subnet(const struct network *n);
const char *backend_net_gateway(const struct network *n);
/* Checks IPAM.Config of a create body and fills it: subnets that parse,
 * none overlapping another network's (403), a default subnet from
 * 172.18.0.0/16 upward when none is given. */
int backend_net_ipam(struct backend *b, cJSON *ipam, struct err *e);

/* A network event: create, destroy, or (with c) connect, disconnect. */
void backend_net_event(struct backend *b, const struct network *n,
    const char *action, const struct container *c);
/* connect or disconnect for every network of c, as dockerd's endpoints
 * join at start and leave at exit. */
void backend_net_endpoint_events(
    struct backend *b, const struct container *c, const char *action);

/* backend_net_ep.c: containers and their endpoints */
/* The endpoints of c (NetworkSettings.Networks), never NULL for a
 * container made by create. */
cJSON *backend_net_endpoints(const struct container *c);
/* The endpoint of c on n, or NULL. */
cJSON *backend_net_endpoint(const struct container *c, const struct network *n);
/* A new endpoint of c on n from the client's EndpointSettings (may be
 * NULL), added to c's endpoints (not saved). */
cJSON *backend_net_attach(struct backend *b, struct container *c,
    struct network *n, const cJSON *cfg);
/* The running members of n, as network inspect's Containers. */
cJSON *backend_net_members(struct backend *b, const struct network *n);
int backend_net_in_use(struct backend *b, const struct network *n);
/* Relay mode (BACKEND_REACH_RELAY). backend_net_relay.c: the running
 * containers sharing a user network with c, as [{"id", "names": [...],
 * "ports": [tcp ports]}]. backend_net_ep.c: c's own names on its user
 * networks as a names view at 127.0.0.1. */
cJSON *backend_net_relay_peers(struct backend *b, struct container *c);
cJSON *backend_net_relay_self(struct container *c);
/* The workload's address is known: every endpoint gets it. */
void backend_net_addressed(
    struct backend *b, struct container *c, const char *ip);
/* The name changed: DNSNames follow it. */
void backend_net_renamed(struct container *c);
/* The workload ended: endpoints lose their run's values as dockerd's do. */
void backend_net_released(struct container *c);
/* Every network of c still exists (a removed one is dockerd's 404 at
 * start). */
int backend_net_check_start(
    struct backend *b, struct container *c, struct err *e);
/* Is c on a user-defined network (and so served by a resolver)? */
int backend_net_has_user(const struct container *c);
/* The names c resolves (Interface 2's "names"): the union over its
 * user-defined networks of every running member's names. */
cJSON *backend_net_names(struct backend *b, struct container *c);
/* SOCKERLESS_NET for c's run (compact JSON; the caller frees). */
char *backend_net_env(struct backend *b, struct container *c);
/* Appends SOCKERLESS_NET and the legacy link variables to a run's env. */
void backend_net_run_env(struct backend *b, struct container *c, cJSON *env);
/* The endpoint a client's EndpointSettings give for n: what dockerd keeps
 * of them (IPAMConfig, Links, Aliases) and the NetworkID. */
cJSON *backend_net_ep_new(const struct network *n, const cJSON *cfg);
/* backend_net_ctr.c: create's networks */
/* Checks an endpoint config the client gives for n (create, connect). */
int backend_net_check_ep(
    struct backend *b, const struct network *n, const cJSON *ep, struct err *e);
/* --link: every target exists (400 otherwise, as dockerd); the links are
 * rewritten in dockerd's stored form "/target:/self/alias". */
int backend_net_check_links(
    struct backend *b, cJSON *hc, const char *self, struct err *e);
/* Checks HostConfig.NetworkMode and NetworkingConfig of a create body
 * and builds NetworkSettings.Networks (nets) from them. */
int backend_net_create_endpoints(struct backend *b, const cJSON *body,
    const cJSON *hc, cJSON *nets, struct err *e);

/* backend_net_api.c, backend_net_conn.c: the routes */
void backend_net_create(
    struct backend *b, struct httpsrv_req *r, const struct router_match *m);
void backend_net_list(
    struct backend *b, struct httpsrv_req *r, const struct router_match *m);
void backend_net_inspect(
    struct backend *b, struct httpsrv_req *r, const struct router_match *m);
void backend_net_remove(
    struct backend *b, struct httpsrv_req *r, const struct router_match *m);
void backend_net_prune(
    struct backend *b, struct httpsrv_req *r, const struct router_match *m);
void backend_net_connect(
    struct backend *b, struct httpsrv_req *r, const struct router_match *m);
void backend_net_disconnect(
    struct backend *b, struct httpsrv_req *r, const struct router_match *m);

#endif
