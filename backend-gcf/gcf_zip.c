/* The stub function's source as a zip archive: stored (uncompressed)
 * entries, which every unzip reads; the files are a few bytes. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "gcf.h"
#include "sockerless/buf.h"

static void
gcf_zip_u16(struct buf *b, unsigned v)
{
	unsigned char p[2] = { (unsigned char)v, (unsigned char)(v >> 8) };

	buf_add(b, p, 2);
}

static void
gcf_zip_u32(struct buf *b, uint32_t v)
{
	unsigned char p[4] = { (unsigned char)v, (unsigned char)(v >> 8),
		(unsigned char)(v >> 16), (unsigned char)(v >> 24) };

	buf_add(b, p, 4);
}

/* The fields local and central headers share, from "version needed". */
static void
gcf_zip_common(struct buf *b, uint32_t crc, size_t len, size_t namelen)
{
	gcf_zip_u16(b, 20);   /* version needed: 2.0 */
	gcf_zip_u16(b, 0);    /* flags */
	gcf_zip_u16(b, 0);    /* stored */
	gcf_zip_u16(b, 0);    /* time */
	gcf_zip_u16(b, 0x21); /* date: 1980-01-01 */
	gcf_zip_u32(b, crc);
	gcf_zip_u32(b, (uint32_t)len);
	gcf_zip_u32(b, (uint32_t)len);
	gcf_zip_u16(b, (unsigned)namelen);
	gcf_zip_u16(b, 0); /* extra */
}

char *
gcf_zip(
    const char *const *names, const char *const *data, size_t n, size_t *len)
{
	struct buf z, cd;
	uint32_t *offs = calloc(n > 0 ? n : 1, sizeof(*offs));
	uint32_t crc;
	size_t i, dl, nl, cd_off;

	if (offs == NULL)
		abort();
	buf_init(&z, 0);
	buf_init(&cd, 0);
	for (i = 0; i < n; i++) {
		dl = strlen(data[i]);
		nl = strlen(names[i]);
		crc = (uint32_t)crc32(0L, (const Bytef *)data[i], (uInt)dl);
		offs[i] = (uint32_t)z.len;
		gcf_zip_u32(&z, 0x04034b50);
		gcf_zip_common(&z, crc, dl, nl);
		buf_add(&z, names[i], nl);
		buf_add(&z, data[i], dl);
		gcf_zip_u32(&cd, 0x02014b50);
		gcf_zip_u16(&cd, 20); /* made by */
		gcf_zip_common(&cd, crc, dl, nl);
		gcf_zip_u16(&cd, 0);		  /* comment */
		gcf_zip_u16(&cd, 0);		  /* disk */
		gcf_zip_u16(&cd, 0);		  /* internal attributes */
		gcf_zip_u32(&cd, 0100644u << 16); /* external: a regular file */
		gcf_zip_u32(&cd, offs[i]);
		buf_add(&cd, names[i], nl);
	}
	cd_off = z.len;
	buf_add(&z, cd.data, cd.len);
	gcf_zip_u32(&z, 0x06054b50);
	gcf_zip_u16(&z, 0);
	gcf_zip_u16(&z, 0);
	gcf_zip_u16(&z, (unsigned)n);
	gcf_zip_u16(&z, (unsigned)n);
	gcf_zip_u32(&z, (uint32_t)cd.len);
	gcf_zip_u32(&z, (uint32_t)cd_off);
	gcf_zip_u16(&z, 0);
	buf_free(&cd);
	free(offs);
	return buf_take(&z, len);
}
