/* An image's files without a workload (docs/volumes.md): the layers of a
 * container's image fetched from its registry into the state directory,
 * merged at one path with the files put before start on top, and kept as
 * a tar in a bounded cache; `docker cp` from a created container and the
 * copy-up into a new volume read it. */
#include <sys/queue.h>
#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <utime.h>

#include <openssl/evp.h>

#include "backend_img.h"
#include "sockerless/json.h"
#include "sockerless/lite.h"
#include "sockerless/log.h"
#include "sockerless/reg.h"
#include "sockerless/xmalloc.h"

#define IMG_TREE_LAYER_MAX ((uint64_t)4 << 30) /* one compressed layer */
#define IMG_TREE_DATA_MAX  ((uint64_t)1 << 30) /* files at one path */
#define IMG_TREE_CACHE_MAX ((uint64_t)8 << 30) /* tree/ in all */

struct img_tree_wait {
	TAILQ_ENTRY(img_tree_wait) entry;
	backend_tree_fn fn;
	void *arg;
};
TAILQ_HEAD(img_tree_waits, img_tree_wait);

/* One fetch and merge; every request for the same key waits on it. */
struct img_tree_job {
	LIST_ENTRY(img_tree_job) entry;
	struct backend *b;
	char *key, *ref, *path, *tar, *statf;
	enum backend_tree_mode mode;
	cJSON *puts;	  /* [{path, file}] applied over the layers */
	cJSON *layers;	  /* the manifest's [{digest, mediaType}] */
	int next;	  /* layer being fetched */
	struct event *ev; /* answers from the loop */
	struct err err;
	int failed;
	cJSON *stat;
	struct img_tree_waits waits;
};
LIST_HEAD(img_tree_jobs, img_tree_job);

/* Jobs of every backend of the process (one, but tests make several). */
static struct img_tree_jobs img_tree_jobs =
    LIST_HEAD_INITIALIZER(img_tree_jobs);

static char *
backend_img_tree_dir(struct backend *b, const char *sub)
{
	char *d = xasprintf("%s/tree%s", b->conf.state_dir, sub);

	mkdir(b->conf.state_dir, 0700);
	mkdir(d, 0700);
	return d;
}

static char *
backend_img_tree_key(const char *ref, const char *path,
    enum backend_tree_mode mode, const cJSON *puts)
{
	unsigned char md[32];
	unsigned int n = 0;
	char hex[65], *s, *t;
	const cJSON *it;

	s = xasprintf("%s\n%s\n%d", ref, path, (int)mode);
	cJSON_ArrayForEach(it, puts) {
		t = xasprintf("%s\n%s\n%s", s, json_str(it, "path"),
		    json_str(it, "file"));
		free(s);
		s = t;
	}
	EVP_Digest(s, strlen(s), md, &n, EVP_sha256(), NULL);
	lite_hex(md, 32, hex);
	free(s);
	return xstrdup(hex);
}

static void
backend_img_tree_job_free(struct img_tree_job *j)
{
	struct img_tree_wait *w;

	while ((w = TAILQ_FIRST(&j->waits)) != NULL) {
		TAILQ_REMOVE(&j->waits, w, entry);
		free(w);
	}
	if (j->ev != NULL)
		event_free(j->ev);
	free(j->key);
	free(j->ref);
	free(j->path);
	free(j->tar);
	free(j->statf);
	cJSON_Delete(j->puts);
	cJSON_Delete(j->layers);
	cJSON_Delete(j->stat);
	free(j);
}

/* Calls every waiter once and frees the job. */
static void
backend_img_tree_answer(evutil_socket_t fd, short what, void *arg)
{
	struct img_tree_job *j = arg;
	struct img_tree_wait *w;

	(void)fd;
	(void)what;
	LIST_REMOVE(j, entry);
	while ((w = TAILQ_FIRST(&j->waits)) != NULL) {
		TAILQ_REMOVE(&j->waits, w, entry);
		if (j->failed)
			w->fn(w->arg, NULL, NULL, &j->err);
		else
			w->fn(w->arg, j->stat != NULL ? j->tar : NULL, j->stat,
			    NULL);
		free(w);
	}
	backend_img_tree_job_free(j);
}

static void
backend_img_tree_finish(struct img_tree_job *j, const struct err *e)
{
	if (e != NULL) {
		j->err = *e;
		j->failed = 1;
	}
	event_active(j->ev, EV_TIMEOUT, 0);
}

/* Oldest first until the cache fits its bound. */
static void
backend_img_tree_evict(struct backend *b)
{
	char *dirs[2] = { backend_img_tree_dir(b, ""),
		backend_img_tree_dir(b, "/blobs") };
	struct {
		char *path;
		time_t at;
		uint64_t size;
	} *v = NULL, tmp;
	size_t n = 0, i, k;
	uint64_t total = 0;
	struct dirent *d;
	struct stat st;
	DIR *dp;

	for (k = 0; k < 2; k++) {
		if ((dp = opendir(dirs[k])) == NULL)
			continue;
		while ((d = readdir(dp)) != NULL) {
			char *p = xasprintf("%s/%s", dirs[k], d->d_name);

			if (stat(p, &st) == -1 || !S_ISREG(st.st_mode)) {
				free(p);
				continue;
			}
			v = xreallocarray(v, n + 1, sizeof(*v));
			v[n].path = p;
			v[n].at = st.st_mtime;
			v[n].size = (uint64_t)st.st_size;
			total += v[n++].size;
		}
		closedir(dp);
	}
	for (i = 1; i < n; i++)
		for (k = i; k > 0 && v[k - 1].at > v[k].at; k--) {
			tmp = v[k];
			v[k] = v[k - 1];
			v[k - 1] = tmp;
		}
	for (i = 0; i < n; i++) {
		if (total > IMG_TREE_CACHE_MAX && unlink(v[i].path) == 0)
			total -= v[i].size;
		free(v[i].path);
	}
	free(v);
	free(dirs[0]);
	free(dirs[1]);
}

static char *
backend_img_tree_blob_path(struct backend *b, const char *digest)
{
	char *dir = backend_img_tree_dir(b, "/blobs"), *p;

	p = xasprintf("%s/%.*s-%s", dir, (int)strcspn(digest, ":"), digest,
	    strchr(digest, ':') + 1);
	free(dir);
	return p;
}

static int
backend_img_tree_apply_layers(
    struct img_tree_job *j, struct reg_tree *t, struct err *e)
{
	const cJSON *it;
	char *p;
	FILE *f;
	int rc;

	if (reg_tree_begin(t, e) == -1)
		return -1;
	cJSON_ArrayForEach(it, j->layers) {
		const char *d = json_str(it, "digest");
		char *what = xasprintf("layer %s of %s", d, j->ref);

		p = backend_img_tree_blob_path(j->b, d);
		rc = (f = fopen(p, "r")) == NULL ?
		    err_set(e, 500, "%s: the downloaded layer is gone", what) :
		    reg_tree_layer(t, f, NULL, 0, what, e);
		if (f != NULL)
			fclose(f);
		free(p);
		free(what);
		if (rc == -1)
			return -1;
	}
	cJSON_ArrayForEach(it, j->puts) {
		if ((f = fopen(json_str(it, "file"), "r")) == NULL)
			return err_set(e, 500,
			    "the archive put before start at %s is gone",
			    json_str(it, "path"));
		rc = reg_tree_put(t, f, json_str(it, "path"), e);
		fclose(f);
		if (rc == -1)
			return -1;
	}
	return 0;
}

static int
backend_img_tree_put_file(const char *path, const char *s)
{
	FILE *f = fopen(path, "w");
	int rc;

	if (f == NULL)
		return -1;
	rc = fputs(s, f) < 0 ? -1 : 0;
	return fclose(f) == 0 ? rc : -1;
}

/* A small file whole (the stat), or NULL. Caller frees. */
static char *
backend_img_tree_get_file(const char *path, size_t *n)
{
	FILE *f = fopen(path, "r");
	char *s;

	if (f == NULL)
		return NULL;
	s = xmalloc(65536);
	*n = fread(s, 1, 65535, f);
	s[*n] = '\0';
	fclose(f);
	return s;
}

/* All layers are here: merge, follow links, write the cache entry. */
static int
backend_img_tree_build(struct img_tree_job *j, struct err *e)
{
	struct reg_tree *t;
	char *tmp = NULL, *name = NULL, *s;
	FILE *out = NULL;
	int rc = -1, r;
	size_t n;

	t = reg_tree_new(j->path,
	    j->mode == BACKEND_TREE_CONTENTS ? REG_TREE_CONTENTS :
					       REG_TREE_ARCHIVE,
	    IMG_TREE_DATA_MAX, e);
	if (t == NULL)
		return -1;
	do {
		if (backend_img_tree_apply_layers(j, t, e) == -1)
			goto out;
	} while ((r = reg_tree_redirect(t, e)) == 1);
	if (r == -1)
		goto out;
	/* Docker's stat names the path's last element as written. */
	n = strlen(j->path);
	while (n > 1 && j->path[n - 1] == '/')
		n--;
	s = j->path + n;
	while (s > j->path && s[-1] != '/')
		s--;
	name = n == 1 ? xstrdup("/") : xstrndup(s, (size_t)(j->path + n - s));
	j->stat = reg_tree_stat(t, name);
	if (j->stat == NULL ||
	    (j->mode == BACKEND_TREE_CONTENTS && !reg_tree_is_dir(t))) {
		cJSON_Delete(j->stat);
		j->stat = NULL;
		rc = 0;
		goto out;
	}
	tmp = xasprintf("%s.tmp", j->tar);
	if ((out = fopen(tmp, "w")) == NULL) {
		err_set(e, 500, "cannot write %s", tmp);
		goto out;
	}
	if (reg_tree_write(t, out, e) == -1)
		goto out;
	s = json_print(j->stat);
	rc = fclose(out) == 0 && backend_img_tree_put_file(j->statf, s) == 0 &&
		rename(tmp, j->tar) == 0 ?
	    0 :
	    err_set(e, 500, "cannot write %s", j->tar);
	free(s);
	out = NULL;
out:
	if (out != NULL)
		fclose(out);
	if (tmp != NULL)
		unlink(tmp);
	free(tmp);
	free(name);
	reg_tree_free(t);
	return rc;
}

static void backend_img_tree_next(struct img_tree_job *j);

static void
backend_img_tree_fetched(void *arg, const struct err *e)
{
	struct img_tree_job *j = arg;

	if (e != NULL) {
		backend_img_tree_finish(j, e);
		return;
	}
	j->next++;
	backend_img_tree_next(j);
}

/* The next missing layer, or the merge once all are here. */
static void
backend_img_tree_next(struct img_tree_job *j)
{
	const cJSON *l;
	char *p;
	struct err e;

	while ((l = cJSON_GetArrayItem(j->layers, j->next)) != NULL) {
		p = backend_img_tree_blob_path(j->b, json_str(l, "digest"));
		if (access(p, R_OK) == 0) {
			free(p);
			j->next++;
			continue;
		}
		if (reg_blob_fetch(j->b->reg, j->ref, NULL,
			json_str(l, "digest"), p, IMG_TREE_LAYER_MAX,
			backend_img_tree_fetched, j, &e) == -1) {
			free(p);
			backend_img_tree_finish(j, &e);
			return;
		}
		free(p);
		return;
	}
	if (backend_img_tree_build(j, &e) == -1) {
		backend_img_tree_finish(j, &e);
		return;
	}
	backend_img_tree_evict(j->b);
	backend_img_tree_finish(j, NULL);
}

static void
backend_img_tree_resolved(
    void *arg, const struct reg_image *img, const struct err *e)
{
	struct img_tree_job *j = arg;
	const cJSON *it;
	const char *mt, *d;
	struct err e2;

	if (e != NULL) {
		backend_img_tree_finish(j, e);
		return;
	}
	j->layers = cJSON_CreateArray();
	cJSON_ArrayForEach(it, json_arr(img->manifest, "layers")) {
		mt = json_str(it, "mediaType");
		d = json_str(it, "digest");
		if (d == NULL || strncmp(d, "sha256:", 7) != 0 ||
		    strlen(d) != 71 || lite_hex_span(d + 7) != 64) {
			err_set(&e2, 502,
			    "the manifest of %s has a layer "
			    "without a valid digest",
			    j->ref);
			backend_img_tree_finish(j, &e2);
			return;
		}
		if (mt != NULL && strstr(mt, "zstd") != NULL) {
			err_set(&e2, 501,
			    "layer %s of %s is zstd-compressed: sockerless "
			    "reads gzip and plain tar layers only; push the "
			    "image with gzip layers",
			    d, j->ref);
			backend_img_tree_finish(j, &e2);
			return;
		}
		cJSON *o = cJSON_CreateObject();

		json_add_str(o, "digest", d);
		cJSON_AddItemToArray(j->layers, o);
	}
	backend_img_tree_next(j);
}

/* A cache hit: answered from the loop like a fetch. */
static int
backend_img_tree_cached(struct img_tree_job *j)
{
	char *s;
	size_t n;

	if (access(j->tar, R_OK) != 0 ||
	    (s = backend_img_tree_get_file(j->statf, &n)) == NULL)
		return 0;
	j->stat = cJSON_ParseWithLength(s, n);
	free(s);
	if (j->stat == NULL)
		return 0;
	utime(j->tar, NULL);
	return 1;
}

static void
backend_img_tree_start(struct backend *b, struct container *c, const char *path,
    enum backend_tree_mode mode, const cJSON *puts, backend_tree_fn fn,
    void *arg)
{
	const char *ref = container_image_ref(c);
	char *key = backend_img_tree_key(ref, path, mode, puts), *dir;
	struct img_tree_wait *w = xcalloc(1, sizeof(*w));
	struct img_tree_job *j;
	struct err e;

	w->fn = fn;
	w->arg = arg;
	LIST_FOREACH(j, &img_tree_jobs, entry)
		if (j->b == b && strcmp(j->key, key) == 0) {
			TAILQ_INSERT_TAIL(&j->waits, w, entry);
			free(key);
			return;
		}
	j = xcalloc(1, sizeof(*j));
	TAILQ_INIT(&j->waits);
	TAILQ_INSERT_TAIL(&j->waits, w, entry);
	j->b = b;
	j->key = key;
	j->ref = xstrdup(ref);
	j->path = xstrdup(path);
	j->mode = mode;
	j->puts = puts != NULL ? cJSON_Duplicate(puts, 1) : cJSON_CreateArray();
	dir = backend_img_tree_dir(b, "");
	j->tar = xasprintf("%s/%s.tar", dir, key);
	j->statf = xasprintf("%s/%s.json", dir, key);
	free(dir);
	j->ev = event_new(b->base, -1, 0, backend_img_tree_answer, j);
	LIST_INSERT_HEAD(&img_tree_jobs, j, entry);
	if (backend_img_tree_cached(j))
		backend_img_tree_finish(j, NULL);
	else if (reg_resolve(
		     b->reg, ref, NULL, backend_img_tree_resolved, j, &e) == -1)
		backend_img_tree_finish(j, &e);
}

void
backend_img_tree(struct backend *b, struct container *c, const char *path,
    enum backend_tree_mode mode, backend_tree_fn fn, void *arg)
{
	backend_img_tree_start(b, c, path, mode, NULL, fn, arg);
}

void
backend_img_tree_free(struct backend *b)
{
	struct img_tree_job *j, *next;

	for (j = LIST_FIRST(&img_tree_jobs); j != NULL; j = next) {
		next = LIST_NEXT(j, entry);
		if (j->b != b)
			continue;
		LIST_REMOVE(j, entry);
		backend_img_tree_job_free(j);
	}
}

/* --- docker cp from a created container --------------------------------- */

struct img_tree_cp {
	struct backend *b;
	struct httpsrv_req *req;
	char *path, *ctr; /* as asked; the container's name */
	int head;
	FILE *f; /* GET: the tar being sent */
};

static void
backend_img_tree_cp_free(struct img_tree_cp *cp)
{
	if (cp->f != NULL)
		fclose(cp->f);
	free(cp->path);
	free(cp->ctr);
	free(cp);
}

static void
backend_img_tree_cp_gone(struct httpsrv_req *r, void *arg)
{
	struct img_tree_cp *cp = arg;

	(void)r;
	cp->req = NULL;
	/* A stream in progress ends with the request: nothing waits. */
	if (cp->f != NULL)
		backend_img_tree_cp_free(cp);
}

/* Sends the tar while the client keeps up. */
static void
backend_img_tree_cp_feed(struct httpsrv_req *r, void *arg)
{
	struct img_tree_cp *cp = arg;
	char buf[65536];
	size_t n;

	while (httpsrv_stream_pending(r) < sizeof(buf) * 4) {
		if ((n = fread(buf, 1, sizeof(buf), cp->f)) == 0) {
			httpsrv_req_on_close(r, NULL, NULL);
			httpsrv_stream_end(r);
			backend_img_tree_cp_free(cp);
			return;
		}
		httpsrv_stream_write(r, buf, n);
	}
}

static void
backend_img_tree_cp_header(struct httpsrv_req *r, const cJSON *stat)
{
	char *j = json_print(stat), *b64;
	size_t n = strlen(j);

	b64 = xmalloc(lite_b64_len(n) + 1);
	lite_b64_encode((const unsigned char *)j, n, b64);
	httpsrv_add_header(r, "X-Docker-Container-Path-Stat", b64);
	free(b64);
	free(j);
}

/* A trailing "/" asks for a directory. */
static int
backend_img_tree_cp_dir_ok(const char *path, const cJSON *stat)
{
	size_t n = strlen(path);

	if (n < 2 || path[n - 1] != '/')
		return 1;
	return (json_int(stat, "mode", 0) & (1LL << 31)) != 0;
}

static void
backend_img_tree_cp_done(
    void *arg, const char *tar, const cJSON *stat, const struct err *e)
{
	struct img_tree_cp *cp = arg;
	struct httpsrv_req *r = cp->req;

	if (r == NULL)
		goto out;
	if (e != NULL) {
		httpsrv_req_on_close(r, NULL, NULL);
		httpsrv_reply_err(r, e);
		goto out;
	}
	if (stat != NULL && !backend_img_tree_cp_dir_ok(cp->path, stat)) {
		/* dockerd's words, without its host path. */
		httpsrv_req_on_close(r, NULL, NULL);
		httpsrv_reply_error(
		    r, 500, "lstat %s: not a directory", cp->path);
		goto out;
	}
	if (stat == NULL) {
		httpsrv_req_on_close(r, NULL, NULL);
		httpsrv_reply_error(r, 404,
		    "Could not find the file %s in container %s", cp->path,
		    cp->ctr);
		goto out;
	}
	backend_img_tree_cp_header(r, stat);
	if (cp->head) {
		httpsrv_req_on_close(r, NULL, NULL);
		httpsrv_reply_empty(r, 200);
		goto out;
	}
	if ((cp->f = fopen(tar, "r")) == NULL) {
		httpsrv_req_on_close(r, NULL, NULL);
		httpsrv_reply_error(r, 500,
		    "the cached archive of %s went away; try again", cp->path);
		goto out;
	}
	httpsrv_stream_begin(r, 200, "application/x-tar");
	httpsrv_stream_on_drain(r, backend_img_tree_cp_feed, cp);
	backend_img_tree_cp_feed(r, cp);
	return;
out:
	backend_img_tree_cp_free(cp);
}

/* The inspect "Mounts" entry of a volume holding path (the deepest), or
 * NULL. */
const cJSON *
backend_img_tree_volume_at(const struct container *c, const char *path)
{
	const cJSON *m, *best = NULL;
	const char *d;
	size_t n, bestn = 0;

	cJSON_ArrayForEach(m, json_arr(container_doc(c), "Mounts")) {
		d = json_str(m, "Destination");
		if (d == NULL || json_str(m, "Name") == NULL ||
		    strcmp(json_str(m, "Type") ? json_str(m, "Type") : "",
			"volume") != 0)
			continue;
		n = strlen(d);
		while (n > 1 && d[n - 1] == '/')
			n--;
		if (strncmp(path, d, n) != 0 ||
		    (path[n] != '\0' && path[n] != '/' && n > 1) || n <= bestn)
			continue;
		best = m;
		bestn = n;
	}
	return best;
}

int
backend_img_tree_never_ran(struct container *c)
{
	const char *st = json_str(container_state(c), "Status");

	return st != NULL && strcmp(st, "created") == 0;
}

void
backend_img_tree_archive(struct backend *b, struct httpsrv_req *r,
    struct container *c, const char *path, int head)
{
	struct img_tree_cp *cp = xcalloc(1, sizeof(*cp));
	const cJSON *puts = json_arr(container_private(c), "Prestart");

	cp->b = b;
	cp->req = r;
	/* Docker takes a relative path from the root. */
	cp->path = path[0] == '/' ? xstrdup(path) : xasprintf("/%s", path);
	cp->ctr = xstrdup(container_name(c));
	cp->head = head;
	httpsrv_req_on_close(r, backend_img_tree_cp_gone, cp);
	backend_img_tree_start(b, c, cp->path, BACKEND_TREE_ARCHIVE, puts,
	    backend_img_tree_cp_done, cp);
}
