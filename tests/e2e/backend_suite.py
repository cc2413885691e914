"""The fixtures of a suite that runs against one backend of the e2e stack
(tests/e2e_lambda, e2e_gcf, e2e_cloudrun): tests/run.sh swaps the stack's
backend before the suite, without restarting the frontend. A suite's
conftest.py takes them with

    globals().update(backend_suite.fixtures(HERE, "lambda", "sklam"))

so that pytest finds them there."""
import os
import uuid

import pytest

from e2e_lib import HOST, RUN_LABEL, dk


def fixtures(here, backend, prefix, rm_timeout=120):
    """The hook that skips the suite (its files under here) unless the stack
    runs backend, and the fixtures docker, names (names made with prefix,
    removed after the test), name, pyclient and apiclient, and the session's
    removal of what the run labelled (rm_timeout seconds)."""

    def pytest_collection_modifyitems(config, items):
        if HOST and os.environ.get("SK_BACKEND") == backend:
            return
        skip = pytest.mark.skip(reason=f"needs SK_DOCKER_HOST and SK_BACKEND={backend}")
        for item in items:
            if str(item.fspath).startswith(here + os.sep):
                item.add_marker(skip)

    @pytest.fixture(scope="session", autouse=True)
    def _session_cleanup():
        yield
        if not HOST:
            return
        ids = dk("ps", "-aq", "--filter", f"label={RUN_LABEL}", timeout=60).stdout.split()
        if ids:
            dk("rm", "-f", *ids, timeout=rm_timeout)

    @pytest.fixture
    def docker():
        return dk

    @pytest.fixture
    def names():
        made = []

        def new(prefix=prefix):
            n = f"{prefix}-{uuid.uuid4().hex[:10]}"
            made.append(n)
            return n
        yield new
        if made:
            dk("rm", "-f", *made, timeout=rm_timeout)

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

    return {
        "pytest_collection_modifyitems": pytest_collection_modifyitems,
        "_session_cleanup": _session_cleanup,
        "docker": docker,
        "names": names,
        "name": name,
        "pyclient": pyclient,
        "apiclient": apiclient,
    }
