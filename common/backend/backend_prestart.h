/* Private to the backend framework: files before start (docs/volumes.md,
 * "Files before start" and "Copy-up"). A PUT archive on a container that
 * has not run yet is kept in the state directory; at each start the agent
 * unpacks the copy-ups and those puts before the held command runs. */
#ifndef SOCKERLESS_BACKEND_PRESTART_H
#define SOCKERLESS_BACKEND_PRESTART_H

#include "backend_int.h"

/* Where the record of the kept puts lives in container_private(c):
 * [{"path","file","size","noOverwriteDirNonDir","copyUIDGID"}]. */
#define BACKEND_PRIV_PRESTART "Prestart"

/* backend_prestart.c: keeping the puts */
/* PUT /containers/{id}/archive on a container that has never started:
 * validates, keeps and answers r, returning 1; 0 when the container has
 * run (the caller goes to its agent). A start in flight parks r, to be
 * handled by again once it is done. */
int backend_prestart_put(struct backend *b, struct httpsrv_req *r,
    const struct router_match *m, backend_handler again);
/* Whether a start of c holds its command for files: c has kept puts or
 * a new volume to copy the image's files into, and an agent to do it. */
int backend_prestart_wanted(struct backend *b, struct container *c);
/* The targets of c's volume mounts that get the image's files (appended
 * to out as strings when out is not NULL); how many. */
int backend_prestart_copy_ups(
    struct backend *b, struct container *c, cJSON *out);
/* c is removed: its kept puts are deleted. */
void backend_prestart_forget(struct backend *b, struct container *c);
/* backend_prestart_tar.c: 0, or -1 with a 400 in e when p is not a tar
 * whose every entry stays under the destination. */
int backend_prestart_tar_check(const unsigned char *p, size_t n, struct err *e);

/* backend_prestart_run.c: delivering them at start */
/* ops->start succeeded and c's command is held: sends the copy-ups, then
 * the puts in order, then lets the agent start the command; done(arg, e)
 * after, with e when one failed (the workload is stopped first). 0 when
 * c has nothing to deliver (done is not called). */
int backend_prestart_deliver(
    struct backend *b, struct container *c, backend_done_fn done, void *arg);
/* A delivery to c is under way: the agent's `start` waits for it. */
int backend_prestart_busy(const struct container *c);

#endif
