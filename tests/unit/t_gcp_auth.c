/* Google credentials (common/cloud/gcp_auth*.c) against a forked local
 * HTTP server: the service account's signed assertion verified with the
 * public key, the cache and its refresh ahead of expiry, shared fetches,
 * error answers and retries, the metadata server, authorized users,
 * workload identity federation, the ADC order, malformed files and the
 * log kept free of secrets. */
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <event2/event.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "sockerless/gcp_auth.h"
#include "sockerless/httpcli.h"
#include "sockerless/json.h"
#include "sockerless/log.h"
#include "sockerless/str.h"
#include "sockerless/xmalloc.h"

#include "../../common/cloud/gcp_auth_int.h"

static pid_t t_pid;
static int t_port;
static char t_dir[] = "/tmp/t_gcp_auth.XXXXXX";
static char t_log[512];
static EVP_PKEY *t_key;

/* --- the server: one canned reply per connection, in order --- */

static void
t_read_req(int s, char *req, size_t size)
{
	size_t n = 0;
	ssize_t k;
	char *hend, *cl;

	req[0] = '\0';
	while (n < size - 1 && (k = read(s, req + n, size - 1 - n)) > 0) {
		n += (size_t)k;
		req[n] = '\0';
		if ((hend = strstr(req, "\r\n\r\n")) == NULL)
			continue;
		cl = strcasestr(req, "Content-Length:");
		if (cl == NULL ||
		    (size_t)(hend + 4 - req) + strtoul(cl + 15, NULL, 10) <= n)
			break;
	}
}

/* SK_TEST_PORT_BASE + 150 when tests/run.sh gives a range (the other
 * unit tests use +50..93 and +110..149), else an ephemeral port. */
static int
t_listen(void)
{
	struct sockaddr_in sin;
	socklen_t slen = sizeof(sin);
	const char *base = getenv("SK_TEST_PORT_BASE");
	int ls = socket(AF_INET, SOCK_STREAM, 0), one = 1;

	setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sin.sin_port = htons(base != NULL ? (uint16_t)(atoi(base) + 150) : 0);
	assert_int_equal(bind(ls, (struct sockaddr *)&sin, sizeof(sin)), 0);
	assert_int_equal(listen(ls, 8), 0);
	getsockname(ls, (struct sockaddr *)&sin, &slen);
	t_port = ntohs(sin.sin_port);
	return ls;
}

static void
t_serve(int ls, char **replies)
{
	if ((t_pid = fork()) == 0) {
		for (size_t i = 0; replies[i] != NULL; i++) {
			int s = accept(ls, NULL, NULL);
			char req[32768];
			FILE *f;

			t_read_req(s, req, sizeof(req));
			if ((f = fopen(t_log, "a")) != NULL) {
				fprintf(f, "%s\n=====\n", req);
				fclose(f);
			}
			if (write(s, replies[i], strlen(replies[i])) < 0)
				_exit(1);
			close(s);
		}
		_exit(0);
	}
	close(ls);
}

static char *
t_reply(int status, const char *extra, const char *body)
{
	return xasprintf("HTTP/1.1 %d X\r\nConnection: close\r\n%s"
			 "Content-Length: %zu\r\n\r\n%s",
	    status, extra != NULL ? extra : "", strlen(body), body);
}

/* The requests so far, as one text (caller frees). */
static char *
t_requests(int *n)
{
	char *text = gcp_auth_cred_read_file(t_log, NULL), *p;

	if (text == NULL)
		text = xstrdup("");
	*n = 0;
	for (p = text; (p = strstr(p, "\n=====\n")) != NULL; p++)
		(*n)++;
	return text;
}

static int
t_count(const char *text, const char *needle)
{
	int n = 0;

	for (const char *p = text; (p = strstr(p, needle)) != NULL; p++)
		n++;
	return n;
}

static int
t_teardown(void **state)
{
	(void)state;
	if (t_pid > 0) {
		kill(t_pid, SIGTERM);
		waitpid(t_pid, NULL, 0);
	}
	t_pid = 0;
	unlink(t_log);
	return 0;
}

static int64_t t_clock_skew;

static int64_t
t_clock(void)
{
	return (int64_t)time(NULL) + t_clock_skew;
}

static int
t_setup(void **state)
{
	(void)state;
	unsetenv("GOOGLE_APPLICATION_CREDENTIALS");
	unsetenv("GCE_METADATA_HOST");
	unsetenv("GCE_METADATA_ROOT");
	unsetenv("K_SERVICE");
	unsetenv("CLOUD_RUN_JOB");
	setenv("CLOUDSDK_CONFIG", "/nonexistent-gcloud", 1);
	gcp_auth_dmi_path = "/nonexistent-dmi";
	snprintf(t_log, sizeof(t_log), "%s/requests", t_dir);
	unlink(t_log);
	t_clock_skew = 0;
	gcp_auth_now = t_clock;
	return 0;
}

static char *
t_write(const char *name, const char *text)
{
	char *path = xasprintf("%s/%s", t_dir, name);
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	fputs(text, f);
	fclose(f);
	return path;
}

static char *
t_key_pem(void)
{
	BIO *b = BIO_new(BIO_s_mem());
	char *p, *out;
	long n;

	assert_int_equal(
	    PEM_write_bio_PrivateKey(b, t_key, NULL, NULL, 0, NULL, NULL), 1);
	n = BIO_get_mem_data(b, &p);
	out = xstrndup(p, (size_t)n);
	BIO_free(b);
	return out;
}

/* A service-account key file whose token_uri is the server. */
static char *
t_sa_file(void)
{
	cJSON *o = cJSON_CreateObject();
	char *pem = t_key_pem(), *uri, *text, *path;

	uri = xasprintf("http://127.0.0.1:%d/token", t_port);
	json_add_str(o, "type", "service_account");
	json_add_str(o, "project_id", "proj-1");
	json_add_str(o, "private_key_id", "kid-123");
	json_add_str(o, "private_key", pem);
	json_add_str(o, "client_email", "sa@proj-1.iam.gserviceaccount.com");
	json_add_str(o, "token_uri", uri);
	json_add_str(o, "universe_domain", "googleapis.com");
	text = json_print(o);
	path = t_write("sa.json", text);
	cJSON_Delete(o);
	free(text);
	free(uri);
	free(pem);
	return path;
}

#define T_TOKEN(tok, in)                                        \
	"{\"access_token\":\"" tok "\",\"expires_in\":" #in "," \
	"\"token_type\":\"Bearer\"}"

static struct gcp_auth *
t_new(struct event_base *base, const struct gcp_auth_conf *conf)
{
	struct err e;
	struct gcp_auth *a = gcp_auth_new(base, NULL, conf, &e);

	if (a == NULL)
		fail_msg("gcp_auth_new: %s", e.msg);
	return a;
}

/* --- the assertion --- */

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

struct t_got {
	int calls;
	char tok[256];
	struct err e;
};

static void
t_cb(void *arg, const char *token, const struct err *e)
{
	struct t_got *g = arg;

	g->calls++;
	if (token != NULL)
		str_lcpy(g->tok, token, sizeof(g->tok));
	else
		g->e = *e;
}

/* Runs the loop until *done reaches want (deadline 30 s). */
static void
t_loop(struct event_base *base, const int *done, int want)
{
	time_t end = time(NULL) + 30;

	while (*done < want && time(NULL) < end)
		event_base_loop(base, EVLOOP_ONCE);
	assert_int_equal(*done, want);
}

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
	logtext = gcp_auth_cred_read_file(logp, NULL);
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
		cmocka_unit_test_setup_teardown(t_bad_pem, t_setup, t_teardown),
		cmocka_unit_test_setup_teardown(
		    t_no_secret_logged, t_setup, t_teardown),
	};
	int rc;

	log_init("t_gcp_auth", LOG_LVL_INFO);
	json_init();
	assert_non_null(mkdtemp(t_dir));
	t_key = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
	rc = cmocka_run_group_tests(tests, NULL, NULL);
	EVP_PKEY_free(t_key);
	{
		char *cmd = xasprintf("rm -rf %s", t_dir);

		if (system(cmd) != 0)
			rc = 1;
		free(cmd);
	}
	return rc;
}
