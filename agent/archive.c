/* docker cp inside the container: path stat, and the helpers the tar
 * writer (archive_get.c) and reader (archive_put.c) share. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>

#include "agent.h"
#include "archive.h"
#include "modules.h"
#include "sockerless/lite.h"

/* Go's os.FileMode type bits, as Docker's path stat carries them. */
#define ARCHIVE_GO_DIR	      (1U << 31)
#define ARCHIVE_GO_SYMLINK    (1U << 27)
#define ARCHIVE_GO_DEVICE     (1U << 26)
#define ARCHIVE_GO_NAMEDPIPE  (1U << 25)
#define ARCHIVE_GO_SOCKET     (1U << 24)
#define ARCHIVE_GO_SETUID     (1U << 23)
#define ARCHIVE_GO_SETGID     (1U << 22)
#define ARCHIVE_GO_CHARDEVICE (1U << 21)
#define ARCHIVE_GO_STICKY     (1U << 20)

/* One line on fd 2 (the parent reports it), then the status. */
int
archive_fail(int status, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;
	size_t n;
	ssize_t r;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg) - 1, fmt, ap);
	va_end(ap);
	n = strlen(msg);
	msg[n++] = '\n';
	r = write(STDERR_FILENO, msg, n);
	(void)r;
	return status;
}

int
archive_errno_status(int err)
{
	switch (err) {
	case ENOENT:
	case ENOTDIR:
		return ARCHIVE_ENOENT;
	case EACCES:
	case EPERM:
		return ARCHIVE_EPERM;
	default:
		return ARCHIVE_EOTHER;
	}
}

char *
archive_dup(const char *s)
{
	size_t n = strlen(s) + 1;

	return memcpy(xmalloc(n), s, n);
}

/* a + "/" + b, malloc'd; no doubled slash when a ends with one. */
char *
archive_join(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	char *s = xmalloc(la + lb + 2);

	memcpy(s, a, la);
	if (la == 0 || a[la - 1] != '/')
		s[la++] = '/';
	memcpy(s + la, b, lb + 1);
	return s;
}

/* The last element of path as Go's filepath.Base has it ("/" for "/"). */
char *
archive_base(const char *path)
{
	size_t end = strlen(path), start;
	char *s;

	while (end > 1 && path[end - 1] == '/')
		end--;
	if (end == 1 && path[0] == '/')
		return archive_dup("/");
	start = end;
	while (start > 0 && path[start - 1] != '/')
		start--;
	s = xmalloc(end - start + 1);
	memcpy(s, path + start, end - start);
	s[end - start] = '\0';
	return s;
}

/* "/x/." or "/" (and "/x/./"): the directory's contents, not itself. */
int
archive_is_dot(const char *path)
{
	size_t n = strlen(path);

	while (n > 1 && path[n - 1] == '/')
		n--;
	if (n == 1 && path[0] == '/')
		return 1;
	return (n >= 2 && path[n - 1] == '.' && path[n - 2] == '/');
}

static uint32_t
archive_go_mode(mode_t m)
{
	uint32_t g = m & 0777;

	if (S_ISDIR(m))
		g |= ARCHIVE_GO_DIR;
	else if (S_ISLNK(m))
		g |= ARCHIVE_GO_SYMLINK;
	else if (S_ISBLK(m))
		g |= ARCHIVE_GO_DEVICE;
	else if (S_ISCHR(m))
		g |= ARCHIVE_GO_DEVICE | ARCHIVE_GO_CHARDEVICE;
	else if (S_ISFIFO(m))
		g |= ARCHIVE_GO_NAMEDPIPE;
	else if (S_ISSOCK(m))
		g |= ARCHIVE_GO_SOCKET;
	if (m & S_ISUID)
		g |= ARCHIVE_GO_SETUID;
	if (m & S_ISGID)
		g |= ARCHIVE_GO_SETGID;
	if (m & S_ISVTX)
		g |= ARCHIVE_GO_STICKY;
	return g;
}

static char *
archive_error_json(int status, const char *msg, int *statusp)
{
	struct jsonw w;

	*statusp = status;
	jsonw_init(&w);
	jsonw_printf(&w, "{\"status\":%d,\"message\":", status);
	jsonw_str(&w, msg, strlen(msg));
	jsonw_puts(&w, "}");
	return jsonw_take(&w);
}

/* Where a symlink leads, absolute, as Docker resolves it in the rootfs. */
static char *
archive_link_target(const char *path)
{
	char *real, buf[4096], *dir, *t;
	ssize_t n;
	size_t k;

	if ((real = realpath(path, NULL)) != NULL)
		return real;
	if ((n = readlink(path, buf, sizeof(buf) - 1)) < 0)
		return archive_dup("");
	buf[n] = '\0';
	if (buf[0] == '/')
		return archive_dup(buf);
	/* Dangling and relative: beside the link. */
	dir = archive_dup(path);
	k = strlen(dir);
	while (k > 1 && dir[k - 1] != '/')
		k--;
	dir[k] = '\0';
	t = archive_join(dir, buf);
	free(dir);
	return t;
}

char *
archive_stat_json(const char *path, int *status)
{
	struct stat st;
	struct jsonw w;
	char msg[4200], when[48], *name, *target;
	int rc;

	if (path == NULL || path[0] != '/') {
		snprintf(msg, sizeof(msg), "invalid path: not absolute: %s",
		    path ? path : "");
		return archive_error_json(400, msg, status);
	}
	/* A trailing "/" or "/." follows a final symlink, as Docker does. */
	if (path[strlen(path) - 1] == '/' || archive_is_dot(path))
		rc = stat(path, &st);
	else
		rc = lstat(path, &st);
	if (rc == -1) {
		if (errno == ENOENT || errno == ENOTDIR) {
			snprintf(msg, sizeof(msg),
			    "Could not find the file %s in container", path);
			return archive_error_json(404, msg, status);
		}
		snprintf(
		    msg, sizeof(msg), "lstat %s: %s", path, strerror(errno));
		return archive_error_json(
		    errno == EACCES ? 403 : 500, msg, status);
	}
	name = archive_base(path);
	target =
	    S_ISLNK(st.st_mode) ? archive_link_target(path) : archive_dup("");
	jsonw_time(
	    when, sizeof(when), (int64_t)st.st_mtim.tv_sec, st.st_mtim.tv_nsec);
	jsonw_init(&w);
	jsonw_puts(&w, "{\"stat\":{\"name\":");
	jsonw_str(&w, name, strlen(name));
	jsonw_printf(&w,
	    ",\"size\":%lld,\"mode\":%" PRIu32 ",\"mtime\":\"%s\","
	    "\"linkTarget\":",
	    (long long)st.st_size, archive_go_mode(st.st_mode), when);
	jsonw_str(&w, target, strlen(target));
	jsonw_puts(&w, "}}");
	free(name);
	free(target);
	*status = 200;
	return jsonw_take(&w);
}
