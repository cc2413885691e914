/* Standard base64 (RFC 4648, with padding) for the output records. */
#include "agent.h"

static const char b64_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

size_t
b64_len(size_t n)
{
	return (n + 2) / 3 * 4;
}

size_t
b64_encode(const unsigned char *in, size_t n, char *out)
{
	char *o = out;
	unsigned long v;

	for (; n >= 3; in += 3, n -= 3) {
		v = (unsigned long)in[0] << 16 | (unsigned long)in[1] << 8 |
		    in[2];
		*o++ = b64_alphabet[v >> 18 & 63];
		*o++ = b64_alphabet[v >> 12 & 63];
		*o++ = b64_alphabet[v >> 6 & 63];
		*o++ = b64_alphabet[v & 63];
	}
	if (n > 0) {
		v = (unsigned long)in[0] << 16;
		if (n == 2)
			v |= (unsigned long)in[1] << 8;
		*o++ = b64_alphabet[v >> 18 & 63];
		*o++ = b64_alphabet[v >> 12 & 63];
		*o++ = n == 2 ? b64_alphabet[v >> 6 & 63] : '=';
		*o++ = '=';
	}
	return (size_t)(o - out);
}
