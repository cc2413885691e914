/* The azfunc backend's steps of the kit's function pool (kit_faas.h):
 * a site (function app) made with the derived image and a fresh key
 * (WebApps_CreateOrUpdate), re-pointed at another image
 * (WebApps_UpdateConfiguration: linuxFxVersion), deleted (WebApps_Delete)
 * and found again by its tags (WebApps_ListByResourceGroup, then its key
 * from WebApps_ListApplicationSettings). A site is handed out once its
 * container answers the agent's readiness GET (the cold start). Runs
 * carry the site's key in x-functions-key, which the agent checks. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/queue.h>

#include <openssl/rand.h>

#include "azfunc.h"
#include "sockerless/httpcli.h"
#include "sockerless/json.h"
#include "sockerless/log.h"
#include "sockerless/str.h"
#include "sockerless/xmalloc.h"

#define AZFUNC_READY_POLL_MS 1000

/* What a slot carries besides its URL. */
struct azfunc_site {
	char *key;  /* never logged */
	char *host; /* defaultHostName */
};

static void
azfunc_site_free(void *data)
{
	struct azfunc_site *st = data;

	if (st == NULL)
		return;
	if (st->key != NULL)
		memset(st->key, 0, strlen(st->key));
	free(st->key);
	free(st->host);
	free(st);
}

static char *
azfunc_site_path(const char *name, const char *sub)
{
	return xasprintf("%s/providers/Microsoft.Web/sites/%s%s",
	    azfunc.ab.rg_path, name, sub != NULL ? sub : "");
}

static void
azfunc_site_err(const struct cloud_error *ce, struct err *e)
{
	cloud_error_to_err(azure_provider(), ce, e);
}

/* The URL of a site's runs. */
static char *
azfunc_site_url(const char *host)
{
	const char *ep = azfunc_conf.endpoint_functions;
	size_t n;

	if (ep == NULL || ep[0] == '\0')
		return xasprintf("https://%s/api/run", host);
	n = strlen(ep);
	while (n > 0 && ep[n - 1] == '/')
		n--;
	return xasprintf("%.*s/api/run", (int)n, ep);
}

static void
azfunc_site_headers(struct kit_slot *s, struct httpcli_req *r)
{
	struct azfunc_site *st = kit_slot_data(s);
	char *h;

	if (st == NULL)
		return;
	httpcli_req_header(r, "x-functions-key", st->key);
	if (azfunc_conf.endpoint_functions != NULL &&
	    azfunc_conf.endpoint_functions[0] != '\0') {
		h = xasprintf("%s", st->host);
		httpcli_req_header(r, "Host", h);
		free(h);
	}
}

/* --- waiting for the container -------------------------------------------- */

struct azfunc_ready {
	TAILQ_ENTRY(azfunc_ready) entry;
	struct kit_slot *s;
	uint64_t call;
	int creating; /* kit_slot_created, else kit_slot_pointed */
	int64_t deadline_ns;
	struct event *timer;
	int last_status;
};

static void azfunc_ready_poll(struct azfunc_ready *rd);

/* The waits in flight, forgotten at shutdown. */
static TAILQ_HEAD(, azfunc_ready) azfunc_readies = TAILQ_HEAD_INITIALIZER(
    azfunc_readies);

static void
azfunc_ready_free(struct azfunc_ready *rd)
{
	TAILQ_REMOVE(&azfunc_readies, rd, entry);
	if (rd->timer != NULL)
		event_free(rd->timer);
	free(rd);
}

static void
azfunc_ready_end(struct azfunc_ready *rd, const struct err *e)
{
	struct kit_slot *s = rd->s;
	int creating = rd->creating;

	azfunc_ready_free(rd);
	if (creating)
		kit_slot_created(s, 1, e);
	else
		kit_slot_pointed(s, e);
}

static void
azfunc_ready_tick(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	azfunc_ready_poll(arg);
}

static void
azfunc_ready_answer(struct httpcli_resp *resp, void *arg)
{
	struct azfunc_ready *rd = arg;
	struct timeval tv = { AZFUNC_READY_POLL_MS / 1000,
		(AZFUNC_READY_POLL_MS % 1000) * 1000 };
	struct err e;

	rd->call = 0;
	if (resp->status == 200) {
		azfunc_ready_end(rd, NULL);
		return;
	}
	/* 401: the container before the change still answers (another
	 * key); anything else but 200: not up yet. */
	rd->last_status = resp->status;
	if (str_now_ns() > rd->deadline_ns) {
		err_set(&e, 504,
		    "function app %s's container did not answer within %lld s "
		    "(azfunc.deploy_timeout; last answer: %s %d)",
		    kit_slot_name(rd->s), azfunc_conf.deploy_timeout,
		    resp->status == 0 ? "no connection" : "HTTP", resp->status);
		azfunc_ready_end(rd, &e);
		return;
	}
	evtimer_add(rd->timer, &tv);
}

static void
azfunc_ready_poll(struct azfunc_ready *rd)
{
	struct httpcli_req *r = httpcli_req_new("GET", kit_slot_url(rd->s));

	azfunc_site_headers(rd->s, r);
	httpcli_req_timeouts(r, 10000, 30000);
	httpcli_req_attempts(r, 1);
	rd->call =
	    httpcli_send(backend_httpcli(azfunc.b), r, azfunc_ready_answer, rd);
}

static void
azfunc_ready_wait(struct kit_slot *s, int creating)
{
	struct azfunc_ready *rd = xcalloc(1, sizeof(*rd));

	rd->s = s;
	rd->creating = creating;
	rd->deadline_ns =
	    str_now_ns() + azfunc_conf.deploy_timeout * 1000000000LL;
	rd->timer = evtimer_new(backend_base(azfunc.b), azfunc_ready_tick, rd);
	TAILQ_INSERT_TAIL(&azfunc_readies, rd, entry);
	azfunc_ready_poll(rd);
}

/* --- deleting ------------------------------------------------------------- */

static void
azfunc_site_deleted(void *arg, const cJSON *out, const struct cloud_error *ce)
{
	struct err e;

	(void)out;
	if (ce != NULL && ce->http_status != 404) {
		azfunc_site_err(ce, &e);
		kit_pool_removed(arg, &e);
	} else {
		kit_pool_removed(arg, NULL);
	}
}

static void
azfunc_site_remove(struct kit_rm *r, const char *name)
{
	char *path = azfunc_site_path(name, NULL);

	azure_lro(azfunc.ab.az, "WebApps_Delete", "DELETE", path,
	    azfunc_conf.api_version_web, NULL, 0,
	    (int)azfunc_conf.deploy_timeout, NULL, azfunc_site_deleted, r);
	free(path);
}

/* --- pointing ------------------------------------------------------------- */

static void
azfunc_site_pointed(void *arg, const cJSON *out, const struct cloud_error *ce)
{
	struct kit_slot *s = arg;
	struct err e;

	(void)out;
	if (ce != NULL) {
		azfunc_site_err(ce, &e);
		kit_slot_pointed(s, &e);
		return;
	}
	azfunc_ready_wait(s, 0);
}

/* --- creating ------------------------------------------------------------- */

static void
azfunc_site_got(void *arg, const cJSON *site, const struct cloud_error *ce)
{
	struct kit_slot *s = arg;
	struct azfunc_site *st = kit_slot_data(s);
	const char *host =
	    json_str(json_obj(site, "properties"), "defaultHostName");
	char *url;
	struct err e;

	if (ce != NULL) {
		azfunc_site_err(ce, &e);
		kit_slot_created(s, 0, &e);
		return;
	}
	if (host == NULL) {
		err_set(&e, 502,
		    "Azure made function app %s without a "
		    "defaultHostName",
		    kit_slot_name(s));
		kit_slot_created(s, 0, &e);
		return;
	}
	st->host = xstrdup(host);
	url = azfunc_site_url(host);
	kit_slot_set_url(s, url);
	free(url);
	azfunc_ready_wait(s, 1);
}

static void
azfunc_site_made(void *arg, const cJSON *out, const struct cloud_error *ce)
{
	struct kit_slot *s = arg;
	char *path;
	struct err e;

	(void)out;
	if (ce != NULL) {
		azfunc_site_err(ce, &e);
		kit_slot_created(s, 0, &e);
		return;
	}
	path = azfunc_site_path(kit_slot_name(s), NULL);
	azure_call(azfunc.ab.az, "WebApps_Get", "GET", path,
	    azfunc_conf.api_version_web, NULL, NULL, 0, azfunc_site_got, s);
	free(path);
}

/* A 256-bit key as 64 hex digits. */
static char *
azfunc_site_key(void)
{
	unsigned char raw[32];
	char *hex = xmalloc(2 * sizeof(raw) + 1);
	size_t i;

	if (RAND_bytes(raw, sizeof(raw)) != 1) {
		log_warnx("OpenSSL's RAND_bytes failed; no site key can be "
			  "made");
		abort();
	}
	for (i = 0; i < sizeof(raw); i++)
		snprintf(hex + 2 * i, 3, "%02x", raw[i]);
	memset(raw, 0, sizeof(raw));
	return hex;
}

/* The site's whole definition, running the wanted image, with a fresh
 * key: made (create) or replaced (point). A replaced site's old container
 * may answer a while longer; with the old key it gets 401, so the cold
 * start is over only when the new one answers. */
static void
azfunc_site_put(struct kit_slot *s, azure_cb cb)
{
	struct azfunc_site *st = kit_slot_data(s);
	struct azfunc_site_args a;
	char *path = azfunc_site_path(kit_slot_name(s), NULL);

	if (st == NULL) {
		st = xcalloc(1, sizeof(*st));
		kit_slot_set_data(s, st);
	}
	if (st->key != NULL)
		memset(st->key, 0, strlen(st->key));
	free(st->key);
	st->key = azfunc_site_key();
	memset(&a, 0, sizeof(a));
	a.location = azfunc.ab.location;
	a.plan_id = azfunc.plan_id;
	a.image = kit_slot_want_image(s);
	a.key = st->key;
	a.storage = azfunc.storage;
	a.instance = backend_instance(azfunc.b);
	a.registry_identity = azfunc_conf.registry_identity;
	a.registry_client_id = azfunc.registry_client_id;
	/* The host's own limit only backs the agent's (azfunc.timeout, sent
	 * with each run) up, so a site serves any azfunc.timeout. */
	a.timeout_s = AZFUNC_MAX_TIMEOUT + AZFUNC_HOST_GRACE_S;
	azure_lro(azfunc.ab.az, "WebApps_CreateOrUpdate", "PUT", path,
	    azfunc_conf.api_version_web, azfunc_site_body(&a), 1,
	    (int)azfunc_conf.deploy_timeout, NULL, cb, s);
	free(path);
}

static void
azfunc_site_create(struct kit_slot *s)
{
	azfunc_site_put(s, azfunc_site_made);
}

/* Re-pointing replaces the definition (WebApps_CreateOrUpdate again)
 * rather than patching linuxFxVersion alone (WebApps_UpdateConfiguration):
 * the new key tells the new container from the old one. */
static void
azfunc_site_point(struct kit_slot *s)
{
	azfunc_site_put(s, azfunc_site_pointed);
}

/* --- finding the pool again ----------------------------------------------- */

/* One site of the listing whose key is being read: its call's own
 * (azure_call_owned), freed after the callback, or without it when the
 * backend stops with the call in flight. */
struct azfunc_found {
	char *name, *host, *image;
	int running;
};

static void
azfunc_found_free(void *arg)
{
	struct azfunc_found *f = arg;

	free(f->name);
	free(f->host);
	free(f->image);
	free(f);
}

static int azfunc_list_pending;

/* Whether a found site pulls with the identity of this configuration
 * (azfunc.registry_identity's, or the site's own without it): a site made
 * under another one is re-pointed, with the whole definition, before its
 * next run. ARM compares resource ids without case. */
static int
azfunc_site_identity_ok(const cJSON *site)
{
	const cJSON *ident = json_obj(site, "identity"), *it;
	const char *want = azfunc_conf.registry_identity;
	const char *type = json_str(ident, "type");

	if (want == NULL || want[0] == '\0')
		return type != NULL &&
		    strcasestr(type, "SystemAssigned") != NULL;
	cJSON_ArrayForEach(it, json_obj(ident, "userAssignedIdentities"))
		if (it->string != NULL && strcasecmp(it->string, want) == 0)
			return 1;
	return 0;
}

static void
azfunc_list_one_done(void)
{
	if (--azfunc_list_pending == 0)
		kit_pool_listed(NULL);
}

static void
azfunc_site_settings(void *arg, const cJSON *out, const struct cloud_error *ce)
{
	struct azfunc_found *f = arg;
	const char *key =
	    json_str(json_obj(out, "properties"), AZFUNC_KEY_SETTING);
	struct azfunc_site *st = NULL;
	char *url = NULL;

	if (ce == NULL && key != NULL && f->host != NULL) {
		st = xcalloc(1, sizeof(*st));
		st->key = xstrdup(key);
		st->host = xstrdup(f->host);
		url = azfunc_site_url(f->host);
	} else if (ce != NULL) {
		log_warnx("reading function app %s's settings: %s: %s; it is "
			  "deleted",
		    f->name, ce->code, ce->message);
	}
	kit_pool_found(f->name, st != NULL && f->running, url, f->image, st);
	free(url);
	azfunc_list_one_done();
}

static void
azfunc_site_listed(void *arg, const cJSON *out, const struct cloud_error *ce)
{
	const cJSON *site, *tags, *props;
	const char *name, *inst, *state, *img;
	struct azfunc_found *f;
	char *path;
	struct err e;

	(void)arg;
	if (ce != NULL) {
		azfunc_site_err(ce, &e);
		kit_pool_listed(&e);
		return;
	}
	azfunc_list_pending = 1;
	cJSON_ArrayForEach(site, json_arr(out, "value")) {
		tags = json_obj(site, "tags");
		props = json_obj(site, "properties");
		name = json_str(site, "name");
		inst = json_str(tags, AZFUNC_TAG_INSTANCE);
		if (name == NULL || inst == NULL ||
		    strcmp(inst, backend_instance(azfunc.b)) != 0 ||
		    json_str(tags, AZFUNC_TAG_POOL) == NULL ||
		    kit_pool_number_of(azfunc.prefix, name) == -1)
			continue;
		state = json_str(props, "state");
		img = azfunc_fx_image(
		    json_str(json_obj(props, "siteConfig"), "linuxFxVersion"));
		f = xcalloc(1, sizeof(*f));
		f->name = xstrdup(name);
		f->host = json_str(props, "defaultHostName") != NULL ?
		    xstrdup(json_str(props, "defaultHostName")) :
		    NULL;
		f->image = img != NULL && azfunc_site_identity_ok(site) ?
		    xstrdup(img) :
		    NULL;
		f->running = state != NULL && strcmp(state, "Running") == 0;
		azfunc_list_pending++;
		path = azfunc_site_path(name, "/config/appsettings/list");
		azure_call_owned(azfunc.ab.az,
		    "WebApps_ListApplicationSettings", "POST", path,
		    azfunc_conf.api_version_web, NULL, NULL, 0,
		    azfunc_site_settings, f, azfunc_found_free);
		free(path);
	}
	azfunc_list_one_done();
}

static void
azfunc_site_list(void)
{
	char *path =
	    xasprintf("%s/providers/Microsoft.Web/sites", azfunc.ab.rg_path);

	azure_list(azfunc.ab.az, "WebApps_ListByResourceGroup", path,
	    azfunc_conf.api_version_web, NULL, 0, azfunc_site_listed, NULL);
	free(path);
}

static const struct kit_pool_ops azfunc_pool_ops = {
	.create = azfunc_site_create,
	.point = azfunc_site_point,
	.remove = azfunc_site_remove,
	.list = azfunc_site_list,
	.data_free = azfunc_site_free,
};

static struct kit_faas azfunc_faas = {
	.be = "azfunc",
	.what = "function app",
	.cloud = "Azure Functions",
	.sandbox = "Azure Functions runs every function app in a fixed "
		   "sandbox",
	.logs_where = "the function app's logs (FunctionAppLogs in Log "
		      "Analytics, or its log stream)",
	.agent_in_image = AZFUNC_AGENT_PATH,
	.min_memory = AZFUNC_MIN_MEMORY,
	.headers = azfunc_site_headers,
};

void
azfunc_site_start(struct backend *b)
{
	struct kit_pool_conf pc = {
		.ops = &azfunc_pool_ops,
		.what = "function app",
		.key = "azfunc",
		.prefix = azfunc.prefix,
		.pool_max = azfunc_conf.pool.pool_max,
		.pool_idle = azfunc_conf.pool.pool_idle,
		.pool_wait = azfunc_conf.pool.pool_wait,
		.image_only = 1,
	};

	kit_pool_start(b, &pc);
}

void
azfunc_site_stop(void)
{
	struct azfunc_ready *rd, *next;

	/* Walked with the next pointer: what is freed is never read again. */
	for (rd = TAILQ_FIRST(&azfunc_readies); rd != NULL; rd = next) {
		next = TAILQ_NEXT(rd, entry);
		if (rd->call != 0)
			httpcli_cancel(backend_httpcli(azfunc.b), rd->call);
		if (rd->timer != NULL)
			event_free(rd->timer);
		free(rd);
	}
	TAILQ_INIT(&azfunc_readies);
}

void
azfunc_faas_init(void)
{
	azfunc_faas.memory = azfunc_conf.memory < azfunc.plan_mib ?
	    azfunc_conf.memory :
	    azfunc.plan_mib;
	azfunc_faas.max_memory = azfunc.plan_mib;
	azfunc_faas.timeout = azfunc_conf.timeout;
	azfunc_faas.layer = &azfunc.layer;
	azfunc_faas.repository = azfunc.registry_host;
	kit_faas_init(&azfunc_faas);
}
