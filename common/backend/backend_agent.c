/* The framework's side of the in-workload agent (docs/agent-link.md): one
 * link per running container, and the relays that carry a hijacked client
 * (attach with stdin, exec start) over an agent channel with Docker's
 * framing and flow control end to end; the records (agents, relays, execs)
 * and their frees. Attach hooks are in backend_agent_attach.c, exec in
 * backend_agent_exec.c, the environment in backend_agent_env.c, and the
 * request/answer operations (top, stats, archive, pause, signals) in
 * backend_agent_ops.c. */
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "backend_agent.h"
#include "backend_port.h"
#include "backend_ctr.h"
#include "backend_net.h"
#include "backend_sys.h"
#include "sockerless/json.h"
#include "sockerless/log.h"
#include "sockerless/xmalloc.h"

/* Stop reading the agent (no credit) while this much waits for a client. */
#define RELAY_HIGH_WATER (512 * 1024)
#define RELAY_LOW_WATER	 (128 * 1024)
#define AGENT_CONNECT_S	 30

struct agent_execs backend_agent_execs =
    TAILQ_HEAD_INITIALIZER(backend_agent_execs);

/* Closes a container's link (callbacks may run and must not find it). */
void
backend_agent_link_close(struct backend_agent *ag)
{
	struct aglink *l = ag->link;

	ag->link = NULL;
	ag->hellos = 0;
	if (l != NULL)
		aglink_free(l);
}

/* --- the names view ------------------------------------------------------ */

static void
agent_names_data(void *arg, int stream, const unsigned char *p, size_t n)
{
	(void)arg;
	(void)stream;
	(void)p;
	(void)n;
}

static void
agent_names_eof(void *arg, int stream)
{
	(void)arg;
	(void)stream;
}

/* The agent keeps its previous table when a push fails; the next change
 * or reconnect sends the whole view again. */
static void
agent_names_result(void *arg, const cJSON *res, const struct err *e)
{
	char *id = arg;
	const char *msg = json_str(res, "message");

	if (e != NULL || msg != NULL)
		log_warnx("container %.12s: names view not taken: %s", id,
		    e != NULL ? e->msg : msg);
	free(id);
}

static const struct aglink_chan_cbs agent_names_cbs = { agent_names_data,
	agent_names_eof, NULL, NULL, agent_names_result };

static void
agent_names_send(struct backend *b, struct container *c, struct aglink *l)
{
	cJSON *req = cJSON_CreateObject();

	json_add_str(req, "kind", "names");
	/* Relay mode: the peers' addresses are the agent's to give. */
	if (b->ops->reach == BACKEND_REACH_RELAY) {
		cJSON_AddItemToObject(req, "names", backend_net_relay_self(c));
		cJSON_AddItemToObject(
		    req, "peers", backend_net_relay_peers(b, c));
	} else {
		cJSON_AddItemToObject(req, "names", backend_net_names(b, c));
	}
	aglink_open(l, req, &agent_names_cbs, xstrdup(c->id));
	cJSON_Delete(req);
}

void
backend_agent_push_names(struct backend *b, struct container *c)
{
	struct aglink *l;
	struct err e;

	/* Without an agent, or on no user-defined network (the default
	 * bridge has no embedded resolver), there is no resolver to feed. */
	if (c->gone || !container_running(c) || !backend_net_has_user(c) ||
	    !backend_agent_runs(b) || !b->caps.flag[CAP_EXEC] ||
	    json_str(container_private(c), BACKEND_PRIV_AGENT_TOKEN) == NULL)
		return;
	if ((l = backend_agent_link(b, c, &e)) == NULL) {
		log_debug(
		    "container %.12s: names view not sent: %s", c->id, e.msg);
		return;
	}
	agent_names_send(b, c, l);
}

/* --- the link ----------------------------------------------------------- */

/* The main process's exit as the agent reported it, ended outside the
 * link's callback: the exit closes the link and an AutoRemove frees the
 * container's agent record. */
struct agent_exit {
	struct backend *b;
	struct container *c;
	int hello; /* the first HELLO of a run, not an exit */
	int code;
	int64_t finished_ns;
};

static void
agent_exit_fire(evutil_socket_t fd, short what, void *arg)
{
	struct agent_exit *x = arg;

	(void)fd;
	(void)what;
	if (x->hello && !x->c->gone)
		x->b->ops->agent_hello(x->b, x->c);
	else if (!x->hello && !x->c->gone && container_running(x->c))
		x->b->agent_exited(x->b, x->c, x->code, x->finished_ns, NULL);
	container_unref(x->c);
	free(x);
}

static void
agent_exit_later(struct agent_exit *x)
{
	struct timeval now = { 0, 0 };

	container_ref(x->c);
	if (event_base_once(
		x->b->base, -1, EV_TIMEOUT, agent_exit_fire, x, &now) == -1)
		fatalx("scheduling a container's exit");
}

static void
agent_on_hello(void *arg, const cJSON *hello)
{
	struct backend_agent *ag = arg;
	struct agent_relay *rl, *next;

	(void)hello;
	/* Kept for a backend whose cloud says "running" before the workload
	 * runs (BACKEND_P_AGENT_HELLO). */
	if (!ag->c->gone &&
	    !json_bool(container_private(ag->c), BACKEND_P_AGENT_HELLO, 0)) {
		json_set(container_private(ag->c), BACKEND_P_AGENT_HELLO,
		    cJSON_CreateTrue());
		backend_container_save(ag->b, ag->c);
		if (ag->b->ops->agent_hello != NULL) {
			struct agent_exit *x = xcalloc(1, sizeof(*x));
			x->b = ag->b;
			x->c = ag->c;
			x->hello = 1;
			agent_exit_later(x);
		}
	}
	/* A reconnect: the agent may have missed pushes while the link was
	 * down (the first HELLO follows the push that dialled). */
	if (ag->hellos++ > 0 && ag->link != NULL && !ag->c->gone &&
	    container_running(ag->c) && backend_net_has_user(ag->c))
		agent_names_send(ag->b, ag->c, ag->link);
	/* Execs waited for the link before answering their request. */
	for (rl = TAILQ_FIRST(&ag->relays); rl != NULL; rl = next) {
		next = TAILQ_NEXT(rl, entry);
		if (rl->req != NULL)
			backend_agent_relay_hijack(rl);
	}
}

/* The agent reports the exit once the process's output is drained and
 * sent: the attach channels have their last bytes and their result
 * before this event (one ordered link), so an AutoRemove container (docker
 * run --rm) exits now, without waiting for the cloud's status to say so.
 * Any other container waits for the cloud's report (the poller): its
 * `docker logs` after the exit reads the log service, which has the last
 * output only once the workload stopped (a TTY's last piece without a
 * newline is written out when its stream closes; awslogs flushes at
 * stop). The cloud's report also stays the fallback for a run whose link
 * is down or was never made. Only for a running container: a start the
 * cloud has not settled yet is the poller's to settle. */
static void
agent_exit_now(struct backend_agent *ag, const cJSON *main_exit)
{
	struct agent_exit *x;
	int64_t at = str_now_ns();

	if (!ag->b->caps.flag[CAP_EXEC] || !container_running(ag->c) ||
	    container_restarting(ag->c) ||
	    !json_bool(container_host_config(ag->c), "AutoRemove", 0))
		return;
	if (str_time_parse(json_str(main_exit, "finishedAt"), &at) == -1)
		at = str_now_ns();
	x = xcalloc(1, sizeof(*x));
	x->b = ag->b;
	x->c = ag->c;
	x->code = (int)json_int(main_exit, "exitCode", 0);
	x->finished_ns = at;
	agent_exit_later(x);
}

static void
agent_on_event(void *arg, const cJSON *ev)
{
	struct backend_agent *ag = arg;
	const cJSON *health = json_obj(ev, "health");
	const cJSON *main_exit = json_obj(ev, "main");

	if (health != NULL && !ag->c->gone && container_running(ag->c)) {
		json_set(container_state(ag->c), "Health",
		    cJSON_Duplicate(health, 1));
		backend_container_save(ag->b, ag->c);
	}
	/* The main process's exit, kept for a backend whose cloud does not
	 * report the workload's own code (BACKEND_P_AGENT_EXIT). */
	if (main_exit != NULL && !ag->c->gone &&
	    cJSON_IsNumber(
		cJSON_GetObjectItemCaseSensitive(main_exit, "exitCode"))) {
		json_set(container_private(ag->c), BACKEND_P_AGENT_EXIT,
		    cJSON_Duplicate(main_exit, 1));
		backend_container_save(ag->b, ag->c);
		agent_exit_now(ag, main_exit);
	}
}

static void
agent_on_down(void *arg, const struct err *e)
{
	struct backend_agent *ag = arg;

	log_info("container %.12s: agent link down: %s", ag->c->id,
	    e != NULL ? e->msg : "closed");
}

static void
agent_on_connect(void *arg, struct aglink_chan *ch, const cJSON *req)
{
	struct backend_agent *ag = arg;

	ag->b->agent_connect(ag, ch, req);
}

static const struct aglink_cbs agent_link_cbs = { agent_on_hello,
	agent_on_event, agent_on_down, agent_on_connect };

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
		c->agent_idle = backend_agent_idle;
	}
	return ag;
}

/* Forward mode: ag's link to its agent's address (NULL without one), not
 * dialled yet. */
static struct aglink *
agent_link_forward(struct backend *b, struct backend_agent *ag, const char *tok)
{
	char host[256];
	int port = 0;

	if (b->ops->agent_address(b, ag->c, host, sizeof(host), &port) == -1)
		return NULL;
	ag->link = aglink_new(b->base, host, port, tok, ag->c->id,
	    AGENT_CONNECT_S, &agent_link_cbs, ag);
	return ag->link;
}

struct aglink *
backend_agent_link(struct backend *b, struct container *c, struct err *e)
{
	struct backend_agent *ag;
	const char *tok =
	    json_str(container_private(c), BACKEND_PRIV_AGENT_TOKEN);

	if (!backend_agent_runs(b) || !b->caps.flag[CAP_EXEC]) {
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
	if (b->agent_closing) {
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
	if (b->ops->agent_reverse)
		return backend_agent_link_reverse(b, c);
	if (agent_link_forward(b, ag, tok) == NULL) {
		err_set(e, 409,
		    "Container %s has no network address yet; try again when "
		    "it runs",
		    c->id);
		return NULL;
	}
	return ag->link;
}

void
backend_agent_dial_early(struct backend *b, struct container *c)
{
	struct backend_agent *ag;
	const char *tok =
	    json_str(container_private(c), BACKEND_PRIV_AGENT_TOKEN);

	if ((c->agent != NULL && c->agent->link != NULL) || tok == NULL ||
	    b->ops->agent_reverse || b->ops->agent_address == NULL ||
	    b->ops->agent_hello == NULL || !backend_agent_runs(b) ||
	    !b->caps.flag[CAP_EXEC] || b->agent_closing)
		return;
	ag = backend_agent_get(b, c);
	if (agent_link_forward(b, ag, tok) == NULL)
		return;
	log_debug("container %.12s: dialling the agent before the cloud says "
		  "it runs",
	    c->id);
	aglink_up_eager(ag->link);
}

struct aglink *
backend_agent_link_reverse(struct backend *b, struct container *c)
{
	struct backend_agent *ag = backend_agent_get(b, c);
	const char *tok =
	    json_str(container_private(c), BACKEND_PRIV_AGENT_TOKEN);

	/* Channels wait for the call-back as long as a cloud may take to
	 * start the workload (agent_callback_timeout). */
	if (ag->link == NULL && tok != NULL)
		ag->link = aglink_new_reverse(b->base, c->id, tok,
		    (int)b->conf.agent_callback_timeout, &agent_link_cbs, ag);
	return ag->link;
}

/* --- relays: a hijacked client and an agent channel --------------------- */

static void agent_relay_client_read(struct bufferevent *bev, void *arg);
static void agent_relay_client_write(struct bufferevent *bev, void *arg);
static void agent_relay_client_event(
    struct bufferevent *bev, short what, void *arg);

/* Hands the client connection over to a close-after-flush; an attach's
 * stops holding back wait's answer only after its last byte. */
static void
agent_relay_release_client(struct agent_relay *rl)
{
	struct bufferevent *bev = rl->bev;
	struct container *counted = rl->attach_open ? rl->c : NULL;

	rl->bev = NULL;
	rl->attach_open = 0;
	backend_ctr_attach_release(bev, counted);
}

/* The attach carries a run's output from now on: wait answers after it
 * ends. One made before the first start counts at once (that run's exit
 * may be seen first); one waiting for the restart of a stopped container
 * counts once it runs, so it does not hold back a wait on the stopped
 * container (dockerd answers that at once). */
void
backend_agent_attach_counted(struct agent_relay *rl)
{
	if (rl->attach_open)
		return;
	rl->attach_open = 1;
	backend_ctr_attach_open(rl->c);
}

void
backend_agent_relay_free(struct agent_relay *rl)
{
	if (rl->in_relays)
		TAILQ_REMOVE(&rl->ag->relays, rl, entry);
	if (rl->in_waiting)
		TAILQ_REMOVE(&rl->ag->waiting, rl, wentry);
	if (rl->req != NULL)
		httpsrv_req_on_close(rl->req, NULL, NULL);
	if (rl->ch != NULL)
		aglink_chan_close(rl->ch);
	agent_relay_release_client(rl);
	if (rl->ex != NULL)
		rl->ex->relay = NULL;
	cJSON_Delete(rl->request);
	container_unref(rl->c);
	free(rl);
}

/* Writes a message to the client as Docker would show a daemon error in
 * a stream: on stderr, or raw with a TTY. */
void
backend_agent_relay_error(struct agent_relay *rl, const char *msg)
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

/* The agent's "pid" of an exec (its META at the start, its RESULT and
 * exec_status answers): kept after the exit, as dockerd keeps it. */
void
backend_agent_exec_pid(struct agent_exec *ex, const cJSON *o)
{
	const cJSON *pid = cJSON_GetObjectItemCaseSensitive(o, "pid");

	if (cJSON_IsNumber(pid) && pid->valuedouble >= 1 &&
	    pid->valuedouble <= 2147483647.0)
		ex->pid = (int)pid->valuedouble;
}

/* An exec's process id (in the container's PID namespace), sent by the
 * agent when it started the process: exec inspect's Pid. */
static void
agent_relay_on_meta(void *arg, const cJSON *meta)
{
	struct agent_relay *rl = arg;

	if (rl->ex != NULL)
		backend_agent_exec_pid(rl->ex, meta);
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
		backend_agent_relay_free(rl);
		return;
	}
	if (ex != NULL) {
		backend_agent_exec_pid(ex, res);
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
			ex->status_poll(ex);
			return;
		} else {
			backend_agent_relay_error(rl,
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
		backend_agent_relay_error(rl, e->msg);
	} else if (json_str(res, "message") != NULL) {
		backend_agent_relay_error(rl, json_str(res, "message"));
	}
	backend_agent_relay_free(rl);
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
		backend_agent_relay_free(rl);
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
	backend_agent_relay_free(rl);
}

void
backend_agent_relay_hijack(struct agent_relay *rl)
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
	backend_agent_relay_free(rl);
}

struct agent_relay *
backend_agent_relay_new(
    struct backend *b, struct container *c, struct httpsrv_req *r)
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
void
backend_agent_relay_open(struct agent_relay *rl)
{
	struct err e;
	struct aglink *l = backend_agent_link(rl->b, rl->c, &e);

	if (l == NULL) {
		if (rl->req != NULL) {
			httpsrv_req_on_close(rl->req, NULL, NULL);
			httpsrv_reply_err(rl->req, &e);
			rl->req = NULL;
		} else {
			backend_agent_relay_error(rl, e.msg);
		}
		if (rl->ex != NULL) {
			rl->ex->running = 0;
			rl->ex = NULL;
		}
		backend_agent_relay_free(rl);
		return;
	}
	rl->ch = aglink_open(l, rl->request, &agent_relay_cbs, rl);
	if (rl->req != NULL && aglink_is_up(l))
		backend_agent_relay_hijack(rl);
	else if (rl->bev != NULL)
		agent_relay_client_read(rl->bev, rl);
}

int
backend_agent_idle(const struct container *c)
{
	const struct backend_agent *ag = c->agent;

	return ag == NULL ||
	    (ag->link == NULL && TAILQ_EMPTY(&ag->relays) &&
		TAILQ_EMPTY(&ag->waiting));
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
		backend_agent_relay_free(rl);
	}
	backend_agent_link_close(ag);
	c->agent = NULL;
	free(ag);
}

void
backend_agent_exec_free(struct agent_exec *ex)
{
	TAILQ_REMOVE(&backend_agent_execs, ex, entry);
	if (ex->poll != NULL)
		event_free(ex->poll);
	if (ex->relay != NULL)
		ex->relay->ex = NULL;
	cJSON_Delete(ex->cfg);
	container_unref(ex->c);
	free(ex);
}

void
backend_agent_shutdown(struct backend *b)
{
	struct agent_exec *ex;
	struct container *c;

	b->agent_closing = 1;
	TAILQ_FOREACH(c, &b->containers, entry)
		backend_agent_free(c);
	while ((ex = TAILQ_FIRST(&backend_agent_execs)) != NULL) {
		if (ex->relay != NULL) {
			ex->relay->ex = NULL;
			ex->relay = NULL;
		}
		backend_agent_exec_free(ex);
	}
	aglink_shutdown();
}
