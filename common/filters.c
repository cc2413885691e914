/* Docker's "filters" query parameter: parsing both JSON forms, the match
 * rules of the list and prune endpoints, and Docker's timestamps. */
#include <ctype.h>
#include <fnmatch.h>
#include <regex.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sockerless/filters.h"
#include "sockerless/json.h"
#include "sockerless/str.h"
#include "sockerless/xmalloc.h"

struct filters_entry {
	char *key;
	struct strv vals;
	/* vals compiled as regexes, once, by the first filters_match_regex:
	 * a list matches one filter against every container, and compiling
	 * it for each took most of a filtered ps of 100k containers. */
	regex_t *re;
};

struct filters {
	struct filters_entry *v;
	size_t n;
};

static struct filters_entry *
filters_find(const struct filters *f, const char *key)
{
	if (f == NULL)
		return NULL;
	for (size_t i = 0; i < f->n; i++)
		if (strcmp(f->v[i].key, key) == 0)
			return &f->v[i];
	return NULL;
}

static struct filters_entry *
filters_entry(struct filters *f, const char *key)
{
	struct filters_entry *fe;

	if ((fe = filters_find(f, key)) != NULL)
		return fe;
	f->v = xreallocarray(f->v, f->n + 1, sizeof(*f->v));
	fe = &f->v[f->n++];
	fe->key = xstrdup(key);
	strv_init(&fe->vals);
	fe->re = NULL;
	return fe;
}

static int
filters_allowed(const char **keys, const char *key)
{
	for (; keys != NULL && *keys != NULL; keys++)
		if (strcmp(*keys, key) == 0)
			return 1;
	return 0;
}

/* One key's values: ["a","b"], or the legacy {"a":true,"b":true}. */
static int
filters_add_values(struct filters *f, const cJSON *item, struct err *e)
{
	struct filters_entry *fe = filters_entry(f, item->string);
	const cJSON *v;

	if (cJSON_IsArray(item)) {
		cJSON_ArrayForEach(v, item) {
			if (!cJSON_IsString(v))
				goto bad;
			if (!strv_contains(&fe->vals, v->valuestring))
				strv_add(&fe->vals, v->valuestring);
		}
		return 0;
	}
	if (cJSON_IsObject(item)) {
		cJSON_ArrayForEach(v, item) {
			if (!cJSON_IsBool(v))
				goto bad;
			if (cJSON_IsTrue(v) &&
			    !strv_contains(&fe->vals, v->string))
				strv_add(&fe->vals, v->string);
		}
		return 0;
	}
bad:
	return err_set(e, 400,
	    "invalid filter '%s': values must be a list of strings",
	    item->string);
}

struct filters *
filters_parse(const char *q, const char **keys, struct err *e)
{
	struct filters *f = xcalloc(1, sizeof(*f));
	cJSON *o = NULL;
	const cJSON *item;

	if (q == NULL || *q == '\0')
		return f;
	if ((o = json_parse(q, strlen(q), e)) == NULL) {
		err_wrap(e, "invalid filters");
		goto fail;
	}
	if (!cJSON_IsObject(o)) {
		err_set(e, 400, "invalid filters: expected a JSON object");
		goto fail;
	}
	cJSON_ArrayForEach(item, o) {
		if (!filters_allowed(keys, item->string)) {
			err_set(e, 400, "invalid filter '%s'", item->string);
			goto fail;
		}
		if (filters_add_values(f, item, e) == -1)
			goto fail;
	}
	cJSON_Delete(o);
	return f;
fail:
	cJSON_Delete(o);
	filters_free(f);
	return NULL;
}

void
filters_free(struct filters *f)
{
	if (f == NULL)
		return;
	for (size_t i = 0; i < f->n; i++) {
		free(f->v[i].key);
		if (f->v[i].re != NULL) {
			for (size_t j = 0; j < f->v[i].vals.n; j++)
				regfree(&f->v[i].re[j]);
			free(f->v[i].re);
		}
		strv_free(&f->v[i].vals);
	}
	free(f->v);
	free(f);
}

/* The values of key, or NULL when it sets no constraint: Docker treats a
 * key with an empty list like an absent one. */
static const struct strv *
filters_values(const struct filters *f, const char *key)
{
	const struct filters_entry *fe = filters_find(f, key);

	return fe != NULL && fe->vals.n > 0 ? &fe->vals : NULL;
}

int
filters_has(const struct filters *f, const char *key)
{
	return filters_values(f, key) != NULL;
}

int
filters_check_values(const struct filters *f, const char *key,
    const char **allowed, struct err *e)
{
	const struct strv *sv = filters_values(f, key);

	for (size_t i = 0; sv != NULL && i < sv->n; i++)
		if (!filters_allowed(allowed, sv->v[i]))
			return err_set(
			    e, 400, "invalid filter '%s=%s'", key, sv->v[i]);
	return 0;
}

int
filters_match_id_prefix(
    const struct filters *f, const char *key, const char *id)
{
	const struct strv *sv = filters_values(f, key);

	if (sv == NULL)
		return 1;
	for (size_t i = 0; id != NULL && i < sv->n; i++)
		if (str_prefix(id, sv->v[i]))
			return 1;
	return 0;
}

/* Whether re matches name as given or with its leading '/' toggled. The
 * toggled form is built on the stack for a name of usual length: a name
 * filter over 10k containers allocates nothing. */
static int
filters_regex_name(const regex_t *re, const char *name)
{
	char stack[256], *alt;
	size_t n;
	int ok;

	if (regexec(re, name, 0, NULL, 0) == 0)
		return 1;
	if (name[0] == '/')
		return regexec(re, name + 1, 0, NULL, 0) == 0;
	n = strlen(name);
	alt = n + 2 <= sizeof(stack) ? stack : xmalloc(n + 2);
	alt[0] = '/';
	memcpy(alt + 1, name, n + 1);
	ok = regexec(re, alt, 0, NULL, 0) == 0;
	if (alt != stack)
		free(alt);
	return ok;
}

/* Docker (Go's regexp) refuses repeat counts over 1000, nested ones
 * multiplied ("(a{100}){100}"), and a repetition operator applied to
 * another ("a++", "a{2}*"; one lazy '?' after a repeat is fine). glibc takes
 * them, and its regcomp and regexec then run for seconds to minutes on the
 * event loop ("(.*){1,32000}x", "w++++++++++++++++++++++++++++++++"):
 * refused here the same way. */
#define FILTERS_MAX_REPEAT 1000
#define FILTERS_MAX_DEPTH  64

/* The repeat count of "{m}", "{m,}" or "{m,n}" at p (the larger bound), -1
 * when p is not an interval; *len gets its length. */
static long
filters_regex_interval(const char *p, size_t *len)
{
	const char *q = p + 1;
	long m = 0, n = -1;

	/* glibc reads "{,n}" as "{0,n}". */
	if ((*q < '0' || *q > '9') && *q != ',')
		return -1;
	for (; *q >= '0' && *q <= '9'; q++)
		m = m > 100000 ? m : m * 10 + (*q - '0');
	if (*q == ',') {
		for (q++, n = 0; *q >= '0' && *q <= '9'; q++)
			n = n > 100000 ? n : n * 10 + (*q - '0');
	}
	if (*q != '}')
		return -1;
	*len = (size_t)(q - p) + 1;
	return n > m ? n : m;
}

/* Where the first construct Docker would refuse starts, with *why set;
 * NULL when there is none. */
static const char *
filters_regex_refused(const char *re, const char **why)
{
	long inner[FILTERS_MAX_DEPTH + 1], last = 1, n = 0;
	int depth = 0, rep = 0; /* rep: 1 after a repeat, 2 after its '?' */
	size_t len;

	inner[0] = 1;
	for (const char *p = re; *p != '\0'; p++) {
		if (*p == '*' || *p == '+' || *p == '?' ||
		    (*p == '{' && (n = filters_regex_interval(p, &len)) >= 0)) {
			if (rep == 1 && *p == '?') {
				rep = 2;
				continue;
			}
			if (rep != 0) {
				*why = "invalid nested repetition operator";
				return p;
			}
			rep = 1;
			if (*p != '{')
				continue;
			/* The repeated group's own repeats multiply. */
			if (n > FILTERS_MAX_REPEAT ||
			    n * last > FILTERS_MAX_REPEAT) {
				*why = "invalid repeat count";
				return p;
			}
			if (n * last > inner[depth])
				inner[depth] = n * last;
			p += len - 1;
			continue;
		}
		rep = 0;
		last = 1;
		switch (*p) {
		case '\\':
			if (p[1] != '\0')
				p++;
			break;
		case '[':
			/* A bracket expression: "]" first is a member. */
			p += p[1] == '^' ? 2 : 1;
			if (*p == ']')
				p++;
			while (*p != '\0' && *p != ']')
				p++;
			if (*p == '\0')
				return NULL; /* regcomp says what is wrong */
			break;
		case '(':
			if (depth == FILTERS_MAX_DEPTH) {
				*why = "expression nests too deeply";
				return p;
			}
			inner[++depth] = 1;
			break;
		case ')':
			if (depth > 0)
				last = inner[depth--];
			if (last > inner[depth])
				inner[depth] = last;
			break;
		default:
			break;
		}
	}
	return NULL;
}

static void
filters_regfree(regex_t *re, size_t n)
{
	for (size_t i = 0; i < n; i++)
		regfree(&re[i]);
	free(re);
}

/* Compiles fe's values into fe->re unless done before. */
static int
filters_compile(struct filters_entry *fe, struct err *e)
{
	const char *bad, *refused;
	char why[128];
	regex_t *re;
	int rc;

	if (fe->re != NULL)
		return 0;
	re = xcalloc(fe->vals.n, sizeof(*re));
	for (size_t i = 0; i < fe->vals.n; i++) {
		const char *v = fe->vals.v[i];
		if ((bad = filters_regex_refused(v, &refused)) != NULL) {
			filters_regfree(re, i);
			return err_set(e, 400,
			    "invalid filter '%s=%s': %s at \"%.*s\" (at "
			    "most %d repeats, nested ones multiplied)",
			    fe->key, v, refused,
			    *bad == '{' ? (int)strcspn(bad, "}") + 1 : 1, bad,
			    FILTERS_MAX_REPEAT);
		}
		if ((rc = regcomp(&re[i], v, REG_EXTENDED | REG_NOSUB)) != 0) {
			regerror(rc, &re[i], why, sizeof(why));
			filters_regfree(re, i);
			return err_set(e, 400, "invalid filter '%s=%s': %s",
			    fe->key, v, why);
		}
	}
	fe->re = re;
	return 0;
}

int
filters_match_regex(
    const struct filters *f, const char *key, const char **names, struct err *e)
{
	struct filters_entry *fe = filters_find(f, key);

	if (fe == NULL || fe->vals.n == 0)
		return 1;
	if (filters_compile(fe, e) == -1)
		return -1;
	for (size_t i = 0; i < fe->vals.n; i++)
		for (size_t j = 0; names != NULL && names[j] != NULL; j++)
			if (filters_regex_name(&fe->re[i], names[j]))
				return 1;
	return 0;
}

/* "k" holds when labels has k; "k=v" when its value is exactly v. */
static int
filters_label_holds(const cJSON *labels, const char *want)
{
	const char *eq = strchr(want, '=');
	const cJSON *v;
	char *k;

	k = eq != NULL ? xstrndup(want, (size_t)(eq - want)) : xstrdup(want);
	v = cJSON_GetObjectItemCaseSensitive(labels, k);
	free(k);
	if (!cJSON_IsString(v))
		return 0;
	return eq == NULL || strcmp(v->valuestring, eq + 1) == 0;
}

int
filters_match_labels(
    const struct filters *f, const char *key, const cJSON *labels)
{
	const struct strv *sv = filters_values(f, key);

	for (size_t i = 0; sv != NULL && i < sv->n; i++)
		if (!filters_label_holds(labels, sv->v[i]))
			return 0;
	return 1;
}

int
filters_match_exact(const struct filters *f, const char *key, const char *v)
{
	const struct strv *sv = filters_values(f, key);

	if (sv == NULL)
		return 1;
	return v != NULL && strv_contains(sv, v);
}

int
filters_match_glob(const struct filters *f, const char *key, const char *v)
{
	const struct strv *sv = filters_values(f, key);

	if (sv == NULL)
		return 1;
	for (size_t i = 0; v != NULL && i < sv->n; i++)
		if (fnmatch(sv->v[i], v, 0) == 0)
			return 1;
	return 0;
}

int
filters_until(const struct filters *f, int64_t *until, struct err *e)
{
	const struct strv *sv = filters_values(f, "until");

	*until = 0;
	if (sv == NULL)
		return 0;
	if (sv->n > 1)
		return err_set(e, 400, "more than one until filter specified");
	if (filters_parse_time(sv->v[0], until) == -1)
		return err_set(e, 400,
		    "invalid filter 'until=%s': expected a unix timestamp, an "
		    "RFC 3339 date between 1678 and 2262 or a duration such "
		    "as 10m",
		    sv->v[0]);
	return 0;
}

/* Nanoseconds per Go duration unit at *p, advancing past it; 0 if none. */
static int64_t
filters_unit(const char **p)
{
	static const struct {
		const char *name;
		int64_t ns;
	} units[] = { { "ns", 1 }, { "us", 1000 }, { "\xc2\xb5s", 1000 },
		{ "\xce\xbcs", 1000 }, { "ms", 1000000 }, { "s", 1000000000 },
		{ "m", 60LL * 1000000000 }, { "h", 3600LL * 1000000000 } };

	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		size_t n = strlen(units[i].name);
		if (strncmp(*p, units[i].name, n) == 0) {
			*p += n;
			return units[i].ns;
		}
	}
	return 0;
}

/* Go's time.ParseDuration: [-+]?(digits[.digits]unit)+, or "0". */
static int
filters_parse_duration(const char *s, int64_t *ns)
{
	const char *p = s;
	int neg = 0;
	int64_t total = 0;

	if (*p == '-' || *p == '+')
		neg = *p++ == '-';
	if (strcmp(p, "0") == 0) {
		*ns = 0;
		return 0;
	}
	if (*p == '\0')
		return -1;
	while (*p != '\0') {
		int64_t whole = 0, frac = 0, scale = 1, unit;
		const char *start = p;
		while (isdigit((unsigned char)*p)) {
			if (whole > INT64_MAX / 10 - 10)
				return -1;
			whole = whole * 10 + (*p++ - '0');
		}
		if (*p == '.')
			for (p++; isdigit((unsigned char)*p); p++)
				if (scale < 1000000000000000LL) {
					frac = frac * 10 + (*p - '0');
					scale *= 10;
				}
		if (p == start || (p == start + 1 && *start == '.'))
			return -1;
		if ((unit = filters_unit(&p)) == 0)
			return -1;
		if (whole > (INT64_MAX - total) / unit - 1)
			return -1;
		total += whole * unit + (int64_t)((double)frac * unit / scale);
	}
	*ns = neg ? -total : total;
	return 0;
}

int
filters_parse_time(const char *s, int64_t *ns)
{
	int64_t d;

	if (s == NULL || *s == '\0')
		return -1;
	/* Docker tries a duration first, except "0", which is the epoch. */
	if (strcmp(s, "0") != 0 && filters_parse_duration(s, &d) == 0) {
		/* A negative duration is in the future, maybe past 2262:
		 * refused as out of range (400), never an overflow. */
		if (__builtin_sub_overflow(str_now_ns(), d, &d))
			return -1;
		*ns = d;
		return 0;
	}
	return str_time_parse(s, ns);
}
