/* The framework's side of the agent's names slice (docs/networks.md): the
 * user a container's main process runs as reaches the agent
 * (SOCKERLESS_USER from backend_agent_config_env), through the fake
 * backend in agent mode with the real sockerless-agent (SK_TEST_PORT_BASE
 * + 50..89, as t_fw_agent). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "fake_backend.h"
#include "sockerless/json.h"
#include "sockerless/xmalloc.h"

static int
setup(void **state)
{
	struct fw *fw;

	fake_agent_mode = 1;
	fake_caps[CAP_EXEC] = fake_caps[CAP_ATTACH] = 1;
	fake_caps[CAP_SIGNALS] = fake_caps[CAP_AGENT_REQUIRED] = 1;
	fw = fw_new();
	fw_add_image(fw, "docker.io/library/alpine:latest", "sh");
	*state = fw;
	return 0;
}

static int
teardown(void **state)
{
	fw_free(*state, 0);
	return 0;
}

/* The file holds a whole line. */
static int
uid_written(struct fw *fw, void *arg)
{
	char buf[32] = "";
	FILE *f = fopen(arg, "r");
	int done;

	(void)fw;
	if (f == NULL)
		return 0;
	done = fgets(buf, sizeof(buf), f) != NULL && strchr(buf, '\n') != NULL;
	fclose(f);
	return done;
}

/* Config.User is the user of the main process (dockerd runs it as that
 * user); the agent itself stays root for its own work. */
static void
test_main_process_user(void **state)
{
	struct fw *fw = *state;
	char *path, *cfg, *id, buf[32] = "";
	FILE *f;

	if (geteuid() != 0)
		skip(); /* only root can switch to another user */
	path = xasprintf("/tmp/sk-agentnet-uid.%d", (int)getpid());
	unlink(path);
	cfg = xasprintf("\"Cmd\":[\"sh\",\"-c\",\"id -u > %s; sleep 60\"],"
			"\"User\":\"65534:65534\"",
	    path);
	id = fw_create(fw, "usr", "alpine", cfg);
	fw_start(fw, id);
	assert_true(fw_run_until_fn(fw, uid_written, path));
	assert_non_null(f = fopen(path, "r"));
	assert_non_null(fgets(buf, sizeof(buf), f));
	fclose(f);
	assert_string_equal(buf, "65534\n");
	fw_expect_free(fw, "POST", "/containers/usr/kill", 204);
	unlink(path);
	free(cfg);
	free(path);
	free(id);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_main_process_user),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
