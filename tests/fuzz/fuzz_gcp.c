/* What Google answers (common/cloud/gcp_err.c, gcp_lro.c, gcp_logs.c,
 * gcp.c): error bodies (google.rpc.Status, RetryInfo, the OAuth shape)
 * mapped to a Docker-facing error, an operation's error, list pages,
 * Cloud Logging pages against a cursor, and the conventions' parsers
 * (durations, RFC 3339 times, labels, filter quoting). The first byte
 * picks the parser (high nibble) and the HTTP status (low nibble); the
 * rest is the input, and after a NUL a second one (a cursor). */
#include "../../common/cloud/gcp_int.h"
#include "fuzz.h"
#include "sockerless/gcp.h"
#include "sockerless/gcp_auth.h"
#include "sockerless/str.h"

static const int fuzz_status[] = { 0, 400, 401, 403, 404, 409, 429, 499, 500,
	501, 502, 503, 504, 200, 418, 302 };

static void
fuzz_gcp_error(int status, const char *body)
{
	struct cloud_error ce;
	struct err e;
	long retry;

	memset(&ce, 0, sizeof(ce));
	ce.http_status = status;
	gcp_parse_status(body, strlen(body), &ce, &retry);
	if (memchr(ce.code, '\0', sizeof(ce.code)) == NULL ||
	    memchr(ce.message, '\0', sizeof(ce.message)) == NULL ||
	    retry < -1 || retry > 60000)
		abort();
	cloud_error_classify(gcp_provider(), &ce);
	cloud_error_to_err(gcp_provider(), &ce, &e);
}

static void
fuzz_gcp_op(const char *body)
{
	cJSON *o = cJSON_Parse(body);
	struct cloud_error ce;
	struct err e;

	gcp_status_to_cloud(cJSON_GetObjectItemCaseSensitive(o, "error"), &ce);
	if (ce.code[0] == '\0' || ce.message[0] == '\0')
		abort();
	cloud_error_to_err(gcp_provider(), &ce, &e);
	cJSON_Delete(o);
}

static void
fuzz_gcp_list(const char *body)
{
	cJSON *page = cJSON_Parse(body), *acc = cJSON_CreateObject();
	struct cloud_error ce;
	const char *next;

	cJSON_AddItemToObject(acc, "jobs", cJSON_CreateArray());
	gcp_list_merge(acc, "jobs", page, &next, &ce);
	cJSON_Delete(acc);
	cJSON_Delete(page);
}

static void
fuzz_gcp_logs(const char *body, const char *cursor)
{
	cJSON *page = cJSON_Parse(body);
	struct gcp_logs_cursor c;
	struct gcp_log_entry *ev;
	struct cloud_error ce;
	char **keep, *s;
	size_t n, nkeep;

	gcp_logs_cursor_parse(cursor, &c);
	if (gcp_logs_page(page, &c, &ev, &n, &keep, &nkeep, &ce) == 0) {
		for (size_t i = 0; i < n; i++)
			if (ev[i].len > strlen(ev[i].text) ||
			    (ev[i].stream != 1 && ev[i].stream != 2))
				abort();
		for (size_t i = 0; i < nkeep; i++)
			free(keep[i]);
		free(keep);
		free(ev);
	}
	s = gcp_logs_cursor_print(&c);
	gcp_logs_cursor_clear(&c);
	/* A printed cursor reads back. */
	if (gcp_logs_cursor_parse(s, &c) != 0)
		abort();
	gcp_logs_cursor_clear(&c);
	free(s);
	cJSON_Delete(page);
}

static void
fuzz_gcp_conv(const char *a)
{
	char out[128];
	int64_t ns;

	(void)gcp_duration_parse(a);
	if ((ns = gcp_time_parse(a)) >= 0) {
		gcp_time(out, sizeof(out), ns);
		if (gcp_time_parse(out) != ns)
			abort();
	}
	if (gcp_label_key(a, out, sizeof(out)) == 0 && strlen(out) > 63)
		abort();
	gcp_label_value(a, out, sizeof(out));
	gcp_logs_quote(a, out, sizeof(out));
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
	switch ((sel >> 4) % 5) {
	case 0:
		fuzz_gcp_error(fuzz_status[sel & 0xf], a);
		break;
	case 1:
		fuzz_gcp_op(a);
		break;
	case 2:
		fuzz_gcp_list(a);
		break;
	case 3:
		fuzz_gcp_logs(a, b);
		break;
	default:
		fuzz_gcp_conv(a);
		break;
	}
	free(buf);
	return 0;
}
