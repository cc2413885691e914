"""Where credentials come from: STS (query protocol) and the two metadata
endpoints a client's credential chain reads, the ECS container credentials
provider and EC2 IMDSv2. All issue temporary credentials from the shared
CredentialStore, so a client that obtains them can sign requests with them."""

import base64
import json
import secrets
import threading
import time

from awssim_shapes import service_model
from awssim_util import iso8601

SESSION_LIFETIME = 3600
ROLE_NAME = "sockerless-sim-role"


class StsService:
    name = "sts"
    # Operations AWS serves without a signature.
    unsigned = {"AssumeRoleWithWebIdentity"}

    def __init__(self, creds):
        self.model = service_model("sts")
        self.creds = creds
        self.operations = {
            "GetCallerIdentity": self.get_caller_identity,
            "AssumeRoleWithWebIdentity": self.assume_role_with_web_identity,
        }

    def get_caller_identity(self, params, call):
        cred = call.identity
        return {"UserId": cred.user_id, "Account": self.creds.account, "Arn": cred.arn}

    def assume_role_with_web_identity(self, params, call):
        duration = params.get("DurationSeconds", SESSION_LIFETIME)
        cred = self.creds.issue(params["RoleArn"], params["RoleSessionName"], duration)
        claims = _jwt_claims(params["WebIdentityToken"])
        return {
            "Credentials": {"AccessKeyId": cred.access_key, "SecretAccessKey": cred.secret_key,
                            "SessionToken": cred.token, "Expiration": cred.expires},
            "SubjectFromWebIdentityToken": str(claims.get("sub", "sockerless-sim-subject")),
            "AssumedRoleUser": {"AssumedRoleId": cred.user_id, "Arn": cred.arn},
            "Provider": str(claims.get("iss", "sockerless-sim")),
            "Audience": str(claims.get("aud", "sts.amazonaws.com")),
        }


def _jwt_claims(token):
    """The payload of a JWT, unverified (the simulator trusts any token),
    or {} for a token that is not a JWT."""
    parts = token.split(".")
    if len(parts) != 3:
        return {}
    try:
        claims = json.loads(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))
    except ValueError:
        return {}
    return claims if isinstance(claims, dict) else {}


class MetadataEndpoints:
    """GET /_sim/container-credentials (the ECS container provider's
    AWS_CONTAINER_CREDENTIALS_FULL_URI) and the IMDSv2 paths under
    /latest/. Each handler returns (status, content type, body)."""

    def __init__(self, creds, container_auth_token):
        self.creds = creds
        self.container_auth_token = container_auth_token
        self.role_arn = "arn:aws:iam::%s:role/%s" % (creds.account, ROLE_NAME)
        self._lock = threading.Lock()
        self._imds_tokens = {}

    def container_credentials(self, headers):
        if self.container_auth_token and headers.get("Authorization") != self.container_auth_token:
            return 401, "application/json", json.dumps(
                {"code": "AccessDenied", "message": "Authorization header is missing or invalid"})
        cred = self.creds.issue(self.role_arn, "sockerless-task", SESSION_LIFETIME)
        return 200, "application/json", json.dumps({
            "AccessKeyId": cred.access_key, "SecretAccessKey": cred.secret_key,
            "Token": cred.token, "Expiration": iso8601(cred.expires), "RoleArn": self.role_arn})

    def imds(self, method, path, headers):
        if method == "PUT" and path == "/latest/api/token":
            return self._imds_token(headers)
        if method != "GET":
            return 405, "text/plain", ""
        if not self._imds_token_valid(headers.get("X-aws-ec2-metadata-token")):
            return 401, "text/plain", ""
        base = "/latest/meta-data/iam/security-credentials/"
        if path == base:
            return 200, "text/plain", ROLE_NAME
        if path == base + ROLE_NAME:
            cred = self.creds.issue(self.role_arn, "i-0123456789abcdef0", SESSION_LIFETIME)
            return 200, "text/plain", json.dumps({
                "Code": "Success", "LastUpdated": iso8601(time.time()), "Type": "AWS-HMAC",
                "AccessKeyId": cred.access_key, "SecretAccessKey": cred.secret_key,
                "Token": cred.token, "Expiration": iso8601(cred.expires)})
        return 404, "text/plain", ""

    def _imds_token(self, headers):
        try:
            ttl = int(headers.get("X-aws-ec2-metadata-token-ttl-seconds", ""))
        except ValueError:
            return 400, "text/plain", ""
        if not 1 <= ttl <= 21600:
            return 400, "text/plain", ""
        token = secrets.token_urlsafe(40)
        with self._lock:
            self._imds_tokens[token] = time.time() + ttl
        return 200, "text/plain", token

    def _imds_token_valid(self, token):
        with self._lock:
            return token is not None and self._imds_tokens.get(token, 0) > time.time()
