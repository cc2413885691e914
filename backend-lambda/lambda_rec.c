/* Recovery after a backend restart. An invocation's synchronous answer
 * went with the old process, but the agent's marker lines are in
 * CloudWatch Logs (docs/agent.md): "started" names the request, "exit
 * status N" ends it, and the lines between them in the same log stream are
 * its output. Functions that a create cut short are found by their tags
 * and deleted. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>

#include "lambda.h"
#include "sockerless/buf.h"
#include "sockerless/httpcli.h"
#include "sockerless/json.h"
#include "sockerless/log.h"
#include "sockerless/xmalloc.h"

#define LAMBDA_REC_POLL_MS 1000
/* Clock slack between this machine and CloudWatch's timestamps. */
#define LAMBDA_REC_SLACK_MS 5000
#define LAMBDA_MARK	    "sockerless-agent: container "
/* Lines of the run stored up to this long after its exit marker. */
#define LAMBDA_REC_TAIL_MS   2000
#define LAMBDA_REC_SETTLE_MS 1000

/* One container whose invocation is being recovered. */
struct lambda_rec {
	struct kit_op k;     /* the container, the timer */
	int64_t since_ms;    /* the run's start, less the slack */
	int64_t deadline_ns; /* give up: the function's timeout is past */
	char *rid, *stream;
	int64_t started_ms, exit_ms;
	int code;
	TAILQ_ENTRY(lambda_rec) entry;
};
static TAILQ_HEAD(, lambda_rec) lambda_recs = TAILQ_HEAD_INITIALIZER(
    lambda_recs);

static void lambda_rec_look(struct kit_op *k);

/* The recovery ends (kit_op_end): the record goes. */
static void
lambda_rec_done(void *arg, const struct err *e)
{
	struct lambda_rec *r = arg;

	(void)e;
	TAILQ_REMOVE(&lambda_recs, r, entry);
	free(r->rid);
	free(r->stream);
}

/* The process's end with its status unknown: what the answer said before
 * this recovery existed, kept for when CloudWatch has no marker. */
static void
lambda_rec_lost(struct lambda_rec *r)
{
	char *error = xasprintf("the backend restarted while function %s ran, "
				"and CloudWatch Logs group %s has no exit "
				"marker of the run, so its exit status is "
				"unknown",
	    json_str(container_private(r->k.c), LAMBDA_P_FUNCTION),
	    lambda_conf.log_group);

	log_warnx("container %.12s: %s", r->k.c->id, error);
	backend_container_exited(r->k.b, r->k.c, 125, str_now_ns(), error);
	free(error);
	kit_op_end(&r->k, NULL);
}

/* "... request <RID> started" or "... request <RID> exit status N...":
 * 1 and 2 with the RID copied into rid, 0 for anything else. */
static int
lambda_rec_marker(
    const char *msg, const char *cid, char *rid, size_t ridsz, int *code)
{
	const char *p, *end;
	size_t cl = strlen(cid);

	if ((p = strstr(msg, LAMBDA_MARK)) == NULL)
		return 0;
	p += strlen(LAMBDA_MARK);
	if (strncmp(p, cid, cl) != 0 || strncmp(p + cl, " request ", 9) != 0)
		return 0;
	p += cl + 9;
	if ((end = strchr(p, ' ')) == NULL || (size_t)(end - p) >= ridsz)
		return 0;
	memcpy(rid, p, (size_t)(end - p));
	rid[end - p] = '\0';
	if (strncmp(end, " started", 8) == 0)
		return 1;
	if (strncmp(end, " exit status ", 13) == 0) {
		/* The log line comes from the cloud: a status that is not a
		 * number in int's range is no marker (atoi would say 0). */
		char *stop;
		long v;

		errno = 0;
		v = strtol(end + 13, &stop, 10);
		if (stop == end + 13 || errno != 0 || v < INT_MIN ||
		    v > INT_MAX)
			return 0;
		*code = (int)v;
		return 2;
	}
	return 0;
}

/* The output: the stream's lines between the platform's START and END
 * lines of the request (or another request's start). Neither marker of
 * the agent bounds it: the command's stdout and the markers (stderr)
 * travel apart, so a first line may be stored before the started marker,
 * with the same or an earlier timestamp, and a last one after the exit
 * marker. CloudWatch merges the two streams. */
static int
lambda_rec_platform(const char *m, const char *what, const char *rid)
{
	size_t w = strlen(what), n = strlen(rid);

	return strncmp(m, what, w) == 0 && strncmp(m + w, rid, n) == 0 &&
	    (m[w + n] == '\0' || m[w + n] == ' ' || m[w + n] == '\n');
}

static void
lambda_rec_output(void *arg, const cJSON *out, const struct aws_error *ae)
{
	struct lambda_rec *r = arg;
	struct kit_lines l;
	const cJSON *ev;
	char rid[128];
	int in = 0, code, kind, n;

	kit_lines_init(&l);
	if (ae != NULL)
		log_warnx(
		    "container %.12s: reading its output from CloudWatch: "
		    "%s: %s",
		    r->k.c->id, ae->code, ae->message);
	cJSON_ArrayForEach(ev, json_arr(out, "events")) {
		const char *m = json_str(ev, "message");
		size_t len;
		if (m == NULL)
			continue;
		kind =
		    lambda_rec_marker(m, r->k.c->id, rid, sizeof(rid), &code);
		if (lambda_rec_platform(m, "START RequestId: ", r->rid)) {
			in = 1;
			continue;
		}
		if (kind == 1) {
			in = strcmp(rid, r->rid) == 0;
			continue;
		}
		if (in && lambda_rec_platform(m, "END RequestId: ", r->rid))
			break;
		if (!in || kind != 0 || lambda_out_platform_line(m))
			continue;
		len = strlen(m);
		if (len > 0 && m[len - 1] == '\n')
			len--;
		kit_lines_emit(
		    &l, 1, json_int(ev, "timestamp", 0) * 1000, m, len);
	}
	n = cJSON_GetArraySize(l.out);
	kit_lines_keep(&l, r->k.b, r->k.c);
	json_set(container_private(r->k.c), LAMBDA_P_REQUEST,
	    cJSON_CreateString(r->rid));
	log_info("container %.12s: recovered the exit status %d and %d output "
		 "lines of request %s from CloudWatch Logs",
	    r->k.c->id, r->code, n, r->rid);
	backend_container_exited(
	    r->k.b, r->k.c, r->code, r->exit_ms * 1000000LL, NULL);
	kit_op_end(&r->k, NULL);
}

static void
lambda_rec_fetch_output(struct lambda_rec *r)
{
	cJSON *in = cJSON_CreateObject();

	json_add_str(in, "logGroupName", lambda_conf.log_group);
	cJSON_AddItemToObject(in, "logStreamNames",
	    cJSON_CreateStringArray((const char *[]){ r->stream }, 1));
	/* From before the marker: the START line and the first output may
	 * carry earlier timestamps (above). */
	json_add_int(in, "startTime", r->started_ms - LAMBDA_REC_SLACK_MS);
	json_add_int(in, "endTime", r->exit_ms + LAMBDA_REC_TAIL_MS);
	aws_json_call(lambda.aws.aws, "logs", "FilterLogEvents", in,
	    lambda_rec_output, r);
}

/* The markers of this container since its run began: the last "started"
 * names the request; its "exit status" ends the run. */
static void
lambda_rec_marks(void *arg, const cJSON *out, const struct aws_error *ae)
{
	struct lambda_rec *r = arg;
	const cJSON *ev;
	const char *prev =
	    json_str(container_private(r->k.c), LAMBDA_P_PREV_REQ);
	char rid[128];
	int code = 0, kind;

	if (r->k.c->gone || !container_running(r->k.c)) {
		kit_op_end(&r->k, NULL); /* removed or stopped meanwhile */
		return;
	}
	if (ae != NULL)
		log_warnx(
		    "container %.12s: looking for its exit in CloudWatch: "
		    "%s: %s",
		    r->k.c->id, ae->code, ae->message);
	cJSON_ArrayForEach(ev, json_arr(out, "events")) {
		const char *m = json_str(ev, "message");
		if (m == NULL ||
		    (kind = lambda_rec_marker(
			 m, r->k.c->id, rid, sizeof(rid), &code)) == 0)
			continue;
		if (kind == 1 && prev != NULL && strcmp(rid, prev) == 0)
			continue; /* the previous run of a restarted container
				   */
		if (kind == 1) {
			free(r->rid);
			free(r->stream);
			r->rid = xstrdup(rid);
			r->stream = json_str(ev, "logStreamName") != NULL ?
			    xstrdup(json_str(ev, "logStreamName")) :
			    NULL;
			r->started_ms = json_int(ev, "timestamp", 0);
			r->exit_ms = 0;
		} else if (r->rid != NULL && strcmp(rid, r->rid) == 0) {
			r->code = code;
			r->exit_ms = json_int(ev, "timestamp", 0);
		}
	}
	/* Past the exit marker, a moment for the run's last lines. */
	if (r->rid != NULL && r->stream != NULL && r->exit_ms != 0 &&
	    str_now_ns() / 1000000 >= r->exit_ms + LAMBDA_REC_SETTLE_MS) {
		lambda_rec_fetch_output(r);
		return;
	}
	if (str_now_ns() > r->deadline_ns) {
		lambda_rec_lost(r);
		return;
	}
	/* still running (or not begun) */
	kit_op_later(&r->k, LAMBDA_REC_POLL_MS, lambda_rec_look);
}

static void
lambda_rec_look(struct kit_op *k)
{
	struct lambda_rec *r = (struct lambda_rec *)k;
	cJSON *in = cJSON_CreateObject();
	char *pattern;

	pattern = xasprintf("\"%s%s request\"", LAMBDA_MARK, r->k.c->id);
	json_add_str(in, "logGroupName", lambda_conf.log_group);
	json_add_str(in, "filterPattern", pattern);
	json_add_int(in, "startTime", r->since_ms);
	free(pattern);
	aws_json_call(
	    lambda.aws.aws, "logs", "FilterLogEvents", in, lambda_rec_marks, r);
}

/* A container that was running when the previous process ended. */
static void
lambda_rec_one(struct backend *b, struct container *c, void *arg)
{
	struct lambda_rec *r;
	const char *started;
	int64_t started_ns = 0;

	(void)arg;
	if (!container_running(c) || c->backend_data != NULL)
		return;
	started = json_str(json_obj(container_doc(c), "State"), "StartedAt");
	if (started == NULL || str_time_parse(started, &started_ns) == -1)
		started_ns = str_now_ns();
	r = kit_op_new(sizeof(*r), b, c, lambda_rec_done, NULL);
	r->k.arg = r;
	r->since_ms = started_ns / 1000000 - LAMBDA_REC_SLACK_MS;
	r->deadline_ns = started_ns + (lambda_conf.timeout + 60) * 1000000000LL;
	TAILQ_INSERT_HEAD(&lambda_recs, r, entry);
	log_info("container %.12s: its invocation was in flight at the "
		 "restart; reading its end from CloudWatch Logs",
	    c->id);
	lambda_rec_look(&r->k);
}

void
lambda_rec_start(struct backend *b)
{
	backend_container_foreach(b, lambda_rec_one, NULL);
}

/* --- functions of interrupted creates ------------------------------------ */

/* A call of the sweep in flight: a page of ListFunctions (name NULL) or
 * the ListTags of one function. */
struct lambda_sweep {
	struct backend *b;
	char *name;
	TAILQ_ENTRY(lambda_sweep) entry;
};
static TAILQ_HEAD(, lambda_sweep) lambda_sweeps = TAILQ_HEAD_INITIALIZER(
    lambda_sweeps);
static struct kit_passes lambda_sweep_passes;

static struct lambda_sweep *
lambda_sweep_new(struct backend *b, const char *name)
{
	struct lambda_sweep *w = xcalloc(1, sizeof(*w));

	w->b = b;
	w->name = name != NULL ? xstrdup(name) : NULL;
	TAILQ_INSERT_HEAD(&lambda_sweeps, w, entry);
	return w;
}

static void
lambda_sweep_free(struct lambda_sweep *w)
{
	TAILQ_REMOVE(&lambda_sweeps, w, entry);
	free(w->name);
	free(w);
}

static void
lambda_sweep_deleted(void *arg, const struct httpcli_resp *resp,
    const cJSON *out, const struct aws_error *ae)
{
	struct lambda_sweep *w = arg;

	(void)resp;
	(void)out;
	if (ae != NULL && ae->http_status != 404)
		log_warnx("deleting orphaned function %s: %s: %s", w->name,
		    ae->code, ae->message);
	lambda_sweep_free(w);
}

/* Ours (this instance) and no container has it: a create cut short. */
static void
lambda_sweep_tags(void *arg, const struct httpcli_resp *resp, const cJSON *out,
    const struct aws_error *ae)
{
	struct lambda_sweep *w = arg;
	const cJSON *tags = json_obj(out, "Tags");
	const char *inst = json_str(tags, KIT_TAG_INSTANCE);

	(void)resp;
	if (ae != NULL || inst == NULL ||
	    strcmp(inst, backend_instance(w->b)) != 0 ||
	    backend_container_by_private(w->b, LAMBDA_P_FUNCTION, w->name) !=
		NULL) {
		lambda_sweep_free(w);
		return;
	}
	log_warnx("deleting function %s of container %.12s: no container of "
		  "this backend has it (its create was interrupted)",
	    w->name,
	    json_str(tags, KIT_TAG_ID) ? json_str(tags, KIT_TAG_ID) : "?");
	lambda_call("DELETE", LAMBDA_FUNCTIONS, w->name, "DeleteFunction",
	    lambda_sweep_deleted, w);
}

static void lambda_sweep_page(struct backend *b, const char *marker);

static void
lambda_sweep_listed(void *arg, const struct httpcli_resp *resp,
    const cJSON *out, const struct aws_error *ae)
{
	struct lambda_sweep *w = arg;
	const cJSON *fn;

	(void)resp;
	if (ae != NULL)
		log_warnx("looking for orphaned functions: %s: %s", ae->code,
		    ae->message);
	cJSON_ArrayForEach(fn, json_arr(out, "Functions")) {
		const char *name = json_str(fn, "FunctionName");
		const char *arn = json_str(fn, "FunctionArn");
		if (name == NULL || arn == NULL ||
		    !str_prefix(name, "sockerless-") ||
		    backend_container_by_private(
			w->b, LAMBDA_P_FUNCTION, name) != NULL)
			continue;
		lambda_call("GET", "/2017-03-31/tags/", arn, "ListTags",
		    lambda_sweep_tags, lambda_sweep_new(w->b, name));
	}
	if (ae == NULL && json_str(out, "NextMarker") != NULL)
		lambda_sweep_page(w->b, json_str(out, "NextMarker"));
	lambda_sweep_free(w);
}

static void
lambda_sweep_page(struct backend *b, const char *marker)
{
	struct aws_rest rq;
	struct buf q;

	buf_init(&q, 0);
	buf_adds(&q, "MaxItems=50");
	if (marker != NULL) {
		buf_adds(&q, "&Marker=");
		aws_path_escape(&q, marker);
	}
	memset(&rq, 0, sizeof(rq));
	rq.method = "GET";
	rq.path = LAMBDA_FUNCTIONS;
	rq.query = q.data;
	aws_rest_call(lambda.aws.aws, "lambda", "ListFunctions", &rq,
	    lambda_sweep_listed, lambda_sweep_new(b, NULL));
	buf_free(&q);
}

/* Start-up, and twice more: a CreateFunction the old process sent may
 * reach Lambda after this one started. */
static int
lambda_sweep_pass(struct backend *b, int n)
{
	lambda_sweep_page(b, NULL);
	return n == 0 ? 20 : n == 1 ? 10 : -1;
}

void
lambda_rec_sweep(struct backend *b)
{
	lambda_sweep_passes.pass = lambda_sweep_pass;
	kit_passes_start(&lambda_sweep_passes, b);
}

/* Shutdown: the calls in flight are cancelled with the AWS client. */
void
lambda_rec_shutdown(void)
{
	struct lambda_rec *r;
	struct lambda_sweep *w;

	/* Both unlink before they free (lost in TAILQ_REMOVE). */
	while ((r = TAILQ_FIRST(&lambda_recs)) != NULL)
		/* NOLINTNEXTLINE(clang-analyzer-unix.Malloc) */
		kit_op_end(&r->k, NULL);
	while ((w = TAILQ_FIRST(&lambda_sweeps)) != NULL)
		/* NOLINTNEXTLINE(clang-analyzer-unix.Malloc) */
		lambda_sweep_free(w);
	kit_passes_stop(&lambda_sweep_passes);
}
