/* Docker containers as runs on a function backend's pool (kit_faas.h):
 * create derives the image (the agent as an HTTP runtime), start takes a
 * function pointed at it and POSTs the run to its URL with the backend's
 * credentials, the answer (the agent's envelope) is the exit status and
 * the output. An HTTP request cannot be signalled: stop and kill let the
 * container go (it is reported exited) while the run goes on to its end. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>

#include "sockerless/container.h"
#include "sockerless/httpcli.h"
#include "sockerless/json.h"
#include "sockerless/kit_faas.h"
#include "sockerless/log.h"
#include "sockerless/reg.h"
#include "sockerless/str.h"
#include "sockerless/xmalloc.h"

/* Past the run's own timeout, the answer may take this long to come. */
#define KIT_FAAS_ANSWER_GRACE_S 60
/* The most of an error answer shown in the wait error. */
#define KIT_FAAS_ANSWER_SHOWN 300
/* A function that answers 429 ran nothing (the agent, or the cloud
 * without a free instance): the run goes to another one this often. */
#define KIT_FAAS_BUSY_RETRIES 3
/* ... and the busy one rests this long before it is tried again. */
#define KIT_FAAS_BUSY_QUIET_S 60

static const struct kit_faas *kf;

struct kit_faas_op {
	struct kit_op k;
};

/* The run in flight of a started container (c->backend_data). */
struct kit_faas_inv {
	struct backend *b;
	struct container *c;
	struct kit_slot *slot;
	uint64_t token_call, http_call;
	int run;
	long long timeout_s, mib;
	char *image;
	int retries;		   /* runs a busy function turned away */
	int abandoned;		   /* removed while a retry takes a function */
	struct kit_faas_op *start; /* until the first request is sent */
	int let_go;		   /* on kit_faas_gone: its container removed */
	TAILQ_ENTRY(kit_faas_inv) entry;
};

/* Runs whose containers were removed while they were in flight: each
 * holds its function until its answer comes (freed at shutdown). */
static TAILQ_HEAD(, kit_faas_inv) kit_faas_gone = TAILQ_HEAD_INITIALIZER(
    kit_faas_gone);

void
kit_faas_init(const struct kit_faas *f)
{
	kf = f;
}

/* --- what a run needs ----------------------------------------------------- */

static int
kit_faas_memory(const cJSON *hc, long long *mib, struct err *e)
{
	return kit_memory_mib(
	    hc, kf->memory, kf->min_memory, kf->max_memory, kf->cloud, mib, e);
}

char *
kit_faas_request(struct container *c, int run, long long timeout_s)
{
	const cJSON *cfg = container_config(c), *it;
	cJSON *o = cJSON_CreateObject(), *argv = cJSON_CreateArray();
	const char *wd = json_str(cfg, "WorkingDir");
	const char *user = json_str(cfg, "User");
	char rid[64];
	char *s;

	json_add_int(o, "sockerless", 1);
	json_add_str(o, "container", c->id);
	snprintf(rid, sizeof(rid), "%.12s-%d", c->id, run);
	json_add_str(o, "request", rid);
	cJSON_AddItemToArray(
	    argv, cJSON_CreateString(json_str(container_doc(c), "Path")));
	cJSON_ArrayForEach(it, json_arr(container_doc(c), "Args")) {
		cJSON_AddItemToArray(argv, cJSON_Duplicate(it, 1));
	}
	cJSON_AddItemToObject(o, "argv", argv);
	cJSON_AddItemToObject(o, "env",
	    json_arr(cfg, "Env") != NULL ?
		cJSON_Duplicate(json_arr(cfg, "Env"), 1) :
		cJSON_CreateArray());
	if (wd != NULL && wd[0] == '/')
		json_add_str(o, "workdir", wd);
	if (user != NULL && user[0] != '\0')
		json_add_str(o, "user", user);
	json_add_int(o, "timeoutMs", timeout_s * 1000);
	s = json_print(o);
	cJSON_Delete(o);
	return s;
}

/* --- the envelope --------------------------------------------------------- */

static void
kit_faas_record(const cJSON *rec, struct kit_lines *l)
{
	const cJSON *st = cJSON_GetArrayItem(rec, 0);
	const cJSON *ts = cJSON_GetArrayItem(rec, 1);
	const cJSON *d = cJSON_GetArrayItem(rec, 2);
	int64_t us;
	size_t n;
	char *bytes;

	if (!cJSON_IsNumber(st) || !cJSON_IsNumber(ts) || !cJSON_IsString(d) ||
	    (st->valueint != 1 && st->valueint != 2) ||
	    json_num_int(ts->valuedouble, &us) == -1 ||
	    (bytes = str_base64_decode(d->valuestring, &n)) == NULL)
		return;
	kit_lines_add(l, st->valueint, us, bytes, n);
	free(bytes);
}

int
kit_faas_decode(const char *body, size_t len, const char *be,
    const char *logs_where, long long timeout_s, struct kit_lines *l,
    char **why)
{
	cJSON *env = len > 0 ? cJSON_ParseWithLength(body, len) : NULL;
	const cJSON *rec, *code;
	int64_t v = 125;

	*why = NULL;
	code = cJSON_GetObjectItemCaseSensitive(env, "exitCode");
	if (!cJSON_IsObject(env) || json_int(env, "sockerless", 0) != 1 ||
	    !cJSON_IsNumber(code) ||
	    json_num_int(code->valuedouble, &v) == -1 || v < 0 || v > 255) {
		*why = xasprintf("the function answered without the agent's "
				 "envelope: %.*s",
		    (int)(len > KIT_FAAS_ANSWER_SHOWN ? KIT_FAAS_ANSWER_SHOWN :
							len),
		    body != NULL ? body : "");
		cJSON_Delete(env);
		return 125;
	}
	cJSON_ArrayForEach(rec, json_arr(env, "output")) {
		kit_faas_record(rec, l);
	}
	kit_lines_flush(l);
	if (json_bool(env, "outputTruncated", 0))
		kit_lines_note(l,
		    "sockerless: the output was larger than an answer may be; "
		    "all of it is in %s",
		    logs_where);
	if (json_bool(env, "timedOut", 0))
		kit_lines_note(l,
		    "sockerless: the time limit (%lld s, %s.timeout) ended the "
		    "container",
		    timeout_s, be);
	cJSON_Delete(env);
	return (int)v;
}

static int
kit_faas_envelope(struct backend *b, struct container *c, const char *body,
    size_t len, char **why)
{
	struct kit_lines l;
	int code;

	kit_lines_init(&l);
	code = kit_faas_decode(
	    body, len, kf->be, kf->logs_where, kf->timeout, &l, why);
	/* In the container's own state: a docker run --rm reads it after
	 * the container is gone. */
	kit_lines_keep(&l, b, c);
	return code;
}

/* --- create: the derived image -------------------------------------------- */

static void
kit_faas_derived(void *arg, const char *dst_ref, const struct err *e)
{
	struct kit_faas_op *op = arg;
	struct err e2;

	if (e != NULL) {
		e2 = *e;
		err_wrap(&e2, "preparing the image for %s", kf->cloud);
		kit_op_end(&op->k, &e2);
		return;
	}
	json_set(container_private(op->k.c), KIT_FAAS_P_IMAGE,
	    cJSON_CreateString(dst_ref));
	backend_container_save(op->k.b, op->k.c);
	kit_op_end(&op->k, NULL);
}

/* The same source image and agent give the same tag: the push happens
 * once per image version, and every container of it shares functions. */
static char *
kit_faas_derived_ref(const char *src)
{
	char hex[41], *s;

	s = xasprintf("%s\n%s", src, kf->layer->digest);
	kit_hash(s, hex, 40);
	free(s);
	return xasprintf("%s/derived:sockerless-%s", kf->repository, hex);
}

void
kit_faas_create(
    struct backend *b, struct container *c, backend_done_fn done, void *arg)
{
	struct kit_faas_op *op = kit_op_new(sizeof(*op), b, c, done, arg);
	const cJSON *hc = container_host_config(c);
	struct reg_derive_opts o;
	struct strv ep, none;
	long long mib;
	struct err e;
	char *dst, *history;

	if (kit_fixed_sandbox(hc, kf->be, kf->sandbox, &e) == -1 ||
	    kit_faas_memory(hc, &mib, &e) == -1) {
		kit_op_end(&op->k, &e);
		return;
	}
	strv_init(&ep);
	strv_init(&none);
	strv_add(&ep, kf->agent_in_image);
	strv_add(&ep, "--");
	memset(&o, 0, sizeof(o));
	o.entrypoint = &ep;
	o.cmd = &none;
	history = xasprintf(
	    "sockerless: add %s as the HTTP runtime", kf->agent_in_image);
	o.history = history;
	dst = kit_faas_derived_ref(container_image_ref(c));
	if (reg_derive(backend_registry(b), container_image_ref(c), NULL, dst,
		kf->layer, &o, kit_faas_derived, op, &e) == -1)
		kit_op_end(&op->k, &e);
	free(dst);
	free(history);
	strv_free(&ep);
	strv_free(&none);
}

/* --- start: take a function, POST the run --------------------------------- */

static void
kit_faas_inv_free(struct kit_faas_inv *inv)
{
	if (inv->let_go)
		TAILQ_REMOVE(&kit_faas_gone, inv, entry);
	container_unref(inv->c);
	free(inv->image);
	free(inv);
}

static void kit_faas_slot(void *arg, struct kit_slot *s, const struct err *e);

/* The run is over (answered, failed or forgotten): its function goes
 * back; quiet_s keeps it out of use while an abandoned run may still
 * occupy it. */
static void
kit_faas_inv_end(struct kit_faas_inv *inv, long long quiet_s)
{
	if (inv->c->backend_data == inv)
		inv->c->backend_data = NULL;
	if (inv->slot != NULL)
		kit_pool_give(inv->slot, quiet_s);
	kit_faas_inv_free(inv);
}

static void
kit_faas_answered(struct httpcli_resp *resp, void *arg)
{
	struct kit_faas_inv *inv = arg;
	struct container *c = inv->c;
	struct backend *b = inv->b;
	int code, same_run, current;
	char *error = NULL;
	long long quiet = 0;

	/* Detached first: the exit below may remove the container (run
	 * --rm), whose remove must not end this run a second time. */
	if (c->backend_data == inv)
		c->backend_data = NULL;
	same_run = !c->gone &&
	    json_int(container_private(c), KIT_FAAS_P_RUN, 0) == inv->run;
	current = same_run && container_running(c);
	if (resp->status == 429 && current &&
	    inv->retries < KIT_FAAS_BUSY_RETRIES) {
		/* Still busy with an abandoned run: kept out of use a while,
		 * and the run goes to another function. */
		log_warnx("container %.12s: %s %s is busy; taking another",
		    c->id, kf->what, kit_slot_name(inv->slot));
		inv->retries++;
		kit_pool_give(inv->slot, KIT_FAAS_BUSY_QUIET_S);
		inv->slot = NULL;
		inv->http_call = 0;
		c->backend_data = inv;
		kit_pool_take(
		    inv->image, inv->mib, inv->timeout_s, kit_faas_slot, inv);
		return;
	}
	if (resp->status == 200 && same_run) {
		code =
		    kit_faas_envelope(b, c, resp->body, resp->body_len, &error);
	} else if (resp->status == 200) {
		code = 0;
	} else {
		code = 125;
		if (resp->status == 0) {
			error = xasprintf(
			    "lost the connection to %s %s during the run (%s); "
			    "its exit status is unknown, its output is in %s",
			    kf->what, kit_slot_name(inv->slot), resp->error,
			    kf->logs_where);
			quiet = inv->timeout_s;
		} else {
			error = xasprintf("%s %s answered HTTP %d: %.*s",
			    kf->what, kit_slot_name(inv->slot), resp->status,
			    (int)(resp->body_len > KIT_FAAS_ANSWER_SHOWN ?
				    KIT_FAAS_ANSWER_SHOWN :
				    resp->body_len),
			    resp->body != NULL ? resp->body : "");
		}
	}
	if (current)
		backend_container_exited(b, c, code, str_now_ns(), error);
	else
		log_info("container %.12s%s: a run it no longer waits for "
			 "ended (HTTP %d); %s %s is free again",
		    c->id, c->gone ? " (removed)" : "", resp->status, kf->what,
		    kit_slot_name(inv->slot));
	if (resp->status == 429)
		quiet = KIT_FAAS_BUSY_QUIET_S; /* busy with another run */
	free(error);
	kit_faas_inv_end(inv, quiet);
}

static void
kit_faas_send(struct kit_faas_inv *inv, const char *token)
{
	struct httpcli_req *r;
	char *auth, *body;

	body = kit_faas_request(inv->c, inv->run, inv->timeout_s);
	r = httpcli_req_new("POST", kit_slot_url(inv->slot));
	if (token != NULL) {
		auth = xasprintf("Bearer %s", token);
		httpcli_req_header(r, "Authorization", auth);
		free(auth);
	}
	if (kf->headers != NULL)
		kf->headers(inv->slot, r);
	httpcli_req_header(r, "Content-Type", "application/json");
	httpcli_req_body(r, body, strlen(body));
	free(body);
	/* The answer comes when the run ends: wait past its timeout, and
	 * never repeat a run. */
	httpcli_req_timeouts(r,
	    (inv->timeout_s + KIT_FAAS_ANSWER_GRACE_S) * 1000,
	    (inv->timeout_s + KIT_FAAS_ANSWER_GRACE_S) * 1000);
	httpcli_req_attempts(r, 1);
	httpcli_req_max_response(r, 16u << 20);
	inv->http_call =
	    httpcli_send(backend_httpcli(inv->b), r, kit_faas_answered, inv);
}

/* A run that could not be sent: the start fails, or a retried run (the
 * container already running) exits 125 with the reason. */
static void
kit_faas_unsent(
    struct kit_faas_inv *inv, struct kit_faas_op *op, const struct err *e)
{
	struct container *c = inv->c;
	struct backend *b = inv->b;
	int current = inv->start == NULL && op == NULL &&
	    container_running(c) && c->backend_data == inv;
	char *what;

	container_ref(c);
	kit_faas_inv_end(inv, 0);
	if (op != NULL) {
		what = xasprintf("starting the run on %s", kf->cloud);
		kit_op_fail(&op->k, e, what);
		free(what);
	} else if (current) {
		backend_container_exited(b, c, 125, str_now_ns(), e->msg);
	}
	container_unref(c);
}

/* The credentials are there: the run goes. */
static void
kit_faas_go(struct kit_faas_inv *inv, const char *token)
{
	struct kit_faas_op *op = inv->start;

	inv->start = NULL;
	json_set(container_private(inv->c), KIT_FAAS_P_SLOT,
	    cJSON_CreateString(kit_slot_name(inv->slot)));
	backend_container_save(inv->b, inv->c);
	kit_faas_send(inv, token);
	if (op != NULL) {
		backend_container_started(inv->b, inv->c, str_now_ns());
		kit_op_end(&op->k, NULL);
	}
}

static void
kit_faas_token(void *arg, const char *token, const struct err *e)
{
	struct kit_faas_inv *inv = arg;
	struct kit_faas_op *op = inv->start;
	struct err e2;

	inv->token_call = 0;
	if (inv->abandoned) {
		kit_faas_inv_end(inv, 0);
		return;
	}
	if (e != NULL) {
		inv->start = NULL;
		e2 = *e;
		err_wrap(&e2, "a token for %s %s", kf->what,
		    kit_slot_name(inv->slot));
		kit_faas_unsent(inv, op, &e2);
		return;
	}
	kit_faas_go(inv, token);
}

static void
kit_faas_slot(void *arg, struct kit_slot *s, const struct err *e)
{
	struct kit_faas_inv *inv = arg;
	struct kit_faas_op *op = inv->start;

	if (inv->abandoned) {
		inv->slot = s;
		kit_faas_inv_end(inv, 0);
		return;
	}
	if (e != NULL) {
		inv->start = NULL;
		kit_faas_unsent(inv, op, e);
		return;
	}
	inv->slot = s;
	if (kf->token != NULL)
		inv->token_call = kf->token(s, kit_faas_token, inv);
	else
		kit_faas_go(inv, NULL);
}

void
kit_faas_start(
    struct backend *b, struct container *c, backend_done_fn done, void *arg)
{
	cJSON *priv = container_private(c);
	const char *image = json_str(priv, KIT_FAAS_P_IMAGE);
	struct kit_faas_inv *inv;
	long long mib;
	struct err e;

	if (image == NULL) {
		err_set(&e, 500, "container %.12s has no derived image", c->id);
		done(arg, &e);
		return;
	}
	if (kit_faas_memory(container_host_config(c), &mib, &e) == -1) {
		done(arg, &e);
		return;
	}
	inv = xcalloc(1, sizeof(*inv));
	inv->b = b;
	inv->c = c;
	container_ref(c);
	inv->run = (int)json_int(priv, KIT_FAAS_P_RUN, 0) + 1;
	inv->timeout_s = kf->timeout;
	inv->mib = mib;
	inv->image = xstrdup(image);
	inv->start = kit_op_new(sizeof(struct kit_faas_op), b, c, done, arg);
	json_set(priv, KIT_FAAS_P_RUN, cJSON_CreateNumber(inv->run));
	cJSON_DeleteItemFromObjectCaseSensitive(priv, KIT_OUTPUT);
	backend_container_save(b, c);
	c->backend_data = inv;
	kit_pool_take(image, mib, inv->timeout_s, kit_faas_slot, inv);
}

/* --- stop, kill, remove --------------------------------------------------- */

/* A run cannot be interrupted: the container is let go and reported
 * exited; the run goes on until it ends or reaches the timeout, and its
 * late answer is only logged. */
static void
kit_faas_let_go(struct backend *b, struct container *c, int signo)
{
	if (!container_running(c))
		return;
	log_warnx("container %.12s: a %s run cannot be interrupted; it goes "
		  "on until it ends (at most %lld s)",
	    c->id, kf->what, kf->timeout);
	backend_container_exited(b, c, 128 + signo, str_now_ns(), NULL);
}

void
kit_faas_stop(struct backend *b, struct container *c, int timeout_s,
    backend_done_fn done, void *arg)
{
	(void)timeout_s;
	kit_faas_let_go(b, c, SIGKILL);
	done(arg, NULL);
}

void
kit_faas_kill(struct backend *b, struct container *c, int signo,
    backend_done_fn done, void *arg)
{
	kit_faas_let_go(b, c, signo);
	done(arg, NULL);
}

/* Lets the run in flight go with its container: an HTTP request cannot be
 * cancelled on the cloud's side (the run goes on in its instance), so the
 * request stays open and its answer, when it comes, gives the function
 * back to the pool at once (kit_faas_answered: the container is gone, the
 * answer is only logged). Dropping the connection instead would leave the
 * function busy for an unknown time, kept out of use for the whole
 * timeout. */
static void
kit_faas_cancel(struct container *c)
{
	struct kit_faas_inv *inv = c->backend_data;

	if (inv == NULL || inv->start != NULL)
		return; /* a start in progress ends on its own */
	c->backend_data = NULL;
	inv->let_go = 1;
	TAILQ_INSERT_TAIL(&kit_faas_gone, inv, entry);
	if (inv->http_call == 0) {
		/* A retry is taking a function or its token: its callback
		 * gives the function back and frees the run. */
		inv->abandoned = 1;
	}
}

void
kit_faas_remove(
    struct backend *b, struct container *c, backend_done_fn done, void *arg)
{
	(void)b;
	kit_faas_cancel(c);
	/* The function belongs to the pool; the derived image stays for
	 * the next container of the same image. */
	done(arg, NULL);
}

/* --- shutdown ------------------------------------------------------------- */

static void
kit_faas_drop(struct kit_faas_inv *inv)
{
	if (inv->http_call != 0)
		httpcli_cancel(backend_httpcli(inv->b), inv->http_call);
	if (inv->token_call != 0 && kf->token_cancel != NULL)
		kf->token_cancel(inv->token_call);
	kit_faas_inv_free(inv);
}

static void
kit_faas_cancel_one(struct backend *b, struct container *c, void *arg)
{
	struct kit_faas_inv *inv = c->backend_data;

	(void)b;
	(void)arg;
	if (inv == NULL)
		return;
	c->backend_data = NULL;
	kit_faas_drop(inv);
}

void
kit_faas_shutdown(struct backend *b)
{
	if (kf == NULL)
		return;
	backend_container_foreach(b, kit_faas_cancel_one, NULL);
	while (!TAILQ_EMPTY(&kit_faas_gone))
		kit_faas_drop(TAILQ_FIRST(&kit_faas_gone));
}
