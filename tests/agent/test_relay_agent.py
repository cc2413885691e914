"""Relay mode on the agent's side (docs/networks.md, "Relay mode"): with
SOCKERLESS_NET's "relay" the `names` kind's "peers" give each peer a
loopback address of the container's own range (127.A.B.N, A.B from the
container id), the resolver answers the peer's names with it, the agent
listens there on the peer's ports and carries each connection as a
CONNECT {"peer", "port"} (a UDP port's datagrams, per local source, as a
CONNECT with "proto": "udp" and length-prefixed records; the `udp` kind
is the peer's side); the resolver itself moves to 127.A.B.1:53.
Drives the real agent with test_link's client playing the backend."""
import json
import os
import socket
import struct
import time

import pytest

from test_agentnet import A, ask, netagent, parse, query  # noqa: F401
from test_docksock import AGENT_CHAN, next_connect
from test_link import CID, CLOSE, CREDIT, DATA, EOF, RESULT, Agent

# CID is "3f2a...": A = 1 + 0x3f % 255, B = 0x2a.
RANGE = "127.64.42."
PEER1, PEER2 = "ab" * 32, "cd" * 32


def relay_net(**kw):
    net = {"resolver": True, "relay": True, "dns": [],
           "names": {"self": ["127.0.0.1"]}}
    net.update(kw)
    return net


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def wait_text(path, text):
    deadline = time.time() + 5
    while not (path.exists() and text in path.read_text()):
        assert time.time() < deadline, f"{text!r} not in {path}"
        time.sleep(0.02)


def resolve(a, name):
    recs = parse(ask(a.dns, query(name)))[3]
    return [v for t, v in recs if t == A]


def test_peers_listen_and_connect(netagent):
    port = free_port()
    a = netagent(relay_net(), resolv="", link=True)
    ln = a.link()
    ln.open(1, kind="names", names={"self": ["127.0.0.1"]},
            peers=[{"id": PEER1, "names": ["db", "Web"], "ports": [port]},
                   {"id": PEER2, "names": ["db"], "ports": []}])
    assert ln.collect(1)[1] == {}
    web = resolve(a, "web")
    assert len(web) == 1 and web[0].startswith(RANGE)
    assert web[0] != RANGE + "1"  # the resolver's
    # A name two peers share answers both; the own name is 127.0.0.1.
    db = resolve(a, "db")
    assert len(db) == 2 and web[0] in db
    assert resolve(a, "self") == ["127.0.0.1"]

    c = socket.create_connection((web[0], port), timeout=5)
    c.sendall(b"hello")
    c.shutdown(socket.SHUT_WR)
    ch, req = next_connect(ln)
    assert ch >= AGENT_CHAN
    assert req == {"kind": "connect", "peer": PEER1, "port": port}
    got = b""
    while got != b"hello":
        t, st, c2, p = ln.next_for(ch)
        if t == DATA:
            got += p
    ln.send(DATA, ch, b"back", stream=1)
    ln.send(EOF, ch, stream=1)
    ln.send(RESULT, ch, b"{}")
    c.settimeout(5)
    buf = b""
    while True:
        d = c.recv(4096)
        if not d:
            break
        buf += d
    assert buf == b"back"
    c.close()

    # The view changes: the same peer keeps its address, a gone one
    # loses its names and listeners.
    ln.open(2, kind="names", names={},
            peers=[{"id": PEER2, "names": ["db2"], "ports": [port]}])
    assert ln.collect(2)[1] == {}
    assert resolve(a, "web") == []
    db2 = resolve(a, "db2")
    assert len(db2) == 1 and db2[0] in db
    with pytest.raises(OSError):
        socket.create_connection((web[0], port), timeout=2)


def rec(d):
    """One datagram as the UDP channels carry it: 2-byte length, bytes."""
    return struct.pack("!H", len(d)) + d


def records(buf):
    """The whole records of buf, and what is left."""
    out = []
    while len(buf) >= 2 and len(buf) >= 2 + struct.unpack("!H", buf[:2])[0]:
        n = struct.unpack("!H", buf[:2])[0]
        out.append(buf[2:2 + n])
        buf = buf[2 + n:]
    return out, buf


def test_udp_flow(netagent):
    """A peer's UDP port: each local source's datagrams become a flow
    (CONNECT "proto": "udp"), records both ways, boundaries kept however
    the DATA is cut; it goes after SOCKERLESS_UDP_IDLE_MS (CLOSE)."""
    port = free_port()
    a = netagent(relay_net(), resolv="", link=True,
                 env={"SOCKERLESS_UDP_IDLE_MS": "300"})
    ln = a.link()
    ln.open(1, kind="names", names={},
            peers=[{"id": PEER1, "names": ["stats"], "ports": [],
                    "udp": [port]}])
    assert ln.collect(1)[1] == {}
    addr = resolve(a, "stats")[0]
    c = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    c.settimeout(5)
    c.sendto(b"x" * 3000, (addr, port))
    c.sendto(b"hi", (addr, port))
    ch, req = next_connect(ln)
    assert ch >= AGENT_CHAN
    assert req == {"kind": "connect", "peer": PEER1, "port": port,
                   "proto": "udp"}
    buf, got = b"", []
    while len(got) < 2:
        t, st, c2, p = ln.next_for(ch)
        if t == CREDIT:
            continue
        assert t == DATA and st == 0
        buf += p
        got, _ = records(buf)
    assert got == [b"x" * 3000, b"hi"]
    # The answers, one record cut across two DATA messages.
    back = rec(b"answer one") + rec(b"2")
    ln.send(DATA, ch, back[:5], stream=1)
    ln.send(DATA, ch, back[5:], stream=1)
    assert c.recvfrom(100) == (b"answer one", (addr, port))
    assert c.recvfrom(100) == (b"2", (addr, port))
    # Idle: the agent abandons the flow.
    t0 = time.time()
    while True:
        t, st, c2, p = ln.next_for(ch)
        if t == CLOSE:
            break
    assert time.time() - t0 < 3
    # A new datagram: a new flow.
    c.sendto(b"again", (addr, port))
    ch2, req = next_connect(ln)
    assert ch2 != ch and req["proto"] == "udp"
    # The backend ends it: the next datagram opens another.
    ln.send(RESULT, ch2, b'{"status":503,"message":"down"}')
    time.sleep(0.1)
    c.sendto(b"third", (addr, port))
    ch3, _ = next_connect(ln)
    assert ch3 not in (ch, ch2)
    c.close()


def test_udp_kind(netagent):
    """The peer's side: OPEN udp {"port"} sends each record as a datagram
    from one connected socket to 127.0.0.1:port and carries the answers
    back as records; the member's EOF ends it."""
    srv = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    srv.bind(("127.0.0.1", 0))
    srv.settimeout(5)
    port = srv.getsockname()[1]
    a = netagent(relay_net(), resolv="", link=True)
    ln = a.link()
    ln.open(5, kind="udp", port=port)
    ln.send(DATA, 5, rec(b"one") + rec(b"z" * 65507)[:100], stream=0)
    ln.send(DATA, 5, rec(b"z" * 65507)[100:], stream=0)
    d, src = srv.recvfrom(70000)
    assert d == b"one"
    d, src2 = srv.recvfrom(70000)
    assert d == b"z" * 65507 and src2 == src
    srv.sendto(b"", src)
    srv.sendto(b"reply", src)
    buf, got = b"", []
    while len(got) < 2:
        t, st, c2, p = ln.next_for(5)
        if t == CREDIT:
            continue
        assert t == DATA and st == 1
        buf += p
        got, _ = records(buf)
    assert got == [b"", b"reply"]
    ln.send(EOF, 5, stream=0)
    assert ln.collect(5)[1] == {}
    # A record longer than UDP allows: refused.
    ln.open(6, kind="udp", port=port)
    ln.send(DATA, 6, b"\xff\xff", stream=0)
    res = ln.collect(6)[1]
    assert res["status"] == 400
    ln.open(7, kind="udp", port=0)
    assert ln.collect(7)[1]["status"] == 400
    srv.close()


def test_malformed_peers_refused(netagent):
    a = netagent(relay_net(), resolv="", link=True)
    ln = a.link()
    ln.open(1, kind="names", names={},
            peers=[{"id": PEER1, "names": ["web"], "ports": []}])
    assert ln.collect(1)[1] == {}
    bad_peers = ([{"names": ["x"]}], [{"id": "not hex"}], [{}],
                 {"id": PEER1}, [{"id": PEER1, "ports": "80"}])
    for ch, bad in enumerate(bad_peers, start=2):
        ln.open(ch, kind="names", names={}, peers=bad)
        res = ln.collect(ch)[1]
        assert res["status"] == 400 and res["message"].startswith("peers: ")
    # Refused as a whole: the table and the listeners stay.
    assert len(resolve(a, "web")) == 1


@pytest.mark.skipif(os.geteuid() != 0, reason="binds port 53")
def test_resolver_in_own_range(netagent, tmp_path):
    """Two workloads on one host network: each resolver on its own
    127.A.B.1:53, and resolv.conf names it."""
    cid2 = "7e01" + "0" * 60
    a = netagent(json.dumps(relay_net()), resolv="",
                 env={"SOCKERLESS_DNS_LISTEN": "",
                      "SOCKERLESS_CONTAINER_ID": CID})
    b_etc = tmp_path / "b"
    b_etc.mkdir()
    b = Agent(["sh", "-c", "sleep 30"], link=False,
              env={"SOCKERLESS_ETC": str(b_etc),
                   "SOCKERLESS_CONTAINER_ID": cid2,
                   "SOCKERLESS_NET": json.dumps(relay_net())})
    try:
        for agent, etc, ip in ((a, a.etc, RANGE + "1"),
                               (b, b_etc, "127.127.1.1")):
            wait_text(etc / "resolv.conf", f"nameserver {ip}\n")
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            s.settimeout(5)
            s.sendto(query("self"), (ip, 53))
            assert parse(s.recv(512))[3] == [(A, "127.0.0.1")]
            s.close()
    finally:
        b.kill()
