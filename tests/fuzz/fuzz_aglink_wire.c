/* The agent link's framing as both sides parse it
 * (common/aglink/aglink_wire.c): WebSocket frame headers, unmasking, link
 * message headers, and the token check the agent runs on the backend's
 * credential. */
#include "fuzz.h"
#include "sockerless/aglink_wire.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ws_frame f;
	struct aglink_msg m;
	unsigned char *p;
	size_t off = 0, plen;
	char *buf;
	const char *a, *b;

	/* A stream of frames, each payload parsed as a link message. */
	while (off < size && ws_parse_header(data + off, size - off, &f) == 1) {
		if (f.header_len > size - off)
			abort();
		off += f.header_len;
		plen = f.len < size - off ? (size_t)f.len : size - off;
		p = malloc(plen + 1);
		memcpy(p, data + off, plen);
		if (f.masked)
			ws_mask(p, plen, f.mask, 0);
		if (aglink_parse(p, plen, &m) == 0 &&
		    (m.payload < p || m.payload + m.len > p + plen))
			abort();
		free(p);
		off += plen;
	}
	fuzz_split(data, size, &buf, &a, &b);
	aglink_token_check(a, b);
	free(buf);
	return 0;
}
