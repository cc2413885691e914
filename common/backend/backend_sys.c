/* System endpoints (version, info, df, capabilities) and events: recorded
 * in the store so `docker events --since` can replay them, and broadcast to
 * live subscribers. */
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>

#include "backend_sys.h"
#include "sockerless/filters.h"
#include "sockerless/json.h"
#include "sockerless/log.h"
#include "sockerless/reg.h"
#include "sockerless/store.h"
#include "sockerless/xmalloc.h"

#define EVENTS_KEEP 10000

struct events_sub {
	TAILQ_ENTRY(events_sub) entry;
	struct backend *b;
	struct httpsrv_req *req;
	struct filters *f;
	int64_t until_ns;
	struct event *timer;
};

void
backend_sys_capabilities(
    struct backend *b, struct httpsrv_req *r, const struct router_match *m)
{
	cJSON *o = caps_to_json(&b->caps);

	(void)m;
	httpsrv_reply_json(r, 200, o);
	cJSON_Delete(o);
}

void
backend_sys_version(
    struct backend *b, struct httpsrv_req *r, const struct router_match *m)
{
	cJSON *o = cJSON_CreateObject(), *plat, *comps, *eng, *det;
	struct utsname u;

	(void)m;
	uname(&u);
	plat = cJSON_CreateObject();
	json_add_str(plat, "Name", "Sockerless");
	cJSON_AddItemToObject(o, "Platform", plat);
	comps = cJSON_CreateArray();
	eng = cJSON_CreateObject();
	json_add_str(eng, "Name", "Engine");
	json_add_str(eng, "Version", BACKEND_VERSION);
	det = cJSON_CreateObject();
	json_add_str(det, "ApiVersion", "1.44");
	json_add_str(det, "MinAPIVersion", "1.24");
	json_add_str(det, "Os", "linux");
	json_add_str(det, "Arch", "amd64");
	json_add_str(det, "Backend", b->ops->name);
	json_add_str(det, "BackendDescription", b->ops->description);
	cJSON_AddItemToObject(eng, "Details", det);
	cJSON_AddItemToArray(comps, eng);
	cJSON_AddItemToObject(o, "Components", comps);
	json_add_str(o, "Version", BACKEND_VERSION);
	json_add_str(o, "ApiVersion", "1.44");
	json_add_str(o, "MinAPIVersion", "1.24");
	json_add_str(o, "GitCommit", "");
	json_add_str(o, "GoVersion", "");
	json_add_str(o, "Os", "linux");
	json_add_str(o, "Arch", "amd64");
	json_add_str(o, "KernelVersion", u.release);
	json_add_str(o, "BuildTime", "");
	httpsrv_reply_json(r, 200, o);
	cJSON_Delete(o);
}

static cJSON *
backend_sys_registry_config(struct backend *b)
{
	cJSON *o = cJSON_CreateObject();

	cJSON_AddItemToObject(
	    o, "Mirrors", json_strv_to_array(&b->conf.registry_mirrors));
	cJSON_AddItemToObject(o, "InsecureRegistryCIDRs",
	    json_strv_to_array(&b->conf.insecure_registries));
	cJSON_AddItemToObject(o, "IndexConfigs", cJSON_CreateObject());
	return o;
}

void
backend_sys_info(
    struct backend *b, struct httpsrv_req *r, const struct router_match *m)
{
	cJSON *o = cJSON_CreateObject(), *swarm;
	struct container *c;
	long n = 0, running = 0, paused = 0, images = 0;
	struct utsname u;
	char ts[40];

	(void)m;
	uname(&u);
	TAILQ_FOREACH(c, &b->containers, entry) {
		const char *st = container_status(c);
		n++;
		running += st != NULL && strcmp(st, "running") == 0;
		paused += st != NULL && strcmp(st, "paused") == 0;
	}
	images = store_image_count(b->store);
	json_add_str(o, "ID", b->instance);
	json_add_int(o, "Containers", n);
	json_add_int(o, "ContainersRunning", running);
	json_add_int(o, "ContainersPaused", paused);
	json_add_int(o, "ContainersStopped", n - running - paused);
	json_add_int(o, "Images", images);
	json_add_str(o, "Driver", b->ops->name);
	cJSON_AddItemToObject(o, "DriverStatus", cJSON_CreateArray());
	json_add_bool(o, "MemoryLimit", 1);
	json_add_bool(o, "SwapLimit", 0);
	json_add_bool(o, "CpuCfsPeriod", 0);
	json_add_bool(o, "CpuCfsQuota", 0);
	json_add_bool(o, "IPv4Forwarding", 1);
	json_add_bool(o, "Debug", log_get_level() >= LOG_LVL_DEBUG);
	json_add_int(o, "NFd", 0);
	json_add_int(o, "NGoroutines", 0);
	str_time_rfc3339(ts, sizeof(ts), str_now_ns());
	json_add_str(o, "SystemTime", ts);
	json_add_str(o, "LoggingDriver", "sockerless");
	json_add_str(o, "CgroupDriver", "none");
	json_add_str(o, "CgroupVersion", "2");
	json_add_int(o, "NEventsListener", 0);
	json_add_str(o, "KernelVersion", u.release);
	json_add_str(o, "OperatingSystem", b->ops->description);
	json_add_str(o, "OSVersion", "");
	json_add_str(o, "OSType", "linux");
	json_add_str(o, "Architecture", "x86_64");
	json_add_str(o, "IndexServerAddress", "https://index.docker.io/v1/");
	cJSON_AddItemToObject(
	    o, "RegistryConfig", backend_sys_registry_config(b));
	json_add_int(o, "NCPU", 16);
	json_add_int(o, "MemTotal", 120LL * 1024 * 1024 * 1024);
	json_add_str(o, "DockerRootDir", b->conf.state_dir);
	json_add_str(o, "Name", "sockerless");
	cJSON_AddItemToObject(o, "Labels", cJSON_CreateArray());
	json_add_bool(o, "ExperimentalBuild", 0);
	json_add_str(o, "ServerVersion", BACKEND_VERSION);
	cJSON_AddItemToObject(o, "Runtimes", cJSON_CreateObject());
	json_add_str(o, "DefaultRuntime", "sockerless");
	swarm = cJSON_CreateObject();
	json_add_str(swarm, "NodeID", "");
	json_add_str(swarm, "NodeAddr", "");
	json_add_str(swarm, "LocalNodeState", "inactive");
	json_add_bool(swarm, "ControlAvailable", 0);
	json_add_str(swarm, "Error", "");
	cJSON_AddNullToObject(swarm, "RemoteManagers");
	cJSON_AddItemToObject(o, "Swarm", swarm);
	json_add_bool(o, "LiveRestoreEnabled", 1);
	json_add_str(o, "Isolation", "");
	json_add_str(o, "InitBinary", "");
	cJSON_AddItemToObject(o, "SecurityOptions", cJSON_CreateArray());
	cJSON_AddItemToObject(o, "Warnings", cJSON_CreateArray());
	if (b->ops->info != NULL)
		b->ops->info(b, o);
	httpsrv_reply_json(r, 200, o);
	cJSON_Delete(o);
}

cJSON *
backend_sys_df_doc(struct backend *b)
{
	cJSON *o = cJSON_CreateObject(), *ctrs = cJSON_CreateArray(), *imgs;
	struct container *c;
	int64_t layers = 0;
	const cJSON *it;

	imgs = store_image_summaries(b->store);
	cJSON_ArrayForEach(it, imgs) {
		layers += json_int(it, "Size", 0);
	}
	TAILQ_FOREACH(c, &b->containers, entry) {
		cJSON *s = container_summary_json(c);
		json_add_int(s, "SizeRw", 0);
		json_add_int(s, "SizeRootFs", 0);
		cJSON_AddItemToArray(ctrs, s);
	}
	json_add_int(o, "LayersSize", layers);
	cJSON_AddItemToObject(o, "Images", imgs);
	cJSON_AddItemToObject(o, "Containers", ctrs);
	cJSON_AddItemToObject(o, "Volumes", cJSON_CreateArray());
	cJSON_AddItemToObject(o, "BuildCache", cJSON_CreateArray());
	return o;
}

/* --- events ------------------------------------------------------------- */

/* dockerd's rule: when an event filter names one of the actions that carry
 * a suffix ("exec_create: sh -c ..."), every event value matches as a
 * prefix; otherwise exactly. */
static int
backend_sys_action_matches(const struct filters *f, const char *action)
{
	if (filters_match_exact(f, "event", "exec_create") ||
	    filters_match_exact(f, "event", "exec_start") ||
	    filters_match_exact(f, "event", "health_status"))
		return filters_match_id_prefix(f, "event", action);
	return filters_match_exact(f, "event", action);
}

/* "busybox:latest" -> "busybox" (NULL stays NULL). Caller frees. */
static char *
backend_sys_strip_tag(const char *ref)
{
	char *s, *cut;

	if (ref == NULL)
		return NULL;
	s = xstrdup(ref);
	if ((cut = strchr(s, '@')) != NULL)
		*cut = '\0';
	if ((cut = strrchr(s, ':')) != NULL && strchr(cut, '/') == NULL)
		*cut = '\0';
	return s;
}

/* dockerd's image filter: the actor's ID or its image name (the "image"
 * attribute of a container event, "name" of an image event), each also
 * without its tag. */
static int
backend_sys_image_matches(const struct filters *f, const cJSON *ev)
{
	const cJSON *actor = json_obj(ev, "Actor");
	const char *id = json_str(actor, "ID");
	const char *name = json_str(json_obj(actor, "Attributes"),
	    strcmp(json_str(ev, "Type"), "image") == 0 ? "name" : "image");
	char *bare_id = backend_sys_strip_tag(id);
	char *bare_name = backend_sys_strip_tag(name);
	int ok;

	ok = (id != NULL && filters_match_exact(f, "image", id)) ||
	    (name != NULL && filters_match_exact(f, "image", name)) ||
	    (bare_id != NULL && filters_match_exact(f, "image", bare_id)) ||
	    (bare_name != NULL && filters_match_exact(f, "image", bare_name));
	free(bare_id);
	free(bare_name);
	return ok;
}

static int
backend_sys_event_matches(const struct filters *f, const cJSON *ev)
{
	const cJSON *actor = json_obj(ev, "Actor");
	const cJSON *attrs = json_obj(actor, "Attributes");
	const char *type = json_str(ev, "Type");

	if (f == NULL)
		return 1;
	if (!filters_match_exact(f, "type", type) ||
	    !backend_sys_action_matches(f, json_str(ev, "Action")))
		return 0;
	if (filters_has(f, "container") &&
	    (strcmp(type, "container") != 0 ||
		(!filters_match_id_prefix(
		     f, "container", json_str(actor, "ID")) &&
		    !filters_match_exact(
			f, "container", json_str(attrs, "name")))))
		return 0;
	if (filters_has(f, "image") && !backend_sys_image_matches(f, ev))
		return 0;
	/* dockerd: network events by the network's id or name. */
	if (filters_has(f, "network") &&
	    (strcmp(type, "network") != 0 ||
		(!filters_match_exact(f, "network", json_str(actor, "ID")) &&
		    !filters_match_exact(
			f, "network", json_str(attrs, "name")))))
		return 0;
	/* dockerd: volume events by the volume's name. */
	if (filters_has(f, "volume") &&
	    (strcmp(type, "volume") != 0 ||
		!filters_match_exact(f, "volume", json_str(actor, "ID"))))
		return 0;
	return filters_match_labels(f, "label", attrs);
}

static void
backend_sys_send(struct events_sub *s, const cJSON *ev)
{
	char *line;

	if (!backend_sys_event_matches(s->f, ev))
		return;
	line = json_print(ev);
	httpsrv_stream_line(s->req, line, "\n");
	free(line);
}

static void
backend_sys_sub_free(struct events_sub *s)
{
	TAILQ_REMOVE(&s->b->subs, s, entry);
	if (s->timer != NULL)
		event_free(s->timer);
	filters_free(s->f);
	free(s);
}

static void
backend_sys_sub_gone(struct httpsrv_req *r, void *arg)
{
	(void)r;
	backend_sys_sub_free(arg);
}

static void
backend_sys_sub_until(evutil_socket_t fd, short what, void *arg)
{
	struct events_sub *s = arg;

	(void)fd;
	(void)what;
	httpsrv_req_on_close(s->req, NULL, NULL);
	httpsrv_stream_end(s->req);
	backend_sys_sub_free(s);
}

void
backend_sys_event(struct backend *b, const char *type, const char *action,
    const char *id, cJSON *attrs)
{
	cJSON *ev = cJSON_CreateObject(), *actor = cJSON_CreateObject();
	int64_t now = str_now_ns();
	struct events_sub *s, *next;
	struct err e;
	char *doc;

	if (strcmp(type, "container") == 0) {
		json_add_str(ev, "status", action);
		json_add_str(ev, "id", id);
		json_add_str(ev, "from", json_str(attrs, "image"));
	}
	json_add_str(ev, "Type", type);
	json_add_str(ev, "Action", action);
	json_add_str(actor, "ID", id);
	cJSON_AddItemToObject(
	    actor, "Attributes", attrs != NULL ? attrs : cJSON_CreateObject());
	cJSON_AddItemToObject(ev, "Actor", actor);
	json_add_str(ev, "scope", "local");
	json_add_int(ev, "time", now / 1000000000);
	json_add_int(ev, "timeNano", now);
	doc = json_print(ev);
	if (store_event_append(b->store, now, doc, EVENTS_KEEP, &e) == -1)
		log_warnx("recording event: %s", e.msg);
	free(doc);
	for (s = TAILQ_FIRST(&b->subs); s != NULL; s = next) {
		next = TAILQ_NEXT(s, entry);
		backend_sys_send(s, ev);
	}
	cJSON_Delete(ev);
}

void
backend_sys_container_event(
    struct backend *b, struct container *c, const char *action, cJSON *extra)
{
	cJSON *attrs = cJSON_CreateObject(), *it;
	const cJSON *labels = json_obj(container_config(c), "Labels");

	cJSON_ArrayForEach(it, labels) {
		if (cJSON_IsString(it))
			json_add_str(attrs, it->string, it->valuestring);
	}
	json_set(attrs, "image", cJSON_CreateString(container_image(c)));
	json_set(attrs, "name", cJSON_CreateString(container_name(c)));
	cJSON_ArrayForEach(it, extra) {
		json_set(attrs, it->string, cJSON_Duplicate(it, 1));
	}
	cJSON_Delete(extra);
	backend_sys_event(b, "container", action, c->id, attrs);
}

/* exec_create and exec_start: dockerd appends the command to the action
 * ("exec_start: sh -c echo hi", a trailing space when there are no
 * arguments) and names the exec in execID. */
void
backend_sys_exec_event(struct backend *b, struct container *c,
    const char *action, const char *exec_id, const cJSON *cmd)
{
	cJSON *extra = cJSON_CreateObject(), *it;
	char *full = xasprintf("%s:", action), *next;
	int n = 0;

	cJSON_ArrayForEach(it, cmd) {
		next = xasprintf(
		    "%s %s", full, cJSON_IsString(it) ? it->valuestring : "");
		free(full);
		full = next;
		n++;
	}
	if (n == 1) {
		next = xasprintf("%s ", full);
		free(full);
		full = next;
	}
	json_add_str(extra, "execID", exec_id);
	backend_sys_container_event(b, c, full, extra);
	free(full);
}

void
backend_sys_exec_die_event(
    struct backend *b, struct container *c, const char *exec_id, int code)
{
	cJSON *extra = cJSON_CreateObject();
	char num[16];

	snprintf(num, sizeof(num), "%d", code);
	json_add_str(extra, "execID", exec_id);
	json_add_str(extra, "exitCode", num);
	backend_sys_container_event(b, c, "exec_die", extra);
}

/* kill names the signal by number, as dockerd does ("signal": "15"). */
void
backend_sys_kill_event(struct backend *b, struct container *c, int signo)
{
	cJSON *extra = cJSON_CreateObject();
	char num[16];

	snprintf(num, sizeof(num), "%d", signo);
	json_add_str(extra, "signal", num);
	backend_sys_container_event(b, c, "kill", extra);
}

/* Image events name the reference they were about in "name". */
void
backend_sys_image_event(
    struct backend *b, const char *action, const char *id, const char *name)
{
	cJSON *attrs = cJSON_CreateObject();

	json_add_str(attrs, "name", name);
	backend_sys_event(b, "image", action, id, attrs);
}

/* "docker.io/library/busybox:latest" -> "busybox:latest"; NULL (logged)
 * for a reference the caller already checked, which cannot happen. */
static char *
backend_sys_familiar(const char *ref)
{
	struct reg_ref rr;
	struct err e;
	char *fam;

	if (reg_ref_parse(ref, &rr, &e) == -1) {
		log_warnx("image event for %s: %s", ref, e.msg);
		return NULL;
	}
	fam = reg_ref_familiar(&rr);
	reg_ref_free(&rr);
	return fam;
}

/* A tag: Actor.ID is the image, name the new reference. */
void
backend_sys_tag_event(struct backend *b, const char *id, const char *ref)
{
	char *fam;

	if ((fam = backend_sys_familiar(ref)) == NULL)
		return;
	backend_sys_image_event(b, "tag", id, fam);
	free(fam);
}

/* A pull: Actor.ID is the familiar reference ("busybox:latest"), name the
 * repository ("busybox"), as dockerd's pull reports them. */
void
backend_sys_pull_event(struct backend *b, const char *ref)
{
	char *fam, *name;

	if ((fam = backend_sys_familiar(ref)) == NULL)
		return;
	name = backend_sys_strip_tag(fam);
	backend_sys_image_event(b, "pull", fam, name);
	free(name);
	free(fam);
}

static int
backend_sys_event_time(struct httpsrv_req *r, const char *name, int64_t *ns)
{
	const char *v = httpsrv_req_query(r, name);

	*ns = 0;
	if (v == NULL || v[0] == '\0')
		return 0;
	if (filters_parse_time(v, ns) == -1) {
		httpsrv_reply_error(r, 400, "invalid value for %s: \"%s\": %s",
		    name, v, STR_TIME_HINT);
		return -1;
	}
	return 0;
}

void
backend_sys_events(
    struct backend *b, struct httpsrv_req *r, const struct router_match *m)
{
	static const char *keys[] = { "container", "event", "type", "image",
		"label", "daemon", "network", "volume", "plugin", "node",
		"service", "secret", "config", "scope", NULL };
	struct events_sub *s;
	struct filters *f;
	int64_t since, until, now = str_now_ns();
	char **docs = NULL;
	size_t n = 0;
	struct err e;

	(void)m;
	if (backend_sys_event_time(r, "since", &since) == -1 ||
	    backend_sys_event_time(r, "until", &until) == -1)
		return;
	if ((f = filters_parse(httpsrv_req_query(r, "filters"), keys, &e)) ==
	    NULL) {
		httpsrv_reply_err(r, &e);
		return;
	}
	s = xcalloc(1, sizeof(*s));
	s->b = b;
	s->req = r;
	s->f = f;
	httpsrv_stream_begin(r, 200, "application/json");
	if (since != 0 &&
	    store_event_list(b->store, since, until != 0 ? until : now, &docs,
		&n, &e) == 0) {
		for (size_t i = 0; i < n; i++) {
			struct err pe;
			cJSON *ev = json_parse(docs[i], strlen(docs[i]), &pe);
			const char *tn = strstr(docs[i], "\"timeNano\":");

			/* Parsing made timeNano a double; restore its digits.
			 */
			if (ev != NULL && tn != NULL) {
				char digits[24];
				size_t k = 0;

				tn += strlen("\"timeNano\":");
				while (k < sizeof(digits) - 1 && tn[k] >= '0' &&
				    tn[k] <= '9') {
					digits[k] = tn[k];
					k++;
				}
				digits[k] = '\0';
				if (k > 0)
					json_set(ev, "timeNano",
					    cJSON_CreateRaw(digits));
			}
			if (ev != NULL)
				backend_sys_send(s, ev);
			cJSON_Delete(ev);
			free(docs[i]);
		}
		free(docs);
	}
	if (until != 0 && until <= now) {
		httpsrv_stream_end(r);
		filters_free(f);
		free(s);
		return;
	}
	TAILQ_INSERT_TAIL(&b->subs, s, entry);
	httpsrv_req_on_close(r, backend_sys_sub_gone, s);
	if (until != 0) {
		struct timeval tv;
		int64_t left = until - now;
		tv.tv_sec = (time_t)(left / 1000000000);
		tv.tv_usec = (suseconds_t)((left % 1000000000) / 1000);
		s->timer = evtimer_new(b->base, backend_sys_sub_until, s);
		evtimer_add(s->timer, &tv);
	}
}
