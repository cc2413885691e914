/* Private registries on ECS (docs/registries.md): the credentials a
 * docker login or an authenticated pull gave for the image's registry are
 * handed to ECS as the container definition's repositoryCredentials, a
 * Secrets Manager secret "sockerless/<container id>" ({"username",
 * "password"}, tagged with the container id and the instance) that the
 * backend creates at create and deletes with the container (rm, a failed
 * create, the orphan sweep). The task execution role reads it. */
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "ecs.h"
#include "sockerless/container.h"
#include "sockerless/json.h"
#include "sockerless/log.h"
#include "sockerless/reg.h"
#include "sockerless/xmalloc.h"

/* A CreateSecret in flight, owned by its call (aws_json_call_owned):
 * freed, with its container reference, after the callback, or without it
 * when the backend stops with the call in flight. */
struct ecs_secret_op {
	struct backend *b;
	struct container *c;
	void (*next)(void *arg, const struct err *e);
	void *arg;
};

static void
ecs_secret_op_free(void *arg)
{
	struct ecs_secret_op *s = arg;

	container_unref(s->c);
	free(s);
}

/* arg: the secret's ARN, the call's own. */
static void
ecs_secret_deleted(void *arg, const cJSON *out, const struct aws_error *ae)
{
	const char *arn = arg;

	(void)out;
	if (ae != NULL && strcmp(ae->code, "ResourceNotFoundException") != 0)
		log_warnx("deleting the registry credentials secret %s: %s: %s",
		    arn, ae->code, ae->message);
}

void
ecs_secret_delete_arn(const char *arn)
{
	cJSON *in;

	if (arn == NULL || arn[0] == '\0')
		return;
	in = cJSON_CreateObject();
	json_add_str(in, "SecretId", arn);
	json_add_bool(in, "ForceDeleteWithoutRecovery", 1);
	aws_json_call_owned(ecs_aws.aws, "secretsmanager", "DeleteSecret", in,
	    ecs_secret_deleted, xstrdup(arn), free);
}

void
ecs_secret_delete(struct container *c)
{
	cJSON *priv = container_private(c);

	ecs_secret_delete_arn(json_str(priv, ECS_P_REG_SECRET));
	cJSON_DeleteItemFromObjectCaseSensitive(priv, ECS_P_REG_SECRET);
}

static void
ecs_secret_created(void *arg, const cJSON *out, const struct aws_error *ae)
{
	struct ecs_secret_op *s = arg;
	const char *arn = json_str(out, "ARN");
	struct err e;

	if (ae != NULL) {
		aws_error_to_err(ae, &e);
		err_wrap(&e,
		    "storing the registry credentials for %s in Secrets "
		    "Manager",
		    container_image_ref(s->c));
	} else if (arn == NULL)
		err_set(&e, 502, "CreateSecret returned no ARN");
	else
		json_set(container_private(s->c), ECS_P_REG_SECRET,
		    cJSON_CreateString(arn));
	s->next(s->arg, ae == NULL && arn != NULL ? NULL : &e);
}

static cJSON *
ecs_secret_tag(const char *k, const char *v)
{
	cJSON *t = cJSON_CreateObject();

	json_add_str(t, "Key", k);
	json_add_str(t, "Value", v);
	return t;
}

int
ecs_secret_create(struct backend *b, struct container *c,
    void (*next)(void *arg, const struct err *e), void *arg)
{
	struct reg_ref ref;
	struct ecs_secret_op *s;
	char *user = NULL, *pass = NULL, *name, *val;
	cJSON *in, *doc, *tags;
	int found;

	if (reg_ref_parse(container_image_ref(c), &ref, NULL) == -1)
		return 0;
	/* ECR images are pulled with the execution role, never with
	 * repositoryCredentials. */
	found = strstr(ref.domain, ".dkr.ecr.") == NULL &&
	    reg_known_creds(backend_registry(b), ref.domain, &user, &pass);
	reg_ref_free(&ref);
	if (!found)
		return 0;
	doc = cJSON_CreateObject();
	json_add_str(doc, "username", user);
	json_add_str(doc, "password", pass);
	val = json_print(doc);
	cJSON_Delete(doc);
	OPENSSL_cleanse(pass, strlen(pass));
	free(user);
	free(pass);
	in = cJSON_CreateObject();
	name = xasprintf("sockerless/%s", c->id);
	json_add_str(in, "Name", name);
	free(name);
	json_add_str(in, "Description",
	    "Registry credentials of a sockerless container's image");
	json_add_str(in, "SecretString", val);
	OPENSSL_cleanse(val, strlen(val));
	free(val);
	/* Secrets Manager's tags are {Key, Value}, not ECS's {key, value}. */
	tags = cJSON_CreateArray();
	cJSON_AddItemToArray(tags, ecs_secret_tag(KIT_TAG_ID, c->id));
	cJSON_AddItemToArray(
	    tags, ecs_secret_tag(KIT_TAG_INSTANCE, backend_instance(b)));
	cJSON_AddItemToObject(in, "Tags", tags);
	s = xcalloc(1, sizeof(*s));
	s->b = b;
	s->c = c;
	s->next = next;
	s->arg = arg;
	container_ref(c);
	aws_json_call_owned(ecs_aws.aws, "secretsmanager", "CreateSecret", in,
	    ecs_secret_created, s, ecs_secret_op_free);
	return 1;
}

/* --- orphans ----------------------------------------------------------- */

static void ecs_secret_list(struct backend *b, const char *next);

/* Secrets of this instance that no container holds (a create cut short
 * by a restart, an rm whose DeleteSecret failed): reported, and deleted
 * when the orphan policy says so. */
static void
ecs_secret_listed(void *arg, const cJSON *out, const struct aws_error *ae)
{
	struct backend *b = arg;
	int stop = kit_orphans_stop(&ecs_orphans);
	const cJSON *it;
	const char *next;

	if (ae != NULL) {
		log_warnx("listing this instance's registry secrets: %s: %s",
		    ae->code, ae->message);
		return;
	}
	cJSON_ArrayForEach(it, json_arr(out, "SecretList")) {
		const char *arn = json_str(it, "ARN");

		if (arn == NULL ||
		    !str_prefix(json_str(it, "Name") != NULL ?
			    json_str(it, "Name") :
			    "",
			"sockerless/") ||
		    backend_container_by_private(b, ECS_P_REG_SECRET, arn) !=
			NULL)
			continue;
		log_warnx("orphaned registry credentials secret %s is not in "
			  "this instance's state%s",
		    arn, stop ? "; deleting it" : "");
		if (stop)
			ecs_secret_delete_arn(arn);
	}
	if ((next = json_str(out, "NextToken")) != NULL && next[0] != '\0')
		ecs_secret_list(b, next);
}

static void
ecs_secret_list(struct backend *b, const char *next)
{
	cJSON *in = cJSON_CreateObject(), *filters = cJSON_CreateArray(), *f;

	f = cJSON_CreateObject();
	json_add_str(f, "Key", "tag-key");
	cJSON_AddItemToObject(f, "Values",
	    cJSON_CreateStringArray((const char *[]){ KIT_TAG_INSTANCE }, 1));
	cJSON_AddItemToArray(filters, f);
	f = cJSON_CreateObject();
	json_add_str(f, "Key", "tag-value");
	cJSON_AddItemToObject(f, "Values",
	    cJSON_CreateStringArray(
		(const char *[]){ backend_instance(b) }, 1));
	cJSON_AddItemToArray(filters, f);
	cJSON_AddItemToObject(in, "Filters", filters);
	if (next != NULL)
		json_add_str(in, "NextToken", next);
	aws_json_call(ecs_aws.aws, "secretsmanager", "ListSecrets", in,
	    ecs_secret_listed, b);
}

void
ecs_secret_reconcile(struct backend *b)
{
	ecs_secret_list(b, NULL);
}
