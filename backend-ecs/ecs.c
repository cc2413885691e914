/* The ECS backend's operation table, configuration and start-up checks. */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ecs.h"
#include "sockerless/config.h"
#include "sockerless/json.h"
#include "sockerless/log.h"
#include "sockerless/reg.h"
#include "sockerless/xmalloc.h"

struct ecs_conf ecs_conf;
struct ecs ecs;

#define K(name, type, field, def, min, max, req, doc)                          \
	{                                                                      \
		"ecs." name, type, offsetof(struct ecs_conf, field), def, min, \
		    max, req, doc                                              \
	}

static const struct config_key ecs_keys[] = {
	K("region", CONFIG_STRING, region, NULL, 0, 0, 1,
	    "AWS region of the cluster"),
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
	K("endpoint", CONFIG_STRING, endpoint, NULL, 0, 0, 0,
	    "Endpoint URL for every AWS service (a simulator, a VPC endpoint "
	    "proxy); like AWS_ENDPOINT_URL"),
	K("endpoint_ecs", CONFIG_STRING, endpoint_ecs, NULL, 0, 0, 0,
	    "Endpoint URL of ECS only"),
	K("endpoint_logs", CONFIG_STRING, endpoint_logs, NULL, 0, 0, 0,
	    "Endpoint URL of CloudWatch Logs only"),
	K("endpoint_ecr", CONFIG_STRING, endpoint_ecr, NULL, 0, 0, 0,
	    "Endpoint URL of ECR only"),
	K("endpoint_sts", CONFIG_STRING, endpoint_sts, NULL, 0, 0, 0,
	    "Endpoint URL of STS only"),
	K("profile", CONFIG_STRING, profile, NULL, 0, 0, 0,
	    "Profile in the shared AWS config/credentials files"),
	K("poll_ms", CONFIG_INT, poll_ms, "1000", 200, 60000, 0,
	    "How often the task poller calls DescribeTasks while tasks run"),
	K("orphans", CONFIG_STRING, orphans, "report", 0, 0, 0,
	    "Tasks of this backend instance unknown to its state: report or "
	    "stop"),
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
};

static void
ecs_capabilities(struct backend *b, struct caps *c)
{
	(void)b;
	memset(c, 0, sizeof(*c));
	c->flag[CAP_LOGS] = 1;
	c->flag[CAP_LOGS_FOLLOW] = 1;
	if (ecs_conf.agent) {
		/* Served by the agent in the task (docs/agent-link.md). */
		c->flag[CAP_EXEC] = 1;
		c->flag[CAP_ATTACH] = 1;
		c->flag[CAP_ARCHIVE] = 1;
		c->flag[CAP_TOP] = 1;
		c->flag[CAP_STATS] = 1;
		c->flag[CAP_PAUSE] = 1;
		c->flag[CAP_SIGNALS] = 1;
		c->flag[CAP_HEALTH_CHECKS] = 1;
		c->flag[CAP_AGENT_REQUIRED] = 1;
	}
	c->max_timeout_seconds = 0;
}

static void
ecs_info(struct backend *b, cJSON *info)
{
	cJSON *labels = cJSON_CreateArray();
	char *s;

	(void)b;
	s = xasprintf("AWS ECS Fargate (region %s, cluster %s)",
	    ecs_conf.region, ecs_conf.cluster);
	json_set(info, "OperatingSystem", cJSON_CreateString(s));
	free(s);
	s = xasprintf("sockerless-ecs-%s", ecs_conf.cluster);
	json_set(info, "Name", cJSON_CreateString(s));
	free(s);
	cJSON_AddItemToArray(
	    labels, cJSON_CreateString("sockerless.backend=ecs"));
	s = xasprintf("sockerless.region=%s", ecs_conf.region);
	cJSON_AddItemToArray(labels, cJSON_CreateString(s));
	free(s);
	s = xasprintf("sockerless.cluster=%s", ecs_conf.cluster);
	cJSON_AddItemToArray(labels, cJSON_CreateString(s));
	free(s);
	json_set(info, "Labels", labels);
}

/* Start-up: credentials, the cluster must exist and be ACTIVE, and the
 * log group is created if missing (awslogs cannot start tasks without
 * it). */
static int
ecs_init(struct backend *b, struct err *e)
{
	struct aws_options o;
	cJSON *in, *out = NULL;
	const cJSON *cl;
	const char *status;

	memset(&o, 0, sizeof(o));
	o.region = ecs_conf.region;
	o.profile = ecs_conf.profile;
	o.endpoint = ecs_conf.endpoint;
	ecs.b = b;
	if ((ecs.aws = aws_new(backend_base(b), backend_httpcli(b), &o, e)) ==
	    NULL)
		return -1;
	aws_set_endpoint(ecs.aws, "ecs", ecs_conf.endpoint_ecs);
	aws_set_endpoint(ecs.aws, "logs", ecs_conf.endpoint_logs);
	aws_set_endpoint(ecs.aws, "ecr", ecs_conf.endpoint_ecr);
	aws_set_endpoint(ecs.aws, "sts", ecs_conf.endpoint_sts);
	if (aws_resolve_credentials(ecs.aws, e) == -1)
		return -1;
	log_info("AWS credentials from %s", aws_credentials_source(ecs.aws));
	reg_set_creds_hook(backend_registry(b), aws_ecr_creds_hook, ecs.aws);
	in = cJSON_CreateObject();
	cJSON_AddItemToObject(in, "clusters",
	    cJSON_CreateStringArray((const char *[]){ ecs_conf.cluster }, 1));
	if (aws_json_call_sync(
		ecs.aws, "ecs", "DescribeClusters", in, &out, e) == -1)
		return err_wrap(e, "checking cluster %s", ecs_conf.cluster);
	cl = cJSON_GetArrayItem(json_arr(out, "clusters"), 0);
	status = json_str(cl, "status");
	if (status == NULL || strcmp(status, "ACTIVE") != 0) {
		cJSON_Delete(out);
		return err_set(e, 500,
		    "ECS cluster %s is not ACTIVE in %s "
		    "(status %s); create it or fix ecs.cluster",
		    ecs_conf.cluster, ecs_conf.region,
		    status != NULL ? status : "MISSING");
	}
	cJSON_Delete(out);
	in = cJSON_CreateObject();
	json_add_str(in, "logGroupName", ecs_conf.log_group);
	out = NULL;
	if (aws_json_call_sync(
		ecs.aws, "logs", "CreateLogGroup", in, &out, e) == -1 &&
	    strstr(e->msg, "ResourceAlreadyExistsException") == NULL)
		log_warnx("creating log group %s: %s (tasks fail to start "
			  "unless it exists)",
		    ecs_conf.log_group, e->msg);
	cJSON_Delete(out);
	err_clear(e);
	backend_set_logs_grace_ms(b, (int)ecs_conf.logs_grace_ms);
	log_info("ECS cluster %s in %s is ACTIVE", ecs_conf.cluster,
	    ecs_conf.region);
	return 0;
}

static void
ecs_reconcile(struct backend *b)
{
	ecs_poll_start(b);
	ecs_poll_reconcile(b);
}

static void
ecs_shutdown(struct backend *b)
{
	(void)b;
	ecs_poll_stop();
	ecs_task_idle_free();
	aws_free(ecs.aws);
}

static const struct backend_ops ecs_ops = {
	.name = "ecs",
	.description = "AWS ECS Fargate",
	.config_keys = ecs_keys,
	.config_nkeys = sizeof(ecs_keys) / sizeof(ecs_keys[0]),
	.config = &ecs_conf,
	.capabilities = ecs_capabilities,
	.init = ecs_init,
	.reconcile = ecs_reconcile,
	.info = ecs_info,
	.create = ecs_task_create,
	.start = ecs_task_start,
	.stop = ecs_task_stop,
	.kill = ecs_task_kill,
	.remove = ecs_task_remove,
	.logs_fetch = ecs_logs_fetch,
	.agent_address = ecs_task_agent_address,
	.shutdown = ecs_shutdown,
};

int
main(int argc, char **argv)
{
	return backend_main(argc, argv, &ecs_ops);
}
