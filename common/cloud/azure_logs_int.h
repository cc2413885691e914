/* Internals of azure_logs.c (the Log Analytics query API, the console-log
 * reader and the log stream), shared with its unit test and fuzz harness.
 * Not for other modules: use sockerless/azure.h. */
#ifndef SOCKERLESS_AZURE_LOGS_INT_H
#define SOCKERLESS_AZURE_LOGS_INT_H

#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "sockerless/azure.h"
#include "sockerless/cloud.h"

/* Rows asked for per read, and line digests kept at the cursor's time:
 * past that many lines with one TimeGenerated a line may repeat. */
#define AZURE_LOGS_LIMIT    1000
#define AZURE_LOGS_MAX_SEEN 1024
/* A log-stream line longer than this is handed on in pieces. */
#define AZURE_STREAM_MAX_LINE (1024 * 1024)

/* The cursor's state: the last TimeGenerated delivered and the digests of
 * the lines delivered at it (a multiset: equal lines count). */
struct azure_logs_cursor {
	int64_t ts_ns; /* -1: none */
	uint64_t *seen;
	size_t nseen;
};

/* "" or NULL parse as the empty cursor; -1 when s is not one of ours. */
int azure_logs_cursor_parse(const char *s, struct azure_logs_cursor *c);
char *azure_logs_cursor_print(const struct azure_logs_cursor *c);
void azure_logs_cursor_clear(struct azure_logs_cursor *c);

/* The query over both console-log tables (caller frees): job's lines,
 * of execution's replicas and container when not NULL, from from_ns
 * (-1: all), at most limit rows. */
char *azure_logs_kql(const char *job, const char *execution,
    const char *container, int64_t from_ns, size_t limit);

/* A query answer's first table (borrowed from out) into *tbl; a partial
 * error (200 with "error") or a malformed answer is -1 with ce set. */
int azure_la_answer(
    const cJSON *out, const cJSON **tbl, struct cloud_error *ce);

/* One answer table of azure_logs_kql's query read against cursor c
 * (advanced): the new lines in *ev (n of them, texts borrowed from tbl;
 * free(*ev)), *rows the rows the table held. -1 when the table is
 * malformed (ce says why; c unchanged). */
int azure_logs_table(const cJSON *tbl, struct azure_logs_cursor *c,
    struct azure_log_entry **ev, size_t *n, size_t *rows,
    struct cloud_error *ce);

/* One log-stream line (without its newline): a JSON object with "Log"
 * (and "TimeStamp", "Stream") or, otherwise, the line itself as text.
 * *keep owns what ev's text points into (NULL when it is line); now_ns
 * stamps a line without a time. 0 when the line is an entry, -1 for an
 * empty line. */
int azure_stream_line(const char *line, size_t len, int64_t now_ns,
    struct azure_log_entry *ev, cJSON **keep);

/* ce filled in: status, code, and the message. */
void azure_logs_error(struct cloud_error *ce, int status, const char *code,
    const char *fmt, ...) __attribute__((format(printf, 4, 5)));
/* A failure found before anything was sent: cb gets ce from the loop,
 * never inside the caller; the id (AZURE_LOGS_ID) cancels it
 * (azure_logstream.c). */
uint64_t azure_logs_fail(
    struct azure *z, azure_logs_cb cb, void *arg, const struct cloud_error *ce);

#endif
