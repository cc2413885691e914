/* The kit's part of the function backends (gcf, azfunc): short-lived
 * Docker containers as HTTP runs on a pool of cloud functions, each
 * pointed at a derived image (the user's image with sockerless-agent as
 * its HTTP runtime, docs/agent.md). The pool (kit_pool.c) keeps the
 * functions, hands one to one run at a time, re-points it at another
 * image, deletes it after an idle time and finds it again after a
 * restart; the runs (kit_faas.c) derive the image, take a function,
 * POST the run and read the agent's envelope as the exit status and the
 * output. What differs between clouds are the steps the backend gives:
 * making, pointing, deleting and listing a function, and the request's
 * credentials. docs/writing-a-backend.md, "Function backends". */
#ifndef SOCKERLESS_KIT_FAAS_H
#define SOCKERLESS_KIT_FAAS_H

#include <stddef.h>
#include <stdint.h>

#include "sockerless/backend.h"
#include "sockerless/backend_kit.h"
#include "sockerless/err.h"

struct httpcli_req;
struct reg_layer;

/* The container's private state (the output is in KIT_OUTPUT). */
#define KIT_FAAS_P_IMAGE "Image" /* the derived image */
#define KIT_FAAS_P_RUN	 "Run"	 /* runs so far */
#define KIT_FAAS_P_SLOT	 "Slot"	 /* the function of the run in flight */

/* --- the pool ------------------------------------------------------------- */

struct kit_slot;
/* The slot, pointed at the image asked for, or e. */
typedef void (*kit_slot_cb)(void *arg, struct kit_slot *s, const struct err *e);
/* A deletion in flight, the kit's (freed by kit_pool_stop if its answer
 * never comes: a shutdown drops the calls in flight). */
struct kit_rm;
/* Its end: e NULL when the function is gone (or was). */
void kit_pool_removed(struct kit_rm *r, const struct err *e);

/* The cloud's steps, each ending with the kit_slot_* call it names. */
struct kit_pool_ops {
	/* Makes function kit_slot_name(s), running kit_slot_want_image(s)
	 * when the cloud can in the same step; then kit_slot_created. */
	void (*create)(struct kit_slot *s);
	/* Points the function at kit_slot_want_image(s) with the shape
	 * (kit_slot_want_mib, kit_slot_want_timeout); then kit_slot_pointed.
	 */
	void (*point)(struct kit_slot *s);
	/* Deletes function name and ends with kit_pool_removed(r, ...). */
	void (*remove)(struct kit_rm *r, const char *name);
	/* Lists this instance's functions: kit_pool_found for each, then
	 * kit_pool_listed. */
	void (*list)(void);
	/* Frees what the backend hung on a slot (kit_slot_set_data). */
	void (*data_free)(void *data);
};

/* The pool's keys, a configuration fragment of the FaaS backends
 * (pool_max, pool_idle, pool_wait with the backend's prefix: kit_conf.c)
 * filling this struct. */
struct kit_pool_limits {
	long long pool_max, pool_idle, pool_wait;
};
#define KIT_POOL_NKEYS 3
extern const struct config_key kit_pool_keys[KIT_POOL_NKEYS];

struct kit_pool_conf {
	const struct kit_pool_ops *ops;
	const char *what; /* one function, in sentences: "Cloud Run function" */
	const char *key;  /* the keys' prefix: "gcf" (gcf.pool_max) */
	const char *prefix; /* slot names: prefix + number ("sl-1a2b3c4d-") */
	long long pool_max, pool_idle, pool_wait;
	/* 1: a function has no shape of its own (memory and time limit are
	 * the plan's and the request's), so one pointed at the image serves
	 * any run of it, also one found again after a restart. */
	int image_only;
};

/* Copies conf (its strings too), lists the functions and starts the
 * idle sweep. */
void kit_pool_start(struct backend *b, const struct kit_pool_conf *conf);
void kit_pool_stop(void);
/* A free function for image (one already pointed at it first; else one
 * re-pointed; else a new one up to pool_max; else waits up to pool_wait
 * and answers 503). cb runs from the loop. */
void kit_pool_take(const char *image, long long mib, long long timeout_s,
    kit_slot_cb cb, void *arg);
/* Back to the pool; busy_for_s > 0 keeps it out of use that long (an
 * abandoned run may still occupy the instance). */
void kit_pool_give(struct kit_slot *s, long long busy_for_s);
/* Keeps function name (found now or later) out of use for seconds: a run
 * the previous process sent may still occupy it. */
void kit_pool_quiet(const char *name, long long seconds);

const char *kit_slot_name(const struct kit_slot *s);
const char *kit_slot_url(const struct kit_slot *s);
void *kit_slot_data(const struct kit_slot *s);
const char *kit_slot_want_image(const struct kit_slot *s);
long long kit_slot_want_mib(const struct kit_slot *s);
long long kit_slot_want_timeout(const struct kit_slot *s);
/* The URL runs are POSTed to; what the backend keeps with the slot
 * (freed by ops->data_free). */
void kit_slot_set_url(struct kit_slot *s, const char *url);
void kit_slot_set_data(struct kit_slot *s, void *data);
/* ops->create is over: e NULL and pointed 1 when the function already
 * runs the image asked for, 0 when it must be pointed next. A failed
 * create has its function deleted (it may exist). */
void kit_slot_created(struct kit_slot *s, int pointed, const struct err *e);
void kit_slot_pointed(struct kit_slot *s, const struct err *e);
/* A function found by ops->list: name (prefix + number; others are
 * skipped), its url and data (taken) when usable, else it is deleted.
 * image: what it runs when known (NULL: re-pointed at first use). */
void kit_pool_found(const char *name, int usable, const char *url,
    const char *image, void *data);
/* The listing is over (e: it failed; the functions are found again at
 * the next start). */
void kit_pool_listed(const struct err *e);
/* A slot name's number when name is prefix + 1..1000, else -1. Pure. */
int kit_pool_number_of(const char *prefix, const char *name);

/* --- the runs ------------------------------------------------------------- */

/* Where the runs' request credentials come from: token (optional) gets
 * a bearer token for the slot asynchronously (the call's id for
 * token_cancel; cb(arg, token, NULL) or cb(arg, NULL, e)); headers
 * (optional) adds the slot's own headers to the request. */
typedef void (*kit_faas_token_cb)(
    void *arg, const char *token, const struct err *e);

struct kit_faas {
	const char *be;	   /* "gcf": sentences name gcf.timeout */
	const char *what;  /* one function: "Cloud Run function" */
	const char *cloud; /* the service: "Cloud Run functions" */
	/* kit_fixed_sandbox's sentence: "Cloud Run runs every instance in a
	 * fixed sandbox" */
	const char *sandbox;
	/* Where a run's whole output is when the answer had to cut it:
	 * "Cloud Logging (resource.type=cloud_run_revision)" */
	const char *logs_where;
	const char *agent_in_image;		  /* "/sockerless/agent" */
	long long memory, min_memory, max_memory; /* MiB */
	long long timeout;			  /* s */
	const struct reg_layer *layer;
	const char *repository; /* "host/path" the derived images go to */
	uint64_t (*token)(struct kit_slot *s, kit_faas_token_cb cb, void *arg);
	void (*token_cancel)(uint64_t id);
	void (*headers)(struct kit_slot *s, struct httpcli_req *r);
};

/* The backend's description (borrowed for the process's life); its
 * container operations are then kit_faas_create ... (KIT_BACKEND(be, desc,
 * kit_faas, ...)). */
void kit_faas_init(const struct kit_faas *f);
KIT_CONTAINER_OPS_DECL(kit_faas);
/* Forgets the runs in flight (the backend's shutdown). */
void kit_faas_shutdown(struct backend *b);

/* Pure parts. The run's request (docs/agent.md, HTTP runtime): the merged
 * command line, environment, working directory and user of c. */
char *kit_faas_request(struct container *c, int run, long long timeout_s);
/* The agent's envelope in body as the exit code it returns and the output
 * it adds to l; an answer that is no envelope (or an exit code outside
 * 0-255) gives 125 and *why (malloc'd) says what came instead. Notes name
 * logs_where when the output was cut and the time limit (timeout_s,
 * <be>.timeout) when it ended the run. */
int kit_faas_decode(const char *body, size_t len, const char *be,
    const char *logs_where, long long timeout_s, struct kit_lines *l,
    char **why);

#endif
