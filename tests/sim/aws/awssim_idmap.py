"""Idmapped mounts (Linux 5.12+, open_tree/mount_setattr/move_mount), with
which the simulator enforces an EFS access point's PosixUser: a task
mounts the access point's directory through an idmapped mount on which
the container's root acts as the access point's uid/gid (files it creates
are owned by them, it is not privileged over files of other owners, and
the access point's own files look like root's to it), as EFS overrides the
NFS client's identity. Other container ids pass unchanged."""

import ctypes
import os
import subprocess
import time

SYS_OPEN_TREE, SYS_MOVE_MOUNT, SYS_MOUNT_SETATTR = 428, 429, 442
OPEN_TREE_CLONE, OPEN_TREE_CLOEXEC = 1, 0o2000000
AT_FDCWD, AT_EMPTY_PATH = -100, 0x1000
MOVE_MOUNT_F_EMPTY_PATH = 4
MOUNT_ATTR_IDMAP = 0x100000
MNT_DETACH = 2
MAX_ID = 4294967295      # ids are 0 .. 2^32-2 (2^32-1 is "no id")
USERNS_WAIT_SECONDS = 10

_libc = ctypes.CDLL(None, use_errno=True)


class _MountAttr(ctypes.Structure):
    _fields_ = [("attr_set", ctypes.c_uint64), ("attr_clr", ctypes.c_uint64),
                ("propagation", ctypes.c_uint64), ("userns_fd", ctypes.c_uint64)]


def id_map(squashed):
    """uid_map/gid_map text of the mount: on-disk `squashed` is id 0 on the
    mount (so the caller's 0 writes as `squashed`), on-disk 0 has no id on
    it, every other id is itself."""
    lines = ["%d 0 1" % squashed] if squashed else ["0 0 1"]
    if squashed > 1:
        lines.append("1 1 %d" % (squashed - 1))
    if squashed + 1 < MAX_ID:
        lines.append("%d %d %d" % (squashed + 1, squashed + 1, MAX_ID - squashed - 1))
    return "\n".join(lines) + "\n"


def _userns(uid_map, gid_map):
    """An fd of a new user namespace with these maps (a short-lived
    `unshare -U` child holds it while the maps are written)."""
    child = subprocess.Popen(["unshare", "-U", "sleep", "60"], stdin=subprocess.DEVNULL,
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        ours = os.readlink("/proc/self/ns/user")
        deadline = time.time() + USERNS_WAIT_SECONDS
        while True:
            try:
                if os.readlink("/proc/%d/ns/user" % child.pid) != ours:
                    break
            except OSError:
                pass
            if child.poll() is not None or time.time() > deadline:
                raise OSError("cannot make a user namespace: %s"
                              % child.stderr.read().decode(errors="replace").strip())
            time.sleep(0.01)
        with open("/proc/%d/uid_map" % child.pid, "w") as f:
            f.write(uid_map)
        with open("/proc/%d/gid_map" % child.pid, "w") as f:
            f.write(gid_map)
        return os.open("/proc/%d/ns/user" % child.pid, os.O_RDONLY | os.O_CLOEXEC)
    finally:
        child.kill()
        child.wait()
        child.stderr.close()


def _check(rc, what):
    if rc < 0:
        err = ctypes.get_errno()
        raise OSError(err, "%s: %s" % (what, os.strerror(err)))
    return rc


def mount(source, target, uid, gid):
    """Mount source at target (an empty directory) idmapped for uid/gid."""
    ns = _userns(id_map(uid), id_map(gid))
    tree = -1
    try:
        tree = _check(_libc.syscall(SYS_OPEN_TREE, AT_FDCWD, os.fsencode(source),
                                    OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC), "open_tree")
        attr = _MountAttr(MOUNT_ATTR_IDMAP, 0, 0, ns)
        _check(_libc.syscall(SYS_MOUNT_SETATTR, tree, b"", AT_EMPTY_PATH, ctypes.byref(attr),
                             ctypes.sizeof(attr)), "mount_setattr")
        _check(_libc.syscall(SYS_MOVE_MOUNT, tree, b"", AT_FDCWD, os.fsencode(target),
                             MOVE_MOUNT_F_EMPTY_PATH), "move_mount")
    finally:
        if tree >= 0:
            os.close(tree)
        os.close(ns)


def unmount(target):
    """Detach the mount at target (if any) and remove the directory."""
    _libc.umount2(os.fsencode(target), MNT_DETACH)
    try:
        os.rmdir(target)
    except OSError:
        pass


def unmount_all(directory):
    """Every staging mount under directory (an earlier run's, after a
    crash), gone."""
    if not os.path.isdir(directory):
        return
    for name in os.listdir(directory):
        unmount(os.path.join(directory, name))
