"""ECR: authorization tokens and repositories."""

import base64
import time

import pytest
from botocore.exceptions import ClientError

from conftest import ACCOUNT, REGION


def test_get_authorization_token(sim):
    out = sim.client("ecr").get_authorization_token()
    data = out["authorizationData"][0]
    user, _, password = base64.b64decode(data["authorizationToken"]).decode().partition(":")
    assert user == "AWS" and password
    assert data["proxyEndpoint"] == "https://%s.dkr.ecr.%s.amazonaws.com" % (ACCOUNT, REGION)
    assert data["expiresAt"].timestamp() > time.time() + 11 * 3600


def test_repositories(sim):
    ecr = sim.client("ecr")
    repo = ecr.create_repository(repositoryName="team/app")["repository"]
    assert repo["repositoryUri"] == "%s.dkr.ecr.%s.amazonaws.com/team/app" % (ACCOUNT, REGION)
    assert repo["registryId"] == ACCOUNT
    with pytest.raises(ClientError) as exc:
        ecr.create_repository(repositoryName="team/app")
    assert exc.value.response["Error"]["Code"] == "RepositoryAlreadyExistsException"
    found = ecr.describe_repositories(repositoryNames=["team/app"])["repositories"]
    assert [r["repositoryArn"] for r in found] == [repo["repositoryArn"]]
    with pytest.raises(ClientError) as exc:
        ecr.describe_repositories(repositoryNames=["missing"])
    assert exc.value.response["Error"]["Code"] == "RepositoryNotFoundException"


def test_repository_name_pattern_is_validated(sim):
    ecr = sim.client("ecr")
    with pytest.raises(ClientError) as exc:
        ecr.create_repository(repositoryName="UPPER/Case")
    assert exc.value.response["Error"]["Code"] == "InvalidParameterException"
    assert "failed to satisfy constraint" in exc.value.response["Error"]["Message"]
