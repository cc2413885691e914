/* Containers' mounts through the fake backend: Binds, Mounts, anonymous
 * volumes (-v /path and the image's VOLUME), VolumesFrom, Tmpfs, the
 * Mounts of inspect, dockerd's refusals, shared_paths and the Docker
 * socket, backend_container_mounts, docker rm -v and the release of
 * shared-path volumes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../../common/backend/backend_int.h"
#include "fake_backend.h"
#include "sockerless/json.h"
#include "sockerless/store.h"
#include "sockerless/str.h"
#include "sockerless/xmalloc.h"

static int
setup(void **state)
{
	struct fw *fw;
	struct err e;

	fake_caps[CAP_VOLUMES] = 1;
	setenv("SOCKERLESS_SHARED_PATHS", "/runner/_work=/shared/work,/builds/",
	    1);
	setenv("SOCKERLESS_DOCKER_SOCKET_PATHS",
	    "/var/run/docker.sock,/tmp/x/docker.sock", 1);
	fw = fw_new();
	fw_add_image(fw, "docker.io/library/alpine:latest", "sh");
	/* An image with a VOLUME. */
	if (store_image_put(fw->b->store,
		"sha256:"
		"ee00000000000000000000000"
		"000000000000000000000000000000000000000",
		"{\"Id\":\"sha256:ee000000000000000000000000000000000000000"
		"00000000000000000000000\",\"RepoTags\":[],\"RepoDigests\":[],"
		"\"Created\":\"2024-01-02T03:04:05Z\",\"Os\":\"linux\","
		"\"Size\":1,\"Config\":{\"Cmd\":[\"sh\"],"
		"\"Volumes\":{\"/var/lib/data\":{},\"/cache\":{}}},"
		"\"RootFS\":{\"Type\":\"layers\",\"Layers\":[]}}",
		&e) == -1 ||
	    store_image_ref_set(fw->b->store, "docker.io/library/db:latest",
		"sha256:ee00000000000000000000000000000000000000000000000000000"
		"000000000",
		&e) == -1)
		abort();
	fw->autocomplete = 1;
	*state = fw;
	return 0;
}

static int
teardown(void **state)
{
	if (*state != NULL)
		fw_free(*state, 0);
	unsetenv("SOCKERLESS_SHARED_PATHS");
	unsetenv("SOCKERLESS_DOCKER_SOCKET_PATHS");
	unsetenv("SOCKERLESS_DOCKER_SOCKET_PROXY");
	fake_caps[CAP_VOLUMES] = 0;
	return 0;
}

/* A create that must fail with status and (unless NULL) message. */
static void
refused(struct fw *fw, const char *hc, int status, const char *msg)
{
	char *body = xasprintf("{\"Image\":\"alpine\",\"HostConfig\":%s}", hc);
	struct fw_resp *r = fw_req(fw, "POST", "/containers/create", body);

	if (r->status != status || (msg != NULL && strcmp(fw_msg(r), msg) != 0))
		fprintf(stderr, "create %s: %d %s\n", hc, r->status, r->body);
	assert_int_equal(r->status, status);
	if (msg != NULL)
		assert_string_equal(fw_msg(r), msg);
	fw_resp_free(r);
	free(body);
}

/* The Mounts entry of inspect for destination, or NULL. */
static const cJSON *
mount_at(const cJSON *insp, const char *dst)
{
	const cJSON *it;

	cJSON_ArrayForEach(it, json_arr(insp, "Mounts")) {
		if (strcmp(json_str(it, "Destination"), dst) == 0)
			return it;
	}
	return NULL;
}

static int
vol_exists(struct fw *fw, const char *name)
{
	char *path = xasprintf("/volumes/%s", name);
	struct fw_resp *r = fw_req(fw, "GET", path, NULL);
	int ok = r->status == 200;

	fw_resp_free(r);
	free(path);
	return ok;
}

static void
test_mounts_shapes(void **state)
{
	struct fw *fw = *state;
	struct backend_mount m[16];
	struct fw_resp *r;
	const cJSON *mt;
	cJSON *insp;
	char *id;
	size_t n;

	id = fw_create(fw, "c1", "alpine",
	    "\"Volumes\":{\"/anon\":{}},\"HostConfig\":{\"Binds\":["
	    "\"named:/n\",\"ro1:/r:ro\",\"nc:/nc:nocopy\"],"
	    "\"Mounts\":[{\"Type\":\"volume\",\"Source\":\"lab\","
	    "\"Target\":\"/lab\",\"ReadOnly\":true,\"VolumeOptions\":{"
	    "\"NoCopy\":true,\"Labels\":{\"x\":\"y\"}}},"
	    "{\"Type\":\"tmpfs\",\"Target\":\"/mt\",\"TmpfsOptions\":{"
	    "\"SizeBytes\":1048576,\"Mode\":448}}],"
	    "\"Tmpfs\":{\"/run\":\"size=64m,mode=1777\"}}");
	insp = fw_inspect(fw, id);
	mt = mount_at(insp, "/n");
	assert_string_equal(json_str(mt, "Type"), "volume");
	assert_string_equal(json_str(mt, "Name"), "named");
	assert_string_equal(
	    json_str(mt, "Source"), "/var/lib/docker/volumes/named/_data");
	assert_string_equal(json_str(mt, "Driver"), "local");
	assert_string_equal(json_str(mt, "Mode"), "z");
	assert_true(json_bool(mt, "RW", 0));
	assert_string_equal(json_str(mt, "Propagation"), "");
	mt = mount_at(insp, "/r");
	assert_string_equal(json_str(mt, "Mode"), "ro");
	assert_false(json_bool(mt, "RW", 1));
	mt = mount_at(insp, "/anon");
	assert_int_equal(strlen(json_str(mt, "Name")), 64);
	assert_string_equal(json_str(mt, "Mode"), "");
	mt = mount_at(insp, "/mt");
	assert_string_equal(json_str(mt, "Type"), "tmpfs");
	/* --tmpfs is in HostConfig only, as dockerd shows it. */
	assert_null(mount_at(insp, "/run"));
	assert_string_equal(
	    json_str(json_obj(json_obj(insp, "HostConfig"), "Tmpfs"), "/run"),
	    "size=64m,mode=1777");
	assert_null(json_obj(insp, "Sockerless"));
	cJSON_Delete(insp);
	/* The labels of a volume the mount made. */
	assert_true(vol_exists(fw, "lab"));
	/* What the backend realises, in HostConfig order. */
	n = backend_container_mounts(fw->b, fw_find(fw, id), m, 16);
	assert_int_equal(n, 7);
	assert_string_equal(m[0].target, "/n");
	assert_string_equal(volume_name(m[0].vol), "named");
	assert_true(m[1].readonly);
	assert_true(m[2].nocopy);
	assert_string_equal(m[3].target, "/lab");
	assert_true(m[3].nocopy && m[3].readonly);
	assert_string_equal(json_str(volume_labels(m[3].vol), "x"), "y");
	assert_int_equal(m[4].kind, BACKEND_MOUNT_TMPFS);
	assert_int_equal(m[4].tmpfs_size, 1048576);
	assert_int_equal(m[4].tmpfs_mode, 0700);
	assert_string_equal(m[5].target, "/anon");
	assert_int_equal(m[6].kind, BACKEND_MOUNT_TMPFS);
	assert_string_equal(m[6].target, "/run");
	assert_int_equal(m[6].tmpfs_size, 64LL << 20);
	assert_int_equal(m[6].tmpfs_mode, 01777);
	assert_int_equal(fw_count(fw, "vol_create"), 5);
	/* docker ps --filter volume=: by name or destination. */
	r = fw_expect(fw, "GET",
	    "/containers/json?all=1&filters=%7B%22volume%22%3A%5B%22named%22%5D%7D",
	    200);
	assert_int_equal(cJSON_GetArraySize(r->json), 1);
	fw_resp_free(r);
	r = fw_expect(fw, "GET",
	    "/containers/json?all=1&filters=%7B%22volume%22%3A%5B%22%2Flab%22%5D%7D",
	    200);
	assert_int_equal(cJSON_GetArraySize(r->json), 1);
	fw_resp_free(r);
	r = fw_expect(fw, "GET",
	    "/containers/json?all=1&filters=%7B%22volume%22%3A%5B%22zz%22%5D%7D",
	    200);
	assert_int_equal(cJSON_GetArraySize(r->json), 0);
	fw_resp_free(r);
	free(id);
}

static void
test_refusals(void **state)
{
	struct fw *fw = *state;

	refused(fw, "{\"Binds\":[\"a1:/d\",\"a2:/d\"]}", 400,
	    "Duplicate mount point: /d");
	refused(fw, "{\"Binds\":[\"a1:/d\"],\"Tmpfs\":{\"/d/\":\"\"}}", 400,
	    "Duplicate mount point: /d");
	refused(fw, "{\"Binds\":[\"a1:rel\"]}", 400,
	    "invalid volume specification: 'a1:rel': invalid mount config for "
	    "type \"volume\": invalid mount path: 'rel' mount path must be "
	    "absolute");
	refused(
	    fw, "{\"Binds\":[\"a1:/d:bogus\"]}", 400, "invalid mode: bogus");
	refused(fw, "{\"Binds\":[\"a:b:c:d\"]}", 400,
	    "invalid volume specification: 'a:b:c:d'");
	refused(fw, "{\"Binds\":[\"/home/me:/d\"]}", 400, NULL);
	refused(fw, "{\"Binds\":[\"/runner/_work/../etc:/d\"]}", 400, NULL);
	refused(fw, "{\"Mounts\":[{\"Type\":\"npipe\",\"Target\":\"/p\"}]}",
	    400, NULL);
	refused(fw,
	    "{\"Mounts\":[{\"Type\":\"volume\",\"Source\":\"v\",\"Target\":"
	    "\"/p\",\"VolumeOptions\":{\"DriverConfig\":{\"Name\":\"nfs\"}}}]}",
	    400, NULL);
	refused(fw, "{\"Tmpfs\":{\"/t\":\"noexec\"}}", 400, NULL);
	refused(
	    fw, "{\"VolumeDriver\":\"nfs\",\"Binds\":[\"a1:/d\"]}", 400, NULL);
	refused(fw, "{\"Tmpfs\":{\"/t\":\"size=lots\"}}", 400, NULL);
	refused(fw, "{\"VolumesFrom\":[\"nobody\"]}", 404,
	    "No such container: nobody");
	/* Nothing made for the refused ones. */
	assert_int_equal(fw_count(fw, "vol_create"), 0);
	assert_false(vol_exists(fw, "a1"));
}

static void
test_image_volume_volumes_from(void **state)
{
	struct fw *fw = *state;
	struct backend_mount m[8];
	char *src, *dst;
	cJSON *insp;
	const cJSON *mt;
	size_t n;

	/* /cache is covered by a named volume; /var/lib/data is anonymous. */
	src = fw_create(fw, "src", "db",
	    "\"HostConfig\":{\"Binds\":[\"cachev:/cache\","
	    "\"/var/run/docker.sock:/var/run/docker.sock\"],"
	    "\"Tmpfs\":{\"/tmp\":\"\"}}");
	insp = fw_inspect(fw, src);
	assert_string_equal(
	    json_str(mount_at(insp, "/cache"), "Name"), "cachev");
	assert_int_equal(
	    strlen(json_str(mount_at(insp, "/var/lib/data"), "Name")), 64);
	mt = mount_at(insp, "/var/run/docker.sock");
	assert_string_equal(json_str(mt, "Type"), "bind");
	assert_string_equal(json_str(mt, "Source"), "/var/run/docker.sock");
	assert_string_equal(json_str(mt, "Propagation"), "rprivate");
	cJSON_Delete(insp);
	/* VolumesFrom: volumes and the socket, not the tmpfs; ro. */
	dst = fw_create(fw, "dst", "alpine",
	    "\"HostConfig\":{\"VolumesFrom\":[\"src:ro\"]}");
	n = backend_container_mounts(fw->b, fw_find(fw, dst), m, 8);
	assert_int_equal(n, 3);
	for (size_t i = 0; i < n; i++)
		assert_true(m[i].readonly);
	assert_int_equal(m[1].kind, BACKEND_MOUNT_DOCKER_SOCK);
	insp = fw_inspect(fw, dst);
	assert_false(json_bool(mount_at(insp, "/cache"), "RW", 1));
	assert_null(mount_at(insp, "/tmp"));
	cJSON_Delete(insp);
	free(src);
	free(dst);
}

static void
test_rm_v(void **state)
{
	struct fw *fw = *state;
	char *a, *b, *path, anon[65];
	cJSON *insp;

	a = fw_create(fw, "ca", "alpine",
	    "\"Volumes\":{\"/anon\":{}},\"HostConfig\":{\"Binds\":["
	    "\"keepme:/k\"]}");
	insp = fw_inspect(fw, a);
	str_lcpy(anon, json_str(mount_at(insp, "/anon"), "Name"), sizeof(anon));
	cJSON_Delete(insp);
	/* Another container shares the anonymous volume by VolumesFrom. */
	b = fw_create(
	    fw, "cb", "alpine", "\"HostConfig\":{\"VolumesFrom\":[\"ca\"]}");
	path = xasprintf("/containers/%s?v=1", a);
	fw_expect_free(fw, "DELETE", path, 204);
	free(path);
	/* Still used by b: kept. */
	assert_true(vol_exists(fw, anon));
	path = xasprintf("/containers/%s?v=1", b);
	fw_expect_free(fw, "DELETE", path, 204);
	free(path);
	assert_false(vol_exists(fw, anon));
	/* Named ones stay. */
	assert_true(vol_exists(fw, "keepme"));
	/* Without v the anonymous one stays. */
	free(a);
	a = fw_create(fw, "a2", "alpine", "\"Volumes\":{\"/anon\":{}}");
	insp = fw_inspect(fw, a);
	str_lcpy(anon, json_str(mount_at(insp, "/anon"), "Name"), sizeof(anon));
	cJSON_Delete(insp);
	path = xasprintf("/containers/%s", a);
	fw_expect_free(fw, "DELETE", path, 204);
	free(path);
	assert_true(vol_exists(fw, anon));
	free(a);
	free(b);
}

static void
test_shared_paths(void **state)
{
	struct fw *fw = *state;
	struct backend_mount m[4];
	char *a, *b, *c, *path;
	cJSON *insp;
	const cJSON *mt;
	struct fw_resp *r;

	a = fw_create(fw, "ca", "alpine",
	    "\"HostConfig\":{\"Binds\":[\"/runner/_work/repo:/__w:z\"]}");
	b = fw_create(fw, "cb", "alpine",
	    "\"HostConfig\":{\"Mounts\":[{\"Type\":\"bind\",\"Source\":"
	    "\"/runner/_work/repo/\",\"Target\":\"/w\"}]}");
	insp = fw_inspect(fw, a);
	mt = mount_at(insp, "/__w");
	assert_string_equal(json_str(mt, "Type"), "bind");
	assert_string_equal(json_str(mt, "Source"), "/runner/_work/repo");
	assert_string_equal(json_str(mt, "Mode"), "z");
	assert_true(json_bool(mt, "RW", 0));
	cJSON_Delete(insp);
	assert_int_equal(
	    backend_container_mounts(fw->b, fw_find(fw, a), m, 4), 1);
	assert_string_equal(volume_shared_path(m[0].vol), "/shared/work/repo");
	assert_true(str_prefix(volume_name(m[0].vol), "sockerless-shared-"));
	assert_int_equal(strlen(volume_name(m[0].vol)), 18 + 24);
	/* One volume for both, made once, hidden. */
	assert_int_equal(fw_count(fw, "vol_create"), 1);
	r = fw_expect(fw, "GET", "/volumes", 200);
	assert_int_equal(cJSON_GetArraySize(json_arr(r->json, "Volumes")), 0);
	fw_resp_free(r);
	path = xasprintf("/volumes/%s", volume_name(m[0].vol));
	fw_expect_free(fw, "GET", path, 404);
	fw_expect_free(fw, "DELETE", path, 404);
	free(path);
	fw_expect_free(fw, "POST",
	    "/volumes/prune?filters=%7B%22all%22%3A%5B%22true%22%5D%7D", 200);
	/* An entry without "=": the same path on the file system. */
	c = fw_create(fw, "cc", "alpine",
	    "\"HostConfig\":{\"Binds\":[\"/builds/g/p:/builds/g/p\"]}");
	assert_int_equal(
	    backend_container_mounts(fw->b, fw_find(fw, c), m, 4), 1);
	free(c);
	assert_string_equal(volume_shared_path(m[0].vol), "/builds/g/p");
	/* Released with the last container using it. */
	path = xasprintf("/containers/%s", a);
	fw_expect_free(fw, "DELETE", path, 204);
	free(path);
	assert_int_equal(fw_count(fw, "vol_remove"), 0);
	path = xasprintf("/containers/%s", b);
	fw_expect_free(fw, "DELETE", path, 204);
	free(path);
	assert_int_equal(fw_count(fw, "vol_remove"), 1);
	free(a);
	free(b);
}

static void
test_docker_sock_proxy_off(void **state)
{
	struct fw *fw = *state;
	struct backend_mount m[2];

	char *id = fw_create(fw, "cs", "alpine",
	    "\"HostConfig\":{\"Binds\":[\"/tmp/x/docker.sock:/d.sock:ro\"]}");

	assert_int_equal(
	    backend_container_mounts(fw->b, fw_find(fw, id), m, 2), 1);
	free(id);
	assert_int_equal(m[0].kind, BACKEND_MOUNT_DOCKER_SOCK);
	assert_string_equal(m[0].target, "/d.sock");
	assert_null(m[0].vol);
	fw_free(fw, 0);
	setenv("SOCKERLESS_DOCKER_SOCKET_PROXY", "false", 1);
	*state = fw = fw_new();
	fw_add_image(fw, "docker.io/library/alpine:latest", "sh");
	fw->autocomplete = 1;
	refused(fw,
	    "{\"Binds\":[\"/var/run/docker.sock:/var/run/docker.sock\"]}", 400,
	    NULL);
}

/* mount at start, unmount at the end, for volumes only (not binds). */
static void
test_mount_events(void **state)
{
	struct fw *fw = *state;
	char *id, *path, *out = xstrdup(""), *o, *line, *save = NULL;
	struct fw_resp *r;

	id = fw_create(fw, "ev", "alpine",
	    "\"HostConfig\":{\"Binds\":[\"evv:/e:ro\","
	    "\"/runner/_work/x:/x\"]}");
	fw_start(fw, id);
	fw_exit(fw, id, 0);
	path = xasprintf("/events?since=1&until=%lld&filters=%%7B%%22type%%22"
			 "%%3A%%5B%%22volume%%22%%5D%%7D",
	    (long long)str_now_ns() / 1000000000 + 1);
	r = fw_expect(fw, "GET", path, 200);
	for (line = strtok_r(r->body, "\n", &save); line != NULL;
	     line = strtok_r(NULL, "\n", &save)) {
		cJSON *ev = cJSON_Parse(line);
		const cJSON *at = json_obj(json_obj(ev, "Actor"), "Attributes");
		o = xasprintf("%s%s%s:%s", out, out[0] ? " " : "",
		    json_str(ev, "Action"),
		    json_str(json_obj(ev, "Actor"), "ID"));
		free(out);
		out = o;
		if (strcmp(json_str(ev, "Action"), "mount") == 0) {
			assert_string_equal(json_str(at, "container"), id);
			assert_string_equal(json_str(at, "destination"), "/e");
			assert_string_equal(
			    json_str(at, "read/write"), "false");
		}
		cJSON_Delete(ev);
	}
	fw_resp_free(r);
	/* The shared-path volume is made, but binds mount no volume. */
	assert_true(str_prefix(out, "create:evv create:sockerless-shared-"));
	assert_non_null(strstr(out, " mount:evv unmount:evv"));
	assert_null(strstr(out, "mount:sockerless"));
	free(out);
	free(path);
	free(id);
}

static int
vol_gone(struct fw *fw, void *arg)
{
	return backend_volume_by_name(fw->b, arg) == NULL;
}

/* A restart during the backend's create: the container and the volume
 * its create made both go. */
static void
test_interrupted_create(void **state)
{
	struct fw *fw = *state;
	struct container *c;
	char *id;

	free(fw_create(
	    fw, "pre", "alpine", "\"HostConfig\":{\"Binds\":[\"old:/o\"]}"));
	id = fw_create(fw, "cut", "alpine",
	    "\"HostConfig\":{\"Binds\":[\"made:/m\",\"old:/o\"]}");
	/* What a process dying in the backend's create leaves. */
	c = fw_find(fw, id);
	json_set(container_private(c), "Creating", cJSON_CreateTrue());
	backend_container_save(fw->b, c);
	fw_free(fw, 1);
	*state = fw = fw_reopen(fw);
	fw->autocomplete = 1;
	fw_complete_next(fw, "remove", 0, NULL);
	assert_true(fw_run_until_fn(fw, vol_gone, (void *)"made"));
	fw_expect_free(fw, "GET", "/containers/cut/json", 404);
	/* Made by another create: stays. */
	assert_true(vol_exists(fw, "old"));
	free(id);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(
		    test_mounts_shapes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_refusals, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_image_volume_volumes_from, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rm_v, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_shared_paths, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_docker_sock_proxy_off, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_mount_events, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_interrupted_create, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
