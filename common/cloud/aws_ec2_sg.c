/* Security groups as sequences of EC2 calls: a Docker network's group
 * made whole or not at all, deleted with patience while a stopped task's
 * network interface is released, listed by tag, and the VPC of the
 * configured subnets. Each sequence is one op, completed from the loop;
 * aws_ec2_sg_cancel_all ends those in flight when the backend stops. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>

#include <event2/event.h>

#include "sockerless/aws_ec2.h"
#include "sockerless/httpcli.h"
#include "sockerless/xmalloc.h"

#include "aws_int.h"

/* The longest pause between two DeleteSecurityGroup attempts. */
#define AWS_EC2_DELETE_MAX_DELAY_MS 10000

enum aws_ec2_step {
	SG_CREATE,
	SG_ADOPT,
	SG_INGRESS,
	SG_REVOKE,
	SG_EGRESS,
	SG_UNDO,
	SG_DELETE,
	SG_LIST,
	SG_VPC,
};

struct aws_ec2_op {
	TAILQ_ENTRY(aws_ec2_op) entry;
	struct aws *a;
	enum aws_ec2_step step;
	int internal;
	char group[128];
	uint64_t call;
	struct event *timer;
	long delay_ms, left_ms, waited_ms;
	struct err failed; /* a make's failure while its group is deleted */
	char *vkey;
	char *tkey, *tval; /* a make's first tag: a duplicate with it is ours */
	aws_ec2_sg_cb cb;
	aws_ec2_sg_list_cb lcb;
	void *arg;
	void (*arg_free)(void *); /* the _owned forms: after cb, or on cancel */
};

static TAILQ_HEAD(, aws_ec2_op) aws_ec2_ops = TAILQ_HEAD_INITIALIZER(
    aws_ec2_ops);

static void aws_ec2_answer(void *arg, const struct httpcli_resp *resp,
    const cJSON *out, const struct aws_error *ae);
static void aws_ec2_tag(
    const struct aws_xml *group, const char *key, char *out, size_t n);

static struct aws_ec2_op *
aws_ec2_op_new(struct aws *a, enum aws_ec2_step step, void *arg)
{
	struct aws_ec2_op *op = xcalloc(1, sizeof(*op));

	op->a = a;
	op->step = step;
	op->arg = arg;
	TAILQ_INSERT_TAIL(&aws_ec2_ops, op, entry);
	return op;
}

static void
aws_ec2_op_free(struct aws_ec2_op *op)
{
	TAILQ_REMOVE(&aws_ec2_ops, op, entry);
	if (op->arg_free != NULL)
		op->arg_free(op->arg);
	if (op->timer != NULL)
		event_free(op->timer);
	free(op->vkey);
	free(op->tkey);
	free(op->tval);
	free(op);
}

/* Ends a make, delete or VPC lookup. */
static void
aws_ec2_finish(struct aws_ec2_op *op, const char *group, const struct err *e)
{
	aws_ec2_sg_cb cb = op->cb;
	void *arg = op->arg;
	void (*arg_free)(void *) = op->arg_free;
	char g[sizeof(op->group)];
	struct err copy;

	/* group and e may be op's own. */
	snprintf(g, sizeof(g), "%s", group != NULL ? group : "");
	if (e != NULL)
		copy = *e;
	op->arg_free = NULL;
	aws_ec2_op_free(op);
	cb(arg, e == NULL ? g : NULL, e == NULL ? NULL : &copy);
	if (arg_free != NULL)
		arg_free(arg);
}

static void
aws_ec2_send(struct aws_ec2_op *op, enum aws_ec2_step step, const char *action,
    struct buf *q)
{
	op->step = step;
	op->call = aws_ec2_call(op->a, action, q, aws_ec2_answer, op);
}

static void
aws_ec2_send_rule(struct aws_ec2_op *op, enum aws_ec2_step step,
    const char *action, const char *peer, const char *cidr)
{
	struct buf q;

	aws_ec2_q_sg_rule(&q, action, op->group, peer, cidr);
	aws_ec2_send(op, step, action, &q);
}

/* The root element of a successful answer. */
static int
aws_ec2_root(const struct httpcli_resp *resp, struct aws_xml *root)
{
	return aws_xml_root(resp->body, resp->body_len, root, NULL, 0);
}

/* --- make -------------------------------------------------------------- */

/* A step after the create failed: the group goes, then the error is
 * told. */
static void
aws_ec2_undo(struct aws_ec2_op *op, const struct aws_error *ae)
{
	struct buf q;

	aws_error_to_err(ae, &op->failed);
	aws_ec2_q_delete_sg(&q, op->group);
	aws_ec2_send(op, SG_UNDO, "DeleteSecurityGroup", &q);
}

static void
aws_ec2_made(struct aws_ec2_op *op, const struct httpcli_resp *resp,
    const struct aws_error *ae)
{
	struct aws_xml root;
	struct err e;
	struct buf q;

	if (ae != NULL && strcmp(ae->code, "InvalidGroup.Duplicate") == 0 &&
	    op->tkey != NULL) {
		/* An attempt the core retried may have made it. */
		aws_ec2_q_describe_sgs_name(&q, op->vkey, op->group);
		aws_ec2_send(op, SG_ADOPT, "DescribeSecurityGroups", &q);
		return;
	}
	if (ae != NULL) {
		aws_error_to_err(ae, &e);
		aws_ec2_finish(op, NULL, &e);
		return;
	}
	if (aws_ec2_root(resp, &root) == -1 ||
	    aws_xml_get(&root, "groupId", op->group, sizeof(op->group)) == -1 ||
	    op->group[0] == '\0') {
		err_set(&e, 502,
		    "EC2 answered CreateSecurityGroup without a groupId");
		aws_ec2_finish(op, NULL, &e);
		return;
	}
	aws_ec2_send_rule(
	    op, SG_INGRESS, "AuthorizeSecurityGroupIngress", op->group, NULL);
}

/* The group of that name: ours when it carries the spec's first tag. */
static void
aws_ec2_adopt(struct aws_ec2_op *op, const struct httpcli_resp *resp,
    const struct aws_error *ae)
{
	struct aws_xml root, item;
	char v[256];
	struct err e;

	if (ae != NULL) {
		aws_error_to_err(ae, &e);
		aws_ec2_finish(op, NULL, &e);
		return;
	}
	if (aws_ec2_root(resp, &root) == -1 ||
	    aws_xml_find(&root, "securityGroupInfo/item", &item) == -1 ||
	    aws_xml_get(&item, "groupId", op->group, sizeof(op->group)) == -1) {
		err_set(&e, 409,
		    "EC2 says security group %s exists but does not list it",
		    op->vkey);
		aws_ec2_finish(op, NULL, &e);
		return;
	}
	aws_ec2_tag(&item, op->tkey, v, sizeof(v));
	if (strcmp(v, op->tval) != 0) {
		err_set(&e, 409,
		    "a security group named %s (%s) exists and is not this "
		    "instance's (its %s tag is \"%s\"); delete or rename it",
		    op->vkey, op->group, op->tkey, v);
		aws_ec2_finish(op, NULL, &e);
		return;
	}
	aws_ec2_send_rule(
	    op, SG_INGRESS, "AuthorizeSecurityGroupIngress", op->group, NULL);
}

static void
aws_ec2_make_step(struct aws_ec2_op *op, const struct httpcli_resp *resp,
    const struct aws_error *ae)
{
	if (op->step == SG_CREATE) {
		aws_ec2_made(op, resp, ae);
		return;
	}
	if (op->step == SG_ADOPT) {
		aws_ec2_adopt(op, resp, ae);
		return;
	}
	/* A rule a retried attempt (or the adopted group) has already. */
	if (ae != NULL && strcmp(ae->code, "InvalidPermission.Duplicate") == 0)
		ae = NULL;
	/* The default egress rule a retried attempt already revoked. */
	if (ae != NULL && op->step == SG_REVOKE &&
	    strcmp(ae->code, "InvalidPermission.NotFound") == 0)
		ae = NULL;
	if (ae != NULL) {
		aws_ec2_undo(op, ae);
		return;
	}
	if (op->step == SG_INGRESS && op->internal)
		aws_ec2_send_rule(op, SG_REVOKE, "RevokeSecurityGroupEgress",
		    NULL, "0.0.0.0/0");
	else if (op->step == SG_REVOKE)
		aws_ec2_send_rule(op, SG_EGRESS, "AuthorizeSecurityGroupEgress",
		    op->group, NULL);
	else
		aws_ec2_finish(op, op->group, NULL);
}

static void
aws_ec2_undone(struct aws_ec2_op *op, const struct aws_error *ae)
{
	struct err e;

	if (ae != NULL) {
		aws_error_to_err(ae, &e);
		err_wrap(&op->failed,
		    "security group %s was made but could not be deleted "
		    "(delete it by hand): %s; it failed first with",
		    op->group, e.msg);
	}
	aws_ec2_finish(op, NULL, &op->failed);
}

void
aws_ec2_sg_make(struct aws *a, const struct aws_ec2_sg_spec *spec,
    aws_ec2_sg_cb cb, void *arg)
{
	struct aws_ec2_op *op = aws_ec2_op_new(a, SG_CREATE, arg);
	struct buf q;

	op->cb = cb;
	op->internal = spec->internal;
	/* For a duplicate: the name in vkey, the VPC in group. */
	op->vkey = xstrdup(spec->name);
	snprintf(op->group, sizeof(op->group), "%s",
	    spec->vpc != NULL ? spec->vpc : "");
	if (spec->tags != NULL && spec->tags[0] != NULL &&
	    spec->tags[1] != NULL) {
		op->tkey = xstrdup(spec->tags[0]);
		op->tval = xstrdup(spec->tags[1]);
	}
	aws_ec2_q_create_sg(&q, spec->name, spec->desc, spec->vpc, spec->tags);
	aws_ec2_send(op, SG_CREATE, "CreateSecurityGroup", &q);
}

/* --- delete ------------------------------------------------------------ */

static void
aws_ec2_delete_send(struct aws_ec2_op *op)
{
	struct buf q;

	aws_ec2_q_delete_sg(&q, op->group);
	aws_ec2_send(op, SG_DELETE, "DeleteSecurityGroup", &q);
}

static void
aws_ec2_delete_ev(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	aws_ec2_delete_send(arg);
}

static void
aws_ec2_deleted(struct aws_ec2_op *op, const struct aws_error *ae)
{
	struct timeval tv;
	struct err e;

	if (ae == NULL || strcmp(ae->code, "InvalidGroup.NotFound") == 0) {
		aws_ec2_finish(op, op->group, NULL);
		return;
	}
	if (strcmp(ae->code, "DependencyViolation") != 0 || op->left_ms <= 0) {
		aws_error_to_err(ae, &e);
		if (strcmp(ae->code, "DependencyViolation") == 0)
			err_set(&e, 409,
			    "security group %s is still used by a network "
			    "interface after %ld s (EC2: %s); try again when "
			    "the tasks that used it have stopped",
			    op->group, op->waited_ms / 1000, ae->message);
		aws_ec2_finish(op, NULL, &e);
		return;
	}
	if (op->delay_ms > op->left_ms)
		op->delay_ms = op->left_ms;
	op->left_ms -= op->delay_ms;
	op->waited_ms += op->delay_ms;
	tv.tv_sec = op->delay_ms / 1000;
	tv.tv_usec = (op->delay_ms % 1000) * 1000;
	if (op->timer == NULL)
		op->timer = evtimer_new(aws_base(op->a), aws_ec2_delete_ev, op);
	evtimer_add(op->timer, &tv);
	op->delay_ms *= 2;
	if (op->delay_ms > AWS_EC2_DELETE_MAX_DELAY_MS)
		op->delay_ms = AWS_EC2_DELETE_MAX_DELAY_MS;
}

void
aws_ec2_sg_delete_owned(struct aws *a, const char *group_id, long first_ms,
    long total_ms, aws_ec2_sg_cb cb, void *arg, void (*arg_free)(void *))
{
	struct aws_ec2_op *op = aws_ec2_op_new(a, SG_DELETE, arg);

	op->arg_free = arg_free;
	op->cb = cb;
	op->delay_ms = first_ms > 0 ? first_ms : 1;
	op->left_ms = total_ms;
	snprintf(op->group, sizeof(op->group), "%s", group_id);
	aws_ec2_delete_send(op);
}

void
aws_ec2_sg_delete(struct aws *a, const char *group_id, long first_ms,
    long total_ms, aws_ec2_sg_cb cb, void *arg)
{
	aws_ec2_sg_delete_owned(a, group_id, first_ms, total_ms, cb, arg, NULL);
}

/* --- list and VPC ------------------------------------------------------ */

/* The value of tag key in a group's tagSet, or "". */
static void
aws_ec2_tag(const struct aws_xml *group, const char *key, char *out, size_t n)
{
	struct aws_xml set, it, item;
	char k[256];

	out[0] = '\0';
	if (aws_xml_find(group, "tagSet", &set) == -1)
		return;
	it = set;
	while (aws_xml_next(&it, &item, NULL, 0) == 1)
		if (aws_xml_get(&item, "key", k, sizeof(k)) == 0 &&
		    strcmp(k, key) == 0) {
			aws_xml_get(&item, "value", out, n);
			return;
		}
}

static void
aws_ec2_listed(struct aws_ec2_op *op, const struct httpcli_resp *resp,
    const struct aws_error *ae)
{
	struct aws_xml root, info, it, item;
	struct strv ids, vals;
	char id[128], v[256];
	struct err e, *ep = NULL;

	strv_init(&ids);
	strv_init(&vals);
	if (ae != NULL) {
		aws_error_to_err(ae, &e);
		ep = &e;
	} else if (aws_ec2_root(resp, &root) == -1 ||
	    aws_xml_find(&root, "securityGroupInfo", &info) == -1) {
		ep = &e;
		err_set(ep, 502,
		    "EC2 answered DescribeSecurityGroups without a "
		    "securityGroupInfo");
	} else {
		it = info;
		while (aws_xml_next(&it, &item, NULL, 0) == 1) {
			if (aws_xml_get(&item, "groupId", id, sizeof(id)) == -1)
				continue;
			aws_ec2_tag(&item, op->vkey, v, sizeof(v));
			strv_add(&ids, id);
			strv_add(&vals, v);
		}
	}
	op->lcb(op->arg, &ids, &vals, ep);
	strv_free(&ids);
	strv_free(&vals);
	aws_ec2_op_free(op);
}

void
aws_ec2_sg_list_owned(struct aws *a, const char *key, const char *value,
    const char *vkey, aws_ec2_sg_list_cb cb, void *arg,
    void (*arg_free)(void *))
{
	struct aws_ec2_op *op = aws_ec2_op_new(a, SG_LIST, arg);
	struct buf q;

	op->arg_free = arg_free;
	op->lcb = cb;
	op->vkey = xstrdup(vkey);
	aws_ec2_q_describe_sgs_tag(&q, key, value);
	aws_ec2_send(op, SG_LIST, "DescribeSecurityGroups", &q);
}

void
aws_ec2_sg_list(struct aws *a, const char *key, const char *value,
    const char *vkey, aws_ec2_sg_list_cb cb, void *arg)
{
	aws_ec2_sg_list_owned(a, key, value, vkey, cb, arg, NULL);
}

static void
aws_ec2_vpc_found(struct aws_ec2_op *op, const struct httpcli_resp *resp,
    const struct aws_error *ae)
{
	struct aws_xml root, set, it, item;
	char vpc[128];
	struct err e;

	if (ae != NULL) {
		aws_error_to_err(ae, &e);
		aws_ec2_finish(op, NULL, &e);
		return;
	}
	op->group[0] = '\0';
	if (aws_ec2_root(resp, &root) == 0 &&
	    aws_xml_find(&root, "subnetSet", &set) == 0) {
		it = set;
		while (aws_xml_next(&it, &item, NULL, 0) == 1) {
			if (aws_xml_get(&item, "vpcId", vpc, sizeof(vpc)) == -1)
				continue;
			if (op->group[0] != '\0' &&
			    strcmp(op->group, vpc) != 0) {
				err_set(&e, 500,
				    "the configured subnets are in different "
				    "VPCs (%s, %s): a task's security groups "
				    "must be in its subnet's VPC",
				    op->group, vpc);
				aws_ec2_finish(op, NULL, &e);
				return;
			}
			snprintf(op->group, sizeof(op->group), "%s", vpc);
		}
	}
	if (op->group[0] == '\0') {
		err_set(
		    &e, 502, "EC2 answered DescribeSubnets without a vpcId");
		aws_ec2_finish(op, NULL, &e);
		return;
	}
	aws_ec2_finish(op, op->group, NULL);
}

void
aws_ec2_subnets_vpc(
    struct aws *a, const struct strv *subnets, aws_ec2_sg_cb cb, void *arg)
{
	struct aws_ec2_op *op = aws_ec2_op_new(a, SG_VPC, arg);
	struct buf q;

	op->cb = cb;
	aws_ec2_q_describe_subnets(&q, subnets);
	aws_ec2_send(op, SG_VPC, "DescribeSubnets", &q);
}

/* --- the loop's side ----------------------------------------------------- */

static void
aws_ec2_answer(void *arg, const struct httpcli_resp *resp, const cJSON *out,
    const struct aws_error *ae)
{
	struct aws_ec2_op *op = arg;

	(void)out;
	op->call = 0;
	switch (op->step) {
	case SG_UNDO:
		aws_ec2_undone(op, ae);
		break;
	case SG_DELETE:
		aws_ec2_deleted(op, ae);
		break;
	case SG_LIST:
		aws_ec2_listed(op, resp, ae);
		break;
	case SG_VPC:
		aws_ec2_vpc_found(op, resp, ae);
		break;
	default:
		aws_ec2_make_step(op, resp, ae);
		break;
	}
}

void
aws_ec2_sg_cancel_all(struct aws *a)
{
	struct aws_ec2_op *op, *next;

	for (op = TAILQ_FIRST(&aws_ec2_ops); op != NULL; op = next) {
		next = TAILQ_NEXT(op, entry);
		if (op->a != a)
			continue;
		if (op->call != 0)
			aws_cancel(a, op->call);
		aws_ec2_op_free(op);
	}
}
