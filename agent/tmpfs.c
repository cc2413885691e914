/* sockerless-agent: the modes of the container's tmpfs mounts. Where the
 * cloud gives a --tmpfs path plain task storage (ECS: a host-less volume,
 * root:root 0755), the agent gives it the mode Docker's tmpfs has (1777,
 * or the mount's mode=) as root before the main process starts, so a
 * non-root workload can write there as under Docker. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "agent.h"
#include "jread.h"

static void
tmpfs_apply(const char *path, int64_t mode)
{
	if (path[0] != '/' || mode < 0 || mode > 07777) {
		fprintf(stderr,
		    "sockerless-agent: SOCKERLESS_TMPFS: %s: want an absolute "
		    "path and a mode up to 07777\n",
		    path);
		return;
	}
	if (mkdir(path, 0755) == -1 && errno != EEXIST) {
		fprintf(stderr, "sockerless-agent: tmpfs %s: %s\n", path,
		    strerror(errno));
		return;
	}
	if (chmod(path, (mode_t)mode) == -1)
		fprintf(stderr, "sockerless-agent: tmpfs %s: chmod %llo: %s\n",
		    path, (unsigned long long)mode, strerror(errno));
}

void
tmpfs_init(const char *json)
{
	struct jread c;
	char *path;
	int64_t mode;
	int more;

	if (json == NULL || *json == '\0')
		return;
	jread_init(&c, json, strlen(json));
	if (!jread_eat(&c, '{'))
		goto bad;
	if (jread_eat(&c, '}'))
		return;
	do {
		path = NULL;
		if (jread_member(&c, &path) == -1 ||
		    jread_number(&c, &mode) == -1) {
			free(path);
			goto bad;
		}
		tmpfs_apply(path, mode);
		free(path);
	} while ((more = jread_more(&c, '}')) == 1);
	if (more == 0)
		return;
bad:
	fprintf(stderr,
	    "sockerless-agent: malformed SOCKERLESS_TMPFS (a JSON object of "
	    "path: mode): tmpfs modes not applied\n");
}
