"""Fixtures and a small ARM client for the Microsoft.App tests
(test_azapp_*.py): an azuresim.py process of the tests' own (engine and
registry of the test bed: SK_SIM_ENGINE_HOST or SK_ENGINE_HOST, and
SK_REGISTRY; without them the tests that run containers are skipped), an
ARM token from the simulator's Entra ID (client_credentials with the
client secret of --creds-out, as azure-identity's ClientSecretCredential
asks), and helpers for LROs and executions."""

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
PYTHON = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else sys.executable
API = "2025-07-01"
SUB = "6a2bd1a0-0000-4000-8000-00000000a5c1"
RG = "sockerless"
TENANT = "7f3c9b0e-0000-4000-8000-0000000071d1"
BASE = "/subscriptions/%s/resourceGroups/%s/providers/Microsoft.App" % (SUB, RG)
ENV_ID = BASE + "/managedEnvironments/sockerless-env"
STORAGE_API = "2023-05-01"
ACCOUNT = "/subscriptions/%s/resourceGroups/%s/providers/Microsoft.Storage/storageAccounts/" \
    "sockerlessvols" % (SUB, RG)
SHARES = ACCOUNT + "/fileServices/default/shares"
IMAGE = "busybox"
ENGINE = os.environ.get("SK_SIM_ENGINE_HOST") or os.environ.get("SK_ENGINE_HOST")
REGISTRY = os.environ.get("SK_REGISTRY")
needs_engine = pytest.mark.skipif(not (ENGINE and REGISTRY), reason="needs the test bed's "
                                  "engine and registry (SK_SIM_ENGINE_HOST, SK_REGISTRY)")


def _port(offset):
    """SK_TEST_PORT_BASE+180+offset when the runner gives a port range,
    else a free port."""
    if os.environ.get("SK_TEST_PORT_BASE"):
        return int(os.environ["SK_TEST_PORT_BASE"]) + 180 + offset
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class HttpError(Exception):
    def __init__(self, status, body, headers=None):
        super().__init__("%d %s" % (status, body))
        self.status = status
        self.body = body
        self.headers = headers or {}
        self.error = (body or {}).get("error", {}) if isinstance(body, dict) else {}


class AzureSim:
    """One azuresim.py process; launch() and stop() may be repeated (the
    state directory survives, as a restart would see it). ports: the
    offset of its two ports (a second simulator next to the module's)."""

    def __init__(self, workdir, env=None, ports=0):
        self.workdir = workdir
        self.state_dir = os.path.join(workdir, "state")
        self.creds = os.path.join(workdir, "creds.env")
        self.port, self.acr_port = _port(ports), _port(ports + 1)
        self.endpoint = "http://127.0.0.1:%d" % self.port
        self.log_path = os.path.join(workdir, "azuresim.log")
        self.env = dict(os.environ, AZURESIM_STOP_GRACE_SECONDS="1", AZURESIM_PAGE_SIZE="2",
                        **(env or {}))
        script = os.path.join(HERE, "azuresim.py")
        if not os.path.exists(script):   # before the base is in the tree
            script = os.path.join(HERE, "_standin", "azuresim.py")
            sims = os.path.dirname(HERE)
            self.env["PYTHONPATH"] = os.pathsep.join(
                [HERE, os.path.join(sims, "gcp"), os.path.join(sims, "aws")])
        self.script = script
        self.token = None

    def launch(self):
        args = [PYTHON, self.script, "--port", str(self.port), "--state-dir", self.state_dir,
                "--subscription", SUB, "--resource-group", RG, "--tenant", TENANT,
                "--location", "westeurope", "--creds-out", self.creds]
        if ENGINE and REGISTRY:
            args += ["--engine", ENGINE, "--registry", REGISTRY,
                     "--acr-port", str(self.acr_port)]
        self.log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(args, stdout=self.log, stderr=subprocess.STDOUT,
                                     env=self.env)
        deadline = time.time() + 30
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("azuresim exited: " + self.log_text()[-3000:])
            try:
                if self.raw("GET", "/_sim/health")[1] == {"ok": True} and \
                        os.path.exists(self.creds):
                    break
            except OSError:
                pass
            time.sleep(0.1)
        else:
            raise RuntimeError("azuresim did not start: " + self.log_text()[-3000:])
        self.token = self._arm_token()
        return self

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()

    def log_text(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def _arm_token(self):
        creds = {}
        with open(self.creds) as f:
            for line in f:
                key, sep, value = line.strip().removeprefix("export ").partition("=")
                if sep:
                    creds[key] = value.strip("'\"")
        form = urllib.parse.urlencode({
            "grant_type": "client_credentials", "client_id": creds["AZURE_CLIENT_ID"],
            "client_secret": creds["AZURE_CLIENT_SECRET"],
            "scope": "https://management.azure.com/.default"}).encode()
        status, body, _ = self.raw("POST", "/%s/oauth2/v2.0/token" % creds["AZURE_TENANT_ID"],
                                   form, {"Content-Type": "application/x-www-form-urlencoded"})
        assert status == 200, body
        return body["access_token"]

    def raw(self, method, path, data=None, headers=None, timeout=30):
        url = path if path.startswith("http") else self.endpoint + path
        req = urllib.request.Request(url, data=data, method=method, headers=headers or {})
        try:
            with urllib.request.urlopen(req, timeout=timeout) as resp:
                text = resp.read()
                return resp.status, json.loads(text) if text.strip() else None, resp.headers
        except urllib.error.HTTPError as exc:
            text = exc.read()
            try:
                body = json.loads(text) if text.strip() else None
            except ValueError:
                body = text.decode("utf-8", "replace")
            return exc.code, body, exc.headers

    def arm(self, method, path, body=None, api=API, expect=None):
        """(status, body, headers) of an ARM call; HttpError for >= 400."""
        url = path if path.startswith("http") else "%s%s%sapi-version=%s" % (
            self.endpoint, path, "&" if "?" in path else "?", api)
        headers = {"Authorization": "Bearer " + self.token}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        status, out, hdrs = self.raw(method, url, data, headers)
        if status >= 400:
            raise HttpError(status, out, hdrs)
        if expect is not None:
            assert status == expect, (status, out)
        return status, out, hdrs

    def get(self, path):
        return self.arm("GET", path)[1]

    def poll(self, headers, deadline=30):
        """Follow an Azure-AsyncOperation or Location header to the end;
        the final body."""
        end = time.time() + deadline
        if headers.get("Azure-AsyncOperation"):
            while time.time() < end:
                _, body, _ = self.arm("GET", headers["Azure-AsyncOperation"])
                if body["status"] != "InProgress":
                    return body
                time.sleep(0.1)
            raise AssertionError("the operation did not finish")
        url = headers["Location"]
        while time.time() < end:
            status, body, hdrs = self.arm("GET", url)
            if status != 202:
                return body
            url = hdrs.get("Location") or url
            time.sleep(0.1)
        raise AssertionError("the operation did not finish")

    def calls(self):
        return self.raw("GET", "/_sim/calls")[1]

    # Azure Files (azuresim_storage).

    def account_key(self):
        _, keys, _ = self.arm("POST", ACCOUNT + "/listKeys", api=STORAGE_API)
        return keys["keys"][0]["value"]

    def share(self, name, quota=1):
        """Creates the share name of the pre-made account; the azureFile
        properties of an environment storage mounting it."""
        self.arm("PUT", SHARES + "/" + name, {"properties": {"shareQuota": quota}},
                 api=STORAGE_API)
        return {"accountName": "sockerlessvols", "accountKey": self.account_key(),
                "shareName": name, "accessMode": "ReadWrite"}

    def share_storage(self, storage, share, access="ReadWrite"):
        """A share and the environment storage storage of it."""
        props = self.share(share)
        props["accessMode"] = access
        self.arm("PUT", ENV_ID + "/storages/" + storage, {"properties": {"azureFile": props}})

    # Jobs and executions.

    def create_job(self, name, containers, volumes=None, init=None, timeout=60, retries=0,
                   secrets=None, wait=True):
        template = {"containers": containers}
        if volumes:
            template["volumes"] = volumes
        if init:
            template["initContainers"] = init
        config = {"triggerType": "Manual", "replicaTimeout": timeout,
                  "replicaRetryLimit": retries,
                  "manualTriggerConfig": {"replicaCompletionCount": 1, "parallelism": 1}}
        if secrets:
            config["secrets"] = secrets
        body = {"location": "westeurope", "properties": {
            "environmentId": ENV_ID, "configuration": config, "template": template}}
        status, job, headers = self.arm("PUT", BASE + "/jobs/" + name, body)
        if wait:
            assert self.poll(headers)["status"] == "Succeeded"
        return job

    def start(self, name, template=None):
        status, body, headers = self.arm("POST", BASE + "/jobs/%s/start" % name, template)
        assert status == 202, (status, body)
        final = self.poll(headers)
        assert final["name"] == body["name"]
        return body["name"]

    def execution(self, job, ex):
        return self.get(BASE + "/jobs/%s/executions/%s" % (job, ex))

    def wait_done(self, job, ex, deadline=90):
        end = time.time() + deadline
        while time.time() < end:
            view = self.execution(job, ex)
            if view["properties"]["status"] not in ("Running", "Processing"):
                return view
            time.sleep(0.2)
        raise AssertionError("execution %s did not finish" % ex)

    def rows(self, table):
        """The Log Analytics store's rows of a table (read through the
        simulator's own state, as the query API would see them)."""
        return self.arm("GET", "/_azapp/la/" + table)[1]["value"]


def container(name="main", command=None, args=None, cpu=0.25, memory="0.5Gi", **extra):
    c = {"name": name, "image": IMAGE, "resources": {"cpu": cpu, "memory": memory}}
    if command is not None:
        c["command"] = command
    if args is not None:
        c["args"] = args
    c.update(extra)
    return c


@pytest.fixture(scope="module")
def appsim():
    workdir = tempfile.mkdtemp(prefix="azapp-")
    sim = AzureSim(workdir).launch()
    yield sim
    sim.stop()
    shutil.rmtree(workdir, ignore_errors=True)
