/* awsJson calls end to end over the real httpcli against a forked one-shot
 * HTTP server, plus error parsing and mapping. */
#include <arpa/inet.h>
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
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <event2/event.h>

#include "sockerless/aws.h"
#include "sockerless/buf.h"
#include "sockerless/httpcli.h"
#include "sockerless/json.h"
#include "sockerless/str.h"
#include "sockerless/xmalloc.h"

#include "../../common/cloud/aws_int.h"

/* Serves the replies in order (one per connection), appending each raw
 * request to log. Returns the port; *pid is the child. */
static pid_t t_pid;

static int
t_teardown(void **state)
{
	(void)state;
	if (t_pid > 0) {
		kill(t_pid, SIGTERM);
		waitpid(t_pid, NULL, 0);
	}
	t_pid = 0;
	return 0;
}

static int
t_server(const char *const *replies, const char *log, pid_t *pid)
{
	struct sockaddr_in sin;
	socklen_t slen = sizeof(sin);
	int ls = socket(AF_INET, SOCK_STREAM, 0);

	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(ls, (struct sockaddr *)&sin, sizeof(sin)), 0);
	assert_int_equal(listen(ls, 8), 0);
	getsockname(ls, (struct sockaddr *)&sin, &slen);
	if ((*pid = fork()) == 0) {
		for (size_t i = 0; replies[i] != NULL; i++) {
			int s = accept(ls, NULL, NULL);
			char req[16384];
			size_t n = 0;
			ssize_t k;
			FILE *f;
			char *hend, *cl;

			while (n < sizeof(req) - 1 &&
			    (k = read(s, req + n, sizeof(req) - 1 - n)) > 0) {
				n += (size_t)k;
				req[n] = '\0';
				if ((hend = strstr(req, "\r\n\r\n")) == NULL)
					continue;
				cl = strcasestr(req, "Content-Length:");
				if (cl == NULL ||
				    (size_t)(hend + 4 - req) +
					    strtoul(cl + 15, NULL, 10) <=
					n)
					break;
			}
			if ((f = fopen(log, "a")) != NULL) {
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
	return ntohs(sin.sin_port);
}

static char *
t_slurp(const char *path)
{
	FILE *f = fopen(path, "r");
	char *buf = xcalloc(1, 65536);

	if (f != NULL) {
		size_t n = fread(buf, 1, 65535, f);

		buf[n] = '\0';
		fclose(f);
	}
	return buf;
}

/* A client of the test server on port, with environment credentials;
 * base and http NULL for the blocking calls only. */
static struct aws *
t_aws_on(int port, struct event_base *base, struct httpcli *http)
{
	struct aws_options o = { .region = "us-east-1" };
	struct aws *a;
	struct err e;
	char *url = xasprintf("http://127.0.0.1:%d", port);

	setenv("AWS_ACCESS_KEY_ID", "AKTEST", 1);
	setenv("AWS_SECRET_ACCESS_KEY", "SKTEST", 1);
	setenv("AWS_SESSION_TOKEN", "TOKTEST", 1);
	setenv("AWS_EC2_METADATA_DISABLED", "true", 1);
	o.endpoint = url;
	a = aws_new(base, http, &o, &e);
	assert_non_null(a);
	assert_int_equal(aws_resolve_credentials(a, &e), 0);
	assert_string_equal(aws_credentials_source(a), "environment");
	free(url);
	return a;
}

static struct aws *
t_aws(int port)
{
	return t_aws_on(port, NULL, NULL);
}

#define T_OK                                                              \
	"HTTP/1.1 200 OK\r\nContent-Type: application/x-amz-json-1.1\r\n" \
	"x-amzn-RequestId: rid-1\r\nContent-Length: 29\r\n"               \
	"Connection: close\r\n\r\n{\"clusters\":[{\"x\":\"ACTIVE\"}]}"

static void
t_sync_ok(void **state)
{
	static const char *const replies[] = { T_OK, NULL };
	char log[] = "/tmp/t_aws.XXXXXX";
	struct aws *a;
	pid_t pid;
	cJSON *out = NULL;
	struct err e;
	char *req;
	int port;

	(void)state;
	close(mkstemp(log));
	port = t_server(replies, log, &pid);
	t_pid = pid;
	a = t_aws(port);
	assert_int_equal(aws_json_call_sync(a, "ecs", "DescribeClusters",
			     cJSON_CreateObject(), &out, &e),
	    0);
	assert_non_null(json_arr(out, "clusters"));
	cJSON_Delete(out);
	waitpid(pid, NULL, 0);
	t_pid = 0;
	req = t_slurp(log);
	assert_true(str_prefix(req, "POST / HTTP/1.1\r\n"));
	assert_non_null(strcasestr(req,
	    "X-Amz-Target: "
	    "AmazonEC2ContainerServiceV20141113."
	    "DescribeClusters\r\n"));
	assert_non_null(strcasestr(req,
	    "Content-Type: "
	    "application/x-amz-json-1.1\r\n"));
	assert_non_null(strcasestr(req, "X-Amz-Security-Token: TOKTEST\r\n"));
	assert_non_null(strstr(req, "Credential=AKTEST/"));
	assert_non_null(strstr(req,
	    "/us-east-1/ecs/aws4_request, "
	    "SignedHeaders=content-type;host;"
	    "x-amz-date;x-amz-security-token;"
	    "x-amz-target, Signature="));
	assert_non_null(strstr(req, "\r\n\r\n{}"));
	free(req);
	unlink(log);
	aws_free(a);
}

#define T_THROTTLED                                          \
	"HTTP/1.1 400 Bad Request\r\nContent-Length: 58\r\n" \
	"Connection: close\r\n\r\n"                          \
	"{\"__type\":\"ThrottlingException\",\"message\":\"Rate exceeded\"}"
#define T_NOTFOUND                                                            \
	"HTTP/1.1 400 Bad Request\r\nx-amzn-RequestId: rid-9\r\n"             \
	"Content-Length: 80\r\nConnection: close\r\n\r\n"                     \
	"{\"__type\":\"com.amazon.coral#ClusterNotFoundException:http://x\"," \
	"\"message\":\"nope\"}"

static void
t_sync_errors(void **state)
{
	static const char *const replies[] = { T_THROTTLED, T_OK, T_NOTFOUND,
		NULL };
	char log[] = "/tmp/t_aws.XXXXXX";
	struct aws *a;
	pid_t pid;
	cJSON *out = NULL;
	struct err e;
	int port;

	(void)state;
	close(mkstemp(log));
	port = t_server(replies, log, &pid);
	t_pid = pid;
	a = t_aws(port);
	/* A 400 ThrottlingException is retried, then succeeds. */
	assert_int_equal(
	    aws_json_call_sync(a, "ecs", "ListTasks", NULL, &out, &e), 0);
	cJSON_Delete(out);
	assert_int_equal(
	    aws_json_call_sync(a, "ecs", "DescribeClusters", NULL, &out, &e),
	    -1);
	assert_null(out);
	assert_int_equal(e.status, 404);
	assert_string_equal(e.msg, "ClusterNotFoundException: nope");
	waitpid(pid, NULL, 0);
	t_pid = 0;
	unlink(log);
	aws_free(a);
}

#define T_REST_OK                                                \
	"HTTP/1.1 200 OK\r\nX-Amz-Function-Error: Unhandled\r\n" \
	"x-amzn-RequestId: rid-7\r\nContent-Length: 5\r\n"       \
	"Connection: close\r\n\r\nhello"
#define T_REST_404                                                  \
	"HTTP/1.1 404 Not Found\r\nX-Amzn-ErrorType: "              \
	"ResourceNotFoundException:http://internal.amazon.com/\r\n" \
	"Content-Length: 38\r\nConnection: close\r\n\r\n"           \
	"{\"Type\":\"User\",\"Message\":\"Function x\"}"

/* rest-json: the path as given (an ARN label escaped once on the wire),
 * a non-JSON payload, the error code from X-Amzn-ErrorType. */
static void
t_rest(void **state)
{
	static const char *const replies[] = { T_REST_OK, T_REST_404, NULL };
	const char *hdrs[] = { "X-Amz-Invocation-Type: RequestResponse", NULL };
	char log[] = "/tmp/t_aws.XXXXXX";
	struct aws_rest rq;
	struct aws *a;
	struct buf path;
	pid_t pid;
	cJSON *out = NULL;
	struct err e;
	char *req;
	int port;

	(void)state;
	close(mkstemp(log));
	port = t_server(replies, log, &pid);
	t_pid = pid;
	a = t_aws(port);
	buf_init(&path, 0);
	buf_adds(&path, "/2015-03-31/functions/");
	aws_path_escape(&path, "arn:aws:lambda:us-east-1:1:function:f");
	buf_adds(&path, "/invocations");
	memset(&rq, 0, sizeof(rq));
	rq.method = "POST";
	rq.path = path.data;
	rq.headers = hdrs;
	rq.body = "{}";
	rq.body_len = 2;
	rq.attempts = 1;
	assert_int_equal(
	    aws_rest_call_sync(a, "lambda", "Invoke", &rq, &out, &e), 0);
	assert_null(out); /* "hello" is not JSON */
	rq.method = "GET";
	rq.body = NULL;
	rq.headers = NULL;
	assert_int_equal(
	    aws_rest_call_sync(a, "lambda", "GetFunction", &rq, &out, &e), -1);
	assert_int_equal(e.status, 404);
	assert_string_equal(e.msg, "ResourceNotFoundException: Function x");
	waitpid(pid, NULL, 0);
	t_pid = 0;
	req = t_slurp(log);
	assert_true(str_prefix(req,
	    "POST /2015-03-31/functions/"
	    "arn%3Aaws%3Alambda%3Aus-east-1%3A1%3Afunction%3Af/invocations "
	    "HTTP/1.1\r\n"));
	assert_non_null(strcasestr(req, "Content-Type: application/json\r\n"));
	assert_non_null(strstr(req,
	    "/us-east-1/lambda/aws4_request, "
	    "SignedHeaders=content-type;host;"
	    "x-amz-date;x-amz-invocation-type;"
	    "x-amz-security-token, Signature="));
	free(req);
	buf_free(&path);
	unlink(log);
	aws_free(a);
}

static void
t_errors(void **state)
{
	struct aws_error ae;
	struct err e;
	const char *b1 = "{\"__type\":\"a.b#AccessDeniedException\","
			 "\"Message\":\"no\"}";
	const char *b2 = "{\"__type\":\"ThrottlingException\"}";
	const char *b3 = "{\"__type\":\"ClientException\","
			 "\"message\":\"Tag value must be a string\"}";
	const char *b4 = "{\"__type\":\"ValidationException\","
			 "\"message\":\"1 validation error\"}";
	const char *b5 = "{\"__type\":\"com.amazonaws.ecs#"
			 "InvalidParameterException\",\"message\":\"x\"}";

	(void)state;
	aws_parse_error(400, b1, strlen(b1), "r1", &ae);
	assert_string_equal(ae.code, "AccessDeniedException");
	assert_string_equal(ae.message, "no");
	assert_int_equal(ae.throttled, 0);
	aws_error_to_err(&ae, &e);
	assert_int_equal(e.status, 500);
	assert_string_equal(e.msg,
	    "cloud rejected the request: "
	    "AccessDeniedException: no (request id r1)");
	/* Issue 10 #14: the cloud refusing the client's input is a 400 with
	 * the cloud's message, not a 500. */
	aws_parse_error(400, b3, strlen(b3), "r3", &ae);
	aws_error_to_err(&ae, &e);
	assert_int_equal(e.status, 400);
	assert_string_equal(e.msg,
	    "ClientException: Tag value must be a string (request id r3)");
	aws_parse_error(400, b4, strlen(b4), NULL, &ae);
	aws_error_to_err(&ae, &e);
	assert_int_equal(e.status, 400);
	assert_string_equal(e.msg, "ValidationException: 1 validation error");
	aws_parse_error(400, b5, strlen(b5), NULL, &ae);
	aws_error_to_err(&ae, &e);
	assert_int_equal(e.status, 400);
	aws_parse_error(400, b2, strlen(b2), NULL, &ae);
	assert_int_equal(ae.throttled, 1);
	aws_error_to_err(&ae, &e);
	assert_int_equal(e.status, 503);
	aws_parse_error(429, "", 0, NULL, &ae);
	assert_int_equal(ae.throttled, 1);
	aws_parse_error(503, "<html>", 6, NULL, &ae);
	assert_string_equal(ae.code, "HTTP503");
	aws_error_to_err(&ae, &e);
	assert_int_equal(e.status, 502);
	memset(&ae, 0, sizeof(ae));
	str_lcpy(ae.message, "Connection refused", sizeof(ae.message));
	aws_error_to_err(&ae, &e);
	assert_int_equal(e.status, 502);
	assert_string_equal(e.msg, "cloud unreachable: Connection refused");
}

/* Container credentials that have expired; the endpoint is gone by the
 * time they are refreshed. */
#define T_EXPIRED_CREDS                                             \
	"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"     \
	"Content-Length: 102\r\nConnection: close\r\n\r\n"          \
	"{\"AccessKeyId\":\"AKOLD\",\"SecretAccessKey\":\"SKOLD\"," \
	"\"Token\":\"TOK\",\"Expiration\":\"2020-01-01T00:00:00Z\"}   "

struct t_async {
	struct event_base *base;
	int calls;
	int had_error;
	char msg[512];
};

static void
t_async_done(void *arg, const cJSON *out, const struct aws_error *ae)
{
	struct t_async *t = arg;

	t->calls++;
	t->had_error = ae != NULL && out == NULL;
	if (ae != NULL)
		str_lcpy(t->msg, ae->message, sizeof(t->msg));
	event_base_loopexit(t->base, NULL);
}

static void
t_async_rest_done(void *arg, const struct httpcli_resp *resp, const cJSON *out,
    const struct aws_error *ae)
{
	(void)resp;
	t_async_done(arg, out, ae);
}

/* An owned call's arg: what befell it, in order ("c" the callback, "f"
 * arg_free). */
struct t_owned {
	struct event_base *base;
	char seen[16];
	size_t n;
};

static void
t_owned_mark(struct t_owned *o, char what)
{
	if (o->n + 1 < sizeof(o->seen)) {
		o->seen[o->n++] = what;
		o->seen[o->n] = '\0';
	}
}

static void
t_owned_done(void *arg, const cJSON *out, const struct aws_error *ae)
{
	struct t_owned *o = arg;

	t_owned_mark(o, ae == NULL && out != NULL ? 'c' : 'e');
	event_base_loopexit(o->base, NULL);
}

static void
t_owned_rest_done(void *arg, const struct httpcli_resp *resp, const cJSON *out,
    const struct aws_error *ae)
{
	(void)resp;
	t_owned_done(arg, out, ae);
}

static void
t_owned_free(void *arg)
{
	t_owned_mark(arg, 'f');
}

/* aws_json_call_owned and aws_rest_call_owned: arg_free runs once, after
 * the callback; on a cancel or when the client is freed with the call in
 * flight, once and without the callback. */
static void
t_owned(void **state)
{
	static const char *const replies[] = { T_OK, T_OK, NULL };
	struct t_owned a1, a2, a3, a4, a5;
	struct aws_rest rq;
	char log[] = "/tmp/t_aws.XXXXXX";
	struct event_base *base;
	struct httpcli *http;
	struct aws *a;
	pid_t pid;
	int port;

	(void)state;
	close(mkstemp(log));
	port = t_server(replies, log, &pid);
	t_pid = pid;
	base = event_base_new();
	http = httpcli_new(base);
	a = t_aws_on(port, base, http);
	memset(&a1, 0, sizeof(a1));
	a1.base = base;
	a2 = a3 = a4 = a5 = a1;

	/* Answered: the callback, then the free. */
	assert_true(aws_json_call_owned(a, "ecs", "DescribeClusters", NULL,
			t_owned_done, &a1, t_owned_free) != 0);
	assert_string_equal(a1.seen, "");
	event_base_dispatch(base);
	assert_string_equal(a1.seen, "cf");
	memset(&rq, 0, sizeof(rq));
	rq.method = "GET";
	rq.path = "/2015-03-31/functions/f";
	aws_rest_call_owned(a, "lambda", "GetFunction", &rq, t_owned_rest_done,
	    &a2, t_owned_free);
	event_base_dispatch(base);
	assert_string_equal(a2.seen, "cf");

	/* Cancelled: freed at once, never called. */
	aws_cancel(a,
	    aws_json_call_owned(
		a, "ecs", "ListTasks", NULL, t_owned_done, &a3, t_owned_free));
	assert_string_equal(a3.seen, "f");
	/* In flight when the client goes (a backend stopping). */
	aws_json_call_owned(
	    a, "ecs", "ListTasks", NULL, t_owned_done, &a4, t_owned_free);
	aws_rest_call_owned(a, "lambda", "GetFunction", &rq, t_owned_rest_done,
	    &a5, t_owned_free);
	aws_free(a);
	assert_string_equal(a4.seen, "f");
	assert_string_equal(a5.seen, "f");
	httpcli_free(http);
	event_base_loop(base, EVLOOP_NONBLOCK);
	assert_string_equal(a3.seen, "f");
	assert_string_equal(a4.seen, "f");
	assert_string_equal(a5.seen, "f");
	event_base_free(base);
	unlink(log);
}

/* Issue 10 #10: signing fails on the very first attempt (expired
 * credentials whose refresh fails). The call must still complete from
 * the loop, once, with the reason; before the fix it completed inside
 * aws_json_call, which then read the freed request and unlinked a call
 * it had never linked. */
static void
t_sign_fails_async(void **state)
{
	static const char *const replies[] = { T_EXPIRED_CREDS, NULL };
	static const char *const unset[] = { "AWS_ACCESS_KEY_ID",
		"AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE",
		"AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_ROLE_ARN",
		"AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
		"AWS_CONTAINER_AUTHORIZATION_TOKEN",
		"AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE" };
	struct aws_options o = { .region = "us-east-1" };
	struct aws_rest rq;
	char log[] = "/tmp/t_aws.XXXXXX";
	struct t_async t;
	struct httpcli *http;
	struct aws *a;
	struct err e;
	char *uri;
	pid_t pid;
	int port;

	(void)state;
	close(mkstemp(log));
	port = t_server(replies, log, &pid);
	t_pid = pid;
	for (size_t i = 0; i < sizeof(unset) / sizeof(unset[0]); i++)
		unsetenv(unset[i]);
	setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/credentials", 1);
	setenv("AWS_CONFIG_FILE", "/nonexistent/config", 1);
	setenv("AWS_EC2_METADATA_DISABLED", "true", 1);
	uri = xasprintf("http://127.0.0.1:%d/creds", port);
	setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", uri, 1);
	memset(&t, 0, sizeof(t));
	t.base = event_base_new();
	http = httpcli_new(t.base);
	o.endpoint = "http://127.0.0.1:9/";
	a = aws_new(t.base, http, &o, &e);
	assert_non_null(a);
	assert_int_equal(aws_resolve_credentials(a, &e), 0);
	assert_string_equal(aws_credentials_source(a), "container credentials");
	/* The endpoint has served its one answer and exited. */
	waitpid(pid, NULL, 0);
	t_pid = 0;

	assert_true(
	    aws_json_call(a, "ecs", "ListTasks", NULL, t_async_done, &t) != 0);
	assert_int_equal(t.calls, 0); /* not inside the call */
	event_base_dispatch(t.base);
	assert_int_equal(t.calls, 1);
	assert_true(t.had_error);
	assert_non_null(strstr(t.msg, "refreshing AWS credentials"));

	memset(&rq, 0, sizeof(rq));
	rq.method = "GET";
	rq.path = "/2015-03-31/functions/f";
	assert_true(aws_rest_call(a, "lambda", "GetFunction", &rq,
			t_async_rest_done, &t) != 0);
	assert_int_equal(t.calls, 1);
	event_base_dispatch(t.base);
	assert_int_equal(t.calls, 2);
	assert_true(t.had_error);

	/* Cancelled before the loop ran: no callback, nothing leaked. */
	aws_cancel(
	    a, aws_json_call(a, "ecs", "ListTasks", NULL, t_async_done, &t));
	aws_free(a);
	httpcli_free(http);
	event_base_loop(t.base, EVLOOP_NONBLOCK);
	assert_int_equal(t.calls, 2);
	event_base_free(t.base);
	unsetenv("AWS_CONTAINER_CREDENTIALS_FULL_URI");
	unsetenv("AWS_SHARED_CREDENTIALS_FILE");
	unsetenv("AWS_CONFIG_FILE");
	free(uri);
	unlink(log);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(t_errors),
		cmocka_unit_test_teardown(t_sync_ok, t_teardown),
		cmocka_unit_test_teardown(t_sync_errors, t_teardown),
		cmocka_unit_test_teardown(t_rest, t_teardown),
		cmocka_unit_test_teardown(t_owned, t_teardown),
		cmocka_unit_test_teardown(t_sign_fails_async, t_teardown),
	};

	json_init();
	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
