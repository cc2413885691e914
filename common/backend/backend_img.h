/* Private to the backend framework: images (backend_img.c). */
#ifndef SOCKERLESS_BACKEND_IMG_H
#define SOCKERLESS_BACKEND_IMG_H

#include "backend_int.h"

/* The framework's own object in an image record. */
#define IMG_PRIVATE "Sockerless"

/* backend_img.c: images */
void backend_img_pull(
    struct backend *b, struct httpsrv_req *r, const struct router_match *m);
void backend_img_list(
    struct backend *b, struct httpsrv_req *r, const struct router_match *m);
void backend_img_inspect(
    struct backend *b, struct httpsrv_req *r, const struct router_match *m);
void backend_img_tag(
    struct backend *b, struct httpsrv_req *r, const struct router_match *m);
void backend_img_remove(
    struct backend *b, struct httpsrv_req *r, const struct router_match *m);
void backend_img_prune(
    struct backend *b, struct httpsrv_req *r, const struct router_match *m);
/* History, push and save: dockerd's answers for a missing image. */
void backend_img_history(
    struct backend *b, struct httpsrv_req *r, const struct router_match *m);
void backend_img_push(
    struct backend *b, struct httpsrv_req *r, const struct router_match *m);
void backend_img_save(
    struct backend *b, struct httpsrv_req *r, const struct router_match *m);
/* backend_auth.c: POST /auth (docker login) */
void backend_auth_login(
    struct backend *b, struct httpsrv_req *r, const struct router_match *m);
/* Looks an image up by any reference; returns a new doc or NULL. */
cJSON *backend_img_find(struct backend *b, const char *ref);
int backend_img_init(struct backend *b, struct err *e);
void backend_img_free(struct backend *b);

/* backend_img.c: the records */
/* The normalised form of a user's reference ("docker.io/library/x:tag"),
 * or NULL when it is not a valid reference. */
char *backend_img_normalize(const char *ref);
/* Returns the stored image doc (with refs filled in) for an id. */
cJSON *backend_img_load(struct backend *b, const char *id);
/* backend_img_pull.c: one progress line of a pull or push */
void backend_img_status(
    struct httpsrv_req *r, const char *status, const char *id);

/* backend_img_tree.c: files of an image, read from its layers (docs/
 * volumes.md). ARCHIVE: path as `docker cp` GETs it (the top entry is
 * path's base name); CONTENTS: what is inside the directory path, with
 * "./" first carrying its owner and mode (the copy-up into a new volume).
 * fn gets a tar file (kept in the state directory's cache; read it, do not
 * delete it) and the stat of path as the archive_stat JSON object, or both
 * NULL when the image has nothing at path, or e. Called once, from the
 * loop. */
enum backend_tree_mode { BACKEND_TREE_ARCHIVE, BACKEND_TREE_CONTENTS };
typedef void (*backend_tree_fn)(
    void *arg, const char *tar_path, const cJSON *stat, const struct err *e);
void backend_img_tree(struct backend *b, struct container *c, const char *path,
    enum backend_tree_mode mode, backend_tree_fn fn, void *arg);
/* HEAD (head 1) or GET /containers/{id}/archive of a container that never
 * ran: the image's files with the archives put before start over them. */
void backend_img_tree_archive(struct backend *b, struct httpsrv_req *r,
    struct container *c, const char *path, int head);
/* 1 when c was created and never started: its files are the image's. */
int backend_img_tree_never_ran(struct container *c);
/* The inspect "Mounts" entry of the volume that holds path in c (the
 * deepest), or NULL: a stopped container's files there outlive it. */
const cJSON *backend_img_tree_volume_at(
    const struct container *c, const char *path);
/* Drops fetches in flight (their callers are going away too). */
void backend_img_tree_free(struct backend *b);

#endif
