"""docker logs: plain, -f (ends when the container exits), --tail, -t,
--since, --until."""
import re
import time

from e2e_lib import BUSYBOX, TARGET, dk_ok, wait_state

TS = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:\d\d)) (.*)$")


def merged(p):
    return p.stdout + p.stderr


def test_logs_of_exited(docker, name):
    assert docker("run", "--name", name, BUSYBOX, "sh", "-c",
                  "echo one; echo two; echo three >&2").returncode == 0
    p = docker("logs", name)
    assert p.returncode == 0, p.stderr
    if TARGET == "sockerless":
        # awslogs merges the streams (docs/backend-ecs.md).
        assert all(w in merged(p) for w in ("one", "two", "three")), (p.stdout, p.stderr)
    else:
        assert p.stdout == "one\ntwo\n" and p.stderr == "three\n", (p.stdout, p.stderr)


def test_logs_follow_ends_with_container(docker, name):
    dk_ok("run", "-d", "--name", name, BUSYBOX, "sh", "-c",
          "for i in 1 2 3; do echo tick$i; sleep 1; done")
    t0 = time.monotonic()
    p = docker("logs", "-f", name, timeout=90)
    assert p.returncode == 0, p.stderr
    assert p.stdout.split() == ["tick1", "tick2", "tick3"], p.stdout
    assert time.monotonic() - t0 < 60
    wait_state(name, "exited")


def test_logs_follow_of_exited(docker, name):
    assert docker("run", "--name", name, BUSYBOX, "echo", "done").returncode == 0
    p = docker("logs", "-f", name, timeout=60)
    assert p.returncode == 0 and p.stdout == "done\n", (p.stdout, p.stderr)


def test_logs_tail(docker, name):
    assert docker("run", "--name", name, BUSYBOX, "sh", "-c",
                  "for i in 1 2 3 4 5; do echo l$i; done").returncode == 0
    p = docker("logs", "--tail", "2", name)
    assert p.returncode == 0, p.stderr
    assert p.stdout.split() == ["l4", "l5"], p.stdout
    assert docker("logs", "--tail", "0", name).stdout == ""
    assert docker("logs", "--tail", "all", name).stdout.split() == [f"l{i}" for i in range(1, 6)]


def test_logs_timestamps(docker, name):
    assert docker("run", "--name", name, BUSYBOX, "sh", "-c",
                  "echo a; echo b").returncode == 0
    p = docker("logs", "-t", name)
    assert p.returncode == 0, p.stderr
    lines = p.stdout.splitlines()
    assert len(lines) == 2, lines
    for line, want in zip(lines, ("a", "b")):
        m = TS.match(line)
        assert m and m.group(2) == want, line


def test_logs_since_until(docker, name):
    assert docker("run", "--name", name, BUSYBOX, "sh", "-c",
                  "echo early; sleep 2; echo late").returncode == 0
    lines = [TS.match(line) for line in docker("logs", "-t", name).stdout.splitlines()]
    assert len(lines) == 2 and all(lines), lines
    t_early, t_late = lines[0].group(1), lines[1].group(1)
    assert t_early != t_late
    # The server's own timestamps bound the entries (both ends inclusive).
    p = docker("logs", "--since", t_late, name)
    assert p.returncode == 0 and p.stdout.split() == ["late"], (p.stdout, p.stderr)
    p = docker("logs", "--until", t_early, name)
    assert p.returncode == 0 and p.stdout.split() == ["early"], (p.stdout, p.stderr)
    # Relative and Unix forms of --since.
    assert docker("logs", "--since", "10m", name).stdout.split() == ["early", "late"]
    future = str(int(time.time()) + 3600)
    assert docker("logs", "--since", future, name).stdout == ""


def test_logs_without_final_newline(docker, name):
    # Output that ends without a newline comes back without one, and a line
    # longer than the agent's 16 KiB pieces comes back whole, as dockerd's
    # json-file gives them (docs/agent-link.md: the "+" marks).
    dk_ok("run", "--name", name, BUSYBOX, "sh", "-c",
          "echo abc; head -c 20000 /dev/zero | tr '\\0' x; echo; printf end; "
          "printf oops >&2")
    p = docker("logs", name)
    assert p.returncode == 0, p.stderr
    assert p.stdout == "abc\n" + "x" * 20000 + "\nend", p.stdout[-40:]
    assert p.stderr == "oops", p.stderr
