#!/usr/bin/python3
"""Time an ECS task's start on a running simulator: RunTask until the task
is RUNNING (and StopTask until STOPPED), for a busybox `sleep` task, N times
in a row; prints the medians.

    measure_start.py ENDPOINT N SUBNET GROUP
    e.g. measure_start.py http://127.0.0.1:48610 10 subnet-0default sg-0default"""

import statistics
import sys
import time

import botocore.session


def main(endpoint, count, subnet, group):
    ecs = botocore.session.get_session().create_client(
        "ecs", endpoint_url=endpoint, region_name="us-east-1",
        aws_access_key_id="AKIDSOCKERLESSTEST", aws_secret_access_key="sockerless-test-secret")
    ecs.create_cluster(clusterName="measure")
    td = ecs.register_task_definition(
        family="measure", requiresCompatibilities=["FARGATE"], networkMode="awsvpc",
        cpu="256", memory="512", executionRoleArn="arn:aws:iam::123456789012:role/x",
        containerDefinitions=[{"name": "main", "image": "busybox", "command": ["sleep", "60"],
                               "stopTimeout": 1}])["taskDefinition"]["taskDefinitionArn"]

    def wait(arn, status):
        while ecs.describe_tasks(cluster="measure",
                                 tasks=[arn])["tasks"][0]["lastStatus"] != status:
            time.sleep(0.02)

    starts, stops = [], []
    for _ in range(count):
        began = time.time()
        arn = ecs.run_task(cluster="measure", taskDefinition=td, launchType="FARGATE",
                           networkConfiguration={"awsvpcConfiguration": {
                               "subnets": [subnet], "securityGroups": [group]}}
                           )["tasks"][0]["taskArn"]
        wait(arn, "RUNNING")
        starts.append(time.time() - began)
        began = time.time()
        ecs.stop_task(cluster="measure", task=arn)
        wait(arn, "STOPPED")
        stops.append(time.time() - began)
    print("start median %.3fs (min %.3f max %.3f)  stop median %.3fs  n=%d"
          % (statistics.median(starts), min(starts), max(starts), statistics.median(stops),
             count))


if __name__ == "__main__":
    if len(sys.argv) != 5:
        sys.exit(__doc__)
    main(sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4])
