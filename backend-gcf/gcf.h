/* sockerless-backend-gcf: short-lived Docker containers on Cloud Run
 * functions (the Cloud Functions v2 API). Functions build only from
 * source, so the backend keeps a small pool of stub functions, each built
 * once, and points their Cloud Run services at derived images: the
 * user's image plus sockerless-agent as an HTTP runtime. A start takes a
 * function of the pool and POSTs the run (command, env, working
 * directory) to its URL with an ID token; the answer is the agent's
 * envelope. docs/backend-gcf.md has the design. */
#ifndef SOCKERLESS_GCF_H
#define SOCKERLESS_GCF_H

#include "sockerless/backend.h"
#include "sockerless/backend_kit.h"
#include "sockerless/gcp_backend.h"
#include "sockerless/reg.h"
#include "sockerless/str.h"

/* The container's private state; the output is in KIT_OUTPUT. */
#define GCF_P_IMAGE "Image" /* the derived image */
#define GCF_P_RUN   "Run"   /* runs so far */
#define GCF_P_SLOT  "Slot"  /* the function of the run in flight */
/* Where derived images hold the agent. */
#define GCF_AGENT_PATH "/sockerless/agent"
/* Labels on the pool's functions. */
#define GCF_LABEL_INSTANCE "sockerless-instance"
#define GCF_LABEL_POOL	   "sockerless-pool"
/* Cloud Run functions' limits (HTTP functions). */
#define GCF_MAX_TIMEOUT 3600
#define GCF_MIN_MEMORY	128
#define GCF_MAX_MEMORY	32768

struct gcf_conf {
	long long pool_max;
	long long pool_idle;
	long long pool_wait;
	char *repository; /* Artifact Registry repository id */
	char *agent_path;
	char *runtime;
	char *service_account;
	long long memory;
	long long timeout;
	long long deploy_timeout;
};

struct gcf {
	struct backend *b;
	struct gcp_backend gb;
	char *repository_host; /* "<region>-docker.pkg.dev/<project>/<repo>" */
	struct reg_layer layer;
	int have_layer;
	char *prefix; /* "sl-<8 of the instance>-" */
};

/* gcf.c */
extern struct gcf_conf gcf_conf;
extern struct gcf gcf;

/* gcf_fn.c */
KIT_CONTAINER_OPS_DECL(gcf_fn);
void gcf_fn_shutdown(struct backend *b);
/* The envelope of a run (docs/agent.md) as the exit code and the output
 * kept in c's state; a body that is no envelope is noted and gives 125. */
int gcf_fn_envelope(struct backend *b, struct container *c, const char *body,
    size_t len, char **why);

/* gcf_out.c */
/* The envelope in body as the exit code it returns and the output it
 * adds to l; an answer that is no envelope (or an exit code outside
 * 0-255) gives 125 and *why (malloc'd) says what came instead. */
int gcf_out_decode(
    const char *body, size_t len, struct kit_lines *l, char **why);

/* gcf_pool.c: the pool of stub functions. */
struct gcf_slot;
/* The slot, pointed at image with shape (memory MiB, timeout s), or e. */
typedef void (*gcf_slot_cb)(void *arg, struct gcf_slot *s, const struct err *e);
/* A free function for image (one already pointed at it first; else one
 * re-pointed; else a new one up to pool_max; else waits up to pool_wait
 * and answers 503). cb runs from the loop. */
void gcf_pool_take(const char *image, long long mib, long long timeout_s,
    gcf_slot_cb cb, void *arg);
/* Back to the pool; busy_for_s > 0 keeps it out of use that long (an
 * abandoned run may still occupy the instance). */
void gcf_pool_give(struct gcf_slot *s, long long busy_for_s);
const char *gcf_slot_url(const struct gcf_slot *s);
const char *gcf_slot_name(const struct gcf_slot *s); /* function id */
/* Keeps function name (found now or later) out of use for seconds: a run
 * the previous process sent may still occupy it. */
void gcf_pool_quiet(const char *name, long long seconds);
/* Finds the pool's functions again (functions.list by label) and starts
 * the idle sweep. */
void gcf_pool_start(struct backend *b);
void gcf_pool_stop(void);

/* gcf_rec.c: after a restart, the runs in flight end with the exit status
 * and output their agent's marker lines left in Cloud Logging. */
void gcf_rec_start(struct backend *b);
void gcf_rec_stop(void);

/* gcf_zip.c: the stub's source as a zip (stored entries). */
/* malloc'd zip of the n files (names[i], data[i]); its length in *len. */
char *gcf_zip(
    const char *const *names, const char *const *data, size_t n, size_t *len);

#endif
