/* Container documents: accessors, state, and Docker's inspect and list
 * shapes. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend_int.h"
#include "sockerless/container.h"
#include "sockerless/json.h"
#include "sockerless/str.h"
#include "sockerless/xmalloc.h"

/* The private object goes first among the document's keys: backends look
 * a private key up in every container (a poller, a definition still in
 * use), and cJSON finds a key by walking the keys in order. */
static void
container_private_first(cJSON *doc)
{
	cJSON *p;

	if (doc == NULL || doc->child == NULL ||
	    (doc->child->string != NULL &&
		strcmp(doc->child->string, CONTAINER_PRIVATE) == 0))
		return;
	p = cJSON_DetachItemFromObjectCaseSensitive(doc, CONTAINER_PRIVATE);
	if (p != NULL)
		cJSON_InsertItemInArray(doc, 0, p);
}

struct container *
container_new(const char *id, cJSON *doc)
{
	struct container *c = xcalloc(1, sizeof(*c));

	str_lcpy(c->id, id, sizeof(c->id));
	container_private_first(doc);
	c->doc = doc;
	c->refs = 1;
	return c;
}

void
container_ref(struct container *c)
{
	c->refs++;
}

void
container_unref(struct container *c)
{
	if (--c->refs > 0)
		return;
	if (c->agent_free != NULL)
		c->agent_free(c);
	if (c->backend_data_free != NULL)
		c->backend_data_free(c->backend_data);
	cJSON_Delete(c->doc);
	/* Only the list head is left: every waiter holds a reference. */
	free(c->waiters);
	free(c);
}

const cJSON *
container_config(const struct container *c)
{
	return json_obj(c->doc, "Config");
}

const cJSON *
container_host_config(const struct container *c)
{
	return json_obj(c->doc, "HostConfig");
}

const char *
container_name(const struct container *c)
{
	const char *n = json_str(c->doc, "Name");

	return n != NULL && n[0] == '/' ? n + 1 : n;
}

const char *
container_image(const struct container *c)
{
	return json_str(container_config(c), "Image");
}

const char *
container_image_ref(const struct container *c)
{
	const char *ref = json_str(
	    json_obj(c->doc, CONTAINER_PRIVATE), BACKEND_PRIV_IMAGE_REF);

	return ref != NULL ? ref : container_image(c);
}

cJSON *
container_private(struct container *c)
{
	cJSON *p = json_obj(c->doc, CONTAINER_PRIVATE);

	if (p == NULL) {
		p = cJSON_CreateObject();
		json_set(c->doc, CONTAINER_PRIVATE, p);
		container_private_first(c->doc);
	}
	return p;
}

cJSON *
container_state(struct container *c)
{
	return json_obj(c->doc, "State");
}

int
container_running(const struct container *c)
{
	return json_bool(json_obj(c->doc, "State"), "Running", 0);
}

int
container_restarting(const struct container *c)
{
	const char *st = json_str(json_obj(c->doc, "State"), "Status");

	return st != NULL && strcmp(st, "restarting") == 0;
}

/* Sets Status and the booleans Docker derives from it. */
void
container_set_state(struct container *c, const char *status)
{
	cJSON *st = container_state(c);

	json_set(st, "Status", cJSON_CreateString(status));
	json_set(st, "Running",
	    cJSON_CreateBool(strcmp(status, "running") == 0 ||
		strcmp(status, "paused") == 0));
	json_set(st, "Paused", cJSON_CreateBool(strcmp(status, "paused") == 0));
	json_set(st, "Restarting",
	    cJSON_CreateBool(strcmp(status, "restarting") == 0));
	json_set(st, "Dead", cJSON_CreateBool(strcmp(status, "dead") == 0));
}

/* The keys dockerd's inspect always has, with the values it shows when a
 * client did not set them: clients index the document without checking
 * (docker-py's tests, CI runners). Values that only describe dockerd's own
 * isolation set-up (MaskedPaths, IpcMode, ShmSize, ...) are left out, see
 * docs/compat.md. */
static const char container_defaults[] =
    "{\"AppArmorProfile\":\"\",\"ExecIDs\":null,\"HostnamePath\":\"\","
    "\"HostsPath\":\"\",\"LogPath\":\"\",\"MountLabel\":\"\","
    "\"ProcessLabel\":\"\",\"ResolvConfPath\":\"\","
    "\"Config\":{\"AttachStdin\":false,\"AttachStdout\":false,"
    "\"AttachStderr\":false,\"Domainname\":\"\",\"Entrypoint\":null,"
    "\"OnBuild\":null,\"OpenStdin\":false,\"StdinOnce\":false,"
    "\"Tty\":false,\"User\":\"\",\"Volumes\":null,\"WorkingDir\":\"\"},"
    "\"HostConfig\":{\"AutoRemove\":false,\"Binds\":null,"
    "\"BlkioDeviceReadBps\":null,\"BlkioDeviceReadIOps\":null,"
    "\"BlkioDeviceWriteBps\":null,\"BlkioDeviceWriteIOps\":null,"
    "\"BlkioWeight\":0,\"BlkioWeightDevice\":null,\"CapAdd\":null,"
    "\"CapDrop\":null,\"Cgroup\":\"\",\"CgroupParent\":\"\","
    "\"ConsoleSize\":[0,0],\"ContainerIDFile\":\"\",\"CpuCount\":0,"
    "\"CpuPercent\":0,\"CpuPeriod\":0,\"CpuQuota\":0,"
    "\"CpuRealtimePeriod\":0,\"CpuRealtimeRuntime\":0,\"CpuShares\":0,"
    "\"CpusetCpus\":\"\",\"CpusetMems\":\"\",\"DeviceCgroupRules\":null,"
    "\"DeviceRequests\":null,\"Devices\":null,\"Dns\":null,"
    "\"DnsOptions\":null,\"DnsSearch\":null,\"ExtraHosts\":null,"
    "\"GroupAdd\":null,\"IOMaximumBandwidth\":0,\"IOMaximumIOps\":0,"
    "\"Isolation\":\"\",\"KernelMemory\":0,\"KernelMemoryTCP\":0,"
    "\"Links\":null,\"Memory\":0,\"MemoryReservation\":0,"
    "\"MemorySwap\":0,\"MemorySwappiness\":null,\"NanoCpus\":0,"
    "\"OomKillDisable\":false,\"OomScoreAdj\":0,\"PidMode\":\"\","
    "\"PidsLimit\":null,\"PortBindings\":null,\"Privileged\":false,"
    "\"PublishAllPorts\":false,\"ReadonlyRootfs\":false,"
    "\"RestartPolicy\":{\"Name\":\"\",\"MaximumRetryCount\":0},"
    "\"Runtime\":\"runc\",\"SecurityOpt\":null,\"UTSMode\":\"\","
    "\"Ulimits\":null,\"UsernsMode\":\"\",\"VolumeDriver\":\"\","
    "\"VolumesFrom\":null},"
    "\"NetworkSettings\":{\"EndpointID\":\"\",\"GlobalIPv6Address\":\"\","
    "\"GlobalIPv6PrefixLen\":0,\"HairpinMode\":false,"
    "\"IPv6Gateway\":\"\",\"LinkLocalIPv6Address\":\"\","
    "\"LinkLocalIPv6PrefixLen\":0,\"SecondaryIPAddresses\":null,"
    "\"SecondaryIPv6Addresses\":null}}";

/* What each NetworkSettings.Networks entry (an endpoint) shows. */
static const char container_endpoint_defaults[] =
    "{\"IPAMConfig\":null,\"Links\":null,\"Aliases\":null,"
    "\"NetworkID\":\"\",\"EndpointID\":\"\",\"Gateway\":\"\","
    "\"IPAddress\":\"\",\"IPPrefixLen\":0,\"IPv6Gateway\":\"\","
    "\"GlobalIPv6Address\":\"\",\"GlobalIPv6PrefixLen\":0,"
    "\"MacAddress\":\"\",\"DriverOpts\":null,\"DNSNames\":null}";

/* Adds what dst lacks from def, objects merged key by key; what a client
 * or the backend set is never replaced. */
static void
container_fill(cJSON *dst, const cJSON *def)
{
	const cJSON *it;
	cJSON *have;

	if (!cJSON_IsObject(dst))
		return;
	cJSON_ArrayForEach(it, def) {
		have = cJSON_GetObjectItemCaseSensitive(dst, it->string);
		if (have == NULL)
			cJSON_AddItemToObject(
			    dst, it->string, cJSON_Duplicate(it, 1));
		else if (cJSON_IsObject(it) && cJSON_IsObject(have))
			container_fill(have, it);
	}
}

/* Config fields dockerd marks omitempty: a client's false, "", null, [] or
 * {} (docker-py sends NetworkDisabled: false) is not shown. StopTimeout is
 * a pointer there: only null is empty. */
static void
container_omit_empty(cJSON *cfg)
{
	static const char *const keys[] = { "ArgsEscaped", "ExposedPorts",
		"Healthcheck", "MacAddress", "NetworkDisabled", "Shell",
		"StopSignal", NULL };
	const char *const *k;
	cJSON *v;

	for (k = keys; *k != NULL; k++) {
		v = cJSON_GetObjectItemCaseSensitive(cfg, *k);
		if (v != NULL &&
		    (cJSON_IsNull(v) || cJSON_IsFalse(v) ||
			(cJSON_IsString(v) && v->valuestring[0] == '\0') ||
			((cJSON_IsArray(v) || cJSON_IsObject(v)) &&
			    v->child == NULL)))
			cJSON_DeleteItemFromObjectCaseSensitive(cfg, *k);
	}
	v = cJSON_GetObjectItemCaseSensitive(cfg, "StopTimeout");
	if (cJSON_IsNull(v))
		cJSON_DeleteItemFromObjectCaseSensitive(cfg, "StopTimeout");
}

/* Gives every endpoint of NetworkSettings.Networks dockerd's keys. */
static void
container_fill_endpoints(cJSON *nets)
{
	cJSON *def = cJSON_Parse(container_endpoint_defaults), *ep;

	cJSON_ArrayForEach(ep, nets)
		container_fill(ep, def);
	cJSON_Delete(def);
}

cJSON *
container_inspect_json(const struct container *c)
{
	cJSON *o = cJSON_Duplicate(c->doc, 1), *def;

	cJSON_DeleteItemFromObjectCaseSensitive(o, CONTAINER_PRIVATE);
	/* dockerd counts a restarting container as running (the framework
	 * does not: nothing runs between two runs). */
	if (container_restarting(c))
		json_set(json_obj(o, "State"), "Running", cJSON_CreateTrue());
	container_omit_empty(json_obj(o, "Config"));
	def = cJSON_Parse(container_defaults);
	container_fill(o, def);
	cJSON_Delete(def);
	container_fill_endpoints(
	    json_obj(json_obj(o, "NetworkSettings"), "Networks"));
	/* No files on this host: the storage is the backend's. */
	if (cJSON_GetObjectItemCaseSensitive(o, "GraphDriver") == NULL) {
		def = cJSON_CreateObject();
		cJSON_AddItemToObject(def, "Data", cJSON_CreateNull());
		json_add_str(def, "Name", json_str(o, "Driver"));
		cJSON_AddItemToObject(o, "GraphDriver", def);
	}
	return o;
}

int
container_has_label(
    const struct container *c, const char *key, const char *value)
{
	const char *v = json_str(json_obj(container_config(c), "Labels"), key);

	if (v == NULL)
		return 0;
	return value == NULL || strcmp(v, value) == 0;
}

void
container_human_duration(char *out, size_t size, int64_t ns)
{
	int64_t s = ns / 1000000000;
	int64_t m = s / 60, h = m / 60, d = h / 24;

	if (s < 1)
		snprintf(out, size, "Less than a second");
	else if (s == 1)
		snprintf(out, size, "1 second");
	else if (s < 60)
		snprintf(out, size, "%lld seconds", (long long)s);
	else if (m == 1)
		snprintf(out, size, "About a minute");
	else if (m < 60)
		snprintf(out, size, "%lld minutes", (long long)m);
	else if (h == 1)
		snprintf(out, size, "About an hour");
	else if (h < 48)
		snprintf(out, size, "%lld hours", (long long)h);
	else if (h < 24 * 7 * 2)
		snprintf(out, size, "%lld days", (long long)d);
	else if (h < 24 * 30 * 2)
		snprintf(out, size, "%lld weeks", (long long)(d / 7));
	else if (h < 24 * 365 * 2)
		snprintf(out, size, "%lld months", (long long)(d / 30));
	else
		snprintf(out, size, "%lld years", (long long)(d / 365));
}

/* "Up 5 minutes", "Exited (3) 2 seconds ago", "Created". */
static void
container_status_text(const struct container *c, char *out, size_t size)
{
	const cJSON *st = json_obj(c->doc, "State");
	const char *status = json_str(st, "Status"), *hs;
	char dur[64];
	int64_t t = 0;

	if (status == NULL || strcmp(status, "created") == 0) {
		snprintf(out, size, "Created");
		return;
	}
	if (strcmp(status, "running") == 0 || strcmp(status, "paused") == 0) {
		str_time_parse(json_str(st, "StartedAt"), &t);
		container_human_duration(dur, sizeof(dur), str_now_ns() - t);
		/* Docker: "Up 5 minutes (healthy)", "(health: starting)". */
		hs = json_str(json_obj(st, "Health"), "Status");
		snprintf(out, size, "Up %s%s%s%s%s", dur,
		    strcmp(status, "paused") == 0 ? " (Paused)" : "",
		    hs == NULL			    ? "" :
			strcmp(hs, "starting") == 0 ? " (health: " :
						      " (",
		    hs != NULL ? hs : "", hs != NULL ? ")" : "");
		return;
	}
	if (strcmp(status, "removing") == 0) {
		snprintf(out, size, "Removal In Progress");
		return;
	}
	if (strcmp(status, "dead") == 0) {
		snprintf(out, size, "Dead");
		return;
	}
	str_time_parse(json_str(st, "FinishedAt"), &t);
	container_human_duration(dur, sizeof(dur), str_now_ns() - t);
	snprintf(out, size, "%s (%lld) %s ago",
	    strcmp(status, "restarting") == 0 ? "Restarting" : "Exited",
	    (long long)json_int(st, "ExitCode", 0), dur);
}

/* Docker's "Command" column: the path and the args joined by spaces, an
 * arg with a space in single quotes (dockerd's list.go; no escaping). */
static char *
container_command_text(const struct container *c)
{
	struct buf b;
	const cJSON *args = json_arr(c->doc, "Args"), *it;
	const char *path = json_str(c->doc, "Path");

	buf_init(&b, 0);
	buf_adds(&b, path != NULL ? path : "");
	cJSON_ArrayForEach(it, args) {
		if (!cJSON_IsString(it))
			continue;
		buf_adds(&b, strchr(it->valuestring, ' ') != NULL ? " '" : " ");
		buf_adds(&b, it->valuestring);
		if (strchr(it->valuestring, ' ') != NULL)
			buf_adds(&b, "'");
	}
	return buf_take(&b, NULL);
}

int
container_port_parse(const char *key, int *port, const char **proto)
{
	const char *slash = strchr(key, '/');
	char num[8];
	long long v;
	size_t n = slash != NULL ? (size_t)(slash - key) : strlen(key);

	*proto = slash != NULL ? slash + 1 : "tcp";
	if (n == 0 || n >= sizeof(num) ||
	    (strcmp(*proto, "tcp") != 0 && strcmp(*proto, "udp") != 0 &&
		strcmp(*proto, "sctp") != 0))
		return -1;
	memcpy(num, key, n);
	num[n] = '\0';
	/* Digits only: str_tonum would take a sign. */
	if (strspn(num, "0123456789") != n ||
	    str_tonum(num, 1, 65535, &v, NULL) == -1)
		return -1;
	*port = (int)v;
	return 0;
}

/* The list form of NetworkSettings.Ports: [{IP, PrivatePort, PublicPort,
 * Type}] with unpublished exposed ports listed without a public port. */
static cJSON *
container_ports_list(const struct container *c)
{
	cJSON *out = cJSON_CreateArray(), *it, *b;
	const cJSON *ports =
	    json_obj(json_obj(c->doc, "NetworkSettings"), "Ports");

	cJSON_ArrayForEach(it, ports) {
		const char *type;
		int priv;

		/* Create checks the client's keys; an image's may be junk. */
		if (container_port_parse(it->string, &priv, &type) == -1)
			continue;
		if (!cJSON_IsArray(it) || cJSON_GetArraySize(it) == 0) {
			cJSON *p = cJSON_CreateObject();
			json_add_int(p, "PrivatePort", priv);
			json_add_str(p, "Type", type);
			cJSON_AddItemToArray(out, p);
			continue;
		}
		cJSON_ArrayForEach(b, it) {
			cJSON *p = cJSON_CreateObject();
			const char *hp = json_str(b, "HostPort");
			long long pub = priv;
			if (hp != NULL && hp[0] != '\0')
				str_tonum(hp, 0, 65535, &pub, NULL);
			json_add_str(p, "IP", json_str(b, "HostIp"));
			json_add_int(p, "PrivatePort", priv);
			json_add_int(p, "PublicPort", pub);
			json_add_str(p, "Type", type);
			cJSON_AddItemToArray(out, p);
		}
	}
	return out;
}

cJSON *
container_summary_json(const struct container *c)
{
	cJSON *o = cJSON_CreateObject(), *names = cJSON_CreateArray(), *hc, *ns;
	const cJSON *cfg = container_config(c);
	const cJSON *labels = json_obj(cfg, "Labels");
	const cJSON *mounts = json_arr(c->doc, "Mounts");
	const cJSON *nets =
	    json_obj(json_obj(c->doc, "NetworkSettings"), "Networks");
	char status[128], *cmd;
	int64_t created = 0;

	json_add_str(o, "Id", c->id);
	cJSON_AddItemToArray(
	    names, cJSON_CreateString(json_str(c->doc, "Name")));
	cJSON_AddItemToObject(o, "Names", names);
	json_add_str(o, "Image", container_image(c));
	json_add_str(o, "ImageID", json_str(c->doc, "Image"));
	cmd = container_command_text(c);
	json_add_str(o, "Command", cmd);
	free(cmd);
	str_time_parse(json_str(c->doc, "Created"), &created);
	json_add_int(o, "Created", created / 1000000000);
	cJSON_AddItemToObject(o, "Ports", container_ports_list(c));
	cJSON_AddItemToObject(o, "Labels",
	    labels != NULL ? cJSON_Duplicate(labels, 1) : cJSON_CreateObject());
	json_add_str(o, "State", json_str(json_obj(c->doc, "State"), "Status"));
	container_status_text(c, status, sizeof(status));
	json_add_str(o, "Status", status);
	hc = cJSON_CreateObject();
	json_add_str(hc, "NetworkMode",
	    json_str(container_host_config(c), "NetworkMode"));
	cJSON_AddItemToObject(o, "HostConfig", hc);
	ns = cJSON_CreateObject();
	cJSON_AddItemToObject(ns, "Networks",
	    nets != NULL ? cJSON_Duplicate(nets, 1) : cJSON_CreateObject());
	container_fill_endpoints(json_obj(ns, "Networks"));
	cJSON_AddItemToObject(o, "NetworkSettings", ns);
	cJSON_AddItemToObject(o, "Mounts",
	    mounts != NULL ? cJSON_Duplicate(mounts, 1) : cJSON_CreateArray());
	return o;
}
