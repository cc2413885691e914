"""The frontend's pipelined container lists and inspects (issue 18): GETs
that arrive while others are in flight share one backend connection, each
client gets its own answer, and when that connection ends early, a client
leaves, or the backend says it will close, every request not yet answered
is sent again on a connection of its own and answered once."""
import json
import socket
import threading
import time

from fake_backend import FakeBackend, fake_stack, read_head

# Above the frontend's 1 MiB for an answer it buffers whole.
BIG = 3 * 1024 * 1024


def inspect(sock, cid, timeout=30, leave=False, slow=0):
    """GET /containers/{cid}/json on a new client connection: (status,
    parsed body); with leave, the client closes right after sending; with
    slow, it waits that long before reading, then reads 64 KiB at a
    time."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    s.connect(sock)
    s.sendall(f"GET /v1.44/containers/{cid}/json HTTP/1.1\r\nHost: docker\r\n\r\n"
              .encode())
    if leave:
        s.close()
        return None, None
    try:
        time.sleep(slow)
        status, hdrs, rest = read_head(s)
        n = int(hdrs["content-length"])
        while len(rest) < n:
            if slow:
                time.sleep(0.001)
            got = s.recv(65536)
            if not got:
                break
            rest += got
    finally:
        s.close()
    return status, json.loads(rest[:n])


class PipeBackend(FakeBackend):
    """Answers GET /internal/v1/containers/{id}/json with {"Id": id}, in
    order, each answer after `delay` seconds (so that requests pile up on a
    connection). It records, per connection, how many requests came in
    before it answered the first (`depth`), and every inspect it read.
    mode "cut": a connection's second request and any after it are read and
    the connection closed without an answer. mode "close": the first answer
    of a connection says Connection: close, and the connection closes after
    it."""

    def __init__(self, path, caps, delay=0.05, mode=None):
        self.delay, self.mode = delay, mode
        self.lock = threading.Lock()
        self.depth = []
        self.seen = []
        super().__init__(path, caps)

    def serve(self, c):
        buf = b""
        try:
            req, buf = self.next_request(c, buf)
            if req is None:
                return
            time.sleep(self.delay)
            # Whatever came meanwhile: pipelined requests.
            c.setblocking(False)
            try:
                while True:
                    got = c.recv(65536)
                    if not got:
                        break
                    buf += got
            except BlockingIOError:
                pass
            c.setblocking(True)
            with self.lock:
                self.depth.append(1 + buf.count(b"HTTP/1.1\r\n"))
            n = 0
            while req is not None:
                n += 1
                with self.lock:
                    self.seen.append(req[1])
                if self.mode == "cut" and n > 1:
                    return
                cid = req[1].split("/")[4]
                doc = {"Id": cid}
                if cid.startswith("big"):
                    doc["Pad"] = "x" * BIG  # relayed as a stream
                body = json.dumps(doc).encode()
                close = self.mode == "close"
                try:
                    c.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n" +
                              (b"Connection: close\r\n" if close else b"") +
                              b"Content-Length: %d\r\n\r\n" % len(body) + body)
                except (BrokenPipeError, ConnectionResetError):
                    return  # the frontend dropped the connection

                if close:
                    return
                req, buf = self.read_request(c, buf)
        finally:
            c.close()

    def times_seen(self, cid):
        with self.lock:
            return sum(1 for p in self.seen if p.split("/")[4] == cid)


def _many(sock, n, leave=(), big=()):
    """n inspects at once (c0..c{n-1}), those in leave sent and dropped,
    those in big of a large answer read slowly (cid "bigN"): {cid:
    (status, body)} of the others."""
    out, lock = {}, threading.Lock()
    go = threading.Barrier(n)

    def one(i):
        cid = f"big{i}" if i in big else f"c{i}"
        go.wait()
        r = inspect(sock, cid, leave=i in leave, slow=0.3 if i in big else 0)
        if i not in leave:
            with lock:
                out[cid] = r
    ts = [threading.Thread(target=one, args=(i,)) for i in range(n)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    return out


def _all_answered(out, n, leave=(), big=()):
    for i in range(n):
        if i in leave:
            continue
        cid = f"big{i}" if i in big else f"c{i}"
        want = {"Id": cid, "Pad": "x" * BIG} if i in big else {"Id": cid}
        assert out[cid] == (200, want), (cid, out[cid][0])


def _assert_piped(fake):
    """Some connection carried more than one request at once."""
    with fake.lock:
        depth = list(fake.depth)
    assert max(depth) > 1, depth


class _Factory:
    """A PipeBackend class with the given options, for fake_stack."""

    def __init__(self, **kw):
        self.kw = kw

    def __call__(self, path, caps):
        return PipeBackend(path, caps, **self.kw)


def test_pipelined_answers_match(tmp_path):
    with fake_stack(tmp_path, _Factory()) as (fe, fake):
        out = _many(fe.sock, 40)
        _all_answered(out, 40)
        _assert_piped(fake)
        for i in range(40):
            assert fake.times_seen(f"c{i}") == 1
        # One at a time still works, on the kept connection.
        assert inspect(fe.sock, "solo") == (200, {"Id": "solo"})


def test_cut_pipe_resends(tmp_path):
    with fake_stack(tmp_path, _Factory(mode="cut")) as (fe, fake):
        out = _many(fe.sock, 24)
        _all_answered(out, 24)
        _assert_piped(fake)
        # Answered once; read at most twice (once cut, once answered).
        for i in range(24):
            assert 1 <= fake.times_seen(f"c{i}") <= 2


def test_close_answer_resends_the_rest(tmp_path):
    with fake_stack(tmp_path, _Factory(mode="close")) as (fe, fake):
        out = _many(fe.sock, 16)
        _all_answered(out, 16)


def test_client_leaving_a_pipe(tmp_path):
    leave = (0, 3, 7)
    with fake_stack(tmp_path, _Factory(delay=0.2)) as (fe, fake):
        out = _many(fe.sock, 16, leave=leave)
        _all_answered(out, 16, leave=leave)
        # The frontend goes on.
        assert inspect(fe.sock, "after") == (200, {"Id": "after"})


def test_streamed_answer_to_a_slow_client(tmp_path):
    # Answers behind a large one that its client reads slowly wait for it,
    # then all come; the pauses for that client do not stall them.
    big = (2, 9)
    with fake_stack(tmp_path, _Factory()) as (fe, fake):
        out = _many(fe.sock, 16, big=big)
        _all_answered(out, 16, big=big)
        _assert_piped(fake)


def test_busy_polling_frontend(tmp_path):
    # busy_poll changes when the frontend sleeps, not what it answers:
    # piled-up inspects, then back-to-back requests on one connection,
    # each answered once; SIGTERM still ends it (Frontend.stop).
    with fake_stack(tmp_path, _Factory(delay=0.01), "--busy_poll=2000") as (fe, fake):
        out = _many(fe.sock, 24)
        _all_answered(out, 24)
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(30)
        s.connect(fe.sock)
        rest = b""
        for i in range(20):
            s.sendall(f"GET /v1.44/containers/b{i}/json HTTP/1.1\r\nHost: docker\r\n\r\n"
                      .encode())
            status, hdrs, rest = read_head(s, rest)
            n = int(hdrs["content-length"])
            while len(rest) < n:
                rest += s.recv(65536)
            assert (status, json.loads(rest[:n])) == (200, {"Id": f"b{i}"})
            rest = rest[n:]
        s.close()
        for i in range(20):
            assert fake.times_seen(f"b{i}") == 1
