/* The containers' lookup indexes: arrays of containers sorted by id and by
 * name, so that finding a container, checking a name and resolving an id
 * prefix are binary searches however many containers the state holds (a
 * linear scan per request, and per try of a random name, stalled the
 * backend at scale). */
#include <stdlib.h>
#include <string.h>

#include "backend_int.h"
#include "sockerless/xmalloc.h"

static const char *
backend_index_key(const struct backend_index *x, const struct container *c)
{
	const char *k = x->key(c);

	return k != NULL ? k : "";
}

void
backend_index_init(
    struct backend_index *x, const char *(*key)(const struct container *c))
{
	memset(x, 0, sizeof(*x));
	x->key = key;
}

void
backend_index_free(struct backend_index *x)
{
	free(x->v);
	x->v = NULL;
	x->n = x->cap = 0;
}

/* The first position whose key is not below key (with len, compares only
 * the first len characters: a prefix search). */
static size_t
backend_index_lower(const struct backend_index *x, const char *key, size_t len)
{
	size_t lo = 0, hi = x->n, mid;

	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		if (strncmp(backend_index_key(x, x->v[mid]), key, len) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

void
backend_index_add(struct backend_index *x, struct container *c)
{
	size_t i;

	backend_index_append(x, c); /* makes room */
	x->n--;
	i = backend_index_lower(x, backend_index_key(x, c), (size_t)-1);
	memmove(&x->v[i + 1], &x->v[i], (x->n - i) * sizeof(*x->v));
	x->v[i] = c;
	x->n++;
}

void
backend_index_append(struct backend_index *x, struct container *c)
{
	if (x->n == x->cap) {
		x->cap = x->cap < 64 ? 64 : x->cap * 2;
		x->v = xreallocarray(x->v, x->cap, sizeof(*x->v));
	}
	x->v[x->n++] = c;
}

static int
backend_index_cmp(const void *a, const void *b, void *arg)
{
	const struct backend_index *x = arg;

	return strcmp(backend_index_key(x, *(struct container *const *)a),
	    backend_index_key(x, *(struct container *const *)b));
}

void
backend_index_sort(struct backend_index *x)
{
	if (x->n > 1)
		qsort_r(x->v, x->n, sizeof(*x->v), backend_index_cmp, x);
}

void
backend_index_del(struct backend_index *x, struct container *c)
{
	const char *k = backend_index_key(x, c);
	size_t i = backend_index_lower(x, k, (size_t)-1);

	/* Keys may repeat (two unnamed records); the pointer decides. */
	for (; i < x->n && strcmp(backend_index_key(x, x->v[i]), k) == 0; i++) {
		if (x->v[i] != c)
			continue;
		memmove(&x->v[i], &x->v[i + 1], (x->n - i - 1) * sizeof(*x->v));
		x->n--;
		return;
	}
}

struct container *
backend_index_get(const struct backend_index *x, const char *key)
{
	size_t i = backend_index_lower(x, key, (size_t)-1);

	if (i < x->n && strcmp(backend_index_key(x, x->v[i]), key) == 0)
		return x->v[i];
	return NULL;
}

struct container *
backend_index_prefix(
    const struct backend_index *x, const char *prefix, int *ambiguous)
{
	size_t len = strlen(prefix);
	size_t i = backend_index_lower(x, prefix, len);

	*ambiguous = 0;
	if (i >= x->n ||
	    strncmp(backend_index_key(x, x->v[i]), prefix, len) != 0)
		return NULL;
	/* Sorted: a second match can only be the next entry. */
	if (i + 1 < x->n &&
	    strncmp(backend_index_key(x, x->v[i + 1]), prefix, len) == 0)
		*ambiguous = 1;
	return x->v[i];
}
