/* What Google's side hands gcp_auth (common/cloud/gcp_auth*.c): credential
 * files (service_account, authorized_user, external_account), the token
 * endpoint's, STS's and iamcredentials' answers, the metadata server's
 * answers, credential-source documents and ID tokens. The first byte picks
 * the parser (and a status); the rest is the document, and after a NUL a
 * second string (a field name, a header value). */
#include "../../common/cloud/cloud_cred.h"
#include "../../common/cloud/gcp_auth_int.h"
#include "fuzz.h"
#include "sockerless/httpcli.h"
#include "sockerless/str.h"

static const int fuzz_gcp_status[] = { 0, 200, 400, 401, 403, 404, 429, 500,
	503 };

static void
fuzz_gcp_resp(struct httpcli_resp *r, int sel, const char *body, size_t len,
    const char *flavor)
{
	memset(r, 0, sizeof(*r));
	r->status = fuzz_gcp_status[(sel & 15) %
	    (sizeof(fuzz_gcp_status) / sizeof(fuzz_gcp_status[0]))];
	r->body = (char *)body;
	r->body_len = len;
	strv_init(&r->headers);
	if (*flavor != '\0') {
		char *h = malloc(strlen(flavor) + 20);

		sprintf(h, "Metadata-Flavor: %s", flavor);
		strv_take(&r->headers, h);
	}
	snprintf(r->error, sizeof(r->error), "refused");
}

/* One step of a fetch fed the answer: the metadata server's or a
 * workload identity federation's. */
static void
fuzz_gcp_flow(int sel, const char *body, const char *b)
{
	static const struct gcp_auth_conf conf = { 0 };
	static char host[] = "127.0.0.1:9", url[] = "http://127.0.0.1:9/s";
	static char imp[] = "https://iamcredentials.googleapis.com/v1/projects/"
			    "-/serviceAccounts/a@b:generateAccessToken";
	struct gcp_cred c;
	struct gcp_flow f;
	struct httpcli_resp r;
	struct gcp_tok t = { 0 };
	struct err e;

	memset(&c, 0, sizeof(c));
	strv_init(&c.src_headers);
	if (sel & 0x40) {
		c.type = GCP_CRED_METADATA;
		c.md_host = host;
	} else {
		c.type = GCP_CRED_EXTERNAL;
		c.src_url = url;
		c.src_field = *b != '\0' ? (char *)b : NULL;
		c.imp_url = imp;
	}
	gcp_auth_flow_init(
	    &f, &c, &conf, (sel & 0x20) ? "https://x.run.app" : NULL);
	f.step = (sel >> 2) % 3;
	f.what = strdup("fuzz");
	if (c.type == GCP_CRED_EXTERNAL && f.step == 2)
		f.sts_token = strdup("sts");
	fuzz_gcp_resp(&r, (sel & 0x80) ? sel >> 4 : 1, body, strlen(body), b);
	gcp_auth_flow_resp(&f, &r, &t, &e);
	strv_free(&r.headers);
	gcp_auth_flow_tok_clear(&t);
	gcp_auth_flow_clear(&f);
	strv_free(&c.src_headers);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct gcp_cred c;
	struct gcp_tok t = { 0 };
	struct httpcli_resp r;
	struct err e;
	const char *a, *b;
	char *buf, *s;
	int64_t exp;
	int sel;

	if (size == 0)
		return 0;
	sel = data[0];
	fuzz_split(data + 1, size - 1, &buf, &a, &b);
	switch (sel & 15) {
	case 0:
		if (gcp_auth_cred_parse(&c, a, strlen(a), "fuzz.json", &e) == 0)
			gcp_auth_cred_clear(&c);
		break;
	case 1:
	case 2:
		gcp_auth_flow_parse_oauth(
		    a, strlen(a), sel & 1 ? 0 : 1, &t, &e);
		break;
	case 3:
	case 4:
		gcp_auth_flow_parse_iam(a, strlen(a), sel & 1 ? 0 : 1, &t, &e);
		break;
	case 5:
		memset(&c, 0, sizeof(c));
		c.src_field = *b != '\0' ? (char *)b : NULL;
		free(gcp_auth_flow_subject(&c, a, strlen(a), &e));
		break;
	case 6:
		fuzz_gcp_resp(&r, sel >> 4, a, strlen(a), "");
		gcp_auth_flow_answer_err(&r, "fuzz", &e);
		strv_free(&r.headers);
		break;
	case 7:
		gcp_auth_cred_jwt_exp(a, &exp, &e);
		break;
	case 8:
		s = cloud_cred_b64url(data, size);
		free(s);
		break;
	default:
		fuzz_gcp_flow(sel, a, b);
		break;
	}
	gcp_auth_flow_tok_clear(&t);
	free(buf);
	return 0;
}
