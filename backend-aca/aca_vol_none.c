/* Development placeholder, replaced by aca_vol.c/aca_volmap.c at integration
 * (the integrator deletes this file). The aca_vol.h interface with volumes off:
 * the key table (the six keys and their defaults), the capability's sentence,
 * create/remove 501, and the job body's tmpfs mounts as EmptyDir volumes. */
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "aca.h"
#include "sockerless/json.h"

#define ACA_VOL_WHY                                                         \
	"Volumes on Container Apps are Azure Files shares, and no storage " \
	"account is configured: set aca.storage_account "                   \
	"(docs/backend-aca.md, Volumes)."

struct aca_vol_conf aca_vol_conf;

#define V(name, type, field, def, min, max, doc)                            \
	{                                                                   \
		name, type, offsetof(struct aca_vol_conf, field), def, min, \
		    max, 0, doc                                             \
	}

const struct config_key aca_vol_keys[ACA_VOL_NKEYS] = {
	V("storage_account", CONFIG_STRING, storage_account, NULL, 0, 0,
	    "Storage account whose Azure Files shares are the Docker volumes "
	    "(unset: no volumes)"),
	V("storage_resource_group", CONFIG_STRING, storage_resource_group, NULL,
	    0, 0,
	    "Resource group of aca.storage_account (unset: "
	    "aca.resource_group)"),
	V("storage_account_key_file", CONFIG_STRING, storage_account_key_file,
	    NULL, 0, 0,
	    "File holding the storage account's key (unset: read with ARM "
	    "listKeys at start-up)"),
	V("share_quota_gib", CONFIG_INT, share_quota_gib, "100", 1, 102400,
	    "Quota in GiB of each new share"),
	V("shared_storage", CONFIG_STRING, shared_storage, NULL, 0, 0,
	    "Environment storage (an Azure Files share) whose root stands for "
	    "the shared_paths prefix (unset: binds under shared paths are "
	    "refused)"),
	V("api_version_storage", CONFIG_STRING, api_version_storage,
	    "2023-05-01", 0, 0, "The Microsoft.Storage api-version"),
};

int
aca_vol_on(void)
{
	return 0;
}

const char *
aca_vol_why(void)
{
	return ACA_VOL_WHY;
}

int
aca_vol_init(struct backend *b, struct err *e)
{
	(void)b;
	(void)e;
	return 0;
}

static void
aca_vol_refuse(struct volume *v, backend_done_fn done, void *arg)
{
	struct err e;

	(void)v;
	err_set(&e, 501, "%s", ACA_VOL_WHY);
	done(arg, &e);
}

void
aca_vol_create(
    struct backend *b, struct volume *v, backend_done_fn done, void *arg)
{
	(void)b;
	aca_vol_refuse(v, done, arg);
}

void
aca_vol_remove(
    struct backend *b, struct volume *v, backend_done_fn done, void *arg)
{
	(void)b;
	aca_vol_refuse(v, done, arg);
}

void
aca_vol_shutdown(void)
{
}

size_t
aca_vol_mounts(struct backend *b, struct container *c, struct aca_vol_in *out)
{
	struct backend_mount ms[BACKEND_MOUNTS_MAX];
	size_t n = backend_container_mounts(b, c, ms, BACKEND_MOUNTS_MAX);

	/* Every mount, so that a volume is refused by aca_vol_template
	 * rather than dropped. */
	memset(out, 0, n * sizeof(*out));
	for (size_t i = 0; i < n; i++) {
		out[i].kind = ms[i].kind;
		out[i].target = ms[i].target;
		out[i].readonly = ms[i].readonly;
		out[i].tmpfs_size = ms[i].tmpfs_size;
		if (ms[i].kind == BACKEND_MOUNT_VOLUME && ms[i].vol != NULL)
			out[i].vol_name = volume_name(ms[i].vol);
	}
	return n;
}

int
aca_vol_template(const struct aca_vol_in *m, size_t n, cJSON *tmpl, cJSON *ctr,
    struct err *e)
{
	cJSON *vols = json_arr(tmpl, "volumes"), *mounts, *v, *mt;
	char name[32];
	int t = 0;

	for (size_t i = 0; i < n; i++) {
		if (m[i].kind == BACKEND_MOUNT_VOLUME)
			return err_set(e, 501, "%s", ACA_VOL_WHY);
		if (m[i].kind != BACKEND_MOUNT_TMPFS)
			continue;
		if (vols == NULL) {
			vols = cJSON_CreateArray();
			cJSON_AddItemToObject(tmpl, "volumes", vols);
		}
		if ((mounts = json_arr(ctr, "volumeMounts")) == NULL) {
			mounts = cJSON_CreateArray();
			cJSON_AddItemToObject(ctr, "volumeMounts", mounts);
		}
		snprintf(name, sizeof(name), "tmpfs%d", t++);
		v = cJSON_CreateObject();
		json_add_str(v, "name", name);
		json_add_str(v, "storageType", "EmptyDir");
		cJSON_AddItemToArray(vols, v);
		mt = cJSON_CreateObject();
		json_add_str(mt, "volumeName", name);
		json_add_str(mt, "mountPath", m[i].target);
		cJSON_AddItemToArray(mounts, mt);
	}
	return 0;
}
