/* The agent link's wire format: WebSocket (RFC 6455) framing, the opening
 * handshake's key, and the link message header carried in each binary
 * WebSocket message. One source (common/aglink/aglink_wire.c), compiled
 * into the backends' libsk_aglink and into the static agent: libc only, no
 * allocation. docs/agent-link.md is the contract. */
#ifndef SOCKERLESS_AGLINK_WIRE_H
#define SOCKERLESS_AGLINK_WIRE_H

#include <stddef.h>
#include <stdint.h>

#define AGLINK_PORT	9111
#define AGLINK_PATH	"/sockerless/v1/link"
#define AGLINK_PROTOCOL "sockerless.v1"
/* Per channel and direction: DATA payload bytes sent and not credited. */
#define AGLINK_WINDOW (256 * 1024)
/* Largest WebSocket message either side sends or accepts. */
#define AGLINK_MAX_MESSAGE (AGLINK_WINDOW + 64 * 1024)
#define AGLINK_TOKEN_BYTES 32
#define AGLINK_TOKEN_HEX   (AGLINK_TOKEN_BYTES * 2)

/* WebSocket opcodes. */
enum {
	WS_CONT = 0x0,
	WS_TEXT = 0x1,
	WS_BINARY = 0x2,
	WS_CLOSE = 0x8,
	WS_PING = 0x9,
	WS_PONG = 0xA
};

struct ws_frame {
	int fin;
	int opcode;
	int masked;
	unsigned char mask[4];
	uint64_t len;	   /* payload length */
	size_t header_len; /* bytes of header before the payload */
};

/*
 * Parses a frame header from buf[0..n). Returns 1 with *f filled when the
 * whole header is there, 0 when more bytes are needed, -1 on a protocol
 * error (reserved bits, a control frame over 125 bytes or fragmented, a
 * 64-bit length with the top bit set, an unknown opcode).
 */
int ws_parse_header(const unsigned char *buf, size_t n, struct ws_frame *f);

/*
 * Writes a frame header (FIN set) for a payload of len bytes into out (at
 * least 14 bytes); mask NULL for an unmasked frame (server to client),
 * else the 4 mask bytes (client to server: the caller masks the payload
 * with ws_mask). Returns the header length.
 */
size_t ws_build_header(
    unsigned char *out, int opcode, uint64_t len, const unsigned char *mask);

/* XORs buf[0..n) with mask, where buf starts at payload offset off. */
void ws_mask(
    unsigned char *buf, size_t n, const unsigned char mask[4], uint64_t off);

/* Sec-WebSocket-Accept for key: base64(SHA-1(key GUID)); out holds 29
 * bytes (28 + NUL). */
void ws_accept_key(const char *key, char out[29]);

/* SHA-1 and SHA-256 of buf[0..n). */
void aglink_sha1(const void *buf, size_t n, unsigned char out[20]);
void aglink_sha256(const void *buf, size_t n, unsigned char out[32]);
/* One SHA-256 compression of a 64-byte block into the state h. */
void aglink_sha256_block(uint32_t h[8], const unsigned char blk[64]);

/* 1 when a and b (n bytes each) are equal, in time independent of where
 * they differ. */
int aglink_ct_equal(const void *a, const void *b, size_t n);

/*
 * Checks a presented token (64 hex characters) against the SHA-256 the
 * workload was given (64 hex characters): 1 when SHA-256(token bytes)
 * equals it, compared in constant time; 0 otherwise (also when either is
 * malformed).
 */
int aglink_token_check(const char *token_hex, const char *sha256_hex);

/* Link messages: one per binary WebSocket message. */
enum aglink_type {
	AGLINK_HELLO = 1,  /* a->b, channel 0, JSON */
	AGLINK_OPEN = 2,   /* b->a, JSON request */
	AGLINK_DATA = 3,   /* both, stream byte, raw bytes */
	AGLINK_EOF = 4,	   /* both, stream byte: that stream has ended */
	AGLINK_CREDIT = 5, /* both, 4-byte big-endian count of bytes consumed */
	AGLINK_RESULT = 6, /* a->b, JSON; the channel's last message */
	AGLINK_CLOSE = 7,  /* b->a, the backend abandons the channel */
	AGLINK_RESIZE = 8, /* b->a, 2-byte rows + 2-byte cols, big-endian */
	AGLINK_META = 9,   /* a->b, JSON sent before DATA (archive stat) */
	AGLINK_EVENT = 10, /* a->b, channel 0, JSON (main exit, health) */
	AGLINK_CONNECT = 11 /* a->b, JSON: the agent opens a relay channel */
};

/* Channels the agent opens (CONNECT) have the high bit set; the backend's
 * stay below it. */
#define AGLINK_AGENT_CHAN 0x80000000u

/* Streams in DATA / EOF, as Docker numbers them. */
enum { AGLINK_STDIN = 0, AGLINK_STDOUT = 1, AGLINK_STDERR = 2 };

#define AGLINK_HEADER 8

struct aglink_msg {
	int type;
	int stream;
	uint32_t channel;
	const unsigned char *payload; /* into the parsed buffer */
	size_t len;
};

/* Writes the 8-byte message header: type, stream, 0, 0, channel (BE). */
void aglink_put_header(
    unsigned char out[AGLINK_HEADER], int type, int stream, uint32_t channel);

/* Parses buf[0..n) (one whole WebSocket message payload). Returns 0, or -1
 * when it is shorter than the header or the type is unknown. */
int aglink_parse(const unsigned char *buf, size_t n, struct aglink_msg *m);

/* Big-endian helpers. */
void aglink_put_u32(unsigned char *p, uint32_t v);
uint32_t aglink_get_u32(const unsigned char *p);

#endif
