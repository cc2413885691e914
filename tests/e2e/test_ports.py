"""-p/--publish and docker port: the host side of each binding, as dockerd
reports it (sockerless listens there itself: test_ports_pub.py). Host ports:
SK_TEST_PORT_BASE + 170..171."""
import os
import re

import pytest

from e2e_lib import BUSYBOX, dk_ok, inspect, wait_state

pytestmark = pytest.mark.usefixtures("no_bridge")

P1 = int(os.environ.get("SK_TEST_PORT_BASE") or "35100") + 170
P2 = P1 + 1
ADDR = re.compile(r"^(\d+\.\d+\.\d+\.\d+|\[[0-9a-f:]+\]|[0-9a-f:]+):(\d+)$")


def test_run_publish_and_port(docker, name):
    dk_ok("run", "-d", "--name", name, "-p", f"{P1}:8080", BUSYBOX, "sleep", "60")
    wait_state(name, "running")
    p = docker("port", name, "8080")
    assert p.returncode == 0, p.stderr
    lines = p.stdout.split()
    assert lines, "docker port printed nothing"
    for line in lines:
        m = ADDR.match(line)
        assert m, line
        assert m.group(2) == str(P1), line
    p = docker("port", name)
    assert p.returncode == 0 and p.stdout.startswith("8080/tcp -> "), p.stdout
    ports = inspect(name)["NetworkSettings"]["Ports"]
    assert ports.get("8080/tcp"), ports
    binding = inspect(name)["HostConfig"]["PortBindings"]
    assert binding["8080/tcp"][0]["HostPort"] == str(P1), binding
    assert docker("rm", "-f", name).returncode == 0


def test_ps_shows_ports(docker, name):
    dk_ok("run", "-d", "--name", name, "-p", f"{P2}:8081/tcp", BUSYBOX, "sleep", "60")
    wait_state(name, "running")
    out = dk_ok("ps", "--filter", f"name={name}", "--format", "{{.Ports}}")
    assert f"{P2}->8081/tcp" in out, out


def test_port_unpublished(docker, name):
    dk_ok("run", "-d", "--name", name, "-p", f"{P1}:8080", BUSYBOX, "sleep", "60")
    wait_state(name, "running")
    p = docker("port", name, "9999")
    assert p.returncode != 0 and "No public port" in p.stderr, (p.stdout, p.stderr)
