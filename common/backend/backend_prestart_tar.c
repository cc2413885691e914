/* The check of a tar kept before start (backend_prestart.c): it parses,
 * and every entry lands under the destination. The agent checks again as
 * it unpacks (symbolic links included); this answers the client's PUT with
 * Docker's 400 before anything is kept. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "backend_prestart.h"
#include "sockerless/xmalloc.h"

#define TAR_BLOCK 512

static int
tar_zero(const unsigned char *h)
{
	for (size_t i = 0; i < TAR_BLOCK; i++)
		if (h[i] != 0)
			return 0;
	return 1;
}

/* An octal field, or GNU base-256 (high bit of the first byte). */
static uint64_t
tar_num(const unsigned char *f, size_t sz)
{
	uint64_t v = 0;
	size_t i = 0;

	if (f[0] & 0x80) {
		v = f[0] & 0x7f;
		for (i = 1; i < sz; i++)
			v = (v << 8) | f[i];
		return v;
	}
	while (i < sz && (f[i] == ' ' || f[i] == '\0'))
		i++;
	for (; i < sz && f[i] >= '0' && f[i] <= '7'; i++)
		v = v * 8 + (uint64_t)(f[i] - '0');
	return v;
}

/* The header's checksum as unsigned or signed bytes (old tars). */
static int
tar_sum_ok(const unsigned char *h)
{
	uint64_t want = tar_num(h + 148, 8);
	int64_t s = 0;
	uint64_t u = 0;

	for (size_t i = 0; i < TAR_BLOCK; i++) {
		unsigned char ch = i >= 148 && i < 156 ? ' ' : h[i];
		u += ch;
		s += (signed char)ch;
	}
	return u == want || (uint64_t)s == want;
}

/* 1 when name, cleaned lexically, is absolute or climbs above the top. */
static int
tar_escapes(const char *name)
{
	const char *p = name, *q;
	size_t seg;
	long depth = 0;

	if (name[0] == '/')
		return 1;
	while (*p != '\0') {
		while (*p == '/')
			p++;
		if (*p == '\0')
			break;
		q = strchr(p, '/');
		seg = q != NULL ? (size_t)(q - p) : strlen(p);
		if (seg == 2 && p[0] == '.' && p[1] == '.') {
			if (--depth < 0)
				return 1;
		} else if (!(seg == 1 && p[0] == '.')) {
			depth++;
		}
		p += seg;
	}
	return 0;
}

/* The "path" record of a PAX header, malloc'd, or NULL. */
static char *
tar_pax_path(const unsigned char *d, size_t n)
{
	size_t off = 0, len, klen;
	const char *rec, *eq, *sp;

	while (off < n) {
		rec = (const char *)d + off;
		len = strtoul(rec, NULL, 10);
		if (len == 0 || len > n - off)
			return NULL;
		sp = memchr(rec, ' ', len);
		eq = sp != NULL ? memchr(sp, '=', len - (size_t)(sp - rec)) :
				  NULL;
		if (eq != NULL) {
			klen = (size_t)(eq - sp - 1);
			if (klen == 4 && memcmp(sp + 1, "path", 4) == 0)
				return xstrndup(
				    eq + 1, len - (size_t)(eq + 1 - rec) - 1);
		}
		off += len;
	}
	return NULL;
}

/* The entry's name from its header (ustar prefix included). */
static char *
tar_hdr_name(const unsigned char *h)
{
	char name[257];
	size_t pl = 0;

	if (memcmp(h + 257, "ustar\0", 6) == 0 && h[345] != '\0') {
		memcpy(name, h + 345, 155);
		name[155] = '\0';
		pl = strlen(name);
		name[pl++] = '/';
	}
	memcpy(name + pl, h, 100);
	name[pl + 100] = '\0';
	return xstrdup(name);
}

static int
tar_entry_ok(const unsigned char *h, char *name, struct err *e)
{
	char link[101];
	int rc = 0;

	if (tar_escapes(name))
		rc = err_set(e, 400,
		    "the archive's entry \"%s\" is outside of the destination "
		    "directory: entries must be relative paths that stay "
		    "under it",
		    name);
	memcpy(link, h + 157, 100);
	link[100] = '\0';
	if (rc == 0 && h[156] == '1' && tar_escapes(link))
		rc = err_set(e, 400,
		    "the archive's hard link \"%s\" -> \"%s\" points outside "
		    "of the destination directory",
		    name, link);
	free(name);
	return rc;
}

int
backend_prestart_tar_check(const unsigned char *p, size_t n, struct err *e)
{
	size_t off = 0;
	uint64_t size;
	char *long_name = NULL, *name;
	const unsigned char *h;
	int rc = 0;

	if (n >= 2 && p[0] == 0x1f && p[1] == 0x8b)
		return err_set(e, 400,
		    "the archive is compressed (gzip): send a plain tar");
	while (rc == 0 && off + TAR_BLOCK <= n) {
		h = p + off;
		if (tar_zero(h))
			break;
		if (!tar_sum_ok(h)) {
			rc = err_set(e, 400,
			    "the request body is not a tar archive: the "
			    "header at byte %zu has a wrong checksum",
			    off);
			break;
		}
		size = tar_num(h + 124, 12);
		off += TAR_BLOCK;
		if (size > n - off) {
			rc = err_set(e, 400,
			    "the tar archive is cut short: an entry of %llu "
			    "bytes has %zu",
			    (unsigned long long)size, n - off);
			break;
		}
		if (h[156] == 'x' || h[156] == 'L') {
			free(long_name);
			long_name = h[156] == 'L' ?
			    xstrndup((const char *)p + off, (size_t)size) :
			    tar_pax_path(p + off, (size_t)size);
		} else if (h[156] != 'g' && h[156] != 'K') {
			name = long_name != NULL ? long_name : tar_hdr_name(h);
			long_name = NULL;
			rc = tar_entry_ok(h, name, e);
		}
		off += (size_t)((size + TAR_BLOCK - 1) / TAR_BLOCK * TAR_BLOCK);
		if (off > n)
			off = n; /* the last entry's padding may be cut */
	}
	if (rc == 0 && off < n && off + TAR_BLOCK > n) {
		/* A trailing partial block that is not zeros: not a tar. */
		int zero = 1;
		for (size_t i = off; i < n; i++)
			zero = zero && p[i] == 0;
		if (!zero)
			rc = err_set(e, 400,
			    "the request body is not a tar archive (%zu bytes "
			    "that are no tar header)",
			    n - off);
	}
	free(long_name);
	return rc;
}
