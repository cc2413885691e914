"""sockerless-agent as the ECS wrapper (PID 1 of a task) and its link server,
driven over loopback with a small stdlib WebSocket client
(docs/agent-link.md). SK_AGENT names the binary; default
build/sockerless-agent."""
import base64
import hashlib
import json
import os
import signal
import socket
import stat
import struct
import subprocess
import threading
import time

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
AGENT = os.environ.get("SK_AGENT") or os.path.join(ROOT, "build", "sockerless-agent")
CID = "3f2a" * 16
TOKEN = bytes(range(32))
TOKEN_HEX = TOKEN.hex()
TOKEN_SHA = hashlib.sha256(TOKEN).hexdigest()
PATH = "/sockerless/v1/link"
WINDOW = 256 * 1024

HELLO, OPEN, DATA, EOF, CREDIT, RESULT, CLOSE, RESIZE, META, EVENT = range(1, 11)

pytestmark = pytest.mark.skipif(not os.access(AGENT, os.X_OK),
                                reason=f"{AGENT} not built")


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Agent:
    """The agent running argv as its main process, with the link on."""

    def __init__(self, argv, env=None, link=True, tmp=None):
        self.port = free_port()
        e = dict(os.environ)
        e.pop("SOCKERLESS_HOLD", None)
        if link:
            e.update(SOCKERLESS_AGENT_TOKEN_SHA256=TOKEN_SHA,
                     SOCKERLESS_CONTAINER_ID=CID,
                     SOCKERLESS_AGENT_LISTEN=f"127.0.0.1:{self.port}")
        e.update(env or {})
        self.p = subprocess.Popen([AGENT, "--", *argv], env=e,
                                  stdin=subprocess.DEVNULL,
                                  stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE)
        # The log reader: the agent stops reading its main process when
        # its own stdout/stderr are not being read.
        self.out = {1: b"", 2: b""}
        self.readers = [threading.Thread(target=self._drain, args=(f, n), daemon=True)
                        for f, n in ((self.p.stdout, 1), (self.p.stderr, 2))]
        for t in self.readers:
            t.start()
        if link:
            deadline = time.time() + 5
            while True:
                try:
                    socket.create_connection(("127.0.0.1", self.port), 1).close()
                    break
                except OSError:
                    if time.time() > deadline or self.p.poll() is not None:
                        raise
                    time.sleep(0.02)

    def _drain(self, f, n):
        while True:
            d = f.read1(65536)
            if not d:
                return
            self.out[n] += d

    def link(self, **kw):
        return Link(self.port, **kw)

    def wait_output(self, n, data, timeout=5):
        deadline = time.time() + timeout
        while data not in self.out[n]:
            assert time.time() < deadline, self.out
            time.sleep(0.02)

    def wait(self, timeout=15):
        self.p.wait(timeout=timeout)
        for t in self.readers:
            t.join()
        return self.p.returncode, self.out[1], self.out[2]

    def kill(self):
        if self.p.poll() is None:
            self.p.kill()
        self.wait()


def handshake(port, token=TOKEN_HEX, cid=CID, path=PATH, websocket=True):
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    key = base64.b64encode(os.urandom(16)).decode()
    h = [f"GET {path} HTTP/1.1", f"Host: 127.0.0.1:{port}"]
    if websocket:
        h += ["Upgrade: websocket", "Connection: Upgrade",
              f"Sec-WebSocket-Key: {key}", "Sec-WebSocket-Version: 13",
              "Sec-WebSocket-Protocol: sockerless.v1"]
    if token is not None:
        h.append(f"Authorization: Bearer {token}")
    if cid is not None:
        h.append(f"X-Sockerless-Container: {cid}")
    s.sendall(("\r\n".join(h) + "\r\n\r\n").encode())
    buf = b""
    while b"\r\n\r\n" not in buf:
        d = s.recv(4096)
        if not d:
            break
        buf += d
    head, _, rest = buf.partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    status = int(lines[0].split()[1])
    hdrs = {k.lower(): v.strip() for k, _, v in
            (ln.partition(":") for ln in lines[1:])}
    if status == 101:
        acc = base64.b64encode(hashlib.sha1(
            (key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11").encode()).digest()).decode()
        assert hdrs["sec-websocket-accept"] == acc
        assert hdrs["sec-websocket-protocol"] == "sockerless.v1"
    return s, status, hdrs, rest


class Link:
    def __init__(self, port, **kw):
        self.s, self.status, self.hdrs, self.buf = handshake(port, **kw)
        assert self.status == 101, self.status
        self.stash = []
        self.events = []
        self.closed = None
        self.hello = self.recv_msg()
        assert self.hello[0] == HELLO
        self.hello = json.loads(self.hello[3])

    def frame(self, opcode, payload, mask=True, fin=True):
        b0 = (0x80 if fin else 0) | opcode
        n = len(payload)
        if n < 126:
            h = struct.pack("!BB", b0, (0x80 if mask else 0) | n)
        elif n < 65536:
            h = struct.pack("!BBH", b0, (0x80 if mask else 0) | 126, n)
        else:
            h = struct.pack("!BBQ", b0, (0x80 if mask else 0) | 127, n)
        if mask:
            m = os.urandom(4)
            payload = bytes(b ^ m[i % 4] for i, b in enumerate(payload)) \
                if n < 4096 else self._mask(payload, m)
            h += m
        self.s.sendall(h + payload)

    @staticmethod
    def _mask(p, m):
        k = (m * (len(p) // 4 + 1))[:len(p)]
        return (int.from_bytes(p, "big") ^ int.from_bytes(k, "big")).to_bytes(len(p), "big")

    def send(self, typ, ch, payload=b"", stream=0):
        self.frame(2, struct.pack("!BBHI", typ, stream, 0, ch) + payload)

    def open(self, ch, **req):
        self.send(OPEN, ch, json.dumps(req).encode())

    def credit(self, ch, n):
        self.send(CREDIT, ch, struct.pack("!I", n))

    def _read(self, n):
        while len(self.buf) < n:
            d = self.s.recv(1 << 16)
            if not d:
                raise EOFError("link closed")
            self.buf += d
        r, self.buf = self.buf[:n], self.buf[n:]
        return r

    def recv_frame(self):
        b0, b1 = self._read(2)
        assert b1 & 0x80 == 0, "server frames are not masked"
        n = b1 & 0x7F
        if n == 126:
            n = struct.unpack("!H", self._read(2))[0]
        elif n == 127:
            n = struct.unpack("!Q", self._read(8))[0]
        return b0 & 0x0F, self._read(n)

    def recv_msg(self):
        """The next link message (type, stream, channel, payload)."""
        while True:
            op, p = self.recv_frame()
            if op == 9:
                self.frame(10, p)
                continue
            if op == 8:
                self.closed = struct.unpack("!H", p[:2])[0] if len(p) >= 2 else 0
                raise EOFError(f"close frame {self.closed}")
            if op == 2:
                t, st, _, ch = struct.unpack("!BBHI", p[:8])
                return t, st, ch, p[8:]

    def next_for(self, ch):
        for i, m in enumerate(self.stash):
            if m[2] == ch:
                return self.stash.pop(i)
        while True:
            m = self.recv_msg()
            if m[0] == EVENT:
                self.events.append(json.loads(m[3]))
            if m[2] == ch:
                return m
            self.stash.append(m)

    def collect(self, ch, credit=True):
        """Reads channel ch to its RESULT: ({stream: bytes}, result, msgs)."""
        out = {1: b"", 2: b""}
        msgs = []
        while True:
            t, st, c, p = self.next_for(ch)
            msgs.append((t, st))
            if t == DATA:
                out[st] += p
                if credit:
                    self.credit(ch, len(p))
            elif t == RESULT:
                return out, json.loads(p), msgs

    def event(self, key, timeout=10):
        self.s.settimeout(timeout)
        while True:
            for e in self.events:
                if key in e:
                    self.events.remove(e)
                    return e[key]
            m = self.recv_msg()
            if m[0] == EVENT:
                self.events.append(json.loads(m[3]))
            else:
                self.stash.append(m)

    def close(self):
        self.s.close()


@pytest.fixture
def agents():
    started = []

    def start(argv, **kw):
        a = Agent(argv, **kw)
        started.append(a)
        return a
    yield start
    for a in started:
        a.kill()


SLEEPER = ["sh", "-c", "sleep 30"]


# ---- handshake ----

def test_handshake_and_hello(agents):
    a = agents(SLEEPER)
    ln = a.link()
    h = ln.hello
    assert h["agent"] == "0.1.0" and h["container"] == CID
    assert h["pid"] == a.p.pid and h["held"] is False
    assert h["main"]["running"] is True and h["main"]["exitCode"] is None
    assert h["main"]["tty"] is False and h["main"]["pid"] > 0
    assert h["main"]["startedAt"].endswith("Z")


@pytest.mark.parametrize("kw,status", [
    ({"token": "00" * 32}, 401),
    ({"token": None}, 401),
    ({"token": "zz"}, 401),
    ({"cid": "ab" * 32}, 401),
    ({"cid": None}, 401),
    ({"websocket": False}, 400),
    ({"path": "/other"}, 404),
])
def test_handshake_refused(agents, kw, status):
    a = agents(SLEEPER)
    s, st, hdrs, _ = handshake(a.port, **kw)
    assert st == status
    assert hdrs.get("connection", "").lower() == "close"
    s.settimeout(5)
    while s.recv(4096):
        pass
    s.close()


def test_newer_link_replaces_older(agents):
    a = agents(SLEEPER)
    old = a.link()
    new = a.link()
    with pytest.raises(EOFError):
        old.s.settimeout(5)
        old.recv_msg()
    assert old.closed == 1000
    new.open(1, kind="exec", id="e1", cmd=["echo", "hi"])
    out, res, _ = new.collect(1)
    assert out[1] == b"hi\n" and res["exitCode"] == 0


def test_ping_and_protocol_errors(agents):
    a = agents(SLEEPER)
    ln = a.link()
    ln.frame(9, b"abc")
    assert ln.recv_frame() == (10, b"abc")
    ln.frame(2, struct.pack("!BBHI", OPEN, 0, 0, 1), mask=False)
    with pytest.raises(EOFError):
        ln.recv_msg()
    assert ln.closed == 1002
    ln = a.link()
    # the header alone announces more than AGLINK_MAX_MESSAGE
    ln.s.sendall(struct.pack("!BBQ", 0x82, 0x80 | 127, 400 * 1024) + b"\0" * 4)
    with pytest.raises(EOFError):
        ln.recv_msg()
    assert ln.closed == 1009


def test_fragmented_message(agents):
    a = agents(SLEEPER)
    ln = a.link()
    msg = struct.pack("!BBHI", OPEN, 0, 0, 1) + json.dumps(
        {"kind": "exec", "id": "f", "cmd": ["echo", "frag"]}).encode()
    ln.frame(2, msg[:5], fin=False)
    ln.frame(9, b"p")
    ln.frame(0, msg[5:20], fin=False)
    ln.frame(0, msg[20:])
    out, res, _ = ln.collect(1)
    assert out[1] == b"frag\n" and res["exitCode"] == 0


# ---- main process: hold, attach, signals, exit ----

def test_hold_then_start_and_attach(agents):
    a = agents(["sh", "-c", "echo started; echo oops >&2; exit 4"],
               env={"SOCKERLESS_HOLD": "30"})
    ln = a.link()
    assert ln.hello["held"] is True and ln.hello["main"]["running"] is False
    ln.open(1, kind="attach", stdout=True, stderr=True)
    ln.open(2, kind="start")
    assert ln.collect(2)[1] == {}
    out, res, _ = ln.collect(1)
    assert out[1] == b"started\n" and out[2] == b"oops\n"
    assert res == {"exitCode": 4}
    ev = ln.event("main")
    assert ev["exitCode"] == 4 and ev["finishedAt"].endswith("Z")
    rc, so, se = a.wait()
    assert rc == 4 and so == b"started\n" and se == b"stderr| oops\n"


def test_hold_times_out(agents):
    a = agents(["echo", "late"], env={"SOCKERLESS_HOLD": "1"})
    t = time.time()
    rc, so, _ = a.wait()
    assert rc == 0 and so == b"late\n" and time.time() - t >= 0.9


def test_attach_stdin(agents):
    a = agents(["sh", "-c", "read x; echo got $x; cat; echo end"],
               env={"SOCKERLESS_STDIN": "1", "SOCKERLESS_STDIN_ONCE": "1"})
    ln = a.link()
    ln.open(1, kind="attach", stdin=True, stdout=True, stderr=True)
    ln.send(DATA, 1, b"hi\nmore\n", stream=0)
    ln.send(EOF, 1, stream=0)
    out, res, msgs = ln.collect(1)
    assert out[1] == b"got hi\nmore\nend\n" and res == {"exitCode": 0}
    assert (CREDIT, 0) in msgs
    assert a.wait()[0] == 0


def test_attach_only_stdout(agents):
    a = agents(["sh", "-c", "read x; echo o; echo e >&2"],
               env={"SOCKERLESS_STDIN": "1"})
    ln = a.link()
    ln.open(1, kind="attach", stdin=True, stdout=True, stderr=False)
    ln.send(DATA, 1, b"\n", stream=0)
    out, res, _ = ln.collect(1)
    assert out == {1: b"o\n", 2: b""} and res == {"exitCode": 0}


def test_signal_main(agents):
    a = agents(["sh", "-c", "trap 'echo trapped; exit 7' USR1; "
                "echo ready; while :; do sleep 0.05; done"],
               env={"SOCKERLESS_HOLD": "30"})
    ln = a.link()
    ln.open(1, kind="attach", stdout=True, stderr=True)
    ln.open(9, kind="start")
    assert ln.collect(9)[1] == {}
    t, st, ch, p = ln.next_for(1)
    assert p == b"ready\n"
    ln.credit(1, len(p))
    ln.open(2, kind="signal", signal=int(signal.SIGUSR1))
    assert ln.collect(2)[1] == {}
    out, res, _ = ln.collect(1)
    assert out[1] == b"trapped\n" and res == {"exitCode": 7}
    assert a.wait()[0] == 7


def test_stop_signal_and_forwarding():
    env = {"SOCKERLESS_STOP_SIGNAL": "QUIT"}
    a = Agent(["sh", "-c", "trap 'echo quit; exit 3' QUIT; trap 'echo hup' HUP; "
               "echo ready; while :; do sleep 0.05; done"], env=env, link=False)
    try:
        a.wait_output(1, b"ready\n")
        a.p.send_signal(signal.SIGHUP)
        a.wait_output(1, b"hup\n")
        a.p.send_signal(signal.SIGTERM)
        rc, so, _ = a.wait()
        assert rc == 3 and so == b"ready\nhup\nquit\n"
    finally:
        a.kill()


@pytest.mark.parametrize("script,code", [
    ("exit 0", 0), ("exit 42", 42), ("kill -9 $$", 137), ("kill -TERM $$", 143)])
def test_exit_code(script, code):
    a = Agent(["sh", "-c", script], link=False)
    assert a.wait()[0] == code


def test_exec_failure_of_main():
    a = Agent(["/nonexistent/prog"], link=False)
    rc, so, se = a.wait()
    assert rc == 127 and se.startswith(b"stderr| sockerless-agent: exec")


def test_log_marking():
    long = "x" * 40000
    # A piece without its newline (a split of a long line, or output that
    # ends without one) is marked "+": the reader adds no newline.
    script = ("echo plain; echo 'stderr| looks marked'; echo 'stdout| too'; "
              "echo 'stdout+ also'; "
              "echo err >&2; printf 'a'; printf 'b\\nc'; "
              f"echo {long} >&2; printf tail >&2")
    a = Agent(["sh", "-c", script], link=False)
    rc, so, se = a.wait()
    assert rc == 0
    assert so == (b"plain\nstdout| stderr| looks marked\nstdout| stdout| too\n"
                  b"stdout| stdout+ also\nab\nstdout+ c\n")
    lines = se.split(b"\n")
    assert lines[0] == b"stderr| err"
    piece = 16384 - 16  # with its mark and newline, within a runtime's 16 KiB line
    assert lines[1] == b"stderr+ " + b"x" * piece
    assert lines[2] == b"stderr+ " + b"x" * piece
    assert lines[3] == b"stderr| " + b"x" * (40000 - 2 * piece)
    assert lines[4] == b"stderr+ tail" and lines[5] == b""


def test_env_is_clean(agents):
    a = agents(["sh", "-c", "env; sleep 30"], env={"SOCKERLESS_TTY": "0",
                                                   "KEEP_ME": "1"})
    ln = a.link()
    ln.open(1, kind="exec", id="env", cmd=["env"], env=["EXTRA=2", "KEEP_ME=3"])
    out, res, _ = ln.collect(1)
    env = out[1].decode().splitlines()
    assert "EXTRA=2" in env and "KEEP_ME=3" in env and "KEEP_ME=1" not in env
    assert not [e for e in env if e.startswith("SOCKERLESS_")]


def test_main_tty(agents):
    a = agents(["sh", "-c", "read x; stty size; echo err >&2"],
               env={"SOCKERLESS_TTY": "1", "SOCKERLESS_STDIN": "1"})
    ln = a.link()
    assert ln.hello["main"]["tty"] is True
    ln.open(1, kind="attach", stdin=True, stdout=True, stderr=True)
    ln.send(RESIZE, 1, struct.pack("!HH", 40, 120))
    time.sleep(0.2)
    ln.send(DATA, 1, b"go\n", stream=0)
    out, res, _ = ln.collect(1)
    assert b"40 120\r\n" in out[1] and b"err\r\n" in out[1] and out[2] == b""
    rc, so, _ = a.wait()
    assert rc == 0 and b"40 120\r\n" in so and b"stderr|" not in so


@pytest.mark.parametrize("size,want", [("33 111", b"33 111"), ("0 80", None),
                                       ("33", None), ("33 111 x", None)])
def test_main_tty_size(agents, size, want):
    """SOCKERLESS_TTY_SIZE (the container's ConsoleSize) sizes the main
    terminal before the command starts; a malformed one leaves it unset."""
    a = agents(["stty", "size"], link=False,
               env={"SOCKERLESS_TTY": "1", "SOCKERLESS_TTY_SIZE": size})
    rc, so, _ = a.wait()
    if want is None:
        # Unset: GNU stty says 0 0, busybox's fails.
        assert (rc, so) == (0, b"0 0\r\n") or (rc != 0 and b"stty" in so), (rc, so)
    else:
        assert rc == 0 and so == want + b"\r\n", (rc, so)


# ---- exec ----

def test_exec_streams_and_exit(agents):
    a = agents(SLEEPER)
    ln = a.link()
    ln.open(1, kind="exec", id="x1", cmd=["sh", "-c", "echo out; echo err >&2; exit 3"])
    out, res, msgs = ln.collect(1)
    assert out == {1: b"out\n", 2: b"err\n"}
    assert res["exitCode"] == 3 and res["pid"] > 0
    assert (EOF, 1) in msgs and (EOF, 2) in msgs


def test_exec_workdir_user_and_failures(agents, tmp_path):
    a = agents(SLEEPER)
    ln = a.link()
    ln.open(1, kind="exec", id="w", cmd=["pwd"], workdir=str(tmp_path))
    out, res, _ = ln.collect(1)
    assert out[1] == str(tmp_path).encode() + b"\n" and res["exitCode"] == 0
    ln.open(2, kind="exec", id="nf", cmd=["no-such-cmd"])
    out, res, _ = ln.collect(2)
    # dockerd's exec: 126 for a command that could not start, and runc's
    # message on stdout, ending in \r\n.
    assert res["exitCode"] == 126
    assert out[1].endswith(b'exec: "no-such-cmd": executable file not found '
                           b'in $PATH: unknown\r\n'), out
    ln.open(3, kind="exec", id="na", cmd=["/"])
    out, res, _ = ln.collect(3)
    assert res["exitCode"] == 126 and out[1].endswith(
        b'exec: "/": permission denied: unknown\r\n'), out
    ln.open(4, kind="exec", id="bad")
    assert ln.collect(4)[1]["status"] == 400
    if os.getuid() == 0:
        ln.open(5, kind="exec", id="u", cmd=["id", "-u"], user="65534:65534")
        out, res, _ = ln.collect(5)
        assert out[1] == b"65534\n"
        ln.open(6, kind="exec", id="u2", cmd=["id", "-u"], user="nosuchuser")
        out, res, _ = ln.collect(6)
        assert res["exitCode"] == 126 and b"unable to find user" in out[1]


def test_exec_stdin_half_close(agents):
    a = agents(SLEEPER)
    ln = a.link()
    ln.open(1, kind="exec", id="cat", cmd=["sh", "-c", "cat; echo done"], stdin=True)
    data = os.urandom(100000)
    ln.send(DATA, 1, data, stream=0)
    ln.send(EOF, 1, stream=0)
    out, res, msgs = ln.collect(1)
    assert out[1] == data + b"done\n" and res["exitCode"] == 0


def test_exec_tty_resize(agents):
    a = agents(SLEEPER)
    ln = a.link()
    ln.open(1, kind="exec", id="t", cmd=["sh", "-c", "stty size; read x; stty size; echo e >&2"],
            tty=True, stdin=True, rows=24, cols=80)
    t, st, ch, p = ln.next_for(1)
    buf = p
    while b"24 80\r\n" not in buf:
        buf += ln.next_for(1)[3]
    ln.send(RESIZE, 1, struct.pack("!HH", 50, 132))
    ln.send(DATA, 1, b"x\n", stream=0)
    out, res, msgs = ln.collect(1)
    assert b"50 132\r\n" in out[1] and b"e\r\n" in out[1]
    assert out[2] == b"" and res["exitCode"] == 0
    assert all(s != 2 for t, s in msgs if t == DATA)


def test_exec_status_after_reconnect(agents):
    a = agents(SLEEPER)
    ln = a.link()
    ln.open(1, kind="exec", id="slow", cmd=["sh", "-c", "sleep 0.5; exit 5"])
    ln.open(2, kind="exec_status", id="slow")
    st = ln.collect(2)[1]
    assert st["running"] is True and st["exitCode"] is None
    ln.close()
    time.sleep(1)
    ln = a.link()
    ln.open(1, kind="exec_status", id="slow")
    st = ln.collect(1)[1]
    assert st["running"] is False and st["exitCode"] == 5
    ln.open(2, kind="exec_status", id="nope")
    st = ln.collect(2)[1]
    assert st["status"] == 404 and "nope" in st["message"]


def test_exec_close_keeps_running(agents):
    a = agents(SLEEPER)
    ln = a.link()
    ln.open(1, kind="exec", id="bg", cmd=["sh", "-c", "echo a; sleep 0.3; exit 9"])
    ln.send(CLOSE, 1)
    time.sleep(0.8)
    ln.open(2, kind="exec_status", id="bg")
    assert ln.collect(2)[1]["exitCode"] == 9


def test_signal_exec(agents):
    a = agents(SLEEPER)
    ln = a.link()
    ln.open(1, kind="exec", id="s", cmd=["sleep", "30"])
    ln.open(2, kind="signal", signal=9, target="exec:s")
    assert ln.collect(2)[1] == {}
    assert ln.collect(1)[1]["exitCode"] == 137
    ln.open(3, kind="signal", signal=9, target="exec:gone")
    assert ln.collect(3)[1]["status"] == 409


# ---- flow control ----

def expected_seq(n):
    return "".join(f"{i}\n" for i in range(1, n + 1)).encode()


def test_flow_control_slow_credit(agents):
    a = agents(SLEEPER)
    ln = a.link()
    ln.open(1, kind="exec", id="big", cmd=["seq", "1", "310000"])
    want = expected_seq(310000)
    assert len(want) > 2_000_000
    got = b""
    uncredited = 0
    while True:
        t, st, ch, p = ln.next_for(1)
        if t == DATA:
            got += p
            uncredited += len(p)
            assert uncredited <= WINDOW
            if uncredited >= 100000:
                time.sleep(0.01)
                ln.credit(1, uncredited)
                uncredited = 0
        elif t == RESULT:
            assert json.loads(p)["exitCode"] == 0
            break
    assert got == want


def test_exec_reports_its_pid_first(agents):
    # META {"pid"} before any output (exec inspect's Pid while it runs),
    # and the same pid in the RESULT.
    a = agents(SLEEPER)
    ln = a.link()
    ln.open(1, kind="exec", id="p", cmd=["sh", "-c", "echo $$"])
    t, _, _, p = ln.next_for(1)
    assert t == META, (t, p)
    pid = json.loads(p)["pid"]
    out, res, _ = ln.collect(1)
    assert out[1] == f"{pid}\n".encode() and res["pid"] == pid, (out, res)


def test_flow_control_blocks_producer(agents, tmp_path):
    a = agents(SLEEPER)
    ln = a.link()
    marker = tmp_path / "done"
    ln.open(1, kind="exec", id="blk",
            cmd=["sh", "-c", f"seq 1 310000; touch {marker}"])
    got = b""
    ln.s.settimeout(1.5)
    with pytest.raises(socket.timeout):
        while True:
            t, st, ch, p = ln.next_for(1)
            if t == META:   # the exec's pid, first
                continue
            assert t == DATA
            got += p
    assert len(got) == WINDOW
    assert not marker.exists()
    ln.open(2, kind="exec_status", id="blk")
    assert ln.collect(2)[1]["running"] is True
    ln.s.settimeout(10)
    ln.credit(1, len(got))
    out, res, _ = ln.collect(1)
    assert got + out[1] == expected_seq(310000) and res["exitCode"] == 0
    assert marker.exists()


def test_attach_throttles_main(agents, tmp_path):
    marker = tmp_path / "done"
    a = agents(["sh", "-c", f"read x; seq 1 310000; touch {marker}"],
               env={"SOCKERLESS_STDIN": "1"})
    ln = a.link()
    ln.open(1, kind="attach", stdin=True, stdout=True, stderr=True)
    ln.send(DATA, 1, b"go\n", stream=0)
    got = b""
    ln.s.settimeout(1.5)
    with pytest.raises(socket.timeout):
        while True:
            t, st, ch, p = ln.next_for(1)
            if t == DATA:
                got += p
    assert len(got) == WINDOW and not marker.exists()
    ln.s.settimeout(10)
    ln.credit(1, len(got))
    out, res, _ = ln.collect(1)
    assert got + out[1] == expected_seq(310000) and res == {"exitCode": 0}
    rc, so, _ = a.wait()
    assert rc == 0 and so == expected_seq(310000)


def test_stdin_window_exceeded(agents):
    a = agents(SLEEPER)
    ln = a.link()
    ln.open(1, kind="exec", id="w", cmd=["sleep", "30"], stdin=True)
    with pytest.raises(EOFError):
        for _ in range(8):
            ln.send(DATA, 1, b"x" * 65536, stream=0)
        while True:
            ln.recv_msg()
    assert ln.closed == 1002


# ---- other kinds ----

def test_pause_unpause(agents):
    a = agents(SLEEPER)
    ln = a.link()
    pid = ln.hello["main"]["pid"]

    def state():
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0]
    def wait_state(want):
        deadline = time.time() + 2
        while state() not in want:
            assert time.time() < deadline, state()
            time.sleep(0.01)
    ln.open(1, kind="pause")
    assert ln.collect(1)[1] == {}
    wait_state("T")
    ln.open(2, kind="unpause")
    assert ln.collect(2)[1] == {}
    wait_state("SR")
    assert a.p.poll() is None  # the agent itself is never stopped


def test_top_stats(agents):
    a = agents(SLEEPER)
    ln = a.link()
    ln.open(1, kind="top", args="-ef")
    top = ln.collect(1)[1]
    assert top["Titles"][1] == "PID"
    # The agent is not the user's process: left out, as dockerd leaves out
    # its shim; the workload it runs is listed with the agent as parent.
    pids = {r[1] for r in top["Processes"]}
    assert str(a.p.pid) not in pids, top
    assert any(r[2] == str(a.p.pid) and "sleep 30" in r[7]
               for r in top["Processes"]), top
    ln.open(2, kind="stats")
    assert "pids" in ln.collect(2)[1]
    # ps_args it cannot honour are refused, not ignored.
    ln.open(3, kind="top", args="aux")
    res = ln.collect(3)[1]
    assert res["status"] == 400 and 'ps_args "aux"' in res["message"], res
    ln.open(4, kind="top", args="-e -f")
    assert ln.collect(4)[1]["Titles"] == top["Titles"]


def test_archive(agents, tmp_path):
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "f.txt").write_bytes(b"hello")
    (tmp_path / "dst").mkdir()
    a = agents(SLEEPER)
    ln = a.link()
    ln.open(1, kind="archive_stat", path=str(tmp_path / "src" / "f.txt"))
    assert ln.collect(1)[1]["stat"]["size"] == 5
    ln.open(2, kind="archive_get", path=str(tmp_path / "src"))
    meta = ln.next_for(2)
    assert meta[0] == META and json.loads(meta[3])["stat"]["name"] == "src"
    out, res, msgs = ln.collect(2)
    assert res == {} and (EOF, 1) in msgs and len(out[1]) % 512 == 0
    ln.open(3, kind="archive_put", path=str(tmp_path / "dst"))
    ln.send(DATA, 3, out[1], stream=0)
    ln.send(EOF, 3, stream=0)
    assert ln.collect(3)[1] == {}
    assert (tmp_path / "dst" / "src" / "f.txt").read_bytes() == b"hello"
    ln.open(4, kind="archive_get", path=str(tmp_path / "nope"))
    res = ln.collect(4)[1]
    assert res["status"] == 404


def test_health_events(agents):
    hc = {"Test": ["CMD-SHELL", "echo ok; exit 0"], "Interval": 200_000_000,
          "Timeout": 1_000_000_000, "Retries": 1}
    a = agents(SLEEPER, env={"SOCKERLESS_HEALTHCHECK": json.dumps(hc)})
    ln = a.link()
    h = ln.event("health", timeout=5)
    assert h["Status"] == "healthy" and h["Log"][-1]["ExitCode"] == 0
    assert "ok" in h["Log"][-1]["Output"]


# ---- install ----

def test_install(tmp_path):
    dest = tmp_path / "a" / "b" / "agent"
    r = subprocess.run([AGENT, "--install", str(dest)])
    assert r.returncode == 0
    assert dest.read_bytes() == open(AGENT, "rb").read()
    assert stat.S_IMODE(dest.stat().st_mode) == 0o755
    assert not (tmp_path / "a" / "b" / "agent.tmp").exists()
    r = subprocess.run([str(dest), "--version"], capture_output=True)
    assert r.stdout == b"sockerless-agent 0.1.0\n"
    r = subprocess.run([AGENT, "--install"], capture_output=True)
    assert r.returncode == 125


def test_no_token_no_listener():
    a = Agent(["sh", "-c", "sleep 0.3; echo fine"], link=False,
              env={"SOCKERLESS_AGENT_LISTEN": "127.0.0.1:1"})
    rc, so, _ = a.wait()
    assert rc == 0 and so == b"fine\n"


def test_log_reader_stalled_keeps_link_alive(agents):
    """A log reader that stops reading throttles the main process but not
    the link: execs still run."""
    e = dict(os.environ, SOCKERLESS_AGENT_TOKEN_SHA256=TOKEN_SHA,
             SOCKERLESS_CONTAINER_ID=CID)
    port = free_port()
    e["SOCKERLESS_AGENT_LISTEN"] = f"127.0.0.1:{port}"
    p = subprocess.Popen([AGENT, "--", "seq", "1", "1000000"], env=e,
                         stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    try:
        time.sleep(0.5)
        ln = Link(port)
        ln.open(1, kind="exec", id="e", cmd=["echo", "alive"])
        out, res, _ = ln.collect(1)
        assert out[1] == b"alive\n"
        assert p.poll() is None
        data = p.stdout.read()
        assert data == expected_seq(1000000)
        assert p.wait(10) == 0
    finally:
        if p.poll() is None:
            p.kill()
        p.wait()


# ---- logs: the spooled output of the main process ----

def logs_read(ln, ch, credit=True):
    """A logs channel to its RESULT: (meta, [(stream, ts_ns, bytes)], result)."""
    t, _, _, p = ln.next_for(ch)
    assert t == META, t
    meta = json.loads(p)
    recs = []
    while True:
        t, st, _, p = ln.next_for(ch)
        if t == DATA:
            assert len(p) > 8
            recs.append((st, struct.unpack("!Q", p[:8])[0], p[8:]))
            if credit:
                ln.credit(ch, len(p))
        elif t == RESULT:
            return meta, recs, json.loads(p)


def joined(recs, stream):
    return b"".join(r[2] for r in recs if r[0] == stream)


def test_logs_spool_and_follow(agents, tmp_path):
    go = tmp_path / "go"
    a = agents(["sh", "-c", f"echo one; printf 'two\\nthr'; echo err >&2; "
                f"while [ ! -e {go} ]; do sleep 0.05; done; echo ee; exit 3"])
    ln = a.link()
    a.wait_output(2, b"stderr| err\n")
    before = time.time_ns()
    ln.open(1, kind="logs")
    meta, recs, res = logs_read(ln, 1)
    assert meta == {"dropped": 0, "complete": True} and res == {}
    # The piece without a newline is there at once, as written.
    assert joined(recs, 1) == b"one\ntwo\nthr" and joined(recs, 2) == b"err\n"
    assert all(0 < ts <= before for _, ts, _ in recs)
    assert [r[1] for r in recs] == sorted(r[1] for r in recs)
    ln.open(2, kind="logs", follow=True)
    t, _, _, p = ln.next_for(2)
    assert t == META and json.loads(p)["complete"] is True
    go.touch()  # after the agent has the channel: an OPEN racing the
    # exit may find the link closing, and the backend then reads the log
    metas, recs, res = logs_read_rest(ln, 2)
    assert metas[0] == {"live": True}
    assert res == {"exitCode": 3}
    assert joined(recs, 1) == b"one\ntwo\nthree\n"
    assert a.wait()[0] == 3


def test_logs_tty_bytes(agents):
    a = agents(["sh", "-c", "echo a; printf 'b\\r\\nc'; sleep 30"],
               env={"SOCKERLESS_TTY": "1"})
    ln = a.link()
    a.wait_output(1, b"b\r\r\nc")
    ln.open(1, kind="logs")
    meta, recs, res = logs_read(ln, 1)
    assert joined(recs, 1) == b"a\r\nb\r\r\nc" and joined(recs, 2) == b""


def test_logs_spool_bounded(agents):
    # 200000 lines (1.3 MB) through a 128 KiB spool: the start is gone
    # and the reader is told so; what is kept is the end, whole.
    a = agents(["sh", "-c", "seq 1 200000; sleep 30"],
               env={"SOCKERLESS_LOG_SPOOL": "131072"})
    ln = a.link()
    a.wait_output(1, b"\n200000\n", timeout=20)
    ln.open(1, kind="logs")
    meta, recs, res = logs_read(ln, 1)
    assert meta["complete"] is False and meta["dropped"] > 0 and res == {}
    got = joined(recs, 1)
    assert 0 < len(got) <= 131072
    assert expected_seq(200000).endswith(got)


def test_logs_slow_follower_window(agents):
    # A reader that does not credit holds at most one window; the main
    # process is not slowed by it (its output goes on to the log).
    a = agents(["sh", "-c", "seq 1 100000; echo end"])
    ln = a.link()
    ln.open(1, kind="logs", follow=True)
    a.wait_output(1, b"\nend\n", timeout=20)
    t, _, _, _ = ln.next_for(1)
    assert t == META
    got = 0
    ln.s.settimeout(1.5)
    with pytest.raises(socket.timeout):
        while True:
            t, st, ch, p = ln.next_for(1)
            assert t in (DATA, META)
            got += len(p) if t == DATA else 0
    assert got <= WINDOW
    ln.s.settimeout(10)
    ln.credit(1, got)
    _, recs, res = logs_read_rest(ln, 1)
    assert res == {"exitCode": 0}
    assert a.wait()[0] == 0


def logs_read_rest(ln, ch):
    recs, metas = [], []
    while True:
        t, st, _, p = ln.next_for(ch)
        if t == META:
            metas.append(json.loads(p))
        elif t == DATA:
            recs.append((st, struct.unpack("!Q", p[:8])[0], p[8:]))
            ln.credit(ch, len(p))
        elif t == RESULT:
            return metas, recs, json.loads(p)


def test_exec_that_ends_the_main_process_reports(agents, tmp_path):
    """An exec whose end makes the main process end (it creates the file
    the main process waits for) still reports its output and exit code:
    the agent sends the results of the execs that have ended before it
    closes its links for the main process's exit."""
    for i in range(10):
        go = tmp_path / ("go%d" % i)
        a = agents(["sh", "-c", "while [ ! -e %s ]; do :; done" % go])
        ln = a.link()
        # The file is the exec's last act (touch is its process, exec'd).
        ln.open(1, kind="exec", id="x%d" % i,
                cmd=["sh", "-c", "echo done; echo err >&2; exec touch %s" % go])
        out, res, _ = ln.collect(1)
        assert out == {1: b"done\n", 2: b"err\n"}, (i, out)
        assert res["exitCode"] == 0, (i, res)
        assert ln.event("main")["exitCode"] == 0
        ln.close()
        assert a.wait()[0] == 0
