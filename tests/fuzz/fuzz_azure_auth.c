/* What Azure's side hands azure_auth (common/cloud/azure_auth*.c): Entra
 * ID's token answers, the managed identity endpoints' answers, error
 * bodies of every shape, client certificate files (PEM or PKCS#12) and
 * federated token files. The first byte picks the parser (and a status,
 * a credential type, a password); the rest is the document, and for
 * the text parsers after a NUL a second string (a scope). */
#include <sys/mman.h>

#include <stdio.h>

#include "../../common/cloud/azure_auth_int.h"
#include "../../common/cloud/cloud_cred.h"
#include "fuzz.h"
#include "sockerless/httpcli.h"
#include "sockerless/json.h"
#include "sockerless/log.h"
#include "sockerless/str.h"

static const int fuzz_az_status[] = { 0, 200, 400, 401, 403, 404, 410, 429, 500,
	503 };
static const enum azure_cred_type fuzz_az_types[] = { AZURE_CRED_SECRET,
	AZURE_CRED_CERT, AZURE_CRED_FEDERATED, AZURE_CRED_APP_SERVICE,
	AZURE_CRED_IMDS };
static int fuzz_az_fd = -1;
static char fuzz_az_path[64];

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	log_init("fuzz_azure_auth", LOG_LVL_WARN);
	json_init();
	fuzz_az_fd = memfd_create("fuzz_azure_auth", 0);
	snprintf(
	    fuzz_az_path, sizeof(fuzz_az_path), "/proc/self/fd/%d", fuzz_az_fd);
	return 0;
}

static void
fuzz_az_cred(struct azure_cred *c, int sel, enum azure_cred_type type)
{
	static char tenant[] = "t", client[] = "c", auth[] = "http://h",
		    secret[] = "s", ep[] = "http://h/msi/token", hdr[] = "x";

	memset(c, 0, sizeof(*c));
	strv_init(&c->x5c);
	c->type = type;
	c->tenant = tenant;
	/* only a managed identity may lack a client id (system-assigned):
	 * azure_auth_cred_find refuses the others without one */
	c->client_id =
	    (sel & 0x80) && c->type >= AZURE_CRED_APP_SERVICE ? NULL : client;
	c->authority = auth;
	c->secret = secret;
	c->endpoint = ep;
	c->identity_header = hdr;
	c->path = fuzz_az_path;
}

/* A failed or successful answer through azure_auth_flow_resp. */
static void
fuzz_az_resp(int sel, const char *body)
{
	struct azure_cred c;
	struct httpcli_resp r;
	struct azure_tok t = { 0 };
	struct err e;

	fuzz_az_cred(&c, sel, fuzz_az_types[(sel >> 4) % 5]);
	memset(&r, 0, sizeof(r));
	r.status = fuzz_az_status[(size_t)(sel >> 3) %
	    (sizeof(fuzz_az_status) / sizeof(fuzz_az_status[0]))];
	r.body = (char *)body;
	r.body_len = strlen(body);
	snprintf(r.error, sizeof(r.error), "refused");
	azure_auth_flow_resp(&c, "fuzz", &r, &t, &e);
	azure_auth_flow_tok_clear(&t);
	strv_free(&c.x5c);
}

/* A certificate file: the exact bytes, with or without a password. */
static void
fuzz_az_cert(int sel, const uint8_t *data, size_t size)
{
	struct azure_cred c;
	struct err e;
	char *copy = malloc(size + 1);

	if (copy == NULL)
		abort();
	memcpy(copy, data, size);
	copy[size] = '\0';
	memset(&c, 0, sizeof(c));
	strv_init(&c.x5c);
	azure_auth_cred_cert_load(
	    &c, copy, size, (sel & 0x10) ? "pw" : NULL, "fuzz.pem", &e);
	azure_auth_cred_clear(&c);
	free(copy);
}

/* A federated token file read as a refresh reads it, and the request. */
static void
fuzz_az_federated(int sel, const char *text, const char *scope)
{
	struct azure_cred c;
	struct httpcli_req *r;
	struct err e;
	char *what = NULL;

	if (ftruncate(fuzz_az_fd, 0) == -1 ||
	    pwrite(fuzz_az_fd, text, strlen(text), 0) < 0)
		return;
	fuzz_az_cred(
	    &c, sel, (sel & 0x10) ? AZURE_CRED_FEDERATED : AZURE_CRED_IMDS);
	r = azure_auth_flow_req(&c, scope, &what, &e);
	httpcli_req_free(r);
	free(what);
	strv_free(&c.x5c);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct azure_tok t = { 0 };
	struct err e;
	const char *a, *b;
	char *buf, *s;
	int sel;

	if (size == 0)
		return 0;
	sel = data[0];
	if ((sel & 7) == 3) {
		fuzz_az_cert(sel, data + 1, size - 1);
		return 0;
	}
	fuzz_split(data + 1, size - 1, &buf, &a, &b);
	switch (sel & 7) {
	case 0:
		azure_auth_flow_parse_entra(a, strlen(a), &t, &e);
		break;
	case 1:
		azure_auth_flow_parse_mi(a, strlen(a), &t, &e);
		break;
	case 2:
		fuzz_az_resp(sel, a);
		break;
	case 4:
		fuzz_az_federated(sel, a, b);
		break;
	default:
		s = cloud_cred_b64url(data, size);
		free(s);
		break;
	}
	azure_auth_flow_tok_clear(&t);
	free(buf);
	return 0;
}
