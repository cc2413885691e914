/* Output kept in the container's state, for clouds that hand a run's
 * whole output over at once (a function's answer): chunks become lines
 * per stream, stored as [[stream, ts_us, "line"], ...], and served to
 * docker logs and the read-only attach of docker run (even after a
 * docker run --rm removed the container). */
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sockerless/backend_kit.h"
#include "sockerless/json.h"
#include "sockerless/str.h"
#include "sockerless/xmalloc.h"

void
kit_lines_init(struct kit_lines *l)
{
	memset(l, 0, sizeof(*l));
	l->out = cJSON_CreateArray();
	for (int i = 1; i <= 2; i++)
		buf_init(&l->part[i], 0);
}

/* A row; a fourth member 1 says no newline follows (the output ended
 * without one). */
static void
kit_lines_row(struct kit_lines *l, int s, int64_t us, const char *p, size_t n,
    int partial)
{
	cJSON *row = cJSON_CreateArray();
	char *line = xstrndup(p, n);

	cJSON_AddItemToArray(row, cJSON_CreateNumber(s));
	cJSON_AddItemToArray(row, cJSON_CreateNumber((double)us));
	cJSON_AddItemToArray(row, cJSON_CreateString(line));
	if (partial)
		cJSON_AddItemToArray(row, cJSON_CreateNumber(1));
	cJSON_AddItemToArray(l->out, row);
	free(line);
}

void
kit_lines_emit(struct kit_lines *l, int s, int64_t us, const char *p, size_t n)
{
	kit_lines_row(l, s, us, p, n, 0);
}

void
kit_lines_add(struct kit_lines *l, int s, int64_t us, const char *p, size_t n)
{
	const char *nl;

	while (n > 0) {
		if (l->part[s].len == 0)
			l->part_us[s] = us;
		if ((nl = memchr(p, '\n', n)) == NULL) {
			buf_add(&l->part[s], p, n);
			return;
		}
		if (l->part[s].len > 0) {
			buf_add(&l->part[s], p, (size_t)(nl - p));
			kit_lines_emit(l, s, l->part_us[s], l->part[s].data,
			    l->part[s].len);
			buf_reset(&l->part[s]);
		} else {
			kit_lines_emit(l, s, us, p, (size_t)(nl - p));
		}
		n -= (size_t)(nl - p) + 1;
		p = nl + 1;
	}
}

void
kit_lines_flush(struct kit_lines *l)
{
	for (int s = 1; s <= 2; s++) {
		if (l->part[s].len > 0)
			kit_lines_row(l, s, l->part_us[s], l->part[s].data,
			    l->part[s].len, 1);
		buf_reset(&l->part[s]);
	}
}

void
kit_lines_note(struct kit_lines *l, const char *fmt, ...)
{
	va_list ap;
	char *s;

	va_start(ap, fmt);
	if (vasprintf(&s, fmt, ap) == -1)
		s = NULL;
	va_end(ap);
	if (s != NULL)
		kit_lines_emit(l, 2, str_now_ns() / 1000, s, strlen(s));
	free(s);
}

void
kit_lines_keep(struct kit_lines *l, struct backend *b, struct container *c)
{
	for (int i = 1; i <= 2; i++)
		buf_free(&l->part[i]);
	json_set(container_private(c), KIT_OUTPUT, l->out);
	l->out = NULL;
	backend_container_save(b, c);
}

/* The cursor is the index of the next line. Output exists only once the
 * run answered: before that there is nothing to read yet. */
void
kit_logs_kept(struct backend *b, struct container *c, const char *cursor,
    int64_t since_ns, backend_logs_fn fn, void *arg)
{
	const cJSON *lines = json_arr(container_private(c), KIT_OUTPUT), *row;
	char next[32];
	struct backend_log_event *ev = NULL;
	size_t n = 0;
	int i = 0;
	long long from = 0;
	int64_t us;
	struct err e;

	if (cursor != NULL &&
	    str_tonum(cursor, 0, INT_MAX, &from, NULL) == -1) {
		/* Only this file writes cursors: a bad one is a bug. */
		err_set(&e, 500, "%s logs: bad cursor \"%s\"",
		    backend_ops(b)->name, cursor);
		fn(arg, NULL, 0, NULL, 1, &e);
		return;
	}
	ev = xcalloc((size_t)cJSON_GetArraySize(lines) + 1, sizeof(*ev));
	cJSON_ArrayForEach(row, lines) {
		const cJSON *st = cJSON_GetArrayItem(row, 0);
		const cJSON *ts = cJSON_GetArrayItem(row, 1);
		const cJSON *msg = cJSON_GetArrayItem(row, 2);
		const cJSON *part = cJSON_GetArrayItem(row, 3);
		if (i++ < from || !cJSON_IsString(msg) || !cJSON_IsNumber(st) ||
		    !cJSON_IsNumber(ts))
			continue;
		/* Times out of range are garbage: keep the line, at time 0. */
		if (json_num_int(ts->valuedouble, &us) == -1 ||
		    __builtin_mul_overflow(us, 1000, &ev[n].ts_ns))
			ev[n].ts_ns = 0;
		if (ev[n].ts_ns < since_ns)
			continue;
		ev[n].stream =
		    st->valueint == 2 ? STDSTREAM_STDERR : STDSTREAM_STDOUT;
		ev[n].msg = msg->valuestring;
		ev[n].len = strlen(msg->valuestring);
		ev[n].partial = cJSON_IsNumber(part) && part->valuedouble == 1;
		n++;
	}
	snprintf(next, sizeof(next), "%lld", i > from ? (long long)i : from);
	fn(arg, ev, n, next, 1, NULL);
	free(ev);
}
