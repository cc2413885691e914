/* sockerless-agent: the workload's name configuration (SOCKERLESS_NET,
 * netcfg.c), the resolver's name table and messages (dnsmsg.c) and the
 * resolver's sockets (dns.c). docs/networks.md, "The agent's resolver". */
#ifndef AGENT_NET_H
#define AGENT_NET_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "jread.h"

/* dnsmsg.c: the table and the answers made from it (no I/O). */
#define DNS_NAMES_MAX 10000 /* names in one table */
#define DNS_ADDRS_MAX 16    /* addresses of one name */
#define DNS_TTL	      600   /* as Docker's embedded DNS */
#define DNS_MSG_MAX   65535

struct dns_name {
	char *name; /* lower case, no trailing dot */
	size_t len;
	uint32_t addr[DNS_ADDRS_MAX]; /* network order */
	int naddr;
};
struct dns_table {
	struct dns_name *v;
	size_t n;
};
/* The object at the cursor, {"name":["a.b.c.d",...],...}, into t (empty
 * first). 0, or -1 with a sentence in why (the table is then empty). */
int dns_table_read(
    struct jread *c, struct dns_table *t, char *why, size_t whysz);
void dns_table_free(struct dns_table *t);
/* The names kind's request, {"kind":"names","names":{...}}. */
int dns_table_request(
    const char *req, size_t len, struct dns_table *t, char *why, size_t whysz);

/* The answer to query q[0..n) from the table (search: NULL-terminated
 * domains stripped from a name that is not in the table) written into
 * out[0..cap): its length; 0 when the query is not the table's (forward
 * it); -1 when q is not a query to answer at all (drop it). */
ssize_t dns_local(const struct dns_table *t, char *const *search,
    const unsigned char *q, size_t n, unsigned char *out, size_t cap);
/* An answer with no records and rcode (2 SERVFAIL, ...) to query q:
 * its length, or -1 when q is not a query. */
ssize_t dns_error(const unsigned char *q, size_t n, int rcode,
    unsigned char *out, size_t cap);

/* dns.c: the resolver on 127.0.0.11:53 (UDP and TCP), in the wrapper's
 * loop. */
/* Binds listen ("ip:port"; NULL: 127.0.0.11:53); upstreams are "ip" or
 * "ip:port" (port 53 by default). 0, or -1 with a line on stderr. */
int dns_start(const char *listen, char *const *upstreams, char *const *search,
    struct dns_table *names);
/* Replaces the table (t is taken and left empty). */
void dns_set_names(struct dns_table *t);
/* Registers the resolver's descriptors and timers. */
void dns_prepare(int64_t now);
/* OPEN kind names: replaces the table, RESULT {} or a 400. */
void dns_names_open(uint32_t ch, const char *req, size_t len);

/* relay.c: relay mode's peers (docs/networks.md, "Relay mode"). */
/* Relay mode on, its addresses 127.A.B.N from the container id's first
 * four hex digits. 0, or -1 after a line on stderr (then off). */
int relay_init(const char *container_id);
int relay_on(void);
/* 127.A.B.n into buf (1: the resolver; 2 and up: the peers). */
void relay_addr(int n, char *buf, size_t sz);
/* The names kind's "peers" (when relay mode is on): the listeners follow
 * the view and each peer's names go into t at its address. 0, or -1 with
 * a sentence in why (nothing changed). */
int relay_view(
    const char *req, size_t len, struct dns_table *t, char *why, size_t wsz);
/* Registers the listeners. */
void relay_prepare(void);

/* netcfg.c: SOCKERLESS_NET (docs/agent-link.md). */
struct net_host {
	char *ip;
	char **names;
};
struct netcfg {
	char *hostname, *domainname;
	struct net_host *hosts;
	size_t nhosts;
	int resolver, relay;
	char **dns, **dns_search, **dns_options;
	struct dns_table names;
};
/* 0, or -1 with a sentence in why. */
int netcfg_parse(
    const char *json, size_t len, struct netcfg *cfg, char *why, size_t wsz);
void netcfg_free(struct netcfg *cfg);
/* The root work before the main process starts: the resolver, the files
 * (under etc: "/etc" unless a test redirects it) and the host name. Says
 * what fails on stderr and goes on. */
void netcfg_apply(struct netcfg *cfg, const char *etc, const char *listen);

#endif
