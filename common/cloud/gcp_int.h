/* Internals of the GCP modules (gcp.c, gcp_err.c, gcp_lro.c, gcp_logs.c),
 * shared with their unit tests and fuzz harness. Not for other modules:
 * use sockerless/gcp.h. */
#ifndef SOCKERLESS_GCP_INT_H
#define SOCKERLESS_GCP_INT_H

#include <sys/queue.h>

#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "sockerless/cloud.h"
#include "sockerless/gcp.h"

struct httpcli_resp;

/* Ids of sequences (operations, lists) carry this bit so that one cancel
 * tells them from the core's call ids. */
#define GCP_SEQ_ID (UINT64_C(1) << 63)

struct gcp_seq;
TAILQ_HEAD(gcp_seqs, gcp_seq);

struct gcp_ep {
	char *svc;
	char *url;
};

struct gcp {
	struct event_base *base;
	struct gcp_auth *auth; /* borrowed; NULL: no Authorization */
	char *endpoint;	       /* one URL for every service, or NULL */
	struct gcp_ep *eps;
	size_t neps;
	struct cloud *core;
	struct gcp_seqs seqs; /* operations and lists in flight */
	uint64_t next_seq;
};

/* gcp.c */

/* One call with the core's callback; data is freed by data_free when the
 * call ends or is cancelled (gcp_call's and gcp_logs_read's state). */
uint64_t gcp_call_raw(struct gcp *g, const char *svc, const char *op,
    const char *method, const char *path, const char *query, cJSON *body,
    int attempts, cloud_cb cb, void *data, void (*data_free)(void *));

/* gcp_err.c */

extern const struct cloud_errmap gcp_errors[];
void gcp_cloud_parse_error(
    const struct httpcli_resp *resp, struct cloud_error *ce);
const char *gcp_request_id(const struct httpcli_resp *resp);
long gcp_retry_delay(const struct httpcli_resp *resp);
/* google.rpc.Code's name ("NOT_FOUND") for a number, NULL when unknown;
 * and the HTTP status Google gives it. */
const char *gcp_code_name(int code);
int gcp_code_http(int code);
/* An Operation's "error" (google.rpc.Status with a numeric code) as a
 * cloud_error. */
void gcp_status_to_cloud(const cJSON *status, struct cloud_error *ce);

/* gcp_lro.c */

/* Cancels a sequence (id has GCP_SEQ_ID); unknown ids are ignored. */
void gcp_seq_cancel(struct gcp *g, uint64_t id);
void gcp_seq_free_all(struct gcp *g);
/* Appends the items of one list page to acc's array (acc is
 * {"<items>": [...]}); *next is the page's nextPageToken (borrowed from
 * page), NULL on the last page. -1 when the page is malformed (ce says
 * why). */
int gcp_list_merge(cJSON *acc, const char *items, const cJSON *page,
    const char **next, struct cloud_error *ce);

/* gcp_logs.c */

/* The cursor's state. ids: insertIds seen at ts_ns (bounded). */
#define GCP_LOGS_MAX_IDS 1024
struct gcp_logs_cursor {
	int64_t ts_ns;	   /* last timestamp delivered (-1: none) */
	int64_t filter_ns; /* the timestamp of the filter a page token
			    * belongs to */
	char *page_token;  /* NULL: continue by timestamp */
	char **ids;
	size_t nids;
};

int gcp_logs_cursor_parse(const char *s, struct gcp_logs_cursor *c);
char *gcp_logs_cursor_print(const struct gcp_logs_cursor *c);
void gcp_logs_cursor_clear(struct gcp_logs_cursor *c);
/* Reads one entries:list answer against cursor c (updated): the new
 * entries in *ev (n of them; texts point into page or into *keep, to be
 * freed with free() each, nkeep of them). -1 when the page is malformed
 * (ce says why). */
int gcp_logs_page(const cJSON *page, struct gcp_logs_cursor *c,
    struct gcp_log_entry **ev, size_t *n, char ***keep, size_t *nkeep,
    struct cloud_error *ce);

#endif
