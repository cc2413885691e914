/* After a restart, a run that was in flight ends as its agent's marker
 * lines in Cloud Logging say (docs/agent.md): the lines of the run's
 * function service between "container <id> request <rid> started" and
 * "... exit status N" are its output (stdout and stderr apart, by log
 * name), N its exit code. Logging is read gently (its read quota is low)
 * until the run's timeout has passed; without an exit marker by then the
 * container exits 125 with a sentence naming the query. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>

#include <event2/event.h>

#include "gcf.h"
#include "sockerless/json.h"
#include "sockerless/log.h"
#include "sockerless/str.h"
#include "sockerless/xmalloc.h"

#define GCF_REC_POLL_MS 2000
#define GCF_REC_GRACE_S 60
/* Logging orders entries by their timestamps but takes them in as they
 * come: once the exit marker is there, this long later the whole run is
 * read again, so a line that arrived after the marker is not missed. */
#define GCF_REC_SETTLE_MS 3000
/* stdout and stderr are timestamped apart (by the log agent reading each
 * pipe): a last stdout line can be stamped a little after the exit
 * marker on stderr. Lines this close after the marker are the run's. */
#define GCF_REC_SKEW_NS 2000000000LL

struct gcf_rec {
	TAILQ_ENTRY(gcf_rec) entry;
	struct backend *b;
	struct container *c;
	char *filter;
	char *cursor;
	char *started; /* the started marker */
	char *exited;  /* the exit marker's prefix */
	int seen_start;
	int settling; /* the exit marker was seen; reading the run again */
	int code;
	int64_t exit_ns; /* the exit marker's timestamp */
	int64_t since_ns, deadline_ns;
	struct kit_lines l;
	struct event *timer;
	uint64_t call;
};

static TAILQ_HEAD(, gcf_rec) gcf_recs = TAILQ_HEAD_INITIALIZER(gcf_recs);

static void gcf_rec_read(struct gcf_rec *r);

static void
gcf_rec_free(struct gcf_rec *r)
{
	TAILQ_REMOVE(&gcf_recs, r, entry);
	if (r->timer != NULL)
		event_free(r->timer);
	kit_lines_keep(&r->l, r->b, r->c);
	container_unref(r->c);
	free(r->filter);
	free(r->cursor);
	free(r->started);
	free(r->exited);
	free(r);
}

static void
gcf_rec_end(struct gcf_rec *r, int code, const char *error)
{
	struct backend *b = r->b;
	struct container *c = r->c;

	container_ref(c);
	gcf_rec_free(r); /* keeps the lines first */
	if (!c->gone && container_running(c))
		backend_container_exited(b, c, code, str_now_ns(), error);
	container_unref(c);
}

static void
gcf_rec_tick(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	gcf_rec_read(arg);
}

/* 1 when ev is the run's exit marker; its status in *code. */
static int
gcf_rec_exit(const struct gcf_rec *r, const struct gcp_log_entry *ev, int *code)
{
	size_t el = strlen(r->exited);
	char num[8];
	size_t n;

	if (ev->len <= el || memcmp(ev->text, r->exited, el) != 0)
		return 0;
	n = strspn(ev->text + el, "0123456789");
	if (n == 0 || n >= sizeof(num) || el + n > ev->len)
		return 0;
	memcpy(num, ev->text + el, n);
	num[n] = '\0';
	*code = (int)strtol(num, NULL, 10);
	return 1;
}

/* Settling: the lines after the started marker and up to the exit
 * marker's time (and GCF_REC_SKEW_NS) are the output; 1 past them. */
static int
gcf_rec_entry(struct gcf_rec *r, const struct gcp_log_entry *ev)
{
	int code;

	if (!r->seen_start) {
		r->seen_start = ev->len == strlen(r->started) &&
		    memcmp(ev->text, r->started, ev->len) == 0;
		return 0;
	}
	if (ev->ts_ns > r->exit_ns + GCF_REC_SKEW_NS)
		return 1;
	if (!gcf_rec_exit(r, ev, &code))
		kit_lines_emit(
		    &r->l, ev->stream, ev->ts_ns / 1000, ev->text, ev->len);
	return 0;
}

/* The whole run again, from the start (after GCF_REC_SETTLE_MS). */
static void
gcf_rec_settle(struct gcf_rec *r, int code, int64_t exit_ns)
{
	struct timeval tv = { GCF_REC_SETTLE_MS / 1000,
		(GCF_REC_SETTLE_MS % 1000) * 1000 };

	r->settling = 1;
	r->code = code;
	r->exit_ns = exit_ns;
	free(r->cursor);
	r->cursor = NULL;
	evtimer_add(r->timer, &tv);
}

static void
gcf_rec_read_done(void *arg, const struct gcp_log_entry *ev, size_t n,
    const char *cursor, int more, const struct cloud_error *ce)
{
	struct gcf_rec *r = arg;
	struct timeval tv = { GCF_REC_POLL_MS / 1000,
		(GCF_REC_POLL_MS % 1000) * 1000 };
	char *why;
	int code;

	r->call = 0;
	if (ce != NULL)
		log_warnx("container %.12s: reading its run's end from Cloud "
			  "Logging: %s: %s; trying again",
		    r->c->id, ce->code, ce->message);
	for (size_t i = 0; ce == NULL && i < n; i++) {
		if (!r->settling && gcf_rec_exit(r, &ev[i], &code)) {
			gcf_rec_settle(r, code, ev[i].ts_ns);
			return;
		}
		if (r->settling && gcf_rec_entry(r, &ev[i])) {
			gcf_rec_end(r, r->code, NULL);
			return;
		}
	}
	if (ce == NULL && cursor != NULL) {
		free(r->cursor);
		r->cursor = xstrdup(cursor);
	}
	if (ce == NULL && more) {
		gcf_rec_read(r);
		return;
	}
	if (ce == NULL && r->settling && r->seen_start) {
		/* everything Logging has of the run was read */
		gcf_rec_end(r, r->code, NULL);
		return;
	}
	if (str_now_ns() > r->deadline_ns) {
		why =
		    xasprintf("the backend restarted during the run and Cloud "
			      "Logging has no end of it; its output is there "
			      "(%s)",
			r->filter);
		gcf_rec_end(r, 125, why);
		free(why);
		return;
	}
	evtimer_add(r->timer, &tv);
}

static void
gcf_rec_read(struct gcf_rec *r)
{
	r->call = gcp_logs_read(gcf.gb.gcp, gcf.gb.project, r->filter,
	    r->cursor, r->since_ns, 1000, gcf_rec_read_done, r);
}

static void
gcf_rec_one(struct backend *b, struct container *c, void *arg)
{
	cJSON *priv;
	const char *slot, *started;
	struct gcf_rec *r;
	char q[128], rid[64];

	(void)arg;
	if (!container_running(c) || c->backend_data != NULL)
		return;
	priv = container_private(c);
	slot = json_str(priv, KIT_FAAS_P_SLOT);
	started = json_str(json_obj(container_doc(c), "State"), "StartedAt");
	if (slot == NULL) {
		/* The start never sent the run. */
		backend_container_exited(b, c, 125, str_now_ns(),
		    "the backend restarted before the run was sent");
		return;
	}
	r = xcalloc(1, sizeof(*r));
	r->b = b;
	r->c = c;
	container_ref(c);
	gcp_logs_quote(slot, q, sizeof(q));
	r->filter = xasprintf("resource.type=\"cloud_run_revision\" AND "
			      "resource.labels.service_name=%s",
	    q);
	snprintf(rid, sizeof(rid), "%.12s-%d", c->id,
	    (int)json_int(priv, KIT_FAAS_P_RUN, 0));
	r->started = xasprintf(
	    "sockerless-agent: container %s request %s started", c->id, rid);
	r->exited =
	    xasprintf("sockerless-agent: container %s request %s exit status ",
		c->id, rid);
	r->since_ns = started != NULL ? gcp_time_parse(started) : -1;
	if (r->since_ns <= 0)
		r->since_ns = str_now_ns() - gcf_conf.timeout * 1000000000LL;
	r->since_ns -= 1000000000LL; /* clocks of two machines */
	r->deadline_ns =
	    r->since_ns + (gcf_conf.timeout + GCF_REC_GRACE_S) * 1000000000LL;
	kit_lines_init(&r->l);
	r->timer = evtimer_new(backend_base(b), gcf_rec_tick, r);
	TAILQ_INSERT_TAIL(&gcf_recs, r, entry);
	/* The function may still run it: keep it out of the pool meanwhile. */
	kit_pool_quiet(slot, (r->deadline_ns - str_now_ns()) / 1000000000LL);
	log_info("container %.12s: its run on %s was in flight; reading its "
		 "end from Cloud Logging",
	    c->id, slot);
	gcf_rec_read(r);
}

void
gcf_rec_start(struct backend *b)
{
	backend_container_foreach(b, gcf_rec_one, NULL);
}

void
gcf_rec_stop(void)
{
	struct gcf_rec *r, *next;

	for (r = TAILQ_FIRST(&gcf_recs); r != NULL; r = next) {
		next = TAILQ_NEXT(r, entry);
		if (r->call != 0)
			gcp_cancel(gcf.gb.gcp, r->call);
		gcf_rec_free(r);
	}
}
