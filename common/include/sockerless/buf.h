/* A growable byte buffer with a hard upper bound, for untrusted input. */
#ifndef SOCKERLESS_BUF_H
#define SOCKERLESS_BUF_H

#include <stddef.h>

struct buf {
	char *data; /* always NUL-terminated when not NULL */
	size_t len;
	size_t cap;
	size_t max; /* 0 means unbounded */
};

void buf_init(struct buf *b, size_t max);
/* Returns -1 (and appends nothing) when the bound would be passed. */
int buf_add(struct buf *b, const void *p, size_t len);
int buf_adds(struct buf *b, const char *s);
int buf_addf(struct buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void buf_reset(struct buf *b);
/* Returns the contents (NUL-terminated, caller frees) and empties b. */
char *buf_take(struct buf *b, size_t *lenp);
void buf_free(struct buf *b);

#endif
