"""The Docker socket inside the workload (SOCKERLESS_DOCKER_SOCK,
docs/volumes.md): the agent serves a unix socket at each path and carries
each connection over its link as an agent-initiated CONNECT channel
{"target":"docker"} (docs/agent-link.md). Drives the real agent with
test_link's client playing the backend."""
import json
import os
import socket
import stat
import time

import pytest

from test_link import DATA, EOF, RESULT, SLEEPER, agents  # noqa: F401

CONNECT = 11
AGENT_CHAN = 0x80000000


def sock_env(*paths, user=None):
    env = {"SOCKERLESS_DOCKER_SOCK": json.dumps(list(paths))}
    if user is not None:
        env["SOCKERLESS_USER"] = user
    return env


def wait_sock(path, timeout=5):
    deadline = time.time() + timeout
    while True:
        try:
            if stat.S_ISSOCK(os.lstat(path).st_mode):
                return
        except FileNotFoundError:
            pass
        assert time.time() < deadline, f"no socket at {path}"
        time.sleep(0.02)


def client(path):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(10)
    s.connect(path)
    return s


def recv_all(s):
    buf = b""
    while True:
        d = s.recv(65536)
        if not d:
            return buf
        buf += d


def next_connect(link):
    """The next CONNECT the agent sends: (channel, request)."""
    while True:
        t, st, ch, p = link.recv_msg()
        if t == CONNECT:
            return ch, json.loads(p)


def test_request_and_answer_both_ways(agents, tmp_path):
    path = str(tmp_path / "var" / "run" / "docker.sock")
    a = agents(SLEEPER, env=sock_env(path))
    wait_sock(path)
    # The parents were made for it.
    assert stat.S_IMODE(os.stat(tmp_path / "var" / "run").st_mode) == 0o755
    link = a.link()
    c = client(path)
    c.sendall(b"GET /_ping HTTP/1.0\r\n\r\n")
    c.shutdown(socket.SHUT_WR)
    ch, req = next_connect(link)
    assert ch >= AGENT_CHAN
    assert req == {"kind": "connect", "target": "docker"}
    got = b""
    while True:
        t, st, c2, p = link.next_for(ch)
        if t == DATA:
            assert st == 0
            got += p
            link.credit(ch, len(p))
        elif t == EOF:
            assert st == 0
            break
    assert got == b"GET /_ping HTTP/1.0\r\n\r\n"
    link.send(DATA, ch, b"HTTP/1.0 200 OK\r\n\r\nOK", stream=1)
    link.send(EOF, ch, stream=1)
    link.send(RESULT, ch, b"{}")
    assert recv_all(c) == b"HTTP/1.0 200 OK\r\n\r\nOK"
    # A second connection gets a new channel.
    c2s = client(path)
    ch2, _ = next_connect(link)
    assert ch2 > ch
    link.send(RESULT, ch2, json.dumps(
        {"status": 403, "message": "no Docker socket mount"}).encode())
    assert recv_all(c2s) == b""
    a.wait_output(2, b"Docker socket " + path.encode() + b": no Docker socket mount (403)")


def test_flow_control(agents, tmp_path):
    path = str(tmp_path / "d.sock")
    a = agents(SLEEPER, env=sock_env(path))
    wait_sock(path)
    link = a.link()
    c = client(path)
    ch, _ = next_connect(link)
    c.setblocking(False)
    sent = 0
    blob = b"x" * 65536
    deadline = time.time() + 3
    # Nobody credits: the agent stops reading at the window.
    while time.time() < deadline:
        try:
            sent += c.send(blob)
        except BlockingIOError:
            time.sleep(0.05)
    got = 0
    link.s.settimeout(1)
    try:
        while True:
            t, st, c2, p = link.next_for(ch)
            if t == DATA:
                got += len(p)
    except (socket.timeout, TimeoutError):
        pass
    assert got == 256 * 1024
    assert sent > got
    link.credit(ch, got)
    link.s.settimeout(10)
    t, st, c2, p = link.next_for(ch)
    assert t == DATA
    c.close()
    link.send(RESULT, ch, b"{}")


def test_waits_for_the_first_link(agents, tmp_path):
    path = str(tmp_path / "d.sock")
    a = agents(SLEEPER, env=sock_env(path))
    wait_sock(path)
    # Made before the backend has dialled: carried once the link is up.
    c = client(path)
    c.sendall(b"early")
    link = a.link()
    ch, _ = next_connect(link)
    t, st, c2, p = link.next_for(ch)
    assert (t, st, p) == (DATA, 0, b"early")
    link.send(RESULT, ch, b"{}")
    assert recv_all(c) == b""


def test_link_lost_closes_connections(agents, tmp_path):
    path = str(tmp_path / "d.sock")
    a = agents(SLEEPER, env=sock_env(path))
    wait_sock(path)
    link = a.link()
    c = client(path)
    next_connect(link)
    link.close()
    assert recv_all(c) == b""
    # With the link down, a new connection is closed at once.
    c = client(path)
    assert recv_all(c) == b""


def test_stale_socket_replaced_file_kept(agents, tmp_path):
    stale = str(tmp_path / "stale.sock")
    old = socket.socket(socket.AF_UNIX)
    old.bind(stale)
    old.close()
    regular = tmp_path / "file.sock"
    regular.write_text("keep me")
    directory = tmp_path / "dir.sock"
    directory.mkdir()
    a = agents(SLEEPER, env=sock_env(str(regular), str(directory), stale))
    wait_sock(stale)
    assert regular.read_text() == "keep me"
    assert directory.is_dir()
    a.wait_output(2, b"cannot serve the Docker socket at " + str(regular).encode())
    a.wait_output(2, b"cannot serve the Docker socket at " + str(directory).encode())
    link = a.link()
    c = client(stale)
    ch, _ = next_connect(link)
    link.send(RESULT, ch, b"{}")
    assert recv_all(c) == b""


def test_permissions(agents, tmp_path):
    if os.geteuid() != 0:
        pytest.skip("chown needs root")
    p_root = str(tmp_path / "root.sock")
    p_grp = str(tmp_path / "grp.sock")
    p_num = str(tmp_path / "num.sock")
    a = agents(SLEEPER, env=sock_env(p_root))
    b = agents(SLEEPER, env=sock_env(p_grp, user="4242:4343"))
    c = agents(SLEEPER, env=sock_env(p_num, user="4242"))
    for p in (p_root, p_grp, p_num):
        wait_sock(p)
    st = os.lstat(p_root)
    assert (st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode)) == (0, 0, 0o660)
    st = os.lstat(p_grp)
    assert (st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode)) == (0, 4343, 0o660)
    # A uid the passwd file does not name: its group cannot be known.
    st = os.lstat(p_num)
    assert stat.S_IMODE(st.st_mode) == 0o666
    for x in (a, b, c):
        x.kill()


def test_listener_not_inherited(agents, tmp_path):
    path = str(tmp_path / "d.sock")
    out = tmp_path / "fds"
    a = agents(["sh", "-c", f"ls -l /proc/self/fd/ > {out}; sleep 30"],
               env=sock_env(path))
    wait_sock(path)
    deadline = time.time() + 5
    while not out.exists() or not out.read_text():
        assert time.time() < deadline
        time.sleep(0.02)
    assert "socket:" not in out.read_text()
    a.kill()


def test_malformed_env(agents, tmp_path):
    a = agents(SLEEPER, env={"SOCKERLESS_DOCKER_SOCK": "/var/run/docker.sock"})
    a.wait_output(2, b"malformed SOCKERLESS_DOCKER_SOCK")

