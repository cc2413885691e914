/* Table-driven configuration: defaults, then a YAML file (libyaml), then
 * the environment, then command-line flags, each overriding the last. */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <yaml.h>

#include "sockerless/config.h"
#include "sockerless/str.h"
#include "sockerless/xmalloc.h"

struct config_ctx {
	struct config_set *sets;
	size_t nsets;
	const char *prefix;
	const char *prog;
	unsigned char **isset; /* per set, per key: some source set it */
};

/* What the first pass over argv found. */
struct config_opts {
	int help;
	int check;
	const char *file;
};

static const char *
config_type_name(enum config_type t)
{
	switch (t) {
	case CONFIG_STRING:
		return "string";
	case CONFIG_INT:
		return "int";
	case CONFIG_BOOL:
		return "bool";
	case CONFIG_STRV:
		return "list";
	case CONFIG_DURATION:
		return "duration";
	}
	return "?";
}

static void *
config_field(const struct config_key *k, void *base)
{
	return (char *)base + k->offset;
}

/* PREFIX_ + key upper-cased, '.' and '-' -> '_'; caller frees. */
static char *
config_env_name(const char *prefix, const char *key)
{
	char *s = xasprintf("%s_%s", prefix, key), *p;

	for (p = s; *p != '\0'; p++) {
		if (*p == '.' || *p == '-')
			*p = '_';
		else
			*p = (char)toupper((unsigned char)*p);
	}
	return s;
}

static int
config_parse_bool(const char *s, int *out)
{
	static const char *yes[] = { "true", "yes", "on", "1", NULL };
	static const char *no[] = { "false", "no", "off", "0", NULL };

	for (size_t i = 0; yes[i] != NULL; i++) {
		if (strcasecmp(s, yes[i]) == 0) {
			*out = 1;
			return 0;
		}
		if (strcasecmp(s, no[i]) == 0) {
			*out = 0;
			return 0;
		}
	}
	return -1;
}

/* "250ms", "30s", "5m", "1h", "1h30m", "1.5s", or a plain number of ms. */
static int
config_parse_duration(const char *s, long long *ms)
{
	static const struct {
		const char *name;
		long long ms;
	} units[] = { { "ms", 1 }, { "s", 1000 }, { "m", 60000 },
		{ "h", 3600000 }, { "d", 86400000 } };
	const char *p = s;
	long long total = 0;

	if (str_tonum(s, 0, LLONG_MAX, ms, NULL) == 0)
		return 0;
	if (*p == '\0')
		return -1;
	while (*p != '\0') {
		char *end;
		double v;
		size_t i, n = 0;
		if (!isdigit((unsigned char)*p) && *p != '.')
			return -1;
		errno = 0;
		v = strtod(p, &end);
		if (end == p || errno != 0)
			return -1;
		p = end;
		/* "ms" comes before "m" in units, so "5ms" is not 5m + s. */
		for (i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
			n = strlen(units[i].name);
			if (strncmp(p, units[i].name, n) == 0)
				break;
		}
		if (i == sizeof(units) / sizeof(units[0]))
			return -1;
		p += n;
		v *= (double)units[i].ms;
		if (v > (double)(LLONG_MAX - total) / 2)
			return -1;
		total += (long long)(v + 0.5);
	}
	*ms = total;
	return 0;
}

/* Splits a comma-separated list, trimming blanks and dropping empties. */
static void
config_split(const char *s, struct strv *out)
{
	const char *p = s, *end;

	while (*p != '\0') {
		while (*p == ' ' || *p == '\t')
			p++;
		end = p + strcspn(p, ",");
		size_t n = (size_t)(end - p);
		while (n > 0 && (p[n - 1] == ' ' || p[n - 1] == '\t'))
			n--;
		if (n > 0)
			strv_take(out, xstrndup(p, n));
		p = *end == ',' ? end + 1 : end;
	}
}

static void
config_free_field(const struct config_key *k, void *base)
{
	void *f = config_field(k, base);

	if (k->type == CONFIG_STRING) {
		free(*(char **)f);
		*(char **)f = NULL;
	} else if (k->type == CONFIG_STRV) {
		strv_free(f);
	}
}

void
config_free(const struct config_key *keys, size_t n, void *base)
{
	if (keys == NULL || base == NULL)
		return;
	for (size_t i = 0; i < n; i++)
		config_free_field(&keys[i], base);
}

/* Parses text (or takes list, for YAML sequences) into key's field.
 * src names the source for error messages. */
static int
config_store(const struct config_key *k, void *base, const char *text,
    struct strv *list, const char *src, struct err *e)
{
	void *f = config_field(k, base);
	long long v = 0;
	const char *errstr = NULL;
	int b;

	if (list != NULL && k->type != CONFIG_STRV)
		return err_set(e, 400,
		    "%s: %s: expected a single %s, not a list", src, k->name,
		    config_type_name(k->type));
	switch (k->type) {
	case CONFIG_STRING:
		free(*(char **)f);
		*(char **)f = xstrdup(text);
		return 0;
	case CONFIG_STRV:
		strv_free(f);
		if (list != NULL) {
			*(struct strv *)f = *list;
			strv_init(list);
		} else {
			strv_init(f);
			config_split(text, f);
		}
		return 0;
	case CONFIG_BOOL:
		if (config_parse_bool(text, &b) == -1)
			return err_set(e, 400,
			    "%s: %s: invalid bool '%s' (use true or false)",
			    src, k->name, text);
		*(int *)f = b;
		return 0;
	case CONFIG_INT:
		if (str_tonum(text, LLONG_MIN, LLONG_MAX, &v, &errstr) == -1)
			return err_set(e, 400, "%s: %s: '%s' is %s", src,
			    k->name, text,
			    strcmp(errstr, "invalid") == 0 ? "not an integer" :
							     errstr);
		break;
	case CONFIG_DURATION:
		if (config_parse_duration(text, &v) == -1)
			return err_set(e, 400,
			    "%s: %s: invalid duration '%s' (e.g. 250ms, 30s, "
			    "5m, 1h, or milliseconds)",
			    src, k->name, text);
		break;
	}
	if (k->min < k->max && (v < k->min || v > k->max))
		return err_set(e, 400,
		    "%s: %s: %s is out of range [%lld, %lld]", src, k->name,
		    text, k->min, k->max);
	*(long long *)f = v;
	return 0;
}

/* Sets every key called name (a name may live in several sets). Returns
 * the number of keys set, or -1. */
static int
config_apply(struct config_ctx *c, const char *name, const char *text,
    struct strv *list, const char *src, struct err *e)
{
	int found = 0;

	for (size_t s = 0; s < c->nsets; s++) {
		const struct config_set *set = &c->sets[s];
		for (size_t i = 0; i < set->n; i++) {
			if (strcmp(set->keys[i].name, name) != 0)
				continue;
			if (config_store(&set->keys[i], set->base, text, list,
				src, e) == -1)
				return -1;
			c->isset[s][i] = 1;
			found++;
		}
	}
	return found;
}

static const struct config_key *
config_find(const struct config_ctx *c, const char *name)
{
	for (size_t s = 0; s < c->nsets; s++)
		for (size_t i = 0; i < c->sets[s].n; i++)
			if (strcmp(c->sets[s].keys[i].name, name) == 0)
				return &c->sets[s].keys[i];
	return NULL;
}

/* Whether flag spells key: '-' and '_' are the same, and, loosely, also
 * the same as '.', so --ecs-region finds ecs.region. */
static int
config_flag_is(const char *flag, size_t len, const char *key, int loose)
{
	size_t i;

	for (i = 0; i < len && key[i] != '\0'; i++) {
		char a = flag[i] == '-' ? '_' : flag[i], b = key[i];
		if (loose && a == '.')
			a = '_';
		if (loose && b == '.')
			b = '_';
		if (a != b)
			return 0;
	}
	return i == len && key[i] == '\0';
}

static const struct config_key *
config_find_flag(const struct config_ctx *c, const char *flag, size_t len)
{
	for (int loose = 0; loose < 2; loose++)
		for (size_t s = 0; s < c->nsets; s++)
			for (size_t i = 0; i < c->sets[s].n; i++)
				if (config_flag_is(flag, len,
					c->sets[s].keys[i].name, loose))
					return &c->sets[s].keys[i];
	return NULL;
}

/* --- YAML ---------------------------------------------------------------- */

static int config_yaml_node(struct config_ctx *c, yaml_document_t *doc,
    yaml_node_t *node, const char *path, const char *file, struct err *e);

static int
config_yaml_scalar(const yaml_node_t *node)
{
	return node != NULL && node->type == YAML_SCALAR_NODE;
}

/* A plain "~", "null" or empty scalar leaves the key at its default. */
static int
config_yaml_null(const yaml_node_t *node)
{
	const char *v = (const char *)node->data.scalar.value;

	return node->data.scalar.style == YAML_PLAIN_SCALAR_STYLE &&
	    (*v == '\0' || strcmp(v, "~") == 0 || strcasecmp(v, "null") == 0);
}

/* Returns 0, -1 with e set, or -2 when no key is called path. */
static int
config_yaml_leaf(struct config_ctx *c, yaml_document_t *doc, yaml_node_t *node,
    const char *path, const char *src, struct err *e)
{
	struct strv list;
	yaml_node_item_t *it;
	yaml_node_t *item;
	int rc;

	if (node->type == YAML_SCALAR_NODE) {
		if (config_yaml_null(node))
			return config_find(c, path) != NULL ? 0 : -2;
		rc = config_apply(c, path,
		    (const char *)node->data.scalar.value, NULL, src, e);
		return rc == 0 ? -2 : rc;
	}
	strv_init(&list);
	for (it = node->data.sequence.items.start;
	     it < node->data.sequence.items.top; it++) {
		item = yaml_document_get_node(doc, *it);
		if (!config_yaml_scalar(item)) {
			strv_free(&list);
			return err_set(e, 400,
			    "%s: %s: list items must be plain "
			    "values",
			    src, path);
		}
		strv_add(&list, (const char *)item->data.scalar.value);
	}
	rc = config_apply(c, path, NULL, &list, src, e);
	strv_free(&list);
	return rc == 0 ? -2 : rc;
}

static int
config_yaml_map(struct config_ctx *c, yaml_document_t *doc, yaml_node_t *node,
    const char *path, const char *file, struct err *e)
{
	yaml_node_pair_t *pair;
	yaml_node_t *k, *v;
	char *sub;
	int rc;

	for (pair = node->data.mapping.pairs.start;
	     pair < node->data.mapping.pairs.top; pair++) {
		k = yaml_document_get_node(doc, pair->key);
		v = yaml_document_get_node(doc, pair->value);
		if (!config_yaml_scalar(k))
			return err_set(e, 400,
			    "%s:%zu: keys must be plain names", file,
			    k->start_mark.line + 1);
		sub = path[0] == '\0' ?
		    xstrdup((const char *)k->data.scalar.value) :
		    xasprintf("%s.%s", path, k->data.scalar.value);
		rc = config_yaml_node(c, doc, v, sub, file, e);
		free(sub);
		if (rc == -1)
			return -1;
	}
	return 0;
}

/* Nested maps extend the dotted path; anything else is a key's value. */
static int
config_yaml_node(struct config_ctx *c, yaml_document_t *doc, yaml_node_t *node,
    const char *path, const char *file, struct err *e)
{
	char src[PATH_MAX + 32];
	int rc;

	if (node->type == YAML_MAPPING_NODE) {
		if (path[0] != '\0' && config_find(c, path) != NULL)
			return err_set(e, 400,
			    "%s:%zu: %s: expected a value, "
			    "not a map",
			    file, node->start_mark.line + 1, path);
		return config_yaml_map(c, doc, node, path, file, e);
	}
	snprintf(src, sizeof(src), "%s:%zu", file, node->start_mark.line + 1);
	if (path[0] == '\0')
		return err_set(e, 400, "%s: expected a map of settings", src);
	if ((rc = config_yaml_leaf(c, doc, node, path, src, e)) == -2)
		return err_set(e, 400, "%s: unknown key '%s'", src, path);
	return rc < 0 ? -1 : 0;
}

static int
config_load_file(struct config_ctx *c, const char *file, struct err *e)
{
	yaml_parser_t parser;
	yaml_document_t doc;
	yaml_node_t *root;
	FILE *fp;
	int rc = -1;

	if ((fp = fopen(file, "r")) == NULL)
		return err_set(e, 400, "%s: %s", file, strerror(errno));
	yaml_parser_initialize(&parser);
	yaml_parser_set_input_file(&parser, fp);
	if (!yaml_parser_load(&parser, &doc)) {
		err_set(e, 400, "%s:%zu: %s", file,
		    parser.problem_mark.line + 1,
		    parser.problem != NULL ? parser.problem : "invalid YAML");
		goto out;
	}
	if ((root = yaml_document_get_root_node(&doc)) == NULL ||
	    (root->type == YAML_SCALAR_NODE && config_yaml_null(root)))
		rc = 0; /* an empty file sets nothing */
	else
		rc = config_yaml_node(c, &doc, root, "", file, e);
	yaml_document_delete(&doc);
out:
	yaml_parser_delete(&parser);
	fclose(fp);
	return rc;
}

/* --- environment and flags ----------------------------------------------- */

/* Empty variables count as unset, as a shell's FOO= usually means. */
static int
config_load_env(struct config_ctx *c, struct err *e)
{
	const char *v;
	char *name, *src;
	int rc = 0;

	for (size_t s = 0; s < c->nsets && rc == 0; s++) {
		for (size_t i = 0; i < c->sets[s].n && rc == 0; i++) {
			const struct config_key *k = &c->sets[s].keys[i];
			name = config_env_name(c->prefix, k->name);
			if ((v = getenv(name)) != NULL && *v != '\0') {
				src = xasprintf("environment %s", name);
				if (config_store(k, c->sets[s].base, v, NULL,
					src, e) == -1)
					rc = -1;
				else
					c->isset[s][i] = 1;
				free(src);
			}
			free(name);
		}
	}
	return rc;
}

/* One pass over argv: with apply 0 it only records -c/-n/-h and checks
 * that every flag is known; with apply 1 it sets the keys. */
static int
config_flags(struct config_ctx *c, int argc, char **argv, int apply,
    struct config_opts *o, struct err *e)
{
	const struct config_key *k;
	const char *a, *name, *val, *eq;
	char *src;
	int i, b, rc;

	for (i = 1; i < argc; i++) {
		a = argv[i];
		if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
			o->help = 1;
			continue;
		}
		if (strcmp(a, "-n") == 0 || strcmp(a, "--check") == 0) {
			o->check = 1;
			continue;
		}
		if (strcmp(a, "-c") == 0 || strcmp(a, "--config") == 0) {
			if (i + 1 >= argc)
				return err_set(
				    e, 400, "%s needs a file name", a);
			o->file = argv[++i];
			continue;
		}
		if (str_prefix(a, "--config=")) {
			o->file = a + strlen("--config=");
			continue;
		}
		if (strcmp(a, "--") == 0) {
			if (i + 1 < argc)
				return err_set(e, 400,
				    "unexpected argument '%s'", argv[i + 1]);
			continue;
		}
		if (!str_prefix(a, "--") || a[2] == '\0')
			return err_set(
			    e, 400, "unknown argument '%s'; see --help", a);
		name = a + 2;
		eq = strchr(name, '=');
		k = config_find_flag(
		    c, name, eq != NULL ? (size_t)(eq - name) : strlen(name));
		if (k == NULL)
			return err_set(
			    e, 400, "unknown flag '%s'; see --help", a);
		if (eq != NULL)
			val = eq + 1;
		else if (k->type == CONFIG_BOOL &&
		    (i + 1 >= argc || config_parse_bool(argv[i + 1], &b) == -1))
			val = "true"; /* a bare --flag switches a bool on */
		else if (i + 1 < argc)
			val = argv[++i];
		else
			return err_set(
			    e, 400, "flag --%s needs a value", k->name);
		if (!apply)
			continue;
		src = xasprintf("flag --%s", k->name);
		rc = config_apply(c, k->name, val, NULL, src, e);
		free(src);
		if (rc == -1)
			return -1;
	}
	return 0;
}

/* --- defaults, required keys, help --------------------------------------- */

/* Starts every field from a known state, so a failed load frees nothing
 * the caller owns and config_free is always safe afterwards. */
static void
config_zero(struct config_ctx *c)
{
	for (size_t s = 0; s < c->nsets; s++) {
		for (size_t i = 0; i < c->sets[s].n; i++) {
			const struct config_key *k = &c->sets[s].keys[i];
			void *f = config_field(k, c->sets[s].base);
			switch (k->type) {
			case CONFIG_STRING:
				*(char **)f = NULL;
				break;
			case CONFIG_STRV:
				memset(f, 0, sizeof(struct strv));
				break;
			case CONFIG_BOOL:
				*(int *)f = 0;
				break;
			case CONFIG_INT:
			case CONFIG_DURATION:
				*(long long *)f = 0;
				break;
			}
		}
	}
}

static int
config_defaults(struct config_ctx *c, struct err *e)
{
	for (size_t s = 0; s < c->nsets; s++) {
		for (size_t i = 0; i < c->sets[s].n; i++) {
			const struct config_key *k = &c->sets[s].keys[i];
			if (k->type == CONFIG_STRV)
				strv_init(config_field(k, c->sets[s].base));
			if (k->def == NULL)
				continue;
			if (config_store(k, c->sets[s].base, k->def, NULL,
				"default", e) == -1)
				return -1;
			c->isset[s][i] = 1;
		}
	}
	return 0;
}

static int
config_required(struct config_ctx *c, struct err *e)
{
	const struct config_key *first = NULL;
	char others[512] = "";
	char *env;

	for (size_t s = 0; s < c->nsets; s++) {
		for (size_t i = 0; i < c->sets[s].n; i++) {
			const struct config_key *k = &c->sets[s].keys[i];
			if (!k->required || c->isset[s][i])
				continue;
			if (first == NULL) {
				first = k;
				continue;
			}
			if (others[0] != '\0')
				strncat(others, ", ",
				    sizeof(others) - strlen(others) - 1);
			strncat(others, k->name,
			    sizeof(others) - strlen(others) - 1);
		}
	}
	if (first == NULL)
		return 0;
	env = config_env_name(c->prefix, first->name);
	err_set(e, 400,
	    "missing required setting '%s'%s%s%s: set %s in the configuration "
	    "file, %s in the environment, or pass --%s%s%s",
	    first->name, first->doc != NULL ? " (" : "",
	    first->doc != NULL ? first->doc : "", first->doc != NULL ? ")" : "",
	    first->name, env, first->name,
	    others[0] != '\0' ? "; also missing: " : "", others);
	free(env);
	return -1;
}

static void
config_help(struct config_ctx *c)
{
	char *env;

	printf("usage: %s [-hn] [-c file] [--key=value ...]\n"
	       "  -c, --config FILE  YAML configuration file (default: $%s_"
	       "CONFIG)\n"
	       "  -n, --check        check the configuration and exit\n"
	       "  -h, --help         print this help and exit\n"
	       "Settings (file < environment < flags):\n",
	    c->prog != NULL ? c->prog : "program", c->prefix);
	for (size_t s = 0; s < c->nsets; s++) {
		for (size_t i = 0; i < c->sets[s].n; i++) {
			const struct config_key *k = &c->sets[s].keys[i];
			env = config_env_name(c->prefix, k->name);
			printf("  --%s=%s\n      %s\n      env %s", k->name,
			    config_type_name(k->type),
			    k->doc != NULL ? k->doc : "", env);
			if (k->def != NULL)
				printf(", default %s", k->def);
			if (k->required)
				printf(", required");
			if ((k->type == CONFIG_INT ||
				k->type == CONFIG_DURATION) &&
			    k->min < k->max)
				printf(", range [%lld, %lld]", k->min, k->max);
			printf("\n");
			free(env);
		}
	}
	fflush(stdout);
}

static void
config_reset(struct config_ctx *c)
{
	for (size_t s = 0; s < c->nsets; s++)
		config_free(c->sets[s].keys, c->sets[s].n, c->sets[s].base);
}

static int
config_run(struct config_ctx *c, int argc, char **argv, struct err *e)
{
	struct config_opts o = { 0, 0, NULL };
	const char *v;
	char *env;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "-h") == 0 ||
		    strcmp(argv[i], "--help") == 0) {
			config_help(c);
			return CONFIG_EXIT_OK;
		}
	}
	if (config_flags(c, argc, argv, 0, &o, e) == -1)
		return -1;
	if (config_defaults(c, e) == -1)
		return -1;
	env = config_env_name(c->prefix, "config");
	if (o.file == NULL && (v = getenv(env)) != NULL && *v != '\0')
		o.file = v;
	free(env);
	if (o.file != NULL && config_load_file(c, o.file, e) == -1)
		return -1;
	if (config_load_env(c, e) == -1 ||
	    config_flags(c, argc, argv, 1, &o, e) == -1 ||
	    config_required(c, e) == -1)
		return -1;
	if (o.check) {
		printf("configuration OK\n");
		fflush(stdout);
		return CONFIG_EXIT_OK;
	}
	return 0;
}

int
config_load(struct config_set *sets, size_t nsets, const char *env_prefix,
    int argc, char **argv, const char *prog, struct err *e)
{
	struct config_ctx c = { sets, nsets, env_prefix, prog, NULL };
	int rc;

	c.isset = xcalloc(nsets + 1, sizeof(*c.isset));
	for (size_t s = 0; s < nsets; s++)
		c.isset[s] = xcalloc(sets[s].n + 1, 1);
	config_zero(&c);
	rc = config_run(&c, argc, argv, e);
	/* On error, --help and -n the program exits: leave nothing owned. */
	if (rc != 0)
		config_reset(&c);
	for (size_t s = 0; s < nsets; s++)
		free(c.isset[s]);
	free(c.isset);
	return rc;
}
