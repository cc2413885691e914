"""Docker volumes on Container Apps (docs/volumes.md, "Container Apps
(Azure Files)"): a volume is an Azure Files share of the stack's storage
account (deploy/local.sh: sockerlessvols on the Azure simulator, each share
a directory under $SK_RUN_DIR/azure/sim/azurefiles/azurefile/sockerlessvols),
registered on the environment as a storage and mounted into the job's
replica; through the real docker CLI: a named volume shared by two
containers in turn, -v and --mount with a file written and read, :ro,
volume ls/inspect/rm (rm deletes the storage and the share), a failed
create that leaves no share and no storage, binds under shared_paths
visible on the host side, files copied in before start, --tmpfs as an
EmptyDir, and the refusals."""
import json
import os
import urllib.request
import uuid

import pytest

from conftest import RUN, az_sim_url
from e2e_lib import BUSYBOX, dk, dk_ok, inspect, shared_dir, vol_rm, wait_for

ACCOUNT = "sockerlessvols"


def shares_root():
    d = os.path.join(RUN, "azure", "sim", "azurefiles", "azurefile", ACCOUNT)
    if not RUN or not os.path.isdir(d):
        pytest.skip("the stack has no simulated storage account %s "
                    "($SK_RUN_DIR/azure/sim/azurefiles)" % ACCOUNT)
    return d


def sim_state(name):
    path = os.path.join(RUN, "azure", "sim", name)
    with open(path) as f:
        return json.load(f)


def share_of(volume):
    """The name of the share whose metadata names volume, or None."""
    for s in sim_state("azstorage.json").get("shares") or []:
        if (s["properties"].get("metadata") or {}).get("sockerless_volume") == volume:
            return s["name"]
    return None


def storages():
    return {s["name"] for s in sim_state("azapp.json").get("storages") or []}


@pytest.fixture
def vols():
    made = []

    def new(prefix="skacav"):
        n = f"{prefix}-{uuid.uuid4().hex[:10]}"
        made.append(n)
        return n
    yield new
    vol_rm(*made)


def run_out(*args):
    p = dk("run", "--rm", *args, timeout=300)
    assert p.returncode == 0, (p.stdout, p.stderr)
    return p.stdout


def test_named_volume_shared_in_turn(vols):
    v = vols()
    dk_ok("volume", "create", v)
    share = share_of(v)
    assert share is not None and share.startswith("sk-"), share
    assert share in storages()
    run_out("-v", f"{v}:/data", BUSYBOX, "sh", "-c",
            "mkdir -p /data/sub && echo first > /data/sub/f")
    out = run_out("-v", f"{v}:/data", BUSYBOX, "sh", "-c",
                  "cat /data/sub/f && echo second >> /data/sub/f")
    assert out == "first\n", out
    out = run_out("--mount", f"type=volume,src={v},dst=/other,readonly", BUSYBOX,
                  "cat", "/other/sub/f")
    assert out == "first\nsecond\n", out
    # What the replicas wrote is in the share.
    with open(os.path.join(shares_root(), share, "sub", "f")) as f:
        assert f.read() == "first\nsecond\n"


def test_v_write_and_read_and_readonly(vols):
    v = vols()
    out = run_out("-v", f"{v}:/p", BUSYBOX, "sh", "-c", "echo hello > /p/x && cat /p/x")
    assert out == "hello\n", out
    p = dk("run", "--rm", "-v", f"{v}:/p:ro", BUSYBOX, "sh", "-c",
           "cat /p/x; echo no > /p/y && echo wrote", timeout=300)
    assert p.stdout == "hello\n", (p.stdout, p.stderr)
    assert "Read-only file system" in p.stderr, p.stderr


def test_volume_ls_inspect_rm(vols):
    v = vols()
    dk_ok("volume", "create", "--label", "team=a", v)
    assert v in dk_ok("volume", "ls", "-q").split()
    vi = inspect(v, "volume")
    assert vi["Name"] == v and vi["Driver"] == "local" and vi["Labels"] == {"team": "a"}, vi
    run_out("-v", f"{v}:/p", BUSYBOX, "sh", "-c", "echo x > /p/a && mkdir /p/d && echo y > /p/d/b")
    share = share_of(v)
    d = os.path.join(shares_root(), share)
    assert os.path.exists(os.path.join(d, "d", "b"))
    # The job that mounted it is kept for reuse (aca.job_idle): rm deletes
    # it first, then the storage, then the share.
    dk_ok("volume", "rm", v, timeout=300)
    assert v not in dk_ok("volume", "ls", "-q").split()
    assert not os.path.exists(d)
    assert share_of(v) is None and share not in storages()
    # A new volume of the same name starts empty.
    out = run_out("-v", f"{v}:/p", BUSYBOX, "ls", "-A", "/p")
    assert out == "", out


def test_volume_in_use_refused(vols, name):
    v = vols()
    dk_ok("create", "--name", name, "-v", f"{v}:/p", BUSYBOX, "true")
    p = dk("volume", "rm", v)
    assert p.returncode != 0 and "in use" in p.stderr, p.stderr
    dk_ok("rm", name)


def _fault(spec):
    req = urllib.request.Request(az_sim_url() + "/_sim/faults", data=json.dumps(spec).encode(),
                                 method="POST", headers={"Content-Type": "application/json"})
    urllib.request.urlopen(req, timeout=30).read()


def _faults_clear():
    req = urllib.request.Request(az_sim_url() + "/_sim/faults", method="DELETE")
    urllib.request.urlopen(req, timeout=30).read()


def test_failed_create_leaves_no_share_or_storage(vols):
    if az_sim_url() is None:
        pytest.skip("needs the stack's Azure simulator (SK_AZ_SIM_PORT)")
    shares_root()
    v = vols()
    _fault({"op": "ManagedEnvironmentsStorages_CreateOrUpdate", "kind": "error",
            "status": 400})
    try:
        p = dk("volume", "create", v, timeout=120)
    finally:
        _faults_clear()
    assert p.returncode != 0, (p.stdout, p.stderr)
    assert v in p.stderr, p.stderr
    assert share_of(v) is None
    assert not [s for s in os.listdir(shares_root()) if s.startswith("sk-" + v[:10])]
    assert v not in dk_ok("volume", "ls", "-q").split()
    # The name is free: a create now works.
    dk_ok("volume", "create", v)
    assert share_of(v) is not None


def test_bind_under_shared_paths_host_side():
    d = shared_dir()
    if d is None:
        pytest.skip("SK_RUN_DIR is not set: the stack's shared_paths prefix is unknown")
    sub = os.path.join(d, "acabind-" + uuid.uuid4().hex[:8])
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
    dk_ok("rm", name)
    out = run_out("-v", f"{v}:/q", BUSYBOX, "cat", "/q/in.txt")
    assert out == "copied\n", out


def test_tmpfs_is_an_emptydir():
    # Container Apps' EmptyDir is on the replica's ephemeral disk, not in
    # memory: the file system is not a tmpfs (docs/volumes.md).
    out = run_out("--tmpfs", "/scratch:size=16m", BUSYBOX, "sh", "-c",
                  "echo t > /scratch/f && cat /scratch/f")
    assert out == "t\n", out
    # The agent gives it Docker's mode.
    out = run_out("--tmpfs", "/t:mode=0700", "--tmpfs", "/u", BUSYBOX, "stat", "-c", "%a",
                  "/t", "/u")
    assert out == "700\n1777\n", out


@pytest.mark.parametrize("args,sentence", [
    (["--tmpfs", "/sockerless/x"], "/sockerless is where"),
    (["--tmpfs", "/t:ro"], "drop ro"),
    (["--tmpfs", "/t:size=9g"], "at most 8 GiB"),
])
def test_refused(name, args, sentence):
    p = dk("run", "--rm", "--name", name, *args, BUSYBOX, "true", timeout=120)
    assert p.returncode != 0 and sentence in p.stderr, p.stderr


def test_mounts_in_inspect(vols, name):
    v = vols()
    dk_ok("create", "--name", name, "-v", f"{v}:/p", "--tmpfs", "/t", BUSYBOX, "true")
    ms = {m["Destination"]: m for m in inspect(name)["Mounts"]}
    assert ms["/p"]["Type"] == "volume" and ms["/p"]["Name"] == v, ms
    dk_ok("rm", name)


def _backend(tmp_path, drop, extra=""):
    """A second aca backend on the stack's simulator, with the stack's
    configuration but its own socket, state and callback port, the aca
    keys in drop left out and extra lines added under aca:."""
    import subprocess
    from e2e_lib import PORT_BASE
    conf = os.path.join(RUN, "backend-aca.yaml")
    if not RUN or not os.path.exists(conf):
        pytest.skip("needs the stack's $SK_RUN_DIR/backend-aca.yaml")
    sock = str(tmp_path / "b.sock")
    port = PORT_BASE + 178
    lines = []
    with open(conf) as f:
        for line in f:
            key = line.strip().split(":", 1)[0]
            if line.startswith("socket:"):
                line = f"socket: {sock}\n"
            elif line.startswith("state_dir:"):
                line = f"state_dir: {tmp_path / 'state'}\n"
            elif line.startswith("agent_callback_listen:"):
                line = f"agent_callback_listen: 127.0.0.1:{port}\n"
            elif line.startswith("agent_callback_url:"):
                line = f"agent_callback_url: http://127.0.0.1:{port}\n"
            elif line.startswith("  ") and key in drop:
                continue
            lines.append(line)
    text = "".join(lines)
    if extra:
        text = text.replace("\naca:\n", "\naca:\n" + extra + "\n", 1)
    (tmp_path / "b.yaml").write_text(text)
    build = os.environ.get("SK_BUILD", "build")
    binary = os.path.join(os.path.dirname(__file__), "..", "..", build,
                          "sockerless-backend-aca")
    p = subprocess.Popen([binary, "--config", str(tmp_path / "b.yaml")],
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    return p, sock


def test_no_storage_account_no_volumes(tmp_path):
    """Without aca.storage_account the capability is off, with the
    sentence naming the key."""
    import subprocess
    p, sock = _backend(tmp_path, ("storage_account", "storage_account_key_file",
                                  "shared_storage"))
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
        assert "aca.storage_account" in out["reasons"]["volumes"], out
    finally:
        p.terminate()
        p.wait(timeout=60)


@pytest.mark.parametrize("drop,extra,says", [
    (("storage_account", "storage_account_key_file"), "  storage_account: nosuchaccount",
     "aca.storage_account nosuchaccount"),
    (("storage_account_key_file",), "  storage_account_key_file: /nonexistent/key",
     "aca.storage_account_key_file /nonexistent/key"),
    (("shared_storage",), "  shared_storage: no-such-storage",
     "aca.shared_storage no-such-storage"),
])
def test_start_up_checks(tmp_path, drop, extra, says):
    p, _ = _backend(tmp_path, drop, extra)
    try:
        out, _ = p.communicate(timeout=120)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    assert p.returncode != 0, out
    assert says in out, out


def test_key_from_list_keys(tmp_path):
    """Without the key file the key comes from ARM listKeys."""
    p, sock = _backend(tmp_path, ("storage_account_key_file",))
    try:
        wait_for(lambda: os.path.exists(sock) or p.poll() is not None, timeout=60, what=sock)
        assert p.poll() is None, p.stdout.read()
    finally:
        p.terminate()
        out, _ = p.communicate(timeout=60)
    assert "volumes are Azure Files shares of sockerlessvols" in out, out
