"""Fixtures and a small client for the Cloud Run jobs tests (test_run_*.py):
a gcpsim.py process of the tests' own (engine and registry from the test
bed: SK_SIM_ENGINE_HOST or SK_ENGINE_HOST, and SK_REGISTRY; without them
every test is skipped), an access token obtained as a client library does
(an RS256 JWT bearer assertion signed with the key file the simulator
wrote, signed by openssl), and helpers for the REST calls."""

import base64
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
import urllib.request

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
PYTHON = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else sys.executable
PROJECT, REGION = "sockerless-local", "us-central1"
PARENT = "projects/%s/locations/%s" % (PROJECT, REGION)
IMAGE = "busybox"
LOG_STDOUT = "projects/%s/logs/run.googleapis.com%%2Fstdout" % PROJECT
LOG_STDERR = "projects/%s/logs/run.googleapis.com%%2Fstderr" % PROJECT


def _port(offset):
    """SK_TEST_PORT_BASE+172+offset when the runner gives a port range,
    else a free port."""
    if os.environ.get("SK_TEST_PORT_BASE"):
        return int(os.environ["SK_TEST_PORT_BASE"]) + 172 + offset
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _b64(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class HttpError(Exception):
    def __init__(self, status, body):
        super().__init__("%d %s" % (status, body))
        self.status = status
        self.body = body
        self.error = (body or {}).get("error", {}) if isinstance(body, dict) else {}


class GcpSim:
    """One gcpsim.py process (the stand-in base when gcpsim.py is not in
    the tree yet)."""

    def __init__(self, engine, registry, workdir):
        self.engine, self.registry, self.workdir = engine, registry, workdir
        self.state_dir = os.path.join(workdir, "state")
        self.key_file = os.path.join(workdir, "sa-key.json")
        self.port, self.ar_port = _port(0), _port(1)
        self.endpoint = "http://127.0.0.1:%d" % self.port
        self.log_path = os.path.join(workdir, "gcpsim.log")
        self.token = None
        script = os.path.join(HERE, "gcpsim.py")
        if not os.path.exists(script):
            script = os.path.join(HERE, "_standin", "gcpsim.py")
        self.script = script

    def start(self):
        self.log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            [PYTHON, self.script, "--port", str(self.port), "--engine", self.engine,
             "--registry", self.registry, "--project", PROJECT, "--region", REGION,
             "--state-dir", self.state_dir, "--ar-port", str(self.ar_port),
             "--key-out", self.key_file], stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.time() + 30
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("gcpsim exited: " + self.log_text()[-3000:])
            try:
                if self.call("GET", "/_sim/health", auth=False).get("ok") \
                        and os.path.exists(self.key_file):
                    break
            except (OSError, HttpError):
                pass
            time.sleep(0.1)
        else:
            raise RuntimeError("gcpsim did not start: " + self.log_text()[-3000:])
        self.token = self._access_token()
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

    def _access_token(self):
        """The jwt-bearer grant with the key file, as google-auth does."""
        with open(self.key_file) as f:
            key = json.load(f)
        now = int(time.time())
        header = {"alg": "RS256", "typ": "JWT", "kid": key["private_key_id"]}
        claims = {"iss": key["client_email"], "aud": key["token_uri"], "iat": now,
                  "exp": now + 3600, "scope": "https://www.googleapis.com/auth/cloud-platform"}
        signing = "%s.%s" % (_b64(json.dumps(header).encode()), _b64(json.dumps(claims).encode()))
        pem = os.path.join(self.workdir, "key.pem")
        with open(pem, "w") as f:
            f.write(key["private_key"])
        signature = subprocess.run(["openssl", "dgst", "-sha256", "-sign", pem],
                                   input=signing.encode(), capture_output=True,
                                   check=True).stdout
        os.unlink(pem)
        form = "grant_type=%s&assertion=%s" % (
            "urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer",
            signing + "." + _b64(signature))
        req = urllib.request.Request(key["token_uri"], data=form.encode(), method="POST",
                                     headers={"Content-Type":
                                              "application/x-www-form-urlencoded"})
        with urllib.request.urlopen(req, timeout=10) as resp:
            return json.loads(resp.read())["access_token"]

    def call(self, method, path, body=None, auth=True):
        data = None if body is None else json.dumps(body).encode()
        headers = {"Content-Type": "application/json"}
        if auth:
            headers["Authorization"] = "Bearer " + self.token
        req = urllib.request.Request(self.endpoint + path, data=data, method=method,
                                     headers=headers)
        try:
            with urllib.request.urlopen(req, timeout=90) as resp:
                return json.loads(resp.read() or b"{}")
        except urllib.error.HTTPError as exc:
            raw = exc.read()
            try:
                parsed = json.loads(raw)
            except ValueError:
                parsed = raw.decode("utf-8", "replace")
            raise HttpError(exc.code, parsed) from None

    # Cloud Run helpers.

    def wait_op(self, op, timeout=120):
        deadline = time.time() + timeout
        while not op.get("done"):
            if time.time() > deadline:
                raise AssertionError("operation %s not done" % op["name"])
            time.sleep(0.1)
            op = self.call("GET", "/v2/" + op["name"])
        return op

    def create_job(self, job_id, command=None, args=None, max_retries=0, timeout="600s",
                   wait=True, **container):
        c = dict({"image": IMAGE}, **container)
        if command is not None:
            c["command"] = command
        if args is not None:
            c["args"] = args
        body = {"template": {"taskCount": 1, "template": {
            "containers": [c], "maxRetries": max_retries, "timeout": timeout}}}
        op = self.call("POST", "/v2/%s/jobs?jobId=%s" % (PARENT, job_id), body)
        return self.wait_op(op) if wait else op

    def run_job(self, job_id, overrides=None):
        body = {"overrides": overrides} if overrides else {}
        return self.call("POST", "/v2/%s/jobs/%s:run" % (PARENT, job_id), body)

    def tasks(self, execution):
        return self.call("GET", "/v2/%s/tasks" % execution).get("tasks", [])

    def entries(self, job_id, execution_id):
        flt = ('resource.type="cloud_run_job" AND resource.labels.job_name="%s" AND '
               'labels."run.googleapis.com/execution_name"="%s"' % (job_id, execution_id))
        out, token = [], None
        while True:
            body = {"resourceNames": ["projects/" + PROJECT], "filter": flt,
                    "orderBy": "timestamp asc", "pageSize": 1000}
            if token:
                body["pageToken"] = token
            page = self.call("POST", "/v2/entries:list", body)
            out += page.get("entries", [])
            token = page.get("nextPageToken")
            if not token:
                return out


def bed():
    engine = os.environ.get("SK_SIM_ENGINE_HOST") or os.environ.get("SK_ENGINE_HOST")
    registry = os.environ.get("SK_REGISTRY")
    if not engine or not registry:
        pytest.skip("SK_SIM_ENGINE_HOST / SK_REGISTRY not set (no test bed)")
    return engine, registry


def containers_of(engine, state_dir):
    import docker
    client = docker.DockerClient(base_url=engine, version="1.41")
    try:
        return [c.name for c in client.containers.list(
            all=True, ignore_removed=True,
            filters={"label": "sockerless.gcpsim.run.owner=%s"
                     % os.path.realpath(state_dir)})]
    finally:
        client.close()


@pytest.fixture(scope="module")
def gsim():
    engine, registry = bed()
    workdir = tempfile.mkdtemp(prefix="gcprun-test-")
    s = GcpSim(engine, registry, workdir).start()
    yield s
    s.stop()
    leftovers = containers_of(engine, s.state_dir)
    text = s.log_text()
    shutil.rmtree(workdir, ignore_errors=True)
    assert leftovers == [], "the simulator left containers behind: %s" % leftovers
    assert "Traceback" not in text, text[text.index("Traceback") - 2000:][:6000]


def error_of(call, *args, **kw):
    """The HttpError a call raises (fails when it succeeds)."""
    with pytest.raises(HttpError) as info:
        call(*args, **kw)
    return info.value
