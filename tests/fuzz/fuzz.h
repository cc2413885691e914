/* The libFuzzer entry points every harness defines (tests/fuzz/fuzz_*.c),
 * and helpers they share. docs/fuzzing.md says how they are run. */
#ifndef SOCKERLESS_FUZZ_H
#define SOCKERLESS_FUZZ_H
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

/* A NUL-terminated copy of data (the caller frees it): most parsers take
 * C strings. */
static inline char *
fuzz_str(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1);

	if (s == NULL)
		abort();
	memcpy(s, data, size);
	s[size] = '\0';
	return s;
}

/* Splits data at its first NUL into two C strings (the second "" when
 * there is none); both are owned by *buf, which the caller frees. */
static inline void
fuzz_split(const uint8_t *data, size_t size, char **buf, const char **a,
    const char **b)
{
	size_t n;

	*buf = fuzz_str(data, size);
	n = strlen(*buf);
	*a = *buf;
	*b = n < size ? *buf + n + 1 : *buf + n;
}
#endif
