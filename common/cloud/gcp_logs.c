/* The Cloud Logging reader: entries:list pages in timestamp order, stdout
 * and stderr told apart, and a cursor that makes polling with
 * "timestamp >= last" never repeat an entry.
 *
 * The cursor is a small JSON object, opaque to callers:
 *   {"t": "<ns of the last entry delivered>", "ids": [insertIds at t],
 *    "p": "<nextPageToken>", "f": "<ns the filter of p's query used>"}
 * When the last page had a nextPageToken the next read continues with the
 * token and the very same filter (Logging wants the other parameters
 * unchanged with a page token); else it asks again from t, and the
 * entries at t whose insertId the cursor holds are dropped. Entries with
 * a timestamp before t (late arrivals) are dropped too: a reader that
 * wants them would have to rescan a window, which Cloud Run's ordered
 * stdout does not need. A read that fails after a page token hands back
 * a cursor without the token (see gcp_logs_failed); other failures give
 * no cursor: the caller keeps its own. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "sockerless/gcp.h"
#include "sockerless/json.h"
#include "sockerless/log.h"
#include "sockerless/str.h"
#include "sockerless/xmalloc.h"

#include "gcp_int.h"

/* --- the cursor --- */

void
gcp_logs_cursor_clear(struct gcp_logs_cursor *c)
{
	for (size_t i = 0; i < c->nids; i++)
		free(c->ids[i]);
	free(c->ids);
	free(c->page_token);
	memset(c, 0, sizeof(*c));
	c->ts_ns = -1;
	c->filter_ns = -1;
}

/* An int64 kept as a decimal string (JSON numbers lose ns). */
static int64_t
gcp_logs_ns(const cJSON *o, const char *key)
{
	const char *s = json_str(o, key);
	long long v;

	if (s == NULL || str_tonum(s, -1, INT64_MAX, &v, NULL) == -1)
		return -1;
	return (int64_t)v;
}

static void
gcp_logs_add_id(struct gcp_logs_cursor *c, const char *id)
{
	if (c->nids >= GCP_LOGS_MAX_IDS)
		return;
	c->ids = xreallocarray(c->ids, c->nids + 1, sizeof(*c->ids));
	c->ids[c->nids++] = xstrdup(id);
}

int
gcp_logs_cursor_parse(const char *s, struct gcp_logs_cursor *c)
{
	cJSON *o, *it;
	const char *p;

	memset(c, 0, sizeof(*c));
	gcp_logs_cursor_clear(c);
	if (s == NULL || *s == '\0')
		return 0;
	if ((o = cJSON_Parse(s)) == NULL || !cJSON_IsObject(o)) {
		cJSON_Delete(o);
		return -1;
	}
	c->ts_ns = gcp_logs_ns(o, "t");
	c->filter_ns = gcp_logs_ns(o, "f");
	if ((p = json_str(o, "p")) != NULL && *p != '\0' && c->filter_ns >= 0)
		c->page_token = xstrdup(p);
	cJSON_ArrayForEach(it, json_arr(o, "ids"))
		if (cJSON_IsString(it))
			gcp_logs_add_id(c, it->valuestring);
	cJSON_Delete(o);
	return 0;
}

char *
gcp_logs_cursor_print(const struct gcp_logs_cursor *c)
{
	cJSON *o = cJSON_CreateObject(), *ids = cJSON_CreateArray();
	char n[32];
	char *s;

	snprintf(n, sizeof(n), "%lld", (long long)c->ts_ns);
	json_add_str(o, "t", n);
	for (size_t i = 0; i < c->nids; i++)
		cJSON_AddItemToArray(ids, cJSON_CreateString(c->ids[i]));
	cJSON_AddItemToObject(o, "ids", ids);
	if (c->page_token != NULL) {
		json_add_str(o, "p", c->page_token);
		snprintf(n, sizeof(n), "%lld", (long long)c->filter_ns);
		json_add_str(o, "f", n);
	}
	s = cJSON_PrintUnformatted(o);
	cJSON_Delete(o);
	return s;
}

static int
gcp_logs_seen(const struct gcp_logs_cursor *c, int64_t ts, const char *id)
{
	if (ts < c->ts_ns)
		return 1;
	if (ts > c->ts_ns || *id == '\0')
		return 0;
	for (size_t i = 0; i < c->nids; i++)
		if (strcmp(c->ids[i], id) == 0)
			return 1;
	return 0;
}

/* Moves the cursor past an entry delivered at ts with id. */
static void
gcp_logs_advance(struct gcp_logs_cursor *c, int64_t ts, const char *id)
{
	if (ts > c->ts_ns) {
		for (size_t i = 0; i < c->nids; i++)
			free(c->ids[i]);
		c->nids = 0;
		c->ts_ns = ts;
	}
	if (*id != '\0')
		gcp_logs_add_id(c, id);
}

/* --- one page --- */

static int
gcp_logs_stream(const cJSON *e)
{
	const char *name = json_str(e, "logName");
	const char *sev = json_str(e, "severity");

	if (name != NULL &&
	    (str_suffix(name, "%2Fstdout") || str_suffix(name, "/stdout")))
		return 1;
	if (name != NULL &&
	    (str_suffix(name, "%2Fstderr") || str_suffix(name, "/stderr")))
		return 2;
	if (sev != NULL &&
	    (strcmp(sev, "ERROR") == 0 || strcmp(sev, "CRITICAL") == 0 ||
		strcmp(sev, "ALERT") == 0 || strcmp(sev, "EMERGENCY") == 0))
		return 2;
	return 1;
}

/* The entry's text: textPayload, jsonPayload.message, or jsonPayload
 * printed (then *own is the allocation). NULL: no payload to show. */
static const char *
gcp_logs_text(const cJSON *e, char **own)
{
	const char *t;
	const cJSON *j = json_obj(e, "jsonPayload");

	*own = NULL;
	if ((t = json_str(e, "textPayload")) != NULL)
		return t;
	if (j == NULL)
		return NULL;
	if ((t = json_str(j, "message")) != NULL)
		return t;
	return *own = cJSON_PrintUnformatted(j);
}

int
gcp_logs_page(const cJSON *page, struct gcp_logs_cursor *c,
    struct gcp_log_entry **ev, size_t *n, char ***keep, size_t *nkeep,
    struct cloud_error *ce)
{
	const cJSON *entries, *e;
	const char *next, *id, *text, *ts;
	int64_t ns;
	char *own;

	*ev = NULL;
	*n = *nkeep = 0;
	*keep = NULL;
	entries = cJSON_GetObjectItemCaseSensitive(page, "entries");
	next = json_str(page, "nextPageToken");
	if (!cJSON_IsObject(page) ||
	    (entries != NULL && !cJSON_IsArray(entries))) {
		memset(ce, 0, sizeof(*ce));
		ce->http_status = 502;
		str_lcpy(ce->code, "InvalidResponse", sizeof(ce->code));
		str_lcpy(ce->message,
		    "entries:list answered something other than a page of "
		    "entries",
		    sizeof(ce->message));
		return -1;
	}
	*ev = xcalloc((size_t)cJSON_GetArraySize(entries) + 1, sizeof(**ev));
	*keep =
	    xcalloc((size_t)cJSON_GetArraySize(entries) + 1, sizeof(**keep));
	cJSON_ArrayForEach(e, entries) {
		if ((ts = json_str(e, "timestamp")) == NULL)
			ts = json_str(e, "receiveTimestamp");
		if ((ns = gcp_time_parse(ts)) < 0)
			continue;
		if ((id = json_str(e, "insertId")) == NULL)
			id = "";
		if (gcp_logs_seen(c, ns, id))
			continue;
		gcp_logs_advance(c, ns, id);
		if ((text = gcp_logs_text(e, &own)) == NULL)
			continue;
		if (own != NULL)
			(*keep)[(*nkeep)++] = own;
		(*ev)[*n].ts_ns = ns;
		(*ev)[*n].stream = gcp_logs_stream(e);
		(*ev)[*n].text = text;
		(*ev)[*n].len = strlen(text);
		if ((*ev)[*n].len > 0 && text[(*ev)[*n].len - 1] == '\n')
			(*ev)[*n].len--;
		(*ev)[*n].insert_id = id;
		(*n)++;
	}
	free(c->page_token);
	c->page_token = next != NULL && *next != '\0' ? xstrdup(next) : NULL;
	return 0;
}

/* --- the read --- */

struct gcp_logs_req {
	struct gcp_logs_cursor c;
	gcp_logs_cb cb;
	void *arg;
};

static void
gcp_logs_req_free(void *p)
{
	struct gcp_logs_req *r = p;

	gcp_logs_cursor_clear(&r->c);
	free(r);
}

/* A read that failed. One that continued a page token gets a cursor
 * without it: a token Logging no longer takes (they live 24 hours) would
 * fail every later read, and asking again by timestamp repeats nothing. */
static void
gcp_logs_failed(struct gcp_logs_req *r, const struct cloud_error *ce)
{
	char *cursor = NULL;

	if (r->c.page_token != NULL) {
		free(r->c.page_token);
		r->c.page_token = NULL;
		cursor = gcp_logs_cursor_print(&r->c);
	}
	r->cb(r->arg, NULL, 0, cursor, 0, ce);
	free(cursor);
}

static void
gcp_logs_done(void *arg, const struct httpcli_resp *resp, const cJSON *out,
    const struct cloud_error *ce)
{
	struct gcp_logs_req *r = arg;
	struct gcp_log_entry *ev = NULL;
	struct cloud_error bad;
	char **keep = NULL, *cursor = NULL;
	size_t n = 0, nkeep = 0;

	(void)resp;
	if (ce != NULL) {
		gcp_logs_failed(r, ce);
		return;
	}
	if (gcp_logs_page(out, &r->c, &ev, &n, &keep, &nkeep, &bad) == -1) {
		gcp_logs_failed(r, &bad);
		goto out;
	}
	cursor = gcp_logs_cursor_print(&r->c);
	r->cb(r->arg, ev, n, cursor, r->c.page_token != NULL, NULL);
out:
	for (size_t i = 0; i < nkeep; i++)
		free(keep[i]);
	free(keep);
	free(ev);
	free(cursor);
}

void
gcp_logs_quote(const char *in, char *out, size_t outsz)
{
	size_t n = 0;

	if (outsz < 3) {
		if (outsz > 0)
			out[0] = '\0';
		return;
	}
	out[n++] = '"';
	for (; in != NULL && *in != '\0'; in++) {
		int esc = *in == '"' || *in == '\\';

		/* Room for the character, its escape and the closing quote. */
		if (n + (size_t)esc + 2 >= outsz)
			break;
		if (esc)
			out[n++] = '\\';
		out[n++] = *in;
	}
	out[n++] = '"';
	out[n] = '\0';
}

uint64_t
gcp_logs_read(struct gcp *g, const char *project, const char *filter,
    const char *cursor, int64_t since_ns, int page_size, gcp_logs_cb cb,
    void *arg)
{
	struct gcp_logs_req *r = xcalloc(1, sizeof(*r));
	cJSON *body = cJSON_CreateObject(), *names = cJSON_CreateArray();
	char *rn = xasprintf("projects/%s", project), *f;
	char ts[64];
	int64_t from;

	/* A cursor that does not parse (not ours) starts over at since_ns:
	 * a repeat is better than a hole. */
	if (gcp_logs_cursor_parse(cursor, &r->c) == -1)
		log_warnx("Cloud Logging: a malformed cursor; reading from "
			  "the start");
	if (r->c.ts_ns < 0 && since_ns > 0)
		r->c.ts_ns = since_ns;
	r->cb = cb;
	r->arg = arg;
	/* The page token's own filter; else from the last timestamp (the
	 * epoch when nothing is known: without a timestamp Logging only
	 * reads the last 24 hours). */
	from = r->c.page_token != NULL ? r->c.filter_ns :
					 (r->c.ts_ns > 0 ? r->c.ts_ns : 0);
	gcp_time(ts, sizeof(ts), from);
	if (filter != NULL && *filter != '\0')
		f = xasprintf("%s AND timestamp>=\"%s\"", filter, ts);
	else
		f = xasprintf("timestamp>=\"%s\"", ts);
	cJSON_AddItemToArray(names, cJSON_CreateString(rn));
	cJSON_AddItemToObject(body, "resourceNames", names);
	json_add_str(body, "filter", f);
	json_add_str(body, "orderBy", "timestamp asc");
	json_add_int(body, "pageSize", page_size > 0 ? page_size : 1000);
	if (r->c.page_token != NULL)
		json_add_str(body, "pageToken", r->c.page_token);
	/* The page token of the next page belongs to this filter. */
	r->c.filter_ns = from;
	free(rn);
	free(f);
	return gcp_call_raw(g, "logging", "entries.list", "POST",
	    "v2/entries:list", NULL, body, 0, gcp_logs_done, r,
	    gcp_logs_req_free);
}
