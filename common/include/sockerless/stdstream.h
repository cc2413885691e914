/* Docker's multiplexed stream framing: an 8-byte header {stream, 0, 0, 0,
 * big-endian uint32 length} before each payload, used by attach, exec and
 * logs when the container has no TTY. */
#ifndef SOCKERLESS_STDSTREAM_H
#define SOCKERLESS_STDSTREAM_H

#include <stddef.h>
#include <stdint.h>

#include "sockerless/buf.h"

enum stdstream_kind {
	STDSTREAM_STDIN = 0,
	STDSTREAM_STDOUT = 1,
	STDSTREAM_STDERR = 2,
	STDSTREAM_SYSTEM = 3
};

#define STDSTREAM_HEADER_LEN 8

/* Writes the 8-byte header for a payload of len bytes into hdr. */
void stdstream_header(unsigned char hdr[STDSTREAM_HEADER_LEN],
    enum stdstream_kind kind, uint32_t len);
/* Appends one framed payload to out (payloads over 4 GiB are split). */
int stdstream_frame(
    struct buf *out, enum stdstream_kind kind, const void *p, size_t len);

/* Incremental demultiplexer: feed bytes, get whole payload pieces. */
struct stdstream_demux {
	unsigned char hdr[STDSTREAM_HEADER_LEN];
	size_t hdr_have;
	uint32_t remaining; /* payload bytes left in the current frame */
	enum stdstream_kind kind;
};

void stdstream_demux_init(struct stdstream_demux *d);
/* Calls fn for each payload piece in p[0..len); returns -1 on a malformed
 * header (unknown stream kind). */
int stdstream_demux_feed(struct stdstream_demux *d, const void *p, size_t len,
    void (*fn)(enum stdstream_kind kind, const void *p, size_t len, void *arg),
    void *arg);

#endif
