/* The Container Apps job body's volumes (backend-aca/aca_volmap.c,
 * compiled in here), case by case: a Docker volume is an AzureFile
 * template volume naming its environment storage (mountOptions "ro" when
 * read-only, subPath for a shared path's directory), a tmpfs an EmptyDir,
 * the Docker socket the agent's (no volume), appended after the agent's
 * own volume; what Container Apps cannot take is refused with a sentence.
 * Then the names of shares and storages, the shared paths' split and the
 * ARM bodies. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../../backend-aca/aca_volmap.c" /* NOLINT(bugprone-suspicious-include): the unit */

#define AGENT_VOL "{\"name\":\"sockerless-agent\",\"storageType\":\"EmptyDir\"}"
#define AGENT_VM \
	"{\"volumeName\":\"sockerless-agent\",\"mountPath\":\"/sockerless\"}"
#define GIB (1024LL * 1024 * 1024)

struct t_case {
	const char *what;
	struct aca_vol_in m[4];
	size_t n;
	/* 0: want is {"volumes": [...], "volumeMounts": [...]} after the
	 * agent's; else the status and a piece of the sentence */
	int status;
	const char *want;
};

static const struct t_case t_cases[] = {
	{ "nothing", { { 0 } }, 0, 0,
	    "{\"volumes\":[" AGENT_VOL "],\"volumeMounts\":[" AGENT_VM "]}" },
	{ "a named volume",
	    { { .kind = BACKEND_MOUNT_VOLUME,
		.target = "/data",
		.vol_name = "data",
		.storage = "sk-data-0123456789abcdef" } },
	    1, 0,
	    "{\"volumes\":[" AGENT_VOL ",{\"name\":\"v0\",\"storageType\":"
	    "\"AzureFile\",\"storageName\":\"sk-data-0123456789abcdef\"}],"
	    "\"volumeMounts\":[" AGENT_VM ",{\"volumeName\":\"v0\","
	    "\"mountPath\":\"/data\"}]}" },
	{ "read-only: mountOptions ro",
	    { { .kind = BACKEND_MOUNT_VOLUME,
		.target = "/ro",
		.readonly = 1,
		.vol_name = "data",
		.storage = "sk-data-0123456789abcdef" } },
	    1, 0,
	    "{\"volumes\":[" AGENT_VOL ",{\"name\":\"v0\",\"storageType\":"
	    "\"AzureFile\",\"storageName\":\"sk-data-0123456789abcdef\","
	    "\"mountOptions\":\"ro\"}],\"volumeMounts\":[" AGENT_VM
	    ",{\"volumeName\":\"v0\",\"mountPath\":\"/ro\"}]}" },
	{ "a shared path, the socket, a tmpfs",
	    { { .kind = BACKEND_MOUNT_VOLUME,
		  .target = "/w",
		  .vol_name = "sockerless-shared-abc",
		  .storage = "sockerless-shared",
		  .sub_path = "gh/repo" },
		{ .kind = BACKEND_MOUNT_DOCKER_SOCK,
		    .target = "/var/run/docker.sock" },
		{ .kind = BACKEND_MOUNT_TMPFS,
		    .target = "/scratch",
		    .tmpfs_size = 64LL * 1024 * 1024 } },
	    3, 0,
	    "{\"volumes\":[" AGENT_VOL ",{\"name\":\"v0\",\"storageType\":"
	    "\"AzureFile\",\"storageName\":\"sockerless-shared\"},"
	    "{\"name\":\"tmpfs2\",\"storageType\":\"EmptyDir\"}],"
	    "\"volumeMounts\":[" AGENT_VM ",{\"volumeName\":\"v0\","
	    "\"mountPath\":\"/w\",\"subPath\":\"gh/repo\"},{\"volumeName\":"
	    "\"tmpfs2\",\"mountPath\":\"/scratch\"}]}" },
	{ "an empty sub-path is the root",
	    { { .kind = BACKEND_MOUNT_VOLUME,
		.target = "/w",
		.vol_name = "s",
		.storage = "sockerless-shared",
		.sub_path = "" } },
	    1, 0,
	    "{\"volumes\":[" AGENT_VOL ",{\"name\":\"v0\",\"storageType\":"
	    "\"AzureFile\",\"storageName\":\"sockerless-shared\"}],"
	    "\"volumeMounts\":[" AGENT_VM ",{\"volumeName\":\"v0\","
	    "\"mountPath\":\"/w\"}]}" },
	{ "the socket alone",
	    { { .kind = BACKEND_MOUNT_DOCKER_SOCK,
		.target = "/var/run/docker.sock" } },
	    1, 0,
	    "{\"volumes\":[" AGENT_VOL "],\"volumeMounts\":[" AGENT_VM "]}" },
	{ "the agent's directory",
	    { { .kind = BACKEND_MOUNT_TMPFS, .target = "/sockerless/x" } }, 1,
	    400, "/sockerless is where" },
	{ "the agent's directory itself",
	    { { .kind = BACKEND_MOUNT_VOLUME,
		.target = "/sockerless",
		.storage = "s" } },
	    1, 400, "/sockerless is where" },
	{ "a colon", { { .kind = BACKEND_MOUNT_TMPFS, .target = "/a:b" } }, 1,
	    400, "without ':'" },
	{ "a create that did not finish",
	    { { .kind = BACKEND_MOUNT_VOLUME,
		.target = "/d",
		.vol_name = "half" } },
	    1, 409, "volume half has no Azure Files storage" },
	{ "a read-only tmpfs",
	    { { .kind = BACKEND_MOUNT_TMPFS, .target = "/t", .readonly = 1 } },
	    1, 400, "drop ro" },
	{ "a tmpfs of 8 GiB",
	    { { .kind = BACKEND_MOUNT_TMPFS,
		.target = "/t",
		.tmpfs_size = 8 * GIB } },
	    1, 0,
	    "{\"volumes\":[" AGENT_VOL ",{\"name\":\"tmpfs0\",\"storageType\":"
	    "\"EmptyDir\"}],\"volumeMounts\":[" AGENT_VM ",{\"volumeName\":"
	    "\"tmpfs0\",\"mountPath\":\"/t\"}]}" },
	{ "a tmpfs over 8 GiB",
	    { { .kind = BACKEND_MOUNT_TMPFS,
		.target = "/t",
		.tmpfs_size = 8 * GIB + 1 } },
	    1, 400, "at most 8 GiB" },
	{ "a refusal after a good mount adds nothing",
	    { { .kind = BACKEND_MOUNT_TMPFS, .target = "/ok" },
		{ .kind = BACKEND_MOUNT_TMPFS,
		    .target = "/t",
		    .readonly = 1 } },
	    2, 400, "drop ro" },
};

static void
t_template(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(t_cases) / sizeof(t_cases[0]); i++) {
		const struct t_case *c = &t_cases[i];
		cJSON *tmpl = cJSON_Parse("{\"volumes\":[" AGENT_VOL "]}");
		cJSON *ctr = cJSON_Parse("{\"volumeMounts\":[" AGENT_VM "]}");
		cJSON *got = cJSON_CreateObject(), *want;
		struct err e = { 0 };
		int rc;

		print_message("case: %s\n", c->what);
		rc = aca_vol_template(c->m, c->n, tmpl, ctr, &e);
		if (c->status != 0) {
			assert_int_equal(rc, -1);
			assert_int_equal(e.status, c->status);
			assert_non_null(strstr(e.msg, c->want));
			/* nothing was added */
			assert_int_equal(
			    cJSON_GetArraySize(json_arr(tmpl, "volumes")), 1);
			assert_int_equal(
			    cJSON_GetArraySize(json_arr(ctr, "volumeMounts")),
			    1);
		} else {
			assert_int_equal(rc, 0);
			cJSON_AddItemToObject(got, "volumes",
			    cJSON_Duplicate(json_arr(tmpl, "volumes"), 1));
			cJSON_AddItemToObject(got, "volumeMounts",
			    cJSON_Duplicate(json_arr(ctr, "volumeMounts"), 1));
			want = cJSON_Parse(c->want);
			assert_non_null(want);
			if (!cJSON_Compare(got, want, 1)) {
				char *text = json_print(got);

				print_error("got %s\n", text);
				free(text);
				fail();
			}
			cJSON_Delete(want);
		}
		cJSON_Delete(got);
		cJSON_Delete(tmpl);
		cJSON_Delete(ctr);
	}
}

/* Without the agent's arrays the volume code makes them. */
static void
t_template_bare(void **state)
{
	struct aca_vol_in m[1] = {
		{ .kind = BACKEND_MOUNT_TMPFS, .target = "/t" },
	};
	cJSON *tmpl = cJSON_CreateObject(), *ctr = cJSON_CreateObject();
	struct err e;

	(void)state;
	assert_int_equal(aca_vol_template(m, 1, tmpl, ctr, &e), 0);
	assert_int_equal(cJSON_GetArraySize(json_arr(tmpl, "volumes")), 1);
	assert_int_equal(cJSON_GetArraySize(json_arr(ctr, "volumeMounts")), 1);
	cJSON_Delete(tmpl);
	cJSON_Delete(ctr);
}

/* A share name (3-63) and an environment storage name (at most 32) of
 * lowercase letters, digits and single hyphens, starting and ending with
 * a letter or digit. */
static int
t_name_ok(const char *s)
{
	size_t n = strlen(s);

	if (n < 3 || n >= ACA_VOL_NAME_SZ || s[0] == '-' || s[n - 1] == '-' ||
	    strstr(s, "--") != NULL)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') ||
			(s[i] >= '0' && s[i] <= '9') || s[i] == '-'))
			return 0;
	return 1;
}

static void
t_names(void **state)
{
	static const char *const vols[] = {
		"data",
		"My_Volume.v2",
		"--x--",
		"___",
		"0123456789abcdef0123456789abcdef0123456789abcdef", /* long */
		"a-very-long-volume-name-indeed-with-more",
		"é",
	};
	char a[ACA_VOL_NAME_SZ], b[ACA_VOL_NAME_SZ];

	(void)state;
	for (size_t i = 0; i < sizeof(vols) / sizeof(vols[0]); i++) {
		aca_vol_name("inst", vols[i], a);
		print_message("%s -> %s\n", vols[i], a);
		assert_true(t_name_ok(a));
		aca_vol_name("inst", vols[i], b);
		assert_string_equal(a, b);
		/* another installation: another share */
		aca_vol_name("other", vols[i], b);
		assert_string_not_equal(a, b);
	}
	aca_vol_name("inst", "data", a);
	assert_true(str_prefix(a, "sk-data-"));
	aca_vol_name("inst", "My_Volume.v2", a);
	assert_true(str_prefix(a, "sk-my-volume-"));
	aca_vol_name("inst", "___", a);
	assert_int_equal(strlen(a), 3 + 16);
	/* Names differing only in what the readable part drops differ. */
	aca_vol_name("inst", "a_b", a);
	aca_vol_name("inst", "a.b", b);
	assert_string_not_equal(a, b);
}

static void
t_account(void **state)
{
	(void)state;
	assert_true(aca_vol_account_valid("sockerlessvols"));
	assert_true(aca_vol_account_valid("abc"));
	assert_true(aca_vol_account_valid("abcdefghijklmnopqrstuvwx"));
	assert_false(aca_vol_account_valid("abcdefghijklmnopqrstuvwxy"));
	assert_false(aca_vol_account_valid("ab"));
	assert_false(aca_vol_account_valid("Sockerless"));
	assert_false(aca_vol_account_valid("sock-vols"));
	assert_false(aca_vol_account_valid(NULL));
}

static void
t_shared_split(void **state)
{
	static const struct {
		const char *path, *top, *sub;
		int status;
	} cases[] = {
		{ "/shared/gh/repo", "shared", "gh/repo", 0 },
		{ "/shared", "shared", NULL, 0 },
		{ "//shared/x", "shared", "x", 0 },
		{ "/", NULL, NULL, 400 },
		{ "/shared/../etc", NULL, NULL, 400 },
		{ "/shared/./x", NULL, NULL, 400 },
		{ "/shared//x", NULL, NULL, 400 },
		{ "/shared/x/", NULL, NULL, 400 },
	};
	char top[64];
	const char *sub;
	struct err e;

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int rc = aca_vol_shared_split(
		    cases[i].path, top, sizeof(top), &sub, &e);

		print_message("%s\n", cases[i].path);
		if (cases[i].status != 0) {
			assert_int_equal(rc, -1);
			assert_int_equal(e.status, cases[i].status);
			continue;
		}
		assert_int_equal(rc, 0);
		assert_string_equal(top, cases[i].top);
		if (cases[i].sub == NULL)
			assert_null(sub);
		else
			assert_string_equal(sub, cases[i].sub);
	}
	assert_int_equal(
	    aca_vol_shared_split("/averyverylongtop/x", top, 8, &sub, &e), -1);
}

static void
t_bodies(void **state)
{
	cJSON *share = aca_vol_share_body(100, "data", "inst");
	cJSON *st = aca_vol_storage_body("acct", "a2V5", "sk-data-1");
	cJSON *want;

	(void)state;
	want = cJSON_Parse("{\"properties\":{\"shareQuota\":100,"
			   "\"enabledProtocols\":\"SMB\",\"metadata\":{"
			   "\"sockerless_volume\":\"data\","
			   "\"sockerless_instance\":\"inst\"}}}");
	assert_true(cJSON_Compare(share, want, 1));
	cJSON_Delete(want);
	assert_true(aca_vol_share_ours(share, "data", "inst"));
	assert_false(aca_vol_share_ours(share, "data", "other"));
	assert_false(aca_vol_share_ours(share, "datum", "inst"));
	assert_false(aca_vol_share_ours(NULL, "data", "inst"));
	want = cJSON_Parse("{\"properties\":{\"azureFile\":{\"accountName\":"
			   "\"acct\",\"accountKey\":\"a2V5\",\"shareName\":"
			   "\"sk-data-1\",\"accessMode\":\"ReadWrite\"}}}");
	assert_true(cJSON_Compare(st, want, 1));
	cJSON_Delete(want);
	cJSON_Delete(share);
	cJSON_Delete(st);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(t_template),
		cmocka_unit_test(t_template_bare),
		cmocka_unit_test(t_names),
		cmocka_unit_test(t_account),
		cmocka_unit_test(t_shared_split),
		cmocka_unit_test(t_bodies),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
