#!/usr/bin/python3
"""Creates what an operator would have set up in a real AWS account before
running the ECS backend: the cluster, the log group and the EFS file system
that holds the volumes (--efs-out: its id is written there). Idempotent.
Used by deploy/local.sh against the AWS simulator."""
import argparse
import os
import time

import botocore.session
from botocore.exceptions import ClientError


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--endpoint", required=True)
    ap.add_argument("--region", required=True)
    ap.add_argument("--access-key", required=True)
    ap.add_argument("--secret-key", required=True)
    ap.add_argument("--cluster", default="sockerless")
    ap.add_argument("--log-group", default="/sockerless/containers")
    ap.add_argument("--efs-token", default="sockerless-local",
                    help="the EFS file system's CreationToken")
    ap.add_argument("--efs-out", default=None,
                    help="create (or find) the file system and write its id here")
    a = ap.parse_args()
    s = botocore.session.get_session()
    kw = dict(endpoint_url=a.endpoint, region_name=a.region,
              aws_access_key_id=a.access_key,
              aws_secret_access_key=a.secret_key)
    s.create_client("ecs", **kw).create_cluster(clusterName=a.cluster)
    try:
        s.create_client("logs", **kw).create_log_group(
            logGroupName=a.log_group)
    except ClientError as e:
        if e.response["Error"]["Code"] != "ResourceAlreadyExistsException":
            raise
    if a.efs_out:
        fs_id = file_system(s.create_client("efs", **kw), a.efs_token)
        with open(a.efs_out + ".tmp", "w") as f:
            f.write(fs_id + "\n")
        os.replace(a.efs_out + ".tmp", a.efs_out)


def file_system(efs, token):
    """The id of the file system with this creation token, created when
    there is none, once it is available."""
    found = efs.describe_file_systems(CreationToken=token)["FileSystems"]
    if found:
        fs_id = found[0]["FileSystemId"]
    else:
        fs_id = efs.create_file_system(
            CreationToken=token, Encrypted=True,
            Tags=[{"Key": "Name", "Value": "sockerless-volumes"}])["FileSystemId"]
    deadline = time.time() + 30
    while time.time() < deadline:
        state = efs.describe_file_systems(FileSystemId=fs_id)["FileSystems"][0]
        if state["LifeCycleState"] == "available":
            return fs_id
        time.sleep(0.1)
    raise SystemExit("local-provision: file system %s is not available after 30 s" % fs_id)


if __name__ == "__main__":
    main()
