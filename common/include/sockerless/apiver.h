/* Docker API version prefixes ("/v1.44/containers/json"). */
#ifndef SOCKERLESS_APIVER_H
#define SOCKERLESS_APIVER_H

#include "sockerless/err.h"

#define APIVER_MAX_MINOR 44
#define APIVER_MIN_MINOR 24

/* Splits path into the API minor version (1.<minor>) and the rest. A path
 * without a prefix gets the newest version and rest == path. Errors: 404
 * for a malformed prefix ("/v1/x"), 400 for a version outside
 * 1.24..1.44, with Docker's messages. */
int apiver_split(
    const char *path, const char **rest, int *minor, struct err *e);

#endif
