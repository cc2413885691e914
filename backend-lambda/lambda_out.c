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

/* "2024-01-01T00:00:00.000Z <id> Task timed out after 3.00 seconds" */
static int
lambda_out_timeout_line(const char *p, size_t len)
{
	char *line = xstrndup(p, len);
	int r = strstr(line, "Task timed out after ") != NULL;

	free(line);
	return r;
}

int
lambda_out_platform_line(const char *m)
{
	return str_prefix(m, "START RequestId: ") ||
	    str_prefix(m, "END RequestId: ") ||
	    str_prefix(m, "REPORT RequestId: ") || str_prefix(m, "INIT_START ");
}

/* X-Amz-Log-Result: base64 of the invocation log's last 4 KB. The
 * workload's lines are the output (Lambda merges stdout and stderr); the
 * platform's START/END/REPORT lines are not. When START is missing the
 * log was cut: its first, partial line is dropped and a note says where
 * the rest is. */
static void
lambda_out_tail(const char *log_result, struct kit_lines *l)
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
		if ((cut && p == text) || lambda_out_platform_line(p) ||
		    lambda_out_timeout_line(p, len))
			continue;
		kit_lines_emit(l, 1, str_now_ns() / 1000, p, len);
	}
	if (cut)
		kit_lines_note(l,
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
lambda_out_envelope(const cJSON *env, struct kit_lines *l)
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
		kit_lines_add(
		    l, st->valueint, (int64_t)ts->valuedouble, bytes, n);
		free(bytes);
	}
	kit_lines_flush(l);
	if (json_bool(env, "outputTruncated", 0))
		kit_lines_note(l,
		    "sockerless: the output was larger than a Lambda answer "
		    "may be; all of it is in CloudWatch Logs group %s",
		    lambda_conf.log_group);
	if (json_bool(env, "timedOut", 0))
		kit_lines_note(l,
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
    const cJSON *o, const char *body, size_t len, struct kit_lines *l)
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
		kit_lines_note(l,
		    "sockerless: the Lambda time limit (%lld s, "
		    "lambda.timeout) ended the container",
		    lambda_conf.timeout);
		return 137;
	}
	if (msg != NULL)
		s = xasprintf("%s: %s", type != NULL ? type : "Error", msg);
	else
		s = xstrndup(body, len > 1024 ? 1024 : len);
	kit_lines_note(l, "sockerless: Lambda reported %s", s);
	free(s);
	return type != NULL && strstr(type, "InvalidEntrypoint") != NULL ? 127 :
									   1;
}

/* An image with its own runtime: its answer is output too. */
static void
lambda_out_answer(struct kit_lines *l, const char *body, size_t len)
{
	kit_lines_add(l, 1, str_now_ns() / 1000, body,
	    len > LAMBDA_MAX_KEPT ? LAMBDA_MAX_KEPT : len);
	kit_lines_flush(l);
	if (len > LAMBDA_MAX_KEPT)
		kit_lines_note(l,
		    "sockerless: the answer was %zu bytes; the first %d are "
		    "shown",
		    len, LAMBDA_MAX_KEPT);
}

int
lambda_out_decode(struct backend *b, struct container *c, int status,
    const char *function_error, const char *log_result, const char *body,
    size_t len, const char *request_id)
{
	struct kit_lines l;
	cJSON *o = len > 0 ? cJSON_ParseWithLength(body, len) : NULL;
	int code = 0;

	(void)status;
	kit_lines_init(&l);
	if (cJSON_IsObject(o) && json_int(o, "sockerless", 0) == 1) {
		code = lambda_out_envelope(o, &l);
	} else {
		lambda_out_tail(log_result, &l);
		if (function_error != NULL)
			code = lambda_out_error(o, body, len, &l);
		else if (len > 0 && !(len == 4 && memcmp(body, "null", 4) == 0))
			lambda_out_answer(&l, body, len);
	}
	/* In the container's own state: a docker run --rm reads it after
	 * the container is gone. */
	(void)request_id;
	kit_lines_keep(&l, b, c);
	cJSON_Delete(o);
	return code;
}
