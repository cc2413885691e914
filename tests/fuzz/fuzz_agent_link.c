/* The agent's side of the link handshake (agent/link.c): the header
 * parsers (common/lite/lite_http.c, shared with common/aglink) that read
 * the backend's upgrade request (forward mode) and its 101 answer
 * (reverse mode), over every header the agent looks up. The frames after
 * it go through ws_parse_header (fuzz_aglink_wire.c); the messages would
 * run commands, so they are not fuzzed here. */
#include "sockerless/lite.h"
#include "fuzz.h"

static const char *fuzz_names[] = { "Upgrade", "Connection",
	"Sec-WebSocket-Version", "Sec-WebSocket-Key", "Authorization",
	"X-Sockerless-Container", "Sec-WebSocket-Accept",
	"Sec-WebSocket-Protocol", "" };

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *head = fuzz_str(data, size), v[512], small[8];

	for (size_t i = 0; i < sizeof(fuzz_names) / sizeof(fuzz_names[0]);
	     i++) {
		if (lite_http_header(head, fuzz_names[i], v, sizeof(v)) == 0) {
			if (strlen(v) >= sizeof(v))
				abort();
			lite_http_has_token(v, "websocket");
			lite_http_has_token(v, "upgrade");
			lite_http_has_token(v, "");
		}
		lite_http_header(head, fuzz_names[i], small, sizeof(small));
	}
	lite_http_has_token(head, "upgrade");
	free(head);
	return 0;
}
