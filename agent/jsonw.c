/* A small JSON text builder for the agent's answers (no parser here). */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "agent.h"
#include "modules.h"

void
jsonw_init(struct jsonw *w)
{
	w->buf = NULL;
	w->len = 0;
	w->cap = 0;
}

static void
jsonw_reserve(struct jsonw *w, size_t n)
{
	if (w->buf != NULL && w->len + n + 1 <= w->cap)
		return;
	if (w->cap == 0)
		w->cap = 256;
	while (w->len + n + 1 > w->cap)
		w->cap *= 2;
	w->buf = xrealloc(w->buf, w->cap);
}

void
jsonw_raw(struct jsonw *w, const char *s, size_t n)
{
	jsonw_reserve(w, n);
	if (n > 0)
		memcpy(w->buf + w->len, s, n);
	w->len += n;
	w->buf[w->len] = '\0';
}

void
jsonw_puts(struct jsonw *w, const char *s)
{
	jsonw_raw(w, s, strlen(s));
}

void
jsonw_printf(struct jsonw *w, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n <= 0)
		return;
	jsonw_reserve(w, (size_t)n);
	va_start(ap, fmt);
	vsnprintf(w->buf + w->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	w->len += (size_t)n;
}

/* Length of the valid UTF-8 sequence at s (at most n bytes), 0 if none. */
static size_t
jsonw_utf8_len(const unsigned char *s, size_t n)
{
	size_t len, i;
	unsigned cp;

	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		len = 2, cp = s[0] & 0x1f;
	else if (s[0] >= 0xe0 && s[0] <= 0xef)
		len = 3, cp = s[0] & 0x0f;
	else if (s[0] >= 0xf0 && s[0] <= 0xf4)
		len = 4, cp = s[0] & 0x07;
	else
		return 0;
	if (len > n)
		return 0;
	for (i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (s[i] & 0x3f);
	}
	/* Overlong forms, surrogates and beyond U+10FFFF are invalid. */
	if ((len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
	    (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff)
		return 0;
	return len;
}

void
jsonw_str(struct jsonw *w, const char *s, size_t n)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0, k;
	char esc[8];

	jsonw_raw(w, "\"", 1);
	while (i < n) {
		if (p[i] == '"' || p[i] == '\\') {
			esc[0] = '\\';
			esc[1] = (char)p[i];
			jsonw_raw(w, esc, 2);
			i++;
		} else if (p[i] < 0x20 || p[i] == 0x7f) {
			switch (p[i]) {
			case '\n':
				jsonw_raw(w, "\\n", 2);
				break;
			case '\r':
				jsonw_raw(w, "\\r", 2);
				break;
			case '\t':
				jsonw_raw(w, "\\t", 2);
				break;
			default:
				snprintf(esc, sizeof(esc), "\\u%04x", p[i]);
				jsonw_raw(w, esc, 6);
			}
			i++;
		} else if ((k = jsonw_utf8_len(p + i, n - i)) == 0) {
			jsonw_raw(w, "\\ufffd", 6);
			i++;
		} else {
			jsonw_raw(w, (const char *)p + i, k);
			i += k;
		}
	}
	jsonw_raw(w, "\"", 1);
}

char *
jsonw_take(struct jsonw *w)
{
	char *s;

	if (w->buf == NULL)
		jsonw_raw(w, "", 0);
	s = w->buf;
	jsonw_init(w);
	return s;
}

void
jsonw_free(struct jsonw *w)
{
	free(w->buf);
	jsonw_init(w);
}

void
jsonw_time(char *out, size_t outsz, int64_t sec, long nsec)
{
	struct tm tm;
	time_t t = (time_t)sec;
	char frac[16];
	size_t n;
	int i;

	if (gmtime_r(&t, &tm) == NULL) {
		t = 0;
		gmtime_r(&t, &tm);
	}
	frac[0] = '\0';
	if (nsec > 0 && nsec < 1000000000) {
		snprintf(frac, sizeof(frac), ".%09ld", nsec);
		for (i = 9; i > 0 && frac[i] == '0'; i--)
			frac[i] = '\0';
	}
	n = strftime(out, outsz, "%Y-%m-%dT%H:%M:%S", &tm);
	if (n > 0)
		snprintf(out + n, outsz - n, "%sZ", frac);
}
