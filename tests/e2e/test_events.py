"""docker events with --since/--until and filters."""
import json
import time

from e2e_lib import BUSYBOX, dk_ok


def events(*args, timeout=60):
    out = dk_ok("events", *args, "--format", "{{json .}}", timeout=timeout)
    return [json.loads(line) for line in out.splitlines() if line.strip()]


def test_events_container_lifecycle(docker, name):
    since = int(time.time()) - 1
    cid = dk_ok("create", "--name", name, "--label", "e2e.ev=1", BUSYBOX,
                "sh", "-c", "exit 3").strip()
    assert docker("start", name).returncode == 0
    assert docker("wait", name).stdout.strip() == "3"
    assert docker("rm", name).returncode == 0
    until = int(time.time()) + 1
    evs = events("--since", str(since), "--until", str(until),
                 "--filter", f"container={name}")
    actions = [e.get("Action") or e.get("status") for e in evs]
    for want in ("create", "start", "die", "destroy"):
        assert want in actions, actions
    order = [a for a in actions if a in ("create", "start", "die", "destroy")]
    assert order == ["create", "start", "die", "destroy"], order
    for e in evs:
        assert e["Type"] == "container", e
        assert e["Actor"]["ID"] == cid, e
        assert e["Actor"]["Attributes"]["name"] == name, e
        assert e["Actor"]["Attributes"].get("e2e.ev") == "1", e
        assert e["time"] >= since and e["timeNano"] // 10**9 == e["time"], e
    die = next(e for e in evs if e["Action"] == "die")
    assert die["Actor"]["Attributes"]["exitCode"] == "3", die
    # The event filter narrows further.
    evs = events("--since", str(since), "--until", str(until),
                 "--filter", f"container={cid}", "--filter", "event=die")
    assert [e["Action"] for e in evs] == ["die"], evs


def test_events_filter_label(docker, name):
    since = int(time.time()) - 1
    assert docker("run", "--rm", "--name", name, "--label", f"e2e.evl={name}",
                  BUSYBOX, "true").returncode == 0
    until = int(time.time()) + 1
    evs = events("--since", str(since), "--until", str(until),
                 "--filter", f"label=e2e.evl={name}", "--filter", "type=container")
    actions = [e["Action"] for e in evs]
    assert "start" in actions and "die" in actions, actions
    assert all(e["Actor"]["Attributes"]["name"] == name for e in evs), evs
