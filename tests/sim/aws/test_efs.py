"""EFS (rest-json): file systems, access points and tags through botocore,
the model's validation errors, ClientToken idempotency, the access point
limit and persistence."""

import json
import os
import time
import urllib.request
import uuid

import pytest
from botocore.exceptions import ClientError

from conftest import ACCOUNT, REGION


@pytest.fixture(scope="module")
def efs(sim):
    return sim.client("efs")


@pytest.fixture(scope="module")
def loose_efs(sim):
    return sim.client("efs", parameter_validation=False)


def error_of(exc_info):
    r = exc_info.value.response
    return r["Error"]["Code"], r["ResponseMetadata"]["HTTPStatusCode"]


def wait_available(efs, fs_id, timeout=30):
    deadline = time.time() + timeout
    while time.time() < deadline:
        fs = efs.describe_file_systems(FileSystemId=fs_id)["FileSystems"][0]
        if fs["LifeCycleState"] == "available":
            return fs
        time.sleep(0.05)
    raise AssertionError("file system %s never became available" % fs_id)


def new_fs(efs, **kw):
    out = efs.create_file_system(CreationToken="tok-" + uuid.uuid4().hex, **kw)
    return wait_available(efs, out["FileSystemId"])


@pytest.fixture(scope="module")
def fs(efs):
    return new_fs(efs, Tags=[{"Key": "Name", "Value": "volumes"}])


def test_create_file_system(efs, sim):
    token = "tok-" + uuid.uuid4().hex
    out = efs.create_file_system(CreationToken=token, Encrypted=True,
                                 Tags=[{"Key": "Name", "Value": "fs-one"}])
    assert out["ResponseMetadata"]["HTTPStatusCode"] == 201
    fs_id = out["FileSystemId"]
    assert fs_id.startswith("fs-") and len(fs_id) == 20
    assert out["LifeCycleState"] == "creating"
    assert out["FileSystemArn"] == "arn:aws:elasticfilesystem:%s:%s:file-system/%s" % (
        REGION, ACCOUNT, fs_id)
    assert out["Name"] == "fs-one" and out["OwnerId"] == ACCOUNT and out["Encrypted"]
    assert out["PerformanceMode"] == "generalPurpose"
    assert os.path.isdir(os.path.join(sim.state_dir, "efs", fs_id))
    fs = wait_available(efs, fs_id)
    assert fs["CreationToken"] == token and fs["SizeInBytes"]["Value"] == 0
    assert efs.describe_file_systems(CreationToken=token)["FileSystems"][0]["FileSystemId"] \
        == fs_id
    assert efs.describe_file_systems(FileSystemId=out["FileSystemArn"])["FileSystems"][0][
        "FileSystemId"] == fs_id
    assert efs.describe_file_systems(CreationToken="no-such-token")["FileSystems"] == []
    # The creation token makes it idempotent: the second create names the first.
    with pytest.raises(ClientError) as exc:
        efs.create_file_system(CreationToken=token)
    assert error_of(exc) == ("FileSystemAlreadyExists", 409)
    assert exc.value.response["FileSystemId"] == fs_id


def test_describe_file_systems_errors_and_pages(efs, loose_efs):
    with pytest.raises(ClientError) as exc:
        efs.describe_file_systems(FileSystemId="fs-0123456789abcdef0")
    assert error_of(exc) == ("FileSystemNotFound", 404)
    with pytest.raises(ClientError) as exc:
        loose_efs.describe_file_systems(FileSystemId="not-an-id")
    assert error_of(exc) == ("BadRequest", 400)
    assert "failed to satisfy constraint" in exc.value.response["Error"]["Message"]
    with pytest.raises(ClientError) as exc:
        efs.describe_file_systems(FileSystemId="fs-0123456789abcdef0", CreationToken="x")
    assert error_of(exc) == ("BadRequest", 400)
    with pytest.raises(ClientError) as exc:
        loose_efs.describe_file_systems(MaxItems=0)
    assert error_of(exc) == ("BadRequest", 400)
    new_fs(efs)
    new_fs(efs)
    seen, marker = [], None
    while True:
        kw = {"Marker": marker} if marker else {}
        page = efs.describe_file_systems(MaxItems=1, **kw)
        assert len(page["FileSystems"]) == 1
        seen.append(page["FileSystems"][0]["FileSystemId"])
        marker = page.get("NextMarker")
        if not marker:
            break
    assert len(seen) == len(set(seen)) >= 2
    with pytest.raises(ClientError) as exc:
        efs.describe_file_systems(Marker="garbage")
    assert error_of(exc) == ("BadRequest", 400)


def test_error_body_shape(sim, efs):
    """EFS's error bodies carry ErrorCode and Message; the X-Amzn-ErrorType
    header names the code."""
    with pytest.raises(ClientError) as exc:
        efs.describe_access_points(AccessPointId="fsap-0123456789abcdef0")
    r = exc.value.response
    assert r["Error"]["Code"] == "AccessPointNotFound"
    assert r["ResponseMetadata"]["HTTPHeaders"]["x-amzn-errortype"] == "AccessPointNotFound"
    assert r["ErrorCode"] == "AccessPointNotFound"
    assert "fsap-0123456789abcdef0" in r["Error"]["Message"]


def test_unsigned_request_is_refused(sim):
    req = urllib.request.Request(sim.endpoint + "/2015-02-01/file-systems")
    with pytest.raises(urllib.error.HTTPError) as exc:
        urllib.request.urlopen(req, timeout=10)
    assert exc.value.code == 403
    assert json.loads(exc.value.read())


def test_access_point_lifecycle(efs, fs):
    fs_id = fs["FileSystemId"]
    out = efs.create_access_point(
        ClientToken="ap-" + uuid.uuid4().hex, FileSystemId=fs_id,
        PosixUser={"Uid": 1000, "Gid": 1000, "SecondaryGids": [4, 20]},
        RootDirectory={"Path": "/volumes/v1", "CreationInfo": {
            "OwnerUid": 1000, "OwnerGid": 1000, "Permissions": "0755"}},
        Tags=[{"Key": "Name", "Value": "v1"}, {"Key": "sockerless", "Value": "1"}])
    ap_id = out["AccessPointId"]
    assert ap_id.startswith("fsap-") and len(ap_id) == 22
    assert out["AccessPointArn"] == "arn:aws:elasticfilesystem:%s:%s:access-point/%s" % (
        REGION, ACCOUNT, ap_id)
    assert out["FileSystemId"] == fs_id and out["LifeCycleState"] == "available"
    assert out["Name"] == "v1" and out["OwnerId"] == ACCOUNT
    assert out["PosixUser"] == {"Uid": 1000, "Gid": 1000, "SecondaryGids": [4, 20]}
    assert out["RootDirectory"]["Path"] == "/volumes/v1"
    assert out["RootDirectory"]["CreationInfo"]["Permissions"] == "0755"
    got = efs.describe_access_points(AccessPointId=ap_id)["AccessPoints"]
    assert [a["AccessPointId"] for a in got] == [ap_id]
    got = efs.describe_access_points(AccessPointId=out["AccessPointArn"])["AccessPoints"]
    assert [a["AccessPointId"] for a in got] == [ap_id]
    by_fs = efs.describe_access_points(FileSystemId=fs_id)["AccessPoints"]
    assert ap_id in [a["AccessPointId"] for a in by_fs]
    assert ap_id in [a["AccessPointId"] for a in efs.describe_access_points()["AccessPoints"]]
    deleted = efs.delete_access_point(AccessPointId=ap_id)
    assert deleted["ResponseMetadata"]["HTTPStatusCode"] == 204
    with pytest.raises(ClientError) as exc:
        efs.describe_access_points(AccessPointId=ap_id)
    assert error_of(exc) == ("AccessPointNotFound", 404)
    with pytest.raises(ClientError) as exc:
        efs.delete_access_point(AccessPointId=ap_id)
    assert error_of(exc) == ("AccessPointNotFound", 404)


def test_access_point_defaults(efs, fs):
    out = efs.create_access_point(FileSystemId=fs["FileSystemId"])  # botocore fills the token
    assert out["RootDirectory"] == {"Path": "/"}
    assert "PosixUser" not in out and out["Tags"] == [] and out["ClientToken"]
    efs.delete_access_point(AccessPointId=out["AccessPointId"])


def test_access_point_client_token(efs, fs):
    token = "ap-" + uuid.uuid4().hex
    kw = dict(ClientToken=token, FileSystemId=fs["FileSystemId"],
              RootDirectory={"Path": "/idem"})
    first = efs.create_access_point(**kw)
    again = efs.create_access_point(**kw)
    assert again["AccessPointId"] == first["AccessPointId"]
    assert len([a for a in efs.describe_access_points(FileSystemId=fs["FileSystemId"])[
        "AccessPoints"] if a["ClientToken"] == token]) == 1
    with pytest.raises(ClientError) as exc:
        efs.create_access_point(ClientToken=token, FileSystemId=fs["FileSystemId"],
                                RootDirectory={"Path": "/other"})
    assert error_of(exc) == ("AccessPointAlreadyExists", 409)
    assert exc.value.response["AccessPointId"] == first["AccessPointId"]
    # Deleted, the token is free again.
    efs.delete_access_point(AccessPointId=first["AccessPointId"])
    fresh = efs.create_access_point(**kw)
    assert fresh["AccessPointId"] != first["AccessPointId"]
    efs.delete_access_point(AccessPointId=fresh["AccessPointId"])


@pytest.mark.parametrize("kw", [
    {"RootDirectory": {"Path": "/a/../b"}},
    {"RootDirectory": {"Path": "/.hidden"}},
    {"RootDirectory": {"Path": "relative"}},
    {"RootDirectory": {"Path": "/a/b/c/d/e"}},
    {"RootDirectory": {"Path": "/a//b"}},
    {"RootDirectory": {"Path": "/a;b"}},
    {"RootDirectory": {"Path": "/a", "CreationInfo": {"OwnerUid": 0, "OwnerGid": 0,
                                                      "Permissions": "999"}}},
    {"RootDirectory": {"Path": "/a", "CreationInfo": {"OwnerUid": 0, "OwnerGid": 0}}},
    {"PosixUser": {"Uid": 4294967296, "Gid": 0}},
    {"PosixUser": {"Uid": -1, "Gid": 0}},
    {"PosixUser": {"Uid": 1}},
    {"PosixUser": {"Uid": 1, "Gid": 1, "SecondaryGids": list(range(17))}},
    {"Tags": [{"Key": "aws:x", "Value": "1"}]},
    {"Tags": [{"Key": "k", "Value": "1"}, {"Key": "k", "Value": "2"}]},
    {"ClientToken": ""},
    {"ClientToken": "x" * 65},
])
def test_create_access_point_validation(loose_efs, fs, kw):
    params = {"ClientToken": "v-" + uuid.uuid4().hex, "FileSystemId": fs["FileSystemId"]}
    params.update(kw)
    with pytest.raises(ClientError) as exc:
        loose_efs.create_access_point(**params)
    assert error_of(exc) == ("BadRequest", 400)
    assert exc.value.response["Error"]["Message"]


def test_create_access_point_wrong_type(loose_efs, fs):
    with pytest.raises(ClientError) as exc:
        loose_efs.create_access_point(ClientToken="t", FileSystemId=fs["FileSystemId"],
                                      PosixUser={"Uid": "root", "Gid": 0})
    assert error_of(exc) == ("BadRequest", 400)


def test_create_access_point_unknown_file_system(efs, loose_efs):
    with pytest.raises(ClientError) as exc:
        efs.create_access_point(ClientToken="t", FileSystemId="fs-0123456789abcdef0")
    assert error_of(exc) == ("FileSystemNotFound", 404)
    with pytest.raises(ClientError) as exc:
        loose_efs.create_access_point(ClientToken="t", FileSystemId="vol-1")
    assert error_of(exc) == ("BadRequest", 400)
    other = "arn:aws:elasticfilesystem:%s:999999999999:file-system/fs-0123456789abcdef0" % REGION
    with pytest.raises(ClientError) as exc:
        efs.create_access_point(ClientToken="t", FileSystemId=other)
    assert error_of(exc) == ("FileSystemNotFound", 404)


def test_describe_access_points_pages_and_errors(efs, loose_efs):
    fs = new_fs(efs)
    made = [efs.create_access_point(FileSystemId=fs["FileSystemId"],
                                    RootDirectory={"Path": "/p%d" % i})["AccessPointId"]
            for i in range(5)]
    seen, token = [], None
    while True:
        kw = {"NextToken": token} if token else {}
        page = efs.describe_access_points(FileSystemId=fs["FileSystemId"], MaxResults=2, **kw)
        assert len(page["AccessPoints"]) <= 2
        seen += [a["AccessPointId"] for a in page["AccessPoints"]]
        token = page.get("NextToken")
        if not token:
            break
    assert seen == made
    with pytest.raises(ClientError) as exc:
        efs.describe_access_points(AccessPointId=made[0], FileSystemId=fs["FileSystemId"])
    assert error_of(exc) == ("BadRequest", 400)
    with pytest.raises(ClientError) as exc:
        efs.describe_access_points(FileSystemId="fs-0123456789abcdef0")
    assert error_of(exc) == ("FileSystemNotFound", 404)
    with pytest.raises(ClientError) as exc:
        loose_efs.describe_access_points(AccessPointId="ap-1")
    assert error_of(exc) == ("BadRequest", 400)
    with pytest.raises(ClientError) as exc:
        loose_efs.describe_access_points(MaxResults=0)
    assert error_of(exc) == ("BadRequest", 400)
    with pytest.raises(ClientError) as exc:
        efs.describe_access_points(NextToken="garbage")
    assert error_of(exc) == ("BadRequest", 400)
    for ap_id in made:
        efs.delete_access_point(AccessPointId=ap_id)
    assert efs.describe_access_points(FileSystemId=fs["FileSystemId"])["AccessPoints"] == []


def test_tags(efs, fs):
    ap = efs.create_access_point(FileSystemId=fs["FileSystemId"],
                                 Tags=[{"Key": "a", "Value": "1"}])
    ap_id = ap["AccessPointId"]
    efs.tag_resource(ResourceId=ap_id, Tags=[{"Key": "Name", "Value": "named"},
                                             {"Key": "a", "Value": "2"}])
    assert sorted((t["Key"], t["Value"]) for t in efs.list_tags_for_resource(
        ResourceId=ap_id)["Tags"]) == [("Name", "named"), ("a", "2")]
    assert efs.describe_access_points(AccessPointId=ap_id)["AccessPoints"][0]["Name"] == "named"
    efs.untag_resource(ResourceId=ap_id, TagKeys=["Name"])
    described = efs.describe_access_points(AccessPointId=ap_id)["AccessPoints"][0]
    assert "Name" not in described and described["Tags"] == [{"Key": "a", "Value": "2"}]
    fs_tags = efs.list_tags_for_resource(ResourceId=fs["FileSystemId"])["Tags"]
    assert {"Key": "Name", "Value": "volumes"} in fs_tags
    with pytest.raises(ClientError) as exc:
        efs.tag_resource(ResourceId="fsap-0123456789abcdef0", Tags=[{"Key": "a", "Value": "b"}])
    assert error_of(exc) == ("AccessPointNotFound", 404)
    with pytest.raises(ClientError) as exc:
        efs.list_tags_for_resource(ResourceId="fs-0123456789abcdef0")
    assert error_of(exc) == ("FileSystemNotFound", 404)
    efs.delete_access_point(AccessPointId=ap_id)


def test_faults_apply_to_efs(sim, efs):
    sim.post("/_sim/faults", {"service": "efs", "operation": "CreateAccessPoint",
                              "error": "ThrottlingException", "status": 429, "count": 1})
    with pytest.raises(ClientError) as exc:
        efs.create_access_point(ClientToken="t", FileSystemId="fs-0123456789abcdef0")
    assert error_of(exc) == ("ThrottlingException", 429)
    assert sim.get("/_sim/calls").get("efs.CreateAccessPoint", 0) >= 1


def test_limit_lifecycle_state_and_persistence(fresh_sim):
    """A new file system is 'creating' for a while (access points refused
    with IncorrectFileSystemLifeCycleState), the access point limit is
    enforced per file system, and everything survives a restart."""
    s = fresh_sim("--efs-access-point-limit", "2", "--efs-creating-seconds", "1").start()
    efs = s.client("efs")
    fs_id = efs.create_file_system(CreationToken="limit")["FileSystemId"]
    with pytest.raises(ClientError) as exc:
        efs.create_access_point(ClientToken="early", FileSystemId=fs_id)
    assert error_of(exc) == ("IncorrectFileSystemLifeCycleState", 409)
    wait_available(efs, fs_id)
    kept = [efs.create_access_point(ClientToken="c%d" % i, FileSystemId=fs_id,
                                    RootDirectory={"Path": "/d%d" % i})["AccessPointId"]
            for i in range(2)]
    with pytest.raises(ClientError) as exc:
        efs.create_access_point(ClientToken="c2", FileSystemId=fs_id)
    assert error_of(exc) == ("AccessPointLimitExceeded", 403)
    # A retry of one that exists is not a new access point.
    assert efs.create_access_point(ClientToken="c0", FileSystemId=fs_id,
                                   RootDirectory={"Path": "/d0"})["AccessPointId"] == kept[0]
    s.stop()
    s.start()
    efs = s.client("efs")
    assert efs.describe_file_systems(FileSystemId=fs_id)["FileSystems"][0][
        "LifeCycleState"] == "available"
    assert sorted(a["AccessPointId"] for a in efs.describe_access_points(
        FileSystemId=fs_id)["AccessPoints"]) == sorted(kept)
    efs.delete_access_point(AccessPointId=kept[0])
    efs.create_access_point(ClientToken="c3", FileSystemId=fs_id)
