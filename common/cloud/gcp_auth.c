/* Application Default Credentials: finding the credentials, the token
 * cache refreshed ahead of expiry, and the waiters of one shared fetch
 * per token (the access token, or an ID token per audience). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <openssl/crypto.h>

#include "sockerless/buf.h"
#include "sockerless/gcp_auth.h"
#include "sockerless/log.h"
#include "sockerless/str.h"
#include "sockerless/xmalloc.h"

#include "cloud_cred.h"
#include "cloud_tokq.h"
#include "gcp_auth_int.h"

static int64_t
gcp_auth_time(void)
{
	return (int64_t)time(NULL);
}

int64_t (*gcp_auth_now)(void) = gcp_auth_time;
const char *gcp_auth_dmi_path = "/sys/class/dmi/id/product_name";

/* One token: the cached value and the fetch in flight with its waiters. */
struct gcp_auth_slot {
	TAILQ_ENTRY(gcp_auth_slot) entry;
	struct gcp_auth *a;
	char *audience; /* NULL: the access token */
	struct gcp_tok tok;
	struct gcp_flow flow;
	int fetching;
	uint64_t http_id;
	struct cloud_tokws waiters;
};
TAILQ_HEAD(gcp_auth_slots, gcp_auth_slot);

struct gcp_auth {
	struct httpcli *http, *own_http;
	struct gcp_auth_conf conf; /* strings owned */
	struct gcp_cred cred;
	char *source;
	struct gcp_auth_slots slots;
	struct cloud_tokq q; /* the waiters' delivery */
	struct event *ev_refresh;
};

static const char *
gcp_auth_env(const char *name)
{
	const char *v = getenv(name);

	return v != NULL && *v != '\0' ? v : NULL;
}

/* --- finding the credentials --- */

static int
gcp_auth_load(
    struct gcp_auth *a, const char *path, const char *what, struct err *e)
{
	char *text = cloud_cred_read_file(path, e);
	int rc;

	if (text == NULL)
		return -1;
	gcp_auth_cred_clear(&a->cred); /* the parse starts afresh */
	rc = gcp_auth_cred_parse(&a->cred, text, strlen(text), path, e);
	OPENSSL_cleanse(text, strlen(text));
	free(text);
	if (rc == -1)
		return -1;
	if (a->cred.type == GCP_CRED_SERVICE_ACCOUNT)
		a->source = xasprintf(
		    "service account %s (%s %s)", a->cred.email, what, path);
	else if (a->cred.type == GCP_CRED_AUTHORIZED_USER)
		a->source = xasprintf("authorized user (%s %s)", what, path);
	else
		a->source = xasprintf("workload identity federation%s%s (%s "
				      "%s)",
		    a->cred.email ? " as " : "",
		    a->cred.email ? a->cred.email : "", what, path);
	return 0;
}

static char *
gcp_auth_gcloud_path(void)
{
	const char *d = gcp_auth_env("CLOUDSDK_CONFIG"), *home;

	if (d != NULL)
		return xasprintf("%s/application_default_credentials.json", d);
	if ((home = gcp_auth_env("HOME")) == NULL)
		return NULL;
	return xasprintf(
	    "%s/.config/gcloud/application_default_credentials.json", home);
}

/* On Google's compute without asking the network: the machine says so
 * (GCE, GKE), or the serverless runtimes' own variables are set. */
static int
gcp_auth_on_google(void)
{
	static const char *const vars[] = { "K_SERVICE", "CLOUD_RUN_JOB",
		"FUNCTION_TARGET", "GAE_SERVICE" };
	char line[128] = "";
	FILE *f;

	for (size_t i = 0; i < sizeof(vars) / sizeof(vars[0]); i++)
		if (gcp_auth_env(vars[i]) != NULL)
			return 1;
	if ((f = fopen(gcp_auth_dmi_path, "r")) == NULL)
		return 0;
	if (fgets(line, sizeof(line), f) == NULL)
		line[0] = '\0';
	fclose(f);
	return str_prefix(line, "Google");
}

static int
gcp_auth_metadata(struct gcp_auth *a, struct buf *why)
{
	const char *h = a->conf.metadata_host;
	const char *no = gcp_auth_env("NO_GCE_CHECK");

	if (h == NULL)
		h = gcp_auth_env("GCE_METADATA_HOST");
	if (h == NULL)
		h = gcp_auth_env("GCE_METADATA_ROOT");
	if (h == NULL && (no == NULL || strcmp(no, "True") != 0) &&
	    gcp_auth_on_google())
		h = GCP_AUTH_METADATA_HOST;
	if (h == NULL) {
		buf_adds(why,
		    "the metadata server: not on Google Cloud and "
		    "GCE_METADATA_HOST not set");
		return -1;
	}
	a->cred.type = GCP_CRED_METADATA;
	a->cred.md_host = xstrdup(h);
	a->source = xasprintf("metadata server %s", h);
	return 0;
}

static int
gcp_auth_find(struct gcp_auth *a, struct err *e)
{
	const char *env = gcp_auth_env("GOOGLE_APPLICATION_CREDENTIALS");
	char *gc;
	struct buf why;
	int rc = -1;

	if (a->conf.credentials_file != NULL)
		return gcp_auth_load(
		    a, a->conf.credentials_file, "credentials_file", e);
	if (env != NULL)
		return gcp_auth_load(
		    a, env, "GOOGLE_APPLICATION_CREDENTIALS", e);
	buf_init(&why, 0);
	buf_adds(&why, "GOOGLE_APPLICATION_CREDENTIALS: not set; ");
	gc = gcp_auth_gcloud_path();
	if (gc != NULL && access(gc, F_OK) == 0) {
		rc = gcp_auth_load(a, gc, "gcloud ADC file", e);
		goto out;
	}
	buf_addf(&why, "the gcloud ADC file %s: absent; ",
	    gc != NULL ? gc :
			 "~/.config/gcloud/application_default_"
			 "credentials.json (HOME not set)");
	if ((rc = gcp_auth_metadata(a, &why)) == -1)
		err_set(e, 500,
		    "no Google credentials found (looked at %s); set "
		    "credentials_file in the backend's configuration or "
		    "GOOGLE_APPLICATION_CREDENTIALS to a key file, run "
		    "`gcloud auth application-default login`, or set "
		    "GCE_METADATA_HOST",
		    why.data);
out:
	buf_free(&why);
	free(gc);
	return rc;
}

static void
gcp_auth_conf_copy(struct gcp_auth_conf *d, const struct gcp_auth_conf *s)
{
	memset(d, 0, sizeof(*d));
	if (s == NULL)
		return;
	d->credentials_file = xstrdup(s->credentials_file);
	d->token_uri = xstrdup(s->token_uri);
	d->sts_endpoint = xstrdup(s->sts_endpoint);
	d->iamcredentials_endpoint = xstrdup(s->iamcredentials_endpoint);
	d->metadata_host = xstrdup(s->metadata_host);
	d->scope = xstrdup(s->scope);
}

static void
gcp_auth_conf_free(struct gcp_auth_conf *c)
{
	free((char *)c->credentials_file);
	free((char *)c->token_uri);
	free((char *)c->sts_endpoint);
	free((char *)c->iamcredentials_endpoint);
	free((char *)c->metadata_host);
	free((char *)c->scope);
}

static void
gcp_auth_free_owner(void *a)
{
	gcp_auth_free(a);
}

static void gcp_auth_refresh_due(evutil_socket_t fd, short ev, void *arg);

struct gcp_auth *
gcp_auth_new(struct event_base *base, struct httpcli *http,
    const struct gcp_auth_conf *conf, struct err *e)
{
	struct gcp_auth *a = xcalloc(1, sizeof(*a));

	a->http = http;
	TAILQ_INIT(&a->slots);
	cloud_tokq_init(&a->q, base, gcp_auth_free_owner, a);
	strv_init(&a->cred.src_headers);
	gcp_auth_conf_copy(&a->conf, conf);
	if (gcp_auth_find(a, e) == -1) {
		gcp_auth_free(a);
		return NULL;
	}
	if (base != NULL) {
		if (http == NULL)
			a->http = a->own_http = httpcli_new(base);
		a->ev_refresh = evtimer_new(base, gcp_auth_refresh_due, a);
	}
	log_info("gcp: credentials from %s", a->source);
	return a;
}

static void
gcp_auth_slot_free(struct gcp_auth_slot *s)
{
	if (s->fetching && s->http_id != 0)
		httpcli_cancel(s->a->http, s->http_id);
	cloud_tokq_free_list(&s->waiters);
	gcp_auth_flow_clear(&s->flow);
	gcp_auth_flow_tok_clear(&s->tok);
	free(s->audience);
	free(s);
}

void
gcp_auth_free(struct gcp_auth *a)
{
	struct gcp_auth_slot *s;

	/* freed from a callback: after it returns */
	if (a == NULL || cloud_tokq_defer_free(&a->q))
		return;
	while ((s = TAILQ_FIRST(&a->slots)) != NULL) {
		TAILQ_REMOVE(&a->slots, s, entry);
		gcp_auth_slot_free(s);
	}
	cloud_tokq_clear(&a->q);
	if (a->ev_refresh != NULL)
		event_free(a->ev_refresh);
	if (a->own_http != NULL)
		httpcli_free(a->own_http);
	gcp_auth_cred_clear(&a->cred);
	gcp_auth_conf_free(&a->conf);
	free(a->source);
	free(a);
}

const char *
gcp_auth_source(const struct gcp_auth *a)
{
	return a->source;
}

const char *
gcp_auth_project(const struct gcp_auth *a)
{
	return a->cred.project;
}

const char *
gcp_auth_email(const struct gcp_auth *a)
{
	return a->cred.email;
}

/* --- the cache --- */

static struct gcp_auth_slot *
gcp_auth_slot(struct gcp_auth *a, const char *audience)
{
	struct gcp_auth_slot *s;

	TAILQ_FOREACH(s, &a->slots, entry) {
		if ((audience == NULL && s->audience == NULL) ||
		    (audience != NULL && s->audience != NULL &&
			strcmp(audience, s->audience) == 0))
			return s;
	}
	s = xcalloc(1, sizeof(*s));
	s->a = a;
	s->audience = audience != NULL ? xstrdup(audience) : NULL;
	TAILQ_INIT(&s->waiters);
	TAILQ_INSERT_TAIL(&a->slots, s, entry);
	return s;
}

static const char *
gcp_auth_slot_valid(const struct gcp_auth_slot *s)
{
	if (s->tok.token == NULL ||
	    s->tok.exp - gcp_auth_now() < GCP_AUTH_MIN_VALID)
		return NULL;
	return s->tok.token;
}

const char *
gcp_auth_token_cached(struct gcp_auth *a)
{
	return gcp_auth_slot_valid(gcp_auth_slot(a, NULL));
}

/* The metadata server's project and account arrive with its token. */
static void
gcp_auth_adopt(struct gcp_auth *a, struct gcp_flow *f)
{
	if (a->cred.project == NULL && f->md_project != NULL) {
		a->cred.project = f->md_project;
		f->md_project = NULL;
	}
	if (a->cred.email == NULL && f->md_email != NULL) {
		a->cred.email = f->md_email;
		f->md_email = NULL;
	}
}

static void
gcp_auth_schedule(struct gcp_auth *a, const struct gcp_tok *t)
{
	int64_t left = t->exp - gcp_auth_now(), in;
	struct timeval tv;

	if (a->ev_refresh == NULL)
		return;
	in = left - GCP_AUTH_REFRESH_AHEAD;
	if (in < 1) /* a short-lived token: halfway through its life */
		in = left / 2 > 1 ? left / 2 : 1;
	tv.tv_sec = (time_t)in;
	tv.tv_usec = 0;
	evtimer_add(a->ev_refresh, &tv);
}

static void
gcp_auth_store(struct gcp_auth_slot *s, struct gcp_tok *t)
{
	gcp_auth_flow_tok_clear(&s->tok);
	s->tok = *t;
	memset(t, 0, sizeof(*t));
	if (s->audience == NULL)
		gcp_auth_schedule(s->a, &s->tok);
}

int
gcp_auth_token_sync(struct gcp_auth *a, char **token, struct err *e)
{
	struct gcp_auth_slot *s = gcp_auth_slot(a, NULL);
	struct gcp_tok t = { 0 };
	struct gcp_flow f;
	struct httpcli_req *r;
	struct httpcli_resp *resp;
	int rc = 0;

	if (gcp_auth_slot_valid(s) != NULL) {
		*token = xstrdup(s->tok.token);
		return 0;
	}
	gcp_auth_flow_init(&f, &a->cred, &a->conf, NULL);
	while (rc == 0) {
		if ((r = gcp_auth_flow_req(&f, e)) == NULL) {
			rc = -1;
			break;
		}
		resp = httpcli_perform(r);
		rc = gcp_auth_flow_resp(&f, resp, &t, e);
		httpcli_resp_free(resp);
	}
	if (rc == 1) {
		gcp_auth_adopt(a, &f);
		gcp_auth_store(s, &t);
		*token = xstrdup(s->tok.token);
	} else {
		err_wrap(e, "getting a Google access token from %s", a->source);
		gcp_auth_flow_tok_clear(&t);
	}
	gcp_auth_flow_clear(&f);
	return rc == 1 ? 0 : -1;
}

/* --- the event-driven fetch --- */

static void
gcp_auth_finish(struct gcp_auth_slot *s, const struct err *e)
{
	struct gcp_auth *a = s->a;

	s->fetching = 0;
	s->http_id = 0;
	gcp_auth_flow_clear(&s->flow);
	if (e != NULL && s->audience == NULL && TAILQ_EMPTY(&s->waiters))
		log_warnx("gcp: refreshing the access token: %s", e->msg);
	cloud_tokq_finish(
	    &a->q, &s->waiters, e == NULL ? s->tok.token : NULL, e);
	/* A failed refresh retries while the old token still works. */
	if (e != NULL && s->audience == NULL && s->tok.token != NULL &&
	    s->tok.exp > gcp_auth_now()) {
		struct timeval tv = { 30, 0 };

		evtimer_add(a->ev_refresh, &tv);
	}
}

static void gcp_auth_step(struct gcp_auth_slot *s);

static void
gcp_auth_got(struct httpcli_resp *resp, void *arg)
{
	struct gcp_auth_slot *s = arg;
	struct gcp_tok t = { 0 };
	struct err e;
	int rc;

	s->http_id = 0;
	rc = gcp_auth_flow_resp(&s->flow, resp, &t, &e);
	if (rc == 0) {
		gcp_auth_flow_tok_clear(&t);
		gcp_auth_step(s);
		return;
	}
	if (rc == 1) {
		gcp_auth_adopt(s->a, &s->flow);
		gcp_auth_store(s, &t);
		gcp_auth_finish(s, NULL);
		return;
	}
	gcp_auth_flow_tok_clear(&t);
	err_wrap(&e, "getting a Google %s token from %s",
	    s->audience ? "ID" : "access", s->a->source);
	gcp_auth_finish(s, &e);
}

static void
gcp_auth_step(struct gcp_auth_slot *s)
{
	struct httpcli_req *r;
	struct err e;

	if ((r = gcp_auth_flow_req(&s->flow, &e)) == NULL) {
		err_wrap(&e, "getting a Google %s token from %s",
		    s->audience ? "ID" : "access", s->a->source);
		gcp_auth_finish(s, &e);
		return;
	}
	s->http_id = httpcli_send(s->a->http, r, gcp_auth_got, s);
}

static void
gcp_auth_fetch(struct gcp_auth_slot *s)
{
	if (s->fetching)
		return;
	s->fetching = 1;
	gcp_auth_flow_init(&s->flow, &s->a->cred, &s->a->conf, s->audience);
	gcp_auth_step(s);
}

static void
gcp_auth_refresh_due(evutil_socket_t fd, short ev, void *arg)
{
	struct gcp_auth *a = arg;

	(void)fd;
	(void)ev;
	gcp_auth_fetch(gcp_auth_slot(a, NULL));
}

static uint64_t
gcp_auth_want(
    struct gcp_auth *a, const char *audience, gcp_token_cb cb, void *arg)
{
	struct gcp_auth_slot *s = gcp_auth_slot(a, audience);
	uint64_t id;

	if (gcp_auth_slot_valid(s) != NULL)
		return cloud_tokq_now(&a->q, cb, arg, s->tok.token, NULL);
	id = cloud_tokq_wait(&a->q, &s->waiters, cb, arg);
	gcp_auth_fetch(s);
	return id;
}

uint64_t
gcp_auth_token(struct gcp_auth *a, gcp_token_cb cb, void *arg)
{
	return gcp_auth_want(a, NULL, cb, arg);
}

uint64_t
gcp_auth_id_token(
    struct gcp_auth *a, const char *audience, gcp_token_cb cb, void *arg)
{
	return gcp_auth_want(a, audience, cb, arg);
}

void
gcp_auth_cancel(struct gcp_auth *a, uint64_t id)
{
	struct gcp_auth_slot *s;

	if (cloud_tokq_drop(&a->q, NULL, id))
		return;
	TAILQ_FOREACH(s, &a->slots, entry) {
		if (cloud_tokq_drop(&a->q, &s->waiters, id))
			return;
	}
}
