/* What Log Analytics and the Container Apps log stream answer
 * (common/cloud/azure_logs.c, azure_logstream.c): query answers (tables,
 * partial errors, malformed shapes), console-log tables read against a
 * cursor, log-stream lines, and KQL quoting. The first byte picks the
 * parser; the rest is the input, and after a NUL a second one (a cursor,
 * or the execution and container names). */
#include "../../common/cloud/azure_int.h"
#include "../../common/cloud/azure_logs_int.h"
#include "fuzz.h"
#include "sockerless/azure.h"
#include "sockerless/str.h"

static void
fuzz_la_answer(const char *body)
{
	cJSON *o = cJSON_Parse(body);
	const cJSON *tbl;
	struct cloud_error ce;

	if (azure_la_answer(o, &tbl, &ce) == -1 &&
	    (ce.code[0] == '\0' || ce.message[0] == '\0' ||
		memchr(ce.message, '\0', sizeof(ce.message)) == NULL))
		abort();
	cJSON_Delete(o);
}

static void
fuzz_table(const char *body, const char *cursor)
{
	cJSON *o = cJSON_Parse(body);
	struct azure_logs_cursor c;
	struct azure_log_entry *ev;
	struct cloud_error ce;
	size_t n, rows;
	char *s;

	azure_logs_cursor_parse(cursor, &c);
	if (azure_logs_table(o, &c, &ev, &n, &rows, &ce) == 0) {
		for (size_t i = 0; i < n; i++)
			if (ev[i].len > strlen(ev[i].text) ||
			    (ev[i].stream != 1 && ev[i].stream != 2) ||
			    ev[i].ts_ns < 0)
				abort();
		if (n > rows)
			abort();
		free(ev);
	} else if (ce.message[0] == '\0')
		abort();
	/* A printed cursor reads back. */
	s = azure_logs_cursor_print(&c);
	azure_logs_cursor_clear(&c);
	if (azure_logs_cursor_parse(s, &c) != 0)
		abort();
	azure_logs_cursor_clear(&c);
	free(s);
	cJSON_Delete(o);
}

static void
fuzz_stream(const char *data)
{
	const char *p = data;

	for (;;) {
		const char *nl = strchr(p, '\n');
		size_t len = nl != NULL ? (size_t)(nl - p) : strlen(p);
		struct azure_log_entry ev;
		cJSON *keep;

		if (azure_stream_line(p, len, 1, &ev, &keep) == 0) {
			if (ev.stream != 1 && ev.stream != 2)
				abort();
			if (keep == NULL && (ev.text != p || ev.len != len))
				abort();
			cJSON_Delete(keep);
		}
		if (nl == NULL)
			break;
		p = nl + 1;
	}
}

/* A quoted literal is closed and has no bare quote inside. */
static void
fuzz_quote_check(const char *q)
{
	size_t n = strlen(q);

	if (n == 0)
		return;
	if (n < 2 || q[0] != '\'' || q[n - 1] != '\'')
		abort();
	for (size_t i = 1; i < n - 1; i++) {
		if (q[i] == '\\') {
			if (++i >= n - 1)
				abort();
		} else if (q[i] == '\'' || q[i] == '\n')
			abort();
	}
}

static void
fuzz_kql(const char *a, const char *b, int small)
{
	char out[64];
	char *big = malloc(2 * strlen(a) + 3), *q;

	if (big == NULL)
		abort();
	out[0] = '\0'; /* outsz 0 leaves out alone */
	azure_kql_quote(
	    a, out, small ? (size_t)(strlen(a) % sizeof(out)) : sizeof(out));
	fuzz_quote_check(out);
	azure_kql_quote(a, big, 2 * strlen(a) + 3);
	fuzz_quote_check(big);
	free(big);
	q = azure_logs_kql(a, *b != '\0' ? b : NULL, b, 5, 10);
	free(q);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *a, *b;
	char *buf;
	int sel;

	if (size == 0)
		return 0;
	sel = data[0];
	fuzz_split(data + 1, size - 1, &buf, &a, &b);
	switch (sel % 4) {
	case 0:
		fuzz_la_answer(a);
		break;
	case 1:
		fuzz_table(a, b);
		break;
	case 2:
		fuzz_stream(a);
		break;
	default:
		fuzz_kql(a, b, sel & 4);
		break;
	}
	free(buf);
	return 0;
}
