"""Fixtures of the Cloud Run end-to-end suite: the same helpers as tests/e2e
(e2e_lib), run against a stack whose backend is sockerless-backend-cloudrun
on the GCP simulator. tests/run.sh swaps the backend of the running stack
to cloudrun before this suite, without restarting the frontend."""
import json
import os
import sys
import urllib.request
import uuid

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "e2e"))

from e2e_lib import HOST, RUN_LABEL, dk  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.join(HERE, "..", "..")
RUN = os.environ.get("SK_RUN_DIR", "")


def pytest_collection_modifyitems(config, items):
    if HOST and os.environ.get("SK_BACKEND") == "cloudrun":
        return
    skip = pytest.mark.skip(reason="needs SK_DOCKER_HOST and SK_BACKEND=cloudrun")
    for item in items:
        if str(item.fspath).startswith(HERE + os.sep):
            item.add_marker(skip)


def gcp_sim_url():
    """The GCP simulator of the stack (SK_GCP_SIM_PORT, or the ports.env of
    SK_RUN_DIR), or None."""
    port = os.environ.get("SK_GCP_SIM_PORT")
    if not port and RUN and os.path.exists(os.path.join(RUN, "ports.env")):
        with open(os.path.join(RUN, "ports.env")) as f:
            for line in f:
                if line.startswith("SK_GCP_SIM_PORT="):
                    port = line.split("=", 1)[1].strip()
    return f"http://127.0.0.1:{port}" if port else None


def gcp_sim_calls():
    """GET /_sim/calls: {"run.projects.locations.jobs.run": n, ...}."""
    with urllib.request.urlopen(gcp_sim_url() + "/_sim/calls", timeout=30) as resp:
        return json.loads(resp.read())


@pytest.fixture(scope="session", autouse=True)
def _session_cleanup():
    yield
    if not HOST:
        return
    ids = dk("ps", "-aq", "--filter", f"label={RUN_LABEL}", timeout=60).stdout.split()
    if ids:
        dk("rm", "-f", *ids, timeout=300)


@pytest.fixture
def docker():
    return dk


@pytest.fixture
def names():
    made = []

    def new(prefix="skcr"):
        n = f"{prefix}-{uuid.uuid4().hex[:10]}"
        made.append(n)
        return n
    yield new
    if made:
        dk("rm", "-f", *made, timeout=300)


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
