/* The Container Apps log stream of a running execution, for `docker logs
 * -f` (and an attach without the agent's link): Log Analytics lags the
 * workload by its ingestion delay, the stream does not. One stream per
 * execution, shared by its followers: opened when a follower's Log
 * Analytics read reached the end while the execution runs (GET of the
 * job for its eventStreamEndpoint, POST getAuthToken, GET of the
 * execution's replicas, then the stream of the replica's main container
 * with tailLines ACA_STREAM_TAIL), its lines kept in order (the newest
 * ACA_STREAM_KEEP) until no follower has read it for ACA_STREAM_IDLE_S.
 *
 * The seam is a time (docs/backend-aca.md, "Logs"): a follower that read
 * Log Analytics up to the time T of its last line goes on with the
 * stream's lines after T, once the stream reaches back to T: its tail
 * was not full (it holds the execution's whole output), or its oldest
 * line is at T or before. Until then the follower keeps reading Log
 * Analytics, whose T grows as lines are ingested. A follower the stream
 * cannot serve (closed while the execution runs, or the follower fell
 * behind the kept lines) reads Log Analytics again after the time of its
 * last line. */
#include <sys/queue.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "aca.h"
#include "sockerless/json.h"
#include "sockerless/log.h"
#include "sockerless/str.h"
#include "sockerless/xmalloc.h"

/* The job's getAuthToken and the execution's replicas are not in the
 * 2025-07-01 spec: the az CLI's containerapp extension calls them with
 * this api-version. */
#define ACA_STREAM_API	   "2023-11-02-preview"
#define ACA_STREAM_TAIL	   300 /* the service's bound for tailLines */
#define ACA_STREAM_KEEP	   20000
#define ACA_STREAM_IDLE_S  30
#define ACA_STREAM_RETRY_S 10
/* The tail comes at once, right after the connection lines: lines
 * counted this long after the first tell whether it was full. */
#define ACA_STREAM_SETTLE_MS 1000
#define ACA_STREAM_BATCH     1000

enum aca_stream_state {
	ACA_ST_OPENING, /* the ARM calls before the stream */
	ACA_ST_OPEN,	/* the stream is connected */
	ACA_ST_ENDED,	/* the service closed it */
	ACA_ST_FAILED	/* could not be had: tried again after a while */
};

struct aca_stream {
	LIST_ENTRY(aca_stream) entry;
	char *exec; /* the execution's resource id */
	char job[64];
	const char *exec_name; /* in exec */
	enum aca_stream_state state;
	uint64_t call; /* the ARM call or the stream in flight; 0: none */
	char *endpoint, *token;
	/* opened_ns: when the connection's first line came (0: none yet) */
	int64_t opened_ns, failed_ns, ended_ns, used_ns;
	struct azure_log_entry *lines; /* texts owned, NUL-terminated */
	size_t n, cap;
	uint64_t base;	/* the sequence number of lines[0] */
	uint64_t nrecv; /* lines received on this connection */
	/* those of them received in the ACA_STREAM_SETTLE_MS after the
	 * first: the tail (and live ones of that time, which only make the
	 * judgement safer) */
	uint64_t ntail;
	int trimmed; /* the oldest were dropped (ACA_STREAM_KEEP) */
};

static LIST_HEAD(, aca_stream) aca_streams = LIST_HEAD_INITIALIZER(aca_streams);
static struct event *aca_stream_timer;

static void aca_stream_call_done(
    void *arg, const cJSON *out, const struct cloud_error *ce);

static void
aca_stream_text_free(struct azure_log_entry *l)
{
	free((void *)(uintptr_t)l->text);
}

/* Frees s, already off the list. */
static void
aca_stream_free(struct aca_stream *s)
{
	if (s->call != 0)
		azure_cancel(aca_az.az, s->call);
	for (size_t i = 0; i < s->n; i++)
		aca_stream_text_free(&s->lines[i]);
	free(s->lines);
	free(s->endpoint);
	free(s->token);
	free(s->exec);
	free(s);
}

static void
aca_stream_fail(
    struct aca_stream *s, const char *what, const struct cloud_error *ce)
{
	log_warnx("aca: log stream of %s: %s: %s%s%s; following it through "
		  "Log Analytics",
	    s->exec_name, what, ce != NULL ? ce->code : "",
	    ce != NULL && ce->code[0] != '\0' ? ": " : "",
	    ce != NULL ? ce->message : "no answer");
	s->state = ACA_ST_FAILED;
	s->failed_ns = str_now_ns();
	s->call = 0;
}

static void
aca_stream_got(void *arg, const struct azure_log_entry *ev, size_t n,
    const char *cursor, int more, const struct cloud_error *ce)
{
	struct aca_stream *s = arg;
	size_t drop;

	(void)cursor;
	(void)more;
	if (ce != NULL) {
		aca_stream_fail(s, "the stream", ce);
		return;
	}
	if (n == 0) {
		s->state = ACA_ST_ENDED;
		s->ended_ns = str_now_ns();
		s->call = 0;
		return;
	}
	if (s->n + n > s->cap) {
		s->cap = (s->n + n) * 2;
		s->lines = xreallocarray(s->lines, s->cap, sizeof(*s->lines));
	}
	for (size_t i = 0; i < n; i++) {
		struct azure_log_entry *l = &s->lines[s->n++];

		*l = ev[i];
		l->text = xstrndup(ev[i].text, ev[i].len);
	}
	if (s->nrecv == 0)
		s->opened_ns = str_now_ns();
	s->nrecv += n;
	if (str_now_ns() - s->opened_ns <
	    (int64_t)ACA_STREAM_SETTLE_MS * 1000000)
		s->ntail += n;
	if (s->n > ACA_STREAM_KEEP) {
		drop = s->n - ACA_STREAM_KEEP / 2;
		for (size_t i = 0; i < drop; i++)
			aca_stream_text_free(&s->lines[i]);
		memmove(s->lines, s->lines + drop,
		    (s->n - drop) * sizeof(*s->lines));
		s->n -= drop;
		s->base += drop;
		s->trimmed = 1;
	}
}

/* The stream's URL: the host of the job's eventStreamEndpoint, then
 * /subscriptions/{s}/resourceGroups/{g}/jobs/{job}/executions/{e}
 * /replicas/{r}/containers/main/logstream (the az CLI's path). NULL when
 * the endpoint or the execution id is not of that shape. */
static char *
aca_stream_url(const struct aca_stream *s, const char *replica)
{
	const char *h = strstr(s->endpoint, "/subscriptions/");
	const char *p = strstr(s->exec, "/providers/");

	if (h == NULL || p == NULL || !str_prefix(s->exec, "/subscriptions/"))
		return NULL;
	return xasprintf("%.*s%.*s/jobs/%s/executions/%s/replicas/%s"
			 "/containers/%s/logstream",
	    (int)(h - s->endpoint), s->endpoint, (int)(p - s->exec), s->exec,
	    s->job, s->exec_name, replica, ACA_CONTAINER);
}

/* The opening calls, one after the other: the job (its endpoint), the
 * token, the replicas, then the stream. */
static void
aca_stream_step(struct aca_stream *s)
{
	char *path, *url;

	if (s->endpoint == NULL) {
		path = aca_job_path(s->job, NULL);
		s->call = azure_call(aca_az.az, "jobs.get", "GET", path,
		    aca_conf.api_version_app, NULL, NULL, 0,
		    aca_stream_call_done, s);
	} else if (s->token == NULL) {
		path = aca_job_path(s->job, "/getAuthToken");
		s->call =
		    azure_call(aca_az.az, "jobs.getAuthToken", "POST", path,
			ACA_STREAM_API, NULL, NULL, 0, aca_stream_call_done, s);
	} else {
		path = xasprintf("/executions/%s/replicas", s->exec_name);
		url = aca_job_path(s->job, path);
		free(path);
		path = url;
		s->call = azure_call(aca_az.az, "jobs.executions.replicas",
		    "GET", path, ACA_STREAM_API, NULL, NULL, 0,
		    aca_stream_call_done, s);
	}
	free(path);
}

static void
aca_stream_call_done(void *arg, const cJSON *out, const struct cloud_error *ce)
{
	struct aca_stream *s = arg;
	const char *v,
	    *what = s->endpoint == NULL ? "reading the job" :
	    s->token == NULL		? "getAuthToken" :
					  "listing the replicas";
	char *url;

	s->call = 0;
	if (ce != NULL) {
		aca_stream_fail(s, what, ce);
		return;
	}
	if (s->endpoint == NULL) {
		v = json_str(
		    json_obj(out, "properties"), "eventStreamEndpoint");
		if (v == NULL) {
			aca_stream_fail(
			    s, "the job has no eventStreamEndpoint", NULL);
			return;
		}
		s->endpoint = xstrdup(v);
	} else if (s->token == NULL) {
		v = json_str(json_obj(out, "properties"), "token");
		if (v == NULL) {
			aca_stream_fail(s, "getAuthToken gave no token", NULL);
			return;
		}
		s->token = xstrdup(v);
	} else {
		v = json_str(
		    cJSON_GetArrayItem(json_arr(out, "value"), 0), "name");
		if (v == NULL) {
			aca_stream_fail(
			    s, "the execution has no replica yet", NULL);
			return;
		}
		if ((url = aca_stream_url(s, v)) == NULL) {
			aca_stream_fail(s,
			    "the eventStreamEndpoint is not a stream URL",
			    NULL);
			return;
		}
		s->state = ACA_ST_OPEN;
		s->call = azure_logstream(aca_az.az, url, s->token,
		    ACA_STREAM_TAIL, aca_stream_got, s);
		free(url);
		return;
	}
	aca_stream_step(s);
}

/* Opens s again (it failed, or the service closed it while the
 * execution runs: its token expired) with a new token. Its sequence
 * numbers jump, so that a follower still on the old lines reads Log
 * Analytics after its last one instead of the new stream's. */
static void
aca_stream_reopen(struct aca_stream *s)
{
	for (size_t i = 0; i < s->n; i++)
		aca_stream_text_free(&s->lines[i]);
	s->base += s->n + (UINT64_C(1) << 32);
	s->n = 0;
	s->nrecv = 0;
	s->ntail = 0;
	s->trimmed = 0;
	s->opened_ns = 0;
	free(s->token);
	s->token = NULL;
	s->state = ACA_ST_OPENING;
	aca_stream_step(s);
}

static void
aca_stream_sweep(evutil_socket_t fd, short what, void *arg)
{
	struct aca_stream *s, *next;
	struct timeval tv = { ACA_STREAM_IDLE_S / 3, 0 };
	int64_t now = str_now_ns();

	(void)fd;
	(void)what;
	(void)arg;
	for (s = LIST_FIRST(&aca_streams); s != NULL; s = next) {
		next = LIST_NEXT(s, entry);
		if (now - s->used_ns >=
		    (int64_t)ACA_STREAM_IDLE_S * 1000000000) {
			LIST_REMOVE(s, entry);
			aca_stream_free(s);
		}
	}
	if (!LIST_EMPTY(&aca_streams))
		evtimer_add(aca_stream_timer, &tv);
}

static struct aca_stream *
aca_stream_find(const char *exec)
{
	struct aca_stream *s;

	LIST_FOREACH(s, &aca_streams, entry) {
		if (strcmp(s->exec, exec) == 0) {
			s->used_ns = str_now_ns();
			return s;
		}
	}
	return NULL;
}

void
aca_stream_init(struct backend *b)
{
	if (aca_stream_timer == NULL)
		aca_stream_timer =
		    evtimer_new(backend_base(b), aca_stream_sweep, NULL);
}

void
aca_stream_shutdown(void)
{
	struct aca_stream *s;

	while ((s = LIST_FIRST(&aca_streams)) != NULL) {
		LIST_REMOVE(s, entry);
		aca_stream_free(s);
	}
	if (aca_stream_timer != NULL)
		event_free(aca_stream_timer);
	aca_stream_timer = NULL;
}

int
aca_stream_switch(const char *exec, const char *job, const char *exec_name,
    int running, int64_t t, uint64_t *seq)
{
	struct aca_stream *s = aca_stream_find(exec);
	struct timeval tv = { ACA_STREAM_IDLE_S / 3, 0 };
	int64_t now = str_now_ns();
	size_t i;

	if (s == NULL) {
		if (!running || strlen(job) >= sizeof(s->job))
			return 0;
		s = xcalloc(1, sizeof(*s));
		s->exec = xstrdup(exec);
		memcpy(s->job, job, strlen(job) + 1);
		s->exec_name = s->exec + (exec_name - exec);
		s->used_ns = now;
		LIST_INSERT_HEAD(&aca_streams, s, entry);
		if (aca_stream_timer != NULL &&
		    !evtimer_pending(aca_stream_timer, NULL))
			evtimer_add(aca_stream_timer, &tv);
		aca_stream_step(s);
		return 0;
	}
	if (running &&
	    ((s->state == ACA_ST_FAILED &&
		 now - s->failed_ns >=
		     (int64_t)ACA_STREAM_RETRY_S * 1000000000) ||
		(s->state == ACA_ST_ENDED &&
		    now - s->ended_ns >=
			(int64_t)ACA_STREAM_RETRY_S * 1000000000))) {
		aca_stream_reopen(s);
		return 0;
	}
	if (s->state == ACA_ST_FAILED)
		return 0;
	if ((s->state != ACA_ST_OPEN && s->state != ACA_ST_ENDED) ||
	    s->opened_ns == 0 ||
	    now - s->opened_ns < (int64_t)ACA_STREAM_SETTLE_MS * 1000000)
		return 0;
	/* Does it reach back to t? Lines that came live after the tail do
	 * not make a short tail full. */
	if ((s->n == 0 || s->lines[0].ts_ns > t) &&
	    (s->ntail >= ACA_STREAM_TAIL || s->trimmed))
		return 0;
	for (i = 0; i < s->n && s->lines[i].ts_ns <= t; i++)
		;
	*seq = s->base + i;
	return 1;
}

int
aca_stream_lines(const char *exec, uint64_t seq, int running,
    const struct azure_log_entry **lines, size_t *n, int *more)
{
	struct aca_stream *s = aca_stream_find(exec);
	size_t from, k;

	/* Closed while the execution runs: the service ends the stream at
	 * the exit, which the poller may see a little later; a stream that
	 * ended long before the exit was cut (its token expired). */
	if (s == NULL || seq < s->base || seq > s->base + s->n ||
	    s->state == ACA_ST_FAILED ||
	    (s->state == ACA_ST_ENDED && running &&
		str_now_ns() - s->ended_ns >=
		    (int64_t)ACA_STREAM_RETRY_S * 1000000000))
		return -1;
	from = (size_t)(seq - s->base);
	k = s->n - from;
	*more = k > ACA_STREAM_BATCH;
	if (*more)
		k = ACA_STREAM_BATCH;
	*lines = s->lines + from;
	*n = k;
	return 0;
}
