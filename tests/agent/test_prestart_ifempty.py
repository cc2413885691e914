"""The agent's copy-up (archive_put with "ifEmpty": true, docs/agent-link.md):
the image's content goes into a volume only while it is empty, and the tar's
"./" entry gives the volume's root the image directory's owner and mode."""
import io
import os
import stat
import tarfile

from test_modules import run, tm  # noqa: F401 (the driver fixture)


def copy_up_tar(uid=999, gid=998, mode=0o700):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tf:
        top = tarfile.TarInfo("./")
        top.type = tarfile.DIRTYPE
        top.mode, top.uid, top.gid, top.mtime = mode, uid, gid, 1_500_000_000
        tf.addfile(top)
        sub = tarfile.TarInfo("./conf")
        sub.type = tarfile.DIRTYPE
        sub.mode, sub.uid, sub.gid = 0o755, uid, gid
        tf.addfile(sub)
        data = b"from the image\n"
        f = tarfile.TarInfo("./conf/app.ini")
        f.size, f.mode, f.uid, f.gid = len(data), 0o640, uid, gid
        tf.addfile(f, io.BytesIO(data))
    return buf.getvalue()


def put_if_empty(tm, dest, data):  # noqa: F811
    return run(tm, "put", str(dest), "0", "1", stdin=data)


def test_empty_dir_gets_content_owner_and_mode(tm, tmp_path):  # noqa: F811
    vol = tmp_path / "vol"
    vol.mkdir(mode=0o755)
    r = put_if_empty(tm, vol, copy_up_tar())
    assert r.returncode == 0, r.stderr
    assert (vol / "conf" / "app.ini").read_bytes() == b"from the image\n"
    st = os.stat(vol)
    assert stat.S_IMODE(st.st_mode) == 0o700
    if os.geteuid() == 0:
        assert (st.st_uid, st.st_gid) == (999, 998)
        f = os.stat(vol / "conf" / "app.ini")
        assert (f.st_uid, f.st_gid) == (999, 998)
    assert int(st.st_mtime) == 1_500_000_000


def test_missing_dir_is_made(tm, tmp_path):  # noqa: F811
    vol = tmp_path / "a" / "b" / "vol"
    r = put_if_empty(tm, vol, copy_up_tar(mode=0o750))
    assert r.returncode == 0, r.stderr
    assert (vol / "conf" / "app.ini").exists()
    assert stat.S_IMODE(os.stat(vol).st_mode) == 0o750


def test_non_empty_dir_untouched(tm, tmp_path):  # noqa: F811
    vol = tmp_path / "vol"
    vol.mkdir(mode=0o755)
    (vol / "mine").write_text("kept\n")
    before = os.stat(vol)
    r = put_if_empty(tm, vol, copy_up_tar())
    assert r.returncode == 0, r.stderr
    assert sorted(os.listdir(vol)) == ["mine"]
    after = os.stat(vol)
    assert stat.S_IMODE(after.st_mode) == 0o755
    assert (after.st_uid, after.st_gid) == (before.st_uid, before.st_gid)


def test_target_not_a_directory(tm, tmp_path):  # noqa: F811
    f = tmp_path / "file"
    f.write_text("x")
    r = put_if_empty(tm, f, copy_up_tar())
    assert r.returncode == 3, r.stderr
    assert f.read_text() == "x"


def test_without_if_empty_top_unchanged(tm, tmp_path):  # noqa: F811
    """A plain put (docker cp) leaves the destination's own mode alone."""
    vol = tmp_path / "vol"
    vol.mkdir(mode=0o755)
    os.chmod(vol, 0o755)
    r = run(tm, "put", str(vol), "0", stdin=copy_up_tar())
    assert r.returncode == 0, r.stderr
    assert stat.S_IMODE(os.stat(vol).st_mode) == 0o755
    assert (vol / "conf" / "app.ini").exists()
