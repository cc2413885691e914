/* docker update (POST /containers/{id}/update): the restart policy is the
 * framework's to change at any time; the resource limits are not, since a
 * cloud fixes a workload's resources when the container is created (ECS
 * registers its task definition then), so asking to change one is refused
 * rather than stored and silently not applied. docs/restart.md. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend_ctr.h"
#include "sockerless/container.h"
#include "sockerless/json.h"
#include "sockerless/str.h"

/* The Resources fields of dockerd's UpdateConfig. */
static const char *const update_resource_keys[] = { "BlkioDeviceReadBps",
	"BlkioDeviceReadIOps", "BlkioDeviceWriteBps", "BlkioDeviceWriteIOps",
	"BlkioWeight", "BlkioWeightDevice", "CgroupParent", "CpuCount",
	"CpuPercent", "CpuPeriod", "CpuQuota", "CpuRealtimePeriod",
	"CpuRealtimeRuntime", "CpuShares", "CpusetCpus", "CpusetMems",
	"DeviceCgroupRules", "DeviceRequests", "Devices", "IOMaximumBandwidth",
	"IOMaximumIOps", "Init", "KernelMemory", "KernelMemoryTCP", "Memory",
	"MemoryReservation", "MemorySwap", "MemorySwappiness", "NanoCpus",
	"OomKillDisable", "PidsLimit", "Ulimits", NULL };

/* Set the way dockerd's update reads it: zero values mean "unchanged"
 * (the docker CLI sends every field, unset ones as 0, "" or null). */
static int
update_is_set(const cJSON *v)
{
	if (v == NULL || cJSON_IsNull(v) || cJSON_IsFalse(v))
		return 0;
	if (cJSON_IsNumber(v))
		return v->valuedouble != 0;
	if (cJSON_IsString(v))
		return v->valuestring[0] != '\0';
	if (cJSON_IsArray(v) || cJSON_IsObject(v))
		return v->child != NULL;
	return 1;
}

/* Refuses a change of resources, naming the fields asked for. */
static int
update_check_resources(struct backend *b, const cJSON *body, struct err *e)
{
	struct buf names;
	char *list;
	int n = 0;

	buf_init(&names, 0);
	for (int i = 0; update_resource_keys[i] != NULL; i++) {
		if (!update_is_set(cJSON_GetObjectItemCaseSensitive(
			body, update_resource_keys[i])))
			continue;
		buf_adds(&names, n++ > 0 ? ", " : "");
		buf_adds(&names, update_resource_keys[i]);
	}
	list = buf_take(&names, NULL);
	if (n > 0)
		err_set(e, 501,
		    "This backend (%s) cannot change the resources of a "
		    "container (%s): its cloud fixes them when the container "
		    "is created. Create a new container with the new limits; "
		    "docker update can change the restart policy.",
		    b->caps.backend, list);
	free(list);
	return n > 0 ? -1 : 0;
}

/* A JSON object body, or a 400 answered. */
static cJSON *
update_body(struct httpsrv_req *r)
{
	size_t len;
	const char *data = httpsrv_req_body(r, &len);
	struct err e;
	cJSON *o;

	if (len == 0) {
		httpsrv_reply_error(r, 400,
		    "a JSON object is required in the request body, such as "
		    "{\"RestartPolicy\": {\"Name\": \"always\"}}");
		return NULL;
	}
	if ((o = json_parse(data, len, &e)) == NULL) {
		httpsrv_reply_err(r, &e);
		return NULL;
	}
	if (!cJSON_IsObject(o)) {
		cJSON_Delete(o);
		httpsrv_reply_error(
		    r, 400, "the request body must be a JSON object");
		return NULL;
	}
	return o;
}

static int
update_apply(
    struct backend *b, struct container *c, const cJSON *body, struct err *e)
{
	const cJSON *rp = json_obj(body, "RestartPolicy");
	const char *st = json_str(container_state(c), "Status");
	const char *name = json_str(rp, "Name");
	cJSON *np;

	if (backend_ctr_check_restart_policy(body, e) == -1 ||
	    update_check_resources(b, body, e) == -1)
		return -1;
	if ((st != NULL &&
		(strcmp(st, "removing") == 0 || strcmp(st, "dead") == 0)) ||
	    backend_ctr_busy(c) == CTR_REMOVING)
		return err_set(e, 409,
		    "Cannot update container %s: container is marked for "
		    "removal and cannot be \"update\"",
		    c->id);
	if (name == NULL || name[0] == '\0')
		return 0; /* dockerd: no name, no change */
	if (json_bool(container_host_config(c), "AutoRemove", 0) &&
	    backend_ctr_policy_restarts(body))
		return err_set(e, 409,
		    "Cannot update container %s: Restart policy cannot be "
		    "updated because AutoRemove is enabled for the container",
		    c->id);
	np = cJSON_Duplicate(rp, 1);
	/* Both keys, as dockerd shows them. */
	if (cJSON_GetObjectItemCaseSensitive(np, "MaximumRetryCount") == NULL)
		json_add_int(np, "MaximumRetryCount", 0);
	json_set((cJSON *)container_host_config(c), "RestartPolicy", np);
	backend_ctr_save(b, c);
	return 0;
}

void
backend_ctr_update(
    struct backend *b, struct httpsrv_req *r, const struct router_match *m)
{
	struct container *c;
	cJSON *body, *out;
	struct err e;

	if ((body = update_body(r)) == NULL)
		return;
	if ((c = backend_lookup_or_reply(b, r, router_param(m, "id"))) ==
	    NULL) {
		cJSON_Delete(body);
		return;
	}
	if (update_apply(b, c, body, &e) == -1) {
		httpsrv_reply_err(r, &e);
		cJSON_Delete(body);
		return;
	}
	cJSON_Delete(body);
	out = cJSON_CreateObject();
	cJSON_AddItemToObject(out, "Warnings", cJSON_CreateArray());
	httpsrv_reply_json(r, 200, out);
	cJSON_Delete(out);
}
