"""The local default's volume setup (deploy/local.sh, docs/testing.md): one
EFS file system in the simulator backed by $SK_RUN/efs/<fs-id>, the
$SK_RUN/shared link to its /shared, and the backend keys that name them
(each written when the backend's --help lists it)."""

import os
import subprocess

import botocore.session
import pytest

from e2e_lib import TARGET, sim_url

RUN = os.environ.get("SK_RUN_DIR", "")

# A stack brought up on another backend (`local.sh up cloudrun`) writes no
# backend-ecs.yaml.
pytestmark = pytest.mark.skipif(
    TARGET != "sockerless" or not RUN or not os.path.exists(os.path.join(RUN, "efs-id"))
    or not os.path.exists(os.path.join(RUN, "backend-ecs.yaml")),
    reason="needs the local default on ECS (SK_RUN_DIR with efs-id and backend-ecs.yaml)")


def fs_id():
    with open(os.path.join(RUN, "efs-id")) as f:
        return f.read().strip()


def backend_knows(key):
    build = os.environ.get("SK_BUILD", "build")
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    binary = os.path.join(build if os.path.isabs(build) else os.path.join(root, build),
                          "sockerless-backend-ecs")
    out = subprocess.run([binary, "--help"], capture_output=True, text=True, timeout=30)
    return ("--%s=" % key) in out.stdout + out.stderr


def test_file_system_exists_and_is_backed(tmp_path):
    efs = botocore.session.get_session().create_client(
        "efs", endpoint_url=sim_url(), region_name="us-east-1",
        aws_access_key_id="AKIDSOCKERLESSTEST", aws_secret_access_key="sockerless-test-secret")
    found = efs.describe_file_systems(FileSystemId=fs_id())["FileSystems"]
    assert found[0]["LifeCycleState"] == "available"
    assert found[0]["CreationToken"] == "sockerless-local"
    assert os.path.isdir(os.path.join(RUN, "efs", fs_id()))
    env = dict(line.strip().split("=", 1) for line in open(os.path.join(RUN, "efs.env")))
    assert env == {"SK_EFS_FILESYSTEM_ID": fs_id(),
                   "SK_EFS_DIR": os.path.join(RUN, "efs", fs_id())}


def test_shared_link():
    link = os.path.join(RUN, "shared")
    assert os.path.islink(link)
    assert os.readlink(link) == os.path.join(RUN, "efs", fs_id(), "shared")
    assert os.path.isdir(link)


def test_backend_config_names_them():
    with open(os.path.join(RUN, "backend-ecs.yaml")) as f:
        text = f.read()
    assert fs_id() in text  # at least in the header comment
    wanted = {
        "ecs.efs_filesystem_id": "  efs_filesystem_id: %s\n" % fs_id(),
        "shared_paths": "shared_paths: [%s/shared=/shared]\n" % RUN,
        "docker_socket_paths": "docker_socket_paths: [/var/run/docker.sock, "
                               "/run/docker.sock, %s/docker.sock]\n" % RUN,
        "docker_api": "docker_api: unix://%s/docker.sock\n" % RUN,
    }
    for key, line in wanted.items():
        assert (line in text) == backend_knows(key), key
