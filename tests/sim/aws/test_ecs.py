"""ECS: clusters, task definitions and tasks running on the engine."""

import os
import socket
import time
import urllib.error
import uuid

import pytest
from botocore.exceptions import ClientError

from conftest import ACCOUNT, EXEC_ROLE, NETWORK, REGION, run, task_definition, task_id, \
    wait_status


def code_of(exc_info):
    return exc_info.value.response["Error"]["Code"]


# Clusters.

def test_cluster_lifecycle(ecs):
    created = ecs.create_cluster(clusterName="life",
                                 tags=[{"key": "team", "value": "a"}])["cluster"]
    arn = "arn:aws:ecs:%s:%s:cluster/life" % (REGION, ACCOUNT)
    assert created["clusterArn"] == arn and created["status"] == "ACTIVE"
    assert ecs.create_cluster(clusterName="life")["cluster"]["clusterArn"] == arn
    assert arn in ecs.list_clusters()["clusterArns"]
    out = ecs.describe_clusters(clusters=["life", "nope"], include=["TAGS"])
    assert [c["clusterName"] for c in out["clusters"]] == ["life"]
    assert out["clusters"][0]["tags"] == [{"key": "team", "value": "a"}]
    assert out["clusters"][0]["runningTasksCount"] == 0
    assert out["failures"] == [{"arn": "arn:aws:ecs:%s:%s:cluster/nope" % (REGION, ACCOUNT),
                                "reason": "MISSING"}]
    ecs.tag_resource(resourceArn=arn, tags=[{"key": "env", "value": "t"}])
    assert {"key": "env", "value": "t"} in ecs.list_tags_for_resource(resourceArn=arn)["tags"]
    ecs.untag_resource(resourceArn=arn, tagKeys=["team"])
    assert ecs.list_tags_for_resource(resourceArn=arn)["tags"] == [{"key": "env", "value": "t"}]
    deleted = ecs.delete_cluster(cluster="life")["cluster"]
    assert deleted["status"] == "INACTIVE"
    assert arn not in ecs.list_clusters()["clusterArns"]
    assert ecs.describe_clusters(clusters=[arn])["clusters"][0]["status"] == "INACTIVE"
    with pytest.raises(ClientError) as exc:
        ecs.list_tasks(cluster="life")
    assert code_of(exc) == "ClusterNotFoundException"


def test_run_task_on_missing_cluster(ecs):
    td = task_definition(ecs, "nocluster", ["true"])
    with pytest.raises(ClientError) as exc:
        ecs.run_task(cluster="missing", taskDefinition=td, launchType="FARGATE",
                     networkConfiguration=NETWORK)
    assert code_of(exc) == "ClusterNotFoundException"
    assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400


# Task definitions.

def test_task_definition_revisions(ecs):
    family = "fam-" + uuid.uuid4().hex[:8]
    first = task_definition(ecs, family, ["echo", "1"])
    second = task_definition(ecs, family, ["echo", "2"], stopTimeout=5)
    assert first.endswith(":task-definition/%s:1" % family)
    assert second.endswith(":task-definition/%s:2" % family)
    latest = ecs.describe_task_definition(taskDefinition=family)["taskDefinition"]
    assert latest["revision"] == 2 and latest["status"] == "ACTIVE"
    assert latest["compatibilities"] == ["EC2", "FARGATE"]
    assert latest["containerDefinitions"][0]["stopTimeout"] == 5
    assert latest["registeredBy"] == "arn:aws:iam::%s:user/sockerless" % ACCOUNT
    one = ecs.describe_task_definition(taskDefinition=first)["taskDefinition"]
    assert one["containerDefinitions"][0]["command"] == ["echo", "1"]
    listed = ecs.list_task_definitions(familyPrefix=family)["taskDefinitionArns"]
    assert listed == [first, second]
    gone = ecs.deregister_task_definition(taskDefinition=second)["taskDefinition"]
    assert gone["status"] == "INACTIVE"
    assert ecs.describe_task_definition(taskDefinition=family)["taskDefinition"]["revision"] == 1
    assert ecs.list_task_definitions(familyPrefix=family, status="INACTIVE")[
        "taskDefinitionArns"] == [second]
    with pytest.raises(ClientError) as exc:
        ecs.run_task(cluster="test", taskDefinition=second, launchType="FARGATE",
                     networkConfiguration=NETWORK)
    assert code_of(exc) in ("InvalidParameterException", "ClusterNotFoundException")
    with pytest.raises(ClientError) as exc:
        ecs.describe_task_definition(taskDefinition=family + ":9")
    assert code_of(exc) == "ClientException"


def test_fargate_rules_are_enforced(ecs):
    with pytest.raises(ClientError) as exc:
        ecs.register_task_definition(
            family="badsize", requiresCompatibilities=["FARGATE"], networkMode="awsvpc",
            cpu="256", memory="4096", containerDefinitions=[{"name": "m", "image": "busybox"}])
    assert code_of(exc) == "ClientException"
    assert "No Fargate configuration" in str(exc.value)
    with pytest.raises(ClientError) as exc:
        ecs.register_task_definition(
            family="badnet", requiresCompatibilities=["FARGATE"], networkMode="bridge",
            cpu="256", memory="512", containerDefinitions=[{"name": "m", "image": "busybox"}])
    assert code_of(exc) == "ClientException"


def test_backend_shaped_task_definition(ecs, cluster, logs, log_group):
    """The RegisterTaskDefinition/RunTask bodies backend-ecs sends."""
    out = ecs.register_task_definition(
        family="sockerless-abc123", requiresCompatibilities=["FARGATE"], networkMode="awsvpc",
        cpu="256", memory="512", executionRoleArn=EXEC_ROLE,
        runtimePlatform={"operatingSystemFamily": "LINUX", "cpuArchitecture": "X86_64"},
        containerDefinitions=[{
            "name": "main", "image": "busybox:latest", "essential": True,
            "command": ["sh", "-c", "echo $GREETING from $(pwd) as $(id -u)"],
            "environment": [{"name": "GREETING", "value": "hello"}],
            "workingDirectory": "/tmp", "user": "1234", "stopTimeout": 2,
            "interactive": False, "pseudoTerminal": False,
            "dockerLabels": {"com.example": "x"},
            "portMappings": [{"containerPort": 8080, "protocol": "tcp"}],
            "logConfiguration": {"logDriver": "awslogs", "options": {
                "awslogs-group": log_group, "awslogs-region": REGION,
                "awslogs-stream-prefix": "sk"}}}],
        tags=[{"key": "sockerless", "value": "1"}])
    td = out["taskDefinition"]["taskDefinitionArn"]
    assert out["tags"] == [{"key": "sockerless", "value": "1"}]
    token = str(uuid.uuid4())
    task = run(ecs, cluster, td, count=1, startedBy="sockerless", clientToken=token,
               tags=[{"key": "sockerless-id", "value": "c1"}])
    assert task["lastStatus"] == "PROVISIONING" and task["desiredStatus"] == "RUNNING"
    assert task["startedBy"] == "sockerless"
    assert task["tags"] == [{"key": "sockerless-id", "value": "c1"}]
    arn = task["taskArn"]
    assert arn.startswith("arn:aws:ecs:%s:%s:task/%s/" % (REGION, ACCOUNT, cluster))
    listed = ecs.list_tasks(cluster=cluster, startedBy="sockerless", maxResults=100)
    final, _ = wait_status(ecs, cluster, arn, "STOPPED")
    assert arn in listed["taskArns"] or final["lastStatus"] == "STOPPED"
    assert final["containers"][0]["exitCode"] == 0
    assert final["containers"][0]["name"] == "main"
    events = wait_events(logs, log_group, "sk/main/" + task_id(arn), 1)
    assert [e["message"] for e in events] == ["hello from /tmp as 1234"]
    # A replayed RunTask (same clientToken) answers the same task.
    again = run(ecs, cluster, td, count=1, startedBy="sockerless", clientToken=token)
    assert again["taskArn"] == arn
    assert ecs.deregister_task_definition(taskDefinition=td)["taskDefinition"]["status"] \
        == "INACTIVE"


def test_run_exit_code(ecs, cluster):
    td = task_definition(ecs, "exit3", ["sh", "-c", "sleep 0.5; exit 3"])
    task = run(ecs, cluster, td)
    arn = task["taskArn"]
    ip = task["containers"][0]["networkInterfaces"][0]["privateIpv4Address"]
    assert ip.startswith("10.") and not ip.endswith((".0", ".255"))
    details = {d["name"]: d["value"] for d in task["attachments"][0]["details"]}
    assert details["privateIPv4Address"] == ip
    assert task["attachments"][0]["type"] == "ElasticNetworkInterface"
    final, seen = wait_status(ecs, cluster, arn, "STOPPED")
    assert "RUNNING" in seen, seen
    assert seen.index("RUNNING") < seen.index("STOPPED")
    assert final["desiredStatus"] == "STOPPED"
    assert final["stopCode"] == "EssentialContainerExited"
    assert final["stoppedReason"] == "Essential container in task exited"
    container = final["containers"][0]
    assert container["exitCode"] == 3 and container["lastStatus"] == "STOPPED"
    for key in ("createdAt", "pullStartedAt", "pullStoppedAt", "startedAt", "stoppingAt",
                "executionStoppedAt", "stoppedAt"):
        assert key in final, key
    assert final["createdAt"] <= final["startedAt"] <= final["stoppedAt"]
    assert arn in ecs.list_tasks(cluster=cluster, desiredStatus="STOPPED",
                                 family="exit3")["taskArns"]
    assert arn not in ecs.list_tasks(cluster=cluster)["taskArns"]


def test_overrides_env_and_command(ecs, cluster, logs, log_group):
    td = task_definition(ecs, "over", ["echo", "not-this"], log_group=log_group,
                         environment=[{"name": "A", "value": "from-def"}])
    task = run(ecs, cluster, td, overrides={"containerOverrides": [{
        "name": "main", "command": ["sh", "-c", "echo A=$A B=$B; echo ip=$ECS_SIM_TASK_IP"],
        "environment": [{"name": "B", "value": "from-override"}]}]})
    final, _ = wait_status(ecs, cluster, task["taskArn"], "STOPPED")
    assert final["containers"][0]["exitCode"] == 0
    assert final["overrides"]["containerOverrides"][0]["command"][0] == "sh"
    events = wait_events(logs, log_group, "sk/main/" + task_id(task["taskArn"]), 2)
    ip = task["containers"][0]["networkInterfaces"][0]["privateIpv4Address"]
    assert [e["message"] for e in events] == ["A=from-def B=from-override", "ip=" + ip]


def wait_events(logs, group, stream, count, timeout=15):
    deadline = time.time() + timeout
    while True:
        events = logs.get_log_events(logGroupName=group, logStreamName=stream,
                                     startFromHead=True)["events"]
        if len(events) >= count or time.time() > deadline:
            return events
        time.sleep(0.2)


def test_task_address_is_reachable(ecs, cluster):
    """Each task has its own network namespace on the VPC bridge, and the
    host reaches a server in a task at its private IPv4 address."""
    td = task_definition(ecs, "httpd", ["sh", "-c", "mkdir -p /tmp/w && echo hi > /tmp/w/i "
                                        "&& exec httpd -f -p $ECS_SIM_TASK_IP:18080 -h /tmp/w"],
                         stopTimeout=2)
    task = run(ecs, cluster, td)
    ip = task["containers"][0]["networkInterfaces"][0]["privateIpv4Address"]
    running, _ = wait_status(ecs, cluster, task["taskArn"], "RUNNING")
    assert running["lastStatus"] == "RUNNING"
    deadline = time.time() + 10
    while True:
        try:
            with socket.create_connection((ip, 18080), timeout=2) as s:
                s.sendall(b"GET /i HTTP/1.0\r\n\r\n")
                reply = b""
                while True:
                    chunk = s.recv(4096)
                    if not chunk:
                        break
                    reply += chunk
            break
        except OSError:
            if time.time() > deadline:
                raise
            time.sleep(0.2)
    assert reply.startswith(b"HTTP/1.") and reply.endswith(b"hi\n")
    ecs.stop_task(cluster=cluster, task=task["taskArn"], reason="done")
    final, _ = wait_status(ecs, cluster, task["taskArn"], "STOPPED")
    assert final["stopCode"] == "UserInitiated" and final["stoppedReason"] == "done"


def test_stop_task_sigterm(ecs, cluster):
    td = task_definition(ecs, "trap", ["sh", "-c", "trap 'exit 143' TERM; sleep 300 & wait"])
    task = run(ecs, cluster, td, startedBy="stopper")
    arn = task["taskArn"]
    wait_status(ecs, cluster, arn, "RUNNING")
    assert arn in ecs.list_tasks(cluster=cluster, startedBy="stopper")["taskArns"]
    started = time.time()
    stopped = ecs.stop_task(cluster=cluster, task=arn, reason="Stopped by test")["task"]
    assert stopped["desiredStatus"] == "STOPPED"
    final, _ = wait_status(ecs, cluster, arn, "STOPPED")
    assert time.time() - started < 10
    assert final["stopCode"] == "UserInitiated"
    assert final["stoppedReason"] == "Stopped by test"
    assert final["containers"][0]["exitCode"] == 143
    assert arn in ecs.list_tasks(cluster=cluster, desiredStatus="STOPPED",
                                 startedBy="stopper")["taskArns"]
    with pytest.raises(ClientError) as exc:
        ecs.stop_task(cluster=cluster, task="0123456789abcdef0123456789abcdef")
    assert code_of(exc) == "InvalidParameterException"


def test_stop_task_sigkill_after_stop_timeout(ecs, cluster):
    # PID 1 without a TERM handler ignores SIGTERM: SIGKILL after 1 s.
    td = task_definition(ecs, "stubborn", ["sleep", "300"], stopTimeout=1)
    task = run(ecs, cluster, td)
    wait_status(ecs, cluster, task["taskArn"], "RUNNING")
    started = time.time()
    ecs.stop_task(cluster=cluster, task=task_id(task["taskArn"]))
    final, _ = wait_status(ecs, cluster, task["taskArn"], "STOPPED")
    assert 0.9 <= time.time() - started < 10
    assert final["containers"][0]["exitCode"] == 137
    assert final["stoppedReason"] == "Task stopped by user"


def test_client_token_idempotency(ecs, cluster, sim):
    td = task_definition(ecs, "idem", ["true"])
    token = str(uuid.uuid4())
    sim.post("/_sim/calls/reset")
    first = run(ecs, cluster, td, clientToken=token)
    second = run(ecs, cluster, td, clientToken=token)
    assert first["taskArn"] == second["taskArn"]
    other = run(ecs, cluster, td, clientToken=str(uuid.uuid4()))
    assert other["taskArn"] != first["taskArn"]
    assert sim.get("/_sim/calls")["ecs.RunTask"] == 3
    for arn in (first["taskArn"], other["taskArn"]):
        wait_status(ecs, cluster, arn, "STOPPED")


def test_running_lag(ecs, cluster, sim):
    """/_sim/ecs/running-lag: the task reports RUNNING that long after its
    containers run (they run, and their status says so, meanwhile)."""
    td = task_definition(ecs, "lag", ["sleep", "30"], stopTimeout=2)
    sim.post("/_sim/ecs/running-lag", {"seconds": 3})
    try:
        assert sim.get("/_sim/ecs/running-lag") == {"seconds": 3}
        task = run(ecs, cluster, td)
        deadline = time.time() + 30
        while True:
            described = ecs.describe_tasks(cluster=cluster, tasks=[task["taskArn"]])["tasks"][0]
            if described["containers"][0]["lastStatus"] == "RUNNING" or time.time() > deadline:
                break
            time.sleep(0.1)
        assert described["containers"][0]["lastStatus"] == "RUNNING", described
        assert described["lastStatus"] == "PENDING", described
        running, _ = wait_status(ecs, cluster, task["taskArn"], "RUNNING")
        assert running["lastStatus"] == "RUNNING"
    finally:
        sim.post("/_sim/ecs/running-lag", {"seconds": 0})
    ecs.stop_task(cluster=cluster, task=task["taskArn"])
    wait_status(ecs, cluster, task["taskArn"], "STOPPED")
    with pytest.raises(urllib.error.HTTPError) as exc_info:
        sim.post("/_sim/ecs/running-lag", {"seconds": -1})
    assert exc_info.value.code == 400


def test_task_tags(ecs, cluster):
    td = task_definition(ecs, "tagged", ["true"])
    task = run(ecs, cluster, td, tags=[{"key": "a", "value": "1"}])
    arn = task["taskArn"]
    ecs.tag_resource(resourceArn=arn, tags=[{"key": "b", "value": "2"}])
    tags = ecs.list_tags_for_resource(resourceArn=arn)["tags"]
    assert sorted(t["key"] for t in tags) == ["a", "b"]
    described = ecs.describe_tasks(cluster=cluster, tasks=[arn], include=["TAGS"])["tasks"][0]
    assert sorted(t["key"] for t in described["tags"]) == ["a", "b"]
    assert "tags" not in ecs.describe_tasks(cluster=cluster, tasks=[arn])["tasks"][0]
    wait_status(ecs, cluster, arn, "STOPPED")


def test_describe_missing_task(ecs, cluster):
    missing = "arn:aws:ecs:%s:%s:task/%s/%s" % (REGION, ACCOUNT, cluster, "f" * 32)
    out = ecs.describe_tasks(cluster=cluster, tasks=[missing])
    assert out["tasks"] == [] and out["failures"] == [{"arn": missing, "reason": "MISSING"}]


def test_pull_failure_stops_task(ecs, cluster):
    registry = os.environ["SK_REGISTRY"]
    td = task_definition(ecs, "nopull", ["true"], image=registry + "/library/nonexistent:1")
    task = run(ecs, cluster, td)
    final, seen = wait_status(ecs, cluster, task["taskArn"], "STOPPED")
    assert "RUNNING" not in seen
    assert final["stopCode"] == "TaskFailedToStart"
    assert final["stoppedReason"].startswith("CannotPullContainerError")
    assert "exitCode" not in final["containers"][0]


def test_missing_log_group_fails_task(ecs, cluster):
    td = task_definition(ecs, "nolog", ["true"], log_group="/does/not/exist")
    task = run(ecs, cluster, td)
    final, _ = wait_status(ecs, cluster, task["taskArn"], "STOPPED")
    assert final["stopCode"] == "TaskFailedToStart"
    assert "ResourceInitializationError" in final["stoppedReason"]


def test_agent_shaped_task(ecs, cluster, logs, log_group):
    """What backend-ecs registers with ecs.agent on: a non-essential init
    container fills a task-scoped volume (no host) that the main container
    mounts read-only and starts from once the init container COMPLETEd; no
    listen address is imposed: the task has its own namespace (awsvpc)."""
    awslogs = {"logDriver": "awslogs", "options": {
        "awslogs-group": log_group, "awslogs-region": REGION, "awslogs-stream-prefix": "sk"}}
    out = ecs.register_task_definition(
        family="agent-shaped", requiresCompatibilities=["FARGATE"], networkMode="awsvpc",
        cpu="256", memory="512", executionRoleArn=EXEC_ROLE,
        volumes=[{"name": "sockerless-agent"}],
        containerDefinitions=[
            {"name": "main", "image": "busybox", "essential": True,
             "entryPoint": ["/sockerless/sh", "-c"],
             "command": ["echo listen=$SOCKERLESS_AGENT_LISTEN; echo x > /sockerless/w "
                         "|| echo read-only"],
             "mountPoints": [{"sourceVolume": "sockerless-agent",
                              "containerPath": "/sockerless", "readOnly": True}],
             "dependsOn": [{"containerName": "sockerless-agent-init",
                            "condition": "COMPLETE"}],
             "portMappings": [{"containerPort": 9111, "protocol": "tcp"}],
             "logConfiguration": awslogs},
            {"name": "sockerless-agent-init", "image": "busybox", "essential": False,
             "entryPoint": ["sh", "-c", "sleep 0.3; cp /bin/busybox /sockerless/sh"],
             "mountPoints": [{"sourceVolume": "sockerless-agent",
                              "containerPath": "/sockerless"}],
             "logConfiguration": awslogs}])
    td = out["taskDefinition"]["taskDefinitionArn"]
    assert out["taskDefinition"]["volumes"] == [{"name": "sockerless-agent"}]
    task = run(ecs, cluster, td)
    ip = task["containers"][0]["networkInterfaces"][0]["privateIpv4Address"]
    final, _ = wait_status(ecs, cluster, task["taskArn"], "STOPPED")
    by_name = {c["name"]: c for c in final["containers"]}
    assert by_name["sockerless-agent-init"]["exitCode"] == 0
    assert by_name["main"]["exitCode"] == 0
    assert final["stopCode"] == "EssentialContainerExited"
    events = wait_events(logs, log_group, "sk/main/" + task_id(task["taskArn"]), 2)
    assert "read-only" in [e["message"] for e in events]
    assert "listen=" in [e["message"] for e in events]
    assert ip.startswith("10.")
