"""The network API's shapes and messages through the real docker CLI and
docker-py (issue 13, the framework's part). Everything here runs against
both targets (SK_TARGET=reference: the test bed's dockerd) unless marked
sockerless-only: those need a running workload, which the bed's engine
without a bridge cannot give, or are Sockerless's own refusals."""
import json
import time
import uuid

import pytest

from e2e_lib import BUSYBOX, RELAY, RUN_ID, RUN_LABEL, TARGET, dk, dk_ok, inspect, wait_for

SOCKERLESS_ONLY = pytest.mark.skipif(TARGET == "reference",
                                     reason="needs a running workload or is Sockerless's own")

NET_KEYS = {"Name", "Id", "Created", "Scope", "Driver", "EnableIPv6", "IPAM", "Internal",
            "Attachable", "Ingress", "ConfigFrom", "ConfigOnly", "Containers", "Options",
            "Labels"}


@pytest.fixture
def nets():
    """nets() -> a fresh network name, removed after the test."""
    made = []

    def new():
        n = f"sknet-{uuid.uuid4().hex[:10]}"
        made.append(n)
        return n
    yield new
    for n in made:
        dk("network", "rm", n, timeout=60)


def test_create_inspect_shape(nets):
    n = nets()
    nid = dk_ok("network", "create", "--label", RUN_LABEL, "--label", "tier=web", n).strip()
    assert len(nid) == 64
    d = inspect(n, "network")
    assert set(d) >= NET_KEYS, sorted(NET_KEYS - set(d))
    assert d["Id"] == nid and d["Name"] == n
    assert d["Driver"] == "bridge" and d["Scope"] == "local"
    assert d["EnableIPv6"] is False and d["Internal"] is False
    assert d["Labels"]["tier"] == "web"
    assert d["Containers"] == {}
    assert d["IPAM"]["Driver"] == "default"
    cfg = d["IPAM"]["Config"]
    assert len(cfg) == 1 and "/" in cfg[0]["Subnet"] and cfg[0]["Gateway"]
    # By id prefix too.
    assert inspect(nid[:12], "network")["Id"] == nid
    p = dk("network", "create", n)
    assert p.returncode != 0
    assert f"network with name {n} already exists" in p.stderr, p.stderr


def test_list_filters(nets):
    n = nets()
    dk_ok("network", "create", "--label", f"sk.net.t={RUN_ID}", n)

    def ls(*f):
        args = ["network", "ls", "--format", "{{.Name}}"]
        for x in f:
            args += ["--filter", x]
        return dk_ok(*args).split()
    assert n in ls("type=custom")
    assert n not in ls("type=builtin")
    assert {"host", "none"} <= set(ls("type=builtin"))
    assert ls(f"label=sk.net.t={RUN_ID}") == [n]
    assert ls(f"name={n}") == [n]
    assert n in ls("driver=bridge")
    assert n in ls("dangling=true")
    p = dk("network", "ls", "--filter", "type=nope")
    assert p.returncode != 0


def test_errors(nets):
    p = dk("network", "rm", "host")
    assert "host is a pre-defined network and cannot be removed" in p.stderr, p.stderr
    p = dk("network", "create", "--subnet", "foo", nets())
    assert "Invalid subnet foo : invalid CIDR address: foo" in p.stderr, p.stderr
    p = dk("network", "inspect", f"nosuch-{RUN_ID}")
    assert p.returncode != 0 and "not found" in p.stderr.lower(), p.stderr


def test_prune_by_label(apiclient, nets):
    keep, gone = nets(), nets()
    dk_ok("network", "create", "--label", f"sk.keep={RUN_ID}", keep)
    dk_ok("network", "create", "--label", f"sk.prune={RUN_ID}", gone)
    out = apiclient.prune_networks(filters={"label": [f"sk.prune={RUN_ID}"]})
    assert out["NetworksDeleted"] == [gone]
    assert inspect(keep, "network")["Name"] == keep


def test_events(nets):
    since = int(time.time()) - 1
    n = nets()
    nid = dk_ok("network", "create", n).strip()
    dk_ok("network", "rm", n)

    def got():
        out = dk_ok("events", "--since", str(since), "--until", str(int(time.time()) + 1),
                    "--filter", "type=network", "--filter", f"network={nid}",
                    "--format", "{{json .}}")
        return [json.loads(line) for line in out.splitlines()]
    evs = wait_for(lambda: (lambda e: e if len(e) >= 2 else None)(got()), timeout=30,
                   what="network events")
    assert [e["Action"] for e in evs] == ["create", "destroy"]
    assert evs[0]["Actor"]["Attributes"]["name"] == n
    assert evs[0]["Actor"]["Attributes"]["type"] == "bridge"


def test_container_create_on_network(nets, name):
    n = nets()
    dk_ok("network", "create", n)
    dk_ok("create", "--name", name, "--network", n, "--network-alias", "svc", BUSYBOX, "true",
          timeout=300)
    ep = inspect(name)["NetworkSettings"]["Networks"][n]
    assert ep["Aliases"] == ["svc"]
    assert ep["IPAddress"] == "" and ep["EndpointID"] == ""
    assert inspect(name)["HostConfig"]["NetworkMode"] == n
    ids = dk_ok("ps", "-aq", "--no-trunc", "--filter", f"network={n}").split()
    assert len(ids) == 1


@SOCKERLESS_ONLY
def test_running_member(nets, name):
    n = nets()
    dk_ok("network", "create", n)
    dk_ok("run", "-d", "--name", name, "--network", n, "--network-alias", "www", BUSYBOX,
          "sleep", "120", timeout=300)
    d = inspect(name)
    ep = d["NetworkSettings"]["Networks"][n]
    cid = d["Id"]
    # Relay mode (cloudrun): no address a peer could reach, so none shown
    # (docs/networks.md, "Relay mode").
    assert (ep["IPAddress"] or RELAY) and len(ep["EndpointID"]) == 64
    assert ep["DNSNames"] == [name, "www", cid[:12]]
    assert d["NetworkSettings"]["IPAddress"] == ""  # the default bridge's only
    members = inspect(n, "network")["Containers"]
    assert members[cid]["Name"] == name
    assert members[cid]["IPv4Address"] == (ep["IPAddress"] + "/32" if ep["IPAddress"] else "")
    p = dk("network", "rm", n)
    assert "has active endpoints" in p.stderr, p.stderr
    dk_ok("rm", "-f", name, timeout=120)
    assert inspect(n, "network")["Containers"] == {}


@SOCKERLESS_ONLY
def test_host_network_refused(name):
    p = dk("create", "--name", name, "--network", "host", BUSYBOX, "true", timeout=300)
    assert p.returncode != 0
    assert "--network host cannot be honoured" in p.stderr, p.stderr


def test_link_to_unknown_container(apiclient, name):
    """--link is honoured now (issue 13); a link to no container is
    dockerd's 400 at create."""
    import docker.errors
    with pytest.raises(docker.errors.APIError) as ei:
        apiclient.create_container(
            BUSYBOX, ["true"], name=name, labels={"sk.e2e.run": RUN_ID},
            host_config=apiclient.create_host_config(links={f"nosuch-{RUN_ID}": "alias"}))
    assert ei.value.status_code == 400
    assert ei.value.explanation == (f"could not get container for nosuch-{RUN_ID}: "
                                    f"No such container: nosuch-{RUN_ID}")
