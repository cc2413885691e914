"""Container lifecycle through the CLI: run -d, ps and its filters, inspect,
create/start, stop, kill, restart, wait, rm, rename, container prune."""
import json
import time
import uuid

import pytest

from e2e_lib import (BUSYBOX, RUN_ID, TARGET, TESTIMAGE, ZERO_TIME, dk, dk_ok,
                     inspect, parse_ts, wait_for, wait_state)


@pytest.fixture(scope="module")
def pair():
    """One running and one exited container, sharing a unique label, for the
    ps and inspect tests (created once: every task start costs seconds)."""
    tag = uuid.uuid4().hex[:10]
    run_name = f"ske2e-run-{tag}"
    ex_name = f"ske2e-ex-{tag}"
    label = f"e2e.pair={tag}"
    try:
        run_id = dk_ok("run", "-d", "--name", run_name, "--label", label,
                       "--label", "e2e.role=running", BUSYBOX,
                       "sleep", "600").strip()
        ex_id = dk_ok("run", "-d", "--name", ex_name, "--label", label,
                      "--label", "e2e.role=exited", "--entrypoint", "sh", TESTIMAGE,
                      "-c", "exit 5").strip()
        wait_state(run_name, "running")
        wait_state(ex_name, "exited")
        yield {"run": (run_name, run_id), "exited": (ex_name, ex_id),
               "label": label, "tag": tag}
    finally:
        dk("rm", "-f", run_name, ex_name)


def ps_names(*args):
    out = dk_ok("ps", *args, "--format", "{{.Names}}")
    return set(out.split())


def test_run_detached_prints_id(pair):
    name, cid = pair["run"]
    assert len(cid) == 64 and all(c in "0123456789abcdef" for c in cid), cid


def test_ps_shows_running_only(pair):
    names = ps_names()
    assert pair["run"][0] in names
    assert pair["exited"][0] not in names


def test_ps_all_shows_exited(pair):
    names = ps_names("-a")
    assert {pair["run"][0], pair["exited"][0]} <= names


def test_ps_filter_label(pair):
    names = ps_names("-a", "--filter", f"label={pair['label']}")
    assert names == {pair["run"][0], pair["exited"][0]}, names
    names = ps_names("-a", "--filter", f"label={pair['label']}",
                     "--filter", "label=e2e.role=exited")
    assert names == {pair["exited"][0]}, names
    # A label key alone matches any value.
    assert pair["run"][0] in ps_names("-a", "--filter", "label=e2e.role")


def test_ps_filter_name(pair):
    names = ps_names("-a", "--filter", f"name={pair['exited'][0]}")
    assert names == {pair["exited"][0]}, names
    # name= is a substring match, as in Docker.
    names = ps_names("-a", "--filter", f"name={pair['tag']}")
    assert names == {pair["run"][0], pair["exited"][0]}, names


def test_ps_filter_status(pair):
    lbl = f"label={pair['label']}"
    assert ps_names("-a", "--filter", lbl, "--filter", "status=exited") == {pair["exited"][0]}
    assert ps_names("-a", "--filter", lbl, "--filter", "status=running") == {pair["run"][0]}
    assert ps_names("-a", "--filter", lbl, "--filter", "status=created") == set()


def test_ps_filter_id(pair):
    name, cid = pair["run"]
    assert ps_names("-a", "--filter", f"id={cid}") == {name}
    assert ps_names("-a", "--filter", f"id={cid[:12]}") == {name}


def test_ps_format_names_status(pair):
    out = dk_ok("ps", "-a", "--filter", f"label={pair['label']}",
                "--format", "{{.Names}} {{.Status}}")
    rows = dict(line.split(" ", 1) for line in out.splitlines())
    assert rows[pair["run"][0]].startswith("Up"), rows
    assert rows[pair["exited"][0]].startswith("Exited (5)"), rows


def test_ps_quiet_and_json(pair):
    ids = dk_ok("ps", "-aq", "--no-trunc", "--filter", f"label={pair['label']}").split()
    assert set(ids) == {pair["run"][1], pair["exited"][1]}
    rows = [json.loads(line) for line in dk_ok(
        "ps", "-a", "--filter", f"label={pair['label']}", "--format", "{{json .}}").splitlines()]
    for r in rows:
        assert r["Image"] and r["Command"] and r["CreatedAt"] and r["State"], r
        assert f"sk.e2e.run={RUN_ID}" in r["Labels"], r


def test_inspect_running(pair):
    name, cid = pair["run"]
    d = inspect(name)
    assert d["Id"] == cid
    assert d["Name"] == "/" + name
    st = d["State"]
    assert st["Status"] == "running" and st["Running"] is True, st
    assert st["ExitCode"] == 0
    assert st["StartedAt"] != ZERO_TIME and parse_ts(st["StartedAt"])
    assert st["FinishedAt"] == ZERO_TIME or parse_ts(st["FinishedAt"]) < parse_ts(st["StartedAt"])
    assert isinstance(d["NetworkSettings"], dict), d["NetworkSettings"]
    assert isinstance(d["Mounts"], list), d["Mounts"]
    assert d["Config"]["Labels"]["e2e.role"] == "running"
    assert d["Config"]["Cmd"] == ["sleep", "600"]
    assert d["Path"] == "sleep" and d["Args"] == ["600"], (d["Path"], d["Args"])
    assert parse_ts(d["Created"])
    assert d["Image"].startswith("sha256:"), d["Image"]


def test_inspect_exited(pair):
    name, _ = pair["exited"]
    d = inspect(name)
    st = d["State"]
    assert st["Status"] == "exited" and st["Running"] is False, st
    assert st["ExitCode"] == 5, st
    # Both set; Docker itself may record FinishedAt a hair before StartedAt
    # for a process that exits at once, so no order is asserted.
    assert st["StartedAt"] != ZERO_TIME and st["FinishedAt"] != ZERO_TIME, st
    assert parse_ts(st["FinishedAt"]) and parse_ts(st["StartedAt"])
    assert "TESTVAR=fromimage" in d["Config"]["Env"], d["Config"]["Env"]
    assert d["Config"]["Labels"]["org.sockerless.test"] == "yes"
    assert isinstance(d["Mounts"], list)


def test_inspect_format(pair):
    name, _ = pair["exited"]
    out = dk_ok("inspect", "--format", "{{.State.Status}} {{.State.ExitCode}}", name)
    assert out.strip() == "exited 5"


def test_create_then_start(docker, name):
    cid = dk_ok("create", "--name", name, BUSYBOX, "sh", "-c", "echo started; exit 4").strip()
    d = inspect(name)
    assert d["Id"] == cid
    assert d["State"]["Status"] == "created" and d["State"]["Running"] is False
    assert d["State"]["StartedAt"] == ZERO_TIME
    assert name in set(dk_ok("ps", "-a", "--filter", "status=created",
                             "--format", "{{.Names}}").split())
    assert docker("start", name).returncode == 0
    p = docker("wait", name)
    assert p.returncode == 0 and p.stdout.strip() == "4", (p.stdout, p.stderr)
    st = inspect(name)["State"]
    assert st["Status"] == "exited" and st["ExitCode"] == 4, st
    assert "started" in docker("logs", name).stdout


def test_start_attached(docker, name):
    dk_ok("create", "--name", name, BUSYBOX, "echo", "attached-start")
    p = docker("start", "-a", name)
    assert p.returncode == 0, p.stderr
    assert "attached-start" in p.stdout, p.stdout


def test_stop(docker, name):
    # `sleep` as PID 1 ignores SIGTERM, so stop has to escalate to SIGKILL.
    # On ECS, `-t` cannot shorten the definition's stopTimeout
    # (docs/backend-ecs.md), so --stop-timeout at create keeps this short.
    dk_ok("run", "-d", "--name", name, "--stop-timeout", "2", BUSYBOX, "sleep", "300")
    wait_state(name, "running")
    t0 = time.monotonic()
    p = docker("stop", "-t", "1", name)
    assert p.returncode == 0 and p.stdout.strip() == name, (p.stdout, p.stderr)
    assert time.monotonic() - t0 < 60
    st = wait_state(name, "exited")["State"]
    assert st["Running"] is False
    assert st["ExitCode"] in (137, 143), st
    # Stopping a stopped container is not an error.
    assert docker("stop", name).returncode == 0


def test_stop_graceful_exit_code(docker, name):
    # A workload that handles SIGTERM exits with its own code.
    dk_ok("run", "-d", "--name", name, BUSYBOX, "sh", "-c",
          "trap 'exit 143' TERM; while true; do sleep 0.2; done")
    wait_state(name, "running")
    assert docker("stop", "-t", "30", name).returncode == 0
    st = wait_state(name, "exited")["State"]
    assert st["ExitCode"] == 143, st


def test_kill(docker, name):
    dk_ok("run", "-d", "--name", name, "--stop-timeout", "2", BUSYBOX, "sleep", "300")
    wait_state(name, "running")
    p = docker("kill", name)
    assert p.returncode == 0 and p.stdout.strip() == name, (p.stdout, p.stderr)
    st = wait_state(name, "exited")["State"]
    if TARGET == "sockerless":
        # StopTask: ECS sends SIGTERM then SIGKILL after stopTimeout.
        assert st["ExitCode"] in (137, 143), st
    else:
        assert st["ExitCode"] == 137, st
    # Killing a container that is not running is a 409.
    p = docker("kill", name)
    assert p.returncode != 0 and "is not running" in p.stderr, p.stderr


def test_restart(docker, name):
    dk_ok("run", "-d", "--name", name, "--stop-timeout", "2", BUSYBOX, "sh", "-c",
          "echo boot; trap 'exit 0' TERM; while true; do sleep 0.2; done")
    first = wait_state(name, "running")["State"]["StartedAt"]
    p = docker("restart", "-t", "2", name)
    assert p.returncode == 0, p.stderr
    d = wait_state(name, "running")
    assert d["State"]["Running"] is True
    assert parse_ts(d["State"]["StartedAt"]) > parse_ts(first), (first, d["State"])
    assert docker("stop", name).returncode == 0
    wait_state(name, "exited")


def test_restart_exited(docker, name):
    assert docker("run", "--name", name, BUSYBOX, "sh", "-c", "exit 2").returncode == 2
    assert docker("restart", name).returncode == 0
    p = docker("wait", name)
    assert p.stdout.strip() == "2", (p.stdout, p.stderr)


def test_wait_returns_exit_code(docker, name):
    dk_ok("run", "-d", "--name", name, BUSYBOX, "sh", "-c", "sleep 1; exit 7")
    p = docker("wait", name)
    assert p.returncode == 0, p.stderr
    assert p.stdout.strip() == "7", p.stdout
    # Waiting on an exited container answers at once with the kept code.
    assert docker("wait", name).stdout.strip() == "7"


def test_rm(docker, name):
    assert docker("run", "--name", name, BUSYBOX, "true").returncode == 0
    p = docker("rm", name)
    assert p.returncode == 0 and p.stdout.strip() == name, (p.stdout, p.stderr)
    p = docker("container", "inspect", name)
    assert p.returncode != 0 and "No such container" in p.stderr, p.stderr


def test_rm_running_needs_force(docker, name):
    dk_ok("run", "-d", "--name", name, BUSYBOX, "sleep", "300")
    wait_state(name, "running")
    p = docker("rm", name)
    assert p.returncode != 0, p.stdout
    assert "stop the container before" in p.stderr.lower() or "force" in p.stderr.lower(), p.stderr
    p = docker("rm", "-f", name)
    assert p.returncode == 0, p.stderr
    wait_for(lambda: docker("container", "inspect", name).returncode != 0,
             timeout=30, what="container removed")
    assert name not in ps_names("-a")


def test_rename(docker, names):
    old, new = names(), names()
    dk_ok("create", "--name", old, BUSYBOX, "true")
    assert docker("rename", old, new).returncode == 0
    assert inspect(new)["Name"] == "/" + new
    p = docker("container", "inspect", old)
    assert p.returncode != 0 and "No such container" in p.stderr
    # The old name is free again.
    assert docker("create", "--name", old, BUSYBOX, "true").returncode == 0


def test_container_prune(docker, names):
    # Scoped with a label filter so the test never removes anything but its
    # own containers on a shared engine.
    tag = uuid.uuid4().hex[:10]
    dead, alive = names(), names()
    dead_id = dk_ok("run", "-d", "--name", dead, "--label", f"e2e.prune={tag}",
                    BUSYBOX, "true").strip()
    dk_ok("run", "-d", "--name", alive, "--label", f"e2e.prune={tag}",
          BUSYBOX, "sleep", "300")
    wait_state(dead, "exited")
    wait_state(alive, "running")
    p = docker("container", "prune", "-f", "--filter", f"label=e2e.prune={tag}")
    assert p.returncode == 0, p.stderr
    assert dead_id in p.stdout, p.stdout
    assert "Total reclaimed space" in p.stdout, p.stdout
    assert docker("container", "inspect", dead).returncode != 0
    assert inspect(alive)["State"]["Running"] is True
