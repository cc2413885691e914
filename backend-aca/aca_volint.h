/* The pure parts of the volume code (backend-aca/aca_volmap.c) besides
 * aca_vol_template, unit-tested in tests/unit/t_aca_vol.c: the names of a
 * volume's share and environment storage, the sub-path of a shared path,
 * the ARM bodies. */
#ifndef SOCKERLESS_ACA_VOLINT_H
#define SOCKERLESS_ACA_VOLINT_H

#include <stddef.h>

#include <cjson/cJSON.h>

#include "sockerless/err.h"

/* "sk-<up to 10 of the name>-<16 hex>" (lowercase letters, digits and
 * single hyphens: an Azure Files share name (3-63) and an environment
 * storage name (at most 32) at once); the hex is a SHA-256 of the
 * installation and the volume name, so two installations sharing one
 * account never name the same share. */
#define ACA_VOL_NAME_SZ 32
void aca_vol_name(
    const char *instance, const char *volume, char out[ACA_VOL_NAME_SZ]);
/* Whether s is a storage account name (3-24 lowercase letters and
 * digits). */
int aca_vol_account_valid(const char *s);
/* A shared path ("/shared/w/x") as the directory the shared storage's
 * root stands for ("shared", into top) and the sub-path under it ("w/x",
 * NULL for the top itself); -1 with a 400 for a path Azure Files cannot
 * name (an empty, "." or ".." part, a component over 255 bytes, the
 * root). */
int aca_vol_shared_split(
    const char *path, char *top, size_t topsz, const char **sub, struct err *e);
/* FileShares_Create's body: SMB, quota GiB, metadata naming the volume
 * and the installation (read back when a create meets its own share). */
cJSON *aca_vol_share_body(
    long long quota_gib, const char *volume, const char *instance);
/* Whether a share (FileShares_Get's answer) is volume's of instance. */
int aca_vol_share_ours(
    const cJSON *share, const char *volume, const char *instance);
/* ManagedEnvironmentsStorages_CreateOrUpdate's body: AzureFile,
 * ReadWrite. */
cJSON *aca_vol_storage_body(
    const char *account, const char *key, const char *share);

/* The metadata keys (C# identifiers, as Azure Files wants). */
#define ACA_VOL_META_VOLUME   "sockerless_volume"
#define ACA_VOL_META_INSTANCE "sockerless_instance"
/* The largest Container Apps replica's ephemeral storage (4 vCPU
 * Consumption: 8 GiB), which every EmptyDir shares: a --tmpfs size above
 * it cannot be had. */
#define ACA_VOL_TMPFS_MAX (8LL * 1024 * 1024 * 1024)

#endif
