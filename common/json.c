/* cJSON helpers. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sockerless/json.h"
#include "sockerless/log.h"
#include "sockerless/str.h"
#include "sockerless/xmalloc.h"

void
json_init(void)
{
	cJSON_Hooks hooks = { xmalloc, free };

	cJSON_InitHooks(&hooks);
}

cJSON *
json_parse(const char *data, size_t len, struct err *e)
{
	cJSON *o;
	const char *end = NULL;

	if (data == NULL || len == 0) {
		err_set(e, 400, "invalid JSON: request body is empty");
		return NULL;
	}
	o = cJSON_ParseWithLengthOpts(data, len, &end, 0);
	if (o == NULL) {
		size_t at =
		    end != NULL && end >= data ? (size_t)(end - data) : 0;
		err_set(e, 400, "invalid JSON: syntax error at offset %zu", at);
		return NULL;
	}
	/* Trailing non-space bytes after the value are an error too. */
	for (; end != NULL && (size_t)(end - data) < len; end++) {
		if (*end != ' ' && *end != '\n' && *end != '\r' &&
		    *end != '\t' && *end != '\0') {
			cJSON_Delete(o);
			err_set(e, 400,
			    "invalid JSON: unexpected data after "
			    "the value at offset %zu",
			    (size_t)(end - data));
			return NULL;
		}
	}
	return o;
}

cJSON *
json_obj(const cJSON *o, const char *key)
{
	cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

	return cJSON_IsObject(v) ? v : NULL;
}

cJSON *
json_arr(const cJSON *o, const char *key)
{
	cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

	return cJSON_IsArray(v) ? v : NULL;
}

const char *
json_str(const cJSON *o, const char *key)
{
	cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

	return cJSON_IsString(v) ? v->valuestring : NULL;
}

int
json_num_int(double d, int64_t *out)
{
	/* 2^63 is exact in a double; INT64_MAX is not. */
	if (!(d >= -9223372036854775808.0 && d < 9223372036854775808.0))
		return -1;
	*out = (int64_t)d;
	return 0;
}

int64_t
json_int(const cJSON *o, const char *key, int64_t def)
{
	cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
	long long n;
	int64_t i;

	if (cJSON_IsNumber(v) && json_num_int(v->valuedouble, &i) == 0)
		return i;
	if (cJSON_IsBool(v))
		return cJSON_IsTrue(v);
	if (cJSON_IsRaw(v) && v->valuestring != NULL &&
	    str_tonum(v->valuestring, INT64_MIN, INT64_MAX, &n, NULL) == 0)
		return n;
	return def;
}

int
json_bool(const cJSON *o, const char *key, int def)
{
	cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

	if (cJSON_IsBool(v))
		return cJSON_IsTrue(v);
	return def;
}

static const char *
json_type_name(const cJSON *v)
{
	if (cJSON_IsString(v))
		return "string";
	if (cJSON_IsNumber(v))
		return "number";
	if (cJSON_IsBool(v))
		return "bool";
	if (cJSON_IsArray(v))
		return "array";
	if (cJSON_IsObject(v))
		return "object";
	return "value";
}

static int
json_type_err(struct err *e, const char *key, const cJSON *v, const char *want)
{
	return err_set(e, 400,
	    "json: cannot unmarshal %s into field %s of "
	    "type %s",
	    json_type_name(v), key, want);
}

int
json_check_str(const cJSON *o, const char *key, const char **out, struct err *e)
{
	cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

	if (v == NULL || cJSON_IsNull(v))
		return 0;
	if (!cJSON_IsString(v))
		return json_type_err(e, key, v, "string");
	*out = v->valuestring;
	return 0;
}

int
json_check_int(const cJSON *o, const char *key, int64_t *out, struct err *e)
{
	cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
	int64_t i;

	if (v == NULL || cJSON_IsNull(v))
		return 0;
	if (!cJSON_IsNumber(v))
		return json_type_err(e, key, v, "integer");
	if (json_num_int(v->valuedouble, &i) == -1 ||
	    (double)i != v->valuedouble)
		return err_set(e, 400,
		    "json: cannot unmarshal number %g into "
		    "field %s of type integer",
		    v->valuedouble, key);
	*out = i;
	return 0;
}

int
json_check_bool(const cJSON *o, const char *key, int *out, struct err *e)
{
	cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

	if (v == NULL || cJSON_IsNull(v))
		return 0;
	if (!cJSON_IsBool(v))
		return json_type_err(e, key, v, "bool");
	*out = cJSON_IsTrue(v);
	return 0;
}

int
json_check_strv(const cJSON *o, const char *key, int allow_string,
    struct strv *out, struct err *e)
{
	cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key), *it;

	if (v == NULL || cJSON_IsNull(v))
		return 0;
	if (allow_string && cJSON_IsString(v)) {
		strv_add(out, v->valuestring);
		return 0;
	}
	if (!cJSON_IsArray(v))
		return json_type_err(e, key, v, "[]string");
	cJSON_ArrayForEach(it, v) {
		if (!cJSON_IsString(it))
			return json_type_err(e, key, it, "string");
	}
	cJSON_ArrayForEach(it, v) {
		strv_add(out, it->valuestring);
	}
	return 0;
}

int
json_check_strmap(
    const cJSON *o, const char *key, const char *go_field, struct err *e)
{
	cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key), *it;

	if (v == NULL || cJSON_IsNull(v))
		return 0;
	if (!cJSON_IsObject(v))
		return err_set(e, 400,
		    "json: cannot unmarshal %s into Go struct field %s of "
		    "type map[string]string",
		    json_type_name(v), go_field);
	cJSON_ArrayForEach(it, v) {
		if (!cJSON_IsString(it))
			return err_set(e, 400,
			    "json: cannot unmarshal %s into Go struct field "
			    "%s of type string (the value of \"%s\"; quote "
			    "it to make it a string)",
			    json_type_name(it), go_field, it->string);
	}
	return 0;
}

void
json_add_str(cJSON *o, const char *key, const char *val)
{
	if (val == NULL)
		cJSON_AddNullToObject(o, key);
	else
		cJSON_AddStringToObject(o, key, val);
}

void
json_add_int(cJSON *o, const char *key, int64_t val)
{
	char raw[32];

	/* Above 2^53 a double loses digits (and cJSON prints an exponent),
	 * so such values go out as their exact decimal text. */
	if (val > (1LL << 53) || val < -(1LL << 53)) {
		snprintf(raw, sizeof(raw), "%lld", (long long)val);
		cJSON_AddRawToObject(o, key, raw);
	} else
		cJSON_AddNumberToObject(o, key, (double)val);
}

void
json_add_bool(cJSON *o, const char *key, int val)
{
	cJSON_AddBoolToObject(o, key, val);
}

cJSON *
json_strv_to_array(const struct strv *sv)
{
	cJSON *a = cJSON_CreateArray();

	for (size_t i = 0; sv != NULL && i < sv->n; i++)
		cJSON_AddItemToArray(a, cJSON_CreateString(sv->v[i]));
	return a;
}

void
json_set(cJSON *o, const char *key, cJSON *item)
{
	if (cJSON_GetObjectItemCaseSensitive(o, key) != NULL)
		cJSON_ReplaceItemInObjectCaseSensitive(o, key, item);
	else
		cJSON_AddItemToObject(o, key, item);
}

char *
json_print(const cJSON *o)
{
	char *s = cJSON_PrintUnformatted(o);

	if (s == NULL)
		fatalx("cannot serialise JSON");
	return s;
}
