/* Containers and their volumes: a create's mounts become volumes (made
 * through vol_create before the backend's create), the container's
 * Mounts as dockerd shows them and the framework's record of what the
 * backend realises (backend_container_mounts); at removal the volumes no
 * one needs any more go (docs/volumes.md). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend_ctr.h"
#include "backend_vol.h"
#include "sockerless/id.h"
#include "sockerless/json.h"
#include "sockerless/log.h"
#include "sockerless/xmalloc.h"

static const char *const vol_kind_names[] = {
	[BACKEND_MOUNT_VOLUME] = "volume",
	[BACKEND_MOUNT_TMPFS] = "tmpfs",
	[BACKEND_MOUNT_DOCKER_SOCK] = "docker_sock",
};

static enum backend_mount_kind
vol_kind(const char *s)
{
	if (s != NULL && strcmp(s, "tmpfs") == 0)
		return BACKEND_MOUNT_TMPFS;
	if (s != NULL && strcmp(s, "docker_sock") == 0)
		return BACKEND_MOUNT_DOCKER_SOCK;
	return BACKEND_MOUNT_VOLUME;
}

size_t
backend_container_mounts(struct backend *b, struct container *c,
    struct backend_mount *out, size_t max)
{
	const cJSON *it;
	size_t n = 0;

	cJSON_ArrayForEach(
	    it, json_arr(container_private(c), BACKEND_PRIV_MOUNTS)) {
		const char *vn = json_str(it, "Volume");
		struct backend_mount *m;
		if (n == max)
			break;
		m = &out[n++];
		memset(m, 0, sizeof(*m));
		m->kind = vol_kind(json_str(it, "Kind"));
		m->target = json_str(it, "Target");
		m->readonly = json_bool(it, "ReadOnly", 0);
		m->nocopy = json_bool(it, "NoCopy", 0);
		m->vol = vn != NULL ? backend_volume_by_name(b, vn) : NULL;
		m->tmpfs_size = (long long)json_int(it, "TmpfsSize", 0);
		m->tmpfs_mode = (int)json_int(it, "TmpfsMode", 0);
	}
	return n;
}

/* The framework's record of one mount. */
static cJSON *
vol_record(const struct vol_want *m, int created)
{
	cJSON *o = cJSON_CreateObject();

	json_add_str(o, "Kind", vol_kind_names[m->kind]);
	json_add_str(o, "Target", m->target);
	json_add_bool(o, "ReadOnly", m->readonly);
	json_add_bool(o, "NoCopy", m->nocopy);
	if (m->name != NULL)
		json_add_str(o, "Volume", m->name);
	if (m->source[0] != '\0')
		json_add_str(o, "Source", m->source);
	if (m->shared != NULL)
		json_add_str(o, "Shared", m->shared);
	if (m->type != NULL)
		json_add_str(o, "Type", m->type);
	if (m->kind == BACKEND_MOUNT_TMPFS) {
		json_add_int(o, "TmpfsSize", m->tmpfs_size);
		json_add_int(o, "TmpfsMode", m->tmpfs_mode);
	}
	if (created)
		json_add_bool(o, "Created", 1);
	return o;
}

/* The Mounts entry dockerd's inspect shows, or NULL (--tmpfs). */
static cJSON *
vol_mount_json(const struct vol_want *m)
{
	cJSON *o;
	char *mp;

	if (m->type == NULL)
		return NULL;
	o = cJSON_CreateObject();
	json_add_str(o, "Type", m->type);
	if (strcmp(m->type, "volume") == 0) {
		json_add_str(o, "Name", m->name);
		mp = xasprintf("/var/lib/docker/volumes/%s/_data", m->name);
		json_add_str(o, "Source", mp);
		free(mp);
	} else
		json_add_str(o, "Source", m->source);
	json_add_str(o, "Destination", m->target);
	if (strcmp(m->type, "volume") == 0)
		json_add_str(o, "Driver", "local");
	json_add_str(o, "Mode", m->mode);
	json_add_bool(o, "RW", !m->readonly);
	json_add_str(o, "Propagation", m->propagation);
	return o;
}

/* Looks up or adds the volume m names (a new anonymous one without a
 * name); *created says that it is new. NULL with a 409 for one being
 * removed. */
static struct volume *
vol_for(struct backend *b, struct vol_want *m, const struct strv *todo,
    int *created, struct err *e)
{
	struct volume *v;
	char id[65];
	int anonymous = m->name == NULL;

	*created = 0;
	if (anonymous) {
		id_new(id);
		m->name = xstrdup(id);
	}
	if ((v = backend_volume_by_name(b, m->name)) != NULL) {
		if (backend_vol_removing(v)) {
			err_set(e, 409,
			    "volume %s is being removed; create the "
			    "container again once it is gone",
			    m->name);
			return NULL;
		}
		/* Another request's create has not made it yet (this
		 * create's own are in todo). */
		if (backend_vol_creating(v) && !strv_contains(todo, m->name)) {
			err_set(e, 409,
			    "volume %s is still being created by another "
			    "request; create the container again once it "
			    "exists",
			    m->name);
			return NULL;
		}
		return v;
	}
	*created = 1;
	return backend_vol_add(
	    b, m->name, m->labels, NULL, anonymous, m->shared);
}

/* The volumes a create makes, one after the other. */
struct vol_ctr_op {
	struct backend *b;
	struct container *c; /* referenced */
	struct strv todo;    /* names to make */
	size_t next;
	backend_done_fn done;
	void *arg;
};

static void vol_ctr_next(struct vol_ctr_op *op);

static void
vol_ctr_finish(struct vol_ctr_op *op, const struct err *e)
{
	op->done(op->arg, e);
	container_unref(op->c);
	strv_free(&op->todo);
	free(op);
}

static void
vol_ctr_made(void *arg, const struct err *e)
{
	struct vol_ctr_op *op = arg;
	struct volume *v;

	if (e != NULL) {
		/* Those after it were never made: only their records go. */
		for (size_t i = op->next + 1; i < op->todo.n; i++)
			if ((v = backend_volume_by_name(
				 op->b, op->todo.v[i])) != NULL)
				backend_vol_delete(op->b, v);
		vol_ctr_finish(op, e);
		return;
	}
	op->next++;
	vol_ctr_next(op);
}

static void
vol_ctr_next(struct vol_ctr_op *op)
{
	struct volume *v;
	struct err e;

	if (op->next == op->todo.n) {
		vol_ctr_finish(op, NULL);
		return;
	}
	if ((v = backend_volume_by_name(op->b, op->todo.v[op->next])) == NULL) {
		err_set(&e, 500, "volume %s went away while it was created",
		    op->todo.v[op->next]);
		vol_ctr_finish(op, &e);
		return;
	}
	backend_vol_make(op->b, v, vol_ctr_made, op);
}

/* Records c's mounts in its document; the volumes to make go to todo. */
static int
vol_ctr_record(struct backend *b, struct container *c, struct vol_wants *w,
    struct strv *todo, struct err *e)
{
	cJSON *recs = cJSON_CreateArray(), *shown = cJSON_CreateArray(), *mj;
	int created = 0;

	struct volume *v;

	for (size_t i = 0; i < w->n; i++) {
		struct vol_want *m = &w->v[i];
		if (m->kind == BACKEND_MOUNT_VOLUME &&
		    vol_for(b, m, todo, &created, e) == NULL) {
			/* Records only so far: nothing was made. */
			for (size_t j = 0; j < todo->n; j++)
				if ((v = backend_volume_by_name(
					 b, todo->v[j])) != NULL)
					backend_vol_delete(b, v);
			cJSON_Delete(recs);
			cJSON_Delete(shown);
			return -1;
		}
		if (m->kind == BACKEND_MOUNT_VOLUME && created)
			strv_add(todo, m->name);
		cJSON_AddItemToArray(recs,
		    vol_record(m, m->kind == BACKEND_MOUNT_VOLUME && created));
		if ((mj = vol_mount_json(m)) != NULL)
			cJSON_AddItemToArray(shown, mj);
	}
	json_set(container_private(c), BACKEND_PRIV_MOUNTS, recs);
	json_set(container_doc(c), "Mounts", shown);
	/* A restart during the create finds what it made. */
	backend_ctr_save(b, c);
	return 0;
}

void
backend_vol_ctr_create(struct backend *b, struct container *c,
    struct vol_wants *w, backend_done_fn done, void *arg)
{
	struct vol_ctr_op *op = xcalloc(1, sizeof(*op));
	struct err e;

	op->b = b;
	op->c = c;
	container_ref(c);
	op->done = done;
	op->arg = arg;
	strv_init(&op->todo);
	if (vol_ctr_record(b, c, w, &op->todo, &e) == -1) {
		backend_vol_wants_free(w);
		vol_ctr_finish(op, &e);
		return;
	}
	backend_vol_wants_free(w);
	vol_ctr_next(op);
}

/* --- release ---------------------------------------------------------------
 */

/* Volumes to remove one after the other, then done(arg). */
struct vol_release {
	struct backend *b;
	struct strv names;
	size_t next;
	void (*done)(void *arg);
	void *arg;
};

static void vol_release_next(struct vol_release *rl);

static void
vol_release_removed(void *arg, const struct err *e)
{
	struct vol_release *rl = arg;

	(void)e; /* logged by backend_vol_destroy; the volume stays */
	rl->next++;
	vol_release_next(rl);
}

static void
vol_release_next(struct vol_release *rl)
{
	struct volume *v = NULL;

	while (rl->next < rl->names.n) {
		v = backend_volume_by_name(rl->b, rl->names.v[rl->next]);
		if (v != NULL && !backend_vol_removing(v) &&
		    backend_vol_refs(rl->b, v, NULL) == 0)
			break;
		rl->next++;
	}
	if (rl->next < rl->names.n) {
		backend_vol_destroy(rl->b, v, vol_release_removed, rl);
		return;
	}
	if (rl->done != NULL)
		rl->done(rl->arg);
	strv_free(&rl->names);
	free(rl);
}

/* Removes those of c's volumes that pick(v) chooses and no one uses. */
static void
vol_release(struct backend *b, struct container *c,
    int (*pick)(const struct volume *v, const cJSON *rec, int rm_anon),
    void (*done)(void *arg), void *arg)
{
	struct vol_release *rl = xcalloc(1, sizeof(*rl));
	cJSON *priv = container_private(c);
	/* docker run --rm removes the anonymous volumes too (dockerd). */
	int rm_anon = json_bool(priv, BACKEND_PRIV_RM_VOLUMES, 0) ||
	    json_bool(container_host_config(c), "AutoRemove", 0);
	const cJSON *it;
	struct volume *v;

	rl->b = b;
	rl->done = done;
	rl->arg = arg;
	strv_init(&rl->names);
	cJSON_ArrayForEach(it, json_arr(priv, BACKEND_PRIV_MOUNTS)) {
		const char *vn = json_str(it, "Volume");
		if (vn == NULL || (v = backend_volume_by_name(b, vn)) == NULL ||
		    !pick(v, it, rm_anon) || strv_contains(&rl->names, vn))
			continue;
		strv_add(&rl->names, vn);
	}
	vol_release_next(rl);
}

/* Removal: shared-path volumes, and anonymous ones with docker rm -v. */
static int
vol_pick_release(const struct volume *v, const cJSON *rec, int rm_anon)
{
	(void)rec;
	return volume_shared_path(v) != NULL ||
	    (rm_anon && backend_vol_anonymous(v));
}

/* A failed create: what it made. */
static int
vol_pick_made(const struct volume *v, const cJSON *rec, int rm_anon)
{
	(void)v;
	(void)rm_anon;
	return json_bool(rec, "Created", 0);
}

void
backend_vol_ctr_undo(struct backend *b, struct container *c)
{
	vol_release(b, c, vol_pick_made, NULL, NULL);
}

/* A create a restart cut short: what it made goes too. */
static int
vol_pick_interrupted(const struct volume *v, const cJSON *rec, int rm_anon)
{
	return vol_pick_release(v, rec, rm_anon) ||
	    vol_pick_made(v, rec, rm_anon);
}

void
backend_vol_ctr_release(
    struct backend *b, struct container *c, void (*done)(void *arg), void *arg)
{
	vol_release(b, c,
	    json_bool(container_private(c), BACKEND_PRIV_CREATING, 0) ?
		vol_pick_interrupted :
		vol_pick_release,
	    done, arg);
}

void
backend_vol_ctr_events(
    struct backend *b, const struct container *c, const char *action)
{
	const cJSON *it, *m;
	struct volume *v;

	cJSON_ArrayForEach(it, json_arr(container_doc(c), "Mounts")) {
		const char *type = json_str(it, "Type");
		if (type == NULL || strcmp(type, "volume") != 0 ||
		    (v = backend_volume_by_name(b, json_str(it, "Name"))) ==
			NULL)
			continue;
		m = it;
		backend_vol_event(b, v, action, c, m);
	}
}
