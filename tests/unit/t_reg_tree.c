/* An image's files from its layers (common/reg/reg_tree.c, reg_tar.c):
 * tar and gzip layers built here, whiteouts, opaque directories, pax and
 * GNU long names, names escaping the root, symlinked directories on the
 * path, hardlinks, archives put before start; with SK_REGISTRY set, a
 * layer of busybox downloaded (reg_blob_fetch) and read. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <zlib.h>

#include "../../common/reg/reg_tree_int.h"
#include "sockerless/httpcli.h"
#include "sockerless/json.h"
#include "sockerless/lite.h"
#include "sockerless/reg.h"
#include "sockerless/xmalloc.h"

/* --- building layers --------------------------------------------------- */

struct tb {
	unsigned char *p;
	size_t n;
};

static void
tb_put(struct tb *t, const void *p, size_t n)
{
	t->p = xrealloc(t->p, t->n + n + 1);
	memcpy(t->p + t->n, p, n);
	t->n += n;
}

static void
tb_pad(struct tb *t)
{
	static const unsigned char zero[512];

	tb_put(t, zero, (512 - t->n % 512) % 512);
}

static void
tb_hdr(struct tb *t, const char *name, char type, const char *link,
    unsigned mode, size_t size)
{
	unsigned char h[512];
	struct lite_ustar u;

	memset(&u, 0, sizeof(u));
	u.name = name;
	u.link = link;
	u.type = type;
	u.mode = mode;
	u.size = size;
	u.uid = 1000;
	u.gid = 1000;
	u.mtime = 1700000000;
	lite_ustar_header(h, &u);
	tb_put(t, h, sizeof(h));
}

static void
tb_file(struct tb *t, const char *name, const char *data)
{
	tb_hdr(t, name, '0', NULL, 0644, strlen(data));
	tb_put(t, data, strlen(data));
	tb_pad(t);
}

static void
tb_dir(struct tb *t, const char *name, unsigned mode)
{
	tb_hdr(t, name, '5', NULL, mode, 0);
}

/* A metadata member ('x' pax, 'L' GNU long name) with data. */
static void
tb_meta(struct tb *t, char type, const char *data, size_t n)
{
	tb_hdr(t, "././@LongLink", type, NULL, 0644, n);
	tb_put(t, data, n);
	tb_pad(t);
}

static void
tb_end(struct tb *t)
{
	static const unsigned char zero[1024];

	tb_put(t, zero, sizeof(zero));
}

static struct tb
tb_gzip(const struct tb *in)
{
	struct tb out = { NULL, 0 };
	z_stream z;

	memset(&z, 0, sizeof(z));
	assert_int_equal(
	    deflateInit2(&z, 6, Z_DEFLATED, 31, 8, Z_DEFAULT_STRATEGY), Z_OK);
	out.p = xmalloc(deflateBound(&z, in->n) + 64);
	z.next_in = in->p;
	z.avail_in = (uInt)in->n;
	z.next_out = out.p;
	z.avail_out = (uInt)(deflateBound(&z, in->n) + 64);
	assert_int_equal(deflate(&z, Z_FINISH), Z_STREAM_END);
	out.n = z.total_out;
	deflateEnd(&z);
	return out;
}

/* --- reading the result ------------------------------------------------ */

struct got {
	char names[64][300];
	char types[64];
	char data[64][64];
	uint64_t uid[64], mode[64];
	int n;
};

static int
got_member(void *arg, const struct reg_tar_ent *h, struct reg_tar_rd *rd,
    struct err *e)
{
	struct got *g = arg;
	FILE *f = tmpfile();
	size_t k;

	assert_true(g->n < 64);
	snprintf(g->names[g->n], sizeof(g->names[0]), "%s%s",
	    h->name[0] == '\0' ? "." : h->name, h->type == '5' ? "/" : "");
	g->types[g->n] = h->type;
	g->uid[g->n] = h->uid;
	g->mode[g->n] = h->mode;
	if (reg_tar_copy(rd, f, e) == -1)
		return -1;
	rewind(f);
	k = fread(g->data[g->n], 1, sizeof(g->data[0]) - 1, f);
	g->data[g->n][k] = '\0';
	fclose(f);
	g->n++;
	return 0;
}

/* The last output of run_tree, raw. */
static unsigned char raw_out[1 << 16];
static size_t raw_len;

/* 1 when a ustar header of the raw tar names name exactly (short names:
 * the reader normalises "./x" away, dockerd's names keep it). */
static int
raw_has(const unsigned char *p, size_t n, const char *name)
{
	size_t off = 0, size;

	while (off + 512 <= n && p[off] != '\0') {
		if (strncmp((const char *)p + off, name, 100) == 0)
			return 1;
		size = (size_t)strtoull((const char *)p + off + 124, NULL, 8);
		off += 512 + (size + 511) / 512 * 512;
	}
	return 0;
}

/* Applies the layers at path and reads the tar back; stat_out gets the
 * stat (caller frees), NULL when nothing is there. */
static int
run_tree(const char *path, enum reg_tree_mode mode, const struct tb *layers,
    size_t nl, struct got *g, cJSON **stat_out, struct err *e)
{
	struct reg_tree *t = reg_tree_new(path, mode, 1 << 20, e);
	FILE *out;
	size_t i;
	int r, rc = -1;

	memset(g, 0, sizeof(*g));
	*stat_out = NULL;
	if (t == NULL)
		return -1;
	do {
		assert_int_equal(reg_tree_begin(t, e), 0);
		for (i = 0; i < nl; i++)
			if (reg_tree_layer(t, NULL, layers[i].p, layers[i].n,
				"layer", e) == -1)
				goto out;
	} while ((r = reg_tree_redirect(t, e)) == 1);
	if (r == -1)
		goto out;
	*stat_out = reg_tree_stat(t, "x");
	out = tmpfile();
	assert_int_equal(reg_tree_write(t, out, e), 0);
	rewind(out);
	raw_len = fread(raw_out, 1, sizeof(raw_out), out);
	rewind(out);
	rc = reg_tar_read(out, NULL, 0, "", 1 << 30, "out", got_member, g, e);
	fclose(out);
out:
	reg_tree_free(t);
	return rc;
}

static int
got_find(const struct got *g, const char *name)
{
	for (int i = 0; i < g->n; i++)
		if (strcmp(g->names[i], name) == 0)
			return i;
	return -1;
}

/* --- cases ------------------------------------------------------------- */

static void
t_whiteout(void **state)
{
	struct tb l[2] = { { NULL, 0 }, { NULL, 0 } }, raw = { NULL, 0 };
	struct got g;
	cJSON *st;
	struct err e;
	int i;

	(void)state;
	tb_dir(&l[0], "etc/", 0755);
	tb_file(&l[0], "etc/passwd", "root:x:0:0\n");
	tb_file(&l[0], "etc/group", "root:x:0:\n");
	tb_dir(&l[0], "etc/sub/", 0755);
	tb_file(&l[0], "etc/sub/f", "f");
	tb_end(&l[0]);
	tb_file(&raw, "etc/.wh.group", "");
	tb_file(&raw, "etc/.wh.sub", "");
	tb_file(&raw, "etc/hosts", "127.0.0.1 localhost\n");
	tb_end(&raw);
	l[1] = tb_gzip(&raw);
	assert_int_equal(
	    run_tree("/etc", REG_TREE_ARCHIVE, l, 2, &g, &st, &e), 0);
	assert_int_equal(g.n, 3);
	assert_string_equal(g.names[0], "etc/");
	assert_string_equal(g.names[1], "etc/hosts");
	assert_string_equal(g.names[2], "etc/passwd");
	assert_string_equal(g.data[2], "root:x:0:0\n");
	assert_non_null(st);
	assert_string_equal(json_str(st, "name"), "x");
	assert_true((json_int(st, "mode", 0) & (1LL << 31)) != 0);
	assert_int_equal(json_int(st, "mode", 0) & 0777, 0755);
	cJSON_Delete(st);
	/* One file; and a missing path. */
	assert_int_equal(
	    run_tree("/etc/hosts", REG_TREE_ARCHIVE, l, 2, &g, &st, &e), 0);
	assert_int_equal(g.n, 1);
	assert_string_equal(g.names[0], "hosts");
	assert_int_equal(json_int(st, "size", 0), 20);
	assert_string_equal(json_str(st, "mtime"), "2023-11-14T22:13:20Z");
	cJSON_Delete(st);
	assert_int_equal(
	    run_tree("/etc/group", REG_TREE_ARCHIVE, l, 2, &g, &st, &e), 0);
	assert_null(st);
	assert_int_equal(g.n, 0);
	/* "/etc/." : the contents, "./" first. */
	assert_int_equal(
	    run_tree("/etc/.", REG_TREE_ARCHIVE, l, 2, &g, &st, &e), 0);
	assert_string_equal(g.names[0], "./");
	assert_true((i = got_find(&g, "passwd")) > 0);
	assert_true(raw_has(raw_out, raw_len, "./passwd"));
	cJSON_Delete(st);
	free(l[0].p);
	free(l[1].p);
	free(raw.p);
}

static void
t_opaque(void **state)
{
	struct tb l[2] = { { NULL, 0 }, { NULL, 0 } };
	struct got g;
	cJSON *st;
	struct err e;

	(void)state;
	tb_dir(&l[0], "d/", 0755);
	tb_file(&l[0], "d/a", "a");
	tb_file(&l[0], "d/b", "b");
	tb_end(&l[0]);
	tb_dir(&l[1], "d/", 0700);
	tb_file(&l[1], "d/.wh..wh..opq", "");
	tb_file(&l[1], "d/c", "c");
	tb_end(&l[1]);
	assert_int_equal(
	    run_tree("/d", REG_TREE_CONTENTS, l, 2, &g, &st, &e), 0);
	assert_int_equal(g.n, 2);
	assert_string_equal(g.names[0], "./");
	assert_int_equal(g.mode[0], 0700);
	assert_int_equal(g.uid[0], 1000);
	assert_string_equal(g.names[1], "c");
	assert_true(raw_has(raw_out, raw_len, "./"));
	assert_true(raw_has(raw_out, raw_len, "./c"));
	cJSON_Delete(st);
	free(l[0].p);
	free(l[1].p);
}

static void
t_long_names(void **state)
{
	struct tb l = { NULL, 0 };
	char longname[260], pax[400], want[300];
	struct got g;
	cJSON *st;
	struct err e;
	int n;

	(void)state;
	memset(longname, 'n', sizeof(longname));
	memcpy(longname, "dir/", 4);
	longname[250] = '\0';
	tb_dir(&l, "dir/", 0755);
	/* GNU 'L' then a pax path. */
	tb_meta(&l, 'L', longname, strlen(longname) + 1);
	tb_file(&l, "short", "gnu");
	longname[249] = 'p';
	n = snprintf(pax, sizeof(pax), "%d path=%s\n",
	    (int)strlen(longname) + 10, longname);
	assert_int_equal(n, (int)strlen(longname) + 10);
	tb_meta(&l, 'x', pax, (size_t)n);
	tb_file(&l, "short2", "pax");
	tb_end(&l);
	assert_int_equal(
	    run_tree("/dir", REG_TREE_ARCHIVE, &l, 1, &g, &st, &e), 0);
	assert_int_equal(g.n, 3);
	snprintf(want, sizeof(want), "%s", longname);
	assert_true(got_find(&g, want) > 0);
	assert_string_equal(g.data[got_find(&g, want)], "pax");
	want[249] = 'n';
	assert_string_equal(g.data[got_find(&g, want)], "gnu");
	cJSON_Delete(st);
	free(l.p);
}

static void
t_escape(void **state)
{
	struct tb l = { NULL, 0 }, a = { NULL, 0 };
	struct got g;
	cJSON *st;
	struct err e;

	(void)state;
	tb_file(&l, "etc/../../evil", "x");
	tb_end(&l);
	assert_int_equal(
	    run_tree("/etc", REG_TREE_ARCHIVE, &l, 1, &g, &st, &e), -1);
	assert_int_equal(e.status, 502);
	assert_non_null(strstr(e.msg, "climbs out"));
	/* Absolute names stay inside the root. */
	tb_file(&a, "/etc/abs", "x");
	tb_end(&a);
	assert_int_equal(
	    run_tree("/etc", REG_TREE_ARCHIVE, &a, 1, &g, &st, &e), 0);
	assert_string_equal(g.names[1], "etc/abs");
	cJSON_Delete(st);
	/* A relative path is refused; ".." in a path stops at the root. */
	assert_null(reg_tree_new("etc", REG_TREE_ARCHIVE, 1, &e));
	assert_int_equal(e.status, 400);
	assert_int_equal(
	    run_tree("/../../etc/abs", REG_TREE_ARCHIVE, &a, 1, &g, &st, &e),
	    0);
	assert_int_equal(g.n, 1);
	cJSON_Delete(st);
	free(l.p);
	free(a.p);
}

static void
t_links(void **state)
{
	struct tb l = { NULL, 0 };
	struct got g;
	cJSON *st;
	struct err e;

	(void)state;
	tb_dir(&l, "usr/", 0755);
	tb_dir(&l, "usr/bin/", 0755);
	tb_file(&l, "usr/bin/ls", "ELF");
	tb_hdr(&l, "bin", '2', "usr/bin", 0777, 0);
	tb_hdr(&l, "loop", '2', "/loop", 0777, 0);
	/* A size on a header-only member means nothing (as Go reads it). */
	tb_hdr(&l, "sized", '2', "usr", 0777, 5);
	tb_dir(&l, "b/", 0755);
	tb_hdr(&l, "b/hard", '1', "usr/bin/ls", 0644, 0);
	tb_hdr(&l, "b/hard2", '1', "usr/bin/ls", 0644, 0);
	tb_end(&l);
	/* A symlinked directory on the way is followed. */
	assert_int_equal(
	    run_tree("/bin/ls", REG_TREE_ARCHIVE, &l, 1, &g, &st, &e), 0);
	assert_int_equal(g.n, 1);
	assert_string_equal(g.names[0], "ls");
	assert_string_equal(g.data[0], "ELF");
	cJSON_Delete(st);
	/* The final one is not: the link itself, its target in the stat. */
	assert_int_equal(
	    run_tree("/bin", REG_TREE_ARCHIVE, &l, 1, &g, &st, &e), 0);
	assert_int_equal(g.n, 1);
	assert_int_equal(g.types[0], '2');
	assert_string_equal(json_str(st, "linkTarget"), "/usr/bin");
	assert_true((json_int(st, "mode", 0) & (1LL << 27)) != 0);
	cJSON_Delete(st);
	/* A loop ends with a 400. */
	assert_int_equal(
	    run_tree("/loop/x", REG_TREE_ARCHIVE, &l, 1, &g, &st, &e), -1);
	assert_int_equal(e.status, 400);
	/* A hardlink to a file outside the path becomes the file. */
	assert_int_equal(
	    run_tree("/b", REG_TREE_ARCHIVE, &l, 1, &g, &st, &e), 0);
	assert_int_equal(g.n, 3);
	assert_string_equal(g.names[1], "b/hard");
	assert_int_equal(g.types[1], '0');
	assert_string_equal(g.data[1], "ELF");
	/* A second link to the same file links to the first. */
	assert_string_equal(g.names[2], "b/hard2");
	assert_int_equal(g.types[2], '1');
	cJSON_Delete(st);
	free(l.p);
}

static void
t_bad_layers(void **state)
{
	static const unsigned char zstd[] = { 0x28, 0xb5, 0x2f, 0xfd, 0, 0 };
	struct reg_tree *t = reg_tree_new("/", REG_TREE_ARCHIVE, 1 << 20, NULL);
	struct tb l = { NULL, 0 }, gz;
	struct err e;

	(void)state;
	assert_int_equal(reg_tree_begin(t, &e), 0);
	assert_int_equal(
	    reg_tree_layer(t, NULL, zstd, sizeof(zstd), "layer z", &e), -1);
	assert_int_equal(e.status, 501);
	assert_non_null(strstr(e.msg, "zstd"));
	/* Truncated gzip and a broken checksum. */
	tb_file(&l, "a", "a");
	tb_end(&l);
	gz = tb_gzip(&l);
	assert_int_equal(
	    reg_tree_layer(t, NULL, gz.p, gz.n / 2, "layer g", &e), -1);
	assert_int_equal(e.status, 502);
	l.p[0] ^= 1;
	assert_int_equal(reg_tree_layer(t, NULL, l.p, l.n, "layer c", &e), -1);
	assert_non_null(strstr(e.msg, "checksum"));
	/* Over the data bound. */
	reg_tree_free(t);
	l.p[0] ^= 1;
	t = reg_tree_new("/", REG_TREE_ARCHIVE, 0, NULL);
	assert_int_equal(reg_tree_begin(t, &e), 0);
	assert_int_equal(reg_tree_layer(t, NULL, l.p, l.n, "layer b", &e), -1);
	assert_int_equal(e.status, 500);
	reg_tree_free(t);
	free(l.p);
	free(gz.p);
}

static void
t_put(void **state)
{
	struct tb l = { NULL, 0 }, p = { NULL, 0 };
	struct reg_tree *t =
	    reg_tree_new("/etc", REG_TREE_ARCHIVE, 1 << 20, NULL);
	struct got g;
	struct err e;
	FILE *f = tmpfile(), *out = tmpfile();

	(void)state;
	tb_file(&l, "etc/passwd", "image");
	tb_end(&l);
	tb_file(&p, "passwd", "put");
	tb_file(&p, ".wh.keep", "whiteouts are plain files in a put");
	tb_end(&p);
	fwrite(p.p, 1, p.n, f);
	rewind(f);
	assert_int_equal(reg_tree_begin(t, &e), 0);
	assert_int_equal(reg_tree_layer(t, NULL, l.p, l.n, "layer", &e), 0);
	assert_int_equal(reg_tree_put(t, f, "/etc", &e), 0);
	assert_int_equal(reg_tree_write(t, out, &e), 0);
	rewind(out);
	memset(&g, 0, sizeof(g));
	assert_int_equal(
	    reg_tar_read(out, NULL, 0, "", 1 << 20, "o", got_member, &g, &e),
	    0);
	assert_int_equal(g.n, 3);
	assert_string_equal(g.names[0], "etc/");
	assert_string_equal(g.names[1], "etc/.wh.keep");
	assert_string_equal(g.data[2], "put");
	fclose(f);
	fclose(out);
	reg_tree_free(t);
	free(l.p);
	free(p.p);
}

/* --- live: a busybox layer from the bed's registry --------------------- */

struct live {
	struct event_base *base;
	int done;
	struct err e;
	int ok;
	char digest[128];
};

static void
live_resolved(void *arg, const struct reg_image *img, const struct err *e)
{
	struct live *l = arg;
	const cJSON *layer;

	(void)e;
	l->done = 1;
	if (img == NULL)
		return;
	layer = cJSON_GetArrayItem(json_arr(img->manifest, "layers"), 0);
	if (layer == NULL)
		return;
	snprintf(l->digest, sizeof(l->digest), "%s", json_str(layer, "digest"));
	l->ok = 1;
}

static void
live_fetched(void *arg, const struct err *e)
{
	struct live *l = arg;

	l->done = 1;
	l->ok = e == NULL;
	if (e != NULL)
		l->e = *e;
}

static void
live_wait(struct live *l)
{
	for (int i = 0; i < 600 && !l->done; i++)
		event_base_loop(l->base, EVLOOP_ONCE);
	assert_true(l->done);
}

static void
t_live_blob(void **state)
{
	const char *reg = getenv("SK_REGISTRY");
	char ref[300], file[] = "/tmp/t_reg_tree_XXXXXX";
	struct reg_config c;
	struct reg_client *rc;
	struct httpcli *http;
	struct live l;
	struct got g;
	struct err e;
	struct tb layer;
	cJSON *st;
	FILE *f;
	int fd;

	(void)state;
	if (reg == NULL || reg[0] == '\0') {
		skip();
		return;
	}
	memset(&l, 0, sizeof(l));
	memset(&c, 0, sizeof(c));
	l.base = event_base_new();
	http = httpcli_new(l.base);
	rc = reg_client_new(l.base, http, &c, &e);
	assert_non_null(rc);
	snprintf(ref, sizeof(ref), "%s/library/busybox:latest", reg);
	assert_int_equal(reg_resolve(rc, ref, NULL, live_resolved, &l, &e), 0);
	live_wait(&l);
	assert_true(l.ok);
	fd = mkstemp(file);
	assert_true(fd >= 0);
	close(fd);
	/* Over the bound: a 500 and no file left. */
	l.done = 0;
	assert_int_equal(reg_blob_fetch(rc, ref, NULL, l.digest, file, 10,
			     live_fetched, &l, &e),
	    0);
	live_wait(&l);
	assert_false(l.ok);
	assert_int_equal(l.e.status, 500);
	assert_int_equal(access(file, F_OK), -1);
	/* A digest the registry does not have. */
	l.done = 0;
	assert_int_equal(reg_blob_fetch(rc, ref, NULL,
			     "sha256:00000000000000000000000000000000000000"
			     "00000000000000000000000000",
			     file, 1 << 30, live_fetched, &l, &e),
	    0);
	live_wait(&l);
	assert_false(l.ok);
	assert_int_equal(l.e.status, 502);
	l.done = 0;
	assert_int_equal(reg_blob_fetch(rc, ref, NULL, l.digest, file,
			     (uint64_t)1 << 30, live_fetched, &l, &e),
	    0);
	live_wait(&l);
	if (!l.ok)
		fail_msg("blob: %d %s", l.e.status, l.e.msg);
	f = fopen(file, "r");
	assert_non_null(f);
	fseek(f, 0, SEEK_END);
	layer.n = (size_t)ftell(f);
	rewind(f);
	layer.p = xmalloc(layer.n);
	assert_int_equal(fread(layer.p, 1, layer.n, f), layer.n);
	fclose(f);
	assert_int_equal(
	    run_tree("/etc/passwd", REG_TREE_ARCHIVE, &layer, 1, &g, &st, &e),
	    0);
	assert_int_equal(g.n, 1);
	assert_string_equal(g.names[0], "passwd");
	assert_true(strncmp(g.data[0], "root:", 5) == 0);
	cJSON_Delete(st);
	free(layer.p);
	unlink(file);
	reg_client_free(rc);
	httpcli_free(http);
	event_base_free(l.base);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(t_whiteout),
		cmocka_unit_test(t_opaque),
		cmocka_unit_test(t_long_names),
		cmocka_unit_test(t_escape),
		cmocka_unit_test(t_links),
		cmocka_unit_test(t_bad_layers),
		cmocka_unit_test(t_put),
		cmocka_unit_test(t_live_blob),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
