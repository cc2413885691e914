"""Microsoft.Web's ARM routes on the simulator (Interface W): plans,
sites (create as an LRO, get, list paged, delete), app settings, site
config, restart/stop/start, host keys, the service's refusals, the field
table's validation, faults and counters. Sites here point at an image
that need not run (the front's tests are in test_azweb_front.py)."""

import json
import os

import pytest

from azweb_testlib import (API, CONSUMPTION, DEDICATED, PREMIUM, WEB, HttpError,  # noqa: F401
                           websim)

IMAGE = "sockerless.azurecr.io/web/none:v1"


def create(websim, name, **kw):
    return websim.create_site(name, websim.site_body(IMAGE, acrUseManagedIdentityCreds=True,
                                                     **kw))


def refused(websim, method, rest, body, status=400):
    with pytest.raises(HttpError) as err:
        websim.web(method, rest, body)
    assert err.value.status == status, err.value.body
    return err.value.error


def test_field_table_is_the_generated_one():
    here = os.path.dirname(os.path.abspath(__file__))
    with open(os.path.join(here, "specs", "web-fields.json")) as f:
        table = json.load(f)
    assert table["info"]["version"] == API
    assert "gen_web_fields.py" in table["x-generated-from"]
    ops = {op["operationId"] for item in table["paths"].values() for op in item.values()}
    assert {"WebApps_CreateOrUpdate", "WebApps_ListHostKeys", "AppServicePlans_Get"} <= ops


def test_plans(websim):
    plan = websim.web("GET", "/serverfarms/sockerless-premium")[1]
    assert plan["id"] == PREMIUM and plan["kind"] == "elastic"
    assert plan["sku"] == {"name": "EP1", "tier": "ElasticPremium", "size": "EP1",
                           "family": "EP", "capacity": 1}
    assert plan["properties"]["reserved"] is True
    assert plan["properties"]["maximumElasticWorkerCount"] == 20
    consumption = websim.web("GET", "/serverfarms/sockerless-consumption")[1]
    assert consumption["sku"]["tier"] == "Dynamic" and consumption["kind"] == "functionapp"
    dedicated = websim.web("GET", "/serverfarms/sockerless-dedicated")[1]
    assert dedicated["sku"]["name"] == "P1v3" and dedicated["kind"] == "linux"
    names, page = [], websim.web("GET", "/serverfarms")[1]
    while True:
        names += [p["name"] for p in page["value"]]
        if not page.get("nextLink"):
            break
        page = websim.arm("GET", page["nextLink"])[1]
    assert sorted(names) == ["sockerless-consumption", "sockerless-dedicated",
                             "sockerless-premium"]
    assert refused(websim, "GET", "/serverfarms/nosuch", None, 404)["code"] == \
        "ResourceNotFound"


def test_create_get_list_delete(websim):
    status, out, headers = websim.web("PUT", "/sites/api-one", websim.site_body(
        IMAGE, acrUseManagedIdentityCreds=True, functionAppScaleLimit=1))
    assert status == 202 and out is None and headers["Location"]
    site = websim.poll(headers)
    assert site["name"] == "api-one" and site["type"] == "Microsoft.Web/sites"
    assert site["id"] == WEB + "/sites/api-one"
    assert site["kind"] == "functionapp,linux,container"
    props = site["properties"]
    assert props["state"] == "Running"
    assert props["defaultHostName"] == "api-one.azurewebsites.net"
    assert props["serverFarmId"] == PREMIUM
    assert props["siteConfig"]["linuxFxVersion"] == "DOCKER|" + IMAGE
    assert props["siteConfig"]["functionAppScaleLimit"] == 1
    assert "appSettings" not in props["siteConfig"]
    got = websim.web("GET", "/sites/api-one")[1]
    assert got["tags"] == {"sockerless": "test"}
    assert got["properties"]["provisioningState"] == "Succeeded"
    # a second PUT of an existing site: 200 with the site
    status, again, _ = websim.web("PUT", "/sites/api-one", websim.site_body(
        IMAGE, acrUseManagedIdentityCreds=True))
    assert status == 200 and again["name"] == "api-one"
    assert websim.web("DELETE", "/sites/api-one")[0] == 200
    assert refused(websim, "GET", "/sites/api-one", None, 404)["code"] == "ResourceNotFound"
    assert websim.web("DELETE", "/sites/api-one")[0] == 204


def test_list_is_paged(websim):
    for name in ("page-a", "page-b", "page-c"):
        create(websim, name)
    names, page = [], websim.web("GET", "/sites")[1]
    pages = 1
    while page.get("nextLink"):
        names += [s["name"] for s in page["value"]]
        page = websim.arm("GET", page["nextLink"])[1]
        pages += 1
    names += [s["name"] for s in page["value"]]
    assert {"page-a", "page-b", "page-c"} <= set(names) and pages >= 2
    for name in ("page-a", "page-b", "page-c"):
        websim.web("DELETE", "/sites/" + name)


def test_app_settings(websim):
    create(websim, "api-settings", settings=websim.settings(GREETING="hi"))
    out = websim.web("POST", "/sites/api-settings/config/appsettings/list")[1]
    assert out["name"] == "appsettings" and out["properties"]["GREETING"] == "hi"
    assert out["properties"]["FUNCTIONS_EXTENSION_VERSION"] == "~4"
    new = dict(out["properties"], GREETING="bye", OTHER="1")
    put = websim.web("PUT", "/sites/api-settings/config/appsettings",
                     {"properties": new})[1]
    assert put["properties"] == new
    assert websim.web("POST", "/sites/api-settings/config/appsettings/list")[1][
        "properties"] == new
    bad = dict(new)
    del bad["AzureWebJobsStorage"]
    error = refused(websim, "PUT", "/sites/api-settings/config/appsettings",
                    {"properties": bad})
    assert "AzureWebJobsStorage" in error["message"]
    error = refused(websim, "PUT", "/sites/api-settings/config/appsettings",
                    {"properties": dict(new, AzureFunctionsJobHost__functionTimeout="soon")})
    assert "timespan" in error["message"]
    websim.web("DELETE", "/sites/api-settings")


def test_config_patch_restart_stop_start_keys(websim):
    create(websim, "api-config")
    out = websim.web("PATCH", "/sites/api-config/config/web", {"properties": {
        "linuxFxVersion": "DOCKER|sockerless.azurecr.io/web/none:v2"}})[1]
    assert out["name"] == "web" and out["type"] == "Microsoft.Web/sites/config"
    assert out["properties"]["linuxFxVersion"] == "DOCKER|sockerless.azurecr.io/web/none:v2"
    assert out["properties"]["acrUseManagedIdentityCreds"] is True
    site = websim.web("GET", "/sites/api-config")[1]
    assert site["properties"]["siteConfig"]["linuxFxVersion"].endswith("none:v2")
    error = refused(websim, "PATCH", "/sites/api-config/config/web",
                    {"properties": {"linuxFxVersion": "PYTHON|3.11"}})
    assert "DOCKER|" in error["message"]
    assert websim.web("POST", "/sites/api-config/restart")[0] == 200
    assert websim.web("POST", "/sites/api-config/stop")[0] == 200
    assert websim.web("GET", "/sites/api-config")[1]["properties"]["state"] == "Stopped"
    assert websim.web("POST", "/sites/api-config/start")[0] == 200
    assert websim.web("GET", "/sites/api-config")[1]["properties"]["state"] == "Running"
    keys = websim.web("POST", "/sites/api-config/host/default/listkeys")[1]
    assert keys["masterKey"] and keys["functionKeys"]["default"] and keys["systemKeys"] == {}
    assert websim.web("POST", "/sites/api-config/host/default/listkeys")[1] == keys
    websim.web("DELETE", "/sites/api-config")
    refused(websim, "POST", "/sites/api-config/host/default/listkeys", None, 404)


@pytest.mark.parametrize("change, words", [
    (lambda b: b["properties"].update(serverFarmId=CONSUMPTION), "Consumption"),
    (lambda b: b.update(kind="functionapp,linux"), "container"),
    (lambda b: b["properties"].update(reserved=False), "Linux"),
    (lambda b: b["properties"]["siteConfig"].update(linuxFxVersion="NODE|18"), "DOCKER|"),
    (lambda b: b["properties"]["siteConfig"]["appSettings"].pop(0),
     "FUNCTIONS_EXTENSION_VERSION"),
    (lambda b: b["properties"]["siteConfig"]["appSettings"][0].update(value="~3"),
     "FUNCTIONS_EXTENSION_VERSION"),
    (lambda b: b["properties"]["siteConfig"]["appSettings"].pop(1), "AzureWebJobsStorage"),
    (lambda b: b["properties"]["siteConfig"]["appSettings"][1].update(
        value="DefaultEndpointsProtocol=https;AccountName=other;AccountKey=a"),
     "AzureWebJobsStorage"),
])
def test_refusals(websim, change, words):
    body = websim.site_body(IMAGE, acrUseManagedIdentityCreds=True)
    change(body)
    error = refused(websim, "PUT", "/sites/api-refused", body)
    assert error["code"] == "BadRequest" and words in error["message"], error
    refused(websim, "GET", "/sites/api-refused", None, 404)


def test_refusals_plan_and_name(websim):
    body = websim.site_body(IMAGE)
    body["properties"]["serverFarmId"] = WEB + "/serverfarms/nosuch"
    assert "nosuch" in refused(websim, "PUT", "/sites/api-plan", body, 404)["message"]
    assert refused(websim, "PUT", "/sites/-bad-", websim.site_body(IMAGE))["target"] == "name"
    # a Dedicated plan takes containers too
    assert create(websim, "api-dedicated", plan=DEDICATED)["properties"]["serverFarmId"] == \
        DEDICATED
    websim.web("DELETE", "/sites/api-dedicated")


@pytest.mark.parametrize("change, target", [
    (lambda b: b["properties"].update(serverFarmld="x"), "properties.serverFarmld"),
    (lambda b: b["properties"]["siteConfig"].update(linuxFXVersion="DOCKER|x"),
     "properties.siteConfig.linuxFXVersion"),
    (lambda b: b["properties"].update(httpsOnly="yes"), "properties.httpsOnly"),
    (lambda b: b["properties"]["siteConfig"].update(functionAppScaleLimit="2"),
     "properties.siteConfig.functionAppScaleLimit"),
    (lambda b: b["properties"]["siteConfig"]["appSettings"].append({"name": "A", "vaule": "1"}),
     "properties.siteConfig.appSettings[2].vaule"),
    (lambda b: b["properties"]["siteConfig"].update(ftpsState="Sometimes"),
     "properties.siteConfig.ftpsState"),
    (lambda b: b.pop("location"), "location"),
])
def test_field_table_validation(websim, change, target):
    body = websim.site_body(IMAGE, acrUseManagedIdentityCreds=True)
    change(body)
    error = refused(websim, "PUT", "/sites/api-fields", body)
    assert error["code"] == "InvalidRequestContent" and error["target"] == target, error


def test_field_table_other_bodies(websim):
    create(websim, "api-bodies")
    error = refused(websim, "PATCH", "/sites/api-bodies/config/web",
                    {"properties": {"linuxFxVersions": "DOCKER|x"}})
    assert error["target"] == "properties.linuxFxVersions"
    error = refused(websim, "PUT", "/sites/api-bodies/config/appsettings",
                    {"properties": {"A": 1}})
    assert error["target"] == "properties.A"
    websim.web("DELETE", "/sites/api-bodies")


def test_api_version_and_token(websim):
    with pytest.raises(HttpError) as err:
        websim.web("GET", "/sites", api="2025-07-01")
    assert err.value.error["code"] == "NoRegisteredProviderFound"
    assert "2022-09-01" in err.value.error["message"]
    status, body, _ = websim.raw("GET", WEB + "/sites?api-version=" + API)
    assert status == 401


def test_faults_and_calls(websim):
    websim.raw("POST", "/_sim/calls/reset")
    websim.raw("POST", "/_sim/faults", json.dumps(
        [{"op": "WebApps_CreateOrUpdate", "kind": "error", "status": 503},
         {"op": "WebApps_ListHostKeys", "kind": "throttle", "retry_after": 2}]).encode(),
        {"Content-Type": "application/json"})
    try:
        error = refused(websim, "PUT", "/sites/api-faults",
                        websim.site_body(IMAGE, acrUseManagedIdentityCreds=True), 503)
        assert error["code"] == "ServiceUnavailable"
        create(websim, "api-faults")
        with pytest.raises(HttpError) as err:
            websim.web("POST", "/sites/api-faults/host/default/listkeys")
        assert err.value.status == 429 and err.value.headers["Retry-After"] == "2"
        assert websim.web("POST", "/sites/api-faults/host/default/listkeys")[0] == 200
    finally:
        websim.raw("DELETE", "/_sim/faults")
    calls = websim.calls()
    assert calls["WebApps_CreateOrUpdate"] == 2 and calls["WebApps_ListHostKeys"] == 2
    websim.web("DELETE", "/sites/api-faults")


def test_slow_fault_keeps_the_create_running(websim):
    websim.raw("POST", "/_sim/faults", json.dumps(
        {"op": "WebApps_CreateOrUpdate", "kind": "slow", "polls": 2}).encode(),
        {"Content-Type": "application/json"})
    try:
        status, _, headers = websim.web("PUT", "/sites/api-slow", websim.site_body(
            IMAGE, acrUseManagedIdentityCreds=True))
        assert status == 202
        running = 0
        url = headers["Location"]
        while True:
            status, body, hdrs = websim.arm("GET", url)
            if status != 202:
                break
            running += 1
            url = hdrs.get("Location") or url
        assert running >= 2 and status == 200 and body["name"] == "api-slow"
    finally:
        websim.raw("DELETE", "/_sim/faults")
        websim.web("DELETE", "/sites/api-slow")


def test_front_unknown_site(websim):
    status, text, _ = websim.front_raw("nosuch-site")
    assert status == 404 and "not found" in text
    assert websim.calls().get("WebApps_Front", 0) >= 1


def test_front_stopped_site(websim):
    create(websim, "api-stopped")
    websim.web("POST", "/sites/api-stopped/stop")
    status, text, _ = websim.front_raw("api-stopped")
    assert status == 503 and "stopped" in text
    websim.web("DELETE", "/sites/api-stopped")


def test_webjobs_storage_in_creds(websim):
    conn = websim.creds_env()["AZURE_SK_WEBJOBS_STORAGE"]
    fields = dict(p.split("=", 1) for p in conn.split(";"))
    assert fields["AccountName"] == "sockerlessfuncs" and fields["AccountKey"]
    assert fields["EndpointSuffix"] == "core.windows.net"
