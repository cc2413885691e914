/* The libFuzzer entry points every harness defines (tests/fuzz/fuzz_*.c),
 * and helpers they share. docs/fuzzing.md says how they are run. */
#ifndef SOCKERLESS_FUZZ_H
#define SOCKERLESS_FUZZ_H
#include <sys/socket.h>

#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

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

/* Plays a client on fd, the non-blocking peer of a socket a server on
 * base serves: writes data as the server takes it, then half-closes, and
 * runs the loop until the server closes its end (read gives EOF) or
 * nothing moves for a few turns. Returns the bytes the server wrote. */
static inline size_t
fuzz_pump(struct event_base *base, int fd, const uint8_t *data, size_t size)
{
	char sink[16384];
	size_t off = 0, got = 0;
	int idle = 0, shut = 0;
	ssize_t n;

	while (idle < 8) {
		int moved = 0;

		if (off < size) {
			if ((n = write(fd, data + off, size - off)) > 0) {
				off += (size_t)n;
				moved = 1;
			}
		} else if (!shut) {
			shutdown(fd, SHUT_WR);
			shut = moved = 1;
		}
		event_base_loop(base, EVLOOP_NONBLOCK);
		while ((n = read(fd, sink, sizeof(sink))) > 0) {
			got += (size_t)n;
			moved = 1;
		}
		if ((n == 0 && shut) || (n == -1 && errno != EAGAIN))
			break;
		idle = moved ? 0 : idle + 1;
	}
	return got;
}
#endif
