/* String vectors, numbers, times. */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sockerless/str.h"
#include "sockerless/xmalloc.h"

void
strv_init(struct strv *sv)
{
	sv->v = xcalloc(1, sizeof(char *));
	sv->n = 0;
}

void
strv_take(struct strv *sv, char *s)
{
	sv->v = xreallocarray(sv->v, sv->n + 2, sizeof(char *));
	sv->v[sv->n++] = s;
	sv->v[sv->n] = NULL;
}

void
strv_add(struct strv *sv, const char *s)
{
	strv_take(sv, xstrdup(s));
}

void
strv_free(struct strv *sv)
{
	if (sv->v == NULL)
		return;
	for (size_t i = 0; i < sv->n; i++)
		free(sv->v[i]);
	free(sv->v);
	sv->v = NULL;
	sv->n = 0;
}

int
strv_contains(const struct strv *sv, const char *s)
{
	for (size_t i = 0; i < sv->n; i++)
		if (strcmp(sv->v[i], s) == 0)
			return 1;
	return 0;
}

int
str_prefix(const char *s, const char *prefix)
{
	return strncmp(s, prefix, strlen(prefix)) == 0;
}

int
str_suffix(const char *s, const char *suffix)
{
	size_t a = strlen(s), b = strlen(suffix);

	return a >= b && strcmp(s + a - b, suffix) == 0;
}

int
str_tonum(const char *s, long long min, long long max, long long *out,
    const char **errstr)
{
	const char *dummy;
	char *end;
	long long v;

	if (errstr == NULL)
		errstr = &dummy;
	errno = 0;
	if (s == NULL || *s == '\0' || isspace((unsigned char)*s)) {
		*errstr = "invalid";
		return -1;
	}
	v = strtoll(s, &end, 10);
	if (*end != '\0') {
		*errstr = "invalid";
		return -1;
	}
	if (errno == ERANGE || v < min) {
		*errstr = "too small";
		if (errno == ERANGE && v == LLONG_MAX)
			*errstr = "too large";
		return -1;
	}
	if (v > max) {
		*errstr = "too large";
		return -1;
	}
	*out = v;
	*errstr = NULL;
	return 0;
}

size_t
str_lcpy(char *dst, const char *src, size_t size)
{
	size_t len = strlen(src);

	if (size > 0) {
		size_t n = len < size - 1 ? len : size - 1;
		memcpy(dst, src, n);
		dst[n] = '\0';
	}
	return len;
}

void
str_hex(char *out, const unsigned char *p, size_t len)
{
	static const char hex[] = "0123456789abcdef";

	for (size_t i = 0; i < len; i++) {
		out[2 * i] = hex[p[i] >> 4];
		out[2 * i + 1] = hex[p[i] & 15];
	}
	out[2 * len] = '\0';
}

int64_t
str_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

void
str_time_rfc3339(char *out, size_t size, int64_t ns)
{
	struct tm tm;
	time_t sec;
	char base[32];

	if (ns <= 0) {
		snprintf(out, size, "0001-01-01T00:00:00Z");
		return;
	}
	sec = (time_t)(ns / 1000000000);
	gmtime_r(&sec, &tm);
	strftime(base, sizeof(base), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(out, size, "%s.%09lldZ", base, (long long)(ns % 1000000000));
}

/* Parses the fraction digits at *p (after the dot) into nanoseconds. */
static int64_t
str_parse_frac(const char **p)
{
	int64_t frac = 0;
	int digits = 0;

	while (isdigit((unsigned char)**p)) {
		if (digits < 9) {
			frac = frac * 10 + (**p - '0');
			digits++;
		}
		(*p)++;
	}
	while (digits++ < 9)
		frac *= 10;
	return frac;
}

int
str_time_parse(const char *s, int64_t *ns)
{
	struct tm tm;
	const char *p;
	int64_t frac = 0;
	long off = 0;
	char *end;

	if (s == NULL || *s == '\0')
		return -1;
	/* Docker's "seconds[.nanoseconds]" form. */
	if (strchr(s, '-') == NULL || s[0] == '-') {
		long long sec = strtoll(s, &end, 10);
		if (end == s)
			return -1;
		p = end;
		if (*p == '.') {
			p++;
			frac = str_parse_frac(&p);
		}
		if (*p != '\0')
			return -1;
		*ns = (int64_t)sec * 1000000000 + frac;
		return 0;
	}
	memset(&tm, 0, sizeof(tm));
	if ((p = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm)) == NULL) {
		memset(&tm, 0, sizeof(tm));
		if ((p = strptime(s, "%Y-%m-%d", &tm)) == NULL)
			return -1;
	}
	if (*p == '.') {
		p++;
		frac = str_parse_frac(&p);
	}
	if (*p == 'Z' || *p == 'z') {
		p++;
	} else if (*p == '+' || *p == '-') {
		int sign = *p == '-' ? -1 : 1, hh, mm;
		if (sscanf(p + 1, "%2d:%2d", &hh, &mm) != 2)
			return -1;
		off = sign * (hh * 3600L + mm * 60L);
		p += 6;
	}
	if (*p != '\0')
		return -1;
	*ns = ((int64_t)timegm(&tm) - off) * 1000000000 + frac;
	return 0;
}

static int
str_b64val(int c)
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

char *
str_base64_decode(const char *s, size_t *lenp)
{
	size_t n = strlen(s), o = 0, pad = 0;
	unsigned int acc = 0;
	int bits = 0;
	char *out = xmalloc(n / 4 * 3 + 4);

	for (size_t i = 0; i < n; i++) {
		int v;

		if (s[i] == '=') {
			pad++;
			continue;
		}
		if (s[i] == '\n' || s[i] == '\r' || s[i] == ' ')
			continue;
		if (pad > 0 || (v = str_b64val((unsigned char)s[i])) < 0)
			goto bad;
		acc = (acc << 6) | (unsigned int)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out[o++] = (char)((acc >> bits) & 0xff);
		}
	}
	/* A lone trailing 6-bit group cannot encode a byte. */
	if (bits >= 6 || pad > 2)
		goto bad;
	out[o] = '\0';
	if (lenp != NULL)
		*lenp = o;
	return out;
bad:
	free(out);
	return NULL;
}
