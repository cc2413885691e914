"""One life cycle per container (issue 10, slice "life"): a start that fails
ends `docker run --rm`, concurrent starts all get an answer, and a remove
racing a create waits for it, so every answer matches the state.

The cloud is made to misbehave through the AWS simulator's fault API
(/_sim/faults): a RunTask failure fails a start, latency on
RegisterTaskDefinition / RunTask widens the create and start windows. These
tests need the local default on ECS (SK_RUN_DIR with its ports.env)."""
import json
import threading
import time
import uuid

import pytest

from e2e_lib import BUSYBOX, TARGET, dk, dk_ok, sim_call, sim_url


def _backend():
    p = dk("info", "--format", "{{json .}}", timeout=60)
    if p.returncode != 0:
        return None
    info = json.loads(p.stdout)
    return info.get("Driver") or info.get("Name")


@pytest.fixture
def sim():
    url = sim_url()
    if TARGET != "sockerless" or url is None:
        pytest.skip("needs the local default's AWS simulator (SK_RUN_DIR)")
    if _backend() != "ecs":
        pytest.skip("the faults used here are ECS calls")

    def fault(**spec):
        sim_call("POST", "/_sim/faults", spec)
    yield fault
    sim_call("DELETE", "/_sim/faults")


def _gone(name):
    return dk_ok("ps", "-aq", "--filter", f"name=^/{name}$").strip() == ""


def _unique_env():
    # A definition nobody registered yet, so create really calls the cloud.
    return ["-e", "SK_LIFE=" + uuid.uuid4().hex]


@pytest.mark.parametrize("detach", [False, True], ids=["fg", "detach"])
def test_failed_start_run_rm_ends(sim, name, detach):
    """A start that fails ends `docker run --rm` at once, with exit 125 and
    the message, and the container is removed (it used to hang forever)."""
    sim(service="ecs", operation="RunTask", run_task_failure="RESOURCE:MEMORY")
    args = ["run", "--rm", "--name", name] + (["-d"] if detach else [])
    t0 = time.monotonic()
    p = dk(*args, BUSYBOX, "true", timeout=60)
    assert p.returncode == 125, (p.returncode, p.stdout, p.stderr)
    assert "RESOURCE:MEMORY" in p.stderr, p.stderr
    assert time.monotonic() - t0 < 30
    assert _gone(name)


def test_failed_start_without_rm_keeps_container(sim, name):
    sim(service="ecs", operation="RunTask", run_task_failure="RESOURCE:MEMORY")
    p = dk("run", "--name", name, BUSYBOX, "true", timeout=60)
    assert p.returncode == 125, (p.returncode, p.stderr)
    assert "RESOURCE:MEMORY" in p.stderr, p.stderr
    state = json.loads(dk_ok("inspect", name))[0]["State"]
    assert state["Status"] == "created", state
    assert "RESOURCE:MEMORY" in state["Error"], state


def _parallel(n, fn):
    results = [None] * n

    def one(i):
        results[i] = fn(i)
    threads = [threading.Thread(target=one, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(90)
    assert not any(t.is_alive() for t in threads), "a request hangs"
    return results


def test_concurrent_starts_all_answered(sim, name):
    """Four `docker start` of one container at once: every one answers (the
    later ones used to hang forever) and the container runs once."""
    dk_ok("create", "--name", name, BUSYBOX, "sleep", "60")
    sim(service="ecs", operation="RunTask", latency_ms=1500)
    results = _parallel(4, lambda i: dk("start", name, timeout=80))
    for p in results:
        assert p.returncode == 0, (p.returncode, p.stderr)
    state = json.loads(dk_ok("inspect", name))[0]["State"]
    assert state["Running"], state
    dk_ok("rm", "-f", name)
    assert _gone(name)


def test_rm_f_during_create_that_succeeds(sim, name):
    """rm -f while the create is in the cloud waits for it and removes the
    container: the create answers with its id, the remove succeeds, and
    nothing is left (no id that no longer exists, no zombie)."""
    sim(service="ecs", operation="RegisterTaskDefinition", latency_ms=2000)
    out = {}

    def create():
        out["create"] = dk("create", "--name", name, *_unique_env(), BUSYBOX,
                           "true", timeout=80)
    t = threading.Thread(target=create)
    t.start()
    time.sleep(0.7)
    rm = dk("rm", "-f", name, timeout=80)
    t.join(90)
    assert not t.is_alive(), "create hangs"
    c = out["create"]
    assert c.returncode == 0, (c.returncode, c.stderr)
    assert rm.returncode == 0, (rm.returncode, rm.stderr)
    assert _gone(name)
    cid = c.stdout.strip()
    p = dk("inspect", cid)
    assert p.returncode != 0 and "No such" in p.stderr, (p.returncode, p.stderr)
    # The daemon is alive and the name is free again.
    dk_ok("create", "--name", name, BUSYBOX, "true")


def test_rm_f_during_create_that_fails(sim, name):
    """rm -f while a create fails in the cloud: the create reports its error,
    the remove finds nothing left (rm -f is quiet about it), and the backend
    survives (the container was released twice: a use after free)."""
    sim(service="ecs", operation="RegisterTaskDefinition", latency_ms=2000,
        error="ClientException", status=400,
        message="Injected: the definition is invalid")
    out = {}

    def create():
        out["create"] = dk("create", "--name", name, *_unique_env(), BUSYBOX,
                           "true", timeout=80)
    t = threading.Thread(target=create)
    t.start()
    time.sleep(0.7)
    rm = dk("rm", "-f", name, timeout=80)
    t.join(90)
    assert not t.is_alive(), "create hangs"
    c = out["create"]
    assert c.returncode != 0 and "Injected" in c.stderr, (c.returncode, c.stderr)
    assert rm.returncode == 0, (rm.returncode, rm.stderr)
    assert _gone(name)
    dk_ok("ps")
    dk_ok("create", "--name", name, BUSYBOX, "true")


def test_start_during_create_waits(sim, name):
    """A start that arrives while the create is in the cloud runs once the
    container exists."""
    sim(service="ecs", operation="RegisterTaskDefinition", latency_ms=2000)
    out = {}

    def create():
        out["create"] = dk("create", "--name", name, *_unique_env(), BUSYBOX,
                           "sleep", "60", timeout=80)
    t = threading.Thread(target=create)
    t.start()
    time.sleep(0.7)
    st = dk("start", name, timeout=80)
    t.join(90)
    assert out["create"].returncode == 0, out["create"].stderr
    assert st.returncode == 0, (st.returncode, st.stderr)
    state = json.loads(dk_ok("inspect", name))[0]["State"]
    assert state["Running"], state
