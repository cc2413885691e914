/* JSON-lines logger on stderr. */
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "sockerless/log.h"

static const char *log_prog = "sockerless";
static enum log_level log_level_cur = LOG_LVL_INFO;
static const char *log_names[] = { "error", "warn", "info", "debug" };

/* Held request lines (log_hold_start): written out together on a short
 * timer, when the next line would not fit, before any other line (so the
 * order stays), at exit and on a fatal signal. */
#define LOG_HOLD_MAX  (16 * 1024)
#define LOG_HOLD_USEC 2000
static char log_hold[LOG_HOLD_MAX];
static volatile size_t log_hold_len;
static struct event *log_hold_ev;
static int log_hold_armed;
static const int log_hold_signals[] = { SIGSEGV, SIGBUS, SIGFPE, SIGILL,
	SIGABRT, SIGTRAP, SIGSYS, SIGQUIT, SIGHUP, SIGUSR1, SIGUSR2, SIGALRM,
	SIGXCPU, SIGXFSZ };
#define LOG_HOLD_NSIG (sizeof(log_hold_signals) / sizeof(log_hold_signals[0]))
static struct sigaction log_hold_old[LOG_HOLD_NSIG];
static int log_hold_skip[LOG_HOLD_NSIG]; /* signal i was not hooked */
static int log_hold_hooked;

/* Writes out the held lines with write(2) only (a signal handler calls
 * it); a line that cannot be written is dropped, as an unbuffered
 * stderr's would be. */
static void
log_hold_write(void)
{
	size_t off = 0, len = log_hold_len;

	while (off < len) {
		ssize_t w = write(STDERR_FILENO, log_hold + off, len - off);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			break;
		off += (size_t)w;
	}
	log_hold_len = 0;
}

void
log_flush(void)
{
	int saved = errno;

	if (log_hold_len > 0)
		log_hold_write();
	errno = saved;
}

static void
log_hold_fire(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	log_hold_armed = 0;
	log_flush();
}

/* A fatal signal: the held lines first, then what would have happened. */
static void
log_hold_signal(int sig, siginfo_t *info, void *ctx)
{
	int saved = errno;

	log_hold_write();
	errno = saved;
	for (size_t i = 0; i < LOG_HOLD_NSIG; i++) {
		const struct sigaction *old = &log_hold_old[i];

		if (log_hold_signals[i] != sig)
			continue;
		if ((old->sa_flags & SA_SIGINFO) != 0 &&
		    old->sa_sigaction != NULL) {
			old->sa_sigaction(sig, info, ctx);
			return;
		}
		if (old->sa_handler != SIG_DFL && old->sa_handler != SIG_IGN &&
		    old->sa_handler != NULL) {
			old->sa_handler(sig);
			return;
		}
		sigaction(sig, old, NULL);
		raise(sig);
		return;
	}
}

/* Hooks signal i of log_hold_signals: a fault always (a sanitizer's
 * handler is chained), another only while its action is the default one
 * (a signal the daemon handles itself, e.g. SIGHUP in the backend, does
 * not end it and is left alone). */
static void
log_hold_hook(size_t i)
{
	int sig = log_hold_signals[i];
	int fault = sig == SIGSEGV || sig == SIGBUS || sig == SIGFPE ||
	    sig == SIGILL || sig == SIGABRT || sig == SIGTRAP || sig == SIGSYS;
	struct sigaction sa, *old = &log_hold_old[i];

	memset(old, 0, sizeof(*old));
	old->sa_handler = SIG_DFL;
	log_hold_skip[i] = 1;
	if (sigaction(sig, NULL, old) == -1)
		return;
	if (!fault &&
	    ((old->sa_flags & SA_SIGINFO) != 0 || old->sa_handler != SIG_DFL)) {
		log_hold_skip[i] = 1;
		return;
	}
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = log_hold_signal;
	sa.sa_flags = SA_SIGINFO | SA_NODEFER;
	sigemptyset(&sa.sa_mask);
	log_hold_skip[i] = sigaction(sig, &sa, NULL) == -1;
}

static void
log_hold_atexit(void)
{
	log_flush();
}

void
log_hold_start(struct event_base *base)
{
	static int registered;

	if (log_hold_ev != NULL)
		return;
	log_hold_ev = evtimer_new(base, log_hold_fire, NULL);
	if (log_hold_ev == NULL)
		return;
	log_hold_armed = 0;
	if (!registered && atexit(log_hold_atexit) == 0)
		registered = 1;
	if (!log_hold_hooked) {
		for (size_t i = 0; i < LOG_HOLD_NSIG; i++)
			log_hold_hook(i);
		log_hold_hooked = 1;
	}
}

void
log_hold_stop(void)
{
	log_flush();
	if (log_hold_ev == NULL)
		return;
	event_free(log_hold_ev);
	log_hold_ev = NULL;
	log_hold_armed = 0;
	if (log_hold_hooked) {
		for (size_t i = 0; i < LOG_HOLD_NSIG; i++)
			if (!log_hold_skip[i])
				sigaction(log_hold_signals[i], &log_hold_old[i],
				    NULL);
		log_hold_hooked = 0;
	}
}

/* A finished line: held when holding is on and it is a request line,
 * else written at once after whatever is held. */
static void
log_emit(const char *line, size_t len, int holdable)
{
	if (holdable && log_hold_ev != NULL && len <= LOG_HOLD_MAX) {
		if (log_hold_len + len > LOG_HOLD_MAX)
			log_flush();
		memcpy(log_hold + log_hold_len, line, len);
		log_hold_len += len;
		if (!log_hold_armed) {
			struct timeval tv = { 0, LOG_HOLD_USEC };

			if (evtimer_add(log_hold_ev, &tv) == 0)
				log_hold_armed = 1;
			else
				log_flush();
		}
		return;
	}
	log_flush();
	fwrite(line, 1, len, stderr);
}

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
	log_emit(buf, len, 0);
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
	log_emit(buf, len, 1);
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
	log_emit(buf, len, 0);
	free(buf);
}
