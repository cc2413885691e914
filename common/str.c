/* String vectors, numbers, times. */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sockerless/lite.h"
#include "sockerless/str.h"
#include "sockerless/xmalloc.h"

/* 0001-01-01T00:00:00Z in seconds since the epoch. */
#define STR_ZERO_TIME_SEC (-62135596800LL)

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

int
str_tohex(const char *s, long long max, long long *out, const char **endp)
{
	long long v = 0;
	const char *p = s;

	for (; isxdigit((unsigned char)*p); p++) {
		int d = isdigit((unsigned char)*p) ?
		    *p - '0' :
		    tolower((unsigned char)*p) - 'a' + 10;
		if (v > (max - d) / 16)
			return -1;
		v = v * 16 + d;
	}
	if (p == s)
		return -1;
	*out = v;
	*endp = p;
	return 0;
}

int
str_http_status(const char *line, int *status)
{
	const char *p = line;
	long long v;
	char code[4];

	/* "HTTP/d.d SSS[ reason]": sscanf's %d is undefined past INT_MAX. */
	if (strncmp(p, "HTTP/", 5) != 0 || !isdigit((unsigned char)p[5]) ||
	    p[6] != '.' || !isdigit((unsigned char)p[7]) || p[8] != ' ')
		return -1;
	p += 9;
	if (strspn(p, "0123456789") != 3 || (p[3] != '\0' && p[3] != ' '))
		return -1;
	memcpy(code, p, 3);
	code[3] = '\0';
	if (str_tonum(code, 100, 599, &v, NULL) == -1)
		return -1;
	*status = (int)v;
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
	lite_hex(p, len, out);
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

/* sec seconds plus frac nanoseconds since the epoch; -1 when that does not
 * fit int64 nanoseconds (before 1677-09-21 or after 2262-04-11). */
static int
str_time_ns(long long sec, int64_t frac, int64_t *ns)
{
	int64_t v;

	if (__builtin_mul_overflow(sec, (int64_t)1000000000, &v) ||
	    __builtin_add_overflow(v, frac, &v))
		return -1;
	*ns = v;
	return 0;
}

/* Docker's "seconds[.nanoseconds]" form. */
static int
str_time_parse_unix(const char *s, int64_t *ns)
{
	const char *p = s[0] == '-' ? s + 1 : s;
	int64_t frac = 0;
	long long sec;
	char *end;

	if (!isdigit((unsigned char)*p))
		return -1;
	errno = 0;
	sec = strtoll(s, &end, 10);
	if (errno == ERANGE)
		return -1;
	p = end;
	if (*p == '.') {
		if (!isdigit((unsigned char)*++p))
			return -1;
		frac = str_parse_frac(&p);
	}
	if (*p != '\0')
		return -1;
	return str_time_ns(sec, frac, ns);
}

/* A zone "Z" or "+hh:mm"/"-hh:mm" at *p into seconds east of UTC. */
static int
str_time_zone(const char **p, long *off)
{
	const char *z = *p, *mm;
	int sign;

	*off = 0;
	if (*z == 'Z' || *z == 'z') {
		(*p)++;
		return 0;
	}
	if (*z == '\0')
		return 0;
	if (*z != '+' && *z != '-')
		return -1;
	sign = *z == '-' ? -1 : 1;
	if (!isdigit((unsigned char)z[1]) || !isdigit((unsigned char)z[2]))
		return -1;
	/* "+hh:mm", or "+hhmm" as some clouds write it. */
	mm = z[3] == ':' ? z + 4 : z + 3;
	if (!isdigit((unsigned char)mm[0]) || !isdigit((unsigned char)mm[1]))
		return -1;
	*off = sign *
	    (((z[1] - '0') * 10 + (z[2] - '0')) * 3600L +
		((mm[0] - '0') * 10 + (mm[1] - '0')) * 60L);
	if (z[1] > '2' || (z[1] == '2' && z[2] > '3') || mm[0] > '5')
		return -1;
	*p = mm + 2;
	return 0;
}

int
str_time_parse(const char *s, int64_t *ns)
{
	struct tm tm;
	const char *p;
	int64_t frac = 0;
	long long sec;
	long off;

	if (s == NULL || *s == '\0')
		return -1;
	if (strchr(s, '-') == NULL || s[0] == '-')
		return str_time_parse_unix(s, ns);
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
	if (str_time_zone(&p, &off) == -1 || *p != '\0')
		return -1;
	/* strptime caps %Y at 9999, so the seconds fit; the nanoseconds may
	 * not. */
	sec = (long long)timegm(&tm) - off;
	if (sec == STR_ZERO_TIME_SEC && frac == 0) {
		/* Docker's zero time, as str_time_rfc3339 writes 0. */
		*ns = 0;
		return 0;
	}
	return str_time_ns(sec, frac, ns);
}

int64_t
str_time_parse_cloud(const char *s)
{
	struct tm tm;
	const char *p;
	int64_t frac = 0, ns;
	long long sec;
	long off;

	if (s == NULL)
		return -1;
	memset(&tm, 0, sizeof(tm));
	if ((p = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm)) == NULL || p - s != 19)
		return -1;
	if (*p == '.') {
		if (!isdigit((unsigned char)*++p))
			return -1;
		frac = str_parse_frac(&p);
	}
	/* A cloud's time always names its zone. */
	if (*p == '\0' || str_time_zone(&p, &off) == -1 || *p != '\0')
		return -1;
	sec = (long long)timegm(&tm) - off;
	if (sec < 0 || str_time_ns(sec, frac, &ns) == -1)
		return -1;
	return ns;
}

char *
str_base64_decode(const char *s, size_t *lenp)
{
	size_t n = strlen(s);
	char *out = xmalloc(n / 4 * 3 + 4);
	long o = lite_b64_decode(s, n, (unsigned char *)out);

	if (o < 0) {
		free(out);
		return NULL;
	}
	out[o] = '\0';
	if (lenp != NULL)
		*lenp = (size_t)o;
	return out;
}
