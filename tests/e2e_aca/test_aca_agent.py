"""What the agent serves on Container Apps, where it calls the backend back
(reverse mode): exec, stdin, attach before start, docker cp both ways, top,
stats, kill -s, stop -t and -s through the agent, health checks, restart,
and a restarted backend that finds its running containers again."""
import os
import socket
import subprocess
import time

import pytest

from e2e_lib import BUSYBOX, RUN_ID, dk_ok, inspect, wait_for, wait_state

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
RUN = os.environ.get("SK_RUN_DIR", "")


def _sleeper(name, *flags):
    dk_ok("run", "-d", "--name", name, *flags, BUSYBOX, "sh", "-c",
          "trap 'exit 0' TERM; while true; do sleep 0.2; done", timeout=300)
    wait_state(name, "running", timeout=120)


def test_exec(docker, name):
    _sleeper(name)
    p = docker("exec", name, "sh", "-c", "echo in-$((6*7)); exit 7")
    assert p.returncode == 7 and p.stdout == "in-42\n", (p.stdout, p.stderr)
    p = docker("exec", "-i", name, "cat", input="piped\n")
    assert p.stdout == "piped\n", p.stdout


def test_run_stdin(docker):
    p = docker("run", "-i", "--rm", BUSYBOX, "sh", "-c", "cat; echo done >&2",
               input="data 1\ndata 2\n", timeout=300)
    assert p.returncode == 0, p.stderr
    assert p.stdout == "data 1\ndata 2\n", p.stdout
    assert p.stderr == "done\n", p.stderr


def test_attach_before_start(apiclient, name):
    c = apiclient.create_container(BUSYBOX, ["sh", "-c", "read l; echo got-$l; exit 6"],
                                   name=name, stdin_open=True,
                                   labels={"sk.e2e.run": RUN_ID})
    sock = apiclient.attach_socket(c["Id"], params={"stdin": 1, "stdout": 1, "stderr": 1,
                                                    "stream": 1})
    raw = getattr(sock, "_sock", sock)
    apiclient.start(c["Id"])
    raw.sendall(b"hello\n")
    data = b""
    deadline = time.monotonic() + 120
    raw.settimeout(5)
    while b"got-hello" not in data and time.monotonic() < deadline:
        try:
            chunk = raw.recv(4096)
        except socket.timeout:
            continue
        if not chunk:
            break
        data += chunk
    raw.close()
    assert b"got-hello" in data, data
    assert apiclient.wait(c["Id"], timeout=120)["StatusCode"] == 6


def test_cp_both_ways(docker, name, tmp_path):
    _sleeper(name)
    src = tmp_path / "in"
    src.mkdir()
    (src / "f.txt").write_text("hello cp\n")
    assert docker("cp", str(src), f"{name}:/tmp/").returncode == 0
    assert docker("exec", name, "cat", "/tmp/in/f.txt").stdout == "hello cp\n"
    out = tmp_path / "out"
    out.mkdir()
    assert docker("cp", f"{name}:/tmp/in", str(out)).returncode == 0
    assert (out / "in" / "f.txt").read_text() == "hello cp\n"


def test_top_stats(docker, name):
    _sleeper(name)
    p = docker("top", name)
    assert p.returncode == 0 and "sleep" in p.stdout, (p.stdout, p.stderr)
    p = docker("stats", "--no-stream", "--format", "{{.Name}} {{.PIDs}}", name)
    assert p.returncode == 0 and p.stdout.startswith(name), (p.stdout, p.stderr)


def test_kill_signal(docker, name):
    dk_ok("run", "-d", "--name", name, BUSYBOX, "sh", "-c",
          "trap 'echo got-usr1; exit 5' USR1; while true; do sleep 0.1; done", timeout=300)
    wait_state(name, "running", timeout=120)
    time.sleep(0.5)
    assert docker("kill", "-s", "USR1", name).returncode == 0
    assert wait_state(name, "exited", timeout=120)["State"]["ExitCode"] == 5
    wait_for(lambda: "got-usr1" in docker("logs", name).stdout, timeout=60, what="trap output")


def test_kill_default(docker, name):
    _sleeper(name)
    assert docker("kill", name).returncode == 0
    assert wait_state(name, "exited", timeout=120)["State"]["ExitCode"] == 137


def test_stop_graceful(docker, name):
    dk_ok("run", "-d", "--name", name, BUSYBOX, "sh", "-c",
          "trap 'echo term; exit 0' TERM; while true; do sleep 0.2; done", timeout=300)
    wait_state(name, "running", timeout=120)
    assert docker("stop", "-t", "5", name, timeout=120).returncode == 0
    st = wait_state(name, "exited", timeout=120)["State"]
    assert st["ExitCode"] == 0, st


def test_stop_timeout_kills(docker, name):
    # The workload ignores TERM: after -t the agent kills it (137).
    dk_ok("run", "-d", "--name", name, BUSYBOX, "sh", "-c",
          "trap '' TERM; while true; do sleep 0.2; done", timeout=300)
    wait_state(name, "running", timeout=120)
    assert docker("stop", "-t", "1", name, timeout=120).returncode == 0
    assert wait_state(name, "exited", timeout=120)["State"]["ExitCode"] == 137


def test_stop_signal_flag(docker, name):
    dk_ok("run", "-d", "--name", name, BUSYBOX, "sh", "-c",
          "trap 'echo got-usr2; exit 9' USR2; while true; do sleep 0.1; done", timeout=300)
    wait_state(name, "running", timeout=120)
    time.sleep(0.5)
    assert docker("stop", "-s", "USR2", "-t", "10", name, timeout=120).returncode == 0
    assert wait_state(name, "exited", timeout=120)["State"]["ExitCode"] == 9


def test_restart(docker, name):
    dk_ok("run", "-d", "--name", name, BUSYBOX, "sh", "-c",
          "echo run; trap 'exit 0' TERM; while true; do sleep 0.2; done", timeout=300)
    wait_state(name, "running", timeout=120)
    first = inspect(name)["State"]["StartedAt"]
    assert docker("restart", "-t", "2", name, timeout=300).returncode == 0
    d = wait_state(name, "running", timeout=120)
    assert d["State"]["StartedAt"] != first, d["State"]
    assert d["RestartCount"] == 0, d["RestartCount"]
    wait_for(lambda: docker("logs", name).stdout.count("run\n") == 2, timeout=120,
             what="the output of both runs")


def test_health(docker, name):
    dk_ok("run", "-d", "--name", name, "--health-cmd", "echo fine", "--health-interval", "1s",
          "--health-retries", "2", BUSYBOX, "sleep", "300", timeout=300)
    wait_for(lambda: (inspect(name)["State"].get("Health") or {}).get("Status") == "healthy",
             timeout=120, what="healthy")


def _local(*args, **env_extra):
    env = dict(os.environ, SK_RUN=RUN, **env_extra)
    if os.environ.get("SK_BUILD"):
        env["BUILD"] = os.environ["SK_BUILD"]
    p = subprocess.run([os.path.join(ROOT, "deploy", "local.sh"), *args], env=env,
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr


@pytest.mark.skipif(not RUN, reason="needs SK_RUN_DIR (the local stack)")
def test_restart_backend_readopts(docker, name):
    _sleeper(name)
    _local("restart-backend", "aca")
    assert inspect(name)["State"]["Status"] == "running"
    # The agent calls the new backend back: exec works again.
    wait_for(lambda: docker("exec", name, "echo", "back").stdout == "back\n",
             timeout=120, what="exec after the restart")
    assert docker("stop", "-t", "5", name, timeout=120).returncode == 0
    assert wait_state(name, "exited", timeout=120)["State"]["ExitCode"] == 0
