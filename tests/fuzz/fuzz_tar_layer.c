/* Layers as registries send them (common/reg/reg_tar.c, reg_tree.c): gzip
 * or plain tar with ustar, pax and GNU headers, whiteouts, links; applied
 * twice (the second time over the first, so whiteouts meet entries),
 * followed through symlinks, stat'ed and written out. The first byte picks
 * the path and mode. */
#include <stdio.h>

#include "fuzz.h"
#include "sockerless/reg.h"

static const char *const fuzz_tar_paths[] = { "/", "/etc", "/etc/passwd",
	"/a/b/.", "/bin/", "/d" };

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct reg_tree *t;
	struct err e;
	cJSON *st;
	FILE *out;
	int r, i;

	if (size < 1)
		return 0;
	t = reg_tree_new(fuzz_tar_paths[data[0] % 6],
	    (data[0] & 0x80) ? REG_TREE_CONTENTS : REG_TREE_ARCHIVE, 1 << 20,
	    &e);
	if (t == NULL)
		abort();
	data++;
	size--;
	do {
		if (reg_tree_begin(t, &e) == -1)
			goto out;
		for (i = 0; i < 2; i++)
			if (reg_tree_layer(t, NULL, data, size, "layer", &e) ==
			    -1)
				goto out;
	} while ((r = reg_tree_redirect(t, &e)) == 1);
	if (r == -1)
		goto out;
	st = reg_tree_stat(t, "x");
	cJSON_Delete(st);
	(void)reg_tree_is_dir(t);
	if ((out = fopen("/dev/null", "w")) != NULL) {
		(void)reg_tree_write(t, out, &e);
		fclose(out);
	}
out:
	reg_tree_free(t);
	return 0;
}
