/* The backend's SQLite state: schema migrations by user_version, one cached
 * prepared statement per query, and the container/kv/event/image tables. */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "sockerless/json.h"
#include "sockerless/lite.h"
#include "sockerless/log.h"
#include "sockerless/store.h"
#include "sockerless/xmalloc.h"

#define STORE_BUSY_MS 5000

enum store_st {
	STORE_BEGIN,
	STORE_COMMIT,
	STORE_ROLLBACK,
	STORE_CTR_PUT,
	STORE_CTR_PUT_DOC,
	STORE_CTR_PUT_ENTRY,
	STORE_CTR_LIST,
	STORE_CTR_DEL,
	STORE_CTR_DOC,
	STORE_CTR_ENTRY,
	STORE_CTR_ENTRIES,
	STORE_KV_GET,
	STORE_KV_SET,
	STORE_KV_DEL,
	STORE_KV_LIST,
	STORE_EV_ADD,
	STORE_EV_TRIM,
	STORE_EV_LIST,
	STORE_IMG_PUT,
	STORE_IMG_GET,
	STORE_IMG_DEL,
	STORE_IMG_IDS,
	STORE_IMG_COUNT,
	STORE_IMG_RANGE,
	STORE_REF_SET,
	STORE_REF_GET,
	STORE_REF_DEL,
	STORE_REF_DEL_ID,
	STORE_REF_LIST,
	STORE_REF_ALL,
	STORE_NET_PUT,
	STORE_NET_LIST,
	STORE_NET_DEL,
	STORE_VOL_PUT,
	STORE_VOL_LIST,
	STORE_VOL_DEL,
	STORE_VACUUM,
	STORE__COUNT
};

static const char *const store_sql[STORE__COUNT] = {
	[STORE_BEGIN] = "BEGIN IMMEDIATE",
	[STORE_COMMIT] = "COMMIT",
	[STORE_ROLLBACK] = "ROLLBACK",
	/* An upsert, not INSERT OR REPLACE, so a replaced row keeps its seq
	 * and with it its place in creation order. The document and the
	 * list entry go in tables of their own, keyed by the same seq
	 * (schema 5). */
	[STORE_CTR_PUT] = "INSERT INTO containers (id, name, state, facts) "
			  "VALUES (?1, ?2, ?3, ?4) ON CONFLICT (id) DO UPDATE "
			  "SET name = ?2, state = ?3, facts = ?4",
	[STORE_CTR_PUT_DOC] = "INSERT INTO container_docs (seq, doc) VALUES "
			      "((SELECT seq FROM containers WHERE id = ?1), "
			      "?2) ON CONFLICT (seq) DO UPDATE SET doc = ?2",
	[STORE_CTR_PUT_ENTRY] = "INSERT INTO container_entries (seq, id, "
				"entry) VALUES ((SELECT seq FROM containers "
				"WHERE id = ?1), ?1, ?2) ON CONFLICT (seq) DO "
				"UPDATE SET entry = ?2",
	[STORE_CTR_LIST] = "SELECT id, name, state, facts FROM containers "
			   "ORDER BY seq",
	/* The trigger containers_gone deletes its document and entry. */
	[STORE_CTR_DEL] = "DELETE FROM containers WHERE id = ?1",
	[STORE_CTR_DOC] = "SELECT d.doc FROM containers c JOIN container_docs "
			  "d ON d.seq = c.seq WHERE c.id = ?1",
	[STORE_CTR_ENTRY] = "SELECT e.entry FROM containers c JOIN "
			    "container_entries e ON e.seq = c.seq WHERE c.id "
			    "= ?1",
	[STORE_CTR_ENTRIES] = "SELECT id, entry FROM container_entries WHERE "
			      "entry IS NOT NULL",
	[STORE_KV_GET] = "SELECT v FROM kv WHERE k = ?1",
	[STORE_KV_SET] = "INSERT OR REPLACE INTO kv (k, v) VALUES (?1, ?2)",
	[STORE_KV_DEL] = "DELETE FROM kv WHERE k = ?1",
	[STORE_KV_LIST] = "SELECT k, v FROM kv WHERE substr(k, 1, "
			  "length(?1)) = ?1 ORDER BY k",
	[STORE_EV_ADD] = "INSERT INTO events (ns, doc) VALUES (?1, ?2)",
	/* seq counts up without reuse (AUTOINCREMENT) and only the oldest
	 * rows are ever deleted, so the newest ?1 rows are those above the
	 * last seq minus ?1: a range delete on the rowid, usually of one
	 * row, where finding the ?1-th newest row stepped over ?1 rows for
	 * every event. */
	[STORE_EV_TRIM] = "DELETE FROM events WHERE seq <= "
			  "last_insert_rowid() - ?1",
	[STORE_EV_LIST] = "SELECT doc FROM events WHERE ns >= ?1 AND ns <= ?2 "
			  "ORDER BY ns, seq",
	[STORE_IMG_PUT] = "INSERT INTO images (id, doc, created) "
			  "VALUES (?1, ?2, ?3) ON CONFLICT (id) DO UPDATE "
			  "SET doc = ?2",
	[STORE_IMG_GET] = "SELECT doc FROM images WHERE id = ?1",
	[STORE_IMG_DEL] = "DELETE FROM images WHERE id = ?1",
	[STORE_IMG_IDS] = "SELECT id, doc FROM images ORDER BY created, rowid",
	[STORE_IMG_COUNT] = "SELECT count(*) FROM images",
	/* Every id starting with ?1 sorts in [?1, ?1 "~"): '~' is above
	 * every hex digit. */
	[STORE_IMG_RANGE] = "SELECT id FROM images WHERE id >= ?1 AND "
			    "id < ?1 || '~' ORDER BY id LIMIT 2",
	[STORE_REF_SET] = "INSERT OR REPLACE INTO image_refs (ref, id) "
			  "VALUES (?1, ?2)",
	[STORE_REF_GET] = "SELECT id FROM image_refs WHERE ref = ?1",
	[STORE_REF_DEL] = "DELETE FROM image_refs WHERE ref = ?1",
	[STORE_REF_DEL_ID] = "DELETE FROM image_refs WHERE id = ?1",
	[STORE_REF_LIST] = "SELECT ref FROM image_refs WHERE id = ?1 "
			   "ORDER BY ref",
	[STORE_REF_ALL] = "SELECT ref, id FROM image_refs ORDER BY ref",
	[STORE_NET_PUT] = "INSERT INTO networks (id, doc) VALUES (?1, ?2) "
			  "ON CONFLICT (id) DO UPDATE SET doc = ?2",
	[STORE_NET_LIST] = "SELECT id, doc FROM networks ORDER BY seq",
	[STORE_NET_DEL] = "DELETE FROM networks WHERE id = ?1",
	[STORE_VOL_PUT] = "INSERT INTO volumes (name, doc) VALUES (?1, ?2) "
			  "ON CONFLICT (name) DO UPDATE SET doc = ?2",
	[STORE_VOL_LIST] = "SELECT name, doc FROM volumes ORDER BY seq",
	[STORE_VOL_DEL] = "DELETE FROM volumes WHERE name = ?1",
	/* Gives the pages a delete freed back to the file system (the
	 * database is in auto_vacuum = INCREMENTAL mode, store_setup). */
	[STORE_VACUUM] = "PRAGMA incremental_vacuum",
};

/* Schema steps: store_migrations[i] takes user_version i to i + 1. Only
 * ever append. */
static const char *const store_migrations[] = {
	"CREATE TABLE containers ("
	"  seq INTEGER PRIMARY KEY AUTOINCREMENT,"
	"  id TEXT NOT NULL UNIQUE,"
	"  name TEXT UNIQUE,"
	"  state TEXT,"
	"  doc TEXT NOT NULL);"
	"CREATE TABLE kv (k TEXT PRIMARY KEY, v TEXT);"
	"CREATE TABLE events ("
	"  seq INTEGER PRIMARY KEY AUTOINCREMENT,"
	"  ns INTEGER NOT NULL,"
	"  doc TEXT NOT NULL);"
	"CREATE INDEX events_ns ON events (ns);"
	"CREATE TABLE images ("
	"  id TEXT PRIMARY KEY,"
	"  doc TEXT NOT NULL,"
	"  created INTEGER NOT NULL);"
	"CREATE INDEX images_created ON images (created);"
	"CREATE TABLE image_refs (ref TEXT PRIMARY KEY, id TEXT NOT NULL);"
	"CREATE INDEX image_refs_id ON image_refs (id);",
	/* 1 -> 2: Docker networks (issue 13). */
	"CREATE TABLE networks ("
	"  seq INTEGER PRIMARY KEY AUTOINCREMENT,"
	"  id TEXT NOT NULL UNIQUE,"
	"  doc TEXT NOT NULL);",
	/* 2 -> 3: Docker volumes (issue 14). */
	"CREATE TABLE volumes ("
	"  seq INTEGER PRIMARY KEY AUTOINCREMENT,"
	"  name TEXT NOT NULL UNIQUE,"
	"  doc TEXT NOT NULL);",
	/* 3 -> 4: what walks over every container read, so that start-up
	 * need not parse a stopped container's document (docs/scale.md).
	 * The table is made again, facts before doc: a row's columns are
	 * stored in order, so reading facts does not read the pages the
	 * document overflows into. */
	"CREATE TABLE containers4 ("
	"  seq INTEGER PRIMARY KEY AUTOINCREMENT,"
	"  id TEXT NOT NULL UNIQUE,"
	"  name TEXT UNIQUE,"
	"  state TEXT,"
	"  facts BLOB,"
	"  doc TEXT NOT NULL);"
	"INSERT INTO containers4 (seq, id, name, state, doc)"
	"  SELECT seq, id, name, state, doc FROM containers;"
	"DROP TABLE containers;"
	"ALTER TABLE containers4 RENAME TO containers;",
	/* 4 -> 5: the document and the rendered list entry in tables of
	 * their own, so that start-up reads rows of ~0.7 KB that fit a page
	 * (id, name, state, facts) instead of ~4.4 KB ones that overflow it,
	 * and the list entries, needed only by a first ps, are read by one
	 * scan of their own (docs/scale.md). The facts of schema 4 held the
	 * entry as their "e" item (after "f", so after a NUL: p is the NUL
	 * before it, q the length of the item and its NUL); it moves to
	 * container_entries, the rest stays. */
	"CREATE TABLE containers5 ("
	"  seq INTEGER PRIMARY KEY AUTOINCREMENT,"
	"  id TEXT NOT NULL UNIQUE,"
	"  name TEXT UNIQUE,"
	"  state TEXT,"
	"  facts BLOB);"
	"CREATE TABLE container_docs ("
	"  seq INTEGER PRIMARY KEY,"
	"  doc TEXT NOT NULL);"
	"CREATE TABLE container_entries ("
	"  seq INTEGER PRIMARY KEY,"
	"  id TEXT NOT NULL,"
	"  entry BLOB);"
	"CREATE TEMP VIEW containers4_split AS"
	"  SELECT seq, id, name, state, facts, p,"
	"    instr(substr(facts, p + 1), x'00') AS q"
	"  FROM (SELECT seq, id, name, state, facts,"
	"    instr(facts, x'0065') AS p FROM containers);"
	"INSERT INTO containers5 (seq, id, name, state, facts)"
	"  SELECT seq, id, name, state, CASE WHEN p > 0 AND q > 1 THEN"
	"    CAST(substr(facts, 1, p) || substr(facts, p + q + 1) AS BLOB)"
	"  END FROM containers4_split;"
	"INSERT INTO container_entries (seq, id, entry)"
	"  SELECT seq, id, substr(facts, p + 2, q - 2)"
	"  FROM containers4_split WHERE p > 0 AND q > 1;"
	"DROP VIEW containers4_split;"
	"INSERT INTO container_docs (seq, doc)"
	"  SELECT seq, doc FROM containers;"
	"DROP TABLE containers;"
	"ALTER TABLE containers5 RENAME TO containers;"
	"CREATE TRIGGER containers_gone AFTER DELETE ON containers BEGIN"
	"  DELETE FROM container_docs WHERE seq = old.seq;"
	"  DELETE FROM container_entries WHERE seq = old.seq;"
	"END;",
};

#define STORE_VERSION \
	((int)(sizeof(store_migrations) / sizeof(store_migrations[0])))

struct store {
	sqlite3 *db;
	sqlite3_stmt *st[STORE__COUNT];
};

static int
store_fail(struct store *s, const char *op, struct err *e)
{
	return err_set(e, 500, "store: %s: %s", op, sqlite3_errmsg(s->db));
}

/* Binds arguments by type letter: 's' const char * (NULL binds NULL), 'i'
 * int64_t, 'b' a blob as two arguments. */
static int
store_bindv(sqlite3_stmt *st, const char *types, va_list ap)
{
	int rc = SQLITE_OK;

	for (int i = 0; types[i] != '\0' && rc == SQLITE_OK; i++) {
		const void *v;
		size_t n;
		switch (types[i]) {
		case 's':
			v = va_arg(ap, const char *);
			rc = v != NULL ?
			    sqlite3_bind_text(st, i + 1, v, -1, SQLITE_STATIC) :
			    sqlite3_bind_null(st, i + 1);
			break;
		case 'i':
			rc = sqlite3_bind_int64(st, i + 1, va_arg(ap, int64_t));
			break;
		case 'b': /* const void *, size_t; NULL binds NULL */
			v = va_arg(ap, const void *);
			n = va_arg(ap, size_t);
			rc = v != NULL ? sqlite3_bind_blob64(st, i + 1, v,
					     (sqlite3_uint64)n, SQLITE_STATIC) :
					 sqlite3_bind_null(st, i + 1);
			break;
		default:
			fatalx("store: bad bind type '%c'", types[i]);
		}
	}
	return rc;
}

static void
store_done(sqlite3_stmt *st)
{
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
}

/* Returns the cached statement with its parameters bound, ready to step;
 * the caller ends with store_done(). NULL and e set on failure. */
static sqlite3_stmt *
store_query(struct store *s, enum store_st id, const char *op, struct err *e,
    const char *types, ...)
{
	sqlite3_stmt *st = s->st[id];
	va_list ap;
	int rc;

	va_start(ap, types);
	rc = store_bindv(st, types, ap);
	va_end(ap);
	if (rc != SQLITE_OK) {
		store_fail(s, op, e);
		store_done(st);
		return NULL;
	}
	return st;
}

/* Runs a statement whose rows (if any) do not matter. */
static int
store_exec(struct store *s, enum store_st id, const char *op, struct err *e,
    const char *types, ...)
{
	sqlite3_stmt *st = s->st[id];
	va_list ap;
	int rc;

	va_start(ap, types);
	rc = store_bindv(st, types, ap);
	va_end(ap);
	if (rc == SQLITE_OK)
		while ((rc = sqlite3_step(st)) == SQLITE_ROW)
			;
	if (rc != SQLITE_OK && rc != SQLITE_DONE) {
		store_fail(s, op, e);
		store_done(st);
		return -1;
	}
	store_done(st);
	return 0;
}

/* Steps a query expected to give at most one text value; *v is NULL when
 * there is no row or the value is NULL. */
static int
store_get_text(struct store *s, enum store_st id, const char *op,
    const char *key, char **v, struct err *e)
{
	sqlite3_stmt *st;
	int rc;

	*v = NULL;
	if ((st = store_query(s, id, op, e, "s", key)) == NULL)
		return -1;
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		*v = xstrdup((const char *)sqlite3_column_text(st, 0));
	else if (rc != SQLITE_DONE) {
		store_fail(s, op, e);
		store_done(st);
		return -1;
	}
	store_done(st);
	return 0;
}

static int
store_begin(struct store *s, const char *op, struct err *e)
{
	return store_exec(s, STORE_BEGIN, op, e, "");
}

/* Commits, or rolls back when failed (or the commit fails). */
static int
store_end(struct store *s, int failed, const char *op, struct err *e)
{
	if (!failed && store_exec(s, STORE_COMMIT, op, e, "") == 0)
		return 0;
	/* A failed statement may already have ended the transaction. */
	if (!sqlite3_get_autocommit(s->db))
		store_exec(s, STORE_ROLLBACK, op, NULL, "");
	return -1;
}

/* One-off SQL at open time (pragmas, migrations). */
static int
store_run(struct store *s, const char *sql, const char *op, struct err *e)
{
	char *msg = NULL;

	if (sqlite3_exec(s->db, sql, NULL, NULL, &msg) != SQLITE_OK) {
		err_set(e, 500, "store: %s: %s", op,
		    msg != NULL ? msg : sqlite3_errmsg(s->db));
		sqlite3_free(msg);
		return -1;
	}
	return 0;
}

/* Runs a one-off query returning a single value, as text. */
static int
store_pragma(struct store *s, const char *sql, const char *op, char *out,
    size_t size, struct err *e)
{
	sqlite3_stmt *st = NULL;
	int rc;

	if (sqlite3_prepare_v2(s->db, sql, -1, &st, NULL) != SQLITE_OK)
		return store_fail(s, op, e);
	rc = sqlite3_step(st);
	if (rc != SQLITE_ROW) {
		store_fail(s, op, e);
		sqlite3_finalize(st);
		return -1;
	}
	str_lcpy(out, (const char *)sqlite3_column_text(st, 0), size);
	sqlite3_finalize(st);
	return 0;
}

static int
store_migrate(struct store *s, struct err *e)
{
	char buf[32], *sql;
	long long v;
	int rc, migrated = 0;
	struct err ve;

	if (store_pragma(s, "PRAGMA user_version", "reading schema version",
		buf, sizeof(buf), e) == -1)
		return -1;
	if (str_tonum(buf, 0, 1 << 30, &v, NULL) == -1)
		return err_set(
		    e, 500, "store: reading schema version: %s", buf);
	if (v > STORE_VERSION)
		return err_set(e, 500,
		    "store: migrate: schema version %lld is newer than this "
		    "program's %d",
		    v, STORE_VERSION);
	for (; v < STORE_VERSION; v++) {
		/* PRAGMA user_version is transactional, so a step applies
		 * whole or not at all. */
		sql = xasprintf("BEGIN IMMEDIATE; %s PRAGMA user_version = "
				"%lld; COMMIT;",
		    store_migrations[v], v + 1);
		rc = store_run(s, sql, "migrate", e);
		free(sql);
		if (rc == -1) {
			if (!sqlite3_get_autocommit(s->db))
				store_run(s, "ROLLBACK", "migrate", NULL);
			return -1;
		}
		log_info("store: schema migrated to version %lld", v + 1);
		migrated = 1;
	}
	/* A step that made a table again freed the old one's pages. */
	if (migrated &&
	    store_run(s, "PRAGMA incremental_vacuum", "vacuum", &ve) == -1)
		log_warnx("%s", ve.msg);
	return 0;
}

/* Puts the database in auto_vacuum = INCREMENTAL mode, so that
 * store_shrink can hand the pages of removed rows back: without it the file
 * only ever grew (48 MB holding no container after 10k were removed). A new
 * database takes the mode at once; one made before needs a VACUUM, once. */
static int
store_auto_vacuum(struct store *s, struct err *e)
{
	char mode[16];

	if (store_pragma(s, "PRAGMA auto_vacuum", "reading auto_vacuum", mode,
		sizeof(mode), e) == -1)
		return -1;
	if (strcmp(mode, "2") == 0)
		return 0;
	if (store_run(s, "PRAGMA auto_vacuum = INCREMENTAL",
		"setting auto_vacuum", e) == -1)
		return -1;
	if (strcmp(mode, "0") == 0 && store_run(s, "VACUUM", "vacuum", e) == -1)
		return -1;
	return 0;
}

static int
store_setup(struct store *s, const char *path, struct err *e)
{
	char mode[16];

	if (sqlite3_db_readonly(s->db, "main") == 1)
		return err_set(e, 500, "store: open %s: not writable", path);
	sqlite3_busy_timeout(s->db, STORE_BUSY_MS);
	if (store_pragma(s, "PRAGMA journal_mode = WAL", "setting WAL mode",
		mode, sizeof(mode), e) == -1)
		return -1;
	if (strcmp(mode, "wal") != 0)
		return err_set(e, 500,
		    "store: setting WAL mode: journal mode is %s", mode);
	if (store_run(s, "PRAGMA synchronous = NORMAL", "setting synchronous",
		e) == -1)
		return -1;
	/* The WAL file is truncated to this after a checkpoint, rather than
	 * staying as large as the biggest burst of writes made it. */
	if (store_run(s, "PRAGMA journal_size_limit = 4194304",
		"setting journal_size_limit", e) == -1)
		return -1;
	if (store_auto_vacuum(s, e) == -1)
		return -1;
	if (store_migrate(s, e) == -1)
		return -1;
	for (int i = 0; i < STORE__COUNT; i++)
		if (sqlite3_prepare_v3(s->db, store_sql[i], -1,
			SQLITE_PREPARE_PERSISTENT, &s->st[i],
			NULL) != SQLITE_OK)
			return err_set(e, 500, "store: preparing %s: %s",
			    store_sql[i], sqlite3_errmsg(s->db));
	return 0;
}

struct store *
store_open(const char *path, struct err *e)
{
	struct store *s = xcalloc(1, sizeof(*s));
	int rc;

	rc = sqlite3_open_v2(path, &s->db,
	    SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
	    NULL);
	if (rc != SQLITE_OK) {
		/* SQLite's "unable to open database file" alone does not say
		 * why; the OS error does. */
		int se = s->db != NULL ? sqlite3_system_errno(s->db) : 0;
		err_set(e, 500, "store: open %s: %s%s%s%s", path,
		    s->db != NULL ? sqlite3_errmsg(s->db) : sqlite3_errstr(rc),
		    se != 0 ? " (" : "", se != 0 ? strerror(se) : "",
		    se != 0 ? ")" : "");
		store_close(s);
		return NULL;
	}
	if (store_setup(s, path, e) == -1) {
		store_close(s);
		return NULL;
	}
	return s;
}

void
store_close(struct store *s)
{
	if (s == NULL)
		return;
	for (int i = 0; i < STORE__COUNT; i++)
		sqlite3_finalize(s->st[i]);
	if (s->db != NULL && sqlite3_close(s->db) != SQLITE_OK)
		log_warnx("store: close: %s", sqlite3_errmsg(s->db));
	free(s);
}

/* After a delete: returns the freed pages to the file system. The delete
 * itself has happened, so a failure here is logged, not returned. */
static void
store_shrink(struct store *s)
{
	struct err e;

	if (store_exec(s, STORE_VACUUM, "incremental vacuum", &e, "") == -1)
		log_warnx("%s", e.msg);
}

/* --- containers ---------------------------------------------------------- */

int
store_container_put(
    struct store *s, const struct store_ctr_row *r, struct err *e)
{
	const char *op = "saving container";
	int failed;

	if (store_begin(s, op, e) == -1)
		return -1;
	failed = store_exec(s, STORE_CTR_PUT, op, e, "sssb", r->id, r->name,
		     r->state, r->facts, r->factslen) == -1 ||
	    store_exec(s, STORE_CTR_PUT_DOC, op, e, "ss", r->id, r->doc) ==
		-1 ||
	    store_exec(s, STORE_CTR_PUT_ENTRY, op, e, "sb", r->id, r->entry,
		r->entrylen) == -1;
	return store_end(s, failed, op, e);
}

static char *
store_col(sqlite3_stmt *st, int i)
{
	return xstrdup((const char *)sqlite3_column_text(st, i));
}

int
store_container_each(struct store *s, store_row_fn fn,
    int (*want_doc)(const struct store_ctr_row *row), void *arg, struct err *e)
{
	sqlite3_stmt *st;
	int rc;

	if ((st = store_query(
		 s, STORE_CTR_LIST, "listing containers", e, "")) == NULL)
		return -1;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct store_ctr_row r = { 0 };
		char *doc = NULL;
		r.id = (const char *)sqlite3_column_text(st, 0);
		r.name = (const char *)sqlite3_column_text(st, 1);
		r.state = (const char *)sqlite3_column_text(st, 2);
		r.facts = sqlite3_column_blob(st, 3);
		r.factslen = (size_t)sqlite3_column_bytes(st, 3);
		/* A document not asked for is not read at all: it is in
		 * another table. */
		if (r.id != NULL && (want_doc == NULL || want_doc(&r))) {
			if (store_container_doc(s, r.id, &doc, &r.doclen, e) ==
			    -1) {
				store_done(st);
				return -1;
			}
			r.doc = doc;
		}
		fn(arg, &r);
		free(doc);
	}
	if (rc != SQLITE_DONE) {
		store_fail(s, "listing containers", e);
		store_done(st);
		return -1;
	}
	store_done(st);
	return 0;
}

struct store_rows {
	struct store_row *v;
	size_t n, cap;
};

static void
store_rows_add(void *arg, const struct store_ctr_row *row)
{
	struct store_rows *r = arg;

	if (r->n == r->cap) {
		r->cap = r->cap < 16 ? 16 : r->cap * 2;
		r->v = xreallocarray(r->v, r->cap, sizeof(*r->v));
	}
	r->v[r->n].id = xstrdup(row->id);
	r->v[r->n].name = xstrdup(row->name);
	r->v[r->n].state = xstrdup(row->state);
	r->v[r->n].doc = xstrdup(row->doc);
	r->n++;
}

/* The one value of a by-id query, NUL-terminated (caller frees); *v is
 * NULL when there is no row or the value is NULL. */
static int
store_ctr_value(struct store *s, enum store_st id, const char *cid, char **v,
    size_t *len, struct err *e)
{
	sqlite3_stmt *st;
	int rc;

	*v = NULL;
	*len = 0;
	if ((st = store_query(s, id, "reading container", e, "s", cid)) == NULL)
		return -1;
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW && sqlite3_column_type(st, 0) != SQLITE_NULL) {
		/* An empty value is a NULL pointer here. */
		const void *t = sqlite3_column_blob(st, 0);
		*len = t != NULL ? (size_t)sqlite3_column_bytes(st, 0) : 0;
		*v = xmalloc(*len + 1);
		if (t != NULL)
			memcpy(*v, t, *len);
		(*v)[*len] = '\0';
	} else if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
		store_fail(s, "reading container", e);
		store_done(st);
		return -1;
	}
	store_done(st);
	return 0;
}

int
store_container_doc(
    struct store *s, const char *id, char **doc, size_t *len, struct err *e)
{
	return store_ctr_value(s, STORE_CTR_DOC, id, doc, len, e);
}

int
store_container_entry(
    struct store *s, const char *id, char **entry, size_t *len, struct err *e)
{
	return store_ctr_value(s, STORE_CTR_ENTRY, id, entry, len, e);
}

int
store_container_entries(struct store *s,
    void (*fn)(void *arg, const char *id, const void *entry, size_t len),
    void *arg, struct err *e)
{
	sqlite3_stmt *st;
	int rc;

	if ((st = store_query(s, STORE_CTR_ENTRIES, "listing container entries",
		 e, "")) == NULL)
		return -1;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *id = (const char *)sqlite3_column_text(st, 0);
		const void *v = sqlite3_column_blob(st, 1);
		if (id != NULL && v != NULL)
			fn(arg, id, v, (size_t)sqlite3_column_bytes(st, 1));
	}
	if (rc != SQLITE_DONE) {
		store_fail(s, "listing container entries", e);
		store_done(st);
		return -1;
	}
	store_done(st);
	return 0;
}

int
store_container_list(
    struct store *s, struct store_row **rows, size_t *n, struct err *e)
{
	struct store_rows r = { NULL, 0, 0 };

	*rows = NULL;
	*n = 0;
	if (store_container_each(s, store_rows_add, NULL, &r, e) == -1) {
		store_rows_free(r.v, r.n);
		return -1;
	}
	*rows = r.v;
	*n = r.n;
	return 0;
}

void
store_rows_free(struct store_row *rows, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(rows[i].id);
		free(rows[i].name);
		free(rows[i].state);
		free(rows[i].doc);
	}
	free(rows);
}

int
store_container_delete(struct store *s, const char *id, struct err *e)
{
	if (store_exec(s, STORE_CTR_DEL, "deleting container", e, "s", id) ==
	    -1)
		return -1;
	store_shrink(s);
	return 0;
}

/* --- networks ------------------------------------------------------------ */

int
store_network_put(
    struct store *s, const char *id, const char *doc, struct err *e)
{
	return store_exec(s, STORE_NET_PUT, "saving network", e, "ss", id, doc);
}

int
store_network_list(
    struct store *s, struct strv *ids, struct strv *docs, struct err *e)
{
	sqlite3_stmt *st;
	int rc;

	if ((st = store_query(s, STORE_NET_LIST, "listing networks", e, "")) ==
	    NULL)
		return -1;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		strv_take(ids, store_col(st, 0));
		strv_take(docs, store_col(st, 1));
	}
	if (rc != SQLITE_DONE) {
		store_fail(s, "listing networks", e);
		store_done(st);
		return -1;
	}
	store_done(st);
	return 0;
}

int
store_network_delete(struct store *s, const char *id, struct err *e)
{
	return store_exec(s, STORE_NET_DEL, "deleting network", e, "s", id);
}

/* --- volumes ------------------------------------------------------------- */

int
store_volume_put(
    struct store *s, const char *name, const char *doc, struct err *e)
{
	return store_exec(
	    s, STORE_VOL_PUT, "saving volume", e, "ss", name, doc);
}

int
store_volume_list(
    struct store *s, struct strv *names, struct strv *docs, struct err *e)
{
	sqlite3_stmt *st;
	int rc;

	if ((st = store_query(s, STORE_VOL_LIST, "listing volumes", e, "")) ==
	    NULL)
		return -1;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		strv_take(names, store_col(st, 0));
		strv_take(docs, store_col(st, 1));
	}
	if (rc != SQLITE_DONE) {
		store_fail(s, "listing volumes", e);
		store_done(st);
		return -1;
	}
	store_done(st);
	return 0;
}

int
store_volume_delete(struct store *s, const char *name, struct err *e)
{
	return store_exec(s, STORE_VOL_DEL, "deleting volume", e, "s", name);
}

/* --- key/value ----------------------------------------------------------- */

int
store_kv_get(struct store *s, const char *k, char **v, struct err *e)
{
	return store_get_text(s, STORE_KV_GET, "reading key", k, v, e);
}

int
store_kv_set(struct store *s, const char *k, const char *v, struct err *e)
{
	return store_exec(s, STORE_KV_SET, "saving key", e, "ss", k, v);
}

int
store_kv_del(struct store *s, const char *k, struct err *e)
{
	return store_exec(s, STORE_KV_DEL, "deleting key", e, "s", k);
}

int
store_kv_list(struct store *s, const char *prefix, struct strv *keys,
    struct strv *vals, struct err *e)
{
	sqlite3_stmt *st;
	int rc;

	if ((st = store_query(
		 s, STORE_KV_LIST, "listing keys", e, "s", prefix)) == NULL)
		return -1;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		strv_take(keys, store_col(st, 0));
		strv_take(vals, store_col(st, 1));
	}
	if (rc != SQLITE_DONE) {
		store_fail(s, "listing keys", e);
		store_done(st);
		return -1;
	}
	store_done(st);
	return 0;
}

/* --- events -------------------------------------------------------------- */

int
store_event_append(
    struct store *s, int64_t ns, const char *doc, long keep, struct err *e)
{
	const char *op = "appending event";
	int failed;

	if (store_begin(s, op, e) == -1)
		return -1;
	failed = store_exec(s, STORE_EV_ADD, op, e, "is", ns, doc) == -1 ||
	    (keep > 0 &&
		store_exec(s, STORE_EV_TRIM, op, e, "i", (int64_t)keep) == -1);
	return store_end(s, failed, op, e);
}

int
store_event_list(struct store *s, int64_t since, int64_t until, char ***docs,
    size_t *n, struct err *e)
{
	sqlite3_stmt *st;
	char **v = NULL;
	size_t cnt = 0;
	int rc;

	*docs = NULL;
	*n = 0;
	if ((st = store_query(s, STORE_EV_LIST, "listing events", e, "ii",
		 since, until)) == NULL)
		return -1;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		v = xreallocarray(v, cnt + 1, sizeof(*v));
		v[cnt++] = store_col(st, 0);
	}
	if (rc != SQLITE_DONE) {
		store_fail(s, "listing events", e);
		store_done(st);
		for (size_t i = 0; i < cnt; i++)
			free(v[i]);
		free(v);
		return -1;
	}
	store_done(st);
	*docs = v;
	*n = cnt;
	return 0;
}

/* --- images -------------------------------------------------------------- */

int
store_image_put(struct store *s, const char *id, const char *doc, struct err *e)
{
	/* created orders images by first arrival; a re-put keeps it. */
	return store_exec(
	    s, STORE_IMG_PUT, "saving image", e, "ssi", id, doc, str_now_ns());
}

int
store_image_get(struct store *s, const char *id, char **doc, struct err *e)
{
	return store_get_text(s, STORE_IMG_GET, "reading image", id, doc, e);
}

int
store_image_delete(struct store *s, const char *id, struct err *e)
{
	const char *op = "deleting image";
	int failed;

	if (store_begin(s, op, e) == -1)
		return -1;
	failed = store_exec(s, STORE_REF_DEL_ID, op, e, "s", id) == -1 ||
	    store_exec(s, STORE_IMG_DEL, op, e, "s", id) == -1;
	if (store_end(s, failed, op, e) == -1)
		return -1;
	store_shrink(s);
	return 0;
}

int
store_image_ids(struct store *s, struct strv *ids, struct err *e)
{
	sqlite3_stmt *st;
	int rc;

	if ((st = store_query(s, STORE_IMG_IDS, "listing images", e, "")) ==
	    NULL)
		return -1;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW)
		strv_add(ids, (const char *)sqlite3_column_text(st, 0));
	if (rc != SQLITE_DONE)
		store_fail(s, "listing images", e);
	store_done(st);
	return rc == SQLITE_DONE ? 0 : -1;
}

long
store_image_count(struct store *s)
{
	sqlite3_stmt *st = s->st[STORE_IMG_COUNT];
	long n = 0;

	/* No error channel here: the count feeds /info, so a failure is
	 * logged and counts as no images. */
	if (sqlite3_step(st) == SQLITE_ROW)
		n = (long)sqlite3_column_int64(st, 0);
	else
		log_warnx("store: counting images: %s", sqlite3_errmsg(s->db));
	store_done(st);
	return n;
}

int
store_image_ref_set(
    struct store *s, const char *ref, const char *id, struct err *e)
{
	return store_exec(
	    s, STORE_REF_SET, "saving image reference", e, "ss", ref, id);
}

int
store_image_ref_del(struct store *s, const char *ref, struct err *e)
{
	return store_exec(
	    s, STORE_REF_DEL, "deleting image reference", e, "s", ref);
}

int
store_image_refs(
    struct store *s, const char *id, struct strv *refs, struct err *e)
{
	sqlite3_stmt *st;
	int rc;

	if ((st = store_query(s, STORE_REF_LIST, "listing image references", e,
		 "s", id)) == NULL)
		return -1;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW)
		strv_add(refs, (const char *)sqlite3_column_text(st, 0));
	if (rc != SQLITE_DONE)
		store_fail(s, "listing image references", e);
	store_done(st);
	return rc == SQLITE_DONE ? 0 : -1;
}

/* 1 if p is 1 to 64 lowercase hex digits. */
static int
store_is_hex(const char *p)
{
	size_t n = lite_hex_span(p);

	return n > 0 && n <= 64 && p[n] == '\0';
}

/* Looks an id prefix ("sha256:ab12" or "ab12") up among the images. */
static int
store_image_prefix(struct store *s, const char *ref, char **id, struct err *e)
{
	const char *op = "resolving image id";
	const char *hex = str_prefix(ref, "sha256:") ? ref + 7 : ref;
	sqlite3_stmt *st;
	char *lo;
	int rc, found = 0;

	if (!store_is_hex(hex))
		return 0;
	lo = xasprintf("sha256:%s", hex);
	if ((st = store_query(s, STORE_IMG_RANGE, op, e, "s", lo)) == NULL) {
		free(lo);
		return -1;
	}
	while ((rc = sqlite3_step(st)) == SQLITE_ROW)
		if (found++ == 0)
			*id = store_col(st, 0);
	store_done(st);
	free(lo);
	if (rc != SQLITE_DONE) {
		free(*id);
		*id = NULL;
		return store_fail(s, op, e);
	}
	if (found > 1) {
		free(*id);
		*id = NULL;
		return err_set(e, 400, "ambiguous image id prefix: %s", ref);
	}
	return 0;
}

int
store_image_resolve(struct store *s, const char *ref, char **id, struct err *e)
{
	char *doc = NULL;

	*id = NULL;
	if (store_get_text(s, STORE_REF_GET, "resolving image reference", ref,
		id, e) == -1)
		return -1;
	if (*id != NULL)
		return 0;
	if (str_prefix(ref, "sha256:") && strlen(ref) == 7 + 64 &&
	    store_is_hex(ref + 7)) {
		if (store_image_get(s, ref, &doc, e) == -1)
			return -1;
		if (doc != NULL) {
			free(doc);
			*id = xstrdup(ref);
			return 0;
		}
	}
	return store_image_prefix(s, ref, id, e);
}

/* "docker.io/library/busybox:1" -> "busybox:1", as the CLI shows refs. */
static const char *
store_ref_familiar(const char *ref)
{
	if (str_prefix(ref, "docker.io/library/"))
		return ref + strlen("docker.io/library/");
	if (str_prefix(ref, "docker.io/"))
		return ref + strlen("docker.io/");
	return ref;
}

/* Maps every ref to its image: a RepoTags and a RepoDigests array per id,
 * kept in a scratch object keyed by id. */
static cJSON *
store_image_ref_map(struct store *s)
{
	cJSON *map = cJSON_CreateObject(), *ent, *arr;
	sqlite3_stmt *st = s->st[STORE_REF_ALL];
	const char *ref, *id;
	int rc;

	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		ref = (const char *)sqlite3_column_text(st, 0);
		id = (const char *)sqlite3_column_text(st, 1);
		if ((ent = json_obj(map, id)) == NULL) {
			ent = cJSON_AddObjectToObject(map, id);
			cJSON_AddArrayToObject(ent, "RepoTags");
			cJSON_AddArrayToObject(ent, "RepoDigests");
		}
		arr = json_arr(
		    ent, strchr(ref, '@') != NULL ? "RepoDigests" : "RepoTags");
		cJSON_AddItemToArray(
		    arr, cJSON_CreateString(store_ref_familiar(ref)));
	}
	if (rc != SQLITE_DONE)
		log_warnx("store: listing image references: %s",
		    sqlite3_errmsg(s->db));
	store_done(st);
	return map;
}

static cJSON *
store_image_summary(const char *id, const char *text, cJSON *refs)
{
	cJSON *o = cJSON_CreateObject(), *doc, *labels, *ent;
	const char *created;
	int64_t ns = 0, size;

	doc = text != NULL ? cJSON_ParseWithLength(text, strlen(text)) : NULL;
	ent = json_obj(refs, id);
	json_add_str(o, "Id", id);
	json_add_str(o, "ParentId", "");
	json_set(o, "RepoTags",
	    ent != NULL ?
		cJSON_DetachItemFromObjectCaseSensitive(ent, "RepoTags") :
		cJSON_CreateArray());
	json_set(o, "RepoDigests",
	    ent != NULL ?
		cJSON_DetachItemFromObjectCaseSensitive(ent, "RepoDigests") :
		cJSON_CreateArray());
	if ((created = json_str(doc, "Created")) != NULL &&
	    str_time_parse(created, &ns) == -1)
		ns = 0;
	json_add_int(o, "Created", ns / 1000000000);
	size = json_int(doc, "Size", 0);
	json_add_int(o, "Size", size);
	json_add_int(o, "SharedSize", -1);
	json_add_int(o, "VirtualSize", json_int(doc, "VirtualSize", size));
	labels =
	    cJSON_Duplicate(json_obj(json_obj(doc, "Config"), "Labels"), 1);
	json_set(o, "Labels", labels != NULL ? labels : cJSON_CreateObject());
	json_add_int(o, "Containers", -1);
	cJSON_Delete(doc);
	return o;
}

cJSON *
store_image_summaries(struct store *s)
{
	cJSON *out = cJSON_CreateArray(), *refs;
	sqlite3_stmt *st = s->st[STORE_IMG_IDS];
	int rc;

	refs = store_image_ref_map(s);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW)
		cJSON_AddItemToArray(out,
		    store_image_summary(
			(const char *)sqlite3_column_text(st, 0),
			(const char *)sqlite3_column_text(st, 1), refs));
	if (rc != SQLITE_DONE)
		log_warnx("store: listing images: %s", sqlite3_errmsg(s->db));
	store_done(st);
	cJSON_Delete(refs);
	return out;
}
