/* The Container Apps log stream of running executions
 * (backend-aca/aca_stream.c, compiled in here) with no network: the ARM
 * calls, the stream and the clock are test doubles, so each test drives
 * its state machine by hand. The opening calls in order (the job for its
 * eventStreamEndpoint, getAuthToken, the replicas, then the stream's URL
 * and token), each failure (a clear warning, back to Log Analytics, tried
 * again after the retry delay with a new token), the lines kept in order
 * with their stream and time, the seam (the settle delay, "was the tail
 * full", the first line after t), the lines served in batches, a follower
 * behind the kept lines, a stream the service closed (the execution's
 * exit, or its token expired: reopened with jumped sequence numbers), and
 * the idle sweep. The stream's wire (NDJSON split across reads, partial
 * JSON, stdout and stderr, malformed lines) is azure_logstream's, in
 * t_azure_logs.c. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

/* The doubles, under the names aca_stream.c calls. */
#define azure_call	t_azure_call
#define azure_cancel	t_azure_cancel
#define azure_logstream t_azure_logstream
#define str_now_ns	t_now_ns
#define log_warnx	t_log_warnx

#include "../../backend-aca/aca_stream.c" /* NOLINT(bugprone-suspicious-include): its statics */

#define RG   "/subscriptions/s/resourceGroups/g"
#define EXEC RG "/providers/Microsoft.App/jobs/sk-j/executions/sk-j-e1"
#define EP                                                           \
	"https://westeurope.azurecontainerapps.dev/subscriptions/s/" \
	"resourceGroups/g/jobs/sk-j/logstream"
#define SEC INT64_C(1000000000)
#define T0  (INT64_C(1800000000) * SEC)

struct aca_conf aca_conf;
struct azure_backend aca_az;

static int64_t t_now;
static char t_warn[2048];
static int t_nwarn;
/* The call in flight: its op, method, path, api-version; its callbacks. */
static struct {
	char op[64], method[8], path[256], api[32];
	azure_cb cb;
	azure_logs_cb lcb;
	void *arg;
	char url[512], token[64];
	int tail;
	uint64_t id;
} t_call;
static uint64_t t_next_id, t_cancelled;
static int t_ncalls;

int64_t
t_now_ns(void)
{
	return t_now;
}

void
t_log_warnx(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(t_warn, sizeof(t_warn), fmt, ap);
	va_end(ap);
	t_nwarn++;
}

uint64_t
t_azure_call(struct azure *z, const char *op, const char *method,
    const char *path, const char *api_version, const char *query, cJSON *body,
    int attempts, azure_cb cb, void *arg)
{
	(void)z;
	(void)query;
	(void)attempts;
	assert_null(body);
	memset(&t_call, 0, sizeof(t_call));
	str_lcpy(t_call.op, op, sizeof(t_call.op));
	str_lcpy(t_call.method, method, sizeof(t_call.method));
	str_lcpy(t_call.path, path, sizeof(t_call.path));
	str_lcpy(t_call.api, api_version, sizeof(t_call.api));
	t_call.cb = cb;
	t_call.arg = arg;
	t_call.id = ++t_next_id;
	t_ncalls++;
	return t_call.id;
}

uint64_t
t_azure_logstream(struct azure *z, const char *stream_url, const char *token,
    int tail, azure_logs_cb cb, void *arg)
{
	(void)z;
	memset(&t_call, 0, sizeof(t_call));
	str_lcpy(t_call.op, "logstream", sizeof(t_call.op));
	str_lcpy(t_call.url, stream_url, sizeof(t_call.url));
	str_lcpy(t_call.token, token, sizeof(t_call.token));
	t_call.tail = tail;
	t_call.lcb = cb;
	t_call.arg = arg;
	t_call.id = ++t_next_id;
	t_ncalls++;
	return t_call.id;
}

void
t_azure_cancel(struct azure *z, uint64_t id)
{
	(void)z;
	t_cancelled = id;
}

char *
aca_job_path(const char *job, const char *suffix)
{
	return xasprintf(
	    RG "/providers/Microsoft.App/jobs/%s%s", job, suffix ? suffix : "");
}

static int
t_setup(void **state)
{
	(void)state;
	aca_conf.api_version_app = (char *)(uintptr_t) "2025-07-01";
	t_now = T0;
	t_nwarn = 0;
	t_warn[0] = '\0';
	t_ncalls = 0;
	t_cancelled = 0;
	memset(&t_call, 0, sizeof(t_call));
	return 0;
}

static int
t_teardown(void **state)
{
	(void)state;
	aca_stream_shutdown();
	return 0;
}

static struct aca_stream *
s_first(void)
{
	return LIST_FIRST(&aca_streams);
}

/* The answer of the ARM call in flight. */
static void
t_answer(const char *json)
{
	cJSON *o = cJSON_Parse(json);
	azure_cb cb = t_call.cb;

	assert_non_null(o);
	assert_non_null(cb);
	t_call.cb = NULL;
	cb(t_call.arg, o, NULL);
	cJSON_Delete(o);
}

static void
t_answer_error(int status, const char *code, const char *msg)
{
	struct cloud_error ce;
	azure_cb cb = t_call.cb;

	memset(&ce, 0, sizeof(ce));
	ce.http_status = status;
	str_lcpy(ce.code, code, sizeof(ce.code));
	str_lcpy(ce.message, msg, sizeof(ce.message));
	assert_non_null(cb);
	t_call.cb = NULL;
	cb(t_call.arg, NULL, &ce);
}

/* A follower's switch for EXEC (running) after its last line at t. */
static int
t_switch(int running, int64_t t, uint64_t *seq)
{
	const char *name = strrchr(EXEC, '/') + 1;

	return aca_stream_switch(EXEC, "sk-j", name, running, t, seq);
}

/* Opens the stream of EXEC: the three ARM calls, checked. */
static void
t_open(const char *token)
{
	uint64_t seq;
	char tok[128];

	assert_int_equal(t_switch(1, -1, &seq), 0);
	assert_string_equal(t_call.op, "jobs.get");
	assert_string_equal(t_call.method, "GET");
	assert_string_equal(
	    t_call.path, RG "/providers/Microsoft.App/jobs/sk-j");
	assert_string_equal(t_call.api, "2025-07-01");
	t_answer("{\"properties\":{\"eventStreamEndpoint\":\"" EP "\"}}");
	assert_string_equal(t_call.op, "jobs.getAuthToken");
	assert_string_equal(t_call.method, "POST");
	assert_string_equal(
	    t_call.path, RG "/providers/Microsoft.App/jobs/sk-j/getAuthToken");
	assert_string_equal(t_call.api, ACA_STREAM_API);
	snprintf(
	    tok, sizeof(tok), "{\"properties\":{\"token\":\"%s\"}}", token);
	t_answer(tok);
	assert_string_equal(t_call.op, "jobs.executions.replicas");
	assert_string_equal(t_call.path,
	    RG
	    "/providers/Microsoft.App/jobs/sk-j/executions/sk-j-e1/replicas");
	t_answer("{\"value\":[{\"name\":\"sk-j-e1-r0\"},{\"name\":\"x\"}]}");
	assert_string_equal(t_call.op, "logstream");
	assert_string_equal(t_call.url,
	    "https://westeurope.azurecontainerapps.dev/subscriptions/s/"
	    "resourceGroups/g/jobs/sk-j/executions/sk-j-e1/replicas/"
	    "sk-j-e1-r0/containers/main/logstream");
	assert_string_equal(t_call.token, token);
	assert_int_equal(t_call.tail, ACA_STREAM_TAIL);
}

/* n lines from the stream, the i-th at ts0 + i seconds; odd ones stderr. */
static void
t_lines(size_t n, int64_t ts0)
{
	struct azure_log_entry *ev = xcalloc(n, sizeof(*ev));
	char(*text)[32] = xcalloc(n, sizeof(*text));

	for (size_t i = 0; i < n; i++) {
		int64_t sec = (ts0 - T0) / SEC + (int64_t)i;

		snprintf(text[i], sizeof(text[i]), "line-%lld", (long long)sec);
		ev[i].ts_ns = ts0 + (int64_t)i * SEC;
		ev[i].stream = (int)(i % 2) + 1;
		ev[i].text = text[i];
		ev[i].len = strlen(text[i]);
	}
	t_call.lcb(t_call.arg, ev, n, NULL, 0, NULL);
	free(text);
	free(ev);
}

/* The stream ends: the service closed it (ce NULL) or it failed. */
static void
t_stream_end(const struct cloud_error *ce)
{
	t_call.lcb(t_call.arg, NULL, 0, NULL, 0, ce);
}

static void
t_opening(void **state)
{
	const struct azure_log_entry *l;
	uint64_t seq;
	size_t n;
	int more;

	(void)state;
	/* Not running and not yet open: nothing is opened. */
	assert_int_equal(t_switch(0, -1, &seq), 0);
	assert_int_equal(t_ncalls, 0);
	t_open("tok-1");
	/* Connected, nothing yet: the follower stays on Log Analytics, and a
	 * second one opens nothing more. */
	assert_int_equal(t_switch(1, -1, &seq), 0);
	assert_int_equal(t_ncalls, 4);
	/* A tail of 3 lines: not full, so it holds the execution's whole
	 * output; but only once the settle delay has passed. */
	t_lines(3, T0 + 10 * SEC);
	assert_int_equal(t_switch(1, -1, &seq), 0);
	t_now += ACA_STREAM_SETTLE_MS * INT64_C(1000000);
	assert_int_equal(t_switch(1, -1, &seq), 1);
	/* From Log Analytics' nothing, the first line; from its line at
	 * T0+11, the third. */
	assert_int_equal(aca_stream_lines(EXEC, seq, 1, &l, &n, &more), 0);
	assert_int_equal(n, 3);
	assert_false(more);
	assert_int_equal(l[0].len, 7);
	assert_memory_equal(l[0].text, "line-10", 7);
	assert_int_equal(l[0].stream, 1);
	assert_int_equal(l[1].stream, 2);
	assert_int_equal(l[2].ts_ns, T0 + 12 * SEC);
	assert_int_equal(t_switch(1, T0 + 11 * SEC, &seq), 1);
	assert_int_equal(aca_stream_lines(EXEC, seq, 1, &l, &n, &more), 0);
	assert_int_equal(n, 1);
	assert_string_equal(l[0].text, "line-12");
	/* Past the end: nothing yet, not an error. */
	assert_int_equal(aca_stream_lines(EXEC, seq + 1, 1, &l, &n, &more), 0);
	assert_int_equal(n, 0);
	/* Beyond what it has: back to Log Analytics. */
	assert_int_equal(aca_stream_lines(EXEC, seq + 2, 1, &l, &n, &more), -1);
	/* Another execution has no stream. */
	assert_int_equal(aca_stream_lines(EXEC "x", seq, 1, &l, &n, &more), -1);
	assert_int_equal(t_nwarn, 0);
}

/* A full tail (ACA_STREAM_TAIL lines) may not hold the start: the
 * follower stays on Log Analytics until its time reaches the oldest
 * line; lines that come live later do not make a short tail full. */
static void
t_tail(void **state)
{
	const struct azure_log_entry *l;
	uint64_t seq;
	size_t n;
	int more;

	(void)state;
	t_open("tok");
	t_lines(ACA_STREAM_TAIL, T0 + 100 * SEC);
	t_now += 2 * SEC;
	assert_int_equal(t_switch(1, -1, &seq), 0);
	assert_int_equal(t_switch(1, T0 + 99 * SEC, &seq), 0);
	assert_int_equal(t_switch(1, T0 + 100 * SEC, &seq), 1);
	assert_int_equal(aca_stream_lines(EXEC, seq, 1, &l, &n, &more), 0);
	assert_int_equal(n, ACA_STREAM_TAIL - 1);
	assert_string_equal(l[0].text, "line-101");
	aca_stream_shutdown();

	/* A short tail, then many more lines live: still the whole output. */
	t_open("tok");
	t_lines(5, T0 + 10 * SEC);
	t_now += 2 * SEC;
	t_lines(2 * ACA_STREAM_TAIL, T0 + 15 * SEC);
	assert_int_equal(t_switch(1, -1, &seq), 1);
	assert_int_equal(aca_stream_lines(EXEC, seq, 1, &l, &n, &more), 0);
	assert_int_equal(n, 5 + 2 * ACA_STREAM_TAIL);
	assert_string_equal(l[0].text, "line-10");
}

/* Many lines: served ACA_STREAM_BATCH at a time; past ACA_STREAM_KEEP the
 * oldest are dropped and a follower behind them goes back to Log
 * Analytics. */
static void
t_keep(void **state)
{
	const struct azure_log_entry *l;
	uint64_t seq, seq0;
	size_t n;
	int more;

	(void)state;
	t_open("tok");
	t_lines(10, T0);
	t_now += 2 * SEC;
	assert_int_equal(t_switch(1, -1, &seq0), 1);
	t_lines(ACA_STREAM_BATCH + 5, T0 + 10 * SEC);
	assert_int_equal(aca_stream_lines(EXEC, seq0, 1, &l, &n, &more), 0);
	assert_int_equal(n, ACA_STREAM_BATCH);
	assert_true(more);
	seq = seq0 + n;
	assert_int_equal(aca_stream_lines(EXEC, seq, 1, &l, &n, &more), 0);
	assert_int_equal(n, 15);
	assert_false(more);
	assert_string_equal(l[14].text, "line-1014");
	t_lines(ACA_STREAM_KEEP, T0 + 2000 * SEC);
	assert_int_equal(aca_stream_lines(EXEC, seq0, 1, &l, &n, &more), -1);
	assert_true(s_first()->trimmed);
	assert_int_equal(s_first()->n, ACA_STREAM_KEEP / 2);
	/* Trimmed: a follower at a time before the oldest kept line stays on
	 * Log Analytics; one after it switches. */
	assert_int_equal(t_switch(1, T0, &seq), 0);
	assert_int_equal(t_switch(1, T0 + 20000 * SEC, &seq), 1);
	assert_int_equal(aca_stream_lines(EXEC, seq, 1, &l, &n, &more), 0);
	assert_string_equal(l[0].text, "line-20001");
}

/* Each opening call's failure: a clear warning naming the step, the
 * followers on Log Analytics, tried again after ACA_STREAM_RETRY_S. */
static void
t_failures(void **state)
{
	static const struct {
		int step; /* the call that fails or answers oddly */
		const char *answer;
		const char *warn;
	} cases[] = {
		{ 0, NULL, "reading the job: ResourceNotFound: gone" },
		{ 0, "{\"properties\":{}}",
		    "the job has no eventStreamEndpoint" },
		{ 0, "[1,2]", "the job has no eventStreamEndpoint" },
		{ 1, NULL, "getAuthToken: ResourceNotFound: gone" },
		{ 1, "{\"properties\":{\"token\":7}}",
		    "getAuthToken gave no token" },
		{ 2, NULL, "listing the replicas: ResourceNotFound: gone" },
		{ 2, "{\"value\":[]}", "the execution has no replica yet" },
		{ 2, "{\"value\":{}}", "the execution has no replica yet" },
	};
	static const char exec2[] = "/x";
	char job[sizeof(((struct aca_stream *)NULL)->job) + 1];
	const struct azure_log_entry *l;
	uint64_t seq;
	size_t n;
	int more;

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		t_setup(NULL);
		assert_int_equal(t_switch(1, -1, &seq), 0);
		if (cases[i].step >= 1)
			t_answer("{\"properties\":{\"eventStreamEndpoint\":"
				 "\"" EP "\"}}");
		if (cases[i].step >= 2)
			t_answer("{\"properties\":{\"token\":\"t\"}}");
		if (cases[i].answer != NULL)
			t_answer(cases[i].answer);
		else
			t_answer_error(404, "ResourceNotFound", "gone");
		assert_int_equal(t_nwarn, 1);
		assert_non_null(strstr(t_warn, "log stream of sk-j-e1"));
		assert_non_null(strstr(t_warn, cases[i].warn));
		assert_non_null(strstr(t_warn, "through Log Analytics"));
		assert_int_equal(s_first()->state, ACA_ST_FAILED);
		assert_int_equal(s_first()->call, 0);
		assert_int_equal(
		    aca_stream_lines(EXEC, 0, 1, &l, &n, &more), -1);
		/* Not again before the retry delay, then from the failed
		 * step on. */
		t_ncalls = 0;
		t_now += (ACA_STREAM_RETRY_S - 1) * SEC;
		assert_int_equal(t_switch(1, -1, &seq), 0);
		assert_int_equal(t_ncalls, 0);
		t_now += SEC;
		assert_int_equal(t_switch(1, -1, &seq), 0);
		assert_int_equal(t_ncalls, 1);
		assert_string_equal(t_call.op,
		    cases[i].step == 0 ? "jobs.get" : "jobs.getAuthToken");
		aca_stream_shutdown();
	}
	/* An endpoint not of the stream's shape. */
	t_setup(NULL);
	assert_int_equal(t_switch(1, -1, &seq), 0);
	t_answer("{\"properties\":{\"eventStreamEndpoint\":\"https://x/y\"}}");
	t_answer("{\"properties\":{\"token\":\"t\"}}");
	t_answer("{\"value\":[{\"name\":\"r\"}]}");
	assert_non_null(strstr(t_warn, "not a stream URL"));
	assert_int_equal(s_first()->state, ACA_ST_FAILED);
	/* A job name too long for the stream: no stream at all. */
	memset(job, 'j', sizeof(job) - 1);
	job[sizeof(job) - 1] = '\0';
	assert_int_equal(
	    aca_stream_switch(exec2, job, exec2 + 1, 1, -1, &seq), 0);
	assert_null(aca_stream_find(exec2));
}

/* The stream fails while open (its lines go), or the service closes it:
 * at the exit the lines are served to the end; while the execution runs
 * (the token expired) they are served for the retry delay, then the
 * stream is opened again with a new token and the old sequence numbers
 * are refused. */
static void
t_closed(void **state)
{
	struct cloud_error ce;
	const struct azure_log_entry *l;
	uint64_t seq, seq2;
	size_t n;
	int more;

	(void)state;
	t_open("tok-1");
	t_lines(4, T0);
	t_now += 2 * SEC;
	memset(&ce, 0, sizeof(ce));
	ce.http_status = 401;
	str_lcpy(ce.code, "InvalidAuthenticationToken", sizeof(ce.code));
	str_lcpy(ce.message, "expired", sizeof(ce.message));
	t_stream_end(&ce);
	assert_non_null(
	    strstr(t_warn, "the stream: InvalidAuthenticationToken"));
	assert_int_equal(t_switch(1, -1, &seq), 0);
	assert_int_equal(aca_stream_lines(EXEC, 0, 1, &l, &n, &more), -1);
	aca_stream_shutdown();
	t_ncalls = 0;

	/* Closed at the exit: served to the end. */
	t_open("tok-1");
	t_lines(4, T0);
	t_now += 2 * SEC;
	assert_int_equal(t_switch(1, -1, &seq), 1);
	t_stream_end(NULL);
	assert_int_equal(s_first()->state, ACA_ST_ENDED);
	t_now += 60 * SEC;
	assert_int_equal(aca_stream_lines(EXEC, seq, 0, &l, &n, &more), 0);
	assert_int_equal(n, 4);
	assert_int_equal(t_switch(0, T0 + SEC, &seq), 1);
	assert_int_equal(t_ncalls, 4);
	aca_stream_shutdown();

	/* Closed while it runs: the token expired. */
	t_open("tok-1");
	t_lines(4, T0);
	t_now += 2 * SEC;
	assert_int_equal(t_switch(1, -1, &seq), 1);
	t_stream_end(NULL);
	assert_int_equal(aca_stream_lines(EXEC, seq, 1, &l, &n, &more), 0);
	assert_int_equal(n, 4);
	t_now += ACA_STREAM_RETRY_S * SEC;
	assert_int_equal(aca_stream_lines(EXEC, seq, 1, &l, &n, &more), -1);
	t_ncalls = 0;
	assert_int_equal(t_switch(1, T0 + 3 * SEC, &seq2), 0);
	/* A new token (the endpoint is kept), then the replicas. */
	assert_string_equal(t_call.op, "jobs.getAuthToken");
	t_answer("{\"properties\":{\"token\":\"tok-2\"}}");
	t_answer("{\"value\":[{\"name\":\"sk-j-e1-r0\"}]}");
	assert_string_equal(t_call.token, "tok-2");
	assert_int_equal(t_ncalls, 3);
	t_lines(6, T0);
	t_now += 2 * SEC;
	assert_int_equal(aca_stream_lines(EXEC, seq, 1, &l, &n, &more), -1);
	assert_int_equal(aca_stream_lines(EXEC, seq + 4, 1, &l, &n, &more), -1);
	assert_int_equal(t_switch(1, T0 + 3 * SEC, &seq2), 1);
	assert_true(seq2 >= seq + (UINT64_C(1) << 32));
	assert_int_equal(aca_stream_lines(EXEC, seq2, 1, &l, &n, &more), 0);
	assert_int_equal(n, 2);
	assert_string_equal(l[0].text, "line-4");
}

/* Streams no follower read for ACA_STREAM_IDLE_S go, their call
 * cancelled; the others stay. */
static void
t_idle(void **state)
{
	static const char exec2[] = EXEC "2";
	struct event_base *base = event_base_new();
	uint64_t seq, id;

	(void)state;
	aca_stream_timer = evtimer_new(base, aca_stream_sweep, NULL);
	t_open("tok");
	id = t_call.id;
	assert_true(evtimer_pending(aca_stream_timer, NULL));
	assert_int_equal(aca_stream_switch(exec2, "sk-j",
			     strrchr(exec2, '/') + 1, 1, -1, &seq),
	    0);
	t_now += ACA_STREAM_IDLE_S * SEC - 1;
	aca_stream_sweep(-1, 0, NULL);
	assert_non_null(aca_stream_find(EXEC));
	t_now += 2;
	aca_stream_sweep(-1, 0, NULL);
	assert_non_null(aca_stream_find(EXEC));
	assert_null(aca_stream_find(exec2));
	t_now += ACA_STREAM_IDLE_S * SEC;
	aca_stream_sweep(-1, 0, NULL);
	assert_null(aca_stream_find(EXEC));
	assert_int_equal(t_cancelled, id);
	assert_true(LIST_EMPTY(&aca_streams));
	aca_stream_shutdown();
	event_base_free(base);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(t_opening, t_setup, t_teardown),
		cmocka_unit_test_setup_teardown(t_tail, t_setup, t_teardown),
		cmocka_unit_test_setup_teardown(t_keep, t_setup, t_teardown),
		cmocka_unit_test_setup_teardown(
		    t_failures, t_setup, t_teardown),
		cmocka_unit_test_setup_teardown(t_closed, t_setup, t_teardown),
		cmocka_unit_test_setup_teardown(t_idle, t_setup, t_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
