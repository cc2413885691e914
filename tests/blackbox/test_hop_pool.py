"""The frontend's pool of kept-alive backend connections (issue 18): the
frontend survives a backend restart with pooled connections and a POST is
never sent twice; and against a backend that closes a kept-alive
connection after reading a request, a GET is sent again on a new
connection while a POST is answered 502, sent once."""
import json
import os
import socket
import subprocess
import threading
import time

import pytest

RUN = os.environ.get("SK_RUN_DIR", "")
BUILD = os.environ.get("SK_BUILD", "build")
FRONTEND = os.path.abspath(os.path.join(BUILD, "sockerless-frontend"))
HOST = os.environ.get("SK_DOCKER_HOST", "")
SOCK = HOST[len("unix://"):] if HOST.startswith("unix://") else ""


def _read_reply(s):
    """(status, headers dict, body) of one HTTP/1.1 reply: no body (204,
    304), a Content-Length, or chunked."""
    data = b""
    while b"\r\n\r\n" not in data:
        got = s.recv(65536)
        if not got:
            raise ConnectionError(f"closed after {data!r}")
        data += got
    head, rest = data.split(b"\r\n\r\n", 1)
    lines = head.decode().split("\r\n")
    status = int(lines[0].split()[1])
    hdrs = {k.strip().lower(): v.strip() for k, v in
            (line.split(":", 1) for line in lines[1:])}
    if status in (204, 304):
        return status, hdrs, b""
    if "content-length" in hdrs:
        n = int(hdrs["content-length"])
        while len(rest) < n:
            got = s.recv(65536)
            if not got:
                break
            rest += got
        return status, hdrs, rest[:n]
    while not rest.endswith(b"0\r\n\r\n"):
        got = s.recv(65536)
        if not got:
            break
        rest += got
    return status, hdrs, rest


def call(sock, method, path, body=None, timeout=60):
    """One request on a new client connection: (status, body)."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    s.connect(sock)
    data = json.dumps(body).encode() if body is not None else b""
    req = (f"{method} {path} HTTP/1.1\r\nHost: docker\r\n"
           f"Content-Type: application/json\r\nContent-Length: {len(data)}\r\n\r\n")
    s.sendall(req.encode() + data)
    try:
        status, _, out = _read_reply(s)
    finally:
        s.close()
    return status, out


def _pid(name):
    with open(os.path.join(RUN, name)) as f:
        return int(f.read().strip())


@pytest.mark.skipif(not SOCK, reason="needs a unix:// SK_DOCKER_HOST")
def test_pool_survives_backend_restart(docker, local, name):
    docker("pull", "-q", "busybox", check=True, timeout=300)
    fe = _pid("frontend.pid")
    # Several at once, so that the pool holds more than one connection.
    errs = []

    def lister():
        for _ in range(5):
            st, _ = call(SOCK, "GET", "/v1.44/containers/json")
            if st != 200:
                errs.append(st)
    ts = [threading.Thread(target=lister) for _ in range(6)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    assert errs == []
    p = local("restart-backend")
    assert p.returncode == 0, p.stderr
    # The first calls after the restart: every pooled connection is to the
    # old process. A create sent twice would answer 409 (the name taken).
    st, out = call(SOCK, "POST", f"/v1.44/containers/create?name={name}",
                   {"Image": "busybox", "Cmd": ["true"]})
    try:
        assert st == 201, out
        for _ in range(3):
            st, out = call(SOCK, "GET", "/v1.44/containers/json?all=1")
            assert st == 200, out
            assert sum(1 for c in json.loads(out) if f"/{name}" in c["Names"]) == 1
        st, out = call(SOCK, "GET", "/_ping")
        assert st == 200 and out == b"OK", out
    finally:
        call(SOCK, "DELETE", f"/v1.44/containers/{name}?force=1")
    assert _pid("frontend.pid") == fe
    os.kill(fe, 0)


class ClosingBackend:
    """A unix-socket backend that answers the first request of each
    connection (keep-alive) and closes the connection after reading any
    later one, without answering. It records every request it read."""

    def __init__(self, path, caps):
        self.path, self.caps, self.seen = path, caps, []
        self.lock = threading.Lock()
        self.srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.srv.bind(path)
        self.srv.listen(16)
        self.stopped = False
        threading.Thread(target=self.accept, daemon=True).start()

    def accept(self):
        while not self.stopped:
            try:
                c, _ = self.srv.accept()
            except OSError:
                return
            threading.Thread(target=self.serve, args=(c,), daemon=True).start()

    def read_request(self, c, buf):
        while b"\r\n\r\n" not in buf:
            got = c.recv(65536)
            if not got:
                return None, buf
            buf += got
        head, rest = buf.split(b"\r\n\r\n", 1)
        lines = head.decode().split("\r\n")
        n = 0
        for line in lines[1:]:
            k, v = line.split(":", 1)
            if k.strip().lower() == "content-length":
                n = int(v)
        while len(rest) < n:
            rest += c.recv(65536)
        return lines[0].split()[:2], rest[n:]

    def serve(self, c):
        buf, n = b"", 0
        try:
            while True:
                req, buf = self.read_request(c, buf)
                if req is None:
                    return
                method, path = req
                with self.lock:
                    self.seen.append((method, path))
                if path.startswith("/internal/v1/capabilities"):
                    body = json.dumps(self.caps).encode()
                    c.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                              b"Connection: close\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
                    return
                n += 1
                if n > 1:
                    return  # read, then closed without a word
                body = b"[]" if method == "GET" else b'{"Id":"x","Warnings":[]}'
                st = b"200 OK" if method == "GET" else b"201 Created"
                c.sendall(b"HTTP/1.1 " + st + b"\r\nContent-Type: application/json\r\n"
                          b"Content-Length: %d\r\n\r\n" % len(body) + body)
        finally:
            c.close()

    def count(self, method, prefix):
        with self.lock:
            return sum(1 for m, p in self.seen if m == method and p.startswith(prefix))

    def stop(self):
        self.stopped = True
        self.srv.close()


def test_resend_only_when_safe(tmp_path):
    be_sock = os.path.join(RUN, "backend.sock")
    if not os.path.exists(FRONTEND) or not os.path.exists(be_sock):
        pytest.skip("needs SK_BUILD's frontend and the stack's backend")
    # The stack's backend's capabilities, served by the fake.
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(30)
    s.connect(be_sock)
    s.sendall(b"GET /internal/v1/capabilities HTTP/1.1\r\nHost: b\r\n"
              b"Connection: close\r\n\r\n")
    st, _, body = _read_reply(s)
    s.close()
    assert st == 200
    fake = ClosingBackend(str(tmp_path / "be.sock"), json.loads(body))
    fe_sock = str(tmp_path / "fe.sock")
    log = open(tmp_path / "frontend.log", "w")
    proc = subprocess.Popen([FRONTEND, "--group", "", "--hosts", f"unix://{fe_sock}",
                             "--backend", fake.path, "--log_level", "debug"],
                            stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 30
        while not os.path.exists(fe_sock):
            assert time.monotonic() < deadline, "the frontend did not start"
            time.sleep(0.05)
        # A fresh connection answers, then goes to the pool.
        assert call(fe_sock, "GET", "/v1.44/containers/json")[0] == 200
        # Its second request is read and dropped: a GET goes again, on a
        # new connection, and the client sees only the answer.
        assert call(fe_sock, "GET", "/v1.44/containers/json")[0] == 200
        assert fake.count("GET", "/internal/v1/containers/json") == 3
        # The pool now holds that new connection; a POST on it is dropped
        # the same way after the backend read it: never sent again.
        st, out = call(fe_sock, "POST", "/v1.44/containers/create?name=skhop",
                       {"Image": "busybox"})
        assert st == 502, (st, out)
        assert b"may have acted on the request" in out, out
        assert fake.count("POST", "/internal/v1/containers/create") == 1
        # The frontend goes on.
        assert call(fe_sock, "GET", "/v1.44/containers/json")[0] == 200
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        fake.stop()
        log.close()
    text = (tmp_path / "frontend.log").read_text()
    assert "Sanitizer" not in text and "runtime error" not in text, text
