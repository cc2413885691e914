/* What t_gcp_auth.c and t_gcp_auth_adc.c share: a forked local HTTP
 * server answering canned replies in order and logging the requests, a
 * test RSA key and key file, and the token callbacks. Each includer sets
 * T_PORT_OFFSET (its port in SK_TEST_PORT_BASE's range) first. */
#ifndef T_GCP_AUTH_H
#define T_GCP_AUTH_H

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

#include "../../common/cloud/cloud_cred.h"
#include "../../common/cloud/gcp_auth_int.h"

static pid_t t_pid;
static int t_port;
static char t_dir[] = "/tmp/t_gcp_auth.XXXXXX";
static char t_log[512];
static EVP_PKEY *t_key;

/* --- the server: one canned reply per connection, in order --- */

static inline void
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

/* SK_TEST_PORT_BASE + T_PORT_OFFSET when tests/run.sh gives a range (the
 * other unit tests use +50..93 and +110..149), else an ephemeral port. */
static inline int
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
	sin.sin_port =
	    htons(base != NULL ? (uint16_t)(atoi(base) + T_PORT_OFFSET) : 0);
	assert_int_equal(bind(ls, (struct sockaddr *)&sin, sizeof(sin)), 0);
	assert_int_equal(listen(ls, 8), 0);
	getsockname(ls, (struct sockaddr *)&sin, &slen);
	t_port = ntohs(sin.sin_port);
	return ls;
}

static inline void
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

static inline char *
t_reply(int status, const char *extra, const char *body)
{
	return xasprintf("HTTP/1.1 %d X\r\nConnection: close\r\n%s"
			 "Content-Length: %zu\r\n\r\n%s",
	    status, extra != NULL ? extra : "", strlen(body), body);
}

/* The requests so far, as one text (caller frees). */
static inline char *
t_requests(int *n)
{
	char *text = cloud_cred_read_file(t_log, NULL), *p;

	if (text == NULL)
		text = xstrdup("");
	*n = 0;
	for (p = text; (p = strstr(p, "\n=====\n")) != NULL; p++)
		(*n)++;
	return text;
}

static inline int
t_count(const char *text, const char *needle)
{
	int n = 0;

	for (const char *p = text; (p = strstr(p, needle)) != NULL; p++)
		n++;
	return n;
}

static inline int
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

static inline int64_t
t_clock(void)
{
	return (int64_t)time(NULL) + t_clock_skew;
}

static inline int
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

static inline char *
t_write(const char *name, const char *text)
{
	char *path = xasprintf("%s/%s", t_dir, name);
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	fputs(text, f);
	fclose(f);
	return path;
}

static inline char *
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
static inline char *
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

static inline struct gcp_auth *
t_new(struct event_base *base, const struct gcp_auth_conf *conf)
{
	struct err e;
	struct gcp_auth *a = gcp_auth_new(base, NULL, conf, &e);

	if (a == NULL)
		fail_msg("gcp_auth_new: %s", e.msg);
	return a;
}

/* --- the assertion --- */

struct t_got {
	int calls;
	char tok[256];
	struct err e;
};

static inline void
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
static inline void
t_loop(struct event_base *base, const int *done, int want)
{
	time_t end = time(NULL) + 30;

	while (*done < want && time(NULL) < end)
		event_base_loop(base, EVLOOP_ONCE);
	assert_int_equal(*done, want);
}

/* Runs a group with a fresh directory and a 2048-bit RSA key. */
static inline int
t_gcp_run(const struct CMUnitTest *tests, size_t n)
{
	char *cmd;
	int rc;

	log_init("t_gcp_auth", LOG_LVL_INFO);
	json_init();
	assert_non_null(mkdtemp(t_dir));
	t_key = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
	rc = _cmocka_run_group_tests("t_gcp_auth", tests, n, NULL, NULL);
	EVP_PKEY_free(t_key);
	cmd = xasprintf("rm -rf %s", t_dir);
	if (system(cmd) != 0)
		rc = 1;
	free(cmd);
	return rc;
}

#endif
