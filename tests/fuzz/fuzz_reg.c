/* What registries and clients send the registry client (common/reg/):
 * manifests and indexes as a pull reads them (media type, platform pick,
 * digests, layer sizes), error bodies, WWW-Authenticate challenges,
 * X-Registry-Auth, references, platforms and insecure-host lists. The
 * first byte picks the parser. */
#include "../../common/reg/reg_int.h"
#include "fuzz.h"
#include "sockerless/httpcli.h"
#include "sockerless/json.h"

static void
fuzz_reg_manifest(const char *body, size_t len, const char *ctype)
{
	struct httpcli_resp resp;
	struct reg_platform plat;
	const cJSON *pick;
	cJSON *doc;
	char mt[128], hdr[256];

	memset(&resp, 0, sizeof(resp));
	strv_init(&resp.headers);
	snprintf(hdr, sizeof(hdr), "Content-Type: %s", ctype);
	strv_add(&resp.headers, hdr);
	free(reg_digest_of(body, len));
	if ((doc = cJSON_ParseWithLength(body, len)) == NULL)
		goto out;
	switch (reg_manifest_is_index(&resp, doc, mt, sizeof(mt))) {
	case 1:
		if (reg_platform_parse("linux/arm64", &plat, NULL) == 0 &&
		    (pick = reg_platform_pick(doc, &plat)) != NULL)
			reg_digest_check(json_str(pick, "digest"), NULL);
		if (reg_platform_parse("linux/amd64", &plat, NULL) == 0 &&
		    (pick = reg_platform_pick(doc, &plat)) != NULL)
			reg_digest_check(json_str(pick, "digest"), NULL);
		break;
	case 0:
		/* As reg_pull_manifest: a missing digest is refused first. */
		if (json_str(json_obj(doc, "config"), "digest") != NULL)
			reg_digest_check(
			    json_str(json_obj(doc, "config"), "digest"), NULL);
		if (reg_manifest_size(doc) < 0)
			abort();
		break;
	default:
		break;
	}
out:
	cJSON_Delete(doc);
	strv_free(&resp.headers);
}

static void
fuzz_reg_strings(int which, const char *a, const char *b)
{
	struct reg_ref ref;
	struct reg_creds c;
	struct reg_challenge ch;
	struct reg_platform plat;
	struct strv insecure;
	struct err e;
	size_t len;
	char *s;

	switch (which) {
	case 0:
		memset(&ref, 0, sizeof(ref));
		if (reg_ref_parse(a, &ref, &e) == 0) {
			free(reg_ref_string(&ref));
			free(reg_ref_familiar(&ref));
			reg_ref_free(&ref);
		}
		break;
	case 1:
		memset(&c, 0, sizeof(c));
		if (reg_auth_decode(a, &c) == 0 && reg_creds_any(&c))
			free(reg_authz_basic(&c));
		reg_creds_free(&c);
		break;
	case 2:
		memset(&ch, 0, sizeof(ch));
		reg_challenge_parse(a, &ch);
		reg_challenge_free(&ch);
		break;
	case 3:
		reg_platform_parse(a, &plat, &e);
		reg_digest_check(a, &e);
		if ((s = str_base64_decode(a, &len)) != NULL)
			free(s);
		break;
	default:
		strv_init(&insecure);
		strv_add(&insecure, a);
		reg_host_insecure(&insecure, b);
		strv_free(&insecure);
		break;
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *buf, code[128], text[1024];
	const char *a, *b;
	int which;

	if (size == 0)
		return 0;
	which = data[0] % 8;
	data++;
	size--;
	if (which == 5) {
		reg_errors_text((const char *)data, size, code, sizeof(code),
		    text, sizeof(text));
		return 0;
	}
	fuzz_split(data, size, &buf, &a, &b);
	if (which >= 6)
		fuzz_reg_manifest(b, strlen(b), which == 6 ? a : "");
	else
		fuzz_reg_strings(which, a, b);
	free(buf);
	return 0;
}
