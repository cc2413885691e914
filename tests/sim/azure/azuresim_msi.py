"""Microsoft.ManagedIdentity on the Azure simulator: user-assigned
identities, the resources a site's or a job's identity block names (for
the azfunc backend's azfunc.registry_identity, which it reads at start-up
for the identity's clientId).

  PUT    .../providers/Microsoft.ManagedIdentity/userAssignedIdentities/{name}
         (UserAssignedIdentities_CreateOrUpdate: {"location", "tags"?};
         201 new, 200 again with the same ids) - how tests make identities
  GET    same (UserAssignedIdentities_Get), 404 ResourceNotFound in ARM's
         shape for one that does not exist
  DELETE same (UserAssignedIdentities_Delete: 200, 204 when absent)
  GET    .../userAssignedIdentities (UserAssignedIdentities_ListByResourceGroup)

An identity is {"id", "name", "type", "location", "tags", "properties":
{"tenantId", "principalId", "clientId"}}, the shape of Azure's 2023-01-31
examples (IdentityCreate.json, IdentityGet.json). The simulator vendors no
spec for it: the api-versions Azure publishes are checked here, bodies by
hand. State is kept in <state-dir>/azmsi.json."""

import json
import logging
import os
import re
import uuid

from azuresim_core import ArmError

log = logging.getLogger("azuresim")

TYPE = "Microsoft.ManagedIdentity/userAssignedIdentities"
# The stable and preview versions of Microsoft.ManagedIdentity's REST API
# (azure-rest-api-specs, specification/msi).
API_VERSIONS = ("2015-08-31-preview", "2018-11-30", "2021-09-30-preview",
                "2022-01-31-preview", "2023-01-31", "2023-07-31-preview", "2024-11-30",
                "2025-01-31-preview")
# Azure's rule for an identity's name: 3 to 128 characters, a letter or a
# digit first, then letters, digits, hyphens and underscores.
NAME = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_-]{2,127}$")

P = r"/subscriptions/(?P<subscriptionId>[^/]+)/resourceGroups/(?P<resourceGroupName>[^/]+)"
IDENTITIES = P + r"/providers/Microsoft\.ManagedIdentity/userAssignedIdentities"
IDENTITY = IDENTITIES + r"/(?P<name>[^/]+)"


class Msi:
    def __init__(self, sim):
        self.sim = sim
        self.identities = {}    # name (lower case) -> the resource
        self.state_file = os.path.join(sim.state_dir, "azmsi.json")

    def rid(self, name):
        return "/subscriptions/%s/resourceGroups/%s/providers/%s/%s" % (
            self.sim.subscription, self.sim.resource_group, TYPE, name)

    def _api(self, req):
        if req.api_version not in API_VERSIONS:
            raise ArmError(400, "NoRegisteredProviderFound", "No registered resource provider "
                           "found for location '%s' and API version '%s' for type "
                           "'userAssignedIdentities'. The supported api-versions are '%s'. "
                           "The supported locations are '%s'." % (
                               self.sim.location, req.api_version, ", ".join(API_VERSIONS),
                               self.sim.location))
        self.sim.count({"GET": "UserAssignedIdentities_Get",
                        "PUT": "UserAssignedIdentities_CreateOrUpdate",
                        "DELETE": "UserAssignedIdentities_Delete"}.get(
                            req.method, "UserAssignedIdentities_ListByResourceGroup"))

    def not_found(self, name):
        return ArmError(404, "ResourceNotFound", "The Resource '%s/%s' under resource group "
                        "'%s' was not found. For more details please go to "
                        "https://aka.ms/ARMResourceNotFoundFix"
                        % (TYPE, name, self.sim.resource_group))

    def lookup(self, resource_id):
        """The identity a full resource id names (ARM ids are case
        insensitive), or None."""
        for ident in self.identities.values():
            if ident["id"].lower() == (resource_id or "").rstrip("/").lower():
                return ident
        return None

    def by_client_id(self, client_id):
        for ident in self.identities.values():
            if ident["properties"]["clientId"].lower() == (client_id or "").lower():
                return ident
        return None

    # Routes (sim.lock held).

    def put(self, req):
        self._api(req)
        name = req.match.group("name")
        if not NAME.match(name):
            raise ArmError(400, "InvalidResourceName", "The resource name '%s' is invalid: "
                           "3 to 128 letters, digits, hyphens and underscores, starting with "
                           "a letter or a digit." % name)
        body = req.body if isinstance(req.body, dict) else {}
        location = body.get("location")
        if not isinstance(location, str) or not location:
            raise ArmError(400, "LocationRequired", "The location property is required for "
                           "this definition.")
        tags = body.get("tags") or {}
        if not isinstance(tags, dict) or not all(isinstance(v, str) for v in tags.values()):
            raise ArmError(400, "InvalidRequestContent", "tags must be an object of strings.",
                           target="tags")
        old = self.identities.get(name.lower())
        props = old["properties"] if old else {
            "tenantId": self.sim.tenant, "principalId": str(uuid.uuid4()),
            "clientId": str(uuid.uuid4())}
        ident = {"id": self.rid(old["name"] if old else name),
                 "name": old["name"] if old else name, "type": TYPE,
                 "location": location, "tags": dict(tags), "properties": dict(props)}
        self.identities[name.lower()] = ident
        self.save()
        return (200 if old else 201), dict(ident)

    def get(self, req):
        self._api(req)
        ident = self.identities.get(req.match.group("name").lower())
        if ident is None:
            raise self.not_found(req.match.group("name"))
        return 200, json.loads(json.dumps(ident))

    def delete(self, req):
        self._api(req)
        gone = self.identities.pop(req.match.group("name").lower(), None)
        self.save()
        return (200 if gone else 204), None

    def list(self, req):
        self._api(req)
        return 200, self.sim.page(req, [self.identities[n] for n in sorted(self.identities)])

    # Persistence.

    def save(self):
        tmp = self.state_file + ".tmp"
        os.makedirs(os.path.dirname(self.state_file), exist_ok=True)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            json.dump({"identities": self.identities}, f)
        os.replace(tmp, self.state_file)

    def restore(self):
        try:
            with open(self.state_file) as f:
                self.identities = json.load(f).get("identities") or {}
        except FileNotFoundError:
            pass
        except (ValueError, AttributeError):
            log.warning("ignoring an unreadable %s", self.state_file)


def register(sim):
    msi = Msi(sim)
    sim.msi = msi
    msi.restore()
    sim.route("PUT", IDENTITY, msi.put)
    sim.route("GET", IDENTITY, msi.get)
    sim.route("DELETE", IDENTITY, msi.delete)
    sim.route("GET", IDENTITIES, msi.list)
    log.info("Microsoft.ManagedIdentity (user-assigned identities) served")
    return msi
