"""The agent's side of names (docs/networks.md, "The agent's resolver"):
SOCKERLESS_NET's files, the resolver queried with a stdlib DNS client, the
`names` link kind and SOCKERLESS_USER, on the real agent. The files go to
a temporary directory (SOCKERLESS_ETC) and the resolver listens on a free
loopback port (SOCKERLESS_DNS_LISTEN), so none of this needs root except
the user switch itself."""
import json
import os
import socket
import struct
import subprocess
import threading
import time

import pytest

from test_link import AGENT, OPEN, Agent

pytestmark = pytest.mark.skipif(not os.access(AGENT, os.X_OK),
                                reason=f"{AGENT} not built")

SHORT = "3f2a1b4c5d6e"
NAMES = {"db": ["10.0.0.7"], "Alias1": ["10.0.0.7", "10.0.0.8"],
         SHORT: ["10.0.0.9"]}
A, PTR, MX, AAAA = 1, 12, 15, 28
SLEEP = ("sh", "-c", "sleep 30")


def free_dual_port():
    """A loopback port free for both UDP and TCP."""
    for _ in range(50):
        t = socket.socket()
        t.bind(("127.0.0.1", 0))
        port = t.getsockname()[1]
        u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            u.bind(("127.0.0.1", port))
            return port
        except OSError:
            continue
        finally:
            t.close()
            u.close()
    raise AssertionError("no free port")


def qname(name):
    return b"".join(bytes([len(l)]) + l.encode()
                    for l in name.split(".") if l) + b"\0"


def query(name, qtype=A, qid=0x1234, flags=0x0100):
    return (struct.pack(">HHHHHH", qid, flags, 1, 0, 0, 0) + qname(name) +
            struct.pack(">HH", qtype, 1))


def read_name(m, off):
    labels, jumped, end = [], False, None
    for _ in range(64):
        n = m[off]
        if n == 0:
            return ".".join(labels), (end if jumped else off + 1)
        if n & 0xC0 == 0xC0:
            if not jumped:
                end = off + 2
            jumped = True
            off = ((n & 0x3F) << 8) | m[off + 1]
            continue
        labels.append(m[off + 1:off + 1 + n].decode())
        off += 1 + n
    raise AssertionError("name loop")


def parse(m):
    """(id, rcode, flags, [(type, value)]) of an answer."""
    qid, flags, qd, an = struct.unpack(">HHHH", m[:8])
    off = 12
    for _ in range(qd):
        off = read_name(m, off)[1] + 4
    recs = []
    for _ in range(an):
        off = read_name(m, off)[1]
        t, _c, _ttl, ln = struct.unpack(">HHIH", m[off:off + 10])
        off += 10
        rd = m[off:off + ln]
        recs.append((t, socket.inet_ntoa(rd) if t == A else
                     read_name(m, off)[0] if t == PTR else rd))
        off += ln
    return qid, flags & 0xF, flags, recs


def ask(port, msg, timeout=5):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(timeout)
    try:
        s.sendto(msg, ("127.0.0.1", port))
        return s.recv(65535)
    finally:
        s.close()


def ask_tcp(port, msg):
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    try:
        s.sendall(struct.pack(">H", len(msg)) + msg)
        buf = b""
        while len(buf) < 2 or len(buf) < 2 + struct.unpack(">H", buf[:2])[0]:
            d = s.recv(4096)
            assert d, "closed"
            buf += d
        return buf[2:]
    finally:
        s.close()


class Upstream:
    """A fake upstream resolver on one port for UDP and TCP: answers every
    query with one A record, 1.2.3.4 over UDP and 5.6.7.8 over TCP, unless
    silent, and records what it got."""

    def __init__(self, silent=False):
        while True:
            self.s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            self.s.bind(("127.0.0.1", 0))
            self.port = self.s.getsockname()[1]
            self.l = socket.socket()
            try:
                self.l.bind(("127.0.0.1", self.port))
                break
            except OSError:
                self.s.close()
                self.l.close()
        self.l.listen(8)
        self.s.settimeout(0.2)
        self.l.settimeout(0.2)
        self.silent, self.got, self.tcp_got, self.stop = silent, [], [], False
        self.ts = [threading.Thread(target=f, daemon=True)
                   for f in (self.run, self.run_tcp)]
        for t in self.ts:
            t.start()

    @staticmethod
    def answer(m, ip):
        """One record, or 1500 (24 KB, what only TCP carries) for a name
        starting with "big"."""
        end = read_name(m, 12)[1] + 4
        n = 1500 if read_name(m, 12)[0].startswith("big") else 1
        rr = b"\xc0\x0c" + struct.pack(">HHIH", A, 1, 60, 4) + socket.inet_aton(ip)
        return (m[:2] + b"\x81\x80" + struct.pack(">HHHH", 1, n, 0, 0) +
                m[12:end] + rr * n)

    def run(self):
        while not self.stop:
            try:
                m, peer = self.s.recvfrom(4096)
            except socket.timeout:
                continue
            self.got.append(m)
            if not self.silent:
                self.s.sendto(self.answer(m, "1.2.3.4"), peer)

    def run_tcp(self):
        while not self.stop:
            try:
                c, _ = self.l.accept()
            except socket.timeout:
                continue
            c.settimeout(5)
            buf = b""
            while len(buf) < 2 or len(buf) < 2 + struct.unpack(">H", buf[:2])[0]:
                d = c.recv(4096)
                if not d:
                    break
                buf += d
            self.tcp_got.append(buf[2:])
            if not self.silent and len(buf) > 2:
                a = self.answer(buf[2:], "5.6.7.8")
                c.sendall(struct.pack(">H", len(a)) + a)
                time.sleep(0.05)
            c.close()

    def close(self):
        self.stop = True
        for t in self.ts:
            t.join()
        self.s.close()
        self.l.close()


@pytest.fixture
def upstreams():
    made = []

    def make(**kw):
        u = Upstream(**kw)
        made.append(u)
        return u
    yield make
    for u in made:
        u.close()


@pytest.fixture
def netagent(tmp_path):
    started = []

    def start(net, argv=SLEEP, resolv=None, env=None,
              link=False, **kw):
        etc = tmp_path / "etc"
        etc.mkdir(exist_ok=True)
        if resolv is not None:
            (etc / "resolv.conf").write_text(resolv)
        port = free_dual_port()
        e = {"SOCKERLESS_ETC": str(etc),
             "SOCKERLESS_DNS_LISTEN": f"127.0.0.1:{port}",
             "SOCKERLESS_NET": net if isinstance(net, str) else json.dumps(net)}
        e.update(env or {})
        a = Agent(list(argv), env=e, link=link, **kw)
        a.etc, a.dns = etc, port
        started.append(a)
        # A resolver to query: the main process runs until killed (a
        # short one ends the agent, and its resolver, at any time).
        if isinstance(net, dict) and net.get("resolver") and \
                tuple(argv) == SLEEP:
            wait_resolver(a)
        return a
    yield start
    for a in started:
        a.kill()


def wait_resolver(a):
    """Until the resolver listens (its TCP socket is bound with the UDP
    one): a query could be forwarded to a silent upstream."""
    deadline = time.time() + 5
    while True:
        try:
            socket.create_connection(("127.0.0.1", a.dns), 1).close()
            return
        except OSError:
            assert time.time() < deadline and a.p.poll() is None, a.out
            time.sleep(0.02)


def wait_file(path):
    deadline = time.time() + 5
    while not path.exists():
        assert time.time() < deadline
        time.sleep(0.02)
    return path.read_text()


# ---- the files ----

def test_files_with_resolver(netagent):
    net = {"hostname": "web", "domainname": "example.com",
           "hosts": [{"ip": "10.0.0.7", "names": ["db", "alias1"]},
                     {"ip": "10.9.9.9", "names": ["extra"]}],
           "resolver": True, "dns_search": ["corp.example"], "names": NAMES}
    a = netagent(net, argv=["sh", "-c", "echo host=$HOSTNAME; env"],
                 resolv="nameserver 10.0.0.2\nsearch old.example\n"
                        "options timeout:1\n")
    rc, out, err = a.wait()
    assert rc == 0, err
    assert b"host=web\n" in out and b"SOCKERLESS_" not in out
    hosts = (a.etc / "hosts").read_text().splitlines()
    assert hosts[:6] == ["127.0.0.1\tlocalhost",
                         "::1\tlocalhost ip6-localhost ip6-loopback",
                         "fe00::0\tip6-localnet", "ff00::0\tip6-mcastprefix",
                         "ff02::1\tip6-allnodes", "ff02::2\tip6-allrouters"]
    assert hosts[6:8] == ["10.0.0.7\tdb alias1", "10.9.9.9\textra"]
    # The workload's own address last, "fqdn short", as dockerd adds it.
    if len(hosts) > 8:
        ip, names = hosts[8].split("\t")
        assert names == "web.example.com web" and not ip.startswith("127.")
    assert (a.etc / "hostname").read_text() == "web\n"
    assert (a.etc / "resolv.conf").read_text() == (
        "search corp.example\nnameserver 127.0.0.11\n"
        "options timeout:1 ndots:0\n")


def test_resolv_conf_without_resolver(netagent):
    a = netagent({"dns": ["10.1.1.1", "10.1.1.2"], "dns_options": ["ndots:2"]},
                 argv=["true"], resolv="nameserver 10.0.0.2\nsearch a.b\n")
    assert a.wait()[0] == 0
    assert (a.etc / "resolv.conf").read_text() == (
        "search a.b\nnameserver 10.1.1.1\nnameserver 10.1.1.2\n"
        "options ndots:2\n")
    assert not (a.etc / "hostname").exists()


def test_user_ndots_kept_with_resolver(netagent):
    a = netagent({"resolver": True, "dns_options": ["ndots:3", "rotate"]},
                 argv=["true"])
    assert a.wait()[0] == 0
    assert (a.etc / "resolv.conf").read_text() == (
        "nameserver 127.0.0.11\noptions ndots:3 rotate\n")


@pytest.mark.parametrize("net", ["{", "[]", '{"hosts":[{"ip":1}]}',
                                 '{"names":{"db":["10.0.0"]}}',
                                 '{"resolver":"yes"}', '{"dns":"1.1.1.1"}',
                                 '{"hostname":"a"} x',
                                 '{"hostname":"web\\n6.6.6.6 evil"}',
                                 '{"hosts":[{"ip":"1.2.3.4","names":[]}]}',
                                 '{"dns_search":["a b"]}'])
def test_malformed_net_exits_125(netagent, net):
    a = netagent(net, argv=["sh", "-c", "echo ran"])
    rc, out, err = a.wait()
    assert rc == 125 and out == b""
    assert err.startswith(b"sockerless-agent: malformed SOCKERLESS_NET: ")
    assert err.count(b"\n") == 1


def test_unwritable_file_is_one_line(netagent, tmp_path):
    a = netagent({"hostname": "h"}, argv=["true"],
                 env={"SOCKERLESS_ETC": str(tmp_path / "missing")})
    rc, _, err = a.wait()
    assert rc == 0
    lines = err.decode().splitlines()
    assert lines == [f"sockerless-agent: cannot write {tmp_path}/missing/"
                     f"{f}: No such file or directory"
                     for f in ("hostname", "hosts")]


def test_files_before_held_start(netagent):
    a = netagent({"hostname": "held"}, link=True,
                 env={"SOCKERLESS_HOLD": "30"})
    # Held: the main process has not started, the files are there.
    assert wait_file(a.etc / "hostname") == "held\n"
    ln = a.link()
    assert ln.hello["held"] is True
    # Execs get HOSTNAME too, and no SOCKERLESS_ variable.
    ln.open(1, kind="exec", id="e", cmd=["sh", "-c", "echo $HOSTNAME; env"])
    out = ln.collect(1)[0][1]
    assert out.startswith(b"held\n") and b"SOCKERLESS_" not in out


# ---- the resolver ----

def test_names_aliases_ids_case(netagent):
    a = netagent({"resolver": True, "names": NAMES,
                  "dns_search": ["example.com"]})
    for name, want in [("db", ["10.0.0.7"]), ("DB.", ["10.0.0.7"]),
                       ("alias1", ["10.0.0.7", "10.0.0.8"]),
                       ("aLiAs1.Example.COM", ["10.0.0.7", "10.0.0.8"]),
                       (SHORT, ["10.0.0.9"])]:
        qid, rcode, flags, recs = parse(ask(a.dns, query(name, qid=0x4242)))
        assert (qid, rcode) == (0x4242, 0) and flags & 0x8000
        assert recs == [(A, ip) for ip in want], name
    # Known, IPv4 only: no error and no records, as Docker's.
    assert parse(ask(a.dns, query("db", AAAA)))[1:4:2] == (0, [])
    assert parse(ask(a.dns, query("9.0.0.10.in-addr.arpa", PTR)))[3] == \
        [(PTR, SHORT)]
    # busybox's nslookup tries the search domains first.
    assert parse(ask(a.dns, query("9.0.0.10.in-addr.arpa.example.com",
                                  PTR)))[3] == [(PTR, SHORT)]
    # TCP: the table's names answered too.
    assert parse(ask_tcp(a.dns, query("db")))[3] == [(A, "10.0.0.7")]


def test_forward_to_upstream(netagent, upstreams):
    up = upstreams()
    a = netagent({"resolver": True, "names": NAMES,
                  "dns": [f"127.0.0.1:{up.port}"]})
    for qid in (1, 0xBEEF):
        qid2, rcode, _, recs = parse(ask(a.dns, query("example.org", qid=qid)))
        assert (qid2, rcode, recs) == (qid, 0, [(A, "1.2.3.4")])
    # Other types of a known name, and unknown PTRs, go upstream too.
    assert parse(ask(a.dns, query("db", MX)))[3] == [(A, "1.2.3.4")]
    assert len(up.got) == 3
    # TCP: forwarded over TCP, the answer relayed with the client's ID.
    qid, rcode, _, recs = parse(ask_tcp(a.dns, query("example.org", qid=77)))
    assert (qid, rcode, recs) == (77, 0, [(A, "5.6.7.8")])
    assert len(up.tcp_got) == 1
    big = parse(ask_tcp(a.dns, query("big.example.org", qid=78)))
    assert big[:2] == (78, 0) and big[3] == [(A, "5.6.7.8")] * 1500


def test_forward_from_original_resolv_conf(netagent, upstreams):
    """Upstreams come from the original resolv.conf, here with a port
    (the agent accepts ip:port, which a test needs for a non-root upstream)."""
    up = upstreams()
    a = netagent({"resolver": True},
                 resolv=f"nameserver 127.0.0.1:{up.port}\n")
    assert parse(ask(a.dns, query("example.org")))[3] == [(A, "1.2.3.4")]


def test_servfail_without_upstream(netagent):
    a = netagent({"resolver": True, "names": NAMES, "dns": []},
                 resolv="")
    assert parse(ask(a.dns, query("example.org", qid=7)))[:2] == (7, 2)


def test_next_upstream_then_servfail(netagent, upstreams):
    silent, good = upstreams(silent=True), upstreams()
    a = netagent({"resolver": True,
                  "dns": [f"127.0.0.1:{silent.port}", f"127.0.0.1:{good.port}"]})
    assert parse(ask(a.dns, query("example.org", qid=9)))[:4:3] == \
        (9, [(A, "1.2.3.4")])
    assert len(silent.got) == 1 and len(good.got) == 1
    # Over TCP too: the silent one's 2 s, then the next.
    assert parse(ask_tcp(a.dns, query("example.org", qid=10)))[:4:3] == \
        (10, [(A, "5.6.7.8")])
    # All silent: SERVFAIL, with the client's ID.
    b = netagent({"resolver": True, "dns": [f"127.0.0.1:{silent.port}"]})
    assert parse(ask(b.dns, query("example.org", qid=11)))[:2] == (11, 2)
    assert parse(ask_tcp(b.dns, query("example.org", qid=12)))[:2] == (12, 2)


def test_garbage_survives(netagent):
    a = netagent({"resolver": True, "names": NAMES, "dns": []}, resolv="")
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    junk = [b"", b"\x00", os.urandom(11), os.urandom(512), query("db")[:14],
            # a pointer to itself, and one pointing forward
            struct.pack(">HHHHHH", 1, 0x100, 1, 0, 0, 0) + b"\xc0\x0c\0\1\0\1",
            struct.pack(">HHHHHH", 1, 0x100, 1, 0, 0, 0) + b"\xc0\x20\0\1\0\1",
            query("db", flags=0x8180),  # an answer, not a query
            b"\xff" * 1400]
    for m in junk:
        s.sendto(m, ("127.0.0.1", a.dns))
    s.close()
    # TCP: a zero length, then a huge one, then a close mid-message.
    for m in (b"\x00\x00", b"\xff\xff" + b"x" * 100, b"\x00\x20abc"):
        c = socket.create_connection(("127.0.0.1", a.dns), timeout=5)
        c.sendall(m)
        c.close()
    assert parse(ask(a.dns, query("db")))[3] == [(A, "10.0.0.7")]
    assert a.p.poll() is None


def test_names_kind_replaces_table(netagent):
    a = netagent({"resolver": True, "names": NAMES, "dns": []}, resolv="",
                 link=True)
    ln = a.link()
    ln.open(1, kind="names", names={"web": ["10.0.0.20"]})
    assert ln.collect(1)[1] == {}
    assert parse(ask(a.dns, query("web")))[3] == [(A, "10.0.0.20")]
    assert parse(ask(a.dns, query("alias1")))[1] == 2  # gone: forwarded
    for bad in ({"names": {"web": ["not an ip"]}}, {"names": ["web"]}, {}):
        ln.open(2, kind="names", **bad)
        res = ln.collect(2)[1]
        assert res["status"] == 400 and res["message"].startswith("names: ")
    # Malformed after the names: refused as a whole, the table kept.
    ln.send(OPEN, 3, b'{"kind":"names","names":{"x":["10.9.9.9"]},"y" 1}')
    assert ln.collect(3)[1]["status"] == 400
    assert parse(ask(a.dns, query("x")))[1] == 2
    assert parse(ask(a.dns, query("web")))[3] == [(A, "10.0.0.20")]


def test_names_kind_without_resolver(netagent):
    a = netagent({"hostname": "x"}, link=True)
    ln = a.link()
    ln.open(1, kind="names", names={})
    assert ln.collect(1)[1]["status"] == 409


# ---- the user ----

def test_user_switch_as_root(netagent):
    if os.geteuid() != 0:
        pytest.skip("switching users needs root")
    a = netagent({"hostname": "u"}, argv=["sh", "-c", "sleep 30"], link=True,
                 env={"SOCKERLESS_USER": "65534:65534"})
    ln = a.link()
    ln.open(1, kind="exec", id="e1", cmd=["id", "-u"])
    out, res, _ = ln.collect(1)
    assert out[1] == b"65534\n" and res["exitCode"] == 0
    ln.open(2, kind="exec", id="e2", cmd=["id", "-u"], user="0")
    assert ln.collect(2)[0][1] == b"0\n"
    # An empty user is no user, as Docker's exec: the container's.
    ln.open(3, kind="exec", id="e3", cmd=["id", "-u"], user="")
    assert ln.collect(3)[0][1] == b"65534\n"
    # The files were written as root before the switch.
    assert (a.etc / "hostname").stat().st_uid == 0


def test_user_main_process_as_root(netagent):
    if os.geteuid() != 0:
        pytest.skip("switching users needs root")
    a = netagent({}, argv=["sh", "-c", "id -u; id -g"],
                 env={"SOCKERLESS_USER": "65534:65534"})
    rc, out, err = a.wait()
    assert (rc, out) == (0, b"65534\n65534\n"), err


def _drop_to_nobody():
    os.setgid(65534)
    os.setgroups([])
    os.setuid(65534)


def test_not_root_runs_as_itself(tmp_path):
    """An agent that is not root runs the main process as itself and says
    once that it cannot be SOCKERLESS_USER."""
    root = os.geteuid() == 0
    me = 65534 if root else os.geteuid()
    os.chmod(tmp_path, 0o777)
    env = dict(os.environ, SOCKERLESS_USER="root", SOCKERLESS_NET="{}",
               SOCKERLESS_ETC=str(tmp_path))
    p = subprocess.run([AGENT, "--", "id", "-u"], env=env, capture_output=True,
                       timeout=15, preexec_fn=_drop_to_nobody if root else None)
    assert (p.returncode, p.stdout) == (0, f"{me}\n".encode()), p.stderr
    lines = p.stderr.decode().splitlines()
    # (nobody may not reach tmp_path: then a line per file too)
    assert [l for l in lines if "cannot write" not in l] == [
        f"sockerless-agent: not running as root: the main process runs as "
        f"uid {me}, not as user root"]
