"""Kill drills on the connections (issue 10, slice conn): kill -9 of the
backend or the frontend while a client follows logs or is attached. The
client must report a failure (not a clean, complete end), the restarted
daemon serves again, and the container is not lost. Bounded: one container
per test, a few seconds of output."""
import os
import shutil
import signal
import subprocess
import tempfile
import time

DOCKER = (os.environ.get("SK_DOCKER_CLI") or shutil.which("/usr/local/bin/docker")
          or shutil.which("docker"))

TICKER = "i=0; while :; do echo line$i; i=$((i+1)); sleep 0.2; done"


def _pid(which):
    with open(os.path.join(os.environ["SK_RUN_DIR"], f"{which}.pid")) as f:
        return int(f.read().strip())


def _follow(*args):
    """Starts `docker *args` with its output in temp files."""
    out = tempfile.TemporaryFile()
    err = tempfile.TemporaryFile()
    env = dict(os.environ, DOCKER_HOST=os.environ.get("SK_DOCKER_HOST", ""))
    p = subprocess.Popen([DOCKER, *args], env=env, stdout=out, stderr=err,
                         stdin=subprocess.DEVNULL)
    return p, out, err


def _read(f):
    f.seek(0)
    return f.read().decode(errors="replace")


def _wait_lines(out, n, timeout=60):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if _read(out).count("line") >= n:
            return
        time.sleep(0.1)
    raise AssertionError(f"fewer than {n} lines within {timeout}s: {_read(out)!r}")


def _finish(p, timeout=30):
    try:
        return p.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait()
        raise AssertionError("the client hung after the daemon died")


def _ticker(docker, name):
    docker("run", "-d", "--name", name, "busybox", "sh", "-c", TICKER, check=True)
    deadline = time.time() + 60
    while time.time() < deadline:
        if "line2" in docker("logs", name).stdout:
            return
        time.sleep(0.2)
    raise AssertionError("the container printed nothing")


def test_backend_kill_during_logs_follow_is_an_error(docker, name, local):
    """Defect 7: the frontend used to end the chunked reply when its backend
    connection dropped, so `docker logs -f` exited 0 with truncated output."""
    _ticker(docker, name)
    p, out, err = _follow("logs", "-f", name)
    try:
        _wait_lines(out, 5)
        os.kill(_pid("backend"), signal.SIGKILL)
        rc = _finish(p)
        assert rc != 0, f"logs -f ended cleanly: {_read(err)!r}"
        assert "unexpected EOF" in _read(err), _read(err)
    finally:
        if p.poll() is None:
            p.kill()
        local("restart-backend")
    ps = docker("ps", "--filter", f"name={name}", "--format", "{{.Status}}", check=True)
    assert ps.stdout.startswith("Up"), ps.stdout
    docker("rm", "-f", name, check=True)


def test_frontend_kill_during_logs_follow_and_attach(docker, name, local):
    """The frontend dies under a follower and an attached client: both
    report an error, the restarted frontend serves, the container lives."""
    _ticker(docker, name)
    logs, lout, lerr = _follow("logs", "-f", name)
    attach, aout, aerr = _follow("attach", "--no-stdin", name)
    try:
        _wait_lines(lout, 5)
        _wait_lines(aout, 3)
        os.kill(_pid("frontend"), signal.SIGKILL)
        lrc = _finish(logs)
        arc = _finish(attach)
        assert lrc != 0, f"logs -f ended cleanly: {_read(lerr)!r}"
        assert arc != 0, f"attach ended cleanly: {_read(aerr)!r}"
    finally:
        for p in (logs, attach):
            if p.poll() is None:
                p.kill()
        local("restart-frontend")
    ps = docker("ps", "--filter", f"name={name}", "--format", "{{.Status}}", check=True)
    assert ps.stdout.startswith("Up"), ps.stdout
    # The restarted frontend streams again.
    assert "line" in docker("logs", "--tail", "1", name, check=True).stdout
    docker("rm", "-f", name, check=True)


def test_backend_kill_during_attach_is_an_error(docker, name, local):
    """A drill: the attach stream ends when the backend dies, and the client
    fails (its wait alongside has no answer) instead of exiting as if the
    container had ended; the container is re-adopted."""
    _ticker(docker, name)
    p, out, err = _follow("attach", "--no-stdin", name)
    try:
        _wait_lines(out, 3)
        os.kill(_pid("backend"), signal.SIGKILL)
        rc = _finish(p)
        assert rc != 0, f"attach ended cleanly: {_read(err)!r}"
    finally:
        if p.poll() is None:
            p.kill()
        local("restart-backend")
    ps = docker("ps", "--filter", f"name={name}", "--format", "{{.Status}}", check=True)
    assert ps.stdout.startswith("Up"), ps.stdout
    docker("rm", "-f", name, check=True)
