/* azfunc's pure parts: the plan check (which App Service plans can host
 * a container function app), the plan's id, the pool site's body
 * (WebApps_CreateOrUpdate) and small conversions. tests/unit/t_azfunc.c
 * includes this file. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "azfunc.h"
#include "sockerless/json.h"
#include "sockerless/xmalloc.h"

/* Memory of one instance by SKU (Microsoft's plan tables), MiB. */
static const struct {
	const char *sku;
	long long mib;
} azfunc_sku_mib[] = {
	{ "EP1", 3584 },
	{ "EP2", 7168 },
	{ "EP3", 14336 },
	{ "B1", 1792 },
	{ "B2", 3584 },
	{ "B3", 7168 },
	{ "S1", 1792 },
	{ "S2", 3584 },
	{ "S3", 7168 },
	{ "P1v2", 3584 },
	{ "P2v2", 7168 },
	{ "P3v2", 14336 },
	{ "P0v3", 4096 },
	{ "P1v3", 8192 },
	{ "P2v3", 16384 },
	{ "P3v3", 32768 },
	{ "P1mv3", 16384 },
	{ "P2mv3", 32768 },
	{ "P3mv3", 65536 },
};

int
azfunc_plan_check(const cJSON *plan, long long *mib, struct err *e)
{
	const cJSON *sku = json_obj(plan, "sku");
	const cJSON *props = json_obj(plan, "properties");
	const char *tier = json_str(sku, "tier");
	const char *name = json_str(sku, "name");
	const char *pname = json_str(plan, "name");
	size_t i;

	if (pname == NULL)
		pname = "?";
	if (tier == NULL || name == NULL)
		return err_set(e, 400,
		    "App Service plan %s has no SKU tier or name; set "
		    "azfunc.plan to an Elastic Premium (EP1-EP3) or Dedicated "
		    "Linux plan",
		    pname);
	if (strcasecmp(tier, "Dynamic") == 0 || name[0] == 'Y' ||
	    name[0] == 'y')
		return err_set(e, 400,
		    "App Service plan %s is a Consumption plan (%s): container "
		    "function apps need Premium (Elastic Premium), Dedicated or "
		    "Container Apps hosting; set azfunc.plan to an EP1-EP3 or "
		    "Dedicated Linux plan, or use the aca backend",
		    pname, name);
	if (strcasecmp(tier, "FlexConsumption") == 0 ||
	    strcasecmp(name, "FC1") == 0)
		return err_set(e, 400,
		    "App Service plan %s is a Flex Consumption plan: it runs "
		    "no containers (container function apps need Premium "
		    "(Elastic Premium), Dedicated or Container Apps hosting); "
		    "set azfunc.plan to an EP1-EP3 or Dedicated Linux plan",
		    pname);
	if (strcasecmp(tier, "Free") == 0 || strcasecmp(tier, "Shared") == 0)
		return err_set(e, 400,
		    "App Service plan %s is a %s plan, which runs no custom "
		    "containers; set azfunc.plan to an EP1-EP3 or Dedicated "
		    "(Basic or above) Linux plan",
		    pname, tier);
	if (!json_bool(props, "reserved", 0))
		return err_set(e, 400,
		    "App Service plan %s is a Windows plan (reserved is "
		    "false): container function apps run on Linux plans; set "
		    "azfunc.plan to a Linux Elastic Premium or Dedicated plan",
		    pname);
	*mib = 1536; /* an SKU the table does not know: a modest size */
	for (i = 0; i < sizeof(azfunc_sku_mib) / sizeof(azfunc_sku_mib[0]); i++)
		if (strcasecmp(name, azfunc_sku_mib[i].sku) == 0)
			*mib = azfunc_sku_mib[i].mib;
	return 0;
}

char *
azfunc_plan_id(const char *plan, const char *rg_path)
{
	size_t i;

	if (plan == NULL || plan[0] == '\0')
		return NULL;
	if (plan[0] == '/')
		return strncasecmp(plan, "/subscriptions/", 15) == 0 &&
			strstr(plan, "/providers/Microsoft.Web/serverfarms/") !=
			    NULL ?
		    xstrdup(plan) :
		    NULL;
	for (i = 0; plan[i] != '\0'; i++)
		if (!(plan[i] == '-' || plan[i] == '_' || plan[i] == '.' ||
			(plan[i] >= 'a' && plan[i] <= 'z') ||
			(plan[i] >= 'A' && plan[i] <= 'Z') ||
			(plan[i] >= '0' && plan[i] <= '9')))
			return NULL;
	if (i > 60)
		return NULL;
	return xasprintf(
	    "%s/providers/Microsoft.Web/serverfarms/%s", rg_path, plan);
}

void
azfunc_timespan(char *out, size_t outsz, long long s)
{
	snprintf(
	    out, outsz, "%02lld:%02lld:%02lld", s / 3600, s / 60 % 60, s % 60);
}

const char *
azfunc_fx_image(const char *fx)
{
	if (fx == NULL || strncasecmp(fx, "DOCKER|", 7) != 0 || fx[7] == '\0')
		return NULL;
	return fx + 7;
}

static void
azfunc_setting(cJSON *a, const char *name, const char *value)
{
	cJSON *o = cJSON_CreateObject();

	json_add_str(o, "name", name);
	json_add_str(o, "value", value);
	cJSON_AddItemToArray(a, o);
}

cJSON *
azfunc_site_body(const struct azfunc_site_args *a)
{
	cJSON *site = cJSON_CreateObject(), *o, *p, *sc, *set;
	char fx[2048], span[32];

	json_add_str(site, "location", a->location);
	json_add_str(site, "kind", "functionapp,linux,container");
	o = cJSON_CreateObject();
	json_add_str(o, AZFUNC_TAG_INSTANCE, a->instance);
	json_add_str(o, AZFUNC_TAG_BACKEND, "azfunc");
	json_add_str(o, AZFUNC_TAG_POOL, "1");
	cJSON_AddItemToObject(site, "tags", o);
	o = cJSON_CreateObject();
	if (a->registry_identity != NULL && a->registry_identity[0] != '\0') {
		json_add_str(o, "type", "UserAssigned");
		p = cJSON_CreateObject();
		cJSON_AddItemToObject(
		    p, a->registry_identity, cJSON_CreateObject());
		cJSON_AddItemToObject(o, "userAssignedIdentities", p);
	} else {
		json_add_str(o, "type", "SystemAssigned");
	}
	cJSON_AddItemToObject(site, "identity", o);
	p = cJSON_CreateObject();
	json_add_str(p, "serverFarmId", a->plan_id);
	cJSON_AddItemToObject(p, "reserved", cJSON_CreateTrue());
	cJSON_AddItemToObject(p, "httpsOnly", cJSON_CreateTrue());
	sc = cJSON_CreateObject();
	snprintf(fx, sizeof(fx), "DOCKER|%s", a->image);
	json_add_str(sc, "linuxFxVersion", fx);
	/* One instance: one run at a time per site. */
	json_add_int(sc, "functionAppScaleLimit", 1);
	cJSON_AddItemToObject(
	    sc, "acrUseManagedIdentityCreds", cJSON_CreateTrue());
	if (a->registry_client_id != NULL)
		json_add_str(
		    sc, "acrUserManagedIdentityID", a->registry_client_id);
	set = cJSON_CreateArray();
	azfunc_setting(set, "FUNCTIONS_EXTENSION_VERSION", "~4");
	azfunc_setting(set, "AzureWebJobsStorage", a->storage);
	azfunc_setting(set, "WEBSITES_ENABLE_APP_SERVICE_STORAGE", "false");
	azfunc_setting(set, "WEBSITES_PORT", "8080");
	azfunc_timespan(span, sizeof(span), a->timeout_s);
	azfunc_setting(set, "AzureFunctionsJobHost__functionTimeout", span);
	azfunc_setting(set, "SOCKERLESS_HTTP_RUNTIME", "1");
	azfunc_setting(set, AZFUNC_KEY_SETTING, a->key);
	cJSON_AddItemToObject(sc, "appSettings", set);
	cJSON_AddItemToObject(p, "siteConfig", sc);
	cJSON_AddItemToObject(site, "properties", p);
	return site;
}
