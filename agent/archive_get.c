/* docker cp out of the container: the path as an uncompressed tar
 * (ustar headers from common/lite, PAX records for long names). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>

#include "agent.h"
#include "archive.h"
#include "modules.h"
#include "sockerless/lite.h"

struct archive_out {
	int fd;
	int err; /* errno of the first failed write, then nothing is sent */
	size_t len;
	unsigned char buf[ARCHIVE_BUF];
};

static int
archive_flush(struct archive_out *o)
{
	size_t off = 0;
	ssize_t r;

	while (o->err == 0 && off < o->len) {
		r = write(o->fd, o->buf + off, o->len - off);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			o->err = r < 0 ? errno : EIO;
			break;
		}
		off += (size_t)r;
	}
	o->len = 0;
	return o->err ? -1 : 0;
}

static int
archive_write(struct archive_out *o, const void *p, size_t n)
{
	const unsigned char *s = p;
	size_t k;

	while (n > 0 && o->err == 0) {
		if (o->len == sizeof(o->buf) && archive_flush(o) == -1)
			break;
		k = sizeof(o->buf) - o->len;
		k = k < n ? k : n;
		memcpy(o->buf + o->len, s, k);
		o->len += k;
		s += k;
		n -= k;
	}
	return o->err ? -1 : 0;
}

static int
archive_pad(struct archive_out *o, uint64_t size)
{
	static const unsigned char zero[ARCHIVE_BLOCK];
	size_t r = (size_t)(size % ARCHIVE_BLOCK);

	return r ? archive_write(o, zero, ARCHIVE_BLOCK - r) : 0;
}

static void
archive_pax_record(struct jsonw *b, const char *key, const char *val)
{
	size_t base = strlen(key) + strlen(val) + 3, len = base, d;
	char num[24];

	/* The length counts its own digits. */
	for (;;) {
		d = (size_t)snprintf(num, sizeof(num), "%zu", len);
		if (base + d == len)
			break;
		len = base + d;
	}
	jsonw_printf(b, "%zu %s=%s\n", len, key, val);
}

struct archive_entry {
	const char *name;
	const char *link;
	const struct stat *st;
	char type;
	uint64_t size;
};

static void
archive_header_block(unsigned char *h, const char *name, size_t prefix,
    const char *link, const struct stat *st, char type, uint64_t size)
{
	struct lite_ustar u = { .name = name,
		.prefix = prefix,
		.link = link,
		.type = type,
		.mode = st->st_mode & 07777,
		.uid = st->st_uid,
		.gid = st->st_gid,
		.size = size,
		.mtime =
		    st->st_mtim.tv_sec < 0 ? 0 : (uint64_t)st->st_mtim.tv_sec,
		.devmajor = major(st->st_rdev),
		.devminor = minor(st->st_rdev) };

	lite_ustar_header(h, &u);
}

/* One header (a PAX one first when names do not fit ustar). */
static int
archive_put_header(struct archive_out *o, const struct archive_entry *e)
{
	unsigned char h[ARCHIVE_BLOCK];
	struct stat pst;
	struct jsonw pax;
	size_t prefix = 0;
	int long_name =
	    lite_ustar_split(e->name, LITE_USTAR_CUT_FIRST, &prefix) == -1;
	int long_link = strlen(e->link) > 100;

	if (long_name || long_link) {
		jsonw_init(&pax);
		if (long_name)
			archive_pax_record(&pax, "path", e->name);
		if (long_link)
			archive_pax_record(&pax, "linkpath", e->link);
		memset(&pst, 0, sizeof(pst));
		pst.st_mode = 0644;
		pst.st_mtim = e->st->st_mtim;
		archive_header_block(
		    h, "././@PaxHeader", 0, "", &pst, 'x', pax.len);
		if (archive_write(o, h, sizeof(h)) == -1 ||
		    archive_write(o, pax.buf, pax.len) == -1 ||
		    archive_pad(o, pax.len) == -1) {
			jsonw_free(&pax);
			return -1;
		}
		jsonw_free(&pax);
		prefix = 0;
	}
	archive_header_block(
	    h, e->name, prefix, e->link, e->st, e->type, e->size);
	return archive_write(o, h, sizeof(h));
}

/* Inodes already written, so hard links become link entries. */
struct archive_inode {
	dev_t dev;
	ino_t ino;
	char *name;
};

struct archive_get {
	struct archive_out out;
	struct archive_inode *inodes;
	size_t ninodes, cap;
};

static const char *
archive_seen(struct archive_get *g, const struct stat *st, const char *name)
{
	size_t i;

	for (i = 0; i < g->ninodes; i++)
		if (g->inodes[i].dev == st->st_dev &&
		    g->inodes[i].ino == st->st_ino)
			return g->inodes[i].name;
	if (g->ninodes == g->cap) {
		g->cap = g->cap ? g->cap * 2 : 16;
		g->inodes = xrealloc(g->inodes, g->cap * sizeof(*g->inodes));
	}
	g->inodes[g->ninodes].dev = st->st_dev;
	g->inodes[g->ninodes].ino = st->st_ino;
	g->inodes[g->ninodes].name = archive_dup(name);
	g->ninodes++;
	return NULL;
}

/* Copies exactly size bytes of fd (zeros if it shrank), then the pad. */
static int
archive_copy_file(struct archive_out *o, int fd, uint64_t size)
{
	static const unsigned char zero[4096];
	unsigned char buf[16384];
	uint64_t left = size;
	ssize_t r;

	while (left > 0) {
		size_t want = left < sizeof(buf) ? (size_t)left : sizeof(buf);
		r = read(fd, buf, want);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		if (archive_write(o, buf, (size_t)r) == -1)
			return -1;
		left -= (uint64_t)r;
	}
	while (left > 0) {
		size_t k = left < sizeof(zero) ? (size_t)left : sizeof(zero);
		if (archive_write(o, zero, k) == -1)
			return -1;
		left -= k;
	}
	return archive_pad(o, size);
}

static int
archive_cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The entries of a directory, sorted as Go's Walk visits them. */
static char **
archive_list_dir(const char *fspath, size_t *np)
{
	DIR *d;
	struct dirent *de;
	char **names = NULL;
	size_t n = 0, cap = 0;

	*np = 0;
	if ((d = opendir(fspath)) == NULL)
		return NULL;
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 ||
		    strcmp(de->d_name, "..") == 0)
			continue;
		if (n == cap) {
			cap = cap ? cap * 2 : 32;
			names = xrealloc(names, cap * sizeof(*names));
		}
		names[n++] = archive_dup(de->d_name);
	}
	closedir(d);
	if (n > 1)
		qsort(names, n, sizeof(*names), archive_cmp_str);
	*np = n;
	return names;
}

/*
 * Writes fspath as name, and below it for a directory. Returns 0, -1 when
 * the output failed, or (top only) a positive status when the entry itself
 * cannot be read. Unreadable entries below the top are left out, as Docker
 * does.
 */
static int
archive_walk(
    struct archive_get *g, const char *fspath, const char *name, int top)
{
	struct archive_entry e;
	struct stat st;
	char link[4096], *dname = NULL, **kids, *kp, *kn;
	const char *prev;
	size_t nkids, i;
	ssize_t ln;
	int fd = -1, rc = 0;

	if (lstat(fspath, &st) == -1)
		return top ? archive_fail(archive_errno_status(errno),
				 "lstat %s: %s", fspath, strerror(errno)) :
			     0;
	memset(&e, 0, sizeof(e));
	e.name = name;
	e.link = "";
	e.st = &st;
	if (S_ISREG(st.st_mode)) {
		if (st.st_nlink > 1 && (prev = archive_seen(g, &st, name))) {
			e.type = '1';
			e.link = prev;
			return archive_put_header(&g->out, &e);
		}
		if ((fd = open(fspath, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)) ==
		    -1)
			return top ?
			    archive_fail(archive_errno_status(errno),
				"open %s: %s", fspath, strerror(errno)) :
			    0;
		e.type = '0';
		e.size = (uint64_t)st.st_size;
		if (archive_put_header(&g->out, &e) == -1 ||
		    archive_copy_file(&g->out, fd, e.size) == -1)
			rc = -1;
		close(fd);
		return rc;
	}
	if (S_ISLNK(st.st_mode)) {
		if ((ln = readlink(fspath, link, sizeof(link) - 1)) < 0)
			return 0;
		link[ln] = '\0';
		e.type = '2';
		e.link = link;
		return archive_put_header(&g->out, &e);
	}
	if (S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode) ||
	    S_ISFIFO(st.st_mode)) {
		e.type = S_ISCHR(st.st_mode) ? '3' :
		    S_ISBLK(st.st_mode)	     ? '4' :
					       '6';
		return archive_put_header(&g->out, &e);
	}
	if (!S_ISDIR(st.st_mode))
		return 0; /* sockets: tar has no type for them */
	dname = archive_join(name, "");
	e.name = dname;
	e.type = '5';
	rc = archive_put_header(&g->out, &e);
	free(dname);
	if (rc == -1)
		return -1;
	kids = archive_list_dir(fspath, &nkids);
	for (i = 0; i < nkids; i++) {
		if (rc == 0) {
			kp = archive_join(fspath, kids[i]);
			/* "dir/." puts the contents at the top, as Docker. */
			kn = strcmp(name, ".") == 0 ?
			    archive_dup(kids[i]) :
			    archive_join(name, kids[i]);
			rc = archive_walk(g, kp, kn, 0) == -1 ? -1 : 0;
			free(kp);
			free(kn);
		}
		free(kids[i]);
	}
	free(kids);
	return rc;
}

int
archive_get_child(const char *path, int out_fd)
{
	struct archive_get *g;
	static const unsigned char zero[2 * ARCHIVE_BLOCK];
	struct stat st;
	char *name, *fspath;
	size_t n;
	int rc;

	if (path == NULL || path[0] != '/')
		return archive_fail(ARCHIVE_EBADREQ,
		    "invalid path: not absolute: %s", path ? path : "");
	if (archive_is_dot(path)) {
		/* The directory's contents: the directory itself is ".". */
		fspath = archive_dup(path);
		n = strlen(fspath);
		while (n > 1 && fspath[n - 1] == '/')
			fspath[--n] = '\0';
		if (n > 1)
			fspath[n - 1] = '\0'; /* drop the "." */
		if (stat(fspath, &st) == -1) {
			rc = archive_errno_status(errno);
			free(fspath);
			return archive_fail(rc,
			    rc == ARCHIVE_ENOENT ?
				"Could not find the file %s in container" :
				"stat %s: permission denied",
			    path);
		}
		if (!S_ISDIR(st.st_mode)) {
			free(fspath);
			return archive_fail(
			    ARCHIVE_EBADREQ, "not a directory: %s", path);
		}
		name = archive_dup(".");
	} else {
		if (lstat(path, &st) == -1) {
			rc = archive_errno_status(errno);
			return archive_fail(rc,
			    rc == ARCHIVE_ENOENT ?
				"Could not find the file %s in container" :
				"lstat %s: permission denied",
			    path);
		}
		fspath = archive_dup(path);
		name = archive_base(path);
	}
	g = xmalloc(sizeof(*g));
	memset(g, 0, sizeof(*g));
	g->out.fd = out_fd;
	rc = archive_walk(g, fspath, name, 1);
	if (rc == 0 &&
	    (archive_write(&g->out, zero, sizeof(zero)) == -1 ||
		archive_flush(&g->out) == -1))
		rc = -1;
	if (rc == -1)
		rc = archive_fail(
		    ARCHIVE_EOTHER, "write: %s", strerror(g->out.err));
	for (n = 0; n < g->ninodes; n++)
		free(g->inodes[n].name);
	free(g->inodes);
	free(g);
	free(fspath);
	free(name);
	return rc;
}
