"""Issue 14: mounts at container create through the real docker CLI, as
docker/cli parses them (cli/command/container/opts.go: -v, --mount,
--volumes-from, --tmpfs; opts/mount.go: volume-nocopy, readonly) and as
dockerd realises them (moby daemon/volumes.go, daemon/create_unix.go: image
VOLUMEs become anonymous volumes, volume/local: a new volume's root is
root:root 0755 unless the image's content is copied up into it, which also
gives it the image directory's owner and mode; daemon/mounts.go: rm -v).
GitLab Runner's permission helper (executors/docker/internal/volumes/
permission: a helper container that runs `chown -R UID:GID` on the build
and cache volume paths before the build container, a non-root user, writes
there) is replayed here with busybox.

Everything runs against the reference dockerd (SK_TARGET=reference) too;
the bind refusal is sockerless's own (dockerd mounts any host path) and the
EFS checks (a volume's files on the simulator's file system) are
sockerless-only. The image with a VOLUME (sockerless/volimage) is built on
the test bed's engine and pushed to its registry (e2e_lib.push_image)."""
import json
import os
import re
import shutil
import uuid

import pytest

from e2e_lib import (BUSYBOX, RUN_ID, TARGET, dk, dk_ok, inspect, push_image,
                     shared_dir, vol_rm, wait_for)

RUN_VOL_LABEL = f"sk.e2e.run={RUN_ID}"
BIND_REFUSED = "bind mounts need a host"

VOLIMAGE_DOCKERFILE = """\
ARG REGISTRY
FROM ${REGISTRY}/library/busybox:latest
COPY --chown=1000:1000 data /data
VOLUME /data
"""


@pytest.fixture
def vols():
    made = []

    def new(prefix="skvolm"):
        n = f"{prefix}-{uuid.uuid4().hex[:10]}"
        made.append(n)
        return n
    yield new
    vol_rm(*made)


@pytest.fixture(scope="module")
def volimage(tmp_path_factory):
    """An image whose /data (owned 1000:1000, one file) is a VOLUME."""
    ctx = tmp_path_factory.mktemp("volimage")
    (ctx / "Dockerfile").write_text(VOLIMAGE_DOCKERFILE)
    data = ctx / "data"
    data.mkdir()
    (data / "hello.txt").write_text("from-image\n")
    img = push_image(str(ctx), "volimage", "replays1")
    dk_ok("pull", img, timeout=300)
    return img


@pytest.fixture(autouse=True)
def _busybox():
    dk("pull", BUSYBOX)


def run_out(*args):
    """`docker run --rm ARGS`: stdout."""
    return dk_ok("run", "--rm", *args)


def mounts_by_dest(ref):
    return {m["Destination"]: m for m in inspect(ref)["Mounts"]}


def anon_name(m):
    assert re.fullmatch(r"[0-9a-f]{64}", m["Name"]), m
    return m["Name"]


def test_named_volume_shared_between_containers(vols):
    v = vols()
    run_out("-v", f"{v}:/p", BUSYBOX, "sh", "-c", "echo one > /p/f && mkdir /p/d")
    assert run_out("-v", f"{v}:/q", BUSYBOX, "cat", "/q/f") == "one\n"
    # -v name:/p:ro: reads work, writes fail.
    p = dk("run", "--rm", "-v", f"{v}:/p:ro", BUSYBOX, "sh", "-c",
           "cat /p/f; echo x > /p/g && echo wrote")
    assert p.stdout == "one\n", (p.stdout, p.stderr)
    assert "Read-only file system" in p.stderr, p.stderr
    d = json.loads(dk_ok("volume", "inspect", v))[0]
    assert d["Driver"] == "local", d


def test_new_volume_root_owned_as_dockerd(vols):
    v = vols()
    assert run_out("-v", f"{v}:/p", BUSYBOX, "stat", "-c", "%u:%g %a", "/p") == "0:0 755\n"


def test_mount_flag_readonly_and_nocopy(vols, volimage):
    v = vols()
    dk_ok("volume", "create", "--label", RUN_VOL_LABEL, v)
    run_out("--mount", f"type=volume,src={v},dst=/p", BUSYBOX, "sh", "-c", "echo m > /p/f")
    p = dk("run", "--rm", "--mount", f"type=volume,source={v},target=/p,readonly", BUSYBOX,
           "sh", "-c", "cat /p/f; touch /p/g && echo wrote")
    assert p.stdout == "m\n" and "Read-only file system" in p.stderr, (p.stdout, p.stderr)
    # volume-nocopy: a new volume over the image's /data stays empty.
    n = vols()
    out = run_out("--mount", f"type=volume,src={n},dst=/data,volume-nocopy", volimage, "sh",
                  "-c", "ls -A /data; stat -c '%u:%g %a' /data")
    assert out == "0:0 755\n", out
    # -v name:/p:nocopy is the same.
    n2 = vols()
    out = run_out("-v", f"{n2}:/data:nocopy", volimage, "ls", "-A", "/data")
    assert out == "", out


def test_copy_up_into_new_volume(vols, volimage):
    v = vols()
    out = run_out("-v", f"{v}:/data", volimage, "sh", "-c",
                  "cat /data/hello.txt; stat -c '%u:%g %a' /data /data/hello.txt")
    lines = out.splitlines()
    assert lines[0] == "from-image", out
    # The volume's root takes the image directory's owner (and mode: the
    # classic builder makes the COPY destination 0755).
    assert lines[1] == "1000:1000 755", out
    assert lines[2].startswith("1000:1000 "), out
    # The content is in the volume, not just in the image.
    assert run_out("-v", f"{v}:/x", BUSYBOX, "cat", "/x/hello.txt") == "from-image\n"
    # A volume that already has content is not copied into again.
    run_out("-v", f"{v}:/x", BUSYBOX, "sh", "-c", "rm /x/hello.txt; echo mine > /x/own")
    assert run_out("-v", f"{v}:/data", volimage, "ls", "-A", "/data") == "own\n"


def test_image_volume_is_anonymous_and_rm_v(name, volimage):
    dk_ok("create", "--name", name, volimage, "sh", "-c", "cat /data/hello.txt")
    m = mounts_by_dest(name)["/data"]
    assert m["Type"] == "volume" and m["Driver"] == "local" and m["RW"] is True, m
    anon = anon_name(m)
    assert dk_ok("start", "-a", name) == "from-image\n"
    assert dk_ok("logs", name) == "from-image\n"
    assert anon in dk_ok("volume", "ls", "-q").split()
    # `docker rm` keeps it; `docker rm -v` on another removes its own.
    dk_ok("rm", name)
    assert json.loads(dk_ok("volume", "inspect", anon))[0]["Name"] == anon
    vol_rm(anon)


def test_anonymous_volume_rm_v(names):
    a, b = names(), names()
    dk_ok("create", "--name", a, "-v", "/scratch", BUSYBOX, "true")
    dk_ok("create", "--name", b, "-v", "/scratch", BUSYBOX, "true")
    va, vb = anon_name(mounts_by_dest(a)["/scratch"]), anon_name(mounts_by_dest(b)["/scratch"])
    assert va != vb
    dk_ok("rm", "-v", a)
    assert dk("volume", "inspect", va).returncode != 0
    dk_ok("rm", b)
    assert dk("volume", "inspect", vb).returncode == 0
    vol_rm(vb)


def test_rm_v_keeps_named_volumes(vols, name):
    v = vols()
    dk_ok("create", "--name", name, "-v", f"{v}:/p", BUSYBOX, "true")
    dk_ok("rm", "-v", name)
    assert dk("volume", "inspect", v).returncode == 0


def test_volumes_from(vols, names):
    v = vols()
    src, ro, rw = names(), names(), names()
    dk_ok("run", "--name", src, "-v", f"{v}:/shared", "-v", "/anon", BUSYBOX, "sh", "-c",
          "echo from-src > /shared/f && echo a > /anon/f")
    out = dk_ok("run", "--name", rw, "--volumes-from", src, BUSYBOX, "sh", "-c",
                "cat /shared/f /anon/f && echo rw > /shared/g")
    assert out == "from-src\na\n", out
    p = dk("run", "--name", ro, "--volumes-from", f"{src}:ro", BUSYBOX, "sh", "-c",
           "cat /shared/g; touch /shared/h && echo wrote")
    assert p.stdout == "rw\n" and "Read-only file system" in p.stderr, (p.stdout, p.stderr)
    m_src, m_ro = mounts_by_dest(src), mounts_by_dest(ro)
    assert m_ro["/shared"]["Name"] == v and m_ro["/shared"]["RW"] is False, m_ro
    assert m_ro["/anon"]["Name"] == m_src["/anon"]["Name"], (m_ro, m_src)
    anon = m_src["/anon"]["Name"]
    dk_ok("rm", ro, rw)
    dk_ok("rm", "-v", src)
    assert dk("volume", "inspect", anon).returncode != 0


def test_tmpfs(name):
    out = dk_ok("run", "--name", name, "--tmpfs", "/t", "--mount", "type=tmpfs,dst=/t2",
                BUSYBOX, "sh", "-c",
                "echo a > /t/f && echo b > /t2/f && cat /t/f /t2/f && stat -c '%a' /t /t2")
    assert out == "a\nb\n1777\n1777\n", out
    d = inspect(name)
    assert d["HostConfig"]["Tmpfs"] == {"/t": ""}, d["HostConfig"]
    t2 = mounts_by_dest(name)["/t2"]
    assert t2 == {"Type": "tmpfs", "Source": "", "Destination": "/t2", "Mode": "", "RW": True,
                  "Propagation": ""}, t2
    # Ephemeral: the next container of the same image starts empty.
    assert run_out("--tmpfs", "/t", BUSYBOX, "ls", "-A", "/t") == ""


def test_inspect_mounts_as_dockerd(vols, name):
    """Mounts in dockerd's shape: one entry per mount, Mode "z" for -v and
    --mount volumes, "ro" for -v ...:ro, "" for anonymous ones."""
    p, q, r = vols(), vols(), vols()
    dk_ok("create", "--name", name, "-v", f"{p}:/p", "-v", f"{q}:/q:ro", "--mount",
          f"type=volume,src={r},dst=/r,readonly,volume-nocopy", "-v", "/anon",
          "--mount", "type=tmpfs,dst=/t", BUSYBOX, "true")
    got = mounts_by_dest(name)
    assert set(got) == {"/p", "/q", "/r", "/anon", "/t"}, got
    anon = anon_name(got["/anon"])
    want = {"/p": (p, "z", True), "/q": (q, "ro", False), "/r": (r, "z", False),
            "/anon": (anon, "", True)}
    for dest, (vname, mode, rw) in want.items():
        m = got[dest]
        src = m.pop("Source")
        assert src.endswith(f"/volumes/{vname}/_data"), m
        if TARGET == "sockerless":
            assert src == f"/var/lib/docker/volumes/{vname}/_data", src
        assert m == {"Type": "volume", "Name": vname, "Destination": dest, "Driver": "local",
                     "Mode": mode, "RW": rw, "Propagation": ""}, m
    hc = inspect(name)["HostConfig"]
    assert sorted(hc["Binds"]) == sorted([f"{p}:/p", f"{q}:/q:ro"]), hc["Binds"]
    assert hc["Mounts"][0] == {"Type": "volume", "Source": r, "Target": "/r", "ReadOnly": True,
                               "VolumeOptions": {"NoCopy": True, "DriverConfig": {}}}, hc["Mounts"]
    dk_ok("rm", "-v", name)
    assert dk("volume", "inspect", anon).returncode != 0
    assert dk("volume", "inspect", p).returncode == 0  # named: kept


def test_permission_helper_then_non_root_build(vols):
    """GitLab Runner's permission helper: chown -R UID:GID of the build
    volume, then the build container as that user writes there."""
    v = vols("runner-skperm-project-1-concurrent-0-builds")
    dk_ok("volume", "create", "--label", RUN_VOL_LABEL, "--label",
          "com.gitlab.gitlab-runner.type=cache", v)
    p = dk("run", "--rm", "--user", "1000:1000", "-v", f"{v}:/builds", BUSYBOX, "sh", "-c",
           "touch /builds/x")
    assert p.returncode != 0 and "Permission denied" in p.stderr, (p.stdout, p.stderr)
    run_out("-v", f"{v}:/builds", BUSYBOX, "sh", "-c",
            "mkdir -p /builds/group/project && chown -R 1000:1000 /builds && chmod 0775 /builds")
    out = run_out("--user", "1000:1000", "-v", f"{v}:/builds", "-w", "/builds/group/project",
                  BUSYBOX, "sh", "-c", "echo built > out.txt && stat -c '%u:%g' out.txt /builds")
    assert out == "1000:1000\n1000:1000\n", out


# --- binds ---

def test_bind_under_shared_paths():
    d = shared_dir()
    if d is None:
        pytest.skip("SK_RUN_DIR is not set: the stack's shared_paths prefix is unknown")
    sub = os.path.join(d, "bind-" + uuid.uuid4().hex[:8])
    os.makedirs(sub)
    os.chmod(sub, 0o777)
    with open(os.path.join(sub, "from-host"), "w") as f:
        f.write("host-wrote\n")
    out = run_out("-v", f"{sub}:/w", BUSYBOX, "sh", "-c",
                  "cat /w/from-host && echo ctr-wrote > /w/from-ctr")
    assert out == "host-wrote\n", out
    path = os.path.join(sub, "from-ctr")
    wait_for(lambda: os.path.exists(path), timeout=30, what=path)
    with open(path) as f:
        assert f.read() == "ctr-wrote\n"
    # Read-only binds, with --mount too.
    p = dk("run", "--rm", "--mount", f"type=bind,src={sub},dst=/w,readonly", BUSYBOX, "sh",
           "-c", "cat /w/from-ctr; touch /w/x && echo wrote")
    assert p.stdout == "ctr-wrote\n" and "Read-only file system" in p.stderr, (p.stdout,
                                                                              p.stderr)
    shutil.rmtree(sub, ignore_errors=True)


def test_bind_under_shared_paths_is_a_hidden_volume(name):
    if TARGET != "sockerless":
        pytest.skip("shared-path volumes are sockerless's (Interface A)")
    d = shared_dir()
    if d is None:
        pytest.skip("SK_RUN_DIR is not set")
    before = set(dk_ok("volume", "ls", "-q").split())
    dk_ok("create", "--name", name, "-v", f"{d}:/w", BUSYBOX, "true")
    m = mounts_by_dest(name)["/w"]
    assert m["Type"] == "bind" and m["Source"] == d, m
    assert set(dk_ok("volume", "ls", "-q").split()) == before  # never listed
    dk_ok("rm", name)


@pytest.mark.parametrize("how", ["-v", "--mount"])
def test_other_bind_refused(name, how, tmp_path):
    if TARGET != "sockerless":
        pytest.skip("dockerd mounts any host path")
    host = str(tmp_path)
    args = ["-v", f"{host}:/w"] if how == "-v" else ["--mount", f"type=bind,src={host},dst=/w"]
    p = dk("create", "--name", name, *args, BUSYBOX, "true")
    assert p.returncode != 0 and BIND_REFUSED in p.stderr, p.stderr
    assert "shared_paths" in p.stderr, p.stderr
    assert dk("inspect", name).returncode != 0  # nothing was created


def test_volume_files_on_the_file_system(vols):
    """Sockerless only: a volume is an access point of the stack's EFS
    file system; what a container writes is in its directory there."""
    if TARGET != "sockerless":
        pytest.skip("EFS access points are sockerless's")
    if os.environ.get("SK_BACKEND", "ecs") != "ecs":
        pytest.skip("EFS is the ecs backend's (cloudrun: test_cloudrun_vol.py looks "
                    "in its bucket)")
    run = os.environ.get("SK_RUN_DIR")
    efs = os.path.join(run or "/nonexistent", "efs")
    if not os.path.isdir(efs):
        pytest.skip("the stack has no simulated EFS file system ($SK_RUN_DIR/efs)")
    v = vols()
    token = uuid.uuid4().hex
    run_out("-v", f"{v}:/p", BUSYBOX, "sh", "-c", f"echo {token} > /p/marker")
    found = []
    for root, _dirs, files in os.walk(efs):
        if "marker" in files:
            with open(os.path.join(root, "marker")) as f:
                if f.read().strip() == token:
                    found.append(root)
    assert len(found) == 1, found


def test_mounts_differential(vols):
    """The same create on sockerless and on the reference: the same Mounts
    but for the anonymous volume's name and the data root."""
    ref = os.environ.get("SK_REF_DOCKER_HOST")
    if TARGET != "sockerless" or not ref:
        pytest.skip("needs SK_TARGET=sockerless and SK_REF_DOCKER_HOST")
    from diff_lib import cli
    v = vols("skvolmdiff")
    args = ["create", "--label", RUN_VOL_LABEL, "-v", f"{v}:/p", "-v", f"{v}:/q:ro", "-v",
            "/anon", "--mount", f"type=volume,src={v},dst=/r,readonly,volume-nocopy",
            "--mount", "type=tmpfs,dst=/t", BUSYBOX, "true"]
    got = []
    for host in (ref, None):
        if host:
            rc, out, err = cli(host, *args)
            assert rc == 0, err
            cid = out.strip()
            mounts = json.loads(cli(host, "inspect", cid)[1])[0]["Mounts"]
            cli(host, "rm", "-v", cid)
            cli(host, "volume", "rm", "-f", v)
        else:
            cid = dk_ok(*args).strip()
            mounts = inspect(cid)["Mounts"]
            dk_ok("rm", "-v", cid)
        norm = []
        for m in mounts:
            m = dict(m)
            if m.get("Name") and m["Name"] != v:
                m["Name"] = "<anonymous>"
            if m["Source"]:
                m["Source"] = "/volumes/" + m["Source"].split("/volumes/", 1)[1].split("/")[0]
                if m.get("Name") == "<anonymous>":
                    m["Source"] = "/volumes/<anonymous>"
            norm.append(m)
        got.append(sorted(norm, key=lambda m: m["Destination"]))
    assert got[0] == got[1], got
