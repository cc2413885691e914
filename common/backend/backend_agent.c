/* The framework's side of the in-workload agent (docs/agent-link.md): the
 * environment a workload needs, one link per running container, and the
 * hijacked streams of attach-with-stdin and exec relayed to the agent's
 * channels with Docker's framing and flow control end to end. The
 * request/answer operations (top, stats, archive, pause, signals) are in
 * backend_agent_ops.c. */
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "backend_agent.h"
#include "backend_ctr.h"
#include "backend_sys.h"
#include "sockerless/id.h"
#include "sockerless/json.h"
#include "sockerless/log.h"
#include "sockerless/xmalloc.h"

/* Stop reading the agent (no credit) while this much waits for a client. */
#define RELAY_HIGH_WATER (512 * 1024)
#define RELAY_LOW_WATER	 (128 * 1024)
#define AGENT_CONNECT_S	 30
#define AGENT_HOLD_S	 60
#define EXEC_KEEP_NS	 (3600LL * 1000000000LL)

static struct agent_execs agent_execs = TAILQ_HEAD_INITIALIZER(agent_execs);
static int agent_closing; /* the backend shuts down: no new links */

/* Closes a container's link (callbacks may run and must not find it). */
static void
agent_link_close(struct backend_agent *ag)
{
	struct aglink *l = ag->link;

	ag->link = NULL;
	if (l != NULL)
		aglink_free(l);
}

/* --- environment -------------------------------------------------------- */

static void
agent_env_add(cJSON *env, const char *k, const char *v)
{
	char *s = xasprintf("%s=%s", k, v);

	cJSON_AddItemToArray(env, cJSON_CreateString(s));
	free(s);
}

/* HostConfig.ConsoleSize ([rows, cols], API 1.42): the terminal's size
 * before the command starts. The CLI's resize comes only after start
 * returns, which a held command (attach before start) can outrun. Per run
 * (a terminal's size is the client's), so the task definition stays
 * shareable. */
static void
agent_env_console_size(cJSON *env, const struct container *c)
{
	const cJSON *cs = json_arr(container_host_config(c), "ConsoleSize");
	double rows, cols;
	char n[32];

	if (cJSON_GetArraySize(cs) != 2 ||
	    !cJSON_IsNumber(cJSON_GetArrayItem(cs, 0)) ||
	    !cJSON_IsNumber(cJSON_GetArrayItem(cs, 1)))
		return;
	rows = cJSON_GetArrayItem(cs, 0)->valuedouble;
	cols = cJSON_GetArrayItem(cs, 1)->valuedouble;
	if (rows < 1 || cols < 1 || rows > 65535 || cols > 65535)
		return;
	snprintf(n, sizeof(n), "%u %u", (unsigned)rows, (unsigned)cols);
	agent_env_add(env, "SOCKERLESS_TTY_SIZE", n);
}

cJSON *
backend_agent_run_env(struct backend *b, struct container *c, struct err *e)
{
	struct backend_agent *ag = backend_agent_get(b, c);
	char tok[AGLINK_TOKEN_HEX + 1], sha[AGLINK_TOKEN_HEX + 1], n[16];
	cJSON *env;

	if (aglink_token_new(tok, sha) == -1) {
		err_set(e, 500, "no random bytes for the agent token");
		return NULL;
	}
	/* A new run, a new token: links to the previous run are over. */
	json_set(container_private(c), "AgentToken", cJSON_CreateString(tok));
	backend_container_save(b, c);
	agent_link_close(ag);
	env = cJSON_CreateArray();
	agent_env_add(env, "SOCKERLESS_AGENT_TOKEN_SHA256", sha);
	agent_env_add(env, "SOCKERLESS_CONTAINER_ID", c->id);
	if (json_bool(container_config(c), "Tty", 0))
		agent_env_console_size(env, c);
	ag->hold = !TAILQ_EMPTY(&ag->waiting);
	if (ag->hold) {
		snprintf(n, sizeof(n), "%d", AGENT_HOLD_S);
		agent_env_add(env, "SOCKERLESS_HOLD", n);
	}
	return env;
}

cJSON *
backend_agent_config_env(const struct container *c)
{
	const cJSON *cfg = container_config(c), *hc;
	cJSON *env = cJSON_CreateArray();
	const char *s;

	if (json_bool(cfg, "Tty", 0))
		agent_env_add(env, "SOCKERLESS_TTY", "1");
	if (json_bool(cfg, "OpenStdin", 0)) {
		agent_env_add(env, "SOCKERLESS_STDIN", "1");
		if (json_bool(cfg, "StdinOnce", 0))
			agent_env_add(env, "SOCKERLESS_STDIN_ONCE", "1");
	}
	hc = json_obj(cfg, "Healthcheck");
	if (backend_agent_has_health(c)) {
		char *j = json_print(hc);
		agent_env_add(env, "SOCKERLESS_HEALTHCHECK", j);
		free(j);
	}
	if ((s = json_str(cfg, "StopSignal")) != NULL && s[0] != '\0')
		agent_env_add(env, "SOCKERLESS_STOP_SIGNAL", s);
	return env;
}

cJSON *
backend_agent_command(const struct container *c)
{
	const cJSON *cfg = container_config(c), *it;
	const cJSON *parts[2] = { json_arr(cfg, "Entrypoint"),
		json_arr(cfg, "Cmd") };
	cJSON *argv = cJSON_CreateArray();

	for (int i = 0; i < 2; i++)
		cJSON_ArrayForEach(it, parts[i]) {
			if (cJSON_IsString(it))
				cJSON_AddItemToArray(
				    argv, cJSON_CreateString(it->valuestring));
		}
	return argv;
}

int
backend_agent_has_health(const struct container *c)
{
	const cJSON *test =
	    json_arr(json_obj(container_config(c), "Healthcheck"), "Test");
	const cJSON *first = cJSON_GetArrayItem(test, 0);

	return first != NULL && cJSON_IsString(first) &&
	    strcmp(first->valuestring, "NONE") != 0 &&
	    cJSON_GetArraySize(test) >
	    (strcmp(first->valuestring, "CMD") == 0 ||
			strcmp(first->valuestring, "CMD-SHELL") == 0 ?
		    1 :
		    0);
}

/* --- the link ----------------------------------------------------------- */

static void
agent_on_hello(void *arg, const cJSON *hello)
{
	struct backend_agent *ag = arg;
	struct agent_relay *rl, *next;

	(void)hello;
	/* Execs waited for the link before answering their request. */
	for (rl = TAILQ_FIRST(&ag->relays); rl != NULL; rl = next) {
		next = TAILQ_NEXT(rl, entry);
		if (rl->req != NULL)
			agent_relay_hijack(rl);
	}
}

static void
agent_on_event(void *arg, const cJSON *ev)
{
	struct backend_agent *ag = arg;
	const cJSON *health = json_obj(ev, "health");

	if (health != NULL && !ag->c->gone && container_running(ag->c)) {
		json_set(container_state(ag->c), "Health",
		    cJSON_Duplicate(health, 1));
		backend_container_save(ag->b, ag->c);
	}
}

static void
agent_on_down(void *arg, const struct err *e)
{
	struct backend_agent *ag = arg;

	log_info("container %.12s: agent link down: %s", ag->c->id,
	    e != NULL ? e->msg : "closed");
}

static const struct aglink_cbs agent_link_cbs = { agent_on_hello,
	agent_on_event, agent_on_down };

struct backend_agent *
backend_agent_get(struct backend *b, struct container *c)
{
	struct backend_agent *ag = c->agent;

	if (ag == NULL) {
		ag = xcalloc(1, sizeof(*ag));
		ag->b = b;
		ag->c = c;
		TAILQ_INIT(&ag->waiting);
		TAILQ_INIT(&ag->relays);
		c->agent = ag;
		c->agent_free = backend_agent_free;
	}
	return ag;
}

struct aglink *
backend_agent_link(struct backend *b, struct container *c, struct err *e)
{
	struct backend_agent *ag;
	const char *tok = json_str(container_private(c), "AgentToken");
	char host[256];
	int port = 0;

	if (b->ops->agent_address == NULL || !b->caps.flag[CAP_EXEC]) {
		err_set(e, 501,
		    "This backend (%s) runs no sockerless agent in its "
		    "workloads, so it cannot reach into container %.12s.",
		    b->ops->name, c->id);
		return NULL;
	}
	if (!container_running(c)) {
		err_set(e, 409, "Container %s is not running", c->id);
		return NULL;
	}
	if (agent_closing) {
		err_set(e, 503, "the backend is shutting down");
		return NULL;
	}
	if (tok == NULL) {
		err_set(e, 409,
		    "Container %s was started without the sockerless agent "
		    "(by an older backend, or with the agent disabled); "
		    "restart it to use this operation",
		    c->id);
		return NULL;
	}
	ag = backend_agent_get(b, c);
	if (ag->link != NULL)
		return ag->link;
	if (b->ops->agent_address(b, c, host, sizeof(host), &port) == -1) {
		err_set(e, 409,
		    "Container %s has no network address yet; try again when "
		    "it runs",
		    c->id);
		return NULL;
	}
	ag->link = aglink_new(b->base, host, port, tok, c->id, AGENT_CONNECT_S,
	    &agent_link_cbs, ag);
	return ag->link;
}

/* --- relays: a hijacked client and an agent channel --------------------- */

static void agent_relay_client_read(struct bufferevent *bev, void *arg);
static void agent_relay_client_write(struct bufferevent *bev, void *arg);
static void agent_relay_client_event(
    struct bufferevent *bev, short what, void *arg);
static void agent_relay_open(struct agent_relay *rl);

static void
agent_bev_flushed(struct bufferevent *bev, void *arg)
{
	(void)arg;
	if (evbuffer_get_length(bufferevent_get_output(bev)) == 0)
		bufferevent_free(bev);
}

static void
agent_bev_closed(struct bufferevent *bev, short what, void *arg)
{
	(void)what;
	(void)arg;
	bufferevent_free(bev);
}

/* Hands the client connection over to a close-after-flush. */
static void
agent_relay_release_client(struct agent_relay *rl)
{
	struct bufferevent *bev = rl->bev;

	if (bev == NULL)
		return;
	rl->bev = NULL;
	bufferevent_setcb(bev, NULL, agent_bev_flushed, agent_bev_closed, NULL);
	bufferevent_disable(bev, EV_READ);
	bufferevent_enable(bev, EV_WRITE);
	agent_bev_flushed(bev, NULL);
}

/* The attach stream has ended (arg: its container, referenced). */
static void
agent_attach_ended(struct bufferevent *bev, void *arg)
{
	struct container *c = arg;

	if (bev != NULL)
		bufferevent_free(bev);
	backend_ctr_attach_closed(c);
	container_unref(c);
}

static void
agent_attach_flushed(struct bufferevent *bev, void *arg)
{
	if (evbuffer_get_length(bufferevent_get_output(bev)) == 0)
		agent_attach_ended(bev, arg);
}

static void
agent_attach_closed(struct bufferevent *bev, short what, void *arg)
{
	(void)what;
	agent_attach_ended(bev, arg);
}

/* The attach carries a run's output from now on: wait answers after it
 * ends. One made before the first start counts at once (that run's exit
 * may be seen first); one waiting for the restart of a stopped container
 * counts once it runs, so it does not hold back a wait on the stopped
 * container (dockerd answers that at once). */
static void
agent_attach_counted(struct agent_relay *rl)
{
	if (rl->attach_open)
		return;
	rl->attach_open = 1;
	backend_ctr_attach_open(rl->c);
}

/* An attach's client connection closes after its last byte is written,
 * and only then does the stream stop holding back wait's answer. */
static void
agent_attach_release_client(struct agent_relay *rl)
{
	struct bufferevent *bev = rl->bev;

	rl->attach_open = 0;
	container_ref(rl->c);
	if (bev == NULL) {
		agent_attach_ended(NULL, rl->c);
		return;
	}
	rl->bev = NULL;
	bufferevent_setcb(
	    bev, NULL, agent_attach_flushed, agent_attach_closed, rl->c);
	bufferevent_disable(bev, EV_READ);
	bufferevent_enable(bev, EV_WRITE);
	agent_attach_flushed(bev, rl->c);
}

static void
agent_relay_free(struct agent_relay *rl)
{
	if (rl->in_relays)
		TAILQ_REMOVE(&rl->ag->relays, rl, entry);
	if (rl->in_waiting)
		TAILQ_REMOVE(&rl->ag->waiting, rl, wentry);
	if (rl->req != NULL)
		httpsrv_req_on_close(rl->req, NULL, NULL);
	if (rl->ch != NULL)
		aglink_chan_close(rl->ch);
	if (rl->attach_open)
		agent_attach_release_client(rl);
	agent_relay_release_client(rl);
	if (rl->ex != NULL)
		rl->ex->relay = NULL;
	cJSON_Delete(rl->request);
	container_unref(rl->c);
	free(rl);
}

/* Writes a message to the client as Docker would show a daemon error in
 * a stream: on stderr, or raw with a TTY. */
static void
agent_relay_client_error(struct agent_relay *rl, const char *msg)
{
	unsigned char hdr[STDSTREAM_HEADER_LEN];
	char *line;

	if (rl->bev == NULL)
		return;
	line = xasprintf("sockerless: %s\n", msg);
	if (!rl->tty) {
		stdstream_header(hdr, STDSTREAM_STDERR, (uint32_t)strlen(line));
		bufferevent_write(rl->bev, hdr, sizeof(hdr));
	}
	bufferevent_write(rl->bev, line, strlen(line));
	free(line);
}

static void
agent_relay_on_data(void *arg, int stream, const unsigned char *buf, size_t len)
{
	struct agent_relay *rl = arg;
	unsigned char hdr[STDSTREAM_HEADER_LEN];
	struct evbuffer *out;

	if (rl->bev == NULL || (stream == AGLINK_STDOUT && !rl->want_out) ||
	    (stream == AGLINK_STDERR && !rl->want_err)) {
		aglink_chan_consumed(rl->ch, len); /* nobody reads: discard */
		return;
	}
	out = bufferevent_get_output(rl->bev);
	if (!rl->tty) {
		stdstream_header(hdr,
		    stream == AGLINK_STDERR ? STDSTREAM_STDERR :
					      STDSTREAM_STDOUT,
		    (uint32_t)len);
		evbuffer_add(out, hdr, sizeof(hdr));
	}
	evbuffer_add(out, buf, len);
	/* Credit now while the client keeps up; else when it has drained. */
	if (evbuffer_get_length(out) < RELAY_HIGH_WATER && rl->owed == 0)
		aglink_chan_consumed(rl->ch, len);
	else
		rl->owed += len;
}

static void
agent_relay_on_meta(void *arg, const cJSON *meta)
{
	(void)arg;
	(void)meta;
}

static void
agent_relay_on_eof(void *arg, int stream)
{
	(void)arg;
	(void)stream;
}

static void
agent_relay_on_writable(void *arg)
{
	struct agent_relay *rl = arg;

	if (rl->bev != NULL) {
		bufferevent_enable(rl->bev, EV_READ);
		agent_relay_client_read(rl->bev, rl);
	}
}

static void agent_exec_status_poll(struct agent_exec *ex);

static void
agent_relay_on_result(void *arg, const cJSON *res, const struct err *e)
{
	struct agent_relay *rl = arg;
	struct agent_exec *ex = rl->ex;
	const cJSON *code = cJSON_GetObjectItemCaseSensitive(res, "exitCode");

	rl->ch = NULL; /* freed by the link after this returns */
	if (rl->req != NULL) {
		/* The link failed before the client was answered. */
		struct err fe;
		if (e == NULL)
			err_set(&fe, json_int(res, "status", 500), "%s",
			    json_str(res, "message") ?
				json_str(res, "message") :
				"the agent refused the request");
		/* A reply frees the request: detach first. */
		httpsrv_req_on_close(rl->req, NULL, NULL);
		httpsrv_reply_err(rl->req, e != NULL ? e : &fe);
		rl->req = NULL;
		if (ex != NULL) {
			ex->running = 0;
			ex->relay = NULL;
			rl->ex = NULL;
		}
		agent_relay_free(rl);
		return;
	}
	if (ex != NULL) {
		if (cJSON_IsNumber(code)) {
			ex->exit_code = code->valueint;
			ex->exited = 1;
			ex->running = 0;
			ex->done_ns = str_now_ns();
			backend_sys_exec_die_event(
			    ex->b, ex->c, ex->id, ex->exit_code);
		} else if (e != NULL) {
			/* The link dropped: the agent keeps the exit code;
			 * ask for it once the link is back. The client
			 * waits for it. */
			log_info("exec %.12s: %s; asking the agent for its "
				 "exit code",
			    ex->id, e->msg);
			agent_exec_status_poll(ex);
			return;
		} else {
			agent_relay_client_error(rl,
			    json_str(res, "message") ?
				json_str(res, "message") :
				"the agent could not run the exec");
			ex->exit_code = (int)json_int(res, "exitCode", 126);
			ex->exited = 1;
			ex->running = 0;
			ex->done_ns = str_now_ns();
			backend_sys_exec_die_event(
			    ex->b, ex->c, ex->id, ex->exit_code);
		}
	} else if (e != NULL) {
		agent_relay_client_error(rl, e->msg);
	} else if (json_str(res, "message") != NULL) {
		agent_relay_client_error(rl, json_str(res, "message"));
	}
	agent_relay_free(rl);
}

static const struct aglink_chan_cbs agent_relay_cbs = { agent_relay_on_data,
	agent_relay_on_eof, agent_relay_on_meta, agent_relay_on_writable,
	agent_relay_on_result };

/* The client typed the detach keys: its stream ends, and the process
 * goes on. They are looked for here, in the backend, and not in the
 * frontend's relay: the frontend copies bytes and knows neither the TTY
 * (dockerd looks for the keys only on a terminal's input) nor the keys an
 * exec was created with; the backend holds both, and owns the stdin it
 * hands to the agent. Like dockerd, nothing is written to the client: the
 * stream just ends ("read escape sequence" in dockerd's log). */
static void
agent_relay_detach(struct agent_relay *rl)
{
	cJSON *attrs;

	log_info("container %.12s: %s: read escape sequence", rl->c->id,
	    rl->ex != NULL ? "exec" : "attach");
	if (rl->ex == NULL) {
		backend_sys_container_event(rl->b, rl->c, "detach", NULL);
		agent_relay_free(rl);
		return;
	}
	/* The exec runs on, its terminal open (dockerd closes no stdin of a
	 * TTY); its output has no reader now. */
	attrs = cJSON_CreateObject();
	json_add_str(attrs, "execID", rl->ex->id);
	backend_sys_container_event(rl->b, rl->c, "exec_detach", attrs);
	agent_relay_release_client(rl);
	if (rl->owed > 0 && rl->ch != NULL) {
		aglink_chan_consumed(rl->ch, rl->owed);
		rl->owed = 0;
	}
}

static void
agent_relay_client_read(struct bufferevent *bev, void *arg)
{
	struct agent_relay *rl = arg;
	struct evbuffer *in = bufferevent_get_input(bev);
	size_t len, took;

	if (!rl->want_stdin) {
		evbuffer_drain(in, evbuffer_get_length(in));
		return;
	}
	if (rl->ch == NULL) {
		/* Not connected yet: the input waits (bounded: stop
		 * reading). */
		if (evbuffer_get_length(in) >= AGLINK_WINDOW)
			bufferevent_disable(bev, EV_READ);
		return;
	}
	while ((len = evbuffer_get_length(in)) > 0) {
		size_t n = len > 65536 ? 65536 : len;
		unsigned char *p = evbuffer_pullup(in, (ev_ssize_t)n);
		int detach = 0;
		if (rl->detach_on)
			n = detach_scan(&rl->detach, p, n,
			    rl->stdin_eof && n == len, &detach);
		took = n > 0 ? aglink_chan_write(rl->ch, p, n) : 0;
		evbuffer_drain(in, took);
		if (took < n) {
			bufferevent_disable(bev, EV_READ);
			return;
		}
		if (detach) {
			agent_relay_detach(rl);
			return;
		}
		if (n == 0)
			break; /* the start of the keys: wait for more */
	}
	if (rl->stdin_eof && !rl->eof_sent) {
		rl->eof_sent = 1;
		aglink_chan_eof(rl->ch);
	}
}

static void
agent_relay_client_write(struct bufferevent *bev, void *arg)
{
	struct agent_relay *rl = arg;

	if (rl->owed > 0 && rl->ch != NULL &&
	    evbuffer_get_length(bufferevent_get_output(bev)) <=
		RELAY_LOW_WATER) {
		aglink_chan_consumed(rl->ch, rl->owed);
		rl->owed = 0;
	}
}

static void
agent_relay_client_event(struct bufferevent *bev, short what, void *arg)
{
	struct agent_relay *rl = arg;

	if ((what & BEV_EVENT_EOF) && !(what & BEV_EVENT_ERROR)) {
		/* CloseWrite: stdin ends, output goes on. */
		rl->stdin_eof = 1;
		bufferevent_disable(bev, EV_READ);
		if (rl->ch != NULL)
			agent_relay_client_read(bev, rl);
		return;
	}
	/* The client is gone. An exec goes on (its exit code is kept); an
	 * attach ends. */
	rl->bev = NULL;
	bufferevent_free(bev);
	if (rl->ex != NULL && rl->ch != NULL) {
		if (!rl->eof_sent && rl->want_stdin) {
			rl->eof_sent = 1;
			aglink_chan_eof(rl->ch);
		}
		if (rl->owed > 0) {
			aglink_chan_consumed(rl->ch, rl->owed);
			rl->owed = 0;
		}
		return;
	}
	agent_relay_free(rl);
}

void
agent_relay_hijack(struct agent_relay *rl)
{
	struct httpsrv_req *r = rl->req;

	if (r == NULL)
		return;
	httpsrv_req_on_close(r, NULL, NULL);
	rl->req = NULL;
	rl->bev = httpsrv_hijack(r,
	    rl->tty ? "application/vnd.docker.raw-stream" :
		      "application/vnd.docker.multiplexed-stream");
	bufferevent_setwatermark(rl->bev, EV_WRITE, RELAY_LOW_WATER, 0);
	bufferevent_setcb(rl->bev, agent_relay_client_read,
	    agent_relay_client_write, agent_relay_client_event, rl);
	bufferevent_enable(rl->bev, EV_READ | EV_WRITE);
	/* Bytes that came with the request. */
	if (evbuffer_get_length(bufferevent_get_input(rl->bev)) > 0)
		agent_relay_client_read(rl->bev, rl);
}

static void
agent_relay_req_gone(struct httpsrv_req *r, void *arg)
{
	struct agent_relay *rl = arg;

	(void)r;
	rl->req = NULL;
	if (rl->ex != NULL && rl->ch != NULL) {
		/* The exec runs on without its client, and without input. */
		if (rl->want_stdin && !rl->eof_sent) {
			rl->eof_sent = 1;
			aglink_chan_eof(rl->ch);
		}
		return;
	}
	agent_relay_free(rl);
}

static struct agent_relay *
agent_relay_new(struct backend *b, struct container *c, struct httpsrv_req *r)
{
	struct agent_relay *rl = xcalloc(1, sizeof(*rl));

	rl->b = b;
	rl->c = c;
	rl->ag = backend_agent_get(b, c);
	rl->req = r;
	container_ref(c);
	TAILQ_INSERT_TAIL(&rl->ag->relays, rl, entry);
	rl->in_relays = 1;
	if (r != NULL)
		httpsrv_req_on_close(r, agent_relay_req_gone, rl);
	return rl;
}

/* Opens the relay's channel on the container's link. */
static void
agent_relay_open(struct agent_relay *rl)
{
	struct err e;
	struct aglink *l = backend_agent_link(rl->b, rl->c, &e);

	if (l == NULL) {
		if (rl->req != NULL) {
			httpsrv_req_on_close(rl->req, NULL, NULL);
			httpsrv_reply_err(rl->req, &e);
			rl->req = NULL;
		} else {
			agent_relay_client_error(rl, e.msg);
		}
		if (rl->ex != NULL) {
			rl->ex->running = 0;
			rl->ex = NULL;
		}
		agent_relay_free(rl);
		return;
	}
	rl->ch = aglink_open(l, rl->request, &agent_relay_cbs, rl);
	if (rl->req != NULL && aglink_is_up(l))
		agent_relay_hijack(rl);
	else if (rl->bev != NULL)
		agent_relay_client_read(rl->bev, rl);
}

/* --- attach with stdin -------------------------------------------------- */

void
backend_agent_attach(struct backend *b, struct container *c,
    struct httpsrv_req *r, const struct detach *d)
{
	struct agent_relay *rl = agent_relay_new(b, c, r);
	const cJSON *cfg = container_config(c);

	rl->tty = json_bool(cfg, "Tty", 0);
	rl->want_stdin =
	    backend_query_bool(r, "stdin", 0) && json_bool(cfg, "OpenStdin", 0);
	rl->detach = *d;
	rl->detach_on = rl->tty && rl->want_stdin;
	rl->want_out = backend_query_bool(r, "stdout", 0);
	rl->want_err = backend_query_bool(r, "stderr", 0);
	rl->request = cJSON_CreateObject();
	json_add_str(rl->request, "kind", "attach");
	json_add_bool(rl->request, "stdin", rl->want_stdin);
	json_add_bool(rl->request, "stdout", rl->want_out);
	json_add_bool(rl->request, "stderr", rl->want_err);
	/* Docker answers an attach at once, before start too. */
	agent_relay_hijack(rl);
	if (!container_running(c)) {
		/* Attached before start: the channel opens once the
		 * workload runs, and the workload holds its command until
		 * then (SOCKERLESS_HOLD), so no output is missed. */
		const char *st = json_str(container_state(c), "Status");
		TAILQ_INSERT_TAIL(&rl->ag->waiting, rl, wentry);
		rl->in_waiting = 1;
		if (st != NULL && strcmp(st, "created") == 0)
			agent_attach_counted(rl);
		return;
	}
	agent_attach_counted(rl);
	agent_relay_open(rl);
}

static void
agent_start_result(void *arg, const cJSON *res, const struct err *e)
{
	struct backend_agent *ag = arg;

	(void)res;
	if (e != NULL)
		log_warnx("container %.12s: releasing the held command: %s",
		    ag->c->id, e->msg);
}

static void
agent_ignore_data(void *arg, int stream, const unsigned char *p, size_t n)
{
	(void)arg;
	(void)stream;
	(void)p;
	(void)n;
}

static const struct aglink_chan_cbs agent_start_cbs = { agent_ignore_data, NULL,
	NULL, NULL, agent_start_result };

/* The workload runs: open the channels of attaches made before start,
 * then release the held command; keep a link for health events. */
void
backend_agent_container_running(struct backend *b, struct container *c)
{
	struct backend_agent *ag = c->agent;
	struct agent_relay *rl;
	struct aglink *l;
	struct err e;
	cJSON *req;

	if (b->ops->agent_address == NULL || !b->caps.flag[CAP_EXEC])
		return;
	if (backend_agent_has_health(c)) {
		cJSON *h = cJSON_CreateObject();
		json_add_str(h, "Status", "starting");
		json_add_int(h, "FailingStreak", 0);
		cJSON_AddItemToObject(h, "Log", cJSON_CreateArray());
		json_set(container_state(c), "Health", h);
		backend_container_save(b, c);
	}
	if (ag == NULL && !backend_agent_has_health(c))
		return;
	ag = backend_agent_get(b, c);
	if (!ag->hold && TAILQ_EMPTY(&ag->waiting) &&
	    !backend_agent_has_health(c))
		return;
	while ((rl = TAILQ_FIRST(&ag->waiting)) != NULL) {
		TAILQ_REMOVE(&ag->waiting, rl, wentry);
		rl->in_waiting = 0;
		agent_attach_counted(rl);
		agent_relay_open(rl);
	}
	if ((l = backend_agent_link(b, c, &e)) == NULL) {
		log_warnx("container %.12s: %s", c->id, e.msg);
		return;
	}
	ag->hold = 0;
	req = cJSON_CreateObject();
	json_add_str(req, "kind", "start");
	aglink_open(l, req, &agent_start_cbs, ag);
	cJSON_Delete(req);
}

/* Ends the attaches waiting for a start that will not run their command,
 * with msg on their stream (none: they just end, as dockerd's do). */
static void
agent_end_waiting(struct backend_agent *ag, const char *msg)
{
	struct agent_relay *rl;

	while ((rl = TAILQ_FIRST(&ag->waiting)) != NULL) {
		if (msg != NULL)
			agent_relay_client_error(rl, msg);
		agent_relay_free(rl);
	}
}

void
backend_agent_container_exited(struct backend *b, struct container *c)
{
	struct backend_agent *ag = c->agent;

	(void)b;
	if (ag == NULL)
		return;
	/* Attaches waiting for a start that ended before it ran. */
	agent_end_waiting(
	    ag, "the container exited before its command could be attached");
	/* The agent has gone with its workload. */
	agent_link_close(ag);
}

void
backend_agent_start_failed(struct backend *b, struct container *c)
{
	(void)b;
	/* The client has the start's error; its attach ends, so that a
	 * wait held behind it (docker run --rm) answers. */
	if (c->agent != NULL)
		agent_end_waiting(c->agent, NULL);
}

void
backend_agent_resize_container(struct container *c, int rows, int cols)
{
	struct agent_relay *rl;

	if (c->agent == NULL)
		return;
	TAILQ_FOREACH(rl, &c->agent->relays, entry) {
		if (rl->ex == NULL && rl->ch != NULL && rl->tty)
			aglink_chan_resize(rl->ch, rows, cols);
	}
}

void
backend_agent_free(struct container *c)
{
	struct backend_agent *ag = c->agent;
	struct agent_relay *rl;

	if (ag == NULL)
		return;
	/* relay_free unlinks before it frees (lost in TAILQ_REMOVE). */
	while ((rl = TAILQ_FIRST(&ag->relays)) != NULL) {
		/* NOLINTNEXTLINE(clang-analyzer-unix.Malloc) */
		if (rl->ex != NULL)
			rl->ex->relay = NULL;
		rl->ex = NULL;
		agent_relay_free(rl);
	}
	agent_link_close(ag);
	c->agent = NULL;
	free(ag);
}

/* --- exec --------------------------------------------------------------- */

static struct agent_exec *
agent_exec_find(const char *id)
{
	struct agent_exec *ex;
	size_t len = strlen(id);

	if (len == 0)
		return NULL;
	TAILQ_FOREACH(ex, &agent_execs, entry) {
		if (strncmp(ex->id, id, len) == 0)
			return ex;
	}
	return NULL;
}

static void
agent_exec_free(struct agent_exec *ex)
{
	TAILQ_REMOVE(&agent_execs, ex, entry);
	if (ex->poll != NULL)
		event_free(ex->poll);
	if (ex->relay != NULL)
		ex->relay->ex = NULL;
	cJSON_Delete(ex->cfg);
	container_unref(ex->c);
	free(ex);
}

/* Docker forgets an exec when its container goes; execs that ended long
 * ago go too, so the list stays small. */
static void
agent_exec_gc(void)
{
	struct agent_exec *ex, *next;
	int64_t now = str_now_ns();

	for (ex = TAILQ_FIRST(&agent_execs); ex != NULL; ex = next) {
		next = TAILQ_NEXT(ex, entry);
		if (ex->relay == NULL && ex->poll == NULL &&
		    (ex->c->gone ||
			(ex->exited && now - ex->done_ns > EXEC_KEEP_NS)))
			agent_exec_free(ex);
	}
}

/* DetachKeys of an exec create, refused as dockerd words it (dockerd
 * 20.10 answers 500; a bad parameter is a 400). */
static int
agent_exec_check_detach(const cJSON *cfg, struct err *e)
{
	const char *keys = NULL;
	struct detach d;

	if (json_check_str(cfg, "DetachKeys", &keys, e) == -1)
		return -1;
	if (keys != NULL && detach_parse(keys, &d) == -1)
		return err_set(
		    e, 400, "Invalid escape keys (%s) provided", keys);
	return 0;
}

void
backend_agent_exec_create(
    struct backend *b, struct httpsrv_req *r, const struct router_match *m)
{
	struct container *c;
	struct agent_exec *ex;
	struct err e;
	const char *body, *str;
	struct strv cmd, env;
	size_t len;
	cJSON *cfg, *out;
	int rc, flag;

	if ((c = backend_lookup_or_reply(b, r, router_param(m, "id"))) == NULL)
		return;
	body = httpsrv_req_body(r, &len);
	if ((cfg = json_parse(body != NULL ? body : "", len, &e)) == NULL ||
	    !cJSON_IsObject(cfg)) {
		cJSON_Delete(cfg);
		httpsrv_reply_error(r, 400,
		    "the exec configuration must be a "
		    "JSON object");
		return;
	}
	strv_init(&cmd);
	strv_init(&env);
	rc = json_check_strv(cfg, "Cmd", 1, &cmd, &e) == -1 ||
	    json_check_strv(cfg, "Env", 0, &env, &e) == -1 ||
	    json_check_str(cfg, "User", &str, &e) == -1 ||
	    json_check_str(cfg, "WorkingDir", &str, &e) == -1 ||
	    json_check_bool(cfg, "Tty", &flag, &e) == -1 ||
	    json_check_bool(cfg, "AttachStdin", &flag, &e) == -1 ||
	    json_check_bool(cfg, "AttachStdout", &flag, &e) == -1 ||
	    json_check_bool(cfg, "AttachStderr", &flag, &e) == -1 ||
	    agent_exec_check_detach(cfg, &e) == -1;
	strv_free(&env);
	if (rc) {
		strv_free(&cmd);
		cJSON_Delete(cfg);
		httpsrv_reply_err(r, &e);
		return;
	}
	/* Docker takes a lone string for Cmd too. */
	json_set(cfg, "Cmd", json_strv_to_array(&cmd));
	strv_free(&cmd);
	if (cJSON_GetArraySize(json_arr(cfg, "Cmd")) == 0) {
		cJSON_Delete(cfg);
		httpsrv_reply_error(r, 400, "No exec command specified");
		return;
	}
	if (json_bool(json_obj(c->doc, "State"), "Paused", 0)) {
		cJSON_Delete(cfg);
		httpsrv_reply_error(r, 409,
		    "Container %s is paused, unpause the container before "
		    "exec",
		    c->id);
		return;
	}
	if (backend_agent_link(b, c, &e) == NULL) {
		cJSON_Delete(cfg);
		httpsrv_reply_err(r, &e);
		return;
	}
	agent_exec_gc();
	ex = xcalloc(1, sizeof(*ex));
	id_new(ex->id);
	ex->b = b;
	ex->c = c;
	container_ref(c);
	ex->cfg = cfg;
	TAILQ_INSERT_TAIL(&agent_execs, ex, entry);
	backend_sys_exec_event(
	    b, c, "exec_create", ex->id, json_arr(cfg, "Cmd"));
	out = cJSON_CreateObject();
	json_add_str(out, "Id", ex->id);
	httpsrv_reply_json(r, 201, out);
	cJSON_Delete(out);
}

static struct agent_exec *
agent_exec_lookup_or_reply(struct httpsrv_req *r, const char *id)
{
	struct agent_exec *ex = agent_exec_find(id != NULL ? id : "");

	if (ex == NULL || ex->c->gone)
		httpsrv_reply_error(
		    r, 404, "No such exec instance: %s", id != NULL ? id : "");
	return ex != NULL && !ex->c->gone ? ex : NULL;
}

void
backend_agent_exec_start(
    struct backend *b, struct httpsrv_req *r, const struct router_match *m)
{
	struct agent_exec *ex;
	struct agent_relay *rl;
	const cJSON *cfg, *it;
	cJSON *body = NULL, *req, *env;
	const char *raw, *s;
	size_t len;
	struct err e;
	int detach, tty, raw_stream;

	(void)b;
	if ((ex = agent_exec_lookup_or_reply(r, router_param(m, "id"))) == NULL)
		return;
	raw = httpsrv_req_body(r, &len);
	if (raw != NULL && len > 0 &&
	    ((body = json_parse(raw, len, &e)) == NULL ||
		!cJSON_IsObject(body))) {
		cJSON_Delete(body);
		httpsrv_reply_error(r, 400,
		    "the exec start options must be a "
		    "JSON object");
		return;
	}
	if (ex->running || ex->exited) {
		cJSON_Delete(body);
		httpsrv_reply_error(r, 409,
		    ex->running ? "Exec %s is already running" :
				  "Exec %s has already run",
		    ex->id);
		return;
	}
	if (!container_running(ex->c)) {
		cJSON_Delete(body);
		httpsrv_reply_error(
		    r, 409, "Container %s is not running", ex->c->id);
		return;
	}
	cfg = ex->cfg;
	detach = json_bool(body, "Detach", 0);
	/* As dockerd: the create's Tty gives the process its terminal; the
	 * start's Tty (absent is false) only picks the stream's framing, so
	 * a tty exec started with Tty false is a pty framed as stdout. */
	tty = json_bool(cfg, "Tty", 0);
	raw_stream = json_bool(body, "Tty", 0);
	req = cJSON_CreateObject();
	json_add_str(req, "kind", "exec");
	json_add_str(req, "id", ex->id);
	cJSON_AddItemToObject(
	    req, "cmd", cJSON_Duplicate(json_arr(cfg, "Cmd"), 1));
	env = cJSON_CreateArray();
	cJSON_ArrayForEach(it, json_arr(cfg, "Env")) {
		cJSON_AddItemToArray(env, cJSON_Duplicate(it, 0));
	}
	cJSON_AddItemToObject(req, "env", env);
	if ((s = json_str(cfg, "WorkingDir")) != NULL && s[0] != '\0')
		json_add_str(req, "workdir", s);
	if ((s = json_str(cfg, "User")) != NULL && s[0] != '\0')
		json_add_str(req, "user", s);
	else if ((s = json_str(container_config(ex->c), "User")) != NULL &&
	    s[0] != '\0')
		json_add_str(req, "user", s);
	json_add_bool(req, "tty", tty);
	json_add_bool(
	    req, "stdin", !detach && json_bool(cfg, "AttachStdin", 0));
	{
		const cJSON *cs = json_arr(body, "ConsoleSize");
		if (cs == NULL)
			cs = json_arr(cfg, "ConsoleSize");
		if (cJSON_GetArraySize(cs) == 2) {
			json_add_int(req, "rows",
			    (int64_t)cJSON_GetArrayItem(cs, 0)->valuedouble);
			json_add_int(req, "cols",
			    (int64_t)cJSON_GetArrayItem(cs, 1)->valuedouble);
		} else if (ex->rows > 0) {
			json_add_int(req, "rows", ex->rows);
			json_add_int(req, "cols", ex->cols);
		}
	}
	cJSON_Delete(body);
	rl = agent_relay_new(ex->b, ex->c, detach ? NULL : r);
	rl->ex = ex;
	rl->tty = raw_stream;
	rl->want_stdin = !detach && json_bool(cfg, "AttachStdin", 0);
	rl->want_out = !detach && json_bool(cfg, "AttachStdout", 0);
	/* A raw stream of a process with pipes has no place for stderr:
	 * dockerd drops it (router/container/exec.go), and so do we. */
	rl->want_err = !detach && json_bool(cfg, "AttachStderr", 0) &&
	    (tty || !raw_stream);
	/* The create's keys (checked there); on a TTY's input, as dockerd. */
	rl->detach_on = tty && rl->want_stdin &&
	    detach_parse(json_str(cfg, "DetachKeys"), &rl->detach) == 0;
	rl->request = req;
	ex->relay = rl;
	ex->running = 1;
	backend_sys_exec_event(
	    ex->b, ex->c, "exec_start", ex->id, json_arr(cfg, "Cmd"));
	agent_relay_open(rl);
	if (detach && ex->relay != NULL)
		httpsrv_reply_empty(r, 200);
	else if (detach)
		httpsrv_reply_error(r, 500, "the exec could not be started");
}

void
backend_agent_exec_inspect(
    struct backend *b, struct httpsrv_req *r, const struct router_match *m)
{
	struct agent_exec *ex;
	cJSON *o, *pc, *args;
	const cJSON *cmd, *it;
	const char *user;

	(void)b;
	if ((ex = agent_exec_lookup_or_reply(r, router_param(m, "id"))) == NULL)
		return;
	cmd = json_arr(ex->cfg, "Cmd");
	user = json_str(ex->cfg, "User");
	o = cJSON_CreateObject();
	json_add_bool(o, "CanRemove", 0);
	json_add_str(o, "ContainerID", ex->c->id);
	json_add_str(o, "DetachKeys", "");
	if (ex->exited)
		json_add_int(o, "ExitCode", ex->exit_code);
	else
		cJSON_AddNullToObject(o, "ExitCode");
	json_add_str(o, "ID", ex->id);
	json_add_bool(o, "OpenStderr", json_bool(ex->cfg, "AttachStderr", 0));
	json_add_bool(o, "OpenStdin", json_bool(ex->cfg, "AttachStdin", 0));
	json_add_bool(o, "OpenStdout", json_bool(ex->cfg, "AttachStdout", 0));
	pc = cJSON_CreateObject();
	args = cJSON_CreateArray();
	cJSON_ArrayForEach(it, cmd) {
		if (it != cmd->child)
			cJSON_AddItemToArray(args, cJSON_Duplicate(it, 0));
	}
	cJSON_AddItemToObject(pc, "arguments", args);
	json_add_str(pc, "entrypoint",
	    cJSON_IsString(cJSON_GetArrayItem(cmd, 0)) ?
		cJSON_GetArrayItem(cmd, 0)->valuestring :
		"");
	json_add_bool(pc, "privileged", json_bool(ex->cfg, "Privileged", 0));
	json_add_bool(pc, "tty", json_bool(ex->cfg, "Tty", 0));
	json_add_str(pc, "user", user != NULL ? user : "");
	cJSON_AddItemToObject(o, "ProcessConfig", pc);
	json_add_bool(o, "Running", ex->running);
	json_add_int(o, "Pid", ex->pid);
	httpsrv_reply_json(r, 200, o);
	cJSON_Delete(o);
}

static int
agent_query_dim(struct httpsrv_req *r, const char *name, int *out)
{
	const char *v = httpsrv_req_query(r, name);
	long long n;

	if (str_tonum(v, 0, 65535, &n, NULL) == -1)
		return -1;
	*out = (int)n;
	return 0;
}

void
backend_agent_exec_resize(
    struct backend *b, struct httpsrv_req *r, const struct router_match *m)
{
	struct agent_exec *ex;
	int h, w;

	(void)b;
	if ((ex = agent_exec_lookup_or_reply(r, router_param(m, "id"))) == NULL)
		return;
	if (agent_query_dim(r, "h", &h) == -1 ||
	    agent_query_dim(r, "w", &w) == -1) {
		httpsrv_reply_error(r, 400,
		    "resize needs h and w, whole numbers from 0 to 65535");
		return;
	}
	ex->rows = h;
	ex->cols = w;
	if (ex->relay != NULL && ex->relay->ch != NULL)
		aglink_chan_resize(ex->relay->ch, h, w);
	httpsrv_reply_empty(r, 200);
}

void
backend_agent_ctr_resize(
    struct backend *b, struct httpsrv_req *r, const struct router_match *m)
{
	struct container *c;
	int h, w;

	if ((c = backend_lookup_or_reply(b, r, router_param(m, "id"))) == NULL)
		return;
	if (agent_query_dim(r, "h", &h) == -1 ||
	    agent_query_dim(r, "w", &w) == -1) {
		httpsrv_reply_error(r, 400,
		    "resize needs h and w, whole numbers from 0 to 65535");
		return;
	}
	if (!container_running(c)) {
		httpsrv_reply_error(
		    r, 409, "Container %s is not running", c->id);
		return;
	}
	backend_agent_resize_container(c, h, w);
	httpsrv_reply_empty(r, 200);
}

/* --- exit codes after a dropped link ------------------------------------ */

static void agent_exec_poll_fire(evutil_socket_t fd, short what, void *arg);

static void
agent_exec_status_result(void *arg, const cJSON *res, const struct err *e)
{
	struct agent_exec *ex = arg;
	const cJSON *code = cJSON_GetObjectItemCaseSensitive(res, "exitCode");
	struct timeval tv = { 1, 0 };

	if (e == NULL && cJSON_IsNumber(code)) {
		ex->exit_code = code->valueint;
		ex->exited = 1;
		ex->running = 0;
		ex->done_ns = str_now_ns();
		backend_sys_exec_die_event(ex->b, ex->c, ex->id, ex->exit_code);
	} else if (e == NULL && json_int(res, "status", 0) == 404) {
		ex->exit_code = 126;
		ex->exited = 1;
		ex->running = 0;
		ex->done_ns = str_now_ns();
		backend_sys_exec_die_event(ex->b, ex->c, ex->id, ex->exit_code);
		if (ex->relay != NULL)
			agent_relay_client_error(ex->relay,
			    "the agent no longer knows this exec: its exit "
			    "code is lost");
	} else if (!ex->c->gone && container_running(ex->c)) {
		if (ex->poll == NULL)
			ex->poll =
			    evtimer_new(ex->b->base, agent_exec_poll_fire, ex);
		evtimer_add(ex->poll, &tv);
		return;
	} else {
		ex->exit_code = 137;
		ex->exited = 1;
		ex->running = 0;
		ex->done_ns = str_now_ns();
		backend_sys_exec_die_event(ex->b, ex->c, ex->id, ex->exit_code);
	}
	if (ex->relay != NULL)
		agent_relay_free(ex->relay);
}

static const struct aglink_chan_cbs agent_exec_status_cbs = { agent_ignore_data,
	NULL, NULL, NULL, agent_exec_status_result };

static void
agent_exec_status_poll(struct agent_exec *ex)
{
	struct err e;
	struct aglink *l;
	cJSON *req;

	if ((l = backend_agent_link(ex->b, ex->c, &e)) == NULL) {
		agent_exec_status_result(ex, NULL, &e);
		return;
	}
	req = cJSON_CreateObject();
	json_add_str(req, "kind", "exec_status");
	json_add_str(req, "id", ex->id);
	aglink_open(l, req, &agent_exec_status_cbs, ex);
	cJSON_Delete(req);
}

static void
agent_exec_poll_fire(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	agent_exec_status_poll(arg);
}

void
backend_agent_shutdown(struct backend *b)
{
	struct agent_exec *ex;
	struct container *c;

	agent_closing = 1;
	TAILQ_FOREACH(c, &b->containers, entry)
		backend_agent_free(c);
	while ((ex = TAILQ_FIRST(&agent_execs)) != NULL) {
		if (ex->relay != NULL) {
			ex->relay->ex = NULL;
			ex->relay = NULL;
		}
		agent_exec_free(ex);
	}
	aglink_shutdown();
}
