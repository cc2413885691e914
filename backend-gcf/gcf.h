/* sockerless-backend-gcf: short-lived Docker containers on Cloud Run
 * functions (the Cloud Functions v2 API). Functions build only from
 * source, so the backend keeps a small pool of stub functions, each built
 * once, and points their Cloud Run services at derived images: the
 * user's image plus sockerless-agent as an HTTP runtime. A start takes a
 * function of the pool and POSTs the run (command, env, working
 * directory) to its URL with an ID token; the answer is the agent's
 * envelope. The pool and the runs are the kit's (kit_faas.h); this
 * directory holds Google's steps. docs/backend-gcf.md has the design. */
#ifndef SOCKERLESS_GCF_H
#define SOCKERLESS_GCF_H

#include "sockerless/backend.h"
#include "sockerless/backend_kit.h"
#include "sockerless/gcp_backend.h"
#include "sockerless/kit_faas.h"
#include "sockerless/reg.h"
#include "sockerless/str.h"

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
	struct kit_pool_limits pool; /* the kit's pool keys */
	char *repository;	     /* Artifact Registry repository id */
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

/* gcf_pool.c: the cloud's steps of the kit's pool (kit_faas.h). */
/* Finds the pool's functions again (functions.list by label) and starts
 * the kit's pool. */
void gcf_pool_start(struct backend *b);
/* The kit's runs with gcf's names, limits and ID tokens (once the
 * configuration and the agent layer are there). */
void gcf_faas_init(void);

/* gcf_rec.c: after a restart, the runs in flight end with the exit status
 * and output their agent's marker lines left in Cloud Logging. */
void gcf_rec_start(struct backend *b);
void gcf_rec_stop(void);

/* gcf_zip.c: the stub's source as a zip (stored entries). */
/* malloc'd zip of the n files (names[i], data[i]); its length in *len. */
char *gcf_zip(
    const char *const *names, const char *const *data, size_t n, size_t *len);

#endif
