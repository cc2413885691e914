/* Docker mounts in ECS's terms, without any state: where a volume's
 * directory lives in the file system (fitted to EFS's limits on access
 * point paths), whether a shared path can root an access point, and the
 * task definition's volumes and mountPoints of a container's mounts. */
#include <stdio.h>
#include <string.h>

#include <openssl/sha.h>

#include "ecs.h"
#include "sockerless/aws_efs.h"
#include "sockerless/json.h"

/* The first n hex digits of sha256(s). */
static void
ecs_volmap_hash(const char *s, char *hex, size_t n)
{
	unsigned char md[SHA256_DIGEST_LENGTH];
	char all[2 * SHA256_DIGEST_LENGTH + 1];

	SHA256((const unsigned char *)s, strlen(s), md);
	str_hex(all, md, sizeof(md));
	if (n > 2 * SHA256_DIGEST_LENGTH)
		n = 2 * SHA256_DIGEST_LENGTH;
	memcpy(hex, all, n);
	hex[n] = '\0';
}

/* A character EFS takes in a path component and Docker names use. */
static int
ecs_volmap_plain(const char *s)
{
	if (*s == '\0' || *s == '.')
		return 0;
	for (; *s != '\0'; s++)
		if (strchr(
			"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
			"0123456789_.-",
			*s) == NULL)
			return 0;
	return 1;
}

int
ecs_volmap_path(const char *root, const char *instance, const char *name,
    const char *gen, char *out, size_t size, struct err *e)
{
	char inst[ECS_VOL_INST_MAX + 1], comp[2 * AWS_EFS_PATH_MAX];
	char h[17];

	if (ecs_volmap_plain(instance) &&
	    strlen(instance) <= ECS_VOL_INST_MAX) {
		str_lcpy(inst, instance, sizeof(inst));
	} else {
		ecs_volmap_hash(instance, h, 16);
		snprintf(inst, sizeof(inst), "%s", h);
	}
	/* Long or unusual names keep a readable start and a hash that
	 * tells them apart. */
	if (ecs_volmap_plain(name) &&
	    strlen(name) + 1 + strlen(gen) <= ECS_VOL_NAME_MAX) {
		snprintf(comp, sizeof(comp), "%s-%s", name, gen);
	} else {
		char start[24];
		size_t k = 0;

		for (const char *p = name; *p != '\0' && k < 23; p++)
			if (strchr(
				"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQR"
				"STUVWXYZ0123456789_-",
				*p) != NULL)
				start[k++] = *p;
		start[k] = '\0';
		ecs_volmap_hash(name, h, 16);
		snprintf(comp, sizeof(comp), "%s%s%s-%s", start,
		    k > 0 ? "-" : "", h, gen);
	}
	if ((size_t)snprintf(out, size, "%s/%s/%s", root, inst, comp) >= size ||
	    strlen(out) > AWS_EFS_PATH_MAX)
		return err_set(e, 500,
		    "the EFS path of volume %s does not fit EFS's %d "
		    "characters; shorten ecs.efs_root",
		    name, AWS_EFS_PATH_MAX);
	return 0;
}

int
ecs_volmap_dir_ok(
    const char *path, int max_depth, struct err *e, const char *what)
{
	int depth = 0;
	const char *p = path;

	if (path == NULL || path[0] != '/')
		return err_set(e, 400, "%s must be an absolute path", what);
	if (strlen(path) > AWS_EFS_PATH_MAX)
		return err_set(e, 400,
		    "%s %s is longer than the %d characters an EFS access "
		    "point's root may have",
		    what, path, AWS_EFS_PATH_MAX);
	if (strcmp(path, "/") == 0)
		return 0;
	while (*p == '/') {
		const char *end = strchr(p + 1, '/');
		size_t len =
		    end != NULL ? (size_t)(end - p - 1) : strlen(p + 1);
		char comp[AWS_EFS_PATH_MAX + 1];

		snprintf(comp, sizeof(comp), "%.*s", (int)len, p + 1);
		if (len == 0 || comp[0] == '.' ||
		    strpbrk(comp, "$#<>;`|&?{}^*\n") != NULL)
			return err_set(e, 400,
			    "%s %s has a component EFS does not take in an "
			    "access point's root (empty, starting with '.', "
			    "or one of $#<>;`|&?{}^*)",
			    what, path);
		depth++;
		p = end != NULL ? end : p + 1 + len;
	}
	if (depth > max_depth)
		return err_set(e, 400,
		    "%s %s is %d directories deep; an EFS access point's root "
		    "may be at most %d (map the host path onto a shallower "
		    "file-system path in shared_paths, docs/volumes.md)",
		    what, path, depth, max_depth);
	return 0;
}

/* --- the task definition --------------------------------------------- */

static cJSON *
ecs_volmap_efs(const struct ecs_volmap_in *m, int iam)
{
	cJSON *cfg = cJSON_CreateObject(), *auth = cJSON_CreateObject();

	json_add_str(cfg, "fileSystemId", m->fs_id);
	/* An access point needs transit encryption (ECS refuses it
	 * otherwise), and then the root is the access point's. */
	json_add_str(cfg, "transitEncryption", "ENABLED");
	json_add_str(auth, "accessPointId", m->ap_id);
	json_add_str(auth, "iam", iam ? "ENABLED" : "DISABLED");
	cJSON_AddItemToObject(cfg, "authorizationConfig", auth);
	return cfg;
}

static void
ecs_volmap_point(cJSON *mps, const char *vol, const char *target, int ro)
{
	cJSON *mp = cJSON_CreateObject();

	json_add_str(mp, "sourceVolume", vol);
	json_add_str(mp, "containerPath", target);
	json_add_bool(mp, "readOnly", ro);
	cJSON_AddItemToArray(mps, mp);
}

/* Refusals before anything is added for m. */
static int
ecs_volmap_check(const struct ecs_volmap_in *m, int agent, struct err *e)
{
	const char *t = m->target != NULL ? m->target : "";

	if (agent &&
	    (strcmp(t, "/sockerless") == 0 || str_prefix(t, "/sockerless/")))
		return err_set(e, 400,
		    "cannot mount at %s on ECS: /sockerless is where the "
		    "sockerless agent lives in the task; mount somewhere "
		    "else",
		    t);
	if (m->kind == BACKEND_MOUNT_DOCKER_SOCK && !agent)
		return err_set(e, 501,
		    "This backend (ecs) serves the Docker socket at %s "
		    "through its agent, and the agent is off (ecs.agent "
		    "false); turn it on or run the container without the "
		    "docker.sock bind",
		    t);
	if (m->kind == BACKEND_MOUNT_VOLUME &&
	    (m->ap_id == NULL || m->ap_id[0] == '\0' || m->fs_id == NULL))
		return err_set(e, 500,
		    "volume %s has no EFS access point (its create did not "
		    "finish); remove the volume and create it again",
		    m->vol_name != NULL ? m->vol_name : "");
	return 0;
}

int
ecs_volmap_task(const struct ecs_volmap_in *m, size_t n, int iam, int agent,
    cJSON *vols, cJSON *mps, struct err *e)
{
	char name[24];

	for (size_t i = 0; i < n; i++)
		if (ecs_volmap_check(&m[i], agent, e) == -1)
			return -1;
	for (size_t i = 0; i < n; i++) {
		cJSON *v;

		if (m[i].kind == BACKEND_MOUNT_DOCKER_SOCK)
			continue; /* the agent serves it */
		v = cJSON_CreateObject();
		snprintf(name, sizeof(name), "%c%zu",
		    m[i].kind == BACKEND_MOUNT_VOLUME ? 'v' : 't', i);
		json_add_str(v, "name", name);
		/* A tmpfs has no host: Fargate's task storage, as close to
		 * a tmpfs as ECS has (docs/backend-ecs.md). */
		if (m[i].kind == BACKEND_MOUNT_VOLUME)
			cJSON_AddItemToObject(v, "efsVolumeConfiguration",
			    ecs_volmap_efs(&m[i], iam));
		cJSON_AddItemToArray(vols, v);
		ecs_volmap_point(mps, name, m[i].target,
		    m[i].kind == BACKEND_MOUNT_VOLUME && m[i].readonly);
	}
	return 0;
}
