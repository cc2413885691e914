"""The agent's pure modules (top, stats, archive, health) through
tests/agent/t_modules.c, built with musl-gcc as the agent is."""
import glob
import io
import json
import os
import re
import shutil
import stat
import subprocess
import tarfile
import time

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
# The modules and what they use: the allocation wrappers, the JSON reader
# and the libc-only helpers shared with common/ (common/lite).
SRCS = ["tests/agent/t_modules.c", "agent/procinfo.c", "agent/health.c",
        "agent/jsonw.c", "agent/jread.c", "agent/xmalloc.c",
        *sorted(os.path.relpath(p, ROOT) for p in
                glob.glob(os.path.join(ROOT, "agent", "archive*.c"))),
        *sorted(os.path.relpath(p, ROOT) for p in
                glob.glob(os.path.join(ROOT, "common", "lite", "*.c")))]
WARN = ["-Wall", "-Wextra", "-Werror", "-Wformat=2", "-Wmissing-prototypes",
        "-Wstrict-prototypes", "-Wmissing-declarations", "-Wshadow",
        "-Wpointer-arith", "-Wwrite-strings", "-Wundef", "-Wvla",
        "-Wimplicit-fallthrough", "-fno-common"]

GO_DIR = 1 << 31
GO_SYMLINK = 1 << 27
GO_NAMEDPIPE = 1 << 25
GO_SETUID = 1 << 23
GO_STICKY = 1 << 20
RFC3339NANO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d*[1-9])?Z$")


@pytest.fixture(scope="module")
def tm(tmp_path_factory):
    """The driver; SK_MODULES_SANITIZE=1 builds it with gcc and ASan+UBSan
    (glibc) instead of the agent's static musl."""
    out = str(tmp_path_factory.mktemp("tm") / "t_modules")
    if os.environ.get("SK_MODULES_SANITIZE") == "1":
        cc = ["gcc", "-g", "-O1", "-fsanitize=address,undefined",
              "-fno-sanitize-recover=all"]
    else:
        if shutil.which("musl-gcc") is None:
            pytest.skip("musl-gcc not installed")
        cc = ["musl-gcc", "-static"]
    subprocess.run([*cc, "-std=c11", "-D_GNU_SOURCE", "-Iagent",
                    "-Icommon/include", *WARN, *SRCS, "-o", out],
                   cwd=ROOT, check=True)
    return out


def run(tm, *args, stdin=b""):
    return subprocess.run([tm, *args], input=stdin, capture_output=True,
                          timeout=60)


# ---- top, stats ----

def test_top_lists_processes(tm):
    p = subprocess.Popen([tm, "top", "-ef"], stdout=subprocess.PIPE)
    out, _ = p.communicate(timeout=30)
    doc = json.loads(out)
    assert doc["Titles"] == ["UID", "PID", "PPID", "C", "STIME", "TTY",
                             "TIME", "CMD"]
    rows = {r[1]: r for r in doc["Processes"]}
    assert all(len(r) == 8 and all(isinstance(c, str) for c in r)
               for r in doc["Processes"])
    # The lister (the agent in a workload) leaves itself out.
    assert str(p.pid) not in rows
    py = rows[str(os.getpid())]
    assert "python" in py[7] or "pytest" in py[7]
    assert py[2] == str(os.getppid())
    assert re.match(r"^(\d+-)?\d\d:\d\d:\d\d$", py[6])
    assert re.match(r"^(\d\d:\d\d|[A-Z][a-z]{2}\d\d|\d{4})$", py[4])
    assert py[5] == "?" or re.match(r"^(pts/\d+|tty\S+)$", py[5])
    # Kernel threads (or any process without a command line) show [comm].
    assert all(r[7] for r in doc["Processes"])


def test_stats_members(tm):
    r = run(tm, "stats")
    doc = json.loads(r.stdout)
    assert set(doc) == {"read", "pids", "cpu_total_ns", "cpu_user_ns",
                        "cpu_system_ns", "system_cpu_ns", "online_cpus",
                        "memory_usage", "memory_limit", "memory_stats",
                        "net", "blkio"}
    assert RFC3339NANO.match(doc["read"])
    assert doc["pids"] > 0
    assert doc["memory_usage"] > 0
    assert doc["memory_limit"] > 0
    assert doc["online_cpus"] >= 1
    assert doc["system_cpu_ns"] > 0
    assert doc["cpu_total_ns"] > 0
    assert isinstance(doc["memory_stats"], dict)
    assert all(isinstance(v, int) for v in doc["memory_stats"].values())
    assert "lo" not in doc["net"]
    for nic in doc["net"].values():
        assert set(nic) == {"rx_bytes", "rx_packets", "rx_errors",
                            "rx_dropped", "tx_bytes", "tx_packets",
                            "tx_errors", "tx_dropped"}
    assert set(doc["blkio"]) == {"read_bytes", "write_bytes"}


# ---- archive_stat_json ----

def stat_of(tm, path):
    r = run(tm, "stat", path)
    status, body = r.stdout.decode().split("\n", 1)
    return int(status), json.loads(body)


def test_stat_modes(tm, tmp_path):
    d = tmp_path / "d"
    d.mkdir()
    os.chmod(d, 0o755)
    f = d / "f.txt"
    f.write_bytes(b"hello")
    os.chmod(f, 0o640)
    os.utime(f, ns=(1_600_000_000_123_456_789, 1_600_000_000_123_456_789))
    os.symlink("f.txt", d / "ln")
    os.mkfifo(d / "fifo", 0o600)
    s = d / "suid"
    s.write_bytes(b"")
    os.chmod(s, 0o4755)
    sticky = d / "sticky"
    sticky.mkdir()
    os.chmod(sticky, 0o1777)

    st, doc = stat_of(tm, str(d))
    assert st == 200
    assert doc["stat"]["name"] == "d"
    assert doc["stat"]["mode"] == GO_DIR | 0o755
    assert doc["stat"]["linkTarget"] == ""
    st, doc = stat_of(tm, str(f))
    assert st == 200
    assert doc["stat"] == {"name": "f.txt", "size": 5, "mode": 0o640,
                           "mtime": "2020-09-13T12:26:40.123456789Z",
                           "linkTarget": ""}
    st, doc = stat_of(tm, str(d / "ln"))
    assert doc["stat"]["mode"] == GO_SYMLINK | 0o777
    assert doc["stat"]["linkTarget"] == str(f)
    assert doc["stat"]["name"] == "ln"
    assert stat_of(tm, str(d / "fifo"))[1]["stat"]["mode"] == GO_NAMEDPIPE | 0o600
    assert stat_of(tm, str(s))[1]["stat"]["mode"] == GO_SETUID | 0o755
    assert stat_of(tm, str(sticky))[1]["stat"]["mode"] == GO_DIR | GO_STICKY | 0o777
    # A trailing slash follows the symlink; "/." names the directory's ".".
    os.symlink("sticky", d / "dl")
    st, doc = stat_of(tm, str(d / "dl") + "/")
    assert doc["stat"]["mode"] == GO_DIR | GO_STICKY | 0o777
    assert doc["stat"]["name"] == "dl"
    assert stat_of(tm, str(d) + "/.")[1]["stat"]["name"] == "."
    assert RFC3339NANO.match(stat_of(tm, str(d))[1]["stat"]["mtime"])


def test_stat_errors(tm, tmp_path):
    st, doc = stat_of(tm, str(tmp_path / "nope"))
    assert st == 404
    assert doc == {"status": 404, "message":
                   f"Could not find the file {tmp_path}/nope in container"}
    st, doc = stat_of(tm, "relative/path")
    assert st == 400 and doc["status"] == 400
    st, doc = stat_of(tm, str(tmp_path / "nope" / "deeper"))
    assert st == 404


# ---- archive_get_child ----

LONG = "n" * 150


def make_tree(root):
    """A tree with the awkward cases; returns root."""
    root.mkdir()
    (root / "sub").mkdir()
    (root / "sub" / "deep").mkdir()
    (root / "empty").mkdir()
    (root / "a.txt").write_bytes(b"alpha\n")
    (root / "sub" / "b.bin").write_bytes(bytes(range(256)) * 40)
    (root / "sub" / "deep" / LONG).write_bytes(b"long name\n")
    longdir = root / ("d" * 90) / ("e" * 90)
    longdir.mkdir(parents=True)
    (longdir / "f.txt").write_bytes(b"split or pax\n")
    os.symlink("../a.txt", root / "sub" / "link")
    os.symlink("x" * 120, root / "longlink")
    os.link(root / "a.txt", root / "sub" / "hard")
    (root / "exec.sh").write_bytes(b"#!/bin/sh\n")
    os.chmod(root / "exec.sh", 0o751)
    os.chmod(root / "sub", 0o750)
    for p in sorted(root.rglob("*"), reverse=True):
        os.utime(p, (1_500_000_000, 1_500_000_000), follow_symlinks=False)
    return root


def snapshot(root, link_times=True):
    """path -> (kind, perm, mtime seconds, content or target). Python's
    tarfile leaves symlinks' own times alone: link_times=False for trees it
    extracted."""
    out = {}
    for dirpath, dirs, files in os.walk(root):
        for name in dirs + files:
            p = os.path.join(dirpath, name)
            rel = os.path.relpath(p, root)
            st = os.lstat(p)
            if stat.S_ISLNK(st.st_mode):
                out[rel] = ("l", None, int(st.st_mtime) if link_times else None,
                            os.readlink(p))
            elif stat.S_ISDIR(st.st_mode):
                out[rel] = ("d", stat.S_IMODE(st.st_mode), int(st.st_mtime), None)
            else:
                with open(p, "rb") as fh:
                    out[rel] = ("f", stat.S_IMODE(st.st_mode),
                                int(st.st_mtime), fh.read())
    return out


def test_get_directory_round_trip(tm, tmp_path):
    src = make_tree(tmp_path / "src")
    r = run(tm, "get", str(src))
    assert r.returncode == 0, r.stderr
    assert len(r.stdout) % 512 == 0
    with tarfile.open(fileobj=io.BytesIO(r.stdout), mode="r:") as tf:
        members = tf.getmembers()
        names = [m.name for m in members]
        assert names[0] == "src"
        assert all(n == "src" or n.startswith("src/") for n in names)
        assert f"src/sub/deep/{LONG}" in names
        byname = {m.name: m for m in members}
        assert byname["src/sub/link"].issym()
        assert byname["src/sub/link"].linkname == "../a.txt"
        assert byname["src/longlink"].linkname == "x" * 120
        hard = [m for m in members if m.islnk()]
        assert len(hard) == 1 and hard[0].linkname in ("src/a.txt", "src/sub/hard")
        assert byname["src/exec.sh"].mode == 0o751
        assert byname["src/exec.sh"].mtime == 1_500_000_000
        assert byname["src/a.txt"].uid == os.getuid()
        dst = tmp_path / "dst"
        dst.mkdir()
        tf.extractall(dst)
    assert snapshot(dst / "src", False) == snapshot(src, False)


def test_get_dot_file_and_symlink(tm, tmp_path):
    src = make_tree(tmp_path / "src")
    r = run(tm, "get", str(src) + "/.")
    assert r.returncode == 0, r.stderr
    with tarfile.open(fileobj=io.BytesIO(r.stdout)) as tf:
        names = tf.getnames()
        assert names[0] == "."
        assert "a.txt" in names and "sub/b.bin" in names
        assert not any(n.startswith("src") for n in names)
        dst = tmp_path / "dst"
        dst.mkdir()
        tf.extractall(dst)
    assert snapshot(dst, False) == snapshot(src, False)

    r = run(tm, "get", str(src / "a.txt"))
    with tarfile.open(fileobj=io.BytesIO(r.stdout)) as tf:
        (m,) = tf.getmembers()
        assert m.name == "a.txt" and m.isfile()
        assert tf.extractfile(m).read() == b"alpha\n"

    r = run(tm, "get", str(src / "sub" / "link"))
    with tarfile.open(fileobj=io.BytesIO(r.stdout)) as tf:
        (m,) = tf.getmembers()
        assert m.name == "link" and m.issym() and m.linkname == "../a.txt"


def test_get_errors(tm, tmp_path):
    r = run(tm, "get", str(tmp_path / "nope"))
    assert r.returncode == 2
    assert b"Could not find the file" in r.stderr
    assert r.stderr.count(b"\n") == 1
    assert r.stdout == b""
    assert run(tm, "get", "rel").returncode == 3
    (tmp_path / "f").write_bytes(b"")
    assert run(tm, "get", str(tmp_path / "f") + "/.").returncode in (2, 3)


# ---- archive_put_child ----

def build_tar(fmt, entries):
    """entries: (name, kind, data_or_target, mode, mtime)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=fmt) as tf:
        for name, kind, data, mode, mtime in entries:
            ti = tarfile.TarInfo(name)
            ti.mode = mode
            ti.mtime = mtime
            ti.uid, ti.gid = 1234, 5678
            if kind == "d":
                ti.type = tarfile.DIRTYPE
                tf.addfile(ti)
            elif kind == "l":
                ti.type = tarfile.SYMTYPE
                ti.linkname = data
                tf.addfile(ti)
            elif kind == "h":
                ti.type = tarfile.LNKTYPE
                ti.linkname = data
                tf.addfile(ti)
            else:
                ti.size = len(data)
                tf.addfile(ti, io.BytesIO(data))
    return buf.getvalue()


def put(tm, dest, data, no_overwrite=0):
    return run(tm, "put", str(dest), str(no_overwrite), stdin=data)


def entries_for(fmt):
    long_ok = fmt != tarfile.USTAR_FORMAT
    es = [
        ("top", "d", None, 0o755, 1_400_000_000),
        ("top/f.txt", "f", b"hello\n", 0o640, 1_400_000_001),
        ("top/ro", "d", None, 0o555, 1_400_000_002),
        ("top/ro/inner", "f", b"x" * 1000, 0o600, 1_400_000_003),
        ("top/ln", "l", "f.txt", 0o777, 1_400_000_004),
        ("top/abs", "l", "/etc/hostname", 0o777, 1_400_000_004),
        ("top/hard", "h", "top/f.txt", 0o640, 1_400_000_001),
        ("nodir/implied.txt", "f", b"parent made\n", 0o644, 1_400_000_005),
        (("p" * 99) + "/" + ("q" * 99), "f", b"split\n", 0o644, 1_400_000_006),
    ]
    if long_ok:
        es += [("top/" + LONG, "f", b"long\n", 0o644, 1_400_000_007),
               ("top/longlink", "l", "y" * 150, 0o777, 1_400_000_008)]
    return es


@pytest.mark.parametrize("fmt", [tarfile.USTAR_FORMAT, tarfile.GNU_FORMAT,
                                 tarfile.PAX_FORMAT],
                         ids=["ustar", "gnu", "pax"])
def test_put_formats(tm, tmp_path, fmt):
    es = entries_for(fmt)
    dest = tmp_path / "dest"
    dest.mkdir()
    r = put(tm, dest, build_tar(fmt, es))
    assert r.returncode == 0, r.stderr
    ref = tmp_path / "ref"
    ref.mkdir()
    with tarfile.open(fileobj=io.BytesIO(build_tar(fmt, es))) as tf:
        tf.extractall(ref)
    got, want = snapshot(dest, False), snapshot(ref, False)
    assert os.lstat(dest / "top" / "ln").st_mtime == 1_400_000_004
    # Python leaves implied parents with the umask's mode and now's time.
    for k in ("nodir", "p" * 99):
        assert got[k][0] == "d"
        del got[k], want[k]
    assert got == want
    assert (dest / "top" / "hard").stat().st_ino == (dest / "top" / "f.txt").stat().st_ino
    assert os.readlink(dest / "top" / "abs") == "/etc/hostname"
    if os.getuid() == 0:
        st = os.lstat(dest / "top" / "f.txt")
        assert (st.st_uid, st.st_gid) == (1234, 5678)


def test_put_pax_fractional_mtime(tm, tmp_path):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tf:
        ti = tarfile.TarInfo("frac.txt")
        ti.size = 1
        ti.mtime = 1_400_000_000.25
        tf.addfile(ti, io.BytesIO(b"z"))
    dest = tmp_path / "d"
    dest.mkdir()
    assert put(tm, dest, buf.getvalue()).returncode == 0
    assert os.stat(dest / "frac.txt").st_mtime_ns == 1_400_000_000_250_000_000


def test_put_get_round_trip(tm, tmp_path):
    src = make_tree(tmp_path / "src")
    r = run(tm, "get", str(src))
    dest = tmp_path / "dest"
    dest.mkdir()
    r2 = put(tm, dest, r.stdout)
    assert r2.returncode == 0, r2.stderr
    assert snapshot(dest / "src") == snapshot(src)
    st = os.stat(dest / "src" / "sub" / "hard")
    assert st.st_ino == os.stat(dest / "src" / "a.txt").st_ino


@pytest.mark.parametrize("entry", [
    ("../evil", "f", b"x", 0o644, 0),
    ("a/../../evil", "f", b"x", 0o644, 0),
    ("/abs-evil", "f", b"x", 0o644, 0),
    ("lnk", "l", "../../evil", 0o777, 0),
    ("hl", "h", "../evil", 0o644, 0),
], ids=["dotdot", "nested-dotdot", "absolute", "symlink", "hardlink"])
def test_put_refuses_escapes(tm, tmp_path, entry):
    dest = tmp_path / "a" / "dest"
    dest.mkdir(parents=True)
    data = build_tar(tarfile.PAX_FORMAT, [entry])
    r = put(tm, dest, data)
    assert r.returncode == 3, r.stderr
    assert r.stderr.strip()
    assert not (tmp_path / "a" / "evil").exists()
    assert not (tmp_path / "evil").exists()
    assert os.listdir(dest) == []


def test_put_errors(tm, tmp_path):
    data = build_tar(tarfile.PAX_FORMAT, [("f", "f", b"x", 0o644, 0)])
    r = put(tm, tmp_path / "nope", data)
    assert r.returncode == 2 and b"Could not find the file" in r.stderr
    (tmp_path / "file").write_bytes(b"")
    assert put(tm, tmp_path / "file", data).returncode == 3
    assert put(tm, "rel", data).returncode == 3
    # A truncated stream is an error, not a silent success.
    full = build_tar(tarfile.PAX_FORMAT, [("big", "f", b"y" * 5000, 0o644, 0)])
    (tmp_path / "t").mkdir()
    assert put(tm, tmp_path / "t", full[:1536]).returncode == 1
    # A corrupt header is refused.
    bad = bytearray(data)
    bad[0] ^= 0x55
    (tmp_path / "c").mkdir()
    assert put(tm, tmp_path / "c", bytes(bad)).returncode == 3


def test_put_no_overwrite_dir_non_dir(tm, tmp_path):
    dest = tmp_path / "dest"
    (dest / "adir").mkdir(parents=True)
    (dest / "afile").write_bytes(b"old")
    file_over_dir = build_tar(tarfile.PAX_FORMAT, [("adir", "f", b"new", 0o644, 0)])
    dir_over_file = build_tar(tarfile.PAX_FORMAT, [("afile", "d", None, 0o755, 0)])
    r = put(tm, dest, file_over_dir, 1)
    assert r.returncode == 3
    assert b"cannot overwrite directory" in r.stderr
    assert b"with non-directory" in r.stderr
    r = put(tm, dest, dir_over_file, 1)
    assert r.returncode == 3
    assert b"cannot overwrite non-directory" in r.stderr
    assert (dest / "adir").is_dir() and (dest / "afile").read_bytes() == b"old"
    # Without the flag both are replaced, as Docker does.
    assert put(tm, dest, file_over_dir, 0).returncode == 0
    assert put(tm, dest, dir_over_file, 0).returncode == 0
    assert (dest / "adir").read_bytes() == b"new"
    assert (dest / "afile").is_dir()
    # Replacing a file with a file is fine even with the flag.
    f2 = build_tar(tarfile.PAX_FORMAT, [("adir", "f", b"newer", 0o644, 0)])
    assert put(tm, dest, f2, 1).returncode == 0
    assert (dest / "adir").read_bytes() == b"newer"


def test_put_existing_symlink_is_replaced_not_followed(tm, tmp_path):
    dest = tmp_path / "dest"
    dest.mkdir()
    outside = tmp_path / "outside.txt"
    outside.write_bytes(b"keep")
    os.symlink(str(outside), dest / "f")
    assert put(tm, dest, build_tar(tarfile.PAX_FORMAT,
                                   [("f", "f", b"new", 0o644, 0)])).returncode == 0
    assert outside.read_bytes() == b"keep"
    assert not os.path.islink(dest / "f")
    assert (dest / "f").read_bytes() == b"new"


# ---- health ----

def health(tm, config, script):
    r = run(tm, "health", json.dumps(config) if not isinstance(config, str)
            else config, stdin="".join(l + "\n" for l in script).encode())
    assert r.returncode == 0, r.stderr
    return r.stdout.decode().splitlines()


def rec(start, end, code, out=b"", timed_out=0):
    return f"rec {start} {end} {code} {timed_out} {out.hex() or '-'}"


S = 1_000_000_000


def test_health_config(tm):
    out = health(tm, {"Test": ["CMD-SHELL", "curl -f localhost || exit 1"]},
                 ["argv", "timeout", "next"])
    assert out[0] == "init 0"
    assert out[1:5] == ["arg:/bin/sh", "arg:-c",
                        "arg:curl -f localhost || exit 1", "end"]
    assert out[5] == "30000"
    assert abs(int(out[6]) - 30000) <= 50
    out = health(tm, {"Test": ["CMD", "/bin/check", "a b", "\u00e9\"\\"],
                      "Interval": 2 * S, "Timeout": 3 * S,
                      "StartPeriod": 10 * S, "StartInterval": S // 2,
                      "Retries": 5}, ["argv", "timeout", "next"])
    assert out[1:5] == ["arg:/bin/check", "arg:a b", "arg:\u00e9\"\\", "end"]
    assert out[5] == "3000"
    assert abs(int(out[6]) - 500) <= 50   # the start interval first
    for bad in ['{"Test":["NONE"]}', '{"Test":[]}', '{}', '{"Test":',
                'not json', '{"Test":["CMD"]}', '[1,2]',
                '{"Test":["CMD-SHELL","x"],"Interval":}',
                '{"Test":["CMD-SHELL","\\ud800"' + "]" * 100 + '}']:
        out = health(tm, bad, ["next", "argv", "json"])
        assert out[0] == "init -1", bad
        assert out[1] == "-1"
        assert out[2] == "end"
        assert json.loads(out[3])["Status"] == "none"
    # Unknown members, nested values and nulls are skipped.
    out = health(tm, '{"X":{"a":[1,{"b":null}],"c":"}"},"Test":["CMD-SHELL",'
                 '"true"],"Retries":null,"Interval":1.5e9,"Y":true}',
                 ["argv", "next"])
    assert out[0] == "init 0"
    assert out[3] == "arg:true"
    assert abs(int(out[5]) - 1500) <= 50


def test_health_retries_and_recovery(tm):
    cfg = {"Test": ["CMD-SHELL", "x"], "Interval": S, "Retries": 2}
    out = health(tm, cfg, [
        "json",
        rec(1000, 1100, 1, b"fail1"), "json",
        rec(2100, 2200, 1, b"fail2"), "json", "next",
        rec(3200, 3300, 0, b"ok\n"), "json",
        rec(4300, 4400, 1), "json",
    ])
    docs = [json.loads(l) for l in out if l.startswith("{")]
    assert docs[0] == {"Status": "starting", "FailingStreak": 0, "Log": []}
    assert (docs[1]["Status"], docs[1]["FailingStreak"]) == ("starting", 1)
    assert (docs[2]["Status"], docs[2]["FailingStreak"]) == ("unhealthy", 2)
    assert abs(int(out[4]) - 3200) <= 50   # End + Interval
    assert (docs[3]["Status"], docs[3]["FailingStreak"]) == ("healthy", 0)
    assert (docs[4]["Status"], docs[4]["FailingStreak"]) == ("healthy", 1)
    e = docs[3]["Log"][-1]
    assert e["ExitCode"] == 0 and e["Output"] == "ok\n"
    assert RFC3339NANO.match(e["Start"]) and RFC3339NANO.match(e["End"])
    assert docs[4]["Log"][-1]["Output"] == ""


def test_health_start_period(tm):
    cfg = {"Test": ["CMD", "check"], "Interval": 5 * S, "StartPeriod": 10 * S,
           "StartInterval": S, "Retries": 1}
    out = health(tm, cfg, [
        rec(1000, 1200, 1), "json", "next",      # in the start period
        rec(2200, 2400, 1), "json",
        rec(11000, 11100, 1), "json", "next",    # after it: counts
    ])
    a, b, c = (json.loads(l) for l in out if l.startswith("{"))
    nexts = [l for l in out[1:] if not l.startswith("{")]
    assert (a["Status"], a["FailingStreak"]) == ("starting", 0)
    assert abs(int(nexts[0]) - 2200) <= 50    # start interval while starting
    assert (b["Status"], b["FailingStreak"]) == ("starting", 0)
    assert len(b["Log"]) == 2
    assert (c["Status"], c["FailingStreak"]) == ("unhealthy", 1)
    assert abs(int(nexts[1]) - 16100) <= 50   # the interval afterwards
    # A success inside the start period ends "starting" at once; failures
    # then count even though the period has not ended.
    out = health(tm, cfg, [rec(500, 600, 0), rec(700, 800, 1), "json", "next"])
    d = json.loads(out[1])
    assert (d["Status"], d["FailingStreak"]) == ("unhealthy", 1)
    assert abs(int(out[2]) - 5800) <= 50


def test_health_log_cap_and_output(tm):
    cfg = {"Test": ["CMD-SHELL", "x"], "Timeout": 1_500_000_000}
    script = [rec(i * 100, i * 100 + 50, i % 2, f"run{i}".encode())
              for i in range(7)]
    script += ["json", f"big 800 900 0 5000", "json",
               rec(1000, 2600, 0, b"ignored", timed_out=1), "json",
               rec(3000, 3100, 3, b"a\x00b\x1b[1m\xff\xfe\xc3\xa9\"\\\t\n"), "json"]
    docs = [json.loads(l) for l in health(tm, cfg, script) if l.startswith("{")]
    log = docs[0]["Log"]
    assert [e["Output"] for e in log] == ["run2", "run3", "run4", "run5", "run6"]
    assert [e["ExitCode"] for e in log] == [0, 1, 0, 1, 0]
    big = docs[1]["Log"][-1]["Output"]
    assert big == "x" * 4096 + "..."
    t = docs[2]["Log"][-1]
    assert t["ExitCode"] == -1
    assert t["Output"] == "Health check exceeded timeout (1.5s)"
    assert docs[2]["Status"] == "healthy"     # 1 failure < 3 retries
    assert docs[2]["FailingStreak"] == 1
    assert docs[3]["Log"][-1]["Output"] == "a\x00b\x1b[1m\ufffd\ufffd\u00e9\"\\\t\n"
    assert docs[3]["Log"][-1]["ExitCode"] == 3
    assert len(docs[3]["Log"]) == 5


@pytest.mark.parametrize("ns,text", [
    (30 * S, "30s"), (S // 2, "500ms"), (90 * S, "1m30s"), (60 * S, "1m0s"),
    (3600 * S + 1, "1h0m0.000000001s"), (1500, "1.5\u00b5s"), (7, "7ns"),
])
def test_health_timeout_text(tm, ns, text):
    out = health(tm, {"Test": ["CMD", "x"], "Timeout": ns},
                 [rec(0, 10, 0, timed_out=1), "json"])
    assert json.loads(out[1])["Log"][0]["Output"] == \
        f"Health check exceeded timeout ({text})"


# ---- robustness: damaged input never crashes ----

def test_put_mutated_tars_never_crash(tm, tmp_path):
    import random
    rng = random.Random(1234)
    # No absolute symlinks: a mutated name could write through one (the
    # agent, like Docker's chroot, follows them within the container's /).
    def safe(fmt):
        return [e for e in entries_for(fmt) if e[0] != "top/abs"]
    base = build_tar(tarfile.PAX_FORMAT, safe(tarfile.PAX_FORMAT))
    base += build_tar(tarfile.GNU_FORMAT, safe(tarfile.GNU_FORMAT))
    for i in range(60):
        data = bytearray(base)
        for _ in range(rng.randint(1, 20)):
            data[rng.randrange(len(data))] = rng.randrange(256)
        if i % 3 == 0:
            data = data[:rng.randrange(len(data))]
        dest = tmp_path / f"m{i}"
        dest.mkdir()
        r = put(tm, dest, bytes(data))
        assert 0 <= r.returncode <= 4, (i, r.returncode, r.stderr)


def test_health_truncated_configs_never_crash(tm):
    cfg = ('{"Test":["CMD-SHELL","echo \\u00e9 \\ud83d\\ude00 \\"q\\""],'
           '"Interval":1000000000,"Timeout":2000000000,"StartPeriod":0,'
           '"StartInterval":0,"Retries":0,"X":[{"y":[null,true,false,-1.5e3]}]}')
    out = health(tm, cfg, ["argv"])
    assert out[0] == "init 0"
    assert out[3] == "arg:echo \u00e9 \U0001F600 \"q\""
    for n in range(len(cfg)):
        out = health(tm, cfg[:n], ["json"])
        assert out[0] in ("init 0", "init -1")
        json.loads(out[1])


# ---- the JSON reader (agent/jread.c), as chan.c, exec.c and lambda.c ----

def jread(tm, typ, key, doc):
    r = run(tm, "jread", typ, key, stdin=doc.encode())
    assert r.returncode == 0, r.stderr
    return r.stdout.decode("utf-8", "replace").splitlines()


def test_jread_members(tm):
    doc = ('{"skip":{"a":[1,-2.5e3,true,false,null,"]"]},"kind":"exec",'
           '"cmd":["sh","-c","echo \\"hi\\"\\n"],"tty":true,"stdin":false,'
           '"rows":24,"signal":-9,"big":1e30,"path":"/a\\/b\\u00e9\\ud83d'
           '\\ude00\\ud800x","env":[]}')
    assert jread(tm, "str", "kind", doc) == ["exec"]
    # Escapes decoded; a surrogate pair joined, a lone one U+FFFD.
    assert jread(tm, "str", "path", doc) == ["/a/b\u00e9\U0001F600\ufffdx"]
    assert jread(tm, "strv", "cmd", doc) == ["sh", "-c", 'echo "hi"', "",
                                             "end"]
    assert jread(tm, "strv", "env", doc) == ["end"]
    assert jread(tm, "bool", "tty", doc) == ["1"]
    assert jread(tm, "bool", "stdin", doc) == ["0"]
    assert jread(tm, "int", "rows", doc) == ["24"]
    assert jread(tm, "int", "signal", doc) == ["-9"]
    assert jread(tm, "int", "big", doc) == ["9200000000000000000"]
    # Absent, or of another type: NULL or the default.
    assert jread(tm, "str", "a", doc) == ["NULL"]
    assert jread(tm, "str", "cmd", doc) == ["NULL"]
    assert jread(tm, "strv", "kind", doc) == ["NULL"]
    assert jread(tm, "bool", "kind", doc) == ["-7"]
    assert jread(tm, "int", "kind", doc) == ["-7"]
    assert jread(tm, "int", "nope", doc) == ["-7"]


@pytest.mark.parametrize("doc", [
    "", "[]", "{}", '{"kind"', '{"kind":', '{"kind":"x', '{"x":tru,"kind":"a"}',
    '{"x":,"kind":"a"}', '{"x":"\\q","kind":"a"}', '{"x":"\x01","kind":"a"}',
    '{"x":' + "[" * 100 + "]" * 100 + ',"kind":"a"}',
    '{"x":1 "kind":"a"}', '{"kind":["a",1]}'])
def test_jread_malformed(tm, doc):
    # Malformed text before the member, or in it, never finds it.
    assert jread(tm, "str", "kind", doc) == ["NULL"]
    assert jread(tm, "strv", "kind", doc) == ["NULL"]
