"""Published ports carried over the agent link (docs/networks.md,
"Published ports"): -p and -P reach a real server in the workload from the
machine sockerless runs on, docker port / NetworkSettings.Ports / the list
form report the host side as dockerd does, and what cannot be published
gets a clear error. Host ports: SK_TEST_PORT_BASE + 150..169."""
import json
import os
import socket
import time
import urllib.request

import pytest

from e2e_lib import BUSYBOX, TARGET, dk, dk_ok, inspect, wait_state

pytestmark = pytest.mark.usefixtures("no_bridge")

PUB = int(os.environ.get("SK_TEST_PORT_BASE") or "35100") + 150
# The workload's own port: inside the run's range too, as the simulator's
# tasks may share the host's network.
CPORT = PUB + 10


def httpd(cport):
    return ("mkdir -p /www && echo hello-ports > /www/index.html && "
            f"httpd -f -p {cport} -h /www")


def fetch(port, host="127.0.0.1", timeout=60):
    """GET / on host:port, again until the server in the workload answers."""
    deadline = time.time() + timeout
    while True:
        try:
            with urllib.request.urlopen(f"http://{host}:{port}/", timeout=10) as r:
                return r.read()
        except OSError:
            if time.time() > deadline:
                raise
            time.sleep(0.5)


def local_only():
    if TARGET != "sockerless":
        pytest.skip("the reference engine's ports are inside its test bed")


def test_publish_reaches_workload(docker, name):
    port, cport = PUB, CPORT
    dk_ok("run", "-d", "--name", name, "-p", f"127.0.0.1:{port}:{cport}",
          BUSYBOX, "sh", "-c", httpd(cport))
    wait_state(name, "running")
    ports = inspect(name)["NetworkSettings"]["Ports"]
    assert ports == {f"{cport}/tcp": [{"HostIp": "127.0.0.1", "HostPort": str(port)}]}, ports
    assert dk_ok("port", name, str(cport)).split() == [f"127.0.0.1:{port}"]
    ps = json.loads(dk_ok("ps", "--filter", f"name={name}", "--format", "{{json .}}"))
    assert f"127.0.0.1:{port}->{cport}/tcp" in ps["Ports"], ps
    if TARGET == "sockerless":
        assert fetch(port) == b"hello-ports\n"
    dk_ok("stop", "-t", "1", name)
    assert inspect(name)["NetworkSettings"]["Ports"] == {}
    if TARGET == "sockerless":
        with pytest.raises(OSError):
            socket.create_connection(("127.0.0.1", port), timeout=5).close()
        dk_ok("start", name)
        assert fetch(port) == b"hello-ports\n"
    dk_ok("rm", "-f", name)


def test_publish_all(docker, name):
    local_only()
    cport = CPORT + 1
    dk_ok("run", "-d", "--name", name, "--expose", str(cport), "-P", BUSYBOX,
          "sh", "-c", httpd(cport))
    wait_state(name, "running")
    b = inspect(name)["NetworkSettings"]["Ports"][f"{cport}/tcp"][0]
    assert b["HostIp"] == "0.0.0.0" and int(b["HostPort"]) > 1024, b
    assert fetch(int(b["HostPort"])) == b"hello-ports\n"
    dk_ok("rm", "-f", name)


def test_many_connections(docker, name):
    local_only()
    port, cport = PUB + 1, CPORT + 2
    dk_ok("run", "-d", "--name", name, "-p", f"{port}:{cport}", BUSYBOX, "sh", "-c",
          httpd(cport))
    wait_state(name, "running")
    fetch(port)
    import concurrent.futures as cf
    with cf.ThreadPoolExecutor(16) as ex:
        got = list(ex.map(lambda _: fetch(port), range(64)))
    assert got == [b"hello-ports\n"] * 64
    dk_ok("rm", "-f", name)


def test_port_taken_fails_start(docker, name):
    local_only()
    port = PUB + 2
    hold = socket.socket()
    hold.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    hold.bind(("127.0.0.1", port))
    hold.listen(1)
    try:
        p = dk("run", "-d", "--name", name, "-p", f"127.0.0.1:{port}:8080",
               BUSYBOX, "sleep", "60")
        assert p.returncode != 0
        assert "driver failed programming external connectivity" in p.stderr, p.stderr
        assert "address already in use" in p.stderr, p.stderr
        assert inspect(name)["State"]["Status"] == "created"
    finally:
        hold.close()
        dk("rm", "-f", name)


def test_udp_refused(docker, name):
    local_only()
    p = dk("create", "--name", name, "-p", f"{PUB + 3}:53/udp", BUSYBOX, "true")
    assert p.returncode != 0 and "53/udp" in p.stderr and "TCP" in p.stderr, p.stderr
