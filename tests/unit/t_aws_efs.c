/* The EFS client (common/cloud/aws_efs.c) against a stand-in server: the
 * requests on the wire (method, path, query, content type, the JSON body
 * of CreateAccessPoint as botocore's efs model shapes it, SigV4 with the
 * service "elasticfilesystem"), the create waited for until available,
 * undone when it fails, adopted when a retried create finds its token
 * used, the paged listing, the delete of one already gone, the start-up
 * check, and EFS's errors as Docker statuses. */
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
#include "sockerless/aws_efs.h"
#include "sockerless/httpcli.h"
#include "sockerless/json.h"
#include "sockerless/str.h"
#include "sockerless/xmalloc.h"

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

/* Answers each connection with the next reply, logging the requests. */
static int
t_server(char **replies, const char *log)
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
	if ((t_pid = fork()) == 0) {
		for (size_t i = 0; replies[i] != NULL; i++) {
			int s = accept(ls, NULL, NULL);
			char req[16384], *hend, *cl;
			size_t n = 0;
			ssize_t k;
			FILE *f;

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

/* An HTTP reply with a JSON body; type sets X-Amzn-ErrorType. */
static char *
t_reply(int status, const char *type, const char *json)
{
	return xasprintf("HTTP/1.1 %d X\r\nContent-Type: application/json\r\n"
			 "%s%s%sx-amzn-RequestId: rid-1\r\n"
			 "Content-Length: %zu\r\nConnection: close\r\n\r\n%s",
	    status, type != NULL ? "X-Amzn-ErrorType: " : "",
	    type != NULL ? type : "", type != NULL ? "\r\n" : "", strlen(json),
	    json);
}

static char *
t_ap(const char *id, const char *state)
{
	char *j = xasprintf(
	    "{\"ClientToken\":\"tok\",\"Name\":\"vol1\",\"Tags\":[{\"Key\":"
	    "\"Name\",\"Value\":\"vol1\"},{\"Key\":\"sockerless-instance\","
	    "\"Value\":\"inst1\"},{\"Key\":\"sockerless-volume\",\"Value\":"
	    "\"vol1\"}],\"AccessPointId\":\"%s\",\"AccessPointArn\":\"arn:aws:"
	    "elasticfilesystem:us-east-1:123456789012:access-point/%s\","
	    "\"FileSystemId\":\"fs-1\",\"RootDirectory\":{\"Path\":"
	    "\"/sockerless/inst1/vol1-0a\",\"CreationInfo\":{\"OwnerUid\":0,"
	    "\"OwnerGid\":0,\"Permissions\":\"755\"}},\"OwnerId\":"
	    "\"123456789012\",\"LifeCycleState\":\"%s\"}",
	    id, id, state);
	return j;
}

static char *
t_ap_reply(const char *id, const char *state, int list)
{
	char *ap = t_ap(id, state), *body, *r;

	body = list ? xasprintf("{\"AccessPoints\":[%s]}", ap) : xstrdup(ap);
	r = t_reply(200, NULL, body);
	free(ap);
	free(body);
	return r;
}

struct t_efs {
	struct event_base *base;
	struct httpcli *http;
	struct aws *a;
	char log[32];
	int calls;
	struct aws_efs_ap ap;
	size_t n;
	char ids[256];
	struct err e;
	int failed;
};

static void
t_start(struct t_efs *t, char **replies)
{
	struct aws_options o = { .region = "us-east-1" };
	struct err e;
	char *url;

	memset(t, 0, sizeof(*t));
	snprintf(t->log, sizeof(t->log), "/tmp/t_aws_efs.XXXXXX");
	close(mkstemp(t->log));
	url = xasprintf("http://127.0.0.1:%d", t_server(replies, t->log));
	setenv("AWS_ACCESS_KEY_ID", "AKTEST", 1);
	setenv("AWS_SECRET_ACCESS_KEY", "SKTEST", 1);
	unsetenv("AWS_SESSION_TOKEN");
	setenv("AWS_EC2_METADATA_DISABLED", "true", 1);
	t->base = event_base_new();
	t->http = httpcli_new(t->base);
	o.endpoint = url;
	t->a = aws_new(t->base, t->http, &o, &e);
	assert_non_null(t->a);
	assert_int_equal(aws_resolve_credentials(t->a, &e), 0);
	free(url);
	for (size_t i = 0; replies[i] != NULL; i++)
		free(replies[i]);
}

/* The requests the server saw (the caller frees). */
static char *
t_end(struct t_efs *t)
{
	char *req = xcalloc(1, 65536);
	FILE *f;

	waitpid(t_pid, NULL, 0);
	t_pid = 0;
	f = fopen(t->log, "r");
	assert_non_null(f);
	assert_true(fread(req, 1, 65535, f) > 0);
	fclose(f);
	unlink(t->log);
	aws_efs_cancel_all(t->a);
	aws_free(t->a);
	httpcli_free(t->http);
	event_base_free(t->base);
	return req;
}

/* The request lines ("POST /path?query") in order, space-separated. */
static char *
t_lines(const char *log)
{
	char *out = xstrdup("");
	const char *p = log;

	while (p != NULL && *p != '\0') {
		const char *sp = strstr(p, " HTTP/1.1\r\n");
		char *o;

		if (sp == NULL)
			break;
		o = xasprintf(
		    "%s%s%.*s", out, out[0] ? " | " : "", (int)(sp - p), p);
		free(out);
		out = o;
		p = strstr(sp, "\n=====\n");
		if (p != NULL)
			p += 7;
	}
	return out;
}

static void
t_ap_done(void *arg, const struct aws_efs_ap *ap, const struct err *e)
{
	struct t_efs *t = arg;

	t->calls++;
	t->failed = e != NULL;
	if (e != NULL)
		t->e = *e;
	if (ap != NULL)
		t->ap = *ap;
	event_base_loopexit(t->base, NULL);
}

static void
t_list_done(
    void *arg, const struct aws_efs_ap *aps, size_t n, const struct err *e)
{
	struct t_efs *t = arg;

	t->calls++;
	t->failed = e != NULL;
	if (e != NULL)
		t->e = *e;
	t->n = n;
	for (size_t i = 0; i < n; i++)
		snprintf(t->ids + strlen(t->ids),
		    sizeof(t->ids) - strlen(t->ids), "%s", aps[i].id);
	event_base_loopexit(t->base, NULL);
}

static const char *const t_tags[] = { AWS_EFS_TAG_INSTANCE, "inst1",
	AWS_EFS_TAG_VOLUME, "vol1", NULL };

/* --- shapes ---------------------------------------------------------- */

static void
t_body(void **state)
{
	struct aws_efs_ap_spec s = { .fs_id = "fs-1",
		.token = "tok",
		.path = "/sockerless/inst1/vol1-0a",
		.name = "vol1",
		.tags = t_tags };
	char longname[400];
	cJSON *in;
	char *txt;

	(void)state;
	in = aws_efs_create_body(&s);
	txt = json_print(in);
	/* The members and shapes of botocore's efs CreateAccessPointRequest
	 * (Tags: Key/Value; CreationInfo: Permissions a string). */
	assert_string_equal(txt,
	    "{\"ClientToken\":\"tok\",\"Tags\":[{\"Key\":\"Name\",\"Value\":"
	    "\"vol1\"},{\"Key\":\"sockerless-instance\",\"Value\":\"inst1\"},"
	    "{\"Key\":\"sockerless-volume\",\"Value\":\"vol1\"}],"
	    "\"FileSystemId\":\"fs-1\",\"RootDirectory\":{\"Path\":"
	    "\"/sockerless/inst1/vol1-0a\",\"CreationInfo\":{\"OwnerUid\":0,"
	    "\"OwnerGid\":0,\"Permissions\":\"755\"}}}");
	free(txt);
	cJSON_Delete(in);
	/* A tag value is cut to EFS's 256 characters. */
	memset(longname, 'a', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	s.name = longname;
	in = aws_efs_create_body(&s);
	assert_int_equal(
	    strlen(
		json_str(cJSON_GetArrayItem(json_arr(in, "Tags"), 0), "Value")),
	    AWS_EFS_TAG_MAX);
	cJSON_Delete(in);
}

static void
t_parse(void **state)
{
	char *j = t_ap("fsap-1", "available");
	cJSON *d = cJSON_Parse(j);
	struct aws_efs_ap ap;

	(void)state;
	assert_int_equal(aws_efs_ap_parse(d, &ap), 0);
	assert_string_equal(ap.id, "fsap-1");
	assert_string_equal(ap.arn,
	    "arn:aws:elasticfilesystem:us-east-1:123456789012:"
	    "access-point/fsap-1");
	assert_string_equal(ap.fs_id, "fs-1");
	assert_string_equal(ap.path, "/sockerless/inst1/vol1-0a");
	assert_string_equal(ap.state, "available");
	assert_string_equal(ap.instance, "inst1");
	assert_string_equal(ap.volume, "vol1");
	cJSON_Delete(d);
	free(j);
	d = cJSON_Parse("{\"Tags\":[{\"Key\":1}],\"RootDirectory\":7}");
	assert_int_equal(aws_efs_ap_parse(d, &ap), -1);
	assert_int_equal(aws_efs_ap_parse(NULL, &ap), -1);
	cJSON_Delete(d);
}

static void
t_errmap(void **state)
{
	static const struct {
		const char *code;
		int status;
		const char *says;
	} rows[] = {
		{ "AccessPointLimitExceeded", 507, "docker volume prune" },
		{ "IncorrectFileSystemLifeCycleState", 503, "not available" },
		{ "FileSystemNotFound", 500, "ecs.efs_filesystem_id" },
		{ "BadRequest", 400, "BadRequest: m" },
		{ "AccessPointNotFound", 404, "AccessPointNotFound" },
		{ "ThrottlingException", 503, "ThrottlingException" },
	};
	struct aws_error ae;
	struct err e;

	(void)state;
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		memset(&ae, 0, sizeof(ae));
		str_lcpy(ae.code, rows[i].code, sizeof(ae.code));
		str_lcpy(ae.message, "m", sizeof(ae.message));
		ae.http_status = 400;
		ae.throttled = strcmp(rows[i].code, "ThrottlingException") == 0;
		aws_efs_error("CreateAccessPoint", "fs-1", &ae, &e);
		assert_int_equal(e.status, rows[i].status);
		assert_non_null(strstr(e.msg, rows[i].says));
		assert_true(str_prefix(e.msg, "EFS CreateAccessPoint: "));
	}
}

/* --- calls ------------------------------------------------------------ */

static void
t_create(void **state)
{
	char *replies[] = { t_ap_reply("fsap-1", "creating", 0),
		t_ap_reply("fsap-1", "creating", 1),
		t_ap_reply("fsap-1", "available", 1), NULL };
	struct aws_efs_ap_spec s = { .fs_id = "fs-1",
		.token = "tok",
		.path = "/sockerless/inst1/vol1-0a",
		.name = "vol1",
		.tags = t_tags };
	struct t_efs t;
	char *log, *lines;

	(void)state;
	t_start(&t, replies);
	aws_efs_ap_create(t.a, &s, 30000, t_ap_done, &t);
	event_base_dispatch(t.base);
	assert_int_equal(t.calls, 1);
	assert_false(t.failed);
	assert_string_equal(t.ap.id, "fsap-1");
	assert_string_equal(t.ap.state, "available");
	log = t_end(&t);
	lines = t_lines(log);
	assert_string_equal(lines,
	    "POST /2015-02-01/access-points | "
	    "GET /2015-02-01/access-points?AccessPointId=fsap-1 | "
	    "GET /2015-02-01/access-points?AccessPointId=fsap-1");
	assert_non_null(strcasestr(log, "Content-Type: application/json\r\n"));
	assert_non_null(
	    strstr(log, "/us-east-1/elasticfilesystem/aws4_request, "));
	assert_null(strcasestr(log, "X-Amz-Target"));
	assert_non_null(strstr(log,
	    "\r\n\r\n{\"ClientToken\":\"tok\",\"Tags\":[{\"Key\":\"Name\""));
	free(lines);
	free(log);
}

/* An access point that ends in the error state is deleted: nothing
 * left, the create fails. */
static void
t_create_undo(void **state)
{
	char *replies[] = { t_ap_reply("fsap-2", "creating", 0),
		t_ap_reply("fsap-2", "error", 1), t_reply(204, NULL, ""),
		NULL };
	struct aws_efs_ap_spec s = {
		.fs_id = "fs-1", .token = "tok", .path = "/p", .tags = t_tags
	};
	struct t_efs t;
	char *log, *lines;

	(void)state;
	t_start(&t, replies);
	aws_efs_ap_create(t.a, &s, 30000, t_ap_done, &t);
	event_base_dispatch(t.base);
	assert_int_equal(t.calls, 1);
	assert_true(t.failed);
	assert_int_equal(t.e.status, 500);
	assert_non_null(strstr(t.e.msg, "ended in state error"));
	log = t_end(&t);
	lines = t_lines(log);
	assert_string_equal(lines,
	    "POST /2015-02-01/access-points | "
	    "GET /2015-02-01/access-points?AccessPointId=fsap-2 | "
	    "DELETE /2015-02-01/access-points/fsap-2");
	free(lines);
	free(log);
}

/* A retried create whose token was used: EFS names the access point
 * (the code in the body only, as the simulator may send it). */
static void
t_create_adopt(void **state)
{
	char *replies[] = { t_reply(409, NULL,
				"{\"ErrorCode\":\"AccessPointAlreadyExists\","
				"\"Message\":\"exists\",\"AccessPointId\":"
				"\"fsap-9\"}"),
		t_ap_reply("fsap-9", "available", 1), NULL };
	struct aws_efs_ap_spec s = {
		.fs_id = "fs-1", .token = "tok", .path = "/p", .tags = t_tags
	};
	struct t_efs t;
	char *log, *lines;

	(void)state;
	t_start(&t, replies);
	aws_efs_ap_create(t.a, &s, 30000, t_ap_done, &t);
	event_base_dispatch(t.base);
	assert_false(t.failed);
	assert_string_equal(t.ap.id, "fsap-9");
	log = t_end(&t);
	lines = t_lines(log);
	assert_string_equal(lines,
	    "POST /2015-02-01/access-points | "
	    "GET /2015-02-01/access-points?AccessPointId=fsap-9");
	free(lines);
	free(log);
}

/* The limit: one attempt (a 4xx is not retried), 507 with a sentence. */
static void
t_create_limit(void **state)
{
	char *replies[] = { t_reply(403, "AccessPointLimitExceeded",
				"{\"ErrorCode\":\"AccessPointLimitExceeded\","
				"\"Message\":\"limit of 1000\"}"),
		NULL };
	struct aws_efs_ap_spec s = {
		.fs_id = "fs-1", .token = "tok", .path = "/p", .tags = t_tags
	};
	struct t_efs t;
	char *log, *lines;

	(void)state;
	t_start(&t, replies);
	aws_efs_ap_create(t.a, &s, 30000, t_ap_done, &t);
	event_base_dispatch(t.base);
	assert_true(t.failed);
	assert_int_equal(t.e.status, 507);
	assert_non_null(strstr(t.e.msg, "limit of 1000"));
	assert_non_null(strstr(t.e.msg, "fs-1"));
	log = t_end(&t);
	lines = t_lines(log);
	assert_string_equal(lines, "POST /2015-02-01/access-points");
	free(lines);
	free(log);
}

static void
t_delete(void **state)
{
	char *replies[] = { t_reply(204, NULL, ""),
		t_reply(404, "AccessPointNotFound:http://internal",
		    "{\"ErrorCode\":\"AccessPointNotFound\",\"Message\":"
		    "\"gone\"}"),
		t_reply(400, "BadRequest",
		    "{\"ErrorCode\":\"BadRequest\",\"Message\":\"bad id\"}"),
		NULL };
	struct t_efs t;
	char *log, *lines;

	(void)state;
	t_start(&t, replies);
	aws_efs_ap_delete(t.a, "fsap-1", t_ap_done, &t);
	event_base_dispatch(t.base);
	assert_false(t.failed);
	/* Already gone: done. */
	aws_efs_ap_delete(t.a, "fsap-2", t_ap_done, &t);
	event_base_dispatch(t.base);
	assert_false(t.failed);
	aws_efs_ap_delete(t.a, "a b/c", t_ap_done, &t);
	event_base_dispatch(t.base);
	assert_true(t.failed);
	assert_int_equal(t.e.status, 400);
	assert_non_null(strstr(t.e.msg, "bad id"));
	assert_int_equal(t.calls, 3);
	log = t_end(&t);
	lines = t_lines(log);
	assert_string_equal(lines,
	    "DELETE /2015-02-01/access-points/fsap-1 | "
	    "DELETE /2015-02-01/access-points/fsap-2 | "
	    "DELETE /2015-02-01/access-points/a%20b%2Fc");
	free(lines);
	free(log);
}

static void
t_list(void **state)
{
	char *a1 = t_ap("fsap-1", "available"),
	     *a2 = t_ap("fsap-2", "creating"),
	     *a3 = t_ap("fsap-3", "available");
	char *p1 = xasprintf("{\"AccessPoints\":[%s,%s],\"NextToken\":"
			     "\"t/+=\"}",
		 a1, a2),
	     *p2 = xasprintf("{\"AccessPoints\":[%s]}", a3);
	char *replies[] = { t_reply(200, NULL, p1), t_reply(200, NULL, p2),
		NULL };
	struct t_efs t;
	char *log, *lines;

	(void)state;
	t_start(&t, replies);
	aws_efs_ap_list(t.a, "fs-1", t_list_done, &t);
	event_base_dispatch(t.base);
	assert_false(t.failed);
	assert_int_equal(t.n, 3);
	assert_string_equal(t.ids, "fsap-1fsap-2fsap-3");
	log = t_end(&t);
	lines = t_lines(log);
	assert_string_equal(lines,
	    "GET /2015-02-01/access-points?FileSystemId=fs-1&MaxResults=100 | "
	    "GET /2015-02-01/access-points?FileSystemId=fs-1&MaxResults=100&"
	    "NextToken=t%2F%2B%3D");
	free(lines);
	free(log);
	free(a1);
	free(a2);
	free(a3);
	free(p1);
	free(p2);
}

static void
t_fs_check(void **state)
{
	char *replies[] = { t_reply(200, NULL,
				"{\"FileSystems\":[{\"FileSystemId\":\"fs-1\","
				"\"LifeCycleState\":\"available\"}]}"),
		t_reply(200, NULL,
		    "{\"FileSystems\":[{\"FileSystemId\":\"fs-1\","
		    "\"LifeCycleState\":\"creating\"}]}"),
		t_reply(404, "FileSystemNotFound",
		    "{\"ErrorCode\":\"FileSystemNotFound\",\"Message\":"
		    "\"File system 'fs-1' does not exist.\"}"),
		NULL };
	struct t_efs t;
	struct err e;
	char *log, *lines;

	(void)state;
	t_start(&t, replies);
	assert_int_equal(aws_efs_fs_check(t.a, "fs-1", "ecs.fs", &e), 0);
	assert_int_equal(aws_efs_fs_check(t.a, "fs-1", "ecs.fs", &e), -1);
	assert_non_null(strstr(e.msg, "is creating"));
	assert_non_null(strstr(e.msg, "ecs.fs"));
	assert_int_equal(aws_efs_fs_check(t.a, "fs-1", "ecs.fs", &e), -1);
	assert_non_null(strstr(e.msg, "does not exist"));
	assert_non_null(strstr(e.msg, "ecs.fs"));
	log = t_end(&t);
	lines = t_lines(log);
	assert_string_equal(lines,
	    "GET /2015-02-01/file-systems?FileSystemId=fs-1 | "
	    "GET /2015-02-01/file-systems?FileSystemId=fs-1 | "
	    "GET /2015-02-01/file-systems?FileSystemId=fs-1");
	free(lines);
	free(log);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(t_body),
		cmocka_unit_test(t_parse),
		cmocka_unit_test(t_errmap),
		cmocka_unit_test_teardown(t_create, t_teardown),
		cmocka_unit_test_teardown(t_create_undo, t_teardown),
		cmocka_unit_test_teardown(t_create_adopt, t_teardown),
		cmocka_unit_test_teardown(t_create_limit, t_teardown),
		cmocka_unit_test_teardown(t_delete, t_teardown),
		cmocka_unit_test_teardown(t_list, t_teardown),
		cmocka_unit_test_teardown(t_fs_check, t_teardown),
	};

	signal(SIGPIPE, SIG_IGN);
	json_init();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
