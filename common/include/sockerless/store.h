/* The backend's SQLite state (WAL, synchronous=NORMAL, busy timeout):
 * containers, images and their references, events, and a small key/value
 * table. One connection, used from the event loop only. Every function
 * returns 0 or -1 with e set (status 500, message names the operation). */
#ifndef SOCKERLESS_STORE_H
#define SOCKERLESS_STORE_H

#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "sockerless/err.h"
#include "sockerless/str.h"

struct store;

struct store_row {
	char *id, *name, *state, *doc;
};

/* Opens or creates the database and migrates the schema (user_version). */
struct store *store_open(const char *path, struct err *e);
void store_close(struct store *s);

/* One container's row: what store_container_put writes, and what
 * store_container_each passes (the strings valid during the call only; a
 * NULL column is NULL). facts (NULL: none) are what walks over all
 * containers read without the document, entry the rendered list entry
 * (container.c); each_ does not read the entry. */
struct store_ctr_row {
	const char *id, *name, *state;
	const void *facts;
	size_t factslen;
	const char *doc; /* NULL when want_doc declined it */
	size_t doclen;
	const void *entry; /* put only; NULL: none */
	size_t entrylen;
};
/* Containers: insert or replace by id, in one transaction. */
int store_container_put(
    struct store *s, const struct store_ctr_row *row, struct err *e);
/* All rows in creation order (insertion order); caller frees. */
int store_container_list(
    struct store *s, struct store_row **rows, size_t *n, struct err *e);
void store_rows_free(struct store_row *rows, size_t n);
/* Calls fn with each row in creation order, without copying: loading 100k
 * containers need not hold all their text at once. want_doc (NULL: every
 * row) says whether fn gets a row's document (one it declines is not
 * decoded). */
typedef void (*store_row_fn)(void *arg, const struct store_ctr_row *row);
int store_container_each(struct store *s, store_row_fn fn,
    int (*want_doc)(const struct store_ctr_row *row), void *arg, struct err *e);
/* One container's document text, NUL-terminated (caller frees): *doc is
 * NULL when no row has that id. */
int store_container_doc(
    struct store *s, const char *id, char **doc, size_t *len, struct err *e);
/* Its rendered list entry, the same way (NULL: none kept). */
int store_container_entry(
    struct store *s, const char *id, char **entry, size_t *len, struct err *e);
/* Calls fn with every kept list entry (valid during the call only), in
 * no particular order: one scan, for a first list of many containers. */
int store_container_entries(struct store *s,
    void (*fn)(void *arg, const char *id, const void *entry, size_t len),
    void *arg, struct err *e);
int store_container_delete(struct store *s, const char *id, struct err *e);

/* Networks: doc is the network's JSON; put inserts or replaces by id and
 * keeps the creation order list returns (appended to ids and docs). */
int store_network_put(
    struct store *s, const char *id, const char *doc, struct err *e);
int store_network_list(
    struct store *s, struct strv *ids, struct strv *docs, struct err *e);
int store_network_delete(struct store *s, const char *id, struct err *e);

/* Volumes: doc is the volume's JSON, keyed by name; list returns them in
 * creation order (appended to names and docs). */
int store_volume_put(
    struct store *s, const char *name, const char *doc, struct err *e);
int store_volume_list(
    struct store *s, struct strv *names, struct strv *docs, struct err *e);
int store_volume_delete(struct store *s, const char *name, struct err *e);

/* Key/value. get sets *v to NULL (and returns 0) when absent. */
int store_kv_get(struct store *s, const char *k, char **v, struct err *e);
int store_kv_set(struct store *s, const char *k, const char *v, struct err *e);
int store_kv_del(struct store *s, const char *k, struct err *e);
/* Every key starting with prefix, in key order, with its value (appended
 * to keys and vals, which the caller initialised). */
int store_kv_list(struct store *s, const char *prefix, struct strv *keys,
    struct strv *vals, struct err *e);

/* Events: doc is a JSON event; keeps the newest `keep` rows. */
int store_event_append(
    struct store *s, int64_t ns, const char *doc, long keep, struct err *e);
/* Events with since <= ns <= until in time order; caller frees each doc and
 * the array. */
int store_event_list(struct store *s, int64_t since, int64_t until,
    char ***docs, size_t *n, struct err *e);

/* Images. id is "sha256:<hex>", doc is the image inspect JSON. */
int store_image_put(
    struct store *s, const char *id, const char *doc, struct err *e);
/* *doc NULL when absent. */
int store_image_get(struct store *s, const char *id, char **doc, struct err *e);
/* Deletes the image and all refs pointing at it. */
int store_image_delete(struct store *s, const char *id, struct err *e);
/* All image ids, oldest first. */
int store_image_ids(struct store *s, struct strv *ids, struct err *e);
long store_image_count(struct store *s);
/* References ("docker.io/library/busybox:latest" or "name@sha256:..."),
 * each pointing at one image id; set replaces. */
int store_image_ref_set(
    struct store *s, const char *ref, const char *id, struct err *e);
int store_image_ref_del(struct store *s, const char *ref, struct err *e);
/* All refs of an image, sorted. */
int store_image_refs(
    struct store *s, const char *id, struct strv *refs, struct err *e);
/* ref is a full reference, a full id ("sha256:<hex>"), or an id prefix of
 * at least 1 hex char with or without "sha256:". *id is NULL (and 0
 * returned) when nothing matches; an ambiguous prefix is -1 with a 400. */
int store_image_resolve(
    struct store *s, const char *ref, char **id, struct err *e);
/* Docker ImageSummary objects for every image: Id, ParentId "", RepoTags
 * (refs with a tag), RepoDigests (refs with @), Created (unix seconds from
 * the doc's "Created"), Size, SharedSize -1, VirtualSize, Labels (from
 * Config.Labels, {} if none), Containers -1. Never NULL. */
cJSON *store_image_summaries(struct store *s);

#endif
