#!/usr/bin/python3
"""Builds sockerless's container images offline, from this tree's binaries.

    deploy/mkimage.py build --build build --out build/images [NAME ...]

NAME is frontend, backend-<name> (ecs, lambda, cloudrun, gcf, aca, azfunc)
or agent; build makes all of them when none is named. No base image and no
builder daemon: each daemon image is two layers written here,
  1. the runtime: the ELF loader and every shared library the binary needs
     (its DT_NEEDED entries, resolved through the Debian system's linker
     cache, transitively), /etc/ssl/certs/ca-certificates.crt, /etc/passwd
     and /etc/group with the user sockerless (uid and gid 10001),
     /etc/nsswitch.conf, /run/sockerless and /var/lib/sockerless owned by
     that user, /tmp; no shell, no package manager, no tzdata (the daemons
     log and answer in UTC);
  2. the program: /usr/bin/sockerless-frontend or
     /usr/bin/sockerless-backend-<name>, without debug sections (the backends also carry the agent
     at /usr/lib/sockerless/sockerless-agent, their agent_path default).
They run as sockerless (10001:10001). The agent image is the one
deploy/agent-image.py pushes (/sockerless-agent alone, the ECS and aca init
containers run `/sockerless-agent --install PATH` as root into the task's
empty volume), labelled like the others.

Each image is written as an OCI image layout, OUT/NAME/ (oci-layout,
index.json, blobs/sha256/), and as OUT/NAME.tar, the same layout plus
Docker's manifest.json, which `docker load` takes (tags
sockerless/NAME:VERSION and sockerless/NAME:latest). The image config
labels and the manifest annotations carry org.opencontainers.image.version,
.revision (git HEAD), .source (--source, else the git remote origin;
without either it is left out, and said so) and .title. Reproducible: files
sorted, mtime 0, uid/gid fixed, gzip without a timestamp, created = the
commit's time; the same tree gives the same digests.

sockerless-push (deploy/push/push.c: the backends' registry client, common/reg)
sends a layout to a registry. Python 3 standard library only."""

import argparse
import gzip
import hashlib
import io
import json
import os
import re
import struct
import subprocess
import sys
import tarfile
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
BACKENDS = ("ecs", "lambda", "cloudrun", "gcf", "aca", "azfunc")
UID = GID = 10001
USER = "sockerless"
ARCH_DIR = "usr/lib/x86_64-linux-gnu"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"
CA_BUNDLE = "/etc/ssl/certs/ca-certificates.crt"


def die(message):
    print("mkimage: %s" % message, file=sys.stderr)
    sys.exit(1)


def sha256(data):
    return "sha256:" + hashlib.sha256(data).hexdigest()


# --- shared libraries --------------------------------------------------------

def elf_info(path):
    """(PT_INTERP or None, [DT_NEEDED ...]) of a 64-bit little-endian ELF."""
    with open(path, "rb") as f:
        data = f.read()
    if data[:4] != b"\x7fELF" or data[4] != 2 or data[5] != 1:
        die("%s: not a 64-bit little-endian ELF file" % path)
    phoff, = struct.unpack_from("<Q", data, 0x20)
    phentsize, phnum = struct.unpack_from("<HH", data, 0x36)
    interp = None
    dynamic = None
    loads = []
    for i in range(phnum):
        p_type, _, p_offset, p_vaddr, _, p_filesz = struct.unpack_from(
            "<IIQQQQ", data, phoff + i * phentsize)
        if p_type == 3:  # PT_INTERP
            interp = data[p_offset:p_offset + p_filesz].rstrip(b"\0").decode()
        elif p_type == 2:  # PT_DYNAMIC
            dynamic = (p_offset, p_filesz)
        elif p_type == 1:  # PT_LOAD
            loads.append((p_vaddr, p_offset, p_filesz))
    if dynamic is None:
        return interp, []  # static
    needed, strtab = [], None
    off, end = dynamic
    while off + 16 <= dynamic[0] + end:
        tag, val = struct.unpack_from("<qQ", data, off)
        off += 16
        if tag == 0:
            break
        if tag == 1:
            needed.append(val)
        elif tag == 5:  # DT_STRTAB, a virtual address
            for vaddr, foff, size in loads:
                if vaddr <= val < vaddr + size:
                    strtab = foff + (val - vaddr)
    if needed and strtab is None:
        die("%s: DT_STRTAB outside every PT_LOAD segment" % path)
    names = []
    for n in needed:
        stop = data.index(b"\0", strtab + n)
        names.append(data[strtab + n:stop].decode())
    return interp, names


def linker_cache():
    """soname -> path of the x86-64 libraries in the system's ld.so.cache."""
    out = subprocess.run(["/sbin/ldconfig", "-p"], check=True, capture_output=True,
                         text=True).stdout
    cache = {}
    for line in out.splitlines():
        m = re.match(r"\s+(\S+) \(([^)]*)\) => (\S+)$", line)
        if m and "x86-64" in m.group(2):
            cache.setdefault(m.group(1), m.group(3))
    return cache


def image_path(path):
    """Where a system path goes in the image: /lib and /lib64 are the
    merged /usr's (they are symlinks there, as on Debian 12)."""
    path = os.path.normpath(path).lstrip("/")
    for short in ("lib/", "lib64/", "bin/", "sbin/"):
        if path.startswith(short):
            return "usr/" + path
    return path


def runtime_files(binaries, cache):
    """{image path: system path} of the loader and every library binaries
    need, transitively."""
    files = {}
    todo = list(binaries)
    seen = set()
    while todo:
        path = todo.pop()
        if path in seen:
            continue
        seen.add(path)
        interp, needed = elf_info(path)
        if interp:
            files[image_path(interp)] = os.path.realpath(interp)
        for name in needed:
            lib = cache.get(name)
            if lib is None:
                die("%s needs %s, which the linker cache (ldconfig -p) does not "
                    "know: install its Debian package (make deps)" % (path, name))
            files[image_path(lib)] = os.path.realpath(lib)
            todo.append(os.path.realpath(lib))
    return files


# --- layers -------------------------------------------------------------------

class Layer:
    """A reproducible tar: entries sorted by path, mtime 0."""

    def __init__(self):
        self.entries = {}  # path -> (TarInfo, bytes or None)

    def _info(self, path, kind, mode, uid=0, gid=0):
        info = tarfile.TarInfo(path)
        info.type = kind
        info.mode = mode
        info.mtime = 0
        info.uid, info.gid = uid, gid
        info.uname = USER if uid == UID else "root"
        info.gname = USER if gid == GID else "root"
        return info

    def dir(self, path, mode=0o755, uid=0, gid=0):
        self.entries[path] = (self._info(path, tarfile.DIRTYPE, mode, uid, gid), None)

    def file(self, path, data, mode=0o644):
        self._parents(path)
        info = self._info(path, tarfile.REGTYPE, mode)
        info.size = len(data)
        self.entries[path] = (info, data)

    def symlink(self, path, target):
        self._parents(path)
        info = self._info(path, tarfile.SYMTYPE, 0o777)
        info.linkname = target
        self.entries[path] = (info, None)

    def _parents(self, path):
        parent = os.path.dirname(path)
        while parent and parent not in self.entries:
            self.entries[parent] = (self._info(parent, tarfile.DIRTYPE, 0o755), None)
            parent = os.path.dirname(parent)

    def tar(self):
        raw = io.BytesIO()
        with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
            for path in sorted(self.entries):
                info, data = self.entries[path]
                tar.addfile(info, io.BytesIO(data) if data is not None else None)
        return raw.getvalue()


def read(path):
    with open(path, "rb") as f:
        return f.read()


def runtime_layer(binaries, cache):
    layer = Layer()
    for link, target in (("bin", "usr/bin"), ("lib", "usr/lib"), ("lib64", "usr/lib64"),
                         ("sbin", "usr/sbin")):
        layer.symlink(link, target)
    for d in ("usr/bin", "usr/sbin", "usr/lib64", ARCH_DIR, "etc/ssl/certs", "var/lib"):
        layer.dir(d)
        layer._parents(d)
    layer.dir("tmp", 0o1777)
    layer.dir("run", 0o755)
    layer.dir("run/sockerless", 0o755, UID, GID)
    # mount points of deploy/compose.yaml: a new named volume takes the
    # owner of the directory it is mounted on
    layer.dir("run/sockerless/internal", 0o755, UID, GID)
    layer.dir("run/sockerless/api", 0o755, UID, GID)
    layer.dir("var/lib/sockerless", 0o750, UID, GID)
    layer.dir("etc/sockerless", 0o755)
    layer.file("etc/passwd", ("root:x:0:0:root:/root:/usr/sbin/nologin\n"
                              "%s:x:%d:%d:sockerless:/var/lib/sockerless:"
                              "/usr/sbin/nologin\n" % (USER, UID, GID)).encode())
    layer.file("etc/group", ("root:x:0:\n%s:x:%d:\n" % (USER, GID)).encode())
    # glibc reads users and hosts from files, names from DNS; both are in
    # libc.so.6 since 2.34 (no libnss_* to dlopen).
    layer.file("etc/nsswitch.conf", b"passwd: files\ngroup: files\nshadow: files\n"
               b"hosts: files dns\nnetworks: files\nservices: files\n")
    if not os.path.exists(CA_BUNDLE):
        die("%s is missing: install ca-certificates" % CA_BUNDLE)
    layer.file(CA_BUNDLE.lstrip("/"), read(CA_BUNDLE))
    # one copy of each file: the loader is both /lib64/ld-linux-x86-64.so.2
    # (PT_INTERP) and libc's DT_NEEDED in the multiarch directory
    by_real = {}
    for ipath, spath in runtime_files(binaries, cache).items():
        by_real.setdefault(spath, []).append(ipath)
    for spath, ipaths in sorted(by_real.items()):
        ipaths.sort(key=lambda p: (not p.startswith(ARCH_DIR + "/"), p))
        layer.file(ipaths[0], read(spath), 0o755)
        for other in ipaths[1:]:
            layer.symlink(other, os.path.relpath(ipaths[0], os.path.dirname(other)))
    return layer


def stripped(path):
    """The binary without its debug sections (the build keeps -g)."""
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "bin")
        subprocess.run(["objcopy", "--strip-debug", path, out], check=True)
        return read(out)


# --- images -------------------------------------------------------------------

def git(*args):
    try:
        return subprocess.run(["git", "-C", ROOT] + list(args), check=True,
                              capture_output=True, text=True,
                              env=dict(os.environ, TZ="UTC")).stdout.strip()
    except (subprocess.CalledProcessError, OSError):
        return ""


def version():
    with open(os.path.join(ROOT, "common/include/sockerless/backend.h")) as f:
        m = re.search(r'#define BACKEND_VERSION "([^"]+)"', f.read())
    if not m:
        die("no BACKEND_VERSION in common/include/sockerless/backend.h")
    return m.group(1)


class Image:
    def __init__(self, name, layers, config, annotations):
        self.name = name
        self.blobs = {}
        diff_ids, descs = [], []
        for layer_tar, comment in layers:
            gz = gzip.compress(layer_tar, mtime=0)
            self.blobs[sha256(gz)] = gz
            diff_ids.append(sha256(layer_tar))
            descs.append({"mediaType": OCI_LAYER, "digest": sha256(gz), "size": len(gz)})
        config["rootfs"] = {"type": "layers", "diff_ids": diff_ids}
        config["history"] = [{"created": config["created"],
                              "created_by": "deploy/mkimage.py: " + comment}
                             for _, comment in layers]
        self.config = json.dumps(config, sort_keys=True, separators=(",", ":")).encode()
        self.blobs[sha256(self.config)] = self.config
        manifest = {"schemaVersion": 2, "mediaType": OCI_MANIFEST,
                    "config": {"mediaType": OCI_CONFIG, "digest": sha256(self.config),
                               "size": len(self.config)},
                    "layers": descs, "annotations": annotations}
        self.manifest = json.dumps(manifest, sort_keys=True, indent=2).encode()
        self.blobs[sha256(self.manifest)] = self.manifest
        self.layer_digests = [d["digest"] for d in descs]
        self.annotations = annotations

    @property
    def digest(self):
        return sha256(self.manifest)

    def size(self):
        """Bytes of the compressed layers (what a pull moves)."""
        return sum(len(self.blobs[d]) for d in self.layer_digests)

    def write(self, out, tags):
        """OUT/NAME/ (OCI layout) and OUT/NAME.tar (layout + manifest.json)."""
        index = {"schemaVersion": 2, "mediaType": OCI_INDEX,
                 "manifests": [{"mediaType": OCI_MANIFEST, "digest": self.digest,
                                "size": len(self.manifest),
                                "annotations": dict(
                                    self.annotations,
                                    **{"org.opencontainers.image.ref.name": tags[0].split(":")[-1],
                                       "io.containerd.image.name": "docker.io/" + tags[0]})}]}
        index_bytes = json.dumps(index, sort_keys=True, indent=2).encode()
        layout = b'{"imageLayoutVersion":"1.0.0"}'
        docker = [{"Config": "blobs/sha256/" + sha256(self.config)[7:],
                   "RepoTags": tags,
                   "Layers": ["blobs/sha256/" + d[7:] for d in self.layer_digests]}]
        docker_bytes = json.dumps(docker, sort_keys=True).encode()
        files = {"oci-layout": layout, "index.json": index_bytes}
        for digest, data in self.blobs.items():
            files["blobs/sha256/" + digest[7:]] = data
        directory = os.path.join(out, self.name)
        for path, data in files.items():
            dest = os.path.join(directory, path)
            os.makedirs(os.path.dirname(dest), exist_ok=True)
            with open(dest, "wb") as f:
                f.write(data)
        # blobs of an earlier build of this name are not ours any more
        blob_dir = os.path.join(directory, "blobs", "sha256")
        for entry in os.listdir(blob_dir):
            if "blobs/sha256/" + entry not in files:
                os.unlink(os.path.join(blob_dir, entry))
        files["manifest.json"] = docker_bytes
        tar_layer = Layer()
        for d in ("blobs", "blobs/sha256"):
            tar_layer.dir(d)
        for path, data in files.items():
            tar_layer.file(path, data)
        tmp = os.path.join(out, self.name + ".tar.tmp")
        with open(tmp, "wb") as f:
            f.write(tar_layer.tar())
        os.replace(tmp, os.path.join(out, self.name + ".tar"))


def daemon_config(entrypoint, cmd, labels, created, env=None):
    return {"architecture": "amd64", "os": "linux", "created": created,
            "config": {"User": "%d:%d" % (UID, GID), "Entrypoint": entrypoint,
                       "Cmd": cmd, "Labels": labels, "WorkingDir": "/var/lib/sockerless",
                       "Env": ["PATH=/usr/bin"] + (env or []),
                       "Volumes": {"/var/lib/sockerless": {}}}}


def build_image(name, build_dir, cache, meta, created):
    labels = dict(meta, **{"org.opencontainers.image.title": "sockerless-" + name})
    agent = os.path.join(build_dir, "sockerless-agent")
    if name == "agent":
        # byte for byte the layer deploy/agent-image.py pushes
        raw = io.BytesIO()
        with tarfile.open(fileobj=raw, mode="w", format=tarfile.USTAR_FORMAT) as tar:
            info = tarfile.TarInfo("sockerless-agent")
            data = read(agent)
            info.size, info.mode, info.mtime = len(data), 0o755, 0
            info.uid = info.gid = 0
            info.uname = info.gname = "root"
            tar.addfile(info, io.BytesIO(data))
        config = {"architecture": "amd64", "os": "linux", "created": created,
                  "config": {"Entrypoint": ["/sockerless-agent"], "Cmd": ["--version"],
                             "Labels": labels}}
        return Image(name, [(raw.getvalue(), "/sockerless-agent")], config, labels)
    binary = os.path.join(build_dir, "sockerless-" + name)
    if not os.access(binary, os.X_OK):
        die("%s: not built (make all)" % binary)
    base = runtime_layer([binary], cache)
    prog = Layer()
    prog.file("usr/bin/sockerless-" + name, stripped(binary), 0o755)
    if name == "frontend":
        cmd = []
    else:
        if not os.access(agent, os.X_OK):
            die("%s: not built (make all)" % agent)
        prog.file("usr/lib/sockerless/sockerless-agent", read(agent), 0o755)
        cmd = ["--config", "/etc/sockerless/%s.yaml" % name]
    config = daemon_config(["/usr/bin/sockerless-" + name], cmd, labels, created)
    return Image(name, [(base.tar(), "the runtime (loader, libraries, /etc)"),
                        (prog.tar(), "/usr/bin/sockerless-" + name)], config, labels)


def cmd_build(args):
    names = args.names or (["frontend"] + ["backend-" + b for b in BACKENDS] + ["agent"])
    for n in names:
        if n not in ("frontend", "agent") and n[len("backend-"):] not in BACKENDS:
            die("unknown image %s (frontend, agent, backend-{%s})" % (n, ",".join(BACKENDS)))
    ver = args.version or version()
    revision = git("rev-parse", "HEAD")
    source = args.source if args.source is not None else git("config", "--get",
                                                             "remote.origin.url")
    created = git("log", "-1", "--format=%cd", "--date=format-local:%Y-%m-%dT%H:%M:%SZ")
    meta = {"org.opencontainers.image.version": ver}
    if revision:
        meta["org.opencontainers.image.revision"] = revision
    else:
        print("mkimage: not a git checkout: no org.opencontainers.image.revision",
              file=sys.stderr)
    if source:
        meta["org.opencontainers.image.source"] = source
    else:
        print("mkimage: no git remote origin and no --source: "
              "org.opencontainers.image.source left out (make images "
              "IMAGE_SOURCE=URL sets it)", file=sys.stderr)
    cache = linker_cache()
    os.makedirs(args.out, exist_ok=True)
    for n in names:
        image = build_image(n, args.build, cache, meta, created or "1970-01-01T00:00:00Z")
        image.write(args.out, ["%s/%s:%s" % (args.prefix, n, ver),
                               "%s/%s:latest" % (args.prefix, n)])
        print("%-16s %s %6.1f MiB" % (n, image.digest, image.size() / 1048576.0))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    b = sub.add_parser("build", help="write OCI layouts and docker load tarballs")
    b.add_argument("--build", default="build", help="the binaries' directory (build)")
    b.add_argument("--out", default="build/images", help="where to write (build/images)")
    b.add_argument("--version", help="the image version (default: BACKEND_VERSION)")
    b.add_argument("--source", help="org.opencontainers.image.source (default: git "
                   "remote origin)")
    b.add_argument("--prefix", default="sockerless",
                   help="repository prefix of the docker load tags (sockerless)")
    b.add_argument("names", nargs="*", help="frontend, backend-<name>, agent (default all)")
    args = parser.parse_args()
    cmd_build(args)


if __name__ == "__main__":
    main()
