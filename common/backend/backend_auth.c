/* docker login (POST /auth): the credentials checked against the registry
 * by the backend's registry client (its insecure registries and endpoints;
 * never a mirror), which remembers what got in for the backend's own pulls
 * and derives. Nothing of the body is logged or stored. */
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "backend_img.h"
#include "sockerless/json.h"
#include "sockerless/reg.h"
#include "sockerless/xmalloc.h"

struct img_login {
	struct httpsrv_req *req; /* NULL once the client went away */
};

static void
backend_auth_gone(struct httpsrv_req *r, void *arg)
{
	struct img_login *l = arg;

	(void)r;
	l->req = NULL;
}

static void
backend_auth_done(void *arg, const char *identitytoken, const struct err *e)
{
	struct img_login *l = arg;
	cJSON *o;

	if (l->req == NULL)
		goto out;
	httpsrv_req_on_close(l->req, NULL, NULL);
	if (e != NULL) {
		httpsrv_reply_err(l->req, e);
		goto out;
	}
	o = cJSON_CreateObject();
	json_add_str(o, "Status", "Login Succeeded");
	json_add_str(o, "IdentityToken", identitytoken);
	httpsrv_reply_json(l->req, 200, o);
	cJSON_Delete(o);
out:
	free(l);
}

/* The AuthConfig's string members; another type is Docker's 400. */
static int
backend_auth_check(const cJSON *o, struct err *e)
{
	static const char *keys[] = { "username", "password", "auth", "email",
		"serveraddress", "identitytoken", "registrytoken" };

	if (!cJSON_IsObject(o)) {
		err_set(e, 400,
		    "json: cannot unmarshal %s into Go value of type "
		    "registry.AuthConfig",
		    cJSON_IsArray(o) ? "array" : "value");
		return -1;
	}
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, keys[i]);

		if (v != NULL && !cJSON_IsString(v) && !cJSON_IsNull(v)) {
			err_set(e, 400,
			    "json: cannot unmarshal %s into Go struct field "
			    "AuthConfig.%s of type string",
			    cJSON_IsNumber(v)	 ? "number" :
				cJSON_IsBool(v)	 ? "bool" :
				cJSON_IsArray(v) ? "array" :
						   "object",
			    keys[i]);
			return -1;
		}
	}
	return 0;
}

void
backend_auth_login(
    struct backend *b, struct httpsrv_req *r, const struct router_match *m)
{
	size_t len;
	const char *body = httpsrv_req_body(r, &len);
	struct img_login *l;
	cJSON *o;
	char *copy;
	struct err e;
	int rv;

	(void)m;
	if (len == 0) {
		httpsrv_reply_error(r, 400, "EOF");
		return;
	}
	if ((o = json_parse(body, len, &e)) == NULL) {
		httpsrv_reply_err(r, &e);
		return;
	}
	if (backend_auth_check(o, &e) == -1) {
		cJSON_Delete(o);
		httpsrv_reply_err(r, &e);
		return;
	}
	l = xcalloc(1, sizeof(*l));
	l->req = r;
	copy = xstrndup(body, len);
	httpsrv_req_on_close(r, backend_auth_gone, l);
	rv = reg_login(b->reg, json_str(o, "serveraddress"), copy,
	    backend_auth_done, l, &e);
	OPENSSL_cleanse(copy, len);
	free(copy);
	cJSON_Delete(o);
	if (rv == -1) {
		httpsrv_req_on_close(r, NULL, NULL);
		httpsrv_reply_err(r, &e);
		free(l);
	}
}
