/* Route table matching; see router.h for the pattern language. */
#include <stddef.h>
#include <string.h>

#include "sockerless/router.h"

/* Length of the fixed segment text starting at p (up to '/' or end). */
static size_t
router_seglen(const char *p)
{
	const char *s = strchr(p, '/');

	return s != NULL ? (size_t)(s - p) : strlen(p);
}

static int
router_add(struct router_match *m, const char *name, size_t nlen, const char *v,
    size_t vlen)
{
	int i = m->nparams;

	if (i >= ROUTER_MAX_PARAMS || nlen >= sizeof(m->names[0]) ||
	    vlen >= sizeof(m->values[0]) || vlen == 0)
		return -1;
	memcpy(m->names[i], name, nlen);
	m->names[i][nlen] = '\0';
	memcpy(m->values[i], v, vlen);
	m->values[i][vlen] = '\0';
	m->nparams++;
	return 0;
}

/* Matches pattern p against path s, recursively for greedy parameters.
 * Returns 1 on a match with m's parameters filled. */
static int
router_try(const char *p, const char *s, struct router_match *m)
{
	while (*p != '\0') {
		if (*p == '{') {
			const char *close = strchr(p, '}');
			size_t nlen, vlen;
			int greedy;

			if (close == NULL)
				return 0;
			greedy = close[-1] == '*';
			nlen = (size_t)(close - p - 1) - (greedy ? 1 : 0);
			if (!greedy) {
				vlen = router_seglen(s);
				if (router_add(m, p + 1, nlen, s, vlen) == -1)
					return 0;
				p = close + 1;
				s += vlen;
				continue;
			}
			/* Longest value first, ending on a segment boundary,
			 * such that the rest of the pattern matches. */
			for (vlen = strlen(s); vlen > 0; vlen--) {
				int saved = m->nparams;

				if (s[vlen] != '\0' && s[vlen] != '/')
					continue;
				if (router_add(m, p + 1, nlen, s, vlen) == -1)
					return 0;
				if (router_try(close + 1, s + vlen, m))
					return 1;
				m->nparams = saved;
			}
			return 0;
		}
		if (*p != *s)
			return 0;
		p++;
		s++;
	}
	return *s == '\0';
}

int
router_match(const struct router_route *t, size_t n, const char *method,
    const char *path, struct router_match *m)
{
	int path_seen = 0;

	for (size_t i = 0; i < n; i++) {
		memset(m, 0, sizeof(*m));
		if (!router_try(t[i].pattern, path, m))
			continue;
		if (strcmp(t[i].method, method) != 0) {
			path_seen = 1;
			continue;
		}
		m->route = &t[i];
		return ROUTER_OK;
	}
	memset(m, 0, sizeof(*m));
	return path_seen ? ROUTER_BAD_METHOD : ROUTER_NOT_FOUND;
}

const char *
router_param(const struct router_match *m, const char *name)
{
	for (int i = 0; i < m->nparams; i++)
		if (strcmp(m->names[i], name) == 0)
			return m->values[i];
	return NULL;
}
