/* The framework's generic check of the Linux options at create (issue 13,
 * refuse-or-apply): the shapes every backend reads (CapAdd, CapDrop,
 * Ulimits), and what no cloud backend can honour (--pid/--ipc/--uts other
 * than the workload's own, --device, --tmpfs, --group-add, --shm-size
 * other than dockerd's 64 MiB), each refused with a 400 and a sentence
 * naming the option; what passes is kept in inspect as sent. One table,
 * through the fake backend. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "fake_backend.h"
#include "sockerless/json.h"
#include "sockerless/xmalloc.h"

#define IMG "docker.io/library/alpine:latest"

static int
setup(void **state)
{
	struct fw *fw = fw_new();

	fw_add_image(fw, IMG, "sh");
	fw->autocomplete = 1;
	*state = fw;
	return 0;
}

static int
teardown(void **state)
{
	fw_free(*state, 0);
	return 0;
}

/* A HostConfig (JSON members), the status create answers and a part of
 * its message (NULL: 201). */
static const struct {
	const char *hc;
	int status;
	const char *msg;
} cases[] = {
	/* Shapes and names, as dockerd checks them. */
	{ "\"CapAdd\":[\"SYS_PTRACE\",\"cap_net_admin\",\"ALL\"]", 201, NULL },
	{ "\"CapDrop\":[\"ALL\"],\"CapAdd\":[\"CHOWN\"]", 201, NULL },
	{ "\"CapAdd\":null,\"CapDrop\":[]", 201, NULL },
	{ "\"CapAdd\":[\"CAP_FOO\"]", 400,
	    "invalid CapAdd: unknown capability: \"CAP_FOO\"" },
	{ "\"CapDrop\":[\"bogus\"]", 400,
	    "invalid CapDrop: unknown capability: \"CAP_BOGUS\"" },
	{ "\"CapAdd\":\"SYS_PTRACE\"", 400, "non-array into field CapAdd" },
	{ "\"CapAdd\":[1]", 400, "non-string into field CapAdd" },
	{ "\"Ulimits\":[{\"Name\":\"nofile\",\"Soft\":100,\"Hard\":200}]", 201,
	    NULL },
	{ "\"Ulimits\":[{\"Name\":\"nofile\",\"Soft\":300,\"Hard\":200}]", 400,
	    "soft limit must be less than or equal to hard limit" },
	{ "\"Ulimits\":[{\"Soft\":1,\"Hard\":2}]", 400,
	    "invalid ulimit: no Name" },
	{ "\"Ulimits\":{\"nofile\":1}", 400, "non-array into field Ulimits" },
	{ "\"Ulimits\":[{\"Name\":\"nofile\",\"Soft\":\"x\",\"Hard\":2}]", 400,
	    "Soft" },
	/* Namespaces: only the workload's own. */
	{ "\"PidMode\":\"\",\"IpcMode\":\"private\",\"UTSMode\":\"\"", 201,
	    NULL },
	{ "\"IpcMode\":\"shareable\"", 201, NULL },
	{ "\"PidMode\":\"host\"", 400,
	    "--pid=host cannot be honoured by the fake backend" },
	{ "\"PidMode\":\"container:abc\"", 400,
	    "Run the container without "
	    "--pid." },
	{ "\"IpcMode\":\"host\"", 400, "--ipc=host cannot be honoured" },
	{ "\"IpcMode\":\"none\"", 400, "--ipc=none cannot be honoured" },
	{ "\"UTSMode\":\"host\"", 400, "--uts=host cannot be honoured" },
	{ "\"PidMode\":1", 400, "PidMode" },
	/* Host-only options. */
	{ "\"Devices\":[]", 201, NULL },
	{ "\"Devices\":[{\"PathOnHost\":\"/dev/fuse\",\"PathInContainer\":"
	  "\"/dev/fuse\",\"CgroupPermissions\":\"rwm\"}]",
	    400, "host devices (--device) cannot be honoured by the fake" },
	{ "\"Tmpfs\":{}", 201, NULL },
	{ "\"Tmpfs\":{\"/run\":\"rw,size=64m\"}", 400,
	    "tmpfs mounts (--tmpfs) cannot be honoured" },
	{ "\"GroupAdd\":[\"1234\"]", 400,
	    "supplementary groups (--group-add) cannot be honoured" },
	{ "\"ShmSize\":0", 201, NULL },
	{ "\"ShmSize\":67108864", 201, NULL },
	{ "\"ShmSize\":134217728", 400,
	    "a /dev/shm size (--shm-size) cannot be honoured" },
	/* Applied or refused by each backend, not here. */
	{ "\"ReadonlyRootfs\":true", 201, NULL },
};

static void
test_table(void **state)
{
	struct fw *fw = *state;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *body = xasprintf(
		    "{\"Image\":\"%s\",\"HostConfig\":{%s}}", IMG, cases[i].hc);
		struct fw_resp *r =
		    fw_req(fw, "POST", "/containers/create", body);

		if (r->status != cases[i].status ||
		    (cases[i].msg != NULL &&
			strstr(fw_msg(r), cases[i].msg) == NULL))
			fail_msg(
			    "%s: %d %s", cases[i].hc, r->status, fw_msg(r));
		fw_resp_free(r);
		free(body);
	}
}

/* What passes is kept as the client sent it (docker inspect). */
static void
test_kept(void **state)
{
	struct fw *fw = *state;
	char *id = fw_create(fw, NULL, IMG,
	    "\"HostConfig\":{\"CapAdd\":[\"SYS_PTRACE\"],\"ReadonlyRootfs\":"
	    "true,\"Ulimits\":[{\"Name\":\"nofile\",\"Soft\":100,\"Hard\":"
	    "200}]}");
	cJSON *d = fw_inspect(fw, id);
	const cJSON *hc = json_obj(d, "HostConfig");

	assert_string_equal(
	    cJSON_GetStringValue(cJSON_GetArrayItem(json_arr(hc, "CapAdd"), 0)),
	    "SYS_PTRACE");
	assert_true(json_bool(hc, "ReadonlyRootfs", 0));
	assert_int_equal(
	    json_int(cJSON_GetArrayItem(json_arr(hc, "Ulimits"), 0), "Hard", 0),
	    200);
	cJSON_Delete(d);
	free(id);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_table, setup, teardown),
		cmocka_unit_test_setup_teardown(test_kept, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
