"""The packages of deploy/deb.sh: lintian, their contents and control
files, the units, and the maintainer scripts in a clean Debian 12 chroot
(install, backend swap, remove, reinstall, upgrade, purge). Booting them
under systemd is test_boot.py (make check-deb)."""
import hashlib
import os
import re
import shutil

import pytest

from deb_lib import BACKENDS, PACKAGES, run


def test_lintian_clean(debs):
    """No error or warning, pedantic tags included; the overrides in the
    packages say why each one is there."""
    if shutil.which("lintian") is None:
        pytest.fail("lintian is not installed (deploy/deps.sh installs it)")
    p = run(["lintian", "--pedantic", "--fail-on", "error,warning,pedantic"]
            + sorted(debs.values()), check=False)
    tags = [line for line in p.stdout.splitlines() if re.match(r"^[EWP]: ", line)]
    assert not tags and p.returncode == 0, p.stdout + p.stderr


def control(unpacked, pkg):
    fields = {}
    key = None
    with open(os.path.join(unpacked[pkg], "DEBIAN/control"), encoding="utf-8") as f:
        for line in f:
            if line[0].isspace() and key:
                fields[key] += "\n" + line.strip()
            else:
                key, _, value = line.partition(":")
                fields[key] = value.strip()
    return fields


def test_control_fields(unpacked):
    for pkg in PACKAGES:
        c = control(unpacked, pkg)
        assert c["Package"] == pkg
        assert c["Source"] == "sockerless"
        assert re.fullmatch(r"\d+\.\d+\.\d+-\d+", c["Version"])
        assert c["Maintainer"] and c["Description"] and int(c["Installed-Size"]) > 0
    for pkg in ["sockerless-frontend"] + [f"sockerless-backend-{b}" for b in BACKENDS]:
        deps = control(unpacked, pkg)["Depends"]
        # from dpkg-shlibdeps: the libraries the binary links, versioned
        for lib in ("libc6 (>=", "libevent-2.1-7", "libssl3", "libyaml-0-2", "libcjson1"):
            assert lib in deps, f"{pkg}: {deps}"
        assert "sockerless-common (= " in deps
    assert "libcurl4" in control(unpacked, "sockerless-backend-ecs")["Depends"]
    assert "libcurl4" not in control(unpacked, "sockerless-frontend")["Depends"]
    assert control(unpacked, "sockerless-common")["Architecture"] == "all"
    for b in ("lambda", "cloudrun", "gcf", "azfunc"):
        # they copy /usr/lib/sockerless/sockerless-agent into derived images
        assert "sockerless-agent (= " in control(unpacked, f"sockerless-backend-{b}")["Depends"]


def test_files_md5sums_copyright(unpacked):
    for pkg in PACKAGES:
        d = unpacked[pkg]
        doc = os.path.join(d, "usr/share/doc", pkg)
        with open(os.path.join(doc, "copyright"), encoding="utf-8") as f:
            assert f.readline().startswith("Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/")
        assert os.path.exists(os.path.join(doc, "changelog.Debian.gz"))
        sums = {}
        with open(os.path.join(d, "DEBIAN/md5sums"), encoding="utf-8") as f:
            for line in f:
                digest, path = line.rstrip("\n").split("  ", 1)
                sums[path] = digest
        files = set()
        for top, _, names in os.walk(d):
            for n in names:
                rel = os.path.relpath(os.path.join(top, n), d)
                if not rel.startswith("DEBIAN/"):
                    files.add(rel)
        assert files == set(sums), pkg
        for rel, digest in sums.items():
            with open(os.path.join(d, rel), "rb") as f:
                assert hashlib.md5(f.read()).hexdigest() == digest, rel
        etc = sorted("/" + f for f in files if f.startswith("etc/"))
        conffiles = os.path.join(d, "DEBIAN/conffiles")
        listed = open(conffiles, encoding="utf-8").read().split() if os.path.exists(conffiles) else []
        assert listed == etc, pkg


def unit(unpacked, pkg, name):
    with open(os.path.join(unpacked[pkg], "lib/systemd/system", name), encoding="utf-8") as f:
        return f.read()


def test_units(unpacked):
    sock = unit(unpacked, "sockerless-frontend", "sockerless.socket")
    for line in ("ListenStream=/run/sockerless/docker.sock", "SocketGroup=sockerless",
                 "SocketMode=0660", "Service=sockerless-frontend.service"):
        assert line in sock.splitlines()
    fe = unit(unpacked, "sockerless-frontend", "sockerless-frontend.service")
    assert "Wants=sockerless-backend.service" in fe.splitlines()
    assert "ecs" not in fe
    with open(os.path.join(unpacked["sockerless-frontend"], "etc/sockerless/frontend.yaml"),
              encoding="utf-8") as f:
        conf = f.read()
    assert re.search(r"^hosts:\n  - fd://$", conf, re.M) and not re.search(r"^listen:", conf, re.M)
    for b in BACKENDS:
        pkg = f"sockerless-backend-{b}"
        u = unit(unpacked, pkg, f"{pkg}.service").splitlines()
        assert "Alias=sockerless-backend.service" in u
        conflicts = [x for x in u if x.startswith("Conflicts=")][0].split("=", 1)[1].split()
        assert sorted(conflicts) == sorted(f"sockerless-backend-{o}.service"
                                           for o in BACKENDS if o != b)
        assert f"ExecStart=/usr/bin/{pkg} --config /etc/sockerless/backend-{b}.yaml" in u
        for h in ("NoNewPrivileges=yes", "ProtectSystem=strict", "User=sockerless"):
            assert h in u
        assert os.path.exists(os.path.join(unpacked[pkg], f"etc/sockerless/backend-{b}.yaml"))
    agent = unpacked["sockerless-agent"]
    assert os.access(os.path.join(agent, "usr/lib/sockerless/sockerless-agent"), os.X_OK)
    assert os.access(os.path.join(agent, "usr/bin/sockerless-agent-image"), os.X_OK)


def all_debs(debs, *names):
    return [debs[n] for n in names]


def test_install_swap_remove_purge(debs, root):
    out = root.install(all_debs(debs, "sockerless-common", "sockerless-frontend",
                                "sockerless-agent", "sockerless-backend-ecs"))
    assert "sockerless-backend-ecs: enabled as sockerless-backend.service" in out
    assert root.sh("getent passwd sockerless").stdout.split(":")[6].strip() == "/usr/sbin/nologin"
    assert root.sh("getent group sockerless").returncode == 0
    # the socket enabled (socket activation), the backend behind the alias
    assert root.readlink("/etc/systemd/system/sockets.target.wants/sockerless.socket") \
        == "/lib/systemd/system/sockerless.socket"
    assert root.readlink("/etc/systemd/system/sockerless-backend.service") \
        == "/lib/systemd/system/sockerless-backend-ecs.service"
    assert root.exists("/etc/systemd/system/multi-user.target.wants/sockerless-backend-ecs.service")
    # the installed configurations pass -n
    root.sh("sockerless-frontend -n --config /etc/sockerless/frontend.yaml")
    root.sh("sockerless-backend-ecs -n --config /etc/sockerless/backend-ecs.yaml")

    # a second backend is installed, not enabled: the message says how to swap
    out = root.install(all_debs(debs, "sockerless-backend-lambda"))
    assert ("not enabled: sockerless-backend-ecs.service is the enabled backend" in out
            and "systemctl enable --now sockerless-backend-lambda.service" in out), out
    assert root.readlink("/etc/systemd/system/sockerless-backend.service").endswith("-ecs.service")
    assert not root.exists("/etc/systemd/system/multi-user.target.wants/sockerless-backend-lambda.service")
    # the swap: disable one, enable another
    root.sh("systemctl disable sockerless-backend-ecs.service 2>&1; "
            "systemctl enable sockerless-backend-lambda.service 2>&1")
    assert root.readlink("/etc/systemd/system/sockerless-backend.service").endswith("-lambda.service")
    # enabling the other one while lambda holds the alias is refused
    p = root.sh("systemctl enable sockerless-backend-ecs.service", check=False)
    assert p.returncode != 0
    assert root.readlink("/etc/systemd/system/sockerless-backend.service").endswith("-lambda.service")

    # the other backends beside them: none enabled; every unit verified
    # by systemd-analyze in the root (the binaries they name are there)
    others = [f"sockerless-backend-{b}" for b in BACKENDS if b not in ("ecs", "lambda")]
    root.install(all_debs(debs, *others))
    assert root.readlink("/etc/systemd/system/sockerless-backend.service").endswith("-lambda.service")
    for o in others:
        assert not root.exists(f"/etc/systemd/system/multi-user.target.wants/{o}.service")
    units = ["sockerless.socket", "sockerless-frontend.service"] + [
        f"sockerless-backend-{b}.service" for b in BACKENDS]
    p = root.sh("cd /lib/systemd/system && SYSTEMD_LOG_LEVEL=notice systemd-analyze verify "
                + " ".join(units) + " 2>&1", check=False)
    assert p.returncode == 0 and "sockerless" not in p.stdout, p.stdout
    root.sh("dpkg --purge " + " ".join(others))

    # remove: disabled, the alias freed; ecs, reinstalled later, takes it
    root.sh("dpkg --remove sockerless-backend-lambda")
    assert not root.exists("/etc/systemd/system/sockerless-backend.service")
    assert root.exists("/etc/sockerless/backend-lambda.yaml")  # conffile kept
    out = root.install(all_debs(debs, "sockerless-backend-lambda"))
    assert "enabled as sockerless-backend.service" in out, out  # it was enabled when removed
    root.sh("systemctl disable sockerless-backend-lambda.service 2>&1; "
            "systemctl enable sockerless-backend-ecs.service 2>&1")

    # upgrade path (same version again): an edited conffile is kept, the
    # enablement untouched
    root.sh("echo '# edited' >> /etc/sockerless/frontend.yaml")
    root.install(all_debs(debs, "sockerless-frontend", "sockerless-backend-ecs"))
    assert root.sh("tail -1 /etc/sockerless/frontend.yaml").stdout.strip() == "# edited"
    assert root.readlink("/etc/systemd/system/sockerless-backend.service").endswith("-ecs.service")

    # purge: state, configuration, links, user and group gone
    root.sh("mkdir -p /var/lib/sockerless/ecs && touch /var/lib/sockerless/ecs/state.db")
    root.sh("dpkg --purge sockerless-backend-lambda sockerless-backend-ecs sockerless-agent "
            "sockerless-frontend")
    assert not root.exists("/var/lib/sockerless/ecs")
    assert not root.exists("/etc/systemd/system/sockerless-backend.service")
    root.sh("dpkg --purge sockerless-common")
    assert not root.exists("/var/lib/sockerless")
    assert not root.exists("/etc/sockerless")
    assert root.sh("getent passwd sockerless", check=False).returncode == 2
    assert root.sh("getent group sockerless", check=False).returncode == 2
    left = root.sh("find /etc/systemd /var/lib/systemd/deb-systemd-helper-enabled "
                   "-name '*sockerless*'").stdout.split()
    assert left == [], left
