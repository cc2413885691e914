/* Registry client, where to pull from: platform selection in an index,
 * insecure registries (names, CIDRs, loopback) and a registry domain's
 * endpoint URL. Calls nothing else in the group. */
#include <sys/queue.h>

#include <arpa/inet.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "reg_int.h"
#include "sockerless/buf.h"
#include "sockerless/httpcli.h"
#include "sockerless/json.h"
#include "sockerless/log.h"
#include "sockerless/reg.h"
#include "sockerless/xmalloc.h"

/* --- platforms --------------------------------------------------------- */

static void
reg_platform_norm(const char *arch, const char *variant, char *a, size_t an,
    char *v, size_t vn)
{
	static const struct {
		const char *from, *to, *variant;
	} alias[] = {
		{ "x86_64", "amd64", NULL },
		{ "x86-64", "amd64", NULL },
		{ "aarch64", "arm64", NULL },
		{ "armhf", "arm", "v7" },
		{ "armel", "arm", "v6" },
		{ "i386", "386", NULL },
	};

	str_lcpy(a, arch, an);
	str_lcpy(v, variant != NULL ? variant : "", vn);
	for (size_t i = 0; i < sizeof(alias) / sizeof(alias[0]); i++)
		if (strcmp(a, alias[i].from) == 0) {
			str_lcpy(a, alias[i].to, an);
			if (alias[i].variant != NULL && v[0] == '\0')
				str_lcpy(v, alias[i].variant, vn);
		}
	if (strcmp(a, "arm64") == 0 && (v[0] == '\0' || strcmp(v, "8") == 0))
		str_lcpy(v, "v8", vn);
	else if (strcmp(a, "arm") == 0 && v[0] == '\0')
		str_lcpy(v, "v7", vn);
	else if (strcmp(a, "arm") == 0 && isdigit((unsigned char)v[0])) {
		char t[32];

		(void)snprintf(t, sizeof(t), "v%s", v);
		str_lcpy(v, t, vn);
	} else if (strcmp(a, "amd64") == 0 && strcmp(v, "v1") == 0)
		v[0] = '\0';
}

int
reg_platform_parse(const char *s, struct reg_platform *p, struct err *e)
{
	char os[32] = "", arch[32] = "", variant[32] = "";
	int n;

	memset(p, 0, sizeof(*p));
	if (s == NULL || s[0] == '\0')
		s = "linux/amd64";
	n = sscanf(s, "%31[^/]/%31[^/]/%31[^/]", os, arch, variant);
	if (n < 2 ||
	    strlen(s) !=
		strlen(os) + strlen(arch) + 1 +
		    (n == 3 ? strlen(variant) + 1 : 0))
		return err_set(e, 400,
		    "invalid platform \"%s\": want "
		    "os/arch[/variant]",
		    s);
	for (char *c = os; *c != '\0'; c++)
		*c = (char)tolower((unsigned char)*c);
	str_lcpy(p->os, os, sizeof(p->os));
	for (char *c = arch; *c != '\0'; c++)
		*c = (char)tolower((unsigned char)*c);
	reg_platform_norm(arch, variant, p->arch, sizeof(p->arch), p->variant,
	    sizeof(p->variant));
	return 0;
}

/* 7 for "v7", -1 for anything else. */
static long long
reg_variant_num(const char *v)
{
	long long n;

	if (v[0] != 'v' || str_tonum(v + 1, 1, 99, &n, NULL) == -1)
		return -1;
	return n;
}

/* 0 is an exact match, a larger number a worse one, -1 no match. */
static int
reg_platform_score(const cJSON *plat, const struct reg_platform *want)
{
	const char *os = json_str(plat, "os"),
		   *arch = json_str(plat, "architecture");
	char a[32], v[32];
	long long have, need;

	if (os == NULL || arch == NULL || strcasecmp(os, want->os) != 0)
		return -1;
	reg_platform_norm(
	    arch, json_str(plat, "variant"), a, sizeof(a), v, sizeof(v));
	if (strcmp(a, want->arch) != 0)
		return -1;
	if (strcmp(v, want->variant) == 0)
		return 0;
	/* An arm v7 machine runs v6 and v5 images (containerd's order). */
	if (strcmp(a, "arm") == 0 && (have = reg_variant_num(v)) > 0 &&
	    (need = reg_variant_num(want->variant)) > have)
		return (int)(need - have);
	return -1;
}

const cJSON *
reg_platform_pick(const cJSON *index, const struct reg_platform *p)
{
	const cJSON *it, *best = NULL;
	int best_score = -1;

	cJSON_ArrayForEach(it, json_arr(index, "manifests")) {
		int sc;

		if (json_str(it, "digest") == NULL)
			continue;
		sc = reg_platform_score(json_obj(it, "platform"), p);
		if (sc >= 0 && (best == NULL || sc < best_score)) {
			best = it;
			best_score = sc;
		}
	}
	return best;
}

/* --- insecure registries ----------------------------------------------- */

/* The IP literal of host (port and brackets removed) into a/fam. */
static int
reg_host_ip(const char *host, unsigned char *a, int *fam)
{
	char h[64];
	const char *colon;

	if (host[0] == '[') {
		size_t n = strcspn(host + 1, "]");

		if (n >= sizeof(h))
			return -1;
		memcpy(h, host + 1, n);
		h[n] = '\0';
	} else if ((colon = strchr(host, ':')) != NULL &&
	    strchr(colon + 1, ':') == NULL) {
		if ((size_t)(colon - host) >= sizeof(h))
			return -1;
		memcpy(h, host, (size_t)(colon - host));
		h[colon - host] = '\0';
	} else
		str_lcpy(h, host, sizeof(h));
	if (inet_pton(AF_INET, h, a) == 1) {
		*fam = AF_INET;
		return 0;
	}
	if (inet_pton(AF_INET6, h, a) == 1) {
		*fam = AF_INET6;
		return 0;
	}
	return -1;
}

static int
reg_cidr_match(const char *cidr, const unsigned char *a, int fam)
{
	char net[64];
	const char *slash = strchr(cidr, '/');
	unsigned char n[16];
	long long bits;
	int nfam = strchr(cidr, ':') != NULL ? AF_INET6 : AF_INET;
	int max = nfam == AF_INET ? 32 : 128;

	if (slash == NULL || nfam != fam ||
	    (size_t)(slash - cidr) >= sizeof(net))
		return 0;
	memcpy(net, cidr, (size_t)(slash - cidr));
	net[slash - cidr] = '\0';
	if (inet_pton(nfam, net, n) != 1 ||
	    str_tonum(slash + 1, 0, max, &bits, NULL) == -1)
		return 0;
	for (int i = 0; i < bits; i++) {
		int m = 0x80 >> (i % 8);

		if ((a[i / 8] & m) != (n[i / 8] & m))
			return 0;
	}
	return 1;
}

int
reg_host_insecure(const struct strv *insecure, const char *host)
{
	unsigned char a[16];
	int fam = 0, ip;
	size_t hn = strcspn(host, ":");

	if (strncmp(host, "localhost", hn) == 0 && hn == strlen("localhost"))
		return 1;
	ip = reg_host_ip(host, a, &fam) == 0;
	if (ip &&
	    (reg_cidr_match("127.0.0.0/8", a, fam) ||
		reg_cidr_match("::1/128", a, fam)))
		return 1;
	for (size_t i = 0; insecure != NULL && i < insecure->n; i++) {
		const char *s = insecure->v[i];

		if (str_prefix(s, "http://"))
			s += 7;
		else if (str_prefix(s, "https://"))
			s += 8;
		if (strcmp(s, host) == 0 ||
		    (strncmp(s, host, hn) == 0 && s[hn] == '\0'))
			return 1;
		if (ip && strchr(s, '/') != NULL && reg_cidr_match(s, a, fam))
			return 1;
	}
	return 0;
}

char *
reg_endpoint_base(struct reg_client *rc, const char *d, char **hostp)
{
	if (strcmp(d, REG_DOCKER_DOMAIN) == 0) {
		*hostp = xstrdup(REG_DOCKER_HOST);
		return xstrdup("https://" REG_DOCKER_HOST);
	}
	for (size_t i = 0; i < rc->endpoints.n; i++) {
		const char *m = rc->endpoints.v[i], *eq = strchr(m, '=');
		const char *h;

		if ((size_t)(eq - m) != strlen(d) ||
		    strncmp(m, d, strlen(d)) != 0)
			continue;
		h = strstr(eq + 1, "://") + 3;
		*hostp = xstrndup(h, strcspn(h, "/"));
		return xstrdup(eq + 1);
	}
	*hostp = xstrdup(d);
	return xasprintf("%s://%s",
	    reg_host_insecure(&rc->insecure, d) ? "http" : "https", d);
}

char *
reg_host_base(struct reg_client *rc, const char *host)
{
	char *h, *base = reg_endpoint_base(rc, host, &h);
	size_t n = strlen(base);

	free(h);
	while (n > 0 && base[n - 1] == '/')
		base[--n] = '\0';
	return base;
}
