/* Task definitions outlive their containers for a while: an unused one
 * waits out ecs.taskdef_idle (recorded, resumed after a restart) so that a
 * series of identical runs reuses one revision, then is deregistered. At
 * start-up, registrations a restart cut short are resolved from the
 * journal by listing their family. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>

#include "ecs.h"
#include "sockerless/json.h"
#include "sockerless/log.h"
#include "sockerless/xmalloc.h"

/* How many containers use each task definition (the kit's counts). */
struct kit_uses ecs_td_uses = { .p_key = ECS_P_TD_ARN };

/* Definitions no container uses, waiting out ecs.taskdef_idle so that a
 * series of identical runs reuses one revision. Each wait is recorded in
 * the store (kv ecs.taskdef_idle) and resumed after a restart. */
struct ecs_td_idle {
	struct backend *b;
	char *arn, *hash;
	struct event *ev;
	TAILQ_ENTRY(ecs_td_idle) entry;
};
static TAILQ_HEAD(, ecs_td_idle) ecs_td_idle_list = TAILQ_HEAD_INITIALIZER(
    ecs_td_idle_list);

static void
ecs_idle_drop(struct ecs_td_idle *t)
{
	TAILQ_REMOVE(&ecs_td_idle_list, t, entry);
	event_free(t->ev);
	free(t->arn);
	free(t->hash);
	free(t);
}

void
ecs_idle_free(void)
{
	struct ecs_td_idle *t;

	kit_uses_free(&ecs_td_uses);

	/* drop unlinks before it frees (lost in TAILQ_REMOVE). */
	while ((t = TAILQ_FIRST(&ecs_td_idle_list)) != NULL)
		/* NOLINTNEXTLINE(clang-analyzer-unix.Malloc) */
		ecs_idle_drop(t);
}

static void
ecs_idle_deregistered(void *arg, const cJSON *out, const struct aws_error *ae)
{
	(void)arg;
	(void)out;
	if (ae != NULL)
		log_warnx("deregistering an unused task definition: %s: %s",
		    ae->code, ae->message);
}

void
ecs_idle_deregister(struct backend *b, const char *arn, const char *hash,
    aws_json_cb cb, void *arg)
{
	cJSON *in;
	char *key;

	if (hash != NULL) {
		key = xasprintf(ECS_KV_TASKDEF "%s", hash);
		backend_kv_del(b, key);
		free(key);
	}
	in = cJSON_CreateObject();
	json_add_str(in, "taskDefinition", arn);
	aws_json_call(
	    ecs_aws.aws, "ecs", "DeregisterTaskDefinition", in, cb, arg);
}

static void
ecs_idle_expired(evutil_socket_t fd, short what, void *arg)
{
	struct ecs_td_idle *t = arg;

	(void)fd;
	(void)what;
	if (!kit_uses_used(&ecs_td_uses, t->b, t->arn))
		ecs_idle_deregister(
		    t->b, t->arn, t->hash, ecs_idle_deregistered, NULL);
	kit_journal_put(t->b, ECS_KV_IDLE, t->arn, NULL);
	ecs_idle_drop(t);
}

/* Waits delay_s more, then deregisters arn unless a container uses it. */
static void
ecs_idle_wait(
    struct backend *b, const char *arn, const char *hash, long long delay_s)
{
	struct ecs_td_idle *t;
	struct timeval tv = { (time_t)(delay_s > 0 ? delay_s : 0), 0 };

	TAILQ_FOREACH(t, &ecs_td_idle_list, entry)
		if (strcmp(t->arn, arn) == 0) {
			evtimer_add(t->ev, &tv); /* restarts the wait */
			return;
		}
	t = xcalloc(1, sizeof(*t));
	t->b = b;
	t->arn = xstrdup(arn);
	t->hash = hash != NULL ? xstrdup(hash) : NULL;
	t->ev = evtimer_new(backend_base(b), ecs_idle_expired, t);
	TAILQ_INSERT_HEAD(&ecs_td_idle_list, t, entry);
	evtimer_add(t->ev, &tv);
}

void
ecs_idle_add(struct backend *b, const char *arn, const char *hash)
{
	cJSON *rec = cJSON_CreateObject();

	if (hash != NULL)
		json_add_str(rec, "hash", hash);
	json_add_int(
	    rec, "until", str_now_ns() / 1000000000 + ecs_conf.taskdef_idle_s);
	kit_journal_put(b, ECS_KV_IDLE, arn, rec);
	ecs_idle_wait(b, arn, hash, ecs_conf.taskdef_idle_s);
}

/* Definitions this backend registered that no container uses and no wait
 * covers (left by a process that forgot its waits on restart): they
 * start waiting now. */
static void
ecs_idle_unused(struct backend *b, const cJSON *waits)
{
	struct strv keys, arns;
	const char *hash;

	strv_init(&keys);
	strv_init(&arns);
	backend_kv_list(b, ECS_KV_TASKDEF, &keys, &arns);
	for (size_t i = 0; i < keys.n; i++) {
		hash = keys.v[i] + strlen(ECS_KV_TASKDEF);
		if (cJSON_GetObjectItemCaseSensitive(waits, arns.v[i]) !=
			NULL ||
		    ecs_task_registering(hash))
			continue;
		if (kit_uses_used(&ecs_td_uses, b, arns.v[i]))
			continue;
		log_info(
		    "task definition %s is unused: deregistering it after " ECS_KV_IDLE,
		    arns.v[i]);
		ecs_idle_add(b, arns.v[i], hash);
	}
	strv_free(&keys);
	strv_free(&arns);
}

/* Start-up: the waits the previous process had not finished. */
void
ecs_idle_resume(struct backend *b)
{
	cJSON *o = kit_journal_load(b, ECS_KV_IDLE), *it;
	long long now = str_now_ns() / 1000000000;

	cJSON_ArrayForEach(it, o) {
		ecs_idle_wait(b, it->string, json_str(it, "hash"),
		    json_int(it, "until", 0) - now);
	}
	if (cJSON_GetArraySize(o) > 0)
		log_info("resumed %d idle task definition waits",
		    cJSON_GetArraySize(o));
	ecs_idle_unused(b, o);
	cJSON_Delete(o);
}

/* --- the registration journal at start-up --------------------------------- */

#define ECS_JOURNAL_SETTLE_S 60

/* A journal entry's lookup, owned by its call (aws_json_call_owned):
 * freed after the callback, or without it when the backend stops. */
struct ecs_jr {
	struct backend *b;
	char *hash;
	int64_t at_ns;
};

static void
ecs_jr_free(void *arg)
{
	struct ecs_jr *jr = arg;

	free(jr->hash);
	free(jr);
}

/* The family of a registration the process did not see answered: the
 * newest revision becomes the hash's definition (released after
 * ecs.taskdef_idle unless used), any other is deregistered. */
static void
ecs_idle_journal_listed(void *arg, const cJSON *out, const struct aws_error *ae)
{
	struct ecs_jr *jr = arg;
	const cJSON *it;
	char *key = xasprintf(ECS_KV_TASKDEF "%s", jr->hash), *known;
	int found = 0;

	if (ae != NULL) {
		log_warnx("resolving the registration of sockerless-%s: %s: %s",
		    jr->hash, ae->code, ae->message);
		goto out;
	}
	if (ecs_task_registering(jr->hash))
		goto out; /* a new create owns the entry now */
	known = backend_kv_get(jr->b, key);
	cJSON_ArrayForEach(it, json_arr(out, "taskDefinitionArns")) {
		const char *arn = it->valuestring;
		found = 1;
		if (!cJSON_IsString(it) ||
		    (known != NULL && strcmp(arn, known) == 0))
			continue;
		if (known == NULL) {
			known = xstrdup(arn);
			backend_kv_set(jr->b, key, arn);
			log_info("adopted task definition %s registered before "
				 "a restart",
			    arn);
			if (!kit_uses_used(&ecs_td_uses, jr->b, arn))
				ecs_idle_add(jr->b, arn, jr->hash);
			continue;
		}
		if (kit_uses_used(&ecs_td_uses, jr->b, arn))
			continue;
		log_info("deregistering duplicate task definition %s", arn);
		ecs_idle_deregister(
		    jr->b, arn, NULL, ecs_idle_deregistered, NULL);
	}
	free(known);
	/* Nothing yet: the call may still be on its way to ECS. */
	if (found ||
	    str_now_ns() - jr->at_ns > ECS_JOURNAL_SETTLE_S * 1000000000LL)
		kit_journal_put(jr->b, ECS_KV_JOURNAL, jr->hash, NULL);
out:
	free(key);
}

/* One pass over the journal; returns how many entries it looked up. */
int
ecs_idle_journal_pass(struct backend *b)
{
	cJSON *o = kit_journal_load(b, ECS_KV_JOURNAL), *it, *in;
	struct ecs_jr *jr;
	int n = 0;

	cJSON_ArrayForEach(it, o) {
		if (ecs_task_registering(it->string) ||
		    json_str(it, "family") == NULL)
			continue;
		jr = xcalloc(1, sizeof(*jr));
		jr->b = b;
		jr->hash = xstrdup(it->string);
		jr->at_ns = json_int(it, "at", 0);
		in = cJSON_CreateObject();
		json_add_str(in, "familyPrefix", json_str(it, "family"));
		json_add_str(in, "status", "ACTIVE");
		json_add_str(in, "sort", "DESC");
		aws_json_call_owned(ecs_aws.aws, "ecs", "ListTaskDefinitions",
		    in, ecs_idle_journal_listed, jr, ecs_jr_free);
		n++;
	}
	cJSON_Delete(o);
	return n;
}
