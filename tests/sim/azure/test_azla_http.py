"""The Log Analytics query API over HTTP from a running azuresim.py (the
module registered at start-up, tokens from the simulator's Entra ID with
the client secret it wrote): what a backend's HTTP client sees. Ports:
with SK_TEST_PORT_BASE, base+180..+189 (tests/run.sh's window for these
tests); otherwise any free port."""

import json
import os
import shlex
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
LOGS_SCOPE = "https://api.loganalytics.io/.default"
ARM_SCOPE = "https://management.azure.com/.default"


def free_port():
    base = os.environ.get("SK_TEST_PORT_BASE")
    for port in ([int(base) + i for i in range(180, 190)] if base else [0]):
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return s.getsockname()[1]
    raise RuntimeError("no free port in SK_TEST_PORT_BASE+180..+189")


def http(method, url, body=None, headers=None):
    data = body if isinstance(body, (bytes, type(None))) else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status, resp.headers, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers, exc.read()


class Running:
    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="azla-")
        self.port = free_port()
        self.url = "http://127.0.0.1:%d" % self.port
        self.creds_path = os.path.join(self.dir, "creds.env")
        self.log = open(os.path.join(self.dir, "azuresim.log"), "ab")
        self.proc = subprocess.Popen(
            [PYTHON, os.path.join(HERE, "azuresim.py"), "--port", str(self.port),
             "--state-dir", os.path.join(self.dir, "state"), "--creds-out", self.creds_path],
            stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.time() + 60
        while time.time() < deadline:
            assert self.proc.poll() is None, self.log_text()
            try:
                if http("GET", self.url + "/_sim/health")[0] == 200:
                    break
            except OSError:
                pass
            time.sleep(0.1)
        else:
            raise RuntimeError("azuresim did not start: " + self.log_text())
        self.creds = {}
        with open(self.creds_path) as f:
            for line in f:
                line = line.strip()
                if "=" in line and not line.startswith("#"):
                    key, _, val = line.partition("=")
                    key = key.replace("export ", "").strip()
                    self.creds[key] = (shlex.split(val) or [""])[0]

    def log_text(self, tail=3000):
        with open(os.path.join(self.dir, "azuresim.log"), "rb") as f:
            text = f.read().decode("utf-8", "replace")
        return text[-tail:] if tail else text

    def token(self, scope):
        form = urllib.parse.urlencode({
            "grant_type": "client_credentials", "client_id": self.creds["AZURE_CLIENT_ID"],
            "client_secret": self.creds["AZURE_CLIENT_SECRET"], "scope": scope}).encode()
        status, _, body = http("POST", "%s/%s/oauth2/v2.0/token" % (
            self.url, self.creds["AZURE_TENANT_ID"]), form,
            {"Content-Type": "application/x-www-form-urlencoded"})
        assert status == 200, body
        return json.loads(body)["access_token"]

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()


@pytest.fixture(scope="module")
def running():
    sim = Running()
    yield sim
    sim.stop()


def workspace(running):
    """The simulator's workspace GUID, from azuresim_la's start-up line
    ("... served at /v1/workspaces/<GUID>/query")."""
    text = running.log_text(tail=None)
    marker = "/v1/workspaces/"
    i = text.find(marker)
    assert i >= 0, text
    return text[i + len(marker):i + len(marker) + 36]


def test_query_over_http(running):
    ws = workspace(running)
    token = running.token(LOGS_SCOPE)
    auth = {"Authorization": "Bearer " + token, "Content-Type": "application/json"}
    url = "%s/v1/workspaces/%s/query" % (running.url, ws)
    status, headers, body = http("POST", url, {"query": "ContainerAppConsoleLogs | take 1",
                                               "timespan": "PT1H"}, auth)
    assert status == 200, body
    table = json.loads(body)["tables"][0]
    assert table["name"] == "PrimaryResult" and table["rows"] == []
    assert {"name": "Log", "type": "string"} in table["columns"]
    assert headers["x-ms-request-id"]

    status, _, body = http("GET", url + "?" + urllib.parse.urlencode(
        {"query": "ContainerAppConsoleLogs | count"}), headers=auth)
    assert status == 200, body
    assert json.loads(body)["tables"][0]["rows"] == [[0]]

    status, _, body = http("POST", url, {"query": "ContainerAppConsoleLogs_CL | take 1"}, auth)
    assert status == 400
    assert json.loads(body)["error"]["innererror"]["code"] == "SemanticError"

    status, _, body = http("POST", url, {"query": "ContainerAppConsoleLogs | take"}, auth)
    assert status == 400
    assert json.loads(body)["error"]["innererror"]["code"] == "SyntaxError"


def test_arm_token_refused_over_http(running):
    url = "%s/v1/workspaces/%s/query" % (running.url, workspace(running))
    status, headers, body = http("POST", url, {"query": "ContainerAppConsoleLogs"}, {
        "Authorization": "Bearer " + running.token(ARM_SCOPE),
        "Content-Type": "application/json"})
    assert status == 401
    assert json.loads(body)["error"]["code"] == "InvalidAuthenticationTokenAudience"
    assert headers["WWW-Authenticate"].startswith("Bearer")


def test_rate_limit_over_http(running):
    ws = workspace(running)
    auth = {"Authorization": "Bearer " + running.token(LOGS_SCOPE),
            "Content-Type": "application/json"}
    ctl = "%s/v1/workspaces/%s/_sim/limits" % (running.url, ws)
    status, _, body = http("POST", ctl, {"requests": 1, "per_seconds": 3600,
                                         "retry_after": 3}, auth)
    assert status == 200, body
    url = "%s/v1/workspaces/%s/query" % (running.url, ws)
    assert http("POST", url, {"query": "ContainerAppConsoleLogs"}, auth)[0] == 200
    status, headers, body = http("POST", url, {"query": "ContainerAppConsoleLogs"}, auth)
    assert status == 429 and headers["Retry-After"] == "3"
    status, _, body = http("DELETE", ctl, headers=auth)
    assert status == 204 and body == b""
    assert http("POST", url, {"query": "ContainerAppConsoleLogs"}, auth)[0] == 200
