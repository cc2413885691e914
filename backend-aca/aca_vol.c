/* Docker volumes on Container Apps: each Docker volume is an Azure Files
 * share of aca.storage_account, registered on the managed environment as
 * an AzureFile storage with the account's key, and mounted into the job's
 * replica (aca_volmap.c). `docker volume rm` deletes the storage, then
 * the share and its files. A bind under shared_paths is a sub-path of the
 * environment storage aca.shared_storage, whose root stands for the top
 * directory of the shared file-system paths (/shared). --tmpfs is an
 * EmptyDir. docs/volumes.md, "Container Apps (Azure Files)". */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/queue.h>

#include "aca.h"
#include "aca_volint.h"
#include "sockerless/json.h"
#include "sockerless/log.h"
#include "sockerless/xmalloc.h"

/* The volume's private keys. */
#define ACA_P_VOL_SHARE	  "Share"   /* the share's name */
#define ACA_P_VOL_STORAGE "Storage" /* the environment storage's name */
#define ACA_P_VOL_SUB	  "SubPath" /* a shared path's sub-path */
/* The top directory the shared storage stands for (the first shared path
 * seen fixes it). */
#define ACA_KV_VOL_TOP "aca.vol_shared_top"

#define ACA_VOL_WHY                                                             \
	"Volumes on Container Apps are Azure Files shares, and no storage "     \
	"account is configured: set aca.storage_account (docs/backend-aca.md, " \
	"Volumes)."

#define K(n, t, f, d, lo, hi, doc)                                        \
	{                                                                 \
		n, t, offsetof(struct aca_vol_conf, f), d, lo, hi, 0, doc \
	}
const struct config_key aca_vol_keys[ACA_VOL_NKEYS] = {
	K("storage_account", CONFIG_STRING, storage_account, NULL, 0, 0,
	    "Storage account (StorageV2) whose Azure Files shares are the "
	    "Docker volumes; unset: no volumes"),
	K("storage_resource_group", CONFIG_STRING, storage_resource_group, NULL,
	    0, 0,
	    "Resource group of aca.storage_account (unset: "
	    "aca.resource_group)"),
	K("storage_account_key_file", CONFIG_STRING, storage_account_key_file,
	    NULL, 0, 0,
	    "File holding a key of aca.storage_account (unset: read with "
	    "ARM listKeys at start-up)"),
	K("share_quota_gib", CONFIG_INT, share_quota_gib, "100", 1, 102400,
	    "Quota of each new share in GiB"),
	K("shared_storage", CONFIG_STRING, shared_storage, NULL, 0, 0,
	    "Environment storage (AzureFile) whose root stands for the top "
	    "directory of the shared_paths file-system paths; unset: binds "
	    "under shared paths are refused"),
	K("api_version_storage", CONFIG_STRING, api_version_storage,
	    "2023-05-01", 0, 0, "Microsoft.Storage api-version"),
};
#undef K

struct aca_vol_conf aca_vol_conf;

/* What start-up found. */
static char *aca_vol_key;     /* the account's key */
static char *aca_vol_account; /* the account's ARM path */

enum aca_vol_step {
	ACA_VOL_SHARE_PUT,
	ACA_VOL_SHARE_GET,
	ACA_VOL_STORAGE_PUT,
	ACA_VOL_UNDO,
	ACA_VOL_STORAGE_DELETE,
	ACA_VOL_JOBS_LIST,
	ACA_VOL_JOB_DELETE,
	ACA_VOL_SHARE_DELETE,
};

/* A volume call in flight, cancelled at shut-down. */
struct aca_vol_op {
	TAILQ_ENTRY(aca_vol_op) entry;
	struct backend *b;
	struct volume *v;
	char name[256];		     /* the Docker volume's */
	char share[ACA_VOL_NAME_SZ]; /* the share's and storage's */
	backend_done_fn done;
	void *arg;
	enum aca_vol_step step;
	uint64_t id;
	struct err why; /* ACA_VOL_UNDO: the failure being answered */
	/* remove: the idle jobs that still name the storage, deleted before
	 * the storage is deleted again (once) */
	struct strv jobs;
	size_t next_job;
	int released;
};

static TAILQ_HEAD(, aca_vol_op) aca_vol_ops = TAILQ_HEAD_INITIALIZER(
    aca_vol_ops);

int
aca_vol_on(void)
{
	const char *a = aca_vol_conf.storage_account;

	return a != NULL && a[0] != '\0';
}

const char *
aca_vol_why(void)
{
	return ACA_VOL_WHY;
}

static struct azure *
aca_vol_az(void)
{
	struct azure_backend *ab = aca_session();

	return ab != NULL ? ab->az : NULL;
}

static const char *
aca_vol_api(void)
{
	return aca_vol_conf.api_version_storage;
}

static char *
aca_vol_share_path(const char *share)
{
	return xasprintf(
	    "%s/fileServices/default/shares/%s", aca_vol_account, share);
}

static char *
aca_vol_storage_path(const char *storage)
{
	return xasprintf("%s/storages/%s", aca_environment_id(), storage);
}

/* The key from aca.storage_account_key_file (one line). */
static int
aca_vol_key_file(const char *path, struct err *e)
{
	char buf[512];
	size_t n;
	FILE *f = fopen(path, "r");

	if (f == NULL)
		return err_set(e, 500,
		    "aca.storage_account_key_file %s cannot be read: %s", path,
		    strerror(errno));
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	while (n > 0 &&
	    (buf[n - 1] == '\n' || buf[n - 1] == '\r' || buf[n - 1] == ' ' ||
		buf[n - 1] == '\t'))
		buf[--n] = '\0';
	if (n == 0 || n == sizeof(buf) - 1 || strpbrk(buf, "\r\n \t") != NULL)
		return err_set(e, 500,
		    "aca.storage_account_key_file %s does not hold one key "
		    "of aca.storage_account (a line of base64, as listKeys "
		    "gives)",
		    path);
	aca_vol_key = xstrdup(buf);
	return 0;
}

static int
aca_vol_list_keys(struct azure *az, struct err *e)
{
	cJSON *out = NULL;
	char *path = xasprintf("%s/listKeys", aca_vol_account);
	const cJSON *keys, *k;
	int rc;

	rc = azure_call_sync(az, "storageAccounts.listKeys", "POST", path,
	    aca_vol_api(), NULL, NULL, &out, e);
	free(path);
	if (rc == 0) {
		keys = json_arr(out, "keys");
		k = cJSON_GetArrayItem(keys, 0);
		if (json_str(k, "value") != NULL &&
		    json_str(k, "value")[0] != '\0')
			aca_vol_key = xstrdup(json_str(k, "value"));
		else
			rc = err_set(e, 500, "listKeys gave no key");
	}
	cJSON_Delete(out);
	if (rc == -1) {
		e->status = 500;
		return err_wrap(e,
		    "aca.storage_account %s: its key cannot be read (grant "
		    "the backend Microsoft.Storage/storageAccounts/listKeys/"
		    "action, or set aca.storage_account_key_file)",
		    aca_vol_conf.storage_account);
	}
	return 0;
}

static int
aca_vol_shared_init(struct azure *az, struct err *e)
{
	const char *name = aca_vol_conf.shared_storage;
	cJSON *out = NULL;
	char *path;
	int rc;

	if (name == NULL || name[0] == '\0')
		return 0;
	path = aca_vol_storage_path(name);
	rc = azure_call_sync(az, "managedEnvironments.storages.get", "GET",
	    path, aca_conf.api_version_app, NULL, NULL, &out, e);
	free(path);
	if (rc == 0 &&
	    json_obj(json_obj(out, "properties"), "azureFile") == NULL)
		rc = err_set(e, 500, "it is not an AzureFile storage");
	cJSON_Delete(out);
	if (rc == -1) {
		e->status = 500;
		return err_wrap(e,
		    "aca.shared_storage %s: the environment storage of the "
		    "shared paths cannot be used (create it on the managed "
		    "environment as an Azure Files share, docs/volumes.md)",
		    name);
	}
	return 0;
}

int
aca_vol_init(struct backend *b, struct err *e)
{
	const char *acct = aca_vol_conf.storage_account;
	struct azure_backend *ab = aca_session();
	const char *rg;
	cJSON *out = NULL;
	int rc;

	(void)b;
	if (!aca_vol_on())
		return 0;
	if (!aca_vol_account_valid(acct))
		return err_set(e, 500,
		    "aca.storage_account %s is not a storage account name "
		    "(3-24 lowercase letters and digits)",
		    acct);
	rg = aca_vol_conf.storage_resource_group;
	if (rg == NULL || rg[0] == '\0')
		rg = ab->resource_group;
	free(aca_vol_account);
	aca_vol_account = xasprintf("/subscriptions/%s/resourceGroups/%s/"
				    "providers/Microsoft.Storage/"
				    "storageAccounts/%s",
	    ab->subscription, rg, acct);
	rc = azure_call_sync(ab->az, "storageAccounts.getProperties", "GET",
	    aca_vol_account, aca_vol_api(), NULL, NULL, &out, e);
	cJSON_Delete(out);
	if (rc == -1) {
		e->status = 500;
		return err_wrap(e,
		    "aca.storage_account %s: the account of the volumes "
		    "cannot be read in the resource group %s (create it, kind "
		    "StorageV2, or grant the backend Storage Account "
		    "Contributor on it)",
		    acct, rg);
	}
	free(aca_vol_key);
	aca_vol_key = NULL;
	if (aca_vol_conf.storage_account_key_file != NULL &&
	    aca_vol_conf.storage_account_key_file[0] != '\0')
		rc = aca_vol_key_file(aca_vol_conf.storage_account_key_file, e);
	else
		rc = aca_vol_list_keys(ab->az, e);
	if (rc == -1 || aca_vol_shared_init(ab->az, e) == -1)
		return -1;
	log_info("volumes are Azure Files shares of %s", acct);
	return 0;
}

/* --- create and remove --------------------------------------------------- */

static struct aca_vol_op *
aca_vol_op_new(
    struct backend *b, struct volume *v, backend_done_fn done, void *arg)
{
	struct aca_vol_op *op = xcalloc(1, sizeof(*op));

	op->b = b;
	op->v = v;
	str_lcpy(op->name, volume_name(v), sizeof(op->name));
	op->done = done;
	op->arg = arg;
	strv_init(&op->jobs);
	TAILQ_INSERT_TAIL(&aca_vol_ops, op, entry);
	return op;
}

static void
aca_vol_op_end(struct aca_vol_op *op, const struct err *e)
{
	TAILQ_REMOVE(&aca_vol_ops, op, entry);
	op->done(op->arg, e);
	strv_free(&op->jobs);
	free(op);
}

static void aca_vol_next(
    void *arg, const cJSON *out, const struct cloud_error *ce);

static void
aca_vol_send(struct aca_vol_op *op, enum aca_vol_step step)
{
	struct azure *az = aca_vol_az();
	char *path;
	cJSON *body = NULL;
	const char *method = "GET", *api = aca_vol_api(), *what = "";

	op->step = step;
	switch (step) {
	case ACA_VOL_SHARE_PUT:
		path = aca_vol_share_path(op->share);
		body = aca_vol_share_body(aca_vol_conf.share_quota_gib,
		    op->name, backend_instance(op->b));
		method = "PUT";
		what = "fileShares.create";
		break;
	case ACA_VOL_SHARE_GET:
		path = aca_vol_share_path(op->share);
		what = "fileShares.get";
		break;
	case ACA_VOL_STORAGE_PUT:
		path = aca_vol_storage_path(op->share);
		body = aca_vol_storage_body(
		    aca_vol_conf.storage_account, aca_vol_key, op->share);
		method = "PUT";
		api = aca_conf.api_version_app;
		what = "managedEnvironments.storages.createOrUpdate";
		break;
	case ACA_VOL_STORAGE_DELETE:
		path = aca_vol_storage_path(op->share);
		method = "DELETE";
		api = aca_conf.api_version_app;
		what = "managedEnvironments.storages.delete";
		break;
	case ACA_VOL_JOBS_LIST:
		path = xasprintf(
		    "%s/providers/Microsoft.App/jobs", aca_session()->rg_path);
		op->id = azure_list(az, "jobs.listByResourceGroup", path,
		    aca_conf.api_version_app, NULL, 0, aca_vol_next, op);
		free(path);
		return;
	case ACA_VOL_JOB_DELETE:
		path = aca_job_path(op->jobs.v[op->next_job], NULL);
		op->id = azure_lro(az, "jobs.delete", "DELETE", path,
		    aca_conf.api_version_app, NULL, 0, 300, NULL, aca_vol_next,
		    op);
		free(path);
		return;
	case ACA_VOL_UNDO:
	case ACA_VOL_SHARE_DELETE:
	default:
		path = aca_vol_share_path(op->share);
		method = "DELETE";
		what = "fileShares.delete";
		break;
	}
	op->id = azure_call(
	    az, what, method, path, api, NULL, body, 0, aca_vol_next, op);
	free(path);
}

static void
aca_vol_record(struct aca_vol_op *op)
{
	cJSON *priv = volume_private(op->v);

	json_set(priv, ACA_P_VOL_SHARE, cJSON_CreateString(op->share));
	json_set(priv, ACA_P_VOL_STORAGE, cJSON_CreateString(op->share));
	backend_volume_save(op->b, op->v);
}

static void
aca_vol_fail(
    struct aca_vol_op *op, const struct cloud_error *ce, const char *what)
{
	struct err e;

	cloud_error_to_err(azure_provider(), ce, &e);
	err_wrap(&e, "%s volume %s (Azure Files share %s)", what, op->name,
	    op->share);
	/* A failed create leaves nothing: the share goes again. */
	if (op->step == ACA_VOL_STORAGE_PUT) {
		op->why = e;
		aca_vol_send(op, ACA_VOL_UNDO);
		return;
	}
	aca_vol_op_end(op, &e);
}

/* The jobs of the list out that name op's storage, into op->jobs, each
 * taken out of the reuse table and the idle journal (it is deleted now);
 * -1 with a 409 when a container still uses one. */
static int
aca_vol_idle_users(struct aca_vol_op *op, const cJSON *out, struct err *e)
{
	const cJSON *job, *v;
	const char *env = aca_environment_id();

	cJSON_ArrayForEach(job, json_arr(out, "value")) {
		const cJSON *props = json_obj(job, "properties");
		const char *name = json_str(job, "name");
		const char *at = json_str(props, "environmentId");
		int names = 0;

		if (name == NULL || at == NULL || strcasecmp(at, env) != 0)
			continue;
		cJSON_ArrayForEach(
		    v, json_arr(json_obj(props, "template"), "volumes")) {
			const char *st = json_str(v, "storageName");

			names |= st != NULL && strcmp(st, op->share) == 0;
		}
		if (!names)
			continue;
		if (kit_idle_used(&aca_idle, name))
			return err_set(e, 409,
			    "remove volume %s: the Container Apps job %s of "
			    "a container still mounts it",
			    op->name, name);
		strv_add(&op->jobs, name);
	}
	for (size_t i = 0; i < op->jobs.n; i++) {
		kit_idle_made(&aca_idle, op->jobs.v[i], 0);
		kit_idle_deleted(&aca_idle, op->jobs.v[i], 1);
	}
	return 0;
}

static void
aca_vol_next(void *arg, const cJSON *out, const struct cloud_error *ce)
{
	struct aca_vol_op *op = arg;
	int missing = ce != NULL && ce->http_status == 404;
	struct err e;

	op->id = 0;
	switch (op->step) {
	case ACA_VOL_SHARE_PUT:
		/* A create a restart cut short (or a retry) may have made the
		 * share: it is this volume's when its metadata says so. */
		if (ce != NULL && ce->http_status == 409)
			aca_vol_send(op, ACA_VOL_SHARE_GET);
		else if (ce != NULL)
			aca_vol_fail(op, ce, "creating");
		else
			aca_vol_send(op, ACA_VOL_STORAGE_PUT);
		return;
	case ACA_VOL_SHARE_GET:
		if (ce != NULL) {
			aca_vol_fail(op, ce, "creating");
		} else if (!aca_vol_share_ours(
			       out, op->name, backend_instance(op->b))) {
			err_set(&e, 409,
			    "creating volume %s: the Azure Files share %s "
			    "of %s exists and is not this volume's (its "
			    "metadata names another); delete it or use "
			    "another volume name",
			    op->name, op->share, aca_vol_conf.storage_account);
			aca_vol_op_end(op, &e);
		} else {
			aca_vol_send(op, ACA_VOL_STORAGE_PUT);
		}
		return;
	case ACA_VOL_STORAGE_PUT:
		if (ce != NULL) {
			aca_vol_fail(op, ce, "creating");
			return;
		}
		aca_vol_record(op);
		log_info("volume %s is the Azure Files share %s of %s",
		    op->name, op->share, aca_vol_conf.storage_account);
		aca_vol_op_end(op, NULL);
		return;
	case ACA_VOL_UNDO:
		e = op->why;
		if (ce != NULL && !missing) {
			log_warn("volume %s: the share %s of %s remains "
				 "after a failed create: %s",
			    op->name, op->share, aca_vol_conf.storage_account,
			    ce->message);
			err_wrap(&e,
			    "the share %s of %s remains; delete it (%s)",
			    op->share, aca_vol_conf.storage_account,
			    ce->message);
		}
		aca_vol_op_end(op, &e);
		return;
	case ACA_VOL_STORAGE_DELETE:
		/* Jobs kept for reuse (aca.job_idle) may still name the
		 * storage: they go first. */
		if (ce != NULL && ce->http_status == 409 && !op->released) {
			aca_vol_send(op, ACA_VOL_JOBS_LIST);
			return;
		}
		if (ce != NULL && !missing) {
			aca_vol_fail(op, ce, "removing");
			return;
		}
		aca_vol_send(op, ACA_VOL_SHARE_DELETE);
		return;
	case ACA_VOL_JOBS_LIST:
		if (ce != NULL) {
			aca_vol_fail(op, ce, "removing");
			return;
		}
		if (aca_vol_idle_users(op, out, &e) == -1) {
			aca_vol_op_end(op, &e);
			return;
		}
		op->released = 1;
		op->next_job = 0;
		aca_vol_send(op,
		    op->jobs.n > 0 ? ACA_VOL_JOB_DELETE :
				     ACA_VOL_STORAGE_DELETE);
		return;
	case ACA_VOL_JOB_DELETE:
		if (ce != NULL && !missing) {
			aca_vol_fail(op, ce, "removing");
			return;
		}
		log_info("volume %s: idle Container Apps job %s deleted (it "
			 "named the volume's storage)",
		    op->name, op->jobs.v[op->next_job]);
		op->next_job++;
		aca_vol_send(op,
		    op->next_job < op->jobs.n ? ACA_VOL_JOB_DELETE :
						ACA_VOL_STORAGE_DELETE);
		return;
	case ACA_VOL_SHARE_DELETE:
	default:
		if (ce != NULL && !missing) {
			aca_vol_fail(op, ce, "removing");
			return;
		}
		log_info("volume %s removed (share %s)", op->name, op->share);
		aca_vol_op_end(op, NULL);
		return;
	}
}

/* A shared path's volume: a sub-path of aca.shared_storage. */
static void
aca_vol_create_shared(
    struct backend *b, struct volume *v, backend_done_fn done, void *arg)
{
	const char *path = volume_shared_path(v), *sub;
	const char *st = aca_vol_conf.shared_storage;
	char top[256], *had;
	cJSON *priv;
	struct err e;

	if (st == NULL || st[0] == '\0') {
		err_set(&e, 501,
		    "binds under shared_paths need an Azure Files storage "
		    "for them on Container Apps, and none is configured: set "
		    "aca.shared_storage (docs/volumes.md, \"Container Apps "
		    "(Azure Files)\")");
		done(arg, &e);
		return;
	}
	if (aca_vol_shared_split(path, top, sizeof(top), &sub, &e) == -1) {
		done(arg, &e);
		return;
	}
	had = backend_kv_get(b, ACA_KV_VOL_TOP);
	if (had != NULL && strcmp(had, top) != 0) {
		err_set(&e, 400,
		    "the shared path %s is not under /%s, the directory "
		    "aca.shared_storage %s stands for: on Container Apps every "
		    "shared_paths file-system path must be under one top "
		    "directory",
		    path, had, st);
		free(had);
		done(arg, &e);
		return;
	}
	if (had == NULL)
		backend_kv_set(b, ACA_KV_VOL_TOP, top);
	free(had);
	priv = volume_private(v);
	json_set(priv, ACA_P_VOL_STORAGE, cJSON_CreateString(st));
	json_set(priv, ACA_P_VOL_SUB, cJSON_CreateString(sub ? sub : ""));
	backend_volume_save(b, v);
	done(arg, NULL);
}

void
aca_vol_create(
    struct backend *b, struct volume *v, backend_done_fn done, void *arg)
{
	struct aca_vol_op *op;
	struct err e;

	if (!aca_vol_on()) {
		err_set(&e, 501, "%s", ACA_VOL_WHY);
		done(arg, &e);
		return;
	}
	if (volume_shared_path(v) != NULL) {
		aca_vol_create_shared(b, v, done, arg);
		return;
	}
	op = aca_vol_op_new(b, v, done, arg);
	aca_vol_name(backend_instance(b), op->name, op->share);
	aca_vol_send(op, ACA_VOL_SHARE_PUT);
}

void
aca_vol_remove(
    struct backend *b, struct volume *v, backend_done_fn done, void *arg)
{
	const char *share = json_str(volume_private(v), ACA_P_VOL_SHARE);
	struct aca_vol_op *op;

	/* A shared path's files are the host's. */
	if (volume_shared_path(v) != NULL || !aca_vol_on()) {
		done(arg, NULL);
		return;
	}
	op = aca_vol_op_new(b, v, done, arg);
	/* A create a restart cut short recorded nothing: its names follow
	 * from the volume's. */
	if (share != NULL && share[0] != '\0')
		str_lcpy(op->share, share, sizeof(op->share));
	else
		aca_vol_name(backend_instance(b), op->name, op->share);
	aca_vol_send(op, ACA_VOL_STORAGE_DELETE);
}

void
aca_vol_shutdown(void)
{
	struct aca_vol_op *op;
	struct azure *az = aca_vol_az();

	while ((op = TAILQ_FIRST(&aca_vol_ops)) != NULL) {
		TAILQ_REMOVE(&aca_vol_ops, op, entry);
		if (op->id != 0 && az != NULL)
			azure_cancel(az, op->id);
		strv_free(&op->jobs);
		free(op);
	}
	free(aca_vol_key);
	aca_vol_key = NULL;
	free(aca_vol_account);
	aca_vol_account = NULL;
}

/* --- the job body ------------------------------------------------------ */

size_t
aca_vol_mounts(struct backend *b, struct container *c, struct aca_vol_in *out)
{
	struct backend_mount ms[BACKEND_MOUNTS_MAX];
	size_t n = backend_container_mounts(b, c, ms, BACKEND_MOUNTS_MAX);

	memset(out, 0, n * sizeof(*out));
	for (size_t i = 0; i < n; i++) {
		const cJSON *priv;
		const char *sub;

		out[i].kind = ms[i].kind;
		out[i].target = ms[i].target;
		out[i].readonly = ms[i].readonly;
		out[i].tmpfs_size = ms[i].tmpfs_size;
		if (ms[i].kind != BACKEND_MOUNT_VOLUME || ms[i].vol == NULL)
			continue;
		priv = volume_private(ms[i].vol);
		out[i].vol_name = volume_name(ms[i].vol);
		out[i].storage = json_str(priv, ACA_P_VOL_STORAGE);
		sub = json_str(priv, ACA_P_VOL_SUB);
		out[i].sub_path = sub != NULL && sub[0] != '\0' ? sub : NULL;
	}
	return n;
}
