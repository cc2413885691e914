/* The pool of stub functions (docs/backend-gcf.md): each made once
 * (generateUploadUrl, PUT of the stub's zip, functions.create), its Cloud
 * Run service pointed at a derived image when a run needs another one
 * (services.patch), handed to one run at a time, deleted after
 * gcf.pool_idle without use. A full pool makes starts wait up to
 * gcf.pool_wait, then answer 503. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>

#include <event2/event.h>

#include "gcf.h"
#include "sockerless/httpcli.h"
#include "sockerless/json.h"
#include "sockerless/log.h"
#include "sockerless/str.h"
#include "sockerless/xmalloc.h"

#define GCF_POOL_TICK_MS 1000
#define GCF_STUB_ENTRY	 "main"

static const char gcf_stub_main[] =
    "# sockerless gcf: a pool slot. The backend points this function's\n"
    "# Cloud Run service at a derived image before every use; this code\n"
    "# only answers while it is not pointed.\n"
    "def " GCF_STUB_ENTRY "(request):\n"
    "    return ('sockerless: this function is a pool slot that is not\\n'\n"
    "            'pointed at an image yet\\n', 503)\n";

enum gcf_slot_state {
	GCF_SLOT_CREATING,
	GCF_SLOT_POINTING,
	GCF_SLOT_FREE,
	GCF_SLOT_BUSY,
	GCF_SLOT_DELETING
};

struct gcf_slot {
	TAILQ_ENTRY(gcf_slot) entry;
	int n;
	char *name;    /* function id */
	char *service; /* projects/P/locations/L/services/S */
	char *url;
	char *image; /* what the service runs; NULL: unknown or the stub */
	long long mib, timeout_s;
	enum gcf_slot_state state;
	int64_t idle_since_ns;
	int64_t quiet_until_ns; /* an abandoned run may still be there */
	/* the take waiting for this slot's creation or pointing */
	gcf_slot_cb cb;
	void *arg;
	char *want_image;
	long long want_mib, want_timeout;
};

struct gcf_wait {
	TAILQ_ENTRY(gcf_wait) entry;
	char *image;
	long long mib, timeout_s;
	int64_t deadline_ns;
	gcf_slot_cb cb;
	void *arg;
};

/* Quiet times asked for before the pool was listed. */
struct gcf_quiet {
	TAILQ_ENTRY(gcf_quiet) entry;
	char *name;
	int64_t until_ns;
};
static TAILQ_HEAD(, gcf_quiet) gcf_quiets = TAILQ_HEAD_INITIALIZER(gcf_quiets);

static TAILQ_HEAD(, gcf_slot) gcf_slots = TAILQ_HEAD_INITIALIZER(gcf_slots);
static TAILQ_HEAD(, gcf_wait) gcf_waits = TAILQ_HEAD_INITIALIZER(gcf_waits);
static struct event *gcf_pool_timer;

static void gcf_pool_point(struct gcf_slot *s);

const char *
gcf_slot_url(const struct gcf_slot *s)
{
	return s->url;
}

const char *
gcf_slot_name(const struct gcf_slot *s)
{
	return s->name;
}

static void
gcf_slot_free(struct gcf_slot *s)
{
	free(s->name);
	free(s->service);
	free(s->url);
	free(s->image);
	free(s->want_image);
	free(s);
}

static void
gcf_pool_drop(struct gcf_slot *s)
{
	TAILQ_REMOVE(&gcf_slots, s, entry);
	gcf_slot_free(s);
}

/* The instance as a label value (Google's label rules). */
static void
gcf_pool_instance_label(char *out, size_t outsz)
{
	gcp_label_value(backend_instance(gcf.b), out, outsz);
}

/* Ends the waiting take of s with s (busy) or with e. */
static void
gcf_pool_answer(struct gcf_slot *s, const struct err *e)
{
	gcf_slot_cb cb = s->cb;
	void *arg = s->arg;

	s->cb = NULL;
	s->arg = NULL;
	if (e == NULL) {
		s->state = GCF_SLOT_BUSY;
		cb(arg, s, NULL);
	} else {
		cb(arg, NULL, e);
	}
}

static void
gcf_pool_cloud_err(const struct cloud_error *ce, struct err *e,
    const char *what, const char *name)
{
	cloud_error_to_err(gcp_provider(), ce, e);
	err_wrap(e, "%s Cloud Run function %s", what, name);
}

/* --- deleting ------------------------------------------------------------- */

static void
gcf_pool_deleted(void *arg, const cJSON *out, const struct cloud_error *ce)
{
	struct gcf_slot *s = arg;

	(void)out;
	if (ce != NULL && ce->http_status != 404) {
		log_warnx("deleting pool function %s: %s: %s; will retry",
		    s->name, ce->code, ce->message);
		s->state = GCF_SLOT_FREE;
		s->idle_since_ns = str_now_ns();
		return;
	}
	log_info("deleted idle pool function %s", s->name);
	gcf_pool_drop(s);
}

static void
gcf_pool_delete(struct gcf_slot *s)
{
	char *path = xasprintf("v2/%s/functions/%s", gcf.gb.parent, s->name);

	s->state = GCF_SLOT_DELETING;
	gcp_lro(gcf.gb.gcp, "cloudfunctions", "functions.delete", "DELETE",
	    path, NULL, NULL, (int)gcf_conf.deploy_timeout, NULL,
	    gcf_pool_deleted, s);
	free(path);
}

/* --- pointing the service at an image ------------------------------------- */

static void
gcf_pool_pointed(void *arg, const cJSON *out, const struct cloud_error *ce)
{
	struct gcf_slot *s = arg;
	struct err e;

	(void)out;
	if (ce != NULL) {
		free(s->image);
		s->image = NULL; /* unknown now: the next use re-points */
		s->state = GCF_SLOT_FREE;
		s->idle_since_ns = str_now_ns();
		gcf_pool_cloud_err(ce, &e, "pointing", s->name);
		if (e.status < 400 || e.status == 404)
			e.status = 500;
		gcf_pool_answer(s, &e);
		return;
	}
	free(s->image);
	s->image = s->want_image;
	s->want_image = NULL;
	s->mib = s->want_mib;
	s->timeout_s = s->want_timeout;
	gcf_pool_answer(s, NULL);
}

/* The service's template: one container running the derived image with
 * the agent as its HTTP runtime, one request at a time on one instance. */
static cJSON *
gcf_pool_template(const struct gcf_slot *s)
{
	cJSON *t = cJSON_CreateObject(), *c = cJSON_CreateObject(), *o, *a;
	char buf[64];

	json_add_str(c, "image", s->want_image);
	a = cJSON_CreateArray();
	o = cJSON_CreateObject();
	json_add_str(o, "name", "SOCKERLESS_HTTP_RUNTIME");
	json_add_str(o, "value", "1");
	cJSON_AddItemToArray(a, o);
	cJSON_AddItemToObject(c, "env", a);
	o = cJSON_CreateObject();
	a = cJSON_CreateObject();
	snprintf(buf, sizeof(buf), "%lldMi", s->want_mib);
	json_add_str(a, "memory", buf);
	json_add_str(a, "cpu", "1");
	cJSON_AddItemToObject(o, "limits", a);
	cJSON_AddItemToObject(c, "resources", o);
	a = cJSON_CreateArray();
	o = cJSON_CreateObject();
	json_add_int(o, "containerPort", 8080);
	cJSON_AddItemToArray(a, o);
	cJSON_AddItemToObject(c, "ports", a);
	a = cJSON_CreateArray();
	cJSON_AddItemToArray(a, c);
	cJSON_AddItemToObject(t, "containers", a);
	o = cJSON_CreateObject();
	json_add_int(o, "maxInstanceCount", 1);
	cJSON_AddItemToObject(t, "scaling", o);
	json_add_int(t, "maxInstanceRequestConcurrency", 1);
	gcp_duration(buf, sizeof(buf), s->want_timeout);
	json_add_str(t, "timeout", buf);
	if (gcf_conf.service_account != NULL &&
	    gcf_conf.service_account[0] != '\0')
		json_add_str(t, "serviceAccount", gcf_conf.service_account);
	return t;
}

static void
gcf_pool_point(struct gcf_slot *s)
{
	cJSON *body = cJSON_CreateObject();
	char *path = xasprintf("v2/%s", s->service);

	s->state = GCF_SLOT_POINTING;
	cJSON_AddItemToObject(body, "template", gcf_pool_template(s));
	gcp_lro(gcf.gb.gcp, "run", "services.patch", "PATCH", path,
	    "updateMask=template", body, (int)gcf_conf.deploy_timeout, NULL,
	    gcf_pool_pointed, s);
	free(path);
}

/* --- creating a stub ------------------------------------------------------ */

static void
gcf_pool_discarded(void *arg, const cJSON *out, const struct cloud_error *ce)
{
	char *name = arg;

	(void)out;
	if (ce != NULL && ce->http_status != 404)
		log_warnx("deleting function %s of a failed create: %s: %s",
		    name, ce->code, ce->message);
	free(name);
}

/* A create that failed after the function may exist: it goes. */
static void
gcf_pool_create_failed(struct gcf_slot *s, struct err *e)
{
	char *path = xasprintf("v2/%s/functions/%s", gcf.gb.parent, s->name);

	gcp_lro(gcf.gb.gcp, "cloudfunctions", "functions.delete", "DELETE",
	    path, NULL, NULL, (int)gcf_conf.deploy_timeout, NULL,
	    gcf_pool_discarded, xstrdup(s->name));
	free(path);
	TAILQ_REMOVE(&gcf_slots, s, entry);
	gcf_pool_answer(s, e);
	gcf_slot_free(s);
}

static void
gcf_pool_created(void *arg, const cJSON *fn, const struct cloud_error *ce)
{
	struct gcf_slot *s = arg;
	const cJSON *sc = json_obj(fn, "serviceConfig");
	struct err e;

	if (ce != NULL) {
		gcf_pool_cloud_err(ce, &e, "creating", s->name);
		gcf_pool_create_failed(s, &e);
		return;
	}
	if (json_str(fn, "url") == NULL || json_str(sc, "service") == NULL) {
		err_set(&e, 502,
		    "Cloud Functions made function %s without a URL or a "
		    "service (state %s)",
		    s->name,
		    json_str(fn, "state") ? json_str(fn, "state") : "unknown");
		gcf_pool_create_failed(s, &e);
		return;
	}
	s->url = xstrdup(json_str(fn, "url"));
	s->service = xstrdup(json_str(sc, "service"));
	log_info("pool function %s made (%s)", s->name, s->url);
	gcf_pool_point(s);
}

static cJSON *
gcf_pool_function(const cJSON *storage)
{
	cJSON *fn = cJSON_CreateObject(), *o, *src;
	char label[64], mem[32];

	o = cJSON_CreateObject();
	json_add_str(o, "runtime", gcf_conf.runtime);
	json_add_str(o, "entryPoint", GCF_STUB_ENTRY);
	src = cJSON_CreateObject();
	cJSON_AddItemToObject(
	    src, "storageSource", cJSON_Duplicate(storage, 1));
	cJSON_AddItemToObject(o, "source", src);
	cJSON_AddItemToObject(fn, "buildConfig", o);
	o = cJSON_CreateObject();
	json_add_int(o, "maxInstanceCount", 1);
	json_add_int(o, "maxInstanceRequestConcurrency", 1);
	snprintf(mem, sizeof(mem), "%lldMi", gcf_conf.memory);
	json_add_str(o, "availableMemory", mem);
	json_add_int(o, "timeoutSeconds", gcf_conf.timeout);
	json_add_str(o, "ingressSettings", "ALLOW_ALL");
	if (gcf_conf.service_account != NULL &&
	    gcf_conf.service_account[0] != '\0')
		json_add_str(
		    o, "serviceAccountEmail", gcf_conf.service_account);
	cJSON_AddItemToObject(fn, "serviceConfig", o);
	o = cJSON_CreateObject();
	gcf_pool_instance_label(label, sizeof(label));
	json_add_str(o, GCF_LABEL_INSTANCE, label);
	json_add_str(o, GCF_LABEL_POOL, "1");
	cJSON_AddItemToObject(fn, "labels", o);
	json_add_str(fn, "description",
	    "sockerless gcf pool slot (its service runs derived images)");
	return fn;
}

struct gcf_upload {
	struct gcf_slot *s;
	cJSON *storage;
};

static void
gcf_pool_uploaded(struct httpcli_resp *resp, void *arg)
{
	struct gcf_upload *u = arg;
	struct gcf_slot *s = u->s;
	char *path, *query;
	struct err e;

	if (resp->status != 200) {
		err_set(&e, 502,
		    "uploading the stub source of Cloud Run function %s: %s",
		    s->name,
		    resp->status == 0 ? resp->error :
					"the upload URL refused it");
		cJSON_Delete(u->storage);
		free(u);
		TAILQ_REMOVE(&gcf_slots, s, entry);
		gcf_pool_answer(s, &e);
		gcf_slot_free(s);
		return;
	}
	path = xasprintf("v2/%s/functions", gcf.gb.parent);
	query = xasprintf("functionId=%s", s->name);
	gcp_lro(gcf.gb.gcp, "cloudfunctions", "functions.create", "POST", path,
	    query, gcf_pool_function(u->storage), (int)gcf_conf.deploy_timeout,
	    NULL, gcf_pool_created, s);
	free(path);
	free(query);
	cJSON_Delete(u->storage);
	free(u);
}

static void
gcf_pool_upload_url(void *arg, const cJSON *out, const struct cloud_error *ce)
{
	static const char *const names[] = { "main.py", "requirements.txt" };
	const char *const data[] = { gcf_stub_main, "" };
	struct gcf_slot *s = arg;
	struct httpcli_req *r;
	struct gcf_upload *u;
	const char *url = json_str(out, "uploadUrl");
	char *zip;
	size_t len;
	struct err e;

	if (ce != NULL || url == NULL ||
	    json_obj(out, "storageSource") == NULL) {
		if (ce != NULL)
			gcf_pool_cloud_err(
			    ce, &e, "an upload URL for", s->name);
		else
			err_set(&e, 502,
			    "Cloud Functions answered generateUploadUrl "
			    "without uploadUrl or storageSource");
		TAILQ_REMOVE(&gcf_slots, s, entry);
		gcf_pool_answer(s, &e);
		gcf_slot_free(s);
		return;
	}
	u = xcalloc(1, sizeof(*u));
	u->s = s;
	u->storage = cJSON_Duplicate(json_obj(out, "storageSource"), 1);
	zip = gcf_zip(names, data, 2, &len);
	r = httpcli_req_new("PUT", url);
	httpcli_req_header(r, "Content-Type", "application/zip");
	httpcli_req_body(r, zip, len);
	httpcli_req_timeouts(r, 30000, 120000);
	free(zip);
	httpcli_send(backend_httpcli(gcf.b), r, gcf_pool_uploaded, u);
}

/* The smallest free slot number. */
static int
gcf_pool_number(void)
{
	struct gcf_slot *s;
	int n, used;

	for (n = 1;; n++) {
		used = 0;
		TAILQ_FOREACH(s, &gcf_slots, entry)
			used |= s->n == n;
		if (!used)
			return n;
	}
}

static struct gcf_slot *
gcf_pool_slot_new(int n)
{
	struct gcf_slot *s = xcalloc(1, sizeof(*s));

	s->n = n;
	s->name = xasprintf("%s%d", gcf.prefix, n);
	TAILQ_INSERT_TAIL(&gcf_slots, s, entry);
	return s;
}

static void
gcf_pool_create(struct gcf_slot *s)
{
	char *path =
	    xasprintf("v2/%s/functions:generateUploadUrl", gcf.gb.parent);

	s->state = GCF_SLOT_CREATING;
	log_info("making pool function %s", s->name);
	gcp_call(gcf.gb.gcp, "cloudfunctions", "functions.generateUploadUrl",
	    "POST", path, NULL, cJSON_CreateObject(), 0, gcf_pool_upload_url,
	    s);
	free(path);
}

/* --- taking and giving ---------------------------------------------------- */

/* A slot numbered past gcf.pool_max (the key was lowered since it was
 * made) takes no runs and goes once idle. */
static int
gcf_pool_surplus(const struct gcf_slot *s)
{
	return s->n > gcf_conf.pool_max;
}

static int
gcf_pool_usable(const struct gcf_slot *s, int64_t now)
{
	return s->state == GCF_SLOT_FREE && s->quiet_until_ns <= now;
}

static void
gcf_pool_want(struct gcf_slot *s, const char *image, long long mib,
    long long timeout_s, gcf_slot_cb cb, void *arg)
{
	free(s->want_image);
	s->want_image = xstrdup(image);
	s->want_mib = mib;
	s->want_timeout = timeout_s;
	s->cb = cb;
	s->arg = arg;
}

/* 1 when the take was served (or is on its way), 0 when the pool is full. */
static int
gcf_pool_try(const char *image, long long mib, long long timeout_s,
    gcf_slot_cb cb, void *arg)
{
	struct gcf_slot *s, *any = NULL;
	int64_t now = str_now_ns();
	int count = 0;

	TAILQ_FOREACH(s, &gcf_slots, entry) {
		if (gcf_pool_surplus(s))
			continue;
		count += s->state != GCF_SLOT_DELETING;
		if (!gcf_pool_usable(s, now))
			continue;
		if (s->image != NULL && strcmp(s->image, image) == 0 &&
		    s->mib == mib && s->timeout_s == timeout_s) {
			s->state = GCF_SLOT_BUSY;
			cb(arg, s, NULL);
			return 1;
		}
		if (any == NULL)
			any = s;
	}
	if (any != NULL) {
		gcf_pool_want(any, image, mib, timeout_s, cb, arg);
		gcf_pool_point(any);
		return 1;
	}
	if (count >= gcf_conf.pool_max)
		return 0;
	s = gcf_pool_slot_new(gcf_pool_number());
	gcf_pool_want(s, image, mib, timeout_s, cb, arg);
	gcf_pool_create(s);
	return 1;
}

void
gcf_pool_take(const char *image, long long mib, long long timeout_s,
    gcf_slot_cb cb, void *arg)
{
	struct gcf_wait *w;
	struct err e;

	/* Waiters first: a new take must not overtake them. */
	if (TAILQ_EMPTY(&gcf_waits) &&
	    gcf_pool_try(image, mib, timeout_s, cb, arg))
		return;
	if (gcf_conf.pool_wait == 0) {
		err_set(&e, 503,
		    "all %lld Cloud Run functions of the pool are busy "
		    "(gcf.pool_max); retry later or raise gcf.pool_max",
		    gcf_conf.pool_max);
		cb(arg, NULL, &e);
		return;
	}
	w = xcalloc(1, sizeof(*w));
	w->image = xstrdup(image);
	w->mib = mib;
	w->timeout_s = timeout_s;
	w->cb = cb;
	w->arg = arg;
	w->deadline_ns = str_now_ns() + gcf_conf.pool_wait * 1000000000LL;
	TAILQ_INSERT_TAIL(&gcf_waits, w, entry);
}

/* Serves waiters in order while the pool can. */
static void
gcf_pool_dispatch(void)
{
	struct gcf_wait *w;

	while ((w = TAILQ_FIRST(&gcf_waits)) != NULL &&
	    gcf_pool_try(w->image, w->mib, w->timeout_s, w->cb, w->arg)) {
		TAILQ_REMOVE(&gcf_waits, w, entry);
		free(w->image);
		free(w);
	}
}

void
gcf_pool_give(struct gcf_slot *s, long long busy_for_s)
{
	int64_t now = str_now_ns();

	s->state = GCF_SLOT_FREE;
	s->idle_since_ns = now;
	s->quiet_until_ns =
	    busy_for_s > 0 ? now + busy_for_s * 1000000000LL : 0;
	gcf_pool_dispatch();
}

/* --- the tick: waiters' deadlines, idle deletion -------------------------- */

static void
gcf_pool_tick(evutil_socket_t fd, short what, void *arg)
{
	struct gcf_wait *w, *wn;
	struct gcf_slot *s, *sn;
	int64_t now = str_now_ns();
	struct err e;

	(void)fd;
	(void)what;
	(void)arg;
	gcf_pool_dispatch();
	for (w = TAILQ_FIRST(&gcf_waits); w != NULL; w = wn) {
		wn = TAILQ_NEXT(w, entry);
		if (w->deadline_ns > now)
			continue;
		TAILQ_REMOVE(&gcf_waits, w, entry);
		err_set(&e, 503,
		    "all %lld Cloud Run functions of the pool stayed busy for "
		    "%lld s (gcf.pool_wait); retry later or raise gcf.pool_max",
		    gcf_conf.pool_max, gcf_conf.pool_wait);
		w->cb(w->arg, NULL, &e);
		free(w->image);
		free(w);
	}
	for (s = TAILQ_FIRST(&gcf_slots); s != NULL; s = sn) {
		sn = TAILQ_NEXT(s, entry);
		if (gcf_pool_usable(s, now) &&
		    (gcf_pool_surplus(s) ||
			now - s->idle_since_ns >
			    gcf_conf.pool_idle * 1000000000LL))
			gcf_pool_delete(s);
	}
}

/* --- finding the pool again ----------------------------------------------- */

void
gcf_pool_quiet(const char *name, long long seconds)
{
	struct gcf_quiet *q = xcalloc(1, sizeof(*q));
	struct gcf_slot *s;

	q->name = xstrdup(name);
	q->until_ns = str_now_ns() + (seconds > 0 ? seconds : 0) * 1000000000LL;
	TAILQ_INSERT_TAIL(&gcf_quiets, q, entry);
	TAILQ_FOREACH(s, &gcf_slots, entry)
		if (strcmp(s->name, name) == 0 &&
		    s->quiet_until_ns < q->until_ns)
			s->quiet_until_ns = q->until_ns;
}

static void
gcf_pool_quiet_apply(struct gcf_slot *s)
{
	struct gcf_quiet *q;

	TAILQ_FOREACH(q, &gcf_quiets, entry)
		if (strcmp(q->name, s->name) == 0 &&
		    s->quiet_until_ns < q->until_ns)
			s->quiet_until_ns = q->until_ns;
}

static void
gcf_pool_listed(void *arg, const cJSON *out, const struct cloud_error *ce)
{
	const cJSON *fn;
	const char *name, *id, *state, *url, *svc;
	struct gcf_slot *s;
	size_t plen = strlen(gcf.prefix);
	long long n;

	(void)arg;
	if (ce != NULL) {
		log_warnx("listing the pool's functions: %s: %s (they are "
			  "found again at the next start)",
		    ce->code, ce->message);
		return;
	}
	cJSON_ArrayForEach(fn, json_arr(out, "functions")) {
		name = json_str(fn, "name");
		id = name != NULL ? strrchr(name, '/') : NULL;
		if (id == NULL || strncmp(++id, gcf.prefix, plen) != 0 ||
		    str_tonum(id + plen, 1, 1000, &n, NULL) == -1)
			continue;
		state = json_str(fn, "state");
		url = json_str(fn, "url");
		svc = json_str(json_obj(fn, "serviceConfig"), "service");
		s = gcf_pool_slot_new((int)n);
		s->idle_since_ns = str_now_ns();
		if (state == NULL || strcmp(state, "ACTIVE") != 0 ||
		    url == NULL || svc == NULL) {
			gcf_pool_delete(s);
			continue;
		}
		s->url = xstrdup(url);
		s->service = xstrdup(svc);
		s->state = GCF_SLOT_FREE;
		gcf_pool_quiet_apply(s);
	}
	log_info("found %d function(s) of the pool",
	    (int)cJSON_GetArraySize(json_arr(out, "functions")));
	gcf_pool_dispatch();
}

void
gcf_pool_start(struct backend *b)
{
	struct timeval tv = { GCF_POOL_TICK_MS / 1000,
		(GCF_POOL_TICK_MS % 1000) * 1000 };
	char label[64], quoted[160], *path, *query;

	gcf_pool_instance_label(label, sizeof(label));
	snprintf(quoted, sizeof(quoted),
	    "filter=labels." GCF_LABEL_INSTANCE "%%3D%%22%s%%22", label);
	path = xasprintf("v2/%s/functions", gcf.gb.parent);
	query = xstrdup(quoted);
	gcp_list(gcf.gb.gcp, "cloudfunctions", "functions.list", "GET", path,
	    query, NULL, "functions", 0, gcf_pool_listed, NULL);
	free(path);
	free(query);
	gcf_pool_timer =
	    event_new(backend_base(b), -1, EV_PERSIST, gcf_pool_tick, NULL);
	event_add(gcf_pool_timer, &tv);
}

void
gcf_pool_stop(void)
{
	struct gcf_wait *w, *wn;
	struct gcf_slot *s, *sn;
	struct gcf_quiet *q, *qn;

	if (gcf_pool_timer != NULL)
		event_free(gcf_pool_timer);
	gcf_pool_timer = NULL;
	/* Walked with the next pointer: what is freed is never read again. */
	for (q = TAILQ_FIRST(&gcf_quiets); q != NULL; q = qn) {
		qn = TAILQ_NEXT(q, entry);
		free(q->name);
		free(q);
	}
	TAILQ_INIT(&gcf_quiets);
	for (w = TAILQ_FIRST(&gcf_waits); w != NULL; w = wn) {
		wn = TAILQ_NEXT(w, entry);
		free(w->image);
		free(w);
	}
	TAILQ_INIT(&gcf_waits);
	for (s = TAILQ_FIRST(&gcf_slots); s != NULL; s = sn) {
		sn = TAILQ_NEXT(s, entry);
		gcf_slot_free(s);
	}
	TAILQ_INIT(&gcf_slots);
}
