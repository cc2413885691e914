"""Fixtures for the GCP simulator tests: a running gcpsim.py on a free
port (temporary state directory, its key files), a way to sign JWT
assertions with the key file (openssl: Python's stdlib cannot sign RSA)
and an authenticated JSON client. The engine and registry of the test bed
(SK_ENGINE_HOST, SK_REGISTRY) are passed when set; tests that need them
skip otherwise, the rest run anywhere."""

import base64
import json
import os
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
PROJECT = "sockerless-local"
REGION = "us-central1"
JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
SCOPE = "https://www.googleapis.com/auth/cloud-platform"


def pytest_configure(config):
    config.addinivalue_line("filterwarnings",
                            "ignore:distutils Version classes are deprecated:DeprecationWarning")


# With SK_TEST_PORT_BASE (tests/run.sh) the simulators take ports from
# base+120..+169 of the run's window, which nothing else in the sim suite
# uses; without it, any free port.
_PORT_WINDOW = (120, 170)
_given = set()


def free_port():
    base = os.environ.get("SK_TEST_PORT_BASE")
    candidates = [0] if not base else \
        [int(base) + i for i in range(*_PORT_WINDOW) if int(base) + i not in _given]
    for port in candidates:
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            port = s.getsockname()[1]
            _given.add(port)
            return port
    raise RuntimeError("no free port in SK_TEST_PORT_BASE+%d..+%d" % _PORT_WINDOW)


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class Response:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers
        self.body = body

    def json(self):
        return json.loads(self.body or b"null")


def http(method, url, body=None, headers=None, timeout=30):
    data = body if isinstance(body, (bytes, type(None))) else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return Response(resp.status, resp.headers, resp.read())
    except urllib.error.HTTPError as exc:
        return Response(exc.code, exc.headers, exc.read())


class GcpSim:
    """One gcpsim.py process; start() and stop() may be repeated (the
    state directory survives, as a restart would see it)."""

    def __init__(self, workdir, extra=()):
        self.dir = tempfile.mkdtemp(prefix="gcpsim-", dir=workdir)
        self.state_dir = os.path.join(self.dir, "state")
        self.key_file = os.path.join(self.dir, "sa-key.json")
        self.adc_file = os.path.join(self.dir, "adc.json")
        self.port = free_port()
        self.ar_port = None
        self.endpoint = "http://127.0.0.1:%d" % self.port
        self.extra = list(extra)
        self.engine = os.environ.get("SK_ENGINE_HOST")
        self.registry = os.environ.get("SK_REGISTRY")
        if self.registry:
            self.ar_port = free_port()
        self.proc = None
        self.log_path = os.path.join(self.dir, "gcpsim.log")
        self._token = None

    def start(self):
        args = [PYTHON, os.path.join(HERE, "gcpsim.py"), "--port", str(self.port),
                "--project", PROJECT, "--region", REGION, "--state-dir", self.state_dir,
                "--key-out", self.key_file, "--adc-out", self.adc_file]
        if self.engine:
            args += ["--engine", self.engine]
        if self.registry:
            args += ["--registry", self.registry, "--ar-port", str(self.ar_port)]
        self.log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(args + self.extra, stdout=self.log,
                                     stderr=subprocess.STDOUT)
        deadline = time.time() + 60
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("gcpsim exited: " + self.log_text()[-3000:])
            try:
                if self.get("/_sim/health").json() == {"ok": True}:
                    return self
            except OSError:
                pass
            time.sleep(0.1)
        raise RuntimeError("gcpsim did not start: " + self.log_text()[-3000:])

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None
        self.log.close()
        self._token = None

    def log_text(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def key(self):
        with open(self.key_file) as f:
            return json.load(f)

    def sign(self, header, claims, key=None):
        """A JWT signed with the key file's private key (or key, a PEM)."""
        pem = os.path.join(self.dir, "sign.pem")
        fd = os.open(pem, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(key or self.key()["private_key"])
        signing = b64url(json.dumps(header).encode()) + "." + b64url(json.dumps(claims).encode())
        sig = subprocess.run(["openssl", "dgst", "-sha256", "-sign", pem], input=signing.encode(),
                             check=True, capture_output=True).stdout
        return signing + "." + b64url(sig)

    def assertion(self, **override):
        key = self.key()
        now = int(time.time())
        claims = {"iss": key["client_email"], "scope": SCOPE, "aud": key["token_uri"],
                  "iat": now, "exp": now + 3600}
        claims.update(override)
        claims = {k: v for k, v in claims.items() if v is not None}
        return self.sign({"alg": "RS256", "typ": "JWT", "kid": key["private_key_id"]}, claims)

    def token_request(self, form):
        return http("POST", self.endpoint + "/token", urllib.parse.urlencode(form).encode(),
                    {"Content-Type": "application/x-www-form-urlencoded"})

    def token(self):
        if self._token is None:
            resp = self.token_request({"grant_type": JWT_BEARER, "assertion": self.assertion()})
            assert resp.status == 200, resp.body
            self._token = resp.json()["access_token"]
        return self._token

    def call(self, method, path, body=None, token=None, headers=None):
        """An authenticated API call (token: this simulator's own)."""
        headers = dict(headers or {})
        headers.setdefault("Authorization", "Bearer " + (token or self.token()))
        if body is not None:
            headers.setdefault("Content-Type", "application/json")
        return http(method, self.endpoint + path, body, headers)

    def get(self, path, headers=None):
        return http("GET", self.endpoint + path, headers=headers)

    def post(self, path, body=None):
        return http("POST", self.endpoint + path, body if body is not None else {})

    def delete(self, path):
        return http("DELETE", self.endpoint + path)


@pytest.fixture(scope="session")
def workdir():
    path = tempfile.mkdtemp(prefix="gcpsim-tests-")
    yield path


@pytest.fixture(scope="session")
def sim(workdir):
    s = GcpSim(workdir).start()
    yield s
    s.stop()


@pytest.fixture
def fresh_sim(workdir):
    made = []

    def make(*extra):
        s = GcpSim(workdir, extra).start()
        made.append(s)
        return s
    yield make
    for s in made:
        s.stop()


@pytest.fixture(autouse=True)
def _clear_faults(request):
    yield
    if "sim" in request.fixturenames:
        request.getfixturevalue("sim").delete("/_sim/faults")
