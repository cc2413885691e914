/* The AWS credential chain: sources, precedence, refresh and the error
 * naming every source. HTTP is a link seam: this file defines the few
 * httpcli functions aws_creds.c uses and answers from a canned table. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "sockerless/aws.h"
#include "sockerless/httpcli.h"
#include "sockerless/json.h"
#include "sockerless/str.h"
#include "sockerless/xmalloc.h"

#include "../../common/cloud/aws_int.h"

/* --- httpcli seam --- */

struct httpcli_req {
	char *method, *url, *body;
	struct strv headers;
};

struct t_canned {
	const char *method, *url;
	int status;
	const char *body;
	int calls;
};

static struct t_canned t_canned[8];
static char t_last_body[4096];
static char t_last_auth[256];
static char t_last_imds_token[256];

struct httpcli_req *
httpcli_req_new(const char *method, const char *url)
{
	struct httpcli_req *r = xcalloc(1, sizeof(*r));

	r->method = xstrdup(method);
	r->url = xstrdup(url);
	strv_init(&r->headers);
	return r;
}

void
httpcli_req_header(struct httpcli_req *r, const char *name, const char *value)
{
	strv_take(&r->headers, xasprintf("%s: %s", name, value));
}

void
httpcli_req_body(struct httpcli_req *r, const void *p, size_t len)
{
	free(r->body);
	r->body = xstrndup(p, len);
}

void
httpcli_req_timeouts(struct httpcli_req *r, long attempt_ms, long total_ms)
{
	(void)r;
	assert_true(attempt_ms <= total_ms);
}

void
httpcli_req_attempts(struct httpcli_req *r, int max_attempts)
{
	(void)r;
	assert_true(max_attempts >= 1);
}

static const char *
t_req_header(const struct httpcli_req *r, const char *name)
{
	size_t n = strlen(name);

	for (size_t i = 0; i < r->headers.n; i++)
		if (strncasecmp(r->headers.v[i], name, n) == 0 &&
		    r->headers.v[i][n] == ':')
			return r->headers.v[i] + n + 2;
	return NULL;
}

struct httpcli_resp *
httpcli_perform(struct httpcli_req *r)
{
	struct httpcli_resp *resp = xcalloc(1, sizeof(*resp));
	const char *h;

	strv_init(&resp->headers);
	str_lcpy(
	    t_last_body, r->body != NULL ? r->body : "", sizeof(t_last_body));
	if ((h = t_req_header(r, "Authorization")) != NULL)
		str_lcpy(t_last_auth, h, sizeof(t_last_auth));
	if ((h = t_req_header(r, "X-aws-ec2-metadata-token")) != NULL)
		str_lcpy(t_last_imds_token, h, sizeof(t_last_imds_token));
	snprintf(resp->error, sizeof(resp->error), "Connection refused");
	for (size_t i = 0; i < sizeof(t_canned) / sizeof(t_canned[0]); i++) {
		struct t_canned *c = &t_canned[i];

		if (c->url == NULL || strcmp(c->url, r->url) != 0 ||
		    strcmp(c->method, r->method) != 0)
			continue;
		c->calls++;
		resp->status = c->status;
		resp->body = xstrdup(c->body);
		resp->body_len = strlen(c->body);
		break;
	}
	if (resp->body == NULL)
		resp->body = xstrdup("");
	free(r->method);
	free(r->url);
	free(r->body);
	strv_free(&r->headers);
	free(r);
	return resp;
}

void
httpcli_resp_free(struct httpcli_resp *resp)
{
	if (resp == NULL)
		return;
	strv_free(&resp->headers);
	free(resp->body);
	free(resp);
}

/* --- fixtures --- */

static char t_dir[] = "/tmp/t_aws_creds.XXXXXX";

static const char *const t_env_vars[] = { "AWS_ACCESS_KEY_ID",
	"AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE",
	"AWS_SHARED_CREDENTIALS_FILE", "AWS_CONFIG_FILE",
	"AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_ROLE_ARN", "AWS_ROLE_SESSION_NAME",
	"AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
	"AWS_CONTAINER_CREDENTIALS_FULL_URI",
	"AWS_CONTAINER_AUTHORIZATION_TOKEN",
	"AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE",
	"AWS_EC2_METADATA_SERVICE_ENDPOINT", "AWS_ENDPOINT_URL",
	"AWS_ENDPOINT_URL_STS", NULL };

static void
t_write(const char *name, const char *text)
{
	char *path = xasprintf("%s/%s", t_dir, name);
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	fputs(text, f);
	fclose(f);
	free(path);
}

static void
t_setenv_path(const char *var, const char *name)
{
	char *path = xasprintf("%s/%s", t_dir, name);

	setenv(var, path, 1);
	free(path);
}

static int
t_setup(void **state)
{
	(void)state;
	for (size_t i = 0; t_env_vars[i] != NULL; i++)
		unsetenv(t_env_vars[i]);
	setenv("AWS_EC2_METADATA_DISABLED", "true", 1);
	t_setenv_path("HOME", "nohome");
	memset(t_canned, 0, sizeof(t_canned));
	t_last_body[0] = t_last_auth[0] = t_last_imds_token[0] = '\0';
	return 0;
}

static void
t_files(void)
{
	t_write("credentials",
	    "# comment\n"
	    "[default]\n"
	    "aws_access_key_id = AKDEFAULT\n"
	    "aws_secret_access_key = SKDEFAULT\n"
	    "\n"
	    "[dev]\r\n"
	    "aws_access_key_id=AKDEV\r\n"
	    "aws_secret_access_key=SKDEV\r\n"
	    "aws_session_token = TOKDEV\r\n"
	    "[broken]\n"
	    "aws_access_key_id = AKONLY\n");
	t_write("config",
	    "[default]\n"
	    "region = eu-west-1\n"
	    "[profile cfg]\n"
	    "region = us-west-2\n"
	    "aws_access_key_id = AKCFG\n"
	    "aws_secret_access_key = SKCFG\n"
	    "[cfg]\n"
	    "aws_access_key_id = WRONG\n");
	t_setenv_path("AWS_SHARED_CREDENTIALS_FILE", "credentials");
	t_setenv_path("AWS_CONFIG_FILE", "config");
}

/* Resolves with profile and returns the chain (caller clears). */
static int
t_resolve(struct aws_creds_chain *ch, const char *profile, struct err *e)
{
	aws_creds_chain_init(ch, profile, "us-east-1", "http://sts.test/");
	return aws_creds_resolve(ch, e);
}

/* --- tests --- */

static void
t_env(void **state)
{
	struct aws_creds_chain ch;
	struct err e;

	(void)state;
	setenv("AWS_ACCESS_KEY_ID", "AKENV", 1);
	setenv("AWS_SECRET_ACCESS_KEY", "SKENV", 1);
	setenv("AWS_SESSION_TOKEN", "TOKENV", 1);
	assert_int_equal(t_resolve(&ch, NULL, &e), 0);
	assert_string_equal(ch.source, "environment");
	assert_string_equal(ch.creds.access_key, "AKENV");
	assert_string_equal(ch.creds.secret_key, "SKENV");
	assert_string_equal(ch.creds.session_token, "TOKENV");
	assert_int_equal(ch.creds.expires, 0);
	assert_int_equal(aws_creds_refresh_in(&ch, 0), -1);
	aws_creds_chain_clear(&ch);

	/* A key without its secret stops the chain. */
	unsetenv("AWS_SECRET_ACCESS_KEY");
	t_files();
	assert_int_equal(t_resolve(&ch, NULL, &e), -1);
	assert_non_null(strstr(e.msg, "environment"));
	assert_non_null(strstr(e.msg, "secret access key"));
	aws_creds_chain_clear(&ch);
}

static void
t_shared_files(void **state)
{
	struct aws_creds_chain ch;
	struct err e;
	char *region;

	(void)state;
	t_files();
	assert_int_equal(t_resolve(&ch, NULL, &e), 0);
	assert_string_equal(ch.source,
	    "shared credentials file (profile "
	    "default)");
	assert_string_equal(ch.creds.access_key, "AKDEFAULT");
	assert_string_equal(ch.creds.session_token, "");
	aws_creds_chain_clear(&ch);

	setenv("AWS_PROFILE", "dev", 1);
	assert_int_equal(t_resolve(&ch, NULL, &e), 0);
	assert_string_equal(ch.creds.access_key, "AKDEV");
	assert_string_equal(ch.creds.secret_key, "SKDEV");
	assert_string_equal(ch.creds.session_token, "TOKDEV");
	aws_creds_chain_clear(&ch);

	/* [profile cfg] in config; [cfg] there is not a profile. */
	assert_int_equal(t_resolve(&ch, "cfg", &e), 0);
	assert_string_equal(ch.source, "shared config file (profile cfg)");
	assert_string_equal(ch.creds.access_key, "AKCFG");
	aws_creds_chain_clear(&ch);

	assert_int_equal(t_resolve(&ch, "broken", &e), -1);
	assert_non_null(strstr(e.msg, "secret access key"));
	aws_creds_chain_clear(&ch);

	region = aws_creds_profile_region("cfg");
	assert_string_equal(region, "us-west-2");
	free(region);
	region = aws_creds_profile_region("default");
	assert_string_equal(region, "eu-west-1");
	free(region);
	assert_null(aws_creds_profile_region("nope"));
}

static void
t_home_files(void **state)
{
	struct aws_creds_chain ch;
	struct err e;
	char *dir = xasprintf("%s/.aws", t_dir);

	(void)state;
	setenv("HOME", t_dir, 1);
	assert_int_equal(mkdir(dir, 0700) == 0 || access(dir, F_OK) == 0, 1);
	t_write(".aws/credentials",
	    "[default]\naws_access_key_id=AKHOME\n"
	    "aws_secret_access_key=SKHOME\n");
	assert_int_equal(t_resolve(&ch, NULL, &e), 0);
	assert_string_equal(ch.creds.access_key, "AKHOME");
	aws_creds_chain_clear(&ch);
	free(dir);
}

static void
t_precedence(void **state)
{
	struct aws_creds_chain ch;
	struct err e;

	(void)state;
	t_files();
	setenv("AWS_ACCESS_KEY_ID", "AKENV", 1);
	setenv("AWS_SECRET_ACCESS_KEY", "SKENV", 1);
	setenv("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "/v2/creds", 1);
	/* env before files before container. */
	assert_int_equal(t_resolve(&ch, NULL, &e), 0);
	assert_string_equal(ch.creds.access_key, "AKENV");
	aws_creds_chain_clear(&ch);
	/* An explicit profile skips the environment (botocore). */
	assert_int_equal(t_resolve(&ch, "dev", &e), 0);
	assert_string_equal(ch.creds.access_key, "AKDEV");
	aws_creds_chain_clear(&ch);
	assert_int_equal(t_canned[0].calls, 0);
}

static void
t_none(void **state)
{
	struct aws_creds_chain ch;
	struct err e;

	(void)state;
	t_setenv_path("AWS_SHARED_CREDENTIALS_FILE", "missing");
	t_setenv_path("AWS_CONFIG_FILE", "missing2");
	assert_int_equal(t_resolve(&ch, NULL, &e), -1);
	assert_true(str_prefix(e.msg, "no AWS credentials found"));
	assert_non_null(strstr(e.msg, "environment: AWS_ACCESS_KEY_ID"));
	assert_non_null(strstr(e.msg, "web identity:"));
	assert_non_null(strstr(e.msg,
	    "shared files (profile default): no "
	    "keys for profile default"));
	assert_non_null(strstr(e.msg, "missing2"));
	assert_non_null(strstr(e.msg, "container credentials:"));
	assert_non_null(strstr(e.msg, "instance metadata: disabled"));
	assert_string_equal(ch.source, "");
	aws_creds_chain_clear(&ch);
}

static void
t_container(void **state)
{
	struct aws_creds_chain ch;
	struct err e;

	(void)state;
	setenv("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "/v2/creds/abc", 1);
	setenv("AWS_CONTAINER_AUTHORIZATION_TOKEN", "Bearer x", 1);
	t_canned[0] = (struct t_canned){ "GET",
		"http://169.254.170.2/v2/creds/abc", 200,
		"{\"AccessKeyId\":\"ASIACT\",\"SecretAccessKey\":\"SKCT\","
		"\"Token\":\"TOKCT\",\"Expiration\":\"2030-01-01T00:00:00Z\","
		"\"RoleArn\":\"arn:aws:iam::1:role/r\"}",
		0 };
	assert_int_equal(t_resolve(&ch, NULL, &e), 0);
	assert_string_equal(ch.source, "container credentials");
	assert_string_equal(ch.creds.access_key, "ASIACT");
	assert_string_equal(ch.creds.session_token, "TOKCT");
	assert_int_equal(ch.creds.expires, 1893456000);
	assert_string_equal(t_last_auth, "Bearer x");
	/* Refresh is due 5 minutes before expiry, not earlier. */
	assert_int_equal(aws_creds_refresh_in(&ch, 1893456000 - 400), 100);
	assert_int_equal(aws_creds_refresh(&ch, 1893456000 - 400, &e), 0);
	assert_int_equal(t_canned[0].calls, 1);
	assert_int_equal(aws_creds_refresh(&ch, 1893456000 - 200, &e), 0);
	assert_int_equal(t_canned[0].calls, 2);
	aws_creds_chain_clear(&ch);

	/* FULL_URI must be https or local. */
	unsetenv("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI");
	setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", "http://evil.example/", 1);
	assert_int_equal(t_resolve(&ch, NULL, &e), -1);
	assert_non_null(strstr(e.msg, "neither https nor a local"));
	aws_creds_chain_clear(&ch);

	t_write("authtok", "tokfromfile\n");
	t_setenv_path("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE", "authtok");
	setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", "http://127.0.0.1:9/c", 1);
	t_canned[1] = t_canned[0];
	t_canned[1].url = "http://127.0.0.1:9/c";
	assert_int_equal(t_resolve(&ch, NULL, &e), 0);
	assert_string_equal(t_last_auth, "tokfromfile");
	aws_creds_chain_clear(&ch);

	/* A configured endpoint that fails is an error, not absence. */
	t_canned[1].status = 500;
	assert_int_equal(t_resolve(&ch, NULL, &e), -1);
	assert_non_null(strstr(e.msg, "container credentials"));
	assert_non_null(strstr(e.msg, "HTTP 500"));
	aws_creds_chain_clear(&ch);
}

static void
t_imds(void **state)
{
	struct aws_creds_chain ch;
	struct err e;

	(void)state;
	unsetenv("AWS_EC2_METADATA_DISABLED");
	setenv("AWS_EC2_METADATA_SERVICE_ENDPOINT", "http://imds.test/", 1);
	/* Nothing answering: absence, listed in the message. */
	assert_int_equal(t_resolve(&ch, NULL, &e), -1);
	assert_non_null(strstr(e.msg,
	    "instance metadata: http://imds.test: "
	    "Connection refused"));
	aws_creds_chain_clear(&ch);

	t_canned[0] = (struct t_canned){ "PUT",
		"http://imds.test/latest/api/token", 200, "IMDSTOKEN", 0 };
	t_canned[1] = (struct t_canned){ "GET",
		"http://imds.test/latest/meta-data/iam/security-credentials/",
		200, "myrole\n", 0 };
	t_canned[2] = (struct t_canned){ "GET",
		"http://imds.test/latest/meta-data/iam/security-credentials/"
		"myrole",
		200,
		"{\"Code\":\"Success\",\"Type\":\"AWS-HMAC\","
		"\"AccessKeyId\":\"ASIAIM\",\"SecretAccessKey\":\"SKIM\","
		"\"Token\":\"TOKIM\",\"Expiration\":\"2030-01-01T06:00:00Z\","
		"\"LastUpdated\":\"2030-01-01T00:00:00Z\"}",
		0 };
	assert_int_equal(t_resolve(&ch, NULL, &e), 0);
	assert_string_equal(ch.source, "instance metadata");
	assert_string_equal(ch.creds.access_key, "ASIAIM");
	assert_int_equal(ch.creds.expires, 1893456000 + 6 * 3600);
	assert_string_equal(t_last_imds_token, "IMDSTOKEN");
	aws_creds_chain_clear(&ch);
}

static void
t_web_identity(void **state)
{
	struct aws_creds_chain ch;
	struct err e;

	(void)state;
	t_write("wi-token", "eyJ.tok+en/=\n");
	t_setenv_path("AWS_WEB_IDENTITY_TOKEN_FILE", "wi-token");
	setenv("AWS_ROLE_ARN", "arn:aws:iam::123456789012:role/r", 1);
	setenv("AWS_ROLE_SESSION_NAME", "s1", 1);
	t_files(); /* web identity comes before the files */
	t_canned[0] = (struct t_canned){ "POST", "http://sts.test/", 200,
		"<AssumeRoleWithWebIdentityResponse xmlns=\"https://sts."
		"amazonaws.com/doc/2011-06-15/\"><AssumeRoleWithWebIdentity"
		"Result><Credentials><AccessKeyId>ASIAWI</AccessKeyId>"
		"<SecretAccessKey>SK/WI+x</SecretAccessKey><SessionToken>"
		"TOK&amp;WI</SessionToken><Expiration>2030-01-01T01:00:00Z"
		"</Expiration></Credentials></AssumeRoleWithWebIdentityResult>"
		"</AssumeRoleWithWebIdentityResponse>",
		0 };
	assert_int_equal(t_resolve(&ch, NULL, &e), 0);
	assert_string_equal(ch.source, "web identity");
	assert_string_equal(ch.creds.access_key, "ASIAWI");
	assert_string_equal(ch.creds.secret_key, "SK/WI+x");
	assert_string_equal(ch.creds.session_token, "TOK&WI");
	assert_int_equal(ch.creds.expires, 1893456000 + 3600);
	assert_string_equal(t_last_body,
	    "Action=AssumeRoleWithWebIdentity&Version=2011-06-15&RoleArn="
	    "arn%3Aaws%3Aiam%3A%3A123456789012%3Arole%2Fr&RoleSessionName=s1"
	    "&WebIdentityToken=eyJ.tok%2Ben%2F%3D");
	assert_string_equal(t_last_auth, ""); /* unsigned */
	aws_creds_chain_clear(&ch);

	t_canned[0].status = 400;
	t_canned[0].body = "<ErrorResponse><Error><Type>Sender</Type><Code>"
			   "InvalidIdentityToken</Code><Message>bad jwt"
			   "</Message></Error></ErrorResponse>";
	assert_int_equal(t_resolve(&ch, NULL, &e), -1);
	assert_non_null(strstr(e.msg,
	    "web identity: STS: "
	    "InvalidIdentityToken: bad jwt"));
	aws_creds_chain_clear(&ch);
}

static void
t_ini(void **state)
{
	char *v;

	(void)state;
	v = aws_creds_ini_get(
	    "[a]\nk=1\n[ b ]\n  k =  two words \n; c\n", "b", "k");
	assert_string_equal(v, "two words");
	free(v);
	assert_null(aws_creds_ini_get("[a]\nk=1\n", "b", "k"));
	assert_null(aws_creds_ini_get("k=1\n[a]\n", "a", "k"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(t_env, t_setup),
		cmocka_unit_test_setup(t_shared_files, t_setup),
		cmocka_unit_test_setup(t_home_files, t_setup),
		cmocka_unit_test_setup(t_precedence, t_setup),
		cmocka_unit_test_setup(t_none, t_setup),
		cmocka_unit_test_setup(t_container, t_setup),
		cmocka_unit_test_setup(t_imds, t_setup),
		cmocka_unit_test_setup(t_web_identity, t_setup),
		cmocka_unit_test(t_ini),
	};
	char *cmd;
	int rc;

	json_init();
	if (mkdtemp(t_dir) == NULL)
		return 1;
	rc = cmocka_run_group_tests(tests, NULL, NULL);
	cmd = xasprintf("rm -rf '%s'", t_dir);
	if (system(cmd) != 0)
		rc = 1;
	free(cmd);
	return rc;
}
