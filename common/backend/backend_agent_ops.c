/* Docker operations answered by the in-workload agent with one request
 * and one answer (top, stats, pause, signals) or one streamed archive
 * (docker cp), over the container's link (backend_agent.c). */
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "backend_agent.h"
#include "backend_prestart.h"
#include "backend_img.h"
#include "backend_sys.h"
#include "sockerless/json.h"
#include "sockerless/lite.h"
#include "sockerless/log.h"
#include "sockerless/xmalloc.h"

#define STATS_INTERVAL_S 1
#define ARCHIVE_HIGH	 (1024 * 1024)

enum agent_call_kind {
	CALL_TOP,
	CALL_STATS,
	CALL_PAUSE,
	CALL_UNPAUSE,
	CALL_SIGNAL,
	CALL_ARCHIVE_HEAD,
	CALL_ARCHIVE_GET,
	CALL_ARCHIVE_PUT
};

struct agent_call {
	enum agent_call_kind kind;
	struct backend *b;
	struct container *c; /* referenced */
	struct httpsrv_req *req;
	struct aglink_chan *ch;
	backend_done_fn done; /* CALL_SIGNAL */
	void *done_arg;
	/* stats */
	cJSON *prev;
	int stream, one_shot, samples;
	struct event *timer;
	/* archive */
	int began;
	size_t owed;
	const char *body;
	size_t body_len, body_off;
	int eof_sent;
};

static const struct aglink_chan_cbs agent_call_cbs;

static void
agent_call_free(struct agent_call *k)
{
	if (k->req != NULL)
		httpsrv_req_on_close(k->req, NULL, NULL);
	if (k->ch != NULL)
		aglink_chan_close(k->ch);
	if (k->timer != NULL)
		event_free(k->timer);
	cJSON_Delete(k->prev);
	container_unref(k->c);
	free(k);
}

static void
agent_call_req_gone(struct httpsrv_req *r, void *arg)
{
	struct agent_call *k = arg;

	(void)r;
	k->req = NULL;
	agent_call_free(k);
}

static int
agent_call_open(struct agent_call *k, cJSON *request, struct err *e)
{
	struct aglink *l = backend_agent_link(k->b, k->c, e);

	if (l == NULL) {
		cJSON_Delete(request);
		return -1;
	}
	k->ch = aglink_open(l, request, &agent_call_cbs, k);
	cJSON_Delete(request);
	return 0;
}

/* Starts a call answering req; on failure answers the error itself. */
static struct agent_call *
agent_call_start(struct backend *b, struct container *c, struct httpsrv_req *r,
    enum agent_call_kind kind, cJSON *request)
{
	struct agent_call *k = xcalloc(1, sizeof(*k));
	struct err e;

	k->kind = kind;
	k->b = b;
	k->c = c;
	k->req = r;
	container_ref(c);
	if (agent_call_open(k, request, &e) == -1) {
		httpsrv_reply_err(r, &e);
		k->req = NULL;
		agent_call_free(k);
		return NULL;
	}
	httpsrv_req_on_close(r, agent_call_req_gone, k);
	return k;
}

static cJSON *
agent_request(const char *kind)
{
	cJSON *o = cJSON_CreateObject();

	json_add_str(o, "kind", kind);
	return o;
}

/* The agent's error answer as Docker's; NULL when res is no error. */
static int
agent_result_err(
    const cJSON *res, const struct err *le, struct container *c, struct err *e)
{
	const char *msg;
	size_t n;

	if (le != NULL) {
		*e = *le;
		return -1;
	}
	if (json_int(res, "status", 0) < 400)
		return 0;
	msg = json_str(res, "message");
	if (msg == NULL)
		msg = "the agent refused the request";
	n = strlen(msg);
	/* "Could not find the file /x in container" gets the name, as
	 * Docker words it. */
	if (n >= 12 && strcmp(msg + n - 12, "in container") == 0)
		err_set(e, (int)json_int(res, "status", 500), "%s %s", msg,
		    container_name(c));
	else
		err_set(e, (int)json_int(res, "status", 500), "%s", msg);
	return -1;
}

/* --- stats -------------------------------------------------------------- */

static cJSON *
agent_stats_cpu(const cJSON *s)
{
	cJSON *cpu = cJSON_CreateObject(), *u = cJSON_CreateObject(), *t;

	json_add_int(u, "total_usage", json_int(s, "cpu_total_ns", 0));
	json_add_int(u, "usage_in_kernelmode", json_int(s, "cpu_system_ns", 0));
	json_add_int(u, "usage_in_usermode", json_int(s, "cpu_user_ns", 0));
	cJSON_AddItemToObject(cpu, "cpu_usage", u);
	if (s != NULL) {
		json_add_int(
		    cpu, "system_cpu_usage", json_int(s, "system_cpu_ns", 0));
		json_add_int(cpu, "online_cpus", json_int(s, "online_cpus", 1));
	}
	t = cJSON_CreateObject();
	json_add_int(t, "periods", 0);
	json_add_int(t, "throttled_periods", 0);
	json_add_int(t, "throttled_time", 0);
	cJSON_AddItemToObject(cpu, "throttling_data", t);
	return cpu;
}

/* Docker's stats object from two agent samples (prev may be NULL). */
static cJSON *
agent_stats_doc(struct container *c, const cJSON *cur, const cJSON *prev)
{
	cJSON *o = cJSON_CreateObject(), *p, *m, *bl, *list, *it, *nets;
	const cJSON *n;
	const char *ops[2] = { "read", "write" };
	const char *keys[2] = { "read_bytes", "write_bytes" };
	char *name;

	json_add_str(o, "read", json_str(cur, "read"));
	json_add_str(o, "preread",
	    prev != NULL ? json_str(prev, "read") : "0001-01-01T00:00:00Z");
	p = cJSON_CreateObject();
	json_add_int(p, "current", json_int(cur, "pids", 0));
	cJSON_AddItemToObject(o, "pids_stats", p);
	json_add_int(o, "num_procs", 0);
	cJSON_AddItemToObject(o, "cpu_stats", agent_stats_cpu(cur));
	cJSON_AddItemToObject(o, "precpu_stats", agent_stats_cpu(prev));
	m = cJSON_CreateObject();
	json_add_int(m, "usage", json_int(cur, "memory_usage", 0));
	json_add_int(m, "limit", json_int(cur, "memory_limit", 0));
	cJSON_AddItemToObject(m, "stats",
	    json_obj(cur, "memory_stats") != NULL ?
		cJSON_Duplicate(json_obj(cur, "memory_stats"), 1) :
		cJSON_CreateObject());
	cJSON_AddItemToObject(o, "memory_stats", m);
	bl = cJSON_CreateObject();
	list = cJSON_CreateArray();
	for (int i = 0; i < 2; i++) {
		it = cJSON_CreateObject();
		json_add_int(it, "major", 0);
		json_add_int(it, "minor", 0);
		json_add_str(it, "op", ops[i]);
		json_add_int(
		    it, "value", json_int(json_obj(cur, "blkio"), keys[i], 0));
		cJSON_AddItemToArray(list, it);
	}
	cJSON_AddItemToObject(bl, "io_service_bytes_recursive", list);
	cJSON_AddItemToObject(o, "blkio_stats", bl);
	nets = cJSON_CreateObject();
	cJSON_ArrayForEach(n, json_obj(cur, "net")) {
		cJSON_AddItemToObject(nets, n->string, cJSON_Duplicate(n, 1));
	}
	cJSON_AddItemToObject(o, "networks", nets);
	name = xasprintf("/%s", container_name(c));
	json_add_str(o, "name", name);
	free(name);
	json_add_str(o, "id", c->id);
	return o;
}

static void agent_stats_tick(evutil_socket_t fd, short what, void *arg);

static void
agent_stats_sample(struct agent_call *k)
{
	struct err e;

	if (agent_call_open(k, agent_request("stats"), &e) == -1) {
		/* A reply frees the request: detach first. */
		httpsrv_req_on_close(k->req, NULL, NULL);
		if (k->began)
			httpsrv_stream_end(k->req);
		else
			httpsrv_reply_err(k->req, &e);
		k->req = NULL;
		agent_call_free(k);
	}
}

static void
agent_stats_result(struct agent_call *k, const cJSON *res)
{
	struct timeval tv = { STATS_INTERVAL_S, 0 };
	cJSON *doc;
	char *s;

	k->samples++;
	/* Without streaming, Docker waits for a second sample so the CPU
	 * figures have a base, unless one-shot asks for speed. */
	if (!k->stream && !k->one_shot && k->samples == 1) {
		k->prev = cJSON_Duplicate(res, 1);
		k->timer = evtimer_new(k->b->base, agent_stats_tick, k);
		evtimer_add(k->timer, &tv);
		return;
	}
	doc = agent_stats_doc(k->c, res, k->prev);
	s = json_print(doc);
	cJSON_Delete(doc);
	if (!k->stream) {
		httpsrv_req_on_close(k->req, NULL, NULL);
		httpsrv_reply(k->req, 200, "application/json", s, strlen(s));
		free(s);
		k->req = NULL;
		agent_call_free(k);
		return;
	}
	if (k->samples == 1) {
		httpsrv_stream_begin(k->req, 200, "application/json");
		k->began = 1;
	}
	httpsrv_stream_line(k->req, s, "\n");
	free(s);
	cJSON_Delete(k->prev);
	k->prev = cJSON_Duplicate(res, 1);
	if (k->timer == NULL)
		k->timer = evtimer_new(k->b->base, agent_stats_tick, k);
	evtimer_add(k->timer, &tv);
}

static void
agent_stats_tick(evutil_socket_t fd, short what, void *arg)
{
	struct agent_call *k = arg;

	(void)fd;
	(void)what;
	if (!container_running(k->c)) {
		if (k->began) {
			httpsrv_req_on_close(k->req, NULL, NULL);
			httpsrv_stream_end(k->req);
			k->req = NULL;
			agent_call_free(k);
			return;
		}
	}
	agent_stats_sample(k);
}

void
backend_agent_stats(
    struct backend *b, struct httpsrv_req *r, const struct router_match *m)
{
	struct container *c;
	struct agent_call *k;

	if ((c = backend_lookup_or_reply(b, r, router_param(m, "id"))) == NULL)
		return;
	if (!container_running(c)) {
		/* Docker answers a stopped container with zero figures. */
		cJSON *o = agent_stats_doc(c, NULL, NULL);
		json_set(o, "read", cJSON_CreateString("0001-01-01T00:00:00Z"));
		httpsrv_reply_json(r, 200, o);
		cJSON_Delete(o);
		return;
	}
	if ((k = agent_call_start(
		 b, c, r, CALL_STATS, agent_request("stats"))) == NULL)
		return;
	k->stream = backend_query_bool(r, "stream", 1);
	k->one_shot = backend_query_bool(r, "one-shot", 0);
}

/* --- one-shot answers ---------------------------------------------------- */

static void
agent_call_on_data(void *arg, int stream, const unsigned char *p, size_t n)
{
	struct agent_call *k = arg;

	(void)stream;
	if (k->kind != CALL_ARCHIVE_GET || k->req == NULL || !k->began) {
		aglink_chan_consumed(k->ch, n);
		return;
	}
	httpsrv_stream_write(k->req, p, n);
	if (httpsrv_stream_pending(k->req) < ARCHIVE_HIGH && k->owed == 0)
		aglink_chan_consumed(k->ch, n);
	else
		k->owed += n;
}

static void
agent_archive_drained(struct httpsrv_req *r, void *arg)
{
	struct agent_call *k = arg;

	(void)r;
	if (k->owed > 0 && k->ch != NULL) {
		aglink_chan_consumed(k->ch, k->owed);
		k->owed = 0;
	}
}

static void
agent_stat_header(struct httpsrv_req *r, const cJSON *stat)
{
	char *j = json_print(stat), *b64;
	size_t n = strlen(j);

	b64 = xmalloc(4 * ((n + 2) / 3) + 1);
	lite_b64_encode((const unsigned char *)j, n, b64);
	httpsrv_add_header(r, "X-Docker-Container-Path-Stat", b64);
	free(b64);
	free(j);
}

static void
agent_call_on_meta(void *arg, const cJSON *meta)
{
	struct agent_call *k = arg;

	if (k->kind != CALL_ARCHIVE_GET || k->req == NULL || k->began)
		return;
	agent_stat_header(k->req, json_obj(meta, "stat"));
	httpsrv_stream_begin(k->req, 200, "application/x-tar");
	httpsrv_stream_on_drain(k->req, agent_archive_drained, k);
	k->began = 1;
}

static void agent_put_feed(struct agent_call *k);

static void
agent_call_on_writable(void *arg)
{
	agent_put_feed(arg);
}

static void
agent_call_on_result(void *arg, const cJSON *res, const struct err *le)
{
	struct agent_call *k = arg;
	struct err e;
	int failed = agent_result_err(res, le, k->c, &e) == -1;

	k->ch = NULL;
	if (k->kind == CALL_SIGNAL) {
		k->done(k->done_arg, failed ? &e : NULL);
		agent_call_free(k);
		return;
	}
	if (k->req == NULL) {
		agent_call_free(k);
		return;
	}
	if (k->kind == CALL_STATS && !failed) {
		agent_stats_result(k, res);
		return;
	}
	httpsrv_req_on_close(k->req, NULL, NULL);
	if (failed && !k->began) {
		httpsrv_reply_err(k->req, &e);
	} else if (k->began) {
		if (failed)
			log_warnx(
			    "container %.12s: archive: %s", k->c->id, e.msg);
		httpsrv_stream_end(k->req);
	} else {
		switch (k->kind) {
		case CALL_TOP:
			httpsrv_reply_json(k->req, 200, res);
			break;
		case CALL_PAUSE:
		case CALL_UNPAUSE:
			container_set_state(
			    k->c, k->kind == CALL_PAUSE ? "paused" : "running");
			backend_container_save(k->b, k->c);
			backend_sys_container_event(k->b, k->c,
			    k->kind == CALL_PAUSE ? "pause" : "unpause", NULL);
			httpsrv_reply_empty(k->req, 204);
			break;
		case CALL_ARCHIVE_HEAD:
			agent_stat_header(k->req, json_obj(res, "stat"));
			httpsrv_reply_empty(k->req, 200);
			break;
		default:
			httpsrv_reply_empty(k->req, 200);
			break;
		}
	}
	k->req = NULL;
	agent_call_free(k);
}

static const struct aglink_chan_cbs agent_call_cbs = { agent_call_on_data, NULL,
	agent_call_on_meta, agent_call_on_writable, agent_call_on_result };

void
backend_agent_top(
    struct backend *b, struct httpsrv_req *r, const struct router_match *m)
{
	struct container *c;
	cJSON *req;
	const char *args = httpsrv_req_query(r, "ps_args");

	if ((c = backend_lookup_or_reply(b, r, router_param(m, "id"))) == NULL)
		return;
	if (!container_running(c)) {
		httpsrv_reply_error(
		    r, 409, "Container %s is not running", c->id);
		return;
	}
	req = agent_request("top");
	json_add_str(req, "args", args != NULL ? args : "-ef");
	agent_call_start(b, c, r, CALL_TOP, req);
}

static void
agent_pause_common(struct backend *b, struct httpsrv_req *r,
    const struct router_match *m, int pause)
{
	struct container *c;
	int paused;

	if ((c = backend_lookup_or_reply(b, r, router_param(m, "id"))) == NULL)
		return;
	paused = json_bool(json_obj(container_doc(c), "State"), "Paused", 0);
	if (!container_running(c)) {
		httpsrv_reply_error(
		    r, 409, "Container %s is not running", c->id);
		return;
	}
	if (pause && paused) {
		httpsrv_reply_error(
		    r, 409, "Container %s is already paused", c->id);
		return;
	}
	if (!pause && !paused) {
		httpsrv_reply_error(
		    r, 409, "Container %s is not paused", c->id);
		return;
	}
	agent_call_start(b, c, r, pause ? CALL_PAUSE : CALL_UNPAUSE,
	    agent_request(pause ? "pause" : "unpause"));
}

void
backend_agent_pause(
    struct backend *b, struct httpsrv_req *r, const struct router_match *m)
{
	agent_pause_common(b, r, m, 1);
}

void
backend_agent_unpause(
    struct backend *b, struct httpsrv_req *r, const struct router_match *m)
{
	agent_pause_common(b, r, m, 0);
}

int
backend_agent_signal(struct backend *b, struct container *c, int signo,
    backend_done_fn done, void *arg, struct err *e)
{
	struct agent_call *k;
	cJSON *req;

	if (!backend_agent_runs(b) ||
	    json_str(container_private(c), BACKEND_PRIV_AGENT_TOKEN) == NULL)
		return err_set(e, 501,
		    "Container %s runs without the sockerless agent, so only "
		    "KILL and TERM can reach it; restart it with the agent "
		    "enabled to send signal %d",
		    c->id, signo);
	k = xcalloc(1, sizeof(*k));
	k->kind = CALL_SIGNAL;
	k->b = b;
	k->c = c;
	k->done = done;
	k->done_arg = arg;
	container_ref(c);
	req = agent_request("signal");
	json_add_int(req, "signal", signo);
	if (agent_call_open(k, req, e) == -1) {
		agent_call_free(k);
		return -1;
	}
	/* A paused container's processes are stopped: a signal other than
	 * KILL waits, as with Docker. */
	return 0;
}

/* --- archive (docker cp) ------------------------------------------------ */

static cJSON *
agent_archive_request(struct backend *b, struct httpsrv_req *r,
    const struct router_match *m, const char *kind, struct container **cp)
{
	const char *path = httpsrv_req_query(r, "path");
	const cJSON *vol;
	cJSON *req;

	if ((*cp = backend_lookup_or_reply(b, r, router_param(m, "id"))) ==
	    NULL)
		return NULL;
	if (path == NULL || path[0] == '\0') {
		httpsrv_reply_error(r, 400,
		    "path is required: give the path "
		    "inside the container");
		return NULL;
	}
	if (!container_running(*cp) && strcmp(kind, "archive_put") != 0 &&
	    backend_img_tree_never_ran(*cp)) {
		/* Its files are the image's (and what was put before). */
		backend_img_tree_archive(
		    b, r, *cp, path, strcmp(kind, "archive_stat") == 0);
		return NULL;
	}
	if (!container_running(*cp) && strcmp(kind, "archive_put") != 0 &&
	    (vol = backend_img_tree_volume_at(*cp, path)) != NULL) {
		httpsrv_reply_error(r, 409,
		    "Container %s is not running: %s is on volume %s, which "
		    "outlives it; read it from the volume with another "
		    "container (docker run --rm -v %s:/v busybox ls /v)",
		    (*cp)->id, path, json_str(vol, "Name"),
		    json_str(vol, "Name"));
		return NULL;
	}
	if (!container_running(*cp)) {
		/* The workload's filesystem exists only while it runs. */
		httpsrv_reply_error(r, 409,
		    "Container %s is not running: on this backend files can "
		    "be copied only while the container runs",
		    (*cp)->id);
		return NULL;
	}
	req = agent_request(kind);
	json_add_str(req, "path", path);
	return req;
}

void
backend_agent_archive_head(
    struct backend *b, struct httpsrv_req *r, const struct router_match *m)
{
	struct container *c;
	cJSON *req = agent_archive_request(b, r, m, "archive_stat", &c);

	if (req != NULL)
		agent_call_start(b, c, r, CALL_ARCHIVE_HEAD, req);
}

void
backend_agent_archive_get(
    struct backend *b, struct httpsrv_req *r, const struct router_match *m)
{
	struct container *c;
	cJSON *req = agent_archive_request(b, r, m, "archive_get", &c);

	if (req != NULL)
		agent_call_start(b, c, r, CALL_ARCHIVE_GET, req);
}

static void
agent_put_feed(struct agent_call *k)
{
	size_t n;

	if (k->kind != CALL_ARCHIVE_PUT || k->ch == NULL)
		return;
	while (k->body_off < k->body_len) {
		n = aglink_chan_write(
		    k->ch, k->body + k->body_off, k->body_len - k->body_off);
		if (n == 0)
			return;
		k->body_off += n;
	}
	if (!k->eof_sent) {
		k->eof_sent = 1;
		aglink_chan_eof(k->ch);
	}
}

void
backend_agent_archive_put(
    struct backend *b, struct httpsrv_req *r, const struct router_match *m)
{
	struct container *c;
	struct agent_call *k;
	cJSON *req;

	/* Files for a container that has not run yet are kept. */
	if (backend_prestart_put(b, r, m, backend_agent_archive_put))
		return;
	if ((req = agent_archive_request(b, r, m, "archive_put", &c)) == NULL)
		return;
	json_add_bool(req, "noOverwriteDirNonDir",
	    backend_query_bool(r, "noOverwriteDirNonDir", 0));
	if ((k = agent_call_start(b, c, r, CALL_ARCHIVE_PUT, req)) == NULL)
		return;
	/* The body stays valid while the request lives. */
	k->body = httpsrv_req_body(r, &k->body_len);
	if (k->body == NULL)
		k->body_len = 0;
	agent_put_feed(k);
}
