/* The sealed agent link's cryptography (docs/agent-link.md "The sealed
 * link"): ChaCha20-Poly1305 (RFC 8439), incremental SHA-256, HMAC-SHA256,
 * HKDF-SHA256 (RFC 5869), the handshake MACs and the session that seals
 * and opens link messages. libc only, no allocation: compiled into the
 * static agent as well as the backends. */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "sockerless/aglink_seal.h"
#include "sockerless/lite.h"

/* --- ChaCha20 (RFC 8439 2.3, 2.4) --------------------------------------- */

static uint32_t
le32(const unsigned char *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	    (uint32_t)p[3] << 24;
}

static void
put_le32(unsigned char *p, uint32_t v)
{
	p[0] = (unsigned char)v;
	p[1] = (unsigned char)(v >> 8);
	p[2] = (unsigned char)(v >> 16);
	p[3] = (unsigned char)(v >> 24);
}

static uint32_t
rotl(uint32_t x, int k)
{
	return x << k | x >> (32 - k);
}

/* The quarter round on x[a], x[b], x[c], x[d]; inlined so that the
 * state stays in registers. */
static inline __attribute__((always_inline)) void
qr(uint32_t *x, int a, int b, int c, int d)
{
	x[a] += x[b], x[d] ^= x[a], x[d] = rotl(x[d], 16);
	x[c] += x[d], x[b] ^= x[c], x[b] = rotl(x[b], 12);
	x[a] += x[b], x[d] ^= x[a], x[d] = rotl(x[d], 8);
	x[c] += x[d], x[b] ^= x[c], x[b] = rotl(x[b], 7);
}

static void
chacha_block(const uint32_t in[16], unsigned char out[64])
{
	uint32_t x[16];
	int i;

	memcpy(x, in, sizeof(x));
	for (i = 0; i < 10; i++) {
		qr(x, 0, 4, 8, 12);
		qr(x, 1, 5, 9, 13);
		qr(x, 2, 6, 10, 14);
		qr(x, 3, 7, 11, 15);
		qr(x, 0, 5, 10, 15);
		qr(x, 1, 6, 11, 12);
		qr(x, 2, 7, 8, 13);
		qr(x, 3, 4, 9, 14);
	}
	for (i = 0; i < 16; i++)
		put_le32(out + 4 * i, x[i] + in[i]);
}

void
aglink_chacha20(const unsigned char key[32], uint32_t counter,
    const unsigned char nonce[12], unsigned char *buf, size_t n)
{
	uint32_t st[16] = { 0x61707865, 0x3320646e, 0x79622d32, 0x6b206574 };
	unsigned char ks[64];
	size_t i, k;

	for (i = 0; i < 8; i++)
		st[4 + i] = le32(key + 4 * i);
	st[12] = counter;
	for (i = 0; i < 3; i++)
		st[13 + i] = le32(nonce + 4 * i);
	while (n > 0) {
		chacha_block(st, ks);
		k = n < 64 ? n : 64;
		for (i = 0; i < k; i++)
			buf[i] ^= ks[i];
		buf += k;
		n -= k;
		st[12]++;
	}
	aglink_wipe(ks, sizeof(ks));
	aglink_wipe(st, sizeof(st));
}

/* --- Poly1305 (RFC 8439 2.5), 26-bit limbs ------------------------------ */

struct poly {
	uint32_t r[5], h[5], pad[4];
};

static void
poly_init(struct poly *p, const unsigned char key[32])
{
	p->r[0] = le32(key) & 0x3ffffff;
	p->r[1] = (le32(key + 3) >> 2) & 0x3ffff03;
	p->r[2] = (le32(key + 6) >> 4) & 0x3ffc0ff;
	p->r[3] = (le32(key + 9) >> 6) & 0x3f03fff;
	p->r[4] = (le32(key + 12) >> 8) & 0x00fffff;
	memset(p->h, 0, sizeof(p->h));
	for (int i = 0; i < 4; i++)
		p->pad[i] = le32(key + 16 + 4 * i);
}

/* One 16-byte block; hibit 1 << 24 for full blocks, 0 for the padded
 * last one (its 0x01 byte is then in m). */
static void
poly_block(struct poly *p, const unsigned char m[16], uint32_t hibit)
{
	uint32_t r0 = p->r[0], r1 = p->r[1], r2 = p->r[2], r3 = p->r[3],
		 r4 = p->r[4];
	uint32_t s1 = r1 * 5, s2 = r2 * 5, s3 = r3 * 5, s4 = r4 * 5;
	uint32_t *h = p->h, c;
	uint64_t d0, d1, d2, d3, d4;

	h[0] += le32(m) & 0x3ffffff;
	h[1] += (le32(m + 3) >> 2) & 0x3ffffff;
	h[2] += (le32(m + 6) >> 4) & 0x3ffffff;
	h[3] += (le32(m + 9) >> 6) & 0x3ffffff;
	h[4] += (le32(m + 12) >> 8) | hibit;
	d0 = (uint64_t)h[0] * r0 + (uint64_t)h[1] * s4 + (uint64_t)h[2] * s3 +
	    (uint64_t)h[3] * s2 + (uint64_t)h[4] * s1;
	d1 = (uint64_t)h[0] * r1 + (uint64_t)h[1] * r0 + (uint64_t)h[2] * s4 +
	    (uint64_t)h[3] * s3 + (uint64_t)h[4] * s2;
	d2 = (uint64_t)h[0] * r2 + (uint64_t)h[1] * r1 + (uint64_t)h[2] * r0 +
	    (uint64_t)h[3] * s4 + (uint64_t)h[4] * s3;
	d3 = (uint64_t)h[0] * r3 + (uint64_t)h[1] * r2 + (uint64_t)h[2] * r1 +
	    (uint64_t)h[3] * r0 + (uint64_t)h[4] * s4;
	d4 = (uint64_t)h[0] * r4 + (uint64_t)h[1] * r3 + (uint64_t)h[2] * r2 +
	    (uint64_t)h[3] * r1 + (uint64_t)h[4] * r0;
	c = (uint32_t)(d0 >> 26), h[0] = (uint32_t)d0 & 0x3ffffff;
	d1 += c, c = (uint32_t)(d1 >> 26), h[1] = (uint32_t)d1 & 0x3ffffff;
	d2 += c, c = (uint32_t)(d2 >> 26), h[2] = (uint32_t)d2 & 0x3ffffff;
	d3 += c, c = (uint32_t)(d3 >> 26), h[3] = (uint32_t)d3 & 0x3ffffff;
	d4 += c, c = (uint32_t)(d4 >> 26), h[4] = (uint32_t)d4 & 0x3ffffff;
	h[0] += c * 5, c = h[0] >> 26, h[0] &= 0x3ffffff;
	h[1] += c;
}

/* Feeds m[0..n), the last partial block padded as RFC 8439 2.5.1 does
 * (zero: the AEAD's 16-byte padding, where the padding is data). */
static void
poly_feed(struct poly *p, const unsigned char *m, size_t n, int zero_pad)
{
	unsigned char blk[16];

	for (; n >= 16; m += 16, n -= 16)
		poly_block(p, m, 1u << 24);
	if (n == 0)
		return;
	memset(blk, 0, sizeof(blk));
	memcpy(blk, m, n);
	if (zero_pad) {
		poly_block(p, blk, 1u << 24);
		return;
	}
	blk[n] = 1;
	poly_block(p, blk, 0);
}

static void
poly_finish(struct poly *p, unsigned char tag[16])
{
	uint32_t *h = p->h, g[5], c, mask;
	uint64_t f;
	int i;

	c = h[1] >> 26, h[1] &= 0x3ffffff;
	h[2] += c, c = h[2] >> 26, h[2] &= 0x3ffffff;
	h[3] += c, c = h[3] >> 26, h[3] &= 0x3ffffff;
	h[4] += c, c = h[4] >> 26, h[4] &= 0x3ffffff;
	h[0] += c * 5, c = h[0] >> 26, h[0] &= 0x3ffffff;
	h[1] += c;
	/* g = h + 5 - 2^130: taken when h >= p, in constant time. */
	g[0] = h[0] + 5, c = g[0] >> 26, g[0] &= 0x3ffffff;
	for (i = 1; i < 5; i++)
		g[i] = h[i] + c, c = g[i] >> 26, g[i] &= 0x3ffffff;
	g[4] -= 1u << 26;
	mask = (g[4] >> 31) - 1; /* all ones when g did not go negative */
	for (i = 0; i < 5; i++)
		h[i] = (h[i] & ~mask) | (g[i] & mask);
	h[0] = h[0] | h[1] << 26;
	h[1] = h[1] >> 6 | h[2] << 20;
	h[2] = h[2] >> 12 | h[3] << 14;
	h[3] = h[3] >> 18 | h[4] << 8;
	f = (uint64_t)h[0] + p->pad[0];
	put_le32(tag, (uint32_t)f);
	for (i = 1; i < 4; i++) {
		f = (uint64_t)h[i] + p->pad[i] + (f >> 32);
		put_le32(tag + 4 * i, (uint32_t)f);
	}
	aglink_wipe(p, sizeof(*p));
}

void
aglink_poly1305(const unsigned char key[32], const unsigned char *m, size_t n,
    unsigned char tag[16])
{
	struct poly p;

	poly_init(&p, key);
	poly_feed(&p, m, n, 0);
	poly_finish(&p, tag);
}

/* --- the AEAD (RFC 8439 2.8) -------------------------------------------- */

static void
aead_tag(const unsigned char key[32], const unsigned char nonce[12],
    const unsigned char *aad, size_t alen, const unsigned char *ct, size_t n,
    unsigned char tag[16])
{
	unsigned char otk[64], lens[16];
	struct poly p;

	memset(otk, 0, sizeof(otk));
	aglink_chacha20(key, 0, nonce, otk, sizeof(otk));
	poly_init(&p, otk);
	poly_feed(&p, aad, alen, 1);
	poly_feed(&p, ct, n, 1);
	for (int i = 0; i < 8; i++) {
		lens[i] = (unsigned char)((uint64_t)alen >> (8 * i));
		lens[8 + i] = (unsigned char)((uint64_t)n >> (8 * i));
	}
	poly_block(&p, lens, 1u << 24);
	poly_finish(&p, tag);
	aglink_wipe(otk, sizeof(otk));
}

void
aglink_aead_seal(const unsigned char key[32], const unsigned char nonce[12],
    const unsigned char *aad, size_t alen, unsigned char *buf, size_t n,
    unsigned char tag[16])
{
	aglink_chacha20(key, 1, nonce, buf, n);
	aead_tag(key, nonce, aad, alen, buf, n, tag);
}

int
aglink_aead_open(const unsigned char key[32], const unsigned char nonce[12],
    const unsigned char *aad, size_t alen, unsigned char *buf, size_t n,
    const unsigned char tag[16])
{
	unsigned char want[16];
	int ok;

	aead_tag(key, nonce, aad, alen, buf, n, want);
	ok = aglink_ct_equal(want, tag, sizeof(want));
	aglink_wipe(want, sizeof(want));
	if (!ok)
		return -1;
	aglink_chacha20(key, 1, nonce, buf, n);
	return 0;
}

/* --- SHA-256, HMAC, HKDF ------------------------------------------------ */

void
aglink_sha256_init(struct aglink_sha256_ctx *c)
{
	static const uint32_t iv[8] = { 0x6a09e667, 0xbb67ae85, 0x3c6ef372,
		0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19 };

	memcpy(c->h, iv, sizeof(iv));
	c->len = 0;
	c->fill = 0;
}

void
aglink_sha256_update(struct aglink_sha256_ctx *c, const void *p, size_t n)
{
	const unsigned char *b = p;
	size_t k;

	c->len += n;
	while (n > 0) {
		k = 64 - c->fill < n ? 64 - c->fill : n;
		memcpy(c->blk + c->fill, b, k);
		c->fill += k;
		b += k;
		n -= k;
		if (c->fill == 64) {
			aglink_sha256_block(c->h, c->blk);
			c->fill = 0;
		}
	}
}

void
aglink_sha256_final(struct aglink_sha256_ctx *c, unsigned char out[32])
{
	uint64_t bits = c->len * 8;
	int i;

	c->blk[c->fill++] = 0x80;
	if (c->fill > 56) {
		memset(c->blk + c->fill, 0, 64 - c->fill);
		aglink_sha256_block(c->h, c->blk);
		c->fill = 0;
	}
	memset(c->blk + c->fill, 0, 56 - c->fill);
	for (i = 0; i < 8; i++)
		c->blk[56 + i] = (unsigned char)(bits >> (56 - 8 * i));
	aglink_sha256_block(c->h, c->blk);
	for (i = 0; i < 8; i++) {
		out[4 * i] = (unsigned char)(c->h[i] >> 24);
		out[4 * i + 1] = (unsigned char)(c->h[i] >> 16);
		out[4 * i + 2] = (unsigned char)(c->h[i] >> 8);
		out[4 * i + 3] = (unsigned char)c->h[i];
	}
	aglink_wipe(c, sizeof(*c));
}

void
aglink_hmac_sha256(const void *key, size_t klen, const void *const *parts,
    const size_t *lens, size_t nparts, unsigned char out[32])
{
	struct aglink_sha256_ctx c;
	unsigned char k[64], pad[64], inner[32];
	size_t i;

	memset(k, 0, sizeof(k));
	if (klen > sizeof(k))
		aglink_sha256(key, klen, k);
	else if (klen > 0)
		memcpy(k, key, klen);
	for (i = 0; i < 64; i++)
		pad[i] = k[i] ^ 0x36;
	aglink_sha256_init(&c);
	aglink_sha256_update(&c, pad, sizeof(pad));
	for (i = 0; i < nparts; i++)
		aglink_sha256_update(&c, parts[i], lens[i]);
	aglink_sha256_final(&c, inner);
	for (i = 0; i < 64; i++)
		pad[i] = k[i] ^ 0x5c;
	aglink_sha256_init(&c);
	aglink_sha256_update(&c, pad, sizeof(pad));
	aglink_sha256_update(&c, inner, sizeof(inner));
	aglink_sha256_final(&c, out);
	aglink_wipe(k, sizeof(k));
	aglink_wipe(pad, sizeof(pad));
	aglink_wipe(inner, sizeof(inner));
}

void
aglink_hkdf_extract(const void *salt, size_t slen, const void *ikm, size_t ilen,
    unsigned char prk[32])
{
	static const unsigned char zeros[32];
	const void *parts[1] = { ikm };
	size_t lens[1] = { ilen };

	if (salt == NULL || slen == 0)
		aglink_hmac_sha256(zeros, sizeof(zeros), parts, lens, 1, prk);
	else
		aglink_hmac_sha256(salt, slen, parts, lens, 1, prk);
}

int
aglink_hkdf_expand(const unsigned char prk[32], const void *info, size_t ilen,
    unsigned char *out, size_t olen)
{
	unsigned char t[32], ctr = 0;
	const void *parts[3];
	size_t lens[3], tlen = 0, k;

	if (olen > 255 * 32)
		return -1;
	while (olen > 0) {
		ctr++;
		parts[0] = t, lens[0] = tlen;
		parts[1] = info, lens[1] = ilen;
		parts[2] = &ctr, lens[2] = 1;
		aglink_hmac_sha256(prk, 32, parts, lens, 3, t);
		tlen = sizeof(t);
		k = olen < sizeof(t) ? olen : sizeof(t);
		memcpy(out, t, k);
		out += k;
		olen -= k;
	}
	aglink_wipe(t, sizeof(t));
	return 0;
}

void
aglink_wipe(void *p, size_t n)
{
	volatile unsigned char *v = p;

	while (n-- > 0)
		*v++ = 0;
}

/* --- the handshake ------------------------------------------------------ */

#define SEAL_LABEL "sockerless seal v1 "

/* K_auth = HKDF(salt none, IKM token bytes, info "... auth"). */
static int
seal_auth_key(const char *token_hex, unsigned char key[32])
{
	unsigned char tok[AGLINK_TOKEN_BYTES], prk[32];
	static const char info[] = SEAL_LABEL "auth";

	if (token_hex == NULL || strlen(token_hex) != AGLINK_TOKEN_HEX ||
	    lite_unhex(token_hex, tok, sizeof(tok)) == -1)
		return -1;
	aglink_hkdf_extract(NULL, 0, tok, sizeof(tok), prk);
	aglink_hkdf_expand(prk, info, sizeof(info) - 1, key, 32);
	aglink_wipe(tok, sizeof(tok));
	aglink_wipe(prk, sizeof(prk));
	return 0;
}

/* HMAC(K_auth, label 0x00 cid 0x00 na [nb]). */
static int
seal_mac(const char *token_hex, const char *label, const char *cid,
    const unsigned char *na, const unsigned char *nb, unsigned char mac[32])
{
	static const unsigned char zero = 0;
	unsigned char key[32];
	const void *parts[6] = { label, &zero, cid, &zero, na, nb };
	size_t lens[6] = { strlen(label), 1, strlen(cid), 1, AGLINK_SEAL_NONCE,
		AGLINK_SEAL_NONCE };

	if (seal_auth_key(token_hex, key) == -1)
		return -1;
	aglink_hmac_sha256(
	    key, sizeof(key), parts, lens, nb != NULL ? 6 : 5, mac);
	aglink_wipe(key, sizeof(key));
	return 0;
}

int
aglink_seal_hello_mac(const char *token_hex, const char *cid,
    const unsigned char na[AGLINK_SEAL_NONCE],
    unsigned char mac[AGLINK_SEAL_MAC])
{
	return seal_mac(token_hex, SEAL_LABEL "hello", cid, na, NULL, mac);
}

int
aglink_seal_accept_mac(const char *token_hex, const char *cid,
    const unsigned char na[AGLINK_SEAL_NONCE],
    const unsigned char nb[AGLINK_SEAL_NONCE],
    unsigned char mac[AGLINK_SEAL_MAC])
{
	return seal_mac(token_hex, SEAL_LABEL "accept", cid, na, nb, mac);
}

void
aglink_seal_params_format(char *out,
    const unsigned char nonce[AGLINK_SEAL_NONCE],
    const unsigned char mac[AGLINK_SEAL_MAC])
{
	char nh[2 * AGLINK_SEAL_NONCE + 1], mh[2 * AGLINK_SEAL_MAC + 1];

	lite_hex(nonce, AGLINK_SEAL_NONCE, nh);
	lite_hex(mac, AGLINK_SEAL_MAC, mh);
	snprintf(out, AGLINK_SEAL_PARAMS_LEN, "nonce=%s, mac=%s", nh, mh);
}

/* n bytes from the 2n hex digits at p, which must end there. */
static int
seal_unhex(const char *p, unsigned char *out, size_t n)
{
	int hi, lo;

	for (size_t i = 0; i < n; i++) {
		hi = lite_hexval((unsigned char)p[2 * i]);
		lo = hi < 0 ? -1 : lite_hexval((unsigned char)p[2 * i + 1]);
		if (hi < 0 || lo < 0)
			return -1;
		out[i] = (unsigned char)(hi << 4 | lo);
	}
	p += 2 * n;
	return *p == '\0' || *p == ',' || *p == ' ' || *p == '\t' ? 0 : -1;
}

/* One "name=<n bytes as hex>" parameter of s into out. */
static int
seal_param(const char *s, const char *name, unsigned char *out, size_t n)
{
	size_t nl = strlen(name);
	const char *p = s;

	while (*p != '\0') {
		p += strspn(p, " \t,");
		if (strncmp(p, name, nl) == 0 && p[nl] == '=')
			return seal_unhex(p + nl + 1, out, n);
		p += strcspn(p, ",");
	}
	return -1;
}

int
aglink_seal_params_parse(const char *s, unsigned char nonce[AGLINK_SEAL_NONCE],
    unsigned char mac[AGLINK_SEAL_MAC])
{
	if (seal_param(s, "nonce", nonce, AGLINK_SEAL_NONCE) == -1 ||
	    seal_param(s, "mac", mac, AGLINK_SEAL_MAC) == -1)
		return -1;
	return 0;
}

/* --- the session -------------------------------------------------------- */

int
aglink_seal_init(struct aglink_seal *s, int side, const char *token_hex,
    const unsigned char na[AGLINK_SEAL_NONCE],
    const unsigned char nb[AGLINK_SEAL_NONCE])
{
	static const char a2b[] = SEAL_LABEL "agent to backend",
			  b2a[] = SEAL_LABEL "backend to agent";
	unsigned char tok[AGLINK_TOKEN_BYTES], salt[2 * AGLINK_SEAL_NONCE],
	    prk[32], *ka, *kb;

	memset(s, 0, sizeof(*s));
	if (token_hex == NULL || strlen(token_hex) != AGLINK_TOKEN_HEX ||
	    lite_unhex(token_hex, tok, sizeof(tok)) == -1)
		return -1;
	memcpy(salt, na, AGLINK_SEAL_NONCE);
	memcpy(salt + AGLINK_SEAL_NONCE, nb, AGLINK_SEAL_NONCE);
	aglink_hkdf_extract(salt, sizeof(salt), tok, sizeof(tok), prk);
	ka = side == AGLINK_SEAL_AGENT ? s->key_tx : s->key_rx;
	kb = side == AGLINK_SEAL_AGENT ? s->key_rx : s->key_tx;
	aglink_hkdf_expand(prk, a2b, sizeof(a2b) - 1, ka, 32);
	aglink_hkdf_expand(prk, b2a, sizeof(b2a) - 1, kb, 32);
	s->dir_tx =
	    side == AGLINK_SEAL_AGENT ? AGLINK_SEAL_AGENT : AGLINK_SEAL_BACKEND;
	s->dir_rx =
	    side == AGLINK_SEAL_AGENT ? AGLINK_SEAL_BACKEND : AGLINK_SEAL_AGENT;
	aglink_wipe(tok, sizeof(tok));
	aglink_wipe(prk, sizeof(prk));
	return 0;
}

/* nonce = direction (4 bytes, big-endian) || counter (8, big-endian). */
static void
seal_nonce(uint32_t dir, uint64_t ctr, unsigned char nonce[12])
{
	int i;

	aglink_put_u32(nonce, dir);
	for (i = 0; i < 8; i++)
		nonce[4 + i] = (unsigned char)(ctr >> (56 - 8 * i));
}

int
aglink_seal_seal(
    struct aglink_seal *s, unsigned char *buf, size_t n, unsigned char *tag)
{
	unsigned char nonce[12];

	if (s->ctr_tx == UINT64_MAX)
		return -1;
	seal_nonce(s->dir_tx, s->ctr_tx++, nonce);
	aglink_aead_seal(s->key_tx, nonce, NULL, 0, buf, n, tag);
	return 0;
}

int
aglink_seal_open(struct aglink_seal *s, unsigned char *buf, size_t n)
{
	unsigned char nonce[12];

	if (n < AGLINK_SEAL_TAG || s->ctr_rx == UINT64_MAX)
		return -1;
	seal_nonce(s->dir_rx, s->ctr_rx, nonce);
	n -= AGLINK_SEAL_TAG;
	if (aglink_aead_open(s->key_rx, nonce, NULL, 0, buf, n, buf + n) == -1)
		return -1;
	s->ctr_rx++;
	return 0;
}

void
aglink_seal_wipe(struct aglink_seal *s)
{
	aglink_wipe(s, sizeof(*s));
}
