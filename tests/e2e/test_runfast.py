"""A run whose exit comes from the agent's link (issue 18): the agent reports
the main process's exit the moment it ends, and the container exits then,
before the cloud's status says so. What `docker run` prints must still be
all of the output, byte for byte, stdout and stderr apart, with the exit
code; a detached run without --rm still ends through the cloud's status
(the poller); and on ECS the start answers at the agent's HELLO, before
the cloud says the task runs."""
import os
import subprocess

import pytest

from e2e_lib import (BUSYBOX, DOCKER, TARGET, _env, _inject, dk, inspect, sim_call, sim_url,
                     wait_for)


def run_bytes(*args, timeout=180):
    """docker run ... with stdout and stderr as bytes, unchanged."""
    argv = _inject(["run", *args])
    return subprocess.run([DOCKER, *argv], env=_env(), capture_output=True,
                          timeout=timeout)


def test_last_line_without_newline():
    p = run_bytes("--rm", BUSYBOX, "sh", "-c", "echo first; printf 'last'")
    assert p.returncode == 0, p.stderr
    assert p.stdout == b"first\nlast", p.stdout


def test_carriage_returns_and_empty_lines_kept():
    p = run_bytes("--rm", BUSYBOX, "sh", "-c", r"printf 'a\r\n\n\nb\rc'")
    assert p.returncode == 0, p.stderr
    assert p.stdout == b"a\r\n\n\nb\rc", p.stdout


def test_big_final_output_complete():
    # About 1.3 MB written just before the exit: all of it arrives.
    p = run_bytes("--rm", BUSYBOX, "sh", "-c", "seq 1 200000; printf end")
    assert p.returncode == 0, p.stderr
    want = "".join("%d\n" % i for i in range(1, 200001)).encode() + b"end"
    assert len(p.stdout) == len(want), (len(p.stdout), len(want))
    assert p.stdout == want


def test_stderr_after_stdout_kept_apart():
    p = run_bytes("--rm", BUSYBOX, "sh", "-c",
                  "echo out; echo err >&2; printf tail >&2")
    assert p.returncode == 0, p.stderr
    assert p.stdout == b"out\n", p.stdout
    assert p.stderr == b"err\ntail", p.stderr


def test_exit_code_with_output(name):
    p = run_bytes("--name", name, BUSYBOX, "sh", "-c", "echo x; exit 7")
    assert p.returncode == 7, p.stderr
    assert p.stdout == b"x\n", p.stdout
    st = inspect(name)["State"]
    assert st["Status"] == "exited" and st["ExitCode"] == 7, st
    assert st["FinishedAt"] >= st["StartedAt"], st


def test_rm_removes_after_link_exit(name):
    p = run_bytes("--rm", "--name", name, BUSYBOX, "sh", "-c", "exit 4")
    assert p.returncode == 4, p.stderr
    wait_for(lambda: dk("container", "inspect", name).returncode != 0,
             timeout=30, what="container removed by --rm")


def test_detached_run_ends_through_the_poller(name):
    # Nothing attaches: the exit comes from the cloud's status, as before
    # (the link dialled for the start does not end a container that has
    # no --rm).
    dk("run", "-d", "--name", name, BUSYBOX, "sh", "-c", "sleep 2; exit 5",
       check=True)
    p = dk("wait", name, timeout=180)
    assert p.returncode == 0 and p.stdout.strip() == "5", (p.stdout, p.stderr)
    st = inspect(name)["State"]
    assert st["Status"] == "exited" and st["ExitCode"] == 5, st
    logs = dk("logs", name, timeout=120)
    assert logs.returncode == 0, logs.stderr


@pytest.fixture
def running_lag():
    """The simulated ECS reports RUNNING 30 s after the task's containers
    run (real ECS reports it a moment late)."""
    if TARGET != "sockerless" or os.environ.get("SK_BACKEND", "ecs") != "ecs":
        pytest.skip("the ECS backend on the AWS simulator only")
    if not sim_url():
        pytest.skip("the AWS simulator's port is unknown (SK_SIM_PORT / SK_RUN_DIR)")
    sim_call("POST", "/_sim/ecs/running-lag", {"seconds": 30})
    try:
        yield
    finally:
        sim_call("POST", "/_sim/ecs/running-lag", {"seconds": 0})


def test_start_answers_at_the_agents_hello(name, running_lag):
    # The agent's HELLO proves the workload runs: the start answers then,
    # while the cloud still says PENDING, and the agent is reachable.
    from test_hard_faults import ecs_client, live_tasks_tagged
    p = dk("run", "-d", "--name", name, "--label", "sk.lag=" + name, BUSYBOX,
           "sleep", "120", timeout=25)
    assert p.returncode == 0, p.stderr
    st = inspect(name)["State"]
    assert st["Running"] and st["Status"] == "running", st
    tasks = live_tasks_tagged(ecs_client(), "sk.lag", name)
    assert [status for _, status in tasks] == ["PENDING"], tasks
    out = dk("exec", name, "echo", "inside", timeout=25)
    assert out.returncode == 0 and out.stdout == "inside\n", (out.stdout, out.stderr)
    # A run with --rm ends with its output and status through the link.
    q = run_bytes("--rm", BUSYBOX, "sh", "-c", "echo out; exit 3", timeout=25)
    assert q.returncode == 3, q.stderr
    assert q.stdout == b"out\n", q.stdout
    dk("rm", "-f", name)
