/* A create body's mounts, read in HostConfig order (Binds, Mounts,
 * VolumesFrom, the image's VOLUMEs, Tmpfs) and checked with dockerd's
 * sentences: what is a volume, a shared-path bind, the Docker socket or
 * task-scoped tmpfs, and what the cloud cannot give (docs/volumes.md). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/sha.h>

#include "backend_vol.h"
#include "sockerless/json.h"
#include "sockerless/xmalloc.h"

void
backend_vol_wants_free(struct vol_wants *w)
{
	for (size_t i = 0; i < w->n; i++) {
		struct vol_want *m = &w->v[i];
		free(m->target);
		free(m->name);
		free(m->source);
		free(m->shared);
		free(m->mode);
		free(m->propagation);
		cJSON_Delete(m->labels);
	}
	free(w->v);
	w->v = NULL;
	w->n = 0;
}

/* A new entry at the end of w for target; 400 when a mount has it. */
static struct vol_want *
vol_want_add(struct vol_wants *w, enum backend_mount_kind kind,
    const char *target, struct err *e)
{
	struct vol_want *m;
	size_t len = strlen(target);

	/* /data and /data/ are one mount point. */
	while (len > 1 && target[len - 1] == '/')
		len--;
	for (size_t i = 0; i < w->n; i++)
		if (strlen(w->v[i].target) == len &&
		    strncmp(w->v[i].target, target, len) == 0) {
			err_set(e, 400, "Duplicate mount point: %.*s", (int)len,
			    target);
			return NULL;
		}
	if (w->n == BACKEND_MOUNTS_MAX) {
		err_set(e, 400,
		    "too many mounts: a container has at most %d (volumes, "
		    "binds, tmpfs and the image's VOLUMEs together)",
		    BACKEND_MOUNTS_MAX);
		return NULL;
	}
	w->v = xreallocarray(w->v, w->n + 1, sizeof(*w->v));
	m = &w->v[w->n++];
	memset(m, 0, sizeof(*m));
	m->kind = kind;
	m->target = xstrndup(target, len);
	m->source = xstrdup("");
	m->mode = xstrdup("");
	m->propagation = xstrdup("");
	m->type = "volume";
	return m;
}

static int
vol_abs_target(const char *type, const char *target, struct err *e)
{
	if (target == NULL || target[0] == '\0')
		return err_set(e, 400,
		    "invalid mount config for type \"%s\": field Target must "
		    "not be empty",
		    type);
	if (target[0] != '/')
		return err_set(e, 400,
		    "invalid mount config for type \"%s\": invalid mount "
		    "path: '%s' mount path must be absolute",
		    type, target);
	return 0;
}

/* A path with a ".." component could leave the tree it names. */
static int
vol_path_escapes(const char *p)
{
	size_t n = strlen(p);
	const char *s = p;

	while ((s = strstr(s, "..")) != NULL) {
		if ((s == p || s[-1] == '/') && (s[2] == '\0' || s[2] == '/'))
			return 1;
		s += 2;
	}
	return n == 0;
}

/* The shared-path volume of a bind's host path: "sockerless-shared-" and
 * the first 24 hex of the fs path's sha256. */
static void
vol_shared_name(const char *fs, char *out, size_t size)
{
	unsigned char md[SHA256_DIGEST_LENGTH];
	char hex[2 * SHA256_DIGEST_LENGTH + 1];

	SHA256((const unsigned char *)fs, strlen(fs), md);
	str_hex(hex, md, sizeof(md));
	snprintf(out, size, "%s%.24s", VOLUME_SHARED_PREFIX, hex);
}

/* The fs path of host under a shared_paths entry, or NULL. */
static char *
vol_shared_map(struct backend *b, const char *host)
{
	const struct strv *sp = &b->conf.shared_paths;

	for (size_t i = 0; i < sp->n; i++) {
		const char *eq = strchr(sp->v[i], '=');
		size_t plen =
		    eq != NULL ? (size_t)(eq - sp->v[i]) : strlen(sp->v[i]);
		const char *fs = eq != NULL ? eq + 1 : sp->v[i];
		while (plen > 1 && sp->v[i][plen - 1] == '/')
			plen--;
		if (strncmp(host, sp->v[i], plen) != 0 ||
		    (host[plen] != '\0' && host[plen] != '/'))
			continue;
		return xasprintf("%.*s%s",
		    (int)(strlen(fs) > 1 && fs[strlen(fs) - 1] == '/' ?
			    strlen(fs) - 1 :
			    strlen(fs)),
		    fs, host + plen);
	}
	return NULL;
}

/* A bind's host path: the Docker socket, a shared path, or a 400. */
static int
vol_bind(struct backend *b, struct vol_want *m, const char *src, struct err *e)
{
	char name[64];
	size_t len = strlen(src);

	while (len > 1 && src[len - 1] == '/')
		len--;
	free(m->source);
	m->source = xstrndup(src, len);
	m->type = "bind";
	free(m->propagation);
	m->propagation = xstrdup("rprivate");
	if (vol_path_escapes(m->source))
		return err_set(e, 400,
		    "invalid bind source %s: a path with \"..\" could leave "
		    "the shared file system; give the path without it",
		    src);
	if (strv_contains(&b->conf.docker_socket_paths, m->source)) {
		if (!b->conf.docker_socket_proxy)
			return err_set(e, 400,
			    "bind of the Docker socket %s refused: this "
			    "installation's docker_socket_proxy is off, so "
			    "workloads get no Docker API. Run the container "
			    "without -v %s, or ask the operator to turn "
			    "docker_socket_proxy on.",
			    m->source, m->source);
		m->kind = BACKEND_MOUNT_DOCKER_SOCK;
		return 0;
	}
	if ((m->shared = vol_shared_map(b, m->source)) == NULL)
		return err_set(e, 400,
		    "bind mounts need a host; sockerless runs containers in "
		    "the cloud, where %s does not exist. Use a named volume "
		    "(-v NAME:%s), or have the operator map %s onto the "
		    "cloud file system (set shared_paths, docs/volumes.md).",
		    m->source, m->target, m->source);
	vol_shared_name(m->shared, name, sizeof(name));
	m->name = xstrdup(name);
	return 0;
}

/* Binds' options: rw, ro, nocopy, z, Z, a propagation, a consistency. */
static int
vol_bind_opts(
    struct vol_want *m, const char *raw, const char *opts, struct err *e)
{
	static const char *prop[] = { "private", "rprivate", "shared",
		"rshared", "slave", "rslave", NULL };
	char *dup = xstrdup(opts), *save = NULL, *o;
	int rc = 0;

	for (o = strtok_r(dup, ",", &save); o != NULL;
	     o = strtok_r(NULL, ",", &save)) {
		int is_prop = 0;
		for (int i = 0; prop[i] != NULL; i++)
			is_prop |= strcmp(o, prop[i]) == 0;
		if (strcmp(o, "ro") == 0)
			m->readonly = 1;
		else if (strcmp(o, "nocopy") == 0)
			m->nocopy = 1;
		else if (is_prop) {
			free(m->propagation);
			m->propagation = xstrdup(o);
		} else if (strcmp(o, "rw") != 0 && strcmp(o, "z") != 0 &&
		    strcmp(o, "Z") != 0 && strcmp(o, "cached") != 0 &&
		    strcmp(o, "delegated") != 0 &&
		    strcmp(o, "consistent") != 0) {
			rc = err_set(e, 400, "invalid mode: %s", opts);
			break;
		}
	}
	free(dup);
	(void)raw;
	free(m->mode);
	m->mode = xstrdup(opts);
	return rc;
}

/* One HostConfig.Binds entry: "src:dst[:opts]" or "dst". */
static int
vol_one_bind(
    struct backend *b, const char *raw, struct vol_wants *w, struct err *e)
{
	char *parts[4] = { NULL }, *dup = xstrdup(raw), *p = dup, *c;
	const char *src = NULL, *dst, *opts = "";
	struct vol_want *m;
	int n = 0, rc = -1;

	while (n < 4 && p != NULL) {
		parts[n++] = p;
		if ((c = strchr(p, ':')) != NULL)
			*c++ = '\0';
		p = c;
	}
	if (p != NULL || n == 0 || raw[0] == '\0') {
		err_set(e, 400, "invalid volume specification: '%s'", raw);
		goto out;
	}
	dst = n == 1 ? parts[0] : parts[1];
	if (n >= 2)
		src = parts[0];
	if (n == 3)
		opts = parts[2];
	if (n == 4 || (src != NULL && src[0] == '\0')) {
		err_set(e, 400, "invalid volume specification: '%s'", raw);
		goto out;
	}
	if (vol_abs_target(src != NULL && src[0] == '/' ? "bind" : "volume",
		dst, e) == -1) {
		/* dockerd names the spec before the reason. */
		char *why = xstrdup(e->msg);
		err_set(
		    e, 400, "invalid volume specification: '%s': %s", raw, why);
		free(why);
		goto out;
	}
	if ((m = vol_want_add(w, BACKEND_MOUNT_VOLUME, dst, e)) == NULL ||
	    vol_bind_opts(m, raw, opts, e) == -1)
		goto out;
	if (src != NULL && src[0] == '/')
		rc = vol_bind(b, m, src, e);
	else if (src != NULL) {
		m->name = xstrdup(src);
		if (m->mode[0] == '\0') {
			/* dockerd shows a named volume's default mode. */
			free(m->mode);
			m->mode = xstrdup("z");
		}
		rc = backend_vol_check_name(src, e);
	} else
		rc = 0;
out:
	free(dup);
	return rc;
}

static int
vol_binds(
    struct backend *b, const cJSON *hc, struct vol_wants *w, struct err *e)
{
	const cJSON *it;

	cJSON_ArrayForEach(it, json_arr(hc, "Binds")) {
		if (!cJSON_IsString(it))
			return err_set(e, 400,
			    "json: cannot unmarshal a non-string into Go "
			    "struct field HostConfig.Binds of type string");
		if (vol_one_bind(b, it->valuestring, w, e) == -1)
			return -1;
	}
	return 0;
}

/* --mount type=volume: VolumeOptions NoCopy, Labels, DriverConfig. */
static int
vol_mount_volume(
    struct backend *b, struct vol_want *m, const cJSON *mt, struct err *e)
{
	const cJSON *vo = json_obj(mt, "VolumeOptions");
	const cJSON *dc = json_obj(vo, "DriverConfig");
	const char *src = json_str(mt, "Source"), *drv = json_str(dc, "Name");

	m->nocopy = json_bool(vo, "NoCopy", 0);
	free(m->mode);
	m->mode = xstrdup("z");
	if (drv != NULL && drv[0] != '\0' && strcmp(drv, "local") != 0)
		return err_set(e, 400,
		    "volume driver %s is not available on the %s backend: "
		    "volumes use the local driver",
		    drv, b->ops->name);
	if (cJSON_GetArraySize(json_obj(dc, "Options")) > 0)
		return err_set(e, 400,
		    "volume driver options (volume-opt) cannot be honoured "
		    "by the %s backend: they describe a mount on the Docker "
		    "host. Mount the volume without volume-opt.",
		    b->ops->name);
	if (json_obj(vo, "Labels") != NULL)
		m->labels = cJSON_Duplicate(json_obj(vo, "Labels"), 1);
	if (src == NULL || src[0] == '\0')
		return 0;
	m->name = xstrdup(src);
	return backend_vol_check_name(src, e);
}

/* --mount type=tmpfs: TmpfsOptions SizeBytes and Mode. */
static int
vol_mount_tmpfs(struct vol_want *m, const cJSON *mt, struct err *e)
{
	const cJSON *to = json_obj(mt, "TmpfsOptions");
	const char *src = json_str(mt, "Source");

	if (src != NULL && src[0] != '\0')
		return err_set(e, 400,
		    "invalid mount config for type \"tmpfs\": field Source "
		    "must not be specified");
	m->kind = BACKEND_MOUNT_TMPFS;
	m->type = "tmpfs";
	m->tmpfs_size = json_int(to, "SizeBytes", 0);
	m->tmpfs_mode = (int)json_int(to, "Mode", 0);
	if (m->tmpfs_size < 0)
		return err_set(e, 400,
		    "invalid mount config for type \"tmpfs\": invalid tmpfs "
		    "size %lld",
		    m->tmpfs_size);
	return 0;
}

static int
vol_one_mount(
    struct backend *b, const cJSON *mt, struct vol_wants *w, struct err *e)
{
	const char *type = json_str(mt, "Type"), *dst = json_str(mt, "Target");
	const char *src = json_str(mt, "Source");
	struct vol_want *m;

	if (type == NULL ||
	    (strcmp(type, "volume") != 0 && strcmp(type, "bind") != 0 &&
		strcmp(type, "tmpfs") != 0))
		return err_set(e, 400,
		    "invalid mount config for type \"%s\": mount type "
		    "unknown or not available here (volume, bind and tmpfs "
		    "are)",
		    type != NULL ? type : "");
	if (vol_abs_target(type, dst, e) == -1 ||
	    (m = vol_want_add(w, BACKEND_MOUNT_VOLUME, dst, e)) == NULL)
		return -1;
	m->readonly = json_bool(mt, "ReadOnly", 0);
	if (strcmp(type, "tmpfs") == 0)
		return vol_mount_tmpfs(m, mt, e);
	if (strcmp(type, "volume") == 0)
		return vol_mount_volume(b, m, mt, e);
	if (src == NULL || src[0] == '\0')
		return err_set(e, 400,
		    "invalid mount config for type \"bind\": field Source "
		    "must not be empty");
	if (json_bool(json_obj(mt, "BindOptions"), "NonRecursive", 0))
		return err_set(e, 400,
		    "bind-nonrecursive cannot be honoured: a shared path "
		    "is mounted with what is under it");
	if (vol_bind(b, m, src, e) == -1)
		return -1;
	if (json_str(json_obj(mt, "BindOptions"), "Propagation") != NULL &&
	    json_str(json_obj(mt, "BindOptions"), "Propagation")[0] != '\0') {
		free(m->propagation);
		m->propagation = xstrdup(
		    json_str(json_obj(mt, "BindOptions"), "Propagation"));
	}
	return 0;
}

static int
vol_mounts(
    struct backend *b, const cJSON *hc, struct vol_wants *w, struct err *e)
{
	const cJSON *it;

	cJSON_ArrayForEach(it, json_arr(hc, "Mounts")) {
		if (vol_one_mount(b, it, w, e) == -1)
			return -1;
	}
	return 0;
}

/* The container VolumesFrom names (id, name or id prefix), or a 404. */
static struct container *
vol_from_ctr(struct backend *b, const char *ref, struct err *e)
{
	struct container *c;
	int ambiguous = 0;

	if ((c = backend_index_get(&b->by_id, ref)) != NULL ||
	    (c = backend_index_get(&b->by_name, ref)) != NULL)
		return c;
	if (ref[0] != '\0' &&
	    (c = backend_index_prefix(&b->by_id, ref, &ambiguous)) != NULL &&
	    !ambiguous)
		return c;
	err_set(e, 404, "No such container: %s", ref);
	return NULL;
}

/* One "c[:ro|:rw]": c's volumes and Docker sockets, not its tmpfs. */
static int
vol_one_from(
    struct backend *b, const char *raw, struct vol_wants *w, struct err *e)
{
	char *ref = xstrdup(raw), *mode = strchr(ref, ':');
	struct container *c;
	const cJSON *it;
	struct vol_want *m;
	int rc = -1;

	if (mode != NULL)
		*mode++ = '\0';
	if (mode != NULL && strcmp(mode, "ro") != 0 &&
	    strcmp(mode, "rw") != 0) {
		err_set(e, 400, "invalid mode for volumes-from: %s", mode);
		goto out;
	}
	if ((c = vol_from_ctr(b, ref, e)) == NULL)
		goto out;
	cJSON_ArrayForEach(
	    it, json_arr(container_private(c), BACKEND_PRIV_MOUNTS)) {
		const char *kind = json_str(it, "Kind");
		if (kind == NULL || strcmp(kind, "tmpfs") == 0)
			continue;
		if ((m = vol_want_add(w,
			 strcmp(kind, "docker_sock") == 0 ?
			     BACKEND_MOUNT_DOCKER_SOCK :
			     BACKEND_MOUNT_VOLUME,
			 json_str(it, "Target"), e)) == NULL)
			goto out;
		m->readonly = mode != NULL ? strcmp(mode, "ro") == 0 :
					     json_bool(it, "ReadOnly", 0);
		m->nocopy = 1; /* dockerd copies into new volumes only */
		if (json_str(it, "Volume") != NULL)
			m->name = xstrdup(json_str(it, "Volume"));
		free(m->source);
		m->source = xstrdup(json_str(it, "Source") != NULL ?
			json_str(it, "Source") :
			"");
		if (json_str(it, "Shared") != NULL)
			m->shared = xstrdup(json_str(it, "Shared"));
		m->type = json_str(it, "Type") != NULL &&
			strcmp(json_str(it, "Type"), "bind") == 0 ?
		    "bind" :
		    "volume";
		free(m->mode);
		m->mode = xstrdup(mode != NULL ? mode : "");
		free(m->propagation);
		m->propagation =
		    xstrdup(strcmp(m->type, "bind") == 0 ? "rprivate" : "");
	}
	rc = 0;
out:
	free(ref);
	return rc;
}

static int
vol_from(struct backend *b, const cJSON *hc, struct vol_wants *w, struct err *e)
{
	const cJSON *it;

	cJSON_ArrayForEach(it, json_arr(hc, "VolumesFrom")) {
		if (!cJSON_IsString(it) ||
		    vol_one_from(b, it->valuestring, w, e) == -1)
			return cJSON_IsString(it) ?
			    -1 :
			    err_set(e, 400, "VolumesFrom must be strings");
	}
	return 0;
}

/* Config.Volumes (the image's VOLUMEs and -v /path) that no other mount
 * covers: new anonymous volumes. */
static int
vol_image(const cJSON *hc, const cJSON *cfg, struct vol_wants *w, struct err *e)
{
	const cJSON *it;
	struct err dup;

	cJSON_ArrayForEach(it, json_obj(cfg, "Volumes")) {
		if (vol_abs_target("volume", it->string, e) == -1)
			return -1;
		/* --tmpfs on the same point covers it too. */
		if (cJSON_GetObjectItemCaseSensitive(
			json_obj(hc, "Tmpfs"), it->string) != NULL)
			continue;
		/* Covered: a mount of the same point wins (dockerd). */
		if (vol_want_add(w, BACKEND_MOUNT_VOLUME, it->string, &dup) ==
		    NULL)
			continue;
	}
	return 0;
}

/* "size=64m,mode=1777": the options a cloud's scratch storage takes. */
static int
vol_tmpfs_opts(struct vol_want *m, const char *opts, struct err *e)
{
	char *dup = xstrdup(opts), *save = NULL, *o, *end;
	int rc = 0;

	for (o = strtok_r(dup, ",", &save); o != NULL && rc == 0;
	     o = strtok_r(NULL, ",", &save)) {
		if (str_prefix(o, "size=")) {
			double v = strtod(o + 5, &end);
			long long mul = *end == 'k' || *end == 'K' ? 1024LL :
			    *end == 'm' || *end == 'M'		   ? 1048576LL :
			    *end == 'g' || *end == 'G' ? 1073741824LL :
							 1;
			if (end == o + 5 || v < 0 ||
			    (mul != 1 ? end[1] : end[0]) != '\0')
				rc = err_set(
				    e, 400, "invalid tmpfs size: %s", o + 5);
			m->tmpfs_size = (long long)(v * (double)mul);
		} else if (str_prefix(o, "mode=")) {
			long mode = strtol(o + 5, &end, 8);
			if (end == o + 5 || *end != '\0' || mode < 0 ||
			    mode > 07777)
				rc = err_set(
				    e, 400, "invalid tmpfs mode: %s", o + 5);
			m->tmpfs_mode = (int)mode;
		} else if (strcmp(o, "ro") == 0)
			m->readonly = 1;
		else if (strcmp(o, "rw") != 0)
			rc = err_set(e, 400,
			    "tmpfs option %s cannot be honoured: the cloud's "
			    "task-scoped storage takes size, mode, ro and rw "
			    "only. Give --tmpfs without it.",
			    o);
	}
	free(dup);
	return rc;
}

static int
vol_tmpfs(const cJSON *hc, struct vol_wants *w, struct err *e)
{
	const cJSON *it;
	struct vol_want *m;

	cJSON_ArrayForEach(it, json_obj(hc, "Tmpfs")) {
		if (!cJSON_IsString(it))
			return err_set(
			    e, 400, "HostConfig.Tmpfs values must be strings");
		if (vol_abs_target("tmpfs", it->string, e) == -1 ||
		    (m = vol_want_add(w, BACKEND_MOUNT_TMPFS, it->string, e)) ==
			NULL ||
		    vol_tmpfs_opts(m, it->valuestring, e) == -1)
			return -1;
		m->type = NULL; /* dockerd shows --tmpfs in HostConfig only */
	}
	return 0;
}

int
backend_vol_wants(struct backend *b, const cJSON *hc, const cJSON *cfg,
    struct vol_wants *w, struct err *e)
{
	const char *drv = json_str(hc, "VolumeDriver");

	if (drv != NULL && drv[0] != '\0' && strcmp(drv, "local") != 0)
		return err_set(e, 400,
		    "volume driver %s (--volume-driver) is not available on "
		    "the %s backend: volumes use the local driver",
		    drv, b->ops->name);
	if (vol_binds(b, hc, w, e) == -1 || vol_mounts(b, hc, w, e) == -1 ||
	    vol_from(b, hc, w, e) == -1 || vol_image(hc, cfg, w, e) == -1 ||
	    vol_tmpfs(hc, w, e) == -1) {
		backend_vol_wants_free(w);
		return -1;
	}
	return 0;
}
