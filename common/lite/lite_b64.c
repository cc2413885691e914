/* Base64 (RFC 4648), the one copy shared by common/ and the agent. */
#include "sockerless/lite.h"

static const char lite_b64_tab[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

size_t
lite_b64_len(size_t n)
{
	return (n + 2) / 3 * 4;
}

size_t
lite_b64_encode(const unsigned char *in, size_t n, char *out)
{
	char *o = out;
	uint32_t v;

	for (; n >= 3; in += 3, n -= 3) {
		v = (uint32_t)in[0] << 16 | (uint32_t)in[1] << 8 | in[2];
		*o++ = lite_b64_tab[v >> 18 & 63];
		*o++ = lite_b64_tab[v >> 12 & 63];
		*o++ = lite_b64_tab[v >> 6 & 63];
		*o++ = lite_b64_tab[v & 63];
	}
	if (n > 0) {
		v = (uint32_t)in[0] << 16;
		if (n == 2)
			v |= (uint32_t)in[1] << 8;
		*o++ = lite_b64_tab[v >> 18 & 63];
		*o++ = lite_b64_tab[v >> 12 & 63];
		*o++ = n == 2 ? lite_b64_tab[v >> 6 & 63] : '=';
		*o++ = '=';
	}
	*o = '\0';
	return (size_t)(o - out);
}

/* One character's 6 bits in either alphabet (standard or URL-safe). */
static int
lite_b64_val(int c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+' || c == '-')
		return 62;
	if (c == '/' || c == '_')
		return 63;
	return -1;
}

long
lite_b64_decode(const char *s, size_t n, unsigned char *out)
{
	size_t i, o = 0, pad = 0;
	uint32_t acc = 0;
	int bits = 0, v;

	for (i = 0; i < n; i++) {
		if (s[i] == '=') {
			pad++;
			continue;
		}
		if (s[i] == '\n' || s[i] == '\r' || s[i] == ' ')
			continue;
		/* Nothing but padding may follow padding. */
		if (pad > 0 || (v = lite_b64_val((unsigned char)s[i])) < 0)
			return -1;
		acc = (acc << 6) | (uint32_t)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out[o++] = (unsigned char)((acc >> bits) & 0xff);
		}
	}
	/* A lone trailing 6-bit group cannot encode a byte. */
	if (bits >= 6 || pad > 2)
		return -1;
	return (long)o;
}
