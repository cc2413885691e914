/* Route table matching for "/containers/{id}/json"-style patterns.
 * "{name}" matches one non-empty path segment; "{name*}" matches one or
 * more segments greedily but must leave room for the fixed text after it
 * ("/images/{name*}/json" matches "/images/docker.io/library/busybox/json").
 * Matching is first-match in table order. */
#ifndef SOCKERLESS_ROUTER_H
#define SOCKERLESS_ROUTER_H

#include <stddef.h>

#define ROUTER_MAX_PARAMS 4

struct router_route {
	const char *method;	/* "GET", "POST", ... */
	const char *pattern;	/* "/containers/{id}/json" */
	void *handler;		/* opaque to the router */
	const char *capability; /* opaque to the router; may be NULL */
};

struct router_match {
	const struct router_route *route;
	int nparams;
	char names[ROUTER_MAX_PARAMS][32];
	char values[ROUTER_MAX_PARAMS][1024]; /* as in path (httpsrv decodes) */
};

enum { ROUTER_OK = 0, ROUTER_NOT_FOUND = 1, ROUTER_BAD_METHOD = 2 };

/* Finds the route for method and path (path without the query). Returns
 * ROUTER_OK and fills m, ROUTER_BAD_METHOD if some route has the path but
 * not the method, else ROUTER_NOT_FOUND. A parameter longer than its
 * buffer does not match. */
int router_match(const struct router_route *t, size_t n, const char *method,
    const char *path, struct router_match *m);
/* The value of a parameter; NULL if the route has none of that name. */
const char *router_param(const struct router_match *m, const char *name);

#endif
