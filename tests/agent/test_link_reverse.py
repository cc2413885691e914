"""sockerless-agent in reverse mode (docs/agent-link.md): the agent dials
SOCKERLESS_AGENT_CALLBACK and a fake backend here (a socket server) plays
the WebSocket server: it checks the sealed handshake and the masking, runs
execs over the sealed link, drops it and waits for the agent to call back.
The seal is implemented here independently of aglink_seal.c (hmac, hashlib
and the cryptography package's ChaCha20Poly1305)."""
import base64
import hashlib
import hmac
import json
import os
import socket
import struct
import time

import pytest

from test_link import (AGENT, CID, DATA, EOF, HELLO, META, OPEN, RESULT, TOKEN_HEX,
                       Agent)

GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

pytestmark = pytest.mark.skipif(not os.access(AGENT, os.X_OK),
                                reason=f"{AGENT} not built")
aead = pytest.importorskip(
    "cryptography.hazmat.primitives.ciphers.aead",
    reason="python3-cryptography is needed to play the sealed backend")

LABEL = b"sockerless seal v1 "


def hkdf(salt, ikm, info, n=32):
    prk = hmac.new(salt or bytes(32), ikm, hashlib.sha256).digest()
    return hmac.new(prk, info + b"\x01", hashlib.sha256).digest()[:n]


def k_auth(token_hex):
    return hkdf(b"", bytes.fromhex(token_hex), LABEL + b"auth")


def seal_params(value):
    """{"nonce": bytes, "mac": bytes} of "nonce=<hex>, mac=<hex>"."""
    kv = dict(p.strip().split("=", 1) for p in value.split(","))
    return {k: bytes.fromhex(v) for k, v in kv.items()}


class Seal:
    """The backend's side of a sealed session."""

    def __init__(self, token_hex, na, nb):
        tok = bytes.fromhex(token_hex)
        self.tx = aead.ChaCha20Poly1305(
            hkdf(na + nb, tok, LABEL + b"backend to agent"))
        self.rx = aead.ChaCha20Poly1305(
            hkdf(na + nb, tok, LABEL + b"agent to backend"))
        self.ctx = self.crx = 0

    def seal(self, p):
        n = struct.pack("!IQ", 2, self.ctx)
        self.ctx += 1
        return self.tx.encrypt(n, p, None)

    def open(self, p):
        n = struct.pack("!IQ", 1, self.crx)
        self.crx += 1
        return self.rx.decrypt(n, p, None)


class Backend:
    """Listens where the agent calls back."""

    def __init__(self):
        self.srv = socket.socket()
        self.srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.srv.bind(("127.0.0.1", 0))
        self.srv.listen(8)
        self.port = self.srv.getsockname()[1]

    def url(self, path="/sockerless/v1/link"):
        return f"http://127.0.0.1:{self.port}{path}"

    def accept(self, timeout=10):
        """The next connection's request: (socket, request line, headers)."""
        self.srv.settimeout(timeout)
        s, _ = self.srv.accept()
        s.settimeout(10)
        buf = b""
        while b"\r\n\r\n" not in buf:
            d = s.recv(4096)
            assert d, "the agent closed before its request was complete"
            buf += d
        head, _, rest = buf.partition(b"\r\n\r\n")
        assert rest == b"", "the agent sent bytes before the 101"
        lines = head.decode().split("\r\n")
        hdrs = {k.lower(): v.strip() for k, _, v in
                (ln.partition(":") for ln in lines[1:])}
        return s, lines[0], hdrs

    def upgrade(self, timeout=10, prove=True):
        """Checks the agent's MAC, answers 101 with our nonce and MAC
        (a wrong one unless prove), and returns the sealed connection."""
        s, line, hdrs = self.accept(timeout)
        scheme, _, params = hdrs["authorization"].partition(" ")
        assert scheme == "Sockerless-Seal", hdrs["authorization"]
        sp = seal_params(params)
        cid = hdrs["x-sockerless-container"].encode()
        ka = k_auth(TOKEN_HEX)
        want = hmac.new(ka, LABEL + b"hello\0" + cid + b"\0" + sp["nonce"],
                        hashlib.sha256).digest()
        assert hmac.compare_digest(want, sp["mac"])
        nb = os.urandom(32)
        mac = hmac.new(ka if prove else bytes(32),
                       LABEL + b"accept\0" + cid + b"\0" + sp["nonce"] + nb,
                       hashlib.sha256).hexdigest()
        acc = base64.b64encode(hashlib.sha1(
            (hdrs["sec-websocket-key"] + GUID).encode()).digest()).decode()
        s.sendall(("HTTP/1.1 101 Switching Protocols\r\n"
                   "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                   f"Sec-WebSocket-Accept: {acc}\r\n"
                   "Sec-WebSocket-Protocol: sockerless.v1\r\n"
                   f"Sockerless-Seal: nonce={nb.hex()}, mac={mac}\r\n"
                   "\r\n").encode())
        if not prove:
            return s, line, hdrs
        return Conn(s, Seal(TOKEN_HEX, sp["nonce"], nb)), line, hdrs

    def refuse(self, status="401 Unauthorized", timeout=10):
        s, line, hdrs = self.accept(timeout)
        s.sendall(f"HTTP/1.1 {status}\r\nContent-Length: 0\r\n"
                  "Connection: close\r\n\r\n".encode())
        s.close()
        return line, hdrs

    def close(self):
        self.srv.close()


class Conn:
    """The server end of one link: our frames plain, the agent's masked."""

    def __init__(self, s, seal):
        self.s = s
        self.seal = seal
        self.buf = b""
        self.hello = self.recv_msg()
        assert self.hello[0] == HELLO and self.hello[2] == 0
        self.hello = json.loads(self.hello[3])

    def frame(self, opcode, payload, mask=False):
        n = len(payload)
        b1 = 0x80 if mask else 0
        if n < 126:
            h = struct.pack("!BB", 0x80 | opcode, b1 | n)
        elif n < 65536:
            h = struct.pack("!BBH", 0x80 | opcode, b1 | 126, n)
        else:
            h = struct.pack("!BBQ", 0x80 | opcode, b1 | 127, n)
        if mask:
            m = os.urandom(4)
            payload = bytes(b ^ m[i % 4] for i, b in enumerate(payload))
            h += m
        self.s.sendall(h + payload)

    def send(self, typ, ch, payload=b"", stream=0):
        self.frame(2, self.seal.seal(
            struct.pack("!BBHI", typ, stream, 0, ch) + payload))

    def open(self, ch, **req):
        self.send(OPEN, ch, json.dumps(req).encode())

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
        assert b1 & 0x80, "the agent's frames must be masked in reverse mode"
        n = b1 & 0x7F
        if n == 126:
            n = struct.unpack("!H", self._read(2))[0]
        elif n == 127:
            n = struct.unpack("!Q", self._read(8))[0]
        m = self._read(4)
        p = self._read(n)
        return b0 & 0x0F, bytes(b ^ m[i % 4] for i, b in enumerate(p))

    def recv_msg(self):
        while True:
            op, p = self.recv_frame()
            if op == 9:
                self.frame(10, p)
                continue
            if op == 8:
                return ("close", p)
            if op == 2:
                p = self.seal.open(p)
                typ, stream, _, ch = struct.unpack("!BBHI", p[:8])
                return typ, stream, ch, p[8:]

    def collect(self, ch):
        """DATA of ch until its RESULT: (bytes per stream, RESULT JSON)."""
        out = {1: b"", 2: b""}
        while True:
            m = self.recv_msg()
            assert m[0] != "close", m
            typ, stream, c, p = m
            if c != ch:
                continue
            if typ == DATA:
                out[stream] += p
            elif typ == RESULT:
                return out, json.loads(p)
            else:
                # META: an exec's pid, before its output
                assert typ in (EOF, META), m

    def close(self):
        self.s.close()


@pytest.fixture
def backend():
    b = Backend()
    yield b
    b.close()


def start(backend, argv=("sleep", "60"), path="/sockerless/v1/link", **env):
    e = dict(SOCKERLESS_AGENT_CALLBACK=backend.url(path),
             SOCKERLESS_AGENT_TOKEN=TOKEN_HEX, SOCKERLESS_CONTAINER_ID=CID)
    e.update(env)
    return Agent(list(argv), env=e, link=False)


def test_handshake_exec_and_reconnect(backend):
    a = start(backend, path="/cb/link?c=1")
    try:
        t0 = time.time()
        c, line, hdrs = backend.upgrade()
        assert line == "GET /cb/link?c=1 HTTP/1.1"
        assert hdrs["host"] == f"127.0.0.1:{backend.port}"
        assert hdrs["upgrade"].lower() == "websocket"
        assert "upgrade" in hdrs["connection"].lower()
        assert hdrs["sec-websocket-version"] == "13"
        assert hdrs["sec-websocket-protocol"] == "sockerless.v1"
        assert len(base64.b64decode(hdrs["sec-websocket-key"])) == 16
        # The token never crosses the wire, only a MAC made with it.
        assert TOKEN_HEX not in str(hdrs)
        assert hdrs["authorization"].startswith("Sockerless-Seal nonce=")
        assert hdrs["x-sockerless-container"] == CID
        assert c.hello["container"] == CID
        assert c.hello["main"]["running"] is True
        # An exec round trip.
        c.open(1, kind="exec", id="e1", cmd=["sh", "-c", "echo hi; exit 3"])
        out, res = c.collect(1)
        assert out[1] == b"hi\n" and res["exitCode"] == 3
        # A long exec, then the link drops: the agent calls back and
        # the exec's end is still known.
        c.open(2, kind="exec", id="e2", cmd=["sh", "-c", "sleep 1; exit 7"])
        time.sleep(0.2)
        c.close()
        t0 = time.time()
        c, _, hdrs = backend.upgrade(timeout=5)
        assert time.time() - t0 < 3
        assert TOKEN_HEX not in str(hdrs)
        deadline = time.time() + 10
        ch = 1
        while True:
            c.open(ch, kind="exec_status", id="e2")
            _, res = c.collect(ch)
            ch += 1
            if not res.get("running"):
                break
            assert time.time() < deadline, res
            time.sleep(0.2)
        assert res["exitCode"] == 7
        assert a.p.poll() is None
        c.close()
    finally:
        a.kill()


def test_unauthorized_retries(backend):
    a = start(backend)
    try:
        t = []
        for _ in range(3):
            backend.refuse()
            t.append(time.time())
            assert a.p.poll() is None
        # Backoff: 250 ms, then 500 ms (loosely: it waits, it goes on).
        assert t[2] - t[1] >= 0.4
        c, _, _ = backend.upgrade()
        assert c.hello["container"] == CID
        assert a.p.poll() is None
        c.close()
    finally:
        a.kill()
    assert b"401" in a.out[2]


def test_backend_must_prove_the_token(backend):
    """A backend that answers 101 without knowing the token gets nothing:
    the agent hangs up before any message and calls back again."""
    a = start(backend)
    try:
        s, _, _ = backend.upgrade(prove=False)
        s.settimeout(10)
        assert s.recv(4096) == b""  # no HELLO, just the close
        s.close()
        c, _, _ = backend.upgrade(timeout=5)
        assert c.hello["container"] == CID
        c.close()
    finally:
        a.kill()
    assert b"does not prove that it knows the token" in a.out[2]


def test_forged_message_drops_the_link(backend):
    """A message that does not open (here: a flipped tag bit) ends the
    link with close 1008; the agent calls back."""
    a = start(backend)
    try:
        c, _, _ = backend.upgrade()
        sealed = bytearray(c.seal.seal(struct.pack("!BBHI", OPEN, 0, 0, 1)
                                       + b'{"kind":"top"}'))
        sealed[-1] ^= 1
        c.frame(2, bytes(sealed))
        m = c.recv_msg()
        assert m[0] == "close" and m[1][:2] == struct.pack("!H", 1008)
        c.close()
        c, _, _ = backend.upgrade(timeout=5)
        c.close()
    finally:
        a.kill()
    assert b"did not open" in a.out[2]


def test_bulk_output_sealed(backend):
    """Eight channels' output piled up while the backend does not read,
    then flowing with credit: every sealed, masked frame opens, in order,
    and the bytes are whole."""
    a = start(backend)
    try:
        c, _, _ = backend.upgrade()
        n = 8
        for ch in range(1, n + 1):
            c.open(ch, kind="exec", id=f"e{ch}",
                   cmd=["sh", "-c", "yes x | head -c 600000"])
        time.sleep(1.5)  # the agent's output piles up meanwhile
        out = {ch: b"" for ch in range(1, n + 1)}
        done = set()
        while len(done) < n:
            typ, stream, ch, p = c.recv_msg()
            if typ == DATA:
                out[ch] += p
                # Credit what came, so the output keeps flowing and the
                # agent's buffer keeps filling behind partial writes.
                c.send(5, ch, struct.pack("!I", len(p)))
            elif typ == RESULT:
                assert json.loads(p)["exitCode"] == 0
                done.add(ch)
        for ch in out:
            assert out[ch] == b"x\n" * 300000, ch
        c.close()
    finally:
        a.kill()


def test_unmasked_is_fine_masked_is_an_error(backend):
    a = start(backend)
    try:
        c, _, _ = backend.upgrade()
        # A masked frame from the server is a protocol error: close 1002,
        # then the agent calls back.
        c.frame(2, struct.pack("!BBHI", OPEN, 0, 0, 1) + b"{}", mask=True)
        m = c.recv_msg()
        assert m[0] == "close" and m[1][:2] == struct.pack("!H", 1002)
        c.close()
        c, _, _ = backend.upgrade(timeout=5)
        c.close()
    finally:
        a.kill()


def test_main_exit_ends_the_agent(backend):
    a = start(backend, argv=("sh", "-c", "sleep 0.5; exit 5"))
    c, _, _ = backend.upgrade()
    ev = c.recv_msg()
    assert ev[0] == 10 and json.loads(ev[3])["main"]["exitCode"] == 5
    rc, _, _ = a.wait()
    assert rc == 5
    c.close()


@pytest.mark.parametrize("url", ["https://127.0.0.1:1/x", "ftp://h/x",
                                 "http:///x", "http://h:port/x"])
def test_bad_callback(url):
    e = dict(SOCKERLESS_AGENT_CALLBACK=url,
             SOCKERLESS_AGENT_TOKEN=TOKEN_HEX, SOCKERLESS_CONTAINER_ID=CID)
    a = Agent(["true"], env=e, link=False)
    rc, _, err = a.wait()
    assert rc == 125, err
    if url.startswith("https"):
        assert b"https is not supported" in err


def test_missing_token(backend):
    e = dict(SOCKERLESS_AGENT_CALLBACK=backend.url(),
             SOCKERLESS_CONTAINER_ID=CID)
    a = Agent(["true"], env=e, link=False)
    rc, _, err = a.wait()
    assert rc == 125 and b"SOCKERLESS_AGENT_TOKEN" in err


def test_main_exit_before_the_link_is_reported(backend):
    # The main process ends before the link is up (the first call is
    # refused): the agent waits for the link to report the exit, the only
    # exit code Container Apps has (docs/agent-link.md, Events).
    a = start(backend, argv=("sh", "-c", "exit 5"))
    backend.refuse("503 Service Unavailable")
    time.sleep(0.5)
    c, _, _ = backend.upgrade(timeout=15)
    ev = c.recv_msg()
    assert ev[0] == 10 and json.loads(ev[3])["main"]["exitCode"] == 5, ev
    rc, _, _ = a.wait()
    assert rc == 5
    c.close()


def test_workdir_made_and_used(backend, tmp_path):
    wd = tmp_path / "a" / "b"
    a = start(backend, argv=("sh", "-c", "pwd"), SOCKERLESS_WORKDIR=str(wd))
    c, _, _ = backend.upgrade()
    ev = c.recv_msg()
    assert ev[0] == 10 and json.loads(ev[3])["main"]["exitCode"] == 0, ev
    rc, out, _ = a.wait()
    assert rc == 0 and out.strip().endswith(str(wd).encode()), out
    assert wd.is_dir()
    c.close()
