/* One run of the command for a FaaS invocation (Lambda, the HTTP runtime):
 * its output teed and recorded, its result, and the envelope of
 * docs/agent.md that carries both back. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "agent.h"
#include "proc.h"
#include "sockerless/lite.h"

#define ENVELOPE_ERROR_TYPE "Sockerless.ExitStatus"
/* Room for every envelope member except the output records. */
#define ENVELOPE_FIXED_MAX 512
/* Per record besides its base64: ",[2,<up to 19 digits>,\"\"]". */
#define ENVELOPE_REC_OVERHEAD 32
#define ENVELOPE_COALESCE_US  1000

void
envelope_say(const char *fmt, ...)
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

int
envelope_token_ok(const char *s, size_t max)
{
	size_t n = strspn(s,
	    "0123456789abcdefghijklmnopqrstuvwxyz"
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZ-_.");

	return n > 0 && s[n] == '\0' && n < max;
}

void
envelope_out_init(struct envelope_out *o)
{
	memset(o, 0, sizeof(*o));
	o->est = ENVELOPE_FIXED_MAX;
}

void
envelope_out_free(struct envelope_out *o)
{
	free(o->data);
	free(o->recs);
	memset(o, 0, sizeof(*o));
}

static void
envelope_data_add(struct envelope_out *o, const char *buf, size_t len)
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
void
envelope_record(struct envelope_out *o, int stream, const char *buf, size_t len)
{
	struct envelope_rec *last = o->n > 0 ? &o->recs[o->n - 1] : NULL;
	int64_t now = proc_now_us();
	size_t grow, room;

	if (o->truncated)
		return;
	/* Pipe reads split one write into many; a record per read would
	 * mostly be JSON punctuation. */
	if (last != NULL && last->stream == stream &&
	    now - last->ts < ENVELOPE_COALESCE_US) {
		grow = lite_b64_len(last->len + len) - lite_b64_len(last->len);
		if (o->est + grow <= ENVELOPE_MAX) {
			envelope_data_add(o, buf, len);
			last->len += len;
			o->est += grow;
			return;
		}
	}
	if (o->est + ENVELOPE_REC_OVERHEAD + lite_b64_len(len) > ENVELOPE_MAX) {
		/* Keep the part that fits, then nothing more. */
		room = ENVELOPE_MAX - o->est;
		len = 0;
		if (room > ENVELOPE_REC_OVERHEAD)
			len = (room - ENVELOPE_REC_OVERHEAD) / 4 * 3;
		o->truncated = 1;
		if (len == 0)
			return;
	}
	if (o->recs == NULL || o->n == o->nalloc) {
		o->nalloc = o->nalloc == 0 ? 256 : o->nalloc * 2;
		o->recs = xrealloc(o->recs, o->nalloc * sizeof(*o->recs));
	}
	o->recs[o->n++] = (struct envelope_rec){ stream, now, o->len, len };
	envelope_data_add(o, buf, len);
	o->est += ENVELOPE_REC_OVERHEAD + lite_b64_len(len);
}

static void
envelope_tee(int fd, const char *buf, size_t len)
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
envelope_on_output(void *arg, int stream, const char *buf, size_t len)
{
	envelope_tee(
	    stream == PROC_STDOUT ? STDOUT_FILENO : STDERR_FILENO, buf, len);
	envelope_record(arg, stream, buf, len);
}

void
envelope_fail(struct envelope_out *o, struct envelope_result *res, int code,
    const char *msg)
{
	envelope_on_output(o, PROC_STDERR, msg, strlen(msg));
	memset(res, 0, sizeof(*res));
	res->code = code;
}

static void
envelope_result_set(struct envelope_result *res, const struct proc *p)
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

void
envelope_run(struct envelope_out *o, char *const argv[], int64_t term_at,
    int64_t kill_at, struct envelope_result *res)
{
	struct proc p;
	struct proc_run_opts opts;
	char msg[256];

	if (proc_spawn(&p, argv) == -1) {
		/* Out of processes or fds: report it like a failed exec. */
		snprintf(msg, sizeof(msg), "sockerless-agent: spawn %s: %s\n",
		    argv[0], strerror(errno));
		envelope_fail(o, res, 126, msg);
		return;
	}
	memset(&opts, 0, sizeof(opts));
	opts.on_output = envelope_on_output;
	opts.arg = o;
	opts.term_at = term_at;
	opts.kill_at = kill_at;
	proc_run(&p, &opts);
	envelope_result_set(res, &p);
}

/* snprintf into the envelope buffer, whose size was computed beforehand;
 * running out of it is a bug in that computation. */
static char *envelope_put(char *w, char *end, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static char *
envelope_put(char *w, char *end, const char *fmt, ...)
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

char *
envelope_build(const struct envelope_out *o, const struct envelope_result *res,
    int with_output, size_t *lenp)
{
	size_t cap = (with_output ? o->est : 0) + ENVELOPE_FIXED_MAX, i;
	char *buf = xmalloc(cap), *w = buf, *end = buf + cap;
	const struct envelope_rec *r;

	w = envelope_put(
	    w, end, "{\"sockerless\":1,\"exitCode\":%d", res->code);
	if (res->signame != NULL)
		w = envelope_put(w, end, ",\"signal\":\"%s\"", res->signame);
	if (res->timed_out)
		w = envelope_put(w, end, ",\"timedOut\":true");
	w = envelope_put(w, end, ",\"output\":[");
	for (i = 0; with_output && i < o->n; i++) {
		r = &o->recs[i];
		w = envelope_put(w, end, "%s[%d,%lld,\"", i > 0 ? "," : "",
		    r->stream, (long long)r->ts);
		if ((size_t)(end - w) < lite_b64_len(r->len) + 3)
			abort();
		w += lite_b64_encode(
		    (const unsigned char *)o->data + r->off, r->len, w);
		w = envelope_put(w, end, "\"]");
	}
	w = envelope_put(w, end, "],\"outputTruncated\":%s",
	    o->truncated || (!with_output && o->n > 0) ? "true" : "false");
	if (res->code != 0)
		w = envelope_put(w, end,
		    ",\"errorType\":\"" ENVELOPE_ERROR_TYPE
		    "\",\"errorMessage\":\"exit status %d%s\",\"stackTrace\":[]",
		    res->code, res->suffix);
	w = envelope_put(w, end, "}");
	*lenp = (size_t)(w - buf);
	return buf;
}
