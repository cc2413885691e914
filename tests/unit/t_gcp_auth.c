/* Google credentials (common/cloud/gcp_auth*.c), service accounts and the
 * cache, against a forked local HTTP server: the signed assertion verified
 * with the public key, the cache and its refresh ahead of expiry, shared
 * fetches, ID tokens per audience, error answers and retries, and the log
 * kept free of secrets. t_gcp_auth_adc.c has the other sources. */
#define T_PORT_OFFSET 150
#include "t_gcp_auth.h"

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

static void
t_check_jwt(const char *jwt, int id)
{
	const char *d1 = strchr(jwt, '.'), *d2 = strchr(d1 + 1, '.');
	char *h = t_b64_json(jwt, (size_t)(d1 - jwt));
	char *c = t_b64_json(d1 + 1, (size_t)(d2 - d1 - 1));
	char *uri = xasprintf("http://127.0.0.1:%d/token", t_port), *sig;
	cJSON *ho = cJSON_Parse(h), *co = cJSON_Parse(c);
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	size_t siglen;

	assert_string_equal(json_str(ho, "alg"), "RS256");
	assert_string_equal(json_str(ho, "typ"), "JWT");
	assert_string_equal(json_str(ho, "kid"), "kid-123");
	assert_string_equal(
	    json_str(co, "iss"), "sa@proj-1.iam.gserviceaccount.com");
	assert_string_equal(json_str(co, "aud"), uri);
	if (id) {
		assert_string_equal(json_str(co, "target_audience"),
		    "https://svc-abc.a.run.app");
		assert_null(json_str(co, "scope"));
	} else
		assert_string_equal(json_str(co, "scope"), GCP_AUTH_SCOPE);
	assert_int_equal(json_int(co, "exp", 0) - json_int(co, "iat", 0), 3600);
	assert_true(llabs(json_int(co, "iat", 0) - (int64_t)time(NULL)) < 60);
	assert_null(strchr(jwt, '='));
	sig = str_base64_decode(d2 + 1, &siglen);
	assert_non_null(sig);
	assert_int_equal(siglen, 256);
	assert_int_equal(
	    EVP_DigestVerifyInit(md, NULL, EVP_sha256(), NULL, t_key), 1);
	assert_int_equal(EVP_DigestVerify(md, (unsigned char *)sig, siglen,
			     (const unsigned char *)jwt, (size_t)(d2 - jwt)),
	    1);
	EVP_MD_CTX_free(md);
	free(sig);
	cJSON_Delete(ho);
	cJSON_Delete(co);
	free(uri);
	free(h);
	free(c);
}

/* The assertion out of a logged form body. */
static char *
t_assertion(const char *req)
{
	const char *p = strstr(req, "assertion=");
	size_t n;

	assert_non_null(p);
	p += strlen("assertion=");
	n = strcspn(p, "&\n");
	return xstrndup(p, n);
}

static void
t_sa_sync(void **state)
{
	int ls = t_listen(), n;
	char *replies[] = { t_reply(200, NULL, T_TOKEN("ya29.first", 3599)),
		NULL };
	char *path = t_sa_file(), *tok = NULL, *reqs, *jwt;
	struct gcp_auth_conf conf = { .credentials_file = path };
	struct gcp_auth *a;
	struct err e;

	(void)state;
	t_serve(ls, replies);
	a = t_new(NULL, &conf);
	assert_string_equal(gcp_auth_project(a), "proj-1");
	assert_string_equal(
	    gcp_auth_email(a), "sa@proj-1.iam.gserviceaccount.com");
	assert_non_null(strstr(gcp_auth_source(a), "service account sa@"));
	assert_null(gcp_auth_token_cached(a));
	assert_int_equal(gcp_auth_token_sync(a, &tok, &e), 0);
	assert_string_equal(tok, "ya29.first");
	free(tok);
	/* From the cache: no second request. */
	assert_int_equal(gcp_auth_token_sync(a, &tok, &e), 0);
	free(tok);
	assert_string_equal(gcp_auth_token_cached(a), "ya29.first");
	reqs = t_requests(&n);
	assert_int_equal(n, 1);
	assert_non_null(strstr(reqs, "POST /token HTTP/1.1"));
	assert_non_null(strcasestr(
	    reqs, "Content-Type: application/x-www-form-urlencoded"));
	assert_non_null(strstr(reqs,
	    "grant_type=urn%3Aietf%3Aparams%3Aoauth%3A"
	    "grant-type%3Ajwt-bearer&assertion="));
	jwt = t_assertion(reqs);
	t_check_jwt(jwt, 0);
	/* Expiry: an hour later the cache is empty. */
	t_clock_skew = 3600;
	assert_null(gcp_auth_token_cached(a));
	free(jwt);
	free(reqs);
	gcp_auth_free(a);
	free(path);
	free(replies[0]);
}

/* --- callbacks --- */

static int t_total;

static void
t_count_cb(void *arg, const char *token, const struct err *e)
{
	t_cb(arg, token, e);
	t_total++;
}

static void
t_coalesce(void **state)
{
	int ls = t_listen(), n;
	char *replies[] = { t_reply(200, NULL, T_TOKEN("ya29.shared", 3599)),
		t_reply(200, NULL,
		    "{\"id_token\":\"eyJhbGciOiJSUzI1NiJ9.eyJleHAiOjQxMDI0NDQ4MDB9.c2ln\"}"),
		NULL };
	char *path = t_sa_file(), *reqs, *jwt, *p;
	struct gcp_auth_conf conf = { .credentials_file = path };
	struct event_base *base = event_base_new();
	struct gcp_auth *a;
	struct t_got g[5];
	uint64_t ids[4];

	(void)state;
	memset(g, 0, sizeof(g));
	t_total = 0;
	t_serve(ls, replies);
	a = t_new(base, &conf);
	for (int i = 0; i < 4; i++)
		ids[i] = gcp_auth_token(a, t_count_cb, &g[i]);
	assert_true(ids[0] != 0 && ids[1] != ids[0]);
	gcp_auth_cancel(a, ids[3]);
	assert_int_equal(t_total, 0); /* never inside the call */
	t_loop(base, &t_total, 3);
	for (int i = 0; i < 3; i++)
		assert_string_equal(g[i].tok, "ya29.shared");
	assert_int_equal(g[3].calls, 0);
	/* From the cache, still deferred. */
	gcp_auth_token(a, t_count_cb, &g[4]);
	assert_int_equal(g[4].calls, 0);
	t_loop(base, &t_total, 4);
	/* An ID token: the same grant with target_audience. */
	memset(&g[0], 0, sizeof(g[0]));
	gcp_auth_id_token(a, "https://svc-abc.a.run.app", t_count_cb, &g[0]);
	t_loop(base, &t_total, 5);
	assert_true(str_prefix(g[0].tok, "eyJhbGciOiJSUzI1NiJ9."));
	reqs = t_requests(&n);
	assert_int_equal(n, 2);
	p = strstr(reqs, "=====");
	jwt = t_assertion(p);
	t_check_jwt(jwt, 1);
	free(jwt);
	free(reqs);
	gcp_auth_free(a);
	event_base_free(base);
	free(path);
	free(replies[0]);
	free(replies[1]);
}

struct t_freer {
	struct gcp_auth *a;
	int calls;
};

static void
t_free_cb(void *arg, const char *token, const struct err *e)
{
	struct t_freer *f = arg;

	(void)token;
	(void)e;
	f->calls++;
	gcp_auth_free(f->a); /* the second waiter is never called */
}

/* ID tokens are cached per audience; freeing from a callback is safe. */
static void
t_id_cache_and_free(void **state)
{
	int ls = t_listen(), n;
	char *replies[] = { t_reply(200, NULL,
				"{\"id_token\":\"eyJhbGciOiJSUzI1NiJ9."
				"eyJleHAiOjQxMDI0NDQ4MDB9.YQ\"}"),
		t_reply(200, NULL,
		    "{\"id_token\":\"eyJhbGciOiJSUzI1NiJ9."
		    "eyJleHAiOjQxMDI0NDQ4MDB9.Yg\"}"),
		NULL };
	char *path = t_sa_file(), *reqs;
	struct gcp_auth_conf conf = { .credentials_file = path };
	struct event_base *base = event_base_new();
	struct t_got g[3];
	struct t_freer fr = { 0 };

	(void)state;
	memset(g, 0, sizeof(g));
	t_serve(ls, replies);
	fr.a = t_new(base, &conf);
	gcp_auth_id_token(fr.a, "https://one.a.run.app", t_cb, &g[0]);
	t_loop(base, &g[0].calls, 1);
	gcp_auth_id_token(fr.a, "https://one.a.run.app", t_cb, &g[1]);
	t_loop(base, &g[1].calls, 1);
	assert_string_equal(g[0].tok, g[1].tok);
	assert_true(str_suffix(g[0].tok, ".YQ"));
	gcp_auth_id_token(fr.a, "https://two.a.run.app", t_free_cb, &fr);
	gcp_auth_id_token(fr.a, "https://two.a.run.app", t_cb, &g[2]);
	t_loop(base, &fr.calls, 1);
	event_base_loop(base, EVLOOP_NONBLOCK);
	assert_int_equal(g[2].calls, 0);
	reqs = t_requests(&n);
	assert_int_equal(n, 2);
	free(reqs);
	event_base_free(base);
	free(path);
	free(replies[0]);
	free(replies[1]);
}

static void
t_refresh_ahead(void **state)
{
	int ls = t_listen(), n = 0;
	char *replies[] = { t_reply(200, NULL, T_TOKEN("ya29.old", 302)),
		t_reply(200, NULL, T_TOKEN("ya29.new", 3599)), NULL };
	char *path = t_sa_file(), *reqs;
	struct gcp_auth_conf conf = { .credentials_file = path };
	struct event_base *base = event_base_new();
	struct gcp_auth *a;
	struct t_got g = { 0 };
	time_t end;

	(void)state;
	t_serve(ls, replies);
	a = t_new(base, &conf);
	gcp_auth_token(a, t_cb, &g);
	t_loop(base, &g.calls, 1);
	assert_string_equal(g.tok, "ya29.old");
	/* Refreshed by the timer 300 s before expiry, with nobody asking. */
	end = time(NULL) + 30;
	while (time(NULL) < end &&
	    (gcp_auth_token_cached(a) == NULL ||
		strcmp(gcp_auth_token_cached(a), "ya29.new") != 0)) {
		event_base_loop(base, EVLOOP_ONCE);
	}
	assert_string_equal(gcp_auth_token_cached(a), "ya29.new");
	reqs = t_requests(&n);
	assert_int_equal(n, 2);
	free(reqs);
	gcp_auth_free(a);
	event_base_free(base);
	free(path);
	free(replies[0]);
	free(replies[1]);
}

static void
t_error_and_retry(void **state)
{
	int ls = t_listen(), n;
	char *replies[] = { t_reply(500, NULL, "{\"error\":\"server_error\"}"),
		t_reply(400, NULL, "{\"error\":\"temporarily_unavailable\"}"),
		t_reply(200, NULL, T_TOKEN("ya29.third", 3599)),
		t_reply(400, NULL,
		    "{\"error\":\"invalid_grant\",\"error_description\":"
		    "\"Invalid JWT Signature.\"}"),
		NULL };
	char *path = t_sa_file(), *tok = NULL, *reqs;
	struct gcp_auth_conf conf = { .credentials_file = path };
	struct gcp_auth *a;
	struct err e;

	(void)state;
	t_serve(ls, replies);
	a = t_new(NULL, &conf);
	assert_int_equal(gcp_auth_token_sync(a, &tok, &e), 0);
	assert_string_equal(tok, "ya29.third");
	free(tok);
	reqs = t_requests(&n);
	assert_int_equal(n, 3);
	free(reqs);
	gcp_auth_free(a);
	/* invalid_grant is not retried and becomes a sentence. */
	a = t_new(NULL, &conf);
	assert_int_equal(gcp_auth_token_sync(a, &tok, &e), -1);
	assert_int_equal(e.status, 500);
	assert_non_null(strstr(e.msg,
	    "getting a Google access token from "
	    "service account sa@"));
	assert_non_null(
	    strstr(e.msg, "HTTP 400: invalid_grant: Invalid JWT Signature."));
	assert_null(strstr(e.msg, "eyJ"));
	gcp_auth_free(a);
	/* Nobody listening: 502. */
	t_teardown(NULL);
	a = t_new(NULL, &conf);
	assert_int_equal(gcp_auth_token_sync(a, &tok, &e), -1);
	assert_int_equal(e.status, 502);
	assert_non_null(strstr(e.msg, "did not answer"));
	gcp_auth_free(a);
	free(path);
	for (int i = 0; replies[i] != NULL; i++)
		free(replies[i]);
}

/* A PEM that is not a key fails at signing, with a sentence. */
static void
t_bad_pem(void **state)
{
	char *path = t_write("badpem.json",
		 "{\"type\":\"service_account\",\"client_email\":\"a@b\","
		 "\"private_key\":\"-----BEGIN PRIVATE KEY-----\\nAAAA\\n"
		 "-----END PRIVATE KEY-----\\n\"}"),
	     *tok = NULL;
	struct gcp_auth_conf conf = { .credentials_file = path };
	struct gcp_auth *a = t_new(NULL, &conf);
	struct err e;

	(void)state;
	assert_int_equal(gcp_auth_token_sync(a, &tok, &e), -1);
	assert_non_null(strstr(e.msg, "not a readable PEM key"));
	gcp_auth_free(a);
	free(path);
}

/* The log and the errors never hold the key, the assertion or a token. */
static void
t_no_secret_logged(void **state)
{
	int ls = t_listen(), saved = dup(2), fd, n;
	char *replies[] = { t_reply(200, NULL, T_TOKEN("ya29.hush", 3599)),
		t_reply(400, NULL, "{\"error\":\"invalid_grant\"}"), NULL };
	char *path = t_sa_file(), *logp = xasprintf("%s/log", t_dir), *tok;
	char *pem = t_key_pem(), *logtext, *reqs, *jwt, line[80];
	struct gcp_auth_conf conf = { .credentials_file = path };
	struct gcp_auth *a;
	struct err e;

	(void)state;
	t_serve(ls, replies);
	fd = open(logp, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	dup2(fd, 2);
	log_set_level(LOG_LVL_DEBUG);
	a = t_new(NULL, &conf);
	assert_int_equal(gcp_auth_token_sync(a, &tok, &e), 0);
	t_clock_skew = 7200;
	assert_int_equal(gcp_auth_token_sync(a, &tok, &e), -1);
	gcp_auth_free(a);
	dup2(saved, 2);
	close(fd);
	close(saved);
	logtext = cloud_cred_read_file(logp, NULL);
	reqs = t_requests(&n);
	jwt = t_assertion(reqs);
	assert_non_null(
	    strstr(logtext, "gcp: credentials from service account"));
	assert_null(strstr(logtext, "ya29.hush"));
	assert_null(strstr(logtext, jwt));
	assert_null(strstr(e.msg, jwt));
	assert_null(strstr(e.msg, "ya29.hush"));
	/* No line of the key's body. */
	for (const char *p = strchr(pem, '\n') + 1; *p != '-';
	     p = strchr(p, '\n') + 1) {
		str_lcpy(line, p, strcspn(p, "\n") + 1);
		assert_null(strstr(logtext, line));
	}
	free(tok);
	free(jwt);
	free(reqs);
	free(logtext);
	free(pem);
	free(logp);
	free(path);
	free(replies[0]);
	free(replies[1]);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(t_sa_sync, t_setup, t_teardown),
		cmocka_unit_test_setup_teardown(
		    t_coalesce, t_setup, t_teardown),
		cmocka_unit_test_setup_teardown(
		    t_id_cache_and_free, t_setup, t_teardown),
		cmocka_unit_test_setup_teardown(
		    t_refresh_ahead, t_setup, t_teardown),
		cmocka_unit_test_setup_teardown(
		    t_error_and_retry, t_setup, t_teardown),
		cmocka_unit_test_setup_teardown(t_bad_pem, t_setup, t_teardown),
		cmocka_unit_test_setup_teardown(
		    t_no_secret_logged, t_setup, t_teardown),
	};

	return t_gcp_run(tests, sizeof(tests) / sizeof(tests[0]));
}
