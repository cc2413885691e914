/* The YAML config loader (common/config.c): the input is the file given
 * with -c, loaded into a table with every key type, nested and not. */
#include <sys/mman.h>

#include <stddef.h>
#include <stdio.h>
#include <unistd.h>

#include "fuzz.h"
#include "sockerless/config.h"
#include "sockerless/log.h"
#include "sockerless/str.h"

struct fuzz_conf {
	char *name;
	long long port;
	int debug;
	struct strv tags;
	long long timeout;
	char *region;
	struct strv subnets;
};

#define K(n, t, f, def, min, max)                                             \
	{                                                                     \
		n, t, offsetof(struct fuzz_conf, f), def, min, max, 0, "fuzz" \
	}

/* The file: one memory file, rewritten per input (no disk, nothing left
 * behind), read by path as -c reads it. */
static int fuzz_fd = -1;
static char fuzz_path[64];

static const struct config_key fuzz_keys[] = {
	K("name", CONFIG_STRING, name, "def", 0, 0),
	K("port", CONFIG_INT, port, "80", 1, 65535),
	K("debug", CONFIG_BOOL, debug, "false", 0, 0),
	K("tags", CONFIG_STRV, tags, "a,b", 0, 0),
	K("timeout", CONFIG_DURATION, timeout, "30s", 0, 0),
	K("ecs.region", CONFIG_STRING, region, NULL, 0, 0),
	K("ecs.subnets", CONFIG_STRV, subnets, NULL, 0, 0),
};

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	log_init("fuzz", LOG_LVL_ERROR);
	unsetenv("FUZZCONF_CONFIG");
	if ((fuzz_fd = memfd_create("fuzz-config", MFD_CLOEXEC)) == -1)
		abort();
	snprintf(fuzz_path, sizeof(fuzz_path), "/proc/self/fd/%d", fuzz_fd);
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_conf conf;
	struct config_set set = { fuzz_keys,
		sizeof(fuzz_keys) / sizeof(fuzz_keys[0]), &conf };
	struct err e;
	char prog[] = "prog", opt[] = "-c";
	char *argv[] = { prog, opt, fuzz_path, NULL };

	if (ftruncate(fuzz_fd, 0) == -1 ||
	    (size > 0 && pwrite(fuzz_fd, data, size, 0) != (ssize_t)size))
		abort();
	memset(&conf, 0, sizeof(conf));
	config_load(&set, 1, "FUZZCONF", 3, argv, "prog", &e);
	config_free(fuzz_keys, set.n, &conf);
	return 0;
}
