"""The frontend's pool of kept-alive backend connections (issue 18): the
frontend survives a backend restart with pooled connections and a POST is
never sent twice; against a backend that closes a kept-alive connection
after reading a request, a GET is sent again on a new connection while a
POST is answered 502, sent once; and the connection a _ping makes while
the pool is empty is kept for the next _ping and request."""
import json
import os
import socket
import threading

import pytest

from fake_backend import RUN, FakeBackend, fake_stack, read_head

HOST = os.environ.get("SK_DOCKER_HOST", "")
SOCK = HOST[len("unix://"):] if HOST.startswith("unix://") else ""


def _read_reply(s):
    """(status, headers dict, body) of one HTTP/1.1 reply: no body (204,
    304), a Content-Length, or chunked."""
    status, hdrs, rest = read_head(s)
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


class ClosingBackend(FakeBackend):
    """A unix-socket backend that answers the first request of each
    connection (keep-alive) and closes the connection after reading any
    later one, without answering. It records every request it read."""

    def __init__(self, path, caps):
        self.seen = []
        self.lock = threading.Lock()
        super().__init__(path, caps)

    def serve(self, c):
        buf, n = b"", 0
        try:
            while True:
                req, buf = self.next_request(c, buf)
                if req is None:
                    return
                method, path = req
                with self.lock:
                    self.seen.append((method, path))
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


def test_resend_only_when_safe(tmp_path):
    with fake_stack(tmp_path, ClosingBackend,
                    "--log_level", "debug") as (fe, fake):
        fe_sock = fe.sock
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


class CountingBackend(FakeBackend):
    """A unix-socket backend that answers every request of a connection
    (keep-alive) and counts the connections that carried no capabilities
    request: used, idle or closed unused."""

    def __init__(self, path, caps):
        self.conns = 0
        self.lock = threading.Lock()
        super().__init__(path, caps)

    def serve(self, c):
        buf, counted = b"", False
        try:
            while True:
                if not counted and b"\r\n\r\n" not in buf:
                    c.settimeout(0.5)
                    try:
                        got = c.recv(65536)
                    except socket.timeout:
                        got = None  # connected, nothing sent: a _ping's
                    c.settimeout(None)
                    if got:
                        buf += got
                    if not buf.startswith(b"GET /internal/v1/capabilities"):
                        with self.lock:
                            self.conns += 1
                        counted = True
                    if got == b"":
                        return  # connected and closed: a _ping's check
                req, buf = self.next_request(c, buf)
                if req is None:
                    return
                c.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                          b"Content-Length: 2\r\n\r\n[]")
        finally:
            c.close()


def test_ping_keeps_its_connection(tmp_path):
    with fake_stack(tmp_path, CountingBackend) as (fe, fake):
        for _ in range(10):
            assert call(fe.sock, "GET", "/_ping") == (200, b"OK")
        assert call(fe.sock, "GET", "/v1.44/containers/json") == (200, b"[]")
        assert call(fe.sock, "GET", "/_ping") == (200, b"OK")
        # The first _ping connected; the others and the list used that
        # connection.
        with fake.lock:
            assert fake.conns == 1, fake.conns
