"""Helpers of the package tests (tests/deb): the packages of deploy/deb.sh,
a clean Debian 12 root made once by debootstrap from the host's package
mirror and kept under SK_DEB_CACHE, and throwaway copies of it (overlayfs
over the cached root) to install the packages in.

Environment: BUILD (the build the packages are made from, default build),
SK_DEB_DIR (packages already built: skips deploy/deb.sh), SK_DEB_CACHE
(default /var/cache/sockerless-deb: the root and apt's downloaded
archives), SK_DEB_MIRROR (default: the host's apt source for bookworm)."""
import fcntl
import glob
import os
import re
import shutil
import subprocess
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD = os.path.join(ROOT, os.environ.get("BUILD", "build"))
CACHE = os.environ.get("SK_DEB_CACHE", "/var/cache/sockerless-deb")
SUITE = "bookworm"
BACKENDS = ["ecs", "lambda", "cloudrun", "gcf", "aca", "azfunc"]
PACKAGES = (["sockerless-common", "sockerless-frontend", "sockerless-agent"]
            + [f"sockerless-backend-{b}" for b in BACKENDS])


def run(cmd, check=True, **kw):
    """Runs cmd (a list, or a string for sh -c), returning the
    CompletedProcess with text stdout and stderr."""
    if isinstance(cmd, str):
        cmd = ["sh", "-c", cmd]
    p = subprocess.run(cmd, capture_output=True, text=True, **kw)
    if check and p.returncode != 0:
        raise AssertionError(f"{cmd} exited {p.returncode}\nstdout: {p.stdout}\n"
                             f"stderr: {p.stderr}")
    return p


def build_debs(out):
    """The packages of this tree's build, written into out by deploy/deb.sh;
    returns {package: path}."""
    given = os.environ.get("SK_DEB_DIR")
    if given:
        out = given
    else:
        run([os.path.join(ROOT, "deploy/deb.sh")],
            env=dict(os.environ, BUILD=BUILD, DEB_OUT=out))
    debs = {}
    for path in glob.glob(os.path.join(out, "*.deb")):
        debs[os.path.basename(path).split("_")[0]] = path
    missing = set(PACKAGES) - set(debs)
    assert not missing, f"deploy/deb.sh made no {sorted(missing)} in {out}"
    return debs


def host_mirror():
    """The host's apt source of Debian's main archive (deb822 or one-line
    format), so the root comes from the same mirror apt uses here."""
    if os.environ.get("SK_DEB_MIRROR"):
        return os.environ["SK_DEB_MIRROR"]
    for path in sorted(glob.glob("/etc/apt/sources.list.d/*.sources")):
        with open(path, encoding="utf-8") as f:
            for stanza in f.read().split("\n\n"):
                uris = re.search(r"^URIs:\s*(\S+)", stanza, re.M)
                suites = re.search(r"^Suites:\s*(.*)$", stanza, re.M)
                if uris and suites and SUITE in suites.group(1).split():
                    return uris.group(1)
    for path in ["/etc/apt/sources.list"] + sorted(glob.glob("/etc/apt/sources.list.d/*.list")):
        if not os.path.exists(path):
            continue
        with open(path, encoding="utf-8") as f:
            for line in f:
                m = re.match(r"deb\s+(?:\[[^]]*\]\s+)?(\S+)\s+" + SUITE + r"\s", line)
                if m:
                    return m.group(1)
    raise AssertionError("no apt source for bookworm on this host: set SK_DEB_MIRROR")


def base_root():
    """The cached clean root (minbase + systemd), made once by debootstrap
    under a lock so parallel runs share it."""
    os.makedirs(CACHE, exist_ok=True)
    root = os.path.join(CACHE, SUITE)
    with open(os.path.join(CACHE, "lock"), "w", encoding="utf-8") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if os.path.exists(os.path.join(root, ".sk-complete")):
            return root
        tmp = root + ".tmp"
        shutil.rmtree(tmp, ignore_errors=True)
        run(["debootstrap", "--variant=minbase", "--include=systemd,systemd-sysv,dbus",
             SUITE, tmp, host_mirror()], timeout=1800)
        shutil.copy("/etc/resolv.conf", os.path.join(tmp, "etc/resolv.conf"))
        run(["chroot", tmp, "apt-get", "update", "-q"], timeout=600)
        open(os.path.join(tmp, ".sk-complete"), "w", encoding="utf-8").close()
        shutil.rmtree(root, ignore_errors=True)
        os.rename(tmp, root)
        return root


class Root:
    """A throwaway root: an overlay of the cached one, apt's archives
    cached across runs, /proc and /dev bound for the maintainer scripts."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="sk-debroot-")
        self.path = os.path.join(self.dir, "root")
        self.mounts = []
        for d in ("up", "work", "root"):
            os.makedirs(os.path.join(self.dir, d))
        self._mount(["-t", "overlay", "overlay", "-o",
                     f"lowerdir={base_root()},upperdir={self.dir}/up,workdir={self.dir}/work"],
                    self.path)
        archives = os.path.join(CACHE, "archives")
        os.makedirs(os.path.join(archives, "partial"), exist_ok=True)
        self._mount(["--bind", archives], os.path.join(self.path, "var/cache/apt/archives"))
        self._mount(["-t", "proc", "proc"], os.path.join(self.path, "proc"))
        self._mount(["--rbind", "/dev"], os.path.join(self.path, "dev"))
        shutil.copy("/etc/resolv.conf", os.path.join(self.path, "etc/resolv.conf"))

    def _mount(self, args, target):
        run(["mount"] + args + [target])
        self.mounts.append(target)

    def sh(self, script, check=True, timeout=600):
        """Runs script with sh -ec in the root (chroot)."""
        env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8",
               "DEBIAN_FRONTEND": "noninteractive"}
        return run(["chroot", self.path, "sh", "-ec", script], check=check,
                   env=env, timeout=timeout)

    def copy_in(self, paths, dest="/tmp/debs"):
        os.makedirs(self.path + dest, exist_ok=True)
        for p in paths:
            shutil.copy(p, self.path + dest)
        return [f"{dest}/{os.path.basename(p)}" for p in paths]

    def install(self, debs):
        """dpkg -i of the packages, their dependencies from the mirror;
        returns the output (the maintainer scripts' messages)."""
        inside = self.copy_in(debs)
        p = self.sh(f"dpkg -i {' '.join(inside)} || apt-get -q -y -f install", check=False)
        assert p.returncode == 0, p.stdout + p.stderr
        for path in inside:
            name = os.path.basename(path).split("_")[0]
            st = self.sh(f"dpkg-query -W -f='${{Status}}' {name}").stdout
            assert st == "install ok installed", f"{name}: {st}\n{p.stdout}{p.stderr}"
        return p.stdout + p.stderr

    def exists(self, path):
        return os.path.lexists(self.path + path)

    def readlink(self, path):
        return os.readlink(self.path + path)

    def close(self):
        for m in reversed(self.mounts):
            run(["umount", "-l", m], check=False)
        self.mounts = []
        shutil.rmtree(self.dir, ignore_errors=True)
