/* The Log Analytics query API, the console-log reader and the log stream
 * (azure_logs.c, azure_logstream.c) against a forked stand-in server:
 * the query's request, tables into entries, the cursor over two polls,
 * partial errors, malformed tables, KQL quoting; the stream's lines split
 * across chunks, a long line, the server closing, cancel mid-stream. */
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
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <event2/event.h>

#include "sockerless/azure.h"
#include "sockerless/buf.h"
#include "sockerless/httpcli.h"
#include "sockerless/json.h"
#include "sockerless/str.h"
#include "sockerless/xmalloc.h"

#include "../../common/cloud/azure_int.h"
#include "../../common/cloud/azure_logs_int.h"

/* --- the stand-in server -------------------------------------------------
 * Connection i plays script i (the last one again when they run out):
 * pieces written in order, "@<ms>" sleeps, "@close" ends it (else it ends
 * after the last piece). Every request is appended to a log file. */

#define MAXP 16

struct script {
	const char *p[MAXP];
};

struct srv {
	pid_t pid;
	int port;
	char log[64];
	struct event_base *base;
	struct httpcli *http;
	struct azure *z;
};

static struct srv t_srv;

static void
srv_read(int s, FILE *f)
{
	char req[65536];
	size_t n = 0;
	ssize_t k;
	char *hend, *cl;

	while (n < sizeof(req) - 1 &&
	    (k = read(s, req + n, sizeof(req) - 1 - n)) > 0) {
		n += (size_t)k;
		req[n] = '\0';
		if ((hend = strstr(req, "\r\n\r\n")) == NULL)
			continue;
		cl = strcasestr(req, "Content-Length:");
		if (cl == NULL ||
		    (size_t)(hend + 4 - req) + strtoul(cl + 15, NULL, 10) <= n)
			break;
	}
	req[n] = '\0';
	if (f != NULL)
		fprintf(f, "%s\n=====\n", req);
}

static void
srv_child(int ls, const struct script *sc, size_t nsc, const char *log)
{
	size_t i = 0;

	signal(SIGPIPE, SIG_IGN);
	for (;;) {
		int s = accept(ls, NULL, NULL);
		FILE *f;

		if (s < 0)
			_exit(1);
		f = fopen(log, "a");
		srv_read(s, f);
		if (f != NULL)
			fclose(f);
		for (size_t j = 0; j < MAXP && sc[i].p[j] != NULL; j++) {
			const char *p = sc[i].p[j];

			if (strcmp(p, "@close") == 0)
				break;
			if (p[0] == '@') {
				long ms = atol(p + 1);
				struct timespec ts = { ms / 1000,
					(ms % 1000) * 1000000L };

				nanosleep(&ts, NULL);
				continue;
			}
			if (write(s, p, strlen(p)) < 0)
				break;
		}
		close(s);
		if (i + 1 < nsc)
			i++;
	}
}

static void
srv_start(const struct script *sc, size_t nsc)
{
	struct srv *v = &t_srv;
	struct sockaddr_in sin;
	socklen_t slen = sizeof(sin);
	int ls = socket(AF_INET, SOCK_STREAM, 0), fd;
	struct azure_options o;
	struct err e;
	char *ep;

	memset(v, 0, sizeof(*v));
	snprintf(v->log, sizeof(v->log), "/tmp/t_azlogs.XXXXXX");
	fd = mkstemp(v->log);
	close(fd);
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(ls, (struct sockaddr *)&sin, sizeof(sin)) != 0 ||
	    listen(ls, 16) != 0)
		abort();
	getsockname(ls, (struct sockaddr *)&sin, &slen);
	v->port = ntohs(sin.sin_port);
	if ((v->pid = fork()) == 0)
		srv_child(ls, sc, nsc, v->log);
	close(ls);
	v->base = event_base_new();
	v->http = httpcli_new(v->base);
	ep = xasprintf("http://127.0.0.1:%d", v->port);
	memset(&o, 0, sizeof(o));
	o.endpoint_arm = ep;
	o.endpoint_logs = ep;
	v->z = azure_new(v->base, v->http, &o, &e);
	assert_non_null(v->z);
	free(ep);
}

static int
srv_stop(void **state)
{
	struct srv *v = &t_srv;

	(void)state;
	if (v->pid > 0) {
		kill(v->pid, SIGKILL);
		waitpid(v->pid, NULL, 0);
	}
	azure_free(v->z);
	httpcli_free(v->http);
	if (v->base != NULL)
		event_base_free(v->base);
	unlink(v->log);
	memset(v, 0, sizeof(*v));
	return 0;
}

static char *
srv_requests(void)
{
	FILE *f = fopen(t_srv.log, "r");
	char *s = xcalloc(1, 1 << 20);
	size_t n;

	assert_non_null(f);
	n = fread(s, 1, (1 << 20) - 1, f);
	s[n] = '\0';
	fclose(f);
	return s;
}

static void
loop_stop(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	event_base_loopbreak(arg);
}

/* Runs the loop until the test's callback breaks it or ms pass. */
static void
run(int ms)
{
	struct timeval tv = { ms / 1000, (ms % 1000) * 1000 };

	event_base_once(t_srv.base, -1, EV_TIMEOUT, loop_stop, t_srv.base, &tv);
	event_base_dispatch(t_srv.base);
}

#define OK_JSON(body)                                           \
	"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n" \
	"Connection: close\r\n\r\n" body

/* --- KQL quoting ---------------------------------------------------------- */

static void
t_quote(void **state)
{
	char out[64];

	(void)state;
	azure_kql_quote("plain", out, sizeof(out));
	assert_string_equal(out, "'plain'");
	azure_kql_quote("it's a \\ path\nnext\r\t", out, sizeof(out));
	assert_string_equal(out, "'it\\'s a \\\\ path\\nnext\\r\\t'");
	azure_kql_quote("", out, sizeof(out));
	assert_string_equal(out, "''");
	/* Cut short: still one closed literal, never half an escape or
	 * half a character. */
	azure_kql_quote("ab'cd", out, 6);
	assert_string_equal(out, "'ab'");
	azure_kql_quote("a\xc3\xa9z", out, 5);
	assert_string_equal(out, "'a'");
	/* A lead byte without its continuation carries no quote nor
	 * backslash past the escaping (found by fuzz_azure_logs). */
	azure_kql_quote("a\xc3'b\xe2\\", out, sizeof(out));
	assert_string_equal(out, "'a\xc3\\'b\xe2\\\\'");
	azure_kql_quote("abc", out, 2);
	assert_string_equal(out, "");
}

static void
t_kql(void **state)
{
	char *q = azure_logs_kql("job-1", "job-1-abc12", "main",
	    azure_time_parse("2026-12-05T10:00:00.1234567Z"), 1000);
	char *q2 = azure_logs_kql("j'x", NULL, NULL, -1, 10);

	(void)state;
	assert_non_null(strstr(q, "union isfuzzy=true"));
	/* Both schemas, each with its own column names. */
	assert_non_null(strstr(q,
	    "(ContainerAppConsoleLogs_CL\n| where "
	    "ContainerJobName_s == 'job-1' and "
	    "ContainerGroupName_s startswith "
	    "'job-1-abc12-' and ContainerName_s == "
	    "'main' and TimeGenerated >= "
	    "datetime(2026-12-05T10:00:00.1234567Z)"));
	assert_non_null(strstr(q,
	    "(ContainerAppConsoleLogs\n| where "
	    "ContainerGroupName startswith 'job-1-abc12-'"));
	/* The newer table has no ContainerJobName: a leg naming it would be
	 * dropped by isfuzzy without a word. */
	assert_null(strstr(q, "ContainerJobName =="));
	assert_non_null(strstr(q, "Line = Log_s"));
	assert_non_null(
	    strstr(q, "project TimeGenerated, Stream, Line = Log,"));
	assert_non_null(strstr(q, "| order by TimeGenerated asc, Replica asc"));
	assert_non_null(strstr(q, "| take 1000"));
	/* No execution, container or time: no such filter; quotes escaped. */
	assert_non_null(strstr(q2, "ContainerJobName_s == 'j\\'x'\n| project"));
	assert_non_null(strstr(q2, "ContainerAppName == 'j\\'x'\n| project"));
	assert_null(strstr(q2, "startswith"));
	assert_null(strstr(q2, "datetime("));
	free(q);
	free(q2);
}

/* --- the query API -------------------------------------------------------- */

struct got {
	int calls;
	cJSON *out;
	struct cloud_error ce;
	int failed;
};

static void
on_query(void *arg, const cJSON *out, const struct cloud_error *ce)
{
	struct got *g = arg;

	g->calls++;
	if (ce != NULL) {
		g->failed = 1;
		g->ce = *ce;
	} else
		g->out = cJSON_Duplicate(out, 1);
	event_base_loopbreak(t_srv.base);
}

#define TABLE                                                    \
	"{\"tables\":[{\"name\":\"PrimaryResult\",\"columns\":[" \
	"{\"name\":\"TimeGenerated\",\"type\":\"datetime\"},"    \
	"{\"name\":\"Stream\",\"type\":\"string\"},"             \
	"{\"name\":\"Line\",\"type\":\"string\"},"               \
	"{\"name\":\"Replica\",\"type\":\"string\"},"            \
	"{\"name\":\"Container\",\"type\":\"string\"}],\"rows\":["

static void
t_query(void **state)
{
	static const struct script sc[] = { { { OK_JSON(
	    TABLE "[\"2026-12-05T10:00:00.0000001Z\",\"stdout\",\"hi\","
		  "\"r\",\"main\"]]}]}") } } };
	struct got g = { 0 };
	char *log;

	(void)state;
	srv_start(sc, 1);
	azure_la_query(t_srv.z, "0b5e-ws", "T | take 1", "PT1H", on_query, &g);
	run(5000);
	assert_int_equal(g.calls, 1);
	assert_false(g.failed);
	assert_int_equal(cJSON_GetArraySize(json_arr(g.out, "columns")), 5);
	assert_int_equal(cJSON_GetArraySize(json_arr(g.out, "rows")), 1);
	cJSON_Delete(g.out);
	log = srv_requests();
	assert_non_null(strstr(log, "POST /v1/workspaces/0b5e-ws/query HTTP"));
	assert_non_null(strcasestr(log, "Content-Type: application/json"));
	assert_non_null(
	    strstr(log, "{\"query\":\"T | take 1\",\"timespan\":\"PT1H\"}"));
	free(log);
}

static void
t_partial(void **state)
{
	static const struct script sc[] = {
		{ { OK_JSON(TABLE "]}],\"error\":{\"code\":\"PartialError\","
				  "\"message\":\"There were some errors\","
				  "\"innererror\":{\"code\":\"E1\",\"message\":"
				  "\"Query exceeded limits\",\"innererror\":{"
				  "\"message\":\"Result truncated\"}}}}") } },
		{ { OK_JSON("{\"tables\":[]}") } },
		{ { OK_JSON("{\"tables\":[{\"columns\":5,\"rows\":[]}]}") } },
		{ { "HTTP/1.1 400 Bad Request\r\nContent-Type: "
		    "application/json\r\nConnection: close\r\n\r\n"
		    "{\"error\":{\"code\":\"BadArgumentError\",\"message\":"
		    "\"The request had some invalid properties\"}}" } },
	};
	struct got g = { 0 };

	(void)state;
	srv_start(sc, 4);
	/* 200 with "error": a failure with the chain in one sentence. */
	azure_la_query(t_srv.z, "w", "q", NULL, on_query, &g);
	run(5000);
	assert_true(g.failed);
	assert_string_equal(g.ce.code, "PartialError");
	assert_string_equal(g.ce.message,
	    "There were some errors: Query exceeded limits: Result truncated");
	/* No table, a table of the wrong shape: clear errors. */
	for (int i = 0; i < 2; i++) {
		memset(&g, 0, sizeof(g));
		azure_la_query(t_srv.z, "w", "q", NULL, on_query, &g);
		run(5000);
		assert_true(g.failed);
		assert_string_equal(g.ce.code, "InvalidResponse");
		assert_non_null(strstr(g.ce.message, "no table"));
	}
	/* A fatal error: the service's code and words. */
	memset(&g, 0, sizeof(g));
	azure_la_query(t_srv.z, "w", "q", NULL, on_query, &g);
	run(5000);
	assert_true(g.failed);
	assert_int_equal(g.ce.http_status, 400);
	assert_string_equal(g.ce.code, "BadArgumentError");
}

/* --- the console-log reader ----------------------------------------------- */

struct lines {
	int calls, ends, failed, more, cancel_at;
	struct cloud_error ce;
	char text[64][64];
	int stream[64];
	int64_t ts[64];
	size_t n;
	char cursor[8192];
	uint64_t id;
};

static void
on_logs(void *arg, const struct azure_log_entry *ev, size_t n,
    const char *cursor, int more, const struct cloud_error *ce)
{
	struct lines *l = arg;

	l->calls++;
	if (ce != NULL) {
		l->failed = 1;
		l->ce = *ce;
		event_base_loopbreak(t_srv.base);
		return;
	}
	for (size_t i = 0; i < n && l->n < 64; i++, l->n++) {
		size_t k = ev[i].len < 63 ? ev[i].len : 63;

		memcpy(l->text[l->n], ev[i].text, k);
		l->text[l->n][k] = '\0';
		l->stream[l->n] = ev[i].stream;
		l->ts[l->n] = ev[i].ts_ns;
	}
	l->more = more;
	if (cursor != NULL)
		str_lcpy(l->cursor, cursor, sizeof(l->cursor));
	if (l->cancel_at > 0 && (int)l->n >= l->cancel_at) {
		azure_cancel(t_srv.z, l->id);
		event_base_loopbreak(t_srv.base);
		return;
	}
	if (n == 0 && cursor == NULL) {
		l->ends++;
		event_base_loopbreak(t_srv.base);
	} else if (cursor != NULL)
		event_base_loopbreak(t_srv.base);
}

#define R(t, s, line, rep)                                            \
	"[\"2026-12-05T10:00:0" t "Z\",\"" s "\",\"" line "\",\"" rep \
	"\",\"main\"]"

static void
t_read_polls(void **state)
{
	/* Poll 1: t1, then at t2 "a", "b" (stderr) and "a" again from the
	 * same replica (two lines). Poll 2 (from t2): t2's three come
	 * back, with a third "a", a "c" and a line at t3. */
	static const struct script sc[] = {
		{ { OK_JSON(TABLE R("1", "stdout", "one\\n", "e-1") "," R(
		    "2", "stdout", "a", "e-1") "," R("2", "stderr", "b",
		    "e-1") "," R("2", "stdout", "a", "e-1") "]}]}") } },
		{ { OK_JSON(TABLE R("2", "stdout", "a", "e-1") "," R(
		    "2", "stdout", "a", "e-1") "," R("2", "stdout", "a",
		    "e-1") "," R("2", "stderr", "b", "e-1") "," R("2", "stdout",
		    "c", "e-2") "," R("3", "stdout", "d", "e-1") "]}]}") } },
	};
	struct lines l = { 0 };
	char *log, *cur;

	(void)state;
	srv_start(sc, 2);
	azure_logs_read(
	    t_srv.z, "ws", "job", "e", "main", NULL, 0, on_logs, &l);
	run(5000);
	assert_false(l.failed);
	assert_int_equal(l.n, 4);
	assert_string_equal(l.text[0], "one"); /* the newline is not kept */
	assert_int_equal(l.stream[2], 2);
	assert_int_equal(l.ts[1], azure_time_parse("2026-12-05T10:00:02Z"));
	assert_false(l.more);
	cur = xstrdup(l.cursor);
	memset(&l, 0, sizeof(l));
	azure_logs_read(t_srv.z, "ws", "job", "e", "main", cur, 0, on_logs, &l);
	run(5000);
	assert_false(l.failed);
	assert_int_equal(l.n, 3);
	assert_string_equal(l.text[0], "a");
	assert_string_equal(l.text[1], "c");
	assert_string_equal(l.text[2], "d");
	free(cur);
	/* The second query asks from the cursor's time, 1000 rows more the
	 * lines it had seen there. */
	log = srv_requests();
	assert_non_null(strstr(log, "datetime(2026-12-05T10:00:02.0000000Z)"));
	assert_non_null(strstr(log, "take 1003"));
	free(log);
}

/* A full batch (the row limit) says more; its cursor moves to the last. */
static void
t_read_more(void **state)
{
	static struct script sc[1];
	struct lines l = { 0 };
	struct buf b;
	char *body;

	(void)state;
	buf_init(&b, 0);
	buf_adds(&b, OK_JSON(TABLE));
	for (int i = 0; i < AZURE_LOGS_LIMIT; i++)
		buf_addf(&b,
		    "%s[\"2026-12-05T10:%02d:%02d.5Z\",\"stdout\","
		    "\"l%d\",\"r\",\"main\"]",
		    i > 0 ? "," : "", i / 60, i % 60, i);
	buf_adds(&b, "]}]}");
	body = buf_take(&b, NULL);
	sc[0].p[0] = body;
	srv_start(sc, 1);
	azure_logs_read(t_srv.z, "ws", "job", NULL, NULL, "", 0, on_logs, &l);
	run(5000);
	assert_false(l.failed);
	assert_int_equal(l.n, 64); /* what the test keeps of 1000 */
	assert_true(l.more);
	assert_non_null(strstr(l.cursor, "\"t\":\""));
	free(body);
}

static void
t_read_bad(void **state)
{
	static const struct script sc[] = {
		{ { OK_JSON(
		    TABLE "[5,\"stdout\",\"x\",\"r\",\"main\"]]}]}") } },
		{ { OK_JSON("{\"tables\":[{\"columns\":[{\"name\":"
			    "\"TimeGenerated\"}],\"rows\":[]}]}") } },
		{ { OK_JSON(TABLE "[\"2026-12-05T10:00:00Z\",\"stdout\",{},"
				  "\"r\",\"main\"]]}]}") } },
		{ { OK_JSON(TABLE "\"row\"]}]}") } },
	};
	struct lines l;
	static const char *want[] = { "row 1", "no Stream column", "row 1",
		"row 1" };

	(void)state;
	srv_start(sc, 4);
	for (int i = 0; i < 4; i++) {
		memset(&l, 0, sizeof(l));
		azure_logs_read(
		    t_srv.z, "ws", "job", NULL, NULL, NULL, 0, on_logs, &l);
		run(5000);
		assert_true(l.failed);
		assert_string_equal(l.ce.code, "InvalidResponse");
		assert_non_null(strstr(l.ce.message, want[i]));
	}
	/* A cursor that is not ours: a clear error from the loop. */
	memset(&l, 0, sizeof(l));
	azure_logs_read(
	    t_srv.z, "ws", "job", NULL, NULL, "{\"t\":\"x\"}", 0, on_logs, &l);
	assert_int_equal(l.calls, 0);
	run(5000);
	assert_true(l.failed);
	assert_int_equal(l.ce.http_status, 400);
}

static void
t_cursor(void **state)
{
	struct azure_logs_cursor c;
	char *s;

	(void)state;
	assert_int_equal(azure_logs_cursor_parse(NULL, &c), 0);
	assert_int_equal(c.ts_ns, -1);
	assert_int_equal(azure_logs_cursor_parse(
			     "{\"t\":\"42\",\"h\":[\"00000000000000ff\"]}", &c),
	    0);
	assert_int_equal(c.ts_ns, 42);
	assert_int_equal(c.nseen, 1);
	s = azure_logs_cursor_print(&c);
	assert_string_equal(s, "{\"t\":\"42\",\"h\":[\"00000000000000ff\"]}");
	free(s);
	azure_logs_cursor_clear(&c);
	assert_int_equal(azure_logs_cursor_parse("[]", &c), -1);
	assert_int_equal(
	    azure_logs_cursor_parse("{\"t\":\"1\",\"h\":[5]}", &c), -1);
	assert_int_equal(
	    azure_logs_cursor_parse("{\"t\":\"1\",\"h\":[\"zz\"]}", &c), -1);
}

/* --- the log stream --------------------------------------------------------
 */

#define STREAM_HEAD                                                 \
	"HTTP/1.1 200 OK\r\nContent-Type: application/x-ndjson\r\n" \
	"Connection: close\r\n\r\n"

static void
t_stream(void **state)
{
	/* A JSON line split in three, two lines in one piece, a text line
	 * and a last line without its newline, then the server closes. */
	static const struct script sc[] = { { { STREAM_HEAD,
	    "{\"TimeStamp\":\"2026-12-05T10:00:01.5Z\",\"Lo", "@50",
	    "g\":\"hello\\n\"}", "@50",
	    "\n{\"TimeStamp\":\"2026-12-05T10:00:02Z\",\"Log\":\"oops\","
	    "\"Stream\":\"stderr\"}\nplain text\n\n",
	    "{\"Log\":\"last\"}" } } };
	struct lines l = { 0 };
	char *url, *log;

	(void)state;
	srv_start(sc, 1);
	url = xasprintf(
	    "http://127.0.0.1:%d/subscriptions/s/jobs/j/logstream", t_srv.port);
	azure_logstream(t_srv.z, url, "sekrit-token", 10, on_logs, &l);
	run(5000);
	assert_int_equal(l.ends, 1);
	assert_false(l.failed);
	assert_int_equal(l.n, 4);
	assert_string_equal(l.text[0], "hello");
	assert_int_equal(l.ts[0], azure_time_parse("2026-12-05T10:00:01.5Z"));
	assert_int_equal(l.stream[0], 1);
	assert_string_equal(l.text[1], "oops");
	assert_int_equal(l.stream[1], 2);
	assert_string_equal(l.text[2], "plain text");
	assert_string_equal(l.text[3], "last");
	log = srv_requests();
	assert_non_null(strstr(log,
	    "GET /subscriptions/s/jobs/j/logstream?"
	    "follow=true&tailLines=10&output=json "));
	assert_non_null(strstr(log, "Authorization: Bearer sekrit-token"));
	free(log);
	free(url);
}

/* The service's two connection lines open every stream: they are not the
 * workload's and never handed out; the same text later is the workload's. */
static void
t_stream_intro(void **state)
{
	static const struct script sc[] = { { { STREAM_HEAD,
	    "{\"TimeStamp\":\"2026-12-05T10:00:01Z\",\"Log\":\"Connecting to "
	    "the container 'main'...\"}\n",
	    "{\"TimeStamp\":\"2026-12-05T10:00:01Z\",\"Log\":\"Successfully "
	    "Connected to container: 'main' [Execution: 'j-1', Replica: "
	    "'j-1-r']\"}\n",
	    "{\"TimeStamp\":\"2026-12-05T10:00:02Z\",\"Log\":\"line-1\"}\n",
	    "{\"TimeStamp\":\"2026-12-05T10:00:03Z\",\"Log\":\"Connecting to "
	    "the container 'x'...\"}\n" } } };
	struct lines l = { 0 };
	char *url;

	(void)state;
	srv_start(sc, 1);
	url = xasprintf(
	    "http://127.0.0.1:%d/subscriptions/s/jobs/j/logstream", t_srv.port);
	azure_logstream(t_srv.z, url, "t", 10, on_logs, &l);
	run(5000);
	assert_int_equal(l.ends, 1);
	assert_false(l.failed);
	assert_int_equal(l.n, 2);
	assert_string_equal(l.text[0], "line-1");
	assert_string_equal(l.text[1], "Connecting to the container 'x'...");
	free(url);
}

/* A line of 1.5 MiB arrives in two pieces (the bound), then a short one. */
static void
t_stream_long(void **state)
{
	static struct script sc[1];
	static char *big;
	size_t n = AZURE_STREAM_MAX_LINE + AZURE_STREAM_MAX_LINE / 2;
	struct lines l = { 0 };
	char *url;

	(void)state;
	big = xmalloc(n + 2);
	memset(big, 'x', n);
	big[n] = '\n';
	big[n + 1] = '\0';
	sc[0].p[0] = STREAM_HEAD;
	sc[0].p[1] = big;
	sc[0].p[2] = "short\n";
	srv_start(sc, 1);
	url = xasprintf("http://127.0.0.1:%d/s", t_srv.port);
	azure_logstream(t_srv.z, url, "t", 0, on_logs, &l);
	run(10000);
	assert_int_equal(l.ends, 1);
	assert_int_equal(l.n, 3);
	assert_string_equal(l.text[2], "short");
	free(url);
	free(big);
}

static void
t_stream_cancel(void **state)
{
	/* Cancelled from inside its callback at the second line: nothing
	 * more arrives, no end is reported, nothing leaks (ASan). */
	static const struct script sc[] = { { { STREAM_HEAD,
	    "{\"Log\":\"1\"}\n{\"Log\":\"2\"}\n{\"Log\":\"3\"}\n", "@3000",
	    "{\"Log\":\"4\"}\n" } } };
	struct lines l = { 0 };
	char *url;

	(void)state;
	srv_start(sc, 1);
	url = xasprintf("http://127.0.0.1:%d/s", t_srv.port);
	l.cancel_at = 2;
	l.id = azure_logstream(t_srv.z, url, "t", 0, on_logs, &l);
	assert_true((l.id & AZURE_LOGS_ID) != 0);
	run(5000);
	run(300);
	assert_int_equal(l.n, 2);
	assert_int_equal(l.ends, 0);
	free(url);
}

static void
t_stream_errors(void **state)
{
	static const struct script sc[] = {
		{ { "HTTP/1.1 401 Unauthorized\r\nContent-Type: "
		    "application/json\r\nx-ms-request-id: rid-7\r\n"
		    "Connection: close\r\n\r\n{\"error\":{\"code\":"
		    "\"InvalidAuthenticationToken\",\"message\":\"expired\"}}" } },
		{ { STREAM_HEAD, "{\"Log\":\"1\"}\n", "@3000" } },
	};
	struct lines l = { 0 };
	char *url;
	uint64_t id;

	(void)state;
	srv_start(sc, 2);
	url = xasprintf("http://127.0.0.1:%d/s", t_srv.port);
	azure_logstream(t_srv.z, url, "t", 500, on_logs, &l);
	run(5000);
	assert_true(l.failed);
	assert_int_equal(l.ce.http_status, 401);
	assert_string_equal(l.ce.code, "InvalidAuthenticationToken");
	assert_string_equal(l.ce.request_id, "rid-7");
	/* Not an http(s) URL: an error from the loop. */
	memset(&l, 0, sizeof(l));
	azure_logstream(t_srv.z, "ftp://x/s", "t", 5, on_logs, &l);
	assert_int_equal(l.calls, 0);
	run(5000);
	assert_true(l.failed);
	assert_int_equal(l.ce.http_status, 400);
	/* Cancel from outside while the stream waits, and a stream left
	 * open when the client goes away: azure_free ends it. */
	memset(&l, 0, sizeof(l));
	id = azure_logstream(t_srv.z, url, "t", 5, on_logs, &l);
	run(300);
	azure_cancel(t_srv.z, id);
	azure_cancel(t_srv.z, id);
	run(100);
	assert_int_equal(l.ends, 0);
	azure_logstream(t_srv.z, url, "t", 5, on_logs, &l);
	run(200);
	free(url);
}

static void
t_stream_line(void **state)
{
	struct azure_log_entry ev;
	cJSON *keep;

	(void)state;
	assert_int_equal(azure_stream_line("", 0, 7, &ev, &keep), -1);
	assert_int_equal(azure_stream_line("{\"x\":1}", 7, 7, &ev, &keep), 0);
	assert_null(keep);
	assert_int_equal(ev.len, 7);
	assert_int_equal(ev.ts_ns, 7);
	assert_int_equal(
	    azure_stream_line(
		"{\"Log\":\"a\",\"TimeStamp\":\"bad\"}", 29, 7, &ev, &keep),
	    0);
	assert_int_equal(ev.ts_ns, 7);
	assert_string_equal(ev.text, "a");
	cJSON_Delete(keep);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(t_quote),
		cmocka_unit_test(t_kql),
		cmocka_unit_test(t_cursor),
		cmocka_unit_test(t_stream_line),
		cmocka_unit_test_teardown(t_query, srv_stop),
		cmocka_unit_test_teardown(t_partial, srv_stop),
		cmocka_unit_test_teardown(t_read_polls, srv_stop),
		cmocka_unit_test_teardown(t_read_more, srv_stop),
		cmocka_unit_test_teardown(t_read_bad, srv_stop),
		cmocka_unit_test_teardown(t_stream, srv_stop),
		cmocka_unit_test_teardown(t_stream_intro, srv_stop),
		cmocka_unit_test_teardown(t_stream_long, srv_stop),
		cmocka_unit_test_teardown(t_stream_cancel, srv_stop),
		cmocka_unit_test_teardown(t_stream_errors, srv_stop),
	};

	json_init();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
