/* Docker volumes on Cloud Run: each Docker volume is the directory
 * <cloudrun.volume_prefix>/<name> of cloudrun.volume_bucket, mounted into
 * the job's task as a Cloud Storage volume (gcsfuse) whose only-dir is
 * that directory; a volume of a shared path is the bucket directory of
 * its file-system path. --tmpfs is an in-memory emptyDir. Unlike EFS,
 * Cloud Storage deletes files: `docker volume rm` removes the objects.
 * docs/volumes.md, "Cloud Run (Cloud Storage)". */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>

#include "cloudrun.h"
#include "sockerless/gcp_gcs.h"
#include "sockerless/json.h"
#include "sockerless/log.h"
#include "sockerless/xmalloc.h"

/* A volume call in flight, cancelled at shut-down. */
struct cloudrun_vol_op {
	TAILQ_ENTRY(cloudrun_vol_op) entry;
	struct backend *b;
	struct volume *v;
	char name[256];
	char dir[1024];
	backend_done_fn done;
	void *arg;
	uint64_t id;	       /* the placeholder's upload */
	struct gcp_gcs_rm *rm; /* the removal */
};

static TAILQ_HEAD(, cloudrun_vol_op) cloudrun_vol_ops = TAILQ_HEAD_INITIALIZER(
    cloudrun_vol_ops);

int
cloudrun_vol_on(void)
{
	const char *b = cloudrun_conf.volume_bucket;

	return b != NULL && b[0] != '\0';
}

static const char *
cloudrun_vol_prefix(void)
{
	const char *p = cloudrun_conf.volume_prefix;

	return p != NULL ? p : "";
}

int
cloudrun_vol_init(struct err *e)
{
	const char *bucket = cloudrun_conf.volume_bucket;
	cJSON *out = NULL;
	char *path;
	int rc;

	if (!cloudrun_vol_on())
		return 0;
	if (!gcp_gcs_bucket_valid(bucket))
		return err_set(e, 500,
		    "cloudrun.volume_bucket %s is not a Cloud Storage bucket "
		    "name (3-63 characters of a-z, 0-9, '_', '-', '.')",
		    bucket);
	if (!gcp_gcs_prefix_valid(cloudrun_vol_prefix()))
		return err_set(e, 500,
		    "cloudrun.volume_prefix \"%s\" is not a directory of a "
		    "bucket (1-1000 bytes, no leading or trailing '/', no "
		    "empty, '.' or '..' part)",
		    cloudrun_vol_prefix());
	path = xasprintf("storage/v1/b/%s", bucket);
	rc = gcp_call_sync(cloudrun_gcp.gcp, "storage", "buckets.get", "GET",
	    path, "fields=name,location", NULL, &out, e);
	free(path);
	cJSON_Delete(out);
	if (rc == -1) {
		e->status = 500;
		return err_wrap(e,
		    "cloudrun.volume_bucket %s: the bucket of the volumes "
		    "cannot be read (create it, or grant the backend's "
		    "account storage.buckets.get)",
		    bucket);
	}
	log_info("volumes in gs://%s/%s", bucket, cloudrun_vol_prefix());
	return 0;
}

static struct cloudrun_vol_op *
cloudrun_vol_op_new(
    struct backend *b, struct volume *v, backend_done_fn done, void *arg)
{
	struct cloudrun_vol_op *op = xcalloc(1, sizeof(*op));

	op->b = b;
	op->v = v;
	str_lcpy(op->name, volume_name(v), sizeof(op->name));
	op->done = done;
	op->arg = arg;
	TAILQ_INSERT_TAIL(&cloudrun_vol_ops, op, entry);
	return op;
}

static void
cloudrun_vol_op_end(struct cloudrun_vol_op *op, const struct err *e)
{
	TAILQ_REMOVE(&cloudrun_vol_ops, op, entry);
	op->done(op->arg, e);
	free(op);
}

/* The bucket directory of v: the shared path's (without its leading
 * '/'), or <prefix>/<name> of a Docker volume. -1 with a 400 when Cloud
 * Storage cannot name it. */
static int
cloudrun_vol_dir(struct volume *v, char *dir, size_t size, struct err *e)
{
	const char *shared = volume_shared_path(v);

	if (shared != NULL) {
		while (*shared == '/')
			shared++;
		if ((size_t)snprintf(dir, size, "%s", shared) >= size ||
		    !gcp_gcs_prefix_valid(dir))
			return err_set(e, 400,
			    "the shared path %s is not a directory Cloud "
			    "Storage can name (no empty, '.' or '..' part, at "
			    "most 1000 bytes, not the bucket's root); map the "
			    "host path elsewhere in shared_paths",
			    volume_shared_path(v));
		return 0;
	}
	if ((size_t)snprintf(dir, size, "%s/%s", cloudrun_vol_prefix(),
		volume_name(v)) >= size ||
	    !gcp_gcs_prefix_valid(dir))
		return err_set(e, 400,
		    "volume %s does not fit a Cloud Storage object name "
		    "under %s; shorten the name or cloudrun.volume_prefix",
		    volume_name(v), cloudrun_vol_prefix());
	return 0;
}

static void
cloudrun_vol_record(struct backend *b, struct volume *v, const char *dir)
{
	cJSON *priv = volume_private(v);

	json_set(priv, CLOUDRUN_P_VOL_BUCKET,
	    cJSON_CreateString(cloudrun_conf.volume_bucket));
	json_set(priv, CLOUDRUN_P_VOL_DIR, cJSON_CreateString(dir));
	backend_volume_save(b, v);
}

static void
cloudrun_vol_made(void *arg, const struct cloud_error *ce)
{
	struct cloudrun_vol_op *op = arg;
	struct err e;

	op->id = 0;
	if (ce != NULL) {
		cloud_error_to_err(gcp_provider(), ce, &e);
		err_wrap(&e, "creating volume %s", op->name);
		cloudrun_vol_op_end(op, &e);
		return;
	}
	cloudrun_vol_record(op->b, op->v, op->dir);
	log_info("volume %s is gs://%s/%s/", op->name,
	    cloudrun_conf.volume_bucket, op->dir);
	cloudrun_vol_op_end(op, NULL);
}

void
cloudrun_vol_create(
    struct backend *b, struct volume *v, backend_done_fn done, void *arg)
{
	struct cloudrun_vol_op *op;
	char dir[1024];
	struct err e;

	if (!cloudrun_vol_on()) {
		err_set(&e, 501, "%s", CLOUDRUN_VOL_WHY);
		done(arg, &e);
		return;
	}
	if (cloudrun_vol_dir(v, dir, sizeof(dir), &e) == -1) {
		done(arg, &e);
		return;
	}
	/* A shared path's directory is the host's tree: nothing to make
	 * (implicit-dirs shows it as soon as a file is under it). */
	if (volume_shared_path(v) != NULL) {
		cloudrun_vol_record(b, v, dir);
		done(arg, NULL);
		return;
	}
	op = cloudrun_vol_op_new(b, v, done, arg);
	str_lcpy(op->dir, dir, sizeof(op->dir));
	op->id = gcp_gcs_dir_make(cloudrun_gcp.gcp, cloudrun_conf.volume_bucket,
	    dir, cloudrun_vol_made, op, &e);
	if (op->id == 0)
		cloudrun_vol_op_end(op, &e);
}

static void
cloudrun_vol_removed(void *arg, size_t deleted, const struct cloud_error *ce)
{
	struct cloudrun_vol_op *op = arg;
	struct err e;

	op->rm = NULL;
	if (ce != NULL) {
		cloud_error_to_err(gcp_provider(), ce, &e);
		err_wrap(&e,
		    "removing volume %s (some of its files in gs://%s/%s/ "
		    "may remain)",
		    op->name, cloudrun_conf.volume_bucket, op->dir);
		cloudrun_vol_op_end(op, &e);
		return;
	}
	log_info("volume %s removed (%zu objects)", op->name, deleted);
	cloudrun_vol_op_end(op, NULL);
}

void
cloudrun_vol_remove(
    struct backend *b, struct volume *v, backend_done_fn done, void *arg)
{
	const cJSON *priv = volume_private(v);
	const char *bucket = json_str(priv, CLOUDRUN_P_VOL_BUCKET);
	const char *dir = json_str(priv, CLOUDRUN_P_VOL_DIR);
	struct cloudrun_vol_op *op;
	char made[1024];
	struct err e;

	/* A shared path's files are the host's. */
	if (volume_shared_path(v) != NULL) {
		done(arg, NULL);
		return;
	}
	/* A create a restart cut short recorded nothing, and its placeholder
	 * may exist: its directory follows from the name. */
	if (bucket == NULL || dir == NULL || dir[0] == '\0') {
		if (!cloudrun_vol_on() ||
		    cloudrun_vol_dir(v, made, sizeof(made), &e) == -1) {
			done(arg, NULL);
			return;
		}
		bucket = cloudrun_conf.volume_bucket;
		dir = made;
	}
	op = cloudrun_vol_op_new(b, v, done, arg);
	str_lcpy(op->dir, dir, sizeof(op->dir));
	op->rm = gcp_gcs_rm_prefix(
	    cloudrun_gcp.gcp, bucket, dir, cloudrun_vol_removed, op, &e);
	if (op->rm == NULL)
		cloudrun_vol_op_end(op, &e);
}

/* --- orphans at start-up -------------------------------------------------- */

/* The listing of the volume directories in flight (a gcp_cancel id). */
static uint64_t cloudrun_vol_sweep_id;

static void
cloudrun_vol_nodone(void *arg, const struct err *e)
{
	(void)arg;
	(void)e;
}

static int
cloudrun_vol_busy(const char *name)
{
	struct cloudrun_vol_op *op;

	TAILQ_FOREACH(op, &cloudrun_vol_ops, entry)
		if (strcmp(op->name, name) == 0)
			return 1;
	return 0;
}

static void
cloudrun_vol_orphan_removed(
    void *arg, size_t deleted, const struct cloud_error *ce)
{
	struct cloudrun_vol_op *op = arg;

	op->rm = NULL;
	if (ce != NULL)
		log_warnx("orphaned volume directory gs://%s/%s/: %s: %s",
		    cloudrun_conf.volume_bucket, op->dir, ce->code,
		    ce->message);
	else
		log_info("orphaned volume directory gs://%s/%s/ deleted (%zu "
			 "objects)",
		    cloudrun_conf.volume_bucket, op->dir, deleted);
	cloudrun_vol_op_end(op, NULL);
}

static void
cloudrun_vol_orphan_rm(struct backend *b, const char *name, const char *dir)
{
	struct cloudrun_vol_op *op = xcalloc(1, sizeof(*op));
	struct err e;

	op->b = b;
	str_lcpy(op->name, name, sizeof(op->name));
	str_lcpy(op->dir, dir, sizeof(op->dir));
	op->done = cloudrun_vol_nodone;
	TAILQ_INSERT_TAIL(&cloudrun_vol_ops, op, entry);
	op->rm =
	    gcp_gcs_rm_prefix(cloudrun_gcp.gcp, cloudrun_conf.volume_bucket,
		dir, cloudrun_vol_orphan_removed, op, &e);
	if (op->rm == NULL) {
		log_warnx("orphaned volume directory gs://%s/%s/: %s",
		    cloudrun_conf.volume_bucket, dir, e.msg);
		cloudrun_vol_op_end(op, NULL);
	}
}

/* One directory "<prefix>/<name>/" of the listing: a volume's, one being
 * made or removed, or an orphan (a create that failed or was cut short
 * after its record went, a record lost). */
static void
cloudrun_vol_sweep_one(struct backend *b, const char *p, int stop)
{
	const char *prefix = cloudrun_vol_prefix();
	size_t plen = strlen(prefix), n;
	char name[256], dir[1024];

	if (strncmp(p, prefix, plen) != 0 || p[plen] != '/')
		return;
	p += plen + 1;
	n = strlen(p);
	if (n < 2 || p[n - 1] != '/' || n - 1 >= sizeof(name))
		return;
	memcpy(name, p, n - 1);
	name[n - 1] = '\0';
	if (strchr(name, '/') != NULL || backend_volume_by_name(b, name) ||
	    cloudrun_vol_busy(name))
		return;
	snprintf(dir, sizeof(dir), "%s/%s", prefix, name);
	log_warnx("orphaned volume directory gs://%s/%s/ (volume %s) is not in "
		  "this instance's state%s",
	    cloudrun_conf.volume_bucket, dir, name,
	    stop ? "; deleting it" : "");
	if (stop)
		cloudrun_vol_orphan_rm(b, name, dir);
}

static void
cloudrun_vol_listed(void *arg, const cJSON *out, const struct cloud_error *ce)
{
	struct backend *b = arg;
	const cJSON *p;
	int stop = kit_orphans_stop(&cloudrun_orphans);

	cloudrun_vol_sweep_id = 0;
	if (ce != NULL) {
		log_warnx(
		    "listing the volume directories of gs://%s/%s/: %s: %s",
		    cloudrun_conf.volume_bucket, cloudrun_vol_prefix(),
		    ce->code, ce->message);
		return;
	}
	cJSON_ArrayForEach(p, json_arr(out, "prefixes")) {
		if (cJSON_IsString(p))
			cloudrun_vol_sweep_one(b, p->valuestring, stop);
	}
}

/* At start-up: the directories under the volume prefix (this
 * installation's alone, docs/volumes.md) that no volume of the state
 * names are reported, and deleted with cloudrun.orphans: stop. */
void
cloudrun_vol_reconcile(struct backend *b)
{
	char *dir, *esc, *path, *query;

	if (!cloudrun_vol_on())
		return;
	dir = xasprintf("%s/", cloudrun_vol_prefix());
	esc = gcp_gcs_escape(dir);
	query = xasprintf("prefix=%s&delimiter=%%2F&maxResults=1000", esc);
	path = xasprintf("storage/v1/b/%s/o", cloudrun_conf.volume_bucket);
	cloudrun_vol_sweep_id =
	    gcp_list(cloudrun_gcp.gcp, "storage", "objects.list", "GET", path,
		query, NULL, "prefixes", 100, cloudrun_vol_listed, b);
	free(path);
	free(query);
	free(esc);
	free(dir);
}

void
cloudrun_vol_shutdown(void)
{
	struct cloudrun_vol_op *op;

	if (cloudrun_vol_sweep_id != 0 && cloudrun_gcp.gcp != NULL)
		gcp_cancel(cloudrun_gcp.gcp, cloudrun_vol_sweep_id);
	cloudrun_vol_sweep_id = 0;
	while ((op = TAILQ_FIRST(&cloudrun_vol_ops)) != NULL) {
		TAILQ_REMOVE(&cloudrun_vol_ops, op, entry);
		if (op->id != 0 && cloudrun_gcp.gcp != NULL)
			gcp_cancel(cloudrun_gcp.gcp, op->id);
		if (op->rm != NULL)
			gcp_gcs_rm_cancel(op->rm);
		free(op);
	}
}

/* --- the job body ------------------------------------------------------ */

size_t
cloudrun_vol_mounts(
    struct backend *b, struct container *c, struct cloudrun_vol_in *out)
{
	struct backend_mount ms[BACKEND_MOUNTS_MAX];
	size_t n = backend_container_mounts(b, c, ms, BACKEND_MOUNTS_MAX);

	memset(out, 0, n * sizeof(*out));
	for (size_t i = 0; i < n; i++) {
		out[i].kind = ms[i].kind;
		out[i].target = ms[i].target;
		out[i].readonly = ms[i].readonly;
		out[i].tmpfs_size = ms[i].tmpfs_size;
		if (ms[i].kind != BACKEND_MOUNT_VOLUME || ms[i].vol == NULL)
			continue;
		const cJSON *priv = volume_private(ms[i].vol);
		out[i].vol_name = volume_name(ms[i].vol);
		out[i].bucket = json_str(priv, CLOUDRUN_P_VOL_BUCKET);
		out[i].dir = json_str(priv, CLOUDRUN_P_VOL_DIR);
	}
	return n;
}
