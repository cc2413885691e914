/* What an invocation answered: the exit status and the output, from the
 * agent's envelope (derived images: the whole output, stdout and stderr
 * apart) or else from the log tail Lambda returns with the answer
 * (X-Amz-Log-Type: Tail) and the answer's payload. The output is kept as log
 * lines in the container's state and serves docker logs and the read-only
 * attach of docker run; CloudWatch Logs has all of it, later. */
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lambda.h"
#include "sockerless/buf.h"
#include "sockerless/json.h"
#include "sockerless/log.h"
#include "sockerless/str.h"
#include "sockerless/xmalloc.h"

/* The most of a function's answer kept as output. */
#define LAMBDA_MAX_KEPT (1024 * 1024)

/* Lines being assembled from the envelope's chunks, one per stream. */
struct lambda_lines {
	cJSON *out;	    /* [[stream, ts_us, "line"], ...] */
	struct buf part[3]; /* partial line of stdout (1), stderr (2) */
	int64_t part_us[3];
};

static void
lambda_lines_emit(
    struct lambda_lines *l, int s, int64_t us, const char *p, size_t n)
{
	cJSON *row = cJSON_CreateArray();
	char *line = xstrndup(p, n);

	cJSON_AddItemToArray(row, cJSON_CreateNumber(s));
	cJSON_AddItemToArray(row, cJSON_CreateNumber((double)us));
	cJSON_AddItemToArray(row, cJSON_CreateString(line));
	cJSON_AddItemToArray(l->out, row);
	free(line);
}

static void
lambda_lines_add(
    struct lambda_lines *l, int s, int64_t us, const char *p, size_t n)
{
	const char *nl;

	while (n > 0) {
		if (l->part[s].len == 0)
			l->part_us[s] = us;
		if ((nl = memchr(p, '\n', n)) == NULL) {
			buf_add(&l->part[s], p, n);
			return;
		}
		if (l->part[s].len > 0) {
			buf_add(&l->part[s], p, (size_t)(nl - p));
			lambda_lines_emit(l, s, l->part_us[s], l->part[s].data,
			    l->part[s].len);
			buf_reset(&l->part[s]);
		} else {
			lambda_lines_emit(l, s, us, p, (size_t)(nl - p));
		}
		n -= (size_t)(nl - p) + 1;
		p = nl + 1;
	}
}

static void
lambda_lines_flush(struct lambda_lines *l)
{
	for (int s = 1; s <= 2; s++) {
		if (l->part[s].len > 0)
			lambda_lines_emit(l, s, l->part_us[s], l->part[s].data,
			    l->part[s].len);
		buf_reset(&l->part[s]);
	}
}

/* A note from sockerless itself, on stderr, after the output. */
static void lambda_lines_note(struct lambda_lines *l, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
lambda_lines_note(struct lambda_lines *l, const char *fmt, ...)
{
	va_list ap;
	char *s;

	va_start(ap, fmt);
	if (vasprintf(&s, fmt, ap) == -1)
		s = NULL;
	va_end(ap);
	if (s != NULL)
		lambda_lines_emit(l, 2, str_now_ns() / 1000, s, strlen(s));
	free(s);
}

/* "2024-01-01T00:00:00.000Z <id> Task timed out after 3.00 seconds" */
static int
lambda_out_timeout_line(const char *p, size_t len)
{
	char *line = xstrndup(p, len);
	int r = strstr(line, "Task timed out after ") != NULL;

	free(line);
	return r;
}

/* X-Amz-Log-Result: base64 of the invocation log's last 4 KB. The
 * workload's lines are the output (Lambda merges stdout and stderr); the
 * platform's START/END/REPORT lines are not. When START is missing the
 * log was cut: its first, partial line is dropped and a note says where
 * the rest is. */
static void
lambda_out_tail(const char *log_result, struct lambda_lines *l)
{
	size_t n, len;
	char *text, *p;
	int cut;

	if (log_result == NULL ||
	    (text = str_base64_decode(log_result, &n)) == NULL)
		return;
	cut = strstr(text, "START RequestId: ") == NULL;
	for (p = text; *p != '\0'; p += len + (p[len] == '\n')) {
		len = strcspn(p, "\n");
		if ((cut && p == text) || str_prefix(p, "START RequestId: ") ||
		    str_prefix(p, "END RequestId: ") ||
		    str_prefix(p, "REPORT RequestId: ") ||
		    str_prefix(p, "INIT_START ") ||
		    lambda_out_timeout_line(p, len))
			continue;
		lambda_lines_emit(l, 1, str_now_ns() / 1000, p, len);
	}
	if (cut)
		lambda_lines_note(l,
		    "sockerless: only the last 4 KB of the output came back "
		    "with the invocation; all of it is in CloudWatch Logs "
		    "group %s",
		    lambda_conf.log_group);
	free(text);
}

/* The agent's envelope (docs/agent.md): {"sockerless":1,"exitCode":N,
 * "signal":..,"timedOut":b,"output":[[stream,ts_us,"base64"],...],
 * "outputTruncated":b}. stdout and stderr stay apart. */
static int
lambda_out_envelope(const cJSON *env, struct lambda_lines *l)
{
	const cJSON *rec;
	int code = (int)json_int(env, "exitCode", 1);

	cJSON_ArrayForEach(rec, json_arr(env, "output")) {
		const cJSON *st = cJSON_GetArrayItem(rec, 0);
		const cJSON *ts = cJSON_GetArrayItem(rec, 1);
		const cJSON *d = cJSON_GetArrayItem(rec, 2);
		size_t n;
		char *bytes;

		if (!cJSON_IsNumber(st) || !cJSON_IsNumber(ts) ||
		    !cJSON_IsString(d) ||
		    (st->valueint != 1 && st->valueint != 2) ||
		    (bytes = str_base64_decode(d->valuestring, &n)) == NULL)
			continue;
		lambda_lines_add(
		    l, st->valueint, (int64_t)ts->valuedouble, bytes, n);
		free(bytes);
	}
	lambda_lines_flush(l);
	if (json_bool(env, "outputTruncated", 0))
		lambda_lines_note(l,
		    "sockerless: the output was larger than a Lambda answer "
		    "may be; all of it is in CloudWatch Logs group %s",
		    lambda_conf.log_group);
	if (json_bool(env, "timedOut", 0))
		lambda_lines_note(l,
		    "sockerless: the Lambda time limit (%lld s, "
		    "lambda.timeout) ended the container",
		    lambda_conf.timeout);
	return code;
}

/* The number after "exit status " in a runtime's error: Go's os/exec
 * writes 0-255 there. Anything else was not written by it: 1, as for other
 * runtime errors. */
static int
lambda_out_exit_status(const char *p)
{
	char digits[4];
	size_t n = strspn(p, "0123456789");
	long long v;

	if (n == 0 || n >= sizeof(digits))
		return 1;
	memcpy(digits, p, n);
	digits[n] = '\0';
	if (str_tonum(digits, 0, 255, &v, NULL) == -1)
		return 1;
	return (int)v;
}

/* A function error: the process exited or was killed during the
 * invocation (Runtime.ExitError carries its status, which is the exit
 * code, 0 included), the time limit, an unusable entrypoint, or an image
 * with its own runtime that reported an error (exit code 1). */
static int
lambda_out_error(
    const cJSON *o, const char *body, size_t len, struct lambda_lines *l)
{
	const char *type = json_str(o, "errorType");
	const char *msg = json_str(o, "errorMessage");
	const char *p;
	char *s;

	if (type != NULL && strcmp(type, "Runtime.ExitError") == 0 &&
	    msg != NULL) {
		if ((p = strstr(msg, "exit status ")) != NULL)
			return lambda_out_exit_status(
			    p + strlen("exit status "));
		if (strstr(msg, "signal: killed") != NULL)
			return 137;
	}
	if ((type != NULL && strcmp(type, "Sandbox.Timedout") == 0) ||
	    (msg != NULL && strstr(msg, "Task timed out") != NULL)) {
		lambda_lines_note(l,
		    "sockerless: the Lambda time limit (%lld s, "
		    "lambda.timeout) ended the container",
		    lambda_conf.timeout);
		return 137;
	}
	if (msg != NULL)
		s = xasprintf("%s: %s", type != NULL ? type : "Error", msg);
	else
		s = xstrndup(body, len > 1024 ? 1024 : len);
	lambda_lines_note(l, "sockerless: Lambda reported %s", s);
	free(s);
	return type != NULL && strstr(type, "InvalidEntrypoint") != NULL ? 127 :
									   1;
}

/* An image with its own runtime: its answer is output too. */
static void
lambda_out_answer(struct lambda_lines *l, const char *body, size_t len)
{
	lambda_lines_add(l, 1, str_now_ns() / 1000, body,
	    len > LAMBDA_MAX_KEPT ? LAMBDA_MAX_KEPT : len);
	lambda_lines_flush(l);
	if (len > LAMBDA_MAX_KEPT)
		lambda_lines_note(l,
		    "sockerless: the answer was %zu bytes; the first %d are "
		    "shown",
		    len, LAMBDA_MAX_KEPT);
}

int
lambda_out_decode(struct backend *b, struct container *c, int status,
    const char *function_error, const char *log_result, const char *body,
    size_t len, const char *request_id)
{
	struct lambda_lines l;
	cJSON *o = len > 0 ? cJSON_ParseWithLength(body, len) : NULL;
	int code = 0;

	(void)status;
	memset(&l, 0, sizeof(l));
	l.out = cJSON_CreateArray();
	for (int i = 1; i <= 2; i++)
		buf_init(&l.part[i], 0);
	if (cJSON_IsObject(o) && json_int(o, "sockerless", 0) == 1) {
		code = lambda_out_envelope(o, &l);
	} else {
		lambda_out_tail(log_result, &l);
		if (function_error != NULL)
			code = lambda_out_error(o, body, len, &l);
		else if (len > 0 && !(len == 4 && memcmp(body, "null", 4) == 0))
			lambda_out_answer(&l, body, len);
	}
	for (int i = 1; i <= 2; i++)
		buf_free(&l.part[i]);
	/* In the container's own state: a docker run --rm reads it after
	 * the container is gone. */
	(void)request_id;
	json_set(container_private(c), "Output", l.out);
	backend_container_save(b, c);
	cJSON_Delete(o);
	return code;
}

void
lambda_out_forget(struct backend *b, struct container *c)
{
	(void)b;
	cJSON_DeleteItemFromObjectCaseSensitive(container_private(c), "Output");
}

/* The cursor is the index of the next line. Output exists only once the
 * invocation answered: before that there is nothing to read yet. */
void
lambda_logs_fetch(struct backend *b, struct container *c, const char *cursor,
    int64_t since_ns, backend_logs_fn fn, void *arg)
{
	const cJSON *lines = json_arr(container_private(c), "Output"), *row;
	char next[32];
	struct backend_log_event *ev = NULL;
	size_t n = 0;
	int i = 0;
	long long from = 0;
	int64_t us;
	struct err e;

	(void)b;
	if (cursor != NULL &&
	    str_tonum(cursor, 0, INT_MAX, &from, NULL) == -1) {
		/* Only this file writes cursors: a bad one is a bug. */
		err_set(&e, 500, "lambda logs: bad cursor \"%s\"", cursor);
		fn(arg, NULL, 0, NULL, 1, &e);
		return;
	}
	ev = xcalloc((size_t)cJSON_GetArraySize(lines) + 1, sizeof(*ev));
	cJSON_ArrayForEach(row, lines) {
		const cJSON *st = cJSON_GetArrayItem(row, 0);
		const cJSON *ts = cJSON_GetArrayItem(row, 1);
		const cJSON *msg = cJSON_GetArrayItem(row, 2);
		if (i++ < from || !cJSON_IsString(msg) || !cJSON_IsNumber(st) ||
		    !cJSON_IsNumber(ts))
			continue;
		/* Times out of range are garbage: keep the line, at time 0. */
		if (json_num_int(ts->valuedouble, &us) == -1 ||
		    __builtin_mul_overflow(us, 1000, &ev[n].ts_ns))
			ev[n].ts_ns = 0;
		if (ev[n].ts_ns < since_ns)
			continue;
		ev[n].stream =
		    st->valueint == 2 ? STDSTREAM_STDERR : STDSTREAM_STDOUT;
		ev[n].msg = msg->valuestring;
		ev[n].len = strlen(msg->valuestring);
		n++;
	}
	snprintf(next, sizeof(next), "%lld", i > from ? (long long)i : from);
	fn(arg, ev, n, next, 1, NULL);
	free(ev);
}
