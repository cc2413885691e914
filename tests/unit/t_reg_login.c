/* docker login (reg_login): the rounds against a canned registry and
 * token service (gcp_srv.h's forked server), dockerd's answers, and the
 * credentials remembered for the host afterwards. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "gcp_srv.h"
#include "sockerless/json.h"
#include "sockerless/reg.h"
#include "sockerless/xmalloc.h"

#define UP "{\"username\":\"u\",\"password\":\"p\"}"
/* base64("u:p") */
#define BASIC_UP "Authorization: Basic dTpw"

struct res {
	int calls;
	struct err e;
	int failed;
	char *token;
};

static void
t_cb(void *arg, const char *identitytoken, const struct err *e)
{
	struct res *r = arg;

	r->calls++;
	r->failed = e != NULL;
	if (e != NULL)
		r->e = *e;
	free(r->token);
	r->token = xstrdup(identitytoken);
}

/* Logs in to the server v with auth; the registry client is returned for
 * reg_known_creds. */
static struct reg_client *
t_login(struct gcp_srv *v, const char *auth, struct res *r)
{
	struct reg_config c;
	struct reg_client *rc;
	struct err e;
	char server[64];

	memset(&c, 0, sizeof(c));
	memset(r, 0, sizeof(*r));
	rc = reg_client_new(v->base, v->http, &c, &e);
	assert_non_null(rc);
	snprintf(server, sizeof(server), "127.0.0.1:%d", v->port);
	assert_int_equal(reg_login(rc, server, auth, t_cb, r, &e), 0);
	assert_int_equal(r->calls, 0); /* never from inside */
	event_base_dispatch(v->base);
	assert_int_equal(r->calls, 1);
	return rc;
}

static void
t_basic(void **state)
{
	char *replies[] = {
		gcp_srv_reply("401 Unauthorized",
		    "WWW-Authenticate: Basic realm=\"reg\"\r\n", "{}"),
		gcp_srv_reply("200 OK", NULL, "{}"),
		NULL,
	};
	struct gcp_srv v;
	struct reg_client *rc;
	struct res r;
	char *req, *u, *p, host[64];

	(void)state;
	gcp_srv_start(&v, replies);
	rc = t_login(&v, UP, &r);
	assert_false(r.failed);
	assert_string_equal(r.token, "");
	req = gcp_srv_requests(&v);
	assert_int_equal(gcp_srv_count(req, "GET /v2/ HTTP/1.1"), 2);
	assert_int_equal(gcp_srv_count(req, BASIC_UP), 1);
	free(req);
	/* Remembered for the host, by any spelling of it. */
	snprintf(host, sizeof(host), "http://127.0.0.1:%d/", v.port);
	assert_int_equal(reg_known_creds(rc, host, &u, &p), 1);
	assert_string_equal(u, "u");
	assert_string_equal(p, "p");
	free(u);
	free(p);
	assert_int_equal(reg_known_creds(rc, "127.0.0.1:1", &u, &p), 0);
	assert_null(u);
	reg_client_free(rc);
	free(r.token);
	gcp_srv_stop(&v);
}

static void
t_basic_wrong(void **state)
{
	char *replies[] = {
		gcp_srv_reply("401 Unauthorized",
		    "WWW-Authenticate: Basic realm=\"reg\"\r\n", "{}"),
		NULL,
	};
	struct gcp_srv v;
	struct reg_client *rc;
	struct res r;
	char want[128], host[64], *u, *p;

	(void)state;
	gcp_srv_start(&v, replies);
	rc = t_login(&v, "{\"auth\":\"dTp3cm9uZw==\"}", &r); /* u:wrong */
	assert_true(r.failed);
	assert_int_equal(r.e.status, 401);
	snprintf(want, sizeof(want),
	    "login attempt to http://127.0.0.1:%d/v2/ failed with status: "
	    "401 Unauthorized",
	    v.port);
	assert_string_equal(r.e.msg, want);
	snprintf(host, sizeof(host), "127.0.0.1:%d", v.port);
	assert_int_equal(reg_known_creds(rc, host, &u, &p), 0);
	reg_client_free(rc);
	free(r.token);
	gcp_srv_stop(&v);
}

static void
t_bearer(void **state)
{
	char *tok_replies[] = {
		gcp_srv_reply("200 OK", NULL,
		    "{\"token\":\"tk\",\"expires_in\":300,"
		    "\"refresh_token\":\"rt-1\"}"),
		gcp_srv_reply("401 Unauthorized", NULL,
		    "{\"errors\":[{\"code\":\"UNAUTHORIZED\",\"message\":"
		    "\"incorrect username or password\"}]}"),
		NULL,
	};
	struct gcp_srv tok, v;
	struct reg_client *rc;
	struct res r;
	char *hdr, *replies[4], *req, want[160];

	(void)state;
	gcp_srv_start(&tok, tok_replies);
	hdr = xasprintf("WWW-Authenticate: Bearer "
			"realm=\"http://127.0.0.1:%d/token\","
			"service=\"reg.test\"\r\n",
	    tok.port);
	replies[0] = gcp_srv_reply("401 Unauthorized", hdr, "{}");
	replies[1] = gcp_srv_reply("200 OK", NULL, "{}");
	replies[2] = gcp_srv_reply("401 Unauthorized", hdr, "{}");
	replies[3] = NULL;
	free(hdr);
	gcp_srv_start(&v, replies);
	/* The token service's event loop is v's. */
	rc = t_login(&v, UP, &r);
	assert_false(r.failed);
	assert_string_equal(r.token, "rt-1");
	req = gcp_srv_requests(&tok);
	assert_int_equal(gcp_srv_count(req,
			     "GET /token?service=reg.test&offline_token=true&"
			     "client_id=sockerless HTTP/1.1"),
	    1);
	assert_int_equal(gcp_srv_count(req, BASIC_UP), 1);
	free(req);
	req = gcp_srv_requests(&v);
	assert_int_equal(gcp_srv_count(req, "Authorization: Bearer tk"), 1);
	free(req);
	reg_client_free(rc);
	free(r.token);

	/* Wrong credentials: the token service refuses. */
	rc = t_login(&v, UP, &r);
	assert_true(r.failed);
	assert_int_equal(r.e.status, 401);
	snprintf(want, sizeof(want),
	    "Get \"http://127.0.0.1:%d/v2/\": unauthorized: incorrect "
	    "username or password",
	    v.port);
	assert_string_equal(r.e.msg, want);
	reg_client_free(rc);
	free(r.token);
	gcp_srv_stop(&v);
	gcp_srv_stop(&tok);
}

static void
t_open_and_errors(void **state)
{
	char *replies[] = {
		gcp_srv_reply("200 OK", NULL, "{}"),
		gcp_srv_reply("404 Not Found", NULL, "{}"),
		NULL,
	};
	struct gcp_srv v;
	struct reg_client *rc;
	struct reg_config c;
	struct res r;
	struct err e;

	(void)state;
	gcp_srv_start(&v, replies);
	/* A registry that asks for nothing: dockerd says Login Succeeded. */
	rc = t_login(&v, UP, &r);
	assert_false(r.failed);
	reg_client_free(rc);
	free(r.token);
	/* Anything but 200 or a challenge. */
	rc = t_login(&v, UP, &r);
	assert_true(r.failed);
	assert_int_equal(r.e.status, 502);
	assert_non_null(strstr(r.e.msg, "failed with status: 404 Not Found"));
	reg_client_free(rc);
	free(r.token);
	gcp_srv_stop(&v);

	/* Bad input: -1 with a 400, no callback; unreachable: 502. */
	memset(&c, 0, sizeof(c));
	v.base = event_base_new();
	v.http = httpcli_new(v.base);
	rc = reg_client_new(v.base, v.http, &c, &e);
	memset(&r, 0, sizeof(r));
	assert_int_equal(reg_login(rc, "127.0.0.1:1",
			     "{\"auth\":\"bm8tY29sb24=\"}", t_cb, &r, &e),
	    -1);
	assert_int_equal(e.status, 400);
	assert_int_equal(
	    reg_login(rc, "https://bad host/", UP, t_cb, &r, &e), -1);
	assert_int_equal(e.status, 400);
	assert_int_equal(reg_login(rc, "127.0.0.1:1", UP, t_cb, &r, &e), 0);
	event_base_dispatch(v.base);
	assert_int_equal(r.calls, 1);
	assert_int_equal(r.e.status, 502);
	assert_non_null(strstr(r.e.msg, "127.0.0.1:1"));
	/* Freeing the client drops a pending login without calling back. */
	assert_int_equal(reg_login(rc, "127.0.0.1:1", UP, t_cb, &r, &e), 0);
	reg_client_free(rc);
	assert_int_equal(r.calls, 1);
	free(r.token);
	httpcli_free(v.http);
	event_base_free(v.base);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(t_basic),
		cmocka_unit_test(t_basic_wrong),
		cmocka_unit_test(t_bearer),
		cmocka_unit_test(t_open_and_errors),
	};

	json_init();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
