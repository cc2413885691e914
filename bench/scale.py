#!/usr/bin/python3
"""The scale step of `make bench` (bench/run.sh): many containers in the
backend's state, then what create, inspect, ps and rm cost.

  scale.py seed STATE_DB TEMPLATE_NAME N   clone container TEMPLATE_NAME N times
  scale.py measure DOCKER_SOCK N           time the Docker API, print numbers

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

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def generator_names():
    src = open(os.path.join(ROOT, "common/id.c")).read()
    lists = []
    for var in ("id_adjectives", "id_surnames"):
        m = re.search(var + r"\[\] = \{(.*?)\};", src, re.S)
        lists.append(re.findall(r'"([a-z]+)"', m.group(1)))
    return [f"{a}_{s}" for a in lists[0] for s in lists[1]]


def seed(db, template, n):
    con = sqlite3.connect(db)
    row = con.execute("SELECT doc FROM containers WHERE name = ?",
                      (template,)).fetchone()
    if row is None:
        sys.exit(f"scale: no container {template} in {db}")
    base = json.loads(row[0])
    base["State"].update(Status="exited", Running=False, ExitCode=0,
                         FinishedAt=base["Created"], StartedAt=base["Created"])
    names = generator_names()
    t0 = time.monotonic()
    with con:
        for i in range(n):
            cid = os.urandom(32).hex()
            name = names[i] if i < len(names) else f"sk-scale-{i}"
            base["Id"] = cid
            base["Name"] = "/" + name
            base["Config"]["Hostname"] = cid[:12]
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
    c.request(method, "/v1.44" + path,
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


def measure(sock, n):
    names = generator_names()
    picks = [random.randrange(n) for _ in range(200)]
    ref = [names[i] if i < len(names) else f"sk-scale-{i}" for i in picks]
    times, ids = [], []
    for r in ref:
        st, data, dt = call(sock, "GET", f"/containers/{r}/json")
        assert st == 200, (st, data)
        times.append(dt)
        ids.append(json.loads(data)["Id"])
    print(f"with {n} containers in the state:")
    stats("inspect by name", times)
    times = [call(sock, "GET", f"/containers/{i[:12]}/json")[2] for i in ids]
    stats("inspect by 12-character id prefix", times)
    times = [call(sock, "GET", "/containers/no-such-name/json")[2]
             for _ in range(50)]
    stats("inspect of a missing name (404)", times)
    made, times = [], []
    for _ in range(20):
        st, data, dt = call(sock, "POST", "/containers/create",
                            {"Image": "busybox", "Cmd": ["true"]})
        assert st == 201, (st, data)
        made.append(json.loads(data)["Id"])
        times.append(dt)
    stats("create, unnamed (every plain generator name taken)", times)
    sample = json.loads(call(sock, "GET", f"/containers/{made[0]}/json")[1])
    print(f"  an unnamed create got the name {sample['Name']}")
    times = [call(sock, "GET", "/containers/json")[2] for _ in range(20)]
    stats("ps (running only)", times)
    times = [call(sock, "GET", "/containers/json?all=1&filters=" +
                  '%7B%22name%22%3A%5B%22sk-scale-5%24%22%5D%7D')[2]
             for _ in range(5)]
    stats("ps -a --filter name=", times)
    st, data, dt = call(sock, "GET", "/containers/json?all=1")
    print(f"  ps -a: {dt * 1000:.0f} ms, {len(json.loads(data))} containers, "
          f"{len(data) / 1e6:.1f} MB of JSON")
    times = [call(sock, "DELETE", f"/containers/{i}?force=1")[2] for i in made]
    stats("rm", times)


def main():
    if len(sys.argv) == 5 and sys.argv[1] == "seed":
        seed(sys.argv[2], sys.argv[3], int(sys.argv[4]))
    elif len(sys.argv) == 4 and sys.argv[1] == "measure":
        measure(sys.argv[2], int(sys.argv[3]))
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
