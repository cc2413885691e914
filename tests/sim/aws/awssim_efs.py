"""Amazon EFS (rest-json, 2015-02-01): file systems, access points and
tags, each file system backed by a directory (--efs-dir/<fs-id>) that ECS
tasks really bind-mount (awssim_tasks asks mount_source() for the
directory of a task definition's efsVolumeConfiguration).

As EFS does, an access point's root directory is created on its first
mount when the access point has RootDirectory.CreationInfo (owner, group
and mode from it; missing parents too), and a mount of a missing root
without CreationInfo fails. The directory must stay inside the file
system: a symlink inside it that leads out fails the mount. An access
point's PosixUser is enforced for the container's root with an idmapped
mount (awssim_idmap)."""

import copy
import logging
import os
import re
import secrets
import threading
import uuid

from awssim_idmap import unmount_all
from awssim_shapes import service_model
from awssim_util import AwsError, decode_token, encode_token, now

log = logging.getLogger("awssim")

DEFAULT_PAGE = 100
DEFAULT_ACCESS_POINT_LIMIT = 1000
FS_ARN = re.compile(r"^arn:aws[-a-z]*:elasticfilesystem:[0-9a-z-]+:(\d{12}):"
                    r"file-system/(fs-[0-9a-f]+)$")
AP_ARN = re.compile(r"^arn:aws[-a-z]*:elasticfilesystem:[0-9a-z-]+:(\d{12}):"
                    r"access-point/(fsap-[0-9a-f]+)$")
# A path component as the model's Path pattern allows it: not starting with
# a dot (so no "." or ".."), none of these characters.
PATH_PART = re.compile(r"^(?!\.)[^$#<>;`|&?{}^*/\n]+$")
MAX_PATH_PARTS = 4
EFS_UTILS = "ResourceInitializationError: failed to invoke EFS utils commands to set up EFS " \
    "volumes: "


class MountError(Exception):
    """A task's EFS volume cannot be mounted; the message is the task's
    stopped reason, as ECS words it."""


def _new_id(prefix):
    return "%s-%s" % (prefix, secrets.token_hex(9)[:17])


class EfsService:
    name = "efs"

    def __init__(self, config, efs_dir, access_point_limit=DEFAULT_ACCESS_POINT_LIMIT,
                 creating_seconds=0.0):
        self.model = service_model("efs")
        self.config = config
        self.efs_dir = efs_dir
        self.access_point_limit = access_point_limit
        self.creating_seconds = creating_seconds
        self.lock = threading.RLock()
        # Tasks' idmapped mounts of access points with a PosixUser.
        self.mounts_dir = os.path.join(config.state_dir, "efs-mounts")
        unmount_all(self.mounts_dir)
        self.version = 0             # bumped on every change worth saving
        self._file_systems = {}      # id -> description (LifeCycleState computed)
        self._access_points = {}     # id -> description
        self.operations = {
            "CreateFileSystem": self.create_file_system,
            "DescribeFileSystems": self.describe_file_systems,
            "CreateAccessPoint": self.create_access_point,
            "DescribeAccessPoints": self.describe_access_points,
            "DeleteAccessPoint": self.delete_access_point,
            "TagResource": self.tag_resource,
            "UntagResource": self.untag_resource,
            "ListTagsForResource": self.list_tags_for_resource,
        }

    # Errors, with the status of the model's error shape.

    def error(self, code, message, **extra):
        try:
            status = self.model.shape_for(code).metadata["error"]["httpStatusCode"]
        except Exception:  # not modelled
            status = 400
        exc = AwsError(code, message, status=status)
        exc.body_extra = extra
        return exc

    def bad_request(self, message):
        return self.error("BadRequest", message)

    # Names and lookups.

    def _arn(self, kind, ident):
        return "arn:aws:elasticfilesystem:%s:%s:%s/%s" % (self.config.region,
                                                         self.config.account, kind, ident)

    def _fs_id(self, ref):
        """The id of a file system id or ARN (FileSystemNotFound for another
        account's or region's ARN)."""
        m = FS_ARN.match(ref)
        if m is None:
            return ref
        if m.group(1) != self.config.account or self._arn("file-system", m.group(2)) != ref:
            raise self.error("FileSystemNotFound", "File system '%s' does not exist." % ref)
        return m.group(2)

    def _ap_id(self, ref):
        m = AP_ARN.match(ref)
        if m is None:
            return ref
        if m.group(1) != self.config.account or self._arn("access-point", m.group(2)) != ref:
            raise self.error("AccessPointNotFound", "Access point '%s' does not exist." % ref)
        return m.group(2)

    def _file_system(self, ref):
        fs = self._file_systems.get(self._fs_id(ref))
        if fs is None:
            raise self.error("FileSystemNotFound", "File system '%s' does not exist." % ref)
        return fs

    def _access_point(self, ref):
        ap = self._access_points.get(self._ap_id(ref))
        if ap is None:
            raise self.error("AccessPointNotFound", "Access point '%s' does not exist." % ref)
        return ap

    def _fs_view(self, fs):
        """The description with its current LifeCycleState and size."""
        view = copy.deepcopy(fs)
        if view["LifeCycleState"] == "creating" and \
                now() >= view["CreationTime"] + self.creating_seconds:
            fs["LifeCycleState"] = view["LifeCycleState"] = "available"
        view["NumberOfMountTargets"] = 0
        view["SizeInBytes"] = {"Value": _tree_size(self.fs_dir(fs["FileSystemId"])),
                               "Timestamp": now()}
        return view

    def fs_dir(self, fs_id):
        return os.path.join(self.efs_dir, fs_id)

    # File systems.

    def create_file_system(self, params, call):
        token = params["CreationToken"]
        tags = self._check_tags(params.get("Tags", []))
        if params.get("ThroughputMode") == "provisioned" and \
                "ProvisionedThroughputInMibps" not in params:
            raise self.bad_request("ProvisionedThroughputInMibps is required when "
                                   "ThroughputMode is provisioned.")
        with self.lock:
            for fs in self._file_systems.values():
                if fs["CreationToken"] == token:
                    raise self.error("FileSystemAlreadyExists", "File system '%s' already "
                                     "exists with creation token '%s'"
                                     % (fs["FileSystemId"], token),
                                     FileSystemId=fs["FileSystemId"])
            ident = _new_id("fs")
            fs = {"OwnerId": self.config.account, "CreationToken": token,
                  "FileSystemId": ident, "FileSystemArn": self._arn("file-system", ident),
                  "CreationTime": now(), "LifeCycleState": "creating",
                  "NumberOfMountTargets": 0,
                  "PerformanceMode": params.get("PerformanceMode", "generalPurpose"),
                  "Encrypted": bool(params.get("Encrypted", False)),
                  "ThroughputMode": params.get("ThroughputMode", "bursting"),
                  "Tags": tags}
            for key in ("KmsKeyId", "ProvisionedThroughputInMibps", "AvailabilityZoneName"):
                if key in params:
                    fs[key] = params[key]
            if fs["Encrypted"] and "KmsKeyId" not in fs:
                # The account's aws/elasticfilesystem key, as EFS names it.
                fs["KmsKeyId"] = "arn:aws:kms:%s:%s:key/%s" % (
                    self.config.region, self.config.account,
                    uuid.uuid5(uuid.NAMESPACE_URL, "awssim-efs-" + self.config.account))
            _set_name(fs)
            os.makedirs(self.fs_dir(ident), mode=0o755, exist_ok=True)
            os.chmod(self.fs_dir(ident), 0o755)  # EFS's root: root:root 0755
            self._file_systems[ident] = fs
            self.version += 1
            return self._fs_view(fs)

    def describe_file_systems(self, params, call):
        if "FileSystemId" in params and "CreationToken" in params:
            raise self.bad_request("You can specify either FileSystemId or CreationToken, "
                                   "not both.")
        with self.lock:
            if "FileSystemId" in params:
                items = [self._file_system(params["FileSystemId"])]
            else:
                items = [fs for fs in self._file_systems.values()
                         if params.get("CreationToken") in (None, fs["CreationToken"])]
            items = sorted(items, key=lambda fs: fs["CreationTime"])
            page, marker = self._page(items, params.get("Marker"), params.get("MaxItems"))
            out = {"FileSystems": [self._fs_view(fs) for fs in page]}
        if params.get("Marker"):
            out["Marker"] = params["Marker"]
        if marker:
            out["NextMarker"] = marker
        return out

    def _page(self, items, token, limit):
        start = 0
        if token:
            state = None
            try:
                state = decode_token(token)
            except AwsError:
                pass
            if not isinstance(state, dict) or not isinstance(state.get("offset"), int):
                raise self.bad_request("The pagination token is invalid.")
            start = state["offset"]
        limit = limit or DEFAULT_PAGE
        more = start + limit < len(items)
        return items[start:start + limit], (encode_token({"offset": start + limit})
                                            if more else None)

    # Access points.

    def create_access_point(self, params, call):
        tags = self._check_tags(params.get("Tags", []))
        root = copy.deepcopy(params.get("RootDirectory") or {})
        root.setdefault("Path", "/")
        root["Path"] = self._check_path(root["Path"])
        posix = params.get("PosixUser")
        if posix is not None:
            posix = dict(posix)
        with self.lock:
            fs = self._file_system(params["FileSystemId"])
            token = params["ClientToken"]
            same = [ap for ap in self._access_points.values() if ap["ClientToken"] == token
                    and ap["FileSystemId"] == fs["FileSystemId"]]
            if same:
                ap = same[0]
                if ap["RootDirectory"] == root and ap.get("PosixUser") == posix and \
                        ap["Tags"] == tags:
                    return copy.deepcopy(ap)  # a retry: the same access point
                raise self.error("AccessPointAlreadyExists", "Access point %s already exists "
                                 "with client token %s and different parameters"
                                 % (ap["AccessPointId"], token),
                                 AccessPointId=ap["AccessPointId"])
            if self._fs_view(fs)["LifeCycleState"] != "available":
                raise self.error("IncorrectFileSystemLifeCycleState", "File system '%s' is "
                                 "not available: its life cycle state is %s"
                                 % (fs["FileSystemId"], self._fs_view(fs)["LifeCycleState"]))
            count = sum(1 for ap in self._access_points.values()
                        if ap["FileSystemId"] == fs["FileSystemId"])
            if count >= self.access_point_limit:
                raise self.error("AccessPointLimitExceeded", "You have reached the maximum "
                                 "number of access points (%d) for file system %s."
                                 % (self.access_point_limit, fs["FileSystemId"]))
            ident = _new_id("fsap")
            ap = {"ClientToken": token, "Tags": tags, "AccessPointId": ident,
                  "AccessPointArn": self._arn("access-point", ident),
                  "FileSystemId": fs["FileSystemId"], "RootDirectory": root,
                  "OwnerId": self.config.account, "LifeCycleState": "available"}
            if posix is not None:
                ap["PosixUser"] = posix
            _set_name(ap)
            self._access_points[ident] = ap
            self.version += 1
            return copy.deepcopy(ap)

    def _check_path(self, path):
        """The model's Path rule (up to four components, none starting with
        a dot), which its Java pattern carries and Python cannot compile."""
        parts = [p for p in path.split("/") if p]
        if path != "/" and (not path.startswith("/") or path.endswith("/") or "//" in path
                            or len(parts) > MAX_PATH_PARTS
                            or not all(PATH_PART.match(p) for p in parts)):
            raise self.bad_request("1 validation error detected: Value '%s' at "
                                   "'rootDirectory.path' failed to satisfy constraint: Member "
                                   "must satisfy regular expression pattern: %s"
                                   % (path, self.model.shape_for("Path").metadata["pattern"]))
        return path

    def describe_access_points(self, params, call):
        if "AccessPointId" in params and "FileSystemId" in params:
            raise self.bad_request("You can specify either AccessPointId or FileSystemId, "
                                   "not both.")
        with self.lock:
            if "AccessPointId" in params:
                items = [self._access_point(params["AccessPointId"])]
            elif "FileSystemId" in params:
                fs_id = self._file_system(params["FileSystemId"])["FileSystemId"]
                items = [ap for ap in self._access_points.values()
                         if ap["FileSystemId"] == fs_id]
            else:
                items = list(self._access_points.values())
            page, token = self._page(items, params.get("NextToken"), params.get("MaxResults"))
            out = {"AccessPoints": copy.deepcopy(page)}
        if token:
            out["NextToken"] = token
        return out

    def delete_access_point(self, params, call):
        """The access point goes; its directory and files stay in the file
        system, as on EFS."""
        with self.lock:
            ap = self._access_point(params["AccessPointId"])
            del self._access_points[ap["AccessPointId"]]
            self.version += 1
        return {}

    # Tags.

    def _check_tags(self, tags):
        keys = [t["Key"] for t in tags]
        if len(set(keys)) != len(keys):
            raise self.bad_request("Tag keys must be unique.")
        if len(tags) > 50:
            raise self.bad_request("A resource can have at most 50 tags.")
        for key in keys:  # the model's TagKey pattern uses \p{L}: Python cannot check it
            if key.lower().startswith("aws:"):
                raise self.bad_request("Tag keys can't start with 'aws:': %s" % key)
        return [{"Key": t["Key"], "Value": t["Value"]} for t in tags]

    def _resource(self, ref):
        if ref.startswith("fsap-") or AP_ARN.match(ref):
            return self._access_point(ref)
        return self._file_system(ref)

    def tag_resource(self, params, call):
        with self.lock:
            resource = self._resource(params["ResourceId"])
            merged = {t["Key"]: t["Value"] for t in resource["Tags"]}
            merged.update({t["Key"]: t["Value"] for t in self._check_tags(params["Tags"])})
            resource["Tags"] = self._check_tags([{"Key": k, "Value": v}
                                                 for k, v in merged.items()])
            _set_name(resource)
            self.version += 1
        return {}

    def untag_resource(self, params, call):
        with self.lock:
            resource = self._resource(params["ResourceId"])
            drop = set(params["TagKeys"])
            resource["Tags"] = [t for t in resource["Tags"] if t["Key"] not in drop]
            _set_name(resource)
            self.version += 1
        return {}

    def list_tags_for_resource(self, params, call):
        with self.lock:
            tags = copy.deepcopy(self._resource(params["ResourceId"])["Tags"])
        page, token = self._page(tags, params.get("NextToken"), params.get("MaxResults"))
        out = {"Tags": page}
        if token:
            out["NextToken"] = token
        return out

    # Mounting (for ECS tasks).

    def mount_source(self, volume):
        """(host directory, PosixUser or None) a task mounts for an
        efsVolumeConfiguration, the directory made as EFS makes an access
        point's root on first mount; MountError with ECS's stopped reason
        when it cannot be mounted."""
        fs_id = volume["fileSystemId"]
        ap_id = (volume.get("authorizationConfig") or {}).get("accessPointId")
        with self.lock:
            fs = self._file_systems.get(fs_id)
            if fs is None or self._fs_view(fs)["LifeCycleState"] != "available":
                raise MountError(
                    EFS_UTILS + "stderr: Failed to resolve \"%s.efs.%s.amazonaws.com\" - check "
                    "that your file system ID is correct, and ensure that the VPC has an EFS "
                    "mount target for this file system ID. : unsuccessful EFS utils command "
                    "execution; code: 1" % (fs_id, self.config.region))
            creation = posix = None
            if ap_id is not None:
                ap = self._access_points.get(ap_id)
                if ap is None or ap["FileSystemId"] != fs_id:
                    raise MountError(
                        EFS_UTILS + "stderr: b'mount.nfs4: access denied by server while "
                        "mounting 127.0.0.1:/' : unsuccessful EFS utils command execution; "
                        "code: 32")
                path = ap["RootDirectory"]["Path"]
                creation = ap["RootDirectory"].get("CreationInfo")
                posix = copy.deepcopy(ap.get("PosixUser"))
            else:
                path = volume.get("rootDirectory") or "/"
            return self._root_dir(fs_id, path, creation), posix

    def _root_dir(self, fs_id, path, creation):
        top = os.path.realpath(self.fs_dir(fs_id))
        parts = [p for p in path.split("/") if p]
        if any(p in (".", "..") for p in parts):
            raise MountError(EFS_UTILS + "stderr: mount.nfs4: an incorrect mount option was "
                             "specified: root directory %s leaves the file system" % path)
        current = top
        for part in parts:
            current = os.path.join(current, part)
            if not os.path.lexists(current):
                if creation is None:
                    raise MountError(
                        EFS_UTILS + "stderr: b'mount.nfs4: mounting 127.0.0.1:%s failed, reason "
                        "given by server: No such file or directory' : unsuccessful EFS utils "
                        "command execution; code: 32" % path)
                os.mkdir(current)
                os.chown(current, creation["OwnerUid"], creation["OwnerGid"])
                os.chmod(current, int(creation["Permissions"], 8))
            real = os.path.realpath(current)
            if real != top and not real.startswith(top + os.sep) or not os.path.isdir(real):
                raise MountError(
                    EFS_UTILS + "stderr: b'mount.nfs4: mounting 127.0.0.1:%s failed, reason "
                    "given by server: Not a directory inside the file system' : unsuccessful "
                    "EFS utils command execution; code: 32" % path)
            current = real
        return current

    # Persistence.

    def snapshot(self):
        with self.lock:
            return copy.deepcopy({"fileSystems": list(self._file_systems.values()),
                                  "accessPoints": list(self._access_points.values())})

    def restore(self, state):
        with self.lock:
            for fs in state.get("fileSystems", []):
                self._file_systems[fs["FileSystemId"]] = fs
                os.makedirs(self.fs_dir(fs["FileSystemId"]), mode=0o755, exist_ok=True)
            for ap in state.get("accessPoints", []):
                self._access_points[ap["AccessPointId"]] = ap


def _set_name(resource):
    """Name is the value of the Name tag, as EFS shows it."""
    names = [t["Value"] for t in resource["Tags"] if t["Key"] == "Name"]
    if names:
        resource["Name"] = names[0]
    else:
        resource.pop("Name", None)


def _tree_size(top):
    """The metered size: the bytes of the files under top (EFS meters
    in 4 KiB blocks; the simulator counts bytes)."""
    total = 0
    for base, _, files in os.walk(top):
        for name in files:
            try:
                total += os.lstat(os.path.join(base, name)).st_size
            except OSError:
                pass
    return total
