"""Differential suite, dockerode (node): tests/node/diff.js against the
reference dockerd and Sockerless, compared field by field (diff_lib.py).
Needs node and tests/node/node_modules (deploy/deps.sh runs npm ci)."""
import json
import os
import shutil
import subprocess

import pytest

import diff_lib
from diff_lib import HERE, cli, compare, endpoints, unique

NODE_DIR = os.path.join(HERE, "..", "node")


def _run(kind, host, name):
    env = dict(os.environ, DOCKER_HOST=host)
    p = subprocess.run(["node", "diff.js", name, "host" if kind == "reference" else "default"],
                       cwd=NODE_DIR, env=env, capture_output=True, text=True, timeout=180)
    assert p.returncode == 0, f"{kind}: {p.stderr}"
    return json.loads(p.stdout)


def test_diff_dockerode():
    eps = dict(endpoints())
    if shutil.which("node") is None or not os.path.isdir(
            os.path.join(NODE_DIR, "node_modules", "dockerode")):
        pytest.skip("node or tests/node/node_modules is missing (run deploy/deps.sh)")
    name = unique()
    try:
        for host in eps.values():
            rc, _, err = cli(host, "pull", "-q", "busybox:latest")
            assert rc == 0, err
        res = {kind: _run(kind, host, name) for kind, host in eps.items()}
        compare("dockerode", res["reference"], res["sockerless"])
    finally:
        for host in eps.values():
            diff_lib.cleanup(host)
