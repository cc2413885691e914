/* Derived images, the layer: a reproducible tar.gz built in memory (ustar
 * entries, stored deflate blocks, no zlib). Calls only reg_ref.c (the
 * digest). */
#include <sys/queue.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "reg_int.h"
#include "sockerless/buf.h"
#include "sockerless/httpcli.h"
#include "sockerless/json.h"
#include "sockerless/lite.h"
#include "sockerless/log.h"
#include "sockerless/reg.h"
#include "sockerless/xmalloc.h"

/* --- layer: ustar --------------------------------------------------------- */

static int
reg_push_path_ok(const char *p)
{
	const char *s = p;

	if (p == NULL || p[0] == '\0' || p[0] == '/')
		return 0;
	while (*s != '\0') {
		size_t n = strcspn(s, "/");

		if (n == 0 || (n == 1 && s[0] == '.') ||
		    (n == 2 && s[0] == '.' && s[1] == '.'))
			return 0;
		s += n;
		if (*s == '/' && *++s == '\0')
			return 0;
	}
	return 1;
}

static int
reg_push_ustar_entry(struct buf *tar, const char *path, int is_dir,
    unsigned mode, const void *data, size_t len, struct err *e)
{
	unsigned char h[LITE_USTAR_BLOCK];
	char *name = xasprintf("%s%s", path, is_dir ? "/" : "");
	struct lite_ustar u = { .name = name,
		.uname = "root",
		.gname = "root",
		.type = is_dir ? '5' : '0',
		.mode = mode & 07777,
		.size = is_dir ? 0 : len };
	static const char zero[512];

	if (lite_ustar_split(name, LITE_USTAR_CUT_LAST, &u.prefix) == -1) {
		free(name);
		return err_set(e, 400, "layer path %s is too long", path);
	}
	lite_ustar_header(h, &u);
	free(name);
	(void)buf_add(tar, h, sizeof(h));
	if (!is_dir && len > 0) {
		(void)buf_add(tar, data, len);
		if (len % 512 != 0)
			(void)buf_add(tar, zero, 512 - len % 512);
	}
	return 0;
}

/* 1 when dir is listed (as a directory) in files or already written. */
static int
reg_push_dir_known(const struct reg_file *files, size_t n,
    const struct strv *done, const char *dir)
{
	for (size_t i = 0; i < n; i++)
		if (files[i].is_dir && strcmp(files[i].path, dir) == 0)
			return 1;
	return strv_contains(done, dir);
}

static int
reg_push_tar(
    const struct reg_file *files, size_t n, struct buf *tar, struct err *e)
{
	struct strv done;
	static const char zero[1024];
	int rv = -1;

	strv_init(&done);
	for (size_t i = 0; i < n; i++) {
		const struct reg_file *f = &files[i];

		if (!reg_push_path_ok(f->path)) {
			err_set(e, 400, "invalid layer path \"%s\"",
			    f->path != NULL ? f->path : "");
			goto out;
		}
		/* Parents first, unless listed (then they come in order). */
		for (const char *s = strchr(f->path, '/'); s != NULL;
		     s = strchr(s + 1, '/')) {
			char *dir = xstrndup(f->path, (size_t)(s - f->path));

			if (!reg_push_dir_known(files, n, &done, dir) &&
			    reg_push_ustar_entry(
				tar, dir, 1, 0755, NULL, 0, e) == -1) {
				free(dir);
				goto out;
			}
			strv_take(&done, dir);
		}
		if (f->is_dir && strv_contains(&done, f->path))
			continue;
		if (reg_push_ustar_entry(tar, f->path, f->is_dir, f->mode,
			f->data, f->len, e) == -1)
			goto out;
		if (f->is_dir)
			strv_add(&done, f->path);
	}
	(void)buf_add(tar, zero, sizeof(zero));
	rv = 0;
out:
	strv_free(&done);
	return rv;
}

/* --- layer: gzip with stored blocks --------------------------------------- */

static uint32_t
reg_push_crc32(const unsigned char *p, size_t len)
{
	static uint32_t table[256];
	static int ready;
	uint32_t c = 0xffffffffU;

	if (!ready) {
		for (uint32_t i = 0; i < 256; i++) {
			uint32_t v = i;

			for (int k = 0; k < 8; k++)
				v = (v & 1) ? 0xedb88320U ^ (v >> 1) : v >> 1;
			table[i] = v;
		}
		ready = 1;
	}
	for (size_t i = 0; i < len; i++)
		c = table[(c ^ p[i]) & 0xff] ^ (c >> 8);
	return c ^ 0xffffffffU;
}

static void
reg_push_le32(unsigned char *o, uint32_t v)
{
	o[0] = (unsigned char)v;
	o[1] = (unsigned char)(v >> 8);
	o[2] = (unsigned char)(v >> 16);
	o[3] = (unsigned char)(v >> 24);
}

/* RFC 1952 member, mtime 0 and OS 255, holding RFC 1951 stored blocks. */
static unsigned char *
reg_push_gzip(const unsigned char *p, size_t len, size_t *outlen)
{
	static const unsigned char hdr[10] = { 0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0,
		0xff };
	size_t blocks = len / 65535 + 1, o = 0;
	unsigned char *out = xmalloc(sizeof(hdr) + len + 5 * blocks + 8);
	size_t off = 0;

	memcpy(out, hdr, sizeof(hdr));
	o = sizeof(hdr);
	do {
		size_t n = len - off > 65535 ? 65535 : len - off;

		out[o++] = off + n == len ? 1 : 0; /* BFINAL, BTYPE 00 */
		out[o++] = (unsigned char)n;
		out[o++] = (unsigned char)(n >> 8);
		out[o++] = (unsigned char)~n;
		out[o++] = (unsigned char)(~n >> 8);
		memcpy(out + o, p + off, n);
		o += n;
		off += n;
	} while (off < len);
	reg_push_le32(out + o, reg_push_crc32(p, len));
	reg_push_le32(out + o + 4, (uint32_t)len);
	*outlen = o + 8;
	return out;
}

int
reg_layer_build(const struct reg_file *files, size_t n, struct reg_layer *out,
    struct err *e)
{
	struct buf tar;
	size_t tlen;
	char *t;

	memset(out, 0, sizeof(*out));
	buf_init(&tar, 0);
	if (reg_push_tar(files, n, &tar, e) == -1) {
		buf_free(&tar);
		return -1;
	}
	t = buf_take(&tar, &tlen);
	out->diff_id = reg_digest_of(t, tlen);
	out->data = reg_push_gzip((unsigned char *)t, tlen, &out->len);
	out->digest = reg_digest_of(out->data, out->len);
	free(t);
	return 0;
}

void
reg_layer_free(struct reg_layer *l)
{
	if (l == NULL)
		return;
	free(l->data);
	free(l->digest);
	free(l->diff_id);
	memset(l, 0, sizeof(*l));
}
