/* sockerless-agent: docker cp's private header, shared by archive.c (path
 * stat, helpers), archive_get.c (the tar out of the file system) and
 * archive_put.c (the tar into it). */
#ifndef AGENT_ARCHIVE_H
#define AGENT_ARCHIVE_H

#define ARCHIVE_BLOCK 512
#define ARCHIVE_BUF   65536
/* PAX and GNU long-name records larger than this are refused. */
#define ARCHIVE_META_MAX (1 << 20)

/* Child exit statuses (archive_get_child, archive_put_child). */
#define ARCHIVE_EOTHER	1
#define ARCHIVE_ENOENT	2
#define ARCHIVE_EBADREQ 3
#define ARCHIVE_EPERM	4

/* One line on fd 2 (the parent reports it), then the status. */
int archive_fail(int status, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* The child exit status for errno err. */
int archive_errno_status(int err);
/* malloc'd copy of s. */
char *archive_dup(const char *s);
/* a + "/" + b, malloc'd; no doubled slash when a ends with one. */
char *archive_join(const char *a, const char *b);
/* The last element of path as Go's filepath.Base has it ("/" for "/"). */
char *archive_base(const char *path);
/* "/x/." or "/" (and "/x/./"): the directory's contents, not itself. */
int archive_is_dot(const char *path);

#endif
