/* Docker volumes on Container Apps jobs (backend-aca/aca_vol.c and
 * aca_volmap.c): each Docker volume is an Azure Files share of the
 * configured storage account (Microsoft.Storage .../fileServices/default/
 * shares), registered on the managed environment as a storage
 * (Microsoft.App managedEnvironments/storages, AzureFile, with the
 * account key) and mounted into the job's replica as an AzureFile volume.
 * `docker volume rm` deletes the storage and the share (its files go, as
 * with a local volume). Binds under the shared paths are sub-paths of one
 * environment storage configured for them. --tmpfs is an EmptyDir.
 * Without aca.storage_account the volumes capability is off and its
 * sentence names the key. docs/volumes.md, "Container Apps (Azure
 * Files)". This header is the contract between the job body
 * (aca_def.c/aca_job.c) and the volume code. */
#ifndef SOCKERLESS_ACA_VOL_H
#define SOCKERLESS_ACA_VOL_H

#include <stddef.h>

#include <cjson/cJSON.h>

#include "sockerless/backend.h"
#include "sockerless/config.h"
#include "sockerless/err.h"

/* The volume keys, a fragment of the aca backend's configuration (names
 * without the "aca." prefix):
 *   storage_account          the storage account whose file shares are the
 *                            volumes (unset: no volumes)
 *   storage_resource_group   its resource group (unset: aca.resource_group)
 *   storage_account_key_file a file holding its key (unset: the key is read
 *                            with ARM listKeys at start-up)
 *   share_quota_gib          each new share's quota in GiB
 *   shared_storage           the environment storage (an AzureFile share)
 *                            whose root stands for the shared_paths prefix;
 *                            unset: binds under shared paths are refused
 *   api_version_storage      the Microsoft.Storage api-version */
struct aca_vol_conf {
	char *storage_account;
	char *storage_resource_group;
	char *storage_account_key_file;
	long long share_quota_gib;
	char *shared_storage;
	char *api_version_storage;
};
#define ACA_VOL_NKEYS 6
extern const struct config_key aca_vol_keys[ACA_VOL_NKEYS];
extern struct aca_vol_conf aca_vol_conf;

/* The template volume name of the agent's EmptyDir (aca_def.c); the
 * volume code names its own volumes "v<N>" and "tmpfs<N>". */
#define ACA_AGENT_VOLUME "sockerless-agent"

/* A mount of the container as the job body takes it (aca_vol_mounts fills
 * it from the framework's mounts; the body is made from it alone). */
struct aca_vol_in {
	enum backend_mount_kind kind;
	const char *target; /* absolute path in the container */
	int readonly;
	const char *vol_name; /* VOLUME: for messages */
	/* VOLUME: the environment storage's name; NULL when the volume's
	 * create did not end (the start is refused with a 409) */
	const char *storage;
	const char *sub_path; /* VOLUME: directory in the share, NULL: root */
	long long tmpfs_size; /* TMPFS: bytes, 0: no bound */
};

/* Whether volumes are on (aca.storage_account set). */
int aca_vol_on(void);
/* Why they are off: the capability's sentence, naming the key. */
const char *aca_vol_why(void);
/* Start-up: the account exists and its key is known, the shared storage
 * (when set) is on the environment; a 4xx/5xx sentence naming the key
 * otherwise. Nothing when volumes are off. b is the backend (its
 * azure_backend session is open). */
int aca_vol_init(struct backend *b, struct err *e);
/* backend_ops.vol_create / vol_remove. */
void aca_vol_create(
    struct backend *b, struct volume *v, backend_done_fn done, void *arg);
void aca_vol_remove(
    struct backend *b, struct volume *v, backend_done_fn done, void *arg);
/* Cancels the volume calls in flight and frees what start-up kept. */
void aca_vol_shutdown(void);
/* c's mounts as the job body takes them; returns how many (at most
 * BACKEND_MOUNTS_MAX, out's size). The strings stay valid while c and its
 * volumes live. */
size_t aca_vol_mounts(
    struct backend *b, struct container *c, struct aca_vol_in *out);
/* Pure (unit-tested): adds the volumes of m to the job template tmpl
 * ("volumes") and their volumeMounts to its container ctr; -1 with a
 * 4xx/5xx for a mount Container Apps cannot take. */
int aca_vol_template(const struct aca_vol_in *m, size_t n, cJSON *tmpl,
    cJSON *ctr, struct err *e);

#endif
