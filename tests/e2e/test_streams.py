"""JSON streams as strict clients read them (issue 11 #1): every message of
pull progress, events, stats and wait arrives as one HTTP chunk with its
line end, because docker-py's decode=True and docker-compose decode chunk
by chunk and fail on a lone line end. A raw client reads the chunked
framing itself, so the test sees the chunk boundaries the daemon wrote."""
import json
import socket
import time

import pytest

from e2e_lib import BUSYBOX, HOST, RUN_LABEL, dk_ok


def _sock(timeout):
    assert HOST.startswith("unix://"), HOST
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    s.connect(HOST[len("unix://"):])
    return s


class _Reader:
    def __init__(self, s):
        self.s, self.buf = s, b""

    def _fill(self):
        data = self.s.recv(65536)
        if not data:
            raise EOFError("the daemon closed the connection")
        self.buf += data

    def line(self):
        while b"\r\n" not in self.buf:
            self._fill()
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def exactly(self, n):
        while len(self.buf) < n:
            self._fill()
        data, self.buf = self.buf[:n], self.buf[n:]
        return data


def chunks(method, path, body=None, most=None, timeout=120):
    """(status, headers, [chunk payloads]) of one request; stops after
    `most` chunks when given."""
    s = _sock(timeout)
    try:
        data = json.dumps(body).encode() if body is not None else b""
        head = (f"{method} {path} HTTP/1.1\r\nHost: docker\r\n"
                f"Content-Type: application/json\r\n"
                f"Content-Length: {len(data)}\r\n\r\n").encode()
        s.sendall(head + data)
        r = _Reader(s)
        status = int(r.line().split()[1])
        headers = {}
        while (line := r.line()):
            k, _, v = line.decode().partition(":")
            headers[k.strip().lower()] = v.strip()
        if headers.get("transfer-encoding") != "chunked":
            return status, headers, [r.exactly(int(headers.get("content-length", 0)))]
        out = []
        while most is None or len(out) < most:
            size = int(r.line().split(b";")[0], 16)
            if size == 0:
                break
            out.append(r.exactly(size))
            assert r.line() == b""
        return status, headers, out
    finally:
        s.close()


def assert_one_message_per_chunk(parts):
    assert parts, "no chunks"
    for p in parts:
        assert p.endswith(b"\n"), f"a chunk without its line end: {p!r}"
        json.loads(p)  # a whole message, not a piece of one


def test_pull_progress(target):
    st, _, parts = chunks("POST", f"/images/create?fromImage={BUSYBOX}&tag=latest")
    assert st == 200
    assert_one_message_per_chunk(parts)


def test_events(target):
    since = int(time.time()) - 1
    cid = dk_ok("create", BUSYBOX, "true").strip()
    dk_ok("rm", cid)
    until = int(time.time()) + 1
    st, _, parts = chunks("GET", f"/events?since={since}&until={until}")
    assert st == 200
    assert_one_message_per_chunk(parts)
    assert any(json.loads(p).get("id") == cid for p in parts)


def test_wait(target):
    cid = dk_ok("run", "-d", BUSYBOX, "sh", "-c", "exit 3").strip()
    try:
        st, _, parts = chunks("POST", f"/containers/{cid}/wait")
        assert st == 200
        assert_one_message_per_chunk(parts)
        assert json.loads(parts[-1])["StatusCode"] == 3
    finally:
        dk_ok("rm", "-f", cid)


@pytest.fixture
def sleeper():
    cid = dk_ok("run", "-d", "--label", RUN_LABEL, BUSYBOX, "sleep", "120").strip()
    yield cid
    dk_ok("rm", "-f", cid)


def test_stats_stream(sleeper):
    st, _, parts = chunks("GET", f"/containers/{sleeper}/stats?stream=true", most=2)
    assert st == 200
    assert_one_message_per_chunk(parts)


def test_dockerpy_decodes_every_stream(apiclient, sleeper):
    # What broke docker-py's own test setup: pull(stream, decode).
    msgs = list(apiclient.pull(BUSYBOX, tag="latest", stream=True, decode=True))
    assert msgs and all(isinstance(m, dict) for m in msgs)
    since = int(time.time()) - 1
    cid = dk_ok("create", BUSYBOX, "true").strip()
    dk_ok("rm", cid)
    events = list(apiclient.events(since=since, until=int(time.time()) + 1, decode=True))
    assert any(e.get("id") == cid for e in events), events
    stream = apiclient.stats(sleeper, stream=True, decode=True)
    first = next(stream)
    assert isinstance(first, dict) and "memory_stats" in first
    stream.close()
