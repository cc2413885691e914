/* Listen addresses as dockerd's -H names them: "unix:///path" (or a bare
 * path), "tcp://host:port" and "fd://" / "fd://name" (systemd socket
 * activation, read from LISTEN_PID, LISTEN_FDS and LISTEN_FDNAMES as
 * sd_listen_fds(3) documents it, without libsystemd). */
#ifndef SOCKERLESS_LISTEN_H
#define SOCKERLESS_LISTEN_H

#include "sockerless/err.h"

enum listen_kind {
	LISTEN_UNIX,
	LISTEN_TCP,
	LISTEN_FD,
};

struct listen_addr {
	enum listen_kind kind;
	char *path; /* LISTEN_UNIX */
	char *host; /* LISTEN_TCP: an IP address ("0.0.0.0" for "tcp://:p") */
	int port;   /* LISTEN_TCP */
	char *name; /* LISTEN_FD: the socket's FileDescriptorName, or NULL
		     * for every passed socket */
};

/* Parses one entry. unix:// without a path is def_unix; tcp:// without a
 * port is def_port; "localhost" is 127.0.0.1. Returns 0, or -1 with a 400
 * naming the entry and what is expected. */
int listen_parse(const char *spec, const char *def_unix, int def_port,
    struct listen_addr *a, struct err *e);
void listen_addr_free(struct listen_addr *a);
/* Whether an IP address is a loopback one (127/8, ::1). */
int listen_is_loopback(const char *host);

/* The sockets systemd passed to this process: with name NULL all of them,
 * else those named name (LISTEN_FDNAMES; an unnamed socket is "unknown").
 * Fills fds (at most max) and returns how many; -1 with e when none was
 * passed to this process (LISTEN_PID is another's or unset) or none has
 * that name. The descriptors get FD_CLOEXEC. */
int listen_activated(const char *name, int *fds, int max, struct err *e);

#endif
