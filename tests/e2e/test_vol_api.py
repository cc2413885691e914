"""Issue 14: the Docker volume API through the real docker CLI, docker-py
and raw requests, with dockerd's shapes and status codes. The sequences
follow the clients' own code: docker/cli cli/command/volume (create, ls
with --filter, inspect, rm [-f], prune [--all/--filter], system df -v) and
docker-py docker/api/volume.py (create_volume, volumes(filters=...),
inspect_volume, remove_volume(force=...), prune_volumes); the daemon's
answers are moby's api/server/router/volume/volume_routes.go and
volume/service (the anonymous label from API 1.42 on).

Every test passes against the reference dockerd (SK_TARGET=reference) too,
except what needs API 1.42+ (prune keeps named volumes unless all=true):
the bed's dockerd 20.10 speaks 1.41, so those checks skip there. The
differential test compares one volume's inspect document with the
reference's when SK_REF_DOCKER_HOST is set beside a sockerless target."""
import json
import os
import re
import uuid

import pytest

from e2e_lib import BUSYBOX, RUN_ID, TARGET, api, dk, dk_ok, parse_ts, vol_rm

RUN_VOL_LABEL = f"sk.e2e.run={RUN_ID}"
VOLUME_KEYS = {"Name", "Driver", "Mountpoint", "CreatedAt", "Labels", "Scope", "Options"}


@pytest.fixture
def vols():
    """vols() -> a fresh volume name, removed (with force) after the test."""
    made = []

    def new(prefix="skvol"):
        n = f"{prefix}-{uuid.uuid4().hex[:10]}"
        made.append(n)
        return n
    yield new
    vol_rm(*made)


@pytest.fixture(autouse=True)
def _run_volumes():
    """Removes the volumes this test left that carry the run label."""
    yield
    left = dk("volume", "ls", "-q", "--filter", f"label={RUN_VOL_LABEL}").stdout.split()
    vol_rm(*left)


def api_version():
    st, v = api("GET", "/version")
    assert st == 200, v
    return tuple(int(x) for x in v["ApiVersion"].split("."))


def vol_inspect(name):
    return json.loads(dk_ok("volume", "inspect", name))[0]


def ls_names(*filters):
    args = []
    for f in filters:
        args += ["--filter", f]
    return set(dk_ok("volume", "ls", "-q", *args).split())


def test_create_named_inspect_shape(vols):
    v = vols()
    out = dk_ok("volume", "create", "--label", RUN_VOL_LABEL, "--label", "sk.tier=db",
                "--driver", "local", v)
    assert out.strip() == v
    d = vol_inspect(v)
    assert VOLUME_KEYS <= set(d), d
    assert d["Name"] == v and d["Driver"] == "local" and d["Scope"] == "local", d
    # dockerd's data root; the bed's reference has its own.
    root = "/var/lib/docker" if TARGET == "sockerless" else ""
    assert d["Mountpoint"].endswith(f"/volumes/{v}/_data") and d["Mountpoint"].startswith(
        root), d
    assert d["Labels"] == {"sk.e2e.run": RUN_ID, "sk.tier": "db"}, d
    assert not d["Options"], d
    parse_ts(d["CreatedAt"])
    # The framework's own object stays inside: the shape is dockerd's.
    assert "Sockerless" not in d, d
    # A second create with the same name and driver answers the same volume.
    assert dk_ok("volume", "create", v).strip() == v
    assert vol_inspect(v)["CreatedAt"] == d["CreatedAt"]


def test_create_without_a_name(vols):
    out = dk_ok("volume", "create", "--label", RUN_VOL_LABEL).strip()
    try:
        assert re.fullmatch(r"[0-9a-f]{64}", out), out
        d = vol_inspect(out)
        assert d["Name"] == out and d["Driver"] == "local", d
    finally:
        vol_rm(out)


def test_create_docker_py(pyclient, vols):
    v = vols()
    vol = pyclient.volumes.create(name=v, driver="local", labels={"sk.e2e.run": RUN_ID, "k": "v"})
    assert vol.name == v and vol.attrs["Driver"] == "local", vol.attrs
    assert pyclient.volumes.get(v).attrs["Labels"] == {"sk.e2e.run": RUN_ID, "k": "v"}
    assert v in [x.name for x in pyclient.volumes.list(filters={"label": "k=v"})]
    vol.remove()
    import docker as dockerpy
    with pytest.raises(dockerpy.errors.NotFound):
        pyclient.volumes.get(v)


def test_ls_filters(vols, name):
    a, b = vols("skvola"), vols("skvolb")
    dk_ok("volume", "create", "--label", RUN_VOL_LABEL, "--label", "sk.which=a", a)
    dk_ok("volume", "create", "--label", RUN_VOL_LABEL, "--label", "sk.which=b", "--label",
          "sk.only-b", b)
    dk_ok("create", "--name", name, "-v", f"{a}:/data", BUSYBOX, "true")
    assert {a, b} <= ls_names()
    assert {a, b} <= ls_names("driver=local")
    assert not ({a, b} & ls_names("driver=sk-nosuch"))
    assert ls_names(f"label={RUN_VOL_LABEL}", "label=sk.which=a") == {a}
    assert ls_names(f"label={RUN_VOL_LABEL}", "label=sk.only-b") == {b}
    assert ls_names(f"label={RUN_VOL_LABEL}", "label=sk.which") == {a, b}
    assert ls_names(f"name={a}") == {a}
    assert ls_names(f"name={b[:8]}", f"label={RUN_VOL_LABEL}") == {b}
    dangling = ls_names("dangling=true", f"label={RUN_VOL_LABEL}")
    assert b in dangling and a not in dangling, dangling
    used = ls_names("dangling=false", f"label={RUN_VOL_LABEL}")
    assert a in used and b not in used, used
    # docker-py sends the same filters as JSON.
    st, body = api("GET", "/volumes?filters=" + json.dumps({"dangling": ["true"], "label": [
        RUN_VOL_LABEL]}).replace(" ", ""))
    assert st == 200 and {x["Name"] for x in body["Volumes"]} == dangling, body
    dk_ok("rm", name)


def test_ls_bad_filter():
    st, body = api("GET", "/volumes?filters=" + '{"sk-nosuch":["x"]}')
    assert st == 400 and "sk-nosuch" in body["message"], (st, body)
    st, body = api("GET", "/volumes?filters=" + '{"dangling":["maybe"]}')
    assert st == 400 and "maybe" in body["message"], (st, body)


def test_rm_in_use_and_force(vols, name):
    v = vols()
    dk_ok("volume", "create", "--label", RUN_VOL_LABEL, v)
    dk_ok("create", "--name", name, "-v", f"{v}:/data", BUSYBOX, "true")
    p = dk("volume", "rm", v)
    assert p.returncode != 0 and "volume is in use" in p.stderr, p.stderr
    st, body = api("DELETE", f"/volumes/{v}")
    assert st == 409 and "volume is in use" in body["message"], (st, body)
    # force does not take a volume from a container (moby: in use wins).
    st, body = api("DELETE", f"/volumes/{v}?force=1")
    assert st == 409, (st, body)
    assert vol_inspect(v)["Name"] == v
    dk_ok("rm", name)
    dk_ok("volume", "rm", v)
    assert dk("volume", "inspect", v).returncode != 0


def test_rm_missing():
    missing = "sk-nosuch-" + uuid.uuid4().hex[:8]
    st, body = api("DELETE", f"/volumes/{missing}")
    assert st == 404 and "no such volume" in body["message"], (st, body)
    st, body = api("DELETE", f"/volumes/{missing}?force=1")
    assert st == 204, (st, body)
    assert dk("volume", "rm", "-f", missing).returncode == 0
    p = dk("volume", "rm", missing)
    assert p.returncode != 0 and "no such volume" in p.stderr, p.stderr
    st, body = api("GET", f"/volumes/{missing}")
    assert st == 404 and "no such volume" in body["message"], (st, body)


def test_bad_json_is_400():
    st, body = api("POST", "/volumes/create", "{not json")
    assert st == 400 and isinstance(body, dict) and body.get("message"), (st, body)
    st, body = api("POST", "/volumes/create", '{"Name": 5}')
    assert st == 400 and body.get("message"), (st, body)


def test_bad_name_is_400():
    st, body = api("POST", "/volumes/create", {"Name": "a/b"})
    assert st == 400 and "a/b" in body["message"], (st, body)


def test_unknown_driver():
    st, body = api("POST", "/volumes/create", {"Name": "skvol-" + uuid.uuid4().hex[:8],
                                                "Driver": "sk-nosuch"})
    assert 400 <= st < 500 and "sk-nosuch" in body["message"], (st, body)


def test_prune_by_label(vols):
    keep, gone = vols("skvolkeep"), vols("skvolgone")
    tag = "sk.prune=" + uuid.uuid4().hex[:8]
    dk_ok("volume", "create", "--label", RUN_VOL_LABEL, keep)
    dk_ok("volume", "create", "--label", RUN_VOL_LABEL, "--label", tag, gone)
    # --all: from API 1.42 on, named volumes are pruned only with all=true;
    # dockerd 20.10 (1.41) prunes every unused one and has no "all" filter.
    args = ["--all"] if api_version() >= (1, 42) else []
    out = dk_ok("volume", "prune", "-f", *args, "--filter", f"label={tag}")
    assert gone in out and keep not in out, out
    assert "Total reclaimed space" in out, out
    assert dk("volume", "inspect", gone).returncode != 0
    assert vol_inspect(keep)["Name"] == keep


def test_prune_anonymous_only_by_default(vols, name):
    if api_version() < (1, 42):
        pytest.skip("the target speaks API < 1.42: prune removes named volumes too")
    named = vols("skvolnamed")
    tag = "sk.prune=" + uuid.uuid4().hex[:8]
    dk_ok("volume", "create", "--label", RUN_VOL_LABEL, "--label", tag, named)
    anon = dk_ok("volume", "create", "--label", RUN_VOL_LABEL, "--label", tag).strip()
    used = dk_ok("volume", "create", "--label", RUN_VOL_LABEL, "--label", tag).strip()
    try:
        dk_ok("create", "--name", name, "-v", f"{used}:/data", BUSYBOX, "true")
        st, body = api("POST", "/v1.44/volumes/prune?filters=" + json.dumps(
            {"label": [tag]}).replace(" ", ""))
        assert st == 200, (st, body)
        assert body["VolumesDeleted"] == [anon], body
        assert isinstance(body["SpaceReclaimed"], int), body
        st, body = api("POST", "/v1.44/volumes/prune?filters=" + json.dumps(
            {"label": [tag], "all": ["true"]}).replace(" ", ""))
        assert st == 200 and body["VolumesDeleted"] == [named], body
        assert vol_inspect(used)["Name"] == used  # in use: never pruned
    finally:
        dk("rm", "-f", name)
        vol_rm(anon, used)


def test_system_df_volumes(vols, name):
    a, b = vols(), vols()
    dk_ok("volume", "create", "--label", RUN_VOL_LABEL, a)
    dk_ok("volume", "create", "--label", RUN_VOL_LABEL, b)
    dk_ok("create", "--name", name, "-v", f"{a}:/data", BUSYBOX, "true")
    out = dk_ok("system", "df", "-v")
    assert "Local Volumes space usage:" in out, out
    section = out.split("Local Volumes space usage:", 1)[1].split("Build cache usage", 1)[0]
    rows = {r.split()[0]: r.split() for r in section.strip().splitlines()[1:] if r.strip()}
    assert rows[a][1] == "1" and rows[b][1] == "0", section
    st, df = api("GET", "/system/df")
    assert st == 200, df
    got = {v["Name"]: v for v in df["Volumes"]}
    assert got[a]["UsageData"]["RefCount"] == 1, got[a]
    assert got[b]["UsageData"]["RefCount"] == 0, got[b]
    summary = dk_ok("system", "df", "--format", "{{.Type}} {{.TotalCount}}")
    assert any(line.startswith("Local Volumes ") for line in summary.splitlines()), summary
    dk_ok("rm", name)


def test_volume_differential(vols):
    """One volume created the same way on sockerless and on the reference:
    the same inspect document but for the time."""
    ref = os.environ.get("SK_REF_DOCKER_HOST")
    if TARGET != "sockerless" or not ref:
        pytest.skip("needs SK_TARGET=sockerless and SK_REF_DOCKER_HOST")
    from diff_lib import cli
    v = vols("skvoldiff")
    docs = []
    for host in (ref, None):
        args = ("volume", "create", "--label", RUN_VOL_LABEL, "--label", "a=b", v)
        if host:
            assert cli(host, *args)[0] == 0
            docs.append(json.loads(cli(host, "volume", "inspect", v)[1])[0])
            cli(host, "volume", "rm", "-f", v)
        else:
            dk_ok(*args)
            docs.append(vol_inspect(v))
    r, s = docs
    s = {k: x for k, x in s.items() if k != "Sockerless"}
    r.pop("CreatedAt"), s.pop("CreatedAt")
    # The bed's dockerd has its own data root (not /var/lib/docker).
    r["Mountpoint"] = "/var/lib/docker/volumes/" + r["Mountpoint"].split("/volumes/", 1)[1]
    assert r == s, (r, s)
