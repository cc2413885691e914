/* Container lifecycle: create (with Docker's image config merge), list,
 * inspect, start, stop, kill, restart, wait, remove, rename, prune. */
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "backend_agent.h"
#include "sockerless/container.h"
#include "sockerless/filters.h"
#include "sockerless/id.h"
#include "sockerless/json.h"
#include "sockerless/log.h"
#include "sockerless/store.h"
#include "sockerless/xmalloc.h"

/* Stop timeouts in seconds, whose 100 ms ticks must fit an int. */
#define BACKEND_CTR_MAX_STOP_TIMEOUT (INT_MAX / 10)

/* A long-poll on POST /containers/{id}/wait. */
struct backend_waiter {
	TAILQ_ENTRY(backend_waiter) entry;
	struct httpsrv_req *req;
	enum { WAIT_NOT_RUNNING, WAIT_NEXT_EXIT, WAIT_REMOVED } cond;
	struct container *c;
	int due; /* the condition held; answered when no attach is open */
};

/* A request that waits for the life-cycle operation in flight to end,
 * then is handled afresh. */
struct backend_parked {
	TAILQ_ENTRY(backend_parked) entry;
	struct httpsrv_req *req;
	backend_handler fn;
	struct router_match m;
	struct container *c;
};

/* The one life-cycle operation a container may have in flight. */
enum backend_ctr_busy {
	CTR_IDLE,
	CTR_CREATING,
	CTR_STARTING,
	CTR_REMOVING,
};

/* What the framework keeps per container (c->waiters, made on first
 * use): the long-polls on wait, and the requests parked behind the
 * operation in flight. A container has one life cycle: create, start and
 * remove never overlap, and whatever arrives meanwhile sees the state the
 * operation leaves (a start behind a start answers 304, a remove behind a
 * create removes what was created, anything behind a remove finds no
 * container). */
struct backend_waiters {
	TAILQ_HEAD(, backend_waiter) list;
	TAILQ_HEAD(, backend_parked) parked;
	enum backend_ctr_busy busy;
	int active;   /* in b->active */
	int attached; /* attach streams still delivering output */
};

/* A deferred replay of the parked requests. */
struct backend_ctr_replay {
	struct backend *b;
	struct container *c;
};

/* State carried across an asynchronous container operation. */
struct backend_ctr_op {
	struct backend *b;
	struct container *c;
	struct httpsrv_req *req; /* NULL when nobody waits for a reply */
	int timeout_s;
	int then_start; /* restart: start after the stop */
	int force;
	int signo; /* kill */
	struct event *timer;
};

static void backend_ctr_remove_now(
    struct backend *b, struct container *c, struct httpsrv_req *req);
static void backend_ctr_remove_start(
    struct backend *b, struct container *c, struct httpsrv_req *req);

/* --- the life cycle ----------------------------------------------------- */

static struct backend_waiters *
backend_ctr_life(struct container *c)
{
	if (c->waiters == NULL) {
		c->waiters = xcalloc(1, sizeof(*c->waiters));
		TAILQ_INIT(&c->waiters->list);
		TAILQ_INIT(&c->waiters->parked);
	}
	return c->waiters;
}

static enum backend_ctr_busy
backend_ctr_busy(const struct container *c)
{
	return c->waiters != NULL ? c->waiters->busy : CTR_IDLE;
}

static void
backend_ctr_set_busy(struct container *c, enum backend_ctr_busy busy)
{
	backend_ctr_life(c)->busy = busy;
}

static void
backend_ctr_parked_gone(struct httpsrv_req *r, void *arg)
{
	struct backend_parked *p = arg;

	(void)r;
	TAILQ_REMOVE(&p->c->waiters->parked, p, entry);
	container_unref(p->c);
	free(p);
}

/* For the handlers of operations that change the life cycle: while
 * another one is in flight, parks the request and returns 1. */
static int
backend_ctr_park(struct container *c, struct httpsrv_req *r,
    const struct router_match *m, backend_handler fn)
{
	struct backend_parked *p;

	if (backend_ctr_busy(c) == CTR_IDLE)
		return 0;
	p = xcalloc(1, sizeof(*p));
	p->req = r;
	p->fn = fn;
	p->m = *m;
	p->c = c;
	container_ref(c);
	TAILQ_INSERT_TAIL(&c->waiters->parked, p, entry);
	httpsrv_req_on_close(r, backend_ctr_parked_gone, p);
	return 1;
}

static void
backend_ctr_replay(evutil_socket_t fd, short ev, void *arg)
{
	struct backend_ctr_replay *rp = arg;
	struct container *c = rp->c;
	struct backend_parked *p;
	TAILQ_HEAD(, backend_parked) run;

	(void)fd;
	(void)ev;
	TAILQ_INIT(&run);
	TAILQ_CONCAT(&run, &c->waiters->parked, entry);
	/* A handler that finds the container busy again parks anew. */
	while ((p = TAILQ_FIRST(&run)) != NULL) {
		TAILQ_REMOVE(&run, p, entry);
		httpsrv_req_on_close(p->req, NULL, NULL);
		p->fn(rp->b, p->req, &p->m);
		container_unref(p->c);
		free(p);
	}
	container_unref(c);
	free(rp);
}

/* The operation in flight ended (its reply is sent): the parked requests
 * run from the event loop, not inside the cloud callback that ended it. */
static void
backend_ctr_idle(struct backend *b, struct container *c)
{
	struct backend_ctr_replay *rp;
	struct timeval now = { 0, 0 };

	if (c->waiters == NULL)
		return;
	c->waiters->busy = CTR_IDLE;
	if (TAILQ_EMPTY(&c->waiters->parked))
		return;
	rp = xcalloc(1, sizeof(*rp));
	rp->b = b;
	rp->c = c;
	container_ref(c);
	if (event_base_once(
		b->base, -1, EV_TIMEOUT, backend_ctr_replay, rp, &now) == -1)
		fatalx("scheduling parked requests");
}

/* Pollers visit the containers that run or are being started. */
static void
backend_ctr_set_active(struct backend *b, struct container *c, int on)
{
	if (!on && c->waiters == NULL)
		return;
	if (backend_ctr_life(c)->active == on)
		return;
	c->waiters->active = on;
	if (on)
		backend_index_add(&b->active, c);
	else
		backend_index_del(&b->active, c);
}

/* The list holds one reference; the indexes borrow it. */
static void
backend_ctr_enlist(struct backend *b, struct container *c)
{
	TAILQ_INSERT_HEAD(&b->containers, c, entry);
	backend_index_add(&b->by_id, c);
	backend_index_add(&b->by_name, c);
}

void
backend_ctr_unlist(struct backend *b, struct container *c)
{
	backend_ctr_set_active(b, c, 0);
	TAILQ_REMOVE(&b->containers, c, entry);
	backend_index_del(&b->by_id, c);
	backend_index_del(&b->by_name, c);
}

/* --- operations --------------------------------------------------------- */

static void
backend_ctr_op_gone(struct httpsrv_req *r, void *arg)
{
	struct backend_ctr_op *op = arg;

	(void)r;
	op->req = NULL; /* the operation goes on; nobody hears its end */
}

static struct backend_ctr_op *
backend_ctr_op_new(
    struct backend *b, struct container *c, struct httpsrv_req *req)
{
	struct backend_ctr_op *op = xcalloc(1, sizeof(*op));

	op->b = b;
	op->c = c;
	op->req = req;
	if (req != NULL)
		httpsrv_req_on_close(req, backend_ctr_op_gone, op);
	container_ref(c);
	return op;
}

/* Hands the request over (to answer it, or to another operation). */
static struct httpsrv_req *
backend_ctr_op_take_req(struct backend_ctr_op *op)
{
	struct httpsrv_req *r = op->req;

	if (r != NULL)
		httpsrv_req_on_close(r, NULL, NULL);
	op->req = NULL;
	return r;
}

/* Answers the operation's request, if its client still waits: e, or an
 * empty status. */
static void
backend_ctr_op_reply(struct backend_ctr_op *op, const struct err *e, int status)
{
	struct httpsrv_req *r = backend_ctr_op_take_req(op);

	if (r != NULL)
		backend_reply_done(r, e, status);
}

static void
backend_ctr_op_free(struct backend_ctr_op *op)
{
	backend_ctr_op_take_req(op);
	if (op->timer != NULL)
		event_free(op->timer);
	container_unref(op->c);
	free(op);
}

static void
backend_ctr_save(struct backend *b, struct container *c)
{
	struct err e;
	char *doc = json_print(c->doc);
	const cJSON *st = json_obj(c->doc, "State");

	if (store_container_put(b->store, c->id, container_name(c),
		json_str(st, "Status"), doc, &e) == -1)
		log_warnx("saving container %.12s: %s", c->id, e.msg);
	free(doc);
}

void
backend_container_save(struct backend *b, struct container *c)
{
	backend_ctr_save(b, c);
}

/* Loads every container from the store at start-up. */
void
backend_ctr_load(struct backend *b)
{
	struct store_row *rows = NULL;
	struct container *c;
	size_t n = 0;
	struct err e;

	if (store_container_list(b->store, &rows, &n, &e) == -1)
		fatalx("loading containers: %s", e.msg);
	for (size_t i = 0; i < n; i++) {
		struct err pe;
		cJSON *doc = json_parse(rows[i].doc, strlen(rows[i].doc), &pe);
		if (doc == NULL) {
			log_warnx("container %.12s: unreadable record: %s",
			    rows[i].id, pe.msg);
			continue;
		}
		/* The rows come oldest first; the list is newest first,
		 * as creates add them and docker ps shows them. */
		c = container_new(rows[i].id, doc);
		TAILQ_INSERT_HEAD(&b->containers, c, entry);
		backend_index_append(&b->by_id, c);
		backend_index_append(&b->by_name, c);
		if (container_running(c))
			backend_ctr_set_active(b, c, 1);
	}
	backend_index_sort(&b->by_id);
	backend_index_sort(&b->by_name);
	store_rows_free(rows, n);
	log_info("loaded %zu containers", n);
}

/* --- create ------------------------------------------------------------ */

static int
backend_ctr_env_has(const cJSON *env, const char *kv)
{
	const cJSON *it;
	size_t klen = strcspn(kv, "=");

	cJSON_ArrayForEach(it, env) {
		const char *s = it->valuestring;
		if (cJSON_IsString(it) && strncmp(s, kv, klen) == 0 &&
		    (s[klen] == '=' || s[klen] == '\0'))
			return 1;
	}
	return 0;
}

static int
backend_ctr_empty(const cJSON *v)
{
	return v == NULL || cJSON_IsNull(v) ||
	    (cJSON_IsArray(v) && cJSON_GetArraySize(v) == 0) ||
	    (cJSON_IsString(v) && v->valuestring[0] == '\0');
}

/* Takes src[key] into dst when dst lacks it. */
static void
backend_ctr_default(cJSON *dst, const cJSON *src, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(src, key);

	if (backend_ctr_empty(cJSON_GetObjectItemCaseSensitive(dst, key)) &&
	    !backend_ctr_empty(v))
		json_set(dst, key, cJSON_Duplicate(v, 1));
}

/* Adds the entries of src[key] (an object) that dst[key] lacks. */
static void
backend_ctr_union(cJSON *dst, const cJSON *src, const char *key)
{
	const cJSON *s = json_obj(src, key), *it;
	cJSON *d = json_obj(dst, key);

	if (s == NULL)
		return;
	if (d == NULL) {
		d = cJSON_CreateObject();
		json_set(dst, key, d);
	}
	cJSON_ArrayForEach(it, s) {
		if (cJSON_GetObjectItemCaseSensitive(d, it->string) == NULL)
			cJSON_AddItemToObject(
			    d, it->string, cJSON_Duplicate(it, 1));
	}
}

/* Docker's merge of the image config into the container config
 * (moby daemon/commit.go merge()). */
static void
backend_ctr_merge(cJSON *cfg, const cJSON *img)
{
	const cJSON *ienv = json_arr(img, "Env"), *it;
	cJSON *env = json_arr(cfg, "Env");
	const cJSON *hc = json_obj(cfg, "Healthcheck");

	backend_ctr_default(cfg, img, "User");
	backend_ctr_default(cfg, img, "WorkingDir");
	backend_ctr_default(cfg, img, "StopSignal");
	backend_ctr_union(cfg, img, "ExposedPorts");
	backend_ctr_union(cfg, img, "Volumes");
	backend_ctr_union(cfg, img, "Labels");
	if (env == NULL) {
		env = cJSON_CreateArray();
		json_set(cfg, "Env", env);
	}
	cJSON_ArrayForEach(it, ienv) {
		if (cJSON_IsString(it) &&
		    !backend_ctr_env_has(env, it->valuestring))
			cJSON_AddItemToArray(
			    env, cJSON_CreateString(it->valuestring));
	}
	if (backend_ctr_empty(json_arr(cfg, "Entrypoint"))) {
		if (backend_ctr_empty(json_arr(cfg, "Cmd")))
			backend_ctr_default(cfg, img, "Cmd");
		if (cJSON_GetObjectItemCaseSensitive(cfg, "Entrypoint") ==
			NULL ||
		    cJSON_IsNull(
			cJSON_GetObjectItemCaseSensitive(cfg, "Entrypoint")))
			backend_ctr_default(cfg, img, "Entrypoint");
	}
	if (hc == NULL)
		backend_ctr_default(cfg, img, "Healthcheck");
}

/* Path and Args from Entrypoint + Cmd. */
static int
backend_ctr_path_args(cJSON *doc, const cJSON *cfg, struct err *e)
{
	cJSON *args = cJSON_CreateArray(), *it;
	const char *path = NULL;
	const cJSON *parts[2] = { json_arr(cfg, "Entrypoint"),
		json_arr(cfg, "Cmd") };

	for (int i = 0; i < 2; i++) {
		cJSON_ArrayForEach(it, parts[i]) {
			if (!cJSON_IsString(it))
				continue;
			if (path == NULL)
				path = it->valuestring;
			else
				cJSON_AddItemToArray(
				    args, cJSON_CreateString(it->valuestring));
		}
	}
	if (path == NULL || path[0] == '\0') {
		cJSON_Delete(args);
		return err_set(e, 400, "no command specified");
	}
	json_add_str(doc, "Path", path);
	cJSON_AddItemToObject(doc, "Args", args);
	return 0;
}

/* str_tonum's reason, as a user reads it after "\"abc\" is". */
static const char *
backend_ctr_why(const char *errstr)
{
	return strcmp(errstr, "invalid") == 0 ? "not a whole number" : errstr;
}

/* "N" or "N-M" (N <= M), ports 0-65535, as `docker run -p 8000-8010:80`
 * sends. */
static int
backend_ctr_host_port_ok(const char *hp)
{
	char lo[8];
	const char *dash = strchr(hp, '-');
	size_t n = dash != NULL ? (size_t)(dash - hp) : strlen(hp);
	long long a, b;

	if (n == 0 || n >= sizeof(lo) || strspn(hp, "0123456789") != n)
		return -1;
	memcpy(lo, hp, n);
	lo[n] = '\0';
	if (str_tonum(lo, 0, 65535, &a, NULL) == -1)
		return -1;
	if (dash == NULL)
		return 0;
	if (strspn(dash + 1, "0123456789") != strlen(dash + 1) ||
	    str_tonum(dash + 1, a, 65535, &b, NULL) == -1)
		return -1;
	return 0;
}

/* A PortBindings entry: null or [{"HostIp": s, "HostPort": "" or a port}]. */
static int
backend_ctr_check_bindings(const cJSON *list, struct err *e)
{
	const cJSON *bd;
	const char *ip = NULL, *hp = NULL;

	if (list == NULL || cJSON_IsNull(list))
		return 0;
	if (!cJSON_IsArray(list))
		return err_set(e, 400,
		    "json: cannot unmarshal a non-array into field "
		    "PortBindings[\"%s\"] of type []PortBinding",
		    list->string);
	cJSON_ArrayForEach(bd, list) {
		if (!cJSON_IsObject(bd))
			return err_set(e, 400,
			    "json: cannot unmarshal a non-object into "
			    "PortBindings[\"%s\"] of type PortBinding",
			    list->string);
		if (json_check_str(bd, "HostIp", &ip, e) == -1 ||
		    json_check_str(bd, "HostPort", &hp, e) == -1)
			return -1;
		if (hp != NULL && hp[0] != '\0' &&
		    backend_ctr_host_port_ok(hp) == -1)
			return err_set(e, 400,
			    "invalid port specification: \"%s\": a host "
			    "port is a number from 0 to 65535, or a range "
			    "such as 8000-8010",
			    hp);
		hp = NULL;
	}
	return 0;
}

/* The client's ExposedPorts and PortBindings keys, checked before the
 * image's are merged in, so a bad one is the client's own. */
static int
backend_ctr_check_ports(const cJSON *cfg, const cJSON *hc, struct err *e)
{
	const cJSON *sets[2] = { cJSON_GetObjectItemCaseSensitive(
				     cfg, "ExposedPorts"),
		cJSON_GetObjectItemCaseSensitive(hc, "PortBindings") };
	static const char *names[2] = { "ExposedPorts", "PortBindings" };
	const cJSON *it;
	const char *proto;
	int no;

	for (int i = 0; i < 2; i++) {
		if (sets[i] == NULL || cJSON_IsNull(sets[i]))
			continue;
		if (!cJSON_IsObject(sets[i]))
			return err_set(e, 400,
			    "json: cannot unmarshal a non-object into field "
			    "%s",
			    names[i]);
		cJSON_ArrayForEach(it, sets[i]) {
			if (container_port_parse(it->string, &no, &proto) == -1)
				return err_set(e, 400,
				    "invalid port specification: \"%s\": "
				    "expected a port from 1 to 65535 with "
				    "an optional /tcp, /udp or /sctp "
				    "(ranges are not supported)",
				    it->string);
			if (i == 1 && backend_ctr_check_bindings(it, e) == -1)
				return -1;
		}
	}
	return 0;
}

/* Numbers (and Env) the backend acts on, checked where the client can be
 * told. */
static int
backend_ctr_check_numbers(const cJSON *cfg, const cJSON *hc, struct err *e)
{
	static const char *hc_keys[] = { "Memory", "NanoCpus", "CpuShares",
		"MemorySwap", "MemoryReservation", "ShmSize", NULL };
	int64_t v = 0;
	struct strv env;
	int rc;

	strv_init(&env);
	rc = json_check_strv(cfg, "Env", 0, &env, e);
	strv_free(&env);
	if (rc == -1 || json_check_int(cfg, "StopTimeout", &v, e) == -1)
		return -1;
	if (v < -1 || v > BACKEND_CTR_MAX_STOP_TIMEOUT)
		return err_set(e, 400,
		    "invalid StopTimeout %lld: use -1 (no limit) or a number "
		    "of seconds up to %d",
		    (long long)v, BACKEND_CTR_MAX_STOP_TIMEOUT);
	for (int i = 0; hc_keys[i] != NULL; i++) {
		v = 0;
		if (json_check_int(hc, hc_keys[i], &v, e) == -1)
			return -1;
		/* MemorySwap -1 means unlimited swap. */
		if (v < (i == 3 ? -1 : 0))
			return err_set(e, 400,
			    "invalid %s %lld: it cannot be negative",
			    hc_keys[i], (long long)v);
	}
	return backend_ctr_check_ports(cfg, hc, e);
}

/* Rejects what this backend cannot honour instead of ignoring it. */
static int
backend_ctr_check_host_config(struct backend *b, const cJSON *hc, struct err *e)
{
	const char *nm = json_str(hc, "NetworkMode");
	const char *rp = json_str(json_obj(hc, "RestartPolicy"), "Name");

	if (!b->caps.flag[CAP_VOLUMES] &&
	    (!backend_ctr_empty(json_arr(hc, "Binds")) ||
		!backend_ctr_empty(json_arr(hc, "Mounts")) ||
		!backend_ctr_empty(json_arr(hc, "VolumesFrom"))))
		return caps_unsupported(&b->caps, CAP_VOLUMES, e);
	if (!b->caps.flag[CAP_NETWORKS] && nm != NULL && nm[0] != '\0' &&
	    strcmp(nm, "default") != 0 && strcmp(nm, "bridge") != 0)
		return caps_unsupported(&b->caps, CAP_NETWORKS, e);
	if (rp != NULL && rp[0] != '\0' && strcmp(rp, "no") != 0)
		return err_set(e, 501,
		    "This backend (%s) does not support "
		    "restart policies (--restart %s). Run the "
		    "container without --restart.",
		    b->caps.backend, rp);
	if (json_bool(hc, "Privileged", 0))
		return err_set(e, 501,
		    "This backend (%s) does not support "
		    "privileged containers. Run the container "
		    "without --privileged.",
		    b->caps.backend);
	return 0;
}

/* Empty as a client leaves an option unset: null, "", [] or {}. */
static int
backend_ctr_unset(const cJSON *v)
{
	return backend_ctr_empty(v) || (cJSON_IsObject(v) && v->child == NULL);
}

/* Options kept in inspect as set, or refused when the cloud cannot do
 * them: docs/compat.md (issue 11, item 10) says which and why. */
static int
backend_ctr_check_extras(struct backend *b, const cJSON *hc, struct err *e)
{
	const char *rt = json_str(hc, "Runtime");

	if (rt != NULL && rt[0] != '\0' && strcmp(rt, "runc") != 0)
		return err_set(e, 400, "Unknown runtime specified %s", rt);
	if (!backend_ctr_unset(
		cJSON_GetObjectItemCaseSensitive(hc, "DeviceCgroupRules")))
		return err_set(e, 400,
		    "device cgroup rules (--device-cgroup-rule) cannot be "
		    "honoured by the %s backend: the cloud gives the "
		    "workload a fixed device list. Run the container "
		    "without --device-cgroup-rule.",
		    b->ops->name);
	if (!b->caps.flag[CAP_NETWORKS] &&
	    !backend_ctr_unset(cJSON_GetObjectItemCaseSensitive(hc, "Links")))
		return err_set(e, 400,
		    "links (--link) cannot be honoured by the %s backend: "
		    "its containers share no network and no name "
		    "resolution. Run the container without --link.",
		    b->ops->name);
	return 0;
}

/* Checks one endpoint of NetworkingConfig.EndpointsConfig for the
 * container's own network (net) with dockerd's sentences for what the
 * default network refuses. */
static int
backend_ctr_check_endpoint(
    struct backend *b, const char *net, const cJSON *ep, struct err *e)
{
	const cJSON *ipam = cJSON_GetObjectItemCaseSensitive(ep, "IPAMConfig");
	int deflt = strcmp(net, "bridge") == 0;

	if (!cJSON_IsObject(ep) && !cJSON_IsNull(ep))
		return err_set(e, 400,
		    "NetworkingConfig.EndpointsConfig.%s must be an object",
		    net);
	if (deflt &&
	    !backend_ctr_unset(cJSON_GetObjectItemCaseSensitive(ep, "Aliases")))
		return err_set(e, 400,
		    "network-scoped alias is supported only for containers "
		    "in user defined networks");
	if (deflt &&
	    (!backend_ctr_unset(
		 cJSON_GetObjectItemCaseSensitive(ipam, "IPv4Address")) ||
		!backend_ctr_unset(
		    cJSON_GetObjectItemCaseSensitive(ipam, "IPv6Address"))))
		return err_set(e, 400,
		    "user specified IP address is supported on user "
		    "defined networks only");
	if (!b->caps.flag[CAP_NETWORKS] &&
	    !backend_ctr_unset(cJSON_GetObjectItemCaseSensitive(ep, "Links")))
		return err_set(e, 400,
		    "links (--link) cannot be honoured by the %s backend: "
		    "its containers share no network and no name "
		    "resolution. Run the container without --link.",
		    b->ops->name);
	if (!backend_ctr_unset(
		cJSON_GetObjectItemCaseSensitive(ep, "MacAddress")) ||
	    !backend_ctr_unset(
		cJSON_GetObjectItemCaseSensitive(ep, "DriverOpts")))
		return err_set(e, 400,
		    "a MAC address or network driver options cannot be set "
		    "on the %s backend: the cloud sets up the workload's "
		    "network interface. Run the container without "
		    "--mac-address and --network-opt (driver-opt).",
		    b->ops->name);
	return 0;
}

/* NetworkSettings.Networks at create, as dockerd shows it: one endpoint
 * for the container's network mode ("default" is the bridge), holding
 * what the client set in NetworkingConfig.EndpointsConfig. */
static int
backend_ctr_endpoints(struct backend *b, const cJSON *body, const cJSON *hc,
    cJSON *nets, struct err *e)
{
	const cJSON *ecs =
	    json_obj(json_obj(body, "NetworkingConfig"), "EndpointsConfig");
	const char *nm = json_str(hc, "NetworkMode");
	const char *net =
	    nm == NULL || strcmp(nm, "default") == 0 ? "bridge" : nm;
	const cJSON *it;

	if (str_prefix(net, "container:"))
		return 0;
	cJSON_ArrayForEach(it, ecs) {
		const char *k =
		    strcmp(it->string, "default") == 0 ? "bridge" : it->string;
		if (strcmp(k, net) != 0) {
			if (!b->caps.flag[CAP_NETWORKS])
				return caps_unsupported(
				    &b->caps, CAP_NETWORKS, e);
			continue;
		}
		if (backend_ctr_check_endpoint(b, net, it, e) == -1)
			return -1;
		json_set(nets, net,
		    cJSON_IsObject(it) ? cJSON_Duplicate(it, 1) :
					 cJSON_CreateObject());
	}
	if (json_obj(nets, net) == NULL)
		json_set(nets, net, cJSON_CreateObject());
	return 0;
}

static cJSON *
backend_ctr_new_state(void)
{
	cJSON *st = cJSON_CreateObject();
	char zero[40];

	str_time_rfc3339(zero, sizeof(zero), 0);
	json_add_str(st, "Status", "created");
	json_add_bool(st, "Running", 0);
	json_add_bool(st, "Paused", 0);
	json_add_bool(st, "Restarting", 0);
	json_add_bool(st, "OOMKilled", 0);
	json_add_bool(st, "Dead", 0);
	json_add_int(st, "Pid", 0);
	json_add_int(st, "ExitCode", 0);
	json_add_str(st, "Error", "");
	json_add_str(st, "StartedAt", zero);
	json_add_str(st, "FinishedAt", zero);
	return st;
}

static cJSON *
backend_ctr_network_settings(void)
{
	cJSON *ns = cJSON_CreateObject(), *nets = cJSON_CreateObject();

	json_add_str(ns, "Bridge", "");
	json_add_str(ns, "SandboxID", "");
	cJSON_AddItemToObject(ns, "Ports", cJSON_CreateObject());
	json_add_str(ns, "SandboxKey", "");
	json_add_str(ns, "Gateway", "");
	json_add_str(ns, "IPAddress", "");
	json_add_int(ns, "IPPrefixLen", 0);
	json_add_str(ns, "MacAddress", "");
	cJSON_AddItemToObject(ns, "Networks", nets);
	return ns;
}

/* Docker's drivers that need a collector beside the engine: the workload's
 * output goes to the cloud's log service instead, so they cannot be
 * honoured (API 1.44 has no logentries; etwlogs is Windows only). */
static const char *const backend_ctr_log_foreign[] = { "syslog", "journald",
	"gelf", "fluentd", "awslogs", "splunk", "gcplogs", NULL };

/* The options each readable driver accepts, as dockerd's validators list
 * them; "none" takes any. */
static const char *const backend_ctr_log_opts_json[] = { "max-file", "max-size",
	"compress", "labels", "labels-regex", "env", "env-regex", "tag", NULL };
static const char *const backend_ctr_log_opts_local[] = { "max-file",
	"max-size", "compress", NULL };

static int
backend_ctr_in(const char *const *list, const char *s)
{
	for (; *list != NULL; list++)
		if (strcmp(*list, s) == 0)
			return 1;
	return 0;
}

/* Checks the option keys (dockerd's wording) and that every value is a
 * string, as Docker's map[string]string decoding demands. */
static int
backend_ctr_log_opts(const char *type, const cJSON *cfg, struct err *e)
{
	const cJSON *it;

	if (cfg != NULL && !cJSON_IsNull(cfg) && !cJSON_IsObject(cfg))
		return err_set(e, 400,
		    "HostConfig.LogConfig.Config must be an object of "
		    "option names to string values");
	if (!cJSON_IsObject(cfg))
		return 0;
	cJSON_ArrayForEach(it, cfg) {
		if (!cJSON_IsString(it))
			return err_set(e, 400,
			    "log opt '%s' must be a string value", it->string);
		if (strcmp(type, "json-file") == 0 &&
		    !backend_ctr_in(backend_ctr_log_opts_json, it->string))
			return err_set(e, 400,
			    "unknown log opt '%s' for json-file log driver",
			    it->string);
		if (strcmp(type, "local") == 0 &&
		    !backend_ctr_in(backend_ctr_log_opts_local, it->string))
			return err_set(e, 400,
			    "unknown log opt '%s' for log driver local",
			    it->string);
	}
	return 0;
}

/* Output always goes to the cloud's log service and reads back through the
 * logs API with json-file semantics, so json-file (the default), local and
 * none are kept as the user set them, options included; none only makes
 * docker logs refuse, as dockerd does. */
static int
backend_ctr_log_config(struct backend *b, cJSON *hc, struct err *e)
{
	cJSON *lc = cJSON_GetObjectItemCaseSensitive(hc, "LogConfig");
	const char *type = json_str(lc, "Type");
	const cJSON *cfg = cJSON_GetObjectItemCaseSensitive(lc, "Config");
	cJSON *out;

	if (type == NULL || type[0] == '\0')
		type = "json-file";
	if (backend_ctr_in(backend_ctr_log_foreign, type))
		return err_set(e, 400,
		    "log driver %s cannot be used with the %s backend: it "
		    "keeps a container's output in the cloud's log service "
		    "with json-file semantics (read it with docker logs); "
		    "use --log-driver json-file, local or none",
		    type, b->ops->name);
	if (strcmp(type, "json-file") != 0 && strcmp(type, "local") != 0 &&
	    strcmp(type, "none") != 0)
		return err_set(e, 400,
		    "logger: no log driver named '%s' is registered", type);
	if (backend_ctr_log_opts(type, cfg, e) == -1)
		return -1;
	out = cJSON_CreateObject();
	json_add_str(out, "Type", type);
	cJSON_AddItemToObject(out, "Config",
	    cJSON_IsObject(cfg) ? cJSON_Duplicate(cfg, 1) :
				  cJSON_CreateObject());
	json_set(hc, "LogConfig", out);
	return 0;
}

/* Builds the container document from the create body and the image. */
static cJSON *
backend_ctr_build(struct backend *b, const char *id, const char *name,
    cJSON *body, const cJSON *img, struct err *e)
{
	cJSON *doc = cJSON_CreateObject(), *cfg, *hc, *ns;
	char now[40], hostname[13];
	const char *repo_digest = NULL;
	const cJSON *it;

	cfg = cJSON_Duplicate(body, 1);
	cJSON_DeleteItemFromObjectCaseSensitive(cfg, "HostConfig");
	cJSON_DeleteItemFromObjectCaseSensitive(cfg, "NetworkingConfig");
	hc = cJSON_Duplicate(json_obj(body, "HostConfig"), 1);
	if (hc == NULL)
		hc = cJSON_CreateObject();
	if (backend_ctr_empty(
		cJSON_GetObjectItemCaseSensitive(hc, "NetworkMode")))
		json_set(hc, "NetworkMode", cJSON_CreateString("default"));
	if (backend_ctr_check_numbers(cfg, hc, e) == -1 ||
	    backend_ctr_log_config(b, hc, e) == -1) {
		cJSON_Delete(cfg);
		cJSON_Delete(hc);
		cJSON_Delete(doc);
		return NULL;
	}
	backend_ctr_merge(cfg, json_obj(img, "Config"));
	memcpy(hostname, id, 12);
	hostname[12] = '\0';
	if (backend_ctr_empty(
		cJSON_GetObjectItemCaseSensitive(cfg, "Hostname")))
		json_set(cfg, "Hostname", cJSON_CreateString(hostname));
	ns = backend_ctr_network_settings();
	if (backend_ctr_path_args(doc, cfg, e) == -1 ||
	    backend_ctr_check_host_config(b, hc, e) == -1 ||
	    backend_ctr_check_extras(b, hc, e) == -1 ||
	    backend_ctr_endpoints(b, body, hc, json_obj(ns, "Networks"), e) ==
		-1) {
		cJSON_Delete(ns);
		cJSON_Delete(cfg);
		cJSON_Delete(hc);
		cJSON_Delete(doc);
		return NULL;
	}
	json_add_str(doc, "Id", id);
	str_time_rfc3339(now, sizeof(now), str_now_ns());
	json_add_str(doc, "Created", now);
	cJSON_AddItemToObject(doc, "State", backend_ctr_new_state());
	json_add_str(doc, "Image", json_str(img, "Id"));
	json_set(doc, "Name", cJSON_CreateString(""));
	{
		char *n = xasprintf("/%s", name);
		json_set(doc, "Name", cJSON_CreateString(n));
		free(n);
	}
	json_add_int(doc, "RestartCount", 0);
	json_add_str(doc, "Driver", b->ops->name);
	json_add_str(doc, "Platform", "linux");
	cJSON_AddItemToObject(doc, "HostConfig", hc);
	cJSON_AddItemToObject(doc, "Mounts", cJSON_CreateArray());
	cJSON_AddItemToObject(doc, "Config", cfg);
	cJSON_AddItemToObject(doc, "NetworkSettings", ns);
	/* Pin the workload to what the tag pointed at when created. */
	cJSON_ArrayForEach(it, json_arr(img, "RepoDigests")) {
		if (cJSON_IsString(it)) {
			repo_digest = it->valuestring;
			break;
		}
	}
	if (repo_digest != NULL)
		json_add_str(
		    container_private(&(struct container){ .doc = doc }),
		    "ImageRef", repo_digest);
	return doc;
}

static void
backend_ctr_create_done(void *arg, const struct err *e)
{
	struct backend_ctr_op *op = arg;
	struct backend *b = op->b;
	struct container *c = op->c;
	struct httpsrv_req *r;
	cJSON *out;

	if (e != NULL) {
		struct err se;
		if (store_container_delete(b->store, c->id, &se) == -1)
			log_warnx(
			    "deleting container %.12s: %s", c->id, se.msg);
		c->gone = 1;
		backend_ctr_unlist(b, c);
		backend_ctr_op_reply(op, e, 0);
		backend_ctr_idle(b, c);
		container_unref(c); /* the list's */
		backend_ctr_op_free(op);
		return;
	}
	cJSON_DeleteItemFromObjectCaseSensitive(
	    container_private(c), "Creating");
	backend_ctr_save(b, c);
	backend_sys_container_event(b, c, "create", NULL);
	if ((r = backend_ctr_op_take_req(op)) != NULL) {
		out = cJSON_CreateObject();
		json_add_str(out, "Id", c->id);
		cJSON_AddItemToObject(out, "Warnings", cJSON_CreateArray());
		httpsrv_reply_json(r, 201, out);
		cJSON_Delete(out);
	}
	backend_ctr_idle(b, c);
	backend_ctr_op_free(op);
}

static struct container *
backend_ctr_by_name(struct backend *b, const char *name)
{
	return backend_index_get(&b->by_name, name);
}

static int
backend_ctr_name_taken(const char *name, void *arg)
{
	return backend_ctr_by_name(arg, name) != NULL;
}

void
backend_ctr_create(
    struct backend *b, struct httpsrv_req *r, const struct router_match *m)
{
	const char *qname = httpsrv_req_query(r, "name"), *image = NULL;
	char id[65], *name = NULL;
	cJSON *body = NULL, *img = NULL, *doc;
	struct container *c, *other;
	struct err e;
	size_t len;
	const char *data = httpsrv_req_body(r, &len);

	(void)m;
	err_clear(&e);
	if ((body = json_parse(data, len, &e)) == NULL)
		goto fail;
	if (!cJSON_IsObject(body)) {
		err_set(&e, 400, "invalid JSON: the body must be an object");
		goto fail;
	}
	if (json_check_str(body, "Image", &image, &e) == -1 ||
	    json_check_strmap(
		body, "Labels", "ContainerConfigWrapper.Labels", &e) == -1)
		goto fail;
	if (image == NULL || image[0] == '\0') {
		err_set(&e, 400,
		    "Config.Image is required: name the image to "
		    "run");
		goto fail;
	}
	if (qname != NULL && qname[0] != '\0') {
		if (id_valid_name(qname, &e) == -1)
			goto fail;
		name = xstrdup(qname[0] == '/' ? qname + 1 : qname);
		if ((other = backend_ctr_by_name(b, name)) != NULL) {
			err_set(&e, 409,
			    "Conflict. The container name \"/%s\" "
			    "is already in use by container \"%s\". "
			    "You have to remove (or rename) that "
			    "container to be able to reuse that "
			    "name.",
			    name, other->id);
			goto fail;
		}
	}
	if ((img = backend_img_find(b, image)) == NULL) {
		err_set(&e, 404, "No such image: %s", image);
		goto fail;
	}
	id_new(id);
	if (name == NULL &&
	    (name = id_pick_name(id, backend_ctr_name_taken, b)) == NULL) {
		err_set(&e, 500, "no free name for container %s", id);
		goto fail;
	}
	if ((doc = backend_ctr_build(b, id, name, body, img, &e)) == NULL)
		goto fail;
	c = container_new(id, doc);
	backend_ctr_enlist(b, c); /* reserves the name */
	backend_ctr_set_busy(c, CTR_CREATING);
	/* Journalled before the backend makes cloud resources, so that a
	 * restart finds what a create cut short and removes it. */
	json_set(container_private(c), "Creating", cJSON_CreateTrue());
	backend_ctr_save(b, c);
	if (b->ops->create != NULL)
		b->ops->create(
		    b, c, backend_ctr_create_done, backend_ctr_op_new(b, c, r));
	else
		backend_ctr_create_done(backend_ctr_op_new(b, c, r), NULL);
	goto out;
fail:
	httpsrv_reply_err(r, &e);
out:
	free(name);
	cJSON_Delete(body);
	cJSON_Delete(img);
}

/* --- list and inspect --------------------------------------------------- */

static const char *backend_ctr_filter_keys[] = { "id", "name", "label",
	"status", "exited", "ancestor", "before", "since", "network", "volume",
	"health", "isolation", "is-task", "publish", "expose", NULL };

static int
backend_ctr_matches(struct backend *b, const struct container *c,
    const struct filters *f, struct err *e)
{
	const char *status = json_str(json_obj(c->doc, "State"), "Status");
	const char *names[2] = { container_name(c), NULL };
	char exit_code[16];
	int r;

	(void)b;
	if (!filters_match_id_prefix(f, "id", c->id))
		return 0;
	if ((r = filters_match_regex(f, "name", names, e)) <= 0)
		return r;
	if (!filters_match_labels(
		f, "label", json_obj(container_config(c), "Labels")))
		return 0;
	if (!filters_match_exact(f, "status", status))
		return 0;
	snprintf(exit_code, sizeof(exit_code), "%lld",
	    (long long)json_int(json_obj(c->doc, "State"), "ExitCode", 0));
	if (filters_has(f, "exited") &&
	    (strcmp(status, "exited") != 0 ||
		!filters_match_exact(f, "exited", exit_code)))
		return 0;
	if (filters_has(f, "ancestor") &&
	    !filters_match_exact(f, "ancestor", container_image(c)) &&
	    !filters_match_exact(f, "ancestor", json_str(c->doc, "Image")))
		return 0;
	return 1;
}

static int
backend_ctr_newest_first(const void *a, const void *b)
{
	const struct container *ca = *(struct container *const *)a;
	const struct container *cb = *(struct container *const *)b;
	int64_t ta = 0, tb = 0;

	str_time_parse(json_str(ca->doc, "Created"), &ta);
	str_time_parse(json_str(cb->doc, "Created"), &tb);
	if (ta != tb)
		return ta < tb ? 1 : -1;
	return strcmp(ca->id, cb->id);
}

/* The containers ps looks at, newest first, NULL-terminated (the caller
 * frees the array): the running ones come from the active index, so that a
 * plain docker ps does not walk a state of 100k containers. */
static struct container **
backend_ctr_list_candidates(struct backend *b, int running_only)
{
	struct container **v, *c;
	size_t n = 0;

	if (running_only) {
		v = xreallocarray(NULL, b->active.n + 1, sizeof(*v));
		for (n = 0; n < b->active.n; n++)
			v[n] = b->active.v[n];
		qsort(v, n, sizeof(*v), backend_ctr_newest_first);
	} else {
		v = xreallocarray(NULL, b->by_id.n + 1, sizeof(*v));
		TAILQ_FOREACH(c, &b->containers, entry)
			v[n++] = c;
	}
	v[n] = NULL;
	return v;
}

void
backend_ctr_list(
    struct backend *b, struct httpsrv_req *r, const struct router_match *m)
{
	int all = backend_query_bool(r, "all", 0);
	const char *limit_s = httpsrv_req_query(r, "limit"), *errstr;
	long long limit = -1;
	struct filters *f = NULL;
	struct container *c, **v = NULL;
	cJSON *out = NULL;
	struct err e;
	int matched, running_only;

	(void)m;
	err_clear(&e);
	if (limit_s != NULL && limit_s[0] != '\0' &&
	    str_tonum(limit_s, INT_MIN, INT_MAX, &limit, &errstr) == -1) {
		err_set(&e, 400,
		    "invalid value for limit: \"%s\" is %s: use a whole "
		    "number (0 or less for no limit)",
		    limit_s, backend_ctr_why(errstr));
		goto fail;
	}
	if ((f = filters_parse(httpsrv_req_query(r, "filters"),
		 backend_ctr_filter_keys, &e)) == NULL)
		goto fail;
	if (filters_check_values(f, "status",
		(const char *[]){ "created", "restarting", "running",
		    "removing", "paused", "exited", "dead", NULL },
		&e) == -1)
		goto fail;
	out = cJSON_CreateArray();
	running_only =
	    !all && !filters_has(f, "status") && !filters_has(f, "exited");
	v = backend_ctr_list_candidates(b, running_only);
	for (size_t i = 0; (c = v[i]) != NULL; i++) {
		const char *status =
		    json_str(json_obj(c->doc, "State"), "Status");
		if (running_only &&
		    (status == NULL ||
			(strcmp(status, "running") != 0 &&
			    strcmp(status, "paused") != 0)))
			continue;
		if ((matched = backend_ctr_matches(b, c, f, &e)) == -1)
			goto fail;
		if (!matched)
			continue;
		if (limit > 0 && cJSON_GetArraySize(out) >= limit)
			break;
		cJSON_AddItemToArray(out, container_summary_json(c));
	}
	httpsrv_reply_json(r, 200, out);
	cJSON_Delete(out);
	filters_free(f);
	free(v);
	return;
fail:
	cJSON_Delete(out);
	filters_free(f);
	free(v);
	httpsrv_reply_err(r, &e);
}

void
backend_ctr_inspect(
    struct backend *b, struct httpsrv_req *r, const struct router_match *m)
{
	struct container *c;
	cJSON *o;

	if ((c = backend_lookup_or_reply(b, r, router_param(m, "id"))) == NULL)
		return;
	o = container_inspect_json(c);
	if (backend_query_bool(r, "size", 0)) {
		json_add_int(o, "SizeRw", 0);
		json_add_int(o, "SizeRootFs", 0);
	}
	httpsrv_reply_json(r, 200, o);
	cJSON_Delete(o);
}

/* --- state reports from backends --------------------------------------- */

void
backend_container_started(
    struct backend *b, struct container *c, int64_t started_ns)
{
	char ts[40];

	str_time_rfc3339(ts, sizeof(ts), started_ns);
	json_set(container_state(c), "StartedAt", cJSON_CreateString(ts));
	backend_ctr_save(b, c);
	backend_agent_container_running(b, c);
}

void
backend_container_set_address(
    struct backend *b, struct container *c, const char *ip)
{
	cJSON *ns = json_obj(c->doc, "NetworkSettings"), *ports, *net;
	const cJSON *bindings =
	    json_obj(container_host_config(c), "PortBindings");
	const cJSON *exposed = json_obj(container_config(c), "ExposedPorts");
	const cJSON *it, *bd;

	json_set(ns, "IPAddress", cJSON_CreateString(ip));
	ports = cJSON_CreateObject();
	cJSON_ArrayForEach(it, exposed) {
		cJSON_AddItemToObject(ports, it->string, cJSON_CreateNull());
	}
	/* awsvpc-style networking: the host port is the container port on
	 * the workload's own address. */
	cJSON_ArrayForEach(it, bindings) {
		cJSON *list;
		const char *proto;
		int no;

		if (container_port_parse(it->string, &no, &proto) == -1)
			continue;
		list = cJSON_CreateArray();
		cJSON_ArrayForEach(bd, it) {
			cJSON *p = cJSON_CreateObject();
			char port[16];
			snprintf(port, sizeof(port), "%d", no);
			json_add_str(p, "HostIp", ip);
			json_add_str(p, "HostPort", port);
			cJSON_AddItemToArray(list, p);
		}
		json_set(ports, it->string, list);
	}
	json_set(ns, "Ports", ports);
	/* The endpoint made at create keeps what the client set in it. */
	if ((net = json_obj(json_obj(ns, "Networks"), "bridge")) == NULL) {
		net = cJSON_CreateObject();
		json_set(json_obj(ns, "Networks"), "bridge", net);
	}
	json_set(net, "IPAddress", cJSON_CreateString(ip));
	json_set(net, "IPPrefixLen", cJSON_CreateNumber(32));
	backend_ctr_save(b, c);
}

void
backend_container_exited(struct backend *b, struct container *c, int exit_code,
    int64_t finished_ns, const char *error)
{
	cJSON *st = container_state(c), *attrs;
	char ts[40], code[16];

	if (c->gone || !container_running(c))
		return;
	str_time_rfc3339(ts, sizeof(ts), finished_ns);
	container_set_state(c, "exited");
	json_set(st, "ExitCode", cJSON_CreateNumber(exit_code));
	json_set(st, "FinishedAt", cJSON_CreateString(ts));
	json_set(st, "Pid", cJSON_CreateNumber(0));
	json_set(st, "Error", cJSON_CreateString(error ? error : ""));
	backend_ctr_save(b, c);
	backend_ctr_set_active(b, c, 0);
	attrs = cJSON_CreateObject();
	snprintf(code, sizeof(code), "%d", exit_code);
	json_add_str(attrs, "exitCode", code);
	backend_sys_container_event(b, c, "die", attrs);
	backend_logs_container_exited(b, c);
	backend_agent_container_exited(b, c);
	backend_ctr_notify_waiters(b, c, 0);
	if (json_bool(container_host_config(c), "AutoRemove", 0) &&
	    !c->stopping)
		backend_ctr_remove_now(b, c, NULL);
}

/* A start the backend had sent to the cloud when the process died: the
 * workload was found running (or run), so the container is running. */
void
backend_container_adopted(
    struct backend *b, struct container *c, int64_t started_ns)
{
	char ts[40];

	if (c->gone || container_running(c))
		return;
	str_time_rfc3339(ts, sizeof(ts), started_ns);
	container_set_state(c, "running");
	json_set(container_state(c), "StartedAt", cJSON_CreateString(ts));
	json_set(container_state(c), "Error", cJSON_CreateString(""));
	json_set(container_state(c), "ExitCode", cJSON_CreateNumber(0));
	backend_ctr_save(b, c);
	backend_ctr_set_active(b, c, 1); /* the pollers visit it again */
	backend_sys_container_event(b, c, "start", NULL);
}

/* Containers whose create was cut short by the end of the process: the
 * client never got their id, so they and whatever the backend made for
 * them are removed. Runs once the backend can reach its cloud. */
void
backend_ctr_resolve_creating(struct backend *b)
{
	struct container *c, *next;

	for (c = TAILQ_FIRST(&b->containers); c != NULL; c = next) {
		next = TAILQ_NEXT(c, entry);
		if (!json_bool(container_private(c), "Creating", 0))
			continue;
		log_warnx("container %.12s: its create was interrupted by a "
			  "restart; removing it and its cloud resources",
		    c->id);
		backend_ctr_remove_now(b, c, NULL);
	}
}

/* --- start -------------------------------------------------------------- */

static void
backend_ctr_start_done(void *arg, const struct err *e)
{
	struct backend_ctr_op *op = arg;
	struct container *c = op->c;
	char ts[40];

	if (e != NULL) {
		json_set(
		    container_state(c), "Error", cJSON_CreateString(e->msg));
		backend_ctr_save(op->b, c);
		backend_ctr_set_active(op->b, c, container_running(c));
		backend_ctr_op_reply(op, e, 0);
		backend_agent_start_failed(op->b, c);
		backend_ctr_idle(op->b, c);
		/* Like dockerd: --rm removes a container that failed to
		 * start, which ends the client's wait for its removal. */
		if (!c->gone &&
		    json_bool(container_host_config(c), "AutoRemove", 0))
			backend_ctr_remove_now(op->b, c, NULL);
		backend_ctr_op_free(op);
		return;
	}
	str_time_rfc3339(ts, sizeof(ts), str_now_ns());
	container_set_state(c, "running");
	json_set(container_state(c), "StartedAt", cJSON_CreateString(ts));
	json_set(container_state(c), "Error", cJSON_CreateString(""));
	json_set(container_state(c), "ExitCode", cJSON_CreateNumber(0));
	backend_ctr_save(op->b, c);
	backend_sys_container_event(op->b, c, "start", NULL);
	backend_ctr_op_reply(op, NULL, 204);
	backend_ctr_idle(op->b, c);
	backend_ctr_op_free(op);
}

static void
backend_ctr_start_op(struct backend_ctr_op *op)
{
	backend_ctr_set_busy(op->c, CTR_STARTING);
	backend_ctr_set_active(op->b, op->c, 1);
	op->b->ops->start(op->b, op->c, backend_ctr_start_done, op);
}

void
backend_ctr_start(
    struct backend *b, struct httpsrv_req *r, const struct router_match *m)
{
	struct container *c;

	if ((c = backend_lookup_or_reply(b, r, router_param(m, "id"))) ==
		NULL ||
	    backend_ctr_park(c, r, m, backend_ctr_start))
		return;
	if (container_running(c)) {
		httpsrv_reply_empty(r, 304);
		return;
	}
	backend_ctr_start_op(backend_ctr_op_new(b, c, r));
}

/* --- stop, kill, restart ------------------------------------------------ */

static int backend_ctr_stop_signal(const struct container *c);

/* Answers a stop once the container has really exited (or the deadline
 * passed, which means the cloud did not stop it in time). */
static void
backend_ctr_stop_finish(struct backend_ctr_op *op, const struct err *e)
{
	struct backend *b = op->b;
	struct container *c = op->c;

	c->stopping = 0;
	if (e == NULL && op->signo == 0 && op->timer != NULL)
		backend_sys_container_event(b, c, "stop", NULL);
	if (e == NULL && op->then_start) {
		op->then_start = 0;
		backend_sys_container_event(b, c, "restart", NULL);
		if (op->timer != NULL) {
			event_free(op->timer);
			op->timer = NULL;
		}
		backend_ctr_start_op(op);
		return;
	}
	backend_ctr_op_reply(op, e, 204);
	if (e == NULL && !c->gone &&
	    json_bool(container_host_config(c), "AutoRemove", 0))
		backend_ctr_remove_now(b, c, NULL);
	backend_ctr_op_free(op);
}

static void
backend_ctr_stop_poll(evutil_socket_t fd, short ev, void *arg)
{
	struct backend_ctr_op *op = arg;
	struct timeval tv = { 0, 100000 };
	struct err e;

	(void)fd;
	(void)ev;
	if (!container_running(op->c) || op->c->gone) {
		backend_ctr_stop_finish(op, NULL);
		return;
	}
	if (--op->timeout_s <= -600) {
		/* 60 s past the kill deadline at 100 ms per tick. */
		err_set(&e, 500,
		    "the cloud did not stop container %.12s in "
		    "time; it may still be running",
		    op->c->id);
		backend_ctr_stop_finish(op, &e);
		return;
	}
	evtimer_add(op->timer, &tv);
}

static void
backend_ctr_stop_sent(void *arg, const struct err *e)
{
	struct backend_ctr_op *op = arg;
	struct timeval tv = { 0, 100000 };

	if (e != NULL) {
		backend_ctr_stop_finish(op, e);
		return;
	}
	op->timeout_s = op->timeout_s * 10; /* ticks of 100 ms */
	op->timer = evtimer_new(op->b->base, backend_ctr_stop_poll, op);
	evtimer_add(op->timer, &tv);
}

/* The seconds to wait before the kill: ?t=, else the container's
 * StopTimeout, else the configured default. Answers 400 and returns -2 for
 * a bad ?t=. */
static int
backend_ctr_stop_timeout(
    struct backend *b, struct httpsrv_req *r, const struct container *c)
{
	const char *t = httpsrv_req_query(r, "t"), *errstr;
	int64_t ct = json_int(container_config(c), "StopTimeout", -1);
	long long v;

	if (t != NULL && t[0] != '\0') {
		if (str_tonum(t, -1, BACKEND_CTR_MAX_STOP_TIMEOUT, &v,
			&errstr) == -1) {
			httpsrv_reply_error(r, 400,
			    "invalid value for t: \"%s\" is %s: use -1 (no "
			    "limit) or a number of seconds up to %d",
			    t, backend_ctr_why(errstr),
			    BACKEND_CTR_MAX_STOP_TIMEOUT);
			return -2;
		}
		return (int)v;
	}
	if (ct >= 0 && ct <= BACKEND_CTR_MAX_STOP_TIMEOUT)
		return (int)ct;
	return (int)b->conf.stop_timeout;
}

void
backend_ctr_stop(
    struct backend *b, struct httpsrv_req *r, const struct router_match *m)
{
	struct container *c;
	struct backend_ctr_op *op;
	int timeout_s;

	if ((c = backend_lookup_or_reply(b, r, router_param(m, "id"))) ==
		NULL ||
	    backend_ctr_park(c, r, m, backend_ctr_stop))
		return;
	if ((timeout_s = backend_ctr_stop_timeout(b, r, c)) == -2)
		return;
	if (!container_running(c)) {
		httpsrv_reply_empty(r, 304);
		return;
	}
	op = backend_ctr_op_new(b, c, r);
	op->timeout_s = timeout_s;
	c->stopping = 1;
	backend_sys_kill_event(b, c, backend_ctr_stop_signal(c));
	b->ops->stop(b, c, op->timeout_s, backend_ctr_stop_sent, op);
}

void
backend_ctr_restart(
    struct backend *b, struct httpsrv_req *r, const struct router_match *m)
{
	struct container *c;
	struct backend_ctr_op *op;
	int timeout_s;

	if ((c = backend_lookup_or_reply(b, r, router_param(m, "id"))) ==
		NULL ||
	    backend_ctr_park(c, r, m, backend_ctr_restart))
		return;
	if ((timeout_s = backend_ctr_stop_timeout(b, r, c)) == -2)
		return;
	op = backend_ctr_op_new(b, c, r);
	op->then_start = 1;
	if (!container_running(c)) {
		backend_ctr_stop_finish(op, NULL);
		return;
	}
	op->timeout_s = timeout_s;
	c->stopping = 1;
	backend_sys_kill_event(b, c, backend_ctr_stop_signal(c));
	b->ops->stop(b, c, op->timeout_s, backend_ctr_stop_sent, op);
}

static void
backend_ctr_kill_done(void *arg, const struct err *e)
{
	struct backend_ctr_op *op = arg;

	backend_ctr_op_reply(op, e, 204);
	backend_ctr_op_free(op);
}

/* The agent's answer to a kill; without an agent (or when it cannot be
 * reached) KILL and TERM go through the cloud's stop call instead. */
static void
backend_ctr_kill_agent_done(void *arg, const struct err *e)
{
	struct backend_ctr_op *op = arg;

	if (e == NULL && op->signo == SIGKILL && container_running(op->c)) {
		/* Like dockerd, answer a KILL once the container is down, so
		 * `docker kill c && docker rm c` works. */
		op->c->stopping = 1;
		op->timeout_s = 0;
		backend_ctr_stop_sent(op, NULL);
		return;
	}
	if (e == NULL || (op->signo != SIGKILL && op->signo != SIGTERM) ||
	    !container_running(op->c)) {
		backend_ctr_kill_done(op, e);
		return;
	}
	if (e->status != 501)
		log_warnx("container %.12s: signal through the agent: %s; "
			  "using the cloud's stop call",
		    op->c->id, e->msg);
	op->b->ops->kill(op->b, op->c, op->signo, backend_ctr_kill_done, op);
}

/* Parses "SIGKILL", "KILL", "9". Returns -1 when unknown. */
static int
backend_ctr_signal(const char *s)
{
	static const struct {
		const char *name;
		int no;
	} sigs[] = { { "HUP", SIGHUP }, { "INT", SIGINT }, { "QUIT", SIGQUIT },
		{ "KILL", SIGKILL }, { "USR1", SIGUSR1 }, { "USR2", SIGUSR2 },
		{ "TERM", SIGTERM }, { "STOP", SIGSTOP }, { "CONT", SIGCONT },
		{ "ALRM", SIGALRM }, { "WINCH", SIGWINCH } };
	long long v;
	const char *errstr;

	if (s == NULL || s[0] == '\0')
		return SIGKILL;
	if (str_tonum(s, 1, 64, &v, &errstr) == 0)
		return (int)v;
	if (strncasecmp(s, "SIG", 3) == 0)
		s += 3;
	for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
		if (strcasecmp(s, sigs[i].name) == 0)
			return sigs[i].no;
	return -1;
}

/* The signal a stop sends first: the container's StopSignal, else TERM. */
static int
backend_ctr_stop_signal(const struct container *c)
{
	const char *s = json_str(container_config(c), "StopSignal");
	int signo;

	if (s == NULL || s[0] == '\0' || (signo = backend_ctr_signal(s)) == -1)
		return SIGTERM;
	return signo;
}

void
backend_ctr_kill(
    struct backend *b, struct httpsrv_req *r, const struct router_match *m)
{
	struct container *c;
	const char *sig = httpsrv_req_query(r, "signal");
	int signo = backend_ctr_signal(sig);
	struct backend_ctr_op *op;
	struct err e;

	if ((c = backend_lookup_or_reply(b, r, router_param(m, "id"))) ==
		NULL ||
	    backend_ctr_park(c, r, m, backend_ctr_kill))
		return;
	if (signo == -1) {
		httpsrv_reply_error(r, 400, "Invalid signal: %s", sig);
		return;
	}
	if (!container_running(c)) {
		httpsrv_reply_error(
		    r, 409, "Container %s is not running", c->id);
		return;
	}
	if (signo != SIGKILL && signo != SIGTERM &&
	    !b->caps.flag[CAP_SIGNALS]) {
		caps_unsupported(&b->caps, CAP_SIGNALS, &e);
		httpsrv_reply_err(r, &e);
		return;
	}
	op = backend_ctr_op_new(b, c, r);
	op->signo = signo;
	backend_sys_kill_event(b, c, signo);
	/* The agent delivers any signal to the workload's own process; the
	 * cloud's stop call is the way for KILL and TERM without one. */
	if (backend_agent_signal(
		b, c, signo, backend_ctr_kill_agent_done, op, &e) == 0)
		return;
	backend_ctr_kill_agent_done(op, &e);
}

/* --- wait --------------------------------------------------------------- */

static void
backend_ctr_waiter_free(struct backend_waiter *w)
{
	TAILQ_REMOVE(&w->c->waiters->list, w, entry);
	container_unref(w->c);
	free(w);
}

static void
backend_ctr_waiter_gone(struct httpsrv_req *r, void *arg)
{
	(void)r;
	backend_ctr_waiter_free(arg);
}

static void
backend_ctr_waiter_answer(struct backend_waiter *w)
{
	const cJSON *st = json_obj(w->c->doc, "State");
	const char *error = json_str(st, "Error");
	char *s;
	cJSON *o = cJSON_CreateObject(), *eo;

	json_add_int(o, "StatusCode", json_int(st, "ExitCode", 0));
	if (error != NULL && error[0] != '\0') {
		eo = cJSON_CreateObject();
		json_add_str(eo, "Message", error);
		cJSON_AddItemToObject(o, "Error", eo);
	} else {
		cJSON_AddNullToObject(o, "Error");
	}
	s = json_print(o);
	httpsrv_req_on_close(w->req, NULL, NULL);
	httpsrv_stream_line(w->req, s, "\n");
	httpsrv_stream_end(w->req);
	free(s);
	cJSON_Delete(o);
	backend_ctr_waiter_free(w);
}

/* dockerd sets a container's exit only once its output has been copied
 * to every attached client, so a client that stops reading its attach
 * stream when wait answers (dockerode's run, docker-py scripts) has it
 * all. Our exit comes from the cloud, and the attach streams drain after
 * it (log ingestion, the agent's last frames): a waiter whose condition
 * held is answered once no attach stream is open. */
static void
backend_ctr_waiter_due(struct backend_waiter *w)
{
	if (w->c->waiters->attached > 0)
		w->due = 1;
	else
		backend_ctr_waiter_answer(w);
}

void
backend_ctr_notify_waiters(struct backend *b, struct container *c, int removed)
{
	struct backend_waiter *w, *next;

	(void)b;
	if (c->waiters == NULL)
		return;
	for (w = TAILQ_FIRST(&c->waiters->list); w != NULL; w = next) {
		next = TAILQ_NEXT(w, entry);
		if (removed || w->cond != WAIT_REMOVED)
			backend_ctr_waiter_due(w);
	}
}

void
backend_ctr_attach_open(struct container *c)
{
	backend_ctr_life(c)->attached++;
}

void
backend_ctr_attach_closed(struct container *c)
{
	struct backend_waiter *w, *next;

	if (c->waiters == NULL || c->waiters->attached == 0)
		return;
	if (--c->waiters->attached > 0)
		return;
	for (w = TAILQ_FIRST(&c->waiters->list); w != NULL; w = next) {
		next = TAILQ_NEXT(w, entry);
		if (w->due)
			backend_ctr_waiter_answer(w);
	}
}

void
backend_ctr_wait(
    struct backend *b, struct httpsrv_req *r, const struct router_match *m)
{
	struct container *c;
	struct backend_waiter *w;
	const char *cond = httpsrv_req_query(r, "condition");

	if ((c = backend_lookup_or_reply(b, r, router_param(m, "id"))) == NULL)
		return;
	w = xcalloc(1, sizeof(*w));
	if (cond == NULL || cond[0] == '\0' || strcmp(cond, "not-running") == 0)
		w->cond = WAIT_NOT_RUNNING;
	else if (strcmp(cond, "next-exit") == 0)
		w->cond = WAIT_NEXT_EXIT;
	else if (strcmp(cond, "removed") == 0)
		w->cond = WAIT_REMOVED;
	else {
		free(w);
		httpsrv_reply_error(r, 400, "invalid condition: \"%s\"", cond);
		return;
	}
	w->req = r;
	w->c = c;
	container_ref(c);
	TAILQ_INSERT_TAIL(&backend_ctr_life(c)->list, w, entry);
	/* Headers go out now: clients wait for them before starting. */
	httpsrv_stream_begin(r, 200, "application/json");
	httpsrv_req_on_close(r, backend_ctr_waiter_gone, w);
	/* A container that never ran has no output to wait for. */
	if (w->cond == WAIT_NOT_RUNNING && !container_running(c)) {
		const char *st = json_str(json_obj(c->doc, "State"), "Status");
		if (st != NULL && strcmp(st, "created") == 0)
			backend_ctr_waiter_answer(w);
		else
			backend_ctr_waiter_due(w);
	}
}

/* --- remove ------------------------------------------------------------- */

static void
backend_ctr_removed(struct backend_ctr_op *op, const struct err *e)
{
	struct backend *b = op->b;
	struct container *c = op->c;
	struct err se;

	if (e != NULL) {
		container_set_state(c, "dead");
		json_set(
		    container_state(c), "Error", cJSON_CreateString(e->msg));
		backend_ctr_save(b, c);
		if (op->req == NULL)
			log_warnx(
			    "removing container %.12s: %s", c->id, e->msg);
		backend_ctr_op_reply(op, e, 0);
		backend_ctr_idle(b, c);
		backend_ctr_op_free(op);
		return;
	}
	if (store_container_delete(b->store, c->id, &se) == -1)
		log_warnx("deleting container %.12s: %s", c->id, se.msg);
	c->gone = 1;
	backend_ctr_unlist(b, c);
	backend_sys_container_event(b, c, "destroy", NULL);
	backend_ctr_notify_waiters(b, c, 1);
	backend_ctr_op_reply(op, NULL, 204);
	backend_ctr_idle(b, c);
	container_unref(c); /* the list's reference */
	backend_ctr_op_free(op);
}

static void
backend_ctr_remove_done(void *arg, const struct err *e)
{
	backend_ctr_removed(arg, e);
}

/* Releases the cloud resources and forgets the container; the caller
 * has made it CTR_REMOVING or checked that nothing is in flight. */
static void
backend_ctr_remove_start(
    struct backend *b, struct container *c, struct httpsrv_req *req)
{
	struct backend_ctr_op *op = backend_ctr_op_new(b, c, req);

	backend_ctr_set_busy(c, CTR_REMOVING);
	container_set_state(c, "removing");
	backend_ctr_save(b, c); /* a restart finishes what was begun */
	if (b->ops->remove != NULL)
		b->ops->remove(b, c, backend_ctr_remove_done, op);
	else
		backend_ctr_removed(op, NULL);
}

/* A removal nobody asked for over the API (--rm, prune): once only. */
static void
backend_ctr_remove_now(
    struct backend *b, struct container *c, struct httpsrv_req *req)
{
	if (backend_ctr_busy(c) == CTR_REMOVING)
		return;
	backend_ctr_remove_start(b, c, req);
}

static void
backend_ctr_force_killed(void *arg, const struct err *e)
{
	struct backend_ctr_op *op = arg;
	struct container *c = op->c;

	if (e != NULL) {
		c->stopping = 0;
		backend_ctr_op_reply(op, e, 0);
		backend_ctr_idle(op->b, c);
		backend_ctr_op_free(op);
		return;
	}
	/* The exit report may come later; Docker removes at once. */
	if (container_running(c))
		backend_container_exited(op->b, c, 137, str_now_ns(), NULL);
	if (!c->gone)
		backend_ctr_remove_start(op->b, c, backend_ctr_op_take_req(op));
	else
		backend_ctr_op_reply(op, NULL, 204);
	backend_ctr_op_free(op);
}

void
backend_ctr_remove(
    struct backend *b, struct httpsrv_req *r, const struct router_match *m)
{
	struct container *c;
	int force = backend_query_bool(r, "force", 0);

	if ((c = backend_lookup_or_reply(b, r, router_param(m, "id"))) == NULL)
		return;
	if (backend_query_bool(r, "v", 0) && !b->caps.flag[CAP_VOLUMES]) {
		/* Nothing to remove: the backend never made volumes. */
	}
	if (backend_ctr_busy(c) == CTR_REMOVING) {
		httpsrv_reply_error(r, 409,
		    "removal of container %s is "
		    "already in progress",
		    c->id);
		return;
	}
	/* A remove during a create or a start waits for it. */
	if (backend_ctr_park(c, r, m, backend_ctr_remove))
		return;
	if (container_running(c)) {
		if (!force) {
			httpsrv_reply_error(r, 409,
			    "cannot remove container \"/%s\": container is "
			    "running: stop the container before removing or "
			    "force remove",
			    container_name(c));
			return;
		}
		c->stopping = 1;
		backend_ctr_set_busy(c, CTR_REMOVING);
		b->ops->kill(b, c, SIGKILL, backend_ctr_force_killed,
		    backend_ctr_op_new(b, c, r));
		return;
	}
	backend_ctr_remove_start(b, c, r);
}

/* Removals a restart interrupted (the record says "removing") finish now
 * that the backend knows its cloud again; a failure leaves the container
 * Dead, which docker rm retries. */
void
backend_ctr_resume(struct backend *b)
{
	struct container *c, *next;

	for (c = TAILQ_FIRST(&b->containers); c != NULL; c = next) {
		next = TAILQ_NEXT(c, entry);
		const char *st = json_str(container_state(c), "Status");
		if (st == NULL || strcmp(st, "removing") != 0)
			continue;
		log_info("container %.12s: finishing its removal", c->id);
		/* An interrupted create (backend_ctr_resolve_creating) may
		 * have started this removal already. */
		backend_ctr_remove_now(b, c, NULL);
	}
}

/* --- rename, prune, update --------------------------------------------- */

void
backend_ctr_rename(
    struct backend *b, struct httpsrv_req *r, const struct router_match *m)
{
	struct container *c, *other;
	const char *name = httpsrv_req_query(r, "name");
	char *old, *n;
	cJSON *attrs;
	struct err e;

	if ((c = backend_lookup_or_reply(b, r, router_param(m, "id"))) == NULL)
		return;
	if (name == NULL || name[0] == '\0' || id_valid_name(name, &e) == -1) {
		if (name == NULL || name[0] == '\0')
			err_set(&e, 400,
			    "Neither old nor new names may be "
			    "empty");
		httpsrv_reply_err(r, &e);
		return;
	}
	if (name[0] == '/')
		name++;
	if ((other = backend_ctr_by_name(b, name)) != NULL) {
		httpsrv_reply_error(r, 409,
		    "Conflict. The container name "
		    "\"/%s\" is already in use by "
		    "container \"%s\". You have to "
		    "remove (or rename) that container "
		    "to be able to reuse that name.",
		    name, other->id);
		return;
	}
	old = xasprintf("/%s", container_name(c));
	n = xasprintf("/%s", name);
	backend_index_del(&b->by_name, c);
	json_set(c->doc, "Name", cJSON_CreateString(n));
	backend_index_add(&b->by_name, c);
	backend_ctr_save(b, c);
	attrs = cJSON_CreateObject();
	json_add_str(attrs, "oldName", old);
	backend_sys_container_event(b, c, "rename", attrs);
	free(old);
	free(n);
	httpsrv_reply_empty(r, 204);
}

void
backend_ctr_prune(
    struct backend *b, struct httpsrv_req *r, const struct router_match *m)
{
	static const char *keys[] = { "label", "label!", "until", NULL };
	struct container *c, *next;
	struct filters *f;
	cJSON *out, *deleted;
	struct err e;
	int64_t until = 0;

	(void)m;
	if ((f = filters_parse(httpsrv_req_query(r, "filters"), keys, &e)) ==
	    NULL) {
		httpsrv_reply_err(r, &e);
		return;
	}
	if (filters_until(f, &until, &e) == -1) {
		filters_free(f);
		httpsrv_reply_err(r, &e);
		return;
	}
	out = cJSON_CreateObject();
	deleted = cJSON_CreateArray();
	for (c = TAILQ_FIRST(&b->containers); c != NULL; c = next) {
		int64_t created = 0;
		next = TAILQ_NEXT(c, entry);
		str_time_parse(json_str(c->doc, "Created"), &created);
		if (container_running(c) || backend_ctr_busy(c) != CTR_IDLE ||
		    !filters_match_labels(
			f, "label", json_obj(container_config(c), "Labels")) ||
		    (until != 0 && created > until))
			continue;
		cJSON_AddItemToArray(deleted, cJSON_CreateString(c->id));
		backend_ctr_remove_now(b, c, NULL);
	}
	/* dockerd's report has null, not [], when nothing was deleted. */
	cJSON_AddItemToObject(out, "ContainersDeleted",
	    cJSON_GetArraySize(deleted) > 0 ? deleted : cJSON_CreateNull());
	if (cJSON_GetArraySize(deleted) == 0)
		cJSON_Delete(deleted);
	/* A workload's writable layer lives and dies with its cloud task:
	 * nothing of it is on this host to reclaim (docs/compat.md). */
	json_add_int(out, "SpaceReclaimed", 0);
	httpsrv_reply_json(r, 200, out);
	cJSON_Delete(out);
	filters_free(f);
}
