"""Issue 11 #8: the events dockerd 1.44 emits that clients wait for --
attach, kill (signal), stop, exec_create/exec_start/exec_die (execID,
exitCode) and image events with their "name" attribute, with dockerd's
Action strings. The same assertions hold against the reference engine."""
import json
import time
import uuid

import pytest

from e2e_lib import BUSYBOX, dk_ok, inspect


def events(*args, timeout=60):
    out = dk_ok("events", *args, "--format", "{{json .}}", timeout=timeout)
    return [json.loads(line) for line in out.splitlines() if line.strip()]


def window(since, *filters):
    until = int(time.time()) + 1
    args = []
    for f in filters:
        args += ["--filter", f]
    return events("--since", str(since), "--until", str(until), *args)


def test_events_attach_on_attached_run(docker, name):
    since = int(time.time()) - 1
    assert docker("run", "--name", name, BUSYBOX, "true").returncode == 0
    acts = [e["Action"] for e in window(since, f"container={name}")]
    assert "attach" in acts, acts
    assert acts.index("attach") < acts.index("start"), acts


def test_events_stop_and_kill(docker, name):
    since = int(time.time()) - 1
    dk_ok("run", "-d", "--name", name, BUSYBOX, "sh", "-c",
          "trap 'exit 0' TERM; sleep 300 & wait")
    time.sleep(1)
    assert docker("stop", "-t", "10", name).returncode == 0
    dk_ok("start", name)
    time.sleep(1)
    assert docker("kill", name).returncode == 0
    evs = window(since, f"container={name}")
    acts = [e["Action"] for e in evs]
    kills = [e["Actor"]["Attributes"]["signal"] for e in evs
             if e["Action"] == "kill"]
    assert kills == ["15", "9"], evs
    # stop: kill, then die, then stop, as dockerd orders them.
    first = acts[:acts.index("stop") + 1]
    assert first[-3:] == ["kill", "die", "stop"], acts
    assert acts.count("stop") == 1, acts
    for e in evs:
        assert e["Actor"]["Attributes"]["name"] == name, e
    assert window(since, f"container={name}", "event=kill")[0][
        "Actor"]["Attributes"]["signal"] == "15"


def test_events_exec(docker, name):
    since = int(time.time()) - 1
    dk_ok("run", "-d", "--name", name, BUSYBOX, "sleep", "300")
    p = docker("exec", name, "sh", "-c", "exit 3")
    if p.returncode != 3 and "does not support exec" in p.stderr:
        pytest.skip("this backend has no exec (Lambda)")
    assert p.returncode == 3, p
    assert docker("exec", name, "true").returncode == 0
    evs = [e for e in window(since, f"container={name}")
           if e["Action"].startswith("exec_")]
    acts = [e["Action"] for e in evs]
    assert acts == ["exec_create: sh -c exit 3", "exec_start: sh -c exit 3",
                    "exec_die", "exec_create: true ", "exec_start: true ",
                    "exec_die"], acts
    ids = [e["Actor"]["Attributes"]["execID"] for e in evs]
    assert ids[0] == ids[1] == ids[2] != ids[3], evs
    assert ids[3] == ids[4] == ids[5], evs
    assert [e["Actor"]["Attributes"]["exitCode"] for e in evs
            if e["Action"] == "exec_die"] == ["3", "0"], evs
    assert "exitCode" not in evs[0]["Actor"]["Attributes"], evs
    assert all(e["Actor"]["Attributes"]["name"] == name for e in evs), evs
    # dockerd matches exec_create/exec_start filters as prefixes.
    got = window(since, f"container={name}", "event=exec_create")
    assert [e["Action"] for e in got] == ["exec_create: sh -c exit 3",
                                          "exec_create: true "], got
    got = window(since, f"container={name}", "event=exec_die")
    assert [e["Action"] for e in got] == ["exec_die", "exec_die"], got


def test_events_image_names(docker):
    since = int(time.time()) - 1
    dk_ok("pull", BUSYBOX, timeout=180)
    img = inspect(BUSYBOX, "image")["Id"]
    repo = f"ske2e-ev-{uuid.uuid4().hex[:8]}"
    dk_ok("tag", BUSYBOX, f"{repo}:t1")
    dk_ok("rmi", f"{repo}:t1")
    evs = window(since, "type=image")
    pulls = [e for e in evs if e["Action"] == "pull"]
    assert pulls and pulls[-1]["Actor"]["ID"] == "busybox:latest", pulls
    assert pulls[-1]["Actor"]["Attributes"]["name"] == "busybox", pulls
    tags = [e for e in evs if e["Action"] == "tag"
            and e["Actor"]["Attributes"].get("name") == f"{repo}:t1"]
    assert len(tags) == 1 and tags[0]["Actor"]["ID"] == img, evs
    untags = [e for e in evs if e["Action"] == "untag"
              and e["Actor"]["ID"] == img]
    assert untags, evs
    assert untags[-1]["Actor"]["Attributes"]["name"] == img, untags
    # The image filter finds a tag by the new name, as dockerd's does.
    got = window(since, "type=image", f"image={repo}:t1")
    assert [e["Action"] for e in got] == ["tag"], got
