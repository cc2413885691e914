/* The Lambda backend's operation table, configuration and start-up checks:
 * credentials, Lambda reachable with them, the log group, the agent layer
 * and the ECR repository of derived images. */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lambda.h"
#include "sockerless/buf.h"
#include "sockerless/config.h"
#include "sockerless/json.h"
#include "sockerless/log.h"
#include "sockerless/reg.h"
#include "sockerless/xmalloc.h"

struct lambda_conf lambda_conf;
struct lambda lambda;

#define K(name, type, field, def, min, max, req, doc)                      \
	{                                                                  \
		"lambda." name, type, offsetof(struct lambda_conf, field), \
		    def, min, max, req, doc                                \
	}

static const struct config_key lambda_keys[] = {
	K("role_arn", CONFIG_STRING, role_arn, NULL, 0, 0, 1,
	    "Execution role of the functions (CloudWatch Logs, ECR pulls, "
	    "VPC access)"),
	K("log_group", CONFIG_STRING, log_group, "/sockerless/lambda", 0, 0, 0,
	    "CloudWatch Logs group of the functions' output"),
	K("memory_size", CONFIG_INT, memory_size, "1024", LAMBDA_MIN_MEMORY,
	    LAMBDA_MAX_MEMORY, 0,
	    "Function memory (MiB) when the container sets no memory limit"),
	K("timeout", CONFIG_INT, timeout, "900", 1, LAMBDA_MAX_TIMEOUT, 0,
	    "Function timeout in seconds (Lambda allows at most 900)"),
	K("subnet_ids", CONFIG_STRV, subnet_ids, NULL, 0, 0, 0,
	    "Subnets for VPC access (with security_group_ids)"),
	K("security_group_ids", CONFIG_STRV, security_group_ids, NULL, 0, 0, 0,
	    "Security groups for VPC access"),
	K("architecture", CONFIG_STRING, architecture, "x86_64", 0, 0, 0,
	    "Function architecture: x86_64 or arm64 (the image must match)"),
	K("endpoint_lambda", CONFIG_STRING, endpoint_lambda, NULL, 0, 0, 0,
	    "Endpoint URL of Lambda only"),
	K("derive", CONFIG_BOOL, derive, "true", 0, 0, 0,
	    "Run any image by pushing a derived image with sockerless-agent "
	    "as its Lambda runtime; false: only ECR images, run as they are"),
	K("ecr_repository", CONFIG_STRING, ecr_repository, "sockerless-lambda",
	    0, 0, 0, "ECR repository the derived images are pushed to"),
	K("agent_path", CONFIG_STRING, agent_path,
	    "/usr/lib/sockerless/sockerless-agent", 0, 0, 0,
	    "The static sockerless-agent binary put into derived images"),
	K("active_timeout", CONFIG_INT, active_timeout_s, "300", 10, 3600, 0,
	    "Seconds docker create waits for a new function to become "
	    "Active"),
};

static const struct config_set lambda_fragments[] = {
	{ aws_backend_keys, AWS_BACKEND_NKEYS, &lambda.aws },
};

static void
lambda_capabilities(struct backend *b, struct caps *c)
{
	(void)b;
	kit_caps_base(c);
	c->max_timeout_seconds = (long)lambda_conf.timeout;
}

static void
lambda_info(struct backend *b, cJSON *info)
{
	char *os = xasprintf("AWS Lambda (region %s)", lambda.aws.region);
	char *name = xasprintf("sockerless-lambda-%s", lambda.aws.region);

	kit_info(
	    b, info, os, name, "region", lambda.aws.region, (const char *)NULL);
	free(os);
	free(name);
}

/* The ECR repository of derived images; created when missing. */
static int
lambda_repository(struct err *e)
{
	cJSON *in, *out = NULL;
	const char *uri;

	in = cJSON_CreateObject();
	cJSON_AddItemToObject(in, "repositoryNames",
	    cJSON_CreateStringArray(
		(const char *[]){ lambda_conf.ecr_repository }, 1));
	if (aws_json_call_sync(lambda.aws.aws, "ecr", "DescribeRepositories",
		in, &out, e) == -1) {
		if (strstr(e->msg, "RepositoryNotFoundException") == NULL)
			return err_wrap(e, "looking up ECR repository %s",
			    lambda_conf.ecr_repository);
		in = cJSON_CreateObject();
		json_add_str(in, "repositoryName", lambda_conf.ecr_repository);
		if (aws_json_call_sync(lambda.aws.aws, "ecr",
			"CreateRepository", in, &out, e) == -1)
			return err_wrap(e, "creating ECR repository %s",
			    lambda_conf.ecr_repository);
		uri = json_str(json_obj(out, "repository"), "repositoryUri");
		log_info(
		    "created ECR repository %s", lambda_conf.ecr_repository);
	} else {
		uri = json_str(
		    cJSON_GetArrayItem(json_arr(out, "repositories"), 0),
		    "repositoryUri");
	}
	if (uri == NULL) {
		cJSON_Delete(out);
		return err_set(e, 502, "ECR returned no repositoryUri for %s",
		    lambda_conf.ecr_repository);
	}
	lambda.repository_uri = xstrdup(uri);
	cJSON_Delete(out);
	return 0;
}

/* Start-up: credentials, Lambda reachable with them, the log group, and
 * for derived images the agent layer and the ECR repository. */
static int
lambda_init(struct backend *b, struct err *e)
{
	struct aws_rest rq;
	cJSON *out = NULL;

	if (strcmp(lambda_conf.architecture, "x86_64") != 0 &&
	    strcmp(lambda_conf.architecture, "arm64") != 0)
		return err_set(e, 400,
		    "lambda.architecture must be x86_64 or arm64, not %s",
		    lambda_conf.architecture);
	if ((lambda_conf.subnet_ids.n == 0) !=
	    (lambda_conf.security_group_ids.n == 0))
		return err_set(e, 400,
		    "lambda.subnet_ids and lambda.security_group_ids go "
		    "together (VPC access needs both)");
	lambda.b = b;
	if (aws_backend_open(&lambda.aws, backend_base(b), backend_httpcli(b),
		backend_registry(b), "lambda", lambda_conf.endpoint_lambda,
		e) == -1)
		return -1;
	memset(&rq, 0, sizeof(rq));
	rq.method = "GET";
	rq.path = "/2015-03-31/functions/";
	rq.query = "MaxItems=1";
	if (aws_rest_call_sync(
		lambda.aws.aws, "lambda", "ListFunctions", &rq, &out, e) == -1)
		return err_wrap(
		    e, "checking access to Lambda in %s", lambda.aws.region);
	cJSON_Delete(out);
	aws_backend_log_group(&lambda.aws, lambda_conf.log_group,
	    "Lambda creates it on first use if the role may");
	if (lambda_conf.derive) {
		if (kit_agent_layer(lambda_conf.agent_path,
			LAMBDA_AGENT_PATH + 1, &lambda.layer,
			"lambda.agent_path",
			"install sockerless-agent or set lambda.derive=false "
			"to run ECR images as they are",
			e) == -1)
			return -1;
		lambda.have_layer = 1;
		if (lambda_repository(e) == -1)
			return -1;
	}
	/* Output comes with the Invoke answer: nothing lags behind it. */
	backend_set_logs_grace_ms(b, 0);
	log_info("Lambda in %s, log group %s", lambda.aws.region,
	    lambda_conf.log_group);
	return 0;
}

/* Runs in flight when the previous process ended end as CloudWatch Logs
 * says; functions of creates cut short are deleted. */
static void
lambda_reconcile(struct backend *b)
{
	lambda_rec_start(b);
	lambda_rec_sweep(b);
}

static void
lambda_shutdown(struct backend *b)
{
	lambda_fn_shutdown(b);
	lambda_rec_shutdown();
	if (lambda.have_layer)
		reg_layer_free(&lambda.layer);
	free(lambda.repository_uri);
	aws_backend_close(&lambda.aws);
}

/* Output comes with the Invoke answer, kept in the container's state. */
KIT_BACKEND(lambda, "AWS Lambda", lambda_fn, .logs_fetch = kit_logs_kept)
