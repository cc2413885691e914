/* sockerless-push: pushes an image deploy/mkimage.py wrote (an OCI image
 * layout, build/images/NAME) to a registry with the backends' registry
 * client (common/reg: endpoints, http for loopback, Basic and Bearer-token
 * auth, docker config.json credentials). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <event2/event.h>

#include "sockerless/err.h"
#include "sockerless/httpcli.h"
#include "sockerless/json.h"
#include "sockerless/log.h"
#include "sockerless/reg.h"
#include "sockerless/str.h"
#include "sockerless/xmalloc.h"

/* The largest blob read into memory: far above any sockerless image. */
#define PUSH_BLOB_MAX ((long)1 << 30)

static const char usage[] =
    "usage: sockerless-push [--insecure HOST] [--auth-file FILE] "
    "LAYOUT HOST/REPO:TAG\n"
    "  Pushes the image of the OCI image layout LAYOUT (make images:\n"
    "  build/images/NAME) as HOST/REPO:TAG and prints its digest.\n"
    "  --insecure HOST  plain http to HOST (host:port or a CIDR); loopback\n"
    "                   registries (127.0.0.0/8) always are\n"
    "  --auth-file FILE a docker config.json with \"auths\" (docker login)\n"
    "  $SOCKERLESS_REGISTRY_USER=USER:PASSWORD  the credentials for HOST\n"
    "  (ECR: AWS:$(aws ecr get-login-password), Artifact Registry:\n"
    "  oauth2accesstoken:$(gcloud auth print-access-token))\n";

struct push {
	struct event_base *base;
	const char *host; /* the destination's registry host */
	char *user;	  /* from SOCKERLESS_REGISTRY_USER */
	const char *secret;
	char *ref; /* the pushed "host/repo@sha256:..." */
	struct err e;
	int done;
};

/* A whole file, at most PUSH_BLOB_MAX bytes; NULL with e set. */
static char *
push_read(const char *dir, const char *name, size_t *len, struct err *e)
{
	char *path = xasprintf("%s/%s", dir, name), *data = NULL;
	FILE *f = fopen(path, "rb");
	long n;

	if (f == NULL) {
		err_set(e, 400, "%s: %s", path, strerror(errno));
		free(path);
		return NULL;
	}
	if (fseek(f, 0, SEEK_END) == -1 || (n = ftell(f)) < 0 ||
	    n > PUSH_BLOB_MAX || fseek(f, 0, SEEK_SET) == -1)
		err_set(e, 400, "%s: unreadable or over 1 GiB", path);
	else {
		data = xmalloc((size_t)n + 1);
		if (fread(data, 1, (size_t)n, f) != (size_t)n) {
			err_set(e, 400, "%s: short read", path);
			free(data);
			data = NULL;
		} else {
			data[n] = '\0';
			*len = (size_t)n;
		}
	}
	fclose(f);
	free(path);
	return data;
}

/* blobs/sha256/<hex> of a digest; NULL with e for anything else. */
static char *
push_blob(const char *dir, const char *digest, size_t *len, struct err *e)
{
	char *name, *data;

	if (digest == NULL || !str_prefix(digest, "sha256:") ||
	    strchr(digest, '/') != NULL) {
		err_set(
		    e, 400, "%s: a descriptor without a sha256 digest", dir);
		return NULL;
	}
	name = xasprintf("blobs/sha256/%s", digest + 7);
	data = push_read(dir, name, len, e);
	free(name);
	return data;
}

static int
push_hook(void *arg, const char *host, reg_creds_done done, void *done_arg)
{
	struct push *p = arg;

	if (p->user == NULL || strcmp(host, p->host) != 0)
		return -1;
	done(done_arg, p->user, p->secret, NULL);
	return 0;
}

static void
push_done(void *arg, const char *ref, const struct err *e)
{
	struct push *p = arg;

	if (e != NULL)
		p->e = *e;
	else
		p->ref = xstrdup(ref);
	p->done = 1;
	event_base_loopbreak(p->base);
}

/* The layout's one manifest and the blobs it names, pushed as dst. */
static int
push_layout(struct push *p, struct reg_client *rc, const char *dir,
    const char *dst, struct err *e)
{
	struct reg_blob_data blobs[64];
	char *index_s, *manifest = NULL, *data[64];
	cJSON *index = NULL, *m = NULL;
	const cJSON *desc, *l;
	size_t len, mlen = 0, n = 0;
	int rc2 = -1;

	if ((index_s = push_read(dir, "index.json", &len, e)) == NULL)
		return -1;
	index = cJSON_ParseWithLength(index_s, len);
	free(index_s);
	if (cJSON_GetArraySize(json_arr(index, "manifests")) != 1) {
		err_set(
		    e, 400, "%s/index.json: name exactly one manifest", dir);
		goto out;
	}
	desc = cJSON_GetArrayItem(json_arr(index, "manifests"), 0);
	if ((manifest = push_blob(dir, json_str(desc, "digest"), &mlen, e)) ==
	    NULL)
		goto out;
	if ((m = cJSON_ParseWithLength(manifest, mlen)) == NULL ||
	    cJSON_GetArraySize(json_arr(m, "layers")) >= 63) {
		err_set(e, 400,
		    "%s: the manifest is not an image manifest "
		    "(or has over 62 layers)",
		    dir);
		goto out;
	}
	for (int i = -1; i < cJSON_GetArraySize(json_arr(m, "layers")); i++) {
		l = i < 0 ? json_obj(m, "config") :
			    cJSON_GetArrayItem(json_arr(m, "layers"), i);
		blobs[n].digest = json_str(l, "digest");
		if ((data[n] = push_blob(dir, blobs[n].digest, &len, e)) ==
		    NULL)
			goto out;
		blobs[n].data = data[n];
		blobs[n++].len = len;
	}
	if (reg_push_image(rc, dst, manifest, mlen, json_str(desc, "mediaType"),
		blobs, n, push_done, p, e) == -1)
		goto out;
	while (!p->done && event_base_dispatch(p->base) == 0)
		;
	if (p->ref != NULL)
		rc2 = 0;
	else if (p->done)
		err_set(e, p->e.status, "%s", p->e.msg);
	else
		err_set(e, 500, "the push to %s did not finish", dst);
out:
	while (n > 0)
		free(data[--n]);
	free(manifest);
	cJSON_Delete(m);
	cJSON_Delete(index);
	return rc2;
}

int
main(int argc, char **argv)
{
	struct push p;
	struct reg_config c;
	struct reg_client *rc = NULL;
	struct httpcli *http;
	struct strv insecure;
	struct reg_ref ref;
	struct err e;
	const char *auth_file = NULL, *creds;
	int i = 1, status = 1;

	log_init("sockerless-push", LOG_LVL_WARN);
	json_init();
	strv_init(&insecure);
	strv_add(&insecure, "127.0.0.0/8");
	for (; i + 1 < argc && str_prefix(argv[i], "--"); i += 2) {
		if (strcmp(argv[i], "--insecure") == 0)
			strv_add(&insecure, argv[i + 1]);
		else if (strcmp(argv[i], "--auth-file") == 0)
			auth_file = argv[i + 1];
		else
			break;
	}
	if (argc - i != 2 || str_prefix(argv[i], "-")) {
		fputs(usage, stderr);
		strv_free(&insecure);
		return 2;
	}
	if (reg_ref_parse(argv[i + 1], &ref, &e) == -1) {
		fprintf(
		    stderr, "sockerless-push: %s: %s\n", argv[i + 1], e.msg);
		strv_free(&insecure);
		return 2;
	}
	memset(&p, 0, sizeof(p));
	memset(&c, 0, sizeof(c));
	p.base = event_base_new();
	p.host = ref.domain;
	if ((creds = getenv("SOCKERLESS_REGISTRY_USER")) != NULL &&
	    strchr(creds, ':') != NULL) {
		p.user = xstrndup(creds, strcspn(creds, ":"));
		p.secret = strchr(creds, ':') + 1;
	}
	http = httpcli_new(p.base);
	c.insecure = &insecure;
	c.auth_file = auth_file;
	if ((rc = reg_client_new(p.base, http, &c, &e)) != NULL) {
		reg_set_creds_hook(rc, push_hook, &p);
		if (push_layout(&p, rc, argv[i], argv[i + 1], &e) == 0) {
			printf("%s\n", strchr(p.ref, '@') + 1);
			fprintf(stderr, "sockerless-push: pushed %s\n", p.ref);
			status = 0;
		}
	}
	if (status != 0)
		fprintf(stderr, "sockerless-push: %s\n", e.msg);
	if (rc != NULL)
		reg_client_free(rc);
	httpcli_free(http);
	event_base_free(p.base);
	reg_ref_free(&ref);
	strv_free(&insecure);
	free(p.user);
	free(p.ref);
	return status;
}
