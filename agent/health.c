/* Docker's health check state machine (daemon/health.go); the event loop
 * runs the probes and reports each result here. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "agent.h"
#include "jread.h"
#include "modules.h"

#define HEALTH_LOG_MAX	  5
#define HEALTH_OUTPUT_MAX 4096
#define HEALTH_ARGV_MAX	  256

/* Docker's defaults, in ns. */
#define HEALTH_NS		 1000000LL
#define HEALTH_DEFAULT_INTERVAL	 (30000 * HEALTH_NS)
#define HEALTH_DEFAULT_TIMEOUT	 (30000 * HEALTH_NS)
#define HEALTH_DEFAULT_START_INT (5000 * HEALTH_NS)
#define HEALTH_DEFAULT_RETRIES	 3

enum health_status { HEALTH_STARTING, HEALTH_HEALTHY, HEALTH_UNHEALTHY };

struct health_result {
	int64_t start_ms, end_ms;
	int exit_code;
	char *output;
	size_t len;
};

static struct {
	int configured;
	char *argv[HEALTH_ARGV_MAX + 1];
	int64_t interval_ns, timeout_ns, start_period_ns, start_interval_ns;
	int retries;
	int64_t started_ms, next_ms;
	enum health_status status;
	int failing;
	struct health_result log[HEALTH_LOG_MAX];
	int nlog;
} health;

static int64_t
health_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- the HealthConfig (jread.c) ---- */

/* "Test": an array of strings into test[] (malloc'd), *n of them. */
static int
health_test(struct jread *c, char **test, int *n)
{
	int more;

	jread_ws(c);
	if (c->p < c->end && *c->p == 'n')
		return jread_skip(c); /* null: no test */
	if (!jread_eat(c, '['))
		return -1;
	if (jread_eat(c, ']'))
		return 0;
	do {
		if (*n >= HEALTH_ARGV_MAX || jread_string(c, &test[*n]) == -1)
			return -1;
		(*n)++;
	} while ((more = jread_more(c, ']')) == 1);
	return more;
}

struct health_config {
	char *test[HEALTH_ARGV_MAX + 1];
	int ntest;
	int64_t interval, timeout, start_period, start_interval, retries;
};

/* The member's value at c into cfg (other members are skipped). */
static int
health_member(struct jread *c, const char *key, struct health_config *cfg)
{
	int64_t *num = strcmp(key, "Interval") == 0 ? &cfg->interval :
	    strcmp(key, "Timeout") == 0		    ? &cfg->timeout :
	    strcmp(key, "StartPeriod") == 0	    ? &cfg->start_period :
	    strcmp(key, "StartInterval") == 0	    ? &cfg->start_interval :
	    strcmp(key, "Retries") == 0		    ? &cfg->retries :
						      NULL;

	if (strcmp(key, "Test") == 0)
		return cfg->ntest > 0 ? -1 :
					health_test(c, cfg->test, &cfg->ntest);
	if (num != NULL && c->p < c->end && *c->p != 'n')
		return jread_number(c, num);
	return jread_skip(c);
}

static int
health_parse(const char *json, struct health_config *cfg)
{
	struct jread c;
	char *key = NULL;
	int more;

	jread_init(&c, json, strlen(json));
	if (!jread_eat(&c, '{'))
		return -1;
	if (jread_eat(&c, '}'))
		return 0;
	do {
		if (jread_member(&c, &key) == -1 ||
		    health_member(&c, key, cfg) == -1)
			goto fail;
		free(key);
		key = NULL;
	} while ((more = jread_more(&c, '}')) == 1);
	return more;
fail:
	free(key);
	return -1;
}

/* ---- the state machine ---- */

static void
health_reset(void)
{
	int i;

	for (i = 0; health.argv[i] != NULL; i++)
		free(health.argv[i]);
	for (i = 0; i < health.nlog; i++)
		free(health.log[i].output);
	memset(&health, 0, sizeof(health));
}

/* Docker's probe interval now: the start interval while starting within
 * the start period, else the interval. */
static int64_t
health_interval_ms(int64_t now_ms)
{
	if (now_ms - health.started_ms < health.start_period_ns / 1000000 &&
	    health.status == HEALTH_STARTING)
		return health.start_interval_ns / 1000000;
	return health.interval_ns / 1000000;
}

int
health_init(const char *config_json)
{
	struct health_config cfg;
	int i, n = 0;

	health_reset();
	memset(&cfg, 0, sizeof(cfg));
	if (config_json == NULL || health_parse(config_json, &cfg) == -1 ||
	    cfg.ntest == 0 ||
	    (strcmp(cfg.test[0], "CMD") != 0 &&
		strcmp(cfg.test[0], "CMD-SHELL") != 0) ||
	    cfg.ntest < 2)
		goto none;
	/* CMD-SHELL runs the rest through the shell, as Docker's getShell. */
	if (strcmp(cfg.test[0], "CMD-SHELL") == 0) {
		health.argv[n++] = memcpy(xmalloc(8), "/bin/sh", 8);
		health.argv[n++] = memcpy(xmalloc(3), "-c", 3);
	}
	for (i = 1; i < cfg.ntest && n < HEALTH_ARGV_MAX; i++) {
		health.argv[n++] = cfg.test[i];
		cfg.test[i] = NULL;
	}
	health.argv[n] = NULL;
	health.interval_ns =
	    cfg.interval > 0 ? cfg.interval : HEALTH_DEFAULT_INTERVAL;
	health.timeout_ns =
	    cfg.timeout > 0 ? cfg.timeout : HEALTH_DEFAULT_TIMEOUT;
	health.start_period_ns = cfg.start_period > 0 ? cfg.start_period : 0;
	health.start_interval_ns = cfg.start_interval > 0 ?
	    cfg.start_interval :
	    HEALTH_DEFAULT_START_INT;
	health.retries = cfg.retries > 0 ?
	    (cfg.retries > 1000000 ? 1000000 : (int)cfg.retries) :
	    HEALTH_DEFAULT_RETRIES;
	health.configured = 1;
	health.started_ms = health_now_ms();
	health.status = HEALTH_STARTING;
	health.next_ms =
	    health.started_ms + health_interval_ms(health.started_ms);
	for (i = 0; i < cfg.ntest; i++)
		free(cfg.test[i]);
	return 0;
none:
	for (i = 0; i < cfg.ntest; i++)
		free(cfg.test[i]);
	return -1;
}

int64_t
health_next_ms(void)
{
	return health.configured ? health.next_ms : 0;
}

char **
health_argv(void)
{
	return health.configured ? health.argv : NULL;
}

int64_t
health_timeout_ms(void)
{
	return health.configured ? health.timeout_ns / 1000000 : 0;
}

/* Go's time.Duration String ("30s", "1m30s", "1.5s", "500ms"). */
static void
health_duration(int64_t ns, char *out, size_t outsz)
{
	char frac[16] = "";
	const char *unit;
	int64_t whole, part, scale;
	int i, digits;

	if (ns <= 0) {
		snprintf(out, outsz, "0s");
		return;
	}
	if (ns < 1000000000) {
		if (ns < 1000) {
			snprintf(out, outsz, "%lldns", (long long)ns);
			return;
		}
		unit = ns < 1000000 ? "\xc2\xb5s" : "ms";
		scale = ns < 1000000 ? 1000 : 1000000;
		digits = ns < 1000000 ? 3 : 6;
	} else {
		unit = "s";
		scale = 1000000000;
		digits = 9;
	}
	whole = ns / scale;
	part = ns % scale;
	if (part > 0) {
		snprintf(
		    frac, sizeof(frac), ".%0*lld", digits, (long long)part);
		for (i = digits; i > 0 && frac[i] == '0'; i--)
			frac[i] = '\0';
	}
	if (scale != 1000000000 || whole < 60) {
		snprintf(out, outsz, "%lld%s%s", (long long)whole, frac, unit);
		return;
	}
	if (whole < 3600)
		snprintf(out, outsz, "%lldm%lld%ss", (long long)(whole / 60),
		    (long long)(whole % 60), frac);
	else
		snprintf(out, outsz, "%lldh%lldm%lld%ss",
		    (long long)(whole / 3600), (long long)(whole / 60 % 60),
		    (long long)(whole % 60), frac);
}

void
health_record(int64_t start_ms, int64_t end_ms, int exit_code,
    const char *output, size_t len, int timed_out)
{
	struct health_result *r;
	char msg[96], dur[48];
	int i;

	if (!health.configured)
		return;
	if (health.nlog == HEALTH_LOG_MAX) {
		free(health.log[0].output);
		for (i = 1; i < HEALTH_LOG_MAX; i++)
			health.log[i - 1] = health.log[i];
		health.nlog--;
	}
	r = &health.log[health.nlog++];
	r->start_ms = start_ms;
	r->end_ms = end_ms;
	if (timed_out) {
		health_duration(health.timeout_ns, dur, sizeof(dur));
		snprintf(msg, sizeof(msg), "Health check exceeded timeout (%s)",
		    dur);
		exit_code = -1;
		output = msg;
		len = strlen(msg);
	}
	r->exit_code = exit_code;
	if (output == NULL)
		len = 0;
	/* Docker keeps the first 4096 bytes and marks the cut with "...". */
	r->len = len > HEALTH_OUTPUT_MAX ? HEALTH_OUTPUT_MAX + 3 : len;
	r->output = xmalloc(r->len + 1);
	if (len > 0)
		memcpy(r->output, output,
		    len > HEALTH_OUTPUT_MAX ? HEALTH_OUTPUT_MAX : len);
	if (len > HEALTH_OUTPUT_MAX)
		memcpy(r->output + HEALTH_OUTPUT_MAX, "...", 3);
	r->output[r->len] = '\0';

	if (exit_code == 0) {
		health.failing = 0;
		health.status = HEALTH_HEALTHY;
	} else if (!(health.status == HEALTH_STARTING &&
		       start_ms - health.started_ms <
			   health.start_period_ns / 1000000)) {
		/* Failures while starting inside the start period do not
		 * count. */
		health.failing++;
		if (health.failing >= health.retries)
			health.status = HEALTH_UNHEALTHY;
	}
	health.next_ms = end_ms + health_interval_ms(end_ms);
}

static void
health_time(char *out, size_t outsz, int64_t ms)
{
	int64_t s = ms >= 0 ? ms / 1000 : (ms - 999) / 1000;

	jsonw_time(out, outsz, s, (long)(ms - s * 1000) * 1000000L);
}

char *
health_json(void)
{
	static const char *const names[] = { "starting", "healthy",
		"unhealthy" };
	struct jsonw w;
	char t0[48], t1[48];
	int i;

	jsonw_init(&w);
	if (!health.configured) {
		jsonw_puts(&w,
		    "{\"Status\":\"none\",\"FailingStreak\":0,"
		    "\"Log\":[]}");
		return jsonw_take(&w);
	}
	jsonw_printf(&w, "{\"Status\":\"%s\",\"FailingStreak\":%d,\"Log\":[",
	    names[health.status], health.failing);
	for (i = 0; i < health.nlog; i++) {
		health_time(t0, sizeof(t0), health.log[i].start_ms);
		health_time(t1, sizeof(t1), health.log[i].end_ms);
		jsonw_printf(&w,
		    "%s{\"Start\":\"%s\",\"End\":\"%s\",\"ExitCode\":%d,"
		    "\"Output\":",
		    i ? "," : "", t0, t1, health.log[i].exit_code);
		jsonw_str(&w, health.log[i].output, health.log[i].len);
		jsonw_puts(&w, "}");
	}
	jsonw_puts(&w, "]}");
	return jsonw_take(&w);
}
