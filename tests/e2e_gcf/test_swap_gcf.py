"""Swapping the backend behind a running frontend between gcf and Lambda:
the client and the frontend stay as they are, the capabilities follow the
backend, and gcf finds its pool again when it comes back."""
import os
import subprocess

import pytest

from e2e_lib import BUSYBOX, dk_ok

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
RUN = os.environ.get("SK_RUN_DIR", "")


def local(*args):
    env = dict(os.environ, SK_RUN=RUN)
    if os.environ.get("SK_BUILD"):
        env["BUILD"] = os.environ["SK_BUILD"]
    p = subprocess.run([os.path.join(ROOT, "deploy", "local.sh"), *args], env=env,
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr


def frontend_pid():
    with open(os.path.join(RUN, "frontend.pid")) as f:
        return int(f.read())


@pytest.mark.skipif(not RUN, reason="needs SK_RUN_DIR (the local stack)")
def test_swap_gcf_lambda_gcf(docker, apiclient, name):
    fe = frontend_pid()
    assert dk_ok("run", "--rm", BUSYBOX, "echo", "on-gcf", timeout=300) == "on-gcf\n"
    try:
        local("restart-backend", "lambda")
        assert "AWS Lambda" in apiclient.info()["OperatingSystem"]
        assert dk_ok("run", "--rm", BUSYBOX, "echo", "on-lambda", timeout=300) == "on-lambda\n"
    finally:
        local("restart-backend", "gcf")
    assert "Cloud Run functions" in apiclient.info()["OperatingSystem"]
    assert dk_ok("run", "--rm", BUSYBOX, "echo", "back", timeout=300) == "back\n"
    dk_ok("create", "--name", name, BUSYBOX, "true", timeout=300)
    p = docker("exec", name, "true")
    assert "This backend (gcf) does not support exec" in p.stderr, p.stderr
    assert frontend_pid() == fe
