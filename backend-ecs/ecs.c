/* The ECS backend's operation table, configuration and start-up checks. */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ecs.h"
#include "sockerless/json.h"
#include "sockerless/log.h"
#include "sockerless/xmalloc.h"

struct ecs_conf ecs_conf;
struct aws_backend ecs_aws;
struct kit_orphans ecs_orphans;

#define K(name, type, field, def, min, max, req, doc)                          \
	{                                                                      \
		"ecs." name, type, offsetof(struct ecs_conf, field), def, min, \
		    max, req, doc                                              \
	}

static const struct config_key ecs_keys[] = {
	K("cluster", CONFIG_STRING, cluster, NULL, 0, 0, 1,
	    "ECS cluster name or ARN the tasks run in"),
	K("subnets", CONFIG_STRV, subnets, NULL, 0, 0, 1,
	    "Subnets of the tasks' network interfaces (awsvpc)"),
	K("security_groups", CONFIG_STRV, security_groups, NULL, 0, 0, 1,
	    "Security groups of the tasks' network interfaces"),
	K("execution_role_arn", CONFIG_STRING, execution_role_arn, NULL, 0, 0,
	    1, "Task execution role: image pulls and awslogs"),
	K("task_role_arn", CONFIG_STRING, task_role_arn, NULL, 0, 0, 0,
	    "Role the workload's own AWS calls use"),
	K("log_group", CONFIG_STRING, log_group, "/sockerless/containers", 0, 0,
	    0, "CloudWatch Logs group of the containers' output"),
	K("assign_public_ip", CONFIG_BOOL, assign_public_ip, "false", 0, 0, 0,
	    "Give tasks a public IP (needed in public subnets without NAT to "
	    "pull images)"),
	K("endpoint_ecs", CONFIG_STRING, endpoint_ecs, NULL, 0, 0, 0,
	    "Endpoint URL of ECS only"),
	K("poll_ms", CONFIG_INT, poll_ms, "1000", 200, 60000, 0,
	    "How often the task poller calls DescribeTasks while tasks run"),
	K("taskdef_idle", CONFIG_INT, taskdef_idle_s, "600", 0, 86400, 0,
	    "Seconds an unused task definition stays registered for reuse "
	    "before it is deregistered (0: deregister on remove)"),
	K("default_cpu", CONFIG_INT, default_cpu, "256", 256, 16384, 0,
	    "Task CPU units when the container sets no CPU limit"),
	K("default_memory", CONFIG_INT, default_memory, "512", 512, 122880, 0,
	    "Task memory (MiB) when the container sets no memory limit"),
	K("stop_timeout", CONFIG_INT, stop_timeout, "10", 2, 120, 0,
	    "Seconds between SIGTERM and SIGKILL when a task stops (ECS "
	    "stopTimeout; Fargate allows at most 120)"),
	K("logs_grace_ms", CONFIG_INT, logs_grace_ms, "1000", 0, 60000, 0,
	    "How long logs keep draining after a task stopped, for "
	    "CloudWatch ingestion lag"),
	K("agent", CONFIG_BOOL, agent, "true", 0, 0, 0,
	    "Run sockerless-agent as each task's PID 1: exec, attach with "
	    "stdin, cp, top, stats, pause, signals, health checks and "
	    "stdout/stderr kept apart"),
	K("agent_image", CONFIG_STRING, agent_image,
	    "docker.io/sockerless/agent:0.1.0", 0, 0, 0,
	    "Image holding /sockerless-agent, copied into each task by an init "
	    "container (mirror it into ECR: tasks in private subnets cannot "
	    "pull from Docker Hub)"),
	K("vpc_id", CONFIG_STRING, vpc_id, NULL, 0, 0, 0,
	    "VPC of ecs.subnets, where the security group of each Docker "
	    "network is made (unset: asked of EC2 with DescribeSubnets at "
	    "the first network)"),
	K("efs_filesystem_id", CONFIG_STRING, efs_filesystem_id, NULL, 0, 0, 0,
	    "EFS file system of Docker volumes, one access point each "
	    "(unset: no volumes, bind mounts or --tmpfs; docs/volumes.md)"),
	K("efs_iam", CONFIG_BOOL, efs_iam, "false", 0, 0, 0,
	    "Mount volumes with IAM authorization (the task role needs "
	    "elasticfilesystem:ClientMount and ClientWrite)"),
	K("efs_root", CONFIG_STRING, efs_root, "/sockerless", 0, 0, 0,
	    "Directory of the file system under which Docker volumes' "
	    "directories are made (at most two levels, 24 characters)"),
	K("endpoint_efs", CONFIG_STRING, endpoint_efs, NULL, 0, 0, 0,
	    "Endpoint URL of EFS only"),
};

static const struct config_set ecs_fragments[] = {
	{ aws_backend_keys, AWS_BACKEND_NKEYS, &ecs_aws },
	{ kit_orphans_keys, KIT_ORPHANS_NKEYS, &ecs_orphans },
};

cJSON *
ecs_in(void)
{
	cJSON *in = cJSON_CreateObject();

	json_add_str(in, "cluster", ecs_conf.cluster);
	return in;
}

static void
ecs_capabilities(struct backend *b, struct caps *c)
{
	(void)b;
	kit_caps_base(c);
	c->flag[CAP_LOGS_FOLLOW] = 1;
	if (ecs_conf.agent)
		kit_caps_agent(c);
	/* The agent serves the names of user-defined networks. */
	c->flag[CAP_NETWORKS] = ecs_conf.agent;
	/* Volumes are EFS access points (ecs_vol.c). */
	c->flag[CAP_VOLUMES] = ecs_conf.efs_filesystem_id != NULL &&
	    ecs_conf.efs_filesystem_id[0] != '\0';
	if (!c->flag[CAP_VOLUMES])
		snprintf(c->why[CAP_VOLUMES], sizeof(c->why[CAP_VOLUMES]), "%s",
		    ECS_VOL_WHY);
}

static void
ecs_info(struct backend *b, cJSON *info)
{
	char *os = xasprintf("AWS ECS Fargate (region %s, cluster %s)",
	    ecs_aws.region, ecs_conf.cluster);
	char *name = xasprintf("sockerless-ecs-%s", ecs_conf.cluster);

	kit_info(b, info, os, name, "region", ecs_aws.region, "cluster",
	    ecs_conf.cluster, (const char *)NULL);
	free(os);
	free(name);
}

/* Start-up: credentials, the cluster must exist and be ACTIVE, and the
 * log group is created if missing (awslogs cannot start tasks without
 * it). */
static int
ecs_init(struct backend *b, struct err *e)
{
	cJSON *in, *out = NULL;
	const cJSON *cl;
	const char *status;

	if (aws_backend_open(&ecs_aws, backend_base(b), backend_httpcli(b),
		backend_registry(b), "ecs", ecs_conf.endpoint_ecs, e) == -1)
		return -1;
	in = cJSON_CreateObject();
	cJSON_AddItemToObject(in, "clusters",
	    cJSON_CreateStringArray((const char *[]){ ecs_conf.cluster }, 1));
	if (aws_json_call_sync(
		ecs_aws.aws, "ecs", "DescribeClusters", in, &out, e) == -1)
		return err_wrap(e, "checking cluster %s", ecs_conf.cluster);
	cl = cJSON_GetArrayItem(json_arr(out, "clusters"), 0);
	status = json_str(cl, "status");
	if (status == NULL || strcmp(status, "ACTIVE") != 0) {
		cJSON_Delete(out);
		return err_set(e, 500,
		    "ECS cluster %s is not ACTIVE in %s "
		    "(status %s); create it or fix ecs.cluster",
		    ecs_conf.cluster, ecs_aws.region,
		    status != NULL ? status : "MISSING");
	}
	cJSON_Delete(out);
	if (ecs_vol_init(e) == -1)
		return -1;
	aws_backend_log_group(&ecs_aws, ecs_conf.log_group,
	    "tasks fail to start unless it exists");
	backend_set_logs_grace_ms(b, (int)ecs_conf.logs_grace_ms);
	log_info(
	    "ECS cluster %s in %s is ACTIVE", ecs_conf.cluster, ecs_aws.region);
	return 0;
}

static void
ecs_reconcile(struct backend *b)
{
	ecs_poll_start(b);
	ecs_poll_reconcile(b);
	ecs_net_reconcile(b);
	ecs_vol_reconcile(b);
	ecs_secret_reconcile(b);
}

static void
ecs_shutdown(struct backend *b)
{
	(void)b;
	ecs_poll_stop();
	ecs_net_shutdown();
	ecs_vol_shutdown();
	ecs_idle_free();
	aws_backend_close(&ecs_aws);
}

KIT_BACKEND(ecs, "AWS ECS Fargate", ecs_task, .logs_fetch = ecs_logs_fetch,
    .agent_address = ecs_task_agent_address,
    .agent_hello = ecs_task_agent_hello, .reach = BACKEND_REACH_DIRECT,
    .net_create = ecs_net_create, .net_remove = ecs_net_remove,
    .vol_create = ecs_vol_create, .vol_remove = ecs_vol_remove)
