/* Relay mode (docs/networks.md, "Relay mode"): workloads that accept no
 * inbound connections reach the peers of their networks through the
 * backend. Each peer the backend names in the `names` kind's "peers" gets
 * a loopback address of its own, 127.A.B.N, where A.B come from this
 * container's id (workloads sharing one host network, as on the GCP
 * simulator, then do not collide) and N from 2 up (1 is the resolver's);
 * the agent listens there on the peer's ports, its resolver answers the
 * peer's names with that address, and each accepted connection becomes a
 * CONNECT {"peer": id, "port": N} carried over the link. The peer's UDP
 * ports get a UDP socket there whose datagrams udp.c carries. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "agent.h"
#include "jread.h"
#include "net.h"

#define RELAY_PEERS_MAX	    200 /* N from 2 to 201 */
#define RELAY_PORTS_MAX	    64 /* per peer and protocol, as the backend sends */
#define RELAY_SOCKS_MAX	    (2 * RELAY_PORTS_MAX) /* TCP, then UDP */
#define RELAY_LISTENERS_MAX 512 /* in all: the workload needs descriptors */
#define RELAY_BACKLOG	    64

struct relay_peer {
	char id[65]; /* "" for a free slot */
	int seen;    /* in the view being read */
	int nports;
	int ports[RELAY_SOCKS_MAX];
	unsigned char udp[RELAY_SOCKS_MAX];
	int fds[RELAY_SOCKS_MAX];
};

static struct {
	int on;
	unsigned a, b;
	size_t listeners;
	struct relay_peer peers[RELAY_PEERS_MAX];
} relay;

/* One hex digit's value, or -1. */
static int
relay_hex(char ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	if (ch >= 'a' && ch <= 'f')
		return ch - 'a' + 10;
	if (ch >= 'A' && ch <= 'F')
		return ch - 'A' + 10;
	return -1;
}

int
relay_init(const char *container_id)
{
	int h[4], i;

	for (i = 0; i < 4; i++)
		if (container_id == NULL ||
		    (h[i] = relay_hex(container_id[i])) == -1) {
			fprintf(stderr,
			    "sockerless-agent: relay mode needs "
			    "SOCKERLESS_CONTAINER_ID (hex); peers of the "
			    "network are not served\n");
			return -1;
		}
	/* Never 127.0.x.x, where 127.0.0.1 and Docker's 127.0.0.11 live. */
	relay.a = 1 + (unsigned)(h[0] << 4 | h[1]) % 255;
	relay.b = (unsigned)(h[2] << 4 | h[3]);
	relay.on = 1;
	for (i = 0; i < RELAY_PEERS_MAX; i++)
		memset(relay.peers[i].fds, 0xff, sizeof(relay.peers[i].fds));
	return 0;
}

int
relay_on(void)
{
	return relay.on;
}

void
relay_addr(int n, char *buf, size_t sz)
{
	snprintf(buf, sz, "127.%u.%u.%d", relay.a, relay.b, n);
}

/* A listener (a UDP socket with udp) on the peer's address; -1 after a
 * line on stderr. */
static int
relay_listen(size_t slot, int port, int udp)
{
	struct sockaddr_in sa;
	char ip[20];
	int fd, one = 1;

	relay_addr((int)slot + 2, ip, sizeof(ip));
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_port = htons((uint16_t)port);
	inet_pton(AF_INET, ip, &sa.sin_addr);
	fd = socket(AF_INET,
	    (udp ? SOCK_DGRAM : SOCK_STREAM) | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd == -1)
		goto fail;
	/* Not for UDP, where it would let two sockets share the port. */
	if (!udp)
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == -1 ||
	    (!udp && listen(fd, RELAY_BACKLOG) == -1))
		goto fail;
	relay.listeners++;
	return fd;
fail:
	fprintf(stderr,
	    "sockerless-agent: cannot listen on %s:%d%s for peer %.12s: %s\n",
	    ip, port, udp ? "/udp" : "", relay.peers[slot].id, strerror(errno));
	if (fd != -1)
		close(fd);
	return -1;
}

static void
relay_close(struct relay_peer *p, int i)
{
	if (p->fds[i] != -1) {
		if (p->udp[i])
			udp_socket_gone(p->fds[i]);
		close(p->fds[i]);
		relay.listeners--;
	}
	p->fds[i] = -1;
}

/* The slot of id: its own, else a free one; -1 when all are taken. */
static int
relay_slot(const char *id)
{
	int i, free_slot = -1;

	for (i = 0; i < RELAY_PEERS_MAX; i++) {
		if (strcmp(relay.peers[i].id, id) == 0)
			return i;
		if (free_slot == -1 && relay.peers[i].id[0] == '\0')
			free_slot = i;
	}
	if (free_slot != -1)
		snprintf(relay.peers[free_slot].id, sizeof(relay.peers[0].id),
		    "%s", id);
	return free_slot;
}

/* The listeners of slot s become those of ports[0..n) (UDP where udp[]
 * says): kept where the port stays, closed where it went, opened where it
 * is new. */
static void
relay_ports(int s, const int *ports, const unsigned char *udp, int n)
{
	struct relay_peer *p = &relay.peers[s];
	int fds[RELAY_SOCKS_MAX], i, j;

	for (j = 0; j < n; j++) {
		fds[j] = -1;
		for (i = 0; i < p->nports; i++)
			if (p->ports[i] == ports[j] && p->udp[i] == udp[j] &&
			    p->fds[i] != -1) {
				fds[j] = p->fds[i];
				p->fds[i] = -1;
			}
	}
	for (i = 0; i < p->nports; i++)
		relay_close(p, i);
	for (j = 0; j < n; j++) {
		if (fds[j] == -1 && relay.listeners < RELAY_LISTENERS_MAX)
			fds[j] = relay_listen((size_t)s, ports[j], udp[j]);
		else if (fds[j] == -1)
			fprintf(stderr,
			    "sockerless-agent: more than %d relayed ports: "
			    "port %d%s of peer %.12s not served\n",
			    RELAY_LISTENERS_MAX, ports[j], udp[j] ? "/udp" : "",
			    p->id);
		p->ports[j] = ports[j];
		p->udp[j] = udp[j];
		p->fds[j] = fds[j];
	}
	p->nports = n;
}

/* name -> the address, into t (a name two peers share gets both). */
static int
relay_table_add(struct dns_table *t, const char *name, uint32_t addr)
{
	struct dns_name *e;
	char *low;
	size_t i, len = strlen(name);

	if (len > 0 && name[len - 1] == '.')
		len--;
	if (len == 0 || len > 253)
		return 0; /* not a name a query can carry */
	low = xmalloc(len + 1);
	for (i = 0; i < len; i++)
		low[i] = (char)(name[i] >= 'A' && name[i] <= 'Z' ?
			name[i] - 'A' + 'a' :
			name[i]);
	low[len] = '\0';
	for (i = 0; i < t->n; i++)
		if (t->v[i].len == len && memcmp(t->v[i].name, low, len) == 0)
			break;
	if (i == t->n) {
		if (t->n == DNS_NAMES_MAX) {
			free(low);
			return -1;
		}
		if (t->n % 64 == 0)
			t->v = xrealloc(t->v, (t->n + 64) * sizeof(*t->v));
		e = &t->v[t->n++];
		memset(e, 0, sizeof(*e));
		e->name = low;
		e->len = len;
	} else {
		free(low);
		e = &t->v[i];
	}
	if (e->naddr < DNS_ADDRS_MAX)
		e->addr[e->naddr++] = addr;
	return 0;
}

struct relay_in {
	char *id;
	char **names;
	int ports[RELAY_SOCKS_MAX], nports, ntcp, nudp;
	unsigned char udp[RELAY_SOCKS_MAX];
};

/* One peer's "ports" (TCP) or "udp": [n, ...], appended to in's ports. */
static int
relay_read_ports(struct jread *c, struct relay_in *in, int udp)
{
	int *count = udp ? &in->nudp : &in->ntcp;
	int64_t v;
	int more;

	if (!jread_eat(c, '['))
		return -1;
	if (jread_eat(c, ']'))
		return 0;
	do {
		if (jread_number(c, &v) == -1)
			return -1;
		if (v >= 1 && v <= 65535 && *count < RELAY_PORTS_MAX) {
			(*count)++;
			in->udp[in->nports] = (unsigned char)udp;
			in->ports[in->nports++] = (int)v;
		}
	} while ((more = jread_more(c, ']')) == 1);
	return more == 0 ? 0 : -1;
}

/* One peer object {"id", "names", "ports"} into in. */
static int
relay_read_peer(struct jread *c, struct relay_in *in)
{
	char *key = NULL;
	int more, rc = 0;

	memset(in, 0, sizeof(*in));
	if (!jread_eat(c, '{') || jread_eat(c, '}'))
		return -1; /* a peer needs its id */
	do {
		if (jread_member(c, &key) == -1)
			return -1;
		if (strcmp(key, "id") == 0 && in->id == NULL)
			rc = jread_string(c, &in->id);
		else if (strcmp(key, "names") == 0 && in->names == NULL)
			rc = (in->names = jread_str_array(c, 64)) == NULL ? -1 :
									    0;
		else if (strcmp(key, "ports") == 0)
			rc = relay_read_ports(c, in, 0);
		else if (strcmp(key, "udp") == 0)
			rc = relay_read_ports(c, in, 1);
		else
			rc = jread_skip(c);
		free(key);
		key = NULL;
		if (rc == -1)
			return -1;
	} while ((more = jread_more(c, '}')) == 1);
	/* The id goes into CONNECT requests as it is: hex only. */
	return more == 0 && in->id != NULL && in->id[0] != '\0' &&
		strlen(in->id) < sizeof(relay.peers[0].id) &&
		strspn(in->id, "0123456789abcdef") == strlen(in->id) ?
	    0 :
	    -1;
}

static void
relay_in_free(struct relay_in *in)
{
	free(in->id);
	jread_strv_free(in->names);
}

/* Takes one peer of the view: its slot, listeners and names. */
static void
relay_take(struct relay_in *in, struct dns_table *t)
{
	struct in_addr a;
	char ip[20];
	int s;
	size_t i;

	if ((s = relay_slot(in->id)) == -1) {
		fprintf(stderr,
		    "sockerless-agent: more than %d peers: %.12s not "
		    "served\n",
		    RELAY_PEERS_MAX, in->id);
		return;
	}
	relay.peers[s].seen = 1;
	relay_ports(s, in->ports, in->udp, in->nports);
	relay_addr(s + 2, ip, sizeof(ip));
	inet_pton(AF_INET, ip, &a);
	for (i = 0; in->names != NULL && in->names[i] != NULL; i++)
		relay_table_add(t, in->names[i], a.s_addr);
}

/* The "peers" array at the cursor, all read before anything changes. */
static int
relay_read_peers(struct jread *c, struct dns_table *t, char *why, size_t wsz)
{
	struct relay_in *v = NULL;
	size_t n = 0, i;
	int more = 0, rc = -1;

	if (!jread_eat(c, '['))
		goto out;
	if (!jread_eat(c, ']'))
		do {
			if (n % 16 == 0)
				v = xrealloc(v, (n + 16) * sizeof(*v));
			if (relay_read_peer(c, &v[n++]) == -1)
				goto out;
		} while ((more = jread_more(c, ']')) == 1);
	if (more == -1)
		goto out;
	for (i = 0; i < RELAY_PEERS_MAX; i++)
		relay.peers[i].seen = 0;
	for (i = 0; i < n; i++)
		relay_take(&v[i], t);
	for (i = 0; i < RELAY_PEERS_MAX; i++)
		if (!relay.peers[i].seen && relay.peers[i].id[0] != '\0') {
			relay_ports((int)i, NULL, NULL, 0);
			relay.peers[i].id[0] = '\0';
		}
	rc = 0;
out:
	if (rc == -1)
		snprintf(why, wsz,
		    "peers: an array of {\"id\", \"names\", \"ports\"} "
		    "objects");
	for (i = 0; i < n; i++)
		relay_in_free(&v[i]);
	free(v);
	return rc;
}

int
relay_view(
    const char *req, size_t len, struct dns_table *t, char *why, size_t wsz)
{
	struct jread c;
	char *key = NULL;
	int more = 0, rc = 0;

	if (!relay.on)
		return 0;
	jread_init(&c, req, len);
	if (!jread_eat(&c, '{') || jread_eat(&c, '}'))
		return 0; /* dns_table_request judged the object */
	do {
		if (jread_member(&c, &key) == -1)
			return 0;
		if (strcmp(key, "peers") == 0)
			rc = relay_read_peers(&c, t, why, wsz);
		else if (jread_skip(&c) == -1)
			more = -1;
		free(key);
		key = NULL;
		if (rc == -1)
			return -1;
	} while (more != -1 && (more = jread_more(&c, '}')) == 1);
	return 0;
}

/* A connection for the peer in slot s, port index i: carried over the
 * link (closed at once without one); datagrams for a UDP port. */
static void
relay_on_accept(void *arg, short revents)
{
	uintptr_t k = (uintptr_t)arg;
	struct relay_peer *p = &relay.peers[k / RELAY_SOCKS_MAX];
	int i = (int)(k % RELAY_SOCKS_MAX), fd;
	struct sockaddr_storage from;
	socklen_t len = sizeof(from);
	char req[160], what[64];

	(void)revents;
	if (p->fds[i] != -1 && p->udp[i]) {
		udp_datagram(p->fds[i], p->id, p->ports[i]);
		return;
	}
	if (p->fds[i] == -1 ||
	    (fd = accept4(p->fds[i], (struct sockaddr *)&from, &len,
		 SOCK_NONBLOCK | SOCK_CLOEXEC)) == -1)
		return;
	snprintf(req, sizeof(req),
	    "{\"kind\":\"connect\",\"peer\":\"%s\",\"port\":%d}", p->id,
	    p->ports[i]);
	snprintf(what, sizeof(what), "peer %.12s port %d", p->id, p->ports[i]);
	chan_connect(fd, req, what);
}

void
relay_prepare(void)
{
	size_t s;
	int i;

	if (!relay.on)
		return;
	for (s = 0; s < RELAY_PEERS_MAX; s++)
		for (i = 0; i < relay.peers[s].nports; i++)
			if (relay.peers[s].fds[i] != -1)
				loop_watch(relay.peers[s].fds[i], POLLIN,
				    relay_on_accept,
				    (void *)(uintptr_t)(s * RELAY_SOCKS_MAX +
					(size_t)i));
}
