"""Fixtures for the AWS simulator tests: a running awssim.py on a free port
(temporary state directory, responses checked against the models) and
botocore clients for it. The engine and registry come from the test bed:
SK_ENGINE_HOST (unix:///.../docker.sock) and SK_REGISTRY (127.0.0.1:PORT);
without them every test is skipped."""

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

import botocore.config
import botocore.session
import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
PYTHON = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else sys.executable
REGION = "us-east-1"
ACCOUNT = "123456789012"
ACCESS_KEY = "AKIDSOCKERLESSTEST"
SECRET_KEY = "sockerless-test-secret"
EXEC_ROLE = "arn:aws:iam::%s:role/ecsTaskExecutionRole" % ACCOUNT
VPC, SUBNET, DEFAULT_GROUP = "vpc-0test", "subnet-0test", "sg-0test"


def pytest_configure(config):
    config.addinivalue_line("filterwarnings",
                            "ignore:distutils Version classes are deprecated:DeprecationWarning")


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def bed():
    engine, registry = os.environ.get("SK_ENGINE_HOST"), os.environ.get("SK_REGISTRY")
    if not engine or not registry:
        pytest.skip("SK_ENGINE_HOST / SK_REGISTRY not set (no test bed)")
    return engine, registry


class Sim:
    """One awssim.py process. start() and stop() may be repeated: the state
    directory survives, as a restart of the simulator would see it."""

    def __init__(self, engine, registry, state_dir, extra=()):
        self.engine = engine
        self.registry = registry
        self.state_dir = state_dir
        self.extra = list(extra)
        self.port = _free_port()
        self.endpoint = "http://127.0.0.1:%d" % self.port
        self.proc = None
        self.log_path = os.path.join(state_dir, "..", "awssim-%d.log" % self.port)

    def start(self):
        self.log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            [PYTHON, os.path.join(HERE, "awssim.py"), "--port", str(self.port),
             "--engine", self.engine, "--registry", self.registry, "--region", REGION,
             "--account", ACCOUNT, "--access-key", ACCESS_KEY, "--secret-key", SECRET_KEY,
             "--state-dir", self.state_dir, "--check-responses", "--shutdown-stop-timeout", "1",
             "--vpc-id", VPC, "--subnet-id", SUBNET, "--security-group-id", DEFAULT_GROUP]
            + self.extra, stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.time() + 30
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("awssim exited: " + self.log_text()[-3000:])
            try:
                if self.get("/_sim/health") == {"ok": True}:
                    return self
            except OSError:
                pass
            time.sleep(0.1)
        raise RuntimeError("awssim did not start: " + self.log_text()[-3000:])

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

    def log_text(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def _http(self, method, path, body=None):
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.endpoint + path, data=data, method=method)
        with urllib.request.urlopen(req, timeout=10) as resp:
            return json.loads(resp.read() or b"null")

    def get(self, path):
        return self._http("GET", path)

    def post(self, path, body=None):
        return self._http("POST", path, body if body is not None else {})

    def delete(self, path):
        return self._http("DELETE", path)

    def client(self, service, key=ACCESS_KEY, secret=SECRET_KEY, token=None, **config):
        config.setdefault("retries", {"total_max_attempts": 1, "mode": "standard"})
        return botocore.session.get_session().create_client(
            service, endpoint_url=self.endpoint, region_name=REGION,
            aws_access_key_id=key, aws_secret_access_key=secret, aws_session_token=token,
            config=botocore.config.Config(**config))


@pytest.fixture(scope="session")
def workdir():
    d = tempfile.mkdtemp(prefix="awssim-test-")
    yield d
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture(scope="session")
def sim(workdir):
    engine, registry = bed()
    state = os.path.join(workdir, "state")
    os.makedirs(state)
    s = Sim(engine, registry, state).start()
    yield s
    s.stop()
    leftovers = containers_of(engine, state)
    assert leftovers == [], "awssim left containers behind: %s" % leftovers
    text = s.log_text()
    assert "Traceback" not in text, text[text.index("Traceback") - 2000:][:6000]


@pytest.fixture
def fresh_sim(workdir):
    """A simulator of the test's own (restartable, own state directory)."""
    engine, registry = bed()
    state = tempfile.mkdtemp(dir=workdir)
    sims = []

    def make(*extra):
        s = Sim(engine, registry, state, extra)
        sims.append(s)
        return s
    yield make
    for s in sims:
        s.stop() if s.proc else None


@pytest.fixture(autouse=True)
def _clear_faults(request):
    yield
    if "sim" in request.fixturenames:
        request.getfixturevalue("sim").delete("/_sim/faults")


def containers_of(engine, state_dir):
    import docker
    client = docker.DockerClient(base_url=engine, version="1.41")
    try:
        return [c.name for c in client.containers.list(
            all=True, ignore_removed=True,
            filters={"label": "sockerless.awssim.owner=%s"
                     % os.path.realpath(state_dir)})]
    finally:
        client.close()


@pytest.fixture(scope="session")
def ecs(sim):
    return sim.client("ecs")


@pytest.fixture(scope="session")
def logs(sim):
    return sim.client("logs")


@pytest.fixture(scope="session")
def cluster(ecs):
    ecs.create_cluster(clusterName="test")
    return "test"


@pytest.fixture(scope="session")
def log_group(logs):
    logs.create_log_group(logGroupName="/test/containers")
    return "/test/containers"


def task_definition(ecs, family, command, log_group=None, **container):
    """Register a one-container busybox Fargate task definition as the
    ECS backend does; returns its ARN."""
    definition = {"name": "main", "image": "busybox", "essential": True,
                  "command": command}
    if log_group:
        definition["logConfiguration"] = {"logDriver": "awslogs", "options": {
            "awslogs-group": log_group, "awslogs-region": REGION,
            "awslogs-stream-prefix": "sk"}}
    definition.update(container)
    out = ecs.register_task_definition(
        family=family, requiresCompatibilities=["FARGATE"], networkMode="awsvpc",
        cpu="256", memory="512", executionRoleArn=EXEC_ROLE,
        containerDefinitions=[definition])
    return out["taskDefinition"]["taskDefinitionArn"]


NETWORK = {"awsvpcConfiguration": {"subnets": [SUBNET], "securityGroups": [DEFAULT_GROUP],
                                   "assignPublicIp": "DISABLED"}}


def with_extra_members(client, operation, extra):
    """Call operation with members Debian's botocore model lacks (RunTask
    clientToken), added to the serialized JSON body before signing."""
    def add(params, **_):
        body = json.loads(params["body"] or b"{}")
        body.update(extra)
        params["body"] = json.dumps(body).encode()
    event = "before-call.%s.%s" % (client.meta.service_model.endpoint_prefix, operation)
    client.meta.events.register(event, add, unique_id="sk-extra")
    return lambda: client.meta.events.unregister(event, unique_id="sk-extra")


def run(ecs, cluster, td, clientToken=None, **kw):
    undo = with_extra_members(ecs, "RunTask", {"clientToken": clientToken}) \
        if clientToken else (lambda: None)
    try:
        out = ecs.run_task(cluster=cluster, taskDefinition=td, launchType="FARGATE",
                           networkConfiguration=NETWORK, **kw)
    finally:
        undo()
    assert out["failures"] == [], out["failures"]
    assert len(out["tasks"]) == 1
    return out["tasks"][0]


def wait_status(ecs, cluster, arn, status, timeout=60):
    """Poll DescribeTasks until lastStatus is status (or STOPPED); returns
    the task and the statuses seen."""
    seen = []
    deadline = time.time() + timeout
    while time.time() < deadline:
        task = ecs.describe_tasks(cluster=cluster, tasks=[arn])["tasks"][0]
        if not seen or seen[-1] != task["lastStatus"]:
            seen.append(task["lastStatus"])
        if task["lastStatus"] in (status, "STOPPED"):
            return task, seen
        time.sleep(0.1)
    raise AssertionError("task %s did not reach %s; saw %s" % (arn, status, seen))


def task_id(arn):
    return arn.rsplit("/", 1)[1]
