/* Docker multiplexed stream framing. */
#include <string.h>

#include "sockerless/stdstream.h"

void
stdstream_header(unsigned char hdr[STDSTREAM_HEADER_LEN],
    enum stdstream_kind kind, uint32_t len)
{
	hdr[0] = (unsigned char)kind;
	hdr[1] = hdr[2] = hdr[3] = 0;
	hdr[4] = (unsigned char)(len >> 24);
	hdr[5] = (unsigned char)(len >> 16);
	hdr[6] = (unsigned char)(len >> 8);
	hdr[7] = (unsigned char)len;
}

int
stdstream_frame(
    struct buf *out, enum stdstream_kind kind, const void *p, size_t len)
{
	unsigned char hdr[STDSTREAM_HEADER_LEN];
	const char *s = p;

	while (len > 0) {
		uint32_t n = len > 0xffffffffu ? 0xffffffffu : (uint32_t)len;
		stdstream_header(hdr, kind, n);
		if (buf_add(out, hdr, sizeof(hdr)) == -1 ||
		    buf_add(out, s, n) == -1)
			return -1;
		s += n;
		len -= n;
	}
	return 0;
}

void
stdstream_demux_init(struct stdstream_demux *d)
{
	memset(d, 0, sizeof(*d));
}

int
stdstream_demux_feed(struct stdstream_demux *d, const void *p, size_t len,
    void (*fn)(enum stdstream_kind kind, const void *p, size_t len, void *arg),
    void *arg)
{
	const unsigned char *s = p;

	while (len > 0) {
		if (d->remaining == 0) {
			size_t n = STDSTREAM_HEADER_LEN - d->hdr_have;
			if (n > len)
				n = len;
			memcpy(d->hdr + d->hdr_have, s, n);
			d->hdr_have += n;
			s += n;
			len -= n;
			if (d->hdr_have < STDSTREAM_HEADER_LEN)
				return 0;
			if (d->hdr[0] > STDSTREAM_SYSTEM)
				return -1;
			d->kind = (enum stdstream_kind)d->hdr[0];
			d->remaining = (uint32_t)d->hdr[4] << 24 |
			    (uint32_t)d->hdr[5] << 16 |
			    (uint32_t)d->hdr[6] << 8 | d->hdr[7];
			d->hdr_have = 0;
			continue;
		}
		size_t n = d->remaining < len ? d->remaining : len;
		fn(d->kind, s, n, arg);
		d->remaining -= (uint32_t)n;
		s += n;
		len -= n;
	}
	return 0;
}
