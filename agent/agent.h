/* sockerless-agent: the private header, one section per file. */
#ifndef AGENT_AGENT_H
#define AGENT_AGENT_H

#include <stddef.h>

/* Keep in step with BACKEND_VERSION (common/include/sockerless/backend.h);
 * the agent is built without common/ (static musl, libc only). */
#define AGENT_VERSION "0.1.0"

/* Exit status for bad usage, as docker run uses for its own errors. */
#define AGENT_EXIT_USAGE 125

/* agent.c */
/* Allocation failure aborts: the agent has no useful way to go on. */
void *xmalloc(size_t n);
void *xrealloc(void *p, size_t n);

/* b64.c */
/* Encoded length of n bytes with padding (no NUL). */
size_t b64_len(size_t n);
/* Writes b64_len(n) bytes to out (no NUL); returns that length. */
size_t b64_encode(const unsigned char *in, size_t n, char *out);

/* json.c */
/*
 * Finds the top-level member key of the JSON object in buf[0..len) and, if
 * its value is a string, copies it decoded into out (NUL-terminated).
 * Returns 0, or -1 when buf is not an object, the member is missing or not
 * a string, or it does not fit in outsz.
 */
int json_get_string(
    const char *buf, size_t len, const char *key, char *out, size_t outsz);

/* lambda.c */
/* Serves Lambda invocations with argv until SIGTERM; never returns. */
void lambda_main(const char *api, char *const argv[]) __attribute__((noreturn));

#endif
