"""Swapping the backend behind a running frontend: the client and the
frontend stay as they are, the capabilities follow the backend."""
import os
import subprocess

import pytest

from e2e_lib import BUSYBOX, RUN_ID, dk_ok

ECR_BUSYBOX = "123456789012.dkr.ecr.us-east-1.amazonaws.com/library/busybox"

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
def test_swap_ecs_lambda_ecs(docker, apiclient, name):
    fe = frontend_pid()
    dk_ok("create", "--name", name, "--label", f"sk.e2e.run={RUN_ID}", ECR_BUSYBOX, "true",
          timeout=300)
    p = docker("exec", name, "true")
    assert "This backend (lambda) does not support exec" in p.stderr, p.stderr
    try:
        local("restart-backend", "ecs")
        # The same client, no reconnect logic: the next call sees ECS.
        assert "AWS ECS" in apiclient.info()["OperatingSystem"]
        # ECS with its agent has user-defined networks (issue 13).
        p = docker("network", "create", f"sklam-swap-{RUN_ID}")
        assert p.returncode == 0, p.stderr
        dk_ok("network", "rm", f"sklam-swap-{RUN_ID}")
        out = dk_ok("run", "--rm", BUSYBOX, "echo", "on-ecs", timeout=300)
        assert out == "on-ecs\n"
    finally:
        local("restart-backend", "lambda")
    assert "AWS Lambda" in apiclient.info()["OperatingSystem"]
    p = docker("exec", name, "true")
    assert "This backend (lambda) does not support exec" in p.stderr, p.stderr
    assert frontend_pid() == fe
    os.kill(fe, 0)
