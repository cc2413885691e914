/* common/lite: the libc-only helpers shared by common/ and the agent
 * (hex, decimal, base64, header lookup, ustar header blocks). The ustar goldens
 * are hashes of the blocks the two writers produced before they shared
 * lite_ustar_header (agent/archive.c and common/reg/reg_push.c): the
 * bytes must not change, registry layer digests depend on them. */
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "sockerless/lite.h"

static void
t_hex(void **state)
{
	unsigned char b[3];
	char out[16];

	(void)state;
	lite_hex((const unsigned char *)"\x00\xab\xff", 3, out);
	assert_string_equal(out, "00abff");
	assert_int_equal(lite_unhex("00ABff", b, 3), 0);
	assert_memory_equal(b, "\x00\xab\xff", 3);
	assert_int_equal(lite_unhex("00abf", b, 3), -1);
	assert_int_equal(lite_unhex("00abfg", b, 3), -1);
	assert_int_equal(lite_hexval('F'), 15);
	assert_int_equal(lite_hexval('g'), -1);
	assert_int_equal(lite_hex_span("0a9fA"), 4);
	assert_int_equal(lite_hex_span(""), 0);
}

static void
t_dec(void **state)
{
	char out[LITE_DEC_MAX], want[32];

	(void)state;
	assert_int_equal(lite_dec(0, out), 1);
	assert_memory_equal(out, "0", 1);
	assert_int_equal(lite_dec(10, out), 2);
	assert_memory_equal(out, "10", 2);
	assert_int_equal(lite_dec(1234567890UL, out), 10);
	assert_memory_equal(out, "1234567890", 10);
	/* The widest fits. */
	snprintf(want, sizeof(want), "%lu", ULONG_MAX);
	assert_int_equal(lite_dec(ULONG_MAX, out), strlen(want));
	assert_memory_equal(out, want, strlen(want));
}

static void
t_b64(void **state)
{
	unsigned char d[32];
	char out[16];

	(void)state;
	assert_int_equal(lite_b64_len(4), 8);
	assert_int_equal(
	    lite_b64_encode((const unsigned char *)"f", 1, out), 4);
	assert_string_equal(out, "Zg==");
	lite_b64_encode((const unsigned char *)"fo", 2, out);
	assert_string_equal(out, "Zm8=");
	lite_b64_encode((const unsigned char *)"foo", 3, out);
	assert_string_equal(out, "Zm9v");
	lite_b64_encode((const unsigned char *)"foob", 4, out);
	assert_string_equal(out, "Zm9vYg==");
	assert_int_equal(lite_b64_encode(NULL, 0, out), 0);
	assert_string_equal(out, "");
	assert_int_equal(lite_b64_decode("Zm9vYg==", 8, d), 4);
	assert_memory_equal(d, "foob", 4);
	/* Unpadded, URL-safe, blanks skipped. */
	assert_int_equal(lite_b64_decode("Zm9v\r\nYg", 8, d), 4);
	assert_int_equal(lite_b64_decode("-_8", 3, d), 2);
	assert_memory_equal(d, "\xfb\xff", 2);
	assert_int_equal(lite_b64_decode("a", 1, d), -1);
	assert_int_equal(lite_b64_decode("aH=b", 4, d), -1);
	assert_int_equal(lite_b64_decode("Zg===", 5, d), -1);
	assert_int_equal(lite_b64_decode("Z!==", 4, d), -1);
}

static void
t_http_header(void **state)
{
	const char *head = "GET /x HTTP/1.1\r\nHost: h\r\n"
			   "upgrade: \t WebSocket \r\n"
			   "Connection: keep-alive, Upgrade\r\n\r\n"
			   "After: body\r\n";
	char v[16], small[4];

	(void)state;
	assert_int_equal(lite_http_header(head, "Upgrade", v, sizeof(v)), 0);
	assert_string_equal(v, "WebSocket");
	assert_int_equal(lite_http_header(head, "HOST", v, sizeof(v)), 0);
	assert_string_equal(v, "h");
	/* The request line is no field; nor is anything after the head. */
	assert_int_equal(lite_http_header(head, "GET /x", v, sizeof(v)), -1);
	assert_int_equal(lite_http_header(head, "After", v, sizeof(v)), -1);
	assert_int_equal(lite_http_header(head, "Hos", v, sizeof(v)), -1);
	assert_int_equal(
	    lite_http_header(head, "Upgrade", small, sizeof(small)), -1);
	assert_int_equal(lite_http_header("", "Host", v, sizeof(v)), -1);
	assert_int_equal(lite_http_header("X\r\n", "Host", v, sizeof(v)), -1);
	assert_int_equal(
	    lite_http_header("X\r\nHost: y", "Host", v, sizeof(v)), -1);
	assert_true(lite_http_has_token("keep-alive, Upgrade", "upgrade"));
	assert_true(lite_http_has_token("upgrade", "Upgrade"));
	assert_false(lite_http_has_token("upgrades", "upgrade"));
	assert_false(lite_http_has_token("", "upgrade"));
}

static uint64_t
t_fnv(const unsigned char *p, size_t n, uint64_t h)
{
	for (size_t i = 0; i < n; i++) {
		h ^= p[i];
		h *= 1099511628211ULL;
	}
	return h;
}

#define T_FNV_INIT 14695981039346656037ULL

/* Names around ustar's limits: 100 bytes whole; splittable at several
 * '/' (the writers pick different ones); too long for any split. */
static const char *t_names[] = { "a", "dir/file.txt",
	"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
	"aaaaaaaaaa/bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb/cccccccc"
	"cccccccccccccccccccccccccccccccccccccccc/dddddddddddddddd",
	"p/qqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqq"
	"qqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqq"
	"qqqqqqqqqqqqqqqqqqqqqq/r",
	"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
	"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx/",
	NULL };

/* The agent's docker cp headers: every type, base-256 sizes and ids. */
static void
t_ustar_agent(void **state)
{
	static const char types[] = "05234";
	unsigned char h[LITE_USTAR_BLOCK];
	uint64_t sum = T_FNV_INIT;
	struct lite_ustar u;
	int rc;

	(void)state;
	for (int i = 0; t_names[i] != NULL; i++) {
		for (int t = 0; t < 5; t++) {
			memset(&u, 0, sizeof(u));
			u.name = t_names[i];
			u.link = i % 2 ? "some/link" : "";
			u.type = types[t];
			u.mode = t ? 0644 : 04644;
			u.uid = 1000 + (uint64_t)i;
			u.gid = t == 1 ? (1u << 22) + 5 : 0;
			u.mtime = 1700000000 + (uint64_t)i;
			u.devmajor = 8;
			u.devminor = (uint64_t)i;
			u.size = t ? 0 : (i == 3 ? (1ULL << 34) + 7 : 1234);
			rc = lite_ustar_split(
			    u.name, LITE_USTAR_CUT_FIRST, &u.prefix);
			if (rc == -1)
				u.prefix = 0; /* the PAX header has it */
			assert_int_equal(rc, i == 4 || i == 5 ? -1 : 0);
			lite_ustar_header(h, &u);
			sum = t_fnv(h, sizeof(h), sum);
		}
	}
	assert_int_equal(sum, 0x132ec4445fcce380ULL);
}

/* The registry layer's headers (reg_push_ustar_entry): root-owned,
 * directories with their trailing '/'. */
static void
t_ustar_reg(void **state)
{
	unsigned char h[LITE_USTAR_BLOCK];
	uint64_t sum = T_FNV_INIT;
	char name[300];
	int rc, fails = 0;

	(void)state;
	for (int i = 0; t_names[i] != NULL; i++) {
		for (int d = 0; d < 2; d++) {
			struct lite_ustar u = { .name = name,
				.uname = "root",
				.gname = "root",
				.type = d ? '5' : '0',
				.mode = 0755,
				.size = d ? 0 : 5 };

			snprintf(name, sizeof(name), "%s%s", t_names[i],
			    d ? "/" : "");
			rc = lite_ustar_split(
			    name, LITE_USTAR_CUT_LAST, &u.prefix);
			if (rc == -1) {
				fails++;
				continue;
			}
			lite_ustar_header(h, &u);
			sum = t_fnv(h, sizeof(h), sum);
		}
	}
	assert_int_equal(fails, 4);
	assert_int_equal(sum, 0x0cd25a18780dd3d7ULL);
}

static void
t_ustar_fields(void **state)
{
	unsigned char h[LITE_USTAR_BLOCK];
	const char *n = t_names[3];
	struct lite_ustar u = {
		.name = n, .type = '0', .mode = 0644, .size = 8ULL << 30
	};
	size_t first, last;
	unsigned sum = 0;

	(void)state;
	assert_int_equal(lite_ustar_split(n, LITE_USTAR_CUT_FIRST, &first), 0);
	assert_int_equal(lite_ustar_split(n, LITE_USTAR_CUT_LAST, &last), 0);
	assert_int_equal(first, 60);
	assert_int_equal(last, 109);
	u.prefix = last;
	lite_ustar_header(h, &u);
	assert_memory_equal(h + 345, n, last);
	assert_string_equal((const char *)h, n + last + 1);
	assert_string_equal((const char *)h + 100, "0000644");
	/* 8 GiB does not fit 11 octal digits: GNU base-256. */
	assert_int_equal(h[124], 0x80);
	assert_int_equal(h[131], 2);
	assert_memory_equal(h + 257,
	    "ustar\0"
	    "00",
	    8);
	for (int i = 0; i < LITE_USTAR_BLOCK; i++)
		sum += i >= 148 && i < 156 ? ' ' : h[i];
	assert_int_equal(strtoul((const char *)h + 148, NULL, 8), sum);
	assert_int_equal(h[155], ' ');
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(t_hex),
		cmocka_unit_test(t_dec),
		cmocka_unit_test(t_b64),
		cmocka_unit_test(t_http_header),
		cmocka_unit_test(t_ustar_agent),
		cmocka_unit_test(t_ustar_reg),
		cmocka_unit_test(t_ustar_fields),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
