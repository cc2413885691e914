"""One life cycle per container across a backend restart (issue 10 #4): a
remove that raced a create leaves nothing behind, not a "Removal In
Progress" record that can never be removed."""
import json
import os
import threading
import time
import urllib.request
import uuid

import pytest


def _sim_url():
    run = os.environ.get("SK_RUN_DIR", "")
    path = os.path.join(run, "ports.env")
    if not os.path.exists(path):
        return None
    with open(path) as f:
        for line in f:
            if line.startswith("SK_SIM_PORT="):
                return "http://127.0.0.1:" + line.split("=", 1)[1].strip()
    return None


@pytest.fixture
def sim(docker):
    url = _sim_url()
    info = docker("info", "--format", "{{.Driver}}").stdout.strip()
    if url is None or info != "ecs":
        pytest.skip("needs the local default on ECS and its simulator")

    def fault(**spec):
        req = urllib.request.Request(url + "/_sim/faults", method="POST",
                                     data=json.dumps(spec).encode())
        urllib.request.urlopen(req, timeout=10).close()
    yield fault
    req = urllib.request.Request(url + "/_sim/faults", method="DELETE")
    urllib.request.urlopen(req, timeout=10).close()


def test_rm_racing_create_leaves_nothing_after_restart(docker, name, local, sim):
    sim(service="ecs", operation="RegisterTaskDefinition", latency_ms=2000)
    out = {}

    def create():
        out["create"] = docker("create", "--name", name, "-e",
                               "SK_LIFE=" + uuid.uuid4().hex, "busybox", "true",
                               timeout=80)
    t = threading.Thread(target=create)
    t.start()
    time.sleep(0.7)
    rm = docker("rm", "-f", name, timeout=80)
    t.join(90)
    assert out["create"].returncode == 0, out["create"].stderr
    assert rm.returncode == 0, rm.stderr
    local("restart-backend")
    ps = docker("ps", "-a", "--filter", f"name=^/{name}$",
                "--format", "{{.ID}} {{.Status}}", check=True).stdout
    assert ps.strip() == "", ps
    p = docker("inspect", out["create"].stdout.strip())
    assert p.returncode != 0 and "No such" in p.stderr, p.stderr


def test_interrupted_removal_finishes_after_restart(docker, name, local):
    """A record left "removing" (a backend killed during a removal, or an
    older version's race) is removed after the restart instead of staying
    "Removal In Progress" for ever."""
    import sqlite3

    cid = docker("create", "--name", name, "busybox", "true",
                 check=True).stdout.strip()
    db = os.path.join(os.environ["SK_RUN_DIR"], "state-ecs", "state.db")
    if docker("info", "--format", "{{.Driver}}").stdout.strip() != "ecs" or \
            not os.path.exists(db):
        pytest.skip("needs the local default on ECS")
    con = sqlite3.connect(db, timeout=30)
    # Schema 5 (common/store.c): the document is in container_docs, under
    # its row's seq.
    with con:
        seq, doc = con.execute(
            "SELECT c.seq, d.doc FROM containers c JOIN container_docs d "
            "ON d.seq = c.seq WHERE c.id = ?", (cid,)).fetchone()
        doc = json.loads(doc)
        doc["State"]["Status"] = "removing"
        con.execute("UPDATE containers SET state = 'removing' WHERE id = ?",
                    (cid,))
        con.execute("UPDATE container_docs SET doc = ? WHERE seq = ?",
                    (json.dumps(doc), seq))
    con.close()
    local("restart-backend")
    deadline = time.time() + 30
    ps = None
    while time.time() < deadline:
        ps = docker("ps", "-a", "--filter", f"name=^/{name}$", "-q",
                    check=True).stdout.strip()
        if not ps:
            break
        time.sleep(0.5)
    assert not ps, docker("ps", "-a", "--filter", f"name=^/{name}$").stdout
    p = docker("rm", name)
    assert "No such container" in p.stderr, p.stderr
