/* What every AWS backend shares around its translation: the AWS
 * configuration-key fragment (region, profile, endpoints), the session
 * set-up (credentials, endpoints, ECR pulls for the registry client),
 * CreateLogGroup, and AWS's tag shapes. */
#ifndef SOCKERLESS_AWS_BACKEND_H
#define SOCKERLESS_AWS_BACKEND_H

#include <cjson/cJSON.h>
#include <event2/event.h>

#include "sockerless/aws.h"
#include "sockerless/config.h"

struct httpcli;
struct reg_client;

/* The fragment's keys fill this; the session is aws. */
struct aws_backend {
	char *region;
	char *profile;
	char *endpoint; /* one URL for every AWS service */
	char *endpoint_logs;
	char *endpoint_ecr;
	char *endpoint_sts;
	struct aws *aws;
};

/* Key names without the backend's prefix (struct backend_ops
 * .config_fragments adds it): region (required), profile, endpoint,
 * endpoint_logs, endpoint_ecr, endpoint_sts. A backend's own service
 * endpoint key (endpoint_ecs) stays in its own table. */
#define AWS_BACKEND_NKEYS 6
extern const struct config_key aws_backend_keys[AWS_BACKEND_NKEYS];

/* The session: the client with its endpoints (service's own endpoint
 * svc_endpoint may be NULL), credentials resolved, and the registry
 * client pulling from ECR with them. */
int aws_backend_open(struct aws_backend *ab, struct event_base *base,
    struct httpcli *http, struct reg_client *reg, const char *service,
    const char *svc_endpoint, struct err *e);
void aws_backend_close(struct aws_backend *ab);
/* Creates the CloudWatch Logs group when missing; a failure is logged
 * with what happens without it (the group may be made by others). */
void aws_backend_log_group(
    struct aws_backend *ab, const char *group, const char *without);

/* Tags in the [{"key": k, "value": v}] shape of ECS and most AWS APIs. */
cJSON *aws_tag(const char *k, const char *v);
const char *aws_tag_get(const cJSON *tags, const char *k);
/* Docker labels as such tags, the ones AWS refuses ("aws:" prefix, too
 * long) skipped, at most max (the rest logged). */
cJSON *aws_tags_from_labels(const cJSON *labels, int max);

#endif
