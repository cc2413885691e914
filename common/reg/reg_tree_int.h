/* Private to the image-file reader: reg_tar.c (a layer's bytes: gzip or
 * plain tar, ustar/pax/GNU headers, safe names) under reg_tree.c (the
 * merged view of layers at one path). */
#ifndef SOCKERLESS_REG_TREE_INT_H
#define SOCKERLESS_REG_TREE_INT_H

#include <stdint.h>
#include <stdio.h>

#include <zlib.h>

#include "sockerless/err.h"

/* One tar member as the tree needs it; strings owned by the reader and
 * valid during the callback only. */
struct reg_tar_ent {
	const char *name; /* normalised: relative, no "." or empty
			   * components, no trailing '/'; "" is the root */
	const char *link; /* symlink: as written; hardlink: normalised */
	const char *uname, *gname;
	char type; /* '0' file, '1' hardlink, '2' symlink, '3'..'6' */
	uint64_t mode, uid, gid, size, mtime, devmajor, devminor;
};

struct reg_tar_rd {
	FILE *f; /* or mem */
	const unsigned char *mem;
	size_t memlen, memoff;
	int gz, zinit, zend;
	z_stream z;
	unsigned char ibuf[65536];
	uint64_t left;	     /* data bytes of the current member not yet read */
	uint64_t total, max; /* uncompressed bytes read and their bound */
	const char *what;    /* "layer sha256:..." for messages */
};

/* Called for every member; may read its data with reg_tar_copy. Returns
 * 0 or -1 with e. */
typedef int (*reg_tar_fn)(void *arg, const struct reg_tar_ent *h,
    struct reg_tar_rd *rd, struct err *e);

/* Reads the archive in f (from its current position) or mem (f NULL);
 * prefix ("dir" or "" ) is put before every name. 0, or -1 with e: 502
 * for a malformed or unsafe archive, 501 for zstd, 500 over max. */
int reg_tar_read(FILE *f, const void *mem, size_t len, const char *prefix,
    uint64_t max, const char *what, reg_tar_fn fn, void *arg, struct err *e);
/* Copies the current member's data to out (NULL: skips it). */
int reg_tar_copy(struct reg_tar_rd *rd, FILE *out, struct err *e);
/* Normalises a member name under prefix; NULL (e: 502) when it has a ".."
 * component. Caller frees. */
char *reg_tar_clean(
    const char *prefix, const char *name, const char *what, struct err *e);

#endif
