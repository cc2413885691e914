/* The container set as clients see it: list (ps) with its filters,
 * inspect, rename and prune. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend_ctr.h"
#include "backend_net.h"
#include "backend_sys.h"
#include "sockerless/buf.h"
#include "sockerless/container.h"
#include "sockerless/filters.h"
#include "sockerless/id.h"
#include "sockerless/json.h"
#include "sockerless/log.h"
#include "sockerless/store.h"
#include "sockerless/xmalloc.h"

/* --- list and inspect --------------------------------------------------- */

static const char *backend_ctr_filter_keys[] = { "id", "name", "label",
	"status", "exited", "ancestor", "before", "since", "network", "volume",
	"health", "isolation", "is-task", "publish", "expose", NULL };

/* The volume filter: a mount by volume name (a bind's source) or by
 * destination, as dockerd's. */
static int
backend_ctr_has_volume(const struct container *c, const struct filters *f)
{
	const cJSON *m;

	cJSON_ArrayForEach(m, json_arr(container_doc(c), "Mounts")) {
		const char *name = json_str(m, "Name");
		if (filters_match_exact(f, "volume",
			name != NULL ? name : json_str(m, "Source")) ||
		    filters_match_exact(
			f, "volume", json_str(m, "Destination")))
			return 1;
	}
	return 0;
}

/* The network filter: an endpoint by network name or id. */
static int
backend_ctr_on_network(const struct container *c, const struct filters *f)
{
	const cJSON *ep;

	cJSON_ArrayForEach(ep, backend_net_endpoints(c)) {
		if (filters_match_exact(f, "network", ep->string) ||
		    filters_match_exact(
			f, "network", json_str(ep, "NetworkID")))
			return 1;
	}
	return 0;
}

/* The filters read what the cached list entry holds (container_ps_facts,
 * copied from the document once per change), not the document: a
 * filtered ps -a of 10k containers looks no key up in 10k documents.
 * Volume and network are rare and read the document. */
static int
backend_ctr_matches(struct backend *b, struct container *c,
    const struct filters *f, struct err *e)
{
	const struct container_facts *fa;
	const char *names[2] = { NULL, NULL };
	char exit_code[24];
	int r;

	(void)b;
	if (!filters_match_id_prefix(f, "id", c->id))
		return 0;
	fa = container_ps_facts(c);
	if (filters_has(f, "name")) {
		names[0] = fa->name;
		if ((r = filters_match_regex(f, "name", names, e)) <= 0)
			return r;
	}
	if (filters_has(f, "label") &&
	    !filters_match_labels(f, "label", fa->labels))
		return 0;
	if (filters_has(f, "status") &&
	    !filters_match_exact(f, "status", fa->status))
		return 0;
	if (filters_has(f, "exited")) {
		snprintf(exit_code, sizeof(exit_code), "%lld", fa->exit_code);
		if (fa->status == NULL || strcmp(fa->status, "exited") != 0 ||
		    !filters_match_exact(f, "exited", exit_code))
			return 0;
	}
	if (filters_has(f, "ancestor") &&
	    !filters_match_exact(f, "ancestor", fa->image) &&
	    !filters_match_exact(f, "ancestor", fa->image_id))
		return 0;
	if (filters_has(f, "volume") && !backend_ctr_has_volume(c, f))
		return 0;
	return !filters_has(f, "network") || backend_ctr_on_network(c, f);
}

static int
backend_ctr_newest_first(const void *a, const void *b)
{
	const struct container *ca = *(struct container *const *)a;
	const struct container *cb = *(struct container *const *)b;
	int64_t ta = 0, tb = 0;

	str_time_parse(json_str(container_doc(ca), "Created"), &ta);
	str_time_parse(json_str(container_doc(cb), "Created"), &tb);
	if (ta != tb)
		return ta < tb ? 1 : -1;
	return strcmp(ca->id, cb->id);
}

/* The containers ps looks at, newest first, NULL-terminated (the caller
 * frees the array): the running ones come from the active index, so that a
 * plain docker ps does not walk a state of 100k containers. */
static struct container **
backend_ctr_list_candidates(struct backend *b, int running_only)
{
	struct container **v, *c;
	size_t n = 0;

	if (running_only) {
		v = xreallocarray(NULL, b->active.n + 1, sizeof(*v));
		for (n = 0; n < b->active.n; n++)
			v[n] = b->active.v[n];
		qsort(v, n, sizeof(*v), backend_ctr_newest_first);
	} else {
		v = xreallocarray(NULL, b->by_id.n + 1, sizeof(*v));
		TAILQ_FOREACH(c, &b->containers, entry)
			v[n++] = c;
	}
	v[n] = NULL;
	return v;
}

/* --- the entries of cold containers ---------------------------------------
 * A cold container's list entry is in the store (container_store), not in
 * memory. A list that prints a few reads theirs one by one
 * (container_list_entry); one that prints many of the state's reads them
 * all in one scan of their table, which costs about as much as 1/16 of
 * them one by one. */

#define BACKEND_ENTRY_SCAN_MIN 64

struct backend_entry_scan {
	struct backend *b;
	struct container **want; /* sorted by address */
	size_t n;
};

static int
backend_ctr_by_addr(const void *a, const void *b)
{
	uintptr_t x = (uintptr_t) * (struct container *const *)a;
	uintptr_t y = (uintptr_t) * (struct container *const *)b;

	return x < y ? -1 : x > y;
}

static void
backend_ctr_entry_row(void *arg, const char *id, const void *entry, size_t len)
{
	struct backend_entry_scan *s = arg;
	struct container *c = backend_index_get(&s->b->by_id, id);

	if (c == NULL || !container_entry_missing(c) ||
	    bsearch(&c, s->want, s->n, sizeof(*s->want), backend_ctr_by_addr) ==
		NULL)
		return;
	if (container_entry_set(c, entry, len) == -1)
		log_warnx(
		    "container %.12s: its stored list entry is malformed; "
		    "made again from its document",
		    c->id);
}

/* Reads the stored entries of v's cold containers in one scan when there
 * are many; those it does not find are read one by one, or made from the
 * document. */
static void
backend_ctr_entries_load(struct backend *b, struct container **v, size_t n)
{
	struct backend_entry_scan s = { b, NULL, 0 };
	struct err e;

	s.want = xreallocarray(NULL, n + 1, sizeof(*s.want));
	for (size_t i = 0; i < n; i++)
		if (container_entry_missing(v[i]))
			s.want[s.n++] = v[i];
	if (s.n >= BACKEND_ENTRY_SCAN_MIN && s.n >= b->by_id.n / 16) {
		qsort(s.want, s.n, sizeof(*s.want), backend_ctr_by_addr);
		if (store_container_entries(
			b->store, backend_ctr_entry_row, &s, &e) == -1)
			log_warnx("reading the list entries: %s", e.msg);
	}
	free(s.want);
}

void
backend_ctr_list(
    struct backend *b, struct httpsrv_req *r, const struct router_match *m)
{
	int all = backend_query_bool(r, "all", 0);
	const char *limit_s = httpsrv_req_query(r, "limit"), *errstr;
	long long limit = -1;
	struct filters *f = NULL;
	struct container *c, **v = NULL;
	struct buf out;
	struct err e;
	int matched, running_only;
	long long n = 0;
	size_t k = 0;
	char *body;
	size_t len;

	(void)m;
	err_clear(&e);
	buf_init(&out, 0);
	if (limit_s != NULL && limit_s[0] != '\0' &&
	    str_tonum(limit_s, INT_MIN, INT_MAX, &limit, &errstr) == -1) {
		err_set(&e, 400,
		    "invalid value for limit: \"%s\" is %s: use a whole "
		    "number (0 or less for no limit)",
		    limit_s, backend_ctr_why(errstr));
		goto fail;
	}
	if ((f = filters_parse(httpsrv_req_query(r, "filters"),
		 backend_ctr_filter_keys, &e)) == NULL)
		goto fail;
	if (filters_check_values(f, "status",
		(const char *[]){ "created", "restarting", "running",
		    "removing", "paused", "exited", "dead", NULL },
		&e) == -1)
		goto fail;
	/* The entries are cached text (container_list_entry): a list of
	 * 10k containers copies text instead of building and printing 10k
	 * summaries. */
	buf_add(&out, "[", 1);
	running_only =
	    !all && !filters_has(f, "status") && !filters_has(f, "exited");
	v = backend_ctr_list_candidates(b, running_only);
	/* The matches, kept at the head of v. A cold document read for the
	 * list (a volume or network filter, its entry when the store has
	 * none) is dropped again at once: a first ps -a of 100k stopped
	 * containers must not parse them all into memory together. */
	for (size_t i = 0; (c = v[i]) != NULL; i++) {
		const char *status;
		int cold = container_cold(c);
		if (limit > 0 && n >= limit)
			break;
		status = running_only ? container_ps_facts(c)->status : NULL;
		if (running_only &&
		    (status == NULL ||
			(strcmp(status, "running") != 0 &&
			    strcmp(status, "paused") != 0)))
			matched = 0;
		else if ((matched = backend_ctr_matches(b, c, f, &e)) == -1)
			goto fail;
		if (matched) {
			v[k++] = c;
			n++;
		}
		if (cold)
			backend_ctr_cool(b, c);
	}
	backend_ctr_entries_load(b, v, k);
	for (size_t i = 0; i < k; i++) {
		int cold = container_cold(v[i]);
		if (i > 0)
			buf_add(&out, ",", 1);
		container_list_entry(v[i], &out);
		if (cold)
			backend_ctr_cool(b, v[i]);
	}
	buf_add(&out, "]\n", 2);
	body = buf_take(&out, &len);
	httpsrv_reply_take(r, 200, "application/json", body, len);
	filters_free(f);
	free(v);
	return;
fail:
	buf_free(&out);
	filters_free(f);
	free(v);
	httpsrv_reply_err(r, &e);
}

void
backend_ctr_inspect(
    struct backend *b, struct httpsrv_req *r, const struct router_match *m)
{
	struct container *c;
	cJSON *o;

	if ((c = backend_lookup_or_reply(b, r, router_param(m, "id"))) == NULL)
		return;
	o = container_inspect_json(c);
	if (backend_query_bool(r, "size", 0)) {
		json_add_int(o, "SizeRw", 0);
		json_add_int(o, "SizeRootFs", 0);
	}
	httpsrv_reply_json(r, 200, o);
	cJSON_Delete(o);
}

/* --- rename, prune, update --------------------------------------------- */

void
backend_ctr_rename(
    struct backend *b, struct httpsrv_req *r, const struct router_match *m)
{
	struct container *c, *other;
	const char *name = httpsrv_req_query(r, "name");
	char *old, *n;
	cJSON *attrs;
	struct err e;

	if ((c = backend_lookup_or_reply(b, r, router_param(m, "id"))) == NULL)
		return;
	if (name == NULL || name[0] == '\0' || id_valid_name(name, &e) == -1) {
		if (name == NULL || name[0] == '\0')
			err_set(&e, 400,
			    "Neither old nor new names may be "
			    "empty");
		httpsrv_reply_err(r, &e);
		return;
	}
	if (name[0] == '/')
		name++;
	if ((other = backend_ctr_by_name(b, name)) != NULL) {
		httpsrv_reply_error(
		    r, 409, BACKEND_CTR_NAME_IN_USE, name, other->id);
		return;
	}
	old = xasprintf("/%s", container_name(c));
	n = xasprintf("/%s", name);
	backend_index_del(&b->by_name, c);
	json_set(container_doc(c), "Name", cJSON_CreateString(n));
	backend_index_add(&b->by_name, c);
	backend_net_renamed(c);
	backend_ctr_save(b, c);
	backend_ctr_net_changed(b, c, NULL);
	attrs = cJSON_CreateObject();
	json_add_str(attrs, "oldName", old);
	backend_sys_container_event(b, c, "rename", attrs);
	free(old);
	free(n);
	httpsrv_reply_empty(r, 204);
}

void
backend_ctr_prune(
    struct backend *b, struct httpsrv_req *r, const struct router_match *m)
{
	static const char *keys[] = { "label", "label!", "until", NULL };
	struct container *c, *next;
	struct filters *f;
	cJSON *out, *deleted;
	struct err e;
	int64_t until = 0;

	(void)m;
	if ((f = filters_parse(httpsrv_req_query(r, "filters"), keys, &e)) ==
	    NULL) {
		httpsrv_reply_err(r, &e);
		return;
	}
	if (filters_until(f, &until, &e) == -1) {
		filters_free(f);
		httpsrv_reply_err(r, &e);
		return;
	}
	out = cJSON_CreateObject();
	deleted = cJSON_CreateArray();
	for (c = TAILQ_FIRST(&b->containers); c != NULL; c = next) {
		int64_t created = 0;
		next = TAILQ_NEXT(c, entry);
		str_time_parse(json_str(container_doc(c), "Created"), &created);
		if (container_running(c) || container_restarting(c) ||
		    backend_ctr_busy(c) != CTR_IDLE ||
		    !filters_match_labels(
			f, "label", json_obj(container_config(c), "Labels")) ||
		    (until != 0 && created > until))
			continue;
		cJSON_AddItemToArray(deleted, cJSON_CreateString(c->id));
		backend_ctr_remove_now(b, c, NULL);
	}
	/* dockerd's report has null, not [], when nothing was deleted. */
	cJSON_AddItemToObject(out, "ContainersDeleted",
	    cJSON_GetArraySize(deleted) > 0 ? deleted : cJSON_CreateNull());
	if (cJSON_GetArraySize(deleted) == 0)
		cJSON_Delete(deleted);
	/* A workload's writable layer lives and dies with its cloud task:
	 * nothing of it is on this host to reclaim (docs/compat.md). */
	json_add_int(out, "SpaceReclaimed", 0);
	httpsrv_reply_json(r, 200, out);
	cJSON_Delete(out);
	filters_free(f);
}
