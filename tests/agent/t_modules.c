/* Drives the agent's pure modules (procinfo.c, archive.c, health.c) for
 * tests/agent/test_modules.py: one subcommand per run. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "agent.h"
#include "jread.h"
#include "modules.h"

static int64_t
t_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int
t_hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return 0;
}

/*
 * Health script on stdin, one command a line, times relative to init:
 *   rec START END EXIT TIMEDOUT HEX   (HEX: the output, "-" for none)
 *   big START END EXIT N              (N bytes of 'x')
 *   json | next | argv | timeout
 */
static int
t_health(const char *config)
{
	char line[65536], hex[65536], *out, **argv;
	long long s, e, n;
	int code, to, rc, i;
	int64_t base;
	size_t len, k;

	rc = health_init(config);
	base = t_now_ms();
	printf("init %d\n", rc);
	while (fgets(line, sizeof(line), stdin) != NULL) {
		if (sscanf(line, "rec %lld %lld %d %d %65535s", &s, &e, &code,
			&to, hex) == 5) {
			len = strcmp(hex, "-") == 0 ? 0 : strlen(hex) / 2;
			out = malloc(len + 1);
			for (k = 0; k < len; k++)
				out[k] = (char)(t_hexval(hex[2 * k]) << 4 |
				    t_hexval(hex[2 * k + 1]));
			health_record(base + s, base + e, code, out, len, to);
			free(out);
		} else if (sscanf(line, "big %lld %lld %d %lld", &s, &e, &code,
			       &n) == 4) {
			out = malloc((size_t)n + 1);
			memset(out, 'x', (size_t)n);
			health_record(
			    base + s, base + e, code, out, (size_t)n, 0);
			free(out);
		} else if (strncmp(line, "json", 4) == 0) {
			out = health_json();
			printf("%s\n", out);
			free(out);
		} else if (strncmp(line, "next", 4) == 0) {
			printf("%lld\n",
			    (long long)(health_next_ms() == 0 ?
				    -1 :
				    health_next_ms() - base));
		} else if (strncmp(line, "argv", 4) == 0) {
			argv = health_argv();
			for (i = 0; argv != NULL && argv[i] != NULL; i++)
				printf("arg:%s\n", argv[i]);
			printf("end\n");
		} else if (strncmp(line, "timeout", 7) == 0) {
			printf("%lld\n", (long long)health_timeout_ms());
		}
		fflush(stdout);
	}
	return 0;
}

/*
 * jread.c's lookups of member key in the JSON on stdin, one line out:
 * str (the string, or "NULL"), strv (each element then "end", or
 * "NULL"), bool and int (the value, -7 when absent or not one).
 */
static int
t_jread(const char *type, const char *key)
{
	static char buf[65536];
	size_t n = fread(buf, 1, sizeof(buf), stdin);
	char *s, **v;

	if (strcmp(type, "str") == 0) {
		s = jread_str(buf, n, key);
		printf("%s\n", s != NULL ? s : "NULL");
		free(s);
	} else if (strcmp(type, "strv") == 0) {
		if ((v = jread_strv(buf, n, key)) == NULL) {
			printf("NULL\n");
			return 0;
		}
		for (size_t i = 0; v[i] != NULL; i++)
			printf("%s\n", v[i]);
		printf("end\n");
		jread_strv_free(v);
	} else if (strcmp(type, "bool") == 0) {
		printf("%d\n", jread_bool(buf, n, key, -7));
	} else {
		printf("%lld\n", (long long)jread_int(buf, n, key, -7));
	}
	return 0;
}

int
main(int argc, char **argv)
{
	char *s;
	int status = 0;

	if (argc >= 2 && strcmp(argv[1], "top") == 0) {
		s = top_json(argc > 2 ? argv[2] : "-ef");
	} else if (argc == 2 && strcmp(argv[1], "stats") == 0) {
		s = stats_json();
	} else if (argc == 3 && strcmp(argv[1], "stat") == 0) {
		s = archive_stat_json(argv[2], &status);
		printf("%d\n", status);
	} else if (argc == 3 && strcmp(argv[1], "get") == 0) {
		return archive_get_child(argv[2], STDOUT_FILENO);
	} else if ((argc == 4 || argc == 5) && strcmp(argv[1], "put") == 0) {
		return archive_put_child(argv[2], atoi(argv[3]),
		    argc == 5 && atoi(argv[4]), STDIN_FILENO);
	} else if (argc == 3 && strcmp(argv[1], "health") == 0) {
		return t_health(argv[2]);
	} else if (argc == 4 && strcmp(argv[1], "jread") == 0) {
		return t_jread(argv[2], argv[3]);
	} else {
		fprintf(stderr,
		    "usage: t_modules top|stats|stat P|get P|"
		    "put P NOOVERWRITE [IFEMPTY]|health JSON|jread TYPE KEY\n");
		return 64;
	}
	printf("%s\n", s);
	free(s);
	return 0;
}
