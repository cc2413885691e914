/* The EC2 Query protocol (common/cloud/aws_ec2.c): form-encoded POSTs with
 * Action and Version=2016-11-15, SigV4 service "ec2", XML answers; the
 * requests the backends send (security groups, subnets) and a small
 * bounded reader for the elements of EC2's answers. */
#ifndef SOCKERLESS_AWS_EC2_H
#define SOCKERLESS_AWS_EC2_H

#include <stddef.h>
#include <stdint.h>

#include "sockerless/aws.h"
#include "sockerless/buf.h"
#include "sockerless/str.h"

#define AWS_EC2_VERSION "2016-11-15"
/* Nesting deeper than this is refused as malformed (EC2 nests about 6). */
#define AWS_XML_MAX_DEPTH 64

/* --- the Query encoding ------------------------------------------------- */

/* q becomes "Action=<action>&Version=2016-11-15" (q is initialised). */
void aws_query_init(struct buf *q, const char *action);
/* Appends "&key=value", both percent-encoded as SigV4 does (RFC 3986
 * unreserved characters kept). */
void aws_query_add(struct buf *q, const char *key, const char *value);
/* The key is a format: aws_query_addf(q, id, "GroupId.%zu", i). */
void aws_query_addf(struct buf *q, const char *value, const char *keyfmt, ...)
    __attribute__((format(printf, 3, 4)));

/* CreateSecurityGroup: name, description, VPC and the tags (key, value
 * pairs ending with NULL) on the group itself. */
void aws_ec2_q_create_sg(struct buf *q, const char *name, const char *desc,
    const char *vpc, const char *const *tags);
/* Authorize/RevokeSecurityGroupIngress/Egress (action) on group: all
 * protocols (IpProtocol -1) from or to peer_group, or cidr when peer_group
 * is NULL. */
void aws_ec2_q_sg_rule(struct buf *q, const char *action, const char *group,
    const char *peer_group, const char *cidr);
void aws_ec2_q_delete_sg(struct buf *q, const char *group);
/* DescribeSecurityGroups of the groups tagged key=value. */
void aws_ec2_q_describe_sgs_tag(
    struct buf *q, const char *key, const char *value);
/* DescribeSecurityGroups of the group named name (in vpc, when set). */
void aws_ec2_q_describe_sgs_name(
    struct buf *q, const char *name, const char *vpc);
void aws_ec2_q_describe_subnets(struct buf *q, const struct strv *subnets);

/* --- calls -------------------------------------------------------------- */

/* Sends the request in q (emptied). cb gets the raw answer: resp->body is
 * the XML on success; ae (EC2's Code and Message, mapped by the AWS error
 * table) on an error. Returns a call id for aws_cancel. */
uint64_t aws_ec2_call(struct aws *a, const char *action, struct buf *q,
    aws_rest_cb cb, void *arg);

/* --- security groups (aws_ec2_sg.c) ------------------------------------ */

/* A group per Docker network: its members admit each other (ingress from
 * the group itself); internal ones also lose the default all-egress rule
 * and may only reach each other. */
struct aws_ec2_sg_spec {
	const char *name; /* GroupName */
	const char *desc;
	const char *vpc;
	const char *const *tags; /* key, value, ..., NULL */
	int internal;
};

/* group_id is set on success (borrowed); e on failure (Docker status and
 * EC2's words). */
typedef void (*aws_ec2_sg_cb)(
    void *arg, const char *group_id, const struct err *e);

/* CreateSecurityGroup, AuthorizeSecurityGroupIngress from itself, and
 * for internal: RevokeSecurityGroupEgress 0.0.0.0/0 and
 * AuthorizeSecurityGroupEgress to itself. A step failing after the create
 * deletes the group (its error is added when that fails too), so a
 * failure leaves nothing behind. A create retried after its first attempt
 * made the group (InvalidGroup.Duplicate) adopts that group when it
 * carries the spec's first tag, and a rule that is already there
 * (InvalidPermission.Duplicate) counts as added. */
void aws_ec2_sg_make(struct aws *a, const struct aws_ec2_sg_spec *spec,
    aws_ec2_sg_cb cb, void *arg);
/* DeleteSecurityGroup; while EC2 answers DependencyViolation (an ENI of a
 * task that just stopped is still being released) it tries again after
 * first_ms, doubling up to 10 s, for at most total_ms, then fails with a
 * 409 naming the group. A group already gone is success. */
void aws_ec2_sg_delete(struct aws *a, const char *group_id, long first_ms,
    long total_ms, aws_ec2_sg_cb cb, void *arg);
/* As aws_ec2_sg_delete, and arg is the sequence's own: arg_free frees it
 * after cb, or without cb when aws_ec2_sg_cancel_all ends the sequence.
 * cb must not free it. */
void aws_ec2_sg_delete_owned(struct aws *a, const char *group_id, long first_ms,
    long total_ms, aws_ec2_sg_cb cb, void *arg, void (*arg_free)(void *));
/* DescribeSecurityGroups tagged key=value: the ids into ids and each
 * one's value of tag vkey ("" when it has none) into vals. */
typedef void (*aws_ec2_sg_list_cb)(void *arg, const struct strv *ids,
    const struct strv *vals, const struct err *e);
void aws_ec2_sg_list(struct aws *a, const char *key, const char *value,
    const char *vkey, aws_ec2_sg_list_cb cb, void *arg);
/* As aws_ec2_sg_list, with arg owned as by aws_ec2_sg_delete_owned. */
void aws_ec2_sg_list_owned(struct aws *a, const char *key, const char *value,
    const char *vkey, aws_ec2_sg_list_cb cb, void *arg,
    void (*arg_free)(void *));
/* DescribeSubnets: the VPC of the subnets (they must share one). */
void aws_ec2_subnets_vpc(
    struct aws *a, const struct strv *subnets, aws_ec2_sg_cb cb, void *arg);
/* Frees the sequences in flight on a, without their callbacks (call
 * before aws_free); an owned arg goes with its sequence. */
void aws_ec2_sg_cancel_all(struct aws *a);

/* --- the XML reader ------------------------------------------------------ */

/* A range of a document: an element's content, or the whole document.
 * Nothing is copied; the reader never reads outside [p, p + len). */
struct aws_xml {
	const char *p;
	size_t len;
};

/* The content of the document's root element (after any <?xml?> prolog
 * and comments); its name in name (may be NULL). 0, or -1 when malformed
 * (DOCTYPEs are refused). */
int aws_xml_root(
    const char *doc, size_t len, struct aws_xml *root, char *name, size_t size);
/* Iterates the child elements of a range: it starts as the range and is
 * advanced; each call gives the next child's content and name. 1: a child;
 * 0: no more; -1: malformed. */
int aws_xml_next(
    struct aws_xml *it, struct aws_xml *child, char *name, size_t size);
/* The first descendant along path ("a/b/c", each a direct child). 0, or -1
 * when absent or malformed. */
int aws_xml_find(
    const struct aws_xml *scope, const char *path, struct aws_xml *out);
/* The element's text with the XML entities and character references
 * decoded (child elements and comments skipped). 0, or -1 when it does not
 * fit in size or is malformed. */
int aws_xml_text(const struct aws_xml *el, char *out, size_t size);
/* aws_xml_find then aws_xml_text; "" and -1 when absent. */
int aws_xml_get(
    const struct aws_xml *scope, const char *path, char *out, size_t size);

/* EC2's error document (<Response><Errors><Error><Code>, <Message>,
 * <RequestID>) and the Query protocol's (<ErrorResponse><Error>...
 * <RequestId>): code, message and request id into the buffers (each
 * NUL-terminated). 0, or -1 when body is neither. */
int aws_xml_error(const char *body, size_t len, char *code, size_t codesz,
    char *msg, size_t msgsz, char *rid, size_t ridsz);

#endif
