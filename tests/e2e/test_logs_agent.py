"""docker logs of a running container comes from its agent's spool (issue
18, docs/agent-link.md's `logs` kind): the output is there at once, byte
for byte (a TTY's "\\r\\n", a last piece without its newline), with -t,
--tail, --since and -f as the log service's path gives them. On ECS every
GetLogEvents fails while the container runs, so a read of the log service
would be an error: these logs can only have come from the agent. Once the
container has exited, its logs are the log service's again, the same
bytes."""
import os
import subprocess
import threading
import time

import pytest

from e2e_lib import BUSYBOX, DOCKER, TARGET, _env, _inject, dk, dk_ok, sim_call, sim_url

# The container waits for /tmp/go (an exec) before it ends.
WAIT_GO = "while [ ! -e /tmp/go ]; do sleep 0.1; done"


def raw(*args, timeout=120):
    p = subprocess.run([DOCKER, *_inject(args)], env=_env(), capture_output=True,
                       timeout=timeout)
    return p.returncode, p.stdout, p.stderr


@pytest.fixture
def log_service_down():
    """GetLogEvents fails (not a throttle: at once) until the fixture ends:
    on ECS with its simulator only; elsewhere the tests run without the
    proof."""
    if (TARGET != "sockerless" or os.environ.get("SK_BACKEND", "ecs") != "ecs"
            or not sim_url()):
        yield lambda: None
        return
    fault = {"service": "logs", "operation": "GetLogEvents",
             "error": "AccessDeniedException", "status": 400, "count": None}
    sim_call("DELETE", "/_sim/faults")
    sim_call("POST", "/_sim/faults", fault)
    try:
        yield lambda: sim_call("DELETE", "/_sim/faults")
    finally:
        sim_call("DELETE", "/_sim/faults")


def logs_when(name, want, *flags):
    """docker logs NAME until its stdout is want (the workload is still
    writing its first bytes); every read must succeed."""
    deadline = time.time() + 120
    while True:
        rc, out, err = raw("logs", *flags, name)
        assert rc == 0, err
        if out == want or time.time() > deadline:
            return out, err
        time.sleep(0.2)


def test_running_tty_bytes(name, log_service_down):
    """A TTY's "\\r\\n" and a last piece without a newline, as written."""
    dk_ok("run", "-d", "-t", "--name", name, BUSYBOX, "sh", "-c",
          'printf "a\\nb\\n\\nc"; ' + WAIT_GO)
    out, err = logs_when(name, b"a\r\nb\r\n\r\nc")
    assert (out, err) == (b"a\r\nb\r\n\r\nc", b"")
    dk_ok("exec", name, "touch", "/tmp/go")
    assert dk("wait", name, timeout=120).stdout == "0\n"


def test_running_streams_timestamps_tail_since_follow(name, log_service_down):
    script = ('echo two >&2; sleep 0.3; echo one; printf three; ' + WAIT_GO +
              '; echo " end"')
    dk_ok("run", "-d", "--name", name, BUSYBOX, "sh", "-c", script)
    out, err = logs_when(name, b"one\nthree")
    assert (out, err) == (b"one\nthree", b"two\n")
    # -t: each line (and the last piece) after its RFC 3339 time.
    rc, out, err = raw("logs", "-t", name)
    assert rc == 0, err
    lines = out.split(b"\n")
    assert [ln.split(b" ", 1)[1] for ln in lines] == [b"one", b"three"], out
    assert all(ln[:2] == b"20" and ln.split(b" ", 1)[0].endswith(b"Z") for ln in lines)
    assert err.split(b" ", 1)[1] == b"two\n"
    assert raw("logs", "--tail", "1", name)[1:] == (b"three", b"")
    assert raw("logs", "--since", "1h", name)[1:] == (b"one\nthree", b"two\n")
    assert raw("logs", "--since", str(int(time.time()) + 3600), name)[1:] == (b"", b"")
    # -f from the agent: the unfinished line waits for its end, and the
    # stream ends with the process, as it does from the log service.
    res = {}

    def follow():
        res["p"] = raw("logs", "-f", name, timeout=180)
    t = threading.Thread(target=follow)
    t.start()
    time.sleep(1)  # let the follower start (not an assertion)
    assert t.is_alive()
    dk_ok("exec", name, "touch", "/tmp/go")
    t.join(180)
    assert res["p"] == (0, b"one\nthree end\n", b"two\n")
    assert dk("wait", name, timeout=120).stdout == "0\n"
    # Exited: the log service's, the same bytes.
    log_service_down()
    assert raw("logs", name)[1:] == (b"one\nthree end\n", b"two\n")
