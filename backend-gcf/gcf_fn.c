/* Docker containers as runs on the pool's Cloud Run functions: create
 * derives the image (the agent as an HTTP runtime), start takes a
 * function pointed at it and POSTs the run with an ID token for its URL,
 * the answer (the agent's envelope) is the exit status and the output.
 * An HTTP request cannot be signalled: stop and kill let the container go
 * (it is reported exited) while the run goes on to its end. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gcf.h"
#include "sockerless/buf.h"
#include "sockerless/httpcli.h"
#include "sockerless/json.h"
#include "sockerless/log.h"
#include "sockerless/reg.h"
#include "sockerless/xmalloc.h"

/* Past the run's own timeout, the answer may take this long to come. */
#define GCF_ANSWER_GRACE_S 60
/* The most of an error answer shown in the wait error. */
#define GCF_ANSWER_SHOWN 300

struct gcf_op {
	struct kit_op k;
};

/* The run in flight of a started container (c->backend_data). */
struct gcf_inv {
	struct backend *b;
	struct container *c;
	struct gcf_slot *slot;
	uint64_t token_call, http_call;
	int run;
	long long timeout_s, mib;
	char *image;
	int retries;	      /* runs a busy function turned away */
	int abandoned;	      /* removed while a retry takes a function */
	struct gcf_op *start; /* until the first request is sent */
};

/* A function that answers 429 ran nothing (the agent, or Cloud Run
 * without a free instance): the run goes to another one this often. */
#define GCF_BUSY_RETRIES 3
/* ... and the busy one rests this long before it is tried again. */
#define GCF_BUSY_QUIET_S 60

/* --- what a run needs ----------------------------------------------------- */

/* Memory in MiB: the container's limit rounded up, within Cloud Run's. */
static int
gcf_fn_memory(const cJSON *hc, long long *mib, struct err *e)
{
	return kit_memory_mib(hc, gcf_conf.memory, GCF_MIN_MEMORY,
	    GCF_MAX_MEMORY, "Cloud Run functions", mib, e);
}

/* The run's request (docs/agent.md, HTTP runtime): the merged command
 * line, environment and working directory travel with each run, so a
 * function pointed at the image serves every container of it. */
static char *
gcf_fn_request(struct container *c, int run, long long timeout_s)
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
	    argv, cJSON_CreateString(json_str(c->doc, "Path")));
	cJSON_ArrayForEach(it, json_arr(c->doc, "Args")) {
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

/* --- create: the derived image -------------------------------------------- */

static void
gcf_fn_derived(void *arg, const char *dst_ref, const struct err *e)
{
	struct gcf_op *op = arg;
	struct err e2;

	if (e != NULL) {
		e2 = *e;
		err_wrap(&e2, "preparing the image for Cloud Run functions");
		kit_op_end(&op->k, &e2);
		return;
	}
	json_set(container_private(op->k.c), GCF_P_IMAGE,
	    cJSON_CreateString(dst_ref));
	backend_container_save(op->k.b, op->k.c);
	kit_op_end(&op->k, NULL);
}

/* The same source image and agent give the same tag: the push happens
 * once per image version, and every container of it shares functions. */
static char *
gcf_fn_derived_ref(const char *src)
{
	char hex[41], *s;

	s = xasprintf("%s\n%s", src, gcf.layer.digest);
	kit_hash(s, hex, 40);
	free(s);
	return xasprintf("%s/derived:sockerless-%s", gcf.repository_host, hex);
}

void
gcf_fn_create(
    struct backend *b, struct container *c, backend_done_fn done, void *arg)
{
	struct gcf_op *op = kit_op_new(sizeof(*op), b, c, done, arg);
	const cJSON *hc = container_host_config(c);
	struct reg_derive_opts o;
	struct strv ep, none;
	long long mib;
	struct err e;
	char *dst;

	/* Cloud Run runs every instance in a fixed sandbox: its
	 * capabilities and limits cannot be changed. */
	if (kit_fixed_sandbox(hc, "gcf",
		"Cloud Run runs every instance in a fixed sandbox", &e) == -1 ||
	    gcf_fn_memory(hc, &mib, &e) == -1) {
		kit_op_end(&op->k, &e);
		return;
	}
	strv_init(&ep);
	strv_init(&none);
	strv_add(&ep, GCF_AGENT_PATH);
	strv_add(&ep, "--");
	memset(&o, 0, sizeof(o));
	o.entrypoint = &ep;
	o.cmd = &none;
	o.history = "sockerless: add " GCF_AGENT_PATH " as the HTTP runtime";
	dst = gcf_fn_derived_ref(container_image_ref(c));
	if (reg_derive(backend_registry(b), container_image_ref(c), NULL, dst,
		&gcf.layer, &o, gcf_fn_derived, op, &e) == -1)
		kit_op_end(&op->k, &e);
	free(dst);
	strv_free(&ep);
	strv_free(&none);
}

/* --- the envelope --------------------------------------------------------- */

int
gcf_fn_envelope(struct backend *b, struct container *c, const char *body,
    size_t len, char **why)
{
	struct kit_lines l;
	int code;

	kit_lines_init(&l);
	code = gcf_out_decode(body, len, &l, why);
	/* In the container's own state: a docker run --rm reads it after
	 * the container is gone. */
	kit_lines_keep(&l, b, c);
	return code;
}

/* --- start: take a function, POST the run --------------------------------- */

static void
gcf_inv_free(struct gcf_inv *inv)
{
	container_unref(inv->c);
	free(inv->image);
	free(inv);
}

static void gcf_fn_slot(void *arg, struct gcf_slot *s, const struct err *e);

/* The run is over (answered, failed or forgotten): its function goes
 * back; quiet_s keeps it out of use while an abandoned run may still
 * occupy it. */
static void
gcf_inv_end(struct gcf_inv *inv, long long quiet_s)
{
	if (inv->c->backend_data == inv)
		inv->c->backend_data = NULL;
	if (inv->slot != NULL)
		gcf_pool_give(inv->slot, quiet_s);
	gcf_inv_free(inv);
}

static void
gcf_fn_answered(struct httpcli_resp *resp, void *arg)
{
	struct gcf_inv *inv = arg;
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
	    json_int(container_private(c), GCF_P_RUN, 0) == inv->run;
	current = same_run && container_running(c);
	if (resp->status == 429 && current && inv->retries < GCF_BUSY_RETRIES) {
		/* Still busy with an abandoned run: kept out of use a while,
		 * and the run goes to another function. */
		log_warnx("container %.12s: Cloud Run function %s is busy; "
			  "taking another",
		    c->id, gcf_slot_name(inv->slot));
		inv->retries++;
		gcf_pool_give(inv->slot, GCF_BUSY_QUIET_S);
		inv->slot = NULL;
		inv->http_call = 0;
		c->backend_data = inv;
		gcf_pool_take(
		    inv->image, inv->mib, inv->timeout_s, gcf_fn_slot, inv);
		return;
	}
	if (resp->status == 200 && same_run) {
		code =
		    gcf_fn_envelope(b, c, resp->body, resp->body_len, &error);
	} else if (resp->status == 200) {
		code = 0;
	} else {
		code = 125;
		if (resp->status == 0) {
			error = xasprintf(
			    "lost the connection to Cloud Run function %s during "
			    "the run (%s); its exit status is unknown, its "
			    "output is in Cloud Logging",
			    gcf_slot_name(inv->slot), resp->error);
			quiet = inv->timeout_s;
		} else {
			error = xasprintf("Cloud Run function %s answered HTTP "
					  "%d: %.*s",
			    gcf_slot_name(inv->slot), resp->status,
			    (int)(resp->body_len > GCF_ANSWER_SHOWN ?
				    GCF_ANSWER_SHOWN :
				    resp->body_len),
			    resp->body);
		}
	}
	if (current)
		backend_container_exited(b, c, code, str_now_ns(), error);
	else if (!c->gone)
		log_info("container %.12s: a run it no longer waits for ended "
			 "(HTTP %d)",
		    c->id, resp->status);
	free(error);
	gcf_inv_end(inv, quiet);
}

static void
gcf_fn_send(struct gcf_inv *inv, const char *token)
{
	struct httpcli_req *r;
	char *auth, *body;

	body = gcf_fn_request(inv->c, inv->run, inv->timeout_s);
	r = httpcli_req_new("POST", gcf_slot_url(inv->slot));
	auth = xasprintf("Bearer %s", token);
	httpcli_req_header(r, "Authorization", auth);
	free(auth);
	httpcli_req_header(r, "Content-Type", "application/json");
	httpcli_req_body(r, body, strlen(body));
	free(body);
	/* The answer comes when the run ends: wait past its timeout, and
	 * never repeat a run. */
	httpcli_req_timeouts(r, (inv->timeout_s + GCF_ANSWER_GRACE_S) * 1000,
	    (inv->timeout_s + GCF_ANSWER_GRACE_S) * 1000);
	httpcli_req_attempts(r, 1);
	httpcli_req_max_response(r, 16u << 20);
	inv->http_call =
	    httpcli_send(backend_httpcli(inv->b), r, gcf_fn_answered, inv);
}

/* A run that could not be sent: the start fails, or a retried run (the
 * container already running) exits 125 with the reason. */
static void
gcf_fn_unsent(struct gcf_inv *inv, struct gcf_op *op, const struct err *e)
{
	struct container *c = inv->c;
	struct backend *b = inv->b;
	int current = inv->start == NULL && op == NULL &&
	    container_running(c) && c->backend_data == inv;

	container_ref(c);
	gcf_inv_end(inv, 0);
	if (op != NULL)
		kit_op_fail(
		    &op->k, e, "starting the run on Cloud Run functions");
	else if (current)
		backend_container_exited(b, c, 125, str_now_ns(), e->msg);
	container_unref(c);
}

static void
gcf_fn_token(void *arg, const char *token, const struct err *e)
{
	struct gcf_inv *inv = arg;
	struct gcf_op *op = inv->start;
	struct err e2;

	inv->token_call = 0;
	inv->start = NULL;
	if (inv->abandoned) {
		gcf_inv_end(inv, 0);
		return;
	}
	if (e != NULL) {
		e2 = *e;
		err_wrap(&e2, "an ID token for Cloud Run function %s",
		    gcf_slot_name(inv->slot));
		gcf_fn_unsent(inv, op, &e2);
		return;
	}
	json_set(container_private(inv->c), GCF_P_SLOT,
	    cJSON_CreateString(gcf_slot_name(inv->slot)));
	backend_container_save(inv->b, inv->c);
	gcf_fn_send(inv, token);
	if (op != NULL) {
		backend_container_started(inv->b, inv->c, str_now_ns());
		kit_op_end(&op->k, NULL);
	}
}

static void
gcf_fn_slot(void *arg, struct gcf_slot *s, const struct err *e)
{
	struct gcf_inv *inv = arg;
	struct gcf_op *op = inv->start;

	if (inv->abandoned) {
		inv->slot = s;
		gcf_inv_end(inv, 0);
		return;
	}
	if (e != NULL) {
		inv->start = NULL;
		gcf_fn_unsent(inv, op, e);
		return;
	}
	inv->slot = s;
	inv->token_call =
	    gcp_auth_id_token(gcf.gb.auth, gcf_slot_url(s), gcf_fn_token, inv);
}

void
gcf_fn_start(
    struct backend *b, struct container *c, backend_done_fn done, void *arg)
{
	cJSON *priv = container_private(c);
	const char *image = json_str(priv, GCF_P_IMAGE);
	struct gcf_inv *inv;
	long long mib;
	struct err e;

	if (image == NULL) {
		err_set(&e, 500, "container %.12s has no derived image", c->id);
		done(arg, &e);
		return;
	}
	if (gcf_fn_memory(container_host_config(c), &mib, &e) == -1) {
		done(arg, &e);
		return;
	}
	inv = xcalloc(1, sizeof(*inv));
	inv->b = b;
	inv->c = c;
	container_ref(c);
	inv->run = (int)json_int(priv, GCF_P_RUN, 0) + 1;
	inv->timeout_s = gcf_conf.timeout;
	inv->mib = mib;
	inv->image = xstrdup(image);
	inv->start = kit_op_new(sizeof(struct gcf_op), b, c, done, arg);
	json_set(priv, GCF_P_RUN, cJSON_CreateNumber(inv->run));
	cJSON_DeleteItemFromObjectCaseSensitive(priv, KIT_OUTPUT);
	backend_container_save(b, c);
	c->backend_data = inv;
	gcf_pool_take(image, mib, inv->timeout_s, gcf_fn_slot, inv);
}

/* --- stop, kill, remove --------------------------------------------------- */

/* A run cannot be interrupted: the container is let go and reported
 * exited; the run goes on until it ends or reaches the timeout, and its
 * late answer is only logged. */
static void
gcf_fn_let_go(struct backend *b, struct container *c, int signo)
{
	if (!container_running(c))
		return;
	log_warnx("container %.12s: a Cloud Run function run cannot be "
		  "interrupted; it goes on until it ends (at most %lld s)",
	    c->id, gcf_conf.timeout);
	backend_container_exited(b, c, 128 + signo, str_now_ns(), NULL);
}

void
gcf_fn_stop(struct backend *b, struct container *c, int timeout_s,
    backend_done_fn done, void *arg)
{
	(void)timeout_s;
	gcf_fn_let_go(b, c, SIGKILL);
	done(arg, NULL);
}

void
gcf_fn_kill(struct backend *b, struct container *c, int signo,
    backend_done_fn done, void *arg)
{
	gcf_fn_let_go(b, c, signo);
	done(arg, NULL);
}

/* Forgets the run in flight (its answer will not be read); its function
 * stays out of use while the run may still occupy it. */
static void
gcf_fn_cancel(struct container *c)
{
	struct gcf_inv *inv = c->backend_data;

	if (inv == NULL || inv->start != NULL)
		return; /* a start in progress ends on its own */
	if (inv->http_call == 0) {
		/* A retry is taking a function or its token: its callback
		 * gives the function back and frees the run. */
		c->backend_data = NULL;
		inv->abandoned = 1;
		return;
	}
	httpcli_cancel(backend_httpcli(inv->b), inv->http_call);
	gcf_inv_end(inv, inv->timeout_s);
}

void
gcf_fn_remove(
    struct backend *b, struct container *c, backend_done_fn done, void *arg)
{
	(void)b;
	gcf_fn_cancel(c);
	/* The function belongs to the pool; the derived image stays for
	 * the next container of the same image. */
	done(arg, NULL);
}

/* --- restart and shutdown ------------------------------------------------- */

static void
gcf_fn_cancel_one(struct backend *b, struct container *c, void *arg)
{
	struct gcf_inv *inv = c->backend_data;

	(void)b;
	(void)arg;
	if (inv == NULL)
		return;
	c->backend_data = NULL;
	if (inv->http_call != 0)
		httpcli_cancel(backend_httpcli(inv->b), inv->http_call);
	if (inv->token_call != 0)
		gcp_auth_cancel(gcf.gb.auth, inv->token_call);
	gcf_inv_free(inv);
}

void
gcf_fn_shutdown(struct backend *b)
{
	backend_container_foreach(b, gcf_fn_cancel_one, NULL);
}
