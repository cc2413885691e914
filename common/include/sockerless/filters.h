/* Docker's "filters" query parameter: JSON {"key": ["v1","v2"]} or the
 * legacy {"key": {"v1": true}} form. Every match function returns 1 when
 * the key is absent (no constraint) or any value matches, else 0. */
#ifndef SOCKERLESS_FILTERS_H
#define SOCKERLESS_FILTERS_H

#include <stdint.h>

#include <cjson/cJSON.h>

#include "sockerless/err.h"

struct filters;

/* q may be NULL or "" (no filters). keys is a NULL-terminated list of the
 * allowed keys; an unknown key is a 400 "invalid filter 'x'", bad JSON a
 * 400 too. Returns NULL with e set on error. */
struct filters *filters_parse(const char *q, const char **keys, struct err *e);
void filters_free(struct filters *f);
int filters_has(const struct filters *f, const char *key);
/* Each value of key must be in the NULL-terminated allowed list, else 400
 * "invalid filter 'key=value'" and -1. */
int filters_check_values(const struct filters *f, const char *key,
    const char **allowed, struct err *e);
/* Value is a prefix of id (Docker's id filter). */
int filters_match_id_prefix(
    const struct filters *f, const char *key, const char *id);
/* Any value as a POSIX extended regex matches any of the NULL-terminated
 * names (Docker's name filter, names with or without the leading '/').
 * Returns -1 with a 400 err on a bad regex. */
int filters_match_regex(const struct filters *f, const char *key,
    const char **names, struct err *e);
/* Every value ("k" or "k=v") holds in labels (a JSON object of strings,
 * may be NULL) — Docker requires all label filters to match. */
int filters_match_labels(
    const struct filters *f, const char *key, const cJSON *labels);
int filters_match_exact(
    const struct filters *f, const char *key, const char *v);
/* fnmatch(3) patterns, e.g. reference=busybox* */
int filters_match_glob(const struct filters *f, const char *key, const char *v);
/* The "until" key as a time in ns since the epoch (0 when absent). */
int filters_until(const struct filters *f, int64_t *until, struct err *e);
/* Docker timestamps: unix seconds with optional fraction ("1700000000.5"),
 * RFC 3339 ("2024-01-02T03:04:05Z", with offset or fraction), or a
 * duration before now ("10m", "1h30m", "2s"). Returns 0 or -1. */
int filters_parse_time(const char *s, int64_t *ns);

#endif
