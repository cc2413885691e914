/* SOCKERLESS_NET (docs/agent-link.md): the workload's host name, hosts
 * entries, DNS settings and name table, and the agent's root work with
 * them before the main process starts: /etc/hostname, /etc/hosts and
 * /etc/resolv.conf written as dockerd 20.10 writes them, the host name
 * set, the resolver started. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent.h"
#include "modules.h"
#include "net.h"

#define NETCFG_HOSTS_MAX 1024
#define NETCFG_LIST_MAX	 256
#define NETCFG_NS_MAX	 8 /* nameservers read from resolv.conf */

/* ---- SOCKERLESS_NET ---- */

void
netcfg_free(struct netcfg *cfg)
{
	size_t i;

	free(cfg->hostname);
	free(cfg->domainname);
	for (i = 0; i < cfg->nhosts; i++) {
		free(cfg->hosts[i].ip);
		jread_strv_free(cfg->hosts[i].names);
	}
	free(cfg->hosts);
	jread_strv_free(cfg->dns);
	jread_strv_free(cfg->dns_search);
	jread_strv_free(cfg->dns_options);
	dns_table_free(&cfg->names);
	memset(cfg, 0, sizeof(*cfg));
}

/* An array of strings (NULL-terminated, malloc'd). */
static int
netcfg_strv(struct jread *c, char ***out)
{
	char **v = xmalloc(sizeof(char *));
	size_t n = 0;
	int more;

	v[0] = NULL;
	*out = v;
	if (!jread_eat(c, '['))
		return -1;
	if (jread_eat(c, ']'))
		return 0;
	do {
		if (n == NETCFG_LIST_MAX)
			return -1;
		v = *out = xrealloc(v, (n + 2) * sizeof(char *));
		v[n + 1] = NULL;
		if (jread_string(c, &v[n]) == -1) {
			v[n] = NULL;
			return -1;
		}
		n++;
	} while ((more = jread_more(c, ']')) == 1);
	return more;
}

static int
netcfg_bool(struct jread *c, int *v)
{
	jread_ws(c);
	if (c->end - c->p >= 4 && memcmp(c->p, "true", 4) == 0) {
		c->p += 4;
		*v = 1;
		return 0;
	}
	if (c->end - c->p >= 5 && memcmp(c->p, "false", 5) == 0) {
		c->p += 5;
		*v = 0;
		return 0;
	}
	return -1;
}

/* {"ip": "...", "names": [...]} */
static int
netcfg_host(struct jread *c, struct net_host *h)
{
	char *key = NULL;
	int more, rc = 0;

	if (!jread_eat(c, '{'))
		return -1;
	if (jread_eat(c, '}'))
		return -1;
	do {
		if (jread_member(c, &key) == -1)
			return -1;
		if (strcmp(key, "ip") == 0 && h->ip == NULL)
			rc = jread_string(c, &h->ip);
		else if (strcmp(key, "names") == 0 && h->names == NULL)
			rc = netcfg_strv(c, &h->names);
		else
			rc = jread_skip(c);
		free(key);
		if (rc == -1)
			return -1;
	} while ((more = jread_more(c, '}')) == 1);
	return more == 0 && h->ip != NULL && h->names != NULL ? 0 : -1;
}

static int
netcfg_hosts(struct jread *c, struct netcfg *cfg)
{
	int more;

	if (!jread_eat(c, '['))
		return -1;
	if (jread_eat(c, ']'))
		return 0;
	do {
		if (cfg->nhosts == NETCFG_HOSTS_MAX)
			return -1;
		cfg->hosts = xrealloc(
		    cfg->hosts, (cfg->nhosts + 1) * sizeof(*cfg->hosts));
		memset(&cfg->hosts[cfg->nhosts], 0, sizeof(*cfg->hosts));
		cfg->nhosts++;
		if (netcfg_host(c, &cfg->hosts[cfg->nhosts - 1]) == -1)
			return -1;
	} while ((more = jread_more(c, ']')) == 1);
	return more;
}

/* One member of SOCKERLESS_NET; unknown ones are skipped (a newer
 * backend). */
static int
netcfg_member(
    struct jread *c, const char *key, struct netcfg *cfg, char *why, size_t wsz)
{
	int rc;

	if (strcmp(key, "hostname") == 0 && cfg->hostname == NULL)
		rc = jread_string(c, &cfg->hostname);
	else if (strcmp(key, "domainname") == 0 && cfg->domainname == NULL)
		rc = jread_string(c, &cfg->domainname);
	else if (strcmp(key, "hosts") == 0 && cfg->hosts == NULL)
		rc = netcfg_hosts(c, cfg);
	else if (strcmp(key, "resolver") == 0)
		rc = netcfg_bool(c, &cfg->resolver);
	else if (strcmp(key, "relay") == 0)
		rc = netcfg_bool(c, &cfg->relay);
	else if (strcmp(key, "dns") == 0 && cfg->dns == NULL)
		rc = netcfg_strv(c, &cfg->dns);
	else if (strcmp(key, "dns_search") == 0 && cfg->dns_search == NULL)
		rc = netcfg_strv(c, &cfg->dns_search);
	else if (strcmp(key, "dns_options") == 0 && cfg->dns_options == NULL)
		rc = netcfg_strv(c, &cfg->dns_options);
	else if (strcmp(key, "names") == 0 && cfg->names.v == NULL)
		return dns_table_read(c, &cfg->names, why, wsz);
	else
		rc = jread_skip(c);
	if (rc == -1)
		snprintf(why, wsz, "\"%s\" is not what it should be", key);
	return rc;
}

/* A word the files can carry: not empty, no blank or control character
 * (a newline would add a line to /etc/hosts). */
static int
netcfg_word(const char *s)
{
	if (s == NULL || *s == '\0')
		return 0;
	for (; *s != '\0'; s++)
		if ((unsigned char)*s <= ' ' || *s == 0x7f)
			return 0;
	return 1;
}

static int
netcfg_words_ok(char *const *v)
{
	size_t i;

	for (i = 0; v != NULL && v[i] != NULL; i++)
		if (!netcfg_word(v[i]))
			return 0;
	return 1;
}

/* What the files are written from: single words only. */
static int
netcfg_check(const struct netcfg *cfg, char *why, size_t wsz)
{
	size_t i;

	if ((cfg->hostname != NULL && *cfg->hostname != '\0' &&
		!netcfg_word(cfg->hostname)) ||
	    (cfg->domainname != NULL && *cfg->domainname != '\0' &&
		!netcfg_word(cfg->domainname))) {
		snprintf(why, wsz, "hostname and domainname must be one word");
		return -1;
	}
	for (i = 0; i < cfg->nhosts; i++)
		if (!netcfg_word(cfg->hosts[i].ip) ||
		    cfg->hosts[i].names[0] == NULL ||
		    !netcfg_words_ok(cfg->hosts[i].names)) {
			snprintf(why, wsz,
			    "each of \"hosts\" needs an ip and names, one word "
			    "each");
			return -1;
		}
	if (!netcfg_words_ok(cfg->dns) || !netcfg_words_ok(cfg->dns_search) ||
	    !netcfg_words_ok(cfg->dns_options)) {
		snprintf(why, wsz, "dns, dns_search and dns_options are words");
		return -1;
	}
	return 0;
}

int
netcfg_parse(
    const char *json, size_t len, struct netcfg *cfg, char *why, size_t wsz)
{
	struct jread c;
	char *key = NULL;
	int more;

	memset(cfg, 0, sizeof(*cfg));
	snprintf(why, wsz, "not a JSON object");
	jread_init(&c, json, len);
	if (!jread_eat(&c, '{'))
		goto fail;
	if (!jread_eat(&c, '}'))
		do {
			if (jread_member(&c, &key) == -1)
				goto fail;
			if (netcfg_member(&c, key, cfg, why, wsz) == -1)
				goto fail;
			free(key);
			key = NULL;
		} while ((more = jread_more(&c, '}')) == 1);
	else
		more = 0;
	jread_ws(&c);
	if (more == -1 || c.p != c.end) {
		snprintf(why, wsz, "not a JSON object");
		goto fail;
	}
	if (netcfg_check(cfg, why, wsz) == -1)
		goto fail;
	return 0;
fail:
	free(key);
	netcfg_free(cfg);
	return -1;
}

/* ---- the files ---- */

/* In place (truncate + write): they are often bind mounts, which rename()
 * cannot replace. */
static void
netcfg_write(const char *etc, const char *name, const char *text)
{
	char path[4096];
	size_t n = strlen(text), off = 0;
	ssize_t r;
	int fd;

	snprintf(path, sizeof(path), "%s/%s", etc, name);
	if ((fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644)) ==
	    -1)
		goto fail;
	while (off < n) {
		if ((r = write(fd, text + off, n - off)) == -1) {
			if (errno == EINTR)
				continue;
			close(fd);
			goto fail;
		}
		off += (size_t)r;
	}
	if (close(fd) == 0)
		return;
fail:
	fprintf(stderr, "sockerless-agent: cannot write %s: %s\n", path,
	    strerror(errno));
}

/* The workload's own address: its first IPv4 that is not loopback. */
static int
netcfg_own_ip(char *out, size_t outsz)
{
	struct ifaddrs *ifs, *i;
	int rc = -1;

	if (getifaddrs(&ifs) == -1)
		return -1;
	for (i = ifs; i != NULL && rc == -1; i = i->ifa_next)
		if (i->ifa_addr != NULL && i->ifa_addr->sa_family == AF_INET &&
		    (i->ifa_flags & IFF_LOOPBACK) == 0 &&
		    inet_ntop(AF_INET,
			&((struct sockaddr_in *)(void *)i->ifa_addr)->sin_addr,
			out, (socklen_t)outsz) != NULL)
			rc = 0;
	freeifaddrs(ifs);
	return rc;
}

/* dockerd's defaults, then the extra entries, then the workload's own
 * address with "fqdn short" (libnetwork etchosts.Build, then Add). */
static void
netcfg_hosts_file(const struct netcfg *cfg, const char *etc)
{
	char ip[INET_ADDRSTRLEN], host[256];
	const char *h = cfg->hostname, *dot;
	struct jsonw w;
	size_t i, j;

	jsonw_init(&w);
	jsonw_puts(&w,
	    "127.0.0.1\tlocalhost\n"
	    "::1\tlocalhost ip6-localhost ip6-loopback\n"
	    "fe00::0\tip6-localnet\n"
	    "ff00::0\tip6-mcastprefix\n"
	    "ff02::1\tip6-allnodes\n"
	    "ff02::2\tip6-allrouters\n");
	for (i = 0; i < cfg->nhosts; i++) {
		jsonw_puts(&w, cfg->hosts[i].ip);
		for (j = 0; cfg->hosts[i].names[j] != NULL; j++)
			jsonw_printf(&w, "%c%s", j == 0 ? '\t' : ' ',
			    cfg->hosts[i].names[j]);
		jsonw_puts(&w, "\n");
	}
	if (h == NULL && gethostname(host, sizeof(host)) == 0)
		h = host;
	if (h != NULL && *h != '\0' && netcfg_own_ip(ip, sizeof(ip)) == 0) {
		if (cfg->domainname != NULL && *cfg->domainname != '\0')
			jsonw_printf(
			    &w, "%s\t%s.%s %s\n", ip, h, cfg->domainname, h);
		else if ((dot = strchr(h, '.')) != NULL)
			jsonw_printf(
			    &w, "%s\t%s %.*s\n", ip, h, (int)(dot - h), h);
		else
			jsonw_printf(&w, "%s\t%s\n", ip, h);
	}
	netcfg_write(etc, "hosts", w.buf != NULL ? w.buf : "");
	jsonw_free(&w);
}

/* The original resolv.conf's nameservers, search and options lines. */
struct netcfg_rc {
	char **ns, **search, **options;
};

static void
netcfg_push(char ***v, size_t *n, const char *s, size_t len)
{
	if (*n >= NETCFG_LIST_MAX)
		return;
	*v = xrealloc(*v, (*n + 2) * sizeof(char *));
	(*v)[*n] = xmalloc(len + 1);
	memcpy((*v)[*n], s, len);
	(*v)[*n][len] = '\0';
	(*v)[++*n] = NULL;
}

/* The words after a keyword of a line into *v (the last line wins, as
 * for the resolver, except nameserver which adds). */
static void
netcfg_words(const char *p, char ***v, size_t *n, int add)
{
	size_t len;

	if (!add) {
		jread_strv_free(*v);
		*v = NULL;
		*n = 0;
	}
	for (;;) {
		p += strspn(p, " \t");
		if ((len = strcspn(p, " \t\r\n")) == 0)
			break;
		netcfg_push(v, n, p, len);
		p += len;
	}
}

static void
netcfg_read_rc(const char *etc, struct netcfg_rc *rc)
{
	char path[4096], line[1024];
	size_t nns = 0, ns = 0, no = 0;
	FILE *f;

	memset(rc, 0, sizeof(*rc));
	snprintf(path, sizeof(path), "%s/resolv.conf", etc);
	if ((f = fopen(path, "re")) == NULL)
		return;
	while (fgets(line, sizeof(line), f) != NULL) {
		if (strncmp(line, "nameserver", 10) == 0 &&
		    (line[10] == ' ' || line[10] == '\t') &&
		    nns < NETCFG_NS_MAX)
			netcfg_words(line + 11, &rc->ns, &nns, 1);
		else if (strncmp(line, "search", 6) == 0 &&
		    (line[6] == ' ' || line[6] == '\t'))
			netcfg_words(line + 7, &rc->search, &ns, 0);
		else if (strncmp(line, "options", 7) == 0 &&
		    (line[7] == ' ' || line[7] == '\t'))
			netcfg_words(line + 8, &rc->options, &no, 1);
	}
	fclose(f);
}

static void
netcfg_line(struct jsonw *w, const char *key, char *const *v)
{
	size_t i;

	if (v == NULL || v[0] == NULL)
		return;
	jsonw_puts(w, key);
	for (i = 0; v[i] != NULL; i++)
		jsonw_printf(w, " %s", v[i]);
	jsonw_puts(w, "\n");
}

/* resolvconf.Build's layout: search, nameservers, options. */
static void
netcfg_resolv_file(const char *etc, char *const *ns, char *const *search,
    char *const *options, int ndots0)
{
	struct jsonw w;
	size_t i;
	int has_ndots = 0;

	jsonw_init(&w);
	netcfg_line(&w, "search", search);
	for (i = 0; ns != NULL && ns[i] != NULL; i++)
		jsonw_printf(&w, "nameserver %s\n", ns[i]);
	for (i = 0; options != NULL && options[i] != NULL; i++)
		if (strncmp(options[i], "ndots:", 6) == 0)
			has_ndots = 1;
	if (ndots0 && !has_ndots) {
		/* After the others, as dockerd 20.10 appends it. */
		jsonw_puts(&w, "options");
		for (i = 0; options != NULL && options[i] != NULL; i++)
			jsonw_printf(&w, " %s", options[i]);
		jsonw_puts(&w, " ndots:0\n");
	} else {
		netcfg_line(&w, "options", options);
	}
	netcfg_write(etc, "resolv.conf", w.buf != NULL ? w.buf : "");
	jsonw_free(&w);
}

static void
netcfg_resolv(struct netcfg *cfg, const char *etc, const char *listen)
{
	char dns_ip[24] = "127.0.0.11", own[32];
	char *const self[] = { dns_ip, NULL };
	struct netcfg_rc rc;
	char *const *ups, *const *search, *const *opts;

	/* Relay mode: 127.0.0.11:53 can be bound once per network
	 * namespace, and workloads may share one; the resolver takes the
	 * container's own range. */
	if (cfg->relay && relay_on()) {
		relay_addr(1, dns_ip, sizeof(dns_ip));
		snprintf(own, sizeof(own), "%s:53", dns_ip);
		if (listen == NULL || *listen == '\0')
			listen = own;
	}
	netcfg_read_rc(etc, &rc);
	ups = cfg->dns != NULL ? cfg->dns : rc.ns;
	search = cfg->dns_search != NULL ? cfg->dns_search : rc.search;
	opts = cfg->dns_options != NULL ? cfg->dns_options : rc.options;
	if (cfg->resolver && dns_start(listen, ups, search, &cfg->names) == 0)
		netcfg_resolv_file(etc, self, search, opts, 1);
	else if (cfg->resolver || cfg->dns != NULL || cfg->dns_search != NULL ||
	    cfg->dns_options != NULL)
		netcfg_resolv_file(etc, ups, search, opts, 0);
	jread_strv_free(rc.ns);
	jread_strv_free(rc.search);
	jread_strv_free(rc.options);
}

void
netcfg_apply(struct netcfg *cfg, const char *etc, const char *listen)
{
	char *line;
	size_t n;

	netcfg_resolv(cfg, etc, listen);
	if (cfg->hostname != NULL && *cfg->hostname != '\0') {
		n = strlen(cfg->hostname) + 2;
		line = xmalloc(n);
		snprintf(line, n, "%s\n", cfg->hostname);
		netcfg_write(etc, "hostname", line);
		free(line);
	}
	/* Files redirected (SOCKERLESS_ETC, tests): the host name is the
	 * test machine's, not the workload's; leave it alone. */
	if (cfg->hostname != NULL && *cfg->hostname != '\0' &&
	    strcmp(etc, "/etc") == 0) {
		/* Fargate gives no CAP_SYS_ADMIN: EPERM is expected there
		 * and the files above are what says the name
		 * (docs/networks.md). */
		if (sethostname(cfg->hostname, strlen(cfg->hostname)) == -1 &&
		    errno != EPERM)
			fprintf(stderr,
			    "sockerless-agent: cannot set the host name %s: "
			    "%s\n",
			    cfg->hostname, strerror(errno));
		if (cfg->domainname != NULL && *cfg->domainname != '\0' &&
		    setdomainname(cfg->domainname, strlen(cfg->domainname)) ==
			-1 &&
		    errno != EPERM)
			fprintf(stderr,
			    "sockerless-agent: cannot set the domain name "
			    "%s: %s\n",
			    cfg->domainname, strerror(errno));
	}
	netcfg_hosts_file(cfg, etc);
}
