/* The AWS part every AWS backend shares: its configuration keys, its
 * session, its log group and AWS's tag shapes (sockerless/aws_backend.h).
 * Below the backend framework: takes the event base, HTTP client and
 * registry client from the caller. */
#include <stddef.h>
#include <string.h>
#include <strings.h>

#include "sockerless/aws_backend.h"
#include "sockerless/json.h"
#include "sockerless/log.h"
#include "sockerless/reg.h"

#define K(name, field, req, doc)                                          \
	{                                                                 \
		name, CONFIG_STRING, offsetof(struct aws_backend, field), \
		    NULL, 0, 0, req, doc                                  \
	}

const struct config_key aws_backend_keys[AWS_BACKEND_NKEYS] = {
	K("region", region, 1, "AWS region of the backend's resources"),
	K("endpoint", endpoint, 0,
	    "Endpoint URL for every AWS service (a simulator, a VPC endpoint "
	    "proxy); like AWS_ENDPOINT_URL"),
	K("endpoint_logs", endpoint_logs, 0,
	    "Endpoint URL of CloudWatch Logs only"),
	K("endpoint_ecr", endpoint_ecr, 0, "Endpoint URL of ECR only"),
	K("endpoint_sts", endpoint_sts, 0, "Endpoint URL of STS only"),
	K("profile", profile, 0,
	    "Profile in the shared AWS config/credentials files"),
};

int
aws_backend_open(struct aws_backend *ab, struct event_base *base,
    struct httpcli *http, struct reg_client *reg, const char *service,
    const char *svc_endpoint, struct err *e)
{
	struct aws_options o;

	memset(&o, 0, sizeof(o));
	o.region = ab->region;
	o.profile = ab->profile;
	o.endpoint = ab->endpoint;
	if ((ab->aws = aws_new(base, http, &o, e)) == NULL)
		return -1;
	aws_set_endpoint(ab->aws, service, svc_endpoint);
	aws_set_endpoint(ab->aws, "logs", ab->endpoint_logs);
	aws_set_endpoint(ab->aws, "ecr", ab->endpoint_ecr);
	aws_set_endpoint(ab->aws, "sts", ab->endpoint_sts);
	if (aws_resolve_credentials(ab->aws, e) == -1)
		return -1;
	log_info("AWS credentials from %s", aws_credentials_source(ab->aws));
	reg_set_creds_hook(reg, aws_ecr_creds_hook, ab->aws);
	return 0;
}

void
aws_backend_close(struct aws_backend *ab)
{
	aws_free(ab->aws);
	ab->aws = NULL;
}

void
aws_backend_log_group(
    struct aws_backend *ab, const char *group, const char *without)
{
	cJSON *in = cJSON_CreateObject(), *out = NULL;
	struct err e;

	json_add_str(in, "logGroupName", group);
	if (aws_json_call_sync(
		ab->aws, "logs", "CreateLogGroup", in, &out, &e) == -1 &&
	    strstr(e.msg, "ResourceAlreadyExistsException") == NULL)
		log_warnx(
		    "creating log group %s: %s (%s)", group, e.msg, without);
	cJSON_Delete(out);
}

cJSON *
aws_tag(const char *k, const char *v)
{
	cJSON *t = cJSON_CreateObject();

	json_add_str(t, "key", k);
	json_add_str(t, "value", v);
	return t;
}

const char *
aws_tag_get(const cJSON *tags, const char *k)
{
	const cJSON *t;

	cJSON_ArrayForEach(t, tags) {
		const char *tk = json_str(t, "key");
		if (tk != NULL && strcmp(tk, k) == 0)
			return json_str(t, "value");
	}
	return NULL;
}

/* Tag keys and values as AWS accepts them; "aws:" is reserved. */
static int
aws_tag_ok(const char *k, const char *v)
{
	return k[0] != '\0' && strlen(k) <= 128 && strlen(v) <= 256 &&
	    strncasecmp(k, "aws:", 4) != 0;
}

cJSON *
aws_tags_from_labels(const cJSON *labels, int max)
{
	cJSON *tags = cJSON_CreateArray(), *it;

	cJSON_ArrayForEach(it, labels) {
		if (!cJSON_IsString(it) ||
		    !aws_tag_ok(it->string, it->valuestring))
			continue;
		if (cJSON_GetArraySize(tags) >= max) {
			log_warnx("more than %d labels: the rest are not "
				  "copied to AWS tags",
			    max);
			break;
		}
		cJSON_AddItemToArray(
		    tags, aws_tag(it->string, it->valuestring));
	}
	return tags;
}
