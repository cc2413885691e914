/* The agent's tar reader (agent/archive.c archive_put_child), as docker cp
 * into a container feeds it, extracting into a scratch directory; then the
 * tree is stat'ed and archived back (archive_get_child) and emptied. The
 * first byte sets noOverwriteDirNonDir. The extraction runs as nobody when
 * started as root: a path escape must not reach the rest of the machine
 * (tests/fuzz/run.sh gives nobody the fuzzer's directories).
 *
 * Set-up is paid once, not per input: the scratch directory is on tmpfs
 * when there is one (/dev/shm; ext4 with discard made every input cost
 * milliseconds), it stays and is only emptied, and the tar's memory file
 * and /dev/null are opened once. */
#include <sys/mman.h>
#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <stdio.h>
#include <unistd.h>

#include "../../agent/modules.h"
#include "fuzz.h"

static char fuzz_root[64], fuzz_dest[96];
static unsigned fuzz_trash;
static int fuzz_in = -1, fuzz_null = -1;

/* Empties the directory dfd (closed here), depth first; extracted modes
 * that deny the walk are opened up on the way. -1 when something stays. */
static int
fuzz_empty(int dfd)
{
	DIR *d = fdopendir(dfd);
	struct dirent *de;
	int sub, rc = 0;

	if (d == NULL) {
		close(dfd);
		return -1;
	}
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 ||
		    strcmp(de->d_name, "..") == 0)
			continue;
		if (unlinkat(dirfd(d), de->d_name, 0) == 0)
			continue;
		/* A directory (EISDIR on Linux): its contents first. */
		if (fchmodat(dirfd(d), de->d_name, 0700, 0) == -1)
			rc = -1;
		sub = openat(dirfd(d), de->d_name,
		    O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (sub == -1 || fuzz_empty(sub) == -1 ||
		    unlinkat(dirfd(d), de->d_name, AT_REMOVEDIR) == -1)
			rc = -1;
	}
	closedir(d);
	return rc;
}

static void
fuzz_cleanup(void)
{
	int dfd = open(fuzz_root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (dfd != -1)
		fuzz_empty(dfd);
	(void)rmdir(fuzz_root);
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	struct stat st;
	const char *tmp;

	(void)argc;
	(void)argv;
	if (geteuid() == 0 &&
	    (setgroups(0, NULL) == -1 || setgid(65534) == -1 ||
		setuid(65534) == -1)) {
		perror("fuzz_agent_archive: dropping root");
		abort();
	}
	tmp = stat("/dev/shm", &st) == 0 && S_ISDIR(st.st_mode) &&
		access("/dev/shm", W_OK | X_OK) == 0 ?
	    "/dev/shm" :
	    "/tmp";
	snprintf(fuzz_root, sizeof(fuzz_root), "%s/sk-fuzz-archive.%d", tmp,
	    (int)getpid());
	snprintf(fuzz_dest, sizeof(fuzz_dest), "%s/dest", fuzz_root);
	if (mkdir(fuzz_root, 0700) == -1 || mkdir(fuzz_dest, 0755) == -1) {
		perror(fuzz_root);
		abort();
	}
	/* A memory file: the tar is read from an fd, as from the link. */
	if ((fuzz_in = memfd_create("fuzz-tar", MFD_CLOEXEC)) == -1 ||
	    (fuzz_null = open("/dev/null", O_WRONLY | O_CLOEXEC)) == -1)
		abort();
	atexit(fuzz_cleanup);
	return 0;
}

/* Leaves an empty fuzz_dest for the next input. What will not go is
 * moved aside, and a fresh directory made. */
static void
fuzz_reset(void)
{
	char trash[128];
	int dfd;

	(void)chmod(fuzz_dest, 0755);
	dfd = open(fuzz_dest, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (dfd != -1 && fuzz_empty(dfd) == 0)
		return;
	snprintf(trash, sizeof(trash), "%s/trash.%u", fuzz_root, fuzz_trash++);
	if ((rename(fuzz_dest, trash) == -1 && errno != ENOENT) ||
	    mkdir(fuzz_dest, 0755) == -1)
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	int status;

	if (size == 0)
		return 0;
	if (ftruncate(fuzz_in, 0) == -1 ||
	    (size > 1 &&
		pwrite(fuzz_in, data + 1, size - 1, 0) !=
		    (ssize_t)(size - 1)) ||
	    lseek(fuzz_in, 0, SEEK_SET) == -1)
		abort();
	/* Bit 1: a copy-up (ifEmpty) into the emptied destination. */
	archive_put_child(fuzz_dest, data[0] & 1, (data[0] >> 1) & 1, fuzz_in);
	free(archive_stat_json(fuzz_dest, &status));
	archive_get_child(fuzz_dest, fuzz_null);
	fuzz_reset();
	return 0;
}
