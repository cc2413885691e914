/* Azure REST calls on the cloud call core (cloud.h): the ARM provider (an
 * Entra bearer token from azure_auth for the endpoint's scope before every
 * attempt, the ARM error envelope, Retry-After / retry-after-ms), JSON
 * calls with api-version, ARM's asynchronous operations, nextLink paging,
 * the Log Analytics query API and the Container Apps log stream.
 * docs/cloud.md; the wire notes in CLOUD-WIRE.md section 3. */
#ifndef SOCKERLESS_AZURE_H
#define SOCKERLESS_AZURE_H

#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>
#include <event2/event.h>

#include "sockerless/cloud.h"
#include "sockerless/err.h"

struct httpcli;
struct azure_auth;
struct azure;

struct azure_options {
	/* Borrowed; NULL sends no Authorization (tests' stand-in servers). */
	struct azure_auth *auth;
	/* NULL: https://management.azure.com */
	const char *endpoint_arm;
	/* NULL: https://api.loganalytics.io */
	const char *endpoint_logs;
};

struct azure *azure_new(struct event_base *base, struct httpcli *http,
    const struct azure_options *o, struct err *e);
void azure_free(struct azure *z);
/* "https://management.azure.com" or the override, without a trailing /. */
const char *azure_endpoint_arm(const struct azure *z);
const char *azure_endpoint_logs(const struct azure *z);
struct cloud *azure_cloud(struct azure *z);
const struct cloud_provider *azure_provider(void);

/* out is the JSON answer (borrowed; NULL on error or an empty body), ce
 * NULL on success. */
typedef void (*azure_cb)(
    void *arg, const cJSON *out, const struct cloud_error *ce);

/* One ARM call: method on <ARM endpoint><path> (path with its leading /,
 * "/subscriptions/s/resourceGroups/g/providers/Microsoft.App/jobs/j"),
 * ?api-version=<api_version> always added, query without ? (NULL: none;
 * "$filter=..." already encoded), body taken (NULL: none). op names the
 * call in the log line ("jobs.createOrUpdate"). attempts 0: the provider's
 * default (azure-core's: retries on 408, 429, 500, 502, 503, 504 honouring
 * Retry-After); 1 for calls that must not repeat. Returns a cloud_call id.
 * path may also be an absolute https URL (a nextLink, an operation URL):
 * then it is used verbatim and api_version may be NULL. */
uint64_t azure_call(struct azure *z, const char *op, const char *method,
    const char *path, const char *api_version, const char *query, cJSON *body,
    int attempts, azure_cb cb, void *arg);
/* As azure_call, and arg is the call's own: arg_free frees it once the
 * call is over, after cb, or without cb when the call is cancelled or the
 * client closed with it in flight (a shutdown). cb must not free it. */
uint64_t azure_call_owned(struct azure *z, const char *op, const char *method,
    const char *path, const char *api_version, const char *query, cJSON *body,
    int attempts, azure_cb cb, void *arg, void (*arg_free)(void *));
/* Blocking, for start-up only. *out owned by the caller. */
int azure_call_sync(struct azure *z, const char *op, const char *method,
    const char *path, const char *api_version, const char *query, cJSON *body,
    cJSON **out, struct err *e);
/* Any id azure_call, azure_lro, azure_list, azure_la_query,
 * azure_logs_read or azure_logstream returned: its callback will not run
 * (a log stream is closed). */
void azure_cancel(struct azure *z, uint64_t id);

/* An ARM long-running operation (PUT, PATCH, DELETE, POST .../start,
 * .../stop): the first answer is 200/201/202/204; when it carries
 * Azure-AsyncOperation that URL is polled until status is terminal
 * (Succeeded, Failed, Canceled, case-insensitive), else Location until it
 * answers 200/204, else (200/201 with a provisioningState) the resource
 * is re-read until the state is terminal; Retry-After between polls
 * (default 2 s, capped at 30 s). cb gets the final body: for
 * Azure-AsyncOperation the resource re-read by GET <path> when
 * final_get is set (a PUT), else the operation status's "properties" or
 * the Location answer; NULL for 204. Failure: the operation's "error"
 * as a cloud_error (code kept, "Failed"/"Canceled" when none), or 504
 * "OperationTimedOut" past timeout_s. first (optional) gets the first
 * answer's body at once (a start's execution name). */
uint64_t azure_lro(struct azure *z, const char *op, const char *method,
    const char *path, const char *api_version, cJSON *body, int final_get,
    int timeout_s, void (*first)(void *arg, const cJSON *answer), azure_cb cb,
    void *arg);

/* A GET list followed through nextLink (verbatim): cb gets {"value":
 * [all items]} once, after at most max_pages pages (0: 100). */
uint64_t azure_list(struct azure *z, const char *op, const char *path,
    const char *api_version, const char *query, int max_pages, azure_cb cb,
    void *arg);
/* As azure_list, and arg is the list's own: arg_free frees it after cb,
 * or without cb when the list is cancelled (azure_cancel) or the client
 * freed with it in flight (a shutdown). cb must not free it. */
uint64_t azure_list_owned(struct azure *z, const char *op, const char *path,
    const char *api_version, const char *query, int max_pages, azure_cb cb,
    void *arg, void (*arg_free)(void *));

/* --- conventions ---------------------------------------------------------- */

/* The ARM error envelope {"error": {"code", "message", "details"}} (and
 * the OData / Log Analytics forms): the provider's parse_error, exposed
 * for tests. The first detail's message is appended when the top one is
 * generic. */
void azure_parse_error(const char *body, size_t len, struct cloud_error *ce);
/* Retry-After (seconds or an HTTP date), retry-after-ms and
 * x-ms-retry-after-ms, in ms; -1 when none. */
long azure_retry_after_ms(const struct httpcli_resp *resp);
/* Azure tag rules: keys up to 512 characters without < > % & \ ? /,
 * values up to 256; at most 50 tags. Docker labels as tags (keys with a
 * forbidden character are mapped to '_'; the rest logged when over). */
cJSON *azure_tags_from_docker(const cJSON *labels, int max);
/* ISO 8601 / RFC 3339 time ("2026-12-05T10:00:00.1234567Z", 7 fraction
 * digits as ARM and Log Analytics send) <-> ns since the epoch; -1 when
 * malformed. */
int64_t azure_time_parse(const char *s);
void azure_time(char *out, size_t outsz, int64_t ns);

/* --- Log Analytics query API -----------------------------------------------
 */

/* POST <logs endpoint>/v1/workspaces/<workspace>/query {"query": kql,
 * "timespan": timespan (NULL: none)} with a token for AZURE_SCOPE_LOGS.
 * cb gets the answer's first table as {"columns": [...], "rows": [...]};
 * a partial error (200 with "error") is a failure with the error's
 * message. */
uint64_t azure_la_query(struct azure *z, const char *workspace, const char *kql,
    const char *timespan, azure_cb cb, void *arg);
/* A string as a KQL string literal: '...' with \ and ' escaped. */
void azure_kql_quote(const char *in, char *out, size_t outsz);

/* --- Container Apps console logs -------------------------------------------
 */

struct azure_log_entry {
	int64_t ts_ns;
	int stream;	  /* 1 stdout, 2 stderr */
	const char *text; /* the line */
	size_t len;	  /* without a trailing newline */
};

/* entries the cursor had not yet seen, in time order; cursor is where the
 * next read continues (borrowed; copy it): the last TimeGenerated and a
 * digest of the lines seen at it, so that polling with ">= last" never
 * repeats a line. more: another batch is waiting now. */
typedef void (*azure_logs_cb)(void *arg, const struct azure_log_entry *ev,
    size_t n, const char *cursor, int more, const struct cloud_error *ce);

/* The console lines of one job execution from Log Analytics: both the
 * classic table (ContainerAppConsoleLogs_CL: ContainerJobName_s,
 * ContainerGroupName_s, Stream_s, Log_s) and the newer one
 * (ContainerAppConsoleLogs), in one union query; container names the
 * replica's container ("main"; NULL: all). cursor NULL or "" starts at
 * since_ns (0: the beginning). */
uint64_t azure_logs_read(struct azure *z, const char *workspace,
    const char *job, const char *execution, const char *container,
    const char *cursor, int64_t since_ns, azure_logs_cb cb, void *arg);

/* The live log stream of one job execution's container: GET
 * <stream_url>?follow=true&tailLines=<tail>&output=json with Authorization
 * Bearer <token> (the job's eventStreamEndpoint and a getAuthToken token:
 * the caller builds both); each JSON line {"TimeStamp", "Log", "Stream"?}
 * becomes one entry as it arrives (cursor NULL, more 0). The stream ends
 * with ce NULL and n 0 when the server closes it; azure_cancel closes it. */
uint64_t azure_logstream(struct azure *z, const char *stream_url,
    const char *token, int tail, azure_logs_cb cb, void *arg);

#endif
