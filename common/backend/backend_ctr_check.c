/* The checks of a create body: ports, numbers, host options this backend
 * cannot honour, network endpoints and the log driver, each refused with
 * the sentence dockerd (or docs/compat.md) gives. */
#include <ctype.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "backend_ctr.h"
#include "sockerless/container.h"
#include "sockerless/json.h"
#include "sockerless/xmalloc.h"

int
backend_ctr_empty(const cJSON *v)
{
	return v == NULL || cJSON_IsNull(v) ||
	    (cJSON_IsArray(v) && cJSON_GetArraySize(v) == 0) ||
	    (cJSON_IsString(v) && v->valuestring[0] == '\0');
}

/* Takes src[key] into dst when dst lacks it. */

const char *
backend_ctr_why(const char *errstr)
{
	return strcmp(errstr, "invalid") == 0 ? "not a whole number" : errstr;
}

/* "N" or "N-M" (N <= M), ports 0-65535, as `docker run -p 8000-8010:80`
 * sends. */
static int
backend_ctr_host_port_ok(const char *hp)
{
	char lo[8];
	const char *dash = strchr(hp, '-');
	size_t n = dash != NULL ? (size_t)(dash - hp) : strlen(hp);
	long long a, b;

	if (n == 0 || n >= sizeof(lo) || strspn(hp, "0123456789") != n)
		return -1;
	memcpy(lo, hp, n);
	lo[n] = '\0';
	if (str_tonum(lo, 0, 65535, &a, NULL) == -1)
		return -1;
	if (dash == NULL)
		return 0;
	if (strspn(dash + 1, "0123456789") != strlen(dash + 1) ||
	    str_tonum(dash + 1, a, 65535, &b, NULL) == -1)
		return -1;
	return 0;
}

/* A PortBindings entry: null or [{"HostIp": s, "HostPort": "" or a port}]. */
static int
backend_ctr_check_bindings(const cJSON *list, struct err *e)
{
	const cJSON *bd;
	const char *ip = NULL, *hp = NULL;

	if (list == NULL || cJSON_IsNull(list))
		return 0;
	if (!cJSON_IsArray(list))
		return err_set(e, 400,
		    "json: cannot unmarshal a non-array into field "
		    "PortBindings[\"%s\"] of type []PortBinding",
		    list->string);
	cJSON_ArrayForEach(bd, list) {
		if (!cJSON_IsObject(bd))
			return err_set(e, 400,
			    "json: cannot unmarshal a non-object into "
			    "PortBindings[\"%s\"] of type PortBinding",
			    list->string);
		if (json_check_str(bd, "HostIp", &ip, e) == -1 ||
		    json_check_str(bd, "HostPort", &hp, e) == -1)
			return -1;
		if (hp != NULL && hp[0] != '\0' &&
		    backend_ctr_host_port_ok(hp) == -1)
			return err_set(e, 400,
			    "invalid port specification: \"%s\": a host "
			    "port is a number from 0 to 65535, or a range "
			    "such as 8000-8010",
			    hp);
		hp = NULL;
	}
	return 0;
}

/* The client's ExposedPorts and PortBindings keys, checked before the
 * image's are merged in, so a bad one is the client's own. */
static int
backend_ctr_check_ports(const cJSON *cfg, const cJSON *hc, struct err *e)
{
	const cJSON *sets[2] = { cJSON_GetObjectItemCaseSensitive(
				     cfg, "ExposedPorts"),
		cJSON_GetObjectItemCaseSensitive(hc, "PortBindings") };
	static const char *names[2] = { "ExposedPorts", "PortBindings" };
	const cJSON *it;
	const char *proto;
	int no;

	for (int i = 0; i < 2; i++) {
		if (sets[i] == NULL || cJSON_IsNull(sets[i]))
			continue;
		if (!cJSON_IsObject(sets[i]))
			return err_set(e, 400,
			    "json: cannot unmarshal a non-object into field "
			    "%s",
			    names[i]);
		cJSON_ArrayForEach(it, sets[i]) {
			if (container_port_parse(it->string, &no, &proto) == -1)
				return err_set(e, 400,
				    "invalid port specification: \"%s\": "
				    "expected a port from 1 to 65535 with "
				    "an optional /tcp, /udp or /sctp "
				    "(ranges are not supported)",
				    it->string);
			if (i == 1 && backend_ctr_check_bindings(it, e) == -1)
				return -1;
		}
	}
	return 0;
}

/* Numbers (and Env) the backend acts on, checked where the client can be
 * told. */
int
backend_ctr_check_numbers(const cJSON *cfg, const cJSON *hc, struct err *e)
{
	static const char *hc_keys[] = { "Memory", "NanoCpus", "CpuShares",
		"MemorySwap", "MemoryReservation", "ShmSize", NULL };
	int64_t v = 0;
	struct strv env;
	int rc;

	strv_init(&env);
	rc = json_check_strv(cfg, "Env", 0, &env, e);
	strv_free(&env);
	if (rc == -1 || json_check_int(cfg, "StopTimeout", &v, e) == -1)
		return -1;
	if (v < -1 || v > BACKEND_CTR_MAX_STOP_TIMEOUT)
		return err_set(e, 400,
		    "invalid StopTimeout %lld: use -1 (no limit) or a number "
		    "of seconds up to %d",
		    (long long)v, BACKEND_CTR_MAX_STOP_TIMEOUT);
	for (int i = 0; hc_keys[i] != NULL; i++) {
		v = 0;
		if (json_check_int(hc, hc_keys[i], &v, e) == -1)
			return -1;
		/* MemorySwap -1 means unlimited swap. */
		if (v < (i == 3 ? -1 : 0))
			return err_set(e, 400,
			    "invalid %s %lld: it cannot be negative",
			    hc_keys[i], (long long)v);
	}
	return backend_ctr_check_ports(cfg, hc, e);
}

/* HostConfig.RestartPolicy as dockerd validates it (its words), for
 * create and update. */
int
backend_ctr_check_restart_policy(const cJSON *hc, struct err *e)
{
	const cJSON *rp = cJSON_GetObjectItemCaseSensitive(hc, "RestartPolicy");
	const char *name = "";
	int64_t max = 0;

	if (rp == NULL || cJSON_IsNull(rp))
		return 0;
	if (!cJSON_IsObject(rp))
		return err_set(e, 400,
		    "RestartPolicy must be an object such as "
		    "{\"Name\": \"on-failure\", \"MaximumRetryCount\": 3}");
	if (json_check_str(rp, "Name", &name, e) == -1 ||
	    json_check_int(rp, "MaximumRetryCount", &max, e) == -1)
		return -1;
	if (strcmp(name, "on-failure") == 0) {
		if (max < 0)
			return err_set(
			    e, 400, "maximum retry count cannot be negative");
		return 0;
	}
	if (strcmp(name, "always") != 0 &&
	    strcmp(name, "unless-stopped") != 0 && strcmp(name, "no") != 0 &&
	    name[0] != '\0')
		return err_set(e, 400,
		    "invalid restart policy '%s': use no, always, "
		    "unless-stopped or on-failure[:max-retries]",
		    name);
	if (max != 0 && name[0] != '\0')
		return err_set(e, 400,
		    "maximum retry count cannot be used with restart policy "
		    "'%s'",
		    name);
	return 0;
}

/* A policy that restarts (dockerd's !IsNone). */
int
backend_ctr_policy_restarts(const cJSON *hc)
{
	const char *name = json_str(json_obj(hc, "RestartPolicy"), "Name");

	return name != NULL && name[0] != '\0' && strcmp(name, "no") != 0;
}

/* Rejects what this backend cannot honour instead of ignoring it. */
int
backend_ctr_check_host_config(struct backend *b, const cJSON *hc, struct err *e)
{
	if (backend_ctr_check_restart_policy(hc, e) == -1)
		return -1;
	/* --rm and a restart policy contradict each other. */
	if (json_bool(hc, "AutoRemove", 0) && backend_ctr_policy_restarts(hc))
		return err_set(e, 400,
		    "can't create 'AutoRemove' container with restart policy");
	if (!b->caps.flag[CAP_VOLUMES] &&
	    (!backend_ctr_empty(json_arr(hc, "Binds")) ||
		!backend_ctr_empty(json_arr(hc, "Mounts")) ||
		!backend_ctr_empty(json_arr(hc, "VolumesFrom"))))
		return caps_unsupported(&b->caps, CAP_VOLUMES, e);
	if (json_bool(hc, "Privileged", 0))
		return err_set(e, 501,
		    "This backend (%s) does not support "
		    "privileged containers. Run the container "
		    "without --privileged.",
		    b->caps.backend);
	return 0;
}

/* --link, in HostConfig or in an endpoint: the containers of a backend
 * without networks cannot reach each other by name. */
static int
backend_ctr_no_links(struct backend *b, struct err *e)
{
	return err_set(e, 400,
	    "links (--link) cannot be honoured by the %s backend: its "
	    "containers share no network and no name resolution. Run the "
	    "container without --link.",
	    b->ops->name);
}

/* Empty as a client leaves an option unset: null, "", [] or {}. */
static int
backend_ctr_unset(const cJSON *v)
{
	return backend_ctr_empty(v) || (cJSON_IsObject(v) && v->child == NULL);
}

/* --- Linux options: the shape every backend reads, and what none can do */

/* dockerd's /dev/shm size when --shm-size is not given (64 MiB). */
#define BACKEND_CTR_DEFAULT_SHM (64LL * 1024 * 1024)

/* The capabilities dockerd 20.10 knows (without "CAP_"). */
static const char *const backend_ctr_cap_names[] = { "CHOWN", "DAC_OVERRIDE",
	"DAC_READ_SEARCH", "FOWNER", "FSETID", "KILL", "SETGID", "SETUID",
	"SETPCAP", "LINUX_IMMUTABLE", "NET_BIND_SERVICE", "NET_BROADCAST",
	"NET_ADMIN", "NET_RAW", "IPC_LOCK", "IPC_OWNER", "SYS_MODULE",
	"SYS_RAWIO", "SYS_CHROOT", "SYS_PTRACE", "SYS_PACCT", "SYS_ADMIN",
	"SYS_BOOT", "SYS_NICE", "SYS_RESOURCE", "SYS_TIME", "SYS_TTY_CONFIG",
	"MKNOD", "LEASE", "AUDIT_WRITE", "AUDIT_CONTROL", "SETFCAP",
	"MAC_OVERRIDE", "MAC_ADMIN", "SYSLOG", "WAKE_ALARM", "BLOCK_SUSPEND",
	"AUDIT_READ", "PERFMON", "BPF", "CHECKPOINT_RESTORE", NULL };

/* dockerd names the capability as it normalised it: "CAP_" and upper
 * case. */
static int
backend_ctr_bad_cap(const char *key, const char *name, struct err *e)
{
	char up[64];
	size_t i;

	for (i = 0; name[i] != '\0' && i + 1 < sizeof(up); i++)
		up[i] = (char)toupper((unsigned char)name[i]);
	up[i] = '\0';
	return err_set(
	    e, 400, "invalid %s: unknown capability: \"CAP_%s\"", key, up);
}

/* CapAdd or CapDrop: null or strings naming capabilities ("CAP_" prefix
 * and case optional, or ALL), as dockerd checks them at create. */
static int
backend_ctr_check_caps(const cJSON *hc, const char *key, struct err *e)
{
	const cJSON *list = cJSON_GetObjectItemCaseSensitive(hc, key), *it;

	if (list == NULL || cJSON_IsNull(list))
		return 0;
	if (!cJSON_IsArray(list))
		return err_set(e, 400,
		    "json: cannot unmarshal a non-array into field %s of "
		    "type []string",
		    key);
	cJSON_ArrayForEach(it, list) {
		const char *n = cJSON_GetStringValue(it);
		size_t i;

		if (n == NULL)
			return err_set(e, 400,
			    "json: cannot unmarshal a non-string into field "
			    "%s of type string",
			    key);
		if (strncasecmp(n, "CAP_", 4) == 0)
			n += 4;
		for (i = 0; backend_ctr_cap_names[i] != NULL; i++)
			if (strcasecmp(n, backend_ctr_cap_names[i]) == 0)
				break;
		if (backend_ctr_cap_names[i] == NULL &&
		    strcasecmp(n, "ALL") != 0)
			return backend_ctr_bad_cap(key, n, e);
	}
	return 0;
}

/* Ulimits: null or [{"Name": s, "Soft": n, "Hard": n}], soft <= hard. */
static int
backend_ctr_check_ulimits(const cJSON *hc, struct err *e)
{
	const cJSON *list = cJSON_GetObjectItemCaseSensitive(hc, "Ulimits");
	const cJSON *it;

	if (list == NULL || cJSON_IsNull(list))
		return 0;
	if (!cJSON_IsArray(list))
		return err_set(e, 400,
		    "json: cannot unmarshal a non-array into field Ulimits "
		    "of type []*units.Ulimit");
	cJSON_ArrayForEach(it, list) {
		const char *name = NULL;
		int64_t soft = 0, hard = 0;

		if (!cJSON_IsObject(it))
			return err_set(e, 400,
			    "json: cannot unmarshal a non-object into field "
			    "Ulimits of type units.Ulimit");
		if (json_check_str(it, "Name", &name, e) == -1 ||
		    json_check_int(it, "Soft", &soft, e) == -1 ||
		    json_check_int(it, "Hard", &hard, e) == -1)
			return -1;
		if (name == NULL || name[0] == '\0')
			return err_set(e, 400, "invalid ulimit: no Name");
		if (soft > hard)
			return err_set(e, 400,
			    "ulimit soft limit must be less than or equal to "
			    "hard limit: %lld > %lld",
			    (long long)soft, (long long)hard);
	}
	return 0;
}

/* A namespace mode other than the workload's own: no cloud backend runs
 * on a host it could share, nor beside another container's namespaces. */
static int
backend_ctr_check_ns(struct backend *b, const cJSON *hc, struct err *e)
{
	static const struct {
		const char *key, *flag, *ok1, *ok2;
	} ns[] = { { "PidMode", "--pid", NULL, NULL },
		{ "IpcMode", "--ipc", "private", "shareable" },
		{ "UTSMode", "--uts", NULL, NULL } };

	for (size_t i = 0; i < sizeof(ns) / sizeof(ns[0]); i++) {
		const char *v = NULL;

		if (json_check_str(hc, ns[i].key, &v, e) == -1)
			return -1;
		if (v == NULL || v[0] == '\0' ||
		    (ns[i].ok1 != NULL && strcmp(v, ns[i].ok1) == 0) ||
		    (ns[i].ok2 != NULL && strcmp(v, ns[i].ok2) == 0))
			continue;
		return err_set(e, 400,
		    "%s=%s cannot be honoured by the %s backend: each "
		    "workload has its own namespaces in the cloud, with no "
		    "host and no other container to share them with. Run "
		    "the container without %s.",
		    ns[i].flag, v, b->ops->name, ns[i].flag);
	}
	return 0;
}

/* Host devices, tmpfs mounts, a /dev/shm size and supplementary groups:
 * no cloud backend can give them (Fargate has no devices, tmpfs or
 * sharedMemorySize; Lambda runs a fixed sandbox). dockerd's default
 * /dev/shm (64 MiB) is what the workloads get, so it passes. */
static int
backend_ctr_check_host_only(struct backend *b, const cJSON *hc, struct err *e)
{
	static const struct {
		const char *key, *what, *flag;
	} opts[] = {
		{ "Devices", "host devices", "--device" },
		{ "Tmpfs", "tmpfs mounts", "--tmpfs" },
		{ "GroupAdd", "supplementary groups", "--group-add" },
	};
	int64_t shm = 0;

	for (size_t i = 0; i < sizeof(opts) / sizeof(opts[0]); i++)
		/* With volumes, tmpfs is the cloud's task-scoped storage. */
		if (!(i == 1 && b->caps.flag[CAP_VOLUMES]) &&
		    !backend_ctr_unset(
			cJSON_GetObjectItemCaseSensitive(hc, opts[i].key)))
			return err_set(e, 400,
			    "%s (%s) cannot be honoured by the %s backend: "
			    "the cloud gives the workload no way to set them. "
			    "Run the container without %s.",
			    opts[i].what, opts[i].flag, b->ops->name,
			    opts[i].flag);
	if (json_check_int(hc, "ShmSize", &shm, e) == -1)
		return -1;
	if (shm > 0 && shm != BACKEND_CTR_DEFAULT_SHM)
		return err_set(e, 400,
		    "a /dev/shm size (--shm-size) cannot be honoured by the %s "
		    "backend: the workload gets the cloud's /dev/shm (64 MiB "
		    "as dockerd's default). Run the container without "
		    "--shm-size.",
		    b->ops->name);
	return 0;
}

/* What every backend reads the same way before it maps or refuses
 * ReadonlyRootfs, CapAdd, CapDrop and Ulimits itself (docs/compat.md). */
static int
backend_ctr_check_linux(struct backend *b, const cJSON *hc, struct err *e)
{
	if (backend_ctr_check_caps(hc, "CapAdd", e) == -1 ||
	    backend_ctr_check_caps(hc, "CapDrop", e) == -1 ||
	    backend_ctr_check_ulimits(hc, e) == -1 ||
	    backend_ctr_check_ns(b, hc, e) == -1)
		return -1;
	return backend_ctr_check_host_only(b, hc, e);
}

/* Options kept in inspect as set, or refused when the cloud cannot do
 * them: docs/compat.md (issue 11, item 10) says which and why. */
int
backend_ctr_check_extras(struct backend *b, const cJSON *hc, struct err *e)
{
	const char *rt = json_str(hc, "Runtime");

	if (rt != NULL && rt[0] != '\0' && strcmp(rt, "runc") != 0)
		return err_set(e, 400, "Unknown runtime specified %s", rt);
	if (backend_ctr_check_linux(b, hc, e) == -1)
		return -1;
	if (!backend_ctr_unset(
		cJSON_GetObjectItemCaseSensitive(hc, "DeviceCgroupRules")))
		return err_set(e, 400,
		    "device cgroup rules (--device-cgroup-rule) cannot be "
		    "honoured by the %s backend: the cloud gives the "
		    "workload a fixed device list. Run the container "
		    "without --device-cgroup-rule.",
		    b->ops->name);
	if (!b->caps.flag[CAP_NETWORKS] &&
	    !backend_ctr_unset(cJSON_GetObjectItemCaseSensitive(hc, "Links")))
		return backend_ctr_no_links(b, e);
	return 0;
}

/* Checks one endpoint of NetworkingConfig.EndpointsConfig for the
 * container's own network (net) with dockerd's sentences for what the
 * default network refuses. */
int
backend_ctr_check_endpoint(
    struct backend *b, const char *net, const cJSON *ep, struct err *e)
{
	const cJSON *ipam = cJSON_GetObjectItemCaseSensitive(ep, "IPAMConfig");
	int deflt = strcmp(net, "bridge") == 0;

	if (!cJSON_IsObject(ep) && !cJSON_IsNull(ep))
		return err_set(e, 400,
		    "NetworkingConfig.EndpointsConfig.%s must be an object",
		    net);
	if (deflt &&
	    !backend_ctr_unset(cJSON_GetObjectItemCaseSensitive(ep, "Aliases")))
		return err_set(e, 400,
		    "network-scoped alias is supported only for containers "
		    "in user defined networks");
	if (deflt &&
	    (!backend_ctr_unset(
		 cJSON_GetObjectItemCaseSensitive(ipam, "IPv4Address")) ||
		!backend_ctr_unset(
		    cJSON_GetObjectItemCaseSensitive(ipam, "IPv6Address"))))
		return err_set(e, 400,
		    "user specified IP address is supported on user "
		    "defined networks only");
	if (!b->caps.flag[CAP_NETWORKS] &&
	    !backend_ctr_unset(cJSON_GetObjectItemCaseSensitive(ep, "Links")))
		return backend_ctr_no_links(b, e);
	if (!backend_ctr_unset(
		cJSON_GetObjectItemCaseSensitive(ep, "MacAddress")) ||
	    !backend_ctr_unset(
		cJSON_GetObjectItemCaseSensitive(ep, "DriverOpts")))
		return err_set(e, 400,
		    "a MAC address or network driver options cannot be set "
		    "on the %s backend: the cloud sets up the workload's "
		    "network interface. Run the container without "
		    "--mac-address and --network-opt (driver-opt).",
		    b->ops->name);
	return 0;
}

/* Docker's drivers that need a collector beside the engine: the workload's
 * output goes to the cloud's log service instead, so they cannot be
 * honoured (API 1.44 has no logentries; etwlogs is Windows only). */
static const char *const backend_ctr_log_foreign[] = { "syslog", "journald",
	"gelf", "fluentd", "awslogs", "splunk", "gcplogs", NULL };

/* The options each readable driver accepts, as dockerd's validators list
 * them; "none" takes any. */
static const char *const backend_ctr_log_opts_json[] = { "max-file", "max-size",
	"compress", "labels", "labels-regex", "env", "env-regex", "tag", NULL };
static const char *const backend_ctr_log_opts_local[] = { "max-file",
	"max-size", "compress", NULL };

static int
backend_ctr_in(const char *const *list, const char *s)
{
	for (; *list != NULL; list++)
		if (strcmp(*list, s) == 0)
			return 1;
	return 0;
}

/* Checks the option keys (dockerd's wording) and that every value is a
 * string, as Docker's map[string]string decoding demands. */
static int
backend_ctr_log_opts(const char *type, const cJSON *cfg, struct err *e)
{
	const cJSON *it;

	if (cfg != NULL && !cJSON_IsNull(cfg) && !cJSON_IsObject(cfg))
		return err_set(e, 400,
		    "HostConfig.LogConfig.Config must be an object of "
		    "option names to string values");
	if (!cJSON_IsObject(cfg))
		return 0;
	cJSON_ArrayForEach(it, cfg) {
		if (!cJSON_IsString(it))
			return err_set(e, 400,
			    "log opt '%s' must be a string value", it->string);
		if (strcmp(type, "json-file") == 0 &&
		    !backend_ctr_in(backend_ctr_log_opts_json, it->string))
			return err_set(e, 400,
			    "unknown log opt '%s' for json-file log driver",
			    it->string);
		if (strcmp(type, "local") == 0 &&
		    !backend_ctr_in(backend_ctr_log_opts_local, it->string))
			return err_set(e, 400,
			    "unknown log opt '%s' for log driver local",
			    it->string);
	}
	return 0;
}

/* Output always goes to the cloud's log service and reads back through the
 * logs API with json-file semantics, so json-file (the default), local and
 * none are kept as the user set them, options included; none only makes
 * docker logs refuse, as dockerd does. */
int
backend_ctr_log_config(struct backend *b, cJSON *hc, struct err *e)
{
	cJSON *lc = cJSON_GetObjectItemCaseSensitive(hc, "LogConfig");
	const char *type = json_str(lc, "Type");
	const cJSON *cfg = cJSON_GetObjectItemCaseSensitive(lc, "Config");
	cJSON *out;

	if (type == NULL || type[0] == '\0')
		type = "json-file";
	if (backend_ctr_in(backend_ctr_log_foreign, type))
		return err_set(e, 400,
		    "log driver %s cannot be used with the %s backend: it "
		    "keeps a container's output in the cloud's log service "
		    "with json-file semantics (read it with docker logs); "
		    "use --log-driver json-file, local or none",
		    type, b->ops->name);
	if (strcmp(type, "json-file") != 0 && strcmp(type, "local") != 0 &&
	    strcmp(type, "none") != 0)
		return err_set(e, 400,
		    "logger: no log driver named '%s' is registered", type);
	if (backend_ctr_log_opts(type, cfg, e) == -1)
		return -1;
	out = cJSON_CreateObject();
	json_add_str(out, "Type", type);
	cJSON_AddItemToObject(out, "Config",
	    cJSON_IsObject(cfg) ? cJSON_Duplicate(cfg, 1) :
				  cJSON_CreateObject());
	json_set(hc, "LogConfig", out);
	return 0;
}
