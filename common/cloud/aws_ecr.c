/* Registry credentials for Amazon ECR: GetAuthorizationToken gives a
 * base64 "AWS:<password>" valid for 12 hours; it is cached per registry
 * host and reused until an hour before it expires. */
#include <regex.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "sockerless/aws.h"
#include "sockerless/json.h"
#include "sockerless/log.h"
#include "sockerless/reg.h"
#include "sockerless/str.h"
#include "sockerless/xmalloc.h"

struct ecr_cache {
	char *host, *user, *secret;
	int64_t expires_ns;
	struct ecr_cache *next;
};

static struct ecr_cache *ecr_cache;

/* A token fetch, owned by its call (aws_json_call_owned): freed after
 * the callback, or without it when the client is freed with the call in
 * flight. */
struct ecr_op {
	char *host;
	reg_creds_done done;
	void *done_arg;
};

static void
ecr_op_free(void *arg)
{
	struct ecr_op *op = arg;

	free(op->host);
	free(op);
}

/* "123456789012.dkr.ecr.us-east-1.amazonaws.com" (and .com.cn). */
static int
ecr_host(const char *host)
{
	static regex_t re;
	static int compiled;

	if (!compiled) {
		if (regcomp(&re,
			"^[0-9]{12}\\.dkr\\.ecr(-fips)?\\.[a-z0-9-]+\\."
			"amazonaws\\.com(\\.cn)?$",
			REG_EXTENDED | REG_NOSUB) != 0)
			return 0;
		compiled = 1;
	}
	return regexec(&re, host, 0, NULL, 0) == 0;
}

static void
ecr_got(void *arg, const cJSON *out, const struct aws_error *ae)
{
	struct ecr_op *op = arg;
	const cJSON *d =
	    cJSON_GetArrayItem(json_arr(out, "authorizationData"), 0);
	const char *tok = json_str(d, "authorizationToken");
	unsigned char *raw = NULL;
	char *colon;
	struct ecr_cache *ce;
	struct err e;
	int n;

	if (ae != NULL) {
		aws_error_to_err(ae, &e);
		err_wrap(&e, "ECR GetAuthorizationToken for %s", op->host);
		op->done(op->done_arg, NULL, NULL, &e);
		goto out;
	}
	if (tok == NULL) {
		err_set(&e, 502, "ECR returned no authorization token for %s",
		    op->host);
		op->done(op->done_arg, NULL, NULL, &e);
		goto out;
	}
	raw = xmalloc(strlen(tok) + 1);
	n = EVP_DecodeBlock(raw, (const unsigned char *)tok, (int)strlen(tok));
	if (n < 0 ||
	    (raw[n] = '\0', (colon = strchr((char *)raw, ':')) == NULL)) {
		err_set(
		    &e, 502, "ECR returned a malformed token for %s", op->host);
		op->done(op->done_arg, NULL, NULL, &e);
		goto out;
	}
	*colon = '\0';
	ce = xcalloc(1, sizeof(*ce));
	ce->host = xstrdup(op->host);
	ce->user = xstrdup((char *)raw);
	ce->secret = xstrdup(colon + 1);
	/* The token lives 12 h; reuse it for 11. */
	ce->expires_ns = str_now_ns() + 11LL * 3600 * 1000000000;
	ce->next = ecr_cache;
	ecr_cache = ce;
	op->done(op->done_arg, ce->user, ce->secret, NULL);
out:
	free(raw);
}

int
aws_ecr_creds_hook(
    void *arg, const char *host, reg_creds_done done, void *done_arg)
{
	struct aws *a = arg;
	struct ecr_cache *ce;
	struct ecr_op *op;
	cJSON *in;
	char acct[13];

	if (!ecr_host(host))
		return -1;
	for (ce = ecr_cache; ce != NULL; ce = ce->next)
		if (strcmp(ce->host, host) == 0 &&
		    ce->expires_ns > str_now_ns()) {
			done(done_arg, ce->user, ce->secret, NULL);
			return 0;
		}
	op = xcalloc(1, sizeof(*op));
	op->host = xstrdup(host);
	op->done = done;
	op->done_arg = done_arg;
	str_lcpy(acct, host, sizeof(acct));
	in = cJSON_CreateObject();
	cJSON_AddItemToObject(in, "registryIds",
	    cJSON_CreateStringArray((const char *[]){ acct }, 1));
	aws_json_call_owned(
	    a, "ecr", "GetAuthorizationToken", in, ecr_got, op, ecr_op_free);
	return 0;
}
