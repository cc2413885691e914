#!/usr/bin/python3
"""The scale step of `make bench` (bench/run.sh): many containers in the
backend's state, then what create, inspect, ps and rm cost.

  scale.py seed STATE_DB TEMPLATE_NAME N   clone container TEMPLATE_NAME N times
  scale.py measure DOCKER_SOCK N           time the Docker API, print numbers
  scale.py drain DOCKER_SOCK STATE_DB KEEP remove every container but KEEP,
                                           print the database's size
  scale.py list BACKEND_SOCK               time a whole ps -a and ps -a
                                           with each common filter on the
                                           backend's internal API (no
                                           frontend hop): the p50 of 10

Seeding writes the state store directly while the backend is stopped (the
faster documented path: 100k creates through a cloud simulator take hours).
The clones are exited containers with their own ids and names; the first
ones take every name the random-name generator can draw without a digit
(the word lists of common/id.c), so unnamed creates exercise its fallback.
Prints numbers; asserts nothing."""
import http.client
import json
import os
import random
import re
import socket
import sqlite3
import sys
import time
import urllib.parse

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def generator_names():
    src = open(os.path.join(ROOT, "common/id.c")).read()
    lists = []
    for var in ("id_adjectives", "id_surnames"):
        m = re.search(var + r"\[\] = \{(.*?)\};", src, re.S)
        lists.append(re.findall(r'"([a-z]+)"', m.group(1)))
    return [f"{a}_{s}" for a in lists[0] for s in lists[1]]


def clone_entry(entry, tmpl_id, tmpl_name, cid, name):
    """The template's rendered list entry ("SPLIT:TEXT", common/backend/
    container.c) made a clone's: its id and name, the split (where Status
    goes, after Names) moved by the name's change in length."""
    split, _, text = bytes(entry).partition(b":")
    split = int(split)
    head = text[:split].replace(tmpl_id.encode(), cid.encode())
    head = head.replace(json.dumps("/" + tmpl_name).encode(),
                        json.dumps("/" + name).encode())
    tail = text[split:].replace(tmpl_id.encode(), cid.encode())
    return b"%d:" % len(head) + head + tail


def clone_facts(facts, tmpl_id, tmpl_name, cid, name):
    """Schema 4's facts held the entry as "eSPLIT:TEXT": made a clone's.
    The other facts are not the container's own."""
    out = []
    for e in bytes(facts).split(b"\0"):
        if e[:1] == b"e":
            e = b"e" + clone_entry(e[1:], tmpl_id, tmpl_name, cid, name)
        out.append(e)
    return b"\0".join(out)


def seed(db, template, n):
    con = sqlite3.connect(db)
    # Schema 5 (common/store.c): the document and the list entry in tables
    # of their own. Schema 4: facts (with the entry) beside the document.
    # Older: the document alone.
    schema = con.execute("PRAGMA user_version").fetchone()[0]
    has_facts = any(r[1] == "facts" for r in
                    con.execute("PRAGMA table_info(containers)"))
    if schema >= 5:
        row = con.execute(
            "SELECT d.doc, c.facts, e.entry FROM containers c "
            "JOIN container_docs d ON d.seq = c.seq "
            "LEFT JOIN container_entries e ON e.seq = c.seq "
            "WHERE c.name = ?", (template,)).fetchone()
    else:
        row = con.execute("SELECT doc, %s FROM containers WHERE name = ?" %
                          ("facts" if has_facts else "NULL"),
                          (template,)).fetchone()
    if row is None:
        sys.exit(f"scale: no container {template} in {db}")
    base = json.loads(row[0])
    if base["State"].get("Status") != "exited":
        sys.exit(f"scale: {template} has not exited (docker run it)")
    tmpl_id = base["Id"]
    names = generator_names()
    t0 = time.monotonic()
    with con:
        for i in range(n):
            cid = os.urandom(32).hex()
            name = names[i] if i < len(names) else f"sk-scale-{i}"
            base["Id"] = cid
            base["Name"] = "/" + name
            base["Config"]["Hostname"] = cid[:12]
            if schema >= 5:
                seq = con.execute(
                    "INSERT INTO containers (id, name, state, facts) "
                    "VALUES (?, ?, ?, ?)",
                    (cid, name, "exited", row[1])).lastrowid
                con.execute("INSERT INTO container_docs (seq, doc) "
                            "VALUES (?, ?)", (seq, json.dumps(base)))
                if row[2] is not None:
                    con.execute(
                        "INSERT INTO container_entries (seq, id, entry) "
                        "VALUES (?, ?, ?)",
                        (seq, cid, clone_entry(row[2], tmpl_id, template,
                                               cid, name)))
            elif has_facts:
                con.execute(
                    "INSERT INTO containers (id, name, state, doc, facts) "
                    "VALUES (?, ?, ?, ?, ?)",
                    (cid, name, "exited", json.dumps(base),
                     clone_facts(row[1], tmpl_id, template, cid, name)
                     if row[1] is not None else None))
            else:
                con.execute("INSERT INTO containers (id, name, state, doc) "
                            "VALUES (?, ?, ?, ?)",
                            (cid, name, "exited", json.dumps(base)))
    con.close()
    print(f"seeded {n} containers into the state store in "
          f"{time.monotonic() - t0:.1f} s ({min(n, len(names))} with the "
          f"generator's names)")


class Unix(http.client.HTTPConnection):
    def __init__(self, path):
        super().__init__("localhost", timeout=600)
        self.path = path

    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect(self.path)


def call(sock, method, path, body=None):
    c = Unix(sock)
    t0 = time.monotonic()
    c.request(method, path,
              body=json.dumps(body) if body is not None else None,
              headers={"Content-Type": "application/json"})
    r = c.getresponse()
    data = r.read()
    dt = time.monotonic() - t0
    c.close()
    return r.status, data, dt


def stats(what, times, extra=""):
    times = sorted(times)
    p50 = times[len(times) // 2] * 1000
    p99 = times[min(len(times) - 1, int(len(times) * 0.99))] * 1000
    print(f"  {what}: p50 {p50:.1f} ms, p99 {p99:.1f} ms over "
          f"{len(times)}{extra}")


def events_stream(sock):
    """An open /events stream of container create events, read line by
    line (the daemon sends one JSON object a line)."""
    c = Unix(sock)
    c.request("GET", "/events?filters=" +
              "%7B%22type%22%3A%5B%22container%22%5D%2C%22event%22%3A"
              "%5B%22create%22%5D%7D")
    r = c.getresponse()
    assert r.status == 200, r.status
    return c, r


def measure(sock, n):
    made, times, evtimes = [], [], []
    ec, ev = events_stream(sock)
    for _ in range(20):
        t0 = time.monotonic()
        st, data, dt = call(sock, "POST", "/containers/create",
                            {"Image": "busybox", "Cmd": ["true"]})
        assert st == 201, (st, data)
        made.append(json.loads(data)["Id"])
        times.append(dt)
        while True:
            got = json.loads(ev.readline())
            if got.get("id") == made[-1]:
                break
        evtimes.append(time.monotonic() - t0)
    ec.close()
    print(f"with {n} containers in the state:")
    stats("create, unnamed (every plain generator name taken)"
          if n >= len(generator_names()) else "create, unnamed", times)
    stats("create until its event arrives on /events", evtimes)
    sample = json.loads(call(sock, "GET", f"/containers/{made[0]}/json")[1])
    print(f"  an unnamed create got the name {sample['Name']}")
    names = generator_names()
    if n > 0:
        picks = [random.randrange(n) for _ in range(200)]
        ref = [names[i] if i < len(names) else f"sk-scale-{i}"
               for i in picks]
    else:
        ref = [json.loads(call(sock, "GET", f"/containers/{i}/json")[1])
               ["Name"][1:] for i in made] * 10
    times, ids = [], []
    for r in ref:
        st, data, dt = call(sock, "GET", f"/containers/{r}/json")
        assert st == 200, (st, data)
        times.append(dt)
        ids.append(json.loads(data)["Id"])
    stats("inspect by name", times)
    times = [call(sock, "GET", f"/containers/{i[:12]}/json")[2] for i in ids]
    stats("inspect by 12-character id prefix", times)
    times = [call(sock, "GET", "/containers/no-such-name/json")[2]
             for _ in range(50)]
    stats("inspect of a missing name (404)", times)
    times = [call(sock, "GET", "/containers/json")[2] for _ in range(20)]
    stats("ps (running only)", times)
    times = [call(sock, "GET", "/containers/json?all=1&filters=" +
                  '%7B%22name%22%3A%5B%22sk-scale-5%24%22%5D%7D')[2]
             for _ in range(5)]
    stats("ps -a --filter name=", times)
    times = [call(sock, "GET", "/containers/json?all=1&limit=20")[2]
             for _ in range(20)]
    stats("ps -a -n 20", times)
    # The first whole list after a start-up renders every entry; later
    # ones copy the entries cached since (docs/scale.md).
    st, data, dt = call(sock, "GET", "/containers/json?all=1")
    print(f"  ps -a, the first: {dt * 1000:.0f} ms, {len(json.loads(data))} "
          f"containers, {len(data) / 1e6:.1f} MB of JSON")
    times = [call(sock, "GET", "/containers/json?all=1")[2]
             for _ in range(5)]
    stats("ps -a, whole", times)
    times = [call(sock, "DELETE", f"/containers/{i}?force=1")[2] for i in made]
    stats("rm", times)


def list_direct(sock):
    times = [call(sock, "GET", "/internal/v1/containers/json?all=1")[2]
             for _ in range(10)]
    stats("ps -a on the backend's socket (no frontend hop)", times)
    # Filtered lists: each filter matches few or none of the seeded
    # containers, so the time is the filter's walk, not the printing.
    for what, f in (("name=", {"name": ["sk-scale-5$"]}),
                    ("label=", {"label": ["sk-no-such-label"]}),
                    ("status=running", {"status": ["running"]}),
                    ("exited=3", {"exited": ["3"]}),
                    ("ancestor=", {"ancestor": ["sk-no-such-image"]})):
        q = urllib.parse.quote(json.dumps(f))
        times = [call(sock, "GET",
                      "/internal/v1/containers/json?all=1&filters=" + q)[2]
                 for _ in range(10)]
        stats(f"ps -a --filter {what} on the backend's socket", times)


def db_size(db):
    """The state database's bytes on disk: the file and its WAL."""
    return sum(os.path.getsize(db + x) for x in ("", "-wal")
               if os.path.exists(db + x))


def drain(sock, db, keep):
    """Removes every container but the one named keep, then prints the
    state database's size."""
    before = db_size(db)
    st, data, _ = call(sock, "GET", "/containers/json?all=1")
    ids = [c["Id"] for c in json.loads(data) if "/" + keep not in c["Names"]]
    t0 = time.monotonic()
    for i in ids:
        st, data, _ = call(sock, "DELETE", f"/containers/{i}?force=1")
        assert st == 204, (st, data)
    dt = time.monotonic() - t0
    print(f"removed {len(ids)} containers in {dt:.1f} s; state database "
          f"{before / 1e6:.1f} MB before, {db_size(db) / 1e6:.1f} MB after")


def main():
    if len(sys.argv) == 5 and sys.argv[1] == "seed":
        seed(sys.argv[2], sys.argv[3], int(sys.argv[4]))
    elif len(sys.argv) == 4 and sys.argv[1] == "measure":
        measure(sys.argv[2], int(sys.argv[3]))
    elif len(sys.argv) == 3 and sys.argv[1] == "list":
        list_direct(sys.argv[2])
    elif len(sys.argv) == 5 and sys.argv[1] == "drain":
        drain(sys.argv[2], sys.argv[3], sys.argv[4])
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
