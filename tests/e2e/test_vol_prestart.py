"""Files before start (docs/volumes.md, "Files before start"): `docker cp`
and docker-py's put_archive into a created container, seen by the command
when it starts, as with dockerd (the same tests pass against the reference
engine)."""
import io
import os
import tarfile

import pytest

from e2e_lib import BUSYBOX, dk, dk_ok, inspect, pyrun_kwargs


def test_cp_before_start_cli(name, tmp_path):
    src = tmp_path / "greeting.txt"
    src.write_text("hello from docker cp\n")
    dk_ok("create", "--name", name, BUSYBOX, "cat", "/greeting.txt")
    dk_ok("cp", str(src), f"{name}:/greeting.txt")
    p = dk("start", "-a", name, timeout=180)
    assert p.returncode == 0, p.stderr
    assert p.stdout == "hello from docker cp\n"
    # The files stay for the next start, as in the container's layer.
    p = dk("start", "-a", name, timeout=180)
    assert p.returncode == 0, p.stderr
    assert p.stdout == "hello from docker cp\n"


def test_cp_directory_before_start_cli(name, tmp_path):
    d = tmp_path / "conf"
    d.mkdir()
    (d / "a.ini").write_text("a=1\n")
    (d / "sub").mkdir()
    (d / "sub" / "b.ini").write_text("b=2\n")
    # A destination the image lacks: the CLI sends the tree renamed to it,
    # into its parent (no HEAD answer is needed to decide).
    dk_ok("create", "--name", name, BUSYBOX, "sh", "-c",
          "cat /conf/a.ini /conf/sub/b.ini")
    dk_ok("cp", str(d), f"{name}:/conf")
    p = dk("start", "-a", name, timeout=180)
    assert p.returncode == 0, p.stderr
    assert p.stdout == "a=1\nb=2\n"


def _tar(files):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        for fname, data in files:
            ti = tarfile.TarInfo(fname)
            ti.size = len(data)
            ti.mode = 0o644
            tf.addfile(ti, io.BytesIO(data))
    return buf.getvalue()


def test_put_archive_dockerpy_in_order(pyclient, name):
    c = pyclient.containers.create(
        BUSYBOX, ["sh", "-c", "cat /tmp/pre/a.txt /tmp/pre/b.txt"],
        name=name, **pyrun_kwargs())
    assert c.put_archive("/tmp", _tar([("pre/a.txt", b"first\n"),
                                       ("pre/b.txt", b"old\n")]))
    # A later put over an earlier one wins, as the puts apply in order.
    assert c.put_archive("/tmp/pre", _tar([("b.txt", b"second\n")]))
    c.start()
    assert c.wait(timeout=180)["StatusCode"] == 0
    assert c.logs() == b"first\nsecond\n"


def test_put_archive_runs_as_image_user_file_mode(pyclient, name):
    """The mode the tar gives survives the copy (dockerd keeps it)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        data = b"#!/bin/sh\necho script ran\n"
        ti = tarfile.TarInfo("run.sh")
        ti.size, ti.mode = len(data), 0o755
        tf.addfile(ti, io.BytesIO(data))
    c = pyclient.containers.create(BUSYBOX, ["/run.sh"], name=name,
                                   **pyrun_kwargs())
    assert c.put_archive("/", buf.getvalue())
    c.start()
    assert c.wait(timeout=180)["StatusCode"] == 0
    assert c.logs() == b"script ran\n"


def test_cp_into_missing_dir(name, tmp_path, target):
    """dockerd refuses the copy into a directory the image lacks; sockerless
    learns it when the agent unpacks, and the start fails with the same
    sentence (docs/volumes.md); the command never runs."""
    src = tmp_path / "x.txt"
    src.write_text("x\n")
    dk_ok("create", "--name", name, BUSYBOX, "echo", "ran")
    p = dk("cp", str(src), f"{name}:/no/such/dir/x.txt")
    if target == "reference":
        assert p.returncode != 0
        assert "Could not find the file /no/such/dir" in p.stderr, p.stderr
        return
    assert p.returncode == 0, p.stderr
    p = dk("start", "-a", name, timeout=180)
    assert p.returncode != 0
    assert "Could not find the file /no/such/dir in container" in p.stderr, p.stderr
    assert "ran" not in p.stdout
    st = inspect(name)["State"]
    assert st["Status"] != "running" and "Could not find the file" in st["Error"], st


def test_archive_max_bound(apiclient, name, target):
    """The archives kept for a container that has not started are bounded
    (archive_max, 64 MiB by default): one more answers 413 naming the key,
    and what was kept before still arrives."""
    if target != "sockerless":
        pytest.skip("dockerd writes puts into the container's layer, unbounded")
    dk_ok("create", "--name", name, BUSYBOX, "sh", "-c", "wc -c < /big1.bin")
    big = _tar([("big1.bin", os.urandom(40 << 20))])
    assert apiclient.put_archive(name, "/", big)
    big = _tar([("big2.bin", os.urandom(40 << 20))])
    with pytest.raises(Exception) as e:
        apiclient.put_archive(name, "/", big)
    assert "413" in str(e.value) and "(archive_max)" in str(e.value), str(e.value)
    p = dk("start", "-a", name, timeout=300)
    assert p.returncode == 0, p.stderr
    assert p.stdout.strip() == str(40 << 20)
