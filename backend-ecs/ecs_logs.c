/* Container output from CloudWatch Logs: one awslogs stream per task
 * (sockerless/main/<task id>), read with GetLogEvents. A container that ran
 * several times has several streams, read in order. The cursor is
 * "<run index>|<forward token>". awslogs merges stdout and stderr: without
 * the agent every event is stdout; with it (and no TTY) the agent's marks
 * tell them apart (docs/agent-link.md, "The wrapper"). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ecs.h"
#include "sockerless/json.h"
#include "sockerless/log.h"
#include "sockerless/str.h"
#include "sockerless/xmalloc.h"

/* One read, owned by its call (aws_json_call_owned): freed after the
 * callback, or without it when the backend stops with the read in
 * flight. */
struct ecs_logs_op {
	backend_logs_fn fn;
	void *arg;
	int idx, nruns;
	int marked; /* events carry the agent's stdout/stderr marks */
	int tty;    /* events are a TTY's lines (kit_logs_tty) */
	char *token;
};

static void
ecs_logs_op_free(void *arg)
{
	struct ecs_logs_op *op = arg;

	free(op->token);
	free(op);
}

static void
ecs_logs_got(void *arg, const cJSON *out, const struct aws_error *ae)
{
	struct ecs_logs_op *op = arg;
	const cJSON *events = json_arr(out, "events"), *it;
	const char *next = json_str(out, "nextForwardToken");
	struct backend_log_event *ev = NULL;
	size_t n = 0;
	char *cursor;
	int at_end;

	if (ae != NULL && strcmp(ae->code, "ResourceNotFoundException") != 0) {
		struct err e;
		aws_error_to_err(ae, &e);
		err_wrap(&e, "reading CloudWatch Logs");
		op->fn(op->arg, NULL, 0, NULL, 0, &e);
		goto out;
	}
	ev = xcalloc((size_t)cJSON_GetArraySize(events) + 1, sizeof(*ev));
	cJSON_ArrayForEach(it, events) {
		const char *msg = json_str(it, "message");
		if (msg == NULL)
			continue;
		/* Milliseconds past 2262 are garbage: keep the line, at 0. */
		if (__builtin_mul_overflow(
			json_int(it, "timestamp", 0), 1000000, &ev[n].ts_ns))
			ev[n].ts_ns = 0;
		ev[n].stream = STDSTREAM_STDOUT;
		ev[n].msg = msg;
		ev[n].len = strlen(msg);
		if (op->marked)
			kit_logs_unmark(&ev[n]);
		else if (op->tty)
			kit_logs_tty(&ev[n]);
		n++;
	}
	/* The same forward token again means the end of this stream. */
	at_end = n == 0 || next == NULL ||
	    (op->token != NULL && strcmp(next, op->token) == 0);
	if (at_end && op->idx + 1 < op->nruns) {
		cursor = xasprintf("%d|", op->idx + 1);
		at_end = 0;
	} else {
		cursor = xasprintf("%d|%s", op->idx,
		    next != NULL ? next : (op->token ? op->token : ""));
	}
	op->fn(op->arg, ev, n, cursor, at_end, NULL);
	free(cursor);
out:
	free(ev);
}

/* The run to start from: the last one created before since_ns. */
static int
ecs_logs_first_run(const cJSON *runs, int64_t since_ns)
{
	int idx = 0, i = 0;
	const cJSON *it;

	cJSON_ArrayForEach(it, runs) {
		if (since_ns > 0 &&
		    json_int(it, ECS_P_RUN_CREATED, 0) <= since_ns)
			idx = i;
		i++;
	}
	return idx;
}

void
ecs_logs_fetch(struct backend *b, struct container *c, const char *cursor,
    int64_t since_ns, backend_logs_fn fn, void *arg)
{
	const cJSON *runs = json_arr(container_private(c), ECS_P_TASKS);
	struct ecs_logs_op *op = xcalloc(1, sizeof(*op));
	const char *arn, *taskid, *bar;
	cJSON *in;
	char *stream;
	struct err e;

	(void)b;
	op->fn = fn;
	op->arg = arg;
	op->nruns = cJSON_GetArraySize(runs);
	op->tty = json_bool(container_config(c), "Tty", 0);
	op->marked =
	    json_bool(container_private(c), ECS_P_AGENT, 0) && !op->tty;
	if (cursor != NULL && (bar = strchr(cursor, '|')) != NULL) {
		if ((op->idx = kit_cursor_run(cursor, bar, op->nruns)) == -1) {
			/* Only this file writes cursors: a bad one is a bug. */
			err_set(&e, 500, "ecs logs: bad cursor \"%s\"", cursor);
			fn(arg, NULL, 0, NULL, 1, &e);
			ecs_logs_op_free(op);
			return;
		}
		if (bar[1] != '\0')
			op->token = xstrdup(bar + 1);
	} else {
		op->idx = ecs_logs_first_run(runs, since_ns);
	}
	arn = json_str(cJSON_GetArrayItem(runs, op->idx), ECS_P_RUN_ARN);
	if (arn == NULL) {
		/* Never ran: no output yet. */
		fn(arg, NULL, 0, cursor, 1, NULL);
		ecs_logs_op_free(op);
		return;
	}
	taskid = strrchr(arn, '/') != NULL ? strrchr(arn, '/') + 1 : arn;
	stream = xasprintf(
	    "%s/%s/%s", ECS_STREAM_PREFIX, ECS_CONTAINER_NAME, taskid);
	in = cJSON_CreateObject();
	json_add_str(in, "logGroupName", ecs_conf.log_group);
	json_add_str(in, "logStreamName", stream);
	json_add_bool(in, "startFromHead", 1);
	if (op->token != NULL)
		json_add_str(in, "nextToken", op->token);
	else if (since_ns > 0)
		json_add_int(in, "startTime", since_ns / 1000000);
	free(stream);
	aws_json_call_owned(ecs_aws.aws, "logs", "GetLogEvents", in,
	    ecs_logs_got, op, ecs_logs_op_free);
}
