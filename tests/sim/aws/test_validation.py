"""Input validation against the botocore models, error envelopes and the
JSON 1.1 protocol details. Clients here skip botocore's own parameter
validation so that bad input reaches the simulator."""

import json
import urllib.error
import urllib.request

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.exceptions import ClientError

from conftest import ACCESS_KEY, NETWORK, REGION, SECRET_KEY, task_definition


@pytest.fixture(scope="module")
def loose_ecs(sim):
    return sim.client("ecs", parameter_validation=False)


def error_of(exc_info):
    r = exc_info.value.response
    return r["Error"]["Code"], r["ResponseMetadata"]["HTTPStatusCode"], r["Error"]["Message"]


def test_missing_required_member(loose_ecs):
    with pytest.raises(ClientError) as exc:
        loose_ecs.register_task_definition(family="x")
    code, status, message = error_of(exc)
    assert (code, status) == ("ClientException", 400)
    assert message == ("1 validation error detected: Value null at 'containerDefinitions' "
                       "failed to satisfy constraint: Member must not be null")


def test_bad_enum(loose_ecs, cluster):
    td = task_definition(loose_ecs, "enum", ["true"])
    with pytest.raises(ClientError) as exc:
        loose_ecs.run_task(cluster=cluster, taskDefinition=td, launchType="SPACESHIP",
                           networkConfiguration=NETWORK)
    code, status, message = error_of(exc)
    assert (code, status) == ("ClientException", 400)
    assert "'launchType' failed to satisfy constraint: Member must satisfy enum value set" \
        in message


def test_wrong_type_is_a_serialization_error(loose_ecs):
    with pytest.raises(ClientError) as exc:
        loose_ecs.list_clusters(maxResults="ten")
    assert error_of(exc)[:2] == ("SerializationException", 400)


def test_logs_constraint_error(sim):
    logs = sim.client("logs", parameter_validation=False)
    with pytest.raises(ClientError) as exc:
        logs.create_log_group(logGroupName="x" * 600)
    code, status, message = error_of(exc)
    assert (code, status) == ("InvalidParameterException", 400)
    assert "Member must have length less than or equal to 512" in message


def test_run_task_requires_awsvpc_network(sim, cluster):
    ecs = sim.client("ecs")
    td = task_definition(ecs, "nonet", ["true"])
    with pytest.raises(ClientError) as exc:
        ecs.run_task(cluster=cluster, taskDefinition=td, launchType="FARGATE")
    code, status, message = error_of(exc)
    assert code == "InvalidParameterException" and status == 400
    assert "Network Configuration must be provided" in message
    with pytest.raises(ClientError) as exc:
        ecs.run_task(cluster=cluster, taskDefinition=td, launchType="FARGATE",
                     networkConfiguration=NETWORK, count=11)
    assert error_of(exc)[0] in ("InvalidParameterException", "ClientException")
    with pytest.raises(ClientError) as exc:
        ecs.run_task(cluster=cluster, taskDefinition="never-registered", launchType="FARGATE",
                     networkConfiguration=NETWORK)
    assert error_of(exc)[0] == "InvalidParameterException"
    with pytest.raises(ClientError) as exc:
        ecs.run_task(cluster=cluster, taskDefinition=td, launchType="FARGATE",
                     networkConfiguration=NETWORK,
                     overrides={"containerOverrides": [{"name": "other"}]})
    assert error_of(exc)[0] == "InvalidParameterException"


def _post(sim, target, body, service="ecs"):
    request = AWSRequest(method="POST", url=sim.endpoint + "/", data=body, headers={
        "X-Amz-Target": target, "Content-Type": "application/x-amz-json-1.1"})
    SigV4Auth(Credentials(ACCESS_KEY, SECRET_KEY), service, REGION).add_auth(request)
    req = urllib.request.Request(sim.endpoint + "/", data=body, method="POST",
                                 headers=dict(request.headers.items()))
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, resp.headers, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers, exc.read()


def test_unknown_operation(sim):
    status, headers, body = _post(sim, "AmazonEC2ContainerServiceV20141113.LaunchRocket", b"{}")
    assert status == 400
    assert json.loads(body)["__type"] == "UnknownOperationException"
    assert headers["x-amzn-RequestId"]


def test_malformed_json(sim):
    status, _, body = _post(sim, "AmazonEC2ContainerServiceV20141113.ListClusters", b"{nope")
    assert status == 400
    assert json.loads(body)["__type"] == "SerializationException"


def test_unknown_members_are_ignored(sim):
    status, headers, body = _post(sim, "AmazonEC2ContainerServiceV20141113.ListClusters",
                                  b'{"noSuchMember": 1}')
    assert status == 200 and "clusterArns" in json.loads(body)
    assert headers["Content-Type"] == "application/x-amz-json-1.1"


def test_request_id_on_success(sim):
    out = sim.client("ecs").list_clusters()
    assert len(out["ResponseMetadata"]["RequestId"]) == 36
    assert out["ResponseMetadata"]["HTTPHeaders"]["x-amzn-requestid"] == \
        out["ResponseMetadata"]["RequestId"]


def test_empty_output_body(sim):
    """Logs CreateLogStream answers 200 with an empty body, as AWS does."""
    sim.client("logs").create_log_group(logGroupName="/empty-body")
    status, _, body = _post(sim, "Logs_20140328.CreateLogStream",
                            b'{"logGroupName": "/empty-body", "logStreamName": "s"}',
                            service="logs")
    assert status == 200 and body == b""
