/* Small string helpers: vectors, numbers, prefixes, times. */
#ifndef SOCKERLESS_STR_H
#define SOCKERLESS_STR_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

/* A NULL-terminated vector of owned strings. */
struct strv {
	char **v;
	size_t n;
};

void strv_init(struct strv *sv);
/* Appends a copy of s. */
void strv_add(struct strv *sv, const char *s);
/* Appends s, taking ownership. */
void strv_take(struct strv *sv, char *s);
void strv_free(struct strv *sv);
int strv_contains(const struct strv *sv, const char *s);

int str_prefix(const char *s, const char *prefix);
int str_suffix(const char *s, const char *suffix);
/* A whole decimal number in [min, max] (OpenBSD strtonum): the whole of s,
 * an optional sign and digits, no blanks. Returns -1 and sets *errstr (if
 * not NULL) to "invalid", "too small" or "too large" on failure. */
int str_tonum(const char *s, long long min, long long max, long long *out,
    const char **errstr);
/* The hex digits at the start of s (no sign, "0x" or blank) as a number in
 * [0, max]; *endp gets the first byte after them. -1 when there are none
 * or the value exceeds max (max >= 15). */
int str_tohex(const char *s, long long max, long long *out, const char **endp);
/* The status of an HTTP/1.x status line ("HTTP/1.1 101 Switching
 * Protocols"): 100-599, or -1 when the line is not one. */
int str_http_status(const char *line, int *status);
/* Copies at most size-1 bytes and NUL-terminates; returns strlen(src). */
size_t str_lcpy(char *dst, const char *src, size_t size);
/* Lowercase hex of len bytes into out (2*len+1 bytes): lite_hex
 * (sockerless/lite.h) in the base library's argument order. */
void str_hex(char *out, const unsigned char *p, size_t len);

/* Nanoseconds since the epoch, real time. */
int64_t str_now_ns(void);
/* Decodes base64 in either alphabet (standard or URL-safe), padding
 * optional, whitespace skipped. Returns a NUL-terminated copy owned by the
 * caller (*lenp bytes), or NULL when malformed. The decoding is
 * lite_b64_decode's (sockerless/lite.h). */
char *str_base64_decode(const char *s, size_t *lenp);
/* RFC 3339 with nanoseconds, UTC ("2024-01-02T03:04:05.123456789Z").
 * ns == 0 gives Docker's zero time "0001-01-01T00:00:00Z". out >= 40. */
void str_time_rfc3339(char *out, size_t size, int64_t ns);
/* Parses RFC 3339 (with or without fraction and zone) or Docker's
 * "seconds[.nanos]" form into ns since the epoch. -1 when malformed or
 * outside what int64 nanoseconds hold (1677-09-21 to 2262-04-11), except
 * Docker's zero time "0001-01-01T00:00:00Z", which gives 0. */
int str_time_parse(const char *s, int64_t *ns);
/* A time a cloud sent: RFC 3339 date-time with its zone ("Z", "+hh:mm" or
 * "+hhmm") and any number of fraction digits (past nanoseconds dropped),
 * into ns since the epoch; -1 when malformed, before 1970 or past what
 * int64 nanoseconds hold (2262). */
int64_t str_time_parse_cloud(const char *s);
/* What a time parameter takes, for error messages. */
#define STR_TIME_HINT                                               \
	"expected unix seconds (1700000000.5) or an RFC 3339 date " \
	"(2024-01-02T03:04:05Z) between 1678 and 2262"

#endif
