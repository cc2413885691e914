"""Differential suite, networks: one sequence of network calls (docker-py's
low-level client and the docker CLI) against the bed's reference dockerd
and Sockerless, compared field by field (diff_lib.py). Addresses differ by
nature between any two engines, so the program reports whether each one is
set, not its value; the rest must match, or be a row of docs/compat.md (D11:
API-version and cloud differences of networks)."""
import pytest

import diff_lib
from diff_lib import DIFF_LABEL, cli, compare, endpoints, unique


def _flag(v):
    """An address -> "<set>" or "" (its value is the engine's choice)."""
    return "<set>" if v else ""


def _net_shape(d):
    keep = ("Name", "Driver", "Scope", "Internal", "Attachable", "Ingress", "EnableIPv6", "Labels")
    out = {k: d.get(k) for k in keep}
    out["IPAM.Driver"] = d.get("IPAM", {}).get("Driver")
    out["Options"] = {k: v for k, v in (d.get("Options") or {}).items()
                      if not k.startswith("com.docker.network.")}
    out["members"] = sorted(m.get("Name") for m in (d.get("Containers") or {}).values())
    return out


def _endpoint(ep, net_id, cid):
    return {"Aliases": sorted("<id12>" if a == cid[:12] else a for a in ep.get("Aliases") or []),
            "NetworkID": ep.get("NetworkID") == net_id,
            "IPAddress": _flag(ep.get("IPAddress")), "MacAddress": _flag(ep.get("MacAddress")),
            "EndpointID": _flag(ep.get("EndpointID"))}


def _status(fn):
    import docker as dockerpy
    try:
        fn()
    except dockerpy.errors.APIError as e:
        return {"status": e.status_code, "message": e.explanation or ""}
    return {"status": 0}


def _program(kind, host, n):
    import docker as dockerpy
    api = dockerpy.APIClient(base_url=host, version="auto", timeout=120)
    net, ctr = f"{n}-net", f"{n}-c"
    res = {}
    try:
        res["bridge"] = _net_shape(api.inspect_network("bridge"))
        res["none"] = _net_shape(api.inspect_network("none"))
        nid = api.create_network(net, driver="bridge", labels={"sk.diff": "1", "k": "v"},
                                 options={"sk.opt": "1"}, check_duplicate=True)["Id"]
        res["created"] = _net_shape(api.inspect_network(net))
        res["duplicate"] = _status(lambda: api.create_network(net, check_duplicate=True))
        res["unknown"] = _status(lambda: api.inspect_network(f"{n}-nosuch"))
        res["list_label"] = [x["Name"] for x in api.networks(filters={"label": "k=v"})
                             if x["Name"] == net]
        c = api.create_container("busybox:latest", ["sleep", "300"], name=ctr,
                                 labels={"sk.diff": "1"},
                                 host_config=api.create_host_config(network_mode=net),
                                 networking_config=api.create_networking_config(
                                     {net: api.create_endpoint_config(aliases=["diff-alias"])}))
        api.start(c["Id"])
        d = api.inspect_container(c["Id"])
        res["container.NetworkMode"] = d["HostConfig"]["NetworkMode"]
        res["container.networks"] = sorted(d["NetworkSettings"]["Networks"])
        res["container.endpoint"] = _endpoint(d["NetworkSettings"]["Networks"][net], nid, c["Id"])
        res["member"] = _net_shape(api.inspect_network(net))["members"]
        res["rm_in_use"] = _status(lambda: api.remove_network(net))
        # stopped first: ECS cannot change a running task's groups, and
        # refuses that with a sentence (test_net_api covers the refusal)
        api.stop(c["Id"], timeout=0)
        api.disconnect_container_from_network(c["Id"], net, force=True)
        res["after_disconnect"] = sorted(api.inspect_container(c["Id"])["NetworkSettings"]["Networks"])
        api.remove_container(c["Id"], force=True)
        api.remove_network(net)
        res["removed"] = _status(lambda: api.inspect_network(net))
        rc, _, err = cli(host, "run", "--rm", "--label", DIFF_LABEL, "--network", "host",
                         "busybox:latest", "true")
        res["run_host"] = {"rc": rc, "refused": "host" in err}
    finally:
        cli(host, "rm", "-f", ctr)
        cli(host, "network", "rm", net)
        api.close()
    return res


def test_diff_networks():
    eps = dict(endpoints())
    pytest.importorskip("docker")
    n = unique("skdiffnet")
    try:
        for host in eps.values():
            rc, _, err = cli(host, "pull", "-q", "busybox:latest")
            assert rc == 0, err
        res = {kind: _program(kind, host, n) for kind, host in eps.items()}
        compare("net", res["reference"], res["sockerless"])
    finally:
        for host in eps.values():
            diff_lib.cleanup(host)
