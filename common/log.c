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

#include "sockerless/lite.h"
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

/* A line being built: on the stack up to LINE_STACK bytes, on the heap
 * beyond (every request writes one, so no stdio stream per line). A line
 * that cannot grow is cut short and still ends with a newline. */
#define LINE_STACK 1024

struct line {
	char *p;
	size_t len, cap;
	char stack[LINE_STACK];
};

static void
line_init(struct line *l)
{
	l->p = l->stack;
	l->len = 0;
	l->cap = sizeof(l->stack);
}

static void
line_free(struct line *l)
{
	if (l->p != l->stack)
		free(l->p);
}

/* Room for n more bytes and a final newline; 0 when there is none. */
static int
line_room(struct line *l, size_t n)
{
	size_t cap;
	char *p;

	if (l->len + n + 1 <= l->cap)
		return 1;
	cap = l->cap * 2;
	while (cap < l->len + n + 1)
		cap *= 2;
	if (l->p == l->stack) {
		if ((p = malloc(cap)) != NULL)
			memcpy(p, l->stack, l->len);
	} else {
		p = realloc(l->p, cap);
	}
	if (p == NULL)
		return 0;
	l->p = p;
	l->cap = cap;
	return 1;
}

static void
line_put(struct line *l, const char *s, size_t n)
{
	if (!line_room(l, n))
		return;
	memcpy(l->p + l->len, s, n);
	l->len += n;
}

static void
line_puts(struct line *l, const char *s)
{
	line_put(l, s, strlen(s));
}

/* Appends s as the inside of a JSON string: runs of plain characters at
 * once. */
static void
line_escape(struct line *l, const char *s)
{
	for (;;) {
		size_t run = 0;
		unsigned char c;
		char e[7]; /* \u00XX and lite_hex's NUL */

		while ((c = (unsigned char)s[run]) >= 0x20 && c != '"' &&
		    c != '\\')
			run++;
		line_put(l, s, run);
		s += run;
		if ((c = (unsigned char)*s++) == '\0')
			return;
		e[0] = '\\';
		if (c == '"' || c == '\\') {
			e[1] = (char)c;
			line_put(l, e, 2);
		} else if (c == '\n' || c == '\t') {
			e[1] = c == '\n' ? 'n' : 't';
			line_put(l, e, 2);
		} else {
			memcpy(e + 1, "u00", 3);
			lite_hex(&c, 1, e + 4);
			line_put(l, e, 6);
		}
	}
}

static void
line_int(struct line *l, long v)
{
	char d[LITE_DEC_MAX];

	if (v < 0)
		line_put(l, "-", 1);
	line_put(l, d,
	    lite_dec(v < 0 ? 0UL - (unsigned long)v : (unsigned long)v, d));
}

/* ms with one decimal, as "%.1f" prints it (halves rounded away from
 * zero). */
static void
line_ms(struct line *l, double ms)
{
	long tenths;

	if (!(ms > -1e15 && ms < 1e15)) {
		line_puts(l, "0.0");
		return;
	}
	tenths = (long)(ms * 10 + (ms < 0 ? -0.5 : 0.5));
	if (tenths < 0) {
		line_put(l, "-", 1);
		tenths = -tenths;
	}
	line_int(l, tenths / 10);
	line_put(l, ".", 1);
	line_int(l, tenths % 10);
}

/* The line's start: time (the date part formatted once a second),
 * level, program. */
static void
line_begin(struct line *l, enum log_level level)
{
	static time_t sec = -1;
	static char date[24];
	static size_t date_len;
	struct timeval tv;
	char ms[4];
	long m;

	gettimeofday(&tv, NULL);
	if (tv.tv_sec != sec) {
		struct tm tm;

		gmtime_r(&tv.tv_sec, &tm);
		date_len =
		    strftime(date, sizeof(date), "%Y-%m-%dT%H:%M:%S", &tm);
		sec = tv.tv_sec;
	}
	m = (long)(tv.tv_usec / 1000);
	ms[0] = '.';
	ms[1] = (char)('0' + m / 100);
	ms[2] = (char)('0' + m / 10 % 10);
	ms[3] = (char)('0' + m % 10);
	line_init(l);
	line_puts(l, "{\"ts\":\"");
	line_put(l, date, date_len);
	line_put(l, ms, sizeof(ms));
	line_puts(l, "Z\",\"level\":\"");
	line_puts(l, log_names[level]);
	line_puts(l, "\",\"prog\":\"");
	line_escape(l, log_prog);
	line_put(l, "\"", 1);
}

/* Closes the line and hands it on. */
static void
line_end(struct line *l, int holdable)
{
	/* Every line_put leaves room for the newline. */
	if (line_room(l, 1))
		l->p[l->len++] = '}';
	l->p[l->len++] = '\n';
	log_emit(l->p, l->len, holdable);
	line_free(l);
}

__attribute__((format(printf, 3, 0))) static void
log_vmsg(enum log_level level, const char *suffix, const char *fmt, va_list ap)
{
	char msg[2048];
	struct line l;

	if (level > log_level_cur)
		return;
	vsnprintf(msg, sizeof(msg), fmt, ap);
	/* Built whole in memory so concurrent writers never interleave. */
	line_begin(&l, level);
	line_puts(&l, ",\"msg\":\"");
	line_escape(&l, msg);
	if (suffix != NULL) {
		line_puts(&l, ": ");
		line_escape(&l, suffix);
	}
	line_put(&l, "\"", 1);
	line_end(&l, 0);
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
line_field(struct line *l, const char *key, const char *val)
{
	if (val == NULL || *val == '\0')
		return;
	line_puts(l, ",\"");
	line_puts(l, key);
	line_puts(l, "\":\"");
	line_escape(l, val);
	line_put(l, "\"", 1);
}

static void
line_status_ms(struct line *l, int status, double duration_ms)
{
	line_puts(l, ",\"status\":");
	line_int(l, status);
	line_puts(l, ",\"duration_ms\":");
	line_ms(l, duration_ms);
}

void
log_request(const char *method, const char *path, int status,
    double duration_ms, const char *cloud_request_id)
{
	struct line l;

	if (LOG_LVL_INFO > log_level_cur)
		return;
	line_begin(&l, LOG_LVL_INFO);
	line_puts(&l, ",\"msg\":\"request\"");
	line_field(&l, "method", method);
	line_field(&l, "path", path);
	line_status_ms(&l, status, duration_ms);
	line_field(&l, "cloud_request_id", cloud_request_id);
	line_end(&l, 1);
}

void
log_cloud(const char *service, const char *op, int status, double duration_ms,
    const char *request_id, const char *error)
{
	struct line l;
	enum log_level level = error != NULL ? LOG_LVL_WARN : LOG_LVL_DEBUG;

	if (level > log_level_cur)
		return;
	line_begin(&l, level);
	line_puts(&l, ",\"msg\":\"cloud call\"");
	line_field(&l, "service", service);
	line_field(&l, "op", op);
	line_status_ms(&l, status, duration_ms);
	line_field(&l, "request_id", request_id);
	line_field(&l, "error", error);
	line_end(&l, 0);
}
