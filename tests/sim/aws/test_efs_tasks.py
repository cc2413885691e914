"""ECS task volumes: EFS access points really mounted into tasks (a task
writes, a second one reads), read-only mounts, host-less task storage, the
task definition rules of efsVolumeConfiguration and the stopped reasons of
volumes that cannot be mounted."""

import os
import stat
import uuid

import pytest
from botocore.exceptions import ClientError

from conftest import EXEC_ROLE, run, wait_status


@pytest.fixture(scope="module")
def efs(sim):
    return sim.client("efs")


@pytest.fixture(scope="module")
def fs_id(efs):
    from test_efs import new_fs
    return new_fs(efs)["FileSystemId"]


def register(ecs, volumes, containers):
    out = ecs.register_task_definition(
        family="efs-" + uuid.uuid4().hex[:8], requiresCompatibilities=["FARGATE"],
        networkMode="awsvpc", cpu="256", memory="512", executionRoleArn=EXEC_ROLE,
        volumes=volumes, containerDefinitions=containers)
    return out["taskDefinition"]


def container(command, mounts=(), **kw):
    c = {"name": "main", "image": "busybox", "essential": True,
         "command": ["sh", "-c", command], "mountPoints": list(mounts)}
    c.update(kw)
    return c


def efs_volume(fs, ap=None, name="data", **kw):
    config = {"fileSystemId": fs}
    if ap is not None:
        config.update(transitEncryption="ENABLED",
                      authorizationConfig={"accessPointId": ap, "iam": "DISABLED"})
    config.update(kw)
    return {"name": name, "efsVolumeConfiguration": config}


def run_to_end(ecs, cluster, td):
    task = run(ecs, cluster, td["taskDefinitionArn"])
    task, _ = wait_status(ecs, cluster, task["taskArn"], "STOPPED")
    return task


def exit_codes(task):
    return {c["name"]: c.get("exitCode") for c in task["containers"]}


def fs_path(sim, fs, *parts):
    return os.path.join(sim.state_dir, "efs", fs, *parts)


def test_write_then_read_through_access_point(sim, ecs, efs, cluster, fs_id):
    root = "/vols/" + uuid.uuid4().hex[:8]
    ap = efs.create_access_point(
        FileSystemId=fs_id, PosixUser={"Uid": 1000, "Gid": 1000},
        RootDirectory={"Path": root, "CreationInfo": {"OwnerUid": 1000, "OwnerGid": 1001,
                                                      "Permissions": "0750"}})["AccessPointId"]
    writer = register(ecs, [efs_volume(fs_id, ap)], [container(
        "echo hello > /data/greeting && mkdir /data/sub",
        [{"sourceVolume": "data", "containerPath": "/data"}])])
    task = run_to_end(ecs, cluster, writer)
    assert exit_codes(task) == {"main": 0}, task
    # The root was made on the first mount, per CreationInfo, inside the
    # file system's directory.
    info = os.stat(fs_path(sim, fs_id, *root.split("/")))
    assert (info.st_uid, info.st_gid, stat.S_IMODE(info.st_mode)) == (1000, 1001, 0o750)
    greeting = fs_path(sim, fs_id, *root.split("/"), "greeting")
    with open(greeting) as f:
        assert f.read() == "hello\n"
    # The container's root wrote as the access point's PosixUser.
    assert (os.stat(greeting).st_uid, os.stat(greeting).st_gid) == (1000, 1000)
    reader = register(ecs, [efs_volume(fs_id, ap)], [container(
        'test "$(cat /data/greeting)" = hello && test -d /data/sub && '
        'test "$(ls /data | wc -l)" = 2',
        [{"sourceVolume": "data", "containerPath": "/data"}])])
    assert exit_codes(run_to_end(ecs, cluster, reader)) == {"main": 0}
    described = ecs.describe_task_definition(taskDefinition=reader["taskDefinitionArn"])
    assert described["taskDefinition"]["volumes"][0]["efsVolumeConfiguration"][
        "authorizationConfig"]["accessPointId"] == ap
    efs.delete_access_point(AccessPointId=ap)


def test_posix_user_is_enforced_for_root(sim, ecs, efs, cluster, fs_id):
    """Through an access point with a PosixUser the container's root acts
    as that user: its files are the user's, it sees the user's files as
    its own, and it is not privileged over files of other owners (EFS
    overrides the client's identity). Other container users pass
    unchanged (the documented limit)."""
    root = "/posix-" + uuid.uuid4().hex[:8]
    ap = efs.create_access_point(
        FileSystemId=fs_id, PosixUser={"Uid": 2000, "Gid": 3000},
        RootDirectory={"Path": root, "CreationInfo": {"OwnerUid": 2000, "OwnerGid": 3000,
                                                      "Permissions": "0755"}})["AccessPointId"]
    host_root = fs_path(sim, fs_id, root.strip("/"))
    td = register(ecs, [efs_volume(fs_id, ap)], [container("true", [
        {"sourceVolume": "data", "containerPath": "/data"}])])
    assert exit_codes(run_to_end(ecs, cluster, td)) == {"main": 0}  # makes the root
    with open(os.path.join(host_root, "roots"), "w") as f:
        f.write("root's\n")
    os.chmod(os.path.join(host_root, "roots"), 0o644)
    td = register(ecs, [efs_volume(fs_id, ap)], [container(
        'test "$(stat -c %u:%g /data)" = 0:0 && echo mine > /data/mine && '
        'test "$(stat -c %u /data/mine)" = 0 && ! echo more >> /data/roots',
        [{"sourceVolume": "data", "containerPath": "/data"}])])
    assert exit_codes(run_to_end(ecs, cluster, td)) == {"main": 0}
    info = os.stat(os.path.join(host_root, "mine"))
    assert (info.st_uid, info.st_gid) == (2000, 3000)
    with open(os.path.join(host_root, "roots")) as f:
        assert f.read() == "root's\n"
    os.chmod(host_root, 0o777)
    td = register(ecs, [efs_volume(fs_id, ap)], [container(
        "echo u > /data/other", [{"sourceVolume": "data", "containerPath": "/data"}],
        user="1234:1234")])
    assert exit_codes(run_to_end(ecs, cluster, td)) == {"main": 0}
    assert os.stat(os.path.join(host_root, "other")).st_uid == 1234
    assert os.listdir(os.path.join(sim.state_dir, "efs-mounts")) == []
    efs.delete_access_point(AccessPointId=ap)


def test_read_only_mount_refuses_writes(sim, ecs, efs, cluster, fs_id):
    root = "/ro-" + uuid.uuid4().hex[:8]
    ap = efs.create_access_point(FileSystemId=fs_id, RootDirectory={
        "Path": root, "CreationInfo": {"OwnerUid": 0, "OwnerGid": 0, "Permissions": "0777"}})[
        "AccessPointId"]
    td = register(ecs, [efs_volume(fs_id, ap)], [container(
        "test -d /data && ! touch /data/nope 2>/dev/null && echo refused",
        [{"sourceVolume": "data", "containerPath": "/data", "readOnly": True}])])
    assert exit_codes(run_to_end(ecs, cluster, td)) == {"main": 0}
    assert os.listdir(fs_path(sim, fs_id, root.strip("/"))) == []
    efs.delete_access_point(AccessPointId=ap)


def test_file_system_root_without_access_point(sim, ecs, cluster, fs_id):
    os.makedirs(fs_path(sim, fs_id, "plain"), exist_ok=True)
    with open(fs_path(sim, fs_id, "plain", "f"), "w") as f:
        f.write("x")
    td = register(ecs, [efs_volume(fs_id, rootDirectory="/plain")], [container(
        "test \"$(cat /mnt/f)\" = x", [{"sourceVolume": "data", "containerPath": "/mnt"}])])
    assert exit_codes(run_to_end(ecs, cluster, td)) == {"main": 0}


def test_host_less_volume_is_task_storage(ecs, cluster):
    """A volume without configuration is an empty directory of the task,
    shared by its containers and gone with it."""
    mounts = [{"sourceVolume": "scratch", "containerPath": "/scratch"}]
    td = register(ecs, [{"name": "scratch"}], [
        container('test -z "$(ls -A /scratch)" && echo one > /scratch/f', mounts,
                  name="first", essential=False),
        container('test "$(cat /scratch/f)" = one', mounts, name="second",
                  dependsOn=[{"containerName": "first", "condition": "SUCCESS"}])])
    assert exit_codes(run_to_end(ecs, cluster, td)) == {"first": 0, "second": 0}
    again = run_to_end(ecs, cluster, td)  # a new task starts empty again
    assert exit_codes(again) == {"first": 0, "second": 0}


def stopped_reason_of(ecs, cluster, td):
    task = run_to_end(ecs, cluster, td)
    assert task["stopCode"] == "TaskFailedToStart", task
    assert all(c.get("exitCode") is None for c in task["containers"])
    return task["stoppedReason"]


EFS_UTILS = "ResourceInitializationError: failed to invoke EFS utils commands to set up EFS " \
    "volumes: "


def test_missing_access_point_fails_the_task(ecs, efs, cluster, fs_id):
    ap = efs.create_access_point(FileSystemId=fs_id)["AccessPointId"]
    efs.delete_access_point(AccessPointId=ap)
    td = register(ecs, [efs_volume(fs_id, ap)], [container(
        "true", [{"sourceVolume": "data", "containerPath": "/data"}])])
    reason = stopped_reason_of(ecs, cluster, td)
    assert reason.startswith(EFS_UTILS) and "access denied by server" in reason


def test_missing_file_system_fails_the_task(ecs, cluster):
    td = register(ecs, [efs_volume("fs-0123456789abcdef0")], [container(
        "true", [{"sourceVolume": "data", "containerPath": "/data"}])])
    reason = stopped_reason_of(ecs, cluster, td)
    assert reason.startswith(EFS_UTILS) and "fs-0123456789abcdef0.efs." in reason


def test_missing_root_without_creation_info_fails(ecs, efs, cluster, fs_id):
    ap = efs.create_access_point(FileSystemId=fs_id, RootDirectory={
        "Path": "/absent-" + uuid.uuid4().hex[:8]})["AccessPointId"]
    td = register(ecs, [efs_volume(fs_id, ap)], [container(
        "true", [{"sourceVolume": "data", "containerPath": "/data"}])])
    reason = stopped_reason_of(ecs, cluster, td)
    assert reason.startswith(EFS_UTILS) and "No such file or directory" in reason
    efs.delete_access_point(AccessPointId=ap)


def test_symlink_out_of_the_file_system_fails(sim, ecs, efs, cluster, fs_id):
    """A symlink a workload left in the file system must not lead a mount
    out of it (here to the host's /etc)."""
    name = "esc-" + uuid.uuid4().hex[:8]
    os.symlink("/etc", fs_path(sim, fs_id, name))
    ap = efs.create_access_point(FileSystemId=fs_id, RootDirectory={
        "Path": "/%s/inner" % name, "CreationInfo": {
            "OwnerUid": 0, "OwnerGid": 0, "Permissions": "0755"}})["AccessPointId"]
    td = register(ecs, [efs_volume(fs_id, ap)], [container(
        "true", [{"sourceVolume": "data", "containerPath": "/data"}])])
    reason = stopped_reason_of(ecs, cluster, td)
    assert reason.startswith(EFS_UTILS)
    assert not os.path.exists("/etc/inner")
    efs.delete_access_point(AccessPointId=ap)


@pytest.mark.parametrize("volume, words", [
    ({"fileSystemId": "fs-0123456789abcdef0",
      "authorizationConfig": {"accessPointId": "fsap-0123456789abcdef0"}},
     "Transit encryption must be enabled"),
    ({"fileSystemId": "fs-0123456789abcdef0", "transitEncryption": "ENABLED",
      "rootDirectory": "/x", "authorizationConfig": {"accessPointId": "fsap-0123456789abcdef0"}},
     "root directory must be"),
    ({"fileSystemId": "fs-0123456789abcdef0", "authorizationConfig": {"iam": "ENABLED"}},
     "IAM authorization"),
    ({"fileSystemId": "fs-0123456789abcdef0", "transitEncryption": "ENABLED",
      "transitEncryptionPort": 70000}, "transitEncryptionPort"),
    ({"fileSystemId": "fs-0123456789abcdef0", "rootDirectory": "/a/../.."}, "'..'"),
    ({"fileSystemId": ""}, "fileSystemId"),
])
def test_task_definition_efs_rules(ecs, volume, words):
    with pytest.raises(ClientError) as exc:
        register(ecs, [{"name": "data", "efsVolumeConfiguration": volume}], [container(
            "true", [{"sourceVolume": "data", "containerPath": "/data"}])])
    assert exc.value.response["Error"]["Code"] == "ClientException"
    assert words in exc.value.response["Error"]["Message"]


def test_task_definition_volume_rules(ecs):
    with pytest.raises(ClientError) as exc:
        register(ecs, [{"name": "data"}], [container(
            "true", [{"sourceVolume": "other", "containerPath": "/data"}])])
    assert "Unknown volume 'other'" in exc.value.response["Error"]["Message"]
    with pytest.raises(ClientError) as exc:
        register(ecs, [{"name": "data", "host": {},
                        "efsVolumeConfiguration": {"fileSystemId": "fs-0123456789abcdef0"}}],
                 [container("true")])
    assert "only specify one of" in exc.value.response["Error"]["Message"]
    with pytest.raises(ClientError) as exc:
        register(ecs, [{"name": "data"}, {"name": "data"}], [container("true")])
    assert "unique" in exc.value.response["Error"]["Message"]


def mounted_under(directory):
    with open("/proc/self/mountinfo") as f:
        return [line.split()[4] for line in f if line.split()[4].startswith(directory + "/")]


def test_idmapped_mounts_of_a_killed_simulator_go(fresh_sim):
    """A simulator killed with a task running leaves that task's idmapped
    mount; the next start detaches it."""
    s = fresh_sim().start()
    ecs, efs = s.client("ecs"), s.client("efs")
    ecs.create_cluster(clusterName="idmap")
    from test_efs import new_fs
    fs = new_fs(efs)["FileSystemId"]
    ap = efs.create_access_point(FileSystemId=fs, PosixUser={"Uid": 7, "Gid": 7}, RootDirectory={
        "Path": "/k", "CreationInfo": {"OwnerUid": 7, "OwnerGid": 7, "Permissions": "0700"}})[
        "AccessPointId"]
    td = register(ecs, [efs_volume(fs, ap)], [container(
        "sleep 300", [{"sourceVolume": "data", "containerPath": "/data"}])])
    task = run(ecs, "idmap", td["taskDefinitionArn"])
    task, _ = wait_status(ecs, "idmap", task["taskArn"], "RUNNING")
    assert task["lastStatus"] == "RUNNING", task
    staging = os.path.realpath(os.path.join(s.state_dir, "efs-mounts"))
    assert len(mounted_under(staging)) == 1
    s.proc.kill()
    s.proc.wait()
    s.proc = None
    s.log.close()
    s.start()
    assert mounted_under(staging) == []
    s.stop()
