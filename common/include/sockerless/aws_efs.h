/* The EFS client (common/cloud/aws_efs.c): rest-json under
 * /2015-02-01, SigV4 service "elasticfilesystem". What the backends need of
 * it: an access point per Docker volume (made, looked up, listed per file
 * system for the orphan sweep, deleted) and the start-up check of the file
 * system. */
#ifndef SOCKERLESS_AWS_EFS_H
#define SOCKERLESS_AWS_EFS_H

#include <stddef.h>

#include <cjson/cJSON.h>

#include "sockerless/aws.h"

/* Tags of an access point sockerless made, beside "Name". */
#define AWS_EFS_TAG_INSTANCE "sockerless-instance"
#define AWS_EFS_TAG_VOLUME   "sockerless-volume"
/* EFS's limits (botocore's efs model): RootDirectory.Path, tag values and
 * ClientToken. */
#define AWS_EFS_PATH_MAX   100
#define AWS_EFS_PATH_DEPTH 4
#define AWS_EFS_TAG_MAX	   256
#define AWS_EFS_TOKEN_MAX  64

/* An access point as sockerless reads it from AccessPointDescription. */
struct aws_efs_ap {
	char id[64];
	char arn[256];
	char fs_id[64];
	char path[AWS_EFS_PATH_MAX + 1];
	char state[32]; /* LifeCycleState: creating, available, ... */
	char instance[AWS_EFS_TAG_MAX + 1]; /* tag sockerless-instance */
	char volume[AWS_EFS_TAG_MAX + 1];   /* tag sockerless-volume */
};

/* CreateAccessPoint's input. The root directory is made root:root 0755
 * (Docker's new-volume root) by EFS when it is missing. */
struct aws_efs_ap_spec {
	const char *fs_id;
	const char *token; /* ClientToken: the same for a retried create */
	const char *path;  /* RootDirectory.Path */
	const char *name;  /* the Name tag (cut to AWS_EFS_TAG_MAX) */
	const char *const *tags; /* more tags: key, value, ..., NULL */
};

/* The request body of CreateAccessPoint (exposed for tests). */
cJSON *aws_efs_create_body(const struct aws_efs_ap_spec *s);
/* An AccessPointDescription into ap; -1 when it has no AccessPointId. */
int aws_efs_ap_parse(const cJSON *d, struct aws_efs_ap *ap);
/* EFS's error for op as a Docker-facing err: AccessPointLimitExceeded 507,
 * IncorrectFileSystemLifeCycleState 503, FileSystemNotFound 500 naming
 * the file system, BadRequest 400; others by aws_error_to_err. */
void aws_efs_error(const char *op, const char *fs_id,
    const struct aws_error *ae, struct err *e);

/* ap is set on success (borrowed); e on failure. */
typedef void (*aws_efs_ap_cb)(
    void *arg, const struct aws_efs_ap *ap, const struct err *e);
typedef void (*aws_efs_list_cb)(
    void *arg, const struct aws_efs_ap *aps, size_t n, const struct err *e);

/* CreateAccessPoint, then DescribeAccessPoints until it is available
 * (at most wait_ms; 0: not waited for). A retried create answered
 * AccessPointAlreadyExists (its token was used) adopts that access point.
 * An access point that ends in the error state, or is not available in
 * time, is deleted and the create fails: nothing is left behind. */
void aws_efs_ap_create(struct aws *a, const struct aws_efs_ap_spec *s,
    long wait_ms, aws_efs_ap_cb cb, void *arg);
/* DescribeAccessPoints of one id. */
void aws_efs_ap_describe(
    struct aws *a, const char *id, aws_efs_ap_cb cb, void *arg);
/* DeleteAccessPoint; one already gone (AccessPointNotFound) is success
 * (ap is NULL then, as always for a delete). */
void aws_efs_ap_delete(
    struct aws *a, const char *id, aws_efs_ap_cb cb, void *arg);
/* Every access point of the file system, all pages. */
void aws_efs_ap_list(
    struct aws *a, const char *fs_id, aws_efs_list_cb cb, void *arg);
/* Frees the operations in flight on a without their callbacks (call
 * before aws_free). */
void aws_efs_cancel_all(struct aws *a);

/* Start-up, blocking: DescribeFileSystems of fs_id; -1 with a sentence
 * naming the key when it is missing or not available. */
int aws_efs_fs_check(
    struct aws *a, const char *fs_id, const char *key, struct err *e);

#endif
