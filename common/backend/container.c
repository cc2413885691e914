/* Container documents: accessors, state, and Docker's inspect and list
 * shapes. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend_int.h"
#include "backend_vol.h"
#include "sockerless/buf.h"
#include "sockerless/container.h"
#include "sockerless/json.h"
#include "sockerless/log.h"
#include "sockerless/store.h"
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

/* FNV-1a: whether a tree about to be dropped still prints as the text the
 * store holds (container_drop). */
static uint64_t
container_text_sum(const char *text, size_t len)
{
	uint64_t h = 14695981039346656037ULL;

	for (size_t i = 0; i < len; i++) {
		h ^= (unsigned char)text[i];
		h *= 1099511628211ULL;
	}
	return h;
}

struct container *
container_new(const char *id, cJSON *doc)
{
	struct container *c = xcalloc(1, sizeof(*c));

	str_lcpy(c->id, id, sizeof(c->id));
	container_private_first(doc);
	c->tree = doc;
	c->refs = 1;
	return c;
}

struct container *
container_new_cold(struct store *store, const struct store_ctr_row *row)
{
	struct container *c = xcalloc(1, sizeof(*c));

	str_lcpy(c->id, row->id, sizeof(c->id));
	c->store = store;
	c->cold_name = xstrdup(row->name);
	str_lcpy(c->cold_status, row->state, sizeof(c->cold_status));
	c->cold_facts = xmalloc(row->factslen + 1);
	memcpy(c->cold_facts, row->facts, row->factslen);
	c->cold_facts[row->factslen] = '\0';
	c->refs = 1;
	return c;
}

void
container_saved(struct container *c, const char *text)
{
	c->tree_sum = container_text_sum(text, strlen(text));
}

/* --- facts -----------------------------------------------------------------
 * What the walks over every container read (a poller finding a task's
 * container, a definition's users, a volume's or an image's users), kept
 * beside a cold container and in the store so that they need not parse
 * its document: a list of NUL-terminated entries, ended by an empty one.
 * "pKEY=VALUE" is a private string value (up to CONTAINER_FACT_MAX
 * bytes), "pKEY" a private key with another value, "vNAME" a volume the
 * container mounts, "iID" its image id. What the list filters read
 * (container_ps_get) is there too: "cIMAGE" (Config.Image as given),
 * "xCODE" (State.ExitCode, always written), "lKEY=VALUE" a label, or "L"
 * when a label cannot be written so (a key with '=', a value that is not
 * a string): then the filters read the document. And what a list's Status
 * is made of: "sNS" and "fNS" (StartedAt, FinishedAt). The rendered entry
 * the list prints is kept in the store beside them, not here
 * (container_store), so that a first ps -a after a restart reads no
 * document either. */

#define CONTAINER_FACT_MAX 512

static char *container_entry_render(
    const struct container *c, size_t *len, size_t *split);
static struct container_ps *container_ps_get(struct container *c);

static void
container_fact_add(struct buf *out, char kind, const char *a, const char *b)
{
	buf_add(out, &kind, 1);
	buf_add(out, a, strlen(a));
	if (b != NULL) {
		buf_add(out, "=", 1);
		buf_add(out, b, strlen(b));
	}
	buf_add(out, "", 1);
}

char *
container_facts(const struct container *c, size_t *len)
{
	const cJSON *doc = container_doc(c), *it;
	struct buf out;
	const char *img = json_str(doc, "Image");
	const char *cimg = json_str(json_obj(doc, "Config"), "Image");
	const cJSON *st = json_obj(doc, "State");
	char code[48];
	int64_t t;

	buf_init(&out, 0);
	cJSON_ArrayForEach(it, json_obj(doc, CONTAINER_PRIVATE)) {
		if (it->string == NULL || strchr(it->string, '=') != NULL)
			continue;
		container_fact_add(&out, 'p', it->string,
		    cJSON_IsString(it) &&
			    strlen(it->valuestring) <= CONTAINER_FACT_MAX ?
			it->valuestring :
			NULL);
	}
	cJSON_ArrayForEach(it,
	    json_arr(json_obj(doc, CONTAINER_PRIVATE), BACKEND_PRIV_MOUNTS)) {
		if (json_str(it, "Volume") != NULL)
			container_fact_add(
			    &out, 'v', json_str(it, "Volume"), NULL);
	}
	if (img != NULL)
		container_fact_add(&out, 'i', img, NULL);
	if (cimg != NULL)
		container_fact_add(&out, 'c', cimg, NULL);
	snprintf(
	    code, sizeof(code), "%lld", (long long)json_int(st, "ExitCode", 0));
	container_fact_add(&out, 'x', code, NULL);
	t = 0;
	str_time_parse(json_str(st, "StartedAt"), &t);
	snprintf(code, sizeof(code), "%lld", (long long)t);
	container_fact_add(&out, 's', code, NULL);
	t = 0;
	str_time_parse(json_str(st, "FinishedAt"), &t);
	snprintf(code, sizeof(code), "%lld", (long long)t);
	container_fact_add(&out, 'f', code, NULL);
	cJSON_ArrayForEach(it, json_obj(json_obj(doc, "Config"), "Labels")) {
		if (it->string == NULL || strchr(it->string, '=') != NULL ||
		    !cJSON_IsString(it)) {
			container_fact_add(&out, 'L', "", NULL);
			break;
		}
		container_fact_add(&out, 'l', it->string, it->valuestring);
	}
	buf_add(&out, "", 1);
	return buf_take(&out, len);
}

int
container_store(struct container *c, struct store *s, const char *text,
    const char *facts, size_t factslen, struct err *e)
{
	size_t elen, split;
	char *entry = container_entry_render(c, &elen, &split);
	char head[32];
	struct buf blob;
	int rc;

	/* "SPLIT:TEXT": where Status goes, then the entry without it. */
	buf_init(&blob, 0);
	snprintf(head, sizeof(head), "%zu:", split);
	buf_adds(&blob, head);
	buf_add(&blob, entry, elen);
	free(entry);
	rc = store_container_put(s,
	    &(struct store_ctr_row){ .id = c->id,
		.name = container_name(c),
		.state = container_status(c),
		.doc = text,
		.facts = facts,
		.factslen = factslen,
		.entry = blob.data,
		.entrylen = blob.len },
	    e);
	buf_free(&blob);
	return rc;
}

/* The entry kind+key ("=" and a value may follow), or NULL. */
static const char *
container_fact_find(const struct container *c, char kind, const char *key)
{
	size_t kl = strlen(key);

	for (const char *f = c->cold_facts; f != NULL && *f != '\0';
	     f += strlen(f) + 1) {
		if (f[0] == kind && strncmp(f + 1, key, kl) == 0 &&
		    (f[kl + 1] == '\0' || f[kl + 1] == '='))
			return f;
	}
	return NULL;
}

const char *
container_private_str(const struct container *c, const char *key)
{
	const char *f;

	if (c->tree == NULL && c->cold_facts != NULL) {
		if ((f = container_fact_find(c, 'p', key)) == NULL)
			return NULL;
		if (f[strlen(key) + 1] == '=')
			return f + strlen(key) + 2;
		/* Not a short string: the document says. */
	}
	return json_str(json_obj(container_doc(c), CONTAINER_PRIVATE), key);
}

int
container_private_has(const struct container *c, const char *key)
{
	if (c->tree == NULL && c->cold_facts != NULL)
		return container_fact_find(c, 'p', key) != NULL;
	return cJSON_GetObjectItemCaseSensitive(
		   json_obj(container_doc(c), CONTAINER_PRIVATE), key) != NULL;
}

int
container_mounts_volume(const struct container *c, const char *name)
{
	const cJSON *it;

	if (c->tree == NULL && c->cold_facts != NULL)
		return container_fact_find(c, 'v', name) != NULL;
	cJSON_ArrayForEach(it,
	    json_arr(json_obj(container_doc(c), CONTAINER_PRIVATE),
		BACKEND_PRIV_MOUNTS)) {
		const char *vn = json_str(it, "Volume");
		if (vn != NULL && strcmp(vn, name) == 0)
			return 1;
	}
	return 0;
}

/* The value of c's first fact of kind (with no key), or NULL. */
static const char *
container_fact_of(const struct container *c, char kind)
{
	for (const char *f = c->cold_facts; f != NULL && *f != '\0';
	     f += strlen(f) + 1)
		if (f[0] == kind)
			return f + 1;
	return NULL;
}

const char *
container_image_id(const struct container *c)
{
	if (c->tree == NULL && c->cold_facts != NULL)
		return container_fact_of(c, 'i');
	return json_str(container_doc(c), "Image");
}

/* A cold document read back: what the store holds, or (a row gone or
 * unreadable, which only a damaged database gives) a document of what
 * is known, so that no reader meets a NULL. */
static void
container_load(struct container *c)
{
	struct err e;
	char *text = NULL;
	size_t len = 0;
	cJSON *doc = NULL, *st;

	if (c->store == NULL)
		err_set(&e, 500, "no store");
	else if (store_container_doc(c->store, c->id, &text, &len, &e) == 0) {
		if (text == NULL)
			err_set(&e, 500, "no row");
		else
			doc = json_parse(text, len, &e);
	}
	if (doc == NULL) {
		char *n = xasprintf("/%s", c->cold_name);
		log_warnx(
		    "container %.12s: reading its document: %s", c->id, e.msg);
		doc = cJSON_CreateObject();
		json_add_str(doc, "Id", c->id);
		json_add_str(doc, "Name", n);
		st = cJSON_CreateObject();
		json_add_str(st, "Status", c->cold_status);
		cJSON_AddItemToObject(doc, "State", st);
		free(n);
	} else
		c->tree_sum = container_text_sum(text, len);
	free(text);
	container_private_first(doc);
	c->tree = doc;
}

cJSON *
container_doc(const struct container *cc)
{
	/* Logically const: reading a cold document back changes no value
	 * anyone sees. */
	struct container *c = (struct container *)cc;

	if (c->tree == NULL)
		container_load(c);
	c->tree_used = 1;
	return c->tree;
}

int
container_cold(const struct container *c)
{
	return c->tree == NULL;
}

/* Drops the tree: its text is what the store holds (saved first if the
 * tree was changed without a save, so nothing is lost). */
void
container_drop(struct container *c)
{
	char *text = json_print(c->tree);
	const char *st = json_str(json_obj(c->tree, "State"), "Status");
	const char *n = container_name(c);
	struct err e;
	size_t len;
	char *facts = container_facts(c, &len), *name;

	if (container_text_sum(text, strlen(text)) != c->tree_sum) {
		log_debug("container %.12s: saving a change before its "
			  "document is dropped",
		    c->id);
		if (c->store != NULL &&
		    container_store(c, c->store, text, facts, len, &e) == -1) {
			log_warnx("saving container %.12s: %s", c->id, e.msg);
			free(facts);
			free(text);
			return; /* kept: the tree is the only copy */
		}
	}
	free(text);
	name = xstrdup(n != NULL ? n : ""); /* n may be the old cold_name */
	free(c->cold_name);
	c->cold_name = name;
	str_lcpy(c->cold_status, st != NULL ? st : "", sizeof(c->cold_status));
	free(c->cold_facts);
	c->cold_facts = facts;
	cJSON_Delete(c->tree);
	c->tree = NULL;
	c->tree_used = 0;
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
	cJSON_Delete(c->tree);
	free(c->cold_name);
	free(c->cold_facts);
	container_touch(c);
	/* Only the list head is left: every waiter holds a reference. */
	free(c->waiters);
	free(c);
}

const cJSON *
container_config(const struct container *c)
{
	return json_obj(container_doc(c), "Config");
}

const cJSON *
container_host_config(const struct container *c)
{
	return json_obj(container_doc(c), "HostConfig");
}

const char *
container_name(const struct container *c)
{
	const char *n;

	if (c->tree == NULL)
		return c->cold_name;
	n = json_str(c->tree, "Name");

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
	const char *ref =
	    json_str(json_obj(container_doc(c), CONTAINER_PRIVATE),
		BACKEND_PRIV_IMAGE_REF);

	return ref != NULL ? ref : container_image(c);
}

cJSON *
container_private(struct container *c)
{
	cJSON *doc = container_doc(c);
	cJSON *p = json_obj(doc, CONTAINER_PRIVATE);

	if (p == NULL) {
		p = cJSON_CreateObject();
		json_set(doc, CONTAINER_PRIVATE, p);
		container_private_first(doc);
	}
	return p;
}

cJSON *
container_state(struct container *c)
{
	return json_obj(container_doc(c), "State");
}

int
container_running(const struct container *c)
{
	/* A cold container is never running (backend_ctr_droppable). */
	if (c->tree == NULL)
		return 0;
	return json_bool(json_obj(c->tree, "State"), "Running", 0);
}

int
container_restarting(const struct container *c)
{
	const char *st = container_status(c);

	return st != NULL && strcmp(st, "restarting") == 0;
}

const char *
container_status(const struct container *c)
{
	if (c->tree == NULL)
		return c->cold_status;
	return json_str(json_obj(c->tree, "State"), "Status");
}

/* Sets Status and the booleans Docker derives from it. */
void
container_set_state(struct container *c, const char *status)
{
	cJSON *st = container_state(c);

	container_touch(c);
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
	cJSON *o = cJSON_Duplicate(container_doc(c), 1), *def;

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

/* What Status ("Up 5 minutes", "Exited (3) 2 seconds ago", "Created") is
 * made of, as of the document's last change: container_list_entry keeps
 * it with the cached entry, so that a list of 10k containers does not walk
 * 10k State objects (scattered in memory) to print it. */
struct container_status_in {
	char status[12];	   /* State.Status; "" for none */
	int64_t started, finished; /* ns */
	long long exit_code;
};

static void
container_status_in(const struct container *c, struct container_status_in *in)
{
	const cJSON *st = json_obj(container_doc(c), "State");

	str_lcpy(in->status,
	    json_str(st, "Status") != NULL ? json_str(st, "Status") : "",
	    sizeof(in->status));
	in->started = in->finished = 0;
	str_time_parse(json_str(st, "StartedAt"), &in->started);
	str_time_parse(json_str(st, "FinishedAt"), &in->finished);
	in->exit_code = (long long)json_int(st, "ExitCode", 0);
}

/* Status from its parts; the health (running and paused only) is read from
 * the document now: it may change without a save. */
static void
container_status_fmt(const struct container *c,
    const struct container_status_in *in, char *out, size_t size)
{
	const char *status = in->status, *hs;
	char dur[64];

	if (status[0] == '\0' || strcmp(status, "created") == 0) {
		snprintf(out, size, "Created");
		return;
	}
	if (strcmp(status, "running") == 0 || strcmp(status, "paused") == 0) {
		container_human_duration(
		    dur, sizeof(dur), str_now_ns() - in->started);
		/* Docker: "Up 5 minutes (healthy)", "(health: starting)". */
		hs = json_str(
		    json_obj(json_obj(container_doc(c), "State"), "Health"),
		    "Status");
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
	container_human_duration(dur, sizeof(dur), str_now_ns() - in->finished);
	snprintf(out, size, "%s (%lld) %s ago",
	    strcmp(status, "restarting") == 0 ? "Restarting" : "Exited",
	    in->exit_code, dur);
}

static void
container_status_text(const struct container *c, char *out, size_t size)
{
	struct container_status_in in;

	container_status_in(c, &in);
	container_status_fmt(c, &in, out, size);
}

/* Docker's "Command" column: the path and the args joined by spaces, an
 * arg with a space in single quotes (dockerd's list.go; no escaping). */
static char *
container_command_text(const struct container *c)
{
	struct buf b;
	const cJSON *args = json_arr(container_doc(c), "Args"), *it;
	const char *path = json_str(container_doc(c), "Path");

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
	    json_obj(json_obj(container_doc(c), "NetworkSettings"), "Ports");

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

/* The summary's keys before Status (Id to State) and after it (HostConfig,
 * NetworkSettings, Mounts), in dockerd's order. */
static void
container_summary_parts(const struct container *c, cJSON **head, cJSON **tail)
{
	cJSON *o = cJSON_CreateObject(), *names = cJSON_CreateArray(), *hc, *ns;
	const cJSON *cfg = container_config(c);
	const cJSON *labels = json_obj(cfg, "Labels");
	const cJSON *mounts = json_arr(container_doc(c), "Mounts");
	const cJSON *nets =
	    json_obj(json_obj(container_doc(c), "NetworkSettings"), "Networks");
	char *cmd;
	int64_t created = 0;

	json_add_str(o, "Id", c->id);
	cJSON_AddItemToArray(
	    names, cJSON_CreateString(json_str(container_doc(c), "Name")));
	cJSON_AddItemToObject(o, "Names", names);
	json_add_str(o, "Image", container_image(c));
	json_add_str(o, "ImageID", json_str(container_doc(c), "Image"));
	cmd = container_command_text(c);
	json_add_str(o, "Command", cmd);
	free(cmd);
	str_time_parse(json_str(container_doc(c), "Created"), &created);
	json_add_int(o, "Created", created / 1000000000);
	cJSON_AddItemToObject(o, "Ports", container_ports_list(c));
	cJSON_AddItemToObject(o, "Labels",
	    labels != NULL ? cJSON_Duplicate(labels, 1) : cJSON_CreateObject());
	json_add_str(o, "State",
	    json_str(json_obj(container_doc(c), "State"), "Status"));
	*head = o;
	o = cJSON_CreateObject();
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
	*tail = o;
}

/* c's list entry without Status: "{...head keys" and "tail keys...}"
 * back to back; *split is where Status goes. Caller frees. */
static char *
container_entry_render(const struct container *c, size_t *len, size_t *split)
{
	cJSON *head, *tail;
	char *h, *t, *text;
	size_t hl, tl;

	container_summary_parts(c, &head, &tail);
	h = json_print(head);
	t = json_print(tail);
	hl = strlen(h) - 1; /* without the closing brace */
	tl = strlen(t) - 1; /* without the opening brace */
	text = xmalloc(hl + tl + 1);
	memcpy(text, h, hl);
	memcpy(text + hl, t + 1, tl + 1);
	*len = hl + tl;
	*split = hl;
	free(h);
	free(t);
	cJSON_Delete(head);
	cJSON_Delete(tail);
	return text;
}

cJSON *
container_summary_json(const struct container *c)
{
	cJSON *o, *tail, *it;
	char status[128];

	container_summary_parts(c, &o, &tail);
	container_status_text(c, status, sizeof(status));
	json_add_str(o, "Status", status);
	while ((it = tail->child) != NULL)
		cJSON_AddItemToObject(
		    o, it->string, cJSON_DetachItemViaPointer(tail, it));
	cJSON_Delete(tail);
	return o;
}

/* A rendered list entry: the summary's JSON text without Status, which
 * goes at split (the head's keys end there, the tail's begin), and what
 * Status is made of. */
struct container_ps {
	/* in.status and in.exit_code are always set; the rest once have_in
	 * (from the document, or from a cold container's facts). */
	struct container_status_in in;
	int have_in;
	/* What the list filters read (container_ps_facts), copied from the
	 * document: a filtered ps of 10k containers reads these instead of
	 * looking keys up in 10k documents. */
	struct container_facts facts;
	char *name, *image, *image_id;
	cJSON *labels;
	char *text; /* NULL until the first list that prints c */
	size_t len, split;
};

static void
container_ps_free(struct container_ps *l)
{
	if (l == NULL)
		return;
	free(l->name);
	free(l->image);
	free(l->image_id);
	cJSON_Delete(l->labels);
	free(l->text);
	free(l);
}

void
container_touch(struct container *c)
{
	container_ps_free(c->ps);
	c->ps = NULL;
}

static char *
container_strdup_or_null(const char *s)
{
	return s != NULL ? xstrdup(s) : NULL;
}

/* What the filters read, from a cold container's facts; 0 when they do
 * not hold it all. */
static int
container_ps_from_facts(struct container *c, struct container_ps *l)
{
	const char *code = container_fact_of(c, 'x'), *f, *eq;
	long long n;

	if (c->tree != NULL || code == NULL ||
	    container_fact_of(c, 'L') != NULL)
		return 0;
	n = strtoll(code, NULL, 10);
	str_lcpy(l->in.status, c->cold_status, sizeof(l->in.status));
	l->in.exit_code = n;
	l->name = container_strdup_or_null(c->cold_name);
	l->image = container_strdup_or_null(container_fact_of(c, 'c'));
	l->image_id = container_strdup_or_null(container_fact_of(c, 'i'));
	for (f = c->cold_facts; *f != '\0'; f += strlen(f) + 1) {
		if (f[0] != 'l' || (eq = strchr(f, '=')) == NULL)
			continue;
		if (l->labels == NULL)
			l->labels = cJSON_CreateObject();
		{
			char *k = xstrndup(f + 1, (size_t)(eq - f - 1));
			json_add_str(l->labels, k, eq + 1);
			free(k);
		}
	}
	l->facts.status = c->cold_status[0] != '\0' ? l->in.status : NULL;
	/* What Status is made of; the entry itself is read from the store
	 * when a list prints it (container_list_entry). */
	if (container_fact_of(c, 's') != NULL &&
	    container_fact_of(c, 'f') != NULL) {
		l->in.started = strtoll(container_fact_of(c, 's'), NULL, 10);
		l->in.finished = strtoll(container_fact_of(c, 'f'), NULL, 10);
		l->have_in = 1;
	}
	return 1;
}

int
container_entry_missing(const struct container *c)
{
	return c->tree == NULL && (c->ps == NULL || c->ps->text == NULL);
}

int
container_entry_set(struct container *c, const void *blob, size_t len)
{
	struct container_ps *l = container_ps_get(c);
	const char *p = blob, *colon = memchr(p, ':', len);
	unsigned long long split = 0;

	if (colon == NULL || colon == p)
		return -1;
	for (const char *d = p; d < colon; d++) {
		if (*d < '0' || *d > '9' || split > (1ULL << 40))
			return -1;
		split = split * 10 + (unsigned long long)(*d - '0');
	}
	len -= (size_t)(colon + 1 - p);
	/* Both halves hold a key: '{' ... and ... '}'. */
	if (split < 1 || split >= len || colon[1] != '{' || colon[len] != '}')
		return -1;
	free(l->text);
	l->text = xstrndup(colon + 1, len);
	l->len = len;
	l->split = (size_t)split;
	return 0;
}

/* A cold container's entry as the store keeps it; 0 when it was. */
static int
container_entry_read(struct container *c)
{
	struct err e;
	char *blob = NULL;
	size_t len = 0;
	int rc = -1;

	if (c->store == NULL)
		return -1;
	if (store_container_entry(c->store, c->id, &blob, &len, &e) == -1)
		log_warnx("container %.12s: reading its list entry: %s", c->id,
		    e.msg);
	else if (blob != NULL)
		rc = container_entry_set(c, blob, len);
	free(blob);
	return rc;
}

/* The cached part of c's entry, made now if the document changed since. */
static struct container_ps *
container_ps_get(struct container *c)
{
	struct container_ps *l = c->ps;
	const cJSON *labels;

	if (l != NULL)
		return l;
	l = xcalloc(1, sizeof(*l));
	if (!container_ps_from_facts(c, l)) {
		container_status_in(c, &l->in);
		l->have_in = 1;
		l->name = container_strdup_or_null(container_name(c));
		l->image = container_strdup_or_null(container_image(c));
		l->image_id = container_strdup_or_null(
		    json_str(container_doc(c), "Image"));
		labels = json_obj(container_config(c), "Labels");
		l->labels = labels != NULL ? cJSON_Duplicate(labels, 1) : NULL;
		l->facts.status = json_str(json_obj(container_doc(c), "State"),
				      "Status") != NULL ?
		    l->in.status :
		    NULL;
	}
	l->facts.exit_code = l->in.exit_code;
	l->facts.name = l->name;
	l->facts.image = l->image;
	l->facts.image_id = l->image_id;
	l->facts.labels = l->labels;
	c->ps = l;
	return l;
}

const struct container_facts *
container_ps_facts(struct container *c)
{
	return &container_ps_get(c)->facts;
}

/* Appends s as a JSON string (quoted, escaped). */
static void
container_json_str(struct buf *out, const char *s)
{
	static const char hex[] = "0123456789abcdef";
	const char *run = s;

	buf_add(out, "\"", 1);
	for (; *s != '\0'; s++) {
		unsigned char ch = (unsigned char)*s;
		if (ch >= 0x20 && ch != '"' && ch != '\\')
			continue;
		buf_add(out, run, (size_t)(s - run));
		run = s + 1;
		if (ch == '"' || ch == '\\') {
			char esc[2] = { '\\', (char)ch };
			buf_add(out, esc, 2);
		} else {
			char esc[6] = { '\\', 'u', '0', '0', hex[ch >> 4],
				hex[ch & 15] };
			buf_add(out, esc, 6);
		}
	}
	buf_add(out, run, (size_t)(s - run));
	buf_add(out, "\"", 1);
}

/* The entry is rendered once per change of the document (container_touch)
 * and kept as text: a list then copies it and adds Status, the one field
 * that changes with the clock. The text is "{...head keys" and "tail
 * keys...}" back to back: both objects always have keys (Id; HostConfig),
 * so the entry is head + ,"Status":"..." + , + tail.
 *
 * Why a cache is never stale: it is read and rebuilt only here, in a list
 * request's callback, and every change of the document is followed by a
 * save (which touches) in the same event-loop callback, as the store must
 * hold what clients see; container_set_state and the endpoint changes
 * touch as well. The daemon is single-threaded, so no list runs between a
 * change and its save. */
void
container_list_entry(struct container *c, struct buf *out)
{
	struct container_ps *l = container_ps_get(c);
	char status[128];

	if (!l->have_in) {
		container_status_in(c, &l->in);
		l->have_in = 1;
	}
	/* A cold container's entry is in the store: reading it there costs
	 * no parse of its document. */
	if (l->text == NULL &&
	    (c->tree != NULL || container_entry_read(c) == -1))
		l->text = container_entry_render(c, &l->len, &l->split);
	container_status_fmt(c, &l->in, status, sizeof(status));
	buf_add(out, l->text, l->split);
	buf_add(out, ",\"Status\":", 10);
	container_json_str(out, status);
	buf_add(out, ",", 1);
	buf_add(out, l->text + l->split, l->len - l->split);
}
