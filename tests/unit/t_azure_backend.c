/* The Azure backends' fragment (azure_backend.c): the keys, which
 * registry hosts take the ACR exchange, resource ids, azure_backend_open's
 * checks, wrong credentials failing start-up with their sentence, and the
 * registry login: the exchange's form at the registry's URL (a loopback
 * host, a registry_endpoints mapping), the refresh token cached per
 * registry until shortly before its expiry, a refused exchange, a token
 * fetched from the loop, and an exchange in flight at close. azure_auth
 * is a test double here (defined below, so the archive's azure_auth.o is
 * never pulled in): the credential chain is azure_auth.c's to test. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "sockerless/azure_backend.h"
#include "sockerless/lite.h"
#include "sockerless/reg.h"
#include "sockerless/str.h"

#include "../../common/cloud/azure_int.h"
#include "../../common/reg/reg_int.h"
#include "gcp_srv.h"

/* --- the azure_auth double --- */

static int t_auth_dummy, t_new_fail, t_sync_fail, t_cold, t_frees;
static struct event_base *t_auth_base;
static char t_tok[256];

struct azure_auth *
azure_auth_new(struct event_base *base, struct httpcli *http,
    const struct azure_auth_conf *conf, struct err *e)
{
	(void)http;
	t_auth_base = base;
	if (t_new_fail) {
		err_set(e, 500, "no Azure credentials found (tried %s)",
		    conf->tenant_id != NULL ? conf->tenant_id : "env");
		return NULL;
	}
	return (struct azure_auth *)&t_auth_dummy;
}

void
azure_auth_free(struct azure_auth *a)
{
	assert_ptr_equal(a, &t_auth_dummy);
	t_frees++;
}

const char *
azure_auth_source(const struct azure_auth *a)
{
	(void)a;
	return "client secret for app c in tenant t (test double)";
}

const char *
azure_auth_tenant(const struct azure_auth *a)
{
	(void)a;
	return "7f3c9b0e-0000-4000-8000-0000000071d1";
}

const char *
azure_auth_token_cached(struct azure_auth *a, const char *scope)
{
	(void)a;
	if (t_cold)
		return NULL;
	snprintf(t_tok, sizeof(t_tok), "arm+tok/%s", scope);
	return t_tok;
}

int
azure_auth_token_sync(
    struct azure_auth *a, const char *scope, char **token, struct err *e)
{
	(void)a;
	if (t_sync_fail) {
		err_set(e, 500,
		    "getting an Azure token for %s from client secret: "
		    "AADSTS7000215: Invalid client secret provided.",
		    scope);
		return -1;
	}
	*token = xstrdup("sync-token");
	return 0;
}

/* One token fetch in flight at a time in these tests. */
struct t_auth_op {
	azure_token_cb cb;
	void *arg;
	struct event *ev;
};

static struct t_auth_op *t_pending;

static void
t_auth_fire(evutil_socket_t fd, short what, void *arg)
{
	struct t_auth_op *op = arg;

	(void)fd;
	(void)what;
	t_pending = NULL;
	event_free(op->ev);
	op->cb(op->arg, "loop-token", NULL);
	free(op);
}

uint64_t
azure_auth_token(
    struct azure_auth *a, const char *scope, azure_token_cb cb, void *arg)
{
	struct t_auth_op *op = xcalloc(1, sizeof(*op));
	struct timeval tv = { 0, 0 };

	(void)a;
	(void)scope;
	assert_null(t_pending);
	op->cb = cb;
	op->arg = arg;
	op->ev = evtimer_new(t_auth_base, t_auth_fire, op);
	evtimer_add(op->ev, &tv);
	t_pending = op;
	return 1;
}

void
azure_auth_cancel(struct azure_auth *a, uint64_t id)
{
	(void)a;
	assert_int_equal(id, 1);
	if (t_pending != NULL) {
		event_free(t_pending->ev);
		free(t_pending);
		t_pending = NULL;
	}
}

void
azure_auth_forget(struct azure_auth *a, const char *scope)
{
	(void)a;
	(void)scope;
}

/* --- tests --- */

static struct gcp_srv t_srv;

static int
t_teardown(void **state)
{
	(void)state;
	gcp_srv_stop(&t_srv);
	t_new_fail = t_sync_fail = t_cold = t_frees = 0;
	return 0;
}

static void
t_keys(void **state)
{
	static const char *const names[] = { "subscription", "resource_group",
		"location", "tenant_id", "client_id", "client_certificate_path",
		"client_secret_file", "federated_token_file", "authority_host",
		"endpoint", "endpoint_logs", "registry_hosts" };

	(void)state;
	for (size_t i = 0; i < AZURE_BACKEND_NKEYS; i++) {
		assert_string_equal(azure_backend_keys[i].name, names[i]);
		assert_non_null(azure_backend_keys[i].doc);
		assert_int_equal(azure_backend_keys[i].required, i < 3);
	}
}

static void
t_registry_hosts(void **state)
{
	struct azure_backend ab;
	char list[] = "127.0.0.1:48205  localhost:5000";

	(void)state;
	memset(&ab, 0, sizeof(ab));
	assert_true(azure_backend_registry_host(&ab, "myreg.azurecr.io"));
	assert_true(azure_backend_registry_host(&ab, "myreg.azurecr.cn"));
	/* Look-alikes are not Microsoft's: no token goes there. */
	assert_false(azure_backend_registry_host(&ab, "azurecr.io"));
	assert_false(azure_backend_registry_host(&ab, "evilazurecr.io"));
	assert_false(
	    azure_backend_registry_host(&ab, "x.azurecr.io.attacker.example"));
	assert_false(azure_backend_registry_host(&ab, "x.azurecr.io:5000"));
	assert_false(azure_backend_registry_host(&ab, "127.0.0.1:48205"));
	assert_false(azure_backend_registry_host(&ab, "docker.io"));
	assert_false(azure_backend_registry_host(&ab, ""));
	assert_false(azure_backend_registry_host(&ab, NULL));
	ab.registry_hosts = list;
	assert_true(azure_backend_registry_host(&ab, "127.0.0.1:48205"));
	assert_true(azure_backend_registry_host(&ab, "localhost:5000"));
	assert_false(azure_backend_registry_host(&ab, "127.0.0.1:4820"));
}

static void
t_resource(void **state)
{
	struct azure_backend ab;
	char out[128], small[32];
	static char rg[] = "/subscriptions/s/resourceGroups/g";

	(void)state;
	memset(&ab, 0, sizeof(ab));
	ab.rg_path = rg;
	assert_int_equal(azure_backend_resource(&ab, out, sizeof(out),
			     "Microsoft.App", "jobs", "j1"),
	    0);
	assert_string_equal(out,
	    "/subscriptions/s/resourceGroups/g/providers/Microsoft.App/jobs/"
	    "j1");
	assert_int_equal(azure_backend_resource(&ab, small, sizeof(small),
			     "Microsoft.App", "jobs", "j1"),
	    -1);
}

static char t_sub[] = "6a2bd1a0-0000-4000-8000-00000000a5c1",
	    t_rg[] = "sockerless", t_loc[] = "westeurope";

static void
t_ab_init(struct azure_backend *ab)
{
	memset(ab, 0, sizeof(*ab));
	ab->subscription = t_sub;
	ab->resource_group = t_rg;
	ab->location = t_loc;
}

static void
t_open_checks(void **state)
{
	struct azure_backend ab;
	char bad_sub[] = "6a2b/../x", bad_rg[] = "a/b", empty[] = "";
	struct err e;

	(void)state;
	t_ab_init(&ab);
	ab.subscription = NULL;
	assert_int_equal(azure_backend_open(&ab, NULL, NULL, NULL, &e), -1);
	assert_int_equal(e.status, 500);
	assert_non_null(strstr(e.msg, "subscription key"));
	t_ab_init(&ab);
	ab.subscription = bad_sub;
	assert_int_equal(azure_backend_open(&ab, NULL, NULL, NULL, &e), -1);
	t_ab_init(&ab);
	ab.resource_group = bad_rg;
	assert_int_equal(azure_backend_open(&ab, NULL, NULL, NULL, &e), -1);
	assert_non_null(strstr(e.msg, "resource_group key"));
	t_ab_init(&ab);
	ab.location = empty;
	assert_int_equal(azure_backend_open(&ab, NULL, NULL, NULL, &e), -1);
	assert_non_null(strstr(e.msg, "location key"));
	assert_null(ab.az);
	assert_null(ab.auth);
	/* No credentials, and wrong ones: their sentence, nothing left. */
	t_ab_init(&ab);
	t_new_fail = 1;
	assert_int_equal(azure_backend_open(&ab, NULL, NULL, NULL, &e), -1);
	assert_non_null(strstr(e.msg, "no Azure credentials"));
	t_new_fail = 0;
	t_sync_fail = 1;
	assert_int_equal(azure_backend_open(&ab, NULL, NULL, NULL, &e), -1);
	assert_non_null(strstr(e.msg, "AADSTS7000215"));
	assert_int_equal(t_frees, 1);
	assert_null(ab.auth);
	assert_null(ab.az);
	assert_null(ab.rg_path);
	t_sync_fail = 0;
}

static void
t_open(void **state)
{
	struct azure_backend ab;
	struct event_base *base = event_base_new();
	struct httpcli *http = httpcli_new(base);
	char ep[] = "http://127.0.0.1:48204/";
	struct err e;

	(void)state;
	t_ab_init(&ab);
	ab.endpoint = ep;
	assert_int_equal(azure_backend_open(&ab, base, http, NULL, &e), 0);
	assert_string_equal(ab.rg_path,
	    "/subscriptions/6a2bd1a0-0000-4000-8000-00000000a5c1/"
	    "resourceGroups/sockerless");
	assert_string_equal(
	    azure_endpoint_arm(ab.az), "http://127.0.0.1:48204");
	assert_string_equal(
	    azure_endpoint_logs(ab.az), "https://api.loganalytics.io");
	assert_ptr_equal(ab.auth, &t_auth_dummy);
	assert_null(ab.acr);
	azure_backend_close(&ab);
	assert_null(ab.az);
	assert_int_equal(t_frees, 1);
	httpcli_free(http);
	event_base_free(base);
}

/* --- the registry login --- */

struct t_creds {
	struct event_base *base;
	int calls;
	char user[64], secret[512], err[512];
	int status;
};

static void
t_done(void *arg, const char *user, const char *secret, const struct err *e)
{
	struct t_creds *c = arg;

	c->calls++;
	c->user[0] = c->secret[0] = c->err[0] = '\0';
	c->status = 0;
	if (user != NULL) {
		str_lcpy(c->user, user, sizeof(c->user));
		str_lcpy(c->secret, secret, sizeof(c->secret));
	} else {
		str_lcpy(c->err, e->msg, sizeof(c->err));
		c->status = e->status;
	}
	event_base_loopbreak(c->base);
}

/* A JWT-shaped refresh token whose exp is now + secs. */
static char *
t_refresh(long secs)
{
	char claims[64], b64[128];
	size_t n;

	snprintf(claims, sizeof(claims), "{\"exp\":%lld}",
	    (long long)(str_now_ns() / 1000000000) + secs);
	n = lite_b64_encode((const unsigned char *)claims, strlen(claims), b64);
	while (n > 0 && b64[n - 1] == '=')
		b64[--n] = '\0';
	return xasprintf("eyJhbGciOiJSUzI1NiJ9.%s.c2ln", b64);
}

struct t_env {
	struct azure_backend ab;
	struct reg_client *reg;
	char hosts[64];
	struct strv eps;
};

static void
t_env_open(struct t_env *v, const char *endpoint)
{
	struct reg_config rc = { 0 };
	struct err e;

	t_ab_init(&v->ab);
	snprintf(v->hosts, sizeof(v->hosts), "127.0.0.1:%d", t_srv.port);
	v->ab.registry_hosts = v->hosts;
	strv_init(&v->eps);
	if (endpoint != NULL) {
		strv_add(&v->eps, endpoint);
		rc.endpoints = &v->eps;
	}
	v->reg = reg_client_new(t_srv.base, t_srv.http, &rc, &e);
	assert_non_null(v->reg);
	assert_int_equal(
	    azure_backend_open(&v->ab, t_srv.base, t_srv.http, v->reg, &e), 0);
	assert_non_null(v->reg->hook);
}

static void
t_env_close(struct t_env *v)
{
	azure_backend_close(&v->ab);
	/* The registry client no longer calls into the closed session. */
	assert_null(v->reg->hook);
	reg_client_free(v->reg);
	strv_free(&v->eps);
}

static int
t_hook(struct t_env *v, const char *host, struct t_creds *c)
{
	int r = v->reg->hook(v->reg->hook_arg, host, t_done, c);

	if (r == 0 && c->calls == 0)
		event_base_dispatch(t_srv.base);
	return r;
}

static void
t_acr_exchange(void **state)
{
	char *fresh = t_refresh(3 * 3600), *stale = t_refresh(60), *body;
	char *replies[4], *req, *want;
	struct t_creds c = { 0 };
	struct t_env v;

	(void)state;
	body = xasprintf("{\"refresh_token\":\"%s\"}", fresh);
	replies[0] = gcp_srv_reply("200 OK", NULL, body);
	free(body);
	body = xasprintf("{\"refresh_token\":\"%s\"}", stale);
	replies[1] = gcp_srv_reply("200 OK", NULL, body);
	replies[2] = gcp_srv_reply("200 OK", NULL, body);
	replies[3] = NULL;
	free(body);
	gcp_srv_start(&t_srv, replies);
	t_env_open(&v, NULL);
	c.base = t_srv.base;
	/* Not an ACR host: the hook leaves it to the auth file. */
	assert_int_equal(t_hook(&v, "docker.io", &c), -1);
	assert_int_equal(t_hook(&v, v.hosts, &c), 0);
	assert_int_equal(c.calls, 1);
	assert_string_equal(c.user, "00000000-0000-0000-0000-000000000000");
	assert_string_equal(c.secret, fresh);
	/* Cached: answered at once, nothing sent. */
	assert_int_equal(t_hook(&v, v.hosts, &c), 0);
	assert_int_equal(c.calls, 2);
	assert_string_equal(c.secret, fresh);
	req = gcp_srv_requests(&t_srv);
	assert_int_equal(gcp_srv_count(req, "POST /oauth2/exchange "), 1);
	want = xasprintf("grant_type=access_token&service=127.0.0.1%%3A%d&"
			 "tenant=7f3c9b0e-0000-4000-8000-0000000071d1&"
			 "access_token=arm%%2Btok%%2Fhttps%%3A%%2F%%2F"
			 "management.azure.com%%2F.default",
	    t_srv.port);
	assert_non_null(strstr(req, want));
	assert_non_null(
	    strstr(req, "Content-Type: application/x-www-form-urlencoded"));
	free(want);
	free(req);
	/* A token within minutes of its expiry is not used: a new exchange,
	 * with a token fetched from the loop. */
	t_env_close(&v);
	t_env_open(&v, NULL);
	t_cold = 1;
	c.calls = 0;
	assert_int_equal(t_hook(&v, v.hosts, &c), 0);
	assert_string_equal(c.secret, stale);
	c.calls = 0;
	assert_int_equal(t_hook(&v, v.hosts, &c), 0);
	assert_int_equal(c.calls, 1);
	assert_string_equal(c.secret, stale);
	req = gcp_srv_requests(&t_srv);
	assert_int_equal(gcp_srv_count(req, "POST /oauth2/exchange "), 3);
	assert_int_equal(gcp_srv_count(req, "access_token=loop-token"), 2);
	free(req);
	t_env_close(&v);
	free(fresh);
	free(stale);
}

/* A registry_endpoints mapping: the exchange goes where the registry
 * client reaches the host, the service stays the host's name. */
static void
t_acr_endpoint(void **state)
{
	char *replies[] = { gcp_srv_reply("200 OK", NULL,
				"{\"refresh_token\":\"opaque\"}"),
		NULL };
	struct t_creds c = { 0 };
	struct t_env v;
	char *ep, *req;

	(void)state;
	gcp_srv_start(&t_srv, replies);
	ep = xasprintf("myreg.azurecr.io=http://127.0.0.1:%d/", t_srv.port);
	t_env_open(&v, ep);
	free(ep);
	c.base = t_srv.base;
	assert_int_equal(t_hook(&v, "myreg.azurecr.io", &c), 0);
	/* Not a JWT: kept for the default time. */
	assert_string_equal(c.secret, "opaque");
	req = gcp_srv_requests(&t_srv);
	assert_non_null(strstr(req, "POST /oauth2/exchange HTTP/1.1"));
	assert_non_null(strstr(req, "service=myreg.azurecr.io&"));
	free(req);
	t_env_close(&v);
}

static void
t_acr_refused(void **state)
{
	char *replies[] = {
		gcp_srv_reply("401 Unauthorized", NULL,
		    "{\"errors\":[{\"code\":\"UNAUTHORIZED\",\"message\":"
		    "\"identity has no access\"}]}"),
		gcp_srv_reply("200 OK", NULL, "{\"access_token\":\"x\"}"),
		gcp_srv_reply("200 OK", NULL, "not json"),
		NULL,
	};
	struct t_creds c = { 0 };
	struct t_env v;

	(void)state;
	gcp_srv_start(&t_srv, replies);
	t_env_open(&v, NULL);
	c.base = t_srv.base;
	assert_int_equal(t_hook(&v, v.hosts, &c), 0);
	assert_int_equal(c.status, 401);
	assert_non_null(strstr(c.err, "AcrPull"));
	assert_non_null(strstr(c.err, "identity has no access"));
	c.calls = 0;
	assert_int_equal(t_hook(&v, v.hosts, &c), 0);
	assert_int_equal(c.status, 502);
	assert_non_null(strstr(c.err, "without a refresh_token"));
	c.calls = 0;
	assert_int_equal(t_hook(&v, v.hosts, &c), 0);
	assert_int_equal(c.status, 502);
	/* Nothing was cached from a failure: asked again, it exchanges
	 * again. */
	c.calls = 0;
	assert_int_equal(t_hook(&v, v.hosts, &c), 0);
	assert_int_equal(c.status, 502);
	t_env_close(&v);
}

static void
t_never_done(
    void *arg, const char *user, const char *secret, const struct err *e)
{
	(void)arg;
	(void)user;
	(void)secret;
	(void)e;
	fail_msg("an exchange in flight at close called back");
}

static void
t_acr_close_in_flight(void **state)
{
	char *replies[] = {
		gcp_srv_reply("200 OK", NULL, "{\"refresh_token\":\"r\"}"), NULL
	};
	struct t_env v;

	(void)state;
	gcp_srv_start(&t_srv, replies);
	t_env_open(&v, NULL);
	assert_int_equal(
	    v.reg->hook(v.reg->hook_arg, v.hosts, t_never_done, NULL), 0);
	t_cold = 1;
	assert_int_equal(
	    v.reg->hook(v.reg->hook_arg, v.hosts, t_never_done, NULL), 0);
	/* The token fetch in flight is cancelled too. */
	t_env_close(&v);
	assert_null(t_pending);
	t_cold = 0;
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(t_keys),
		cmocka_unit_test(t_registry_hosts),
		cmocka_unit_test(t_resource),
		cmocka_unit_test_teardown(t_open_checks, t_teardown),
		cmocka_unit_test_teardown(t_open, t_teardown),
		cmocka_unit_test_teardown(t_acr_exchange, t_teardown),
		cmocka_unit_test_teardown(t_acr_endpoint, t_teardown),
		cmocka_unit_test_teardown(t_acr_refused, t_teardown),
		cmocka_unit_test_teardown(t_acr_close_in_flight, t_teardown),
	};

	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
