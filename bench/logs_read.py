#!/usr/bin/python3
"""The logs step of `make bench` (bench/logs.sh): reads one container's
CloudWatch Logs stream from the AWS simulator directly, the way the ECS
backend pages it (GetLogEvents, startFromHead, forward tokens until the
same token comes back), and prints what that costs, so that `docker logs`
through the backend can be set beside the log service alone.

  logs_read.py SIM_URL          the newest stream of the ECS backend's main
                                containers; prints "<pages> <bytes> <seconds>"
  logs_read.py SIM_URL delete   the same, then deletes the stream (so the
                                simulator's state directory does not keep
                                100 MB per bench run; its saves append only
                                new events, so a kept stream no longer slows
                                later calls)
  logs_read.py SIM_URL settle   waits until that stream's last ingestion time
                                held for 3 s (the simulator copies a task's
                                output from the engine at a few MB/s and may
                                still be at it after the task stopped); prints
                                the seconds waited

Prints numbers; asserts nothing."""
import http.client
import json
import sys
import time
import urllib.parse

import botocore.session
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest

GROUP = "/sockerless/containers"   # the ECS backend's default log group
PREFIX = "sockerless/main/"        # backend-ecs/ecs.h: prefix/container/task


def newest(logs):
    streams = [s for p in logs.get_paginator("describe_log_streams").paginate(
        logGroupName=GROUP, logStreamNamePrefix=PREFIX) for s in p["logStreams"]]
    return max(streams, key=lambda s: s["creationTime"])


def settle(logs):
    t0 = time.monotonic()
    last, since = None, t0
    while time.monotonic() - since < 3 and time.monotonic() - t0 < 600:
        now = newest(logs).get("lastIngestionTime")
        if now != last:
            last, since = now, time.monotonic()
        time.sleep(0.5)
    print("%.1f" % (since - t0))


def main():
    url = sys.argv[1]
    logs = botocore.session.get_session().create_client(
        "logs", endpoint_url=url, region_name="us-east-1",
        aws_access_key_id="AKIDSOCKERLESSTEST",
        aws_secret_access_key="sockerless-test-secret")
    if sys.argv[2:] == ["settle"]:
        settle(logs)
        return
    # The pages are signed by botocore but sent and parsed here: botocore's
    # own parsing of a 1 MB page costs more than the simulator's answer.
    creds = logs._request_signer._credentials
    stream = newest(logs)["logStreamName"]
    body = {"logGroupName": GROUP, "logStreamName": stream, "startFromHead": True}
    pages = size = 0
    token = None
    conn = http.client.HTTPConnection(urllib.parse.urlsplit(url).netloc)
    t0 = time.monotonic()
    while True:
        req = AWSRequest("POST", url + "/", data=json.dumps(body), headers={
            "Content-Type": "application/x-amz-json-1.1",
            "X-Amz-Target": "Logs_20140328.GetLogEvents"})
        SigV4Auth(creds, "logs", "us-east-1").add_auth(req)
        conn.request("POST", "/", body=req.body, headers=dict(req.headers))
        r = conn.getresponse()
        page = json.loads(r.read())
        pages += 1
        size += sum(len(e["message"].encode()) + 1 for e in page["events"])
        if not page["events"] or page["nextForwardToken"] == token:
            break
        token = body["nextToken"] = page["nextForwardToken"]
    elapsed = time.monotonic() - t0
    if sys.argv[2:] == ["delete"]:
        logs.delete_log_stream(logGroupName=GROUP, logStreamName=stream)
    print(pages, size, "%.2f" % elapsed)

if __name__ == "__main__":
    main()
