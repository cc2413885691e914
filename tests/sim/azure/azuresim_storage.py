"""Microsoft.Storage on the Azure simulator: storage accounts (the
pre-made `sockerlessvols` in the simulator's resource group, StorageV2,
large file shares on, two keys; GET, POST listKeys) and their Azure Files
shares (storageAccounts/{a}/fileServices/default/shares/{s}: PUT create,
GET, DELETE, list), each share a directory under the state directory
(<state-dir>/azurefiles/azurefile/<account>/<share>).

Microsoft.Storage's REST spec is not vendored: bodies are checked against
specs/storage-fields.json, the field table azuresim_storage_gen.py derives
from azure-mgmt-storage's models (see README.md, "Microsoft.Storage").
Unknown fields are an error (stricter than Azure, as for the vendored
specs), readonly ones are dropped, types, enums and bounds are checked.

Service rules served:
- share names: 3-63 characters, lowercase letters, digits and single
  hyphens, starting and ending with a letter or digit (400
  InvalidResourceName);
- shareQuota 1..102400 GiB (the account has large file shares on);
- PUT of an existing share: 409 ShareAlreadyExists (FileShares_Create
  does not update; PATCH does, and is not served);
- GET/DELETE of a missing share: 404 ShareNotFound (DELETE too: the
  storage resource provider does not answer 204 for a missing share);
- DELETE of a share a running execution mounts succeeds, as on Azure
  (Azure Files deletes a share with open SMB handles; only leases and
  snapshots stop it): its files go at once, and the next replica that
  mounts it fails to mount. Share soft delete is off in the pre-made
  account (a deleted share's name is free at once).

Container Apps (azuresim_app) mounts an environment storage of kind
azureFile from here: the account must exist, its accountKey must be one of
the account's keys, and the share must exist, or the replica fails to
mount (the execution fails with Azure's mount error), as on Azure.

Knobs (environment variables of the simulator process):
AZURESIM_STORAGE_KEY_OUT (a file the pre-made account's key1 is written
to, mode 0600), AZURESIM_SHARED_DIR (a directory: the pre-made share
`sockerless-shared` is a symlink to it and the environment storage
`sockerless-shared` on the pre-made environment mounts it; deploy/local.sh
points it at $RUN/shared). State (accounts with their keys, shares) is
kept in <state-dir>/azstorage.json."""

import base64
import json
import logging
import os
import re
import shutil
import time

from azuresim_core import ArmError

log = logging.getLogger("azuresim")

ACCOUNT_NAME = "sockerlessvols"
SHARED_NAME = "sockerless-shared"
TYPE_ACCOUNT = "Microsoft.Storage/storageAccounts"
TYPE_SHARE = "Microsoft.Storage/storageAccounts/fileServices/shares"
# The api-versions served. The field table is 2022-09-01's models; the
# later versions add no field to FileShare, StorageAccountKey or the
# StorageAccount fields answered here that the simulator would have to
# serve (a body with a field the table lacks is refused, so a backend
# sending one would notice).
API_VERSIONS = ("2021-09-01", "2022-05-01", "2022-09-01", "2023-01-01", "2023-04-01",
                "2023-05-01", "2024-01-01")
SHARE_NAME = re.compile(r"^[a-z0-9](?!.*--)[a-z0-9-]{1,61}[a-z0-9]$")
ACCOUNT_RE = re.compile(r"^[a-z0-9]{3,24}$")
FIELDS_FILE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "specs",
                           "storage-fields.json")

P = r"/subscriptions/(?P<subscriptionId>[^/]+)/resourceGroups/(?P<resourceGroupName>[^/]+)"
ACCOUNT = P + r"/providers/Microsoft\.Storage/storageAccounts/(?P<accountName>[^/]+)"
SHARES = ACCOUNT + r"/fileServices/default/shares"
SHARE = SHARES + r"/(?P<shareName>[^/]+)"


def now_iso():
    return time.strftime("%Y-%m-%dT%H:%M:%S.0000000Z", time.gmtime())


def _new_key():
    return base64.b64encode(os.urandom(64)).decode()


class Fields:
    """Validation of a body against one model of the field table."""

    def __init__(self, path=FIELDS_FILE):
        with open(path) as f:
            self.table = json.load(f)

    def check(self, model, body):
        """body without its readonly fields; ArmError 400 on a violation."""
        fields = self.table["models"][model]
        if not isinstance(body, dict):
            raise ArmError(400, "InvalidRequestContent", "The request content must be a JSON "
                           "object.")
        out = {}
        for top, value in body.items():
            if value is None:
                continue
            if top == "properties":
                if not isinstance(value, dict):
                    raise self._bad("properties", "must be an object")
                props = {}
                for k, v in value.items():
                    if v is None:
                        continue
                    if self._one(fields, "properties." + k, v):
                        props[k] = v
                out["properties"] = props
            elif self._one(fields, top, value):
                out[top] = value
        return out

    def _one(self, fields, path, value):
        spec = fields.get(path)
        if spec is None:
            raise self._bad(path, "is not a property of this resource")
        if spec.get("readonly"):
            return False
        kind = spec["type"]
        ok = {"int": lambda v: isinstance(v, int) and not isinstance(v, bool),
              "str": lambda v: isinstance(v, str),
              "bool": lambda v: isinstance(v, bool),
              "iso-8601": lambda v: isinstance(v, str),
              "{str}": lambda v: isinstance(v, dict) and
              all(isinstance(x, str) for x in v.values())}.get(kind)
        if ok is None:
            ok = (lambda v: isinstance(v, list)) if kind.startswith("[") else \
                (lambda v: isinstance(v, dict))
        if not ok(value):
            raise self._bad(path, "must be of type %s" % kind)
        if "minimum" in spec and value < spec["minimum"] or \
                "maximum" in spec and value > spec["maximum"]:
            raise self._bad(path, "must be between %d and %d" % (spec.get("minimum", 0),
                                                                 spec.get("maximum", 0)))
        if "enum" in spec and value not in spec["enum"]:
            raise self._bad(path, "must be one of %s" % ", ".join(spec["enum"]))
        return True

    @staticmethod
    def _bad(path, what):
        return ArmError(400, "InvalidRequestContent", "The request content is invalid: %s %s."
                        % (path, what), target=path)


class Storage:
    """Storage accounts and file shares of one simulator."""

    def __init__(self, sim):
        self.sim = sim
        self.fields = Fields()
        self.accounts = {}   # name -> {"account": wire shape, "keys": [key1, key2]}
        self.shares = {}     # (account, share) -> wire shape
        self.state_file = os.path.join(sim.state_dir, "azstorage.json")
        self.root = os.path.join(sim.state_dir, "azurefiles", "azurefile")

    # State.

    def save(self):
        tmp = self.state_file + ".tmp"
        os.makedirs(os.path.dirname(self.state_file), exist_ok=True)
        with open(tmp, "w") as f:
            json.dump({"accounts": self.accounts,
                       "shares": [s for s in self.shares.values()]}, f)
        os.replace(tmp, self.state_file)

    def restore(self):
        try:
            with open(self.state_file) as f:
                state = json.load(f)
        except FileNotFoundError:
            return False
        except ValueError:
            log.warning("ignoring an unreadable %s", self.state_file)
            return False
        self.accounts = state.get("accounts") or {}
        for s in state.get("shares") or []:
            self.shares[(s["id"].split("/storageAccounts/")[1].split("/")[0], s["name"])] = s
        return bool(self.accounts)

    def make_account(self, name):
        acct_id = "/subscriptions/%s/resourceGroups/%s/providers/%s/%s" % (
            self.sim.subscription, self.sim.resource_group, TYPE_ACCOUNT, name)
        files = "%s/_files/%s/" % (self.sim.url, name)
        account = {
            "id": acct_id, "name": name, "type": TYPE_ACCOUNT, "kind": "StorageV2",
            "location": self.sim.location.replace(" ", "").lower(),
            "sku": {"name": "Standard_LRS", "tier": "Standard"}, "tags": {},
            "properties": {
                "provisioningState": "Succeeded", "creationTime": now_iso(),
                "primaryLocation": self.sim.location.replace(" ", "").lower(),
                "statusOfPrimary": "available", "largeFileSharesState": "Enabled",
                "supportsHttpsTrafficOnly": True, "minimumTlsVersion": "TLS1_2",
                "allowSharedKeyAccess": True, "accessTier": "Hot",
                "primaryEndpoints": {"file": files},
            },
        }
        self.accounts[name] = {"account": account, "keys": [_new_key(), _new_key()]}
        return account

    # Lookups.

    def _scope(self, m):
        if m.group("subscriptionId").lower() != self.sim.subscription.lower():
            raise ArmError(404, "SubscriptionNotFound", "The subscription '%s' could not be "
                           "found." % m.group("subscriptionId"))
        if m.group("resourceGroupName").lower() != self.sim.resource_group.lower():
            raise ArmError(404, "ResourceGroupNotFound", "Resource group '%s' could not be "
                           "found." % m.group("resourceGroupName"))

    def _account(self, req):
        self._scope(req.match)
        if req.api_version not in API_VERSIONS:
            raise ArmError(400, "NoRegisteredProviderFound", "No registered resource provider "
                           "found for location '%s' and API version '%s' for type "
                           "'storageAccounts'. The supported api-versions are '%s'."
                           % (self.sim.location, req.api_version, ", ".join(API_VERSIONS)))
        name = req.match.group("accountName")
        if not ACCOUNT_RE.match(name):
            raise ArmError(400, "AccountNameInvalid", "%s is not a valid storage account name. "
                           "Storage account name must be between 3 and 24 characters in "
                           "length and use numbers and lower-case letters only." % name,
                           target="accountName")
        entry = self.accounts.get(name)
        if entry is None:
            raise ArmError(404, "ResourceNotFound", "The Resource '%s/%s' under resource group "
                           "'%s' was not found. For more details please go to "
                           "https://aka.ms/ARMResourceNotFoundFix"
                           % (TYPE_ACCOUNT, name, self.sim.resource_group))
        return name, entry

    def _share_name(self, req):
        name = req.match.group("shareName")
        if not SHARE_NAME.match(name):
            raise ArmError(400, "InvalidResourceName", "The specifed resource name contains "
                           "invalid characters. Share names are 3 to 63 characters of "
                           "lowercase letters, digits and single hyphens, starting and "
                           "ending with a letter or a digit: '%s'." % name,
                           target="shareName")
        return name

    def _fault(self, op):
        self.sim.count(op)
        fault = self.sim.faults.take(op)
        if fault is not None and fault.kind == "latency":
            time.sleep(fault.ms / 1000.0)
        elif fault is not None and fault.kind in ("throttle", "error"):
            raise fault.error("GET" if op.endswith(("_Get", "_List")) else "PUT")

    def _no_share(self, account, name):
        return ArmError(404, "ShareNotFound", "The specified share does not exist. "
                        "(share '%s' of the storage account '%s')" % (name, account))

    # What Container Apps uses.

    def share_path(self, account, share):
        return os.path.join(self.root, account, share)

    def mount_source(self, account, key, share):
        """The directory of share for a mount with key; a sentence (str
        in a ValueError) of Azure's mount failure otherwise."""
        entry = self.accounts.get(account)
        if entry is None:
            raise ValueError("mount error(2): No such file or directory: the storage account "
                             "'%s' does not exist (%s.file.core.windows.net cannot be "
                             "resolved)" % (account, account))
        if key not in entry["keys"]:
            raise ValueError("mount error(13): Permission denied: the account key of the "
                             "storage '%s' is not a key of the account (check "
                             "accountKey)" % account)
        if (account, share) not in self.shares:
            raise ValueError("mount error(2): No such file or directory: the share '%s' does "
                             "not exist in the storage account '%s'" % (share, account))
        return self.share_path(account, share)

    # Handlers.

    def account_get(self, req):
        self._fault("StorageAccounts_GetProperties")
        return 200, self._account(req)[1]["account"]

    def list_keys(self, req):
        self._fault("StorageAccounts_ListKeys")
        _, entry = self._account(req)
        created = entry["account"]["properties"]["creationTime"]
        return 200, {"keys": [{"keyName": "key%d" % (i + 1), "value": k,
                               "permissions": "FULL", "creationTime": created}
                              for i, k in enumerate(entry["keys"])]}

    def share_put(self, req):
        self._fault("FileShares_Create")
        account, _ = self._account(req)
        name = self._share_name(req)
        body = self.fields.check("FileShare", req.body or {})
        if (account, name) in self.shares:
            raise ArmError(409, "ShareAlreadyExists", "The specified share already exists.")
        props = body.get("properties") or {}
        share = {
            "id": self.accounts[account]["account"]["id"] + "/fileServices/default/shares/" +
            name, "name": name, "type": TYPE_SHARE, "etag": '"0x%X"' % time.time_ns(),
            "properties": {
                "metadata": props.get("metadata") or {}, "shareQuota":
                props.get("shareQuota", 102400), "enabledProtocols":
                props.get("enabledProtocols", "SMB"), "accessTier":
                props.get("accessTier", "TransactionOptimized"), "lastModifiedTime": now_iso(),
                "leaseStatus": "unlocked", "leaseState": "available",
            },
        }
        if share["properties"]["enabledProtocols"] == "NFS":
            raise ArmError(400, "InvalidRequestPropertyValue", "NFS shares need a FileStorage "
                           "(premium) account; the account '%s' is StorageV2." % account,
                           target="properties.enabledProtocols")
        if "rootSquash" in props:
            raise ArmError(400, "InvalidRequestPropertyValue", "rootSquash applies to NFS "
                           "shares only.", target="properties.rootSquash")
        path = self.share_path(account, name)
        if os.path.islink(path):
            os.unlink(path)
        os.makedirs(path, exist_ok=True)
        self.shares[(account, name)] = share
        self.save()
        return 201, share

    def share_get(self, req):
        self._fault("FileShares_Get")
        account, _ = self._account(req)
        name = self._share_name(req)
        share = self.shares.get((account, name))
        if share is None:
            raise self._no_share(account, name)
        return 200, self._view(share)

    def _view(self, share):
        view = json.loads(json.dumps(share))
        path = self.share_path(share["id"].split("/storageAccounts/")[1].split("/")[0],
                               share["name"])
        view["properties"]["shareUsageBytes"] = _usage(path)
        return view

    def share_list(self, req):
        self._fault("FileShares_List")
        account, _ = self._account(req)
        items = [self._view(s) for (a, _), s in sorted(self.shares.items()) if a == account]
        return 200, self.sim.page(req, items, 20)

    def share_delete(self, req):
        self._fault("FileShares_Delete")
        account, _ = self._account(req)
        name = self._share_name(req)
        if (account, name) not in self.shares:
            raise self._no_share(account, name)
        del self.shares[(account, name)]
        path = self.share_path(account, name)
        if os.path.islink(path):
            os.unlink(path)  # the shared share's files are the host's
        else:
            shutil.rmtree(path, ignore_errors=True)
        self.save()
        return 200, None


def _usage(path):
    total = 0
    for top, _, files in os.walk(path):
        for f in files:
            try:
                total += os.lstat(os.path.join(top, f)).st_size
            except OSError:
                pass
    return total


def _shared(sim, store):
    """The share and environment storage of AZURESIM_SHARED_DIR."""
    target = os.environ.get("AZURESIM_SHARED_DIR")
    if not target:
        return
    target = os.path.realpath(target)
    os.makedirs(target, exist_ok=True)
    path = store.share_path(ACCOUNT_NAME, SHARED_NAME)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path)
    if os.path.islink(path):
        os.unlink(path)
    os.symlink(target, path)
    account = store.accounts[ACCOUNT_NAME]
    store.shares[(ACCOUNT_NAME, SHARED_NAME)] = {
        "id": account["account"]["id"] + "/fileServices/default/shares/" + SHARED_NAME,
        "name": SHARED_NAME, "type": TYPE_SHARE, "etag": '"0x%X"' % time.time_ns(),
        "properties": {"metadata": {"purpose": "sockerless shared paths"}, "shareQuota": 1024,
                       "enabledProtocols": "SMB", "accessTier": "TransactionOptimized",
                       "lastModifiedTime": now_iso(), "leaseStatus": "unlocked",
                       "leaseState": "available"}}
    store.save()
    app = getattr(sim, "app", None)
    if app is None:
        log.warning("AZURESIM_SHARED_DIR: Microsoft.App is not served; no environment storage")
        return
    import azuresim_app
    env = app.envs.get(azuresim_app.ENV_NAME)
    if env is None:
        return
    app.storages[(env["name"], SHARED_NAME)] = {
        "id": env["id"] + "/storages/" + SHARED_NAME, "name": SHARED_NAME,
        "type": azuresim_app.TYPE_STORAGE,
        "properties": {"azureFile": {"accountName": ACCOUNT_NAME,
                                     "accountKey": account["keys"][0],
                                     "shareName": SHARED_NAME, "accessMode": "ReadWrite"}}}
    app.save()
    log.info("share %s and environment storage %s are %s", SHARED_NAME, SHARED_NAME, target)


def register(sim):
    store = Storage(sim)
    sim.storage = store
    if not store.restore() or ACCOUNT_NAME not in store.accounts:
        store.make_account(ACCOUNT_NAME)
        store.save()
    key_out = os.environ.get("AZURESIM_STORAGE_KEY_OUT")
    if key_out:
        fd = os.open(key_out + ".tmp", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(store.accounts[ACCOUNT_NAME]["keys"][0] + "\n")
        os.replace(key_out + ".tmp", key_out)
    routes = [
        ("GET", ACCOUNT, store.account_get),
        ("POST", ACCOUNT + r"/listKeys", store.list_keys),
        ("GET", SHARES, store.share_list),
        ("GET", SHARE, store.share_get),
        ("PUT", SHARE, store.share_put),
        ("DELETE", SHARE, store.share_delete),
    ]
    for method, regex, handler in routes:
        sim.route(method, regex, handler)
    _shared(sim, store)
    log.info("Microsoft.Storage (account %s, file shares) served", ACCOUNT_NAME)
    return store

