/* JSON-lines logger on stderr. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

#include "sockerless/log.h"

static const char *log_prog = "sockerless";
static enum log_level log_level_cur = LOG_LVL_INFO;
static const char *log_names[] = { "error", "warn", "info", "debug" };

void
log_init(const char *prog, enum log_level level)
{
	log_prog = prog;
	log_level_cur = level;
}

void
log_set_level(enum log_level level)
{
	log_level_cur = level;
}

enum log_level
log_get_level(void)
{
	return log_level_cur;
}

int
log_level_parse(const char *s)
{
	for (size_t i = 0; i < sizeof(log_names) / sizeof(log_names[0]); i++)
		if (strcmp(s, log_names[i]) == 0)
			return (int)i;
	return -1;
}

/* Appends s to out as the inside of a JSON string. */
static void
log_escape(FILE *out, const char *s)
{
	for (; *s != '\0'; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == '"' || c == '\\')
			fprintf(out, "\\%c", c);
		else if (c == '\n')
			fputs("\\n", out);
		else if (c == '\t')
			fputs("\\t", out);
		else if (c < 0x20)
			fprintf(out, "\\u%04x", c);
		else
			fputc(c, out);
	}
}

static void
log_begin(FILE *out, enum log_level level)
{
	struct timeval tv;
	struct tm tm;
	char ts[32];

	gettimeofday(&tv, NULL);
	gmtime_r(&tv.tv_sec, &tm);
	strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S", &tm);
	fprintf(out, "{\"ts\":\"%s.%03ldZ\",\"level\":\"%s\",\"prog\":\"", ts,
	    (long)(tv.tv_usec / 1000), log_names[level]);
	log_escape(out, log_prog);
	fputc('"', out);
}

__attribute__((format(printf, 3, 0))) static void
log_vmsg(enum log_level level, const char *suffix, const char *fmt, va_list ap)
{
	char msg[2048];
	char *buf = NULL;
	size_t len = 0;
	FILE *out;

	if (level > log_level_cur)
		return;
	vsnprintf(msg, sizeof(msg), fmt, ap);
	/* Build the line in memory so concurrent writers never interleave. */
	if ((out = open_memstream(&buf, &len)) == NULL)
		return;
	log_begin(out, level);
	fputs(",\"msg\":\"", out);
	log_escape(out, msg);
	if (suffix != NULL) {
		fputs(": ", out);
		log_escape(out, suffix);
	}
	fputs("\"}\n", out);
	fclose(out);
	fwrite(buf, 1, len, stderr);
	free(buf);
}

#define LOG_FN(name, level, with_errno)                                     \
	void name(const char *fmt, ...)                                     \
	{                                                                   \
		va_list ap;                                                 \
		int saved = errno;                                          \
		va_start(ap, fmt);                                          \
		log_vmsg(                                                   \
		    level, (with_errno) ? strerror(saved) : NULL, fmt, ap); \
		va_end(ap);                                                 \
		errno = saved;                                              \
	}

LOG_FN(log_warn, LOG_LVL_WARN, 1)
LOG_FN(log_warnx, LOG_LVL_WARN, 0)
LOG_FN(log_info, LOG_LVL_INFO, 0)
LOG_FN(log_debug, LOG_LVL_DEBUG, 0)
LOG_FN(log_error, LOG_LVL_ERROR, 0)

void
fatal(const char *fmt, ...)
{
	va_list ap;
	int saved = errno;

	va_start(ap, fmt);
	log_vmsg(LOG_LVL_ERROR, strerror(saved), fmt, ap);
	va_end(ap);
	exit(1);
}

void
fatalx(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vmsg(LOG_LVL_ERROR, NULL, fmt, ap);
	va_end(ap);
	exit(1);
}

static void
log_field(FILE *out, const char *key, const char *val)
{
	if (val == NULL || *val == '\0')
		return;
	fprintf(out, ",\"%s\":\"", key);
	log_escape(out, val);
	fputc('"', out);
}

void
log_request(const char *method, const char *path, int status,
    double duration_ms, const char *cloud_request_id)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *out;

	if (LOG_LVL_INFO > log_level_cur)
		return;
	if ((out = open_memstream(&buf, &len)) == NULL)
		return;
	log_begin(out, LOG_LVL_INFO);
	fputs(",\"msg\":\"request\"", out);
	log_field(out, "method", method);
	log_field(out, "path", path);
	fprintf(
	    out, ",\"status\":%d,\"duration_ms\":%.1f", status, duration_ms);
	log_field(out, "cloud_request_id", cloud_request_id);
	fputs("}\n", out);
	fclose(out);
	fwrite(buf, 1, len, stderr);
	free(buf);
}

void
log_cloud(const char *service, const char *op, int status, double duration_ms,
    const char *request_id, const char *error)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *out;
	enum log_level level = error != NULL ? LOG_LVL_WARN : LOG_LVL_DEBUG;

	if (level > log_level_cur)
		return;
	if ((out = open_memstream(&buf, &len)) == NULL)
		return;
	log_begin(out, level);
	fputs(",\"msg\":\"cloud call\"", out);
	log_field(out, "service", service);
	log_field(out, "op", op);
	fprintf(
	    out, ",\"status\":%d,\"duration_ms\":%.1f", status, duration_ms);
	log_field(out, "request_id", request_id);
	log_field(out, "error", error);
	fputs("}\n", out);
	fclose(out);
	fwrite(buf, 1, len, stderr);
	free(buf);
}
