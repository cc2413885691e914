"""testcontainers-node (tests/node/tc.js, from npm) as a real client: a
busybox httpd reached through its published port, and a second container
that reaches it by a network alias on a Network the program makes.

TESTCONTAINERS_RYUK_DISABLED=true: testcontainers' reaper (Ryuk) runs as a
container with the engine's docker socket bind-mounted, which a workload on
a remote (cloud) engine cannot have; tc.js stops its own containers and
network instead. Against the bed's reference dockerd the program runs inside
the reference's network namespace (SK_REF_NETNS), where that engine's
published ports are, as a user on that machine would.
Needs node and tests/node/node_modules (deploy/deps.sh runs npm ci)."""
import json
import os
import shutil
import subprocess

import pytest

from e2e_lib import HERE, HOST, REF_NETNS, RUN_ID, TARGET, dk

NODE_DIR = os.path.join(HERE, "..", "node")


def test_testcontainers_node():
    if shutil.which("node") is None or not os.path.isdir(
            os.path.join(NODE_DIR, "node_modules", "testcontainers")):
        pytest.skip("node or tests/node/node_modules/testcontainers is missing (run deploy/deps.sh)")
    env = dict(os.environ, DOCKER_HOST=HOST, TESTCONTAINERS_RYUK_DISABLED="true",
               DEBUG="testcontainers*")
    for k in ("DOCKER_CONTEXT", "DOCKER_TLS_VERIFY", "DOCKER_CERT_PATH",
              "TESTCONTAINERS_HOST_OVERRIDE", "TESTCONTAINERS_DOCKER_SOCKET_OVERRIDE"):
        env.pop(k, None)
    if TARGET == "sockerless" and os.path.exists("/.dockerenv"):
        # This machine is itself a container: testcontainers would look
        # for the engine's published ports at the bridge network's gateway
        # (its in-a-container rule). Sockerless publishes on the machine
        # it runs on, this one; a user in a container sets the same.
        env["TESTCONTAINERS_HOST_OVERRIDE"] = "localhost"
    argv = ["node", "tc.js", RUN_ID]
    if TARGET == "reference" and REF_NETNS:
        argv = ["nsenter", f"--net={REF_NETNS}"] + argv
    p = subprocess.run(argv, cwd=NODE_DIR, env=env, capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, p.stderr[-4000:]
    got = json.loads(p.stdout.strip().splitlines()[-1])
    assert got["published"] == {"status": 200, "body": "hello-tc"}, got
    assert got["byAlias"] == {"exitCode": 0, "output": "hello-tc"}, got
    assert "stopError" not in got and "networkStopError" not in got, got
    assert dk("network", "inspect", got["network"]).returncode != 0, "the network is left"
