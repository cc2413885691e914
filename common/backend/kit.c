/* The backend kit's ops, start parking, capabilities, info, configuration
 * fragments, pure helpers and journals (sockerless/backend_kit.h). */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/sha.h>

#include "sockerless/backend_kit.h"
#include "sockerless/container.h"
#include "sockerless/json.h"
#include "sockerless/log.h"
#include "sockerless/reg.h"
#include "sockerless/str.h"
#include "sockerless/xmalloc.h"

/* --- the async op ----------------------------------------------------------
 */

void *
kit_op_new(size_t size, struct backend *b, struct container *c,
    backend_done_fn done, void *arg)
{
	struct kit_op *op = xcalloc(1, size);

	op->b = b;
	op->c = c;
	op->done = done;
	op->arg = arg;
	container_ref(c);
	return op;
}

void
kit_op_end(struct kit_op *op, const struct err *e)
{
	if (op->cleanup != NULL)
		op->cleanup(op);
	op->done(op->arg, e);
	if (op->timer != NULL)
		event_free(op->timer);
	container_unref(op->c);
	free(op);
}

void
kit_op_fail(struct kit_op *op, const struct err *e, const char *what)
{
	struct err w = *e;

	err_wrap(&w, "%s", what);
	kit_op_end(op, &w);
}

static void
kit_op_fire(evutil_socket_t fd, short what, void *arg)
{
	struct kit_op *op = arg;

	(void)fd;
	(void)what;
	op->later(op);
}

void
kit_op_later(struct kit_op *op, int ms, void (*fn)(struct kit_op *))
{
	struct timeval tv = { ms / 1000, (ms % 1000) * 1000 };

	op->later = fn;
	if (op->timer == NULL)
		op->timer = evtimer_new(backend_base(op->b), kit_op_fire, op);
	evtimer_add(op->timer, &tv);
}

/* --- start completes when running ---------------------------------------- */

/* The parked op sits in c->backend_data: runtime-only, like the op. */
void
kit_start_park(struct kit_op *op)
{
	op->c->backend_data = op;
}

int
kit_start_pending(const struct container *c)
{
	return c->backend_data != NULL;
}

void
kit_start_settle(struct container *c, const struct err *e)
{
	struct kit_op *op = c->backend_data;

	if (op == NULL)
		return;
	c->backend_data = NULL;
	kit_op_end(op, e);
}

/* --- capabilities, info -------------------------------------------------- */

void
kit_caps_base(struct caps *c)
{
	memset(c, 0, sizeof(*c));
	c->flag[CAP_LOGS] = 1;
}

void
kit_caps_agent(struct caps *c)
{
	static const enum caps_flag agent[] = { CAP_EXEC, CAP_ATTACH,
		CAP_ARCHIVE, CAP_TOP, CAP_STATS, CAP_PAUSE, CAP_SIGNALS,
		CAP_HEALTH_CHECKS, CAP_AGENT_REQUIRED, CAP_PUBLISH };

	for (size_t i = 0; i < sizeof(agent) / sizeof(agent[0]); i++)
		c->flag[agent[i]] = 1;
}

void
kit_info(struct backend *b, cJSON *info, const char *os, const char *name, ...)
{
	cJSON *labels = cJSON_CreateArray();
	const char *k, *v;
	va_list ap;
	char *s;

	json_set(info, "OperatingSystem", cJSON_CreateString(os));
	json_set(info, "Name", cJSON_CreateString(name));
	s = xasprintf("sockerless.backend=%s", backend_ops(b)->name);
	cJSON_AddItemToArray(labels, cJSON_CreateString(s));
	free(s);
	va_start(ap, name);
	while ((k = va_arg(ap, const char *)) != NULL &&
	    (v = va_arg(ap, const char *)) != NULL) {
		s = xasprintf("sockerless.%s=%s", k, v);
		cJSON_AddItemToArray(labels, cJSON_CreateString(s));
		free(s);
	}
	va_end(ap);
	json_set(info, "Labels", labels);
}

/* --- pure helpers --------------------------------------------------------- */

int
kit_env_each(const cJSON *kvs,
    int (*fn)(void *arg, const char *name, const char *value), void *arg)
{
	const cJSON *it;
	const char *eq;
	char *name;
	int rc;

	cJSON_ArrayForEach(it, kvs) {
		if (!cJSON_IsString(it) ||
		    (eq = strchr(it->valuestring, '=')) == NULL)
			continue;
		name =
		    xstrndup(it->valuestring, (size_t)(eq - it->valuestring));
		rc = fn(arg, name, eq + 1);
		free(name);
		if (rc == -1)
			return -1;
	}
	return 0;
}

long long
kit_mib_ceil(long long bytes)
{
	return (bytes + 1048575) / 1048576;
}

long long
kit_cpu_units(long long nano_cpus)
{
	return (nano_cpus * 1024 + 999999999) / 1000000000;
}

long long
kit_clamp(long long v, long long lo, long long hi)
{
	return v < lo ? lo : v > hi ? hi : v;
}

int
kit_memory_mib(const cJSON *hc, long long dflt, long long min, long long max,
    const char *what, long long *mib, struct err *e)
{
	int64_t bytes = json_int(hc, "Memory", 0);

	if (bytes <= 0) {
		*mib = dflt;
		return 0;
	}
	*mib = kit_mib_ceil(bytes);
	if (*mib > max)
		return err_set(e, 400,
		    "%s have at most %lld MiB of memory; %lld MiB was asked "
		    "for",
		    what, max, *mib);
	if (*mib < min)
		*mib = min;
	return 0;
}

int
kit_fixed_sandbox(
    const cJSON *hc, const char *be, const char *sandbox, struct err *e)
{
	static const struct {
		const char *key, *what, *flag;
	} opts[] = {
		{ "CapAdd", "capabilities", "--cap-add" },
		{ "CapDrop", "capabilities", "--cap-drop" },
		{ "Ulimits", "resource limits", "--ulimit" },
	};

	for (size_t i = 0; i < sizeof(opts) / sizeof(opts[0]); i++)
		if (cJSON_GetArraySize(json_arr(hc, opts[i].key)) > 0)
			return err_set(e, 400,
			    "%s (%s) cannot be honoured by the %s backend: %s "
			    "whose %s cannot be changed. Run the container "
			    "without %s.",
			    opts[i].what, opts[i].flag, be, sandbox,
			    opts[i].what, opts[i].flag);
	return 0;
}

int
kit_job_sandbox(
    const cJSON *hc, const struct kit_job_sandbox *sb, struct err *e)
{
	const char *nm = json_str(hc, "NetworkMode");

	if (kit_fixed_sandbox(hc, sb->be, sb->sandbox, e) == -1)
		return -1;
	if (json_bool(hc, "ReadonlyRootfs", 0))
		return err_set(e, 400,
		    "a read-only root file system (--read-only) cannot be "
		    "honoured by the %s backend: %s have no such setting. Run "
		    "the container without --read-only.",
		    sb->be, sb->jobs);
	if (nm != NULL && strcmp(nm, "none") == 0)
		return err_set(e, 400,
		    "--network none cannot be honoured by the %s backend: "
		    "every %s has a network, which the sockerless agent's link "
		    "uses. Run the container without --network none.",
		    sb->be, sb->unit);
	return 0;
}

int
kit_cursor_run(const char *cursor, const char *bar, int nruns)
{
	char digits[12];
	size_t n = (size_t)(bar - cursor);
	long long v;

	if (n == 0 || n >= sizeof(digits) || strspn(cursor, "0123456789") != n)
		return -1;
	memcpy(digits, cursor, n);
	digits[n] = '\0';
	if (str_tonum(digits, 0, nruns > 0 ? nruns - 1 : 0, &v, NULL) == -1)
		return -1;
	return (int)v;
}

int
kit_start_failure_code(const char *reason)
{
	if (reason == NULL)
		return 125;
	if (strstr(reason, "executable file not found") != NULL ||
	    strstr(reason, "no such file or directory") != NULL)
		return 127;
	if (strstr(reason, "permission denied") != NULL)
		return 126;
	return 125;
}

void
kit_start_failed(struct err *e, const char *what, const char *why)
{
	/* Docker's CLI maps these statuses to exit codes 125-127. */
	err_set(e, kit_start_failure_code(why) == 125 ? 500 : 400, "%s: %s",
	    what, why);
}

void
kit_ports_each(const struct container *c, int agent_port,
    void (*fn)(void *arg, int port, const char *proto), void *arg)
{
	cJSON *it, *extra = cJSON_CreateObject();
	const cJSON *sets[3] = { json_obj(container_config(c), "ExposedPorts"),
		json_obj(container_host_config(c), "PortBindings"), extra };
	struct strv seen;
	char port[16];

	snprintf(port, sizeof(port), "%d/tcp", agent_port);
	if (agent_port != 0)
		cJSON_AddItemToObject(extra, port, cJSON_CreateObject());
	strv_init(&seen);
	for (int i = 0; i < 3; i++) {
		cJSON_ArrayForEach(it, sets[i]) {
			const char *proto;
			int no;
			/* Create refused bad keys; an image's may be junk. */
			if (container_port_parse(it->string, &no, &proto) ==
				-1 ||
			    strv_contains(&seen, it->string))
				continue;
			strv_add(&seen, it->string);
			fn(arg, no, strcmp(proto, "udp") == 0 ? "udp" : "tcp");
		}
	}
	strv_free(&seen);
	cJSON_Delete(extra);
}

int
kit_agent_address(const struct container *c, const char *ip, int port,
    char *host, size_t hostsz, int *portp)
{
	if (ip == NULL || !(container_running(c) || kit_start_pending(c)) ||
	    snprintf(host, hostsz, "%s", ip) >= (int)hostsz)
		return -1;
	*portp = port;
	return 0;
}

#define KIT_MARK_LEN 8 /* strlen("stderr| ") */

void
kit_logs_unmark(struct backend_log_event *ev)
{
	const char *m = ev->msg;

	if (ev->len < KIT_MARK_LEN || memcmp(m, "std", 3) != 0 ||
	    (memcmp(m + 3, "out", 3) != 0 && memcmp(m + 3, "err", 3) != 0) ||
	    (m[6] != '|' && m[6] != '+') || m[7] != ' ')
		return;
	if (m[3] == 'e')
		ev->stream = STDSTREAM_STDERR;
	ev->partial = m[6] == '+';
	ev->msg += KIT_MARK_LEN;
	ev->len -= KIT_MARK_LEN;
}

void
kit_logs_tty(struct backend_log_event *ev)
{
	ev->partial = ev->len == 0 || ev->msg[ev->len - 1] != '\r';
}

void
kit_hash(const char *text, char *hex, size_t n)
{
	unsigned char md[SHA256_DIGEST_LENGTH];
	char all[2 * SHA256_DIGEST_LENGTH + 1];

	SHA256((const unsigned char *)text, strlen(text), md);
	str_hex(all, md, sizeof(md));
	memcpy(hex, all, n);
	hex[n] = '\0';
}

int
kit_agent_layer(const char *path, const char *dest, struct reg_layer *l,
    const char *key, const char *hint, struct err *e)
{
	struct buf bin;
	struct reg_file f;
	FILE *fp;
	char chunk[65536];
	size_t n;
	int rc;

	if ((fp = fopen(path, "rb")) == NULL)
		return err_set(
		    e, 500, "%s %s: %s; %s", key, path, strerror(errno), hint);
	buf_init(&bin, 0);
	while ((n = fread(chunk, 1, sizeof(chunk), fp)) > 0)
		buf_add(&bin, chunk, n);
	fclose(fp);
	memset(&f, 0, sizeof(f));
	f.path = dest;
	f.mode = 0755;
	f.data = bin.data;
	f.len = bin.len;
	if ((rc = reg_layer_build(&f, 1, l, e)) == 0)
		log_info("agent layer %s (%zu bytes) from %s", l->digest,
		    l->len, path);
	buf_free(&bin);
	return rc;
}

/* --- durable JSON journals ------------------------------------------------ */

cJSON *
kit_journal_load(struct backend *b, const char *key)
{
	char *v = backend_kv_get(b, key);
	cJSON *o = v != NULL ? cJSON_Parse(v) : NULL;

	free(v);
	if (!cJSON_IsObject(o)) {
		cJSON_Delete(o);
		o = cJSON_CreateObject();
	}
	return o;
}

void
kit_journal_put(
    struct backend *b, const char *key, const char *name, cJSON *value)
{
	cJSON *o = kit_journal_load(b, key);
	char *text;

	cJSON_DeleteItemFromObjectCaseSensitive(o, name);
	if (value != NULL)
		cJSON_AddItemToObject(o, name, value);
	if (cJSON_GetArraySize(o) == 0) {
		backend_kv_del(b, key);
	} else {
		text = json_print(o);
		backend_kv_set(b, key, text);
		free(text);
	}
	cJSON_Delete(o);
}

int
kit_journal_has(struct backend *b, const char *key, const char *name)
{
	cJSON *o = kit_journal_load(b, key);
	int r = cJSON_GetObjectItemCaseSensitive(o, name) != NULL;

	cJSON_Delete(o);
	return r;
}

struct kit_find {
	const char *id;
	struct container *c;
};

static void
kit_find_id(struct backend *b, struct container *c, void *arg)
{
	struct kit_find *f = arg;

	(void)b;
	if (f->id != NULL && strcmp(c->id, f->id) == 0)
		f->c = c;
}

struct container *
kit_container_by_id(struct backend *b, const char *id)
{
	struct kit_find f = { id, NULL };

	backend_container_foreach(b, kit_find_id, &f);
	return f.c;
}
