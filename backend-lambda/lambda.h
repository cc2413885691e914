/* sockerless-backend-lambda: Docker containers as AWS Lambda functions.
 * One container is one function (CreateFunction at create, DeleteFunction
 * at remove); start is a synchronous Invoke whose answer carries the exit
 * status and the output. Any image runs: the backend pushes a derived
 * image to ECR with sockerless-agent as its Lambda runtime on top. */
#ifndef SOCKERLESS_LAMBDA_H
#define SOCKERLESS_LAMBDA_H

#include "sockerless/aws.h"
#include "sockerless/backend.h"
#include "sockerless/reg.h"
#include "sockerless/str.h"

#define LAMBDA_TAG_ID	    "sockerless:container-id"
#define LAMBDA_TAG_NAME	    "sockerless:container-name"
#define LAMBDA_TAG_INSTANCE "sockerless:instance"
/* Where derived images hold the agent. */
#define LAMBDA_AGENT_PATH "/sockerless/agent"
/* Lambda's own limits. */
#define LAMBDA_MAX_TIMEOUT 900
#define LAMBDA_MIN_MEMORY  128
#define LAMBDA_MAX_MEMORY  10240

struct lambda_conf {
	char *region;
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
	char *endpoint;
	char *endpoint_lambda;
	char *endpoint_logs;
	char *endpoint_ecr;
	char *endpoint_sts;
	char *profile;
	long long active_timeout_s;
};

struct lambda {
	struct backend *b;
	struct aws *aws;
	char *repository_uri;	/* ECR repository of derived images */
	struct reg_layer layer; /* the agent as an image layer */
	int have_layer;
};

/* lambda.c */
extern struct lambda_conf lambda_conf;
extern struct lambda lambda;

/* lambda_fn.c */
void lambda_fn_create(
    struct backend *b, struct container *c, backend_done_fn done, void *arg);
void lambda_fn_start(
    struct backend *b, struct container *c, backend_done_fn done, void *arg);
void lambda_fn_stop(struct backend *b, struct container *c, int timeout_s,
    backend_done_fn done, void *arg);
void lambda_fn_kill(struct backend *b, struct container *c, int signo,
    backend_done_fn done, void *arg);
void lambda_fn_remove(
    struct backend *b, struct container *c, backend_done_fn done, void *arg);
/* Containers whose invocation was in flight when the backend stopped. */
void lambda_fn_reconcile(struct backend *b);
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
int lambda_out_decode(struct backend *b, struct container *c, int status,
    const char *function_error, const char *log_result, const char *body,
    size_t len, const char *request_id);
void lambda_out_forget(struct backend *b, struct container *c);
void lambda_logs_fetch(struct backend *b, struct container *c,
    const char *cursor, int64_t since_ns, backend_logs_fn fn, void *arg);

#endif
