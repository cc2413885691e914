/* sockerless-agent: the pure modules the event loop calls (procinfo.c,
 * archive.c, health.c) and their JSON writer (jsonw.c). */
#ifndef AGENT_MODULES_H
#define AGENT_MODULES_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

/* jsonw.c */
/* A growable JSON text; buf stays NUL-terminated once anything is added. */
struct jsonw {
	char *buf;
	size_t len, cap;
};
void jsonw_init(struct jsonw *w);
void jsonw_raw(struct jsonw *w, const char *s, size_t n);
void jsonw_puts(struct jsonw *w, const char *s);
void jsonw_printf(struct jsonw *w, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Appends s[0..n) as a quoted JSON string: control characters escaped,
 * bytes that are not valid UTF-8 written as \ufffd. */
void jsonw_str(struct jsonw *w, const char *s, size_t n);
/* Returns the text (malloc'd, the caller frees it); w is empty again. */
char *jsonw_take(struct jsonw *w);
void jsonw_free(struct jsonw *w);
/* Writes Go's RFC3339Nano of sec.nsec in UTC ("...T10:00:00.1234Z",
 * trailing zeros of the fraction dropped) into out (40 bytes suffice). */
void jsonw_time(char *out, size_t outsz, int64_t sec, long nsec);

/* procinfo.c */
/* Both return malloc'd JSON (the caller frees it) and never fail; top's is
 * an error answer ({"status": 400, ...}) for ps_args it cannot honour. */
char *top_json(const char *args);
char *stats_json(void);

/* archive.c */
/* Docker's path stat object, malloc'd; *status is the HTTP status (200, or
 * the error's, and then the JSON is {"status":N,"message":"..."}). */
char *archive_stat_json(const char *path, int *status);
/*
 * Run in a forked child. Return 0, or on error (after one line on fd 2)
 * 2 not found, 3 bad request, 4 permission denied, 1 anything else.
 */
int archive_get_child(const char *path, int out_fd);
/* With if_empty (a copy-up), path is made when missing and left alone when
 * it has entries; the tar's "./" gives it its owner and mode. */
int archive_put_child(
    const char *path, int no_overwrite_dir_non_dir, int if_empty, int in_fd);

/* health.c */
/* 0 when a check is configured, -1 otherwise; resets any earlier state. */
int health_init(const char *config_json);
/* Epoch ms of the next check; 0 when no check is configured. */
int64_t health_next_ms(void);
/* The check's argv (static storage, NULL-terminated); NULL when none. */
char **health_argv(void);
int64_t health_timeout_ms(void);
void health_record(int64_t start_ms, int64_t end_ms, int exit_code,
    const char *output, size_t len, int timed_out);
/* Docker's Health object, malloc'd (the caller frees it). */
char *health_json(void);

#endif
