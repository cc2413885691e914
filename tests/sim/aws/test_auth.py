"""SigV4 verification and the STS (query protocol) side of the simulator."""

import base64
import json
import urllib.error
import urllib.request

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.exceptions import ClientError

from conftest import ACCESS_KEY, ACCOUNT, REGION, SECRET_KEY


def error_of(exc_info):
    err = exc_info.value.response
    return err["Error"]["Code"], err["ResponseMetadata"]["HTTPStatusCode"]


def test_wrong_secret_is_rejected(sim):
    ecs = sim.client("ecs", secret="not-the-secret")
    with pytest.raises(ClientError) as exc:
        ecs.list_clusters()
    assert error_of(exc) == ("InvalidSignatureException", 403)
    assert "signature we calculated does not match" in exc.value.response["Error"]["Message"]


def test_unknown_access_key_is_rejected(sim):
    logs = sim.client("logs", key="AKIDUNKNOWN000000000")
    with pytest.raises(ClientError) as exc:
        logs.describe_log_groups()
    assert error_of(exc) == ("UnrecognizedClientException", 403)


def test_sts_wrong_signature_uses_query_codes(sim):
    sts = sim.client("sts", secret="nope")
    with pytest.raises(ClientError) as exc:
        sts.get_caller_identity()
    assert error_of(exc) == ("SignatureDoesNotMatch", 403)


def _raw(sim, headers, body=b"{}"):
    req = urllib.request.Request(sim.endpoint + "/", data=body, method="POST", headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, dict(resp.headers), json.loads(resp.read() or b"{}")
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), json.loads(exc.read() or b"{}")


def test_unsigned_request_is_rejected(sim):
    status, headers, body = _raw(sim, {
        "X-Amz-Target": "AmazonEC2ContainerServiceV20141113.ListClusters",
        "Content-Type": "application/x-amz-json-1.1"})
    assert status == 403
    assert body["__type"] == "MissingAuthenticationTokenException"
    assert headers.get("x-amzn-RequestId")


def _signed(sim, service, target, body=b"{}", tamper=None):
    request = AWSRequest(method="POST", url=sim.endpoint + "/", data=body, headers={
        "X-Amz-Target": target, "Content-Type": "application/x-amz-json-1.1"})
    SigV4Auth(Credentials(ACCESS_KEY, SECRET_KEY), service, REGION).add_auth(request)
    headers = dict(request.headers.items())
    if tamper:
        tamper(headers)
    return _raw(sim, headers, body)


def test_hand_signed_request_is_accepted(sim):
    status, headers, body = _signed(sim, "ecs",
                                    "AmazonEC2ContainerServiceV20141113.ListClusters")
    assert status == 200, body
    assert "clusterArns" in body


def test_body_changed_after_signing_is_rejected(sim):
    request = AWSRequest(method="POST", url=sim.endpoint + "/", data=b"{}", headers={
        "X-Amz-Target": "AmazonEC2ContainerServiceV20141113.ListClusters",
        "Content-Type": "application/x-amz-json-1.1"})
    SigV4Auth(Credentials(ACCESS_KEY, SECRET_KEY), "ecs", REGION).add_auth(request)
    status, _, body = _raw(sim, dict(request.headers.items()), b'{"maxResults": 5}')
    assert status == 403 and body["__type"] == "InvalidSignatureException"


def test_scope_for_another_service_is_rejected(sim):
    status, _, body = _signed(sim, "logs", "AmazonEC2ContainerServiceV20141113.ListClusters")
    assert status == 403
    assert body["__type"] == "InvalidSignatureException"
    assert "correct service" in body["message"]


def test_stale_date_is_rejected(sim):
    def stale(headers):
        headers["X-Amz-Date"] = "20200101T000000Z"
    status, _, body = _signed(sim, "ecs", "AmazonEC2ContainerServiceV20141113.ListClusters",
                              tamper=stale)
    assert status == 403 and body["__type"] in ("InvalidSignatureException",
                                                 "IncompleteSignatureException")


def test_get_caller_identity(sim):
    out = sim.client("sts").get_caller_identity()
    assert out["Account"] == ACCOUNT
    assert out["Arn"] == "arn:aws:iam::%s:user/sockerless" % ACCOUNT
    assert out["UserId"].startswith("AIDA")
    assert out["ResponseMetadata"]["RequestId"]


def _jwt(claims):
    def part(obj):
        return base64.urlsafe_b64encode(json.dumps(obj).encode()).decode().rstrip("=")
    return "%s.%s.sig" % (part({"alg": "RS256"}), part(claims))


def test_assume_role_with_web_identity_credentials_work(sim):
    sts = sim.client("sts")
    out = sts.assume_role_with_web_identity(
        RoleArn="arn:aws:iam::%s:role/runner" % ACCOUNT, RoleSessionName="ci",
        WebIdentityToken=_jwt({"sub": "repo:x", "iss": "https://issuer", "aud": "sts"}),
        DurationSeconds=900)
    creds = out["Credentials"]
    assert creds["AccessKeyId"].startswith("ASIA")
    assert out["SubjectFromWebIdentityToken"] == "repo:x"
    assert out["AssumedRoleUser"]["Arn"] == "arn:aws:sts::%s:assumed-role/runner/ci" % ACCOUNT
    assumed = sim.client("sts", key=creds["AccessKeyId"], secret=creds["SecretAccessKey"],
                         token=creds["SessionToken"])
    assert assumed.get_caller_identity()["Arn"] == out["AssumedRoleUser"]["Arn"]
    # The session token is part of the credential: without it, it is unknown.
    bare = sim.client("ecs", key=creds["AccessKeyId"], secret=creds["SecretAccessKey"])
    with pytest.raises(ClientError) as exc:
        bare.list_clusters()
    assert error_of(exc) == ("UnrecognizedClientException", 403)


def test_sts_validation_error(sim):
    sts = sim.client("sts", parameter_validation=False)
    with pytest.raises(ClientError) as exc:
        sts.assume_role_with_web_identity(RoleArn="arn:aws:iam::1:role/r",
                                          RoleSessionName="x", WebIdentityToken="t",
                                          DurationSeconds=5)
    code, status = error_of(exc)
    assert (code, status) == ("ValidationError", 400)
    assert "DurationSeconds" in exc.value.response["Error"]["Message"]
