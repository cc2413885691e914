/* The sealed agent link (reverse mode, docs/agent-link.md "The sealed
 * link"): ChaCha20-Poly1305 (RFC 8439), HMAC-SHA256 and HKDF-SHA256 (RFC
 * 5869), the handshake's MACs and the per-direction session state that
 * seals and opens every link message. One source
 * (common/aglink/aglink_seal.c), compiled into the backends' libsk_aglink
 * and into the static agent: libc only, no allocation. */
#ifndef SOCKERLESS_AGLINK_SEAL_H
#define SOCKERLESS_AGLINK_SEAL_H

#include <stddef.h>
#include <stdint.h>

#include "sockerless/aglink_wire.h"

#define AGLINK_SEAL_TAG	  16 /* Poly1305 tag after each sealed payload */
#define AGLINK_SEAL_NONCE 32 /* each side's handshake nonce */
#define AGLINK_SEAL_MAC	  32 /* HMAC-SHA256 */
/* The agent's Authorization scheme and the backend's 101 header. */
#define AGLINK_SEAL_SCHEME "Sockerless-Seal"
#define AGLINK_SEAL_HEADER "Sockerless-Seal"
/* Largest sealed WebSocket message: AGLINK_MAX_MESSAGE counts the
 * plaintext. */
#define AGLINK_SEALED_MAX (AGLINK_MAX_MESSAGE + AGLINK_SEAL_TAG)
/* "nonce=<64 hex>, mac=<64 hex>" and its NUL. */
#define AGLINK_SEAL_PARAMS_LEN (6 + 64 + 6 + 64 + 1)

/* --- primitives --------------------------------------------------------- */

/* XORs buf[0..n) with the ChaCha20 key stream (RFC 8439 2.4) of key and
 * nonce from block counter on. */
void aglink_chacha20(const unsigned char key[32], uint32_t counter,
    const unsigned char nonce[12], unsigned char *buf, size_t n);

/* The Poly1305 tag (RFC 8439 2.5) of m[0..n) under the one-time key. */
void aglink_poly1305(const unsigned char key[32], const unsigned char *m,
    size_t n, unsigned char tag[16]);

/* AEAD_CHACHA20_POLY1305 (RFC 8439 2.8): encrypts buf[0..n) in place and
 * writes the tag. */
void aglink_aead_seal(const unsigned char key[32],
    const unsigned char nonce[12], const unsigned char *aad, size_t alen,
    unsigned char *buf, size_t n, unsigned char tag[16]);

/* Checks tag (in constant time) before anything is decrypted: 0 and
 * buf[0..n) decrypted in place, or -1 with buf untouched. */
int aglink_aead_open(const unsigned char key[32], const unsigned char nonce[12],
    const unsigned char *aad, size_t alen, unsigned char *buf, size_t n,
    const unsigned char tag[16]);

/* Incremental SHA-256 (on aglink_wire.c's compression function). */
struct aglink_sha256_ctx {
	uint32_t h[8];
	uint64_t len;
	unsigned char blk[64];
	size_t fill;
};
void aglink_sha256_init(struct aglink_sha256_ctx *c);
void aglink_sha256_update(struct aglink_sha256_ctx *c, const void *p, size_t n);
void aglink_sha256_final(struct aglink_sha256_ctx *c, unsigned char out[32]);

/* HMAC-SHA256 (RFC 2104) over the concatenation of parts[0..nparts)
 * (lens alongside). */
void aglink_hmac_sha256(const void *key, size_t klen, const void *const *parts,
    const size_t *lens, size_t nparts, unsigned char out[32]);

/* HKDF-SHA256 (RFC 5869): extract into prk, expand prk into out (olen at
 * most 255 * 32; -1 otherwise). */
void aglink_hkdf_extract(const void *salt, size_t slen, const void *ikm,
    size_t ilen, unsigned char prk[32]);
int aglink_hkdf_expand(const unsigned char prk[32], const void *info,
    size_t ilen, unsigned char *out, size_t olen);

/* Overwrites n bytes in a way the compiler keeps. */
void aglink_wipe(void *p, size_t n);

/* --- the handshake and the session -------------------------------------- */

/* The agent's MAC of its upgrade request: HMAC(K_auth, "sockerless seal v1
 * hello" 0x00 cid 0x00 na). -1 when token_hex is not 64 hex. */
int aglink_seal_hello_mac(const char *token_hex, const char *cid,
    const unsigned char na[AGLINK_SEAL_NONCE],
    unsigned char mac[AGLINK_SEAL_MAC]);

/* The backend's MAC in its 101: HMAC(K_auth, "sockerless seal v1 accept"
 * 0x00 cid 0x00 na nb). -1 when token_hex is not 64 hex. */
int aglink_seal_accept_mac(const char *token_hex, const char *cid,
    const unsigned char na[AGLINK_SEAL_NONCE],
    const unsigned char nb[AGLINK_SEAL_NONCE],
    unsigned char mac[AGLINK_SEAL_MAC]);

/* Formats "nonce=<hex>, mac=<hex>" into out (AGLINK_SEAL_PARAMS_LEN). */
void aglink_seal_params_format(char *out,
    const unsigned char nonce[AGLINK_SEAL_NONCE],
    const unsigned char mac[AGLINK_SEAL_MAC]);

/* Parses "nonce=<64 hex>, mac=<64 hex>" (either order, spaces allowed
 * after commas); 0, or -1 when either is missing or malformed. */
int aglink_seal_params_parse(const char *s,
    unsigned char nonce[AGLINK_SEAL_NONCE], unsigned char mac[AGLINK_SEAL_MAC]);

/* One side's session: a key and a message counter per direction. */
struct aglink_seal {
	unsigned char key_tx[32], key_rx[32];
	uint32_t dir_tx, dir_rx;
	uint64_t ctr_tx, ctr_rx;
};

enum { AGLINK_SEAL_AGENT = 1, AGLINK_SEAL_BACKEND = 2 };

/* Derives the session keys from the token and both nonces, for side
 * (AGLINK_SEAL_AGENT or AGLINK_SEAL_BACKEND). -1 when token_hex is not 64
 * hex. */
int aglink_seal_init(struct aglink_seal *s, int side, const char *token_hex,
    const unsigned char na[AGLINK_SEAL_NONCE],
    const unsigned char nb[AGLINK_SEAL_NONCE]);

/* Seals the next outgoing message: buf[0..n) encrypted in place, its tag
 * into tag. -1 (nothing done) when the counter would wrap: the link must
 * end. */
int aglink_seal_seal(
    struct aglink_seal *s, unsigned char *buf, size_t n, unsigned char *tag);

/* Opens the next incoming message buf[0..n) (ciphertext then tag): 0 with
 * buf[0..n - AGLINK_SEAL_TAG) the plaintext, or -1 (forged, replayed,
 * reordered, dropped before, or too short): the link must end. */
int aglink_seal_open(struct aglink_seal *s, unsigned char *buf, size_t n);

/* Wipes the keys. */
void aglink_seal_wipe(struct aglink_seal *s);

#endif
