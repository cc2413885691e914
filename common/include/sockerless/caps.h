/* The capability model shared by frontend and backends: what a backend can
 * do, its wire form (GET /internal/v1/capabilities), and the one 501
 * message shape for what it cannot. */
#ifndef SOCKERLESS_CAPS_H
#define SOCKERLESS_CAPS_H

#include <cjson/cJSON.h>

#include "sockerless/err.h"

enum caps_flag {
	CAP_EXEC,	 /* docker exec */
	CAP_ATTACH,	 /* attach with stdin (docker run -i, attach) */
	CAP_LOGS,	 /* docker logs; read-only attach of docker run */
	CAP_LOGS_FOLLOW, /* docker logs -f */
	CAP_VOLUMES,
	CAP_NETWORKS,
	CAP_HEALTH_CHECKS,
	CAP_ARCHIVE, /* docker cp */
	CAP_TOP,
	CAP_STATS,
	CAP_PAUSE,
	CAP_SIGNALS,	    /* docker kill -s other than KILL/TERM */
	CAP_AGENT_REQUIRED, /* not an operation: the workload runs an agent */
	CAP_PUBLISH,	    /* published ports (-p, -P) over the agent link */
	CAP__COUNT
};

struct caps {
	char backend[32];
	char version[32];
	char instance[192];
	int flag[CAP__COUNT];
	long max_timeout_seconds; /* 0: no limit */
	/* The backend's own 501 sentence for a flag it has off ("" for the
	 * agreed one), e.g. why volumes are off and which key turns them on;
	 * carried in the capabilities document ("reasons"). */
	char why[CAP__COUNT][240];
};

/* The wire name of a flag ("exec", "logs_follow", ...). */
const char *caps_name(enum caps_flag f);
/* The flag with that wire name, or -1. */
int caps_by_name(const char *name);
/* Returns a new object owned by the caller. */
cJSON *caps_to_json(const struct caps *c);
int caps_from_json(const cJSON *o, struct caps *c, struct err *e);
/* Fills e with Docker's 501 and the agreed sentence, e.g. "This backend
 * (lambda) does not support exec. CI runners require exec-capable backends
 * (ecs, cloudrun, aca, docker)." and returns -1. */
int caps_unsupported(const struct caps *c, enum caps_flag f, struct err *e);

#endif
