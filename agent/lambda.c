/* Lambda mode: the Runtime API loop, output recording and the envelope. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "agent.h"
#include "http.h"
#include "jread.h"
#include "proc.h"
#include "sockerless/lite.h"

#define LAMBDA_BASE	  "/2018-06-01/runtime"
#define LAMBDA_ERROR_TYPE "Sockerless.ExitStatus"
/* Lambda refuses responses over 6 MB; stay clear of it with the JSON
 * around the output. docs/agent.md states this limit to the backend. */
#define LAMBDA_ENVELOPE_MAX 5000000
/* Room for every envelope member except the output records. */
#define LAMBDA_FIXED_MAX 512
/* Per record besides its base64: ",[2,<up to 19 digits>,\"\"]". */
#define LAMBDA_REC_OVERHEAD 32
#define LAMBDA_COALESCE_US  1000
/* Before the deadline: SIGTERM, then SIGKILL, leaving time to post. */
#define LAMBDA_TERM_BEFORE_MS  1500
#define LAMBDA_KILL_BEFORE_MS  700
#define LAMBDA_RETRY_FIRST_MS  100
#define LAMBDA_RETRY_MAX_MS    2000
#define LAMBDA_RETRY_GIVEUP_MS 30000

struct lambda_rec {
	int stream;
	int64_t ts; /* microseconds since the epoch of the first read */
	size_t off; /* into lambda_out.data */
	size_t len;
};

/* The output of one invocation, in the order read. */
struct lambda_out {
	char *data;
	size_t len, cap;
	struct lambda_rec *recs;
	size_t n, nalloc;
	size_t est; /* upper bound of the envelope's encoded size */
	int truncated;
};

struct lambda_inv {
	char rid[128];
	char cid[80];
	int64_t deadline; /* epoch ms; 0 when Lambda did not say */
};

struct lambda_result {
	int code;
	const char *signame; /* set when killed by a signal */
	int timed_out;
	char suffix[40]; /* " (timed out)" / " (signal SIGKILL)" / "" */
};

/* One line to stderr in a single write, so it never interleaves with the
 * child's output that the agent tees there. */
static void lambda_say(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));
static void
lambda_say(const char *fmt, ...)
{
	char line[1024];
	va_list ap;
	int n;
	ssize_t r;

	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n >= sizeof(line)) {
		n = (int)sizeof(line) - 1;
		line[n - 1] = '\n';
	}
	r = write(STDERR_FILENO, line, (size_t)n);
	(void)r;
}

static void
lambda_sleep_ms(int64_t ms)
{
	struct timespec ts = { (time_t)(ms / 1000),
		(long)(ms % 1000) * 1000000 };

	while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
		;
}

/*
 * One Runtime API call. Connection errors are retried with backoff; after
 * LAMBDA_RETRY_GIVEUP_MS the agent gives up and exits 1, as Lambda expects
 * of a runtime that lost its API. Returns with any HTTP status in *resp.
 */
static void
lambda_call(const char *api, const char *method, const char *path,
    const struct http_hdr *hdrs, const char *body, size_t len,
    struct http_resp *resp)
{
	int64_t start = proc_now_ms(), delay = LAMBDA_RETRY_FIRST_MS;

	while (http_request(api, method, path, hdrs, body, len, resp) == -1) {
		if (proc_now_ms() - start >= LAMBDA_RETRY_GIVEUP_MS) {
			lambda_say(
			    "sockerless-agent: runtime API %s %s: %s; giving up\n",
			    method, path, strerror(errno));
			exit(1);
		}
		lambda_sleep_ms(delay);
		delay *= 2;
		if (delay > LAMBDA_RETRY_MAX_MS)
			delay = LAMBDA_RETRY_MAX_MS;
	}
}

/* Request ids and container ids go into URLs and searched log lines:
 * accept only the characters they are made of. */
static int
lambda_token_ok(const char *s, size_t max)
{
	size_t n = strspn(s,
	    "0123456789abcdefghijklmnopqrstuvwxyz"
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZ-_.");

	return n > 0 && s[n] == '\0' && n < max;
}

/* The invocation's container id (the event's "container"), or "-". */
static void
lambda_cid(struct lambda_inv *inv, const struct http_resp *r)
{
	char *cid = jread_str(r->body, r->body_len, "container");

	if (cid != NULL && lambda_token_ok(cid, sizeof(inv->cid)))
		strcpy(inv->cid, cid);
	else
		strcpy(inv->cid, "-");
	free(cid);
}

static void
lambda_next(const char *api, struct lambda_inv *inv)
{
	struct http_resp r;
	const char *rid, *v;

	memset(inv, 0, sizeof(*inv));
	lambda_call(
	    api, "GET", LAMBDA_BASE "/invocation/next", NULL, NULL, 0, &r);
	if (r.status != 200) {
		/* The API says the environment is unusable: exit, and
		 * Lambda starts a fresh one. */
		lambda_say(
		    "sockerless-agent: runtime API next: HTTP %d: %.200s\n",
		    r.status, r.body);
		exit(1);
	}
	rid = http_resp_header(&r, "Lambda-Runtime-Aws-Request-Id");
	if (rid == NULL || !lambda_token_ok(rid, sizeof(inv->rid))) {
		lambda_say(
		    "sockerless-agent: runtime API next: no valid request id\n");
		exit(1);
	}
	strcpy(inv->rid, rid);
	if ((v = http_resp_header(&r, "Lambda-Runtime-Deadline-Ms")) != NULL)
		inv->deadline = strtoll(v, NULL, 10);
	/* Custom runtimes pass the X-Ray trace id on to the function code. */
	if ((v = http_resp_header(&r, "Lambda-Runtime-Trace-Id")) != NULL)
		setenv("_X_AMZN_TRACE_ID", v, 1);
	else
		unsetenv("_X_AMZN_TRACE_ID");
	lambda_cid(inv, &r);
	http_resp_free(&r);
}

static void
lambda_data_add(struct lambda_out *o, const char *buf, size_t len)
{
	if (len == 0) /* o->data may still be NULL: memcpy(NULL, .., 0) is UB */
		return;
	if (o->len + len > o->cap) {
		o->cap = o->cap == 0 ? 65536 : o->cap;
		while (o->len + len > o->cap)
			o->cap *= 2;
		o->data = xrealloc(o->data, o->cap);
	}
	memcpy(o->data + o->len, buf, len);
	o->len += len;
}

/* Keeps a chunk for the envelope while it stays under its size limit. */
static void
lambda_record(struct lambda_out *o, int stream, const char *buf, size_t len)
{
	struct lambda_rec *last = o->n > 0 ? &o->recs[o->n - 1] : NULL;
	int64_t now = proc_now_us();
	size_t grow, room;

	if (o->truncated)
		return;
	/* Pipe reads split one write into many; a record per read would
	 * mostly be JSON punctuation. */
	if (last != NULL && last->stream == stream &&
	    now - last->ts < LAMBDA_COALESCE_US) {
		grow = lite_b64_len(last->len + len) - lite_b64_len(last->len);
		if (o->est + grow <= LAMBDA_ENVELOPE_MAX) {
			lambda_data_add(o, buf, len);
			last->len += len;
			o->est += grow;
			return;
		}
	}
	if (o->est + LAMBDA_REC_OVERHEAD + lite_b64_len(len) >
	    LAMBDA_ENVELOPE_MAX) {
		/* Keep the part that fits, then nothing more. */
		room = LAMBDA_ENVELOPE_MAX - o->est;
		len = 0;
		if (room > LAMBDA_REC_OVERHEAD)
			len = (room - LAMBDA_REC_OVERHEAD) / 4 * 3;
		o->truncated = 1;
		if (len == 0)
			return;
	}
	if (o->n == o->nalloc) {
		o->nalloc = o->nalloc == 0 ? 256 : o->nalloc * 2;
		o->recs = xrealloc(o->recs, o->nalloc * sizeof(*o->recs));
	}
	o->recs[o->n++] = (struct lambda_rec){ stream, now, o->len, len };
	lambda_data_add(o, buf, len);
	o->est += LAMBDA_REC_OVERHEAD + lite_b64_len(len);
}

static void
lambda_tee(int fd, const char *buf, size_t len)
{
	ssize_t n;

	while (len > 0) {
		n = write(fd, buf, len);
		if (n < 0 && errno == EINTR)
			continue;
		/* Nobody reads our output: the envelope still has it. */
		if (n <= 0)
			return;
		buf += n;
		len -= (size_t)n;
	}
}

static void
lambda_on_output(void *arg, int stream, const char *buf, size_t len)
{
	lambda_tee(
	    stream == PROC_STDOUT ? STDOUT_FILENO : STDERR_FILENO, buf, len);
	lambda_record(arg, stream, buf, len);
}

/* snprintf into the envelope buffer, whose size was computed beforehand;
 * running out of it is a bug in that computation. */
static char *lambda_put(char *w, char *end, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static char *
lambda_put(char *w, char *end, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(w, (size_t)(end - w), fmt, ap);
	va_end(ap);
	if (n < 0 || n >= end - w)
		abort();
	return w + n;
}

/* Builds the envelope (docs/agent.md); with_output 0 drops the records
 * and marks the output truncated. Returns a malloc'd string. */
static char *
lambda_envelope(const struct lambda_out *o, const struct lambda_result *res,
    int with_output, size_t *lenp)
{
	size_t cap = (with_output ? o->est : 0) + LAMBDA_FIXED_MAX, i;
	char *buf = xmalloc(cap), *w = buf, *end = buf + cap;
	const struct lambda_rec *r;

	w = lambda_put(w, end, "{\"sockerless\":1,\"exitCode\":%d", res->code);
	if (res->signame != NULL)
		w = lambda_put(w, end, ",\"signal\":\"%s\"", res->signame);
	if (res->timed_out)
		w = lambda_put(w, end, ",\"timedOut\":true");
	w = lambda_put(w, end, ",\"output\":[");
	for (i = 0; with_output && i < o->n; i++) {
		r = &o->recs[i];
		w = lambda_put(w, end, "%s[%d,%lld,\"", i > 0 ? "," : "",
		    r->stream, (long long)r->ts);
		if ((size_t)(end - w) < lite_b64_len(r->len) + 3)
			abort();
		w += lite_b64_encode(
		    (const unsigned char *)o->data + r->off, r->len, w);
		w = lambda_put(w, end, "\"]");
	}
	w = lambda_put(w, end, "],\"outputTruncated\":%s",
	    o->truncated || (!with_output && o->n > 0) ? "true" : "false");
	if (res->code != 0)
		w = lambda_put(w, end,
		    ",\"errorType\":\"" LAMBDA_ERROR_TYPE
		    "\",\"errorMessage\":\"exit status %d%s\",\"stackTrace\":[]",
		    res->code, res->suffix);
	w = lambda_put(w, end, "}");
	*lenp = (size_t)(w - buf);
	return buf;
}

static void
lambda_post(const char *api, const struct lambda_inv *inv,
    const struct lambda_out *o, const struct lambda_result *res)
{
	static const struct http_hdr ok_hdrs[] = {
		{ "Content-Type", "application/json" },
		{ NULL, NULL },
	};
	static const struct http_hdr err_hdrs[] = {
		{ "Content-Type", "application/json" },
		{ "Lambda-Runtime-Function-Error-Type", LAMBDA_ERROR_TYPE },
		{ NULL, NULL },
	};
	char path[256];
	struct http_resp r;
	char *body;
	size_t len;
	int with_output, status;

	snprintf(path, sizeof(path), LAMBDA_BASE "/invocation/%s/%s", inv->rid,
	    res->code == 0 ? "response" : "error");
	for (with_output = 1; with_output >= 0; with_output--) {
		body = lambda_envelope(o, res, with_output, &len);
		lambda_call(api, "POST", path,
		    res->code == 0 ? ok_hdrs : err_hdrs, body, len, &r);
		free(body);
		status = r.status;
		if (status != 202 && status != 200)
			lambda_say(
			    "sockerless-agent: container %s request %s: runtime API answered HTTP %d: %.200s\n",
			    inv->cid, inv->rid, status, r.body);
		http_resp_free(&r);
		/* Only a 413 is worth another try, without the output: the
		 * exit status matters more than the output. */
		if (status != 413)
			return;
	}
}

static void
lambda_result_set(struct lambda_result *res, const struct proc *p)
{
	memset(res, 0, sizeof(*res));
	res->code = proc_exit_code(p->status);
	res->timed_out = p->timed_out;
	if (WIFSIGNALED(p->status) &&
	    (res->signame = proc_signame(WTERMSIG(p->status))) == NULL)
		res->signame = "SIGUNKNOWN";
	if (res->timed_out)
		snprintf(res->suffix, sizeof(res->suffix), " (timed out)");
	else if (res->signame != NULL)
		snprintf(res->suffix, sizeof(res->suffix), " (signal %s)",
		    res->signame);
}

/* Runs one invocation: the command, its output, the answer. */
static void
lambda_serve(const char *api, const struct lambda_inv *inv, char *const argv[])
{
	struct lambda_out out;
	struct lambda_result res;
	struct proc p;
	struct proc_run_opts opts;
	char msg[256];

	memset(&out, 0, sizeof(out));
	out.est = LAMBDA_FIXED_MAX;
	lambda_say("sockerless-agent: container %s request %s started\n",
	    inv->cid, inv->rid);
	if (proc_spawn(&p, argv) == -1) {
		/* Out of processes or fds: report it like a failed exec. */
		snprintf(msg, sizeof(msg), "sockerless-agent: spawn %s: %s\n",
		    argv[0], strerror(errno));
		lambda_on_output(&out, PROC_STDERR, msg, strlen(msg));
		memset(&res, 0, sizeof(res));
		res.code = 126;
	} else {
		memset(&opts, 0, sizeof(opts));
		opts.on_output = lambda_on_output;
		opts.arg = &out;
		if (inv->deadline > 0) {
			opts.term_at = inv->deadline - LAMBDA_TERM_BEFORE_MS;
			opts.kill_at = inv->deadline - LAMBDA_KILL_BEFORE_MS;
		}
		proc_run(&p, &opts);
		lambda_result_set(&res, &p);
	}
	lambda_say(
	    "sockerless-agent: container %s request %s exit status %d%s\n",
	    inv->cid, inv->rid, res.code, res.suffix);
	lambda_post(api, inv, &out, &res);
	free(out.data);
	free(out.recs);
}

void
lambda_main(const char *api, char *const argv[])
{
	struct lambda_inv inv;

	proc_signals_init(1);
	for (;;) {
		lambda_next(api, &inv);
		lambda_serve(api, &inv, argv);
	}
}
