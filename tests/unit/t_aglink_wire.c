/* aglink_wire: WebSocket framing, the handshake key, hashes and the token
 * check shared by the backends and the agent. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <openssl/sha.h>

#include "sockerless/aglink_wire.h"
#include "sockerless/lite.h"

static void
t_accept_key(void **state)
{
	char out[29];

	(void)state;
	/* RFC 6455, section 1.3. */
	ws_accept_key("dGhlIHNhbXBsZSBub25jZQ==", out);
	assert_string_equal(out, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
}

/* Every length around the padding boundaries, against OpenSSL. */
static void
t_hashes(void **state)
{
	unsigned char buf[300], a[32], b[32];
	size_t n;

	(void)state;
	for (n = 0; n < sizeof(buf); n++)
		buf[n] = (unsigned char)(n * 7 + 3);
	for (n = 0; n <= sizeof(buf); n++) {
		aglink_sha1(buf, n, a);
		SHA1(buf, n, b);
		assert_memory_equal(a, b, 20);
		aglink_sha256(buf, n, a);
		SHA256(buf, n, b);
		assert_memory_equal(a, b, 32);
	}
}

static void
t_token(void **state)
{
	unsigned char tok[32], md[32];
	char hex[65], sha[65];

	(void)state;
	for (int i = 0; i < 32; i++)
		tok[i] = (unsigned char)(i * 13);
	lite_hex(tok, 32, hex);
	SHA256(tok, 32, md);
	lite_hex(md, 32, sha);
	assert_true(aglink_token_check(hex, sha));
	for (int i = 0; i < 64; i++)
		if (hex[i] >= 'a')
			hex[i] = (char)(hex[i] - 'a' + 'A');
	assert_true(aglink_token_check(hex, sha)); /* hex case is free */
	hex[5] = hex[5] == '0' ? '1' : '0';
	assert_false(aglink_token_check(hex, sha));
	assert_false(aglink_token_check("", sha));
	assert_false(aglink_token_check(NULL, sha));
	assert_false(aglink_token_check(sha, NULL));
	assert_false(aglink_token_check("zz", sha));
	hex[63] = '\0';
	assert_false(aglink_token_check(hex, sha));
	assert_true(aglink_ct_equal("abc", "abc", 3));
	assert_false(aglink_ct_equal("abc", "abd", 3));
}

static void
t_frames(void **state)
{
	static const uint64_t lens[] = { 0, 1, 125, 126, 65535, 65536,
		(uint64_t)1 << 40 };
	unsigned char hdr[14], mask[4] = { 1, 2, 3, 4 };
	struct ws_frame f;
	size_t i, n, k;

	(void)state;
	for (i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
		for (int m = 0; m < 2; m++) {
			n = ws_build_header(
			    hdr, WS_BINARY, lens[i], m ? mask : NULL);
			for (k = 0; k < n; k++)
				assert_int_equal(
				    ws_parse_header(hdr, k, &f), 0);
			assert_int_equal(ws_parse_header(hdr, n, &f), 1);
			assert_int_equal(f.header_len, n);
			assert_int_equal(f.len, lens[i]);
			assert_int_equal(f.opcode, WS_BINARY);
			assert_true(f.fin);
			assert_int_equal(f.masked, m);
			if (m)
				assert_memory_equal(f.mask, mask, 4);
		}
	}
	/* Reserved bits, unknown opcodes, long or fragmented control. */
	hdr[0] = 0xC2, hdr[1] = 0;
	assert_int_equal(ws_parse_header(hdr, 2, &f), -1);
	hdr[0] = 0x83;
	assert_int_equal(ws_parse_header(hdr, 2, &f), -1);
	hdr[0] = 0x89, hdr[1] = 126;
	assert_int_equal(ws_parse_header(hdr, 2, &f), -1);
	hdr[0] = 0x09, hdr[1] = 0;
	assert_int_equal(ws_parse_header(hdr, 2, &f), -1);
	/* A 64-bit length with the top bit set. */
	hdr[0] = 0x82, hdr[1] = 127, hdr[2] = 0x80;
	memset(hdr + 3, 0, 7);
	assert_int_equal(ws_parse_header(hdr, 10, &f), -1);
	/* Masking is its own inverse and follows the payload offset. */
	{
		unsigned char p[10] = "abcdefghi", q[10];
		memcpy(q, p, 10);
		ws_mask(q, 3, mask, 0);
		ws_mask(q + 3, 6, mask, 3);
		ws_mask(q, 9, mask, 0);
		assert_memory_equal(p, q, 10);
	}
}

static void
t_messages(void **state)
{
	unsigned char buf[16];
	struct aglink_msg m;

	(void)state;
	aglink_put_header(buf, AGLINK_DATA, AGLINK_STDERR, 0x01020304);
	memcpy(buf + 8, "xy", 2);
	assert_int_equal(aglink_parse(buf, 10, &m), 0);
	assert_int_equal(m.type, AGLINK_DATA);
	assert_int_equal(m.stream, AGLINK_STDERR);
	assert_int_equal(m.channel, 0x01020304);
	assert_int_equal(m.len, 2);
	assert_memory_equal(m.payload, "xy", 2);
	assert_int_equal(aglink_parse(buf, 7, &m), -1);
	buf[0] = 0;
	assert_int_equal(aglink_parse(buf, 8, &m), -1);
	buf[0] = AGLINK_CONNECT; /* the last type (relay mode) */
	assert_int_equal(aglink_parse(buf, 8, &m), 0);
	buf[0] = AGLINK_CONNECT + 1;
	assert_int_equal(aglink_parse(buf, 8, &m), -1);
	aglink_put_u32(buf, 0xdeadbeef);
	assert_int_equal(aglink_get_u32(buf), 0xdeadbeef);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(t_accept_key),
		cmocka_unit_test(t_hashes),
		cmocka_unit_test(t_token),
		cmocka_unit_test(t_frames),
		cmocka_unit_test(t_messages),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
