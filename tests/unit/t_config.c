/* config: YAML < environment < flags, types, required and unknown keys. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "sockerless/config.h"
#include "sockerless/err.h"
#include "sockerless/str.h"

struct tconf {
	char *name;
	long long port;
	int debug;
	struct strv tags;
	long long timeout;
	char *region;
	struct strv subnets;
	char *log_level;
};

struct tconf2 {
	char *extra;
	int flag;
};

#define K(n, t, f, def, min, max, req)                               \
	{                                                            \
		n, t, offsetof(struct tconf, f), def, min, max, req, \
		    "doc of " n                                      \
	}

static const struct config_key t_keys[] = {
	K("name", CONFIG_STRING, name, "def", 0, 0, 0),
	K("port", CONFIG_INT, port, "80", 1, 65535, 0),
	K("debug", CONFIG_BOOL, debug, "false", 0, 0, 0),
	K("tags", CONFIG_STRV, tags, "a,b", 0, 0, 0),
	K("timeout", CONFIG_DURATION, timeout, "30s", 0, 0, 0),
	K("ecs.region", CONFIG_STRING, region, NULL, 0, 0, 1),
	K("ecs.subnets", CONFIG_STRV, subnets, NULL, 0, 0, 0),
	K("log_level", CONFIG_STRING, log_level, NULL, 0, 0, 0),
};
#define T_NKEYS (sizeof(t_keys) / sizeof(t_keys[0]))

static const struct config_key t_keys2[] = {
	{ "extra", CONFIG_STRING, offsetof(struct tconf2, extra), NULL, 0, 0, 0,
	    "second set" },
	{ "flag", CONFIG_BOOL, offsetof(struct tconf2, flag), "on", 0, 0, 0,
	    "second set bool" },
};

static const char *t_envs[] = { "TCONF_CONFIG", "TCONF_NAME", "TCONF_PORT",
	"TCONF_DEBUG", "TCONF_TAGS", "TCONF_TIMEOUT", "TCONF_ECS_REGION",
	"TCONF_ECS_SUBNETS", "TCONF_LOG_LEVEL", "TCONF_EXTRA", NULL };

static char t_file[64];

static int
t_setup(void **state)
{
	(void)state;
	for (size_t i = 0; t_envs[i] != NULL; i++)
		unsetenv(t_envs[i]);
	t_file[0] = '\0';
	return 0;
}

static int
t_teardown(void **state)
{
	(void)state;
	if (t_file[0] != '\0')
		unlink(t_file);
	t_file[0] = '\0';
	return 0;
}

/* Writes text to a fresh temporary file and returns its name. */
static const char *
t_write(const char *text)
{
	int fd;

	if (t_file[0] != '\0')
		unlink(t_file);
	snprintf(t_file, sizeof(t_file), "/tmp/t_config.XXXXXX");
	fd = mkstemp(t_file);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	return t_file;
}

/* argv is NULL-terminated and does not include the program name. */
static int
t_load(struct tconf *c, struct err *e, const char **argv)
{
	char *args[32];
	int argc = 0;
	struct config_set set;

	args[argc++] = (char *)"prog";
	for (; argv != NULL && *argv != NULL; argv++)
		args[argc++] = (char *)*argv;
	args[argc] = NULL;
	memset(c, 0xa5, sizeof(*c)); /* load must not trust old contents */
	set = (struct config_set){ t_keys, T_NKEYS, c };
	err_clear(e);
	return config_load(&set, 1, "TCONF", argc, args, "prog", e);
}

static void
t_config_defaults(void **state)
{
	struct tconf c;
	struct err e;

	(void)state;
	assert_int_equal(
	    t_load(&c, &e, (const char *[]){ "--ecs.region=r1", NULL }), 0);
	assert_string_equal(c.name, "def");
	assert_int_equal(c.port, 80);
	assert_int_equal(c.debug, 0);
	assert_int_equal(c.tags.n, 2);
	assert_string_equal(c.tags.v[0], "a");
	assert_string_equal(c.tags.v[1], "b");
	assert_null(c.tags.v[2]);
	assert_int_equal(c.timeout, 30000);
	assert_string_equal(c.region, "r1");
	assert_int_equal(c.subnets.n, 0);
	assert_non_null(c.subnets.v);
	assert_null(c.log_level);
	config_free(t_keys, T_NKEYS, &c);
	assert_null(c.name);
	config_free(t_keys, T_NKEYS, &c); /* twice is harmless */
}

static void
t_config_precedence(void **state)
{
	struct tconf c;
	struct err e;
	const char *f = t_write("name: file\n"
				"port: 1\n"
				"debug: true\n"
				"log_level: warn\n"
				"ecs:\n"
				"  region: from-file\n");

	(void)state;
	setenv("TCONF_PORT", "2", 1);
	setenv("TCONF_DEBUG", "yes", 1);
	setenv("TCONF_LOG_LEVEL", "", 1); /* empty: unset */
	setenv("TCONF_ECS_REGION", "from-env", 1);
	assert_int_equal(t_load(&c, &e,
			     (const char *[]){ "-c", f, "--debug=false",
				 "--ecs.region", "from-flag", NULL }),
	    0);
	assert_string_equal(c.name, "file");
	assert_int_equal(c.port, 2);
	assert_int_equal(c.debug, 0);
	assert_string_equal(c.log_level, "warn");
	assert_string_equal(c.region, "from-flag");
	config_free(t_keys, T_NKEYS, &c);

	/* The environment names the file when no -c is given. */
	setenv("TCONF_CONFIG", f, 1);
	unsetenv("TCONF_PORT");
	assert_int_equal(t_load(&c, &e, NULL), 0);
	assert_int_equal(c.port, 1);
	assert_string_equal(c.region, "from-env");
	config_free(t_keys, T_NKEYS, &c);
	unsetenv("TCONF_DEBUG");
	unsetenv("TCONF_ECS_REGION");
	unsetenv("TCONF_CONFIG");
	unsetenv("TCONF_LOG_LEVEL");
}

static void
t_config_nested(void **state)
{
	struct tconf c;
	struct err e;
	const char *f = t_write("# comment\n"
				"tags:\n"
				"  - x\n"
				"  - y\n"
				"  - z\n"
				"ecs:\n"
				"  region: eu-west-1\n"
				"  subnets: [subnet-a, subnet-b]\n"
				"timeout: 250ms\n"
				"name: ~\n");

	(void)state;
	assert_int_equal(
	    t_load(&c, &e, (const char *[]){ "--config", f, NULL }), 0);
	assert_string_equal(c.region, "eu-west-1");
	assert_int_equal(c.subnets.n, 2);
	assert_string_equal(c.subnets.v[0], "subnet-a");
	assert_string_equal(c.subnets.v[1], "subnet-b");
	assert_int_equal(c.tags.n, 3);
	assert_string_equal(c.tags.v[2], "z");
	assert_int_equal(c.timeout, 250);
	assert_string_equal(c.name, "def"); /* null keeps the default */
	config_free(t_keys, T_NKEYS, &c);

	/* Dotted keys may also be written flat. */
	f = t_write("ecs.region: flat\n");
	assert_int_equal(
	    t_load(&c, &e, (const char *[]){ "--config=", NULL }), -1);
	assert_int_equal(t_load(&c, &e, (const char *[]){ "-c", f, NULL }), 0);
	assert_string_equal(c.region, "flat");
	config_free(t_keys, T_NKEYS, &c);

	/* An empty file sets nothing. */
	f = t_write("");
	assert_int_equal(
	    t_load(&c, &e, (const char *[]){ "-c", f, "--ecs.region=r", NULL }),
	    0);
	assert_int_equal(c.port, 80);
	config_free(t_keys, T_NKEYS, &c);
}

static void
t_config_strv_comma(void **state)
{
	struct tconf c;
	struct err e;
	const char *f = t_write("ecs: {region: r, subnets: only-one}\n");

	(void)state;
	setenv("TCONF_TAGS", " s1, s2,,s3 ", 1);
	assert_int_equal(
	    t_load(&c, &e,
		(const char *[]){ "-c", f, "--ecs-subnets", "n1,n2", NULL }),
	    0);
	assert_int_equal(c.tags.n, 3);
	assert_string_equal(c.tags.v[0], "s1");
	assert_string_equal(c.tags.v[1], "s2");
	assert_string_equal(c.tags.v[2], "s3");
	assert_int_equal(c.subnets.n, 2);
	assert_string_equal(c.subnets.v[1], "n2");
	config_free(t_keys, T_NKEYS, &c);

	/* A scalar in YAML is a one-item (comma-split) list. */
	unsetenv("TCONF_TAGS");
	assert_int_equal(t_load(&c, &e, (const char *[]){ "-c", f, NULL }), 0);
	assert_int_equal(c.subnets.n, 1);
	assert_string_equal(c.subnets.v[0], "only-one");
	config_free(t_keys, T_NKEYS, &c);
}

static void
t_config_durations(void **state)
{
	static const struct {
		const char *in;
		long long ms;
	} ok[] = { { "250ms", 250 }, { "30s", 30000 }, { "5m", 300000 },
		{ "1h", 3600000 }, { "1500", 1500 }, { "0", 0 },
		{ "1h30m", 5400000 }, { "1.5s", 1500 }, { "2m10s", 130000 },
		{ "1d", 86400000 } };
	static const char *bad[] = { "", "abc", "5x", "-5s", "1.5", "s",
		"5 s" };
	struct tconf c;
	struct err e;
	char arg[64];

	(void)state;
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		snprintf(arg, sizeof(arg), "--timeout=%s", ok[i].in);
		assert_int_equal(
		    t_load(&c, &e,
			(const char *[]){ arg, "--ecs.region=r", NULL }),
		    0);
		assert_true(c.timeout == ok[i].ms);
		config_free(t_keys, T_NKEYS, &c);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(arg, sizeof(arg), "--timeout=%s", bad[i]);
		assert_int_equal(
		    t_load(&c, &e,
			(const char *[]){ arg, "--ecs.region=r", NULL }),
		    -1);
		assert_non_null(strstr(e.msg, "timeout"));
		assert_non_null(strstr(e.msg, "flag --timeout"));
	}
}

static void
t_config_bools(void **state)
{
	static const struct {
		const char *in;
		int v;
	} ok[] = { { "true", 1 }, { "TRUE", 1 }, { "yes", 1 }, { "on", 1 },
		{ "1", 1 }, { "false", 0 }, { "no", 0 }, { "Off", 0 },
		{ "0", 0 } };
	struct tconf c;
	struct err e;

	(void)state;
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		setenv("TCONF_DEBUG", ok[i].in, 1);
		assert_int_equal(
		    t_load(&c, &e, (const char *[]){ "--ecs.region=r", NULL }),
		    0);
		assert_int_equal(c.debug, ok[i].v);
		config_free(t_keys, T_NKEYS, &c);
	}
	unsetenv("TCONF_DEBUG");
	/* A bare flag switches a bool on; a following spelling is its value. */
	assert_int_equal(
	    t_load(
		&c, &e, (const char *[]){ "--debug", "--ecs.region=r", NULL }),
	    0);
	assert_int_equal(c.debug, 1);
	config_free(t_keys, T_NKEYS, &c);
	assert_int_equal(t_load(&c, &e,
			     (const char *[]){ "--debug", "--debug", "off",
				 "--ecs.region=r", NULL }),
	    0);
	assert_int_equal(c.debug, 0);
	config_free(t_keys, T_NKEYS, &c);
	setenv("TCONF_DEBUG", "maybe", 1);
	assert_int_equal(
	    t_load(&c, &e, (const char *[]){ "--ecs.region=r", NULL }), -1);
	assert_non_null(strstr(e.msg, "environment TCONF_DEBUG"));
	assert_non_null(strstr(e.msg, "maybe"));
	unsetenv("TCONF_DEBUG");
}

static void
t_config_required(void **state)
{
	struct tconf c;
	struct err e;

	(void)state;
	assert_int_equal(t_load(&c, &e, NULL), -1);
	assert_int_equal(e.status, 400);
	assert_non_null(strstr(e.msg, "'ecs.region'"));
	assert_non_null(strstr(e.msg, "TCONF_ECS_REGION"));
	assert_non_null(strstr(e.msg, "--ecs.region"));
	assert_non_null(strstr(e.msg, "configuration file"));
	/* A failed load leaves nothing to free. */
	assert_null(c.name);
	assert_null(c.tags.v);
}

static void
t_config_unknown(void **state)
{
	struct tconf c;
	struct err e;
	const char *f;

	(void)state;
	f = t_write("name: x\nbogus: 1\n");
	assert_int_equal(t_load(&c, &e, (const char *[]){ "-c", f, NULL }), -1);
	assert_non_null(strstr(e.msg, "unknown key 'bogus'"));
	assert_non_null(strstr(e.msg, ":2:"));
	assert_non_null(strstr(e.msg, f));

	f = t_write("ecs:\n  region: r\n  nope: 1\n");
	assert_int_equal(t_load(&c, &e, (const char *[]){ "-c", f, NULL }), -1);
	assert_non_null(strstr(e.msg, "unknown key 'ecs.nope'"));
	assert_non_null(strstr(e.msg, ":3:"));

	f = t_write("ecs: scalar\n");
	assert_int_equal(t_load(&c, &e, (const char *[]){ "-c", f, NULL }), -1);
	assert_non_null(strstr(e.msg, "unknown key 'ecs'"));

	assert_int_equal(
	    t_load(&c, &e,
		(const char *[]){ "--ecs.region=r", "--bogus=1", NULL }),
	    -1);
	assert_non_null(strstr(e.msg, "--bogus"));
	assert_int_equal(
	    t_load(&c, &e, (const char *[]){ "--ecs.region=r", "extra", NULL }),
	    -1);
	assert_non_null(strstr(e.msg, "extra"));
	assert_int_equal(
	    t_load(&c, &e, (const char *[]){ "--name", NULL }), -1);
	assert_non_null(strstr(e.msg, "needs a value"));
	assert_int_equal(t_load(&c, &e, (const char *[]){ "-c", NULL }), -1);
}

static void
t_config_bad_values(void **state)
{
	struct tconf c;
	struct err e;
	const char *f;

	(void)state;
	assert_int_equal(
	    t_load(&c, &e,
		(const char *[]){ "--ecs.region=r", "--port=70000", NULL }),
	    -1);
	assert_non_null(strstr(e.msg, "out of range [1, 65535]"));
	assert_non_null(strstr(e.msg, "port"));
	assert_int_equal(
	    t_load(
		&c, &e, (const char *[]){ "--ecs.region=r", "--port=0", NULL }),
	    -1);
	assert_int_equal(
	    t_load(&c, &e,
		(const char *[]){ "--ecs.region=r", "--port=8x", NULL }),
	    -1);
	assert_non_null(strstr(e.msg, "not an integer"));

	f = t_write("port: [1, 2]\n");
	assert_int_equal(
	    t_load(&c, &e, (const char *[]){ "-c", f, "--ecs.region=r", NULL }),
	    -1);
	assert_non_null(strstr(e.msg, "not a list"));
	f = t_write("port: 99999\n");
	assert_int_equal(
	    t_load(&c, &e, (const char *[]){ "-c", f, "--ecs.region=r", NULL }),
	    -1);
	assert_non_null(strstr(e.msg, ":1: port"));
	f = t_write("name: [unclosed\n");
	assert_int_equal(
	    t_load(&c, &e, (const char *[]){ "-c", f, "--ecs.region=r", NULL }),
	    -1);
	assert_non_null(strstr(e.msg, f));
	f = t_write("- a\n- b\n");
	assert_int_equal(
	    t_load(&c, &e, (const char *[]){ "-c", f, "--ecs.region=r", NULL }),
	    -1);
	assert_non_null(strstr(e.msg, "map"));
	f = t_write("ecs:\n  subnets:\n    - {a: b}\n");
	assert_int_equal(
	    t_load(&c, &e, (const char *[]){ "-c", f, "--ecs.region=r", NULL }),
	    -1);
	assert_non_null(strstr(e.msg, "ecs.subnets"));
	f = t_write("name:\n  x: 1\n");
	assert_int_equal(
	    t_load(&c, &e, (const char *[]){ "-c", f, "--ecs.region=r", NULL }),
	    -1);
	assert_non_null(strstr(e.msg, "not a map"));
	assert_int_equal(t_load(&c, &e,
			     (const char *[]){ "-c", "/nonexistent/x.yaml",
				 "--ecs.region=r", NULL }),
	    -1);
	assert_non_null(strstr(e.msg, "/nonexistent/x.yaml"));
}

static void
t_config_flag_spellings(void **state)
{
	static const char *regions[] = { "--ecs.region=a", "--ecs-region=a",
		"--ecs_region=a", "--ECS_REGION=a", NULL };
	struct tconf c;
	struct err e;

	(void)state;
	for (size_t i = 0; regions[i] != NULL; i++) {
		int rc = t_load(&c, &e,
		    (const char *[]){
			regions[i], "--log-level", "debug", NULL });
		if (i == 3) { /* case matters */
			assert_int_equal(rc, -1);
			continue;
		}
		assert_int_equal(rc, 0);
		assert_string_equal(c.region, "a");
		assert_string_equal(c.log_level, "debug");
		config_free(t_keys, T_NKEYS, &c);
	}
	/* The last of repeated flags wins, without leaking the first. */
	assert_int_equal(t_load(&c, &e,
			     (const char *[]){ "--ecs.region=a", "--name=1",
				 "--name", "2", "--", NULL }),
	    0);
	assert_string_equal(c.name, "2");
	config_free(t_keys, T_NKEYS, &c);
}

/* Runs config_load with stdout captured into out. */
static int
t_load_capture(
    struct tconf *c, struct err *e, const char **argv, char *out, size_t size)
{
	FILE *tmp = tmpfile();
	int saved, rc;
	size_t n;

	assert_non_null(tmp);
	fflush(stdout);
	saved = dup(STDOUT_FILENO);
	dup2(fileno(tmp), STDOUT_FILENO);
	rc = t_load(c, e, argv);
	fflush(stdout);
	dup2(saved, STDOUT_FILENO);
	close(saved);
	rewind(tmp);
	n = fread(out, 1, size - 1, tmp);
	out[n] = '\0';
	fclose(tmp);
	return rc;
}

static void
t_config_help_check(void **state)
{
	static char out[16384];
	struct tconf c;
	struct err e;

	(void)state;
	assert_int_equal(
	    t_load_capture(
		&c, &e, (const char *[]){ "--help", NULL }, out, sizeof(out)),
	    CONFIG_EXIT_OK);
	assert_non_null(strstr(out, "usage: prog"));
	assert_non_null(strstr(out, "--ecs.region=string"));
	assert_non_null(strstr(out, "TCONF_ECS_REGION"));
	assert_non_null(strstr(out, "required"));
	assert_non_null(strstr(out, "--port=int"));
	assert_non_null(strstr(out, "default 80"));
	assert_non_null(strstr(out, "range [1, 65535]"));
	assert_non_null(strstr(out, "--timeout=duration"));
	assert_non_null(strstr(out, "--tags=list"));
	assert_non_null(strstr(out, "doc of log_level"));
	assert_null(c.name);

	/* -h wins even over flags that would fail. */
	assert_int_equal(
	    t_load_capture(&c, &e, (const char *[]){ "--bogus", "-h", NULL },
		out, sizeof(out)),
	    CONFIG_EXIT_OK);

	assert_int_equal(t_load_capture(&c, &e,
			     (const char *[]){ "-n", "--ecs.region=r", NULL },
			     out, sizeof(out)),
	    CONFIG_EXIT_OK);
	assert_non_null(strstr(out, "configuration OK"));
	assert_null(c.name);
	assert_null(c.region);
	assert_int_equal(
	    t_load_capture(
		&c, &e, (const char *[]){ "--check", NULL }, out, sizeof(out)),
	    -1);
	assert_null(strstr(out, "configuration OK"));
	assert_non_null(strstr(e.msg, "ecs.region"));
}

static void
t_config_sets(void **state)
{
	struct tconf c;
	struct tconf2 c2;
	struct config_set sets[2] = { { t_keys, T_NKEYS, &c },
		{ t_keys2, 2, &c2 } };
	char *argv[] = { (char *)"prog", (char *)"--extra", (char *)"x",
		(char *)"--ecs.region=r", NULL };
	const char *f = t_write("extra: from-file\nflag: off\nname: n\n");
	struct err e;

	(void)state;
	assert_int_equal(config_load(sets, 2, "TCONF", 4, argv, "prog", &e), 0);
	assert_string_equal(c2.extra, "x");
	assert_int_equal(c2.flag, 1);
	config_free(t_keys, T_NKEYS, &c);
	config_free(t_keys2, 2, &c2);
	assert_null(c2.extra);

	setenv("TCONF_CONFIG", f, 1);
	setenv("TCONF_EXTRA", "from-env", 1);
	assert_int_equal(
	    config_load(sets, 2, "TCONF", 1, argv, "prog", &e), -1);
	assert_non_null(strstr(e.msg, "ecs.region"));
	assert_null(c2.extra);
	setenv("TCONF_ECS_REGION", "r", 1);
	assert_int_equal(config_load(sets, 2, "TCONF", 1, argv, "prog", &e), 0);
	assert_string_equal(c2.extra, "from-env");
	config_free(t_keys, T_NKEYS, &c);
	config_free(t_keys2, 2, &c2);
	unsetenv("TCONF_EXTRA");
	assert_int_equal(config_load(sets, 2, "TCONF", 1, argv, "prog", &e), 0);
	assert_string_equal(c2.extra, "from-file");
	assert_int_equal(c2.flag, 0);
	assert_string_equal(c.name, "n");
	config_free(t_keys, T_NKEYS, &c);
	config_free(t_keys2, 2, &c2);
	unsetenv("TCONF_ECS_REGION");
	unsetenv("TCONF_CONFIG");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(
		    t_config_defaults, t_setup, t_teardown),
		cmocka_unit_test_setup_teardown(
		    t_config_precedence, t_setup, t_teardown),
		cmocka_unit_test_setup_teardown(
		    t_config_nested, t_setup, t_teardown),
		cmocka_unit_test_setup_teardown(
		    t_config_strv_comma, t_setup, t_teardown),
		cmocka_unit_test_setup_teardown(
		    t_config_durations, t_setup, t_teardown),
		cmocka_unit_test_setup_teardown(
		    t_config_bools, t_setup, t_teardown),
		cmocka_unit_test_setup_teardown(
		    t_config_required, t_setup, t_teardown),
		cmocka_unit_test_setup_teardown(
		    t_config_unknown, t_setup, t_teardown),
		cmocka_unit_test_setup_teardown(
		    t_config_bad_values, t_setup, t_teardown),
		cmocka_unit_test_setup_teardown(
		    t_config_flag_spellings, t_setup, t_teardown),
		cmocka_unit_test_setup_teardown(
		    t_config_help_check, t_setup, t_teardown),
		cmocka_unit_test_setup_teardown(
		    t_config_sets, t_setup, t_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
