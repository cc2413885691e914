"""docker stop and restart as dockerd does them: the stop signal (the
container's StopSignal, or `docker stop -s`) first, KILL after -t only if the
workload still runs. On the container backends with the agent (ecs, cloudrun)
the signal goes through the agent and the kill after -t too
(kit_stop_through_agent); the clouds' own stop calls (StopTask,
executions.cancel) give no choice of signal, and ECS's grace is fixed per task
definition."""
import time

from e2e_lib import BUSYBOX, dk_ok, inspect, parse_ts, wait_for, wait_state


def run_trapping(docker, name, traps, *flags):
    """A running container whose sh sets traps, then says "ready" and loops;
    returned once the traps are set (a signal before would end sh by
    itself)."""
    dk_ok("run", "-d", "--name", name, *flags, BUSYBOX, "sh", "-c",
          f"{traps} echo ready; while :; do sleep 0.1; done")
    wait_state(name, "running")
    wait_for(lambda: "ready" in docker("logs", name).stdout, timeout=90, what="the traps")


def exit_code(docker, name):
    p = docker("wait", name, timeout=180)
    assert p.returncode == 0, p.stderr
    return int(p.stdout.strip())


def test_stop_term_within_grace(docker, name):
    # The workload ends on TERM by itself: its own code, no kill.
    run_trapping(docker, name, "trap 'exit 7' TERM;")
    assert docker("stop", "-t", "60", name, timeout=180).returncode == 0
    assert exit_code(docker, name) == 7
    assert inspect(name)["State"]["OOMKilled"] is False


def test_stop_ignored_term_killed_after_t(docker, name):
    # TERM ignored: KILL after -t, 137 as dockerd. --stop-timeout 60 shows
    # that -t wins over it (and over ECS's stopTimeout of the definition).
    run_trapping(docker, name, "trap '' TERM;", "--stop-timeout", "60")
    t0 = time.monotonic()
    assert docker("stop", "-t", "1", name, timeout=180).returncode == 0
    assert exit_code(docker, name) == 137
    assert time.monotonic() - t0 < 45, "stop -t 1 waited for --stop-timeout 60"


def test_stop_no_limit(docker, name):
    # -t -1: no kill at all; the workload ends on TERM in its own time.
    run_trapping(docker, name, "trap 'sleep 2; exit 3' TERM;")
    assert docker("stop", "-t", "-1", name, timeout=180).returncode == 0
    assert exit_code(docker, name) == 3


def test_stop_s(docker, name):
    run_trapping(docker, name, "trap 'exit 5' USR1; trap 'exit 9' TERM;")
    assert docker("stop", "-s", "USR1", "-t", "60", name, timeout=180).returncode == 0
    assert exit_code(docker, name) == 5


def test_stop_bad_signal(docker, name):
    run_trapping(docker, name, "")
    p = docker("stop", "-s", "NOPE", name)
    assert p.returncode != 0 and "Invalid signal" in p.stderr, p.stderr
    assert inspect(name)["State"]["Running"] is True


def test_restart_t(docker, name):
    # restart -t is the same stop, then a start.
    run_trapping(docker, name, "trap '' TERM;", "--stop-timeout", "2")
    first = inspect(name)["State"]["StartedAt"]
    assert docker("restart", "-t", "1", name, timeout=180).returncode == 0
    st = wait_state(name, "running")["State"]
    assert parse_ts(st["StartedAt"]) > parse_ts(first), (first, st)
    # The new run's traps are set once it said "ready" too.
    wait_for(lambda: docker("logs", name).stdout.count("ready") >= 2, timeout=90,
             what="the second run's traps")
    assert docker("stop", "-t", "0", name, timeout=180).returncode == 0
    assert exit_code(docker, name) == 137
