"""The container images (`make images`: deploy/mkimage.py) and the side-by-side
deployment (deploy/compose.yaml) on the test bed's engine: the images are
built once, pushed with sockerless-push (common/reg), loaded with `docker
load`; the compose project comes up with the ECS backend against the AWS
simulator, runs containers for the docker CLI, swaps to the Lambda backend
while a client keeps its connection to the frontend, runs again, goes down.

tests/run.sh (suite deploy) sets SK_BUILD (the binaries), SK_PUSH (the
sockerless-push to run, the ASan build's when there is one), SK_ENGINE_HOST
(the bed engine that runs the simulator's tasks: host network, no bridge),
SK_REGISTRY and SK_SIM_PORT (the e2e stack's registry and AWS simulator)."""
import http.client
import json
import os
import shutil
import socket
import subprocess
import tarfile
import time
import urllib.request
import uuid

import pytest

ROOT = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
MKIMAGE = os.path.join(ROOT, "deploy", "mkimage.py")
COMPOSE = os.path.join(ROOT, "deploy", "compose.yaml")
BUILD = os.environ.get("SK_BUILD", os.path.join(ROOT, "build"))
ENGINE = os.environ.get("SK_ENGINE_HOST", "")
REGISTRY = os.environ.get("SK_REGISTRY", "")
SIM_PORT = os.environ.get("SK_SIM_PORT", "")
DOCKER = shutil.which("docker", path="/usr/local/bin:/usr/bin")
NAMES = ["frontend"] + ["backend-" + b for b in
                        ("ecs", "lambda", "cloudrun", "gcf", "aca", "azfunc")] + ["agent"]
ACCOUNT = "123456789012"
REGION = "us-east-1"
CREDS = {"AWS_ACCESS_KEY_ID": "AKIDSOCKERLESSTEST",
         "AWS_SECRET_ACCESS_KEY": "sockerless-test-secret"}
RUN_ID = uuid.uuid4().hex[:8]

pytestmark = pytest.mark.skipif(
    not (ENGINE and REGISTRY and SIM_PORT),
    reason="needs SK_ENGINE_HOST, SK_REGISTRY and SK_SIM_PORT (tests/run.sh suite deploy)")


def run(*args, env=None, timeout=300, check=True):
    p = subprocess.run(list(args), env=env, capture_output=True, text=True, timeout=timeout)
    if check:
        assert p.returncode == 0, "%s: %s%s" % (" ".join(args), p.stdout, p.stderr)
    return p


def engine(*args, **kw):
    return run(DOCKER, *args, env=dict(os.environ, DOCKER_HOST=ENGINE), **kw)


def layout_manifest(directory):
    with open(os.path.join(directory, "index.json")) as f:
        index = json.load(f)
    desc = index["manifests"][0]
    with open(os.path.join(directory, "blobs", "sha256", desc["digest"][7:]), "rb") as f:
        return desc, json.load(f)


def blob(directory, digest, mode="rb"):
    with open(os.path.join(directory, "blobs", "sha256", digest[7:]), mode) as f:
        return f.read() if mode == "rb" else json.load(f)


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    """`make images` of this build, once: {name: layout directory}."""
    out = tmp_path_factory.mktemp("images")
    p = run(MKIMAGE, "build", "--build", BUILD, "--out", str(out),
            "--source", "https://example.invalid/sockerless.git", timeout=600)
    print(p.stdout)
    return {n: str(out / n) for n in NAMES}


def test_every_image_is_a_layout_and_a_tarball(images):
    for name, d in images.items():
        with open(os.path.join(d, "oci-layout")) as f:
            assert json.load(f) == {"imageLayoutVersion": "1.0.0"}
        desc, manifest = layout_manifest(d)
        assert desc["mediaType"] == manifest["mediaType"]
        notes = manifest["annotations"]
        assert notes["org.opencontainers.image.version"]
        assert len(notes["org.opencontainers.image.revision"]) == 40
        assert notes["org.opencontainers.image.source"] == \
            "https://example.invalid/sockerless.git"
        config = blob(d, manifest["config"]["digest"], "r")
        assert config["config"]["Labels"] == dict(
            notes, **{"org.opencontainers.image.title": "sockerless-" + name})
        with tarfile.open(d + ".tar") as t:
            loaded = json.load(t.extractfile("manifest.json"))
            assert loaded[0]["RepoTags"][1] == "sockerless/%s:latest" % name
            assert "index.json" in t.getnames()


def test_daemon_images_hold_their_libraries_and_a_user(images):
    for name in NAMES[:-1]:
        d = images[name]
        _, manifest = layout_manifest(d)
        config = blob(d, manifest["config"]["digest"], "r")
        assert config["config"]["User"] == "10001:10001"
        files = {}
        for layer in manifest["layers"]:
            with tarfile.open(os.path.join(d, "blobs", "sha256", layer["digest"][7:])) as t:
                files.update({m.name: m for m in t.getmembers()})
        assert files["usr/bin/sockerless-" + name].isfile()
        assert files["usr/lib64/ld-linux-x86-64.so.2"].issym()
        assert files["usr/lib/x86_64-linux-gnu/libc.so.6"].isfile()
        assert files["etc/ssl/certs/ca-certificates.crt"].size > 0
        assert files["run/sockerless/internal"].uid == 10001
        assert files["var/lib/sockerless"].uid == 10001
        assert not any(n.startswith("bin/") or n.endswith("/sh") for n in files)
        if name != "frontend":
            assert files["usr/lib/sockerless/sockerless-agent"].mode == 0o755
            assert "usr/lib/x86_64-linux-gnu/libcurl.so.4" in files


def test_the_same_tree_gives_the_same_digests(images, tmp_path):
    run(MKIMAGE, "build", "--build", BUILD, "--out", str(tmp_path),
        "--source", "https://example.invalid/sockerless.git", "frontend", "agent")
    for name in ("frontend", "agent"):
        assert layout_manifest(str(tmp_path / name))[0]["digest"] == \
            layout_manifest(images[name])[0]["digest"]


def test_agent_image_keeps_the_layer_agent_image_py_pushes(images, tmp_path):
    """The ECS and aca init containers' contract: /sockerless-agent alone."""
    run(os.path.join(ROOT, "deploy", "agent-image.py"), "--agent",
        os.path.join(BUILD, "sockerless-agent"), "--oci-dir", str(tmp_path / "old"))
    _, old = layout_manifest(str(tmp_path / "old"))
    _, new = layout_manifest(images["agent"])
    assert [lay["digest"] for lay in new["layers"]] == [lay["digest"] for lay in old["layers"]]
    config = blob(images["agent"], new["config"]["digest"], "r")["config"]
    assert config["Entrypoint"] == ["/sockerless-agent"]


PUSH = os.environ.get("SK_PUSH") or os.path.join(BUILD, "sockerless-push")


@pytest.fixture(scope="module")
def agent_ref(images):
    """The agent image pushed with sockerless-push (common/reg): what
    ecs.agent_image names."""
    ref = "%s/sockerless/agent:compose-%s" % (REGISTRY, RUN_ID)
    p = run(PUSH, images["agent"], ref)
    digest = p.stdout.strip()
    assert digest == layout_manifest(images["agent"])[0]["digest"]
    req = urllib.request.Request(
        "http://%s/v2/sockerless/agent/manifests/compose-%s" % (REGISTRY, RUN_ID),
        method="HEAD", headers={"Accept": "application/vnd.oci.image.manifest.v1+json"})
    with urllib.request.urlopen(req, timeout=30) as r:
        assert r.headers["Docker-Content-Digest"] == digest
    return ref


@pytest.fixture(scope="module")
def loaded(images):
    for name in NAMES:
        p = engine("load", "-i", images[name] + ".tar", timeout=300)
        assert "sockerless/%s:latest" % name in p.stdout
    return images


def test_pushed_image_pulls_and_runs(images):
    """A daemon image through the registry: pushed twice (the second finds
    every blob there), pulled by the engine, run."""
    ref = "%s/sockerless/frontend:push-%s" % (REGISTRY, RUN_ID)
    want = layout_manifest(images["frontend"])[0]["digest"]
    for _ in range(2):
        assert run(PUSH, images["frontend"], ref).stdout.strip() == want
    engine("pull", ref)
    p = engine("run", "--rm", "--network", "none", ref, "--help")
    assert "usage: sockerless-frontend" in p.stdout + p.stderr
    engine("rmi", ref)


def test_push_refuses_what_it_cannot_push(images, tmp_path):
    bad = tmp_path / "bad"
    shutil.copytree(images["agent"], bad)
    _, manifest = layout_manifest(str(bad))
    os.unlink(bad / "blobs" / "sha256" / manifest["layers"][0]["digest"][7:])
    p = run(PUSH, str(bad), "%s/sockerless/bad:x" % REGISTRY, check=False)
    assert p.returncode == 1 and "No such file" in p.stderr, p.stderr
    p = run(PUSH, images["agent"], "%s/sockerless/agent@sha256:%s" % (REGISTRY, "0" * 64),
            check=False)
    assert p.returncode == 1 and "needs a tag" in p.stderr, p.stderr
    # nothing listens there: the registry client's 502 names the host
    p = run(PUSH, images["agent"], "127.0.0.1:9/sockerless/agent:x", check=False)
    assert p.returncode == 1 and "127.0.0.1:9" in p.stderr, p.stderr


def test_loaded_images_run_as_non_root(loaded):
    for name in NAMES[:-1]:
        # the loader finds every library: the program runs
        p = engine("run", "--rm", "--network", "none", "sockerless/%s:latest" % name,
                   "--help")
        assert "usage: sockerless-" + name in p.stdout + p.stderr
        labels = json.loads(engine("image", "inspect", "--format", "{{json .Config}}",
                                   "sockerless/%s:latest" % name).stdout)
        assert labels["User"] == "10001:10001"
        assert labels["Labels"]["org.opencontainers.image.title"] == "sockerless-" + name


# --- the compose project ------------------------------------------------------

class UnixConnection(http.client.HTTPConnection):
    def __init__(self, path):
        super().__init__("localhost", timeout=300)
        self.path = path

    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(300)
        self.sock.connect(self.path)


def call(conn, method, path):
    conn.request(method, path)
    r = conn.getresponse()
    body = r.read()
    return r.status, r.headers, body


@pytest.fixture(scope="module")
def project(loaded, agent_ref, tmp_path_factory):
    d = tmp_path_factory.mktemp("compose")
    etc, api = d / "etc", d / "run"
    etc.mkdir()
    api.mkdir()
    os.chown(api, 10001, 10001)
    sim = "http://127.0.0.1:%s" % SIM_PORT
    (etc / "backend-ecs.yaml").write_text(
        "registry_mirrors: [http://%s]\n"
        "ecs:\n  region: %s\n  cluster: sockerless\n  subnets: [subnet-0local]\n"
        "  security_groups: [sg-0local]\n"
        "  execution_role_arn: arn:aws:iam::%s:role/ecsTaskExecutionRole\n"
        "  endpoint: %s\n  agent: true\n  agent_image: %s\n"
        % (REGISTRY, REGION, ACCOUNT, sim, agent_ref))
    (etc / "backend-lambda.yaml").write_text(
        "registry_mirrors: [http://%s]\n"
        "registry_endpoints: [%s.dkr.ecr.%s.amazonaws.com=http://%s]\n"
        "lambda:\n  region: %s\n  role_arn: arn:aws:iam::%s:role/sockerless-lambda\n"
        "  endpoint: %s\n" % (REGISTRY, ACCOUNT, REGION, REGISTRY, REGION, ACCOUNT, sim))
    base = dict(os.environ, DOCKER_HOST=ENGINE, COMPOSE_PROJECT_NAME="skcompose" + RUN_ID,
                SOCKERLESS_CONFIG_DIR=str(etc), SOCKERLESS_API_DIR=str(api), **CREDS)
    for k in ("DOCKER_CONTEXT", "DOCKER_TLS_VERIFY", "DOCKER_CERT_PATH"):
        base.pop(k, None)

    def compose(backend, *args, check=True, background=False):
        env = dict(base, SOCKERLESS_BACKEND=backend)
        if background:
            return subprocess.Popen(
                ["docker-compose", "-f", COMPOSE, "--project-directory", str(d), *args],
                env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        return run("docker-compose", "-f", COMPOSE, "--project-directory", str(d), *args,
                   env=env, check=check)

    sock = str(api / "docker.sock")
    yield compose, sock
    p = compose("ecs", "logs", "--no-color", check=False)
    print(p.stdout[-20000:])
    compose("ecs", "down", "--volumes", "--remove-orphans", "--timeout", "30", check=False)


def wait_backend(conn, name):
    """Asks the frontend on conn until the backend answering is name; the
    503s while no backend answers are the frontend's, on the same connection."""
    deadline = time.monotonic() + 120
    seen = []
    while time.monotonic() < deadline:
        status, headers, body = call(conn, "GET", "/v1.44/version")
        seen.append(status)
        if status == 200 and (headers.get("Sockerless-Backend") or "").startswith(name + "/"):
            return ["%d %s" % (status, name)]
        if status not in (200, 503):
            pytest.fail("GET /version: %d %s" % (status, body[:300]))
        if status == 503:
            assert b"backend" in body, body
        time.sleep(0.5)
    pytest.fail("the %s backend did not answer: %s" % (name, seen[-5:]))


def client(sock, *args, timeout=300):
    return run(DOCKER, *args, env=dict(os.environ, DOCKER_HOST="unix://" + sock),
               timeout=timeout, check=False)


def test_compose_up_run_swap_run(project):
    compose, sock = project
    compose("ecs", "up", "-d")
    deadline = time.monotonic() + 60
    while not os.path.exists(sock) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert os.path.exists(sock), compose("ecs", "logs", "--no-color").stdout
    frontend = compose("ecs", "ps", "-q", "frontend").stdout.strip()
    assert frontend

    conn = UnixConnection(sock)
    wait_backend(conn, "ecs")
    kept = conn.sock
    p = client(sock, "run", "--rm", "busybox", "echo", "hi-from-ecs")
    assert p.returncode == 0 and p.stdout == "hi-from-ecs\n", p.stderr
    info = json.loads(client(sock, "info", "--format", "{{json .}}").stdout)
    assert "sockerless.backend=ecs" in info["Labels"]

    # the swap: only the backend container is replaced; the client asks
    # on its one connection all along
    swap = compose("lambda", "up", "-d", background=True)
    seen = []
    while swap.poll() is None:
        status, headers, _ = call(conn, "GET", "/v1.44/version")
        seen.append("%d %s" % (status, (headers.get("Sockerless-Backend") or "-").split("/")[0]))
        time.sleep(0.2)
    out, err = swap.communicate()
    assert swap.returncode == 0, out + err
    assert frontend == compose("lambda", "ps", "-q", "frontend").stdout.strip(), err
    seen += wait_backend(conn, "lambda")
    # what the client saw, for the record (how many of each depends on
    # when the calls land): 200 from ecs, 503 while none answers, 200
    # from lambda
    print("GET /version on the kept connection during the swap:", seen)
    assert conn.sock is kept, "the client's connection was not kept"
    status, _, body = call(conn, "GET", "/v1.44/info")
    assert status == 200 and "AWS Lambda" in json.loads(body)["OperatingSystem"]
    assert conn.sock is kept
    p = client(sock, "run", "--rm", "busybox", "echo", "hi-from-lambda")
    assert p.returncode == 0 and p.stdout == "hi-from-lambda\n", p.stderr
    # what Lambda cannot do is the new backend's capability (refetched)
    p = client(sock, "network", "create", "sk-compose-" + RUN_ID)
    assert p.returncode != 0 and "lambda" in p.stderr, p.stderr
    conn.close()
    assert frontend == compose("lambda", "ps", "-q", "frontend").stdout.strip()
