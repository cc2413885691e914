/* Hex (and decimal), the one copy shared by common/ and the agent. */
#include <string.h>

#include "sockerless/lite.h"

void
lite_hex(const unsigned char *in, size_t n, char *out)
{
	static const char digits[] = "0123456789abcdef";
	size_t i;

	for (i = 0; i < n; i++) {
		out[2 * i] = digits[in[i] >> 4];
		out[2 * i + 1] = digits[in[i] & 15];
	}
	out[2 * n] = '\0';
}

int
lite_hexval(int ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	if (ch >= 'a' && ch <= 'f')
		return ch - 'a' + 10;
	if (ch >= 'A' && ch <= 'F')
		return ch - 'A' + 10;
	return -1;
}

int
lite_unhex(const char *s, unsigned char *out, size_t n)
{
	size_t i;
	int hi, lo;

	if (strlen(s) != 2 * n)
		return -1;
	for (i = 0; i < n; i++) {
		hi = lite_hexval((unsigned char)s[2 * i]);
		lo = lite_hexval((unsigned char)s[2 * i + 1]);
		if (hi < 0 || lo < 0)
			return -1;
		out[i] = (unsigned char)(hi << 4 | lo);
	}
	return 0;
}

size_t
lite_hex_span(const char *s)
{
	return strspn(s, "0123456789abcdef");
}

size_t
lite_dec(unsigned long v, char *out)
{
	char d[LITE_DEC_MAX], *q = d + sizeof(d);
	size_t n;

	do
		*--q = (char)('0' + v % 10);
	while ((v /= 10) != 0);
	n = (size_t)(d + sizeof(d) - q);
	memcpy(out, q, n);
	return n;
}
