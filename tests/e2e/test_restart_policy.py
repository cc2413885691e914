"""Restart policies and docker update by the docker CLI, docker-py and
docker-compose, with dockerd's behaviour: these tests pass against the
reference dockerd of the test bed (SK_TARGET=reference) and against
Sockerless. (tests/blackbox/test_restart_backend.py: a backend restart.)"""
import datetime
import os
import subprocess
import time
import uuid

import pytest

from e2e_lib import (BUSYBOX, COMPOSE, DOCKER, HOST, RUN_ID, TARGET, _env, dk, dk_ok,
                     host_network, inspect, pyrun_kwargs, wait_for)


def restarts_done(name, count):
    """Waits until the loop of name ended (exited) after count restarts."""
    def check():
        d = inspect(name)
        st = d["State"]
        if st["Status"] == "exited" and d["RestartCount"] == count:
            return d
        return None
    return wait_for(check, timeout=240, interval=0.5,
                    what=f"{name} to exit after {count} restarts")


def test_on_failure_max_retries(name):
    dk_ok("run", "-d", "--name", name, "--restart", "on-failure:2", BUSYBOX,
          "sh", "-c", "exit 3")
    d = restarts_done(name, 2)
    assert d["State"]["ExitCode"] == 3
    assert d["State"]["Restarting"] is False
    assert d["HostConfig"]["RestartPolicy"] == {"Name": "on-failure", "MaximumRetryCount": 2}
    # Nothing more happens: the policy is spent.
    time.sleep(2)
    assert inspect(name)["RestartCount"] == 2


def test_on_failure_events_and_wait(name):
    """die then start for each restart, no "restart" event; docker wait
    answers at the first exit."""
    since = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")
    dk_ok("run", "-d", "--name", name, "--restart", "on-failure:1", BUSYBOX,
          "sh", "-c", "sleep 2; exit 7")
    # Every run exits 7: whichever exit the wait meets, it answers 7 (and
    # a wait sent while restarting waits for the next run's end).
    p = dk("wait", name, timeout=180)
    out, err = p.stdout, p.stderr
    assert p.returncode == 0, err
    # dockerd 20.10 reads the exit code when its waiter goroutine runs, and
    # the restart may have reset it to 0 by then (docs/compat.md).
    assert out.strip() in (("7", "0") if TARGET == "reference" else ("7",)), out
    restarts_done(name, 1)
    until = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=1)
    ev = dk_ok("events", "--since", since, "--until", until.strftime("%Y-%m-%dT%H:%M:%S"),
               "--filter", f"container={name}", "--filter", "type=container",
               "--format", "{{.Action}}").split()
    assert ev == ["create", "start", "die", "start", "die"], ev


def test_always_then_stop(name):
    dk_ok("run", "-d", "--name", name, "--restart", "always", BUSYBOX,
          "sh", "-c", "sleep 1")
    wait_for(lambda: inspect(name)["RestartCount"] >= 1, timeout=180,
             what=f"{name} to restart")
    wait_for(lambda: inspect(name)["State"]["Status"] in ("running", "restarting"),
             timeout=60, what=f"{name} running again")
    p = dk("stop", "-t", "2", name)
    assert p.returncode == 0, p.stderr
    d = inspect(name)
    assert d["State"]["Status"] == "exited", d["State"]
    count = d["RestartCount"]
    time.sleep(3)
    d = inspect(name)
    assert d["State"]["Status"] == "exited" and d["RestartCount"] == count, d["State"]
    # docker start begins a new loop: RestartCount from 0.
    dk_ok("start", name)
    assert inspect(name)["RestartCount"] == 0
    dk("stop", "-t", "1", name)


def test_restarting_shows_in_ps(name):
    """While waiting between runs: Restarting, Running, "Restarting (N)"."""
    dk_ok("run", "-d", "--name", name, "--restart", "always", BUSYBOX, "sh", "-c", "exit 4")
    seen = {}

    def restarting():
        d = inspect(name)
        if d["State"]["Status"] == "restarting":
            seen["state"] = d["State"]
            seen["ps"] = dk_ok("ps", "-a", "--filter", f"name={name}",
                               "--format", "{{.Status}}").strip()
            return True
        return False
    wait_for(restarting, timeout=180, interval=0.1, what=f"{name} restarting")
    assert seen["state"]["Restarting"] is True and seen["state"]["Running"] is True
    assert seen["state"]["ExitCode"] == 4
    # ps may have caught the next run already.
    assert seen["ps"].startswith(("Restarting (4)", "Up ")), seen["ps"]
    p = dk("rm", name)
    if p.returncode != 0:
        assert "stop the container before" in p.stderr.lower() or \
            "Stop the container before" in p.stderr, p.stderr
    dk_ok("rm", "-f", name)


def test_update_restart_policy(name, names):
    dk_ok("create", "--name", name, BUSYBOX, "sh", "-c", "exit 5")
    dk_ok("update", "--restart", "on-failure:1", name)
    assert inspect(name)["HostConfig"]["RestartPolicy"] == {
        "Name": "on-failure", "MaximumRetryCount": 1}
    dk_ok("start", name)
    d = restarts_done(name, 1)
    assert d["State"]["ExitCode"] == 5
    rm = names()
    dk_ok("create", "--rm", "--name", rm, BUSYBOX, "true")
    p = dk("update", "--restart", "always", rm)
    assert p.returncode != 0
    assert "Restart policy cannot be updated because AutoRemove is enabled for the container" \
        in p.stderr, p.stderr
    p = dk("update", "--restart", "always", "sk-no-such-container-" + uuid.uuid4().hex[:6])
    assert p.returncode != 0 and "No such container" in p.stderr, p.stderr


@pytest.mark.skipif(TARGET == "reference", reason="dockerd changes cgroup limits in place")
def test_update_resources_refused(name):
    dk_ok("create", "--name", name, BUSYBOX, "true")
    p = dk("update", "--memory", "64m", "--cpus", "1", name)
    assert p.returncode != 0
    assert "cannot change the resources of a container (Memory, NanoCpus" in p.stderr, p.stderr


def test_dockerpy_policy_errors_and_count():
    import docker as dockerpy
    import docker.errors
    c = dockerpy.DockerClient(base_url=HOST, version="auto", timeout=120)
    try:
        for kw, msg in (
                ({"auto_remove": True, "restart_policy": {"Name": "always"}},
                 "can't create 'AutoRemove' container with restart policy"),
                ({"restart_policy": {"Name": "always", "MaximumRetryCount": 3}},
                 "maximum retry count cannot be used with restart policy 'always'"),
                ({"restart_policy": {"Name": "on-failure", "MaximumRetryCount": -1}},
                 "maximum retry count cannot be negative")):
            with pytest.raises(docker.errors.APIError) as ei:
                c.containers.create(BUSYBOX, "true", **kw, **pyrun_kwargs())
            assert ei.value.status_code == 400, ei.value
            assert msg in str(ei.value), str(ei.value)
        ctr = c.containers.run(BUSYBOX, ["sh", "-c", "exit 2"], detach=True,
                               restart_policy={"Name": "on-failure", "MaximumRetryCount": 1},
                               **pyrun_kwargs())
        try:
            def done():
                ctr.reload()
                return ctr.status == "exited" and ctr.attrs["RestartCount"] == 1
            wait_for(done, timeout=180, what="docker-py container to end its restarts")
            assert ctr.attrs["State"]["ExitCode"] == 2
            ctr.update(restart_policy={"Name": "unless-stopped"})
            ctr.reload()
            assert ctr.attrs["HostConfig"]["RestartPolicy"]["Name"] == "unless-stopped"
        finally:
            ctr.remove(force=True)
    finally:
        c.close()


COMPOSE_FILE = """\
version: "2.4"
services:
  flaky:
    image: busybox
    command: ["sh", "-c", "echo run; exit 3"]
    restart: "on-failure:1"
    labels:
      sk.e2e.run: "{run_id}"
{extra}"""


def test_compose_restart_on_failure(tmp_path):
    extra = "    network_mode: host\n" if host_network() else ""
    path = os.path.join(tmp_path, "docker-compose.yml")
    with open(path, "w") as f:
        f.write(COMPOSE_FILE.format(run_id=RUN_ID, extra=extra))
    project = "skrst" + uuid.uuid4().hex[:8]

    def compose(*args):
        return subprocess.run([COMPOSE, "-p", project, "-f", path, *args], env=_env(),
                              capture_output=True, text=True, timeout=240)
    try:
        p = compose("up", "-d")
        assert p.returncode == 0, p.stdout + p.stderr
        ids = dk_ok("ps", "-aq", "--filter",
                    f"label=com.docker.compose.project={project}").split()
        assert len(ids) == 1, ids
        d = restarts_done(ids[0], 1)
        assert d["HostConfig"]["RestartPolicy"] == {"Name": "on-failure",
                                                    "MaximumRetryCount": 1}
        assert d["State"]["ExitCode"] == 3
        logs = compose("logs", "--no-color")
        assert logs.stdout.count("run") >= 1, logs.stdout
    finally:
        dn = compose("down", "--remove-orphans", "-t", "2")
    assert dn.returncode == 0, dn.stdout + dn.stderr
    left = dk("ps", "-aq", "--filter", f"label=com.docker.compose.project={project}")
    assert left.stdout.strip() == "", left.stdout
