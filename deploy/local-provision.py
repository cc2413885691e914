#!/usr/bin/python3
"""Creates what an operator would have set up in a real AWS account before
running the ECS backend: the cluster and the log group. Idempotent.
Used by deploy/local.sh against the AWS simulator."""
import argparse

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


if __name__ == "__main__":
    main()
