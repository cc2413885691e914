"""UDP between containers of one user-defined network, with the test bed's
sockerless/udp image (busybox + udpecho, tests/bed/images/udpecho.c): a
server container exposing a UDP port runs `udpecho serve`, a client
container sends to it by container name and by --network-alias (its
getaddrinfo asks the embedded DNS, or in relay mode the agent's resolver)
and gets the echo; a burst of datagrams of different sizes from one
socket comes back datagram by datagram, each whole. Relay mode
(docs/networks.md, "Relay mode" point 5) carries it as a flow over the two
agent links, ECS over the tasks' addresses, dockerd over its bridge.

A `-p HOST:PORT/udp` binding: dockerd publishes it (a datagram to the
host port, sent inside the bed's network namespace, comes back); every
Sockerless backend with published ports refuses it with 400 at create
(docs/compat.md, "Published ports").

The UDP port is SK_TEST_PORT_BASE+175, not a fixed one: on the local Cloud
Run and Container Apps simulators every workload shares the machine's host
network, where a fixed port could meet another run's. There the server
binds 127.0.0.1 (where the peer's agent sends the flow's datagrams): a
wildcard bind would take the port from under the client's relay listener
at 127.A.B.N on the same host network; on Cloud Run each workload has a
network of its own and 0.0.0.0 is fine."""
import socket

import pytest

from e2e_lib import PORT_BASE, REF_NETNS, RELAY, TARGET, UDPIMAGE, dk, dk_ok, publish_ports, socket_in, wait_for

PORT = PORT_BASE + 175
ALIAS = "sk-udp-alias"


@pytest.fixture
def pair(names, netnames):
    """(network, server, client): server echoes UDP on PORT with alias
    ALIAS; client sleeps; both running on a fresh network."""
    net = netnames()
    dk_ok("network", "create", net)
    srv, cli = names("skudps"), names("skudpc")
    bind = ["127.0.0.1"] if RELAY else []
    dk_ok("run", "-d", "--name", srv, "--network", net, "--network-alias", ALIAS,
          "--expose", f"{PORT}/udp", UDPIMAGE, "udpecho", "serve", str(PORT), *bind)
    dk_ok("run", "-d", "--name", cli, "--network", net, UDPIMAGE, "sleep", "600")
    return net, srv, cli


def send(cli, host, msg, timeout_s=3):
    """`udpecho send` inside cli: the reply, or None."""
    p = dk("exec", cli, "udpecho", "send", host, str(PORT), msg, str(timeout_s), timeout=60)
    return p.stdout.rstrip("\n") if p.returncode == 0 else None


def test_echo_by_name_and_alias(pair):
    net, srv, cli = pair
    # the first answer waits for the server to listen and the names to
    # reach the client's resolver
    assert wait_for(lambda: send(cli, srv, "hello-udp"), timeout=30,
                    what=f"an echo from {srv}") == "hello-udp"
    assert wait_for(lambda: send(cli, ALIAS, "by-alias"), timeout=15,
                    what=f"an echo from {ALIAS}") == "by-alias"
    # the server saw the datagrams, one line each: "<bytes> <ip>:<port>"
    lines = dk_ok("logs", srv).splitlines()
    assert any(x.startswith("9 ") for x in lines), lines
    assert any(x.startswith("8 ") for x in lines), lines


def test_datagram_boundaries(pair):
    """Two datagrams of different sizes back to back from one socket (one
    relay flow) come back as two, each whole (udpecho burst checks the
    bytes: "reply <n> ok")."""
    net, srv, cli = pair
    assert wait_for(lambda: send(cli, srv, "warm"), timeout=30, what=f"an echo from {srv}")
    p = dk("exec", cli, "udpecho", "burst", srv, str(PORT), "5", "50000", "7", timeout=60)
    assert p.returncode == 0, (p.stdout, p.stderr)
    got = p.stdout.split("\n")
    assert "reply 50000 ok" in got and "reply 7 ok" in got, got
    assert not [x for x in got if x.endswith(" bad")], got
    lines = dk_ok("logs", srv).splitlines()
    assert any(x.startswith("50000 ") for x in lines) and any(x.startswith("7 ") for x in lines), lines


def test_publish_udp(names):
    """`docker run -p HP:PORT/udp`: dockerd publishes it; Sockerless refuses
    the binding at create with a 400 naming the port (docs/compat.md)."""
    srv = names("skudpp")
    (hp,) = publish_ports(1, 6)
    p = dk("run", "-d", "--name", srv, "-p", f"{hp}:{PORT}/udp", UDPIMAGE,
           "udpecho", "serve", str(PORT))
    if TARGET == "sockerless":
        assert p.returncode != 0, p.stdout
        assert "Error response from daemon" in p.stderr and f"{PORT}/udp" in p.stderr, p.stderr
        assert "TCP" in p.stderr, p.stderr
        return
    assert p.returncode == 0, p.stderr
    if not REF_NETNS:
        pytest.skip("SK_REF_NETNS is not set: the reference's published ports are in its namespace")
    s = socket_in(REF_NETNS, socket.SOCK_DGRAM)
    s.settimeout(1)
    try:
        def echo():
            s.sendto(b"published", ("127.0.0.1", hp))
            try:
                return s.recv(65536)
            except OSError:
                return None
        assert wait_for(echo, timeout=20, what=f"an echo from 127.0.0.1:{hp}/udp") == b"published"
    finally:
        s.close()
