/* backend-gcf's zip writer (the stub function's source): every entry
 * read back through the central directory, names, sizes, CRCs, offsets,
 * and Python's zipfile (what the simulator's upload target checks)
 * agreeing. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include <cmocka.h>

#include "../../backend-gcf/gcf_zip.c" /* NOLINT(bugprone-suspicious-include): the writer alone */

static unsigned
u16(const unsigned char *p)
{
	return (unsigned)p[0] | (unsigned)p[1] << 8;
}

static uint32_t
u32(const unsigned char *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	    (uint32_t)p[3] << 24;
}

static void
t_entries(void **state)
{
	const char *names[] = { "main.py", "requirements.txt", "a/b.txt" };
	const char *data[] = { "def main(r):\n    return 'x'\n", "",
		"nested\n" };
	size_t len, i;
	char *z = gcf_zip(names, data, 3, &len);
	const unsigned char *p = (const unsigned char *)z, *eocd, *cd, *lh;

	(void)state;
	assert_true(len > 22);
	eocd = p + len - 22;
	assert_int_equal(u32(eocd), 0x06054b50);
	assert_int_equal(u16(eocd + 8), 3);
	assert_int_equal(u16(eocd + 10), 3);
	cd = p + u32(eocd + 16);
	assert_int_equal(u32(eocd + 16) + u32(eocd + 12), len - 22);
	for (i = 0; i < 3; i++) {
		size_t nl = strlen(names[i]), dl = strlen(data[i]);
		uint32_t crc =
		    (uint32_t)crc32(0L, (const Bytef *)data[i], (uInt)dl);

		assert_int_equal(u32(cd), 0x02014b50);
		assert_int_equal(u16(cd + 10), 0); /* stored */
		assert_int_equal(u32(cd + 16), crc);
		assert_int_equal(u32(cd + 20), dl);
		assert_int_equal(u32(cd + 24), dl);
		assert_int_equal(u16(cd + 28), nl);
		assert_memory_equal(cd + 46, names[i], nl);
		lh = p + u32(cd + 42);
		assert_int_equal(u32(lh), 0x04034b50);
		assert_int_equal(u32(lh + 14), crc);
		assert_int_equal(u16(lh + 26), nl);
		assert_memory_equal(lh + 30, names[i], nl);
		assert_memory_equal(lh + 30 + nl, data[i], dl);
		cd += 46 + nl;
	}
	free(z);
}

static void
t_python_reads_it(void **state)
{
	const char *names[] = { "main.py", "requirements.txt" };
	const char *data[] = { "def main(request):\n    return 'ok'\n", "" };
	char path[] = "/tmp/t_gcf_zip_XXXXXX", cmd[512];
	size_t len;
	char *z = gcf_zip(names, data, 2, &len);
	int fd = mkstemp(path);

	(void)state;
	assert_true(fd >= 0);
	assert_int_equal(write(fd, z, len), (ssize_t)len);
	close(fd);
	free(z);
	if (access("/usr/bin/python3", X_OK) != 0) {
		unlink(path);
		skip();
	}
	snprintf(cmd, sizeof(cmd),
	    "/usr/bin/python3 -c 'import zipfile,sys; z=zipfile.ZipFile(sys.argv[1]); "
	    "assert z.testzip() is None; "
	    "assert z.namelist()==[\"main.py\",\"requirements.txt\"]; "
	    "assert z.read(\"main.py\").startswith(b\"def main(\")' %s",
	    path);
	assert_int_equal(system(cmd), 0);
	unlink(path);
}

static void
t_empty(void **state)
{
	size_t len;
	char *z = gcf_zip(NULL, NULL, 0, &len);

	(void)state;
	assert_int_equal(len, 22);
	assert_int_equal(u32((const unsigned char *)z), 0x06054b50);
	free(z);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(t_entries),
		cmocka_unit_test(t_python_reads_it),
		cmocka_unit_test(t_empty),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
