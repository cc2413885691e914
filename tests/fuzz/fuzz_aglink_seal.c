/* The sealed link's parsers of what a peer sends (common/aglink/
 * aglink_seal.c): the handshake parameters ("nonce=<hex>, mac=<hex>", up
 * to the first NUL) and the unsealing of messages (the rest, as a series
 * of [u16 length][sealed bytes] records opened in order on one session,
 * whose first record may be sealed correctly when the input asks: first
 * byte odd). Nothing may read out of bounds; a message that fails to open
 * must leave the session where it was. */
#include <stdio.h>

#include "fuzz.h"
#include "sockerless/aglink_seal.h"

#define FUZZ_TOKEN \
	"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const unsigned char na[AGLINK_SEAL_NONCE] = { 1 },
				   nb[AGLINK_SEAL_NONCE] = { 2 };
	unsigned char nonce[AGLINK_SEAL_NONCE], mac[AGLINK_SEAL_MAC], *m;
	struct aglink_seal agent, backend;
	const char *params, *rest;
	char *buf;
	size_t off, k, left;
	uint64_t ctr;

	fuzz_split(data, size, &buf, &params, &rest);
	(void)aglink_seal_params_parse(params, nonce, mac);
	if (aglink_seal_init(&agent, AGLINK_SEAL_AGENT, FUZZ_TOKEN, na, nb) ==
		-1 ||
	    aglink_seal_init(
		&backend, AGLINK_SEAL_BACKEND, FUZZ_TOKEN, na, nb) == -1)
		abort();
	off = (size_t)(rest - buf);
	left = off <= size ? size - off : 0;
	for (int first = 1; left >= 2; first = 0) {
		k = (size_t)data[off] << 8 | data[off + 1];
		off += 2;
		left -= 2;
		if (k > left)
			k = left;
		m = malloc(k + AGLINK_SEAL_TAG + 1);
		if (m == NULL)
			abort();
		memcpy(m, data + off, k);
		if (first && (data[0] & 1) && k >= AGLINK_SEAL_TAG) {
			/* A genuine message: it must open. */
			aglink_seal_seal(&agent, m, k - AGLINK_SEAL_TAG,
			    m + k - AGLINK_SEAL_TAG);
			if (aglink_seal_open(&backend, m, k) != 0)
				abort();
		} else {
			ctr = backend.ctr_rx;
			if (aglink_seal_open(&backend, m, k) == -1 &&
			    backend.ctr_rx != ctr)
				abort();
		}
		free(m);
		off += k;
		left -= k;
	}
	aglink_seal_wipe(&agent);
	aglink_seal_wipe(&backend);
	free(buf);
	return 0;
}
