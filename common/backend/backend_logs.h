/* Private to the backend framework: logs and the read-only attach
 * (backend_logs.c). */
#ifndef SOCKERLESS_BACKEND_LOGS_H
#define SOCKERLESS_BACKEND_LOGS_H

#include "backend_int.h"

/* backend_logs.c: logs and the read-only attach */
void backend_logs_get(
    struct backend *b, struct httpsrv_req *r, const struct router_match *m);
void backend_logs_attach(
    struct backend *b, struct httpsrv_req *r, const struct router_match *m);
void backend_logs_container_exited(struct backend *b, struct container *c);

/* Bytes queued for a logs client above which reading pauses. */
#define BACKEND_LOGS_HIGH_WATER (1024 * 1024)

/* backend_logs_agent.c: docker logs of a running container from its
 * agent's spool (the link's `logs` kind). */
struct logs_agent;
struct logs_agent_cbs {
	/* Events in order, as the log service would hold them. */
	void (*events)(void *arg, const struct backend_log_event *ev, size_t n);
	/* With follow: what the spool held at the open has been given. */
	void (*live)(void *arg);
	/* The last call: e NULL once everything has been given (without
	 * follow: the spool at the open; with it: the process ended), else
	 * why not (the spool lost its start, the link failed, an agent
	 * without the kind). la is no longer the caller's after it. */
	void (*end)(void *arg, const struct err *e);
	/* Bytes the client has not taken yet (flow control). */
	size_t (*pending)(void *arg);
};
/* Opens the logs channel of c's running agent, or NULL when the agent
 * cannot serve them (no agent or link, a container that ran before: its
 * earlier runs are in the log service only). */
struct logs_agent *backend_logs_agent_open(struct backend *b,
    struct container *c, int follow, const struct logs_agent_cbs *cbs,
    void *arg);
/* Abandons it: no more callbacks. */
void backend_logs_agent_close(struct logs_agent *la);

#endif
