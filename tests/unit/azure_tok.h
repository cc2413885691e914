/* A test double of azure_auth's two token calls that the Azure client's
 * authorize hook makes (azure.c): the token names its scope, so a test
 * sees which scope each request was authorized for. Defined in the test
 * itself, the archive's azure_auth.o is never pulled into these binaries;
 * tests that need the whole of azure_auth (t_azure_backend.c) have their
 * own. azure_auth_forget counts and keeps the scope it was given.
 * t_azure_tok_fail makes the next fetch fail (the cache is empty
 * while t_azure_tok_cold is set). */
#ifndef T_AZURE_TOK_H
#define T_AZURE_TOK_H

#include <stdio.h>
#include <string.h>

#include "sockerless/azure_auth.h"
#include "sockerless/err.h"
#include "sockerless/xmalloc.h"

static int t_azure_tok_cold, t_azure_tok_fail, t_azure_tok_fetches;
static int t_azure_tok_forgets;
static char t_azure_tok_buf[256], t_azure_tok_forgot[256];

void
azure_auth_forget(struct azure_auth *a, const char *scope)
{
	(void)a;
	t_azure_tok_forgets++;
	snprintf(t_azure_tok_forgot, sizeof(t_azure_tok_forgot), "%s", scope);
}

const char *
azure_auth_token_cached(struct azure_auth *a, const char *scope)
{
	(void)a;
	if (t_azure_tok_cold)
		return NULL;
	snprintf(t_azure_tok_buf, sizeof(t_azure_tok_buf), "tok:%s", scope);
	return t_azure_tok_buf;
}

int
azure_auth_token_sync(
    struct azure_auth *a, const char *scope, char **token, struct err *e)
{
	(void)a;
	t_azure_tok_fetches++;
	if (t_azure_tok_fail) {
		err_set(e, 500,
		    "getting an Azure token for %s from a test double: "
		    "AADSTS7000215: Invalid client secret provided.",
		    scope);
		return -1;
	}
	*token = xasprintf("fetched:%s", scope);
	return 0;
}

#endif
