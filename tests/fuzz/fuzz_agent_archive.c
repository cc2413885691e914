/* The agent's tar reader (agent/archive.c archive_put_child), as docker cp
 * into a container feeds it, extracting into a scratch directory; then the
 * tree is stat'ed and archived back (archive_get_child) and removed. The
 * first byte sets noOverwriteDirNonDir. The extraction runs as nobody when
 * started as root: a path escape must not reach the rest of the machine
 * (tests/fuzz/run.sh gives nobody the fuzzer's directories). */
#include <sys/mman.h>
#include <sys/stat.h>

#include <fcntl.h>
#include <ftw.h>
#include <grp.h>
#include <stdio.h>
#include <unistd.h>

#include "../../agent/modules.h"
#include "fuzz.h"

static char fuzz_root[64], fuzz_dest[96];
static unsigned fuzz_trash;

/* Extracted modes may deny the walk below: opened up first. */
static int
fuzz_open_up(const char *p, const struct stat *st, int flag, struct FTW *f)
{
	(void)f;
	if (flag == FTW_D || flag == FTW_DNR)
		(void)chmod(p, (st->st_mode & 07777) | 0700);
	return 0;
}

static int
fuzz_rm(const char *p, const struct stat *st, int flag, struct FTW *f)
{
	(void)st;
	(void)flag;
	if (f->level > 0)
		(void)remove(p);
	return 0;
}

static void
fuzz_cleanup(void)
{
	nftw(fuzz_root, fuzz_open_up, 16, FTW_PHYS);
	nftw(fuzz_root, fuzz_rm, 16, FTW_DEPTH | FTW_PHYS);
	(void)rmdir(fuzz_root);
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	if (geteuid() == 0 &&
	    (setgroups(0, NULL) == -1 || setgid(65534) == -1 ||
		setuid(65534) == -1)) {
		perror("fuzz_agent_archive: dropping root");
		abort();
	}
	snprintf(fuzz_root, sizeof(fuzz_root), "/tmp/sk-fuzz-archive.%d",
	    (int)getpid());
	if (mkdir(fuzz_root, 0700) == -1) {
		perror(fuzz_root);
		abort();
	}
	snprintf(fuzz_dest, sizeof(fuzz_dest), "%s/dest", fuzz_root);
	atexit(fuzz_cleanup);
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	int in, out, status;

	if (size == 0)
		return 0;
	if (mkdir(fuzz_dest, 0755) == -1 ||
	    (in = memfd_create("fuzz-tar", MFD_CLOEXEC)) == -1 ||
	    (out = open("/dev/null", O_WRONLY | O_CLOEXEC)) == -1)
		abort();
	if (size > 1 && write(in, data + 1, size - 1) != (ssize_t)(size - 1))
		abort();
	lseek(in, 0, SEEK_SET);
	archive_put_child(fuzz_dest, data[0] & 1, in);
	free(archive_stat_json(fuzz_dest, &status));
	archive_get_child(fuzz_dest, out);
	close(in);
	close(out);
	/* Children first; the directory itself last. What will not go is
	 * moved aside, so the next input starts from an empty directory. */
	(void)chmod(fuzz_dest, 0755);
	nftw(fuzz_dest, fuzz_open_up, 16, FTW_PHYS);
	nftw(fuzz_dest, fuzz_rm, 16, FTW_DEPTH | FTW_PHYS);
	if (rmdir(fuzz_dest) == -1) {
		char trash[128];

		snprintf(trash, sizeof(trash), "%s/trash.%u", fuzz_root,
		    fuzz_trash++);
		if (rename(fuzz_dest, trash) == -1)
			abort();
	}
	return 0;
}
