"""Issue 11, items 2, 4 and 5: attach as real clients read it.

- wait answers only after every attach stream has delivered the
  container's output and ended (dockerode's run(), docker-py scripts that
  stop reading their attach socket when wait returns);
- detach keys (ctrl-p ctrl-q, --detach-keys, the detachKeys parameter,
  DetachKeys of an exec) end the stream and leave the container running;
- attach without stdin gets the process's bytes as written (\\r kept, no
  newline added to an unterminated last line), to a running container and
  before start alike (docker run, docker start -a, dockerode's run()).

The attach and wait requests are raw HTTP on the engine's Unix socket, so
the test sees the wire as a strict client does; the reference dockerd of
the test bed answers the same requests (SK_TARGET=reference)."""
import http.client
import json
import select
import socket
import struct
import subprocess
import time

import pytest

from e2e_lib import BUSYBOX, DOCKER, HOST, RUN_ID, TARGET, _env, _inject, host_network, wait_for

# The reference dockerd (20.10) speaks at most 1.41; everything used here
# exists in 1.41.
API = "/v1.41"


def _path():
    assert HOST.startswith("unix://"), HOST
    return HOST[len("unix://"):]


class _Unix(http.client.HTTPConnection):
    def __init__(self, timeout=120):
        super().__init__("localhost", timeout=timeout)

    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(self.timeout)
        self.sock.connect(_path())


def call(method, url, body=None, timeout=120, api=API):
    c = _Unix(timeout)
    data = json.dumps(body) if body is not None else None
    c.request(method, api + url, body=data,
              headers={"Content-Type": "application/json"})
    r = c.getresponse()
    out = r.read()
    c.close()
    return r.status, out


def create(cmd, api=API, **cfg):
    cfg.setdefault("Image", BUSYBOX)
    cfg["Cmd"] = cmd
    cfg["Labels"] = {"sk.e2e.run": RUN_ID}
    if host_network():
        cfg["HostConfig"] = dict(cfg.get("HostConfig", {}), NetworkMode="host")
    st, out = call("POST", "/containers/create", cfg, api=api)
    assert st == 201, out
    return json.loads(out)["Id"]


def hijack(url, body=None):
    """Sends a hijacking POST; returns (status, headers text, socket, bytes
    already read past the headers)."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(60)
    s.connect(_path())
    data = json.dumps(body).encode() if body is not None else b""
    head = (f"POST {API}{url} HTTP/1.1\r\nHost: docker\r\n"
            "Connection: Upgrade\r\nUpgrade: tcp\r\n"
            "Content-Type: application/json\r\n"
            f"Content-Length: {len(data)}\r\n\r\n").encode()
    s.sendall(head + data)
    buf = b""
    while b"\r\n\r\n" not in buf:
        chunk = s.recv(4096)
        if not chunk:
            break
        buf += chunk
    head, _, rest = buf.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    return status, head.decode("latin-1"), s, rest


def attach(cid, query="stream=1&stdout=1&stderr=1"):
    st, head, s, rest = hijack(f"/containers/{cid}/attach?{query}")
    assert st in (101, 200), head + rest.decode("latin-1")
    return s, rest


def read_all(s, rest=b"", timeout=60):
    """Everything up to EOF."""
    s.settimeout(timeout)
    out = rest
    while True:
        chunk = s.recv(65536)
        if not chunk:
            return out
        out += chunk


def read_now(s, rest=b""):
    """What the socket holds right now, and whether it is at EOF: the view
    of a client that stops reading when wait returns. A short grace lets
    bytes already written reach the socket through the frontend relay; the
    stream it looks for ends well before wait answers on a daemon that
    keeps the order, so this does not measure a speed."""
    out = rest
    deadline = time.monotonic() + 0.5
    while True:
        left = deadline - time.monotonic()
        r, _, _ = select.select([s], [], [], max(left, 0))
        if not r:
            return out, False
        chunk = s.recv(65536)
        if not chunk:
            return out, True
        out += chunk


def demux(raw):
    """Multiplexed frames -> (stdout bytes, stderr bytes)."""
    out = {1: b"", 2: b""}
    while raw:
        assert len(raw) >= 8, raw
        kind, size = raw[0], struct.unpack(">I", raw[4:8])[0]
        out[kind] = out.get(kind, b"") + raw[8:8 + size]
        raw = raw[8 + size:]
    return out[1], out[2]


def wait_running(cid):
    def running():
        st, out = call("GET", f"/containers/{cid}/json")
        return st == 200 and json.loads(out)["State"]["Running"]
    wait_for(running, timeout=90, what=f"{cid[:12]} to run")


@pytest.fixture(scope="module", autouse=True)
def busybox():
    """The raw creates below do not pull (another suite's cleanup can have
    removed the image from the engine)."""
    p = subprocess.run([DOCKER, "pull", "-q", BUSYBOX], env=_env(), capture_output=True,
                       text=True, timeout=300)
    assert p.returncode == 0, p.stderr


@pytest.fixture
def ctrs():
    made = []
    yield made
    for cid in made:
        call("DELETE", f"/containers/{cid}?force=1")


# --- item 2: wait after the attached output ----------------------------------

@pytest.mark.parametrize("tty", [False, True])
def test_wait_answers_after_attach_output(ctrs, tty):
    """attach (stream), start, wait; then read only what is there: all the
    output and the end of the stream (as dockerode's run() collects it),
    byte for byte: a terminal's \\r\\n."""
    cid = create(["sh", "-c", "echo one; echo two >&2; echo last"], Tty=tty)
    ctrs.append(cid)
    s, rest = attach(cid)
    st, out = call("POST", f"/containers/{cid}/start")
    assert st == 204, out
    st, out = call("POST", f"/containers/{cid}/wait")
    assert st == 200 and json.loads(out)["StatusCode"] == 0, out
    got, eof = read_now(s, rest)
    s.close()
    if tty:
        assert got == b"one\r\ntwo\r\nlast\r\n", got
    else:
        o, e = demux(got)
        assert (o, e) == (b"one\nlast\n", b"two\n"), got
    assert eof, f"the attach stream was still open when wait answered: {got!r}"


def test_wait_on_stopped_container_with_waiting_attach(ctrs):
    """An attach to a stopped container waits for its next start; a wait
    meanwhile answers at once, and the attach gets the next run's output."""
    cid = create(["sh", "-c", "echo hi; exit 3"])
    ctrs.append(cid)
    assert call("POST", f"/containers/{cid}/start")[0] == 204
    st, out = call("POST", f"/containers/{cid}/wait")
    assert json.loads(out)["StatusCode"] == 3, out
    s, rest = attach(cid)
    st, out = call("POST", f"/containers/{cid}/wait", timeout=60)
    assert st == 200 and json.loads(out)["StatusCode"] == 3, out
    assert call("POST", f"/containers/{cid}/start")[0] == 204
    st, out = call("POST", f"/containers/{cid}/wait")
    assert json.loads(out)["StatusCode"] == 3, out
    got, eof = read_now(s, rest)
    s.close()
    assert demux(got) == (b"hi\n", b"") and eof, got


def test_dockerpy_attach_socket_then_wait(ctrs, apiclient):
    """The same with docker-py's own calls."""
    c = apiclient.create_container(BUSYBOX, ["sh", "-c", "seq 1 200"],
                                   labels={"sk.e2e.run": RUN_ID},
                                   host_config=apiclient.create_host_config(
                                       network_mode="host" if host_network() else None))
    ctrs.append(c["Id"])
    sock = apiclient.attach_socket(c["Id"], params={"stdout": 1, "stderr": 1, "stream": 1})
    raw = getattr(sock, "_sock", sock)
    apiclient.start(c["Id"])
    assert apiclient.wait(c["Id"])["StatusCode"] == 0
    got, eof = read_now(raw)
    sock.close()
    o, _ = demux(got)
    assert o == "".join(f"{i}\n" for i in range(1, 201)).encode(), got[-64:]
    assert eof


# --- item 5: a running container's live output, byte for byte ---------------

GATE = "while [ ! -e /tmp/go ]; do sleep 0.1; done; "


def go(cid):
    p = subprocess.run([DOCKER, "exec", cid, "touch", "/tmp/go"], env=_env(),
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr


@pytest.mark.parametrize("tty", [False, True])
def test_attach_running_is_byte_exact(ctrs, tty):
    cid = create(["sh", "-c", GATE + "printf 'a\\r\\nb'; printf 'err\\r' >&2; "
                  "sleep 0.3; printf 'c'"], Tty=tty)
    ctrs.append(cid)
    st, out = call("POST", f"/containers/{cid}/start")
    assert st == 204, out
    wait_running(cid)
    s, rest = attach(cid)
    go(cid)
    got = read_all(s, rest)
    s.close()
    if tty:
        # A terminal turns \n into \r\n; every byte else is as written.
        assert got == b"a\r\r\nberr\rc", got
    else:
        assert demux(got) == (b"a\r\nbc", b"err\r"), got


# --- item 5: attached before start, byte for byte --------------------------

BYTES = "printf 'a\\r\\nb'; printf 'err\\r' >&2; sleep 0.3; printf 'c'"


def cli(*args):
    """The docker CLI with bytes out (the suite's label on run/create)."""
    p = subprocess.run([DOCKER, *_inject(args)], env=_env(), capture_output=True,
                       timeout=180, stdin=subprocess.DEVNULL)
    return p.returncode, p.stdout, p.stderr


@pytest.mark.parametrize("tty", [False, True])
def test_cli_run_is_byte_exact(tty):
    """docker run (no -i) attaches before start: the bytes as written, a
    terminal's \\r\\n included, no newline added to the last line."""
    rc, out, err = cli("run", "--rm", *(["-t"] if tty else []), BUSYBOX,
                       "sh", "-c", BYTES + "; exit 3")
    assert rc == 3, (rc, out, err)
    if tty:
        assert (out, err) == (b"a\r\r\nberr\rc", b""), (out, err)
    else:
        assert (out, err) == (b"a\r\nbc", b"err\r"), (out, err)


def test_cli_start_attach_is_byte_exact(ctrs):
    """docker start -a of a created container, and again once it stopped."""
    cid = create(["sh", "-c", BYTES])
    ctrs.append(cid)
    for _ in range(2):
        rc, out, err = cli("start", "-a", cid)
        assert (rc, out, err) == (0, b"a\r\nbc", b"err\r"), (rc, out, err)


def test_dockerpy_tty_attach_start_wait_is_byte_exact(ctrs, apiclient):
    """dockerode's run() (Tty true by default) with docker-py's calls:
    attach, start, wait, then the stream holds every byte and has ended."""
    c = apiclient.create_container(BUSYBOX, ["sh", "-c", BYTES], tty=True,
                                   labels={"sk.e2e.run": RUN_ID},
                                   host_config=apiclient.create_host_config(
                                       network_mode="host" if host_network() else None))
    ctrs.append(c["Id"])
    sock = apiclient.attach_socket(c["Id"], params={"stdout": 1, "stderr": 1, "stream": 1})
    raw = getattr(sock, "_sock", sock)
    apiclient.start(c["Id"])
    assert apiclient.wait(c["Id"])["StatusCode"] == 0
    got, eof = read_now(raw)
    sock.close()
    assert got == b"a\r\r\nberr\rc", got
    assert eof


def test_console_size_before_the_first_resize(ctrs):
    """HostConfig.ConsoleSize (API 1.42, sent by the docker CLI for -t) is
    the terminal's size from the start: a command that starts before the
    client's first resize (attached before start, input already queued, as
    in test_agent.py::test_run_tty) sees it, not 0x0."""
    if TARGET == "reference":
        pytest.skip("the test bed's dockerd 20.10 speaks API 1.41, which has no ConsoleSize")
    cid = create(["stty", "size"], api="/v1.44", Tty=True,
                 HostConfig={"ConsoleSize": [33, 111]})
    ctrs.append(cid)
    s, rest = attach(cid)
    assert call("POST", f"/containers/{cid}/start")[0] == 204
    got = read_all(s, rest)
    s.close()
    assert got == b"33 111\r\n", got


# --- item 4: detach keys -----------------------------------------------------

def stdin_ctr(ctrs, tty):
    cid = create(["cat"], Tty=tty, OpenStdin=True, AttachStdin=True)
    ctrs.append(cid)
    st, out = call("POST", f"/containers/{cid}/start")
    assert st == 204, out
    wait_running(cid)
    return cid


def read_until(s, rest, want):
    s.settimeout(60)
    out = rest
    while want not in out:
        chunk = s.recv(65536)
        assert chunk, f"EOF before {want!r}: {out!r}"
        out += chunk
    return out


def running(cid):
    st, out = call("GET", f"/containers/{cid}/json")
    assert st == 200, out
    return json.loads(out)["State"]["Running"]


@pytest.mark.parametrize("param,keys", [(None, [b"\x10", b"\x11"]),
                                        ("ctrl-x,y", [b"\x18", b"y"]),
                                        ("DEL", [b"\x7f"])])
def test_detach_keys_end_attach(ctrs, param, keys):
    """On a TTY the keys end the stream (nothing more is written) and the
    container runs on; a new attach reaches the same process."""
    cid = stdin_ctr(ctrs, True)
    q = "stream=1&stdin=1&stdout=1&stderr=1"
    if param is not None:
        q += "&detachKeys=" + param
    s, rest = attach(cid, q)
    s.sendall(b"hi\n")
    seen = read_until(s, rest, b"hi\r\nhi\r\n")
    for k in keys:
        s.sendall(k)
    tail = read_all(s)
    s.close()
    assert seen + tail == b"hi\r\nhi\r\n", seen + tail
    assert running(cid)
    s, rest = attach(cid, q)
    s.sendall(b"again\n")
    read_until(s, rest, b"again\r\nagain\r\n")
    s.close()


def test_detach_keys_not_on_pipes(ctrs):
    """Without a TTY dockerd looks for no keys: they are input."""
    cid = stdin_ctr(ctrs, False)
    s, rest = attach(cid, "stream=1&stdin=1&stdout=1&stderr=1")
    s.sendall(b"\x10")
    s.sendall(b"\x11\n")
    got = read_until(s, rest, b"\n")
    s.close()
    assert demux(got)[0] == b"\x10\x11\n", got
    assert running(cid)


@pytest.mark.parametrize("spec", ["ctrl-", "ctrl-A", "a,,b", "ab"])
def test_detach_keys_bad_spec(ctrs, spec):
    cid = stdin_ctr(ctrs, True)
    st, head, s, rest = hijack(
        f"/containers/{cid}/attach?stream=1&stdin=1&stdout=1&detachKeys={spec}")
    s.close()
    assert st == 400, head
    # dockerd 20.10 writes the message as plain text, Sockerless as
    # Docker's JSON envelope (docs/compat.md, item 4).
    assert f"Invalid detach keys ({spec}) provided".encode() in rest, rest


def exec_create(cid, **cfg):
    body = {"Cmd": ["cat"], "AttachStdin": True, "AttachStdout": True,
            "AttachStderr": True, "Tty": True}
    body.update(cfg)
    return call("POST", f"/containers/{cid}/exec", body)


def test_detach_keys_exec_bad_spec(ctrs, target):
    cid = stdin_ctr(ctrs, True)
    st, out = exec_create(cid, DetachKeys="ctrl-A")
    assert json.loads(out)["message"] == "Invalid escape keys (ctrl-A) provided"
    # dockerd 20.10 answers 500 (a client's mistake; docs/compat.md).
    assert st == (400 if target == "sockerless" else 500), out


def test_detach_keys_end_exec(ctrs, target):
    """The exec's DetachKeys end its stream; the container runs on."""
    cid = stdin_ctr(ctrs, True)
    st, out = exec_create(cid, DetachKeys="ctrl-x,y")
    assert st == 201, out
    eid = json.loads(out)["Id"]
    st, head, s, rest = hijack(f"/exec/{eid}/start", {"Tty": True})
    assert st in (101, 200), head
    s.sendall(b"yo\n")
    read_until(s, rest, b"yo\r\nyo\r\n")
    s.sendall(b"\x18")
    s.sendall(b"y")
    read_all(s)  # ends
    s.close()
    assert running(cid)
    if target == "reference":
        pytest.skip("dockerd 20.10 writes 'exec attach failed: ... read escape "
                    "sequence' and ends the exec with 126 (docs/compat.md, item 4)")
    st, out = call("GET", f"/exec/{eid}/json")
    assert st == 200 and json.loads(out)["Running"] is True, out


def test_cli_attach_detach(ctrs):
    """docker attach on a terminal: ctrl-p ctrl-q leaves the container
    running, and the CLI says so as it does against dockerd."""
    import os
    import pty
    cid = stdin_ctr(ctrs, True)
    pid, fd = pty.fork()
    if pid == 0:
        os.execve(DOCKER, [DOCKER, "attach", cid], _env())
    out = b""

    def until(want):
        nonlocal out
        deadline = time.monotonic() + 60
        while want not in out and time.monotonic() < deadline:
            r, _, _ = select.select([fd], [], [], 1)
            if r:
                try:
                    chunk = os.read(fd, 4096)
                except OSError:
                    return
                if not chunk:
                    return
                out += chunk

    # Type until cat echoes: the CLI attaches at its own pace.
    deadline = time.monotonic() + 60
    while b"hello\r\nhello" not in out and time.monotonic() < deadline:
        os.write(fd, b"hello\r")
        until(b"hello\r\nhello")
    os.write(fd, b"\x10")
    os.write(fd, b"\x11")
    until(b"\x00never")
    _, status = os.waitpid(pid, 0)
    os.close(fd)
    assert b"read escape sequence" in out, out
    assert running(cid)
