"""Restart policies across a backend restart (docs/restart.md): an `always`
container whose workload ended while the backend was down is started again
once the backend has reconciled; an `unless-stopped` container the user
stopped stays stopped."""
import json
import os
import signal
import time


def inspect(docker, name):
    return json.loads(docker("inspect", name, check=True).stdout)[0]


def poll(fn, timeout=180, what="condition"):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = fn()
        if last:
            return last
        time.sleep(0.5)
    raise AssertionError(f"timed out waiting for {what} (last={last!r})")


def stop_backend():
    """Stops the stack's backend (its pid file), as an operator's restart
    does, and waits until the process is gone."""
    with open(os.path.join(os.environ["SK_RUN_DIR"], "backend.pid")) as f:
        pid = int(f.read().strip())
    os.kill(pid, signal.SIGTERM)

    def gone():
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        return False
    poll(gone, timeout=60, what="the backend to stop")


def test_always_restarted_after_backend_restart(docker, name, local):
    docker("run", "-d", "--name", name, "--restart", "always", "busybox",
           "sh", "-c", "sleep 6", check=True)
    poll(lambda: inspect(docker, name)["State"]["Status"] == "running",
         what=f"{name} running")
    before = inspect(docker, name)["RestartCount"]
    stop_backend()
    try:
        # The workload ends meanwhile (its 6 s are over), nobody watching.
        time.sleep(10)
    finally:
        local("restart-backend")
    poll(lambda: inspect(docker, name)["RestartCount"] > before,
         what=f"{name} restarted by its policy")
    poll(lambda: inspect(docker, name)["State"]["Status"] in ("running", "restarting"),
         what=f"{name} running again")
    docker("rm", "-f", name, check=True)


def test_unless_stopped_stays_stopped(docker, name, local):
    docker("run", "-d", "--name", name, "--restart", "unless-stopped", "busybox",
           "sleep", "300", check=True)
    docker("stop", "-t", "1", name, check=True)
    d = inspect(docker, name)
    assert d["State"]["Status"] == "exited"
    local("restart-backend")
    # Let the new instance reconcile: a container it restarted would show.
    docker("ps", "-a", check=True)
    time.sleep(3)
    d2 = inspect(docker, name)
    assert d2["State"]["Status"] == "exited", d2["State"]
    assert d2["RestartCount"] == d["RestartCount"]
    docker("rm", "-f", name, check=True)
