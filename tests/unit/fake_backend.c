/* The fake backend of the framework's unit tests (fake_backend.h). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <ftw.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <event2/event.h>

#include <cmocka.h>

#include "../../common/backend/backend_int.h"
#include "fake_backend.h"
#include "sockerless/backend_kit.h"
#include "sockerless/err.h"
#include "sockerless/httpcli.h"
#include "sockerless/json.h"
#include "sockerless/store.h"
#include "sockerless/xmalloc.h"

#define FW_BOUND_S 10

struct fw *fw_cur;
int fake_caps[CAP__COUNT] = { [CAP_LOGS] = 1, [CAP_LOGS_FOLLOW] = 1 };
const char *fake_caps_why[CAP__COUNT];

static const char *const fake_op_names[] = { "create", "start", "stop", "kill",
	"remove", "net_create", "net_remove", "net_connect", "net_disconnect",
	"vol_create", "vol_remove" };
int fake_net_ops;
int fake_recorder_mode;
int fake_stop_kit;

static int
fake_op_index(const char *op)
{
	for (size_t i = 0; i < FAKE_NOPS; i++)
		if (strcmp(fake_op_names[i], op) == 0)
			return (int)i;
	abort();
}

/* --- the backend's operations ------------------------------------------ */

static void fake_autocomplete(evutil_socket_t fd, short ev, void *arg);

static void
fake_record(struct backend *b, struct container *c, const char *op, int arg,
    backend_done_fn done, void *done_arg)
{
	struct fw *fw = fw_cur;
	struct fake_call *call = xcalloc(1, sizeof(*call));
	struct timeval now = { 0, 0 };

	(void)b;
	call->op = fake_op_names[fake_op_index(op)];
	if (c != NULL) {
		str_lcpy(call->id, c->id, sizeof(call->id));
		container_ref(c);
	}
	call->c = c;
	call->arg = arg;
	call->done = done;
	call->done_arg = done_arg;
	fw->count[fake_op_index(op)]++;
	TAILQ_INSERT_TAIL(&fw->pending, call, entry);
	/* A cloud answers later, never inside the call that asked. */
	if (fw->autocomplete)
		event_base_once(backend_base(fw->b), -1, EV_TIMEOUT,
		    fake_autocomplete, call, &now);
}

static void
fake_autocomplete(evutil_socket_t fd, short ev, void *arg)
{
	struct fw *fw = fw_cur;
	struct fake_call *call;
	struct container *c;
	int stops, call_sig;

	(void)fd;
	(void)ev;
	/* The call may have been completed by hand meanwhile. */
	TAILQ_FOREACH(call, &fw->pending, entry) {
		if (call == arg)
			break;
	}
	if (call == NULL)
		return;
	if (fw->fail_op != NULL && strcmp(fw->fail_op, call->op) == 0) {
		fw_complete(fw, call, fw->fail_status, "the cloud said no");
		return;
	}
	if (fake_agent_mode && fake_agent_op(fw, call) == 0)
		return;
	if ((c = call->c) == NULL) {
		fw_complete(fw, call, 0, NULL);
		return;
	}
	container_ref(c);
	call_sig = strcmp(call->op, "kill") == 0 ? call->arg : 0;
	stops = strcmp(call->op, "stop") == 0 ||
	    (strcmp(call->op, "kill") == 0 &&
		(call->arg == SIGKILL || call->arg == SIGTERM));
	fw_complete(fw, call, 0, NULL);
	/* This cloud's stop and kill end the workload at once. */
	if (stops && !c->gone && container_running(c))
		backend_container_exited(fw->b, c,
		    128 + (call_sig == 0 ? SIGTERM : call_sig), str_now_ns(),
		    NULL);
	container_unref(c);
}

static void
fake_capabilities(struct backend *b, struct caps *c)
{
	(void)b;
	memcpy(c->flag, fake_caps, sizeof(c->flag));
	for (int i = 0; i < CAP__COUNT; i++)
		if (fake_caps_why[i] != NULL)
			str_lcpy(
			    c->why[i], fake_caps_why[i], sizeof(c->why[i]));
}

static int
fake_init(struct backend *b, struct err *e)
{
	(void)b;
	(void)e;
	return 0;
}

static void
fake_reconcile(struct backend *b)
{
	(void)b;
	if (fw_cur != NULL)
		fw_cur->reconciled = 1;
}

static void
fake_info(struct backend *b, cJSON *info)
{
	(void)b;
	json_add_str(info, "FakeNote", "from ops->info");
}

static void
fake_create(
    struct backend *b, struct container *c, backend_done_fn done, void *arg)
{
	fake_record(b, c, "create", 0, done, arg);
}

static void
fake_start(
    struct backend *b, struct container *c, backend_done_fn done, void *arg)
{
	fake_record(b, c, "start", 0, done, arg);
}

static void
fake_kill(struct backend *b, struct container *c, int signo,
    backend_done_fn done, void *arg)
{
	fake_record(b, c, "kill", signo, done, arg);
}

static void
fake_stop(struct backend *b, struct container *c, int timeout_s,
    backend_done_fn done, void *arg)
{
	if (fake_stop_kit) {
		kit_stop_through_agent(b, c, timeout_s, fake_kill, done, arg);
		return;
	}
	fake_record(b, c, "stop", timeout_s, done, arg);
}

static void
fake_remove(
    struct backend *b, struct container *c, backend_done_fn done, void *arg)
{
	fake_record(b, c, "remove", 0, done, arg);
}

/* The workload ends after its output was read (exit_on_fetch). */
static void
fake_exit_later(evutil_socket_t fd, short ev, void *arg)
{
	struct container *c = arg;

	(void)fd;
	(void)ev;
	if (!c->gone && container_running(c))
		backend_container_exited(fw_cur->b, c, 0, str_now_ns(), NULL);
	container_unref(c);
}

/* Every line of fw->logs at once, one second apart from the start. */
static void
fake_logs_fetch(struct backend *b, struct container *c, const char *cursor,
    int64_t since_ns, backend_logs_fn fn, void *arg)
{
	struct fw *fw = fw_cur;
	struct backend_log_event *ev;
	const cJSON *it;
	struct err e;
	size_t n = 0;

	(void)since_ns;
	if (fw->no_logs || fw->logs_503 > 0) {
		if (fw->logs_503 > 0)
			fw->logs_503--;
		err_set(&e, fw->no_logs ? 500 : 503, "the log service failed");
		fn(arg, NULL, 0, NULL, 1, &e);
		return;
	}
	if (fw->exit_on_fetch && container_running(c)) {
		struct timeval now = { 0, 0 };
		container_ref(c);
		event_base_once(
		    backend_base(b), -1, EV_TIMEOUT, fake_exit_later, c, &now);
	}
	ev = xcalloc((size_t)cJSON_GetArraySize(fw->logs) + 1, sizeof(*ev));
	if (cursor == NULL) {
		cJSON_ArrayForEach(it, fw->logs) {
			ev[n].ts_ns =
			    1700000000000000000LL + (int64_t)n * 1000000000LL;
			ev[n].stream =
			    n % 2 == 0 ? STDSTREAM_STDOUT : STDSTREAM_STDERR;
			ev[n].msg = it->valuestring;
			ev[n].len = strlen(it->valuestring);
			n++;
		}
	}
	/* Nothing new after the first fetch: the cursor it was given comes
	 * back as it is (the same pointer, as ECS's for a task that never
	 * ran), which the framework must copy before freeing its own. */
	fn(arg, ev, n, cursor != NULL ? cursor : "end", 1, NULL);
	free(ev);
}

/* The network operations record their call like the others; the network
 * is in call->net. */
static void
fake_net_record(struct container *c, struct network *n, const char *op,
    backend_done_fn done, void *arg)
{
	struct fake_call *call;

	fake_record(fw_cur->b, c, op, 0, done, arg);
	call = TAILQ_LAST(&fw_cur->pending, fake_calls);
	str_lcpy(call->net, n->id, sizeof(call->net));
}

static void
fake_net_create(
    struct backend *b, struct network *n, backend_done_fn done, void *arg)
{
	(void)b;
	/* What a cloud would keep: the test checks it is persisted. */
	json_set(network_private(n), "Group", cJSON_CreateString("sg-fake"));
	backend_network_save(b, n);
	fake_net_record(NULL, n, "net_create", done, arg);
}

static void
fake_net_remove(
    struct backend *b, struct network *n, backend_done_fn done, void *arg)
{
	(void)b;
	fake_net_record(NULL, n, "net_remove", done, arg);
}

static void
fake_net_connect(struct backend *b, struct container *c, struct network *n,
    backend_done_fn done, void *arg)
{
	(void)b;
	fake_net_record(c, n, "net_connect", done, arg);
}

static void
fake_net_disconnect(struct backend *b, struct container *c, struct network *n,
    backend_done_fn done, void *arg)
{
	(void)b;
	fake_net_record(c, n, "net_disconnect", done, arg);
}

/* The volume operations record their call; the volume's name is in
 * call->vol. What a cloud keeps goes into the private object. */
static void
fake_vol_record(
    struct volume *v, const char *op, backend_done_fn done, void *arg)
{
	struct fake_call *call;

	fake_record(fw_cur->b, NULL, op, 0, done, arg);
	call = TAILQ_LAST(&fw_cur->pending, fake_calls);
	str_lcpy(call->vol, volume_name(v), sizeof(call->vol));
}

static void
fake_vol_create(
    struct backend *b, struct volume *v, backend_done_fn done, void *arg)
{
	char ap[300];

	snprintf(ap, sizeof(ap), "fsap-%s", volume_name(v));
	json_set(volume_private(v), "AccessPoint", cJSON_CreateString(ap));
	backend_volume_save(b, v);
	fake_vol_record(v, "vol_create", done, arg);
}

static void
fake_vol_remove(
    struct backend *b, struct volume *v, backend_done_fn done, void *arg)
{
	(void)b;
	fake_vol_record(v, "vol_remove", done, arg);
}

/* The four tables differ only in what follows FAKE_OPS_BASE. */
#define FAKE_OPS_BASE                                                          \
	.name = "fake", .description = "the framework's unit-test backend",    \
	.capabilities = fake_capabilities, .init = fake_init,                  \
	.reconcile = fake_reconcile, .info = fake_info, .create = fake_create, \
	.start = fake_start, .stop = fake_stop, .kill = fake_kill,             \
	.remove = fake_remove, .logs_fetch = fake_logs_fetch,                  \
	.vol_create = fake_vol_create, .vol_remove = fake_vol_remove
#define FAKE_OPS_NET                                                  \
	.net_create = fake_net_create, .net_remove = fake_net_remove, \
	.net_connect = fake_net_connect, .net_disconnect = fake_net_disconnect

static const struct backend_ops fake_net_ops_tbl = {
	FAKE_OPS_BASE,
	.reach = BACKEND_REACH_DIRECT,
	FAKE_OPS_NET,
};

/* The net operations and an agent address, for agents the test serves
 * itself (t_fw_net_push.c). */
static const struct backend_ops fake_recorder_ops = {
	FAKE_OPS_BASE,
	.agent_address = fake_agent_address,
	.reach = BACKEND_REACH_DIRECT,
	FAKE_OPS_NET,
};

static const struct backend_ops fake_ops = { FAKE_OPS_BASE };

static const struct backend_ops fake_agent_ops = {
	FAKE_OPS_BASE,
	.agent_address = fake_agent_address,
	/* The agents' relay (backend_port_relay.c) serves RELAY backends. */
	.reach = BACKEND_REACH_RELAY,
};

/* Reverse mode: the agents call back (agent_callback_listen). */
static const struct backend_ops fake_reverse_ops = {
	FAKE_OPS_BASE,
	.agent_reverse = 1,
	.reach = BACKEND_REACH_RELAY,
};

int
fake_main(int argc, char **argv)
{
	return backend_main(argc, argv, &fake_ops);
}

/* --- the backend's life ------------------------------------------------ */

static struct fw *
fw_open(const char *dir, int callback_port)
{
	struct fw *fw = xcalloc(1, sizeof(*fw));
	char prog[] = "t_fw", level[] = "--log_level=error";
	char sockarg[200], statearg[200], cbarg[80], toarg[80];
	char *argv[] = { prog, sockarg, statearg, level, cbarg, toarg, NULL };
	const struct backend_ops *ops;
	int exit_code = 0, argc = 4;

	str_lcpy(fw->dir, dir, sizeof(fw->dir));
	/* Every agent-mode suite in reverse mode, for a look at the whole
	 * agent surface over reverse links (tests/run.sh does not set it;
	 * t_fw_ports_relay's scripted agent only listens, so it needs
	 * forward mode). */
	if (getenv("SK_FAKE_AGENT_REVERSE") != NULL)
		fake_agent_reverse = 1;
	if (fake_agent_mode && fake_agent_reverse) {
		fw->callback_port =
		    callback_port != 0 ? callback_port : fake_callback_port();
		snprintf(cbarg, sizeof(cbarg),
		    "--agent_callback_listen=127.0.0.1:%d", fw->callback_port);
		snprintf(toarg, sizeof(toarg), "--agent_callback_timeout=%d",
		    fake_callback_timeout > 0 ? fake_callback_timeout : 120);
		argc = 6;
	} else {
		argv[4] = NULL;
	}
	snprintf(fw->sock, sizeof(fw->sock), "%s/b.sock", dir);
	snprintf(sockarg, sizeof(sockarg), "--socket=%s", fw->sock);
	snprintf(statearg, sizeof(statearg), "--state_dir=%s/state", dir);
	TAILQ_INIT(&fw->pending);
	fw->logs = cJSON_CreateArray();
	fw_cur = fw;
	ops = fake_agent_mode && fake_agent_reverse ? &fake_reverse_ops :
	    fake_agent_mode			    ? &fake_agent_ops :
	    fake_recorder_mode			    ? &fake_recorder_ops :
	    fake_net_ops			    ? &fake_net_ops_tbl :
						      &fake_ops;
	if ((fw->b = backend_new(ops, argc, argv, &exit_code)) == NULL) {
		fprintf(stderr, "backend_new: exit %d\n", exit_code);
		abort();
	}
	fw->cli = httpcli_new(backend_base(fw->b));
	if (fake_agent_mode)
		fake_agent_begin(fw);
	backend_start(fw->b);
	return fw;
}

struct fw *
fw_new(void)
{
	char dir[] = "/tmp/skfw-XXXXXX";

	if (mkdtemp(dir) == NULL)
		abort();
	return fw_open(dir, 0);
}

struct fw *
fw_reopen(struct fw *old)
{
	char dir[64];
	int port = old->callback_port;

	str_lcpy(dir, old->dir, sizeof(dir));
	free(old);
	return fw_open(dir, port);
}

static int fw_rm(
    const char *path, const struct stat *st, int flag, struct FTW *ftw);

int
fw_try_reverse(const char *const *args, char *err, size_t errsz)
{
	char dir[] = "/tmp/skfw-XXXXXX", sockarg[200], statearg[200];
	char *argv[16] = { (char *)"t_fw", sockarg, statearg };
	int argc = 3, exit_code = -1, saved = dup(2), fd;
	char path[100];
	struct backend *b;
	ssize_t n;

	if (mkdtemp(dir) == NULL || saved == -1)
		abort();
	snprintf(sockarg, sizeof(sockarg), "--socket=%s/b.sock", dir);
	snprintf(statearg, sizeof(statearg), "--state_dir=%s/state", dir);
	for (; *args != NULL && argc < 15; args++)
		argv[argc++] = (char *)*args;
	argv[argc] = NULL;
	snprintf(path, sizeof(path), "%s/stderr", dir);
	if ((fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600)) == -1)
		abort();
	dup2(fd, 2);
	b = backend_new(&fake_reverse_ops, argc, argv, &exit_code);
	if (b != NULL) {
		exit_code = -1;
		backend_free(b);
	}
	dup2(saved, 2);
	close(saved);
	n = pread(fd, err, errsz - 1, 0);
	err[n > 0 ? n : 0] = '\0';
	close(fd);
	nftw(dir, fw_rm, 8, FTW_DEPTH | FTW_PHYS);
	return exit_code;
}

static int
fw_rm(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

/* Ends the operations still pending (a backend going away answers its
 * clients), then the backend. With keep, the struct stays for
 * fw_reopen. */
static void
fw_close(struct fw *fw)
{
	struct fake_call *call;

	while ((call = TAILQ_FIRST(&fw->pending)) != NULL)
		fw_complete(fw, call, 500, "the test ended");
	fw_settle(fw);
	fake_agent_end(fw->keep_agents);
	httpcli_free(fw->cli);
	backend_free(fw->b);
	cJSON_Delete(fw->logs);
	fw->b = NULL;
	fw_cur = NULL;
}

void
fw_free(struct fw *fw, int keep)
{
	fw_close(fw);
	if (keep)
		return;
	nftw(fw->dir, fw_rm, 8, FTW_DEPTH | FTW_PHYS);
	free(fw);
}

/* --- the loop ----------------------------------------------------------- */

void
fw_expired(evutil_socket_t fd, short ev, void *arg)
{
	(void)fd;
	(void)ev;
	*(int *)arg = 1;
}

/* Wakes the loop of fw_run_until_fn so that a condition no event of the
 * loop drives (a file a workload writes) is looked at again. */
static void
fw_tick(evutil_socket_t fd, short ev, void *arg)
{
	(void)fd;
	(void)ev;
	(void)arg;
}

int
fw_run_until_fn(struct fw *fw, int (*fn)(struct fw *fw, void *arg), void *arg)
{
	struct event_base *base = backend_base(fw->b);
	struct timeval tv = { FW_BOUND_S, 0 }, tick = { 0, 20000 };
	int expired = 0;
	struct event *t = evtimer_new(base, fw_expired, &expired);
	struct event *k = event_new(base, -1, EV_PERSIST, fw_tick, NULL);

	evtimer_add(t, &tv);
	evtimer_add(k, &tick);
	while (!fn(fw, arg) && !expired)
		event_base_loop(base, EVLOOP_ONCE);
	event_free(k);
	event_free(t);
	return fn(fw, arg);
}

static int
fw_flag_set(struct fw *fw, void *arg)
{
	(void)fw;
	return *(const int *)arg;
}

int
fw_run_until(struct fw *fw, const int *flag)
{
	return fw_run_until_fn(fw, fw_flag_set, (void *)(uintptr_t)flag);
}

void
fw_run_for(struct fw *fw, int ms)
{
	struct event_base *base = backend_base(fw->b);
	struct timeval tv = { ms / 1000, (ms % 1000) * 1000 };
	int expired = 0;
	struct event *t = evtimer_new(base, fw_expired, &expired);

	evtimer_add(t, &tv);
	while (!expired)
		event_base_loop(base, EVLOOP_ONCE);
	event_free(t);
}

void
fw_settle(struct fw *fw)
{
	for (int i = 0; i < 50; i++)
		event_base_loop(backend_base(fw->b), EVLOOP_NONBLOCK);
}

/* --- the client --------------------------------------------------------- */

static void
fw_got(struct httpcli_resp *hr, void *arg)
{
	struct fw_resp *r = arg;

	r->status = hr->status;
	/* Log streams are binary: keep every byte, NUL-terminated. */
	r->len = hr->body != NULL ? hr->body_len : 0;
	r->body = xmalloc(r->len + 1);
	if (r->len > 0)
		memcpy(r->body, hr->body, r->len);
	r->body[r->len] = '\0';
	r->json = cJSON_Parse(r->body);
	r->done = 1;
}

struct fw_resp *
fw_send(struct fw *fw, const char *method, const char *path, const char *body)
{
	return fw_send_body(
	    fw, method, path, body, body != NULL ? strlen(body) : 0);
}

struct fw_resp *
fw_send_body(struct fw *fw, const char *method, const char *path,
    const char *body, size_t len)
{
	struct fw_resp *r = xcalloc(1, sizeof(*r));
	char *url = xasprintf("http://localhost/internal/v1%s", path);
	struct httpcli_req *req = httpcli_req_new(method, url);

	free(url);
	httpcli_req_unix_socket(req, fw->sock);
	httpcli_req_attempts(req, 1);
	if (body != NULL) {
		httpcli_req_header(req, "Content-Type", "application/json");
		httpcli_req_body(req, body, len);
	}
	httpcli_send(fw->cli, req, fw_got, r);
	return r;
}

struct fw_resp *
fw_await(struct fw *fw, struct fw_resp *r)
{
	if (!fw_run_until(fw, &r->done)) {
		fprintf(stderr, "no answer within %d s\n", FW_BOUND_S);
		abort();
	}
	return r;
}

struct fw_resp *
fw_req(struct fw *fw, const char *method, const char *path, const char *body)
{
	return fw_await(fw, fw_send(fw, method, path, body));
}

void
fw_resp_free(struct fw_resp *r)
{
	if (r == NULL)
		return;
	free(r->body);
	cJSON_Delete(r->json);
	free(r);
}

const char *
fw_msg(const struct fw_resp *r)
{
	const char *m = json_str(r->json, "message");

	return m != NULL ? m : "";
}

/* --- images -------------------------------------------------------------- */

const char *
fw_add_image(struct fw *fw, const char *ref, const char *cmd)
{
	static char id[80];
	static unsigned n;
	char *doc;
	struct err e;

	n++;
	snprintf(id, sizeof(id), "sha256:%064x", n);
	doc = xasprintf(
	    "{\"Id\":\"%s\",\"RepoTags\":[],\"RepoDigests\":[],"
	    "\"Created\":\"2024-01-02T03:04:05Z\",\"Os\":\"linux\","
	    "\"Architecture\":\"amd64\",\"Size\":1234,"
	    "\"Config\":{\"Cmd\":[\"%s\"],\"Env\":[\"PATH=/usr/bin\"],"
	    "\"Labels\":{\"from\":\"image\"}},"
	    "\"RootFS\":{\"Type\":\"layers\",\"Layers\":[]},"
	    "\"Sockerless\":{\"History\":[{\"created_by\":\"CMD sh\"}],"
	    "\"LayerSizes\":[],\"Layers\":{\"sha256:aa\":1000}}}",
	    id, cmd);
	if (store_image_put(fw->b->store, id, doc, &e) == -1 ||
	    store_image_ref_set(fw->b->store, ref, id, &e) == -1) {
		fprintf(stderr, "storing an image: %s\n", e.msg);
		abort();
	}
	free(doc);
	return id;
}

/* --- calls ---------------------------------------------------------------- */

static struct fake_call *
fw_first(struct fw *fw, const char *op)
{
	struct fake_call *call;

	TAILQ_FOREACH(call, &fw->pending, entry) {
		if (strcmp(call->op, op) == 0)
			return call;
	}
	return NULL;
}

static int
fw_has_call(struct fw *fw, void *arg)
{
	return fw_first(fw, arg) != NULL;
}

struct fake_call *
fw_wait_call(struct fw *fw, const char *op)
{
	fw_run_until_fn(fw, fw_has_call, (void *)(uintptr_t)op);
	return fw_first(fw, op);
}

void
fw_complete(struct fw *fw, struct fake_call *call, int status, const char *msg)
{
	struct err e;

	TAILQ_REMOVE(&fw->pending, call, entry);
	if (status != 0)
		err_set(&e, status, "%s", msg);
	call->done(call->done_arg, status != 0 ? &e : NULL);
	if (call->c != NULL)
		container_unref(call->c);
	free(call);
}

void
fw_complete_next(struct fw *fw, const char *op, int status, const char *msg)
{
	struct fake_call *call = fw_wait_call(fw, op);

	if (call == NULL) {
		fprintf(stderr, "no %s call within %d s\n", op, FW_BOUND_S);
		abort();
	}
	fw_complete(fw, call, status, msg);
}

int
fw_pending(struct fw *fw, const char *op)
{
	struct fake_call *call;
	int n = 0;

	TAILQ_FOREACH(call, &fw->pending, entry) {
		if (strcmp(call->op, op) == 0)
			n++;
	}
	return n;
}

int
fw_count(struct fw *fw, const char *op)
{
	return fw->count[fake_op_index(op)];
}

/* --- helpers -------------------------------------------------------------- */

char *
fw_create(struct fw *fw, const char *name, const char *image, const char *extra)
{
	char *path, *body;
	struct fw_resp *r;
	char *id;
	int autoc = fw->autocomplete;

	path = name != NULL ? xasprintf("/containers/create?name=%s", name) :
			      xstrdup("/containers/create");
	body = xasprintf("{\"Image\":\"%s\"%s%s}", image,
	    extra != NULL ? "," : "", extra != NULL ? extra : "");
	fw->autocomplete = 1;
	r = fw_req(fw, "POST", path, body);
	fw->autocomplete = autoc;
	if (r->status != 201) {
		fprintf(stderr, "create: %d %s\n", r->status, r->body);
		abort();
	}
	id = xstrdup(json_str(r->json, "Id"));
	fw_resp_free(r);
	free(path);
	free(body);
	return id;
}

void
fw_start(struct fw *fw, const char *id)
{
	char *path = xasprintf("/containers/%s/start", id);
	int autoc = fw->autocomplete;
	struct fw_resp *r;

	fw->autocomplete = 1;
	r = fw_req(fw, "POST", path, NULL);
	fw->autocomplete = autoc;
	if (r->status != 204) {
		fprintf(stderr, "start: %d %s\n", r->status, r->body);
		abort();
	}
	fw_resp_free(r);
	free(path);
}

struct fw_find {
	const char *id;
	struct container *c;
};

static void
fw_find_one(struct backend *b, struct container *c, void *arg)
{
	struct fw_find *f = arg;

	(void)b;
	if (str_prefix(c->id, f->id))
		f->c = c;
}

struct container *
fw_find(struct fw *fw, const char *id)
{
	struct fw_find f = { id, NULL };

	backend_container_foreach(fw->b, fw_find_one, &f);
	return f.c;
}

void
fw_exit(struct fw *fw, const char *id, int code)
{
	struct container *c = fw_find(fw, id);

	if (c == NULL)
		abort();
	backend_container_exited(fw->b, c, code, str_now_ns(), NULL);
}

cJSON *
fw_inspect(struct fw *fw, const char *id)
{
	char *path = xasprintf("/containers/%s/json", id);
	struct fw_resp *r = fw_req(fw, "GET", path, NULL);
	cJSON *o = NULL;

	free(path);
	if (r->status == 200) {
		o = r->json;
		r->json = NULL;
	}
	fw_resp_free(r);
	return o;
}

const char *
fw_status(struct fw *fw, const char *id)
{
	static char st[32];
	cJSON *o = fw_inspect(fw, id);

	str_lcpy(st, o != NULL ? json_str(json_obj(o, "State"), "Status") : "",
	    sizeof(st));
	cJSON_Delete(o);
	return st;
}

char *
fw_urlenc(const char *s)
{
	char *out = xmalloc(strlen(s) * 3 + 1), *p = out;

	for (; *s != '\0'; s++) {
		unsigned char ch = (unsigned char)*s;
		if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		    (ch >= '0' && ch <= '9') || strchr("-_.~", ch) != NULL)
			*p++ = (char)ch;
		else
			p += sprintf(p, "%%%02X", ch);
	}
	*p = '\0';
	return out;
}

struct fw_resp *
fw_expect(struct fw *fw, const char *method, const char *path, int status)
{
	struct fw_resp *r = fw_req(fw, method, path, NULL);

	if (r->status != status)
		fprintf(
		    stderr, "%s %s: %d %s\n", method, path, r->status, r->body);
	assert_int_equal(r->status, status);
	return r;
}

void
fw_expect_free(struct fw *fw, const char *method, const char *path, int status)
{
	fw_resp_free(fw_expect(fw, method, path, status));
}
