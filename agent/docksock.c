/* The Docker socket inside the workload (SOCKERLESS_DOCKER_SOCK,
 * docs/volumes.md): a unix listener at each path the container bind-mounts
 * the Docker socket to; each accepted connection is carried over the link
 * as an agent-initiated channel (CONNECT {"target":"docker"}) that the
 * backend splices to the Docker API of the installation. */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "agent.h"
#include "jread.h"
#include "proc.h"

#define DOCKSOCK_MAX	 16
#define DOCKSOCK_BACKLOG 64
/* Connections made before the run's first link wait this long for it
 * (the backend dials once the workload runs); later, with the link down,
 * a connection is closed at once. */
#define DOCKSOCK_FIRST_LINK_MS 30000
#define DOCKSOCK_WAITING_MAX   64

static struct {
	int fd;
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
} docksock_ls[DOCKSOCK_MAX];
static size_t docksock_n;
/* Accepted before the first link: fd, and its listener. */
static struct {
	int fd;
	size_t ls;
} docksock_waiting[DOCKSOCK_WAITING_MAX];
static size_t docksock_nwaiting;
static int64_t docksock_deadline;
static int docksock_linked; /* a link has been up in this run */

/* Whether s is all digits (a numeric uid or gid). */
static int
docksock_number(const char *s, unsigned long *v)
{
	char *end;

	if (*s < '0' || *s > '9')
		return 0;
	errno = 0;
	*v = strtoul(s, &end, 10);
	return *end == '\0' && errno == 0;
}

/* The primary group the main process runs with, as spawn.c resolves
 * SOCKERLESS_USER ("uid[:gid]" or names; NULL: root); -1 when it cannot
 * be known (a uid the passwd file does not name, without a group). */
static long
docksock_gid(const char *spec)
{
	char user[256], *group;
	struct passwd *pw;
	struct group *gr;
	unsigned long v;

	if (spec == NULL || *spec == '\0')
		return 0;
	snprintf(user, sizeof(user), "%s", spec);
	if ((group = strchr(user, ':')) != NULL && *++group != '\0') {
		group[-1] = '\0';
		if (docksock_number(group, &v))
			return (long)v;
		gr = getgrnam(group);
		return gr != NULL ? (long)gr->gr_gid : -1;
	}
	if (group != NULL)
		group[-1] = '\0';
	pw = docksock_number(user, &v) ? getpwuid((uid_t)v) : getpwnam(user);
	return pw != NULL ? (long)pw->pw_gid : -1;
}

/* mkdir -p of path's parent directories, 0755. */
static int
docksock_parents(const char *path)
{
	char dir[sizeof(docksock_ls[0].path)], *p;

	snprintf(dir, sizeof(dir), "%s", path);
	for (p = strchr(dir + 1, '/'); p != NULL; p = strchr(p + 1, '/')) {
		*p = '\0';
		if (mkdir(dir, 0755) == -1 && errno != EEXIST)
			return -1;
		*p = '/';
	}
	return 0;
}

/* Only a socket left by an earlier run is replaced: a file or directory
 * at the path is the image's, and stays. */
static int
docksock_clear(const char *path)
{
	struct stat st;

	if (lstat(path, &st) == -1)
		return errno == ENOENT ? 0 : -1;
	if (!S_ISSOCK(st.st_mode)) {
		errno = EEXIST;
		return -1;
	}
	return unlink(path);
}

/* Owner root, group of the main process's user, 0660; 0666 when that
 * group cannot be known. An agent that is not root runs the main process
 * as itself: its own socket is its user's already. */
static void
docksock_perms(const char *path, long gid)
{
	if (gid < 0 || (geteuid() == 0 && chown(path, 0, (gid_t)gid) == -1)) {
		chmod(path, 0666);
		return;
	}
	chmod(path, 0660);
}

/* One listener at path; 0, or -1 after a line on stderr. */
static int
docksock_listen(const char *path, long gid)
{
	struct sockaddr_un sa;
	const char *step = "path";
	int fd = -1;

	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	if (path[0] != '/' || strlen(path) >= sizeof(sa.sun_path)) {
		errno = ENAMETOOLONG;
		goto fail;
	}
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	step = "directories";
	if (docksock_parents(path) == -1)
		goto fail;
	step = "existing file";
	if (docksock_clear(path) == -1)
		goto fail;
	step = "socket";
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd == -1 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == -1)
		goto fail;
	docksock_perms(path, gid);
	if (listen(fd, DOCKSOCK_BACKLOG) == -1)
		goto fail;
	docksock_ls[docksock_n].fd = fd;
	snprintf(docksock_ls[docksock_n].path, sizeof(docksock_ls[0].path),
	    "%s", path);
	docksock_n++;
	return 0;
fail:
	fprintf(stderr,
	    "sockerless-agent: cannot serve the Docker socket at %s (%s): "
	    "%s\n",
	    path, step,
	    errno == EEXIST ? "a file that is not a socket is there" :
			      strerror(errno));
	if (fd != -1)
		close(fd);
	return -1;
}

/* The JSON array of strings json, or NULL when it is not one. */
static char **
docksock_paths(const char *json)
{
	struct jread c;

	jread_init(&c, json, strlen(json));
	return jread_str_array(&c, DOCKSOCK_MAX);
}

void
docksock_init(const char *json, const char *user)
{
	char **paths;
	long gid;
	size_t i;

	if (json == NULL || *json == '\0')
		return;
	if ((paths = docksock_paths(json)) == NULL) {
		fprintf(stderr,
		    "sockerless-agent: malformed SOCKERLESS_DOCKER_SOCK (a "
		    "JSON array of at most 16 paths): no Docker socket "
		    "served\n");
		return;
	}
	gid = docksock_gid(user);
	for (i = 0; paths[i] != NULL && docksock_n < DOCKSOCK_MAX; i++)
		docksock_listen(paths[i], gid);
	jread_strv_free(paths);
}

/* Carries fd, accepted on listener i, over the link. Without a link it is
 * closed at once: the client reports a failed request instead of waiting
 * on nothing. */
static void
docksock_carry(int fd, size_t i)
{
	char what[sizeof(docksock_ls[0].path) + 32];

	snprintf(what, sizeof(what), "Docker socket %s", docksock_ls[i].path);
	chan_connect(fd, "{\"kind\":\"connect\",\"target\":\"docker\"}", what);
}

static void
docksock_on_accept(void *arg, short revents)
{
	size_t i = (size_t)(uintptr_t)arg;
	struct sockaddr_un peer;
	socklen_t len = sizeof(peer);
	int fd;

	(void)revents;
	fd = accept4(docksock_ls[i].fd, (struct sockaddr *)&peer, &len,
	    SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (fd == -1)
		return;
	if (docksock_linked || docksock_nwaiting == DOCKSOCK_WAITING_MAX) {
		docksock_carry(fd, i);
		return;
	}
	if (docksock_nwaiting == 0)
		docksock_deadline = proc_now_ms() + DOCKSOCK_FIRST_LINK_MS;
	docksock_waiting[docksock_nwaiting].fd = fd;
	docksock_waiting[docksock_nwaiting++].ls = i;
}

/* The run's first link came (carry the waiting connections) or did not
 * come in time (close them). */
static void
docksock_first_link(int64_t now)
{
	size_t i;

	if (link_current())
		docksock_linked = 1;
	if (docksock_nwaiting == 0)
		return;
	if (!docksock_linked && now < docksock_deadline) {
		loop_timer(docksock_deadline);
		return;
	}
	for (i = 0; i < docksock_nwaiting; i++)
		docksock_carry(docksock_waiting[i].fd, docksock_waiting[i].ls);
	docksock_nwaiting = 0;
}

void
docksock_prepare(int64_t now)
{
	size_t i;

	docksock_first_link(now);
	for (i = 0; i < docksock_n; i++)
		loop_watch(docksock_ls[i].fd, POLLIN, docksock_on_accept,
		    (void *)(uintptr_t)i);
}
