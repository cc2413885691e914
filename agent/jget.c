/* Reading the members of an OPEN request: strings, string arrays,
 * booleans and integers of one JSON object, without a tree. */
#include <stdlib.h>
#include <string.h>

#include "agent.h"

#define JGET_DEPTH_MAX 64

struct jget_cur {
	const char *p, *end;
};

static void
jget_ws(struct jget_cur *c)
{
	while (c->p < c->end &&
	    (*c->p == ' ' || *c->p == '\t' || *c->p == '\n' || *c->p == '\r'))
		c->p++;
}

static int
jget_hex4(const char *p, unsigned *v)
{
	int i;

	*v = 0;
	for (i = 0; i < 4; i++) {
		*v <<= 4;
		if (p[i] >= '0' && p[i] <= '9')
			*v |= (unsigned)(p[i] - '0');
		else if (p[i] >= 'a' && p[i] <= 'f')
			*v |= (unsigned)(p[i] - 'a' + 10);
		else if (p[i] >= 'A' && p[i] <= 'F')
			*v |= (unsigned)(p[i] - 'A' + 10);
		else
			return -1;
	}
	return 0;
}

static void
jget_utf8(char *out, size_t *n, unsigned cp)
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

/* A string at c->p; *out gets it decoded (malloc'd) unless out is NULL. */
static int
jget_string(struct jget_cur *c, char **out)
{
	const char *start;
	char *s = NULL;
	size_t n = 0;
	unsigned cp, lo;

	if (c->p >= c->end || *c->p != '"')
		return -1;
	start = ++c->p;
	/* Decoded text is never longer than the escaped text. */
	if (out != NULL) {
		const char *q = start;
		while (q < c->end && *q != '"')
			q += (*q == '\\' && q + 1 < c->end) ? 2 : 1;
		s = xmalloc((size_t)(q - start) + 4);
	}
	while (c->p < c->end && *c->p != '"') {
		if ((unsigned char)*c->p < 0x20)
			goto fail;
		if (*c->p != '\\') {
			if (s)
				s[n++] = *c->p;
			c->p++;
			continue;
		}
		if (++c->p >= c->end)
			goto fail;
		switch (*c->p) {
		case 'b':
			cp = '\b';
			break;
		case 'f':
			cp = '\f';
			break;
		case 'n':
			cp = '\n';
			break;
		case 'r':
			cp = '\r';
			break;
		case 't':
			cp = '\t';
			break;
		case '"':
		case '\\':
		case '/':
			cp = (unsigned char)*c->p;
			break;
		case 'u':
			if (c->end - c->p < 5 || jget_hex4(c->p + 1, &cp) == -1)
				goto fail;
			c->p += 4;
			if (cp >= 0xD800 && cp < 0xDC00 && c->end - c->p >= 7 &&
			    c->p[1] == '\\' && c->p[2] == 'u' &&
			    jget_hex4(c->p + 3, &lo) == 0 && lo >= 0xDC00 &&
			    lo < 0xE000) {
				cp = 0x10000 + ((cp - 0xD800) << 10) +
				    (lo - 0xDC00);
				c->p += 6;
			} else if (cp >= 0xD800 && cp < 0xE000) {
				cp = 0xFFFD;
			}
			break;
		default:
			goto fail;
		}
		c->p++;
		if (s)
			jget_utf8(s, &n, cp);
	}
	if (c->p >= c->end)
		goto fail;
	c->p++;
	if (out != NULL) {
		/* s was xmalloc'd above (never NULL) since out is not. */
		/* NOLINTNEXTLINE(clang-analyzer-core.NullDereference) */
		s[n] = '\0';
		*out = s;
	}
	return 0;
fail:
	free(s);
	return -1;
}

static int
jget_skip(struct jget_cur *c, int depth)
{
	char close;

	jget_ws(c);
	if (c->p >= c->end || depth > JGET_DEPTH_MAX)
		return -1;
	if (*c->p == '"')
		return jget_string(c, NULL);
	if (*c->p == '{' || *c->p == '[') {
		close = *c->p == '{' ? '}' : ']';
		c->p++;
		jget_ws(c);
		if (c->p < c->end && *c->p == close) {
			c->p++;
			return 0;
		}
		for (;;) {
			if (close == '}') {
				jget_ws(c);
				if (jget_string(c, NULL) == -1)
					return -1;
				jget_ws(c);
				if (c->p >= c->end || *c->p++ != ':')
					return -1;
			}
			if (jget_skip(c, depth + 1) == -1)
				return -1;
			jget_ws(c);
			if (c->p >= c->end)
				return -1;
			if (*c->p == close) {
				c->p++;
				return 0;
			}
			if (*c->p++ != ',')
				return -1;
		}
	}
	while (c->p < c->end && strchr("+-0123456789.eEtruefalsn", *c->p))
		c->p++;
	return 0;
}

/* Positions c at the value of member key; 0, or -1 when absent. */
static int
jget_find(const char *buf, size_t len, const char *key, struct jget_cur *c)
{
	char *name;
	int hit;

	c->p = buf;
	c->end = buf + len;
	jget_ws(c);
	if (c->p >= c->end || *c->p++ != '{')
		return -1;
	for (;;) {
		jget_ws(c);
		if (jget_string(c, &name) == -1)
			return -1;
		hit = strcmp(name, key) == 0;
		free(name);
		jget_ws(c);
		if (c->p >= c->end || *c->p++ != ':')
			return -1;
		jget_ws(c);
		if (hit)
			return 0;
		if (jget_skip(c, 1) == -1)
			return -1;
		jget_ws(c);
		if (c->p >= c->end || *c->p++ != ',')
			return -1;
	}
}

char *
jget_str(const char *buf, size_t len, const char *key)
{
	struct jget_cur c;
	char *s;

	if (jget_find(buf, len, key, &c) == -1 || jget_string(&c, &s) == -1)
		return NULL;
	return s;
}

char **
jget_strv(const char *buf, size_t len, const char *key)
{
	struct jget_cur c;
	char **v;
	size_t n = 0, cap = 8;

	if (jget_find(buf, len, key, &c) == -1 || c.p >= c.end || *c.p != '[')
		return NULL;
	c.p++;
	v = xmalloc(cap * sizeof(*v));
	v[0] = NULL;
	jget_ws(&c);
	if (c.p < c.end && *c.p == ']')
		return v;
	for (;;) {
		jget_ws(&c);
		if (n + 2 > cap)
			v = xrealloc(v, (cap *= 2) * sizeof(*v));
		if (jget_string(&c, &v[n]) == -1)
			goto fail;
		v[++n] = NULL;
		jget_ws(&c);
		if (c.p >= c.end)
			goto fail;
		if (*c.p == ']')
			return v;
		if (*c.p++ != ',')
			goto fail;
	}
fail:
	jget_strv_free(v);
	return NULL;
}

void
jget_strv_free(char **v)
{
	size_t i;

	if (v == NULL)
		return;
	for (i = 0; v[i] != NULL; i++)
		free(v[i]);
	free(v);
}

int
jget_bool(const char *buf, size_t len, const char *key, int dflt)
{
	struct jget_cur c;

	if (jget_find(buf, len, key, &c) == -1)
		return dflt;
	if (c.end - c.p >= 4 && memcmp(c.p, "true", 4) == 0)
		return 1;
	if (c.end - c.p >= 5 && memcmp(c.p, "false", 5) == 0)
		return 0;
	return dflt;
}

int64_t
jget_int(const char *buf, size_t len, const char *key, int64_t dflt)
{
	struct jget_cur c;
	int64_t v = 0;
	int neg = 0, digits = 0;

	if (jget_find(buf, len, key, &c) == -1)
		return dflt;
	if (c.p < c.end && *c.p == '-') {
		neg = 1;
		c.p++;
	}
	while (c.p < c.end && *c.p >= '0' && *c.p <= '9' && digits < 18) {
		v = v * 10 + (*c.p++ - '0');
		digits++;
	}
	return digits ? (neg ? -v : v) : dflt;
}
