/* The life cycle's transitions: the state reports backends make (started,
 * exited, adopted), start, stop, restart, kill and remove, each one
 * operation in flight at a time (backend_ctr.c parks the rest). */
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "backend_agent.h"
#include "backend_ctr.h"
#include "backend_logs.h"
#include "backend_net.h"
#include "backend_port.h"
#include "backend_prestart.h"
#include "backend_sys.h"
#include "backend_vol.h"
#include "sockerless/container.h"
#include "sockerless/json.h"
#include "sockerless/log.h"
#include "sockerless/store.h"
#include "sockerless/xmalloc.h"

static void backend_ctr_start_op(struct backend_ctr_op *op);
static void backend_ctr_restart_ended(struct backend *b, struct container *c);

/* --- state reports from backends --------------------------------------- */

/* Does m share a user-defined network with c, or is it on net? */
static int
backend_ctr_net_peer(
    const struct container *c, const struct container *m, const char *net)
{
	const cJSON *ep;

	if (net != NULL && backend_net_endpoints(m) != NULL &&
	    json_obj(backend_net_endpoints(m), net) != NULL)
		return 1;
	cJSON_ArrayForEach(ep, backend_net_endpoints(c)) {
		if (!backend_net_predefined(ep->string) &&
		    json_obj(backend_net_endpoints(m), ep->string) != NULL)
			return 1;
	}
	return 0;
}

void
backend_ctr_net_changed(struct backend *b, struct container *c, const char *net)
{
	struct container *m;

	TAILQ_FOREACH(m, &b->containers, entry) {
		if (!m->gone && container_running(m) &&
		    (m == c || backend_ctr_net_peer(c, m, net)))
			backend_agent_push_names(b, m);
	}
}

void
backend_container_started(
    struct backend *b, struct container *c, int64_t started_ns)
{
	char ts[40];

	str_time_rfc3339(ts, sizeof(ts), started_ns);
	json_set(container_state(c), "StartedAt", cJSON_CreateString(ts));
	/* Relay mode has no address to report: the endpoints come up
	 * without one (EndpointID, the short id alias, DNSNames). */
	if (b->ops->reach == BACKEND_REACH_RELAY)
		backend_net_addressed(b, c, "");
	backend_ctr_save(b, c);
	backend_agent_container_running(b, c);
	backend_docksock_running(b, c);
	backend_ctr_net_changed(b, c, NULL);
}

void
backend_container_set_address(
    struct backend *b, struct container *c, const char *ip)
{
	cJSON *ns = json_obj(container_doc(c), "NetworkSettings");

	/* The top-level fields are the default bridge's, as dockerd's.
	 * NetworkSettings.Ports is where the backend publishes
	 * (backend_port.c), not this address. */
	if (json_obj(backend_net_endpoints(c), NET_BRIDGE) != NULL) {
		json_set(ns, "IPAddress", cJSON_CreateString(ip));
		json_set(ns, "Gateway", cJSON_CreateString("172.17.0.1"));
	}
	/* The endpoints made at create keep what the client set in them. */
	backend_net_addressed(b, c, ip);
	backend_ctr_save(b, c);
	if (container_running(c))
		backend_ctr_net_changed(b, c, NULL);
}

/* The restart policy's start (backend_ctr_restart.c's hook): what docker
 * start does, one more in RestartCount. */
static void
backend_ctr_restart_run(struct backend *b, struct container *c)
{
	struct err e;

	if (c->gone || !container_restarting(c) ||
	    backend_ctr_busy(c) != CTR_IDLE)
		return;
	json_set(container_doc(c), "RestartCount",
	    cJSON_CreateNumber(
		(double)(json_int(container_doc(c), "RestartCount", 0) + 1)));
	if (backend_net_check_start(b, c, &e) == -1) {
		json_set(
		    container_state(c), "Error", cJSON_CreateString(e.msg));
		backend_ctr_restart_ended(b, c);
		return;
	}
	backend_ctr_restart_starting(b, c);
	backend_ctr_start_op(backend_ctr_op_new(b, c, NULL));
}

/* The restart loop of c ends (stopped, killed, a start failed): the
 * container is exited with its last exit code, as dockerd leaves it. */
static void
backend_ctr_restart_ended(struct backend *b, struct container *c)
{
	backend_ctr_restart_cancel(c);
	container_set_state(c, "exited");
	backend_ctr_save(b, c);
	backend_ctr_notify_waiters(b, c, 0);
}

void
backend_container_exited(struct backend *b, struct container *c, int exit_code,
    int64_t finished_ns, const char *error)
{
	cJSON *st = container_state(c), *attrs;
	char ts[40], code[16];
	int64_t started_ns = finished_ns;

	if (c->gone || !container_running(c))
		return;
	str_time_parse(json_str(st, "StartedAt"), &started_ns);
	str_time_rfc3339(ts, sizeof(ts), finished_ns);
	container_set_state(c, "exited");
	json_set(st, "ExitCode", cJSON_CreateNumber(exit_code));
	json_set(st, "FinishedAt", cJSON_CreateString(ts));
	json_set(st, "Pid", cJSON_CreateNumber(0));
	json_set(st, "Error", cJSON_CreateString(error ? error : ""));
	backend_net_released(c);
	backend_ctr_save(b, c);
	backend_ctr_set_active(b, c, 0);
	attrs = cJSON_CreateObject();
	snprintf(code, sizeof(code), "%d", exit_code);
	json_add_str(attrs, "exitCode", code);
	backend_sys_container_event(b, c, "die", attrs);
	backend_vol_ctr_events(b, c, "unmount");
	backend_port_close(b, c);
	backend_net_endpoint_events(b, c, "disconnect");
	backend_logs_container_exited(b, c);
	backend_agent_container_exited(b, c);
	backend_ctr_net_changed(b, c, NULL);
	backend_ctr_notify_waiters(b, c, 0);
	if (backend_ctr_restart_after_exit(b, c, exit_code,
		finished_ns - started_ns, backend_ctr_restart_run))
		return;
	if (json_bool(container_host_config(c), "AutoRemove", 0) &&
	    !c->stopping)
		backend_ctr_remove_now(b, c, NULL);
}

/* A start the backend had sent to the cloud when the process died: the
 * workload was found running (or run), so the container is running. */
void
backend_container_adopted(
    struct backend *b, struct container *c, int64_t started_ns)
{
	char ts[40];

	if (c->gone || container_running(c))
		return;
	str_time_rfc3339(ts, sizeof(ts), started_ns);
	container_set_state(c, "running");
	json_set(container_state(c), "StartedAt", cJSON_CreateString(ts));
	json_set(container_state(c), "Error", cJSON_CreateString(""));
	json_set(container_state(c), "ExitCode", cJSON_CreateNumber(0));
	backend_ctr_save(b, c);
	backend_ctr_set_active(b, c, 1); /* the pollers visit it again */
	backend_port_readopt(b, c);	 /* what that start had bound */
	backend_docksock_running(b, c);
	backend_sys_container_event(b, c, "start", NULL);
	backend_ctr_net_changed(b, c, NULL);
}

/* Containers whose create was cut short by the end of the process: the
 * client never got their id, so they and whatever the backend made for
 * them are removed. Runs once the backend can reach its cloud. */
void
backend_ctr_resolve_creating(struct backend *b)
{
	struct container *c, *next;

	for (c = TAILQ_FIRST(&b->containers); c != NULL; c = next) {
		next = TAILQ_NEXT(c, entry);
		/* The facts first: a cold document is not read for this. */
		if (!container_private_has(c, BACKEND_PRIV_CREATING) ||
		    !json_bool(container_private(c), BACKEND_PRIV_CREATING, 0))
			continue;
		log_warnx("container %.12s: its create was interrupted by a "
			  "restart; removing it and its cloud resources",
		    c->id);
		backend_ctr_remove_now(b, c, NULL);
	}
}

/* --- start -------------------------------------------------------------- */

static void backend_ctr_start_ready(struct backend_ctr_op *op);
static void backend_ctr_start_delivered(void *arg, const struct err *e);

static void
backend_ctr_start_done(void *arg, const struct err *e)
{
	struct backend_ctr_op *op = arg;
	struct container *c = op->c;
	char ts[40];

	backend_ctr_restart_started(c);
	if (e != NULL) {
		json_set(
		    container_state(c), "Error", cJSON_CreateString(e->msg));
		backend_ctr_save(op->b, c);
		if (!container_running(c))
			backend_port_close(op->b, c);
		backend_ctr_set_active(op->b, c, container_running(c));
		backend_ctr_op_reply(op, e, 0);
		if (container_restarting(c)) /* the policy's start */
			backend_ctr_restart_ended(op->b, c);
		backend_agent_start_failed(op->b, c);
		backend_ctr_idle(op->b, c);
		/* Like dockerd: --rm removes a container that failed to
		 * start, which ends the client's wait for its removal. */
		if (!c->gone &&
		    json_bool(container_host_config(c), "AutoRemove", 0))
			backend_ctr_remove_now(op->b, c, NULL);
		backend_ctr_op_free(op);
		return;
	}
	str_time_rfc3339(ts, sizeof(ts), str_now_ns());
	container_set_state(c, "running");
	json_set(container_state(c), "StartedAt", cJSON_CreateString(ts));
	json_set(container_state(c), "Error", cJSON_CreateString(""));
	json_set(container_state(c), "ExitCode", cJSON_CreateNumber(0));
	backend_ctr_save(op->b, c);
	/* The files put before start go in before the start answers. */
	if (backend_prestart_deliver(op->b, c, backend_ctr_start_delivered, op))
		return;
	backend_ctr_start_ready(op);
}

/* The workload runs with its files: the start answers. */
static void
backend_ctr_start_ready(struct backend_ctr_op *op)
{
	struct container *c = op->c;

	/* dockerd's endpoints join before the container starts. */
	backend_net_endpoint_events(op->b, c, "connect");
	backend_vol_ctr_events(op->b, c, "mount");
	backend_sys_container_event(op->b, c, "start", NULL);
	backend_ctr_op_reply(op, NULL, 204);
	backend_ctr_idle(op->b, c);
	backend_ctr_op_free(op);
}

/* The workload of a start whose files could not go in is stopped (its
 * command never ran), then the start fails. Its exit does not --rm it:
 * the failed start does. */
static void
backend_ctr_start_killed(void *arg, const struct err *ke)
{
	struct backend_ctr_op *op = arg;
	struct container *c = op->c;
	int stopping = c->stopping;

	if (ke != NULL)
		log_warnx(
		    "container %.12s: stopping it after a failed start: %s",
		    c->id, ke->msg);
	if (container_running(c) && !c->gone) {
		c->stopping = 1;
		backend_container_exited(
		    op->b, c, 128, str_now_ns(), op->err.msg);
		c->stopping = stopping;
	}
	backend_ctr_start_done(op, &op->err);
}

/* The files put before start are in: the held command runs now. */
static void
backend_ctr_start_delivered(void *arg, const struct err *e)
{
	struct backend_ctr_op *op = arg;

	if (e == NULL) {
		backend_agent_container_running(op->b, op->c);
		backend_ctr_start_ready(op);
		return;
	}
	op->err = *e;
	if (!container_running(op->c)) {
		backend_ctr_start_done(op, &op->err);
		return;
	}
	op->b->ops->kill(op->b, op->c, SIGKILL, backend_ctr_start_killed, op);
}

static void
backend_ctr_start_op(struct backend_ctr_op *op)
{
	struct err e;

	backend_ctr_set_busy(op->c, CTR_STARTING);
	backend_ctr_set_active(op->b, op->c, 1);
	/* Published ports listen before the workload starts: a port that
	 * cannot be had fails the start, and nothing runs. */
	if (backend_port_open(op->b, op->c, &e) == -1) {
		backend_ctr_start_done(op, &e);
		return;
	}
	op->b->ops->start(op->b, op->c, backend_ctr_start_done, op);
}

void
backend_ctr_start(
    struct backend *b, struct httpsrv_req *r, const struct router_match *m)
{
	struct container *c;
	struct err e;

	if ((c = backend_lookup_or_reply(b, r, router_param(m, "id"))) ==
		NULL ||
	    backend_ctr_park(c, r, m, backend_ctr_start))
		return;
	/* dockerd counts a restarting container as running. */
	if (container_running(c) || container_restarting(c)) {
		httpsrv_reply_empty(r, 304);
		return;
	}
	if (backend_net_check_start(b, c, &e) == -1) {
		httpsrv_reply_err(r, &e);
		return;
	}
	backend_ctr_restart_reset(c);
	backend_ctr_start_op(backend_ctr_op_new(b, c, r));
}

/* --- stop, kill, restart ------------------------------------------------ */

static int backend_ctr_stop_signal(const struct container *c);
static int backend_ctr_signal(const char *s);

/* The signal a stop sends first: ?signal= (docker stop -s, API 1.42),
 * else the container's. Answers 400 and returns -1 for an unknown one. */
static int
backend_ctr_stop_signal_of(struct httpsrv_req *r, const struct container *c)
{
	const char *s = httpsrv_req_query(r, "signal");
	int signo;

	if (s == NULL || s[0] == '\0')
		return backend_ctr_stop_signal(c);
	if ((signo = backend_ctr_signal(s)) == -1) {
		httpsrv_reply_error(r, 400,
		    "Invalid signal: %s: use a name (SIGTERM, TERM) or a "
		    "number from 1 to 64",
		    s);
		return -1;
	}
	return signo;
}

/* Answers a stop once the container has really exited (or the deadline
 * passed, which means the cloud did not stop it in time). */
static void
backend_ctr_stop_finish(struct backend_ctr_op *op, const struct err *e)
{
	struct backend *b = op->b;
	struct container *c = op->c;

	c->stopping = 0;
	if (e == NULL && op->signo == 0 && op->timer != NULL)
		backend_sys_container_event(b, c, "stop", NULL);
	if (e == NULL && op->then_start) {
		op->then_start = 0;
		backend_sys_container_event(b, c, "restart", NULL);
		if (op->timer != NULL) {
			event_free(op->timer);
			op->timer = NULL;
		}
		backend_ctr_start_op(op);
		return;
	}
	backend_ctr_op_reply(op, e, 204);
	if (e == NULL && !c->gone &&
	    json_bool(container_host_config(c), "AutoRemove", 0))
		backend_ctr_remove_now(b, c, NULL);
	backend_ctr_op_free(op);
}

static void
backend_ctr_stop_poll(evutil_socket_t fd, short ev, void *arg)
{
	struct backend_ctr_op *op = arg;
	struct timeval tv = { 0, 100000 };
	struct err e;

	(void)fd;
	(void)ev;
	if (!container_running(op->c) || op->c->gone) {
		backend_ctr_stop_finish(op, NULL);
		return;
	}
	if (!op->no_limit && --op->timeout_s <= -600) {
		/* 60 s past the kill deadline at 100 ms per tick. */
		err_set(&e, 500,
		    "the cloud did not stop container %.12s in "
		    "time; it may still be running",
		    op->c->id);
		backend_ctr_stop_finish(op, &e);
		return;
	}
	evtimer_add(op->timer, &tv);
}

static void
backend_ctr_stop_sent(void *arg, const struct err *e)
{
	struct backend_ctr_op *op = arg;
	struct timeval tv = { 0, 100000 };

	if (e != NULL) {
		backend_ctr_stop_finish(op, e);
		return;
	}
	/* -t -1: dockerd waits for the exit without a deadline. */
	op->no_limit = op->timeout_s < 0;
	op->timeout_s = op->timeout_s * 10; /* ticks of 100 ms */
	op->timer = evtimer_new(op->b->base, backend_ctr_stop_poll, op);
	evtimer_add(op->timer, &tv);
}

/* The seconds to wait before the kill: ?t=, else the container's
 * StopTimeout, else the configured default. Answers 400 and returns -2 for
 * a bad ?t=. */
static int
backend_ctr_stop_timeout(
    struct backend *b, struct httpsrv_req *r, const struct container *c)
{
	const char *t = httpsrv_req_query(r, "t"), *errstr;
	int64_t ct = json_int(container_config(c), "StopTimeout", -1);
	long long v;

	if (t != NULL && t[0] != '\0') {
		if (str_tonum(t, -1, BACKEND_CTR_MAX_STOP_TIMEOUT, &v,
			&errstr) == -1) {
			httpsrv_reply_error(r, 400,
			    "invalid value for t: \"%s\" is %s: use -1 (no "
			    "limit) or a number of seconds up to %d",
			    t, backend_ctr_why(errstr),
			    BACKEND_CTR_MAX_STOP_TIMEOUT);
			return -2;
		}
		return (int)v;
	}
	if (ct >= 0 && ct <= BACKEND_CTR_MAX_STOP_TIMEOUT)
		return (int)ct;
	return (int)b->conf.stop_timeout;
}

void
backend_ctr_stop(
    struct backend *b, struct httpsrv_req *r, const struct router_match *m)
{
	struct container *c;
	struct backend_ctr_op *op;
	int timeout_s, signo;

	if ((c = backend_lookup_or_reply(b, r, router_param(m, "id"))) ==
		NULL ||
	    backend_ctr_park(c, r, m, backend_ctr_stop))
		return;
	if ((timeout_s = backend_ctr_stop_timeout(b, r, c)) == -2 ||
	    (signo = backend_ctr_stop_signal_of(r, c)) == -1)
		return;
	if (container_restarting(c)) {
		/* Between two runs: the loop ends, nothing to stop. */
		backend_ctr_restart_stopped_by_user(b, c, 1);
		backend_ctr_restart_ended(b, c);
		backend_sys_container_event(b, c, "stop", NULL);
		httpsrv_reply_empty(r, 204);
		return;
	}
	if (!container_running(c)) {
		httpsrv_reply_empty(r, 304);
		return;
	}
	backend_ctr_restart_stopped_by_user(b, c, 1);
	op = backend_ctr_op_new(b, c, r);
	op->timeout_s = timeout_s;
	c->stopping = 1;
	c->stop_signo = signo;
	backend_sys_kill_event(b, c, signo);
	b->ops->stop(b, c, op->timeout_s, backend_ctr_stop_sent, op);
}

void
backend_ctr_restart(
    struct backend *b, struct httpsrv_req *r, const struct router_match *m)
{
	struct container *c;
	struct backend_ctr_op *op;
	int timeout_s, signo;

	if ((c = backend_lookup_or_reply(b, r, router_param(m, "id"))) ==
		NULL ||
	    backend_ctr_park(c, r, m, backend_ctr_restart))
		return;
	if ((timeout_s = backend_ctr_stop_timeout(b, r, c)) == -2 ||
	    (signo = backend_ctr_stop_signal_of(r, c)) == -1)
		return;
	/* dockerd's restart is a stop, then a start by the user. */
	backend_ctr_restart_reset(c);
	if (container_restarting(c))
		backend_ctr_restart_ended(b, c);
	op = backend_ctr_op_new(b, c, r);
	op->then_start = 1;
	if (!container_running(c)) {
		backend_ctr_stop_finish(op, NULL);
		return;
	}
	op->timeout_s = timeout_s;
	c->stopping = 1;
	c->stop_signo = signo;
	backend_sys_kill_event(b, c, signo);
	b->ops->stop(b, c, op->timeout_s, backend_ctr_stop_sent, op);
}

static void
backend_ctr_kill_done(void *arg, const struct err *e)
{
	struct backend_ctr_op *op = arg;

	backend_ctr_op_reply(op, e, 204);
	backend_ctr_op_free(op);
}

/* The agent's answer to a kill; without an agent (or when it cannot be
 * reached) KILL and TERM go through the cloud's stop call instead. */
static void
backend_ctr_kill_agent_done(void *arg, const struct err *e)
{
	struct backend_ctr_op *op = arg;

	if (e == NULL && op->signo == SIGKILL && container_running(op->c)) {
		/* Like dockerd, answer a KILL once the container is down, so
		 * `docker kill c && docker rm c` works. */
		op->c->stopping = 1;
		op->timeout_s = 0;
		backend_ctr_stop_sent(op, NULL);
		return;
	}
	if (e == NULL || (op->signo != SIGKILL && op->signo != SIGTERM) ||
	    !container_running(op->c)) {
		backend_ctr_kill_done(op, e);
		return;
	}
	if (e->status != 501)
		log_warnx("container %.12s: signal through the agent: %s; "
			  "using the cloud's stop call",
		    op->c->id, e->msg);
	op->b->ops->kill(op->b, op->c, op->signo, backend_ctr_kill_done, op);
}

/* Parses "SIGKILL", "KILL", "9". Returns -1 when unknown. */
static int
backend_ctr_signal(const char *s)
{
	static const struct {
		const char *name;
		int no;
	} sigs[] = { { "HUP", SIGHUP }, { "INT", SIGINT }, { "QUIT", SIGQUIT },
		{ "KILL", SIGKILL }, { "USR1", SIGUSR1 }, { "USR2", SIGUSR2 },
		{ "TERM", SIGTERM }, { "STOP", SIGSTOP }, { "CONT", SIGCONT },
		{ "ALRM", SIGALRM }, { "WINCH", SIGWINCH } };
	long long v;
	const char *errstr;

	if (s == NULL || s[0] == '\0')
		return SIGKILL;
	if (str_tonum(s, 1, 64, &v, &errstr) == 0)
		return (int)v;
	if (strncasecmp(s, "SIG", 3) == 0)
		s += 3;
	for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
		if (strcasecmp(s, sigs[i].name) == 0)
			return sigs[i].no;
	return -1;
}

/* The signal a stop sends first: the container's StopSignal, else TERM. */
static int
backend_ctr_stop_signal(const struct container *c)
{
	const char *s = json_str(container_config(c), "StopSignal");
	int signo;

	if (s == NULL || s[0] == '\0' || (signo = backend_ctr_signal(s)) == -1)
		return SIGTERM;
	return signo;
}

void
backend_ctr_kill(
    struct backend *b, struct httpsrv_req *r, const struct router_match *m)
{
	struct container *c;
	const char *sig = httpsrv_req_query(r, "signal");
	int signo = backend_ctr_signal(sig);
	struct backend_ctr_op *op;
	struct err e;

	if ((c = backend_lookup_or_reply(b, r, router_param(m, "id"))) ==
		NULL ||
	    backend_ctr_park(c, r, m, backend_ctr_kill))
		return;
	if (signo == -1) {
		httpsrv_reply_error(r, 400, "Invalid signal: %s", sig);
		return;
	}
	if (container_restarting(c)) {
		/* dockerd: telling the loop to end is enough. */
		backend_ctr_restart_stopped_by_user(b, c, 1);
		backend_ctr_restart_ended(b, c);
		httpsrv_reply_empty(r, 204);
		return;
	}
	if (!container_running(c)) {
		httpsrv_reply_error(
		    r, 409, "Container %s is not running", c->id);
		return;
	}
	if (signo != SIGKILL && signo != SIGTERM &&
	    !b->caps.flag[CAP_SIGNALS]) {
		caps_unsupported(&b->caps, CAP_SIGNALS, &e);
		httpsrv_reply_err(r, &e);
		return;
	}
	/* dockerd: any kill marks the container stopped by the user; the
	 * stop signal (or any, without StopSignal) also ends the loop. */
	backend_ctr_restart_stopped_by_user(b, c,
	    signo == SIGKILL || signo == backend_ctr_stop_signal(c) ||
		json_str(container_config(c), "StopSignal") == NULL);
	op = backend_ctr_op_new(b, c, r);
	op->signo = signo;
	backend_sys_kill_event(b, c, signo);
	/* The agent delivers any signal to the workload's own process; the
	 * cloud's stop call is the way for KILL and TERM without one. */
	if (backend_agent_signal(
		b, c, signo, backend_ctr_kill_agent_done, op, &e) == 0)
		return;
	backend_ctr_kill_agent_done(op, &e);
}

/* --- remove ------------------------------------------------------------- */

static void
backend_ctr_removed_reply(void *arg)
{
	struct backend_ctr_op *op = arg;
	struct backend *b = op->b;
	struct container *c = op->c;

	backend_ctr_notify_waiters(b, c, 1);
	backend_ctr_op_reply(op, NULL, 204);
	backend_ctr_idle(b, c);
	container_unref(c); /* the list's reference */
	backend_ctr_op_free(op);
}

static void
backend_ctr_removed(struct backend_ctr_op *op, const struct err *e)
{
	struct backend *b = op->b;
	struct container *c = op->c;
	struct err se;

	if (e != NULL) {
		container_set_state(c, "dead");
		json_set(
		    container_state(c), "Error", cJSON_CreateString(e->msg));
		backend_ctr_save(b, c);
		if (op->req == NULL)
			log_warnx(
			    "removing container %.12s: %s", c->id, e->msg);
		backend_ctr_op_reply(op, e, 0);
		backend_ctr_idle(b, c);
		backend_ctr_op_free(op);
		return;
	}
	if (store_container_delete(b->store, c->id, &se) == -1)
		log_warnx("deleting container %.12s: %s", c->id, se.msg);
	backend_prestart_forget(b, c);
	c->gone = 1;
	backend_port_close(b, c);
	backend_ctr_unlist(b, c);
	backend_sys_container_event(b, c, "destroy", NULL);
	/* The answer waits for the volumes that go with it (rm -v). */
	backend_vol_ctr_release(b, c, backend_ctr_removed_reply, op);
}

static void
backend_ctr_remove_done(void *arg, const struct err *e)
{
	backend_ctr_removed(arg, e);
}

/* Releases the cloud resources and forgets the container; the caller
 * has made it CTR_REMOVING or checked that nothing is in flight. */
static void
backend_ctr_remove_start(
    struct backend *b, struct container *c, struct httpsrv_req *req)
{
	struct backend_ctr_op *op = backend_ctr_op_new(b, c, req);

	backend_ctr_restart_cancel(c);
	backend_ctr_set_busy(c, CTR_REMOVING);
	container_set_state(c, "removing");
	backend_ctr_save(b, c); /* a restart finishes what was begun */
	if (b->ops->remove != NULL)
		b->ops->remove(b, c, backend_ctr_remove_done, op);
	else
		backend_ctr_removed(op, NULL);
}

/* A removal nobody asked for over the API (--rm, prune): once only. */
void
backend_ctr_remove_now(
    struct backend *b, struct container *c, struct httpsrv_req *req)
{
	if (backend_ctr_busy(c) == CTR_REMOVING)
		return;
	backend_ctr_remove_start(b, c, req);
}

static void
backend_ctr_force_killed(void *arg, const struct err *e)
{
	struct backend_ctr_op *op = arg;
	struct container *c = op->c;

	if (e != NULL) {
		c->stopping = 0;
		backend_ctr_op_reply(op, e, 0);
		backend_ctr_idle(op->b, c);
		backend_ctr_op_free(op);
		return;
	}
	/* The exit report may come later; Docker removes at once. */
	if (container_running(c))
		backend_container_exited(op->b, c, 137, str_now_ns(), NULL);
	if (!c->gone)
		backend_ctr_remove_start(op->b, c, backend_ctr_op_take_req(op));
	else
		backend_ctr_op_reply(op, NULL, 204);
	backend_ctr_op_free(op);
}

void
backend_ctr_remove(
    struct backend *b, struct httpsrv_req *r, const struct router_match *m)
{
	struct container *c;
	int force = backend_query_bool(r, "force", 0);

	if ((c = backend_lookup_or_reply(b, r, router_param(m, "id"))) == NULL)
		return;
	/* Kept with the record: a removal a restart finishes does it too. */
	if (backend_query_bool(r, "v", 0))
		json_set(container_private(c), BACKEND_PRIV_RM_VOLUMES,
		    cJSON_CreateTrue());
	if (backend_ctr_busy(c) == CTR_REMOVING) {
		httpsrv_reply_error(r, 409,
		    "removal of container %s is "
		    "already in progress",
		    c->id);
		return;
	}
	/* A remove during a create or a start waits for it. */
	if (backend_ctr_park(c, r, m, backend_ctr_remove))
		return;
	if (container_restarting(c) && !force) {
		httpsrv_reply_error(r, 409,
		    "You cannot remove a restarting container %s. Stop the "
		    "container before attempting removal or force remove",
		    c->id);
		return;
	}
	if (container_running(c)) {
		if (!force) {
			httpsrv_reply_error(r, 409,
			    "cannot remove container \"/%s\": container is "
			    "running: stop the container before removing or "
			    "force remove",
			    container_name(c));
			return;
		}
		c->stopping = 1;
		backend_ctr_set_busy(c, CTR_REMOVING);
		b->ops->kill(b, c, SIGKILL, backend_ctr_force_killed,
		    backend_ctr_op_new(b, c, r));
		return;
	}
	backend_ctr_remove_start(b, c, r);
}

/* Removals a restart interrupted (the record says "removing") finish now
 * that the backend knows its cloud again; a failure leaves the container
 * Dead, which docker rm retries. */
void
backend_ctr_resume(struct backend *b)
{
	struct container *c, *next;

	for (c = TAILQ_FIRST(&b->containers); c != NULL; c = next) {
		next = TAILQ_NEXT(c, entry);
		const char *st = container_status(c);
		if (st == NULL || strcmp(st, "removing") != 0)
			continue;
		log_info("container %.12s: finishing its removal", c->id);
		/* An interrupted create (backend_ctr_resolve_creating) may
		 * have started this removal already. */
		backend_ctr_remove_now(b, c, NULL);
	}
	backend_ctr_restart_resume(b, backend_ctr_restart_run);
}
