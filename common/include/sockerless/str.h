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
/* strtoll with range checks; returns -1 and sets *errstr (if not NULL)
 * on failure. */
int str_tonum(const char *s, long long min, long long max, long long *out,
    const char **errstr);
/* Copies at most size-1 bytes and NUL-terminates; returns strlen(src). */
size_t str_lcpy(char *dst, const char *src, size_t size);
/* Lowercase hex of len bytes into out (2*len+1 bytes). */
void str_hex(char *out, const unsigned char *p, size_t len);

/* Nanoseconds since the epoch, real time. */
int64_t str_now_ns(void);
/* Decodes base64 in either alphabet (standard or URL-safe), padding
 * optional, whitespace skipped. Returns a NUL-terminated copy owned by the
 * caller (*lenp bytes), or NULL when malformed. */
char *str_base64_decode(const char *s, size_t *lenp);
/* RFC 3339 with nanoseconds, UTC ("2024-01-02T03:04:05.123456789Z").
 * ns == 0 gives Docker's zero time "0001-01-01T00:00:00Z". out >= 40. */
void str_time_rfc3339(char *out, size_t size, int64_t ns);
/* Parses RFC 3339 (with or without fraction and zone) or Docker's
 * "seconds[.nanos]" form into ns since the epoch. -1 on error. */
int str_time_parse(const char *s, int64_t *ns);

#endif
