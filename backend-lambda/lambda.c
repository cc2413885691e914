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
	K("region", CONFIG_STRING, region, NULL, 0, 0, 1,
	    "AWS region of the functions"),
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
	K("endpoint", CONFIG_STRING, endpoint, NULL, 0, 0, 0,
	    "Endpoint URL for every AWS service (a simulator, a VPC endpoint "
	    "proxy); like AWS_ENDPOINT_URL"),
	K("endpoint_lambda", CONFIG_STRING, endpoint_lambda, NULL, 0, 0, 0,
	    "Endpoint URL of Lambda only"),
	K("endpoint_logs", CONFIG_STRING, endpoint_logs, NULL, 0, 0, 0,
	    "Endpoint URL of CloudWatch Logs only"),
	K("endpoint_ecr", CONFIG_STRING, endpoint_ecr, NULL, 0, 0, 0,
	    "Endpoint URL of ECR only"),
	K("endpoint_sts", CONFIG_STRING, endpoint_sts, NULL, 0, 0, 0,
	    "Endpoint URL of STS only"),
	K("profile", CONFIG_STRING, profile, NULL, 0, 0, 0,
	    "Profile in the shared AWS config/credentials files"),
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

static void
lambda_capabilities(struct backend *b, struct caps *c)
{
	(void)b;
	memset(c, 0, sizeof(*c));
	c->flag[CAP_LOGS] = 1;
	c->max_timeout_seconds = (long)lambda_conf.timeout;
}

static void
lambda_info(struct backend *b, cJSON *info)
{
	cJSON *labels = cJSON_CreateArray();
	char *s;

	(void)b;
	s = xasprintf("AWS Lambda (region %s)", lambda_conf.region);
	json_set(info, "OperatingSystem", cJSON_CreateString(s));
	free(s);
	s = xasprintf("sockerless-lambda-%s", lambda_conf.region);
	json_set(info, "Name", cJSON_CreateString(s));
	free(s);
	cJSON_AddItemToArray(
	    labels, cJSON_CreateString("sockerless.backend=lambda"));
	s = xasprintf("sockerless.region=%s", lambda_conf.region);
	cJSON_AddItemToArray(labels, cJSON_CreateString(s));
	free(s);
	json_set(info, "Labels", labels);
}

/* The agent binary as an image layer: /sockerless/agent, mode 0755. */
static int
lambda_load_agent(struct err *e)
{
	struct buf bin;
	struct reg_file f;
	FILE *fp;
	char chunk[65536];
	size_t n;
	int rc;

	if ((fp = fopen(lambda_conf.agent_path, "rb")) == NULL)
		return err_set(e, 500,
		    "lambda.agent_path %s: %s; install sockerless-agent or "
		    "set lambda.derive=false to run ECR images as they are",
		    lambda_conf.agent_path, strerror(errno));
	buf_init(&bin, 0);
	while ((n = fread(chunk, 1, sizeof(chunk), fp)) > 0)
		buf_add(&bin, chunk, n);
	fclose(fp);
	memset(&f, 0, sizeof(f));
	f.path = LAMBDA_AGENT_PATH + 1;
	f.mode = 0755;
	f.data = bin.data;
	f.len = bin.len;
	if ((rc = reg_layer_build(&f, 1, &lambda.layer, e)) == 0) {
		lambda.have_layer = 1;
		log_info("agent layer %s (%zu bytes) from %s",
		    lambda.layer.digest, lambda.layer.len,
		    lambda_conf.agent_path);
	}
	buf_free(&bin);
	return rc;
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
	if (aws_json_call_sync(
		lambda.aws, "ecr", "DescribeRepositories", in, &out, e) == -1) {
		if (strstr(e->msg, "RepositoryNotFoundException") == NULL)
			return err_wrap(e, "looking up ECR repository %s",
			    lambda_conf.ecr_repository);
		in = cJSON_CreateObject();
		json_add_str(in, "repositoryName", lambda_conf.ecr_repository);
		if (aws_json_call_sync(lambda.aws, "ecr", "CreateRepository",
			in, &out, e) == -1)
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
	struct aws_options o;
	struct aws_rest rq;
	cJSON *in, *out = NULL;

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
	memset(&o, 0, sizeof(o));
	o.region = lambda_conf.region;
	o.profile = lambda_conf.profile;
	o.endpoint = lambda_conf.endpoint;
	lambda.b = b;
	if ((lambda.aws = aws_new(
		 backend_base(b), backend_httpcli(b), &o, e)) == NULL)
		return -1;
	aws_set_endpoint(lambda.aws, "lambda", lambda_conf.endpoint_lambda);
	aws_set_endpoint(lambda.aws, "logs", lambda_conf.endpoint_logs);
	aws_set_endpoint(lambda.aws, "ecr", lambda_conf.endpoint_ecr);
	aws_set_endpoint(lambda.aws, "sts", lambda_conf.endpoint_sts);
	if (aws_resolve_credentials(lambda.aws, e) == -1)
		return -1;
	log_info("AWS credentials from %s", aws_credentials_source(lambda.aws));
	reg_set_creds_hook(backend_registry(b), aws_ecr_creds_hook, lambda.aws);
	memset(&rq, 0, sizeof(rq));
	rq.method = "GET";
	rq.path = "/2015-03-31/functions/";
	rq.query = "MaxItems=1";
	if (aws_rest_call_sync(
		lambda.aws, "lambda", "ListFunctions", &rq, &out, e) == -1)
		return err_wrap(
		    e, "checking access to Lambda in %s", lambda_conf.region);
	cJSON_Delete(out);
	in = cJSON_CreateObject();
	json_add_str(in, "logGroupName", lambda_conf.log_group);
	out = NULL;
	if (aws_json_call_sync(
		lambda.aws, "logs", "CreateLogGroup", in, &out, e) == -1 &&
	    strstr(e->msg, "ResourceAlreadyExistsException") == NULL)
		log_warnx("creating log group %s: %s (Lambda creates it on "
			  "first use if the role may)",
		    lambda_conf.log_group, e->msg);
	cJSON_Delete(out);
	err_clear(e);
	if (lambda_conf.derive &&
	    (lambda_load_agent(e) == -1 || lambda_repository(e) == -1))
		return -1;
	/* Output comes with the Invoke answer: nothing lags behind it. */
	backend_set_logs_grace_ms(b, 0);
	log_info("Lambda in %s, log group %s", lambda_conf.region,
	    lambda_conf.log_group);
	return 0;
}

static void
lambda_reconcile(struct backend *b)
{
	lambda_fn_reconcile(b);
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
	aws_free(lambda.aws);
}

static const struct backend_ops lambda_ops = {
	.name = "lambda",
	.description = "AWS Lambda",
	.config_keys = lambda_keys,
	.config_nkeys = sizeof(lambda_keys) / sizeof(lambda_keys[0]),
	.config = &lambda_conf,
	.capabilities = lambda_capabilities,
	.init = lambda_init,
	.reconcile = lambda_reconcile,
	.info = lambda_info,
	.create = lambda_fn_create,
	.start = lambda_fn_start,
	.stop = lambda_fn_stop,
	.kill = lambda_fn_kill,
	.remove = lambda_fn_remove,
	.logs_fetch = lambda_logs_fetch,
	.shutdown = lambda_shutdown,
};

int
main(int argc, char **argv)
{
	return backend_main(argc, argv, &lambda_ops);
}
