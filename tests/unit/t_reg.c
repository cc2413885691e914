/* Registry client: reference normalisation, credentials, challenges,
 * platform selection, derived-image layers; with SK_REGISTRY set,
 * resolves and derives (pushes) against a live registry through the
 * event loop. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "../../common/reg/reg_int.h"
#include "sockerless/httpcli.h"
#include "sockerless/json.h"
#include "sockerless/reg.h"
#include "sockerless/xmalloc.h"

#define HEX64 "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

struct ref_case {
	const char *in;
	const char *full;     /* NULL: invalid */
	const char *familiar; /* or the error text when invalid */
};

static const struct ref_case ref_cases[] = {
	{ "busybox", "docker.io/library/busybox:latest", "busybox:latest" },
	{ "busybox:1.36", "docker.io/library/busybox:1.36", "busybox:1.36" },
	{ "library/busybox", "docker.io/library/busybox:latest",
	    "busybox:latest" },
	{ "docker.io/busybox", "docker.io/library/busybox:latest",
	    "busybox:latest" },
	{ "index.docker.io/busybox:x", "docker.io/library/busybox:x",
	    "busybox:x" },
	{ "docker.io/library/busybox:latest",
	    "docker.io/library/busybox:latest", "busybox:latest" },
	{ "user/repo", "docker.io/user/repo:latest", "user/repo:latest" },
	{ "docker.io/library/a/b", "docker.io/library/a/b:latest",
	    "library/a/b:latest" },
	{ "localhost/foo", "localhost/foo:latest", "localhost/foo:latest" },
	{ "localhost:5000/foo/bar:v1", "localhost:5000/foo/bar:v1",
	    "localhost:5000/foo/bar:v1" },
	{ "localhost:5000", "docker.io/library/localhost:5000",
	    "localhost:5000" },
	{ "127.0.0.1:5000/x@sha256:" HEX64, "127.0.0.1:5000/x@sha256:" HEX64,
	    "127.0.0.1:5000/x@sha256:" HEX64 },
	{ "busybox:1@sha256:" HEX64,
	    "docker.io/library/busybox:1@sha256:" HEX64,
	    "busybox:1@sha256:" HEX64 },
	{ "Foo/bar", "Foo/bar:latest", "Foo/bar:latest" },
	{ "a.b-c.d/x_y__z-w/q.r---s", "a.b-c.d/x_y__z-w/q.r---s:latest",
	    "a.b-c.d/x_y__z-w/q.r---s:latest" },
	{ "[::1]:5000/foo:T_a.g-1", "[::1]:5000/foo:T_a.g-1",
	    "[::1]:5000/foo:T_a.g-1" },
	{ "gcr.io/proj/img:_x", "gcr.io/proj/img:_x", "gcr.io/proj/img:_x" },
	{ "", NULL, "invalid reference format" },
	{ "busybox:", NULL, "invalid reference format" },
	{ "busybox@", NULL, "invalid reference format" },
	{ ":tag", NULL, "invalid reference format" },
	{ "/busybox", NULL, "invalid reference format" },
	{ "busybox/", NULL, "invalid reference format" },
	{ "a//b", NULL, "invalid reference format" },
	{ "-abc", NULL, "invalid reference format" },
	{ "abc-", NULL, "invalid reference format" },
	{ "a..b", NULL, "invalid reference format" },
	{ "a___b", NULL, "invalid reference format" },
	{ "busybox:tag:tag", NULL, "invalid reference format" },
	{ "busybox:.tag", NULL, "invalid reference format" },
	{ "busybox:ta/g", NULL, "invalid reference format" },
	{ "localhost:abc/x", NULL, "invalid reference format" },
	{ "-host.com/x", NULL, "invalid reference format" },
	{ "host-.com/x", NULL, "invalid reference format" },
	{ "busy box", NULL, "invalid reference format" },
	{ "busybox@sha256:abc", NULL, "invalid reference format" },
	{ "UPPER", NULL,
	    "invalid reference format: repository name (library/UPPER) must "
	    "be lowercase" },
	{ "docker.io/User/x:tag", NULL,
	    "invalid reference format: repository name (User/x) must be "
	    "lowercase" },
	{ HEX64, NULL,
	    "invalid repository name (" HEX64 "), cannot specify 64-byte "
	    "hexadecimal strings" },
	{ "busybox@sha256:0123456789ABCDEF0123456789abcdef0123456789abcdef0"
	  "123456789abcdef",
	    NULL, "invalid checksum digest format" },
	{ "busybox@md5:0123456789abcdef0123456789abcdef", NULL,
	    "unsupported digest algorithm" },
	{ "busybox@sha256:" HEX64 "0", NULL, "invalid checksum digest length" },
};

static void
t_ref_cases(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(ref_cases) / sizeof(ref_cases[0]); i++) {
		const struct ref_case *c = &ref_cases[i];
		struct reg_ref r;
		struct err e;
		int rv = reg_ref_parse(c->in, &r, &e);

		if (c->full == NULL) {
			if (rv != -1 || e.status != 400 ||
			    strcmp(e.msg, c->familiar) != 0)
				fail_msg("\"%s\": want error \"%s\", got %d "
					 "\"%s\"",
				    c->in, c->familiar, rv,
				    rv == -1 ? e.msg : "");
			continue;
		}
		if (rv == -1)
			fail_msg("\"%s\": %s", c->in, e.msg);
		char *full = reg_ref_string(&r), *fam = reg_ref_familiar(&r);
		if (strcmp(full, c->full) != 0 || strcmp(fam, c->familiar) != 0)
			fail_msg("\"%s\": got %s (%s)", c->in, full, fam);
		free(full);
		free(fam);
		reg_ref_free(&r);
	}
}

static void
t_ref_fields(void **state)
{
	struct reg_ref r;
	struct err e;
	char tag[130], name[300];

	(void)state;
	assert_int_equal(
	    reg_ref_parse("host:5000/a/b@sha256:" HEX64, &r, &e), 0);
	assert_string_equal(r.domain, "host:5000");
	assert_string_equal(r.path, "a/b");
	assert_null(r.tag);
	assert_string_equal(r.digest, "sha256:" HEX64);
	reg_ref_free(&r);

	memset(tag, 'a', 128);
	tag[128] = '\0';
	(void)snprintf(name, sizeof(name), "busybox:%s", tag);
	assert_int_equal(reg_ref_parse(name, &r, &e), 0);
	reg_ref_free(&r);
	(void)snprintf(name, sizeof(name), "busybox:%sa", tag);
	assert_int_equal(reg_ref_parse(name, &r, &e), -1);

	/* 255 characters of name, domain included, is the limit. */
	memset(name, 'a', sizeof(name));
	memcpy(name, "docker.io/x/", 12);
	name[255] = '\0';
	assert_int_equal(reg_ref_parse(name, &r, &e), 0);
	reg_ref_free(&r);
	memset(name, 'a', sizeof(name));
	memcpy(name, "docker.io/x/", 12);
	name[256] = '\0';
	assert_int_equal(reg_ref_parse(name, &r, &e), -1);
	assert_string_equal(
	    e.msg, "repository name must not be more than 255 characters");
	reg_ref_free(NULL);
}

static const char sample_index[] =
    "{\"schemaVersion\":2,\"mediaType\":"
    "\"application/vnd.oci.image.index.v1+json\",\"manifests\":["
    "{\"digest\":\"sha256:0001\",\"platform\":{\"architecture\":\"arm\","
    "\"os\":\"linux\",\"variant\":\"v6\"}},"
    "{\"digest\":\"sha256:0002\",\"platform\":{\"architecture\":\"amd64\","
    "\"os\":\"windows\"}},"
    "{\"digest\":\"sha256:0003\",\"platform\":{\"architecture\":\"amd64\","
    "\"os\":\"linux\"}},"
    "{\"digest\":\"sha256:0004\",\"platform\":{\"architecture\":\"arm64\","
    "\"os\":\"linux\"}},"
    "{\"digest\":\"sha256:0005\",\"platform\":{\"architecture\":\"arm\","
    "\"os\":\"linux\",\"variant\":\"v7\"}},"
    "{\"digest\":\"sha256:0006\",\"platform\":{\"architecture\":\"unknown\","
    "\"os\":\"unknown\"}},"
    "{\"digest\":\"sha256:0007\",\"platform\":{\"architecture\":\"amd64\","
    "\"os\":\"linux\",\"variant\":\"v3\"}},"
    "{\"digest\":\"sha256:0008\"},"
    "{\"platform\":{\"architecture\":\"s390x\",\"os\":\"linux\"}}]}";

static const char *
pick(const cJSON *idx, const char *plat)
{
	struct reg_platform p;
	struct err e;
	const cJSON *m;

	assert_int_equal(reg_platform_parse(plat, &p, &e), 0);
	m = reg_platform_pick(idx, &p);
	return m != NULL ? json_str(m, "digest") : NULL;
}

static void
t_platform(void **state)
{
	struct reg_platform p;
	struct err e;
	cJSON *idx = cJSON_Parse(sample_index);

	(void)state;
	assert_non_null(idx);
	assert_int_equal(reg_platform_parse(NULL, &p, &e), 0);
	assert_string_equal(p.os, "linux");
	assert_string_equal(p.arch, "amd64");
	assert_string_equal(p.variant, "");
	assert_int_equal(reg_platform_parse("linux/arm64", &p, &e), 0);
	assert_string_equal(p.variant, "v8");
	assert_int_equal(reg_platform_parse("linux/aarch64", &p, &e), 0);
	assert_string_equal(p.arch, "arm64");
	assert_int_equal(reg_platform_parse("linux", &p, &e), -1);
	assert_int_equal(e.status, 400);
	assert_int_equal(reg_platform_parse("linux/arm/v7/x", &p, &e), -1);
	assert_int_equal(reg_platform_parse("linux//v7", &p, &e), -1);

	assert_string_equal(pick(idx, NULL), "sha256:0003");
	assert_string_equal(pick(idx, "linux/x86_64"), "sha256:0003");
	assert_string_equal(pick(idx, "linux/amd64/v3"), "sha256:0007");
	assert_string_equal(pick(idx, "windows/amd64"), "sha256:0002");
	assert_string_equal(pick(idx, "linux/arm64"), "sha256:0004");
	assert_string_equal(pick(idx, "linux/arm64/v8"), "sha256:0004");
	assert_string_equal(pick(idx, "linux/arm/v7"), "sha256:0005");
	assert_string_equal(pick(idx, "linux/arm"), "sha256:0005");
	assert_string_equal(pick(idx, "linux/arm/v6"), "sha256:0001");
	assert_string_equal(pick(idx, "linux/arm/v8"), "sha256:0005");
	assert_null(pick(idx, "linux/arm/v5"));
	assert_null(pick(idx, "linux/s390x"));
	assert_null(pick(idx, "linux/riscv64"));
	cJSON_Delete(idx);
	/* Malformed documents are simply "no match". */
	idx = cJSON_Parse("{\"manifests\":{\"a\":1}}");
	assert_null(pick(idx, NULL));
	cJSON_Delete(idx);
	idx = cJSON_Parse("{\"manifests\":[1,\"x\",{\"platform\":5}]}");
	assert_null(pick(idx, NULL));
	cJSON_Delete(idx);
}

static void
t_auth_decode(void **state)
{
	struct reg_creds c;
	size_t n;
	char *s;

	(void)state;
	/* base64url without padding, with '_' in it. */
	assert_int_equal(reg_auth_decode("eyJ1c2VybmFtZSI6ICJ1IiwgInBhc3N3b3J"
					 "kIjogInA_Pn4ifQ",
			     &c),
	    0);
	assert_string_equal(c.user, "u");
	assert_string_equal(c.pass, "p?>~");
	reg_creds_free(&c);
	/* Standard base64 with padding and '/'. */
	assert_int_equal(reg_auth_decode("eyJ1c2VybmFtZSI6ICJ1IiwgInBhc3N3b3J"
					 "kIjogInA/Pn4ifQ==",
			     &c),
	    0);
	assert_string_equal(c.pass, "p?>~");
	reg_creds_free(&c);
	assert_int_equal(
	    reg_auth_decode("eyJpZGVudGl0eXRva2VuIjoidG9rIn0=", &c), 0);
	assert_null(c.user);
	assert_string_equal(c.identitytoken, "tok");
	assert_true(reg_creds_any(&c));
	reg_creds_free(&c);
	/* {"auth":"aHViOnB3"} as raw JSON, as old clients send. */
	assert_int_equal(reg_auth_decode("{\"auth\":\"aHViOnB3\"}", &c), 0);
	assert_string_equal(c.user, "hub");
	assert_string_equal(c.pass, "pw");
	reg_creds_free(&c);
	/* None. */
	assert_int_equal(reg_auth_decode(NULL, &c), 0);
	assert_false(reg_creds_any(&c));
	assert_int_equal(reg_auth_decode("", &c), 0);
	assert_int_equal(reg_auth_decode("e30=", &c), 0);
	assert_false(reg_creds_any(&c));
	assert_int_equal(reg_auth_decode("e30", &c), 0);
	assert_int_equal(reg_auth_decode("{}", &c), 0);
	assert_false(reg_creds_any(&c));
	/* Malformed. */
	assert_int_equal(reg_auth_decode("!!!", &c), -1);
	assert_int_equal(reg_auth_decode("bm90IGpzb24=", &c), -1);
	assert_int_equal(reg_auth_decode("WzFd", &c), -1); /* [1] */
	assert_int_equal(reg_auth_decode("{\"auth\":\"@@\"}", &c), -1);
	assert_null(c.user);

	s = str_base64_decode("aHViOnB3", &n);
	assert_int_equal(n, 6);
	assert_string_equal(s, "hub:pw");
	free(s);
	assert_null(str_base64_decode("a", &n));
	assert_null(str_base64_decode("aH=b", &n));
}

static void
t_auth_file(void **state)
{
	char path[] = "/tmp/t_reg_auth_XXXXXX";
	const char *doc =
	    "{\"auths\":{\"https://index.docker.io/v1/\":{\"auth\":"
	    "\"aHViOnB3\"},\"registry.example:5000\":{\"username\":\"a\","
	    "\"password\":\"b\"},\"empty.example\":{},\"bad.example\":"
	    "{\"auth\":5}},\"credsStore\":\"desktop\"}";
	struct reg_creds c;
	int fd;

	(void)state;
	fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, doc, strlen(doc)), (ssize_t)strlen(doc));
	close(fd);
	assert_int_equal(reg_auth_file_lookup(path, "docker.io", &c), 1);
	assert_string_equal(c.user, "hub");
	assert_string_equal(c.pass, "pw");
	reg_creds_free(&c);
	assert_int_equal(
	    reg_auth_file_lookup(path, "registry-1.docker.io", &c), 1);
	reg_creds_free(&c);
	assert_int_equal(
	    reg_auth_file_lookup(path, "registry.example:5000", &c), 1);
	assert_string_equal(c.user, "a");
	assert_string_equal(c.pass, "b");
	reg_creds_free(&c);
	assert_int_equal(reg_auth_file_lookup(path, "empty.example", &c), 0);
	assert_int_equal(reg_auth_file_lookup(path, "bad.example", &c), 0);
	assert_int_equal(reg_auth_file_lookup(path, "registry.example", &c), 0);
	assert_int_equal(reg_auth_file_lookup("/nonexistent", "x", &c), 0);
	assert_int_equal(reg_auth_file_lookup(NULL, "x", &c), 0);
	unlink(path);
}

static void
t_challenge(void **state)
{
	struct reg_challenge c;

	(void)state;
	assert_int_equal(
	    reg_challenge_parse("Bearer realm=\"https://auth.docker.io/token\","
				"service=\"registry.docker.io\",scope=\"repos"
				"itory:library/busybox:pull\"",
		&c),
	    0);
	assert_string_equal(c.scheme, "bearer");
	assert_string_equal(c.realm, "https://auth.docker.io/token");
	assert_string_equal(c.service, "registry.docker.io");
	assert_string_equal(c.scope, "repository:library/busybox:pull");
	reg_challenge_free(&c);

	assert_int_equal(
	    reg_challenge_parse("Basic realm=\"Registry Realm\"", &c), 0);
	assert_string_equal(c.scheme, "basic");
	assert_string_equal(c.realm, "Registry Realm");
	assert_null(c.service);
	reg_challenge_free(&c);

	assert_int_equal(reg_challenge_parse("bearer  realm=https://x/token, "
					     "Service=svc ,error=\"invalid_"
					     "token\"",
			     &c),
	    0);
	assert_string_equal(c.realm, "https://x/token");
	assert_string_equal(c.service, "svc");
	reg_challenge_free(&c);

	assert_int_equal(reg_challenge_parse("Bearer realm=\"https://a/t?x=1,"
					     "2\",service=\"s\\\"q\"",
			     &c),
	    0);
	assert_string_equal(c.realm, "https://a/t?x=1,2");
	assert_string_equal(c.service, "s\"q");
	reg_challenge_free(&c);

	/* Only the first of several challenges counts. */
	assert_int_equal(reg_challenge_parse("Basic realm=\"r\", Bearer "
					     "realm=\"x\"",
			     &c),
	    0);
	assert_string_equal(c.scheme, "basic");
	assert_string_equal(c.realm, "r");
	reg_challenge_free(&c);

	assert_int_equal(
	    reg_challenge_parse("Bearer realm=\"unterminated", &c), 0);
	assert_string_equal(c.realm, "unterminated");
	reg_challenge_free(&c);
	assert_int_equal(reg_challenge_parse(NULL, &c), -1);
	assert_int_equal(reg_challenge_parse("  ", &c), -1);
	reg_challenge_free(&c);
}

static void
t_insecure(void **state)
{
	struct strv sv;

	(void)state;
	strv_init(&sv);
	assert_true(reg_host_insecure(&sv, "127.0.0.1:5000"));
	assert_true(reg_host_insecure(&sv, "127.1.2.3"));
	assert_true(reg_host_insecure(&sv, "localhost:5000"));
	assert_true(reg_host_insecure(&sv, "localhost"));
	assert_true(reg_host_insecure(&sv, "[::1]:5000"));
	assert_false(reg_host_insecure(&sv, "localhostx:5000"));
	assert_false(reg_host_insecure(&sv, "10.1.2.3:5000"));
	assert_false(reg_host_insecure(&sv, "registry-1.docker.io"));
	strv_add(&sv, "10.0.0.0/8");
	strv_add(&sv, "myreg:5000");
	strv_add(&sv, "fd00::/8");
	strv_add(&sv, "bogus/99");
	assert_true(reg_host_insecure(&sv, "10.1.2.3:5000"));
	assert_false(reg_host_insecure(&sv, "11.1.2.3:5000"));
	assert_true(reg_host_insecure(&sv, "myreg:5000"));
	assert_false(reg_host_insecure(&sv, "myreg:5001"));
	assert_true(reg_host_insecure(&sv, "[fd12::1]:443"));
	assert_false(reg_host_insecure(&sv, "[fe80::1]:443"));
	strv_free(&sv);
}

static void
t_digest(void **state)
{
	char *d = reg_digest_of("", 0), code[32], text[128];
	struct err e;
	const char *body =
	    "{\"errors\":[{\"code\":\"MANIFEST_UNKNOWN\",\"message\":"
	    "\"manifest unknown\",\"detail\":{\"Tag\":\"x\"}}]}";

	(void)state;
	assert_string_equal(d,
	    "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41"
	    "e4649b934ca495991b7852b855");
	assert_int_equal(reg_digest_verify(d, "", 0), 0);
	assert_int_equal(reg_digest_verify(d, "x", 1), -1);
	assert_int_equal(reg_digest_verify("sha256:x", "", 0), -1);
	free(d);
	assert_int_equal(reg_digest_check("sha512:" HEX64 HEX64, &e), 0);
	assert_int_equal(reg_digest_check("sha256:" HEX64 "00", &e), -1);
	assert_int_equal(reg_digest_check("../../x", &e), -1);
	reg_errors_text(
	    body, strlen(body), code, sizeof(code), text, sizeof(text));
	assert_string_equal(code, "MANIFEST_UNKNOWN");
	assert_string_equal(text, "manifest unknown: manifest unknown");
	reg_errors_text("{\"details\":\"incorrect username or password\"}", 44,
	    code, sizeof(code), text, sizeof(text));
	assert_string_equal(text, "incorrect username or password");
	reg_errors_text("<html>", 6, code, sizeof(code), text, sizeof(text));
	assert_string_equal(text, "");
	reg_errors_text("{\"errors\":[{\"code\":7}]}", 23, code, sizeof(code),
	    text, sizeof(text));
	assert_string_equal(text, "");
}

static void
t_client_config(void **state)
{
	struct event_base *base = event_base_new();
	struct reg_config c;
	struct strv m;
	struct err e;
	struct reg_client *rc;

	(void)state;
	memset(&c, 0, sizeof(c));
	strv_init(&m);
	strv_add(&m, "mirror.example");
	c.mirrors = &m;
	assert_null(reg_client_new(base, NULL, &c, &e));
	assert_int_equal(e.status, 400);
	c.mirrors = NULL;
	/* host=URL endpoints: the URL must be http(s). */
	strv_free(&m);
	strv_add(&m, "123.dkr.ecr.x.amazonaws.com=127.0.0.1:5000");
	c.endpoints = &m;
	assert_null(reg_client_new(base, NULL, &c, &e));
	assert_int_equal(e.status, 400);
	assert_non_null(strstr(e.msg, "host=URL"));
	strv_free(&m);
	strv_add(&m, "=http://127.0.0.1:5000");
	assert_null(reg_client_new(base, NULL, &c, &e));
	strv_free(&m);
	strv_add(&m, "123.dkr.ecr.x.amazonaws.com=http://127.0.0.1:5000/");
	rc = reg_client_new(base, NULL, &c, &e);
	assert_non_null(rc);
	reg_client_free(rc);
	c.endpoints = NULL;
	c.platform = "linux";
	assert_null(reg_client_new(base, NULL, &c, &e));
	c.platform = NULL;
	rc = reg_client_new(base, NULL, &c, &e);
	assert_non_null(rc);
	assert_int_equal(reg_resolve(rc, "UPPER", NULL, NULL, NULL, &e), -1);
	assert_int_equal(e.status, 400);
	/* Freeing the client drops pending pulls without calling back. */
	assert_int_equal(reg_resolve(rc, "busybox", NULL, NULL, NULL, &e), 0);
	reg_client_free(rc);
	reg_client_free(NULL);
	strv_free(&m);
	event_base_free(base);
}

/* --- live registry (SK_REGISTRY) ----------------------------------------- */

struct live {
	struct event_base *base;
	struct httpcli *http;
	struct reg_client *rc;
	int done;
	struct err e;
	int ok;
	char *digest, *manifest_digest, *id, *tag;
	int64_t size;
	int has_config;
	int hook;
	char *hook_arg;
	int want_config;
	cJSON *config;
};

static void
live_cb(void *arg, const struct reg_image *img, const struct err *e)
{
	struct live *l = arg;

	l->done++;
	if (e != NULL) {
		l->e = *e;
		l->ok = 0;
	} else {
		l->ok = 1;
		l->digest = xstrdup(img->digest);
		l->manifest_digest = xstrdup(img->manifest_digest);
		l->id = xstrdup(img->id);
		l->tag = xstrdup(img->tag);
		l->size = img->size;
		l->has_config = cJSON_IsObject(img->config) &&
		    json_obj(img->config, "rootfs") != NULL;
		if (l->want_config)
			l->config = cJSON_Duplicate(img->config, 1);
	}
	event_base_loopexit(l->base, NULL);
}

static int hook_calls;

static int
live_hook(void *arg, const char *host, reg_creds_done done, void *done_arg)
{
	struct err e;

	hook_calls++;
	if (arg != NULL && strcmp(host, arg) == 0) {
		err_set(&e, 403, "no token for you");
		done(done_arg, NULL, NULL, &e);
		return 0;
	}
	if (str_prefix(host, "127.0.0.1")) {
		done(done_arg, "u", "p", NULL);
		return 0;
	}
	return -1;
}

static void
live_clear(struct live *l)
{
	free(l->digest);
	free(l->manifest_digest);
	free(l->id);
	free(l->tag);
	l->digest = l->manifest_digest = l->id = l->tag = NULL;
	l->done = l->ok = 0;
}

/* Resolves ref with the given mirrors and platform; waits for the cb. */
static void
live_run(struct live *l, const char *ref, const char *mirror1,
    const char *mirror2, const char *platform)
{
	struct reg_config c;
	struct strv m;
	struct err e;
	struct timeval tv = { 90, 0 };

	live_clear(l);
	memset(&c, 0, sizeof(c));
	strv_init(&m);
	if (mirror1 != NULL)
		strv_add(&m, mirror1);
	if (mirror2 != NULL)
		strv_add(&m, mirror2);
	c.mirrors = &m;
	c.platform = platform;
	l->rc = reg_client_new(l->base, l->http, &c, &e);
	assert_non_null(l->rc);
	if (l->hook)
		reg_set_creds_hook(l->rc, live_hook, l->hook_arg);
	assert_int_equal(reg_resolve(l->rc, ref, NULL, live_cb, l, &e), 0);
	assert_int_equal(l->done, 0); /* never called from inside */
	event_base_loopexit(l->base, &tv);
	event_base_dispatch(l->base);
	assert_int_equal(l->done, 1);
	reg_client_free(l->rc);
	strv_free(&m);
}

static void
t_live(void **state)
{
	const char *reg = getenv("SK_REGISTRY");
	char mirror[256], ref[300], *oci_manifest = NULL;
	struct live l;

	(void)state;
	if (reg == NULL || reg[0] == '\0')
		skip();
	memset(&l, 0, sizeof(l));
	l.base = event_base_new();
	l.http = httpcli_new(l.base);
	(void)snprintf(mirror, sizeof(mirror), "http://%s", reg);

	/* docker.io through the mirror. */
	live_run(&l, "docker.io/library/busybox", mirror, NULL, NULL);
	if (!l.ok)
		fail_msg("resolve via mirror: %d %s", l.e.status, l.e.msg);
	assert_true(str_prefix(l.id, "sha256:"));
	assert_true(str_prefix(l.digest, "sha256:"));
	assert_string_equal(l.tag, "latest");
	assert_true(l.size > 0);
	assert_true(l.has_config);

	/* A dead mirror falls through to the next. */
	live_run(&l, "busybox", "http://127.0.0.1:1", mirror, NULL);
	if (!l.ok)
		fail_msg("dead mirror: %d %s", l.e.status, l.e.msg);

	/* The registry itself, over http since it is on loopback. */
	(void)snprintf(ref, sizeof(ref), "%s/library/busybox:latest", reg);
	live_run(&l, ref, NULL, NULL, NULL);
	if (!l.ok)
		fail_msg("direct: %d %s", l.e.status, l.e.msg);

	/* By digest (verified). */
	(void)snprintf(
	    ref, sizeof(ref), "%s/library/busybox@%s", reg, l.manifest_digest);
	live_run(&l, ref, NULL, NULL, NULL);
	if (!l.ok)
		fail_msg("by digest: %d %s", l.e.status, l.e.msg);
	assert_null(l.tag);

	/* A credentials hook that answers at once, then one that fails. */
	l.hook = 1;
	hook_calls = 0;
	live_run(&l, ref, NULL, NULL, NULL);
	if (!l.ok)
		fail_msg("hook: %d %s", l.e.status, l.e.msg);
	assert_int_equal(hook_calls, 1);
	l.hook_arg = (char *)reg;
	live_run(&l, ref, NULL, NULL, NULL);
	assert_false(l.ok);
	assert_int_equal(l.e.status, 403);
	assert_non_null(strstr(l.e.msg, "no token for you"));
	l.hook = 0;
	l.hook_arg = NULL;

	/* Unknown tag and repository. */
	(void)snprintf(ref, sizeof(ref), "%s/library/busybox:no-such-tag", reg);
	live_run(&l, ref, NULL, NULL, NULL);
	assert_false(l.ok);
	assert_int_equal(l.e.status, 404);
	assert_non_null(strstr(l.e.msg, "manifest for "));
	assert_non_null(strstr(l.e.msg,
	    "busybox:no-such-tag not found: "
	    "manifest unknown"));
	(void)snprintf(ref, sizeof(ref), "%s/nobody/nothing", reg);
	live_run(&l, ref, NULL, NULL, NULL);
	assert_false(l.ok);
	assert_int_equal(l.e.status, 404);

	/* Unreachable registry: 502 naming the host. */
	live_run(&l, "127.0.0.1:1/x/y", NULL, NULL, NULL);
	assert_false(l.ok);
	assert_int_equal(l.e.status, 502);
	assert_non_null(strstr(l.e.msg, "127.0.0.1:1"));

	/* Optional tags (the helper registry has them): an OCI manifest and
	 * an index whose arm64 entry is that OCI manifest. */
	(void)snprintf(ref, sizeof(ref), "%s/library/busybox:oci", reg);
	live_run(&l, ref, NULL, NULL, NULL);
	if (l.ok) {
		oci_manifest = xstrdup(l.manifest_digest);
		(void)snprintf(
		    ref, sizeof(ref), "%s/library/busybox:multi", reg);
		live_run(&l, ref, NULL, NULL, "linux/arm64");
		if (l.ok) {
			assert_string_equal(l.manifest_digest, oci_manifest);
			assert_string_not_equal(l.digest, oci_manifest);
			live_run(&l, ref, NULL, NULL, "linux/s390x");
			assert_false(l.ok);
			assert_int_equal(l.e.status, 404);
			assert_non_null(
			    strstr(l.e.msg, "no matching manifest"));
		}
		free(oci_manifest);
	}
	live_clear(&l);
	httpcli_free(l.http);
	event_base_free(l.base);
}

/* --- derived images ---------------------------------------------------- */

/* Output of a shell command, trailing newline removed; caller frees. */
static char *
t_sh(const char *cmd)
{
	FILE *f = popen(cmd, "r");
	char buf[8192];
	size_t n;

	assert_non_null(f);
	n = fread(buf, 1, sizeof(buf) - 1, f);
	buf[n] = '\0';
	while (n > 0 && buf[n - 1] == '\n')
		buf[--n] = '\0';
	assert_int_equal(pclose(f), 0);
	return xstrdup(buf);
}

static void
t_layer_build(void **state)
{
	static char big[200000];
	const char hello[] = "hello\n";
	struct reg_file files[] = {
		{ "sockerless", 0755, NULL, 0, 1 },
		{ "sockerless/agent", 0755, big, sizeof(big), 0 },
		{ "etc/deep/x.txt", 0644, hello, sizeof(hello) - 1, 0 },
		{ "etc/empty", 0600, NULL, 0, 0 },
	};
	struct reg_layer l;
	struct err e;
	char path[] = "/tmp/t_reg_layerXXXXXX", cmd[512], *out;
	int fd;

	(void)state;
	for (size_t i = 0; i < sizeof(big); i++)
		big[i] = (char)(i * 7 + i / 251);
	assert_int_equal(reg_layer_build(files, 4, &l, &e), 0);
	assert_true(str_prefix(l.digest, "sha256:"));
	assert_true(str_prefix(l.diff_id, "sha256:"));
	/* Stored blocks: bigger than the tar, by a few bytes per 64 KiB. */
	assert_true(l.len > sizeof(big));
	assert_true((fd = mkstemp(path)) != -1);
	assert_int_equal(write(fd, l.data, l.len), (ssize_t)l.len);
	close(fd);
	(void)snprintf(cmd, sizeof(cmd), "gzip -t %s && echo ok", path);
	out = t_sh(cmd);
	assert_string_equal(out, "ok");
	free(out);
	(void)snprintf(cmd, sizeof(cmd),
	    "tar -tzvf %s | awk '{print $1, $2, $3, $6}'", path);
	out = t_sh(cmd);
	assert_string_equal(out,
	    "drwxr-xr-x root/root 0 sockerless/\n"
	    "-rwxr-xr-x root/root 200000 sockerless/agent\n"
	    "drwxr-xr-x root/root 0 etc/\n"
	    "drwxr-xr-x root/root 0 etc/deep/\n"
	    "-rw-r--r-- root/root 6 etc/deep/x.txt\n"
	    "-rw------- root/root 0 etc/empty");
	free(out);
	/* mtime 0, and the content survives. */
	(void)snprintf(cmd, sizeof(cmd),
	    "tar -tzv --full-time -f %s | awk '{print $4}' | sort -u; "
	    "tar -xzOf %s etc/deep/x.txt",
	    path, path);
	out = t_sh(cmd);
	assert_string_equal(out, "1970-01-01\nhello");
	free(out);
	(void)snprintf(cmd, sizeof(cmd), "sha256sum < %s | cut -c1-64", path);
	out = t_sh(cmd);
	assert_string_equal(out, l.digest + 7);
	free(out);
	(void)snprintf(
	    cmd, sizeof(cmd), "gzip -dc < %s | sha256sum | cut -c1-64", path);
	out = t_sh(cmd);
	assert_string_equal(out, l.diff_id + 7);
	free(out);
	unlink(path);
	reg_layer_free(&l);
	reg_layer_free(NULL);

	/* Reproducible; an empty layer is two zero blocks. */
	{
		struct reg_layer a, b;

		assert_int_equal(reg_layer_build(files + 2, 1, &a, &e), 0);
		assert_int_equal(reg_layer_build(files + 2, 1, &b, &e), 0);
		assert_string_equal(a.digest, b.digest);
		reg_layer_free(&a);
		reg_layer_free(&b);
		assert_int_equal(reg_layer_build(NULL, 0, &a, &e), 0);
		assert_int_equal(a.len, 10 + 5 + 1024 + 8);
		reg_layer_free(&a);
	}

	/* Bad paths. */
	{
		const char *bad[] = { "/abs", "a/../b", "a//b", "a/", "",
			"./a" };

		for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
			struct reg_file f = { bad[i], 0644, "x", 1, 0 };

			assert_int_equal(reg_layer_build(&f, 1, &l, &e), -1);
			assert_int_equal(e.status, 400);
		}
	}
	/* Long names go into the ustar prefix; a name that cannot be
	 * split fails. */
	{
		char longp[200];
		struct reg_file f = { longp, 0644, "x", 1, 0 };

		memset(longp, 'a', sizeof(longp));
		longp[90] = '/';
		longp[151] = '/';
		longp[172] = '\0';
		assert_int_equal(reg_layer_build(&f, 1, &l, &e), 0);
		memcpy(path + strlen(path) - 6, "XXXXXX", 6);
		assert_true((fd = mkstemp(path)) != -1);
		assert_int_equal(write(fd, l.data, l.len), (ssize_t)l.len);
		close(fd);
		(void)snprintf(cmd, sizeof(cmd), "tar -tzf %s | tail -1", path);
		out = t_sh(cmd);
		assert_string_equal(out, longp);
		free(out);
		unlink(path);
		reg_layer_free(&l);
		memset(longp, 'a', sizeof(longp) - 1);
		longp[sizeof(longp) - 1] = '\0';
		assert_int_equal(reg_layer_build(&f, 1, &l, &e), -1);
		assert_int_equal(e.status, 400);
	}
}

static void
t_endpoints(void **state)
{
	struct event_base *base = event_base_new();
	struct reg_config c;
	struct strv m;
	struct err e;
	struct reg_client *rc;
	struct reg_challenge ch;
	struct reg_creds cr;
	struct httpcli_req *r;
	char *b, *h;

	(void)state;
	memset(&c, 0, sizeof(c));
	strv_init(&m);
	strv_add(&m,
	    "123456789012.dkr.ecr.us-east-1.amazonaws.com="
	    "http://127.0.0.1:35000/");
	c.endpoints = &m;
	rc = reg_client_new(base, NULL, &c, &e);
	assert_non_null(rc);
	b = reg_endpoint_base(
	    rc, "123456789012.dkr.ecr.us-east-1.amazonaws.com", &h);
	assert_string_equal(b, "http://127.0.0.1:35000");
	assert_string_equal(h, "127.0.0.1:35000");
	free(b);
	free(h);
	b = reg_endpoint_base(rc, "docker.io", &h);
	assert_string_equal(b, "https://registry-1.docker.io");
	free(b);
	free(h);
	b = reg_endpoint_base(rc, "localhost:5000", &h);
	assert_string_equal(b, "http://localhost:5000");
	assert_string_equal(h, "localhost:5000");
	free(b);
	free(h);
	b = reg_endpoint_base(rc, "gcr.io", &h);
	assert_string_equal(b, "https://gcr.io");
	free(b);
	free(h);
	reg_client_free(rc);
	strv_free(&m);

	/* Several scopes are several scope parameters. */
	memset(&cr, 0, sizeof(cr));
	assert_int_equal(reg_challenge_parse("Bearer realm=\"https://a/token\","
					     "service=\"reg\"",
			     &ch),
	    0);
	r = reg_token_request(
	    &ch, &cr, "repository:d/x:pull,push repository:s/y:pull");
	assert_string_equal(httpcli_req_url(r),
	    "https://a/token?service=reg&scope=repository%3Ad%2Fx%3Apull%2Cpush"
	    "&scope=repository%3As%2Fy%3Apull");
	httpcli_req_free(r);
	reg_challenge_free(&ch);
	event_base_free(base);
}

struct derive {
	struct event_base *base;
	int done;
	char *ref;
	struct err e;
};

static void
derive_cb(void *arg, const char *ref, const struct err *e)
{
	struct derive *d = arg;

	d->done++;
	free(d->ref);
	d->ref = NULL;
	if (e != NULL)
		d->e = *e;
	else
		d->ref = xstrdup(ref);
	event_base_loopexit(d->base, NULL);
}

static int ecr_hook_calls;

static int
derive_hook(void *arg, const char *host, reg_creds_done done, void *done_arg)
{
	(void)arg;
	if (strstr(host, ".dkr.ecr.") == NULL)
		return -1;
	ecr_hook_calls++;
	done(done_arg, "AWS", "secret", NULL);
	return 0;
}

/* Derives src into dst; 0 and d->ref on success. */
static int
derive_run(struct reg_client *rc, struct derive *d, const char *src,
    const char *dst, const struct reg_layer *l, const struct reg_derive_opts *o)
{
	struct err e;
	struct timeval tv = { 120, 0 };

	d->done = 0;
	assert_int_equal(
	    reg_derive(rc, src, NULL, dst, l, o, derive_cb, d, &e), 0);
	assert_int_equal(d->done, 0);
	event_base_loopexit(d->base, &tv);
	event_base_dispatch(d->base);
	assert_int_equal(d->done, 1);
	return d->ref != NULL ? 0 : -1;
}

/* Config of ref: diff_ids count and Entrypoint[0]. */
static void
derive_inspect(
    struct live *l, const char *ref, int *ndiff, char **ep0, char **mdigest)
{
	struct err e;
	struct timeval tv = { 60, 0 };

	live_clear(l);
	l->want_config = 1;
	assert_int_equal(reg_resolve(l->rc, ref, NULL, live_cb, l, &e), 0);
	event_base_loopexit(l->base, &tv);
	event_base_dispatch(l->base);
	if (!l->ok)
		fail_msg("resolve %s: %d %s", ref, l->e.status, l->e.msg);
	*ndiff = cJSON_GetArraySize(
	    json_arr(json_obj(l->config, "rootfs"), "diff_ids"));
	*ep0 = xstrdup(cJSON_GetStringValue(cJSON_GetArrayItem(
	    json_arr(json_obj(l->config, "config"), "Entrypoint"), 0)));
	*mdigest = xstrdup(l->manifest_digest);
	cJSON_Delete(l->config);
	l->config = NULL;
	l->want_config = 0;
}

static void
t_live_derive(void **state)
{
	const char *reg = getenv("SK_REGISTRY");
	const char *engine = getenv("SK_ENGINE_HOST");
	const char agent[] = "#!/bin/sh\necho derived\n";
	struct reg_file files[] = {
		{ "sockerless/agent", 0755, agent, sizeof(agent) - 1, 0 },
	};
	struct strv ep, m;
	struct reg_derive_opts o = { "sockerless: add /sockerless/agent", &ep,
		NULL };
	struct reg_layer layer;
	struct reg_config c;
	struct live l;
	struct derive d;
	struct err e;
	char src[256], dst[300], want[300], cmd[1024], tag[64], *ep0, *md;
	char *first;
	int n0, n1;
	const char *port;

	(void)state;
	/* skip() and fail_msg() jump out; the returns tell the analyzer. */
	if (reg == NULL || reg[0] == '\0') {
		skip();
		return;
	}
	if ((port = strrchr(reg, ':')) == NULL) {
		fail_msg("SK_REGISTRY=%s: want host:port", reg);
		return;
	}
	port++;
	memset(&l, 0, sizeof(l));
	memset(&d, 0, sizeof(d));
	l.base = d.base = event_base_new();
	l.http = httpcli_new(l.base);
	strv_init(&ep);
	strv_add(&ep, "/sockerless/agent");
	strv_init(&m);
	(void)snprintf(cmd, sizeof(cmd),
	    "123456789012.dkr.ecr.us-east-1.amazonaws.com=http://%s", reg);
	strv_add(&m, cmd);
	memset(&c, 0, sizeof(c));
	c.endpoints = &m;
	l.rc = reg_client_new(l.base, l.http, &c, &e);
	assert_non_null(l.rc);
	reg_set_creds_hook(l.rc, derive_hook, NULL);
	assert_int_equal(reg_layer_build(files, 1, &layer, &e), 0);
	/* A tag per run, so the push path runs every time. */
	(void)snprintf(
	    tag, sizeof(tag), "t1-%ld-%d", (long)time(NULL), (int)getpid());

	/* Same registry: blobs are mounted. */
	(void)snprintf(src, sizeof(src), "%s/library/busybox:latest", reg);
	derive_inspect(&l, src, &n0, &ep0, &md);
	free(ep0);
	free(md);
	(void)snprintf(dst, sizeof(dst), "%s/derived/busybox:%s", reg, tag);
	if (derive_run(l.rc, &d, src, dst, &layer, &o) == -1)
		fail_msg("derive: %d %s", d.e.status, d.e.msg);
	(void)snprintf(want, sizeof(want), "%s/derived/busybox@sha256:", reg);
	assert_true(str_prefix(d.ref, want));
	first = xstrdup(d.ref);
	derive_inspect(&l, dst, &n1, &ep0, &md);
	assert_int_equal(n1, n0 + 1);
	assert_string_equal(ep0, "/sockerless/agent");
	assert_string_equal(md, strchr(first, '@') + 1);
	free(ep0);
	free(md);

	/* The tag exists: reused without looking at the source at all. */
	(void)snprintf(src, sizeof(src), "%s/nobody/nothing:x", reg);
	if (derive_run(l.rc, &d, src, dst, &layer, &o) == -1)
		fail_msg("reuse: %d %s", d.e.status, d.e.msg);
	assert_string_equal(d.ref, first);

	/* Another "host" (localhost vs 127.0.0.1): blobs are copied. */
	(void)snprintf(src, sizeof(src), "%s/library/busybox:latest", reg);
	(void)snprintf(
	    dst, sizeof(dst), "localhost:%s/derivedcopy/busybox:%s", port, tag);
	if (derive_run(l.rc, &d, src, dst, &layer, &o) == -1)
		fail_msg("copy: %d %s", d.e.status, d.e.msg);
	(void)snprintf(want, sizeof(want),
	    "localhost:%s/derivedcopy/busybox@sha256:", port);
	assert_true(str_prefix(d.ref, want));
	/* skopeo copies every blob and checks its digest. */
	(void)snprintf(cmd, sizeof(cmd),
	    "d=$(mktemp -d) && skopeo copy -q --src-tls-verify=false "
	    "docker://%s/derivedcopy/busybox:%s dir:$d/img >/dev/null && "
	    "rm -rf $d && echo ok",
	    reg, tag);
	if (system("skopeo --version >/dev/null 2>&1") == 0) {
		char *out = t_sh(cmd);

		assert_string_equal(out, "ok");
		free(out);
	}
	/* dockerd pulls it, unpacks our layer and runs the file. */
	if (engine != NULL && engine[0] != '\0' &&
	    system("docker --version >/dev/null 2>&1") == 0) {
		char *out;

		(void)snprintf(cmd, sizeof(cmd),
		    "docker -H %s pull -q %s/derivedcopy/busybox:%s "
		    ">/dev/null && docker -H %s run --rm --network host "
		    "%s/derivedcopy/busybox:%s && docker -H %s rmi "
		    "%s/derivedcopy/busybox:%s >/dev/null",
		    engine, reg, tag, engine, reg, tag, engine, reg, tag);
		out = t_sh(cmd);
		assert_string_equal(out, "derived");
		free(out);
	}

	/* A layer over 8 MiB goes up in one PUT, and is copied in pieces. */
	{
		size_t bn = (size_t)20 << 20;
		unsigned char *big = xmalloc(bn);
		struct reg_file bf = { "big.bin", 0644, big, bn, 0 };
		struct reg_layer bl;
		uint32_t x = 2463534242U;

		for (size_t i = 0; i < bn; i++) {
			x ^= x << 13;
			x ^= x >> 17;
			x ^= x << 5;
			big[i] = (unsigned char)x;
		}
		assert_int_equal(reg_layer_build(&bf, 1, &bl, &e), 0);
		free(big);
		(void)snprintf(dst, sizeof(dst), "%s/derived/big:%s", reg, tag);
		if (derive_run(l.rc, &d, src, dst, &bl, &o) == -1)
			fail_msg("big: %d %s", d.e.status, d.e.msg);
		reg_layer_free(&bl);
		(void)snprintf(dst, sizeof(dst),
		    "localhost:%s/derivedcopy/big:%s", port, tag);
		(void)snprintf(cmd, sizeof(cmd), "%s/derived/big:%s", reg, tag);
		if (derive_run(l.rc, &d, cmd, dst, &layer, &o) == -1)
			fail_msg("big copy: %d %s", d.e.status, d.e.msg);
		derive_inspect(&l, dst, &n1, &ep0, &md);
		assert_int_equal(n1, n0 + 2);
		free(ep0);
		free(md);
		(void)snprintf(cmd, sizeof(cmd),
		    "d=$(mktemp -d) && skopeo copy -q --src-tls-verify=false "
		    "docker://%s/derivedcopy/big:%s dir:$d/img >/dev/null && "
		    "rm -rf $d && echo ok",
		    reg, tag);
		if (system("skopeo --version >/dev/null 2>&1") == 0) {
			char *out = t_sh(cmd);

			assert_string_equal(out, "ok");
			free(out);
		}
	}

	/* A simulated ECR host served by the local registry. */
	ecr_hook_calls = 0;
	(void)snprintf(dst, sizeof(dst),
	    "123456789012.dkr.ecr.us-east-1.amazonaws.com/derived/ecr:%s", tag);
	if (derive_run(l.rc, &d, src, dst, &layer, &o) == -1)
		fail_msg("ecr: %d %s", d.e.status, d.e.msg);
	assert_true(str_prefix(d.ref,
	    "123456789012.dkr.ecr.us-east-1.amazonaws.com/derived/ecr@sha256:"));
	assert_true(ecr_hook_calls >= 1);
	derive_inspect(&l, d.ref, &n1, &ep0, &md);
	assert_int_equal(n1, n0 + 1);
	free(ep0);
	free(md);

	/* Errors: unreachable registry, unknown source, bad reference. */
	(void)snprintf(dst, sizeof(dst), "127.0.0.1:1/x/y:%s", tag);
	assert_int_equal(derive_run(l.rc, &d, src, dst, &layer, &o), -1);
	assert_int_equal(d.e.status, 502);
	assert_non_null(strstr(d.e.msg, "127.0.0.1:1"));
	(void)snprintf(src, sizeof(src), "%s/nobody/nothing:x", reg);
	(void)snprintf(dst, sizeof(dst), "%s/derived/none:%s", reg, tag);
	assert_int_equal(derive_run(l.rc, &d, src, dst, &layer, &o), -1);
	assert_int_equal(d.e.status, 404);
	assert_int_equal(reg_derive(l.rc, src, NULL, "x/UPPER:1", &layer, &o,
			     derive_cb, &d, &e),
	    -1);
	assert_int_equal(e.status, 400);
	(void)snprintf(dst, sizeof(dst), "%s/x@sha256:" HEX64, reg);
	assert_int_equal(
	    reg_derive(l.rc, src, NULL, dst, &layer, &o, derive_cb, &d, &e),
	    -1);
	/* A derive pending when the client goes calls nobody back. */
	d.done = 0;
	(void)snprintf(dst, sizeof(dst), "%s/derived/gone:%s", reg, tag);
	assert_int_equal(
	    reg_derive(l.rc, src, NULL, dst, &layer, &o, derive_cb, &d, &e), 0);
	reg_client_free(l.rc);
	assert_int_equal(d.done, 0);

	free(first);
	free(d.ref);
	reg_layer_free(&layer);
	strv_free(&ep);
	strv_free(&m);
	live_clear(&l);
	httpcli_free(l.http);
	event_base_free(l.base);
}

/* A whole image: the manifest and config of one layer, pushed as it is. */
struct push_img {
	struct reg_layer layer;
	char *config, *manifest;
	struct reg_blob_data blobs[2];
};

static void
push_img_make(struct push_img *pi)
{
	const char agent[] = "#!/bin/sh\necho pushed\n";
	struct reg_file files[] = {
		{ "sockerless-agent", 0755, agent, sizeof(agent) - 1, 0 },
	};
	struct err e;
	char *cd;

	assert_int_equal(reg_layer_build(files, 1, &pi->layer, &e), 0);
	pi->config = xasprintf("{\"architecture\":\"amd64\",\"os\":\"linux\","
			       "\"config\":{\"Entrypoint\":[\"/sockerless-"
			       "agent\"]},\"rootfs\":{\"type\":\"layers\","
			       "\"diff_ids\":[\"%s\"]}}",
	    pi->layer.diff_id);
	cd = reg_digest_of(pi->config, strlen(pi->config));
	pi->manifest = xasprintf(
	    "{\"schemaVersion\":2,\"mediaType\":\"%s\",\"config\":{"
	    "\"mediaType\":\"application/vnd.oci.image.config.v1+json\","
	    "\"digest\":\"%s\",\"size\":%zu},\"layers\":[{\"mediaType\":"
	    "\"application/vnd.oci.image.layer.v1.tar+gzip\",\"digest\":"
	    "\"%s\",\"size\":%zu}]}",
	    REG_MT_OCI_MANIFEST, cd, strlen(pi->config), pi->layer.digest,
	    pi->layer.len);
	pi->blobs[0] = (struct reg_blob_data){ pi->layer.digest, pi->layer.data,
		pi->layer.len };
	pi->blobs[1] =
	    (struct reg_blob_data){ cd, pi->config, strlen(pi->config) };
}

static void
push_img_free(struct push_img *pi)
{
	free((char *)pi->blobs[1].digest);
	free(pi->config);
	free(pi->manifest);
	reg_layer_free(&pi->layer);
}

static int
push_img_run(struct reg_client *rc, struct derive *d, const char *dst,
    const struct push_img *pi)
{
	struct err e;
	struct timeval tv = { 120, 0 };

	d->done = 0;
	assert_int_equal(
	    reg_push_image(rc, dst, pi->manifest, strlen(pi->manifest),
		REG_MT_OCI_MANIFEST, pi->blobs, 2, derive_cb, d, &e),
	    0);
	assert_int_equal(d->done, 0);
	event_base_loopexit(d->base, &tv);
	event_base_dispatch(d->base);
	assert_int_equal(d->done, 1);
	return d->ref != NULL ? 0 : -1;
}

static void
t_push_image(void **state)
{
	const char *reg = getenv("SK_REGISTRY");
	struct push_img pi;
	struct reg_blob_data bad[2];
	struct reg_config c;
	struct derive d;
	struct live l;
	struct err e;
	char dst[300], want[400], *md, *ep0, *digest;
	int n;

	(void)state;
	memset(&l, 0, sizeof(l));
	memset(&d, 0, sizeof(d));
	memset(&c, 0, sizeof(c));
	l.base = d.base = event_base_new();
	l.http = httpcli_new(l.base);
	l.rc = reg_client_new(l.base, l.http, &c, &e);
	assert_non_null(l.rc);
	push_img_make(&pi);

	/* Refused before anything is sent: 400s, no callback. */
	assert_int_equal(
	    reg_push_image(l.rc, "127.0.0.1:1/x/y@sha256:" HEX64, pi.manifest,
		strlen(pi.manifest), REG_MT_OCI_MANIFEST, pi.blobs, 2,
		derive_cb, &d, &e),
	    -1);
	assert_int_equal(e.status, 400);
	assert_int_equal(reg_push_image(l.rc, "127.0.0.1:1/x/y:1", pi.manifest,
			     strlen(pi.manifest), REG_MT_OCI_MANIFEST, pi.blobs,
			     1, derive_cb, &d, &e),
	    -1);
	assert_non_null(strstr(e.msg, "is missing"));
	memcpy(bad, pi.blobs, sizeof(bad));
	bad[1].len--;
	assert_int_equal(reg_push_image(l.rc, "127.0.0.1:1/x/y:1", pi.manifest,
			     strlen(pi.manifest), REG_MT_OCI_MANIFEST, bad, 2,
			     derive_cb, &d, &e),
	    -1);
	assert_non_null(strstr(e.msg, "does not match its digest"));
	assert_int_equal(
	    reg_push_image(l.rc, "127.0.0.1:1/x/y:1", "{}", 2,
		REG_MT_OCI_MANIFEST, pi.blobs, 2, derive_cb, &d, &e),
	    -1);
	assert_int_equal(e.status, 400);
	assert_int_equal(d.done, 0);
	/* Unreachable: a 502 naming the host, from the loop. */
	assert_int_equal(push_img_run(l.rc, &d, "127.0.0.1:1/x/y:1", &pi), -1);
	assert_int_equal(d.e.status, 502);
	assert_non_null(strstr(d.e.msg, "127.0.0.1:1"));

	if (reg != NULL && reg[0] != '\0') {
		/* Twice: the second push finds every blob there. */
		(void)snprintf(dst, sizeof(dst), "%s/pushed/img:t%ld-%d", reg,
		    (long)time(NULL), (int)getpid());
		digest = reg_digest_of(pi.manifest, strlen(pi.manifest));
		(void)snprintf(
		    want, sizeof(want), "%s/pushed/img@%s", reg, digest);
		for (int i = 0; i < 2; i++) {
			if (push_img_run(l.rc, &d, dst, &pi) == -1)
				fail_msg("push: %d %s", d.e.status, d.e.msg);
			assert_string_equal(d.ref, want);
		}
		derive_inspect(&l, dst, &n, &ep0, &md);
		assert_int_equal(n, 1);
		assert_string_equal(ep0, "/sockerless-agent");
		assert_string_equal(md, digest);
		free(ep0);
		free(md);
		free(digest);
	}
	free(d.ref);
	push_img_free(&pi);
	reg_client_free(l.rc);
	live_clear(&l);
	httpcli_free(l.http);
	event_base_free(l.base);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(t_ref_cases),
		cmocka_unit_test(t_ref_fields),
		cmocka_unit_test(t_platform),
		cmocka_unit_test(t_auth_decode),
		cmocka_unit_test(t_auth_file),
		cmocka_unit_test(t_challenge),
		cmocka_unit_test(t_insecure),
		cmocka_unit_test(t_digest),
		cmocka_unit_test(t_client_config),
		cmocka_unit_test(t_live),
		cmocka_unit_test(t_layer_build),
		cmocka_unit_test(t_endpoints),
		cmocka_unit_test(t_live_derive),
		cmocka_unit_test(t_push_image),
	};

	json_init();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
