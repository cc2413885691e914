/* backend-azfunc's pure parts (azfunc_body.c): which App Service plans
 * can host container function apps (Consumption, Flex, Free/Shared and
 * Windows refused with a sentence naming azfunc.plan), the plan's id, the
 * pool site's WebApps_CreateOrUpdate body; and the kit's envelope decoder
 * and slot names the backend shares with gcf (kit_faas.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../../backend-azfunc/azfunc_body.c" /* NOLINT(bugprone-suspicious-include): the pure parts alone */
#include "sockerless/buf.h"
#include "sockerless/str.h"

static cJSON *
plan(const char *json)
{
	cJSON *p = cJSON_Parse(json);

	assert_non_null(p);
	return p;
}

static void
t_plan_premium_and_dedicated(void **state)
{
	cJSON *p;
	long long mib = 0;
	struct err e;

	(void)state;
	p = plan("{\"name\":\"sockerless-premium\",\"kind\":\"elastic\","
		 "\"sku\":{\"name\":\"EP1\",\"tier\":\"ElasticPremium\"},"
		 "\"properties\":{\"reserved\":true}}");
	assert_int_equal(azfunc_plan_check(p, &mib, &e), 0);
	assert_int_equal(mib, 3584);
	cJSON_Delete(p);
	p = plan("{\"name\":\"d\",\"kind\":\"linux\",\"sku\":{\"name\":"
		 "\"P1v3\",\"tier\":\"PremiumV3\"},\"properties\":{"
		 "\"reserved\":true}}");
	assert_int_equal(azfunc_plan_check(p, &mib, &e), 0);
	assert_int_equal(mib, 8192);
	cJSON_Delete(p);
}

static void
t_plan_refused(void **state)
{
	static const struct {
		const char *json, *word;
	} bad[] = {
		{ "{\"name\":\"c\",\"sku\":{\"name\":\"Y1\",\"tier\":"
		  "\"Dynamic\"},\"properties\":{\"reserved\":true}}",
		    "Consumption plan" },
		{ "{\"name\":\"f\",\"sku\":{\"name\":\"FC1\",\"tier\":"
		  "\"FlexConsumption\"},\"properties\":{\"reserved\":true}}",
		    "Flex Consumption" },
		{ "{\"name\":\"w\",\"sku\":{\"name\":\"EP1\",\"tier\":"
		  "\"ElasticPremium\"},\"properties\":{\"reserved\":false}}",
		    "Windows plan" },
		{ "{\"name\":\"w2\",\"sku\":{\"name\":\"EP1\",\"tier\":"
		  "\"ElasticPremium\"},\"properties\":{}}",
		    "Windows plan" },
		{ "{\"name\":\"s\",\"sku\":{\"name\":\"F1\",\"tier\":"
		  "\"Free\"},\"properties\":{\"reserved\":true}}",
		    "Free plan" },
		{ "{\"name\":\"n\",\"properties\":{\"reserved\":true}}",
		    "no SKU" },
	};
	long long mib = 0;
	struct err e;
	size_t i;
	cJSON *p;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		p = plan(bad[i].json);
		assert_int_equal(azfunc_plan_check(p, &mib, &e), -1);
		assert_int_equal(e.status, 400);
		assert_non_null(strstr(e.msg, bad[i].word));
		assert_non_null(strstr(e.msg, "azfunc.plan"));
		cJSON_Delete(p);
	}
	p = plan("{\"name\":\"c\",\"sku\":{\"name\":\"Y1\",\"tier\":"
		 "\"Dynamic\"},\"properties\":{\"reserved\":true}}");
	assert_int_equal(azfunc_plan_check(p, &mib, &e), -1);
	assert_non_null(strstr(e.msg,
	    "Premium (Elastic Premium), Dedicated "
	    "or Container Apps hosting"));
	cJSON_Delete(p);
}

static void
t_plan_id(void **state)
{
	const char *rg = "/subscriptions/s1/resourceGroups/g1";
	const char *full = "/subscriptions/s2/resourceGroups/g2/providers/"
			   "Microsoft.Web/serverfarms/p2";
	char *id;

	(void)state;
	id = azfunc_plan_id("sockerless-premium", rg);
	assert_string_equal(id,
	    "/subscriptions/s1/resourceGroups/g1/providers/Microsoft.Web/"
	    "serverfarms/sockerless-premium");
	free(id);
	id = azfunc_plan_id(full, rg);
	assert_string_equal(id, full);
	free(id);
	assert_null(azfunc_plan_id("", rg));
	assert_null(azfunc_plan_id(NULL, rg));
	assert_null(azfunc_plan_id("a/b", rg));
	assert_null(azfunc_plan_id("plan name", rg));
	assert_null(azfunc_plan_id("/subscriptions/s/resourceGroups/g/"
				   "providers/Microsoft.App/jobs/j",
	    rg));
}

static const char *
setting(const cJSON *sc, const char *name)
{
	const cJSON *it;

	cJSON_ArrayForEach(it, json_arr(sc, "appSettings")) {
		if (strcmp(json_str(it, "name"), name) == 0)
			return json_str(it, "value");
	}
	return NULL;
}

static void
t_site_body(void **state)
{
	struct azfunc_site_args a = {
		.location = "westeurope",
		.plan_id = "/subscriptions/s/resourceGroups/g/providers/"
			   "Microsoft.Web/serverfarms/p",
		.image = "r.azurecr.io/sockerless/derived:sockerless-abc",
		.key = "k123",
		.storage = "DefaultEndpointsProtocol=https;AccountName=a",
		.instance = "inst-1",
		.timeout_s = 230,
	};
	cJSON *b = azfunc_site_body(&a);
	const cJSON *p = json_obj(b, "properties");
	const cJSON *sc = json_obj(p, "siteConfig");
	const cJSON *tags = json_obj(b, "tags");

	(void)state;
	assert_string_equal(json_str(b, "location"), "westeurope");
	assert_string_equal(json_str(b, "kind"), "functionapp,linux,container");
	assert_string_equal(json_str(tags, "sockerless-instance"), "inst-1");
	assert_string_equal(json_str(tags, "sockerless-backend"), "azfunc");
	assert_string_equal(json_str(tags, "sockerless-pool"), "1");
	assert_string_equal(
	    json_str(json_obj(b, "identity"), "type"), "SystemAssigned");
	assert_string_equal(json_str(p, "serverFarmId"), a.plan_id);
	assert_true(json_bool(p, "reserved", 0));
	assert_true(json_bool(p, "httpsOnly", 0));
	assert_string_equal(json_str(sc, "linuxFxVersion"),
	    "DOCKER|r.azurecr.io/sockerless/derived:sockerless-abc");
	assert_true(json_bool(sc, "acrUseManagedIdentityCreds", 0));
	assert_null(json_str(sc, "acrUserManagedIdentityID"));
	assert_int_equal(json_int(sc, "functionAppScaleLimit", 0), 1);
	assert_string_equal(setting(sc, "FUNCTIONS_EXTENSION_VERSION"), "~4");
	assert_string_equal(setting(sc, "AzureWebJobsStorage"), a.storage);
	assert_string_equal(
	    setting(sc, "WEBSITES_ENABLE_APP_SERVICE_STORAGE"), "false");
	assert_string_equal(setting(sc, "SOCKERLESS_HTTP_RUNTIME"), "1");
	assert_string_equal(setting(sc, "SOCKERLESS_HTTP_KEY"), "k123");
	assert_string_equal(
	    setting(sc, "AzureFunctionsJobHost__functionTimeout"), "00:03:50");
	cJSON_Delete(b);

	a.registry_identity = "/subscriptions/s/resourceGroups/g/providers/"
			      "Microsoft.ManagedIdentity/"
			      "userAssignedIdentities/pull";
	a.registry_client_id = "cid-1";
	b = azfunc_site_body(&a);
	assert_string_equal(
	    json_str(json_obj(b, "identity"), "type"), "UserAssigned");
	assert_non_null(json_obj(
	    json_obj(json_obj(b, "identity"), "userAssignedIdentities"),
	    a.registry_identity));
	assert_string_equal(
	    json_str(json_obj(json_obj(b, "properties"), "siteConfig"),
		"acrUserManagedIdentityID"),
	    "cid-1");
	cJSON_Delete(b);
}

static void
t_small(void **state)
{
	char buf[32];

	(void)state;
	azfunc_timespan(buf, sizeof(buf), 230);
	assert_string_equal(buf, "00:03:50");
	azfunc_timespan(buf, sizeof(buf), 3600 + 61);
	assert_string_equal(buf, "01:01:01");
	assert_string_equal(azfunc_fx_image("DOCKER|a/b:c"), "a/b:c");
	assert_string_equal(azfunc_fx_image("docker|x"), "x");
	assert_null(azfunc_fx_image("DOCKER|"));
	assert_null(azfunc_fx_image("PYTHON|3.11"));
	assert_null(azfunc_fx_image(NULL));
	assert_int_equal(kit_pool_number_of("sl-ab-", "sl-ab-3"), 3);
	assert_int_equal(kit_pool_number_of("sl-ab-", "sl-ab-0"), -1);
	assert_int_equal(kit_pool_number_of("sl-ab-", "sl-ab-1001"), -1);
	assert_int_equal(kit_pool_number_of("sl-ab-", "sl-ab-x"), -1);
	assert_int_equal(kit_pool_number_of("sl-ab-", "sl-cd-1"), -1);
	assert_int_equal(kit_pool_number_of("sl-ab-", NULL), -1);
}

static void
lines_free(struct kit_lines *l)
{
	cJSON_Delete(l->out);
	for (int i = 1; i <= 2; i++)
		buf_free(&l->part[i]);
}

static void
t_envelope(void **state)
{
	/* "out\n" and "err\n" in base64 */
	const char *ok = "{\"sockerless\":1,\"exitCode\":3,\"output\":[[1,5,"
			 "\"b3V0Cg==\"],[2,6,\"ZXJyCg==\"]],"
			 "\"outputTruncated\":true,\"timedOut\":true}";
	struct kit_lines l;
	char *why;
	const cJSON *r;

	(void)state;
	kit_lines_init(&l);
	assert_int_equal(kit_faas_decode(ok, strlen(ok), "azfunc",
			     "the function app's logs", 230, &l, &why),
	    3);
	assert_null(why);
	assert_int_equal(cJSON_GetArraySize(l.out), 4);
	r = cJSON_GetArrayItem(l.out, 0);
	assert_string_equal(cJSON_GetArrayItem(r, 2)->valuestring, "out");
	r = cJSON_GetArrayItem(l.out, 2);
	assert_non_null(
	    strstr(cJSON_GetArrayItem(r, 2)->valuestring, "function app's"));
	r = cJSON_GetArrayItem(l.out, 3);
	assert_non_null(strstr(
	    cJSON_GetArrayItem(r, 2)->valuestring, "230 s, azfunc.timeout"));
	lines_free(&l);
	kit_lines_init(&l);
	assert_int_equal(
	    kit_faas_decode("nope", 4, "azfunc", "x", 230, &l, &why), 125);
	assert_non_null(strstr(why, "without the agent's envelope: nope"));
	free(why);
	assert_int_equal(kit_faas_decode("{\"sockerless\":1,\"exitCode\":256}",
			     31, "azfunc", "x", 230, &l, &why),
	    125);
	free(why);
	lines_free(&l);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(t_plan_premium_and_dedicated),
		cmocka_unit_test(t_plan_refused),
		cmocka_unit_test(t_plan_id),
		cmocka_unit_test(t_site_body),
		cmocka_unit_test(t_small),
		cmocka_unit_test(t_envelope),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
