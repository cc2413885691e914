"""A `docker volume create` on cloudrun cut short by a backend restart
leaves nothing in the bucket (docs/volumes.md, "Cloud Run (Cloud
Storage)"): the placeholder upload is held back by the simulator
(a latency fault) and lands after the backend was stopped; the backend
started again removes the half-made volume, and its directory with it
(the directory follows from the name; the create recorded nothing). Runs when the local default's backend is
cloudrun."""
import json
import os
import signal
import subprocess
import time
import urllib.request
import uuid

import pytest

RUN = os.environ.get("SK_RUN_DIR", "")
BUCKET = "sockerless-volumes"
PREFIX = "sockerless/volumes"


def _backend_name():
    try:
        with open(os.path.join(RUN, "backend.name")) as f:
            return f.read().strip()
    except OSError:
        return ""


def _sim(path, body=None):
    port = None
    with open(os.path.join(RUN, "ports.env")) as f:
        for line in f:
            if line.startswith("SK_GCP_SIM_PORT="):
                port = line.split("=", 1)[1].strip()
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=data,
                                 method="POST" if data else "GET",
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as resp:
        return json.loads(resp.read() or b"null")


def _wait(pred, what, timeout=90):
    deadline = time.time() + timeout
    while not pred():
        assert time.time() < deadline, what
        time.sleep(0.2)


@pytest.mark.skipif(_backend_name() != "cloudrun", reason="the stack's backend is not cloudrun")
def test_create_cut_short_leaves_nothing(docker, local):
    v = "skbbv-" + uuid.uuid4().hex[:10]
    d = os.path.join(RUN, "gcp", "sim", "gcs", BUCKET, PREFIX, v)
    method = "storage.objects.insert"
    before = _sim("/_sim/calls").get(method, 0)
    _sim("/_sim/faults", {"method": method, "latency_ms": 6000, "count": 1})
    env = dict(os.environ, DOCKER_HOST=os.environ.get("SK_DOCKER_HOST", ""))
    create = subprocess.Popen(["/usr/local/bin/docker", "volume", "create", v], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        _wait(lambda: _sim("/_sim/calls").get(method, 0) > before, "the placeholder upload")
        # The backend goes (its pid, written by deploy/local.sh), and the
        # held-back upload lands after it went; then it starts again.
        with open(os.path.join(RUN, "backend.pid")) as f:
            os.kill(int(f.read().strip()), signal.SIGTERM)
        _wait(lambda: os.path.isdir(d), f"{d} (the late placeholder)")
        local("restart-backend")
        create.communicate(timeout=120)
        # The restarted backend removed the half-made volume and its directory.
        _wait(lambda: not os.path.exists(d), f"{d} removed")
        assert v not in docker("volume", "ls", "-q", check=True).stdout.split()
    finally:
        if create.poll() is None:
            create.kill()
            create.wait()
        docker("volume", "rm", "-f", v)
