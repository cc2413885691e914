/* docker cp from a created container (backend_img_tree.c) through the
 * fake backend: HEAD and GET /containers/{id}/archive answered from the
 * layers of a real image in the bed's registry (SK_REGISTRY), with the
 * archives put before start over them; a missing path; the cache; a
 * container that ran. Skipped without SK_REGISTRY. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "../../common/backend/backend_img.h"
#include "../../common/reg/reg_tree_int.h"
#include "fake_backend.h"
#include "sockerless/json.h"
#include "sockerless/lite.h"
#include "sockerless/xmalloc.h"

static char ref[300];

static int
setup(void **state)
{
	const char *reg = getenv("SK_REGISTRY");
	struct fw *fw;
	struct fw_resp *r;
	char *path;

	if (reg == NULL || reg[0] == '\0') {
		*state = NULL;
		return 0;
	}
	fw = fw_new();
	fw->autocomplete = 1;
	snprintf(ref, sizeof(ref), "%s/library/busybox:latest", reg);
	path = xasprintf(
	    "/images/create?fromImage=%s/library/busybox&tag=latest", reg);
	r = fw_req(fw, "POST", path, NULL);
	assert_int_equal(r->status, 200);
	fw_resp_free(r);
	free(path);
	*state = fw;
	return 0;
}

static int
teardown(void **state)
{
	if (*state != NULL)
		fw_free(*state, 0);
	return 0;
}

struct names {
	int dot_group; /* the raw tar names "./group" */
	char v[512][128];
	char data[512][96];
	int n;
};

static int
names_member(void *arg, const struct reg_tar_ent *h, struct reg_tar_rd *rd,
    struct err *e)
{
	struct names *g = arg;
	FILE *f;
	size_t k;

	if (g->n >= 512)
		return 0;
	snprintf(g->v[g->n], sizeof(g->v[0]), "%s%s",
	    h->name[0] == '\0' ? "." : h->name, h->type == '5' ? "/" : "");
	f = tmpfile();
	if (reg_tar_copy(rd, f, e) == -1)
		return -1;
	rewind(f);
	k = fread(g->data[g->n], 1, sizeof(g->data[0]) - 1, f);
	g->data[g->n][k] = '\0';
	fclose(f);
	g->n++;
	return 0;
}

static int
names_find(const struct names *g, const char *name)
{
	for (int i = 0; i < g->n; i++)
		if (strcmp(g->v[i], name) == 0)
			return i;
	return -1;
}

/* GET archive of path in ctr, its tar read into g. */
static void
get_tar(struct fw *fw, const char *ctr, const char *path, struct names *g)
{
	char *p = xasprintf("/containers/%s/archive?path=%s", ctr, path);
	struct fw_resp *r = fw_req(fw, "GET", p, NULL);
	struct err e;

	if (r->status != 200)
		fail_msg("GET %s: %d %s", p, r->status, r->body);
	memset(g, 0, sizeof(*g));
	g->dot_group =
	    r->len > 512 && memmem(r->body, r->len, "./group\0", 8) != NULL;
	if (reg_tar_read(NULL, r->body, r->len, "", 1 << 30, "answer",
		names_member, g, &e) == -1)
		fail_msg("the answer's tar: %s", e.msg);
	fw_resp_free(r);
	free(p);
}

static void
create(struct fw *fw, const char *name)
{
	char *p = xasprintf("/containers/create?name=%s", name);
	char *body = xasprintf("{\"Image\":\"%s\"}", ref);
	struct fw_resp *r = fw_req(fw, "POST", p, body);

	assert_int_equal(r->status, 201);
	fw_resp_free(r);
	free(p);
	free(body);
}

static void
t_created(void **state)
{
	struct fw *fw = *state;
	struct names *g = xcalloc(1, sizeof(*g));
	struct fw_resp *r, *r2;
	int i;

	if (fw == NULL) {
		free(g);
		skip();
		return;
	}
	create(fw, "made");
	fw_expect_free(
	    fw, "HEAD", "/containers/made/archive?path=/etc/passwd", 200);
	get_tar(fw, "made", "/etc/passwd", g);
	assert_int_equal(g->n, 1);
	assert_string_equal(g->v[0], "passwd");
	assert_true(strncmp(g->data[0], "root:", 5) == 0);
	/* A directory, and its contents with "/.". */
	get_tar(fw, "made", "/etc", g);
	assert_string_equal(g->v[0], "etc/");
	assert_true(names_find(g, "etc/passwd") > 0);
	assert_true(names_find(g, "etc/group") > 0);
	get_tar(fw, "made", "/etc/.", g);
	assert_string_equal(g->v[0], "./");
	assert_true((i = names_find(g, "group")) > 0);
	assert_true(g->dot_group);
	/* Relative paths start at the root, as with dockerd. */
	get_tar(fw, "made", "etc/passwd", g);
	assert_string_equal(g->v[0], "passwd");
	/* A missing path: dockerd's 404 and sentence. */
	r = fw_expect(fw, "GET", "/containers/made/archive?path=/nope/x", 404);
	assert_string_equal(
	    fw_msg(r), "Could not find the file /nope/x in container made");
	fw_resp_free(r);
	fw_expect_free(fw, "HEAD", "/containers/made/archive?path=/nope", 404);
	/* A file asked for as a directory: dockerd's 500. */
	r = fw_expect(
	    fw, "GET", "/containers/made/archive?path=/etc/passwd/", 500);
	assert_string_equal(fw_msg(r), "lstat /etc/passwd/: not a directory");
	fw_resp_free(r);
	/* Two at once share one build; both are answered. */
	r = fw_send(fw, "GET", "/containers/made/archive?path=/bin", NULL);
	r2 = fw_send(fw, "GET", "/containers/made/archive?path=/bin", NULL);
	fw_await(fw, r);
	fw_await(fw, r2);
	assert_int_equal(r->status, 200);
	assert_int_equal(r2->status, 200);
	assert_int_equal(r->len, r2->len);
	assert_true(r->len > 1024);
	fw_resp_free(r);
	fw_resp_free(r2);
	free(g);
}

struct find {
	const char *name;
	struct container *c;
};

static void
find_one(struct backend *b, struct container *c, void *arg)
{
	struct find *f = arg;

	(void)b;
	if (strcmp(container_name(c), f->name) == 0)
		f->c = c;
}

/* A tar with one file, as `docker cp` PUTs it. */
static char *
put_tar(struct fw *fw, const char *name, const char *data)
{
	static int n_puts;
	char *path = xasprintf("%s/put-%d.tar", fw->dir, ++n_puts);
	unsigned char h[512], zero[1024];
	struct lite_ustar u;
	FILE *f = fopen(path, "w");
	size_t n = strlen(data);

	memset(&u, 0, sizeof(u));
	memset(zero, 0, sizeof(zero));
	u.name = name;
	u.type = '0';
	u.mode = 0644;
	u.size = n;
	lite_ustar_header(h, &u);
	fwrite(h, 1, sizeof(h), f);
	fwrite(data, 1, n, f);
	fwrite(zero, 1, (512 - n % 512) % 512, f);
	fwrite(zero, 1, sizeof(zero), f);
	fclose(f);
	return path;
}

/* Interface B's record, as the prestart slice keeps it. */
static void
t_prestart_overlay(void **state)
{
	struct fw *fw = *state;
	struct names *g = xcalloc(1, sizeof(*g));
	struct find f = { "withput", NULL };
	cJSON *list, *o;
	char *tar1, *tar2;

	if (fw == NULL) {
		free(g);
		skip();
		return;
	}
	create(fw, "withput");
	backend_container_foreach(fw->b, find_one, &f);
	assert_non_null(f.c);
	tar1 = put_tar(fw, "passwd", "first\n");
	tar2 = put_tar(fw, "passwd", "second\n");
	list = cJSON_CreateArray();
	o = cJSON_CreateObject();
	json_add_str(o, "path", "/etc");
	json_add_str(o, "file", tar1);
	cJSON_AddItemToArray(list, o);
	o = cJSON_CreateObject();
	json_add_str(o, "path", "/etc");
	json_add_str(o, "file", tar2);
	cJSON_AddItemToArray(list, o);
	json_set(container_private(f.c), "Prestart", list);
	/* list stays a pointer into the document across the loop's runs
	 * below: the reference keeps the document parsed (an idle one is
	 * dropped, docs/scale.md). */
	container_ref(f.c);
	/* Later puts win. */
	get_tar(fw, "withput", "/etc/passwd", g);
	assert_int_equal(g->n, 1);
	assert_string_equal(g->data[0], "second\n");
	/* A put of a new file makes it appear. */
	cJSON_DeleteItemFromArray(list, 1);
	o = cJSON_CreateObject();
	json_add_str(o, "path", "/new/dir");
	json_add_str(o, "file", tar2);
	cJSON_AddItemToArray(list, o);
	get_tar(fw, "withput", "/new", g);
	assert_string_equal(g->v[0], "new/");
	assert_true(names_find(g, "new/dir/passwd") > 0);
	get_tar(fw, "withput", "/etc/passwd", g);
	assert_string_equal(g->data[0], "first\n");
	container_unref(f.c);
	free(tar1);
	free(tar2);
	free(g);
}

struct tree_res {
	int done;
	char *tar;
	cJSON *stat;
	struct err e;
	int failed;
};

static void
tree_done(void *arg, const char *tar, const cJSON *stat, const struct err *e)
{
	struct tree_res *t = arg;

	t->done = 1;
	t->tar = tar != NULL ? xstrdup(tar) : NULL;
	t->stat = stat != NULL ? cJSON_Duplicate(stat, 1) : NULL;
	if (e != NULL) {
		t->e = *e;
		t->failed = 1;
	}
}

/* Interface C: the copy-up content of a directory ("./" first with its
 * owner and mode), nothing for a file or a missing path. */
static void
t_contents(void **state)
{
	struct fw *fw = *state;
	struct find f = { "copyup", NULL };
	struct tree_res t;
	struct names *g = xcalloc(1, sizeof(*g));
	struct err e;
	FILE *in;

	if (fw == NULL) {
		free(g);
		skip();
		return;
	}
	create(fw, "copyup");
	backend_container_foreach(fw->b, find_one, &f);
	memset(&t, 0, sizeof(t));
	backend_img_tree(
	    fw->b, f.c, "/etc", BACKEND_TREE_CONTENTS, tree_done, &t);
	assert_false(t.done); /* always from the loop */
	assert_true(fw_run_until(fw, &t.done));
	assert_false(t.failed);
	assert_non_null(t.tar);
	assert_true((json_int(t.stat, "mode", 0) & (1LL << 31)) != 0);
	in = fopen(t.tar, "r");
	assert_non_null(in);
	assert_int_equal(reg_tar_read(in, NULL, 0, "", 1 << 30, "contents",
			     names_member, g, &e),
	    0);
	fclose(in);
	assert_string_equal(g->v[0], "./");
	assert_true(names_find(g, "passwd") > 0);
	free(t.tar);
	cJSON_Delete(t.stat);
	memset(&t, 0, sizeof(t));
	backend_img_tree(
	    fw->b, f.c, "/etc/passwd", BACKEND_TREE_CONTENTS, tree_done, &t);
	assert_true(fw_run_until(fw, &t.done));
	assert_false(t.failed);
	assert_null(t.tar);
	assert_null(t.stat);
	memset(&t, 0, sizeof(t));
	backend_img_tree(
	    fw->b, f.c, "/nope", BACKEND_TREE_CONTENTS, tree_done, &t);
	assert_true(fw_run_until(fw, &t.done));
	assert_null(t.tar);
	free(g);
}

/* A container that started is the agent's business (409 when it is not
 * running), never the image's. */
static void
t_ran(void **state)
{
	struct fw *fw = *state;
	struct find f = { "ran", NULL };
	struct fw_resp *r;
	cJSON *mounts;

	if (fw == NULL) {
		skip();
		return;
	}
	create(fw, "ran");
	fw_expect_free(fw, "POST", "/containers/ran/start", 204);
	fw_expect_free(fw, "POST", "/containers/ran/stop", 204);
	r = fw_expect(fw, "GET", "/containers/ran/archive?path=/etc", 409);
	assert_non_null(strstr(fw_msg(r), "not running"));
	fw_resp_free(r);
	/* Under a volume (inspect's Mounts, as volfw fills them): the
	 * volume has the file, and the sentence says how to read it. */
	backend_container_foreach(fw->b, find_one, &f);
	assert_non_null(f.c);
	mounts = cJSON_Parse("[{\"Type\":\"volume\",\"Name\":\"data\","
			     "\"Destination\":\"/data/\"}]");
	json_set(container_doc(f.c), "Mounts", mounts);
	r = fw_expect(
	    fw, "GET", "/containers/ran/archive?path=/data/sub/f", 409);
	assert_non_null(strstr(fw_msg(r), "is on volume data"));
	assert_non_null(strstr(fw_msg(r), "docker run --rm -v data:/v"));
	fw_resp_free(r);
	r = fw_expect(fw, "HEAD", "/containers/ran/archive?path=/datax", 409);
	fw_resp_free(r);
	r = fw_expect(fw, "GET", "/containers/ran/archive?path=/datax", 409);
	assert_null(strstr(fw_msg(r), "volume"));
	fw_resp_free(r);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(t_created, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    t_prestart_overlay, setup, teardown),
		cmocka_unit_test_setup_teardown(t_ran, setup, teardown),
		cmocka_unit_test_setup_teardown(t_contents, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
