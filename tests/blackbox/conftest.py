"""Black-box tests of the product's own behaviour (not Docker's): they drive
the running local default through the real docker CLI and restart its
processes. Run by tests/run.sh with SK_DOCKER_HOST, SK_RUN_DIR and
SK_BUILD set."""
import os
import shutil
import subprocess
import uuid

import pytest

DOCKER = (os.environ.get("SK_DOCKER_CLI") or shutil.which("/usr/local/bin/docker")
          or shutil.which("docker"))
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def pytest_collection_modifyitems(config, items):
    if not os.environ.get("SK_RUN_DIR"):
        skip = pytest.mark.skip(reason="needs the local default (SK_RUN_DIR)")
        for item in items:
            item.add_marker(skip)


@pytest.fixture
def docker():
    env = dict(os.environ, DOCKER_HOST=os.environ.get("SK_DOCKER_HOST", ""))

    def run(*args, timeout=120, check=False):
        p = subprocess.run([DOCKER, *args], env=env,
                           capture_output=True, text=True, timeout=timeout)
        if check and p.returncode != 0:
            raise AssertionError(f"docker {' '.join(args)}: rc={p.returncode} "
                                 f"stderr={p.stderr}")
        return p
    return run


@pytest.fixture
def name():
    return "skbb-" + uuid.uuid4().hex[:10]


@pytest.fixture
def local():
    env = dict(os.environ, SK_RUN=os.environ["SK_RUN_DIR"],
               BUILD=os.environ.get("SK_BUILD", "build"))

    def run(*args):
        return subprocess.run([os.path.join(ROOT, "deploy/local.sh"), *args],
                              env=env, capture_output=True, text=True,
                              timeout=120, check=True)
    return run
