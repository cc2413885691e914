"""Private registries (issue 17, docs/registries.md): `docker login`
(POST /auth) checked against a registry that requires credentials, and
`docker run` of an image only that registry has, through the real docker
CLI and docker-py. The registry is Debian's docker-registry with htpasswd
(bcrypt) auth, started here on SK_TEST_PORT_BASE+170 and seeded from the
test bed (authreg.py). On ECS the credentials travel as a Secrets Manager
secret in the task definition's repositoryCredentials: the simulator's
call counts show it made and deleted, and a rotated password fails the
task's pull as ECS does (CannotPullContainerError). The Lambda suite runs
the same tests (tests/e2e_lambda/test_registry_lambda.py), where the
credentials are the source of the derived image's copy."""
import json
import os
import shutil
import tempfile
import uuid

import docker
import pytest

from authreg import AuthRegistry, bed_registry
from e2e_lib import HOST, PORT_BASE, TARGET, dk, sim_call, sim_url

BACKEND = os.environ.get("SK_BACKEND", "ecs")
ECS = BACKEND == "ecs" and sim_url() is not None

pytestmark = pytest.mark.skipif(
    TARGET != "sockerless" or not bed_registry(),
    reason="needs sockerless and the test bed's registry (the reference "
           "engine cannot reach a loopback registry of this host)")


@pytest.fixture(scope="module")
def areg():
    d = tempfile.mkdtemp(prefix="sk-areg-")
    r = AuthRegistry(d, PORT_BASE + 170, bed_registry())
    try:
        r.up()
    except Exception:
        shutil.rmtree(d, ignore_errors=True)
        raise
    yield r
    # The image goes with its registry: nothing of it is left in the state.
    got = dk("image", "inspect", "--format", "{{.Id}}", r.image)
    if got.returncode == 0 and got.stdout.strip():
        dk("rmi", "-f", got.stdout.strip())
    r.down()


@pytest.fixture
def dcfg():
    """A fresh DOCKER_CONFIG: docker login writes there, nowhere else."""
    d = tempfile.mkdtemp(prefix="sk-dcfg-")
    yield d
    shutil.rmtree(d, ignore_errors=True)


def dkc(cfg, *args, **kw):
    old = os.environ.get("DOCKER_CONFIG")
    os.environ["DOCKER_CONFIG"] = cfg
    try:
        return dk(*args, **kw)
    finally:
        if old is None:
            os.environ.pop("DOCKER_CONFIG", None)
        else:
            os.environ["DOCKER_CONFIG"] = old


def login(cfg, r, password=None):
    return dkc(cfg, "login", r.host, "-u", r.user, "--password-stdin",
               input=(password or r.password) + "\n")


def calls():
    return sim_call("GET", "/_sim/calls") if ECS else {}


def test_login_cli(areg, dcfg):
    """Wrong password: dockerd's sentence, nothing stored; right one:
    Login Succeeded and the CLI's config holds the registry."""
    p = login(dcfg, areg, "not-the-password")
    assert p.returncode != 0, (p.stdout, p.stderr)
    assert (f"login attempt to http://{areg.host}/v2/ failed with status: 401 Unauthorized"
            in p.stderr), p.stderr
    p = login(dcfg, areg)
    assert p.returncode == 0, (p.stdout, p.stderr)
    assert "Login Succeeded" in p.stdout
    with open(os.path.join(dcfg, "config.json")) as f:
        assert areg.host in json.load(f)["auths"]


def test_login_dockerpy(areg):
    c = docker.DockerClient(base_url=HOST, version="1.44")
    try:
        with pytest.raises(docker.errors.APIError) as ei:
            c.login(username=areg.user, password="nope", registry=areg.host, reauth=True)
        assert ei.value.status_code == 401
        assert "401 Unauthorized" in str(ei.value.explanation)
        out = c.login(username=areg.user, password=areg.password, registry=areg.host,
                      reauth=True)
        assert out["Status"] == "Login Succeeded"
        assert out.get("IdentityToken", "") == ""
    finally:
        c.close()


def test_login_bad_body():
    """A body that is not an AuthConfig: 400 from the API."""
    c = docker.APIClient(base_url=HOST, version="1.44")
    try:
        r = c._post_json(c._url("/auth"), data={"username": 7})
        assert r.status_code == 400
        assert "AuthConfig.username" in r.json()["message"]
    finally:
        c.close()


def test_pull_without_credentials(areg):
    """Without credentials a client's pull is refused, whoever logged in
    before (as dockerd: remembered credentials serve workloads only).
    docker-py: the CLI would prompt for a login instead."""
    c = docker.APIClient(base_url=HOST, version="1.44")
    try:
        with pytest.raises(docker.errors.APIError) as ei:
            c.pull(areg.image.rsplit(":", 1)[0], tag="latest")
        assert ei.value.status_code in (401, 404), ei.value
        assert "unauthorized" in str(ei.value.explanation).lower(), ei.value.explanation
    finally:
        c.close()


def test_run_private(areg, dcfg):
    """docker login, then docker run of the private image: the CLI's
    create gets 404, pulls with X-Registry-Auth, creates again without
    it; the backend hands the credentials to the cloud's pull. On ECS the
    secret is made for the task and gone with the container."""
    assert login(dcfg, areg).returncode == 0
    before = calls()
    name = f"skreg-{uuid.uuid4().hex[:8]}"
    try:
        p = dkc(dcfg, "run", "--name", name, areg.image, "echo", "hello-private", timeout=240)
        assert p.returncode == 0, (p.stdout, p.stderr)
        assert "hello-private" in p.stdout
        if ECS:
            after = calls()
            assert after.get("secretsmanager.CreateSecret", 0) == \
                before.get("secretsmanager.CreateSecret", 0) + 1
    finally:
        dk("rm", "-f", name)
    if ECS:
        gone = calls()
        assert gone.get("secretsmanager.DeleteSecret", 0) == \
            before.get("secretsmanager.DeleteSecret", 0) + 1


@pytest.mark.skipif(not ECS, reason="ECS: the task's own pull with repositoryCredentials")
def test_ecs_rotated_password(areg, dcfg):
    """The image known and the credentials accepted once, then the
    registry's password changes: the task's pull fails as ECS says it,
    and docker run reports it."""
    assert login(dcfg, areg).returncode == 0
    assert dkc(dcfg, "pull", areg.image).returncode == 0
    old = areg.password
    areg.set_password("rotated-" + uuid.uuid4().hex[:6])
    name = f"skreg-{uuid.uuid4().hex[:8]}"
    try:
        p = dkc(dcfg, "run", "--name", name, areg.image, "true", timeout=240)
        assert p.returncode != 0, (p.stdout, p.stderr)
        assert "CannotPullContainerError" in p.stderr, p.stderr
    finally:
        dk("rm", "-f", name)
        areg.set_password(old)
