/* Published ports, Docker's meaning (-p, -P; docs/networks.md): while a
 * container runs, the backend listens on the host side of each binding
 * (backend_port_conn.c carries the connections over the agent link) and
 * NetworkSettings.Ports says where. The listeners are made before the
 * workload starts, so an address that cannot be had fails the start as
 * dockerd's does, with nothing left running or listening. */
#include <sys/socket.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "backend_port.h"
#include "sockerless/container.h"
#include "sockerless/json.h"
#include "sockerless/log.h"
#include "sockerless/str.h"
#include "sockerless/xmalloc.h"

static TAILQ_HEAD(, port_pub) port_pubs = TAILQ_HEAD_INITIALIZER(port_pubs);

static struct port_pub *
port_pub_find(const struct container *c)
{
	struct port_pub *pp;

	TAILQ_FOREACH(pp, &port_pubs, entry)
		if (pp->c == c)
			return pp;
	return NULL;
}

int
backend_port_check(struct backend *b, const cJSON *hc, struct err *e)
{
	const cJSON *it, *bd;
	const char *proto;
	int no, any = json_bool(hc, "PublishAllPorts", 0);

	cJSON_ArrayForEach(it, json_obj(hc, "PortBindings")) {
		/* Keys were checked before; a null or [] publishes nothing. */
		if (!cJSON_IsArray(it) || cJSON_GetArraySize(it) == 0 ||
		    container_port_parse(it->string, &no, &proto) == -1)
			continue;
		any = 1;
		if (strcmp(proto, "tcp") != 0)
			return err_set(e, 400,
			    "cannot publish %s: sockerless publishes TCP "
			    "ports only (it carries them over the agent "
			    "link); publish a TCP port instead",
			    it->string);
		cJSON_ArrayForEach(bd, it) {
			const char *ip = json_str(bd, "HostIp");
			unsigned char a[16];
			if (ip != NULL && ip[0] != '\0' &&
			    inet_pton(AF_INET, ip, a) != 1 &&
			    inet_pton(AF_INET6, ip, a) != 1)
				return err_set(e, 400,
				    "invalid IP address in %s binding: "
				    "\"%s\" is not an IPv4 or IPv6 address",
				    it->string, ip);
		}
	}
	if (any && !b->caps.flag[CAP_PUBLISH])
		return caps_unsupported(&b->caps, CAP_PUBLISH, e);
	return 0;
}

/* A listening socket on ip:port (port 0: the kernel picks one from the
 * ephemeral range, as dockerd's allocator does from the same range). */
static int
port_listen(const char *ip, int port, int *bound, int *err)
{
	struct sockaddr_storage ss;
	struct sockaddr_in *in4 = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;
	socklen_t sl;
	int fd, one = 1;

	memset(&ss, 0, sizeof(ss));
	if (inet_pton(AF_INET, ip, &in4->sin_addr) == 1) {
		in4->sin_family = AF_INET;
		in4->sin_port = htons((uint16_t)port);
		sl = sizeof(*in4);
	} else if (inet_pton(AF_INET6, ip, &in6->sin6_addr) == 1) {
		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons((uint16_t)port);
		sl = sizeof(*in6);
	} else {
		*err = EINVAL;
		return -1;
	}
	fd =
	    socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd == -1) {
		*err = errno;
		return -1;
	}
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (ss.ss_family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&ss, sl) == -1 ||
	    listen(fd, 128) == -1 ||
	    getsockname(fd, (struct sockaddr *)&ss, &sl) == -1) {
		*err = errno;
		close(fd);
		return -1;
	}
	*bound =
	    ntohs(ss.ss_family == AF_INET ? in4->sin_port : in6->sin6_port);
	return fd;
}

static void
port_on_accept(struct evconnlistener *l, evutil_socket_t fd,
    struct sockaddr *sa, int salen, void *arg)
{
	(void)l;
	(void)sa;
	(void)salen;
	backend_port_accept(arg, fd);
}

static int
port_wildcard(const char *ip)
{
	return strcmp(ip, "0.0.0.0") == 0 || strcmp(ip, "::") == 0;
}

/* Another container of ours holds ip:port (of the same family): dockerd's
 * allocator words it so; anything else is the bind's own error, as dockerd's
 * proxy says. */
static int
port_ours(const char *ip, int port)
{
	struct port_pub *pp;
	struct port_ln *ln;

	TAILQ_FOREACH(pp, &port_pubs, entry)
		TAILQ_FOREACH(ln, &pp->lns, entry)
			if (ln->host_port == port &&
			    (strchr(ln->host_ip, ':') == NULL) ==
				(strchr(ip, ':') == NULL) &&
			    (strcmp(ln->host_ip, ip) == 0 ||
				port_wildcard(ln->host_ip) ||
				port_wildcard(ip)))
				return 1;
	return 0;
}

/* One binding: HostPort "", "0", "8080" or a range "8000-8010" (the
 * first free one, as dockerd takes). */
static int
port_bind(struct port_pub *pp, const char *key, int cport, const char *ip,
    const char *hp, struct err *e)
{
	long long lo = 0, hi = 0;
	const char *dash = hp != NULL ? strchr(hp, '-') : NULL;
	struct port_ln *ln;
	int fd = -1, bound = 0, err = 0, ours = 0;

	if (hp != NULL && hp[0] != '\0') {
		char first[8];
		size_t n = dash != NULL ? (size_t)(dash - hp) : strlen(hp);
		snprintf(first, sizeof(first), "%.*s", (int)n, hp);
		/* Create checked the form. */
		str_tonum(first, 0, 65535, &lo, NULL);
		hi = lo;
		if (dash != NULL)
			str_tonum(dash + 1, lo, 65535, &hi, NULL);
	}
	for (long long p = lo; p <= hi && fd == -1; p++) {
		if (p != 0 && port_ours(ip, (int)p))
			ours = 1;
		else
			fd = port_listen(ip, (int)p, &bound, &err);
	}
	if (fd == -1) {
		char why[128];
		/* Go's wording, as dockerd's message has it. */
		snprintf(why, sizeof(why), "%s", strerror(err));
		why[0] = (char)tolower((unsigned char)why[0]);
		if (ours && (err == 0 || err == EADDRINUSE))
			return err_set(e, 500,
			    "driver failed programming external "
			    "connectivity on endpoint %s (%s): Bind for "
			    "%s:%s failed: port is already allocated",
			    container_name(pp->c), pp->c->id, ip, hp);
		return err_set(e, 500,
		    "driver failed programming external connectivity on "
		    "endpoint %s (%s): Error starting userland proxy: "
		    "listen %s %s:%s: bind: %s",
		    container_name(pp->c), pp->c->id,
		    strchr(ip, ':') != NULL ? "tcp6" : "tcp4", ip, hp, why);
	}
	ln = xcalloc(1, sizeof(*ln));
	ln->pp = pp;
	snprintf(ln->key, sizeof(ln->key), "%s", key);
	ln->cport = cport;
	snprintf(ln->host_ip, sizeof(ln->host_ip), "%s", ip);
	ln->host_port = bound;
	TAILQ_INSERT_TAIL(&pp->lns, ln, entry);
	ln->ln = evconnlistener_new(pp->b->base, port_on_accept, ln,
	    LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC, -1, fd);
	if (ln->ln == NULL) {
		close(fd);
		return err_set(
		    e, 500, "listening on %s:%d: out of memory", ip, bound);
	}
	return 0;
}

/* A binding without a host address on the default 0.0.0.0 is also
 * served on [::] at the same port, as dockerd does (a client that resolves
 * localhost to ::1 first, Node's, connects there). A machine without IPv6
 * serves IPv4 only, as dockerd. */
static int
port_bind6(struct port_pub *pp, const char *key, int cport, struct err *e)
{
	struct port_ln *last = TAILQ_LAST(&pp->lns, port_lns);
	char hp[8];
	int fd, bound, err = 0;

	if (last == NULL)
		return 0;
	fd = port_listen("::", last->host_port, &bound, &err);
	if (fd == -1 && (err == EAFNOSUPPORT || err == EADDRNOTAVAIL))
		return 0;
	if (fd != -1)
		close(fd);
	snprintf(hp, sizeof(hp), "%d", last->host_port);
	return port_bind(pp, key, cport, "::", hp, e);
}

/* NetworkSettings.Ports: every exposed port, with its bindings (dockerd
 * lists an unpublished one as null). */
static void
port_report(
    struct backend *b, struct container *c, struct port_pub *pp, int running)
{
	cJSON *ports = cJSON_CreateObject(), *list;
	const cJSON *it;
	struct port_ln *ln;
	char hp[8];

	cJSON *p;

	/* A container that does not run reports {}, as dockerd's. */
	if (running)
		cJSON_ArrayForEach(
		    it, json_obj(container_config(c), "ExposedPorts"))
			cJSON_AddItemToObject(
			    ports, it->string, cJSON_CreateNull());
	for (ln = pp != NULL ? TAILQ_FIRST(&pp->lns) : NULL; ln != NULL;
	     ln = TAILQ_NEXT(ln, entry)) {
		if (!cJSON_IsArray(list = cJSON_GetObjectItemCaseSensitive(
				       ports, ln->key))) {
			list = cJSON_CreateArray();
			json_set(ports, ln->key, list);
		}
		p = cJSON_CreateObject();
		snprintf(hp, sizeof(hp), "%d", ln->host_port);
		json_add_str(p, "HostIp", ln->host_ip);
		json_add_str(p, "HostPort", hp);
		cJSON_AddItemToArray(list, p);
	}
	json_set(json_obj(container_doc(c), "NetworkSettings"), "Ports", ports);
	backend_container_save(b, c);
}

static struct port_pub *
port_pub_new(struct backend *b, struct container *c)
{
	struct port_pub *pp = xcalloc(1, sizeof(*pp));

	pp->b = b;
	pp->c = c;
	container_ref(c);
	TAILQ_INIT(&pp->lns);
	TAILQ_INIT(&pp->conns);
	TAILQ_INSERT_TAIL(&port_pubs, pp, entry);
	return pp;
}

static void
port_pub_free(struct port_pub *pp)
{
	struct port_conn *pc;
	struct port_ln *ln;

	while ((pc = TAILQ_FIRST(&pp->conns)) != NULL)
		backend_port_conn_free(pc);
	while ((ln = TAILQ_FIRST(&pp->lns)) != NULL) {
		TAILQ_REMOVE(&pp->lns, ln, entry);
		if (ln->ln != NULL)
			evconnlistener_free(ln->ln);
		free(ln);
	}
	TAILQ_REMOVE(&port_pubs, pp, entry);
	container_unref(pp->c);
	free(pp);
}

/* The container port of key when it is TCP, else 0. */
static int
port_tcp(const char *key)
{
	const char *proto;
	int no;

	if (container_port_parse(key, &no, &proto) == -1 ||
	    strcmp(proto, "tcp") != 0)
		return 0;
	return no;
}

int
backend_port_open(struct backend *b, struct container *c, struct err *e)
{
	const cJSON *hc = container_host_config(c), *it, *bd;
	const cJSON *bindings = json_obj(hc, "PortBindings");
	const char *dflt = b->conf.publish_address != NULL ?
	    b->conf.publish_address :
	    "0.0.0.0";
	struct port_pub *pp;
	int cport;

	backend_port_close(b, c);
	pp = port_pub_new(b, c);
	cJSON_ArrayForEach(it, bindings) {
		if ((cport = port_tcp(it->string)) == 0)
			continue;
		cJSON_ArrayForEach(bd, it) {
			const char *ip = json_str(bd, "HostIp");
			int any = ip == NULL || ip[0] == '\0';
			if (port_bind(pp, it->string, cport, any ? dflt : ip,
				json_str(bd, "HostPort"), e) == -1 ||
			    (any && strcmp(dflt, "0.0.0.0") == 0 &&
				port_bind6(pp, it->string, cport, e) == -1))
				goto fail;
		}
	}
	/* -P: the exposed ports (the image's too) no binding names. */
	if (json_bool(hc, "PublishAllPorts", 0)) {
		cJSON_ArrayForEach(
		    it, json_obj(container_config(c), "ExposedPorts")) {
			const cJSON *own = cJSON_GetObjectItemCaseSensitive(
			    bindings, it->string);
			if ((cport = port_tcp(it->string)) == 0 ||
			    (cJSON_IsArray(own) && cJSON_GetArraySize(own) > 0))
				continue;
			if (port_bind(pp, it->string, cport, dflt, "", e) ==
				-1 ||
			    (strcmp(dflt, "0.0.0.0") == 0 &&
				port_bind6(pp, it->string, cport, e) == -1))
				goto fail;
		}
	}
	if (TAILQ_EMPTY(&pp->lns)) {
		port_pub_free(pp);
		pp = NULL;
	}
	port_report(b, c, pp, 1);
	return 0;
fail:
	port_pub_free(pp);
	port_report(b, c, NULL, 0);
	return -1;
}

void
backend_port_readopt(struct backend *b, struct container *c)
{
	const cJSON *ports = json_obj(
			json_obj(container_doc(c), "NetworkSettings"), "Ports"),
		    *it, *bd;
	struct port_pub *pp = NULL;
	struct err e;
	char hp[8];
	int cport;

	cJSON_ArrayForEach(it, ports) {
		if ((cport = port_tcp(it->string)) == 0)
			continue;
		cJSON_ArrayForEach(bd, it) {
			const char *ip = json_str(bd, "HostIp");
			snprintf(hp, sizeof(hp), "%s",
			    json_str(bd, "HostPort") != NULL ?
				json_str(bd, "HostPort") :
				"");
			if (ip == NULL || hp[0] == '\0')
				continue;
			if (pp == NULL)
				pp = port_pub_new(b, c);
			if (port_bind(pp, it->string, cport, ip, hp, &e) == -1)
				log_warnx("container %.12s: published port "
					  "%s: %s",
				    c->id, it->string, e.msg);
		}
	}
}

void
backend_port_close(struct backend *b, struct container *c)
{
	struct port_pub *pp = port_pub_find(c);

	if (pp != NULL)
		port_pub_free(pp);
	if (!c->gone)
		port_report(b, c, NULL, 0);
}

void
backend_port_shutdown(struct backend *b)
{
	struct port_pub *pp, *next;

	for (pp = TAILQ_FIRST(&port_pubs); pp != NULL; pp = next) {
		next = TAILQ_NEXT(pp, entry);
		if (pp->b == b)
			port_pub_free(pp);
	}
}
