"""Issue 14, replay 4: testcontainers-node (10.28, tests/node/tc_vol.js)
copying files into a container before it starts (GenericContainer's
withCopyContentToContainer / withCopyFilesToContainer /
withCopyDirectoriesToContainer: one PUT /containers/{id}/archive at "/" of
the created container, then start; testcontainers
build/generic-container/generic-container.js startContainer), a network
alias, exec, and a copy into the running container
(StartedGenericContainer.copyContentToContainer).

Runs against the reference dockerd too (inside its network namespace, as
test_net_testcontainers.py does). testcontainers is resolved from
tests/node/node_modules or NODE_PATH (deploy/deps.sh runs npm ci there);
without it the test skips.
"""
import json
import os
import shutil
import subprocess

import pytest

from e2e_lib import HERE, HOST, REF_NETNS, RUN_ID, TARGET, dk

NODE_DIR = os.path.join(HERE, "..", "node")


def _node_env():
    env = dict(os.environ, DOCKER_HOST=HOST, TESTCONTAINERS_RYUK_DISABLED="true")
    for k in ("DOCKER_CONTEXT", "DOCKER_TLS_VERIFY", "DOCKER_CERT_PATH",
              "TESTCONTAINERS_HOST_OVERRIDE", "TESTCONTAINERS_DOCKER_SOCKET_OVERRIDE"):
        env.pop(k, None)
    if TARGET == "sockerless" and os.path.exists("/.dockerenv"):
        # See test_net_testcontainers.py: the engine's ports are on this
        # machine, not at a bridge gateway.
        env["TESTCONTAINERS_HOST_OVERRIDE"] = "localhost"
    return env


def _have_testcontainers(env):
    if shutil.which("node") is None:
        return False
    p = subprocess.run(["node", "-e", "require.resolve('testcontainers')"], cwd=NODE_DIR,
                       env=env, capture_output=True, timeout=60)
    return p.returncode == 0


def test_testcontainers_copy_before_start(tmp_path):
    env = _node_env()
    if not _have_testcontainers(env):
        pytest.skip("node or testcontainers is missing (deploy/deps.sh runs npm ci in tests/node)")
    (tmp_path / "script.sh").write_text("#!/bin/sh\necho script-ran-$(cat /etc/app/secret)\n")
    (tmp_path / "conf" / "sub").mkdir(parents=True)
    (tmp_path / "conf" / "a.conf").write_text("a=1\n")
    (tmp_path / "conf" / "sub" / "b.conf").write_text("b=2\n")
    argv = ["node", "tc_vol.js", RUN_ID, str(tmp_path)]
    if TARGET == "reference" and REF_NETNS:
        argv = ["nsenter", f"--net={REF_NETNS}"] + argv
    p = subprocess.run(argv, cwd=NODE_DIR, env=env, capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, p.stderr[-4000:]
    got = json.loads(p.stdout.strip().splitlines()[-1])
    assert got["script"] == {"exitCode": 0, "output": "script-ran-secret"}, got
    assert got["modes"] == ["755 /opt/app/script.sh", "600 /etc/app/secret"], got
    assert got["conf"] == ["./a.conf", "./sub/b.conf", "a=1", "b=2"], got
    assert got["byAlias"] == {"exitCode": 0, "output": "hello-from-copy"}, got
    assert got["late"] == {"exitCode": 0, "output": "late"}, got
    assert "stopError" not in got and "networkStopError" not in got, got
    assert dk("container", "inspect", got["id"]).returncode != 0, "the container is left"
    assert dk("network", "inspect", got["network"]).returncode != 0, "the network is left"
