/* Replays inputs through a fuzz harness without libFuzzer, so gcc builds
 * (and make check) run the committed corpus and every regression input.
 * Arguments are files or directories (their regular files, one level). */
#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv) __attribute__((weak));

static int replay_count;

static int
replay_file(const char *path)
{
	FILE *f = NULL;
	uint8_t *data = NULL;
	struct stat st;
	size_t n;
	int rc = -1;

	if ((f = fopen(path, "rb")) == NULL || fstat(fileno(f), &st) == -1)
		goto out;
	/* One spare byte: a zero-length malloc may be NULL. */
	data = malloc((size_t)st.st_size + 1);
	if (data == NULL)
		goto out;
	n = fread(data, 1, (size_t)st.st_size, f);
	if (n != (size_t)st.st_size)
		goto out;
	/* Named before it runs: a crash report then says which input. */
	fprintf(stderr, "replay: %s\n", path);
	LLVMFuzzerTestOneInput(data, n);
	replay_count++;
	rc = 0;
out:
	if (rc == -1)
		fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
	free(data);
	if (f != NULL)
		fclose(f);
	return rc;
}

static int
replay_dir(const char *path)
{
	DIR *d;
	struct dirent *de;
	struct stat st;
	char full[4096];
	int rc = 0;

	if ((d = opendir(path)) == NULL) {
		fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
		return -1;
	}
	while ((de = readdir(d)) != NULL) {
		snprintf(full, sizeof(full), "%s/%s", path, de->d_name);
		if (stat(full, &st) == 0 && S_ISREG(st.st_mode) &&
		    replay_file(full) == -1)
			rc = -1;
	}
	closedir(d);
	return rc;
}

int
main(int argc, char **argv)
{
	struct stat st;
	int rc = 0;

	if (LLVMFuzzerInitialize != NULL)
		LLVMFuzzerInitialize(&argc, &argv);
	for (int i = 1; i < argc; i++) {
		if (stat(argv[i], &st) == -1) {
			fprintf(stderr, "replay: %s: %s\n", argv[i],
			    strerror(errno));
			rc = 1;
		} else if (S_ISDIR(st.st_mode) ? replay_dir(argv[i]) == -1 :
						 replay_file(argv[i]) == -1)
			rc = 1;
	}
	printf("replay: %d inputs\n", replay_count);
	return rc;
}
