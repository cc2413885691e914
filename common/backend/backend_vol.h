/* Docker volumes in the framework (docs/volumes.md): the records and their
 * store (backend_vol.c), the mounts of a container (backend_vol_ctr.c,
 * backend_vol_mnt.c) and the routes (backend_vol_api.c). */
#ifndef SOCKERLESS_BACKEND_VOL_H
#define SOCKERLESS_BACKEND_VOL_H

#include "backend_int.h"

/* The framework's object in a volume's document. */
#define VOLUME_PRIVATE "Sockerless"
/* The container's mounts as the framework keeps them (container_private):
 * [{"Kind": "volume"|"tmpfs"|"docker_sock", "Target", "ReadOnly",
 * "NoCopy", "Volume", "TmpfsSize", "TmpfsMode"}], in HostConfig order. */
#define BACKEND_PRIV_MOUNTS "Mounts"
/* docker rm -v asked for the container's anonymous volumes to go. */
#define BACKEND_PRIV_RM_VOLUMES "RemoveVolumes"
/* Where shared-path volumes get their names from. */
#define VOLUME_SHARED_PREFIX "sockerless-shared-"

/* backend_vol.c: the records */
void backend_vol_load(struct backend *b);
void backend_vol_free(struct backend *b);
int backend_vol_anonymous(const struct volume *v);
/* A new volume record (listed and saved): labels and opts may be NULL and
 * are copied; shared_path NULL for a Docker volume. */
struct volume *backend_vol_add(struct backend *b, const char *name,
    const cJSON *labels, const cJSON *opts, int anonymous,
    const char *shared_path);
void backend_vol_delete(struct backend *b, struct volume *v);
/* Containers that mount v (RefCount); ids (may be NULL) gets theirs. */
int backend_vol_refs(struct backend *b, const struct volume *v, cJSON *ids);
/* The volume as inspect and list show it (no framework keys). */
cJSON *backend_vol_json(const struct volume *v);
/* A volume event: create, destroy; mount and unmount with c and m. */
void backend_vol_event(struct backend *b, const struct volume *v,
    const char *action, const struct container *c, const cJSON *m);
/* ops->vol_create for a new record: on success it is saved and the create
 * event sent; on failure the record is deleted. Then done(arg, e). */
void backend_vol_make(
    struct backend *b, struct volume *v, backend_done_fn done, void *arg);
/* ops->vol_remove: on success the destroy event and the record goes; on
 * failure it stays. Then done(arg, e). */
void backend_vol_destroy(
    struct backend *b, struct volume *v, backend_done_fn done, void *arg);
/* Volumes whose vol_create a restart cut short are removed (start-up). */
void backend_vol_resolve_creating(struct backend *b);
/* A vol_create is in flight. */
int backend_vol_creating(const struct volume *v);
/* A destroy is in flight. */
int backend_vol_removing(const struct volume *v);
/* dockerd's name rule; 0 or -1 with a 400. */
int backend_vol_check_name(const char *name, struct err *e);

/* backend_vol_mnt.c: a create body's mounts, parsed and checked */
/* One mount a create asks for, before volumes are looked up. */
struct vol_want {
	enum backend_mount_kind kind;
	char *target, *name; /* name: VOLUME; NULL for a new anonymous one */
	char *source;	     /* the host path of a bind ("" otherwise) */
	char *shared;	     /* a bind under shared_paths: the fs path */
	char *mode;	     /* Mounts[].Mode as dockerd shows it */
	char *propagation;
	const char *type; /* Mounts[].Type: volume, bind */
	int readonly, nocopy;
	cJSON *labels; /* VolumeOptions.Labels for a volume it creates */
	long long tmpfs_size;
	int tmpfs_mode;
};
struct vol_wants {
	struct vol_want *v;
	size_t n;
};
void backend_vol_wants_free(struct vol_wants *w);
/* Every mount of a create: Binds, Mounts, VolumesFrom, image VOLUMEs,
 * Tmpfs; 400 (or 404 for VolumesFrom) with dockerd's sentences. */
int backend_vol_wants(struct backend *b, const cJSON *hc, const cJSON *cfg,
    struct vol_wants *w, struct err *e);

/* backend_vol_ctr.c: containers and their volumes */
/* The volumes c's create needs are made (vol_create) and its mounts
 * recorded in its document; then done(arg, e). On a failure the volumes
 * this call made are removed again. */
void backend_vol_ctr_create(struct backend *b, struct container *c,
    struct vol_wants *w, backend_done_fn done, void *arg);
/* c is gone: its shared-path volumes no one else uses are removed, and
 * with docker rm -v its anonymous ones; then done(arg). */
void backend_vol_ctr_release(
    struct backend *b, struct container *c, void (*done)(void *arg), void *arg);
/* A failed create: the volumes made for it go (named ones that existed
 * before stay). */
void backend_vol_ctr_undo(struct backend *b, struct container *c);
/* mount / unmount events for c's volumes. */
void backend_vol_ctr_events(
    struct backend *b, const struct container *c, const char *action);

/* backend_vol_api.c: the routes */
void backend_vol_create(
    struct backend *b, struct httpsrv_req *r, const struct router_match *m);
void backend_vol_list(
    struct backend *b, struct httpsrv_req *r, const struct router_match *m);
void backend_vol_inspect(
    struct backend *b, struct httpsrv_req *r, const struct router_match *m);
void backend_vol_remove(
    struct backend *b, struct httpsrv_req *r, const struct router_match *m);
void backend_vol_prune(
    struct backend *b, struct httpsrv_req *r, const struct router_match *m);
/* GET /system/df: backend_sys's document with the volumes. */
void backend_vol_df(
    struct backend *b, struct httpsrv_req *r, const struct router_match *m);

#endif
