/* The frontend's listen list (hosts, dockerd's -H): unix sockets with
 * their group and mode, TCP with TLS, and sockets systemd passed. The
 * policy is dockerd's, stricter: plain TCP and TLS without client
 * certificates only on loopback. */
#include <sys/socket.h>
#include <sys/stat.h>

#include <arpa/inet.h>
#include <errno.h>
#include <grp.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "frontend.h"
#include "sockerless/listen.h"
#include "sockerless/log.h"
#include "sockerless/tls.h"
#include "sockerless/xmalloc.h"

#define HOSTS_DEFAULT_UNIX "/run/sockerless/docker.sock"
#define HOSTS_MAX_FDS	   16

/* The listen list with the deprecated keys folded in. */
static void
hosts_list(struct strv *out)
{
	const struct frontend_conf *c = &frontend->conf;

	strv_init(out);
	for (size_t i = 0; i < c->hosts.n; i++)
		strv_add(out, c->hosts.v[i]);
	if (c->listen != NULL && c->listen[0] != '\0') {
		log_warnx("listen is deprecated: use hosts: [%s%s]",
		    strstr(c->listen, "://") != NULL ? "" : "unix://",
		    c->listen);
		strv_add(out, c->listen);
	}
	if (c->listen_tcp != NULL && c->listen_tcp[0] != '\0') {
		log_warnx("listen_tcp is deprecated: use hosts: [tcp://%s]",
		    c->listen_tcp);
		strv_take(out, xasprintf("tcp://%s", c->listen_tcp));
	}
	if (out->n == 0)
		strv_add(out, "unix://" HOSTS_DEFAULT_UNIX);
}

/* Whether a TCP listener on host may be served with ctx (NULL: plain);
 * 0, or -1 with the sentence. */
static int
hosts_tcp_policy(
    const char *what, const char *host, SSL_CTX *ctx, struct err *e)
{
	int lo = listen_is_loopback(host);

	if (ctx == NULL && !lo)
		return err_set(e, 400,
		    "%s: plain TCP on a non-loopback address would hand "
		    "full control of the Docker API to the network: set "
		    "tlscert and tlskey with tlsverify and tlscacert, or "
		    "listen on 127.0.0.1",
		    what);
	if (ctx != NULL && !frontend->conf.tlsverify && !lo)
		return err_set(e, 400,
		    "%s: TLS without client certificates on a non-loopback "
		    "address lets anyone who reaches it use the API: set "
		    "tlsverify and tlscacert",
		    what);
	if (ctx == NULL)
		log_warnx("%s: plain TCP without TLS: any local user can use "
			  "the Docker API through it; set tlsverify, "
			  "tlscacert, tlscert and tlskey to protect it",
		    what);
	else if (!frontend->conf.tlsverify)
		log_warnx("%s: TLS without client certificates (tlsverify "
			  "is off): any local user can use the Docker API",
		    what);
	return 0;
}

/* The unix socket's group, dockerd's way: the group key if that group
 * exists; the default group missing leaves the socket to root (0660). */
static int
hosts_group(gid_t *gid, struct err *e)
{
	const char *name = frontend->conf.group;
	struct group *gr;

	*gid = (gid_t)-1;
	if (name == NULL || name[0] == '\0')
		return 0;
	if ((gr = getgrnam(name)) != NULL) {
		*gid = gr->gr_gid;
		return 0;
	}
	if (strcmp(name, "sockerless") == 0) {
		log_debug("group sockerless does not exist: the unix sockets "
			  "are for their owner only");
		return 0;
	}
	return err_set(e, 400,
	    "group %s does not exist: create it (groupadd %s) or set group "
	    "to an existing one, or to \"\" to leave the sockets' group "
	    "alone",
	    name, name);
}

static int
hosts_unix(struct httpsrv *srv, const char *path, gid_t gid, struct err *e)
{
	char *dir = xstrdup(path), *slash;

	if ((slash = strrchr(dir, '/')) != NULL && slash != dir) {
		*slash = '\0';
		if (mkdir(dir, 0755) == -1 && errno != EEXIST) {
			err_set(
			    e, 500, "creating %s: %s", dir, strerror(errno));
			free(dir);
			return -1;
		}
	}
	free(dir);
	if (httpsrv_listen_unix(srv, path, 0660, e) == -1)
		return -1;
	if (gid != (gid_t)-1 && chown(path, (uid_t)-1, gid) == -1)
		return err_set(e, 500, "giving %s to group %s: %s", path,
		    frontend->conf.group, strerror(errno));
	log_info("serving the Docker API on unix://%s", path);
	return 0;
}

static int
hosts_fd(struct httpsrv *srv, const struct listen_addr *a, SSL_CTX *ctx,
    struct err *e)
{
	int fds[HOSTS_MAX_FDS], n;

	if ((n = listen_activated(a->name, fds, HOSTS_MAX_FDS, e)) == -1)
		return -1;
	for (int i = 0; i < n; i++) {
		struct sockaddr_storage ss;
		socklen_t len = sizeof(ss);
		char host[INET6_ADDRSTRLEN] = "", what[96];
		int tcp;

		memset(&ss, 0, sizeof(ss));
		if (getsockname(fds[i], (struct sockaddr *)&ss, &len) == -1)
			return err_set(e, 500, "passed socket %d: %s", fds[i],
			    strerror(errno));
		tcp = ss.ss_family == AF_INET || ss.ss_family == AF_INET6;
		if (ss.ss_family == AF_INET)
			inet_ntop(AF_INET,
			    &((struct sockaddr_in *)&ss)->sin_addr, host,
			    sizeof(host));
		else if (ss.ss_family == AF_INET6)
			inet_ntop(AF_INET6,
			    &((struct sockaddr_in6 *)&ss)->sin6_addr, host,
			    sizeof(host));
		snprintf(what, sizeof(what), "fd://%s (socket %d%s%s)",
		    a->name != NULL ? a->name : "", fds[i], tcp ? ", tcp " : "",
		    host);
		if (tcp && hosts_tcp_policy(what, host, ctx, e) == -1)
			return -1;
		if (httpsrv_listen_fd(srv, fds[i], tcp ? ctx : NULL, e) == -1)
			return -1;
		log_info("serving the Docker API on %s%s", what,
		    tcp && ctx != NULL ? " with TLS" : "");
	}
	return 0;
}

int
frontend_hosts(struct httpsrv *srv, struct err *e)
{
	const struct frontend_conf *c = &frontend->conf;
	struct strv list;
	struct listen_addr a;
	SSL_CTX *ctx = NULL;
	gid_t gid;
	int rc = -1, tls = c->tlscert != NULL && c->tlscert[0] != '\0';

	memset(&a, 0, sizeof(a));
	hosts_list(&list);
	if (c->tlsverify && !tls) {
		err_set(e, 400,
		    "tlsverify needs tlscert and tlskey (the server's "
		    "certificate and key) and tlscacert");
		goto out;
	}
	if ((tls || (c->tlskey != NULL && c->tlskey[0] != '\0')) &&
	    (ctx = tls_server_ctx(
		 c->tlscert, c->tlskey, c->tlscacert, c->tlsverify, e)) == NULL)
		goto out;
	if (hosts_group(&gid, e) == -1)
		goto out;
	for (size_t i = 0; i < list.n; i++) {
		char what[300];

		if (listen_parse(list.v[i], HOSTS_DEFAULT_UNIX,
			ctx ? 2376 : 2375, &a, e) == -1)
			goto out;
		snprintf(what, sizeof(what), "tcp://%s:%d",
		    a.host ? a.host : "", a.port);
		if (a.kind == LISTEN_TCP &&
		    hosts_tcp_policy(what, a.host, ctx, e) == -1)
			goto out;
		if (srv != NULL && a.kind == LISTEN_UNIX &&
		    hosts_unix(srv, a.path, gid, e) == -1)
			goto out;
		if (srv != NULL && a.kind == LISTEN_FD &&
		    hosts_fd(srv, &a, ctx, e) == -1)
			goto out;
		if (srv != NULL && a.kind == LISTEN_TCP) {
			if (httpsrv_listen_tcp_tls(
				srv, a.host, a.port, ctx, e) == -1)
				goto out;
			log_info("serving the Docker API on %s%s", what,
			    ctx == NULL	     ? "" :
				c->tlsverify ? " with TLS, client "
					       "certificates required" :
					       " with TLS");
		}
		listen_addr_free(&a);
	}
	if (ctx != NULL && srv != NULL) {
		int any_tcp = 0;

		for (size_t i = 0; i < list.n; i++)
			any_tcp |= strncmp(list.v[i], "tcp://", 6) == 0 ||
			    strncmp(list.v[i], "fd://", 5) == 0;
		if (!any_tcp)
			log_warnx("tlscert is set but hosts has no tcp:// or "
				  "fd:// entry: TLS is not served");
	}
	rc = 0;
out:
	listen_addr_free(&a);
	strv_free(&list);
	SSL_CTX_free(ctx);
	return rc;
}
