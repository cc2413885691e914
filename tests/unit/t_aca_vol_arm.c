/* The ARM calls of the Container Apps volume code (backend-aca/aca_vol.c,
 * compiled in here with aca_volmap.c) against a forked stand-in server,
 * with the framework and the aca core as test doubles: start-up (the
 * account, listKeys, the shared storage; a missing account named), a
 * create (the share, then the environment storage with the key), a create
 * whose storage fails (the share deleted again), a create meeting its own
 * share (taken over) and another's (409), a remove (storage, then share),
 * one the idle jobs block (the jobs naming the storage deleted, then the
 * storage again), and one of a volume already gone. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "../../backend-aca/aca_vol.c" /* NOLINT(bugprone-suspicious-include): the unit */
#include "../../backend-aca/aca_volmap.c" /* NOLINT(bugprone-suspicious-include): its names and bodies */
#include "azure_tok.h"
#include "gcp_srv.h"

#include <openssl/sha.h>

/* --- test doubles of the framework and the aca core ----------------------- */

#define RG     "/subscriptions/s/resourceGroups/g"
#define ENV    RG "/providers/Microsoft.App/managedEnvironments/env"
#define ACCT   RG "/providers/Microsoft.Storage/storageAccounts/acct"
#define SHARES ACCT "/fileServices/default/shares/"

/* The configuration's strings are not const (config_load fills them). */
#define T_STR(lit) ((char *)(uintptr_t)(lit))

static struct gcp_srv t_srv;
static struct azure_backend t_ab;
struct aca_conf aca_conf;
struct kit_idle aca_idle;
static int t_saves, t_idle_made, t_idle_deleted, t_used;
static char t_kv[256];

struct azure_backend *
aca_session(void)
{
	return &t_ab;
}

const char *
aca_environment_id(void)
{
	return ENV;
}

char *
aca_job_path(const char *job, const char *suffix)
{
	return xasprintf(
	    RG "/providers/Microsoft.App/jobs/%s%s", job, suffix ? suffix : "");
}

int
kit_idle_used(struct kit_idle *i, const char *job)
{
	(void)i;
	(void)job;
	return t_used;
}

void
kit_idle_made(struct kit_idle *i, const char *job, int made)
{
	(void)i;
	(void)job;
	if (!made)
		t_idle_made++;
}

void
kit_idle_deleted(struct kit_idle *i, const char *job, int gone)
{
	(void)i;
	(void)job;
	if (gone)
		t_idle_deleted++;
}

void
kit_hash(const char *text, char *hex, size_t n)
{
	unsigned char md[SHA256_DIGEST_LENGTH];
	char all[2 * SHA256_DIGEST_LENGTH + 1];

	SHA256((const unsigned char *)text, strlen(text), md);
	str_hex(all, md, sizeof(md));
	memcpy(hex, all, n);
	hex[n] = '\0';
}

const char *
backend_instance(struct backend *b)
{
	(void)b;
	return "inst";
}

const char *
volume_name(const struct volume *v)
{
	return v->name;
}

const char *
volume_shared_path(const struct volume *v)
{
	return json_str(v->doc, "shared");
}

cJSON *
volume_private(struct volume *v)
{
	cJSON *p = json_obj(v->doc, "priv");

	if (p == NULL) {
		p = cJSON_CreateObject();
		cJSON_AddItemToObject(v->doc, "priv", p);
	}
	return p;
}

void
backend_volume_save(struct backend *b, struct volume *v)
{
	(void)b;
	(void)v;
	t_saves++;
}

char *
backend_kv_get(struct backend *b, const char *key)
{
	(void)b;
	(void)key;
	return t_kv[0] != '\0' ? xstrdup(t_kv) : NULL;
}

void
backend_kv_set(struct backend *b, const char *key, const char *value)
{
	(void)b;
	(void)key;
	str_lcpy(t_kv, value, sizeof(t_kv));
}

size_t
backend_container_mounts(struct backend *b, struct container *c,
    struct backend_mount *out, size_t max)
{
	(void)b;
	(void)c;
	(void)out;
	(void)max;
	return 0;
}

/* --- the stand-in ------------------------------------------------------- */

struct t_rep {
	const char *status, *body;
};

static void
t_start(const struct t_rep *reps, size_t n)
{
	char **replies = xcalloc(n + 1, sizeof(*replies));
	struct azure_options o = { 0 };
	char *url;

	for (size_t i = 0; i < n; i++)
		replies[i] = gcp_srv_reply(reps[i].status, NULL, reps[i].body);
	gcp_srv_start(&t_srv, replies);
	free(replies);
	url = xasprintf("http://127.0.0.1:%d", t_srv.port);
	o.endpoint_arm = url;
	memset(&t_ab, 0, sizeof(t_ab));
	t_ab.subscription = T_STR("s");
	t_ab.resource_group = T_STR("g");
	t_ab.rg_path = T_STR(RG);
	t_ab.az = azure_new(t_srv.base, t_srv.http, &o, NULL);
	free(url);
	aca_conf.api_version_app = T_STR("2025-07-01");
	aca_vol_conf.storage_account = T_STR("acct");
	aca_vol_conf.api_version_storage = T_STR("2023-05-01");
	aca_vol_conf.share_quota_gib = 100;
	aca_vol_conf.shared_storage = NULL;
	aca_vol_conf.storage_account_key_file = NULL;
	aca_vol_conf.storage_resource_group = NULL;
	aca_vol_account = xstrdup(ACCT);
	aca_vol_key = xstrdup("S0VZ");
	t_saves = t_idle_made = t_idle_deleted = t_used = 0;
	t_kv[0] = '\0';
}

#define T_START(reps) t_start((reps), sizeof(reps) / sizeof((reps)[0]))

static int
t_teardown(void **state)
{
	(void)state;
	aca_vol_shutdown();
	azure_free(t_ab.az);
	t_ab.az = NULL;
	gcp_srv_stop(&t_srv);
	return 0;
}

struct t_done {
	int calls;
	struct err e;
	int failed;
};

static void
t_done_cb(void *arg, const struct err *e)
{
	struct t_done *d = arg;

	d->calls++;
	d->failed = e != NULL;
	if (e != NULL)
		d->e = *e;
	event_base_loopbreak(t_srv.base);
}

static struct volume *
t_vol(const char *name)
{
	struct volume *v = xcalloc(1, sizeof(*v));

	str_lcpy(v->name, name, sizeof(v->name));
	v->doc = cJSON_CreateObject();
	return v;
}

static void
t_vol_free(struct volume *v)
{
	cJSON_Delete(v->doc);
	free(v);
}

static void
t_run(void (*fn)(struct backend *, struct volume *, backend_done_fn, void *),
    struct volume *v, struct t_done *d)
{
	fn(NULL, v, t_done_cb, d);
	if (d->calls == 0)
		event_base_dispatch(t_srv.base);
	assert_int_equal(d->calls, 1);
}

/* --- the cases ------------------------------------------------------------ */

static void
t_create(void **state)
{
	static const struct t_rep reps[] = {
		{ "201 Created", "{\"name\":\"x\"}" },
		{ "200 OK", "{\"name\":\"x\"}" },
	};
	struct volume *v = t_vol("data");
	struct t_done d = { 0 };
	char share[ACA_VOL_NAME_SZ], *req, *want;

	(void)state;
	T_START(reps);
	aca_vol_name("inst", "data", share);
	t_run(aca_vol_create, v, &d);
	assert_false(d.failed);
	req = gcp_srv_requests(&t_srv);
	want = xasprintf("PUT " SHARES "%s?api-version=2023-05-01 HTTP", share);
	assert_non_null(strstr(req, want));
	free(want);
	want = xasprintf(
	    "PUT " ENV "/storages/%s?api-version=2025-07-01 HTTP", share);
	assert_non_null(strstr(req, want));
	free(want);
	assert_non_null(strstr(req, "\"shareQuota\":100"));
	assert_non_null(strstr(req, "\"sockerless_volume\":\"data\""));
	assert_non_null(strstr(req, "\"accountKey\":\"S0VZ\""));
	assert_non_null(strstr(req, "\"accessMode\":\"ReadWrite\""));
	assert_string_equal(
	    json_str(volume_private(v), ACA_P_VOL_STORAGE), share);
	assert_string_equal(
	    json_str(volume_private(v), ACA_P_VOL_SHARE), share);
	assert_int_equal(t_saves, 1);
	free(req);
	t_vol_free(v);
}

static void
t_create_storage_fails(void **state)
{
	static const struct t_rep reps[] = {
		{ "201 Created", "{\"name\":\"x\"}" },
		{ "400 Bad Request",
		    "{\"error\":{\"code\":\"InvalidRequestContent\","
		    "\"message\":\"bad storage\"}}" },
		{ "200 OK", "" },
	};
	struct volume *v = t_vol("data");
	struct t_done d = { 0 };
	char *req;

	(void)state;
	T_START(reps);
	t_run(aca_vol_create, v, &d);
	assert_true(d.failed);
	assert_int_equal(d.e.status, 400);
	assert_non_null(strstr(d.e.msg, "creating volume data"));
	assert_non_null(strstr(d.e.msg, "bad storage"));
	req = gcp_srv_requests(&t_srv);
	assert_int_equal(gcp_srv_count(req, "DELETE " SHARES "sk-data-"), 1);
	assert_null(json_str(volume_private(v), ACA_P_VOL_SHARE));
	assert_int_equal(t_saves, 0);
	free(req);
	t_vol_free(v);
}

static void
t_create_meets_a_share(void **state)
{
	static const struct t_rep ours[] = {
		{ "409 Conflict",
		    "{\"error\":{\"code\":\"ShareAlreadyExists\","
		    "\"message\":\"The specified share already exists.\"}}" },
		{ "200 OK",
		    "{\"properties\":{\"metadata\":{\"sockerless_volume\":"
		    "\"data\",\"sockerless_instance\":\"inst\"}}}" },
		{ "201 Created", "{}" },
	};
	static const struct t_rep theirs[] = {
		{ "409 Conflict",
		    "{\"error\":{\"code\":\"ShareAlreadyExists\","
		    "\"message\":\"The specified share already exists.\"}}" },
		{ "200 OK",
		    "{\"properties\":{\"metadata\":{\"sockerless_volume\":"
		    "\"data\",\"sockerless_instance\":\"other\"}}}" },
	};
	struct volume *v = t_vol("data");
	struct t_done d = { 0 };
	char *req;

	(void)state;
	T_START(ours);
	t_run(aca_vol_create, v, &d);
	assert_false(d.failed);
	req = gcp_srv_requests(&t_srv);
	assert_int_equal(gcp_srv_count(req, "GET " SHARES "sk-data-"), 1);
	assert_int_equal(gcp_srv_count(req, "PUT " ENV "/storages/"), 1);
	free(req);
	t_vol_free(v);
	t_teardown(NULL);

	v = t_vol("data");
	memset(&d, 0, sizeof(d));
	T_START(theirs);
	t_run(aca_vol_create, v, &d);
	assert_true(d.failed);
	assert_int_equal(d.e.status, 409);
	assert_non_null(strstr(d.e.msg, "is not this volume's"));
	req = gcp_srv_requests(&t_srv);
	assert_int_equal(gcp_srv_count(req, "PUT " ENV "/storages/"), 0);
	assert_int_equal(gcp_srv_count(req, "DELETE "), 0);
	free(req);
	t_vol_free(v);
}

static void
t_remove(void **state)
{
	static const struct t_rep reps[] = {
		{ "200 OK", "" },
		{ "200 OK", "" },
	};
	struct volume *v = t_vol("data");
	struct t_done d = { 0 };
	char *req, *st, *sh;

	(void)state;
	T_START(reps);
	json_set(volume_private(v), ACA_P_VOL_SHARE,
	    cJSON_CreateString("sk-data-1"));
	t_run(aca_vol_remove, v, &d);
	assert_false(d.failed);
	req = gcp_srv_requests(&t_srv);
	st = strstr(req,
	    "DELETE " ENV "/storages/sk-data-1?api-version="
	    "2025-07-01 HTTP");
	sh = strstr(req,
	    "DELETE " SHARES "sk-data-1?api-version=2023-05-01 "
	    "HTTP");
	assert_non_null(st);
	assert_non_null(sh);
	assert_true(st < sh); /* the storage first */
	free(req);
	t_vol_free(v);
}

static void
t_remove_idle_jobs(void **state)
{
	static const struct t_rep reps[] = {
		{ "409 Conflict",
		    "{\"error\":{\"code\":\"ManagedEnvironmentStorageInUse\","
		    "\"message\":\"Storage is used by jobs\"}}" },
		{ "200 OK",
		    "{\"value\":[{\"name\":\"sk-j1\",\"properties\":{"
		    "\"environmentId\":\"" ENV "\",\"template\":{\"volumes\":"
		    "[{\"name\":\"v0\",\"storageName\":\"sk-data-1\"}]}}},"
		    "{\"name\":\"sk-j2\",\"properties\":{\"environmentId\":"
		    "\"" ENV "\",\"template\":{\"volumes\":[{\"name\":\"v0\","
		    "\"storageName\":\"sk-other\"}]}}},"
		    "{\"name\":\"sk-j3\",\"properties\":{\"environmentId\":"
		    "\"" RG "/providers/Microsoft.App/managedEnvironments/e2\","
		    "\"template\":{\"volumes\":[{\"name\":\"v0\","
		    "\"storageName\":\"sk-data-1\"}]}}}]}" },
		{ "204 No Content", "" },
		{ "200 OK", "" },
		{ "200 OK", "" },
	};
	struct volume *v = t_vol("data");
	struct t_done d = { 0 };
	char *req;

	(void)state;
	T_START(reps);
	json_set(volume_private(v), ACA_P_VOL_SHARE,
	    cJSON_CreateString("sk-data-1"));
	t_run(aca_vol_remove, v, &d);
	assert_false(d.failed);
	req = gcp_srv_requests(&t_srv);
	assert_int_equal(gcp_srv_count(req, "DELETE " ENV "/storages/"), 2);
	assert_int_equal(gcp_srv_count(req,
			     "GET " RG "/providers/Microsoft."
			     "App/jobs?api-version=2025-07-01"),
	    1);
	assert_int_equal(gcp_srv_count(req,
			     "DELETE " RG "/providers/Microsoft."
			     "App/jobs/sk-j1?"),
	    1);
	assert_int_equal(gcp_srv_count(req, "/jobs/sk-j2"), 0);
	assert_int_equal(gcp_srv_count(req, "/jobs/sk-j3"), 0);
	assert_int_equal(gcp_srv_count(req, "DELETE " SHARES "sk-data-1"), 1);
	assert_int_equal(t_idle_made, 1);
	assert_int_equal(t_idle_deleted, 1);
	free(req);
	t_vol_free(v);
}

static void
t_remove_in_use_and_gone(void **state)
{
	static const struct t_rep in_use[] = {
		{ "409 Conflict",
		    "{\"error\":{\"code\":\"ManagedEnvironmentStorageInUse\","
		    "\"message\":\"Storage is used by jobs\"}}" },
		{ "200 OK",
		    "{\"value\":[{\"name\":\"sk-j1\",\"properties\":{"
		    "\"environmentId\":\"" ENV "\",\"template\":{\"volumes\":"
		    "[{\"name\":\"v0\",\"storageName\":\"sk-data-1\"}]}}}]}" },
	};
	static const struct t_rep gone[] = {
		{ "404 Not Found",
		    "{\"error\":{\"code\":\"ResourceNotFound\",\"message\":"
		    "\"no storage\"}}" },
		{ "404 Not Found",
		    "{\"error\":{\"code\":\"ShareNotFound\",\"message\":"
		    "\"no share\"}}" },
	};
	struct volume *v = t_vol("data");
	struct t_done d = { 0 };

	(void)state;
	T_START(in_use);
	t_used = 1; /* a container's job: not deleted */
	json_set(volume_private(v), ACA_P_VOL_SHARE,
	    cJSON_CreateString("sk-data-1"));
	t_run(aca_vol_remove, v, &d);
	assert_true(d.failed);
	assert_int_equal(d.e.status, 409);
	assert_non_null(strstr(d.e.msg, "sk-j1"));
	assert_int_equal(t_idle_made, 0);
	t_vol_free(v);
	t_teardown(NULL);

	/* A create a restart cut short recorded nothing: the names follow
	 * from the volume's; what is gone counts as removed. */
	v = t_vol("data");
	memset(&d, 0, sizeof(d));
	T_START(gone);
	t_run(aca_vol_remove, v, &d);
	assert_false(d.failed);
	t_vol_free(v);
}

static void
t_init(void **state)
{
	static const struct t_rep ok[] = {
		{ "200 OK", "{\"name\":\"acct\",\"kind\":\"StorageV2\"}" },
		{ "200 OK",
		    "{\"keys\":[{\"keyName\":\"key1\",\"value\":\"a2V5MQ==\"},"
		    "{\"keyName\":\"key2\",\"value\":\"a2V5Mg==\"}]}" },
		{ "200 OK",
		    "{\"name\":\"sh\",\"properties\":{\"azureFile\":{"
		    "\"shareName\":\"sh\"}}}" },
	};
	static const struct t_rep missing[] = {
		{ "404 Not Found",
		    "{\"error\":{\"code\":\"ResourceNotFound\",\"message\":"
		    "\"The Resource was not found.\"}}" },
	};
	struct err e;
	char *req;

	(void)state;
	T_START(ok);
	aca_vol_conf.shared_storage = T_STR("sh");
	assert_int_equal(aca_vol_init(NULL, &e), 0);
	assert_string_equal(aca_vol_key, "a2V5MQ==");
	req = gcp_srv_requests(&t_srv);
	assert_non_null(
	    strstr(req, "GET " ACCT "?api-version=2023-05-01 HTTP"));
	assert_non_null(
	    strstr(req, "POST " ACCT "/listKeys?api-version=2023-05-01 HTTP"));
	assert_non_null(
	    strstr(req, "GET " ENV "/storages/sh?api-version=2025-07-01 HTTP"));
	free(req);
	t_teardown(NULL);

	T_START(missing);
	assert_int_equal(aca_vol_init(NULL, &e), -1);
	assert_int_equal(e.status, 500);
	assert_non_null(strstr(e.msg, "aca.storage_account acct"));
	assert_non_null(strstr(e.msg, "Storage Account Contributor"));
	t_teardown(NULL);

	/* A bad account name never reaches Azure. */
	T_START(missing);
	aca_vol_conf.storage_account = T_STR("Bad-Name");
	assert_int_equal(aca_vol_init(NULL, &e), -1);
	assert_non_null(strstr(e.msg, "not a storage account name"));
	req = gcp_srv_requests(&t_srv);
	assert_string_equal(req, "");
	free(req);
}

static void
t_shared(void **state)
{
	static const struct t_rep none[] = { { "500 Internal", "{}" } };
	struct volume *v = t_vol("sockerless-shared-abc");
	struct volume *w = t_vol("sockerless-shared-def");
	struct t_done d = { 0 };
	char *req;

	(void)state;
	T_START(none);
	json_add_str(v->doc, "shared", "/shared/gh/repo");
	json_add_str(w->doc, "shared", "/data/x");
	t_run(aca_vol_create, v, &d);
	assert_true(d.failed);
	assert_int_equal(d.e.status, 501);
	assert_non_null(strstr(d.e.msg, "aca.shared_storage"));
	aca_vol_conf.shared_storage = T_STR("sockerless-shared");
	memset(&d, 0, sizeof(d));
	t_run(aca_vol_create, v, &d);
	assert_false(d.failed);
	assert_string_equal(json_str(volume_private(v), ACA_P_VOL_STORAGE),
	    "sockerless-shared");
	assert_string_equal(
	    json_str(volume_private(v), ACA_P_VOL_SUB), "gh/repo");
	assert_string_equal(t_kv, "shared");
	/* Another top directory is refused. */
	memset(&d, 0, sizeof(d));
	t_run(aca_vol_create, w, &d);
	assert_true(d.failed);
	assert_int_equal(d.e.status, 400);
	assert_non_null(strstr(d.e.msg, "not under /shared"));
	/* Removing a shared path's volume touches nothing. */
	memset(&d, 0, sizeof(d));
	t_run(aca_vol_remove, v, &d);
	assert_false(d.failed);
	req = gcp_srv_requests(&t_srv);
	assert_string_equal(req, "");
	free(req);
	t_vol_free(v);
	t_vol_free(w);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(t_create, t_teardown),
		cmocka_unit_test_teardown(t_create_storage_fails, t_teardown),
		cmocka_unit_test_teardown(t_create_meets_a_share, t_teardown),
		cmocka_unit_test_teardown(t_remove, t_teardown),
		cmocka_unit_test_teardown(t_remove_idle_jobs, t_teardown),
		cmocka_unit_test_teardown(t_remove_in_use_and_gone, t_teardown),
		cmocka_unit_test_teardown(t_init, t_teardown),
		cmocka_unit_test_teardown(t_shared, t_teardown),
	};

	json_init();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
