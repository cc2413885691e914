/* The resolver's name table and the answers it gives from it: DNS messages
 * read defensively (every length checked, compression pointers only
 * backwards and at most DNS_JUMPS of them) and written without
 * compression except the answers' pointer to the question. */
#include <arpa/inet.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent.h"
#include "net.h"

#define DNS_HDR	  12
#define DNS_JUMPS 16
#define DNS_A	  1
#define DNS_PTR	  12
#define DNS_AAAA  28
#define DNS_IN	  1

/* ---- the table ---- */

void
dns_table_free(struct dns_table *t)
{
	size_t i;

	for (i = 0; i < t->n; i++)
		free(t->v[i].name);
	free(t->v);
	t->v = NULL;
	t->n = 0;
}

/* A name as the table keeps it: lower case, without a trailing dot. */
static int
dns_table_name(char *s, size_t *len)
{
	size_t n = strlen(s), i;

	if (n > 0 && s[n - 1] == '.')
		s[--n] = '\0';
	if (n == 0 || n > 253)
		return -1;
	for (i = 0; i < n; i++)
		s[i] = (char)tolower((unsigned char)s[i]);
	*len = n;
	return 0;
}

/* ["a.b.c.d", ...] into e. */
static int
dns_table_addrs(struct jread *c, struct dns_name *e, char *why, size_t wsz)
{
	char *ip = NULL;
	int more;
	struct in_addr a;

	if (!jread_eat(c, '['))
		goto fail;
	if (jread_eat(c, ']'))
		return 0;
	do {
		if (jread_string(c, &ip) == -1)
			goto fail;
		if (inet_pton(AF_INET, ip, &a) != 1) {
			snprintf(why, wsz,
			    "names: %s of %s is not an IPv4 address", ip,
			    e->name);
			free(ip);
			return -1;
		}
		free(ip);
		if (e->naddr == DNS_ADDRS_MAX) {
			snprintf(why, wsz,
			    "names: %s has more than %d addresses", e->name,
			    DNS_ADDRS_MAX);
			return -1;
		}
		e->addr[e->naddr++] = a.s_addr;
	} while ((more = jread_more(c, ']')) == 1);
	if (more == 0)
		return 0;
fail:
	snprintf(why, wsz, "names: each name maps to an array of addresses");
	return -1;
}

/* One member, "name": [addresses], appended to t. */
static int
dns_table_member(struct jread *c, struct dns_table *t, char *why, size_t wsz)
{
	struct dns_name *e;
	char *key = NULL;

	if (jread_member(c, &key) == -1) {
		snprintf(why, wsz, "names: not a JSON object");
		return -1;
	}
	if (t->n == DNS_NAMES_MAX) {
		snprintf(why, wsz, "names: more than %d names", DNS_NAMES_MAX);
		free(key);
		return -1;
	}
	if (t->n % 64 == 0)
		t->v = xrealloc(t->v, (t->n + 64) * sizeof(*t->v));
	e = &t->v[t->n];
	memset(e, 0, sizeof(*e));
	e->name = key;
	if (dns_table_name(key, &e->len) == -1) {
		snprintf(why, wsz, "names: \"%.64s\" is not a DNS name", key);
		free(key);
		return -1;
	}
	t->n++;
	return dns_table_addrs(c, e, why, wsz);
}

int
dns_table_read(struct jread *c, struct dns_table *t, char *why, size_t wsz)
{
	int more;

	memset(t, 0, sizeof(*t));
	if (!jread_eat(c, '{')) {
		snprintf(why, wsz, "names: not a JSON object");
		goto fail;
	}
	if (jread_eat(c, '}'))
		return 0;
	do {
		if (dns_table_member(c, t, why, wsz) == -1)
			goto fail;
	} while ((more = jread_more(c, '}')) == 1);
	if (more == 0)
		return 0;
	snprintf(why, wsz, "names: not a JSON object");
fail:
	dns_table_free(t);
	return -1;
}

int
dns_table_request(
    const char *req, size_t len, struct dns_table *t, char *why, size_t wsz)
{
	struct jread c;
	char *key = NULL;
	int more = 0, seen = 0;

	memset(t, 0, sizeof(*t));
	jread_init(&c, req, len);
	if (!jread_eat(&c, '{'))
		goto bad;
	if (!jread_eat(&c, '}'))
		do {
			if (jread_member(&c, &key) == -1)
				goto bad;
			if (strcmp(key, "names") == 0 && !seen) {
				seen = 1;
				if (dns_table_read(&c, t, why, wsz) == -1)
					goto fail;
			} else if (jread_skip(&c) == -1) {
				goto bad;
			}
			free(key);
			key = NULL;
		} while ((more = jread_more(&c, '}')) == 1);
	if (more == -1)
		goto bad;
	if (seen)
		return 0;
	snprintf(why, wsz, "names: the request has no \"names\" object");
	goto fail;
bad:
	snprintf(why, wsz, "names: the request is not a JSON object");
fail:
	free(key);
	dns_table_free(t);
	return -1;
}

/* ---- messages ---- */

struct dns_q {
	char name[256]; /* dotted, lower case */
	size_t len;
	unsigned type, cls;
	size_t end; /* offset past the question */
};

static unsigned
dns_u16(const unsigned char *p)
{
	return (unsigned)p[0] << 8 | p[1];
}

static unsigned char *
dns_put16(unsigned char *p, unsigned v)
{
	p[0] = (unsigned char)(v >> 8);
	p[1] = (unsigned char)v;
	return p + 2;
}

/* The name at off into q->name; *end past its bytes where it starts. */
static int
dns_read_name(const unsigned char *m, size_t n, size_t off, struct dns_q *q)
{
	size_t pos = off, len = 0, i;
	int jumps = 0;
	unsigned c;

	q->end = 0;
	for (;;) {
		if (pos >= n)
			return -1;
		c = m[pos];
		if (c == 0)
			break;
		if ((c & 0xc0) == 0xc0) {
			size_t ptr;

			if (pos + 1 >= n)
				return -1;
			ptr = (c & 0x3f) << 8 | m[pos + 1];
			if (q->end == 0)
				q->end = pos + 2;
			/* Only backwards, so it ends even without the cap. */
			if (ptr >= pos || ++jumps > DNS_JUMPS)
				return -1;
			pos = ptr;
			continue;
		}
		if ((c & 0xc0) != 0 || pos + 1 + c > n ||
		    len + c + (len > 0) > 255)
			return -1;
		if (len > 0)
			q->name[len++] = '.';
		for (i = 0; i < c; i++)
			q->name[len++] =
			    (char)tolower((unsigned char)m[pos + 1 + i]);
		pos += 1 + c;
	}
	if (q->end == 0)
		q->end = pos + 1;
	q->name[len] = '\0';
	q->len = len;
	return 0;
}

/* The header and the one question of a query; -1: not a query. */
static int
dns_read_query(const unsigned char *m, size_t n, struct dns_q *q)
{
	if (n < DNS_HDR || (m[2] & 0x80) != 0 || dns_u16(m + 4) != 1 ||
	    dns_read_name(m, n, DNS_HDR, q) == -1 || q->end + 4 > n)
		return -1;
	q->type = dns_u16(m + q->end);
	q->cls = dns_u16(m + q->end + 2);
	q->end += 4;
	return 0;
}

/* Header and question of the answer to m; the records follow at the
 * returned pointer. */
static unsigned char *
dns_reply_head(const unsigned char *m, const struct dns_q *q, int rcode,
    unsigned ancount, unsigned char *out)
{
	memcpy(out, m, q->end);
	out[2] = (unsigned char)(0x80 | (m[2] & 0x79)); /* QR, opcode, RD */
	out[3] = (unsigned char)(0x80 | rcode);		/* RA */
	dns_put16(out + 6, ancount);
	dns_put16(out + 8, 0);
	dns_put16(out + 10, 0);
	return out + q->end;
}

ssize_t
dns_error(
    const unsigned char *m, size_t n, int rcode, unsigned char *out, size_t cap)
{
	struct dns_q q;

	if (dns_read_query(m, n, &q) == -1 || cap < q.end)
		return -1;
	return dns_reply_head(m, &q, rcode, 0, out) - out;
}

static const struct dns_name *
dns_find(const struct dns_table *t, const char *name, size_t len)
{
	size_t i;

	for (i = 0; i < t->n; i++)
		if (t->v[i].len == len && memcmp(t->v[i].name, name, len) == 0)
			return &t->v[i];
	return NULL;
}

/* The length of name[0..len) without ".dom" at its end; 0 when it does
 * not end so. */
static size_t
dns_strip(const char *name, size_t len, const char *dom)
{
	size_t d = strlen(dom);

	if (d > 0 && dom[d - 1] == '.')
		d--;
	if (d > 0 && len > d + 1 && name[len - d - 1] == '.' &&
	    strncasecmp(name + len - d, dom, d) == 0)
		return len - d - 1;
	return 0;
}

/* The name, or the name with one of the search domains stripped. */
static const struct dns_name *
dns_lookup(const struct dns_table *t, char *const *search, const char *name,
    size_t len)
{
	const struct dns_name *e;
	size_t i, l;

	if (len > 0 && name[len - 1] == '.')
		len--;
	if ((e = dns_find(t, name, len)) != NULL)
		return e;
	for (i = 0; search != NULL && search[i] != NULL; i++)
		if ((l = dns_strip(name, len, search[i])) > 0 &&
		    (e = dns_find(t, name, l)) != NULL)
			return e;
	return NULL;
}

/* d.c.b.a.in-addr.arpa into *addr (network order): four decimal labels
 * of 1 to 3 digits, each at most 255. */
static int
dns_ptr_addr(const char *name, uint32_t *addr)
{
	uint32_t a = 0;
	unsigned v;
	int i, d;

	for (i = 0; i < 4; i++) {
		for (v = 0, d = 0; d < 3 && name[d] >= '0' && name[d] <= '9';
		     d++)
			v = v * 10 + (unsigned)(name[d] - '0');
		if (d == 0 || v > 255 || name[d] != '.')
			return -1;
		a |= (uint32_t)v << (8 * i);
		name += d + 1;
	}
	if (strcmp(name, "in-addr.arpa") != 0)
		return -1;
	*addr = htonl(a);
	return 0;
}

static const struct dns_name *
dns_find_addr(const struct dns_table *t, uint32_t addr)
{
	size_t i;
	int j;

	for (i = 0; i < t->n; i++)
		for (j = 0; j < t->v[i].naddr; j++)
			if (t->v[i].addr[j] == addr)
				return &t->v[i];
	return NULL;
}

/* The table's name of a PTR query's address, the query's name read as it
 * is or with a search domain stripped (resolvers that search first). */
static const struct dns_name *
dns_lookup_ptr(
    const struct dns_table *t, char *const *search, const struct dns_q *q)
{
	char name[256];
	uint32_t addr;
	size_t i, l;

	if (dns_ptr_addr(q->name, &addr) == 0)
		return dns_find_addr(t, addr);
	for (i = 0; search != NULL && search[i] != NULL; i++)
		if ((l = dns_strip(q->name, q->len, search[i])) > 0) {
			memcpy(name, q->name, l);
			name[l] = '\0';
			if (dns_ptr_addr(name, &addr) == 0)
				return dns_find_addr(t, addr);
		}
	return NULL;
}

/* One record's owner (the question's name), type, class and TTL. */
static unsigned char *
dns_rr(unsigned char *p, unsigned type, unsigned rdlen)
{
	p = dns_put16(p, 0xc000 | DNS_HDR);
	p = dns_put16(p, type);
	p = dns_put16(p, DNS_IN);
	p = dns_put16(p, DNS_TTL >> 16);
	p = dns_put16(p, DNS_TTL & 0xffff);
	return dns_put16(p, rdlen);
}

static ssize_t
dns_answer_ptr(const unsigned char *m, const struct dns_q *q,
    const struct dns_name *e, unsigned char *out, size_t cap)
{
	unsigned char *p;
	const char *s = e->name, *dot;
	size_t l;

	if (cap < q->end + 12 + e->len + 2)
		return -1;
	p = dns_rr(
	    dns_reply_head(m, q, 0, 1, out), DNS_PTR, (unsigned)e->len + 2);
	for (;;) {
		dot = strchr(s, '.');
		l = dot != NULL ? (size_t)(dot - s) : strlen(s);
		if (l == 0 || l > 63)
			return 0; /* not a name a PTR can carry */
		*p++ = (unsigned char)l;
		memcpy(p, s, l);
		p += l;
		if (dot == NULL)
			break;
		s = dot + 1;
	}
	*p++ = 0;
	return p - out;
}

ssize_t
dns_local(const struct dns_table *t, char *const *search,
    const unsigned char *m, size_t n, unsigned char *out, size_t cap)
{
	const struct dns_name *e;
	struct dns_q q;
	unsigned char *p;
	int i;

	if (dns_read_query(m, n, &q) == -1)
		return -1;
	if ((m[2] & 0x78) != 0) /* opcode: only QUERY */
		return cap < q.end ? -1 :
				     dns_reply_head(m, &q, 4, 0, out) - out;
	if (q.cls != DNS_IN)
		return 0;
	if (q.type == DNS_PTR && (e = dns_lookup_ptr(t, search, &q)) != NULL)
		return dns_answer_ptr(m, &q, e, out, cap);
	if ((q.type != DNS_A && q.type != DNS_AAAA) ||
	    (e = dns_lookup(t, search, q.name, q.len)) == NULL)
		return 0;
	if (q.type == DNS_AAAA) /* known, IPv4 only: no error, no records */
		return cap < q.end ? -1 :
				     dns_reply_head(m, &q, 0, 0, out) - out;
	if (cap < q.end + (size_t)e->naddr * 16)
		return -1;
	p = dns_reply_head(m, &q, 0, (unsigned)e->naddr, out);
	for (i = 0; i < e->naddr; i++) {
		p = dns_rr(p, DNS_A, 4);
		memcpy(p, &e->addr[i], 4);
		p += 4;
	}
	return p - out;
}
