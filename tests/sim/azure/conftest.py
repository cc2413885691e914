"""Fixtures for the Azure simulator tests: a running azuresim.py on a free
port (temporary state directory, its credentials env file), a way to sign
JWT assertions with the certificate key the simulator wrote (openssl:
Python's stdlib cannot sign RSA), token helpers per audience and an
authenticated ARM client. The engine and registry of the test bed
(SK_ENGINE_HOST, SK_REGISTRY) are passed when set (the ACR host then
listens too); tests that need them skip otherwise, the rest run anywhere.

Fixtures: `azsim` (the simulator as deployed: the service modules present
are loaded), `azsim_base` (the base alone plus azuresim_testroutes, for
the base's own tests), `fresh_azsim(*extra_args)` (a new one per test)."""

import base64
import json
import os
import re
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
import uuid

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
PYTHON = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else sys.executable
SUBSCRIPTION = "6a2bd1a0-0000-4000-8000-00000000a5c1"
TENANT = "7f3c9b0e-0000-4000-8000-0000000071d1"
RESOURCE_GROUP = "sockerless"
LOCATION = "westeurope"
API = "2025-07-01"
ARM_SCOPE = "https://management.azure.com/.default"
LOGS_SCOPE = "https://api.loganalytics.io/.default"
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


def pytest_configure(config):
    config.addinivalue_line("filterwarnings",
                            "ignore:distutils Version classes are deprecated:DeprecationWarning")


# With SK_TEST_PORT_BASE (tests/run.sh) the simulators take ports from
# base+120..+169 of the run's window (the sim suites run one after the
# other, so the GCP simulator's tests use the same window); without it,
# any free port.
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


def unb64url(text):
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def jwt_claims(token):
    return json.loads(unb64url(token.split(".")[1]))


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


def read_env_file(path):
    """The variables of a `export K='V'` file."""
    out = {}
    with open(path) as f:
        for line in f:
            match = re.match(r"export (\w+)=(.*)$", line.strip())
            if match:
                out[match.group(1)] = shlex.split(match.group(2))[0]
    return out


class AzSim:
    """One azuresim.py process; start() and stop() may be repeated (the
    state directory survives, as a restart would see it)."""

    def __init__(self, workdir, extra=()):
        self.dir = tempfile.mkdtemp(prefix="azuresim-", dir=workdir)
        self.state_dir = os.path.join(self.dir, "state")
        self.creds_file = os.path.join(self.dir, "creds.env")
        self.port = free_port()
        self.url = "http://127.0.0.1:%d" % self.port
        self.extra = list(extra)
        self.engine = os.environ.get("SK_ENGINE_HOST")
        self.registry = os.environ.get("SK_REGISTRY")
        self.acr_port = free_port() if self.registry else None
        self.acr_url = "http://127.0.0.1:%d" % self.acr_port if self.acr_port else None
        self.proc = None
        self.log_path = os.path.join(self.dir, "azuresim.log")
        self._tokens = {}
        self.creds = {}

    def start(self):
        args = [PYTHON, os.path.join(HERE, "azuresim.py"), "--port", str(self.port),
                "--subscription", SUBSCRIPTION, "--resource-group", RESOURCE_GROUP,
                "--location", LOCATION, "--tenant", TENANT, "--state-dir", self.state_dir,
                "--creds-out", self.creds_file]
        if self.engine:
            args += ["--engine", self.engine]
        if self.registry:
            args += ["--registry", self.registry, "--acr-port", str(self.acr_port)]
        self.log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(args + self.extra, stdout=self.log,
                                     stderr=subprocess.STDOUT)
        deadline = time.time() + 60
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("azuresim exited: " + self.log_text()[-3000:])
            try:
                if http("GET", self.url + "/_sim/health").json() == {"ok": True}:
                    self.creds = read_env_file(self.creds_file)
                    return self
            except OSError:
                pass
            time.sleep(0.1)
        raise RuntimeError("azuresim did not start: " + self.log_text()[-3000:])

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
        self._tokens = {}

    def log_text(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    # Identity.

    @property
    def token_url(self):
        return "%s/%s/oauth2/v2.0/token" % (self.url, TENANT)

    def token_request(self, form, tenant=TENANT):
        return http("POST", "%s/%s/oauth2/v2.0/token" % (self.url, tenant),
                    urllib.parse.urlencode(form).encode(),
                    {"Content-Type": "application/x-www-form-urlencoded"})

    def secret_form(self, scope=ARM_SCOPE, **override):
        form = {"grant_type": "client_credentials", "client_id": self.creds["AZURE_CLIENT_ID"],
                "client_secret": self.creds["AZURE_CLIENT_SECRET"], "scope": scope}
        form.update(override)
        return {k: v for k, v in form.items() if v is not None}

    def token(self, scope=ARM_SCOPE):
        if scope not in self._tokens:
            resp = self.token_request(self.secret_form(scope))
            assert resp.status == 200, resp.body
            self._tokens[scope] = resp.json()["access_token"]
        return self._tokens[scope]

    def sign(self, header, claims, key_path=None, padded=False):
        """A JWT signed with the client certificate's key (or key_path's)."""
        enc = (lambda b: base64.urlsafe_b64encode(b).decode()) if padded else b64url
        signing = enc(json.dumps(header).encode()) + "." + enc(json.dumps(claims).encode())
        sig = subprocess.run(["openssl", "dgst", "-sha256", "-sign",
                              key_path or self.creds["AZURE_SK_CERT_PATH"]],
                             input=signing.encode(), check=True, capture_output=True).stdout
        return signing + "." + enc(sig)

    def thumbprint(self, sha256=False):
        der = subprocess.run(["openssl", "x509", "-in", self.creds["AZURE_SK_CERT_PATH"],
                              "-outform", "DER"], check=True, capture_output=True).stdout
        import hashlib
        return b64url((hashlib.sha256 if sha256 else hashlib.sha1)(der).digest())

    def cert_assertion(self, header=None, key_path=None, **override):
        now = int(time.time())
        client = self.creds["AZURE_CLIENT_ID"]
        claims = {"aud": self.token_url, "iss": client, "sub": client, "jti": str(uuid.uuid4()),
                  "nbf": now, "exp": now + 600}
        claims.update(override)
        claims = {k: v for k, v in claims.items() if v is not None}
        head = {"alg": "RS256", "typ": "JWT", "x5t": self.thumbprint()}
        head.update(header or {})
        return self.sign(head, claims, key_path)

    def assertion_form(self, assertion, scope=ARM_SCOPE):
        return {"grant_type": "client_credentials", "client_id": self.creds["AZURE_CLIENT_ID"],
                "client_assertion_type": ASSERTION_TYPE, "client_assertion": assertion,
                "scope": scope}

    # ARM.

    def arm_path(self, rest, rg=RESOURCE_GROUP, provider="Microsoft.App"):
        return "/subscriptions/%s/resourceGroups/%s/providers/%s/%s" % (SUBSCRIPTION, rg,
                                                                       provider, rest)

    def call(self, method, path, body=None, token=None, headers=None, api_version=API):
        """An authenticated call (token: the simulator's ARM one); path
        gets ?api-version= unless api_version is None or it has one."""
        headers = dict(headers or {})
        headers.setdefault("Authorization", "Bearer " + (token or self.token()))
        if body is not None:
            headers.setdefault("Content-Type", "application/json")
        url = path if path.startswith("http") else self.url + path
        if api_version is not None and "api-version=" not in url:
            url += ("&" if "?" in url else "?") + "api-version=" + api_version
        return http(method, url, body, headers)

    def get(self, path, headers=None):
        return http("GET", self.url + path, headers=headers)

    def post(self, path, body=None):
        return http("POST", self.url + path, body if body is not None else {})

    def delete(self, path):
        return http("DELETE", self.url + path)


@pytest.fixture(scope="session")
def workdir():
    return tempfile.mkdtemp(prefix="azuresim-tests-")


@pytest.fixture(scope="session")
def azsim(workdir):
    s = AzSim(workdir).start()
    yield s
    s.stop()


@pytest.fixture(scope="session")
def azsim_base(workdir):
    s = AzSim(workdir, ["--module", "azuresim_testroutes"]).start()
    yield s
    s.stop()


@pytest.fixture
def fresh_azsim(workdir):
    made = []

    def make(*extra):
        s = AzSim(workdir, extra).start()
        made.append(s)
        return s
    yield make
    for s in made:
        s.stop()


@pytest.fixture(autouse=True)
def _clear_faults(request):
    yield
    for name in ("azsim", "azsim_base"):
        if name in request.fixturenames:
            request.getfixturevalue(name).delete("/_sim/faults")


def needs_bed():
    engine, registry = os.environ.get("SK_ENGINE_HOST"), os.environ.get("SK_REGISTRY")
    if not engine or not registry:
        pytest.skip("SK_ENGINE_HOST / SK_REGISTRY not set (no test bed)")
    return engine, registry
