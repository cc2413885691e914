"""Docker containers as Cloud Run job executions, through the real docker
CLI: exit codes, detached runs with logs and wait, stdout and stderr apart,
stop, rm -f of a running container, a bad image, labels, filters and ps,
the refusals of what this backend does not do yet, and the cloud calls a
`docker run --rm` costs."""
import os
import subprocess
import time

import pytest

from conftest import gcp_sim_calls, gcp_sim_url
from e2e_lib import BUSYBOX, DOCKER, RUN_ID, _env, _inject, dk_ok, inspect, wait_state

def test_info_names_cloud_run(apiclient):
    info = apiclient.info()
    assert "Cloud Run" in info["OperatingSystem"], info["OperatingSystem"]
    assert "sockerless.backend=cloudrun" in info["Labels"], info["Labels"]

@pytest.mark.parametrize("cmd,code", [
    ("true", 0),
    ("exit 3", 3),
    ("kill -9 $$", 137),
])
def test_run_exit_codes(docker, cmd, code):
    p = docker("run", "--rm", BUSYBOX, "sh", "-c", cmd, timeout=300)
    assert p.returncode == code, (p.stdout, p.stderr)

def test_run_output(docker):
    p = docker("run", "--rm", BUSYBOX, "sh", "-c", "echo out; echo err >&2", timeout=300)
    assert p.returncode == 0, p.stderr
    assert p.stdout == "out\n", p.stdout
    assert p.stderr == "err\n", p.stderr

def test_detached_logs_follow_wait(docker, name):
    dk_ok("run", "-d", "--name", name, BUSYBOX, "sh", "-c",
          "for i in 1 2 3; do echo line-$i; sleep 0.5; done; echo bad >&2; exit 4",
          timeout=300)
    f = docker("logs", "-f", name, timeout=300)
    assert f.returncode == 0, f.stderr
    assert f.stdout == "line-1\nline-2\nline-3\n", f.stdout
    assert f.stderr == "bad\n", f.stderr
    w = docker("wait", name, timeout=120)
    assert w.stdout.strip() == "4", w.stdout
    p = docker("logs", name)
    assert p.stdout == "line-1\nline-2\nline-3\n" and p.stderr == "bad\n", (p.stdout, p.stderr)
    st = inspect(name)["State"]
    assert st["Status"] == "exited" and st["ExitCode"] == 4, st

def test_stop_running(docker, name):
    dk_ok("run", "-d", "--name", name, BUSYBOX, "sh", "-c",
          "trap 'echo term; exit 0' TERM; while true; do sleep 0.2; done", timeout=300)
    wait_state(name, "running", timeout=120)
    assert docker("stop", "-t", "5", name, timeout=120).returncode == 0
    st = wait_state(name, "exited", timeout=120)["State"]
    assert st["ExitCode"] == 0, st

def test_rm_f_running(docker, name):
    dk_ok("run", "-d", "--name", name, BUSYBOX, "sleep", "300", timeout=300)
    wait_state(name, "running", timeout=120)
    assert docker("rm", "-f", name, timeout=120).returncode == 0
    assert docker("inspect", name).returncode != 0

def test_bad_image(docker):
    p = docker("run", "--rm", "127.0.0.1:1/no/such-image:latest", "true", timeout=300)
    assert p.returncode == 125, (p.stdout, p.stderr)
    assert p.stderr.strip(), p.stderr

def test_no_command(docker, name):
    p = docker("create", "--name", name, "--entrypoint", "", BUSYBOX, timeout=300)
    assert p.returncode != 0
    assert "no command specified" in p.stderr, p.stderr

def test_too_big_refused(docker, name):
    p = docker("create", "--name", name, "--cpus", "16", BUSYBOX, "true", timeout=300)
    assert p.returncode != 0
    assert "Cloud Run" in p.stderr and "--cpus" in p.stderr, p.stderr

def test_labels_filters_ps(docker, names):
    a, b = names(), names()
    dk_ok("run", "-d", "--name", a, "--label", "tier=Front End", BUSYBOX, "sleep", "300",
          timeout=300)
    dk_ok("run", "--name", b, "--label", "tier=back", BUSYBOX, "true", timeout=300)
    wait_state(a, "running", timeout=120)
    ps = dk_ok("ps", "--filter", "label=tier=Front End", "--format", "{{.Names}}")
    assert ps.split() == [a], ps
    ps = dk_ok("ps", "-a", "--filter", "label=tier=back", "--filter", "status=exited",
               "--format", "{{.Names}} {{.Status}}")
    assert ps.startswith(b + " Exited (0)"), ps
    assert inspect(a)["Config"]["Labels"]["tier"] == "Front End"

@pytest.mark.skipif(not gcp_sim_url(), reason="needs the GCP simulator's port")
def test_calls_per_run_rm(docker):
    # A first run makes the job and pushes the derived image; the second,
    # identical one reuses both: that is the steady cost.
    dk_ok("run", "--rm", BUSYBOX, "echo", "warm", timeout=300)
    before = gcp_sim_calls()
    t0 = time.monotonic()
    out = dk_ok("run", "--rm", BUSYBOX, "echo", "warm", timeout=300)
    wall = time.monotonic() - t0
    after = gcp_sim_calls()
    assert out == "warm\n"
    calls = {k: after.get(k, 0) - before.get(k, 0) for k in after
             if after.get(k, 0) != before.get(k, 0)}
    print(f"\ncloud calls per docker run --rm (reused job): {sum(calls.values())} "
          f"{calls}; wall time {wall:.2f} s")
    assert calls.get("run.projects.locations.jobs.run") == 1, calls
    assert "run.projects.locations.jobs.create" not in calls, calls
    with open(os.path.join(os.environ.get("SK_RUN_DIR") or "/tmp",
                           "cloudrun-calls.txt"), "a") as f:
        f.write(f"{sum(calls.values())} {calls} {wall:.2f}s\n")


@pytest.mark.skipif(not gcp_sim_url(), reason="needs the GCP simulator's port")
def test_parallel_identical_creates_share_one_job(docker):
    # Identical configurations created at the same moment wait for one
    # jobs.create instead of racing to make the same job.
    marker = f"SKCR_PAR={RUN_ID}-{time.monotonic_ns()}"
    before = gcp_sim_calls()
    procs = [subprocess.Popen([DOCKER, *_inject(["run", "--rm", "-e", marker, BUSYBOX,
                                                 "echo", "par"])],
                              env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True) for _ in range(3)]
    for p in procs:
        out, err = p.communicate(timeout=300)
        assert p.returncode == 0 and out == "par\n", (out, err)
    after = gcp_sim_calls()
    key = "run.projects.locations.jobs.create"
    assert after.get(key, 0) - before.get(key, 0) == 1, (before, after)
