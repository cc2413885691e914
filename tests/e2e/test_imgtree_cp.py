"""docker cp from a created (never started) container: the image's files
(docs/volumes.md "Files of a created container"), by the real docker CLI
and docker-py; the same assertions hold against the reference dockerd."""
import io
import os
import tarfile

from e2e_lib import BUSYBOX, dk, dk_ok


def created(docker, name):
    docker("pull", BUSYBOX, timeout=180)
    dk_ok("create", "--name", name, BUSYBOX, "true")


def test_cp_file_and_dir_from_created(docker, name, tmp_path):
    created(docker, name)
    dk_ok("cp", f"{name}:/etc/passwd", str(tmp_path))
    with open(tmp_path / "passwd") as f:
        assert f.read().startswith("root:")
    dk_ok("cp", f"{name}:/bin/.", str(tmp_path / "bin"))
    assert os.path.islink(tmp_path / "bin" / "ls") or os.path.isfile(tmp_path / "bin" / "ls")
    assert len(os.listdir(tmp_path / "bin")) > 100
    # Piped out as a tar, with the stat the CLI reads first.
    p = dk("cp", f"{name}:/etc", "-")
    assert p.returncode == 0, p.stderr
    names = tarfile.open(fileobj=io.BytesIO(p.stdout.encode("latin-1")
                                            if isinstance(p.stdout, str) else p.stdout)).getnames()
    assert "etc" in names and "etc/passwd" in names and "etc/group" in names, names


def test_cp_missing_path_from_created(docker, name):
    created(docker, name)
    p = dk("cp", f"{name}:/nope/x", "-")
    assert p.returncode != 0
    assert f"Could not find the file /nope/x in container {name}" in p.stderr, p.stderr


def test_archive_api_from_created(apiclient, name, docker):
    created(docker, name)
    st = apiclient.get_archive(name, "/etc/passwd")[1]
    assert st["name"] == "passwd" and st["size"] > 0 and st["linkTarget"] == "", st
    assert st["mode"] & 0o777 == 0o644, st
    st = apiclient.get_archive(name, "/bin/ls")[1]
    assert st["linkTarget"] == "/bin/busybox", st
    assert st["mode"] & (1 << 27), st
    bits, st = apiclient.get_archive(name, "/etc/.")
    assert st["name"] == "." and st["mode"] & (1 << 31), st
    names = tarfile.open(fileobj=io.BytesIO(b"".join(bits))).getnames()
    assert "./group" in names, names
