"""One Container Apps job execution on the engine: its replica (init
containers one after the other, then the main containers together, each a
real container on the host network), replicaTimeout (the replica is
killed and fails), replicaRetryLimit (a failed replica is replaced that
many times), stop (SIGTERM, then SIGKILL after the grace period), EmptyDir,
Secret and Azure Files volumes as directories, and every line a container
writes copied into the Log Analytics store and the log stream buffers."""

import calendar
import json
import logging
import os
import random
import re
import shutil
import string
import threading
import time
import uuid

import docker.errors
import docker.types
import requests

from azuresim_core import ArmError

# The engine's timestamp before each log entry (RFC3339NanoFixed).
ENTRY_STAMP = re.compile(rb"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z ")

log = logging.getLogger("azuresim")

LABEL = "sockerless.azuresim.app"
POLL_SECONDS = 0.2
LOG_FLUSH_WARN_SECONDS = 30   # a replica waits for its last log lines; warns past this
# Container Apps gives a stopped replica 30 s (terminationGracePeriodSeconds)
# before SIGKILL; tests shorten it.
STOP_GRACE_SECONDS = float(os.environ.get("AZURESIM_STOP_GRACE_SECONDS", "30"))
EXEC_FIELDS = ("image", "name", "command", "args", "env", "resources")
CL_TABLE = "ContainerAppConsoleLogs_CL"
NEW_TABLE = "ContainerAppConsoleLogs"


def _owner(sim):
    return os.path.realpath(sim.state_dir)


def _iso(ns):
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ns // 10**9)) + ".%07dZ" % (
        (ns % 10**9) // 100)


def remove_leftovers(sim):
    """Containers an earlier simulator with this state directory left
    behind (their executions were marked Failed at restore)."""
    if sim.engine is None:
        return
    try:
        for c in sim.engine.docker.containers.list(
                all=True, filters={"label": "%s.owner=%s" % (LABEL, _owner(sim))}):
            log.info("removing leftover Container Apps container %s", c.name)
            c.remove(force=True)
    except Exception:  # an engine that fails here fails later with a clear error
        log.exception("removing leftover Container Apps containers failed")


def effective_template(job, body):
    """The job's template with a Start body's JobExecutionTemplate applied:
    containers and initContainers override the job's by name (image,
    command, args, env, resources); a nameless one overrides the only
    container."""
    template = json.loads(json.dumps(job["properties"]["template"]))
    for key in ("containers", "initContainers"):
        mine = template.setdefault(key, [])
        for i, o in enumerate(body.get(key) or []):
            where = "template.%s[%d]" % (key, i)
            if o.get("name"):
                match = [c for c in mine if c["name"] == o["name"]]
            else:
                match = mine if len(mine) == 1 else []
            if not match:
                raise ArmError(400, "JobExecutionTemplateInvalid", "%s: container '%s' is not "
                               "in the job's template.%s; an execution template overrides "
                               "the job's containers by name." % (where, o.get("name") or "",
                                                                   key))
            for field in EXEC_FIELDS[:1] + EXEC_FIELDS[2:]:
                if field in o:
                    match[0][field] = json.loads(json.dumps(o[field]))
    return template


class LogBuffer:
    """One container's lines, for the log stream: appended while the
    container runs, ended when it has exited and every line is in."""

    def __init__(self):
        self.lines = []         # (ns, stream, text)
        self.ended = False
        self.cond = threading.Condition()

    def add(self, ns, stream, text):
        with self.cond:
            self.lines.append((ns, stream, text))
            self.cond.notify_all()

    def end(self):
        with self.cond:
            self.ended = True
            self.cond.notify_all()


class Replica:
    def __init__(self, ex, containers):
        self.ex = ex
        self.name = "%s-%s" % (ex.name, "".join(random.choice(string.ascii_lowercase +
                                                              string.digits) for _ in range(5)))
        self.group_id = str(uuid.uuid4())
        self.logs = {c["name"]: LogBuffer() for c in containers}
        self.cids = {}


class Execution:
    def __init__(self, app, job, env, name, template):
        self.app = app
        self.sim = app.sim
        self.job_name = job["name"]
        self.job_id = job["id"]
        self.env_name = env["name"] if env else ""
        self.env_id = env["id"] if env else ""
        self.both = app.both_tables or (env or {}).get("properties", {}).get(
            "appLogsConfiguration", {}).get("destination") == "azure-monitor"
        self.cl = (env or {}).get("properties", {}).get(
            "appLogsConfiguration", {}).get("destination") != "azure-monitor"
        self.name = name
        self.id = job["id"] + "/executions/" + name
        self.template = template
        config = job["properties"]["configuration"]
        self.timeout = config["replicaTimeout"]
        self.retry_limit = config.get("replicaRetryLimit", 0)
        self.secrets = {s["name"]: s.get("value", "") for s in config.get("secrets") or []}
        self.registries = {r["server"].lower() for r in config.get("registries") or []}
        # Username and password entries: the replica pulls with them.
        self.creds = {r["server"].lower(): {"username": r["username"],
                                            "password": self.secrets.get(
                                                r["passwordSecretRef"], "")}
                      for r in config.get("registries") or []
                      if r.get("username") and r.get("passwordSecretRef")}
        self.created = time.time()
        self.status = "Running"
        self.start_time = _iso(time.time_ns())
        self.end_time = None
        self.message = ""
        self.replicas = []
        self.stopping = threading.Event()
        self.kill_now = False
        self.finished = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True, name="exec-" + name)

    @property
    def done(self):
        return self.finished.is_set()

    def start(self):
        self.thread.start()

    def view(self):
        def strip(cs):
            return [{k: c[k] for k in EXEC_FIELDS if k in c} for c in cs or []]
        props = {"status": self.status, "startTime": self.start_time,
                 "template": {"containers": strip(self.template.get("containers")),
                              "initContainers": strip(self.template.get("initContainers"))}}
        if self.end_time:
            props["endTime"] = self.end_time
        return {"id": self.id, "name": self.name, "type": "Microsoft.App/jobs/executions",
                "properties": props}

    def stop(self):
        if not self.done:
            self.stopping.set()

    def shutdown(self):
        self.kill_now = True
        self.stop()

    def wait_done(self, timeout):
        self.finished.wait(timeout)

    def replica(self, name):
        for r in self.replicas:
            if r.name == name:
                return r
        return None

    # Persistence.

    FIELDS = ("name", "job_name", "env_name", "template", "created", "status", "start_time",
              "end_time", "message")

    def snapshot(self):
        out = {k: getattr(self, k) for k in self.FIELDS}
        out["job"] = self.job_name
        out["replicas"] = [{"name": r.name, "containers": list(r.logs)} for r in self.replicas]
        return out

    @classmethod
    def restore(cls, app, job, saved):
        env = app.envs.get(saved.get("env_name"))
        ex = cls(app, job, env, saved["name"], saved["template"])
        for k in cls.FIELDS:
            setattr(ex, k, saved[k])
        for r in saved.get("replicas") or []:
            rep = Replica(ex, [{"name": c} for c in r["containers"]])
            rep.name = r["name"]
            for buf in rep.logs.values():
                buf.end()
            ex.replicas.append(rep)
        if ex.status in ("Running", "Processing"):
            ex.status = "Failed"
            ex.message = "The simulator stopped while the replica ran; its containers are gone."
            ex.end_time = _iso(time.time_ns())
        ex.finished.set()
        return ex

    # The runner.

    def _run(self):
        try:
            status = self._attempts()
        except Exception as exc:  # a simulator bug must still end the execution
            log.exception("execution %s failed", self.name)
            status, self.message = "Failed", "Internal simulator error: %s" % exc
        with self.sim.lock:
            self.status = status
            self.end_time = _iso(time.time_ns())
            self.finished.set()
            try:
                self.app.save()
            except OSError:
                log.exception("saving the Microsoft.App state failed")
        shutil.rmtree(os.path.join(self.app.run_dir, self.name), ignore_errors=True)

    def _attempts(self):
        images = [c["image"] for c in (self.template.get("initContainers") or []) +
                  self.template["containers"]]
        for image in dict.fromkeys(images):
            host = image.split("/", 1)[0].lower() if "/" in image else ""
            if _private(self.sim, host) and host not in self.registries:
                # A private registry the job has no credentials for: the
                # pull is refused, as Container Apps' would be.
                self.message = "Failed to pull image '%s': unauthorized: authentication " \
                    "required (no properties.configuration.registries entry for server " \
                    "'%s')." % (image, host)
                return "Failed"
            try:
                self.sim.engine.pull(image, auth=self.creds.get(host))
            except Exception as exc:  # the engine wrapper's error, or a reference it refuses
                self.message = "Failed to pull image '%s': %s" % (image, exc)
                return "Failed"
        for attempt in range(self.retry_limit + 1):
            if self.stopping.is_set():
                return "Stopped"
            outcome = self._replica()
            if outcome == "ok":
                return "Succeeded"
            if outcome == "stopped":
                return "Stopped"
            log.info("execution %s: replica attempt %d failed (%s)", self.name, attempt,
                     outcome)
        return "Failed"

    def _replica(self):
        """Run one replica; "ok", "failed", "timeout" or "stopped"."""
        init = self.template.get("initContainers") or []
        main = self.template["containers"]
        rep = Replica(self, init + main)
        with self.sim.lock:
            self.replicas.append(rep)
        deadline = time.monotonic() + self.timeout
        try:
            mounts = self._volumes(rep)
            for c in init:
                outcome = self._wait(rep, [self._start(rep, c, mounts)], deadline)
                if outcome != "ok":
                    return outcome
            cids = [self._start(rep, c, mounts) for c in main]
            return self._wait(rep, cids, deadline)
        except _StartError as exc:
            self.message = str(exc)
            log.info("execution %s: %s", self.name, exc)
            return "failed"
        finally:
            for cid in rep.cids.values():
                self.sim.engine.remove(cid)
            for buf in rep.logs.values():
                buf.end()

    def _start(self, rep, c, mounts):
        engine = self.sim.engine
        env = {}
        for e in c.get("env") or []:
            env[e["name"]] = self.secrets.get(e["secretRef"], "") if "secretRef" in e \
                else e.get("value", "")
        env.update({"CONTAINER_APP_JOB_NAME": self.job_name,
                    "CONTAINER_APP_JOB_EXECUTION_NAME": self.name,
                    "CONTAINER_APP_REPLICA_NAME": rep.name})
        res = c.get("resources") or {}
        from azuresim_app import memory_gib
        options = {
            "name": "azsim-%s-%s" % (rep.name, c["name"]),
            "labels": {LABEL: "1", LABEL + ".owner": _owner(self.sim),
                       LABEL + ".execution": self.id, LABEL + ".container": c["name"]},
            "environment": ["%s=%s" % kv for kv in env.items()],
            "entrypoint": c.get("command") or None,
            "command": c.get("args") or None,
            "network_mode": "host",
            "mem_limit": int((memory_gib(res.get("memory", "1Gi")) or 1) * 2**30),
            "nano_cpus": int(float(res.get("cpu", 0.5)) * 1e9),
            "mounts": [mounts[m["volumeName"]](m) for m in c.get("volumeMounts") or []],
        }
        try:
            cid = engine.start(c["image"], **options)
        except Exception as exc:  # EngineError: the engine's explanation
            created = getattr(exc, "container_id", None)
            if created:
                engine.remove(created)
            raise _StartError("The container '%s' could not be started: %s"
                              % (c["name"], exc)) from exc
        with self.sim.lock:
            rep.cids[c["name"]] = cid
        rep.followers = getattr(rep, "followers", []) + [
            self._follow(rep, c, cid, stream) for stream in ("stdout", "stderr")]
        return cid

    def _wait(self, rep, cids, deadline):
        """Poll until the containers exit; stop them at stop (grace, then
        SIGKILL) or kill them at the replica timeout."""
        engine = self.sim.engine
        outcome = None
        while outcome is None:
            states = [engine.state(cid) for cid in cids]
            if all(s["Status"] in ("exited", "dead") for s in states):
                codes = [s.get("ExitCode") for s in states]
                outcome = "ok" if all(code == 0 for code in codes) else "failed"
                if outcome == "failed":
                    self.message = "A container exited with code %s." % \
                        [code for code in codes if code != 0][0]
                break
            if self.stopping.is_set():
                grace = 0 if self.kill_now else STOP_GRACE_SECONDS
                threads = [threading.Thread(target=engine.stop, args=(cid, grace))
                           for cid in cids]
                for t in threads:
                    t.start()
                for t in threads:
                    t.join()
                outcome = "stopped"
                break
            if time.monotonic() >= deadline:
                for cid in cids:
                    engine.kill(cid)
                    engine.wait(cid)
                self.message = "The replica exceeded its replicaTimeout of %d seconds and " \
                    "was terminated." % self.timeout
                outcome = "timeout"
                break
            self.stopping.wait(POLL_SECONDS)
        # As the Container Apps logging agent, which flushes at the
        # container's exit: every line is in the log stream (and sent on to
        # Log Analytics) before the replica, and so the execution, is
        # reported finished, however long the output (a follower ends once
        # its exited container's log is read to the end).
        for f in getattr(rep, "followers", []):
            while f.is_alive():
                f.join(LOG_FLUSH_WARN_SECONDS)
                if f.is_alive():
                    log.warning("execution %s replica %s: the output is still being delivered",
                                self.name, rep.name)
        rep.followers = []
        return outcome

    def _volumes(self, rep):
        """volume name -> function(volumeMount) -> docker Mount."""
        out = {}
        base = os.path.join(self.app.run_dir, self.name, rep.name)
        for v in self.template.get("volumes") or []:
            kind = v.get("storageType") or "EmptyDir"
            read_only = False
            if kind == "EmptyDir":
                path = os.path.join(base, "emptydir", v["name"])
                os.makedirs(path, exist_ok=True)
                os.chmod(path, 0o777)
            elif kind == "Secret":
                path = os.path.join(base, "secret", v["name"])
                os.makedirs(path, exist_ok=True)
                wanted = v.get("secrets") or [{"secretRef": s} for s in self.secrets]
                for s in wanted:
                    target = os.path.join(path, os.path.basename(s.get("path") or
                                                                 s["secretRef"]))
                    with open(target, "w") as f:
                        f.write(self.secrets.get(s["secretRef"], ""))
                read_only = True
            else:
                storage = self.app.storages.get((self.env_name, v.get("storageName")))
                if storage is None:
                    raise _StartError("Volume '%s': storage '%s' no longer exists in the "
                                      "environment." % (v["name"], v.get("storageName")))
                try:
                    path = self.app.share_dir(storage)
                except ValueError as exc:
                    raise _StartError("Volume '%s' (storage '%s'): MountVolume.SetUp failed: %s"
                                      % (v["name"], v.get("storageName"), exc)) from None
                f = storage["properties"].get("azureFile") or \
                    storage["properties"].get("nfsAzureFile")
                # accessMode is the storage's; a volume's mountOptions
                # "ro" makes this mount read-only (mount.cifs/nfs's ro).
                read_only = f.get("accessMode") == "ReadOnly" or \
                    "ro" in (v.get("mountOptions") or "").split(",")
            out[v["name"]] = _mounter(path, read_only)
        return out

    # Logs.

    def _follow(self, rep, c, cid, stream):
        api = self.sim.engine.docker.api
        buf = rep.logs[c["name"]]

        def write(raw):
            ns, text = _split_stamp(raw)
            buf.add(ns, stream, text)
            rows = self._rows(rep, c, cid, stream, ns, text)
            if self.app.ingest_delay > 0:
                timer = threading.Timer(self.app.ingest_delay, self._ingest, args=(rows,))
                timer.daemon = True
                timer.start()
            else:
                self._ingest(rows)

        def follow():
            pending, last = b"", b""
            which = {"stdout": stream == "stdout", "stderr": stream == "stderr"}
            try:
                for chunk in api.logs(cid, stream=True, follow=True, timestamps=True, **which):
                    pending += chunk
                    while b"\n" in pending:
                        line, pending = pending.split(b"\n", 1)
                        # Whole lines: a TTY's output comes a byte at a time.
                        stamps = ENTRY_STAMP.findall(line)
                        last = max(stamps[-1], last) if stamps else last
                        write(line)
                stamps = ENTRY_STAMP.findall(pending)
                last = max(stamps[-1], last) if stamps else last
                # dockerd 20.10 may end a follow at the exit before it
                # stored the last entry (a final piece without a newline).
                tail = api.logs(cid, timestamps=True, tail=100, **which)
                for m in ENTRY_STAMP.finditer(tail):
                    if m.group() > last:
                        pending += tail[m.start():]
                        break
            except (docker.errors.APIError, requests.exceptions.RequestException):
                pass  # the container is gone: nothing more to deliver
            for line in pending.split(b"\n"):
                if line:
                    write(line)
        thread = threading.Thread(target=follow, daemon=True,
                                  name="log-%s-%s" % (stream, cid[:8]))
        thread.start()
        return thread

    def _ingest(self, rows):
        with self.sim.lock:
            for table, row in rows:
                self.sim.la_ingest(table, row)

    def _rows(self, rep, c, cid, stream, ns, text):
        """The rows of one line: the `_CL` table of the log-analytics
        destination, and the newer table (azure-monitor destination, or
        the AZURESIM_LA_BOTH_TABLES flag). Column names: Microsoft's
        reference of ContainerAppConsoleLogs (learn.microsoft.com/azure/
        azure-monitor/reference/tables/containerappconsolelogs) and the
        Container Apps logging page for the _CL columns."""
        stamp = _iso(ns)
        resource = self.job_id.lower()     # Log Analytics keeps _ResourceId lower case
        rows = []
        if self.cl:
            rows.append((CL_TABLE, {
                "TimeGenerated": stamp, "_timestamp_ns": ns, "_timestamp_d": ns / 1e9,
                "ContainerAppName_s": "", "ContainerJobName_s": self.job_name,
                "ContainerGroupName_s": rep.name, "ContainerGroupId_g": rep.group_id,
                "ContainerName_s": c["name"], "ContainerId_s": cid,
                "ContainerImage_s": c["image"], "Stream_s": stream, "Log_s": text,
                "EnvironmentName_s": self.env_name, "RevisionName_s": "",
                "_ResourceId": resource,
                "Type": CL_TABLE}))
        if self.both:
            rows.append((NEW_TABLE, {
                "TimeGenerated": stamp, "_timestamp_ns": ns,
                "ContainerAppName": self.job_name, "JobName": self.name,
                "ContainerGroupName": rep.name, "ContainerGroupId": rep.group_id,
                "ContainerName": c["name"], "ContainerId": cid, "ContainerImage": c["image"],
                "Stream": stream, "Log": text, "EnvironmentName": self.env_name,
                "RevisionName": "", "Location": self.sim.location,
                "OperationName": "ContainerAppConsoleLogs", "_ResourceId": resource,
                "_SubscriptionId": self.sim.subscription,
                "TenantId": self.sim.workspace_id, "SourceSystem": "Azure",
                "Type": NEW_TABLE}))
        return rows


def _private(sim, host):
    """Whether images of host need registry credentials: Azure Container
    Registry names and the simulator's own ACR host."""
    return host.endswith((".azurecr.io", ".azurecr.cn", ".azurecr.us")) or \
        (bool(sim.acr_host) and host == sim.acr_host.lower())


class _StartError(Exception):
    pass


def _mounter(path, read_only):
    def mount(m):
        source = path
        if m.get("subPath"):
            source = os.path.join(path, m["subPath"].strip("/").replace("..", "_"))
            os.makedirs(source, exist_ok=True)
        return docker.types.Mount(m["mountPath"], source, type="bind", read_only=read_only)
    return mount


def _split_stamp(raw):
    """(epoch ns, text) of one engine log line with its timestamp."""
    head, sep, rest = raw.partition(b" ")
    ns = None
    if sep and len(head) == 30 and head.endswith(b"Z"):
        try:
            secs = calendar.timegm(time.strptime(head[:19].decode(), "%Y-%m-%dT%H:%M:%S"))
            ns = secs * 10**9 + int(head[20:29])
        except ValueError:
            ns = None
    if ns is None:
        ns, rest = time.time_ns(), raw
    # The line without its "\n" (a TTY's "\r" stays), and without the
    # stamps of the entries a long line was stored as.
    return ns, ENTRY_STAMP.sub(b"", rest).decode("utf-8", "replace")
