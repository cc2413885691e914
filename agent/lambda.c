/* Lambda mode: the Runtime API loop (the run and its envelope are
 * envelope.c's). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "agent.h"
#include "http.h"
#include "jread.h"
#include "proc.h"

#define LAMBDA_BASE	  "/2018-06-01/runtime"
#define LAMBDA_ERROR_TYPE "Sockerless.ExitStatus"
/* Before the deadline: SIGTERM, then SIGKILL, leaving time to post. */
#define LAMBDA_TERM_BEFORE_MS  1500
#define LAMBDA_KILL_BEFORE_MS  700
#define LAMBDA_RETRY_FIRST_MS  100
#define LAMBDA_RETRY_MAX_MS    2000
#define LAMBDA_RETRY_GIVEUP_MS 30000

struct lambda_inv {
	char rid[128];
	char cid[80];
	int64_t deadline; /* epoch ms; 0 when Lambda did not say */
};

static void
lambda_sleep_ms(int64_t ms)
{
	struct timespec ts = { (time_t)(ms / 1000),
		(long)(ms % 1000) * 1000000 };

	while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
		;
}

/*
 * One Runtime API call. Connection errors are retried with backoff; after
 * LAMBDA_RETRY_GIVEUP_MS the agent gives up and exits 1, as Lambda expects
 * of a runtime that lost its API. Returns with any HTTP status in *resp.
 */
static void
lambda_call(const char *api, const char *method, const char *path,
    const struct http_hdr *hdrs, const char *body, size_t len,
    struct http_resp *resp)
{
	int64_t start = proc_now_ms(), delay = LAMBDA_RETRY_FIRST_MS;

	while (http_request(api, method, path, hdrs, body, len, resp) == -1) {
		if (proc_now_ms() - start >= LAMBDA_RETRY_GIVEUP_MS) {
			envelope_say(
			    "sockerless-agent: runtime API %s %s: %s; giving up\n",
			    method, path, strerror(errno));
			exit(1);
		}
		lambda_sleep_ms(delay);
		delay *= 2;
		if (delay > LAMBDA_RETRY_MAX_MS)
			delay = LAMBDA_RETRY_MAX_MS;
	}
}

/* The invocation's container id (the event's "container"), or "-". */
static void
lambda_cid(struct lambda_inv *inv, const struct http_resp *r)
{
	char *cid = jread_str(r->body, r->body_len, "container");

	if (cid != NULL && envelope_token_ok(cid, sizeof(inv->cid)))
		strcpy(inv->cid, cid);
	else
		strcpy(inv->cid, "-");
	free(cid);
}

static void
lambda_next(const char *api, struct lambda_inv *inv)
{
	struct http_resp r;
	const char *rid, *v;

	memset(inv, 0, sizeof(*inv));
	lambda_call(
	    api, "GET", LAMBDA_BASE "/invocation/next", NULL, NULL, 0, &r);
	if (r.status != 200) {
		/* The API says the environment is unusable: exit, and
		 * Lambda starts a fresh one. */
		envelope_say(
		    "sockerless-agent: runtime API next: HTTP %d: %.200s\n",
		    r.status, r.body);
		exit(1);
	}
	rid = http_resp_header(&r, "Lambda-Runtime-Aws-Request-Id");
	if (rid == NULL || !envelope_token_ok(rid, sizeof(inv->rid))) {
		envelope_say(
		    "sockerless-agent: runtime API next: no valid request id\n");
		exit(1);
	}
	strcpy(inv->rid, rid);
	if ((v = http_resp_header(&r, "Lambda-Runtime-Deadline-Ms")) != NULL)
		inv->deadline = strtoll(v, NULL, 10);
	/* Custom runtimes pass the X-Ray trace id on to the function code. */
	if ((v = http_resp_header(&r, "Lambda-Runtime-Trace-Id")) != NULL)
		setenv("_X_AMZN_TRACE_ID", v, 1);
	else
		unsetenv("_X_AMZN_TRACE_ID");
	lambda_cid(inv, &r);
	http_resp_free(&r);
}

static void
lambda_post(const char *api, const struct lambda_inv *inv,
    const struct envelope_out *o, const struct envelope_result *res)
{
	static const struct http_hdr ok_hdrs[] = {
		{ "Content-Type", "application/json" },
		{ NULL, NULL },
	};
	static const struct http_hdr err_hdrs[] = {
		{ "Content-Type", "application/json" },
		{ "Lambda-Runtime-Function-Error-Type", LAMBDA_ERROR_TYPE },
		{ NULL, NULL },
	};
	char path[256];
	struct http_resp r;
	char *body;
	size_t len;
	int with_output, status;

	snprintf(path, sizeof(path), LAMBDA_BASE "/invocation/%s/%s", inv->rid,
	    res->code == 0 ? "response" : "error");
	for (with_output = 1; with_output >= 0; with_output--) {
		body = envelope_build(o, res, with_output, &len);
		lambda_call(api, "POST", path,
		    res->code == 0 ? ok_hdrs : err_hdrs, body, len, &r);
		free(body);
		status = r.status;
		if (status != 202 && status != 200)
			envelope_say(
			    "sockerless-agent: container %s request %s: runtime API answered HTTP %d: %.200s\n",
			    inv->cid, inv->rid, status, r.body);
		http_resp_free(&r);
		/* Only a 413 is worth another try, without the output: the
		 * exit status matters more than the output. */
		if (status != 413)
			return;
	}
}

/* Runs one invocation: the command, its output, the answer. */
static void
lambda_serve(const char *api, const struct lambda_inv *inv, char *const argv[])
{
	struct envelope_out out;
	struct envelope_result res;
	int64_t term_at = 0, kill_at = 0;

	envelope_out_init(&out);
	envelope_say("sockerless-agent: container %s request %s started\n",
	    inv->cid, inv->rid);
	if (inv->deadline > 0) {
		term_at = inv->deadline - LAMBDA_TERM_BEFORE_MS;
		kill_at = inv->deadline - LAMBDA_KILL_BEFORE_MS;
	}
	envelope_run(&out, argv, term_at, kill_at, &res);
	envelope_say(
	    "sockerless-agent: container %s request %s exit status %d%s\n",
	    inv->cid, inv->rid, res.code, res.suffix);
	lambda_post(api, inv, &out, &res);
	envelope_out_free(&out);
}

void
lambda_main(const char *api, char *const argv[])
{
	struct lambda_inv inv;

	proc_signals_init(1);
	for (;;) {
		lambda_next(api, &inv);
		lambda_serve(api, &inv, argv);
	}
}
