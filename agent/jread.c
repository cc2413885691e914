/* The agent's one JSON reader: a cursor, and member lookups over it. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "agent.h"
#include "jread.h"
#include "sockerless/lite.h"

/* Nesting beyond this is refused rather than followed, to bound recursion. */
#define JREAD_DEPTH_MAX 64

void
jread_init(struct jread *c, const char *buf, size_t len)
{
	c->p = buf;
	c->end = buf + len;
}

void
jread_ws(struct jread *c)
{
	while (c->p < c->end &&
	    (*c->p == ' ' || *c->p == '\t' || *c->p == '\n' || *c->p == '\r'))
		c->p++;
}

int
jread_eat(struct jread *c, char ch)
{
	jread_ws(c);
	if (c->p >= c->end || *c->p != ch)
		return 0;
	c->p++;
	return 1;
}

/* Four hex digits at p (p[0..4) known to be there). */
static int
jread_hex4(const char *p, unsigned *v)
{
	int i, d;

	*v = 0;
	for (i = 0; i < 4; i++) {
		if ((d = lite_hexval((unsigned char)p[i])) < 0)
			return -1;
		*v = *v << 4 | (unsigned)d;
	}
	return 0;
}

static void
jread_utf8(char *out, size_t *n, unsigned cp)
{
	if (cp < 0x80) {
		out[(*n)++] = (char)cp;
	} else if (cp < 0x800) {
		out[(*n)++] = (char)(0xC0 | (cp >> 6));
		out[(*n)++] = (char)(0x80 | (cp & 0x3F));
	} else if (cp < 0x10000) {
		out[(*n)++] = (char)(0xE0 | (cp >> 12));
		out[(*n)++] = (char)(0x80 | ((cp >> 6) & 0x3F));
		out[(*n)++] = (char)(0x80 | (cp & 0x3F));
	} else {
		out[(*n)++] = (char)(0xF0 | (cp >> 18));
		out[(*n)++] = (char)(0x80 | ((cp >> 12) & 0x3F));
		out[(*n)++] = (char)(0x80 | ((cp >> 6) & 0x3F));
		out[(*n)++] = (char)(0x80 | (cp & 0x3F));
	}
}

/* The \u escape at c->p (past the 'u'), joined with a following low
 * surrogate; -1 when malformed. */
static int
jread_unicode(struct jread *c, unsigned *cp)
{
	unsigned lo;

	if (c->end - c->p < 4 || jread_hex4(c->p, cp) == -1)
		return -1;
	c->p += 4;
	if (*cp >= 0xD800 && *cp < 0xDC00 && c->end - c->p >= 6 &&
	    c->p[0] == '\\' && c->p[1] == 'u' &&
	    jread_hex4(c->p + 2, &lo) == 0 && lo >= 0xDC00 && lo < 0xE000) {
		*cp = 0x10000 + ((*cp - 0xD800) << 10) + (lo - 0xDC00);
		c->p += 6;
	} else if (*cp >= 0xD800 && *cp < 0xE000) {
		*cp = 0xFFFD;
	}
	return 0;
}

/* The character a one-letter escape stands for; -1 if it is none. */
static int
jread_escape(char e)
{
	switch (e) {
	case 'b':
		return '\b';
	case 'f':
		return '\f';
	case 'n':
		return '\n';
	case 'r':
		return '\r';
	case 't':
		return '\t';
	case '"':
	case '\\':
	case '/':
		return (unsigned char)e;
	default:
		return -1;
	}
}

/* One character or escape at c->p into s (when not NULL). */
static int
jread_char(struct jread *c, char *s, size_t *n)
{
	unsigned cp;
	int ch;

	if ((unsigned char)*c->p < 0x20)
		return -1;
	if (*c->p != '\\') {
		if (s != NULL)
			s[(*n)++] = *c->p;
		c->p++;
		return 0;
	}
	if (++c->p >= c->end)
		return -1;
	if (*c->p++ == 'u') {
		if (jread_unicode(c, &cp) == -1)
			return -1;
	} else if ((ch = jread_escape(c->p[-1])) == -1) {
		return -1;
	} else {
		cp = (unsigned)ch;
	}
	if (s != NULL)
		jread_utf8(s, n, cp);
	return 0;
}

int
jread_string(struct jread *c, char **out)
{
	const char *q;
	char *s = NULL;
	size_t n = 0;

	jread_ws(c);
	if (c->p >= c->end || *c->p != '"')
		return -1;
	c->p++;
	if (out != NULL) {
		/* Decoded text is never longer than the escaped text (a \u
		 * escape of 6 or 12 bytes gives at most 4). */
		for (q = c->p; q < c->end && *q != '"';)
			q += (*q == '\\' && q + 1 < c->end) ? 2 : 1;
		s = xmalloc((size_t)(q - c->p) + 4);
	}
	while (c->p < c->end && *c->p != '"')
		if (jread_char(c, s, &n) == -1)
			goto fail;
	if (c->p >= c->end)
		goto fail;
	c->p++;
	if (out != NULL) {
		/* NOLINTNEXTLINE(clang-analyzer-core.NullDereference) */
		s[n] = '\0';
		*out = s;
	}
	return 0;
fail:
	free(s);
	return -1;
}

int
jread_number(struct jread *c, int64_t *v)
{
	char buf[64], *end;
	size_t n = 0;
	double d;

	jread_ws(c);
	while (c->p < c->end && n < sizeof(buf) - 1 && *c->p != '\0' &&
	    strchr("+-.0123456789eE", *c->p) != NULL)
		buf[n++] = *c->p++;
	buf[n] = '\0';
	if (n == 0)
		return -1;
	d = strtod(buf, &end);
	if (*end != '\0')
		return -1;
	if (d > 9.2e18)
		d = 9.2e18;
	if (d < -9.2e18)
		d = -9.2e18;
	*v = (int64_t)d;
	return 0;
}

/* true, false or null at c->p. */
static int
jread_literal(struct jread *c)
{
	const char *lit = *c->p == 't' ? "true" :
	    *c->p == 'f'	       ? "false" :
					 "null";
	size_t n = strlen(lit);

	if ((size_t)(c->end - c->p) < n || memcmp(c->p, lit, n) != 0)
		return -1;
	c->p += n;
	return 0;
}

int
jread_member(struct jread *c, char **key)
{
	if (jread_string(c, key) == -1)
		return -1;
	if (!jread_eat(c, ':')) {
		free(*key);
		*key = NULL;
		return -1;
	}
	jread_ws(c);
	return 0;
}

int
jread_more(struct jread *c, char close)
{
	jread_ws(c);
	if (c->p >= c->end)
		return -1;
	if (*c->p == close) {
		c->p++;
		return 0;
	}
	return *c->p++ == ',' ? 1 : -1;
}

static int jread_value(struct jread *c, int depth);

/* The members or elements of the object or array just opened. */
static int
jread_container(struct jread *c, char close, int depth)
{
	int more;

	if (jread_eat(c, close))
		return 0;
	do {
		if (close == '}' &&
		    (jread_string(c, NULL) == -1 || !jread_eat(c, ':')))
			return -1;
		if (jread_value(c, depth + 1) == -1)
			return -1;
	} while ((more = jread_more(c, close)) == 1);
	return more;
}

static int
jread_value(struct jread *c, int depth)
{
	int64_t v;

	jread_ws(c);
	if (c->p >= c->end || depth > JREAD_DEPTH_MAX)
		return -1;
	switch (*c->p) {
	case '"':
		return jread_string(c, NULL);
	case 't':
	case 'f':
	case 'n':
		return jread_literal(c);
	case '{':
	case '[':
		return jread_container(c, *c->p++ == '{' ? '}' : ']', depth);
	default:
		return jread_number(c, &v);
	}
}

int
jread_skip(struct jread *c)
{
	return jread_value(c, 1);
}

/* Positions c at the value of member key; 0, or -1 when absent. */
static int
jread_find(const char *buf, size_t len, const char *key, struct jread *c)
{
	char *name;
	int hit;

	jread_init(c, buf, len);
	if (!jread_eat(c, '{'))
		return -1;
	do {
		if (jread_member(c, &name) == -1)
			return -1;
		hit = strcmp(name, key) == 0;
		free(name);
		if (hit)
			return 0;
		if (jread_skip(c) == -1)
			return -1;
	} while (jread_more(c, '}') == 1);
	return -1;
}

char *
jread_str(const char *buf, size_t len, const char *key)
{
	struct jread c;
	char *s;

	if (jread_find(buf, len, key, &c) == -1 || jread_string(&c, &s) == -1)
		return NULL;
	return s;
}

char **
jread_str_array(struct jread *c, size_t max)
{
	char **v;
	size_t n = 0, cap = 8;
	int more;

	if (!jread_eat(c, '['))
		return NULL;
	v = xmalloc(cap * sizeof(*v));
	v[0] = NULL;
	if (jread_eat(c, ']'))
		return v;
	do {
		if (n + 2 > cap)
			v = xrealloc(v, (cap *= 2) * sizeof(*v));
		if (n == max || jread_string(c, &v[n]) == -1)
			goto fail;
		v[++n] = NULL;
	} while ((more = jread_more(c, ']')) == 1);
	if (more == 0)
		return v;
fail:
	jread_strv_free(v);
	return NULL;
}

char **
jread_strv(const char *buf, size_t len, const char *key)
{
	struct jread c;

	if (jread_find(buf, len, key, &c) == -1)
		return NULL;
	return jread_str_array(&c, SIZE_MAX);
}

void
jread_strv_free(char **v)
{
	size_t i;

	if (v == NULL)
		return;
	for (i = 0; v[i] != NULL; i++)
		free(v[i]);
	free(v);
}

int
jread_bool(const char *buf, size_t len, const char *key, int dflt)
{
	struct jread c;

	if (jread_find(buf, len, key, &c) == -1)
		return dflt;
	if (c.end - c.p >= 4 && memcmp(c.p, "true", 4) == 0)
		return 1;
	if (c.end - c.p >= 5 && memcmp(c.p, "false", 5) == 0)
		return 0;
	return dflt;
}

int64_t
jread_int(const char *buf, size_t len, const char *key, int64_t dflt)
{
	struct jread c;
	int64_t v;

	if (jread_find(buf, len, key, &c) == -1 || jread_number(&c, &v) == -1)
		return dflt;
	return v;
}
