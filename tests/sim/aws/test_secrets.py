"""Secrets Manager: the secrets ECS task definitions name in
repositoryCredentials (create, read, list by tag, delete), through botocore;
a Fargate definition with repositoryCredentials needs an execution role."""

import uuid

import pytest
from botocore.exceptions import ClientError

from conftest import ACCOUNT, REGION


def test_secret_lifecycle(sim):
    sm = sim.client("secretsmanager")
    name = "sockerless/" + uuid.uuid4().hex
    tags = [{"Key": "sockerless:container-id", "Value": "c1"},
            {"Key": "sockerless:instance", "Value": "i-test"}]
    out = sm.create_secret(Name=name, SecretString='{"username":"u","password":"p"}',
                           Tags=tags)
    arn = out["ARN"]
    assert arn.startswith("arn:aws:secretsmanager:%s:%s:secret:%s-" % (REGION, ACCOUNT, name))
    with pytest.raises(ClientError) as exc:
        sm.create_secret(Name=name, SecretString="x")
    assert exc.value.response["Error"]["Code"] == "ResourceExistsException"
    assert sm.get_secret_value(SecretId=arn)["SecretString"] == '{"username":"u","password":"p"}'
    assert sm.get_secret_value(SecretId=name)["ARN"] == arn
    found = sm.list_secrets(Filters=[{"Key": "tag-key", "Values": ["sockerless:instance"]},
                                     {"Key": "tag-value", "Values": ["i-test"]}])["SecretList"]
    assert arn in [s["ARN"] for s in found]
    with pytest.raises(ClientError) as exc:
        sm.delete_secret(SecretId=arn, ForceDeleteWithoutRecovery=True, RecoveryWindowInDays=7)
    assert exc.value.response["Error"]["Code"] == "InvalidParameterException"
    sm.delete_secret(SecretId=arn, ForceDeleteWithoutRecovery=True)
    with pytest.raises(ClientError) as exc:
        sm.get_secret_value(SecretId=arn)
    assert exc.value.response["Error"]["Code"] == "ResourceNotFoundException"


def test_secret_needs_a_value(sim):
    with pytest.raises(ClientError) as exc:
        sim.client("secretsmanager").create_secret(Name="sockerless/" + uuid.uuid4().hex)
    assert exc.value.response["Error"]["Code"] == "InvalidRequestException"


def test_repository_credentials_need_execution_role(sim):
    ecs = sim.client("ecs")
    with pytest.raises(ClientError) as exc:
        ecs.register_task_definition(
            family="sk-regcreds", networkMode="awsvpc", requiresCompatibilities=["FARGATE"],
            cpu="256", memory="512",
            containerDefinitions=[{"name": "main", "image": "127.0.0.1:1/private/x",
                                   "repositoryCredentials": {
                                       "credentialsParameter": "arn:aws:secretsmanager:"
                                       "%s:%s:secret:x" % (REGION, ACCOUNT)}}])
    assert "private registry authentication" in exc.value.response["Error"]["Message"]
