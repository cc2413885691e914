/* Capability names, wire form and the 501 sentence. */
#include <string.h>

#include "sockerless/caps.h"
#include "sockerless/json.h"
#include "sockerless/str.h"

static const struct {
	const char *name; /* wire name */
	const char *what; /* in "does not support <what>" */
	const char *hint; /* what the user can do instead */
} caps_table[CAP__COUNT] = {
	[CAP_EXEC] = { "exec", "exec",
	    "CI runners require exec-capable backends (ecs, cloudrun, aca, "
	    "docker)." },
	[CAP_ATTACH] = { "attach", "attach",
	    "CI runners require exec-capable backends (ecs, cloudrun, aca, "
	    "docker)." },
	[CAP_LOGS] = { "logs", "logs",
	    "Read the workload's output in the cloud's logging service." },
	[CAP_LOGS_FOLLOW] = { "logs_follow", "following logs",
	    "Run docker logs without -f/--follow." },
	[CAP_VOLUMES] = { "volumes", "volumes",
	    "Run the container without volumes, or use a backend that "
	    "supports them." },
	[CAP_NETWORKS] = { "networks", "networks",
	    "Run the container without user-defined networks, or use a "
	    "backend that supports them." },
	[CAP_HEALTH_CHECKS] = { "health_checks", "health checks",
	    "Run the container with --no-healthcheck." },
	[CAP_ARCHIVE] = { "archive", "copying files (docker cp)",
	    "Copy files through the image or a volume instead." },
	[CAP_TOP] = { "top", "listing processes (docker top)",
	    "Use a backend with an in-workload agent." },
	[CAP_STATS] = { "stats", "stats",
	    "Read metrics in the cloud's monitoring service." },
	[CAP_PAUSE] = { "pause", "pause and unpause",
	    "Stop the container instead." },
	[CAP_SIGNALS] = { "signals", "sending arbitrary signals",
	    "Use docker stop or docker kill without -s." },
	[CAP_AGENT_REQUIRED] = { "agent_required", "an agent", "" },
	[CAP_PUBLISH] = { "publish", "published ports (-p, -P)",
	    "Run the container without -p/-P, or use a backend that runs "
	    "the sockerless agent in its workloads (ecs)." },
};

const char *
caps_name(enum caps_flag f)
{
	return caps_table[f].name;
}

int
caps_by_name(const char *name)
{
	for (int i = 0; i < CAP__COUNT; i++)
		if (strcmp(caps_table[i].name, name) == 0)
			return i;
	return -1;
}

cJSON *
caps_to_json(const struct caps *c)
{
	cJSON *o = cJSON_CreateObject(), *flags = cJSON_CreateObject();
	cJSON *reasons = NULL;

	json_add_str(o, "backend", c->backend);
	json_add_str(o, "version", c->version);
	json_add_str(o, "instance", c->instance);
	for (int i = 0; i < CAP__COUNT; i++)
		json_add_bool(flags, caps_table[i].name, c->flag[i]);
	json_add_int(flags, "max_timeout_seconds", c->max_timeout_seconds);
	cJSON_AddItemToObject(o, "capabilities", flags);
	for (int i = 0; i < CAP__COUNT; i++) {
		if (c->why[i][0] == '\0')
			continue;
		if (reasons == NULL) {
			reasons = cJSON_CreateObject();
			cJSON_AddItemToObject(o, "reasons", reasons);
		}
		json_add_str(reasons, caps_table[i].name, c->why[i]);
	}
	return o;
}

int
caps_from_json(const cJSON *o, struct caps *c, struct err *e)
{
	const cJSON *flags = json_obj(o, "capabilities");
	const char *name = json_str(o, "backend");

	memset(c, 0, sizeof(*c));
	if (flags == NULL || name == NULL)
		return err_set(e, 502, "backend capabilities are malformed");
	str_lcpy(c->backend, name, sizeof(c->backend));
	str_lcpy(c->version,
	    json_str(o, "version") ? json_str(o, "version") : "",
	    sizeof(c->version));
	str_lcpy(c->instance,
	    json_str(o, "instance") ? json_str(o, "instance") : "",
	    sizeof(c->instance));
	for (int i = 0; i < CAP__COUNT; i++)
		c->flag[i] = json_bool(flags, caps_table[i].name, 0);
	c->max_timeout_seconds =
	    (long)json_int(flags, "max_timeout_seconds", 0);
	for (int i = 0; i < CAP__COUNT; i++) {
		const char *why =
		    json_str(json_obj(o, "reasons"), caps_table[i].name);
		if (why != NULL)
			str_lcpy(c->why[i], why, sizeof(c->why[i]));
	}
	return 0;
}

int
caps_unsupported(const struct caps *c, enum caps_flag f, struct err *e)
{
	/* The backend's own reason (what is missing, which key turns it on)
	 * in place of the agreed hint. */
	if (c->why[f][0] != '\0')
		return err_set(e, 501,
		    "This backend (%s) does not support %s. %s", c->backend,
		    caps_table[f].what, c->why[f]);
	/* A backend named in its own hint (ecs before its agent ships)
	 * must not send the user back to itself. */
	if (strstr(caps_table[f].hint, "(") != NULL && c->backend[0] != '\0' &&
	    strstr(caps_table[f].hint, c->backend) != NULL)
		return err_set(e, 501,
		    "This backend (%s) does not support %s yet: it needs the "
		    "in-workload agent, which this build does not have.",
		    c->backend, caps_table[f].what);
	return err_set(e, 501, "This backend (%s) does not support %s. %s",
	    c->backend, caps_table[f].what, caps_table[f].hint);
}
