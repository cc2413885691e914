/* How many containers use each shared cloud resource (a task definition,
 * a Cloud Run or Container Apps job), named in one private key: whether
 * one is still in use is asked at every removal, and walking every
 * container for it cost 28 ms a removal with 100k containers held. The
 * counts are made from the containers at the first question (after a
 * restart: the loaded ones), then kept by kit_uses_set, the one writer of
 * the key, and kit_uses_release at removal. */
#include <stdlib.h>
#include <string.h>

#include "sockerless/backend.h"
#include "sockerless/backend_kit.h"
#include "sockerless/json.h"
#include "sockerless/log.h"
#include "sockerless/xmalloc.h"

struct kit_use {
	char *val;
	size_t n;
};

static const char *
kit_uses_of(const struct kit_uses *u, const struct container *c)
{
	return container_private_str(c, u->p_key);
}

/* The position of val, or where it would go. */
static size_t
kit_uses_pos(const struct kit_uses *u, const char *val)
{
	size_t lo = 0, hi = u->n, mid;

	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		if (strcmp(u->v[mid].val, val) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static void
kit_uses_take(struct kit_uses *u, const char *val)
{
	size_t i = kit_uses_pos(u, val);

	if (i < u->n && strcmp(u->v[i].val, val) == 0) {
		u->v[i].n++;
		return;
	}
	if (u->n == u->cap) {
		u->cap = u->cap < 16 ? 16 : u->cap * 2;
		u->v = xreallocarray(u->v, u->cap, sizeof(*u->v));
	}
	memmove(&u->v[i + 1], &u->v[i], (u->n - i) * sizeof(*u->v));
	u->v[i].val = xstrdup(val);
	u->v[i].n = 1;
	u->n++;
}

/* One user less; a value no container uses leaves the table. */
static void
kit_uses_drop(struct kit_uses *u, const char *val)
{
	size_t i = kit_uses_pos(u, val);

	if (i >= u->n || strcmp(u->v[i].val, val) != 0) {
		/* Cannot happen while every write goes through kit_uses_set;
		 * counting afresh at the next question is the safe answer. */
		log_warnx("%s %s released more often than taken; counting "
			  "its users again",
		    u->p_key, val);
		kit_uses_free(u);
		return;
	}
	if (--u->v[i].n > 0)
		return;
	free(u->v[i].val);
	memmove(&u->v[i], &u->v[i + 1], (u->n - i - 1) * sizeof(*u->v));
	u->n--;
}

static void
kit_uses_count_one(struct backend *b, struct container *c, void *arg)
{
	struct kit_uses *u = arg;
	const char *val = kit_uses_of(u, c);

	(void)b;
	if (val != NULL)
		kit_uses_take(u, val);
}

static void
kit_uses_count(struct kit_uses *u, struct backend *b)
{
	if (u->counted)
		return;
	backend_container_foreach(b, kit_uses_count_one, u);
	u->counted = 1;
}

void
kit_uses_set(struct kit_uses *u, struct container *c, const char *val)
{
	const char *old = kit_uses_of(u, c);

	if (old != NULL && strcmp(old, val) == 0)
		return;
	if (u->counted) {
		kit_uses_take(u, val);
		if (old != NULL)
			kit_uses_drop(u, old); /* before old is freed */
	}
	json_set(container_private(c), u->p_key, cJSON_CreateString(val));
}

void
kit_uses_release(
    struct kit_uses *u, struct backend *b, const struct container *c)
{
	const char *val = kit_uses_of(u, c);

	kit_uses_count(u, b);
	if (val != NULL)
		kit_uses_drop(u, val);
}

size_t
kit_uses_count_of(struct kit_uses *u, struct backend *b, const char *val)
{
	size_t i;

	kit_uses_count(u, b);
	i = kit_uses_pos(u, val);
	return i < u->n && strcmp(u->v[i].val, val) == 0 ? u->v[i].n : 0;
}

int
kit_uses_used(struct kit_uses *u, struct backend *b, const char *val)
{
	return kit_uses_count_of(u, b, val) > 0;
}

void
kit_uses_free(struct kit_uses *u)
{
	for (size_t i = 0; i < u->n; i++)
		free(u->v[i].val);
	free(u->v);
	u->v = NULL;
	u->n = u->cap = 0;
	u->counted = 0;
}
