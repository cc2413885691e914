/* The agent's JSON reader (agent/jread.c) over what the backend sends on
 * the link and the Lambda runtime API: OPEN requests and invocation
 * events. Every key the agent reads is looked up, as chan.c, exec.c and
 * lambda.c do; the decoded strings must end where they say. */
#include "../../agent/jread.h"
#include "fuzz.h"

static const char *fuzz_str_keys[] = { "kind", "id", "path", "target", "user",
	"workdir", "args", "container", "" };
static const char *fuzz_strv_keys[] = { "cmd", "env", "" };
static const char *fuzz_bool_keys[] = { "tty", "stdin", "stdout", "stderr",
	"noOverwriteDirNonDir" };
static const char *fuzz_int_keys[] = { "rows", "cols", "signal" };

#define NKEYS(a) (sizeof(a) / sizeof((a)[0]))

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *buf = (const char *)data;
	char *s, **v;
	size_t i;

	for (i = 0; i < NKEYS(fuzz_str_keys); i++) {
		if ((s = jread_str(buf, size, fuzz_str_keys[i])) != NULL &&
		    strlen(s) > size)
			abort();
		free(s);
	}
	for (i = 0; i < NKEYS(fuzz_strv_keys); i++) {
		if ((v = jread_strv(buf, size, fuzz_strv_keys[i])) != NULL)
			jread_strv_free(v);
	}
	for (i = 0; i < NKEYS(fuzz_bool_keys); i++)
		jread_bool(buf, size, fuzz_bool_keys[i], 0);
	for (i = 0; i < NKEYS(fuzz_int_keys); i++)
		jread_int(buf, size, fuzz_int_keys[i], -1);
	return 0;
}
