/* docker cp into the container: an uncompressed tar (ustar, PAX and GNU
 * long names) extracted into the file system. */
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

struct archive_in {
	int fd;
	int eof;
	size_t off, len;
	unsigned char buf[ARCHIVE_BUF];
};

/* Reads n bytes into p (discarded when p is NULL); -1 at a short end. */
static int
archive_read(struct archive_in *in, void *p, uint64_t n)
{
	unsigned char *d = p;
	size_t k;
	ssize_t r;

	while (n > 0) {
		if (in->off == in->len) {
			if (in->eof)
				return -1;
			r = read(in->fd, in->buf, sizeof(in->buf));
			if (r < 0 && errno == EINTR)
				continue;
			if (r <= 0) {
				in->eof = 1;
				return -1;
			}
			in->off = 0;
			in->len = (size_t)r;
		}
		k = in->len - in->off;
		if ((uint64_t)k > n)
			k = (size_t)n;
		if (d != NULL) {
			memcpy(d, in->buf + in->off, k);
			d += k;
		}
		in->off += k;
		n -= k;
	}
	return 0;
}

static uint64_t
archive_padded(uint64_t size)
{
	return (size + ARCHIVE_BLOCK - 1) / ARCHIVE_BLOCK * ARCHIVE_BLOCK;
}

/* Octal (space or NUL ended) or GNU base-256; negative reads as 0. */
static uint64_t
archive_parse_num(const unsigned char *f, size_t sz)
{
	uint64_t v = 0;
	size_t i = 0;

	if (f[0] & 0x80) {
		if (f[0] == 0xff)
			return 0;
		v = f[0] & 0x7f;
		for (i = 1; i < sz; i++)
			v = v << 8 | f[i];
		return v;
	}
	while (i < sz && (f[i] == ' ' || f[i] == '\0'))
		i++;
	for (; i < sz && f[i] >= '0' && f[i] <= '7'; i++)
		v = v << 3 | (uint64_t)(f[i] - '0');
	return v;
}

static int
archive_checksum_ok(const unsigned char *h)
{
	unsigned long u = 0;
	long s = 0;
	uint64_t want = archive_parse_num(h + 148, 8);
	size_t i;

	for (i = 0; i < ARCHIVE_BLOCK; i++) {
		unsigned char c = (i >= 148 && i < 156) ? ' ' : h[i];
		u += c;
		s += (signed char)c;
	}
	return want == u || (s >= 0 && want == (uint64_t)s);
}

/* What PAX and GNU records say about the next entry. */
struct archive_next {
	char *path, *link;
	int have_size, have_uid, have_gid, have_mtime;
	uint64_t size, uid, gid;
	int64_t mtime;
	long mtime_ns;
};

static void
archive_next_clear(struct archive_next *x)
{
	free(x->path);
	free(x->link);
	memset(x, 0, sizeof(*x));
}

static void
archive_pax_mtime(struct archive_next *x, const char *v)
{
	char *end;
	long ns = 0;
	int i;

	x->mtime = strtoll(v, &end, 10);
	if (*end == '.') {
		for (i = 0, end++; i < 9; i++) {
			ns *= 10;
			if (*end >= '0' && *end <= '9')
				ns += *end++ - '0';
		}
	}
	x->mtime_ns = x->mtime < 0 ? 0 : ns;
	x->have_mtime = 1;
}

static void
archive_pax_parse(struct archive_next *x, char *d, size_t n)
{
	char *p = d, *end = d + n, *sp, *eq, *rec_end, *val;
	unsigned long len;

	while (p < end) {
		len = strtoul(p, &sp, 10);
		if (sp == p || *sp != ' ' || len == 0 ||
		    len > (unsigned long)(end - p))
			return;
		rec_end = p + len;
		if (rec_end[-1] != '\n')
			return;
		rec_end[-1] = '\0';
		if ((eq = memchr(sp + 1, '=', (size_t)(rec_end - sp - 1))) ==
		    NULL)
			return;
		*eq = '\0';
		val = eq + 1;
		if (strcmp(sp + 1, "path") == 0) {
			free(x->path);
			x->path = archive_dup(val);
		} else if (strcmp(sp + 1, "linkpath") == 0) {
			free(x->link);
			x->link = archive_dup(val);
		} else if (strcmp(sp + 1, "size") == 0) {
			x->size = strtoull(val, NULL, 10);
			x->have_size = 1;
		} else if (strcmp(sp + 1, "uid") == 0) {
			x->uid = strtoull(val, NULL, 10);
			x->have_uid = 1;
		} else if (strcmp(sp + 1, "gid") == 0) {
			x->gid = strtoull(val, NULL, 10);
			x->have_gid = 1;
		} else if (strcmp(sp + 1, "mtime") == 0) {
			archive_pax_mtime(x, val);
		}
		p = rec_end;
	}
}

/* A record's data (PAX, GNU long name), NUL-terminated; NULL if too big. */
static char *
archive_read_meta(struct archive_in *in, uint64_t size)
{
	char *d;

	if (size > ARCHIVE_META_MAX)
		return NULL;
	d = xmalloc((size_t)size + 1);
	if (archive_read(in, d, size) == -1 ||
	    archive_read(in, NULL, archive_padded(size) - size) == -1) {
		free(d);
		return NULL;
	}
	d[size] = '\0';
	return d;
}

/* A directory whose mode and times are set once its contents are in. */
struct archive_dir {
	char *path;
	mode_t mode;
	struct timespec mtime;
};

struct archive_put {
	const char *dest; /* resolved, no trailing slash except "/" */
	int no_overwrite;
	int if_empty; /* a copy-up: "./" gives dest its owner and mode */
	int root;
	struct archive_in in;
	struct archive_dir *dirs;
	size_t ndirs, cap;
};

/*
 * Cleans a relative entry name lexically (".", "..", doubled slashes) into
 * a malloc'd string ("" for the top). NULL when it is absolute or climbs
 * above the top.
 */
static char *
archive_clean(const char *name)
{
	size_t n = strlen(name), out = 0, seg;
	const char *p = name, *q;
	char *s;

	if (name[0] == '/')
		return NULL;
	s = xmalloc(n + 1);
	while (*p != '\0') {
		while (*p == '/')
			p++;
		if (*p == '\0')
			break;
		q = strchr(p, '/');
		seg = q ? (size_t)(q - p) : strlen(p);
		if (seg == 1 && p[0] == '.') {
			;
		} else if (seg == 2 && p[0] == '.' && p[1] == '.') {
			if (out == 0) {
				free(s);
				return NULL;
			}
			while (out > 0 && s[out - 1] != '/')
				out--;
			if (out > 0)
				out--;
		} else {
			if (out > 0)
				s[out++] = '/';
			memcpy(s + out, p, seg);
			out += seg;
		}
		p += seg;
	}
	s[out] = '\0';
	return s;
}

static int
archive_rm_one(const char *p, const struct stat *st, int flag, struct FTW *f)
{
	(void)st;
	(void)flag;
	(void)f;
	return remove(p);
}

static int
archive_rmtree(const char *path)
{
	return nftw(path, archive_rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* mkdir -p of the directories above rel (rel is clean, under dest). */
static int
archive_mkparents(struct archive_put *a, const char *rel)
{
	char *full = archive_join(a->dest, rel), *p;
	size_t skip = strlen(a->dest);
	struct stat st;

	for (p = full + skip + 1; (p = strchr(p, '/')) != NULL; p++) {
		*p = '\0';
		if (lstat(full, &st) == -1 && mkdir(full, 0755) == -1 &&
		    errno != EEXIST) {
			int err = errno;
			*p = '/';
			free(full);
			errno = err;
			return -1;
		}
		*p = '/';
	}
	free(full);
	return 0;
}

static void
archive_defer_dir(
    struct archive_put *a, const char *full, mode_t mode, struct timespec mtime)
{
	if (a->ndirs == a->cap) {
		a->cap = a->cap ? a->cap * 2 : 32;
		a->dirs = xrealloc(a->dirs, a->cap * sizeof(*a->dirs));
	}
	a->dirs[a->ndirs].path = archive_dup(full);
	a->dirs[a->ndirs].mode = mode;
	a->dirs[a->ndirs].mtime = mtime;
	a->ndirs++;
}

/* The data of a regular file entry into full. */
static int
archive_put_file(struct archive_put *a, const char *full, uint64_t size)
{
	unsigned char buf[16384];
	uint64_t left = size;
	int fd, err = 0;
	ssize_t r;

	fd = open(
	    full, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd == -1)
		err = errno;
	while (left > 0) {
		size_t k = left < sizeof(buf) ? (size_t)left : sizeof(buf);
		size_t off = 0;
		if (archive_read(&a->in, buf, k) == -1) {
			if (fd != -1)
				close(fd);
			return archive_fail(
			    ARCHIVE_EOTHER, "unexpected end of the tar stream");
		}
		while (fd != -1 && err == 0 && off < k) {
			r = write(fd, buf + off, k - off);
			if (r < 0 && errno == EINTR)
				continue;
			if (r <= 0) {
				err = r < 0 ? errno : EIO;
				break;
			}
			off += (size_t)r;
		}
		left -= k;
	}
	if (fd != -1 && close(fd) == -1 && err == 0)
		err = errno;
	if (archive_read(&a->in, NULL, archive_padded(size) - size) == -1)
		return archive_fail(
		    ARCHIVE_EOTHER, "unexpected end of the tar stream");
	if (err != 0)
		return archive_fail(archive_errno_status(err) == ARCHIVE_EPERM ?
			ARCHIVE_EPERM :
			ARCHIVE_EOTHER,
		    "write %s: %s", full, strerror(err));
	return 0;
}

/* Docker refuses a symlink whose target, seen from its directory, leaves
 * the destination; absolute targets are rooted there and so are fine. */
static int
archive_link_escapes(const char *rel, const char *target)
{
	char *dir, *joined, *clean;
	size_t n;

	if (target[0] == '/')
		return 0;
	dir = archive_dup(rel);
	n = strlen(dir);
	while (n > 0 && dir[n - 1] != '/')
		n--;
	dir[n] = '\0';
	joined = xmalloc(n + strlen(target) + 1);
	memcpy(joined, dir, n);
	memcpy(joined + n, target, strlen(target) + 1);
	clean = archive_clean(joined);
	free(dir);
	free(joined);
	if (clean == NULL)
		return 1;
	free(clean);
	return 0;
}

struct archive_hdr {
	char type;
	char *name, *link;
	uint64_t size, uid, gid;
	mode_t mode;
	struct timespec mtime;
	unsigned devmajor, devminor;
};

/* An entry's owner from its header, as root only. A file system that
 * refuses it (a volume with root squash) keeps the extracting user as the
 * owner, as GNU tar does without --same-owner: the copy goes on. */
static void
archive_own(const char *path, const struct archive_hdr *h)
{
	if (lchown(path, (uid_t)h->uid, (gid_t)h->gid) == -1)
		errno = 0;
}

/* Ownership, mode and times of a created entry (not a directory's). */
static void
archive_set_meta(
    struct archive_put *a, const char *full, const struct archive_hdr *h)
{
	struct timespec ts[2];

	if (a->root)
		archive_own(full, h);
	if (h->type != '2')
		(void)chmod(full, h->mode);
	ts[0] = ts[1] = h->mtime;
	(void)utimensat(AT_FDCWD, full, ts, AT_SYMLINK_NOFOLLOW);
}

/* Makes one entry; its data (if any) is still to be read by the caller,
 * except for regular files, whose data this reads. */
static int
archive_put_entry(
    struct archive_put *a, const struct archive_hdr *h, int *data_read)
{
	struct stat st;
	char *rel, *full = NULL, *lrel, *lfull;
	int isdir = h->type == '5', rc = 0, exists;

	*data_read = 0;
	if ((rel = archive_clean(h->name)) == NULL)
		return archive_fail(ARCHIVE_EBADREQ,
		    "\"%s\" is outside of \"%s\"", h->name, a->dest);
	if (rel[0] == '\0') {
		free(rel);
		/* The top itself ("./"): it exists and stays as it is, but
		 * a copy-up gives it the image directory's owner and mode,
		 * as Docker does for a new volume. */
		if (isdir && a->if_empty) {
			if (a->root)
				archive_own(a->dest, h);
			archive_defer_dir(a, a->dest, h->mode, h->mtime);
		}
		if (isdir)
			return 0;
		return archive_fail(ARCHIVE_EBADREQ,
		    "cannot overwrite directory \"%s\" with non-directory \"%s\"",
		    a->dest, h->name);
	}
	if (archive_mkparents(a, rel) == -1) {
		rc = archive_fail(archive_errno_status(errno) == ARCHIVE_EPERM ?
			ARCHIVE_EPERM :
			ARCHIVE_EOTHER,
		    "mkdir for %s: %s", rel, strerror(errno));
		goto out;
	}
	full = archive_join(a->dest, rel);
	exists = lstat(full, &st) == 0;
	if (exists && a->no_overwrite && S_ISDIR(st.st_mode) && !isdir) {
		rc = archive_fail(ARCHIVE_EBADREQ,
		    "cannot overwrite directory \"%s\" with non-directory \"%s\"",
		    full, a->dest);
		goto out;
	}
	if (exists && a->no_overwrite && !S_ISDIR(st.st_mode) && isdir) {
		rc = archive_fail(ARCHIVE_EBADREQ,
		    "cannot overwrite non-directory \"%s\" with directory \"%s\"",
		    full, a->dest);
		goto out;
	}
	if (exists && !(S_ISDIR(st.st_mode) && isdir)) {
		(void)archive_rmtree(full);
		exists = 0;
	}
	switch (h->type) {
	case '5':
		if (!exists && mkdir(full, 0700) == -1 && errno != EEXIST)
			goto fail;
		if (a->root)
			archive_own(full, h);
		/* Writable until the end, then its own mode and times. */
		(void)chmod(full, (h->mode & 07777) | 0700);
		archive_defer_dir(a, full, h->mode, h->mtime);
		break;
	case '0':
	case '7':
	case '\0':
		*data_read = 1;
		if ((rc = archive_put_file(a, full, h->size)) != 0)
			goto out;
		archive_set_meta(a, full, h);
		break;
	case '1':
		lrel = archive_clean(h->link);
		if (lrel == NULL || lrel[0] == '\0') {
			free(lrel);
			rc = archive_fail(ARCHIVE_EBADREQ,
			    "invalid hardlink \"%s\" -> \"%s\"", h->name,
			    h->link);
			goto out;
		}
		lfull = archive_join(a->dest, lrel);
		free(lrel);
		rc = link(lfull, full);
		free(lfull);
		if (rc == -1)
			goto fail;
		break;
	case '2':
		if (archive_link_escapes(rel, h->link)) {
			rc = archive_fail(ARCHIVE_EBADREQ,
			    "invalid symlink \"%s\" -> \"%s\"", full, h->link);
			goto out;
		}
		if (symlink(h->link, full) == -1)
			goto fail;
		archive_set_meta(a, full, h);
		break;
	case '3':
	case '4':
	case '6':
		if (mknod(full,
			(h->type == '3'	       ? S_IFCHR :
				h->type == '4' ? S_IFBLK :
						 S_IFIFO) |
			    (h->mode & 0777),
			makedev(h->devmajor, h->devminor)) == -1) {
			/* Devices need privileges the container may lack. */
			if (h->type != '6' &&
			    (errno == EPERM || errno == EACCES))
				break;
			goto fail;
		}
		archive_set_meta(a, full, h);
		break;
	default:
		break; /* other types carry nothing docker cp keeps */
	}
	goto out;
fail:
	rc = archive_fail(archive_errno_status(errno) == ARCHIVE_EPERM ?
		ARCHIVE_EPERM :
		ARCHIVE_EOTHER,
	    "%s: %s", full, strerror(errno));
out:
	free(rel);
	free(full);
	return rc;
}

/* The fields of a ustar/GNU header, overridden by PAX/GNU records. */
static void
archive_parse_hdr(
    const unsigned char *b, struct archive_next *x, struct archive_hdr *h)
{
	char name[257], link[101];
	size_t pl;

	memset(h, 0, sizeof(*h));
	h->type = (char)b[156];
	if (memcmp(b + 257, "ustar\0", 6) == 0 && b[345] != '\0') {
		/* POSIX ustar prefix (GNU's own magic uses those bytes else).
		 */
		memcpy(name, b + 345, 155);
		name[155] = '\0';
		pl = strlen(name);
		name[pl++] = '/';
		memcpy(name + pl, b, 100);
		name[pl + 100] = '\0';
	} else {
		memcpy(name, b, 100);
		name[100] = '\0';
	}
	memcpy(link, b + 157, 100);
	link[100] = '\0';
	h->name = x->path ? archive_dup(x->path) : archive_dup(name);
	h->link = x->link ? archive_dup(x->link) : archive_dup(link);
	h->mode = (mode_t)(archive_parse_num(b + 100, 8) & 07777);
	h->uid = x->have_uid ? x->uid : archive_parse_num(b + 108, 8);
	h->gid = x->have_gid ? x->gid : archive_parse_num(b + 116, 8);
	h->size = x->have_size ? x->size : archive_parse_num(b + 124, 12);
	if (x->have_mtime) {
		h->mtime.tv_sec = (time_t)x->mtime;
		h->mtime.tv_nsec = x->mtime_ns;
	} else {
		h->mtime.tv_sec = (time_t)archive_parse_num(b + 136, 12);
	}
	h->devmajor = (unsigned)archive_parse_num(b + 329, 8);
	h->devminor = (unsigned)archive_parse_num(b + 337, 8);
	/* Old tars mark directories by a trailing slash only. */
	if (h->type == '\0' && h->name[0] != '\0' &&
	    h->name[strlen(h->name) - 1] == '/')
		h->type = '5';
}

static int
archive_all_zero(const unsigned char *b)
{
	size_t i;

	for (i = 0; i < ARCHIVE_BLOCK; i++)
		if (b[i] != 0)
			return 0;
	return 1;
}

/* Reads entries until the end blocks; 0 or a status. */
static int
archive_put_loop(struct archive_put *a)
{
	unsigned char b[ARCHIVE_BLOCK];
	struct archive_next x;
	struct archive_hdr h;
	char *meta;
	uint64_t size;
	int rc = 0, data_read;

	memset(&x, 0, sizeof(x));
	for (;;) {
		if (archive_read(&a->in, b, sizeof(b)) == -1)
			break; /* no end blocks: take what came */
		if (archive_all_zero(b))
			break;
		if (!archive_checksum_ok(b)) {
			rc = archive_fail(
			    ARCHIVE_EBADREQ, "archive/tar: invalid tar header");
			break;
		}
		size = archive_parse_num(b + 124, 12);
		if (b[156] == 'x' || b[156] == 'g' || b[156] == 'L' ||
		    b[156] == 'K') {
			if ((meta = archive_read_meta(&a->in, size)) == NULL) {
				rc = archive_fail(ARCHIVE_EBADREQ,
				    "archive/tar: bad extended header");
				break;
			}
			if (b[156] == 'x')
				archive_pax_parse(&x, meta, (size_t)size);
			else if (b[156] == 'L') {
				free(x.path);
				x.path = meta;
				meta = NULL;
			} else if (b[156] == 'K') {
				free(x.link);
				x.link = meta;
				meta = NULL;
			}
			free(meta);
			continue;
		}
		archive_parse_hdr(b, &x, &h);
		archive_next_clear(&x);
		rc = archive_put_entry(a, &h, &data_read);
		if (rc == 0 && !data_read &&
		    archive_read(&a->in, NULL, archive_padded(h.size)) == -1)
			rc = archive_fail(
			    ARCHIVE_EOTHER, "unexpected end of the tar stream");
		free(h.name);
		free(h.link);
		if (rc != 0)
			break;
	}
	archive_next_clear(&x);
	return rc;
}

/* A copy-up's target: made when missing (0 then), 1 when it has entries
 * (nothing to do), or a status. */
static int
archive_put_if_empty(const char *path)
{
	struct dirent *d;
	struct stat st;
	char *p, *q;
	DIR *dir;
	int full = 0;

	if (lstat(path, &st) == -1 && errno == ENOENT) {
		p = archive_dup(path);
		for (q = p + 1;; q++) {
			if (*q != '/' && *q != '\0')
				continue;
			char end = *q;
			*q = '\0';
			if (mkdir(p, 0755) == -1 && errno != EEXIST) {
				free(p);
				return archive_fail(archive_errno_status(errno),
				    "mkdir %s: %s", path, strerror(errno));
			}
			*q = end;
			if (end == '\0')
				break;
		}
		free(p);
		return 0;
	}
	if ((dir = opendir(path)) == NULL)
		return archive_fail(errno == ENOTDIR ?
			ARCHIVE_EBADREQ :
			archive_errno_status(errno),
		    "%s: %s", path, strerror(errno));
	while (!full && (d = readdir(dir)) != NULL)
		full =
		    strcmp(d->d_name, ".") != 0 && strcmp(d->d_name, "..") != 0;
	closedir(dir);
	return full;
}

static int
archive_put_drain(int in_fd)
{
	char buf[ARCHIVE_BUF];
	ssize_t n;

	while ((n = read(in_fd, buf, sizeof(buf))) > 0 ||
	    (n == -1 && errno == EINTR))
		;
	return 0;
}

int
archive_put_child(
    const char *path, int no_overwrite_dir_non_dir, int if_empty, int in_fd)
{
	struct archive_put *a;
	struct stat st;
	struct timespec ts[2];
	char *dest;
	size_t i;
	int rc;

	if (path == NULL || path[0] != '/')
		return archive_fail(ARCHIVE_EBADREQ,
		    "invalid path: not absolute: %s", path ? path : "");
	/* Docker copies an image's content into a volume only while the
	 * volume is empty. */
	if (if_empty && (rc = archive_put_if_empty(path)) != 0)
		return rc == 1 ? archive_put_drain(in_fd) : rc;
	if (stat(path, &st) == -1) {
		rc = archive_errno_status(errno);
		return archive_fail(rc,
		    rc == ARCHIVE_ENOENT ?
			"Could not find the file %s in container" :
			"stat %s: permission denied",
		    path);
	}
	if (!S_ISDIR(st.st_mode))
		return archive_fail(
		    ARCHIVE_EBADREQ, "extraction point is not a directory");
	if ((dest = realpath(path, NULL)) == NULL)
		return archive_fail(archive_errno_status(errno), "%s: %s", path,
		    strerror(errno));
	a = xmalloc(sizeof(*a));
	memset(a, 0, sizeof(*a));
	a->dest = dest;
	a->no_overwrite = no_overwrite_dir_non_dir;
	a->if_empty = if_empty;
	a->root = geteuid() == 0;
	a->in.fd = in_fd;
	rc = archive_put_loop(a);
	/* Deepest first, so setting a parent's time is the last touch. */
	for (i = a->ndirs; i-- > 0;) {
		(void)chmod(a->dirs[i].path, a->dirs[i].mode);
		ts[0] = ts[1] = a->dirs[i].mtime;
		(void)utimensat(
		    AT_FDCWD, a->dirs[i].path, ts, AT_SYMLINK_NOFOLLOW);
		free(a->dirs[i].path);
	}
	/* Drain what the sender still has, so it does not see a broken pipe. */
	if (rc == 0)
		while (archive_read(&a->in, NULL, sizeof(a->in.buf)) == 0)
			;
	free(a->dirs);
	free(a);
	free(dest);
	return rc;
}
