/* Downloading a blob (a layer) of a resolved image: 8 MiB ranges over
 * the resolve's endpoints, credentials and tokens (reg.c), written to a
 * file and verified against its digest as they arrive. */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "reg_pull_int.h"
#include "sockerless/httpcli.h"
#include "sockerless/lite.h"
#include "sockerless/xmalloc.h"

const struct err *
reg_blob_err(struct reg_pull *p, const char *what)
{
	static struct err e;

	err_set(&e, 500, "%s %s: %s", p->familiar, p->blob_digest, what);
	return &e;
}

/* From the first byte again: another endpoint, or a registry that
 * ignored the Range. */
int
reg_blob_restart(struct reg_pull *p)
{
	const EVP_MD *md;
	char alg[16];

	snprintf(alg, sizeof(alg), "%.*s", (int)strcspn(p->blob_digest, ":"),
	    p->blob_digest);
	p->blob_off = p->blob_total = 0;
	if ((md = EVP_get_digestbyname(alg)) == NULL ||
	    EVP_DigestInit_ex(p->blob_md, md, NULL) != 1) {
		reg_pull_finish(p, NULL, reg_blob_err(p, "unsupported digest"));
		return -1;
	}
	if (fflush(p->blob_f) != 0 || ftruncate(fileno(p->blob_f), 0) == -1 ||
	    fseeko(p->blob_f, 0, SEEK_SET) == -1) {
		reg_pull_finish(p, NULL,
		    reg_blob_err(p, "the blob file cannot be written"));
		return -1;
	}
	return 0;
}

/* The next piece; a registry that ignores Range sends it all, up to the
 * bound. */
void
reg_blob_range(struct reg_pull *p, struct httpcli_req *r)
{
	char range[64];

	snprintf(range, sizeof(range), "bytes=%llu-%llu",
	    (unsigned long long)p->blob_off,
	    (unsigned long long)(p->blob_off + REG_BLOB_PIECE - 1));
	httpcli_req_header(r, "Range", range);
	httpcli_req_max_response(r,
	    (size_t)(p->blob_max < REG_BLOB_PIECE ? REG_BLOB_PIECE :
						    p->blob_max + 1));
}

/* "bytes a-b/total" of a 206: 0 when it starts at the offset asked. */
/* A decimal number at *s ended by end; *s moves past end. */
static int
reg_blob_num(const char **s, char end, unsigned long long *v)
{
	char *ep;

	if (!isdigit((unsigned char)**s))
		return -1;
	errno = 0;
	*v = strtoull(*s, &ep, 10);
	if (errno != 0 || *ep != end)
		return -1;
	*s = end == '\0' ? ep : ep + 1;
	return 0;
}

static int
reg_blob_content_range(struct reg_pull *p, const struct httpcli_resp *resp)
{
	const char *cr = httpcli_resp_header(resp, "Content-Range");
	unsigned long long a, b, total;

	if (cr == NULL || strncmp(cr, "bytes ", 6) != 0)
		return -1;
	cr += 6;
	if (reg_blob_num(&cr, '-', &a) == -1 ||
	    reg_blob_num(&cr, '/', &b) == -1 ||
	    reg_blob_num(&cr, '\0', &total) == -1 || a != p->blob_off ||
	    b - a + 1 != resp->body_len || b >= total)
		return -1;
	p->blob_total = total;
	return 0;
}

void
reg_blob_got(struct reg_pull *p, const struct httpcli_resp *resp)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen;
	char hex[2 * EVP_MAX_MD_SIZE + 1];
	const char *want = strchr(p->blob_digest, ':') + 1;
	struct err e;

	if (resp->status == 200) {
		if (p->blob_off > 0 && reg_blob_restart(p) == -1)
			return;
		p->blob_total = resp->body_len;
	} else if (reg_blob_content_range(p, resp) == -1) {
		err_set(&e, 502,
		    "registry %s answered a piece of layer %s of %s with a "
		    "bad Content-Range",
		    reg_pull_cur(p)->host, p->blob_digest, p->familiar);
		reg_pull_finish(p, NULL, &e);
		return;
	}
	if (p->blob_total > p->blob_max) {
		err_set(&e, 500,
		    "layer %s of %s is larger than %llu bytes, the bound for "
		    "reading an image's files",
		    p->blob_digest, p->familiar,
		    (unsigned long long)p->blob_max);
		reg_pull_finish(p, NULL, &e);
		return;
	}
	if (resp->body_len > 0 &&
	    (fwrite(resp->body, 1, resp->body_len, p->blob_f) !=
		    resp->body_len ||
		EVP_DigestUpdate(p->blob_md, resp->body, resp->body_len) !=
		    1)) {
		reg_pull_finish(p, NULL,
		    reg_blob_err(p, "the blob file cannot be written"));
		return;
	}
	p->blob_off += resp->body_len;
	if (p->blob_off < p->blob_total) {
		reg_pull_send(p);
		return;
	}
	EVP_DigestFinal_ex(p->blob_md, md, &mdlen);
	lite_hex(md, mdlen, hex);
	if (strcmp(hex, want) != 0) {
		err_set(&e, 502,
		    "registry %s returned layer %s of %s with other content "
		    "(%s)",
		    reg_pull_cur(p)->host, p->blob_digest, p->familiar, hex);
		reg_pull_finish(p, NULL, &e);
		return;
	}
	reg_pull_finish(p, NULL, NULL);
}

int
reg_blob_fetch(struct reg_client *rc, const char *ref, const char *auth,
    const char *digest, const char *dest, uint64_t max,
    void (*cb)(void *arg, const struct err *e), void *arg, struct err *e)
{
	struct reg_pull *p;
	FILE *f;

	if (reg_digest_check(digest, e) == -1)
		return -1;
	if ((f = fopen(dest, "w+")) == NULL)
		return err_set(e, 500, "cannot create %s", dest);
	if ((p = reg_pull_new(rc, ref, auth, e)) == NULL) {
		fclose(f);
		unlink(dest);
		return -1;
	}
	p->blob_f = f;
	p->blob_digest = xstrdup(digest);
	p->blob_path = xstrdup(dest);
	p->blob_md = EVP_MD_CTX_new();
	p->blob_max = max;
	p->blob_cb = cb;
	p->arg = arg;
	event_active(p->ev, EV_TIMEOUT, 0);
	return 0;
}
