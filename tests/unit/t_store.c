/* The SQLite store: containers, kv, events, images and refs, reopening. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "sockerless/json.h"
#include "sockerless/store.h"
#include "sockerless/xmalloc.h"

#define HEX_A      \
	"aaaa1111" \
	"00000000000000000000000000000000000000000000000000000000"
#define HEX_B      \
	"aaaa2222" \
	"00000000000000000000000000000000000000000000000000000000"
#define HEX_C      \
	"bbbb0000" \
	"00000000000000000000000000000000000000000000000000000000"
#define ID_A "sha256:" HEX_A
#define ID_B "sha256:" HEX_B
#define ID_C "sha256:" HEX_C

struct t_store {
	char dir[64];
	char *path;
	struct store *s;
};

static int
t_setup(void **state)
{
	struct t_store *t = xcalloc(1, sizeof(*t));
	struct err e;

	snprintf(t->dir, sizeof(t->dir), "/tmp/t_store.XXXXXX");
	if (mkdtemp(t->dir) == NULL)
		goto fail;
	t->path = xasprintf("%s/state.db", t->dir);
	if ((t->s = store_open(t->path, &e)) == NULL) {
		fprintf(stderr, "%s\n", e.msg);
		goto fail;
	}
	*state = t;
	return 0;
fail:
	if (t->path != NULL)
		(void)rmdir(t->dir);
	free(t->path);
	free(t);
	return -1;
}

static int
t_teardown(void **state)
{
	struct t_store *t = *state;
	char *f;
	const char *sfx[] = { "", "-wal", "-shm" };

	store_close(t->s);
	for (size_t i = 0; i < 3; i++) {
		f = xasprintf("%s%s", t->path, sfx[i]);
		unlink(f);
		free(f);
	}
	rmdir(t->dir);
	free(t->path);
	free(t);
	return 0;
}

/* A container row without a list entry. */
static int
t_put(struct store *s, const char *id, const char *name, const char *state,
    const char *doc, const void *facts, size_t factslen, struct err *e)
{
	return store_container_put(s,
	    &(struct store_ctr_row){ .id = id,
		.name = name,
		.state = state,
		.doc = doc,
		.facts = facts,
		.factslen = factslen },
	    e);
}

/* An exited container row with a list entry. */
static int
t_put_entry(struct store *s, const char *id, const char *name,
    const char *entry, struct err *e)
{
	return store_container_put(s,
	    &(struct store_ctr_row){ .id = id,
		.name = name,
		.state = "exited",
		.doc = "{}",
		.entry = entry,
		.entrylen = strlen(entry) },
	    e);
}

static void
t_reopen(struct t_store *t)
{
	struct err e;

	store_close(t->s);
	t->s = store_open(t->path, &e);
	assert_non_null(t->s);
}

static void
t_containers(void **state)
{
	struct t_store *t = *state;
	struct store_row *rows;
	size_t n;
	struct err e;

	assert_int_equal(
	    t_put(t->s, "c1", "/one", "created", "{}", NULL, 0, &e), 0);
	assert_int_equal(
	    t_put(t->s, "c2", "/two", "created", "{}", NULL, 0, &e), 0);
	assert_int_equal(
	    t_put(t->s, "c3", "/three", "created", "{}", NULL, 0, &e), 0);
	/* Replacing keeps the row's place. */
	assert_int_equal(
	    t_put(t->s, "c1", "/uno", "running", "{\"a\":1}", NULL, 0, &e), 0);
	/* Names are unique. */
	assert_int_equal(
	    t_put(t->s, "c4", "/two", "created", "{}", NULL, 0, &e), -1);
	assert_int_equal(e.status, 500);
	assert_true(strncmp(e.msg, "store: saving container: ", 25) == 0);

	assert_int_equal(store_container_list(t->s, &rows, &n, &e), 0);
	assert_int_equal(n, 3);
	assert_string_equal(rows[0].id, "c1");
	assert_string_equal(rows[0].name, "/uno");
	assert_string_equal(rows[0].state, "running");
	assert_string_equal(rows[0].doc, "{\"a\":1}");
	assert_string_equal(rows[1].id, "c2");
	assert_string_equal(rows[2].id, "c3");
	store_rows_free(rows, n);

	assert_int_equal(store_container_delete(t->s, "c2", &e), 0);
	assert_int_equal(store_container_delete(t->s, "nope", &e), 0);
	t_reopen(t);
	assert_int_equal(store_container_list(t->s, &rows, &n, &e), 0);
	assert_int_equal(n, 2);
	assert_string_equal(rows[0].id, "c1");
	assert_string_equal(rows[1].id, "c3");
	store_rows_free(rows, n);
	/* A new row goes last even after deletes. */
	assert_int_equal(
	    t_put(t->s, "c5", "/two", "created", "{}", NULL, 0, &e), 0);
	assert_int_equal(store_container_list(t->s, &rows, &n, &e), 0);
	assert_int_equal(n, 3);
	assert_string_equal(rows[2].id, "c5");
	store_rows_free(rows, n);
}

static void
t_kv(void **state)
{
	struct t_store *t = *state;
	struct err e;
	char *v = (char *)"x";

	assert_int_equal(store_kv_get(t->s, "missing", &v, &e), 0);
	assert_null(v);
	assert_int_equal(store_kv_set(t->s, "k", "v1", &e), 0);
	assert_int_equal(store_kv_set(t->s, "k", "v2", &e), 0);
	t_reopen(t);
	assert_int_equal(store_kv_get(t->s, "k", &v, &e), 0);
	assert_string_equal(v, "v2");
	free(v);
	assert_int_equal(store_kv_del(t->s, "k", &e), 0);
	assert_int_equal(store_kv_get(t->s, "k", &v, &e), 0);
	assert_null(v);
}

/* Volumes by name, in creation order; a put of a name replaces its doc
 * and keeps its place. */
static void
t_volumes(void **state)
{
	struct t_store *t = *state;
	struct strv names, docs;
	struct err e;

	assert_int_equal(store_volume_put(t->s, "b", "{\"n\":1}", &e), 0);
	assert_int_equal(store_volume_put(t->s, "a", "{\"n\":2}", &e), 0);
	assert_int_equal(store_volume_put(t->s, "b", "{\"n\":3}", &e), 0);
	t_reopen(t);
	strv_init(&names);
	strv_init(&docs);
	assert_int_equal(store_volume_list(t->s, &names, &docs, &e), 0);
	assert_int_equal(names.n, 2);
	assert_string_equal(names.v[0], "b");
	assert_string_equal(docs.v[0], "{\"n\":3}");
	assert_string_equal(names.v[1], "a");
	strv_free(&names);
	strv_free(&docs);
	assert_int_equal(store_volume_delete(t->s, "b", &e), 0);
	strv_init(&names);
	strv_init(&docs);
	assert_int_equal(store_volume_list(t->s, &names, &docs, &e), 0);
	assert_int_equal(names.n, 1);
	strv_free(&names);
	strv_free(&docs);
}

/* Listing by prefix: exact prefix (no LIKE wildcards), in key order. */
static void
t_kv_list(void **state)
{
	struct t_store *t = *state;
	struct strv k, v;
	struct err e;

	assert_int_equal(store_kv_set(t->s, "ecs.taskdef.b", "arn:b", &e), 0);
	assert_int_equal(store_kv_set(t->s, "ecs.taskdef.a", "arn:a", &e), 0);
	assert_int_equal(store_kv_set(t->s, "ecs_taskdef.x", "no", &e), 0);
	assert_int_equal(store_kv_set(t->s, "ecs.taskdef", "no", &e), 0);
	t_reopen(t);
	strv_init(&k);
	strv_init(&v);
	assert_int_equal(store_kv_list(t->s, "ecs.taskdef.", &k, &v, &e), 0);
	assert_int_equal(k.n, 2);
	assert_string_equal(k.v[0], "ecs.taskdef.a");
	assert_string_equal(v.v[0], "arn:a");
	assert_string_equal(k.v[1], "ecs.taskdef.b");
	assert_string_equal(v.v[1], "arn:b");
	strv_free(&k);
	strv_free(&v);
	strv_init(&k);
	strv_init(&v);
	assert_int_equal(store_kv_list(t->s, "none.", &k, &v, &e), 0);
	assert_int_equal(k.n, 0);
	strv_free(&k);
	strv_free(&v);
}

static void
t_events(void **state)
{
	struct t_store *t = *state;
	struct err e;
	char **docs, buf[32];
	size_t n;

	for (int i = 1; i <= 10; i++) {
		snprintf(buf, sizeof(buf), "{\"i\":%d}", i);
		assert_int_equal(
		    store_event_append(t->s, (int64_t)i * 100, buf, 5, &e), 0);
	}
	/* Only the newest five are left: ns 600..1000. */
	assert_int_equal(
	    store_event_list(t->s, 0, INT64_MAX, &docs, &n, &e), 0);
	assert_int_equal(n, 5);
	assert_string_equal(docs[0], "{\"i\":6}");
	assert_string_equal(docs[4], "{\"i\":10}");
	for (size_t i = 0; i < n; i++)
		free(docs[i]);
	free(docs);

	/* Inclusive range. */
	assert_int_equal(store_event_list(t->s, 700, 900, &docs, &n, &e), 0);
	assert_int_equal(n, 3);
	assert_string_equal(docs[0], "{\"i\":7}");
	assert_string_equal(docs[2], "{\"i\":9}");
	for (size_t i = 0; i < n; i++)
		free(docs[i]);
	free(docs);

	assert_int_equal(store_event_list(t->s, 2000, 3000, &docs, &n, &e), 0);
	assert_int_equal(n, 0);
	free(docs);

	/* A larger keep trims nothing. */
	assert_int_equal(store_event_append(t->s, 1100, "{}", 100, &e), 0);
	assert_int_equal(
	    store_event_list(t->s, 0, INT64_MAX, &docs, &n, &e), 0);
	assert_int_equal(n, 6);
	for (size_t i = 0; i < n; i++)
		free(docs[i]);
	free(docs);
}

/* Trimming is a range delete on seq, which counts on across reopening:
 * a smaller keep trims the surplus at once, and the newest rows stay. */
static void
t_events_trim(void **state)
{
	struct t_store *t = *state;
	struct err e;
	char **docs, buf[32];
	size_t n;

	for (int i = 1; i <= 50; i++) {
		snprintf(buf, sizeof(buf), "{\"i\":%d}", i);
		assert_int_equal(
		    store_event_append(t->s, (int64_t)i, buf, 100, &e), 0);
	}
	t_reopen(t);
	assert_int_equal(store_event_append(t->s, 51, "{\"i\":51}", 3, &e), 0);
	assert_int_equal(
	    store_event_list(t->s, 0, INT64_MAX, &docs, &n, &e), 0);
	assert_int_equal(n, 3);
	assert_string_equal(docs[0], "{\"i\":49}");
	assert_string_equal(docs[2], "{\"i\":51}");
	for (size_t i = 0; i < n; i++)
		free(docs[i]);
	free(docs);
}

static long long
t_file_size(const char *path)
{
	struct stat sb;

	return stat(path, &sb) == 0 ? (long long)sb.st_size : -1;
}

static long long
t_pragma_int(const char *path, const char *sql)
{
	sqlite3 *db;
	sqlite3_stmt *st;
	long long v;

	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	sqlite3_close(db);
	return v;
}

/* The file shrinks once the containers are removed (closing checkpoints
 * the WAL into it). */
static void
t_shrink(void **state)
{
	struct t_store *t = *state;
	struct err e;
	char id[65], name[32], *doc = xmalloc(8192);
	long long full, empty;

	memset(doc, 'x', 8191);
	doc[0] = '"';
	doc[8190] = '"';
	doc[8191] = '\0';
	for (int i = 0; i < 500; i++) {
		snprintf(id, sizeof(id), "%064d", i);
		snprintf(name, sizeof(name), "c%d", i);
		assert_int_equal(
		    t_put(t->s, id, name, "exited", doc, NULL, 0, &e), 0);
	}
	store_close(t->s);
	t->s = NULL;
	full = t_file_size(t->path);
	assert_true(full > 500 * 8192);
	assert_int_equal(t_pragma_int(t->path, "PRAGMA auto_vacuum"), 2);
	t_reopen(t);
	for (int i = 0; i < 500; i++) {
		snprintf(id, sizeof(id), "%064d", i);
		assert_int_equal(store_container_delete(t->s, id, &e), 0);
	}
	store_close(t->s);
	t->s = NULL;
	empty = t_file_size(t->path);
	assert_true(empty < full / 10);
	t_reopen(t);
	free(doc);
}

/* A database made before auto_vacuum was set is vacuumed into the mode
 * once, keeping its rows. */
static void
t_auto_vacuum_old(void **state)
{
	struct t_store *t = *state;
	sqlite3 *db;
	struct store_row *rows;
	size_t n;
	struct err e;

	assert_int_equal(
	    t_put(t->s, HEX_A, "old", "exited", "{\"Id\":1}", NULL, 0, &e), 0);
	store_close(t->s);
	t->s = NULL;
	assert_int_equal(sqlite3_open(t->path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, "PRAGMA auto_vacuum = NONE; VACUUM;",
			     NULL, NULL, NULL),
	    SQLITE_OK);
	sqlite3_close(db);
	assert_int_equal(t_pragma_int(t->path, "PRAGMA auto_vacuum"), 0);
	t_reopen(t);
	assert_int_equal(store_container_list(t->s, &rows, &n, &e), 0);
	assert_int_equal(n, 1);
	assert_string_equal(rows[0].name, "old");
	store_rows_free(rows, n);
	store_close(t->s);
	t->s = NULL;
	assert_int_equal(t_pragma_int(t->path, "PRAGMA auto_vacuum"), 2);
	t_reopen(t);
}

static void
t_facts_row(void *arg, const struct store_ctr_row *r)
{
	int *seen = arg;

	assert_non_null(r->doc);
	if (strcmp(r->id, "c2") == 0) {
		assert_int_equal(r->factslen, 3);
		assert_memory_equal(r->facts, "ab\0", 3);
	} else
		assert_null(r->facts);
	(*seen)++;
}

static int
t_no_doc(const struct store_ctr_row *r)
{
	(void)r;
	return 0;
}

static void
t_doc_row(void *arg, const struct store_ctr_row *r)
{
	int *seen = arg;

	assert_null(r->doc);
	(*seen)++;
}

/* The store closed and its containers tables dropped, then sql run: an
 * older schema to migrate from. The caller closes the database. */
static sqlite3 *
t_old_db(struct t_store *t, const char *sql)
{
	sqlite3 *db;

	store_close(t->s);
	t->s = NULL;
	assert_int_equal(sqlite3_open(t->path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db,
			     "DROP TABLE containers; DROP TABLE "
			     "container_docs; DROP TABLE container_entries;",
			     NULL, NULL, NULL),
	    SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
	return db;
}

/* Schema 3 to 5: every row kept in its order; facts put, listed and
 * declined docs. */
static void
t_schema4(void **state)
{
	struct t_store *t = *state;
	sqlite3 *db;
	struct store_row *rows;
	size_t n, len;
	struct err e;
	char *doc;
	int seen = 0;

	/* Schema 3's containers table, the other tables as they are. */
	db = t_old_db(t,
	    "CREATE TABLE containers (seq INTEGER PRIMARY KEY "
	    "AUTOINCREMENT, id TEXT NOT NULL UNIQUE, name TEXT UNIQUE, "
	    "state TEXT, doc TEXT NOT NULL);"
	    "INSERT INTO containers (id, name, state, doc) VALUES "
	    "('c1', 'one', 'exited', '{\"n\":1}'), "
	    "('c2', 'two', 'running', '{\"n\":2}');"
	    "PRAGMA user_version = 3;");
	sqlite3_close(db);
	t_reopen(t);
	assert_int_equal(store_container_list(t->s, &rows, &n, &e), 0);
	assert_int_equal(n, 2);
	assert_string_equal(rows[0].id, "c1");
	assert_string_equal(rows[1].doc, "{\"n\":2}");
	store_rows_free(rows, n);
	assert_int_equal(
	    t_put(t->s, "c2", "two", "exited", "{\"n\":3}", "ab\0", 3, &e), 0);
	assert_int_equal(
	    store_container_each(t->s, t_facts_row, NULL, &seen, &e), 0);
	assert_int_equal(seen, 2);
	seen = 0;
	assert_int_equal(
	    store_container_each(t->s, t_doc_row, t_no_doc, &seen, &e), 0);
	assert_int_equal(seen, 2);
	assert_int_equal(store_container_doc(t->s, "c2", &doc, &len, &e), 0);
	assert_string_equal(doc, "{\"n\":3}");
	assert_int_equal(len, 7);
	free(doc);
	assert_int_equal(store_container_doc(t->s, "nope", &doc, &len, &e), 0);
	assert_null(doc);
	/* New rows come after the old ones. */
	assert_int_equal(
	    t_put(t->s, "c3", "three", "created", "{}", NULL, 0, &e), 0);
	assert_int_equal(store_container_list(t->s, &rows, &n, &e), 0);
	assert_int_equal(n, 3);
	assert_string_equal(rows[2].id, "c3");
	store_rows_free(rows, n);
}

static void
t_facts5_row(void *arg, const struct store_ctr_row *r)
{
	static const char facts5[] = "pA=1\0x0\0s5\0f6\0lk=v\0";
	int *seen = arg;

	if (strcmp(r->id, "c1") == 0) {
		assert_int_equal(r->factslen, sizeof(facts5));
		assert_memory_equal(r->facts, facts5, sizeof(facts5));
	} else
		assert_null(r->facts);
	(*seen)++;
}

static void
t_entry_row(void *arg, const char *id, const void *entry, size_t len)
{
	int *seen = arg;

	assert_string_equal(id, "c1");
	assert_int_equal(len, 6);
	assert_memory_equal(entry, "3:{,x}", 6);
	(*seen)++;
}

/* Schema 4 to 5: the list entry moves out of the facts ("e" item) into
 * its own table, the rest of the facts stay; a row without facts keeps
 * none. Then entries put, read, listed, and deleted with their row. */
static void
t_schema5(void **state)
{
	struct t_store *t = *state;
	sqlite3 *db;
	struct store_row *rows;
	struct err e;
	char *v;
	size_t n, len;
	int seen = 0;
	static const char facts4[] = "pA=1\0x0\0s5\0f6\0e3:{,x}\0lk=v\0";

	db = t_old_db(t,
	    "CREATE TABLE containers (seq INTEGER PRIMARY KEY "
	    "AUTOINCREMENT, id TEXT NOT NULL UNIQUE, name TEXT UNIQUE, "
	    "state TEXT, facts BLOB, doc TEXT NOT NULL);"
	    "INSERT INTO containers (id, name, state, doc) VALUES "
	    "('c1', 'one', 'exited', '{\"n\":1}'), "
	    "('c2', 'two', 'running', '{\"n\":2}');"
	    "PRAGMA user_version = 4;");
	{
		sqlite3_stmt *st;
		assert_int_equal(sqlite3_prepare_v2(db,
				     "UPDATE containers SET facts = ?1 "
				     "WHERE id = 'c1'",
				     -1, &st, NULL),
		    SQLITE_OK);
		sqlite3_bind_blob(st, 1, facts4, sizeof(facts4), SQLITE_STATIC);
		assert_int_equal(sqlite3_step(st), SQLITE_DONE);
		sqlite3_finalize(st);
	}
	sqlite3_close(db);
	t_reopen(t);
	assert_int_equal(store_container_list(t->s, &rows, &n, &e), 0);
	assert_int_equal(n, 2);
	assert_string_equal(rows[0].id, "c1");
	assert_string_equal(rows[0].doc, "{\"n\":1}");
	assert_string_equal(rows[1].doc, "{\"n\":2}");
	store_rows_free(rows, n);
	seen = 0;
	assert_int_equal(
	    store_container_each(t->s, t_facts5_row, NULL, &seen, &e), 0);
	assert_int_equal(seen, 2);
	assert_int_equal(store_container_entry(t->s, "c1", &v, &len, &e), 0);
	assert_int_equal(len, 6);
	assert_string_equal(v, "3:{,x}");
	free(v);
	assert_int_equal(store_container_entry(t->s, "c2", &v, &len, &e), 0);
	assert_null(v);
	seen = 0;
	assert_int_equal(
	    store_container_entries(t->s, t_entry_row, &seen, &e), 0);
	assert_int_equal(seen, 1);

	/* A put writes the entry; a put without one clears it. */
	assert_int_equal(t_put_entry(t->s, "c2", "two", "1:{}", &e), 0);
	assert_int_equal(store_container_entry(t->s, "c2", &v, &len, &e), 0);
	assert_string_equal(v, "1:{}");
	free(v);
	assert_int_equal(
	    t_put(t->s, "c1", "one", "exited", "{}", NULL, 0, &e), 0);
	assert_int_equal(store_container_entry(t->s, "c1", &v, &len, &e), 0);
	assert_null(v);
	/* A failed put (a name taken) leaves no half of it. */
	assert_int_equal(t_put_entry(t->s, "c3", "two", "1:{}", &e), -1);
	/* The document and the entry go with their row. */
	assert_int_equal(store_container_delete(t->s, "c2", &e), 0);
	assert_int_equal(store_container_doc(t->s, "c2", &v, &len, &e), 0);
	assert_null(v);
	t_reopen(t);
	assert_int_equal(
	    t_pragma_int(t->path,
		"SELECT (SELECT count(*) FROM container_docs WHERE "
		"seq NOT IN (SELECT seq FROM containers)) + "
		"(SELECT count(*) FROM container_entries WHERE "
		"seq NOT IN (SELECT seq FROM containers))"),
	    0);
}

static void
t_put_images(struct store *s)
{
	struct err e;

	assert_int_equal(store_image_put(s, ID_A,
			     "{\"Id\":\"" ID_A "\",\"Created\":"
			     "\"2024-01-02T03:04:05.5Z\",\"Size\":1234,"
			     "\"Config\":{\"Labels\":{\"l\":\"v\"}}}",
			     &e),
	    0);
	assert_int_equal(
	    store_image_put(s, ID_B, "{\"Id\":\"" ID_B "\",\"Size\":7}", &e),
	    0);
	assert_int_equal(
	    store_image_put(s, ID_C, "{\"Id\":\"" ID_C "\"}", &e), 0);
	assert_int_equal(store_image_ref_set(
			     s, "docker.io/library/busybox:latest", ID_A, &e),
	    0);
	assert_int_equal(store_image_ref_set(s,
			     "docker.io/library/busybox@sha256:dd", ID_A, &e),
	    0);
	assert_int_equal(store_image_ref_set(s, "ghcr.io/x/y:1", ID_A, &e), 0);
	assert_int_equal(
	    store_image_ref_set(s, "docker.io/library/alpine:3", ID_B, &e), 0);
}

static void
t_images(void **state)
{
	struct t_store *t = *state;
	struct strv sv;
	struct err e;
	char *doc;

	t_put_images(t->s);
	assert_int_equal(store_image_count(t->s), 3);
	/* A re-put keeps the image's place. */
	assert_int_equal(
	    store_image_put(t->s, ID_A, "{\"Id\":\"" ID_A "\",\"Size\":1}", &e),
	    0);
	strv_init(&sv);
	assert_int_equal(store_image_ids(t->s, &sv, &e), 0);
	assert_int_equal(sv.n, 3);
	assert_string_equal(sv.v[0], ID_A);
	assert_string_equal(sv.v[1], ID_B);
	assert_string_equal(sv.v[2], ID_C);
	strv_free(&sv);

	assert_int_equal(store_image_get(t->s, ID_A, &doc, &e), 0);
	assert_string_equal(doc, "{\"Id\":\"" ID_A "\",\"Size\":1}");
	free(doc);
	assert_int_equal(store_image_get(t->s, "sha256:00", &doc, &e), 0);
	assert_null(doc);

	strv_init(&sv);
	assert_int_equal(store_image_refs(t->s, ID_A, &sv, &e), 0);
	assert_int_equal(sv.n, 3);
	assert_string_equal(sv.v[0], "docker.io/library/busybox:latest");
	assert_string_equal(sv.v[1], "docker.io/library/busybox@sha256:dd");
	assert_string_equal(sv.v[2], "ghcr.io/x/y:1");
	strv_free(&sv);

	/* set moves a ref; del removes it. */
	assert_int_equal(
	    store_image_ref_set(t->s, "ghcr.io/x/y:1", ID_B, &e), 0);
	assert_int_equal(store_image_ref_del(
			     t->s, "docker.io/library/busybox@sha256:dd", &e),
	    0);
	strv_init(&sv);
	assert_int_equal(store_image_refs(t->s, ID_A, &sv, &e), 0);
	assert_int_equal(sv.n, 1);
	assert_string_equal(sv.v[0], "docker.io/library/busybox:latest");
	strv_free(&sv);
	strv_init(&sv);
	assert_int_equal(store_image_refs(t->s, ID_B, &sv, &e), 0);
	assert_int_equal(sv.n, 2);
	strv_free(&sv);

	/* delete takes the refs with it. */
	assert_int_equal(store_image_delete(t->s, ID_B, &e), 0);
	assert_int_equal(store_image_count(t->s), 2);
	strv_init(&sv);
	assert_int_equal(store_image_refs(t->s, ID_B, &sv, &e), 0);
	assert_int_equal(sv.n, 0);
	strv_free(&sv);
	assert_int_equal(
	    store_image_resolve(t->s, "ghcr.io/x/y:1", &doc, &e), 0);
	assert_null(doc);

	t_reopen(t);
	assert_int_equal(store_image_count(t->s), 2);
	assert_int_equal(store_image_delete(t->s, "sha256:00", &e), 0);
}

static void
t_resolve(void **state)
{
	struct t_store *t = *state;
	struct err e;
	char *id;

	t_put_images(t->s);
	assert_int_equal(store_image_resolve(
			     t->s, "docker.io/library/busybox:latest", &id, &e),
	    0);
	assert_string_equal(id, ID_A);
	free(id);
	assert_int_equal(store_image_resolve(t->s, ID_C, &id, &e), 0);
	assert_string_equal(id, ID_C);
	free(id);
	assert_int_equal(store_image_resolve(t->s, HEX_B, &id, &e), 0);
	assert_string_equal(id, ID_B);
	free(id);
	assert_int_equal(store_image_resolve(t->s, "aaaa1", &id, &e), 0);
	assert_string_equal(id, ID_A);
	free(id);
	assert_int_equal(store_image_resolve(t->s, "sha256:bb", &id, &e), 0);
	assert_string_equal(id, ID_C);
	free(id);
	/* A ref wins over an id prefix that spells the same. */
	assert_int_equal(store_image_ref_set(t->s, "bbbb", ID_B, &e), 0);
	assert_int_equal(store_image_resolve(t->s, "bbbb", &id, &e), 0);
	assert_string_equal(id, ID_B);
	free(id);

	id = (char *)"x";
	assert_int_equal(store_image_resolve(t->s, "aaaa", &id, &e), -1);
	assert_null(id);
	assert_int_equal(e.status, 400);
	assert_non_null(strstr(e.msg, "ambiguous image id prefix"));
	assert_int_equal(store_image_resolve(t->s, "sha256:a", &id, &e), -1);
	assert_int_equal(e.status, 400);

	assert_int_equal(store_image_resolve(t->s, "cccc", &id, &e), 0);
	assert_null(id);
	assert_int_equal(store_image_resolve(t->s, "busybox", &id, &e), 0);
	assert_null(id);
	assert_int_equal(store_image_resolve(t->s, "", &id, &e), 0);
	assert_null(id);
	assert_int_equal(store_image_resolve(t->s, "sha256:", &id, &e), 0);
	assert_null(id);
	assert_int_equal(store_image_resolve(t->s, "AAAA1", &id, &e), 0);
	assert_null(id);
	assert_int_equal(
	    store_image_resolve(t->s, "sha256:" HEX_A "0", &id, &e), 0);
	assert_null(id);
}

static void
t_summaries(void **state)
{
	struct t_store *t = *state;
	cJSON *arr, *a, *b, *c;

	arr = store_image_summaries(t->s);
	assert_non_null(arr);
	assert_int_equal(cJSON_GetArraySize(arr), 0);
	cJSON_Delete(arr);

	t_put_images(t->s);
	arr = store_image_summaries(t->s);
	assert_int_equal(cJSON_GetArraySize(arr), 3);
	a = cJSON_GetArrayItem(arr, 0);
	b = cJSON_GetArrayItem(arr, 1);
	c = cJSON_GetArrayItem(arr, 2);
	assert_string_equal(json_str(a, "Id"), ID_A);
	assert_string_equal(json_str(a, "ParentId"), "");
	assert_int_equal(json_int(a, "Created", 0), 1704164645);
	assert_int_equal(json_int(a, "Size", 0), 1234);
	assert_int_equal(json_int(a, "VirtualSize", 0), 1234);
	assert_int_equal(json_int(a, "SharedSize", 0), -1);
	assert_int_equal(json_int(a, "Containers", 0), -1);
	assert_string_equal(json_str(json_obj(a, "Labels"), "l"), "v");
	assert_int_equal(cJSON_GetArraySize(json_arr(a, "RepoTags")), 2);
	assert_string_equal(
	    cJSON_GetArrayItem(json_arr(a, "RepoTags"), 0)->valuestring,
	    "busybox:latest");
	assert_string_equal(
	    cJSON_GetArrayItem(json_arr(a, "RepoTags"), 1)->valuestring,
	    "ghcr.io/x/y:1");
	assert_int_equal(cJSON_GetArraySize(json_arr(a, "RepoDigests")), 1);
	assert_string_equal(
	    cJSON_GetArrayItem(json_arr(a, "RepoDigests"), 0)->valuestring,
	    "busybox@sha256:dd");

	assert_string_equal(
	    cJSON_GetArrayItem(json_arr(b, "RepoTags"), 0)->valuestring,
	    "alpine:3");
	assert_int_equal(json_int(b, "Size", 0), 7);
	assert_int_equal(json_int(b, "Created", -5), 0);

	assert_non_null(json_arr(c, "RepoTags"));
	assert_int_equal(cJSON_GetArraySize(json_arr(c, "RepoTags")), 0);
	assert_int_equal(cJSON_GetArraySize(json_arr(c, "RepoDigests")), 0);
	assert_non_null(json_obj(c, "Labels"));
	assert_int_equal(cJSON_GetArraySize(json_obj(c, "Labels")), 0);
	cJSON_Delete(arr);
}

static void
t_schema(void **state)
{
	struct t_store *t = *state;
	sqlite3 *db;
	sqlite3_stmt *st;

	store_close(t->s);
	t->s = NULL;
	assert_int_equal(sqlite3_open(t->path, &db), SQLITE_OK);
	assert_int_equal(
	    sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, NULL),
	    SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	assert_int_equal(sqlite3_column_int(st, 0), 5);
	sqlite3_finalize(st);
	assert_int_equal(
	    sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &st, NULL),
	    SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	assert_string_equal((const char *)sqlite3_column_text(st, 0), "wal");
	sqlite3_finalize(st);
	/* A newer schema is refused rather than misread. */
	assert_int_equal(
	    sqlite3_exec(db, "PRAGMA user_version = 99", NULL, NULL, NULL),
	    SQLITE_OK);
	sqlite3_close(db);
	{
		struct err e;
		assert_null(store_open(t->path, &e));
		assert_int_equal(e.status, 500);
		assert_non_null(strstr(e.msg, "newer"));
	}
}

static void
t_open_fail(void **state)
{
	struct t_store *t = *state;
	struct err e;
	char *p;
	FILE *f;

	p = xasprintf("%s/missing/state.db", t->dir);
	assert_null(store_open(p, &e));
	assert_int_equal(e.status, 500);
	assert_true(strncmp(e.msg, "store: open ", 12) == 0);
	assert_non_null(strstr(e.msg, p));
	free(p);

	/* Not a database. */
	p = xasprintf("%s/junk.db", t->dir);
	f = fopen(p, "w");
	assert_non_null(f);
	fputs("this is not an sqlite database, not at all, no.........", f);
	fclose(f);
	assert_null(store_open(p, &e));
	assert_int_equal(e.status, 500);
	assert_true(strncmp(e.msg, "store: ", 7) == 0);
	unlink(p);
	free(p);

	/* Read-only file (meaningless as root, who may write anyway). */
	if (geteuid() != 0) {
		p = xasprintf("%s/ro.db", t->dir);
		f = fopen(p, "w");
		assert_non_null(f);
		fclose(f);
		assert_int_equal(chmod(p, 0400), 0);
		assert_null(store_open(p, &e));
		assert_non_null(strstr(e.msg, "not writable"));
		unlink(p);
		free(p);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(
		    t_containers, t_setup, t_teardown),
		cmocka_unit_test_setup_teardown(t_kv, t_setup, t_teardown),
		cmocka_unit_test_setup_teardown(t_volumes, t_setup, t_teardown),
		cmocka_unit_test_setup_teardown(t_kv_list, t_setup, t_teardown),
		cmocka_unit_test_setup_teardown(t_events, t_setup, t_teardown),
		cmocka_unit_test_setup_teardown(
		    t_events_trim, t_setup, t_teardown),
		cmocka_unit_test_setup_teardown(t_shrink, t_setup, t_teardown),
		cmocka_unit_test_setup_teardown(
		    t_auto_vacuum_old, t_setup, t_teardown),
		cmocka_unit_test_setup_teardown(t_images, t_setup, t_teardown),
		cmocka_unit_test_setup_teardown(t_resolve, t_setup, t_teardown),
		cmocka_unit_test_setup_teardown(
		    t_summaries, t_setup, t_teardown),
		cmocka_unit_test_setup_teardown(t_schema, t_setup, t_teardown),
		cmocka_unit_test_setup_teardown(t_schema4, t_setup, t_teardown),
		cmocka_unit_test_setup_teardown(t_schema5, t_setup, t_teardown),
		cmocka_unit_test_setup_teardown(
		    t_open_fail, t_setup, t_teardown),
	};

	json_init();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
