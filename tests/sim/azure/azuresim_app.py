"""Microsoft.App on the Azure simulator: managed environments (the
pre-made `sockerless-env`, get, list, create), their storages (azureFile
and nfsAzureFile shares, each a directory under the state directory),
Container Apps jobs (create, get, update, delete, list, listSecrets),
their executions (start, get, list, stop) run as real containers on the
engine (azuresim_app_run.py), getAuthToken and the log stream the az CLI's
containerapp extension reads (`az containerapp job logs show --follow`,
azuresim_app_stream.py).

Requests are validated against the vendored 2025-07-01 specs by the base
(route()'s op_id); this module adds the service's own rules: job names,
Manual trigger only (one replica per execution), replicaTimeout 1..604800,
replicaRetryLimit 0..10, the Consumption CPU/memory pairs (0.25 vCPU steps
to 4 vCPU with twice the GiB, summed over the main containers; defaults 0.5
and 1Gi), images required, env var names, secretRef naming a secret, volume
mounts naming a template volume, AzureFile/NfsAzureFile volumes naming a
storage of that type on the job's environment, a workloadProfileName of
the environment, private registries with an identity the job has or a
username and a password secret. An execution whose image is on an Azure
Container Registry (or the simulator's ACR host) without a registries
entry for that server fails to pull, as on Azure; an entry with a username
and a password secret is the replica's pull credentials for its server. register(sim) plugs the routes into the base.

What a backend sees:
- Job PUT: 201 (200 when it existed) with provisioningState InProgress and
  Azure-AsyncOperation; Succeeded OP_DELAY_SECONDS later. A Start before
  then is 409: clients must wait for the operation.
- PATCH and DELETE: 202 with Location (+ Retry-After); DELETE of a missing
  job 204; DELETE stops the job's running executions (the operation ends
  when they have) and removes them.
- Start: 202, body {"name", "id"}, Location whose final answer is the same;
  the execution exists at once (Running), then Succeeded (every container
  exited 0), Failed (a non-zero exit, an init container failing, the
  replica timeout, an image that cannot be pulled, after replicaRetryLimit
  replacement replicas) or Stopped. The 2025-07-01 execution carries no
  per-container exit code; none is served.
- Executions list: newest first, paged; $filter only `properties/status eq
  '<status>'`. Replicas of an execution: GET .../executions/{e}/replicas
  (2023-11-02-preview, the az CLI's; not in the vendored spec).
- Console logs: each line goes into the store by sim.la_ingest:
  ContainerAppConsoleLogs_CL (the log-analytics destination: TimeGenerated,
  _timestamp_d, ContainerJobName_s = the job, ContainerGroupName_s = the
  replica (`<execution>-<5 chars>`), ContainerName_s, ContainerId_s,
  ContainerImage_s, Stream_s stdout|stderr, Log_s, EnvironmentName_s,
  RevisionName_s "", ContainerAppName_s "", _ResourceId = the job's id in
  lower case) and
  ContainerAppConsoleLogs (environments whose destination is azure-monitor:
  the columns of Microsoft's table reference, JobName = the execution (the
  Kubernetes job Container Apps runs), ContainerAppName = the job,
  ContainerGroupName = the replica, Stream, Log, ...).
- Knobs (environment variables of the simulator process):
  AZURESIM_LA_DELAY_MS (ingestion delay, default 0), AZURESIM_LA_BOTH_TABLES=1
  (write both tables for every environment), AZURESIM_STOP_GRACE_SECONDS
  (SIGTERM to SIGKILL on stop, default 30 as Container Apps), AZURESIM_PAGE_SIZE
  (list page size, default 20).
- State (environments, storages with their keys, jobs, finished executions)
  is kept in <state-dir>/azapp.json; an execution running when the
  simulator stopped is Failed after a restart."""

import json
import logging
import os
import random
import re
import string
import threading
import time
import uuid

from azuresim_core import ArmError
import azuresim_app_run as app_run
import azuresim_app_stream as app_stream

log = logging.getLogger("azuresim")

OP_DELAY_SECONDS = 0.2      # how long a create/update/delete stays InProgress
PAGE_SIZE = int(os.environ.get("AZURESIM_PAGE_SIZE", "20"))
ENV_NAME = "sockerless-env"
TYPE_JOB = "Microsoft.App/jobs"
TYPE_ENV = "Microsoft.App/managedEnvironments"
TYPE_STORAGE = "Microsoft.App/managedEnvironments/storages"
TYPE_EXEC = "Microsoft.App/jobs/executions"
# Job names: lower case alphanumerics or '-', start with a letter, end
# with an alphanumeric, no '--', fewer than 32 characters (the az CLI's
# help for --name, learn.microsoft.com/cli/azure/containerapp/job).
JOB_NAME = re.compile(r"^[a-z](?!.*--)[a-z0-9-]{0,30}(?<!-)$")
ENV_VAR = re.compile(r"^[-._a-zA-Z][-._a-zA-Z0-9]*$")
MOUNT_OPTION = re.compile(r"^[a-z_]+(=[A-Za-z0-9_./-]+)?$")
CONTAINER_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
MAX_REPLICA_TIMEOUT = 7 * 24 * 3600
MAX_RETRY_LIMIT = 10

P = r"/subscriptions/(?P<subscriptionId>[^/]+)/resourceGroups/(?P<resourceGroupName>[^/]+)"
APP = P + r"/providers/Microsoft\.App"
ENVS = APP + r"/managedEnvironments"
ENV = ENVS + r"/(?P<environmentName>[^/]+)"
STORAGES = ENV + r"/storages"
STORAGE = STORAGES + r"/(?P<storageName>[^/]+)"
JOBS = APP + r"/jobs"
SUB_APP = r"/subscriptions/(?P<subscriptionId>[^/]+)/providers/Microsoft\.App"
SUB_ENVS = SUB_APP + r"/managedEnvironments"
SUB_JOBS = SUB_APP + r"/jobs"
JOB = JOBS + r"/(?P<jobName>[^/]+)"
EXECS = JOB + r"/executions"
EXEC = EXECS + r"/(?P<jobExecutionName>[^/]+)"


def now_iso(ts=None):
    ts = time.time() if ts is None else ts
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ts)) + ".%07dZ" % (
        int((ts % 1) * 10**7))


def _suffix(n):
    return "".join(random.choice(string.ascii_lowercase + string.digits) for _ in range(n))


def _copy(obj):
    return json.loads(json.dumps(obj))


# The Consumption profile's CPU/memory combinations: 0.25 vCPU steps up to
# 4 vCPU, memory twice the CPU in GiB (learn.microsoft.com/azure/
# container-apps/containers#allocations). The total over a replica's
# containers must be one of them.
PAIRS = [(q / 4, q / 2) for q in range(1, 17)]
MEMORY = re.compile(r"^(\d+(?:\.\d+)?)\s*(Gi|G|Mi|M)?$")


def memory_gib(text):
    match = MEMORY.match(text or "")
    if not match:
        return None
    value, unit = float(match.group(1)), match.group(2) or "Gi"
    return {"Gi": value, "G": value * 1e9 / 2**30, "Mi": value / 1024,
            "M": value * 1e6 / 2**30}[unit]


def _pairs_text():
    return "; ".join("[cpu: %g, memory: %gGi]" % p for p in PAIRS)


def check_resources(containers, where):
    """400 unless the containers' CPU and memory add up to a Consumption
    pair; fills the defaults (0.5 CPU, 1Gi) the service writes back."""
    cpu = mem = 0.0
    for i, c in enumerate(containers):
        res = c.setdefault("resources", {})
        res.setdefault("cpu", 0.5)
        res.setdefault("memory", "1Gi")
        res.setdefault("ephemeralStorage", "2Gi")
        gib = memory_gib(res["memory"])
        if gib is None or res["cpu"] <= 0:
            raise ArmError(400, "ContainerAppInvalidResourceRequest",
                           "%s[%d].resources: the memory '%s' is not a quantity such as 0.5Gi or "
                           "1Gi, or the cpu is not positive." % (where, i, res["memory"]),
                           target="%s[%d].resources" % (where, i))
        cpu += res["cpu"]
        mem += gib
    if not any(abs(cpu - pc) < 1e-6 and abs(mem - pm) < 0.01 for pc, pm in PAIRS):
        raise ArmError(400, "ContainerAppInvalidResourceTotal",
                       "The total requested CPU and memory resources for this application (CPU: "
                       "%g, memory: %gGi) is invalid. Total CPU and memory for all containers "
                       "defined in a Container App must add up to one of the following CPU - "
                       "Memory combinations: %s" % (cpu, mem, _pairs_text()))


class App:
    """Environments, storages, jobs and executions of one simulator."""

    def __init__(self, sim):
        self.sim = sim
        self.envs = {}          # name -> environment (wire shape)
        self.storages = {}      # (env, name) -> storage (wire shape, with accountKey)
        self.jobs = {}          # name -> job (wire shape, secrets with values)
        self.executions = {}    # (job, execution) -> app_run.Execution
        self.tokens = {}        # log stream token -> (resource id, expiry epoch)
        self.closed = False
        self.state_file = os.path.join(sim.state_dir, "azapp.json")
        self.shares_dir = os.path.join(sim.state_dir, "azurefiles")
        self.run_dir = os.path.join(sim.state_dir, "azapp-run")
        self.ingest_delay = float(os.environ.get("AZURESIM_LA_DELAY_MS", "0")) / 1000
        self.both_tables = os.environ.get("AZURESIM_LA_BOTH_TABLES") == "1"

    # Ids and lookups.

    def _subscription(self, m):
        sub = m.group("subscriptionId")
        if sub.lower() != self.sim.subscription.lower():
            raise ArmError(404, "SubscriptionNotFound", "The subscription '%s' could not be "
                           "found." % sub)

    def _scope(self, m):
        self._subscription(m)
        sub, rg = m.group("subscriptionId"), m.group("resourceGroupName")
        if rg.lower() != self.sim.resource_group.lower():
            raise ArmError(404, "ResourceGroupNotFound", "Resource group '%s' could not be "
                           "found." % rg)
        return "/subscriptions/%s/resourceGroups/%s" % (sub, self.sim.resource_group)

    def env_id(self, name):
        return "/subscriptions/%s/resourceGroups/%s/providers/%s/%s" % (
            self.sim.subscription, self.sim.resource_group, TYPE_ENV, name)

    def job_id(self, name):
        return "/subscriptions/%s/resourceGroups/%s/providers/%s/%s" % (
            self.sim.subscription, self.sim.resource_group, TYPE_JOB, name)

    def _not_found(self, kind, name):
        return ArmError(404, "ResourceNotFound", "The Resource '%s/%s' under resource group "
                        "'%s' was not found. For more details please go to "
                        "https://aka.ms/ARMResourceNotFoundFix"
                        % (kind, name, self.sim.resource_group))

    def _env(self, m):
        self._scope(m)
        env = self.envs.get(m.group("environmentName"))
        if env is None:
            raise self._not_found(TYPE_ENV, m.group("environmentName"))
        return env

    def _job(self, m):
        self._scope(m)
        job = self.jobs.get(m.group("jobName"))
        if job is None:
            raise self._not_found(TYPE_JOB, m.group("jobName"))
        return job

    def _execution(self, m):
        job = self._job(m)
        ex = self.executions.get((job["name"], m.group("jobExecutionName")))
        if ex is None:
            raise self._not_found(TYPE_EXEC, "%s/executions/%s"
                                  % (job["name"], m.group("jobExecutionName")))
        return ex

    def env_by_id(self, env_id):
        name = (env_id or "").rstrip("/").rsplit("/", 1)[-1]
        env = self.envs.get(name)
        if env is None or env["id"].lower() != (env_id or "").rstrip("/").lower():
            return None
        return env

    def _later(self, fn):
        def run():
            with self.sim.lock:
                fn()
                self.save()
        timer = threading.Timer(OP_DELAY_SECONDS, run)
        timer.daemon = True
        timer.start()

    def stream_base(self):
        return self.sim.url

    # Managed environments.

    def make_env(self, name, location=None, props=None, tags=None):
        props = _copy(props or {})
        props.pop("provisioningState", None)
        logs = props.setdefault("appLogsConfiguration", {
            "destination": "log-analytics",
            "logAnalyticsConfiguration": {"customerId": self.sim.workspace_id}})
        la = logs.get("logAnalyticsConfiguration")
        if la:
            la.pop("sharedKey", None)       # x-ms-secret: never echoed
        domain = "%s-%s.%s.azurecontainerapps.io" % (name, _suffix(8), self.sim.location)
        props.update({
            "provisioningState": "Succeeded", "defaultDomain": domain,
            "staticIp": "10.0.0.%d" % random.randint(4, 250),
            "eventStreamEndpoint": "%s/subscriptions/%s/resourceGroups/%s/managedEnvironments/"
                                   "%s/eventstream" % (self.stream_base(), self.sim.subscription,
                                                       self.sim.resource_group, name),
        })
        props.setdefault("zoneRedundant", False)
        props.setdefault("workloadProfiles", [{"name": "Consumption",
                                               "workloadProfileType": "Consumption"}])
        return {"id": self.env_id(name), "name": name, "type": TYPE_ENV,
                "location": location or self.sim.location, "tags": tags or {},
                "properties": props}

    def env_get(self, req):
        return 200, self._env(req.match)

    def env_list(self, req):
        self._scope(req.match)
        return self._page(req, [self.envs[n] for n in sorted(self.envs)])

    def env_list_sub(self, req):
        self._subscription(req.match)
        return self._page(req, [self.envs[n] for n in sorted(self.envs)])

    def env_put(self, req):
        self._scope(req.match)
        name = req.match.group("environmentName")
        body = req.body or {}
        existed = name in self.envs
        env = self.make_env(name, body.get("location"), body.get("properties"), body.get("tags"))
        if existed:
            old = self.envs[name]["properties"]
            for k in ("defaultDomain", "staticIp", "eventStreamEndpoint"):
                env["properties"][k] = old[k]
        env["properties"]["provisioningState"] = "InProgress"
        self.envs[name] = env
        op = self.sim.op_new(kind="async")

        def done():
            env["properties"]["provisioningState"] = "Succeeded"
            self.sim.op_done(op["id"], result=env)
        self._later(done)
        self.save()
        return (200 if existed else 201), env, {"Azure-AsyncOperation": op["url"]}

    def env_auth_token(self, req):
        env = self._env(req.match)
        return 200, self._auth_token(env["id"], env["location"], TYPE_ENV)

    def job_auth_token(self, req):
        job = self._job(req.match)
        return 200, self._auth_token(job["id"], job["location"], TYPE_JOB)

    def _auth_token(self, resource_id, location, kind):
        """A bearer token the log stream accepts for an hour (the service's
        tokens are opaque to clients; this one is JWT-shaped)."""
        expiry = time.time() + 3600
        token = "%s.%s.%s" % (_suffix(16), uuid.uuid4().hex, _suffix(24))
        self.tokens[token] = (resource_id.lower(), expiry)
        return {"id": resource_id + "/authtoken", "name": "authtoken",
                "type": kind + "/authtoken", "location": location,
                "properties": {"token": token, "expires": now_iso(expiry)}}

    def check_stream_token(self, token, resource_id):
        """Whether a log stream token is valid for a job (tokens of the job
        itself or of its environment)."""
        entry = self.tokens.get(token or "")
        if entry is None or entry[1] < time.time():
            return False
        job = self.jobs.get(resource_id.rsplit("/", 1)[-1])
        allowed = {resource_id.lower()}
        if job is not None:
            allowed.add(job["properties"]["environmentId"].lower())
        return entry[0] in allowed

    # Storages.

    def storage_view(self, storage):
        view = _copy(storage)
        for kind in ("azureFile",):
            view["properties"].get(kind, {}).pop("accountKey", None)
        return view

    def share_dir(self, storage):
        """The directory an execution mounts for storage: an azureFile
        share of azuresim_storage (ValueError with Azure's mount error when
        the account, its key or the share is wrong), an NFS share under the
        state directory."""
        props = storage["properties"]
        if "azureFile" in props:
            f = props["azureFile"]
            store = getattr(self.sim, "storage", None)
            if store is None:
                raise ValueError("mount error(2): No such file or directory: Microsoft.Storage "
                                 "is not served by this simulator")
            return store.mount_source(f["accountName"], f["accountKey"], f["shareName"])
        f = props["nfsAzureFile"]
        parts = ["nfs", f["server"].replace("/", "_"), f["shareName"].strip("/")]
        path = os.path.join(self.shares_dir, *[p.replace("..", "_") for p in parts])
        os.makedirs(path, exist_ok=True)
        return path

    def storage_put(self, req):
        env = self._env(req.match)
        name = req.match.group("storageName")
        props = _copy((req.body or {}).get("properties") or {})
        kinds = [k for k in ("azureFile", "nfsAzureFile") if k in props]
        if len(kinds) != 1:
            raise ArmError(400, "ManagedEnvironmentStorageInvalid", "properties: exactly one of "
                           "azureFile or nfsAzureFile must be given for storage '%s'." % name)
        f = props[kinds[0]]
        needed = ("accountName", "accountKey", "shareName", "accessMode") \
            if kinds[0] == "azureFile" else ("server", "shareName", "accessMode")
        missing = [k for k in needed if not f.get(k)]
        if missing:
            raise ArmError(400, "ManagedEnvironmentStorageInvalid", "properties.%s.%s is "
                           "required for storage '%s'." % (kinds[0], missing[0], name),
                           target="properties.%s.%s" % (kinds[0], missing[0]))
        key = (env["name"], name)
        existed = key in self.storages
        storage = {"id": env["id"] + "/storages/" + name, "name": name, "type": TYPE_STORAGE,
                   "properties": props}
        self.storages[key] = storage
        self.save()
        return 200 if existed else 201, self.storage_view(storage)

    def _storage(self, m):
        env = self._env(m)
        storage = self.storages.get((env["name"], m.group("storageName")))
        if storage is None:
            raise self._not_found(TYPE_STORAGE, "%s/storages/%s"
                                  % (env["name"], m.group("storageName")))
        return env, storage

    def storage_get(self, req):
        return 200, self.storage_view(self._storage(req.match)[1])

    def storage_list(self, req):
        env = self._env(req.match)
        items = [self.storage_view(s) for (e, _), s in sorted(self.storages.items())
                 if e == env["name"]]
        return 200, {"value": items}

    def storage_delete(self, req):
        env = self._env(req.match)
        key = (env["name"], req.match.group("storageName"))
        if key not in self.storages:
            return 204, None
        users = [j["name"] for j in self.jobs.values()
                 if j["properties"]["environmentId"].lower() == env["id"].lower()
                 and any(v.get("storageName") == key[1]
                         for v in j["properties"]["template"].get("volumes") or [])]
        if users:
            raise ArmError(409, "ManagedEnvironmentStorageInUse", "Storage '%s' is used by "
                           "the job(s) %s; remove the volumes first." % (key[1], ", ".join(users)))
        del self.storages[key]
        self.save()
        return 200, None

    def _page(self, req, items):
        """The first page; the base serves the nextLink's further pages."""
        return 200, self.sim.page(req, items, PAGE_SIZE)

    # Jobs.

    def job_view(self, job):
        view = _copy(job)
        for s in view["properties"]["configuration"].get("secrets") or []:
            s.pop("value", None)
        return view

    def check_job(self, name, body, old=None):
        """The service's rules beyond the schema; returns the stored job."""
        if not JOB_NAME.match(name):
            raise ArmError(400, "ContainerAppJobInvalidName", "Invalid ContainerApp Job name "
                           "'%s'. A name must consist of lower case alphanumeric characters or "
                           "'-', start with a letter, end with an alphanumeric character, cannot "
                           "have '--', and must be less than 32 characters." % name)
        props = _copy(body.get("properties") or {})
        for k in ("provisioningState", "outboundIpAddresses", "eventStreamEndpoint",
                  "runningState"):
            props.pop(k, None)
        env_id = props.get("environmentId") or (old and old["properties"]["environmentId"])
        env = self.env_by_id(env_id)
        if env is None:
            raise ArmError(400, "ManagedEnvironmentNotFound",
                           "The environment '%s' was not found; properties.environmentId must "
                           "name a managed environment of this resource group." % (env_id or ""),
                           target="properties.environmentId")
        if old and old["properties"]["environmentId"].lower() != env["id"].lower():
            raise ArmError(400, "JobEnvironmentIdCannotBeChanged", "properties.environmentId "
                           "cannot be changed once a job exists.")
        props["environmentId"] = env["id"]
        profile = props.get("workloadProfileName")
        profiles = [p["name"] for p in env["properties"].get("workloadProfiles") or []]
        if profile is not None and profile not in profiles:
            raise ArmError(400, "WorkloadProfileNotFound", "properties.workloadProfileName "
                           "'%s' is not a workload profile of the environment '%s' (it has %s)."
                           % (profile, env["name"], ", ".join(profiles) or "none"),
                           target="properties.workloadProfileName")
        config = props.get("configuration")
        if not isinstance(config, dict):
            raise ArmError(400, "InvalidRequestContent", "properties.configuration is required.",
                           target="properties.configuration")
        self._check_config(config)
        template = props.get("template")
        if not isinstance(template, dict) or not template.get("containers"):
            raise ArmError(400, "ContainerAppJobInvalidTemplate", "properties.template."
                           "containers must hold at least one container.",
                           target="properties.template.containers")
        secrets = {s.get("name"): s for s in config.get("secrets") or []}
        self.check_template(template, env, secrets)
        self.check_registries(config, secrets, body.get("identity") or
                              (old or {}).get("identity") or {})
        return props

    def check_registries(self, config, secrets, identity):
        """Each private registry names a secret of the job (username and
        passwordSecretRef) or an identity the job has ('system' for its
        system-assigned one, else a user-assigned identity's resource id)."""
        for i, r in enumerate(config.get("registries") or []):
            where = "properties.configuration.registries[%d]" % i
            if not r.get("server"):
                raise ArmError(400, "ContainerAppRegistryInvalid", "%s.server is required."
                               % where, target=where + ".server")
            if r.get("identity"):
                if r["identity"].lower() == "system":
                    if "SystemAssigned" not in identity.get("type", ""):
                        raise ArmError(400, "ContainerAppRegistryIdentityNotFound", "%s: "
                                       "identity 'system' needs the job's system-assigned "
                                       "identity (identity.type SystemAssigned)." % where)
                elif r["identity"].lower() not in [k.lower() for k in
                                                   identity.get("userAssignedIdentities")
                                                   or {}]:
                    raise ArmError(400, "ContainerAppRegistryIdentityNotFound", "%s: identity "
                                   "'%s' is not assigned to the job (identity."
                                   "userAssignedIdentities)." % (where, r["identity"]))
            elif not r.get("username") or r.get("passwordSecretRef") not in secrets:
                raise ArmError(400, "ContainerAppRegistryInvalid", "%s: give an identity, or a "
                               "username and a passwordSecretRef naming one of properties."
                               "configuration.secrets." % where)

    def _check_config(self, config):
        timeout = config.get("replicaTimeout")
        if not isinstance(timeout, int) or not 1 <= timeout <= MAX_REPLICA_TIMEOUT:
            raise ArmError(400, "ContainerAppJobInvalidReplicaTimeout", "properties."
                           "configuration.replicaTimeout must be between 1 and %d seconds."
                           % MAX_REPLICA_TIMEOUT, target="properties.configuration.replicaTimeout")
        config.setdefault("replicaRetryLimit", 0)
        if not 0 <= config["replicaRetryLimit"] <= MAX_RETRY_LIMIT:
            raise ArmError(400, "ContainerAppJobInvalidRetryLimit", "properties.configuration."
                           "replicaRetryLimit must be between 0 and %d." % MAX_RETRY_LIMIT)
        trigger = config.get("triggerType")
        if trigger != "Manual":
            raise ArmError(400, "ContainerAppJobTriggerNotSupported", "properties.configuration."
                           "triggerType '%s' is not served by the simulator: only Manual jobs "
                           "run here." % trigger, target="properties.configuration.triggerType")
        for other in ("scheduleTriggerConfig", "eventTriggerConfig"):
            if other in config:
                raise ArmError(400, "ContainerAppJobInvalidTriggerConfig", "properties."
                               "configuration.%s cannot be given with triggerType Manual." % other)
        manual = config.setdefault("manualTriggerConfig", {})
        manual.setdefault("replicaCompletionCount", 1)
        manual.setdefault("parallelism", 1)
        if manual["replicaCompletionCount"] != 1 or manual["parallelism"] != 1:
            raise ArmError(400, "ContainerAppJobTriggerNotSupported", "properties.configuration."
                           "manualTriggerConfig: the simulator runs one replica per execution "
                           "(replicaCompletionCount 1, parallelism 1).")
        for i, s in enumerate(config.get("secrets") or []):
            if not s.get("name") or ("value" not in s and not s.get("keyVaultUrl")):
                raise ArmError(400, "ContainerAppSecretInvalid", "properties.configuration."
                               "secrets[%d]: a secret needs a name and a value." % i)
            if s.get("keyVaultUrl"):
                raise ArmError(400, "ContainerAppSecretInvalid", "properties.configuration."
                               "secrets[%d]: Key Vault references are not served by the "
                               "simulator." % i)

    def check_template(self, template, env, secrets):
        volumes = {}
        for i, v in enumerate(template.get("volumes") or []):
            where = "properties.template.volumes[%d]" % i
            if not v.get("name") or v["name"] in volumes:
                raise ArmError(400, "ContainerAppInvalidVolume", "%s.name is required and must "
                               "be unique." % where, target=where + ".name")
            kind = v.setdefault("storageType", "EmptyDir")
            if kind in ("AzureFile", "NfsAzureFile"):
                storage = self.storages.get((env["name"], v.get("storageName") or ""))
                want = "azureFile" if kind == "AzureFile" else "nfsAzureFile"
                if storage is None or want not in storage["properties"]:
                    raise ArmError(400, "ContainerAppInvalidVolume", "%s: storage '%s' of type "
                                   "%s does not exist in the environment '%s'; create it under "
                                   "managedEnvironments/%s/storages first."
                                   % (where, v.get("storageName") or "", kind, env["name"],
                                      env["name"]), target=where + ".storageName")
            if v.get("mountOptions") is not None:
                if kind not in ("AzureFile", "NfsAzureFile"):
                    raise ArmError(400, "ContainerAppInvalidVolume", "%s.mountOptions applies to "
                                   "AzureFile and NfsAzureFile volumes only." % where,
                                   target=where + ".mountOptions")
                bad = [o for o in v["mountOptions"].split(",") if not MOUNT_OPTION.match(o)]
                if bad:
                    raise ArmError(400, "ContainerAppInvalidVolume", "%s.mountOptions must be a "
                                   "comma-separated list of mount options; '%s' is not one."
                                   % (where, bad[0]), target=where + ".mountOptions")
            if kind == "Secret":
                for s in v.get("secrets") or []:
                    if s.get("secretRef") not in secrets:
                        raise ArmError(400, "ContainerAppSecretRefNotFound", "%s: secret '%s' is "
                                       "not defined in properties.configuration.secrets."
                                       % (where, s.get("secretRef")))
            volumes[v["name"]] = v
        self.check_containers(template.get("containers") or [], "properties.template.containers",
                              volumes, secrets)
        self.check_containers(template.get("initContainers") or [],
                              "properties.template.initContainers", volumes, secrets,
                              main=False)
        names = [c["name"] for c in (template.get("initContainers") or []) +
                 template["containers"]]
        if len(set(names)) != len(names):
            raise ArmError(400, "ContainerAppDuplicateContainerName", "Container names must be "
                           "unique across containers and initContainers.")

    def check_containers(self, containers, where, volumes, secrets, main=True):
        for i, c in enumerate(containers):
            at = "%s[%d]" % (where, i)
            if not CONTAINER_NAME.match(c.get("name") or ""):
                raise ArmError(400, "ContainerAppInvalidContainerName", "%s.name '%s' is invalid:"
                               " a lowercase RFC 1123 label is required (a-z, 0-9, '-', at most "
                               "63 characters)." % (at, c.get("name") or ""), target=at + ".name")
            if not c.get("image"):
                raise ArmError(400, "ContainerAppImageRequired", "%s.image is required: the "
                               "container '%s' names no image." % (at, c["name"]),
                               target=at + ".image")
            for j, e in enumerate(c.get("env") or []):
                if not ENV_VAR.match(e.get("name") or ""):
                    raise ArmError(400, "ContainerAppInvalidEnvVarName", "%s.env[%d].name '%s' "
                                   "is invalid: use letters, digits, '_', '-' and '.', not "
                                   "starting with a digit." % (at, j, e.get("name") or ""))
                if "secretRef" in e and e["secretRef"] not in secrets:
                    raise ArmError(400, "ContainerAppSecretRefNotFound", "%s.env[%d]: secret "
                                   "'%s' is not defined in properties.configuration.secrets."
                                   % (at, j, e["secretRef"]))
            for j, m in enumerate(c.get("volumeMounts") or []):
                if m.get("volumeName") not in volumes:
                    raise ArmError(400, "ContainerAppVolumeMountInvalid", "%s.volumeMounts[%d]: "
                                   "volume '%s' is not defined in properties.template.volumes."
                                   % (at, j, m.get("volumeName")))
                sub = m.get("subPath") or ""
                if sub.startswith("/") or ".." in sub.split("/"):
                    raise ArmError(400, "ContainerAppVolumeMountInvalid", "%s.volumeMounts[%d]."
                                   "subPath must be a relative path without '..' (as "
                                   "Kubernetes's)." % (at, j),
                                   target="%s.volumeMounts[%d].subPath" % (at, j))
                if not (m.get("mountPath") or "").startswith("/") or ":" in m["mountPath"]:
                    raise ArmError(400, "ContainerAppVolumeMountInvalid", "%s.volumeMounts[%d]."
                                   "mountPath must be an absolute path without ':'." % (at, j))
        if main:
            check_resources(containers, where)
        else:
            for c in containers:
                c.setdefault("resources", {"cpu": 0.5, "memory": "1Gi"})

    def job_put(self, req):
        self._scope(req.match)
        name = req.match.group("jobName")
        body = req.body or {}
        old = self.jobs.get(name)
        props = self.check_job(name, body, old)
        job = {"id": self.job_id(name), "name": name, "type": TYPE_JOB,
               "location": body.get("location") or self.sim.location,
               "tags": body.get("tags") or {}, "properties": props}
        if body.get("identity"):
            job["identity"] = self._identity(body["identity"])
        self._finish_job(job, "InProgress")
        self.jobs[name] = job
        op = self.sim.op_new(kind="async")

        def done():
            if self.jobs.get(name) is job:
                job["properties"]["provisioningState"] = "Succeeded"
            self.sim.op_done(op["id"], result=self.job_view(job))
        self._later(done)
        self.save()
        return (200 if old else 201), self.job_view(job), {"Azure-AsyncOperation": op["url"]}

    def _identity(self, identity):
        return make_identity(self.sim, identity)

    def _finish_job(self, job, state):
        props = job["properties"]
        props["provisioningState"] = state
        props["outboundIpAddresses"] = ["20.61.0.%d" % (len(job["name"]) % 250 + 1)]
        props["eventStreamEndpoint"] = "%s/subscriptions/%s/resourceGroups/%s/containerApps/" \
            "%s/eventstream" % (self.stream_base(), self.sim.subscription,
                                self.sim.resource_group, job["name"])

    def job_get(self, req):
        return 200, self.job_view(self._job(req.match))

    def job_list(self, req):
        self._scope(req.match)
        return self._page(req, [self.job_view(self.jobs[n]) for n in sorted(self.jobs)])

    def job_list_sub(self, req):
        self._subscription(req.match)
        return self._page(req, [self.job_view(self.jobs[n]) for n in sorted(self.jobs)])

    def job_patch(self, req):
        job = self._job(req.match)
        body = req.body or {}
        merged = {"properties": _copy(job["properties"])}
        patch = body.get("properties") or {}
        for key in ("configuration", "template"):
            if key in patch:
                merged["properties"][key] = _merge(merged["properties"][key], patch[key])
        if "environmentId" in patch:
            merged["properties"]["environmentId"] = patch["environmentId"]
        props = self.check_job(job["name"], merged, job)
        new = dict(job, properties=props)
        if "tags" in body:
            new["tags"] = body["tags"] or {}
        if "identity" in body:
            new["identity"] = self._identity(body["identity"])
        self._finish_job(new, "Succeeded")
        self.jobs[job["name"]] = new
        op = self.sim.op_new(kind="location")
        self._later(lambda: self.sim.op_done(op["id"], result=self.job_view(new)))
        self.save()
        return 202, None, {"Location": op["url"], "Retry-After": "1"}

    def job_delete(self, req):
        self._scope(req.match)
        job = self.jobs.get(req.match.group("jobName"))
        if job is None:
            return 204, None
        running = [e for (j, _), e in self.executions.items() if j == job["name"]]
        del self.jobs[job["name"]]
        for ex in running:
            del self.executions[(job["name"], ex.name)]
            ex.stop()
        op = self.sim.op_new(kind="location")

        def finish():
            for ex in running:
                ex.wait_done(60)
            with self.sim.lock:
                self.sim.op_done(op["id"])
                self.save()
        threading.Thread(target=finish, daemon=True, name="delete-" + job["name"]).start()
        self.save()
        return 202, None, {"Location": op["url"], "Retry-After": "1"}

    def job_secrets(self, req):
        job = self._job(req.match)
        secrets = job["properties"]["configuration"].get("secrets") or []
        return 200, {"value": [dict(s) for s in secrets]}

    # Executions.

    def start(self, req):
        job = self._job(req.match)
        if self.sim.engine is None:
            raise ArmError(400, "ContainerAppJobCannotRun", "The simulator was started without "
                           "--engine, so jobs cannot run; start it with --engine.")
        if job["properties"]["provisioningState"] != "Succeeded":
            raise ArmError(409, "ContainerAppJobOperationInProgress", "The job '%s' is still "
                           "being provisioned (provisioningState %s); wait for the create "
                           "operation to finish." % (job["name"],
                                                     job["properties"]["provisioningState"]))
        template = app_run.effective_template(job, req.body or {})
        env = self.env_by_id(job["properties"]["environmentId"])
        secrets = {s["name"]: s for s in job["properties"]["configuration"].get("secrets") or []}
        check = _copy(template)
        self.check_containers(check["containers"], "template.containers",
                              {v["name"]: v for v in check.get("volumes") or []}, secrets)
        name = "%s-%s" % (job["name"], _suffix(7))
        ex = app_run.Execution(self, job, env, name, check)
        self.executions[(job["name"], name)] = ex
        result = {"name": name, "id": ex.id}
        op = self.sim.op_new(kind="location")
        self.sim.op_done(op["id"], result=result)
        ex.start()
        self.save()
        return 202, result, {"Location": op["url"], "Retry-After": "1"}

    def execution_get(self, req):
        return 200, self._execution(req.match).view()

    def execution_list(self, req):
        job = self._job(req.match)
        mine = [e for (j, _), e in self.executions.items() if j == job["name"]]
        mine.sort(key=lambda e: e.created, reverse=True)
        status = _status_filter((req.query.get("$filter") or [""])[0])
        views = [e.view() for e in mine]
        if status is not None:
            views = [v for v in views if v["properties"]["status"].lower() == status.lower()]
        return self._page(req, views)

    def stop_execution(self, req):
        ex = self._execution(req.match)
        return self._stop([ex])

    def stop_all(self, req):
        job = self._job(req.match)
        running = [e for (j, _), e in self.executions.items() if j == job["name"] and not e.done]
        return self._stop(running, listing=True)

    def _stop(self, executions, listing=False):
        for ex in executions:
            ex.stop()
        result = {"value": [{"name": e.name, "id": e.id} for e in executions]} \
            if listing else None
        op = self.sim.op_new(kind="location")

        def finish():
            for ex in executions:
                ex.wait_done(60)
            with self.sim.lock:
                final = {"value": [e.view() for e in executions]} if listing else None
                self.sim.op_done(op["id"], result=final)
        threading.Thread(target=finish, daemon=True, name="stop").start()
        return 202, result, {"Location": op["url"], "Retry-After": "1"}

    # Persistence: jobs, storages, environments and finished executions
    # survive a simulator restart; an execution that was running when the
    # simulator went away fails (its containers are removed at start-up).

    def save(self):
        if self.closed:
            return
        state = {"envs": self.envs, "storages": [s for s in self.storages.values()],
                 "jobs": self.jobs, "executions": [e.snapshot() for e in
                                                   self.executions.values()]}
        tmp = self.state_file + ".tmp"
        os.makedirs(os.path.dirname(self.state_file), exist_ok=True)
        with open(tmp, "w") as f:
            json.dump(state, f)
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
        self.envs = state.get("envs") or {}
        for s in state.get("storages") or []:
            self.storages[(s["id"].split("/managedEnvironments/")[1].split("/")[0],
                           s["name"])] = s
        self.jobs = state.get("jobs") or {}
        for saved in state.get("executions") or []:
            job = self.jobs.get(saved["job"])
            if job is not None:
                ex = app_run.Execution.restore(self, job, saved)
                self.executions[(job["name"], ex.name)] = ex
        for job in self.jobs.values():
            if job["properties"]["provisioningState"] == "InProgress":
                job["properties"]["provisioningState"] = "Succeeded"
        return True

    def close(self):
        with self.sim.lock:
            if self.closed:
                return
            self.save()
            self.closed = True
            running = [e for e in self.executions.values() if not e.done]
        for ex in running:
            ex.shutdown()
        for ex in running:
            ex.wait_done(30)


def make_identity(sim, identity):
    """A managed identity block as the service writes it back: principal
    and tenant ids for SystemAssigned, principal and client ids for each
    user-assigned identity (Microsoft.App jobs and Microsoft.Web sites):
    those of the identity Microsoft.ManagedIdentity has (azuresim_msi),
    made up for one it does not have (Microsoft.App's tests name such
    ids; Microsoft.Web checks them first, check_identity)."""
    identity = _copy(identity)
    if "SystemAssigned" in identity.get("type", ""):
        identity["principalId"] = str(uuid.uuid4())
        identity["tenantId"] = sim.tenant
    msi = getattr(sim, "msi", None)
    for uid in (identity.get("userAssignedIdentities") or {}):
        known = msi.lookup(uid) if msi is not None else None
        identity["userAssignedIdentities"][uid] = {
            "principalId": known["properties"]["principalId"] if known else str(uuid.uuid4()),
            "clientId": known["properties"]["clientId"] if known else str(uuid.uuid4())}
    return identity


def _merge(base, patch):
    """JSON merge of a PATCH body into the stored object (lists replace)."""
    if not isinstance(base, dict) or not isinstance(patch, dict):
        return _copy(patch)
    out = _copy(base)
    for k, v in patch.items():
        out[k] = _merge(out.get(k), v) if isinstance(v, dict) else _copy(v)
    return out


STATUS_FILTER = re.compile(r"^\s*properties/status\s+eq\s+'([A-Za-z]+)'\s*$")


def _status_filter(text):
    """The status of `properties/status eq 'Running'`; None without a
    filter; 400 for any other form."""
    if not text:
        return None
    match = STATUS_FILTER.match(text)
    if not match:
        raise ArmError(400, "InvalidFilter", "The $filter '%s' is not supported; the simulator "
                       "understands only properties/status eq '<status>'." % text)
    return match.group(1)


def register(sim):
    app = App(sim)
    sim.app = app
    if not app.restore():
        app.envs[ENV_NAME] = app.make_env(ENV_NAME)
    app_run.remove_leftovers(sim)
    routes = [
        ("GET", SUB_ENVS, app.env_list_sub, "ManagedEnvironments_ListBySubscription"),
        ("GET", ENVS, app.env_list, "ManagedEnvironments_ListByResourceGroup"),
        ("GET", ENV, app.env_get, "ManagedEnvironments_Get"),
        ("PUT", ENV, app.env_put, "ManagedEnvironments_CreateOrUpdate"),
        ("POST", ENV + "/getAuthtoken", app.env_auth_token, "ManagedEnvironments_GetAuthToken"),
        ("GET", STORAGES, app.storage_list, "ManagedEnvironmentsStorages_List"),
        ("GET", STORAGE, app.storage_get, "ManagedEnvironmentsStorages_Get"),
        ("PUT", STORAGE, app.storage_put, "ManagedEnvironmentsStorages_CreateOrUpdate"),
        ("DELETE", STORAGE, app.storage_delete, "ManagedEnvironmentsStorages_Delete"),
        ("GET", SUB_JOBS, app.job_list_sub, "Jobs_ListBySubscription"),
        ("GET", JOBS, app.job_list, "Jobs_ListByResourceGroup"),
        ("GET", JOB, app.job_get, "Jobs_Get"),
        ("PUT", JOB, app.job_put, "Jobs_CreateOrUpdate"),
        ("PATCH", JOB, app.job_patch, "Jobs_Update"),
        ("DELETE", JOB, app.job_delete, "Jobs_Delete"),
        ("POST", JOB + "/listSecrets", app.job_secrets, "Jobs_ListSecrets"),
        ("POST", JOB + "/start", app.start, "Jobs_Start"),
        ("POST", JOB + "/stop", app.stop_all, "Jobs_StopMultipleExecutions"),
        ("GET", EXECS, app.execution_list, "JobsExecutions_List"),
        ("GET", EXEC, app.execution_get, "JobExecution"),
        ("POST", EXEC + "/stop", app.stop_execution, "Jobs_StopExecution"),
        # Not in the 2025-07-01 spec: the job's own getAuthToken, which the
        # az CLI's containerapp extension calls with 2023-11-02-preview
        # before reading a job's log stream.
        ("POST", JOB + "/getAuthToken", app.job_auth_token, None),
    ]
    for method, regex, handler, op_id in routes:
        sim.route(method, regex, handler, op_id)
    app_stream.register(sim, app)
    # For tests: Log Analytics' ingestion delay from now on (the
    # AZURESIM_LA_DELAY_MS start-up value otherwise), {"ms": N}.
    def la_delay(req):
        ms = (req.body or {}).get("ms") if isinstance(req.body, dict) else None
        if not isinstance(ms, int) or isinstance(ms, bool) or ms < 0:
            raise ArmError(400, "InvalidParameter", "ms must be a whole number >= 0.")
        app.ingest_delay = ms / 1000
        return 200, {"ms": ms}
    sim.route("POST", r"/_azapp/la_delay", la_delay, audience=None)
    # For tests: the rows the runner wrote to the Log Analytics store
    # (without going through the query API).
    sim.route("GET", r"/_azapp/la/(?P<table>[A-Za-z_]+)",
              lambda req: (200, {"value": list(sim.la_tables.get(req.match.group("table"),
                                                                   []))}))
    closer = getattr(sim, "add_closer", None)
    if closer is not None:
        closer(app.close)
    else:
        import atexit
        atexit.register(app.close)
    log.info("Microsoft.App (managed environments, storages, jobs, executions) served")
    return app
