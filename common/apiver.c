/* Docker API version prefixes; see apiver.h. */
#include <stdlib.h>
#include <string.h>

#include "sockerless/apiver.h"

int
apiver_split(const char *path, const char **rest, int *minor, struct err *e)
{
	const char *p;
	char *end;
	long major, min;

	*rest = path;
	*minor = APIVER_MAX_MINOR;
	if (strncmp(path, "/v", 2) != 0 || !(path[2] >= '0' && path[2] <= '9'))
		return 0;
	p = path + 2;
	major = strtol(p, &end, 10);
	if (*end != '.')
		return err_set(e, 404, "page not found");
	p = end + 1;
	if (!(*p >= '0' && *p <= '9'))
		return err_set(e, 404, "page not found");
	min = strtol(p, &end, 10);
	if (*end != '/' && *end != '\0')
		return err_set(e, 404, "page not found");
	if (major > 1 || (major == 1 && min > APIVER_MAX_MINOR))
		return err_set(e, 400,
		    "client version %ld.%ld is too new. Maximum supported API "
		    "version is 1.%d",
		    major, min, APIVER_MAX_MINOR);
	if (major < 1 || min < APIVER_MIN_MINOR)
		return err_set(e, 400,
		    "client version %ld.%ld is too old. Minimum supported API "
		    "version is 1.%d, please upgrade your client to a newer "
		    "version",
		    major, min, APIVER_MIN_MINOR);
	*rest = *end == '\0' ? "/" : end;
	*minor = (int)min;
	return 0;
}
