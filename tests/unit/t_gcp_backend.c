/* The GCP backends' fragment (gcp_backend.c): which registry hosts take
 * Google's oauth2accesstoken login, and gcp_backend_open's checks before
 * it reaches the credentials. The session itself (credentials, first
 * token, project) needs gcp_auth.c, from the gcpauth slice. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "sockerless/gcp_backend.h"

#include <stdlib.h>
#include <string.h>

static void
t_registry_hosts(void **state)
{
	struct gcp_backend gb;
	char list[] = "127.0.0.1:48202  localhost:5000";

	(void)state;
	memset(&gb, 0, sizeof(gb));
	assert_true(
	    gcp_backend_registry_host(&gb, "us-central1-docker.pkg.dev"));
	assert_true(gcp_backend_registry_host(&gb, "europe-docker.pkg.dev"));
	assert_true(gcp_backend_registry_host(&gb, "gcr.io"));
	assert_true(gcp_backend_registry_host(&gb, "eu.gcr.io"));
	/* Look-alikes are not Google's: no token goes there. */
	assert_false(gcp_backend_registry_host(&gb, "-docker.pkg.dev"));
	assert_false(gcp_backend_registry_host(&gb, "a.b-docker.pkg.dev"));
	assert_false(gcp_backend_registry_host(
	    &gb, "us-docker.pkg.dev.attacker.example"));
	assert_false(gcp_backend_registry_host(&gb, "evilgcr.io"));
	assert_false(gcp_backend_registry_host(&gb, "gcr.io.example"));
	assert_false(gcp_backend_registry_host(&gb, "gcr.io:5000"));
	assert_false(gcp_backend_registry_host(&gb, "127.0.0.1:48202"));
	assert_false(gcp_backend_registry_host(&gb, "docker.io"));
	assert_false(gcp_backend_registry_host(&gb, ""));
	assert_false(gcp_backend_registry_host(&gb, NULL));
	gb.registry_hosts = list;
	assert_true(gcp_backend_registry_host(&gb, "127.0.0.1:48202"));
	assert_true(gcp_backend_registry_host(&gb, "localhost:5000"));
	assert_false(gcp_backend_registry_host(&gb, "127.0.0.1:4820"));
	assert_false(gcp_backend_registry_host(&gb, "localhost"));
}

static void
t_keys(void **state)
{
	static const char *const names[] = { "project", "region",
		"credentials_file", "endpoint", "endpoint_token",
		"endpoint_sts", "endpoint_iamcredentials", "metadata_host",
		"registry_hosts" };

	(void)state;
	for (size_t i = 0; i < GCP_BACKEND_NKEYS; i++) {
		assert_string_equal(gcp_backend_keys[i].name, names[i]);
		assert_non_null(gcp_backend_keys[i].doc);
		assert_int_equal(gcp_backend_keys[i].required,
		    strcmp(names[i], "region") == 0);
	}
}

static void
t_open_no_region(void **state)
{
	struct gcp_backend gb;
	struct err e;

	(void)state;
	memset(&gb, 0, sizeof(gb));
	assert_int_equal(
	    gcp_backend_open(&gb, NULL, NULL, NULL, "run", NULL, &e), -1);
	assert_int_equal(e.status, 500);
	assert_non_null(strstr(e.msg, "region"));
	assert_null(gb.gcp);
	assert_null(gb.auth);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(t_registry_hosts),
		cmocka_unit_test(t_keys),
		cmocka_unit_test(t_open_no_region),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
