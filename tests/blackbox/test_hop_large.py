"""Large answers through the frontend (issue 18): a body over the
frontend's 1 MiB buffer is relayed as it comes, byte for byte, with the
backend's Content-Length (as dockerd sends it), and the connection serves
the next request; a body cut short by the backend reaches the client cut
short (the connection closes before Content-Length bytes), never as a
complete answer; a close-delimited body arrives whole. A fake backend on
a unix socket answers; the frontend is SK_BUILD's."""
import socket

import pytest

from fake_backend import FakeBackend, fake_stack, read_head

BIG = 3 * 1024 * 1024 + 17


def _body(n):
    """n bytes of JSON-ish text that no two offsets repeat soon."""
    out = bytearray()
    i = 0
    while len(out) < n:
        out += b'{"n":%d},' % i
        i += 1
    return bytes(out[:n])


class LargeBackend(FakeBackend):
    """Answers the capabilities, then per path: /containers/json a BIG
    Content-Length body; /containers/cut a BIG Content-Length head with
    half the body, then a close; /containers/close a BIG body delimited
    by the close."""

    def __init__(self, path, caps):
        self.body = _body(BIG)
        super().__init__(path, caps)

    def serve(self, c):
        buf = b""
        try:
            while True:
                req, buf = self.next_request(c, buf)
                if req is None:
                    return
                path = req[1]
                head = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                if path.startswith("/internal/v1/containers/json"):
                    c.sendall(head + b"Content-Length: %d\r\n\r\n" % BIG + self.body)
                elif path.startswith("/internal/v1/containers/cut"):
                    c.sendall(head + b"Content-Length: %d\r\n\r\n" % BIG
                              + self.body[:BIG // 2])
                    return
                else:
                    c.sendall(head + b"Connection: close\r\n\r\n" + self.body)
                    return
        finally:
            c.close()


def _read_to_close(s, rest):
    while True:
        got = s.recv(1 << 20)
        if not got:
            return rest
        rest += got


def _dechunk(data):
    out, pos = b"", 0
    while True:
        end = data.index(b"\r\n", pos)
        n = int(data[pos:end].split(b";")[0], 16)
        if n == 0:
            return out
        out += data[end + 2:end + 2 + n]
        pos = end + 2 + n + 2


@pytest.fixture
def frontend(tmp_path):
    with fake_stack(tmp_path, LargeBackend) as (fe, fake):
        yield fe.sock, fake


def _client(fe_sock):
    c = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    c.settimeout(60)
    c.connect(fe_sock)
    return c


def test_large_body_keeps_its_length_and_the_connection(frontend):
    fe_sock, fake = frontend
    c = _client(fe_sock)
    try:
        for _ in range(2):  # the second on the same client connection
            c.sendall(b"GET /v1.44/containers/json?all=1 HTTP/1.1\r\nHost: d\r\n\r\n")
            st, hdrs, rest = read_head(c, b"")
            assert st == 200
            assert hdrs.get("content-length") == str(BIG), hdrs
            assert "transfer-encoding" not in hdrs, hdrs
            while len(rest) < BIG:
                got = c.recv(1 << 20)
                assert got, "closed after %d of %d bytes" % (len(rest), BIG)
                rest += got
            assert rest == fake.body
    finally:
        c.close()


def test_body_cut_short_reaches_the_client_cut_short(frontend):
    fe_sock, _ = frontend
    c = _client(fe_sock)
    try:
        c.sendall(b"GET /v1.44/containers/cut/json HTTP/1.1\r\nHost: d\r\n\r\n")
        st, hdrs, rest = read_head(c, b"")
        # Relayed as it came: the head has gone out with the length.
        assert st == 200 and hdrs.get("content-length") == str(BIG), hdrs
        rest = _read_to_close(c, rest)
        assert len(rest) == BIG // 2
    finally:
        c.close()


def test_close_delimited_body_arrives_whole(frontend):
    fe_sock, fake = frontend
    c = _client(fe_sock)
    try:
        c.sendall(b"GET /v1.44/containers/other/json HTTP/1.1\r\nHost: d\r\n\r\n")
        st, hdrs, rest = read_head(c, b"")
        assert st == 200
        if hdrs.get("transfer-encoding") == "chunked":
            while not rest.endswith(b"\r\n0\r\n\r\n"):
                got = c.recv(1 << 20)
                assert got, "closed before the last chunk"
                rest += got
            rest = _dechunk(rest)
        else:
            rest = _read_to_close(c, rest)
        assert rest == fake.body
    finally:
        c.close()
