"""Differential suite, docker-py: the same low-level (APIClient) and
high-level (DockerClient) programs against the reference dockerd and
Sockerless, compared field by field (diff_lib.py; allowed differences cite
docs/compat.md, section "Differential suite")."""
import re

import pytest

import diff_lib
from diff_lib import DIFF_LABEL, compare, endpoints, net_kw, unique

LABELS = {DIFF_LABEL.split("=")[0]: "1"}


@pytest.fixture(scope="module")
def both():
    eps = endpoints()
    import docker as dockerpy
    clients = {}
    for kind, host in eps:
        c = dockerpy.APIClient(base_url=host, version="auto", timeout=120)
        c.pull("busybox", tag="latest")
        clients[kind] = c
    yield clients
    for kind, host in eps:
        diff_lib.cleanup(host)
        clients[kind].close()


def run_both(both, program):
    """The program's result on each endpoint, one common container name."""
    name = unique()
    return {kind: program(kind, c, name) for kind, c in both.items()}


def error_of(fn):
    """What a client program sees of a failing call."""
    import docker.errors
    try:
        fn()
    except docker.errors.APIError as e:
        return {"class": type(e).__name__, "status": e.status_code,
                "explanation": e.explanation}
    except docker.errors.DockerException as e:
        return {"class": type(e).__name__}
    return {"class": None}


def test_diff_rows_are_in_compat():
    """Every allowed difference cites a row docs/compat.md has."""
    with open(diff_lib.COMPAT) as f:
        doc = f.read()
    for row in set(diff_lib.ALLOWED.values()):
        assert re.search(rf"^\| {row} \|", doc, re.M), f"docs/compat.md lacks row {row}"


def _lowlevel_create(kind, c, name):
    # No group_add: supplementary groups are refused on the cloud backends
    # (docs/compat.md "Linux options").
    hc = c.create_host_config(runtime="runc", **net_kw(kind))
    r = c.create_container("busybox", ["sh", "-c", "echo out; echo err >&2; exit 3"],
                           name=name, labels=LABELS, environment=["A=1"],
                           working_dir="/tmp", host_config=hc)
    created = c.inspect_container(name)
    c.start(name)
    w = c.wait(name, timeout=120)
    out = {
        "warnings": r["Warnings"],
        "created": created,
        "wait": w,
        # Both streams together interleave as the two pipes are read, on
        # dockerd too: the sorted lines are what is certain.
        "logs": sorted(c.logs(name, stdout=True, stderr=True).decode().splitlines()),
        "stdout": c.logs(name, stdout=True, stderr=False).decode(),
        "stderr": c.logs(name, stdout=False, stderr=True).decode(),
        "exited": c.inspect_container(name),
    }
    c.remove_container(name)
    out["after_rm"] = error_of(lambda: c.inspect_container(name))
    return out


def test_diff_dockerpy_lowlevel_lifecycle(both):
    res = run_both(both, _lowlevel_create)
    compare("lowlevel", res["reference"], res["sockerless"])


def _lowlevel_exec(kind, c, name):
    c.create_container("busybox", ["sleep", "300"], name=name, labels=LABELS,
                       host_config=c.create_host_config(**net_kw(kind)))
    c.start(name)
    ex = c.exec_create(name, ["sh", "-c", "echo hi; echo oops >&2; exit 4"])
    # stdout and stderr interleave as dockerd reads its two pipes.
    out = {"exec_create": sorted(ex),
           "output": sorted(c.exec_start(ex["Id"]).decode().splitlines())}
    out["exec_inspect"] = c.exec_inspect(ex["Id"])
    top = c.top(name)
    out["top_titles"] = top["Titles"]
    c.remove_container(name, force=True)
    return out


def test_diff_dockerpy_lowlevel_exec(both):
    res = run_both(both, _lowlevel_exec)
    if "does not support exec" in str(res["sockerless"]):
        pytest.skip("this backend has no exec")
    compare("exec", res["reference"], res["sockerless"])


def _lowlevel_image(kind, c, name):
    from e2e_lib import TESTIMAGE
    repo, tag = TESTIMAGE.rsplit(":", 1)
    c.pull(repo, tag=tag)
    img = c.inspect_image("busybox:latest")
    return {"image": img, "history": c.history(TESTIMAGE)}


def test_diff_dockerpy_image_inspect(both):
    res = run_both(both, _lowlevel_image)
    compare("lowlevel", res["reference"], res["sockerless"])


def _lowlevel_errors(kind, c, name):
    missing = "sk-diff-nosuch-image:1"
    return {
        "inspect_image": error_of(lambda: c.inspect_image(missing)),
        "create": error_of(lambda: c.create_container(missing, ["true"], name=name)),
        "remove_image": error_of(lambda: c.remove_image(missing)),
        "tag": error_of(lambda: c.tag(missing, "sk-diff-x", "y")),
        "history": error_of(lambda: c.history(missing)),
        "inspect_container": error_of(lambda: c.inspect_container(name)),
        "start": error_of(lambda: c.start(name)),
        "stop": error_of(lambda: c.stop(name)),
        "remove_container": error_of(lambda: c.remove_container(name)),
        "wait": error_of(lambda: c.wait(name)),
        "logs": error_of(lambda: c.logs(name)),
        "bad_runtime": error_of(lambda: c.create_container(
            "busybox", ["true"], host_config=c.create_host_config(
                runtime="sk-no-such-runtime", **net_kw(kind)))),
    }


def test_diff_dockerpy_errors(both):
    res = run_both(both, _lowlevel_errors)
    compare("errors", res["reference"], res["sockerless"])


def _highlevel(kind, c, name):
    import docker as dockerpy
    hl = dockerpy.DockerClient(base_url=HOSTS[kind], version="auto", timeout=120)
    try:
        out = {"run": hl.containers.run("busybox", ["sh", "-c", "echo hello; echo world"],
                                        name=name, labels=LABELS, remove=True,
                                        **net_kw(kind)).decode()}
        try:
            hl.containers.run("busybox", ["sh", "-c", "echo bad >&2; exit 2"],
                              name=name + "-e", labels=LABELS, **net_kw(kind))
            out["error"] = None
        except dockerpy.errors.ContainerError as e:
            out["error"] = {"exit_status": e.exit_status, "stderr": e.stderr.decode()}
        ctr = hl.containers.run("busybox", ["sh", "-c", "echo detached"], name=name + "-d",
                                labels=LABELS, detach=True, **net_kw(kind))
        out["wait"] = ctr.wait(timeout=120)
        ctr.reload()
        out["status"] = ctr.status
        out["name"] = ctr.name == name + "-d"
        out["logs"] = ctr.logs().decode()
        out["labels"] = ctr.labels
        ctr.remove()
        img = hl.images.get("busybox:latest")
        out["image_labels"] = img.labels
        out["image_cmd"] = img.attrs["Config"]["Cmd"]
        out["image_short_id"] = img.short_id.startswith("sha256:")
        for what, fn in (("images.get", lambda: hl.images.get("sk-diff-nosuch:1")),
                         ("containers.get", lambda: hl.containers.get(name + "-gone")),
                         ("run_missing_image", lambda: hl.containers.create(
                             "sk-diff-nosuch:1", name=name + "-m"))):
            out[what] = error_of(fn)
        return out
    finally:
        hl.close()


HOSTS = {}


def test_diff_dockerpy_highlevel(both):
    HOSTS.update(dict(endpoints()))
    res = run_both(both, _highlevel)
    compare("highlevel", res["reference"], res["sockerless"])
