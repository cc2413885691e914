/* Logs and the read-only attach: both pull the backend's log events and
 * write Docker's stream format (multiplexed frames, or raw with a TTY) to
 * either a chunked reply or a hijacked connection, following until the
 * container has exited and its last output has drained. */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "backend_agent.h"
#include "backend_ctr.h"
#include "backend_logs.h"
#include "backend_sys.h"
#include "sockerless/buf.h"
#include "sockerless/json.h"
#include "sockerless/log.h"
#include "sockerless/xmalloc.h"

#define LOGS_POLL_MS	500
#define LOGS_HIGH_WATER BACKEND_LOGS_HIGH_WATER
/* A read that failed after httpcli's own attempts is tried again from the
 * same cursor, with a delay growing from LOGS_RETRY_BASE_MS to
 * LOGS_RETRY_CAP_MS, until reads have failed for LOGS_RETRY_MS in a row. */
#define LOGS_RETRY_BASE_MS 250
#define LOGS_RETRY_CAP_MS  4000
#define LOGS_RETRY_MS	   30000

struct logs_line {
	int64_t ts_ns;
	enum stdstream_kind stream;
	char *msg;
	size_t len;
	int partial;
};

struct logs_job {
	TAILQ_ENTRY(logs_job) entry;
	struct backend *b;
	struct container *c;
	struct httpsrv_req *req; /* docker logs: chunked reply */
	struct bufferevent *bev; /* attach: hijacked connection */
	int follow, timestamps, want_out, want_err, tty;
	int wait_start; /* attach before start */
	int attach;	/* counted in backend_ctr_attach_open */
	int64_t since_ns, until_ns;
	long tail; /* -1: everything */
	char *cursor;
	int fetching, initial_done, finished;
	int64_t exited_at_ns;	  /* when the exit was seen, or 0 */
	int failures;		  /* reads failed in a row */
	int64_t failing_since_ns; /* when the first of them failed */
	/* The last `tail` lines; grown as lines come, so a huge tail costs
	 * only what the log holds. */
	struct logs_line *ring;
	size_t ring_n, ring_head, ring_cap;
	struct event *timer;
	/* A running container's logs from its agent (backend_logs_agent.c),
	 * until it ends; wrote: something has gone to the client. */
	struct logs_agent *la;
	int wrote;
};
TAILQ_HEAD(logs_jobs, logs_job);
static struct logs_jobs logs_all = TAILQ_HEAD_INITIALIZER(logs_all);

static void backend_logs_fetch(struct logs_job *j);

static void
backend_logs_job_free(struct logs_job *j)
{
	TAILQ_REMOVE(&logs_all, j, entry);
	backend_logs_agent_close(j->la);
	if (j->timer != NULL)
		event_free(j->timer);
	for (size_t i = 0; i < j->ring_n; i++)
		free(j->ring[(j->ring_head + i) % j->ring_cap].msg);
	free(j->ring);
	free(j->cursor);
	container_unref(j->c);
	free(j);
}

static size_t
backend_logs_pending(const struct logs_job *j)
{
	if (j->bev != NULL)
		return evbuffer_get_length(bufferevent_get_output(j->bev));
	return httpsrv_stream_pending(j->req);
}

static void
backend_logs_write(struct logs_job *j, const void *p, size_t len)
{
	j->wrote = 1;
	if (j->bev != NULL)
		bufferevent_write(j->bev, p, len);
	else
		httpsrv_stream_write(j->req, p, len);
}

/* Ends the stream; the job is freed unless a fetch is in flight, in which
 * case its callback frees it. */
static void
backend_logs_finish(struct logs_job *j, int client_gone)
{
	if (j->finished)
		return;
	j->finished = 1;
	if (j->bev != NULL) {
		struct bufferevent *bev = j->bev;
		struct container *counted = j->attach ? j->c : NULL;
		j->bev = NULL;
		if (client_gone) {
			bufferevent_free(bev);
			bev = NULL;
		}
		/* Close once everything queued has been written; the
		 * stream counts as open for wait until then. */
		backend_ctr_attach_release(bev, counted);
	} else if (j->attach) {
		/* The client went first (attach_event freed it). */
		backend_ctr_attach_closed(j->c);
	} else if (j->req != NULL) {
		httpsrv_req_on_close(j->req, NULL, NULL);
		if (!client_gone)
			httpsrv_stream_end(j->req);
		j->req = NULL;
	}
	if (!j->fetching)
		backend_logs_job_free(j);
}

static void
backend_logs_emit(struct logs_job *j, int64_t ts_ns, enum stdstream_kind stream,
    const char *msg, size_t len, int partial)
{
	struct buf line, out;
	char ts[48];

	if ((stream == STDSTREAM_STDERR && !j->want_err) ||
	    (stream != STDSTREAM_STDERR && !j->want_out))
		return;
	buf_init(&line, 0);
	if (j->timestamps) {
		str_time_rfc3339(ts, sizeof(ts), ts_ns);
		buf_addf(&line, "%s ", ts);
	}
	buf_add(&line, msg, len);
	if (!partial)
		buf_add(&line, "\n", 1);
	if (j->tty) {
		backend_logs_write(j, line.data, line.len);
	} else {
		buf_init(&out, 0);
		stdstream_frame(&out, stream, line.data, line.len);
		backend_logs_write(j, out.data, out.len);
		buf_free(&out);
	}
	buf_free(&line);
}

static void
backend_logs_ring_add(struct logs_job *j, const struct backend_log_event *ev)
{
	struct logs_line *l;

	if (j->tail == 0)
		return;
	if (j->ring_n == j->ring_cap && j->ring_cap < (size_t)j->tail) {
		/* Not wrapped yet (ring_head is 0), so growing keeps order. */
		j->ring_cap = j->ring_cap == 0 ? 64 : j->ring_cap * 2;
		if (j->ring_cap > (size_t)j->tail)
			j->ring_cap = (size_t)j->tail;
		j->ring = xreallocarray(j->ring, j->ring_cap, sizeof(*j->ring));
	}
	if (j->ring_n < j->ring_cap) {
		l = &j->ring[j->ring_n++];
	} else {
		l = &j->ring[j->ring_head];
		free(l->msg);
		j->ring_head = (j->ring_head + 1) % j->ring_cap;
	}
	l->ts_ns = ev->ts_ns;
	l->stream = ev->stream;
	l->msg = xstrndup(ev->msg, ev->len);
	l->len = ev->len;
	l->partial = ev->partial;
}

static void
backend_logs_ring_flush(struct logs_job *j)
{
	for (size_t i = 0; i < j->ring_n; i++) {
		struct logs_line *l =
		    &j->ring[(j->ring_head + i) % j->ring_cap];
		backend_logs_emit(
		    j, l->ts_ns, l->stream, l->msg, l->len, l->partial);
		free(l->msg);
		l->msg = NULL;
	}
	j->ring_n = 0;
	j->ring_head = 0;
}

static void
backend_logs_schedule(struct logs_job *j, int ms)
{
	struct timeval tv = { ms / 1000, (ms % 1000) * 1000 };

	evtimer_add(j->timer, &tv);
}

/* After a batch: decide whether to fetch again now, later, or stop. */
static void
backend_logs_next(struct logs_job *j, int at_end)
{
	struct container *c = j->c;
	int64_t now = str_now_ns();

	if (!at_end) {
		if (backend_logs_pending(j) > LOGS_HIGH_WATER)
			backend_logs_schedule(j, 50);
		else
			backend_logs_fetch(j);
		return;
	}
	if (!j->initial_done) {
		j->initial_done = 1;
		backend_logs_ring_flush(j);
	}
	if (!j->follow) {
		backend_logs_finish(j, 0);
		return;
	}
	if (c->gone || (!container_running(c) && !j->wait_start)) {
		if (j->exited_at_ns == 0)
			j->exited_at_ns = now;
		/* Keep draining for the grace period: log pipelines lag. */
		if (now - j->exited_at_ns >=
		    (int64_t)j->b->logs_grace_ms * 1000000) {
			backend_logs_finish(j, 0);
			return;
		}
	}
	backend_logs_schedule(j, LOGS_POLL_MS);
}

/* The output cannot be had: the headers are out already, so the reason
 * goes on the stream, then the stream ends. docker logs gets it as dockerd
 * writes it (WriteLogStream): a system-error frame, on which the docker
 * CLI stops with "error from daemon in stream: ..." and status 1. An
 * attach gets it on stderr, as dockerd's "Error attaching: ...": the
 * docker CLI (28) ignores errors of the attach stream, so a system-error
 * frame would be dropped there, and docker run would end with the
 * container's status and no word of the lost output. Raw text with a
 * TTY. */
static void
backend_logs_fail(struct logs_job *j, const char *why)
{
	struct buf line, out;

	log_warnx("logs of %.12s: %s", j->c->id, why);
	buf_init(&line, 0);
	buf_addf(&line, "Error grabbing logs: %s\n", why);
	if (j->tty) {
		backend_logs_write(j, line.data, line.len);
	} else {
		buf_init(&out, 0);
		stdstream_frame(&out,
		    j->bev != NULL ? STDSTREAM_STDERR : STDSTREAM_SYSTEM,
		    line.data, line.len);
		backend_logs_write(j, out.data, out.len);
		buf_free(&out);
	}
	buf_free(&line);
	backend_logs_finish(j, 0);
}

static int
backend_logs_transient(const struct err *e)
{
	return e->status == 429 || e->status == 502 || e->status == 503 ||
	    e->status == 504;
}

/* A read failed even after httpcli's attempts (throttling, 5xx, the
 * network): read again from the same cursor, later, so that nothing is
 * skipped or repeated; give up only after LOGS_RETRY_MS of failures, or
 * at once when the error is not one that passes. */
static void
backend_logs_read_failed(struct logs_job *j, const struct err *e)
{
	int64_t now = str_now_ns();
	int shift = j->failures < 8 ? j->failures : 8;
	long ms = (long)LOGS_RETRY_BASE_MS << shift;

	if (j->failures++ == 0)
		j->failing_since_ns = now;
	if (!backend_logs_transient(e) ||
	    now - j->failing_since_ns >= (int64_t)LOGS_RETRY_MS * 1000000) {
		backend_logs_fail(j, e->msg);
		return;
	}
	if (ms > LOGS_RETRY_CAP_MS)
		ms = LOGS_RETRY_CAP_MS;
	log_warnx(
	    "logs of %.12s: %s; reading again in %ld ms", j->c->id, e->msg, ms);
	backend_logs_schedule(j, (int)ms);
}

/* A read worked again: the time spent failing does not count against the
 * drain period after the exit, which is there for ingestion lag. */
static void
backend_logs_read_ok(struct logs_job *j)
{
	int64_t from;

	if (j->failures == 0)
		return;
	if (j->exited_at_ns != 0) {
		from = j->failing_since_ns > j->exited_at_ns ?
		    j->failing_since_ns :
		    j->exited_at_ns;
		j->exited_at_ns += str_now_ns() - from;
	}
	j->failures = 0;
	j->failing_since_ns = 0;
}

/* Events from either source: since, until and tail applied; -1 when
 * until has ended the job. */
static int
backend_logs_take(
    struct logs_job *j, const struct backend_log_event *ev, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (ev[i].ts_ns < j->since_ns)
			continue;
		if (j->until_ns != 0 && ev[i].ts_ns > j->until_ns) {
			if (!j->initial_done)
				backend_logs_ring_flush(j);
			backend_logs_finish(j, 0);
			return -1;
		}
		if (j->tail >= 0 && !j->initial_done)
			backend_logs_ring_add(j, &ev[i]);
		else
			backend_logs_emit(j, ev[i].ts_ns, ev[i].stream,
			    ev[i].msg, ev[i].len, ev[i].partial);
	}
	return 0;
}

static void
backend_logs_batch(void *arg, const struct backend_log_event *ev, size_t n,
    const char *cursor, int at_end, const struct err *e)
{
	struct logs_job *j = arg;

	j->fetching = 0;
	if (j->finished) {
		backend_logs_job_free(j);
		return;
	}
	if (e != NULL) {
		backend_logs_read_failed(j, e);
		return;
	}
	backend_logs_read_ok(j);
	if (cursor != NULL) {
		/* Copied before the old one goes: a backend may hand back the
		 * cursor it was given (ECS for a task that never ran). */
		char *nc = xstrdup(cursor);

		free(j->cursor);
		j->cursor = nc;
	}
	if (backend_logs_take(j, ev, n) == 0)
		backend_logs_next(j, at_end);
}

static void
backend_logs_fetch(struct logs_job *j)
{
	/* "created" until the start is acknowledged. A short run may have
	 * exited by the next tick, and with AutoRemove be gone already: its
	 * output is still to be read. */
	if (j->wait_start && !j->c->gone &&
	    strcmp(json_str(json_obj(container_doc(j->c), "State"), "Status"),
		"created") == 0) {
		backend_logs_schedule(j, 100);
		return;
	}
	j->wait_start = 0;
	j->fetching = 1;
	j->b->ops->logs_fetch(
	    j->b, j->c, j->cursor, j->since_ns, backend_logs_batch, j);
}

static void
backend_logs_timer(evutil_socket_t fd, short ev, void *arg)
{
	(void)fd;
	(void)ev;
	backend_logs_fetch(arg);
}

static void
backend_logs_client_gone(struct httpsrv_req *r, void *arg)
{
	struct logs_job *j = arg;

	(void)r;
	j->req = NULL;
	backend_logs_finish(j, 1);
}

static void
backend_logs_drained(struct httpsrv_req *r, void *arg)
{
	(void)r;
	(void)arg;
}

static struct logs_job *
backend_logs_job_new(struct backend *b, struct container *c)
{
	struct logs_job *j = xcalloc(1, sizeof(*j));

	j->b = b;
	j->c = c;
	container_ref(c);
	j->tail = -1;
	j->tty = json_bool(container_config(c), "Tty", 0);
	j->timer = evtimer_new(b->base, backend_logs_timer, j);
	TAILQ_INSERT_TAIL(&logs_all, j, entry);
	return j;
}

/* The "tail" query value: -1 for all lines. Like dockerd, a negative
 * count means all and so does one beyond int64; anything else but digits
 * is refused. */
static int
backend_logs_tail(struct httpsrv_req *r, long *tail)
{
	const char *v = httpsrv_req_query(r, "tail"), *errstr;
	long long n;

	*tail = -1;
	if (v == NULL || v[0] == '\0' || strcmp(v, "all") == 0)
		return 0;
	if (str_tonum(v, LLONG_MIN, LLONG_MAX, &n, &errstr) == 0) {
		*tail = n < 0 ? -1 : n > LONG_MAX ? LONG_MAX : (long)n;
		return 0;
	}
	if (strcmp(errstr, "invalid") != 0)
		return 0;
	httpsrv_reply_error(r, 400,
	    "invalid value for tail: \"%s\": use a number of lines or "
	    "\"all\"",
	    v);
	return -1;
}

/* Parses a "since"/"until" query value; 0 when absent. */
static int
backend_logs_time(struct httpsrv_req *r, const char *name, int64_t *ns)
{
	const char *v = httpsrv_req_query(r, name);

	*ns = 0;
	if (v == NULL || v[0] == '\0' || strcmp(v, "0") == 0)
		return 0;
	if (str_time_parse(v, ns) == -1) {
		httpsrv_reply_error(r, 400, "invalid value for %s: \"%s\": %s",
		    name, v, STR_TIME_HINT);
		return -1;
	}
	return 0;
}

/* A container created with --log-driver none keeps no output to read:
 * dockerd refuses with this error (501), and so do we, although the cloud
 * still captures the output. */
static int
backend_logs_unreadable(struct httpsrv_req *r, const struct container *c)
{
	const char *type =
	    json_str(json_obj(container_host_config(c), "LogConfig"), "Type");

	if (type == NULL || strcmp(type, "none") != 0)
		return 0;
	httpsrv_reply_error(
	    r, 501, "configured logging driver does not support reading");
	return 1;
}

/* --- from the agent ----------------------------------------------------- */

static void
backend_logs_agent_events(
    void *arg, const struct backend_log_event *ev, size_t n)
{
	struct logs_job *j = arg;

	if (!j->finished)
		backend_logs_take(j, ev, n);
}

/* With follow: the output so far is in, so a tail can go out. */
static void
backend_logs_agent_live(void *arg)
{
	struct logs_job *j = arg;

	if (!j->initial_done) {
		j->initial_done = 1;
		backend_logs_ring_flush(j);
	}
}

/* The agent has given everything (the output so far, or with follow all
 * of it: the process ended), and the job ends as a log-service one does
 * at the end of its output. When it could not, the log service serves the
 * job from the start as long as nothing has been written; a stream that
 * broke off midway is said to have (the two sources' times differ, so
 * going on from the log service could repeat or skip lines). */
static void
backend_logs_agent_end(void *arg, const struct err *e)
{
	struct logs_job *j = arg;

	j->la = NULL;
	if (j->finished)
		return;
	if (e == NULL) {
		if (!j->initial_done) {
			j->initial_done = 1;
			backend_logs_ring_flush(j);
		}
		backend_logs_finish(j, 0);
		return;
	}
	if (!j->wrote) {
		log_debug(
		    "logs of %.12s from the log service: %s", j->c->id, e->msg);
		for (size_t i = 0; i < j->ring_n; i++)
			free(j->ring[(j->ring_head + i) % j->ring_cap].msg);
		j->ring_n = j->ring_head = 0;
		j->initial_done = 0;
		backend_logs_fetch(j);
		return;
	}
	backend_logs_fail(j,
	    e->status == 507 ?
		"the agent's log spool dropped output this reader had not "
		"taken yet (the reader was too slow); run docker logs again" :
		e->msg);
}

static size_t
backend_logs_agent_pending(void *arg)
{
	return backend_logs_pending(arg);
}

static const struct logs_agent_cbs backend_logs_agent_cbs = {
	.events = backend_logs_agent_events,
	.live = backend_logs_agent_live,
	.end = backend_logs_agent_end,
	.pending = backend_logs_agent_pending,
};

void
backend_logs_get(
    struct backend *b, struct httpsrv_req *r, const struct router_match *m)
{
	struct container *c;
	struct logs_job *j;
	int64_t since, until;
	long tail;

	if ((c = backend_lookup_or_reply(b, r, router_param(m, "id"))) == NULL)
		return;
	if (backend_logs_time(r, "since", &since) == -1 ||
	    backend_logs_time(r, "until", &until) == -1 ||
	    backend_logs_tail(r, &tail) == -1)
		return;
	if (!backend_query_bool(r, "stdout", 0) &&
	    !backend_query_bool(r, "stderr", 0)) {
		httpsrv_reply_error(r, 400,
		    "Bad parameters: you must choose at "
		    "least one stream");
		return;
	}
	if (backend_logs_unreadable(r, c))
		return;
	j = backend_logs_job_new(b, c);
	j->req = r;
	j->since_ns = since;
	j->until_ns = until;
	j->follow = backend_query_bool(r, "follow", 0) && container_running(c);
	j->timestamps = backend_query_bool(r, "timestamps", 0);
	j->want_out = backend_query_bool(r, "stdout", 0);
	j->want_err = backend_query_bool(r, "stderr", 0);
	j->tail = tail;
	httpsrv_stream_begin(r, 200,
	    j->tty ? "application/vnd.docker.raw-stream" :
		     "application/vnd.docker.multiplexed-stream");
	httpsrv_req_on_close(r, backend_logs_client_gone, j);
	httpsrv_stream_on_drain(r, backend_logs_drained, j);
	/* A running container's output is its agent's, without the log
	 * service's lag; otherwise, or when that fails, the log service. */
	j->la = backend_logs_agent_open(
	    b, c, j->follow, &backend_logs_agent_cbs, j);
	if (j->la == NULL)
		backend_logs_fetch(j);
}

/* The attached client closed or sent EOF: Docker keeps streaming output
 * after a half-close, so only an error or a full close ends the job. */
static void
backend_logs_attach_event(struct bufferevent *bev, short what, void *arg)
{
	struct logs_job *j = arg;

	(void)bev;
	if (what & BEV_EVENT_EOF) {
		bufferevent_disable(j->bev, EV_READ);
		return;
	}
	j->bev = NULL;
	bufferevent_free(bev);
	backend_logs_finish(j, 1);
}

static void
backend_logs_attach_read(struct bufferevent *bev, void *arg)
{
	(void)arg;
	/* No stdin without an agent: discard what the client sends. */
	evbuffer_drain(bufferevent_get_input(bev),
	    evbuffer_get_length(bufferevent_get_input(bev)));
}

/* Whether an attach without stdin is served from the agent's live output:
 * byte for byte as the process wrote it, where the log service splits it
 * into lines (dropping \r, ending an unterminated last line). That needs a
 * backend with agent links (not Lambda's) and no replay of earlier output
 * (logs=1 reads the log service). A running container must have its link
 * already; one attached before its start (docker run, start -a) gets it
 * with that start, and its command is held until the link is up, as for an
 * attach with stdin (backend_agent_run_env). */
static int
backend_logs_live(struct backend *b, struct container *c, struct httpsrv_req *r)
{
	if (!backend_agent_runs(b) || !b->caps.flag[CAP_EXEC] ||
	    backend_query_bool(r, "logs", 0) ||
	    !backend_query_bool(r, "stream", 0))
		return 0;
	return !container_running(c) ||
	    json_str(container_private(c), BACKEND_PRIV_AGENT_TOKEN) != NULL;
}

void
backend_logs_attach(
    struct backend *b, struct httpsrv_req *r, const struct router_match *m)
{
	struct container *c;
	struct logs_job *j;
	struct bufferevent *bev;
	struct detach d;
	const char *keys;
	int logs = backend_query_bool(r, "logs", 0);

	if ((c = backend_lookup_or_reply(b, r, router_param(m, "id"))) == NULL)
		return;
	/* Checked whatever the stream, as dockerd does. */
	keys = httpsrv_req_query(r, "detachKeys");
	if (detach_parse(keys, &d) == -1) {
		httpsrv_reply_error(
		    r, 400, "Invalid detach keys (%s) provided", keys);
		return;
	}
	if (backend_query_bool(r, "stdin", 0) && !b->caps.flag[CAP_ATTACH]) {
		struct err e;
		caps_unsupported(&b->caps, CAP_ATTACH, &e);
		httpsrv_reply_err(r, &e);
		return;
	}
	backend_sys_container_event(b, c, "attach", NULL);
	/* stdin goes to the workload's agent, and so does the output then. */
	if ((backend_query_bool(r, "stdin", 0) && backend_agent_runs(b)) ||
	    backend_logs_live(b, c, r)) {
		backend_agent_attach(b, c, r, &d);
		return;
	}
	j = backend_logs_job_new(b, c);
	j->follow = backend_query_bool(r, "stream", 0);
	j->want_out = backend_query_bool(r, "stdout", 0);
	j->want_err = backend_query_bool(r, "stderr", 0);
	if (logs) {
		j->since_ns = 0;
	} else if (container_running(c)) {
		j->since_ns = str_now_ns();
	} else {
		/* Attached before start: everything from this run on. The
		 * run's output cannot predate this moment, and earlier runs
		 * do; the margin covers clock skew with the cloud's log
		 * timestamps (StartedAt is only known once the cloud says
		 * the workload runs, which can be after its first output). */
		j->wait_start = 1;
		j->since_ns = str_now_ns() - 2000000000LL;
	}
	if (!j->follow && !logs) {
		/* Nothing to send: Docker answers and closes. */
		j->follow = 0;
	}
	bev = httpsrv_hijack(r,
	    j->tty ? "application/vnd.docker.raw-stream" :
		     "application/vnd.docker.multiplexed-stream");
	j->bev = bev;
	/* Counted from now on, before start too: the run's exit can be seen
	 * before its output is (this stream ends after the drain period). */
	j->attach = 1;
	backend_ctr_attach_open(c);
	bufferevent_setcb(
	    bev, backend_logs_attach_read, NULL, backend_logs_attach_event, j);
	bufferevent_enable(bev, EV_READ | EV_WRITE);
	backend_logs_fetch(j);
}

void
backend_logs_container_exited(struct backend *b, struct container *c)
{
	struct logs_job *j;

	(void)b;
	TAILQ_FOREACH(j, &logs_all, entry) {
		if (j->c != c)
			continue;
		if (j->exited_at_ns == 0)
			j->exited_at_ns = str_now_ns();
		/* A follower between two polls reads at once: the output a
		 * backend has with the exit (an invocation's answer, an
		 * agent's report) is there now, and `docker run` waits for
		 * the attach stream to end, not for the next poll. */
		if (j->follow && !j->fetching && !j->finished &&
		    j->la == NULL && evtimer_pending(j->timer, NULL)) {
			evtimer_del(j->timer);
			backend_logs_schedule(j, 0);
		}
	}
}

void
backend_set_logs_grace_ms(struct backend *b, int ms)
{
	b->logs_grace_ms = ms;
}
