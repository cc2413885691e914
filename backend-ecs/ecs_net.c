/* User-defined networks on ECS (docs/networks.md "## ECS"): one security
 * group per Docker network, admitting its own members, put on every
 * member's ENI beside the configured groups at RunTask. The framework
 * keeps networks; this file makes and deletes their groups, lists the
 * groups a start-up finds without a network, and gives RunTask the groups
 * of a container. The group's id lives in the network's private object
 * (ECS_P_NET_GROUP). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ecs.h"
#include "sockerless/aws_ec2.h"
#include "sockerless/json.h"
#include "sockerless/log.h"
#include "sockerless/xmalloc.h"

/* How long a delete waits for the ENIs of stopped members to go (Fargate
 * releases them within a minute or two of the task stopping). */
#define ECS_NET_DELETE_FIRST_MS 1000
#define ECS_NET_DELETE_TOTAL_MS 120000

/* The configured subnets' VPC (ecs.vpc_id, or DescribeSubnets once). */
static char *ecs_net_vpc;

struct ecs_net_op {
	struct backend *b;
	char *id, *name;
	int internal;
	cJSON *priv;
	void (*save)(struct backend *, void *);
	void *net;
	backend_done_fn done;
	void *arg;
};

static void
ecs_net_op_end(struct ecs_net_op *op, const struct err *e)
{
	backend_done_fn done = op->done;
	void *arg = op->arg;

	free(op->id);
	free(op->name);
	free(op);
	done(arg, e);
}

static void
ecs_net_made(void *arg, const char *group, const struct err *e)
{
	struct ecs_net_op *op = arg;

	if (e == NULL) {
		json_set(op->priv, ECS_P_NET_GROUP, cJSON_CreateString(group));
		op->save(op->b, op->net);
		log_info("network %s: security group %s", op->name, group);
	}
	ecs_net_op_end(op, e);
}

static void
ecs_net_make(struct ecs_net_op *op)
{
	const char *tags[] = { KIT_TAG_INSTANCE, backend_instance(op->b),
		ECS_TAG_NETWORK_ID, op->id, ECS_TAG_NETWORK_NAME, op->name,
		NULL };
	char *gname =
	    xasprintf("sockerless-%.12s-%s", op->id, backend_instance(op->b));
	char *desc = xasprintf("sockerless network %s", op->name);
	struct aws_ec2_sg_spec sp = { gname, desc, ecs_net_vpc, tags,
		op->internal };

	aws_ec2_sg_make(ecs_aws.aws, &sp, ecs_net_made, op);
	free(gname);
	free(desc);
}

static void
ecs_net_vpc_found(void *arg, const char *vpc, const struct err *e)
{
	struct ecs_net_op *op = arg;

	if (e != NULL) {
		struct err w = *e;
		err_wrap(
		    &w, "finding the VPC of ecs.subnets (or set ecs.vpc_id)");
		ecs_net_op_end(op, &w);
		return;
	}
	free(ecs_net_vpc);
	ecs_net_vpc = xstrdup(vpc);
	ecs_net_make(op);
}

void
ecs_net_group_make(struct backend *b, const char *id, const char *name,
    int internal, cJSON *priv, void (*save)(struct backend *, void *),
    void *net, backend_done_fn done, void *arg)
{
	struct ecs_net_op *op = xcalloc(1, sizeof(*op));

	op->b = b;
	op->id = xstrdup(id);
	op->name = xstrdup(name);
	op->internal = internal;
	op->priv = priv;
	op->save = save;
	op->net = net;
	op->done = done;
	op->arg = arg;
	if (ecs_net_vpc == NULL && ecs_conf.vpc_id != NULL &&
	    ecs_conf.vpc_id[0] != '\0')
		ecs_net_vpc = xstrdup(ecs_conf.vpc_id);
	if (ecs_net_vpc != NULL)
		ecs_net_make(op);
	else
		aws_ec2_subnets_vpc(
		    ecs_aws.aws, &ecs_conf.subnets, ecs_net_vpc_found, op);
}

/* A removal's done, owned by its delete (aws_ec2_sg_delete_owned). */
struct ecs_net_rm {
	backend_done_fn done;
	void *arg;
};

static void
ecs_net_deleted(void *arg, const char *group, const struct err *e)
{
	struct ecs_net_rm *rm = arg;

	(void)group;
	rm->done(rm->arg, e);
}

void
ecs_net_group_remove(
    struct backend *b, const cJSON *priv, backend_done_fn done, void *arg)
{
	const char *group = json_str(priv, ECS_P_NET_GROUP);
	struct ecs_net_rm *rm;

	(void)b;
	if (group == NULL || group[0] == '\0') {
		done(arg, NULL); /* its make failed: nothing was left */
		return;
	}
	rm = xcalloc(1, sizeof(*rm));
	rm->done = done;
	rm->arg = arg;
	aws_ec2_sg_delete_owned(ecs_aws.aws, group, ECS_NET_DELETE_FIRST_MS,
	    ECS_NET_DELETE_TOTAL_MS, ecs_net_deleted, rm, free);
}

cJSON *
ecs_net_task_groups(const cJSON *const *privs, const char *const *names,
    size_t n, struct err *e)
{
	cJSON *out = json_strv_to_array(&ecs_conf.security_groups);
	size_t total = ecs_conf.security_groups.n + n;

	if (total > ECS_MAX_GROUPS) {
		cJSON_Delete(out);
		err_set(e, 400,
		    "ECS allows %d security groups per task and %zu are "
		    "configured (ecs.security_groups), so a container can be "
		    "on at most %zu user-defined networks; it is on %zu "
		    "(%s%s)",
		    ECS_MAX_GROUPS, ecs_conf.security_groups.n,
		    ECS_MAX_GROUPS > ecs_conf.security_groups.n ?
			ECS_MAX_GROUPS - ecs_conf.security_groups.n :
			0,
		    n, n > 0 ? names[0] : "", n > 1 ? ", ..." : "");
		return NULL;
	}
	for (size_t i = 0; i < n; i++) {
		const char *g = json_str(privs[i], ECS_P_NET_GROUP);

		if (g == NULL || g[0] == '\0') {
			cJSON_Delete(out);
			err_set(e, 500,
			    "network %s has no security group (its creation "
			    "did not finish); remove the network and create "
			    "it again",
			    names[i]);
			return NULL;
		}
		cJSON_AddItemToArray(out, cJSON_CreateString(g));
	}
	return out;
}

/* --- orphans ----------------------------------------------------------- */

/* The sweep's listing and each delete own their args
 * (aws_ec2_sg_list_owned, aws_ec2_sg_delete_owned): freed after the
 * callback, or without it when the backend stops. */
struct ecs_net_orph {
	struct backend *b;
	int (*known)(struct backend *, const char *id);
};

/* arg: the group's id. */
static void
ecs_net_orphan_deleted(void *arg, const char *group, const struct err *e)
{
	const char *g = arg;

	(void)group;
	if (e != NULL)
		log_warnx("orphaned security group %s: %s", g, e->msg);
}

static void
ecs_net_listed(void *arg, const struct strv *ids, const struct strv *nets,
    const struct err *e)
{
	struct ecs_net_orph *o = arg;
	int stop = kit_orphans_stop(&ecs_orphans);

	if (e != NULL)
		log_warnx(
		    "listing this instance's security groups: %s", e->msg);
	for (size_t i = 0; e == NULL && i < ids->n; i++) {
		if (nets->v[i][0] != '\0' && o->known(o->b, nets->v[i]))
			continue;
		log_warnx("orphaned security group %s (network %.12s) is not "
			  "in this instance's state%s",
		    ids->v[i], nets->v[i], stop ? "; deleting it" : "");
		if (stop)
			aws_ec2_sg_delete_owned(ecs_aws.aws, ids->v[i], 1000,
			    10000, ecs_net_orphan_deleted, xstrdup(ids->v[i]),
			    free);
	}
}

void
ecs_net_orphans(
    struct backend *b, int (*known)(struct backend *, const char *id))
{
	struct ecs_net_orph *o = xcalloc(1, sizeof(*o));

	o->b = b;
	o->known = known;
	aws_ec2_sg_list_owned(ecs_aws.aws, KIT_TAG_INSTANCE,
	    backend_instance(b), ECS_TAG_NETWORK_ID, ecs_net_listed, o, free);
}

void
ecs_net_shutdown(void)
{
	aws_ec2_sg_cancel_all(ecs_aws.aws);
	free(ecs_net_vpc);
	ecs_net_vpc = NULL;
}

/* --- the framework's side ---------------------------------------------- */

static void
ecs_net_save(struct backend *b, void *net)
{
	backend_network_save(b, net);
}

void
ecs_net_create(
    struct backend *b, struct network *n, backend_done_fn done, void *arg)
{
	ecs_net_group_make(b, n->id, network_name(n), network_internal(n),
	    network_private(n), ecs_net_save, n, done, arg);
}

void
ecs_net_remove(
    struct backend *b, struct network *n, backend_done_fn done, void *arg)
{
	ecs_net_group_remove(b, network_private(n), done, arg);
}

static int
ecs_net_known(struct backend *b, const char *id)
{
	return backend_network_by_id(b, id) != NULL;
}

void
ecs_net_reconcile(struct backend *b)
{
	ecs_net_orphans(b, ecs_net_known);
}

/* A start's networks that have no group yet: the default bridge's is made
 * at its first member's start (dockerd's members of the bridge reach each
 * other); a network made while the backend had no EC2 access gets its
 * group now. One at a time, each made whole or not at all. */
struct ecs_net_ready {
	struct backend *b;
	struct container *c; /* referenced */
	char *id;
	cJSON *priv; /* the group being made, until it is the network's */
	backend_done_fn ready;
	void *arg;
};

static void ecs_net_ready_step(struct ecs_net_ready *r);

static void
ecs_net_ready_end(struct ecs_net_ready *r, const struct err *e)
{
	backend_done_fn ready = r->ready;
	void *arg = r->arg;

	container_unref(r->c);
	free(r->id);
	cJSON_Delete(r->priv);
	free(r);
	ready(arg, e);
}

static void
ecs_net_nosave(struct backend *b, void *net)
{
	(void)b;
	(void)net;
}

static void
ecs_net_orphan_made(void *arg, const struct err *e)
{
	char *id = arg;

	if (e != NULL)
		log_warnx("network %.12s was removed while its security group "
			  "was made; deleting the group: %s",
		    id, e->msg);
	free(id);
}

static void
ecs_net_ready_made(void *arg, const struct err *e)
{
	struct ecs_net_ready *r = arg;
	struct network *n;
	struct err w;

	if (e != NULL) {
		w = *e;
		err_wrap(
		    &w, "making the security group of network %.12s", r->id);
		ecs_net_ready_end(r, &w);
		return;
	}
	if ((n = backend_network_by_id(r->b, r->id)) == NULL) {
		/* Removed meanwhile: its group goes too. */
		ecs_net_group_remove(
		    r->b, r->priv, ecs_net_orphan_made, xstrdup(r->id));
		err_set(&w, 404,
		    "network %.12s was removed while container "
		    "%.12s started",
		    r->id, r->c->id);
		ecs_net_ready_end(r, &w);
		return;
	}
	json_set(network_private(n), ECS_P_NET_GROUP,
	    cJSON_CreateString(json_str(r->priv, ECS_P_NET_GROUP)));
	backend_network_save(r->b, n);
	cJSON_Delete(r->priv);
	r->priv = NULL;
	free(r->id);
	r->id = NULL;
	ecs_net_ready_step(r);
}

static void
ecs_net_ready_step(struct ecs_net_ready *r)
{
	struct network *nets[ECS_MAX_GROUPS + 1];
	size_t n =
	    backend_container_networks(r->b, r->c, nets, ECS_MAX_GROUPS + 1);

	for (size_t i = 0; i < n; i++) {
		const char *g =
		    json_str(network_private(nets[i]), ECS_P_NET_GROUP);

		if (g != NULL && g[0] != '\0')
			continue;
		r->id = xstrdup(nets[i]->id);
		r->priv = cJSON_CreateObject();
		ecs_net_group_make(r->b, nets[i]->id, network_name(nets[i]),
		    network_internal(nets[i]), r->priv, ecs_net_nosave, NULL,
		    ecs_net_ready_made, r);
		return;
	}
	ecs_net_ready_end(r, NULL);
}

void
ecs_net_ready(
    struct backend *b, struct container *c, backend_done_fn ready, void *arg)
{
	struct ecs_net_ready *r = xcalloc(1, sizeof(*r));

	r->b = b;
	r->c = c;
	container_ref(c);
	r->ready = ready;
	r->arg = arg;
	ecs_net_ready_step(r);
}

cJSON *
ecs_net_groups(struct backend *b, struct container *c, struct err *e)
{
	struct network *nets[ECS_MAX_GROUPS + 1];
	const cJSON *privs[ECS_MAX_GROUPS + 1];
	const char *names[ECS_MAX_GROUPS + 1];
	size_t n = backend_container_networks(b, c, nets, ECS_MAX_GROUPS + 1);

	for (size_t i = 0; i < n; i++) {
		privs[i] = network_private(nets[i]);
		names[i] = network_name(nets[i]);
	}
	return ecs_net_task_groups(privs, names, n, e);
}
