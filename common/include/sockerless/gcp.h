/* Google Cloud REST calls on the cloud call core (cloud.h): the GCP
 * provider (a bearer token from gcp_auth before every attempt,
 * google.rpc.Status errors, RetryInfo), JSON REST requests with Google's
 * conventions (lowerCamel JSON, ?alt=json, int64 as strings, durations as
 * "600s"), long-running operations, pagination, and the Cloud Logging
 * reader. docs/cloud.md; the wire notes in CLOUD-WIRE.md section 2. */
#ifndef SOCKERLESS_GCP_H
#define SOCKERLESS_GCP_H

#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>
#include <event2/event.h>

#include "sockerless/cloud.h"
#include "sockerless/err.h"

struct httpcli;
struct gcp_auth;
struct gcp;

struct gcp_options {
	/* Borrowed; NULL sends no Authorization (tests' stand-in servers). */
	struct gcp_auth *auth;
	/* One URL for every service (a simulator, a private endpoint); NULL:
	 * https://<svc>.googleapis.com per service. */
	const char *endpoint;
};

/* Service names (the host's first label on Google's side): "run",
 * "cloudfunctions", "logging", "artifactregistry", "storage", "file",
 * "iamcredentials". */
struct gcp *gcp_new(struct event_base *base, struct httpcli *http,
    const struct gcp_options *o, struct err *e);
void gcp_free(struct gcp *g);
/* Overrides one service's endpoint (NULL or "" is ignored). */
void gcp_set_endpoint(struct gcp *g, const char *svc, const char *url);
/* "https://run.googleapis.com" or the override, without a trailing /. */
const char *gcp_endpoint(const struct gcp *g, const char *svc);
struct cloud *gcp_cloud(struct gcp *g);
const struct cloud_provider *gcp_provider(void);

/* out is the JSON answer (borrowed; NULL on error or an empty body), ce
 * NULL on success. */
typedef void (*gcp_cb)(
    void *arg, const cJSON *out, const struct cloud_error *ce);

/* One REST call: method on <endpoint of svc>/<path> (path without a
 * leading /, "v2/projects/p/locations/l/jobs"), query without ? ("jobId=x";
 * NULL: none; alt=json is added), body taken (NULL: none). op names the
 * call in the log line ("jobs.create"). attempts 0: the provider's default
 * (5); 1 for calls that must not repeat. Returns a cloud_call id. */
uint64_t gcp_call(struct gcp *g, const char *svc, const char *op,
    const char *method, const char *path, const char *query, cJSON *body,
    int attempts, gcp_cb cb, void *arg);
/* As gcp_call, and arg is the call's own: arg_free frees it once the call
 * is over, after cb, or without cb when the call is cancelled or the
 * client closed with it in flight (a shutdown). cb must not free it. */
uint64_t gcp_call_owned(struct gcp *g, const char *svc, const char *op,
    const char *method, const char *path, const char *query, cJSON *body,
    int attempts, gcp_cb cb, void *arg, void (*arg_free)(void *));
/* Blocking, for start-up only. *out owned by the caller. */
int gcp_call_sync(struct gcp *g, const char *svc, const char *op,
    const char *method, const char *path, const char *query, cJSON *body,
    cJSON **out, struct err *e);
/* Any id gcp_call, gcp_lro, gcp_list or gcp_logs_read returned: its
 * callback will not run. */
void gcp_cancel(struct gcp *g, uint64_t id);

/* A long-running operation: the call answers an Operation; it is polled
 * (POST <op name>:wait {"timeout": "<n>s"} where the service has it (run),
 * else GET <op name>) with back-off from 1 s doubling to 10 s, until done
 * or timeout_s. cb gets the operation's "response" (or the whole
 * operation when it has none) and, on failure, the operation's "error"
 * as a cloud_error (code = the google.rpc.Code name, "NOT_FOUND"; message
 * kept), or 504 DEADLINE_EXCEEDED past timeout_s. first (optional) is
 * called once with the first answer (the operation itself, whose
 * "metadata" a caller may need at once: RunJob's execution name); it
 * may be NULL. Returns a handle for gcp_lro_cancel (never 0). */
uint64_t gcp_lro(struct gcp *g, const char *svc, const char *op,
    const char *method, const char *path, const char *query, cJSON *body,
    int timeout_s, void (*first)(void *arg, const cJSON *operation), gcp_cb cb,
    void *arg);
void gcp_lro_cancel(struct gcp *g, uint64_t id);

/* A list call followed through nextPageToken (pageToken in the query of
 * a GET; in the body of a POST): cb gets {"<items>": [all items]} once,
 * after at most max_pages pages (0: 100). */
uint64_t gcp_list(struct gcp *g, const char *svc, const char *op,
    const char *method, const char *path, const char *query, cJSON *body,
    const char *items, int max_pages, gcp_cb cb, void *arg);
/* As gcp_list, and arg is the list's own: arg_free frees it after cb, or
 * without cb when the list is cancelled (gcp_cancel) or the client freed
 * with it in flight (a shutdown). cb must not free it. */
uint64_t gcp_list_owned(struct gcp *g, const char *svc, const char *op,
    const char *method, const char *path, const char *query, cJSON *body,
    const char *items, int max_pages, gcp_cb cb, void *arg,
    void (*arg_free)(void *));

/* --- conventions ---------------------------------------------------------- */

/* google.rpc.Status and RetryInfo: parse_error of the provider, exposed
 * for tests. retry_ms gets RetryInfo.retryDelay in ms (-1: none). */
void gcp_parse_status(
    const char *body, size_t len, struct cloud_error *ce, long *retry_ms);
/* "600s" <-> seconds ("1.5s" rounds up; -1 when malformed). */
void gcp_duration(char *out, size_t outsz, long long seconds);
long long gcp_duration_parse(const char *s);
/* RFC 3339 with nanoseconds ("2026-12-05T10:00:00.123456789Z") <-> ns
 * since the epoch (-1 when malformed). */
void gcp_time(char *out, size_t outsz, int64_t ns);
int64_t gcp_time_parse(const char *s);

/* Google's label rules: keys 1-63 of [a-z0-9_-], starting with a lower
 * case letter; values 0-63 of the same characters (international letters
 * are not produced). gcp_label_key maps anything else to '-', lowers the
 * case, prefixes "k" when needed and cuts at 63; -1 when nothing is left.
 * gcp_label_value likewise, without the prefix. */
int gcp_label_key(const char *in, char *out, size_t outsz);
void gcp_label_value(const char *in, char *out, size_t outsz);
/* Docker labels as Google labels (sanitised; collisions: the first wins),
 * at most max (64 is Google's limit; the rest logged). */
cJSON *gcp_labels_from_docker(const cJSON *labels, int max);

/* --- Cloud Logging reader (entries:list) ---------------------------------- */

struct gcp_log_entry {
	int64_t ts_ns;
	int stream;	       /* 1 stdout, 2 stderr (from the log name or
				* severity ERROR and up when the name says
				* neither) */
	const char *text;      /* textPayload, or jsonPayload.message, or
				* the JSON payload printed */
	size_t len;	       /* without a trailing newline */
	const char *insert_id; /* may be "" */
};

/* entries, in timestamp order, that the cursor had not yet seen; cursor
 * is where the next read continues (borrowed; copy it): it holds the last
 * timestamp and the insertIds seen at that timestamp, so that polling
 * with "timestamp >= last" never repeats an entry. more: another page is
 * waiting now. */
typedef void (*gcp_logs_cb)(void *arg, const struct gcp_log_entry *ev, size_t n,
    const char *cursor, int more, const struct cloud_error *ce);

/* POST logging v2/entries:list {"resourceNames": ["projects/<project>"],
 * "filter": "<filter> AND timestamp>=\"<cursor's time>\"", "orderBy":
 * "timestamp asc", "pageSize": page_size}; cursor NULL or "" starts at
 * the beginning (since_ns > 0: at since_ns). Stdout and stderr are
 * told apart by logName ".../logs/run.googleapis.com%2Fstdout" and
 * "...%2Fstderr". */
uint64_t gcp_logs_read(struct gcp *g, const char *project, const char *filter,
    const char *cursor, int64_t since_ns, int page_size, gcp_logs_cb cb,
    void *arg);
/* A string as a Logging filter literal: "..." with \ and " escaped. */
void gcp_logs_quote(const char *in, char *out, size_t outsz);

#endif
