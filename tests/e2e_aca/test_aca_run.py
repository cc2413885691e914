"""Docker containers as Container Apps job executions, through the real
docker CLI: exit codes, detached runs with logs and wait, stdout and stderr
apart, logs -f, inspect and ps, rm -f of a running container, the refusals
of what Container Apps cannot do, and the cloud calls a `docker run --rm`
costs."""
import json
import os
import subprocess
import time
import urllib.request

import pytest

from conftest import az_sim_calls, az_sim_url
from e2e_lib import BUSYBOX, DOCKER, RUN_ID, _env, _inject, dk_ok, inspect, wait_state


def test_info_names_container_apps(apiclient):
    info = apiclient.info()
    assert "Container Apps" in info["OperatingSystem"], info["OperatingSystem"]
    assert "sockerless.backend=aca" in info["Labels"], info["Labels"]


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


def test_workdir_and_env(docker):
    p = docker("run", "--rm", "-w", "/tmp/wd", "-e", "X=y", BUSYBOX, "sh", "-c",
               "pwd; echo $X", timeout=300)
    assert p.returncode == 0, p.stderr
    assert p.stdout == "/tmp/wd\ny\n", p.stdout


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


def test_inspect_ps(docker, name):
    dk_ok("run", "-d", "--name", name, "--label", "k=v", BUSYBOX, "sleep", "300",
          timeout=300)
    d = wait_state(name, "running", timeout=120)
    assert d["State"]["Running"] and d["State"]["StartedAt"] > "2000", d["State"]
    assert d["Config"]["Labels"]["k"] == "v"
    ps = dk_ok("ps", "--filter", f"name={name}", "--format", "{{.Names}} {{.Status}}")
    assert ps.startswith(name + " Up"), ps


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


@pytest.mark.parametrize("args,says", [
    (["--cpus", "8"], "Container Apps"),
    (["--memory", "16g"], "--cpus or --memory"),
    (["--read-only"], "--read-only"),
    (["--network", "none"], "--network none"),
    (["--cap-add", "NET_ADMIN"], "--cap-add"),
    (["-e", "1BAD=x"], "1BAD"),
])
def test_refused(docker, name, args, says):
    p = docker("create", "--name", name, *args, BUSYBOX, "true", timeout=300)
    assert p.returncode != 0
    assert says in p.stderr, p.stderr


def test_volumes_refused_with_reason(docker):
    p = docker("volume", "create", f"skaca-{RUN_ID}")
    if p.returncode == 0:
        docker("volume", "rm", f"skaca-{RUN_ID}")
        pytest.skip("volumes are on (aca.storage_account is set)")
    assert "aca.storage_account" in p.stderr, p.stderr


@pytest.mark.skipif(not az_sim_url(), reason="needs the Azure simulator's port")
def test_calls_per_run_rm(docker):
    # A first run makes the job; the second, identical one reuses it:
    # that is the steady cost.
    dk_ok("run", "--rm", BUSYBOX, "echo", "warm", timeout=300)
    before = az_sim_calls()
    t0 = time.monotonic()
    out = dk_ok("run", "--rm", BUSYBOX, "echo", "warm", timeout=300)
    wall = time.monotonic() - t0
    after = az_sim_calls()
    assert out == "warm\n"
    calls = {k: after.get(k, 0) - before.get(k, 0) for k in after
             if after.get(k, 0) != before.get(k, 0)}
    print(f"\ncloud calls per docker run --rm (reused job): {sum(calls.values())} "
          f"{calls}; wall time {wall:.2f} s")
    assert calls.get("Jobs_Start") == 1, calls
    assert "Jobs_CreateOrUpdate" not in calls, calls
    with open(os.path.join(os.environ.get("SK_RUN_DIR") or "/tmp",
                           "aca-calls.txt"), "a") as f:
        f.write(f"{sum(calls.values())} {calls} {wall:.2f}s\n")


@pytest.mark.skipif(not az_sim_url(), reason="needs the Azure simulator's port")
def test_parallel_identical_creates_share_one_job(docker):
    # Identical configurations created at the same moment wait for one
    # PUT instead of racing to make the same job.
    marker = f"SKACA_PAR={RUN_ID}-{time.monotonic_ns()}"
    before = az_sim_calls()
    procs = [subprocess.Popen([DOCKER, *_inject(["run", "--rm", "-e", marker, BUSYBOX,
                                                 "echo", "par"])],
                              env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True) for _ in range(3)]
    for p in procs:
        out, err = p.communicate(timeout=300)
        assert p.returncode == 0 and out == "par\n", (out, err)
    after = az_sim_calls()
    key = "Jobs_CreateOrUpdate"
    assert after.get(key, 0) - before.get(key, 0) == 1, (before, after)


def _la_delay(ms):
    """Log Analytics' ingestion delay of the simulator from now on."""
    req = urllib.request.Request(az_sim_url() + "/_azapp/la_delay", method="POST",
                                 data=json.dumps({"ms": ms}).encode(),
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as resp:
        assert resp.status == 200


@pytest.mark.skipif(not az_sim_url(), reason="needs the Azure simulator's port")
def test_logs_follow_from_the_stream(docker, name):
    # Log Analytics ingests nothing for ten minutes: what docker logs -f
    # shows comes from the Container Apps log stream (its tail for the
    # line written before the follow began, then the live lines), stdout
    # and stderr apart by the agent's marks.
    _la_delay(600000)
    try:
        dk_ok("run", "-d", "--name", name, BUSYBOX, "sh", "-c",
              "echo one; sleep 4; echo two >&2; sleep 2; echo three; sleep 2",
              timeout=300)
        f = docker("logs", "-f", name, timeout=300)
    finally:
        _la_delay(0)
    assert f.returncode == 0, f.stderr
    assert (f.stdout, f.stderr) == ("one\nthree\n", "two\n")


@pytest.mark.skipif(not az_sim_url(), reason="needs the Azure simulator's port")
def test_logs_follow_seam(docker, name):
    # Log Analytics three seconds behind: the follower reads it up to its
    # last line, then the stream after that line's time; no line twice,
    # none lost.
    _la_delay(3000)
    try:
        dk_ok("run", "-d", "--name", name, BUSYBOX, "sh", "-c",
              "i=1; while [ $i -le 16 ]; do echo n$i; i=$((i+1)); sleep 0.5; done",
              timeout=300)
        time.sleep(4)
        f = docker("logs", "-f", name, timeout=300)
    finally:
        _la_delay(0)
    assert f.returncode == 0, f.stderr
    assert f.stdout == "".join("n%d\n" % i for i in range(1, 17)), f.stdout
