/* The EC2 Query client (common/cloud/aws_ec2.c, aws_ec2_sg.c): the form
 * encoding of each request against what botocore's ec2 serializer writes for
 * the same input (botocore 1.29, printed with urlencode: '+' there is %20 here,
 * both are the form encoding of a space), the XML reader on EC2's answer
 * shapes and on malformed input, one call end to end (signing for "ec2",
 * the XML error mapped to Docker's status), and the security group
 * sequences against a stand-in server: made whole or cleaned up, deleted
 * with a bounded wait on DependencyViolation, listed by tag. */
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
#include "sockerless/aws_ec2.h"
#include "sockerless/httpcli.h"
#include "sockerless/str.h"
#include "sockerless/xmalloc.h"

#include "../../common/cloud/aws_int.h"

static void
t_q(struct buf *q, const char *want)
{
	assert_string_equal(q->data, want);
	buf_free(q);
}

static void
t_query(void **state)
{
	static const char *const tags[] = { "sockerless:instance", "i 1",
		"sockerless:network-id", "abc", NULL };
	struct strv subnets;
	struct buf q;

	(void)state;
	aws_ec2_q_create_sg(
	    &q, "sockerless-0123456789ab-inst", "net a/b", "vpc-1", tags);
	t_q(&q,
	    "Action=CreateSecurityGroup&Version=2016-11-15&GroupName="
	    "sockerless-0123456789ab-inst&GroupDescription=net%20a%2Fb&"
	    "VpcId=vpc-1&TagSpecification.1.ResourceType=security-group&"
	    "TagSpecification.1.Tag.1.Key=sockerless%3Ainstance&"
	    "TagSpecification.1.Tag.1.Value=i%201&"
	    "TagSpecification.1.Tag.2.Key=sockerless%3Anetwork-id&"
	    "TagSpecification.1.Tag.2.Value=abc");
	aws_ec2_q_sg_rule(
	    &q, "AuthorizeSecurityGroupIngress", "sg-1", "sg-1", NULL);
	t_q(&q,
	    "Action=AuthorizeSecurityGroupIngress&Version=2016-11-15&"
	    "GroupId=sg-1&IpPermissions.1.IpProtocol=-1&"
	    "IpPermissions.1.Groups.1.GroupId=sg-1");
	aws_ec2_q_sg_rule(
	    &q, "RevokeSecurityGroupEgress", "sg-1", NULL, "0.0.0.0/0");
	t_q(&q,
	    "Action=RevokeSecurityGroupEgress&Version=2016-11-15&GroupId=sg-1"
	    "&IpPermissions.1.IpProtocol=-1&"
	    "IpPermissions.1.IpRanges.1.CidrIp=0.0.0.0%2F0");
	aws_ec2_q_delete_sg(&q, "sg-1");
	t_q(&q, "Action=DeleteSecurityGroup&Version=2016-11-15&GroupId=sg-1");
	aws_ec2_q_describe_sgs_tag(&q, "sockerless:instance", "i 1");
	t_q(&q,
	    "Action=DescribeSecurityGroups&Version=2016-11-15&Filter.1.Name="
	    "tag%3Asockerless%3Ainstance&Filter.1.Value.1=i%201");
	aws_ec2_q_describe_sgs_name(&q, "sockerless-x", "vpc-1");
	t_q(&q,
	    "Action=DescribeSecurityGroups&Version=2016-11-15&Filter.1.Name="
	    "group-name&Filter.1.Value.1=sockerless-x&Filter.2.Name=vpc-id&"
	    "Filter.2.Value.1=vpc-1");
	strv_init(&subnets);
	strv_add(&subnets, "subnet-a");
	strv_add(&subnets, "subnet-b");
	aws_ec2_q_describe_subnets(&q, &subnets);
	t_q(&q,
	    "Action=DescribeSubnets&Version=2016-11-15&SubnetId.1=subnet-a&"
	    "SubnetId.2=subnet-b");
	strv_free(&subnets);
}

/* Shapes from the EC2 API reference's examples. */
static const char t_describe_sgs[] =
    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
    "<DescribeSecurityGroupsResponse "
    "xmlns=\"http://ec2.amazonaws.com/doc/2016-11-15/\">\n"
    "  <requestId>59dbff89-35bd-4eac-99ed-be587EXAMPLE</requestId>\n"
    "  <securityGroupInfo>\n"
    "    <item>\n"
    "      <ownerId>123456789012</ownerId>\n"
    "      <groupId>sg-1a2b3c4d</groupId>\n"
    "      <groupName>sockerless-abc-i1</groupName>\n"
    "      <groupDescription>a &amp; b &lt;c&gt; &#x263A;&#65;"
    "</groupDescription>\n"
    "      <vpcId>vpc-1a2b3c4d</vpcId>\n"
    "      <ipPermissions>\n"
    "        <item><ipProtocol>-1</ipProtocol><groups><item>"
    "<groupId>sg-inner</groupId></item></groups><ipRanges/></item>\n"
    "      </ipPermissions>\n"
    "      <tagSet><item><key>sockerless:network-id</key>"
    "<value>abc</value></item></tagSet>\n"
    "    </item>\n"
    "    <item><groupId>sg-2</groupId><!-- a comment -->"
    "<groupName><![CDATA[x<y]]></groupName></item>\n"
    "  </securityGroupInfo>\n"
    "</DescribeSecurityGroupsResponse>";

static void
t_xml_shapes(void **state)
{
	struct aws_xml root, info, it, item;
	char name[64], v[128];
	int n = 0;

	(void)state;
	assert_int_equal(aws_xml_root(t_describe_sgs, strlen(t_describe_sgs),
			     &root, name, sizeof(name)),
	    0);
	assert_string_equal(name, "DescribeSecurityGroupsResponse");
	assert_int_equal(aws_xml_find(&root, "securityGroupInfo", &info), 0);
	it = info;
	while (aws_xml_next(&it, &item, name, sizeof(name)) == 1) {
		assert_string_equal(name, "item");
		assert_int_equal(
		    aws_xml_get(&item, "groupId", v, sizeof(v)), 0);
		assert_string_equal(v, n == 0 ? "sg-1a2b3c4d" : "sg-2");
		n++;
	}
	assert_int_equal(n, 2);
	/* The group's own groupId, not the nested rule's. */
	assert_int_equal(aws_xml_find(&info, "item", &item), 0);
	assert_int_equal(
	    aws_xml_get(&item, "groupDescription", v, sizeof(v)), 0);
	assert_string_equal(v,
	    "a & b <c> \xe2\x98\xba"
	    "A");
	assert_int_equal(
	    aws_xml_get(&item, "tagSet/item/value", v, sizeof(v)), 0);
	assert_string_equal(v, "abc");
	assert_int_equal(
	    aws_xml_get(
		&item, "ipPermissions/item/groups/item/groupId", v, sizeof(v)),
	    0);
	assert_string_equal(v, "sg-inner");
	assert_int_equal(aws_xml_get(&item, "nothere", v, sizeof(v)), -1);
	assert_string_equal(v, "");
	/* Text around a child element skips the child. */
	assert_int_equal(aws_xml_get(&root, "requestId", v, sizeof(v)), 0);
	assert_string_equal(v, "59dbff89-35bd-4eac-99ed-be587EXAMPLE");
	assert_int_equal(aws_xml_find(&info, "item", &item), 0);
	it = info;
	aws_xml_next(&it, &item, NULL, 0);
	aws_xml_next(&it, &item, NULL, 0);
	assert_int_equal(aws_xml_get(&item, "groupName", v, sizeof(v)), 0);
	assert_string_equal(v, "x<y");
	/* Does not fit: -1 and "". */
	assert_int_equal(aws_xml_get(&root, "requestId", v, 8), -1);
	assert_string_equal(v, "");
}

static void
t_xml_malformed(void **state)
{
	static const char *const bad[] = {
		"",
		"text only",
		"<a>",
		"<a></b>",
		"<a><b></a></b>",
		"</a>",
		"<a",
		"<a x=\"1>\"",
		"<!DOCTYPE a [<!ENTITY x \"y\">]><a/>",
		"<a><!-- open</a>",
		"<a/><b/>",
		"<>x</>",
		"<a><b x='></b></a>",
		"<a>&bogus;</a>",
		"<a>&#0;</a>",
		"<a>&#xD800;</a>",
		"<a>&#x110000;</a>",
		"<a>&#;</a>",
		"<a>&amp</a>",
		"<a><![CDATA[x</a>",
		"<a><?pi </a>",
	};
	struct aws_xml root, el;
	char name[16], v[32];
	char deep[(AWS_XML_MAX_DEPTH + 2) * 7 + 1];
	size_t n = 0;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int rc = aws_xml_root(
		    bad[i], strlen(bad[i]), &root, name, sizeof(name));

		if (rc == 0)
			rc = aws_xml_text(&root, v, sizeof(v));
		if (rc != -1)
			fail_msg("accepted: %s", bad[i]);
	}
	for (int i = 0; i < AWS_XML_MAX_DEPTH + 1; i++)
		n += (size_t)snprintf(deep + n, sizeof(deep) - n, "<a>");
	for (int i = 0; i < AWS_XML_MAX_DEPTH + 1; i++)
		n += (size_t)snprintf(deep + n, sizeof(deep) - n, "</a>");
	assert_int_equal(aws_xml_root(deep, n, &root, NULL, 0), -1);
	/* The range is a bound: nothing past len is read. */
	assert_int_equal(
	    aws_xml_root("<a>x</a>garbage<", 8, &root, NULL, 0), 0);
	assert_int_equal(aws_xml_find(&root, "b", &el), -1);
	/* Attributes with '>' in quotes, and empty elements. */
	assert_int_equal(aws_xml_root("<a k=\"x>y\"><b/><c>1</c></a>", 27,
			     &root, name, sizeof(name)),
	    0);
	assert_int_equal(aws_xml_get(&root, "b", v, sizeof(v)), 0);
	assert_string_equal(v, "");
	assert_int_equal(aws_xml_get(&root, "c", v, sizeof(v)), 0);
	assert_string_equal(v, "1");
}

static void
t_parse(int status, const char *body, struct aws_error *ae)
{
	aws_parse_error(status, body, strlen(body), NULL, ae);
}

static void
t_xml_errors(void **state)
{
	static const char ec2[] =
	    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Response><Errors>"
	    "<Error><Code>DependencyViolation</Code><Message>resource "
	    "sg-1 has a dependent object</Message></Error></Errors>"
	    "<RequestID>ea966190-f9aa-478e-9ede-example</RequestID>"
	    "</Response>";
	static const char query[] =
	    "<ErrorResponse xmlns=\"https://sts.amazonaws.com/doc/"
	    "2011-06-15/\"><Error><Type>Sender</Type><Code>"
	    "InvalidGroup.NotFound</Code><Message>The security group "
	    "&apos;sg-9&apos; does not exist</Message></Error>"
	    "<RequestId>r-2</RequestId></ErrorResponse>";
	struct aws_error ae;
	struct err e;

	(void)state;
	aws_parse_error(400, ec2, strlen(ec2), NULL, &ae);
	assert_string_equal(ae.code, "DependencyViolation");
	assert_string_equal(ae.message, "resource sg-1 has a dependent object");
	assert_string_equal(ae.request_id, "ea966190-f9aa-478e-9ede-example");
	aws_error_to_err(&ae, &e);
	assert_int_equal(e.status, 409);
	assert_non_null(strstr(e.msg, "DependencyViolation: resource sg-1"));
	aws_parse_error(400, query, strlen(query), "hdr-rid", &ae);
	assert_string_equal(ae.code, "InvalidGroup.NotFound");
	assert_string_equal(
	    ae.message, "The security group 'sg-9' does not exist");
	assert_string_equal(ae.request_id, "hdr-rid");
	aws_error_to_err(&ae, &e);
	assert_int_equal(e.status, 404);
	t_parse(400,
	    "<Response><Errors><Error><Code>InvalidGroup.Duplicate</Code>"
	    "</Error></Errors></Response>",
	    &ae);
	aws_error_to_err(&ae, &e);
	assert_int_equal(e.status, 409);
	t_parse(403,
	    "<Response><Errors><Error><Code>UnauthorizedOperation</Code>"
	    "<Message>not authorized</Message></Error></Errors></Response>",
	    &ae);
	aws_error_to_err(&ae, &e);
	assert_int_equal(e.status, 500);
	assert_non_null(strstr(e.msg, "UnauthorizedOperation"));
	/* Not an error document: the start of the body, as for JSON. */
	t_parse(500, "<html>oops</html>", &ae);
	assert_string_equal(ae.code, "HTTP500");
}

/* --- one call end to end against a one-shot server ----------------------- */

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
t_server(const char *const *replies, const char *log)
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

struct t_call {
	struct event_base *base;
	int calls;
	char body[512];
	struct aws_error ae;
	int failed;
};

static void
t_call_done(void *arg, const struct httpcli_resp *resp, const cJSON *out,
    const struct aws_error *ae)
{
	struct t_call *t = arg;

	(void)out;
	t->calls++;
	t->failed = ae != NULL;
	if (ae != NULL)
		t->ae = *ae;
	else
		snprintf(t->body, sizeof(t->body), "%.*s", (int)resp->body_len,
		    resp->body);
	event_base_loopexit(t->base, NULL);
}

#define T_XML_OK                                                         \
	"HTTP/1.1 200 OK\r\nContent-Type: text/xml;charset=UTF-8\r\n"    \
	"Content-Length: 128\r\nConnection: close\r\n\r\n"               \
	"<CreateSecurityGroupResponse><requestId>r1</requestId><return>" \
	"true</return><groupId>sg-9</groupId></CreateSecurityGroupResponse>"
#define T_XML_DEP                                                         \
	"HTTP/1.1 400 Bad Request\r\nContent-Type: text/xml\r\n"          \
	"Content-Length: 165\r\nConnection: close\r\n\r\n"                \
	"<Response><Errors><Error><Code>DependencyViolation</Code>"       \
	"<Message>resource sg-9 has a dependent object</Message></Error>" \
	"</Errors><RequestID>r2</RequestID></Response>"

static void
t_call(void **state)
{
	static const char *const replies[] = { T_XML_OK, T_XML_DEP, NULL };
	char log[] = "/tmp/t_aws_ec2.XXXXXX";
	struct aws_options o = { .region = "eu-west-1" };
	struct t_call t;
	struct httpcli *http;
	struct aws *a;
	struct aws_xml root;
	struct buf q;
	struct err e;
	char *url, *req, v[32];
	FILE *f;

	(void)state;
	close(mkstemp(log));
	url = xasprintf("http://127.0.0.1:%d", t_server(replies, log));
	setenv("AWS_ACCESS_KEY_ID", "AKTEST", 1);
	setenv("AWS_SECRET_ACCESS_KEY", "SKTEST", 1);
	unsetenv("AWS_SESSION_TOKEN");
	setenv("AWS_EC2_METADATA_DISABLED", "true", 1);
	memset(&t, 0, sizeof(t));
	t.base = event_base_new();
	http = httpcli_new(t.base);
	o.endpoint = url;
	a = aws_new(t.base, http, &o, &e);
	assert_int_equal(aws_resolve_credentials(a, &e), 0);
	aws_ec2_q_create_sg(&q, "sockerless-n-i", "d", "vpc-1", NULL);
	aws_ec2_call(a, "CreateSecurityGroup", &q, t_call_done, &t);
	event_base_dispatch(t.base);
	assert_int_equal(t.calls, 1);
	assert_false(t.failed);
	assert_int_equal(
	    aws_xml_root(t.body, strlen(t.body), &root, NULL, 0), 0);
	assert_int_equal(aws_xml_get(&root, "groupId", v, sizeof(v)), 0);
	assert_string_equal(v, "sg-9");
	/* A 4xx is not retried: one attempt, EC2's code and words. */
	aws_ec2_q_delete_sg(&q, "sg-9");
	aws_ec2_call(a, "DeleteSecurityGroup", &q, t_call_done, &t);
	event_base_dispatch(t.base);
	assert_int_equal(t.calls, 2);
	assert_true(t.failed);
	assert_string_equal(t.ae.code, "DependencyViolation");
	assert_string_equal(t.ae.request_id, "r2");
	waitpid(t_pid, NULL, 0);
	t_pid = 0;
	req = xcalloc(1, 65536);
	f = fopen(log, "r");
	assert_non_null(f);
	assert_true(fread(req, 1, 65535, f) > 0);
	fclose(f);
	assert_true(str_prefix(req, "POST / HTTP/1.1\r\n"));
	assert_non_null(strcasestr(req,
	    "Content-Type: application/x-www-form-urlencoded; "
	    "charset=utf-8\r\n"));
	assert_null(strcasestr(req, "X-Amz-Target"));
	assert_non_null(strstr(req, "/eu-west-1/ec2/aws4_request, "));
	assert_non_null(strstr(req,
	    "\r\n\r\nAction=CreateSecurityGroup&Version=2016-11-15&"
	    "GroupName=sockerless-n-i&GroupDescription=d&VpcId=vpc-1\n"));
	assert_non_null(strstr(req,
	    "\r\n\r\nAction=DeleteSecurityGroup&Version=2016-11-15&"
	    "GroupId=sg-9\n"));
	free(req);
	unlink(log);
	aws_free(a);
	httpcli_free(http);
	event_base_free(t.base);
	free(url);
}

/* --- the security group sequences (aws_ec2_sg.c) ------------------------- */

/* An HTTP reply with an XML body (a new string). */
static char *
t_reply(int status, const char *xml)
{
	return xasprintf("HTTP/1.1 %d X\r\nContent-Type: text/xml\r\n"
			 "Content-Length: %zu\r\nConnection: close\r\n\r\n%s",
	    status, strlen(xml), xml);
}

static char *
t_ec2_err(const char *code, const char *msg)
{
	char *xml = xasprintf("<Response><Errors><Error><Code>%s</Code>"
			      "<Message>%s</Message></Error></Errors>"
			      "<RequestID>r</RequestID></Response>",
	    code, msg);
	char *r = t_reply(400, xml);

	free(xml);
	return r;
}

#define T_CREATED                                                       \
	"<CreateSecurityGroupResponse><requestId>r</requestId><return>" \
	"true</return><groupId>sg-9</groupId></CreateSecurityGroupResponse>"
#define T_TRUE "<X><requestId>r</requestId><return>true</return></X>"

struct t_seq {
	struct event_base *base;
	struct httpcli *http;
	struct aws *a;
	char log[32];
	int calls;
	char group[64];
	struct err e;
	int failed;
	struct strv ids, vals;
};

static void
t_seq_start(struct t_seq *t, char **replies)
{
	struct aws_options o = { .region = "us-east-1" };
	char *url;
	struct err e;

	memset(t, 0, sizeof(*t));
	strv_init(&t->ids);
	strv_init(&t->vals);
	snprintf(t->log, sizeof(t->log), "/tmp/t_aws_ec2.XXXXXX");
	close(mkstemp(t->log));
	url = xasprintf("http://127.0.0.1:%d",
	    t_server((const char *const *)replies, t->log));
	setenv("AWS_ACCESS_KEY_ID", "AKTEST", 1);
	setenv("AWS_SECRET_ACCESS_KEY", "SKTEST", 1);
	setenv("AWS_EC2_METADATA_DISABLED", "true", 1);
	t->base = event_base_new();
	t->http = httpcli_new(t->base);
	o.endpoint = url;
	t->a = aws_new(t->base, t->http, &o, &e);
	assert_int_equal(aws_resolve_credentials(t->a, &e), 0);
	free(url);
	for (size_t i = 0; replies[i] != NULL; i++)
		free(replies[i]);
}

/* The actions the server saw, in order, as "A B C". */
static char *
t_seq_end(struct t_seq *t)
{
	char *req = xcalloc(1, 65536), *p, *out = xstrdup("");
	FILE *f;

	waitpid(t_pid, NULL, 0);
	t_pid = 0;
	f = fopen(t->log, "r");
	assert_non_null(f);
	assert_true(fread(req, 1, 65535, f) > 0);
	fclose(f);
	for (p = req; (p = strstr(p, "\r\n\r\nAction=")) != NULL; p++) {
		char *o = xasprintf("%s%s%.*s", out, out[0] ? " " : "",
		    (int)strcspn(p + 11, "&\n"), p + 11);
		free(out);
		out = o;
	}
	free(req);
	unlink(t->log);
	aws_ec2_sg_cancel_all(t->a);
	aws_free(t->a);
	httpcli_free(t->http);
	event_base_free(t->base);
	strv_free(&t->ids);
	strv_free(&t->vals);
	return out;
}

static void
t_seq_done(void *arg, const char *group, const struct err *e)
{
	struct t_seq *t = arg;

	t->calls++;
	t->failed = e != NULL;
	if (e != NULL)
		t->e = *e;
	else
		snprintf(t->group, sizeof(t->group), "%s", group);
	event_base_loopexit(t->base, NULL);
}

static void
t_seq_listed(void *arg, const struct strv *ids, const struct strv *vals,
    const struct err *e)
{
	struct t_seq *t = arg;

	t->calls++;
	t->failed = e != NULL;
	for (size_t i = 0; i < ids->n; i++) {
		strv_add(&t->ids, ids->v[i]);
		strv_add(&t->vals, vals->v[i]);
	}
	event_base_loopexit(t->base, NULL);
}

static void
t_make_internal(void **state)
{
	char *replies[] = { t_reply(200, T_CREATED), t_reply(200, T_TRUE),
		t_reply(200, T_TRUE), t_reply(200, T_TRUE), NULL };
	static const char *const tags[] = { "sockerless:instance", "i1", NULL };
	struct aws_ec2_sg_spec sp = { "sockerless-n-i1", "d", "vpc-1", tags,
		1 };
	struct t_seq t;
	char *seen;

	(void)state;
	t_seq_start(&t, replies);
	aws_ec2_sg_make(t.a, &sp, t_seq_done, &t);
	event_base_dispatch(t.base);
	assert_int_equal(t.calls, 1);
	assert_false(t.failed);
	assert_string_equal(t.group, "sg-9");
	seen = t_seq_end(&t);
	assert_string_equal(seen,
	    "CreateSecurityGroup AuthorizeSecurityGroupIngress "
	    "RevokeSecurityGroupEgress AuthorizeSecurityGroupEgress");
	free(seen);
}

/* A failure half-way deletes the group it made: nothing is left. */
static void
t_make_fails_halfway(void **state)
{
	char *replies[] = { t_reply(200, T_CREATED),
		t_ec2_err("RulesPerSecurityGroupLimitExceeded", "too many"),
		t_reply(200, T_TRUE), NULL };
	struct aws_ec2_sg_spec sp = { "n", "d", "vpc-1", NULL, 0 };
	struct t_seq t;
	char *seen;

	(void)state;
	t_seq_start(&t, replies);
	aws_ec2_sg_make(t.a, &sp, t_seq_done, &t);
	event_base_dispatch(t.base);
	assert_true(t.failed);
	assert_int_equal(t.e.status, 500);
	assert_non_null(strstr(t.e.msg, "RulesPerSecurityGroupLimitExceeded"));
	seen = t_seq_end(&t);
	assert_string_equal(seen,
	    "CreateSecurityGroup AuthorizeSecurityGroupIngress "
	    "DeleteSecurityGroup");
	free(seen);
}

/* The clean-up failing too: both errors are told. */
static void
t_make_undo_fails(void **state)
{
	char *replies[] = { t_reply(200, T_CREATED),
		t_ec2_err("InvalidParameterValue", "bad rule"),
		t_ec2_err("UnauthorizedOperation", "no delete"), NULL };
	struct aws_ec2_sg_spec sp = { "n", "d", "vpc-1", NULL, 0 };
	struct t_seq t;

	(void)state;
	t_seq_start(&t, replies);
	aws_ec2_sg_make(t.a, &sp, t_seq_done, &t);
	event_base_dispatch(t.base);
	assert_true(t.failed);
	assert_int_equal(t.e.status, 400);
	assert_non_null(strstr(t.e.msg,
	    "sg-9 was made but could not be "
	    "deleted"));
	assert_non_null(strstr(t.e.msg, "no delete"));
	assert_non_null(strstr(t.e.msg, "bad rule"));
	free(t_seq_end(&t));
}

#define T_DESCRIBED(tagval)                                                  \
	"<DescribeSecurityGroupsResponse><securityGroupInfo><item><groupId>" \
	"sg-5</groupId><groupName>n</groupName><tagSet><item><key>"          \
	"sockerless:instance</key><value>" tagval "</value></item></tagSet>" \
	"</item></securityGroupInfo></DescribeSecurityGroupsResponse>"

/* A create the core retried after its first attempt made the group: EC2
 * says Duplicate, the group carrying this instance's tag is taken, and
 * rules it already has count as added. */
static void
t_make_duplicate_adopts(void **state)
{
	char *replies[] = { t_ec2_err("InvalidGroup.Duplicate", "exists"),
		t_reply(200, T_DESCRIBED("i1")),
		t_ec2_err("InvalidPermission.Duplicate", "rule exists"),
		t_ec2_err("InvalidPermission.NotFound", "no such rule"),
		t_reply(200, T_TRUE), NULL };
	static const char *const tags[] = { "sockerless:instance", "i1", NULL };
	struct aws_ec2_sg_spec sp = { "n", "d", "vpc-1", tags, 1 };
	struct t_seq t;
	char *seen;

	(void)state;
	t_seq_start(&t, replies);
	aws_ec2_sg_make(t.a, &sp, t_seq_done, &t);
	event_base_dispatch(t.base);
	assert_false(t.failed);
	assert_string_equal(t.group, "sg-5");
	seen = t_seq_end(&t);
	assert_string_equal(seen,
	    "CreateSecurityGroup DescribeSecurityGroups "
	    "AuthorizeSecurityGroupIngress RevokeSecurityGroupEgress "
	    "AuthorizeSecurityGroupEgress");
	free(seen);
}

/* Someone else's group of that name is left alone: 409. */
static void
t_make_duplicate_foreign(void **state)
{
	char *replies[] = { t_ec2_err("InvalidGroup.Duplicate", "exists"),
		t_reply(200, T_DESCRIBED("other")), NULL };
	static const char *const tags[] = { "sockerless:instance", "i1", NULL };
	struct aws_ec2_sg_spec sp = { "n", "d", "vpc-1", tags, 0 };
	struct t_seq t;
	char *seen;

	(void)state;
	t_seq_start(&t, replies);
	aws_ec2_sg_make(t.a, &sp, t_seq_done, &t);
	event_base_dispatch(t.base);
	assert_true(t.failed);
	assert_int_equal(t.e.status, 409);
	assert_non_null(strstr(t.e.msg, "is not this instance's"));
	seen = t_seq_end(&t);
	assert_string_equal(seen, "CreateSecurityGroup DescribeSecurityGroups");
	free(seen);
}

static void
t_delete_waits(void **state)
{
	char *replies[] = { t_ec2_err("DependencyViolation", "in use"),
		t_ec2_err("DependencyViolation", "in use"),
		t_reply(200, T_TRUE), NULL };
	struct t_seq t;
	char *seen;

	(void)state;
	t_seq_start(&t, replies);
	aws_ec2_sg_delete(t.a, "sg-9", 10, 5000, t_seq_done, &t);
	event_base_dispatch(t.base);
	assert_false(t.failed);
	seen = t_seq_end(&t);
	assert_string_equal(seen,
	    "DeleteSecurityGroup DeleteSecurityGroup DeleteSecurityGroup");
	free(seen);
}

/* Bounded: 10 ms, then the 15 ms left, then a clear 409. */
static void
t_delete_gives_up(void **state)
{
	char *replies[] = { t_ec2_err("DependencyViolation", "in use"),
		t_ec2_err("DependencyViolation", "in use"),
		t_ec2_err("DependencyViolation", "still in use"), NULL };
	struct t_seq t;

	(void)state;
	t_seq_start(&t, replies);
	aws_ec2_sg_delete(t.a, "sg-9", 10, 25, t_seq_done, &t);
	event_base_dispatch(t.base);
	assert_true(t.failed);
	assert_int_equal(t.e.status, 409);
	assert_non_null(strstr(t.e.msg, "security group sg-9 is still used"));
	assert_non_null(strstr(t.e.msg, "still in use"));
	free(t_seq_end(&t));
}

static void
t_delete_gone_is_success(void **state)
{
	char *replies[] = { t_ec2_err("InvalidGroup.NotFound", "no sg-9"),
		NULL };
	struct t_seq t;

	(void)state;
	t_seq_start(&t, replies);
	aws_ec2_sg_delete(t.a, "sg-9", 10, 25, t_seq_done, &t);
	event_base_dispatch(t.base);
	assert_false(t.failed);
	free(t_seq_end(&t));
}

static void
t_list_and_vpc(void **state)
{
	char *replies[] = { t_reply(200, t_describe_sgs),
		t_reply(200,
		    "<DescribeSubnetsResponse><subnetSet><item><subnetId>s-1"
		    "</subnetId><vpcId>vpc-7</vpcId></item><item><subnetId>"
		    "s-2</subnetId><vpcId>vpc-7</vpcId></item></subnetSet>"
		    "</DescribeSubnetsResponse>"),
		NULL };
	struct strv subnets;
	struct t_seq t;
	char *seen;

	(void)state;
	t_seq_start(&t, replies);
	aws_ec2_sg_list(t.a, "sockerless:instance", "i1",
	    "sockerless:network-id", t_seq_listed, &t);
	event_base_dispatch(t.base);
	assert_false(t.failed);
	assert_int_equal(t.ids.n, 2);
	assert_string_equal(t.ids.v[0], "sg-1a2b3c4d");
	assert_string_equal(t.vals.v[0], "abc");
	assert_string_equal(t.ids.v[1], "sg-2");
	assert_string_equal(t.vals.v[1], "");
	strv_init(&subnets);
	strv_add(&subnets, "s-1");
	strv_add(&subnets, "s-2");
	aws_ec2_subnets_vpc(t.a, &subnets, t_seq_done, &t);
	event_base_dispatch(t.base);
	assert_false(t.failed);
	assert_string_equal(t.group, "vpc-7");
	strv_free(&subnets);
	seen = t_seq_end(&t);
	assert_string_equal(seen, "DescribeSecurityGroups DescribeSubnets");
	free(seen);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(t_query),
		cmocka_unit_test(t_xml_shapes),
		cmocka_unit_test(t_xml_malformed),
		cmocka_unit_test(t_xml_errors),
		cmocka_unit_test_teardown(t_call, t_teardown),
		cmocka_unit_test_teardown(t_make_internal, t_teardown),
		cmocka_unit_test_teardown(t_make_fails_halfway, t_teardown),
		cmocka_unit_test_teardown(t_make_undo_fails, t_teardown),
		cmocka_unit_test_teardown(t_make_duplicate_adopts, t_teardown),
		cmocka_unit_test_teardown(t_make_duplicate_foreign, t_teardown),
		cmocka_unit_test_teardown(t_delete_waits, t_teardown),
		cmocka_unit_test_teardown(t_delete_gives_up, t_teardown),
		cmocka_unit_test_teardown(t_delete_gone_is_success, t_teardown),
		cmocka_unit_test_teardown(t_list_and_vpc, t_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
