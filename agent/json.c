/* Just enough JSON reading for the agent: one string member of an object. */
#include <string.h>

#include "agent.h"

/* Nesting beyond this is refused rather than followed, to bound recursion. */
#define JSON_DEPTH_MAX 64

struct json_cur {
	const char *p, *end;
};

static void
json_ws(struct json_cur *c)
{
	while (c->p < c->end &&
	    (*c->p == ' ' || *c->p == '\t' || *c->p == '\n' || *c->p == '\r'))
		c->p++;
}

static int
json_hex4(const char *p, unsigned *v)
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

/* Appends one byte to out if it fits; *fit drops to 0 once it does not. */
static void
json_put(char *out, size_t outsz, size_t *n, int *fit, unsigned char ch)
{
	if (out == NULL || !*fit)
		return;
	if (*n + 1 >= outsz) {
		*fit = 0;
		return;
	}
	out[(*n)++] = (char)ch;
	out[*n] = '\0';
}

static void
json_put_utf8(char *out, size_t outsz, size_t *n, int *fit, unsigned cp)
{
	if (cp < 0x80) {
		json_put(out, outsz, n, fit, (unsigned char)cp);
	} else if (cp < 0x800) {
		json_put(out, outsz, n, fit, (unsigned char)(0xc0 | cp >> 6));
		json_put(out, outsz, n, fit, (unsigned char)(0x80 | (cp & 63)));
	} else {
		/* Surrogates pass through as such: nothing here needs them. */
		json_put(out, outsz, n, fit, (unsigned char)(0xe0 | cp >> 12));
		json_put(
		    out, outsz, n, fit, (unsigned char)(0x80 | (cp >> 6 & 63)));
		json_put(out, outsz, n, fit, (unsigned char)(0x80 | (cp & 63)));
	}
}

/* The character a one-letter escape such as \n stands for. */
static unsigned char
json_unescape(char e)
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
	default:
		return (unsigned char)e;
	}
}

/*
 * Reads the string at c->p (at its opening quote), decoding it into out
 * when out is not NULL. Returns 1 decoded whole, 0 valid but too long for
 * out, -1 malformed.
 */
static int
json_string(struct json_cur *c, char *out, size_t outsz)
{
	size_t n = 0;
	int fit = 1;
	unsigned cp;
	char e;

	if (out != NULL && outsz > 0)
		out[0] = '\0';
	if (c->p >= c->end || *c->p++ != '"')
		return -1;
	while (c->p < c->end && *c->p != '"') {
		if ((unsigned char)*c->p < 0x20)
			return -1;
		if (*c->p != '\\') {
			json_put(out, outsz, &n, &fit, (unsigned char)*c->p++);
			continue;
		}
		if (c->end - c->p < 2)
			return -1;
		e = c->p[1];
		c->p += 2;
		if (e == 'u') {
			if (c->end - c->p < 4 || json_hex4(c->p, &cp) == -1)
				return -1;
			c->p += 4;
			json_put_utf8(out, outsz, &n, &fit, cp);
			continue;
		}
		if (strchr("\"\\/bfnrt", e) == NULL || e == '\0')
			return -1;
		json_put(out, outsz, &n, &fit, json_unescape(e));
	}
	if (c->p >= c->end)
		return -1;
	c->p++;
	return fit;
}

/* Skips one value of any type; -1 if malformed. */
static int
json_skip(struct json_cur *c, int depth)
{
	char close;

	json_ws(c);
	if (c->p >= c->end || depth > JSON_DEPTH_MAX)
		return -1;
	if (*c->p == '"')
		return json_string(c, NULL, 0) < 0 ? -1 : 0;
	if (*c->p != '{' && *c->p != '[') {
		/* Numbers and literals: their characters, no deeper check. */
		const char *start = c->p;
		while (c->p < c->end &&
		    strchr("+-.0123456789eEtrufalsn", *c->p) != NULL &&
		    *c->p != '\0')
			c->p++;
		return c->p == start ? -1 : 0;
	}
	close = *c->p == '{' ? '}' : ']';
	c->p++;
	json_ws(c);
	if (c->p < c->end && *c->p == close) {
		c->p++;
		return 0;
	}
	for (;;) {
		if (close == '}') {
			json_ws(c);
			if (json_string(c, NULL, 0) < 0)
				return -1;
			json_ws(c);
			if (c->p >= c->end || *c->p++ != ':')
				return -1;
		}
		if (json_skip(c, depth + 1) == -1)
			return -1;
		json_ws(c);
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

int
json_get_string(
    const char *buf, size_t len, const char *key, char *out, size_t outsz)
{
	struct json_cur c = { buf, buf + len };
	char name[256];
	int rc;

	json_ws(&c);
	if (c.p >= c.end || *c.p++ != '{')
		return -1;
	json_ws(&c);
	if (c.p < c.end && *c.p == '}')
		return -1;
	for (;;) {
		json_ws(&c);
		if ((rc = json_string(&c, name, sizeof(name))) < 0)
			return -1;
		json_ws(&c);
		if (c.p >= c.end || *c.p++ != ':')
			return -1;
		json_ws(&c);
		if (rc == 1 && strcmp(name, key) == 0) {
			if (c.p >= c.end || *c.p != '"')
				return -1;
			return json_string(&c, out, outsz) == 1 ? 0 : -1;
		}
		if (json_skip(&c, 1) == -1)
			return -1;
		json_ws(&c);
		if (c.p >= c.end || *c.p++ != ',')
			return -1;
	}
}
