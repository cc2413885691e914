/* Configuration with precedence file < environment < flags. Keys are
 * declared in tables pointing into caller structs. A YAML file's nested
 * maps become dotted keys ("ecs: {cluster: x}" is "ecs.cluster"). The env
 * name is PREFIX_ + key upper-cased with '.' -> '_' (SOCKERLESS_ECS_CLUSTER).
 * Flags: --key=value or --key value (dots as in the key, '_' or '-'
 * accepted), -c/--config FILE, -n/--check (validate and exit), -h/--help
 * (print keys with docs and defaults). */
#ifndef SOCKERLESS_CONFIG_H
#define SOCKERLESS_CONFIG_H

#include <stddef.h>

#include "sockerless/err.h"

enum config_type {
	CONFIG_STRING,	 /* char *, strdup'd */
	CONFIG_INT,	 /* long long, checked against [min, max] if min<max */
	CONFIG_BOOL,	 /* int: true/false/yes/no/on/off/1/0 */
	CONFIG_STRV,	 /* struct strv: YAML sequence, or comma-separated */
	CONFIG_DURATION, /* long long ms: "250ms", "30s", "5m", "1h", or ms */
};

struct config_key {
	const char *name; /* "cluster"; the set's prefix is not added */
	enum config_type type;
	size_t offset;	 /* into the set's base struct */
	const char *def; /* default as text, or NULL */
	long long min, max;
	int required; /* must be set by some source */
	const char *doc;
};

struct config_set {
	const struct config_key *keys;
	size_t n;
	void *base;
};

/* Returned by config_load when the program should exit 0 (--help, -n). */
#define CONFIG_EXIT_OK 1

/* Default file: the value of env PREFIX_CONFIG, else none. Unknown keys in
 * the file or flags are errors naming the key; bad values name key and
 * source. Returns 0, CONFIG_EXIT_OK, or -1 with e set. */
int config_load(struct config_set *sets, size_t nsets, const char *env_prefix,
    int argc, char **argv, const char *prog, struct err *e);
/* Frees the strings and lists a load filled in. */
void config_free(const struct config_key *keys, size_t n, void *base);

#endif
