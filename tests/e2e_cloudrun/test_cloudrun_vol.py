"""Docker volumes on Cloud Run (docs/volumes.md, "Cloud Run (Cloud
Storage)"): a volume is a directory of the stack's bucket (deploy/local.sh:
sockerless-volumes, backed by $SK_RUN_DIR/gcp/sim/gcs/sockerless-volumes),
mounted into the job's task as a Cloud Storage volume; through the real
docker CLI: a named volume shared by two containers in sequence, -v with a
file written and read, volume ls/inspect/rm (rm deletes the objects),
--tmpfs as an in-memory volume, a bind under shared_paths visible on the
host side, files copied in before start, and the job body's volumes."""
import json
import os
import uuid

import pytest

from conftest import RUN
from e2e_lib import BUSYBOX, dk, dk_ok, inspect, shared_dir, vol_rm, wait_for

BUCKET = "sockerless-volumes"
PREFIX = "sockerless/volumes"


def bucket_dir():
    d = os.path.join(RUN, "gcp", "sim", "gcs", BUCKET)
    if not RUN or not os.path.isdir(d):
        pytest.skip(f"the stack has no simulated bucket {BUCKET} ($SK_RUN_DIR/gcp/sim/gcs)")
    return d


@pytest.fixture
def vols():
    made = []

    def new(prefix="skcrv"):
        n = f"{prefix}-{uuid.uuid4().hex[:10]}"
        made.append(n)
        return n
    yield new
    vol_rm(*made)


def run_out(*args):
    p = dk("run", "--rm", *args, timeout=300)
    assert p.returncode == 0, (p.stdout, p.stderr)
    return p.stdout


def test_named_volume_shared_in_sequence(vols):
    v = vols()
    dk_ok("volume", "create", v)
    run_out("-v", f"{v}:/data", BUSYBOX, "sh", "-c",
            "mkdir -p /data/sub && echo first > /data/sub/f")
    out = run_out("-v", f"{v}:/data", BUSYBOX, "sh", "-c",
                  "cat /data/sub/f && echo second >> /data/sub/f")
    assert out == "first\n", out
    out = run_out("-v", f"{v}:/other:ro", BUSYBOX, "cat", "/other/sub/f")
    assert out == "first\nsecond\n", out
    # What the tasks wrote is in the volume's directory of the bucket.
    path = os.path.join(bucket_dir(), PREFIX, v, "sub", "f")
    with open(path) as f:
        assert f.read() == "first\nsecond\n"


def test_v_write_and_read_and_readonly(vols):
    v = vols()
    out = run_out("-v", f"{v}:/p", BUSYBOX, "sh", "-c",
                  "echo hello > /p/x && cat /p/x")
    assert out == "hello\n", out
    p = dk("run", "--rm", "-v", f"{v}:/p:ro", BUSYBOX, "sh", "-c",
           "cat /p/x; echo no > /p/y && echo wrote", timeout=300)
    assert p.stdout == "hello\n", (p.stdout, p.stderr)
    assert "Read-only file system" in p.stderr, p.stderr


def test_volume_ls_inspect_rm(vols):
    v = vols()
    dk_ok("volume", "create", "--label", "team=a", v)
    assert v in dk_ok("volume", "ls", "-q").split()
    assert dk_ok("volume", "ls", "-q", "--filter", "label=team=a").split().count(v) == 1
    vi = inspect(v, "volume")
    assert vi["Name"] == v and vi["Driver"] == "local", vi
    assert vi["Labels"] == {"team": "a"}, vi
    run_out("-v", f"{v}:/p", BUSYBOX, "sh", "-c", "echo x > /p/a && mkdir /p/d && echo y > /p/d/b")
    d = os.path.join(bucket_dir(), PREFIX, v)
    assert os.path.exists(os.path.join(d, "d", "b"))
    dk_ok("volume", "rm", v)
    assert v not in dk_ok("volume", "ls", "-q").split()
    # Cloud Storage deletes: nothing of the volume is left in the bucket.
    wait_for(lambda: not os.path.exists(os.path.join(d, "a")), timeout=30, what=d)
    assert not os.path.exists(os.path.join(d, "d", "b"))
    # A new volume of the same name starts empty.
    out = run_out("-v", f"{v}:/p", BUSYBOX, "ls", "-A", "/p")
    assert out == "", out


def test_volume_in_use_refused(vols, name):
    v = vols()
    dk_ok("create", "--name", name, "-v", f"{v}:/p", BUSYBOX, "true")
    p = dk("volume", "rm", v)
    assert p.returncode != 0 and "in use" in p.stderr, p.stderr
    dk_ok("rm", name)


def test_tmpfs():
    out = run_out("--tmpfs", "/scratch:size=16m", BUSYBOX, "sh", "-c",
                  "echo t > /scratch/f && cat /scratch/f && "
                  "grep ' /scratch ' /proc/mounts | cut -d' ' -f3")
    assert out == "t\ntmpfs\n", out
    # The agent gives the in-memory volume Docker's mode.
    out = run_out("--tmpfs", "/t:mode=0700", "--tmpfs", "/u", BUSYBOX, "stat", "-c", "%a",
                  "/t", "/u")
    assert out == "700\n1777\n", out


def test_bind_under_shared_paths_host_side():
    d = shared_dir()
    if d is None:
        pytest.skip("SK_RUN_DIR is not set: the stack's shared_paths prefix is unknown")
    sub = os.path.join(d, "crbind-" + uuid.uuid4().hex[:8])
    os.makedirs(sub)
    os.chmod(sub, 0o777)
    with open(os.path.join(sub, "from-host"), "w") as f:
        f.write("host\n")
    out = run_out("-v", f"{sub}:/w", BUSYBOX, "sh", "-c",
                  "cat /w/from-host && echo task > /w/from-task")
    assert out == "host\n", out
    path = os.path.join(sub, "from-task")
    wait_for(lambda: os.path.exists(path), timeout=30, what=path)
    with open(path) as f:
        assert f.read() == "task\n"


def test_files_copied_in_before_start(vols, name, tmp_path):
    v = vols()
    src = tmp_path / "in.txt"
    src.write_text("copied\n")
    dk_ok("create", "--name", name, "-v", f"{v}:/p", BUSYBOX, "cat", "/p/in.txt")
    dk_ok("cp", str(src), f"{name}:/p/in.txt", timeout=120)
    p = dk("start", "-a", name, timeout=300)
    assert p.returncode == 0 and p.stdout == "copied\n", (p.stdout, p.stderr)
    out = run_out("-v", f"{v}:/q", BUSYBOX, "cat", "/q/in.txt")
    assert out == "copied\n", out


def test_mounts_in_inspect(vols, name):
    v = vols()
    dk_ok("create", "--name", name, "-v", f"{v}:/p", "--tmpfs", "/t", BUSYBOX, "true")
    ms = {m["Destination"]: m for m in inspect(name)["Mounts"]}
    assert ms["/p"]["Type"] == "volume" and ms["/p"]["Name"] == v, ms
    assert inspect(name)["HostConfig"]["Tmpfs"] == {"/t": ""}
    dk_ok("rm", name)


def test_agent_dir_refused(name):
    p = dk("run", "--rm", "--name", name, "--tmpfs", "/sockerless/x", BUSYBOX, "true",
           timeout=120)
    assert p.returncode != 0 and "/sockerless is where" in p.stderr, p.stderr


def _backend(tmp_path, bucket_line):
    """A second cloudrun backend on the stack's simulator, with the stack's
    configuration but its own socket, state and callback port, and the
    volume_bucket line replaced by bucket_line ("" : no bucket)."""
    import subprocess
    from e2e_lib import PORT_BASE
    conf = os.path.join(RUN, "backend-cloudrun.yaml")
    if not RUN or not os.path.exists(conf):
        pytest.skip("needs the stack's $SK_RUN_DIR/backend-cloudrun.yaml")
    sock = str(tmp_path / "b.sock")
    port = PORT_BASE + 177
    lines = []
    with open(conf) as f:
        for line in f:
            if line.startswith("socket:"):
                line = f"socket: {sock}\n"
            elif line.startswith("state_dir:"):
                line = f"state_dir: {tmp_path / 'state'}\n"
            elif line.startswith("agent_callback_listen:"):
                line = f"agent_callback_listen: 127.0.0.1:{port}\n"
            elif line.startswith("agent_callback_url:"):
                line = f"agent_callback_url: http://127.0.0.1:{port}\n"
            elif line.strip().startswith("volume_bucket:"):
                continue
            lines.append(line)
    if bucket_line:
        lines.append(bucket_line + "\n")
    (tmp_path / "b.yaml").write_text("".join(lines))
    build = os.environ.get("SK_BUILD", "build")
    binary = os.path.join(os.path.dirname(__file__), "..", "..", build,
                          "sockerless-backend-cloudrun")
    p = subprocess.Popen([binary, "--config", str(tmp_path / "b.yaml")],
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    return p, sock


def test_no_bucket_no_volumes(tmp_path):
    """Without cloudrun.volume_bucket the capability is off, with the
    sentence naming the key."""
    import subprocess
    p, sock = _backend(tmp_path, "")
    try:
        wait_for(lambda: os.path.exists(sock) or p.poll() is not None, timeout=60, what=sock)
        assert p.poll() is None, p.stdout.read()
        out = {}

        def caps():
            r = subprocess.run(["curl", "-sf", "--unix-socket", sock,
                                "http://b/internal/v1/capabilities"],
                               capture_output=True, text=True)
            if r.returncode == 0:
                out.update(json.loads(r.stdout))
            return bool(out)
        wait_for(caps, timeout=60, what="capabilities")
        assert out["capabilities"]["volumes"] is False, out
        assert "cloudrun.volume_bucket" in out["reasons"]["volumes"], out
    finally:
        p.terminate()
        p.wait(timeout=60)


def test_missing_bucket_fails_start_up(tmp_path):
    p, _ = _backend(tmp_path, "  volume_bucket: sockerless-no-such-bucket")
    try:
        out, _ = p.communicate(timeout=120)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    assert p.returncode != 0, out
    assert "cloudrun.volume_bucket sockerless-no-such-bucket" in out, out
