"""docker pull, images, image inspect, tag, rmi; OCI and multi-arch images."""
import json
import platform
import re
import uuid

from e2e_lib import BUSYBOX, MULTIARCH, OCIIMAGE, TARGET, TESTIMAGE, dk_ok

DIGEST = re.compile(r"Digest: (sha256:[0-9a-f]{64})")


def pull(docker, ref):
    p = docker("pull", ref, timeout=180)
    assert p.returncode == 0, (p.stdout, p.stderr)
    return p.stdout


def test_pull_busybox(docker):
    out = pull(docker, BUSYBOX)
    assert "Status:" in out, out
    assert DIGEST.search(out), out
    assert "docker.io/library/busybox:latest" in out, out


def test_pull_by_digest(docker):
    digest = DIGEST.search(pull(docker, BUSYBOX)).group(1)
    out = pull(docker, f"busybox@{digest}")
    assert "Status:" in out and digest in out, out
    d = json.loads(dk_ok("image", "inspect", BUSYBOX))[0]
    assert f"busybox@{digest}" in d["RepoDigests"], d["RepoDigests"]


def test_images_lists_busybox(docker):
    pull(docker, BUSYBOX)
    refs = dk_ok("images", "--format", "{{.Repository}}:{{.Tag}}").split()
    assert "busybox:latest" in refs, refs
    rows = dk_ok("images", "--filter", "reference=busybox",
                 "--format", "{{.Repository}} {{.Tag}} {{.ID}}").splitlines()
    assert any(r.startswith("busybox latest ") for r in rows), rows
    assert dk_ok("images", "-q", BUSYBOX).strip(), "docker images -q busybox is empty"


def test_image_inspect_busybox(docker):
    pull(docker, BUSYBOX)
    d = json.loads(dk_ok("image", "inspect", BUSYBOX))[0]
    assert d["Id"].startswith("sha256:"), d["Id"]
    assert "busybox:latest" in d["RepoTags"], d["RepoTags"]
    assert isinstance(d["Config"]["Cmd"], list) and d["Config"]["Cmd"], d["Config"]
    assert d["Os"] == "linux" and d["Architecture"], d
    assert dk_ok("image", "inspect", "--format", "{{.Os}}", BUSYBOX).strip() == "linux"


def test_image_inspect_testimage(docker):
    pull(docker, TESTIMAGE)
    cfg = json.loads(dk_ok("image", "inspect", TESTIMAGE))[0]["Config"]
    assert cfg["Entrypoint"] == ["/bin/echo"], cfg
    assert cfg["Cmd"] == ["from-cmd"], cfg
    assert "TESTVAR=fromimage" in cfg["Env"], cfg
    assert cfg["WorkingDir"] == "/work", cfg
    assert cfg["User"] == "65534", cfg
    assert "8080/tcp" in cfg["ExposedPorts"], cfg
    assert cfg["Labels"].get("org.sockerless.test") == "yes", cfg
    assert cfg["StopSignal"] == "SIGINT", cfg
    test = cfg["Healthcheck"]["Test"]
    assert test[0] in ("CMD", "CMD-SHELL") and test[-1] == "true", cfg


def test_tag_and_rmi(docker):
    pull(docker, BUSYBOX)
    tag = f"ske2e-tag-{uuid.uuid4().hex[:8]}"
    p = docker("tag", BUSYBOX, f"{tag}:1")
    assert p.returncode == 0, p.stderr
    try:
        refs = dk_ok("images", "--format", "{{.Repository}}:{{.Tag}}").split()
        assert f"{tag}:1" in refs, refs
        a = json.loads(dk_ok("image", "inspect", BUSYBOX))[0]["Id"]
        b = json.loads(dk_ok("image", "inspect", f"{tag}:1"))[0]["Id"]
        assert a == b
    finally:
        p = docker("rmi", f"{tag}:1")
    assert p.returncode == 0, p.stderr
    assert f"Untagged: {tag}:1" in p.stdout, p.stdout
    refs = dk_ok("images", "--format", "{{.Repository}}:{{.Tag}}").split()
    assert f"{tag}:1" not in refs and "busybox:latest" in refs, refs
    p = docker("image", "inspect", f"{tag}:1")
    assert p.returncode != 0 and "No such image" in p.stderr, p.stderr


def test_rmi_unknown(docker):
    p = docker("rmi", f"ske2e-none-{uuid.uuid4().hex[:8]}:1")
    assert p.returncode != 0 and "No such image" in p.stderr, p.stderr


def test_pull_nonexistent(docker):
    ref = f"sockerless/does-not-exist-{uuid.uuid4().hex[:8]}"
    p = docker("pull", ref, timeout=180)
    assert p.returncode != 0, p.stdout
    assert "Error response from daemon" in p.stderr, p.stderr
    if TARGET == "sockerless":
        # The reference bed's dockerd falls back to Docker Hub, which this
        # machine cannot reach, so only sockerless' message is checked.
        low = p.stderr.lower()
        assert ref in p.stderr, p.stderr
        assert any(w in low for w in ("not found", "manifest unknown", "does not exist",
                                      "pull access denied", "name unknown")), p.stderr


def test_run_nonexistent_image(docker):
    ref = f"sockerless/does-not-exist-{uuid.uuid4().hex[:8]}"
    p = docker("run", "--rm", ref, timeout=180)
    assert p.returncode == 125, (p.returncode, p.stderr)
    assert "Unable to find image" in p.stderr, p.stderr


def test_pull_oci_image(docker):
    out = pull(docker, OCIIMAGE)
    assert "Status:" in out and DIGEST.search(out), out
    d = json.loads(dk_ok("image", "inspect", OCIIMAGE))[0]
    assert d["Os"] == "linux", d
    p = docker("run", "--rm", OCIIMAGE, "echo", "oci-ok")
    assert p.returncode == 0 and p.stdout == "oci-ok\n", (p.stdout, p.stderr)


def test_pull_multiarch_image(docker):
    out = pull(docker, MULTIARCH)
    assert "Status:" in out and DIGEST.search(out), out
    d = json.loads(dk_ok("image", "inspect", MULTIARCH))[0]
    want = {"x86_64": "amd64", "aarch64": "arm64"}.get(platform.machine(), "amd64")
    assert d["Architecture"] == want, d["Architecture"]
    assert d["Os"] == "linux"
    p = docker("run", "--rm", MULTIARCH, "echo", "multi-ok")
    assert p.returncode == 0 and p.stdout == "multi-ok\n", (p.stdout, p.stderr)
