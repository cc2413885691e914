/* JSON helpers over cJSON: bounded parsing, case-sensitive typed getters
 * that report wrong types as 400s, and small builders. */
#ifndef SOCKERLESS_JSON_H
#define SOCKERLESS_JSON_H

#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "sockerless/err.h"
#include "sockerless/str.h"

/* Routes cJSON's allocations through xmalloc. Call once at startup. */
void json_init(void);

/* Parses exactly len bytes. On failure fills e with 400 and returns NULL.
 * The result is owned by the caller (cJSON_Delete). */
cJSON *json_parse(const char *data, size_t len, struct err *e);

/* Borrowed lookups (NULL when missing, null, or of another type). */
cJSON *json_obj(const cJSON *o, const char *key);
cJSON *json_arr(const cJSON *o, const char *key);
const char *json_str(const cJSON *o, const char *key);
/* Returns def when missing or not a number/bool. */
int64_t json_int(const cJSON *o, const char *key, int64_t def);
/* A JSON number's value as int64, its fraction dropped; -1 when it is not
 * finite or is beyond int64, where a plain cast is undefined. */
int json_num_int(double d, int64_t *out);
int json_bool(const cJSON *o, const char *key, int def);

/* Typed checks for client input: missing or null is fine (returns 0 and
 * leaves *out alone); a wrong type is a 400 naming the field. */
int json_check_str(
    const cJSON *o, const char *key, const char **out, struct err *e);
int json_check_int(
    const cJSON *o, const char *key, int64_t *out, struct err *e);
int json_check_bool(const cJSON *o, const char *key, int *out, struct err *e);
/* Accepts an array of strings (or, when allow_string, a single string as
 * Docker does for Cmd/Entrypoint). Appends to out. */
int json_check_strv(const cJSON *o, const char *key, int allow_string,
    struct strv *out, struct err *e);
/* Accepts an object of string values (Go's map[string]string, as Labels);
 * go_field names the field in dockerd's words for the 400 message. */
int json_check_strmap(
    const cJSON *o, const char *key, const char *go_field, struct err *e);

/* Builders: add copies to o; NULL strings become JSON null. */
void json_add_str(cJSON *o, const char *key, const char *val);
void json_add_int(cJSON *o, const char *key, int64_t val);
void json_add_bool(cJSON *o, const char *key, int val);
cJSON *json_strv_to_array(const struct strv *sv);
/* Replaces (or adds) key in o with item, taking ownership of item. */
void json_set(cJSON *o, const char *key, cJSON *item);

/* Serialises unformatted; caller frees. */
char *json_print(const cJSON *o);

#endif
