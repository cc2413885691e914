/* Container Apps logs on Azure: the Log Analytics query API, the
 * console-log reader over it and the live log stream.
 *
 * History comes from Log Analytics: one KQL query unions the classic
 * table (ContainerAppConsoleLogs_CL, columns with _s suffixes) and the
 * newer one (ContainerAppConsoleLogs, the same names without them) with
 * isfuzzy=true, so a workspace that has only one of them still answers.
 * The cursor is a small JSON object, opaque to callers:
 *   {"t": "<ns of the last line delivered>", "h": ["<digest>", ...]}
 * The next read asks again from t ("TimeGenerated >= datetime(t)") and
 * drops, once each, the lines whose digest (stream, replica, container,
 * text) the cursor holds: equal timestamps never repeat a line nor lose
 * one. Rows are ordered by time, then replica, container, stream and
 * text, so that a batch cut by the row limit continues where it ended.
 *
 * Follow uses the log stream (eventStreamEndpoint + a getAuthToken
 * token, built by the caller): NDJSON lines parsed as they arrive
 * through httpcli's data hook. The stream is not a core call: its token
 * is the caller's, not an Entra token, so it goes to httpcli directly
 * and its id carries AZURE_LOGS_ID for azure_cancel. */
#include <sys/queue.h>

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cjson/cJSON.h>
#include <event2/event.h>

#include "sockerless/azure.h"
#include "sockerless/azure_auth.h"
#include "sockerless/buf.h"
#include "sockerless/httpcli.h"
#include "sockerless/json.h"
#include "sockerless/log.h"
#include "sockerless/str.h"
#include "sockerless/xmalloc.h"

#include "azure_int.h"
#include "azure_logs_int.h"

void
azure_logs_error(
    struct cloud_error *ce, int status, const char *code, const char *fmt, ...)
{
	va_list ap;

	memset(ce, 0, sizeof(*ce));
	ce->http_status = status;
	str_lcpy(ce->code, code, sizeof(ce->code));
	va_start(ap, fmt);
	vsnprintf(ce->message, sizeof(ce->message), fmt, ap);
	va_end(ap);
}

/* --- KQL string literals ----------------------------------------------- */

/* The escape for byte c, or NULL when it stands for itself. */
static const char *
kql_escape(unsigned char c)
{
	switch (c) {
	case '\\':
		return "\\\\";
	case '\'':
		return "\\'";
	case '\n':
		return "\\n";
	case '\r':
		return "\\r";
	case '\t':
		return "\\t";
	default:
		return NULL;
	}
}

/* Bytes in the UTF-8 character at s (n bytes left): 1 for anything but
 * a lead byte followed by its continuation bytes, so that a literal cut
 * short never ends inside a character, and a malformed sequence never
 * carries a quote or a backslash past the escaping. */
static size_t
utf8_len(const unsigned char *s, size_t n)
{
	size_t k = s[0] >= 0xf0 ? 4 : s[0] >= 0xe0 ? 3 : s[0] >= 0xc0 ? 2 : 1;

	if (k > n)
		return 1;
	for (size_t i = 1; i < k; i++)
		if ((s[i] & 0xc0) != 0x80)
			return 1;
	return k;
}

/* When out is too small the literal is cut before a whole escape or
 * character and still closed: callers size it at 2 * len + 3. */
void
azure_kql_quote(const char *in, char *out, size_t outsz)
{
	size_t o = 0, i = 0, n = strlen(in);

	if (outsz < 3) {
		if (outsz > 0)
			out[0] = '\0';
		return;
	}
	out[o++] = '\'';
	while (i < n) {
		const char *esc = kql_escape((unsigned char)in[i]);
		size_t k = esc != NULL ?
		    strlen(esc) :
		    utf8_len((const unsigned char *)in + i, n - i);

		if (o + k + 2 > outsz)
			break;
		memcpy(out + o, esc != NULL ? esc : in + i, k);
		o += k;
		i += esc != NULL ? 1 : k;
	}
	out[o++] = '\'';
	out[o] = '\0';
}

static char *
kql_quote_dup(const char *in)
{
	size_t sz = 2 * strlen(in) + 3;
	char *out = xmalloc(sz);

	azure_kql_quote(in, out, sz);
	return out;
}

/* --- the query API --------------------------------------------------------
 */

/* s percent-encoded as one path segment (RFC 3986 unreserved kept). */
static char *
path_segment(const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	char *out = xmalloc(3 * strlen(s) + 1), *o = out;

	for (; *s != '\0'; s++) {
		unsigned char c = (unsigned char)*s;

		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || c == '-' || c == '.' ||
		    c == '_' || c == '~')
			*o++ = (char)c;
		else {
			*o++ = '%';
			*o++ = hex[c >> 4];
			*o++ = hex[c & 15];
		}
	}
	*o = '\0';
	return out;
}

/* The error's message with its innererror chain, one sentence:
 * "outer: inner: innermost" (a message already said is not repeated). */
static void
la_flatten(const cJSON *err, char *out, size_t outsz)
{
	const cJSON *e;
	int depth = 0;

	out[0] = '\0';
	for (e = err; cJSON_IsObject(e) && depth < 16;
	     e = json_obj(e, "innererror"), depth++) {
		const char *m = json_str(e, "message");

		if (m == NULL || *m == '\0' || strstr(out, m) != NULL)
			continue;
		if (out[0] != '\0')
			str_lcpy(out + strlen(out), ": ", outsz - strlen(out));
		str_lcpy(out + strlen(out), m, outsz - strlen(out));
	}
	if (out[0] == '\0')
		str_lcpy(out, "the query failed without a message", outsz);
}

int
azure_la_answer(const cJSON *out, const cJSON **tbl, struct cloud_error *ce)
{
	const cJSON *err = json_obj(out, "error"), *tables, *t;
	const char *code;

	*tbl = NULL;
	if (err != NULL) {
		/* A partial error: rows may be missing, so none are used. */
		code = json_str(err, "code");
		azure_logs_error(
		    ce, 502, code != NULL ? code : "PartialError", "%s", "");
		la_flatten(err, ce->message, sizeof(ce->message));
		return -1;
	}
	tables = json_arr(out, "tables");
	t = cJSON_GetArrayItem(tables, 0);
	if (!cJSON_IsObject(t) || json_arr(t, "columns") == NULL ||
	    json_arr(t, "rows") == NULL) {
		azure_logs_error(ce, 502, "InvalidResponse", "%s",
		    "the Log Analytics answer has no table with columns and "
		    "rows");
		return -1;
	}
	*tbl = t;
	return 0;
}

struct la_call {
	void (*done)(void *arg, const cJSON *tbl, const struct cloud_error *ce);
	void *arg;
	void (*arg_free)(void *);
};

static void
la_call_free(void *p)
{
	struct la_call *q = p;

	if (q->arg_free != NULL)
		q->arg_free(q->arg);
	free(q);
}

static void
la_done(void *arg, const struct httpcli_resp *resp, const cJSON *out,
    const struct cloud_error *ce)
{
	struct la_call *q = arg;
	struct cloud_error pe;
	const cJSON *tbl;
	const char *rid;

	if (ce != NULL) {
		q->done(q->arg, NULL, ce);
		return;
	}
	if (azure_la_answer(out, &tbl, &pe) == -1) {
		rid = httpcli_resp_header(resp, "x-ms-request-id");
		if (rid != NULL)
			str_lcpy(pe.request_id, rid, sizeof(pe.request_id));
		log_warnx(
		    "azure: log analytics query: %s: %s", pe.code, pe.message);
		q->done(q->arg, NULL, &pe);
		return;
	}
	q->done(q->arg, tbl, NULL);
}

static uint64_t
la_send(struct azure *z, const char *workspace, const char *kql,
    const char *timespan, struct la_call *q)
{
	char *ws = path_segment(workspace);
	char *url = xasprintf("%s/v1/workspaces/%s/query", z->ep_logs, ws);
	cJSON *body = cJSON_CreateObject();
	struct httpcli_req *req;

	json_add_str(body, "query", kql);
	if (timespan != NULL)
		json_add_str(body, "timespan", timespan);
	req = azure_req_new("POST", url, body);
	free(url);
	free(ws);
	return azure_call_req(z, AZURE_SCOPE_LOGS, "loganalytics.query", req, 0,
	    0, la_done, q, la_call_free);
}

struct la_user {
	azure_cb cb;
	void *arg;
};

/* The first table as {"columns", "rows"} (borrowed references). */
static void
la_user_done(void *arg, const cJSON *tbl, const struct cloud_error *ce)
{
	struct la_user *u = arg;
	cJSON *view;

	if (ce != NULL) {
		u->cb(u->arg, NULL, ce);
		return;
	}
	view = cJSON_CreateObject();
	cJSON_AddItemReferenceToObject(
	    view, "columns", json_arr(tbl, "columns"));
	cJSON_AddItemReferenceToObject(view, "rows", json_arr(tbl, "rows"));
	u->cb(u->arg, view, NULL);
	cJSON_Delete(view);
}

uint64_t
azure_la_query(struct azure *z, const char *workspace, const char *kql,
    const char *timespan, azure_cb cb, void *arg)
{
	struct la_call *q = xcalloc(1, sizeof(*q));
	struct la_user *u = xcalloc(1, sizeof(*u));

	u->cb = cb;
	u->arg = arg;
	q->done = la_user_done;
	q->arg = u;
	q->arg_free = free;
	return la_send(z, workspace, kql, timespan, q);
}

/* --- the cursor ----------------------------------------------------------- */

void
azure_logs_cursor_clear(struct azure_logs_cursor *c)
{
	free(c->seen);
	c->seen = NULL;
	c->nseen = 0;
	c->ts_ns = -1;
}

static uint64_t *
seen_dup(const struct azure_logs_cursor *c)
{
	uint64_t *p = xreallocarray(NULL, c->nseen, sizeof(*p));

	memcpy(p, c->seen, c->nseen * sizeof(*p));
	return p;
}

static void
cursor_add(struct azure_logs_cursor *c, uint64_t h)
{
	if (c->nseen >= AZURE_LOGS_MAX_SEEN)
		return;
	c->seen = xreallocarray(c->seen, c->nseen + 1, sizeof(*c->seen));
	c->seen[c->nseen++] = h;
}

int
azure_logs_cursor_parse(const char *s, struct azure_logs_cursor *c)
{
	const cJSON *it;
	const char *t;
	cJSON *o;
	long long v;

	c->seen = NULL;
	c->nseen = 0;
	c->ts_ns = -1;
	if (s == NULL || *s == '\0')
		return 0;
	o = cJSON_Parse(s);
	t = json_str(o, "t");
	if (!cJSON_IsObject(o) || t == NULL ||
	    str_tonum(t, -1, INT64_MAX, &v, NULL) == -1)
		goto fail;
	c->ts_ns = (int64_t)v;
	cJSON_ArrayForEach(it, json_arr(o, "h")) {
		long long h;
		const char *end;

		if (!cJSON_IsString(it) || strlen(it->valuestring) != 16 ||
		    str_tohex(it->valuestring, INT64_MAX, &h, &end) == -1 ||
		    *end != '\0')
			goto fail;
		cursor_add(c, (uint64_t)h);
	}
	cJSON_Delete(o);
	return 0;
fail:
	cJSON_Delete(o);
	azure_logs_cursor_clear(c);
	return -1;
}

char *
azure_logs_cursor_print(const struct azure_logs_cursor *c)
{
	cJSON *o = cJSON_CreateObject(), *h = cJSON_CreateArray();
	char n[32];
	char *s;

	snprintf(n, sizeof(n), "%lld", (long long)c->ts_ns);
	json_add_str(o, "t", n);
	for (size_t i = 0; i < c->nseen; i++) {
		snprintf(
		    n, sizeof(n), "%016llx", (unsigned long long)c->seen[i]);
		cJSON_AddItemToArray(h, cJSON_CreateString(n));
	}
	cJSON_AddItemToObject(o, "h", h);
	s = cJSON_PrintUnformatted(o);
	cJSON_Delete(o);
	return s;
}

/* FNV-1a over the parts of a line that tell it from another at the same
 * time; kept below 2^63 so that it reads back as a signed hex number. */
static uint64_t
line_digest(int stream, const char *replica, const char *container,
    const char *text, size_t len)
{
	const char *parts[2] = { replica, container };
	uint64_t h = UINT64_C(14695981039346656037);

	h = (h ^ (uint64_t)stream) * UINT64_C(1099511628211);
	for (size_t p = 0; p < 2; p++) {
		for (const char *s = parts[p]; s != NULL && *s != '\0'; s++)
			h = (h ^ (unsigned char)*s) * UINT64_C(1099511628211);
		h = (h ^ 0xffu) * UINT64_C(1099511628211);
	}
	for (size_t i = 0; i < len; i++)
		h = (h ^ (unsigned char)text[i]) * UINT64_C(1099511628211);
	return h & (UINT64_MAX >> 1);
}

/* Whether a line at ts was delivered before, by the cursor's time and
 * the digests still available at it (avail, struck off once each: two
 * equal lines are two lines). */
static int
cursor_seen(const struct azure_logs_cursor *c, uint64_t *avail, size_t *navail,
    int64_t ts, uint64_t h)
{
	if (ts < c->ts_ns)
		return 1;
	if (ts > c->ts_ns)
		return 0;
	for (size_t i = 0; i < *navail; i++)
		if (avail[i] == h) {
			avail[i] = avail[--*navail];
			return 1;
		}
	return 0;
}

/* --- the query and its table ---------------------------------------------- */

/* Adds "<col><sfx> <op> <val>" to the leg's where clause. */
static void
kql_cond(struct buf *b, int *first, const char *col, const char *sfx,
    const char *op, const char *val)
{
	buf_adds(b, *first ? "\n| where " : " and ");
	*first = 0;
	buf_addf(b, "%s%s %s %s", col, sfx, op, val);
}

/* One leg of the union: the table's column names (suffix "_s" or "").
 * The newer table has no ContainerJobName (Microsoft's table reference
 * lists ContainerAppName, JobName: the Kubernetes job, and
 * ContainerGroupName: the replica), so there an execution is found by its
 * replicas' names alone, and a whole job by ContainerAppName. */
static void
kql_leg(struct buf *b, const char *table, const char *sfx, const char *job,
    const char *exec, const char *ctr, const char *from)
{
	int first = 1;

	buf_addf(b, "(%s", table);
	if (*sfx != '\0')
		kql_cond(b, &first, "ContainerJobName", sfx, "==", job);
	else if (exec == NULL)
		kql_cond(b, &first, "ContainerAppName", sfx, "==", job);
	if (exec != NULL)
		kql_cond(
		    b, &first, "ContainerGroupName", sfx, "startswith", exec);
	if (ctr != NULL)
		kql_cond(b, &first, "ContainerName", sfx, "==", ctr);
	if (from != NULL)
		kql_cond(b, &first, "TimeGenerated", "", ">=", from);
	/* The newer table's names need no rename. */
	if (*sfx == '\0')
		buf_adds(b,
		    "\n| project TimeGenerated, Stream, Line = Log, "
		    "Replica = ContainerGroupName, "
		    "Container = ContainerName)");
	else
		buf_addf(b,
		    "\n| project TimeGenerated, Stream = Stream%s, "
		    "Line = Log%s, Replica = ContainerGroupName%s, "
		    "Container = ContainerName%s)",
		    sfx, sfx, sfx, sfx);
}

char *
azure_logs_kql(const char *job, const char *execution, const char *container,
    int64_t from_ns, size_t limit)
{
	char *qjob = kql_quote_dup(job), *qexec = NULL, *qctr = NULL, *pre;
	char ts[48], from[64];
	struct buf b;

	if (execution != NULL) {
		/* Replicas are named <execution>-<suffix>. */
		pre = xasprintf("%s-", execution);
		qexec = kql_quote_dup(pre);
		free(pre);
	}
	if (container != NULL)
		qctr = kql_quote_dup(container);
	if (from_ns >= 0) {
		azure_time(ts, sizeof(ts), from_ns);
		snprintf(from, sizeof(from), "datetime(%s)", ts);
	}
	buf_init(&b, 0);
	buf_adds(&b, "union isfuzzy=true\n");
	kql_leg(&b, "ContainerAppConsoleLogs_CL", "_s", qjob, qexec, qctr,
	    from_ns >= 0 ? from : NULL);
	buf_adds(&b, ",\n");
	kql_leg(&b, "ContainerAppConsoleLogs", "", qjob, qexec, qctr,
	    from_ns >= 0 ? from : NULL);
	buf_addf(&b,
	    "\n| order by TimeGenerated asc, Replica asc, Container asc, "
	    "Stream asc, Line asc\n| take %zu",
	    limit);
	free(qjob);
	free(qexec);
	free(qctr);
	return buf_take(&b, NULL);
}

/* The column's index in columns, -1 when absent. */
static int
column(const cJSON *columns, const char *name)
{
	const cJSON *c;
	int i = 0;

	cJSON_ArrayForEach(c, columns) {
		const char *n = json_str(c, "name");

		if (n != NULL && strcmp(n, name) == 0)
			return i;
		i++;
	}
	return -1;
}

/* A string cell, "" for null; NULL when it holds anything else. */
static const char *
cell_str(const cJSON *row, int i)
{
	const cJSON *v = cJSON_GetArrayItem(row, i);

	if (cJSON_IsNull(v))
		return "";
	return cJSON_IsString(v) ? v->valuestring : NULL;
}

struct cols {
	int t, stream, line, replica, container;
};

static int
table_cols(const cJSON *tbl, struct cols *k, struct cloud_error *ce)
{
	static const char *names[] = { "TimeGenerated", "Stream", "Line",
		"Replica", "Container" };
	const cJSON *columns = json_arr(tbl, "columns");
	int *idx[] = { &k->t, &k->stream, &k->line, &k->replica,
		&k->container };

	for (size_t i = 0; i < 5; i++)
		if ((*idx[i] = column(columns, names[i])) == -1) {
			azure_logs_error(ce, 502, "InvalidResponse",
			    "the Log Analytics answer has no %s column",
			    names[i]);
			return -1;
		}
	return 0;
}

/* One row as an entry; -1 when a cell has the wrong type. */
static int
table_row(const cJSON *row, const struct cols *k, struct azure_log_entry *ev,
    const char **replica, const char **container)
{
	const char *t = cell_str(row, k->t), *s = cell_str(row, k->stream);
	const char *line = cell_str(row, k->line);

	*replica = cell_str(row, k->replica);
	*container = cell_str(row, k->container);
	if (!cJSON_IsArray(row) || t == NULL || s == NULL || line == NULL ||
	    *replica == NULL || *container == NULL)
		return -1;
	if ((ev->ts_ns = azure_time_parse(t)) < 0)
		return -1;
	ev->stream = strcasecmp(s, "stderr") == 0 ? 2 : 1;
	ev->text = line;
	ev->len = strlen(line);
	if (ev->len > 0 && line[ev->len - 1] == '\n')
		ev->len--;
	return 0;
}

int
azure_logs_table(const cJSON *tbl, struct azure_logs_cursor *c,
    struct azure_log_entry **ev, size_t *n, size_t *rows,
    struct cloud_error *ce)
{
	struct azure_logs_cursor nc;
	uint64_t *avail = NULL;
	size_t navail = c->nseen, i = 0;
	const cJSON *row;
	struct cols k;

	*ev = NULL;
	*n = *rows = 0;
	if (table_cols(tbl, &k, ce) == -1)
		return -1;
	/* The new cursor keeps what the old one saw at its time, as long
	 * as no later line moves it on. */
	nc.ts_ns = c->ts_ns;
	nc.nseen = c->nseen;
	nc.seen = NULL;
	if (c->nseen > 0) {
		nc.seen = seen_dup(c);
		avail = seen_dup(c);
	}
	cJSON_ArrayForEach(row, json_arr(tbl, "rows")) {
		struct azure_log_entry e;
		const char *rep, *ctr;
		uint64_t h;
		char num[32];

		i++;
		if (table_row(row, &k, &e, &rep, &ctr) == -1) {
			snprintf(num, sizeof(num), "%zu", i);
			azure_logs_error(ce, 502, "InvalidResponse",
			    "row %s of the Log Analytics answer does not hold "
			    "a time and strings",
			    num);
			goto fail;
		}
		h = line_digest(e.stream, rep, ctr, e.text, e.len);
		if (cursor_seen(c, avail, &navail, e.ts_ns, h))
			continue;
		if (e.ts_ns > nc.ts_ns) {
			nc.nseen = 0;
			nc.ts_ns = e.ts_ns;
		}
		cursor_add(&nc, h);
		*ev = xreallocarray(*ev, *n + 1, sizeof(**ev));
		(*ev)[(*n)++] = e;
	}
	free(avail);
	free(c->seen);
	*c = nc;
	*rows = i;
	return 0;
fail:
	free(avail);
	free(nc.seen);
	free(*ev);
	*ev = NULL;
	*n = 0;
	return -1;
}

/* --- azure_logs_read ------------------------------------------------------ */

struct logs_read {
	azure_logs_cb cb;
	void *arg;
	struct azure_logs_cursor cur;
	size_t limit;
};

static void
logs_read_free(void *p)
{
	struct logs_read *r = p;

	azure_logs_cursor_clear(&r->cur);
	free(r);
}

static void
logs_read_done(void *arg, const cJSON *tbl, const struct cloud_error *ce)
{
	struct logs_read *r = arg;
	struct azure_log_entry *ev;
	struct cloud_error te;
	size_t n, rows;
	char *cursor;

	if (ce != NULL) {
		r->cb(r->arg, NULL, 0, NULL, 0, ce);
		return;
	}
	if (azure_logs_table(tbl, &r->cur, &ev, &n, &rows, &te) == -1) {
		log_warnx("azure: console logs: %s", te.message);
		r->cb(r->arg, NULL, 0, NULL, 0, &te);
		return;
	}
	cursor = azure_logs_cursor_print(&r->cur);
	r->cb(r->arg, ev, n, cursor, rows >= r->limit, NULL);
	free(cursor);
	free(ev);
}

uint64_t
azure_logs_read(struct azure *z, const char *workspace, const char *job,
    const char *execution, const char *container, const char *cursor,
    int64_t since_ns, azure_logs_cb cb, void *arg)
{
	struct logs_read *r = xcalloc(1, sizeof(*r));
	struct la_call *q;
	struct cloud_error ce;
	int64_t from;
	char *kql;
	uint64_t id;

	if (azure_logs_cursor_parse(cursor, &r->cur) == -1) {
		free(r);
		azure_logs_error(&ce, 400, "InvalidCursor", "%s",
		    "the log cursor is not one this reader handed out");
		return azure_logs_fail(z, cb, arg, &ce);
	}
	from = r->cur.ts_ns >= 0 ? r->cur.ts_ns : since_ns > 0 ? since_ns : -1;
	/* Rows the cursor saw come back first: ask for that many more. */
	r->limit = AZURE_LOGS_LIMIT + r->cur.nseen;
	r->cb = cb;
	r->arg = arg;
	kql = azure_logs_kql(job, execution, container, from, r->limit);
	q = xcalloc(1, sizeof(*q));
	q->done = logs_read_done;
	q->arg = r;
	q->arg_free = logs_read_free;
	id = la_send(z, workspace, kql, NULL, q);
	free(kql);
	return id;
}
