/* Docker volumes on ECS: each volume (named, anonymous or the hidden
 * volume of a shared path) is an EFS access point of ecs.efs_filesystem_id,
 * and a task mounts it through efsVolumeConfiguration. A Docker volume's
 * directory is <efs_root>/<instance>/<name>-<generation>: EFS has no API to
 * delete files, so a removed volume's directory stays, and a new volume of
 * the same name must not see it (docs/volumes.md). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>

#include "ecs.h"
#include "sockerless/aws_efs.h"
#include "sockerless/id.h"
#include "sockerless/json.h"
#include "sockerless/log.h"
#include "sockerless/xmalloc.h"

/* A volume operation in flight: creates are known to the orphan sweep,
 * and all are freed at shut-down. */
struct ecs_vol_op {
	TAILQ_ENTRY(ecs_vol_op) entry;
	struct backend *b;
	struct volume *v;
	char name[256];
	backend_done_fn done;
	void *arg;
	int create;
};

static TAILQ_HEAD(, ecs_vol_op) ecs_vol_ops = TAILQ_HEAD_INITIALIZER(
    ecs_vol_ops);

static const char *
ecs_vol_fs(void)
{
	const char *fs = ecs_conf.efs_filesystem_id;

	return fs != NULL && fs[0] != '\0' ? fs : NULL;
}

int
ecs_vol_init(struct err *e)
{
	const char *root = ecs_conf.efs_root;

	if (ecs_vol_fs() == NULL)
		return 0;
	if (ecs_volmap_dir_ok(root, 2, e, "ecs.efs_root") == -1)
		return -1;
	if (strlen(root) > ECS_VOL_ROOT_MAX || strcmp(root, "/") == 0)
		return err_set(e, 500,
		    "ecs.efs_root %s must be a directory below / of at most "
		    "%d characters (EFS limits an access point's path to %d)",
		    root, ECS_VOL_ROOT_MAX, AWS_EFS_PATH_MAX);
	if (ecs_conf.efs_iam &&
	    (ecs_conf.task_role_arn == NULL || !ecs_conf.task_role_arn[0]))
		return err_set(e, 500,
		    "ecs.efs_iam needs ecs.task_role_arn: EFS authorizes the "
		    "task role (elasticfilesystem:ClientMount, ClientWrite; "
		    "docs/backend-ecs.md)");
	aws_set_endpoint(ecs_aws.aws, "efs", ecs_conf.endpoint_efs);
	if (aws_efs_fs_check(
		ecs_aws.aws, ecs_vol_fs(), "ecs.efs_filesystem_id", e) == -1)
		return -1;
	log_info("volumes on EFS file system %s under %s", ecs_vol_fs(), root);
	return 0;
}

static struct ecs_vol_op *
ecs_vol_op_new(struct backend *b, struct volume *v, backend_done_fn done,
    void *arg, int create)
{
	struct ecs_vol_op *op = xcalloc(1, sizeof(*op));

	op->b = b;
	op->v = v;
	if (v != NULL)
		str_lcpy(op->name, volume_name(v), sizeof(op->name));
	op->done = done;
	op->arg = arg;
	op->create = create;
	TAILQ_INSERT_TAIL(&ecs_vol_ops, op, entry);
	return op;
}

static void
ecs_vol_op_end(struct ecs_vol_op *op, const struct err *e)
{
	TAILQ_REMOVE(&ecs_vol_ops, op, entry);
	if (op->done != NULL)
		op->done(op->arg, e);
	free(op);
}

/* Records the access point in the volume's private state. */
static void
ecs_vol_record(struct backend *b, struct volume *v, const struct aws_efs_ap *ap)
{
	cJSON *priv = volume_private(v);

	json_set(priv, ECS_P_VOL_AP, cJSON_CreateString(ap->id));
	json_set(priv, ECS_P_VOL_ARN, cJSON_CreateString(ap->arn));
	json_set(priv, ECS_P_VOL_FS,
	    cJSON_CreateString(ap->fs_id[0] ? ap->fs_id : ecs_vol_fs()));
	json_set(priv, ECS_P_VOL_PATH, cJSON_CreateString(ap->path));
	backend_volume_save(b, v);
}

static void
ecs_vol_made(void *arg, const struct aws_efs_ap *ap, const struct err *e)
{
	struct ecs_vol_op *op = arg;
	struct err we;

	if (e != NULL) {
		we = *e;
		err_wrap(&we, "creating volume %s", op->name);
		ecs_vol_op_end(op, &we);
		return;
	}
	ecs_vol_record(op->b, op->v, ap);
	log_info("volume %s is EFS access point %s (%s)", op->name, ap->id,
	    ap->path);
	ecs_vol_op_end(op, NULL);
}

/* The access point's root: the shared path itself, or a fresh directory
 * for a Docker volume. */
static int
ecs_vol_root(struct backend *b, struct volume *v, const char *gen, char *path,
    size_t size, struct err *e)
{
	const char *shared = volume_shared_path(v);

	if (shared != NULL) {
		if (ecs_volmap_dir_ok(
			shared, AWS_EFS_PATH_DEPTH, e, "the shared path") == -1)
			return -1;
		str_lcpy(path, shared, size);
		return 0;
	}
	return ecs_volmap_path(ecs_conf.efs_root, backend_instance(b),
	    volume_name(v), gen, path, size, e);
}

void
ecs_vol_create(
    struct backend *b, struct volume *v, backend_done_fn done, void *arg)
{
	const char *tags[] = { AWS_EFS_TAG_INSTANCE, backend_instance(b),
		AWS_EFS_TAG_VOLUME, volume_name(v), NULL };
	struct aws_efs_ap_spec spec = {
		.fs_id = ecs_vol_fs(), .name = volume_name(v), .tags = tags
	};
	char path[AWS_EFS_PATH_MAX + 1], token[41], rnd[65], *text;
	struct err e;

	if (spec.fs_id == NULL) {
		err_set(&e, 501, "%s", ECS_VOL_WHY);
		done(arg, &e);
		return;
	}
	id_new(rnd);
	rnd[8] = '\0';
	if (ecs_vol_root(b, v, rnd, path, sizeof(path), &e) == -1) {
		err_wrap(&e, "volume %s", volume_name(v));
		done(arg, &e);
		return;
	}
	/* One token per create (the core repeats the same request, so a
	 * repeated create makes one access point), new for a volume made
	 * again: a shared path keeps its directory, and EFS must not answer
	 * a new create with the removed volume's access point. */
	text = xasprintf(
	    "%s\n%s\n%s\n%s", spec.fs_id, backend_instance(b), path, rnd);
	kit_hash(text, token, 40);
	free(text);
	spec.token = token;
	spec.path = path;
	aws_efs_ap_create(ecs_aws.aws, &spec, ECS_VOL_WAIT_MS, ecs_vol_made,
	    ecs_vol_op_new(b, v, done, arg, 1));
}

static void
ecs_vol_deleted(void *arg, const struct aws_efs_ap *ap, const struct err *e)
{
	struct ecs_vol_op *op = arg;
	struct err we;

	(void)ap;
	if (e != NULL) {
		we = *e;
		err_wrap(&we, "removing volume %s", op->name);
		ecs_vol_op_end(op, &we);
		return;
	}
	ecs_vol_op_end(op, NULL);
}

void
ecs_vol_remove(
    struct backend *b, struct volume *v, backend_done_fn done, void *arg)
{
	const char *ap = json_str(volume_private(v), ECS_P_VOL_AP);

	/* The files stay: EFS has no API to delete them (docs). */
	if (ap == NULL || ap[0] == '\0') {
		done(arg, NULL);
		return;
	}
	aws_efs_ap_delete(ecs_aws.aws, ap, ecs_vol_deleted,
	    ecs_vol_op_new(b, v, done, arg, 0));
}

/* --- orphans ----------------------------------------------------------- */

static int
ecs_vol_creating(const char *name)
{
	struct ecs_vol_op *op;

	TAILQ_FOREACH(op, &ecs_vol_ops, entry)
		if (op->create && strcmp(op->name, name) == 0)
			return 1;
	return 0;
}

static void
ecs_vol_orphan_deleted(
    void *arg, const struct aws_efs_ap *ap, const struct err *e)
{
	struct ecs_vol_op *op = arg;

	(void)ap;
	if (e != NULL)
		log_warnx("orphaned EFS access point of volume %s: %s",
		    op->name, e->msg);
	ecs_vol_op_end(op, NULL);
}

/* One access point of this instance: its volume's, adopted by a volume
 * whose create a restart cut short, or an orphan. */
static void
ecs_vol_sweep_one(struct backend *b, const struct aws_efs_ap *ap, int stop)
{
	struct volume *v = backend_volume_by_name(b, ap->volume);
	const char *have;
	struct ecs_vol_op *op;

	if (ecs_vol_creating(ap->volume))
		return;
	have = v != NULL ? json_str(volume_private(v), ECS_P_VOL_AP) : NULL;
	if (v != NULL && have != NULL && strcmp(have, ap->id) == 0)
		return;
	if (v != NULL && (have == NULL || have[0] == '\0') &&
	    (volume_shared_path(v) == NULL ||
		strcmp(volume_shared_path(v), ap->path) == 0)) {
		log_info("volume %s adopts EFS access point %s (its create "
			 "was cut short)",
		    ap->volume, ap->id);
		ecs_vol_record(b, v, ap);
		return;
	}
	log_warnx("orphaned EFS access point %s (volume %s, %s) is not in "
		  "this instance's state%s",
	    ap->id, ap->volume, ap->path, stop ? "; deleting it" : "");
	if (!stop)
		return;
	op = ecs_vol_op_new(b, NULL, NULL, NULL, 0);
	str_lcpy(op->name, ap->volume, sizeof(op->name));
	aws_efs_ap_delete(ecs_aws.aws, ap->id, ecs_vol_orphan_deleted, op);
}

static void
ecs_vol_listed(
    void *arg, const struct aws_efs_ap *aps, size_t n, const struct err *e)
{
	struct ecs_vol_op *op = arg;
	int stop = kit_orphans_stop(&ecs_orphans);

	if (e != NULL)
		log_warnx("listing the EFS access points of %s: %s",
		    ecs_vol_fs(), e->msg);
	for (size_t i = 0; e == NULL && i < n; i++)
		if (strcmp(aps[i].instance, backend_instance(op->b)) == 0)
			ecs_vol_sweep_one(op->b, &aps[i], stop);
	ecs_vol_op_end(op, NULL);
}

void
ecs_vol_reconcile(struct backend *b)
{
	if (ecs_vol_fs() == NULL)
		return;
	aws_efs_ap_list(ecs_aws.aws, ecs_vol_fs(), ecs_vol_listed,
	    ecs_vol_op_new(b, NULL, NULL, NULL, 0));
}

void
ecs_vol_shutdown(void)
{
	struct ecs_vol_op *op;

	if (ecs_aws.aws != NULL)
		aws_efs_cancel_all(ecs_aws.aws);
	while ((op = TAILQ_FIRST(&ecs_vol_ops)) != NULL) {
		TAILQ_REMOVE(&ecs_vol_ops, op, entry);
		free(op);
	}
}

/* --- the task definition ---------------------------------------------- */

/* Appends the items of from to the array key of o (made when missing). */
static void
ecs_vol_append(cJSON *o, const char *key, cJSON *from)
{
	cJSON *to = json_arr(o, key), *it;

	if (cJSON_GetArraySize(from) == 0) {
		cJSON_Delete(from);
		return;
	}
	if (to == NULL) {
		cJSON_AddItemToObject(o, key, from);
		return;
	}
	while ((it = cJSON_DetachItemFromArray(from, 0)) != NULL)
		cJSON_AddItemToArray(to, it);
	cJSON_Delete(from);
}

int
ecs_vol_def(struct backend *b, struct container *c, int agent, cJSON *td,
    cJSON *ctr, struct err *e)
{
	/* The framework refuses more than BACKEND_MOUNTS_MAX at create. */
	struct backend_mount ms[BACKEND_MOUNTS_MAX];
	struct ecs_volmap_in in[BACKEND_MOUNTS_MAX];
	size_t n = backend_container_mounts(b, c, ms, BACKEND_MOUNTS_MAX);
	cJSON *vols, *mps;

	if (n == 0)
		return 0;
	memset(in, 0, sizeof(in));
	for (size_t i = 0; i < n; i++) {
		in[i].kind = ms[i].kind;
		in[i].target = ms[i].target;
		in[i].readonly = ms[i].readonly;
		if (ms[i].kind != BACKEND_MOUNT_VOLUME || ms[i].vol == NULL)
			continue;
		const cJSON *priv = volume_private(ms[i].vol);
		in[i].vol_name = volume_name(ms[i].vol);
		in[i].ap_id = json_str(priv, ECS_P_VOL_AP);
		in[i].fs_id = json_str(priv, ECS_P_VOL_FS);
	}
	vols = cJSON_CreateArray();
	mps = cJSON_CreateArray();
	if (ecs_volmap_task(in, n, ecs_conf.efs_iam, agent, vols, mps, e) ==
	    -1) {
		cJSON_Delete(vols);
		cJSON_Delete(mps);
		return -1;
	}
	ecs_vol_append(td, "volumes", vols);
	ecs_vol_append(ctr, "mountPoints", mps);
	return 0;
}
