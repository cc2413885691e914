/* Docker containers as Lambda functions: the derived image, CreateFunction
 * and the wait for Active, Invoke as start + wait, DeleteFunction. Lambda
 * cannot interrupt an invocation: stop and kill let the container go (it
 * is reported exited) while the invocation runs on to its end. */
#include <ctype.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lambda.h"
#include "sockerless/buf.h"
#include "sockerless/httpcli.h"
#include "sockerless/json.h"
#include "sockerless/log.h"
#include "sockerless/reg.h"
#include "sockerless/xmalloc.h"

/* Environment variables Lambda sets itself and refuses in a function's
 * configuration. */
static const char *const lambda_reserved_env[] = { "_HANDLER",
	"_X_AMZN_TRACE_ID", "AWS_DEFAULT_REGION", "AWS_REGION",
	"AWS_EXECUTION_ENV", "AWS_LAMBDA_FUNCTION_NAME",
	"AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "AWS_LAMBDA_FUNCTION_VERSION",
	"AWS_LAMBDA_INITIALIZATION_TYPE", "AWS_LAMBDA_LOG_GROUP_NAME",
	"AWS_LAMBDA_LOG_STREAM_NAME", "AWS_ACCESS_KEY", "AWS_ACCESS_KEY_ID",
	"AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_LAMBDA_RUNTIME_API",
	"LAMBDA_TASK_ROOT", "LAMBDA_RUNTIME_DIR" };

/* One asynchronous operation on a container. */
struct lambda_op {
	struct kit_op k;
	int64_t created_ns, deadline_ns;
	char *fname;
};

/* The invocation in flight of a started container (c->backend_data). */
struct lambda_inv {
	struct backend *b;
	struct container *c;
	uint64_t call;
	int run;
};

static void
lambda_op_free(struct kit_op *k)
{
	free(((struct lambda_op *)k)->fname);
}

static struct lambda_op *
lambda_op_new(
    struct backend *b, struct container *c, backend_done_fn done, void *arg)
{
	struct lambda_op *op =
	    kit_op_new(sizeof(struct lambda_op), b, c, done, arg);

	op->k.cleanup = lambda_op_free;
	return op;
}

/* Lambda's InvalidParameterValueException and ValidationException are
 * about what the user asked for (an env name, a size): a 400 with Lambda's
 * words. */
static void
lambda_op_fail(
    struct lambda_op *op, const struct aws_error *ae, const char *what)
{
	struct err e;

	if (ae->http_status == 400 &&
	    (strcmp(ae->code, "InvalidParameterValueException") == 0 ||
		strcmp(ae->code, "ValidationException") == 0))
		err_set(
		    &e, 400, "Lambda rejected the container: %s", ae->message);
	else
		aws_error_to_err(ae, &e);
	kit_op_fail(&op->k, &e, what);
}

static const char *
lambda_fn_name(struct container *c)
{
	return json_str(container_private(c), LAMBDA_P_FUNCTION);
}

/* "/2015-03-31/functions/<name><suffix>". Caller frees. */
static char *
lambda_fn_path(const char *name, const char *suffix)
{
	struct buf b;

	buf_init(&b, 0);
	buf_adds(&b, LAMBDA_FUNCTIONS);
	aws_path_escape(&b, name);
	buf_adds(&b, suffix);
	return buf_take(&b, NULL);
}

void
lambda_call(const char *method, const char *prefix, const char *name,
    const char *op, aws_rest_cb cb, void *arg)
{
	struct aws_rest rq;
	struct buf p;

	buf_init(&p, 0);
	buf_adds(&p, prefix);
	aws_path_escape(&p, name);
	memset(&rq, 0, sizeof(rq));
	rq.method = method;
	rq.path = p.data;
	aws_rest_call(lambda.aws.aws, "lambda", op, &rq, cb, arg);
	buf_free(&p);
}

/* --- the function's configuration --------------------------------------- */

struct lambda_env {
	cJSON *vars;
	struct err *e;
};

/* Lambda's EnvironmentVariableName: [a-zA-Z]([a-zA-Z0-9_])+ (its model). */
static int
lambda_env_name_ok(const char *name)
{
	if (!isalpha((unsigned char)name[0]) || name[1] == '\0')
		return 0;
	for (const char *p = name + 1; *p != '\0'; p++)
		if (!isalnum((unsigned char)*p) && *p != '_')
			return 0;
	return 1;
}

static int
lambda_env_one(void *arg, const char *name, const char *value)
{
	struct lambda_env *le = arg;

	if (!lambda_env_name_ok(name))
		return err_set(le->e, 400,
		    "Lambda accepts environment variable names of at least "
		    "two characters, a letter then letters, digits or "
		    "underscores; rename %s (or run the container on a "
		    "backend without this limit, such as ecs)",
		    name);
	for (size_t i = 0;
	     i < sizeof(lambda_reserved_env) / sizeof(lambda_reserved_env[0]);
	     i++)
		if (strcmp(name, lambda_reserved_env[i]) == 0)
			return err_set(le->e, 400,
			    "Lambda reserves the environment variable %s; "
			    "remove it from the container (or its image)",
			    name);
	json_set(le->vars, name, cJSON_CreateString(value));
	return 0;
}

static int
lambda_env(const cJSON *cfg, cJSON **out, struct err *e)
{
	struct lambda_env le = { cJSON_CreateObject(), e };

	if (kit_env_each(json_arr(cfg, "Env"), lambda_env_one, &le) == -1) {
		cJSON_Delete(le.vars);
		return -1;
	}
	*out = le.vars;
	return 0;
}

/* The CreateFunction input for c running image_uri. */
static cJSON *
lambda_fn_input(struct container *c, const char *fname, const char *image_uri,
    struct err *e)
{
	const cJSON *cfg = container_config(c), *hc = container_host_config(c);
	cJSON *in = cJSON_CreateObject(), *o, *vars;
	const char *s;
	long long mib;
	char *desc;

	/* Lambda runs every function in one fixed sandbox; its root file
	 * system is always read-only (only /tmp is writable), so --read-only
	 * holds as it is. */
	if (kit_fixed_sandbox(hc, "lambda",
		"Lambda runs every function in a fixed sandbox", e) == -1 ||
	    kit_memory_mib(hc, lambda_conf.memory_size, LAMBDA_MIN_MEMORY,
		LAMBDA_MAX_MEMORY, "Lambda functions", &mib, e) == -1 ||
	    lambda_env(cfg, &vars, e) == -1) {
		cJSON_Delete(in);
		return NULL;
	}
	json_add_str(in, "FunctionName", fname);
	json_add_str(in, "Role", lambda_conf.role_arn);
	json_add_str(in, "PackageType", "Image");
	o = cJSON_CreateObject();
	json_add_str(o, "ImageUri", image_uri);
	cJSON_AddItemToObject(in, "Code", o);
	desc = xasprintf("sockerless container %s (%s)", container_name(c),
	    container_image(c));
	if (strlen(desc) > 256)
		desc[256] = '\0';
	json_add_str(in, "Description", desc);
	free(desc);
	json_add_int(in, "Timeout", lambda_conf.timeout);
	json_add_int(in, "MemorySize", mib);
	cJSON_AddItemToObject(in, "Architectures",
	    cJSON_CreateStringArray(
		(const char *[]){ lambda_conf.architecture }, 1));
	/* The image runs as Docker would run it: the merged entrypoint and
	 * command. A derived image's entrypoint is the agent, which takes
	 * the whole command line as its arguments. */
	o = cJSON_CreateObject();
	if (lambda_conf.derive) {
		const cJSON *it;
		cJSON *argv = cJSON_CreateArray();
		cJSON_AddItemToArray(argv,
		    cJSON_CreateString(json_str(container_doc(c), "Path")));
		cJSON_ArrayForEach(it, json_arr(container_doc(c), "Args")) {
			cJSON_AddItemToArray(argv, cJSON_Duplicate(it, 1));
		}
		cJSON_AddItemToObject(o, "Command", argv);
	} else if (cJSON_GetArraySize(json_arr(cfg, "Entrypoint")) > 0)
		cJSON_AddItemToObject(o, "EntryPoint",
		    cJSON_Duplicate(json_arr(cfg, "Entrypoint"), 1));
	if (!lambda_conf.derive && cJSON_GetArraySize(json_arr(cfg, "Cmd")) > 0)
		cJSON_AddItemToObject(
		    o, "Command", cJSON_Duplicate(json_arr(cfg, "Cmd"), 1));
	if ((s = json_str(cfg, "WorkingDir")) != NULL && s[0] != '\0')
		json_add_str(o, "WorkingDirectory", s);
	cJSON_AddItemToObject(in, "ImageConfig", o);
	o = cJSON_CreateObject();
	cJSON_AddItemToObject(o, "Variables", vars);
	cJSON_AddItemToObject(in, "Environment", o);
	o = cJSON_CreateObject();
	json_add_str(o, "LogFormat", "Text");
	json_add_str(o, "LogGroup", lambda_conf.log_group);
	cJSON_AddItemToObject(in, "LoggingConfig", o);
	if (lambda_conf.subnet_ids.n > 0) {
		o = cJSON_CreateObject();
		cJSON_AddItemToObject(o, "SubnetIds",
		    json_strv_to_array(&lambda_conf.subnet_ids));
		cJSON_AddItemToObject(o, "SecurityGroupIds",
		    json_strv_to_array(&lambda_conf.security_group_ids));
		cJSON_AddItemToObject(in, "VpcConfig", o);
	}
	o = cJSON_CreateObject();
	json_add_str(o, KIT_TAG_ID, c->id);
	json_add_str(o, KIT_TAG_NAME, container_name(c));
	json_add_str(o, KIT_TAG_INSTANCE, backend_instance(lambda.b));
	cJSON_AddItemToObject(in, "Tags", o);
	return in;
}

/* --- create: CreateFunction, wait for Active --------------------------- */

static void lambda_fn_poll(struct kit_op *k);

/* How long to wait before the next GetFunction of a Pending function: a
 * quarter of the time waited so far, from LAMBDA_POLL_MIN_MS up to
 * LAMBDA_POLL_MAX_MS (the AWS SDK waiter's 1 s). What `docker create`
 * waits past the moment the function is Active is then at most about a
 * quarter of the Pending time, and the calls stay few: 4 in the first
 * 0.4 s, about 15 in the first 5 s, one a second after 4 s, well within
 * GetFunction's 100 requests per second for several creates at once. */
#define LAMBDA_POLL_MIN_MS 100
#define LAMBDA_POLL_MAX_MS 1000

static int
lambda_fn_poll_ms(const struct lambda_op *op)
{
	int64_t ms = (str_now_ns() - op->created_ns) / 4000000;

	if (ms < LAMBDA_POLL_MIN_MS)
		return LAMBDA_POLL_MIN_MS;
	return ms > LAMBDA_POLL_MAX_MS ? LAMBDA_POLL_MAX_MS : (int)ms;
}

static void
lambda_fn_discarded(void *arg, const struct httpcli_resp *resp,
    const cJSON *out, const struct aws_error *ae)
{
	(void)arg;
	(void)resp;
	(void)out;
	if (ae != NULL && ae->http_status != 404)
		log_warnx("deleting the function of a failed create: %s: %s",
		    ae->code, ae->message);
}

/* A create that fails after CreateFunction: the container goes, so its
 * function must go too. */
static void
lambda_fn_discard(const char *fname)
{
	lambda_call("DELETE", LAMBDA_FUNCTIONS, fname, "DeleteFunction",
	    lambda_fn_discarded, NULL);
}

/* The function's configuration (conf: from CreateFunction or GetFunction,
 * NULL when unknown): ends the create when it is Active or cannot become
 * so, or polls again. */
static void
lambda_fn_state(struct lambda_op *op, const cJSON *conf)
{
	const char *state = json_str(conf, "State");
	const char *update = json_str(conf, "LastUpdateStatus");
	struct err e;

	if (state != NULL && strcmp(state, "Active") == 0 &&
	    (update == NULL || strcmp(update, "InProgress") != 0)) {
		kit_op_end(&op->k, NULL);
		return;
	}
	if (state != NULL &&
	    (strcmp(state, "Failed") == 0 || strcmp(state, "Inactive") == 0)) {
		err_set(&e, 500, "Lambda could not prepare function %s: %s: %s",
		    op->fname,
		    json_str(conf, "StateReasonCode") != NULL ?
			json_str(conf, "StateReasonCode") :
			state,
		    json_str(conf, "StateReason") != NULL ?
			json_str(conf, "StateReason") :
			"no reason given");
		lambda_fn_discard(op->fname);
		kit_op_end(&op->k, &e);
		return;
	}
	if (str_now_ns() > op->deadline_ns) {
		err_set(&e, 504,
		    "Lambda function %s is still %s after %lld s "
		    "(lambda.active_timeout)",
		    op->fname, state != NULL ? state : "unknown",
		    lambda_conf.active_timeout_s);
		lambda_fn_discard(op->fname);
		kit_op_end(&op->k, &e);
		return;
	}
	kit_op_later(&op->k, lambda_fn_poll_ms(op), lambda_fn_poll);
}

static void
lambda_fn_got(void *arg, const struct httpcli_resp *resp, const cJSON *out,
    const struct aws_error *ae)
{
	struct lambda_op *op = arg;

	(void)resp;
	if (ae != NULL) {
		lambda_fn_discard(op->fname);
		lambda_op_fail(op, ae, "waiting for the Lambda function");
		return;
	}
	lambda_fn_state(op, json_obj(out, "Configuration"));
}

static void
lambda_fn_poll(struct kit_op *k)
{
	struct lambda_op *op = (struct lambda_op *)k;

	lambda_call("GET", LAMBDA_FUNCTIONS, op->fname, "GetFunction",
	    lambda_fn_got, op);
}

static void
lambda_fn_created(void *arg, const struct httpcli_resp *resp, const cJSON *out,
    const struct aws_error *ae)
{
	struct lambda_op *op = arg;
	cJSON *priv = container_private(op->k.c);

	(void)resp;
	/* A retried CreateFunction whose first attempt got through. */
	if (ae != NULL &&
	    !(ae->http_status == 409 &&
		strstr(ae->message, "already exist") != NULL)) {
		lambda_op_fail(op, ae, "creating the Lambda function");
		return;
	}
	json_set(priv, LAMBDA_P_FUNCTION, cJSON_CreateString(op->fname));
	if (json_str(out, "FunctionArn") != NULL)
		json_set(priv, LAMBDA_P_ARN,
		    cJSON_CreateString(json_str(out, "FunctionArn")));
	backend_container_save(op->k.b, op->k.c);
	op->created_ns = str_now_ns();
	op->deadline_ns =
	    op->created_ns + lambda_conf.active_timeout_s * 1000000000LL;
	/* The answer is the function's configuration: Pending for an image
	 * function, which is then polled until Active. */
	lambda_fn_state(op, ae == NULL ? out : NULL);
}

static void
lambda_fn_create_function(struct lambda_op *op, const char *image_uri)
{
	struct aws_rest rq;
	struct err e;
	cJSON *in;
	char *body;

	if ((in = lambda_fn_input(op->k.c, op->fname, image_uri, &e)) == NULL) {
		kit_op_end(&op->k, &e);
		return;
	}
	json_set(container_private(op->k.c), LAMBDA_P_IMAGE,
	    cJSON_CreateString(image_uri));
	/* Intent first: a restart before the answer deletes the function by
	 * this name (the create is then undone, see backend_ctr.c). */
	json_set(container_private(op->k.c), LAMBDA_P_FUNCTION,
	    cJSON_CreateString(op->fname));
	backend_container_save(op->k.b, op->k.c);
	body = json_print(in);
	cJSON_Delete(in);
	memset(&rq, 0, sizeof(rq));
	rq.method = "POST";
	rq.path = "/2015-03-31/functions";
	rq.body = body;
	rq.body_len = strlen(body);
	aws_rest_call(lambda.aws.aws, "lambda", "CreateFunction", &rq,
	    lambda_fn_created, op);
	free(body);
}

static void
lambda_fn_derived(void *arg, const char *dst_ref, const struct err *e)
{
	struct lambda_op *op = arg;
	struct err e2;

	if (e != NULL) {
		e2 = *e;
		err_wrap(&e2, "preparing the image for Lambda");
		kit_op_end(&op->k, &e2);
		return;
	}
	lambda_fn_create_function(op, dst_ref);
}

/* The derived image's tag: the same source image and agent give the same
 * tag, so the push happens once per image version. */
static char *
lambda_fn_derived_ref(const char *src)
{
	char hex[41], *s;

	s = xasprintf(
	    "%s\n%s\n%s", src, lambda.layer.digest, lambda_conf.architecture);
	kit_hash(s, hex, 40);
	free(s);
	return xasprintf("%s:sockerless-%s", lambda.repository_uri, hex);
}

/* Without derived images Lambda pulls only from ECR in the function's
 * own region. */
static int
lambda_fn_image_ok(const char *image, struct err *e)
{
	struct reg_ref r;
	char *suffix =
	    xasprintf(".dkr.ecr.%s.amazonaws.com", lambda.aws.region);
	size_t n;
	int ok;

	if (reg_ref_parse(image, &r, e) == -1) {
		free(suffix);
		return -1;
	}
	n = strspn(r.domain, "0123456789");
	ok = n == 12 && strcmp(r.domain + n, suffix) == 0;
	if (!ok)
		err_set(e, 400,
		    "Lambda runs only images stored in Amazon ECR in %s, not "
		    "%s; push the image to an ECR repository (<account>%s/"
		    "NAME) and run that reference",
		    lambda.aws.region, image, suffix);
	reg_ref_free(&r);
	free(suffix);
	return ok ? 0 : -1;
}

void
lambda_fn_create(
    struct backend *b, struct container *c, backend_done_fn done, void *arg)
{
	struct lambda_op *op = lambda_op_new(b, c, done, arg);
	struct err e;
	struct reg_derive_opts o;
	struct strv ep, none;
	cJSON *in;
	char *dst;

	/* Names are at most 64 characters: the id's first 32 hex digits
	 * are unique enough, the tags carry the whole id. */
	op->fname = xasprintf("sockerless-%.32s", c->id);
	/* What Lambda would refuse is refused before an image is derived. */
	if ((in = lambda_fn_input(c, op->fname, "", &e)) == NULL) {
		kit_op_end(&op->k, &e);
		return;
	}
	cJSON_Delete(in);
	if (!lambda_conf.derive) {
		if (lambda_fn_image_ok(container_image(c), &e) == -1)
			kit_op_end(&op->k, &e);
		else
			lambda_fn_create_function(op, container_image_ref(c));
		return;
	}
	strv_init(&ep);
	strv_init(&none);
	strv_add(&ep, LAMBDA_AGENT_PATH);
	strv_add(&ep, "--lambda");
	strv_add(&ep, "--");
	memset(&o, 0, sizeof(o));
	o.entrypoint = &ep;
	o.cmd = &none;
	o.history =
	    "sockerless: add " LAMBDA_AGENT_PATH " as the Lambda runtime";
	dst = lambda_fn_derived_ref(container_image_ref(c));
	if (reg_derive(backend_registry(b), container_image_ref(c), NULL, dst,
		&lambda.layer, &o, lambda_fn_derived, op, &e) == -1)
		kit_op_end(&op->k, &e);
	free(dst);
	strv_free(&ep);
	strv_free(&none);
}

/* --- start: Invoke ------------------------------------------------------ */

/* The invocation is its call's own (aws_rest_call_owned): freed after
 * the callback, or without it when cancelled (lambda_fn_cancel) or when
 * the backend stops with it in flight, also one a restarted container no
 * longer holds (a stopped run goes on). */
static void
lambda_inv_free(void *arg)
{
	struct lambda_inv *inv = arg;

	container_unref(inv->c);
	free(inv);
}

static void
lambda_fn_invoked(void *arg, const struct httpcli_resp *resp, const cJSON *out,
    const struct aws_error *ae)
{
	struct lambda_inv *inv = arg;
	struct container *c = inv->c;
	struct backend *b = inv->b;
	const char *rid = NULL, *ferr = NULL, *tail = NULL;
	int code, same_run, current;
	char *error = NULL;
	struct err e;

	(void)out;
	if (c->backend_data == inv)
		c->backend_data = NULL;
	/* A run that was let go (stop) still gets its output; an older run
	 * of a restarted container does not overwrite the newer one's. */
	same_run = !c->gone &&
	    json_int(container_private(c), LAMBDA_P_RUN, 0) == inv->run;
	current = same_run && container_running(c);
	if (resp != NULL) {
		rid = httpcli_resp_header(resp, "x-amzn-RequestId");
		ferr = httpcli_resp_header(resp, "X-Amz-Function-Error");
		tail = httpcli_resp_header(resp, "X-Amz-Log-Result");
	}
	if (ae != NULL) {
		aws_error_to_err(ae, &e);
		if (ae->http_status == 0)
			error = xasprintf(
			    "lost the connection to Lambda during the "
			    "invocation (%s); its exit status is unknown, its "
			    "output is in CloudWatch Logs group %s",
			    e.msg, lambda_conf.log_group);
		else
			error = xasprintf(
			    "Lambda did not run the function: %s", e.msg);
		code = 125;
	} else if (!same_run) {
		code = 0;
	} else {
		/* ae == NULL: a success, which always has its response
		 * (aws_call_done); the analyzer cannot see across files. */
		/* NOLINTNEXTLINE(clang-analyzer-core.NullDereference) */
		code = lambda_out_decode(b, c, resp->status, ferr, tail,
		    resp->body, resp->body_len, rid);
	}
	if (current) {
		json_set(container_private(c), LAMBDA_P_REQUEST,
		    rid != NULL ? cJSON_CreateString(rid) : cJSON_CreateNull());
		backend_container_exited(b, c, code, str_now_ns(), error);
	} else if (!c->gone) {
		log_info("container %.12s: an invocation it no longer waits "
			 "for (request %s) ended",
		    c->id, rid != NULL ? rid : "?");
	}
	free(error);
}

void
lambda_fn_start(
    struct backend *b, struct container *c, backend_done_fn done, void *arg)
{
	struct lambda_inv *inv;
	struct aws_rest rq;
	const char *headers[] = { "X-Amz-Invocation-Type: RequestResponse",
		"X-Amz-Log-Type: Tail", NULL };
	cJSON *priv = container_private(c), *ev;
	char *path, *payload;
	int run = (int)json_int(priv, LAMBDA_P_RUN, 0) + 1;
	struct err e;

	if (lambda_fn_name(c) == NULL) {
		err_set(
		    &e, 500, "container %.12s has no Lambda function", c->id);
		done(arg, &e);
		return;
	}
	json_set(priv, LAMBDA_P_RUN, cJSON_CreateNumber(run));
	/* Recovery after a restart must not take the last run's markers
	 * for this one's (lambda_rec.c). */
	if (json_str(priv, LAMBDA_P_REQUEST) != NULL)
		json_set(priv, LAMBDA_P_PREV_REQ,
		    cJSON_CreateString(json_str(priv, LAMBDA_P_REQUEST)));
	json_set(priv, LAMBDA_P_REQUEST, cJSON_CreateNull());
	cJSON_DeleteItemFromObjectCaseSensitive(priv, KIT_OUTPUT);
	ev = cJSON_CreateObject();
	json_add_int(ev, "sockerless", 1);
	json_add_str(ev, "container", c->id);
	payload = json_print(ev);
	cJSON_Delete(ev);
	path = lambda_fn_path(lambda_fn_name(c), "/invocations");
	memset(&rq, 0, sizeof(rq));
	rq.method = "POST";
	rq.path = path;
	rq.headers = headers;
	rq.body = payload;
	rq.body_len = strlen(payload);
	/* The answer comes when the function ends: wait past its timeout,
	 * and never repeat an invocation. */
	rq.timeout_ms = (lambda_conf.timeout + 60) * 1000;
	rq.attempts = 1;
	inv = xcalloc(1, sizeof(*inv));
	inv->b = b;
	inv->c = c;
	inv->run = run;
	container_ref(c);
	c->backend_data = inv;
	inv->call = aws_rest_call_owned(lambda.aws.aws, "lambda", "Invoke", &rq,
	    lambda_fn_invoked, inv, lambda_inv_free);
	free(path);
	free(payload);
	backend_container_started(b, c, str_now_ns());
	done(arg, NULL);
}

/* --- stop, kill, remove ------------------------------------------------- */

/* Lambda has no way to end an invocation early: the container is let go
 * and reported exited; the invocation runs on until it ends or reaches
 * the function timeout, and its late answer is only logged. */
static void
lambda_fn_let_go(struct backend *b, struct container *c, int signo)
{
	if (!container_running(c))
		return;
	log_warnx("container %.12s: Lambda cannot interrupt function %s; it "
		  "runs on until it ends (at most %lld s)",
	    c->id, lambda_fn_name(c) ? lambda_fn_name(c) : "?",
	    lambda_conf.timeout);
	backend_container_exited(b, c, 128 + signo, str_now_ns(), NULL);
}

void
lambda_fn_stop(struct backend *b, struct container *c, int timeout_s,
    backend_done_fn done, void *arg)
{
	(void)timeout_s;
	lambda_fn_let_go(b, c, SIGKILL);
	done(arg, NULL);
}

void
lambda_fn_kill(struct backend *b, struct container *c, int signo,
    backend_done_fn done, void *arg)
{
	lambda_fn_let_go(b, c, signo);
	done(arg, NULL);
}

/* Forgets the invocation in flight (its answer will not be read). */
static void
lambda_fn_cancel(struct backend *b, struct container *c)
{
	struct lambda_inv *inv = c->backend_data;

	(void)b;
	if (inv == NULL)
		return;
	c->backend_data = NULL;
	aws_cancel(lambda.aws.aws, inv->call); /* frees inv */
}

static void
lambda_fn_deleted(void *arg, const struct httpcli_resp *resp, const cJSON *out,
    const struct aws_error *ae)
{
	struct lambda_op *op = arg;

	(void)resp;
	(void)out;
	if (ae != NULL && ae->http_status != 404 &&
	    strcmp(ae->code, "ResourceNotFoundException") != 0) {
		lambda_op_fail(op, ae, "deleting the Lambda function");
		return;
	}
	kit_op_end(&op->k, NULL);
}

void
lambda_fn_remove(
    struct backend *b, struct container *c, backend_done_fn done, void *arg)
{
	lambda_fn_cancel(b, c);
	if (lambda_fn_name(c) == NULL) {
		/* create failed before the function existed */
		done(arg, NULL);
		return;
	}
	lambda_call("DELETE", LAMBDA_FUNCTIONS, lambda_fn_name(c),
	    "DeleteFunction", lambda_fn_deleted,
	    lambda_op_new(b, c, done, arg));
}

/* --- shutdown --------------------------------------------------------------
 */

static void
lambda_fn_cancel_one(struct backend *b, struct container *c, void *arg)
{
	(void)arg;
	lambda_fn_cancel(b, c);
}

void
lambda_fn_shutdown(struct backend *b)
{
	backend_container_foreach(b, lambda_fn_cancel_one, NULL);
}
