/* Docker mounts in Cloud Run's terms, without any state (unit-tested
 * with the job body): a volume is a Cloud Storage volume whose only-dir is
 * its directory of the bucket, a tmpfs an in-memory emptyDir (the agent
 * gives it Docker's mode, SOCKERLESS_TMPFS), and the Docker socket is the
 * agent's. docs/volumes.md. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cloudrun.h"
#include "sockerless/json.h"
#include "sockerless/xmalloc.h"

/* Refusals before anything is added for m. */
static int
cloudrun_vol_check(const struct cloudrun_vol_in *m, struct err *e)
{
	const char *t = m->target != NULL ? m->target : "";

	if (strcmp(t, "/sockerless") == 0 || str_prefix(t, "/sockerless/"))
		return err_set(e, 400,
		    "cannot mount at %s on Cloud Run: /sockerless is where "
		    "the sockerless agent lives in the task; mount somewhere "
		    "else",
		    t);
	if (m->kind == BACKEND_MOUNT_VOLUME &&
	    (m->bucket == NULL || m->dir == NULL || m->dir[0] == '\0'))
		return err_set(e, 500,
		    "volume %s has no Cloud Storage directory (its create "
		    "did not finish); remove the volume and create it again",
		    m->vol_name != NULL ? m->vol_name : "");
	return 0;
}

static cJSON *
cloudrun_vol_gcs(const struct cloudrun_vol_in *m)
{
	cJSON *g = cJSON_CreateObject(), *opts = cJSON_CreateArray();
	char *only = xasprintf("only-dir=%s", m->dir);

	json_add_str(g, "bucket", m->bucket);
	json_add_bool(g, "readOnly", m->readonly);
	cJSON_AddItemToArray(opts, cJSON_CreateString(only));
	/* Directories made by other writers (gsutil, a shared path's host)
	 * have no placeholder object: gcsfuse shows them only with this. */
	cJSON_AddItemToArray(opts, cJSON_CreateString("implicit-dirs"));
	cJSON_AddItemToObject(g, "mountOptions", opts);
	free(only);
	return g;
}

static cJSON *
cloudrun_vol_mem(const struct cloudrun_vol_in *m)
{
	cJSON *d = cJSON_CreateObject();
	char size[32];

	json_add_str(d, "medium", "MEMORY");
	if (m->tmpfs_size > 0) {
		if (m->tmpfs_size % (1024 * 1024) == 0)
			snprintf(size, sizeof(size), "%lldMi",
			    m->tmpfs_size / (1024 * 1024));
		else
			snprintf(size, sizeof(size), "%lld", m->tmpfs_size);
		json_add_str(d, "sizeLimit", size);
	}
	return d;
}

int
cloudrun_vol_job(const struct cloudrun_vol_in *m, size_t n, cJSON *tt,
    cJSON *ctr, struct err *e)
{
	cJSON *vols, *vms;
	int gcs = 0;
	char name[24];

	for (size_t i = 0; i < n; i++)
		if (cloudrun_vol_check(&m[i], e) == -1)
			return -1;
	vols = cJSON_CreateArray();
	vms = cJSON_CreateArray();
	for (size_t i = 0; i < n; i++) {
		cJSON *v, *vm;

		if (m[i].kind == BACKEND_MOUNT_DOCKER_SOCK)
			continue; /* the agent serves it */
		v = cJSON_CreateObject();
		snprintf(name, sizeof(name), "%c%zu",
		    m[i].kind == BACKEND_MOUNT_VOLUME ? 'v' : 't', i);
		json_add_str(v, "name", name);
		if (m[i].kind == BACKEND_MOUNT_VOLUME) {
			cJSON_AddItemToObject(
			    v, "gcs", cloudrun_vol_gcs(&m[i]));
			gcs = 1;
		} else {
			cJSON_AddItemToObject(
			    v, "emptyDir", cloudrun_vol_mem(&m[i]));
		}
		cJSON_AddItemToArray(vols, v);
		vm = cJSON_CreateObject();
		json_add_str(vm, "name", name);
		json_add_str(vm, "mountPath", m[i].target);
		cJSON_AddItemToArray(vms, vm);
	}
	if (cJSON_GetArraySize(vols) == 0) {
		cJSON_Delete(vols);
		cJSON_Delete(vms);
		return 0;
	}
	/* Cloud Storage volumes need the second generation. */
	if (gcs)
		json_add_str(
		    tt, "executionEnvironment", "EXECUTION_ENVIRONMENT_GEN2");
	cJSON_AddItemToObject(tt, "volumes", vols);
	cJSON_AddItemToObject(ctr, "volumeMounts", vms);
	return 0;
}
