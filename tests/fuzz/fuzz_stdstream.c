/* Docker's multiplexed stdout/stderr framing (common/stdstream.c), fed in
 * two pieces split where the first byte says, as a socket would. */
#include "fuzz.h"
#include "sockerless/stdstream.h"

static void
fuzz_stdstream_piece(
    enum stdstream_kind kind, const void *p, size_t len, void *arg)
{
	size_t *total = arg;

	if (kind > STDSTREAM_SYSTEM || (len > 0 && p == NULL))
		abort();
	*total += len;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct stdstream_demux d;
	size_t cut, total = 0;

	if (size == 0)
		return 0;
	cut = data[0] % size;
	data++;
	size--;
	if (cut > size)
		cut = size;
	stdstream_demux_init(&d);
	if (stdstream_demux_feed(&d, data, cut, fuzz_stdstream_piece, &total) ==
	    0)
		stdstream_demux_feed(
		    &d, data + cut, size - cut, fuzz_stdstream_piece, &total);
	if (total > size)
		abort();
	return 0;
}
