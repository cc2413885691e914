/* The resolver on 127.0.0.11:53, as Docker's embedded DNS: names of the
 * table answered here (dnsmsg.c), other UDP queries forwarded to the
 * upstreams over UDP with their ID remapped, other TCP queries forwarded
 * over TCP (one upstream connection per client connection). Memory is
 * bounded whatever the clients send: fixed arrays, and one 64 KiB buffer
 * per TCP client only while an upstream's answer passes through. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <unistd.h>

#include "agent.h"
#include "modules.h"
#include "net.h"
#include "proc.h"

#define DNS_UP_MAX	8
#define DNS_PENDING	64
#define DNS_QUERY_MAX	4096
#define DNS_TIMEOUT_MS	2000
#define DNS_TCP_MAX	16
#define DNS_TCP_IDLE_MS 10000
#define DNS_BATCH	64 /* datagrams read per wake-up */
#define DNS_SERVFAIL	2

struct dns_pend {
	int used, up;
	uint16_t id, fid;
	struct sockaddr_in from;
	int64_t deadline;
	size_t len;
	unsigned char q[DNS_QUERY_MAX];
};

struct dns_tcp {
	int fd;
	int64_t last;
	size_t have; /* bytes in in: queries, the first one being served */
	unsigned char in[2 + DNS_QUERY_MAX];
	/* The answer being written: ans is out (made here) or big (an
	 * upstream's). */
	unsigned char out[2 + 2 * DNS_QUERY_MAX], *ans, *big;
	size_t outoff, outlen;
	/* Forwarding the first query (qlen > 0) to upstream up over up_fd. */
	size_t qlen, up_sent, up_have;
	int up, up_fd;
	int64_t up_deadline;
};

static struct {
	int on, udp, tcp, fwd;
	struct sockaddr_in up[DNS_UP_MAX];
	int nup;
	char **search;
	struct dns_table names;
	struct dns_pend pend[DNS_PENDING];
	struct dns_tcp conn[DNS_TCP_MAX];
} dns; /* zero: in .bss, the arrays cost the static binary nothing */

static unsigned char dns_buf[DNS_MSG_MAX], dns_ans[DNS_MSG_MAX];

static void
dns_put_id(unsigned char *m, uint16_t id)
{
	m[0] = (unsigned char)(id >> 8);
	m[1] = (unsigned char)id;
}

/* "ip" or "ip:port" (IPv4). */
static int
dns_addr(const char *s, uint16_t dflt, struct sockaddr_in *sa)
{
	char host[64];
	const char *colon = strchr(s, ':');
	char *end;
	unsigned long port = dflt;

	memset(sa, 0, sizeof(*sa));
	sa->sin_family = AF_INET;
	if (snprintf(host, sizeof(host), "%.*s",
		colon != NULL ? (int)(colon - s) : (int)strlen(s),
		s) >= (int)sizeof(host))
		return -1;
	if (colon != NULL) {
		errno = 0;
		port = strtoul(colon + 1, &end, 10);
		if (*end != '\0' || errno != 0 || port == 0 || port > 65535)
			return -1;
	}
	sa->sin_port = htons((uint16_t)port);
	return inet_pton(AF_INET, host, &sa->sin_addr) == 1 ? 0 : -1;
}

static void
dns_close(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

static int
dns_socket(int type, const struct sockaddr_in *sa)
{
	int fd = socket(AF_INET, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	int one = 1;

	if (fd == -1)
		return -1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (sa != NULL &&
	    (bind(fd, (const struct sockaddr *)sa, sizeof(*sa)) == -1 ||
		(type == SOCK_STREAM && listen(fd, 16) == -1))) {
		int e = errno;
		close(fd);
		errno = e;
		return -1;
	}
	return fd;
}

static void
dns_upstreams(char *const *ups, const struct sockaddr_in *self)
{
	size_t i;

	for (i = 0; ups != NULL && ups[i] != NULL; i++) {
		struct sockaddr_in *sa = &dns.up[dns.nup];

		if (dns_addr(ups[i], 53, sa) == -1) {
			fprintf(stderr,
			    "sockerless-agent: resolver: upstream %s is not "
			    "an IPv4 address; not used\n",
			    ups[i]);
			continue;
		}
		/* The original resolv.conf may already name the resolver. */
		if (sa->sin_addr.s_addr == self->sin_addr.s_addr &&
		    sa->sin_port == self->sin_port)
			continue;
		if (dns.nup == DNS_UP_MAX) {
			fprintf(stderr,
			    "sockerless-agent: resolver: more than %d "
			    "upstreams; %s and later not used\n",
			    DNS_UP_MAX, ups[i]);
			break;
		}
		dns.nup++;
	}
}

int
dns_start(const char *listen, char *const *ups, char *const *search,
    struct dns_table *names)
{
	struct sockaddr_in self;
	const char *where = listen != NULL ? listen : "127.0.0.11:53";
	size_t n = 0, i;

	dns.udp = dns.tcp = dns.fwd = -1;
	if (dns_addr(where, 53, &self) == -1) {
		fprintf(stderr, "sockerless-agent: resolver: bad address %s\n",
		    where);
		return -1;
	}
	if ((dns.udp = dns_socket(SOCK_DGRAM, &self)) == -1 ||
	    (dns.tcp = dns_socket(SOCK_STREAM, &self)) == -1 ||
	    (dns.fwd = dns_socket(SOCK_DGRAM, NULL)) == -1) {
		fprintf(stderr,
		    "sockerless-agent: resolver: cannot listen on "
		    "%s: %s; names of the network do not resolve\n",
		    where, strerror(errno));
		dns_close(&dns.udp);
		dns_close(&dns.tcp);
		dns_close(&dns.fwd);
		return -1;
	}
	dns_upstreams(ups, &self);
	while (search != NULL && search[n] != NULL)
		n++;
	dns.search = xmalloc((n + 1) * sizeof(char *));
	for (i = 0; i < n; i++)
		dns.search[i] =
		    strcpy(xmalloc(strlen(search[i]) + 1), search[i]);
	dns.search[n] = NULL;
	for (i = 0; i < DNS_TCP_MAX; i++)
		dns.conn[i].fd = dns.conn[i].up_fd = -1;
	dns.on = 1;
	dns_set_names(names);
	return 0;
}

void
dns_set_names(struct dns_table *t)
{
	dns_table_free(&dns.names);
	dns.names = *t;
	t->v = NULL;
	t->n = 0;
}

void
dns_names_open(uint32_t ch, const char *req, size_t len)
{
	struct dns_table t;
	struct jsonw w;
	char why[256], *json;

	if (dns_table_request(req, len, &t, why, sizeof(why)) == -1 ||
	    relay_view(req, len, &t, why, sizeof(why)) == -1) {
		dns_table_free(&t);
		jsonw_init(&w);
		jsonw_puts(&w, "{\"status\":400,\"message\":");
		jsonw_str(&w, why, strlen(why));
		jsonw_puts(&w, "}");
		json = jsonw_take(&w);
		chan_reply(ch, json);
		free(json);
		return;
	}
	if (!dns.on) {
		dns_table_free(&t);
		chan_reply(ch,
		    "{\"status\":409,\"message\":\"the agent serves "
		    "no resolver in this workload (SOCKERLESS_NET "
		    "has no \\\"resolver\\\": true, or it could "
		    "not listen)\"}");
		return;
	}
	dns_set_names(&t);
	chan_reply(ch, "{}");
}

/* ---- UDP: answers and forwarding ---- */

static void
dns_send_error(
    int fd, const unsigned char *q, size_t n, const struct sockaddr_in *to)
{
	ssize_t r = dns_error(q, n, DNS_SERVFAIL, dns_ans, sizeof(dns_ans));

	if (r > 0)
		sendto(fd, dns_ans, (size_t)r, 0, (const struct sockaddr *)to,
		    sizeof(*to));
}

static int
dns_fid_used(uint16_t fid)
{
	int i;

	for (i = 0; i < DNS_PENDING; i++)
		if (dns.pend[i].used && dns.pend[i].fid == fid)
			return 1;
	return 0;
}

/* Sends p to its current upstream, or the next ones; -1 when none took
 * it. */
static int
dns_forward_send(struct dns_pend *p)
{
	uint16_t fid;

	for (; p->up < dns.nup; p->up++) {
		do {
			if (getrandom(&fid, sizeof(fid), 0) != sizeof(fid))
				fid = (uint16_t)(proc_now_us() ^ p->id);
		} while (dns_fid_used(fid));
		p->fid = fid;
		dns_put_id(p->q, fid);
		if (sendto(dns.fwd, p->q, p->len, 0,
			(const struct sockaddr *)&dns.up[p->up],
			sizeof(dns.up[0])) >= 0) {
			p->deadline = proc_now_ms() + DNS_TIMEOUT_MS;
			return 0;
		}
	}
	return -1;
}

static void
dns_forward(const unsigned char *q, size_t n, const struct sockaddr_in *from)
{
	struct dns_pend *p = NULL;
	int i;

	for (i = 0; i < DNS_PENDING && p == NULL; i++)
		if (!dns.pend[i].used)
			p = &dns.pend[i];
	if (p == NULL || n > DNS_QUERY_MAX || dns.nup == 0) {
		dns_send_error(dns.udp, q, n, from);
		return;
	}
	memcpy(p->q, q, n);
	p->len = n;
	p->id = (uint16_t)(q[0] << 8 | q[1]);
	p->from = *from;
	p->up = 0;
	p->used = 1;
	if (dns_forward_send(p) == -1) {
		dns_put_id(p->q, p->id);
		dns_send_error(dns.udp, p->q, p->len, &p->from);
		p->used = 0;
	}
}

static void
dns_on_query(void *arg, short revents)
{
	struct sockaddr_in from;
	socklen_t fl;
	ssize_t n, r;
	int i;

	(void)arg;
	(void)revents;
	for (i = 0; i < DNS_BATCH; i++) {
		fl = sizeof(from);
		memset(&from, 0, sizeof(from));
		n = recvfrom(dns.udp, dns_buf, sizeof(dns_buf), 0,
		    (struct sockaddr *)&from, &fl);
		if (n < 0)
			return;
		if (fl != sizeof(from) || from.sin_family != AF_INET)
			continue;
		r = dns_local(&dns.names, dns.search, dns_buf, (size_t)n,
		    dns_ans, sizeof(dns_ans));
		if (r > 0)
			sendto(dns.udp, dns_ans, (size_t)r, 0,
			    (struct sockaddr *)&from, sizeof(from));
		else if (r == 0)
			dns_forward(dns_buf, (size_t)n, &from);
	}
}

static void
dns_on_answer(void *arg, short revents)
{
	struct sockaddr_in from;
	struct dns_pend *p;
	socklen_t fl;
	ssize_t n;
	uint16_t id;
	int i, k;

	(void)arg;
	(void)revents;
	for (k = 0; k < DNS_BATCH; k++) {
		fl = sizeof(from);
		memset(&from, 0, sizeof(from));
		n = recvfrom(dns.fwd, dns_buf, sizeof(dns_buf), 0,
		    (struct sockaddr *)&from, &fl);
		if (n < 0)
			return;
		if (n < 12 || (dns_buf[2] & 0x80) == 0)
			continue;
		id = (uint16_t)(dns_buf[0] << 8 | dns_buf[1]);
		for (i = 0; i < DNS_PENDING; i++) {
			p = &dns.pend[i];
			if (p->used && p->fid == id &&
			    from.sin_addr.s_addr ==
				dns.up[p->up].sin_addr.s_addr &&
			    from.sin_port == dns.up[p->up].sin_port)
				break;
		}
		if (i == DNS_PENDING)
			continue; /* late, or not an answer to us */
		dns_put_id(dns_buf, p->id);
		sendto(dns.udp, dns_buf, (size_t)n, 0,
		    (struct sockaddr *)&p->from, sizeof(p->from));
		p->used = 0;
	}
}

static void
dns_timeouts(int64_t now)
{
	struct dns_pend *p;
	int i;

	for (i = 0; i < DNS_PENDING; i++) {
		p = &dns.pend[i];
		if (!p->used)
			continue;
		if (now >= p->deadline) {
			p->up++;
			if (dns_forward_send(p) == -1) {
				dns_put_id(p->q, p->id);
				dns_send_error(dns.udp, p->q, p->len, &p->from);
				p->used = 0;
				continue;
			}
		}
		loop_timer(p->deadline);
	}
}

/* ---- TCP: two-byte length, then the message ---- */

static void
dns_tcp_fwd_end(struct dns_tcp *t)
{
	t->last = proc_now_ms(); /* the idle time starts after the answer */
	dns_close(&t->up_fd);
	t->have -= 2 + t->qlen;
	memmove(t->in, t->in + 2 + t->qlen, t->have);
	t->qlen = 0;
}

static void
dns_tcp_close(struct dns_tcp *t)
{
	dns_close(&t->fd);
	dns_close(&t->up_fd);
	free(t->big);
	t->big = NULL;
	t->qlen = t->have = t->outoff = t->outlen = 0;
}

/* The answer in t->out: r bytes at t->out + 2. */
static void
dns_tcp_answer(struct dns_tcp *t, ssize_t r)
{
	if (r <= 0)
		return;
	t->out[0] = (unsigned char)(r >> 8);
	t->out[1] = (unsigned char)r;
	t->ans = t->out;
	t->outlen = (size_t)r + 2;
	t->outoff = 0;
}

/* Connects to the current upstream or the next ones; SERVFAIL when none
 * is left. */
static void
dns_tcp_fwd_connect(struct dns_tcp *t)
{
	for (; t->up < dns.nup; t->up++) {
		if ((t->up_fd = dns_socket(SOCK_STREAM, NULL)) == -1)
			break;
		if (connect(t->up_fd, (const struct sockaddr *)&dns.up[t->up],
			sizeof(dns.up[0])) == 0 ||
		    errno == EINPROGRESS) {
			t->up_sent = t->up_have = 0;
			t->up_deadline = proc_now_ms() + DNS_TIMEOUT_MS;
			return;
		}
		dns_close(&t->up_fd);
	}
	dns_tcp_answer(t,
	    dns_error(t->in + 2, t->qlen, DNS_SERVFAIL, t->out + 2,
		sizeof(t->out) - 2));
	dns_tcp_fwd_end(t);
}

static void
dns_tcp_fwd_next(struct dns_tcp *t)
{
	dns_close(&t->up_fd);
	t->up++;
	dns_tcp_fwd_connect(t);
}

/* A whole query at the head of t->in: answered from the table, or
 * forwarded over TCP (the ID is kept: the connection is its own). */
static void
dns_tcp_query(struct dns_tcp *t, size_t n)
{
	ssize_t r = dns_local(&dns.names, dns.search, t->in + 2, n, t->out + 2,
	    sizeof(t->out) - 2);

	t->qlen = n;
	if (r == 0 && dns.nup > 0) {
		t->up = 0;
		dns_tcp_fwd_connect(t);
		return;
	}
	if (r == 0)
		r = dns_error(
		    t->in + 2, n, DNS_SERVFAIL, t->out + 2, sizeof(t->out) - 2);
	dns_tcp_answer(t, r);
	t->up_fd = -1;
	dns_tcp_fwd_end(t);
}

/* The upstream's side: the query out, then its answer in (up to 64 KiB,
 * held only while forwarding). */
static void
dns_on_upstream(void *arg, short revents)
{
	struct dns_tcp *t = arg;
	size_t need;
	ssize_t r;

	(void)revents;
	if (t->up_sent < 2 + t->qlen) {
		r = write(
		    t->up_fd, t->in + t->up_sent, 2 + t->qlen - t->up_sent);
		if (r > 0)
			t->up_sent += (size_t)r;
		else if (r < 0 && errno != EAGAIN && errno != EINTR)
			dns_tcp_fwd_next(t);
		return;
	}
	if (t->big == NULL)
		t->big = xmalloc(2 + DNS_MSG_MAX);
	r = read(t->up_fd, t->big + t->up_have, 2 + DNS_MSG_MAX - t->up_have);
	if (r == 0 || (r < 0 && errno != EAGAIN && errno != EINTR)) {
		dns_tcp_fwd_next(t);
		return;
	}
	if (r > 0)
		t->up_have += (size_t)r;
	if (t->up_have < 2)
		return;
	need = (size_t)t->big[0] << 8 | t->big[1];
	if (need < 12) {
		dns_tcp_fwd_next(t);
		return;
	}
	if (t->up_have < 2 + need)
		return;
	t->ans = t->big;
	t->outlen = 2 + need;
	t->outoff = 0;
	dns_tcp_fwd_end(t);
}

static void
dns_on_accept(void *arg, short revents)
{
	struct sockaddr_in peer;
	socklen_t pl = sizeof(peer);
	struct dns_tcp *t;
	int fd, i;

	(void)arg;
	(void)revents;
	while ((fd = accept4(dns.tcp, (struct sockaddr *)&peer, &pl,
		    SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0) {
		pl = sizeof(peer);
		for (i = 0; i < DNS_TCP_MAX && dns.conn[i].fd >= 0; i++)
			;
		if (i == DNS_TCP_MAX) {
			close(fd); /* full: the client retries */
			continue;
		}
		t = &dns.conn[i];
		t->fd = fd;
		t->up_fd = -1;
		t->have = t->outoff = t->outlen = t->qlen = 0;
		t->last = proc_now_ms();
	}
}

static void
dns_on_tcp(void *arg, short revents)
{
	struct dns_tcp *t = arg;
	size_t need;
	ssize_t r;

	(void)revents;
	t->last = proc_now_ms();
	if (t->outoff < t->outlen) {
		r = write(t->fd, t->ans + t->outoff, t->outlen - t->outoff);
		if (r < 0 && errno != EAGAIN && errno != EINTR) {
			dns_tcp_close(t);
			return;
		}
		if (r > 0 && (t->outoff += (size_t)r) == t->outlen &&
		    t->ans == t->big) {
			free(t->big);
			t->big = NULL;
		}
		return;
	}
	r = read(t->fd, t->in + t->have, sizeof(t->in) - t->have);
	if (r == 0 || (r < 0 && errno != EAGAIN && errno != EINTR)) {
		dns_tcp_close(t);
		return;
	}
	if (r > 0)
		t->have += (size_t)r;
	if (t->have < 2)
		return;
	need = (size_t)t->in[0] << 8 | t->in[1];
	if (need == 0 || need > DNS_QUERY_MAX) {
		dns_tcp_close(t); /* not a query we keep room for */
		return;
	}
	if (t->have >= 2 + need)
		dns_tcp_query(t, need);
}

/* One client's descriptors: the upstream while forwarding, else the
 * client (its answer out, or its next query in). */
static void
dns_tcp_prepare(struct dns_tcp *t, int64_t now)
{
	size_t need;

	if (t->qlen > 0) {
		if (now >= t->up_deadline)
			dns_tcp_fwd_next(t);
		if (t->qlen > 0) {
			loop_watch(t->up_fd,
			    t->up_sent < 2 + t->qlen ? POLLOUT : POLLIN,
			    dns_on_upstream, t);
			loop_timer(t->up_deadline);
			return;
		}
	}
	if (now - t->last >= DNS_TCP_IDLE_MS) {
		dns_tcp_close(t);
		return;
	}
	/* Pipelined queries already read are answered first. */
	need = t->have >= 2 ? ((size_t)t->in[0] << 8 | t->in[1]) : 0;
	if (t->outoff >= t->outlen && need > 0 && t->have >= 2 + need) {
		dns_tcp_query(t, need);
		if (t->qlen > 0) {
			dns_tcp_prepare(t, now);
			return;
		}
	}
	loop_watch(
	    t->fd, t->outoff < t->outlen ? POLLOUT : POLLIN, dns_on_tcp, t);
	loop_timer(t->last + DNS_TCP_IDLE_MS);
}

void
dns_prepare(int64_t now)
{
	int i;

	if (!dns.on)
		return;
	loop_watch(dns.udp, POLLIN, dns_on_query, NULL);
	loop_watch(dns.fwd, POLLIN, dns_on_answer, NULL);
	loop_watch(dns.tcp, POLLIN, dns_on_accept, NULL);
	dns_timeouts(now);
	for (i = 0; i < DNS_TCP_MAX; i++)
		if (dns.conn[i].fd >= 0)
			dns_tcp_prepare(&dns.conn[i], now);
}
