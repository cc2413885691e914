/* Azure credentials (common/cloud/azure_auth*.c) against Entra ID's
 * token endpoint played by a forked local HTTP server: the form of each
 * grant (client secret, certificate assertion verified with the
 * certificate's key, federated token re-read after a rewrite), the cache
 * per scope with its refresh ahead of expiry, shared fetches and cancel,
 * Entra's errors as sentences, retries, and the log kept free of
 * secrets. t_azure_auth_mi.c has managed identity, the order of the
 * sources and the malformed inputs. */
#define T_PORT_OFFSET 157
#include "t_azure_auth.h"

#define T_ARM_FORM                                          \
	"grant_type=client_credentials&client_id=" T_CLIENT \
	"&scope=https%3A%2F%2Fmanagement.azure.com%2F.default"

static void
t_secret_sync(void **state)
{
	int ls = t_listen(), n;
	char *replies[] = { t_reply(200, NULL,
				"{\"token_type\":\"Bearer\",\"expires_in\":"
				"\"3599\",\"ext_expires_in\":3599,"
				"\"access_token\":\"eyJ0.arm.first\"}"),
		NULL };
	char *tok = NULL, *reqs;
	struct azure_auth *a;
	struct err e;

	(void)state;
	t_serve(ls, replies);
	t_az_env(1);
	a = t_az_new(NULL, NULL);
	assert_string_equal(azure_auth_source(a),
	    "client secret for app " T_CLIENT " in tenant " T_TENANT);
	assert_string_equal(azure_auth_tenant(a), T_TENANT);
	assert_null(azure_auth_token_cached(a, AZURE_SCOPE_ARM));
	assert_int_equal(
	    azure_auth_token_sync(a, AZURE_SCOPE_ARM, &tok, &e), 0);
	assert_string_equal(tok, "eyJ0.arm.first");
	free(tok);
	/* From the cache: no second request. */
	assert_int_equal(
	    azure_auth_token_sync(a, AZURE_SCOPE_ARM, &tok, &e), 0);
	free(tok);
	assert_string_equal(
	    azure_auth_token_cached(a, AZURE_SCOPE_ARM), "eyJ0.arm.first");
	assert_null(azure_auth_token_cached(a, AZURE_SCOPE_LOGS));
	reqs = t_requests(&n);
	assert_int_equal(n, 1);
	assert_non_null(
	    strstr(reqs, "POST /" T_TENANT "/oauth2/v2.0/token HTTP/1.1"));
	assert_non_null(strcasestr(
	    reqs, "Content-Type: application/x-www-form-urlencoded"));
	assert_non_null(strstr(
	    reqs, T_ARM_FORM "&client_secret=s3cr3t~Value.With%2FChars%2B%3D"));
	/* Within 60 s of expiry the cache is empty. */
	t_clock_skew = 3599 - 59;
	assert_null(azure_auth_token_cached(a, AZURE_SCOPE_ARM));
	free(reqs);
	azure_auth_free(a);
	free(replies[0]);
}

/* client_secret_file's first line beats AZURE_CLIENT_SECRET. */
static void
t_secret_file(void **state)
{
	int ls = t_listen(), n;
	char *replies[] = { t_reply(200, NULL, T_TOKEN("eyJ0.f", 3599)), NULL };
	char *path = t_write("secret", "from-file\r\nsecond line\n");
	char *empty = t_write("empty", "\n"), *reqs, *tok, *msg, *host;
	struct azure_auth_conf conf = { .client_secret_file = path };
	struct azure_auth *a;
	struct err e;

	(void)state;
	t_serve(ls, replies);
	t_az_env(1);
	/* the conf's authority (no trailing '/') beats the environment's */
	host = xasprintf("http://127.0.0.1:%d", t_port);
	setenv("AZURE_AUTHORITY_HOST", "http://127.0.0.1:9/", 1);
	conf.authority_host = host;
	a = t_az_new(NULL, &conf);
	assert_int_equal(
	    azure_auth_token_sync(a, AZURE_SCOPE_LOGS, &tok, &e), 0);
	free(tok);
	reqs = t_requests(&n);
	assert_non_null(
	    strstr(reqs, "POST /" T_TENANT "/oauth2/v2.0/token HTTP/1.1"));
	assert_non_null(strstr(reqs,
	    "&scope=https%3A%2F%2Fapi.loganalytics.io%2F.default"
	    "&client_secret=from-file\n"));
	conf.client_secret_file = empty;
	msg = t_az_new_err(&conf);
	assert_non_null(strstr(msg, "is empty: its first line must be"));
	free(msg);
	free(reqs);
	azure_auth_free(a);
	free(path);
	free(host);
	free(empty);
	free(replies[0]);
}

static int t_total;

static void
t_count_cb(void *arg, const char *token, const struct err *e)
{
	t_cb(arg, token, e);
	t_total++;
}

/* Two scopes cached apart; one fetch per scope however many wait. */
static void
t_scopes_coalesce(void **state)
{
	int ls = t_listen(), n;
	char *replies[] = { t_reply(200, NULL, T_TOKEN("eyJ0.one", 3599)),
		t_reply(200, NULL, T_TOKEN("eyJ0.two", 3599)), NULL };
	char *reqs, *second;
	struct event_base *base = event_base_new();
	struct azure_auth *a;
	struct t_got g[6];
	uint64_t ids[5];
	const char *arm_tok, *logs_tok;

	(void)state;
	memset(g, 0, sizeof(g));
	t_total = 0;
	t_serve(ls, replies);
	t_az_env(1);
	a = t_az_new(base, NULL);
	for (int i = 0; i < 4; i++)
		ids[i] =
		    azure_auth_token(a, AZURE_SCOPE_ARM, t_count_cb, &g[i]);
	ids[4] = azure_auth_token(a, AZURE_SCOPE_LOGS, t_count_cb, &g[4]);
	assert_true(ids[0] != 0 && ids[1] != ids[0]);
	azure_auth_cancel(a, ids[3]);
	assert_int_equal(t_total, 0); /* never inside the call */
	t_loop(base, &t_total, 4);
	reqs = t_requests(&n);
	assert_int_equal(n, 2);
	/* the first request answered got "one" */
	second = strstr(reqs, "=====");
	arm_tok = strstr(second, "management.azure.com") != NULL ? "eyJ0.two" :
								   "eyJ0.one";
	logs_tok = strcmp(arm_tok, "eyJ0.one") == 0 ? "eyJ0.two" : "eyJ0.one";
	for (int i = 0; i < 3; i++)
		assert_string_equal(g[i].tok, arm_tok);
	assert_int_equal(g[3].calls, 0);
	assert_string_equal(g[4].tok, logs_tok);
	assert_string_equal(
	    azure_auth_token_cached(a, AZURE_SCOPE_LOGS), logs_tok);
	/* From the cache, still deferred. */
	azure_auth_token(a, AZURE_SCOPE_LOGS, t_count_cb, &g[5]);
	assert_int_equal(g[5].calls, 0);
	t_loop(base, &t_total, 5);
	assert_string_equal(g[5].tok, logs_tok);
	free(reqs);
	azure_auth_free(a);
	event_base_free(base);
	free(replies[0]);
	free(replies[1]);
}

static void
t_refresh_ahead(void **state)
{
	int ls = t_listen(), n = 0;
	char *replies[] = { t_reply(200, NULL, T_TOKEN("eyJ0.old", 302)),
		t_reply(200, NULL, T_TOKEN("eyJ0.new", 3599)), NULL };
	char *reqs;
	struct event_base *base = event_base_new();
	struct azure_auth *a;
	struct t_got g = { 0 };
	time_t end;

	(void)state;
	t_serve(ls, replies);
	t_az_env(1);
	a = t_az_new(base, NULL);
	azure_auth_token(a, AZURE_SCOPE_ARM, t_cb, &g);
	t_loop(base, &g.calls, 1);
	assert_string_equal(g.tok, "eyJ0.old");
	/* Refreshed by the timer 300 s before expiry, with nobody asking. */
	end = time(NULL) + 30;
	while (time(NULL) < end &&
	    strcmp(azure_auth_token_cached(a, AZURE_SCOPE_ARM), "eyJ0.new") !=
		0)
		event_base_loop(base, EVLOOP_ONCE);
	assert_string_equal(
	    azure_auth_token_cached(a, AZURE_SCOPE_ARM), "eyJ0.new");
	reqs = t_requests(&n);
	assert_int_equal(n, 2);
	free(reqs);
	azure_auth_free(a);
	event_base_free(base);
	free(replies[0]);
	free(replies[1]);
}

static void
t_errors_and_retry(void **state)
{
	int ls = t_listen(), n;
	char *replies[] = { t_reply(503, NULL, "{}"),
		t_reply(429, "Retry-After: 0\r\n",
		    "{\"error\":\"temporarily_unavailable\"}"),
		t_reply(200, NULL, T_TOKEN("eyJ0.third", 3599)),
		t_reply(401, NULL,
		    "{\"error\":\"invalid_client\",\"error_description\":"
		    "\"AADSTS7000215: Invalid client secret provided. Ensure "
		    "the secret being sent in the request is the client "
		    "secret value.\\r\\nTrace ID: 0f1e\\r\\nCorrelation ID: "
		    "9a8b\\r\\nTimestamp: 2026-12-05 13:00:00Z\","
		    "\"error_codes\":[7000215],\"timestamp\":\"2026-12-05 "
		    "13:00:00Z\",\"trace_id\":\"0f1e\",\"correlation_id\":"
		    "\"9a8b\"}"),
		t_reply(400, NULL,
		    "{\"error\":\"unauthorized_client\",\"error_description\":"
		    "\"AADSTS700016: Application with identifier 'x' was not "
		    "found in the directory 'y'.\"}"),
		NULL };
	char *tok = NULL, *reqs;
	struct azure_auth *a;
	struct err e;

	(void)state;
	t_serve(ls, replies);
	t_az_env(1);
	a = t_az_new(NULL, NULL);
	assert_int_equal(
	    azure_auth_token_sync(a, AZURE_SCOPE_ARM, &tok, &e), 0);
	assert_string_equal(tok, "eyJ0.third");
	free(tok);
	reqs = t_requests(&n);
	assert_int_equal(n, 3);
	free(reqs);
	/* invalid_client is not retried and becomes a sentence. */
	assert_int_equal(
	    azure_auth_token_sync(a, AZURE_SCOPE_LOGS, &tok, &e), -1);
	assert_null(tok);
	assert_int_equal(e.status, 500);
	assert_non_null(strstr(e.msg,
	    "getting an Azure token for " AZURE_SCOPE_LOGS
	    " from client secret for app " T_CLIENT));
	assert_non_null(strstr(e.msg,
	    "answered HTTP 401 invalid_client: AADSTS7000215: Invalid "
	    "client secret provided."));
	assert_non_null(strstr(e.msg, "check the client secret"));
	assert_null(strstr(e.msg, "Trace ID"));
	assert_null(strstr(e.msg, T_SECRET));
	assert_int_equal(
	    azure_auth_token_sync(a, AZURE_SCOPE_LOGS, &tok, &e), -1);
	assert_non_null(strstr(e.msg, "AADSTS700016"));
	assert_non_null(strstr(e.msg, "check AZURE_CLIENT_ID"));
	azure_auth_free(a);
	/* Nobody listening: 502. */
	t_teardown(NULL);
	a = t_az_new(NULL, NULL);
	assert_int_equal(
	    azure_auth_token_sync(a, AZURE_SCOPE_ARM, &tok, &e), -1);
	assert_int_equal(e.status, 502);
	assert_non_null(strstr(e.msg, "did not answer"));
	azure_auth_free(a);
	for (int i = 0; replies[i] != NULL; i++)
		free(replies[i]);
}

struct t_freer {
	struct azure_auth *a;
	int calls;
};

static void
t_free_cb(void *arg, const char *token, const struct err *e)
{
	struct t_freer *f = arg;

	(void)token;
	(void)e;
	f->calls++;
	azure_auth_free(f->a); /* the second waiter is never called */
}

/* Freeing from a callback waits until it returns; the rest are dropped. */
static void
t_free_in_callback(void **state)
{
	int ls = t_listen();
	char *replies[] = { t_reply(200, NULL, T_TOKEN("eyJ0.f", 3599)), NULL };
	struct event_base *base = event_base_new();
	struct t_freer fr = { 0 };
	struct t_got g = { 0 };

	(void)state;
	t_serve(ls, replies);
	t_az_env(1);
	fr.a = t_az_new(base, NULL);
	azure_auth_token(fr.a, AZURE_SCOPE_ARM, t_free_cb, &fr);
	azure_auth_token(fr.a, AZURE_SCOPE_ARM, t_cb, &g);
	t_loop(base, &fr.calls, 1);
	event_base_loop(base, EVLOOP_NONBLOCK);
	assert_int_equal(g.calls, 0);
	event_base_free(base);
	free(replies[0]);
}

/* --- the certificate --- */

static char *
t_b64_json(const char *seg, size_t n)
{
	char *s = xstrndup(seg, n), *d;
	size_t len;

	d = str_base64_decode(s, &len);
	free(s);
	assert_non_null(d);
	return d;
}

/* The assertion's header, claims and signature (verified with the
 * certificate's public key); chain: x5c expected. */
static void
t_check_assertion(const char *jwt, int chain)
{
	const char *d1 = strchr(jwt, '.'), *d2 = strchr(d1 + 1, '.');
	char *h = t_b64_json(jwt, (size_t)(d1 - jwt));
	char *c = t_b64_json(d1 + 1, (size_t)(d2 - d1 - 1)), *x5t, *sig;
	char *aud = xasprintf(
	    "http://127.0.0.1:%d/" T_TENANT "/oauth2/v2.0/token", t_port);
	cJSON *ho = cJSON_Parse(h), *co = cJSON_Parse(c), *x5c;
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	unsigned char sha1[20], *der = NULL;
	unsigned int dn = 0;
	size_t siglen;
	int derlen;

	assert_string_equal(json_str(ho, "alg"), "RS256");
	assert_string_equal(json_str(ho, "typ"), "JWT");
	assert_int_equal(X509_digest(t_x509, EVP_sha1(), sha1, &dn), 1);
	x5t = cloud_cred_b64url(sha1, dn);
	assert_string_equal(json_str(ho, "x5t"), x5t);
	x5c = cJSON_GetObjectItemCaseSensitive(ho, "x5c");
	if (chain) {
		char *b64;

		derlen = i2d_X509(t_x509, &der);
		b64 = xmalloc((size_t)derlen * 2);
		EVP_EncodeBlock((unsigned char *)b64, der, derlen);
		assert_int_equal(cJSON_GetArraySize(x5c), 1);
		assert_string_equal(
		    cJSON_GetArrayItem(x5c, 0)->valuestring, b64);
		free(b64);
		OPENSSL_free(der);
	} else
		assert_null(x5c);
	assert_string_equal(json_str(co, "aud"), aud);
	assert_string_equal(json_str(co, "iss"), T_CLIENT);
	assert_string_equal(json_str(co, "sub"), T_CLIENT);
	assert_int_equal(strlen(json_str(co, "jti")), 32);
	assert_int_equal(json_int(co, "exp", 0) - json_int(co, "nbf", 0), 600);
	assert_true(llabs(json_int(co, "nbf", 0) - (int64_t)time(NULL)) < 60);
	sig = str_base64_decode(d2 + 1, &siglen);
	assert_non_null(sig);
	assert_int_equal(siglen, 256);
	assert_int_equal(EVP_DigestVerifyInit(md, NULL, EVP_sha256(), NULL,
			     X509_get0_pubkey(t_x509)),
	    1);
	assert_int_equal(EVP_DigestVerify(md, (unsigned char *)sig, siglen,
			     (const unsigned char *)jwt, (size_t)(d2 - jwt)),
	    1);
	EVP_MD_CTX_free(md);
	free(sig);
	free(x5t);
	cJSON_Delete(ho);
	cJSON_Delete(co);
	free(aud);
	free(h);
	free(c);
}

/* The certificate's grant, from the one request logged. */
static void
t_cert_grant(const char *path, int chain)
{
	int ls = t_listen(), n;
	char *replies[] = { t_reply(200, NULL, T_TOKEN("eyJ0.c", 3599)), NULL };
	char *tok, *reqs, *jwt, *src = xasprintf("client certificate %s", path);
	struct azure_auth *a;
	struct err e;

	unlink(t_log);
	t_serve(ls, replies);
	t_az_env(0);
	setenv("AZURE_CLIENT_CERTIFICATE_PATH", path, 1);
	a = t_az_new(NULL, NULL);
	assert_string_equal(azure_auth_source(a), src);
	assert_int_equal(
	    azure_auth_token_sync(a, AZURE_SCOPE_ARM, &tok, &e), 0);
	free(tok);
	reqs = t_requests(&n);
	assert_int_equal(n, 1);
	assert_non_null(strstr(reqs,
	    T_ARM_FORM "&client_assertion_type=urn%3Aietf%3Aparams%3Aoauth%3A"
		       "client-assertion-type%3Ajwt-bearer&client_assertion="));
	assert_null(strstr(reqs, "client_secret"));
	jwt = t_field(reqs, "client_assertion");
	t_check_assertion(jwt, chain);
	free(jwt);
	free(reqs);
	free(src);
	azure_auth_free(a);
	t_teardown(NULL);
	free(replies[0]);
}

static void
t_cert_pem_and_p12(void **state)
{
	char *pem = t_cert_pem("cert.pem", NULL);
	char *p12 = t_cert_p12("cert.p12", "p12-pass");

	(void)state;
	t_cert_grant(pem, 0);
	setenv("AZURE_CLIENT_SEND_CERTIFICATE_CHAIN", "true", 1);
	t_cert_grant(pem, 1);
	unsetenv("AZURE_CLIENT_SEND_CERTIFICATE_CHAIN");
	setenv("AZURE_CLIENT_CERTIFICATE_PASSWORD", "p12-pass", 1);
	t_cert_grant(p12, 0);
	free(pem);
	free(p12);
}

/* Protected files without (or with a wrong) password, and files that
 * hold no certificate: sentences at azure_auth_new. */
static void
t_cert_refused(void **state)
{
	char *enc = t_cert_pem("enc.pem", "pem-pass");
	char *p12 = t_cert_p12("pw.p12", "p12-pass");
	char *kp = t_key_pem(), *keyonly = t_write("key.pem", kp);
	char *junk = t_write("junk.pem", "hello\n"), *msg;
	struct azure_auth_conf conf = { .client_certificate_path = enc };
	struct azure_auth *a;
	struct err e;

	(void)state;
	t_az_env(0);
	msg = t_az_new_err(&conf);
	assert_non_null(strstr(msg,
	    "the private key is encrypted: set "
	    "AZURE_CLIENT_CERTIFICATE_PASSWORD"));
	free(msg);
	conf.client_certificate_path = p12;
	msg = t_az_new_err(&conf);
	assert_non_null(strstr(msg, "set AZURE_CLIENT_CERTIFICATE_PASSWORD"));
	free(msg);
	setenv("AZURE_CLIENT_CERTIFICATE_PASSWORD", "wrong", 1);
	msg = t_az_new_err(&conf);
	assert_non_null(
	    strstr(msg, "AZURE_CLIENT_CERTIFICATE_PASSWORD is wrong"));
	free(msg);
	setenv("AZURE_CLIENT_CERTIFICATE_PASSWORD", "pem-pass", 1);
	conf.client_certificate_path = enc;
	a = azure_auth_new(NULL, NULL, &conf, &e);
	assert_non_null(a);
	azure_auth_free(a);
	unsetenv("AZURE_CLIENT_CERTIFICATE_PASSWORD");
	conf.client_certificate_path = keyonly;
	msg = t_az_new_err(&conf);
	assert_non_null(strstr(msg, "no certificate matching the private key"));
	free(msg);
	conf.client_certificate_path = junk;
	msg = t_az_new_err(&conf);
	assert_non_null(strstr(msg, "neither PEM"));
	free(msg);
	conf.client_certificate_path = "/nonexistent/cert.pem";
	msg = t_az_new_err(&conf);
	assert_non_null(strstr(msg, "cannot be read"));
	free(msg);
	free(enc);
	free(p12);
	free(keyonly);
	free(kp);
	free(junk);
}

/* Workload identity: the file's token is the assertion, read afresh on
 * every refresh. */
static void
t_federated_reread(void **state)
{
	int ls = t_listen(), n;
	char *replies[] = { t_reply(200, NULL, T_TOKEN("eyJ0.w1", 3599)),
		t_reply(200, NULL, T_TOKEN("eyJ0.w2", 3599)), NULL };
	char *path = t_write("fed", "eyJfed.one.sig\n"), *tok, *reqs, *second;
	struct azure_auth *a;
	struct err e;

	(void)state;
	t_serve(ls, replies);
	t_az_env(0);
	setenv("AZURE_FEDERATED_TOKEN_FILE", path, 1);
	a = t_az_new(NULL, NULL);
	assert_non_null(strstr(azure_auth_source(a), "workload identity ("));
	assert_int_equal(
	    azure_auth_token_sync(a, AZURE_SCOPE_ARM, &tok, &e), 0);
	free(tok);
	free(t_write("fed", "eyJfed.two.sig"));
	t_clock_skew = 3600;
	assert_int_equal(
	    azure_auth_token_sync(a, AZURE_SCOPE_ARM, &tok, &e), 0);
	assert_string_equal(tok, "eyJ0.w2");
	free(tok);
	reqs = t_requests(&n);
	assert_int_equal(n, 2);
	second = strstr(reqs, "=====");
	assert_non_null(strstr(reqs,
	    "client-assertion-type%3Ajwt-bearer&client_assertion="
	    "eyJfed.one.sig\n"));
	assert_non_null(strstr(second, "client_assertion=eyJfed.two.sig\n"));
	/* An emptied file fails the next fetch with a sentence. */
	free(t_write("fed", "  \n"));
	t_clock_skew = 7200;
	assert_int_equal(
	    azure_auth_token_sync(a, AZURE_SCOPE_ARM, &tok, &e), -1);
	assert_non_null(strstr(e.msg, "holds nothing: it must hold one JWT"));
	free(reqs);
	azure_auth_free(a);
	free(path);
	free(replies[0]);
	free(replies[1]);
}

/* The log and the errors never hold the secret, the assertion, the
 * federated token or an access token. */
static void
t_no_secret_logged(void **state)
{
	int ls = t_listen(), saved = dup(2), fd, n;
	char *replies[] = { t_reply(200, NULL, T_TOKEN("eyJ0.hush", 3599)),
		t_reply(400, NULL,
		    "{\"error\":\"invalid_client\",\"error_description\":"
		    "\"AADSTS700027: bad assertion\"}"),
		t_reply(401, NULL, "{\"error\":\"invalid_client\"}"), NULL };
	char *logp = xasprintf("%s/log", t_dir),
	     *pem = t_cert_pem("l.pem", NULL);
	char *logtext, *reqs, *jwt, *tok = NULL;
	struct azure_auth *a;
	struct err e, e2;

	(void)state;
	t_serve(ls, replies);
	fd = open(logp, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	dup2(fd, 2);
	log_set_level(LOG_LVL_DEBUG);
	t_az_env(0);
	setenv("AZURE_CLIENT_CERTIFICATE_PATH", pem, 1);
	a = t_az_new(NULL, NULL);
	assert_int_equal(
	    azure_auth_token_sync(a, AZURE_SCOPE_ARM, &tok, &e), 0);
	free(tok);
	assert_int_equal(
	    azure_auth_token_sync(a, AZURE_SCOPE_LOGS, &tok, &e), -1);
	assert_non_null(strstr(e.msg, "is registered on the app"));
	azure_auth_free(a);
	unsetenv("AZURE_CLIENT_CERTIFICATE_PATH");
	setenv("AZURE_CLIENT_SECRET", T_SECRET, 1);
	a = t_az_new(NULL, NULL);
	assert_int_equal(
	    azure_auth_token_sync(a, AZURE_SCOPE_LOGS, &tok, &e2), -1);
	azure_auth_free(a);
	dup2(saved, 2);
	close(fd);
	close(saved);
	logtext = cloud_cred_read_file(logp, NULL);
	reqs = t_requests(&n);
	jwt = t_field(reqs, "client_assertion");
	assert_non_null(strstr(logtext,
	    "azure: credentials from client "
	    "certificate"));
	assert_null(strstr(logtext, "eyJ0.hush"));
	assert_null(strstr(logtext, jwt));
	assert_null(strstr(logtext, T_SECRET));
	assert_null(strstr(e.msg, jwt));
	assert_null(strstr(e2.msg, T_SECRET));
	assert_null(strstr(e2.msg, "s3cr3t"));
	free(jwt);
	free(reqs);
	free(logtext);
	free(pem);
	free(logp);
	for (int i = 0; replies[i] != NULL; i++)
		free(replies[i]);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(
		    t_secret_sync, t_az_setup, t_teardown),
		cmocka_unit_test_setup_teardown(
		    t_secret_file, t_az_setup, t_teardown),
		cmocka_unit_test_setup_teardown(
		    t_scopes_coalesce, t_az_setup, t_teardown),
		cmocka_unit_test_setup_teardown(
		    t_refresh_ahead, t_az_setup, t_teardown),
		cmocka_unit_test_setup_teardown(
		    t_errors_and_retry, t_az_setup, t_teardown),
		cmocka_unit_test_setup_teardown(
		    t_free_in_callback, t_az_setup, t_teardown),
		cmocka_unit_test_setup_teardown(
		    t_cert_pem_and_p12, t_az_setup, t_teardown),
		cmocka_unit_test_setup_teardown(
		    t_cert_refused, t_az_setup, t_teardown),
		cmocka_unit_test_setup_teardown(
		    t_federated_reread, t_az_setup, t_teardown),
		cmocka_unit_test_setup_teardown(
		    t_no_secret_logged, t_az_setup, t_teardown),
	};

	return t_az_run(tests, sizeof(tests) / sizeof(tests[0]));
}
