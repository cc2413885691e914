/* Internals of the ARM half of the Azure client (azure.c, azure_err.c,
 * azure_lro.c), shared with their unit tests and fuzz harness. Not for
 * other modules: use sockerless/azure.h (azure_int.h is what
 * azure_logs.c uses). */
#ifndef SOCKERLESS_AZURE_ARM_INT_H
#define SOCKERLESS_AZURE_ARM_INT_H

#include <stdint.h>

#include <cjson/cJSON.h>

#include "sockerless/cloud.h"

struct azure;
struct httpcli_resp;

/* azure.c */

/* Whether path is an absolute http(s) URL (used verbatim). */
int azure_url_absolute(const char *path);
/* <ARM endpoint><path>?api-version=<v>[&<query>], or path itself when it
 * is absolute. */
char *azure_url(const struct azure *z, const char *path,
    const char *api_version, const char *query);

/* azure_err.c */

extern const struct cloud_errmap azure_errors[];
void azure_cloud_parse_error(
    const struct httpcli_resp *resp, struct cloud_error *ce);
/* "<x-ms-request-id> correlation <x-ms-correlation-request-id>" (either
 * part alone when the other is missing), or NULL; valid until the next
 * call. */
const char *azure_request_id(const struct httpcli_resp *resp);
/* azure_retry_after_ms capped at a minute, for the core's retries. */
long azure_retry_delay(const struct httpcli_resp *resp);
/* An ARM error object {"code", "message", "details"} (an operation's
 * "error") as a cloud_error with http_status status; deflt is the code
 * when the object names none. */
void azure_error_to_cloud(
    const cJSON *error, int status, const char *deflt, struct cloud_error *ce);

/* azure_lro.c */

/* An operation status body (Azure-AsyncOperation, or a resource with
 * properties.provisioningState when resource is set): 1 succeeded, 0
 * still running, -1 failed or canceled (ce says why, code kept) or
 * malformed (ce says so). */
int azure_op_status(const cJSON *body, int resource, struct cloud_error *ce);
/* Appends the items of one list page to acc's "value" array; *next is the
 * page's nextLink (borrowed from page), NULL on the last page. -1 when
 * the page is malformed (ce says why). */
int azure_list_merge(
    cJSON *acc, const cJSON *page, const char **next, struct cloud_error *ce);
/* Cancels a sequence (id has AZURE_SEQ_ID); unknown ids are ignored. */
void azure_seq_cancel(struct azure *z, uint64_t id);
void azure_seq_free_all(struct azure *z);

#endif
