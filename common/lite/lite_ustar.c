/* The ustar header block, the one writer behind docker cp's tar (agent)
 * and the registry's derived layers (common/reg). */
#include <stdio.h>
#include <string.h>

#include "sockerless/lite.h"

#define LITE_USTAR_NAME	  100
#define LITE_USTAR_PREFIX 155

int
lite_ustar_split(const char *name, enum lite_ustar_cut cut, size_t *prefix)
{
	size_t n = strlen(name), i, rest;

	*prefix = 0;
	if (n <= LITE_USTAR_NAME)
		return 0;
	/* A cut at i leaves name[0..i) as prefix and name[i+1..n) as name;
	 * never at 0, nor at a directory's trailing '/'. */
	for (i = 1; i < n - 1 && i <= LITE_USTAR_PREFIX; i++) {
		rest = n - i - 1;
		if (name[i] != '/' || rest > LITE_USTAR_NAME)
			continue;
		*prefix = i;
		if (cut == LITE_USTAR_CUT_FIRST)
			return 0;
	}
	return *prefix > 0 ? 0 : -1;
}

/* A numeric field: octal when it fits, else GNU base-256. */
static void
lite_ustar_num(unsigned char *f, size_t sz, uint64_t v)
{
	size_t i;

	if (v < (1ULL << (3 * (sz - 1)))) {
		f[sz - 1] = '\0';
		for (i = sz - 1; i > 0; i--, v >>= 3)
			f[i - 1] = (unsigned char)('0' + (v & 7));
		return;
	}
	memset(f, 0, sz);
	for (i = sz - 1; i > 0; i--, v >>= 8)
		f[i] = (unsigned char)(v & 0xff);
	f[0] = 0x80;
}

/* At most sz bytes of s (no NUL needed when it fills the field). */
static void
lite_ustar_str(unsigned char *f, size_t sz, const char *s)
{
	size_t n = s != NULL ? strlen(s) : 0;

	memcpy(f, s != NULL ? s : "", n < sz ? n : sz);
}

void
lite_ustar_header(unsigned char *h, const struct lite_ustar *u)
{
	unsigned sum = 0;
	size_t i;

	memset(h, 0, LITE_USTAR_BLOCK);
	if (u->prefix > 0) {
		memcpy(h + 345, u->name, u->prefix);
		lite_ustar_str(h, LITE_USTAR_NAME, u->name + u->prefix + 1);
	} else {
		lite_ustar_str(h, LITE_USTAR_NAME, u->name);
	}
	lite_ustar_num(h + 100, 8, u->mode);
	lite_ustar_num(h + 108, 8, u->uid);
	lite_ustar_num(h + 116, 8, u->gid);
	lite_ustar_num(h + 124, 12, u->size);
	lite_ustar_num(h + 136, 12, u->mtime);
	h[156] = (unsigned char)u->type;
	lite_ustar_str(h + 157, 100, u->link);
	memcpy(h + 257,
	    "ustar\0"
	    "00",
	    8);
	lite_ustar_str(h + 265, 31, u->uname);
	lite_ustar_str(h + 297, 31, u->gname);
	if (u->type == '3' || u->type == '4') {
		lite_ustar_num(h + 329, 8, u->devmajor);
		lite_ustar_num(h + 337, 8, u->devminor);
	}
	/* The checksum counts its own field as blanks. */
	memset(h + 148, ' ', 8);
	for (i = 0; i < LITE_USTAR_BLOCK; i++)
		sum += h[i];
	(void)snprintf((char *)h + 148, 8, "%06o", sum & 0777777);
	h[155] = ' ';
}
