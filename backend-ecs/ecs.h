/* sockerless-backend-ecs: Docker containers as ECS Fargate tasks. This
 * directory is the translation table from Docker operations to ECS and
 * CloudWatch Logs calls; everything else comes from common/. */
#ifndef SOCKERLESS_ECS_H
#define SOCKERLESS_ECS_H

#include "sockerless/aws.h"
#include "sockerless/backend.h"
#include "sockerless/str.h"

#define ECS_CONTAINER_NAME "main"
#define ECS_STREAM_PREFIX  "sockerless"
#define ECS_STARTED_BY	   "sockerless"
#define ECS_TAG_ID	   "sockerless:container-id"
#define ECS_TAG_INSTANCE   "sockerless:instance"
/* The agent (docs/agent-link.md): an init container copies it into a
 * task-scoped volume, and the main container runs it as its entrypoint. */
#define ECS_AGENT_INIT	 "sockerless-agent-init"
#define ECS_AGENT_VOLUME "sockerless-agent"
#define ECS_AGENT_PORT	 9111

struct ecs_conf {
	char *region;
	char *cluster;
	struct strv subnets;
	struct strv security_groups;
	char *execution_role_arn;
	char *task_role_arn;
	char *log_group;
	int assign_public_ip;
	char *endpoint; /* one URL for every AWS service */
	char *endpoint_ecs;
	char *endpoint_logs;
	char *endpoint_ecr;
	char *endpoint_sts;
	char *profile;
	long long poll_ms;
	char *orphans;		  /* "report" or "stop" */
	long long taskdef_idle_s; /* keep an unused definition this long */
	long long default_cpu;
	long long default_memory;
	long long stop_timeout;
	long long logs_grace_ms;
	int agent;	   /* inject sockerless-agent into every task */
	char *agent_image; /* the image holding /sockerless-agent */
};

struct ecs {
	struct backend *b;
	struct aws *aws;
	struct event *poll_timer;
	int poll_inflight;
	long long poll_backoff_ms;
};

/* ecs.c */
extern struct ecs_conf ecs_conf;
extern struct ecs ecs;

/* ecs_task.c */
void ecs_task_create(
    struct backend *b, struct container *c, backend_done_fn done, void *arg);
void ecs_task_start(
    struct backend *b, struct container *c, backend_done_fn done, void *arg);
void ecs_task_stop(struct backend *b, struct container *c, int timeout_s,
    backend_done_fn done, void *arg);
void ecs_task_kill(struct backend *b, struct container *c, int signo,
    backend_done_fn done, void *arg);
void ecs_task_remove(
    struct backend *b, struct container *c, backend_done_fn done, void *arg);
/* Fargate sizes: the smallest valid (cpu units, memory MiB) pair that
 * covers what was asked for. 0 means "not set". Returns -1 if too big. */
int ecs_task_size(long long nano_cpus, long long memory_bytes, int *cpu,
    int *mem, struct err *e);

/* Durable records: a JSON object in one kv entry (ecs.taskdef_journal:
 * registrations in flight; ecs.taskdef_idle: definitions waiting to be
 * deregistered). put takes value; NULL deletes the member. */
/* Containers removed while their start was unresolved (id -> time): the
 * start-up passes stop the task if it turns up. */
#define ECS_ABANDONED "ecs.start_abandoned"
cJSON *ecs_journal_load(struct backend *b, const char *key);
void ecs_journal_put(
    struct backend *b, const char *key, const char *name, cJSON *value);
int ecs_task_registering(const char *hash);
/* Start-up: resolves registrations a restart cut short; returns how many
 * it looked up (call again later while it is not 0). */
int ecs_task_journal_pass(struct backend *b);
void ecs_task_idle_add(struct backend *b, const char *arn, const char *hash);
void ecs_task_idle_resume(struct backend *b);
/* A start cut short by a restart: the ARN RunTask answered, if it did, and
 * the adoption of its task (found by ARN or by tags). */
const char *ecs_task_start_arn(struct container *c);
void ecs_task_adopt(struct backend *b, struct container *c, const char *arn);

/* The agent's address: the task's private IPv4, once it has one. */
int ecs_task_agent_address(struct backend *b, struct container *c, char *host,
    size_t hostsz, int *port);

/* ecs_poll.c */
void ecs_poll_start(struct backend *b);
void ecs_poll_kick(void);
/* ecs_task.c: a start waits in the container until the poller sees the
 * task RUNNING (settle with NULL) or failing (settle with the error). */
int ecs_task_start_pending(const struct container *c);
/* Frees the timers of definitions waiting to be deregistered. */
void ecs_task_idle_free(void);
void ecs_task_start_settle(struct container *c, const struct err *e);
void ecs_poll_stop(void);
void ecs_poll_reconcile(struct backend *b);

/* ecs_logs.c */
void ecs_logs_fetch(struct backend *b, struct container *c, const char *cursor,
    int64_t since_ns, backend_logs_fn fn, void *arg);

#endif
