/* Private to the backend framework: the agent side (backend_agent*.c). */
#ifndef SOCKERLESS_BACKEND_AGENT_H
#define SOCKERLESS_BACKEND_AGENT_H

#include <sys/queue.h>

#include "backend_int.h"
#include "sockerless/aglink.h"
#include "sockerless/detach.h"

struct agent_exec;

/* A hijacked client (attach or exec start) and its agent channel. */
struct agent_relay {
	TAILQ_ENTRY(agent_relay) entry;	 /* in ag->relays */
	TAILQ_ENTRY(agent_relay) wentry; /* in ag->waiting */
	int in_relays, in_waiting;
	struct backend *b;
	struct container *c; /* referenced */
	struct backend_agent *ag;
	struct agent_exec *ex;	 /* exec relays */
	struct httpsrv_req *req; /* until hijacked */
	struct bufferevent *bev; /* the client, once hijacked */
	struct aglink_chan *ch;
	cJSON *request; /* the OPEN */
	int tty, want_stdin, want_out, want_err;
	int stdin_eof, eof_sent;
	int attach_open; /* an attach counted in backend_ctr_attach_open */
	int detach_on;	 /* a TTY's stdin: look for the detach keys */
	struct detach detach;
	size_t owed; /* received bytes not yet credited (slow client) */
};
TAILQ_HEAD(agent_relays, agent_relay);

/* Per container (c->agent). */
struct backend_agent {
	struct backend *b;
	struct container *c; /* the owner; not referenced */
	struct aglink *link;
	struct agent_relays relays;  /* every relay of this container */
	struct agent_relays waiting; /* attaches made before start */
	int hold;		     /* this run holds its command */
	int prestart; /* files go in first (backend_prestart_run.c) */
	int hellos;   /* HELLOs on this run's link */
};

struct agent_exec {
	TAILQ_ENTRY(agent_exec) entry;
	char id[65];
	struct backend *b;
	struct container *c; /* referenced */
	cJSON *cfg;	     /* the create body */
	struct agent_relay *relay;
	struct event *poll; /* exit code wanted after a dropped link */
	/* Asks the agent for the exit code once the link is back: the relay
	 * (backend_agent.c) calls it, the exec code (above it) sets it. */
	void (*status_poll)(struct agent_exec *ex);
	int running, exited, exit_code, pid, rows, cols;
	int64_t done_ns;
};
TAILQ_HEAD(agent_execs, agent_exec);

/* backend_agent.c: links, relays, the records */
extern struct agent_execs backend_agent_execs;
struct backend_agent *backend_agent_get(struct backend *b, struct container *c);
/* The container's link, made on first use; NULL with e (409 when it does
 * not run, 501 without an agent). */
struct aglink *backend_agent_link(
    struct backend *b, struct container *c, struct err *e);
void backend_agent_link_close(struct backend_agent *ag);
/* Reverse mode: c's link, made now from its stored token when it has
 * none (it then waits for the agent to call back); NULL without a token. */
struct aglink *backend_agent_link_reverse(
    struct backend *b, struct container *c);
void backend_agent_exec_pid(struct agent_exec *ex, const cJSON *o);
struct agent_relay *backend_agent_relay_new(
    struct backend *b, struct container *c, struct httpsrv_req *r);
/* Opens the relay's channel on the container's link. */
void backend_agent_relay_open(struct agent_relay *rl);
void backend_agent_relay_hijack(struct agent_relay *rl);
/* Writes msg to the client as Docker shows a daemon error in a stream. */
void backend_agent_relay_error(struct agent_relay *rl, const char *msg);
void backend_agent_relay_free(struct agent_relay *rl);
/* The attach carries a run's output from now on: wait answers after it. */
void backend_agent_attach_counted(struct agent_relay *rl);
void backend_agent_exec_free(struct agent_exec *ex);
void backend_agent_free(struct container *c);
/* No link, no relay, no attach waiting: nothing of the agent code reads
 * the container's document until its next run. */
int backend_agent_idle(const struct container *c);
void backend_agent_shutdown(struct backend *b);

/* backend_agent_rev.c: reverse mode (the agent calls back) */
/* The keys agent_callback_listen and agent_callback_url (the URL derived
 * from the listen address when unset): 0, or -1 with e. */
int backend_agent_rev_conf_check(struct backend *b, struct err *e);
/* The listener, when the backend is in reverse mode: 0, or -1 with e. */
int backend_agent_rev_init(struct backend *b, struct err *e);
/* Running containers' links wait for their agents again (a restart). */
void backend_agent_rev_readopt(struct backend *b);
void backend_agent_rev_free(struct backend *b);
/* SOCKERLESS_AGENT_CALLBACK and SOCKERLESS_AGENT_TOKEN (tok) into env,
 * and c's link made to wait for the agent. */
void backend_agent_rev_run_env(
    struct backend *b, struct container *c, const char *tok, cJSON *env);

/* backend_agent_env.c */
int backend_agent_has_health(const struct container *c);

/* backend_agent_attach.c: the agent and the life cycle */
/* A channel callback for the answers whose data nobody reads. */
void backend_agent_ignore_data(
    void *arg, int stream, const unsigned char *p, size_t n);

void backend_agent_attach(struct backend *b, struct container *c,
    struct httpsrv_req *r, const struct detach *d);
/* Sends c's names view (OPEN "names") when its agent can take it. */
void backend_agent_push_names(struct backend *b, struct container *c);
void backend_agent_container_running(struct backend *b, struct container *c);
void backend_agent_container_exited(struct backend *b, struct container *c);
/* A start failed: the attaches waiting for it end. */
void backend_agent_start_failed(struct backend *b, struct container *c);
void backend_agent_resize_container(struct container *c, int rows, int cols);

/* backend_agent_ops.c */
/* Sends a signal through the agent; NULL e on success. Returns -1 when no
 * link can be had (e set), 0 when done will be called. */
int backend_agent_signal(struct backend *b, struct container *c, int signo,
    backend_done_fn done, void *arg, struct err *e);
void backend_agent_top(
    struct backend *b, struct httpsrv_req *r, const struct router_match *m);
void backend_agent_stats(
    struct backend *b, struct httpsrv_req *r, const struct router_match *m);
void backend_agent_pause(
    struct backend *b, struct httpsrv_req *r, const struct router_match *m);
void backend_agent_unpause(
    struct backend *b, struct httpsrv_req *r, const struct router_match *m);
void backend_agent_archive_head(
    struct backend *b, struct httpsrv_req *r, const struct router_match *m);
void backend_agent_archive_get(
    struct backend *b, struct httpsrv_req *r, const struct router_match *m);
void backend_agent_archive_put(
    struct backend *b, struct httpsrv_req *r, const struct router_match *m);

/* backend_agent_exec.c */
void backend_agent_exec_create(
    struct backend *b, struct httpsrv_req *r, const struct router_match *m);
void backend_agent_exec_start(
    struct backend *b, struct httpsrv_req *r, const struct router_match *m);
void backend_agent_exec_inspect(
    struct backend *b, struct httpsrv_req *r, const struct router_match *m);
void backend_agent_exec_resize(
    struct backend *b, struct httpsrv_req *r, const struct router_match *m);
void backend_agent_ctr_resize(
    struct backend *b, struct httpsrv_req *r, const struct router_match *m);

/* backend_docksock.c: the Docker socket inside a workload */
/* b->agent_connect: an agent's CONNECT by its "target" member (absent: a
 * relay, backend_port_relay.c; "docker": the Docker API). ag is the
 * container's struct backend_agent. */
void backend_agent_connect(void *ag, struct aglink_chan *ch, const cJSON *req);
/* c runs: with a Docker socket mount its link is dialled now, so that the
 * agent can carry the workload's first connections, and again every few
 * seconds while it is down and c runs. */
void backend_docksock_running(struct backend *b, struct container *c);
/* docker_api is a Docker API address: 0, or -1 with e (a configuration
 * error: the backend does not start). */
int backend_docksock_conf_check(struct backend *b, struct err *e);
/* Stops keeping links up (the backend ends). */
void backend_docksock_shutdown(struct backend *b);
/* SOCKERLESS_DOCKER_SOCK (the targets of c's Docker socket mounts) into
 * env, a run's environment; nothing without such a mount. */
void backend_docksock_env(struct backend *b, struct container *c, cJSON *env);

#endif
