/* Structured logging: one JSON object per line on stderr, so journald and
 * log shippers can parse it; fatal/fatalx end the process. */
#ifndef SOCKERLESS_LOG_H
#define SOCKERLESS_LOG_H

enum log_level { LOG_LVL_ERROR, LOG_LVL_WARN, LOG_LVL_INFO, LOG_LVL_DEBUG };

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

#endif
