/* The Docker socket inside a workload (docs/volumes.md): the agent serves
 * a unix socket where the container bind-mounts the Docker socket and
 * opens a channel per connection with CONNECT {"target":"docker"}; this
 * file splices it to the Docker API of this installation (`docker_api`).
 * The bytes pass as they are (keep-alive, hijacked attach and exec
 * streams); the agent's window and the API socket's output bound what is
 * held here: the agent is credited only for bytes the API has taken, and
 * the API is read only while the agent's window has room. */
#include <sys/socket.h>
#include <sys/un.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <sys/queue.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/util.h>

#include "backend_agent.h"
#include "backend_port.h"
#include "sockerless/json.h"
#include "sockerless/log.h"
#include "sockerless/xmalloc.h"

/* Bytes for the API held before the agent's credit waits for them. */
#define DOCKSOCK_HIGH_WATER (256 * 1024)
/* How often a running container's link is checked, and dialled again when
 * it went down: the agent closes the workload's connections meanwhile. */
#define DOCKSOCK_KEEP_S 5

struct docksock_conn {
	struct backend *b;
	struct container *c;	 /* referenced */
	struct aglink_chan *ch;	 /* the agent's CONNECT channel */
	struct bufferevent *bev; /* the Docker API */
	int connected;
	int api_eof, eof_sent; /* the API's side ended; the agent was told */
	int agent_eof, shut;   /* the workload's side ended; passed on */
	size_t owed;	       /* agent bytes not yet credited */
};

static void
docksock_refuse(struct aglink_chan *ch, int status, const char *msg)
{
	cJSON *res = cJSON_CreateObject();

	json_add_int(res, "status", status);
	json_add_str(res, "message", msg);
	aglink_chan_finish(ch, res);
	cJSON_Delete(res);
}

static void
docksock_free(struct docksock_conn *dc)
{
	if (dc->ch != NULL)
		aglink_chan_close(dc->ch);
	bufferevent_free(dc->bev);
	container_unref(dc->c);
	free(dc);
}

/* Both sides have ended: RESULT {} and the API socket closed. */
static void
docksock_done(struct docksock_conn *dc)
{
	cJSON *res;

	if (!dc->eof_sent || !dc->agent_eof ||
	    evbuffer_get_length(bufferevent_get_output(dc->bev)) > 0)
		return;
	res = cJSON_CreateObject();
	aglink_chan_finish(dc->ch, res);
	cJSON_Delete(res);
	dc->ch = NULL;
	docksock_free(dc);
}

/* API bytes into the channel as far as the window goes, then the API's
 * EOF. Returns -1 when dc is gone. */
static int
docksock_pump(struct docksock_conn *dc)
{
	struct evbuffer *in = bufferevent_get_input(dc->bev);
	size_t len, n, took;

	while ((len = evbuffer_get_length(in)) > 0) {
		n = len > 65536 ? 65536 : len;
		took = aglink_chan_write(
		    dc->ch, evbuffer_pullup(in, (ev_ssize_t)n), n);
		evbuffer_drain(in, took);
		if (took < n) {
			bufferevent_disable(dc->bev, EV_READ);
			return 0; /* on_writable goes on */
		}
	}
	if (dc->api_eof && !dc->eof_sent) {
		dc->eof_sent = 1;
		aglink_chan_eof(dc->ch);
	}
	if (dc->eof_sent && dc->agent_eof) {
		docksock_done(dc);
		return -1;
	}
	return 0;
}

static void
docksock_read(struct bufferevent *bev, void *arg)
{
	(void)bev;
	docksock_pump(arg);
}

/* The API took what was held: credit the agent, pass its half-close on. */
static void
docksock_write(struct bufferevent *bev, void *arg)
{
	struct docksock_conn *dc = arg;

	if (evbuffer_get_length(bufferevent_get_output(bev)) > 0)
		return;
	if (dc->owed > 0) {
		aglink_chan_consumed(dc->ch, dc->owed);
		dc->owed = 0;
	}
	if (dc->agent_eof && !dc->shut) {
		dc->shut = 1;
		shutdown(bufferevent_getfd(bev), SHUT_WR);
	}
	if (dc->eof_sent && dc->agent_eof)
		docksock_done(dc);
}

static void
docksock_event(struct bufferevent *bev, short what, void *arg)
{
	struct docksock_conn *dc = arg;
	char msg[600];

	if (what & BEV_EVENT_CONNECTED) {
		dc->connected = 1;
		bufferevent_enable(bev, EV_READ);
		docksock_write(bev, dc);
		return;
	}
	if (!dc->connected) {
		snprintf(msg, sizeof(msg), "the Docker API at %s refused: %s",
		    dc->b->conf.docker_api,
		    evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR()));
		log_warnx("container %.12s: Docker socket: %s", dc->c->id, msg);
		docksock_refuse(dc->ch, 502, msg);
		dc->ch = NULL;
		docksock_free(dc);
		return;
	}
	/* EOF, or a reset: the API's side is over either way; after a
	 * reset nothing more reaches it, so the workload's side is too. */
	dc->api_eof = 1;
	if (what & BEV_EVENT_ERROR) {
		evbuffer_drain(bufferevent_get_output(bev),
		    evbuffer_get_length(bufferevent_get_output(bev)));
		dc->agent_eof = 1;
	}
	docksock_pump(dc);
}

static void
docksock_on_data(void *arg, int stream, const unsigned char *p, size_t n)
{
	struct docksock_conn *dc = arg;
	struct evbuffer *out = bufferevent_get_output(dc->bev);

	(void)stream;
	if (dc->agent_eof)
		return;
	evbuffer_add(out, p, n);
	if (dc->connected && evbuffer_get_length(out) < DOCKSOCK_HIGH_WATER &&
	    dc->owed == 0)
		aglink_chan_consumed(dc->ch, n);
	else
		dc->owed += n;
}

static void
docksock_on_eof(void *arg, int stream)
{
	struct docksock_conn *dc = arg;

	(void)stream;
	dc->agent_eof = 1;
	if (dc->connected)
		docksock_write(dc->bev, dc);
}

static void
docksock_on_writable(void *arg)
{
	struct docksock_conn *dc = arg;

	if (dc->connected)
		bufferevent_enable(dc->bev, EV_READ);
	docksock_pump(dc);
}

/* The agent closed the channel or its link went. */
static void
docksock_on_result(void *arg, const cJSON *res, const struct err *e)
{
	struct docksock_conn *dc = arg;

	(void)res;
	(void)e;
	dc->ch = NULL; /* the link frees it */
	docksock_free(dc);
}

static const struct aglink_chan_cbs docksock_cbs = { docksock_on_data,
	docksock_on_eof, NULL, docksock_on_writable, docksock_on_result };

/* docker_api as a socket address: unix:///path or tcp://ADDRESS:PORT (an
 * IP literal: the loop does not block on a name lookup). */
static int
docksock_addr(const char *api, struct sockaddr_storage *ss, int *len)
{
	struct sockaddr_un *un = (struct sockaddr_un *)ss;

	memset(ss, 0, sizeof(*ss));
	if (api == NULL)
		return -1;
	if (strncmp(api, "unix://", 7) == 0) {
		if (api[7] != '/' || strlen(api + 7) >= sizeof(un->sun_path))
			return -1;
		un->sun_family = AF_UNIX;
		memcpy(un->sun_path, api + 7, strlen(api + 7) + 1);
		*len = (int)sizeof(*un);
		return 0;
	}
	if (strncmp(api, "tcp://", 6) != 0)
		return -1;
	*len = (int)sizeof(*ss);
	return evutil_parse_sockaddr_port(api + 6, (struct sockaddr *)ss, len);
}

int
backend_docksock_conf_check(struct backend *b, struct err *e)
{
	struct sockaddr_storage ss;
	int len;

	if (docksock_addr(b->conf.docker_api, &ss, &len) == -1)
		return err_set(e, 400,
		    "docker_api %s is not unix:///PATH or tcp://ADDRESS:PORT "
		    "(an IP address and a port)",
		    b->conf.docker_api != NULL ? b->conf.docker_api :
						 "(empty)");
	return 0;
}

/* Whether c's mounts include the Docker socket. */
static int
docksock_mounted(struct backend *b, struct container *c)
{
	struct backend_mount m[BACKEND_MOUNTS_MAX];
	size_t n = backend_container_mounts(b, c, m, BACKEND_MOUNTS_MAX);

	for (size_t i = 0; i < n; i++)
		if (m[i].kind == BACKEND_MOUNT_DOCKER_SOCK)
			return 1;
	return 0;
}

static void
docksock_connect(struct backend_agent *ag, struct aglink_chan *ch)
{
	struct backend *b = ag->b;
	struct sockaddr_storage ss;
	struct docksock_conn *dc;
	char msg[600];
	int len;

	if (!b->conf.docker_socket_proxy) {
		docksock_refuse(ch, 403,
		    "the Docker socket proxy is off (docker_socket_proxy: "
		    "false): the workload gets no Docker API");
		return;
	}
	if (!docksock_mounted(b, ag->c)) {
		snprintf(msg, sizeof(msg),
		    "container %.12s has no Docker socket mount: bind-mount "
		    "it (-v /var/run/docker.sock:/var/run/docker.sock) to "
		    "reach the Docker API",
		    ag->c->id);
		docksock_refuse(ch, 403, msg);
		return;
	}
	if (docksock_addr(b->conf.docker_api, &ss, &len) == -1) {
		snprintf(msg, sizeof(msg),
		    "the Docker API at %s refused: docker_api is not "
		    "unix:///PATH or tcp://ADDRESS:PORT",
		    b->conf.docker_api != NULL ? b->conf.docker_api :
						 "(unset)");
		log_warnx("container %.12s: Docker socket: %s", ag->c->id, msg);
		docksock_refuse(ch, 502, msg);
		return;
	}
	dc = xcalloc(1, sizeof(*dc));
	dc->b = b;
	dc->c = ag->c;
	container_ref(dc->c);
	dc->ch = ch;
	aglink_chan_accept(ch, &docksock_cbs, dc);
	dc->bev = bufferevent_socket_new(b->base, -1, BEV_OPT_CLOSE_ON_FREE);
	bufferevent_setcb(
	    dc->bev, docksock_read, docksock_write, docksock_event, dc);
	/* Reading stops while the channel's window is full. */
	bufferevent_setwatermark(dc->bev, EV_READ, 0, AGLINK_WINDOW);
	log_debug("container %.12s: a connection on its Docker socket, to %s",
	    ag->c->id, b->conf.docker_api);
	if (bufferevent_socket_connect(dc->bev, (struct sockaddr *)&ss, len) ==
	    -1)
		docksock_event(dc->bev, BEV_EVENT_ERROR, dc);
}

void
backend_agent_connect(void *arg, struct aglink_chan *ch, const cJSON *req)
{
	struct backend_agent *ag = arg;
	const char *target = json_str(req, "target");
	char msg[200];

	/* Relay requests name no target (docs/agent-link.md). */
	if (target == NULL) {
		backend_port_relay_connect(ag, ch, req);
	} else if (strcmp(target, "docker") == 0) {
		docksock_connect(ag, ch);
	} else {
		snprintf(
		    msg, sizeof(msg), "unknown CONNECT target %.100s", target);
		docksock_refuse(ch, 400, msg);
	}
}

/* A running container with a Docker socket mount: its link is kept up. */
struct docksock_keep {
	TAILQ_ENTRY(docksock_keep) entry;
	struct backend *b;
	struct container *c; /* referenced */
	struct event *timer;
};
static TAILQ_HEAD(, docksock_keep) docksock_keeps = TAILQ_HEAD_INITIALIZER(
    docksock_keeps);

static void
docksock_keep_free(struct docksock_keep *k)
{
	TAILQ_REMOVE(&docksock_keeps, k, entry);
	event_free(k->timer);
	container_unref(k->c);
	free(k);
}

/* Dials the link unless it is up or on its way; 0 while c runs. */
static int
docksock_dial(struct backend *b, struct container *c)
{
	struct aglink *l;
	struct err e;

	if (c->gone || !container_running(c) || b->agent_closing)
		return -1;
	if ((l = backend_agent_link(b, c, &e)) == NULL) {
		log_debug("container %.12s: Docker socket: %s", c->id, e.msg);
		return 0;
	}
	aglink_up(l);
	return 0;
}

static void
docksock_keep_tick(evutil_socket_t fd, short what, void *arg)
{
	struct docksock_keep *k = arg;
	struct timeval tv = { DOCKSOCK_KEEP_S, 0 };

	(void)fd;
	(void)what;
	if (docksock_dial(k->b, k->c) == -1) {
		docksock_keep_free(k);
		return;
	}
	evtimer_add(k->timer, &tv);
}

void
backend_docksock_running(struct backend *b, struct container *c)
{
	struct timeval tv = { DOCKSOCK_KEEP_S, 0 };
	struct docksock_keep *k;

	if (!backend_agent_runs(b) || !docksock_mounted(b, c) ||
	    docksock_dial(b, c) == -1)
		return;
	TAILQ_FOREACH(k, &docksock_keeps, entry)
		if (k->c == c)
			return; /* a restart: the keeper goes on */
	k = xcalloc(1, sizeof(*k));
	k->b = b;
	k->c = c;
	container_ref(c);
	k->timer = evtimer_new(b->base, docksock_keep_tick, k);
	TAILQ_INSERT_TAIL(&docksock_keeps, k, entry);
	evtimer_add(k->timer, &tv);
}

void
backend_docksock_shutdown(struct backend *b)
{
	struct docksock_keep *k, *next;

	for (k = TAILQ_FIRST(&docksock_keeps); k != NULL; k = next) {
		next = TAILQ_NEXT(k, entry);
		if (k->b == b)
			docksock_keep_free(k);
	}
}

void
backend_docksock_env(struct backend *b, struct container *c, cJSON *env)
{
	struct backend_mount m[BACKEND_MOUNTS_MAX];
	size_t n = backend_container_mounts(b, c, m, BACKEND_MOUNTS_MAX);
	cJSON *paths = cJSON_CreateArray();
	char *j, *kv;

	for (size_t i = 0; i < n; i++)
		if (m[i].kind == BACKEND_MOUNT_DOCKER_SOCK)
			cJSON_AddItemToArray(
			    paths, cJSON_CreateString(m[i].target));
	if (cJSON_GetArraySize(paths) > 0) {
		j = json_print(paths);
		kv = xasprintf("SOCKERLESS_DOCKER_SOCK=%s", j);
		cJSON_AddItemToArray(env, cJSON_CreateString(kv));
		free(kv);
		free(j);
	}
	cJSON_Delete(paths);
}
