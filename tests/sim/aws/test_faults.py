"""Fault injection and call counting through /_sim/faults and /_sim/calls."""

import time

import pytest
from botocore.exceptions import ClientError

from conftest import NETWORK, task_definition


def test_throttling_reaches_the_client(sim):
    sim.post("/_sim/faults", {"service": "ecs", "operation": "ListClusters",
                              "error": "ThrottlingException", "count": 1})
    ecs = sim.client("ecs")  # one attempt: no retry
    with pytest.raises(ClientError) as exc:
        ecs.list_clusters()
    assert exc.value.response["Error"]["Code"] == "ThrottlingException"
    assert exc.value.response["Error"]["Message"] == "Rate exceeded"
    assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    ecs.list_clusters()  # count was 1: used up


def test_retries_absorb_throttling_and_calls_are_counted(sim):
    sim.post("/_sim/calls/reset")
    sim.post("/_sim/faults", {"service": "logs", "operation": "DescribeLogGroups",
                              "error": "ThrottlingException", "count": 2})
    logs = sim.client("logs", retries={"total_max_attempts": 3, "mode": "standard"})
    out = logs.describe_log_groups()
    assert out["ResponseMetadata"]["RetryAttempts"] == 2
    assert sim.get("/_sim/calls")["logs.DescribeLogGroups"] == 3
    sim.post("/_sim/calls/reset")
    assert sim.get("/_sim/calls") == {}


def test_server_errors_and_latency(sim):
    sim.post("/_sim/faults", [
        {"service": "ecs", "operation": "DescribeClusters", "error": "ServerException",
         "status": 500, "count": 1},
        {"service": "ecs", "operation": "ListClusters", "latency_ms": 400, "count": 1}])
    assert len(sim.get("/_sim/faults")) == 2
    ecs = sim.client("ecs")
    with pytest.raises(ClientError) as exc:
        ecs.describe_clusters(clusters=["test"])
    assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] == 500
    assert exc.value.response["Error"]["Code"] == "ServerException"
    started = time.time()
    ecs.list_clusters()
    assert time.time() - started >= 0.4
    sim.delete("/_sim/faults")
    assert sim.get("/_sim/faults") == []


def test_run_task_failure_entry(sim, ecs, cluster):
    td = task_definition(ecs, "capacity", ["true"])
    sim.post("/_sim/faults", {"service": "ecs", "operation": "RunTask",
                              "run_task_failure": "RESOURCE:MEMORY", "count": 1})
    out = ecs.run_task(cluster=cluster, taskDefinition=td, launchType="FARGATE",
                       networkConfiguration=NETWORK)
    assert out["tasks"] == [] and out["failures"] == [{"reason": "RESOURCE:MEMORY"}]


def test_bad_fault_spec(sim):
    import urllib.error
    with pytest.raises(urllib.error.HTTPError) as exc:
        sim.post("/_sim/faults", {"operation": "RunTask"})
    assert exc.value.code == 400


def test_probabilistic_faults(sim):
    """probability: each matching call is struck by chance; a spared call
    goes on to the next rule (here: latency only), and the draws repeat
    with a seed."""
    sim.post("/_sim/faults", [
        {"service": "ecs", "operation": "ListClusters", "error": "ThrottlingException",
         "probability": 0.3, "count": None, "seed": 7},
        {"service": "ecs", "operation": "ListClusters", "latency_ms": 1, "count": None}])
    ecs = sim.client("ecs")  # one attempt: no retry
    outcomes = []
    for _ in range(200):
        try:
            ecs.list_clusters()
            outcomes.append(0)
        except ClientError as exc:
            assert exc.response["Error"]["Code"] == "ThrottlingException"
            outcomes.append(1)
    assert 30 <= sum(outcomes) <= 90, sum(outcomes)  # about 60 of 200
    assert len(sim.get("/_sim/faults")) == 2  # count null: never used up
    sim.delete("/_sim/faults")
    import urllib.error
    for bad in (0, 1.5, "half", True):
        with pytest.raises(urllib.error.HTTPError) as exc:
            sim.post("/_sim/faults", {"service": "ecs", "probability": bad})
        assert exc.value.code == 400
    assert sim.get("/_sim/faults") == []
