/* The EFS client: access points as the volumes of the backends, on the
 * rest-json protocol (CLOUD-WIRE.md: paths under /2015-02-01, the error
 * code in X-Amzn-ErrorType or the body's ErrorCode, signing service
 * "elasticfilesystem"). The cloud call core retries and throttles; here
 * are the sequences around single calls: a create waited for until the
 * access point is available (and deleted when it never is), the paged
 * listing, the delete that counts "already gone" as done. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>

#include <event2/event.h>

#include "sockerless/aws_efs.h"
#include "sockerless/buf.h"
#include "sockerless/httpcli.h"
#include "sockerless/json.h"
#include "sockerless/log.h"
#include "sockerless/str.h"
#include "sockerless/xmalloc.h"

#include "aws_int.h"

#define EFS_SVC	     "efs"
#define EFS_AP_PATH  "/2015-02-01/access-points"
#define EFS_FS_PATH  "/2015-02-01/file-systems"
#define EFS_POLL_MS  500
#define EFS_LIST_MAX 10000 /* access points per file system: 1000 today */

enum efs_kind { EFS_CREATE, EFS_DESCRIBE, EFS_DELETE, EFS_LIST };

struct efs_op {
	TAILQ_ENTRY(efs_op) entry;
	struct aws *a;
	enum efs_kind kind;
	uint64_t call;
	struct event *timer;
	aws_efs_ap_cb cb;
	aws_efs_list_cb lcb;
	void *arg;
	char *fs_id;
	int64_t deadline_ns;
	struct aws_efs_ap ap;
	struct aws_efs_ap *aps;
	size_t n, cap;
	int failing; /* a create being undone: fail is the reason */
	struct err fail;
};

static TAILQ_HEAD(, efs_op) efs_ops = TAILQ_HEAD_INITIALIZER(efs_ops);

/* --- shapes ----------------------------------------------------------- */

static cJSON *
efs_tag(const char *k, const char *v)
{
	cJSON *t = cJSON_CreateObject();
	char cut[AWS_EFS_TAG_MAX + 1];

	str_lcpy(cut, v, sizeof(cut));
	json_add_str(t, "Key", k);
	json_add_str(t, "Value", cut);
	return t;
}

cJSON *
aws_efs_create_body(const struct aws_efs_ap_spec *s)
{
	cJSON *in = cJSON_CreateObject(), *tags = cJSON_CreateArray(), *rd, *ci;

	json_add_str(in, "ClientToken", s->token);
	if (s->name != NULL)
		cJSON_AddItemToArray(tags, efs_tag("Name", s->name));
	for (const char *const *t = s->tags;
	     t != NULL && t[0] != NULL && t[1] != NULL; t += 2)
		cJSON_AddItemToArray(tags, efs_tag(t[0], t[1]));
	cJSON_AddItemToObject(in, "Tags", tags);
	json_add_str(in, "FileSystemId", s->fs_id);
	rd = cJSON_CreateObject();
	json_add_str(rd, "Path", s->path);
	/* Docker makes a new volume's root root:root 0755; EFS applies this
	 * only when the directory is missing. */
	ci = cJSON_CreateObject();
	json_add_int(ci, "OwnerUid", 0);
	json_add_int(ci, "OwnerGid", 0);
	json_add_str(ci, "Permissions", "755");
	cJSON_AddItemToObject(rd, "CreationInfo", ci);
	cJSON_AddItemToObject(in, "RootDirectory", rd);
	return in;
}

static void
efs_cpy(char *dst, size_t size, const char *s)
{
	str_lcpy(dst, s != NULL ? s : "", size);
}

int
aws_efs_ap_parse(const cJSON *d, struct aws_efs_ap *ap)
{
	const cJSON *t;

	memset(ap, 0, sizeof(*ap));
	efs_cpy(ap->id, sizeof(ap->id), json_str(d, "AccessPointId"));
	efs_cpy(ap->arn, sizeof(ap->arn), json_str(d, "AccessPointArn"));
	efs_cpy(ap->fs_id, sizeof(ap->fs_id), json_str(d, "FileSystemId"));
	efs_cpy(ap->path, sizeof(ap->path),
	    json_str(json_obj(d, "RootDirectory"), "Path"));
	efs_cpy(ap->state, sizeof(ap->state), json_str(d, "LifeCycleState"));
	cJSON_ArrayForEach(t, json_arr(d, "Tags")) {
		const char *k = json_str(t, "Key"), *v = json_str(t, "Value");
		if (k == NULL || v == NULL)
			continue;
		if (strcmp(k, AWS_EFS_TAG_INSTANCE) == 0)
			efs_cpy(ap->instance, sizeof(ap->instance), v);
		else if (strcmp(k, AWS_EFS_TAG_VOLUME) == 0)
			efs_cpy(ap->volume, sizeof(ap->volume), v);
	}
	return ap->id[0] != '\0' ? 0 : -1;
}

void
aws_efs_error(const char *op, const char *fs_id, const struct aws_error *ae,
    struct err *e)
{
	const char *fs = fs_id != NULL ? fs_id : "(unknown)";

	if (strcmp(ae->code, "AccessPointLimitExceeded") == 0)
		err_set(e, 507,
		    "the EFS file system %s has no room for another volume: "
		    "each Docker volume is an EFS access point and the file "
		    "system has reached its limit of access points; remove "
		    "volumes you no longer need (docker volume prune) or ask "
		    "AWS for a higher quota (%s: %s)",
		    fs, ae->code, ae->message);
	else if (strcmp(ae->code, "IncorrectFileSystemLifeCycleState") == 0)
		err_set(e, 503,
		    "the EFS file system %s is not available (%s); try again "
		    "when it is",
		    fs, ae->message);
	else if (strcmp(ae->code, "FileSystemNotFound") == 0)
		err_set(e, 500,
		    "the EFS file system %s does not exist (FileSystemNotFound:"
		    " %s); the operator must fix ecs.efs_filesystem_id",
		    fs, ae->message);
	else if (strcmp(ae->code, "BadRequest") == 0)
		err_set(e, 400, "EFS refused the request: BadRequest: %s",
		    ae->message);
	else
		aws_error_to_err(ae, e);
	err_wrap(e, "EFS %s", op);
}

/* EFS's error bodies are {"ErrorCode", "Message"}: the code when no
 * X-Amzn-ErrorType header named it (botocore reads only the header). */
static const struct aws_error *
efs_ae(const struct httpcli_resp *resp, const struct aws_error *ae,
    struct aws_error *fixed)
{
	cJSON *o;
	const char *code;

	if (ae == NULL || resp == NULL || resp->body == NULL ||
	    !str_prefix(ae->code, "HTTP"))
		return ae;
	if ((o = cJSON_ParseWithLength(resp->body, resp->body_len)) == NULL)
		return ae;
	*fixed = *ae;
	if ((code = json_str(o, "ErrorCode")) != NULL && *code != '\0')
		str_lcpy(fixed->code, code, sizeof(fixed->code));
	cJSON_Delete(o);
	return fixed;
}

/* --- operations in flight ----------------------------------------------- */

static struct efs_op *
efs_op_new(struct aws *a, enum efs_kind kind, void *arg)
{
	struct efs_op *op = xcalloc(1, sizeof(*op));

	op->a = a;
	op->kind = kind;
	op->arg = arg;
	TAILQ_INSERT_TAIL(&efs_ops, op, entry);
	return op;
}

static void
efs_op_free(struct efs_op *op)
{
	TAILQ_REMOVE(&efs_ops, op, entry);
	if (op->timer != NULL)
		event_free(op->timer);
	free(op->fs_id);
	free(op->aps);
	free(op);
}

static void
efs_finish(struct efs_op *op, const struct err *e)
{
	if (op->lcb != NULL)
		op->lcb(op->arg, e == NULL ? op->aps : NULL,
		    e == NULL ? op->n : 0, e);
	else
		op->cb(op->arg,
		    e == NULL && op->kind != EFS_DELETE ? &op->ap : NULL, e);
	efs_op_free(op);
}

static void
efs_fail(struct efs_op *op, const char *what, const struct aws_error *ae)
{
	struct err e;

	aws_efs_error(what, op->fs_id, ae, &e);
	efs_finish(op, &e);
}

/* One access point by id (query: AccessPointId). */
static uint64_t
efs_describe_call(struct aws *a, const char *id, aws_rest_cb cb, void *arg)
{
	struct aws_rest rq = { .method = "GET", .path = EFS_AP_PATH };
	struct buf q;
	uint64_t call;

	buf_init(&q, 0);
	buf_adds(&q, "AccessPointId=");
	aws_path_escape(&q, id);
	rq.query = q.data;
	call = aws_rest_call(a, EFS_SVC, "DescribeAccessPoints", &rq, cb, arg);
	buf_free(&q);
	return call;
}

static uint64_t
efs_delete_call(struct aws *a, const char *id, aws_rest_cb cb, void *arg)
{
	struct aws_rest rq = { .method = "DELETE" };
	struct buf p;
	uint64_t call;

	buf_init(&p, 0);
	buf_adds(&p, EFS_AP_PATH "/");
	aws_path_escape(&p, id);
	rq.path = p.data;
	call = aws_rest_call(a, EFS_SVC, "DeleteAccessPoint", &rq, cb, arg);
	buf_free(&p);
	return call;
}

/* --- create --------------------------------------------------------------- */

static void efs_create_poll(struct efs_op *op);

/* The create's reason, then why its undoing failed too. */
static void
efs_append(struct err *e, const char *id, const struct aws_error *ae)
{
	size_t len = strlen(e->msg);

	snprintf(e->msg + len, sizeof(e->msg) - len,
	    "; deleting the access point %s failed too (%s: %s); it is "
	    "deleted at the next start-up",
	    id, ae->code, ae->message);
}

/* The undoing delete answered: the create fails with its reason. */
static void
efs_undone(void *arg, const struct httpcli_resp *resp, const cJSON *out,
    const struct aws_error *ae0)
{
	struct aws_error fixed;
	const struct aws_error *ae = efs_ae(resp, ae0, &fixed);
	struct efs_op *op = arg;

	(void)resp;
	(void)out;
	op->call = 0;
	if (ae != NULL && strcmp(ae->code, "AccessPointNotFound") != 0) {
		log_warnx("EFS access point %s (%s) could not be deleted "
			  "after a failed create: %s: %s",
		    op->ap.id, op->ap.path, ae->code, ae->message);
		efs_append(&op->fail, op->ap.id, ae);
	}
	efs_finish(op, &op->fail);
}

static void
efs_undo(struct efs_op *op)
{
	op->failing = 1;
	op->call = efs_delete_call(op->a, op->ap.id, efs_undone, op);
}

/* The access point's state after a create or a poll. */
static void
efs_create_state(struct efs_op *op)
{
	if (strcmp(op->ap.state, "available") == 0 || op->deadline_ns == 0) {
		efs_finish(op, NULL);
		return;
	}
	if (strcmp(op->ap.state, "error") == 0 ||
	    strcmp(op->ap.state, "deleting") == 0 ||
	    strcmp(op->ap.state, "deleted") == 0) {
		err_set(&op->fail, 500,
		    "EFS CreateAccessPoint: the access point %s for %s "
		    "ended in state %s",
		    op->ap.id, op->ap.path, op->ap.state);
		efs_undo(op);
		return;
	}
	if (str_now_ns() >= op->deadline_ns) {
		err_set(&op->fail, 503,
		    "EFS CreateAccessPoint: the access point %s for %s is "
		    "still %s; try again later",
		    op->ap.id, op->ap.path, op->ap.state);
		efs_undo(op);
		return;
	}
	efs_create_poll(op);
}

static void
efs_polled(void *arg, const struct httpcli_resp *resp, const cJSON *out,
    const struct aws_error *ae0)
{
	struct aws_error fixed;
	const struct aws_error *ae = efs_ae(resp, ae0, &fixed);
	struct efs_op *op = arg;
	const cJSON *d = cJSON_GetArrayItem(json_arr(out, "AccessPoints"), 0);
	struct aws_efs_ap ap;

	(void)resp;
	op->call = 0;
	if (ae != NULL) {
		aws_efs_error("DescribeAccessPoints", op->fs_id, ae, &op->fail);
		efs_undo(op);
		return;
	}
	if (aws_efs_ap_parse(d, &ap) == -1 || strcmp(ap.id, op->ap.id) != 0) {
		err_set(&op->fail, 502,
		    "EFS DescribeAccessPoints did not describe the access "
		    "point %s it just made",
		    op->ap.id);
		efs_undo(op);
		return;
	}
	op->ap = ap;
	efs_create_state(op);
}

static void
efs_poll_fire(evutil_socket_t fd, short what, void *arg)
{
	struct efs_op *op = arg;

	(void)fd;
	(void)what;
	op->call = efs_describe_call(op->a, op->ap.id, efs_polled, op);
}

static void
efs_create_poll(struct efs_op *op)
{
	struct timeval tv = { 0, EFS_POLL_MS * 1000 };

	if (op->timer == NULL)
		op->timer = evtimer_new(aws_base(op->a), efs_poll_fire, op);
	evtimer_add(op->timer, &tv);
}

/* The id an AccessPointAlreadyExists answer names (the token was used:
 * a retried create whose first attempt made it). */
static int
efs_existing_id(const struct httpcli_resp *resp, char *id, size_t size)
{
	cJSON *o;
	const char *s;
	int rc = -1;

	if (resp == NULL || resp->body == NULL || resp->body_len == 0)
		return -1;
	if ((o = cJSON_ParseWithLength(resp->body, resp->body_len)) == NULL)
		return -1;
	if ((s = json_str(o, "AccessPointId")) != NULL && *s != '\0') {
		str_lcpy(id, s, size);
		rc = 0;
	}
	cJSON_Delete(o);
	return rc;
}

static void
efs_created(void *arg, const struct httpcli_resp *resp, const cJSON *out,
    const struct aws_error *ae0)
{
	struct aws_error fixed;
	const struct aws_error *ae = efs_ae(resp, ae0, &fixed);
	struct efs_op *op = arg;

	op->call = 0;
	if (ae != NULL && strcmp(ae->code, "AccessPointAlreadyExists") == 0 &&
	    efs_existing_id(resp, op->ap.id, sizeof(op->ap.id)) == 0) {
		log_info("EFS access point %s adopted (its create was retried)",
		    op->ap.id);
		op->call = efs_describe_call(op->a, op->ap.id, efs_polled, op);
		return;
	}
	if (ae != NULL) {
		efs_fail(op, "CreateAccessPoint", ae);
		return;
	}
	if (aws_efs_ap_parse(out, &op->ap) == -1) {
		struct err e;
		err_set(&e, 502,
		    "EFS CreateAccessPoint answered without an AccessPointId");
		efs_finish(op, &e);
		return;
	}
	efs_create_state(op);
}

void
aws_efs_ap_create(struct aws *a, const struct aws_efs_ap_spec *s, long wait_ms,
    aws_efs_ap_cb cb, void *arg)
{
	struct efs_op *op = efs_op_new(a, EFS_CREATE, arg);
	struct aws_rest rq = { .method = "POST", .path = EFS_AP_PATH };
	cJSON *in = aws_efs_create_body(s);
	char *body = json_print(in);

	cJSON_Delete(in);
	op->cb = cb;
	op->fs_id = xstrdup(s->fs_id);
	str_lcpy(op->ap.path, s->path, sizeof(op->ap.path));
	if (wait_ms > 0)
		op->deadline_ns = str_now_ns() + (int64_t)wait_ms * 1000000;
	rq.body = body;
	rq.body_len = strlen(body);
	op->call = aws_rest_call(
	    a, EFS_SVC, "CreateAccessPoint", &rq, efs_created, op);
	free(body);
}

/* --- describe, delete ------------------------------------------------------
 */

static void
efs_described(void *arg, const struct httpcli_resp *resp, const cJSON *out,
    const struct aws_error *ae0)
{
	struct aws_error fixed;
	const struct aws_error *ae = efs_ae(resp, ae0, &fixed);
	struct efs_op *op = arg;
	const cJSON *d = cJSON_GetArrayItem(json_arr(out, "AccessPoints"), 0);
	struct err e;

	(void)resp;
	op->call = 0;
	if (ae != NULL) {
		efs_fail(op, "DescribeAccessPoints", ae);
		return;
	}
	if (aws_efs_ap_parse(d, &op->ap) == -1) {
		err_set(&e, 404, "EFS access point not found");
		efs_finish(op, &e);
		return;
	}
	efs_finish(op, NULL);
}

void
aws_efs_ap_describe(struct aws *a, const char *id, aws_efs_ap_cb cb, void *arg)
{
	struct efs_op *op = efs_op_new(a, EFS_DESCRIBE, arg);

	op->cb = cb;
	op->call = efs_describe_call(a, id, efs_described, op);
}

static void
efs_deleted(void *arg, const struct httpcli_resp *resp, const cJSON *out,
    const struct aws_error *ae0)
{
	struct aws_error fixed;
	const struct aws_error *ae = efs_ae(resp, ae0, &fixed);
	struct efs_op *op = arg;

	(void)resp;
	(void)out;
	op->call = 0;
	/* Already gone: what the delete was for. */
	if (ae != NULL && strcmp(ae->code, "AccessPointNotFound") != 0) {
		efs_fail(op, "DeleteAccessPoint", ae);
		return;
	}
	efs_finish(op, NULL);
}

void
aws_efs_ap_delete(struct aws *a, const char *id, aws_efs_ap_cb cb, void *arg)
{
	struct efs_op *op = efs_op_new(a, EFS_DELETE, arg);

	op->cb = cb;
	str_lcpy(op->ap.id, id, sizeof(op->ap.id));
	op->call = efs_delete_call(a, id, efs_deleted, op);
}

/* --- list ------------------------------------------------------------------
 */

static void efs_list_page(struct efs_op *op, const char *token);

static void
efs_listed(void *arg, const struct httpcli_resp *resp, const cJSON *out,
    const struct aws_error *ae0)
{
	struct aws_error fixed;
	const struct aws_error *ae = efs_ae(resp, ae0, &fixed);
	struct efs_op *op = arg;
	const cJSON *d;
	const char *next;
	struct err e;

	(void)resp;
	op->call = 0;
	if (ae != NULL) {
		efs_fail(op, "DescribeAccessPoints", ae);
		return;
	}
	cJSON_ArrayForEach(d, json_arr(out, "AccessPoints")) {
		if (op->n == op->cap) {
			op->cap = op->cap != 0 ? op->cap * 2 : 16;
			op->aps =
			    xreallocarray(op->aps, op->cap, sizeof(*op->aps));
		}
		if (aws_efs_ap_parse(d, &op->aps[op->n]) == 0)
			op->n++;
	}
	next = json_str(out, "NextToken");
	if (next == NULL || *next == '\0') {
		efs_finish(op, NULL);
		return;
	}
	if (op->n >= EFS_LIST_MAX) {
		err_set(&e, 502,
		    "EFS DescribeAccessPoints of %s: more than %d access "
		    "points, or pages that never end",
		    op->fs_id, EFS_LIST_MAX);
		efs_finish(op, &e);
		return;
	}
	efs_list_page(op, next);
}

static void
efs_list_page(struct efs_op *op, const char *token)
{
	struct aws_rest rq = { .method = "GET", .path = EFS_AP_PATH };
	struct buf q;

	buf_init(&q, 0);
	buf_adds(&q, "FileSystemId=");
	aws_path_escape(&q, op->fs_id);
	buf_adds(&q, "&MaxResults=100");
	if (token != NULL) {
		buf_adds(&q, "&NextToken=");
		aws_path_escape(&q, token);
	}
	rq.query = q.data;
	op->call = aws_rest_call(
	    op->a, EFS_SVC, "DescribeAccessPoints", &rq, efs_listed, op);
	buf_free(&q);
}

void
aws_efs_ap_list(struct aws *a, const char *fs_id, aws_efs_list_cb cb, void *arg)
{
	struct efs_op *op = efs_op_new(a, EFS_LIST, arg);

	op->lcb = cb;
	op->fs_id = xstrdup(fs_id);
	efs_list_page(op, NULL);
}

void
aws_efs_cancel_all(struct aws *a)
{
	struct efs_op *op, *next;

	for (op = TAILQ_FIRST(&efs_ops); op != NULL; op = next) {
		next = TAILQ_NEXT(op, entry);
		if (op->a != a)
			continue;
		if (op->call != 0)
			aws_cancel(a, op->call);
		efs_op_free(op);
	}
}

/* --- the file system -------------------------------------------------------
 */

int
aws_efs_fs_check(
    struct aws *a, const char *fs_id, const char *key, struct err *e)
{
	struct aws_rest rq = { .method = "GET", .path = EFS_FS_PATH };
	const cJSON *fs;
	const char *state;
	cJSON *out = NULL;
	struct buf q;
	int rc;

	buf_init(&q, 0);
	buf_adds(&q, "FileSystemId=");
	aws_path_escape(&q, fs_id);
	rq.query = q.data;
	rc =
	    aws_rest_call_sync(a, EFS_SVC, "DescribeFileSystems", &rq, &out, e);
	buf_free(&q);
	if (rc == -1)
		return err_wrap(
		    e, "checking the EFS file system %s (%s)", fs_id, key);
	fs = cJSON_GetArrayItem(json_arr(out, "FileSystems"), 0);
	state = json_str(fs, "LifeCycleState");
	if (state == NULL || strcmp(state, "available") != 0) {
		err_set(e, 500,
		    "the EFS file system %s (%s) is %s; volumes need it "
		    "available",
		    fs_id, key, state != NULL ? state : "missing");
		cJSON_Delete(out);
		return -1;
	}
	cJSON_Delete(out);
	return 0;
}
