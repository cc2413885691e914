/* Google credentials (common/cloud/gcp_auth*.c) other than service
 * account keys, against a forked local HTTP server: the metadata server
 * and its flavor header, authorized users, workload identity federation
 * with file and URL sources and impersonation, the ADC order, and
 * malformed files. */
#define T_PORT_OFFSET 151
#include "t_gcp_auth.h"

#define T_FLAVOR "Metadata-Flavor: Google\r\n"

static void
t_metadata(void **state)
{
	int ls = t_listen(), n;
	char *replies[] = {
		t_reply(200, T_FLAVOR, T_TOKEN("ya29.md", 3599)),
		t_reply(200, T_FLAVOR, "md-proj"),
		t_reply(
		    200, T_FLAVOR, "default@md-proj.iam.gserviceaccount.com"),
		t_reply(200, T_FLAVOR,
		    "eyJhbGciOiJSUzI1NiJ9.eyJleHAiOjQxMDI0NDQ4MDB9.c2ln"),
		t_reply(200, NULL, T_TOKEN("ya29.impostor", 3599)),
		NULL,
	};
	char *host = xasprintf("127.0.0.1:%d", t_port), *tok = NULL, *reqs;
	struct event_base *base = event_base_new();
	struct gcp_auth *a;
	struct t_got g = { 0 };
	struct err e;

	(void)state;
	t_serve(ls, replies);
	setenv("GCE_METADATA_HOST", host, 1);
	a = t_new(base, NULL);
	assert_non_null(strstr(gcp_auth_source(a), "metadata server"));
	assert_null(gcp_auth_project(a));
	assert_int_equal(gcp_auth_token_sync(a, &tok, &e), 0);
	assert_string_equal(tok, "ya29.md");
	free(tok);
	assert_string_equal(gcp_auth_project(a), "md-proj");
	assert_string_equal(
	    gcp_auth_email(a), "default@md-proj.iam.gserviceaccount.com");
	gcp_auth_id_token(a, "https://svc-abc.a.run.app", t_cb, &g);
	t_loop(base, &g.calls, 1);
	assert_true(str_prefix(g.tok, "eyJhbGciOiJSUzI1NiJ9."));
	reqs = t_requests(&n);
	assert_int_equal(n, 4);
	assert_non_null(strstr(reqs,
	    "GET /computeMetadata/v1/instance/"
	    "service-accounts/default/token "));
	assert_non_null(strstr(reqs,
	    "GET /computeMetadata/v1/project/"
	    "project-id "));
	assert_non_null(strstr(reqs,
	    "identity?format=full&audience="
	    "https%3A%2F%2Fsvc-abc.a.run.app "));
	assert_int_equal(t_count(reqs, "Metadata-Flavor: Google"), 4);
	free(reqs);
	gcp_auth_free(a);
	/* An answer without the flavor header is not the metadata server. */
	a = t_new(NULL, NULL);
	assert_int_equal(gcp_auth_token_sync(a, &tok, &e), -1);
	assert_int_equal(e.status, 502);
	assert_non_null(strstr(e.msg, "without Metadata-Flavor: Google"));
	gcp_auth_free(a);
	event_base_free(base);
	free(host);
	for (int i = 0; replies[i] != NULL; i++)
		free(replies[i]);
}

static void
t_authorized_user(void **state)
{
	int ls = t_listen(), n;
	char *replies[] = { t_reply(200, NULL, T_TOKEN("ya29.user", 3599)),
		NULL };
	char *path = t_write("user.json",
		 "{\"type\":\"authorized_user\",\"client_id\":\"cid.apps\","
		 "\"client_secret\":\"csecret\",\"refresh_token\":"
		 "\"1//refresh-secret\",\"quota_project_id\":\"qp\"}"),
	     *uri = xasprintf("http://127.0.0.1:%d/token", t_port), *tok, *reqs;
	struct gcp_auth_conf conf = { .credentials_file = path,
		.token_uri = uri };
	struct event_base *base = event_base_new();
	struct gcp_auth *a;
	struct t_got g = { 0 };
	struct err e;

	(void)state;
	t_serve(ls, replies);
	a = t_new(base, &conf);
	assert_string_equal(gcp_auth_project(a), "qp");
	assert_non_null(strstr(gcp_auth_source(a), "authorized user"));
	assert_int_equal(gcp_auth_token_sync(a, &tok, &e), 0);
	assert_string_equal(tok, "ya29.user");
	free(tok);
	reqs = t_requests(&n);
	assert_non_null(strstr(reqs,
	    "grant_type=refresh_token&client_id="
	    "cid.apps&client_secret=csecret&"
	    "refresh_token=1%2F%2Frefresh-secret"));
	free(reqs);
	/* No ID tokens for users. */
	gcp_auth_id_token(a, "https://svc.a.run.app", t_cb, &g);
	t_loop(base, &g.calls, 1);
	assert_int_equal(g.e.status, 500);
	assert_non_null(strstr(g.e.msg, "cannot mint ID tokens"));
	gcp_auth_free(a);
	event_base_free(base);
	free(uri);
	free(path);
	free(replies[0]);
}

#define T_STS                                                           \
	"{\"access_token\":\"sts-token-secret\",\"issued_token_type\":" \
	"\"urn:ietf:params:oauth:token-type:access_token\","            \
	"\"token_type\":\"Bearer\",\"expires_in\":3600}"

static void
t_external_file(void **state)
{
	int ls = t_listen(), n;
	char *replies[] = { t_reply(200, NULL, T_STS), NULL };
	char *subj = t_write("subject.txt", "oidc-subject-jwt\n");
	char *text = xasprintf(
	    "{\"type\":\"external_account\",\"audience\":\"//iam.googleapis."
	    "com/projects/1/locations/global/workloadIdentityPools/p/"
	    "providers/gh\",\"subject_token_type\":\"urn:ietf:params:oauth:"
	    "token-type:jwt\",\"token_url\":\"http://127.0.0.1:%d/v1/token\","
	    "\"credential_source\":{\"file\":\"%s\"}}",
	    t_port, subj);
	char *path = t_write("ext.json", text), *tok, *reqs;
	struct gcp_auth_conf conf = { .credentials_file = path };
	struct gcp_auth *a;
	struct err e;

	(void)state;
	t_serve(ls, replies);
	a = t_new(NULL, &conf);
	assert_non_null(strstr(gcp_auth_source(a), "workload identity"));
	assert_int_equal(gcp_auth_token_sync(a, &tok, &e), 0);
	assert_string_equal(tok, "sts-token-secret");
	free(tok);
	reqs = t_requests(&n);
	assert_int_equal(n, 1);
	assert_non_null(strstr(reqs, "POST /v1/token "));
	assert_non_null(strstr(reqs,
	    "grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Atoken-"
	    "exchange&audience=%2F%2Fiam.googleapis.com%2Fprojects%2F1"));
	assert_non_null(strstr(reqs,
	    "&requested_token_type=urn%3Aietf%3A"
	    "params%3Aoauth%3Atoken-type%3A"
	    "access_token&subject_token=oidc-"
	    "subject-jwt&subject_token_type="));
	free(reqs);
	gcp_auth_free(a);
	free(path);
	free(text);
	free(subj);
	free(replies[0]);
}

static void
t_external_url_imp(void **state)
{
	int ls = t_listen(), n;
	char *replies[] = {
		t_reply(200, NULL, "{\"value\":\"url-subject\"}"),
		t_reply(200, NULL, T_STS),
		t_reply(200, NULL,
		    "{\"accessToken\":\"ya29.imp\",\"expireTime\":"
		    "\"2099-01-01T00:00:00Z\"}"),
		t_reply(200, NULL, "{\"value\":\"url-subject\"}"),
		t_reply(200, NULL, T_STS),
		t_reply(200, NULL,
		    "{\"token\":\"eyJhbGciOiJSUzI1NiJ9.eyJleHAiOjQxMDI0NDQ4MDB9."
		    "c2ln\"}"),
		NULL,
	};
	char *ep = xasprintf("http://127.0.0.1:%d", t_port);
	char *text = xasprintf(
	    "{\"type\":\"external_account\",\"audience\":\"//iam/aud\","
	    "\"subject_token_type\":\"urn:ietf:params:oauth:token-type:jwt\","
	    "\"service_account_impersonation_url\":\"https://iamcredentials."
	    "googleapis.com/v1/projects/-/serviceAccounts/"
	    "run@p.iam.gserviceaccount.com:generateAccessToken\","
	    "\"credential_source\":{\"url\":\"%s/subject\",\"headers\":"
	    "{\"X-Probe\":\"yes\"},\"format\":{\"type\":\"json\","
	    "\"subject_token_field_name\":\"value\"}}}",
	    ep);
	char *path = t_write("ext2.json", text), *tok, *reqs;
	struct gcp_auth_conf conf = { .credentials_file = path,
		.sts_endpoint = ep,
		.iamcredentials_endpoint = ep };
	struct event_base *base = event_base_new();
	struct gcp_auth *a;
	struct t_got g = { 0 };
	struct err e;

	(void)state;
	t_serve(ls, replies);
	a = t_new(base, &conf);
	assert_string_equal(gcp_auth_email(a), "run@p.iam.gserviceaccount.com");
	assert_int_equal(gcp_auth_token_sync(a, &tok, &e), 0);
	assert_string_equal(tok, "ya29.imp");
	free(tok);
	gcp_auth_id_token(a, "https://svc.a.run.app", t_cb, &g);
	t_loop(base, &g.calls, 1);
	assert_true(str_prefix(g.tok, "eyJhbGciOiJSUzI1NiJ9."));
	reqs = t_requests(&n);
	assert_int_equal(n, 6);
	assert_non_null(strstr(reqs, "GET /subject "));
	assert_non_null(strstr(reqs, "X-Probe: yes"));
	assert_non_null(strstr(reqs, "subject_token=url-subject"));
	assert_non_null(strstr(reqs,
	    "POST /v1/projects/-/serviceAccounts/run@"
	    "p.iam.gserviceaccount.com:"
	    "generateAccessToken "));
	assert_non_null(strstr(reqs, "Authorization: Bearer sts-token-secret"));
	assert_non_null(strstr(reqs, "\"lifetime\":\"3600s\""));
	assert_non_null(strstr(reqs, ":generateIdToken "));
	assert_non_null(strstr(reqs, "\"audience\":\"https://svc.a.run.app\""));
	free(reqs);
	gcp_auth_free(a);
	event_base_free(base);
	free(path);
	free(text);
	free(ep);
	for (int i = 0; replies[i] != NULL; i++)
		free(replies[i]);
}

static void
t_adc_order(void **state)
{
	char *sa, *gdir = xasprintf("%s/gcloud", t_dir), *gfile;
	struct gcp_auth *a;
	struct err e;

	(void)state;
	t_port = 1;
	sa = t_sa_file();
	mkdir(gdir, 0700);
	gfile = t_write("gcloud/application_default_credentials.json",
	    "{\"type\":\"authorized_user\",\"client_id\":\"c\","
	    "\"client_secret\":\"s\",\"refresh_token\":\"r\"}");
	setenv("CLOUDSDK_CONFIG", gdir, 1);
	setenv("GCE_METADATA_HOST", "127.0.0.1:1", 1);
	setenv("GOOGLE_APPLICATION_CREDENTIALS", sa, 1);
	a = t_new(NULL, NULL);
	assert_non_null(strstr(gcp_auth_source(a), "service account"));
	gcp_auth_free(a);
	unsetenv("GOOGLE_APPLICATION_CREDENTIALS");
	a = t_new(NULL, NULL);
	assert_non_null(strstr(gcp_auth_source(a), "gcloud ADC file"));
	gcp_auth_free(a);
	unlink(gfile);
	a = t_new(NULL, NULL);
	assert_non_null(strstr(gcp_auth_source(a), "metadata server"));
	gcp_auth_free(a);
	/* A GCE machine needs no variable. */
	unsetenv("GCE_METADATA_HOST");
	free(t_write("dmi", "Google Compute Engine\n"));
	gcp_auth_dmi_path = xasprintf("%s/dmi", t_dir);
	a = t_new(NULL, NULL);
	assert_non_null(strstr(gcp_auth_source(a), "metadata.google.internal"));
	gcp_auth_free(a);
	free((char *)gcp_auth_dmi_path);
	gcp_auth_dmi_path = "/nonexistent-dmi";
	/* Nothing: every place named and what to set. */
	assert_null(gcp_auth_new(NULL, NULL, NULL, &e));
	assert_int_equal(e.status, 500);
	assert_non_null(
	    strstr(e.msg, "GOOGLE_APPLICATION_CREDENTIALS: not set"));
	assert_non_null(strstr(e.msg, "application_default_credentials.json"));
	assert_non_null(strstr(e.msg, "GCE_METADATA_HOST"));
	assert_non_null(strstr(e.msg, "credentials_file"));
	rmdir(gdir);
	free(gdir);
	free(gfile);
	free(sa);
}

static void
t_malformed(void **state)
{
	static const struct {
		const char *text, *says;
	} cases[] = {
		{ "", "not a JSON object" },
		{ "[1]", "not a JSON object" },
		{ "{\"type\":1}", "\"type\" in the credentials file" },
		{ "{}", "has no \"type\"" },
		{ "{\"type\":\"impersonated_service_account\"}",
		    "not supported" },
		{ "{\"type\":\"service_account\",\"client_email\":\"a@b\"}",
		    "has no \"private_key\"" },
		{ "{\"type\":\"service_account\",\"client_email\":\"a@b\","
		  "\"private_key\":\"MIIE\"}",
		    "not a PKCS#8 PEM key" },
		{ "{\"type\":\"service_account\",\"client_email\":\"a@b\","
		  "\"private_key\":\"-----BEGIN PRIVATE KEY-----\","
		  "\"universe_domain\":\"example.com\"}",
		    "universe_domain \"example.com\" is not supported" },
		{ "{\"type\":\"authorized_user\",\"client_id\":\"c\"}",
		    "has no \"client_secret\"" },
		{ "{\"type\":\"external_account\",\"audience\":\"a\","
		  "\"subject_token_type\":\"t\"}",
		    "needs a \"credential_source\"" },
		{ "{\"type\":\"external_account\",\"audience\":\"a\","
		  "\"subject_token_type\":\"t\",\"credential_source\":{"
		  "\"executable\":{\"command\":\"/bin/sh\"}}}",
		    "executable credential sources are refused" },
		{ "{\"type\":\"external_account\",\"audience\":\"a\","
		  "\"subject_token_type\":\"t\",\"credential_source\":{"
		  "\"file\":\"f\",\"url\":\"http://x\"}}",
		    "exactly one of" },
		{ "{\"type\":\"external_account\",\"audience\":\"a\","
		  "\"subject_token_type\":\"t\",\"credential_source\":{"
		  "\"url\":\"http://x\",\"headers\":[1]}}",
		    "headers must be an object" },
		{ "{\"type\":\"external_account\",\"audience\":\"a\","
		  "\"subject_token_type\":\"t\",\"credential_source\":{"
		  "\"file\":\"f\",\"format\":{\"type\":\"xml\"}}}",
		    "neither \"text\" nor \"json\"" },
		{ "{\"type\":\"external_account\",\"audience\":\"a\","
		  "\"subject_token_type\":\"t\",\"credential_source\":{"
		  "\"file\":\"f\",\"format\":{\"type\":\"json\"}}}",
		    "subject_token_field_name" },
		{ "{\"type\":\"external_account\",\"audience\":\"a\","
		  "\"subject_token_type\":\"t\","
		  "\"service_account_impersonation_url\":\"https://x/y\","
		  "\"credential_source\":{\"file\":\"f\"}}",
		    "must end in /serviceAccounts/" },
	};
	struct gcp_auth_conf conf = { 0 };
	struct err e;

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *path = t_write("bad.json", cases[i].text);

		conf.credentials_file = path;
		err_clear(&e);
		assert_null(gcp_auth_new(NULL, NULL, &conf, &e));
		if (strstr(e.msg, cases[i].says) == NULL ||
		    strstr(e.msg, path) == NULL)
			fail_msg("case %zu: %s", i, e.msg);
		free(path);
	}
	conf.credentials_file = "/nonexistent/key.json";
	assert_null(gcp_auth_new(NULL, NULL, &conf, &e));
	assert_non_null(strstr(e.msg, "/nonexistent/key.json"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(
		    t_metadata, t_setup, t_teardown),
		cmocka_unit_test_setup_teardown(
		    t_authorized_user, t_setup, t_teardown),
		cmocka_unit_test_setup_teardown(
		    t_external_file, t_setup, t_teardown),
		cmocka_unit_test_setup_teardown(
		    t_external_url_imp, t_setup, t_teardown),
		cmocka_unit_test_setup_teardown(
		    t_adc_order, t_setup, t_teardown),
		cmocka_unit_test_setup_teardown(
		    t_malformed, t_setup, t_teardown),
	};

	return t_gcp_run(tests, sizeof(tests) / sizeof(tests[0]));
}
