/* Allocation wrappers that abort on failure, so no caller carries an
 * out-of-memory branch that is never tested. */
#ifndef SOCKERLESS_XMALLOC_H
#define SOCKERLESS_XMALLOC_H

#include <stddef.h>

/* returns_nonnull: they abort instead, which lets the compiler and
 * clang-tidy's analyzer drop impossible NULL paths. */
#define XMALLOC_NONNULL __attribute__((returns_nonnull))

void *xmalloc(size_t) XMALLOC_NONNULL;
void *xcalloc(size_t, size_t) XMALLOC_NONNULL;
void *xrealloc(void *, size_t);
void *xreallocarray(void *, size_t, size_t);
/* Returns a new copy of s, owned by the caller. xstrdup(NULL) is NULL. */
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
/* Returns a new formatted string, owned by the caller. */
char *xasprintf(const char *fmt, ...)
    __attribute__((format(printf, 1, 2))) XMALLOC_NONNULL;

#endif
