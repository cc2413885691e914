/* The framework's reverse agent mode (docs/agent-link.md, "Reverse mode in
 * a backend"): where a cloud's workloads take no inbound connection, the
 * agent calls back on one listener of the backend (agent_callback_listen)
 * that finds the container's link by its id. The link is made when the
 * run's environment is and again for running containers after a restart,
 * so an agent's first dial and its redials always find it waiting. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "backend_agent.h"
#include "backend_ctr.h"
#include "sockerless/json.h"
#include "sockerless/log.h"
#include "sockerless/xmalloc.h"

/* An address of every interface: nobody can tell which one workloads
 * reach. */
static int
backend_agent_rev_wildcard(const char *host)
{
	return *host == '\0' || strcmp(host, "0.0.0.0") == 0 ||
	    strcmp(host, "::") == 0;
}

/* "host:port", "[v6]:port" or ":port" (every address); -1 when it is none
 * of them or the port is not 1-65535. */
static int
backend_agent_rev_hostport(const char *s, char *host, size_t hostsz, int *port)
{
	const char *h = s, *colon;
	long long n;
	size_t hl;

	if (*s == '[') {
		const char *end = strchr(s, ']');
		if (end == NULL || end[1] != ':')
			return -1;
		h = s + 1;
		hl = (size_t)(end - h);
		colon = end + 1;
	} else {
		if ((colon = strrchr(s, ':')) == NULL ||
		    memchr(s, ':', (size_t)(colon - s)) != NULL)
			return -1; /* an IPv6 address needs its brackets */
		hl = (size_t)(colon - s);
	}
	if (hl >= hostsz || memchr(h, '/', hl) != NULL ||
	    str_tonum(colon + 1, 1, 65535, &n, NULL) == -1)
		return -1;
	memcpy(host, h, hl);
	host[hl] = '\0';
	*port = (int)n;
	return 0;
}

/* The URL workloads dial: http://host[:port] and nothing after it but an
 * optional "/" (the link's path is added). */
static int
backend_agent_rev_url_check(const char *url, struct err *e)
{
	const char *a = url + 7, *end;
	char hp[256], host[256];
	int port;

	if (strncasecmp(url, "https://", 8) == 0)
		return err_set(e, 400,
		    "agent_callback_url %s: https is not supported: the agent "
		    "link is sealed end to end with the container's own token "
		    "and the agent has no TLS, so give a plain http:// URL of "
		    "a port that reaches agent_callback_listen (directly, or "
		    "through a TCP proxy or load balancer)",
		    url);
	if (strncasecmp(url, "http://", 7) != 0)
		return err_set(e, 400,
		    "agent_callback_url %s is not an http:// URL; give "
		    "http://HOST[:PORT], the address workloads dial to reach "
		    "agent_callback_listen",
		    url);
	end = a + strcspn(a, "/?#");
	if ((*end != '\0' && strcmp(end, "/") != 0) ||
	    memchr(a, '@', (size_t)(end - a)) != NULL || end == a ||
	    (size_t)(end - a) >= sizeof(hp))
		goto bad;
	memcpy(hp, a, (size_t)(end - a));
	hp[end - a] = '\0';
	/* No port: 80, as the agent dials it. */
	if (strchr(hp, ':') == NULL ||
	    (hp[0] == '[' && hp[strlen(hp) - 1] == ']'))
		return 0;
	if (backend_agent_rev_hostport(hp, host, sizeof(host), &port) == -1 ||
	    *host == '\0')
		goto bad;
	return 0;
bad:
	return err_set(e, 400,
	    "agent_callback_url %s is not http://HOST[:PORT] (a host, an "
	    "optional port 1-65535, no user, path or query: the agents call "
	    "%s on it)",
	    url, AGLINK_PATH);
}

/* The URL from the listen address when none is given. */
static int
backend_agent_rev_url_derive(struct backend *b, struct err *e)
{
	char host[256];
	int port;

	if (backend_agent_rev_hostport(
		b->conf.agent_callback_listen, host, sizeof(host), &port) == -1)
		return err_set(e, 400,
		    "agent_callback_listen %s is not HOST:PORT (an address of "
		    "this machine, or [IPv6], and a port 1-65535)",
		    b->conf.agent_callback_listen);
	if (b->conf.agent_callback_url != NULL &&
	    *b->conf.agent_callback_url != '\0')
		return backend_agent_rev_url_check(
		    b->conf.agent_callback_url, e);
	if (backend_agent_rev_wildcard(host))
		return err_set(e, 400,
		    "agent_callback_listen %s listens on every address, so "
		    "the URL workloads dial cannot be derived from it: set "
		    "agent_callback_url to http://ADDRESS:%d with an address "
		    "of this machine that the workloads reach",
		    b->conf.agent_callback_listen, port);
	free(b->conf.agent_callback_url);
	b->conf.agent_callback_url = strchr(host, ':') != NULL ?
	    xasprintf("http://[%s]:%d", host, port) :
	    xasprintf("http://%s:%d", host, port);
	return 0;
}

int
backend_agent_rev_conf_check(struct backend *b, struct err *e)
{
	const char *listen = b->conf.agent_callback_listen;

	if (!b->ops->agent_reverse) {
		if ((listen != NULL && *listen != '\0') ||
		    (b->conf.agent_callback_url != NULL &&
			*b->conf.agent_callback_url != '\0'))
			log_warnx("agent_callback_listen and "
				  "agent_callback_url are not used: the %s "
				  "backend dials its agents",
			    b->ops->name);
		return 0;
	}
	if (listen == NULL || *listen == '\0')
		return err_set(e, 400,
		    "the %s backend needs agent_callback_listen: its "
		    "workloads take no inbound connection, so their agents "
		    "call back on this HOST:PORT (and agent_callback_url, "
		    "the http://HOST:PORT they dial, when the listen address "
		    "is not what they reach)",
		    b->ops->name);
	return backend_agent_rev_url_derive(b, e);
}

/* The listener's lookup: the link of a container whose run has a token
 * and is starting or running (a stopped container's agent is over). */
static struct aglink *
backend_agent_rev_lookup(void *arg, const char *cid)
{
	struct backend *b = arg;
	struct container *c = backend_index_get(&b->by_id, cid);
	struct err e;

	if (c == NULL || c->gone ||
	    json_str(container_private(c), BACKEND_PRIV_AGENT_TOKEN) == NULL)
		return NULL;
	if (c->agent != NULL && c->agent->link != NULL &&
	    (container_running(c) || backend_ctr_busy(c) == CTR_STARTING))
		return c->agent->link;
	/* Its link was closed meanwhile (a restart): made again from the
	 * stored token. */
	return container_running(c) ? backend_agent_link(b, c, &e) : NULL;
}

int
backend_agent_rev_init(struct backend *b, struct err *e)
{
	char host[256];
	int port, saved;

	if (!b->ops->agent_reverse)
		return 0;
	if (backend_agent_rev_hostport(
		b->conf.agent_callback_listen, host, sizeof(host), &port) == -1)
		return err_set(e, 400,
		    "agent_callback_listen %s is not HOST:PORT",
		    b->conf.agent_callback_listen);
	errno = 0;
	b->agent_listener = aglink_listener_new(
	    b->base, host, port, backend_agent_rev_lookup, b);
	saved = errno;
	if (b->agent_listener == NULL)
		return err_set(e, 500,
		    "cannot listen for agents calling back on %s "
		    "(agent_callback_listen)%s%s: give an address of this "
		    "machine and a free port",
		    b->conf.agent_callback_listen, saved != 0 ? ": " : "",
		    saved != 0 ? strerror(saved) : "");
	log_info("agents call back on %s (listening on %s)",
	    b->conf.agent_callback_url, b->conf.agent_callback_listen);
	return 0;
}

/* After a restart: running containers' links wait for their agents'
 * redials again. */
void
backend_agent_rev_readopt(struct backend *b)
{
	struct container *c;
	struct err e;

	if (!b->ops->agent_reverse)
		return;
	TAILQ_FOREACH(c, &b->containers, entry) {
		if (!c->gone && container_running(c) &&
		    json_str(container_private(c), BACKEND_PRIV_AGENT_TOKEN) !=
			NULL)
			(void)backend_agent_link(b, c, &e);
	}
}

void
backend_agent_rev_free(struct backend *b)
{
	aglink_listener_free(b->agent_listener);
	b->agent_listener = NULL;
}

void
backend_agent_rev_run_env(
    struct backend *b, struct container *c, const char *tok, cJSON *env)
{
	const char *url = b->conf.agent_callback_url;
	size_t n = strlen(url);
	char *s;

	if (n > 0 && url[n - 1] == '/')
		n--;
	s = xasprintf(
	    "SOCKERLESS_AGENT_CALLBACK=%.*s%s", (int)n, url, AGLINK_PATH);
	cJSON_AddItemToArray(env, cJSON_CreateString(s));
	free(s);
	s = xasprintf("SOCKERLESS_AGENT_TOKEN=%s", tok);
	cJSON_AddItemToArray(env, cJSON_CreateString(s));
	free(s);
	/* Waiting from now on: the agent may call back (and a held command
	 * or files before start wait on it) before the start completes. */
	backend_agent_link_reverse(b, c);
}
