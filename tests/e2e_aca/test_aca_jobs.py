"""Container Apps jobs as shared definitions: identical configurations
reuse one job, a removed container's job waits out aca.job_idle and is
then deleted, and a start that fails leaves nothing behind."""
import os
import subprocess
import time

import pytest

from conftest import RUN, az_jobs, az_sim_calls, az_sim_url
from e2e_lib import BUSYBOX, RUN_ID, dk_ok, inspect, wait_for

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")


def _local(*args, **env_extra):
    env = dict(os.environ, SK_RUN=RUN, **env_extra)
    if os.environ.get("SK_BUILD"):
        env["BUILD"] = os.environ["SK_BUILD"]
    p = subprocess.run([os.path.join(ROOT, "deploy", "local.sh"), *args], env=env,
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr


def _jobs_with(marker):
    """The simulator's jobs whose main container has env marker."""
    out = []
    for n, j in (az_jobs() or {}).items():
        for c in j["properties"]["template"]["containers"]:
            if any(e.get("name") == "SKACA_JOB" and e.get("value") == marker
                   for e in c.get("env") or []):
                out.append(n)
    return out


@pytest.mark.skipif(not RUN or not az_sim_url(), reason="needs the local stack")
def test_identical_containers_share_a_job(docker, names):
    marker = f"{RUN_ID}-{time.monotonic_ns()}"
    a, b = names(), names()
    before = az_sim_calls().get("Jobs_CreateOrUpdate", 0)
    for n in (a, b):
        dk_ok("run", "--name", n, "-e", f"SKACA_JOB={marker}", BUSYBOX, "true", timeout=300)
    assert az_sim_calls().get("Jobs_CreateOrUpdate", 0) - before == 1
    assert len(_jobs_with(marker)) == 1
    # A different configuration is another job.
    c = names()
    dk_ok("run", "--name", c, "-e", f"SKACA_JOB={marker}", "-e", "OTHER=1", BUSYBOX, "true",
          timeout=300)
    assert len(_jobs_with(marker)) == 2


@pytest.mark.skipif(not RUN or not az_sim_url(), reason="needs the local stack")
def test_idle_job_deleted(docker, name):
    marker = f"{RUN_ID}-{time.monotonic_ns()}"
    # A backend whose unused jobs go after 2 s; the stack's own afterwards.
    _local("restart-backend", "aca", SK_ACA_JOB_IDLE="2")
    try:
        dk_ok("run", "--name", name, "-e", f"SKACA_JOB={marker}", BUSYBOX, "true",
              timeout=300)
        assert len(_jobs_with(marker)) == 1
        dk_ok("rm", name, timeout=120)
        wait_for(lambda: _jobs_with(marker) == [], timeout=120, what="the idle job's deletion")
    finally:
        _local("restart-backend", "aca")


@pytest.mark.skipif(not RUN or not az_sim_url(), reason="needs the local stack")
def test_failed_start_cleans_up(docker, name):
    # The agent image cannot be pulled in this configuration: the start
    # fails (125), and the job is not left behind once the container goes.
    marker = f"{RUN_ID}-{time.monotonic_ns()}"
    _local("restart-backend", "aca", SK_ACA_JOB_IDLE="0",
           SK_ACA_AGENT_IMAGE="127.0.0.1:1/no/agent:0")
    try:
        p = docker("run", "--name", name, "-e", f"SKACA_JOB={marker}", BUSYBOX, "true",
                   timeout=300)
        assert p.returncode == 125, (p.stdout, p.stderr)
        assert "failed to start" in p.stderr, p.stderr
        assert inspect(name)["State"]["Status"] == "created"
        dk_ok("rm", name, timeout=120)
        wait_for(lambda: _jobs_with(marker) == [], timeout=120, what="the job's deletion")
    finally:
        _local("restart-backend", "aca")
