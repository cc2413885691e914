/* The agent link, reverse mode: the link that waits for the agent to dial
 * in, its token, and the aglink_listener that takes the agent's upgrade
 * request and hands the connection to its link (WebSocket server). On the
 * core (aglink.c); an adopted link reads through aglink_recv.c and takes
 * its connection's events from aglink_dial.c (aglink_event_cb). */
#include <sys/queue.h>

#include <sys/queue.h>
#include <sys/socket.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "sockerless/aglink.h"
#include "sockerless/aglink_seal.h"
#include "sockerless/lite.h"
#include "sockerless/log.h"
#include "sockerless/str.h"
#include "sockerless/xmalloc.h"

#include "aglink_int.h"

/* --- reverse mode: waiting for the agent to call back ------------------ */

/* Channels are waiting and nobody is connected (state IDLE). */
void
aglink_await(struct aglink *l)
{
	l->state = AGLINK_ST_AWAIT;
	l->deadline_ms = aglink_now_ms() + (int64_t)l->connect_timeout_s * 1000;
	aglink_timer_set(l, (int64_t)l->connect_timeout_s * 1000);
}

void
aglink_await_give_up(struct aglink *l)
{
	struct err e;

	err_set(&e, 504,
	    "the agent of container %.12s has not called back within %ds "
	    "(is the callback URL reachable from the workload?)",
	    l->cid, l->connect_timeout_s);
	aglink_down_err(l, 0, &e);
}

/*
 * Takes bev, a connection the listener has answered 101 on: the link is
 * now the WebSocket server on it. A connection already there is replaced
 * (its channels fail as with a drop). Called inside aglink_enter.
 */
static void
aglink_adopt(
    struct aglink *l, struct bufferevent *bev, struct aglink_seal *seal)
{
	struct err e;

	if (l->bev != NULL) {
		err_set(&e, 502,
		    "the link to the agent of container %.12s was replaced by "
		    "a newer one",
		    l->cid);
		aglink_down_err(l, 1000, &e);
		if (l->dead) {
			bufferevent_free(bev);
			aglink_seal_wipe(seal);
			free(seal);
			return;
		}
	}
	aglink_seal_drop(l);
	l->seal = seal;
	evtimer_del(l->timer);
	log_debug("container %.12s: the agent called back", l->cid);
	l->bev = bev;
	l->server = 1;
	l->state = AGLINK_ST_HELLO;
	l->last_rx_ms = aglink_now_ms();
	bufferevent_setcb(bev, aglink_read_cb, NULL, aglink_event_cb, l);
	bufferevent_setwatermark(bev, EV_WRITE, 0, 0);
	bufferevent_set_timeouts(bev, NULL, NULL);
	bufferevent_enable(bev, EV_READ | EV_WRITE);
	aglink_timer_set(l, AGLINK_HANDSHAKE_MS);
	/* The HELLO may have come with the request. */
	if (evbuffer_get_length(bufferevent_get_input(bev)) > 0)
		aglink_read_frames(l, bev, l->gen);
}

void
aglink_seal_drop(struct aglink *l)
{
	if (l->seal != NULL) {
		aglink_seal_wipe(l->seal);
		free(l->seal);
		l->seal = NULL;
	}
	l->seal_spent = 0;
}

int
aglink_token_new(
    char hex[AGLINK_TOKEN_HEX + 1], char sha_hex[AGLINK_TOKEN_HEX + 1])
{
	unsigned char tok[AGLINK_TOKEN_BYTES], md[32];

	if (RAND_bytes(tok, sizeof(tok)) != 1)
		return -1;
	lite_hex(tok, sizeof(tok), hex);
	aglink_sha256(tok, sizeof(tok), md);
	lite_hex(md, sizeof(md), sha_hex);
	OPENSSL_cleanse(tok, sizeof(tok));
	return 0;
}

struct aglink *
aglink_new_reverse(struct event_base *base, const char *container_id,
    const char *token_hex, int connect_timeout_s, const struct aglink_cbs *cbs,
    void *arg)
{
	struct aglink *l = aglink_new(
	    base, "", 0, token_hex, container_id, connect_timeout_s, cbs, arg);

	l->reverse = 1;
	return l;
}

/* --- the listener (reverse mode) ---------------------------------------- */

/* A callback before its link takes it: the upgrade request, then (after
 * our 101) until its first sealed message has opened. */
struct aglink_pending {
	TAILQ_ENTRY(aglink_pending) entry;
	struct aglink_listener *ls;
	struct bufferevent *bev;
	int upgraded; /* our 101 is out: the first message is awaited */
	char *cid;
	char token[AGLINK_TOKEN_HEX + 1]; /* the link's, when we answered */
	struct aglink_seal seal;
};

struct aglink_listener {
	struct event_base *base;
	struct evconnlistener *lis;
	int port;
	struct aglink *(*lookup)(void *arg, const char *container_id);
	void *arg;
	TAILQ_HEAD(, aglink_pending) pending;
};

static void
aglink_pending_free(struct aglink_pending *pc, int free_bev)
{
	TAILQ_REMOVE(&pc->ls->pending, pc, entry);
	if (free_bev)
		bufferevent_free(pc->bev);
	aglink_seal_wipe(&pc->seal);
	aglink_wipe(pc->token, sizeof(pc->token));
	free(pc->cid);
	free(pc);
}

/* Answers status and closes once it is written. */
static void
aglink_pending_refuse(struct aglink_pending *pc, const char *status)
{
	struct bufferevent *bev = pc->bev;

	log_info("agent link: refused a callback: %s", status);
	evbuffer_add_printf(bufferevent_get_output(bev),
	    "HTTP/1.1 %s\r\nContent-Type: text/plain\r\n"
	    "Content-Length: %zu\r\nConnection: close\r\n\r\n%s\n",
	    status, strlen(status) + 1, status);
	aglink_pending_free(pc, 0);
	aglink_linger_start(bev);
}

/* Parses "Authorization: Sockerless-Seal nonce=<hex>, mac=<hex>". */
static int
aglink_auth_parse(const char *head, unsigned char na[AGLINK_SEAL_NONCE],
    unsigned char mac[AGLINK_SEAL_MAC])
{
	size_t sl = strlen(AGLINK_SEAL_SCHEME);
	char auth[256];

	if (lite_http_header(head, "Authorization", auth, sizeof(auth)) == -1 ||
	    strncasecmp(auth, AGLINK_SEAL_SCHEME, sl) != 0 || auth[sl] != ' ')
		return -1;
	return aglink_seal_params_parse(auth + sl + 1, na, mac);
}

/* 1 when mac is the hello MAC of l's token, cid and na. */
static int
aglink_hello_ok(struct aglink *l, const char *cid,
    const unsigned char na[AGLINK_SEAL_NONCE],
    const unsigned char mac[AGLINK_SEAL_MAC])
{
	unsigned char want[AGLINK_SEAL_MAC];
	int ok;

	ok = aglink_seal_hello_mac(l->token, cid, na, want) == 0 &&
	    aglink_ct_equal(mac, want, sizeof(want));
	aglink_wipe(want, sizeof(want));
	return ok;
}

/* The first message after our 101, once it is whole: when it opens with
 * the session keys, the link adopts the connection (the message stays in
 * the input for the link to read again); otherwise the connection goes.
 * pc may be gone when this returns. */
static void
aglink_pending_first(struct aglink_pending *pc)
{
	struct evbuffer *in = bufferevent_get_input(pc->bev);
	struct bufferevent *bev = pc->bev;
	size_t n = evbuffer_get_length(in), total;
	struct aglink_seal trial, *seal;
	struct ws_frame f;
	unsigned char *p, *buf;
	struct aglink *l;
	int r, ok;

	if (n == 0)
		return;
	p = evbuffer_pullup(in, (ev_ssize_t)(n < 14 ? n : 14));
	if ((r = ws_parse_header(p, n < 14 ? n : 14, &f)) == 0)
		return;
	if (r == -1 || !f.masked || f.opcode != WS_BINARY || !f.fin ||
	    f.len < AGLINK_SEAL_TAG || f.len > AGLINK_SEALED_MAX) {
		log_warnx("agent link: the callback for container %.12s did "
			  "not start with a sealed message; dropped",
		    pc->cid);
		aglink_pending_free(pc, 1);
		return;
	}
	total = f.header_len + (size_t)f.len;
	if (n < total)
		return;
	p = evbuffer_pullup(in, (ev_ssize_t)total);
	buf = xmalloc((size_t)f.len);
	memcpy(buf, p + f.header_len, (size_t)f.len);
	ws_mask(buf, (size_t)f.len, f.mask, 0);
	trial = pc->seal;
	ok = aglink_seal_open(&trial, buf, (size_t)f.len) == 0;
	aglink_seal_wipe(&trial);
	aglink_wipe(buf, (size_t)f.len);
	free(buf);
	l = ok ? pc->ls->lookup(pc->ls->arg, pc->cid) : NULL;
	if (l == NULL || l->dead || !l->reverse ||
	    strlen(l->token) != AGLINK_TOKEN_HEX ||
	    !aglink_ct_equal(l->token, pc->token, AGLINK_TOKEN_HEX)) {
		log_warnx("agent link: the callback for container %.12s %s; "
			  "dropped",
		    pc->cid,
		    ok ? "has no waiting link any more" :
			 "sent a first message that did not open (a "
			 "replayed or forged handshake?)");
		aglink_pending_free(pc, 1);
		return;
	}
	seal = xmalloc(sizeof(*seal));
	*seal = pc->seal;
	aglink_pending_free(pc, 0);
	aglink_enter(l);
	aglink_adopt(l, bev, seal);
	aglink_leave(l);
}

/* Handles the whole request head; pc may be gone when this returns. */
static void
aglink_pending_request(struct aglink_pending *pc, const char *head)
{
	char path[512], v[256], key[128], cid[160], acc[29],
	    params[AGLINK_SEAL_PARAMS_LEN];
	unsigned char na[AGLINK_SEAL_NONCE], nb[AGLINK_SEAL_NONCE],
	    mac[AGLINK_SEAL_MAC], amac[AGLINK_SEAL_MAC];
	struct bufferevent *bev = pc->bev;
	struct aglink *l;

	if (sscanf(head, "GET %511s HTTP/1.%*c", path) != 1) {
		aglink_pending_refuse(pc, "400 Bad Request");
		return;
	}
	path[strcspn(path, "?")] = '\0';
	if (strcmp(path, AGLINK_PATH) != 0) {
		aglink_pending_refuse(pc, "404 Not Found");
		return;
	}
	if (lite_http_header(head, "Upgrade", v, sizeof(v)) == -1 ||
	    strcasestr(v, "websocket") == NULL ||
	    lite_http_header(head, "Connection", v, sizeof(v)) == -1 ||
	    strcasestr(v, "upgrade") == NULL ||
	    lite_http_header(head, "Sec-WebSocket-Version", v, sizeof(v)) ==
		-1 ||
	    strcmp(v, "13") != 0 ||
	    lite_http_header(head, "Sec-WebSocket-Key", key, sizeof(key)) ==
		-1 ||
	    *key == '\0') {
		aglink_pending_refuse(pc, "400 Bad Request");
		return;
	}
	if (aglink_auth_parse(head, na, amac) == -1 ||
	    lite_http_header(
		head, "X-Sockerless-Container", cid, sizeof(cid)) == -1 ||
	    (l = pc->ls->lookup(pc->ls->arg, cid)) == NULL || l->dead ||
	    !l->reverse || !aglink_hello_ok(l, cid, na, amac)) {
		aglink_pending_refuse(pc, "401 Unauthorized");
		return;
	}
	if (RAND_bytes(nb, sizeof(nb)) != 1 ||
	    aglink_seal_accept_mac(l->token, cid, na, nb, mac) == -1 ||
	    aglink_seal_init(
		&pc->seal, AGLINK_SEAL_BACKEND, l->token, na, nb) == -1) {
		aglink_pending_refuse(pc, "503 Service Unavailable");
		return;
	}
	pc->cid = xstrdup(cid);
	memcpy(pc->token, l->token, sizeof(pc->token));
	aglink_seal_params_format(params, nb, mac);
	ws_accept_key(key, acc);
	evbuffer_add_printf(bufferevent_get_output(bev),
	    "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
	    "Connection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n"
	    "Sec-WebSocket-Protocol: " AGLINK_PROTOCOL "\r\n" AGLINK_SEAL_HEADER
	    ": %s\r\n\r\n",
	    acc, params);
	/* The link takes the connection only once the agent's first sealed
	 * message opens: a replayed request gets a 101 and nothing else. */
	pc->upgraded = 1;
	aglink_pending_first(pc);
}

static void
aglink_pending_read(struct bufferevent *bev, void *arg)
{
	struct aglink_pending *pc = arg;
	struct evbuffer *in = bufferevent_get_input(bev);
	struct evbuffer_ptr end;
	char *head;
	size_t n;

	if (pc->upgraded) {
		aglink_pending_first(pc);
		return;
	}
	end = evbuffer_search(in, "\r\n\r\n", 4, NULL);
	if (end.pos < 0) {
		if (evbuffer_get_length(in) > AGLINK_RESP_MAX)
			aglink_pending_refuse(
			    pc, "431 Request Header Fields Too Large");
		return;
	}
	n = (size_t)end.pos + 4;
	if (n > AGLINK_RESP_MAX) {
		aglink_pending_refuse(
		    pc, "431 Request Header Fields Too Large");
		return;
	}
	head = xmalloc(n + 1);
	evbuffer_remove(in, head, n);
	head[n] = '\0';
	aglink_pending_request(pc, head);
	OPENSSL_cleanse(head, n);
	free(head);
}

static void
aglink_pending_event(struct bufferevent *bev, short what, void *arg)
{
	(void)bev;
	(void)what;
	aglink_pending_free(arg, 1);
}

static void
aglink_listener_accept(struct evconnlistener *lis, evutil_socket_t fd,
    struct sockaddr *sa, int sl, void *arg)
{
	(void)lis;
	(void)sa;
	(void)sl;
	aglink_listener_adopt(arg, fd);
}

void
aglink_listener_adopt(struct aglink_listener *ls, evutil_socket_t fd)
{
	struct aglink_pending *pc = xcalloc(1, sizeof(*pc));
	struct timeval tv = { AGLINK_HANDSHAKE_MS / 1000, 0 };
	int one = 1;

	pc->ls = ls;
	/* As the dialled link (aglink_dial.c): no Nagle delay. */
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	pc->bev = bufferevent_socket_new(ls->base, fd, BEV_OPT_CLOSE_ON_FREE);
	if (pc->bev == NULL)
		fatalx("%s: bufferevent_socket_new", __func__);
	TAILQ_INSERT_TAIL(&ls->pending, pc, entry);
	bufferevent_setcb(
	    pc->bev, aglink_pending_read, NULL, aglink_pending_event, pc);
	bufferevent_set_timeouts(pc->bev, &tv, &tv);
	bufferevent_enable(pc->bev, EV_READ | EV_WRITE);
}

struct aglink_listener *
aglink_listener_new(struct event_base *base, const char *host, int port,
    struct aglink *(*lookup)(void *arg, const char *container_id), void *arg)
{
	struct aglink_listener *ls;
	struct addrinfo hints, *res = NULL;
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	char portstr[16];
	int rc;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
	snprintf(portstr, sizeof(portstr), "%d", port);
	if ((rc = getaddrinfo(host != NULL && *host != '\0' ? host : NULL,
		 portstr, &hints, &res)) != 0) {
		log_warnx(
		    "%s: %s:%d: %s", __func__, host, port, gai_strerror(rc));
		return NULL;
	}
	ls = xcalloc(1, sizeof(*ls));
	ls->base = base;
	ls->lookup = lookup;
	ls->arg = arg;
	TAILQ_INIT(&ls->pending);
	ls->lis = evconnlistener_new_bind(base, aglink_listener_accept, ls,
	    LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE | LEV_OPT_CLOSE_ON_EXEC,
	    64, res->ai_addr, (int)res->ai_addrlen);
	freeaddrinfo(res);
	if (ls->lis == NULL) {
		log_warn("%s: listen on %s:%d", __func__, host, port);
		free(ls);
		return NULL;
	}
	/* The system's backlog (net.core.somaxconn), not libevent's 64/128:
	 * many workloads dial back at once when a batch of them starts. */
	listen(evconnlistener_get_fd(ls->lis), -1);
	memset(&ss, 0, sizeof(ss));
	if (getsockname(evconnlistener_get_fd(ls->lis), (struct sockaddr *)&ss,
		&sl) == 0)
		ls->port = ntohs(ss.ss_family == AF_INET6 ?
			((struct sockaddr_in6 *)&ss)->sin6_port :
			((struct sockaddr_in *)&ss)->sin_port);
	return ls;
}

int
aglink_listener_port(const struct aglink_listener *ls)
{
	return ls->port;
}

void
aglink_listener_free(struct aglink_listener *ls)
{
	struct aglink_pending *pc;

	if (ls == NULL)
		return;
	evconnlistener_free(ls->lis);
	/* pending_free unlinks before it frees (lost in TAILQ_REMOVE). */
	while ((pc = TAILQ_FIRST(&ls->pending)) != NULL)
		/* NOLINTNEXTLINE(clang-analyzer-unix.Malloc) */
		aglink_pending_free(pc, 1);
	free(ls);
}
