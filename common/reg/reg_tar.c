/* Reading a layer: gzip (zlib, streamed) or plain tar; ustar, pax and GNU
 * long-name headers; member names normalised and refused when they climb
 * out of the root, since layers come from registries we do not control. */
#include <stdlib.h>
#include <string.h>

#include "reg_tree_int.h"
#include "sockerless/str.h"
#include "sockerless/xmalloc.h"

#define REG_TAR_BLOCK	 512
#define REG_TAR_META_MAX ((uint64_t)1 << 20) /* pax and GNU long names */

/* Raw (possibly compressed) bytes; 0 at the end. */
static size_t
reg_tar_raw(struct reg_tar_rd *rd, unsigned char *p, size_t n)
{
	size_t k;

	if (rd->f != NULL)
		return fread(p, 1, n, rd->f);
	k = rd->memlen - rd->memoff < n ? rd->memlen - rd->memoff : n;
	memcpy(p, rd->mem + rd->memoff, k);
	rd->memoff += k;
	return k;
}

/* Inflates into p; a further gzip member continues the stream, anything
 * else after one ends it (Go's gzip reader does the same). */
static int
reg_tar_inflate(struct reg_tar_rd *rd, unsigned char *p, size_t n, size_t *got,
    struct err *e)
{
	int zr;

	rd->z.next_out = p;
	rd->z.avail_out = (uInt)n;
	while (rd->z.avail_out > 0 && !rd->zend) {
		if (rd->z.avail_in == 0) {
			rd->z.next_in = rd->ibuf;
			rd->z.avail_in =
			    (uInt)reg_tar_raw(rd, rd->ibuf, sizeof(rd->ibuf));
			if (rd->z.avail_in == 0)
				return err_set(e, 502,
				    "%s: the gzip stream is truncated",
				    rd->what);
		}
		zr = inflate(&rd->z, Z_NO_FLUSH);
		if (zr == Z_STREAM_END) {
			if (rd->z.avail_in == 0)
				rd->z.avail_in = (uInt)reg_tar_raw(
				    rd, rd->ibuf, sizeof(rd->ibuf)),
				rd->z.next_in = rd->ibuf;
			if (rd->z.avail_in >= 2 && rd->z.next_in[0] == 0x1f &&
			    rd->z.next_in[1] == 0x8b)
				inflateReset(&rd->z);
			else
				rd->zend = 1;
		} else if (zr != Z_OK && zr != Z_BUF_ERROR)
			return err_set(e, 502, "%s: bad gzip data (%s)",
			    rd->what, rd->z.msg != NULL ? rd->z.msg : "zlib");
		else if (zr == Z_BUF_ERROR && rd->z.avail_in > 0)
			return err_set(e, 502, "%s: bad gzip data", rd->what);
	}
	*got = n - rd->z.avail_out;
	return 0;
}

/* Exactly n uncompressed bytes, or -1 with e. */
static int
reg_tar_get(struct reg_tar_rd *rd, void *p, size_t n, struct err *e)
{
	size_t got = 0, k = 0;

	while (got < n) {
		if (rd->gz) {
			if (reg_tar_inflate(rd, (unsigned char *)p + got,
				n - got, &k, e) == -1)
				return -1;
		} else
			k = reg_tar_raw(rd, (unsigned char *)p + got, n - got);
		if (k == 0)
			return err_set(e, 502,
			    "%s: the tar stream is truncated", rd->what);
		got += k;
	}
	rd->total += n;
	if (rd->total > rd->max)
		return err_set(e, 500,
		    "%s: more than %llu bytes uncompressed, the bound for "
		    "reading an image's files",
		    rd->what, (unsigned long long)rd->max);
	return 0;
}

int
reg_tar_copy(struct reg_tar_rd *rd, FILE *out, struct err *e)
{
	unsigned char buf[16384];
	size_t k;

	while (rd->left > 0) {
		k = rd->left < sizeof(buf) ? (size_t)rd->left : sizeof(buf);
		if (reg_tar_get(rd, buf, k, e) == -1)
			return -1;
		if (out != NULL && fwrite(buf, 1, k, out) != k)
			return err_set(e, 500, "%s: writing: %s", rd->what,
			    "the spool file could not be written");
		rd->left -= k;
	}
	return 0;
}

/* A numeric field: octal (space or NUL ended) or GNU base-256. */
static int
reg_tar_num(const unsigned char *f, size_t sz, uint64_t *v)
{
	size_t i = 0;

	*v = 0;
	if (f[0] & 0x80) {
		if (f[0] & 0x40)
			return -1; /* negative */
		*v = f[0] & 0x3f;
		for (i = 1; i < sz; i++) {
			if (*v >> 56)
				return -1;
			*v = (*v << 8) | f[i];
		}
		return 0;
	}
	while (i < sz && f[i] == ' ')
		i++;
	for (; i < sz && f[i] >= '0' && f[i] <= '7'; i++) {
		if (*v >> 60)
			return -1;
		*v = (*v << 3) | (uint64_t)(f[i] - '0');
	}
	return (i == sz || f[i] == ' ' || f[i] == '\0') ? 0 : -1;
}

static int
reg_tar_sum_ok(const unsigned char *h)
{
	uint64_t want, u = 0;
	int64_t s = 0;
	size_t i;

	if (reg_tar_num(h + 148, 8, &want) == -1)
		return 0;
	for (i = 0; i < REG_TAR_BLOCK; i++) {
		unsigned char c = (i >= 148 && i < 156) ? ' ' : h[i];

		u += c;
		s += (signed char)c;
	}
	return want == u || (int64_t)want == s;
}

char *
reg_tar_clean(
    const char *prefix, const char *name, const char *what, struct err *e)
{
	struct {
		char *p;
		size_t n;
	} o;
	const char *s = name, *c;
	size_t k, plen = strlen(prefix);

	o.p = xmalloc(plen + strlen(name) + 2);
	memcpy(o.p, prefix, plen);
	o.n = plen;
	while (*s != '\0') {
		c = s + strcspn(s, "/");
		k = (size_t)(c - s);
		if (k == 2 && s[0] == '.' && s[1] == '.') {
			free(o.p);
			err_set(e, 502,
			    "%s: the member \"%s\" climbs out of the root "
			    "(\"..\"): refusing the archive",
			    what, name);
			return NULL;
		}
		if (k > 0 && !(k == 1 && s[0] == '.')) {
			if (o.n > 0)
				o.p[o.n++] = '/';
			memcpy(o.p + o.n, s, k);
			o.n += k;
		}
		s = *c == '/' ? c + 1 : c;
	}
	o.p[o.n] = '\0';
	return o.p;
}

/* "len key=value\n" records of a pax header. */
static void
reg_tar_pax(const char *p, size_t n, char **path, char **link, uint64_t *size,
    int *has_size)
{
	size_t off = 0, len, kl;
	const char *rec, *eq;
	char *end;

	while (off < n) {
		len = (size_t)strtoull(p + off, &end, 10);
		if (end == p + off || *end != ' ' || len == 0 ||
		    len > n - off || p[off + len - 1] != '\n')
			return;
		rec = end + 1;
		eq = memchr(rec, '=', (size_t)(p + off + len - rec));
		if (eq != NULL) {
			kl = (size_t)(eq - rec);
			char *val = xstrndup(
			    eq + 1, (size_t)(p + off + len - 1 - (eq + 1)));
			if (kl == 4 && memcmp(rec, "path", 4) == 0) {
				free(*path);
				*path = val;
			} else if (kl == 8 && memcmp(rec, "linkpath", 8) == 0) {
				free(*link);
				*link = val;
			} else if (kl == 4 && memcmp(rec, "size", 4) == 0) {
				*size = strtoull(val, NULL, 10);
				*has_size = 1;
				free(val);
			} else
				free(val);
		}
		off += len;
	}
}

struct reg_tar_hdr {
	unsigned char b[REG_TAR_BLOCK];
	char *long_name, *long_link; /* GNU L/K or pax */
	uint64_t pax_size;
	int has_pax_size;
};

/* The data of a metadata member (pax, GNU long name), NUL-ended. */
static char *
reg_tar_meta(struct reg_tar_rd *rd, uint64_t size, struct err *e)
{
	char *p;
	uint64_t pad = (REG_TAR_BLOCK - size % REG_TAR_BLOCK) % REG_TAR_BLOCK;
	unsigned char skip[REG_TAR_BLOCK];

	if (size > REG_TAR_META_MAX) {
		err_set(e, 502, "%s: a tar metadata member of %llu bytes",
		    rd->what, (unsigned long long)size);
		return NULL;
	}
	p = xmalloc((size_t)size + 1);
	if (reg_tar_get(rd, p, (size_t)size, e) == -1 ||
	    reg_tar_get(rd, skip, (size_t)pad, e) == -1) {
		free(p);
		return NULL;
	}
	p[size] = '\0';
	return p;
}

static char *
reg_tar_field(const unsigned char *f, size_t sz)
{
	size_t n = 0;

	while (n < sz && f[n] != '\0')
		n++;
	return xstrndup((const char *)f, n);
}

/* One member whose header is in hd: the callback, then its data skipped
 * and padded. */
static int
reg_tar_member(struct reg_tar_rd *rd, struct reg_tar_hdr *hd,
    const char *prefix, reg_tar_fn fn, void *arg, struct err *e)
{
	const unsigned char *h = hd->b;
	struct reg_tar_ent ent;
	char *raw = NULL, *name = NULL, *link = NULL, *uname, *gname;
	unsigned char skip[REG_TAR_BLOCK];
	uint64_t pad;
	int rc = -1;

	memset(&ent, 0, sizeof(ent));
	ent.type = h[156] == '\0' || h[156] == '7' ? '0' : (char)h[156];
	if (reg_tar_num(h + 100, 8, &ent.mode) == -1 ||
	    reg_tar_num(h + 108, 8, &ent.uid) == -1 ||
	    reg_tar_num(h + 116, 8, &ent.gid) == -1 ||
	    reg_tar_num(h + 124, 12, &ent.size) == -1 ||
	    reg_tar_num(h + 136, 12, &ent.mtime) == -1 ||
	    reg_tar_num(h + 329, 8, &ent.devmajor) == -1 ||
	    reg_tar_num(h + 337, 8, &ent.devminor) == -1)
		return err_set(
		    e, 502, "%s: a tar header has a bad number", rd->what);
	if (hd->has_pax_size)
		ent.size = hd->pax_size;
	if (hd->long_name != NULL)
		raw = xstrdup(hd->long_name);
	else if (memcmp(h + 257, "ustar\0", 6) == 0 && h[345] != '\0') {
		char *pre = reg_tar_field(h + 345, 155),
		     *nm = reg_tar_field(h, 100);

		raw = xasprintf("%s/%s", pre, nm);
		free(pre);
		free(nm);
	} else
		raw = reg_tar_field(h, 100);
	uname = reg_tar_field(h + 265, 32);
	gname = reg_tar_field(h + 297, 32);
	if ((name = reg_tar_clean(prefix, raw, rd->what, e)) == NULL)
		goto out;
	if (ent.type == '1') {
		if ((link = reg_tar_clean(prefix,
			 hd->long_link ? hd->long_link : "", rd->what, e)) ==
		    NULL)
			goto out;
		if (hd->long_link == NULL) {
			char *l = reg_tar_field(h + 157, 100);

			free(link);
			link = reg_tar_clean(prefix, l, rd->what, e);
			free(l);
			if (link == NULL)
				goto out;
		}
	} else
		link = hd->long_link ? xstrdup(hd->long_link) :
				       reg_tar_field(h + 157, 100);
	/* Header-only types carry no data whatever size says (Go's
	 * archive/tar reads them so). */
	if (strchr("123456", ent.type) != NULL) {
		rd->left = 0;
		ent.size = 0;
	} else if (ent.type != '0') {
		err_set(e, 501,
		    "%s: tar member \"%s\" has type '%c', which sockerless "
		    "does not read (sparse and vendor members)",
		    rd->what, raw, ent.type);
		goto out;
	} else
		rd->left = ent.size;
	ent.name = name;
	ent.link = link;
	ent.uname = uname;
	ent.gname = gname;
	if (fn(arg, &ent, rd, e) == -1 || reg_tar_copy(rd, NULL, e) == -1)
		goto out;
	pad = (REG_TAR_BLOCK - ent.size % REG_TAR_BLOCK) % REG_TAR_BLOCK;
	if (reg_tar_get(rd, skip, (size_t)pad, e) == -1)
		goto out;
	rc = 0;
out:
	free(raw);
	free(name);
	free(link);
	free(uname);
	free(gname);
	return rc;
}

static void
reg_tar_hdr_reset(struct reg_tar_hdr *hd)
{
	free(hd->long_name);
	free(hd->long_link);
	hd->long_name = hd->long_link = NULL;
	hd->has_pax_size = 0;
	hd->pax_size = 0;
}

/* Header blocks until the end-of-archive zero block. */
static int
reg_tar_loop(struct reg_tar_rd *rd, const char *prefix, reg_tar_fn fn,
    void *arg, struct err *e)
{
	static const unsigned char zero[REG_TAR_BLOCK];
	struct reg_tar_hdr hd;
	uint64_t size;
	char *meta;
	int rc = -1;

	memset(&hd, 0, sizeof(hd));
	for (;;) {
		if (reg_tar_get(rd, hd.b, REG_TAR_BLOCK, e) == -1)
			goto out;
		if (memcmp(hd.b, zero, REG_TAR_BLOCK) == 0)
			break;
		if (!reg_tar_sum_ok(hd.b)) {
			err_set(e, 502, "%s: a tar header has a bad checksum",
			    rd->what);
			goto out;
		}
		if (hd.b[156] == 'x' || hd.b[156] == 'g' || hd.b[156] == 'L' ||
		    hd.b[156] == 'K') {
			if (reg_tar_num(hd.b + 124, 12, &size) == -1) {
				err_set(e, 502,
				    "%s: a tar header has a bad size",
				    rd->what);
				goto out;
			}
			if ((meta = reg_tar_meta(rd, size, e)) == NULL)
				goto out;
			if (hd.b[156] == 'x')
				reg_tar_pax(meta, (size_t)size, &hd.long_name,
				    &hd.long_link, &hd.pax_size,
				    &hd.has_pax_size);
			if (hd.b[156] == 'L') {
				free(hd.long_name);
				hd.long_name = meta;
			} else if (hd.b[156] == 'K') {
				free(hd.long_link);
				hd.long_link = meta;
			} else
				free(meta);
			continue;
		}
		if (reg_tar_member(rd, &hd, prefix, fn, arg, e) == -1)
			goto out;
		reg_tar_hdr_reset(&hd);
	}
	rc = 0;
out:
	reg_tar_hdr_reset(&hd);
	return rc;
}

int
reg_tar_read(FILE *f, const void *mem, size_t len, const char *prefix,
    uint64_t max, const char *what, reg_tar_fn fn, void *arg, struct err *e)
{
	struct reg_tar_rd *rd = xcalloc(1, sizeof(*rd));
	unsigned char magic[4];
	size_t n;
	int rc = -1;

	rd->f = f;
	rd->mem = mem;
	rd->memlen = len;
	rd->max = max;
	rd->what = what;
	n = reg_tar_raw(rd, magic, sizeof(magic));
	if (n == 4 && magic[0] == 0x28 && magic[1] == 0xb5 &&
	    magic[2] == 0x2f && magic[3] == 0xfd) {
		err_set(e, 501,
		    "%s is zstd-compressed: sockerless reads gzip and plain "
		    "tar layers only; push the image with gzip layers",
		    what);
		goto out;
	}
	if (n >= 2 && magic[0] == 0x1f && magic[1] == 0x8b) {
		rd->gz = 1;
		if (inflateInit2(&rd->z, 15 + 16) != Z_OK) {
			err_set(e, 500, "%s: zlib could not start", what);
			goto out;
		}
		rd->zinit = 1;
	}
	/* The magic bytes are input too. */
	if (rd->f != NULL) {
		if (fseek(rd->f, -(long)n, SEEK_CUR) == -1) {
			err_set(e, 500, "%s: cannot seek the layer file", what);
			goto out;
		}
	} else
		rd->memoff = 0;
	rc = reg_tar_loop(rd, prefix, fn, arg, e);
out:
	if (rd->zinit)
		inflateEnd(&rd->z);
	free(rd);
	return rc;
}
