/* Docker mounts in Container Apps' terms, without any state (unit-tested
 * with tests/unit/t_aca_vol.c): a volume is an AzureFile template volume
 * naming its environment storage, with a volumeMount (subPath for the
 * directories of the shared storage); a read-only mount is the volume's
 * mountOptions "ro" (VolumeMount has no readOnly in the 2025-07-01 spec,
 * and the storage's accessMode is per storage, not per mount); a tmpfs is
 * an EmptyDir (on the replica's ephemeral disk); the Docker socket is the
 * agent's. docs/volumes.md, "Container Apps (Azure Files)". */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aca_vol.h"
#include "aca_volint.h"
#include "sockerless/backend_kit.h"
#include "sockerless/json.h"
#include "sockerless/str.h"
#include "sockerless/xmalloc.h"

void
aca_vol_name(
    const char *instance, const char *volume, char out[ACA_VOL_NAME_SZ])
{
	char readable[11], hex[17], *text;
	size_t n = 0;

	for (const char *p = volume; *p != '\0' && n < sizeof(readable) - 1;
	     p++) {
		char ch = (char)tolower((unsigned char)*p);

		if (!isalnum((unsigned char)ch))
			ch = '-';
		if (ch == '-' && (n == 0 || readable[n - 1] == '-'))
			continue;
		readable[n++] = ch;
	}
	while (n > 0 && readable[n - 1] == '-')
		n--;
	readable[n] = '\0';
	text = xasprintf("%s\n%s", instance != NULL ? instance : "", volume);
	kit_hash(text, hex, 16);
	free(text);
	if (n > 0)
		snprintf(out, ACA_VOL_NAME_SZ, "sk-%s-%s", readable, hex);
	else
		snprintf(out, ACA_VOL_NAME_SZ, "sk-%s", hex);
}

int
aca_vol_account_valid(const char *s)
{
	size_t n = s != NULL ? strlen(s) : 0;

	if (n < 3 || n > 24)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!islower((unsigned char)s[i]) &&
		    !isdigit((unsigned char)s[i]))
			return 0;
	return 1;
}

int
aca_vol_shared_split(
    const char *path, char *top, size_t topsz, const char **sub, struct err *e)
{
	const char *p = path, *q, *slash;
	size_t len, toplen;

	while (*p == '/')
		p++;
	if (*p == '\0')
		return err_set(e, 400,
		    "the shared path %s is the file system's root; on "
		    "Container Apps shared_paths must map to a directory "
		    "such as /shared",
		    path);
	/* Every part: not empty, not . or .., at most 255 bytes (an Azure
	 * Files directory name). */
	for (q = p;; q = slash + 1) {
		slash = strchr(q, '/');
		len = slash != NULL ? (size_t)(slash - q) : strlen(q);
		if (len == 0 || len > 255 || (len == 1 && q[0] == '.') ||
		    (len == 2 && q[0] == '.' && q[1] == '.'))
			return err_set(e, 400,
			    "the shared path %s is not a directory Azure "
			    "Files can name (no empty, '.' or '..' part, "
			    "parts of at most 255 bytes); map the host path "
			    "elsewhere in shared_paths",
			    path);
		if (slash == NULL)
			break;
	}
	slash = strchr(p, '/');
	toplen = slash != NULL ? (size_t)(slash - p) : strlen(p);
	if (toplen >= topsz)
		return err_set(e, 400, "the shared path %s is too long", path);
	memcpy(top, p, toplen);
	top[toplen] = '\0';
	*sub = slash != NULL ? slash + 1 : NULL;
	return 0;
}

cJSON *
aca_vol_share_body(
    long long quota_gib, const char *volume, const char *instance)
{
	cJSON *body = cJSON_CreateObject(), *props = cJSON_CreateObject();
	cJSON *meta = cJSON_CreateObject();

	json_add_int(props, "shareQuota", quota_gib);
	json_add_str(props, "enabledProtocols", "SMB");
	json_add_str(meta, ACA_VOL_META_VOLUME, volume);
	json_add_str(meta, ACA_VOL_META_INSTANCE, instance);
	cJSON_AddItemToObject(props, "metadata", meta);
	cJSON_AddItemToObject(body, "properties", props);
	return body;
}

int
aca_vol_share_ours(const cJSON *share, const char *volume, const char *instance)
{
	const cJSON *meta = json_obj(json_obj(share, "properties"), "metadata");
	const char *v = json_str(meta, ACA_VOL_META_VOLUME);
	const char *i = json_str(meta, ACA_VOL_META_INSTANCE);

	return v != NULL && i != NULL && strcmp(v, volume) == 0 &&
	    strcmp(i, instance) == 0;
}

cJSON *
aca_vol_storage_body(const char *account, const char *key, const char *share)
{
	cJSON *body = cJSON_CreateObject(), *props = cJSON_CreateObject();
	cJSON *f = cJSON_CreateObject();

	json_add_str(f, "accountName", account);
	json_add_str(f, "accountKey", key);
	json_add_str(f, "shareName", share);
	json_add_str(f, "accessMode", "ReadWrite");
	cJSON_AddItemToObject(props, "azureFile", f);
	cJSON_AddItemToObject(body, "properties", props);
	return body;
}

/* Refusals before anything is added for m. */
static int
aca_vol_check(const struct aca_vol_in *m, struct err *e)
{
	const char *t = m->target != NULL ? m->target : "";

	if (m->kind == BACKEND_MOUNT_DOCKER_SOCK)
		return 0;
	if (strcmp(t, "/sockerless") == 0 || str_prefix(t, "/sockerless/"))
		return err_set(e, 400,
		    "cannot mount at %s on Container Apps: /sockerless is "
		    "where the sockerless agent lives in the replica; mount "
		    "somewhere else",
		    t);
	if (t[0] != '/' || strchr(t, ':') != NULL)
		return err_set(e, 400,
		    "cannot mount at %s on Container Apps: a mount path "
		    "must be absolute and without ':'",
		    t);
	if (m->kind == BACKEND_MOUNT_VOLUME &&
	    (m->storage == NULL || m->storage[0] == '\0'))
		return err_set(e, 409,
		    "volume %s has no Azure Files storage (its create did "
		    "not finish); remove the volume and create it again",
		    m->vol_name != NULL ? m->vol_name : "");
	if (m->kind == BACKEND_MOUNT_TMPFS && m->readonly)
		return err_set(e, 400,
		    "a read-only tmpfs at %s cannot be had on Container "
		    "Apps: its scratch volumes (EmptyDir) take no mount "
		    "options; drop ro",
		    t);
	if (m->kind == BACKEND_MOUNT_TMPFS && m->tmpfs_size > ACA_VOL_TMPFS_MAX)
		return err_set(e, 400,
		    "a tmpfs of %lld bytes at %s cannot be had on Container "
		    "Apps: scratch volumes (EmptyDir) share the replica's "
		    "ephemeral storage, at most 8 GiB (4 vCPU); ask for less",
		    m->tmpfs_size, t);
	return 0;
}

static cJSON *
aca_vol_array(cJSON *o, const char *key)
{
	cJSON *a = cJSON_GetObjectItemCaseSensitive(o, key);

	if (!cJSON_IsArray(a)) {
		cJSON_DeleteItemFromObjectCaseSensitive(o, key);
		a = cJSON_CreateArray();
		cJSON_AddItemToObject(o, key, a);
	}
	return a;
}

int
aca_vol_template(const struct aca_vol_in *m, size_t n, cJSON *tmpl, cJSON *ctr,
    struct err *e)
{
	cJSON *vols, *vms;
	char name[32];

	for (size_t i = 0; i < n; i++)
		if (aca_vol_check(&m[i], e) == -1)
			return -1;
	for (size_t i = 0; i < n; i++) {
		cJSON *v, *vm;

		if (m[i].kind == BACKEND_MOUNT_DOCKER_SOCK)
			continue; /* the agent serves it */
		vols = aca_vol_array(tmpl, "volumes");
		vms = aca_vol_array(ctr, "volumeMounts");
		v = cJSON_CreateObject();
		snprintf(name, sizeof(name), "%s%zu",
		    m[i].kind == BACKEND_MOUNT_VOLUME ? "v" : "tmpfs", i);
		json_add_str(v, "name", name);
		if (m[i].kind == BACKEND_MOUNT_VOLUME) {
			json_add_str(v, "storageType", "AzureFile");
			json_add_str(v, "storageName", m[i].storage);
			if (m[i].readonly)
				json_add_str(v, "mountOptions", "ro");
		} else {
			json_add_str(v, "storageType", "EmptyDir");
		}
		cJSON_AddItemToArray(vols, v);
		vm = cJSON_CreateObject();
		json_add_str(vm, "volumeName", name);
		json_add_str(vm, "mountPath", m[i].target);
		if (m[i].kind == BACKEND_MOUNT_VOLUME &&
		    m[i].sub_path != NULL && m[i].sub_path[0] != '\0')
			json_add_str(vm, "subPath", m[i].sub_path);
		cJSON_AddItemToArray(vms, vm);
	}
	return 0;
}
