"""Microsoft.Web on the Azure simulator (Interface W): the pre-made App
Service plans, function apps (sites) that run a container image
(linuxFxVersion "DOCKER|<image>") as a real container on the engine, their
app settings, site config, restart/stop/start, host keys, and the function
host front: a request whose Host header is <site>.azurewebsites.net on the
simulator's main port is proxied to the site's container
(azuresim_web_run.py).

Bodies are validated by the base against specs/web-fields.json, the field
table generated from azure-mgmt-web's models (tools/gen_web_fields.py);
this module adds the service's rules: a container function app needs a
Linux plan that is not Consumption (Dynamic), a kind with "container",
FUNCTIONS_EXTENSION_VERSION "~4" and an AzureWebJobsStorage naming the
simulator's storage account. State (sites, their settings and keys) is
kept in <state-dir>/azweb.json; after a restart the running sites'
containers are created again."""

import json
import logging
import os
import re
import secrets
import threading

from azuresim_core import ArmError
import azuresim_app as app
import azuresim_web_run as web_run

log = logging.getLogger("azuresim")

OP_DELAY_SECONDS = 0.2      # how long a site create stays in progress
PAGE_SIZE = int(os.environ.get("AZURESIM_PAGE_SIZE", "20"))
TYPE_SITE = "Microsoft.Web/sites"
TYPE_PLAN = "Microsoft.Web/serverfarms"
TYPE_CONFIG = "Microsoft.Web/sites/config"
STORAGE_ACCOUNT = "sockerlessfuncs"
# Site names: 2 to 60 letters, digits and hyphens, not starting or ending
# with a hyphen (they become <name>.azurewebsites.net).
SITE_NAME = re.compile(r"^[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,58}[a-zA-Z0-9])$")
HOST = r"(?P<site>[a-z0-9][a-z0-9-]{0,58}[a-z0-9])\.azurewebsites\.net"

P = r"/subscriptions/(?P<subscriptionId>[^/]+)/resourceGroups/(?P<resourceGroupName>[^/]+)"
WEB = P + r"/providers/Microsoft\.Web"
PLANS = WEB + r"/serverfarms"
PLAN = PLANS + r"/(?P<name>[^/]+)"
SITES = WEB + r"/sites"
SITE = SITES + r"/(?P<name>[^/]+)"

# The pre-made plans (Interface W): sku, kind, Linux (reserved) and the
# Elastic Premium burst limit.
PLAN_SPECS = {
    "sockerless-premium": ({"name": "EP1", "tier": "ElasticPremium", "size": "EP1",
                            "family": "EP", "capacity": 1}, "elastic",
                           {"maximumElasticWorkerCount": 20}),
    "sockerless-consumption": ({"name": "Y1", "tier": "Dynamic", "size": "Y1", "family": "Y",
                                "capacity": 0}, "functionapp", {}),
    "sockerless-dedicated": ({"name": "P1v3", "tier": "PremiumV3", "size": "P1v3",
                              "family": "Pv3", "capacity": 1}, "linux", {}),
}


IDENTITY_TYPES = ("None", "SystemAssigned", "UserAssigned", "SystemAssigned, UserAssigned")
USER_IDENTITY_ID = re.compile(r"^/subscriptions/[^/]+/resourceGroups/[^/]+/providers/"
                              r"Microsoft\.ManagedIdentity/userAssignedIdentities/[^/]+$",
                              re.IGNORECASE)


def bad_request(message, target=None):
    return ArmError(400, "BadRequest", message, target=target)


class Web:
    """Plans and sites of one simulator."""

    def __init__(self, sim):
        self.sim = sim
        self.sites = {}         # name (lower case) -> {"site", "settings", "keys"}
        self.closed = False
        self.state_file = os.path.join(sim.state_dir, "azweb.json")
        self.storage_key = None
        self.runs = web_run.Runs(self)
        self.plans = {name: self._plan(name, *spec) for name, spec in PLAN_SPECS.items()}

    # Ids.

    def rid(self, kind, name):
        return "/subscriptions/%s/resourceGroups/%s/providers/%s/%s" % (
            self.sim.subscription, self.sim.resource_group, kind, name)

    def _plan(self, name, sku, kind, extra):
        props = {"status": "Ready", "reserved": True, "isXenon": False, "hyperV": False,
                 "numberOfSites": 0, "maximumNumberOfWorkers": 20,
                 "geoRegion": self.sim.location, "perSiteScaling": False,
                 "elasticScaleEnabled": sku["tier"] == "ElasticPremium",
                 "provisioningState": "Succeeded", "resourceGroup": self.sim.resource_group,
                 "zoneRedundant": False}
        props.update(extra)
        return {"id": self.rid(TYPE_PLAN, name), "name": name, "type": TYPE_PLAN, "kind": kind,
                "location": self.sim.location, "tags": {}, "sku": dict(sku),
                "properties": props}

    def _not_found(self, kind, name):
        return ArmError(404, "ResourceNotFound", "The Resource '%s/%s' under resource group "
                        "'%s' was not found. For more details please go to "
                        "https://aka.ms/ARMResourceNotFoundFix"
                        % (kind, name, self.sim.resource_group))

    def _entry(self, req):
        entry = self.sites.get(req.match.group("name").lower())
        if entry is None:
            raise self._not_found(TYPE_SITE, req.match.group("name"))
        return entry

    def storage_connection(self):
        return "DefaultEndpointsProtocol=https;AccountName=%s;AccountKey=%s;" \
            "EndpointSuffix=core.windows.net" % (STORAGE_ACCOUNT, self.storage_key)

    # Plans.

    def plan_get(self, req):
        plan = self.plans.get(req.match.group("name").lower())
        if plan is None:
            raise self._not_found(TYPE_PLAN, req.match.group("name"))
        return 200, self._plan_view(plan)

    def plan_list(self, req):
        return 200, self.sim.page(req, [self._plan_view(self.plans[n])
                                        for n in sorted(self.plans)], PAGE_SIZE)

    def _plan_view(self, plan):
        view = app._copy(plan)
        view["properties"]["numberOfSites"] = sum(
            1 for e in self.sites.values()
            if e["site"]["properties"]["serverFarmId"].lower() == plan["id"].lower())
        return view

    def plan_by_id(self, plan_id):
        name = (plan_id or "").rstrip("/").rsplit("/", 1)[-1].lower()
        plan = self.plans.get(name)
        if plan is None or plan["id"].lower() != (plan_id or "").rstrip("/").lower():
            return None
        return plan

    # Checks.

    def check_settings(self, settings, where):
        version = settings.get("FUNCTIONS_EXTENSION_VERSION")
        if version != "~4":
            raise bad_request("%s: the app setting FUNCTIONS_EXTENSION_VERSION must be \"~4\" "
                              "(the Functions runtime version); it is %s."
                              % (where, json.dumps(version) if version is not None
                                 else "missing"), target="FUNCTIONS_EXTENSION_VERSION")
        storage = settings.get("AzureWebJobsStorage")
        if not storage:
            raise bad_request("%s: the app setting AzureWebJobsStorage is required: the "
                              "Functions host keeps its keys and triggers in that storage "
                              "account (a connection string)." % where,
                              target="AzureWebJobsStorage")
        fields = dict(part.split("=", 1) for part in storage.split(";") if "=" in part)
        if fields.get("AccountName") != STORAGE_ACCOUNT:
            raise bad_request("%s: AzureWebJobsStorage names the storage account %s, which "
                              "does not exist (the simulator knows %s: "
                              "AZURE_SK_WEBJOBS_STORAGE in its credentials file)."
                              % (where, json.dumps(fields.get("AccountName")),
                                 STORAGE_ACCOUNT), target="AzureWebJobsStorage")
        web_run.function_timeout(settings)      # 400 for a bad one

    def check_container(self, kind, fx):
        if not fx or not fx.upper().startswith("DOCKER|") or not fx[7:].strip():
            raise bad_request("properties.siteConfig.linuxFxVersion must be \"DOCKER|<image>\": "
                              "the simulator runs container function apps only (it is %s)."
                              % json.dumps(fx), target="properties.siteConfig.linuxFxVersion")
        if "container" not in [k.strip() for k in (kind or "").lower().split(",")]:
            raise bad_request("The site's kind '%s' has no 'container' while linuxFxVersion "
                              "is DOCKER|: a function app running a container image is of kind "
                              "\"functionapp,linux,container\"." % (kind or ""), target="kind")

    def check_site(self, name, body, old):
        if not SITE_NAME.match(name):
            raise bad_request("The site name '%s' is invalid: use 2 to 60 letters, digits and "
                              "hyphens, not starting or ending with a hyphen." % name,
                              target="name")
        props = app._copy(body.get("properties") or {})
        config = props.get("siteConfig") or {}
        farm = props.get("serverFarmId") or (old["site"]["properties"]["serverFarmId"]
                                             if old else None)
        if not farm:
            raise bad_request("properties.serverFarmId is required: the full id of the App "
                              "Service plan the function app runs on.",
                              target="properties.serverFarmId")
        plan = self.plan_by_id(farm)
        if plan is None:
            raise ArmError(404, "NotFound", "Cannot find ServerFarm with name %s (the "
                           "serverFarmId must be the full id of a plan of resource group "
                           "%s)." % (farm.rstrip("/").rsplit("/", 1)[-1],
                                     self.sim.resource_group))
        if not plan["properties"]["reserved"] or props.get("reserved") is False:
            raise bad_request("Linux container function apps need a Linux plan and "
                              "properties.reserved true.", target="properties.reserved")
        kind = body.get("kind") or (old["site"]["kind"] if old else "")
        self.check_container(kind, config.get("linuxFxVersion"))
        if plan["sku"]["tier"] == "Dynamic":
            raise bad_request("The App Service plan '%s' is a Consumption (Dynamic) plan, "
                              "which does not run custom containers: put a container function "
                              "app on an Elastic Premium or a Dedicated plan." % plan["name"],
                              target="properties.serverFarmId")
        settings = {}
        for i, pair in enumerate(config.get("appSettings") or []):
            if not pair.get("name"):
                raise bad_request("properties.siteConfig.appSettings[%d].name is required." % i,
                                  target="properties.siteConfig.appSettings[%d].name" % i)
            settings[pair["name"]] = pair.get("value") or ""
        self.check_settings(settings, "properties.siteConfig.appSettings")
        identity = body.get("identity") if "identity" in body else \
            (old["site"].get("identity") if old else None)
        self.check_identity(name, identity)
        self.check_acr_identity(config, identity)
        return plan, props, config, kind, settings

    def check_identity(self, name, identity):
        """The site's identity block as Azure takes it: a known type, and
        for UserAssigned the full ids of identities that exist
        (azuresim_msi)."""
        if not identity:
            return
        kind = identity.get("type") or "None"
        if kind not in IDENTITY_TYPES:
            raise bad_request("identity.type '%s' is invalid: one of %s." % (
                kind, ", ".join(IDENTITY_TYPES)), target="identity.type")
        uids = identity.get("userAssignedIdentities") or {}
        if "UserAssigned" in kind and not uids:
            raise bad_request("identity.userAssignedIdentities is required when identity.type "
                              "is '%s'." % kind, target="identity.userAssignedIdentities")
        if uids and "UserAssigned" not in kind:
            raise bad_request("identity.userAssignedIdentities is only allowed when "
                              "identity.type includes UserAssigned (it is '%s')." % kind,
                              target="identity.userAssignedIdentities")
        for uid in uids:
            if not USER_IDENTITY_ID.match(uid):
                raise bad_request("Invalid user assigned identity resource id '%s': the "
                                  "full id /subscriptions/{s}/resourceGroups/{g}/providers/"
                                  "Microsoft.ManagedIdentity/userAssignedIdentities/{name}."
                                  % uid, target="identity.userAssignedIdentities")
            msi = getattr(self.sim, "msi", None)
            if msi is None or msi.lookup(uid) is None:
                raise ArmError(400, "FailedIdentityOperation", "Identity operation for "
                               "resource '%s' failed with error 'Failed to perform resource "
                               "identity operation. Status: 'NotFound'. Response: "
                               "'{\"error\":{\"code\":\"ResourceNotFound\",\"message\":"
                               "\"The Resource '%s' was not found.\"}}''." % (
                                   self.rid(TYPE_SITE, name), uid))

    def check_acr_identity(self, config, identity):
        """siteConfig.acrUserManagedIdentityID: the clientId of one of the
        site's user-assigned identities (the one its image pulls use)."""
        cid = config.get("acrUserManagedIdentityID")
        if not cid:
            return
        if not any(self._client_id(uid) == cid.lower()
                   for uid in ((identity or {}).get("userAssignedIdentities") or {})):
            raise bad_request("properties.siteConfig.acrUserManagedIdentityID '%s' is not the "
                              "clientId of a user-assigned identity of the site (identity."
                              "userAssignedIdentities): assign the identity to the site, or "
                              "give its clientId." % cid,
                              target="properties.siteConfig.acrUserManagedIdentityID")

    def _client_id(self, uid):
        ident = self.sim.msi.lookup(uid) if getattr(self.sim, "msi", None) else None
        return ident["properties"]["clientId"].lower() if ident else None

    # Sites.

    def site_view(self, entry):
        return app._copy(entry["site"])

    def site_put(self, req):
        name = req.match.group("name")
        body = req.body or {}
        old = self.sites.get(name.lower())
        plan, props, config, kind, settings = self.check_site(name, body, old)
        config = {k: v for k, v in config.items() if k != "appSettings"}
        name = old["site"]["name"] if old else name
        host = "%s.azurewebsites.net" % name.lower()
        props.pop("siteConfig", None)
        props.update({
            "state": "Running", "enabled": True, "hostNames": [host],
            "enabledHostNames": [host, "%s.scm.azurewebsites.net" % name.lower()],
            "defaultHostName": host, "serverFarmId": plan["id"], "reserved": True,
            "resourceGroup": self.sim.resource_group, "usageState": "Normal",
            "availabilityState": "Normal", "siteConfig": config,
            "outboundIpAddresses": "20.105.0.%d" % (len(name) % 250 + 1),
            "provisioningState": "Succeeded" if old else "InProgress"})
        site = {"id": self.rid(TYPE_SITE, name), "name": name, "type": TYPE_SITE, "kind": kind,
                "location": body.get("location") or self.sim.location,
                "tags": body.get("tags") or {}, "properties": props}
        if body.get("identity"):
            site["identity"] = app.make_identity(self.sim, body["identity"])
        elif "identity" not in body and old and old["site"].get("identity"):
            site["identity"] = old["site"]["identity"]     # a PUT without it keeps it
        entry = {"site": site, "settings": settings,
                 "keys": old["keys"] if old else self._new_keys()}
        self.sites[name.lower()] = entry
        self.runs.deploy(entry)
        self.save()
        if old:
            return 200, self.site_view(entry)
        op = self.sim.op_new(kind="location")

        def done():
            with self.sim.lock:
                if self.sites.get(name.lower()) is entry:
                    site["properties"]["provisioningState"] = "Succeeded"
                self.sim.op_done(op["id"], result=self.site_view(entry))
                self.save()
        timer = threading.Timer(OP_DELAY_SECONDS, done)
        timer.daemon = True
        timer.start()
        return 202, None, {"Location": op["url"], "Retry-After": "1"}

    def _new_keys(self):
        return {"masterKey": secrets.token_urlsafe(40),
                "functionKeys": {"default": secrets.token_urlsafe(40)}, "systemKeys": {}}

    def site_get(self, req):
        return 200, self.site_view(self._entry(req))

    def site_list(self, req):
        return 200, self.sim.page(req, [self.site_view(self.sites[n])
                                        for n in sorted(self.sites)], PAGE_SIZE)

    def site_delete(self, req):
        entry = self.sites.pop(req.match.group("name").lower(), None)
        if entry is None:
            return 204, None
        self.runs.remove(entry["site"]["name"])
        self.save()
        return 200, None

    def _settings_view(self, entry):
        site = entry["site"]
        return {"id": site["id"] + "/config/appsettings", "name": "appsettings",
                "type": TYPE_CONFIG, "location": site["location"],
                "properties": dict(entry["settings"])}

    def settings_put(self, req):
        entry = self._entry(req)
        settings = dict(((req.body or {}).get("properties") or {}))
        self.check_settings(settings, "properties")
        entry["settings"] = settings
        self.runs.deploy(entry)     # a changed setting restarts the app
        self.save()
        return 200, self._settings_view(entry)

    def settings_list(self, req):
        return 200, self._settings_view(self._entry(req))

    def _config_view(self, entry):
        site = entry["site"]
        return {"id": site["id"] + "/config/web", "name": "web", "type": TYPE_CONFIG,
                "location": site["location"],
                "properties": app._copy(site["properties"]["siteConfig"])}

    def config_patch(self, req):
        entry = self._entry(req)
        patch = app._copy(((req.body or {}).get("properties") or {}))
        if "appSettings" in patch:
            raise bad_request("properties.appSettings: change app settings with PUT "
                              "config/appsettings (the simulator does not merge them from "
                              "config/web).", target="properties.appSettings")
        config = app._merge(entry["site"]["properties"]["siteConfig"], patch)
        self.check_container(entry["site"]["kind"], config.get("linuxFxVersion"))
        self.check_acr_identity(config, entry["site"].get("identity"))
        entry["site"]["properties"]["siteConfig"] = config
        self.runs.deploy(entry)     # a re-pointed image: a new container
        self.save()
        return 200, self._config_view(entry)

    def restart(self, req):
        entry = self._entry(req)
        if entry["site"]["properties"]["state"] == "Running":
            self.runs.deploy(entry)
        return 200, None

    def stop(self, req):
        entry = self._entry(req)
        entry["site"]["properties"]["state"] = "Stopped"
        self.runs.remove(entry["site"]["name"])
        self.save()
        return 200, None

    def start(self, req):
        entry = self._entry(req)
        if entry["site"]["properties"]["state"] != "Running":
            entry["site"]["properties"]["state"] = "Running"
            self.runs.deploy(entry)
            self.save()
        return 200, None

    def host_keys(self, req):
        return 200, app._copy(self._entry(req)["keys"])

    # Persistence.

    def save(self):
        if self.closed:
            return
        tmp = self.state_file + ".tmp"
        os.makedirs(os.path.dirname(self.state_file), exist_ok=True)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            json.dump({"sites": self.sites, "storage_key": self.storage_key}, f)
        os.replace(tmp, self.state_file)

    def restore(self):
        try:
            with open(self.state_file) as f:
                state = json.load(f)
        except FileNotFoundError:
            state = {}
        except ValueError:
            log.warning("ignoring an unreadable %s", self.state_file)
            state = {}
        self.sites = state.get("sites") or {}
        for entry in self.sites.values():
            entry["site"]["properties"]["provisioningState"] = "Succeeded"
        self.storage_key = state.get("storage_key") or \
            secrets.token_urlsafe(48).replace("-", "+").replace("_", "/") + "=="

    def start_sites(self):
        """After a restart: the running sites' containers again."""
        with self.sim.lock:
            for entry in self.sites.values():
                if entry["site"]["properties"]["state"] == "Running":
                    self.runs.deploy(entry)

    def close(self):
        with self.sim.lock:
            if self.closed:
                return
            self.save()
            self.closed = True
        self.runs.close()


def register(sim):
    web = Web(sim)
    sim.web = web
    web.restore()
    web.save()
    sim.creds_extra["AZURE_SK_WEBJOBS_STORAGE"] = web.storage_connection()
    routes = [
        ("GET", PLANS, web.plan_list, "AppServicePlans_ListByResourceGroup"),
        ("GET", PLAN, web.plan_get, "AppServicePlans_Get"),
        ("GET", SITES, web.site_list, "WebApps_ListByResourceGroup"),
        ("GET", SITE, web.site_get, "WebApps_Get"),
        ("PUT", SITE, web.site_put, "WebApps_CreateOrUpdate"),
        ("DELETE", SITE, web.site_delete, "WebApps_Delete"),
        ("PUT", SITE + "/config/appsettings", web.settings_put,
         "WebApps_UpdateApplicationSettings"),
        ("POST", SITE + "/config/appsettings/list", web.settings_list,
         "WebApps_ListApplicationSettings"),
        ("PATCH", SITE + "/config/web", web.config_patch, "WebApps_UpdateConfiguration"),
        ("POST", SITE + "/restart", web.restart, "WebApps_Restart"),
        ("POST", SITE + "/stop", web.stop, "WebApps_Stop"),
        ("POST", SITE + "/start", web.start, "WebApps_Start"),
        ("POST", SITE + "/host/default/listkeys", web.host_keys, "WebApps_ListHostKeys"),
    ]
    for method, regex, handler, op_id in routes:
        sim.route(method, regex, handler, op_id)
    sim.front(HOST, web.runs.front)
    sim.add_starter(web.start_sites)
    sim.add_closer(web.close)
    log.info("Microsoft.Web (plans, function apps, the function host front) served")
    return web

