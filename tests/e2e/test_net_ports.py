"""Published ports with Docker's meaning: -p HOSTPORT:80 makes HOSTPORT on
the machine where the engine runs reach port 80 of the workload (a busybox
httpd), fetched from there: the host's loopback for Sockerless, the
reference dockerd's own network namespace for the bed's reference
(e2e_lib.host_connect). -P, `docker port`, NetworkSettings.Ports, a /udp
binding (Sockerless: 400 unless it carries UDP) and a taken host port.

Host ports come from the suite's window (e2e_lib.publish_ports:
SK_TEST_PORT_BASE+190..+199). test_published_port_latency prints the round
trip through the published port beside a direct connection to the
container's address (measured, never asserted; pytest -s shows it)."""
import re
import statistics
import time

import pytest

from e2e_lib import (BUSYBOX, TARGET, dk, dk_ok, host_connect, http_get, http_get_eventually,
                     httpd_cmd, inspect, publish_ports, wait_for, wait_state)

ADDR = re.compile(r"^(\d+\.\d+\.\d+\.\d+|\[[0-9a-f:]+\]):(\d+)$")


def port_lines(ctr, *spec):
    return dk_ok("port", ctr, *spec).split("\n")


def hello(ctr):
    return "hello-" + inspect(ctr)["Config"]["Hostname"]


def test_publish_fetch_from_host(name):
    (hp,) = publish_ports(1, 0)
    dk_ok("run", "-d", "--name", name, "-p", f"{hp}:80", BUSYBOX, *httpd_cmd(80))
    wait_state(name, "running")
    body = http_get_eventually(hp)
    assert body.strip() == hello(name), body
    d = inspect(name)
    assert d["HostConfig"]["PortBindings"] == {"80/tcp": [{"HostIp": "", "HostPort": str(hp)}]}, d
    ports = d["NetworkSettings"]["Ports"]
    assert set(ports) == {"80/tcp"}, ports
    v4 = [b for b in ports["80/tcp"] if "." in b["HostIp"]]
    assert v4 == [{"HostIp": "0.0.0.0", "HostPort": str(hp)}], ports
    lines = [x for x in port_lines(name) if x]
    assert f"80/tcp -> 0.0.0.0:{hp}" in lines, lines
    assert f"0.0.0.0:{hp}" in port_lines(name, "80"), lines
    assert f"0.0.0.0:{hp}" in port_lines(name, "80/tcp"), lines
    p = dk("port", name, "81")
    assert p.returncode != 0 and "No public port" in p.stderr, p.stderr
    out = dk_ok("ps", "--filter", f"name={name}", "--format", "{{.Ports}}")
    assert f"0.0.0.0:{hp}->80/tcp" in out, out


def test_publish_loopback_address(name):
    (hp,) = publish_ports(1, 1)
    dk_ok("run", "-d", "--name", name, "-p", f"127.0.0.1:{hp}:80", BUSYBOX, *httpd_cmd(80))
    body = http_get_eventually(hp)
    assert body.strip() == hello(name), body
    ports = inspect(name)["NetworkSettings"]["Ports"]
    assert ports["80/tcp"] == [{"HostIp": "127.0.0.1", "HostPort": str(hp)}], ports
    assert [x for x in port_lines(name, "80") if x] == [f"127.0.0.1:{hp}"]


def test_publish_all(name):
    dk_ok("run", "-d", "--name", name, "-P", "--expose", "8080", "--expose", "8081",
          BUSYBOX, *httpd_cmd(8080))
    wait_state(name, "running")
    ports = wait_for(lambda: inspect(name)["NetworkSettings"]["Ports"] or None, timeout=60)
    assert set(ports) == {"8080/tcp", "8081/tcp"}, ports
    got = {}
    for k, binds in ports.items():
        v4 = [b for b in binds if "." in b["HostIp"]]
        assert len(v4) == 1 and v4[0]["HostIp"] == "0.0.0.0", binds
        assert 0 < int(v4[0]["HostPort"]) < 65536, binds
        got[k] = int(v4[0]["HostPort"])
    assert got["8080/tcp"] != got["8081/tcp"], got
    assert inspect(name)["HostConfig"]["PublishAllPorts"] is True
    body = http_get_eventually(got["8080/tcp"])
    assert body.strip() == hello(name), body
    lines = [x for x in port_lines(name) if x]
    assert f"8080/tcp -> 0.0.0.0:{got['8080/tcp']}" in lines, lines


def test_publish_udp(name):
    """dockerd publishes UDP; Sockerless carries TCP over the agent link and
    refuses a /udp binding with a sentence (unless it carries UDP too)."""
    (hp,) = publish_ports(1, 2)
    p = dk("run", "-d", "--name", name, "-p", f"{hp}:53/udp", BUSYBOX, "sleep", "300")
    if TARGET == "sockerless" and p.returncode != 0:
        assert "udp" in p.stderr.lower(), p.stderr
        assert "Error response from daemon" in p.stderr, p.stderr
        return
    assert p.returncode == 0, p.stderr
    wait_state(name, "running")
    ports = inspect(name)["NetworkSettings"]["Ports"]
    assert [b for b in ports["53/udp"] if "." in b["HostIp"]] == \
        [{"HostIp": "0.0.0.0", "HostPort": str(hp)}], ports


def test_taken_host_port(names):
    a, b = names(), names()
    (hp,) = publish_ports(1, 3)
    dk_ok("run", "-d", "--name", a, "-p", f"{hp}:80", BUSYBOX, *httpd_cmd(80))
    http_get_eventually(hp)
    p = dk("run", "-d", "--name", b, "-p", f"{hp}:80", BUSYBOX, *httpd_cmd(80))
    assert p.returncode != 0, p.stdout
    assert str(hp) in p.stderr and "Error response from daemon" in p.stderr, p.stderr
    assert inspect(b)["State"]["Running"] is False
    # the first one still serves
    assert http_get(hp)[0] == 200
    # freed when its holder is removed, then the second starts
    dk_ok("rm", "-f", a)
    wait_for(lambda: dk("start", b).returncode == 0, timeout=60, what=f"{b} to start on {hp}")
    assert http_get_eventually(hp).strip() == hello(b)


def test_published_port_many_connections(name):
    (hp,) = publish_ports(1, 4)
    dk_ok("run", "-d", "--name", name, "-p", f"{hp}:80", BUSYBOX, *httpd_cmd(80))
    http_get_eventually(hp)
    socks = [host_connect(hp) for _ in range(8)]
    try:
        for s in socks:
            s.sendall(b"GET / HTTP/1.0\r\n\r\n")
        for s in socks:
            data = b""
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                data += chunk
            assert data.startswith(b"HTTP/1.") and hello(name).encode() in data, data
    finally:
        for s in socks:
            s.close()


def _round_trips(port, host, n=30):
    ts = []
    for _ in range(n):
        t = time.perf_counter()
        st, _ = http_get(port, host=host)
        ts.append(time.perf_counter() - t)
        assert st == 200
    return ts


def test_published_port_latency(name, record_property):
    (hp,) = publish_ports(1, 5)
    dk_ok("run", "-d", "--name", name, "-p", f"{hp}:80", BUSYBOX, *httpd_cmd(80))
    http_get_eventually(hp)
    addr = inspect(name)["NetworkSettings"]["IPAddress"]
    pub = statistics.median(_round_trips(hp, "127.0.0.1"))
    line = f"net-timing: HTTP round trip via published port {hp}: median {pub * 1000:.2f} ms"
    try:
        direct = statistics.median(_round_trips(80, addr))
        line += (f"; direct to {addr}:80: median {direct * 1000:.2f} ms; "
                 f"added {(pub - direct) * 1000:.2f} ms")
        record_property("direct_rtt_ms", round(direct * 1000, 3))
    except OSError as e:
        line += f"; direct to {addr}:80 not reachable from here ({e})"
    record_property("published_rtt_ms", round(pub * 1000, 3))
    print("\n" + line)
    if not addr:
        pytest.skip("no container address to compare with")
