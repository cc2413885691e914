/* Files before start (common/backend/backend_prestart*.c) through the fake
 * backend in agent mode: a PUT archive on a created container is kept in
 * the state directory and unpacked by the real agent before the command
 * runs (the fake's workloads share the test's file system, so paths are
 * under its temporary directory). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "../../common/backend/backend_int.h"
#include "fake_backend.h"
#include "sockerless/json.h"
#include "sockerless/str.h"
#include "sockerless/xmalloc.h"

static int
setup(void **state)
{
	struct fw *fw;

	fake_agent_mode = 1;
	fake_caps[CAP_EXEC] = fake_caps[CAP_ATTACH] = 1;
	fake_caps[CAP_ARCHIVE] = fake_caps[CAP_AGENT_REQUIRED] = 1;
	fw = fw_new();
	fw_add_image(fw, "docker.io/library/alpine:latest", "sh");
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

/* A one-file ustar archive of *len bytes (name may hold a directory). */
static char *
tar_one(const char *name, const char *data, size_t *len)
{
	size_t n = strlen(data), size = 512 + (n + 511) / 512 * 512 + 1024;
	char *t = xcalloc(1, size);
	unsigned sum = 0;

	snprintf(t, 100, "%s", name);
	snprintf(t + 100, 8, "%07o", 0644);
	snprintf(t + 108, 8, "%07o", 0);
	snprintf(t + 116, 8, "%07o", 0);
	snprintf(t + 124, 12, "%011o", (unsigned)n);
	snprintf(t + 136, 12, "%011o", 1700000000u);
	memset(t + 148, ' ', 8);
	t[156] = '0';
	memcpy(t + 257, "ustar", 6);
	memcpy(t + 263, "00", 2);
	for (int i = 0; i < 512; i++)
		sum += (unsigned char)t[i];
	snprintf(t + 148, 8, "%06o", sum);
	memcpy(t + 512, data, n);
	*len = size;
	return t;
}

/* PUT a tar into dir of container ref; the status. */
static int
put(struct fw *fw, const char *ref, const char *dir, const char *tar,
    size_t len, char **msg)
{
	char *p = xasprintf("/containers/%s/archive?path=%s", ref, dir);
	struct fw_resp *r = fw_send_body(fw, "PUT", p, tar, len);
	int status;

	fw_await(fw, r);
	status = r->status;
	if (msg != NULL)
		*msg = xstrdup(fw_msg(r));
	fw_resp_free(r);
	free(p);
	return status;
}

static int
put_one(struct fw *fw, const char *ref, const char *dir, const char *name,
    const char *data)
{
	size_t len;
	char *tar = tar_one(name, data, &len);
	int status = put(fw, ref, dir, tar, len, NULL);

	free(tar);
	return status;
}

/* A created container whose command is sh -c script. */
static char *
create_sh(struct fw *fw, const char *name, const char *script)
{
	char *cmd = xasprintf("\"Cmd\":[\"sh\",\"-c\",\"%s\"]", script);
	char *id = fw_create(fw, name, "alpine", cmd);

	free(cmd);
	return id;
}

static int
status_is_exited(struct fw *fw, void *arg)
{
	return strcmp(fw_status(fw, arg), "exited") == 0;
}

/* The whole of a small file, or NULL. */
static char *
slurp(const char *path)
{
	char buf[4096];
	FILE *f = fopen(path, "r");
	size_t n;

	if (f == NULL)
		return NULL;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	return xstrdup(buf);
}

static char *
kept_file(struct fw *fw, const char *id, int n)
{
	return xasprintf("%s/state/prestart/%s/%d.tar", fw->dir, id, n);
}

/* The command cats the file put before start: it was there first. */
static void
test_put_then_start(void **state)
{
	struct fw *fw = *state;
	char *script =
	    xasprintf("cat %s/greeting.txt > %s/seen.txt", fw->dir, fw->dir);
	char *id = create_sh(fw, "p1", script), *seen, *path;

	assert_int_equal(
	    put_one(fw, "p1", fw->dir, "greeting.txt", "hello before start\n"),
	    200);
	fw_start(fw, id);
	assert_true(fw_run_until_fn(fw, status_is_exited, id));
	path = xasprintf("%s/seen.txt", fw->dir);
	seen = slurp(path);
	assert_non_null(seen);
	assert_string_equal(seen, "hello before start\n");
	/* Kept for the next start, as the files stay in Docker's layer. */
	free(path);
	path = kept_file(fw, id, 0);
	assert_int_equal(access(path, F_OK), 0);
	free(path);
	free(seen);
	free(script);
	free(id);
}

/* Several puts land in the order they came. */
static void
test_puts_in_order(void **state)
{
	struct fw *fw = *state;
	char *script = xasprintf("cat %s/o/f.txt %s/o/g.txt > %s/order.txt",
	    fw->dir, fw->dir, fw->dir);
	char *id = create_sh(fw, "p2", script), *seen, *path;

	assert_int_equal(put_one(fw, "p2", fw->dir, "o/f.txt", "one\n"), 200);
	assert_int_equal(put_one(fw, "p2", fw->dir, "o/f.txt", "two\n"), 200);
	path = xasprintf("%s/o", fw->dir);
	/* The third goes into a directory an earlier put made. */
	assert_int_equal(put_one(fw, "p2", path, "g.txt", "three\n"), 200);
	free(path);
	fw_start(fw, id);
	assert_true(fw_run_until_fn(fw, status_is_exited, id));
	path = xasprintf("%s/order.txt", fw->dir);
	seen = slurp(path);
	assert_non_null(seen);
	assert_string_equal(seen, "two\nthree\n");
	free(seen);
	free(path);
	free(script);
	free(id);
}

/* Above archive_max: 413 naming the key, and nothing kept. */
static void
test_over_the_bound(void **state)
{
	struct fw *fw = *state;
	char *id = create_sh(fw, "p3", "true"), *msg, *tar, *path;
	size_t len;

	fw->b->conf.archive_max = 4096;
	tar = tar_one("a.txt", "a", &len); /* 2048 bytes */
	assert_int_equal(put(fw, "p3", fw->dir, tar, len, NULL), 200);
	assert_int_equal(put(fw, "p3", fw->dir, tar, len, NULL), 200);
	assert_int_equal(put(fw, "p3", fw->dir, tar, len, &msg), 413);
	assert_non_null(strstr(msg, "4096 bytes"));
	assert_non_null(strstr(msg, "(archive_max)"));
	free(msg);
	path = kept_file(fw, id, 2);
	assert_int_equal(access(path, F_OK), -1);
	free(path);
	assert_int_equal(cJSON_GetArraySize(json_arr(
			     container_private(fw_find(fw, id)), "Prestart")),
	    2);
	fw->b->conf.archive_max = 64 << 20;
	free(tar);
	free(id);
}

/* Bodies that are no tar, or whose entries leave the destination. */
static void
test_bad_archives(void **state)
{
	struct fw *fw = *state;
	char *id = create_sh(fw, "p4", "true"), *msg, *tar, *path;
	size_t len;

	assert_int_equal(put(fw, "p4", fw->dir, "hello", 5, &msg), 400);
	assert_non_null(strstr(msg, "not a tar"));
	free(msg);
	tar = tar_one("x.txt", "x", &len);
	tar[600] = 'x'; /* data: still a tar */
	tar[10] = 'Z';	/* the header: its checksum fails */
	assert_int_equal(put(fw, "p4", fw->dir, tar, len, &msg), 400);
	assert_non_null(strstr(msg, "checksum"));
	free(msg);
	free(tar);
	tar = tar_one("../escape.txt", "x", &len);
	assert_int_equal(put(fw, "p4", fw->dir, tar, len, &msg), 400);
	assert_non_null(strstr(msg, "outside of the destination"));
	free(msg);
	free(tar);
	tar = tar_one("/etc/abs.txt", "x", &len);
	assert_int_equal(put(fw, "p4", fw->dir, tar, len, NULL), 400);
	free(tar);
	tar = tar_one("a/../../b.txt", "x", &len);
	assert_int_equal(put(fw, "p4", fw->dir, tar, len, NULL), 400);
	free(tar);
	tar = tar_one("ok.txt", "x", &len);
	assert_int_equal(put(fw, "p4", "relative/dir", tar, len, &msg), 400);
	assert_non_null(strstr(msg, "not absolute"));
	free(msg);
	assert_int_equal(put(fw, "nosuch", fw->dir, tar, len, NULL), 404);
	free(tar);
	/* Nothing was kept. */
	assert_null(json_arr(container_private(fw_find(fw, id)), "Prestart"));
	path = kept_file(fw, id, 0);
	assert_int_equal(access(path, F_OK), -1);
	free(path);
	free(id);
}

/* The puts survive a restart of the backend; rm deletes them. */
static void
test_kept_across_restart_then_rm(void **state)
{
	struct fw *fw = *state;
	char *script =
	    xasprintf("cat %s/kept.txt > %s/kept-seen.txt", fw->dir, fw->dir);
	char *id = create_sh(fw, "p5", script), *seen, *path, *dir;

	assert_int_equal(
	    put_one(fw, "p5", fw->dir, "kept.txt", "across a restart\n"), 200);
	fw_free(fw, 1);
	fw = fw_reopen(fw);
	*state = fw;
	fw_start(fw, id);
	assert_true(fw_run_until_fn(fw, status_is_exited, id));
	path = xasprintf("%s/kept-seen.txt", fw->dir);
	seen = slurp(path);
	assert_non_null(seen);
	assert_string_equal(seen, "across a restart\n");
	free(seen);
	free(path);
	path = kept_file(fw, id, 0);
	assert_int_equal(access(path, F_OK), 0);
	fw_expect_free(fw, "DELETE", "/containers/p5", 204);
	assert_int_equal(access(path, F_OK), -1);
	dir = xasprintf("%s/state/prestart/%s", fw->dir, id);
	assert_int_equal(access(dir, F_OK), -1);
	free(dir);
	free(path);
	free(script);
	free(id);
}

/* A put that cannot be unpacked fails the start with the agent's answer;
 * the command never ran and nothing runs. */
static void
test_failed_put_fails_start(void **state)
{
	struct fw *fw = *state;
	char *script = xasprintf("touch %s/ran", fw->dir);
	char *id = create_sh(fw, "p6", script), *missing, *path;
	struct fw_resp *r;

	missing = xasprintf("%s/no/such/dir", fw->dir);
	assert_int_equal(put_one(fw, "p6", missing, "f.txt", "x"), 200);
	fw->autocomplete = 1;
	r = fw_req(fw, "POST", "/containers/p6/start", NULL);
	assert_int_equal(r->status, 404);
	assert_non_null(strstr(fw_msg(r), "Could not find the file"));
	assert_non_null(strstr(fw_msg(r), "before start"));
	fw_resp_free(r);
	assert_string_not_equal(fw_status(fw, id), "running");
	/* Give a wrongly released command time to show itself. */
	fw_run_for(fw, 300);
	path = xasprintf("%s/ran", fw->dir);
	assert_int_equal(access(path, F_OK), -1);
	free(path);
	free(missing);
	free(script);
	free(id);
}

static struct fw_resp *held_start;

static void
start_now(struct fw *fw, void *arg)
{
	char *p = xasprintf("/containers/%s/start", (const char *)arg);

	held_start = fw_send(fw, "POST", p, NULL);
	free(p);
}

/* docker start -a with files put before: the attach and the puts share
 * the hold and its one start; the attach sees the command's output. */
static void
test_attach_and_puts(void **state)
{
	struct fw *fw = *state;
	char *script = xasprintf("cat %s/att.txt", fw->dir);
	char *id = create_sh(fw, "p8", script), *out;
	size_t len;
	int status;

	assert_int_equal(
	    put_one(fw, "p8", fw->dir, "att.txt", "put, then attached\n"), 200);
	fw->on_upgraded = start_now;
	fw->on_upgraded_arg = id;
	out = fw_hijack(fw, "POST",
	    "/containers/p8/attach?stream=1&stdout=1&stderr=1", NULL, NULL,
	    &status, &len);
	assert_int_equal(status, 101);
	assert_non_null(memmem(out, len, "put, then attached", 18));
	free(out);
	assert_non_null(held_start);
	fw_await(fw, held_start);
	assert_int_equal(held_start->status, 204);
	fw_resp_free(held_start);
	held_start = NULL;
	assert_true(fw_run_until_fn(fw, status_is_exited, id));
	free(script);
	free(id);
}

/* A backend without the agent cannot keep files for later. */
static void
test_no_agent_501(void **state)
{
	struct fw *fw = *state;
	char *id, *msg, *tar;
	size_t len;

	fw_free(fw, 0);
	fake_agent_mode = 0;
	fake_caps[CAP_EXEC] = 0;
	fw = fw_new();
	*state = fw;
	fw_add_image(fw, "docker.io/library/alpine:latest", "sh");
	id = fw_create(fw, "p7", "alpine", NULL);
	tar = tar_one("x.txt", "x", &len);
	assert_int_equal(put(fw, "p7", "/tmp", tar, len, &msg), 501);
	assert_non_null(strstr(msg, "before it starts"));
	free(msg);
	free(tar);
	free(id);
	fake_agent_mode = 1;
	fake_caps[CAP_EXEC] = 1;
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(
		    test_put_then_start, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_puts_in_order, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_over_the_bound, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_bad_archives, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_kept_across_restart_then_rm, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_failed_put_fails_start, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_attach_and_puts, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_no_agent_501, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
