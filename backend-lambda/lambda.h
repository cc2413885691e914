/* sockerless-backend-lambda: Docker containers as AWS Lambda functions.
 * One container is one function (CreateFunction at create, DeleteFunction
 * at remove); start is a synchronous Invoke whose answer carries the exit
 * status and the output. Any image runs: the backend pushes a derived
 * image to ECR with sockerless-agent as its Lambda runtime on top. */
#ifndef SOCKERLESS_LAMBDA_H
#define SOCKERLESS_LAMBDA_H

#include "sockerless/aws_backend.h"
#include "sockerless/backend.h"
#include "sockerless/backend_kit.h"
#include "sockerless/reg.h"
#include "sockerless/str.h"

/* The container's private state (container_private); its output is in
 * KIT_OUTPUT. */
#define LAMBDA_P_FUNCTION "FunctionName"
#define LAMBDA_P_ARN	  "FunctionArn"
#define LAMBDA_P_IMAGE	  "ImageUri"
#define LAMBDA_P_RUN	  "Run"	      /* invocations so far */
#define LAMBDA_P_REQUEST  "RequestId" /* of the last run's answer */
#define LAMBDA_P_PREV_REQ "PrevRequestId"
#define LAMBDA_FUNCTIONS  "/2015-03-31/functions/"
/* Where derived images hold the agent. */
#define LAMBDA_AGENT_PATH "/sockerless/agent"
/* Lambda's own limits. */
#define LAMBDA_MAX_TIMEOUT 900
#define LAMBDA_MIN_MEMORY  128
#define LAMBDA_MAX_MEMORY  10240

struct lambda_conf {
	char *role_arn;
	char *log_group;
	long long memory_size;
	long long timeout;
	struct strv subnet_ids;
	struct strv security_group_ids;
	char *architecture;
	int derive;
	char *ecr_repository;
	char *agent_path;
	char *endpoint_lambda;
	long long active_timeout_s;
};

struct lambda {
	struct backend *b;
	struct aws_backend aws; /* region, endpoints; the session aws.aws */
	char *repository_uri;	/* ECR repository of derived images */
	struct reg_layer layer; /* the agent as an image layer */
	int have_layer;
};

/* lambda.c */
extern struct lambda_conf lambda_conf;
extern struct lambda lambda;

/* lambda_fn.c */
KIT_CONTAINER_OPS_DECL(lambda_fn);
/* A Lambda call without a body: method on prefix + name escaped. */
void lambda_call(const char *method, const char *prefix, const char *name,
    const char *op, aws_rest_cb cb, void *arg);
/* Cancels invocations in flight (shutdown). */
void lambda_fn_shutdown(struct backend *b);

/* lambda_rec.c: after a restart, the runs in flight end with the exit
 * status and output the agent's marker lines left in CloudWatch Logs, and
 * functions of creates cut short are found by their tags and deleted. */
void lambda_rec_start(struct backend *b);
void lambda_rec_sweep(struct backend *b);
void lambda_rec_shutdown(void);

/* lambda_out.c: the invocation's output as log events. */
/* Decodes an Invoke answer (status, X-Amz-Function-Error,
 * X-Amz-Log-Result, body) into the exit code it returns and the output
 * lines it stores. */
/* Lambda's own START/END/REPORT/INIT_START lines of a log. */
int lambda_out_platform_line(const char *m);
int lambda_out_decode(struct backend *b, struct container *c, int status,
    const char *function_error, const char *log_result, const char *body,
    size_t len, const char *request_id);

#endif
