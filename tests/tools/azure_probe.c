/* The C Azure code against a running Azure simulator (or any Azure-like
 * endpoint), one step at a time, for tests/sim/azure/test_azprobe.py:
 *
 *   azure_probe [--cert|--federated|--mi-appservice|--mi-imds]
 *       ENVFILE ENDPOINT STEP [ARGS]... [STEP [ARGS]...]...
 *
 * ENVFILE is the simulator's credentials file (export K='V' lines:
 * AZURE_TENANT_ID, AZURE_CLIENT_ID, AZURE_CLIENT_SECRET,
 * AZURE_AUTHORITY_HOST, AZURE_SK_*); ENDPOINT the ARM and Log Analytics
 * URL. Steps: token SCOPE | put-job NAME CMD (a Manual job, busybox, sh
 * -c CMD; "": the image's command) | put-raw NAME JSON (the body as given)
 * | start JOB | wait JOB EXEC | list-jobs | logs JOB EXEC STREAM TEXT
 * (until TEXT came on STREAM 1 or 2) | stream URL TOKEN SECONDS | acr
 * HOST REPO | delete-job NAME | expire-token (the simulator's debug
 * endpoint expires the cached ARM token). Each prints one JSON line: {"step",
 * "ok", ...} or {"step", "ok": false, "status", "code", "message"}. The
 * calls run on a libevent loop as the backends' do. Exit 1 when a step
 * failed. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>
#include <event2/event.h>

#include "sockerless/azure.h"
#include "sockerless/azure_auth.h"
#include "sockerless/azure_backend.h"
#include "sockerless/httpcli.h"
#include "sockerless/reg.h"
#include "sockerless/str.h"
#include "sockerless/xmalloc.h"

#define PROBE_API "2025-07-01"

struct probe {
	struct event_base *base;
	struct httpcli *http;
	struct azure_backend ab;
	char *workspace;
	char *location;
	cJSON *out; /* the current step's line */
	int failed;
	int done;
	/* logs: the wanted line and the cursor */
	const char *want_text;
	int want_stream;
	char *cursor;
	cJSON *lines;
	time_t deadline;
	const char *job, *exec;
};

static void
probe_finish(struct probe *p)
{
	char *s = cJSON_PrintUnformatted(p->out);

	printf("%s\n", s);
	fflush(stdout);
	free(s);
	cJSON_Delete(p->out);
	p->out = NULL;
	p->done = 1;
	event_base_loopbreak(p->base);
}

static void
probe_fail(struct probe *p, int status, const char *code, const char *msg)
{
	cJSON_ReplaceItemInObject(p->out, "ok", cJSON_CreateFalse());
	cJSON_AddNumberToObject(p->out, "status", status);
	cJSON_AddStringToObject(p->out, "code", code != NULL ? code : "");
	cJSON_AddStringToObject(p->out, "message", msg != NULL ? msg : "");
	p->failed = 1;
	probe_finish(p);
}

static void
probe_cloud_fail(struct probe *p, const struct cloud_error *ce)
{
	probe_fail(p, ce->http_status, ce->code, ce->message);
}

/* Runs the loop until the step has printed its line. */
static void
probe_run(struct probe *p)
{
	while (!p->done)
		event_base_loop(p->base, EVLOOP_ONCE);
	p->done = 0;
}

/* The Microsoft.App path of rest (taken). */
static char *
probe_path(struct probe *p, char *rest)
{
	char *path =
	    xasprintf("%s/providers/Microsoft.App/%s", p->ab.rg_path, rest);

	free(rest);
	return path;
}

/* --- the environment file --- */

static int
probe_env(const char *path)
{
	FILE *f = fopen(path, "r");
	char line[4096], *eq, *v;
	size_t n;

	if (f == NULL)
		return -1;
	while (fgets(line, sizeof(line), f) != NULL) {
		line[strcspn(line, "\r\n")] = '\0';
		if (strncmp(line, "export ", 7) != 0 ||
		    (eq = strchr(line + 7, '=')) == NULL)
			continue;
		*eq = '\0';
		v = eq + 1;
		n = strlen(v);
		if (n >= 2 && (v[0] == '\'' || v[0] == '"') &&
		    v[n - 1] == v[0]) {
			v[n - 1] = '\0';
			v++;
		}
		setenv(line + 7, v, 1);
	}
	fclose(f);
	return 0;
}

/* The other credential forms: the variables azure-identity reads for
 * them, from the simulator's AZURE_SK_* ones. */
static void
probe_form(const char *form)
{
	const char *imds = getenv("AZURE_SK_IMDS_ENDPOINT");
	char *base;

	if (form == NULL)
		return;
	unsetenv("AZURE_CLIENT_SECRET");
	if (strcmp(form, "--cert") == 0) {
		setenv("AZURE_CLIENT_CERTIFICATE_PATH",
		    getenv("AZURE_SK_CERT_PATH"), 1);
	} else if (strcmp(form, "--federated") == 0) {
		setenv("AZURE_FEDERATED_TOKEN_FILE",
		    getenv("AZURE_SK_FEDERATED_TOKEN_FILE"), 1);
	} else if (strcmp(form, "--mi-appservice") == 0) {
		setenv("IDENTITY_ENDPOINT",
		    getenv("AZURE_SK_IDENTITY_ENDPOINT"), 1);
		setenv(
		    "IDENTITY_HEADER", getenv("AZURE_SK_IDENTITY_HEADER"), 1);
		setenv("AZURE_CLIENT_ID", getenv("AZURE_SK_MI_CLIENT_ID"), 1);
	} else if (imds != NULL) {
		/* AZURE_POD_IDENTITY_AUTHORITY_HOST is the host alone */
		base = xstrdup(imds);
		if (strstr(base, "/metadata/") != NULL)
			*strstr(base, "/metadata/") = '\0';
		setenv("AZURE_POD_IDENTITY_AUTHORITY_HOST", base, 1);
		setenv("AZURE_CLIENT_ID", getenv("AZURE_SK_MI_CLIENT_ID"), 1);
		free(base);
	}
}

/* --- steps --- */

static void
probe_token_cb(void *arg, const char *token, const struct err *e)
{
	struct probe *p = arg;

	if (token == NULL) {
		probe_fail(p, e->status, NULL, e->msg);
		return;
	}
	cJSON_AddNumberToObject(p->out, "length", (double)strlen(token));
	cJSON_AddStringToObject(
	    p->out, "source", azure_auth_source(p->ab.auth));
	probe_finish(p);
}

static void
probe_body_cb(void *arg, const cJSON *out, const struct cloud_error *ce)
{
	struct probe *p = arg;

	if (ce != NULL) {
		probe_cloud_fail(p, ce);
		return;
	}
	if (out != NULL)
		cJSON_AddItemToObject(
		    p->out, "body", cJSON_Duplicate(out, cJSON_True));
	probe_finish(p);
}

static cJSON *
probe_job_body(struct probe *p, const char *cmd)
{
	char *env = xasprintf("%s/providers/Microsoft.App/managedEnvironments/"
			      "sockerless-env",
	    p->ab.rg_path);
	cJSON *b = cJSON_CreateObject(), *props, *conf, *man, *tmpl, *cs, *c,
	      *res, *command;

	cJSON_AddStringToObject(b, "location", p->location);
	props = cJSON_AddObjectToObject(b, "properties");
	cJSON_AddStringToObject(props, "environmentId", env);
	free(env);
	conf = cJSON_AddObjectToObject(props, "configuration");
	cJSON_AddStringToObject(conf, "triggerType", "Manual");
	cJSON_AddNumberToObject(conf, "replicaTimeout", 120);
	cJSON_AddNumberToObject(conf, "replicaRetryLimit", 0);
	man = cJSON_AddObjectToObject(conf, "manualTriggerConfig");
	cJSON_AddNumberToObject(man, "replicaCompletionCount", 1);
	cJSON_AddNumberToObject(man, "parallelism", 1);
	tmpl = cJSON_AddObjectToObject(props, "template");
	cs = cJSON_AddArrayToObject(tmpl, "containers");
	c = cJSON_CreateObject();
	cJSON_AddItemToArray(cs, c);
	cJSON_AddStringToObject(c, "name", "main");
	cJSON_AddStringToObject(c, "image", "busybox");
	res = cJSON_AddObjectToObject(c, "resources");
	cJSON_AddNumberToObject(res, "cpu", 0.25);
	cJSON_AddStringToObject(res, "memory", "0.5Gi");
	if (cmd != NULL) {
		command = cJSON_AddArrayToObject(c, "command");
		cJSON_AddItemToArray(command, cJSON_CreateString("sh"));
		cJSON_AddItemToArray(command, cJSON_CreateString("-c"));
		cJSON_AddItemToArray(command, cJSON_CreateString(cmd));
	}
	return b;
}

static void
probe_first(void *arg, const cJSON *answer)
{
	struct probe *p = arg;
	const cJSON *name = cJSON_GetObjectItemCaseSensitive(answer, "name");

	if (cJSON_IsString(name))
		cJSON_AddStringToObject(p->out, "execution", name->valuestring);
}

static void
probe_line(cJSON *lines, const struct azure_log_entry *ev)
{
	cJSON *l = cJSON_CreateObject();
	char *text = xstrndup(ev->text, ev->len);

	cJSON_AddNumberToObject(l, "stream", ev->stream);
	cJSON_AddStringToObject(l, "text", text);
	cJSON_AddItemToArray(lines, l);
	free(text);
}

static void probe_wait_poll(evutil_socket_t fd, short what, void *arg);

static void
probe_wait_cb(void *arg, const cJSON *out, const struct cloud_error *ce)
{
	struct probe *p = arg;
	const cJSON *st = cJSON_GetObjectItemCaseSensitive(
	    cJSON_GetObjectItemCaseSensitive(out, "properties"), "status");
	struct timeval tv = { 0, 200000 };

	if (ce != NULL) {
		probe_cloud_fail(p, ce);
		return;
	}
	if (cJSON_IsString(st) && strcmp(st->valuestring, "Running") != 0 &&
	    strcmp(st->valuestring, "Processing") != 0) {
		cJSON_AddStringToObject(p->out, "status", st->valuestring);
		probe_finish(p);
		return;
	}
	if (time(NULL) > p->deadline) {
		probe_fail(p, 0, "Timeout", "the execution did not end");
		return;
	}
	event_base_once(p->base, -1, EV_TIMEOUT, probe_wait_poll, p, &tv);
}

static void
probe_wait_poll(evutil_socket_t fd, short what, void *arg)
{
	struct probe *p = arg;
	char *path =
	    probe_path(p, xasprintf("jobs/%s/executions/%s", p->job, p->exec));

	(void)fd;
	(void)what;
	azure_call(p->ab.az, "jobs.execution", "GET", path, PROBE_API, NULL,
	    NULL, 0, probe_wait_cb, p);
	free(path);
}

static void probe_logs_poll(evutil_socket_t fd, short what, void *arg);

static void
probe_logs_cb(void *arg, const struct azure_log_entry *ev, size_t n,
    const char *cursor, int more, const struct cloud_error *ce)
{
	struct probe *p = arg;
	struct timeval tv = { 0, 300000 };
	int found = p->want_text == NULL; /* "": the first answer */
	size_t i;
	cJSON *l;

	if (ce != NULL) {
		cJSON_AddItemToObject(p->out, "lines", p->lines);
		p->lines = NULL;
		probe_cloud_fail(p, ce);
		return;
	}
	for (i = 0; i < n; i++) {
		probe_line(p->lines, &ev[i]);
	}
	free(p->cursor);
	p->cursor = cursor != NULL ? xstrdup(cursor) : NULL;
	cJSON_ArrayForEach(l, p->lines) {
		const cJSON *t = cJSON_GetObjectItemCaseSensitive(l, "text");
		const cJSON *s = cJSON_GetObjectItemCaseSensitive(l, "stream");

		if (p->want_text != NULL &&
		    strcmp(t->valuestring, p->want_text) == 0 &&
		    s->valueint == p->want_stream)
			found = 1;
	}
	if (found && !more) {
		cJSON_AddItemToObject(p->out, "lines", p->lines);
		p->lines = NULL;
		probe_finish(p);
		return;
	}
	if (time(NULL) > p->deadline) {
		cJSON_AddItemToObject(p->out, "lines", p->lines);
		p->lines = NULL;
		probe_fail(p, 0, "Timeout", "the line did not come");
		return;
	}
	if (more)
		tv.tv_usec = 0;
	event_base_once(p->base, -1, EV_TIMEOUT, probe_logs_poll, p, &tv);
}

static void
probe_logs_poll(evutil_socket_t fd, short what, void *arg)
{
	struct probe *p = arg;

	(void)fd;
	(void)what;
	azure_logs_read(p->ab.az, p->workspace, p->job, p->exec, NULL,
	    p->cursor, 0, probe_logs_cb, p);
}

static void
probe_stream_cb(void *arg, const struct azure_log_entry *ev, size_t n,
    const char *cursor, int more, const struct cloud_error *ce)
{
	struct probe *p = arg;
	size_t i;

	(void)cursor;
	(void)more;
	if (ce != NULL) {
		cJSON_AddItemToObject(p->out, "lines", p->lines);
		p->lines = NULL;
		probe_cloud_fail(p, ce);
		return;
	}
	if (n == 0) {
		cJSON_AddTrueToObject(p->out, "closed");
		cJSON_AddItemToObject(p->out, "lines", p->lines);
		p->lines = NULL;
		probe_finish(p);
		return;
	}
	for (i = 0; i < n; i++) {
		probe_line(p->lines, &ev[i]);
	}
}

struct probe_stream_end {
	struct probe *p;
	uint64_t id;
};

static void
probe_stream_end(evutil_socket_t fd, short what, void *arg)
{
	struct probe_stream_end *se = arg;
	struct probe *p = se->p;

	(void)fd;
	(void)what;
	if (p->lines == NULL)
		return; /* closed already */
	azure_cancel(p->ab.az, se->id);
	cJSON_AddFalseToObject(p->out, "closed");
	cJSON_AddItemToObject(p->out, "lines", p->lines);
	p->lines = NULL;
	probe_finish(p);
}

static void
probe_acr_cb(void *arg, const struct reg_image *img, const struct err *e)
{
	struct probe *p = arg;

	if (img == NULL) {
		probe_fail(p, e->status, NULL, e->msg);
		return;
	}
	cJSON_AddStringToObject(p->out, "digest", img->digest);
	probe_finish(p);
}

/* One step from argv[*i]; its arguments consumed. -1: a usage error. */
static int
probe_step(struct probe *p, int argc, char **argv, int *i)
{
	const char *s = argv[(*i)++];
	char *path = NULL;
	int nargs = strcmp(s, "token") == 0 ? 1 :
	    strcmp(s, "put-job") == 0	    ? 2 :
	    strcmp(s, "put-raw") == 0	    ? 2 :
	    strcmp(s, "start") == 0	    ? 1 :
	    strcmp(s, "wait") == 0	    ? 2 :
	    strcmp(s, "list-jobs") == 0	    ? 0 :
	    strcmp(s, "expire-token") == 0  ? 0 :
	    strcmp(s, "logs") == 0	    ? 4 :
	    strcmp(s, "stream") == 0	    ? 3 :
	    strcmp(s, "acr") == 0	    ? 2 :
	    strcmp(s, "delete-job") == 0    ? 1 :
					      -1;
	char **a = argv + *i;

	if (nargs < 0 || *i + nargs > argc) {
		fprintf(stderr, "azure_probe: bad step %s\n", s);
		return -1;
	}
	*i += nargs;
	p->out = cJSON_CreateObject();
	cJSON_AddStringToObject(p->out, "step", s);
	cJSON_AddTrueToObject(p->out, "ok");
	p->deadline = time(NULL) + 90;
	if (strcmp(s, "token") == 0) {
		azure_auth_token(p->ab.auth, a[0], probe_token_cb, p);
	} else if (strcmp(s, "put-job") == 0) {
		path = probe_path(p, xasprintf("jobs/%s", a[0]));
		azure_lro(p->ab.az, "jobs.createOrUpdate", "PUT", path,
		    PROBE_API, probe_job_body(p, a[1][0] != '\0' ? a[1] : NULL),
		    1, 120, NULL, probe_body_cb, p);
	} else if (strcmp(s, "put-raw") == 0) {
		path = probe_path(p, xasprintf("jobs/%s", a[0]));
		azure_lro(p->ab.az, "jobs.createOrUpdate", "PUT", path,
		    PROBE_API, cJSON_Parse(a[1]), 1, 120, NULL, probe_body_cb,
		    p);
	} else if (strcmp(s, "start") == 0) {
		path = probe_path(p, xasprintf("jobs/%s/start", a[0]));
		azure_lro(p->ab.az, "jobs.start", "POST", path, PROBE_API, NULL,
		    0, 120, probe_first, probe_body_cb, p);
	} else if (strcmp(s, "wait") == 0) {
		p->job = a[0];
		p->exec = a[1];
		probe_wait_poll(-1, 0, p);
	} else if (strcmp(s, "expire-token") == 0) {
		/* the simulator's debug endpoint: the cached ARM token is
		 * expired there, as a restarted simulator would forget it */
		cJSON *b = cJSON_CreateObject();

		cJSON_AddStringToObject(b, "token",
		    azure_auth_token_cached(p->ab.auth, AZURE_SCOPE_ARM));
		path = xasprintf("%s/_sim/tokens/expire", p->ab.endpoint);
		azure_call(p->ab.az, "sim.expire", "POST", path, NULL, NULL, b,
		    1, probe_body_cb, p);
	} else if (strcmp(s, "list-jobs") == 0) {
		path = probe_path(p, xstrdup("jobs"));
		azure_list(p->ab.az, "jobs.listByResourceGroup", path,
		    PROBE_API, NULL, 0, probe_body_cb, p);
	} else if (strcmp(s, "logs") == 0) {
		p->job = a[0];
		p->exec = a[1];
		p->want_stream = atoi(a[2]);
		p->want_text = a[3][0] != '\0' ? a[3] : NULL;
		free(p->cursor);
		p->cursor = NULL;
		p->lines = cJSON_CreateArray();
		probe_logs_poll(-1, 0, p);
	} else if (strcmp(s, "stream") == 0) {
		static struct probe_stream_end se;
		struct timeval tv = { atoi(a[2]), 0 };

		p->lines = cJSON_CreateArray();
		se.p = p;
		se.id = azure_logstream(
		    p->ab.az, a[0], a[1], 100, probe_stream_cb, p);
		event_base_once(
		    p->base, -1, EV_TIMEOUT, probe_stream_end, &se, &tv);
	} else if (strcmp(s, "acr") == 0) {
		struct reg_client *rc;
		struct reg_config rcfg;
		struct strv insecure;
		struct err e;
		char *ref = xasprintf("%s/%s", a[0], a[1]);

		strv_init(&insecure);
		strv_add(&insecure, "127.0.0.0/8");
		memset(&rcfg, 0, sizeof(rcfg));
		rcfg.insecure = &insecure;
		free(p->ab.registry_hosts);
		p->ab.registry_hosts = xstrdup(a[0]);
		rc = reg_client_new(p->base, p->http, &rcfg, &e);
		azure_backend_close(&p->ab);
		if (rc == NULL ||
		    azure_backend_open(&p->ab, p->base, p->http, rc, &e) ==
			-1 ||
		    reg_resolve(rc, ref, NULL, probe_acr_cb, p, &e) == -1)
			probe_fail(p, e.status, NULL, e.msg);
		else
			probe_run(p);
		free(ref);
		/* the registry client goes first: the session unhooks */
		azure_backend_close(&p->ab);
		if (rc != NULL)
			reg_client_free(rc);
		strv_free(&insecure);
		if (azure_backend_open(&p->ab, p->base, p->http, NULL, &e) ==
		    -1)
			return -1;
		return 0;
	} else {
		path = probe_path(p, xasprintf("jobs/%s", a[0]));
		azure_lro(p->ab.az, "jobs.delete", "DELETE", path, PROBE_API,
		    NULL, 0, 120, NULL, probe_body_cb, p);
	}
	free(path);
	probe_run(p);
	return 0;
}

int
main(int argc, char **argv)
{
	struct probe p;
	struct err e;
	const char *form = NULL;
	int i = 1;

	memset(&p, 0, sizeof(p));
	if (i < argc && strncmp(argv[i], "--", 2) == 0)
		form = argv[i++];
	if (argc - i < 3 || probe_env(argv[i]) == -1) {
		fprintf(stderr,
		    "usage: azure_probe [--cert|--federated|"
		    "--mi-appservice|--mi-imds] ENVFILE ENDPOINT "
		    "STEP [ARGS]...\n");
		return 2;
	}
	probe_form(form);
	p.base = event_base_new();
	p.http = httpcli_new(p.base);
	p.ab.subscription = xstrdup(getenv("AZURE_SUBSCRIPTION_ID"));
	p.ab.resource_group = xstrdup(getenv("AZURE_SK_RESOURCE_GROUP"));
	p.ab.location = xstrdup(getenv("AZURE_SK_LOCATION"));
	p.ab.endpoint = xstrdup(argv[i + 1]);
	p.ab.endpoint_logs = xstrdup(argv[i + 1]);
	p.location = p.ab.location;
	p.workspace = getenv("AZURE_SK_WORKSPACE_ID");
	if (azure_backend_open(&p.ab, p.base, p.http, NULL, &e) == -1) {
		p.out = cJSON_CreateObject();
		cJSON_AddStringToObject(p.out, "step", "open");
		cJSON_AddTrueToObject(p.out, "ok");
		probe_fail(&p, e.status, NULL, e.msg);
		goto out;
	}
	for (i += 2; i < argc;)
		if (probe_step(&p, argc, argv, &i) == -1) {
			p.failed = 2;
			break;
		}
out:
	azure_backend_close(&p.ab);
	free(p.ab.subscription);
	free(p.ab.resource_group);
	free(p.ab.location);
	free(p.ab.endpoint);
	free(p.ab.endpoint_logs);
	free(p.ab.registry_hosts);
	free(p.cursor);
	cJSON_Delete(p.lines);
	httpcli_free(p.http);
	event_base_free(p.base);
	return p.failed;
}
