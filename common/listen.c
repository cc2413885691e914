/* Listen addresses (dockerd's -H) and systemd socket activation; see
 * listen.h. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sockerless/listen.h"
#include "sockerless/str.h"
#include "sockerless/xmalloc.h"

#define SD_LISTEN_FDS_START 3

void
listen_addr_free(struct listen_addr *a)
{
	free(a->path);
	free(a->host);
	free(a->name);
	memset(a, 0, sizeof(*a));
}

int
listen_is_loopback(const char *host)
{
	struct in_addr in;
	struct in6_addr in6;

	if (inet_pton(AF_INET, host, &in) == 1)
		return (ntohl(in.s_addr) >> 24) == 127;
	if (inet_pton(AF_INET6, host, &in6) == 1)
		return IN6_IS_ADDR_LOOPBACK(&in6);
	return 0;
}

static int
listen_parse_tcp(const char *spec, const char *rest, int def_port,
    struct listen_addr *a, struct err *e)
{
	const char *colon, *hend, *errstr;
	char *host;
	long long port = def_port;
	struct in_addr in;
	struct in6_addr in6;

	if (strchr(rest, '/') != NULL && strcmp(strchr(rest, '/'), "/") != 0)
		return err_set(e, 400,
		    "hosts: %s: a tcp:// address takes no path; expected "
		    "tcp://host:port",
		    spec);
	if (rest[0] == '[') {
		if ((hend = strchr(rest, ']')) == NULL)
			return err_set(e, 400,
			    "hosts: %s: an IPv6 address needs its closing ']'",
			    spec);
		host = xstrndup(rest + 1, (size_t)(hend - rest - 1));
		colon = hend[1] == ':' ? hend + 1 : NULL;
		if (hend[1] != ':' && hend[1] != '\0' && hend[1] != '/') {
			free(host);
			return err_set(e, 400,
			    "hosts: %s: expected tcp://[address]:port", spec);
		}
	} else {
		colon = strrchr(rest, ':');
		host = colon != NULL ? xstrndup(rest, (size_t)(colon - rest)) :
				       xstrdup(rest);
		host[strcspn(host, "/")] = '\0';
	}
	if (colon != NULL) {
		char *p = xstrdup(colon + 1);

		p[strcspn(p, "/")] = '\0';
		if (str_tonum(p, 1, 65535, &port, &errstr) == -1) {
			err_set(e, 400,
			    "hosts: %s: port '%s' is %s: expected 1-65535",
			    spec, p, errstr);
			free(p);
			free(host);
			return -1;
		}
		free(p);
	}
	if (host[0] == '\0') {
		free(host);
		host = xstrdup("0.0.0.0");
	} else if (strcmp(host, "localhost") == 0) {
		free(host);
		host = xstrdup("127.0.0.1");
	}
	if (inet_pton(AF_INET, host, &in) != 1 &&
	    inet_pton(AF_INET6, host, &in6) != 1) {
		err_set(e, 400,
		    "hosts: %s: '%s' is not an IP address (host names are "
		    "not resolved: give the address to listen on)",
		    spec, host);
		free(host);
		return -1;
	}
	a->kind = LISTEN_TCP;
	a->host = host;
	a->port = (int)port;
	return 0;
}

int
listen_parse(const char *spec, const char *def_unix, int def_port,
    struct listen_addr *a, struct err *e)
{
	memset(a, 0, sizeof(*a));
	if (spec == NULL || spec[0] == '\0')
		return err_set(e, 400, "hosts: an entry is empty");
	if (spec[0] == '/') {
		a->kind = LISTEN_UNIX;
		a->path = xstrdup(spec);
		return 0;
	}
	if (strncmp(spec, "unix://", 7) == 0) {
		if (spec[7] == '\0') {
			a->kind = LISTEN_UNIX;
			a->path = xstrdup(def_unix);
			return 0;
		}
		if (spec[7] != '/')
			return err_set(e, 400,
			    "hosts: %s: a unix socket path must be absolute "
			    "(unix:///run/sockerless/docker.sock)",
			    spec);
		a->kind = LISTEN_UNIX;
		a->path = xstrdup(spec + 7);
		return 0;
	}
	if (strncmp(spec, "tcp://", 6) == 0)
		return listen_parse_tcp(spec, spec + 6, def_port, a, e);
	if (strncmp(spec, "fd://", 5) == 0) {
		a->kind = LISTEN_FD;
		if (spec[5] != '\0') {
			if (strchr(spec + 5, ':') != NULL ||
			    strchr(spec + 5, '/') != NULL)
				return err_set(e, 400,
				    "hosts: %s: expected fd:// or fd://NAME "
				    "(a FileDescriptorName of the socket unit)",
				    spec);
			a->name = xstrdup(spec + 5);
		}
		return 0;
	}
	return err_set(e, 400,
	    "hosts: '%s' is not a listen address: expected unix:///path, "
	    "tcp://host:port or fd:// (as dockerd's -H)",
	    spec);
}

int
listen_activated(const char *name, int *fds, int max, struct err *e)
{
	const char *pid = getenv("LISTEN_PID"), *nfds = getenv("LISTEN_FDS");
	const char *names = getenv("LISTEN_FDNAMES"), *errstr;
	long long lpid, n;
	struct strv nv;
	int found = 0;

	if (pid == NULL || nfds == NULL)
		return err_set(e, 400,
		    "fd%s%s: no sockets were passed to this process "
		    "(LISTEN_PID and LISTEN_FDS are unset): start it from "
		    "its systemd socket unit (sockerless.socket), or list "
		    "unix:// or tcp:// addresses in hosts",
		    "://", name != NULL ? name : "");
	if (str_tonum(pid, 1, 1LL << 31, &lpid, &errstr) == -1 ||
	    lpid != (long long)getpid())
		return err_set(e, 400,
		    "fd://%s: the passed sockets are for process %s, not "
		    "this one (%d); start it from its systemd socket unit",
		    name != NULL ? name : "", pid, (int)getpid());
	if (str_tonum(nfds, 0, 1 << 16, &n, &errstr) == -1 || n == 0)
		return err_set(e, 400,
		    "fd://%s: LISTEN_FDS is '%s': no sockets were passed",
		    name != NULL ? name : "", nfds);
	strv_init(&nv);
	for (const char *q = names; q != NULL;) {
		const char *c = strchr(q, ':');

		strv_take(
		    &nv, c != NULL ? xstrndup(q, (size_t)(c - q)) : xstrdup(q));
		q = c != NULL ? c + 1 : NULL;
	}
	for (int i = 0; i < (int)n; i++) {
		const char *nm =
		    i < (int)nv.n && nv.v[i][0] != '\0' ? nv.v[i] : "unknown";
		int fd = SD_LISTEN_FDS_START + i;

		if (name != NULL && strcmp(name, nm) != 0)
			continue;
		if (fcntl(fd, F_GETFD) == -1)
			continue;
		if (found == max)
			break;
		fcntl(fd, F_SETFD, FD_CLOEXEC);
		fds[found++] = fd;
	}
	strv_free(&nv);
	if (found == 0)
		return err_set(e, 400,
		    "fd://%s: none of the %lld passed sockets is named '%s' "
		    "(LISTEN_FDNAMES=%s): check FileDescriptorName= in the "
		    "socket unit",
		    name != NULL ? name : "", n, name != NULL ? name : "",
		    names != NULL ? names : "");
	return found;
}
