/* The agent's JSON readers (agent/jget.c, agent/json.c) over what the
 * backend sends on the link: OPEN requests and the HELLO answer. Every key
 * the agent reads is looked up, as chan.c and exec.c do. */
#include "../../agent/agent.h"
#include "fuzz.h"

static const char *fuzz_str_keys[] = { "kind", "id", "path", "target", "user",
	"workdir", "args", "" };
static const char *fuzz_strv_keys[] = { "cmd", "env", "" };
static const char *fuzz_bool_keys[] = { "tty", "stdin", "stdout", "stderr",
	"noOverwriteDirNonDir" };
static const char *fuzz_int_keys[] = { "rows", "cols", "signal" };

#define NKEYS(a) (sizeof(a) / sizeof((a)[0]))

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *buf = (const char *)data;
	char out[256], **v;
	size_t i;

	for (i = 0; i < NKEYS(fuzz_str_keys); i++) {
		free(jget_str(buf, size, fuzz_str_keys[i]));
		if (json_get_string(
			buf, size, fuzz_str_keys[i], out, sizeof(out)) == 0 &&
		    memchr(out, '\0', sizeof(out)) == NULL)
			abort();
	}
	for (i = 0; i < NKEYS(fuzz_strv_keys); i++) {
		if ((v = jget_strv(buf, size, fuzz_strv_keys[i])) != NULL)
			jget_strv_free(v);
	}
	for (i = 0; i < NKEYS(fuzz_bool_keys); i++)
		jget_bool(buf, size, fuzz_bool_keys[i], 0);
	for (i = 0; i < NKEYS(fuzz_int_keys); i++)
		jget_int(buf, size, fuzz_int_keys[i], -1);
	return 0;
}
