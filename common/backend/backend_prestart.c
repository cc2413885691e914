/* Files before start, kept (backend_prestart.h): a PUT archive on a
 * container that has never run is checked, written to
 * <state_dir>/prestart/<id>/<n>.tar and recorded in the container's
 * private state, so that it survives a restart of the backend; each start
 * sends them to the agent (backend_prestart_run.c); rm deletes them. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "backend_ctr.h"
#include "backend_prestart.h"
#include "sockerless/json.h"
#include "sockerless/log.h"
#include "sockerless/xmalloc.h"

static char *
prestart_dir(const struct backend *b, const struct container *c)
{
	return xasprintf("%s/prestart/%s", b->conf.state_dir, c->id);
}

static long long
prestart_kept_bytes(struct container *c)
{
	const cJSON *it;
	long long sum = 0;

	cJSON_ArrayForEach(
	    it, json_arr(container_private(c), BACKEND_PRIV_PRESTART)) {
		sum += json_int(it, "size", 0);
	}
	return sum;
}

/* Writes the body to a new file of c's; its path, or NULL with e. */
static char *
prestart_write(struct backend *b, struct container *c, const char *body,
    size_t len, struct err *e)
{
	char *top = xasprintf("%s/prestart", b->conf.state_dir);
	char *dir = prestart_dir(b, c), *file = NULL;
	int n = cJSON_GetArraySize(
		json_arr(container_private(c), BACKEND_PRIV_PRESTART)),
	    fd = -1;
	size_t off = 0;
	ssize_t w;

	if ((mkdir(top, 0700) == -1 && errno != EEXIST) ||
	    (mkdir(dir, 0700) == -1 && errno != EEXIST)) {
		err_set(e, 500, "creating %s: %s", dir, strerror(errno));
		goto fail;
	}
	file = xasprintf("%s/%d.tar", dir, n);
	fd = open(file, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd == -1)
		goto fail_io;
	while (off < len) {
		if ((w = write(fd, body + off, len - off)) == -1) {
			if (errno == EINTR)
				continue;
			goto fail_io;
		}
		off += (size_t)w;
	}
	if (close(fd) == -1) {
		fd = -1;
		goto fail_io;
	}
	free(top);
	free(dir);
	return file;
fail_io:
	err_set(e, 500, "keeping the archive in %s: %s", dir, strerror(errno));
	if (fd != -1)
		close(fd);
	if (file != NULL)
		unlink(file);
fail:
	free(file);
	free(top);
	free(dir);
	return NULL;
}

/* The checks of a put before start, in Docker's order; 0 or -1 with e. */
static int
prestart_put_check(struct backend *b, struct container *c,
    struct httpsrv_req *r, const char *body, size_t len, struct err *e)
{
	const char *path = httpsrv_req_query(r, "path");
	long long kept = prestart_kept_bytes(c);

	if (path == NULL || path[0] == '\0')
		return err_set(e, 400,
		    "path is required: give the path inside the container");
	if (path[0] != '/')
		return err_set(e, 400,
		    "path \"%s\" is not absolute: give the absolute path of "
		    "a directory inside the container",
		    path);
	if (!backend_agent_runs(b) || !b->caps.flag[CAP_EXEC])
		return err_set(e, 501,
		    "This backend (%s) runs no sockerless agent in its "
		    "workloads, so files cannot be copied into container "
		    "%.12s before it starts; bake them into the image instead",
		    b->ops->name, c->id);
	if ((long long)len > b->conf.archive_max - kept)
		return err_set(e, 413,
		    "the archive is larger than the %lld bytes this "
		    "installation keeps for a container that has not started "
		    "(archive_max)%s",
		    b->conf.archive_max,
		    kept > 0 ? ", counting the archives put before" : "");
	return backend_prestart_tar_check((const unsigned char *)body, len, e);
}

int
backend_prestart_put(struct backend *b, struct httpsrv_req *r,
    const struct router_match *m, backend_handler again)
{
	struct container *c;
	const char *body, *st;
	size_t len = 0;
	char *file;
	cJSON *rec;
	struct err e;

	if ((c = backend_lookup_or_reply(b, r, router_param(m, "id"))) == NULL)
		return 1;
	st = json_str(container_state(c), "Status");
	if (st == NULL || strcmp(st, "created") != 0)
		return 0;
	/* A start in flight decides where the files go: wait for it. */
	if (backend_ctr_park(c, r, m, again))
		return 1;
	if ((body = httpsrv_req_body(r, &len)) == NULL)
		len = 0;
	if (prestart_put_check(b, c, r, body, len, &e) == -1 ||
	    (file = prestart_write(b, c, body, len, &e)) == NULL) {
		httpsrv_reply_err(r, &e);
		return 1;
	}
	rec = cJSON_CreateObject();
	json_add_str(rec, "path", httpsrv_req_query(r, "path"));
	json_add_str(rec, "file", file);
	json_add_int(rec, "size", (int64_t)len);
	json_add_bool(rec, "noOverwriteDirNonDir",
	    backend_query_bool(r, "noOverwriteDirNonDir", 0));
	json_add_bool(
	    rec, "copyUIDGID", backend_query_bool(r, "copyUIDGID", 0));
	if (json_arr(container_private(c), BACKEND_PRIV_PRESTART) == NULL)
		json_set(container_private(c), BACKEND_PRIV_PRESTART,
		    cJSON_CreateArray());
	cJSON_AddItemToArray(
	    json_arr(container_private(c), BACKEND_PRIV_PRESTART), rec);
	backend_container_save(b, c);
	free(file);
	httpsrv_reply_empty(r, 200);
	return 1;
}

/* A volume mount whose new volume gets the image's files at start. */
static int
prestart_copies_up(const struct backend_mount *mt)
{
	/* A read-only mount cannot be written from inside the workload;
	 * a shared-path volume is the host tree, never "new". */
	return mt->kind == BACKEND_MOUNT_VOLUME && !mt->nocopy &&
	    !mt->readonly && mt->vol != NULL &&
	    volume_shared_path(mt->vol) == NULL;
}

int
backend_prestart_copy_ups(struct backend *b, struct container *c, cJSON *out)
{
	struct backend_mount *mts = xcalloc(BACKEND_MOUNTS_MAX, sizeof(*mts));
	size_t n = backend_container_mounts(b, c, mts, BACKEND_MOUNTS_MAX);
	int count = 0;

	for (size_t i = 0; i < n; i++) {
		if (!prestart_copies_up(&mts[i]))
			continue;
		count++;
		if (out != NULL)
			cJSON_AddItemToArray(
			    out, cJSON_CreateString(mts[i].target));
	}
	free(mts);
	return count;
}

int
backend_prestart_wanted(struct backend *b, struct container *c)
{
	if (!backend_agent_runs(b) || !b->caps.flag[CAP_EXEC])
		return 0;
	return cJSON_GetArraySize(
		   json_arr(container_private(c), BACKEND_PRIV_PRESTART)) > 0 ||
	    backend_prestart_copy_ups(b, c, NULL) > 0;
}

void
backend_prestart_forget(struct backend *b, struct container *c)
{
	char *dir = prestart_dir(b, c), *f;
	struct dirent *d;
	DIR *dp;

	/* Every file there, also one a crash left unrecorded. */
	if ((dp = opendir(dir)) != NULL) {
		while ((d = readdir(dp)) != NULL) {
			if (d->d_name[0] == '.')
				continue;
			f = xasprintf("%s/%s", dir, d->d_name);
			if (unlink(f) == -1)
				log_warnx(
				    "removing %s: %s", f, strerror(errno));
			free(f);
		}
		closedir(dp);
		if (rmdir(dir) == -1)
			log_warnx("removing %s: %s", dir, strerror(errno));
	}
	free(dir);
}
