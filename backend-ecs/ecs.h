/* sockerless-backend-ecs: Docker containers as ECS Fargate tasks. This
 * directory is the translation table from Docker operations to ECS and
 * CloudWatch Logs calls; everything else comes from common/ (the backend
 * kit, sockerless/backend_kit.h, and the AWS session,
 * sockerless/aws_backend.h). */
#ifndef SOCKERLESS_ECS_H
#define SOCKERLESS_ECS_H

#include "sockerless/aws_backend.h"
#include "sockerless/backend.h"
#include "sockerless/backend_kit.h"
#include "sockerless/str.h"

#define ECS_CONTAINER_NAME "main"
#define ECS_STREAM_PREFIX  "sockerless"
#define ECS_STARTED_BY	   "sockerless"
/* The agent (docs/agent-link.md): an init container copies it into a
 * task-scoped volume, and the main container runs it as its entrypoint. */
#define ECS_AGENT_INIT	 "sockerless-agent-init"
#define ECS_AGENT_VOLUME "sockerless-agent"
#define ECS_AGENT_PORT	 9111

/* The container's private state (container_private). */
#define ECS_P_TD_ARN	  "TaskDefinitionArn"
#define ECS_P_TD_HASH	  "TaskDefinitionHash"
#define ECS_P_AGENT	  "Agent"   /* the definition runs the agent */
#define ECS_P_TASK_ARN	  "TaskArn" /* the current task */
#define ECS_P_TASKS	  "Tasks"   /* every run: [{Arn, Created}] */
#define ECS_P_RUN_ARN	  "Arn"
#define ECS_P_RUN_CREATED "Created"
#define ECS_P_STARTED	  "TaskStarted" /* started reported for the task */
#define ECS_P_IP	  "Ip"
#define ECS_P_START_TOKEN "StartToken" /* a RunTask whose answer is due */
#define ECS_P_START_RUN	  "StartRun"   /* its index in Tasks */
#define ECS_P_REG_SECRET  "RegistrySecretArn" /* repositoryCredentials */

/* A network's private state (network_private): its security group. */
#define ECS_P_NET_GROUP "SecurityGroupId"
/* Tags of a network's group, beside KIT_TAG_INSTANCE. */
#define ECS_TAG_NETWORK_ID   "sockerless:network-id"
#define ECS_TAG_NETWORK_NAME "sockerless:network-name"
/* Security groups ECS takes per task (awsvpcConfiguration). */
#define ECS_MAX_GROUPS 5

/* The backend's kv entries. */
#define ECS_KV_TASKDEF "ecs.taskdef." /* + hash: the definition's ARN */
/* Durable records: a JSON object in one kv entry (kit_journal_*):
 * registrations in flight; definitions waiting to be deregistered;
 * containers removed while their start was unresolved (id -> time), whose
 * task the start-up passes stop if it turns up. */
#define ECS_KV_JOURNAL	 "ecs.taskdef_journal"
#define ECS_KV_IDLE	 "ecs.taskdef_idle"
#define ECS_KV_ABANDONED "ecs.start_abandoned"

struct ecs_conf {
	char *cluster;
	struct strv subnets;
	struct strv security_groups;
	char *execution_role_arn;
	char *task_role_arn;
	char *log_group;
	int assign_public_ip;
	char *endpoint_ecs;
	long long poll_ms;
	long long taskdef_idle_s; /* keep an unused definition this long */
	long long default_cpu;
	long long default_memory;
	long long stop_timeout;
	long long logs_grace_ms;
	int agent;		 /* inject sockerless-agent into every task */
	char *agent_image;	 /* the image holding /sockerless-agent */
	char *vpc_id;		 /* the subnets' VPC; NULL: DescribeSubnets */
	char *efs_filesystem_id; /* volumes' file system; NULL: no volumes */
	int efs_iam;		 /* authorizationConfig.iam ENABLED */
	char *efs_root;		 /* where Docker volumes' directories live */
	char *endpoint_efs;
};

/* ecs.c */
extern struct ecs_conf ecs_conf;
extern struct aws_backend ecs_aws; /* region, endpoints; the session */
extern struct kit_orphans ecs_orphans;
extern struct kit_poller ecs_poller;
/* A new ECS call input naming the cluster. */
cJSON *ecs_in(void);

/* ecs_def.c: the task definition a container maps to. */
/* The RegisterTaskDefinition input minus its family, and the hash of it
 * that names the family, so identical containers share one definition. */
cJSON *ecs_def_build(struct backend *b, struct container *c, int agent,
    char hash[25], struct err *e);
/* ECS's environment form of "K=V" strings, appended to out. */
cJSON *ecs_def_env(cJSON *out, const cJSON *kvs);

/* ecs_task.c */
KIT_CONTAINER_OPS_DECL(ecs_task);
int ecs_task_registering(const char *hash);
/* A start cut short by a restart: the ARN RunTask answered, if it did, and
 * the adoption of its task (found by ARN or by tags). */
const char *ecs_task_start_arn(struct container *c);
/* ecs_secret.c: the image's registry credentials as a Secrets Manager
 * secret (repositoryCredentials). Returns 0 when none are known for the
 * image's registry (nothing to do), 1 when CreateSecret is on its way:
 * next(arg, e) follows, with the ARN in the private state on success. */
int ecs_secret_create(struct backend *b, struct container *c,
    void (*next)(void *arg, const struct err *e), void *arg);
/* Deletes the container's secret, if it has one (asynchronous; failures
 * are logged). */
void ecs_secret_delete(struct container *c);
void ecs_secret_delete_arn(const char *arn);
/* At start-up: this instance's secrets no container holds are orphans
 * (reported; deleted by the orphan policy). */
void ecs_secret_reconcile(struct backend *b);
void ecs_task_adopt(struct backend *b, struct container *c, const char *arn);
/* StopTask, a failure only logged (what: "an orphaned task"). */
void ecs_task_stop_quietly(
    const char *arn, const char *reason, const char *what);
/* The agent's address: the task's private IPv4, once it has one. */
int ecs_task_agent_address(struct backend *b, struct container *c, char *host,
    size_t hostsz, int *port);
/* The run's agent said HELLO: the main container runs (before the next
 * DescribeTasks may say so), so a parked start answers now. */
void ecs_task_agent_hello(struct backend *b, struct container *c);

/* ecs_idle.c: unused definitions wait out ecs.taskdef_idle, and the
 * registrations a restart cut short are resolved. */
extern struct kit_uses ecs_td_uses; /* the containers of each definition */
void ecs_idle_add(struct backend *b, const char *arn, const char *hash);
void ecs_idle_deregister(struct backend *b, const char *arn, const char *hash,
    aws_json_cb cb, void *arg);
void ecs_idle_resume(struct backend *b);
void ecs_idle_free(void);
/* Start-up: one pass over the registration journal; returns how many it
 * looked up (call again later while it is not 0). */
int ecs_idle_journal_pass(struct backend *b);

/* ecs_poll.c */
void ecs_poll_start(struct backend *b);
void ecs_poll_reconcile(struct backend *b);
void ecs_poll_stop(void);

/* ecs_net.c: a security group per user-defined network. */
/* Makes network id's group (name: its Docker name, for the description
 * and tags; internal: no egress but to itself); on success records it in
 * priv (the network's private object) and calls save(b, net) before done.
 * A failure leaves nothing in the cloud. */
void ecs_net_group_make(struct backend *b, const char *id, const char *name,
    int internal, cJSON *priv, void (*save)(struct backend *, void *),
    void *net, backend_done_fn done, void *arg);
/* Deletes the group priv records (none: done at once), waiting a while
 * for the ENIs of stopped members to be released. */
void ecs_net_group_remove(
    struct backend *b, const cJSON *priv, backend_done_fn done, void *arg);
/* RunTask's securityGroups: the configured groups, then the group of each
 * of the container's n networks (their private objects and names); NULL
 * and a 400 naming the limit when they pass ECS_MAX_GROUPS. */
cJSON *ecs_net_task_groups(const cJSON *const *privs, const char *const *names,
    size_t n, struct err *e);
/* Start-up: groups tagged with this instance whose network known() does
 * not know are reported, and deleted when ecs.orphans is "stop". */
void ecs_net_orphans(
    struct backend *b, int (*known)(struct backend *, const char *id));
void ecs_net_shutdown(void);
/* The ops: a network's group made at create and deleted at remove;
 * orphaned groups at start-up. */
void ecs_net_create(
    struct backend *b, struct network *n, backend_done_fn done, void *arg);
void ecs_net_remove(
    struct backend *b, struct network *n, backend_done_fn done, void *arg);
void ecs_net_reconcile(struct backend *b);
/* Before RunTask: the groups of c's networks that have none yet are made
 * (the default bridge's at its first member's start), then ready. */
void ecs_net_ready(
    struct backend *b, struct container *c, backend_done_fn ready, void *arg);
/* RunTask's securityGroups for c (NULL with a 400 past ECS's limit). */
cJSON *ecs_net_groups(struct backend *b, struct container *c, struct err *e);

/* ecs_vol.c: a Docker volume is an EFS access point (docs/volumes.md). */
/* A volume's private state (volume_private). */
#define ECS_P_VOL_AP   "AccessPointId"
#define ECS_P_VOL_ARN  "Arn"
#define ECS_P_VOL_FS   "FileSystemId"
#define ECS_P_VOL_PATH "Path"
/* The sentence of the volumes capability when it is off. */
#define ECS_VOL_WHY                                                          \
	"It has no file system for volumes: set "                            \
	"ecs.efs_filesystem_id to an EFS file system (docs/volumes.md, "     \
	"\"ECS (EFS)\") to use volumes, bind mounts under shared_paths and " \
	"--tmpfs"
/* How long a new access point may take to become available. */
#define ECS_VOL_WAIT_MS 60000
/* Start-up: ecs.efs_* make sense and the file system is available. */
int ecs_vol_init(struct err *e);
void ecs_vol_create(
    struct backend *b, struct volume *v, backend_done_fn done, void *arg);
void ecs_vol_remove(
    struct backend *b, struct volume *v, backend_done_fn done, void *arg);
/* Access points tagged with this instance that no volume has are
 * reported, and deleted when ecs.orphans is "stop". */
void ecs_vol_reconcile(struct backend *b);
void ecs_vol_shutdown(void);
/* The task definition's volumes (td) and the main container's (ctr)
 * mountPoints for c's mounts. */
int ecs_vol_def(struct backend *b, struct container *c, int agent, cJSON *td,
    cJSON *ctr, struct err *e);

/* ecs_volmap.c: the same without state (unit-tested). */
#define ECS_VOL_ROOT_MAX 24 /* ecs.efs_root, characters */
#define ECS_VOL_INST_MAX 24 /* the instance's directory */
#define ECS_VOL_NAME_MAX 48 /* the volume's directory */
/* root/<instance>/<name>-<gen>: the directory of a Docker volume, parts
 * that are too long or unusual for EFS hashed (sha256 prefix). */
int ecs_volmap_path(const char *root, const char *instance, const char *name,
    const char *gen, char *out, size_t size, struct err *e);
/* Whether path can be an access point's root (EFS: at most 100
 * characters and max_depth components, no '.' start or shell
 * characters); what names it in the 400. */
int ecs_volmap_dir_ok(
    const char *path, int max_depth, struct err *e, const char *what);
struct ecs_volmap_in {
	enum backend_mount_kind kind;
	const char *target;
	int readonly;
	const char *vol_name; /* VOLUME */
	const char *fs_id;    /* VOLUME: its access point's file system */
	const char *ap_id;    /* VOLUME */
};
/* Adds the task volumes ("v<i>" on EFS, "t<i>" task storage for tmpfs)
 * to vols and their mountPoints to mps; docker.sock mounts need the
 * agent (501), /sockerless is the agent's (400). */
int ecs_volmap_task(const struct ecs_volmap_in *m, size_t n, int iam, int agent,
    cJSON *vols, cJSON *mps, struct err *e);

/* ecs_logs.c */
void ecs_logs_fetch(struct backend *b, struct container *c, const char *cursor,
    int64_t since_ns, backend_logs_fn fn, void *arg);

#endif
