/* The shared main() of every backend: configuration, the store, the
 * internal API listener and its route table, signals, and the services
 * backends call back into. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <event2/event.h>

#include "backend_agent.h"
#include "backend_ctr.h"
#include "backend_img.h"
#include "backend_logs.h"
#include "backend_net.h"
#include "backend_port.h"
#include "backend_sys.h"
#include "backend_vol.h"
#include "sockerless/backend_kit.h"
#include "sockerless/config.h"
#include "sockerless/evloop.h"
#include "sockerless/httpcli.h"
#include "sockerless/id.h"
#include "sockerless/json.h"
#include "sockerless/listen.h"
#include "sockerless/log.h"
#include "sockerless/store.h"
#include "sockerless/str.h"
#include "sockerless/tls.h"
#include "sockerless/xmalloc.h"

static const struct router_route backend_routes[] = {
	{ "GET", "/capabilities", backend_sys_capabilities, NULL },
	{ "GET", "/_ping", NULL, NULL },
	{ "GET", "/version", backend_sys_version, NULL },
	{ "GET", "/info", backend_sys_info, NULL },
	{ "GET", "/system/df", backend_vol_df, NULL },
	{ "GET", "/events", backend_sys_events, NULL },
	{ "POST", "/auth", backend_auth_login, NULL },
	{ "POST", "/containers/create", backend_ctr_create, NULL },
	{ "GET", "/containers/json", backend_ctr_list, NULL },
	{ "POST", "/containers/prune", backend_ctr_prune, NULL },
	{ "GET", "/containers/{id}/json", backend_ctr_inspect, NULL },
	{ "POST", "/containers/{id}/start", backend_ctr_start, NULL },
	{ "POST", "/containers/{id}/stop", backend_ctr_stop, NULL },
	{ "POST", "/containers/{id}/restart", backend_ctr_restart, NULL },
	{ "POST", "/containers/{id}/kill", backend_ctr_kill, NULL },
	{ "POST", "/containers/{id}/wait", backend_ctr_wait, NULL },
	{ "POST", "/containers/{id}/update", backend_ctr_update, NULL },
	{ "POST", "/containers/{id}/rename", backend_ctr_rename, NULL },
	{ "DELETE", "/containers/{id}", backend_ctr_remove, NULL },
	{ "GET", "/containers/{id}/logs", backend_logs_get, NULL },
	{ "POST", "/containers/{id}/attach", backend_logs_attach, NULL },
	{ "POST", "/containers/{id}/resize", backend_agent_ctr_resize, NULL },
	{ "GET", "/containers/{id}/top", backend_agent_top, NULL },
	{ "GET", "/containers/{id}/stats", backend_agent_stats, NULL },
	{ "POST", "/containers/{id}/pause", backend_agent_pause, NULL },
	{ "POST", "/containers/{id}/unpause", backend_agent_unpause, NULL },
	{ "HEAD", "/containers/{id}/archive", backend_agent_archive_head,
	    NULL },
	{ "GET", "/containers/{id}/archive", backend_agent_archive_get, NULL },
	{ "PUT", "/containers/{id}/archive", backend_agent_archive_put, NULL },
	{ "POST", "/containers/{id}/exec", backend_agent_exec_create, NULL },
	{ "POST", "/exec/{id}/start", backend_agent_exec_start, NULL },
	{ "POST", "/exec/{id}/resize", backend_agent_exec_resize, NULL },
	{ "GET", "/exec/{id}/json", backend_agent_exec_inspect, NULL },
	{ "POST", "/images/create", backend_img_pull, NULL },
	{ "GET", "/images/json", backend_img_list, NULL },
	{ "POST", "/images/prune", backend_img_prune, NULL },
	{ "GET", "/images/{name*}/json", backend_img_inspect, NULL },
	{ "POST", "/images/{name*}/tag", backend_img_tag, NULL },
	{ "GET", "/images/get", backend_img_save, NULL },
	{ "GET", "/images/{name*}/history", backend_img_history, NULL },
	{ "POST", "/images/{name*}/push", backend_img_push, NULL },
	{ "GET", "/images/{name*}/get", backend_img_save, NULL },
	{ "DELETE", "/images/{name*}", backend_img_remove, NULL },
	{ "GET", "/networks", backend_net_list, NULL },
	{ "POST", "/networks/create", backend_net_create, NULL },
	{ "POST", "/networks/prune", backend_net_prune, NULL },
	{ "GET", "/networks/{id}", backend_net_inspect, NULL },
	{ "DELETE", "/networks/{id}", backend_net_remove, NULL },
	{ "POST", "/networks/{id}/connect", backend_net_connect, NULL },
	{ "POST", "/networks/{id}/disconnect", backend_net_disconnect, NULL },
	{ "GET", "/volumes", backend_vol_list, NULL },
	{ "POST", "/volumes/create", backend_vol_create, NULL },
	{ "POST", "/volumes/prune", backend_vol_prune, NULL },
	{ "GET", "/volumes/{name}", backend_vol_inspect, NULL },
	{ "DELETE", "/volumes/{name}", backend_vol_remove, NULL },
};

/* The framework's own configuration keys (each backend adds its own). */
static const struct config_key backend_conf_keys[] = {
	{ "socket", CONFIG_STRING, offsetof(struct backend_conf, socket), NULL,
	    0, 0, 0,
	    "Unix socket of the internal API the frontend connects to "
	    "(default /run/sockerless/backend-<name>.sock)" },
	{ "state_dir", CONFIG_STRING, offsetof(struct backend_conf, state_dir),
	    NULL, 0, 0, 0,
	    "Directory of the SQLite state (default "
	    "/var/lib/sockerless/<name>)" },
	{ "log_level", CONFIG_STRING, offsetof(struct backend_conf, log_level),
	    "info", 0, 0, 0, "error, warn, info or debug" },
	{ "busy_poll", CONFIG_INT, offsetof(struct backend_conf, busy_poll),
	    "0", 0, EVLOOP_BUSY_MAX, 0,
	    "Microseconds the backend keeps polling without sleeping after "
	    "a request comes in (0: off). Back-to-back requests get faster, "
	    "as the next one finds the backend awake; requests spaced apart "
	    "can get slower on a virtual machine, and each costs more CPU "
	    "(docs/scale.md, \"Busy polling\")" },
	{ "registry_mirrors", CONFIG_STRV,
	    offsetof(struct backend_conf, registry_mirrors), NULL, 0, 0, 0,
	    "Mirrors for docker.io images, tried in order, like dockerd's "
	    "registry-mirrors" },
	{ "registry_endpoints", CONFIG_STRV,
	    offsetof(struct backend_conf, registry_endpoints), NULL, 0, 0, 0,
	    "Registry hosts served from another URL, as host=URL (a "
	    "pull-through cache, a simulator)" },
	{ "insecure_registries", CONFIG_STRV,
	    offsetof(struct backend_conf, insecure_registries), NULL, 0, 0, 0,
	    "Registries (host:port or CIDR) reached over plain HTTP; "
	    "loopback registries always are" },
	{ "platform", CONFIG_STRING, offsetof(struct backend_conf, platform),
	    "linux/amd64", 0, 0, 0, "Platform picked from multi-arch images" },
	{ "registry_auth_file", CONFIG_STRING,
	    offsetof(struct backend_conf, registry_auth_file), NULL, 0, 0, 0,
	    "A docker config.json whose auths hold registry credentials" },
	{ "doc_idle_ms", CONFIG_INT, offsetof(struct backend_conf, doc_idle_ms),
	    "30000", 0, 86400000, 0,
	    "Milliseconds a stopped container's document stays parsed in "
	    "memory after its last read, then only the state database holds "
	    "it (0: always kept; docs/scale.md)" },
	{ "stop_timeout", CONFIG_INT,
	    offsetof(struct backend_conf, stop_timeout), "10", 0, 120, 0,
	    "Default seconds docker stop waits before killing" },
	{ "publish_address", CONFIG_STRING,
	    offsetof(struct backend_conf, publish_address), "0.0.0.0", 0, 0, 0,
	    "Address published ports listen on when the binding names none "
	    "(-p 8080:80), like dockerd's --ip" },
	{ "shared_paths", CONFIG_STRV,
	    offsetof(struct backend_conf, shared_paths), NULL, 0, 0, 0,
	    "Bind mounts served from the cloud file system: HOSTPREFIX=FSPATH "
	    "(or HOSTPREFIX, meaning FSPATH is the same path); a bind of "
	    "HOSTPREFIX/rest mounts FSPATH/rest (docs/volumes.md)" },
	{ "docker_socket_proxy", CONFIG_BOOL,
	    offsetof(struct backend_conf, docker_socket_proxy), "true", 0, 0, 0,
	    "A bind of the Docker socket gives the workload this "
	    "installation's Docker API; off: such binds are refused" },
	{ "docker_socket_paths", CONFIG_STRV,
	    offsetof(struct backend_conf, docker_socket_paths),
	    "/var/run/docker.sock,/run/docker.sock", 0, 0, 0,
	    "Host paths whose bind is the Docker socket" },
	{ "archive_max", CONFIG_INT, offsetof(struct backend_conf, archive_max),
	    "67108864", 0, 1LL << 34, 0,
	    "Bytes of archives (docker cp) kept for a container that has not "
	    "started, unpacked by the agent before its command runs "
	    "(docs/volumes.md); 413 above" },
	{ "docker_api", CONFIG_STRING,
	    offsetof(struct backend_conf, docker_api),
	    "unix:///run/sockerless/docker.sock", 0, 0, 0,
	    "The Docker API a workload's Docker socket mount reaches "
	    "(unix:///PATH or tcp://ADDRESS:PORT; docs/volumes.md)" },
	{ "internal_tcp", CONFIG_STRING,
	    offsetof(struct backend_conf, internal_tcp), NULL, 0, 0, 0,
	    "IP:PORT to serve the internal API on over TCP as well, for a "
	    "frontend on another host: TLS (internal_tlscert, "
	    "internal_tlskey) and a bearer token (internal_token_file) are "
	    "required (docs/internal-api.md)" },
	{ "internal_tlscert", CONFIG_STRING,
	    offsetof(struct backend_conf, internal_tlscert), NULL, 0, 0, 0,
	    "PEM certificate (chain) of internal_tcp; the frontend checks it "
	    "against its backend_tlscacert" },
	{ "internal_tlskey", CONFIG_STRING,
	    offsetof(struct backend_conf, internal_tlskey), NULL, 0, 0, 0,
	    "PEM key of internal_tlscert" },
	{ "internal_token_file", CONFIG_STRING,
	    offsetof(struct backend_conf, internal_token_file), NULL, 0, 0, 0,
	    "File holding the bearer token a frontend must send on "
	    "internal_tcp (the frontend's backend_token_file: the same "
	    "token); a wrong or missing token is 401" },
	{ "agent_callback_listen", CONFIG_STRING,
	    offsetof(struct backend_conf, agent_callback_listen), NULL, 0, 0, 0,
	    "HOST:PORT the backend listens on for agents calling back "
	    "(backends whose workloads take no inbound connection; "
	    "docs/agent-link.md)" },
	{ "agent_callback_url", CONFIG_STRING,
	    offsetof(struct backend_conf, agent_callback_url), NULL, 0, 0, 0,
	    "http://HOST:PORT the workloads' agents dial to reach "
	    "agent_callback_listen (default: derived from it); keep it the "
	    "same across restarts" },
	{ "agent_callback_timeout", CONFIG_INT,
	    offsetof(struct backend_conf, agent_callback_timeout), "120", 1,
	    3600, 0,
	    "Seconds an operation waits for a workload's agent to call back "
	    "(a cloud's start time)" },
	{ "agent_log_spool", CONFIG_INT,
	    offsetof(struct backend_conf, agent_log_spool), "4194304", 65536,
	    1073741824, 0,
	    "Bytes of a running container's output its agent keeps, from "
	    "which docker logs is served at once (docs/agent-link.md); "
	    "SOCKERLESS_LOG_SPOOL in a container's environment overrides it" },
};

/* The configuration sets: the framework's keys, the backend's own, then
 * its fragments with the backend's prefix put in front of their names. */
static void
backend_conf_sets(struct backend *b)
{
	const struct backend_ops *ops = b->ops;
	struct config_set *s = b->conf_sets;
	size_t n = 0;

	s[n++] = (struct config_set){ backend_conf_keys,
		sizeof(backend_conf_keys) / sizeof(backend_conf_keys[0]),
		&b->conf };
	if (ops->config_keys != NULL)
		s[n++] = (struct config_set){ ops->config_keys,
			ops->config_nkeys, ops->config };
	for (size_t i = 0; i < ops->config_nfragments; i++) {
		const struct config_set *f = &ops->config_fragments[i];
		if (n == BACKEND_MAX_CONF_SETS)
			fatalx("backend %s: more than %d configuration sets",
			    ops->name, BACKEND_MAX_CONF_SETS);
		s[n++] = (struct config_set){
			kit_conf_prefix(f->keys, f->n, ops->name), f->n, f->base
		};
	}
	b->nconf_sets = n;
}

static void
backend_conf_unprefix(struct backend *b)
{
	size_t first = b->ops->config_keys != NULL ? 2 : 1;

	for (size_t i = first; i < b->nconf_sets; i++)
		kit_conf_unprefix((struct config_key *)b->conf_sets[i].keys,
		    b->conf_sets[i].n);
	b->nconf_sets = 0;
}

static void
backend_conf_free(struct backend *b)
{
	for (size_t i = 0; i < b->nconf_sets; i++)
		config_free(b->conf_sets[i].keys, b->conf_sets[i].n,
		    b->conf_sets[i].base);
	backend_conf_unprefix(b);
}

struct event_base *
backend_base(struct backend *b)
{
	return b->base;
}

struct httpcli *
backend_httpcli(struct backend *b)
{
	return b->http;
}

struct reg_client *
backend_registry(struct backend *b)
{
	return b->reg;
}

const char *
backend_instance(struct backend *b)
{
	return b->instance;
}

const struct backend_ops *
backend_ops(struct backend *b)
{
	return b->ops;
}

char *
backend_kv_get(struct backend *b, const char *key)
{
	char *v = NULL;
	struct err e;

	if (store_kv_get(b->store, key, &v, &e) == -1)
		log_warnx("reading %s: %s", key, e.msg);
	return v;
}

void
backend_kv_set(struct backend *b, const char *key, const char *value)
{
	struct err e;

	if (store_kv_set(b->store, key, value, &e) == -1)
		log_warnx("saving %s: %s", key, e.msg);
}

void
backend_kv_del(struct backend *b, const char *key)
{
	struct err e;

	if (store_kv_del(b->store, key, &e) == -1)
		log_warnx("deleting %s: %s", key, e.msg);
}

void
backend_kv_list(
    struct backend *b, const char *prefix, struct strv *keys, struct strv *vals)
{
	struct err e;

	if (store_kv_list(b->store, prefix, keys, vals, &e) == -1)
		log_warnx("listing %s*: %s", prefix, e.msg);
}

static const char *
backend_container_id(const struct container *c)
{
	return c->id;
}
static void
backend_handle(struct httpsrv_req *r, void *arg)
{
	struct backend *b = arg;
	const char *path = httpsrv_req_path(r);
	struct router_match m;
	int rc;

	httpsrv_add_header(r, "Sockerless-Backend", b->caps.instance);
	/* Over TCP (not the unix socket, whose mode guards it) the frontend
	 * proves itself with the bearer token. */
	if (b->internal_token != NULL &&
	    strcmp(httpsrv_req_peer(r), "unix") != 0 &&
	    !tls_token_ok(
		httpsrv_req_header(r, "Authorization"), b->internal_token)) {
		httpsrv_add_header(r, "WWW-Authenticate", "Bearer");
		httpsrv_reply_error(r, 401,
		    "the internal API needs the bearer token of "
		    "internal_token_file: set the frontend's "
		    "backend_token_file to a copy of it");
		return;
	}
	if (!str_prefix(path, INTERNAL_PREFIX "/")) {
		httpsrv_reply_error(r, 404, "page not found");
		return;
	}
	path += strlen(INTERNAL_PREFIX);
	rc = router_match(backend_routes,
	    sizeof(backend_routes) / sizeof(backend_routes[0]),
	    httpsrv_req_method(r), path, &m);
	if (rc == 0 && m.route->handler == NULL) {
		httpsrv_reply(r, 200, "text/plain", "OK", 2);
		return;
	}
	if (rc != 0) {
		/* The frontend only forwards Docker routes it knows, so a
		 * miss here is an endpoint this backend has not built. */
		backend_reply_unbuilt(b, r);
		return;
	}
	((backend_handler)m.route->handler)(b, r, &m);
}

static void
backend_on_signal(evutil_socket_t sig, short what, void *arg)
{
	struct backend *b = arg;

	(void)what;
	if (sig == SIGHUP) {
		log_info("SIGHUP: configuration reload is not supported; "
			 "restart the backend to apply changes");
		return;
	}
	log_info("received signal %d, shutting down", (int)sig);
	event_base_loopexit(b->base, NULL);
}

/* The instance id survives restarts, so cloud resources tagged with it are
 * recognised as ours. */
static void
backend_load_instance(struct backend *b)
{
	char *v = NULL, id[65];
	struct err e;

	if (store_kv_get(b->store, "instance", &v, &e) == 0 && v != NULL) {
		str_lcpy(b->instance, v, sizeof(b->instance));
		free(v);
		return;
	}
	id_new(id);
	snprintf(b->instance, sizeof(b->instance), "%.16s", id);
	if (store_kv_set(b->store, "instance", b->instance, &e) == -1)
		fatalx("saving the instance id: %s", e.msg);
}

static void
backend_defaults(struct backend *b)
{
	struct backend_conf *c = &b->conf;

	if (c->socket == NULL)
		c->socket =
		    xasprintf("/run/sockerless/backend-%s.sock", b->ops->name);
	if (c->state_dir == NULL)
		c->state_dir =
		    xasprintf("/var/lib/sockerless/%s", b->ops->name);
}

static void
backend_open(struct backend *b)
{
	struct container *c;
	struct err e;
	char *db;

	if (mkdir(b->conf.state_dir, 0750) == -1 && errno != EEXIST)
		fatal("creating %s", b->conf.state_dir);
	db = xasprintf("%s/state.db", b->conf.state_dir);
	if ((b->store = store_open(db, &e)) == NULL)
		fatalx("opening the state store %s: %s", db, e.msg);
	free(db);
	backend_load_instance(b);
	backend_net_load(b);
	backend_vol_load(b);
	backend_ctr_load(b);
	/* What the running containers had published is served again, and
	 * their Docker sockets. */
	TAILQ_FOREACH(c, &b->containers, entry) {
		if (container_running(c)) {
			backend_port_readopt(b, c);
			backend_docksock_running(b, c);
		}
	}
}

/* httpsrv_new's limits, but a body as large as a put before start may be
 * (archive_max, a little over so that its 413 names the key). */
static void
backend_serve_limits(struct backend *b)
{
	struct httpsrv_limits l = { .max_header_bytes = 64 * 1024,
		.max_body_bytes = 16 * 1024 * 1024,
		.idle_timeout_s = 300,
		.max_conns = 4096,
		.header_timeout_s = 30 };

	if (b->conf.archive_max + (1 << 20) > (long long)l.max_body_bytes)
		l.max_body_bytes = (size_t)b->conf.archive_max + (1 << 20);
	httpsrv_set_limits(b->srv, &l);
}

/* The internal API over TCP: TLS and the bearer token, both required. */
static int
backend_serve_tcp(struct backend *b, struct err *e)
{
	const struct backend_conf *c = &b->conf;
	struct listen_addr a;
	SSL_CTX *ctx;
	char *spec;
	int rc;

	if (c->internal_tcp == NULL || c->internal_tcp[0] == '\0')
		return 0;
	if (c->internal_token_file == NULL || c->internal_tlscert == NULL ||
	    c->internal_tlskey == NULL)
		return err_set(e, 400,
		    "serving the internal API over TCP needs "
		    "internal_tlscert, internal_tlskey and "
		    "internal_token_file (it grants full control of the "
		    "backend)");
	if ((b->internal_token = tls_read_token(c->internal_token_file, e)) ==
	    NULL)
		return -1;
	spec = str_prefix(c->internal_tcp, "tcp://") ?
	    xstrdup(c->internal_tcp) :
	    xasprintf("tcp://%s", c->internal_tcp);
	rc = listen_parse(spec, "", 0, &a, e);
	free(spec);
	if (rc == -1)
		return -1;
	if (a.port == 0) {
		listen_addr_free(&a);
		return err_set(e, 400, "%s: expected IP:PORT", c->internal_tcp);
	}
	if ((ctx = tls_server_ctx(c->internal_tlscert, c->internal_tlskey, NULL,
		 0, e)) == NULL) {
		listen_addr_free(&a);
		return -1;
	}
	rc = httpsrv_listen_tcp_tls(b->srv, a.host, a.port, ctx, e);
	SSL_CTX_free(ctx);
	if (rc == 0)
		log_info("serving the internal API on tcp://%s:%d with TLS and "
			 "a bearer token",
		    a.host, a.port);
	listen_addr_free(&a);
	return rc;
}

static void
backend_serve(struct backend *b)
{
	struct err e;
	char *dir = xstrdup(b->conf.socket), *slash;

	if ((slash = strrchr(dir, '/')) != NULL && slash != dir) {
		*slash = '\0';
		if (mkdir(dir, 0750) == -1 && errno != EEXIST)
			fatal("creating %s", dir);
	}
	free(dir);
	b->srv = httpsrv_new(b->base, backend_handle, b);
	backend_serve_limits(b);
	if (httpsrv_listen_unix(b->srv, b->conf.socket, 0600, &e) == -1)
		fatalx("listening on %s: %s", b->conf.socket, e.msg);
	log_info("backend %s %s (instance %s) serving the internal API on %s",
	    b->ops->name, BACKEND_VERSION, b->instance, b->conf.socket);
	if (backend_serve_tcp(b, &e) == -1)
		fatalx("internal_tcp: %s", e.msg);
}

static void
backend_signals(struct backend *b)
{
	signal(SIGPIPE, SIG_IGN);
	b->sig_term = evsignal_new(b->base, SIGTERM, backend_on_signal, b);
	b->sig_int = evsignal_new(b->base, SIGINT, backend_on_signal, b);
	b->sig_hup = evsignal_new(b->base, SIGHUP, backend_on_signal, b);
	evsignal_add(b->sig_term, NULL);
	evsignal_add(b->sig_int, NULL);
	evsignal_add(b->sig_hup, NULL);
}

void
backend_free(struct backend *b)
{
	struct container *c;

	if (b->ops->shutdown != NULL)
		b->ops->shutdown(b);
	httpsrv_free(b->srv);
	backend_port_shutdown(b);
	backend_docksock_shutdown(b);
	backend_agent_rev_free(b);
	backend_agent_shutdown(b);
	backend_ctr_restart_cancel_all(b);
	if (b->doc_sweep != NULL)
		event_free(b->doc_sweep);
	while ((c = TAILQ_FIRST(&b->containers)) != NULL) {
		backend_ctr_unlist(b, c);
		container_unref(c);
	}
	backend_index_free(&b->by_id);
	backend_index_free(&b->by_name);
	backend_index_free(&b->active);
	backend_net_free(b);
	backend_vol_free(b);
	httpcli_free(b->http);
	backend_img_free(b);
	store_close(b->store);
	/* Only backend_main handles signals (not a test's backends). */
	if (b->sig_term != NULL) {
		event_free(b->sig_term);
		event_free(b->sig_int);
		event_free(b->sig_hup);
	}
	event_base_free(b->base);
	if (b->conf.socket != NULL)
		unlink(b->conf.socket);
	backend_conf_free(b);
	free(b->internal_token);
	free(b);
}

/* Loads the configuration (the flags, the environment, the file) into a
 * new backend with nothing opened yet. NULL with *exit_code set when the
 * process should exit: 0 after --help or -n, 2 on a configuration error. */
static struct backend *
backend_configure(const struct backend_ops *ops, int argc, char **argv,
    const char *prog, int *exit_code)
{
	struct backend *b = xcalloc(1, sizeof(*b));
	struct err e;
	int rc;

	b->ops = ops;
	b->agent_connect = backend_agent_connect;
	b->agent_exited = backend_container_exited;
	b->logs_grace_ms = 1000;
	TAILQ_INIT(&b->containers);
	backend_index_init(&b->by_id, backend_container_id);
	backend_index_init(&b->by_name, container_name);
	backend_index_init(&b->active, backend_container_id);
	TAILQ_INIT(&b->subs);
	TAILQ_INIT(&b->networks);
	TAILQ_INIT(&b->volumes);
	backend_conf_sets(b);
	rc = config_load(
	    b->conf_sets, b->nconf_sets, "SOCKERLESS", argc, argv, prog, &e);
	if (rc != CONFIG_EXIT_OK && rc != -1 &&
	    (backend_docksock_conf_check(b, &e) == -1 ||
		backend_agent_rev_conf_check(b, &e) == -1)) {
		for (size_t i = 0; i < b->nconf_sets; i++)
			config_free(b->conf_sets[i].keys, b->conf_sets[i].n,
			    b->conf_sets[i].base);
		rc = -1;
	}
	if (rc == CONFIG_EXIT_OK || rc == -1) {
		if (rc == -1)
			fprintf(stderr, "%s: %s\n", prog, e.msg);
		*exit_code = rc == -1 ? 2 : 0;
		backend_conf_unprefix(b);
		backend_index_free(&b->by_id);
		backend_index_free(&b->by_name);
		backend_index_free(&b->active);
		free(b);
		return NULL;
	}
	return b;
}

/* A backend that could not start: what backend_new made before. */
static void
backend_unmake(struct backend *b)
{
	httpcli_free(b->http);
	event_base_free(b->base);
	backend_conf_free(b);
	backend_index_free(&b->by_id);
	backend_index_free(&b->by_name);
	backend_index_free(&b->active);
	free(b);
}

struct backend *
backend_new(
    const struct backend_ops *ops, int argc, char **argv, int *exit_code)
{
	struct backend *b;
	struct err e;
	/* The log keeps the name for the life of the process. */
	static char prog[80];
	char ua[sizeof(prog) + 16];

	snprintf(prog, sizeof(prog), "sockerless-backend-%s", ops->name);
	log_init(prog, LOG_LVL_INFO);
	/* Every cloud and registry call names the backend (audit logs). */
	snprintf(ua, sizeof(ua), "%s/%s", prog, BACKEND_VERSION);
	httpcli_set_user_agent(ua);
	json_init();
	b = backend_configure(ops, argc, argv, prog, exit_code);
	if (b == NULL)
		return NULL;
	if (log_level_parse(b->conf.log_level) >= 0)
		log_set_level(
		    (enum log_level)log_level_parse(b->conf.log_level));
	backend_defaults(b);
	b->base = event_base_new();
	b->http = httpcli_new(b->base);
	b->started_ns = str_now_ns();
	if (backend_agent_rev_init(b, &e) == -1) {
		fprintf(stderr, "%s: %s\n", prog, e.msg);
		*exit_code = 1;
		backend_unmake(b);
		return NULL;
	}
	backend_open(b);
	ops->capabilities(b, &b->caps);
	str_lcpy(b->caps.backend, ops->name, sizeof(b->caps.backend));
	str_lcpy(b->caps.version, BACKEND_VERSION, sizeof(b->caps.version));
	snprintf(b->caps.instance, sizeof(b->caps.instance), "%s/%s/%s",
	    ops->name, BACKEND_VERSION, b->instance);
	if (backend_img_init(b, &e) == -1)
		fatalx("image service: %s", e.msg);
	if (ops->init != NULL && ops->init(b, &e) == -1)
		fatalx(
		    "%s backend start-up check failed: %s", ops->name, e.msg);
	return b;
}

void
backend_start(struct backend *b)
{
	backend_serve(b);
	backend_ctr_resolve_creating(b);
	backend_vol_resolve_creating(b);
	if (b->ops->reconcile != NULL)
		b->ops->reconcile(b);
	backend_agent_rev_readopt(b);
	backend_ctr_resume(b);
	backend_ctr_sweep_start(b);
}

int
backend_main(int argc, char **argv, const struct backend_ops *ops)
{
	struct backend *b;
	int exit_code = 0;

	if ((b = backend_new(ops, argc, argv, &exit_code)) == NULL)
		return exit_code;
	backend_signals(b);
	log_hold_start(b->base);
	backend_start(b);
	evloop_run(b->base, (long)b->conf.busy_poll);
	log_hold_stop();
	backend_free(b);
	log_info("stopped");
	return 0;
}
