"""Fixtures of the Cloud Run functions (gcf) end-to-end suite: the same helpers as tests/e2e
(e2e_lib), run against a stack whose backend is sockerless-backend-gcf.
tests/run.sh swaps the backend of the running stack to gcf before this
suite, without restarting the frontend."""
import os
import sys
import uuid

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "e2e"))

from e2e_lib import HOST, RUN_LABEL, dk  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))


def pytest_collection_modifyitems(config, items):
    if HOST and os.environ.get("SK_BACKEND") == "gcf":
        return
    skip = pytest.mark.skip(reason="needs SK_DOCKER_HOST and SK_BACKEND=gcf")
    for item in items:
        if str(item.fspath).startswith(HERE + os.sep):
            item.add_marker(skip)


@pytest.fixture(scope="session", autouse=True)
def _session_cleanup():
    yield
    if not HOST:
        return
    ids = dk("ps", "-aq", "--filter", f"label={RUN_LABEL}", timeout=60).stdout.split()
    if ids:
        dk("rm", "-f", *ids, timeout=120)


@pytest.fixture
def docker():
    return dk


@pytest.fixture
def names():
    made = []

    def new(prefix="skgcf"):
        n = f"{prefix}-{uuid.uuid4().hex[:10]}"
        made.append(n)
        return n
    yield new
    if made:
        dk("rm", "-f", *made, timeout=120)


@pytest.fixture
def name(names):
    return names()


@pytest.fixture(scope="session")
def pyclient():
    import docker as dockerpy
    c = dockerpy.DockerClient(base_url=HOST, version="auto", timeout=300)
    yield c
    c.close()


@pytest.fixture(scope="session")
def apiclient():
    import docker as dockerpy
    c = dockerpy.APIClient(base_url=HOST, version="auto", timeout=300)
    yield c
    c.close()
