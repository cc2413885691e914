"""Volumes of Cloud Run jobs on the simulator: the checks Cloud Run makes
of a task template's `volumes` and its containers' `volumeMounts` (from
run__v2.json's descriptions and Cloud Run's documented rules), and their
realisation as mounts of the workload container:

- gcs {bucket, readOnly, mountOptions}: a bind mount of the bucket's
  directory under the simulator's state dir ($STATE/gcs/<bucket>, the
  files gcpsim_storage serves as objects), or of its only-dir=<prefix>
  sub-directory, as gcsfuse would show it;
- nfs {server, path, readOnly}: a bind mount of $STATE/nfs/<server>/<path>
  (any server name is a directory of the simulator's; made on first use,
  kept across executions as an export would be);
- emptyDir {medium, sizeLimit}: a tmpfs of sizeLimit (memory-backed, as
  Cloud Run's in-memory volumes are).
The secret and cloudSqlInstance volume types are refused: not served."""

import os
import re

import docker.types

from gcpsim_core import ApiError

VOLUME_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
NFS_SERVER = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9.:-]{0,251}[A-Za-z0-9])?$")
# Cloud Run: "You cannot mount a volume at /dev, /proc or /sys, or on
# their subdirectories."
RESERVED = ("/dev", "/proc", "/sys")
# gcsfuse flags the simulator realises; the view is a plain directory, so
# implicit-dirs holds anyway.
GCS_OPTIONS = ("only-dir", "implicit-dirs")
SOURCES = ("gcs", "nfs", "emptyDir", "secret", "cloudSqlInstance")
GI, MI = 1024 ** 3, 1024 ** 2
QUANTITY = re.compile(r"^(\d+)(Ki|Mi|Gi|Ti|k|M|G|T)?$")
UNITS = {None: 1, "k": 1000, "M": 1000 ** 2, "G": 1000 ** 3, "T": 1000 ** 4,
         "Ki": 1024, "Mi": MI, "Gi": GI, "Ti": 1024 ** 4}


class VolumeError(Exception):
    """A volume that cannot be mounted when the task starts (a bucket that
    does not exist): the attempt fails with FAILED_PRECONDITION."""


def _bad(where, message):
    return ApiError(400, "INVALID_ARGUMENT", "%s: %s" % (where, message), [
        {"@type": "type.googleapis.com/google.rpc.BadRequest",
         "fieldViolations": [{"field": where, "description": message}]}])


def size_bytes(text):
    """Bytes of a Kubernetes quantity ("512Mi"), or None."""
    m = QUANTITY.match(text or "")
    return int(m.group(1)) * UNITS[m.group(2)] if m else None


def gcs_options(options, where):
    """{name: value} of a gcs volume's mountOptions; ApiError for a flag
    with "--", one the simulator does not realise, or a bad only-dir."""
    out = {}
    for i, opt in enumerate(options or []):
        at = "%s.mount_options[%d]" % (where, i)
        if not isinstance(opt, str) or not opt:
            raise _bad(at, "a mount option is a non-empty string.")
        if opt.startswith("-"):
            raise _bad(at, "Options should be specified without the leading \"--\".")
        name, _, value = opt.partition("=")
        if name not in GCS_OPTIONS:
            raise _bad(at, "the gcsfuse option \"%s\" is not served by the simulator (it "
                       "serves %s)." % (name, " and ".join(GCS_OPTIONS)))
        if name == "only-dir":
            value = value.strip("/")
            parts = value.split("/")
            if not value or any(p in ("", ".", "..") for p in parts):
                raise _bad(at, "only-dir names a directory of the bucket, such as "
                           "\"only-dir=volumes/data\".")
        elif value not in ("", "true", "false"):
            raise _bad(at, "implicit-dirs takes no value, or true or false.")
        out[name] = value
    return out


def _check_volume(v, where, gen1):
    if not VOLUME_NAME.match(v.get("name") or ""):
        raise _bad(where + ".name", "Volume name is required and must be a DNS label: at "
                   "most 63 lower-case letters, digits and '-', starting and ending with a "
                   "letter or digit.")
    kinds = [k for k in SOURCES if v.get(k) is not None]
    if len(kinds) != 1:
        raise _bad(where, "Exactly one volume type (gcs, nfs, emptyDir, secret, "
                   "cloudSqlInstance) must be set; got %s." % (", ".join(kinds) or "none"))
    kind = kinds[0]
    if kind in ("secret", "cloudSqlInstance"):
        raise _bad(where + "." + kind, "%s volumes are not served by the simulator." % kind)
    src, at = v[kind], "%s.%s" % (where, "empty_dir" if kind == "emptyDir" else kind)
    if kind in ("gcs", "nfs") and gen1:
        raise _bad(at, "Cloud Storage and NFS volumes require the second generation "
                   "execution environment.")
    if kind == "gcs":
        if not src.get("bucket"):
            raise _bad(at + ".bucket", "Cloud Storage volumes require a bucket.")
        gcs_options(src.get("mountOptions"), at)
    elif kind == "nfs":
        if not NFS_SERVER.match(src.get("server") or ""):
            raise _bad(at + ".server", "NFS volumes require a server: a host name or IP "
                       "address.")
        path = src.get("path") or ""
        if not path.startswith("/") or ".." in path.split("/"):
            raise _bad(at + ".path", "NFS volumes require the exported path, an absolute "
                       "path such as \"/share\".")
    else:
        if src.get("medium") == "DISK":
            raise _bad(at + ".medium", "Acceptable values today is only MEMORY or none.")
        if src.get("sizeLimit") is not None and not size_bytes(src["sizeLimit"]):
            raise _bad(at + ".size_limit", "sizeLimit is a quantity such as \"512Mi\".")
    return kind


def _check_mount(m, where, kinds, paths):
    name, path = m.get("name"), m.get("mountPath") or ""
    if name not in kinds:
        raise _bad(where + ".name", "Volume \"%s\" is not defined: a volume mount's name "
                   "must match the name of a volume." % name)
    if not path.startswith("/") or ":" in path or ".." in path.split("/"):
        raise _bad(where + ".mount_path", "mountPath is required: an absolute path without "
                   "':' or '..'.")
    norm = os.path.normpath(path)
    if norm == "/" or any(norm == r or norm.startswith(r + "/") for r in RESERVED):
        raise _bad(where + ".mount_path", "%s is reserved: volumes cannot be mounted at /, "
                   "/dev, /proc or /sys, or under them." % path)
    if norm in paths:
        raise _bad(where + ".mount_path", "mountPath %s is used by more than one volume "
                   "mount." % path)
    paths.add(norm)
    sub = m.get("subPath") or ""
    if sub and (sub.startswith("/") or ".." in sub.split("/")):
        raise _bad(where + ".sub_path", "subPath is a relative path inside the volume, "
                   "without '..'.")
    if sub and kinds[name] == "emptyDir":
        raise _bad(where + ".sub_path", "subPath on an emptyDir volume is not served by the "
                   "simulator.")


def check(tt, containers, field):
    """Cloud Run's checks of a task template's volumes and mounts."""
    where = "%s.template.template" % field
    gen1 = tt.get("executionEnvironment") == "EXECUTION_ENVIRONMENT_GEN1"
    kinds = {}
    for i, v in enumerate(tt.get("volumes") or []):
        at = "%s.volumes[%d]" % (where, i)
        kind = _check_volume(v, at, gen1)
        if v["name"] in kinds:
            raise _bad(at + ".name", "Volume name \"%s\" is used more than once."
                       % v["name"])
        kinds[v["name"]] = kind
    for ci, c in enumerate(containers):
        paths = set()
        for i, m in enumerate(c.get("volumeMounts") or []):
            _check_mount(m, "%s.containers[%d].volume_mounts[%d]" % (where, ci, i), kinds,
                         paths)


def _host_dir(sim, kind, src):
    """The directory a gcs or nfs volume shows; VolumeError when its
    bucket does not exist."""
    state = os.path.realpath(sim.state_dir)
    if kind == "nfs":
        path = os.path.join(state, "nfs", src["server"], src["path"].strip("/"))
        os.makedirs(path, exist_ok=True)
        return path
    bucket = os.path.join(state, "gcs", src["bucket"])
    if not os.path.isdir(bucket):
        raise VolumeError("The Cloud Storage bucket %s of a volume does not exist (or the "
                          "job's service account cannot read it)." % src["bucket"])
    prefix = gcs_options(src.get("mountOptions"), "gcs").get("only-dir")
    if prefix:
        bucket = os.path.join(bucket, prefix)
        os.makedirs(bucket, exist_ok=True)
    return bucket


def mounts(sim, tt, container):
    """docker.types.Mount list of a container's volumeMounts."""
    volumes = {v["name"]: v for v in tt.get("volumes") or []}
    out = []
    for m in container.get("volumeMounts") or []:
        v = volumes[m["name"]]
        if v.get("emptyDir") is not None:
            size = size_bytes(v["emptyDir"].get("sizeLimit"))
            out.append(docker.types.Mount(m["mountPath"], None, type="tmpfs",
                                          tmpfs_size=size))
            continue
        kind = "gcs" if v.get("gcs") is not None else "nfs"
        src = v[kind]
        host = _host_dir(sim, kind, src)
        if m.get("subPath"):
            host = os.path.join(host, m["subPath"])
            os.makedirs(host, exist_ok=True)
        out.append(docker.types.Mount(m["mountPath"], host, type="bind",
                                      read_only=bool(src.get("readOnly"))))
    return out
