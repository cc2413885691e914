"""The agent's `tcp` kind (docs/agent-link.md): a connection inside the
workload carried over a channel, with half-close both ways, flow control
and a refused connect. Drives the real agent with test_link's client."""
import json
import os
import socket
import threading
import time

from test_link import (CREDIT, DATA, EOF, RESULT, SLEEPER, WINDOW, agents,  # noqa: F401
                       free_port)


class Server:
    """A loopback TCP server (the workload's listener): echoes what it
    reads, or serves `reply` then half-closes, as `mode` says."""

    def __init__(self, mode="echo", reply=b""):
        self.ls = socket.socket()
        self.ls.bind(("127.0.0.1", 0))
        self.ls.listen(16)
        self.port = self.ls.getsockname()[1]
        self.mode, self.reply = mode, reply
        self.got = {}
        threading.Thread(target=self.run, daemon=True).start()

    def run(self):
        n = 0
        while True:
            try:
                s, _ = self.ls.accept()
            except OSError:
                return
            n += 1
            threading.Thread(target=self.serve, args=(s, n), daemon=True).start()

    def serve(self, s, n):
        buf = b""
        if self.mode == "reply-first":
            s.sendall(self.reply)
            s.shutdown(socket.SHUT_WR)
        while True:
            d = s.recv(65536)
            if not d:
                break
            buf += d
            if self.mode == "echo":
                s.sendall(d)
        self.got[n] = buf
        if self.mode == "echo":
            s.sendall(b"<eof>")
        s.close()

    def close(self):
        self.ls.close()


def test_tcp_echo_half_close(agents):
    srv = Server()
    a = agents(SLEEPER)
    ln = a.link()
    ln.open(1, kind="tcp", port=srv.port)
    data = os.urandom(200000)  # within the window (credit: below)
    for i in range(0, len(data), 60000):
        ln.send(DATA, 1, data[i:i + 60000], stream=0)
    ln.send(EOF, 1, stream=0)
    out, res, msgs = ln.collect(1)
    assert res == {}
    assert out[1] == data + b"<eof>"
    assert (EOF, 1) in msgs
    srv.close()


def test_tcp_stdin_credit(agents):
    """DATA 0 is credited back as it reaches the socket."""
    srv = Server()
    a = agents(SLEEPER)
    ln = a.link()
    ln.open(1, kind="tcp", port=srv.port)
    sent = credited = 0
    chunk = b"x" * 60000
    out = b""
    while sent < 3 * WINDOW:
        while sent - credited + len(chunk) <= WINDOW:
            ln.send(DATA, 1, chunk, stream=0)
            sent += len(chunk)
        t, st, ch, p = ln.next_for(1)
        if t == CREDIT:
            credited += int.from_bytes(p[:4], "big")
        elif t == DATA:
            out += p
            ln.credit(1, len(p))
    ln.send(EOF, 1, stream=0)
    while True:
        t, st, ch, p = ln.next_for(1)
        if t == DATA:
            out += p
            ln.credit(1, len(p))
        elif t == RESULT:
            assert json.loads(p) == {}
            break
    assert out == b"x" * sent + b"<eof>"


def test_tcp_server_half_closes_first(agents):
    srv = Server(mode="reply-first", reply=b"hello from the workload\n")
    a = agents(SLEEPER)
    ln = a.link()
    ln.open(1, kind="tcp", port=srv.port, host="127.0.0.1")
    t, st, ch, p = ln.next_for(1)
    assert (t, st, p) == (DATA, 1, b"hello from the workload\n")
    assert ln.next_for(1)[:2] == (EOF, 1)
    # Our direction is still open: the server reads it to its end.
    ln.send(DATA, 1, b"late request", stream=0)
    ln.send(EOF, 1, stream=0)
    while (m := ln.next_for(1))[0] == CREDIT:
        pass
    assert m[0] == RESULT and json.loads(m[3]) == {}
    deadline = time.time() + 5
    while srv.got.get(1) is None:
        assert time.time() < deadline
        time.sleep(0.02)
    assert srv.got[1] == b"late request"


def test_tcp_refused_and_bad_requests(agents):
    a = agents(SLEEPER)
    ln = a.link()
    port = free_port()
    ln.open(1, kind="tcp", port=port)
    t, st, ch, p = ln.next_for(1)
    assert t == RESULT
    res = json.loads(p)
    assert res["status"] == 502 and "connection refused" in res["message"]
    assert str(port) in res["message"]
    for i, req in enumerate([{}, {"port": 0}, {"port": 70000},
                             {"port": 80, "host": "db.example"}], start=2):
        ln.open(i, kind="tcp", **req)
        t, st, ch, p = ln.next_for(i)
        assert t == RESULT and json.loads(p)["status"] == 400, p


def test_tcp_many_and_close(agents):
    srv = Server()
    a = agents(SLEEPER)
    ln = a.link()
    for ch in range(1, 21):
        ln.open(ch, kind="tcp", port=srv.port)
        ln.send(DATA, ch, f"conn {ch}".encode(), stream=0)
    for ch in range(1, 21):
        ln.send(EOF, ch, stream=0)
    for ch in range(1, 21):
        out, res, _ = ln.collect(ch)
        assert res == {} and out[1] == f"conn {ch}<eof>".encode()
    # CLOSE abandons a channel: the agent closes its socket (the
    # server's 21st connection ends), and the link goes on.
    ln.open(30, kind="tcp", port=srv.port)
    ln.send(DATA, 30, b"abandoned", stream=0)
    ln.send(7, 30)  # CLOSE
    deadline = time.time() + 5
    while 21 not in srv.got:
        assert time.time() < deadline, srv.got
        time.sleep(0.02)
    ln.open(31, kind="tcp", port=srv.port)
    ln.send(EOF, 31, stream=0)
    out, res, _ = ln.collect(31)
    assert res == {} and out[1] == b"<eof>"
