/* docker exec through the agent: create, start (a relay), inspect,
 * resize, and the exit code asked for again after a dropped link. */
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "backend_agent.h"
#include "backend_sys.h"
#include "sockerless/id.h"
#include "sockerless/json.h"
#include "sockerless/log.h"
#include "sockerless/xmalloc.h"

#define EXEC_KEEP_NS (3600LL * 1000000000LL)

static void agent_exec_status_poll(struct agent_exec *ex);

/* --- exec --------------------------------------------------------------- */

static struct agent_exec *
agent_exec_find(const char *id)
{
	struct agent_exec *ex;
	size_t len = strlen(id);

	if (len == 0)
		return NULL;
	TAILQ_FOREACH(ex, &backend_agent_execs, entry) {
		if (strncmp(ex->id, id, len) == 0)
			return ex;
	}
	return NULL;
}

/* Docker forgets an exec when its container goes; execs that ended long
 * ago go too, so the list stays small. */
static void
agent_exec_gc(void)
{
	struct agent_exec *ex, *next;
	int64_t now = str_now_ns();

	for (ex = TAILQ_FIRST(&backend_agent_execs); ex != NULL; ex = next) {
		next = TAILQ_NEXT(ex, entry);
		if (ex->relay == NULL && ex->poll == NULL &&
		    (ex->c->gone ||
			(ex->exited && now - ex->done_ns > EXEC_KEEP_NS)))
			backend_agent_exec_free(ex);
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
	if (json_bool(json_obj(container_doc(c), "State"), "Paused", 0)) {
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
	ex->status_poll = agent_exec_status_poll;
	TAILQ_INSERT_TAIL(&backend_agent_execs, ex, entry);
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
	rl = backend_agent_relay_new(ex->b, ex->c, detach ? NULL : r);
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
	backend_agent_relay_open(rl);
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

	if (e == NULL)
		backend_agent_exec_pid(ex, res);
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
			backend_agent_relay_error(ex->relay,
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
		backend_agent_relay_free(ex->relay);
}

static const struct aglink_chan_cbs agent_exec_status_cbs = {
	backend_agent_ignore_data, NULL, NULL, NULL, agent_exec_status_result
};

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
