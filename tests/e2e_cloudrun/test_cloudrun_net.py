"""Networks on Cloud Run through the agent relay (docs/networks.md, "Relay
mode"; docs/backend-cloudrun.md, "Networks"), with the real docker CLI and
docker-compose: members resolve each other by name and alias and talk TCP
on an exposed port; inspect shows no address (there is none a peer could
reach); a running container connected later gets its peers and loses them
when disconnected; a two-service compose project reaches the other service
by its name."""
import os
import subprocess

import pytest

from e2e_lib import BUSYBOX, COMPOSE, RUN_ID, _env, dk, dk_ok, httpd_cmd, inspect, wait_for


def fetch(client, name, port=8080):
    """wget http://name:port/ inside client: the body, or None."""
    p = dk("exec", client, "wget", "-qO-", f"http://{name}:{port}/", timeout=120)
    return p.stdout if p.returncode == 0 else None


@pytest.fixture
def net():
    n = f"skcrnet-{RUN_ID}-{os.urandom(3).hex()}"
    dk_ok("network", "create", n)
    yield n
    # Its members first: this fixture is torn down before `names` removes
    # them, and a network with members is not removed.
    ids = dk("ps", "-aq", "--filter", f"network={n}", timeout=60).stdout.split()
    if ids:
        dk("rm", "-f", *ids, timeout=120)
    dk("network", "rm", n, timeout=120)


def test_relay_by_name_and_alias(names, net):
    web, cli, other = names("skweb"), names("skcli"), names("skoth")
    dk_ok("run", "-d", "--name", web, "--network", net, "--network-alias", "sk-web",
          "--expose", "8080", BUSYBOX, *httpd_cmd(8080), timeout=300)
    dk_ok("run", "-d", "--name", cli, "--network", net, BUSYBOX, "sleep", "600", timeout=300)
    wid = inspect(web)["Id"][:12]
    for n in (web, "sk-web", wid):
        body = wait_for(lambda n=n: fetch(cli, n), timeout=120, what=f"http://{n}:8080/")
        assert body.startswith("hello-"), body
    # No address a peer could reach: inspect shows none (compat.md).
    ep = inspect(web)["NetworkSettings"]["Networks"][net]
    assert ep["IPAddress"] == "", ep
    # A container of another network does not reach it; connected while
    # it runs, it does; disconnected, it no longer does. (It starts on a
    # user network: one started on the default bridge alone has no agent
    # resolver to hand names to later; docs/compat.md.)
    dk_ok("network", "create", net + "-o")
    dk_ok("run", "-d", "--name", other, "--network", net + "-o", BUSYBOX, "sleep", "600",
          timeout=300)
    assert fetch(other, web) is None
    dk_ok("network", "connect", net, other, timeout=120)
    body = wait_for(lambda: fetch(other, web), timeout=120, what="fetch after connect")
    assert body.startswith("hello-"), body
    dk_ok("network", "disconnect", net, other, timeout=120)
    wait_for(lambda: fetch(other, web) is None, timeout=120, what="no fetch after disconnect")
    dk("rm", "-f", other, timeout=120)
    dk("network", "rm", net + "-o", timeout=120)


COMPOSE_FILE = """\
version: "3.7"
services:
  web:
    image: busybox
    command: ["sh", "-c", "mkdir -p /www && echo hello-web > /www/index.html && exec httpd -f -p 8080 -h /www"]
    expose: ["8080"]
  client:
    image: busybox
    depends_on: [web]
    command: ["sleep", "600"]
"""


def test_compose_two_services(tmp_path):
    proj = f"skcrnet{RUN_ID}"
    (tmp_path / "docker-compose.yml").write_text(COMPOSE_FILE)

    def compose(*args, timeout=300):
        return subprocess.run([COMPOSE, "-p", proj, *args], cwd=tmp_path, env=_env(),
                              capture_output=True, text=True, timeout=timeout)
    try:
        up = compose("up", "-d")
        assert up.returncode == 0, up.stderr
        cli = f"{proj}_client_1"
        body = wait_for(lambda: fetch(cli, "web"), timeout=120, what="client -> web:8080")
        assert body == "hello-web\n", body
    finally:
        compose("down", "-t", "1")
