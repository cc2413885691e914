/* Azure credentials (common/cloud/azure_auth*.c), the rest: managed
 * identity (the App Service endpoint's X-IDENTITY-HEADER, IMDS's
 * Metadata header, numbers as strings, a user-assigned client_id), the
 * order of the sources, azure_auth_new's sentences for what is not
 * usable, malformed answers, and form encoding after a URL's '?'. */
#define T_PORT_OFFSET 158
#include "t_azure_auth.h"

/* The scope without "/.default", as azure-identity's
 * _scopes_to_resource makes it. */
#define T_ARM_RESOURCE "resource=https%3A%2F%2Fmanagement.azure.com"

static void
t_mi_app_service(void **state)
{
	int ls = t_listen(), n;
	char *exp = xasprintf("\"%lld\"", (long long)time(NULL) + 3600);
	char *ok = xasprintf(T_MI_TOKEN("eyJ0.mi1", "%s"), exp);
	char *replies[] = { t_reply(200, NULL, ok),
		t_reply(200, NULL, T_MI_TOKEN("eyJ0.mi2", "4102444800")),
		t_reply(400, NULL,
		    "{\"statusCode\":400,\"message\":\"No managed identity "
		    "found for the specified ClientId.\"}"),
		NULL };
	char *ep = xasprintf("http://127.0.0.1:%d/msi/token", t_port);
	char *tok, *reqs, *second;
	struct azure_auth *a;
	struct err e;

	(void)state;
	t_serve(ls, replies);
	setenv("IDENTITY_ENDPOINT", ep, 1);
	setenv("IDENTITY_HEADER", "hdr-7f0e", 1);
	a = t_az_new(NULL, NULL);
	assert_string_equal(
	    azure_auth_source(a), "managed identity (App Service endpoint)");
	assert_null(azure_auth_tenant(a));
	assert_int_equal(
	    azure_auth_token_sync(a, AZURE_SCOPE_ARM, &tok, &e), 0);
	assert_string_equal(tok, "eyJ0.mi1");
	free(tok);
	azure_auth_free(a);
	/* A user-assigned identity by AZURE_CLIENT_ID; expires_on a number;
	 * the endpoint used as the platform wrote it, trailing '/' kept. */
	setenv("AZURE_CLIENT_ID", T_CLIENT, 1);
	free(ep);
	ep = xasprintf("http://127.0.0.1:%d/msi/token/", t_port);
	setenv("IDENTITY_ENDPOINT", ep, 1);
	a = t_az_new(NULL, NULL);
	assert_int_equal(
	    azure_auth_token_sync(a, AZURE_SCOPE_LOGS, &tok, &e), 0);
	assert_string_equal(tok, "eyJ0.mi2");
	free(tok);
	assert_int_equal(
	    azure_auth_token_sync(a, AZURE_SCOPE_ARM, &tok, &e), -1);
	assert_int_equal(e.status, 500);
	assert_non_null(strstr(e.msg,
	    "answered HTTP 400: No managed identity found for the specified "
	    "ClientId.; check that the user-assigned identity"));
	assert_null(strstr(e.msg, "hdr-7f0e"));
	reqs = t_requests(&n);
	assert_int_equal(n, 3);
	assert_non_null(strstr(reqs,
	    "GET /msi/token?api-version=2019-08-01&" T_ARM_RESOURCE
	    " HTTP/1.1"));
	assert_non_null(strcasestr(reqs, "X-IDENTITY-HEADER: hdr-7f0e"));
	assert_null(strcasestr(reqs, "Metadata: true"));
	second = strstr(reqs, "=====");
	assert_non_null(strstr(second,
	    "GET /msi/token/?api-version=2019-08-01&resource=https%3A%2F%2F"
	    "api.loganalytics.io&client_id=" T_CLIENT " HTTP/1.1"));
	free(reqs);
	azure_auth_free(a);
	free(ep);
	free(exp);
	free(ok);
	for (int i = 0; replies[i] != NULL; i++)
		free(replies[i]);
}

static void
t_mi_imds(void **state)
{
	int ls = t_listen(), n;
	char *ok =
	    xasprintf("{\"access_token\":\"eyJ0.imds\",\"refresh_token\":"
		      "\"\",\"expires_in\":\"3599\",\"expires_on\":"
		      "\"%lld\",\"not_before\":\"%lld\",\"resource\":"
		      "\"https://management.azure.com/\",\"token_type\":"
		      "\"Bearer\"}",
		(long long)time(NULL) + 3599, (long long)time(NULL));
	char *replies[] = { t_reply(200, NULL, ok),
		t_reply(400, NULL,
		    "{\"error\":\"invalid_request\",\"error_description\":"
		    "\"Identity not found\"}"),
		NULL };
	char *host = xasprintf("http://127.0.0.1:%d", t_port), *tok, *reqs;
	struct azure_auth_conf conf = { .imds_host = host };
	struct azure_auth *a;
	struct err e;

	(void)state;
	t_serve(ls, replies);
	a = t_az_new(NULL, &conf);
	assert_string_equal(azure_auth_source(a), "managed identity (IMDS)");
	assert_int_equal(
	    azure_auth_token_sync(a, AZURE_SCOPE_ARM, &tok, &e), 0);
	assert_string_equal(tok, "eyJ0.imds");
	free(tok);
	assert_int_equal(
	    azure_auth_token_sync(a, AZURE_SCOPE_LOGS, &tok, &e), -1);
	assert_non_null(strstr(
	    e.msg, "the managed identity endpoint (IMDS) http://127.0.0.1"));
	assert_non_null(strstr(e.msg,
	    "HTTP 400 invalid_request: Identity not found; check that this "
	    "resource has a system-assigned managed identity"));
	reqs = t_requests(&n);
	assert_non_null(strstr(reqs,
	    "GET /metadata/identity/oauth2/token?api-version=2018-02-01&" T_ARM_RESOURCE
	    " HTTP/1.1"));
	assert_non_null(strcasestr(reqs, "\nMetadata: true"));
	free(reqs);
	azure_auth_free(a);
	/* Nothing answers: azure_auth_new succeeded, the fetch names every
	 * source and what to set. */
	t_teardown(NULL);
	a = t_az_new(NULL, &conf);
	assert_int_equal(
	    azure_auth_token_sync(a, AZURE_SCOPE_ARM, &tok, &e), -1);
	assert_int_equal(e.status, 502);
	assert_non_null(strstr(e.msg, "did not answer"));
	assert_non_null(strstr(e.msg, "AZURE_CLIENT_SECRET"));
	assert_non_null(strstr(e.msg, "AZURE_CLIENT_CERTIFICATE_PATH"));
	assert_non_null(strstr(e.msg, "AZURE_FEDERATED_TOKEN_FILE"));
	assert_non_null(strstr(e.msg, "IDENTITY_ENDPOINT"));
	azure_auth_free(a);
	free(host);
	free(ok);
	for (int i = 0; replies[i] != NULL; i++)
		free(replies[i]);
}

static void
t_source_is(const char *prefix)
{
	struct azure_auth *a = t_az_new(NULL, NULL);

	if (!str_prefix(azure_auth_source(a), prefix))
		fail_msg("source \"%s\", wanted \"%s...\"",
		    azure_auth_source(a), prefix);
	azure_auth_free(a);
}

/* secret beats certificate beats federated beats managed identity. */
static void
t_order(void **state)
{
	char *pem = t_cert_pem("o.pem", NULL), *fed = t_write("o.fed", "x.y.z");

	(void)state;
	t_port = 9;
	t_az_env(1);
	setenv("AZURE_CLIENT_CERTIFICATE_PATH", pem, 1);
	setenv("AZURE_FEDERATED_TOKEN_FILE", fed, 1);
	setenv("IDENTITY_ENDPOINT", "http://127.0.0.1:9/msi/token", 1);
	setenv("IDENTITY_HEADER", "h", 1);
	t_source_is("client secret for app");
	unsetenv("AZURE_CLIENT_SECRET");
	t_source_is("client certificate");
	unsetenv("AZURE_CLIENT_CERTIFICATE_PATH");
	t_source_is("workload identity");
	unsetenv("AZURE_FEDERATED_TOKEN_FILE");
	t_source_is("managed identity (App Service");
	unsetenv("IDENTITY_ENDPOINT");
	t_source_is("managed identity (IMDS)");
	free(pem);
	free(fed);
}

/* What is named but not usable fails azure_auth_new, naming the sources
 * and variables. */
static void
t_not_usable(void **state)
{
	struct azure_auth_conf conf = { 0 };
	char *msg;

	(void)state;
	setenv("AZURE_CLIENT_SECRET", T_SECRET, 1);
	setenv("AZURE_CLIENT_ID", T_CLIENT, 1);
	msg = t_az_new_err(NULL);
	assert_non_null(strstr(
	    msg, "AZURE_CLIENT_SECRET is set but AZURE_TENANT_ID is not"));
	assert_non_null(strstr(msg, "AZURE_CLIENT_CERTIFICATE_PATH"));
	assert_non_null(strstr(msg, "IDENTITY_ENDPOINT with IDENTITY_HEADER"));
	assert_non_null(strstr(msg, "IMDS"));
	assert_null(strstr(msg, T_SECRET));
	free(msg);
	unsetenv("AZURE_CLIENT_SECRET");
	unsetenv("AZURE_CLIENT_ID");
	setenv("AZURE_TENANT_ID", T_TENANT, 1);
	conf.federated_token_file = "/var/run/token";
	msg = t_az_new_err(&conf);
	assert_non_null(strstr(msg, "AZURE_CLIENT_ID is not"));
	free(msg);
	setenv("IDENTITY_ENDPOINT", "http://127.0.0.1:9/msi/token", 1);
	msg = t_az_new_err(NULL);
	assert_non_null(strstr(msg, "IDENTITY_HEADER is not"));
	free(msg);
	/* other hosts' managed identities: refused, not IMDS */
	setenv("IDENTITY_HEADER", "h", 1);
	setenv("IMDS_ENDPOINT", "http://127.0.0.1:9", 1);
	msg = t_az_new_err(NULL);
	assert_non_null(strstr(msg,
	    "(Azure Arc) names a managed identity "
	    "sockerless does not support"));
	free(msg);
	unsetenv("IMDS_ENDPOINT");
	setenv("IDENTITY_SERVER_THUMBPRINT", "ab", 1);
	msg = t_az_new_err(NULL);
	assert_non_null(strstr(msg, "(Service Fabric)"));
	free(msg);
	unsetenv("IDENTITY_SERVER_THUMBPRINT");
	unsetenv("IDENTITY_ENDPOINT");
	unsetenv("IDENTITY_HEADER");
	setenv("MSI_ENDPOINT", "http://127.0.0.1:9/msi", 1);
	msg = t_az_new_err(NULL);
	assert_non_null(strstr(msg, "MSI_ENDPOINT (Cloud Shell"));
	free(msg);
	unsetenv("MSI_ENDPOINT");
	setenv("AZURE_TENANT_ID", "x/../../evil", 1);
	msg = t_az_new_err(NULL);
	assert_non_null(strstr(msg, "is not a tenant"));
	free(msg);
	setenv("AZURE_TENANT_ID", T_TENANT, 1);
	setenv("AZURE_AUTHORITY_HOST", "ftp://login.example", 1);
	msg = t_az_new_err(NULL);
	assert_non_null(strstr(msg, "must be an http or https URL"));
	free(msg);
	setenv("AZURE_AUTHORITY_HOST", "https://", 1);
	msg = t_az_new_err(NULL);
	assert_non_null(strstr(msg, "names no host"));
	free(msg);
	unsetenv("AZURE_AUTHORITY_HOST");
	conf.federated_token_file = NULL;
	conf.client_secret_file = "/nonexistent/secret";
	setenv("AZURE_CLIENT_ID", T_CLIENT, 1);
	msg = t_az_new_err(&conf);
	assert_non_null(strstr(msg, "client_secret_file"));
	assert_non_null(strstr(msg, "/nonexistent/secret"));
	free(msg);
}

/* Answers that are not tokens: a sentence each, never a crash. */
static void
t_malformed_answers(void **state)
{
	static const char *const bad[] = { "", "[]", "null", "{\"x\":1}",
		"{\"access_token\":\"a\"}",
		"{\"access_token\":\"a\",\"expires_in\":\"soon\"}",
		"{\"access_token\":\"a\",\"expires_in\":-5}",
		"{\"access_token\":\"a\",\"expires_in\":1e300}",
		"{\"access_token\":\"a\\r\\nX: y\",\"expires_in\":60}",
		"{\"access_token\":\"\",\"expires_in\":60}",
		"{\"access_token\":7,\"expires_in\":60}",
		"{\"access_token\":\"a\",\"expires_in\":9,\"token_type\":\"pop\"}",
		"{\"access_token\":\"a\",\"expires_on\":\"12/05/2026 13:00\"}",
		"{\"access_token\":\"a\",\"expires_on\":\"100\"}",
		"{\"access" };
	static const char good[] =
	    "{\"access_token\":\"ok\",\"expires_in\":\"120\"}";
	struct azure_tok t = { 0 };
	struct err e;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int re =
		    azure_auth_flow_parse_entra(bad[i], strlen(bad[i]), &t, &e);
		int rm =
		    azure_auth_flow_parse_mi(bad[i], strlen(bad[i]), &t, &e);

		if (re != -1 || rm != -1)
			fail_msg("accepted: %s", bad[i]);
		assert_true(strlen(e.msg) > 10);
	}
	assert_null(t.token);
	assert_int_equal(
	    azure_auth_flow_parse_mi(good, strlen(good), &t, &e), 0);
	assert_string_equal(t.token, "ok");
	assert_true(t.exp > (int64_t)time(NULL) + 100);
	azure_auth_flow_tok_clear(&t);
}

/* A query built after '?' has no empty first parameter. */
static void
t_form_after_query(void **state)
{
	struct buf b;

	(void)state;
	buf_init(&b, 0);
	buf_adds(&b, "http://h/token?");
	cloud_cred_form_add(&b, "scopes", "a b");
	cloud_cred_form_add(&b, "x", "1");
	assert_string_equal(b.data, "http://h/token?scopes=a%20b&x=1");
	buf_reset(&b);
	cloud_cred_form_add(&b, "k", "v/=");
	assert_string_equal(b.data, "k=v%2F%3D");
	buf_free(&b);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(
		    t_mi_app_service, t_az_setup, t_teardown),
		cmocka_unit_test_setup_teardown(
		    t_mi_imds, t_az_setup, t_teardown),
		cmocka_unit_test_setup_teardown(
		    t_order, t_az_setup, t_teardown),
		cmocka_unit_test_setup_teardown(
		    t_not_usable, t_az_setup, t_teardown),
		cmocka_unit_test_setup_teardown(
		    t_malformed_answers, t_az_setup, t_teardown),
		cmocka_unit_test_setup_teardown(
		    t_form_after_query, t_az_setup, t_teardown),
	};

	return t_az_run(tests, sizeof(tests) / sizeof(tests[0]));
}
