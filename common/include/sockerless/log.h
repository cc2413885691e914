/* Structured logging: one JSON object per line on stderr, so journald and
 * log shippers can parse it; fatal/fatalx end the process. */
#ifndef SOCKERLESS_LOG_H
#define SOCKERLESS_LOG_H

enum log_level { LOG_LVL_ERROR, LOG_LVL_WARN, LOG_LVL_INFO, LOG_LVL_DEBUG };

struct event_base;

void log_init(const char *prog, enum log_level level);
void log_set_level(enum log_level level);
enum log_level log_get_level(void);
/* Parses "error", "warn", "info" or "debug"; -1 if unknown. */
int log_level_parse(const char *s);

void log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warnx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void fatal(const char *fmt, ...)
    __attribute__((format(printf, 1, 2), noreturn));
void fatalx(const char *fmt, ...)
    __attribute__((format(printf, 1, 2), noreturn));

/* One line per served request. cloud_request_id may be NULL. */
void log_request(const char *method, const char *path, int status,
    double duration_ms, const char *cloud_request_id);
/* One line per cloud call: service, operation, status, ms, request id. */
void log_cloud(const char *service, const char *op, int status,
    double duration_ms, const char *request_id, const char *error);

/* A daemon's per-request lines cost one write(2) each; with holding on,
 * log_request's lines are gathered and written together on a 2 ms timer
 * on base, when the next would not fit (16 KiB), before any other line
 * (the order is kept), at exit and on a fatal signal (the earlier handler,
 * or the default action, follows). log_hold_stop writes them out and
 * stops holding; call it before freeing base. */
void log_hold_start(struct event_base *base);
void log_hold_stop(void);
/* Writes out the held lines now. */
void log_flush(void);

#endif
