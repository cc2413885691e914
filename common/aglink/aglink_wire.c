/* The agent link's wire format (docs/agent-link.md), shared verbatim by
 * the backends (libcommon) and the static agent: libc only, no
 * allocation, no global state. */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "sockerless/aglink_wire.h"
#include "sockerless/lite.h"

#define WS_GUID "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

int
ws_parse_header(const unsigned char *buf, size_t n, struct ws_frame *f)
{
	size_t need = 2;
	uint64_t len;
	int i;

	if (n < 2)
		return 0;
	if ((buf[0] & 0x70) != 0)
		return -1; /* RSV bits: no extension was negotiated */
	f->fin = (buf[0] & 0x80) != 0;
	f->opcode = buf[0] & 0x0F;
	f->masked = (buf[1] & 0x80) != 0;
	len = buf[1] & 0x7F;
	switch (f->opcode) {
	case WS_CONT:
	case WS_TEXT:
	case WS_BINARY:
		break;
	case WS_CLOSE:
	case WS_PING:
	case WS_PONG:
		if (!f->fin || len > 125)
			return -1;
		break;
	default:
		return -1;
	}
	if (len == 126)
		need += 2;
	else if (len == 127)
		need += 8;
	if (f->masked)
		need += 4;
	if (n < need)
		return 0;
	if (len == 126) {
		len = (uint64_t)buf[2] << 8 | buf[3];
	} else if (len == 127) {
		len = 0;
		for (i = 0; i < 8; i++)
			len = len << 8 | buf[2 + i];
		if (len >> 63)
			return -1;
	}
	if (f->masked)
		memcpy(f->mask, buf + need - 4, 4);
	else
		memset(f->mask, 0, 4);
	f->len = len;
	f->header_len = need;
	return 1;
}

size_t
ws_build_header(
    unsigned char *out, int opcode, uint64_t len, const unsigned char *mask)
{
	size_t n = 2;
	int i;

	out[0] = (unsigned char)(0x80 | (opcode & 0x0F));
	if (len < 126) {
		out[1] = (unsigned char)len;
	} else if (len <= 0xFFFF) {
		out[1] = 126;
		out[2] = (unsigned char)(len >> 8);
		out[3] = (unsigned char)len;
		n = 4;
	} else {
		out[1] = 127;
		for (i = 0; i < 8; i++)
			out[2 + i] = (unsigned char)(len >> (56 - 8 * i));
		n = 10;
	}
	if (mask != NULL) {
		out[1] |= 0x80;
		memcpy(out + n, mask, 4);
		n += 4;
	}
	return n;
}

void
ws_mask(unsigned char *buf, size_t n, const unsigned char mask[4], uint64_t off)
{
	size_t i;

	for (i = 0; i < n; i++)
		buf[i] ^= mask[(off + i) & 3];
}

/* SHA-1 (FIPS 180-4), only for the handshake's accept key. */
struct sha1 {
	uint32_t h[5];
	uint64_t len;
	unsigned char blk[64];
	size_t fill;
};

static uint32_t
rol32(uint32_t x, int k)
{
	return x << k | x >> (32 - k);
}

static void
sha1_block(struct sha1 *s, const unsigned char *p)
{
	uint32_t w[80], a, b, c, d, e, t;
	int i;

	for (i = 0; i < 16; i++)
		w[i] = (uint32_t)p[4 * i] << 24 | (uint32_t)p[4 * i + 1] << 16 |
		    (uint32_t)p[4 * i + 2] << 8 | p[4 * i + 3];
	for (i = 16; i < 80; i++)
		w[i] = rol32(w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16], 1);
	a = s->h[0], b = s->h[1], c = s->h[2], d = s->h[3], e = s->h[4];
	for (i = 0; i < 80; i++) {
		uint32_t f, k;
		if (i < 20)
			f = (b & c) | (~b & d), k = 0x5A827999;
		else if (i < 40)
			f = b ^ c ^ d, k = 0x6ED9EBA1;
		else if (i < 60)
			f = (b & c) | (b & d) | (c & d), k = 0x8F1BBCDC;
		else
			f = b ^ c ^ d, k = 0xCA62C1D6;
		t = rol32(a, 5) + f + e + k + w[i];
		e = d, d = c, c = rol32(b, 30), b = a, a = t;
	}
	s->h[0] += a, s->h[1] += b, s->h[2] += c, s->h[3] += d, s->h[4] += e;
}

/* SHA-256 (FIPS 180-4), for the token check. */
struct sha256 {
	uint32_t h[8];
	uint64_t len;
	unsigned char blk[64];
	size_t fill;
};

static const uint32_t sha256_k[64] = { 0x428a2f98, 0x71374491, 0xb5c0fbcf,
	0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5, 0xd807aa98,
	0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7,
	0xc19bf174, 0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f,
	0x4a7484aa, 0x5cb0a9dc, 0x76f988da, 0x983e5152, 0xa831c66d, 0xb00327c8,
	0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967, 0x27b70a85,
	0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e,
	0x92722c85, 0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819,
	0xd6990624, 0xf40e3585, 0x106aa070, 0x19a4c116, 0x1e376c08, 0x2748774c,
	0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3, 0x748f82ee,
	0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7,
	0xc67178f2 };

static uint32_t
ror32(uint32_t x, int k)
{
	return x >> k | x << (32 - k);
}

static void
sha256_block(struct sha256 *s, const unsigned char *p)
{
	uint32_t w[64], v[8], t1, t2;
	int i;

	for (i = 0; i < 16; i++)
		w[i] = (uint32_t)p[4 * i] << 24 | (uint32_t)p[4 * i + 1] << 16 |
		    (uint32_t)p[4 * i + 2] << 8 | p[4 * i + 3];
	for (i = 16; i < 64; i++) {
		uint32_t s0 = ror32(w[i - 15], 7) ^ ror32(w[i - 15], 18) ^
		    (w[i - 15] >> 3);
		uint32_t s1 = ror32(w[i - 2], 17) ^ ror32(w[i - 2], 19) ^
		    (w[i - 2] >> 10);
		w[i] = w[i - 16] + s0 + w[i - 7] + s1;
	}
	memcpy(v, s->h, sizeof(v));
	for (i = 0; i < 64; i++) {
		t1 = v[7] +
		    (ror32(v[4], 6) ^ ror32(v[4], 11) ^ ror32(v[4], 25)) +
		    ((v[4] & v[5]) ^ (~v[4] & v[6])) + sha256_k[i] + w[i];
		t2 = (ror32(v[0], 2) ^ ror32(v[0], 13) ^ ror32(v[0], 22)) +
		    ((v[0] & v[1]) ^ (v[0] & v[2]) ^ (v[1] & v[2]));
		memmove(v + 1, v, 7 * sizeof(v[0]));
		v[4] += t1;
		v[0] = t1 + t2;
	}
	for (i = 0; i < 8; i++)
		s->h[i] += v[i];
}

/* Merkle-Damgard padding shared by both: feeds buf, pads, and leaves the
 * big-endian state words in out (nwords of them). */
static void
md_run(void *st, uint32_t *h, unsigned char *blk,
    void (*block)(void *, const unsigned char *), const void *buf, size_t n,
    unsigned char *out, int nwords)
{
	const unsigned char *p = buf;
	uint64_t bits = (uint64_t)n * 8;
	size_t fill = 0;
	int i;

	while (n >= 64) {
		block(st, p);
		p += 64;
		n -= 64;
	}
	memcpy(blk, p, n);
	fill = n;
	blk[fill++] = 0x80;
	if (fill > 56) {
		memset(blk + fill, 0, 64 - fill);
		block(st, blk);
		fill = 0;
	}
	memset(blk + fill, 0, 56 - fill);
	for (i = 0; i < 8; i++)
		blk[56 + i] = (unsigned char)(bits >> (56 - 8 * i));
	block(st, blk);
	for (i = 0; i < nwords; i++) {
		out[4 * i] = (unsigned char)(h[i] >> 24);
		out[4 * i + 1] = (unsigned char)(h[i] >> 16);
		out[4 * i + 2] = (unsigned char)(h[i] >> 8);
		out[4 * i + 3] = (unsigned char)h[i];
	}
}

static void
sha1_block_v(void *s, const unsigned char *p)
{
	sha1_block(s, p);
}

static void
sha256_block_v(void *s, const unsigned char *p)
{
	sha256_block(s, p);
}

/* One SHA-256 compression of blk into h (aglink_seal.c's incremental
 * SHA-256 and HMAC build on it). */
void
aglink_sha256_block(uint32_t h[8], const unsigned char blk[64])
{
	struct sha256 s;

	memcpy(s.h, h, sizeof(s.h));
	sha256_block(&s, blk);
	memcpy(h, s.h, sizeof(s.h));
}

void
aglink_sha1(const void *buf, size_t n, unsigned char out[20])
{
	struct sha1 s = { { 0x67452301, 0xEFCDAB89, 0x98BADCFE, 0x10325476,
			      0xC3D2E1F0 },
		0, { 0 }, 0 };

	md_run(&s, s.h, s.blk, sha1_block_v, buf, n, out, 5);
}

void
aglink_sha256(const void *buf, size_t n, unsigned char out[32])
{
	struct sha256 s = { { 0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
				0x510e527f, 0x9b05688c, 0x1f83d9ab,
				0x5be0cd19 },
		0, { 0 }, 0 };

	md_run(&s, s.h, s.blk, sha256_block_v, buf, n, out, 8);
}

void
ws_accept_key(const char *key, char out[29])
{
	char buf[128];
	unsigned char md[20];
	int n;

	n = snprintf(buf, sizeof(buf), "%s%s", key, WS_GUID);
	if (n < 0 || (size_t)n >= sizeof(buf))
		n = 0; /* an absurd key: an accept value nobody matches */
	aglink_sha1(buf, (size_t)n, md);
	lite_b64_encode(md, sizeof(md), out);
}

int
aglink_ct_equal(const void *a, const void *b, size_t n)
{
	const volatile unsigned char *x = a, *y = b;
	unsigned char d = 0;
	size_t i;

	for (i = 0; i < n; i++)
		d |= x[i] ^ y[i];
	return d == 0;
}

int
aglink_token_check(const char *token_hex, const char *sha256_hex)
{
	unsigned char tok[AGLINK_TOKEN_BYTES], want[32], got[32];

	if (token_hex == NULL || sha256_hex == NULL ||
	    lite_unhex(token_hex, tok, sizeof(tok)) == -1 ||
	    lite_unhex(sha256_hex, want, sizeof(want)) == -1)
		return 0;
	aglink_sha256(tok, sizeof(tok), got);
	return aglink_ct_equal(got, want, sizeof(got));
}

void
aglink_put_u32(unsigned char *p, uint32_t v)
{
	p[0] = (unsigned char)(v >> 24);
	p[1] = (unsigned char)(v >> 16);
	p[2] = (unsigned char)(v >> 8);
	p[3] = (unsigned char)v;
}

uint32_t
aglink_get_u32(const unsigned char *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	    (uint32_t)p[2] << 8 | p[3];
}

void
aglink_put_header(
    unsigned char out[AGLINK_HEADER], int type, int stream, uint32_t channel)
{
	out[0] = (unsigned char)type;
	out[1] = (unsigned char)stream;
	out[2] = 0;
	out[3] = 0;
	aglink_put_u32(out + 4, channel);
}

int
aglink_parse(const unsigned char *buf, size_t n, struct aglink_msg *m)
{
	if (n < AGLINK_HEADER || buf[0] < AGLINK_HELLO ||
	    buf[0] > AGLINK_CONNECT)
		return -1;
	m->type = buf[0];
	m->stream = buf[1];
	m->channel = aglink_get_u32(buf + 4);
	m->payload = buf + AGLINK_HEADER;
	m->len = n - AGLINK_HEADER;
	return 0;
}
