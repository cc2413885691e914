/* What the framework's handlers and the backends share: the container
 * set's lookups and iteration, query parsing, and the replies every
 * handler gives (done, 501 for an endpoint not built). */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "backend_int.h"
#include "sockerless/container.h"
#include "sockerless/json.h"
#include "sockerless/xmalloc.h"

void
backend_container_foreach(struct backend *b,
    void (*fn)(struct backend *b, struct container *c, void *arg), void *arg)
{
	struct container *c, *next;

	for (c = TAILQ_FIRST(&b->containers); c != NULL; c = next) {
		next = TAILQ_NEXT(c, entry);
		fn(b, c, arg);
	}
}

void
backend_container_foreach_active(struct backend *b,
    void (*fn)(struct backend *b, struct container *c, void *arg), void *arg)
{
	size_t n = b->active.n;
	struct container **v;

	if (n == 0)
		return;
	/* A snapshot: fn may change the set. */
	v = xreallocarray(NULL, n, sizeof(*v));
	memcpy(v, b->active.v, n * sizeof(*v));
	for (size_t i = 0; i < n; i++)
		container_ref(v[i]);
	for (size_t i = 0; i < n; i++) {
		if (!v[i]->gone)
			fn(b, v[i], arg);
	}
	for (size_t i = 0; i < n; i++)
		container_unref(v[i]);
	free(v);
}

static int
backend_container_has_private(
    const struct container *c, const char *key, const char *value)
{
	const char *v = container_private_str(c, key);

	return v != NULL && strcmp(v, value) == 0;
}

struct container *
backend_container_by_private(
    struct backend *b, const char *key, const char *value)
{
	struct container *c;

	/* Pollers ask about the workloads of running containers: look there
	 * first, not through the whole state. */
	for (size_t i = 0; i < b->active.n; i++)
		if (backend_container_has_private(b->active.v[i], key, value))
			return b->active.v[i];
	TAILQ_FOREACH(c, &b->containers, entry) {
		if (backend_container_has_private(c, key, value))
			return c;
	}
	return NULL;
}

/* Docker's lookup: full id, exact name, then a unique id prefix. */
struct container *
backend_lookup_or_reply(
    struct backend *b, struct httpsrv_req *r, const char *ref)
{
	struct container *c;
	int ambiguous;

	if (ref == NULL || ref[0] == '\0') {
		httpsrv_reply_error(r, 404, "No such container: ");
		return NULL;
	}
	if (ref[0] == '/')
		ref++;
	if ((c = backend_index_get(&b->by_id, ref)) != NULL ||
	    (c = backend_index_get(&b->by_name, ref)) != NULL)
		return c;
	if (ref[0] != '\0' &&
	    (c = backend_index_prefix(&b->by_id, ref, &ambiguous)) != NULL) {
		if (!ambiguous)
			return c;
		httpsrv_reply_error(
		    r, 400, "Multiple IDs found with provided prefix: %s", ref);
		return NULL;
	}
	httpsrv_reply_error(r, 404, "No such container: %s", ref);
	return NULL;
}

int
backend_query_bool(struct httpsrv_req *r, const char *name, int def)
{
	const char *v = httpsrv_req_query(r, name);

	if (v == NULL)
		return def;
	return !(v[0] == '\0' || strcmp(v, "0") == 0 ||
	    strcasecmp(v, "false") == 0 || strcasecmp(v, "no") == 0);
}

void
backend_reply_done(struct httpsrv_req *r, const struct err *e, int status)
{
	if (e != NULL)
		httpsrv_reply_err(r, e);
	else
		httpsrv_reply_empty(r, status);
}

void
backend_reply_unbuilt(struct backend *b, struct httpsrv_req *r)
{
	const char *path = httpsrv_req_path(r);

	if (str_prefix(path, INTERNAL_PREFIX "/"))
		path += strlen(INTERNAL_PREFIX);
	httpsrv_reply_error(r, 501,
	    "This backend (%s) does not implement %s %s yet.", b->ops->name,
	    httpsrv_req_method(r), path);
}
