"""Fixtures of the end-to-end suite; see e2e_lib.py for the environment
contract and the helpers."""
import os
import uuid

import pytest

from e2e_lib import HERE, HOST, RUN_LABEL, TARGET, api, dk, host_network


def volumes_off():
    """The capability's sentence when the backend under test has volumes
    off (POST /volumes/create answers 501, e.g. aca without
    aca.storage_account), else None."""
    if TARGET != "sockerless" or not HOST:
        return None
    name = f"skprobe-{uuid.uuid4().hex[:10]}"
    st, body = api("POST", "/volumes/create", {"Name": name})
    if st == 501:
        return (body or {}).get("message") or "volumes are off on this backend"
    if st in (200, 201):
        api("DELETE", f"/volumes/{name}")
    return None


def pytest_collection_modifyitems(config, items):
    if not HOST:
        skip = pytest.mark.skip(reason="SK_DOCKER_HOST is not set")
        for item in items:
            if str(item.fspath).startswith(HERE + os.sep):
                item.add_marker(skip)
        return
    # The volume files skip only when the backend says volumes are off,
    # and with its reason.
    vol = [item for item in items if os.path.basename(str(item.fspath)).startswith("test_vol_")]
    why = volumes_off() if vol else None
    if why:
        skip = pytest.mark.skip(reason=f"volumes are off on this backend (501): {why}")
        for item in vol:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def target():
    return TARGET


@pytest.fixture(scope="session", autouse=True)
def _session_cleanup():
    yield
    if not HOST:
        return
    ids = dk("ps", "-aq", "--filter", f"label={RUN_LABEL}", timeout=60).stdout.split()
    if ids:
        dk("rm", "-f", *ids, timeout=120)
    nets = dk("network", "ls", "-q", "--filter", f"label={RUN_LABEL}", timeout=60).stdout.split()
    if nets:
        dk("network", "rm", *nets, timeout=120)


@pytest.fixture
def docker():
    """docker(*args, timeout=120, check=False) -> CompletedProcess."""
    return dk


@pytest.fixture
def names(docker):
    """names() -> a fresh unique container name, removed after the test."""
    made = []

    def new(prefix="ske2e"):
        n = f"{prefix}-{uuid.uuid4().hex[:10]}"
        made.append(n)
        return n
    yield new
    if made:
        dk("rm", "-f", *made, timeout=120)


@pytest.fixture
def name(names):
    return names()


@pytest.fixture
def no_bridge():
    """Port publishing needs a network the reference bed lacks."""
    if host_network():
        pytest.skip("the reference engine has no bridge network (containers use --network host)")


@pytest.fixture
def netnames(docker):
    """netnames() -> a fresh unique network name, removed after the test
    together with this run's containers still attached to it (whatever the
    order in which the fixtures tear down)."""
    made = []

    def new(prefix="ske2enet"):
        n = f"{prefix}-{uuid.uuid4().hex[:10]}"
        made.append(n)
        return n
    yield new
    if made:
        ids = dk("ps", "-aq", "--filter", f"label={RUN_LABEL}", timeout=60).stdout.split()
        for n in made:
            for c in dk("ps", "-aq", "--filter", f"network={n}", timeout=60).stdout.split():
                if c in ids:
                    dk("rm", "-f", c, timeout=120)
        dk("network", "rm", *made, timeout=120)


@pytest.fixture(scope="session")
def pyclient():
    import docker as dockerpy
    c = dockerpy.DockerClient(base_url=HOST, version="auto", timeout=120)
    yield c
    c.close()


@pytest.fixture(scope="session")
def apiclient():
    import docker as dockerpy
    c = dockerpy.APIClient(base_url=HOST, version="auto", timeout=120)
    yield c
    c.close()
