/* Internals of the Azure client shared by its modules (azure.c,
 * azure_err.c, azure_lro.c, azure_logs.c) and their unit tests. Not for
 * other modules: use sockerless/azure.h. */
#ifndef SOCKERLESS_AZURE_INT_H
#define SOCKERLESS_AZURE_INT_H

#include <sys/queue.h>

#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>
#include <event2/event.h>

#include "sockerless/azure.h"
#include "sockerless/cloud.h"

struct httpcli;
struct httpcli_req;

/* Ids of sequences (operations, lists: azure_lro.c) carry this bit, ids
 * of azure_logs.c's own work (log streams, reads of several steps) carry
 * AZURE_LOGS_ID, so that one azure_cancel tells them from the core's call
 * ids (which carry neither). */
#define AZURE_SEQ_ID  (UINT64_C(1) << 63)
#define AZURE_LOGS_ID (UINT64_C(1) << 62)

struct azure_seq;
TAILQ_HEAD(azure_seqs, azure_seq);

struct azure {
	struct event_base *base;
	struct httpcli *http;
	struct azure_auth *auth; /* borrowed; NULL: no Authorization */
	char *ep_arm;		 /* without a trailing / */
	char *ep_logs;		 /* without a trailing / */
	struct cloud *core;
	struct azure_seqs seqs; /* operations and lists in flight */
	uint64_t next_seq;
	/* azure_logs.c's state, and its hooks: azure_cancel hands it the
	 * ids with AZURE_LOGS_ID, azure_free calls logs_free before anything
	 * else is freed. NULL until azure_logs.c sets them. */
	void *logs;
	void (*logs_cancel)(struct azure *z, uint64_t id);
	void (*logs_free)(struct azure *z);
};

/* A request for an absolute url: Accept application/json, and body
 * (taken; NULL: none) serialised with Content-Type application/json. */
struct httpcli_req *azure_req_new(
    const char *method, const char *url, cJSON *body);

/* Sends req (taken) on the core, authorized before every attempt with a
 * token for scope (AZURE_SCOPE_ARM, AZURE_SCOPE_LOGS; copied; NULL: ARM's)
 * unless z has no auth. op names the call in the log line; attempts and
 * raw as in cloud_call_spec. cb gets arg; arg_free (may be NULL) frees
 * arg when the call has ended or is cancelled. A 2xx with an empty body
 * reaches cb as the core's empty object. Returns the core's call id (for
 * azure_cancel / cloud_cancel). */
uint64_t azure_call_req(struct azure *z, const char *scope, const char *op,
    struct httpcli_req *req, int attempts, int raw, cloud_cb cb, void *arg,
    void (*arg_free)(void *));

#endif
