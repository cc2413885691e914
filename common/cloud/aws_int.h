/* Internals of the AWS modules (sigv4.c, aws_creds.c, aws.c), shared with
 * their unit tests. Not for other modules: use sockerless/aws.h. */
#ifndef SOCKERLESS_AWS_INT_H
#define SOCKERLESS_AWS_INT_H

#include <stddef.h>
#include <stdint.h>

#include "sockerless/aws.h"
#include "sockerless/buf.h"
#include "sockerless/cloud.h"
#include "sockerless/err.h"

/* sigv4.c */

/* normalize 0 is S3's rule (no "."/".." or "//" removal); aws_sigv4 uses
 * it for service "s3" only. The path is taken as it appears on the wire
 * and encoded once more (so "%3A" is signed as "%253A"). */
void sigv4_sign(const struct aws_sigv4_req *r, const struct aws_creds *c,
    int normalize, char **canonical, char **string_to_sign,
    char **authorization);
void sigv4_sha256_hex(char out[65], const void *p, size_t len);
/* RFC 3986: A-Z a-z 0-9 - _ . ~ stay, everything else is %XX. */
void sigv4_uri_encode(struct buf *b, const char *s, size_t len, int keep_slash);

/* aws_creds.c */

/* Refresh temporary credentials this long before they expire. */
#define AWS_CREDS_REFRESH_MARGIN 300

/* Results of one source: found, absent (try the next one), or configured
 * but broken (stop: falling through to another identity would be wrong). */
#define AWS_CREDS_OK	 0
#define AWS_CREDS_ERROR	 (-1)
#define AWS_CREDS_ABSENT 1

enum aws_creds_kind {
	AWS_CREDS_NONE,
	AWS_CREDS_ENV,
	AWS_CREDS_WEB_IDENTITY,
	AWS_CREDS_FILE,
	AWS_CREDS_CONTAINER,
	AWS_CREDS_IMDS,
};

struct aws_creds_chain {
	char *profile; /* explicit profile or NULL */
	char *region;  /* for the default STS endpoint */
	char *sts_url; /* NULL: AWS_ENDPOINT_URL_STS, AWS_ENDPOINT_URL,
			* https://sts.<region>.amazonaws.com */
	enum aws_creds_kind kind;
	char source[160]; /* "shared credentials file (profile x)" */
	struct aws_creds creds;
};

void aws_creds_chain_init(struct aws_creds_chain *ch, const char *profile,
    const char *region, const char *sts_url);
void aws_creds_chain_clear(struct aws_creds_chain *ch);
/* Walks env, web identity, shared files, container, IMDS. On failure e
 * names every source tried and why it did not work. Blocking. */
int aws_creds_resolve(struct aws_creds_chain *ch, struct err *e);
/* Fetches again from the source that worked when the credentials expire
 * within AWS_CREDS_REFRESH_MARGIN of now; 0 when nothing was needed or the
 * refresh worked. Blocking (local metadata endpoints or one STS call). */
int aws_creds_refresh(struct aws_creds_chain *ch, int64_t now, struct err *e);
/* Seconds from now until a refresh is due (0: now; -1: never). */
int64_t aws_creds_refresh_in(const struct aws_creds_chain *ch, int64_t now);

/* The single sources; each returns AWS_CREDS_OK, _ABSENT (why in e) or
 * _ERROR. */
int aws_creds_from_env(struct aws_creds *c, struct err *e);
int aws_creds_from_web_identity(
    const struct aws_creds_chain *ch, struct aws_creds *c, struct err *e);
int aws_creds_from_files(const char *profile, struct aws_creds *c, char *source,
    size_t srclen, struct err *e);
int aws_creds_from_container(struct aws_creds *c, struct err *e);
int aws_creds_from_imds(struct aws_creds *c, struct err *e);

/* Parsers. ini_get returns the value of key in [section] (caller frees)
 * or NULL. */
char *aws_creds_ini_get(const char *text, const char *section, const char *key);
/* Region of a profile from the config file, or NULL (caller frees). */
char *aws_creds_profile_region(const char *profile);
/* {"AccessKeyId","SecretAccessKey","Token","Expiration"} as served by ECS
 * and IMDS. */
int aws_creds_parse_json(
    const char *body, size_t len, struct aws_creds *c, struct err *e);
/* STS AssumeRoleWithWebIdentity XML (or its ErrorResponse). */
int aws_creds_parse_sts_xml(
    const char *body, struct aws_creds *c, struct err *e);

/* aws.c */

/* The AWS provider of the cloud call core. */
extern const struct cloud_provider aws_provider;
/* The loop a's calls complete on (aws_ec2_sg.c's back-off timers). */
struct event_base *aws_base(struct aws *a);

/* aws_err.c */

/* The table from AWS error codes to the core's kinds. */
extern const struct cloud_errmap aws_errors[];
/* The core's parse_error hook: awsJson/rest-json body, then the
 * X-Amzn-ErrorType header. */
void aws_cloud_parse_error(
    const struct httpcli_resp *resp, struct cloud_error *ce);
/* x-amzn-RequestId or x-amz-request-id, or NULL. */
const char *aws_request_id(const struct httpcli_resp *resp);
void aws_error_from_cloud(const struct cloud_error *ce, struct aws_error *ae);
/* Code (after any '#', before any ':'), message, throttled flag from an
 * awsJson error response. */
void aws_parse_error(int status, const char *body, size_t len,
    const char *request_id, struct aws_error *ae);
/* rest-json: the code from the X-Amzn-ErrorType header, when present,
 * replaces the body's. */
void aws_error_type_header(
    const struct httpcli_resp *resp, struct aws_error *ae);

#endif
