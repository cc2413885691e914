/* Volume records: Docker's volume documents with the framework's object,
 * their store, the lookups and the in-use count the routes and the
 * containers share (docs/volumes.md). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend_sys.h"
#include "backend_vol.h"
#include "sockerless/json.h"
#include "sockerless/log.h"
#include "sockerless/store.h"
#include "sockerless/xmalloc.h"

const char *
volume_name(const struct volume *v)
{
	return v->name;
}

const char *
volume_shared_path(const struct volume *v)
{
	return json_str(json_obj(v->doc, VOLUME_PRIVATE), "shared_path");
}

const cJSON *
volume_labels(const struct volume *v)
{
	return json_obj(v->doc, "Labels");
}

int
backend_vol_anonymous(const struct volume *v)
{
	return json_bool(json_obj(v->doc, VOLUME_PRIVATE), "anonymous", 0);
}

cJSON *
volume_private(struct volume *v)
{
	cJSON *fw = json_obj(v->doc, VOLUME_PRIVATE), *p;

	if (fw == NULL) {
		fw = cJSON_CreateObject();
		cJSON_AddItemToObject(v->doc, VOLUME_PRIVATE, fw);
	}
	if ((p = json_obj(fw, "private")) == NULL) {
		p = cJSON_CreateObject();
		cJSON_AddItemToObject(fw, "private", p);
	}
	return p;
}

void
backend_volume_save(struct backend *b, struct volume *v)
{
	struct err e;
	char *doc = json_print(v->doc);

	if (store_volume_put(b->store, v->name, doc, &e) == -1)
		log_warnx("saving volume %s: %s", v->name, e.msg);
	free(doc);
}

struct volume *
backend_volume_by_name(struct backend *b, const char *name)
{
	struct volume *v;

	TAILQ_FOREACH(v, &b->volumes, entry) {
		if (strcmp(v->name, name) == 0)
			return v;
	}
	return NULL;
}

static struct volume *
backend_vol_insert(struct backend *b, const char *name, cJSON *doc)
{
	struct volume *v = xcalloc(1, sizeof(*v));

	str_lcpy(v->name, name, sizeof(v->name));
	v->doc = doc;
	TAILQ_INSERT_TAIL(&b->volumes, v, entry);
	return v;
}

void
backend_vol_load(struct backend *b)
{
	struct strv names, docs;
	struct err e;
	cJSON *doc;

	strv_init(&names);
	strv_init(&docs);
	if (store_volume_list(b->store, &names, &docs, &e) == -1)
		fatalx("loading volumes: %s", e.msg);
	for (size_t i = 0; i < names.n; i++) {
		if ((doc = cJSON_Parse(docs.v[i])) == NULL) {
			log_warnx("volume %s: its record does not parse; "
				  "skipped",
			    names.v[i]);
			continue;
		}
		backend_vol_insert(b, names.v[i], doc);
	}
	strv_free(&names);
	strv_free(&docs);
}

void
backend_vol_free(struct backend *b)
{
	struct volume *v;

	while ((v = TAILQ_FIRST(&b->volumes)) != NULL) {
		TAILQ_REMOVE(&b->volumes, v, entry);
		cJSON_Delete(v->doc);
		free(v);
	}
}

struct volume *
backend_vol_add(struct backend *b, const char *name, const cJSON *labels,
    const cJSON *opts, int anonymous, const char *shared_path)
{
	cJSON *doc = cJSON_CreateObject(), *fw = cJSON_CreateObject();
	char now[40], *mp;
	struct volume *v;

	str_time_rfc3339(now, sizeof(now), str_now_ns());
	/* dockerd's CreatedAt has no fraction of a second. */
	if (strchr(now, '.') != NULL)
		strcpy(strchr(now, '.'), "Z");
	json_add_str(doc, "CreatedAt", now);
	json_add_str(doc, "Driver", "local");
	cJSON_AddItemToObject(doc, "Labels",
	    labels != NULL && !cJSON_IsNull(labels) ?
		cJSON_Duplicate(labels, 1) :
		cJSON_CreateNull());
	mp = xasprintf("/var/lib/docker/volumes/%s/_data", name);
	json_add_str(doc, "Mountpoint", mp);
	free(mp);
	json_add_str(doc, "Name", name);
	cJSON_AddItemToObject(doc, "Options",
	    opts != NULL && !cJSON_IsNull(opts) ? cJSON_Duplicate(opts, 1) :
						  cJSON_CreateNull());
	json_add_str(doc, "Scope", "local");
	json_add_bool(fw, "anonymous", anonymous);
	/* Until vol_create answers: no container may mount it yet. */
	json_add_bool(fw, "creating", 1);
	if (shared_path != NULL)
		json_add_str(fw, "shared_path", shared_path);
	cJSON_AddItemToObject(doc, VOLUME_PRIVATE, fw);
	v = backend_vol_insert(b, name, doc);
	backend_volume_save(b, v);
	return v;
}

void
backend_vol_delete(struct backend *b, struct volume *v)
{
	struct err e;

	if (store_volume_delete(b->store, v->name, &e) == -1)
		log_warnx("deleting volume %s: %s", v->name, e.msg);
	TAILQ_REMOVE(&b->volumes, v, entry);
	cJSON_Delete(v->doc);
	free(v);
}

int
backend_vol_refs(struct backend *b, const struct volume *v, cJSON *ids)
{
	struct container *c;
	int n = 0;

	TAILQ_FOREACH(c, &b->containers, entry) {
		if (c->gone || !container_mounts_volume(c, v->name))
			continue;
		n++;
		if (ids != NULL)
			cJSON_AddItemToArray(ids, cJSON_CreateString(c->id));
	}
	return n;
}

cJSON *
backend_vol_json(const struct volume *v)
{
	cJSON *o = cJSON_Duplicate(v->doc, 1);

	cJSON_DeleteItemFromObjectCaseSensitive(o, VOLUME_PRIVATE);
	return o;
}

void
backend_vol_event(struct backend *b, const struct volume *v, const char *action,
    const struct container *c, const cJSON *m)
{
	cJSON *attrs = cJSON_CreateObject();

	json_add_str(attrs, "driver", "local");
	if (c != NULL) {
		json_add_str(attrs, "container", c->id);
		json_add_str(attrs, "destination", json_str(m, "Destination"));
		json_add_str(attrs, "propagation",
		    json_str(m, "Propagation") != NULL ?
			json_str(m, "Propagation") :
			"");
		json_add_str(attrs, "read/write",
		    json_bool(m, "RW", 1) ? "true" : "false");
	}
	backend_sys_event(b, "volume", action, v->name, attrs);
}

int
backend_vol_check_name(const char *name, struct err *e)
{
	static const char first[] = "abcdefghijklmnopqrstuvwxyz"
				    "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
	static const char rest[] = "abcdefghijklmnopqrstuvwxyz"
				   "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-";

	if (strlen(name) == 1)
		return err_set(e, 400,
		    "create %s: volume name is too short, names should be at "
		    "least two alphanumeric characters",
		    name);
	if (name[0] == '\0' || strchr(first, name[0]) == NULL ||
	    name[strspn(name, rest)] != '\0' || strlen(name) > 255)
		return err_set(e, 400,
		    "create %s: \"%s\" includes invalid characters for a "
		    "local volume name, only \"[a-zA-Z0-9][a-zA-Z0-9_.-]\" "
		    "are allowed. If you intended to pass a host directory, "
		    "use absolute path",
		    name, name);
	return 0;
}

/* A vol_create or vol_remove in flight; the volume is found again by name
 * when it ends. */
struct vol_call {
	struct backend *b;
	char name[256];
	backend_done_fn done;
	void *arg;
};

static struct vol_call *
vol_call_new(
    struct backend *b, const struct volume *v, backend_done_fn done, void *arg)
{
	struct vol_call *vc = xcalloc(1, sizeof(*vc));

	vc->b = b;
	str_lcpy(vc->name, v->name, sizeof(vc->name));
	vc->done = done;
	vc->arg = arg;
	return vc;
}

static void
backend_vol_made(void *arg, const struct err *e)
{
	struct vol_call *vc = arg;
	struct volume *v = backend_volume_by_name(vc->b, vc->name);

	if (v != NULL && e != NULL) {
		/* The backend made nothing; neither does the framework. */
		log_warnx("creating volume %s: %s", vc->name, e->msg);
		backend_vol_delete(vc->b, v);
	} else if (v != NULL) {
		cJSON_DeleteItemFromObjectCaseSensitive(
		    json_obj(v->doc, VOLUME_PRIVATE), "creating");
		backend_volume_save(vc->b, v);
		backend_vol_event(vc->b, v, "create", NULL, NULL);
	}
	vc->done(vc->arg, e);
	free(vc);
}

void
backend_vol_make(
    struct backend *b, struct volume *v, backend_done_fn done, void *arg)
{
	struct vol_call *vc = vol_call_new(b, v, done, arg);

	if (b->ops->vol_create != NULL)
		b->ops->vol_create(b, v, backend_vol_made, vc);
	else
		backend_vol_made(vc, NULL);
}

static void
backend_vol_resolved(void *arg, const struct err *e)
{
	(void)arg;
	(void)e; /* logged by backend_vol_gone; a later rm retries */
}

void
backend_vol_resolve_creating(struct backend *b)
{
	struct volume *v, *next;

	for (v = TAILQ_FIRST(&b->volumes); v != NULL; v = next) {
		next = TAILQ_NEXT(v, entry);
		if (!backend_vol_creating(v))
			continue;
		log_warnx("volume %s: its create was interrupted by a "
			  "restart; removing it and its cloud resources",
		    v->name);
		backend_vol_destroy(b, v, backend_vol_resolved, NULL);
	}
}

int
backend_vol_creating(const struct volume *v)
{
	return json_bool(json_obj(v->doc, VOLUME_PRIVATE), "creating", 0);
}

int
backend_vol_removing(const struct volume *v)
{
	return json_bool(json_obj(v->doc, VOLUME_PRIVATE), "removing", 0);
}

static void
backend_vol_gone(void *arg, const struct err *e)
{
	struct vol_call *vc = arg;
	struct volume *v = backend_volume_by_name(vc->b, vc->name);

	if (v != NULL && e != NULL) {
		log_warnx("removing volume %s: %s", vc->name, e->msg);
		cJSON_DeleteItemFromObjectCaseSensitive(
		    json_obj(v->doc, VOLUME_PRIVATE), "removing");
	} else if (v != NULL) {
		backend_vol_event(vc->b, v, "destroy", NULL, NULL);
		backend_vol_delete(vc->b, v);
	}
	vc->done(vc->arg, e);
	free(vc);
}

void
backend_vol_destroy(
    struct backend *b, struct volume *v, backend_done_fn done, void *arg)
{
	struct vol_call *vc = vol_call_new(b, v, done, arg);

	json_set(
	    json_obj(v->doc, VOLUME_PRIVATE), "removing", cJSON_CreateTrue());
	if (b->ops->vol_remove != NULL)
		b->ops->vol_remove(b, v, backend_vol_gone, vc);
	else
		backend_vol_gone(vc, NULL);
}
