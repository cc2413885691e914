/* An image's files at one path: its layers applied bottom to top with
 * whiteouts (and the files a client put before start on top), keeping only
 * what is at, under or on the way to the path, written out as the tar
 * `docker cp` GETs (or the contents a new volume is filled with). */
#include <sys/queue.h>

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "reg_tree_int.h"
#include "sockerless/json.h"
#include "sockerless/lite.h"
#include "sockerless/reg.h"
#include "sockerless/str.h"
#include "sockerless/xmalloc.h"

#define REG_TREE_HOPS	  32 /* symlinks followed in a path, as Linux's 40 */
#define REG_TREE_READ_MAX ((uint64_t)16 << 30) /* uncompressed per layer */

/* Go's os.FileMode type bits, as the agent's archive.c (which links libc
 * only) computes them for a running container's stat. */
#define REG_GO_DIR	  (1U << 31)
#define REG_GO_SYMLINK	  (1U << 27)
#define REG_GO_DEVICE	  (1U << 26)
#define REG_GO_NAMEDPIPE  (1U << 25)
#define REG_GO_SETUID	  (1U << 23)
#define REG_GO_SETGID	  (1U << 22)
#define REG_GO_CHARDEVICE (1U << 21)
#define REG_GO_STICKY	  (1U << 20)

struct reg_tree_node {
	TAILQ_ENTRY(reg_tree_node) all;
	struct reg_tree_node *hnext;
	char *name, *link, *uname, *gname;
	char type;
	uint64_t mode, uid, gid, size, mtime, devmajor, devminor;
	int64_t off; /* data in the spool; -1 when none */
	int layer;
	int keep; /* at or under the path; else on the way to it */
};
TAILQ_HEAD(reg_tree_nodes, reg_tree_node);

struct reg_tree {
	char *path; /* normalised, relative ("" for /) */
	char *top;  /* the top entry's name in ARCHIVE mode; NULL: "." */
	int follow; /* the final component's symlink is followed */
	int hops;
	enum reg_tree_mode mode;
	struct reg_tree_nodes nodes;
	struct reg_tree_node **hash;
	size_t nhash, n;
	FILE *spool;
	uint64_t spooled, max;
	int layer, whiteouts;
	struct strv pending; /* hardlink targets outside the path */
	int fetching;	     /* the second pass that copies them */
};

static uint32_t
reg_tree_hashof(const char *s)
{
	uint32_t h = 2166136261u;

	for (; *s != '\0'; s++)
		h = (h ^ (unsigned char)*s) * 16777619u;
	return h;
}

static struct reg_tree_node *
reg_tree_find(const struct reg_tree *t, const char *name)
{
	struct reg_tree_node *n;

	n = t->hash[reg_tree_hashof(name) & (t->nhash - 1)];
	for (; n != NULL; n = n->hnext)
		if (strcmp(n->name, name) == 0)
			return n;
	return NULL;
}

static void
reg_tree_rehash(struct reg_tree *t, size_t nhash)
{
	struct reg_tree_node *n;
	size_t i;

	free(t->hash);
	t->nhash = nhash;
	t->hash = xcalloc(nhash, sizeof(*t->hash));
	TAILQ_FOREACH(n, &t->nodes, all) {
		i = reg_tree_hashof(n->name) & (nhash - 1);
		n->hnext = t->hash[i];
		t->hash[i] = n;
	}
}

static void
reg_tree_node_free(struct reg_tree_node *n)
{
	free(n->name);
	free(n->link);
	free(n->uname);
	free(n->gname);
	free(n);
}

static void
reg_tree_unlink(struct reg_tree *t, struct reg_tree_node *n)
{
	struct reg_tree_node **pp;

	pp = &t->hash[reg_tree_hashof(n->name) & (t->nhash - 1)];
	while (*pp != n)
		pp = &(*pp)->hnext;
	*pp = n->hnext;
	TAILQ_REMOVE(&t->nodes, n, all);
	t->n--;
	reg_tree_node_free(n);
}

static void
reg_tree_insert(struct reg_tree *t, struct reg_tree_node *n)
{
	size_t i;

	TAILQ_INSERT_TAIL(&t->nodes, n, all);
	t->n++;
	if (t->n > t->nhash * 2) {
		reg_tree_rehash(t, t->nhash * 4);
		return;
	}
	i = reg_tree_hashof(n->name) & (t->nhash - 1);
	n->hnext = t->hash[i];
	t->hash[i] = n;
}

/* 1 when name is under dir ("" holds everything but itself). */
static int
reg_tree_under(const char *dir, const char *name)
{
	size_t k = strlen(dir);

	if (k == 0)
		return name[0] != '\0';
	return strncmp(name, dir, k) == 0 && name[k] == '/';
}

/* 2: at or under the path; 1: a directory on the way; 0: elsewhere. */
static int
reg_tree_rel(const struct reg_tree *t, const char *name)
{
	if (strcmp(name, t->path) == 0 || reg_tree_under(t->path, name))
		return 2;
	return reg_tree_under(name, t->path) ? 1 : 0;
}

/* Drops dir's descendants (and dir itself when self) from layers below
 * the current one. */
static void
reg_tree_drop(struct reg_tree *t, const char *dir, int self, int lower)
{
	struct reg_tree_node *n, *next;

	for (n = TAILQ_FIRST(&t->nodes); n != NULL; n = next) {
		next = TAILQ_NEXT(n, all);
		if (lower && n->layer >= t->layer)
			continue;
		if ((self && strcmp(n->name, dir) == 0) ||
		    reg_tree_under(dir, n->name))
			reg_tree_unlink(t, n);
	}
}

/* A whiteout member: 1 when h was one (and applied). */
static int
reg_tree_whiteout(struct reg_tree *t, const struct reg_tar_ent *h)
{
	const char *base = strrchr(h->name, '/');
	size_t dlen = base != NULL ? (size_t)(base - h->name) : 0;
	char *dir, *victim;

	base = base != NULL ? base + 1 : h->name;
	if (!t->whiteouts || strncmp(base, ".wh.", 4) != 0)
		return 0;
	dir = xstrndup(h->name, dlen);
	if (strcmp(base, ".wh..wh..opq") == 0)
		reg_tree_drop(t, dir, 0, 1);
	else {
		victim = dlen > 0 ? xasprintf("%s/%s", dir, base + 4) :
				    xstrdup(base + 4);
		reg_tree_drop(t, victim, 1, 1);
		free(victim);
	}
	free(dir);
	return 1;
}

static int
reg_tree_spool(struct reg_tree *t, struct reg_tree_node *n,
    struct reg_tar_rd *rd, struct err *e)
{
	if (t->spooled + n->size > t->max)
		return err_set(e, 500,
		    "the image's files at /%s are larger than %llu bytes, the "
		    "bound for reading them outside a running container",
		    t->path, (unsigned long long)t->max);
	if (fseeko(t->spool, 0, SEEK_END) == -1)
		return err_set(e, 500, "the spool file cannot be written");
	n->off = (int64_t)ftello(t->spool);
	t->spooled += n->size;
	return reg_tar_copy(rd, t->spool, e);
}

/* Second pass: the data of hardlink targets outside the path, so that the
 * links inside it become files. */
static int
reg_tree_fetch_target(void *arg, const struct reg_tar_ent *h,
    struct reg_tar_rd *rd, struct err *e)
{
	struct reg_tree *t = arg;
	struct reg_tree_node *n, *first = NULL;

	if (h->type != '0' || !strv_contains(&t->pending, h->name))
		return 0;
	/* The first link inside gets the data; the others link to it. */
	TAILQ_FOREACH(n, &t->nodes, all) {
		if (n->type != '1' || n->layer != t->layer ||
		    strcmp(n->link, h->name) != 0)
			continue;
		if (first != NULL) {
			free(n->link);
			n->link = xstrdup(first->name);
			continue;
		}
		first = n;
		n->type = '0';
		n->size = h->size;
		if (reg_tree_spool(t, n, rd, e) == -1)
			return -1;
	}
	return 0;
}

static struct reg_tree_node *
reg_tree_node_new(const struct reg_tar_ent *h, int layer, int keep)
{
	struct reg_tree_node *n = xcalloc(1, sizeof(*n));

	n->name = xstrdup(h->name);
	n->link = xstrdup(h->link != NULL ? h->link : "");
	n->uname = xstrdup(h->uname != NULL ? h->uname : "");
	n->gname = xstrdup(h->gname != NULL ? h->gname : "");
	n->type = h->type;
	n->mode = h->mode & 07777;
	n->uid = h->uid;
	n->gid = h->gid;
	n->size = h->type == '0' ? h->size : 0;
	n->mtime = h->mtime;
	n->devmajor = h->devmajor;
	n->devminor = h->devminor;
	n->off = -1;
	n->layer = layer;
	n->keep = keep;
	return n;
}

static int
reg_tree_member(void *arg, const struct reg_tar_ent *h, struct reg_tar_rd *rd,
    struct err *e)
{
	struct reg_tree *t = arg;
	struct reg_tree_node *old, *n;
	int rel;

	if (t->fetching)
		return reg_tree_fetch_target(arg, h, rd, e);
	if (reg_tree_whiteout(t, h))
		return 0;
	if ((rel = reg_tree_rel(t, h->name)) == 0)
		return 0;
	/* A directory over a directory merges; anything else replaces. */
	if ((old = reg_tree_find(t, h->name)) != NULL) {
		if (!(old->type == '5' && h->type == '5'))
			reg_tree_drop(t, h->name, 0, 0);
		reg_tree_unlink(t, old);
	}
	n = reg_tree_node_new(h, t->layer, rel == 2);
	reg_tree_insert(t, n);
	if (rel == 2 && h->type == '0')
		return reg_tree_spool(t, n, rd, e);
	if (rel == 2 && h->type == '1' && reg_tree_rel(t, h->link) != 2 &&
	    !strv_contains(&t->pending, h->link))
		strv_add(&t->pending, h->link);
	return 0;
}

static int
reg_tree_apply(struct reg_tree *t, FILE *f, const void *mem, size_t len,
    const char *prefix, const char *what, struct err *e)
{
	off_t start = f != NULL ? ftello(f) : 0;
	int rc;

	t->layer++;
	strv_free(&t->pending);
	strv_init(&t->pending);
	t->fetching = 0;
	rc = reg_tar_read(f, mem, len, prefix, REG_TREE_READ_MAX, what,
	    reg_tree_member, t, e);
	if (rc == 0 && t->pending.n > 0) {
		if (f != NULL && fseeko(f, start, SEEK_SET) == -1)
			return err_set(e, 500, "%s: cannot seek", what);
		t->fetching = 1;
		rc = reg_tar_read(f, mem, len, prefix, REG_TREE_READ_MAX, what,
		    reg_tree_member, t, e);
		t->fetching = 0;
	}
	return rc;
}

int
reg_tree_layer(struct reg_tree *t, FILE *f, const void *mem, size_t len,
    const char *what, struct err *e)
{
	t->whiteouts = 1;
	return reg_tree_apply(t, f, mem, len, "", what, e);
}

int
reg_tree_put(struct reg_tree *t, FILE *f, const char *dir, struct err *e)
{
	char *prefix;
	int rc = -1;

	if ((prefix = reg_tar_clean("", dir, "the archive put", e)) == NULL)
		return -1;
	t->whiteouts = 0;
	rc = reg_tree_apply(
	    t, f, NULL, 0, prefix, "an archive put before start", e);
	free(prefix);
	return rc;
}

static void
reg_tree_clear(struct reg_tree *t)
{
	struct reg_tree_node *n;

	while ((n = TAILQ_FIRST(&t->nodes)) != NULL) {
		TAILQ_REMOVE(&t->nodes, n, all);
		reg_tree_node_free(n);
	}
	t->n = 0;
	t->layer = 0;
	t->spooled = 0;
	if (t->spool != NULL)
		fclose(t->spool);
	t->spool = NULL;
	reg_tree_rehash(t, 256);
}

static char *reg_tree_lexclean(const char *abs);

/* "x/y/." or "/": the contents; a trailing '/' follows a final link. */
static void
reg_tree_parse_path(const char *path, char **top, int *follow, int *dot)
{
	size_t n = strlen(path);
	const char *b;

	while (n > 1 && path[n - 1] == '/')
		n--;
	*dot = (n == 1 && path[0] == '/') ||
	    (n >= 2 && path[n - 1] == '.' && path[n - 2] == '/');
	*follow = *dot || path[strlen(path) - 1] == '/';
	if (*dot) {
		*top = NULL;
		return;
	}
	for (b = path + n; b > path && b[-1] != '/'; b--)
		;
	*top = xstrndup(b, (size_t)(path + n - b));
}

struct reg_tree *
reg_tree_new(
    const char *path, enum reg_tree_mode mode, uint64_t max, struct err *e)
{
	struct reg_tree *t;
	int dot;

	if (path == NULL || path[0] != '/') {
		err_set(e, 400, "invalid path: not absolute: %s",
		    path != NULL ? path : "");
		return NULL;
	}
	t = xcalloc(1, sizeof(*t));
	TAILQ_INIT(&t->nodes);
	strv_init(&t->pending);
	t->mode = mode;
	t->max = max;
	reg_tree_parse_path(path, &t->top, &t->follow, &dot);
	if (mode == REG_TREE_CONTENTS) {
		free(t->top);
		t->top = NULL;
		t->follow = 1;
	}
	/* Docker resolves ".." lexically inside the root. */
	t->path = reg_tree_lexclean(path);
	reg_tree_clear(t);
	return t;
}

void
reg_tree_free(struct reg_tree *t)
{
	if (t == NULL)
		return;
	reg_tree_clear(t);
	free(t->hash);
	free(t->path);
	free(t->top);
	strv_free(&t->pending);
	free(t);
}

int
reg_tree_begin(struct reg_tree *t, struct err *e)
{
	reg_tree_clear(t);
	if ((t->spool = tmpfile()) == NULL)
		return err_set(
		    e, 500, "cannot create a spool file for an image's files");
	return 0;
}

/* Lexical clean of an absolute path, ".." stopping at the root as Docker
 * resolves paths inside a container's root; relative result ("" is /). */
static char *
reg_tree_lexclean(const char *abs)
{
	char *o = xmalloc(strlen(abs) + 1);
	const char *s = abs, *c;
	size_t n = 0, k;

	while (*s != '\0') {
		c = s + strcspn(s, "/");
		k = (size_t)(c - s);
		if (k == 2 && s[0] == '.' && s[1] == '.') {
			while (n > 0 && o[n - 1] != '/')
				n--;
			if (n > 0)
				n--;
		} else if (k > 0 && !(k == 1 && s[0] == '.')) {
			if (n > 0)
				o[n++] = '/';
			memcpy(o + n, s, k);
			n += k;
		}
		s = *c == '/' ? c + 1 : c;
	}
	o[n] = '\0';
	return o;
}

/* Where the symlink node n leads, absolute and cleaned; caller frees. */
static char *
reg_tree_link_target(const struct reg_tree_node *n)
{
	const char *slash = strrchr(n->name, '/');
	char *p, *r, *abs;

	if (n->link[0] == '/')
		p = xstrdup(n->link);
	else if (slash != NULL)
		p = xasprintf(
		    "/%.*s/%s", (int)(slash - n->name), n->name, n->link);
	else
		p = xasprintf("/%s", n->link);
	r = reg_tree_lexclean(p);
	abs = xasprintf("/%s", r);
	free(p);
	free(r);
	return abs;
}

int
reg_tree_redirect(struct reg_tree *t, struct err *e)
{
	const struct reg_tree_node *n;
	char *pre, *target, *np;
	size_t k = 0, len = strlen(t->path);

	while (k < len) {
		k += strcspn(t->path + k, "/");
		if (k == len && !t->follow)
			break;
		pre = xstrndup(t->path, k);
		n = reg_tree_find(t, pre);
		free(pre);
		if (n != NULL && n->type == '2') {
			if (++t->hops > REG_TREE_HOPS)
				return err_set(e, 400,
				    "too many levels of symbolic links "
				    "in /%s",
				    t->path);
			target = reg_tree_link_target(n);
			np = xasprintf("%s/%s", target, t->path + k);
			free(t->path);
			t->path = reg_tree_lexclean(np);
			free(np);
			free(target);
			return 1;
		}
		if (n == NULL || n->type != '5')
			break;
		k++;
	}
	return 0;
}

static const struct reg_tree_node *
reg_tree_at(const struct reg_tree *t)
{
	return reg_tree_find(t, t->path);
}

/* 1 when the path exists: an entry, the root, or a directory only its
 * members imply. */
static int
reg_tree_exists(const struct reg_tree *t)
{
	const struct reg_tree_node *n;

	if (t->path[0] == '\0' || reg_tree_at(t) != NULL)
		return 1;
	TAILQ_FOREACH(n, &t->nodes, all)
		if (n->keep)
			return 1;
	return 0;
}

static uint32_t
reg_tree_go_mode(char type, uint64_t mode)
{
	uint32_t g = (uint32_t)(mode & 0777);

	if (type == '5')
		g |= REG_GO_DIR;
	else if (type == '2')
		g |= REG_GO_SYMLINK;
	else if (type == '3')
		g |= REG_GO_DEVICE | REG_GO_CHARDEVICE;
	else if (type == '4')
		g |= REG_GO_DEVICE;
	else if (type == '6')
		g |= REG_GO_NAMEDPIPE;
	if (mode & 04000)
		g |= REG_GO_SETUID;
	if (mode & 02000)
		g |= REG_GO_SETGID;
	if (mode & 01000)
		g |= REG_GO_STICKY;
	return g;
}

int
reg_tree_is_dir(const struct reg_tree *t)
{
	const struct reg_tree_node *n = reg_tree_at(t);

	return reg_tree_exists(t) && (n == NULL || n->type == '5');
}

/* Whole seconds as Go's RFC 3339 JSON time has them (no fraction). */
static void
reg_tree_time(char *out, size_t size, uint64_t sec)
{
	time_t t = (time_t)(sec > (uint64_t)INT32_MAX * 4 ? 0 : sec);
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(out, size, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

cJSON *
reg_tree_stat(const struct reg_tree *t, const char *name)
{
	const struct reg_tree_node *n = reg_tree_at(t);
	cJSON *o;
	char when[48], *target;

	if (!reg_tree_exists(t))
		return NULL;
	o = cJSON_CreateObject();
	json_add_str(o, "name", name);
	/* lstat's sizes: a link's target length, a directory's block. */
	json_add_int(o, "size",
	    n == NULL || n->type == '5' ? 4096 :
		n->type == '2'		? (int64_t)strlen(n->link) :
					  (int64_t)n->size);
	json_add_int(o, "mode",
	    n != NULL ? reg_tree_go_mode(n->type, n->mode) : REG_GO_DIR | 0755);
	reg_tree_time(when, sizeof(when), n != NULL ? n->mtime : 0);
	json_add_str(o, "mtime", when);
	target =
	    n != NULL && n->type == '2' ? reg_tree_link_target(n) : xstrdup("");
	json_add_str(o, "linkTarget", target);
	free(target);
	return o;
}

/* --- writing ----------------------------------------------------------- */

/* Adds the directories a member implies but no layer wrote. */
static void
reg_tree_fill_dirs(struct reg_tree *t)
{
	struct reg_tree_node *n, *d;
	struct reg_tar_ent h;
	char *dir, *slash;

	memset(&h, 0, sizeof(h));
	h.type = '5';
	h.mode = 0755;
	TAILQ_FOREACH(n, &t->nodes, all) {
		if (!n->keep)
			continue;
		dir = xstrdup(n->name);
		while (strcmp(dir, t->path) != 0) {
			slash = strrchr(dir, '/');
			if (slash != NULL)
				*slash = '\0';
			else
				dir[0] = '\0';
			if (reg_tree_rel(t, dir) != 2)
				break;
			if ((d = reg_tree_find(t, dir)) != NULL) {
				d->keep = 1;
				continue;
			}
			h.name = dir;
			reg_tree_insert(t, reg_tree_node_new(&h, t->layer, 1));
		}
		free(dir);
	}
	if (t->path[0] == '\0' && reg_tree_find(t, "") == NULL) {
		h.name = "";
		reg_tree_insert(t, reg_tree_node_new(&h, t->layer, 1));
	}
}

/* Walk order: a directory's members right after it ('/' sorts first). */
static int
reg_tree_cmp(const void *a, const void *b)
{
	const unsigned char *x =
	    (const unsigned char *)(*(struct reg_tree_node *const *)a)->name;
	const unsigned char *y =
	    (const unsigned char *)(*(struct reg_tree_node *const *)b)->name;

	for (; *x != '\0' && *x == *y; x++, y++)
		;
	return (*x == '\0'	 ? 0 :
		       *x == '/' ? 1 :
				   *x + 1) -
	    (*y == '\0'	      ? 0 :
		    *y == '/' ? 1 :
				*y + 1);
}

/* A member's name in the output. Caller frees. */
static char *
reg_tree_out_name(const struct reg_tree *t, const char *name, int dir)
{
	size_t k = strlen(t->path);
	const char *suffix = name + (k == 0 ? 0 : (name[k] ? k + 1 : k));

	if (t->top != NULL)
		return suffix[0] == '\0' ?
		    xasprintf("%s%s", t->top, dir ? "/" : "") :
		    xasprintf("%s/%s%s", t->top, suffix, dir ? "/" : "");
	/* dockerd's "dir/." names the members "./x". */
	return suffix[0] == '\0' ? xstrdup("./") :
				   xasprintf("./%s%s", suffix, dir ? "/" : "");
}

static int
reg_tree_put_bytes(FILE *out, const void *p, size_t n, struct err *e)
{
	if (n > 0 && fwrite(p, 1, n, out) != n)
		return err_set(e, 500, "writing the archive of image files");
	return 0;
}

static int
reg_tree_pad(FILE *out, uint64_t size, struct err *e)
{
	static const unsigned char zero[LITE_USTAR_BLOCK];

	return reg_tree_put_bytes(out, zero,
	    (size_t)((LITE_USTAR_BLOCK - size % LITE_USTAR_BLOCK) %
		LITE_USTAR_BLOCK),
	    e);
}

struct buf_pax {
	char *p;
	size_t n;
};

/* "len key=value\n", len counting itself. */
static void
reg_tree_pax_rec(struct buf_pax *b, const char *key, const char *val)
{
	size_t body = strlen(key) + strlen(val) + 3, len = body, d;
	char *r;

	for (;;) {
		d = (size_t)snprintf(NULL, 0, "%zu", len);
		if (body + d == len)
			break;
		len = body + d;
	}
	r = xasprintf("%zu %s=%s\n", len, key, val);
	b->p = xrealloc(b->p, b->n + len + 1);
	memcpy(b->p + b->n, r, len);
	b->n += len;
	free(r);
}

static int
reg_tree_header(FILE *out, const struct reg_tree_node *n, const char *name,
    const char *link, struct err *e)
{
	unsigned char h[LITE_USTAR_BLOCK];
	struct lite_ustar u;
	struct buf_pax pax = { NULL, 0 };
	size_t prefix = 0;
	int rc = -1, long_name = 0;

	if (lite_ustar_split(name, LITE_USTAR_CUT_LAST, &prefix) == -1) {
		reg_tree_pax_rec(&pax, "path", name);
		long_name = 1;
	}
	if (strlen(link) > 100)
		reg_tree_pax_rec(&pax, "linkpath", link);
	memset(&u, 0, sizeof(u));
	if (pax.n > 0) {
		u.name = "PaxHeaders.0/entry";
		u.type = 'x';
		u.mode = 0644;
		u.size = pax.n;
		lite_ustar_header(h, &u);
		if (reg_tree_put_bytes(out, h, sizeof(h), e) == -1 ||
		    reg_tree_put_bytes(out, pax.p, pax.n, e) == -1 ||
		    reg_tree_pad(out, pax.n, e) == -1)
			goto out;
		memset(&u, 0, sizeof(u));
	}
	u.name = long_name ? "././@Pax" : name;
	u.prefix = prefix;
	u.link = strlen(link) > 100 ? "././@Pax" : link;
	u.uname = n->uname;
	u.gname = n->gname;
	u.type = n->type;
	u.mode = n->mode;
	u.uid = n->uid;
	u.gid = n->gid;
	u.size = n->type == '0' ? n->size : 0;
	u.mtime = n->mtime;
	u.devmajor = n->devmajor;
	u.devminor = n->devminor;
	lite_ustar_header(h, &u);
	rc = reg_tree_put_bytes(out, h, sizeof(h), e);
out:
	free(pax.p);
	return rc;
}

static int
reg_tree_data(
    struct reg_tree *t, FILE *out, const struct reg_tree_node *n, struct err *e)
{
	char buf[16384];
	uint64_t left = n->size;
	size_t k;

	if (n->type != '0' || n->size == 0)
		return 0;
	if (fseeko(t->spool, (off_t)n->off, SEEK_SET) == -1)
		return err_set(e, 500, "reading the spool of image files");
	while (left > 0) {
		k = left < sizeof(buf) ? (size_t)left : sizeof(buf);
		if (fread(buf, 1, k, t->spool) != k)
			return err_set(
			    e, 500, "reading the spool of image files");
		if (reg_tree_put_bytes(out, buf, k, e) == -1)
			return -1;
		left -= k;
	}
	return reg_tree_pad(out, n->size, e);
}

static int
reg_tree_entry(
    struct reg_tree *t, FILE *out, const struct reg_tree_node *n, struct err *e)
{
	char *name = reg_tree_out_name(t, n->name, n->type == '5');
	char *link = n->type == '1' ? reg_tree_out_name(t, n->link, 0) :
				      xstrdup(n->link);
	int rc;

	rc = reg_tree_header(out, n, name, link, e);
	if (rc == 0)
		rc = reg_tree_data(t, out, n, e);
	free(name);
	free(link);
	return rc;
}

int
reg_tree_write(struct reg_tree *t, FILE *out, struct err *e)
{
	static const unsigned char zero[2 * LITE_USTAR_BLOCK];
	struct reg_tree_node **v, *n;
	size_t nv = 0, i;
	int rc = 0;

	reg_tree_fill_dirs(t);
	v = xreallocarray(NULL, t->n + 1, sizeof(*v));
	TAILQ_FOREACH(n, &t->nodes, all)
		if (n->keep)
			v[nv++] = n;
	qsort(v, nv, sizeof(*v), reg_tree_cmp);
	for (i = 0; i < nv && rc == 0; i++)
		rc = reg_tree_entry(t, out, v[i], e);
	free(v);
	if (rc == 0)
		rc = reg_tree_put_bytes(out, zero, sizeof(zero), e);
	if (rc == 0 && fflush(out) != 0)
		rc = err_set(e, 500, "writing the archive of image files");
	return rc;
}
