"""A fake backend on a unix socket for the frontend's tests
(test_hop_pool, test_hop_large), the stack backend's capabilities, and a
frontend of SK_BUILD in front of it."""
import contextlib
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


def read_head(s, data=b""):
    """(status, lower-case headers, what came after the head) of a reply."""
    while b"\r\n\r\n" not in data:
        got = s.recv(65536)
        if not got:
            raise ConnectionError(f"closed after {data!r}")
        data += got
    head, rest = data.split(b"\r\n\r\n", 1)
    lines = head.decode().split("\r\n")
    hdrs = {k.strip().lower(): v.strip() for k, v in
            (line.split(":", 1) for line in lines[1:])}
    return int(lines[0].split()[1]), hdrs, rest


def stack_caps():
    """The capabilities of the stack's backend (SK_RUN_DIR), or None when
    there is no such backend or frontend build to test."""
    be_sock = os.path.join(RUN, "backend.sock")
    if not os.path.exists(FRONTEND) or not os.path.exists(be_sock):
        return None
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(30)
    s.connect(be_sock)
    s.sendall(b"GET /internal/v1/capabilities HTTP/1.1\r\nHost: b\r\n"
              b"Connection: close\r\n\r\n")
    st, _, body = read_head(s)
    while True:
        got = s.recv(65536)
        if not got:
            break
        body += got
    s.close()
    assert st == 200
    return json.loads(body)


class FakeBackend:
    """Accepts on path, a thread per connection running serve(c), which a
    subclass gives; answer_caps answers the frontend's capabilities."""

    def __init__(self, path, caps):
        self.path, self.caps = path, caps
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

    def serve(self, c):
        raise NotImplementedError

    @staticmethod
    def read_request(c, buf):
        """((method, path), what follows the request) of the next request
        on c, its Content-Length body read and dropped; (None, buf) at the
        close."""
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
        return tuple(lines[0].split()[:2]), rest[n:]

    def next_request(self, c, buf):
        """read_request, with the frontend's capabilities request answered
        here: (None, buf) when the connection is done (closed, or it carried
        the capabilities)."""
        req, buf = self.read_request(c, buf)
        if req is not None and req[1].startswith("/internal/v1/capabilities"):
            self.answer_caps(c)
            return None, buf
        return req, buf

    def answer_caps(self, c):
        body = json.dumps(self.caps).encode()
        c.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                  b"Connection: close\r\nContent-Length: %d\r\n\r\n" % len(body) + body)

    def stop(self):
        self.stopped = True
        self.srv.close()


class Frontend:
    """SK_BUILD's frontend on fe_sock in front of a fake backend; stop()
    fails on a sanitizer report in its log."""

    def __init__(self, tmp_path, backend, *args):
        self.sock = str(tmp_path / "fe.sock")
        self.log_path = tmp_path / "frontend.log"
        self.log = open(self.log_path, "w")
        self.proc = subprocess.Popen(
            [FRONTEND, "--group", "", "--hosts", f"unix://{self.sock}",
             "--backend", backend.path] + list(args),
            stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 30
        while not os.path.exists(self.sock):
            assert time.monotonic() < deadline, "the frontend did not start"
            time.sleep(0.05)

    def stop(self):
        self.proc.terminate()
        self.proc.wait(timeout=10)
        self.log.close()
        text = self.log_path.read_text()
        assert "Sanitizer" not in text and "runtime error" not in text, text


@contextlib.contextmanager
def fake_stack(tmp_path, backend_cls, *args):
    """A backend_cls (a FakeBackend) with the stack backend's capabilities
    and SK_BUILD's frontend (with args) in front of it: (frontend,
    backend); skips the test when there is no such stack or build."""
    caps = stack_caps()
    if caps is None:
        pytest.skip("needs SK_BUILD's frontend and the stack's backend")
    fake = backend_cls(str(tmp_path / "be.sock"), caps)
    fe = Frontend(tmp_path, fake, *args)
    try:
        yield fe, fake
    finally:
        fe.stop()
        fake.stop()
