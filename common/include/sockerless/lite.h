/*
 * lite: libc-only helpers compiled into both libcommon and the static
 * agent (which links nothing but libc), so each exists once: hex, base64,
 * a header field of a raw HTTP head, and a ustar header block.
 * Nothing here allocates.
 */
#ifndef SOCKERLESS_LITE_H
#define SOCKERLESS_LITE_H

#include <stddef.h>
#include <stdint.h>

/* lite_hex.c */
/* Lower-case hex of n bytes into out (2n + 1 bytes, NUL-terminated). */
void lite_hex(const unsigned char *in, size_t n, char *out);
/* The value of one hex digit (either case), or -1. */
int lite_hexval(int ch);
/* Decodes exactly n bytes from s, which must be 2n hex digits long
 * (either case); 0, or -1 (out is then unspecified). */
int lite_unhex(const char *s, unsigned char *out, size_t n);
/* How many lower-case hex digits s starts with. */
size_t lite_hex_span(const char *s);
/* v in decimal at the start of out (LITE_DEC_MAX bytes, no NUL); returns
 * the number of digits. */
#define LITE_DEC_MAX 20
size_t lite_dec(unsigned long v, char *out);

/* lite_b64.c: RFC 4648 base64. */
/* Encoded length of n bytes with padding (no NUL). */
size_t lite_b64_len(size_t n);
/* Writes lite_b64_len(n) bytes of standard base64 with padding to out and
 * a NUL after them; returns the length without the NUL. */
size_t lite_b64_encode(const unsigned char *in, size_t n, char *out);
/* Decodes s[0..n), standard or URL-safe alphabet, padding optional, CR,
 * LF and space skipped, into out (n / 4 * 3 + 3 bytes suffice); returns
 * the decoded length, or -1 when s is not base64. */
long lite_b64_decode(const char *s, size_t n, unsigned char *out);

/* lite_http.c */
/* The value of header name (case-insensitive, blanks around it trimmed)
 * in a request or answer head (NUL-terminated, "\r\n"-separated lines,
 * the first being the request or status line) copied into out; 0, or -1
 * when absent or when it does not fit in outsz. */
int lite_http_header(
    const char *head, const char *name, char *out, size_t outsz);
/* 1 when the comma-separated list has token (case-insensitive). */
int lite_http_has_token(const char *list, const char *token);

/* lite_ustar.c */
#define LITE_USTAR_BLOCK 512
/* Which '/' splits a name over 100 bytes into ustar's prefix and name
 * when several fit: the first (the agent's docker cp) or the last (Go's
 * archive/tar, the registry layers). */
enum lite_ustar_cut { LITE_USTAR_CUT_FIRST, LITE_USTAR_CUT_LAST };
/* Where name splits into prefix (name[0..*prefix)) and name (after the
 * '/'); *prefix is 0 when name fits whole. 0, or -1 when it cannot be
 * split (a PAX or GNU long name is needed). */
int lite_ustar_split(const char *name, enum lite_ustar_cut cut, size_t *prefix);
/* One header's fields; strings may be NULL (empty). */
struct lite_ustar {
	const char *name; /* whole name; prefix as lite_ustar_split gave */
	size_t prefix;
	const char *link;
	const char *uname, *gname;
	char type; /* '0' file, '5' directory, 'x' PAX, ... */
	uint64_t mode, uid, gid, size, mtime;
	uint64_t devmajor, devminor; /* written for types '3' and '4' */
};
/* Fills the 512-byte block h: numbers in octal, or GNU base-256 when they
 * do not fit; magic "ustar\0" version "00"; the checksum last. */
void lite_ustar_header(unsigned char *h, const struct lite_ustar *u);

#endif
